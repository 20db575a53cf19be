//! A transition as the DC carries it out: actions with the actions they
//! wait for. The policy engine's graph, reduced to what the controller needs.

use crate::model::cib::operation::OpSpec;
use serde::{Deserialize, Serialize};

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
    /// Schedule again after this many seconds though nothing happens (a
    /// failure's `failure-timeout` expires then); none: only on events.
    #[serde(default)]
    pub recheck_in_s: Option<u64>,
}
