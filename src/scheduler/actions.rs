//! Stage 3, create actions: what each primitive must do to go from where it
//! runs to where it was assigned, and the Transition Summary lines that
//! describe it the way crm_simulate does.

use super::assign::Plan;
use super::unpack::{Variant, Working};
use crate::model::cib::{OrderKind, Role};
use crate::model::score::INFINITY;

/// What one primitive will do in this transition.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub role: Option<Role>,
    pub next_role: Option<Role>,
    pub current: Option<usize>,
    pub next: Option<usize>,
    /// Nodes it must stop on.
    pub stop_on: Vec<usize>,
    /// Start required on `next`.
    pub start: bool,
    /// The start exists (maybe optional) and can run.
    pub start_runnable: bool,
    pub start_reason: Option<String>,
    pub stop_reason: Option<String>,
    pub promote: bool,
    pub demote: bool,
    pub migrate: bool,
    pub managed: bool,
    pub failed: bool,
    /// Failed with on-fail=block: frozen where it is, never started again.
    pub blocked_stop: bool,
    /// Stops can run (false when the node is unclean and cannot be fenced).
    pub stop_runnable: bool,
    /// Reloads its changed parameters in place (the agent can).
    pub reload: bool,
}

pub fn decide(w: &Working, plan: &Plan, fence: &[bool]) -> Vec<Decision> {
    let mut out = vec![Decision::default(); w.rscs.len()];
    // Without quorum, "suicide" (when not fencing itself) acts like "stop".
    let quorum_demote = !w.have_quorum && w.no_quorum_policy == "demote";
    let quorum_stop = !w.have_quorum
        && (w.no_quorum_policy == "stop" || w.no_quorum_policy == "suicide" || quorum_demote);
    let quorum_freeze = !w.have_quorum && w.no_quorum_policy == "freeze";
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant != Variant::Primitive {
            continue;
        }
        let d = &mut out[r];
        d.managed = rsc.managed && !w.maintenance_mode;
        // Failed with on-fail=block: frozen, and never started again.
        d.blocked_stop = rsc.blocked;
        d.failed = rsc.failed();
        d.current = rsc.current.first().map(|c| c.node);
        d.next = plan.assigned[r];
        let role = if rsc.current.is_empty() {
            Role::Stopped
        } else {
            rsc.current_role()
        };
        d.role = Some(role);
        let mut next_role = plan.next_role[r];
        if d.next.is_none() {
            next_role = Role::Stopped;
        }
        d.next_role = Some(next_role);
        // A blocked resource stranded on a node that cannot be fenced: its
        // stop is needed but can never run.
        if rsc.blocked
            && !d.managed
            && rsc
                .current
                .iter()
                .any(|c| w.nodes[c.node].unclean && !fence[c.node])
        {
            d.managed = true;
            d.next = None;
            d.next_role = Some(Role::Stopped);
            d.stop_on = rsc.current.iter().map(|c| c.node).collect();
            d.stop_runnable = false;
            if quorum_stop {
                d.stop_reason = Some("no quorum".into());
            }
            continue;
        }
        if !d.managed {
            continue;
        }
        let mut needs_quorum = rsc.meta.get("requires").is_none_or(|v| v != "nothing");
        d.stop_runnable = true;
        // no-quorum-policy=demote: promotable instances are only demoted.
        let in_promotable = {
            let mut a = rsc.parent;
            while let Some(p) = a.filter(|&p| w.rscs[p].variant != Variant::Clone) {
                a = w.rscs[p].parent;
            }
            a.is_some_and(|c| w.rscs[c].promotable)
        };
        if quorum_demote && in_promotable {
            needs_quorum = false;
            if next_role == Role::Promoted {
                next_role = Role::Unpromoted;
                d.next_role = Some(next_role);
            }
        }
        for c in &rsc.current {
            let stays = d.next == Some(c.node) && rsc.current.len() == 1;
            if !stays || c.failed {
                d.stop_on.push(c.node);
            }
        }
        if rsc.current.len() > 1 {
            d.stop_on = rsc.current.iter().map(|c| c.node).collect();
        }
        if let Some(n) = d.next {
            let running_there = rsc.current.iter().any(|c| c.node == n);
            d.start = !running_there || d.stop_on.contains(&n);
            d.start_runnable = true;
            if needs_quorum && quorum_stop {
                d.start_runnable = false;
                d.start_reason = Some("no quorum".into());
            } else if needs_quorum && quorum_freeze && d.start && rsc.current.is_empty() {
                d.start_runnable = false;
                d.start_reason = Some("quorum freeze".into());
            }
            // A node that is in the membership but cannot be probed yet might
            // already run it: no start until that is known.
            if d.start
                && d.start_runnable
                && w.nodes
                    .iter()
                    .enumerate()
                    .any(|(n, node)| node.unprobeable && !rsc.known_on[n])
            {
                d.start_runnable = false;
            }
            if role == Role::Promoted && next_role != Role::Promoted {
                d.demote = true;
            }
            if next_role == Role::Promoted && (role != Role::Promoted || d.start) {
                d.promote = true;
            }
            if role == Role::Promoted && d.start {
                d.demote = true;
            }
            // on-fail=demote: demote in place, promote again if still chosen.
            if rsc.current.iter().any(|c| c.needs_demote && c.node == n) && role == Role::Promoted {
                d.demote = true;
                d.promote = next_role == Role::Promoted;
            }
        } else if role == Role::Promoted && !d.stop_on.is_empty() {
            d.demote = true;
        }
        if quorum_stop && needs_quorum && !rsc.current.is_empty() {
            d.stop_on = rsc.current.iter().map(|c| c.node).collect();
            // Stops implied by fencing are about the node, not quorum; so
            // are those of a resource that has no node to go to anyway.
            if !rsc.current.iter().any(|c| fence[c.node]) && d.next.is_some() {
                d.stop_reason = Some("no quorum".into());
            }
        }
        if rsc.current.len() > 1
            && rsc
                .meta
                .get("multiple-active")
                .is_some_and(|v| v == "stop_unexpected")
            && d.stop_reason.is_none()
            && d.next.is_some()
            && !rsc.current.iter().any(|c| c.pending_op)
        {
            d.stop_reason = Some("being multiply active".into());
        }
        // A stop on a node that is gone but cannot be fenced never completes.
        if d.stop_on
            .iter()
            .any(|&n| w.nodes[n].unclean && !w.nodes[n].online && !fence[n])
        {
            // ...and the resource cannot start anywhere else meanwhile.
            d.stop_runnable = false;
            if d.start && d.next.is_some() {
                d.start_runnable = false;
            }
        }
        // Live migration: a healthy, movable primitive that allows it.
        if rsc.allow_migrate
            && !d.failed
            && d.start
            && rsc.current.len() == 1
            && d.next.is_some_and(|n| Some(n) != d.current)
            && d.current.is_some_and(|c| w.nodes[c].online && !fence[c])
            && role == Role::Started
        {
            d.migrate = true;
        }
    }
    // A bundle replica whose container cannot run takes its guest
    // connection and resource down with it, and says so.
    for (&bundle, parts) in &w.bundles {
        // A bundle bound to another bundle follows that bundle's replicas.
        let bound_to: Vec<usize> = w
            .cib
            .colocations
            .iter()
            .filter(|c| c.score >= INFINITY && c.dependent == w.rscs[bundle].id)
            .filter_map(|c| w.by_id.get(&c.primary).copied())
            .filter(|p| w.bundles.contains_key(p))
            .collect();
        for (i, &container) in parts.containers.iter().enumerate() {
            if out[container].next.is_some() {
                continue;
            }
            let colocated_reason = bound_to.iter().find_map(|p| {
                let other = *w.bundles[p].containers.get(i)?;
                out[other]
                    .next
                    .is_none()
                    .then(|| format!("colocation with {}", w.rscs[other].id))
            });
            // A disabled bundle stops its connection for its own sake; the
            // resource inside then waits on the connection.
            let remote = parts.remotes.get(i).copied();
            // (Likewise when the connection's own node cannot host it.)
            let remote_disabled = remote.is_some_and(|r| {
                w.rscs[r].target_role == Role::Stopped
                    || out[r].current.is_some_and(|n| !w.nodes[n].can_host())
            });
            let mut followers: Vec<usize> = Vec::new();
            if let Some(r) = remote.filter(|_| !remote_disabled) {
                followers.push(r);
            }
            if let Some(inner) = parts.inner {
                if let Some(&inst) = w.rscs[inner].children.get(i) {
                    w.primitives_of(inst, &mut followers);
                }
            }
            let leader = match remote {
                Some(r) if remote_disabled => r,
                _ => container,
            };
            let reason = format!("unrunnable {} start", w.rscs[leader].id);
            let inner_members: Vec<usize> = parts
                .inner
                .and_then(|inner| w.rscs[inner].children.get(i).copied())
                .map(|inst| {
                    let mut v = Vec::new();
                    w.primitives_of(inst, &mut v);
                    v
                })
                .unwrap_or_default();
            for f in followers {
                if out[f].current.is_some() && out[f].stop_reason.is_none() && out[f].managed {
                    let why = match &colocated_reason {
                        Some(c) if inner_members.contains(&f) => c.clone(),
                        _ => reason.clone(),
                    };
                    out[f].stop_reason = Some(why);
                }
            }
        }
    }
    // A failed resource inside a container restarts the container.
    let mut restarts: Vec<usize> = (0..w.rscs.len())
        .filter(|&c| w.rscs[c].restart_requested)
        .collect();
    for (r, rsc) in w.rscs.iter().enumerate() {
        let Some(&c) = rsc.meta.get("container").and_then(|c| w.by_id.get(c)) else {
            continue;
        };
        if rsc.variant == Variant::Primitive && out[r].failed && c != r {
            restarts.push(c);
        }
    }
    apply_definition_changes(w, &mut out);
    for c in restarts {
        if !out[c].managed {
            continue;
        }
        if let (Some(cur), Some(next)) = (out[c].current, out[c].next) {
            if cur == next && !out[c].start {
                out[c].start = true;
                out[c].start_runnable = true;
                if !out[c].stop_on.contains(&cur) {
                    out[c].stop_on.push(cur);
                }
            }
        }
    }
    block_migration(w, &mut out);
    propagate_orders(w, &mut out);
    super::unfence::restart_for_unfencing(w, &mut out);
    out
}

/// Changed definitions: a resource staying where it runs restarts there, or
/// reloads when only reloadable parameters changed.
fn apply_definition_changes(w: &Working, out: &mut [Decision]) {
    use super::definition::ChangeKind;
    for change in &w.changes {
        let d = &mut out[change.rsc];
        let staying = d.current == Some(change.node) && d.next == Some(change.node);
        if !staying || !d.managed || d.start {
            continue;
        }
        match change.kind {
            ChangeKind::Restart { reason } => {
                d.reload = false;
                d.start = true;
                d.start_runnable = true;
                if !d.stop_on.contains(&change.node) {
                    d.stop_on.push(change.node);
                }
                if d.start_reason.is_none() {
                    d.start_reason = reason.map(str::to_string);
                }
            }
            ChangeKind::Reload if !d.failed => d.reload = true,
            _ => {}
        }
    }
}

/// A resource that must wait for another's real stop cannot migrate: group
/// members after a moving, unmigratable member, and the "then" side of a
/// mandatory order whose "first" moves without migrating.
fn block_migration(w: &Working, out: &mut [Decision]) {
    let moves_hard = |d: &Decision| !d.migrate && d.current.is_some() && !d.stop_on.is_empty();
    for rsc in &w.rscs {
        if rsc.variant != Variant::Group {
            continue;
        }
        let mut blocker: Option<usize> = None;
        for &c in &rsc.children {
            if let Some(b) = blocker {
                if out[c].migrate {
                    out[c].migrate = false;
                    out[c].start_reason = Some(format!("unmigrateable {} stop", w.rscs[b].id));
                }
            } else if moves_hard(&out[c]) {
                blocker = Some(c);
            }
        }
    }
    for o in &w.cib.orders {
        if o.kind != OrderKind::Mandatory {
            continue;
        }
        let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
            continue;
        };
        if w.rscs[f].variant == Variant::Primitive
            && w.rscs[t].variant == Variant::Primitive
            && out[t].migrate
            && moves_hard(&out[f])
        {
            out[t].migrate = false;
            out[t].start_reason = Some(format!("unmigrateable {} stop", w.rscs[f].id));
        }
    }
}

/// A mandatory start-to-start ordering between primitives.
struct OrderPair {
    firsts: Vec<usize>,
    thens: Vec<usize>,
    /// One of the firsts is enough (a clone, or a set with require-all=false).
    any: bool,
    /// How many firsts must run (clone-min).
    min: usize,
    /// How the first is named in reasons (empty: the primitive itself).
    name: String,
    symmetrical: bool,
}

/// The mandatory orders from `first_action` to `then_action` between
/// configured resources: (order, first, then, first's primitives, then's
/// primitives).
fn mandatory_orders<'a>(
    w: &'a Working,
    first_action: &'a str,
    then_action: &'a str,
) -> impl Iterator<
    Item = (
        &'a crate::model::cib::Order,
        usize,
        usize,
        Vec<usize>,
        Vec<usize>,
    ),
> + 'a {
    w.cib.orders.iter().filter_map(move |o| {
        if o.kind != OrderKind::Mandatory
            || o.first_action != first_action
            || o.then_action != then_action
        {
            return None;
        }
        let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
            return None;
        };
        let mut firsts = Vec::new();
        w.primitives_of(f, &mut firsts);
        let mut thens = Vec::new();
        w.primitives_of(t, &mut thens);
        Some((o, f, t, firsts, thens))
    })
}

/// Mandatory orderings: an unrunnable first makes the then unrunnable; a
/// required first start or stop forces the then to restart.
fn propagate_orders(w: &Working, out: &mut [Decision]) {
    let mut pairs: Vec<OrderPair> = Vec::new();
    for (o, f, t, firsts, mut thens) in mandatory_orders(w, "start", "start") {
        // Into a group: its first member (the rest follow it).
        if w.rscs[t].variant == Variant::Group {
            thens.truncate(1);
        }
        let clone_min = match w.rscs[f].variant {
            Variant::Clone => w.rscs[f]
                .meta
                .get("clone-min")
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&m| m > 0),
            _ => None,
        };
        let any = o.first_any || w.rscs[f].variant == Variant::Clone;
        let name = match (clone_min, w.rscs[f].variant, &o.first_set) {
            (_, _, Some(set)) if o.first_any => format!("one-or-more:{set}"),
            (Some(_), _, _) => format!("clone-one-or-more:{}", o.id),
            (None, Variant::Clone, _) if o.first_any => format!("clone-one-or-more:{}", o.id),
            (None, Variant::Primitive, _) => String::new(),
            _ => o.first.clone(),
        };
        // Members of a require-all=false set count together.
        if o.first_any && o.first_set.is_some() {
            if let Some(existing) = pairs
                .iter_mut()
                .find(|p| p.name == name && p.thens == thens)
            {
                existing.firsts.extend(firsts);
                continue;
            }
        }
        // Interleaved clones: each instance waits only for the instance of
        // the first clone on its own node.
        let interleave = w.rscs[f].variant == Variant::Clone
            && w.rscs[t].variant == Variant::Clone
            && w.rscs[t].interleave
            && clone_min.is_none()
            && !o.first_any;
        if interleave {
            for &then in &thens {
                let Some(node) = out[then].next else { continue };
                let mine: Vec<usize> = firsts
                    .iter()
                    .copied()
                    .filter(|&x| {
                        out[x].next == Some(node)
                            || (out[x].next.is_none() && out[x].current == Some(node))
                    })
                    .collect();
                // No instance of the first will run on this node: this
                // instance cannot start here (nor stay), and Pacemaker names
                // no reason for it.
                if !mine.iter().any(|&x| out[x].next == Some(node)) && out[then].managed {
                    out[then].start_runnable = false;
                    match out[then].current {
                        Some(c) => {
                            if !out[then].stop_on.contains(&c) {
                                out[then].stop_on.push(c);
                            }
                        }
                        // Not running: it simply has nowhere to go.
                        None => out[then].next = None,
                    }
                    continue;
                }
                pairs.push(OrderPair {
                    firsts: mine,
                    thens: vec![then],
                    any: false,
                    min: 1,
                    name: String::new(),
                    symmetrical: o.symmetrical,
                });
            }
            continue;
        }
        pairs.push(OrderPair {
            firsts,
            thens,
            any,
            min: clone_min.unwrap_or(1),
            name,
            symmetrical: o.symmetrical,
        });
    }
    // A guest's connection starts after its container.
    for n in 0..w.nodes.len() {
        let conn = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .copied();
        if let (Some(conn), Some(container)) =
            (conn, crate::scheduler::unpack::guest_container(w, n))
        {
            pairs.push(OrderPair {
                firsts: vec![container],
                thens: vec![conn],
                any: false,
                min: 1,
                name: String::new(),
                symmetrical: true,
            });
        }
    }
    // Group members are ordered one after the other.
    for rsc in &w.rscs {
        if rsc.variant == Variant::Group {
            for pair in rsc.children.windows(2) {
                pairs.push(OrderPair {
                    firsts: vec![pair[0]],
                    thens: vec![pair[1]],
                    any: false,
                    min: 1,
                    name: String::new(),
                    symmetrical: true,
                });
            }
        }
    }
    // Resources inside a container start after it.
    for (r, rsc) in w.rscs.iter().enumerate() {
        if let Some(&c) = rsc.meta.get("container").and_then(|c| w.by_id.get(c)) {
            if rsc.variant == Variant::Primitive && c != r {
                pairs.push(OrderPair {
                    firsts: vec![c],
                    thens: vec![r],
                    any: false,
                    min: 1,
                    name: String::new(),
                    symmetrical: true,
                });
            }
        }
    }
    // A first that is not running and cannot start blocks the then.
    let cannot_start = |d: &Decision| {
        (d.current.is_none() && d.next.is_none())
            || (d.start && !d.start_runnable)
            // Running, but forced down because its own start cannot happen.
            || (!d.start_runnable && d.next.is_some() && !d.stop_on.is_empty())
            // A failed resource that is blocked will not be started again.
            || d.blocked_stop
    };
    // (A resource stopped because its own start cannot happen will not run.)
    let will_run =
        |d: &Decision| d.next.is_some() && (d.start_runnable || (!d.start && d.stop_on.is_empty()));
    for _round in 0..8 {
        let mut changed = false;
        for pair in &pairs {
            let (unrunnable, culprit) = if pair.any {
                let running = pair.firsts.iter().filter(|&&f| will_run(&out[f])).count();
                // Firsts that are merely being stopped have no start to
                // block anything with (as for primitives).
                let stopping = !pair.symmetrical
                    && pair.min == 1
                    && pair.firsts.iter().any(|&f| {
                        out[f].current.is_some() && out[f].next.is_none() && !out[f].start
                    });
                (running < pair.min && !stopping, None)
            } else {
                let c = pair.firsts.iter().copied().find(|&f| cannot_start(&out[f]));
                (c.is_some(), c)
            };
            let stopping = if pair.symmetrical && !pair.any {
                pair.firsts
                    .iter()
                    .copied()
                    .find(|&f| out[f].managed && out[f].current.is_some() && out[f].next.is_none())
            } else {
                None
            };
            let restarting = if pair.any {
                None
            } else {
                pair.firsts
                    .iter()
                    .copied()
                    .find(|&f| out[f].start && out[f].start_runnable && !out[f].migrate)
            };
            for &t in &pair.thens {
                if !out[t].managed || out[t].next.is_none() {
                    continue;
                }
                if unrunnable && out[t].start_runnable {
                    out[t].start_runnable = false;
                    if out[t].start_reason.is_none() {
                        let reason = match culprit {
                            // A first forced down from where it runs.
                            Some(f)
                                if pair.name.is_empty()
                                    && out[f].managed
                                    && out[f].current.is_some()
                                    && out[f].next.is_some() =>
                            {
                                format!("required {} start", w.rscs[f].id)
                            }
                            Some(f) if pair.name.is_empty() => {
                                format!("unrunnable {} start", w.rscs[f].id)
                            }
                            _ if pair.name.contains("one-or-more:") => {
                                format!("unrunnable {}", pair.name)
                            }
                            // A clone whose running instances are all being
                            // taken down by orders of their own: their stops
                            // are required, and so is this one.
                            _ if pair.firsts.iter().any(|&f| out[f].current.is_some())
                                && pair.firsts.iter().all(|&f| {
                                    out[f].current.is_none()
                                        || (out[f].stop_reason.is_none()
                                            && out[f].start_reason.as_deref().is_some_and(|r| {
                                                r.starts_with("unrunnable ")
                                                    || r.starts_with("required ")
                                            }))
                                }) =>
                            {
                                format!("required {} running", pair.name)
                            }
                            _ => format!("unrunnable {} running", pair.name),
                        };
                        out[t].start_reason = Some(reason);
                    }
                    // A running then must stop.
                    if let Some(c) = out[t].current {
                        if !out[t].stop_on.contains(&c) {
                            out[t].stop_on.push(c);
                        }
                    }
                    changed = true;
                } else if let (Some(f), false) = (stopping, unrunnable) {
                    if out[t].current.is_some() && out[t].start_runnable {
                        out[t].start_runnable = false;
                        out[t].start = true;
                        if out[t].start_reason.is_none() {
                            out[t].start_reason = Some(format!("required {} stop", w.rscs[f].id));
                        }
                        if let Some(c) = out[t].current {
                            if !out[t].stop_on.contains(&c) {
                                out[t].stop_on.push(c);
                            }
                        }
                        changed = true;
                    }
                } else if let (Some(f), false) = (restarting, unrunnable) {
                    if !out[t].start {
                        out[t].start = true;
                        if let Some(c) = out[t].current {
                            if !out[t].stop_on.contains(&c) {
                                out[t].stop_on.push(c);
                            }
                        }
                        if out[t].start_reason.is_none() {
                            out[t].start_reason = Some(if pair.name.is_empty() {
                                format!("required {} start", w.rscs[f].id)
                            } else {
                                format!("required {} running", pair.name)
                            });
                        }
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Later group members share the first member's unrunnable reason.
    for rsc in &w.rscs {
        if rsc.variant != Variant::Group {
            continue;
        }
        let Some(&lead) = rsc.children.first() else {
            continue;
        };
        let Some(reason) = out[lead]
            .start_reason
            .clone()
            .filter(|r| r.starts_with("unrunnable"))
        else {
            continue;
        };
        for (k, &m) in rsc.children.iter().enumerate().skip(1) {
            let stopping =
                !out[m].stop_on.is_empty() && (out[m].next.is_none() || !out[m].start_runnable);
            let prev = &w.rscs[rsc.children[k - 1]].id;
            let chained = out[m].start_reason.as_deref().is_some_and(|r| {
                r == format!("unrunnable {prev} start") || r == format!("required {prev} start")
            });
            if stopping
                && out[m].stop_reason.is_none()
                && (out[m].start_reason.is_none() || chained)
            {
                out[m].start_reason = Some(reason.clone());
            }
        }
    }
    // A group taken down because what it needs is required to stop: its
    // second member stops for the first's stop, the later ones for the
    // previous one's start (as Pacemaker words it).
    for rsc in &w.rscs {
        if rsc.variant != Variant::Group || rsc.children.len() < 2 {
            continue;
        }
        let lead = rsc.children[0];
        let Some(reason) = out[lead]
            .start_reason
            .clone()
            .filter(|r| r.starts_with("required ") && r.ends_with(" running"))
        else {
            continue;
        };
        for (k, &m) in rsc.children.iter().enumerate().skip(1) {
            if out[m].start_reason.as_deref() != Some(reason.as_str()) {
                continue;
            }
            let prev = &w.rscs[rsc.children[k - 1]].id;
            out[m].start_reason = Some(if k == 1 {
                format!("required {prev} stop")
            } else {
                format!("required {prev} start")
            });
        }
    }
    // An explicit "first stop, then stop" waits for a first that is frozen.
    for (_, _, _, firsts, thens) in mandatory_orders(w, "stop", "stop") {
        if firsts
            .iter()
            .any(|&x| !out[x].managed && out[x].current.is_some())
        {
            for x in thens {
                if !out[x].stop_on.is_empty() {
                    out[x].stop_runnable = false;
                }
            }
        }
    }
    // A stop that must wait for an unmanaged dependent's stop never happens.
    for pair in pairs.iter().filter(|p| p.symmetrical) {
        let blocked = pair
            .thens
            .iter()
            .any(|&t| !out[t].managed && out[t].current.is_some());
        if blocked {
            for &f in &pair.firsts {
                if !out[f].stop_on.is_empty() {
                    out[f].stop_runnable = false;
                }
            }
        }
    }
}

fn details(w: &Working, d: &Decision, origin: Option<usize>, destination: Option<usize>) -> String {
    let role = d.role.unwrap_or(Role::Stopped);
    let next_role = d.next_role.unwrap_or(Role::Stopped);
    let need_role = role > Role::Started || next_role > Role::Unpromoted;
    let name = |n: Option<usize>| n.map(|n| w.nodes[n].name.clone()).unwrap_or_default();
    let same_host = origin.is_some() && origin == destination;
    let same_role = role == next_role;
    match (origin, destination) {
        (None, _) if need_role => format!(
            "{} -> {} {}",
            role.name(),
            next_role.name(),
            name(destination)
        ),
        (None, _) => name(destination),
        (_, None) if need_role => format!("{} {}", role.name(), name(origin)),
        (_, None) => name(origin),
        _ if need_role && same_role && same_host => format!("{} {}", role.name(), name(origin)),
        _ if same_role && same_host => name(origin),
        _ if need_role && same_role => {
            format!("{} -> {} {}", name(origin), name(destination), role.name())
        }
        _ if same_role => format!("{} -> {}", name(origin), name(destination)),
        _ if same_host => format!("{} -> {} {}", role.name(), next_role.name(), name(origin)),
        _ => format!(
            "{} {} -> {} {}",
            role.name(),
            name(origin),
            next_role.name(),
            name(destination)
        ),
    }
}

fn line(change: &str, id: &str, details: &str, reason: Option<&str>, runnable: bool) -> String {
    let suffix = match (reason, runnable) {
        (Some(r), false) => format!(" due to {r} (blocked)"),
        (Some(r), true) => format!(" due to {r}"),
        (None, false) => " blocked".to_string(),
        (None, true) => String::new(),
    };
    format!("* {change:<8}   {id:<12}   ( {details} ){suffix}")
}

/// The Transition Summary lines, following crm_simulate's choice of verb.
pub fn summary(
    w: &Working,
    decisions: &[Decision],
    fence: &[bool],
    fence_reason: &[String],
) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, &f) in fence.iter().enumerate() {
        if f {
            let action = if w.fence_action == "poweroff" {
                "off"
            } else {
                w.fence_action.as_str()
            };
            lines.push(format!(
                "* Fence ({}) {} '{}'",
                action, w.nodes[n].name, fence_reason[n]
            ));
        }
    }
    for (n, why) in super::unfence::reasons(w, decisions).iter().enumerate() {
        if let Some(why) = why {
            lines.push(format!("* Fence (on) {} '{}'", w.nodes[n].name, why));
        }
    }
    for node in &w.nodes {
        // A guest is "fenced" by stopping its container: only possible
        // where the container runs on nodes that are up or being fenced.
        let reachable = |c: &String| {
            w.by_id.get(c).is_some_and(|&c| {
                w.rscs[c]
                    .current
                    .iter()
                    .all(|cur| w.nodes[cur.node].online || fence[cur.node])
            })
        };
        if let Some(container) = node.guest_lost.as_ref().filter(|c| reachable(c)) {
            // Only a label: "reboot" when the container starts again, "off"
            // when it stays down.
            let restarts = w
                .by_id
                .get(container)
                .is_some_and(|&c| decisions[c].next.is_some());
            let action = if restarts { "reboot" } else { "off" };
            lines.push(format!(
                "* Fence ({action}) {} (resource: {}) 'guest is unclean'",
                node.name, container
            ));
        }
    }
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant != Variant::Primitive {
            continue;
        }
        let d = &decisions[r];
        lines.extend(summary_line(w, &rsc.id, d));
    }
    lines
}

fn summary_line(w: &Working, id: &str, d: &Decision) -> Vec<String> {
    let current = d.current;
    let next = d.next;
    if !d.managed || (current.is_none() && next.is_none()) {
        return vec![];
    }
    let role = d.role.unwrap_or(Role::Stopped);
    let next_role = d.next_role.unwrap_or(Role::Stopped);
    let moving = current.is_some() && next.is_some() && current != next;
    let stop_reason = d.stop_reason.as_deref().or(d.start_reason.as_deref());
    if role == next_role {
        if next.is_none() {
            return vec![];
        }
        if d.migrate && current.is_some() {
            return vec![line(
                "Migrate",
                id,
                &details(w, d, current, next),
                None,
                true,
            )];
        }
        if !d.start {
            if d.reload && d.stop_on.is_empty() {
                return vec![line(
                    "Reload",
                    id,
                    &details(w, d, current, next),
                    None,
                    true,
                )];
            }
            if d.demote && d.promote {
                return vec![line(
                    "Re-promote",
                    id,
                    &details(w, d, current, next),
                    None,
                    true,
                )];
            }
            if !d.stop_on.is_empty() {
                // Stopping extra copies of a multiply-active resource.
                return vec![line(
                    "Stop",
                    id,
                    &details(w, d, current, None),
                    Some(
                        d.stop_reason
                            .as_deref()
                            .or(d.start_reason.as_deref())
                            .unwrap_or("node availability"),
                    ),
                    true,
                )];
            }
            return vec![];
        }
        if !d.start_runnable {
            let frozen = !w.have_quorum && w.no_quorum_policy == "freeze";
            let reason = if d.stop_runnable || !frozen {
                stop_reason
            } else {
                None
            };
            return vec![line(
                "Stop",
                id,
                &details(w, d, current, None),
                reason,
                d.stop_runnable,
            )];
        }
        if moving {
            let verb = if d.failed { "Recover" } else { "Move" };
            let reason = d
                .start_reason
                .as_deref()
                .filter(|r| r.starts_with("unmigrateable"));
            return vec![line(verb, id, &details(w, d, current, next), reason, true)];
        }
        if d.failed {
            return vec![line(
                "Recover",
                id,
                &details(w, d, current, None),
                d.stop_reason
                    .as_deref()
                    .filter(|r| *r == "being multiply active"),
                true,
            )];
        }
        return vec![line(
            "Restart",
            id,
            &details(w, d, current, next),
            d.start_reason.as_deref(),
            true,
        )];
    }
    if !d.stop_on.is_empty() && (next_role == Role::Stopped || (d.start && !d.start_runnable)) {
        let reason = d.stop_reason.as_deref().or(d.start_reason.as_deref());
        // A stop that can never run (unfenceable node) gives no reason.
        let frozen = !w.have_quorum && w.no_quorum_policy == "freeze";
        let reason = if d.stop_runnable || !frozen {
            reason.or(Some("node availability"))
        } else {
            reason
        };
        let mut out = Vec::new();
        for &n in &d.stop_on {
            out.push(line(
                "Stop",
                id,
                &details(w, d, Some(n), None),
                reason,
                d.stop_runnable,
            ));
        }
        return out;
    }
    if d.failed && !d.stop_on.is_empty() {
        return vec![line(
            "Recover",
            id,
            &details(w, d, current, next),
            None,
            true,
        )];
    }
    if moving {
        return vec![line("Move", id, &details(w, d, current, next), None, true)];
    }
    if d.start {
        let verb = if next_role == Role::Promoted {
            "Promote"
        } else {
            "Start"
        };
        // A blocked promotion names no reason of its own (the start's
        // reason belongs to the start).
        let reason = if verb == "Promote" && d.start_reason.as_deref() == Some("no quorum") {
            None
        } else {
            d.start_reason.as_deref()
        };

        return vec![line(
            verb,
            id,
            &details(w, d, current, next),
            reason,
            d.start_runnable,
        )];
    }
    if d.demote {
        return vec![line(
            "Demote",
            id,
            &details(w, d, current, next),
            None,
            true,
        )];
    }
    if d.promote {
        return vec![line(
            "Promote",
            id,
            &details(w, d, current, next),
            None,
            true,
        )];
    }
    vec![]
}
