//! What the CIB actor is asked, what it tells itself, and how it refuses.

use super::request;
use crate::model::cib::change::{CibChange, StatusChange};
use crate::model::cib::store::CibVersion;
use crate::model::cib::xml::Element;
use crate::model::control::members::MemberChange;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CibRequest {
    Query(CibQuery),
    ReadConsistent(CibReadConsistent),
    Modify(CibModify),
    ModifyForwarded(CibModifyForwarded),
    Members(MembersChange),
    MembersForwarded(MembersChangeForwarded),
    Propose(CibPropose),
}

/// This node's copy of the CIB, as applied here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CibQuery;
request!(CibQuery: Cib(CibRequest::Query) -> Cib(Element));

/// A linearizable read through the leader (`cib export --consistent`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CibReadConsistent;
request!(CibReadConsistent: Cib(CibRequest::ReadConsistent) -> Cib(Element));

/// A client change, to any node's CIB actor: proposed to the log (through
/// the leader) and answered once committed and applied here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CibModify {
    pub change: CibChange,
}
request!(CibModify: Cib(CibRequest::Modify) -> Stored(Stored));

/// A client change another node passes on to the leader. A node that no
/// longer leads refuses it with [`CibError::NotLeader`]: nothing was
/// proposed, so it may be passed on again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CibModifyForwarded {
    pub change: CibChange,
}
request!(CibModifyForwarded: Cib(CibRequest::ModifyForwarded) -> Stored(Stored));

/// Change the members (node add/remove), to any node's CIB actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersChange {
    pub change: MemberChange,
}
request!(MembersChange: Cib(CibRequest::Members) -> Done);

/// The same, passed on to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersChangeForwarded {
    pub change: MemberChange,
}
request!(MembersChangeForwarded: Cib(CibRequest::MembersForwarded) -> Done);

/// DC to its CIB actor: record these facts (term-checked). Answered with
/// the log index once committed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CibPropose {
    pub term: u64,
    pub changes: Vec<StatusChange>,
}
request!(CibPropose: Cib(CibRequest::Propose) -> Proposed(u64));

/// A client change is committed on a majority and applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub version: CibVersion,
    pub index: u64,
}

/// What the CIB actor hears that nobody waits an answer for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CibNote {
    /// A Raft message between consensus threads (protobuf bytes), sent to
    /// the `raft` mailbox (`actors::raft_thread`).
    Raft { bytes: Vec<u8> },
    /// The consensus thread has committed entries, reads or a disk failure
    /// for the CIB actor to take (`RaftCore::take_committed`).
    Committed,
    /// The leader's answer to a passed-on change.
    Forwarded {
        token: u64,
        answer: Result<Stored, super::Failure>,
    },
    /// The fencer's answer to a two-node fencing.
    TwoNodeFenced(super::Fenced),
}

/// Why the CIB actor refuses or drops a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CibError {
    #[error("this node's disk failed ({0}); ask another node")]
    DiskFailed(String),
    #[error("this node is not in a cluster yet (systole node add it from a member)")]
    NotInCluster,
    /// The quorum as `status` shows it (`1 of 5 voters reachable`).
    #[error("no quorum: {0}")]
    NoQuorum(String),
    #[error(
        "busy: {} changes already waiting (WAITERS_MAX); retry",
        crate::actors::cib::WAITERS_MAX
    )]
    Busy,
    #[error("the consensus is not running here")]
    NotRunning,
    /// The consensus or the CIB refused the change, in their words.
    #[error("{0}")]
    Refused(String),
    #[error("the change was lost in a change of DC and not applied; try again")]
    ChangeLost,
    #[error("lost in a change of DC")]
    StatusLost,
    #[error("no DC elected yet (an election is under way); try again")]
    NoLeader,
    /// A passed-on change reached a node that no longer leads.
    #[error("not the leader; nothing was proposed")]
    NotLeader,
    #[error("not the DC any more; try again")]
    NoLongerDc,
    #[error("no other reachable voter to hand the leadership to")]
    NoSuccessor,
    #[error("status is recorded by the local DC only")]
    StatusNotLocal,
    #[error("the cluster changed to one voter after fencing the peer; try again")]
    WentSolo,
}
