//! Colocations during assignment, with Pacemaker's semantics.
//!
//! A colocation "dependent with primary" is stored on both resources: on
//! the dependent's "this with" list and the primary's "with this" list, each
//! sorted by the other side's priority (then clones before groups before
//! primitives, promotable clones first, then id). Before a resource is
//! placed, its primaries are placed and each colocation applied to its node
//! scores: a mandatory one bans the nodes where the primary will not be (a
//! mandatory anti-colocation those where it will), an optional one adds its
//! score where the primary will be (or subtracts it everywhere when the
//! primary will not run), rolled back when it would leave no node. The
//! dependents' own node scores are then folded in, attenuated by score /
//! INFINITY and recursively along their own dependents. Group members are
//! chained member-with-previous; a group's colocations act through its first
//! member (as dependent) or its last (as primary of a mandatory one); a
//! clone's through its instances; a bundle's through its containers.

use super::{Assigner, Table};
use crate::model::cib::score::{self, INFINITY};
use crate::model::cib::Role;
use crate::scheduler::unpack::Variant;

/// `INFINITY * -100`: a marker Pacemaker uses while folding in only
/// positive preferences.
const INFINITY_HACK: i64 = -100 * INFINITY;

#[derive(Debug, Clone)]
pub struct Coloc {
    pub id: String,
    pub dependent: usize,
    pub primary: usize,
    pub score: i64,
    /// Only when the dependent is in this role (Promoted); `None` for any.
    pub dependent_role: Option<Role>,
    pub primary_role: Option<Role>,
    pub node_attribute: String,
    /// The dependent's preferences count when placing the primary.
    pub influence: bool,
    /// Configured by the user, not implied by the configuration.
    pub explicit: bool,
}

/// Which colocations `add_colocated_node_scores` follows, and how.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select {
    /// Follow "this with" colocations (towards primaries) rather than
    /// "with this" ones (towards dependents).
    pub this_with: bool,
    /// Only positive preferences are folded in.
    pub nonnegative: bool,
    /// Roll back when no node is left.
    pub active: bool,
}

/// A colocation's role filter: Started means any role.
fn role_filter(role: Option<Role>) -> Option<Role> {
    role.filter(|&r| r != Role::Started && r != Role::Unknown)
}

/// Builds the colocations: the user's first, then the ones the
/// configuration implies (group members, contained resources, guest
/// connections, bundle replicas).
pub fn build(a: &mut Assigner) {
    let w = a.w;
    for c in &w.cib.colocations {
        let (Some(d), Some(p)) = (a.resolve(&c.dependent), a.resolve(&c.primary)) else {
            continue;
        };
        if c.score == 0 {
            continue;
        }
        let critical = w.rscs[d]
            .meta
            .get("critical")
            .is_none_or(|v| crate::model::cib::parse_bool(v));
        new_colocation(
            a,
            Coloc {
                id: c.id.clone(),
                dependent: d,
                primary: p,
                score: c.score,
                dependent_role: role_filter(c.dependent_role),
                primary_role: role_filter(c.primary_role),
                node_attribute: c.node_attribute.clone(),
                influence: c.influence.unwrap_or(critical),
                explicit: true,
            },
        );
    }
    for r in 0..w.rscs.len() {
        if w.rscs[r].variant != Variant::Group {
            continue;
        }
        let members = w.rscs[r].children.clone();
        for pair in members.windows(2) {
            let critical = w.rscs[pair[1]]
                .meta
                .get("critical")
                .is_none_or(|v| crate::model::cib::parse_bool(v));
            new_colocation(
                a,
                implied("#group-members", pair[1], pair[0], INFINITY, critical),
            );
        }
    }
    for r in 0..w.rscs.len() {
        let rsc = &w.rscs[r];
        if rsc.variant != Variant::Primitive {
            continue;
        }
        // A resource inside a container runs with it (a guest's implicit
        // connection is one); a bundle's connection only prefers its
        // container strongly, so the container may run on a remote node.
        if let Some(container) = a.w.container_of(r, |_| true) {
            let nested = in_bundle(a, r);
            let score = if nested { 10_000 } else { INFINITY };
            new_colocation(
                a,
                implied("#resource-with-container", r, container, score, true),
            );
        }
    }
    for parts in w.bundles.values() {
        for (i, &ip) in parts.ips.iter().enumerate() {
            if let Some(&c) = parts.containers.get(i) {
                new_colocation(a, implied("#ip-with-container", ip, c, INFINITY, true));
            }
        }
    }
}

fn implied(id: &str, dependent: usize, primary: usize, score: i64, influence: bool) -> Coloc {
    Coloc {
        id: id.to_string(),
        dependent,
        primary,
        score,
        dependent_role: None,
        primary_role: None,
        node_attribute: "#uname".into(),
        influence,
        explicit: false,
    }
}

fn in_bundle(a: &Assigner, r: usize) -> bool {
    a.w.bundles.values().any(|p| p.remotes.contains(&r))
}

fn new_colocation(a: &mut Assigner, c: Coloc) {
    let i = a.colocs.len();
    let (d, p) = (c.dependent, c.primary);
    a.colocs.push(c);
    insert_sorted(a, d, i, true);
    insert_sorted(a, p, i, false);
}

/// Inserts colocation `ci` into `r`'s "this with" (`this_with`) or "with
/// this" list, after the colocations that sort equal to it.
fn insert_sorted(a: &mut Assigner, r: usize, ci: usize, this_with: bool) {
    let list = if this_with {
        a.this_with[r].clone()
    } else {
        a.with_this[r].clone()
    };
    let mut out = list;
    add_sorted(a, &mut out, ci, this_with);
    if this_with {
        a.this_with[r] = out;
    } else {
        a.with_this[r] = out;
    }
}

/// Pacemaker's order of colocation lists: by the other resource's priority
/// (highest first), then clones before groups before primitives (bundles
/// first of all), promotable clones first, then the other resource's id.
fn add_sorted(a: &Assigner, list: &mut Vec<usize>, ci: usize, this_with: bool) {
    let other = |i: usize| {
        if this_with {
            a.colocs[i].primary
        } else {
            a.colocs[i].dependent
        }
    };
    let key = |i: usize| {
        let r = other(i);
        let rsc = &a.w.rscs[r];
        let variant = match rsc.variant {
            Variant::Primitive => 0,
            Variant::Group => 1,
            Variant::Clone => 2,
            Variant::Bundle => 3,
        };
        let promotable = rsc.variant == Variant::Clone && rsc.promotable;
        (
            std::cmp::Reverse(a.w.rscs[r].priority),
            std::cmp::Reverse(variant),
            std::cmp::Reverse(promotable),
            rsc.id.as_bytes().to_vec(),
        )
    };
    let k = key(ci);
    let pos = list.iter().position(|&x| key(x) > k).unwrap_or(list.len());
    list.insert(pos, ci);
}

/// Bans implied by the configuration rather than by colocations: remote
/// connections and fence devices never run on remote or guest nodes, nor do
/// guests' containers (no nesting); a resource whose `container` is a guest
/// or remote node's resource runs only on that node.
pub fn internal_bans(a: &mut Assigner) {
    let w = a.w;
    let remote_nodes: Vec<usize> = (0..w.nodes.len())
        .filter(|&n| w.nodes[n].connection.is_some())
        .collect();
    let mut avoiders: Vec<usize> = Vec::new();
    for r in 0..w.rscs.len() {
        let rsc = &w.rscs[r];
        if rsc.variant != Variant::Primitive {
            continue;
        }
        let fence_device = rsc.agent.as_ref().is_some_and(|x| x.is_fence_device());
        if w.is_connection(r) || fence_device {
            avoiders.push(r);
        }
    }
    avoiders.extend(w.guest_containers.values().copied());
    for r in avoiders {
        for &n in &remote_nodes {
            if a.allowed[r][n].is_some() {
                a.allowed[r][n] = Some(-INFINITY);
            }
        }
    }
}

/// The colocations that apply when placing `r` as the dependent.
pub fn this_with_list(a: &Assigner, r: usize) -> Vec<usize> {
    let mut list = Vec::new();
    this_with_of(a, r, r, &mut list);
    list
}

/// The colocations whose dependents' preferences count when placing `r`.
pub fn with_this_list(a: &Assigner, r: usize) -> Vec<usize> {
    let mut list = Vec::new();
    with_this_of(a, r, r, &mut list);
    list
}

fn add_list(a: &Assigner, list: &mut Vec<usize>, from: &[usize], this_with: bool) {
    if list.is_empty() {
        list.extend_from_slice(from);
        return;
    }
    for &ci in from {
        add_sorted(a, list, ci, this_with);
    }
}

fn this_with_of(a: &Assigner, rsc: usize, orig: usize, list: &mut Vec<usize>) {
    let w = a.w;
    let own = a.this_with[rsc].clone();
    match w.rscs[rsc].variant {
        Variant::Primitive => {
            if rsc == orig {
                add_list(a, list, &own, true);
                if let Some(p) = w.rscs[rsc].parent {
                    this_with_of(a, p, orig, list);
                }
            } else {
                let explicit: Vec<usize> =
                    own.into_iter().filter(|&c| a.colocs[c].explicit).collect();
                add_list(a, list, &explicit, true);
            }
        }
        Variant::Group => group_this_with(a, rsc, orig, list),
        Variant::Clone => {
            add_list(a, list, &own, true);
            if let Some(p) = w.rscs[rsc].parent {
                this_with_of(a, p, orig, list);
            }
        }
        Variant::Bundle => bundle_colocations(a, rsc, orig, list, true),
    }
}

fn group_this_with(a: &Assigner, g: usize, orig: usize, list: &mut Vec<usize>) {
    let w = a.w;
    let members = &a.children[g];
    let Some(&first) = members.first() else {
        return;
    };
    if orig == g || orig == first {
        add_list(a, list, &a.this_with[g].clone(), true);
        if let Some(p) = w.rscs[g].parent {
            this_with_of(a, p, orig, list);
        }
        for &m in members {
            if m != orig {
                this_with_of(a, m, orig, list);
            }
        }
        return;
    }
    // Later members follow the group through the member before them,
    // unless an earlier member is unmanaged: then the group's mandatory
    // colocations apply to them directly.
    for &m in members {
        if m == orig {
            break;
        }
        if !a.managed[m] {
            let mandatory: Vec<usize> = a.this_with[g]
                .iter()
                .copied()
                .filter(|&c| a.colocs[c].score >= INFINITY)
                .collect();
            add_list(a, list, &mandatory, true);
            break;
        }
    }
}

fn with_this_of(a: &Assigner, rsc: usize, orig: usize, list: &mut Vec<usize>) {
    let w = a.w;
    let own = a.with_this[rsc].clone();
    match w.rscs[rsc].variant {
        Variant::Primitive => {
            if rsc == orig {
                add_list(a, list, &own, false);
                if let Some(p) = w.rscs[rsc].parent {
                    with_this_of(a, p, orig, list);
                }
            } else {
                let explicit: Vec<usize> =
                    own.into_iter().filter(|&c| a.colocs[c].explicit).collect();
                add_list(a, list, &explicit, false);
            }
        }
        Variant::Group => {
            let members = &a.children[rsc];
            if members.is_empty() || (orig != rsc && members.last() != Some(&orig)) {
                return;
            }
            add_list(a, list, &own, false);
            if let Some(p) = w.rscs[rsc].parent {
                with_this_of(a, p, orig, list);
            }
            for &m in members {
                if m != orig {
                    with_this_of(a, m, orig, list);
                }
            }
        }
        Variant::Clone => {
            add_list(a, list, &own, false);
            if let Some(p) = w.rscs[rsc].parent {
                with_this_of(a, p, orig, list);
            }
        }
        Variant::Bundle => bundle_colocations(a, rsc, orig, list, false),
    }
}

/// A bundle's colocations belong to the bundle and its containers, and to
/// its promotable resource inside once roles are being chosen.
fn bundle_colocations(a: &Assigner, b: usize, orig: usize, list: &mut Vec<usize>, this_with: bool) {
    let w = a.w;
    let own = if this_with {
        a.this_with[b].clone()
    } else {
        a.with_this[b].clone()
    };
    let parts = w.bundles.get(&b);
    let is_container = parts.is_some_and(|p| p.containers.contains(&orig));
    if orig == b || is_container {
        add_list(a, list, &own, this_with);
        return;
    }
    let Some(inner) = parts.and_then(|p| p.inner) else {
        return;
    };
    if !w.rscs[inner].promotable {
        return;
    }
    if orig == inner {
        if a.promotion_constrained[inner] {
            add_list(a, list, &own, this_with);
        }
    } else if a.clone_of(orig) == Some(inner) && !a.unassigned[orig] {
        add_list(a, list, &own, this_with);
    }
}

/// Whether the dependent's preferences count when placing the primary:
/// `influence` (default: the dependent is critical), or the primary is not
/// active yet. A bundle's connection never moves its running container.
pub fn has_influence(a: &Assigner, ci: usize, rsc: Option<usize>) -> bool {
    let c = &a.colocs[ci];
    let rsc = rsc.unwrap_or(c.primary);
    if in_bundle(a, c.dependent) && !a.w.rscs[rsc].current.is_empty() {
        return false;
    }
    c.influence || !is_active(a, rsc)
}

fn is_active(a: &Assigner, r: usize) -> bool {
    let mut prims = Vec::new();
    a.w.primitives_of(r, &mut prims);
    prims.iter().any(|&p| !a.w.rscs[p].current.is_empty())
}

/// Pacemaker's `apply_this_with`: places the primary first, then applies
/// the colocation to `r`'s scores; a role-limited or negative optional
/// colocation that leaves no node is rolled back.
pub fn apply_this_with(a: &mut Assigner, ci: usize, r: usize) {
    let c = a.colocs[ci].clone();
    let archive = (c.dependent_role == Some(Role::Promoted)
        || (c.score < 0 && c.score > -INFINITY))
        .then(|| a.allowed[r].clone());
    if a.unassigned[c.primary] {
        a.assign(c.primary, None, true);
    }
    apply_for_dependent(a, r, c.primary, ci);
    if let Some(saved) = archive {
        if !any_node_available(a, &a.allowed[r]) {
            a.allowed[r] = saved;
        }
    }
}

/// The dependent side of `apply_coloc_score`.
pub fn apply_for_dependent(a: &mut Assigner, dependent: usize, primary: usize, ci: usize) {
    let w = a.w;
    match w.rscs[dependent].variant {
        Variant::Group => {
            if let Some(&first) = a.children[dependent].first() {
                apply_for_dependent(a, first, primary, ci);
            }
        }
        // Clones and bundles apply their colocations through their
        // instances and containers.
        Variant::Clone | Variant::Bundle => {}
        Variant::Primitive => apply_as_primary(a, dependent, primary, ci),
    }
}

/// The primary side of `apply_coloc_score`, for a primitive dependent.
pub fn apply_as_primary(a: &mut Assigner, dependent: usize, primary: usize, ci: usize) {
    let w = a.w;
    match w.rscs[primary].variant {
        Variant::Primitive => match affects(a, dependent, primary, ci, false) {
            Affects::Role => apply_to_priority(a, dependent, primary, ci),
            Affects::Location => apply_to_scores(a, dependent, primary, ci),
            Affects::Nothing => {}
        },
        Variant::Group => colocate_with_group(a, dependent, primary, ci),
        Variant::Clone => super::instances::clone_apply_coloc(a, dependent, primary, ci),
        Variant::Bundle => super::instances::bundle_apply_coloc(a, dependent, primary, ci),
    }
}

fn colocate_with_group(a: &mut Assigner, dependent: usize, group: usize, ci: usize) {
    if a.unassigned[group] {
        return;
    }
    let members = a.children[group].clone();
    let member = if a.colocs[ci].score >= INFINITY {
        members.last().copied()
    } else {
        members.first().copied()
    };
    if let Some(m) = member {
        apply_as_primary(a, dependent, m, ci);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affects {
    Nothing,
    Location,
    Role,
}

/// Pacemaker's `pcmk__colocation_affects`.
pub fn affects(
    a: &Assigner,
    dependent: usize,
    primary: usize,
    ci: usize,
    preview: bool,
) -> Affects {
    let c = &a.colocs[ci];
    if !preview && a.unassigned[primary] {
        return Affects::Nothing;
    }
    let in_promotable = a.w.rscs[dependent]
        .parent
        .is_some_and(|p| a.w.rscs[p].variant == Variant::Clone && a.w.rscs[p].promotable);
    if c.dependent_role.is_some() && in_promotable && !a.unassigned[dependent] {
        return Affects::Role;
    }
    if !preview && !a.unassigned[dependent] {
        return Affects::Nothing;
    }
    if let Some(role) = c.dependent_role {
        if role != a.next_role[dependent] {
            return Affects::Nothing;
        }
    }
    if let Some(role) = c.primary_role {
        if role != a.next_role[resource_for_role(a, primary)] {
            return Affects::Nothing;
        }
    }
    Affects::Location
}

/// The resource whose role counts for a colocation with `r`: a bundle
/// replica's container stands for the resource inside it.
pub fn resource_for_role(a: &Assigner, r: usize) -> usize {
    let w = a.w;
    for parts in w.bundles.values() {
        if let Some(i) = parts.containers.iter().position(|&x| x == r) {
            if let Some(child) = parts.inner.and_then(|inner| w.rscs[inner].children.get(i)) {
                return *child;
            }
        }
    }
    r
}

/// The value of the colocation's node attribute on a node, as seen by
/// `rsc`: on a guest node, a bundle with `container-attribute-target=host`
/// reads its host's attributes (that of the node its container is assigned
/// to).
pub fn node_attr<'w>(a: &Assigner<'w>, n: usize, attr: &str, rsc: usize) -> Option<&'w str> {
    let w = a.w;
    let top = w.top_of(rsc);
    let on_host = w.rscs[top]
        .meta
        .get("container-attribute-target")
        .is_some_and(|v| v.eq_ignore_ascii_case("host"));
    let node = if on_host && a.is_guest(n) {
        let container = crate::scheduler::unpack::guest_container(w, n)?;
        a.assigned[container]?
    } else {
        n
    };
    let node = &w.nodes[node];
    if attr == "#uname" {
        return Some(node.name.as_str());
    }
    node.attrs.get(attr).map(String::as_str)
}

/// Whether two nodes' values of a colocation's node attribute count as the
/// same place: compared without regard to case, and two nodes that both lack
/// the attribute are alike (the reference keeps an anti-colocation on
/// `site` apart on nodes with no `site` at all).
pub fn same_attr(x: Option<&str>, y: Option<&str>) -> bool {
    match (x, y) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        (None, None) => true,
        _ => false,
    }
}

/// Pacemaker's `pcmk__apply_coloc_to_scores`.
pub fn apply_to_scores(a: &mut Assigner, dependent: usize, primary: usize, ci: usize) {
    let c = a.colocs[ci].clone();
    let primary_node = a.assigned[primary];
    let value = primary_node.and_then(|n| node_attr(a, n, &c.node_attribute, primary));
    if primary_node.is_none() && c.score < 0 {
        return;
    }
    let mut work = a.allowed[dependent].clone();
    for n in 0..work.len() {
        let Some(s) = work[n] else { continue };
        if primary_node.is_none() {
            work[n] = Some(score::add(-c.score, s));
            continue;
        }
        if same_attr(node_attr(a, n, &c.node_attribute, dependent), value) {
            if c.score < INFINITY {
                work[n] = Some(score::add(c.score, s));
            }
            continue;
        }
        if c.score >= INFINITY {
            work[n] = Some(-INFINITY);
        }
    }
    if c.score.abs() >= INFINITY || any_node_available(a, &work) {
        a.allowed[dependent] = work;
    }
}

/// Pacemaker's `pcmk__apply_coloc_to_priority`: a promotable instance's
/// promotion priority follows its role colocations.
pub fn apply_to_priority(a: &mut Assigner, dependent: usize, primary: usize, ci: usize) {
    let c = a.colocs[ci].clone();
    let (Some(pn), Some(dn)) = (a.assigned[primary], a.assigned[dependent]) else {
        return;
    };
    let dv = node_attr(a, dn, &c.node_attribute, dependent);
    let pv = node_attr(a, pn, &c.node_attribute, primary);
    if !same_attr(dv, pv) {
        if c.score >= INFINITY && c.dependent_role == Some(Role::Promoted) {
            a.priority[dependent] = -INFINITY;
        }
        return;
    }
    if let Some(role) = c.primary_role {
        if role != a.next_role[resource_for_role(a, primary)] {
            return;
        }
    }
    a.priority[dependent] = score::add(c.score, a.priority[dependent]);
}

/// Whether any node in the table can run resources with a non-negative
/// score.
pub fn any_node_available(a: &Assigner, table: &Table) -> bool {
    (0..table.len()).any(|n| table[n].is_some_and(|s| s >= 0) && a.node_available(n))
}

/// Pacemaker's `pcmk__add_dependent_scores`: folds the dependent's
/// preferences (attenuated) into the primary's scores.
pub fn add_dependent_scores(a: &mut Assigner, ci: usize, primary: usize) {
    if !has_influence(a, ci, None) {
        return;
    }
    let c = a.colocs[ci].clone();
    let factor = c.score as f64 / INFINITY as f64;
    let select = Select {
        this_with: false,
        nonnegative: a.w.rscs[primary].variant == Variant::Clone,
        active: true,
    };
    let mut nodes = Some(a.allowed[primary].clone());
    add_colocated_node_scores(
        a,
        c.dependent,
        Some(primary),
        &mut nodes,
        Some(ci),
        factor,
        select,
    );
    if let Some(t) = nodes {
        a.allowed[primary] = t;
    }
}

/// Pacemaker's `add_colocated_node_scores` methods: a group refers to its
/// first member (its last when computing its own table), everything else
/// works on its own table.
pub fn add_colocated_node_scores(
    a: &mut Assigner,
    source: usize,
    target: Option<usize>,
    nodes: &mut Option<Table>,
    ci: Option<usize>,
    factor: f64,
    select: Select,
) {
    if a.updating_nodes[source] {
        return;
    }
    if a.w.rscs[source].variant == Variant::Group {
        let members = a.children[source].clone();
        let member = if nodes.is_none() {
            members.last().copied()
        } else {
            members.first().copied()
        };
        let Some(m) = member else { return };
        a.updating_nodes[source] = true;
        add_colocated_node_scores(a, m, target, nodes, ci, factor, select);
        a.updating_nodes[source] = false;
        return;
    }
    a.updating_nodes[source] = true;
    let (mut work, target) = match nodes.as_ref() {
        None => (a.allowed[source].clone(), source),
        Some(t) => {
            let mut work = t.clone();
            let target = target.unwrap_or(source);
            if let Some(ci) = ci {
                let positive = select.nonnegative;
                add_node_scores_matching_attr(a, &mut work, source, target, ci, factor, positive);
            }
            (work, target)
        }
    };
    if any_node_available(a, &work) {
        work = add_scores_of_colocated(a, source, target, work, factor, select);
    } else if select.active {
        a.updating_nodes[source] = false;
        return;
    }
    if select.nonnegative {
        for s in work.iter_mut().flatten() {
            if *s == INFINITY_HACK {
                *s = 1;
            }
        }
    }
    *nodes = Some(work);
    a.updating_nodes[source] = false;
}

/// Adds to `work` the scores of the resources `source` is colocated with
/// (`select.this_with`) or that are colocated with it, each weighted by its
/// colocation's score.
fn add_scores_of_colocated(
    a: &mut Assigner,
    source: usize,
    target: usize,
    mut work: Table,
    factor: f64,
    select: Select,
) -> Table {
    let list = if select.this_with {
        this_with_list(a, source)
    } else {
        with_this_list(a, source)
    };
    let select = Select {
        active: true,
        ..select
    };
    for cj in list {
        let c = a.colocs[cj].clone();
        let other_factor = factor * c.score as f64 / INFINITY as f64;
        let other = if select.this_with {
            c.primary
        } else if !has_influence(a, cj, None) {
            continue;
        } else {
            c.dependent
        };
        let mut inner = Some(work);
        add_colocated_node_scores(
            a,
            other,
            Some(target),
            &mut inner,
            Some(cj),
            other_factor,
            select,
        );
        work = inner.unwrap_or_default();
    }
    work
}

/// Pacemaker's `add_node_scores_matching_attr`.
fn add_node_scores_matching_attr(
    a: &Assigner,
    work: &mut Table,
    source: usize,
    target: usize,
    ci: usize,
    factor: f64,
    only_positive: bool,
) {
    let c = &a.colocs[ci];
    for n in 0..work.len() {
        let Some(weight) = work[n] else { continue };
        let value = node_attr(a, n, &c.node_attribute, target);
        let best = best_node_score_matching_attr(a, ci, source, value);
        if factor < 0.0 && best < 0 && !allowed_on_one(a, c.dependent) {
            continue;
        }
        let delta_f = factor * best as f64;
        let mut delta = if delta_f < 0.0 {
            (delta_f - 0.5) as i64
        } else {
            (delta_f + 0.5) as i64
        };
        if delta == 0 && best != 0 {
            delta = if factor > 0.0 {
                1
            } else if factor < 0.0 {
                -1
            } else {
                0
            };
        }
        let new_score = score::add(delta, weight);
        if only_positive && new_score < 0 && weight > 0 {
            work[n] = Some(INFINITY_HACK);
            continue;
        }
        if only_positive && new_score < 0 && weight == 0 {
            continue;
        }
        work[n] = Some(new_score);
    }
}

/// The best score of `rsc` on an available node whose colocation attribute
/// has `value` (-INFINITY if none). An explicitly colocated group member
/// other than the first counts the group's location scores too.
fn best_node_score_matching_attr(a: &Assigner, ci: usize, rsc: usize, value: Option<&str>) -> i64 {
    let c = &a.colocs[ci];
    let w = a.w;
    let mut table = a.allowed[rsc].clone();
    if rsc == c.dependent && c.explicit {
        if let Some(g) = w.rscs[rsc]
            .parent
            .filter(|&g| w.rscs[g].variant == Variant::Group)
        {
            if a.children[g].first() != Some(&rsc) {
                for &li in &a.rsc_locs[g] {
                    let loc = &a.locs[li];
                    if loc.role.is_some() {
                        continue;
                    }
                    for &(n, v) in &loc.nodes {
                        table[n] = Some(match table[n] {
                            None => v,
                            Some(s) => score::add(s, v),
                        });
                    }
                }
            }
        }
    }
    let mut best = -INFINITY;
    for n in 0..table.len() {
        let Some(s) = table[n] else { continue };
        if s > best
            && a.node_available(n)
            && same_attr(node_attr(a, n, &c.node_attribute, rsc), value)
        {
            best = s;
        }
    }
    best
}

/// Whether a resource may run on exactly one node.
fn allowed_on_one(a: &Assigner, r: usize) -> bool {
    a.allowed[r]
        .iter()
        .filter(|s| s.is_some_and(|s| s >= 0))
        .count()
        == 1
}

/// Pacemaker's `pcmk__colocation_intersect_nodes`: the dependent may run
/// only on the given nodes (adding their scores when `merge`).
pub fn intersect_nodes(a: &mut Assigner, dependent: usize, nodes: &[(usize, i64)], merge: bool) {
    for n in 0..a.allowed[dependent].len() {
        let Some(s) = a.allowed[dependent][n] else {
            continue;
        };
        match nodes.iter().find(|(x, _)| *x == n) {
            None => a.allowed[dependent][n] = Some(-INFINITY),
            Some(&(_, v)) if merge => a.allowed[dependent][n] = Some(score::add(s, v)),
            Some(_) => {}
        }
    }
}
