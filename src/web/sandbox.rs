//! The sandbox: what-ifs applied to a copy of the live CIB (nodes down or
//! up, an operation failing, standby, a constraint, pasted XML), then the
//! scheduler run in-process on it, as `systole simulate` does. Pure: the
//! CIB, the form and "now" in; the changed CIB and the plan out.

use crate::admin;
use crate::model::cib::xml::Element;
use crate::model::control::history::TransitionRecord;
use crate::model::control::plan::Plan;
use serde::Deserialize;

/// The sandbox form; every field free text, checked here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WhatIf {
    /// Nodes to take down, separated by spaces or commas.
    #[serde(default)]
    pub node_down: String,
    #[serde(default)]
    pub node_up: String,
    /// Nodes to put in standby.
    #[serde(default)]
    pub standby: String,
    /// Operation failures, `RSC_OP_INTERVAL@NODE=RC`, separated by spaces.
    #[serde(default)]
    pub op_fail: String,
    /// A constraint as the CLI takes it: `location web prefers node2=100`,
    /// `colocation add a with b INFINITY`, `order start a then start b`.
    #[serde(default)]
    pub constraint: String,
    /// A `<configuration>` (or whole `<cib>`) whose elements are merged by id.
    #[serde(default)]
    pub xml: String,
    /// The live `admin_epoch:epoch` the sandbox started from (for commit).
    #[serde(default)]
    pub base: String,
    /// The shadow to save the sandbox as (commit).
    #[serde(default)]
    pub shadow: String,
    #[serde(default)]
    pub csrf: String,
}

/// Largest pasted XML, in bytes.
pub const SANDBOX_XML_BYTES_MAX: usize = 1024 * 1024;

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
}

impl WhatIf {
    pub fn is_empty(&self) -> bool {
        [
            &self.node_down,
            &self.node_up,
            &self.standby,
            &self.op_fail,
            &self.constraint,
            &self.xml,
        ]
        .iter()
        .all(|f| f.trim().is_empty())
    }

    /// The configuration changes (standby, constraint, XML): what a
    /// shadow commit makes live.
    pub fn configuration_edit(&self, cib: &Element) -> Result<admin::Edit, String> {
        let mut edit = admin::Edit::default();
        let mut scratch = cib.clone();
        let mut add = |one: admin::Edit, scratch: &mut Element| -> Result<(), String> {
            one.apply(scratch).map_err(|e| e.to_string())?;
            edit.changes.extend(one.changes);
            edit.summary.extend(one.summary);
            Ok(())
        };
        for node in words(&self.standby) {
            let one = admin::node_standby(&scratch, node).map_err(|e| e.to_string())?;
            add(one, &mut scratch)?;
        }
        let constraint: Vec<String> = self
            .constraint
            .split_whitespace()
            .map(String::from)
            .collect();
        if let Some((kind, args)) = constraint.split_first() {
            let one = match kind.as_str() {
                "location" => admin::constraint_location(&scratch, args),
                "colocation" => admin::constraint_colocation(&scratch, args),
                "order" => admin::constraint_order(&scratch, args),
                other => {
                    return Err(format!(
                        "constraint: {other:?} is not location, colocation or order"
                    ))
                }
            }
            .map_err(|e| format!("constraint: {e}"))?;
            add(one, &mut scratch)?;
        }
        if !self.xml.trim().is_empty() {
            if self.xml.len() > SANDBOX_XML_BYTES_MAX {
                return Err(format!(
                    "pasted XML is {} bytes, over SANDBOX_XML_BYTES_MAX = {SANDBOX_XML_BYTES_MAX}",
                    self.xml.len()
                ));
            }
            let one = admin::cib_import(&scratch, &self.xml, true).map_err(|e| e.to_string())?;
            add(one, &mut scratch)?;
        }
        Ok(edit)
    }

    /// The live CIB with every what-if applied: configuration changes,
    /// then nodes and failures in the status.
    pub fn apply(
        &self,
        live: &Element,
        now_epoch_s: i64,
    ) -> Result<(Element, Vec<String>), String> {
        let edit = self.configuration_edit(live)?;
        let mut cib = live.clone();
        edit.apply(&mut cib).map_err(|e| e.to_string())?;
        let mut said = edit.summary;
        let known = node_names(live);
        for (text, up) in [(&self.node_up, true), (&self.node_down, false)] {
            for node in words(text) {
                if !known.iter().any(|k| k == node) {
                    return Err(format!("no node {node:?} (nodes: {})", known.join(", ")));
                }
                crate::admin::what_if::set_node(&mut cib, node, up);
                said.push(format!(
                    "{node} {}",
                    if up { "comes up" } else { "goes down" }
                ));
            }
        }
        for spec in words(&self.op_fail) {
            crate::admin::what_if::inject_failure(&mut cib, spec, now_epoch_s)
                .map_err(|e| format!("operation failure {spec:?}: {e:#}"))?;
            said.push(format!("operation {spec} fails"));
        }
        Ok((cib, said))
    }
}

/// The node names of the configuration.
pub fn node_names(cib: &Element) -> Vec<String> {
    cib.child("configuration")
        .and_then(|c| c.child("nodes"))
        .map(|nodes| {
            nodes
                .children
                .iter()
                .filter_map(|n| n.attr("uname").or(n.attr("id")).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// What the scheduler would do on `cib`: the plan as a transition record
/// (every action pending), for the same drawing as a real transition.
pub fn would_follow(cib: &Element, now_epoch_s: i64) -> Result<TransitionRecord, String> {
    let plan: Plan = crate::scheduler::plan::plan(cib, now_epoch_s)?;
    let mut record = TransitionRecord::new(
        0,
        "sandbox",
        "what-if",
        crate::model::cib::store::version(cib),
        now_epoch_s,
        &plan,
    );
    record.outcome = Some("would follow (not run)".into());
    Ok(record)
}

/// Parses `admin_epoch:epoch`.
pub fn parse_base(text: &str) -> Result<(u64, u64), String> {
    let (a, e) = text
        .trim()
        .split_once(':')
        .ok_or("the sandbox's base version is missing; run the sandbox again")?;
    match (a.parse(), e.parse()) {
        (Ok(a), Ok(e)) => Ok((a, e)),
        _ => Err(format!("bad base version {text:?}; run the sandbox again")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Element {
        let mut cib = crate::web::two_nodes_and_web();
        admin::property_set(&cib, &["stonith-enabled=false".into()], false)
            .unwrap()
            .apply(&mut cib)
            .unwrap();
        for n in ["node1", "node2"] {
            crate::admin::what_if::set_node(&mut cib, n, true);
        }
        cib
    }

    #[test]
    fn what_ifs_change_the_copy_and_the_plan_follows() {
        let live = live();
        let calm = would_follow(&live, 0).unwrap();
        // Nothing known yet: the resource is probed on both nodes first.
        for node in ["node1", "node2"] {
            let probe = format!("probe web on {node}");
            assert!(
                calm.actions.iter().any(|a| a.description == probe),
                "{probe}"
            );
        }
        let what = WhatIf {
            node_down: "node1".into(),
            constraint: "location web prefers node2=INFINITY".into(),
            ..Default::default()
        };
        let (cib, said) = what.apply(&live, 0).unwrap();
        assert_eq!(said.len(), 2, "{said:?}");
        let record = would_follow(&cib, 0).unwrap();
        assert!(record
            .actions
            .iter()
            .any(|a| a.description == "probe web on node2"));
        assert!(
            !record
                .actions
                .iter()
                .any(|a| a.description.contains("node1")),
            "a node that is down runs nothing"
        );
        assert!(what.configuration_edit(&live).unwrap().changes.len() == 1);
    }

    #[test]
    fn bad_input_is_a_clear_error_never_a_panic() {
        let live = live();
        for (what, expected) in [
            (
                WhatIf {
                    xml: "<configuration><resources><primitive".into(),
                    ..Default::default()
                },
                "import refused",
            ),
            (
                WhatIf {
                    node_down: "node9".into(),
                    ..Default::default()
                },
                "no node",
            ),
            (
                WhatIf {
                    op_fail: "garbage".into(),
                    ..Default::default()
                },
                "operation failure",
            ),
            (
                WhatIf {
                    constraint: "rsc_foo x".into(),
                    ..Default::default()
                },
                "constraint",
            ),
        ] {
            let error = what.apply(&live, 0).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        assert!(parse_base("3").is_err());
        assert_eq!(parse_base("0:12"), Ok((0, 12)));
    }
}
