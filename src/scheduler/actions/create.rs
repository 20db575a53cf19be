//! Creating each resource's actions (Pacemaker's `create_actions` methods).
//!
//! A primitive goes down from its current role to stopped on its current
//! node and back up to its role on its next node (optional actions when it
//! stays, required ones when it moves, fails, is multiply active or must
//! restart), then from its role to its next role (demote, stop, start,
//! promote); a move between two healthy nodes can be a live migration.
//! Groups, clones and bundles get pseudo-actions around their members':
//! start/running, stop/stopped, and for promotable ones promote/promoted and
//! demote/demoted. Whether an action can run follows its node (online, not
//! joining) and, for starts and promotions, quorum.

use super::{flag, Model, Needs, RscState, Tk};
use crate::model::cib::{NodeKind, Role};
use crate::scheduler::assign::Plan;
use crate::scheduler::unpack::{Variant, Working};

/// The facts a resource's actions start from.
pub fn initial_state(w: &Working, plan: &Plan, r: usize) -> RscState {
    let rsc = &w.rscs[r];
    let role = if rsc.current.is_empty() {
        Role::Stopped
    } else {
        rsc.current_role()
    };
    let mut next_role = plan.next_role[r];
    let next = plan.assigned[r];
    if next.is_none() && rsc.managed {
        next_role = Role::Stopped;
    }
    let quorate = w.have_quorum || w.no_quorum_policy == "ignore";
    let promotable_role = matches!(role, Role::Promoted | Role::Unpromoted);
    if !quorate && w.no_quorum_policy == "demote" && promotable_role && next_role > Role::Unpromoted
    {
        next_role = Role::Unpromoted;
    }
    let needs_demote = rsc.current.iter().any(|c| c.needs_demote);
    // A failure with on-fail=block or demote is not recovered by stopping.
    let stop_if_failed = rsc
        .current
        .iter()
        .any(|c| c.failed && !matches!(c.on_fail.as_deref(), Some("block") | Some("demote")));
    let managed = rsc.managed && !w.maintenance_mode && !w.start_up_disabled();
    RscState {
        role,
        next_role,
        next,
        running_on: rsc.current.iter().map(|c| c.node).collect(),
        managed,
        failed: rsc.failed() || needs_demote,
        stop_if_failed: stop_if_failed && !needs_demote,
        blocked: rsc.blocked,
        reload: false,
        stop_unexpected: false,
        restarting: false,
    }
}

/// What a resource's action needs: starts and promotions need fencing
/// (resources that require it) or quorum; everything else nothing.
pub fn needs(w: &Working, r: usize, task: Tk) -> Needs {
    if !matches!(task, Tk::Start | Tk::Promote) {
        return Needs::Nothing;
    }
    let rsc = &w.rscs[r];
    let fence_device = rsc.agent.as_ref().is_some_and(|a| a.is_fence_device());
    match rsc.meta.get("requires").map(String::as_str) {
        Some("nothing") => Needs::Nothing,
        Some("quorum") => Needs::Quorum,
        Some("fencing") | Some("unfencing") if w.fencing_enabled && !fence_device => Needs::Fencing,
        _ if w.fencing_enabled && !fence_device => Needs::Fencing,
        _ => Needs::Quorum,
    }
}

/// Pacemaker's `update_resource_action_runnable`.
pub fn update_runnable(m: &mut Model, a: usize) {
    let w = m.w;
    let act = &m.acts[a];
    if act.is(flag::PSEUDO) {
        return;
    }
    let Some(r) = act.rsc else { return };
    let Some(n) = act.node else {
        m.acts[a].flags &= !flag::RUNNABLE;
        return;
    };
    let node = &w.nodes[n];
    let guest = node.kind == NodeKind::Guest;
    if !node.online && (!guest || node.guest_lost.is_some()) {
        m.acts[a].flags &= !flag::RUNNABLE;
        return;
    }
    if node.pending {
        m.acts[a].flags &= !flag::RUNNABLE;
        return;
    }
    if act.needs == Needs::Nothing {
        m.acts[a].flags |= flag::RUNNABLE;
        return;
    }
    let quorate = w.have_quorum || w.no_quorum_policy == "ignore";
    // "suicide" stands only with fencing and when the cluster asked for
    // it (or once had quorum); otherwise it is "stop".
    let suicide = w.no_quorum_policy == "suicide"
        && w.fencing_enabled
        && (w.cib.no_quorum_panic || w.have_quorum);
    let policy = if quorate || suicide {
        "ignore"
    } else if w.no_quorum_policy == "suicide" {
        "stop"
    } else if w.no_quorum_policy == "demote" {
        match m.state[r].role {
            Role::Promoted | Role::Unpromoted => "ignore",
            _ => "stop",
        }
    } else {
        w.no_quorum_policy.as_str()
    };
    match policy {
        "stop" => {
            m.acts[a].flags &= !flag::RUNNABLE;
            m.set_reason(a, "no quorum", true);
        }
        "freeze" => {
            let st = &m.state[r];
            if st.running_on.is_empty() || st.next_role > st.role {
                m.acts[a].flags &= !flag::RUNNABLE;
                m.set_reason(a, "quorum freeze", true);
            }
        }
        _ => m.acts[a].flags |= flag::RUNNABLE,
    }
}

/// Creates every resource's actions, top-level resources in order.
pub fn create_all(m: &mut Model) {
    let w = m.w;
    let mut tops: Vec<usize> = w.top.clone();
    for r in 0..w.rscs.len() {
        if w.rscs[r].parent.is_none() && !tops.contains(&r) {
            tops.push(r);
        }
    }
    schedule_probes(m, &tops);
    definition_restarts(m);
    for r in tops {
        create(m, r);
    }
}

/// Probes where a resource's state is unknown, on nodes that can be probed
/// (online or joining, not unclean): each ordered before the start of the
/// resource (of the whole clone, for an instance), and a probe that cannot
/// run keeps something not yet running anywhere from starting.
fn schedule_probes(m: &mut Model, tops: &[usize]) {
    let w = m.w;
    for n in 0..w.nodes.len() {
        let node = &w.nodes[n];
        let probeable = node.online;
        if !probeable || node.unclean {
            continue;
        }
        for &r in tops {
            probe_on(m, r, n);
        }
    }
}

fn probe_on(m: &mut Model, r: usize, n: usize) {
    let w = m.w;
    let rsc = &w.rscs[r];
    match rsc.variant {
        Variant::Group => {
            for c in rsc.children.clone() {
                probe_on(m, c, n);
            }
        }
        Variant::Clone => probe_clone_on(m, r, n),
        Variant::Bundle => {
            if let Some(parts) = w.bundles.get(&r).cloned() {
                for &c in parts
                    .containers
                    .iter()
                    .chain(parts.ips.iter())
                    .chain(parts.remotes.iter())
                {
                    probe_on(m, c, n);
                }
            }
        }
        Variant::Primitive => probe_primitive_on(m, r, n),
    }
}

/// A unique clone's instances are each probed; an anonymous clone is probed
/// through one instance, unless an instance is already assigned there.
fn probe_clone_on(m: &mut Model, r: usize, n: usize) {
    let w = m.w;
    let rsc = &w.rscs[r];
    if !m.plan.allowed[r][n] && exclusive(w, r) {
        return;
    }
    if rsc.globally_unique {
        for c in rsc.children.clone() {
            probe_on(m, c, n);
        }
        return;
    }
    let assigned_here = rsc.children.iter().any(|&i| {
        let mut prims = Vec::new();
        w.primitives_of(i, &mut prims);
        prims.iter().any(|&p| m.plan.assigned[p] == Some(n))
    });
    if !assigned_here {
        if let Some(&first) = rsc.children.first() {
            probe_on(m, first, n);
        }
    }
}

/// The probe of primitive `r` on node `n`, when its state there is unknown,
/// ordered before the start of its top resource.
fn probe_primitive_on(m: &mut Model, r: usize, n: usize) {
    use super::rel;
    let w = m.w;
    if !state_unknown(m, r, n) {
        return;
    }
    // A probe that can run only orders the start after it, which changes
    // nothing the summary or the graph's decisions read: only probes that
    // cannot run are made (they keep what is not running from starting).
    let node = &w.nodes[n];
    let runnable = node.online && !node.pending;
    if runnable {
        return;
    }
    let probe = m.custom(r, Tk::Monitor, Some(n), false);
    let top = crate::scheduler::graph::collective::clone_of(w, r).unwrap_or(r);
    let mut prims = Vec::new();
    w.primitives_of(top, &mut prims);
    let top_running = prims.iter().any(|&p| !w.rscs[p].current.is_empty());
    let mut flags = rel::ORDERED;
    if !m.acts[probe].is(flag::RUNNABLE) && !top_running {
        flags |= rel::UNRUNNABLE_FIRST_BLOCKS;
    }
    m.order_mixed(
        (Some(r), None, Some(probe)),
        (Some(top), Some(Tk::Start), None),
        flags,
    );
}

/// Whether primitive `r` may be probed on node `n` and its state there is
/// not known yet.
fn state_unknown(m: &Model, r: usize, n: usize) -> bool {
    let w = m.w;
    let rsc = &w.rscs[r];
    // Probes run while start-up is disabled for want of fencing: they only
    // read the state.
    let probe_managed = m.state[r].managed || (rsc.managed && !w.maintenance_mode);
    if !probe_managed || rsc.orphan || !m.plan.allowed[r][n] {
        return false;
    }
    let in_container = rsc.meta.get("container").is_some_and(|c| *c != rsc.base);
    if in_container {
        return false;
    }
    let anonymous = crate::scheduler::graph::collective::clone_of(w, r)
        .is_some_and(|c| !w.rscs[c].globally_unique);
    let known = if anonymous {
        rsc.known_on[n]
    } else {
        rsc.instance_known_on[n] || (rsc.instance.is_none() && rsc.known_on[n])
    };
    if known || rsc.current.iter().any(|c| c.node == n) {
        return false;
    }
    if w.nodes[n].kind == NodeKind::Guest {
        if let Some(container) = crate::scheduler::unpack::guest_container(w, n) {
            if w.rscs[container].current.is_empty() || m.plan.assigned[container].is_none() {
                return false;
            }
        }
    }
    true
}

/// Whether a resource (or its clone) is discovered only where a
/// resource-discovery=exclusive constraint says.
fn exclusive(w: &Working, r: usize) -> bool {
    w.cib.locations.iter().any(|l| {
        l.discovery == "exclusive" && l.resources.iter().any(|x| w.by_id.get(x) == Some(&r))
    })
}

fn create(m: &mut Model, r: usize) {
    let w = m.w;
    match w.rscs[r].variant {
        Variant::Primitive => create_primitive(m, r),
        Variant::Group => {
            for c in w.rscs[r].children.clone() {
                create(m, c);
            }
            m.pseudo(Some(r), Tk::Start, true, true, "");
            m.pseudo(Some(r), Tk::Running, true, true, "");
            m.pseudo(Some(r), Tk::Stop, true, true, "");
            m.pseudo(Some(r), Tk::Stopped, true, true, "");
            if in_promotable(w, r) {
                m.pseudo(Some(r), Tk::Demote, true, true, "");
                m.pseudo(Some(r), Tk::Demoted, true, true, "");
                m.pseudo(Some(r), Tk::Promote, true, true, "");
                m.pseudo(Some(r), Tk::Promoted, true, true, "");
            }
        }
        Variant::Clone => {
            let instances = w.rscs[r].children.clone();
            create_instances(m, r, &instances);
            if w.rscs[r].promotable {
                create_promotable_pseudo(m, r);
            }
        }
        Variant::Bundle => {
            let Some(parts) = w.bundles.get(&r).cloned() else {
                return;
            };
            for i in 0..parts.containers.len() {
                if let Some(&ip) = parts.ips.get(i) {
                    create(m, ip);
                }
                create(m, parts.containers[i]);
                if let Some(&remote) = parts.remotes.get(i) {
                    create(m, remote);
                }
            }
            pseudo_for_instances(m, r, &parts.containers);
            if let Some(inner) = parts.inner {
                create(m, inner);
                if w.rscs[inner].promotable {
                    m.pseudo(Some(r), Tk::Promote, true, true, "");
                    m.pseudo(Some(r), Tk::Promoted, true, true, "");
                    m.pseudo(Some(r), Tk::Demote, true, true, "");
                    m.pseudo(Some(r), Tk::Demoted, true, true, "");
                }
            }
        }
    }
}

/// Whether a resource is (in) a promotable clone.
pub fn in_promotable(w: &Working, r: usize) -> bool {
    let mut a = Some(r);
    while let Some(x) = a {
        if w.rscs[x].variant == Variant::Clone {
            return w.rscs[x].promotable;
        }
        a = w.rscs[x].parent;
    }
    false
}

fn create_instances(m: &mut Model, c: usize, instances: &[usize]) {
    for &i in instances {
        create(m, i);
    }
    pseudo_for_instances(m, c, instances);
}

/// A collective's start/running and stop/stopped pseudo-actions, optional
/// unless an instance really starts or stops.
fn pseudo_for_instances(m: &mut Model, c: usize, instances: &[usize]) {
    let (mut active, mut starting, mut stopping, mut restarting) = (false, false, false, false);
    for &i in instances {
        let mut prims = Vec::new();
        m.w.primitives_of(i, &mut prims);
        for p in prims {
            if !m.state[p].running_on.is_empty() {
                active = true;
            }
            let (mut this_starts, mut this_stops) = (false, false);
            for &a in &m.by_rsc[p] {
                let act = &m.acts[a];
                let optional = act.is(flag::OPTIONAL);
                if act.task == Tk::Start && !optional && act.is(flag::RUNNABLE) {
                    this_starts = true;
                }
                if act.task == Tk::Stop
                    && !optional
                    && (act.is(flag::PSEUDO) || act.is(flag::RUNNABLE))
                {
                    this_stops = true;
                }
            }
            starting |= this_starts;
            stopping |= this_stops;
            restarting |= this_starts && this_stops;
        }
    }
    m.pseudo(Some(c), Tk::Start, !starting, true, "");
    let running = m.pseudo(Some(c), Tk::Running, !starting, false, "");
    if active || starting {
        m.acts[running].flags |= flag::RUNNABLE;
    }
    let stop = m.pseudo(Some(c), Tk::Stop, !stopping, true, "");
    m.pseudo(Some(c), Tk::Stopped, !stopping, true, "");
    // A clone stop with no instance restarting does not keep a resource
    // ordered after it from migrating.
    if !restarting {
        m.acts[stop].flags |= flag::MIGRATABLE;
    }
}

fn create_promotable_pseudo(m: &mut Model, c: usize) {
    let (mut promoting, mut demoting) = (false, false);
    let mut prims = Vec::new();
    m.w.primitives_of(c, &mut prims);
    for p in prims {
        for &a in &m.by_rsc[p] {
            let act = &m.acts[a];
            if act.is(flag::OPTIONAL) {
                continue;
            }
            match act.task {
                Tk::Demote => demoting = true,
                Tk::Promote => promoting = true,
                _ => {}
            }
        }
    }
    m.pseudo(Some(c), Tk::Promote, !promoting, true, "");
    m.pseudo(Some(c), Tk::Promoted, !promoting, true, "");
    m.pseudo(Some(c), Tk::Demote, !demoting, true, "");
    m.pseudo(Some(c), Tk::Demoted, !demoting, true, "");
}

/// The next role a role goes through on its way to `target` (Pacemaker's
/// role matrix).
fn next_step(role: Role, target: Role) -> Role {
    use Role::*;
    match (role, target) {
        (Unknown, Unknown) => Unknown,
        (Unknown, _) => Stopped,
        (Stopped, Unknown) | (Stopped, Stopped) => Stopped,
        (Stopped, Started) => Started,
        (Stopped, _) => Unpromoted,
        (Started, Unknown) | (Started, Stopped) => Stopped,
        (Started, Started) => Started,
        (Started, Unpromoted) => Unpromoted,
        (Started, Promoted) => Promoted,
        (Unpromoted, Promoted) => Promoted,
        (Unpromoted, Unpromoted) => Unpromoted,
        (Unpromoted, _) => Stopped,
        (Promoted, Promoted) => Promoted,
        (Promoted, Unknown) => Stopped,
        (Promoted, _) => Unpromoted,
    }
}

/// Which action takes a resource from one role to the next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Stop,
    Start,
    Promote,
    Demote,
    Nothing,
}

fn step_action(role: Role, next: Role) -> Step {
    use Role::*;
    match (role, next) {
        (Unknown, Stopped) => Step::Stop,
        (Stopped, Started) | (Stopped, Unpromoted) => Step::Start,
        (Started, Stopped) => Step::Stop,
        (Started, Promoted) => Step::Promote,
        (Unpromoted, Stopped) | (Unpromoted, Started) => Step::Stop,
        (Unpromoted, Promoted) => Step::Promote,
        (Promoted, Stopped) | (Promoted, Started) | (Promoted, Unpromoted) => Step::Demote,
        _ => Step::Nothing,
    }
}

fn run_step(m: &mut Model, r: usize, step: Step, node: Option<usize>, optional: bool) {
    match step {
        Step::Stop => stop_resource(m, r, optional),
        Step::Start => {
            if let Some(n) = node {
                start_resource(m, r, n, optional);
            }
        }
        Step::Promote => {
            if let Some(n) = node {
                promote_resource(m, r, n, optional);
            }
        }
        Step::Demote => demote_resource(m, r, optional),
        Step::Nothing => {}
    }
}

/// Pacemaker's `pcmk__primitive_create_actions`.
fn create_primitive(m: &mut Model, r: usize) {
    let w = m.w;
    let rsc = &w.rscs[r];
    let current = crate::scheduler::unpack::current_node(w, r);
    let st = m.state[r].clone();
    let mut need_stop = false;
    let mut need_promote = false;
    let mut is_moving = false;
    let mut allow_migrate = false;
    if let (Some(c), Some(n)) = (current, st.next) {
        if c != n && st.next_role >= Role::Started {
            is_moving = true;
            allow_migrate = can_migrate(m, r, c);
            need_stop = true;
        }
    }
    let all_active = st.running_on.len();
    let clean_active = st
        .running_on
        .iter()
        .filter(|&&n| w.nodes[n].online && !w.nodes[n].unclean)
        .count();
    let multiply_active = if rsc.requires_fencing {
        all_active > 1
    } else {
        clean_active > 1
    };
    if multiply_active {
        match rsc.meta.get("multiple-active").map(String::as_str) {
            Some("block") | Some("stop_only") => {}
            Some("stop_unexpected") => {
                need_stop = true;
                m.state[r].stop_unexpected = true;
            }
            _ => need_stop = true,
        }
    }
    if is_moving {
    } else if st.failed {
        if st.stop_if_failed {
            need_stop = true;
        } else if st.next_role == Role::Promoted {
            need_promote = true;
        }
    } else if st.blocked {
        need_stop = true;
    } else if st.role > Role::Started && current.is_some() {
        if let Some(n) = st.next {
            let start = m.custom(r, Tk::Start, Some(n), true);
            if !m.acts[start].is(flag::OPTIONAL) {
                need_stop = true;
            }
        }
    }
    schedule_restart(m, r, current, need_stop, need_promote);
    schedule_role_transition(m, r);
    if allow_migrate {
        create_migration(m, r, current);
    }
    let _ = rsc;
}

fn schedule_restart(
    m: &mut Model,
    r: usize,
    current: Option<usize>,
    need_stop: bool,
    need_promote: bool,
) {
    m.state[r].restarting = true;
    let st = m.state[r].clone();
    let mut role = st.role;
    while role != Role::Stopped {
        let next = next_step(role, Role::Stopped);
        let step = step_action(role, next);
        if step == Step::Nothing {
            break;
        }
        run_step(m, r, step, current, !need_stop);
        role = next;
    }
    // Back up to the role it had, or to a lower next role (a failed
    // promoted instance that will stay unpromoted is recovered as such).
    let up_to = if st.role <= st.next_role {
        Some(st.role)
    } else if need_stop && st.next.is_some() && st.next_role > Role::Stopped {
        Some(st.next_role)
    } else {
        None
    };
    while let Some(target) = up_to.filter(|&t| role != t && !st.blocked) {
        let next = next_step(role, target);
        let required = need_stop || (next == Role::Promoted && need_promote);
        let step = step_action(role, next);
        if step == Step::Nothing {
            break;
        }
        run_step(m, r, step, st.next, !required);
        role = next;
    }
    m.state[r].restarting = false;
}

fn schedule_role_transition(m: &mut Model, r: usize) {
    let st = m.state[r].clone();
    let mut role = st.role;
    while role != st.next_role {
        let next = next_step(role, st.next_role);
        let step = step_action(role, next);
        if step == Step::Nothing {
            break;
        }
        run_step(m, r, step, st.next, false);
        role = next;
    }
}

fn stop_resource(m: &mut Model, r: usize, optional: bool) {
    let w = m.w;
    let nodes = m.state[r].running_on.clone();
    let expected = m.state[r].next;
    for n in nodes {
        if m.state[r].stop_unexpected && Some(n) == expected && !optional {
            // A multiply active resource keeps running where it belongs.
            continue;
        }
        let a = m.custom(r, Tk::Stop, Some(n), optional);
        if m.state[r].next.is_none() {
            m.set_reason(a, "node availability", true);
        } else if m.state[r].restarting && m.state[r].stop_unexpected {
            m.set_reason(a, "being multiply active", true);
        }
        if !m.state[r].managed {
            m.acts[a].flags &= !flag::RUNNABLE;
        }
        let _ = w;
    }
}

fn start_resource(m: &mut Model, r: usize, n: usize, optional: bool) {
    let a = m.custom(r, Tk::Start, Some(n), true);
    if m.acts[a].is(flag::RUNNABLE) && !optional {
        m.acts[a].flags &= !flag::OPTIONAL;
    }
}

fn promote_resource(m: &mut Model, r: usize, n: usize, optional: bool) {
    let runnable = m
        .find_all(r, Tk::Start)
        .iter()
        .filter(|&&a| m.acts[a].node == Some(n))
        .all(|&a| m.acts[a].is(flag::RUNNABLE));
    if runnable {
        m.custom(r, Tk::Promote, Some(n), optional);
    } else {
        for a in m.find_all(r, Tk::Promote) {
            if m.acts[a].node == Some(n) {
                m.acts[a].flags &= !flag::RUNNABLE;
            }
        }
    }
}

fn demote_resource(m: &mut Model, r: usize, optional: bool) {
    for n in m.state[r].running_on.clone() {
        m.custom(r, Tk::Demote, Some(n), optional);
    }
}

/// Whether a move may be a live migration: allowed, managed, healthy, no
/// start pending, no earlier migration left dangling (its source is stopped
/// first, Pacemaker's `pcmk__abort_dangling_migration`), between clean
/// nodes.
fn can_migrate(m: &Model, r: usize, current: usize) -> bool {
    let w = m.w;
    let rsc = &w.rscs[r];
    let st = &m.state[r];
    rsc.allow_migrate
        && rsc.dangling.is_empty()
        && st.managed
        && !st.failed
        && !rsc.current.iter().any(|c| c.pending_op)
        && !w.nodes[current].unclean
        && st.next.is_some_and(|n| !w.nodes[n].unclean)
}

/// Migration actions: migrate_to on the current node, migrate_from on the
/// next, the start a pseudo-action (Pacemaker's
/// `pcmk__create_migration_actions`).
fn create_migration(m: &mut Model, r: usize, current: Option<usize>) {
    use super::rel;
    let (Some(c), Some(n)) = (current, m.state[r].next) else {
        return;
    };
    let start = m.find(r, Tk::Start, None);
    let stop = m.find(r, Tk::Stop, None);
    let to = m.custom(r, Tk::MigrateTo, Some(c), true);
    let from = m.custom(r, Tk::MigrateFrom, Some(n), true);
    for a in [start, stop].into_iter().flatten() {
        m.acts[a].flags |= flag::MIGRATABLE;
    }
    if let Some(s) = start {
        m.acts[s].flags |= flag::PSEUDO;
        let needs = m.acts[s].needs;
        m.acts[to].needs = needs;
    }
    m.acts[to].flags |= flag::MIGRATABLE;
    m.acts[from].flags |= flag::MIGRATABLE;
    m.order_rsc(
        r,
        Tk::MigrateTo,
        r,
        Tk::MigrateFrom,
        rel::ORDERED | rel::UNMIGRATABLE_THEN_BLOCKS,
    );
    m.order_rsc(
        r,
        Tk::MigrateFrom,
        r,
        Tk::Stop,
        rel::ORDERED | rel::UNMIGRATABLE_THEN_BLOCKS,
    );
    m.order_rsc(
        r,
        Tk::MigrateFrom,
        r,
        Tk::Start,
        rel::ORDERED | rel::UNMIGRATABLE_THEN_BLOCKS | rel::FIRST_ELSE_THEN,
    );
}

/// Changed definitions: a resource whose parameters changed where it runs
/// restarts there (its start required, "due to resource definition
/// change"), or reloads when only reloadable parameters changed.
fn definition_restarts(m: &mut Model) {
    use crate::scheduler::unpack::definition::ChangeKind;
    let w = m.w;
    for change in &w.changes {
        let r = change.rsc;
        let st = &m.state[r];
        if !st.running_on.contains(&change.node) || !st.managed {
            continue;
        }
        match change.kind {
            ChangeKind::Restart { reason } => {
                // Pacemaker's node-less required start is taken up by the
                // start wherever the resource goes.
                let node = st.next;
                let a = m.custom(r, Tk::Start, node, false);
                if let Some(text) = reason {
                    m.set_reason(a, text, true);
                }
            }
            ChangeKind::Reload if !st.failed && st.next == Some(change.node) => {
                m.state[r].reload = true;
            }
            _ => {}
        }
    }
    // A promoted-role failure with on-fail=demote demotes where it failed.
    for (r, rsc) in w.rscs.iter().enumerate() {
        for c in &rsc.current {
            if c.needs_demote && m.state[r].managed {
                m.custom(r, Tk::Demote, Some(c.node), false);
            }
        }
    }
    // A failed resource inside a container restarts the container.
    let mut restart: Vec<bool> = w.rscs.iter().map(|r| r.restart_requested).collect();
    for (x, other) in w.rscs.iter().enumerate() {
        if other.variant != Variant::Primitive || !other.failed() {
            continue;
        }
        if let Some(&c) = other.meta.get("container").and_then(|c| w.by_id.get(c)) {
            if c != x {
                restart[c] = true;
            }
        }
    }
    for (r, &wanted) in restart.iter().enumerate() {
        if wanted && m.state[r].managed {
            for n in m.state[r].running_on.clone() {
                m.custom(r, Tk::Stop, Some(n), false);
            }
        }
    }
}

/// Stops (and demotes) on nodes being fenced are implied by the fencing:
/// pseudo-actions that can run. A lost guest is "fenced" by stopping its
/// container.
pub fn apply_fencing(m: &mut Model) {
    let w = m.w;
    let fenced: Vec<bool> = (0..w.nodes.len())
        .map(|n| {
            m.fenced[n]
                || w.nodes[n].guest_lost.as_ref().is_some_and(|c| {
                    w.by_id.get(c).is_some_and(|&c| {
                        w.rscs[c]
                            .current
                            .iter()
                            .all(|cur| w.nodes[cur.node].online || m.fenced[cur.node])
                    })
                })
        })
        .collect();
    for a in 0..m.acts.len() {
        let act = &m.acts[a];
        let Some(n) = act.node else { continue };
        let Some(r) = act.rsc else { continue };
        if !fenced[n] || !m.state[r].managed {
            continue;
        }
        match act.task {
            Tk::Stop => m.acts[a].flags |= flag::PSEUDO | flag::RUNNABLE,
            Tk::Demote => {
                let node = &m.w.nodes[n];
                if !node.online || node.unclean || m.state[r].failed {
                    m.acts[a].flags |= flag::PSEUDO | flag::RUNNABLE;
                }
            }
            _ => {}
        }
    }
}
