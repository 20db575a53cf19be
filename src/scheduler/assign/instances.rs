//! Clone and bundle instances during assignment, and promotion.
//!
//! A clone first places what it is colocated with and folds in its
//! dependents' preferences, then assigns its instances in Pacemaker's
//! instance order (less multiply active first, then those not active where
//! they may no longer run, higher priority, active ones, those whose node can
//! run resources, healthy ones, those whose colocations favour their node):
//! first each active instance to its current node, as long as that node has
//! fewer than its fair share (instances ÷ available nodes) and the instance
//! would not rather go elsewhere, then the rest to their best node, at most
//! `clone-node-max` per node and `clone-max` in all. A bundle does the same
//! with its replicas' containers, then places each replica's IP, connection
//! and resource with its container. A promotable clone then orders its
//! instances by promotion priority (the promotion score, promoted-role
//! locations and colocations, the clone's own node scores) and promotes the
//! first `promoted-max`, at most `promoted-node-max` per node.

use super::colocation::{self, Select};
use super::Assigner;
use crate::model::cib::score::{self, INFINITY};
use crate::model::cib::Role;
use crate::scheduler::unpack::Variant;

/// Pacemaker's `pcmk__clone_assign`.
pub fn assign_clone(a: &mut Assigner, c: usize, prefer: Option<usize>, stop_if_fail: bool) {
    if !a.unassigned[c] || a.assigning[c] {
        return;
    }
    a.assigning[c] = true;
    let w = a.w;
    if w.rscs[c].promotable {
        add_promotion_scores(a, c);
    }
    for ci in colocation::this_with_list(a, c) {
        let p = a.colocs[ci].primary;
        a.assign(p, prefer, stop_if_fail);
    }
    for ci in colocation::with_this_list(a, c) {
        colocation::add_dependent_scores(a, ci, c);
    }
    let mut instances = a.children[c].clone();
    sort_instances(a, c, &mut instances);
    a.children[c] = instances.clone();
    let clone_max = w.rscs[c].clone_max;
    let node_max = w.rscs[c].clone_node_max.max(1);
    assign_instances(a, c, &instances, clone_max, node_max);
    if w.rscs[c].promotable {
        set_instance_roles(a, c);
    }
    a.final_scores[c] = (0..a.n_nodes())
        .map(|n| a.allowed[c][n].unwrap_or(-INFINITY))
        .collect();
    a.unassigned[c] = false;
    a.assigning[c] = false;
}

/// Pacemaker's `pcmk__bundle_assign`.
pub fn assign_bundle(a: &mut Assigner, b: usize, prefer: Option<usize>, stop_if_fail: bool) {
    if !a.unassigned[b] || a.assigning[b] {
        return;
    }
    let w = a.w;
    let Some(parts) = w.bundles.get(&b).cloned() else {
        a.unassigned[b] = false;
        return;
    };
    a.assigning[b] = true;
    let mut containers = parts.containers.clone();
    sort_instances(a, b, &mut containers);
    assign_instances(
        a,
        b,
        &containers,
        parts.containers.len(),
        parts.replicas_per_host.max(1),
    );
    let guests: Vec<Option<usize>> = parts
        .remotes
        .iter()
        .map(|&r| w.node_named(&w.rscs[r].id))
        .collect();
    for i in 0..parts.containers.len() {
        if let Some(&ip) = parts.ips.get(i) {
            a.assign(ip, None, stop_if_fail);
        }
        if let Some(&remote) = parts.remotes.get(i) {
            a.assign(remote, None, stop_if_fail);
        }
        let child = parts
            .inner
            .and_then(|inner| w.rscs[inner].children.get(i).copied());
        if let (Some(child), Some(Some(guest))) = (child, guests.get(i)) {
            let guest = *guest;
            for n in 0..a.n_nodes() {
                if a.allowed[child][n].is_none() {
                    continue;
                }
                if n != guest {
                    set_recursive(a, child, n, -INFINITY);
                } else if !w.rscs[child].banned_by_failures[n] {
                    set_recursive(a, child, n, INFINITY);
                }
            }
            let inner = parts.inner.unwrap_or(b);
            a.assigning[inner] = true;
            a.assign(child, Some(guest), stop_if_fail);
            a.assigning[inner] = false;
        }
    }
    a.final_scores[b] = (0..a.n_nodes())
        .map(|n| a.allowed[b][n].unwrap_or(-INFINITY))
        .collect();
    if let Some(inner) = parts.inner {
        for n in 0..a.n_nodes() {
            if a.allowed[inner][n].is_some() {
                let own = guests.contains(&Some(n));
                a.allowed[inner][n] = Some(if own { 0 } else { -INFINITY });
            }
        }
        a.assign(inner, prefer, stop_if_fail);
    }
    a.unassigned[b] = false;
    a.assigning[b] = false;
}

fn set_recursive(a: &mut Assigner, r: usize, n: usize, value: i64) {
    a.allowed[r][n] = Some(value);
    for c in a.children[r].clone() {
        if a.allowed[c][n].is_some() {
            set_recursive(a, c, n, value);
        }
    }
}

/// Where an instance is active: its node (the first, for a cloned group
/// or a multiply active one) and on how many nodes.
fn active(a: &Assigner, i: usize) -> (Option<usize>, usize) {
    let mut prims = Vec::new();
    a.w.primitives_of(i, &mut prims);
    let mut nodes: Vec<usize> = Vec::new();
    for p in prims {
        for c in &a.w.rscs[p].current {
            if !nodes.contains(&c.node) {
                nodes.push(c.node);
            }
        }
    }
    let first = if a.w.rscs[i].variant == Variant::Primitive {
        crate::scheduler::unpack::current_node(a.w, i)
    } else {
        nodes.first().copied()
    };
    (first, nodes.len())
}

fn failed(a: &Assigner, i: usize) -> bool {
    let mut prims = Vec::new();
    a.w.primitives_of(i, &mut prims);
    prims.iter().any(|&p| a.w.rscs[p].failed())
}

/// Pacemaker's instance order (`pcmk__cmp_instance`); a stable sort keeps
/// the earlier order among equals.
fn sort_instances(a: &mut Assigner, parent: usize, instances: &mut [usize]) {
    let keys: Vec<(usize, (Option<usize>, usize))> =
        instances.iter().map(|&i| (i, active(a, i))).collect();
    let info = |i: usize| {
        keys.iter()
            .find(|k| k.0 == i)
            .map(|k| k.1)
            .unwrap_or((None, 0))
    };
    let mut order: Vec<usize> = instances.to_vec();
    // Colocation-adjusted scores on the current node, computed once.
    let coloc_scores: Vec<(usize, i64)> =
        order.iter().map(|&i| (i, score_on_current(a, i))).collect();
    let coloc = |i: usize| {
        coloc_scores
            .iter()
            .find(|k| k.0 == i)
            .map(|k| k.1)
            .unwrap_or(0)
    };
    order.sort_by(|&x, &y| {
        use std::cmp::Ordering::*;
        let (n1, c1) = info(x);
        let (n2, c2) = info(y);
        if c1 > 0 && c2 > 0 && c1 != c2 {
            return c1.cmp(&c2);
        }
        let allowed_here =
            |n: Option<usize>| n.is_none_or(|n| a.allowed[parent][n].is_some_and(|s| s >= 0));
        match (allowed_here(n1), allowed_here(n2)) {
            (true, false) => return Less,
            (false, true) => return Greater,
            _ => {}
        }
        if a.priority[x] != a.priority[y] {
            return a.priority[y].cmp(&a.priority[x]);
        }
        match (n1.is_some(), n2.is_some()) {
            (true, false) => return Less,
            (false, true) => return Greater,
            _ => {}
        }
        let can = |n: Option<usize>| n.is_some_and(|n| a.node_available(n));
        match (can(n1), can(n2)) {
            (true, false) => return Less,
            (false, true) => return Greater,
            _ => {}
        }
        match (failed(a, x), failed(a, y)) {
            (false, true) => return Less,
            (true, false) => return Greater,
            _ => {}
        }
        if n1.is_some() && n2.is_some() {
            return coloc(y).cmp(&coloc(x));
        }
        Equal
    });
    instances.copy_from_slice(&order);
}

/// An active instance's score on its current node once its colocations are
/// applied (Pacemaker's `cmp_instance_by_colocation`).
fn score_on_current(a: &mut Assigner, i: usize) -> i64 {
    let (Some(node), _) = active(a, i) else {
        return 0;
    };
    let mut table: super::Table = vec![None; a.n_nodes()];
    table[node] = Some(a.w.nodes[node].node_score);
    let mut nodes = Some(table);
    for ci in colocation::this_with_list(a, i) {
        let c = a.colocs[ci].clone();
        let factor = c.score as f64 / INFINITY as f64;
        colocation::add_colocated_node_scores(
            a,
            c.primary,
            Some(i),
            &mut nodes,
            Some(ci),
            factor,
            Select::default(),
        );
    }
    for ci in colocation::with_this_list(a, i) {
        if !colocation::has_influence(a, ci, Some(i)) {
            continue;
        }
        let c = a.colocs[ci].clone();
        let factor = c.score as f64 / INFINITY as f64;
        let select = Select {
            nonnegative: true,
            ..Select::default()
        };
        colocation::add_colocated_node_scores(
            a,
            c.dependent,
            Some(i),
            &mut nodes,
            Some(ci),
            factor,
            select,
        );
    }
    nodes.and_then(|t| t[node]).unwrap_or(0)
}

/// Pacemaker's `pcmk__assign_instances`.
pub fn assign_instances(
    a: &mut Assigner,
    collective: usize,
    instances: &[usize],
    max_total: usize,
    max_per_node: usize,
) {
    let mut available = 0;
    for n in 0..a.n_nodes() {
        a.count[collective][n] = 0;
        if a.allowed[collective][n].is_some() && a.node_available(n) {
            available += 1;
        }
    }
    let optimal = max_total.checked_div(available).unwrap_or(1).max(1);
    let mut assigned = 0;
    for &i in instances {
        if assigned >= max_total {
            break;
        }
        if let Some(current) = preferred_node(a, collective, i, optimal) {
            if assign_instance_early(a, collective, i, current, max_per_node, available) {
                assigned += 1;
            }
        }
    }
    for &i in instances {
        if !a.unassigned[i] {
            continue;
        }
        if assigned >= max_total {
            a.resource_location(i, None, -INFINITY);
            mark_stopped(a, i);
        } else if assign_instance(a, collective, i, None, max_per_node).is_some() {
            assigned += 1;
        }
    }
}

/// An instance beyond the limit: it will not run.
fn mark_stopped(a: &mut Assigner, i: usize) {
    let mut prims = Vec::new();
    a.w.primitives_of(i, &mut prims);
    for p in prims {
        if a.managed[p] {
            a.next_role[p] = Role::Stopped;
        }
    }
}

/// The current node of an active, healthy instance, when it can still run
/// resources and has not yet its fair share of instances.
fn preferred_node(a: &Assigner, collective: usize, i: usize, optimal: usize) -> Option<usize> {
    let (node, count) = active(a, i);
    let node = node?;
    if count == 0 || !a.unassigned[i] || failed(a, i) {
        return None;
    }
    if !a.node_available(node) || a.w.nodes[node].node_score < 0 {
        return None;
    }
    if a.allowed[collective][node].is_some() && a.count[collective][node] >= optimal {
        return None;
    }
    Some(node)
}

/// Tries to keep an instance on its current node. Each time it would rather
/// go elsewhere, an instance is reserved for that node and it tries again;
/// the reservations are forgotten afterwards.
fn assign_instance_early(
    a: &mut Assigner,
    collective: usize,
    i: usize,
    current: usize,
    max_per_node: usize,
    available: usize,
) -> bool {
    if !(a.allowed[i][current].is_some_and(|s| s >= 0) && a.node_available(current)) {
        return false;
    }
    let mut prims_and_groups = Vec::new();
    collect_tree(a, i, &mut prims_and_groups);
    let saved_tables: Vec<_> = prims_and_groups
        .iter()
        .map(|&r| a.allowed[r].clone())
        .collect();
    let saved_counts = a.count[collective].clone();
    let mut reserved = 0;
    let mut success = false;
    while reserved < available {
        let chosen = assign_instance(a, collective, i, Some(current), max_per_node);
        if chosen == Some(current) {
            success = true;
            break;
        }
        unassign_tree(a, i);
        if chosen.is_none() {
            break;
        }
        reserved += 1;
        if reserved >= available {
            break;
        }
        for (k, &r) in prims_and_groups.iter().enumerate() {
            a.allowed[r] = saved_tables[k].clone();
        }
    }
    if !success {
        for (k, &r) in prims_and_groups.iter().enumerate() {
            a.allowed[r] = saved_tables[k].clone();
        }
    }
    a.count[collective] = saved_counts;
    if success {
        a.count[collective][current] += 1;
    }
    success
}

fn collect_tree(a: &Assigner, r: usize, out: &mut Vec<usize>) {
    out.push(r);
    for &c in &a.children[r] {
        collect_tree(a, c, out);
    }
}

fn unassign_tree(a: &mut Assigner, r: usize) {
    for c in a.children[r].clone() {
        unassign_tree(a, c);
    }
    a.unassign(r);
    a.unassigned[r] = true;
}

/// Pacemaker's `assign_instance`: bans the nodes the instance cannot use,
/// assigns it (a failed early assignment does not stop it), and counts it
/// on its node.
fn assign_instance(
    a: &mut Assigner,
    collective: usize,
    i: usize,
    prefer: Option<usize>,
    max_per_node: usize,
) -> Option<usize> {
    if a.assigning[i] {
        return None;
    }
    ban_unavailable(a, collective, i, max_per_node);
    let chosen = a.assign(i, prefer, prefer.is_none());
    let chosen = if a.w.rscs[i].variant == Variant::Primitive {
        chosen
    } else {
        a.location(i).or(chosen)
    };
    if let Some(n) = chosen {
        if a.allowed[collective][n].is_some() {
            a.count[collective][n] += 1;
        }
    }
    chosen
}

fn ban_unavailable(a: &mut Assigner, collective: usize, i: usize, max_per_node: usize) {
    for n in 0..a.n_nodes() {
        if a.allowed[i][n].is_none() {
            continue;
        }
        let orphan = a.w.rscs[i].orphan;
        let parent = a.allowed[collective][n];
        let ok = !orphan
            && a.node_available(n)
            && parent.is_some_and(|s| s >= 0)
            && a.count[collective][n] < max_per_node;
        if !ok {
            a.allowed[i][n] = Some(-INFINITY);
            for c in a.children[i].clone() {
                if a.allowed[c][n].is_some() {
                    a.allowed[c][n] = Some(-INFINITY);
                }
            }
        }
    }
}

/// The instance of `clone` (or container of a bundle) on `match_rsc`'s
/// node (or, unplaced, on its best node that has one) in `role`.
pub fn find_compatible_instance(
    a: &Assigner,
    match_rsc: usize,
    collective: usize,
    role: Option<Role>,
) -> Option<usize> {
    let instances = instance_list(a, collective);
    let on_node = |node: usize| {
        instances.iter().copied().find(|&i| {
            role.is_none_or(|r| a.state_next(i) == r)
                && !a.blocked_recursive(i)
                && a.location(i) == Some(node)
        })
    };
    if let Some(node) = a.location(match_rsc) {
        return on_node(node);
    }
    let nodes = a.sorted_nodes(&a.allowed[match_rsc], None);
    nodes.into_iter().find_map(on_node)
}

fn instance_list(a: &Assigner, collective: usize) -> Vec<usize> {
    match a.w.bundles.get(&collective) {
        Some(parts) => parts.containers.clone(),
        None => a.children[collective].clone(),
    }
}

/// The clone's side of a colocation with it (`pcmk__clone_apply_coloc_score`).
pub fn clone_apply_coloc(a: &mut Assigner, dependent: usize, clone: usize, ci: usize) {
    if a.unassigned[clone] {
        return;
    }
    let c = a.colocs[ci].clone();
    let w = a.w;
    if w.rscs[clone].promotable && c.primary_role.is_some() {
        if a.unassigned[dependent] {
            update_dependent_with_promotable(a, clone, dependent, ci);
            return;
        }
        if c.dependent_role == Some(Role::Promoted) {
            let found = find_compatible_instance(a, dependent, clone, c.primary_role);
            if found.is_some() {
                a.priority[dependent] = score::add(a.priority[dependent], c.score);
            } else if c.score >= INFINITY {
                a.priority[dependent] = -INFINITY;
            }
            return;
        }
    }
    let dep_collective = c.dependent;
    let interleave = matches!(
        w.rscs[dep_collective].variant,
        Variant::Clone | Variant::Bundle
    ) && w.rscs[dep_collective].interleave
        && dependent != dep_collective;
    if interleave {
        match find_compatible_instance(a, dependent, clone, None) {
            Some(pi) => colocation::apply_for_dependent(a, dependent, pi, ci),
            None if c.score >= INFINITY => a.assign_resource(dependent, None, true, true),
            None => {}
        }
        return;
    }
    if c.score >= INFINITY {
        let nodes: Vec<(usize, i64)> = a.children[clone]
            .iter()
            .filter(|&&i| !a.blocked_recursive(i))
            .filter_map(|&i| a.location(i).map(|n| (n, instance_score(a, i))))
            .collect();
        colocation::intersect_nodes(a, dependent, &nodes, false);
        return;
    }
    for i in a.children[clone].clone() {
        colocation::apply_as_primary(a, dependent, i, ci);
    }
}

/// The score of an instance's chosen node when it was assigned.
fn instance_score(a: &Assigner, i: usize) -> i64 {
    let mut prims = Vec::new();
    a.w.primitives_of(i, &mut prims);
    prims.first().map(|&p| a.assigned_score[p]).unwrap_or(0)
}

fn update_dependent_with_promotable(a: &mut Assigner, clone: usize, dependent: usize, ci: usize) {
    let c = a.colocs[ci].clone();
    let mut affected = Vec::new();
    for i in a.children[clone].clone() {
        let Some(node) = a.location(i) else { continue };
        if Some(a.state_next(i)) != c.primary_role {
            continue;
        }
        if c.score < INFINITY {
            let value = colocation::node_attr(a, node, &c.node_attribute, clone);
            for n in 0..a.n_nodes() {
                let Some(s) = a.allowed[dependent][n] else {
                    continue;
                };
                if colocation::same_attr(
                    colocation::node_attr(a, n, &c.node_attribute, dependent),
                    value,
                ) {
                    a.allowed[dependent][n] = Some(score::add(s, c.score));
                }
            }
        }
        affected.push((node, instance_score(a, i)));
    }
    let both_promoted =
        c.dependent_role == Some(Role::Promoted) && c.primary_role == Some(Role::Promoted);
    if c.score >= INFINITY && !both_promoted {
        colocation::intersect_nodes(a, dependent, &affected, true);
    }
}

/// A bundle's side of a colocation with it.
pub fn bundle_apply_coloc(a: &mut Assigner, dependent: usize, bundle: usize, ci: usize) {
    if a.unassigned[bundle] {
        return;
    }
    let w = a.w;
    let c = a.colocs[ci].clone();
    let Some(parts) = w.bundles.get(&bundle).cloned() else {
        return;
    };
    if matches!(
        w.rscs[c.dependent].variant,
        Variant::Clone | Variant::Bundle
    ) {
        match find_compatible_instance(a, dependent, bundle, None) {
            Some(x) => colocation::apply_for_dependent(a, dependent, x, ci),
            None if c.score >= INFINITY => a.assign_resource(dependent, None, true, true),
            None => {}
        }
        return;
    }
    // Each replica's container stands for it: an optional colocation
    // applies per container; a mandatory one allows only the hosts of the
    // containers (whose resource will be promoted, for the promoted role).
    if c.score < INFINITY {
        for x in parts.containers.clone() {
            colocation::apply_as_primary(a, dependent, x, ci);
        }
        return;
    }
    let mut hosts = Vec::new();
    for (i, &x) in parts.containers.iter().enumerate() {
        let Some(n) = a.assigned[x] else { continue };
        if a.blocked_recursive(x) {
            continue;
        }
        if c.primary_role == Some(Role::Promoted) {
            let child = parts
                .inner
                .and_then(|inner| a.w.rscs[inner].children.get(i).copied());
            if child.is_none_or(|ch| a.state_next(ch) < Role::Promoted) {
                continue;
            }
        }
        hosts.push((n, a.assigned_score[x]));
    }
    colocation::intersect_nodes(a, dependent, &hosts, false);
}

// ------------------------------------------------------------- promotion

/// Adds each instance's positive promotion score to its node scores (and
/// makes it the instance's priority), so that instances go where they can
/// be promoted.
fn add_promotion_scores(a: &mut Assigner, c: usize) {
    if a.promotion_added[c] {
        return;
    }
    a.promotion_added[c] = true;
    for i in a.children[c].clone() {
        for n in 0..a.n_nodes() {
            let Some(s) = a.allowed[i][n] else { continue };
            if !a.node_available(n) {
                continue;
            }
            let (value, _) = promotion_score(a, i, n);
            if value > 0 {
                a.allowed[i][n] = Some(score::add(s, value));
            }
            if value > a.priority[i] {
                a.priority[i] = value;
            }
        }
    }
}

/// An instance's promotion score on a node (the `master-` node attribute
/// set by the agent; a cloned group's is the sum of its members'), and
/// whether none was found.
fn promotion_score(a: &Assigner, i: usize, n: usize) -> (i64, bool) {
    let w = a.w;
    if w.rscs[i].variant != Variant::Primitive {
        let mut sum = 0;
        let mut is_default = true;
        for &m in &a.children[i] {
            let (v, d) = promotion_score(a, m, n);
            sum = score::add(sum, v);
            is_default &= d;
        }
        return (sum, is_default);
    }
    if !promotion_score_applies(a, i, n) {
        return (0, true);
    }
    let rsc = &w.rscs[i];
    let name = rsc
        .current
        .iter()
        .find(|c| c.node == n)
        .or_else(|| rsc.current.first())
        .map(|c| c.history_id.clone())
        .unwrap_or_else(|| rsc.id.clone());
    let mut value = promotion_attr(a, i, n, &name);
    if value.is_none() && !rsc.globally_unique && name != rsc.base {
        value = promotion_attr(a, i, n, &rsc.base);
    }
    match value.and_then(score::parse) {
        Some(v) => (v, false),
        None => (0, true),
    }
}

/// The promotion attribute on a node, or on the host of a guest node when
/// the clone keeps its attributes there (`container-attribute-target=host`).
fn promotion_attr<'w>(a: &Assigner<'w>, i: usize, n: usize, name: &str) -> Option<&'w str> {
    let w = a.w;
    let key = format!("master-{name}");
    let top = w.top_of(i);
    let on_host = w.rscs[top]
        .meta
        .get("container-attribute-target")
        .is_some_and(|v| v == "host");
    let node = if on_host && w.nodes[n].kind != crate::model::cib::NodeKind::Member {
        guest_host(a, n, a.unassigned[i]).unwrap_or(n)
    } else {
        n
    };
    w.nodes[node].attrs.get(&key).map(String::as_str)
}

/// The cluster node a guest node runs on (assigned, or current).
fn guest_host(a: &Assigner, n: usize, current: bool) -> Option<usize> {
    let w = a.w;
    let container = crate::scheduler::unpack::guest_container(w, n)?;
    if current {
        w.rscs[container].current.first().map(|c| c.node)
    } else {
        a.assigned[container]
    }
}

fn promotion_score_applies(a: &Assigner, i: usize, n: usize) -> bool {
    let w = a.w;
    let rsc = &w.rscs[i];
    let allowed = a.allowed[i][n].is_some_and(|s| s >= 0);
    if !rsc.globally_unique {
        let clone = a.clone_of(i);
        let active_here = clone.and_then(|c| {
            let mut prims = Vec::new();
            w.primitives_of(c, &mut prims);
            prims.into_iter().find(|&p| {
                w.rscs[p].base == rsc.base && w.rscs[p].current.iter().any(|x| x.node == n)
            })
        });
        if active_here == Some(i) {
            return allowed;
        }
        if active_here.is_none() && rsc.known_on[n] {
            return allowed;
        }
    }
    if rsc.current.is_empty() && !rsc.instance_known_on.iter().any(|&k| k) {
        return allowed;
    }
    if rsc.instance_known_on[n] || rsc.current.iter().any(|c| c.node == n) {
        return allowed;
    }
    false
}

/// Pacemaker's `pcmk__set_instance_roles`: orders the promotable clone's
/// instances by promotion priority and promotes the first ones allowed.
fn set_instance_roles(a: &mut Assigner, c: usize) {
    for n in 0..a.n_nodes() {
        a.count[c][n] = 0;
    }
    for i in a.children[c].clone() {
        set_instance_priority(a, c, i);
    }
    sort_promotable_instances(a, c);
    let mut promoted = 0usize;
    for i in a.children[c].clone() {
        set_instance_role(a, c, i, &mut promoted);
    }
}

fn set_instance_priority(a: &mut Assigner, c: usize, i: usize) {
    let w = a.w;
    let Some(chosen) = a.location(i) else {
        return;
    };
    let next = a.state_next(i);
    match next {
        Role::Started | Role::Unknown => {
            let (value, is_default) = promotion_score(a, i, chosen);
            a.priority[i] = if is_default { -1 } else { value };
        }
        Role::Unpromoted | Role::Stopped => a.priority[i] = -INFINITY,
        Role::Promoted => {}
    }
    // Promoted-role location constraints on the instance and the clone.
    for r in [i, c] {
        for li in a.rsc_locs[r].clone() {
            let loc = &a.locs[li];
            if loc.role != Some(Role::Promoted) {
                continue;
            }
            if let Some(&(_, v)) = loc.nodes.iter().find(|(x, _)| *x == chosen) {
                a.priority[i] = score::add(a.priority[i], v);
            }
        }
    }
    for ci in colocation::this_with_list(a, i) {
        let p = a.colocs[ci].primary;
        colocation::apply_for_dependent(a, i, p, ci);
    }
    a.sort_index[i] = if next == Role::Promoted {
        INFINITY
    } else {
        a.priority[i]
    };
    a.promotion_scores[i] = Some(a.priority[i]);
    let _ = w;
}

fn sort_promotable_instances(a: &mut Assigner, c: usize) {
    if a.promotion_constrained[c] {
        return;
    }
    a.promotion_constrained[c] = true;
    a.updating_nodes[c] = true;
    for i in a.children[c].clone() {
        if a.sort_index[i] < 0 {
            continue;
        }
        let Some(node) = a.location(i) else { continue };
        if let Some(s) = a.allowed[c][node] {
            a.allowed[c][node] = Some(score::add(a.sort_index[i], s));
        }
    }
    add_promoted_colocation_scores(a, c);
    require_promotion_tickets(a, c);
    for i in a.children[c].clone() {
        let chosen = a.location(i);
        if !a.managed[i] && a.state_next(i) == Role::Promoted {
            a.sort_index[i] = INFINITY;
        } else if let (Some(node), true) = (chosen, a.sort_index[i] >= 0) {
            a.sort_index[i] = a.allowed[c][node].unwrap_or(-INFINITY);
        }
    }
    let mut order = a.children[c].clone();
    let current_role = |a: &Assigner, i: usize| a.state_current(i);
    order.sort_by(|&x, &y| {
        a.sort_index[y]
            .cmp(&a.sort_index[x])
            .then_with(|| current_role(a, y).cmp(&current_role(a, x)))
    });
    // Equal ones keep their instance order.
    a.children[c] = order;
    a.updating_nodes[c] = false;
}

/// Adds to clone `c`'s node scores those of the colocations that involve
/// its promoted role: with the resources its promoted instance is colocated
/// with, then those colocated with its promoted instance.
fn add_promoted_colocation_scores(a: &mut Assigner, c: usize) {
    for ci in colocation::this_with_list(a, c) {
        let col = a.colocs[ci].clone();
        if col.dependent_role != Some(Role::Promoted) {
            continue;
        }
        let select = Select {
            active: col.score < INFINITY,
            ..Select::default()
        };
        let factor = col.score as f64 / INFINITY as f64;
        let mut nodes = Some(a.allowed[c].clone());
        a.updating_nodes[c] = false;
        colocation::add_colocated_node_scores(
            a,
            col.primary,
            Some(c),
            &mut nodes,
            Some(ci),
            factor,
            select,
        );
        a.updating_nodes[c] = true;
        if let Some(t) = nodes {
            a.allowed[c] = t;
        }
    }
    for ci in colocation::with_this_list(a, c) {
        let col = a.colocs[ci].clone();
        if col.primary_role != Some(Role::Promoted) || !colocation::has_influence(a, ci, None) {
            continue;
        }
        let select = Select {
            active: true,
            nonnegative: true,
            ..Select::default()
        };
        let factor = col.score as f64 / INFINITY as f64;
        let mut nodes = Some(a.allowed[c].clone());
        colocation::add_colocated_node_scores(
            a,
            col.dependent,
            Some(c),
            &mut nodes,
            Some(ci),
            factor,
            select,
        );
        if let Some(t) = nodes {
            a.allowed[c] = t;
        }
    }
}

/// A promoted-role ticket that is not granted (or in standby) forbids
/// promotion anywhere.
fn require_promotion_tickets(a: &mut Assigner, c: usize) {
    let w = a.w;
    for t in &w.cib.tickets {
        if t.role != Some(Role::Promoted) || a.resolve(&t.resource) != Some(c) {
            continue;
        }
        let (granted, standby) = super::ticket_ok(w, &t.ticket);
        if !granted || standby {
            for n in 0..a.n_nodes() {
                if a.allowed[c][n].is_some() {
                    a.allowed[c][n] = Some(-INFINITY);
                }
            }
        }
    }
}

fn set_instance_role(a: &mut Assigner, c: usize, i: usize, promoted: &mut usize) {
    let w = a.w;
    let mut chosen = None;
    if a.sort_index[i] >= 0 && (*promoted < w.rscs[c].promoted_max || !a.managed[c]) {
        chosen = node_to_be_promoted_on(a, c, i);
    }
    let quorum_freeze = !w.have_quorum && w.no_quorum_policy == "freeze";
    if chosen.is_some() && a.state_current(i) < Role::Promoted && quorum_freeze {
        chosen = None;
    }
    let role = match chosen {
        Some(n) => {
            a.count[c][n] += 1;
            *promoted += 1;
            Role::Promoted
        }
        None => Role::Unpromoted,
    };
    set_role_recursive(a, i, role);
}

fn set_role_recursive(a: &mut Assigner, r: usize, role: Role) {
    if a.w.rscs[r].variant == Variant::Primitive {
        if a.assigned[r].is_some() {
            if role == Role::Unpromoted && !a.managed[r] {
                // An unmanaged instance keeps its role.
                a.next_role[r] = a.w.rscs[r].current_role();
                return;
            }
            a.next_role[r] = role;
        }
        return;
    }
    a.next_role[r] = role;
    for c in a.children[r].clone() {
        set_role_recursive(a, c, role);
    }
}

fn node_to_be_promoted_on(a: &Assigner, c: usize, i: usize) -> Option<usize> {
    let w = a.w;
    for &m in &a.children[i] {
        node_to_be_promoted_on(a, c, m)?;
    }
    let node = a.location(i)?;
    let promotable_here = if !a.managed[i] {
        // An unmanaged instance stays promoted only if it is.
        a.state_current(i) == Role::Promoted
    } else {
        // The node must be able to run resources (a guest node's container
        // must also be placed).
        a.priority[i] >= 0 && a.node_available(node) && guest_will_run(a, node)
    };
    if !promotable_here {
        return None;
    }
    a.allowed[c][node]?;
    if a.count[c][node] >= w.rscs[c].promoted_node_max.max(1) && a.managed[i] {
        return None;
    }
    Some(node)
}

/// A guest node can host a promotion only if its container will run (any
/// other node can).
fn guest_will_run(a: &Assigner, n: usize) -> bool {
    if !a.is_guest(n) {
        return true;
    }
    crate::scheduler::unpack::guest_container(a.w, n).is_some_and(|c| a.assigned[c].is_some())
}
