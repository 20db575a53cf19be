//! Nodes as configured (the `nodes` section).

use std::collections::BTreeMap;

use super::error::{invalid, req, ModelError};
use super::nvpairs::nvpairs;
use super::rules::RuleContext;
use super::score;
use super::xml::Element;
use super::Cib;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Member,
    Remote,
    Guest,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: String,
    pub uname: String,
    pub kind: NodeKind,
    pub attrs: BTreeMap<String, String>,
    pub utilization: BTreeMap<String, String>,
    pub score: i64,
}

fn read_node(root: &Element, n: &Element, ctx: &RuleContext) -> Result<NodeConfig, ModelError> {
    let id = req(n, "id")?.to_string();
    let uname = n.attr("uname").unwrap_or(&id).to_string();
    let kind = match n.attr("type") {
        Some("remote") => NodeKind::Remote,
        _ => NodeKind::Member,
    };
    let score = match n.attr("score") {
        Some(s) => score::parse(s).ok_or_else(|| invalid(n, "score", s))?,
        None => 0,
    };
    Ok(NodeConfig {
        id,
        uname,
        kind,
        attrs: nvpairs(root, n, "instance_attributes", ctx),
        utilization: nvpairs(root, n, "utilization", ctx),
        score,
    })
}

/// Reads the `nodes` section; a node that cannot be read is left out.
pub(super) fn read_nodes(cib: &mut Cib, root: &Element, config: &Element, ctx: &RuleContext) {
    let Some(nodes) = config.child("nodes") else {
        return;
    };
    for n in nodes.children_named("node") {
        match read_node(root, n, ctx) {
            Ok(node) => cib.nodes.push(node),
            Err(error) => cib.config_errors.push(error.into()),
        }
    }
}
