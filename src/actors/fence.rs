//! FenceActor: shuts a node out by running fence devices against it.
//!
//! Devices are the CIB's `stonith` primitives; `fencing-topology` levels, if
//! any, say which devices to try for a target and in what order (a level
//! succeeds when all its devices do; the first level that succeeds ends it).
//! Without topology every device that can fence the target is tried in
//! turn, in configuration order: which can is decided by its
//! `pcmk_host_list`, `pcmk_host_map` and `pcmk_host_check`
//! ([`crate::model::fencing`]), running the agent's `list` or `status` when
//! the check is dynamic. The agent gets the target's port from
//! `pcmk_host_map` and never the fencer's own `pcmk_*` parameters. Only the
//! DC of the current term may ask, and every attempt goes into the fencing
//! history.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{Envelope, Message};
use crate::actors::shared::NodeShared;
use crate::agent::fence::{is_fencer_parameter, run_fence, FenceAction, FenceRequest};
use crate::agent::AgentConfig;
use crate::model::fencing::{DeviceTargets, HostCheck};
use crate::model::xml::Element;
use std::collections::BTreeMap;
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

/// A configured fence device: its agent and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDevice {
    pub id: String,
    pub agent: String,
    pub params: BTreeMap<String, String>,
}

/// The fence devices of a CIB.
pub fn devices(cib: &Element) -> Vec<FenceDevice> {
    let mut out = Vec::new();
    if let Some(resources) = cib
        .child("configuration")
        .and_then(|c| c.child("resources"))
    {
        resources.walk(&mut |e| {
            if e.name == "primitive" && e.attr("class") == Some("stonith") {
                let params = e
                    .children_named("instance_attributes")
                    .flat_map(|set| set.children_named("nvpair"))
                    .filter_map(|nv| {
                        Some((nv.attr("name")?.to_string(), nv.attr("value")?.to_string()))
                    })
                    .collect();
                out.push(FenceDevice {
                    id: e.id().unwrap_or_default().to_string(),
                    agent: e.attr("type").unwrap_or_default().to_string(),
                    params,
                });
            }
        });
    }
    out
}

/// Whether `fencing-topology` has levels for `target`.
pub fn has_topology_for(cib: &Element, target: &str) -> bool {
    cib.child("configuration")
        .and_then(|c| c.child("fencing-topology"))
        .is_some_and(|t| {
            t.children_named("fencing-level")
                .any(|l| l.attr("target") == Some(target))
        })
}

/// The device lists to try for `target`, in order.
pub fn levels_for(cib: &Element, target: &str) -> Vec<Vec<FenceDevice>> {
    let all = devices(cib);
    let mut levels: Vec<(u32, Vec<FenceDevice>)> = cib
        .child("configuration")
        .and_then(|c| c.child("fencing-topology"))
        .map(|topology| {
            topology
                .children_named("fencing-level")
                .filter(|level| level.attr("target") == Some(target))
                .map(|level| {
                    let index = level
                        .attr("index")
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0);
                    let devices = level
                        .attr("devices")
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(|id| all.iter().find(|d| d.id == id.trim()).cloned())
                        .collect();
                    (index, devices)
                })
                .collect()
        })
        .unwrap_or_default();
    if levels.is_empty() {
        return all.into_iter().map(|d| vec![d]).collect();
    }
    levels.sort_by_key(|(index, _)| *index);
    levels.into_iter().map(|(_, devices)| devices).collect()
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
    if has_topology_for(&cib, target) {
        return (levels_for(&cib, target), Vec::new());
    }
    let mut levels = Vec::new();
    let mut skipped = Vec::new();
    for device in devices(&cib) {
        match can_fence(&shared.agent_config, &device, target).await {
            Ok(()) => levels.push(vec![device]),
            Err(why) => skipped.push(format!("{} cannot fence {target}: {why}", device.id)),
        }
    }
    (levels, skipped)
}

/// Fences `target` and tells this node's alert agents how it went (the
/// fencer raises fencing alerts).
async fn fence_and_alert(
    shared: Arc<NodeShared>,
    target: String,
    action: String,
) -> (bool, String) {
    let (ok, detail) = fence(Arc::clone(&shared), target.clone(), action.clone()).await;
    let desc = crate::model::alerts::fencing_desc(
        &action,
        &target,
        &shared.node,
        &shared.node,
        ok,
        if ok { "" } else { &detail },
    );
    shared.raise_alert(crate::model::alerts::AlertEvent::Fencing {
        target,
        action,
        rc: if ok { 0 } else { 1 },
        desc,
    });
    (ok, detail)
}

async fn fence(shared: Arc<NodeShared>, target: String, action: String) -> (bool, String) {
    let Some(fence_action) = FenceAction::parse(&action) else {
        return (false, format!("unknown fence action {action}"));
    };
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
    fn two_node_fence(&self, envelope: &Envelope, target: &str, action: &str, ctx: &CellCtx<'_>) {
        let from_local_cib = envelope.from.node == self.shared.node && envelope.from.name == "cib";
        if !from_local_cib || target == self.shared.node {
            ctx.reply(
                envelope,
                Message::Error("refused: two-node fencing is asked by the local CIB only".into()),
            );
            return;
        }
        let (target, action) = (target.to_string(), action.to_string());
        let shared = Arc::clone(&self.shared);
        tracing::warn!(%target, %action, "two-node cluster: fencing the lost peer before going on alone");
        ctx.spawn_reply(envelope, async move {
            let (ok, detail) = fence_and_alert(shared, target.clone(), action).await;
            Message::FenceDone { target, ok, detail }
        });
    }
}

impl Behaviour for FenceActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        if let Message::TwoNodeFence { target, action } = &envelope.body {
            self.two_node_fence(&envelope, target, action, ctx);
            return;
        }
        if let Message::Fence {
            term,
            target,
            action,
        } = &envelope.body
        {
            let from_local_dc = envelope.from.node == self.shared.node && self.shared.is_dc();
            if !from_local_dc || self.shared.dc_info().term != *term {
                ctx.reply(
                    &envelope,
                    Message::Error(format!(
                        "refused: fencing request of term {term} is not from the current DC"
                    )),
                );
                return;
            }
            let (target, action) = (target.clone(), action.clone());
            let shared = Arc::clone(&self.shared);
            tracing::warn!(%target, %action, "fencing");
            ctx.spawn_reply(&envelope, async move {
                let (ok, detail) =
                    fence_and_alert(Arc::clone(&shared), target.clone(), action.clone()).await;
                Message::FenceDone { target, ok, detail }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_orders_levels_and_falls_back_to_all_devices() {
        let cib = Element::parse(
            r#"<cib><configuration><resources>
                 <primitive id="ipmi" class="stonith" type="fence_ipmilan">
                   <instance_attributes id="p"><nvpair id="p1" name="ip" value="10.0.0.1"/></instance_attributes>
                 </primitive>
                 <primitive id="pdu" class="stonith" type="fence_apc"/>
                 <primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/>
               </resources>
               <fencing-topology>
                 <fencing-level id="l2" target="n1" index="2" devices="pdu"/>
                 <fencing-level id="l1" target="n1" index="1" devices="ipmi"/>
               </fencing-topology></configuration></cib>"#,
        )
        .unwrap();
        let all = devices(&cib);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].params["ip"], "10.0.0.1");
        let n1: Vec<Vec<String>> = levels_for(&cib, "n1")
            .into_iter()
            .map(|l| l.into_iter().map(|d| d.id).collect())
            .collect();
        assert_eq!(n1, vec![vec!["ipmi".to_string()], vec!["pdu".to_string()]]);
        assert_eq!(levels_for(&cib, "n2").len(), 2);
    }
}
