//! What the executor is asked and how it refuses.

use super::request;
use crate::model::cib::operation::{OpOutcome, OpSpec};
use crate::model::cib::xml::Element;
use serde::{Deserialize, Serialize};

// Moved once into its envelope and encoded: a box would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ExecRequest {
    Op(ExecOp),
    Lrm(LrmQuery),
}

/// Run an operation of transition `transition` (DC of term `term`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecOp {
    pub term: u64,
    pub transition: u64,
    pub action: u32,
    pub op: OpSpec,
    /// The remote node the operation is for, when this node hosts its
    /// connection (None: this node itself).
    pub remote_node: Option<String>,
}
request!(ExecOp: Exec(ExecRequest::Op) -> Executed(ExecResult));

/// The node's operation history (its `lrm` section).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LrmQuery;
request!(LrmQuery: Exec(ExecRequest::Lrm) -> Lrm(Element));

/// What came of an operation, and where it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecResult {
    pub transition: u64,
    pub action: u32,
    pub node: String,
    pub op: OpSpec,
    pub outcome: OpOutcome,
}

/// The executor's notes to itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ExecNote {
    /// A recurring monitor's result changed.
    RecurringResult { op: OpSpec, outcome: OpOutcome },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ExecError {
    /// The command is not from the current DC (the controller's words).
    #[error("{0}")]
    NotFromDc(String),
    /// The remote node's connection failed the operation.
    #[error("{0}")]
    Remote(String),
}
