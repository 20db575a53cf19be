//! Orderings between actions, as Pacemaker derives them.
//!
//! Implied ones: a primitive's stop before its start (the restart
//! relation), demote before stop and start before promote; a group's
//! members one after the other inside the group's pseudo-actions; a clone's
//! or bundle's instances inside theirs (by number for ordered clones);
//! containers before what runs inside them and their guest connections;
//! actions on remote and guest nodes within their connection's lifetime.
//! Configured ones: `rsc_order` with its kind (Mandatory: first implies
//! then, an unrunnable start or promote blocks the then; Optional: order
//! only; Serialize) and its inverse when symmetrical, resource sets
//! (require-all=false through a one-or-more pseudo-action), clone-min.
//! Orderings name a resource and a task; once every action exists they are
//! resolved to relations between actions ([`apply`]). A mandatory
//! colocation whose primary cannot start keeps its dependents from starting
//! ("due to colocation with ...", [`block_colocation_dependents`]).

use super::{flag, rel, Model, Tk};
use crate::model::cib::xml::Element;
use crate::model::cib::{parse_bool, Role};
use crate::scheduler::unpack::{BundleParts, Variant};

/// An ordering between a first and a then, each a resource's task or a
/// given action.
#[derive(Debug, Clone)]
pub struct Ordering {
    pub rsc1: Option<usize>,
    pub task1: Option<Tk>,
    pub act1: Option<usize>,
    pub rsc2: Option<usize>,
    pub task2: Option<Tk>,
    pub act2: Option<usize>,
    pub flags: u32,
}

impl Model<'_> {
    /// Orders a task of one resource before a task of another.
    pub fn order_rsc(&mut self, r1: usize, t1: Tk, r2: usize, t2: Tk, flags: u32) {
        self.orderings.push(Ordering {
            rsc1: Some(r1),
            task1: Some(t1),
            act1: None,
            rsc2: Some(r2),
            task2: Some(t2),
            act2: None,
            flags,
        });
    }

    /// Orders a resource's task before a given action (or the reverse).
    pub fn order_mixed(
        &mut self,
        first: (Option<usize>, Option<Tk>, Option<usize>),
        then: (Option<usize>, Option<Tk>, Option<usize>),
        flags: u32,
    ) {
        self.orderings.push(Ordering {
            rsc1: first.0,
            task1: first.1,
            act1: first.2,
            rsc2: then.0,
            task2: then.1,
            act2: then.2,
            flags,
        });
    }
}

/// The orderings the configuration implies.
pub fn internal(m: &mut Model) {
    let w = m.w;
    let mut tops: Vec<usize> = w.top.clone();
    for r in 0..w.rscs.len() {
        if w.rscs[r].parent.is_none() && !tops.contains(&r) {
            tops.push(r);
        }
    }
    for r in tops {
        internal_for(m, r);
    }
    remote_node_orderings(m);
}

/// Starts and promotions on a remote or guest node wait for the node's
/// connection to start, and on a guest node for its container too
/// (Pacemaker's `apply_remote_ordering` and `apply_container_ordering`):
/// either start being unrunnable blocks them, and a required container start
/// (the container moves or recovers) makes them required, so what runs
/// inside restarts with it.
fn remote_node_orderings(m: &mut Model) {
    let w = m.w;
    let mut after_container = Vec::new();
    let mut after_connection = Vec::new();
    for (a, act) in m.acts.iter().enumerate() {
        if !matches!(act.task, Tk::Start | Tk::Promote) {
            continue;
        }
        let (Some(r), Some(n)) = (act.rsc, act.node) else {
            continue;
        };
        let connection = w.nodes[n].connection.as_ref().and_then(|c| w.by_id.get(c));
        if let Some(&c) = connection.filter(|&&c| c != r && !act.is(super::flag::PSEUDO)) {
            after_connection.push((c, a));
        }
        let Some(container) = crate::scheduler::unpack::guest_container(w, n) else {
            continue;
        };
        if r != container && w.rscs[r].variant == Variant::Primitive {
            after_container.push((container, a));
        }
    }
    let blocks = rel::UNRUNNABLE_FIRST_BLOCKS;
    for (container, a) in after_container {
        let first = (Some(container), Some(Tk::Start), None);
        m.order_mixed(
            first,
            (None, None, Some(a)),
            rel::FIRST_IMPLIES_THEN | blocks,
        );
    }
    for (connection, a) in after_connection {
        let first = (Some(connection), Some(Tk::Start), None);
        m.order_mixed(first, (None, None, Some(a)), blocks);
    }
}

fn internal_for(m: &mut Model, r: usize) {
    match m.w.rscs[r].variant {
        Variant::Primitive => primitive_internal(m, r),
        Variant::Group => group_internal(m, r),
        Variant::Clone => clone_internal(m, r),
        Variant::Bundle => bundle_internal(m, r),
    }
}

fn primitive_internal(m: &mut Model, r: usize) {
    let w = m.w;
    if !m.state[r].managed {
        return;
    }
    m.order_rsc(
        r,
        Tk::Stop,
        r,
        Tk::Start,
        rel::ORDERED | rel::FIRST_IMPLIES_THEN | rel::INTERMEDIATE_STOP,
    );
    if super::create::in_promotable(w, r) || m.state[r].role > Role::Unpromoted {
        m.order_rsc(r, Tk::Demote, r, Tk::Stop, rel::PROMOTED_THEN_IMPLIES_FIRST);
        m.order_rsc(r, Tk::Start, r, Tk::Promote, rel::UNRUNNABLE_FIRST_BLOCKS);
    }
    // A `container` meta attribute naming a remote connection orders nothing.
    if let Some(container) = w.container_of(r, |c| !w.is_connection(c)) {
        m.order_rsc(
            container,
            Tk::Start,
            r,
            Tk::Start,
            rel::FIRST_IMPLIES_THEN | rel::UNRUNNABLE_FIRST_BLOCKS,
        );
        m.order_rsc(r, Tk::Stop, container, Tk::Stop, rel::THEN_IMPLIES_FIRST);
    }
}

fn group_internal(m: &mut Model, g: usize) {
    let w = m.w;
    m.order_rsc(g, Tk::Stop, g, Tk::Stopped, rel::UNRUNNABLE_FIRST_BLOCKS);
    m.order_rsc(g, Tk::Stopped, g, Tk::Start, rel::ORDERED);
    m.order_rsc(g, Tk::Start, g, Tk::Running, rel::UNRUNNABLE_FIRST_BLOCKS);
    let promotable = super::create::in_promotable(w, g);
    let ordered = w.rscs[g].meta.get("ordered").is_none_or(|v| parse_bool(v));
    let mut previous: Option<usize> = None;
    for (k, &member) in w.rscs[g].children.clone().iter().enumerate() {
        internal_for(m, member);
        group_member_orderings(m, g, member, k == 0 && ordered, promotable);
        if let (Some(prev), true) = (previous, ordered) {
            group_member_after_previous(m, prev, member, promotable);
        }
        previous = Some(member);
    }
}

/// A group's pseudo-actions around one member's actions (`leading`: the
/// first member of an ordered group, whose stop the group's waits for).
fn group_member_orderings(m: &mut Model, g: usize, member: usize, leading: bool, promotable: bool) {
    let mut down_flags = rel::THEN_IMPLIES_FIRST_GRAPHED;
    let mut post_down_flags = rel::FIRST_IMPLIES_THEN_GRAPHED;
    if leading {
        down_flags |= rel::ORDERED;
        post_down_flags = rel::FIRST_IMPLIES_THEN;
    }
    let up_done_flags =
        rel::UNRUNNABLE_FIRST_BLOCKS | rel::FIRST_IMPLIES_THEN | rel::FIRST_IMPLIES_THEN_GRAPHED;
    if promotable {
        m.order_rsc(g, Tk::Demote, member, Tk::Demote, down_flags);
        m.order_rsc(member, Tk::Demote, g, Tk::Demoted, post_down_flags);
        m.order_rsc(member, Tk::Promote, g, Tk::Promoted, up_done_flags);
        let up_flags = rel::THEN_IMPLIES_FIRST_GRAPHED;
        m.order_rsc(g, Tk::Promote, member, Tk::Promote, up_flags);
    }
    m.order_rsc(g, Tk::Stop, member, Tk::Stop, down_flags);
    m.order_rsc(member, Tk::Stop, g, Tk::Stopped, post_down_flags);
    let up_flags = rel::THEN_IMPLIES_FIRST_GRAPHED;
    m.order_rsc(g, Tk::Start, member, Tk::Start, up_flags);
    m.order_rsc(member, Tk::Start, g, Tk::Running, up_done_flags);
}

/// In an ordered group, a member starts (and promotes) after the previous
/// one and stops (and demotes) before it.
fn group_member_after_previous(m: &mut Model, prev: usize, member: usize, promotable: bool) {
    let start_flags = rel::FIRST_IMPLIES_THEN | rel::UNRUNNABLE_FIRST_BLOCKS;
    m.order_rsc(prev, Tk::Start, member, Tk::Start, start_flags);
    let stop_flags = rel::ORDERED | rel::INTERMEDIATE_STOP;
    m.order_rsc(member, Tk::Stop, prev, Tk::Stop, stop_flags);
    if !m.state[member].running_on.is_empty() && m.state[prev].running_on.is_empty() {
        let flags = rel::THEN_IMPLIES_FIRST | rel::UNRUNNABLE_FIRST_BLOCKS;
        m.order_rsc(member, Tk::Stop, prev, Tk::Start, flags);
    }
    if promotable {
        let flags = rel::FIRST_IMPLIES_THEN | rel::UNRUNNABLE_FIRST_BLOCKS | rel::ORDERED;
        m.order_rsc(prev, Tk::Promote, member, Tk::Promote, flags);
        m.order_rsc(member, Tk::Demote, prev, Tk::Demote, rel::ORDERED);
    }
}

fn clone_internal(m: &mut Model, c: usize) {
    let w = m.w;
    m.order_rsc(c, Tk::Stopped, c, Tk::Start, rel::ORDERED);
    m.order_rsc(c, Tk::Start, c, Tk::Running, rel::UNRUNNABLE_FIRST_BLOCKS);
    m.order_rsc(c, Tk::Stop, c, Tk::Stopped, rel::UNRUNNABLE_FIRST_BLOCKS);
    if w.rscs[c].promotable {
        m.order_rsc(c, Tk::Demoted, c, Tk::Stop, rel::ORDERED);
        m.order_rsc(c, Tk::Running, c, Tk::Promote, rel::UNRUNNABLE_FIRST_BLOCKS);
    }
    let instances = w.rscs[c].children.clone();
    let ordered = w.rscs[c].ordered;
    for (k, &i) in instances.iter().enumerate() {
        internal_for(m, i);
        m.order_rsc(
            c,
            Tk::Start,
            i,
            Tk::Start,
            rel::UNRUNNABLE_FIRST_BLOCKS | rel::THEN_IMPLIES_FIRST_GRAPHED,
        );
        m.order_rsc(
            i,
            Tk::Start,
            c,
            Tk::Running,
            rel::FIRST_IMPLIES_THEN_GRAPHED,
        );
        m.order_rsc(c, Tk::Stop, i, Tk::Stop, rel::THEN_IMPLIES_FIRST_GRAPHED);
        m.order_rsc(i, Tk::Stop, c, Tk::Stopped, rel::FIRST_IMPLIES_THEN_GRAPHED);
        if ordered {
            for &later in &instances[k + 1..] {
                m.order_rsc(i, Tk::Start, later, Tk::Start, rel::ORDERED);
                m.order_rsc(later, Tk::Stop, i, Tk::Stop, rel::ORDERED);
            }
        }
    }
    if w.rscs[c].promotable {
        promotable_internal(m, c);
    }
}

/// A promotable clone's promote/demote pseudo-actions around its
/// instances', and its restart order: demoted before stop, start and
/// promote; stopped before start and promote; running before promote.
fn promotable_internal(m: &mut Model, c: usize) {
    let w = m.w;
    promotable_restart_ordering(m, c);
    let ordered = w.rscs[c].ordered;
    let mut previous: Option<usize> = None;
    for i in w.rscs[c].children.clone() {
        m.order_rsc(i, Tk::Demote, i, Tk::Promote, rel::ORDERED);
        m.order_rsc(c, Tk::Promote, i, Tk::Promote, rel::ORDERED);
        m.order_rsc(i, Tk::Promote, c, Tk::Promoted, rel::ORDERED);
        m.order_rsc(
            c,
            Tk::Demote,
            i,
            Tk::Demote,
            rel::THEN_IMPLIES_FIRST_GRAPHED,
        );
        m.order_rsc(
            i,
            Tk::Demote,
            c,
            Tk::Demoted,
            rel::FIRST_IMPLIES_THEN_GRAPHED,
        );
        if let (Some(prev), true) = (previous, ordered) {
            m.order_rsc(prev, Tk::Promote, i, Tk::Promote, rel::ORDERED);
            m.order_rsc(i, Tk::Demote, prev, Tk::Demote, rel::ORDERED);
        }
        previous = Some(i);
    }
}

fn promotable_restart_ordering(m: &mut Model, c: usize) {
    m.order_rsc(c, Tk::Stopped, c, Tk::Start, rel::ORDERED);
    m.order_rsc(c, Tk::Stopped, c, Tk::Promote, rel::ORDERED);
    m.order_rsc(c, Tk::Demoted, c, Tk::Stop, rel::ORDERED);
    m.order_rsc(c, Tk::Demoted, c, Tk::Start, rel::ORDERED);
    m.order_rsc(c, Tk::Demoted, c, Tk::Promote, rel::ORDERED);
    m.order_rsc(c, Tk::Running, c, Tk::Promote, rel::ORDERED);
    m.order_rsc(c, Tk::Demote, c, Tk::Demoted, rel::ORDERED);
}

fn bundle_internal(m: &mut Model, b: usize) {
    let Some(parts) = m.w.bundles.get(&b).cloned() else {
        return;
    };
    for (i, &container) in parts.containers.iter().enumerate() {
        bundle_replica_internal(m, b, &parts, i, container);
    }
    if let Some(inner) = parts.inner {
        bundle_inner_internal(m, b, inner);
    }
}

/// Replica `i` of bundle `b`: its container (and the instance inside) within
/// the bundle's start and stop, its IP address before the container.
fn bundle_replica_internal(
    m: &mut Model,
    b: usize,
    parts: &BundleParts,
    i: usize,
    container: usize,
) {
    let w = m.w;
    let implies_inner = rel::THEN_IMPLIES_FIRST_GRAPHED;
    let implies_bundle = rel::FIRST_IMPLIES_THEN_GRAPHED;
    primitive_internal(m, container);
    let start_flags = rel::UNRUNNABLE_FIRST_BLOCKS | rel::THEN_IMPLIES_FIRST_GRAPHED;
    m.order_rsc(b, Tk::Start, container, Tk::Start, start_flags);
    let child = parts
        .inner
        .and_then(|inner| w.rscs[inner].children.get(i).copied());
    if let Some(child) = child {
        m.order_rsc(b, Tk::Stop, child, Tk::Stop, implies_inner);
    }
    m.order_rsc(b, Tk::Stop, container, Tk::Stop, implies_inner);
    m.order_rsc(container, Tk::Start, b, Tk::Running, implies_bundle);
    m.order_rsc(container, Tk::Stop, b, Tk::Stopped, implies_bundle);
    if let Some(&ip) = parts.ips.get(i) {
        primitive_internal(m, ip);
        let start_flags = rel::UNRUNNABLE_FIRST_BLOCKS | rel::GUEST_ALLOWED;
        m.order_rsc(ip, Tk::Start, container, Tk::Start, start_flags);
        let stop_flags = rel::THEN_IMPLIES_FIRST | rel::GUEST_ALLOWED;
        m.order_rsc(container, Tk::Stop, ip, Tk::Stop, stop_flags);
    }
    if let Some(&remote) = parts.remotes.get(i) {
        primitive_internal(m, remote);
    }
}

/// The clone inside bundle `b`: each of its operations within the
/// bundle's.
fn bundle_inner_internal(m: &mut Model, b: usize, inner: usize) {
    let implies_inner = rel::THEN_IMPLIES_FIRST_GRAPHED;
    let implies_bundle = rel::FIRST_IMPLIES_THEN_GRAPHED;
    m.order_rsc(b, Tk::Start, inner, Tk::Start, implies_inner);
    m.order_rsc(inner, Tk::Running, b, Tk::Running, implies_bundle);
    m.order_rsc(b, Tk::Stop, inner, Tk::Stop, implies_inner);
    m.order_rsc(inner, Tk::Stopped, b, Tk::Stopped, implies_bundle);
    clone_internal(m, inner);
    if m.w.rscs[inner].promotable {
        promotable_restart_ordering(m, b);
        m.order_rsc(b, Tk::Demote, inner, Tk::Demote, implies_inner);
        m.order_rsc(inner, Tk::Demoted, b, Tk::Demoted, implies_bundle);
        m.order_rsc(b, Tk::Promote, inner, Tk::Promote, implies_inner);
        m.order_rsc(inner, Tk::Promoted, b, Tk::Promoted, implies_bundle);
    }
}

// ------------------------------------------------------------ user orders

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mandatory,
    Optional,
    Serialize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Symmetry {
    Symmetric,
    Asymmetric,
    Inverse,
}

fn kind_of(e: &Element, default: Kind) -> Kind {
    match e.attr("kind") {
        Some(k) if k.eq_ignore_ascii_case("optional") => Kind::Optional,
        Some(k) if k.eq_ignore_ascii_case("serialize") => Kind::Serialize,
        Some(_) => Kind::Mandatory,
        None => match e.attr("score") {
            Some(s) => match crate::model::cib::score::parse(s) {
                Some(0) => Kind::Optional,
                _ => Kind::Mandatory,
            },
            None => default,
        },
    }
}

fn symmetry_of(e: &Element, parent_kind: Kind, parent_symmetrical: Option<&str>) -> Symmetry {
    let kind = if e.attr("kind").is_some() || e.attr("score").is_some() {
        kind_of(e, parent_kind)
    } else {
        parent_kind
    };
    let explicit = e.attr("symmetrical").or(parent_symmetrical);
    match explicit {
        Some(v) if parse_bool(v) && kind != Kind::Serialize => Symmetry::Symmetric,
        Some(_) => Symmetry::Asymmetric,
        None if kind == Kind::Serialize => Symmetry::Asymmetric,
        None => Symmetry::Symmetric,
    }
}

fn flags_for_kind(kind: Kind, first: Tk, symmetry: Symmetry) -> u32 {
    match kind {
        Kind::Optional => rel::ORDERED,
        Kind::Serialize => rel::SERIALIZE,
        Kind::Mandatory => {
            rel::ORDERED
                | match symmetry {
                    Symmetry::Asymmetric => rel::ASYMMETRIC,
                    Symmetry::Symmetric => {
                        let blocks = if matches!(first, Tk::Start | Tk::Promote) {
                            rel::UNRUNNABLE_FIRST_BLOCKS
                        } else {
                            0
                        };
                        rel::FIRST_IMPLIES_THEN | blocks
                    }
                    Symmetry::Inverse => rel::THEN_IMPLIES_FIRST,
                }
        }
    }
}

/// Resolves a constraint's reference to resources (a tag names several).
fn refs(m: &Model, id: &str) -> Vec<usize> {
    let w = m.w;
    let ids: Vec<String> = w
        .cib
        .tags
        .get(id)
        .cloned()
        .unwrap_or_else(|| vec![id.to_string()]);
    ids.iter().filter_map(|i| resolve(m, i)).collect()
}

/// A constraint's resource: an id inside a clone or bundle means the
/// collective.
fn resolve(m: &Model, id: &str) -> Option<usize> {
    let w = m.w;
    let &r = w.by_id.get(id)?;
    if w.rscs[r].id == id {
        if w.rscs[r].parent.is_some() && w.rscs[w.top_of(r)].variant == Variant::Bundle {
            return Some(w.top_of(r));
        }
        return Some(r);
    }
    Some(w.top_of(r))
}

/// The configured orderings.
pub fn user_orders(m: &mut Model) {
    let w = m.w;
    for e in &w.cib.order_xml {
        if e.attr("first").is_some() {
            simple_order(m, e);
        } else {
            set_order(m, e);
        }
    }
}

fn simple_order(m: &mut Model, e: &Element) {
    let id = e.id().unwrap_or("").to_string();
    let (Some(first), Some(then)) = (e.attr("first"), e.attr("then")) else {
        return;
    };
    let firsts = refs(m, first);
    let thens = refs(m, then);
    let Some(action_first) = Tk::parse(e.attr("first-action").unwrap_or("start")) else {
        return;
    };
    let action_then = e
        .attr("then-action")
        .and_then(Tk::parse)
        .unwrap_or(action_first);
    let kind = kind_of(e, Kind::Mandatory);
    let symmetry = symmetry_of(e, kind, None);
    for &rf in &firsts {
        for &rt in &thens {
            if rf == rt {
                continue;
            }
            order_pair(m, &id, e, rf, action_first, rt, action_then, kind, symmetry);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn order_pair(
    m: &mut Model,
    id: &str,
    e: &Element,
    rf: usize,
    af: Tk,
    rt: usize,
    at: Tk,
    kind: Kind,
    symmetry: Symmetry,
) {
    let w = m.w;
    let mut flags = flags_for_kind(kind, af, symmetry);
    let min = min_first_instances(m, rf, e);
    if min > 0 {
        let name = format!("clone-one-or-more:{id}");
        let met = m.pseudo(None, Tk::OneOrMore, true, true, &name);
        m.acts[met].required_before = min;
        m.acts[met].flags |= flag::MIN_RUNNABLE;
        for i in w.rscs[rf].children.clone() {
            m.order_mixed(
                (Some(i), Some(af), None),
                (None, None, Some(met)),
                rel::MIN_RUNNABLE | rel::FIRST_IMPLIES_THEN_GRAPHED,
            );
        }
        m.order_mixed(
            (None, None, Some(met)),
            (Some(rt), Some(at), None),
            flags | rel::UNRUNNABLE_FIRST_BLOCKS,
        );
    } else {
        m.order_rsc(rf, af, rt, at, flags);
    }
    if symmetry == Symmetry::Symmetric {
        let (Some(inv_f), Some(inv_t)) = (af.invert(), at.invert()) else {
            return;
        };
        flags = flags_for_kind(kind, inv_t, Symmetry::Inverse);
        m.order_rsc(rt, inv_t, rf, inv_f, flags);
    }
}

/// clone-min of a clone that comes first (or require-all=false on the
/// constraint, as clone-min=1): how many of its instances must run.
fn min_first_instances(m: &Model, rf: usize, e: &Element) -> usize {
    let w = m.w;
    if w.rscs[rf].variant != Variant::Clone {
        return 0;
    }
    if let Some(min) = w.rscs[rf]
        .meta
        .get("clone-min")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&v| v > 0)
    {
        return min;
    }
    if e.attr("require-all").is_some_and(|v| !parse_bool(v)) {
        return 1;
    }
    0
}

fn set_members(m: &Model, set: &Element) -> Vec<usize> {
    let mut out = Vec::new();
    for r in set.children_named("resource_ref") {
        if let Some(id) = r.id() {
            out.extend(refs(m, id));
        }
    }
    out
}

fn set_order(m: &mut Model, e: &Element) {
    let id = e.id().unwrap_or("").to_string();
    let kind = kind_of(e, Kind::Mandatory);
    let symmetry = symmetry_of(e, kind, None);
    let invert = e.attr("symmetrical");
    let sets: Vec<&Element> = e.children_named("resource_set").collect();
    let mut last: Option<&Element> = None;
    for set in sets {
        order_within_set(m, set, kind, invert);
        if let Some(prev) = last {
            order_sets(m, &id, prev, set, kind, symmetry);
            if symmetry == Symmetry::Symmetric {
                order_sets(m, &id, set, prev, kind, Symmetry::Inverse);
            }
        }
        last = Some(set);
    }
}

fn order_within_set(
    m: &mut Model,
    set: &Element,
    parent_kind: Kind,
    parent_symmetrical: Option<&str>,
) {
    let Some(action) = Tk::parse(set.attr("action").unwrap_or("start")) else {
        return;
    };
    let kind = if set.attr("kind").is_some() {
        kind_of(set, parent_kind)
    } else {
        parent_kind
    };
    let sequential = set.attr("sequential").is_none_or(parse_bool);
    let symmetry = symmetry_of(set, parent_kind, parent_symmetrical);
    let flags = flags_for_kind(kind, action, symmetry);
    let members = set_members(m, set);
    if members.len() < 2 {
        return;
    }
    for (k, &r) in members.iter().enumerate() {
        if kind == Kind::Serialize {
            for &then in &members[k + 1..] {
                m.order_rsc(r, action, then, action, flags);
            }
        } else if sequential && k > 0 {
            m.order_rsc(members[k - 1], action, r, action, flags);
        }
    }
    if symmetry == Symmetry::Asymmetric {
        return;
    }
    let Some(inv) = action.invert() else { return };
    let flags = flags_for_kind(kind, inv, Symmetry::Inverse);
    if sequential {
        for k in 1..members.len() {
            m.order_rsc(members[k], inv, members[k - 1], inv, flags);
        }
    }
}

fn order_sets(
    m: &mut Model,
    _id: &str,
    set1: &Element,
    set2: &Element,
    kind: Kind,
    symmetry: Symmetry,
) {
    let mut a1 = set1.attr("action").and_then(Tk::parse).unwrap_or(Tk::Start);
    let mut a2 = set2.attr("action").and_then(Tk::parse).unwrap_or(Tk::Start);
    let mut require_all = set1.attr("require-all").is_none_or(parse_bool);
    if symmetry == Symmetry::Inverse {
        let (Some(x), Some(y)) = (a1.invert(), a2.invert()) else {
            return;
        };
        a1 = x;
        a2 = y;
    }
    if matches!(a1, Tk::Stop | Tk::Demote) {
        require_all = true;
    }
    let flags = flags_for_kind(kind, a1, symmetry);
    let members1 = set_members(m, set1);
    let members2 = set_members(m, set2);
    if !require_all {
        let name = format!("one-or-more:{}", set1.id().unwrap_or(""));
        order_through_one_or_more(m, &name, (&members1, a1), (&members2, a2), flags);
        return;
    }
    // Only an explicitly sequential set orders through one end member:
    // the first set's last (first, inverted), the second set's first (last).
    let inverse = symmetry == Symmetry::Inverse;
    let firsts = set_end(set1, members1, !inverse);
    let thens = set_end(set2, members2, inverse);
    for &f in &firsts {
        for &t in &thens {
            if f != t {
                m.order_rsc(f, a1, t, a2, flags);
            }
        }
    }
}

/// The members of a set that an ordering with another set goes through:
/// its last (`last`) or first member when it is explicitly sequential, else
/// all of them.
fn set_end(set: &Element, members: Vec<usize>, last: bool) -> Vec<usize> {
    if !set.attr("sequential").is_some_and(parse_bool) {
        return members;
    }
    let end = if last {
        members.last().copied()
    } else {
        members.first().copied()
    };
    match end {
        Some(r) => vec![r],
        None => members,
    }
}

/// A first set with require-all=false: the then set waits for a pseudo-action
/// (`name`) that one runnable member of the first set is enough for.
fn order_through_one_or_more(
    m: &mut Model,
    name: &str,
    (members1, a1): (&[usize], Tk),
    (members2, a2): (&[usize], Tk),
    flags: u32,
) {
    let unordered = m.pseudo(None, Tk::OneOrMore, true, true, name);
    m.acts[unordered].flags |= flag::MIN_RUNNABLE;
    for &r in members1 {
        m.order_mixed(
            (Some(r), Some(a1), None),
            (None, None, Some(unordered)),
            rel::MIN_RUNNABLE | rel::FIRST_IMPLIES_THEN_GRAPHED,
        );
    }
    for &r in members2 {
        m.order_mixed(
            (None, None, Some(unordered)),
            (Some(r), Some(a2), None),
            flags | rel::UNRUNNABLE_FIRST_BLOCKS,
        );
    }
}

// ------------------------------------------------------------- resolving

/// Resolves every ordering to relations between actions, in the order they
/// were made (a missing "first" start or promote is created, unrunnable).
pub fn apply(m: &mut Model) {
    let orderings = std::mem::take(&mut m.orderings);
    for o in &orderings {
        if let Some(r1) = o.rsc1 {
            order_first(m, r1, o);
        } else if let Some(r2) = o.rsc2 {
            let Some(first) = o.act1 else { continue };
            order_after(m, Some(first), r2, o);
        } else if let (Some(a1), Some(a2)) = (o.act1, o.act2) {
            m.order(a1, a2, o.flags);
        }
    }
    m.orderings = orderings;
    let all: Vec<usize> = (0..m.acts.len()).collect();
    for a in all {
        block_colocation_dependents(m, a);
    }
}

fn order_first(m: &mut Model, r1: usize, o: &Ordering) {
    let mut firsts: Vec<usize> = match (o.act1, o.task1) {
        (Some(a), _) => vec![a],
        (None, Some(t)) => m.find_all(r1, t),
        _ => Vec::new(),
    };
    if firsts.is_empty() && o.rsc2 == Some(r1) {
        return;
    }
    if firsts.is_empty() {
        let Some(task) = o.task1 else { return };
        let role = state_current(m, r1);
        if (role == Role::Stopped && task == Tk::Stop)
            || (role == Role::Unpromoted && task == Tk::Demote)
        {
            // Nothing to order after.
        } else {
            let a = create_first(m, r1, task);
            firsts.push(a);
        }
    }
    match o.rsc2 {
        None => {
            let Some(then) = o.act2 else { return };
            for f in firsts {
                m.order(f, then, o.flags);
            }
        }
        Some(r2) => {
            if firsts.is_empty() {
                order_after(m, None, r2, o);
            }
            for f in firsts {
                order_after(m, Some(f), r2, o);
            }
        }
    }
}

/// An action the ordering needs but nothing created: optional, and, having
/// no node, unrunnable (a collective's is a pseudo-action).
fn create_first(m: &mut Model, r: usize, task: Tk) -> usize {
    if m.w.rscs[r].variant == Variant::Primitive {
        m.custom(r, task, None, true)
    } else {
        let a = m.pseudo(Some(r), task, true, true, "");
        m.acts[a].flags &= !flag::RUNNABLE;
        a
    }
}

fn state_current(m: &Model, r: usize) -> Role {
    let w = m.w;
    let mut prims = Vec::new();
    w.primitives_of(r, &mut prims);
    prims
        .iter()
        .map(|&p| m.state[p].role)
        .max()
        .unwrap_or(Role::Stopped)
}

fn order_after(m: &mut Model, first: Option<usize>, r2: usize, o: &Ordering) {
    let thens: Vec<usize> = match (o.act2, o.task2) {
        (Some(a), _) => vec![a],
        (None, Some(t)) => m.find_all(r2, t),
        _ => Vec::new(),
    };
    if thens.is_empty() {
        return;
    }
    let mut flags = o.flags;
    if let Some(f) = first {
        if m.acts[f].rsc == Some(r2) && m.acts[f].is(flag::MIGRATION_ABORT) {
            flags &= !rel::FIRST_IMPLIES_THEN;
        }
    }
    if first.is_none() && flags & rel::FIRST_IMPLIES_THEN == 0 {
        return;
    }
    for t in thens {
        match first {
            Some(f) => {
                m.order(f, t, flags);
            }
            None => m.acts[t].flags &= !flag::RUNNABLE,
        }
    }
}

// ---------------------------------------------------------- interleaving

/// An ordering between interleaved clones, applied between the instances
/// on the same node (Pacemaker's `update_interleaved_actions`).
pub fn update_interleaved(
    m: &mut Model,
    first: usize,
    then: usize,
    node: Option<usize>,
    filter: u32,
    type_: u32,
) -> u32 {
    let (Some(fr), Some(tr)) = (m.acts[first].rsc, m.acts[then].rsc) else {
        return 0;
    };
    let first_task = m.acts[first].task;
    let then_task = m.acts[then].task;
    let current = matches!(first_task, Tk::Stopped | Tk::Demoted);
    let mut changed = 0;
    for ti in m.instances(tr) {
        let fi = compatible_instance(m, ti, fr, current);
        let Some(fi) = fi else {
            if !current && type_ & (rel::UNRUNNABLE_FIRST_BLOCKS | rel::FIRST_IMPLIES_THEN) != 0 {
                // No instance to interleave with: this one cannot be up.
                let mut prims = Vec::new();
                m.w.primitives_of(ti, &mut prims);
                for p in prims {
                    if m.state[p].next.is_some() {
                        m.state[p].next = None;
                        m.state[p].next_role = Role::Stopped;
                        for a in m.by_rsc[p].clone() {
                            if m.acts[a].task == Tk::Start {
                                m.acts[a].flags &= !flag::RUNNABLE;
                            }
                            if m.acts[a].task == Tk::Stop {
                                m.acts[a].flags &= !flag::OPTIONAL;
                            }
                        }
                        changed |= 2;
                    }
                }
            }
            continue;
        };
        let fi_primitive = m.w.rscs[fi].variant == Variant::Primitive;
        let ft = if fi_primitive {
            first_task.atomic()
        } else {
            first_task
        };
        let Some(fa) = m.find(fi, ft, if fi_primitive { node } else { None }) else {
            continue;
        };
        let ti_primitive = m.w.rscs[ti].variant == Variant::Primitive;
        let tt = if ti_primitive {
            then_task.atomic()
        } else {
            then_task
        };
        let Some(ta) = m.find(ti, tt, if ti_primitive { node } else { None }) else {
            continue;
        };
        if m.order(fa, ta, type_) {
            changed |= 3;
        }
        let fflags = m.acts[fa].flags;
        changed |= m.update_ordered_primitive(fa, ta, fflags, filter, type_);
    }
    changed
}

/// The instance of `collective` on the node where `instance` will be (or
/// is, for stops and demotes), else on its best allowed node.
fn compatible_instance(
    m: &Model,
    instance: usize,
    collective: usize,
    current: bool,
) -> Option<usize> {
    let w = m.w;
    let node_of = |r: usize| -> Option<usize> {
        if current {
            let mut prims = Vec::new();
            w.primitives_of(r, &mut prims);
            prims
                .iter()
                .find_map(|&p| m.state[p].running_on.first().copied())
        } else {
            m.location(r)
        }
    };
    let candidates = m.instances(collective);
    let on = |n: usize| {
        candidates
            .iter()
            .copied()
            .find(|&c| node_of(c) == Some(n) && !m.w.rscs[c].blocked)
    };
    if let Some(n) = node_of(instance) {
        return on(n);
    }
    let table = &m.plan.final_scores[instance];
    let mut nodes: Vec<usize> = (0..w.nodes.len()).collect();
    nodes.sort_by(|&a, &b| {
        table[b]
            .cmp(&table[a])
            .then_with(|| w.nodes[a].name.cmp(&w.nodes[b].name))
    });
    nodes.into_iter().find_map(on)
}

// ------------------------------------------------- colocation blocking

/// An unrunnable start (or promote) of a resource that every instance of
/// its collective shares keeps the resources mandatorily colocated with it
/// from starting (or being promoted): "due to colocation with ...".
pub fn block_colocation_dependents(m: &mut Model, a: usize) {
    let w = m.w;
    if m.acts[a].is(flag::RUNNABLE) {
        return;
    }
    let task = m.acts[a].task;
    let is_start = task == Tk::Start;
    if !is_start && task != Tk::Promote {
        return;
    }
    let Some(r0) = m.acts[a].rsc else { return };
    let mut r = w.top_of(r0);
    if let Some(p) = w.rscs[r].parent {
        r = p;
    }
    for c in w.rscs[r].children.clone() {
        match m.find(c, task, None) {
            None => return,
            Some(ca) if m.acts[ca].is(flag::RUNNABLE) => return,
            _ => {}
        }
    }
    for c in &w.cib.colocations {
        if c.score < crate::model::cib::score::INFINITY {
            continue;
        }
        let (Some(d), Some(p)) = (resolve(m, &c.dependent), resolve(m, &c.primary)) else {
            continue;
        };
        if p != r {
            continue;
        }
        if !is_start && c.primary_role != Some(Role::Promoted) {
            continue;
        }
        let blocked_task = if c.dependent_role == Some(Role::Promoted) {
            Tk::Promote
        } else {
            Tk::Start
        };
        let reason = format!("colocation with {}", w.rscs[r0].id);
        mark_blocked(m, d, blocked_task, &reason);
    }
}

fn mark_blocked(m: &mut Model, r: usize, task: Tk, reason: &str) {
    for a in m.by_rsc[r].clone() {
        if m.acts[a].task == task && m.acts[a].is(flag::RUNNABLE) {
            m.acts[a].flags &= !flag::RUNNABLE;
            m.set_reason(a, reason, false);
            block_colocation_dependents(m, a);
            m.update_for_orderings(a);
        }
    }
    for c in m.w.rscs[r].children.clone() {
        mark_blocked(m, c, task, reason);
    }
}
