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
use crate::actors::message::{
    ActorRef, AdminFence, CibPropose, DcError, DcNote, DcRequest, Envelope, ExecOp, Fence, Fenced,
    LrmQuery, Message, Plan, Schedule, View,
};
use crate::actors::router::ActorError;
use crate::actors::shared::{now_epoch_s, NodeShared};
use crate::agent::fence::FenceAction;
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
            Effect::AskLrm { node } => ctx.ask_then(
                ActorRef::new(&node, "exec"),
                LrmQuery,
                LRM_ANSWER_TIMEOUT_MS,
                move |answer| {
                    let lrm = answer.ok();
                    Some(Message::DcNote(DcNote::Lrm { node, lrm }))
                },
            ),
            Effect::Schedule { term, request } => self.schedule(term, request, ctx),
            Effect::Exec {
                term,
                transition,
                action,
                node,
                op,
            } => self.exec(term, transition, action, node, op, ctx),
            Effect::Fence {
                term,
                transition,
                action,
                target,
                fence_action,
            } => self.fence(term, transition, action, target, &fence_action, ctx),
            Effect::Propose { term, changes } => ctx.ask_then(
                ActorRef::new(&self.shared.node, "cib"),
                CibPropose { term, changes },
                RECORD_TIMEOUT_MS,
                |answer| {
                    if let Err(error) = &answer {
                        tracing::warn!(%error, "status facts not recorded");
                    }
                    let ok = answer.is_ok();
                    Some(Message::DcNote(DcNote::Recorded { ok }))
                },
            ),
            Effect::TransitionStarted { id, cause, plan } => {
                self.transition_started(id, &cause, &plan, ctx)
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
                self.transition_finished(id, &outcome, ctx)
            }
            Effect::SchedulerError(error) => self.scheduler_error(error),
        }
    }

    /// Asks the policy actor for a transition of the CIB as it is now.
    fn schedule(&mut self, term: u64, request: u64, ctx: &mut CellCtx<'_>) {
        let cib = (*self.shared.cib()).clone();
        let shared = Arc::clone(&self.shared);
        let asked = std::time::Instant::now();
        ctx.ask_then(
            ActorRef::new(&self.shared.node, "policy"),
            Schedule {
                cib,
                now_epoch_s: now_epoch_s(),
            },
            SCHEDULE_TIMEOUT_MS,
            move |answer| {
                record_duration(&shared, asked, |t| &mut t.scheduler_ms);
                let result = answer.map_err(|error| match error {
                    // The scheduler's own words, as the controller shows them.
                    ActorError::Failed(_, failure) => failure.to_string(),
                    error => format!("scheduling failed: {error}"),
                });
                Some(Message::DcNote(DcNote::Scheduled {
                    term,
                    request,
                    result,
                }))
            },
        );
    }

    /// Sends an operation to the executor that runs it.
    fn exec(
        &mut self,
        term: u64,
        transition: u64,
        action: u32,
        node: String,
        op: crate::model::cib::operation::OpSpec,
        ctx: &mut CellCtx<'_>,
    ) {
        self.action_started(transition, action);
        let timeout_ms = op.timeout_ms + EXEC_ANSWER_MARGIN_MS;
        let (executor, remote_node) = self.route(node);
        ctx.ask_then(
            ActorRef::new(&executor, "exec"),
            ExecOp {
                term,
                transition,
                action,
                op,
                remote_node,
            },
            timeout_ms,
            move |answer| {
                Some(match answer {
                    Ok(result) => Message::DcNote(DcNote::ExecResult(result)),
                    Err(error) => action_failed(transition, action, error.to_string()),
                })
            },
        );
    }

    /// Asks this node's fencer to carry out a transition's fencing action.
    fn fence(
        &mut self,
        term: u64,
        transition: u64,
        action: u32,
        target: String,
        fence_action: &str,
        ctx: &mut CellCtx<'_>,
    ) {
        self.action_started(transition, action);
        // The scheduler names only actions the fencer knows; anything else
        // fails this action rather than fencing some other way.
        let Some(fence_action) = FenceAction::parse(fence_action) else {
            let reason = format!("unknown fence action {fence_action}");
            ctx.send(ctx.me().clone(), action_failed(transition, action, reason));
            return;
        };
        ctx.ask_then(
            ActorRef::new(&self.shared.node, "fence"),
            Fence {
                term,
                target,
                action: fence_action,
            },
            FENCE_ANSWER_TIMEOUT_MS,
            move |answer| {
                Some(match answer {
                    Ok(fenced) => Message::DcNote(DcNote::FenceResult {
                        transition,
                        action,
                        fence_action,
                        fenced,
                    }),
                    Err(error) => action_failed(transition, action, error.to_string()),
                })
            },
        );
    }

    fn transition_started(&mut self, id: u64, cause: &str, plan: &Plan, ctx: &mut CellCtx<'_>) {
        tracing::info!(transition = id, actions = plan.actions.len(), summary = ?plan.summary, %cause, "transition started");
        let record = TransitionRecord::new(
            id,
            &self.shared.node,
            cause,
            self.shared.cib_version(),
            now_epoch_s(),
            plan,
        );
        self.replicate_transition(record.clone(), ctx);
        self.running_since = Some((id, std::time::Instant::now()));
        self.shared
            .history
            .lock()
            .expect("history lock")
            .push(record);
    }

    fn transition_finished(&mut self, id: u64, outcome: &str, ctx: &mut CellCtx<'_>) {
        tracing::info!(transition = id, %outcome, "transition finished");
        if let Some((_, since)) = self.running_since.take().filter(|(t, _)| *t == id) {
            record_duration(&self.shared, since, |t| &mut t.transition_ms);
        }
        let record = {
            let mut history = self.shared.history.lock().expect("history lock");
            history.finish(id, outcome);
            history.get(id).cloned()
        };
        if let Some(record) = record {
            self.replicate_transition(record, ctx);
        }
    }

    fn scheduler_error(&self, error: Option<String>) {
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
        ctx.ask_then(
            ActorRef::new(&self.shared.node, "cib"),
            CibPropose {
                term,
                changes: vec![StatusChange::Transition { record }],
            },
            RECORD_TIMEOUT_MS,
            move |answer| {
                if let Err(error) = answer {
                    tracing::debug!(transition = id, %error, "transition not recorded for the history");
                }
                None
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

    /// `systole fence`: fences through this node's fencer, records the
    /// result like any fencing, and answers the administrator.
    fn admin_fence(&mut self, request: &Envelope, asked: AdminFence, ctx: &mut CellCtx<'_>) {
        let Some(term) = self.controller.term() else {
            ctx.refuse(request, DcError::NotDc);
            return;
        };
        let AdminFence { target, action } = asked;
        if target == self.shared.node {
            ctx.refuse(request, DcError::FenceSelf(target));
            return;
        }
        let router = Arc::clone(ctx.router());
        let me = ctx.me().clone();
        let fencer = ActorRef::new(&self.shared.node, "fence");
        tracing::warn!(%target, %action, from = %request.from, "fencing asked by an administrator");
        ctx.spawn_answer::<AdminFence, _>(request, async move {
            let fence = Fence {
                term,
                target,
                action,
            };
            let fenced = router
                .ask(me.clone(), fencer, fence, FENCE_ANSWER_TIMEOUT_MS)
                .await?;
            // Recorded by the DC like any fencing result.
            let note = DcNote::FenceResult {
                transition: 0,
                action: 0,
                fence_action: action,
                fenced: fenced.clone(),
            };
            let _ = router.send(me.clone(), me, Message::DcNote(note));
            Ok(fenced)
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

/// The DC's note to itself that an action could not be carried out.
fn action_failed(transition: u64, action: u32, reason: String) -> Message {
    Message::DcNote(DcNote::ActionFailed {
        transition,
        action,
        reason,
    })
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
            Message::DcNote(note) => self.event_of(note),
            Message::Dc(DcRequest::AdminFence(asked)) => {
                self.admin_fence(&header, asked, ctx);
                return;
            }
            other => {
                tracing::debug!(?other, "dc: ignored");
                return;
            }
        };
        self.feed(event, ctx);
    }
}

impl DcActor {
    /// The controller's event for a note.
    fn event_of(&mut self, note: DcNote) -> Event {
        match note {
            DcNote::Leadership { dc_term } => {
                self.continue_transition_ids();
                Event::Leadership { dc_term }
            }
            DcNote::ClientChange => Event::ClientChange,
            DcNote::Recorded { ok } => Event::StatusRecorded { ok },
            DcNote::Lrm { node, lrm } => Event::LrmReport { node, lrm },
            DcNote::Scheduled {
                term,
                request,
                result,
            } => Event::Scheduled {
                term,
                request,
                result,
            },
            DcNote::ExecResult(result) => {
                self.remote_hosts
                    .learn(&result.node, &result.op, &result.outcome);
                Event::ExecResult {
                    transition: result.transition,
                    action: result.action,
                    node: result.node,
                    op: result.op,
                    outcome: result.outcome,
                }
            }
            DcNote::FenceResult {
                transition,
                action,
                fence_action,
                fenced: Fenced { target, ok, detail },
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
                    fence_action: fence_action.to_string(),
                    ok,
                    detail,
                    at_epoch_s: now_epoch_s(),
                }
            }
            DcNote::ActionFailed {
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
        }
    }
}
