//! What the fencer is asked and how it refuses.

use super::request;
use crate::agent::fence::FenceAction;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FenceRequest {
    Fence(Fence),
    TwoNodeFence(TwoNodeFence),
}

/// The DC of term `term` fences `target`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fence {
    pub term: u64,
    pub target: String,
    pub action: FenceAction,
}
request!(Fence: Fence(FenceRequest::Fence) -> Fenced(Fenced));

/// The CIB actor of a two-node survivor asks its own fencer to fence the
/// lost peer: there is no DC to ask.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TwoNodeFence {
    pub target: String,
    pub action: FenceAction,
}
request!(TwoNodeFence: Fence(FenceRequest::TwoNodeFence) -> Fenced(Fenced));

/// How a fencing action ended: `ok` or not, and what each device said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fenced {
    pub target: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum FenceError {
    #[error("refused: two-node fencing is asked by the local CIB only")]
    TwoNodeNotLocal,
    #[error("refused: fencing request of term {0} is not from the current DC")]
    NotFromDc(u64),
}
