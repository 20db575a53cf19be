//! The consensus thread: Raft is stepped, ticked and sent from a thread of
//! its own (`systole-raft`), never from the actor runtime.
//!
//! Why: the actix runtime also runs transitions, executor results, probes
//! and control-socket work. A Raft message queued behind them waited, and a
//! leader that could not send its heartbeats in time was voted out: at 64
//! voters during start-up, and with thousands of probe results on remote
//! nodes. Here nothing waits on that runtime: peers' Raft messages come
//! straight from the transport's thread (the router's `raft` mailbox), the
//! disk writer reports here, the tick is this thread's own clock, and what
//! it sends goes onto the bus's queue.
//!
//! The CIB actor keeps everything that answers someone (waiters, forwarding,
//! parked changes, two-node arbitration). It touches the core only under a
//! short lock, to propose or read; committed entries and consistent reads
//! come back to it as [`Committed`] (a `CibNote::Committed` wakes it), and
//! role changes are published to `NodeShared` and the DC actor from here.
//!
//! Persistence keeps raft-rs's contract: [`Consensus::poll`] hands out
//! batches to make durable and only the messages that do not wait on them;
//! the batches go to the writer thread while the core is locked (so a
//! retired consensus can never write after its successor reset the log),
//! and messages that wait on a batch are released by
//! [`Consensus::persisted`] when the writer reports it durable.

use crate::actors::cib::CIB_TICK_MS;
use crate::actors::message::{ActorRef, CibNote, DcNote, Envelope, Message};
use crate::actors::router::{ActorError, Mailbox};
use crate::actors::shared::{DcInfo, NodeShared};
use crate::actors::storage::DiskReport;
use crate::model::control::consensus::{decode_message, Consensus, Outgoing, Progress};
use crate::model::control::replicated::Applied;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Peers' Raft messages queued for the thread, at most; beyond it they are
/// dropped (Raft sends again) rather than grow without bound.
pub const RAFT_INBOX_MAX: usize = 100_000;

/// The name of the router's mailbox for peers' Raft messages.
pub const RAFT_MAILBOX: &str = "raft";

/// What was committed since the CIB actor last looked.
#[derive(Debug, Default)]
pub struct Committed {
    /// Entries applied, in log order.
    pub applied: Vec<Applied>,
    /// Consistent reads (their tokens) that may be answered now.
    pub reads: Vec<u64>,
    /// The replicated state changed (entries applied or a snapshot installed).
    pub state_changed: bool,
    /// The index applied when this was taken.
    pub applied_index: u64,
    /// The writer failed: the consensus was dropped at once.
    pub disk_error: Option<String>,
    /// The core panicked: the consensus was dropped; the actor restarts.
    pub crashed: Option<String>,
}

impl Committed {
    fn is_empty(&self) -> bool {
        self.applied.is_empty()
            && self.reads.is_empty()
            && !self.state_changed
            && self.disk_error.is_none()
            && self.crashed.is_none()
    }
}

/// The consensus and what goes with it, shared by the thread and the actor.
pub struct RaftCore {
    pub consensus: Option<Consensus>,
    /// Tells this consensus's disk reports from a retired one's.
    pub incarnation: u64,
    /// (term, leader, acting as DC) as last published.
    published: Option<(u64, Option<String>, bool)>,
    committed: Committed,
    /// A `CibNote::Committed` is on its way to the actor.
    actor_woken: bool,
}

impl RaftCore {
    /// Takes what was committed since the last call.
    pub fn take_committed(&mut self) -> Committed {
        self.actor_woken = false;
        let mut committed = std::mem::take(&mut self.committed);
        committed.applied_index = self.consensus.as_ref().map_or(0, |c| c.applied_index());
        committed
    }

    /// Installs a new consensus (or none), retiring the old one: its
    /// pending disk reports no longer count, nothing it committed is
    /// delivered any more.
    pub fn install(&mut self, consensus: Option<Consensus>, incarnation: u64) {
        self.consensus = consensus;
        self.incarnation = incarnation;
        self.committed = Committed::default();
    }
}

enum Input {
    Peer { from: String, bytes: Vec<u8> },
    Disk(DiskReport),
    Poll,
}

/// The handle to a node's consensus thread.
#[derive(Clone)]
pub struct RaftThread {
    core: Arc<Mutex<RaftCore>>,
    inputs: mpsc::Sender<Input>,
    queued_peer_messages: Arc<AtomicUsize>,
}

impl RaftThread {
    /// Starts the thread. `realtime`: ask for SCHED_RR, below the
    /// transport's priority (best effort, as for the transport).
    pub fn start(shared: Arc<NodeShared>, realtime: bool) -> RaftThread {
        let core = Arc::new(Mutex::new(RaftCore {
            consensus: None,
            incarnation: 0,
            published: None,
            committed: Committed::default(),
            actor_woken: false,
        }));
        let (inputs, receiver) = mpsc::channel();
        let handle = RaftThread {
            core: Arc::clone(&core),
            inputs,
            queued_peer_messages: Arc::new(AtomicUsize::new(0)),
        };
        let queued = Arc::clone(&handle.queued_peer_messages);
        std::thread::Builder::new()
            .name("systole-raft".into())
            .spawn(move || {
                if realtime {
                    crate::transport::realtime::raise_consensus_thread_priority(&shared.node);
                }
                run(&shared, &core, &receiver, &queued)
            })
            .expect("spawn the consensus thread");
        handle
    }

    /// The core, locked. Hold it briefly: the consensus thread waits on it.
    pub fn core(&self) -> MutexGuard<'_, RaftCore> {
        lock(&self.core)
    }

    /// Asks the thread to process what the core has ready (a proposal).
    pub fn poke(&self) {
        let _ = self.inputs.send(Input::Poll);
    }

    /// The disk writer's report.
    pub fn disk_report(&self, report: DiskReport) {
        let _ = self.inputs.send(Input::Disk(report));
    }

    /// Hands a peer's Raft message to the thread.
    pub fn peer_message(&self, from: &str, bytes: Vec<u8>) -> Result<(), ActorError> {
        if self.queued_peer_messages.fetch_add(1, Ordering::Relaxed) >= RAFT_INBOX_MAX {
            self.queued_peer_messages.fetch_sub(1, Ordering::Relaxed);
            return Err(ActorError::MailboxFull(RAFT_MAILBOX.into()));
        }
        let from = from.to_string();
        self.inputs
            .send(Input::Peer { from, bytes })
            .map_err(|_| ActorError::NoSuchActor(RAFT_MAILBOX.into()))
    }
}

/// The router's `raft` mailbox: peers' Raft messages go to the thread
/// without passing through any actor.
impl Mailbox for RaftThread {
    fn deliver(&self, envelope: Envelope) -> Result<(), ActorError> {
        match envelope.body {
            Message::CibNote(CibNote::Raft { bytes }) => {
                self.peer_message(&envelope.from.node, bytes)
            }
            other => {
                tracing::debug!(?other, "raft mailbox: not a Raft message, dropped");
                Ok(())
            }
        }
    }
}

/// The lock, also after a panic on the thread (which retires the
/// consensus: what is left under the lock is consistent).
fn lock(core: &Mutex<RaftCore>) -> MutexGuard<'_, RaftCore> {
    core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run(
    shared: &Arc<NodeShared>,
    core: &Mutex<RaftCore>,
    inputs: &mpsc::Receiver<Input>,
    queued: &AtomicUsize,
) {
    let tick = Duration::from_millis(CIB_TICK_MS);
    let mut next_tick = Instant::now() + tick;
    loop {
        let mut batch = Vec::new();
        match inputs.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(input) => batch.push(input),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        batch.extend(inputs.try_iter());
        let now = Instant::now();
        let tick_due = now >= next_tick;
        if tick_due {
            // A thread held up does not catch up with a burst of ticks:
            // elections only come later, never sooner.
            next_tick = (next_tick + tick).max(now + tick / 2);
        }
        let peers = batch
            .iter()
            .filter(|i| matches!(i, Input::Peer { .. }))
            .count();
        queued.fetch_sub(peers, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut core = lock(core);
            round(shared, &mut core, batch, tick_due)
        }));
        match outcome {
            Ok((send, wake)) => {
                send_all(shared, send);
                if wake && !wake_actor(shared) {
                    // Not delivered (the actor not registered yet, or its
                    // mailbox full): the next round tries again.
                    lock(core).actor_woken = false;
                }
            }
            Err(panic) => {
                let why = crate::actors::tree::panic_text(&*panic);
                tracing::error!(%why, "the consensus core panicked; the CIB actor restarts it from disk");
                let mut core = lock(core);
                core.consensus = None;
                core.committed.crashed = Some(why);
                wake_actor(shared);
            }
        }
    }
}

/// One round: the inputs, a tick if due, and what the core has ready.
/// Returns the messages to send and whether the actor must look.
fn round(
    shared: &NodeShared,
    core: &mut RaftCore,
    batch: Vec<Input>,
    tick_due: bool,
) -> (Vec<Outgoing>, bool) {
    for input in batch {
        take_input(core, input);
    }
    let incarnation = core.incarnation;
    let Some(consensus) = core.consensus.as_mut() else {
        return (Vec::new(), wake_needed(core));
    };
    if tick_due {
        consensus.tick();
    }
    let Progress {
        send,
        persist,
        applied,
        reads,
        snapshot_installed,
    } = consensus.poll();
    if !persist.is_empty() {
        if let Some(disk) = shared.disk.get() {
            disk.write(incarnation, persist);
        }
    }
    let state_changed = !applied.is_empty() || snapshot_installed;
    if state_changed {
        *shared.cib.write().expect("cib lock") = Arc::clone(&consensus.state().cib);
        *shared.transitions.write().expect("transitions lock") =
            Arc::clone(&consensus.state().history);
    }
    core.committed.applied.extend(applied);
    core.committed.reads.extend(reads);
    core.committed.state_changed |= state_changed;
    publish(core, shared, false);
    (send, wake_needed(core))
}

/// Whether the actor has something new to look at and no note on its way.
fn wake_needed(core: &mut RaftCore) -> bool {
    let wake = !core.committed.is_empty() && !core.actor_woken;
    core.actor_woken |= wake;
    wake
}

fn take_input(core: &mut RaftCore, input: Input) {
    let incarnation = core.incarnation;
    let Some(consensus) = core.consensus.as_mut() else {
        return;
    };
    match input {
        Input::Peer { from, bytes } => {
            let stepped = decode_message(&bytes).and_then(|message| consensus.step(&from, message));
            if let Err(error) = stepped {
                tracing::debug!(%from, %error, "raft message refused");
            }
        }
        Input::Disk(DiskReport::Persisted {
            incarnation: of,
            number,
        }) if of == incarnation => consensus.persisted(number),
        Input::Disk(DiskReport::Failed {
            incarnation: of,
            error,
        }) if of == incarnation => {
            // No more votes or acknowledgements from this node at once;
            // the actor answers its waiters and retries the disk.
            core.consensus = None;
            core.committed.disk_error = Some(error);
        }
        Input::Disk(_) | Input::Poll => {}
    }
}

fn send_all(shared: &NodeShared, send: Vec<Outgoing>) {
    if send.is_empty() {
        return;
    }
    let Some(router) = shared.router.get() else {
        return;
    };
    let me = router.local_ref(RAFT_MAILBOX);
    for out in send {
        let note = Message::CibNote(CibNote::Raft {
            bytes: out.encode(),
        });
        if let Err(error) = router.send(me.clone(), ActorRef::new(&out.to, RAFT_MAILBOX), note) {
            tracing::trace!(to = %out.to, %error, "raft message not sent");
        }
    }
}

/// Tells the CIB actor to take what was committed; whether it was handed on.
fn wake_actor(shared: &NodeShared) -> bool {
    let Some(router) = shared.router.get() else {
        return false;
    };
    let cib = router.local_ref("cib");
    let note = Message::CibNote(CibNote::Committed);
    router
        .send(router.local_ref(RAFT_MAILBOX), cib, note)
        .is_ok()
}

/// Shares the role, term and member table; tells the DC actor when this
/// node starts or stops acting as DC.
pub fn publish(core: &mut RaftCore, shared: &NodeShared, force: bool) {
    let (info, status, members) = match &core.consensus {
        Some(c) => (
            DcInfo {
                dc: c.leader(),
                term: c.term(),
                ready: c.leader_ready(),
            },
            Some(c.status()),
            Some(c.state().members.clone()),
        ),
        None => (DcInfo::default(), None, None),
    };
    {
        let mut consensus = shared.consensus.write().expect("consensus lock");
        consensus.status = status;
        if let Some(members) = members {
            if members != consensus.members {
                tell_bus_addresses(shared, &members);
            }
            consensus.members = members;
        }
    }
    let key = (info.term, info.dc.clone(), info.ready);
    if !force && core.published.as_ref() == Some(&key) {
        return;
    }
    if core.published.as_ref().map(|p| (&p.1, p.2)) != Some((&key.1, key.2)) {
        tracing::info!(term = info.term, leader = ?info.dc, dc = info.ready, "consensus role");
    }
    let dc_term = info.ready.then_some(info.term);
    let was_dc = core.published.as_ref().is_some_and(|p| p.2);
    core.published = Some(key);
    shared.set_dc(info);
    if dc_term.is_some() || was_dc || force {
        if let Some(router) = shared.router.get() {
            let note = Message::DcNote(DcNote::Leadership { dc_term });
            let _ = router.send(router.local_ref("cib"), router.local_ref("dc"), note);
        }
    }
}

/// The bus learns members' addresses from the member table, so a node
/// added with `--addr` is reached even where no config lists it.
fn tell_bus_addresses(shared: &NodeShared, members: &crate::model::control::members::Members) {
    let Some(bus) = shared.bus.get() else {
        return;
    };
    for (_, member) in members.iter() {
        let addr = member.addr.as_deref().and_then(|a| a.parse().ok());
        if let (Some(addr), true) = (addr, member.name != shared.node) {
            bus.add_peer(&member.name, addr);
        }
    }
}
