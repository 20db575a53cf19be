//! What actors say to each other. One serialisable vocabulary, so any
//! message can cross the bus to another node unchanged.

use crate::model::cib_store::CibVersion;
use crate::model::operation::{OpOutcome, OpSpec};
use crate::model::xml::Element;
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

/// One step of a transition, as the DC carries it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub id: u32,
    /// Actions that must complete first.
    pub after: Vec<u32>,
    pub kind: PlannedKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlannedKind {
    Resource {
        node: String,
        op: OpSpec,
    },
    Fence {
        target: String,
        action: String,
    },
    /// Ordering points with nothing to run ("all stopped", "cluster down").
    Pseudo {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Plan {
    pub actions: Vec<PlannedAction>,
    pub summary: Vec<String>,
    /// What the scheduler left out of the CIB (configuration errors and
    /// warnings, one a line); everything else is in `actions`.
    #[serde(default)]
    pub config_errors: Vec<String>,
}

/// A change a client asks of the CIB, applied by the DC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CibChange {
    /// Replace the whole configuration section.
    ReplaceConfiguration(Element),
    /// Insert or replace the element with this id under the section named
    /// by its tag's usual parent (resources, constraints, ...).
    Upsert {
        section: String,
        element: Element,
    },
    Delete {
        id: String,
    },
    SetProperty {
        name: String,
        value: Option<String>,
    },
    SetNodeAttribute {
        node: String,
        name: String,
        value: Option<String>,
    },
    /// Several changes applied all or none, as one configuration update
    /// (one epoch step).
    Batch(Vec<CibChange>),
    /// Compare-and-swap: replace the configuration only if the live CIB's
    /// `(admin_epoch, epoch)` still equals the expected one (shadow commit).
    ReplaceConfigurationIf {
        admin_epoch: u64,
        epoch: u64,
        configuration: Element,
    },
    /// `resource cleanup`: forget operation history and fail counts of one
    /// resource (every resource when `None`), on one node or all. A status
    /// change: num_updates steps, epoch stays.
    CleanupResource {
        resource: Option<String>,
        node: Option<String>,
    },
    /// A transient node attribute (status section; gone when the node
    /// leaves): what `crm_attribute -l reboot` and `crm_master` set.
    SetTransientAttribute {
        node: String,
        name: String,
        value: Option<String>,
    },
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

    // Election and join, DC to DC actors.
    /// A candidate asks every member to join it for `term`.
    JoinRequest {
        term: u64,
    },
    /// A member accepts: its highest term seen, CIB version and the history
    /// of what its executor ran.
    JoinAck {
        term_seen: u64,
        version: CibVersion,
        lrm: Element,
    },
    /// The candidate won: it is DC for `term`.
    DcAnnounce {
        term: u64,
    },
    /// Refused: the sender's term is stale.
    StaleTerm {
        term_seen: u64,
    },

    // CIB.
    CibQuery,
    CibContent {
        cib: Element,
    },
    /// Client change, sent to the DC's CIB actor (forwarded there if sent elsewhere).
    CibModify {
        change: CibChange,
    },
    /// DC to every CIB actor: this is the CIB now (term-checked).
    CibReplicate {
        term: u64,
        cib: Element,
    },
    /// Acknowledges a replica write: it is on that node's disk.
    CibStored {
        version: CibVersion,
    },
    /// Local DC to its CIB actor: take this copy (the newest in the cluster).
    CibAdopt {
        cib: Element,
    },
    /// Local CIB actor to the DC: the configuration changed.
    CibChanged,
    /// DC-internal: a result or membership fact to write into the status section.
    CibStatusUpdate {
        term: u64,
        cib_status: StatusChange,
    },

    // Executor.
    ExecOp {
        term: u64,
        transition: u64,
        action: u32,
        op: OpSpec,
    },
    ExecResult {
        transition: u64,
        action: u32,
        node: String,
        op: OpSpec,
        outcome: OpOutcome,
    },
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
        ok: bool,
        detail: String,
    },

    /// DC-internal: an action could not be carried out (unreachable, timeout).
    ActionFailed {
        transition: u64,
        action: u32,
        reason: String,
    },
    /// DC-internal: a copy of the CIB fetched from `node` at the start of a term.
    DcFetchedCib {
        node: String,
        cib: Option<Element>,
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

/// Facts the DC writes into the CIB's status section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusChange {
    OpResult {
        node: String,
        op: OpSpec,
        outcome: OpOutcome,
        transition_key: String,
    },
    NodeJoined {
        node: String,
    },
    NodeLost {
        node: String,
    },
    NodeFenced {
        node: String,
    },
    /// It left after announcing its shutdown, with nothing running: down,
    /// not lost, so no fencing.
    NodeLeft {
        node: String,
    },
    NodeLrm {
        node: String,
        lrm: Element,
    },
    /// A fencing attempt and its result, for everyone to see.
    FenceEvent {
        record: crate::model::cib_store::FenceRecord,
    },
    Quorum {
        quorate: bool,
        dc: String,
    },
}
