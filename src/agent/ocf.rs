//! Runs one action of an OCF 1.1 resource agent.
//!
//! The agent is `$OCF_ROOT/resource.d/PROVIDER/TYPE`, except for provider
//! `systole`, whose agents live in [`AgentConfig::agents_dir`]`/ocf/TYPE`. It
//! runs with a clean environment: `OCF_ROOT`, `OCF_RA_VERSION_MAJOR/MINOR`,
//! `OCF_RESOURCE_INSTANCE`, `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`,
//! `OCF_RESKEY_<param>` for each instance parameter,
//! `OCF_RESKEY_CRM_meta_<name>` for each meta attribute (dashes become
//! underscores, as Pacemaker does), `OCF_RESKEY_CRM_meta_timeout` and
//! `OCF_RESKEY_CRM_meta_interval` in milliseconds, `HA_RSCTMP`/`HA_VARRUN`
//! (the configured state dir), `PATH` and `LC_ALL=C`. Stdin is /dev/null.
//!
//! The result has two parts, as in Pacemaker: an [`OpStatus`] (did the
//! action run to completion, time out, was it missing) and an [`OcfRc`] (what
//! the agent said). A timed-out action is `OpStatus::TimedOut` with
//! `OcfRc::GenericError`. Exit codes outside 0-9 and deaths by signal are
//! `OcfRc::GenericError` with a note.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use systole::agent::AgentConfig;
//! use systole::agent::ocf::{run_ocf, OcfAction, OcfRc, OcfRequest, OpStatus};
//!
//! let config = Arc::new(AgentConfig::default());
//! let probe = OcfRequest::new(config, "heartbeat", "Dummy", "rsc1", OcfAction::Monitor)
//!     .with_timeout_ms(20_000);
//! let outcome = run_ocf(&probe).await;
//! match (outcome.status, outcome.rc) {
//!     (OpStatus::Done, OcfRc::NotRunning) => println!("rsc1 is stopped here"),
//!     (OpStatus::Done, OcfRc::Success) => println!("rsc1 runs here"),
//!     _ => println!("probe failed: {outcome}"),
//! }
//! # }
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::process::{self, Exit, RunSpec};
use super::{is_safe_name, AgentConfig, CapturedOutput};
use crate::model::cib::ResourceClass;

/// The OCF API version announced to agents.
pub const OCF_RA_VERSION_MAJOR: u32 = 1;
pub const OCF_RA_VERSION_MINOR: u32 = 1;
/// The provider whose agents are Systole's own, from `agents_dir/ocf`.
pub const SYSTOLE_PROVIDER: &str = "systole";
/// Limits on what a request may carry (they become environment variables).
pub const PARAMS_COUNT_MAX: usize = 1_024;
pub const PARAM_VALUE_BYTES_MAX: usize = 64 * 1024;

/// An agent action is an operation's kind, named as the agent takes it:
/// the executor's bookkeeping kinds (cancel, delete, clear_failcount) never
/// reach an agent, and a kind Systole has no name for (`Other`) is passed
/// as written (an OCF agent takes any action; one it does not implement
/// exits 3, "unimplemented").
pub use crate::model::cib::operation::OpKind as OcfAction;

pub use crate::model::cib::operation::OcfRc;

/// Whether the action ran to completion (Pacemaker's op-status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpStatus {
    /// The agent ran and exited; its verdict is the rc.
    Done,
    /// The agent did not finish within its timeout; its group was killed.
    TimedOut,
    /// The agent (or its class) is not there.
    NotInstalled,
    /// The request was invalid or the agent could not be run.
    Error,
}

impl fmt::Display for OpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpStatus::Done => "complete",
            OpStatus::TimedOut => "Timed Out",
            OpStatus::NotInstalled => "not installed",
            OpStatus::Error => "error",
        })
    }
}

/// One action of one resource.
#[derive(Debug, Clone)]
pub struct OcfRequest {
    pub config: Arc<AgentConfig>,
    /// What runs it: [`run_ocf`] runs only `ocf`, [`super::run_resource`]
    /// every class the executor runs.
    pub class: ResourceClass,
    /// `systole`, `heartbeat`, `pacemaker`, ...
    pub provider: String,
    /// The agent's type, e.g. `Dummy`.
    pub agent_type: String,
    /// The resource instance id (`OCF_RESOURCE_INSTANCE`), e.g. `db:0`.
    pub resource_id: String,
    pub action: OcfAction,
    /// Instance attributes, passed as `OCF_RESKEY_<name>`.
    pub params: BTreeMap<String, String>,
    /// Meta attributes (clone and notify meta), as `OCF_RESKEY_CRM_meta_<name>`.
    pub meta: BTreeMap<String, String>,
    /// 0 means [`AgentConfig::timeout_ms_default`].
    pub timeout_ms: u64,
    /// 0 for a one-shot action, the period of a recurring monitor otherwise.
    pub interval_ms: u64,
}

impl OcfRequest {
    /// A request for `ocf:PROVIDER:TYPE`, no params, default timeout.
    pub fn new(
        config: Arc<AgentConfig>,
        provider: &str,
        agent_type: &str,
        resource_id: &str,
        action: OcfAction,
    ) -> OcfRequest {
        OcfRequest {
            config,
            class: ResourceClass::Ocf,
            provider: provider.to_string(),
            agent_type: agent_type.to_string(),
            resource_id: resource_id.to_string(),
            action,
            params: BTreeMap::new(),
            meta: BTreeMap::new(),
            timeout_ms: 0,
            interval_ms: 0,
        }
    }

    pub fn with_param(mut self, name: &str, value: &str) -> OcfRequest {
        self.params.insert(name.to_string(), value.to_string());
        self
    }

    pub fn with_meta(mut self, name: &str, value: &str) -> OcfRequest {
        self.meta.insert(name.to_string(), value.to_string());
        self
    }

    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> OcfRequest {
        self.timeout_ms = timeout_ms;
        self
    }

    pub fn with_interval_ms(mut self, interval_ms: u64) -> OcfRequest {
        self.interval_ms = interval_ms;
        self
    }

    pub fn with_action(mut self, action: OcfAction) -> OcfRequest {
        self.action = action;
        self
    }

    /// `class:provider:type` (`class:type` for classes without providers),
    /// as the CIB and crm_mon spell it.
    pub fn agent_spec(&self) -> String {
        if self.class.has_provider() {
            format!("{}:{}:{}", self.class, self.provider, self.agent_type)
        } else {
            format!("{}:{}", self.class, self.agent_type)
        }
    }

    /// Where the agent's executable is expected.
    pub fn agent_path(&self) -> PathBuf {
        if self.provider == SYSTOLE_PROVIDER {
            self.config.agents_dir.join("ocf").join(&self.agent_type)
        } else {
            self.config
                .ocf_root
                .join("resource.d")
                .join(&self.provider)
                .join(&self.agent_type)
        }
    }
}

/// What became of one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OcfOutcome {
    pub status: OpStatus,
    pub rc: OcfRc,
    /// The raw exit code, when the agent exited.
    pub exit_code: Option<i32>,
    /// The signal that killed the agent, when one did.
    pub signal: Option<i32>,
    /// Why the outcome is what it is, when the agent's rc alone doesn't say
    /// (timeout, missing agent, odd exit code, signal).
    pub note: Option<String>,
    /// The last `ocf-exit-reason:` line the agent printed on stderr.
    pub exit_reason: Option<String>,
    pub stdout: CapturedOutput,
    pub stderr: CapturedOutput,
    pub pid: Option<u32>,
    pub duration_ms: u64,
}

impl OcfOutcome {
    pub(crate) fn without_run(status: OpStatus, rc: OcfRc, note: String) -> OcfOutcome {
        OcfOutcome {
            status,
            rc,
            exit_code: None,
            signal: None,
            note: Some(note),
            exit_reason: None,
            stdout: CapturedOutput::default(),
            stderr: CapturedOutput::default(),
            pid: None,
            duration_ms: 0,
        }
    }

    /// True when the agent ran to completion and said success.
    pub fn is_success(&self) -> bool {
        self.status == OpStatus::Done && self.rc == OcfRc::Success
    }
}

impl fmt::Display for OcfOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rc={} status={}", self.rc, self.status)?;
        if let Some(note) = &self.note {
            write!(f, ": {note}")?;
        }
        if let Some(reason) = &self.exit_reason {
            write!(f, " (reason: {reason})")?;
        }
        Ok(())
    }
}

/// Why a request cannot be run at all.
fn check_request(req: &OcfRequest) -> Result<(), (OpStatus, OcfRc, String)> {
    if req.class != ResourceClass::Ocf {
        return Err((
            OpStatus::NotInstalled,
            OcfRc::NotInstalled,
            format!("resource class '{}' is not supported (only ocf)", req.class),
        ));
    }
    if !is_safe_name(&req.provider) || !is_safe_name(&req.agent_type) {
        return Err((
            OpStatus::NotInstalled,
            OcfRc::NotInstalled,
            format!("invalid agent name '{}'", req.agent_spec()),
        ));
    }
    let count = req.params.len() + req.meta.len();
    if count > PARAMS_COUNT_MAX {
        return Err((
            OpStatus::Error,
            OcfRc::InvalidArgs,
            format!("{count} params and meta exceed params_count_max {PARAMS_COUNT_MAX}"),
        ));
    }
    let names = req.params.keys().chain(req.meta.keys());
    for name in names {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err((
                OpStatus::Error,
                OcfRc::InvalidArgs,
                format!("invalid parameter name {name:?}"),
            ));
        }
    }
    for value in req.params.values().chain(req.meta.values()) {
        if value.contains('\0') || value.len() > PARAM_VALUE_BYTES_MAX {
            return Err((
                OpStatus::Error,
                OcfRc::InvalidArgs,
                format!(
                    "a parameter value contains NUL or exceeds \
                     param_value_bytes_max {PARAM_VALUE_BYTES_MAX}"
                ),
            ));
        }
    }
    Ok(())
}

/// The agent's whole environment.
fn environment(req: &OcfRequest, timeout_ms: u64) -> Vec<(OsString, OsString)> {
    let config = &req.config;
    let mut env: BTreeMap<String, OsString> = BTreeMap::new();
    let mut set = |key: String, value: OsString| {
        env.insert(key, value);
    };
    for (name, value) in &config.extra_env {
        set(name.clone(), value.into());
    }
    set("PATH".into(), config.path_env.clone().into());
    set("LC_ALL".into(), "C".into());
    set("OCF_ROOT".into(), config.ocf_root.clone().into());
    set(
        "OCF_RA_VERSION_MAJOR".into(),
        OCF_RA_VERSION_MAJOR.to_string().into(),
    );
    set(
        "OCF_RA_VERSION_MINOR".into(),
        OCF_RA_VERSION_MINOR.to_string().into(),
    );
    set(
        "OCF_RESOURCE_INSTANCE".into(),
        req.resource_id.clone().into(),
    );
    set("OCF_RESOURCE_TYPE".into(), req.agent_type.clone().into());
    set("OCF_RESOURCE_PROVIDER".into(), req.provider.clone().into());
    set("HA_RSCTMP".into(), config.state_dir.clone().into());
    set("HA_VARRUN".into(), config.state_dir.clone().into());
    for (name, value) in &req.params {
        set(format!("OCF_RESKEY_{name}"), value.into());
    }
    for (name, value) in &req.meta {
        set(
            format!("OCF_RESKEY_CRM_meta_{}", name.replace('-', "_")),
            value.into(),
        );
    }
    // Ours win over any meta of the same name: they are what we enforce.
    set(
        "OCF_RESKEY_CRM_meta_timeout".into(),
        timeout_ms.to_string().into(),
    );
    set(
        "OCF_RESKEY_CRM_meta_interval".into(),
        req.interval_ms.to_string().into(),
    );
    env.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

/// The last `ocf-exit-reason:` message on stderr, if any.
fn exit_reason(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("ocf-exit-reason:"))
        .map(|reason| reason.trim().to_string())
        .filter(|reason| !reason.is_empty())
}

/// The outcome of an agent that ran: `rc_of` maps its exit code (an error
/// note for a code it does not know, which counts as a generic error);
/// signals, timeouts and spawn failures are the same for every class.
pub(crate) fn outcome_of_run(
    result: process::RunResult,
    program: &std::path::Path,
    what: &str,
    timeout_ms: u64,
    rc_of: &dyn Fn(i32) -> Result<OcfRc, String>,
) -> OcfOutcome {
    let (status, rc, exit_code, signal, note) = match result.exit {
        Exit::Code(code) => match rc_of(code) {
            Ok(rc) => (OpStatus::Done, rc, Some(code), None, None),
            Err(note) => (
                OpStatus::Done,
                OcfRc::GenericError,
                Some(code),
                None,
                Some(note),
            ),
        },
        Exit::Signal(signal) => (
            OpStatus::Done,
            OcfRc::GenericError,
            None,
            Some(signal),
            Some(format!("agent was killed by signal {signal}")),
        ),
        Exit::TimedOut => (
            OpStatus::TimedOut,
            OcfRc::GenericError,
            None,
            None,
            Some(format!(
                "{what} did not finish within timeout_ms {timeout_ms}; its process group was killed"
            )),
        ),
        Exit::SpawnFailed(error) => {
            let (status, rc) = match error.kind() {
                // An agent that cannot be executed is as good as absent
                // (as Pacemaker's executor says): not installed here.
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    (OpStatus::NotInstalled, OcfRc::NotInstalled)
                }
                _ => (OpStatus::Error, OcfRc::GenericError),
            };
            (
                status,
                rc,
                None,
                None,
                Some(format!("cannot run {}: {error}", program.display())),
            )
        }
    };
    OcfOutcome {
        status,
        rc,
        exit_code,
        signal,
        note,
        exit_reason: exit_reason(&result.stderr.text),
        stdout: result.stdout,
        stderr: result.stderr,
        pid: result.pid,
        duration_ms: result.duration_ms,
    }
}

/// Logs an action's end: quietly when it ran and said something OCF knows.
pub(crate) fn log_outcome(req: &OcfRequest, outcome: &OcfOutcome) {
    if outcome.status == OpStatus::Done && outcome.note.is_none() {
        tracing::debug!(
            resource = %req.resource_id, action = %req.action, agent = %req.agent_spec(),
            rc = outcome.rc.code(), duration_ms = outcome.duration_ms, "agent finished"
        );
    } else {
        tracing::warn!(
            resource = %req.resource_id, action = %req.action, agent = %req.agent_spec(),
            "agent {outcome}"
        );
    }
}

/// Runs one action. Never panics on anything the agent does; a missing agent
/// is `NotInstalled`, a hung one is killed (with its whole process group) at
/// its timeout.
pub async fn run_ocf(req: &OcfRequest) -> OcfOutcome {
    if let Err((status, rc, note)) = check_request(req) {
        return OcfOutcome::without_run(status, rc, note);
    }
    let program = req.agent_path();
    match tokio::fs::metadata(&program).await {
        Ok(meta) if meta.is_file() => {}
        Ok(_) | Err(_) => {
            let note = format!(
                "agent {} not found: {} is not a file",
                req.agent_spec(),
                program.display()
            );
            return OcfOutcome::without_run(OpStatus::NotInstalled, OcfRc::NotInstalled, note);
        }
    }
    // Agents (Debian's included) expect HA_RSCTMP to exist. A failure here
    // shows up as the agent's own error, which says more.
    let _ = tokio::fs::create_dir_all(&req.config.state_dir).await;

    let timeout_ms = req.config.effective_timeout_ms(req.timeout_ms);
    let spec = RunSpec {
        program: program.clone(),
        args: vec![req.action.as_str().into()],
        env: environment(req, timeout_ms),
        stdin: None,
        timeout_ms,
        kill_grace_ms: req.config.kill_grace_ms,
        output_tail_bytes_max: req.config.output_tail_bytes_max,
        output_drain_ms_max: req.config.output_drain_ms_max,
    };
    let result = process::run(&spec).await;
    let what = format!("{} {}", req.agent_spec(), req.action);
    let outcome = outcome_of_run(result, &program, &what, timeout_ms, &|code| {
        OcfRc::from_code(code)
            .ok_or_else(|| format!("agent exited with code {code}, outside the OCF range 0-9"))
    });
    log_outcome(req, &outcome);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_codes_round_trip() {
        for code in 0..=9 {
            assert_eq!(OcfRc::from_code(code).unwrap().code(), code);
        }
        assert_eq!(OcfRc::from_code(10), None);
        assert_eq!(OcfRc::from_code(-1), None);
        assert_eq!(OcfRc::from_code(77), None);
    }

    #[test]
    fn agent_spec_parses() {
        // The model's one reader of agent names (this module kept a second).
        let parse = crate::model::cib::AgentSpec::parse;
        let spec = parse("ocf:heartbeat:IPaddr2").unwrap();
        assert_eq!(
            (
                spec.class.as_str(),
                spec.provider.as_deref(),
                spec.kind.as_str()
            ),
            ("ocf", Some("heartbeat"), "IPaddr2")
        );
        assert!(parse("ocf:heartbeat").is_err());
        assert!(parse("ocf::Dummy").is_err());
    }

    #[test]
    fn environment_follows_ocf() {
        let req = OcfRequest::new(
            Arc::new(AgentConfig::default()),
            "heartbeat",
            "Dummy",
            "db:0",
            OcfAction::Monitor,
        )
        .with_param("state", "/x")
        .with_meta("clone-max", "2")
        .with_meta("timeout", "1")
        .with_interval_ms(10_000);
        let env: BTreeMap<String, String> = environment(&req, 5_000)
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        assert_eq!(env["OCF_ROOT"], "/usr/lib/ocf");
        assert_eq!(env["OCF_RA_VERSION_MAJOR"], "1");
        assert_eq!(env["OCF_RA_VERSION_MINOR"], "1");
        assert_eq!(env["OCF_RESOURCE_INSTANCE"], "db:0");
        assert_eq!(env["OCF_RESOURCE_TYPE"], "Dummy");
        assert_eq!(env["OCF_RESOURCE_PROVIDER"], "heartbeat");
        assert_eq!(env["OCF_RESKEY_state"], "/x");
        assert_eq!(env["OCF_RESKEY_CRM_meta_clone_max"], "2");
        assert_eq!(env["OCF_RESKEY_CRM_meta_timeout"], "5000");
        assert_eq!(env["OCF_RESKEY_CRM_meta_interval"], "10000");
        assert_eq!(env["HA_RSCTMP"], "/run/systole/agents");
        assert_eq!(env["HA_VARRUN"], "/run/systole/agents");
        assert!(env["PATH"].contains("/usr/bin"));
    }

    #[test]
    fn agent_path_resolution() {
        let config = AgentConfig {
            agents_dir: "/opt/sys".into(),
            ..AgentConfig::default()
        };
        let config = Arc::new(config);
        let ours = OcfRequest::new(config.clone(), "systole", "Dummy", "r", OcfAction::Start);
        assert_eq!(ours.agent_path(), PathBuf::from("/opt/sys/ocf/Dummy"));
        let theirs = OcfRequest::new(config, "heartbeat", "Dummy", "r", OcfAction::Start);
        assert_eq!(
            theirs.agent_path(),
            PathBuf::from("/usr/lib/ocf/resource.d/heartbeat/Dummy")
        );
    }

    #[test]
    fn exit_reason_is_the_last_one() {
        let stderr = "noise\nocf-exit-reason:first\nmore\nocf-exit-reason: second \n";
        assert_eq!(exit_reason(stderr), Some("second".to_string()));
        assert_eq!(exit_reason("nothing"), None);
    }
}
