//! Part of stage 5, graph: the pseudo-actions of groups, clones and bundles,
//! and clone notifications.
//!
//! A collective resource gets, for each of demote, stop, start and promote
//! that any of its members performs, a pair of pseudo-actions: `R_start_0`
//! before its members' starts and `R_running_0` after them (likewise
//! `R_stop_0`/`R_stopped_0`, `R_demote_0`/`R_demoted_0`,
//! `R_promote_0`/`R_promoted_0`). The pairs are ordered as a resource's own
//! actions are: demoted before stop, stopped before start, running before
//! promote. Constraints on a collective resource attach to them.
//!
//! A clone with `notify=true` wraps each pair in notifications: the pseudo
//! `C_pre_notify_start_0`, a `notify` action (`notify_type=pre`) on every
//! node where an instance is active, the pseudo
//! `C_confirmed-pre_notify_start_0`, then `C_start_0` ... `C_running_0`, the
//! pseudo `C_post_notify_running_0`, the post notifications and
//! `C_confirmed-post_notify_running_0`. Real notifications are sent only when
//! an instance actually performs the operation.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use super::{clone_meta, Builder};
use crate::model::cib::operation::OpKind;
use crate::model::cib::Role;
use crate::scheduler::actions::Decision;
use crate::scheduler::unpack::{Variant, Working};
use crate::scheduler::Task;

/// The collective operations, in the order a transition runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Demote,
    Stop,
    Start,
    Promote,
}

pub const PHASES: [Phase; 4] = [Phase::Demote, Phase::Stop, Phase::Start, Phase::Promote];

impl Phase {
    pub fn task(self) -> Task {
        match self {
            Phase::Demote => Task::Demote,
            Phase::Stop => Task::Stop,
            Phase::Start => Task::Start,
            Phase::Promote => Task::Promote,
        }
    }

    pub fn of_task(task: Task) -> Option<Phase> {
        match task {
            Task::Demote => Some(Phase::Demote),
            Task::Stop => Some(Phase::Stop),
            Task::Start => Some(Phase::Start),
            Task::Promote => Some(Phase::Promote),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Demote => "demote",
            Phase::Stop => "stop",
            Phase::Start => "start",
            Phase::Promote => "promote",
        }
    }

    /// The members' operation.
    pub fn operation(self) -> OpKind {
        match self {
            Phase::Demote => OpKind::Demote,
            Phase::Stop => OpKind::Stop,
            Phase::Start => OpKind::Start,
            Phase::Promote => OpKind::Promote,
        }
    }

    /// The pseudo-action that follows the members' actions.
    pub fn done(self) -> &'static str {
        match self {
            Phase::Demote => "demoted",
            Phase::Stop => "stopped",
            Phase::Start => "running",
            Phase::Promote => "promoted",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which pseudo-action of a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Begin,
    Done,
    Pre,
    ConfirmedPre,
    Post,
    ConfirmedPost,
}

/// The collective pseudo-actions of a graph, by resource, phase and step.
#[derive(Debug, Default)]
pub struct Pseudos(HashMap<(usize, Phase, Step), NodeIndex>);

impl Pseudos {
    pub fn get(&self, r: usize, phase: Phase, step: Step) -> Option<NodeIndex> {
        self.0.get(&(r, phase, step)).copied()
    }
}

/// The members a collective's pseudo-actions enclose: a group's primitives,
/// a clone's instances, a bundle's containers and its inner clone.
fn members(w: &Working, r: usize) -> Vec<usize> {
    let rsc = &w.rscs[r];
    match rsc.variant {
        Variant::Primitive => Vec::new(),
        Variant::Group | Variant::Clone => rsc.children.clone(),
        Variant::Bundle => match w.bundles.get(&r) {
            Some(parts) => parts
                .containers
                .iter()
                .copied()
                .chain(parts.inner)
                .collect(),
            None => Vec::new(),
        },
    }
}

fn post_order(w: &Working, r: usize, out: &mut Vec<usize>) {
    for &c in &w.rscs[r].children {
        post_order(w, c, out);
    }
    out.push(r);
}

/// A group member that stays placed but cannot start again for a reason
/// inside the group (an earlier member, quorum): the group's start is still
/// needed, though it cannot complete. A start blocked by something outside
/// makes the group's own start unrunnable.
fn restart_blocked_inside(w: &Working, d: &Decision, members: &[usize]) -> bool {
    if !(d.managed && d.start && d.next.is_some() && !d.start_runnable) {
        return false;
    }
    match d
        .start_reason
        .as_deref()
        .and_then(|r| r.strip_prefix("unrunnable "))
    {
        Some(rest) => {
            let culprit = rest.split(' ').next().unwrap_or("");
            members.iter().any(|&m| w.rscs[m].id == culprit)
        }
        None => true,
    }
}

/// The outermost clone a primitive is an instance (or part of an instance)
/// of.
pub fn clone_of(w: &Working, r: usize) -> Option<usize> {
    let mut found = None;
    let mut a = w.rscs[r].parent;
    while let Some(p) = a {
        if w.rscs[p].variant == Variant::Clone {
            found = Some(p);
        }
        a = w.rscs[p].parent;
    }
    found
}

/// Whether a clone sends notifications.
fn notifies(w: &Working, r: usize) -> bool {
    let rsc = &w.rscs[r];
    rsc.variant == Variant::Clone
        && rsc
            .meta
            .get("notify")
            .is_some_and(|v| crate::model::cib::parse_bool(v))
}

impl Builder<'_> {
    /// Where an ordering "then `phase` of `r`" attaches: the resource's own
    /// actions, or a collective's first pseudo-action.
    pub(super) fn entry(&self, r: usize, phase: Phase) -> Vec<NodeIndex> {
        if self.w.rscs[r].variant == Variant::Primitive {
            self.of(r, phase.task())
        } else {
            self.coll.get(r, phase, Step::Begin).into_iter().collect()
        }
    }

    /// Where an ordering "first `phase` of `r`" attaches: the resource's own
    /// actions, or the pseudo-action that says a collective is done
    /// (notifications included).
    pub(super) fn exit(&self, r: usize, phase: Phase) -> Vec<NodeIndex> {
        if self.w.rscs[r].variant == Variant::Primitive {
            self.of(r, phase.task())
        } else {
            self.coll
                .get(r, phase, Step::ConfirmedPost)
                .or_else(|| self.coll.get(r, phase, Step::Done))
                .into_iter()
                .collect()
        }
    }

    fn pseudo(&mut self, r: usize, phase: Phase, step: Step) -> NodeIndex {
        let name = match step {
            Step::Begin => phase.name().to_string(),
            Step::Done => phase.done().to_string(),
            Step::Pre => format!("pre_notify_{}", phase.name()),
            Step::ConfirmedPre => format!("confirmed-pre_notify_{}", phase.name()),
            Step::Post => format!("post_notify_{}", phase.done()),
            Step::ConfirmedPost => format!("confirmed-post_notify_{}", phase.done()),
        };
        let timeout_ms = self.timeout_ms(r, &phase.operation(), 0);
        let idx = self.graph.add_node(super::pseudo_action(
            Some(self.w.rscs[r].id.clone()),
            name,
            timeout_ms,
        ));
        self.coll.0.insert((r, phase, step), idx);
        idx
    }

    /// How primitive `r` takes part in `phase`.
    fn primitive_part(&self, d: &Decision, r: usize, phase: Phase) -> Part {
        let runnable = !self.of(r, phase.task()).is_empty();
        let blocked = !runnable
            && d.managed
            && match phase {
                Phase::Start => d.start && d.next.is_some() && !d.start_runnable,
                Phase::Promote => d.promote && d.next.is_some(),
                Phase::Stop => !d.stop_on.is_empty() && !d.stop_runnable,
                Phase::Demote => false,
            };
        // A bundle replica's resource that cannot start because its
        // container cannot: the bundle's clone still starts.
        let in_bundle = {
            let mut a = self.w.rscs[r].parent;
            let mut found = false;
            while let Some(p) = a {
                found |= self.w.rscs[p].variant == Variant::Bundle;
                a = self.w.rscs[p].parent;
            }
            found
        };
        let late = blocked
            && phase == Phase::Start
            && in_bundle
            && d.start_reason.as_deref() != Some("no quorum");
        Part {
            runnable,
            blocked,
            late,
        }
    }
}

/// How a resource takes part in a phase.
#[derive(Debug, Clone, Copy, Default)]
struct Part {
    /// Its action (or pseudo-action) for the phase is in the graph.
    runnable: bool,
    /// The action is needed but cannot run (or, for a collective, it cannot
    /// complete).
    blocked: bool,
    /// Blocked only by an ordering inside a bundle: the collective's own
    /// action is still needed.
    late: bool,
}

/// One primitive of a notifying clone, as notifications see it.
struct Instance {
    rsc: usize,
    /// Where it is active now (on a node that can be told).
    active: Option<usize>,
    promoted: bool,
    stops: bool,
    starts_on: Option<usize>,
    promotes: bool,
    demotes: bool,
}

fn join_or_blank(items: &[String]) -> String {
    if items.is_empty() {
        " ".to_string()
    } else {
        items.join(" ")
    }
}

/// Adds the pseudo-actions of every group, clone and bundle and the
/// notifications of clones that ask for them.
pub(super) fn add(b: &mut Builder<'_>, decisions: &[Decision], fence: &[bool]) {
    let w = b.w;
    if w.rscs.iter().all(|r| r.variant == Variant::Primitive) {
        return;
    }
    let mut order = Vec::with_capacity(w.rscs.len());
    for &t in &w.top {
        post_order(w, t, &mut order);
    }
    let mut parts = vec![[Part::default(); 4]; w.rscs.len()];
    for &r in &order {
        let rsc = &w.rscs[r];
        if rsc.variant == Variant::Primitive {
            for phase in PHASES {
                parts[r][phase.index()] = b.primitive_part(&decisions[r], r, phase);
            }
            continue;
        }
        add_phase_pseudos(b, decisions, &mut parts, r);
        order_phases(b, r);
        if notifies(w, r) {
            notifications(b, decisions, fence, r);
        }
        if rsc.variant == Variant::Clone && clone_of(w, r).is_none() {
            clone_stop_after_fencing(b, r);
            probes_before_clone_actions(b, r);
        }
    }
}

/// The begin and done pseudo-actions of collective `r` for each phase its
/// members take part in, wrapped around the members' own actions; records
/// how `r` itself takes part (`parts[r]`).
fn add_phase_pseudos(
    b: &mut Builder<'_>,
    decisions: &[Decision],
    parts: &mut [[Part; 4]],
    r: usize,
) {
    let members = members(b.w, r);
    // Stop first, for a group's start follows from its stop.
    for phase in [Phase::Demote, Phase::Stop, Phase::Promote, Phase::Start] {
        let (part, completes) = collective_part(b.w, decisions, parts, r, &members, phase);
        parts[r][phase.index()] = part;
        if part.runnable {
            wrap_members(b, r, &members, phase, completes);
        }
    }
}

/// How collective `r` takes part in `phase`, from its members' parts, and
/// whether the phase completes (gets a done pseudo-action).
fn collective_part(
    w: &Working,
    decisions: &[Decision],
    parts: &[[Part; 4]],
    r: usize,
    members: &[usize],
    phase: Phase,
) -> (Part, bool) {
    let group = w.rscs[r].variant == Variant::Group;
    let i = phase.index();
    let any = |f: fn(&Part) -> bool| members.iter().any(|&m| f(&parts[m][i]));
    let begins = any(|p| p.runnable)
        || any(|p| p.late)
        || (phase == Phase::Stop && any(|p| p.blocked))
        || (group
            && phase == Phase::Start
            && parts[r][Phase::Stop.index()].runnable
            && members
                .iter()
                .any(|&m| restart_blocked_inside(w, &decisions[m], members)));
    // A group is done only when every member's action can run, and
    // it is running only when every member will be.
    let unplaced = group
        && phase == Phase::Start
        && members.iter().any(|&m| {
            let d = &decisions[m];
            w.rscs[m].variant == Variant::Primitive && d.managed && d.next.is_none()
        });
    let completes = begins && !(group && any(|p| p.blocked)) && !unplaced;
    let part = Part {
        runnable: begins,
        blocked: any(|p| p.blocked) && !completes,
        late: any(|p| p.late),
    };
    (part, completes)
}

/// The begin pseudo-action of `r` for `phase` before its members' actions,
/// and, when the phase completes, the done pseudo-action after them.
fn wrap_members(b: &mut Builder<'_>, r: usize, members: &[usize], phase: Phase, completes: bool) {
    let begin = b.pseudo(r, phase, Step::Begin);
    if !completes {
        for &m in members {
            for x in b.entry(m, phase) {
                b.edge(begin, x);
            }
        }
        return;
    }
    let done = b.pseudo(r, phase, Step::Done);
    for &m in members {
        for x in b.entry(m, phase) {
            b.edge(begin, x);
        }
        for x in b.exit(m, phase) {
            b.edge(x, done);
        }
    }
    if phase != Phase::Promote && b.w.rscs[r].variant != Variant::Bundle {
        b.edge(begin, done);
    }
}

/// Between the phases of collective `r`, as for a primitive's own actions.
fn order_phases(b: &mut Builder<'_>, r: usize) {
    for (first, then) in [
        (Phase::Demote, Phase::Stop),
        (Phase::Demote, Phase::Start),
        (Phase::Stop, Phase::Start),
        (Phase::Demote, Phase::Promote),
        (Phase::Stop, Phase::Promote),
        (Phase::Start, Phase::Promote),
    ] {
        if let (Some(x), Some(y)) = (
            b.coll.get(r, first, Step::Done),
            b.coll.get(r, then, Step::Begin),
        ) {
            b.edge(x, y);
        }
    }
}

/// A clone stopping instances on a node being fenced waits for the fencing.
fn clone_stop_after_fencing(b: &mut Builder<'_>, r: usize) {
    let Some(stop) = b.coll.get(r, Phase::Stop, Step::Begin) else {
        return;
    };
    let mut prims = Vec::new();
    b.w.primitives_of(r, &mut prims);
    let mut fences: Vec<NodeIndex> = Vec::new();
    for p in prims {
        for s in b.of(p, Task::Stop) {
            if b.graph[s].task != Task::Pseudo {
                continue;
            }
            for f in b.graph.neighbors_directed(s, petgraph::Direction::Incoming) {
                if b.graph[f].task == Task::Fence && !fences.contains(&f) {
                    fences.push(f);
                }
            }
        }
    }
    for f in fences {
        b.edge(f, stop);
    }
}

/// The instances' probes: before the clone starts or stops anything.
fn probes_before_clone_actions(b: &mut Builder<'_>, r: usize) {
    let targets: Vec<NodeIndex> = [
        b.coll.get(r, Phase::Start, Step::Begin),
        b.coll.get(r, Phase::Stop, Step::Done),
    ]
    .into_iter()
    .flatten()
    .collect();
    if targets.is_empty() {
        return;
    }
    let mut prims = Vec::new();
    b.w.primitives_of(r, &mut prims);
    for p in prims {
        for m in b.of(p, Task::Monitor) {
            if b.graph[m].interval_ms == 0 {
                for &t in &targets {
                    b.edge(m, t);
                }
            }
        }
    }
}

/// An instance told of a notification, and where: (rsc, node).
type Told = (usize, usize);

/// Who is active (rsc, node) before a clone's stops, after them, and after
/// its starts: the nodes each notification goes to.
struct Audience {
    before: Vec<(usize, usize)>,
    after_stop: Vec<(usize, usize)>,
    after_start: Vec<(usize, usize)>,
}

impl Audience {
    fn of(w: &Working, fence: &[bool], instances: &[Instance]) -> Audience {
        let before: Vec<(usize, usize)> = instances
            .iter()
            .filter_map(|i| i.active.map(|n| (i.rsc, n)))
            .collect();
        let after_stop: Vec<(usize, usize)> = instances
            .iter()
            .filter(|i| !i.stops)
            .filter_map(|i| i.active.map(|n| (i.rsc, n)))
            .collect();
        let mut after_start = after_stop.clone();
        // Instances starting are told afterwards, on guest nodes too (they come
        // up with their container).
        after_start.extend(instances.iter().filter_map(|i| {
            i.starts_on
                .filter(|&n| !w.nodes[n].unclean && !fence[n])
                .map(|n| (i.rsc, n))
        }));
        Audience {
            before,
            after_stop,
            after_start,
        }
    }

    /// Who is told before and after `phase`.
    fn of_phase(&self, phase: Phase) -> (&[Told], &[Told]) {
        match phase {
            Phase::Demote => (&self.before, &self.before),
            Phase::Stop => (&self.before, &self.after_stop),
            Phase::Start => (&self.after_stop, &self.after_start),
            Phase::Promote => (&self.after_start, &self.after_start),
        }
    }
}

/// The notifications of clone `r` around each of its phases.
fn notifications(b: &mut Builder<'_>, decisions: &[Decision], fence: &[bool], r: usize) {
    let w = b.w;
    let mut prims = Vec::new();
    w.primitives_of(r, &mut prims);
    let instances = notify_instances(b, decisions, fence, &prims);
    let audience = Audience::of(w, fence, &instances);
    let common = notify_variables(w, decisions, r, &instances);
    let mut earlier: Vec<NodeIndex> = Vec::new();
    for phase in PHASES {
        let (Some(begin), Some(done)) = (
            b.coll.get(r, phase, Step::Begin),
            b.coll.get(r, phase, Step::Done),
        ) else {
            continue;
        };
        let pre = b.pseudo(r, phase, Step::Pre);
        let cpre = b.pseudo(r, phase, Step::ConfirmedPre);
        let post = b.pseudo(r, phase, Step::Post);
        let cpost = b.pseudo(r, phase, Step::ConfirmedPost);
        b.edge(pre, cpre);
        b.edge(cpre, begin);
        b.edge(done, post);
        b.edge(cpre, post);
        b.edge(post, cpost);
        for &e in &earlier {
            b.edge(e, pre);
        }
        earlier.push(cpost);
        let doing = instances.iter().any(|i| match phase {
            Phase::Demote => i.demotes,
            Phase::Stop => i.stops,
            Phase::Start => i.starts_on.is_some(),
            Phase::Promote => i.promotes,
        });
        if !doing {
            continue;
        }
        let (pre_told, post_told) = audience.of_phase(phase);
        add_notify_actions(b, &common, phase, "pre", pre_told, (pre, cpre));
        add_notify_actions(b, &common, phase, "post", post_told, (post, cpost));
    }
    // New recurring monitors wait for the instances' notifications.
    if let Some(cpost) = b.coll.get(r, Phase::Start, Step::ConfirmedPost) {
        for &p in &prims {
            for m in b.of(p, Task::Monitor) {
                if b.graph[m].interval_ms > 0 {
                    b.edge(cpost, m);
                }
            }
        }
    }
}

/// What each instance of a clone (its primitives `prims`) does in this
/// transition, as its notifications describe it.
fn notify_instances(
    b: &Builder<'_>,
    decisions: &[Decision],
    fence: &[bool],
    prims: &[usize],
) -> Vec<Instance> {
    let w = b.w;
    let told = |n: usize| w.nodes[n].online && !w.nodes[n].unclean && !fence[n];
    let real = |p: usize, task: Task| b.of(p, task).into_iter().any(|i| b.graph[i].task == task);
    prims
        .iter()
        .map(|&p| {
            let rsc = &w.rscs[p];
            let d = &decisions[p];
            let active = rsc.current.iter().map(|c| c.node).find(|&n| told(n));
            Instance {
                rsc: p,
                active,
                promoted: active.is_some() && rsc.current_role() == Role::Promoted,
                stops: active.is_some() && real(p, Task::Stop),
                starts_on: d.next.filter(|_| real(p, Task::Start)),
                promotes: real(p, Task::Promote),
                demotes: real(p, Task::Demote),
            }
        })
        .collect()
}

/// The notification variables of clone `r`, the same for every phase.
fn notify_variables(
    w: &Working,
    decisions: &[Decision],
    r: usize,
    instances: &[Instance],
) -> Vec<(&'static str, String)> {
    let id = |p: usize| w.rscs[p].id.clone();
    let uname = |n: usize| w.nodes[n].name.clone();
    let list = |pick: &dyn Fn(&Instance) -> Option<usize>| -> (String, String) {
        let (mut rs, mut ns) = (Vec::new(), Vec::new());
        for i in instances {
            if let Some(n) = pick(i) {
                rs.push(id(i.rsc));
                ns.push(uname(n));
            }
        }
        (join_or_blank(&rs), join_or_blank(&ns))
    };
    let mut common: Vec<(&'static str, String)> = Vec::new();
    let (ar, an) = list(&|i| i.active);
    common.push(("notify_active_resource", ar));
    common.push(("notify_active_uname", an));
    let inactive: Vec<String> = instances
        .iter()
        .filter(|i| i.active.is_none())
        .map(|i| id(i.rsc))
        .collect();
    common.push(("notify_inactive_resource", join_or_blank(&inactive)));
    let all: Vec<String> = w.nodes.iter().map(|n| n.name.clone()).collect();
    common.push(("notify_all_uname", join_or_blank(&all)));
    common.push(("notify_available_uname", join_or_blank(&all)));
    let (sr, sn) = list(&|i| i.starts_on);
    common.push(("notify_start_resource", sr));
    common.push(("notify_start_uname", sn));
    let (tr, tn) = list(&|i| i.active.filter(|_| i.stops));
    common.push(("notify_stop_resource", tr));
    common.push(("notify_stop_uname", tn));
    let (pr, pn) = list(&|i| {
        if i.promotes {
            i.starts_on.or(decisions[i.rsc].next)
        } else {
            None
        }
    });
    common.push(("notify_promote_resource", pr));
    common.push(("notify_promote_uname", pn));
    let (dr, dn) = list(&|i| i.active.filter(|_| i.demotes));
    common.push(("notify_demote_resource", dr));
    common.push(("notify_demote_uname", dn));
    let promotable = w.rscs[r].promotable;
    let (mr, mn) = list(&|i| i.active.filter(|_| i.promoted));
    let (ur, un) = list(&|i| i.active.filter(|_| promotable && !i.promoted));
    for (k, v) in [
        ("notify_promoted_resource", &mr),
        ("notify_master_resource", &mr),
        ("notify_promoted_uname", &mn),
        ("notify_master_uname", &mn),
        ("notify_unpromoted_resource", &ur),
        ("notify_slave_resource", &ur),
        ("notify_unpromoted_uname", &un),
        ("notify_slave_uname", &un),
    ] {
        common.push((k, v.clone()));
    }
    common
}

/// A `notify` action of `kind` ("pre" or "post") around `phase` for each
/// instance told, between the pseudo-actions `from` and `to`.
fn add_notify_actions(
    b: &mut Builder<'_>,
    common: &[(&'static str, String)],
    phase: Phase,
    kind: &str,
    told: &[(usize, usize)],
    (from, to): (NodeIndex, NodeIndex),
) {
    let key_op = if kind == "pre" {
        phase.name()
    } else {
        phase.done()
    };
    for &(p, n) in told {
        let mut meta = clone_meta(b.w, p);
        meta.insert("notify".into(), "true".into());
        meta.insert("notify_type".into(), kind.into());
        meta.insert("notify_operation".into(), phase.name().into());
        meta.insert("notify_key_type".into(), kind.into());
        meta.insert("notify_key_operation".into(), key_op.into());
        for (k, v) in common {
            meta.insert((*k).to_string(), v.clone());
        }
        let a = b.add(p, Task::Notify, n, 0, meta);
        b.edge(from, a);
        b.edge(a, to);
    }
}
