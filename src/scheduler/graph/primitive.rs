//! Each primitive's own actions: probes where its state is unknown, the
//! stops (real, implied by fencing or a lost guest, or a live migration),
//! demote, start, promote and recurring monitors its decision calls for,
//! what a changed definition asks for, and the orderings among them.

use std::collections::{BTreeMap, HashMap, HashSet};

use petgraph::graph::NodeIndex;

use super::{clone_meta, Builder};
use crate::model::cib::operation::OpKind;
use crate::model::cib::{NodeKind, Role};
use crate::scheduler::actions::Decision;
use crate::scheduler::assign::Plan;
use crate::scheduler::unpack::definition::{Change, ChangeKind};
use crate::scheduler::unpack::{guest_container, Variant};
use crate::scheduler::{Meta, Task};

/// What the primitives' actions share while they are added.
struct Shared<'s> {
    /// Where each resource may be probed (`Plan::allowed`):
    /// resource-discovery, and what a remote or guest node never runs.
    probe_allowed: &'s [Vec<bool>],
    /// Each fenced node's fencing action.
    fence_nodes: &'s BTreeMap<usize, NodeIndex>,
    /// The definition changes of each resource.
    changes_of: HashMap<usize, Vec<&'s Change>>,
    /// Stops implied by a lost guest's container stop: (container, stop).
    guest_stops: &'s mut Vec<(usize, NodeIndex)>,
    /// Anonymous clone instances share one probe per node: (clone, node).
    probed: HashSet<(usize, usize)>,
}

/// Adds every primitive's actions; the stops a lost guest's container stop
/// implies go to `guest_stops`.
pub(super) fn add_primitives(
    b: &mut Builder<'_>,
    plan: &Plan,
    decisions: &[Decision],
    fence_nodes: &BTreeMap<usize, NodeIndex>,
    guest_stops: &mut Vec<(usize, NodeIndex)>,
) {
    let w = b.w;
    let mut changes_of: HashMap<usize, Vec<&Change>> = HashMap::new();
    for change in &w.changes {
        changes_of.entry(change.rsc).or_default().push(change);
    }
    let mut shared = Shared {
        probe_allowed: &plan.allowed,
        fence_nodes,
        changes_of,
        guest_stops,
        probed: HashSet::new(),
    };
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant == Variant::Primitive {
            add_primitive(b, &mut shared, r, &decisions[r]);
        }
    }
}

fn add_primitive(b: &mut Builder<'_>, shared: &mut Shared<'_>, r: usize, d: &Decision) {
    let w = b.w;
    let base_meta = clone_meta(w, r);
    if d.probe {
        add_probes(b, shared, r, &base_meta);
    }
    if !d.managed {
        // Left alone, but maintenance still cancels its monitors.
        if let Some(changes) = shared.changes_of.get(&r) {
            let cancels: Vec<&Change> = changes
                .iter()
                .copied()
                .filter(|c| matches!(c.kind, ChangeKind::Cancel { .. }))
                .collect();
            add_definition_actions(b, r, d, &base_meta, &cancels);
        }
        return;
    }
    for &n in &d.stop_on {
        // A stop that cannot run (blocked behind a frozen resource, on a
        // node that cannot be fenced) is left out, as Pacemaker does.
        if d.stop_runnable || shared.fence_nodes.contains_key(&n) {
            add_stop(b, shared, r, d, n, &base_meta);
        }
    }
    for &n in &w.rscs[r].dangling {
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
        add_way_up(b, r, d, n, &base_meta);
    }
    if let Some(changes) = shared.changes_of.get(&r) {
        add_definition_actions(b, r, d, &base_meta, changes);
    }
    order_within(b, r);
}

/// Probes where nothing is known of the resource.
fn add_probes(b: &mut Builder<'_>, shared: &mut Shared<'_>, r: usize, base_meta: &Meta) {
    let w = b.w;
    let rsc = &w.rscs[r];
    for (n, node) in w.nodes.iter().enumerate() {
        if !node.online
            || node.unclean
            || !shared.probe_allowed[r][n]
            || rsc.known_on[n]
            || rsc.current.iter().any(|c| c.node == n)
        {
            continue;
        }
        if rsc.instance.is_some() && !shared.probed.insert((rsc.parent.unwrap_or(r), n)) {
            continue;
        }
        // A remote node cannot run a connection to a remote node, nor a
        // guest node a container of a guest.
        if node.kind != NodeKind::Member
            && (w.is_connection(r) || w.guest_containers.values().any(|&c| c == r))
        {
            continue;
        }
        let mut meta = base_meta.clone();
        meta.insert("op_target_rc".into(), "7".into());
        b.add(r, Task::Monitor, n, 0, meta);
    }
}

/// A pseudo-action named `name` standing for the resource's `name` on node
/// `n`, named as the node's history names the resource.
fn add_implied(b: &mut Builder<'_>, r: usize, n: usize, base_meta: &Meta, name: &str) -> NodeIndex {
    let mut meta = base_meta.clone();
    meta.insert("name".into(), name.into());
    let s = b.add(r, Task::Pseudo, n, 0, meta);
    b.name_as_history(s, r, n);
    s
}

/// The way down on node `n`: a demote first when promoted, then the stop,
/// implied when the node is fenced or a lost guest, or a live migration.
fn add_stop(
    b: &mut Builder<'_>,
    shared: &mut Shared<'_>,
    r: usize,
    d: &Decision,
    n: usize,
    base_meta: &Meta,
) {
    let w = b.w;
    let fencing = shared.fence_nodes.get(&n).copied();
    if d.demote && d.role == Some(Role::Promoted) {
        // On a node being fenced the demote is implied, as the stop.
        if let Some(f) = fencing {
            let s = add_implied(b, r, n, base_meta, "demote");
            b.edge(f, s);
        } else {
            b.add(r, Task::Demote, n, 0, base_meta.clone());
        }
    }
    if let Some(f) = fencing {
        let s = add_implied(b, r, n, base_meta, "stop");
        // A fencing device's own stop does not wait for the fencing.
        let device = w.rscs[r]
            .agent
            .as_ref()
            .is_some_and(|a| a.is_fence_device());
        if !device {
            b.edge(f, s);
        }
    } else if w.nodes[n].guest_lost.is_some() {
        // A lost guest is "fenced" by its container's recovery: what ran
        // there is stopped by the container's stop.
        let s = add_implied(b, r, n, base_meta, "stop");
        if let Some(container) = guest_container(w, n) {
            shared.guest_stops.push((container, s));
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

/// The way up on node `n`: start (a pseudo-action after a migration),
/// promote, and the recurring monitors of the role it will have.
fn add_way_up(b: &mut Builder<'_>, r: usize, d: &Decision, n: usize, base_meta: &Meta) {
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
    if !(runnable && (d.start || d.promote || d.demote)) {
        return;
    }
    let next_role = d.next_role.unwrap_or(Role::Started);
    for op in &b.w.rscs[r].ops {
        if op.name != OpKind::Monitor || op.interval_ms == 0 || !op.enabled {
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

/// Within the resource: probes, demote, stop, start, promote, monitor.
fn order_within(b: &mut Builder<'_>, r: usize) {
    b.edges_between(r, Task::Demote, Task::Stop);
    b.edges_between(r, Task::Stop, Task::Start);
    // A migration's (pseudo) start follows its migrate_from.
    b.edges_between(r, Task::MigrateFrom, Task::Start);
    b.edges_between(r, Task::Start, Task::Promote);
    b.edges_between(r, Task::Stop, Task::Promote);
    let monitors = b.of(r, Task::Monitor);
    let (probes, recurring): (Vec<NodeIndex>, Vec<NodeIndex>) = monitors
        .iter()
        .copied()
        .partition(|&i| b.graph[i].interval_ms == 0);
    // The lists are looked up once per resource, not once per probe (there
    // is a probe per node); edges are added in the same order. A clone
    // instance's probes come before the clone's start instead (see
    // `collective`).
    let after_probes: Vec<NodeIndex> = if super::collective::clone_of(b.w, r).is_some() {
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
            ChangeKind::Reschedule { task, interval_ms } if staying && *task == OpKind::Monitor => {
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
                meta.insert("operation".into(), task.to_string());
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
