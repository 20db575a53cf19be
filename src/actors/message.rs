//! What actors say to each other. One serialisable vocabulary, so any
//! message can cross the bus to another node unchanged.

pub use crate::model::cib::change::{ChangeStamp, CibChange, StatusChange};
use crate::model::cib::operation::{OpOutcome, OpSpec};
use crate::model::cib::store::CibVersion;
use crate::model::cib::xml::Element;
use crate::model::control::members::MemberChange;
pub use crate::model::control::plan::{Plan, PlannedAction, PlannedKind};
use serde::{Deserialize, Serialize};

/// Names an actor anywhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActorRef {
    pub node: String,
    pub name: String,
}

impl ActorRef {
    pub fn new(node: &str, name: &str) -> Self {
        ActorRef {
            node: node.to_string(),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for ActorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.node)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub from: ActorRef,
    pub to: ActorRef,
    /// Set when the sender waits for an answer.
    pub request_id: Option<u64>,
    /// Set on an answer: the request it answers.
    pub reply_to: Option<u64>,
    pub body: Message,
}

impl Envelope {
    /// The addressing part, for answering after the body was consumed.
    pub fn header(&self) -> Envelope {
        Envelope {
            from: self.from.clone(),
            to: self.to.clone(),
            request_id: self.request_id,
            reply_to: self.reply_to,
            body: Message::Ok,
        }
    }
}

/// A membership view as the actors see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct View {
    pub id: u64,
    pub members: Vec<String>,
    pub quorate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Message {
    Ok,
    Error(String),
    /// Makes the receiving actor panic: chaos testing and `actors kill`.
    InjectCrash,
    /// A timer fired.
    Tick,

    /// From the membership actor to local subscribers.
    ViewChanged(View),
    /// Asks the bus actor for its counters.
    BusStatsQuery,
    BusStats {
        text: String,
    },

    // Consensus (CIB actors).
    /// A Raft message between CIB actors (protobuf bytes).
    Raft {
        bytes: Vec<u8>,
    },
    /// The disk writer: batches up to `number` are durable, or the write
    /// failed (`error`).
    CibDisk {
        incarnation: u64,
        number: u64,
        error: Option<String>,
    },
    /// CIB-internal: process what the consensus has ready.
    CibFlush,
    /// CIB-internal: the leader's answer to a forwarded change.
    CibForwarded {
        token: u64,
        answer: Box<Message>,
    },

    // CIB.
    CibQuery,
    /// A linearizable read through the leader (`cib export --consistent`).
    CibReadConsistent,
    CibContent {
        cib: Element,
    },
    /// Client change, to any node's CIB actor: it is proposed to the log
    /// (through the leader) and answered once committed and applied here.
    CibModify {
        change: CibChange,
    },
    /// A client change another node passes on to the leader.
    CibModifyForwarded {
        change: CibChange,
    },
    /// A passed-on change reached a node that no longer leads: nothing was
    /// proposed, so it may be passed on again.
    CibNotLeader,
    /// Answer to a change: committed on a majority and applied.
    CibStored {
        version: CibVersion,
        index: u64,
    },
    /// DC to its CIB actor: record these facts (term-checked).
    CibPropose {
        term: u64,
        changes: Vec<StatusChange>,
    },
    CibProposed {
        index: u64,
    },
    /// Change the members (node add/remove), to any node's CIB actor.
    CibMembers {
        change: MemberChange,
    },
    /// The same, passed on to the leader.
    CibMembersForwarded {
        change: MemberChange,
    },
    /// CIB actor to the local DC actor: this node's role in the consensus
    /// changed; `dc_term` is set while it acts as DC.
    Leadership {
        dc_term: Option<u64>,
    },
    /// CIB actor to the local DC actor: a client change was applied.
    CibClientChange,

    // Executor.
    ExecOp {
        term: u64,
        transition: u64,
        action: u32,
        op: OpSpec,
        /// The remote node the operation is for, when this node hosts its
        /// connection (None: this node itself).
        remote_node: Option<String>,
    },
    ExecResult {
        transition: u64,
        action: u32,
        node: String,
        op: OpSpec,
        outcome: OpOutcome,
    },
    /// `systole report`: a node's settings and log lines of a window.
    ReportQuery {
        from_epoch_s: i64,
        to_epoch_s: i64,
    },
    ReportPart(crate::actors::report::ReportPart),
    LrmQuery,
    LrmContent {
        lrm: Element,
    },

    // Fencing.
    Fence {
        term: u64,
        target: String,
        action: String,
    },
    FenceDone {
        target: String,
        ok: bool,
        detail: String,
    },
    /// The CIB actor of a two-node survivor asks its own fencer to fence
    /// the lost peer: there is no DC to ask (answered with `FenceDone`).
    TwoNodeFence {
        target: String,
        action: String,
    },
    /// CIB-internal: the answer to `TwoNodeFence`.
    TwoNodeFenced {
        target: String,
        ok: bool,
        detail: String,
    },
    /// An administrator asks the DC to fence a node (`systole fence`).
    AdminFence {
        target: String,
        action: String,
    },
    /// DC-internal: a fencing action of transition `transition` ended.
    FenceResult {
        transition: u64,
        action: u32,
        target: String,
        fence_action: String,
        ok: bool,
        detail: String,
    },

    /// DC-internal: an action could not be carried out (unreachable, timeout).
    ActionFailed {
        transition: u64,
        action: u32,
        reason: String,
    },
    /// DC-internal: a member's operation history, asked at the start of a
    /// term or when it joins (None: it did not answer).
    DcLrm {
        node: String,
        lrm: Option<Element>,
    },
    /// DC-internal: the policy actor's answer to a schedule request.
    DcScheduled {
        term: u64,
        request: u64,
        plan: Option<Plan>,
        error: Option<String>,
    },
    /// DC-internal: status facts were recorded (or refused).
    DcRecorded {
        ok: bool,
    },
    /// Executor-internal: a recurring monitor's result changed.
    RecurringResult {
        op: OpSpec,
        outcome: OpOutcome,
    },

    // Policy.
    Schedule {
        cib: Element,
        now_epoch_s: i64,
    },
    Scheduled {
        plan: Plan,
    },
}
