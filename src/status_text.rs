//! `systole status` as text, in the shape crm_mon users read every day.

use crate::control::StatusReport;
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let mut report = report.clone();
    report.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let report = &report;
    let online: Vec<&str> = report
        .nodes
        .iter()
        .filter(|n| n.online && !n.standby && !n.maintenance)
        .map(|n| n.name.as_str())
        .collect();
    let standby: Vec<&str> = report
        .nodes
        .iter()
        .filter(|n| n.online && n.standby)
        .map(|n| n.name.as_str())
        .collect();
    let maintenance: Vec<&str> = report
        .nodes
        .iter()
        .filter(|n| n.online && n.maintenance)
        .map(|n| n.name.as_str())
        .collect();
    let offline: Vec<&str> = report
        .nodes
        .iter()
        .filter(|n| !n.online)
        .map(|n| n.name.as_str())
        .collect();
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
    let _ = writeln!(out, "  * {} nodes configured", report.nodes.len());
    let _ = writeln!(
        out,
        "  * {} resource instances configured",
        report.resources.len()
    );
    let _ = writeln!(out, "\nNode List:");
    for (label, list) in [
        ("Online", &online),
        ("Standby", &standby),
        ("Maintenance", &maintenance),
        ("OFFLINE", &offline),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "  * {label}: [ {} ]", list.join(" "));
        }
    }
    let _ = writeln!(out, "\nFull List of Resources:");
    if report.resources.is_empty() {
        let _ = writeln!(out, "  * No resources");
    }
    let mut by_parent: BTreeMap<Option<&str>, Vec<&crate::control::ResourceReport>> =
        BTreeMap::new();
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
    if !report.config_errors.is_empty() {
        let _ = writeln!(
            out,
            "\nConfiguration Errors (left out of scheduling; `systole cib verify`):"
        );
        for line in &report.config_errors {
            let _ = writeln!(out, "  * {line}");
        }
    }
    if !report.fencing.is_empty() {
        let _ = writeln!(out, "\nFencing History:");
        for record in &report.fencing {
            let _ = writeln!(
                out,
                "  * {} of {} {}: {}",
                record.action,
                record.target,
                if record.ok { "successful" } else { "FAILED" },
                record.detail
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{NodeReport, ResourceReport};

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
                    standby: false,
                    maintenance: false,
                },
                NodeReport {
                    name: "node2".into(),
                    online: false,
                    standby: false,
                    maintenance: false,
                },
            ],
            resources: vec![
                ResourceReport {
                    id: "vip".into(),
                    parent: None,
                    agent: "ocf:systole:Dummy".into(),
                    role: "Started".into(),
                    nodes: vec!["node1".into()],
                    failed: false,
                },
                ResourceReport {
                    id: "web-fs".into(),
                    parent: Some("web".into()),
                    agent: "ocf:systole:Dummy".into(),
                    role: "Stopped".into(),
                    nodes: vec![],
                    failed: true,
                },
            ],
            answered_by: "node1".into(),
            fencing: vec![],
            config_errors: vec![],
            consensus: None,
        };
        let text = render(&report);
        assert!(text.contains("Current DC: node1 (partition with quorum)"));
        assert!(text.contains("* Online: [ node1 ]"));
        assert!(text.contains("* OFFLINE: [ node2 ]"));
        assert!(text.contains("* vip\t(ocf:systole:Dummy):\t Started node1"));
        assert!(text.contains("  * web:\n    * web-fs"));
        assert!(text.contains("(FAILED)"));
    }
}
