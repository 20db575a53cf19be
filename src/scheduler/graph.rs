//! Stage 5, graph: the actions as a petgraph DAG with their ordering edges.

use std::collections::BTreeMap;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use super::actions::Decision;
use super::assign::Plan;
use super::definition::{Change, ChangeKind};
use super::order::orderings;
use super::unpack::{Variant, Working};
use super::{Action, AgentSpec, Meta, Task};
use crate::model::cib::time::parse_interval_ms;
use crate::model::cib::Role;

use super::definition::DEFAULT_TIMEOUT_MS;

pub(super) struct Builder<'a> {
    pub(super) w: &'a Working,
    pub(super) graph: DiGraph<Action, ()>,
    /// Per resource index: its actions with their (ordering) task.
    by_rsc: Vec<Vec<(Task, NodeIndex)>>,
    /// The pseudo-actions of groups, clones and bundles.
    pub(super) coll: super::collective::Pseudos,
    /// Each resource's parameters, copied once and shared by its actions.
    params: Vec<Option<Arc<BTreeMap<String, String>>>>,
    /// Each resource's agent, likewise.
    agents: Vec<Option<Arc<AgentSpec>>>,
}

impl Builder<'_> {
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
        task: &str,
        interval_ms: u64,
    ) -> Arc<BTreeMap<String, String>> {
        let shared = self.params_of(r);
        let own = self.w.rscs[r]
            .ops
            .iter()
            .find(|o| o.name == task && o.interval_ms == interval_ms)
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
    pub(super) fn timeout_ms(&self, r: usize, task: &str, interval_ms: u64) -> u64 {
        super::definition::op_timeout_ms(self.w, &self.w.rscs[r], task, interval_ms)
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
        let op_name: std::borrow::Cow<'static, str> = if task == Task::Pseudo {
            meta.get("name").cloned().unwrap_or_default().into()
        } else {
            task.name().into()
        };
        let action = Action {
            task,
            resource: Some(rsc.id.clone()),
            agent: self.agents[r].clone(),
            node: Some(self.w.nodes[node].name.clone()),
            interval_ms,
            timeout_ms: self.timeout_ms(r, &op_name, interval_ms),
            params: self.op_params(r, &op_name, interval_ms),
            meta,
        };
        let idx = self.graph.add_node(action);
        let key_task = if task == Task::Pseudo {
            match &*op_name {
                "stop" => Task::Stop,
                "start" => Task::Start,
                "demote" => Task::Demote,
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

/// With a placement strategy other than "default", a pseudo-action per node
/// says its stops are done: starts there wait for it, so that utilization
/// is freed before it is taken.
fn load_stopped(b: &mut Builder<'_>) {
    let w = b.w;
    if w.placement_strategy == "default" {
        return;
    }
    let mut per_node: Vec<Option<NodeIndex>> = vec![None; w.nodes.len()];
    for (n, node) in w.nodes.iter().enumerate() {
        if !node.online || node.unclean {
            continue;
        }
        per_node[n] = Some(b.graph.add_node(pseudo_action(
            None,
            format!("load_stopped_{}", node.name),
            DEFAULT_TIMEOUT_MS,
        )));
    }
    // Only resources that use capacity take part.
    let mut edges = Vec::new();
    for r in 0..w.rscs.len() {
        if w.rscs[r].utilization.is_empty() {
            continue;
        }
        for &(_, i) in &b.by_rsc[r] {
            let a = &b.graph[i];
            let name = a.meta.get("name").map(String::as_str);
            let node = match a.task {
                Task::MigrateTo => a.meta.get("migrate_target"),
                _ => a.node.as_ref(),
            };
            let Some(load) = node
                .and_then(|name| w.node_index.get(name))
                .and_then(|&n| per_node[n])
            else {
                continue;
            };
            match (a.task, name) {
                (Task::Stop, _) | (Task::Pseudo, Some("stop")) => edges.push((i, load)),
                (Task::Start, _) | (Task::MigrateTo, _) | (Task::Pseudo, Some("start")) => {
                    edges.push((load, i))
                }
                _ => {}
            }
        }
    }
    for (x, y) in edges {
        b.edge(x, y);
    }
}

pub fn build(
    w: &Working,
    plan: &Plan,
    decisions: &[Decision],
    fence: &[bool],
) -> DiGraph<Action, ()> {
    // Room for a probe per primitive and online node plus a few actions each,
    // so that the node vector is not regrown (and copied) as it fills.
    let online = w.nodes.iter().filter(|n| n.online).count();
    let primitives = w
        .rscs
        .iter()
        .filter(|r| r.variant == Variant::Primitive)
        .count();
    let mut b = Builder {
        w,
        graph: DiGraph::with_capacity(primitives * (online + 4) + fence.len(), 0),
        by_rsc: vec![Vec::new(); w.rscs.len()],
        coll: Default::default(),
        params: vec![None; w.rscs.len()],
        agents: w
            .rscs
            .iter()
            .map(|r| r.agent.clone().map(Arc::new))
            .collect(),
    };
    let mut fence_nodes: std::collections::BTreeMap<usize, NodeIndex> =
        std::collections::BTreeMap::new();
    for (n, &f) in fence.iter().enumerate() {
        if f {
            let idx = b.graph.add_node(fence_action(w, n, &w.fence_action));
            fence_nodes.insert(n, idx);
        }
    }
    let mut changes_of: std::collections::HashMap<usize, Vec<&Change>> =
        std::collections::HashMap::new();
    for change in &w.changes {
        changes_of.entry(change.rsc).or_default().push(change);
    }
    // Unfencing, before what needs it on the node (ordered further down).
    let mut unfence_nodes: std::collections::BTreeMap<usize, NodeIndex> =
        std::collections::BTreeMap::new();
    for (n, why) in super::unfence::reasons(w, decisions).iter().enumerate() {
        if why.is_some() {
            let idx = b.graph.add_node(fence_action(w, n, "on"));
            unfence_nodes.insert(n, idx);
        }
    }
    // Stops implied by a lost guest's container stop: (container, stop).
    let mut guest_stops: Vec<(usize, NodeIndex)> = Vec::new();
    // Anonymous clone instances share one probe per node: (clone, node).
    let mut probed: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant != Variant::Primitive {
            continue;
        }
        let d = &decisions[r];
        let base_meta = clone_meta(w, r);
        // Probes where nothing is known.
        if d.probe {
            for (n, node) in w.nodes.iter().enumerate() {
                if !node.online
                    || node.unclean
                    || rsc.known_on[n]
                    || rsc.current.iter().any(|c| c.node == n)
                {
                    continue;
                }
                if rsc.instance.is_some() && !probed.insert((rsc.parent.unwrap_or(r), n)) {
                    continue;
                }
                // A remote node cannot run a connection to a remote node,
                // nor a guest node a container of a guest.
                if node.kind != crate::model::cib::NodeKind::Member
                    && (is_connection(w, r) || w.guest_containers.values().any(|&c| c == r))
                {
                    continue;
                }
                let mut meta = base_meta.clone();
                meta.insert("op_target_rc".into(), "7".into());
                b.add(r, Task::Monitor, n, 0, meta);
            }
        }
        if !d.managed {
            // Left alone, but maintenance still cancels its monitors.
            if let Some(changes) = changes_of.get(&r) {
                let cancels: Vec<&Change> = changes
                    .iter()
                    .copied()
                    .filter(|c| matches!(c.kind, ChangeKind::Cancel { .. }))
                    .collect();
                add_definition_actions(&mut b, r, d, &base_meta, &cancels);
            }
            continue;
        }
        for &n in &d.stop_on {
            // A stop that cannot run (blocked behind a frozen resource, on a
            // node that cannot be fenced) is left out, as Pacemaker does.
            if !d.stop_runnable && !fence_nodes.contains_key(&n) {
                continue;
            }
            if d.demote && d.role == Some(Role::Promoted) {
                // On a node being fenced the demote is implied, as the stop.
                if let Some(&f) = fence_nodes.get(&n) {
                    let mut meta = base_meta.clone();
                    meta.insert("name".into(), "demote".into());
                    let s = b.add(r, Task::Pseudo, n, 0, meta);
                    b.name_as_history(s, r, n);
                    b.edge(f, s);
                } else {
                    b.add(r, Task::Demote, n, 0, base_meta.clone());
                }
            }
            if let Some(&f) = fence_nodes.get(&n) {
                let mut meta = base_meta.clone();
                meta.insert("name".into(), "stop".into());
                let s = b.add(r, Task::Pseudo, n, 0, meta);
                b.name_as_history(s, r, n);
                // A fencing device's own stop does not wait for the fencing.
                let device = rsc.agent.as_ref().is_some_and(|a| a.class == "stonith");
                if !device {
                    b.edge(f, s);
                }
            } else if w.nodes[n].guest_lost.is_some() {
                // A lost guest is "fenced" by its container's recovery: what
                // ran there is stopped by the container's stop.
                let mut meta = base_meta.clone();
                meta.insert("name".into(), "stop".into());
                let s = b.add(r, Task::Pseudo, n, 0, meta);
                b.name_as_history(s, r, n);
                if let Some(container) = super::unpack::guest_container(w, n) {
                    guest_stops.push((container, s));
                }
            } else if d.migrate {
                let to = d.next.unwrap_or(n);
                let mut meta = base_meta.clone();
                meta.insert("migrate_source".into(), w.nodes[n].name.clone());
                meta.insert("migrate_target".into(), w.nodes[to].name.clone());
                let mt = b.add(r, Task::MigrateTo, n, 0, meta.clone());
                let mf = b.add(r, Task::MigrateFrom, to, 0, meta);
                b.edge(mt, mf);
                let s = b.add(r, Task::Stop, n, 0, base_meta.clone());
                b.edge(mf, s);
            } else {
                b.add(r, Task::Stop, n, 0, base_meta.clone());
            }
        }
        for &n in &rsc.dangling {
            if w.nodes[n].online {
                b.add(r, Task::Stop, n, 0, base_meta.clone());
            }
        }
        if d.demote && !d.stop_on.iter().any(|n| Some(*n) == d.current) {
            if let Some(c) = d.current {
                b.add(r, Task::Demote, c, 0, base_meta.clone());
            }
        }
        if let Some(n) = d.next {
            if d.start && d.start_runnable {
                if d.migrate {
                    let mut meta = base_meta.clone();
                    meta.insert("name".into(), "start".into());
                    b.add(r, Task::Pseudo, n, 0, meta);
                } else {
                    b.add(r, Task::Start, n, 0, base_meta.clone());
                }
            }
            let runnable = d.start_runnable || !d.start;
            if d.promote && runnable {
                b.add(r, Task::Promote, n, 0, base_meta.clone());
            }
            let next_role = d.next_role.unwrap_or(Role::Started);
            if runnable && (d.start || d.promote || d.demote) {
                for op in &rsc.ops {
                    if op.name != "monitor" || op.interval_ms == 0 || !op.enabled {
                        continue;
                    }
                    let op_role = op.role.unwrap_or(Role::Started);
                    let matches = match next_role {
                        Role::Promoted => op_role == Role::Promoted,
                        _ => op_role != Role::Promoted,
                    };
                    if matches {
                        b.add(r, Task::Monitor, n, op.interval_ms, base_meta.clone());
                    }
                }
            }
        }
        if let Some(changes) = changes_of.get(&r) {
            add_definition_actions(&mut b, r, d, &base_meta, changes);
        }
        // Within the resource: probes, demote, stop, start, promote, monitor.
        b.edges_between(r, Task::Demote, Task::Stop);
        b.edges_between(r, Task::Stop, Task::Start);
        // A migration's (pseudo) start follows its migrate_from.
        b.edges_between(r, Task::MigrateFrom, Task::Start);
        b.edges_between(r, Task::Start, Task::Promote);
        b.edges_between(r, Task::Stop, Task::Promote);
        let monitors = b.of(r, Task::Monitor);
        let probes: Vec<NodeIndex> = monitors
            .iter()
            .copied()
            .filter(|&i| b.graph[i].interval_ms == 0)
            .collect();
        let recurring: Vec<NodeIndex> = monitors
            .iter()
            .copied()
            .filter(|&i| b.graph[i].interval_ms > 0)
            .collect();
        // The lists are looked up once per resource, not once per probe
        // (there is a probe per node); edges are added in the same order.
        // A clone instance's probes come before the clone's start instead
        // (see `collective`).
        let after_probes: Vec<NodeIndex> = if super::collective::clone_of(w, r).is_some() {
            Vec::new()
        } else {
            [Task::Start, Task::MigrateTo, Task::Promote]
                .into_iter()
                .flat_map(|t| b.of(r, t))
                .collect()
        };
        for &p in &probes {
            for &s in &after_probes {
                b.edge(p, s);
            }
        }
        let before_monitors: Vec<NodeIndex> = [Task::Start, Task::Promote, Task::Demote]
            .into_iter()
            .flat_map(|t| b.of(r, t))
            .collect();
        for &m in &recurring {
            for &s in &before_monitors {
                b.edge(s, m);
            }
        }
    }
    // Probes and starts of what needs unfencing wait for it on their node.
    if !unfence_nodes.is_empty() {
        for (r, _) in w.rscs.iter().enumerate() {
            if w.rscs[r].variant != Variant::Primitive || !super::unfence::waits_for_unfencing(w, r)
            {
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
    super::collective::add(&mut b, decisions, fence);
    load_stopped(&mut b);
    // Constraint and group orderings.
    let mut extra = Vec::new();
    for o in orderings(w, plan) {
        let (a, c) = match (
            super::collective::Phase::of_task(o.first_task),
            super::collective::Phase::of_task(o.then_task),
        ) {
            (Some(fp), Some(tp)) => (b.exit(o.first, fp), b.entry(o.then, tp)),
            _ => (b.of(o.first, o.first_task), b.of(o.then, o.then_task)),
        };
        for &x in &a {
            for &y in &c {
                extra.push((x, y));
            }
        }
    }
    // A mandatory "first then" between primitives: the then's stop waits
    // for the first's probes (a probe may find the first active).
    for o in &w.cib.orders {
        if o.kind != crate::model::cib::OrderKind::Mandatory
            || o.first_action != "start"
            || o.then_action != "start"
        {
            continue;
        }
        let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
            continue;
        };
        if w.rscs[f].variant != Variant::Primitive || w.rscs[t].variant != Variant::Primitive {
            continue;
        }
        let stops: Vec<NodeIndex> = b
            .of(t, Task::Stop)
            .into_iter()
            .filter(|&i| b.graph[i].task == Task::Stop)
            .collect();
        if stops.is_empty() {
            continue;
        }
        for p in b.of(f, Task::Monitor) {
            if b.graph[p].interval_ms == 0 {
                for &s in &stops {
                    extra.push((p, s));
                }
            }
        }
    }
    // "One or more of": a pseudo-action after the firsts' starts, once
    // enough of them will run.
    for x in super::order::one_or_more(w) {
        let will_run = x
            .firsts
            .iter()
            .filter(|&&f| {
                let d = &decisions[f];
                d.next.is_some() && (d.start_runnable || !d.start)
            })
            .count();
        let starts: Vec<NodeIndex> = x
            .firsts
            .iter()
            .flat_map(|&f| b.of(f, Task::Start))
            .collect();
        if will_run < x.min || starts.is_empty() {
            continue;
        }
        let p = b
            .graph
            .add_node(pseudo_action(None, x.name.clone(), DEFAULT_TIMEOUT_MS));
        for s in starts {
            b.edge(s, p);
        }
        for (t, task) in x.thens {
            let entries = match super::collective::Phase::of_task(task) {
                Some(phase) => b.entry(t, phase),
                None => b.of(t, task),
            };
            for e in entries {
                extra.push((p, e));
            }
        }
    }
    extra.extend(remote_connection_orderings(&b));
    for (container, stop) in guest_stops {
        for first in b.of(container, Task::Stop) {
            extra.push((first, stop));
        }
    }
    // Starts wait for fencing of any node (resources may come from there).
    let fences: Vec<NodeIndex> = fence_nodes.values().copied().collect();
    // Fencing the DC comes last; without concurrent-fencing the others go
    // one at a time, in node order.
    {
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
    }
    if !fences.is_empty() {
        let starts: Vec<NodeIndex> = b
            .graph
            .node_indices()
            .filter(|&i| {
                matches!(
                    b.graph[i].task,
                    Task::Start | Task::Promote | Task::MigrateTo
                ) && b.graph[i]
                    .agent
                    .as_ref()
                    .is_none_or(|a| a.class != "stonith")
            })
            .collect();
        for &f in &fences {
            for &s in &starts {
                extra.push((f, s));
            }
        }
    }
    // Check the extra orderings on a shadow graph of bare indices first:
    // cloning the real graph (every action's parameters) would be costly.
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
        // Conflicting orderings: keep only those that do not close a loop.
        for (x, y) in extra {
            if !petgraph::algo::has_path_connecting(&b.graph, y, x, None) {
                b.edge(x, y);
            }
        }
    }
    b.graph
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

/// The actions a changed definition asks for: a reload, monitors issued
/// again or cancelled, history deleted, fail counts cleared.
fn add_definition_actions(
    b: &mut Builder<'_>,
    r: usize,
    d: &Decision,
    base_meta: &Meta,
    changes: &[&Change],
) {
    for change in changes {
        let n = change.node;
        let staying = d.current == Some(n) && d.next == Some(n) && !d.stop_on.contains(&n);
        let on_node = |b: &Builder<'_>, task: Task| -> Vec<NodeIndex> {
            b.of(r, task)
                .into_iter()
                .filter(|&i| b.graph[i].node.as_deref() == Some(b.w.nodes[n].name.as_str()))
                .collect()
        };
        match &change.kind {
            ChangeKind::Reload if d.reload && staying => {
                let reload = b.add(r, Task::Reload, n, 0, base_meta.clone());
                for m in on_node(b, Task::Monitor) {
                    b.edge(reload, m);
                }
            }
            ChangeKind::Reschedule { task, interval_ms } if staying && task == "monitor" => {
                let exists = on_node(b, Task::Monitor)
                    .iter()
                    .any(|&i| b.graph[i].interval_ms == *interval_ms);
                if !exists {
                    let m = b.add(r, Task::Monitor, n, *interval_ms, base_meta.clone());
                    for reload in on_node(b, Task::Reload) {
                        b.edge(reload, m);
                    }
                }
            }
            ChangeKind::Cancel {
                task,
                interval_ms,
                call_id,
                ..
            } if !d.stop_on.contains(&n) => {
                let mut meta = base_meta.clone();
                meta.insert("operation".into(), task.clone());
                meta.insert("call_id".into(), call_id.to_string());
                b.add(r, Task::Cancel, n, *interval_ms, meta);
            }
            ChangeKind::Cleanup => {
                let delete = b.add(r, Task::Delete, n, 0, base_meta.clone());
                for s in on_node(b, Task::Stop) {
                    b.edge(s, delete);
                }
                for s in on_node(b, Task::Start) {
                    b.edge(delete, s);
                }
            }
            ChangeKind::ClearFailcount { .. } => {
                b.add(r, Task::ClearFailcount, n, 0, base_meta.clone());
            }
            _ => {}
        }
    }
}

/// Whether resource `r` is the connection of a remote or guest node.
fn is_connection(w: &Working, r: usize) -> bool {
    let id = w.rscs[r].id.as_str();
    w.nodes.iter().any(|n| n.connection.as_deref() == Some(id))
}

/// Actions on a remote or guest node travel over its connection, so they
/// run while it does (Pacemaker's remote ordering): what brings something
/// up there after the connection's start (or migration to its new host);
/// stops and demotes before the connection's stop when it stops, else after
/// its start.
fn remote_connection_orderings(b: &Builder<'_>) -> Vec<(NodeIndex, NodeIndex)> {
    let w = b.w;
    let mut out = Vec::new();
    let mut conn_of_node: std::collections::HashMap<&str, (Vec<NodeIndex>, Vec<NodeIndex>)> =
        std::collections::HashMap::new();
    for (n, node) in w.nodes.iter().enumerate() {
        if node.kind == crate::model::cib::NodeKind::Member {
            continue;
        }
        let Some(&c) = node.connection.as_ref().and_then(|c| w.by_id.get(c)) else {
            continue;
        };
        let real = |task: Task| -> Vec<NodeIndex> {
            b.of(c, task)
                .into_iter()
                .filter(|&i| b.graph[i].task == task)
                .collect()
        };
        let mut ups = real(Task::Start);
        ups.extend(real(Task::MigrateFrom));
        let downs = real(Task::Stop);
        // A guest's connection runs inside its container: after its start,
        // before its stop.
        if let Some(container) = super::unpack::guest_container(w, n) {
            for start in b.of(container, Task::Start) {
                out.extend(ups.iter().map(|&u| (start, u)));
            }
            for stop in b.of(container, Task::Stop) {
                out.extend(downs.iter().map(|&d| (d, stop)));
            }
        }
        if !ups.is_empty() || !downs.is_empty() {
            conn_of_node.insert(node.name.as_str(), (ups, downs));
        }
    }
    if conn_of_node.is_empty() {
        return out;
    }
    for i in b.graph.node_indices() {
        let action = &b.graph[i];
        if matches!(action.task, Task::Pseudo | Task::Fence) {
            continue;
        }
        let Some((ups, downs)) = action.node.as_deref().and_then(|n| conn_of_node.get(n)) else {
            continue;
        };
        let down = matches!(action.task, Task::Stop | Task::Demote | Task::MigrateTo);
        if down && !downs.is_empty() {
            out.extend(downs.iter().map(|&d| (i, d)));
        } else {
            out.extend(ups.iter().map(|&u| (u, i)));
        }
    }
    out
}
