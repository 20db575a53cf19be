//! `systole explain RESOURCE`: why a resource is where it is, in words.
//!
//! Runs the scheduler on the CIB (pure, as the DC does) and reads off, for
//! the resource: where it runs now, where the scheduler places it, each
//! node's final score and what makes a node ineligible, and the
//! configuration that pulled it there (location, colocation and order
//! constraints, stickiness, failures).

use crate::model::cib::xml::Element;
use crate::model::cib::ResourceMeta;
use crate::scheduler;
use std::fmt::Write;

/// `systole explain RESOURCE`, on the live CIB.
pub fn command(target: &crate::cli::args::Target, resource: &str) -> anyhow::Result<i32> {
    use crate::actors::control_socket::{ControlRequest, ControlResponse};
    use anyhow::Context;
    match crate::cli::target::ask(target, ControlRequest::CibGet)? {
        ControlResponse::Cib { xml } => {
            let cib = Element::parse(&xml).context("the daemon's CIB")?;
            let now = crate::cli::target::now_epoch_s();
            print!("{}", explain(&cib, resource, now)?);
        }
        other => anyhow::bail!("unexpected answer {other:?}"),
    }
    Ok(0)
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("no resource {0} in the configuration")]
    NoSuchResource(String),
    #[error(transparent)]
    Scheduler(#[from] scheduler::SchedulerError),
}

fn score_words(score: i64) -> String {
    crate::model::cib::score::format(score)
}

/// Meta attribute `name` of the resource as the scheduler reads it, and
/// whence: its own sets, else the rsc_defaults.
fn meta(meta: &ResourceMeta, name: &str) -> Option<(String, &'static str)> {
    match (meta.own.get(name), meta.defaults.get(name)) {
        (Some(value), _) => Some((value.clone(), "its own meta attribute")),
        (None, Some(value)) => Some((value.clone(), "rsc_defaults")),
        (None, None) => None,
    }
}

/// Constraints naming `id` (directly or in a resource set), in words.
fn constraints(cib: &Element, id: &str) -> Vec<String> {
    let Some(section) = cib
        .child("configuration")
        .and_then(|c| c.child("constraints"))
    else {
        return Vec::new();
    };
    let in_sets = |c: &Element| {
        c.children_named("resource_set").any(|set| {
            set.children_named("resource_ref")
                .any(|r| r.id() == Some(id))
        })
    };
    let mut out = Vec::new();
    for c in &section.children {
        let cid = c.id().unwrap_or("?");
        let score = c.attr("score").or(c.attr("kind")).unwrap_or("INFINITY");
        let line = match c.name.as_str() {
            "rsc_location" if c.attr("rsc") == Some(id) || in_sets(c) => match c.attr("node") {
                Some(node) => format!("location {cid}: score {score} on {node}"),
                None => format!("location {cid}: score {score} where its rules match"),
            },
            "rsc_colocation" if c.attr("rsc") == Some(id) => format!(
                "colocation {cid}: placed with {} (score {score})",
                c.attr("with-rsc").unwrap_or("?")
            ),
            "rsc_colocation" if c.attr("with-rsc") == Some(id) => format!(
                "colocation {cid}: {} is placed with it (score {score})",
                c.attr("rsc").unwrap_or("?")
            ),
            "rsc_colocation" if in_sets(c) => {
                format!("colocation {cid}: in a colocated set (score {score})")
            }
            "rsc_order" if c.attr("then") == Some(id) => format!(
                "order {cid}: starts after {} ({score})",
                c.attr("first").unwrap_or("?")
            ),
            "rsc_order" if c.attr("first") == Some(id) => format!(
                "order {cid}: {} starts after it ({score})",
                c.attr("then").unwrap_or("?")
            ),
            "rsc_order" if in_sets(c) => format!("order {cid}: in an ordered set"),
            "rsc_ticket" if c.attr("rsc") == Some(id) => {
                format!(
                    "ticket {cid}: needs ticket {}",
                    c.attr("ticket").unwrap_or("?")
                )
            }
            _ => continue,
        };
        out.push(line);
    }
    out
}

/// Fail counts recorded for `id` (instances `id:N` included), per node.
fn failures(cib: &Element, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(status) = cib.child("status") else {
        return out;
    };
    for state in status.children_named("node_state") {
        let node = state.attr("uname").unwrap_or("?");
        let Some(set) = state
            .child("transient_attributes")
            .and_then(|t| t.child("instance_attributes"))
        else {
            continue;
        };
        for nv in set.children_named("nvpair") {
            let name = nv.attr("name").unwrap_or_default();
            let Some(rest) = name.strip_prefix("fail-count-") else {
                continue;
            };
            let resource = rest.split('#').next().unwrap_or(rest);
            if resource == id || resource.split(':').next() == Some(id) {
                out.push(format!(
                    "{} failures of {rest} on {node}",
                    nv.attr("value").unwrap_or("?")
                ));
            }
        }
    }
    out
}

/// The explanation, as text.
pub fn explain(cib: &Element, id: &str, now_epoch_s: i64) -> Result<String, ExplainError> {
    let outcome = scheduler::run(cib, now_epoch_s)?;
    let w = &outcome.working;
    let indices: Vec<usize> = w
        .rscs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.id == id || r.base == id)
        .map(|(i, _)| i)
        .collect();
    let element = cib
        .child("configuration")
        .and_then(|c| c.child("resources"))
        .and_then(|r| r.find_by_id(None, id));
    if indices.is_empty() || element.is_none() {
        return Err(ExplainError::NoSuchResource(id.to_string()));
    }
    let element = element.expect("checked");
    let mut out = String::new();
    let _ = writeln!(out, "{id} ({})", element.name);
    for &r in &indices {
        explain_placement(&mut out, &outcome, r, id);
    }
    let resource_meta = ResourceMeta::read(cib, element, now_epoch_s);
    explain_configuration(&mut out, cib, &resource_meta, id);
    Ok(out)
}

/// Where resource `r` runs, where the scheduler places it, and each node's
/// score with what keeps it from running there.
fn explain_placement(out: &mut String, outcome: &scheduler::Outcome, r: usize, id: &str) {
    let w = &outcome.working;
    let rsc = &w.rscs[r];
    let now: Vec<&str> = rsc
        .current
        .iter()
        .map(|c| w.nodes[c.node].name.as_str())
        .collect();
    let next = outcome.plan.assigned[r].map(|n| w.nodes[n].name.as_str());
    let label = if rsc.id == id {
        String::new()
    } else {
        format!("{}: ", rsc.id)
    };
    let _ = writeln!(
        out,
        "  {label}runs on {}; the scheduler places it {}",
        if now.is_empty() {
            "no node".to_string()
        } else {
            now.join(", ")
        },
        match next {
            Some(node) if now == [node] => format!("on {node} again (it stays)"),
            Some(node) => format!("on {node}"),
            None => "nowhere (it stays stopped)".to_string(),
        }
    );
    let _ = writeln!(
        out,
        "  {label}scores by node (higher wins, -INFINITY = may not run there):"
    );
    for (n, node) in w.nodes.iter().enumerate() {
        let score = outcome.plan.final_scores[r].get(n).copied().unwrap_or(0);
        let mut why = Vec::new();
        for (holds, reason) in [
            (!node.online, "node offline"),
            (node.standby, "node in standby"),
            (node.maintenance, "node in maintenance"),
            (node.unclean, "node unclean"),
            (
                !outcome.plan.allowed[r][n],
                "not allowed by constraints or failures",
            ),
            (
                rsc.banned_by_failures.get(n).copied().unwrap_or(false),
                "migration-threshold reached",
            ),
        ] {
            if holds {
                why.push(reason);
            }
        }
        let _ = writeln!(
            out,
            "    {:<16} {:>10}{}",
            node.name,
            score_words(score),
            if why.is_empty() {
                String::new()
            } else {
                format!("  ({})", why.join(", "))
            }
        );
    }
}

/// The configuration that pulls the resource: constraints naming it,
/// stickiness, target-role, failures.
fn explain_configuration(out: &mut String, cib: &Element, resource_meta: &ResourceMeta, id: &str) {
    let constraint_lines = constraints(cib, id);
    let _ = writeln!(out, "  constraints:");
    if constraint_lines.is_empty() {
        let _ = writeln!(out, "    none name it");
    }
    for line in constraint_lines {
        let _ = writeln!(out, "    {line}");
    }
    match meta(resource_meta, "resource-stickiness") {
        Some((value, from)) => {
            let _ = writeln!(
                out,
                "  stickiness: {value} (from {from}): a running resource prefers to stay"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  stickiness: 0: it moves whenever another node scores higher"
            );
        }
    }
    if let Some((value, from)) = meta(resource_meta, "target-role") {
        let _ = writeln!(out, "  target-role: {value} (from {from})");
    }
    let failure_lines = failures(cib, id);
    if !failure_lines.is_empty() {
        let threshold = meta(resource_meta, "migration-threshold")
            .map(|(v, _)| v)
            .unwrap_or_else(|| "INFINITY".into());
        let _ = writeln!(out, "  failures (migration-threshold {threshold}):");
        for line in failure_lines {
            let _ = writeln!(out, "    {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIB: &str = r#"<cib admin_epoch="0" epoch="1" num_updates="0" have-quorum="1">
      <configuration>
        <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
        <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2">
          <instance_attributes id="n2-a"><nvpair id="n2-s" name="standby" value="on"/></instance_attributes></node>
          <node id="n3" uname="n3"/></nodes>
        <resources>
          <primitive id="web" class="ocf" provider="heartbeat" type="Dummy">
            <meta_attributes id="web-m"><nvpair id="web-st" name="resource-stickiness" value="50"/></meta_attributes>
          </primitive>
          <primitive id="db" class="ocf" provider="heartbeat" type="Dummy"/>
        </resources>
        <constraints>
          <rsc_location id="web-prefers-n3" rsc="web" node="n3" score="200"/>
          <rsc_colocation id="db-with-web" rsc="db" with-rsc="web" score="INFINITY"/>
        </constraints>
      </configuration>
      <status>
        <node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>
        <node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
        <node_state id="n3" uname="n3" in_ccm="true" crmd="online" join="member" expected="member"/>
      </status>
    </cib>"#;

    #[test]
    fn explains_placement_with_constraints_and_node_states() {
        let cib = Element::parse(CIB).unwrap();
        let text = explain(&cib, "web", 0).unwrap();
        assert!(text.contains("the scheduler places it on n3"), "{text}");
        assert!(
            text.contains("location web-prefers-n3: score 200 on n3"),
            "{text}"
        );
        assert!(
            text.contains("colocation db-with-web: db is placed with it"),
            "{text}"
        );
        assert!(text.contains("node in standby"), "{text}");
        assert!(
            text.contains("stickiness: 50 (from its own meta attribute)"),
            "{text}"
        );
        let db = explain(&cib, "db", 0).unwrap();
        assert!(db.contains("placed with web (score INFINITY)"), "{db}");
        assert!(db.contains("places it on n3"), "{db}");
    }

    #[test]
    fn unknown_resource_is_a_clear_error() {
        let cib = Element::parse(CIB).unwrap();
        let error = explain(&cib, "nope", 0).unwrap_err();
        assert_eq!(error.to_string(), "no resource nope in the configuration");
    }
}
