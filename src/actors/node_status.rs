//! `systole status` as this node sees it: nodes, resources, fencing, the
//! consensus; and the part of it a caller's ACL lets them read.

use crate::actors::control_socket::{NodeReport, ResourceReport, StatusReport};
use crate::actors::daemon::NodeHandle;
use crate::actors::shared::NodeShared;
use crate::model::cib::xml::Element;

/// The status report from this node's point of view.
pub fn status_report(node: &NodeHandle) -> StatusReport {
    let shared = &node.shared;
    let cib = shared.cib();
    let view = shared.view();
    let dc = shared.dc_info().dc;
    let nodes = match crate::scheduler::status::node_status(&cib) {
        Ok(nodes) => nodes
            .into_iter()
            .map(|n| NodeReport {
                online: if n.remote {
                    n.online
                } else {
                    view.members.contains(&n.name)
                },
                remote: n.remote,
                attributes: crate::scheduler::status::node_attributes(
                    &cib,
                    &n.name,
                    crate::actors::shared::now_epoch_s(),
                ),
                name: n.name,
                standby: n.standby,
                maintenance: n.maintenance,
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "status: CIB could not be read");
            Vec::new()
        }
    };
    let fail_counts =
        crate::scheduler::status::fail_counts(&cib, crate::actors::shared::now_epoch_s());
    let resources = match crate::scheduler::status::resource_status(&cib) {
        Ok(resources) => resources
            .into_iter()
            .map(|r| {
                let base = r.id.split(':').next().unwrap_or(&r.id);
                let counts = fail_counts.get(base).cloned().unwrap_or_default();
                ResourceReport {
                    failed: r.failed || !counts.is_empty(),
                    fail_counts: counts,
                    id: r.id,
                    parent: r.parent,
                    agent: r.agent,
                    role: format!("{:?}", r.role),
                    nodes: r.nodes,
                }
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "status: CIB could not be read");
            Vec::new()
        }
    };
    StatusReport {
        cluster: shared.cluster_name.clone(),
        dc,
        quorate: shared.quorum().quorate(),
        nodes,
        resources,
        answered_by: shared.node.clone(),
        fencing: crate::model::cib::store::fence_history(&cib),
        failed_actions: crate::scheduler::status::failed_actions(&cib),
        last_change: crate::scheduler::status::last_change(&cib),
        updated_epoch_s: crate::actors::shared::now_epoch_s(),
        config_errors: shared.config_errors(&cib),
        consensus: Some(consensus_report(shared)),
    }
}

fn consensus_report(shared: &NodeShared) -> crate::actors::control_socket::ConsensusReport {
    use crate::model::control::members::MemberRole;
    let info = shared.consensus_info();
    let names = |role: MemberRole| -> Vec<String> {
        let mut names: Vec<String> = info
            .members
            .iter()
            .filter(|(_, m)| m.role == role)
            .map(|(_, m)| m.name.clone())
            .collect();
        names.sort();
        names
    };
    let status = info
        .status
        .clone()
        .unwrap_or(crate::model::control::consensus::ConsensusStatus {
            term: 0,
            leader: None,
            role: "none".into(),
            commit_index: 0,
            applied_index: 0,
            last_index: 0,
            snapshot_index: 0,
        });
    crate::actors::control_socket::ConsensusReport {
        term: status.term,
        leader: status.leader,
        commit_index: status.commit_index,
        applied_index: status.applied_index,
        voters: info.members.voter_names(),
        learners: names(MemberRole::Learner),
        witnesses: names(MemberRole::Witness),
        reachable_voters: shared.quorum().reachable,
        disk_error: info.disk_error,
        scheduler_error: info.scheduler_error,
        two_node_warning: info.two_node_warning,
        refused_non_members: shared
            .refused_non_members
            .load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Leaves out of a status report the resources whose configuration the
/// caller may not read (`visible` is the CIB as the caller's ACL shows it).
pub fn filter_status(report: &mut StatusReport, visible: &Element) {
    let configuration = visible.child("configuration");
    report.resources.retain(|r| {
        let base = r.id.split(':').next().unwrap_or(&r.id);
        configuration
            .and_then(|c| c.find_by_id(None, base))
            .is_some_and(|e| !e.attrs.iter().all(|(k, _)| k == "id"))
    });
}
