//! Pacemaker Remote nodes between assignment and fencing.
//!
//! A remote node is only as reachable as its connection resource. Once the
//! connections are placed, [`settle`] brings up the remote nodes whose
//! connection will run (calling off a fencing that was only needed if the
//! connection could not be re-established) and shuts down the others. Once
//! the actions are known, [`fence_unrecoverable`] fences the remote nodes
//! that still have work to do (a stop, a probe) but no connection left to do
//! it over: Pacemaker's "connection is unrecoverable" fencing.

use super::Plan;
use crate::model::cib::{NodeKind, Role};
use crate::scheduler::actions::Decision;
use crate::scheduler::unpack::Working;

/// Where a remote node's connection stands for this transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Running on a healthy cluster node and staying there.
    Alive,
    /// Will run, but its current cluster node is lost: it moves first.
    Resting,
    /// Will run, not running now: whether it comes up is not yet known.
    Unknown,
    /// Cleanly stopped and staying stopped.
    Stopped,
    /// Will not run anywhere, and the node cannot be reached otherwise.
    Failed,
}

/// The connection resource behind a (non-guest) remote node.
fn connection_of(w: &Working, n: usize) -> Option<usize> {
    let node = &w.nodes[n];
    if node.kind != NodeKind::Remote {
        return None;
    }
    node.connection
        .as_ref()
        .and_then(|c| w.by_id.get(c))
        .copied()
}

/// Whether the connection will run in this transition.
fn connection_runs(w: &Working, plan: &Plan, c: usize) -> bool {
    plan.assigned[c].is_some()
        && plan.next_role[c] != Role::Stopped
        && w.rscs[c].target_role != Role::Stopped
}

/// Remote nodes follow their connection's placement: up when it will run
/// (a fencing that was only needed should it not run is called off), shut
/// down otherwise, so that nothing stays there.
pub fn settle(w: &mut Working, plan: &Plan) {
    // A guest node too comes up once its connection is placed (its
    // container will run): actions there can be scheduled.
    for n in 0..w.nodes.len() {
        if w.nodes[n].kind != NodeKind::Guest {
            continue;
        }
        let conn = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .copied();
        if let Some(c) = conn {
            if plan.assigned[c].is_some() && plan.next_role[c] != Role::Stopped {
                w.nodes[n].online = true;
            }
        }
    }
    for n in 0..w.nodes.len() {
        let Some(c) = connection_of(w, n) else {
            continue;
        };
        if connection_runs(w, plan, c) {
            w.nodes[n].online = true;
            if w.nodes[n].fence_revocable {
                w.nodes[n].unclean = false;
                w.nodes[n].fence_revocable = false;
            }
        } else {
            w.nodes[n].shutdown = true;
        }
    }
}

/// The state of a remote node's connection, or None for other nodes.
pub fn connection_state(w: &Working, plan: &Plan, n: usize) -> Option<ConnectionState> {
    let c = connection_of(w, n)?;
    let rsc = &w.rscs[c];
    let host = rsc.current.first().map(|cur| cur.node);
    if !connection_runs(w, plan, c) {
        // On a lost cluster node and going nowhere: unrecoverable.
        if host.is_some_and(|h| w.nodes[h].unclean) {
            return Some(ConnectionState::Failed);
        }
        if !rsc.failed() {
            return Some(ConnectionState::Stopped);
        }
        // Failed, but waiting out a reconnect interval after the node was
        // fenced: whether it can be reached again is not known yet.
        let reconnects = w.reconnect_interval_s(c) > 0;
        let shutdown_requested = w.nodes[n].attrs.get("shutdown").is_some_and(|v| v != "0");
        if reconnects && w.nodes[n].was_fenced && !shutdown_requested {
            return Some(ConnectionState::Unknown);
        }
        return Some(ConnectionState::Failed);
    }
    match host {
        None => Some(ConnectionState::Unknown),
        Some(h) if w.nodes[h].unclean || !w.nodes[h].online => Some(ConnectionState::Resting),
        Some(_) => Some(ConnectionState::Alive),
    }
}

/// Whether a probe of `r` would run on node `n`: managed, allowed there
/// (resource discovery), and its state there unknown.
fn needs_probe(w: &Working, plan: &Plan, decisions: &[Decision], r: usize, n: usize) -> bool {
    let rsc = &w.rscs[r];
    decisions[r].probe
        && plan.allowed[r][n]
        && !rsc.known_on[n]
        && !rsc.current.iter().any(|c| c.node == n)
}

/// Fences the remote nodes whose connection is unrecoverable and that still
/// need it: offline ones outright, online ones when a resource must be
/// probed (its state there is unknown) or stopped (it is active there).
/// The first reason recorded for a node is the one reported.
pub fn fence_unrecoverable(
    w: &mut Working,
    plan: &Plan,
    decisions: &[Decision],
    fence: &mut [bool],
    reason: &mut [String],
) {
    for n in 0..w.nodes.len() {
        if connection_state(w, plan, n) != Some(ConnectionState::Failed) {
            continue;
        }
        let why = if !w.nodes[n].online {
            Some("the connection is unrecoverable")
        } else if w.nodes[n].unclean {
            None
        } else {
            let primitives = || {
                (0..w.rscs.len())
                    .filter(|&r| w.rscs[r].variant == crate::scheduler::unpack::Variant::Primitive)
            };
            if primitives().any(|r| needs_probe(w, plan, decisions, r, n)) {
                Some("resources are in unknown state and connection is unrecoverable")
            } else if primitives()
                .any(|r| decisions[r].managed && decisions[r].stop_on.contains(&n))
            {
                Some("resources are active but connection is unrecoverable")
            } else {
                None
            }
        };
        let Some(why) = why else { continue };
        w.nodes[n].mark_unclean(why.to_string());
        if can_fence(w, n) {
            fence[n] = true;
            reason[n] = w.nodes[n].unclean_reason.clone();
        }
    }
}

/// Whether a node may be fenced now: fencing is enabled, something can
/// fence, and the partition has quorum (or ignores its loss) or the node is
/// still in the membership.
pub fn can_fence(w: &Working, n: usize) -> bool {
    let quorate = w.have_quorum || w.no_quorum_policy == "ignore";
    w.fencing_enabled && w.have_fencing && (quorate || w.nodes[n].online)
}
