//! What every transition graph guarantees, checked once it is built: a
//! failure here is a bug in the scheduler, never in its input.
//!
//! - The graph is acyclic: a cycle would leave its actions waiting forever.
//! - Fencing comes first: a resource that ran on a fenced node starts,
//!   promotes or migrates elsewhere only after the fencing (directly, or
//!   through the stop the fencing implies).
//! - A primitive is never active on two nodes: where it starts, every node
//!   it runs on now has a stop ordered before the start. A live migration is
//!   the one exception, by design: it runs on both nodes from its
//!   `migrate_from` until the stop on the source, which follows it.

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;
use petgraph::Direction::Incoming;

use super::Builder;
use crate::scheduler::unpack::Variant;
use crate::scheduler::Task;

pub(super) fn check(b: &Builder<'_>, fence_nodes: &BTreeMap<usize, NodeIndex>) {
    assert!(
        !petgraph::algo::is_cyclic_directed(&b.graph),
        "the transition graph has a cycle"
    );
    for r in 0..b.w.rscs.len() {
        if b.w.rscs[r].variant != Variant::Primitive {
            continue;
        }
        check_fencing_first(b, fence_nodes, r);
        check_single_placement(b, r);
    }
}

/// Whether `first` is a direct predecessor of `then`, or of one of its
/// direct predecessors.
fn precedes_within_two(b: &Builder<'_>, first: NodeIndex, then: NodeIndex) -> bool {
    b.graph
        .neighbors_directed(then, Incoming)
        .any(|p| p == first || b.graph.neighbors_directed(p, Incoming).any(|q| q == first))
}

/// The node index an action runs on.
fn node_of(b: &Builder<'_>, i: NodeIndex) -> Option<usize> {
    b.graph[i].node.as_deref().and_then(|n| b.w.node_named(n))
}

/// The actions of `r` bringing it up (starts, also the pseudo-start after a
/// migration; promotions; migrations), each after the fencing of every
/// fenced node it ran on. A fence device's own do not wait for fencing.
fn check_fencing_first(b: &Builder<'_>, fence_nodes: &BTreeMap<usize, NodeIndex>, r: usize) {
    let rsc = &b.w.rscs[r];
    if fence_nodes.is_empty() || rsc.agent.as_ref().is_some_and(|a| a.is_fence_device()) {
        return;
    }
    for c in &rsc.current {
        let Some(&fencing) = fence_nodes.get(&c.node) else {
            continue;
        };
        for &(task, up) in &b.by_rsc[r] {
            if !matches!(task, Task::Start | Task::Promote | Task::MigrateFrom) {
                continue;
            }
            assert!(
                precedes_within_two(b, fencing, up),
                "{} of {} does not wait for the fencing of {}",
                b.graph[up].key(),
                rsc.id,
                b.w.nodes[c.node].name
            );
        }
    }
}

/// Where `r` starts, every other node it is active on has a stop first; a
/// migration's source stops after its `migrate_from`.
fn check_single_placement(b: &Builder<'_>, r: usize) {
    let rsc = &b.w.rscs[r];
    let of = |task: Task| {
        b.by_rsc[r]
            .iter()
            .filter(move |(t, _)| *t == task)
            .map(|(_, i)| *i)
    };
    let mut start_node = None;
    for start in of(Task::Start) {
        let node = node_of(b, start);
        assert!(
            start_node.is_none() || start_node == Some(node),
            "{} is started on two nodes",
            rsc.id
        );
        start_node = Some(node);
        for c in rsc.current.iter().filter(|c| Some(c.node) != node) {
            let stopped_first = of(Task::Stop)
                .any(|stop| node_of(b, stop) == Some(c.node) && b.graph.contains_edge(stop, start));
            assert!(
                stopped_first,
                "{} starts on {:?} while left active on {}",
                rsc.id, b.graph[start].node, b.w.nodes[c.node].name
            );
        }
    }
    for migrate_from in of(Task::MigrateFrom) {
        let source = b.graph[migrate_from]
            .meta
            .get("migrate_source")
            .and_then(|n| b.w.node_named(n));
        let stopped_after = of(Task::Stop)
            .any(|stop| node_of(b, stop) == source && b.graph.contains_edge(migrate_from, stop));
        assert!(
            stopped_after,
            "{} migrates without stopping on its source",
            rsc.id
        );
    }
}
