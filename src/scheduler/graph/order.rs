//! Stage 4, order: which action must wait for which, from ordering
//! constraints and the built-in orders of groups (each member after the one
//! before it, stopping in reverse).

use crate::scheduler::actions::Decision;
use crate::scheduler::assign::Plan;
use crate::scheduler::unpack::definition::DEFAULT_TIMEOUT_MS;
use crate::scheduler::unpack::{Variant, Working};
use crate::scheduler::Task;

use petgraph::graph::NodeIndex;

use super::collective::Phase;
use super::{pseudo_action, Builder};
use crate::model::cib::operation::OpKind;
use crate::model::cib::{Order, OrderKind};

/// "`then_task` of `then` waits for `first_task` of `first`", on primitives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ordering {
    pub first: usize,
    pub first_task: Task,
    pub then: usize,
    pub then_task: Task,
}

fn task_of(action: &OpKind) -> Task {
    match action {
        OpKind::Stop => Task::Stop,
        OpKind::Promote => Task::Promote,
        OpKind::Demote => Task::Demote,
        OpKind::Monitor => Task::Monitor,
        _ => Task::Start,
    }
}

fn inverse(task: Task) -> Task {
    match task {
        Task::Start => Task::Stop,
        Task::Stop => Task::Start,
        Task::Promote => Task::Demote,
        Task::Demote => Task::Promote,
        other => other,
    }
}

/// Both clones, the dependent one interleaved: each instance waits only for
/// the instance on its own node.
fn interleaved(w: &Working, first: usize, then: usize) -> bool {
    w.rscs[first].variant == Variant::Clone
        && w.rscs[then].variant == Variant::Clone
        && w.rscs[then].interleave
}

/// The node an instance is (or will be) on: where it is placed, else where
/// it runs.
fn instance_node(w: &Working, plan: &Plan, r: usize) -> Option<usize> {
    let mut prims = Vec::new();
    w.primitives_of(r, &mut prims);
    prims
        .iter()
        .find_map(|&p| plan.assigned[p].or_else(|| w.rscs[p].current.first().map(|c| c.node)))
}

/// Instances of two interleaved clones that share a node.
fn instance_pairs(w: &Working, plan: &Plan, first: usize, then: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &b in &w.rscs[then].children {
        let Some(n) = instance_node(w, plan, b) else {
            continue;
        };
        for &a in &w.rscs[first].children {
            if instance_node(w, plan, a) == Some(n) {
                out.push((a, b));
            }
        }
    }
    out
}

pub fn orderings(w: &Working, plan: &Plan) -> Vec<Ordering> {
    let mut out = Vec::new();
    for rsc in &w.rscs {
        if rsc.variant == Variant::Group {
            for pair in rsc.children.windows(2) {
                out.push(Ordering {
                    first: pair[0],
                    first_task: Task::Start,
                    then: pair[1],
                    then_task: Task::Start,
                });
                out.push(Ordering {
                    first: pair[1],
                    first_task: Task::Stop,
                    then: pair[0],
                    then_task: Task::Stop,
                });
            }
        }
    }
    for o in &w.cib.orders {
        if o.kind != OrderKind::Serialize {
            orderings_of_constraint(w, plan, o, &mut out);
        }
    }
    out
}

/// The orderings of one order constraint: between its resources'
/// pseudo-actions when either is a group, clone or bundle (interleaved
/// clones instance by instance), else between their primitives.
fn orderings_of_constraint(w: &Working, plan: &Plan, o: &Order, out: &mut Vec<Ordering>) {
    let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
        return;
    };
    let ft = task_of(&o.first_action);
    let tt = task_of(&o.then_action);
    // "One or more of the firsts" goes through its own pseudo-action
    // (see `one_or_more`); the symmetrical stops are ordinary.
    let forward = !(ft == Task::Start && one_or_more_name(w, o, f).is_some());
    // a before b, and (symmetrical) b's inverse before a's.
    let mut push_pair = |a: usize, b: usize| {
        if forward {
            out.push(Ordering {
                first: a,
                first_task: ft,
                then: b,
                then_task: tt,
            });
        }
        if o.symmetrical {
            out.push(Ordering {
                first: b,
                first_task: inverse(tt),
                then: a,
                then_task: inverse(ft),
            });
        }
    };
    let collective = |r: usize| w.rscs[r].variant != Variant::Primitive;
    if (collective(f) || collective(t)) && ft != Task::Monitor && tt != Task::Monitor {
        let pairs = if interleaved(w, f, t) {
            instance_pairs(w, plan, f, t)
        } else {
            vec![(f, t)]
        };
        for (a, b) in pairs {
            push_pair(a, b);
        }
        return;
    }
    let mut fp = Vec::new();
    w.primitives_of(f, &mut fp);
    let mut tp = Vec::new();
    w.primitives_of(t, &mut tp);
    for &a in &fp {
        for &b in &tp {
            if a != b {
                push_pair(a, b);
            }
        }
    }
}

/// The pseudo-action name and minimum count of an order whose "then" needs
/// only some of its firsts started: a set with require-all=false
/// (`one-or-more:SET`), or a clone with clone-min or require-all=false
/// (`clone-one-or-more:ORDER`).
fn one_or_more_name(w: &Working, o: &Order, first: usize) -> Option<(String, usize)> {
    let clone = w.rscs[first].variant == Variant::Clone;
    let clone_min = w.rscs[first]
        .meta
        .get("clone-min")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&m| m > 0 && clone);
    match (&o.first_set, clone_min) {
        (Some(set), _) if o.first_any => Some((format!("one-or-more:{set}"), 1)),
        (_, Some(min)) => Some((format!("clone-one-or-more:{}", o.id), min)),
        _ if clone && o.first_any => Some((format!("clone-one-or-more:{}", o.id), 1)),
        _ => None,
    }
}

/// "Then" waits for at least `min` of `firsts` (primitives) to start.
#[derive(Debug, Clone)]
pub struct OneOrMore {
    pub name: String,
    pub min: usize,
    pub firsts: Vec<usize>,
    pub thens: Vec<(usize, Task)>,
}

/// The one-or-more orderings, one per pseudo-action name.
pub fn one_or_more(w: &Working) -> Vec<OneOrMore> {
    let mut out: Vec<OneOrMore> = Vec::new();
    for o in &w.cib.orders {
        if o.kind == OrderKind::Serialize || task_of(&o.first_action) != Task::Start {
            continue;
        }
        let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
            continue;
        };
        let Some((name, min)) = one_or_more_name(w, o, f) else {
            continue;
        };
        let i = match out.iter().position(|x| x.name == name) {
            Some(i) => i,
            None => {
                out.push(OneOrMore {
                    name,
                    min,
                    firsts: Vec::new(),
                    thens: Vec::new(),
                });
                out.len() - 1
            }
        };
        let entry = &mut out[i];
        let mut fp = Vec::new();
        w.primitives_of(f, &mut fp);
        for p in fp {
            if !entry.firsts.contains(&p) {
                entry.firsts.push(p);
            }
        }
        let then = (t, task_of(&o.then_action));
        if !entry.thens.contains(&then) {
            entry.thens.push(then);
        }
    }
    out
}

/// With a placement strategy other than "default", a pseudo-action per node
/// says its stops are done: starts there wait for it, so that utilization
/// is freed before it is taken. A migration's migrate_to (its start on the
/// target) waits likewise, but those orderings are returned, not added: a
/// ring of migrations between nodes would close a loop through them, and
/// Pacemaker leaves out those that would (`should_add_input_to_graph`).
pub(super) fn load_stopped(b: &mut Builder<'_>) -> Vec<(NodeIndex, NodeIndex)> {
    let w = b.w;
    if w.placement_strategy == "default" {
        return Vec::new();
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
    let mut into_migrations = Vec::new();
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
                (Task::Start, _) | (Task::Pseudo, Some("start")) => edges.push((load, i)),
                (Task::MigrateTo, _) => into_migrations.push((load, i)),
                // Other actions neither free nor take capacity.
                _ => {}
            }
        }
    }
    for (x, y) in edges {
        b.edge(x, y);
    }
    into_migrations
}

/// Actions on a remote or guest node travel over its connection, so they
/// run while it does (Pacemaker's remote ordering): what brings something
/// up there after the connection's start (or migration to its new host);
/// stops and demotes before the connection's stop when it stops, else after
/// its start.
pub(super) fn remote_connection_orderings(b: &Builder<'_>) -> Vec<(NodeIndex, NodeIndex)> {
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
        if let Some(container) = crate::scheduler::unpack::guest_container(w, n) {
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

/// Constraint and group orderings, between the resources' actions or, for
/// collective resources, their pseudo-actions.
pub(super) fn constraint_orderings(b: &Builder<'_>, plan: &Plan) -> Vec<(NodeIndex, NodeIndex)> {
    let mut extra = Vec::new();
    for o in orderings(b.w, plan) {
        let (a, c) = match (Phase::of_task(o.first_task), Phase::of_task(o.then_task)) {
            (Some(fp), Some(tp)) => (b.exit(o.first, fp), b.entry(o.then, tp)),
            _ => (b.of(o.first, o.first_task), b.of(o.then, o.then_task)),
        };
        for &x in &a {
            for &y in &c {
                extra.push((x, y));
            }
        }
    }
    extra
}

/// A mandatory "first then" between primitives: the then's stop waits for
/// the first's probes (a probe may find the first active).
pub(super) fn probes_before_dependent_stops(b: &Builder<'_>) -> Vec<(NodeIndex, NodeIndex)> {
    let w = b.w;
    let mut extra = Vec::new();
    for o in &w.cib.orders {
        if o.kind != OrderKind::Mandatory
            || o.first_action != OpKind::Start
            || o.then_action != OpKind::Start
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
    extra
}

/// "One or more of": a pseudo-action after the firsts' starts, once enough
/// of them will run; the thens wait for it.
pub(super) fn one_or_more_orderings(
    b: &mut Builder<'_>,
    decisions: &[Decision],
) -> Vec<(NodeIndex, NodeIndex)> {
    let mut extra = Vec::new();
    for x in one_or_more(b.w) {
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
            let entries = match Phase::of_task(task) {
                Some(phase) => b.entry(t, phase),
                None => b.of(t, task),
            };
            for e in entries {
                extra.push((p, e));
            }
        }
    }
    extra
}

/// What ran on a lost guest stops (a pseudo-action) once its container
/// has stopped.
pub(super) fn guest_stop_orderings(
    b: &Builder<'_>,
    guest_stops: &[(usize, NodeIndex)],
) -> Vec<(NodeIndex, NodeIndex)> {
    let mut extra = Vec::new();
    for &(container, stop) in guest_stops {
        for first in b.of(container, Task::Stop) {
            extra.push((first, stop));
        }
    }
    extra
}
