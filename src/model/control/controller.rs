//! The DC's control loop as a pure state machine: events in, effects out.
//!
//! The node whose consensus is the ready Raft leader is the DC ("takes
//! office") for that Raft term, and only while it stays so. In office it:
//! 1. asks every member's executor what it runs (the CIB may miss results
//!    of the previous DC's last actions) and records the answers;
//! 2. records the members that are gone (lost, or left cleanly), but only
//!    once it has watched the membership long enough to know: a node not yet
//!    heard from is not a dead node;
//! 3. asks for a transition computed from the CIB, under its term, and
//!    carries it out in graph order, each command stamped with the term;
//! 4. records every result in the CIB (through the log) and starts over when
//!    the transition ends, is aborted (an unexpected result, a configuration
//!    change, a node lost) or a result arrives outside it; the loop rests
//!    when the scheduler has nothing left to do.
//!
//! A plan computed under another term, or answered after the office was
//! lost, is dropped: a stale DC's plan is never carried out. A scheduler
//! error keeps the last state, is shown in `status`, and is retried with a
//! growing delay.
//!
//! The shell (`actors::dc`) turns effects into messages and feeds back the
//! answers; a simulation does the same without actors.

use crate::model::cib::change::StatusChange;
use crate::model::cib::operation::{OpKind, OpOutcome, OpSpec};
use crate::model::cib::properties::cluster_property;
use crate::model::cib::store::{self, FenceRecord};
use crate::model::cib::xml::Element;
use crate::model::control::plan::{Plan, PlannedKind};
use crate::model::control::transition::{ActionLimits, TransitionRun};
use std::collections::{BTreeMap, BTreeSet};

/// After this many transitions in a row that changed something, the loop
/// slows to one a second: a guard against a scheduler/executor disagreement
/// spinning the DC.
pub const BUSY_TRANSITIONS_MAX: u32 = 20;
pub const BUSY_PAUSE_MS: u64 = 1_000;
/// Status proposals (operation results, fencing records) on their way
/// through the log at once (a short pipeline keeps a lone result quick);
/// what arrives while it is full is batched into the next.
pub const STATUS_PROPOSALS_IN_FLIGHT_MAX: usize = 4;
/// Scheduler failures are retried after this, doubling up to the maximum.
pub const SCHEDULE_RETRY_MS_MIN: u64 = 1_000;
pub const SCHEDULE_RETRY_MS_MAX: u64 = 30_000;
/// Failed fencing of one target in a row before it is no longer retried at
/// once (Pacemaker's `stonith-max-attempts` default).
pub const FENCE_ATTEMPTS_MAX_DEFAULT: u32 = 10;
/// Past that, the next try waits this long unless something else happens:
/// a node no device can fence would otherwise be retried forever, each
/// failure a replicated write.
pub const FENCE_RETRY_PAUSE_MS: u64 = 60_000;

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub node: String,
    /// A node absent from the membership this long after our view began is
    /// absent, not merely not yet heard from.
    pub lost_after_ms: u64,
    /// How long a new DC waits for members to report what they run.
    pub lrm_wait_ms: u64,
    /// Whether the CIB shows any resource active on a node: the scheduler's
    /// status view (`scheduler::status::runs_anything_on`), passed in
    /// because the scheduler is a layer above this one.
    pub runs_anything_on: fn(&Element, &str) -> bool,
}

impl ControllerConfig {
    pub fn new(
        node: &str,
        heartbeat_timeout_ms: u64,
        runs_anything_on: fn(&Element, &str) -> bool,
    ) -> Self {
        ControllerConfig {
            node: node.to_string(),
            lost_after_ms: heartbeat_timeout_ms + heartbeat_timeout_ms / 2,
            lrm_wait_ms: 1_000,
            runs_anything_on,
        }
    }
}

/// What happens to the controller.
#[derive(Debug, Clone)]
pub enum Event {
    /// This node's consensus role after a change: DC (the ready leader) of
    /// `term`, or not.
    Leadership {
        dc_term: Option<u64>,
    },
    /// Members of the node membership (those that may run resources).
    View {
        members: BTreeSet<String>,
    },
    /// A client's change (configuration, attributes, cleanup, members)
    /// was applied: what the scheduler decides may change.
    ClientChange,
    /// Status facts this DC proposed were applied (or refused).
    StatusRecorded {
        ok: bool,
    },
    LrmReport {
        node: String,
        lrm: Option<Element>,
    },
    Scheduled {
        term: u64,
        request: u64,
        result: Result<Plan, String>,
    },
    ExecResult {
        transition: u64,
        action: u32,
        node: String,
        op: OpSpec,
        outcome: OpOutcome,
    },
    FenceResult {
        transition: u64,
        action: u32,
        target: String,
        fence_action: String,
        ok: bool,
        detail: String,
        at_epoch_s: i64,
    },
    ActionFailed {
        transition: u64,
        action: u32,
        reason: String,
    },
    Tick,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    AskLrm {
        node: String,
    },
    /// Compute a transition from the current CIB; answer with `Scheduled`.
    Schedule {
        term: u64,
        request: u64,
    },
    Exec {
        term: u64,
        transition: u64,
        action: u32,
        node: String,
        op: OpSpec,
    },
    Fence {
        term: u64,
        transition: u64,
        action: u32,
        target: String,
        fence_action: String,
    },
    /// Record these facts through the log; answer with `StatusRecorded`.
    Propose {
        term: u64,
        changes: Vec<StatusChange>,
    },
    TransitionStarted {
        id: u64,
        cause: String,
        plan: Plan,
    },
    ActionRecorded {
        transition: u64,
        action: u32,
        result: String,
        /// The agent's rc (0 or 1 for a fencing), when one answered.
        rc: Option<i32>,
    },
    TransitionFinished {
        id: u64,
        outcome: String,
    },
    /// The scheduler's error to show in status (None: it works again).
    SchedulerError(Option<String>),
}

/// The DC's state for one term.
#[derive(Debug)]
struct Office {
    term: u64,
    /// Members asked what they run, not yet answered, and when.
    lrm_pending: BTreeMap<String, u64>,
    /// Recorded up in the CIB, absent from the view: declared gone once
    /// we have watched long enough.
    absent: BTreeSet<String>,
    run: Option<TransitionRun>,
    scheduling: Option<u64>,
    need_schedule: bool,
    causes: Vec<String>,
    /// Status proposals not yet applied: the next transition waits for
    /// them, or it would be computed from a CIB missing their facts.
    unrecorded: usize,
    busy_transitions: u32,
    last_schedule_ms: u64,
    retry_ms: u64,
    retry_at_ms: u64,
    /// Failed fencing attempts in a row, by target.
    fence_failures: BTreeMap<String, u32>,
    /// Set once a target's failures reach `stonith-max-attempts`: until
    /// then, a finished transition does not by itself bring another.
    fence_retry_at_ms: Option<u64>,
    /// The last plan asked to schedule again then (a failure expires).
    recheck_at_ms: Option<u64>,
}

pub struct Controller {
    config: ControllerConfig,
    view: BTreeSet<String>,
    view_since_ms: u64,
    office: Option<Office>,
    next_request: u64,
    next_transition: u64,
    out: Vec<Effect>,
    status: Vec<StatusChange>,
}

impl Controller {
    /// `now_ms` is when this node's membership view began.
    pub fn new(config: ControllerConfig, now_ms: u64, first_transition_id: u64) -> Self {
        Controller {
            config,
            view: BTreeSet::new(),
            view_since_ms: now_ms,
            office: None,
            next_request: 1,
            next_transition: first_transition_id,
            out: Vec::new(),
            status: Vec::new(),
        }
    }

    /// Transition ids from here on are at least `id`: a DC taking office
    /// continues after every id its predecessors used, so ids stay unique
    /// in the cluster's history.
    pub fn number_transitions_from(&mut self, id: u64) {
        self.next_transition = self.next_transition.max(id);
    }

    pub fn is_dc(&self) -> bool {
        self.office.is_some()
    }

    pub fn term(&self) -> Option<u64> {
        self.office.as_ref().map(|o| o.term)
    }

    /// Whether a transition is running.
    pub fn running(&self) -> Option<u64> {
        self.office
            .as_ref()
            .and_then(|o| o.run.as_ref())
            .map(|r| r.id)
    }

    /// Handles one event with the current CIB; returns the effects.
    pub fn handle(&mut self, event: Event, cib: &Element, now_ms: u64) -> Vec<Effect> {
        match event {
            Event::Leadership { dc_term } => self.on_leadership(dc_term, cib, now_ms),
            Event::View { members } => self.on_view(members, cib, now_ms),
            Event::ClientChange => {
                self.abort("configuration changed");
                self.want_schedule("configuration changed");
            }
            Event::StatusRecorded { .. } => {
                if let Some(office) = self.office.as_mut() {
                    office.unrecorded = office.unrecorded.saturating_sub(1);
                }
            }
            Event::LrmReport { node, lrm } => self.on_lrm(node, lrm),
            Event::Scheduled {
                term,
                request,
                result,
            } => self.on_scheduled(term, request, result, cib, now_ms),
            Event::ExecResult {
                transition,
                action,
                node,
                op,
                outcome,
            } => self.on_exec_result(transition, action, node, op, outcome),
            Event::FenceResult {
                transition,
                action,
                target,
                fence_action,
                ok,
                detail,
                at_epoch_s,
            } => {
                let record = FenceRecord {
                    target,
                    action: fence_action,
                    ok,
                    detail,
                    at_epoch_s,
                };
                self.on_fence_result(transition, action, record, cib, now_ms);
            }
            Event::ActionFailed {
                transition,
                action,
                reason,
            } => self.complete(transition, action, false, &reason, None),
            Event::Tick => self.on_tick(cib, now_ms),
        }
        self.dispatch();
        self.finish_if_done();
        self.maybe_schedule(now_ms);
        self.flush_status();
        std::mem::take(&mut self.out)
    }

    fn on_leadership(&mut self, dc_term: Option<u64>, cib: &Element, now_ms: u64) {
        match (dc_term, &self.office) {
            (Some(term), Some(office)) if office.term == term => {}
            (Some(term), _) => self.take_office(term, cib, now_ms),
            (None, Some(office)) => {
                if let Some(run) = &office.run {
                    self.out.push(Effect::TransitionFinished {
                        id: run.id,
                        outcome: "abandoned: this node is no longer DC".into(),
                    });
                }
                self.office = None;
                self.status.clear();
            }
            (None, None) => {}
        }
    }

    fn take_office(&mut self, term: u64, cib: &Element, now_ms: u64) {
        self.status.clear();
        let mut office = Office {
            term,
            lrm_pending: BTreeMap::new(),
            absent: BTreeSet::new(),
            run: None,
            scheduling: None,
            need_schedule: true,
            causes: vec!["new DC took office".into()],
            unrecorded: 0,
            busy_transitions: 0,
            last_schedule_ms: 0,
            retry_ms: SCHEDULE_RETRY_MS_MIN,
            retry_at_ms: 0,
            fence_failures: BTreeMap::new(),
            fence_retry_at_ms: None,
            recheck_at_ms: None,
        };
        // Members are up as the membership says; what they run follows
        // when they answer (until then the scheduler would probe them).
        for node in &self.view {
            office.lrm_pending.insert(node.clone(), now_ms);
            self.out.push(Effect::AskLrm { node: node.clone() });
            self.status
                .push(StatusChange::NodeJoined { node: node.clone() });
        }
        office.absent = nodes_recorded_up(cib)
            .into_iter()
            .filter(|n| !self.view.contains(n))
            .collect();
        self.office = Some(office);
        self.status.push(StatusChange::Quorum {
            quorate: true,
            dc: self.config.node.clone(),
        });
        self.declare_absent(cib, now_ms);
    }

    /// Records the absent nodes as gone once the view is old enough to be
    /// trusted about them.
    fn declare_absent(&mut self, cib: &Element, now_ms: u64) {
        if now_ms.saturating_sub(self.view_since_ms) < self.config.lost_after_ms {
            return;
        }
        let Some(office) = self.office.as_mut() else {
            return;
        };
        for node in std::mem::take(&mut office.absent) {
            let change = gone_status(cib, &node, self.config.runs_anything_on);
            let cause = match change {
                StatusChange::NodeLeft { .. } => format!("node {node} left"),
                _ => format!("node {node} lost"),
            };
            self.status.push(change);
            self.abort(&cause);
            self.want_schedule(&cause);
        }
    }

    fn on_view(&mut self, members: BTreeSet<String>, cib: &Element, now_ms: u64) {
        let gone: Vec<String> = self.view.difference(&members).cloned().collect();
        let joined: Vec<String> = members.difference(&self.view).cloned().collect();
        self.view = members;
        let Some(office) = self.office.as_mut() else {
            return;
        };
        for node in gone {
            office.lrm_pending.remove(&node);
            office.absent.insert(node);
        }
        for node in joined {
            office.absent.remove(&node);
            office.lrm_pending.insert(node.clone(), now_ms);
            self.out.push(Effect::AskLrm { node: node.clone() });
            self.status.push(StatusChange::NodeJoined { node });
        }
        self.declare_absent(cib, now_ms);
    }

    fn on_lrm(&mut self, node: String, lrm: Option<Element>) {
        let Some(office) = self.office.as_mut() else {
            return;
        };
        if office.lrm_pending.remove(&node).is_none() || !self.view.contains(&node) {
            return;
        }
        // What the running transition assumed of this node may be wrong
        // now (it may even fence it): compute anew.
        self.abort(&format!("node {node} joined"));
        if let Some(lrm) = lrm {
            self.status.push(StatusChange::NodeLrm {
                node: node.clone(),
                lrm,
            });
        }
        self.want_schedule(&format!("node {node} joined"));
    }

    fn on_tick(&mut self, cib: &Element, now_ms: u64) {
        let Some(office) = self.office.as_mut() else {
            return;
        };
        // Members that do not answer are left for the membership to judge.
        let wait_ms = self.config.lrm_wait_ms;
        office
            .lrm_pending
            .retain(|_, asked_ms| now_ms.saturating_sub(*asked_ms) < wait_ms);
        self.declare_absent(cib, now_ms);
        if let Some(office) = self.office.as_mut() {
            if office.fence_retry_at_ms.is_some_and(|at| now_ms >= at) {
                office.fence_retry_at_ms = None;
                office.fence_failures.clear();
                self.want_schedule("fencing retried after its pause");
            }
        }
        if let Some(office) = self.office.as_mut() {
            if office.recheck_at_ms.is_some_and(|at| now_ms >= at) {
                office.recheck_at_ms = None;
                self.want_schedule("a failure expired (failure-timeout)");
            }
        }
    }

    fn want_schedule(&mut self, cause: &str) {
        if let Some(office) = self.office.as_mut() {
            office.need_schedule = true;
            if office.causes.len() < 16 && !office.causes.iter().any(|c| c == cause) {
                office.causes.push(cause.to_string());
            }
        }
    }

    fn abort(&mut self, reason: &str) {
        if let Some(run) = self.office.as_mut().and_then(|o| o.run.as_mut()) {
            run.abort(reason);
        }
    }

    fn maybe_schedule(&mut self, now_ms: u64) {
        let Some(office) = self.office.as_mut() else {
            return;
        };
        let waiting = !office.need_schedule
            || office.scheduling.is_some()
            || office.run.is_some()
            || office.unrecorded > 0
            || !self.status.is_empty()
            || !office.lrm_pending.is_empty()
            || now_ms < office.retry_at_ms;
        let busy = office.busy_transitions >= BUSY_TRANSITIONS_MAX
            && now_ms.saturating_sub(office.last_schedule_ms) < BUSY_PAUSE_MS;
        if waiting || busy {
            return;
        }
        office.need_schedule = false;
        office.last_schedule_ms = now_ms;
        let request = self.next_request;
        self.next_request += 1;
        office.scheduling = Some(request);
        self.out.push(Effect::Schedule {
            term: office.term,
            request,
        });
    }

    fn on_scheduled(
        &mut self,
        term: u64,
        request: u64,
        result: Result<Plan, String>,
        cib: &Element,
        now_ms: u64,
    ) {
        let Some(office) = self.office.as_mut() else {
            return;
        };
        if office.term != term || office.scheduling != Some(request) {
            return;
        }
        office.scheduling = None;
        if office.need_schedule {
            // Something happened since the request (a node lost, a result
            // recorded): this plan was computed from an older CIB.
            return;
        }
        let plan = match result {
            Ok(plan) => plan,
            Err(error) => {
                office.need_schedule = true;
                office.retry_at_ms = now_ms + office.retry_ms;
                office.retry_ms = (office.retry_ms * 2).min(SCHEDULE_RETRY_MS_MAX);
                self.out.push(Effect::SchedulerError(Some(error)));
                return;
            }
        };
        if office.retry_ms != SCHEDULE_RETRY_MS_MIN {
            office.retry_ms = SCHEDULE_RETRY_MS_MIN;
            self.out.push(Effect::SchedulerError(None));
        }
        office.recheck_at_ms = plan.recheck_in_s.map(|s| now_ms + s * 1000);
        if plan.actions.is_empty() {
            office.busy_transitions = 0;
            office.causes.clear();
            return;
        }
        office.busy_transitions += 1;
        let id = self.next_transition;
        self.next_transition += 1;
        let cause = std::mem::take(&mut office.causes).join("; ");
        office.run = Some(TransitionRun::new(id, &plan).with_limits(ActionLimits::from_cib(cib)));
        self.out.push(Effect::TransitionStarted { id, cause, plan });
    }

    /// Sends every ready action; pseudo-actions complete at once.
    fn dispatch(&mut self) {
        let Some(office) = self.office.as_mut() else {
            return;
        };
        let term = office.term;
        let Some(run) = office.run.as_mut() else {
            return;
        };
        loop {
            let ready = run.take_ready();
            if ready.is_empty() {
                return;
            }
            let mut pseudo_done = false;
            for action in ready {
                match action.kind {
                    PlannedKind::Pseudo { .. } => {
                        run.complete(action.id, true, "");
                        pseudo_done = true;
                    }
                    PlannedKind::Resource { node, op } => self.out.push(Effect::Exec {
                        term,
                        transition: run.id,
                        action: action.id,
                        node,
                        op,
                    }),
                    PlannedKind::Fence { target, action: a } => self.out.push(Effect::Fence {
                        term,
                        transition: run.id,
                        action: action.id,
                        target,
                        fence_action: a,
                    }),
                }
            }
            if !pseudo_done {
                return;
            }
        }
    }

    fn finish_if_done(&mut self) {
        let Some(office) = self.office.as_mut() else {
            return;
        };
        let Some(run) = office.run.as_ref().filter(|r| r.is_finished()) else {
            return;
        };
        let outcome = match run.aborted() {
            Some(why) => format!("aborted: {why}"),
            None => "complete".to_string(),
        };
        self.out.push(Effect::TransitionFinished {
            id: run.id,
            outcome,
        });
        office.run = None;
        if office.fence_retry_at_ms.is_some() && office.causes.is_empty() {
            // Fencing failed too often: the next try waits for its pause
            // (or for anything else that calls for a transition).
            return;
        }
        office.need_schedule = true;
        if office.causes.is_empty() {
            office.causes.push("previous transition finished".into());
        }
    }

    fn complete(&mut self, transition: u64, action: u32, ok: bool, reason: &str, rc: Option<i32>) {
        let Some(run) = self
            .office
            .as_mut()
            .and_then(|o| o.run.as_mut())
            .filter(|r| r.id == transition)
        else {
            return;
        };
        run.complete(action, ok, reason);
        let result = if ok {
            "ok".to_string()
        } else {
            format!("failed: {reason}")
        };
        self.out.push(Effect::ActionRecorded {
            transition,
            action,
            result,
            rc,
        });
    }

    fn on_exec_result(
        &mut self,
        transition: u64,
        action: u32,
        node: String,
        op: OpSpec,
        outcome: OpOutcome,
    ) {
        if self.office.is_none() {
            return;
        }
        let expected = op.expected_rc();
        let unexpected = !outcome.succeeded_as(expected);
        let in_graph = self.running() == Some(transition);
        // Notifications are not recorded (as in Pacemaker): they change no
        // resource's state, and a failed one does not abort.
        if op.operation == OpKind::Notify {
            if in_graph {
                self.complete(transition, action, true, "", Some(outcome.rc));
            }
            return;
        }
        let rc = outcome.rc;
        let key = format!("{action}:{transition}:{expected}:systole");
        let cause = format!("{} on {node}: rc {}", op.key(), outcome.rc);
        let reason = format!(
            "{} returned rc {} ({:?}), expected {expected}",
            op.key(),
            outcome.rc,
            outcome.status
        );
        self.status.push(StatusChange::OpResult {
            node,
            op,
            outcome,
            transition_key: key,
        });
        if in_graph {
            self.complete(transition, action, !unexpected, &reason, Some(rc));
        } else {
            // A recurring monitor's report, or a late answer.
            if unexpected {
                self.abort("resource failure");
            }
            self.want_schedule(&cause);
        }
    }

    fn on_fence_result(
        &mut self,
        transition: u64,
        action: u32,
        record: FenceRecord,
        cib: &Element,
        now_ms: u64,
    ) {
        let Some(office) = self.office.as_mut() else {
            return;
        };
        let (ok, target, detail) = (record.ok, record.target.clone(), record.detail.clone());
        // Unfencing lets a node in; it does not take it down.
        let down = ok && record.action != "on";
        if down {
            office.fence_failures.remove(&target);
        } else if !ok && record.action != "on" {
            let failures = office.fence_failures.entry(target.clone()).or_insert(0);
            *failures += 1;
            if *failures >= fence_attempts_max(cib) {
                office.fence_retry_at_ms = Some(now_ms + FENCE_RETRY_PAUSE_MS);
            }
        }
        self.status.push(StatusChange::FenceEvent { record });
        if down {
            self.status.push(StatusChange::NodeFenced {
                node: target.clone(),
            });
            self.want_schedule(&format!("node {target} fenced"));
        }
        if transition == 0 {
            self.want_schedule(&format!("fencing of {target}"));
        }
        self.complete(
            transition,
            action,
            ok,
            &detail,
            Some(if ok { 0 } else { 1 }),
        );
    }

    fn flush_status(&mut self) {
        if self.status.is_empty() {
            return;
        }
        let Some(office) = self.office.as_mut() else {
            self.status.clear();
            return;
        };
        if office.unrecorded >= STATUS_PROPOSALS_IN_FLIGHT_MAX {
            // Group commit: results arriving while a proposal is on its way
            // wait here and go together, as one log entry, when it is
            // recorded (each handled event would otherwise be an entry).
            return;
        }
        office.unrecorded += 1;
        self.out.push(Effect::Propose {
            term: office.term,
            changes: std::mem::take(&mut self.status),
        });
    }
}

/// `stonith-max-attempts` from the cluster properties (the model's one
/// reader; the controller has no clock, so a rule-guarded set is left out).
fn fence_attempts_max(cib: &Element) -> u32 {
    cluster_property(cib, "stonith-max-attempts")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map_or(FENCE_ATTEMPTS_MAX_DEFAULT, |n| n.max(1))
}

/// Whether a node in `local_term`, following `local_leader`, carries out a
/// DC command stamped `term` from `from`: the term is the fencing token. An
/// older term is refused; in our own term only the leader we know commands.
/// (A newer term means an election we have not heard of yet; only its
/// winner could have stamped it.)
pub fn admit_command(
    local_term: u64,
    local_leader: Option<&str>,
    from: &str,
    term: u64,
) -> Result<(), String> {
    if term < local_term {
        return Err(format!(
            "refused: a command of term {term} from {from}, but this node is in term {local_term}"
        ));
    }
    if term == local_term && local_leader != Some(from) {
        return Err(format!(
            "refused: {from} is not the DC of term {term} (the DC is {})",
            local_leader.unwrap_or("unknown")
        ));
    }
    Ok(())
}

/// How a node that left the membership is recorded: down, if it announced
/// its shutdown and runs nothing (a clean leave, no fencing); lost (unclean)
/// otherwise.
pub fn gone_status(
    cib: &Element,
    node: &str,
    runs_anything_on: fn(&Element, &str) -> bool,
) -> StatusChange {
    if store::announced_shutdown(cib, node) && !runs_anything_on(cib, node) {
        StatusChange::NodeLeft {
            node: node.to_string(),
        }
    } else {
        StatusChange::NodeLost {
            node: node.to_string(),
        }
    }
}

/// Nodes the CIB's status section records as up and in the membership.
pub fn nodes_recorded_up(cib: &Element) -> BTreeSet<String> {
    cib.child("status")
        .map(|status| {
            status
                .children_named("node_state")
                .filter(|n| n.attr("in_ccm") == Some("true") && n.attr("crmd") == Some("online"))
                .filter_map(|n| n.attr("uname").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Counts effects by kind, for tests and logs.
pub fn effect_kinds(effects: &[Effect]) -> BTreeMap<&'static str, usize> {
    let mut kinds = BTreeMap::new();
    for effect in effects {
        let kind = match effect {
            Effect::AskLrm { .. } => "ask_lrm",
            Effect::Schedule { .. } => "schedule",
            Effect::Exec { .. } => "exec",
            Effect::Fence { .. } => "fence",
            Effect::Propose { .. } => "propose",
            Effect::TransitionStarted { .. } => "transition_started",
            Effect::ActionRecorded { .. } => "action_recorded",
            Effect::TransitionFinished { .. } => "transition_finished",
            Effect::SchedulerError(_) => "scheduler_error",
        };
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

#[cfg(test)]
mod tests {
    //! Table-driven: each step is a time, an event and the effects it must
    //! give, written as short lines.
    use super::*;
    use crate::model::cib::operation::{AgentSpec, OpStatus};
    use crate::model::control::plan::PlannedAction;

    fn cib(up: &[&str]) -> Element {
        let states: String = up
            .iter()
            .map(|n| {
                format!(r#"<node_state id="{n}" uname="{n}" in_ccm="true" crmd="online" join="member" expected="member"/>"#)
            })
            .collect();
        Element::parse(&format!(
            r#"<cib admin_epoch="0" epoch="3" num_updates="0"><configuration><crm_config/><nodes>
<node id="n1" uname="n1"/><node id="n2" uname="n2"/><node id="n3" uname="n3"/></nodes>
<resources/><constraints/></configuration><status>{states}</status></cib>"#
        ))
        .unwrap()
    }

    fn op(operation: &str, resource: &str) -> OpSpec {
        OpSpec {
            resource: resource.into(),
            agent: AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("heartbeat".into()),
                kind: "Dummy".into(),
            },
            operation: operation.into(),
            interval_ms: 0,
            timeout_ms: 20_000,
            params: Default::default(),
            meta: Default::default(),
        }
    }

    fn outcome(rc: i32) -> OpOutcome {
        OpOutcome {
            rc,
            status: OpStatus::Done,
            output: String::new(),
            exec_ms: 1,
            ended_epoch_s: 1_700_000_000,
            call_id: 1,
            exit_reason: String::new(),
        }
    }

    /// Fence n3, then start r1 on n2 and stop nothing.
    fn failover_plan() -> Plan {
        Plan {
            actions: vec![
                PlannedAction {
                    id: 1,
                    after: vec![],
                    kind: PlannedKind::Fence {
                        target: "n3".into(),
                        action: "reboot".into(),
                    },
                },
                PlannedAction {
                    id: 2,
                    after: vec![1],
                    kind: PlannedKind::Resource {
                        node: "n2".into(),
                        op: op("start", "r1"),
                    },
                },
                PlannedAction {
                    id: 3,
                    after: vec![2],
                    kind: PlannedKind::Pseudo {
                        name: "r1_running".into(),
                    },
                },
            ],
            summary: vec![
                "* Fence (reboot) n3".into(),
                "* Move r1 ( n3 -> n2 )".into(),
            ],
            recheck_in_s: None,
        }
    }

    fn describe(effect: &Effect) -> String {
        match effect {
            Effect::AskLrm { node } => format!("ask_lrm {node}"),
            Effect::Schedule { term, request } => format!("schedule t{term} #{request}"),
            Effect::Exec { term, node, op, .. } => {
                format!("exec {} {}@{node} t{term}", op.operation, op.resource)
            }
            Effect::Fence {
                term,
                target,
                fence_action,
                ..
            } => format!("fence {fence_action} {target} t{term}"),
            Effect::Propose { term, changes } => {
                let facts: Vec<String> = changes
                    .iter()
                    .map(|c| match c {
                        StatusChange::Quorum { .. } => "quorum".to_string(),
                        StatusChange::Transition { record } => format!("transition {}", record.id),
                        StatusChange::NodeJoined { node } => format!("joined {node}"),
                        StatusChange::NodeLrm { node, .. } => format!("lrm {node}"),
                        StatusChange::NodeLost { node } => format!("lost {node}"),
                        StatusChange::NodeLeft { node } => format!("left {node}"),
                        StatusChange::NodeFenced { node } => format!("fenced {node}"),
                        StatusChange::FenceEvent { record } => {
                            format!("fence_event {}", record.target)
                        }
                        StatusChange::OpResult {
                            node, op, outcome, ..
                        } => {
                            format!(
                                "op {} {}@{node} rc {}",
                                op.operation, op.resource, outcome.rc
                            )
                        }
                    })
                    .collect();
                format!("propose t{term}: {}", facts.join(", "))
            }
            Effect::TransitionStarted { id, .. } => format!("started {id}"),
            Effect::ActionRecorded { action, result, .. } => format!("recorded {action} {result}"),
            Effect::TransitionFinished { id, outcome } => format!("finished {id} {outcome}"),
            Effect::SchedulerError(error) => format!("scheduler_error {error:?}"),
        }
    }

    fn members(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    /// Runs the steps; each is `(now_ms, event, expected effects)`.
    fn run(controller: &mut Controller, cib: &Element, steps: Vec<(u64, Event, Vec<&str>)>) {
        for (step, (now_ms, event, expected)) in steps.into_iter().enumerate() {
            let label = format!("step {step} at {now_ms} ms: {event:?}");
            let effects = controller.handle(event, cib, now_ms);
            let got: Vec<String> = effects.iter().map(describe).collect();
            if std::env::var_os("CONTROLLER_TABLE_PRINT").is_some() {
                eprintln!("{label}\n    {got:?}");
                continue;
            }
            assert_eq!(got, expected, "{label}");
        }
    }

    fn controller() -> Controller {
        // What runs where is the scheduler's to say; these cases record a
        // lost node either way, so the cautious answer (yes) serves.
        Controller::new(ControllerConfig::new("n1", 600, |_, _| true), 0, 100)
    }

    fn exec_ok(transition: u64, action: u32, node: &str, operation: &str) -> Event {
        Event::ExecResult {
            transition,
            action,
            node: node.into(),
            op: op(operation, "r1"),
            outcome: outcome(0),
        }
    }

    fn view(names: &[&str]) -> Event {
        Event::View {
            members: members(names),
        }
    }

    fn dc(term: u64) -> Event {
        Event::Leadership {
            dc_term: Some(term),
        }
    }

    fn lrm(node: &str, lrm: Option<Element>) -> Event {
        Event::LrmReport {
            node: node.into(),
            lrm,
        }
    }

    fn recorded() -> Event {
        Event::StatusRecorded { ok: true }
    }

    fn scheduled(term: u64, request: u64, plan: Plan) -> Event {
        Event::Scheduled {
            term,
            request,
            result: Ok(plan),
        }
    }

    fn fenced(transition: u64, action: u32, target: &str) -> Event {
        Event::FenceResult {
            transition,
            action,
            target: target.into(),
            fence_action: "reboot".into(),
            ok: true,
            detail: "done".into(),
            at_epoch_s: 1,
        }
    }

    /// Office taken with `names` in view and their (empty) reports in.
    fn in_office(term: u64, names: &[&str]) -> Vec<(u64, Event, Vec<&'static str>)> {
        let mut steps: Vec<(u64, Event, Vec<&'static str>)> = vec![(0, view(names), vec![])];
        steps.push((2_000, dc(term), vec![]));
        for node in names {
            steps.push((2_001, lrm(node, None), vec![]));
        }
        steps
    }

    #[test]
    fn a_new_dc_records_the_members_and_waits_for_what_they_run() {
        let cib = cib(&["n1", "n2"]);
        let mut c = controller();
        let empty = || Some(Element::new("lrm"));
        run(
            &mut c,
            &cib,
            vec![
                (0, view(&["n1", "n2"]), vec![]),
                (
                    2_000,
                    dc(5),
                    vec![
                        "ask_lrm n1",
                        "ask_lrm n2",
                        "propose t5: joined n1, joined n2, quorum",
                    ],
                ),
                (2_002, lrm("n1", empty()), vec!["propose t5: lrm n1"]),
                // A report from a node not asked is ignored.
                (2_004, lrm("n3", None), vec![]),
                (2_005, lrm("n2", empty()), vec!["propose t5: lrm n2"]),
                // The transition waits until the facts are in the CIB.
                (2_006, Event::Tick, vec![]),
                (2_007, recorded(), vec![]),
                (2_008, recorded(), vec![]),
                (2_009, recorded(), vec!["schedule t5 #1"]),
                (2_010, scheduled(5, 1, Plan::default()), vec![]),
                (2_100, Event::Tick, vec![]),
            ],
        );
    }

    /// A plan that nothing needs doing for now, but whose failures expire
    /// in 30 s (failure-timeout, a connection's reconnect interval): the
    /// DC schedules again then, with nothing else happening.
    #[test]
    fn an_expiring_failure_schedules_again_when_it_expires() {
        let cib = cib(&["n1"]);
        let mut c = controller();
        let empty = || Some(Element::new("lrm"));
        let waiting = Plan {
            recheck_in_s: Some(30),
            ..Plan::default()
        };
        run(
            &mut c,
            &cib,
            vec![
                (0, view(&["n1"]), vec![]),
                (
                    2_000,
                    dc(5),
                    vec!["ask_lrm n1", "propose t5: joined n1, quorum"],
                ),
                (2_002, lrm("n1", empty()), vec!["propose t5: lrm n1"]),
                (2_007, recorded(), vec![]),
                (2_009, recorded(), vec!["schedule t5 #1"]),
                (2_010, scheduled(5, 1, waiting), vec![]),
                (31_000, Event::Tick, vec![]),
                (32_010, Event::Tick, vec!["schedule t5 #2"]),
                // A plan without a recheck asks for none.
                (32_020, scheduled(5, 2, Plan::default()), vec![]),
                (100_000, Event::Tick, vec![]),
            ],
        );
    }

    #[test]
    fn members_that_do_not_report_hold_scheduling_up_only_so_long() {
        let cib = cib(&["n1", "n2"]);
        let mut c = controller();
        run(
            &mut c,
            &cib,
            vec![
                (0, view(&["n1", "n2"]), vec![]),
                (
                    2_000,
                    dc(5),
                    vec![
                        "ask_lrm n1",
                        "ask_lrm n2",
                        "propose t5: joined n1, joined n2, quorum",
                    ],
                ),
                (2_001, recorded(), vec![]),
                (2_500, Event::Tick, vec![]),
                (3_000, Event::Tick, vec!["schedule t5 #1"]),
            ],
        );
    }

    #[test]
    fn a_lost_node_is_fenced_before_its_resource_starts_elsewhere() {
        let cib = cib(&["n1", "n2", "n3"]);
        let mut c = controller();
        let mut steps = vec![
            (0, view(&["n1", "n2", "n3"]), vec![]),
            (
                2_000,
                dc(7),
                vec![
                    "ask_lrm n1",
                    "ask_lrm n2",
                    "ask_lrm n3",
                    "propose t7: joined n1, joined n2, joined n3, quorum",
                ],
            ),
            (2_001, recorded(), vec![]),
            (2_002, lrm("n1", None), vec![]),
            (2_003, lrm("n2", None), vec![]),
            // n3 vanishes before it answers: lost at once (the view is old).
            (2_010, view(&["n1", "n2"]), vec!["propose t7: lost n3"]),
            (2_011, recorded(), vec!["schedule t7 #1"]),
            (
                2_020,
                scheduled(7, 1, failover_plan()),
                vec!["started 100", "fence reboot n3 t7"],
            ),
            (
                2_500,
                fenced(100, 1, "n3"),
                vec![
                    "recorded 1 ok",
                    "exec start r1@n2 t7",
                    "propose t7: fence_event n3, fenced n3",
                ],
            ),
            (2_501, recorded(), vec![]),
            (
                2_600,
                exec_ok(100, 2, "n2", "start"),
                vec![
                    "recorded 2 ok",
                    "finished 100 complete",
                    "propose t7: op start r1@n2 rc 0",
                ],
            ),
        ];
        steps.push((2_601, recorded(), vec!["schedule t7 #2"]));
        run(&mut c, &cib, steps);
    }

    #[test]
    fn fencing_that_keeps_failing_is_retried_after_a_pause_not_at_once() {
        let cib = cib(&["n1", "n2", "n3"]);
        let mut c = controller();
        let mut now_ms = 0;
        let mut step = |c: &mut Controller, event: Event, at_ms: u64| -> Vec<String> {
            now_ms = now_ms.max(at_ms);
            c.handle(event, &cib, now_ms).iter().map(describe).collect()
        };
        step(&mut c, view(&["n1", "n2", "n3"]), 0);
        step(&mut c, dc(7), 2_000);
        step(&mut c, recorded(), 2_001);
        step(&mut c, lrm("n1", None), 2_002);
        step(&mut c, lrm("n2", None), 2_003);
        step(&mut c, view(&["n1", "n2"]), 2_010);
        let mut got = step(&mut c, recorded(), 2_011);
        let failed = |transition: u64| Event::FenceResult {
            transition,
            action: 1,
            target: "n3".into(),
            fence_action: "reboot".into(),
            ok: false,
            detail: "no device".into(),
            at_epoch_s: 1,
        };
        for attempt in 1..=FENCE_ATTEMPTS_MAX_DEFAULT as u64 {
            assert_eq!(
                got,
                [format!("schedule t7 #{attempt}")],
                "attempt {attempt}"
            );
            let at_ms = 2_100 + attempt * 10;
            step(&mut c, scheduled(7, attempt, failover_plan()), at_ms);
            let after_failure = step(&mut c, failed(99 + attempt), at_ms + 1);
            assert!(after_failure.iter().any(|e| e.starts_with("finished")));
            got = step(&mut c, recorded(), at_ms + 2);
        }
        // The tenth failure in a row: no transition follows by itself.
        assert!(got.is_empty(), "{got:?}");
        assert!(step(&mut c, Event::Tick, 30_000).is_empty());
        // After the pause it is tried again.
        let retried = step(&mut c, Event::Tick, 2_300 + FENCE_RETRY_PAUSE_MS);
        assert_eq!(retried, ["schedule t7 #11"]);
    }

    #[test]
    fn a_node_that_returns_aborts_the_transition_that_would_fence_it() {
        let cib = cib(&["n1", "n2", "n3"]);
        let mut c = controller();
        // n3 is recorded up but absent from an old view: lost at once.
        let mut steps = in_office(7, &["n1", "n2"]);
        steps[1].2 = vec![
            "ask_lrm n1",
            "ask_lrm n2",
            "propose t7: joined n1, joined n2, quorum, lost n3",
        ];
        steps.extend([
            (2_003, recorded(), vec!["schedule t7 #1"]),
            (
                2_004,
                scheduled(7, 1, failover_plan()),
                vec!["started 100", "fence reboot n3 t7"],
            ),
            (
                2_005,
                view(&["n1", "n2", "n3"]),
                vec!["ask_lrm n3", "propose t7: joined n3"],
            ),
            (2_006, lrm("n3", None), vec![]),
            (
                2_007,
                Event::ActionFailed {
                    transition: 100,
                    action: 1,
                    reason: "fence device unreachable".into(),
                },
                vec![
                    "recorded 1 failed: fence device unreachable",
                    "finished 100 aborted: node n3 joined",
                ],
            ),
        ]);
        run(&mut c, &cib, steps);
    }

    #[test]
    fn stale_plans_are_dropped_and_a_lost_office_abandons_its_run() {
        let cib = cib(&["n1"]);
        let mut c = controller();
        let mut steps = in_office(3, &["n1"]);
        steps[1].2 = vec!["ask_lrm n1", "propose t3: joined n1, quorum"];
        steps.extend([
            (2_002, recorded(), vec!["schedule t3 #1"]),
            // A plan of another term, or of another request, is dropped.
            (2_004, scheduled(2, 1, failover_plan()), vec![]),
            (2_005, scheduled(3, 9, failover_plan()), vec![]),
            (
                2_006,
                scheduled(3, 1, failover_plan()),
                vec!["started 100", "fence reboot n3 t3"],
            ),
            (
                2_007,
                Event::Leadership { dc_term: None },
                vec!["finished 100 abandoned: this node is no longer DC"],
            ),
            // Answers to the old office change nothing.
            (2_008, fenced(100, 1, "n3"), vec![]),
            (2_009, scheduled(3, 1, failover_plan()), vec![]),
            // A new term is a new office: everything is asked again.
            (
                3_000,
                dc(9),
                vec!["ask_lrm n1", "propose t9: joined n1, quorum"],
            ),
        ]);
        run(&mut c, &cib, steps);
    }

    #[test]
    fn a_node_not_yet_heard_is_not_lost_until_the_view_is_old_enough() {
        // n3 is recorded up, but our view (started at 0) has not seen it.
        let cib = cib(&["n1", "n2", "n3"]);
        let took_office = vec![
            "ask_lrm n1",
            "ask_lrm n2",
            "propose t4: joined n1, joined n2, quorum",
        ];
        let mut c = controller();
        run(
            &mut c,
            &cib,
            vec![
                (0, view(&["n1", "n2"]), vec![]),
                (100, dc(4), took_office.clone()),
                (500, Event::Tick, vec![]),
                // Heard from in time: never declared.
                (
                    600,
                    view(&["n1", "n2", "n3"]),
                    vec!["ask_lrm n3", "propose t4: joined n3"],
                ),
                (1_000, Event::Tick, vec![]),
            ],
        );
        let mut c = controller();
        run(
            &mut c,
            &cib,
            vec![
                (0, view(&["n1", "n2"]), vec![]),
                (100, dc(4), took_office),
                (800, Event::Tick, vec![]),
                (900, Event::Tick, vec!["propose t4: lost n3"]),
            ],
        );
    }

    #[test]
    fn scheduler_errors_are_shown_and_retried_with_a_growing_delay() {
        let cib = cib(&["n1"]);
        let mut c = controller();
        let fail = |request| Event::Scheduled {
            term: 2,
            request,
            result: Err("bad CIB".into()),
        };
        let mut steps = in_office(2, &["n1"]);
        steps[1].2 = vec!["ask_lrm n1", "propose t2: joined n1, quorum"];
        steps.extend([
            (2_002, recorded(), vec!["schedule t2 #1"]),
            (2_004, fail(1), vec!["scheduler_error Some(\"bad CIB\")"]),
            (2_500, Event::Tick, vec![]),
            (3_004, Event::Tick, vec!["schedule t2 #2"]),
            (3_005, fail(2), vec!["scheduler_error Some(\"bad CIB\")"]),
            (4_005, Event::Tick, vec![]),
            (5_005, Event::Tick, vec!["schedule t2 #3"]),
            (
                5_006,
                scheduled(2, 3, Plan::default()),
                vec!["scheduler_error None"],
            ),
        ]);
        run(&mut c, &cib, steps);
    }

    #[test]
    fn an_unexpected_result_aborts_after_what_is_in_flight() {
        let cib = cib(&["n1", "n2"]);
        let mut c = controller();
        let action = |id, after: Vec<u32>, node: &str, operation: &str, rsc: &str| PlannedAction {
            id,
            after,
            kind: PlannedKind::Resource {
                node: node.into(),
                op: op(operation, rsc),
            },
        };
        let two_starts = Plan {
            actions: vec![
                action(1, vec![], "n1", "start", "r1"),
                action(2, vec![], "n2", "start", "r2"),
                action(3, vec![1], "n1", "monitor", "r1"),
            ],
            summary: vec![],
            recheck_in_s: None,
        };
        let mut steps = in_office(2, &["n1", "n2"]);
        steps[1].2 = vec![
            "ask_lrm n1",
            "ask_lrm n2",
            "propose t2: joined n1, joined n2, quorum",
        ];
        steps.extend([
            (2_002, recorded(), vec!["schedule t2 #1"]),
            (
                2_006,
                scheduled(2, 1, two_starts),
                vec!["started 100", "exec start r1@n1 t2", "exec start r2@n2 t2"],
            ),
            (
                2_007,
                Event::ExecResult {
                    transition: 100,
                    action: 1,
                    node: "n1".into(),
                    op: op("start", "r1"),
                    outcome: outcome(1),
                },
                vec![
                    "recorded 1 failed: r1_start_0 returned rc 1 (Done), expected 0",
                    "propose t2: op start r1@n1 rc 1",
                ],
            ),
            (
                2_008,
                Event::ActionFailed {
                    transition: 100,
                    action: 2,
                    reason: "timeout".into(),
                },
                vec![
                    "recorded 2 failed: timeout",
                    "finished 100 aborted: r1_start_0 returned rc 1 (Done), expected 0",
                ],
            ),
            (2_009, recorded(), vec!["schedule t2 #2"]),
        ]);
        run(&mut c, &cib, steps);
    }

    #[test]
    fn client_changes_abort_and_reschedule_and_recurring_failures_abort() {
        let cib = cib(&["n1"]);
        let mut c = controller();
        let mut steps = in_office(2, &["n1"]);
        steps[1].2 = vec!["ask_lrm n1", "propose t2: joined n1, quorum"];
        steps.extend([
            (2_002, recorded(), vec!["schedule t2 #1"]),
            (
                2_004,
                scheduled(2, 1, failover_plan()),
                vec!["started 100", "fence reboot n3 t2"],
            ),
            (2_005, Event::ClientChange, vec![]),
            (
                2_006,
                Event::ActionFailed {
                    transition: 100,
                    action: 1,
                    reason: "fence agent failed".into(),
                },
                vec![
                    "recorded 1 failed: fence agent failed",
                    "finished 100 aborted: configuration changed",
                    "schedule t2 #2",
                ],
            ),
            (
                2_007,
                Event::ExecResult {
                    transition: 0,
                    action: 0,
                    node: "n1".into(),
                    op: op("monitor", "r1"),
                    outcome: outcome(7),
                },
                vec!["propose t2: op monitor r1@n1 rc 7"],
            ),
        ]);
        run(&mut c, &cib, steps);
        let kinds = effect_kinds(&[Effect::AskLrm { node: "n1".into() }]);
        assert_eq!(kinds["ask_lrm"], 1);
    }

    #[test]
    fn batch_limit_holds_actions_back_and_results_go_together_once_the_pipeline_is_full() {
        let mut cib = cib(&["n1", "n2"]);
        let configuration = cib.children.iter_mut().find(|c| c.name == "configuration");
        let configuration = configuration.unwrap();
        let crm_config = configuration
            .children
            .iter_mut()
            .find(|c| c.name == "crm_config");
        crm_config.unwrap().children.push(
            Element::new("cluster_property_set")
                .with_attr("id", "o")
                .with_child(
                    Element::new("nvpair")
                        .with_attr("id", "b")
                        .with_attr("name", "batch-limit")
                        .with_attr("value", "6"),
                ),
        );
        let mut c = controller();
        let starts = Plan {
            actions: (1..=8)
                .map(|id| PlannedAction {
                    id,
                    after: vec![],
                    kind: PlannedKind::Resource {
                        node: "n2".into(),
                        op: op("start", &format!("r{id}")),
                    },
                })
                .collect(),
            summary: vec![],
            recheck_in_s: None,
        };
        let result = |action: u32| Event::ExecResult {
            transition: 100,
            action,
            node: "n2".into(),
            op: op("start", &format!("r{action}")),
            outcome: outcome(0),
        };
        let ok = |action: u32| format!("recorded {action} ok");
        let start = |action: u32| format!("exec start r{action}@n2 t2");
        let fact = |action: u32| format!("op start r{action}@n2 rc 0");
        let mut steps = in_office(2, &["n1", "n2"]);
        steps[1].2 = vec![
            "ask_lrm n1",
            "ask_lrm n2",
            "propose t2: joined n1, joined n2, quorum",
        ];
        let mut expected: Vec<(u64, Event, Vec<String>)> = vec![
            (2_002, recorded(), vec!["schedule t2 #1".into()]),
            (
                2_006,
                scheduled(2, 1, starts),
                std::iter::once("started 100".to_string())
                    .chain((1..=6).map(start))
                    .collect(),
            ),
        ];
        // Four proposals on their way: the pipeline is full.
        for action in 1..=4 {
            let effects = vec![
                ok(action),
                start(action + 6),
                format!("propose t2: {}", fact(action)),
            ];
            let effects = if action <= 2 {
                effects
            } else {
                vec![ok(action), effects[2].clone()]
            };
            expected.push((2_010 + u64::from(action), result(action), effects));
        }
        // Results 5 to 8 wait, then go as one entry.
        for action in 5..=8 {
            let mut effects = vec![ok(action)];
            if action == 8 {
                effects.push("finished 100 complete".into());
            }
            expected.push((2_020 + u64::from(action), result(action), effects));
        }
        let together: Vec<String> = (5..=8).map(fact).collect();
        expected.push((
            2_030,
            recorded(),
            vec![format!("propose t2: {}", together.join(", "))],
        ));
        let owned: Vec<(u64, Event, Vec<String>)> = steps
            .into_iter()
            .map(|(at, event, effects)| {
                (at, event, effects.into_iter().map(String::from).collect())
            })
            .chain(expected)
            .collect();
        let borrowed = owned
            .iter()
            .map(|(at, event, effects)| {
                (
                    *at,
                    event.clone(),
                    effects.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        run(&mut c, &cib, borrowed);
    }
}
