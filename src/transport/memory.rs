//! The simulated network: many nodes in one process, faults from a seed.
//!
//! Why: the properties that matter (exactly-once in-order delivery, views
//! that converge, no replay) break under rare interleavings of loss, delay
//! and partition. A simulated network makes those interleavings cheap to
//! produce and, because every random choice comes from one seeded generator
//! and time is tokio's (paused in tests, so it advances only when every task
//! waits), a failing seed replays the same run.
//!
//! Each node runs the very same task and [`Node`] state machine as over UDP,
//! datagrams included (sealed, authenticated, replay-checked); only the
//! `Io` differs. A datagram in flight is held by its receiver in a queue
//! ordered by (delivery time, send order), so equal delays keep their order
//! and differing delays reorder.
//!
//! ```
//! use systole::transport::{AuthKey, Faults, MemoryNetwork, TransportConfig};
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let net = MemoryNetwork::new(42);
//! net.set_faults(Faults { drop_per_mille: 100, duplicate_per_mille: 50, delay_ms_min: 1, delay_ms_max: 20 });
//! let key = AuthKey::from_bytes([3; 32]);
//! let (n1, _) = net.join(TransportConfig::new("sim", "n1", key.clone()));
//! let (_n2, _) = net.join(TransportConfig::new("sim", "n2", key));
//! tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//! assert_eq!(n1.view().members.len(), 2);
//! net.partition(&[&["n1"], &["n2"]]);
//! tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//! assert_eq!(n1.view().members.len(), 1);
//! # });
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::bus::{self, Clock, Inbound, Io};
use super::node::{Node, Output};
use super::stats::Counters;
use super::{Bus, BusEvent, TransportConfig};

/// Wall clock of the simulation at its start: 2026-01-01T00:00:00Z.
const WALL_START_MS: u64 = 1_767_225_600_000;
/// Datagrams waiting at one node before more are dropped (its "socket buffer").
const PENDING_MAX: usize = 65_536;

/// Faults applied to every datagram on every link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Chance in 1000 that a datagram is lost.
    pub drop_per_mille: u32,
    /// Chance in 1000 that a datagram arrives twice.
    pub duplicate_per_mille: u32,
    /// Each copy is delayed uniformly within `delay_ms_min..=delay_ms_max`;
    /// a wider range reorders more.
    pub delay_ms_min: u64,
    pub delay_ms_max: u64,
}

/// A small, fast, seeded generator (SplitMix64): enough for fault injection.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0; the tiny bias does not matter here).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

struct Delivery {
    at: Instant,
    order: u64,
    datagram: Vec<u8>,
}

struct Slot {
    tx: mpsc::UnboundedSender<Delivery>,
    killed: Arc<AtomicBool>,
}

struct State {
    rng: SplitMix64,
    faults: Faults,
    nodes: BTreeMap<String, Slot>,
    /// Directed links that carry nothing: (from, to).
    blocked: BTreeSet<(String, String)>,
    last_incarnation: BTreeMap<String, u64>,
    order: u64,
}

/// A simulated network; cheap to clone.
#[derive(Clone)]
pub struct MemoryNetwork {
    state: Arc<Mutex<State>>,
    seed: u64,
    start: Instant,
}

impl MemoryNetwork {
    /// A network without faults; every random choice derives from `seed`.
    pub fn new(seed: u64) -> Self {
        MemoryNetwork {
            state: Arc::new(Mutex::new(State {
                rng: SplitMix64(seed),
                faults: Faults::default(),
                nodes: BTreeMap::new(),
                blocked: BTreeSet::new(),
                last_incarnation: BTreeMap::new(),
                order: 0,
            })),
            seed,
            start: Instant::now(),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_faults(&self, faults: Faults) {
        assert!(faults.delay_ms_min <= faults.delay_ms_max);
        self.state().faults = faults;
    }

    /// Starts a node on this network (`bind`, `peers` and `multicast` are
    /// ignored). A node of the same name still running is killed first: the
    /// new one is its restart, with a new incarnation. Must run inside a
    /// tokio runtime. Panics on an invalid configuration.
    pub fn join(&self, cfg: TransportConfig) -> (Bus, mpsc::Receiver<BusEvent>) {
        self.kill(&cfg.node_name);
        let clock = Clock::simulated(WALL_START_MS, self.start);
        let now = clock.now();
        let (tx, rx) = mpsc::unbounded_channel();
        let killed = Arc::new(AtomicBool::new(false));
        let incarnation = {
            let mut state = self.state();
            let fresh = (now.wall_ms << 22) | (state.rng.next() & 0x3f_ffff);
            let last = state.last_incarnation.get(&cfg.node_name).copied();
            let incarnation = last.map_or(fresh, |last| fresh.max(last + 1));
            state
                .last_incarnation
                .insert(cfg.node_name.clone(), incarnation);
            state.nodes.insert(
                cfg.node_name.clone(),
                Slot {
                    tx,
                    killed: killed.clone(),
                },
            );
            incarnation
        };
        let stats = Arc::new(Counters::default());
        let node = Node::new(&cfg, incarnation, now, stats.clone())
            .unwrap_or_else(|error| panic!("MemoryNetwork::join({}): {error}", cfg.node_name));
        let io = MemoryIo {
            name: cfg.node_name.clone(),
            net: self.clone(),
            rx,
            pending: BinaryHeap::new(),
            killed,
            stats: stats.clone(),
        };
        bus::spawn(node, io, clock, cfg.limits.tick_interval_ms, stats, None)
    }

    /// Stops `node` abruptly: no goodbye, datagrams to it are lost, its
    /// `Bus` answers `Shutdown`.
    pub fn kill(&self, node: &str) {
        if let Some(slot) = self.state().nodes.remove(node) {
            slot.killed.store(true, Ordering::SeqCst);
        }
    }

    /// Cuts every link between nodes of different groups, both ways.
    /// Nodes not named keep their links.
    pub fn partition(&self, groups: &[&[&str]]) {
        let mut state = self.state();
        for (i, group) in groups.iter().enumerate() {
            for other in &groups[i + 1..] {
                for a in group.iter() {
                    for b in other.iter() {
                        state.blocked.insert((a.to_string(), b.to_string()));
                        state.blocked.insert((b.to_string(), a.to_string()));
                    }
                }
            }
        }
    }

    /// Cuts the link from `from` to `to` only (asymmetric failure).
    pub fn block(&self, from: &str, to: &str) {
        self.state()
            .blocked
            .insert((from.to_owned(), to.to_owned()));
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.state().blocked.clear();
    }

    /// Puts a datagram on the wire; returns how many copies left.
    fn transmit(&self, from: &str, output: Output) -> u64 {
        let mut state = self.state();
        let State {
            rng,
            faults,
            nodes,
            blocked,
            order,
            ..
        } = &mut *state;
        let (destinations, datagram): (Vec<&String>, Vec<u8>) = match output {
            Output::ToNode { node, datagram } => match nodes.get_key_value(&node) {
                Some((name, _)) => (vec![name], datagram),
                None => return 0,
            },
            Output::ToAll { datagram } => (nodes.keys().filter(|n| *n != from).collect(), datagram),
        };
        let now = Instant::now();
        let mut sent = 0;
        for to in destinations {
            sent += 1;
            if blocked.contains(&(from.to_owned(), to.clone())) {
                continue;
            }
            if rng.below(1000) < u64::from(faults.drop_per_mille) {
                continue;
            }
            let copies = if rng.below(1000) < u64::from(faults.duplicate_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let spread = faults.delay_ms_max - faults.delay_ms_min + 1;
                let delay_ms = faults.delay_ms_min + rng.below(spread);
                *order += 1;
                let _ = nodes[to].tx.send(Delivery {
                    at: now + Duration::from_millis(delay_ms),
                    order: *order,
                    datagram: datagram.clone(),
                });
            }
        }
        sent
    }
}

struct MemoryIo {
    name: String,
    net: MemoryNetwork,
    rx: mpsc::UnboundedReceiver<Delivery>,
    pending: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    killed: Arc<AtomicBool>,
    stats: Arc<Counters>,
}

impl MemoryIo {
    fn take_arrivals(&mut self) {
        while let Ok(delivery) = self.rx.try_recv() {
            self.hold(delivery);
        }
    }

    fn hold(&mut self, delivery: Delivery) {
        if self.pending.len() < PENDING_MAX {
            self.pending
                .push(Reverse((delivery.at, delivery.order, delivery.datagram)));
        }
    }

    fn pop_due(&mut self) -> Option<Inbound> {
        let Reverse((at, _, _)) = self.pending.peek()?;
        if *at > Instant::now() {
            return None;
        }
        let Reverse((_, _, datagram)) = self.pending.pop()?;
        Some(Inbound {
            datagram,
            from: None,
        })
    }
}

impl Io for MemoryIo {
    async fn recv(&mut self) -> Option<Inbound> {
        loop {
            if self.killed.load(Ordering::SeqCst) {
                return None;
            }
            self.take_arrivals();
            if let Some(inbound) = self.pop_due() {
                return Some(inbound);
            }
            let next_at = self.pending.peek().map(|Reverse((at, _, _))| *at);
            tokio::select! {
                biased;
                delivery = self.rx.recv() => match delivery {
                    Some(delivery) => self.hold(delivery),
                    None => return None,
                },
                _ = tokio::time::sleep_until(next_at.unwrap_or_else(Instant::now)), if next_at.is_some() => {}
            }
        }
    }

    fn try_recv(&mut self) -> Option<Inbound> {
        if self.killed.load(Ordering::SeqCst) {
            return None;
        }
        self.take_arrivals();
        self.pop_due()
    }

    fn send(&mut self, output: Output) {
        if !self.is_killed() {
            let sent = self.net.transmit(&self.name, output);
            Counters::add(&self.stats.datagrams_sent, sent);
        }
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}
