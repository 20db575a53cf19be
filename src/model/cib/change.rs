//! The vocabulary of CIB edits: what a client asks of the CIB, and the
//! facts the DC records in its status section. Both travel in the
//! replicated log, so they are plain data, applied by pure functions
//! (`model::cib::store`).

use crate::model::cib::operation::{OpOutcome, OpSpec};
use crate::model::cib::xml::Element;
use serde::{Deserialize, Serialize};

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
    /// A change, with who made it and when (Pacemaker's `cib-last-written`,
    /// `update-user`, `update-client`, `update-origin` on `<cib>`).
    Stamped {
        change: Box<CibChange>,
        stamp: ChangeStamp,
    },
    /// `systole fence confirm NODE`: an operator swears the node is off
    /// (powered off by hand). Recorded as a successful manual fencing:
    /// the node is down, its resources may start elsewhere. Refused for a
    /// node the cluster sees as a member.
    ConfirmFenced {
        node: String,
        at_epoch_s: i64,
        by: String,
    },
}

/// Who made a change, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeStamp {
    pub at_epoch_s: i64,
    pub user: String,
    pub client: String,
    pub origin: String,
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
        record: crate::model::cib::store::FenceRecord,
    },
    Quorum {
        quorate: bool,
        dc: String,
    },
    /// A transition as the DC ran it, for every node's history (kept in the
    /// replicated state beside the CIB, not in it).
    Transition {
        record: crate::model::control::history::TransitionRecord,
    },
}
