//! The `lsb` class: init scripts in [`AgentConfig::lsb_dir`]
//! (`/etc/init.d`), run as Pacemaker runs them.
//!
//! `monitor` runs the script's `status`; `start` and `stop` run as named.
//! Exit codes follow the LSB: for `status`, 0 is running, 1 (dead, pid file
//! left), 2 (dead, lock file left) and 3 are not running, 150 not installed
//! and 151 insufficient privileges (Pacemaker's extensions); for other
//! actions 0-7 mean what they mean in OCF. Anything else is a generic error.
//! `meta-data` is made from the script's `### BEGIN INIT INFO` block; the
//! class has no parameters, and no promote, demote, notify, reload or
//! migration.

use std::path::PathBuf;

use super::ocf::{log_outcome, outcome_of_run, OcfAction, OcfOutcome, OcfRc, OcfRequest, OpStatus};
use super::process::{self, RunSpec};
use super::{is_safe_name, CapturedOutput};
use crate::model::cib::xml::Element;

/// LSB `status` codes with a meaning of their own.
pub const LSB_STATUS_OK: i32 = 0;
pub const LSB_STATUS_DEAD_PID_FILE: i32 = 1;
pub const LSB_STATUS_DEAD_LOCK_FILE: i32 = 2;
pub const LSB_STATUS_NOT_RUNNING: i32 = 3;
pub const LSB_STATUS_NOT_INSTALLED: i32 = 150;
pub const LSB_STATUS_INSUFFICIENT_PRIVILEGES: i32 = 151;
/// The largest non-status exit code that means the same as in OCF.
pub const LSB_NOT_RUNNING: i32 = 7;
/// Bytes of an init script read for its header.
const SCRIPT_HEADER_BYTES_MAX: usize = 64 * 1024;

/// The script argument for an action, `None` where LSB has none.
pub fn lsb_action(action: &OcfAction) -> Option<&'static str> {
    match action {
        OcfAction::Start => Some("start"),
        OcfAction::Stop => Some("stop"),
        OcfAction::Monitor => Some("status"),
        _ => None,
    }
}

/// What an init script's exit code means for `action` (Pacemaker's
/// `services__lsb2ocf`).
pub fn lsb_rc(action: &OcfAction, code: i32) -> Result<OcfRc, String> {
    if *action != OcfAction::Monitor {
        return match OcfRc::from_code(code) {
            Some(rc) if code <= LSB_NOT_RUNNING => Ok(rc),
            _ => Err(format!(
                "init script exited with code {code}, outside the LSB range 0-7"
            )),
        };
    }
    match code {
        LSB_STATUS_OK => Ok(OcfRc::Success),
        LSB_STATUS_DEAD_PID_FILE | LSB_STATUS_DEAD_LOCK_FILE | LSB_STATUS_NOT_RUNNING => {
            Ok(OcfRc::NotRunning)
        }
        LSB_STATUS_NOT_INSTALLED => Ok(OcfRc::NotInstalled),
        LSB_STATUS_INSUFFICIENT_PRIVILEGES => Ok(OcfRc::InsufficientPrivileges),
        other => Err(format!(
            "init script status exited with code {other}: unknown state (LSB 4)"
        )),
    }
}

/// Where the script of `name` is.
pub fn script_path(req: &OcfRequest) -> PathBuf {
    req.config.lsb_dir.join(&req.agent_type)
}

/// Runs one action of an init script.
pub async fn run_lsb(req: &OcfRequest) -> OcfOutcome {
    if !is_safe_name(&req.agent_type) {
        let note = format!("invalid init script name '{}'", req.agent_type);
        return OcfOutcome::without_run(OpStatus::NotInstalled, OcfRc::NotInstalled, note);
    }
    let program = script_path(req);
    let script = match tokio::fs::metadata(&program).await {
        Ok(meta) if meta.is_file() => program,
        _ => {
            let note = format!(
                "init script {} not found: {} is not a file",
                req.agent_type,
                program.display()
            );
            return OcfOutcome::without_run(OpStatus::NotInstalled, OcfRc::NotInstalled, note);
        }
    };
    if req.action == OcfAction::MetaData {
        return metadata_outcome(req, &script).await;
    }
    let Some(argument) = lsb_action(&req.action) else {
        let note = format!("init scripts have no {} action", req.action);
        return OcfOutcome::without_run(OpStatus::Error, OcfRc::Unimplemented, note);
    };
    let timeout_ms = req.config.effective_timeout_ms(req.timeout_ms);
    let spec = RunSpec {
        program: script.clone(),
        args: vec![argument.into()],
        env: vec![
            ("PATH".into(), req.config.path_env.clone().into()),
            ("LC_ALL".into(), "C".into()),
        ],
        stdin: None,
        timeout_ms,
        kill_grace_ms: req.config.kill_grace_ms,
        output_tail_bytes_max: req.config.output_tail_bytes_max,
        output_drain_ms_max: req.config.output_drain_ms_max,
    };
    let result = process::run(&spec).await;
    let what = format!("{} {argument}", req.agent_spec());
    let outcome = outcome_of_run(result, &script, &what, timeout_ms, &|code| {
        lsb_rc(&req.action, code)
    });
    log_outcome(req, &outcome);
    outcome
}

async fn metadata_outcome(req: &OcfRequest, script: &std::path::Path) -> OcfOutcome {
    let text = match tokio::fs::read(script).await {
        Ok(bytes) => {
            let end = bytes.len().min(SCRIPT_HEADER_BYTES_MAX);
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        }
        Err(error) => {
            let note = format!("cannot read {}: {error}", script.display());
            return OcfOutcome::without_run(OpStatus::Error, OcfRc::GenericError, note);
        }
    };
    let xml = metadata_xml(&req.agent_type, &text);
    let mut outcome = OcfOutcome::without_run(OpStatus::Done, OcfRc::Success, String::new());
    outcome.note = None;
    outcome.exit_code = Some(0);
    outcome.stdout = CapturedOutput {
        bytes_total: xml.len() as u64,
        text: xml,
        truncated: false,
    };
    outcome
}

/// The `### BEGIN INIT INFO` block as (keyword, value) pairs; continuation
/// lines (`#` then a tab or two spaces) extend the previous value.
pub fn init_info(script: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut inside = false;
    for line in script.lines() {
        let trimmed = line.trim_end();
        if trimmed.starts_with("### BEGIN INIT INFO") {
            inside = true;
            continue;
        }
        if trimmed.starts_with("### END INIT INFO") {
            break;
        }
        if !inside {
            continue;
        }
        let Some(body) = trimmed.strip_prefix('#') else {
            continue;
        };
        let continued = body.starts_with('\t') || body.starts_with("  ");
        match (continued, out.last_mut(), body.trim().split_once(':')) {
            (true, Some((_, value)), _) => {
                value.push(' ');
                value.push_str(body.trim());
            }
            (_, _, Some((key, value))) if !key.contains(' ') => {
                out.push((key.trim().to_string(), value.trim().to_string()));
            }
            // A comment line that is neither a `Key: value` nor continues
            // one (free text in the header block): not part of the LSB info.
            _ => {}
        }
    }
    out
}

/// OCF-style meta-data for an init script, as Pacemaker makes it.
pub fn metadata_xml(name: &str, script: &str) -> String {
    let info = init_info(script);
    let field = |key: &str| {
        info.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut special = Element::new("special").with_attr("tag", "LSB");
    for (key, value) in &info {
        let tag = key.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        let mut element = Element::new(tag);
        element.text = value.clone();
        special.children.push(element);
    }
    super::metadata::parameterless_xml(
        name,
        &field("Description"),
        &field("Short-Description"),
        "15s",
        "15s",
        Some(special),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_as_pacemaker_maps_them() {
        let monitor = OcfAction::Monitor;
        assert_eq!(lsb_rc(&monitor, 0), Ok(OcfRc::Success));
        for dead in [1, 2, 3] {
            assert_eq!(lsb_rc(&monitor, dead), Ok(OcfRc::NotRunning), "{dead}");
        }
        assert!(lsb_rc(&monitor, 4).unwrap_err().contains("unknown"));
        assert_eq!(lsb_rc(&monitor, 150), Ok(OcfRc::NotInstalled));
        assert_eq!(lsb_rc(&monitor, 151), Ok(OcfRc::InsufficientPrivileges));
        assert!(lsb_rc(&monitor, 7).is_err());
    }

    #[test]
    fn other_actions_share_ocf_codes_up_to_seven() {
        for code in 0..=7 {
            assert_eq!(
                lsb_rc(&OcfAction::Start, code).unwrap().code(),
                code,
                "start {code}"
            );
        }
        assert_eq!(lsb_rc(&OcfAction::Stop, 1), Ok(OcfRc::GenericError));
        assert!(lsb_rc(&OcfAction::Stop, 8).is_err());
        assert!(lsb_rc(&OcfAction::Start, 150).is_err());
        assert!(lsb_rc(&OcfAction::Start, -1).is_err());
    }

    #[test]
    fn actions_map_to_script_arguments() {
        assert_eq!(lsb_action(&OcfAction::Monitor), Some("status"));
        assert_eq!(lsb_action(&OcfAction::Start), Some("start"));
        assert_eq!(lsb_action(&OcfAction::Promote), None);
        assert_eq!(lsb_action(&OcfAction::Reload), None);
    }

    #[test]
    fn metadata_comes_from_the_init_info_block() {
        let script = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: logd\n\
                      # Short-Description: a <logging> daemon\n\
                      # Description: ha_logd logs.\n#\tIt can use syslog.\n\
                      # Default-Start: 2 3 4 5\n### END INIT INFO\necho\n";
        let info = init_info(script);
        assert_eq!(info[0], ("Provides".into(), "logd".into()));
        assert_eq!(info[2].1, "ha_logd logs. It can use syslog.");
        let xml = metadata_xml("logd", script);
        let parsed = Element::parse(&xml).unwrap();
        assert_eq!(parsed.attr("name"), Some("logd"));
        assert_eq!(
            parsed.child("shortdesc").map(|d| d.text.as_str()),
            Some("a <logging> daemon")
        );
        let actions = parsed.child("actions").unwrap();
        assert!(actions
            .children_named("action")
            .any(|a| a.attr("name") == Some("monitor") && a.attr("interval") == Some("15s")));
        let meta = crate::agent::metadata::parse("lsb:logd", &xml).unwrap();
        assert!(meta.parameters.is_empty());
        assert!(parsed
            .child("special")
            .unwrap()
            .child("Default-Start")
            .is_some());
    }
}
