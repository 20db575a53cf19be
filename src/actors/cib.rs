//! CibActor: this node's copy of the CIB, kept on disk and in step with the
//! DC's.
//!
//! The DC's copy is authoritative. Client changes sent to any node are
//! forwarded to the DC, applied there, written to its disk and replicated;
//! the client hears "done" only once a majority of members (the DC
//! included) have the change on disk, so the loss of any single node, the DC
//! included, cannot lose it. Status facts from the DC are replicated without
//! waiting. A replica takes a copy only from the DC of the current term, and
//! never goes back to an older version within a term.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{ActorRef, Envelope, Message};
use crate::actors::shared::NodeShared;
use crate::model::cib_store;
use crate::model::xml::Element;
use crate::persist::CibFiles;
use std::sync::Arc;

/// How long the DC waits for replicas to confirm a write.
pub const REPLICATION_TIMEOUT_MS: u64 = 3_000;
/// How long a non-DC node waits for the DC to answer a forwarded change.
pub const FORWARD_TIMEOUT_MS: u64 = 5_000;

pub struct CibActor {
    shared: Arc<NodeShared>,
    files: CibFiles,
    cib: Element,
    /// The term whose DC last wrote our copy.
    written_in_term: u64,
}

impl CibActor {
    /// Loads the CIB from disk (falling back to the last good copy), or
    /// starts empty; `initial` seeds a brand-new node.
    pub fn new(shared: Arc<NodeShared>) -> Self {
        let files = CibFiles::new(&shared.state_dir);
        let (loaded, error) = files.load();
        if let Some(error) = error {
            tracing::error!(%error, "CIB on disk failed its check; using the last good copy and asking peers");
        }
        let cib = loaded.unwrap_or_else(cib_store::empty_cib);
        *shared.cib.write().expect("cib lock") = Arc::new(cib.clone());
        CibActor {
            shared,
            files,
            cib,
            written_in_term: 0,
        }
    }

    fn persist(&self) {
        if let Err(error) = self.files.save(&self.cib) {
            // Without a disk the node cannot promise durability: crash and
            // let supervision decide.
            panic!("cannot persist the CIB: {error}");
        }
        *self.shared.cib.write().expect("cib lock") = Arc::new(self.cib.clone());
    }

    fn members_but_me(&self) -> Vec<String> {
        self.shared
            .view()
            .members
            .into_iter()
            .filter(|m| *m != self.shared.node)
            .collect()
    }

    fn replicate(&self, ctx: &CellCtx<'_>) {
        let term = self.shared.dc_info().term;
        for member in self.members_but_me() {
            ctx.send(
                ActorRef::new(&member, "cib"),
                Message::CibReplicate {
                    term,
                    cib: self.cib.clone(),
                },
            );
        }
    }

    fn changed(&self, ctx: &CellCtx<'_>) {
        ctx.send_local("dc", Message::CibChanged);
    }

    /// Applies a client change on the DC and answers once a majority holds it.
    fn modify_as_dc(
        &mut self,
        envelope: &Envelope,
        change: &crate::actors::message::CibChange,
        ctx: &CellCtx<'_>,
    ) {
        let mut next = self.cib.clone();
        if let Err(error) = cib_store::apply_change(&mut next, change) {
            ctx.reply(envelope, Message::Error(error.to_string()));
            return;
        }
        self.cib = next;
        self.persist();
        self.changed(ctx);
        let members = self.members_but_me();
        // Others needed beyond the DC for a majority of all members.
        let needed = members.len().div_ceil(2);
        let term = self.shared.dc_info().term;
        let version = cib_store::version(&self.cib);
        let cib = self.cib.clone();
        let router = Arc::clone(ctx.router());
        let me = ctx.me().clone();
        ctx.spawn_reply(envelope, async move {
            let requests = members.iter().map(|m| {
                router.request(
                    me.clone(),
                    ActorRef::new(m, "cib"),
                    Message::CibReplicate {
                        term,
                        cib: cib.clone(),
                    },
                    REPLICATION_TIMEOUT_MS,
                )
            });
            let answers = futures::future::join_all(requests).await;
            let stored = answers
                .iter()
                .filter(|r| matches!(r, Ok(Message::CibStored { .. })))
                .count();
            if stored >= needed {
                Message::CibStored { version }
            } else {
                let refusals: Vec<String> = answers
                    .iter()
                    .filter(|r| !matches!(r, Ok(Message::CibStored { .. })))
                    .map(|r| match r {
                        Ok(other) => format!("{other:?}"),
                        Err(error) => error.to_string(),
                    })
                    .collect();
                Message::Error(format!(
                    "change {version} applied on the DC but confirmed by only {stored} of the {needed} other nodes a majority needs ({})",
                    refusals.join("; ")
                ))
            }
        });
    }

    fn accept_replica(&mut self, term: u64, cib: Element, envelope: &Envelope, ctx: &CellCtx<'_>) {
        let info = self.shared.dc_info();
        let from_dc = info.dc.as_deref() == Some(envelope.from.node.as_str());
        if term < info.term_seen || (term == info.term && !from_dc) {
            ctx.reply(
                envelope,
                Message::StaleTerm {
                    term_seen: info.term_seen,
                },
            );
            return;
        }
        if let Err(error) = cib_store::validate_shape(&cib) {
            ctx.reply(envelope, Message::Error(error.to_string()));
            return;
        }
        let incoming = cib_store::version(&cib);
        // Within a term versions only grow; a new term's DC has chosen the
        // newest copy in the cluster, so its word wins.
        if term == self.written_in_term && incoming < cib_store::version(&self.cib) {
            ctx.reply(
                envelope,
                Message::CibStored {
                    version: cib_store::version(&self.cib),
                },
            );
            return;
        }
        self.cib = cib;
        self.written_in_term = term;
        self.persist();
        ctx.reply(envelope, Message::CibStored { version: incoming });
    }
}

impl Behaviour for CibActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        match &envelope.body {
            Message::CibQuery => ctx.reply(
                &envelope,
                Message::CibContent {
                    cib: self.cib.clone(),
                },
            ),
            Message::CibModify { change } => {
                if self.shared.is_dc() {
                    let change = change.clone();
                    self.modify_as_dc(&envelope, &change, ctx);
                } else if let Some(dc) = self.shared.dc_info().dc {
                    ctx.relay(
                        &envelope,
                        ActorRef::new(&dc, "cib"),
                        envelope.body.clone(),
                        FORWARD_TIMEOUT_MS,
                    );
                } else {
                    ctx.reply(
                        &envelope,
                        Message::Error("no DC at the moment; try again shortly".into()),
                    );
                }
            }
            Message::CibStatusUpdate { term, cib_status } => {
                // Only the local DC writes status, and only in its own term.
                if envelope.from.node != self.shared.node || !self.shared.accepts_term(*term) {
                    ctx.reply(
                        &envelope,
                        Message::Error("stale or foreign status update".into()),
                    );
                    return;
                }
                cib_store::apply_status(&mut self.cib, cib_status);
                self.persist();
                self.replicate(ctx);
                ctx.reply(&envelope, Message::Ok);
            }
            Message::CibAdopt { cib } => {
                // The local DC chose this copy (the newest in the cluster) at
                // the start of its term.
                if envelope.from.node != self.shared.node {
                    return;
                }
                self.cib = cib.clone();
                self.written_in_term = self.shared.dc_info().term;
                self.persist();
                self.replicate(ctx);
                ctx.reply(&envelope, Message::Ok);
            }
            Message::CibReplicate { term, cib } => {
                let (term, cib) = (*term, cib.clone());
                self.accept_replica(term, cib, &envelope, ctx);
            }
            other => tracing::debug!(message = ?std::mem::discriminant(other), "cib: ignored"),
        }
    }
}
