//! Unfencing: fence devices that cut a node off from shared storage (SCSI
//! reservations, for example) must let it back in before anything that
//! needs the storage runs there.
//!
//! Unfencing is in use when a fence device says `provides=unfencing`. Then
//! every resource requires unfencing by default (`requires=unfencing`), and
//! a node that was never unfenced (no `#node-unfenced` attribute) is
//! unfenced before a probe or start of such a resource, or of a fence
//! device, runs there. A fence device whose definition changed unfences the
//! nodes it ran on again, and what needs unfencing there restarts after it.

use super::{Decision, Tk};
use crate::model::cib::{parse_bool, NodeKind};
use crate::scheduler::unpack::definition::ChangeKind;
use crate::scheduler::unpack::{Variant, Working};

/// Whether a primitive is a fence device.
fn is_fence_device(w: &Working, r: usize) -> bool {
    w.rscs[r]
        .agent
        .as_ref()
        .is_some_and(|a| a.is_fence_device())
}

/// Whether any fence device unfences: the meta-attribute
/// `provides=unfencing` (an instance attribute of that name is not read).
pub fn in_use(w: &Working) -> bool {
    w.fencing_enabled
        && w.rscs.iter().enumerate().any(|(r, rsc)| {
            is_fence_device(w, r)
                && rsc.meta.get("provides").map(String::as_str) == Some("unfencing")
        })
}

/// Whether a primitive's probes and starts wait for unfencing of their node.
pub fn waits_for_unfencing(w: &Working, r: usize) -> bool {
    if is_fence_device(w, r) {
        return true;
    }
    match w.rscs[r].meta.get("requires").map(String::as_str) {
        Some(requires) => requires == "unfencing",
        None => true,
    }
}

/// Whether a node has been unfenced since it joined.
fn unfenced(w: &Working, n: usize) -> bool {
    w.nodes[n]
        .attrs
        .get("#node-unfenced")
        .is_some_and(|v| v != "0" && !v.is_empty() && parse_bool_or_time(v))
}

/// `#node-unfenced` holds the time it happened; "false"-like values mean no.
fn parse_bool_or_time(v: &str) -> bool {
    v.parse::<i64>()
        .map(|t| t > 0)
        .unwrap_or_else(|_| parse_bool(v))
}

/// Whether a node can be unfenced now (a pending node runs nothing yet).
fn eligible(w: &Working, n: usize) -> bool {
    let node = &w.nodes[n];
    node.online && !node.pending && !node.unclean && !node.shutdown && node.kind == NodeKind::Member
}

/// Which nodes are unfenced, and why.
pub fn reasons(w: &Working, decisions: &[Decision]) -> Vec<Option<String>> {
    let mut reason: Vec<Option<String>> = vec![None; w.nodes.len()];
    if !in_use(w) {
        return reason;
    }
    // A fence device whose definition changed unfences again where it ran.
    for change in &w.changes {
        if !is_fence_device(w, change.rsc) || !eligible(w, change.node) {
            continue;
        }
        let why = match change.kind {
            ChangeKind::Cleanup => "Device definition changed",
            ChangeKind::Restart { reason: Some(_) } => "Device parameters changed",
            ChangeKind::Reload => "Device parameters changed (reload)",
            _ => continue,
        };
        reason[change.node].get_or_insert_with(|| why.to_string());
    }
    // A node never unfenced is, before the first probe or start that needs it.
    for n in 0..w.nodes.len() {
        if reason[n].is_some() || !eligible(w, n) || unfenced(w, n) {
            continue;
        }
        let needs = |task: Tk| {
            w.rscs.iter().enumerate().find(|&(r, rsc)| {
                rsc.variant == Variant::Primitive
                    && waits_for_unfencing(w, r)
                    && decisions[r].managed
                    && match task {
                        Tk::Monitor => !rsc.known_on[n] && !rsc.current.iter().any(|c| c.node == n),
                        _ => {
                            decisions[r].next == Some(n)
                                && decisions[r].start
                                && decisions[r].start_runnable
                        }
                    }
            })
        };
        let first = needs(Tk::Monitor)
            .map(|(_, rsc)| (rsc, Tk::Monitor))
            .or_else(|| needs(Tk::Start).map(|(_, rsc)| (rsc, Tk::Start)));
        if let Some((rsc, task)) = first {
            reason[n] = Some(format!("required by {} {}", rsc.id, task.name()));
        }
    }
    reason
}

/// What needs unfencing and runs on a node being unfenced starts again
/// after it. (Restarts add no unfencing: a node unfenced already has its
/// reason, so [`reasons`] gives the same answer before and after.)
pub fn restart_for_unfencing(w: &Working, decisions: &mut [Decision]) {
    let reason = reasons(w, decisions);
    if reason.iter().all(Option::is_none) {
        return;
    }
    for (r, d) in decisions.iter_mut().enumerate() {
        if w.rscs[r].variant != Variant::Primitive || !waits_for_unfencing(w, r) {
            continue;
        }
        let Some(n) = d.current else { continue };
        if reason[n].is_none() || d.next != Some(n) || d.start || !d.managed {
            continue;
        }
        d.start = true;
        d.start_runnable = true;
        d.reload = false;
        if !d.stop_on.contains(&n) {
            d.stop_on.push(n);
        }
        if d.start_reason.is_none() {
            d.start_reason = Some("required stonith".into());
        }
    }
}
