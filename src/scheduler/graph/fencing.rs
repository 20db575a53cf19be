//! Fencing in the graph: a fencing action per fenced node, unfencing where
//! a node must be let back in, and the orderings around them (starts wait
//! for every fencing; the DC is fenced last; one at a time without
//! concurrent-fencing).

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;

use super::Builder;
use crate::model::cib::time::parse_interval_ms;
use crate::scheduler::actions::{unfence, Decision};
use crate::scheduler::unpack::{Variant, Working};
use crate::scheduler::{Action, Meta, Task};

/// A fencing action for each node to fence, by node.
pub(super) fn add_fencing(b: &mut Builder<'_>, fence: &[bool]) -> BTreeMap<usize, NodeIndex> {
    let w = b.w;
    let mut fence_nodes = BTreeMap::new();
    for (n, &f) in fence.iter().enumerate() {
        if f {
            let idx = b.graph.add_node(fence_action(w, n, &w.fence_action));
            fence_nodes.insert(n, idx);
        }
    }
    fence_nodes
}

/// Unfencing, before what needs it on the node (see
/// [`order_after_unfencing`]), by node.
pub(super) fn add_unfencing(
    b: &mut Builder<'_>,
    decisions: &[Decision],
) -> BTreeMap<usize, NodeIndex> {
    let w = b.w;
    let mut unfence_nodes = BTreeMap::new();
    for (n, why) in unfence::reasons(w, decisions).iter().enumerate() {
        if why.is_some() {
            let idx = b.graph.add_node(fence_action(w, n, "on"));
            unfence_nodes.insert(n, idx);
        }
    }
    unfence_nodes
}

/// Probes and starts of what needs unfencing wait for it on their node.
pub(super) fn order_after_unfencing(
    b: &mut Builder<'_>,
    unfence_nodes: &BTreeMap<usize, NodeIndex>,
) {
    if unfence_nodes.is_empty() {
        return;
    }
    let w = b.w;
    for r in 0..w.rscs.len() {
        if w.rscs[r].variant != Variant::Primitive || !unfence::waits_for_unfencing(w, r) {
            continue;
        }
        for task in [Task::Monitor, Task::Start] {
            for i in b.of(r, task) {
                let a = &b.graph[i];
                if task == Task::Monitor && a.interval_ms > 0 {
                    continue;
                }
                let n = a.node.as_deref().and_then(|name| w.node_named(name));
                if let Some(&u) = n.and_then(|n| unfence_nodes.get(&n)) {
                    b.edge(u, i);
                }
            }
        }
    }
}

/// Fencing the DC comes last; without concurrent-fencing the others go one
/// at a time, in node order.
pub(super) fn fencing_sequence(
    w: &Working,
    fence_nodes: &BTreeMap<usize, NodeIndex>,
) -> Vec<(NodeIndex, NodeIndex)> {
    let mut extra = Vec::new();
    let is_dc = |n: usize| w.cib.dc_uuid.as_deref() == Some(w.nodes[n].id.as_str());
    let concurrent = w.cib.bool_property("concurrent-fencing", true);
    let others: Vec<NodeIndex> = fence_nodes
        .iter()
        .filter(|(&n, _)| !is_dc(n))
        .map(|(_, &i)| i)
        .collect();
    let dc: Vec<NodeIndex> = fence_nodes
        .iter()
        .filter(|(&n, _)| is_dc(n))
        .map(|(_, &i)| i)
        .collect();
    if !concurrent {
        for pair in others.windows(2) {
            extra.push((pair[0], pair[1]));
        }
        if let (Some(&last), Some(&d)) = (others.last(), dc.first()) {
            extra.push((last, d));
        }
    } else {
        for &o in &others {
            for &d in &dc {
                extra.push((o, d));
            }
        }
    }
    extra
}

/// Starts (and promotions, migrations) wait for the fencing of any node:
/// resources may come from there. Fence devices' own do not.
pub(super) fn fencing_before_starts(
    b: &Builder<'_>,
    fence_nodes: &BTreeMap<usize, NodeIndex>,
) -> Vec<(NodeIndex, NodeIndex)> {
    let mut extra = Vec::new();
    if fence_nodes.is_empty() {
        return extra;
    }
    let starts: Vec<NodeIndex> = b
        .graph
        .node_indices()
        .filter(|&i| waits_for_fencing(&b.graph[i]))
        .collect();
    for &f in fence_nodes.values() {
        for &s in &starts {
            extra.push((f, s));
        }
    }
    extra
}

/// Whether an action brings a resource up and so waits for all fencing.
pub(super) fn waits_for_fencing(action: &Action) -> bool {
    matches!(action.task, Task::Start | Task::Promote | Task::MigrateTo)
        && action.agent.as_ref().is_none_or(|a| !a.is_fence_device())
}

/// Fencing `action` (reboot, off, on) of node `n`.
fn fence_action(w: &Working, n: usize, action: &str) -> Action {
    let mut meta = Meta::new();
    meta.insert("action".into(), action.to_string());
    Action {
        task: Task::Fence,
        resource: None,
        agent: None,
        node: Some(w.nodes[n].name.clone()),
        interval_ms: 0,
        timeout_ms: w
            .cib
            .property("fencing-timeout")
            .and_then(parse_interval_ms)
            .unwrap_or(60_000),
        params: Default::default(),
        meta,
    }
}
