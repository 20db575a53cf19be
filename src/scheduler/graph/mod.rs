//! Stage 5, graph: the actions as a petgraph DAG with their ordering edges.

pub mod collective;
mod fencing;
mod invariants;
pub mod order;
pub mod plan;
mod primitive;

use std::collections::BTreeMap;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::cib::operation::OpKind;
use crate::scheduler::actions::Decision;
use crate::scheduler::assign::Plan;
use crate::scheduler::unpack::{Variant, Working};
use crate::scheduler::{Action, AgentSpec, Meta, Task};

pub(super) struct Builder<'a> {
    pub(super) w: &'a Working,
    pub(super) graph: DiGraph<Action, ()>,
    /// Per resource index: its actions with their (ordering) task.
    by_rsc: Vec<Vec<(Task, NodeIndex)>>,
    /// The pseudo-actions of groups, clones and bundles.
    pub(super) coll: collective::Pseudos,
    /// Each resource's parameters, copied once and shared by its actions.
    params: Vec<Option<Arc<BTreeMap<String, String>>>>,
    /// Each resource's agent, likewise.
    agents: Vec<Option<Arc<AgentSpec>>>,
}

impl<'a> Builder<'a> {
    /// An empty graph with room for a probe per primitive and online node
    /// plus a few actions each, so that the node vector is not regrown (and
    /// copied) as it fills.
    fn new(w: &'a Working, fence_count: usize) -> Self {
        let online = w.nodes.iter().filter(|n| n.online).count();
        let primitives = w
            .rscs
            .iter()
            .filter(|r| r.variant == Variant::Primitive)
            .count();
        Builder {
            w,
            graph: DiGraph::with_capacity(primitives * (online + 4) + fence_count, 0),
            by_rsc: vec![Vec::new(); w.rscs.len()],
            coll: Default::default(),
            params: vec![None; w.rscs.len()],
            agents: w
                .rscs
                .iter()
                .map(|r| r.agent.clone().map(Arc::new))
                .collect(),
        }
    }

    fn params_of(&mut self, r: usize) -> Arc<BTreeMap<String, String>> {
        if self.params.len() <= r {
            self.params.resize(r + 1, None);
        }
        self.params[r]
            .get_or_insert_with(|| Arc::new(self.w.rscs[r].params.clone()))
            .clone()
    }

    /// The parameters an operation runs with: the resource's, plus the
    /// operation's own instance attributes when it has any.
    fn op_params(
        &mut self,
        r: usize,
        task: &OpKind,
        interval_ms: u64,
    ) -> Arc<BTreeMap<String, String>> {
        let shared = self.params_of(r);
        let own = self.w.rscs[r]
            .ops
            .iter()
            .find(|o| o.name == *task && o.interval_ms == interval_ms)
            .map(|o| &o.params)
            .filter(|p| !p.is_empty());
        match own {
            None => shared,
            Some(own) => {
                let mut all = (*shared).clone();
                all.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
                Arc::new(all)
            }
        }
    }

    /// The same timeout the history's digests are compared with.
    pub(super) fn timeout_ms(&self, r: usize, task: &OpKind, interval_ms: u64) -> u64 {
        crate::scheduler::unpack::definition::op_timeout_ms(
            self.w,
            &self.w.rscs[r],
            task,
            interval_ms,
        )
    }

    pub(super) fn add(
        &mut self,
        r: usize,
        task: Task,
        node: usize,
        interval_ms: u64,
        meta: Meta,
    ) -> NodeIndex {
        let rsc = &self.w.rscs[r];
        let operation = if task == Task::Pseudo {
            OpKind::parse(meta.get("name").map(String::as_str).unwrap_or_default())
        } else {
            OpKind::parse(task.name())
        };
        let action = Action {
            task,
            resource: Some(rsc.id.clone()),
            agent: self.agents[r].clone(),
            node: Some(self.w.nodes[node].name.clone()),
            interval_ms,
            timeout_ms: self.timeout_ms(r, &operation, interval_ms),
            params: self.op_params(r, &operation, interval_ms),
            meta,
        };
        let idx = self.graph.add_node(action);
        let key_task = if task == Task::Pseudo {
            match operation {
                OpKind::Stop => Task::Stop,
                OpKind::Start => Task::Start,
                OpKind::Demote => Task::Demote,
                _ => Task::Pseudo,
            }
        } else {
            task
        };
        self.by_rsc[r].push((key_task, idx));
        idx
    }

    /// A pseudo-action implied by fencing names the resource as the node's
    /// history did (an anonymous clone instance by its bare id).
    fn name_as_history(&mut self, action: NodeIndex, r: usize, node: usize) {
        if let Some(c) = self.w.rscs[r].current.iter().find(|c| c.node == node) {
            if !c.history_id.is_empty()
                && self.graph[action].resource.as_deref() != Some(c.history_id.as_str())
            {
                self.graph[action].resource = Some(c.history_id.clone());
            }
        }
    }

    /// The actions of resource `r` for `task`.
    pub(super) fn of(&self, r: usize, task: Task) -> Vec<NodeIndex> {
        self.by_rsc[r]
            .iter()
            .filter(|(t, _)| *t == task)
            .map(|(_, i)| *i)
            .collect()
    }

    pub(super) fn edge(&mut self, a: NodeIndex, b: NodeIndex) {
        if a != b {
            self.graph.update_edge(a, b, ());
        }
    }

    fn edges_between(&mut self, r: usize, first: Task, then: Task) {
        let a = self.of(r, first);
        let b = self.of(r, then);
        for &x in &a {
            for &y in &b {
                self.edge(x, y);
            }
        }
    }
}

pub(super) fn clone_meta(w: &Working, r: usize) -> Meta {
    let mut meta = Meta::new();
    let rsc = &w.rscs[r];
    let clone = rsc.parent.and_then(|p| {
        if w.rscs[p].variant == Variant::Clone {
            Some(p)
        } else {
            w.rscs[p]
                .parent
                .filter(|&g| w.rscs[g].variant == Variant::Clone)
        }
    });
    if let Some(c) = clone {
        let c = &w.rscs[c];
        meta.insert("clone_max".into(), c.clone_max.to_string());
        meta.insert("clone_node_max".into(), c.clone_node_max.to_string());
        meta.insert("globally_unique".into(), c.globally_unique.to_string());
        if let Some(i) = rsc.instance {
            meta.insert("clone".into(), i.to_string());
        }
        if c.promotable {
            meta.insert("promoted_max".into(), c.promoted_max.to_string());
            meta.insert("promoted_node_max".into(), c.promoted_node_max.to_string());
        }
    }
    meta
}

/// The transition graph: every action the decisions call for, with the
/// orderings between them.
pub fn build(
    w: &Working,
    plan: &Plan,
    decisions: &[Decision],
    fence: &[bool],
) -> DiGraph<Action, ()> {
    let mut b = Builder::new(w, fence.len());
    let fence_nodes = fencing::add_fencing(&mut b, fence);
    let unfence_nodes = fencing::add_unfencing(&mut b, decisions);
    let mut guest_stops: Vec<(usize, NodeIndex)> = Vec::new();
    primitive::add_primitives(&mut b, plan, decisions, &fence_nodes, &mut guest_stops);
    fencing::order_after_unfencing(&mut b, &unfence_nodes);
    collective::add(&mut b, decisions, fence);
    let load_before_migrations = order::load_stopped(&mut b);
    // Orderings that may conflict: added last, only where they close no loop.
    let mut extra = order::constraint_orderings(&b, plan);
    extra.extend(order::probes_before_dependent_stops(&b));
    extra.extend(order::one_or_more_orderings(&mut b, decisions));
    extra.extend(order::remote_connection_orderings(&b));
    extra.extend(order::guest_stop_orderings(&b, &guest_stops));
    extra.extend(fencing::fencing_sequence(w, &fence_nodes));
    extra.extend(fencing::fencing_before_starts(&b, &fence_nodes));
    add_unless_cyclic(&mut b, extra);
    add_unless_cyclic(&mut b, load_before_migrations);
    invariants::check(&b, &fence_nodes);
    b.graph
}

/// Adds orderings that may conflict with each other or the graph: all of
/// them when they close no loop (checked on a shadow graph of bare indices
/// first, as cloning the real graph, every action's parameters, would be
/// costly), else only those that close none.
fn add_unless_cyclic(b: &mut Builder<'_>, extra: Vec<(NodeIndex, NodeIndex)>) {
    let mut shadow: DiGraph<(), ()> = DiGraph::with_capacity(b.graph.node_count(), 0);
    for _ in 0..b.graph.node_count() {
        shadow.add_node(());
    }
    for e in b.graph.raw_edges() {
        shadow.add_edge(e.source(), e.target(), ());
    }
    for (x, y) in &extra {
        shadow.add_edge(*x, *y, ());
    }
    if !petgraph::algo::is_cyclic_directed(&shadow) {
        for (x, y) in extra {
            b.edge(x, y);
        }
    } else {
        for (x, y) in extra {
            if !petgraph::algo::has_path_connecting(&b.graph, y, x, None) {
                b.edge(x, y);
            }
        }
    }
}

/// A pseudo-action run on no node (a collective's step, `load_stopped_N`,
/// a one-or-more point), named `name`.
pub(super) fn pseudo_action(resource: Option<String>, name: String, timeout_ms: u64) -> Action {
    let mut meta = Meta::new();
    meta.insert("name".into(), name);
    Action {
        task: Task::Pseudo,
        resource,
        agent: None,
        node: None,
        interval_ms: 0,
        timeout_ms,
        params: Default::default(),
        meta,
    }
}
