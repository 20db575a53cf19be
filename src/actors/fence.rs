//! FenceActor: shuts a node out by running fence devices against it.
//!
//! Devices are the CIB's `stonith` primitives; `fencing-topology` levels, if
//! any, say which devices to try for a target and in what order (a level
//! succeeds when all its devices do; the first level that succeeds ends it).
//! Without topology every device that can fence the target is tried in
//! turn, in configuration order: which can is decided by its
//! `pcmk_host_list`, `pcmk_host_map` and `pcmk_host_check`
//! ([`crate::model::cib::fencing`]), running the agent's `list` or `status` when
//! the check is dynamic. The agent gets the target's port from
//! `pcmk_host_map` and never the fencer's own `pcmk_*` parameters. Only the
//! DC of the current term may ask, and every attempt goes into the fencing
//! history.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{self, Envelope, Fence, FenceError, Fenced, Message, TwoNodeFence};
use crate::actors::shared::NodeShared;
use crate::agent::fence::{is_fencer_parameter, run_fence, FenceAction, FenceRequest};
use crate::agent::AgentConfig;
use crate::model::cib::fencing::{
    devices, has_topology_for, levels_for, DeviceTargets, FenceDevice, HostCheck,
};
use std::sync::Arc;

/// Default time one fence device gets.
pub const FENCE_DEVICE_TIMEOUT_MS: u64 = 60_000;

pub struct FenceActor {
    shared: Arc<NodeShared>,
}

impl FenceActor {
    pub fn new(shared: Arc<NodeShared>) -> Self {
        FenceActor { shared }
    }
}

/// A request to run `action` of `device` against `target`.
fn device_request(
    config: &Arc<AgentConfig>,
    device: &FenceDevice,
    targets: &DeviceTargets,
    action: FenceAction,
    target: &str,
) -> FenceRequest {
    let mut request = FenceRequest::new(Arc::clone(config), &device.agent, action)
        .with_target(target)
        .with_port(&targets.port_for(target))
        .with_port_argument(targets.host_argument.as_deref())
        .with_timeout_ms(FENCE_DEVICE_TIMEOUT_MS);
    for (name, value) in device
        .params
        .iter()
        .filter(|(n, _)| !is_fencer_parameter(n))
    {
        request = request.with_param(name, value);
    }
    request
}

/// Whether `device` can fence `target`, and if not, why.
async fn can_fence(
    config: &Arc<AgentConfig>,
    device: &FenceDevice,
    target: &str,
) -> Result<(), String> {
    let targets = DeviceTargets::from_params(&device.params)?;
    let check =
        if targets.check.is_some() || !targets.host_list.is_empty() || !targets.host_map.is_empty()
        {
            targets.effective_check(false, false)
        } else {
            let meta = run_fence(&device_request(
                config,
                device,
                &targets,
                FenceAction::Metadata,
                target,
            ))
            .await;
            let parsed = crate::agent::metadata::parse(&device.agent, &meta.stdout.text).ok();
            let supports = |a: &str| parsed.as_ref().is_some_and(|m| m.supports(a));
            targets.effective_check(supports("list"), supports("status"))
        };
    match check {
        HostCheck::None => Ok(()),
        HostCheck::StaticList if targets.statically_lists(target) => Ok(()),
        HostCheck::StaticList => Err("not in its pcmk_host_list or pcmk_host_map".into()),
        HostCheck::DynamicList => {
            let list = run_fence(&device_request(
                config,
                device,
                &targets,
                FenceAction::List,
                target,
            ))
            .await;
            if !list.succeeded() {
                return Err(format!("its list action failed ({list})"));
            }
            if targets.listed_in(target, &list.stdout.text) {
                Ok(())
            } else {
                Err("not in the list its agent printed".into())
            }
        }
        HostCheck::Status => {
            let status = run_fence(&device_request(
                config,
                device,
                &targets,
                FenceAction::Status,
                target,
            ))
            .await;
            match (status.status, status.rc) {
                (crate::agent::ocf::OpStatus::Done, 0 | 2) => Ok(()),
                _ => Err(format!("its status action does not know it ({status})")),
            }
        }
    }
}

/// The levels to try for `target`: its topology, or else each device that
/// can fence it; plus a note on the devices that cannot.
async fn plan_for(shared: &NodeShared, target: &str) -> (Vec<Vec<FenceDevice>>, Vec<String>) {
    let cib = shared.cib();
    let now_epoch_s = crate::actors::shared::now_epoch_s();
    if has_topology_for(&cib, target, now_epoch_s) {
        return (levels_for(&cib, target, now_epoch_s), Vec::new());
    }
    let mut levels = Vec::new();
    let mut skipped = Vec::new();
    for device in devices(&cib, now_epoch_s) {
        match can_fence(&shared.agent_config, &device, target).await {
            Ok(()) => levels.push(vec![device]),
            Err(why) => skipped.push(format!("{} cannot fence {target}: {why}", device.id)),
        }
    }
    (levels, skipped)
}

/// Fences `target` and tells this node's alert agents how it went (the
/// fencer raises fencing alerts).
async fn fence_and_alert(shared: Arc<NodeShared>, target: String, action: FenceAction) -> Fenced {
    let (ok, detail) = fence(Arc::clone(&shared), target.clone(), action).await;
    let desc = crate::model::cib::alerts::fencing_desc(
        action.as_str(),
        &target,
        &shared.node,
        &shared.node,
        ok,
        if ok { "" } else { &detail },
    );
    shared.raise_alert(crate::model::cib::alerts::AlertEvent::Fencing {
        target: target.clone(),
        action: action.to_string(),
        rc: if ok { 0 } else { 1 },
        desc,
    });
    Fenced { target, ok, detail }
}

async fn fence(
    shared: Arc<NodeShared>,
    target: String,
    fence_action: FenceAction,
) -> (bool, String) {
    let (levels, skipped) = plan_for(&shared, &target).await;
    if levels.is_empty() {
        let mut detail = format!("no fence device is configured that can fence {target}");
        if !skipped.is_empty() {
            detail.push_str(&format!(" ({})", skipped.join("; ")));
        }
        return (false, detail);
    }
    let mut attempts = Vec::new();
    for level in levels {
        let mut level_ok = !level.is_empty();
        for device in &level {
            let targets = match DeviceTargets::from_params(&device.params) {
                Ok(targets) => targets,
                Err(error) => {
                    attempts.push(format!("{}: failed ({error})", device.id));
                    level_ok = false;
                    break;
                }
            };
            let request = device_request(
                &shared.agent_config,
                device,
                &targets,
                fence_action,
                &target,
            );
            let outcome = run_fence(&request).await;
            let ok = outcome.succeeded();
            attempts.push(format!(
                "{}: {}",
                device.id,
                if ok {
                    "ok".to_string()
                } else {
                    format!(
                        "failed (rc {}{})",
                        outcome.rc,
                        outcome.note.map(|n| format!(", {n}")).unwrap_or_default()
                    )
                }
            ));
            level_ok &= ok;
            if !ok {
                break;
            }
        }
        if level_ok {
            return (true, attempts.join("; "));
        }
    }
    (false, attempts.join("; "))
}

impl FenceActor {
    /// Only this node's CIB actor asks this (its arbiter decided the peer
    /// is lost; see `model::control::two_node`).
    fn two_node_fence(&self, envelope: &Envelope, request: &TwoNodeFence, ctx: &CellCtx<'_>) {
        let from_local_cib = envelope.from.node == self.shared.node && envelope.from.name == "cib";
        if !from_local_cib || request.target == self.shared.node {
            ctx.refuse(envelope, FenceError::TwoNodeNotLocal);
            return;
        }
        let TwoNodeFence { target, action } = request.clone();
        let shared = Arc::clone(&self.shared);
        tracing::warn!(%target, %action, "two-node cluster: fencing the lost peer before going on alone");
        ctx.spawn_answer::<TwoNodeFence, _>(envelope, async move {
            Ok(fence_and_alert(shared, target, action).await)
        });
    }

    /// Only the DC of the current term fences.
    fn dc_fence(&self, envelope: &Envelope, request: &Fence, ctx: &CellCtx<'_>) {
        let from_local_dc = envelope.from.node == self.shared.node && self.shared.is_dc();
        if !from_local_dc || self.shared.dc_info().term != request.term {
            ctx.refuse(envelope, FenceError::NotFromDc(request.term));
            return;
        }
        let Fence { target, action, .. } = request.clone();
        let shared = Arc::clone(&self.shared);
        tracing::warn!(%target, %action, "fencing");
        ctx.spawn_answer::<Fence, _>(envelope, async move {
            Ok(fence_and_alert(shared, target, action).await)
        });
    }
}

impl Behaviour for FenceActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        match &envelope.body {
            Message::Fence(message::FenceRequest::TwoNodeFence(request)) => {
                self.two_node_fence(&envelope, request, ctx)
            }
            Message::Fence(message::FenceRequest::Fence(request)) => {
                self.dc_fence(&envelope, request, ctx)
            }
            // No clock, no notes: the fencer only answers.
            other => tracing::debug!(?other, "fence: ignored"),
        }
    }
}
