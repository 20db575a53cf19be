//! PolicyActor: the scheduler, wrapped. Computes on a blocking thread so a
//! large cluster's transition never stalls the other actors.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{Envelope, Message, Plan, PlannedAction, PlannedKind};
use crate::model::operation::{AgentSpec, OpSpec};
use crate::model::xml::Element;
use crate::scheduler::{self, Action, Task};
use petgraph::visit::EdgeRef;

pub struct PolicyActor;

/// The DC's plan for a CIB: the scheduler's graph as steps to carry out.
pub fn plan(cib: &Element, now_epoch_s: i64) -> Result<Plan, String> {
    let transition = scheduler::schedule(cib, now_epoch_s).map_err(|e| e.to_string())?;
    let graph = &transition.graph;
    let actions = graph
        .node_indices()
        .map(|index| {
            let after = graph
                .edges_directed(index, petgraph::Direction::Incoming)
                .map(|edge| edge.source().index() as u32)
                .collect();
            PlannedAction {
                id: index.index() as u32,
                after,
                kind: planned_kind(&graph[index]),
            }
        })
        .collect();
    Ok(Plan {
        actions,
        summary: transition.summary.clone(),
    })
}

fn planned_kind(action: &Action) -> PlannedKind {
    if let Task::Fence = action.task {
        return PlannedKind::Fence {
            target: action.node.clone().unwrap_or_default(),
            action: action
                .meta
                .get("action")
                .cloned()
                .unwrap_or_else(|| "reboot".into()),
        };
    }
    match (
        &action.resource,
        &action.agent,
        &action.node,
        operation_name(&action.task),
    ) {
        (Some(resource), Some(agent), Some(node), Some(operation)) => PlannedKind::Resource {
            node: node.clone(),
            op: OpSpec {
                resource: lrm_id(
                    resource,
                    action.meta.get("globally_unique").map(String::as_str),
                ),
                agent: AgentSpec::clone(agent),
                operation: operation.to_string(),
                interval_ms: action.interval_ms,
                timeout_ms: action.timeout_ms,
                params: (*action.params).clone(),
                meta: action
                    .meta
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
        },
        _ => PlannedKind::Pseudo {
            name: format!(
                "{:?} {}",
                action.task,
                action.resource.clone().unwrap_or_default()
            ),
        },
    }
}

/// The id a node's executor knows a resource by. Instances of an anonymous
/// clone are interchangeable: on each node there is one, under the
/// primitive's own id (`db`, not `db:2`), as Pacemaker's executor does; the
/// scheduler maps it to an instance number afresh each time.
fn lrm_id(resource: &str, globally_unique: Option<&str>) -> String {
    let anonymous = globally_unique == Some("false");
    match resource.split_once(':') {
        Some((base, _)) if anonymous => base.to_string(),
        _ => resource.to_string(),
    }
}

/// The agent action a task runs; fencing and pseudo-actions run none.
fn operation_name(task: &Task) -> Option<&'static str> {
    match task {
        Task::Fence | Task::Pseudo => None,
        other => Some(other.name()),
    }
}

impl Behaviour for PolicyActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        if let Message::Schedule { cib, now_epoch_s } = &envelope.body {
            let (cib, now) = (cib.clone(), *now_epoch_s);
            ctx.spawn_reply(&envelope, async move {
                match tokio::task::spawn_blocking(move || plan(&cib, now)).await {
                    Ok(Ok(plan)) => Message::Scheduled { plan },
                    Ok(Err(error)) => Message::Error(format!("scheduler: {error}")),
                    Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                    Err(join) => Message::Error(format!("scheduler task: {join}")),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_clone_instances_run_under_the_primitive_id() {
        assert_eq!(lrm_id("db:2", Some("false")), "db");
        assert_eq!(lrm_id("db:2", Some("true")), "db:2");
        assert_eq!(lrm_id("vip", None), "vip");
    }
}
