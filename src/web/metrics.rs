//! `/metrics` in Prometheus's text format: ha_cluster_exporter's metric
//! names where one exists (`ha_cluster_pacemaker_*`, `ha_cluster_corosync_quorate`),
//! so its dashboards and alerts work unchanged, plus Systole's own
//! (`systole_*`: actor restarts, bus counters, consensus, durations). Pure:
//! what the daemon answered in, the text out.

use crate::actors::control_socket::StatusReport;
use crate::actors::tree::TreeNode;
use crate::model::cib::xml::Element;
use crate::model::cib::ResourceMeta;
use crate::model::control::histogram::Histogram;
use crate::model::control::histogram::Timings;
use std::fmt::Write as _;

/// Pacemaker's INFINITY, as fail counts and thresholds carry it.
const INFINITY: i64 = 1_000_000;

/// Everything one scrape asked the daemon.
pub struct Scrape<'a> {
    pub status: &'a StatusReport,
    pub cib: &'a Element,
    /// The bus counters of the answering node, as `(name, value)`.
    pub bus: Vec<(String, u64)>,
    pub actors: Option<&'a TreeNode>,
    pub timings: &'a Timings,
}

/// A label value escaped as the text format wants (`\\`, `\"`, `\n`).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A resource's meta attributes as the scheduler reads them (rules at the
/// time of the report).
fn resource_meta(cib: &Element, resource: &str, now_epoch_s: i64) -> ResourceMeta {
    crate::admin::find_resource(cib, resource)
        .map(|r| ResourceMeta::read(cib, r, now_epoch_s))
        .unwrap_or_default()
}

fn configuration<'a>(cib: &'a Element, section: &str) -> Option<&'a Element> {
    cib.child("configuration")?.child(section)
}

/// A resource's migration-threshold: its meta attribute, else the
/// resource defaults, else INFINITY (Pacemaker's default).
fn migration_threshold(meta: &ResourceMeta) -> i64 {
    meta.get("migration-threshold")
        .map(|v| match v.trim().to_ascii_uppercase().as_str() {
            "INFINITY" | "+INFINITY" => INFINITY,
            other => other.parse().unwrap_or(INFINITY),
        })
        .unwrap_or(INFINITY)
}

fn score(text: &str) -> i64 {
    match text.trim() {
        "INFINITY" | "+INFINITY" => INFINITY,
        "-INFINITY" => -INFINITY,
        other => other.parse().unwrap_or(0),
    }
}

pub fn render(scrape: &Scrape) -> String {
    let mut out = String::with_capacity(8192);
    pacemaker_nodes(&mut out, scrape.status);
    pacemaker_resources(&mut out, scrape.status, scrape.cib);
    pacemaker_config(&mut out, scrape.status, scrape.cib);
    systole_own(&mut out, scrape);
    out
}

fn pacemaker_nodes(out: &mut String, status: &StatusReport) {
    header(
        out,
        "ha_cluster_pacemaker_nodes",
        "gauge",
        "Whether each node is in each status (1) or not (0).",
    );
    for n in &status.nodes {
        let dc = status.dc.as_deref() == Some(n.name.as_str());
        for (what, on) in [
            ("online", n.online),
            ("standby", n.standby),
            ("maintenance", n.maintenance),
            ("dc", dc),
            ("expected_up", true),
        ] {
            let _ = writeln!(
                out,
                "ha_cluster_pacemaker_nodes{{node=\"{}\",status=\"{what}\",type=\"member\"}} {}",
                label(&n.name),
                u8::from(on)
            );
        }
    }
    header(
        out,
        "ha_cluster_pacemaker_node_attributes",
        "gauge",
        "Node attributes, as labels; always 1.",
    );
    for n in &status.nodes {
        for (name, value) in &n.attributes {
            let _ = writeln!(
                out,
                "ha_cluster_pacemaker_node_attributes{{name=\"{}\",node=\"{}\",value=\"{}\"}} 1",
                label(name),
                label(&n.name),
                label(value)
            );
        }
    }
    header(
        out,
        "ha_cluster_corosync_quorate",
        "gauge",
        "Whether the cluster has quorum.",
    );
    let _ = writeln!(
        out,
        "ha_cluster_corosync_quorate {}",
        u8::from(status.quorate)
    );
}

fn pacemaker_resources(out: &mut String, status: &StatusReport, cib: &Element) {
    header(
        out,
        "ha_cluster_pacemaker_resources",
        "gauge",
        "Each resource instance with its role and status; always 1.",
    );
    for r in &status.resources {
        let parent_kind = r
            .parent
            .as_deref()
            .and_then(|p| crate::admin::find_resource(cib, p))
            .map(|e| e.name.as_str());
        let (clone, group) = match (parent_kind, r.parent.as_deref()) {
            (Some("group"), Some(p)) => ("", p),
            (Some(_), Some(p)) => (p, ""),
            _ => ("", ""),
        };
        let meta = resource_meta(cib, &r.id, status.updated_epoch_s);
        let managed = meta.flag("is-managed", true);
        let nodes: Vec<&str> = match r.nodes.is_empty() {
            true => vec![""],
            false => r.nodes.iter().map(String::as_str).collect(),
        };
        for node in nodes {
            let _ = writeln!(
                out,
                "ha_cluster_pacemaker_resources{{agent=\"{}\",clone=\"{}\",group=\"{}\",managed=\"{managed}\",node=\"{}\",resource=\"{}\",role=\"{}\",status=\"{}\"}} 1",
                label(&r.agent),
                label(clone),
                label(group),
                label(node),
                label(&r.id),
                label(&r.role.to_ascii_lowercase()),
                if r.failed { "failed" } else if r.nodes.is_empty() { "stopped" } else { "active" },
            );
        }
    }
    fail_counts(out, status);
    migration_thresholds(out, status, cib);
}

/// Each resource's fail count on each node.
fn fail_counts(out: &mut String, status: &StatusReport) {
    header(
        out,
        "ha_cluster_pacemaker_fail_count",
        "gauge",
        "Fail count per node and resource (INFINITY is 1000000).",
    );
    for r in &status.resources {
        for (node, count) in &r.fail_counts {
            let _ = writeln!(
                out,
                "ha_cluster_pacemaker_fail_count{{node=\"{}\",resource=\"{}\"}} {count}",
                label(node),
                label(&r.id)
            );
        }
    }
}

/// Each resource's migration threshold, on each node where it runs or
/// has failed.
fn migration_thresholds(out: &mut String, status: &StatusReport, cib: &Element) {
    header(
        out,
        "ha_cluster_pacemaker_migration_threshold",
        "gauge",
        "Migration threshold per node and resource (INFINITY is 1000000).",
    );
    for r in &status.resources {
        let threshold = migration_threshold(&resource_meta(cib, &r.id, status.updated_epoch_s));
        let mut nodes: Vec<&String> = r.nodes.iter().chain(r.fail_counts.keys()).collect();
        nodes.sort();
        nodes.dedup();
        for node in nodes {
            let _ = writeln!(
                out,
                "ha_cluster_pacemaker_migration_threshold{{node=\"{}\",resource=\"{}\"}} {threshold}",
                label(node),
                label(&r.id)
            );
        }
    }
}

fn pacemaker_config(out: &mut String, status: &StatusReport, cib: &Element) {
    header(
        out,
        "ha_cluster_pacemaker_location_constraints",
        "gauge",
        "Location constraints by id, with their score.",
    );
    let constraints = configuration(cib, "constraints");
    for c in constraints.iter().flat_map(|c| c.children.iter()) {
        if c.name != "rsc_location" {
            continue;
        }
        let (Some(id), Some(node), Some(score_text)) = (c.id(), c.attr("node"), c.attr("score"))
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "ha_cluster_pacemaker_location_constraints{{constraint=\"{}\",node=\"{}\",resource=\"{}\",role=\"{}\"}} {}",
            label(id),
            label(node),
            label(c.attr("rsc").unwrap_or_default()),
            label(c.attr("role").unwrap_or_default()),
            score(score_text)
        );
    }
    header(
        out,
        "systole_constraints",
        "gauge",
        "Constraints in the configuration, by kind.",
    );
    for kind in ["rsc_location", "rsc_colocation", "rsc_order", "rsc_ticket"] {
        let count = constraints.map_or(0, |c| c.children.iter().filter(|e| e.name == kind).count());
        let _ = writeln!(out, "systole_constraints{{kind=\"{kind}\"}} {count}");
    }
    header(
        out,
        "ha_cluster_pacemaker_stonith_enabled",
        "gauge",
        "Whether fencing is enabled.",
    );
    // Read as the scheduler reads it: `stonith-enabled` is the old name.
    let stonith = crate::model::cib::properties::cluster_property(cib, "fencing-enabled")
        .is_none_or(|v| crate::model::cib::parse_bool(&v));
    let _ = writeln!(
        out,
        "ha_cluster_pacemaker_stonith_enabled {}",
        u8::from(stonith)
    );
    if let Some(change) = &status.last_change {
        header(
            out,
            "ha_cluster_pacemaker_config_last_change",
            "gauge",
            "When the configuration last changed (Unix seconds).",
        );
        let _ = writeln!(
            out,
            "ha_cluster_pacemaker_config_last_change {}",
            change.at_epoch_s
        );
    }
}

fn restarts(out: &mut String, node: &str, tree: &TreeNode) {
    let _ = writeln!(
        out,
        "systole_actor_restarts_total{{actor=\"{}\",kind=\"{}\",node=\"{}\"}} {}",
        label(&tree.name),
        label(&tree.kind),
        label(node),
        tree.restarts
    );
    for child in &tree.children {
        restarts(out, node, child);
    }
}

fn histogram(out: &mut String, name: &str, help: &str, node: &str, h: &Histogram) {
    header(out, name, "histogram", help);
    let node = label(node);
    for (bound_ms, count) in h.cumulative() {
        let _ = writeln!(
            out,
            "{name}_bucket{{node=\"{node}\",le=\"{}\"}} {count}",
            bound_ms as f64 / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{node=\"{node}\",le=\"+Inf\"}} {}",
        h.count
    );
    let _ = writeln!(
        out,
        "{name}_sum{{node=\"{node}\"}} {}",
        h.sum_ms as f64 / 1000.0
    );
    let _ = writeln!(out, "{name}_count{{node=\"{node}\"}} {}", h.count);
}

fn systole_own(out: &mut String, scrape: &Scrape) {
    let node = scrape.status.answered_by.as_str();
    let n = label(node);
    if let Some(tree) = scrape.actors {
        header(
            out,
            "systole_actor_restarts_total",
            "counter",
            "Restarts of each actor and supervisor by its supervisor.",
        );
        restarts(out, node, tree);
    }
    header(
        out,
        "systole_bus_messages_total",
        "counter",
        "The cluster bus's counters on the answering node, by counter.",
    );
    for (counter, value) in &scrape.bus {
        let _ = writeln!(
            out,
            "systole_bus_messages_total{{counter=\"{}\",node=\"{n}\"}} {value}",
            label(counter)
        );
    }
    if let Some(c) = &scrape.status.consensus {
        for (name, help, value) in [
            ("systole_consensus_term", "The consensus term.", c.term),
            (
                "systole_consensus_commit_index",
                "The consensus commit index.",
                c.commit_index,
            ),
            (
                "systole_consensus_applied_index",
                "The index applied to the CIB.",
                c.applied_index,
            ),
            (
                "systole_consensus_voters",
                "Voting members.",
                c.voters.len() as u64,
            ),
            (
                "systole_consensus_reachable_voters",
                "Voters this node reaches.",
                c.reachable_voters as u64,
            ),
        ] {
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name}{{node=\"{n}\"}} {value}");
        }
    }
    histogram(
        out,
        "systole_scheduler_duration_seconds",
        "Scheduler runs as the DC waited for them.",
        node,
        &scrape.timings.scheduler_ms,
    );
    histogram(
        out,
        "systole_transition_duration_seconds",
        "Transitions from start to finish, as the DC ran them.",
        node,
        &scrape.timings.transition_ms,
    );
}

/// The bus counters as `(name, value)` pairs, whatever fields they have.
pub fn counters<T: serde::Serialize>(stats: &T) -> Vec<(String, u64)> {
    match serde_json::to_value(stats) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_u64().map(|v| (k, v)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::control_socket::{ConsensusReport, NodeReport, ResourceReport};

    fn scrape_text() -> String {
        scrape_of(
            r#"<cib><configuration><crm_config/><nodes/><resources>
            <primitive id="web" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="migration-threshold" value="3"/></meta_attributes></primitive>
            </resources><constraints><rsc_location id="loc-web" rsc="web" node="node2" score="INFINITY"/><rsc_order id="o" first="a" then="b"/></constraints></configuration><status/></cib>"#,
        )
    }

    fn scrape_of(cib_xml: &str) -> String {
        let cib = Element::parse(cib_xml).unwrap();
        let status = StatusReport {
            cluster: "c".into(),
            dc: Some("node1".into()),
            quorate: true,
            answered_by: "node1".into(),
            nodes: vec![NodeReport {
                name: "node1".into(),
                online: true,
                ..Default::default()
            }],
            resources: vec![ResourceReport {
                id: "web".into(),
                agent: "ocf:heartbeat:Dummy".into(),
                role: "Started".into(),
                nodes: vec!["node1".into()],
                fail_counts: [("node1".to_string(), 2)].into_iter().collect(),
                ..Default::default()
            }],
            consensus: Some(ConsensusReport {
                term: 4,
                commit_index: 99,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut timings = Timings::default();
        timings.scheduler_ms.observe(30);
        render(&Scrape {
            status: &status,
            cib: &cib,
            bus: vec![("sent".into(), 12)],
            actors: None,
            timings: &timings,
        })
    }

    /// The exporter reads settings as the scheduler does: it used to take
    /// the first nvpair named `is-managed` and compare it with "false",
    /// and `stonith-enabled` only under that old name.
    #[test]
    fn settings_read_as_the_scheduler_reads_them() {
        let text = scrape_of(
            r#"<cib><configuration><crm_config><cluster_property_set id="p"><nvpair id="p1" name="fencing-enabled" value="false"/></cluster_property_set></crm_config><nodes/><resources>
            <primitive id="web" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="is-managed" value="no"/></meta_attributes></primitive>
            </resources><rsc_defaults><meta_attributes id="rd"><nvpair id="rd1" name="migration-threshold" value="5"/></meta_attributes></rsc_defaults><constraints/></configuration><status/></cib>"#,
        );
        for line in [
            "managed=\"false\"",
            "ha_cluster_pacemaker_stonith_enabled 0",
            "ha_cluster_pacemaker_migration_threshold{node=\"node1\",resource=\"web\"} 5",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }

    #[test]
    fn exporter_names_and_our_own() {
        let text = scrape_text();
        for line in [
            "ha_cluster_pacemaker_nodes{node=\"node1\",status=\"online\",type=\"member\"} 1",
            "ha_cluster_pacemaker_nodes{node=\"node1\",status=\"dc\",type=\"member\"} 1",
            "ha_cluster_pacemaker_fail_count{node=\"node1\",resource=\"web\"} 2",
            "ha_cluster_pacemaker_migration_threshold{node=\"node1\",resource=\"web\"} 3",
            "ha_cluster_pacemaker_location_constraints{constraint=\"loc-web\",node=\"node2\",resource=\"web\",role=\"\"} 1000000",
            "systole_constraints{kind=\"rsc_order\"} 1",
            "ha_cluster_pacemaker_stonith_enabled 1",
            "systole_consensus_term{node=\"node1\"} 4",
            "systole_consensus_commit_index{node=\"node1\"} 99",
            "systole_bus_messages_total{counter=\"sent\",node=\"node1\"} 12",
            "systole_scheduler_duration_seconds_bucket{node=\"node1\",le=\"0.05\"} 1",
            "systole_scheduler_duration_seconds_count{node=\"node1\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        assert!(text.contains("ha_cluster_pacemaker_resources{agent=\"ocf:heartbeat:Dummy\",clone=\"\",group=\"\",managed=\"true\",node=\"node1\",resource=\"web\",role=\"started\",status=\"active\"} 1"));
        // Every sample line is NAME{labels} VALUE or NAME VALUE.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
