//! `systole status` as text, in the shape crm_mon users read every day
//! (`crm_mon -1 --show-detail`): summary, nodes, resources, node
//! attributes, fail counts, failed actions and the fencing history, times
//! in UTC.

use crate::actors::control_socket::{NodeReport, ResourceReport, StatusReport};
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let mut report = report.clone();
    report.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let report = &report;
    render_summary(&mut out, report);
    render_node_list(&mut out, report);
    render_resources(&mut out, report);
    render_node_attributes(&mut out, report);
    render_fail_counts(&mut out, report);
    render_failed_actions(&mut out, report);
    render_config_errors(&mut out, report);
    render_fencing(&mut out, report);
    out
}

/// "Cluster Summary:": the DC, quorum, warnings, when and counts.
fn render_summary(out: &mut String, report: &StatusReport) {
    let _ = writeln!(out, "Cluster Summary:");
    let _ = writeln!(out, "  * Cluster: {}", report.cluster);
    match &report.dc {
        Some(dc) => {
            let _ = writeln!(
                out,
                "  * Current DC: {dc} (partition {})",
                if report.quorate {
                    "with quorum"
                } else {
                    "WITHOUT quorum"
                }
            );
        }
        None => {
            let _ = writeln!(out, "  * Current DC: NONE");
        }
    }
    if let Some(consensus) = &report.consensus {
        if let Some(error) = &consensus.disk_error {
            let _ = writeln!(
                out,
                "  * WARNING: this node's disk fails ({error}): it neither votes nor acknowledges"
            );
        }
        if let Some(warning) = &consensus.two_node_warning {
            let _ = writeln!(out, "  * WARNING: {warning}");
        }
    }
    if report.updated_epoch_s > 0 {
        let _ = writeln!(
            out,
            "  * Last updated: {} on {}",
            ctime(report.updated_epoch_s),
            report.answered_by
        );
    }
    if let Some(change) = &report.last_change {
        let _ = writeln!(
            out,
            "  * Last change:  {} by {} via {} on {}",
            ctime(change.at_epoch_s),
            change.user,
            change.client,
            change.origin
        );
    }
    let _ = writeln!(out, "  * {} nodes configured", report.nodes.len());
    let _ = writeln!(
        out,
        "  * {} resource instances configured",
        report.resources.len()
    );
}

/// "Node List:": the nodes by state, as crm_mon groups them.
fn render_node_list(out: &mut String, report: &StatusReport) {
    let names = |keep: fn(&NodeReport) -> bool| -> Vec<&str> {
        report
            .nodes
            .iter()
            .filter(|n| keep(n))
            .map(|n| n.name.as_str())
            .collect()
    };
    let _ = writeln!(out, "\nNode List:");
    for (label, list) in [
        (
            "Online",
            names(|n| !n.remote && n.online && !n.standby && !n.maintenance),
        ),
        ("Standby", names(|n| n.online && n.standby)),
        ("Maintenance", names(|n| n.online && n.maintenance)),
        ("OFFLINE", names(|n| !n.remote && !n.online)),
        (
            "RemoteOnline",
            names(|n| n.remote && n.online && !n.standby && !n.maintenance),
        ),
        ("RemoteOFFLINE", names(|n| n.remote && !n.online)),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "  * {label}: [ {} ]", list.join(" "));
        }
    }
}

/// "Full List of Resources:": each resource, members under their parent.
fn render_resources(out: &mut String, report: &StatusReport) {
    let _ = writeln!(out, "\nFull List of Resources:");
    if report.resources.is_empty() {
        let _ = writeln!(out, "  * No resources");
    }
    let mut by_parent: BTreeMap<Option<&str>, Vec<&ResourceReport>> = BTreeMap::new();
    let mut order: Vec<Option<&str>> = Vec::new();
    for resource in &report.resources {
        let parent = resource.parent.as_deref();
        if !by_parent.contains_key(&parent) {
            order.push(parent);
        }
        by_parent.entry(parent).or_default().push(resource);
    }
    for parent in order {
        let members = &by_parent[&parent];
        let indent = match parent {
            Some(parent) => {
                let _ = writeln!(out, "  * {parent}:");
                "    "
            }
            None => "  ",
        };
        for resource in members {
            let place = if resource.nodes.is_empty() {
                String::new()
            } else {
                format!(" {}", resource.nodes.join(" "))
            };
            let failed = if resource.failed { " (FAILED)" } else { "" };
            let _ = writeln!(
                out,
                "{indent}* {}\t({}):\t {}{place}{failed}",
                resource.id, resource.agent, resource.role
            );
        }
    }
}

fn render_config_errors(out: &mut String, report: &StatusReport) {
    if report.config_errors.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nConfiguration Errors (left out of scheduling; `systole cib verify`):"
    );
    for line in &report.config_errors {
        let _ = writeln!(out, "  * {line}");
    }
}

fn render_fencing(out: &mut String, report: &StatusReport) {
    if report.fencing.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nFencing History:");
    // Newest first, as crm_mon shows it.
    for record in report.fencing.iter().rev() {
        let _ = writeln!(
            out,
            "  * {} of {} {}: {}, completed='{}'",
            record.action,
            record.target,
            if record.ok { "successful" } else { "FAILED" },
            record.detail,
            ctime(record.at_epoch_s)
        );
    }
}

fn ctime(epoch_s: i64) -> String {
    crate::model::cib::time::ctime(epoch_s)
}

fn render_node_attributes(out: &mut String, report: &StatusReport) {
    if report.nodes.iter().all(|n| n.attributes.is_empty()) {
        return;
    }
    let _ = writeln!(out, "\nNode Attributes:");
    for node in report.nodes.iter().filter(|n| !n.attributes.is_empty()) {
        let _ = writeln!(out, "  * Node: {}:", node.name);
        for (name, value) in &node.attributes {
            let _ = writeln!(out, "    * {name:<32}: {value}");
        }
    }
}

fn render_fail_counts(out: &mut String, report: &StatusReport) {
    // Node -> (resource, count), each resource once (clone instances share).
    let mut by_node: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for resource in &report.resources {
        let base = resource.id.split(':').next().unwrap_or(&resource.id);
        for (node, count) in &resource.fail_counts {
            by_node.entry(node).or_default().insert(base, *count);
        }
    }
    if by_node.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nMigration Summary:");
    for (node, counts) in by_node {
        let _ = writeln!(out, "  * Node: {node}:");
        for (resource, count) in counts {
            let count = if count >= crate::model::cib::score::INFINITY {
                "INFINITY".to_string()
            } else {
                count.to_string()
            };
            let _ = writeln!(out, "    * {resource}: fail-count={count}");
        }
    }
}

fn render_failed_actions(out: &mut String, report: &StatusReport) {
    if report.failed_actions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nFailed Resource Actions:");
    for a in &report.failed_actions {
        let _ = writeln!(
            out,
            "  * {}_{}_{} on {} '{}' ({}): call={}, status='{}', exitreason='{}', last-rc-change='{}', queued=0ms, exec={}ms",
            a.resource,
            a.operation,
            a.interval_ms,
            a.node,
            a.rc_text,
            a.rc,
            a.call_id,
            a.status,
            a.exit_reason,
            ctime(a.last_rc_change),
            a.exec_ms
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::control_socket::{NodeReport, ResourceReport};

    #[test]
    fn renders_nodes_and_grouped_resources() {
        let report = StatusReport {
            cluster: "demo".into(),
            dc: Some("node1".into()),
            quorate: true,
            nodes: vec![
                NodeReport {
                    name: "node1".into(),
                    online: true,
                    attributes: [("pingd".to_string(), "1000".to_string())].into(),
                    ..NodeReport::default()
                },
                NodeReport {
                    name: "node2".into(),
                    ..NodeReport::default()
                },
            ],
            resources: vec![
                ResourceReport {
                    id: "vip".into(),
                    parent: None,
                    agent: "ocf:systole:Dummy".into(),
                    role: "Started".into(),
                    nodes: vec!["node1".into()],
                    ..ResourceReport::default()
                },
                ResourceReport {
                    id: "web-fs".into(),
                    parent: Some("web".into()),
                    agent: "ocf:systole:Dummy".into(),
                    role: "Stopped".into(),
                    nodes: vec![],
                    failed: true,
                    fail_counts: [("node1".to_string(), 1_000_000)].into(),
                },
            ],
            answered_by: "node1".into(),
            fencing: vec![crate::model::cib::store::FenceRecord {
                target: "node2".into(),
                action: "reboot".into(),
                ok: true,
                detail: "fence-local: ok".into(),
                at_epoch_s: 1_796_525_400,
            }],
            failed_actions: vec![crate::scheduler::status::FailedAction {
                resource: "web-fs".into(),
                node: "node1".into(),
                operation: "start".into(),
                interval_ms: 0,
                rc: 1,
                rc_text: "error".into(),
                status: "complete".into(),
                exit_reason: "no such file".into(),
                last_rc_change: 1_796_525_400,
                call_id: 7,
                exec_ms: 12,
            }],
            last_change: Some(crate::scheduler::status::LastChange {
                at_epoch_s: 1_796_525_400,
                user: "root".into(),
                client: "systole".into(),
                origin: "node1".into(),
            }),
            updated_epoch_s: 1_796_525_460,
            config_errors: vec!["primitive p: op interval \"1d\" is not a duration".into()],
            consensus: None,
        };
        let text = render(&report);
        assert!(text.contains("Configuration Errors"), "{text}");
        assert!(text.contains("op interval \"1d\""), "{text}");
        assert!(text.contains("Current DC: node1 (partition with quorum)"));
        assert!(text.contains("* Online: [ node1 ]"));
        assert!(text.contains("* OFFLINE: [ node2 ]"));
        assert!(text.contains("* vip\t(ocf:systole:Dummy):\t Started node1"));
        assert!(text.contains("  * web:\n    * web-fs"));
        assert!(text.contains("(FAILED)"));
        assert!(
            text.contains("* Last updated: Sun Dec  6 02:51:00 2026 on node1"),
            "{text}"
        );
        assert!(
            text.contains("* Last change:  Sun Dec  6 02:50:00 2026 by root via systole on node1")
        );
        assert!(text.contains("Node Attributes:\n  * Node: node1:\n    * pingd"));
        assert!(text
            .contains("Migration Summary:\n  * Node: node1:\n    * web-fs: fail-count=INFINITY"));
        assert!(text.contains(
            "* web-fs_start_0 on node1 'error' (1): call=7, status='complete', exitreason='no such file', last-rc-change='Sun Dec  6 02:50:00 2026', queued=0ms, exec=12ms"
        ), "{text}");
        assert!(text.contains(
            "* reboot of node2 successful: fence-local: ok, completed='Sun Dec  6 02:50:00 2026'"
        ));
        assert!(!text.contains("WARNING"), "{text}");
    }

    #[test]
    fn shows_why_a_two_node_survivor_does_not_go_on() {
        let warning = "two-node peer node2 lost and fencing disabled (stonith-enabled=false): \
                       not going on alone without quorum";
        let report = StatusReport {
            cluster: "demo".into(),
            consensus: Some(crate::actors::control_socket::ConsensusReport {
                two_node_warning: Some(warning.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = render(&report);
        assert!(
            text.contains(&format!("  * WARNING: {warning}\n")),
            "{text}"
        );
    }
}
