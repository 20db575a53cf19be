//! Stage 3, create actions: what each primitive must do to go from where it
//! runs to where it was assigned, and the Transition Summary lines that
//! describe it the way crm_simulate does.

use super::assign::Plan;
use super::unpack::{Variant, Working};
use crate::model::cib::{OrderKind, Role};

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
    pub blocked_stop: bool,
}

pub fn decide(w: &Working, plan: &Plan, fence: &[bool]) -> Vec<Decision> {
    let mut out = vec![Decision::default(); w.rscs.len()];
    let quorum_stop = !w.have_quorum && w.no_quorum_policy == "stop";
    let quorum_freeze = !w.have_quorum && w.no_quorum_policy == "freeze";
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant != Variant::Primitive {
            continue;
        }
        let d = &mut out[r];
        d.managed = rsc.managed && !w.maintenance_mode;
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
        if !d.managed {
            continue;
        }
        let needs_quorum = rsc.agent.as_ref().is_none_or(|a| a.class != "stonith")
            && rsc.meta.get("requires").is_none_or(|v| v != "nothing");
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
            } else if needs_quorum && quorum_freeze && d.start {
                d.start_runnable = false;
                d.start_reason = Some("quorum freeze".into());
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
        } else if role == Role::Promoted && !d.stop_on.is_empty() {
            d.demote = true;
        }
        if quorum_stop && needs_quorum && !rsc.current.is_empty() {
            d.stop_on = rsc.current.iter().map(|c| c.node).collect();
            d.stop_reason = Some("no quorum".into());
        }
        // Live migration: a healthy, movable primitive that allows it.
        if rsc.allow_migrate
            && !d.failed
            && d.start
            && rsc.current.len() == 1
            && d.next.is_some_and(|n| Some(n) != d.current)
            && d.current.is_some_and(|c| w.nodes[c].online && !fence[c])
            && rsc
                .parent
                .is_none_or(|p| w.rscs[p].variant != Variant::Group)
            && role == Role::Started
        {
            d.migrate = true;
        }
    }
    propagate_orders(w, &mut out);
    out
}

/// (first primitives, first action, then primitives, then action, first's name, first needs any).
type OrderPair = (Vec<usize>, String, Vec<usize>, String, String, bool);

/// Mandatory orderings: an unrunnable first makes the then unrunnable; a
/// required first start or stop forces the then to restart.
fn propagate_orders(w: &Working, out: &mut [Decision]) {
    let mut pairs: Vec<OrderPair> = Vec::new();
    for o in &w.cib.orders {
        if o.kind != OrderKind::Mandatory {
            continue;
        }
        let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
            continue;
        };
        let mut fp = Vec::new();
        w.primitives_of(f, &mut fp);
        let mut tp = Vec::new();
        w.primitives_of(t, &mut tp);
        // Into a group: its first member; out of a group: all members.
        if w.rscs[t].variant == Variant::Group {
            tp.truncate(1);
        }
        pairs.push((
            fp,
            o.first_action.clone(),
            tp,
            o.then_action.clone(),
            o.first.clone(),
            o.first_any,
        ));
    }
    // Group members are ordered one after the other.
    for rsc in &w.rscs {
        if rsc.variant == Variant::Group {
            for pair in rsc.children.windows(2) {
                pairs.push((
                    vec![pair[0]],
                    "start".into(),
                    vec![pair[1]],
                    "start".into(),
                    w.rscs[pair[0]].id.clone(),
                    false,
                ));
            }
        }
    }
    for _round in 0..8 {
        let mut changed = false;
        for (firsts, fa, thens, ta, fname, any) in &pairs {
            if fa != "start" || ta != "start" {
                continue;
            }
            let is_clone = firsts.len() > 1;
            let first_unrunnable = if *any || is_clone {
                firsts
                    .iter()
                    .all(|&f| out[f].next.is_none() || !out[f].start_runnable && out[f].start)
            } else {
                firsts
                    .iter()
                    .any(|&f| out[f].next.is_none() || (out[f].start && !out[f].start_runnable))
            };
            let first_restarts = !is_clone
                && firsts
                    .iter()
                    .any(|&f| out[f].start && out[f].start_runnable);
            for &t in thens {
                if !out[t].managed {
                    continue;
                }
                if first_unrunnable && out[t].next.is_some() && out[t].start_runnable {
                    out[t].start_runnable = false;
                    if out[t].start_reason.is_none() {
                        let what = if *any || is_clone { "running" } else { "start" };
                        let name = if is_clone || *any {
                            fname.clone()
                        } else {
                            w.rscs[firsts[0]].id.clone()
                        };
                        out[t].start_reason = Some(format!("unrunnable {name} {what}"));
                    }
                    // A running then must stop.
                    if let Some(c) = out[t].current {
                        if !out[t].stop_on.contains(&c) {
                            out[t].stop_on.push(c);
                        }
                    }
                    changed = true;
                } else if first_restarts
                    && !first_unrunnable
                    && out[t].next.is_some()
                    && !out[t].start
                {
                    out[t].start = true;
                    if let Some(c) = out[t].current {
                        if !out[t].stop_on.contains(&c) {
                            out[t].stop_on.push(c);
                        }
                    }
                    if out[t].start_reason.is_none() {
                        out[t].start_reason =
                            Some(format!("required {} start", w.rscs[firsts[0]].id));
                    }
                    changed = true;
                }
            }
        }
        if !changed {
            break;
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
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant != Variant::Primitive {
            continue;
        }
        let d = &decisions[r];
        if let Some(l) = summary_line(w, &rsc.id, d) {
            lines.push(l);
        }
    }
    lines
}

fn summary_line(w: &Working, id: &str, d: &Decision) -> Option<String> {
    let current = d.current;
    let next = d.next;
    if !d.managed || (current.is_none() && next.is_none()) {
        return None;
    }
    let role = d.role.unwrap_or(Role::Stopped);
    let next_role = d.next_role.unwrap_or(Role::Stopped);
    let moving = current.is_some() && next.is_some() && current != next;
    let stop_reason = d.stop_reason.as_deref().or(d.start_reason.as_deref());
    if role == next_role {
        next?;
        if d.migrate && current.is_some() {
            return Some(line(
                "Migrate",
                id,
                &details(w, d, current, next),
                None,
                true,
            ));
        }
        if !d.start {
            if d.demote && d.promote {
                return Some(line(
                    "Re-promote",
                    id,
                    &details(w, d, current, next),
                    None,
                    true,
                ));
            }
            if !d.stop_on.is_empty() {
                // Stopping extra copies of a multiply-active resource.
                return Some(line(
                    "Stop",
                    id,
                    &details(w, d, current, None),
                    Some("node availability"),
                    true,
                ));
            }
            return None;
        }
        if !d.start_runnable {
            return Some(line(
                "Stop",
                id,
                &details(w, d, current, None),
                stop_reason,
                true,
            ));
        }
        if moving {
            let verb = if d.failed { "Recover" } else { "Move" };
            return Some(line(verb, id, &details(w, d, current, next), None, true));
        }
        if d.failed {
            return Some(line(
                "Recover",
                id,
                &details(w, d, current, None),
                None,
                true,
            ));
        }
        return Some(line(
            "Restart",
            id,
            &details(w, d, current, next),
            d.start_reason.as_deref(),
            true,
        ));
    }
    if !d.stop_on.is_empty() && (next_role == Role::Stopped || (d.start && !d.start_runnable)) {
        let reason = d
            .stop_reason
            .as_deref()
            .or(d.start_reason.as_deref())
            .unwrap_or("node availability");
        let mut out = Vec::new();
        for &n in &d.stop_on {
            out.push(line(
                "Stop",
                id,
                &details(w, d, Some(n), None),
                Some(reason),
                true,
            ));
        }
        return out.into_iter().next();
    }
    if d.failed && !d.stop_on.is_empty() {
        return Some(line(
            "Recover",
            id,
            &details(w, d, current, next),
            None,
            true,
        ));
    }
    if moving {
        return Some(line("Move", id, &details(w, d, current, next), None, true));
    }
    if d.start {
        let verb = if next_role == Role::Promoted {
            "Promote"
        } else {
            "Start"
        };
        return Some(line(
            verb,
            id,
            &details(w, d, current, next),
            d.start_reason.as_deref(),
            d.start_runnable,
        ));
    }
    if d.demote {
        return Some(line(
            "Demote",
            id,
            &details(w, d, current, next),
            None,
            true,
        ));
    }
    if d.promote {
        return Some(line(
            "Promote",
            id,
            &details(w, d, current, next),
            None,
            true,
        ));
    }
    None
}
