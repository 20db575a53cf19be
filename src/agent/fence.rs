//! Runs one action of a fence agent.
//!
//! Fence agents take their arguments as `key=value` lines on stdin:
//! `action=`, `nodename=` and `port=` (the target), then the device's own
//! parameters. They are looked for in [`AgentConfig::agents_dir`]`/fence`
//! first, then in each of [`AgentConfig::fence_system_dirs`] (`/usr/sbin`).
//! Like OCF agents they run in their own process group, killed whole at the
//! timeout. Exit code 0 is success; for `status`, 2 means the target is off.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use systole::agent::AgentConfig;
//! use systole::agent::fence::{run_fence, FenceAction, FenceRequest};
//!
//! let config = Arc::new(AgentConfig::default());
//! let off = FenceRequest::new(config, "fence_systole_local", FenceAction::Off)
//!     .with_target("node2")
//!     .with_param("pid_dir", "/tmp/cluster")
//!     .with_timeout_ms(60_000);
//! let outcome = run_fence(&off).await;
//! assert!(outcome.succeeded(), "fencing node2 failed: {outcome}");
//! # }
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::ocf::OpStatus;
use super::process::{self, Exit, RunSpec};
use super::{is_safe_name, AgentConfig, CapturedOutput};

/// Limit on the `key=value` text sent to an agent.
pub const FENCE_STDIN_BYTES_MAX: usize = 64 * 1024;
/// A fence agent's name must start with this.
pub const FENCE_AGENT_PREFIX: &str = "fence_";

/// A fence agent action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FenceAction {
    Off,
    On,
    Reboot,
    Status,
    Monitor,
    List,
    Metadata,
}

impl FenceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FenceAction::Off => "off",
            FenceAction::On => "on",
            FenceAction::Reboot => "reboot",
            FenceAction::Status => "status",
            FenceAction::Monitor => "monitor",
            FenceAction::List => "list",
            FenceAction::Metadata => "metadata",
        }
    }

    pub fn parse(name: &str) -> Option<FenceAction> {
        Some(match name {
            "off" => FenceAction::Off,
            "on" => FenceAction::On,
            "reboot" => FenceAction::Reboot,
            "status" => FenceAction::Status,
            "monitor" => FenceAction::Monitor,
            "list" => FenceAction::List,
            "metadata" | "meta-data" => FenceAction::Metadata,
            _ => return None,
        })
    }
}

impl fmt::Display for FenceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One action of one fence device.
#[derive(Debug, Clone)]
pub struct FenceRequest {
    pub config: Arc<AgentConfig>,
    /// The agent, e.g. `fence_systole_local`.
    pub agent: String,
    pub action: FenceAction,
    /// The node to act on, sent as `nodename=` (and as `port=` unless a
    /// port is given).
    pub target: Option<String>,
    /// The device's name for the target (`port=`), when it differs.
    pub port: Option<String>,
    /// The parameter that carries the port (`port`; `pcmk_host_argument`
    /// may name another, or none).
    pub port_argument: Option<String>,
    /// The device's parameters, sent after the fixed keys.
    pub params: BTreeMap<String, String>,
    /// 0 means [`AgentConfig::timeout_ms_default`].
    pub timeout_ms: u64,
}

impl FenceRequest {
    pub fn new(config: Arc<AgentConfig>, agent: &str, action: FenceAction) -> FenceRequest {
        FenceRequest {
            config,
            agent: agent.to_string(),
            action,
            target: None,
            port: None,
            port_argument: Some("port".to_string()),
            params: BTreeMap::new(),
            timeout_ms: 0,
        }
    }

    pub fn with_target(mut self, node: &str) -> FenceRequest {
        self.target = Some(node.to_string());
        self
    }

    pub fn with_port(mut self, port: &str) -> FenceRequest {
        self.port = Some(port.to_string());
        self
    }

    pub fn with_param(mut self, name: &str, value: &str) -> FenceRequest {
        self.params.insert(name.to_string(), value.to_string());
        self
    }

    /// The parameter that carries the port (`None`: the agent takes none).
    pub fn with_port_argument(mut self, argument: Option<&str>) -> FenceRequest {
        self.port_argument = argument.map(str::to_string);
        self
    }

    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> FenceRequest {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The candidate paths of the agent, in lookup order.
    pub fn agent_candidates(&self) -> Vec<PathBuf> {
        let mut candidates = vec![self.config.agents_dir.join("fence").join(&self.agent)];
        for dir in &self.config.fence_system_dirs {
            candidates.push(dir.join(&self.agent));
        }
        candidates
    }

    /// The `key=value` lines sent on stdin.
    pub fn stdin_text(&self) -> Result<String, String> {
        let mut text = String::new();
        let mut line = |key: &str, value: &str| -> Result<(), String> {
            if key.is_empty() || key.contains(['=', '\n', '\r', '\0']) {
                return Err(format!("invalid fence parameter name {key:?}"));
            }
            if value.contains(['\n', '\r', '\0']) {
                return Err(format!("fence parameter {key} has a line break or NUL"));
            }
            text.push_str(key);
            text.push('=');
            text.push_str(value);
            text.push('\n');
            Ok(())
        };
        // The request's own action and target win over device params of
        // the same name; other device params pass through.
        let mut sent: Vec<&str> = Vec::new();
        line("action", self.action.as_str())?;
        sent.push("action");
        if let Some(target) = &self.target {
            line("nodename", target)?;
            sent.push("nodename");
        }
        if let (Some(port), Some(argument)) = (
            self.port.as_ref().or(self.target.as_ref()),
            self.port_argument.as_deref(),
        ) {
            line(argument, port)?;
            sent.push(argument);
        }
        for (key, value) in &self.params {
            if !sent.contains(&key.as_str()) {
                line(key, value)?;
            }
        }
        if text.len() > FENCE_STDIN_BYTES_MAX {
            return Err(format!(
                "fence parameters are {} bytes, over fence_stdin_bytes_max {FENCE_STDIN_BYTES_MAX}",
                text.len()
            ));
        }
        Ok(text)
    }
}

/// What became of one fence action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceOutcome {
    pub status: OpStatus,
    /// The agent's exit code; 1 when it did not exit by itself.
    pub rc: i32,
    pub signal: Option<i32>,
    pub note: Option<String>,
    pub stdout: CapturedOutput,
    pub stderr: CapturedOutput,
    pub pid: Option<u32>,
    pub duration_ms: u64,
}

impl FenceOutcome {
    fn without_run(status: OpStatus, note: String) -> FenceOutcome {
        FenceOutcome {
            status,
            rc: 1,
            signal: None,
            note: Some(note),
            stdout: CapturedOutput::default(),
            stderr: CapturedOutput::default(),
            pid: None,
            duration_ms: 0,
        }
    }

    /// The agent ran to completion and exited 0.
    pub fn succeeded(&self) -> bool {
        self.status == OpStatus::Done && self.rc == 0
    }
}

impl fmt::Display for FenceOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rc={} status={}", self.rc, self.status)?;
        if let Some(note) = &self.note {
            write!(f, ": {note}")?;
        }
        Ok(())
    }
}

/// Runs one fence action.
pub async fn run_fence(req: &FenceRequest) -> FenceOutcome {
    if !is_safe_name(&req.agent) || !req.agent.starts_with(FENCE_AGENT_PREFIX) {
        let note = format!("invalid fence agent name '{}' (must be fence_*)", req.agent);
        return FenceOutcome::without_run(OpStatus::NotInstalled, note);
    }
    let stdin = match req.stdin_text() {
        Ok(stdin) => stdin,
        Err(note) => return FenceOutcome::without_run(OpStatus::Error, note),
    };
    let program = match find_agent(req).await {
        Ok(program) => program,
        Err(note) => return FenceOutcome::without_run(OpStatus::NotInstalled, note),
    };
    let timeout_ms = req.config.effective_timeout_ms(req.timeout_ms);
    let spec = RunSpec {
        program: program.clone(),
        args: Vec::new(),
        env: vec![
            ("PATH".into(), req.config.path_env.clone().into()),
            ("LC_ALL".into(), "C".into()),
        ],
        stdin: Some(stdin.into_bytes()),
        timeout_ms,
        kill_grace_ms: req.config.kill_grace_ms,
        output_tail_bytes_max: req.config.output_tail_bytes_max,
        output_drain_ms_max: req.config.output_drain_ms_max,
    };
    let result = process::run(&spec).await;
    let (status, rc, signal, note) = match result.exit {
        Exit::Code(code) => (OpStatus::Done, code, None, None),
        Exit::Signal(signal) => (
            OpStatus::Done,
            1,
            Some(signal),
            Some(format!("fence agent was killed by signal {signal}")),
        ),
        Exit::TimedOut => (
            OpStatus::TimedOut,
            1,
            None,
            Some(format!(
                "{} {} did not finish within timeout_ms {timeout_ms}; its process group was killed",
                req.agent, req.action
            )),
        ),
        Exit::SpawnFailed(error) => (
            OpStatus::Error,
            1,
            None,
            Some(format!("cannot run {}: {error}", program.display())),
        ),
    };
    let outcome = FenceOutcome {
        status,
        rc,
        signal,
        note,
        stdout: result.stdout,
        stderr: result.stderr,
        pid: result.pid,
        duration_ms: result.duration_ms,
    };
    tracing::info!(
        agent = %req.agent, action = %req.action, target = ?req.target,
        duration_ms = outcome.duration_ms, "fence agent {outcome}"
    );
    outcome
}

/// The fence agent's program: the first of its candidate paths that is a
/// file, or a note naming where it was looked for.
async fn find_agent(req: &FenceRequest) -> Result<PathBuf, String> {
    for candidate in req.agent_candidates() {
        if let Ok(meta) = tokio::fs::metadata(&candidate).await {
            if meta.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "fence agent {} not found in {}",
        req.agent,
        req.agent_candidates()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Whether a fence device parameter is the fencer's own (`pcmk_*`), not
/// the agent's: those are never passed to the agent.
pub fn is_fencer_parameter(name: &str) -> bool {
    name.starts_with("pcmk_")
}

/// A fence device's own action, as the executor runs it: `start` checks
/// that the agent is there, `monitor` runs the agent's `monitor` (with the
/// device's parameters), `meta-data` its `metadata`; `stop` has nothing to
/// run.
pub async fn run_device(req: &super::ocf::OcfRequest) -> super::ocf::OcfOutcome {
    use super::ocf::{OcfAction, OcfOutcome, OcfRc};
    let action = match &req.action {
        OcfAction::Monitor => FenceAction::Monitor,
        OcfAction::MetaData => FenceAction::Metadata,
        OcfAction::Start => {
            let request = FenceRequest::new(
                Arc::clone(&req.config),
                &req.agent_type,
                FenceAction::Monitor,
            );
            let found = request.agent_candidates().iter().any(|p| p.is_file());
            return if found
                && is_safe_name(&req.agent_type)
                && req.agent_type.starts_with(FENCE_AGENT_PREFIX)
            {
                OcfOutcome::without_run(OpStatus::Done, OcfRc::Success, String::new())
            } else {
                let note = format!("fence agent {} is not installed", req.agent_type);
                OcfOutcome::without_run(OpStatus::NotInstalled, OcfRc::NotInstalled, note)
            };
        }
        OcfAction::Stop => {
            return OcfOutcome::without_run(OpStatus::Done, OcfRc::Success, String::new())
        }
        other => {
            let note = format!("fence devices have no {other} action");
            return OcfOutcome::without_run(OpStatus::Error, OcfRc::Unimplemented, note);
        }
    };
    let mut request = FenceRequest::new(Arc::clone(&req.config), &req.agent_type, action)
        .with_timeout_ms(req.timeout_ms);
    for (name, value) in req.params.iter().filter(|(n, _)| !is_fencer_parameter(n)) {
        request = request.with_param(name, value);
    }
    let ran = run_fence(&request).await;
    let rc = match (ran.status, ran.rc) {
        (OpStatus::Done, 0) => OcfRc::Success,
        (OpStatus::NotInstalled, _) => OcfRc::NotInstalled,
        _ => OcfRc::GenericError,
    };
    let mut outcome = OcfOutcome::without_run(ran.status, rc, String::new());
    outcome.note = ran.note.clone();
    if rc != OcfRc::Success {
        let said = ran
            .stderr
            .text
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        outcome.exit_reason = Some(match (&ran.note, said.is_empty()) {
            (Some(note), _) => note.clone(),
            (None, false) => format!("{} {action} exited {}: {said}", req.agent_type, ran.rc),
            (None, true) => format!("{} {action} exited {}", req.agent_type, ran.rc),
        });
    }
    outcome.exit_code = Some(ran.rc);
    outcome.stdout = ran.stdout;
    outcome.stderr = ran.stderr;
    outcome.pid = ran.pid;
    outcome.duration_ms = ran.duration_ms;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_has_fixed_keys_then_params() {
        let req = FenceRequest::new(
            Arc::new(AgentConfig::default()),
            "fence_x",
            FenceAction::Reboot,
        )
        .with_target("node2")
        .with_param("pid_dir", "/tmp/c")
        .with_param("action", "on");
        assert_eq!(
            req.stdin_text().unwrap(),
            "action=reboot\nnodename=node2\nport=node2\npid_dir=/tmp/c\n"
        );
    }

    #[test]
    fn device_port_param_passes_without_target() {
        let req = FenceRequest::new(
            Arc::new(AgentConfig::default()),
            "fence_x",
            FenceAction::Status,
        )
        .with_param("port", "vm7");
        assert_eq!(req.stdin_text().unwrap(), "action=status\nport=vm7\n");
    }

    #[test]
    fn stdin_rejects_line_injection() {
        let req = FenceRequest::new(
            Arc::new(AgentConfig::default()),
            "fence_x",
            FenceAction::Off,
        )
        .with_target("node2\naction=on");
        assert!(req.stdin_text().is_err());
    }

    #[test]
    fn actions_parse() {
        for action in [
            FenceAction::Off,
            FenceAction::On,
            FenceAction::Reboot,
            FenceAction::Status,
            FenceAction::Monitor,
            FenceAction::List,
            FenceAction::Metadata,
        ] {
            assert_eq!(FenceAction::parse(action.as_str()), Some(action));
        }
    }
}
