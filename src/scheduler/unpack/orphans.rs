//! Matching history entries to resources: anonymous clone instances to
//! numbered instances, and orphans (history of resources no longer
//! configured) added to the arena so they can be stopped.

use std::collections::BTreeMap;

use super::working::{Rsc, Variant, Working};
use crate::model::cib::score::INFINITY;
use crate::model::cib::{AgentSpec, NodeKind, Role};

/// Adds a resource found only in the history: stopped wherever it runs.
pub(super) fn add_orphan(
    w: &mut Working,
    id: &str,
    base: &str,
    agent: Option<AgentSpec>,
    parent: Option<usize>,
) -> usize {
    let n = w.nodes.len();
    let template = Rsc {
        id: id.to_string(),
        base: base.to_string(),
        variant: Variant::Primitive,
        parent,
        children: Vec::new(),
        agent,
        ops: Vec::new(),
        params: BTreeMap::new(),
        meta: BTreeMap::new(),
        utilization: BTreeMap::new(),
        instance: None,
        priority: 0,
        stickiness: 0,
        managed: true,
        target_role: Role::Stopped,
        migration_threshold: INFINITY,
        failure_timeout_s: 0,
        allow_migrate: false,
        globally_unique: false,
        promotable: false,
        interleave: false,
        ordered: false,
        clone_max: 0,
        clone_node_max: 0,
        promoted_max: 0,
        promoted_node_max: 0,
        requires_fencing: true,
        current: Vec::new(),
        known_on: vec![false; n],
        instance_known_on: vec![false; n],
        banned_by_failures: vec![false; n],
        orphan: true,
        blocked: false,
        restart_requested: false,
        dangling: Vec::new(),
    };
    w.rscs.push(template);
    let idx = w.rscs.len() - 1;
    w.by_id.entry(id.to_string()).or_insert(idx);
    // An orphan instance of a clone is one of its instances (Pacemaker
    // numbers it after the configured ones), never to run again.
    if let Some(p) = parent.filter(|&p| w.rscs[p].variant == Variant::Clone) {
        w.rscs[p].children.push(idx);
    }
    idx
}

/// The anonymous (not globally unique) clone a primitive is an instance of.
pub(super) fn anonymous_clone_of(w: &Working, r: usize) -> Option<usize> {
    let mut a = w.rscs[r].parent;
    while let Some(p) = a {
        if w.rscs[p].variant == Variant::Clone {
            return (!w.rscs[p].globally_unique).then_some(p);
        }
        a = w.rscs[p].parent;
    }
    None
}

/// Records that an instance's (and its group's and clone's) state on a
/// node is known from its history.
pub(super) fn mark_instance_known(w: &mut Working, r: usize, node: usize) {
    let mut at = Some(r);
    while let Some(x) = at {
        w.rscs[x].instance_known_on[node] = true;
        if x != r && w.rscs[x].variant == Variant::Clone {
            break;
        }
        at = w.rscs[x].parent;
    }
}

/// Pacemaker's choice of anonymous clone instance for a node's history of
/// it: the instance already active on that node (a cloned group's member
/// through its group), else the first instance not active anywhere yet; a
/// member already active there makes this history an orphan. An instance
/// that does not need fencing is not given to a node that is down (unless
/// the clone runs everywhere), so that it can start elsewhere.
pub(super) fn anonymous_instance(w: &Working, instances: &[usize], node: usize) -> Option<usize> {
    let mut found = None;
    let mut inactive = None;
    let mut skip_inactive = false;
    for &i in instances {
        if found.is_some() {
            break;
        }
        let holder = w.rscs[i]
            .parent
            .filter(|&p| w.rscs[p].variant == Variant::Group)
            .unwrap_or(i);
        let mut prims = Vec::new();
        w.primitives_of(holder, &mut prims);
        let mut nodes: Vec<usize> = Vec::new();
        for p in prims {
            for c in &w.rscs[p].current {
                if !nodes.contains(&c.node) {
                    nodes.push(c.node);
                }
            }
        }
        match nodes.first() {
            Some(&n) if n == node => {
                if w.rscs[i].current.is_empty() {
                    found = Some(i);
                } else {
                    skip_inactive = true;
                }
            }
            Some(_) => {}
            None => {
                if !skip_inactive && inactive.is_none() && !w.rscs[i].blocked {
                    inactive = Some(i);
                }
            }
        }
    }
    if found.is_none() && !skip_inactive {
        found = inactive;
    }
    let down = !w.nodes[node].online || w.nodes[node].unclean;
    if let Some(t) = found {
        let universal =
            anonymous_clone_of(w, t).is_some_and(|c| w.rscs[c].clone_max == w.nodes.len());
        if !w.rscs[t].requires_fencing
            && down
            && w.nodes[node].kind != NodeKind::Guest
            && !universal
        {
            return None;
        }
    }
    found
}

/// Whether `node` is the node of a bundle replica beyond the bundle's
/// count: its connection is an orphan named after a bundle.
pub(super) fn on_orphan_replica(w: &Working, node: usize) -> bool {
    let Some(conn) = w.nodes[node].connection.as_ref() else {
        return false;
    };
    let orphan = w.by_id.get(conn).is_some_and(|&c| w.rscs[c].orphan);
    orphan && bundle_generated(w, conn)
}

/// Whether `id` names something a bundle generates (`BUNDLE-...`).
pub(super) fn bundle_generated(w: &Working, id: &str) -> bool {
    w.rscs
        .iter()
        .any(|r| r.variant == Variant::Bundle && id.starts_with(&format!("{}-", r.id)))
}

/// Whether the anonymous clone holding `r` allows several copies per node
/// (clone-node-max above 1).
pub(super) fn several_per_node(w: &Working, r: usize) -> bool {
    anonymous_clone_of(w, r).is_some_and(|c| w.rscs[c].clone_node_max > 1)
}

/// Chooses which instance of a (possibly cloned) primitive a history entry
/// belongs to: an explicit `:N` when free, else the first instance not yet
/// active anywhere.
pub(super) fn pick_instance(
    w: &Working,
    instances: &[usize],
    number: Option<u32>,
    node: usize,
) -> Option<usize> {
    if instances.len() == 1 {
        let only = instances[0];
        // An orphaned clone instance already active elsewhere: another copy.
        if w.rscs[only].orphan && w.rscs[only].id.contains(':') && !w.rscs[only].current.is_empty()
        {
            return None;
        }
        return Some(only);
    }
    let unique = instances
        .first()
        .is_some_and(|&i| w.rscs[i].globally_unique);
    if !unique && node_full(w, instances, node) {
        return None;
    }
    // Anonymous clones ignore the recorded number: any free instance will do.
    if let Some(n) = number.filter(|_| unique) {
        return instances
            .iter()
            .copied()
            .find(|&i| w.rscs[i].instance == Some(n));
    }
    free_instance(w, instances, node)
}

/// An anonymous clone runs at most clone-node-max copies on a node; more
/// active copies are orphans.
fn node_full(w: &Working, instances: &[usize], node: usize) -> bool {
    let clone = instances.first().and_then(|&i| {
        let mut a = w.rscs[i].parent;
        while let Some(p) = a.filter(|&p| w.rscs[p].variant != Variant::Clone) {
            a = w.rscs[p].parent;
        }
        a
    });
    let Some(c) = clone else {
        return false;
    };
    let here = instances
        .iter()
        .filter(|&&i| w.rscs[i].current.iter().any(|x| x.node == node))
        .count();
    here >= w.rscs[c].clone_node_max.max(1)
}

/// The instance an anonymous history entry on `node` goes to: one in a
/// group with a sibling already there, else the first not active anywhere
/// (preferring one whose whole group is inactive).
fn free_instance(w: &Working, instances: &[usize], node: usize) -> Option<usize> {
    let inactive = |i: usize| w.rscs[i].current.is_empty();
    let group_of = |i: usize| {
        w.rscs[i]
            .parent
            .filter(|&p| w.rscs[p].variant == Variant::Group)
    };
    let sibling_here = |g: usize| {
        w.rscs[g]
            .children
            .iter()
            .any(|&s| w.rscs[s].current.iter().any(|c| c.node == node))
    };
    if let Some(i) = instances
        .iter()
        .copied()
        .find(|&i| group_of(i).is_some_and(&sibling_here) && inactive(i))
    {
        return Some(i);
    }
    let group_inactive = |g: usize| w.rscs[g].children.iter().all(|&s| inactive(s));
    instances
        .iter()
        .copied()
        .find(|&i| inactive(i) && group_of(i).is_none_or(&group_inactive))
        .or_else(|| instances.iter().copied().find(|&i| inactive(i)))
}
