//! What the DC actor is asked and told, and how it refuses.

use super::{request, ExecResult, Fenced};
use crate::agent::fence::FenceAction;
use crate::model::cib::xml::Element;
use crate::model::control::plan::Plan;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DcRequest {
    AdminFence(AdminFence),
}

/// An administrator asks the DC to fence a node (`systole fence`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminFence {
    pub target: String,
    pub action: FenceAction,
}
request!(AdminFence: Dc(DcRequest::AdminFence) -> Fenced(Fenced));

/// Notices to the DC actor, and its own tasks' results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DcNote {
    /// From the CIB actor: this node's role in the consensus changed;
    /// `dc_term` is set while it acts as DC.
    Leadership { dc_term: Option<u64> },
    /// From the CIB actor: a client change was applied.
    ClientChange,
    /// An operation's result: a transition's action, or (transition 0) a
    /// recurring monitor whose result changed.
    ExecResult(ExecResult),
    /// A member's operation history, asked at the start of a term or when
    /// it joins (None: it did not answer).
    Lrm { node: String, lrm: Option<Element> },
    /// The policy actor's answer to a schedule request.
    Scheduled {
        term: u64,
        request: u64,
        result: Result<Plan, String>,
    },
    /// Status facts were recorded (or refused).
    Recorded { ok: bool },
    /// A fencing action of transition `transition` ended.
    FenceResult {
        transition: u64,
        action: u32,
        fence_action: FenceAction,
        fenced: Fenced,
    },
    /// An action could not be carried out (unreachable, timeout).
    ActionFailed {
        transition: u64,
        action: u32,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum DcError {
    #[error("this node is not the DC")]
    NotDc,
    #[error("{0} is the DC and cannot fence itself; stop it or fence it once another node is DC")]
    FenceSelf(String),
}
