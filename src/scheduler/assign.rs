//! Stage 2, assign: every resource gets a node (or none) and a next role.
//!
//! Scores start from the cluster's symmetry, then location constraints,
//! stickiness and failure bans are added. Resources are assigned in priority
//! order; a resource first assigns the resources it is colocated with, takes
//! in the preferences of resources colocated with it, then picks the best
//! node. Clones place their instances, then choose which to promote.

use std::collections::HashMap;

use super::unpack::{Variant, Working};
use crate::model::cib::{location_rule_score, LocationTarget, Role};
use crate::model::rules::RuleContext;
use crate::model::score::{self, INFINITY};

/// A colocation the scheduler works with (resources by index).
#[derive(Debug, Clone)]
pub struct Coloc {
    pub id: String,
    pub dependent: usize,
    pub primary: usize,
    pub score: i64,
    pub dependent_role: Option<Role>,
    pub primary_role: Option<Role>,
    pub node_attribute: String,
    pub influence: bool,
}

impl Coloc {
    /// A mandatory same-node colocation the configuration implies (group
    /// members, containers, guest connections), not one a user wrote.
    fn implied(id: String, dependent: usize, primary: usize) -> Coloc {
        Coloc {
            id,
            dependent,
            primary,
            score: INFINITY,
            dependent_role: None,
            primary_role: None,
            node_attribute: "#uname".into(),
            influence: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Todo,
    Busy,
    Done,
}

/// The outcome of assignment, indexed like `Working::rscs`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Location, stickiness and failure scores per node (before colocation).
    pub base: Vec<Vec<i64>>,
    /// Whether a node is allowed at all (opt-in clusters allow only nodes
    /// named by a location constraint).
    pub allowed: Vec<Vec<bool>>,
    /// Final scores used when choosing (for --scores).
    pub final_scores: Vec<Vec<i64>>,
    pub assigned: Vec<Option<usize>>,
    pub next_role: Vec<Role>,
    pub promotion_scores: Vec<Option<i64>>,
    /// Promoted-role location scores per clone (node -> score).
    pub promoted_locations: Vec<Vec<i64>>,
    pub colocs: Vec<Coloc>,
    pub with_this: Vec<Vec<usize>>,
    pub this_with: Vec<Vec<usize>>,
    progress: Vec<Progress>,
    pub load: Vec<usize>,
    pub used_capacity: Vec<HashMap<String, i64>>,
}

fn scale(value: i64, factor: f64) -> i64 {
    if value <= -INFINITY && factor > 0.0 {
        return if factor >= 1.0 {
            -INFINITY
        } else {
            (-(INFINITY as f64) * factor) as i64
        };
    }
    ((value as f64) * factor) as i64
}

pub fn assign(w: &Working) -> Plan {
    let n_rsc = w.rscs.len();
    let n_nodes = w.nodes.len();
    let mut plan = Plan {
        base: vec![vec![0; n_nodes]; n_rsc],
        allowed: vec![vec![w.symmetric; n_nodes]; n_rsc],
        final_scores: vec![vec![0; n_nodes]; n_rsc],
        assigned: vec![None; n_rsc],
        next_role: vec![Role::Stopped; n_rsc],
        promotion_scores: vec![None; n_rsc],
        promoted_locations: vec![Vec::new(); n_rsc],
        colocs: Vec::new(),
        with_this: vec![Vec::new(); n_rsc],
        this_with: vec![Vec::new(); n_rsc],
        progress: vec![Progress::Todo; n_rsc],
        load: vec![0; n_nodes],
        used_capacity: vec![HashMap::new(); n_nodes],
    };
    // Connections (and guest containers) only run on cluster nodes.
    let connections: Vec<usize> = w
        .nodes
        .iter()
        .filter_map(|n| n.connection.as_ref().and_then(|c| w.by_id.get(c)).copied())
        .collect();
    let connections: Vec<usize> = connections
        .into_iter()
        .chain(w.guest_containers.values().copied())
        .collect();
    for &c in &connections {
        for (i, node) in w.nodes.iter().enumerate() {
            if node.kind != crate::model::cib::NodeKind::Member {
                plan.allowed[c][i] = false;
            }
        }
    }
    // Guest and remote nodes can only be used while their connection runs;
    // they are never allowed to host their own connection.
    for (i, node) in w.nodes.iter().enumerate() {
        if node.kind != crate::model::cib::NodeKind::Member {
            for r in 0..n_rsc {
                if w.rscs[r]
                    .agent
                    .as_ref()
                    .is_some_and(|a| a.class == "stonith")
                {
                    plan.allowed[r][i] = false;
                }
            }
            if let Some(conn) = node.connection.as_ref().and_then(|c| w.by_id.get(c)) {
                plan.allowed[*conn][i] = false;
            }
        }
    }
    // Bundle guest nodes host only their bundle's resource.
    for parts in w.bundles.values() {
        for &c in &parts.remotes {
            if let Some(g) = w.node_named(&w.rscs[c].id) {
                for r in 0..n_rsc {
                    plan.allowed[r][g] = false;
                }
            }
        }
    }
    for parts in w.bundles.values() {
        let Some(inner) = parts.inner else { continue };
        let guests: Vec<Option<usize>> = parts
            .remotes
            .iter()
            .map(|&c| w.node_named(&w.rscs[c].id))
            .collect();
        let mut members = Vec::new();
        propagate(w, inner, &mut members);
        for m in members {
            for n in 0..n_nodes {
                plan.allowed[m][n] = false;
            }
            let own = w.rscs[m]
                .instance
                .and_then(|i| guests.get(i as usize).copied().flatten());
            match own {
                Some(g) => plan.allowed[m][g] = true,
                None if m == inner => {
                    for g in guests.iter().flatten() {
                        plan.allowed[m][*g] = true;
                    }
                }
                None => {}
            }
        }
    }
    super::health::apply_node_health(w, &mut plan.base);
    apply_locations(w, &mut plan);
    // A guest's implicit connection may go wherever its container may.
    // meta container=X: the resource lives inside X.
    for (r, rsc) in w.rscs.iter().enumerate() {
        if let Some(&c) = rsc.meta.get("container").and_then(|c| w.by_id.get(c)) {
            if rsc.variant == Variant::Primitive && c != r {
                plan.colocs
                    .push(Coloc::implied(format!("{}-container", rsc.id), r, c));
            }
        }
    }
    for (conn, &container) in &w.guest_containers {
        if let Some(&c) = w.by_id.get(conn) {
            for n in 0..n_nodes {
                plan.allowed[c][n] = plan.allowed[container][n]
                    && w.nodes[n].kind == crate::model::cib::NodeKind::Member;
            }
        }
    }
    apply_stickiness_and_failures(w, &mut plan);
    apply_tickets(w, &mut plan);
    resolve_colocations(w, &mut plan);

    // Assignment order: priority first, then configuration order.
    let mut order: Vec<usize> = w.top.clone();
    // Remote connections first: their nodes are usable only once they are placed.
    let is_connection = |r: usize| {
        w.nodes
            .iter()
            .any(|n| n.connection.as_deref() == Some(w.rscs[r].id.as_str()))
    };
    order.sort_by_key(|&r| (!is_connection(r), std::cmp::Reverse(w.rscs[r].priority)));
    for r in order {
        assign_rsc(w, &mut plan, r);
    }
    plan
}

fn propagate(w: &Working, r: usize, out: &mut Vec<usize>) {
    out.push(r);
    for &c in &w.rscs[r].children {
        propagate(w, c, out);
    }
}

fn apply_locations(w: &Working, plan: &mut Plan) {
    // resource-discovery=exclusive: only nodes matched by such a constraint.
    let mut exclusive: HashMap<usize, Vec<bool>> = HashMap::new();
    for loc in &w.cib.locations {
        let is_exclusive = loc.discovery == "exclusive";
        let mut targets = Vec::new();
        for name in &loc.resources {
            if let Some(pattern) = name.strip_prefix('\u{1}') {
                // Checked when the CIB was read; linear-time matching.
                let Ok(pattern) = crate::model::cib::rsc_pattern(pattern) else {
                    continue;
                };
                for &t in &w.top {
                    if pattern.is_match(&w.rscs[t].id) {
                        targets.push(t);
                    }
                }
            } else if let Some(&r) = w.by_id.get(name) {
                targets.push(r);
            }
        }
        for r in targets {
            let mut affected = Vec::new();
            match w.bundles.get(&r) {
                Some(parts) => affected.extend(parts.containers.iter().copied()),
                None => propagate(w, r, &mut affected),
            }
            let constraint_promoted = matches!(loc.role, Some(Role::Promoted));
            for n in 0..w.nodes.len() {
                // (score, applies to the promoted role only)
                let mut entries: Vec<(i64, bool)> = Vec::new();
                match &loc.target {
                    LocationTarget::Node { node, score } => {
                        if &w.nodes[n].name == node {
                            entries.push((*score, constraint_promoted));
                        }
                    }
                    LocationTarget::Rules(rules) => {
                        let ctx = RuleContext {
                            node_attrs: Some(&w.nodes[n].attrs),
                            now_epoch_s: w.now_epoch_s,
                            agent: None,
                            op: None,
                        };
                        for rule in rules {
                            if let Some(s) = location_rule_score(rule, &ctx) {
                                let promoted = match rule.attr("role").and_then(Role::parse) {
                                    Some(role) => role == Role::Promoted,
                                    None => constraint_promoted,
                                };
                                entries.push((s, promoted));
                            }
                        }
                    }
                }
                if is_exclusive {
                    let mut affected = Vec::new();
                    match w.bundles.get(&r) {
                        Some(parts) => affected.extend(parts.containers.iter().copied()),
                        None => propagate(w, r, &mut affected),
                    }
                    for a in affected {
                        let v = exclusive
                            .entry(a)
                            .or_insert_with(|| vec![false; w.nodes.len()]);
                        if entries.iter().any(|(value, _)| *value > -INFINITY) {
                            v[n] = true;
                        }
                    }
                }
                for (value, promoted_only) in entries {
                    if promoted_only {
                        let v = &mut plan.promoted_locations[r];
                        if v.is_empty() {
                            v.resize(w.nodes.len(), 0);
                        }
                        v[n] = score::add(v[n], value);
                        continue;
                    }
                    // A group's score counts once, through its first member; a
                    // clone's reaches every instance.
                    for &a in &affected {
                        let in_group = a != r
                            && w.rscs[a]
                                .parent
                                .is_some_and(|p| w.rscs[p].variant == Variant::Group);
                        if !in_group {
                            plan.base[a][n] = score::add(plan.base[a][n], value);
                        }
                        plan.allowed[a][n] = true;
                    }
                }
            }
        }
    }
    for (r, nodes) in exclusive {
        for (n, ok) in nodes.into_iter().enumerate() {
            if !ok {
                plan.allowed[r][n] = false;
            }
        }
    }
}

/// Whether a ticket is usable: granted and not in standby.
pub fn ticket_ok(w: &Working, ticket: &str) -> (bool, bool) {
    let state = w.cib.ticket_state.get(ticket);
    let granted = state
        .and_then(|s| s.get("granted"))
        .is_some_and(|v| crate::model::cib::parse_bool(v));
    let standby = state
        .and_then(|s| s.get("standby"))
        .is_some_and(|v| crate::model::cib::parse_bool(v));
    (granted, standby)
}

/// Resources that depend on a ticket they do not hold may not run (or, with
/// `loss-policy=freeze`, may only stay where they are; with `rsc-role`
/// Promoted, may not be promoted).
fn apply_tickets(w: &Working, plan: &mut Plan) {
    for t in &w.cib.tickets {
        let Some(&r) = w.by_id.get(&t.resource) else {
            continue;
        };
        let (granted, standby) = ticket_ok(w, &t.ticket);
        if granted && !standby {
            continue;
        }
        let freeze = t.loss_policy == "freeze" && !granted;
        let mut prims = Vec::new();
        w.primitives_of(r, &mut prims);
        let active_on = |n: usize, promoted: bool| {
            prims.iter().any(|&p| {
                w.rscs[p]
                    .current
                    .iter()
                    .any(|c| c.node == n && (!promoted || c.role == Role::Promoted))
            })
        };
        if t.role == Some(Role::Promoted) && t.loss_policy != "stop" {
            let mut v = std::mem::take(&mut plan.promoted_locations[r]);
            if v.is_empty() {
                v.resize(w.nodes.len(), 0);
            }
            for (n, x) in v.iter_mut().enumerate() {
                if !(freeze && active_on(n, true)) {
                    *x = -INFINITY;
                }
            }
            plan.promoted_locations[r] = v;
            continue;
        }
        let mut affected = Vec::new();
        propagate(w, r, &mut affected);
        for a in affected {
            for n in 0..w.nodes.len() {
                let here = if w.rscs[a].variant == Variant::Primitive {
                    w.rscs[a].current.iter().any(|c| c.node == n)
                } else {
                    active_on(n, false)
                };
                if !(freeze && here) {
                    plan.allowed[a][n] = false;
                }
            }
        }
    }
}

fn apply_stickiness_and_failures(w: &Working, plan: &mut Plan) {
    for (r, rsc) in w.rscs.iter().enumerate() {
        for n in 0..w.nodes.len() {
            if rsc.banned_by_failures[n] {
                plan.base[r][n] = -INFINITY;
            }
        }
        if rsc.variant != Variant::Primitive || rsc.current.len() != 1 || !rsc.managed {
            continue;
        }
        let node = rsc.current[0].node;
        if !w.symmetric && !plan.allowed[r][node] {
            continue;
        }
        plan.base[r][node] = score::add(plan.base[r][node], rsc.stickiness);
    }
}

fn resolve_colocations(w: &Working, plan: &mut Plan) {
    // Group members follow the member before them.
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant == Variant::Group {
            for pair in rsc.children.windows(2) {
                plan.colocs.push(Coloc::implied(
                    format!("{}-group", w.rscs[r].id),
                    pair[1],
                    pair[0],
                ));
            }
        }
    }
    for (conn, &container) in &w.guest_containers {
        if let Some(&c) = w.by_id.get(conn) {
            plan.colocs
                .push(Coloc::implied(format!("{conn}-guest"), c, container));
        }
    }
    for parts in w.bundles.values() {
        for (i, &c) in parts.containers.iter().enumerate() {
            for &follower in [parts.ips.get(i), parts.remotes.get(i)]
                .into_iter()
                .flatten()
            {
                plan.colocs.push(Coloc::implied(
                    format!("{}-bundle", w.rscs[follower].id),
                    follower,
                    c,
                ));
            }
        }
    }
    for c in &w.cib.colocations {
        let (Some(&d), Some(&p)) = (w.by_id.get(&c.dependent), w.by_id.get(&c.primary)) else {
            continue;
        };
        if c.score == 0 || d == p {
            continue;
        }
        // A group as dependent is placed through its first member; as
        // primary, through its last one.
        // A mandatory colocation binds every member (an unmanaged first
        // member must not drag the others along).
        let group_dependent = w.rscs[d].variant == Variant::Group;
        let all_members: Vec<usize> = if group_dependent && c.score.abs() >= INFINITY {
            w.rscs[d].children.iter().skip(1).copied().collect()
        } else {
            Vec::new()
        };
        let d = match w.rscs[d].variant {
            Variant::Group => w.rscs[d].children.first().copied().unwrap_or(d),
            // A bundle's promoted role belongs to the resource inside it.
            Variant::Bundle if c.dependent_role == Some(Role::Promoted) => {
                w.bundles.get(&d).and_then(|b| b.inner).unwrap_or(d)
            }
            _ => d,
        };
        let p = match w.rscs[p].variant {
            Variant::Group => w.rscs[p].children.last().copied().unwrap_or(p),
            _ => p,
        };
        for dependent in std::iter::once(d).chain(all_members) {
            plan.colocs.push(Coloc {
                id: c.id.clone(),
                dependent,
                primary: p,
                score: c.score,
                dependent_role: c.dependent_role,
                primary_role: c.primary_role,
                node_attribute: c.node_attribute.clone(),
                // Only the first member speaks for the group's preferences.
                influence: c.influence && dependent == d,
            });
        }
    }
    for (i, c) in plan.colocs.iter().enumerate() {
        plan.this_with[c.dependent].push(i);
        plan.with_this[c.primary].push(i);
    }
}

fn assign_rsc(w: &Working, plan: &mut Plan, r: usize) {
    if plan.progress[r] != Progress::Todo {
        return;
    }
    // A member of a group or clone is assigned through its parent.
    if let Some(p) = w.rscs[r].parent {
        if plan.progress[p] == Progress::Todo {
            assign_rsc(w, plan, p);
            return;
        }
    }
    match w.rscs[r].variant {
        Variant::Primitive => assign_primitive(w, plan, r, None),
        Variant::Group => {
            plan.progress[r] = Progress::Busy;
            for c in w.rscs[r].children.clone() {
                assign_primitive(w, plan, c, None);
            }
            plan.progress[r] = Progress::Done;
            let first = w.rscs[r].children.first().copied();
            plan.assigned[r] = first.and_then(|f| plan.assigned[f]);
            plan.next_role[r] = if plan.assigned[r].is_some() {
                Role::Started
            } else {
                Role::Stopped
            };
        }
        Variant::Clone => assign_clone(w, plan, r),
        Variant::Bundle => assign_bundle(w, plan, r),
    }
}

/// Containers first (at most `replicas-per-host` on a node), then their IPs
/// and guest connections (which follow them), then the resource inside.
fn assign_bundle(w: &Working, plan: &mut Plan, r: usize) {
    plan.progress[r] = Progress::Busy;
    let parts = w.bundles.get(&r).cloned().unwrap_or_default();
    let mut per_node = vec![0usize; w.nodes.len()];
    // Replicas still running where they may stay are placed first, so a
    // lost replica does not push the others around.
    let mut order = parts.containers.clone();
    order.sort_by_key(|&c| {
        let stays = w.rscs[c].current.len() == 1 && {
            let n = w.rscs[c].current[0].node;
            usable(w, plan, n) && plan.allowed[c][n] && plan.base[c][n] > -INFINITY
        };
        !stays
    });
    for c in order {
        let limit = parts.replicas_per_host;
        // Like clone instances, a replica keeps its node when that node is
        // as good as any other (ignoring how loaded it is).
        if let [cur] = w.rscs[c].current.as_slice() {
            let here = cur.node;
            if per_node[here] < limit {
                let mut trial = plan.clone();
                let counts = per_node.clone();
                let mask = move |n: usize| counts[n] < limit;
                assign_primitive(w, &mut trial, c, Some(&mask));
                let best = trial.final_scores[c]
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| {
                        per_node[*n] < limit && usable(w, &trial, *n) && trial.allowed[c][*n]
                    })
                    .map(|(_, s)| *s)
                    .max();
                let score_here = trial.final_scores[c][here];
                if trial.assigned[c].is_some()
                    && best.is_some_and(|b| score_here >= b)
                    && usable(w, &trial, here)
                    && trial.allowed[c][here]
                {
                    let only_here = move |n: usize| n == here;
                    assign_primitive(w, plan, c, Some(&only_here));
                    if let Some(n) = plan.assigned[c] {
                        per_node[n] += 1;
                    }
                    continue;
                }
            }
        }
        let counts = per_node.clone();
        let mask = move |n: usize| counts[n] < limit;
        assign_primitive(w, plan, c, Some(&mask));
        if let Some(n) = plan.assigned[c] {
            per_node[n] += 1;
        }
    }
    for &c in parts.ips.iter().chain(parts.remotes.iter()) {
        assign_primitive(w, plan, c, None);
    }
    if let Some(inner) = parts.inner {
        assign_clone(w, plan, inner);
    }
    plan.progress[r] = Progress::Done;
}

/// Nodes the primary occupies for a colocation (the clone's instances, or
/// the primitive's node), filtered by the primary role.
fn primary_nodes(w: &Working, plan: &Plan, p: usize, role: Option<Role>) -> Vec<usize> {
    let rsc = &w.rscs[p];
    let role_ok = |r: usize| match role {
        Some(Role::Promoted) => plan.next_role[r] == Role::Promoted,
        Some(Role::Unpromoted) => plan.next_role[r] == Role::Unpromoted,
        _ => true,
    };
    if let Some(parts) = w.bundles.get(&p) {
        let mut nodes = Vec::new();
        for (i, &c) in parts.containers.iter().enumerate() {
            let inner_ok = match (role, parts.inner) {
                (Some(Role::Promoted), Some(inner)) => w.rscs[inner]
                    .children
                    .get(i)
                    .is_some_and(|&x| plan.next_role[x] == Role::Promoted),
                _ => true,
            };
            if let Some(n) = plan.assigned[c] {
                if inner_ok && !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
        }
        return nodes;
    }
    match rsc.variant {
        Variant::Clone | Variant::Bundle => {
            let mut nodes = Vec::new();
            for &i in &rsc.children {
                if let Some(n) = plan.assigned[i] {
                    if role_ok(i) && !nodes.contains(&n) {
                        nodes.push(n);
                    }
                }
            }
            nodes
        }
        _ => plan.assigned[p]
            .filter(|_| role_ok(p))
            .into_iter()
            .collect(),
    }
}

fn same_attr(w: &Working, attr: &str, a: usize, b: usize) -> bool {
    if attr == "#uname" {
        return a == b;
    }
    match (w.nodes[a].attrs.get(attr), w.nodes[b].attrs.get(attr)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Applies "dependent with primary" to the dependent's scores.
fn apply_coloc_to_scores(w: &Working, plan: &Plan, c: &Coloc, scores: &mut [i64]) {
    let nodes = primary_nodes(w, plan, c.primary, c.primary_role);
    if c.score >= INFINITY {
        for (n, s) in scores.iter_mut().enumerate() {
            if !nodes.iter().any(|&p| same_attr(w, &c.node_attribute, n, p)) {
                *s = -INFINITY;
            }
        }
    } else if c.score <= -INFINITY {
        for (n, s) in scores.iter_mut().enumerate() {
            if nodes.iter().any(|&p| same_attr(w, &c.node_attribute, n, p)) {
                *s = -INFINITY;
            }
        }
    } else {
        // An optional colocation that would leave no node usable is
        // rolled back, as Pacemaker does.
        let mut work = scores.to_vec();
        for (n, s) in work.iter_mut().enumerate() {
            if nodes.iter().any(|&p| same_attr(w, &c.node_attribute, n, p)) {
                *s = score::add(*s, c.score);
            }
        }
        let usable = (0..work.len())
            .any(|n| work[n] >= 0 && w.nodes[n].can_host() && plan.allowed[c.dependent][n]);
        if usable {
            scores.copy_from_slice(&work);
        }
    }
}

/// Adds the (scaled) preferences of resources colocated with `r` that are not
/// yet placed, recursively; rolled back when it would leave no node usable.
fn add_dependent_scores(
    w: &Working,
    plan: &Plan,
    r: usize,
    scores: &mut Vec<i64>,
    factor: f64,
    visited: &mut Vec<usize>,
) {
    if visited.contains(&r) {
        return;
    }
    visited.push(r);
    for &ci in &plan.with_this[r] {
        let c = &plan.colocs[ci];
        if !c.influence || plan.progress[c.dependent] != Progress::Todo {
            continue;
        }
        if c.dependent_role == Some(Role::Promoted) || c.primary_role == Some(Role::Promoted) {
            continue;
        }
        let d = c.dependent;
        let f = factor * (c.score as f64) / (INFINITY as f64);
        let mut work = scores.clone();
        let dep_scores = effective_base(w, plan, d);
        for n in 0..work.len() {
            let v = dep_scores[n];
            if v != 0 {
                work[n] = score::add(work[n], scale(v, f));
            }
        }
        // Only positive influence passes on to the dependents' dependents.
        if f > 0.0 {
            add_dependent_scores(w, plan, d, &mut work, f, visited);
        }
        let usable =
            (0..work.len()).any(|n| work[n] >= 0 && w.nodes[n].can_host() && plan.allowed[r][n]);
        if usable {
            *scores = work;
        }
    }
}

/// A resource's base scores with disallowed nodes as -INFINITY.
fn effective_base(w: &Working, plan: &Plan, r: usize) -> Vec<i64> {
    let mut v = plan.base[r].clone();
    for n in 0..v.len() {
        if !plan.allowed[r][n] {
            v[n] = -INFINITY;
        }
        if w.rscs[r].variant == Variant::Clone {
            // For a clone, banned means every instance is banned.
            continue;
        }
    }
    v
}

fn capacity_ok(w: &Working, plan: &Plan, r: usize, n: usize) -> bool {
    if w.placement_strategy == "default" {
        return true;
    }
    // A group's first member must find room for the whole group, and a
    // resource for everything colocated with it that is still unplaced.
    let mut need: HashMap<&str, i64> = HashMap::new();
    let mut members = vec![r];
    let mut stack = vec![r];
    while let Some(x) = stack.pop() {
        let mut next = Vec::new();
        if let Some(p) = w.rscs[x]
            .parent
            .filter(|&p| w.rscs[p].variant == Variant::Group)
        {
            if w.rscs[p].children.first() == Some(&x) {
                next.extend(w.rscs[p].children[1..].iter().copied());
            }
        }
        for &ci in &plan.with_this[x] {
            let c = &plan.colocs[ci];
            if c.score >= INFINITY && plan.progress[c.dependent] == Progress::Todo {
                next.push(c.dependent);
            }
        }
        for y in next {
            if !members.contains(&y) && members.len() < 64 {
                members.push(y);
                stack.push(y);
            }
        }
    }
    for &x in &members {
        for (k, v) in &w.rscs[x].utilization {
            if let Ok(v) = v.parse::<i64>() {
                *need.entry(k.as_str()).or_insert(0) += v;
            }
        }
    }
    for (k, v) in need {
        let cap = w.nodes[n]
            .utilization
            .get(k)
            .and_then(|c| c.parse::<i64>().ok())
            .unwrap_or(0);
        let used = plan.used_capacity[n].get(k).copied().unwrap_or(0);
        if used + v > cap {
            return false;
        }
    }
    true
}

fn free_capacity(w: &Working, plan: &Plan, n: usize) -> i64 {
    w.nodes[n]
        .utilization
        .iter()
        .filter_map(|(k, v)| {
            v.parse::<i64>()
                .ok()
                .map(|c| c - plan.used_capacity[n].get(k).copied().unwrap_or(0))
        })
        .sum()
}

/// The cluster node under a guest node (where its connection is placed).
fn host_of(w: &Working, plan: &Plan, n: usize) -> usize {
    if w.nodes[n].kind != crate::model::cib::NodeKind::Guest {
        return n;
    }
    w.nodes[n]
        .connection
        .as_ref()
        .and_then(|c| w.by_id.get(c))
        .and_then(|&conn| plan.assigned[conn])
        .unwrap_or(n)
}

/// Whether a node can take resources in this transition: a remote or guest
/// node only once its connection has been placed.
fn usable(w: &Working, plan: &Plan, n: usize) -> bool {
    let node = &w.nodes[n];
    match node.connection.as_ref().and_then(|c| w.by_id.get(c)) {
        Some(&conn) if node.kind != crate::model::cib::NodeKind::Member => {
            // (A fencing that placing the connection calls off does not count.)
            plan.assigned[conn].is_some()
                && (!node.unclean || node.fence_revocable)
                && !node.standby
                && !node.maintenance
                && !node.connection_stopping
                && (node.online || plan.assigned[conn].is_some())
        }
        _ => node.can_host(),
    }
}

/// Picks the best node: highest score, the current node on ties, then the
/// least loaded, then configuration order.
fn choose_node(
    w: &Working,
    plan: &Plan,
    r: usize,
    scores: &[i64],
    prefer: Option<usize>,
    mask: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for n in 0..scores.len() {
        if !mask(n) || !plan.allowed[r][n] || !usable(w, plan, n) || scores[n] < 0 {
            continue;
        }
        if !capacity_ok(w, plan, r, n) {
            continue;
        }
        best = match best {
            None => Some(n),
            Some(b) => {
                let better = if scores[n] != scores[b] {
                    scores[n] > scores[b]
                } else if w.placement_strategy == "balanced"
                    && free_capacity(w, plan, n) != free_capacity(w, plan, b)
                {
                    free_capacity(w, plan, n) > free_capacity(w, plan, b)
                } else if w.placement_strategy == "minimal" {
                    false
                } else if plan.load[n] != plan.load[b] {
                    plan.load[n] < plan.load[b]
                } else if prefer == Some(n) || prefer == Some(b) {
                    // Equal score and load: stay where it runs.
                    prefer == Some(n)
                } else {
                    // Pacemaker's last resort: node names, byte order.
                    w.nodes[n].name.as_bytes() < w.nodes[b].name.as_bytes()
                };
                Some(if better { n } else { b })
            }
        };
    }
    best
}

fn record(w: &Working, plan: &mut Plan, r: usize, node: Option<usize>) {
    plan.assigned[r] = node;
    if let Some(n) = node {
        plan.load[n] += 1;
        for (k, v) in &w.rscs[r].utilization {
            if let Ok(v) = v.parse::<i64>() {
                *plan.used_capacity[n].entry(k.clone()).or_insert(0) += v;
            }
        }
    }
}

/// The node a remote connection was left migrating to: its last operation
/// on its only node was a successful migrate_to, not yet completed there.
fn partial_migration_target(w: &Working, r: usize) -> Option<usize> {
    let is_connection = w.nodes.iter().any(|n| {
        n.kind == crate::model::cib::NodeKind::Remote
            && n.connection.as_deref() == Some(w.rscs[r].id.as_str())
    });
    let [only] = w.rscs[r].current.as_slice() else {
        return None;
    };
    if !is_connection {
        return None;
    }
    w.node_named(only.migrated_to.as_deref()?)
        .filter(|&t| t != only.node && w.nodes[t].can_host())
}

/// Assigns one primitive. `mask` limits the nodes (clone instances).
fn assign_primitive(w: &Working, plan: &mut Plan, r: usize, mask: Option<&dyn Fn(usize) -> bool>) {
    if plan.progress[r] != Progress::Todo {
        return;
    }
    plan.progress[r] = Progress::Busy;
    let rsc = &w.rscs[r];
    // Place what this one is colocated with first.
    for ci in plan.this_with[r].clone() {
        let p = plan.colocs[ci].primary;
        let top = w.top_of(p);
        if plan.progress[p] == Progress::Todo && top != w.top_of(r) {
            assign_rsc(w, plan, top);
        } else if plan.progress[p] == Progress::Todo {
            assign_primitive(w, plan, p, None);
        }
    }
    let mut scores = effective_base(w, plan, r);
    // The first member of a group carries the group's own scores.
    if let Some(p) = rsc.parent {
        if w.rscs[p].variant == Variant::Group && w.rscs[p].children.first() == Some(&r) {
            for n in 0..scores.len() {
                scores[n] = score::add(scores[n], plan.base[p][n]);
            }
        }
    }
    // Inherit the parent clone's or group's own scores (clone-level bans).
    if let Some(p) = rsc.parent {
        if w.rscs[p].variant == Variant::Clone {
            for n in 0..scores.len() {
                if !plan.allowed[p][n] {
                    scores[n] = -INFINITY;
                }
            }
        }
    }
    // Where the primaries went first, then what the dependents would like
    // (rolled back if it leaves nowhere to run), as Pacemaker does.
    // Mandatory ones here; optional ones after the dependents' wishes.
    for ci in plan.this_with[r].clone() {
        let c = plan.colocs[ci].clone();
        if c.dependent_role == Some(Role::Promoted) || c.score.abs() < INFINITY {
            continue;
        }
        apply_coloc_to_scores(w, plan, &c, &mut scores);
    }
    let mut visited = Vec::new();
    add_dependent_scores(w, plan, r, &mut scores, 1.0, &mut visited);
    for ci in plan.this_with[r].clone() {
        let c = plan.colocs[ci].clone();
        if c.dependent_role == Some(Role::Promoted) || c.score.abs() >= INFINITY {
            continue;
        }
        apply_coloc_to_scores(w, plan, &c, &mut scores);
    }
    let unmanaged = !rsc.managed;
    let prefer = if rsc.current.len() == 1 {
        Some(rsc.current[0].node)
    } else {
        None
    };
    let mut node = if unmanaged {
        // Left where it is (the first copy, if there are several).
        rsc.current.first().map(|c| c.node)
    } else if rsc.target_role == Role::Stopped {
        None
    } else {
        let all = |_: usize| true;
        let mask = mask.unwrap_or(&all);
        let best = choose_node(w, plan, r, &scores, prefer, mask);
        // A remote connection caught in a partial live migration goes on to
        // its migration target when that is as good as the best node.
        let target = partial_migration_target(w, r).filter(|&t| {
            mask(t)
                && plan.allowed[r][t]
                && usable(w, plan, t)
                && scores[t] >= 0
                && best.is_none_or(|b| scores[t] >= scores[b])
        });
        target.or(best)
    };
    if unmanaged && rsc.current.is_empty() {
        node = None;
    }
    plan.final_scores[r] = scores;
    record(w, plan, r, node);
    plan.next_role[r] = match node {
        None => Role::Stopped,
        Some(_) if unmanaged => rsc.current_role(),
        Some(_) => Role::Started,
    };
    plan.progress[r] = Progress::Done;
}

/// Assigns a group instance (of a cloned group) within a mask.
fn assign_instance(w: &Working, plan: &mut Plan, i: usize, mask: &dyn Fn(usize) -> bool) {
    match w.rscs[i].variant {
        Variant::Primitive => assign_primitive(w, plan, i, Some(mask)),
        _ => {
            plan.progress[i] = Progress::Busy;
            for c in w.rscs[i].children.clone() {
                assign_primitive(w, plan, c, Some(mask));
            }
            let first = w.rscs[i].children.first().copied();
            plan.assigned[i] = first.and_then(|f| plan.assigned[f]);
            plan.next_role[i] = if plan.assigned[i].is_some() {
                Role::Started
            } else {
                Role::Stopped
            };
            plan.progress[i] = Progress::Done;
        }
    }
}

fn instance_current_node(w: &Working, i: usize) -> Option<usize> {
    let mut prims = Vec::new();
    w.primitives_of(i, &mut prims);
    prims
        .iter()
        .find_map(|&p| (w.rscs[p].current.len() == 1).then(|| w.rscs[p].current[0].node))
}

fn assign_clone(w: &Working, plan: &mut Plan, c: usize) {
    plan.progress[c] = Progress::Busy;
    let clone = &w.rscs[c];
    // Primaries first.
    let mut deps: Vec<usize> = plan.this_with[c].clone();
    for &i in &clone.children {
        let mut prims = Vec::new();
        w.primitives_of(i, &mut prims);
        for p in prims {
            deps.extend(
                plan.this_with[p]
                    .iter()
                    .copied()
                    .filter(|&ci| w.top_of(plan.colocs[ci].primary) != c),
            );
        }
    }
    for &ci in &deps {
        let p = plan.colocs[ci].primary;
        let top = w.top_of(p);
        if top != c {
            assign_rsc(w, plan, top);
        }
    }
    // The clone's own scores decide which nodes instances may use.
    let mut scores = effective_base(w, plan, c);
    for pass_mandatory in [true, false] {
        if !pass_mandatory {
            let mut visited = vec![];
            add_dependent_scores(w, plan, c, &mut scores, 1.0, &mut visited);
        }
        for &ci in &plan.this_with[c].clone() {
            let col = plan.colocs[ci].clone();
            let mandatory = col.score.abs() >= INFINITY;
            if col.dependent_role == Some(Role::Promoted) || mandatory != pass_mandatory {
                continue;
            }
            if mandatory || !w.rscs[c].interleave {
                apply_coloc_to_scores(w, plan, &col, &mut scores);
            }
        }
    }
    plan.final_scores[c] = scores.clone();
    let clone_max = clone.clone_max;
    let node_max = clone.clone_node_max.max(1);
    let mut per_node = vec![0usize; w.nodes.len()];
    let mut assigned_count = 0usize;
    let instances = clone.children.clone();
    // Active instances first, keeping their number order.
    let mut ordered = instances.clone();
    ordered.sort_by_key(|&i| (instance_current_node(w, i).is_none(), w.rscs[i].instance));
    let blocked = clone.target_role == Role::Stopped;
    let clone_ban = scores.clone();
    let available = (0..w.nodes.len())
        .filter(|&n| w.nodes[n].can_host() && plan.allowed[c][n] && clone_ban[n] >= 0)
        .count()
        .max(1);
    let optimal = clone_max.div_ceil(available);
    // Pass 1: keep instances where they are when that is as good as anywhere.
    let mut pending = Vec::new();
    for &i in &ordered {
        let current = instance_current_node(w, i);
        if blocked || assigned_count >= clone_max {
            pending.push(i);
            continue;
        }
        let Some(cur) = current else {
            pending.push(i);
            continue;
        };
        if per_node[cur] >= optimal.min(node_max)
            || clone_ban[cur] < 0
            || !w.nodes[cur].can_host()
            || !plan.allowed[c][cur]
        {
            pending.push(i);
            continue;
        }
        // Would the instance pick its current node?
        let mut probe = plan.clone();
        let pn = per_node.clone();
        let mask = |n: usize| pn[n] < node_max && clone_ban[n] > -INFINITY && clone_ban[n] >= 0;
        assign_instance(w, &mut probe, i, &mask);
        if probe.assigned[i] == Some(cur) {
            *plan = probe;
            per_node[cur] += 1;
            assigned_count += 1;
        } else {
            pending.push(i);
        }
    }
    // Pass 2: the rest, each to the best node with room.
    // Instances that were active go first (they are being moved), then the
    // rest in number order.
    // An instance active where it may no longer run (banned there, e.g.
    // after a failed stop) counts as inactive and goes after the others,
    // as Pacemaker orders instances.
    let allowed_current = |plan: &Plan, i: usize| {
        let cur = instance_current_node(w, i)?;
        let mut prims = Vec::new();
        w.primitives_of(i, &mut prims);
        prims
            .iter()
            .all(|&p| plan.allowed[p][cur] && plan.base[p][cur] >= 0)
            .then_some(cur)
    };
    pending.sort_by_key(|&i| {
        let active = instance_current_node(w, i).is_some();
        let allowed = allowed_current(plan, i).is_some();
        (active && !allowed, !allowed, w.rscs[i].instance)
    });
    for i in pending {
        if blocked || assigned_count >= clone_max {
            mark_stopped(w, plan, i);
            continue;
        }
        let pn = per_node.clone();
        let mask = |n: usize| pn[n] < node_max && clone_ban[n] >= 0;
        // Spread: prefer nodes with fewer instances by adding them as load.
        assign_instance(w, plan, i, &mask);
        if let Some(n) = plan.assigned[i] {
            per_node[n] += 1;
            assigned_count += 1;
        }
    }
    if clone.promotable {
        choose_promoted(w, plan, c);
    }
    plan.progress[c] = Progress::Done;
    plan.assigned[c] = None;
    plan.next_role[c] = Role::Started;
}

fn mark_stopped(w: &Working, plan: &mut Plan, i: usize) {
    let mut prims = Vec::new();
    w.primitives_of(i, &mut prims);
    prims.push(i);
    for p in prims {
        plan.progress[p] = Progress::Done;
        plan.assigned[p] = None;
        plan.next_role[p] = Role::Stopped;
    }
}

/// The promotion score of an instance on its node: the `master-<id>` node
/// attribute plus promoted-role location and colocation scores.
fn promotion_score(w: &Working, plan: &Plan, c: usize, i: usize, node: usize) -> Option<i64> {
    let rsc = &w.rscs[i];
    let attrs = &w.nodes[node].attrs;
    let mut prims = Vec::new();
    w.primitives_of(i, &mut prims);
    let mut base: Option<i64> = None;
    for p in &prims {
        let r = &w.rscs[*p];
        let recorded = r
            .current
            .iter()
            .find(|c| c.node == node)
            .map(|c| format!("master-{}", c.history_id));
        for key in [
            format!("master-{}", r.base),
            recorded.unwrap_or_else(|| format!("master-{}", r.id)),
            format!("promotion-{}", r.base),
        ] {
            if let Some(v) = attrs.get(&key).and_then(|v| score::parse(v)) {
                base = Some(score::add(base.unwrap_or(0), v));
                break;
            }
        }
    }
    // Bundles may keep promotion scores on the host running the container
    // (container-attribute-target=host).
    let on_host = w.rscs[c]
        .meta
        .get("container-attribute-target")
        .is_some_and(|v| v == "host");
    if on_host {
        base = None;
    }
    if base.is_none() && w.nodes[node].kind != crate::model::cib::NodeKind::Member {
        if let Some(host) = w.nodes[node]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .and_then(|&conn| plan.assigned[conn])
        {
            for p in &prims {
                let key = format!("master-{}", w.rscs[*p].base);
                if let Some(v) = w.nodes[host].attrs.get(&key).and_then(|v| score::parse(v)) {
                    base = Some(score::add(base.unwrap_or(0), v));
                }
            }
        }
    }
    let _ = rsc;
    let mut total = base;
    if let Some(v) = plan.promoted_locations[c].get(node) {
        if *v != 0 {
            total = Some(score::add(total.unwrap_or(0), *v));
        }
    }
    for &ci in &plan.this_with[c] {
        let col = &plan.colocs[ci];
        if col.dependent_role != Some(Role::Promoted) {
            continue;
        }
        let nodes = primary_nodes(w, plan, col.primary, col.primary_role);
        let here = host_of(w, plan, node);
        let hit = nodes
            .iter()
            .any(|&p| same_attr(w, &col.node_attribute, here, host_of(w, plan, p)));
        if (col.score >= INFINITY && !hit) || (col.score <= -INFINITY && hit) {
            total = Some(-INFINITY);
        } else if hit && base.is_some() {
            total = Some(score::add(total.unwrap_or(0), col.score));
        }
    }
    // Resources that must run with the promoted instance pull promotion
    // towards the nodes they prefer (their own location and stickiness).
    for &ci in &plan.with_this[c] {
        let col = &plan.colocs[ci];
        // Only an instance that reported a promotion score of its own.
        if col.primary_role != Some(Role::Promoted)
            || !col.influence
            || col.score <= 0
            || base.is_none()
        {
            continue;
        }
        let d = col.dependent;
        let mut pref = effective_base(w, plan, d)[node];
        if let Some(g) = w.rscs[d]
            .parent
            .filter(|&g| w.rscs[g].variant == Variant::Group)
        {
            for &m in &w.rscs[g].children[1..] {
                pref = score::add(pref, plan.base[m][node]);
            }
            pref = score::add(pref, plan.base[g][node]);
        }
        if pref == 0 || pref <= -INFINITY {
            continue;
        }
        let factor = col.score as f64 / INFINITY as f64;
        total = Some(score::add(total.unwrap_or(0), scale(pref, factor)));
    }
    total
}

fn choose_promoted(w: &Working, plan: &mut Plan, c: usize) {
    let clone = &w.rscs[c];
    let limit_role = clone.target_role;
    let mut candidates: Vec<(i64, bool, u32, usize)> = Vec::new();
    for &i in &clone.children {
        let Some(node) = plan.assigned[i] else {
            continue;
        };
        let score = promotion_score(w, plan, c, i, node);
        let currently = w.rscs[i].current_role() == Role::Promoted;
        // No promotion score of its own: the promoted one keeps its
        // stickiness, the others cannot be promoted.
        let s = match score {
            Some(s) => s,
            None if currently => w.rscs[i].stickiness.max(0),
            None => -1,
        };
        plan.promotion_scores[i] = Some(s);
        candidates.push((s, currently, w.rscs[i].instance.unwrap_or(0), i));
    }
    // Highest score first; on a tie, a healthy instance before one being
    // recovered, the promoted one before the others, then by number.
    let failed = |i: usize| {
        let mut prims = Vec::new();
        w.primitives_of(i, &mut prims);
        prims.iter().any(|&p| w.rscs[p].failed())
    };
    candidates.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(failed(a.3).cmp(&failed(b.3)))
            .then(b.1.cmp(&a.1))
            .then(a.2.cmp(&b.2))
    });
    // Instances frozen in the promoted role (unmanaged, blocked) still use a slot.
    let mut promoted = 0usize;
    let mut per_node = vec![0usize; w.nodes.len()];
    for &(_, _, _, i) in &candidates {
        if !w.rscs[i].managed && w.rscs[i].current_role() == Role::Promoted {
            promoted += 1;
            if let Some(n) = plan.assigned[i] {
                per_node[n] += 1;
            }
        }
    }
    for (s, _, _, i) in candidates {
        let node = plan.assigned[i].unwrap_or(0);
        // A group instance is promoted only when all its members can run.
        let complete = {
            let mut prims = Vec::new();
            w.primitives_of(i, &mut prims);
            prims.iter().all(|&p| plan.assigned[p].is_some())
        };
        let can = s >= 0
            && complete
            && promoted < clone.promoted_max
            && per_node[node] < clone.promoted_node_max.max(1)
            && !matches!(limit_role, Role::Unpromoted | Role::Stopped)
            && w.rscs[i].managed;
        let role = if can {
            promoted += 1;
            per_node[node] += 1;
            Role::Promoted
        } else if !w.rscs[i].managed {
            w.rscs[i].current_role().max(Role::Unpromoted)
        } else {
            Role::Unpromoted
        };
        let mut prims = Vec::new();
        w.primitives_of(i, &mut prims);
        prims.push(i);
        for p in prims {
            if plan.assigned[p].is_some() {
                plan.next_role[p] = role;
            }
        }
    }
}
