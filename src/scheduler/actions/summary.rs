//! The Transition Summary, in crm_simulate's words, read off the actions.
//!
//! Fencing comes first ("Fence (reboot) NODE 'reason'", unfencing, guests
//! fenced by restarting their container), then one line per primitive that
//! changes, chosen from its start, stop, promote, demote and migration
//! actions as Pacemaker does: Start, Stop, Move, Recover, Restart, Migrate,
//! Reload, Promote, Demote, Re-promote. A line ends with the reason the
//! deciding action carries ("due to node availability", "due to unrunnable X
//! start", ...) and "(blocked)" when that action cannot run.

use super::{flag, Decision, Model, Tk};
use crate::model::cib::Role;
use crate::scheduler::unpack::{Variant, Working};

/// The summary lines.
pub fn summary(
    m: &Model,
    decisions: &[Decision],
    fence: &[bool],
    fence_reason: &[String],
) -> Vec<String> {
    let w = m.w;
    let mut lines = fence_lines(w, decisions, fence, fence_reason);
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant == Variant::Primitive {
            resource_lines(m, r, &mut lines);
        }
    }
    lines
}

fn fence_lines(
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
    lines
}

/// One action found for the summary.
#[derive(Clone, Copy)]
struct Found {
    runnable: bool,
    optional: bool,
    act: usize,
}

fn find(m: &Model, r: usize, task: Tk, node: Option<usize>) -> Option<Found> {
    let a = m.find(r, task, node)?;
    let act = &m.acts[a];
    Some(Found {
        runnable: act.is(flag::RUNNABLE),
        optional: act.is(flag::OPTIONAL),
        act: a,
    })
}

/// Pacemaker's `rsc_action_default`: the line (or lines) for one primitive.
fn resource_lines(m: &Model, r: usize, out: &mut Vec<String>) {
    let w = m.w;
    let st = &m.state[r];
    let rsc = &w.rscs[r];
    let mut role = st.role;
    let current = if st.running_on.is_empty() {
        None
    } else {
        if role == Role::Stopped {
            role = Role::Started;
        }
        crate::scheduler::unpack::current_node(w, r)
    };
    let next = st.next;
    let next_role = if next.is_none() && st.managed {
        Role::Stopped
    } else {
        st.next_role
    };
    if current.is_none() && rsc.orphan {
        return;
    }
    if !st.managed || (current.is_none() && next.is_none()) {
        return;
    }
    let item = Item {
        m,
        r,
        role,
        next_role,
    };
    let planned = Planned::of(m, r, current);
    if role == next_role {
        if let Some(next) = next {
            out.extend(same_role_line(&item, &planned, next));
        }
        return;
    }
    out.extend(role_change_lines(&item, &planned));
}

/// A primitive's actions in this transition, as its summary line names
/// them.
struct Planned {
    current: Option<usize>,
    next: Option<usize>,
    moving: bool,
    start: Option<Found>,
    stop: Option<Found>,
    promote: Option<Found>,
    demote: Option<Found>,
    reload: bool,
}

impl Planned {
    fn of(m: &Model, r: usize, current: Option<usize>) -> Planned {
        let st = &m.state[r];
        let next = st.next;
        let moving = current.is_some() && next.is_some() && current != next;
        let start = next.and_then(|n| find(m, r, Tk::Start, Some(n)));
        let start_node = start.filter(|s| s.runnable).and(current);
        let mut stop = match start_node {
            Some(n) => find(m, r, Tk::Stop, Some(n)),
            None => find(m, r, Tk::Stop, None),
        };
        if stop.is_none() && st.stop_unexpected {
            stop = find(m, r, Tk::Stop, None);
        }
        let promote = next.and_then(|n| find(m, r, Tk::Promote, Some(n)));
        let demote = next.and_then(|n| find(m, r, Tk::Demote, Some(n)));
        let reload = st.reload && stop.is_none_or(|s| s.optional);
        Planned {
            current,
            next,
            moving,
            start,
            stop,
            promote,
            demote,
            reload,
        }
    }
}

/// The line of a primitive that keeps its role (migrates, reloads,
/// restarts, moves, recovers or stops because its start cannot run).
fn same_role_line(item: &Item, p: &Planned, next: usize) -> Option<String> {
    let m = item.m;
    let st = &m.state[item.r];
    let (current, start, stop) = (p.current, p.start, p.stop);
    let migrate = find(m, item.r, Tk::MigrateFrom, Some(next));
    let line = if migrate.is_some_and(|x| x.runnable) && current.is_some() {
        item.line(
            "Migrate",
            current,
            Some(next),
            start.or(migrate).map(|x| x.act),
            None,
        )
    } else if p.reload {
        item.line("Reload", current, Some(next), start.map(|x| x.act), None)
    } else if start.is_none_or(|s| s.optional) {
        let (demote, promote) = (p.demote?, p.promote?);
        if demote.optional || promote.optional {
            return None;
        }
        let (promote, demote) = (Some(promote.act), Some(demote.act));
        item.line("Re-promote", current, Some(next), promote, demote)
    } else if let Some(s) = start.filter(|s| !s.runnable) {
        let reason_op = match stop {
            Some(x) if m.acts[x.act].reason.is_some() => x.act,
            _ => s.act,
        };
        let action = stop.map(|x| x.act).unwrap_or(s.act);
        item.line("Stop", current, None, Some(action), Some(reason_op))
    } else if p.moving && current.is_some() {
        let verb = if st.failed { "Recover" } else { "Move" };
        item.line(
            verb,
            current,
            Some(next),
            stop.or(start).map(|x| x.act),
            None,
        )
    } else if st.failed {
        item.line(
            "Recover",
            current,
            None,
            stop.or(start).map(|x| x.act),
            None,
        )
    } else {
        item.line("Restart", current, Some(next), start.map(|x| x.act), None)
    };
    Some(line)
}

/// The lines of a primitive whose role changes (one stop line per node it
/// stops on).
fn role_change_lines(item: &Item, p: &Planned) -> Vec<String> {
    let m = item.m;
    let r = item.r;
    let st = &m.state[r];
    let (current, next, start, stop) = (p.current, p.next, p.start, p.stop);
    let (role, next_role) = (item.role, item.next_role);
    let start_blocked = start.is_some_and(|s| !s.runnable);
    let line = if stop.is_some() && (next_role == Role::Stopped || start_blocked) {
        let mut lines = Vec::new();
        for &n in &st.running_on {
            let stop_here = find(m, r, Tk::Stop, Some(n));
            let mut reason_op = start.map(|s| s.act);
            if let Some(x) = stop_here {
                if m.acts[x.act].reason.is_some() {
                    reason_op = Some(x.act);
                }
            }
            let action = stop_here.map(|x| x.act).or(reason_op);
            lines.push(item.line("Stop", Some(n), None, action, reason_op));
        }
        return lines;
    } else if stop.is_some() && st.failed && st.stop_if_failed {
        let (stop, start) = (stop.map(|x| x.act), start.map(|x| x.act));
        item.line("Recover", current, next, stop, start)
    } else if p.moving {
        item.line("Move", current, next, stop.map(|x| x.act), None)
    } else if p.reload {
        item.line("Reload", current, next, start.map(|x| x.act), None)
    } else if stop.is_some_and(|s| !s.optional) {
        item.line("Restart", current, next, start.map(|x| x.act), None)
    } else if role == Role::Promoted {
        item.line("Demote", current, next, p.demote.map(|x| x.act), None)
    } else if next_role == Role::Promoted {
        item.line("Promote", current, next, p.promote.map(|x| x.act), None)
    } else if role == Role::Stopped && next_role > Role::Stopped {
        item.line("Start", current, next, start.map(|x| x.act), None)
    } else {
        return Vec::new();
    };
    vec![line]
}

struct Item<'m, 'a> {
    m: &'m Model<'a>,
    r: usize,
    role: Role,
    next_role: Role,
}

impl Item<'_, '_> {
    /// Pacemaker's `rsc_action_item`.
    fn line(
        &self,
        change: &str,
        origin: Option<usize>,
        destination: Option<usize>,
        action: Option<usize>,
        source: Option<usize>,
    ) -> String {
        let m = self.m;
        let w = m.w;
        let name = |n: Option<usize>| n.map(|n| w.nodes[n].name.as_str()).unwrap_or("");
        let (role, next_role) = (self.role, self.next_role);
        let need_role = role > Role::Started || next_role > Role::Unpromoted;
        let same_host = origin.is_some() && origin == destination;
        let same_role = role == next_role;
        let details = match (origin, destination) {
            (None, _) if need_role => {
                format!(
                    "{} -> {} {}",
                    role.name(),
                    next_role.name(),
                    name(destination)
                )
            }
            (None, _) => name(destination).to_string(),
            (_, None) if need_role => format!("{} {}", role.name(), name(origin)),
            (_, None) => name(origin).to_string(),
            _ if need_role && same_role && same_host => format!("{} {}", role.name(), name(origin)),
            _ if same_role && same_host => name(origin).to_string(),
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
        };
        let runnable = action.is_none_or(|a| m.acts[a].is(flag::RUNNABLE));
        let source = source.or(action);
        let reason = source.and_then(|a| m.acts[a].reason.as_deref());
        let suffix = match (reason, runnable) {
            (Some(r), false) => format!(" due to {r} (blocked)"),
            (Some(r), true) => format!(" due to {r}"),
            (None, false) => " blocked".to_string(),
            (None, true) => String::new(),
        };
        format!(
            "* {change:<8}   {:<12}   ( {details} ){suffix}",
            w.rscs[self.r].id
        )
    }
}
