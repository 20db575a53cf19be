//! CibActor: this node's share of the replicated CIB.
//!
//! The consensus core ([`Consensus`]) runs on its own thread
//! (`actors::raft_thread`): ticks, peers' Raft messages, the disk writer's
//! reports and what to send never wait on this actor. The actor (re)starts
//! the core from disk, proposes changes to it under a short lock, and
//! answers whoever waits on an entry once the thread reports it applied.
//! The DC is the Raft leader: the thread tells the local DC actor when that
//! role starts or ends.
//!
//! A client's change reaching any node is refused at once without quorum
//! (`no quorum: 1 of 5 voters reachable`), proposed here if this node leads,
//! or passed to the leader; the client hears "done" only once the change is
//! committed on a majority of the configured voters and applied on this
//! node, so what it reads next includes it.
//!
//! When the disk fails, the node drops out of the consensus (no votes, no
//! acknowledgements, no leadership), says so in `status`, and rejoins from
//! what is really on disk once a test write succeeds.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::DcNote;
use crate::actors::message::{
    ActorRef, CibChange, CibError, CibModifyForwarded, CibNote, CibPropose, CibQuery,
    CibReadConsistent, CibRequest, Envelope, Failure, Fenced, MembersChange,
    MembersChangeForwarded, Message, Reply, StatusChange, Stored, TwoNodeFence,
};
use crate::actors::raft_thread::{publish, Committed, RaftThread};
use crate::actors::router::ActorError;
use crate::actors::shared::NodeShared;
use crate::actors::storage::RaftFiles;
use crate::agent::fence::FenceAction;
use crate::model::control::consensus::{founding_log, Consensus, ConsensusConfig, ProposeError};
use crate::model::control::members::MemberChange;
use crate::model::control::replicated::Applied;
use crate::model::control::two_node::{
    force_solo, AfterFencing, Arbiter, ArbiterConfig, Decision, Observation,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The consensus clock.
pub const CIB_TICK_MS: u64 = 50;
/// How long a node waits for the leader to answer a passed-on change.
pub const FORWARD_TIMEOUT_MS: u64 = 10_000;
/// How long a change waits for a leader to be elected.
pub const LEADER_WAIT_MS: u64 = 3_000;
/// How often a node whose disk failed tries it again.
pub const DISK_RETRY_MS: u64 = 1_000;
/// Clients waiting on entries, at most.
pub const WAITERS_MAX: usize = 10_000;
/// The two-node survivor that did not lead last waits this much longer
/// before fencing, so after a broken link the last leader wins the race.
pub const TWO_NODE_RACE_DELAY_MS: u64 = 2_000;
/// How long the fencer gets for a two-node fencing.
pub const TWO_NODE_FENCE_TIMEOUT_MS: u64 = 120_000;

/// Someone waiting for an entry to be applied.
struct Waiter {
    request: Envelope,
    index: u64,
    since_ms: u64,
}

/// A change waiting for a leader to be known.
struct Parked {
    request: Envelope,
    since_ms: u64,
}

pub struct CibActor {
    shared: Arc<NodeShared>,
    /// The consensus thread and its core.
    raft: RaftThread,
    next_seq: u64,
    next_token: u64,
    /// Client changes proposed here, by seq.
    clients: BTreeMap<u64, Waiter>,
    /// Status facts proposed here, by log index.
    statuses: BTreeMap<u64, Waiter>,
    members: Vec<(MemberChange, Envelope)>,
    reads: BTreeMap<u64, Envelope>,
    /// Changes passed to the leader: the answer waits until applied here.
    forwarded: BTreeMap<u64, Waiter>,
    forwarded_answers: BTreeMap<u64, Result<Stored, Failure>>,
    parked: Vec<Parked>,
    last_disk_try_ms: u64,
    arbiter: Arbiter,
}

impl CibActor {
    pub fn new(shared: Arc<NodeShared>, raft: RaftThread) -> Self {
        let settings = &shared.consensus_settings;
        let arbiter = Arbiter::new(ArbiterConfig {
            node: shared.node.clone(),
            two_node: settings.two_node && !settings.witness,
            election_timeout_ms: settings.election_timeout_ms,
            race_delay_ms: TWO_NODE_RACE_DELAY_MS,
        });
        let mut actor = CibActor {
            shared,
            raft,
            next_seq: 1,
            next_token: 1,
            clients: BTreeMap::new(),
            statuses: BTreeMap::new(),
            members: Vec::new(),
            reads: BTreeMap::new(),
            forwarded: BTreeMap::new(),
            forwarded_answers: BTreeMap::new(),
            parked: Vec::new(),
            last_disk_try_ms: 0,
            arbiter,
        };
        actor.start_consensus();
        actor
    }

    fn now_ms(&self) -> u64 {
        self.shared.uptime_ms()
    }

    /// (Re)starts the consensus from what is on disk; a node with no log
    /// founds one when it is a founding member.
    fn start_consensus(&mut self) {
        // The running core retires first: nothing of it is written to
        // disk after the reset below, nor reported to this actor.
        let incarnation = self.shared.next_call_id();
        self.raft.core().install(None, incarnation);
        let Some(disk) = self.shared.disk.get() else {
            self.disk_failed("no disk writer".into());
            return;
        };
        let settings = &self.shared.consensus_settings;
        let files = RaftFiles::new(&self.shared.state_dir);
        let founder = settings.initial_voters.contains(&self.shared.node)
            || settings.initial_witnesses.contains(&self.shared.node);
        let founding = founder && !files.exists();
        if founding {
            let store = founding_log(&settings.initial_voters, &settings.initial_witnesses);
            if let Err(error) = disk.found(store) {
                self.disk_failed(error.to_string());
                return;
            }
            tracing::info!(voters = ?settings.initial_voters, witnesses = ?settings.initial_witnesses, "founded a new cluster log");
        }
        let store = match disk.reset() {
            Ok(store) => store,
            Err(error) => {
                self.disk_failed(error.to_string());
                return;
            }
        };
        let mut config = ConsensusConfig::new(&self.shared.node, incarnation);
        config.election_ticks = (settings.election_timeout_ms / CIB_TICK_MS).max(2) as usize;
        config.heartbeat_ticks = (config.election_ticks / 5).max(1);
        config.witness = settings.witness;
        match Consensus::restore(config, store) {
            Ok(consensus) => {
                if !consensus.is_initialized() {
                    tracing::info!(
                        "no cluster log yet: waiting to be added (systole node add) by a member"
                    );
                }
                let mut core = self.raft.core();
                core.install(Some(consensus), incarnation);
                self.shared
                    .consensus
                    .write()
                    .expect("consensus lock")
                    .disk_error = None;
                publish(&mut core, &self.shared, true);
            }
            Err(error) => self.disk_failed(error.to_string()),
        }
        self.raft.poke();
    }

    fn disk_failed(&mut self, error: String) {
        tracing::error!(%error, "this node leaves the consensus until its disk works");
        let incarnation = self.shared.next_call_id();
        self.raft.core().install(None, incarnation);
        self.last_disk_try_ms = self.now_ms();
        self.shared
            .consensus
            .write()
            .expect("consensus lock")
            .disk_error = Some(error.clone());
        self.fail_all(CibError::DiskFailed(error));
        self.publish(true);
    }

    fn fail_all(&mut self, why: CibError) {
        let router = Arc::clone(&self.shared_router());
        let error = || Err(why.clone().into());
        for (_, w) in std::mem::take(&mut self.clients) {
            router.reply(&w.request, error());
        }
        for (_, w) in std::mem::take(&mut self.statuses) {
            router.reply(&w.request, error());
        }
        for (_, request) in std::mem::take(&mut self.members) {
            router.reply(&request, error());
        }
        for (_, request) in std::mem::take(&mut self.reads) {
            router.reply(&request, error());
        }
        for parked in std::mem::take(&mut self.parked) {
            router.reply(&parked.request, error());
        }
    }

    fn shared_router(&self) -> Arc<crate::actors::router::Router> {
        self.shared
            .router
            .get()
            .cloned()
            .expect("the router is set before actors start")
    }

    /// Shares the role, term and member table (see `raft_thread::publish`).
    fn publish(&self, force: bool) {
        publish(&mut self.raft.core(), &self.shared, force);
    }

    fn applied_index(&self) -> u64 {
        let core = self.raft.core();
        core.consensus.as_ref().map_or(0, |c| c.applied_index())
    }

    fn is_leader(&self) -> Option<bool> {
        let core = self.raft.core();
        core.consensus.as_ref().map(|c| c.is_leader())
    }

    /// What the consensus thread committed: answers its waiters.
    fn on_committed(&mut self, ctx: &mut CellCtx<'_>) {
        let Committed {
            applied,
            reads,
            state_changed,
            applied_index,
            disk_error,
            crashed,
        } = self.raft.core().take_committed();
        if let Some(why) = crashed {
            // The supervisor rebuilds this actor, which restarts the core
            // from what is on disk.
            panic!("the consensus core panicked: {why}");
        }
        let mut client_change = false;
        for applied in &applied {
            client_change |= self.answer_applied(applied, ctx);
        }
        if state_changed {
            self.answer_forwarded(applied_index, ctx);
        }
        if client_change {
            ctx.send_local("dc", Message::DcNote(DcNote::ClientChange));
        }
        for token in reads {
            if let Some(request) = self.reads.remove(&token) {
                let cib = (*self.shared.cib()).clone();
                ctx.answer::<CibReadConsistent>(&request, Ok(cib));
            }
        }
        if let Some(error) = disk_error {
            self.disk_failed(error);
        }
        self.unpark(ctx);
    }

    /// Answers whoever waits on this entry; returns whether it was a
    /// client's change (the DC must think again).
    fn answer_applied(&mut self, applied: &Applied, ctx: &CellCtx<'_>) -> bool {
        let me = self.shared.node.clone();
        let index = applied_index(applied);
        // An entry of someone else at the index we were given: ours was
        // overwritten in a change of leader and will never apply.
        let lost = |w: &Waiter| w.index == index;
        match applied {
            Applied::Client {
                origin,
                seq,
                index,
                result,
            } => {
                if *origin == me {
                    if let Some(waiter) = self.clients.remove(seq) {
                        let answer = match result {
                            Ok(version) => Ok(Reply::Stored(Stored {
                                version: *version,
                                index: *index,
                            })),
                            Err(error) => Err(CibError::Refused(error.clone()).into()),
                        };
                        ctx.reply(&waiter.request, answer);
                    }
                } else {
                    self.drop_lost_clients(lost, ctx);
                }
                self.drop_lost_statuses(*index, ctx);
                result.is_ok()
            }
            Applied::Status { index } => {
                if let Some(waiter) = self.statuses.remove(index) {
                    ctx.answer::<CibPropose>(&waiter.request, Ok(*index));
                }
                self.drop_lost_clients(lost, ctx);
                false
            }
            Applied::Members { change, .. } => {
                self.drop_lost_clients(lost, ctx);
                self.drop_lost_statuses(index, ctx);
                let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.members)
                    .into_iter()
                    .partition(|(c, _)| c == change);
                self.members = waiting;
                for (_, request) in done {
                    ctx.reply(&request, Ok(Reply::Done));
                }
                true
            }
            Applied::Empty { index } => {
                self.drop_lost_clients(lost, ctx);
                self.drop_lost_statuses(*index, ctx);
                false
            }
        }
    }

    fn drop_lost_clients(&mut self, lost: impl Fn(&Waiter) -> bool, ctx: &CellCtx<'_>) {
        let gone: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, w)| lost(w))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in gone {
            if let Some(waiter) = self.clients.remove(&seq) {
                ctx.refuse(&waiter.request, CibError::ChangeLost);
            }
        }
    }

    fn drop_lost_statuses(&mut self, index: u64, ctx: &CellCtx<'_>) {
        if let Some(waiter) = self.statuses.remove(&index) {
            ctx.refuse(&waiter.request, CibError::StatusLost);
        }
    }

    /// Answers changes passed to the leader once they apply here too.
    fn answer_forwarded(&mut self, applied: u64, ctx: &CellCtx<'_>) {
        let ready: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, w)| w.index <= applied)
            .map(|(token, _)| *token)
            .collect();
        for token in ready {
            if let (Some(waiter), Some(answer)) = (
                self.forwarded.remove(&token),
                self.forwarded_answers.remove(&token),
            ) {
                ctx.reply(&waiter.request, answer.map(Reply::Stored));
            }
        }
    }

    fn on_client_change(&mut self, request: Envelope, change: CibChange, ctx: &mut CellCtx<'_>) {
        if let Some(error) = self.refusal() {
            ctx.refuse(&request, error);
            return;
        }
        self.propose_or_pass_on(request, change, ctx);
    }

    /// Why a change cannot be taken here at all, if so.
    fn refusal(&self) -> Option<CibError> {
        if let Some(error) = &self.shared.consensus_info().disk_error {
            return Some(CibError::DiskFailed(error.clone()));
        }
        let joining = {
            let core = self.raft.core();
            core.consensus.as_ref().is_some_and(|c| !c.is_initialized())
        };
        if joining {
            return Some(CibError::NotInCluster);
        }
        let quorum = self.shared.quorum();
        if !quorum.quorate() {
            return Some(CibError::NoQuorum(quorum.to_string()));
        }
        if self.clients.len() + self.forwarded.len() + self.parked.len() >= WAITERS_MAX {
            return Some(CibError::Busy);
        }
        None
    }

    fn propose_or_pass_on(&mut self, request: Envelope, change: CibChange, ctx: &mut CellCtx<'_>) {
        let since_ms = self.now_ms();
        self.propose_or_pass_on_since(request, change, since_ms, ctx)
    }

    fn propose_or_pass_on_since(
        &mut self,
        request: Envelope,
        change: CibChange,
        since_ms: u64,
        ctx: &mut CellCtx<'_>,
    ) {
        let seq = self.next_seq;
        let now_epoch_s = crate::actors::shared::now_epoch_s();
        let proposed = {
            let mut core = self.raft.core();
            let consensus = core.consensus.as_mut();
            consensus.map(|c| c.propose_client(seq, change.clone(), now_epoch_s))
        };
        let Some(proposed) = proposed else {
            ctx.refuse(&request, CibError::NotRunning);
            return;
        };
        match proposed {
            Ok((index, _)) => {
                self.next_seq += 1;
                let since_ms = self.shared.uptime_ms();
                let earlier = self.clients.insert(
                    seq,
                    Waiter {
                        request,
                        index,
                        since_ms,
                    },
                );
                assert!(earlier.is_none(), "client change seqs only grow");
                self.raft.poke();
            }
            Err(ProposeError::NotLeader {
                leader: Some(leader),
            }) if self.reachable(&leader) => self.pass_on(request, leader, change, ctx),
            Err(ProposeError::NotLeader { .. }) => self.parked.push(Parked { request, since_ms }),
            Err(error) => ctx.refuse(&request, CibError::Refused(error.to_string())),
        }
    }

    /// A leader we cannot reach is as good as none: wait for the election.
    fn reachable(&self, node: &str) -> bool {
        self.shared.view().members.iter().any(|m| m == node)
    }

    fn park(&mut self, request: Envelope) {
        let since_ms = self.now_ms();
        self.parked.push(Parked { request, since_ms });
    }

    /// Sends a request to the leader's CIB actor; its answer is given to
    /// the client once this node has applied the entry too.
    fn pass_on(
        &mut self,
        request: Envelope,
        leader: String,
        change: CibChange,
        ctx: &mut CellCtx<'_>,
    ) {
        let token = self.next_token;
        self.next_token += 1;
        let since_ms = self.now_ms();
        let earlier = self.forwarded.insert(
            token,
            Waiter {
                request,
                index: u64::MAX,
                since_ms,
            },
        );
        assert!(earlier.is_none(), "forwarding tokens only grow");
        ctx.ask_then(
            ActorRef::new(&leader, "cib"),
            CibModifyForwarded { change },
            FORWARD_TIMEOUT_MS,
            move |answer| {
                let answer = answer.map_err(Failure::from);
                Some(Message::CibNote(CibNote::Forwarded { token, answer }))
            },
        );
    }

    fn on_forwarded(&mut self, token: u64, answer: Result<Stored, Failure>, ctx: &mut CellCtx<'_>) {
        let index = answer.as_ref().map_or(0, |stored| stored.index);
        let not_leader = matches!(
            &answer,
            Err(Failure::Relayed(error))
                if matches!(**error, ActorError::Failed(_, Failure::Cib(CibError::NotLeader)))
        );
        match self.forwarded.get_mut(&token) {
            Some(_) if not_leader => {
                // Nothing was proposed: try again once a leader is known.
                let waiter = self.forwarded.remove(&token).expect("present");
                self.parked.push(Parked {
                    request: waiter.request,
                    since_ms: waiter.since_ms,
                });
            }
            Some(waiter) if index > 0 => {
                waiter.index = index;
                self.forwarded_answers.insert(token, answer);
                let applied = self.applied_index();
                self.answer_forwarded(applied, ctx);
            }
            Some(_) => {
                let waiter = self.forwarded.remove(&token).expect("present");
                ctx.reply(&waiter.request, answer.map(Reply::Stored));
            }
            // Expired meanwhile (`expire_waiters`): the client's own
            // timeout has answered it.
            None => {}
        }
    }

    /// Changes parked for want of a leader go on once one is known; they
    /// give up after `LEADER_WAIT_MS`.
    fn unpark(&mut self, ctx: &mut CellCtx<'_>) {
        if self.parked.is_empty() {
            return;
        }
        let leader = {
            let core = self.raft.core();
            core.consensus.as_ref().and_then(|c| c.leader())
        };
        let leader_known = leader.is_some_and(|l| l == self.shared.node || self.reachable(&l));
        let now_ms = self.now_ms();
        for parked in std::mem::take(&mut self.parked) {
            let body = parked.request.body.clone();
            if leader_known {
                match body {
                    Message::Cib(CibRequest::Modify(modify)) => self.propose_or_pass_on_since(
                        parked.request,
                        modify.change,
                        parked.since_ms,
                        ctx,
                    ),
                    Message::Cib(CibRequest::Members(members)) => {
                        self.members_or_pass_on(parked.request, members.change, ctx)
                    }
                    // Passed on to us as the leader, and we no longer are:
                    // the node that passed it on asks the new leader.
                    Message::Cib(CibRequest::ModifyForwarded(_)) => {
                        ctx.refuse(&parked.request, CibError::NotLeader)
                    }
                    Message::Cib(CibRequest::MembersForwarded(_)) => {
                        ctx.refuse(&parked.request, CibError::NoLongerDc)
                    }
                    other => unreachable!("only changes are parked, not {other:?}"),
                }
            } else if now_ms.saturating_sub(parked.since_ms) > LEADER_WAIT_MS {
                ctx.refuse(&parked.request, CibError::NoLeader);
            } else {
                self.parked.push(parked);
            }
        }
    }

    fn members_or_pass_on(
        &mut self,
        request: Envelope,
        change: MemberChange,
        ctx: &mut CellCtx<'_>,
    ) {
        // A leader does not remove itself: it hands the leadership over
        // first, and the new leader removes it.
        let removes_me =
            matches!(&change, MemberChange::Remove { name } if *name == self.shared.node);
        let view = self.shared.view();
        let proposed = {
            let mut core = self.raft.core();
            let Some(consensus) = core.consensus.as_mut() else {
                drop(core);
                ctx.refuse(&request, CibError::NotRunning);
                return;
            };
            if removes_me && consensus.is_leader() {
                let successor = consensus
                    .state()
                    .members
                    .node_names()
                    .into_iter()
                    .find(|n| *n != self.shared.node && view.members.contains(n));
                if let Some(successor) = &successor {
                    tracing::info!(%successor, "handing over leadership before leaving the cluster");
                    consensus.transfer_leadership(successor);
                }
                Err(successor)
            } else {
                Ok(consensus.propose_member(change.clone()))
            }
        };
        match proposed {
            Err(Some(_successor)) => {
                self.park(request);
                self.raft.poke();
            }
            Err(None) => ctx.refuse(&request, CibError::NoSuccessor),
            Ok(Ok(())) => {
                self.members.push((change, request));
                self.raft.poke();
            }
            Ok(Err(ProposeError::NotLeader {
                leader: Some(leader),
            })) if self.reachable(&leader) => {
                let body = MembersChangeForwarded { change }.into();
                let leader = ActorRef::new(&leader, "cib");
                ctx.relay(&request, leader, body, FORWARD_TIMEOUT_MS);
            }
            Ok(Err(ProposeError::NotLeader { .. })) => self.park(request),
            Ok(Err(error)) => ctx.refuse(&request, CibError::Refused(error.to_string())),
        }
    }

    fn on_status(
        &mut self,
        request: Envelope,
        term: u64,
        changes: Vec<StatusChange>,
        ctx: &mut CellCtx<'_>,
    ) {
        // Only the local DC records status, in its own term.
        let proposed = {
            let mut core = self.raft.core();
            core.consensus
                .as_mut()
                .filter(|_| request.from.node == self.shared.node)
                .map(|c| c.propose_status(term, changes))
        };
        let Some(proposed) = proposed else {
            ctx.refuse(&request, CibError::StatusNotLocal);
            return;
        };
        match proposed {
            Ok((index, _)) => {
                let since_ms = self.shared.uptime_ms();
                self.statuses.insert(
                    index,
                    Waiter {
                        request,
                        index,
                        since_ms,
                    },
                );
                self.raft.poke();
            }
            Err(error) => ctx.refuse(&request, CibError::Refused(error.to_string())),
        }
    }

    fn on_tick(&mut self, ctx: &mut CellCtx<'_>) {
        // Also here, not only when woken: a wake-up lost on the way (before
        // this actor was registered, a full mailbox) must not leave a
        // client waiting for good.
        self.on_committed(ctx);
        let running = self.raft.core().consensus.is_some();
        if running {
            self.arbitrate(ctx);
        } else {
            let now_ms = self.now_ms();
            if now_ms.saturating_sub(self.last_disk_try_ms) >= DISK_RETRY_MS {
                self.last_disk_try_ms = now_ms;
                if disk_writes(&RaftFiles::new(&self.shared.state_dir)) {
                    tracing::info!("the disk works again; rejoining the consensus");
                    self.start_consensus();
                }
            }
        }
        self.unpark(ctx);
        self.expire_waiters(ctx);
    }

    /// Waiters whose entries will not apply in time are told so; the
    /// request's own timeout answers the client, this bounds our memory.
    fn expire_waiters(&mut self, _ctx: &mut CellCtx<'_>) {
        let now_ms = self.now_ms();
        let horizon_ms = FORWARD_TIMEOUT_MS * 3;
        let old = |w: &Waiter| now_ms.saturating_sub(w.since_ms) > horizon_ms;
        self.clients.retain(|_, w| !old(w));
        self.statuses.retain(|_, w| !old(w));
        self.forwarded.retain(|_, w| !old(w));
        let forwarded = &self.forwarded;
        self.forwarded_answers
            .retain(|token, _| forwarded.contains_key(token));
    }
}

/// Two-node clusters: the survivor fences its lost peer and goes on alone
/// (see `model::control::two_node`).
impl CibActor {
    fn arbitrate(&mut self, ctx: &mut CellCtx<'_>) {
        // Every tick: skip the view's copy where nothing is arbitrated.
        if !self.arbiter.is_two_node() {
            return;
        }
        let Some(core) = self.two_node_facts() else {
            return;
        };
        let view = self.shared.view();
        let members = &core.members;
        let peer = self.arbiter.peer_of(members);
        let peer_in_view = peer.as_ref().is_some_and(|p| view.members.contains(p));
        let leader = core.leader;
        let leader_in_view =
            core.is_leader || leader.as_ref().is_some_and(|l| view.members.contains(l));
        // Read only when it may matter: parsing the CIB is not free.
        let fencing_enabled = peer_in_view
            || leader_in_view
            || crate::model::control::two_node::fencing_enabled(
                &core.cib,
                crate::actors::shared::now_epoch_s(),
            );
        let seen = Observation {
            now_ms: self.shared.uptime_ms(),
            members,
            peer_in_view,
            leader: leader.as_deref(),
            leader_in_view,
            fencing_enabled,
            in_sync: core.in_sync,
            member_change_pending: core.member_change_pending,
        };
        if peer_in_view || leader_in_view {
            self.set_two_node_warning(None);
        }
        match self.arbiter.observe(&seen) {
            Decision::Wait => {}
            Decision::NoFencing { peer } => {
                tracing::warn!(
                    %peer,
                    "two-node cluster: the peer is lost, but fencing is disabled (stonith-enabled=false): \
                     this node stays without quorum, since going on alone without fencing could let \
                     both nodes run the resources (split brain)"
                );
                self.set_two_node_warning(Some(format!(
                    "two-node peer {peer} lost and fencing disabled (stonith-enabled=false): \
                     not going on alone without quorum"
                )));
            }
            Decision::Fence { peer } => self.fence_peer(peer, ctx),
        }
    }

    /// What the arbiter reads of the core, copied out of the lock.
    fn two_node_facts(&self) -> Option<TwoNodeFacts> {
        let core = self.raft.core();
        let consensus = core.consensus.as_ref().filter(|c| c.is_initialized())?;
        Some(TwoNodeFacts {
            members: consensus.state().members.clone(),
            leader: consensus.leader(),
            is_leader: consensus.is_leader(),
            cib: Arc::clone(&consensus.state().cib),
            in_sync: consensus.in_sync(),
            member_change_pending: consensus.member_change_pending(),
        })
    }

    /// Asks this node's own fence actor (there is no DC) to fence `peer`.
    fn fence_peer(&self, peer: String, ctx: &mut CellCtx<'_>) {
        let target = peer.clone();
        ctx.ask_then(
            ActorRef::new(&self.shared.node, "fence"),
            TwoNodeFence {
                target: peer,
                action: FenceAction::Reboot,
            },
            TWO_NODE_FENCE_TIMEOUT_MS,
            move |answer| {
                let fenced = answer.unwrap_or_else(|error| Fenced {
                    target,
                    ok: false,
                    detail: error.to_string(),
                });
                Some(Message::CibNote(CibNote::TwoNodeFenced(fenced)))
            },
        );
    }

    fn on_two_node_fenced(&mut self, peer: &str, ok: bool, detail: String) {
        match self.arbiter.fenced(peer, ok, self.shared.uptime_ms()) {
            AfterFencing::Retry { retry_at_ms } => {
                tracing::error!(
                    %peer,
                    %detail,
                    retry_in_ms = retry_at_ms.saturating_sub(self.shared.uptime_ms()),
                    "two-node cluster: fencing the lost peer failed; this node stays without quorum"
                );
                self.set_two_node_warning(Some(format!(
                    "two-node peer {peer} lost and fencing it failed ({detail}): \
                     without quorum, retrying"
                )));
            }
            AfterFencing::GoSolo { peer } => {
                self.set_two_node_warning(None);
                self.go_solo(&peer, detail);
            }
        }
    }

    /// Shown in `status` while the survivor cannot go on alone.
    fn set_two_node_warning(&self, warning: Option<String>) {
        let consensus = &self.shared.consensus;
        if consensus.read().expect("consensus lock").two_node_warning != warning {
            consensus.write().expect("consensus lock").two_node_warning = warning;
        }
    }

    /// The peer is fenced: rewrite our own log into a one-voter
    /// configuration, durably, then restart the consensus from it.
    fn go_solo(&mut self, peer: &str, detail: String) {
        let Some(disk) = self.shared.disk.get() else {
            return;
        };
        let store = match disk.reset() {
            Ok(store) => store,
            Err(error) => return self.disk_failed(error.to_string()),
        };
        let record = crate::model::cib::store::FenceRecord {
            target: peer.to_string(),
            action: FenceAction::Reboot.to_string(),
            ok: true,
            detail: format!("by two-node survivor {}: {detail}", self.shared.node),
            at_epoch_s: crate::actors::shared::now_epoch_s(),
        };
        let solo = match force_solo(&store, &self.shared.node, peer, record) {
            Ok(solo) => solo,
            Err(error) => {
                tracing::error!(%peer, %error, "two-node cluster: cannot go on alone");
                return;
            }
        };
        if let Err(error) = disk.found(solo) {
            return self.disk_failed(error.to_string());
        }
        tracing::warn!(%peer, "two-node cluster: the peer is fenced; this node goes on alone as the only voter until it returns");
        self.fail_all(CibError::WentSolo);
        self.start_consensus();
        if let Some(consensus) = self.raft.core().consensus.as_mut() {
            consensus.campaign();
        }
        self.raft.poke();
    }
}

/// The core's facts the two-node arbiter reads.
struct TwoNodeFacts {
    members: crate::model::control::members::Members,
    leader: Option<String>,
    is_leader: bool,
    cib: Arc<crate::model::cib::xml::Element>,
    in_sync: bool,
    member_change_pending: bool,
}

fn applied_index(applied: &Applied) -> u64 {
    match applied {
        Applied::Client { index, .. }
        | Applied::Status { index }
        | Applied::Members { index, .. }
        | Applied::Empty { index } => *index,
    }
}

/// Whether a small file can be written and synced in the raft directory.
fn disk_writes(files: &RaftFiles) -> bool {
    let probe = files.dir().join("probe");
    let ok = crate::os::persist::write_atomic(&probe, b"probe").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

impl Behaviour for CibActor {
    fn started(&mut self, ctx: &mut CellCtx<'_>) {
        ctx.run_every(CIB_TICK_MS, Message::Tick);
    }

    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        match envelope.body {
            Message::Tick => self.on_tick(ctx),
            Message::CibNote(ref note) => {
                let (from, note) = (envelope.from.node.clone(), note.clone());
                self.on_note(&from, note, ctx)
            }
            Message::Cib(ref request) => {
                let request = request.clone();
                self.on_request(envelope, request, ctx)
            }
            ref other => tracing::debug!(?other, "cib: ignored"),
        }
    }
}

impl CibActor {
    fn on_note(&mut self, from: &str, note: CibNote, ctx: &mut CellCtx<'_>) {
        match note {
            CibNote::Committed => self.on_committed(ctx),
            // From a node of an older build, which sends to this actor:
            // to the consensus thread, as the `raft` mailbox would.
            CibNote::Raft { bytes } => {
                let _ = self.raft.peer_message(from, bytes);
            }
            CibNote::TwoNodeFenced(Fenced { target, ok, detail }) => {
                self.on_two_node_fenced(&target, ok, detail)
            }
            CibNote::Forwarded { token, answer } => self.on_forwarded(token, answer, ctx),
        }
    }

    fn on_request(&mut self, envelope: Envelope, request: CibRequest, ctx: &mut CellCtx<'_>) {
        match request {
            CibRequest::Query(CibQuery) => {
                let cib = (*self.shared.cib()).clone();
                ctx.answer::<CibQuery>(&envelope, Ok(cib));
            }
            CibRequest::ReadConsistent(CibReadConsistent) => {
                let token = self.next_token;
                let asked = {
                    let mut core = self.raft.core();
                    core.consensus.as_mut().map(|c| c.read_index(token))
                };
                match asked {
                    Some(()) => {
                        self.next_token += 1;
                        self.reads.insert(token, envelope);
                        self.raft.poke();
                    }
                    None => ctx.refuse(&envelope, CibError::NotRunning),
                }
            }
            CibRequest::Modify(modify) => self.on_client_change(envelope, modify.change, ctx),
            CibRequest::ModifyForwarded(forwarded) => {
                // Proposed here or refused: passed on once at most.
                match self.is_leader() {
                    Some(true) => self.propose_or_pass_on(envelope, forwarded.change, ctx),
                    _ => ctx.refuse(&envelope, CibError::NotLeader),
                }
            }
            CibRequest::Members(MembersChange { change }) => match self.refusal() {
                Some(error) => ctx.refuse(&envelope, error),
                None => self.members_or_pass_on(envelope, change, ctx),
            },
            CibRequest::MembersForwarded(MembersChangeForwarded { change }) => {
                match self.is_leader() {
                    Some(true) => self.members_or_pass_on(envelope, change, ctx),
                    _ => ctx.refuse(&envelope, CibError::NoLongerDc),
                }
            }
            CibRequest::Propose(CibPropose { term, changes }) => {
                self.on_status(envelope, term, changes, ctx)
            }
        }
    }
}
