//! Resource operations as the cluster passes them around: what to run on a
//! node ([`OpSpec`]) and what came of it ([`OpOutcome`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `class:provider:type`, as Pacemaker names an agent: the scheduler's type.
pub use crate::model::cib::AgentSpec;

/// One operation for a node's executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSpec {
    /// The resource id as the lrm history names it (`db:0` for anonymous
    /// clone instances where Pacemaker uses that).
    pub resource: String,
    pub agent: AgentSpec,
    pub operation: OpKind,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub params: BTreeMap<String, String>,
    /// Pacemaker's CRM_meta_* values without the prefix (`op_target_rc`,
    /// `clone`, `clone_max`, `role`, ...); agents see them as
    /// `OCF_RESKEY_CRM_meta_<name>`.
    pub meta: BTreeMap<String, String>,
}

/// Pacemaker's operation timeout when none is configured.
pub const DEFAULT_OP_TIMEOUT_MS: u64 = 20_000;

impl OpSpec {
    /// A one-shot `operation` of `resource`: the default timeout, no
    /// parameters, no meta attributes (set them on what it gives).
    pub fn new(resource: &str, agent: AgentSpec, operation: OpKind) -> OpSpec {
        OpSpec {
            resource: resource.to_string(),
            agent,
            operation,
            interval_ms: 0,
            timeout_ms: DEFAULT_OP_TIMEOUT_MS,
            params: BTreeMap::new(),
            meta: BTreeMap::new(),
        }
    }

    /// A one-shot monitor: it asks whether the resource runs, and either
    /// answer is information, not failure.
    pub fn is_probe(&self) -> bool {
        self.operation == OpKind::Monitor && self.interval_ms == 0
    }

    /// Pacemaker's operation key: `RSC_OP_INTERVAL`.
    pub fn key(&self) -> String {
        format!("{}_{}_{}", self.resource, self.operation, self.interval_ms)
    }

    /// The rc the scheduler expects (probes expect "not running").
    pub fn expected_rc(&self) -> i32 {
        self.meta
            .get("op_target_rc")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// What an operation asks of a node: an agent action, or the executor's
/// own bookkeeping (which runs no agent). Parsed once from the name
/// Pacemaker gives it and written back as that name, in the CIB and on the
/// wire alike; a name an agent defines for itself is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpKind {
    Start,
    Stop,
    /// A recurring monitor, or a probe when the interval is 0.
    Monitor,
    Promote,
    Demote,
    Notify,
    MigrateTo,
    MigrateFrom,
    Reload,
    ReloadAgent,
    MetaData,
    ValidateAll,
    /// Stop a recurring operation (the executor's bookkeeping).
    Cancel,
    /// Forget a resource on the node (a cleanup): its monitors stop.
    Delete,
    /// Nothing to run: the fail count lives in the CIB.
    ClearFailcount,
    /// An action only some agents advertise, by its name (never one of the
    /// names above: [`OpKind::parse`] gives those their own variant).
    Other(String),
}

impl OpKind {
    /// Every named kind with the name Pacemaker writes for it.
    const NAMED: [(OpKind, &'static str); 15] = [
        (OpKind::Start, "start"),
        (OpKind::Stop, "stop"),
        (OpKind::Monitor, "monitor"),
        (OpKind::Promote, "promote"),
        (OpKind::Demote, "demote"),
        (OpKind::Notify, "notify"),
        (OpKind::MigrateTo, "migrate_to"),
        (OpKind::MigrateFrom, "migrate_from"),
        (OpKind::Reload, "reload"),
        (OpKind::ReloadAgent, "reload-agent"),
        (OpKind::MetaData, "meta-data"),
        (OpKind::ValidateAll, "validate-all"),
        (OpKind::Cancel, "cancel"),
        (OpKind::Delete, "delete"),
        (OpKind::ClearFailcount, "clear_failcount"),
    ];

    pub fn parse(name: &str) -> OpKind {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(kind, _)| kind.clone())
            .unwrap_or_else(|| OpKind::Other(name.to_string()))
    }

    /// The name as Pacemaker writes it (`migrate_to`, `meta-data`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            OpKind::Other(name) => name,
            named => Self::NAMED
                .iter()
                .find(|(kind, _)| kind == named)
                .map(|(_, name)| *name)
                .unwrap_or_default(),
        }
    }

    /// The executor's bookkeeping: no agent runs.
    pub fn is_bookkeeping(&self) -> bool {
        matches!(
            self,
            OpKind::Cancel | OpKind::Delete | OpKind::ClearFailcount
        )
    }
}

impl From<&str> for OpKind {
    fn from(name: &str) -> OpKind {
        OpKind::parse(name)
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As its name: the replicated log and the wire carry the same bytes as
/// when the operation was a string.
impl Serialize for OpKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OpKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<OpKind, D::Error> {
        String::deserialize(deserializer).map(|name| OpKind::parse(&name))
    }
}

/// An OCF exit code (OCF 1.1, 0-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OcfRc {
    Success,
    GenericError,
    InvalidArgs,
    Unimplemented,
    InsufficientPrivileges,
    NotInstalled,
    NotConfigured,
    NotRunning,
    RunningPromoted,
    FailedPromoted,
}

impl OcfRc {
    pub fn code(self) -> i32 {
        match self {
            OcfRc::Success => 0,
            OcfRc::GenericError => 1,
            OcfRc::InvalidArgs => 2,
            OcfRc::Unimplemented => 3,
            OcfRc::InsufficientPrivileges => 4,
            OcfRc::NotInstalled => 5,
            OcfRc::NotConfigured => 6,
            OcfRc::NotRunning => 7,
            OcfRc::RunningPromoted => 8,
            OcfRc::FailedPromoted => 9,
        }
    }

    /// The rc for an exit code, `None` outside 0-9.
    pub fn from_code(code: i32) -> Option<OcfRc> {
        Some(match code {
            0 => OcfRc::Success,
            1 => OcfRc::GenericError,
            2 => OcfRc::InvalidArgs,
            3 => OcfRc::Unimplemented,
            4 => OcfRc::InsufficientPrivileges,
            5 => OcfRc::NotInstalled,
            6 => OcfRc::NotConfigured,
            7 => OcfRc::NotRunning,
            8 => OcfRc::RunningPromoted,
            9 => OcfRc::FailedPromoted,
            _ => return None,
        })
    }

    /// The name Pacemaker prints (crm_mon, crm_simulate).
    pub fn description(self) -> &'static str {
        match self {
            OcfRc::Success => "ok",
            OcfRc::GenericError => "error",
            OcfRc::InvalidArgs => "invalid parameter",
            OcfRc::Unimplemented => "unimplemented feature",
            OcfRc::InsufficientPrivileges => "insufficient privileges",
            OcfRc::NotInstalled => "not installed",
            OcfRc::NotConfigured => "not configured",
            OcfRc::NotRunning => "not running",
            OcfRc::RunningPromoted => "promoted",
            OcfRc::FailedPromoted => "promoted (failed)",
        }
    }
}

impl std::fmt::Display for OcfRc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code(), self.description())
    }
}

/// How an operation ended, as Pacemaker's op-status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStatus {
    /// The agent ran and returned `rc`.
    Done,
    Cancelled,
    TimedOut,
    NotSupported,
    /// Could not run at all (exec failed).
    Error,
    /// The agent (or its class) is not on this node: the resource cannot
    /// run here, and so is not running here either.
    NotInstalled,
}

impl OpStatus {
    /// How crm_mon words an op-status.
    pub fn text_of_code(code: i32) -> &'static str {
        match code {
            0 => "complete",
            1 => "Cancelled",
            2 => "Timed Out",
            3 => "NOT SUPPORTED",
            4 => "Error",
            5 => "Hard error",
            6 => "Fatal error",
            7 => "Not installed",
            8 => "Internal communication failure",
            9 => "Cannot execute now",
            10 => "No fence device",
            11 => "CIB secrets unavailable",
            -1 => "pending",
            _ => "unknown",
        }
    }

    /// Pacemaker's numeric op-status.
    pub fn code(self) -> i32 {
        match self {
            OpStatus::Done => 0,
            OpStatus::Cancelled => 1,
            OpStatus::TimedOut => 2,
            OpStatus::NotSupported => 3,
            OpStatus::Error => 4,
            OpStatus::NotInstalled => 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpOutcome {
    pub rc: i32,
    pub status: OpStatus,
    /// Tail of what the agent printed, for operators.
    pub output: String,
    pub exec_ms: u64,
    /// When it ended, seconds since the epoch (for last-rc-change).
    pub ended_epoch_s: i64,
    /// The executor's call counter on that node.
    pub call_id: u64,
    /// Why it failed, in the agent's words (`ocf-exit-reason:`) or the
    /// executor's (timed out, not installed): Pacemaker's `exit-reason`.
    #[serde(default)]
    pub exit_reason: String,
}

impl OpOutcome {
    /// An operation that ran to its end with `rc`, as executor call
    /// `call_id` at `ended_epoch_s`; nothing printed, no time taken.
    pub fn completed(rc: i32, call_id: u64, ended_epoch_s: i64) -> OpOutcome {
        OpOutcome {
            rc,
            status: OpStatus::Done,
            output: String::new(),
            exec_ms: 0,
            ended_epoch_s,
            call_id,
            exit_reason: String::new(),
        }
    }

    pub fn succeeded_as(&self, expected_rc: i32) -> bool {
        self.status == OpStatus::Done && self.rc == expected_rc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_kinds_read_and_write_pacemakers_names() {
        for (kind, name) in OpKind::NAMED {
            assert_eq!(OpKind::parse(name), kind);
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
        }
        let custom = OpKind::parse("rotate-keys");
        assert_eq!(custom, OpKind::Other("rotate-keys".into()));
        assert_eq!(custom.to_string(), "rotate-keys");
        assert!(OpKind::Cancel.is_bookkeeping() && !OpKind::Stop.is_bookkeeping());
    }

    #[test]
    fn an_operation_kind_travels_as_its_name() {
        for name in ["migrate_to", "meta-data", "reload-agent", "rotate-keys"] {
            let kind = OpKind::parse(name);
            let bytes = rmp_serde::to_vec(&kind).unwrap();
            assert_eq!(bytes, rmp_serde::to_vec(name).unwrap());
            assert_eq!(rmp_serde::from_slice::<OpKind>(&bytes).unwrap(), kind);
        }
    }
}
