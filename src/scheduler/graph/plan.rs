//! The scheduler's transition as the DC carries it out: a [`Plan`] of
//! actions, each with the actions it waits for.

use crate::model::cib::operation::{AgentSpec, OpKind, OpSpec};
use crate::model::cib::xml::Element;
use crate::model::control::plan::{Plan, PlannedAction, PlannedKind};
use crate::scheduler::{self, Action, Task};
use petgraph::visit::EdgeRef;

/// The DC's plan for a CIB: the scheduler's graph as steps to carry out.
/// Never panics: a scheduler panic (a bug, or an input nothing else caught)
/// is an `Err` naming it, as is a CIB it cannot read at all; parts of a CIB
/// it cannot use are left out (`model::cib::verify::verify` lists them, and
/// `status` shows them). A plan of pseudo-actions only has no actions: it
/// would run nothing.
pub fn plan(cib: &Element, now_epoch_s: i64) -> Result<Plan, String> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scheduler::schedule(cib, now_epoch_s)
    }));
    let transition = match outcome {
        Ok(Ok(transition)) => transition,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            return Err(format!(
                "the scheduler panicked (a bug; please report it): {what}"
            ));
        }
    };
    let recheck_in_s = transition
        .recheck_at_epoch_s
        .map(|at| at.saturating_sub(now_epoch_s).max(1) as u64);
    if !transition.has_work() {
        return Ok(Plan {
            actions: Vec::new(),
            summary: transition.summary.clone(),
            recheck_in_s,
        });
    }
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
        recheck_in_s,
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
                operation,
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
        // Named by Pacemaker's operation key (`vip_stop_0`,
        // `web_running_0`), which says what the pseudo-action stands for.
        _ => PlannedKind::Pseudo { name: action.key() },
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

/// The operation a task asks of a node; fencing and pseudo-actions ask none.
fn operation_name(task: &Task) -> Option<OpKind> {
    Some(match task {
        Task::Start => OpKind::Start,
        Task::Stop => OpKind::Stop,
        Task::Monitor => OpKind::Monitor,
        Task::Promote => OpKind::Promote,
        Task::Demote => OpKind::Demote,
        Task::MigrateTo => OpKind::MigrateTo,
        Task::MigrateFrom => OpKind::MigrateFrom,
        Task::Notify => OpKind::Notify,
        Task::Reload => OpKind::Reload,
        Task::Cancel => OpKind::Cancel,
        Task::Delete => OpKind::Delete,
        Task::ClearFailcount => OpKind::ClearFailcount,
        Task::Fence | Task::Pseudo => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cib::change::StatusChange;
    use crate::model::cib::store;
    use crate::model::control::members::{Member, MemberChange, MemberRole};

    #[test]
    fn a_voter_added_but_not_yet_joined_is_down_and_never_fenced() {
        let mut state = crate::model::control::replicated::tests::founded();
        state.apply_member_change(&MemberChange::Set(Member {
            name: "n3".into(),
            addr: Some("127.0.0.1:7403".into()),
            role: MemberRole::Voter,
        }));
        // n1 and n2 are up, n3 not yet: known down until it joins, never
        // "unclean", so never fenced for having been added.
        let mut cib = (*state.cib).clone();
        for node in ["n1", "n2"] {
            store::apply_status(&mut cib, &StatusChange::NodeJoined { node: node.into() });
        }
        let quorate = StatusChange::Quorum {
            quorate: true,
            dc: "n1".into(),
        };
        store::apply_status(&mut cib, &quorate);
        let plan = plan(&cib, 0).unwrap();
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(&a.kind, PlannedKind::Fence { .. })),
            "{:?}",
            plan.summary
        );
        assert!(cib.find_by_id(None, "n3").is_some(), "n3 is a CIB node");
    }

    #[test]
    fn notifications_are_agent_calls_and_collective_steps_are_pseudo() {
        let cib = Element::parse(
            r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
            <nvpair id="p1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
            <resources><clone id="db-clone"><meta_attributes id="m"><nvpair id="m1" name="notify" value="true"/></meta_attributes>
            <primitive id="db" class="ocf" provider="heartbeat" type="Dummy"/></clone></resources><constraints/></configuration>
            <status>
            <node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="n1"><lrm_resources>
            <lrm_resource id="db" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="db_last_0" operation_key="db_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" on_node="n1" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"/></lrm_resource>
            </lrm_resources></lrm></node_state>
            <node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
            </status></cib>"#,
        )
        .unwrap();
        let plan = plan(&cib, 0).unwrap();
        let notifies: Vec<&OpSpec> = plan
            .actions
            .iter()
            .filter_map(|a| match &a.kind {
                PlannedKind::Resource { op, .. } if op.operation == OpKind::Notify => Some(op),
                _ => None,
            })
            .collect();
        // Pre on n1, post on n1 and n2.
        assert_eq!(notifies.len(), 3, "{:?}", plan.actions);
        assert!(notifies.iter().all(|op| op.resource == "db"));
        assert!(notifies
            .iter()
            .any(
                |op| op.meta.get("notify_type").map(String::as_str) == Some("pre")
                    && op.meta.get("notify_operation").map(String::as_str) == Some("start")
                    && op.meta.get("notify_start_uname").map(String::as_str) == Some("n2")
            ));
        let pseudo = plan
            .actions
            .iter()
            .filter(|a| matches!(a.kind, PlannedKind::Pseudo { .. }))
            .count();
        // start, running and the four notification steps.
        assert_eq!(pseudo, 6, "{:?}", plan.actions);
        // The transition runs to its end: pseudo-actions complete at once.
        let mut run = crate::model::control::transition::TransitionRun::new(1, &plan);
        for _ in 0..plan.actions.len() {
            for a in run.take_ready() {
                run.complete(a.id, true, "");
            }
        }
        assert!(run.is_finished());
        assert_eq!(run.counts().0, plan.actions.len());
    }

    #[test]
    fn anonymous_clone_instances_run_under_the_primitive_id() {
        assert_eq!(lrm_id("db:2", Some("false")), "db");
        assert_eq!(lrm_id("db:2", Some("true")), "db:2");
        assert_eq!(lrm_id("vip", None), "vip");
    }
}
