//! The transport's task and the [`Bus`] handle that talks to it.
//!
//! Why one task per node: heartbeats must go out and come in on time however
//! busy the actors are, so the socket, the timers and the whole [`Node`]
//! state live on a task of their own that never awaits anything but its
//! inputs. Actors talk to it through a bounded command channel (a `send`
//! returns once the message is queued, or with the limit it hit) and read
//! its events from a bounded channel; events the layer above has not yet
//! taken wait inside the node, within `event_backlog_max`.
//!
//! Over UDP the task runs on a dedicated OS thread with a runtime of its own
//! ([`spawn_thread`], SCHED_RR where permitted): a saturated actor runtime,
//! a slow disk or a thousand agents starting cannot delay a heartbeat or its
//! judgement. Each tick reads what waits in the socket before judging
//! timeouts, so after the thread itself was held up, peers whose heartbeats
//! arrived meanwhile are not taken for dead.
//!
//! Messages take a short way through (a node of a large cluster handles
//! hundreds a second, and each extra thread hop is a wait in the run queue
//! of a busy machine): [`Bus::send_now`] queues without waiting for an
//! answer, and the task takes everything queued and sends it in one flush;
//! with a [`MessageSink`] set, messages are handed to it on the transport's
//! thread instead of through the event channel. The timer wakes the task
//! only when something is due (a heartbeat, a peer's timeout, a
//! retransmission), not on a fixed period.
//!
//! The task is generic over [`Io`], the datagram layer: UDP sockets or the
//! simulated network. It uses `biased` selects and no randomness of its own,
//! so over the simulated network (spawned on the test's runtime, [`spawn`])
//! a run depends only on the seed.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::membership::MembershipView;
use super::node::{Node, Now, Output};
use super::stats::Counters;
use super::{BusEvent, TransportError, TransportStats};

/// Commands queued to the task before `send` waits.
const COMMANDS_MAX: usize = 1024;
/// Events queued in the channel to the layer above (more wait in the node).
const EVENTS_MAX: usize = 1024;
/// Messages queued by [`Bus::send_now`] before it refuses more.
pub const OUTBOX_MESSAGES_MAX: usize = 65_536;
/// Messages taken from the outbox before one flush sends them.
const OUTBOX_BATCH_MAX: usize = 256;
/// Datagrams taken from the socket before acks and data are flushed.
const RECV_BATCH_MAX: usize = 64;
/// Datagrams read at most before a tick judges timeouts (bounds the work a
/// flood can add to one tick).
const DRAIN_BEFORE_JUDGE_MAX: usize = 1024;
/// Shortest interval between two warnings about refused datagrams.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// A datagram as received.
pub(crate) struct Inbound {
    pub datagram: Vec<u8>,
    pub from: Option<SocketAddr>,
}

/// The datagram layer under a node.
pub(crate) trait Io: Send + 'static {
    /// The next datagram; `None` once the layer is gone (the node was killed).
    fn recv(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
    /// A datagram already waiting, if any.
    fn try_recv(&mut self) -> Option<Inbound>;
    /// Sends without waiting; a datagram that cannot go now is dropped.
    fn send(&mut self, output: Output);
    /// `node` authenticated a datagram from `from`.
    fn learn(&mut self, _node: &str, _from: Option<SocketAddr>) {}
    /// A peer's address, from the cluster's member table.
    fn add_peer(&mut self, _node: &str, _addr: SocketAddr) {}
    /// Chaos testing: send nothing to these nodes.
    fn block(&mut self, _nodes: &BTreeSet<String>) {}
    /// The node was killed (simulations): stop at once, say nothing.
    fn is_killed(&self) -> bool {
        false
    }
}

/// Time for the node: monotonic from tokio (virtual when paused), wall clock
/// real or derived from the monotonic one in simulations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    virtual_wall_start_ms: Option<u64>,
}

impl Clock {
    pub(crate) fn real() -> Self {
        Clock {
            start: Instant::now(),
            virtual_wall_start_ms: None,
        }
    }

    pub(crate) fn simulated(wall_start_ms: u64, start: Instant) -> Self {
        Clock {
            start,
            virtual_wall_start_ms: Some(wall_start_ms),
        }
    }

    pub(crate) fn now(&self) -> Now {
        let mono_ms = self.start.elapsed().as_millis() as u64;
        let wall_ms = match self.virtual_wall_start_ms {
            Some(start_ms) => start_ms + mono_ms,
            None => wall_clock_ms(),
        };
        Now { mono_ms, wall_ms }
    }
}

pub(crate) fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

enum Command {
    Send {
        to: String,
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<(), TransportError>>,
    },
    Broadcast {
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<(), TransportError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    AddPeer {
        node: String,
        addr: SocketAddr,
    },
    Block {
        nodes: BTreeSet<String>,
    },
}

/// Takes the messages the bus delivers, on the transport's own thread: it
/// must not block (hand them on to a queue or a mailbox).
pub type MessageSink = Arc<dyn Fn(&str, Vec<u8>) + Send + Sync>;

struct Shared {
    local_node: String,
    incarnation: u64,
    local_addr: Option<SocketAddr>,
    commands: mpsc::Sender<Command>,
    /// Messages from `send_now`, and how many wait.
    outbox: mpsc::UnboundedSender<(String, Vec<u8>)>,
    outbox_len: Arc<AtomicUsize>,
    sink: Arc<OnceLock<MessageSink>>,
    stats: Arc<Counters>,
    view: watch::Receiver<MembershipView>,
}

/// A handle on one node's transport; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("local_node", &self.shared.local_node)
            .field("incarnation", &self.shared.incarnation)
            .finish()
    }
}

impl Bus {
    pub fn local_node(&self) -> &str {
        &self.shared.local_node
    }

    /// This start's incarnation (changes at every start).
    pub fn incarnation(&self) -> u64 {
        self.shared.incarnation
    }

    /// The UDP address this node receives unicast on (`None` in simulations).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.local_addr
    }

    /// The latest view (the same views also arrive as events).
    pub fn view(&self) -> MembershipView {
        self.shared.view.borrow().clone()
    }

    pub fn stats(&self) -> TransportStats {
        self.shared.stats.snapshot()
    }

    /// Reliable, ordered per sender. `Err(NotMember)` if `to` is not in the
    /// current view; `to == local_node()` delivers locally.
    pub async fn send(&self, to: &str, payload: Vec<u8>) -> Result<(), TransportError> {
        self.request(|reply| Command::Send {
            to: to.to_owned(),
            payload,
            reply,
        })
        .await
    }

    /// Queues a reliable, ordered message to `to` without waiting: the
    /// transport's task sends it with whatever else was queued meanwhile.
    /// Messages queued here keep their order; a message that turns out not
    /// to fit (not a member, its peer's queue full) is dropped and logged.
    /// `Err` only when [`OUTBOX_MESSAGES_MAX`] wait or the task is gone.
    pub fn send_now(&self, to: &str, payload: Vec<u8>) -> Result<(), TransportError> {
        let shared = &self.shared;
        if shared.outbox_len.load(Ordering::Relaxed) >= OUTBOX_MESSAGES_MAX {
            return Err(TransportError::QueueFull {
                node: to.to_owned(),
                limit: "OUTBOX_MESSAGES_MAX",
            });
        }
        shared.outbox_len.fetch_add(1, Ordering::Relaxed);
        shared
            .outbox
            .send((to.to_owned(), payload))
            .map_err(|_| TransportError::Shutdown)
    }

    /// From now on, delivered messages go to `sink` (called on the
    /// transport's thread) rather than to the event channel; views still
    /// come as events. Set once; later calls are ignored.
    pub fn set_message_sink(&self, sink: MessageSink) {
        let _ = self.shared.sink.set(sink);
    }

    /// Reliable to every member of the current view, this node included.
    pub async fn broadcast(&self, payload: Vec<u8>) -> Result<(), TransportError> {
        self.request(|reply| Command::Broadcast { payload, reply })
            .await
    }

    async fn request(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), TransportError>>) -> Command,
    ) -> Result<(), TransportError> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .commands
            .send(command(reply))
            .await
            .map_err(|_| TransportError::Shutdown)?;
        answer.await.map_err(|_| TransportError::Shutdown)?
    }

    /// Tells the transport where `node` listens (from the member table).
    pub fn add_peer(&self, node: &str, addr: SocketAddr) {
        let _ = self.shared.commands.try_send(Command::AddPeer {
            node: node.to_owned(),
            addr,
        });
    }

    /// Chaos testing: drops every datagram to and from `nodes` (empty heals).
    pub fn block(&self, nodes: BTreeSet<String>) {
        let _ = self.shared.commands.try_send(Command::Block { nodes });
    }

    /// Says goodbye to the peers and stops the task; idempotent.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .shared
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }
}

/// The channels between a [`Bus`] handle and its task.
struct Wiring {
    bus: Bus,
    commands: mpsc::Receiver<Command>,
    outbox: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    events: mpsc::Sender<BusEvent>,
    event_rx: mpsc::Receiver<BusEvent>,
    view_tx: watch::Sender<MembershipView>,
}

fn wire(node: &Node, stats: Arc<Counters>, local_addr: Option<SocketAddr>) -> Wiring {
    let (commands, command_rx) = mpsc::channel(COMMANDS_MAX);
    let (outbox, outbox_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::channel(EVENTS_MAX);
    let (view_tx, view) = watch::channel(node.view().clone());
    let bus = Bus {
        shared: Arc::new(Shared {
            local_node: node.local_node().to_owned(),
            incarnation: node.incarnation(),
            local_addr,
            commands,
            outbox,
            outbox_len: Arc::default(),
            sink: Arc::default(),
            stats,
            view,
        }),
    };
    Wiring {
        bus,
        commands: command_rx,
        outbox: outbox_rx,
        events,
        event_rx,
        view_tx,
    }
}

/// Starts the task of `node` over `io` on the current runtime (the
/// simulated network: one runtime, paused time, a run decided by its seed).
pub(crate) fn spawn<I: Io>(
    node: Node,
    io: I,
    clock: Clock,
    tick_interval_ms: u64,
    stats: Arc<Counters>,
    local_addr: Option<SocketAddr>,
) -> (Bus, mpsc::Receiver<BusEvent>) {
    let wiring = wire(&node, stats, local_addr);
    let task = Task {
        node,
        io,
        clock,
        view_tx: wiring.view_tx,
        stats: wiring.bus.shared.stats.clone(),
        outbox_len: wiring.bus.shared.outbox_len.clone(),
        sink: wiring.bus.shared.sink.clone(),
        last_tick_ms: 0,
    };
    let inputs = Inputs {
        commands: wiring.commands,
        outbox: wiring.outbox,
        events: wiring.events,
    };
    tokio::spawn(task.run(inputs, tick_interval_ms));
    (wiring.bus, wiring.event_rx)
}

/// How the transport's own thread runs.
pub(crate) struct ThreadSettings {
    /// The clock `node` was made with.
    pub clock: Clock,
    pub tick_interval_ms: u64,
    pub local_addr: Option<SocketAddr>,
    /// Ask for SCHED_RR (best effort).
    pub realtime_priority: bool,
}

/// Starts the task of `node` on a dedicated OS thread with a runtime of its
/// own, so no actor, disk write or agent on the daemon's runtime can delay
/// a heartbeat or its judgement. `make_io` runs on that thread (sockets
/// register with its reactor); its error is returned here.
pub(crate) fn spawn_thread<I, F>(
    node: Node,
    make_io: F,
    stats: Arc<Counters>,
    settings: ThreadSettings,
) -> Result<(Bus, mpsc::Receiver<BusEvent>), TransportError>
where
    I: Io,
    F: FnOnce() -> Result<I, TransportError> + Send + 'static,
{
    let wiring = wire(&node, stats.clone(), settings.local_addr);
    let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
    let inputs = Inputs {
        commands: wiring.commands,
        outbox: wiring.outbox,
        events: wiring.events,
    };
    let view_tx = wiring.view_tx;
    let outbox_len = wiring.bus.shared.outbox_len.clone();
    let sink = wiring.bus.shared.sink.clone();
    let name = node.local_node().to_owned();
    let thread = move || {
        if settings.realtime_priority {
            super::realtime::raise_thread_priority(&name);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(source) => {
                let context = "transport runtime".to_owned();
                let _ = ready_tx.send(Err(TransportError::Io { context, source }));
                return;
            }
        };
        runtime.block_on(async move {
            let io = match make_io() {
                Ok(io) => io,
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let task = Task {
                node,
                io,
                clock: settings.clock,
                view_tx,
                stats,
                outbox_len,
                sink,
                last_tick_ms: 0,
            };
            task.run(inputs, settings.tick_interval_ms).await;
        });
    };
    std::thread::Builder::new()
        .name("systole-bus".into())
        .spawn(thread)
        .map_err(|source| TransportError::Io {
            context: "starting the transport thread".into(),
            source,
        })?;
    ready.recv().map_err(|_| TransportError::Shutdown)??;
    Ok((wiring.bus, wiring.event_rx))
}

/// What the task takes in from its `Bus` handles, and hands up.
struct Inputs {
    commands: mpsc::Receiver<Command>,
    outbox: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    events: mpsc::Sender<BusEvent>,
}

struct Task<I> {
    node: Node,
    io: I,
    clock: Clock,
    view_tx: watch::Sender<MembershipView>,
    stats: Arc<Counters>,
    outbox_len: Arc<AtomicUsize>,
    sink: Arc<OnceLock<MessageSink>>,
    /// When `judge` last let time pass (the clock's ms).
    last_tick_ms: u64,
}

impl<I: Io> Task<I> {
    async fn run(mut self, inputs: Inputs, tick_interval_ms: u64) {
        let Inputs {
            mut commands,
            mut outbox,
            events,
        } = inputs;
        let timer = tokio::time::sleep(Duration::from_millis(tick_interval_ms));
        tokio::pin!(timer);
        let mut events_open = true;
        let mut outbox_open = true;
        let mut last_report = (Instant::now(), self.stats.snapshot());
        loop {
            if self.io.is_killed() {
                return;
            }
            self.emit();
            self.deliver_to_sink();
            if !events_open {
                while self.node.pop_event().is_some() {}
            }
            let deadline = self.next_deadline(tick_interval_ms);
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                biased;
                _ = &mut timer => {
                    self.judge();
                    self.report_drops(&mut last_report);
                }
                command = commands.recv() => match command {
                    // Killed while the timer slept: answer nothing more.
                    _ if self.io.is_killed() => return,
                    Some(Command::Shutdown { reply }) => {
                        // What was queued before goes out before the goodbye.
                        while let Ok(first) = outbox.try_recv() {
                            self.send_queued(first, &mut outbox);
                        }
                        self.shutdown();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.command(command),
                    None => {
                        self.shutdown();
                        return;
                    }
                },
                outgoing = outbox.recv(), if outbox_open => match outgoing {
                    Some(first) => self.send_queued(first, &mut outbox),
                    None => outbox_open = false,
                },
                permit = events.reserve(), if events_open && self.node.has_events() => match permit {
                    Ok(permit) => permit.send(self.node.pop_event().expect("has events")),
                    Err(_) => events_open = false,
                },
                inbound = self.io.recv() => match inbound {
                    Some(inbound) => self.receive(inbound),
                    None => return,
                },
            }
        }
    }

    /// When the timer must fire next: when the node has something due (a
    /// heartbeat, a peer's timeout, a retransmission), but at least
    /// `tick_interval_ms` after the last tick (work due meanwhile shares a
    /// wakeup) and at most a second after it. Fixed points in time, so
    /// traffic arriving meanwhile never postpones what is due.
    fn next_deadline(&self, tick_interval_ms: u64) -> Instant {
        let earliest_ms = self.last_tick_ms + tick_interval_ms;
        let latest_ms = self.last_tick_ms + tick_interval_ms.max(1000);
        let due_ms = self.node.next_due_ms().clamp(earliest_ms, latest_ms);
        self.clock.start + Duration::from_millis(due_ms)
    }

    /// Sends `first` and whatever else waits in the outbox, in one flush.
    fn send_queued(
        &mut self,
        first: (String, Vec<u8>),
        outbox: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    ) {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some((to, payload)) = next {
            self.outbox_len.fetch_sub(1, Ordering::Relaxed);
            if let Err(error) = self.node.send(&to, payload) {
                tracing::debug!(%to, %error, "bus send failed");
            }
            taken += 1;
            next = if taken < OUTBOX_BATCH_MAX {
                outbox.try_recv().ok()
            } else {
                None
            };
        }
        self.node.flush(self.clock.now());
    }

    /// Hands delivered messages to the sink, if one is set, in order; a
    /// view waiting in front of them goes through the channel first. A
    /// panicking sink loses that message, never the transport's thread.
    fn deliver_to_sink(&mut self) {
        let Some(sink) = self.sink.get().cloned() else {
            return;
        };
        while let Some((from, payload)) = self.node.pop_message() {
            let call = std::panic::AssertUnwindSafe(|| sink(&from, payload));
            if std::panic::catch_unwind(call).is_err() {
                tracing::error!(%from, "the message sink panicked; message dropped");
            }
        }
    }

    /// Reads what waits in the socket, then lets time pass: after this
    /// thread was held up, peers' heartbeats queued meanwhile count before
    /// anyone is judged silent (a busy node is not a dead node).
    fn judge(&mut self) {
        let mut drained = 0;
        while drained < DRAIN_BEFORE_JUDGE_MAX {
            let Some(inbound) = self.io.try_recv() else {
                break;
            };
            self.receive(inbound);
            drained += RECV_BATCH_MAX;
        }
        let now = self.clock.now();
        self.last_tick_ms = now.mono_ms;
        self.node.tick(now);
    }

    /// Sends the node's datagrams and publishes a new view.
    fn emit(&mut self) {
        for output in self.node.take_outputs() {
            self.io.send(output);
        }
        if self.node.view().id != self.view_tx.borrow().id {
            let view = self.node.view().clone();
            tracing::info!(
                node = self.node.local_node(),
                view_id = view.id,
                members = ?view.members,
                quorate = view.quorate,
                "membership view"
            );
            self.view_tx.send_replace(view);
        }
    }

    /// Warns, at most once per [`DROP_REPORT_INTERVAL`], when datagrams were
    /// refused for security reasons since the last report.
    fn report_drops(&mut self, last: &mut (Instant, TransportStats)) {
        if last.0.elapsed() < DROP_REPORT_INTERVAL {
            return;
        }
        let now = self.stats.snapshot();
        let suspicious = |s: &TransportStats| {
            s.dropped_forged
                + s.dropped_wrong_key
                + s.dropped_replayed
                + s.dropped_stale
                + s.dropped_malformed
        };
        if suspicious(&now) > suspicious(&last.1) {
            tracing::warn!(
                node = self.node.local_node(),
                forged = now.dropped_forged - last.1.dropped_forged,
                wrong_key = now.dropped_wrong_key - last.1.dropped_wrong_key,
                replayed = now.dropped_replayed - last.1.dropped_replayed,
                stale = now.dropped_stale - last.1.dropped_stale,
                malformed = now.dropped_malformed - last.1.dropped_malformed,
                "datagrams refused since the last report"
            );
        }
        *last = (Instant::now(), now);
    }

    fn command(&mut self, command: Command) {
        let (result, reply) = match command {
            Command::Send { to, payload, reply } => (self.node.send(&to, payload), reply),
            Command::Broadcast { payload, reply } => (self.node.broadcast(payload), reply),
            Command::Shutdown { .. } => unreachable!("handled by the loop"),
            Command::AddPeer { node, addr } => {
                self.io.add_peer(&node, addr);
                return;
            }
            Command::Block { nodes } => {
                tracing::warn!(node = self.node.local_node(), blocked = ?nodes, "chaos: blocking peers");
                self.io.block(&nodes);
                self.node.set_blocked(nodes);
                return;
            }
        };
        let _ = reply.send(result);
        self.node.flush(self.clock.now());
    }

    fn receive(&mut self, first: Inbound) {
        let now = self.clock.now();
        let mut next = Some(first);
        let mut batch = 0;
        while let Some(mut inbound) = next {
            if let Some(sender) = self.node.on_datagram(&mut inbound.datagram, now) {
                self.io.learn(&sender, inbound.from);
            }
            batch += 1;
            next = if batch < RECV_BATCH_MAX {
                self.io.try_recv()
            } else {
                None
            };
        }
        self.node.flush(now);
    }

    fn shutdown(&mut self) {
        self.node.goodbye(self.clock.now());
        self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{AuthKey, TransportConfig};
    use std::collections::VecDeque;

    /// Datagrams that waited in the socket while the thread was held up.
    #[derive(Default)]
    struct Queued {
        inbound: VecDeque<Inbound>,
    }

    impl Io for Queued {
        async fn recv(&mut self) -> Option<Inbound> {
            std::future::pending().await
        }
        fn try_recv(&mut self) -> Option<Inbound> {
            self.inbound.pop_front()
        }
        fn send(&mut self, _output: Output) {}
    }

    fn node(name: &str, incarnation: u64, clock: &Clock, stats: &Arc<Counters>) -> Node {
        let mut cfg = TransportConfig::new("c", name, AuthKey::from_bytes([3; 32]));
        cfg.expected_votes = 2;
        Node::new(&cfg, incarnation, clock.now(), stats.clone()).unwrap()
    }

    fn datagrams(node: &mut Node) -> Vec<Vec<u8>> {
        let outputs = node.take_outputs().into_iter();
        outputs
            .map(|(Output::ToNode { datagram, .. } | Output::ToAll { datagram })| datagram)
            .collect()
    }

    fn carry(from: &mut Node, to: &mut Node, now: Now) {
        for mut datagram in datagrams(from) {
            to.on_datagram(&mut datagram, now);
        }
        to.flush(now);
    }

    /// `a` and `b` joined; then `a`'s thread is held up for 1 s (past the
    /// 600 ms timeout) while `b` heartbeats every 100 ms into `a`'s socket.
    async fn held_up() -> (Node, Queued, Clock, Arc<Counters>) {
        let clock = Clock::simulated(1_800_000_000_000, Instant::now());
        let stats = Arc::new(Counters::default());
        let mut a = node("a", 10, &clock, &stats);
        let mut b = node("b", 20, &clock, &Arc::default());
        a.tick(clock.now());
        carry(&mut a, &mut b, clock.now());
        carry(&mut b, &mut a, clock.now());
        carry(&mut a, &mut b, clock.now());
        assert_eq!(a.view().members.len(), 2, "joined");
        let mut socket = Queued::default();
        for _ in 0..10 {
            tokio::time::advance(Duration::from_millis(100)).await;
            b.tick(clock.now());
            for datagram in datagrams(&mut b) {
                let from = None;
                socket.inbound.push_back(Inbound { datagram, from });
            }
        }
        (a, socket, clock, stats)
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_that_waited_in_the_socket_count_before_judging() {
        let (a, socket, clock, stats) = held_up().await;
        let views_before = stats.snapshot().view_changes;
        let (view_tx, _view) = watch::channel(a.view().clone());
        let mut task = Task {
            node: a,
            io: socket,
            clock,
            view_tx,
            stats: stats.clone(),
            outbox_len: Arc::default(),
            sink: Arc::default(),
            last_tick_ms: 0,
        };
        task.judge();
        assert!(task.io.inbound.is_empty(), "the socket was read first");
        assert_eq!(task.node.view().members.len(), 2, "b stays");
        assert_eq!(stats.snapshot().view_changes, views_before);

        // Judged before reading (as the task did): b would have been dropped.
        let (mut a, _unread, clock, stats) = held_up().await;
        let views_before = stats.snapshot().view_changes;
        a.tick(clock.now());
        assert_eq!(a.view().members.len(), 1);
        assert_eq!(stats.snapshot().view_changes, views_before + 1);
    }
}
