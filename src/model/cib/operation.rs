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
    /// start, stop, monitor, promote, demote, notify, migrate_to, ...
    pub operation: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub params: BTreeMap<String, String>,
    /// Pacemaker's CRM_meta_* values without the prefix (`op_target_rc`,
    /// `clone`, `clone_max`, `role`, ...); agents see them as
    /// `OCF_RESKEY_CRM_meta_<name>`.
    pub meta: BTreeMap<String, String>,
}

impl OpSpec {
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
    pub fn succeeded_as(&self, expected_rc: i32) -> bool {
        self.status == OpStatus::Done && self.rc == expected_rc
    }
}
