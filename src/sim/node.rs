//! One simulated node: the real consensus and controller, with a shell that
//! does in memory what the actor shell does with sockets, disks and agents.

use super::check::{Checker, Observation};
use super::{CONTROLLER_TICK_MS, EPOCH_S, HEARTBEAT_TIMEOUT_MS, RAFT_TICK_MS};
use crate::model::cib::change::{CibChange, StatusChange};
use crate::model::cib::operation::{OpKind, OpOutcome, OpSpec, OpStatus};
use crate::model::cib::store;
use crate::model::cib::xml::Element;
use crate::model::control::consensus::{decode_message, Consensus, ConsensusConfig};
use crate::model::control::controller::{
    admit_command, Controller, ControllerConfig, Effect, Event,
};
use crate::model::control::log_store::{LogStore, PersistBatch};
use crate::model::control::replicated::Applied;
use crate::model::control::two_node::{
    fencing_enabled, force_solo, AfterFencing, Arbiter, ArbiterConfig, Decision,
    Observation as Seen,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The first characters of a debug line.
fn short(text: &str) -> &str {
    let end = text.char_indices().nth(160).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// A failed disk is tried again this often.
const DISK_RETRY_MS: u64 = 1_000;
/// As the actor shell's `TWO_NODE_RACE_DELAY_MS`.
const TWO_NODE_RACE_DELAY_MS: u64 = 2_000;

/// What travels between simulated nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Raft(Vec<u8>),
    /// Carries the sender's boot, as the real heartbeat its incarnation.
    Heartbeat {
        boot: u64,
    },
    Exec {
        term: u64,
        transition: u64,
        action: u32,
        op: OpSpec,
    },
    ExecReply {
        transition: u64,
        action: u32,
        op: OpSpec,
        outcome: OpOutcome,
    },
    ExecRefused {
        transition: u64,
        action: u32,
        reason: String,
    },
    LrmQuery,
    LrmReply {
        lrm: Element,
    },
}

/// What a node asks the world to do.
#[allow(clippy::large_enum_variant)] // built and consumed at once; boxing buys nothing
pub enum Outbound {
    Send {
        to: String,
        payload: Payload,
    },
    /// The batches just queued go to disk; the world says when they are done.
    DiskWrite {
        incarnation: u64,
    },
    Fence {
        term: u64,
        transition: u64,
        action: u32,
        target: String,
        fence_action: String,
    },
    Timeout {
        transition: u64,
        action: u32,
        after_ms: u64,
    },
    /// A two-node survivor fences its lost peer (no DC involved).
    TwoNodeFence {
        target: String,
    },
}

/// A client write this node proposed.
struct Pending {
    change: CibChange,
    proposed_ms: u64,
    index: u64,
    term: u64,
}

pub struct SimNode {
    pub index: usize,
    pub name: String,
    pub up: bool,
    pub booting: bool,
    pub up_since_ms: u64,
    pub disk_ok: bool,
    /// What is durable: survives crashes.
    pub disk: LogStore,
    /// The ground truth: resources running here.
    pub running: BTreeSet<String>,
    pub transitions: usize,
    pub next_heartbeat_ms: u64,
    /// Counts boots: a message for an earlier boot is lost.
    pub boot: u64,
    /// What the checker must look at after this event.
    pub observed: Vec<Observation>,
    consensus: Option<Consensus>,
    incarnation: u64,
    seed: u64,
    writes: VecDeque<(u64, Vec<PersistBatch>)>,
    disk_busy_until_ms: u64,
    disk_failed_at_ms: u64,
    controller: Controller,
    controller_events: VecDeque<Event>,
    last_heard: BTreeMap<String, u64>,
    peer_boots: BTreeMap<String, u64>,
    view: BTreeSet<String>,
    members: Vec<String>,
    lrm: Element,
    next_seq: u64,
    clients: BTreeMap<u64, Pending>,
    statuses: BTreeSet<u64>,
    /// Commands sent by this DC, not yet answered: (transition, action) →
    /// the node; they fail when that node leaves the view, as the real
    /// router fails requests to a node that leaves.
    pending_exec: BTreeMap<(u64, u32), String>,
    role: (u64, Option<String>, bool),
    next_raft_tick_ms: u64,
    next_controller_tick_ms: u64,
    call_id: u64,
    /// `two_node`: a new arbiter each boot (`wait_for_all`).
    pub two_node: bool,
    arbiter: Option<Arbiter>,
    /// Times this node went on alone after fencing its peer.
    pub solos: usize,
}

impl SimNode {
    pub fn new(index: usize, name: &str, founding: LogStore, seed: u64) -> SimNode {
        SimNode {
            index,
            name: name.to_string(),
            up: false,
            booting: false,
            up_since_ms: 0,
            disk_ok: true,
            disk: founding,
            running: BTreeSet::new(),
            transitions: 0,
            next_heartbeat_ms: 0,
            boot: 0,
            observed: Vec::new(),
            consensus: None,
            incarnation: 0,
            seed,
            writes: VecDeque::new(),
            disk_busy_until_ms: 0,
            disk_failed_at_ms: 0,
            controller: Controller::new(
                ControllerConfig::new(
                    name,
                    HEARTBEAT_TIMEOUT_MS,
                    crate::scheduler::status::runs_anything_on,
                ),
                0,
                1,
            ),
            controller_events: VecDeque::new(),
            last_heard: BTreeMap::new(),
            peer_boots: BTreeMap::new(),
            view: BTreeSet::new(),
            members: Vec::new(),
            lrm: store::empty_cib(),
            next_seq: 1,
            clients: BTreeMap::new(),
            statuses: BTreeSet::new(),
            pending_exec: BTreeMap::new(),
            role: (0, None, false),
            next_raft_tick_ms: 0,
            next_controller_tick_ms: 0,
            call_id: 1,
            two_node: false,
            arbiter: None,
            solos: 0,
        }
    }

    /// The leader this node knows, for clients.
    pub fn leader_hint(&self) -> Option<String> {
        self.consensus.as_ref().and_then(|c| c.leader())
    }

    pub fn consensus(&self) -> Option<&Consensus> {
        self.consensus.as_ref()
    }

    /// Whether `node` is in this node's membership view.
    pub fn sees(&self, node: &str) -> bool {
        self.view.contains(node)
    }

    /// (reachable voters, voters), as this node sees it.
    pub fn quorum(&self) -> (usize, usize) {
        let reachable = self
            .members
            .iter()
            .filter(|m| **m == self.name || self.view.contains(*m))
            .count();
        (reachable, self.members.len())
    }

    pub fn boot(&mut self, now_ms: u64) {
        self.up = true;
        self.booting = false;
        self.up_since_ms = now_ms;
        self.next_heartbeat_ms = now_ms;
        self.boot += 1;
        self.incarnation += 1;
        self.controller = Controller::new(
            ControllerConfig::new(
                &self.name,
                HEARTBEAT_TIMEOUT_MS,
                crate::scheduler::status::runs_anything_on,
            ),
            now_ms,
            self.incarnation * 1_000_000 + 1,
        );
        self.controller_events.clear();
        self.view = BTreeSet::from([self.name.clone()]);
        self.controller_events.push_back(Event::View {
            members: self.view.clone(),
        });
        self.last_heard.clear();
        self.role = (0, None, false);
        self.next_raft_tick_ms = now_ms;
        self.next_controller_tick_ms = now_ms;
        self.arbiter = self.two_node.then(|| {
            Arbiter::new(ArbiterConfig {
                node: self.name.clone(),
                two_node: true,
                election_timeout_ms: 10 * RAFT_TICK_MS,
                race_delay_ms: TWO_NODE_RACE_DELAY_MS,
            })
        });
        self.start_consensus();
    }

    fn start_consensus(&mut self) {
        let mut config = ConsensusConfig::new(&self.name, self.seed ^ self.incarnation);
        config.election_ticks = 10;
        config.heartbeat_ticks = 2;
        config.snapshot_interval_entries = 200;
        self.incarnation += 1;
        self.writes.clear();
        self.consensus = Consensus::restore(config, self.disk.clone()).ok();
        if let Some(c) = &self.consensus {
            self.members = c.state().members.voter_names();
        }
    }

    pub fn crash(&mut self, now_ms: u64) {
        self.up = false;
        self.booting = true;
        self.up_since_ms = now_ms;
        self.consensus = None;
        self.writes.clear();
        self.running.clear();
        self.lrm = store::empty_cib();
        self.clients.clear();
        self.statuses.clear();
        self.pending_exec.clear();
        self.incarnation += 1;
    }

    /// When a write queued now completes: after the ones before it.
    pub fn next_disk_delay(&mut self, now_ms: u64, latency_ms: u64) -> u64 {
        let done = self.disk_busy_until_ms.max(now_ms) + latency_ms;
        self.disk_busy_until_ms = done;
        done - now_ms
    }

    pub fn tick(&mut self, now_ms: u64, checker: &mut Checker) -> Vec<Outbound> {
        self.update_view(now_ms);
        if now_ms >= self.next_raft_tick_ms {
            self.next_raft_tick_ms = now_ms + RAFT_TICK_MS;
            match self.consensus.as_mut() {
                Some(consensus) => consensus.tick(),
                None if self.disk_ok && now_ms >= self.disk_failed_at_ms + DISK_RETRY_MS => {
                    self.start_consensus()
                }
                None => {}
            }
        }
        if now_ms >= self.next_controller_tick_ms {
            self.next_controller_tick_ms = now_ms + CONTROLLER_TICK_MS;
            self.controller_events.push_back(Event::Tick);
        }
        let mut out = self.arbitrate(now_ms);
        out.extend(self.flush(now_ms, checker));
        out
    }

    /// The two-node arbiter, as the CIB actor runs it.
    fn arbitrate(&mut self, now_ms: u64) -> Vec<Outbound> {
        let (Some(arbiter), Some(consensus)) = (self.arbiter.as_mut(), self.consensus.as_ref())
        else {
            return Vec::new();
        };
        let members = &consensus.state().members;
        let peer = arbiter.peer_of(members);
        let peer_in_view = peer.as_ref().is_some_and(|p| self.view.contains(p));
        let leader = consensus.leader();
        let leader_in_view =
            consensus.is_leader() || leader.as_ref().is_some_and(|l| self.view.contains(l));
        let now_epoch_s = EPOCH_S + (now_ms / 1000) as i64;
        let seen = Seen {
            now_ms,
            members,
            peer_in_view,
            leader: leader.as_deref(),
            leader_in_view,
            fencing_enabled: peer_in_view
                || leader_in_view
                || fencing_enabled(&consensus.state().cib, now_epoch_s),
            in_sync: consensus.in_sync(),
            member_change_pending: consensus.member_change_pending(),
        };
        match arbiter.observe(&seen) {
            Decision::Fence { peer } => vec![Outbound::TwoNodeFence { target: peer }],
            Decision::Wait | Decision::NoFencing { .. } => Vec::new(),
        }
    }

    /// The peer is off: go on alone from a rewritten log, as the CIB actor
    /// does (the disk write fails on a failed disk: nothing changes).
    pub fn two_node_fenced(&mut self, peer: &str, now_ms: u64) -> Vec<Outbound> {
        let Some(arbiter) = self.arbiter.as_mut().filter(|_| self.up) else {
            return Vec::new();
        };
        if arbiter.fenced(peer, true, now_ms) != (AfterFencing::GoSolo { peer: peer.into() })
            || !self.disk_ok
        {
            return Vec::new();
        }
        let record = store::FenceRecord {
            target: peer.to_string(),
            action: "reboot".into(),
            ok: true,
            detail: "simulated two-node fencing".into(),
            at_epoch_s: EPOCH_S + (now_ms / 1000) as i64,
        };
        let Ok(solo) = force_solo(&self.disk, &self.name, peer, record) else {
            return Vec::new();
        };
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("{now_ms:>6} {} SOLO (peer {peer})", self.name);
        }
        self.disk = solo;
        self.solos += 1;
        self.clients.clear();
        self.statuses.clear();
        self.start_consensus();
        if let Some(consensus) = self.consensus.as_mut() {
            consensus.campaign();
        }
        let mut unused = Checker::new(0);
        self.flush(now_ms, &mut unused)
    }

    fn update_view(&mut self, now_ms: u64) {
        let mut view = BTreeSet::from([self.name.clone()]);
        for (node, heard_ms) in &self.last_heard {
            if now_ms.saturating_sub(*heard_ms) < HEARTBEAT_TIMEOUT_MS {
                view.insert(node.clone());
            }
        }
        if view != self.view {
            let gone: Vec<(u64, u32)> = self
                .pending_exec
                .iter()
                .filter(|(_, node)| !view.contains(*node))
                .map(|(key, _)| *key)
                .collect();
            for (transition, action) in gone {
                let node = self.pending_exec.remove(&(transition, action));
                self.controller_events.push_back(Event::ActionFailed {
                    transition,
                    action,
                    reason: format!("node {} is not reachable", node.unwrap_or_default()),
                });
            }
            self.view = view.clone();
            self.controller_events
                .push_back(Event::View { members: view });
        }
    }

    /// A heartbeat from `from` (booted as `boot`): a peer that restarted
    /// leaves and joins again, as the real membership reports it.
    fn heard_from(&mut self, from: &str, boot: u64, now_ms: u64) {
        let previous = self.peer_boots.insert(from.to_string(), boot);
        if previous.is_some_and(|b| b != boot) && self.last_heard.remove(from).is_some() {
            self.update_view(now_ms);
        }
        self.last_heard.insert(from.to_string(), now_ms);
        self.update_view(now_ms);
    }

    pub fn receive(
        &mut self,
        from: &str,
        payload: Payload,
        now_ms: u64,
        checker: &mut Checker,
    ) -> Vec<Outbound> {
        let mut out = Vec::new();
        match payload {
            Payload::Heartbeat { boot } => self.heard_from(from, boot, now_ms),
            Payload::Raft(bytes) => {
                if let Some(consensus) = self.consensus.as_mut() {
                    if let Ok(message) = decode_message(&bytes) {
                        let _ = consensus.step(from, message);
                    }
                }
            }
            Payload::Exec {
                term,
                transition,
                action,
                op,
            } => out.push(self.execute(from, term, transition, action, op, now_ms)),
            Payload::ExecReply {
                transition,
                action,
                op,
                outcome,
            } => {
                self.pending_exec.remove(&(transition, action));
                self.controller_events.push_back(Event::ExecResult {
                    transition,
                    action,
                    node: from.to_string(),
                    op,
                    outcome,
                })
            }
            Payload::ExecRefused {
                transition,
                action,
                reason,
            } => {
                self.pending_exec.remove(&(transition, action));
                self.controller_events.push_back(Event::ActionFailed {
                    transition,
                    action,
                    reason,
                })
            }
            Payload::LrmQuery => out.push(Outbound::Send {
                to: from.to_string(),
                payload: Payload::LrmReply {
                    lrm: store::node_lrm(&self.lrm, &self.name),
                },
            }),
            Payload::LrmReply { lrm } => self.controller_events.push_back(Event::LrmReport {
                node: from.to_string(),
                lrm: Some(lrm),
            }),
        }
        out.extend(self.flush(now_ms, checker));
        out
    }

    /// The executor: obeys the DC of the current term, runs the operation on
    /// the ground truth, records it in its history, answers.
    fn execute(
        &mut self,
        from: &str,
        term: u64,
        transition: u64,
        action: u32,
        op: OpSpec,
        now_ms: u64,
    ) -> Outbound {
        let (local_term, leader) = self
            .consensus
            .as_ref()
            .map_or((0, None), |c| (c.term(), c.leader()));
        if let Err(reason) = admit_command(local_term, leader.as_deref(), from, term) {
            return Outbound::Send {
                to: from.to_string(),
                payload: Payload::ExecRefused {
                    transition,
                    action,
                    reason,
                },
            };
        }
        self.observed.push(Observation::Executed {
            node: self.name.clone(),
            term,
            local_term,
        });
        let running = self.running.contains(&op.resource);
        let rc = match op.operation {
            OpKind::Start => {
                self.running.insert(op.resource.clone());
                0
            }
            OpKind::Stop => {
                self.running.remove(&op.resource);
                0
            }
            OpKind::Monitor if running => 0,
            OpKind::Monitor => 7,
            // The simulated agent does what it is asked and says so.
            _ => 0,
        };
        self.call_id += 1;
        let outcome = OpOutcome {
            rc,
            status: OpStatus::Done,
            output: String::new(),
            exit_reason: String::new(),
            exec_ms: 1,
            ended_epoch_s: EPOCH_S + (now_ms / 1000) as i64,
            call_id: self.call_id,
        };
        let key = format!("{action}:{transition}:{}:systole", op.expected_rc());
        store::record_op(&mut self.lrm, &self.name, &op, &outcome, &key);
        Outbound::Send {
            to: from.to_string(),
            payload: Payload::ExecReply {
                transition,
                action,
                op,
                outcome,
            },
        }
    }

    pub fn disk_done(
        &mut self,
        incarnation: u64,
        now_ms: u64,
        checker: &mut Checker,
    ) -> Vec<Outbound> {
        if incarnation != self.incarnation || !self.up {
            return Vec::new();
        }
        let Some((_, batches)) = self.writes.pop_front() else {
            return Vec::new();
        };
        if !self.disk_ok {
            // The node drops out until its disk works again.
            self.consensus = None;
            self.writes.clear();
            self.incarnation += 1;
            self.disk_failed_at_ms = now_ms;
            self.observed.push(Observation::DiskFailed {
                node: self.name.clone(),
            });
            return Vec::new();
        }
        for batch in &batches {
            self.disk.apply_batch(batch);
        }
        let number = batches.iter().map(|b| b.number).max().unwrap_or(0);
        if let Some(consensus) = self.consensus.as_mut() {
            consensus.persisted(number);
        }
        self.flush(now_ms, checker)
    }

    pub fn client_write(
        &mut self,
        change: CibChange,
        quorum: (usize, usize),
        now_ms: u64,
        checker: &mut Checker,
    ) {
        let (reachable, voters) = quorum;
        let Some(consensus) = self.consensus.as_mut().filter(|_| reachable * 2 > voters) else {
            checker.refused += 1;
            return;
        };
        let seq = self.next_seq;
        let now_epoch_s = EPOCH_S + (now_ms / 1000) as i64;
        match consensus.propose_client(seq, change.clone(), now_epoch_s) {
            Ok((index, term)) => {
                self.next_seq += 1;
                self.clients.insert(
                    seq,
                    Pending {
                        change,
                        proposed_ms: now_ms,
                        index,
                        term,
                    },
                );
            }
            Err(_) => checker.refused += 1,
        }
    }

    pub fn fence_done(
        &mut self,
        term: u64,
        transition: u64,
        action: u32,
        target: &str,
        fence_action: &str,
        now_ms: u64,
    ) -> Vec<Outbound> {
        if !self.up || self.controller.term() != Some(term) {
            return Vec::new();
        }
        self.controller_events.push_back(Event::FenceResult {
            transition,
            action,
            target: target.to_string(),
            fence_action: fence_action.to_string(),
            ok: true,
            detail: "simulated".into(),
            at_epoch_s: EPOCH_S + (now_ms / 1000) as i64,
        });
        let mut unused = Checker::new(0);
        self.flush(now_ms, &mut unused)
    }

    pub fn exec_timeout(&mut self, transition: u64, action: u32, now_ms: u64) -> Vec<Outbound> {
        if !self.up || self.pending_exec.remove(&(transition, action)).is_none() {
            return Vec::new();
        }
        self.controller_events.push_back(Event::ActionFailed {
            transition,
            action,
            reason: "no answer in time".into(),
        });
        let mut unused = Checker::new(0);
        self.flush(now_ms, &mut unused)
    }

    /// Polls the consensus and runs the controller until both are quiet.
    pub fn flush(&mut self, now_ms: u64, checker: &mut Checker) -> Vec<Outbound> {
        let mut out = Vec::new();
        if !self.up {
            return out;
        }
        for _ in 0..1_000 {
            self.poll_consensus(now_ms, &mut out);
            let Some(event) = self.controller_events.pop_front() else {
                break;
            };
            let cib = self
                .consensus
                .as_ref()
                .map(|c| std::sync::Arc::clone(&c.state().cib))
                .unwrap_or_else(|| std::sync::Arc::new(store::empty_cib()));
            let trace = std::env::var_os("SIM_TRACE").is_some();
            if trace && !matches!(event, Event::Tick) {
                eprintln!(
                    "{now_ms:>6} {} event {}",
                    self.name,
                    short(&format!("{event:?}"))
                );
            }
            let effects = self.controller.handle(event, &cib, now_ms);
            for effect in effects {
                if trace {
                    eprintln!(
                        "{now_ms:>6} {}   effect {}",
                        self.name,
                        short(&format!("{effect:?}"))
                    );
                }
                self.carry_out(effect, &cib, now_ms, &mut out);
            }
        }
        let _ = checker;
        out
    }

    fn poll_consensus(&mut self, now_ms: u64, out: &mut Vec<Outbound>) {
        let Some(consensus) = self.consensus.as_mut() else {
            if self.role != (0, None, false) {
                self.role = (0, None, false);
                self.controller_events
                    .push_back(Event::Leadership { dc_term: None });
            }
            return;
        };
        let progress = consensus.poll();
        for message in &progress.send {
            out.push(Outbound::Send {
                to: message.to.clone(),
                payload: Payload::Raft(message.encode()),
            });
        }
        if !progress.persist.is_empty() {
            self.writes.push_back((self.incarnation, progress.persist));
            out.push(Outbound::DiskWrite {
                incarnation: self.incarnation,
            });
        }
        let role = (
            consensus.term(),
            consensus.leader(),
            consensus.leader_ready(),
        );
        self.members = consensus.state().members.voter_names();
        for applied in progress.applied {
            self.on_applied(applied, now_ms);
        }
        if role != self.role {
            if role.2 {
                self.observed.push(Observation::Leader {
                    term: role.0,
                    node: self.name.clone(),
                });
            }
            let was_dc = self.role.2;
            self.role = role.clone();
            if role.2 || was_dc {
                self.controller_events.push_back(Event::Leadership {
                    dc_term: role.2.then_some(role.0),
                });
            }
        }
    }

    fn on_applied(&mut self, applied: Applied, now_ms: u64) {
        match applied {
            Applied::Client {
                origin,
                seq,
                index,
                result,
            } => {
                if origin == self.name {
                    if let Some(pending) = self.clients.remove(&seq) {
                        if result.is_ok() {
                            let voters = self
                                .consensus
                                .as_ref()
                                .filter(|_| self.two_node)
                                .map(|c| c.state().members.voter_names().len());
                            self.observed.push(Observation::Acked {
                                change: pending.change,
                                index,
                                term: pending.term,
                                proposed_ms: pending.proposed_ms,
                                acked_ms: now_ms,
                                voters,
                            });
                        }
                    }
                }
                // Ours at this index lost in a change of leader.
                self.clients.retain(|_, p| p.index != index);
                if result.is_ok() {
                    self.controller_events.push_back(Event::ClientChange);
                }
            }
            Applied::Status { index } => {
                self.clients.retain(|_, p| p.index != index);
                if self.statuses.remove(&index) {
                    self.controller_events
                        .push_back(Event::StatusRecorded { ok: true });
                }
            }
            Applied::Members { .. } => self.controller_events.push_back(Event::ClientChange),
            Applied::Empty { index } => {
                self.clients.retain(|_, p| p.index != index);
                if self.statuses.remove(&index) {
                    self.controller_events
                        .push_back(Event::StatusRecorded { ok: false });
                }
            }
        }
    }

    /// Sends an operation to `node`'s executor, with a timeout to notice
    /// when no answer comes; a node not in the view fails it at once, as
    /// the real router refuses a request to a non-member.
    fn send_exec(
        &mut self,
        term: u64,
        transition: u64,
        action: u32,
        node: String,
        op: OpSpec,
    ) -> Vec<Outbound> {
        if !self.view.contains(&node) {
            self.controller_events.push_back(Event::ActionFailed {
                transition,
                action,
                reason: format!("node {node} is not reachable"),
            });
            return Vec::new();
        }
        let after_ms = op.timeout_ms.min(20_000) + 5_000;
        self.pending_exec.insert((transition, action), node.clone());
        let exec = Payload::Exec {
            term,
            transition,
            action,
            op,
        };
        vec![
            Outbound::Send {
                to: node,
                payload: exec,
            },
            Outbound::Timeout {
                transition,
                action,
                after_ms,
            },
        ]
    }

    /// Proposes status changes to the replicated log; a proposal refused
    /// (not the leader, no consensus) is reported as not recorded.
    fn propose_status(&mut self, term: u64, changes: Vec<StatusChange>) {
        let proposed = self
            .consensus
            .as_mut()
            .map(|c| c.propose_status(term, changes));
        match proposed {
            Some(Ok((index, _))) => {
                self.statuses.insert(index);
            }
            _ => self
                .controller_events
                .push_back(Event::StatusRecorded { ok: false }),
        }
    }

    fn carry_out(&mut self, effect: Effect, cib: &Element, now_ms: u64, out: &mut Vec<Outbound>) {
        match effect {
            Effect::AskLrm { node } => out.push(Outbound::Send {
                to: node,
                payload: Payload::LrmQuery,
            }),
            Effect::Schedule { term, request } => {
                let now_s = EPOCH_S + (now_ms / 1000) as i64;
                let result = crate::scheduler::plan::plan(cib, now_s);
                self.controller_events.push_back(Event::Scheduled {
                    term,
                    request,
                    result,
                });
            }
            Effect::Exec {
                term,
                transition,
                action,
                node,
                op,
            } => out.extend(self.send_exec(term, transition, action, node, op)),
            Effect::Fence {
                term,
                transition,
                action,
                target,
                fence_action,
            } => out.push(Outbound::Fence {
                term,
                transition,
                action,
                target,
                fence_action,
            }),
            Effect::Propose { term, changes } => self.propose_status(term, changes),
            Effect::TransitionStarted { .. } => self.transitions += 1,
            Effect::SchedulerError(Some(error)) => {
                self.observed.push(Observation::SchedulerError(error))
            }
            Effect::SchedulerError(None)
            | Effect::ActionRecorded { .. }
            | Effect::TransitionFinished { .. } => {}
        }
    }
}
