//! ExecActor: runs the DC's resource operations on this node, and the
//! recurring monitors, and keeps this node's operation history.
//!
//! Commands are obeyed only from the DC of the current term: a stale DC's
//! commands are refused. Agents run as child processes off the actor
//! (`crate::agent`); the recurring monitors live in a manager that outlives
//! this actor's restarts, so a crash of the actor neither stops a monitor nor
//! touches a running resource.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{
    ActorRef, DcNote, Envelope, ExecError, ExecNote, ExecOp, ExecRequest, ExecResult, LrmQuery,
    Message,
};
use crate::actors::shared::{now_epoch_s, NodeShared};
use crate::agent::ocf::{OcfAction, OcfOutcome, OcfRc, OcfRequest};
use crate::agent::run_resource;
use crate::model::cib::alerts::AlertEvent;
use crate::model::cib::operation::{OpKind, OpOutcome, OpSpec, OpStatus};
use crate::model::cib::store;
use std::sync::Arc;

pub struct ExecActor {
    shared: Arc<NodeShared>,
}

impl ExecActor {
    pub fn new(shared: Arc<NodeShared>) -> Self {
        ExecActor { shared }
    }
}

/// Converts the agent runner's outcome into the cluster's.
pub fn outcome_from_agent(outcome: &OcfOutcome, call_id: u64) -> OpOutcome {
    use crate::agent::ocf::OpStatus as Ran;
    let status = match outcome.status {
        Ran::Done => OpStatus::Done,
        Ran::NotInstalled => OpStatus::NotInstalled,
        Ran::TimedOut => OpStatus::TimedOut,
        Ran::Error => OpStatus::Error,
    };
    let mut output = String::new();
    for text in [
        outcome.note.clone(),
        outcome.exit_reason.clone(),
        Some(outcome.stderr.text.clone()),
    ]
    .into_iter()
    .flatten()
    {
        let text = text.trim().to_string();
        if !text.is_empty() {
            if !output.is_empty() {
                output.push_str("; ");
            }
            output.push_str(&text);
        }
    }
    let exit_reason = match (&outcome.exit_reason, &outcome.note) {
        (Some(reason), _) => reason.clone(),
        (None, Some(note)) if !outcome.is_success() => note.clone(),
        _ => String::new(),
    };
    OpOutcome {
        rc: outcome.rc.code(),
        status,
        output,
        exec_ms: outcome.duration_ms,
        ended_epoch_s: now_epoch_s(),
        call_id,
        exit_reason,
    }
}

fn request_for(shared: &NodeShared, op: &OpSpec, action: OcfAction) -> OcfRequest {
    let mut request = OcfRequest::new(
        Arc::clone(&shared.agent_config),
        op.agent.provider.as_deref().unwrap_or_default(),
        &op.agent.kind,
        &op.resource,
        action,
    )
    .with_timeout_ms(op.timeout_ms)
    .with_interval_ms(op.interval_ms);
    request.class = op.agent.class.clone();
    request.params = op.params.clone();
    request.meta = agent_meta(op).collect();
    request
}

/// An operation's meta attributes as the agent gets them (each becomes
/// `OCF_RESKEY_CRM_meta_<name>`): names come without the prefix, as the
/// scheduler gives them (`clone_max`, `notify_type`, ...); a prefixed one is
/// accepted too.
fn agent_meta(op: &OpSpec) -> impl Iterator<Item = (String, String)> + '_ {
    op.meta.iter().map(|(k, v)| {
        let k = k.strip_prefix("CRM_meta_").unwrap_or(k);
        (k.to_string(), v.clone())
    })
}

/// What a monitor of this op must return when all is well.
fn expected_monitor_rc(op: &OpSpec) -> OcfRc {
    match op.meta.get("role").map(String::as_str) {
        Some("Promoted") | Some("Master") => OcfRc::RunningPromoted,
        _ => OcfRc::Success,
    }
}

/// Cancels every recurring monitor of a resource and forgets them.
async fn stop_monitors(shared: &NodeShared, resource: &str) {
    shared
        .recurring
        .lock()
        .await
        .cancel_resource(resource)
        .await;
    shared.forget_recurring(resource);
}

/// Runs one operation to its end (the recurring part is started here too).
pub async fn execute(shared: Arc<NodeShared>, op: OpSpec) -> OpOutcome {
    let call_id = shared.next_call_id();
    if op.agent.is_remote_connection() {
        if matches!(op.operation, OpKind::Cancel | OpKind::Delete) {
            shared.remote_links.forget_monitor(&op.resource);
        }
        if !op.operation.is_bookkeeping() {
            return crate::actors::remote::link::connection_op(&shared, &op, call_id).await;
        }
    }
    // An answer given without running anything.
    let at_once = |rc: OcfRc, status: OpStatus, output: String| OpOutcome {
        rc: rc.code(),
        status,
        exit_reason: if rc == OcfRc::Success {
            String::new()
        } else {
            output.clone()
        },
        output,
        exec_ms: 0,
        ended_epoch_s: now_epoch_s(),
        call_id,
    };
    if executor_bookkeeping(&shared, &op).await {
        return at_once(OcfRc::Success, OpStatus::Done, String::new());
    }
    // What is not bookkeeping is the agent's to run, whatever its name: an
    // agent that does not implement it answers 3 (unimplemented).
    let action = op.operation.clone();
    let is_device = op.agent.is_fence_device();
    if is_device {
        if let Some(outcome) = fence_device_bookkeeping(&shared, &op, &action) {
            return at_once(outcome, OpStatus::Done, String::new());
        }
    }
    if !is_device && !crate::agent::RESOURCE_CLASSES.contains(&op.agent.class) {
        // Not "unsupported": a probe of a class this node cannot run must
        // say "not installed" (kept off this node), never a failure that
        // calls for a stop and then fencing.
        return not_installed(
            &op,
            call_id,
            format!(
                "agent class {} cannot run on this node (classes here: {}, stonith)",
                op.agent.class,
                crate::agent::resource_classes_text()
            ),
        );
    }
    run_agent(&shared, &op, action, is_device, call_id).await
}

/// Runs the agent's `action`; keeps the monitors and fence devices in step.
async fn run_agent(
    shared: &Arc<NodeShared>,
    op: &OpSpec,
    action: OcfAction,
    is_device: bool,
    call_id: u64,
) -> OpOutcome {
    if action == OcfAction::Stop || action == OcfAction::Demote || action == OcfAction::Promote {
        stop_monitors(shared, &op.resource).await;
    }
    let request = request_for(shared, op, action.clone());
    let ran = run_resource(&request).await;
    if ran.status == crate::agent::ocf::OpStatus::NotInstalled {
        return not_installed(op, call_id, ran.note.clone().unwrap_or_default());
    }
    let outcome = outcome_from_agent(&ran, call_id);
    if is_device && action == OcfAction::Start && !ran.is_success() {
        let mut devices = shared.fence_devices.lock().expect("devices lock");
        devices.remove(&op.resource);
    }
    if op.interval_ms > 0
        && action == OcfAction::Monitor
        && outcome.rc == expected_monitor_rc(op).code()
    {
        shared.remember_recurring(op);
        let mut manager = shared.recurring.lock().await;
        if let Err(error) = manager.start(request, expected_monitor_rc(op)) {
            tracing::error!(%error, resource = %op.resource, "recurring monitor not started");
        }
    }
    outcome
}

/// Operations on the executor's bookkeeping, not the agent's; true when
/// `op` was one (done, nothing to run).
async fn executor_bookkeeping(shared: &NodeShared, op: &OpSpec) -> bool {
    match op.operation {
        OpKind::Cancel => {
            shared
                .recurring
                .lock()
                .await
                .cancel(&op.resource, op.interval_ms)
                .await;
            shared.forget_recurring_one(&op.resource, op.interval_ms);
            true
        }
        OpKind::Delete => {
            stop_monitors(shared, &op.resource).await;
            true
        }
        OpKind::ClearFailcount => true,
        // Everything else is for an agent to run (or refuse).
        _ => false,
    }
}

/// The answer for an agent this node cannot run, as Pacemaker's executor
/// gives it: "not installed" (rc 5, op-status 7), which the scheduler reads
/// as "cannot run here, is not running here". A stop (or demote) of it
/// succeeds: what cannot run here is not running here, and a failed stop
/// would call for fencing a healthy node.
pub fn not_installed(op: &OpSpec, call_id: u64, note: String) -> OpOutcome {
    let harmless = matches!(op.operation, OpKind::Stop | OpKind::Demote | OpKind::Cancel);
    let output = format!("not installed: {note}");
    OpOutcome {
        rc: if harmless {
            0
        } else {
            OcfRc::NotInstalled.code()
        },
        status: if harmless {
            OpStatus::Done
        } else {
            OpStatus::NotInstalled
        },
        exit_reason: if harmless {
            String::new()
        } else {
            output.clone()
        },
        output,
        exec_ms: 0,
        ended_epoch_s: now_epoch_s(),
        call_id,
    }
}

/// Fence devices are "started" by registering them on this node (the
/// fencer uses them from the CIB); their monitors run the agent's
/// `monitor`. The answer, when no agent needs to run: a stop, or a probe
/// of a device not registered here.
fn fence_device_bookkeeping(shared: &NodeShared, op: &OpSpec, action: &OcfAction) -> Option<OcfRc> {
    let mut devices = shared.fence_devices.lock().expect("devices lock");
    match action {
        OcfAction::Start => {
            devices.insert(op.resource.clone());
            None
        }
        OcfAction::Stop => {
            devices.remove(&op.resource);
            Some(OcfRc::Success)
        }
        OcfAction::Monitor if !devices.contains(&op.resource) => Some(OcfRc::NotRunning),
        // Everything else runs the device's agent (a monitor of a
        // registered device, meta-data, ...) or is refused below.
        _ => None,
    }
}

impl ExecActor {
    /// Runs a DC's operation here, or over the link for a remote node this
    /// node hosts; answers with its result.
    fn run(&self, envelope: &Envelope, request: &ExecOp, ctx: &CellCtx<'_>) {
        if let Err(refusal) = self
            .shared
            .check_dc_command(&envelope.from.node, request.term)
        {
            tracing::warn!(from = %envelope.from, term = request.term, "{refusal}");
            ctx.refuse(envelope, ExecError::NotFromDc(refusal));
            return;
        }
        let ExecOp {
            transition,
            action,
            op,
            remote_node,
            ..
        } = request.clone();
        let shared = Arc::clone(&self.shared);
        if let Some(remote) = remote_node.filter(|n| *n != self.shared.node) {
            // Hosted here: over the link, recorded as the remote node's.
            ctx.spawn_answer::<ExecOp, _>(envelope, async move {
                let outcome = crate::actors::remote::link::exec_on(&shared, &remote, op.clone())
                    .await
                    .map_err(ExecError::Remote)?;
                Ok(ExecResult {
                    transition,
                    action,
                    node: remote,
                    op,
                    outcome,
                })
            });
            return;
        }
        let key = format!("{action}:{transition}:{}:systole", op.expected_rc());
        ctx.spawn_answer::<ExecOp, _>(envelope, async move {
            let outcome = execute(Arc::clone(&shared), op.clone()).await;
            shared.record_local(&op, &outcome, &key);
            Ok(ExecResult {
                transition,
                action,
                node: shared.node.clone(),
                op,
                outcome,
            })
        });
    }

    /// A recurring monitor's result changed: recorded here, and the DC told.
    fn recurring_result(&self, op: &OpSpec, outcome: &OpOutcome, ctx: &CellCtx<'_>) {
        self.shared.record_local(op, outcome, "0:0:0:systole");
        if let Some(dc) = self.shared.dc_info().dc {
            ctx.send(
                ActorRef::new(&dc, "dc"),
                Message::DcNote(DcNote::ExecResult(ExecResult {
                    transition: 0,
                    action: 0,
                    node: self.shared.node.clone(),
                    op: op.clone(),
                    outcome: outcome.clone(),
                })),
            );
        }
    }
}

impl Behaviour for ExecActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        match &envelope.body {
            Message::Exec(ExecRequest::Op(request)) => self.run(&envelope, request, ctx),
            Message::ExecNote(ExecNote::RecurringResult { op, outcome }) => {
                self.recurring_result(op, outcome, ctx)
            }
            Message::Exec(ExecRequest::Lrm(LrmQuery)) => {
                ctx.answer::<LrmQuery>(&envelope, Ok(self.shared.lrm()))
            }
            // No clock of its own: recurring monitors run in the manager.
            other => tracing::debug!(?other, "exec: ignored"),
        }
    }
}

impl NodeShared {
    /// Writes a result into this node's own operation history.
    pub fn record_local(&self, op: &OpSpec, outcome: &OpOutcome, transition_key: &str) {
        {
            let mut history = self.lrm_history.lock().expect("lrm lock");
            store::record_op(&mut history, &self.node, op, outcome, transition_key);
        }
        // The executor's own bookkeeping is no resource event.
        if !op.operation.is_bookkeeping() {
            self.raise_alert(AlertEvent::Resource {
                node: self.node.clone(),
                resource: op.resource.clone(),
                task: op.operation.clone(),
                interval_ms: op.interval_ms,
                target_rc: op.expected_rc(),
                status: outcome.status.code(),
                rc: outcome.rc,
                exec_ms: outcome.exec_ms,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_meta_reaches_the_agent_without_or_with_prefix() {
        let mut meta = std::collections::BTreeMap::new();
        meta.insert("notify_type".to_string(), "pre".to_string());
        meta.insert("notify_operation".to_string(), "start".to_string());
        meta.insert("CRM_meta_clone_max".to_string(), "2".to_string());
        let op = OpSpec {
            resource: "db".into(),
            agent: crate::model::cib::operation::AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("heartbeat".into()),
                kind: "Dummy".into(),
            },
            operation: "notify".into(),
            interval_ms: 0,
            timeout_ms: 20_000,
            params: Default::default(),
            meta,
        };
        let got: std::collections::BTreeMap<String, String> = agent_meta(&op).collect();
        assert_eq!(got["notify_type"], "pre");
        assert_eq!(got["notify_operation"], "start");
        assert_eq!(got["clone_max"], "2");
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn an_agent_that_cannot_run_is_not_installed_and_its_stop_harmless() {
        let mut op = OpSpec {
            resource: "s1".into(),
            agent: crate::model::cib::operation::AgentSpec {
                class: crate::model::cib::ResourceClass::Systemd,
                provider: None,
                kind: "nginx".into(),
            },
            operation: "monitor".into(),
            interval_ms: 0,
            timeout_ms: 20_000,
            params: Default::default(),
            meta: Default::default(),
        };
        let probe = not_installed(&op, 1, "no systemd here".into());
        assert_eq!((probe.rc, probe.status.code()), (5, 7));
        assert!(probe.output.contains("not installed"));
        // The scheduler reads it as "stopped, kept off this node".
        assert!(crate::model::cib::store::is_failure(&op, &probe));
        op.operation = "stop".into();
        let stop = not_installed(&op, 2, String::new());
        assert!(stop.succeeded_as(0), "{stop:?}");
        op.operation = "start".into();
        assert_eq!(not_installed(&op, 3, String::new()).rc, 5);
    }

    /// `reload-agent` and actions an agent defines for itself are the
    /// agent's to run: Systole's Dummy reloads, heartbeat's Dummy (which
    /// has no reload-agent) and an action no agent here knows answer 3,
    /// "unimplemented", as the agent's own answer.
    #[tokio::test]
    async fn any_action_but_bookkeeping_runs_through_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let agents_dir = dir.path().join("agents");
        crate::agent::install_agents(&agents_dir).unwrap();
        let config = crate::agent::AgentConfig {
            agents_dir,
            state_dir: dir.path().join("agent-state"),
            ..Default::default()
        };
        let shared = Arc::new(NodeShared::new(
            "n1",
            "c1",
            dir.path().join("node"),
            config,
            Default::default(),
        ));
        let run = |provider: &str, operation: &str| {
            let agent = crate::model::cib::AgentSpec::parse(&format!("ocf:{provider}:Dummy"));
            let op = OpSpec::new("d1", agent.unwrap(), OpKind::parse(operation));
            execute(Arc::clone(&shared), op)
        };
        let answer = |outcome: OpOutcome| (outcome.rc, outcome.status);
        let done = |rc: OcfRc| (rc.code(), OpStatus::Done);
        assert_eq!(answer(run("systole", "start").await), done(OcfRc::Success));
        assert_eq!(
            answer(run("systole", "reload-agent").await),
            done(OcfRc::Success)
        );
        assert_eq!(
            answer(run("systole", "rotate-keys").await),
            done(OcfRc::Unimplemented)
        );
        assert_eq!(
            answer(run("heartbeat", "reload-agent").await),
            done(OcfRc::Unimplemented)
        );
        assert_eq!(answer(run("systole", "stop").await), done(OcfRc::Success));
    }
}
