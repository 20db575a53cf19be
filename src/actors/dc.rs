//! DcActor: election on every node; on the DC, the control loop.
//!
//! Every node runs the election machine ([`crate::model::election`]). The
//! node that wins takes office: it adopts the newest CIB any member has,
//! rebuilds the status section from what each member's executor reports,
//! marks nodes that vanished as lost (unclean, so the scheduler fences
//! them), and then loops: ask the policy actor for a transition from the
//! current CIB, carry it out in graph order on the nodes' executors and the
//! fencer, write every result into the CIB, and start over when the graph is
//! done or aborted (an unexpected result, a configuration change, a node
//! lost). The loop rests when the scheduler has nothing left to do.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{ActorRef, Envelope, Message, PlannedKind, StatusChange, View};
use crate::actors::router::ActorError;
use crate::actors::shared::{now_epoch_s, DcInfo, NodeShared};
use crate::model::cib_store::CibVersion;
use crate::model::election::{Effect, Election};
use crate::model::operation::{OpOutcome, OpSpec};
use crate::model::transition::TransitionRun;
use crate::model::xml::Element;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Election and control-loop clock.
pub const DC_TICK_MS: u64 = 50;
/// Extra time beyond an operation's own timeout before the DC gives up on
/// an executor's answer.
pub const EXEC_ANSWER_MARGIN_MS: u64 = 5_000;
pub const FENCE_ANSWER_TIMEOUT_MS: u64 = 120_000;
pub const SCHEDULE_TIMEOUT_MS: u64 = 60_000;
/// After this many transitions in a row that changed something, the loop
/// slows to one a second: a guard against a scheduler/executor disagreement
/// spinning the DC.
pub const BUSY_TRANSITIONS_MAX: u32 = 20;

pub struct DcActor {
    shared: Arc<NodeShared>,
    election: Election,
    joins: BTreeMap<String, (CibVersion, Element)>,
    run: Option<TransitionRun>,
    next_transition_id: u64,
    need_schedule: bool,
    /// Why the next transition is computed: events since the last one.
    causes: Vec<String>,
    scheduling: bool,
    busy_transitions: u32,
    last_schedule_ms: u64,
}

impl DcActor {
    pub fn new(shared: Arc<NodeShared>) -> Self {
        let info = shared.dc_info();
        let view = shared.view();
        let election = Election::resume(
            &shared.node,
            info.term_seen,
            info.dc.clone(),
            info.term,
            &view.members,
        );
        // A restarted DC actor recomputes from scratch: whatever transition
        // was in flight is abandoned and its results are still recorded.
        let is_dc = info.dc.as_deref() == Some(shared.node.as_str());
        DcActor {
            shared,
            election,
            joins: BTreeMap::new(),
            run: None,
            next_transition_id: now_epoch_s() as u64 * 1000,
            need_schedule: is_dc,
            causes: if is_dc {
                vec!["DC actor restarted".into()]
            } else {
                Vec::new()
            },
            scheduling: false,
            busy_transitions: 0,
            last_schedule_ms: 0,
        }
    }

    fn now_ms(&self) -> u64 {
        self.shared.uptime_ms()
    }

    fn dc_ref(node: &str) -> ActorRef {
        ActorRef::new(node, "dc")
    }

    fn apply(&mut self, effects: Vec<Effect>, ctx: &mut CellCtx<'_>) {
        for effect in effects {
            match effect {
                Effect::SendJoinRequest { to, term } => {
                    self.joins.clear();
                    for node in to {
                        ctx.send(Self::dc_ref(&node), Message::JoinRequest { term });
                    }
                }
                Effect::SendJoinAck { to, term } => ctx.send(
                    Self::dc_ref(&to),
                    Message::JoinAck {
                        term_seen: term,
                        version: self.shared.cib_version(),
                        lrm: self.shared.lrm(),
                    },
                ),
                Effect::SendStaleTerm { to, term_seen } => {
                    ctx.send(Self::dc_ref(&to), Message::StaleTerm { term_seen })
                }
                Effect::SendAnnounce { to, term } => {
                    for node in to {
                        ctx.send(Self::dc_ref(&node), Message::DcAnnounce { term });
                    }
                }
                Effect::BecameDc { term, joined } => self.take_office(term, &joined, ctx),
                Effect::DcChanged { dc, term } => {
                    tracing::info!(dc = ?dc, term, "DC changed");
                    if dc.as_deref() != Some(self.shared.node.as_str()) {
                        self.run = None;
                        self.need_schedule = false;
                        self.scheduling = false;
                    }
                }
            }
        }
        self.publish();
    }

    /// Shares the election's state with the node (persisting the term).
    fn publish(&self) {
        let info = DcInfo {
            dc: self.election.dc().map(str::to_string),
            term: self.election.term(),
            term_seen: self.election.term_seen(),
        };
        if info != self.shared.dc_info() {
            self.shared.set_dc(info);
        }
    }

    fn status(&self, ctx: &CellCtx<'_>, change: StatusChange) {
        ctx.send_local(
            "cib",
            Message::CibStatusUpdate {
                term: self.election.term(),
                cib_status: change,
            },
        );
    }

    /// Won the election: adopt the newest CIB, then rebuild status.
    fn take_office(&mut self, term: u64, joined: &[String], ctx: &mut CellCtx<'_>) {
        tracing::info!(term, ?joined, "taking office as DC");
        // DcChanged follows BecameDc; publish now so the CIB actor accepts
        // this term's writes.
        self.publish_as_dc(term);
        let mine = self.shared.cib_version();
        let newest = self
            .joins
            .iter()
            .filter(|(node, _)| joined.contains(node))
            .max_by_key(|(_, (version, _))| *version)
            .map(|(node, (version, _))| (node.clone(), *version));
        match newest {
            Some((node, version)) if version > mine && node != self.shared.node => {
                tracing::info!(%node, %version, %mine, "fetching the newest CIB");
                ctx.request_then(
                    ActorRef::new(&node, "cib"),
                    Message::CibQuery,
                    5_000,
                    move |answer| {
                        let cib = match answer {
                            Ok(Message::CibContent { cib }) => Some(cib),
                            _ => None,
                        };
                        Message::DcFetchedCib { node, cib }
                    },
                );
            }
            _ => self.rebuild_status(ctx),
        }
    }

    fn publish_as_dc(&self, term: u64) {
        self.shared.set_dc(DcInfo {
            dc: Some(self.shared.node.clone()),
            term,
            term_seen: self.election.term_seen().max(term),
        });
    }

    fn rebuild_status(&mut self, ctx: &mut CellCtx<'_>) {
        let view = self.shared.view();
        let cib = self.shared.cib();
        for node in &view.members {
            self.status(ctx, StatusChange::NodeJoined { node: node.clone() });
            if let Some((_, lrm)) = self.joins.get(node) {
                self.status(
                    ctx,
                    StatusChange::NodeLrm {
                        node: node.clone(),
                        lrm: lrm.clone(),
                    },
                );
            }
        }
        // Writes of the previous term may have been refused as stale, so
        // the departures are worked out again here.
        for node in nodes_recorded_up(&cib) {
            if !view.members.contains(&node) {
                self.status(ctx, gone_status(&cib, &node));
            }
        }
        self.status(
            ctx,
            StatusChange::Quorum {
                quorate: view.quorate,
                dc: self.shared.node.clone(),
            },
        );
        self.want_schedule("new DC took office");
    }

    fn on_view(&mut self, view: View, ctx: &mut CellCtx<'_>) {
        let previous = self.shared.view();
        for node in &previous.members {
            if !view.members.contains(node) {
                ctx.router().fail_pending_to(node);
                if self.election.is_dc() {
                    let gone = gone_status(&self.shared.cib(), node);
                    if let StatusChange::NodeLeft { .. } = gone {
                        tracing::info!(%node, "node left after a clean shutdown");
                        self.want_schedule(&format!("node {node} left"));
                        self.status(ctx, gone);
                        continue;
                    }
                    self.want_schedule(&format!("node {node} lost"));
                    self.status(ctx, gone);
                    if let Some(run) = self.run.as_mut() {
                        run.abort(&format!("node {node} lost"));
                    }
                }
            }
        }
        if self.election.is_dc() && view.quorate != previous.quorate {
            self.status(
                ctx,
                StatusChange::Quorum {
                    quorate: view.quorate,
                    dc: self.shared.node.clone(),
                },
            );
        }
        for node in &view.members {
            if !previous.members.contains(node) && self.election.is_dc() {
                self.want_schedule(&format!("node {node} joined"));
            }
        }
        *self.shared.view.write().expect("view lock") = view.clone();
        let effects = self.election.on_view(&view.members, self.now_ms());
        self.apply(effects, ctx);
    }

    fn want_schedule(&mut self, cause: &str) {
        self.need_schedule = true;
        if self.causes.len() < 16 && !self.causes.iter().any(|c| c == cause) {
            self.causes.push(cause.to_string());
        }
    }

    fn maybe_schedule(&mut self, ctx: &mut CellCtx<'_>) {
        if !self.election.is_dc() || self.election.is_candidate() || !self.need_schedule {
            return;
        }
        if self.scheduling || self.run.is_some() {
            return;
        }
        let now_ms = self.now_ms();
        if self.busy_transitions >= BUSY_TRANSITIONS_MAX && now_ms - self.last_schedule_ms < 1_000 {
            return;
        }
        self.need_schedule = false;
        self.scheduling = true;
        self.last_schedule_ms = now_ms;
        let cib = (*self.shared.cib()).clone();
        ctx.request_then(
            ActorRef::new(&self.shared.node, "policy"),
            Message::Schedule {
                cib,
                now_epoch_s: now_epoch_s(),
            },
            SCHEDULE_TIMEOUT_MS,
            |answer| match answer {
                Ok(message) => message,
                Err(error) => Message::Error(format!("scheduling failed: {error}")),
            },
        );
    }

    fn start_transition(&mut self, plan: crate::actors::message::Plan, ctx: &mut CellCtx<'_>) {
        self.scheduling = false;
        if plan.actions.is_empty() {
            self.busy_transitions = 0;
            return;
        }
        self.busy_transitions += 1;
        self.next_transition_id += 1;
        let id = self.next_transition_id;
        let cause = std::mem::take(&mut self.causes).join("; ");
        self.shared.history.lock().expect("history lock").push(
            crate::model::history::TransitionRecord::new(
                id,
                &self.shared.node,
                &cause,
                self.shared.cib_version(),
                now_epoch_s(),
                &plan,
            ),
        );
        tracing::info!(transition = id, actions = plan.actions.len(), summary = ?plan.summary, "transition started");
        self.run = Some(TransitionRun::new(id, &plan));
        self.dispatch(ctx);
    }

    /// Sends every ready action; pseudo-actions complete at once.
    fn dispatch(&mut self, ctx: &mut CellCtx<'_>) {
        let term = self.election.term();
        loop {
            let Some(run) = self.run.as_mut() else {
                return;
            };
            let transition = run.id;
            let ready = run.take_ready();
            if ready.is_empty() {
                break;
            }
            let mut pseudo_done = false;
            for action in ready {
                match action.kind {
                    PlannedKind::Pseudo { .. } => {
                        run.complete(action.id, true, "");
                        pseudo_done = true;
                    }
                    PlannedKind::Resource { node, op } => {
                        let timeout_ms = op.timeout_ms + EXEC_ANSWER_MARGIN_MS;
                        let id = action.id;
                        ctx.request_then(
                            ActorRef::new(&node, "exec"),
                            Message::ExecOp {
                                term,
                                transition,
                                action: id,
                                op,
                            },
                            timeout_ms,
                            move |answer| match answer {
                                Ok(result @ Message::ExecResult { .. }) => result,
                                other => action_failed(transition, id, other),
                            },
                        );
                    }
                    PlannedKind::Fence {
                        target,
                        action: fence_action,
                    } => {
                        let id = action.id;
                        let me = self.shared.node.clone();
                        ctx.request_then(
                            ActorRef::new(&me, "fence"),
                            Message::Fence {
                                term,
                                target,
                                action: fence_action,
                            },
                            FENCE_ANSWER_TIMEOUT_MS,
                            move |answer| match answer {
                                Ok(Message::FenceDone { target, ok, detail }) => {
                                    Message::FenceResult {
                                        transition,
                                        action: id,
                                        target,
                                        ok,
                                        detail,
                                    }
                                }
                                other => action_failed(transition, id, other),
                            },
                        );
                    }
                }
            }
            if !pseudo_done {
                break;
            }
        }
        self.finish_if_done();
    }

    fn finish_if_done(&mut self) {
        if let Some(run) = &self.run {
            if run.is_finished() {
                let (ok, failed, total) = run.counts();
                tracing::info!(transition = run.id, ok, failed, total, aborted = ?run.aborted(), "transition finished");
                self.shared.history.lock().expect("history lock").finish(
                    run.id,
                    &match run.aborted() {
                        Some(why) => format!("aborted: {why}"),
                        None => "complete".to_string(),
                    },
                );
                self.run = None;
                self.want_schedule("previous transition finished");
            }
        }
    }

    fn complete(
        &mut self,
        transition: u64,
        action: u32,
        ok: bool,
        reason: &str,
        ctx: &mut CellCtx<'_>,
    ) {
        if let Some(run) = self.run.as_mut() {
            if run.id == transition {
                run.complete(action, ok, reason);
                let result = if ok {
                    "ok".to_string()
                } else {
                    format!("failed: {reason}")
                };
                self.shared
                    .history
                    .lock()
                    .expect("history lock")
                    .record_action(transition, action, &result);
            }
        }
        self.dispatch(ctx);
    }

    fn on_exec_result(
        &mut self,
        transition: u64,
        action: u32,
        node: String,
        op: OpSpec,
        outcome: OpOutcome,
        ctx: &mut CellCtx<'_>,
    ) {
        if !self.election.is_dc() {
            return;
        }
        let expected = op.expected_rc();
        let key = format!("{action}:{transition}:{expected}:systole");
        let unexpected = !outcome.succeeded_as(expected);
        // Notifications are not recorded in the CIB (as in Pacemaker): they
        // change no resource's state, and a failed one is reported but does
        // not abort the transition.
        if op.operation == "notify" {
            if unexpected {
                tracing::warn!(resource = %op.resource, %node, rc = outcome.rc, "notification failed");
            }
            if self.run.as_ref().is_some_and(|r| r.id == transition) {
                self.complete(transition, action, true, "", ctx);
            }
            return;
        }
        self.status(
            ctx,
            StatusChange::OpResult {
                node: node.clone(),
                op: op.clone(),
                outcome: outcome.clone(),
                transition_key: key,
            },
        );
        let in_graph = self.run.as_ref().is_some_and(|r| r.id == transition);
        if !in_graph {
            // A recurring monitor's report, or a late answer: the CIB changed,
            // so think again.
            if unexpected {
                tracing::warn!(resource = %op.resource, %node, rc = outcome.rc, "operation failed outside a transition");
                if let Some(run) = self.run.as_mut() {
                    run.abort("resource failure");
                }
            }
            self.want_schedule(&format!("{} on {node}: rc {}", op.key(), outcome.rc));
            return;
        }
        let reason = format!(
            "{} returned rc {} ({:?}), expected {expected}",
            op.key(),
            outcome.rc,
            outcome.status
        );
        self.complete(transition, action, !unexpected, &reason, ctx);
    }
}

/// The DC's note to itself that an action's answer was not the one wanted.
fn action_failed(transition: u64, action: u32, answer: Result<Message, ActorError>) -> Message {
    let reason = match answer {
        Ok(other) => format!("unexpected answer {other:?}"),
        Err(error) => error.to_string(),
    };
    Message::ActionFailed {
        transition,
        action,
        reason,
    }
}

/// The fence action ("reboot", "off") of a transition's fencing step.
fn fence_action_of(run: Option<&TransitionRun>, action: u32) -> String {
    match run.and_then(|r| r.action(action)).map(|a| &a.kind) {
        Some(PlannedKind::Fence { action, .. }) => action.clone(),
        _ => "reboot".into(),
    }
}

/// Whether the CIB shows any resource active on `node` (an unreadable CIB
/// counts as yes: the cautious answer).
pub fn runs_anything_on(cib: &Element, node: &str) -> bool {
    crate::model::status::resource_status(cib)
        .map(|resources| resources.iter().any(|r| r.nodes.iter().any(|n| n == node)))
        .unwrap_or(true)
}

/// How a node that left the membership is recorded: down, if it announced
/// its shutdown and runs nothing (a clean leave, no fencing); lost (unclean)
/// otherwise.
fn gone_status(cib: &Element, node: &str) -> StatusChange {
    if crate::model::cib_store::announced_shutdown(cib, node) && !runs_anything_on(cib, node) {
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
fn nodes_recorded_up(cib: &Element) -> Vec<String> {
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

impl Behaviour for DcActor {
    fn started(&mut self, ctx: &mut CellCtx<'_>) {
        ctx.run_every(DC_TICK_MS, Message::Tick);
    }

    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        let from = envelope.from.node.clone();
        let header = envelope.header();
        match envelope.body {
            Message::Tick => {
                let effects = self.election.tick(self.now_ms());
                self.apply(effects, ctx);
                self.maybe_schedule(ctx);
            }
            Message::ViewChanged(view) => self.on_view(view, ctx),
            Message::JoinRequest { term } => {
                let effects = self.election.on_join_request(&from, term);
                self.apply(effects, ctx);
            }
            Message::JoinAck {
                term_seen,
                version,
                lrm,
            } => {
                let late = self.election.is_dc()
                    && !self.election.is_candidate()
                    && term_seen == self.election.term()
                    && !self.joins.contains_key(&from);
                if late {
                    // A member whose join answer came after we took office.
                    self.status(ctx, StatusChange::NodeJoined { node: from.clone() });
                    self.status(
                        ctx,
                        StatusChange::NodeLrm {
                            node: from.clone(),
                            lrm: lrm.clone(),
                        },
                    );
                    self.want_schedule(&format!("node {from} joined late"));
                }
                self.joins.insert(from.clone(), (version, lrm));
                let effects = self.election.on_join_ack(&from, term_seen);
                self.apply(effects, ctx);
            }
            Message::StaleTerm { term_seen } => {
                let effects = self.election.on_stale_term(term_seen);
                self.apply(effects, ctx);
            }
            Message::DcAnnounce { term } => {
                let effects = self.election.on_announce(&from, term);
                self.apply(effects, ctx);
            }
            Message::DcFetchedCib { node, cib } => {
                if let Some(cib) = cib {
                    tracing::info!(%node, "adopting the newest CIB");
                    ctx.send_local("cib", Message::CibAdopt { cib });
                }
                self.rebuild_status(ctx);
            }
            Message::CibChanged if self.election.is_dc() => {
                self.want_schedule("configuration changed");
                if let Some(run) = self.run.as_mut() {
                    run.abort("configuration changed");
                }
                self.finish_if_done();
            }
            Message::Scheduled { plan } => self.start_transition(plan, ctx),
            Message::Error(reason) if envelope.from == *ctx.me() => {
                tracing::error!(%reason, "DC step failed; retrying");
                self.scheduling = false;
                self.want_schedule(&format!("retry after: {reason}"));
            }
            Message::ExecResult {
                transition,
                action,
                node,
                op,
                outcome,
            } => self.on_exec_result(transition, action, node, op, outcome, ctx),
            Message::FenceResult {
                transition,
                action,
                target,
                ok,
                detail,
            } => {
                if self.election.is_dc() {
                    let fence_action = fence_action_of(self.run.as_ref(), action);
                    // Unfencing lets a node in; it does not take it down.
                    let unfencing = fence_action == "on";
                    let record = crate::model::cib_store::FenceRecord {
                        target: target.clone(),
                        action: fence_action,
                        ok,
                        detail: detail.clone(),
                        at_epoch_s: now_epoch_s(),
                    };
                    self.status(ctx, StatusChange::FenceEvent { record });
                    if ok && unfencing {
                        tracing::info!(%target, "node unfenced");
                    } else if ok {
                        tracing::info!(%target, "node fenced");
                        self.status(ctx, StatusChange::NodeFenced { node: target });
                    } else {
                        tracing::error!(%target, %detail, "fencing failed");
                    }
                }
                self.complete(transition, action, ok, &detail, ctx);
            }
            Message::AdminFence { target, action } => {
                if !self.election.is_dc() {
                    ctx.reply(&header, Message::Error("this node is not the DC".into()));
                    return;
                }
                if target == self.shared.node {
                    ctx.reply(
                        &header,
                        Message::Error(format!("{target} is the DC and cannot fence itself; stop it or fence it once another node is DC")),
                    );
                    return;
                }
                let term = self.election.term();
                let router = Arc::clone(ctx.router());
                let me = ctx.me().clone();
                let fencer = ActorRef::new(&self.shared.node, "fence");
                tracing::warn!(%target, %action, from = %from, "fencing asked by an administrator");
                ctx.spawn_reply(&header, async move {
                    let answer = router
                        .request(
                            me.clone(),
                            fencer,
                            Message::Fence {
                                term,
                                target: target.clone(),
                                action,
                            },
                            FENCE_ANSWER_TIMEOUT_MS,
                        )
                        .await;
                    match answer {
                        Ok(Message::FenceDone { target, ok, detail }) => {
                            // Recorded by the DC like any fencing result.
                            let _ = router.send(
                                me.clone(),
                                me,
                                Message::FenceResult {
                                    transition: 0,
                                    action: 0,
                                    target: target.clone(),
                                    ok,
                                    detail: detail.clone(),
                                },
                            );
                            Message::FenceDone { target, ok, detail }
                        }
                        Ok(other) => Message::Error(format!("unexpected answer {other:?}")),
                        Err(error) => Message::Error(error.to_string()),
                    }
                });
            }
            Message::ActionFailed {
                transition,
                action,
                reason,
            } => {
                tracing::warn!(transition, action, %reason, "action failed");
                self.complete(transition, action, false, &reason, ctx);
            }
            _ => {}
        }
    }
}
