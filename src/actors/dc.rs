//! DcActor: the shell around the DC's control loop
//! ([`crate::model::control::controller`]).
//!
//! The decisions are the controller's; this actor only turns its effects
//! into messages (ask a member's executor what it runs, ask the policy
//! actor for a transition, send an operation to an executor or a fencing
//! request to the fencer, record facts through the CIB actor) and turns the
//! answers back into events. On every node it runs; only on the node whose
//! CIB actor says it leads does the controller hold office.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{ActorRef, Envelope, Message, View};
use crate::actors::router::ActorError;
use crate::actors::shared::{now_epoch_s, NodeShared};
use crate::model::cib::change::StatusChange;
use crate::model::control::controller::{Controller, ControllerConfig, Effect, Event};
use crate::model::control::history::TransitionRecord;

fn now_epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
use std::collections::BTreeSet;
use std::sync::Arc;

/// The control loop's clock.
pub const DC_TICK_MS: u64 = 100;
/// Extra time beyond an operation's own timeout before the DC gives up on
/// an executor's answer.
pub const EXEC_ANSWER_MARGIN_MS: u64 = 5_000;
pub const FENCE_ANSWER_TIMEOUT_MS: u64 = 120_000;
pub const SCHEDULE_TIMEOUT_MS: u64 = 60_000;
pub const LRM_ANSWER_TIMEOUT_MS: u64 = 3_000;
pub const RECORD_TIMEOUT_MS: u64 = 10_000;

pub struct DcActor {
    shared: Arc<NodeShared>,
    controller: Controller,
    /// The membership as this actor last saw it.
    view: BTreeSet<String>,
    /// The running transition and when it started (for its duration).
    running_since: Option<(u64, std::time::Instant)>,
    /// Which cluster node hosts each remote node's connection.
    remote_hosts: crate::actors::remote::route::ConnectionHosts,
}

/// Adds the time since `since` to one of the node's duration histograms.
fn record_duration(
    shared: &NodeShared,
    since: std::time::Instant,
    which: fn(
        &mut crate::model::control::histogram::Timings,
    ) -> &mut crate::model::control::histogram::Histogram,
) {
    let elapsed_ms = since.elapsed().as_millis() as u64;
    which(&mut shared.timings.lock().expect("timings lock")).observe(elapsed_ms);
}

impl DcActor {
    pub fn new(shared: Arc<NodeShared>) -> Self {
        let config = ControllerConfig::new(
            &shared.node,
            shared.consensus_settings.heartbeat_timeout_ms,
            crate::scheduler::status::runs_anything_on,
        );
        let since_ms = shared
            .view_since_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        // Transition ids stay unique across restarts of the DC actor.
        let first_transition = now_epoch_s().max(0) as u64 * 1000;
        let mut controller = Controller::new(config, since_ms, first_transition);
        let cib = shared.cib();
        let view = shared.view();
        let members = node_members(&shared, &view);
        controller.handle(Event::View { members }, &cib, shared.uptime_ms());
        DcActor {
            view: view.members.iter().cloned().collect(),
            shared,
            controller,
            running_since: None,
            remote_hosts: Default::default(),
        }
    }

    fn feed(&mut self, event: Event, ctx: &mut CellCtx<'_>) {
        let cib = self.shared.cib();
        let effects = self.controller.handle(event, &cib, self.shared.uptime_ms());
        for effect in effects {
            self.carry_out(effect, ctx);
        }
    }

    fn carry_out(&mut self, effect: Effect, ctx: &mut CellCtx<'_>) {
        match effect {
            Effect::AskLrm { node } => ctx.request_then(
                ActorRef::new(&node, "exec"),
                Message::LrmQuery,
                LRM_ANSWER_TIMEOUT_MS,
                move |answer| Message::DcLrm {
                    node,
                    lrm: match answer {
                        Ok(Message::LrmContent { lrm }) => Some(lrm),
                        _ => None,
                    },
                },
            ),
            Effect::Schedule { term, request } => {
                let cib = (*self.shared.cib()).clone();
                let shared = Arc::clone(&self.shared);
                let asked = std::time::Instant::now();
                ctx.request_then(
                    ActorRef::new(&self.shared.node, "policy"),
                    Message::Schedule {
                        cib,
                        now_epoch_s: now_epoch_s(),
                    },
                    SCHEDULE_TIMEOUT_MS,
                    move |answer| {
                        record_duration(&shared, asked, |t| &mut t.scheduler_ms);
                        let (plan, error) = match answer {
                            Ok(Message::Scheduled { plan }) => (Some(plan), None),
                            Ok(Message::Error(error)) => (None, Some(error)),
                            Ok(other) => (None, Some(format!("unexpected answer {other:?}"))),
                            Err(error) => (None, Some(format!("scheduling failed: {error}"))),
                        };
                        Message::DcScheduled {
                            term,
                            request,
                            plan,
                            error,
                        }
                    },
                );
            }
            Effect::Exec {
                term,
                transition,
                action,
                node,
                op,
            } => {
                self.action_started(transition, action);
                let timeout_ms = op.timeout_ms + EXEC_ANSWER_MARGIN_MS;
                let (executor, remote_node) = self.route(node);
                ctx.request_then(
                    ActorRef::new(&executor, "exec"),
                    Message::ExecOp {
                        term,
                        transition,
                        action,
                        op,
                        remote_node,
                    },
                    timeout_ms,
                    move |answer| match answer {
                        Ok(result @ Message::ExecResult { .. }) => result,
                        other => action_failed(transition, action, other),
                    },
                );
            }
            Effect::Fence {
                term,
                transition,
                action,
                target,
                fence_action,
            } => {
                self.action_started(transition, action);
                let asked = fence_action.clone();
                ctx.request_then(
                    ActorRef::new(&self.shared.node, "fence"),
                    Message::Fence {
                        term,
                        target,
                        action: fence_action,
                    },
                    FENCE_ANSWER_TIMEOUT_MS,
                    move |answer| match answer {
                        Ok(Message::FenceDone { target, ok, detail }) => Message::FenceResult {
                            transition,
                            action,
                            target,
                            fence_action: asked,
                            ok,
                            detail,
                        },
                        other => action_failed(transition, action, other),
                    },
                );
            }
            Effect::Propose { term, changes } => ctx.request_then(
                ActorRef::new(&self.shared.node, "cib"),
                Message::CibPropose { term, changes },
                RECORD_TIMEOUT_MS,
                |answer| {
                    let ok = matches!(answer, Ok(Message::CibProposed { .. }));
                    if !ok {
                        tracing::warn!(?answer, "status facts not recorded");
                    }
                    Message::DcRecorded { ok }
                },
            ),
            Effect::TransitionStarted { id, cause, plan } => {
                tracing::info!(transition = id, actions = plan.actions.len(), summary = ?plan.summary, %cause, "transition started");
                let record = TransitionRecord::new(
                    id,
                    &self.shared.node,
                    &cause,
                    self.shared.cib_version(),
                    now_epoch_s(),
                    &plan,
                );
                self.replicate_transition(record.clone(), ctx);
                self.running_since = Some((id, std::time::Instant::now()));
                self.shared
                    .history
                    .lock()
                    .expect("history lock")
                    .push(record);
            }
            Effect::ActionRecorded {
                transition,
                action,
                result,
                rc,
            } => self
                .shared
                .history
                .lock()
                .expect("history lock")
                .record_action(transition, action, &result, rc, now_epoch_ms()),
            Effect::TransitionFinished { id, outcome } => {
                tracing::info!(transition = id, %outcome, "transition finished");
                if let Some((_, since)) = self.running_since.take().filter(|(t, _)| *t == id) {
                    record_duration(&self.shared, since, |t| &mut t.transition_ms);
                }
                let record = {
                    let mut history = self.shared.history.lock().expect("history lock");
                    history.finish(id, &outcome);
                    history.get(id).cloned()
                };
                if let Some(record) = record {
                    self.replicate_transition(record, ctx);
                }
            }
            Effect::SchedulerError(error) => {
                match &error {
                    Some(error) => {
                        tracing::error!(%error, "the scheduler failed; keeping the last state and retrying")
                    }
                    None => tracing::info!("the scheduler works again"),
                }
                self.shared
                    .consensus
                    .write()
                    .expect("consensus lock")
                    .scheduler_error = error;
            }
        }
    }

    /// Ids after every one in the replicated history (and at least this
    /// millisecond's), so two DCs never share a transition id.
    fn continue_transition_ids(&mut self) {
        let last = self
            .shared
            .transitions
            .read()
            .expect("transitions lock")
            .last_id()
            .unwrap_or(0);
        let now_ms = now_epoch_ms().max(0) as u64;
        self.controller
            .number_transitions_from(now_ms.max(last + 1));
    }

    fn action_started(&self, transition: u64, action: u32) {
        self.shared
            .history
            .lock()
            .expect("history lock")
            .action_started(transition, action, now_epoch_ms());
    }

    /// Records a transition in the replicated state, for every node's
    /// history (at its start and at its end). Best effort: a record lost
    /// in a change of DC leaves the history a transition short, nothing else.
    fn replicate_transition(&self, record: TransitionRecord, ctx: &mut CellCtx<'_>) {
        let Some(term) = self.controller.term() else {
            return;
        };
        let id = record.id;
        ctx.request_then(
            ActorRef::new(&self.shared.node, "cib"),
            Message::CibPropose {
                term,
                changes: vec![StatusChange::Transition { record }],
            },
            RECORD_TIMEOUT_MS,
            move |answer| {
                if !matches!(answer, Ok(Message::CibProposed { .. })) {
                    tracing::debug!(
                        transition = id,
                        ?answer,
                        "transition not recorded for the history"
                    );
                }
                Message::Ok
            },
        );
    }

    /// The executor an operation on `node` goes to: the node itself, or for
    /// a remote node the cluster node hosting its connection (an unknown
    /// host: the remote node's name, which fails as unreachable).
    fn route(&mut self, node: String) -> (String, Option<String>) {
        if self.view.contains(&node) {
            return (node, None);
        }
        match self.remote_hosts.host(&node, &self.shared.cib()) {
            Some(host) => (host, Some(node)),
            None => (node, None),
        }
    }

    fn on_view(&mut self, view: View, ctx: &mut CellCtx<'_>) {
        for node in &self.view {
            if !view.members.contains(node) {
                ctx.router().fail_pending_to(node);
                self.remote_hosts.forget_host(node);
            }
        }
        self.view = view.members.iter().cloned().collect();
        let members = node_members(&self.shared, &view);
        self.feed(Event::View { members }, ctx);
    }

    fn admin_fence(
        &mut self,
        request: &Envelope,
        target: String,
        action: String,
        ctx: &mut CellCtx<'_>,
    ) {
        let Some(term) = self.controller.term() else {
            ctx.reply(request, Message::Error("this node is not the DC".into()));
            return;
        };
        if target == self.shared.node {
            ctx.reply(
                request,
                Message::Error(format!("{target} is the DC and cannot fence itself; stop it or fence it once another node is DC")),
            );
            return;
        }
        let router = Arc::clone(ctx.router());
        let me = ctx.me().clone();
        let fencer = ActorRef::new(&self.shared.node, "fence");
        tracing::warn!(%target, %action, from = %request.from, "fencing asked by an administrator");
        ctx.spawn_reply(request, async move {
            let asked = action.clone();
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
                            fence_action: asked,
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
}

/// The view's members that may run resources (members of the
/// consensus that are nodes): the controller's membership.
fn node_members(shared: &NodeShared, view: &View) -> BTreeSet<String> {
    let members = shared.consensus_info().members;
    view.members
        .iter()
        .filter(|m| members.by_name(m).is_some_and(|m| m.role.runs_resources()))
        .cloned()
        .collect()
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

impl Behaviour for DcActor {
    fn started(&mut self, ctx: &mut CellCtx<'_>) {
        ctx.run_every(DC_TICK_MS, Message::Tick);
        let dc_term = {
            let info = self.shared.dc_info();
            info.ready.then_some(info.term)
        };
        self.continue_transition_ids();
        self.feed(Event::Leadership { dc_term }, ctx);
    }

    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        let header = envelope.header();
        let event = match envelope.body {
            Message::Tick => {
                // The member table may have changed the view's meaning.
                let members = node_members(&self.shared, &self.shared.view());
                self.feed(Event::View { members }, ctx);
                Event::Tick
            }
            Message::ViewChanged(view) => {
                self.on_view(view, ctx);
                return;
            }
            Message::Leadership { dc_term } => {
                self.continue_transition_ids();
                Event::Leadership { dc_term }
            }
            Message::CibClientChange => Event::ClientChange,
            Message::DcRecorded { ok } => Event::StatusRecorded { ok },
            Message::DcLrm { node, lrm } => Event::LrmReport { node, lrm },
            Message::DcScheduled {
                term,
                request,
                plan,
                error,
            } => Event::Scheduled {
                term,
                request,
                result: plan.ok_or_else(|| error.unwrap_or_else(|| "no plan".into())),
            },
            Message::ExecResult {
                transition,
                action,
                node,
                op,
                outcome,
            } => {
                self.remote_hosts.learn(&node, &op, &outcome);
                Event::ExecResult {
                    transition,
                    action,
                    node,
                    op,
                    outcome,
                }
            }
            Message::FenceResult {
                transition,
                action,
                target,
                fence_action,
                ok,
                detail,
            } => {
                if ok {
                    tracing::info!(%target, %fence_action, "fencing done");
                } else {
                    tracing::error!(%target, %detail, "fencing failed");
                }
                Event::FenceResult {
                    transition,
                    action,
                    target,
                    fence_action,
                    ok,
                    detail,
                    at_epoch_s: now_epoch_s(),
                }
            }
            Message::ActionFailed {
                transition,
                action,
                reason,
            } => {
                tracing::warn!(transition, action, %reason, "action failed");
                Event::ActionFailed {
                    transition,
                    action,
                    reason,
                }
            }
            Message::AdminFence { target, action } => {
                self.admin_fence(&header, target, action, ctx);
                return;
            }
            Message::Error(reason) if envelope.from == *ctx.me() => {
                tracing::error!(%reason, "a DC task failed");
                return;
            }
            _ => return,
        };
        self.feed(event, ctx);
    }
}
