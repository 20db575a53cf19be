//! Location-transparent addressing: an [`ActorRef`] names a node and an
//! actor, and [`Router::send`] / [`Router::request`] work the same whether
//! the actor is local or on another node.
//!
//! Local delivery hands the envelope to the actor's mailbox directly; remote
//! delivery serialises it (rmp-serde) and gives it to a [`Link`] (the cluster
//! bus in the daemon, an in-memory network in tests). Replies come back as
//! envelopes carrying `reply_to`, and complete the waiting request. A request
//! to a node that is not reachable fails back at once; one that gets no answer
//! fails at its timeout; requests pending on a node that leaves fail when the
//! membership says so ([`Router::fail_pending_to`]).

use crate::actors::message::{ActorRef, Envelope, Failure, Message, Reply, Request};
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Largest encoded envelope accepted from the wire; a whole CIB of a large
/// cluster fits with room to spare.
pub const ENVELOPE_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ActorError {
    #[error("no actor {0} on this node")]
    NoSuchActor(String),
    #[error("node {0} is not reachable")]
    Unreachable(String),
    #[error("no reply from {0} within {1} ms")]
    Timeout(String, u64),
    #[error("{0} failed: {1}")]
    Failed(String, Failure),
    /// An answer of another kind than the request gets (a bug, or a peer
    /// that is not the same build).
    #[error("{0} answered with the wrong kind of reply")]
    WrongReply(String),
    #[error("the message to {0} cannot be encoded: {1}")]
    Unencodable(String, String),
    #[error("mailbox of {0} is full")]
    MailboxFull(String),
}

/// Where a remote envelope goes: the cluster bus or a test network.
pub trait Link: Send + Sync + 'static {
    /// Queues `bytes` for reliable, ordered delivery to `node`'s router.
    /// Returns an error string at once if `node` cannot be reached.
    fn send(&self, node: &str, bytes: Vec<u8>) -> Result<(), String>;
}

/// A local mailbox: how the router hands an envelope to an actor.
pub trait Mailbox: Send + Sync + 'static {
    fn deliver(&self, envelope: Envelope) -> Result<(), ActorError>;
}

struct Pending {
    node: String,
    reply: oneshot::Sender<Result<Reply, ActorError>>,
}

pub struct Router {
    node: String,
    local: DashMap<String, Arc<dyn Mailbox>>,
    pending: DashMap<u64, Pending>,
    next_request_id: AtomicU64,
    link: std::sync::RwLock<Option<Arc<dyn Link>>>,
    pub dropped_undecodable: AtomicU64,
}

impl Router {
    pub fn new(node: &str) -> Arc<Router> {
        Arc::new(Router {
            node: node.to_string(),
            local: DashMap::new(),
            pending: DashMap::new(),
            next_request_id: AtomicU64::new(1),
            link: std::sync::RwLock::new(None),
            dropped_undecodable: AtomicU64::new(0),
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn local_ref(&self, name: &str) -> ActorRef {
        ActorRef::new(&self.node, name)
    }

    pub fn set_link(&self, link: Arc<dyn Link>) {
        *self.link.write().expect("link lock poisoned") = Some(link);
    }

    pub fn register(&self, name: &str, mailbox: Arc<dyn Mailbox>) {
        self.local.insert(name.to_string(), mailbox);
    }

    /// Sends without waiting for an answer. Errors mean it surely did not
    /// arrive; `Ok` means it was handed on.
    pub fn send(&self, from: ActorRef, to: ActorRef, body: Message) -> Result<(), ActorError> {
        self.route(Envelope {
            from,
            to,
            request_id: None,
            reply_to: None,
            body,
        })
    }

    /// Sends a typed request and waits for its answer, at most `timeout_ms`.
    pub async fn ask<R: Request>(
        &self,
        from: ActorRef,
        to: ActorRef,
        request: R,
        timeout_ms: u64,
    ) -> Result<R::Reply, ActorError> {
        let target = to.to_string();
        let reply = self.request(from, to, request.into(), timeout_ms).await?;
        R::take(reply).ok_or(ActorError::WrongReply(target))
    }

    /// Sends a request and waits for the reply, at most `timeout_ms`. The
    /// reply's kind is not checked: for relaying; callers use [`Router::ask`].
    pub async fn request(
        &self,
        from: ActorRef,
        to: ActorRef,
        body: Message,
        timeout_ms: u64,
    ) -> Result<Reply, ActorError> {
        let id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let earlier = self.pending.insert(
            id,
            Pending {
                node: to.node.clone(),
                reply,
            },
        );
        assert!(earlier.is_none(), "request ids are never reused");
        let target = to.to_string();
        if let Err(error) = self.route(Envelope {
            from,
            to,
            request_id: Some(id),
            reply_to: None,
            body,
        }) {
            self.pending.remove(&id);
            return Err(error);
        }
        match tokio::time::timeout(Duration::from_millis(timeout_ms), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ActorError::Failed(
                target,
                Failure::Crashed("reply dropped".into()),
            )),
            Err(_) => {
                self.pending.remove(&id);
                Err(ActorError::Timeout(target, timeout_ms))
            }
        }
    }

    /// Answers `request` (if it was one) with `answer`.
    pub fn reply(&self, request: &Envelope, answer: Result<Reply, Failure>) {
        // Answers are completed by `deliver_local`, never handed to an
        // actor, so an actor only ever answers a request.
        assert!(request.reply_to.is_none(), "an answer is never answered");
        let Some(id) = request.request_id else {
            return;
        };
        let body = Message::Reply(answer);
        let envelope = Envelope {
            from: request.to.clone(),
            to: request.from.clone(),
            request_id: None,
            reply_to: Some(id),
            body,
        };
        if let Err(error) = self.route(envelope) {
            tracing::debug!(%error, "reply could not be delivered");
        }
    }

    /// Fails every request waiting on `node` (it left the membership).
    pub fn fail_pending_to(&self, node: &str) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| p.node == node)
            .map(|p| *p.key())
            .collect();
        for id in ids {
            if let Some((_, pending)) = self.pending.remove(&id) {
                let _ = pending
                    .reply
                    .send(Err(ActorError::Unreachable(node.to_string())));
            }
        }
    }

    fn route(&self, envelope: Envelope) -> Result<(), ActorError> {
        if envelope.to.node == self.node {
            return self.deliver_local(envelope);
        }
        let link = self.link.read().expect("link lock poisoned").clone();
        let Some(link) = link else {
            return Err(ActorError::Unreachable(envelope.to.node.clone()));
        };
        tracing::trace!(from = %envelope.from, to = %envelope.to, request = ?envelope.request_id, reply = ?envelope.reply_to, body = ?std::mem::discriminant(&envelope.body), "remote send");
        let bytes = rmp_serde::to_vec(&envelope)
            .map_err(|e| ActorError::Unencodable(envelope.to.to_string(), e.to_string()))?;
        link.send(&envelope.to.node, bytes)
            .map_err(|_| ActorError::Unreachable(envelope.to.node.clone()))
    }

    fn deliver_local(&self, envelope: Envelope) -> Result<(), ActorError> {
        if let Some(id) = envelope.reply_to {
            if let Some((_, pending)) = self.pending.remove(&id) {
                let result = match envelope.body {
                    Message::Reply(Ok(reply)) => Ok(reply),
                    Message::Reply(Err(failure)) => {
                        Err(ActorError::Failed(envelope.from.to_string(), failure))
                    }
                    // A request or note sent as an answer: refused like a
                    // reply of the wrong kind.
                    _ => Err(ActorError::WrongReply(envelope.from.to_string())),
                };
                let _ = pending.reply.send(result);
            }
            return Ok(());
        }
        let mailbox = self
            .local
            .get(&envelope.to.name)
            .map(|m| Arc::clone(m.value()))
            .ok_or_else(|| ActorError::NoSuchActor(envelope.to.name.clone()))?;
        mailbox.deliver(envelope)
    }

    /// An envelope arrived from the wire. Undecodable bytes are counted and
    /// dropped: the bus authenticated them, so this is a version skew or bug.
    pub fn receive_remote(&self, from_node: &str, bytes: &[u8]) {
        if bytes.len() > ENVELOPE_BYTES_MAX {
            self.dropped_undecodable.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let envelope: Envelope = match rmp_serde::from_slice(bytes) {
            Ok(envelope) => envelope,
            Err(error) => {
                self.dropped_undecodable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(from_node, %error, "undecodable envelope dropped");
                return;
            }
        };
        tracing::trace!(from = %envelope.from, to = %envelope.to, request = ?envelope.request_id, reply = ?envelope.reply_to, "remote receive");
        // The bus tells us who really sent it; an envelope claiming another
        // origin is refused, so replies cannot be steered elsewhere.
        if envelope.from.node != from_node || envelope.to.node != self.node {
            self.dropped_undecodable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(from_node, claimed = %envelope.from, "misaddressed envelope dropped");
            return;
        }
        if let Err(error) = self.deliver_local(envelope) {
            tracing::debug!(%error, "remote envelope not delivered");
        }
    }
}
