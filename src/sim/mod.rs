//! Deterministic simulation of a whole cluster's control plane.
//!
//! Every node runs the real pure core: the Raft consensus with the
//! replicated CIB ([`Consensus`]) and the DC's control loop
//! ([`Controller`]), with the real scheduler computing transitions. What is
//! simulated is everything around them: the network (delays, drops,
//! duplicates, partitions), the disks (write latency, failures, what
//! survives a crash), time, heartbeats, executors whose resources are a set
//! of names (the ground truth of what runs where), fencing that reboots its
//! target, and clients writing to the CIB. One seed decides every choice, so
//! a failing seed replays exactly: `cargo run --release --bin sim_seeds --
//! --seed N`.
//!
//! After every event the invariants are checked ([`check`]); at the end,
//! after a calm period with every fault healed, the final state is checked
//! too. A run returns its [`SimReport`] with the violations found.

pub mod check;
mod node;
mod rng;

use crate::model::cib::change::CibChange;
use crate::model::cib::store;
use crate::model::cib::xml::Element;
use check::{Checker, Violation};
use node::{Payload, SimNode};
pub use rng::Rng;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// The simulated cluster's resources: a fence device and Dummies.
pub const RESOURCES: [&str; 4] = ["r1", "r2", "r3", "r4"];
/// Period of each node's clock.
pub const TICK_MS: u64 = 10;
pub const RAFT_TICK_MS: u64 = 50;
pub const HEARTBEAT_INTERVAL_MS: u64 = 100;
pub const HEARTBEAT_TIMEOUT_MS: u64 = 600;
pub const CONTROLLER_TICK_MS: u64 = 100;
/// How long a fenced node stays down before it boots again.
pub const REBOOT_MS: u64 = 3_000;
/// Simulated wall clock at the start (seconds since the epoch).
pub const EPOCH_S: i64 = 1_800_000_000;

/// What a run does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// Faults happen in `[0, duration_ms - calm_ms)`.
    pub duration_ms: u64,
    pub calm_ms: u64,
    pub drop_percent: u64,
    pub duplicate_percent: u64,
    pub delay_ms_max: u64,
    pub partitions: bool,
    pub crashes: bool,
    pub disk_faults: bool,
    /// Mean time between client writes.
    pub client_interval_ms: u64,
    /// Pacemaker's `two_node`: the survivor fences its peer and goes on.
    pub two_node: bool,
}

impl SimConfig {
    /// A run with every kind of fault, its shape drawn from the seed.
    pub fn chaos(seed: u64) -> SimConfig {
        let mut rng = Rng::new(seed ^ 0x5eed);
        SimConfig {
            seed,
            nodes: 3 + 2 * rng.below(2) as usize,
            duration_ms: 16_000,
            calm_ms: 8_000,
            drop_percent: rng.below(6),
            duplicate_percent: rng.below(4),
            delay_ms_max: 1 + rng.below(25),
            partitions: true,
            crashes: true,
            disk_faults: true,
            client_interval_ms: 150,
            two_node: false,
        }
    }

    /// [`Self::chaos`] on a cluster of `nodes` voters (64 for the large
    /// cluster runs): elections among many, quorum of 33, the same faults.
    pub fn many_voters(seed: u64, nodes: usize) -> SimConfig {
        SimConfig {
            nodes,
            ..SimConfig::chaos(seed)
        }
    }

    /// [`Self::chaos`] on a two-node cluster with `two_node` on.
    pub fn two_node(seed: u64) -> SimConfig {
        SimConfig {
            nodes: 2,
            two_node: true,
            ..SimConfig::chaos(seed)
        }
    }
}

/// What a run saw.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    pub seed: u64,
    pub nodes: usize,
    pub acknowledged: usize,
    pub refused: usize,
    pub terms: usize,
    pub fenced: usize,
    /// Times a node dropped out of the consensus on a failed write.
    pub disk_failures: usize,
    pub transitions: usize,
    /// Two-node survivors that went on alone.
    pub solos: usize,
    pub events: u64,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // built and consumed at once; boxing buys nothing
enum EventKind {
    Tick(usize),
    Deliver {
        from: usize,
        to: usize,
        payload: Payload,
        /// For reliable messages: the receiver's boot it was sent to.
        reliable: Option<u64>,
    },
    DiskDone {
        node: usize,
        incarnation: u64,
    },
    Fault(Fault),
    Client,
    Boot(usize),
    FenceDone {
        dc: usize,
        term: u64,
        transition: u64,
        action: u32,
        target: String,
        fence_action: String,
    },
    /// A two-node fencing by `node` in its boot `boot` ended.
    TwoNodeFenced {
        node: usize,
        boot: u64,
        target: String,
    },
    ExecTimeout {
        dc: usize,
        transition: u64,
        action: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    Partition(Vec<usize>),
    Heal,
    Crash(usize),
    DiskFail(usize),
    DiskHeal(usize),
}

/// A scheduled event: ordered by time, then by insertion.
#[derive(Debug, PartialEq, Eq)]
struct Scheduled {
    at_ms: u64,
    seq: u64,
    kind: EventKind,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at_ms, other.seq).cmp(&(self.at_ms, self.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The simulated world.
pub struct Sim {
    config: SimConfig,
    now_ms: u64,
    rng: Rng,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    nodes: Vec<SimNode>,
    /// The side of the partition each node is on (all 0: no partition).
    side: Vec<usize>,
    /// When the link between two nodes was last cut (for the checker).
    link_cut_ms: BTreeMap<(usize, usize), u64>,
    checker: Checker,
    /// When the last ordered message on a link arrives.
    link_busy_until: BTreeMap<(usize, usize), u64>,
    next_key: u64,
    events: u64,
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let names: Vec<String> = (1..=config.nodes).map(|i| format!("n{i}")).collect();
        let cib = initial_cib(&names);
        let founding = crate::model::control::consensus::founding_log_with(cib, &names, &[]);
        let nodes = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut node = SimNode::new(i, name, founding.clone(), config.seed);
                node.two_node = config.two_node;
                node
            })
            .collect();
        let mut sim = Sim {
            rng: Rng::new(config.seed),
            now_ms: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            side: vec![0; config.nodes],
            link_cut_ms: BTreeMap::new(),
            checker: Checker::new(names.len()),
            link_busy_until: BTreeMap::new(),
            next_key: 0,
            events: 0,
            nodes,
            config,
        };
        for i in 0..sim.nodes.len() {
            sim.boot(i);
        }
        sim.plan_faults();
        sim.at(100, EventKind::Client);
        sim
    }

    fn at(&mut self, delay_ms: u64, kind: EventKind) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at_ms: self.now_ms + delay_ms,
            seq: self.seq,
            kind,
        });
    }

    /// Draws the run's faults up front.
    fn plan_faults(&mut self) {
        let faulty_ms = self.config.duration_ms - self.config.calm_ms;
        let n = self.nodes.len();
        let mut t = 1_500;
        while t < faulty_ms {
            let kind = self.rng.below(4);
            let fault = match kind {
                0 if self.config.partitions => {
                    Fault::Partition((0..n).map(|_| self.rng.below(2) as usize).collect())
                }
                1 if self.config.crashes => Fault::Crash(self.rng.below(n as u64) as usize),
                2 if self.config.disk_faults => Fault::DiskFail(self.rng.below(n as u64) as usize),
                _ => Fault::Heal,
            };
            let repair_ms = 300 + self.rng.below(2_500);
            let repair = match &fault {
                Fault::Partition(_) => Some(Fault::Heal),
                Fault::DiskFail(node) => Some(Fault::DiskHeal(*node)),
                _ => None,
            };
            self.seq += 1;
            self.queue.push(Scheduled {
                at_ms: t,
                seq: self.seq,
                kind: EventKind::Fault(fault),
            });
            if let Some(repair) = repair {
                self.seq += 1;
                self.queue.push(Scheduled {
                    at_ms: (t + repair_ms).min(faulty_ms),
                    seq: self.seq,
                    kind: EventKind::Fault(repair),
                });
            }
            t += 800 + self.rng.below(2_500);
        }
        // The calm: everything healed.
        self.seq += 1;
        self.queue.push(Scheduled {
            at_ms: faulty_ms,
            seq: self.seq,
            kind: EventKind::Fault(Fault::Heal),
        });
        for node in 0..n {
            self.seq += 1;
            self.queue.push(Scheduled {
                at_ms: faulty_ms,
                seq: self.seq,
                kind: EventKind::Fault(Fault::DiskHeal(node)),
            });
        }
    }

    /// Runs to the end and checks the final state.
    pub fn run(mut self) -> SimReport {
        while let Some(event) = self.queue.pop() {
            if event.at_ms > self.config.duration_ms {
                break;
            }
            self.now_ms = event.at_ms;
            self.events += 1;
            self.handle(event.kind);
            let observed = self
                .nodes
                .iter_mut()
                .flat_map(|n| std::mem::take(&mut n.observed))
                .collect();
            self.checker.check_step(observed, &self.nodes, self.now_ms);
        }
        self.checker.check_end(&self.nodes, self.now_ms);
        SimReport {
            seed: self.config.seed,
            nodes: self.nodes.len(),
            acknowledged: self.checker.acknowledged(),
            refused: self.checker.refused,
            terms: self.checker.terms(),
            fenced: self.checker.fenced,
            disk_failures: self.checker.disk_failures,
            transitions: self.nodes.iter().map(|n| n.transitions).sum(),
            solos: self.nodes.iter().map(|n| n.solos).sum(),
            events: self.events,
            violations: self.checker.violations.clone(),
        }
    }

    fn faulty(&self) -> bool {
        self.now_ms < self.config.duration_ms - self.config.calm_ms
    }

    fn handle(&mut self, kind: EventKind) {
        match kind {
            EventKind::Tick(i) => self.tick(i),
            EventKind::Deliver {
                from,
                to,
                payload,
                reliable,
            } => self.arrive(from, to, payload, reliable),
            EventKind::DiskDone { node, incarnation } => {
                let now_ms = self.now_ms;
                let effects = self.nodes[node].disk_done(incarnation, now_ms, &mut self.checker);
                self.carry_out(node, effects);
            }
            EventKind::Fault(fault) => self.fault(fault),
            EventKind::Client => self.client(),
            EventKind::Boot(i) => self.boot(i),
            EventKind::FenceDone {
                dc,
                term,
                transition,
                action,
                target,
                fence_action,
            } => {
                let effects = self.nodes[dc].fence_done(
                    term,
                    transition,
                    action,
                    &target,
                    &fence_action,
                    self.now_ms,
                );
                self.carry_out(dc, effects);
            }
            EventKind::TwoNodeFenced { node, boot, target } => {
                if self.nodes[node].boot == boot {
                    let effects = self.nodes[node].two_node_fenced(&target, self.now_ms);
                    self.carry_out(node, effects);
                }
            }
            EventKind::ExecTimeout {
                dc,
                transition,
                action,
            } => {
                let effects = self.nodes[dc].exec_timeout(transition, action, self.now_ms);
                self.carry_out(dc, effects);
            }
        }
    }

    /// A message arrives, or not. The real bus retransmits reliable ones
    /// until the link works again, unless the receiver restarted or the
    /// sender gave up on it (it left the sender's view).
    fn arrive(&mut self, from: usize, to: usize, payload: Payload, reliable: Option<u64>) {
        if !self.nodes[to].up {
            return;
        }
        if self.connected(from, to) {
            if reliable.is_none_or(|boot| boot == self.nodes[to].boot) {
                self.deliver(from, to, payload);
            }
            return;
        }
        let to_name = self.nodes[to].name.clone();
        let still_wanted = reliable.is_some_and(|boot| boot == self.nodes[to].boot)
            && self.nodes[from].up
            && self.nodes[from].sees(&to_name);
        if still_wanted {
            self.at(
                50,
                EventKind::Deliver {
                    from,
                    to,
                    payload,
                    reliable,
                },
            );
        }
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.side[a] == self.side[b]
    }

    fn tick(&mut self, i: usize) {
        if !self.nodes[i].up {
            return;
        }
        let now_ms = self.now_ms;
        if now_ms >= self.nodes[i].next_heartbeat_ms {
            self.nodes[i].next_heartbeat_ms = now_ms + HEARTBEAT_INTERVAL_MS;
            for j in 0..self.nodes.len() {
                if j != i {
                    let boot = self.nodes[i].boot;
                    self.send(i, j, Payload::Heartbeat { boot });
                }
            }
        }
        let effects = self.nodes[i].tick(now_ms, &mut self.checker);
        self.carry_out(i, effects);
        self.at(TICK_MS, EventKind::Tick(i));
    }

    fn deliver(&mut self, from: usize, to: usize, payload: Payload) {
        let from_name = self.nodes[from].name.clone();
        let effects = self.nodes[to].receive(&from_name, payload, self.now_ms, &mut self.checker);
        self.carry_out(to, effects);
    }

    /// Sends over the simulated network: dropped, duplicated and delayed by
    /// the seed; lost when the link is cut at delivery time.
    ///
    /// Raft messages and heartbeats take the full treatment; the rest
    /// travels as on the real bus, reliable and in order per link while the
    /// link holds (what was in flight is lost when it is cut).
    fn send(&mut self, from: usize, to: usize, payload: Payload) {
        let lossy = matches!(payload, Payload::Raft(_) | Payload::Heartbeat { .. });
        let faulty = self.faulty() && lossy;
        if faulty && self.rng.chance(self.config.drop_percent) {
            return;
        }
        let copies = if faulty && self.rng.chance(self.config.duplicate_percent) {
            2
        } else {
            1
        };
        let reliable = (!lossy).then_some(self.nodes[to].boot);
        for _ in 0..copies {
            let mut delay = 1 + self.rng.below(self.config.delay_ms_max.max(1));
            if !lossy {
                let last = self.link_busy_until.entry((from, to)).or_default();
                let at = (self.now_ms + delay).max(*last);
                *last = at;
                delay = at - self.now_ms;
            }
            self.at(
                delay,
                EventKind::Deliver {
                    from,
                    to,
                    payload: payload.clone(),
                    reliable,
                },
            );
        }
    }

    /// Carries out what a node's shell asked for: messages, disk writes,
    /// fencing, timers.
    fn carry_out(&mut self, i: usize, effects: Vec<node::Outbound>) {
        for effect in effects {
            match effect {
                node::Outbound::Send { to, payload } => {
                    if let Some(j) = self.index_of(&to) {
                        if j == i {
                            self.deliver(i, i, payload);
                        } else {
                            self.send(i, j, payload);
                        }
                    }
                }
                node::Outbound::DiskWrite { incarnation } => {
                    let delay = self.nodes[i].next_disk_delay(self.now_ms, 1 + self.rng.below(4));
                    self.at(
                        delay,
                        EventKind::DiskDone {
                            node: i,
                            incarnation,
                        },
                    );
                }
                node::Outbound::Fence {
                    term,
                    transition,
                    action,
                    target,
                    fence_action,
                } => self.fence(i, term, transition, action, target, fence_action),
                node::Outbound::TwoNodeFence { target } => self.two_node_fence(i, target),
                node::Outbound::Timeout {
                    transition,
                    action,
                    after_ms,
                } => self.at(
                    after_ms,
                    EventKind::ExecTimeout {
                        dc: i,
                        transition,
                        action,
                    },
                ),
            }
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The fence device: powers the target off at once (so nothing of it
    /// runs any more) and boots it again later; reports after a moment.
    fn fence(
        &mut self,
        dc: usize,
        term: u64,
        transition: u64,
        action: u32,
        target: String,
        fence_action: String,
    ) {
        if let Some(t) = self.index_of(&target) {
            let answering = self.answering_ms(dc, t);
            self.checker
                .fenced(&self.nodes[dc].name, &target, answering, self.now_ms);
            if fence_action != "on" {
                self.crash(t);
                self.at(REBOOT_MS, EventKind::Boot(t));
            }
        }
        self.at(
            20,
            EventKind::FenceDone {
                dc,
                term,
                transition,
                action,
                target,
                fence_action,
            },
        );
    }

    /// A two-node survivor's fencing: the same device, no DC.
    fn two_node_fence(&mut self, by: usize, target: String) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!(
                "{:>6} TWO-NODE FENCE {} -> {target}",
                self.now_ms, self.nodes[by].name
            );
        }
        if let Some(t) = self.index_of(&target) {
            let answering = self.answering_ms(by, t);
            self.checker
                .fenced(&self.nodes[by].name, &target, answering, self.now_ms);
            self.crash(t);
            self.at(REBOOT_MS, EventKind::Boot(t));
        }
        let boot = self.nodes[by].boot;
        self.at(
            20,
            EventKind::TwoNodeFenced {
                node: by,
                boot,
                target,
            },
        );
    }

    /// How long `target` has been up and linked with `dc`.
    fn answering_ms(&self, dc: usize, target: usize) -> u64 {
        if !self.nodes[target].up || !self.connected(dc, target) {
            return 0;
        }
        let key = (dc.min(target), dc.max(target));
        let linked_since = self.link_cut_ms.get(&key).copied().unwrap_or(0);
        let since = linked_since
            .max(self.nodes[target].up_since_ms)
            .max(self.nodes[dc].up_since_ms);
        self.now_ms - since
    }

    fn fault(&mut self, fault: Fault) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("{:>6} FAULT {fault:?}", self.now_ms);
        }
        match fault {
            Fault::Partition(side) => {
                for a in 0..side.len() {
                    for b in a + 1..side.len() {
                        if side[a] != side[b] {
                            self.link_cut_ms.insert((a, b), self.now_ms);
                        }
                    }
                }
                self.side = side;
            }
            Fault::Heal => {
                for a in 0..self.side.len() {
                    for b in a + 1..self.side.len() {
                        if self.side[a] != self.side[b] {
                            self.link_cut_ms.insert((a, b), self.now_ms);
                        }
                    }
                }
                self.side = vec![0; self.nodes.len()];
                // Nodes down (crashed) come back in the calm.
                if !self.faulty() {
                    for i in 0..self.nodes.len() {
                        if !self.nodes[i].up && !self.nodes[i].booting {
                            self.boot(i);
                        }
                    }
                }
            }
            Fault::Crash(i) => {
                if self.nodes[i].up {
                    self.crash(i);
                    let down_ms = 500 + self.rng.below(3_000);
                    self.at(down_ms, EventKind::Boot(i));
                }
            }
            Fault::DiskFail(i) => self.nodes[i].disk_ok = false,
            Fault::DiskHeal(i) => self.nodes[i].disk_ok = true,
        }
    }

    fn crash(&mut self, i: usize) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("{:>6} CRASH {}", self.now_ms, self.nodes[i].name);
        }
        self.nodes[i].crash(self.now_ms);
        for j in 0..self.nodes.len() {
            let key = (i.min(j), i.max(j));
            self.link_cut_ms.insert(key, self.now_ms);
        }
    }

    fn boot(&mut self, i: usize) {
        if self.nodes[i].up {
            return;
        }
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("{:>6} BOOT {}", self.now_ms, self.nodes[i].name);
        }
        self.nodes[i].boot(self.now_ms);
        let first_tick_ms = 1 + self.rng.below(TICK_MS);
        self.at(first_tick_ms, EventKind::Tick(i));
    }

    /// One client write, to a node the client can reach; the node passes it
    /// to the leader it knows, as a client would retry.
    fn client(&mut self) {
        // Clients stop before the end so the final state can settle.
        if self.now_ms + 2_000 > self.config.duration_ms {
            return;
        }
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].up)
            .collect();
        if !up.is_empty() {
            let first = up[self.rng.below(up.len() as u64) as usize];
            let target = self.nodes[first]
                .leader_hint()
                .and_then(|l| self.index_of(&l))
                .filter(|l| self.nodes[*l].up && self.connected(first, *l))
                .unwrap_or(first);
            self.next_key += 1;
            let change = if self.next_key.is_multiple_of(15) {
                // Now and then a move: stop here, start there.
                let node = format!("n{}", 1 + self.rng.below(self.nodes.len() as u64));
                let resource = RESOURCES[self.rng.below(RESOURCES.len() as u64) as usize];
                location(resource, &node)
            } else {
                CibChange::SetProperty {
                    name: format!("key-{}", self.next_key),
                    value: Some(format!("value-{}", self.next_key)),
                }
            };
            let quorum = self.reachable_voters(target);
            self.nodes[target].client_write(change, quorum, self.now_ms, &mut self.checker);
            let effects = self.nodes[target].flush(self.now_ms, &mut self.checker);
            self.carry_out(target, effects);
        }
        let next =
            self.config.client_interval_ms / 2 + self.rng.below(self.config.client_interval_ms);
        self.at(next.max(1), EventKind::Client);
    }

    /// Voters `i` can reach (itself included), as its heartbeats tell.
    fn reachable_voters(&self, i: usize) -> (usize, usize) {
        self.nodes[i].quorum()
    }
}

/// Upserts a location preference: `resource` prefers `node`.
fn location(resource: &str, node: &str) -> CibChange {
    CibChange::Upsert {
        section: "constraints".into(),
        element: Element::new("rsc_location")
            .with_attr("id", format!("prefer-{resource}"))
            .with_attr("rsc", resource)
            .with_attr("node", node)
            .with_attr("score", "50"),
    }
}

/// The simulated cluster's first CIB: fencing on, a fence device, Dummies.
fn initial_cib(names: &[String]) -> Element {
    let mut cib = store::empty_cib();
    let configuration = cib.child_or_insert("configuration");
    let crm_config = configuration.child_or_insert("crm_config");
    let mut options = Element::new("cluster_property_set").with_attr("id", "cib-bootstrap-options");
    for (name, value) in [("stonith-enabled", "true"), ("no-quorum-policy", "stop")] {
        options.children.push(
            Element::new("nvpair")
                .with_attr("id", format!("opt-{name}"))
                .with_attr("name", name)
                .with_attr("value", value),
        );
    }
    crm_config.children.push(options);
    let resources = configuration.child_or_insert("resources");
    resources.children.push(
        Element::new("primitive")
            .with_attr("id", "fencer")
            .with_attr("class", "stonith")
            .with_attr("type", "fence_sim"),
    );
    for id in RESOURCES {
        resources.children.push(
            Element::new("primitive")
                .with_attr("id", id)
                .with_attr("class", "ocf")
                .with_attr("provider", "heartbeat")
                .with_attr("type", "Dummy"),
        );
    }
    let _ = names;
    cib
}

/// Runs one seed with [`SimConfig::chaos`].
pub fn run_seed(seed: u64) -> SimReport {
    Sim::new(SimConfig::chaos(seed)).run()
}

/// Runs one seed with [`SimConfig::two_node`].
pub fn run_two_node_seed(seed: u64) -> SimReport {
    Sim::new(SimConfig::two_node(seed)).run()
}

/// Voters in [`run_many_voters_seed`]'s clusters.
pub const MANY_VOTERS: usize = 64;

/// Runs one seed with [`SimConfig::many_voters`] and [`MANY_VOTERS`] nodes.
pub fn run_many_voters_seed(seed: u64) -> SimReport {
    Sim::new(SimConfig::many_voters(seed, MANY_VOTERS)).run()
}

/// Runs seeds `from..to` on `threads` threads; returns every report.
pub fn run_seeds(from: u64, to: u64, threads: usize) -> Vec<SimReport> {
    run_seeds_with(from, to, threads, run_seed)
}

/// [`run_seeds`] with another kind of run.
pub fn run_seeds_with(
    from: u64,
    to: u64,
    threads: usize,
    run: fn(u64) -> SimReport,
) -> Vec<SimReport> {
    let seeds: Vec<u64> = (from..to).collect();
    let chunks: Vec<Vec<u64>> = seeds
        .chunks(seeds.len().div_ceil(threads.max(1)).max(1))
        .map(|c| c.to_vec())
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| std::thread::spawn(move || chunk.into_iter().map(run).collect::<Vec<_>>()))
        .collect();
    let mut reports: Vec<SimReport> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a simulation thread panicked"))
        .collect();
    reports.sort_by_key(|r| r.seed);
    reports
}

/// Names of nodes, for reports.
pub fn names(nodes: usize) -> BTreeSet<String> {
    (1..=nodes).map(|i| format!("n{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_exactly() {
        let a = run_seed(42);
        let b = run_seed(42);
        assert_eq!(
            (
                a.events,
                a.acknowledged,
                a.refused,
                a.terms,
                a.fenced,
                a.transitions
            ),
            (
                b.events,
                b.acknowledged,
                b.refused,
                b.terms,
                b.fenced,
                b.transitions
            )
        );
        assert!(a.acknowledged > 0 && a.terms > 0, "{a:?}");
    }
}
