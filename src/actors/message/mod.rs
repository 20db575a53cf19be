//! What actors say to each other.
//!
//! Every message travels in one wire [`Envelope`] (rmp-serde), so any of
//! them can cross the bus to another node unchanged. Its body is a
//! [`Message`], which says which actor it is for and what kind it is:
//!
//! - a **request** to an actor, one enum per actor ([`CibRequest`],
//!   [`ExecRequest`], [`FenceRequest`], [`DcRequest`], [`PolicyRequest`],
//!   [`MembershipRequest`], [`BusRequest`]). Each variant holds a struct
//!   (such as [`CibModify`]) that implements [`Request`]: its `Reply` type
//!   is the one answer it can get, so a caller of
//!   [`Router::ask`](crate::actors::router::Router::ask) matches exactly that
//!   and nothing else;
//! - a **note**, which nobody answers: an actor's messages to itself (a
//!   task's result, a timer) and notices between actors ([`CibNote`],
//!   [`DcNote`], [`ExecNote`], the shell's [`Message::Tick`] and friends);
//! - the **answer** to a request: `Message::Reply(Result<Reply, Failure>)`.
//!   [`Reply`] has one variant per kind of answer; [`Failure`] is an enum
//!   of each actor's errors ([`CibError`], [`ExecError`], ...), so a caller
//!   can tell "not the leader" from "no quorum" without reading text.
//!
//! The daemon is the same binary on every node, so both ends always agree
//! on this vocabulary; an answer of the wrong kind is still refused as an
//! error ([`ActorError::WrongReply`]), never trusted.

mod cib;
mod dc;
mod exec;
mod fence;
mod membership;
mod policy;

pub use cib::{
    CibError, CibModify, CibModifyForwarded, CibNote, CibPropose, CibQuery, CibReadConsistent,
    CibRequest, MembersChange, MembersChangeForwarded, Stored,
};
pub use dc::{AdminFence, DcError, DcNote, DcRequest};
pub use exec::{ExecError, ExecNote, ExecOp, ExecRequest, ExecResult, LrmQuery};
pub use fence::{Fence, FenceError, FenceRequest, Fenced, TwoNodeFence};
pub use membership::{BusRequest, BusStatsQuery, MembershipRequest, ReportQuery};
pub use policy::{PolicyError, PolicyRequest, Schedule};

pub use crate::model::cib::change::{ChangeStamp, CibChange, StatusChange};
pub use crate::model::control::plan::{Plan, PlannedAction, PlannedKind};

use crate::actors::router::ActorError;
use crate::model::cib::xml::Element;
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

/// The wire envelope: addressing, request/answer pairing, and the body.
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
    /// The addressing part, for answering after the body was consumed (the
    /// body is a placeholder that is never sent).
    pub fn header(&self) -> Envelope {
        Envelope {
            from: self.from.clone(),
            to: self.to.clone(),
            request_id: self.request_id,
            reply_to: self.reply_to,
            body: Message::Tick,
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

/// An envelope's body: a request to one actor, a note, or an answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Message {
    /// A timer fired (each actor's own clock).
    Tick,
    /// Makes the receiving actor panic: chaos testing and `actors kill`.
    InjectCrash,
    /// One of the actor's own spawned tasks panicked: the cell restarts it.
    TaskPanicked(String),
    /// The membership changed (bus to membership actor, on to the DC actor).
    ViewChanged(View),

    Cib(CibRequest),
    CibNote(CibNote),
    Dc(DcRequest),
    DcNote(DcNote),
    Exec(ExecRequest),
    ExecNote(ExecNote),
    Fence(FenceRequest),
    Policy(PolicyRequest),
    Membership(MembershipRequest),
    Bus(BusRequest),

    /// The answer to a request (the envelope's `reply_to` names which).
    Reply(Result<Reply, Failure>),
}

/// Every kind of answer; [`Request::Reply`] says which one each request gets.
// An answer is built once, moved into its envelope and encoded: boxing the
// large variants would add an allocation and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// Done; nothing more to say (a member change was applied).
    Done,
    /// A copy of the CIB.
    Cib(Element),
    /// A client change was committed and applied.
    Stored(Stored),
    /// Status facts were committed at this log index.
    Proposed(u64),
    /// An operation ran.
    Executed(ExecResult),
    /// A node's operation history (its `lrm` section).
    Lrm(Element),
    /// A fencing action ended, well or not.
    Fenced(Fenced),
    /// The scheduler's transition.
    Plan(Plan),
    /// A node's part of `systole report`.
    ReportPart(crate::actors::report::ReportPart),
    /// The bus's counters, as text.
    BusStats(String),
}

/// Why an actor refused or failed a request: each actor's own errors, plus
/// what the shell adds (a crash, a passed-on request that failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Cib(#[from] CibError),
    #[error(transparent)]
    Dc(#[from] DcError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Fence(#[from] FenceError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The actor panicked while it handled the request (it was restarted).
    #[error("actor crashed: {0}")]
    Crashed(String),
    /// The request was passed on to another actor, and failed there.
    #[error(transparent)]
    Relayed(Box<ActorError>),
}

impl From<ActorError> for Failure {
    fn from(error: ActorError) -> Self {
        Failure::Relayed(Box::new(error))
    }
}

/// A request with the one kind of answer it gets.
pub trait Request: Into<Message> {
    /// What a successful answer carries.
    type Reply;
    /// Wraps the answer for the wire.
    fn wrap(reply: Self::Reply) -> Reply;
    /// Takes this request's answer out of a reply (None: another kind).
    fn take(reply: Reply) -> Option<Self::Reply>;
}

/// Declares that `$request` goes to the actor as `Message::$actor($enum::$variant)`
/// and is answered with `Reply::$reply($answer)`.
macro_rules! request {
    ($request:ident: $actor:ident($enum:ident::$variant:ident) -> $reply:ident($answer:ty)) => {
        impl From<$request> for crate::actors::message::Message {
            fn from(request: $request) -> Self {
                crate::actors::message::Message::$actor($enum::$variant(request))
            }
        }
        impl crate::actors::message::Request for $request {
            type Reply = $answer;
            fn wrap(reply: $answer) -> crate::actors::message::Reply {
                crate::actors::message::Reply::$reply(reply)
            }
            fn take(reply: crate::actors::message::Reply) -> Option<$answer> {
                match reply {
                    crate::actors::message::Reply::$reply(answer) => Some(answer),
                    _ => None,
                }
            }
        }
    };
    ($request:ident: $actor:ident($enum:ident::$variant:ident) -> Done) => {
        impl From<$request> for crate::actors::message::Message {
            fn from(request: $request) -> Self {
                crate::actors::message::Message::$actor($enum::$variant(request))
            }
        }
        impl crate::actors::message::Request for $request {
            type Reply = ();
            fn wrap(_: ()) -> crate::actors::message::Reply {
                crate::actors::message::Reply::Done
            }
            fn take(reply: crate::actors::message::Reply) -> Option<()> {
                match reply {
                    crate::actors::message::Reply::Done => Some(()),
                    _ => None,
                }
            }
        }
    };
}
use request;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_its_typed_answer_cross_the_wire() {
        let envelope = Envelope {
            from: ActorRef::new("n1", "test"),
            to: ActorRef::new("n2", "cib"),
            request_id: Some(7),
            reply_to: None,
            body: CibQuery.into(),
        };
        let bytes = rmp_serde::to_vec(&envelope).unwrap();
        let back: Envelope = rmp_serde::from_slice(&bytes).unwrap();
        assert!(matches!(
            back.body,
            Message::Cib(CibRequest::Query(CibQuery))
        ));
        let refused: Result<Reply, Failure> = Err(CibError::NoLeader.into());
        let bytes = rmp_serde::to_vec(&Message::Reply(refused)).unwrap();
        let back: Message = rmp_serde::from_slice(&bytes).unwrap();
        assert!(matches!(
            back,
            Message::Reply(Err(Failure::Cib(CibError::NoLeader)))
        ));
        let stored = Stored {
            version: Default::default(),
            index: 3,
        };
        let reply = CibModify::wrap(stored);
        assert!(matches!(
            CibModify::take(reply.clone()),
            Some(Stored { index: 3, .. })
        ));
        assert!(CibQuery::take(reply).is_none());
    }
}
