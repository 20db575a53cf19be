//! The control protocol: requests, answers and the reports they carry, in
//! length-prefixed rmp-serde frames.

use super::server::CONTROL_WORK_REQUESTS_MAX;
use crate::actors::message::CibChange;
use crate::actors::tree::TreeNode;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// Largest control frame: a whole CIB of a big cluster fits.
pub const CONTROL_FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControlRequest {
    Ping,
    Status,
    Actors,
    ActorsKill {
        name: String,
    },
    CibGet,
    /// The CIB as of the leader's commit index (a linearizable read).
    CibGetConsistent,
    CibModify {
        change: CibChange,
    },
    /// `systole node add`: a new member, as a learner until it caught up.
    MemberAdd {
        name: String,
        addr: Option<String>,
        witness: bool,
    },
    /// `systole node remove`.
    MemberRemove {
        name: String,
        force: bool,
    },
    /// The transitions the DCs ran, as this node knows them.
    History,
    /// `systole report`: CIB, history, status, and every member's settings
    /// and log lines from `from_epoch_s` to `to_epoch_s`.
    Report {
        from_epoch_s: i64,
        to_epoch_s: i64,
    },
    /// The bus's counters (sent, received, dropped and why).
    BusStats,
    /// This node's scheduler and transition durations (`/metrics`).
    Timings,
    /// Fence a node now (`systole fence NODE`), through the DC.
    Fence {
        target: String,
        action: String,
    },
    /// `systole fence confirm NODE`: the operator powered it off by hand.
    FenceConfirm {
        target: String,
    },
    Shutdown,
    /// `attrd_updater`: set or delete a transient node attribute, dampened.
    AttrUpdate {
        node: String,
        name: String,
        value: Option<String>,
        dampen_ms: u64,
    },
    /// `attrd_updater -Q`: an attribute's newest value on one node or all.
    AttrQuery {
        node: Option<String>,
        name: String,
    },
    /// `systole resource agents [CLASS[:PROVIDER]]`.
    Agents {
        filter: Option<String>,
    },
    /// `systole resource describe AGENT`: its meta-data.
    DescribeAgent {
        agent: String,
    },
    /// Chaos testing: drop all traffic with these nodes (empty: heal).
    ChaosBlock {
        nodes: Vec<String>,
    },
}

/// Which path a request takes through the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Answered from the node's shared state on the control socket's own
    /// thread: never waits behind a transition, a write or an agent.
    Read,
    /// Waits for actors, the cluster or an agent: admitted up to
    /// [`CONTROL_WORK_REQUESTS_MAX`] at once, else "busy, retry".
    Work,
}

impl ControlRequest {
    pub fn lane(&self) -> Lane {
        match self {
            ControlRequest::Ping
            | ControlRequest::Status
            | ControlRequest::Actors
            | ControlRequest::CibGet
            | ControlRequest::History
            | ControlRequest::BusStats
            | ControlRequest::Timings => Lane::Read,
            _ => Lane::Work,
        }
    }

    /// Whether the request changes anything (and so needs an admin).
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            ControlRequest::Fence { .. }
                | ControlRequest::FenceConfirm { .. }
                | ControlRequest::ActorsKill { .. }
                | ControlRequest::CibModify { .. }
                | ControlRequest::MemberAdd { .. }
                | ControlRequest::MemberRemove { .. }
                | ControlRequest::ChaosBlock { .. }
                | ControlRequest::Shutdown
                | ControlRequest::AttrUpdate { .. }
                // Logs and settings: for administrators only.
                | ControlRequest::Report { .. }
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeReport {
    pub name: String,
    /// A remote or guest node: online while the cluster's connection to
    /// it runs, not a member of the membership.
    #[serde(default)]
    pub remote: bool,
    pub online: bool,
    pub standby: bool,
    pub maintenance: bool,
    /// Its node attributes, permanent and transient (`pingd`,
    /// `#health-cpu`, `master-db`, ...), without fail counts.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ResourceReport {
    pub id: String,
    pub parent: Option<String>,
    pub agent: String,
    pub role: String,
    pub nodes: Vec<String>,
    /// It failed where it runs, or has failures recorded anywhere (until
    /// `resource cleanup`).
    pub failed: bool,
    /// Its fail count per node (INFINITY is 1000000), when not zero.
    #[serde(default)]
    pub fail_counts: std::collections::BTreeMap<String, i64>,
}

/// `systole status --json`, as DESIGN.md fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StatusReport {
    pub cluster: String,
    pub dc: Option<String>,
    pub quorate: bool,
    pub nodes: Vec<NodeReport>,
    pub resources: Vec<ResourceReport>,
    /// The node that answered.
    #[serde(default)]
    pub answered_by: String,
    #[serde(default)]
    pub fencing: Vec<crate::model::cib::store::FenceRecord>,
    /// Failed operations, newest first (crm_mon's "Failed Resource Actions").
    #[serde(default)]
    pub failed_actions: Vec<crate::scheduler::status::FailedAction>,
    /// The last configuration change.
    #[serde(default)]
    pub last_change: Option<crate::scheduler::status::LastChange>,
    /// When the answering node made this report (seconds since the epoch).
    #[serde(default)]
    pub updated_epoch_s: i64,
    /// Configuration errors and warnings of the CIB (`systole cib verify`),
    /// one a line: what the scheduler leaves out.
    #[serde(default)]
    pub config_errors: Vec<String>,
    /// The consensus as the answering node sees it.
    #[serde(default)]
    pub consensus: Option<ConsensusReport>,
}

/// The consensus part of `status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ConsensusReport {
    pub term: u64,
    pub leader: Option<String>,
    pub commit_index: u64,
    pub applied_index: u64,
    /// Members that vote (witnesses included), learners catching up, and
    /// witnesses.
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    pub witnesses: Vec<String>,
    /// Voters this node reaches (itself included).
    pub reachable_voters: usize,
    /// Set while this node's disk fails: it neither votes nor acknowledges.
    pub disk_error: Option<String>,
    /// The DC's last scheduler error, until scheduling works again.
    pub scheduler_error: Option<String>,
    /// Why this two-node survivor does not go on alone (fencing disabled
    /// or failing), while its peer is lost.
    #[serde(default)]
    pub two_node_warning: Option<String>,
    /// Messages refused because their sender is not a member.
    pub refused_non_members: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
// One answer per connection, encoded at once: the size of the status
// variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum ControlResponse {
    Pong {
        node: String,
    },
    Status(StatusReport),
    Actors {
        node: String,
        tree: TreeNode,
    },
    Cib {
        xml: String,
    },
    History {
        node: String,
        transitions: Vec<crate::model::control::history::TransitionRecord>,
    },
    Report(Box<crate::actors::report::Report>),
    /// `attrd_updater -Q`: (node, value) pairs.
    Attributes(Vec<(String, Option<String>)>),
    Agents(Vec<String>),
    AgentMetadata(crate::agent::metadata::AgentMetadata),
    /// `systole bus`: the transport's counters on `node`.
    Bus {
        node: String,
        stats: crate::transport::TransportStats,
        /// Datagrams from hosts that hold the key but are not members.
        refused_non_members: u64,
    },
    /// Scheduler and transition durations on `node`.
    Timings {
        node: String,
        timings: crate::model::control::histogram::Timings,
    },
    Done(String),
    Error(String),
    /// Too many requests wait for this node's actors: nothing was done;
    /// retry after `retry_after_ms` ([`call`] does, a few times).
    Busy {
        node: String,
        retry_after_ms: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the daemon at {path}: {source} (is it running? see --socket / --dir)")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("talking to the daemon: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes exceeds the limit of {CONTROL_FRAME_BYTES_MAX}")]
    TooLarge(usize),
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("the daemon at {path} gave no answer within {timeout_ms} ms (busy or stuck); retry, or see its log")]
    NoAnswer { path: String, timeout_ms: u64 },
    #[error("node {node} is busy ({CONTROL_WORK_REQUESTS_MAX} requests already wait for it; asked {attempts} times): nothing was done, retry shortly")]
    Busy { node: String, attempts: usize },
}

pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, ControlError> {
    // Named fields: optional fields may be skipped without shifting the rest.
    let body = rmp_serde::to_vec_named(value).map_err(|e| ControlError::Decode(e.to_string()))?;
    if body.len() > CONTROL_FRAME_BYTES_MAX {
        return Err(ControlError::TooLarge(body.len()));
    }
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    Ok(frame)
}

pub fn decode_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ControlError> {
    rmp_serde::from_slice(body).map_err(|e| ControlError::Decode(e.to_string()))
}

pub(crate) fn read_frame(stream: &mut impl Read) -> Result<Vec<u8>, ControlError> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let length = u32::from_be_bytes(length) as usize;
    if length > CONTROL_FRAME_BYTES_MAX {
        return Err(ControlError::TooLarge(length));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok(body)
}
