//! Utilization and placement strategies during assignment.
//!
//! With `placement-strategy` other than `default`, nodes offer capacities
//! and resources consume them: a resource is banned from nodes without room
//! for it and everything still unplaced that must run with it (or, if no
//! node has room for all of that, for itself alone). Resources are then
//! assigned in the order of their scores rather than configuration order,
//! and `balanced` prefers the node with more capacity left.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::colocation::{self, Affects, Select};
use super::Assigner;
use crate::model::cib::score::INFINITY;
use crate::scheduler::unpack::Variant;

fn value(text: &str) -> i64 {
    text.trim().parse::<i64>().unwrap_or(0)
}

/// A resource's utilization as numbers.
fn utilization(a: &Assigner, r: usize) -> BTreeMap<String, i64> {
    a.w.rscs[r]
        .utilization
        .iter()
        .map(|(k, v)| (k.clone(), value(v)))
        .collect()
}

/// Takes a resource's utilization from its node's remaining capacity.
pub fn consume(a: &mut Assigner, r: usize, n: usize) {
    if a.w.placement_strategy == "default" {
        return;
    }
    for (k, v) in utilization(a, r) {
        let cur = a.capacity[n].get(&k).copied();
        let left = match cur {
            Some(c) => c - v,
            None => 0,
        };
        a.capacity[n].insert(k, left);
    }
}

/// Gives a resource's utilization back to its node.
pub fn release(a: &mut Assigner, r: usize, n: usize) {
    if a.w.placement_strategy == "default" {
        return;
    }
    for (k, v) in utilization(a, r) {
        let cur = a.capacity[n].get(&k).copied().unwrap_or(0);
        a.capacity[n].insert(k, cur + v);
    }
}

/// Which node has more capacity left, attribute by attribute: `Less` when
/// `n1` has more in more attributes than `n2`.
pub fn compare_capacity(a: &Assigner, n1: usize, n2: usize) -> Ordering {
    let mut result = 0i64;
    let c1 = &a.capacity[n1];
    let c2 = &a.capacity[n2];
    for (k, &v1) in c1 {
        let v2 = c2.get(k).copied().unwrap_or(0);
        result += (v1 < v2) as i64 - (v1 > v2) as i64;
    }
    for (k, &v2) in c2 {
        if c1.contains_key(k) {
            continue;
        }
        result += (0 < v2) as i64 - (0 > v2) as i64;
    }
    result.cmp(&0)
}

fn has_room(a: &Assigner, n: usize, need: &BTreeMap<String, i64>) -> bool {
    need.iter()
        .all(|(k, &v)| v <= a.capacity[n].get(k).copied().unwrap_or(0))
}

/// The resources that must run with `r` (mandatory colocations, both
/// ways), `r` included.
fn colocated_resources(a: &Assigner, r: usize, orig: usize, out: &mut Vec<usize>) {
    if out.contains(&r) {
        return;
    }
    let w = a.w;
    if w.rscs[r].variant == Variant::Group {
        out.push(r);
        for &m in &a.children[r] {
            colocated_resources(a, m, orig, out);
        }
        return;
    }
    out.push(r);
    for ci in colocation::this_with_list(a, r) {
        let c = &a.colocs[ci];
        if c.primary == orig {
            continue;
        }
        if c.score == INFINITY
            && colocation::affects(a, r, c.primary, ci, true) == Affects::Location
        {
            colocated_resources(a, c.primary, orig, out);
        }
    }
    for ci in colocation::with_this_list(a, r) {
        let c = &a.colocs[ci];
        if c.dependent == orig {
            continue;
        }
        if w.rscs[r].variant == Variant::Clone && w.rscs[c.dependent].variant != Variant::Clone {
            continue;
        }
        if c.score == INFINITY
            && colocation::affects(a, c.dependent, r, ci, true) == Affects::Location
        {
            colocated_resources(a, c.dependent, orig, out);
        }
    }
}

/// Adds what a resource (if not yet placed) will consume.
fn add_utilization(a: &Assigner, r: usize, all: &[usize], sum: &mut BTreeMap<String, i64>) {
    let w = a.w;
    if !a.unassigned[r] {
        return;
    }
    match w.rscs[r].variant {
        Variant::Primitive => {
            for (k, v) in utilization(a, r) {
                *sum.entry(k).or_insert(0) += v;
            }
        }
        Variant::Group => {
            for &m in &a.children[r] {
                if a.unassigned[m] && !all.contains(&m) {
                    add_utilization(a, m, all, sum);
                }
            }
        }
        Variant::Clone | Variant::Bundle => {
            let children = &a.children[r];
            let mut existing = false;
            for &c in children {
                if all.contains(&c) {
                    existing = true;
                } else if a.children[c].iter().any(|m| all.contains(m)) {
                    add_utilization(a, c, all, sum);
                    existing = true;
                }
            }
            if !existing {
                if let Some(&c) = children.first() {
                    add_utilization(a, c, all, sum);
                }
            }
        }
    }
}

/// Pacemaker's `pcmk__ban_insufficient_capacity`: returns the node with
/// the most capacity left when no node has room for everything colocated.
pub fn ban_insufficient_capacity(a: &mut Assigner, r: usize) -> Option<usize> {
    if a.w.placement_strategy == "default" {
        return None;
    }
    let mut all = Vec::new();
    colocated_resources(a, r, r, &mut all);
    let mut need = BTreeMap::new();
    for &x in &all {
        add_utilization(a, x, &all, &mut need);
    }
    let mut any = false;
    let mut most: Option<usize> = None;
    for n in 0..a.n_nodes() {
        let Some(s) = a.allowed[r][n] else { continue };
        if !a.node_available(n) || s < 0 {
            continue;
        }
        if has_room(a, n, &need) {
            any = true;
        }
        if most.is_none_or(|m| compare_capacity(a, n, m) == Ordering::Less) {
            most = Some(n);
        }
    }
    let own = utilization(a, r);
    let limit = if any { &need } else { &own };
    for n in 0..a.n_nodes() {
        let Some(s) = a.allowed[r][n] else { continue };
        if a.node_available(n) && s >= 0 && !has_room(a, n, limit) {
            a.resource_location(r, Some(n), -INFINITY);
        }
    }
    if any {
        None
    } else {
        most
    }
}

/// Orders the top-level resources for assignment under a placement
/// strategy: priority, then the score on the current node (colocations
/// included), then the scores on each node in turn.
pub fn sort_resources(a: &mut Assigner, order: &mut [usize]) {
    let w = a.w;
    let mut node_order: Vec<usize> = (0..w.nodes.len()).collect();
    node_order.sort_by(|&x, &y| {
        let sx = if a.node_available(x) {
            w.nodes[x].node_score
        } else {
            -INFINITY
        };
        let sy = if a.node_available(y) {
            w.nodes[y].node_score
        } else {
            -INFINITY
        };
        sy.cmp(&sx)
            .then_with(|| w.nodes[x].name.as_bytes().cmp(w.nodes[y].name.as_bytes()))
    });
    let mut tables = Vec::new();
    for &r in order.iter() {
        let mut nodes = None;
        let select = Select {
            this_with: true,
            ..Select::default()
        };
        colocation::add_colocated_node_scores(a, r, None, &mut nodes, None, 1.0, select);
        tables.push((r, nodes.unwrap_or_default()));
    }
    let table = |r: usize| &tables.iter().find(|t| t.0 == r).expect("table").1;
    let score = |r: usize, n: Option<usize>| {
        n.and_then(|n| table(r).get(n).copied().flatten())
            .unwrap_or(-INFINITY)
    };
    let current = |r: usize| {
        let mut prims = Vec::new();
        w.primitives_of(r, &mut prims);
        prims
            .iter()
            .find_map(|&p| crate::scheduler::unpack::current_node(w, p))
    };
    order.sort_by(|&x, &y| {
        w.rscs[y]
            .priority
            .cmp(&w.rscs[x].priority)
            .then_with(|| score(y, current(y)).cmp(&score(x, current(x))))
            .then_with(|| {
                for &n in &node_order {
                    let o = score(y, Some(n)).cmp(&score(x, Some(n)));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            })
    });
}
