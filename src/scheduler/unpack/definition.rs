//! Definition changes: what the operation history says about a resource
//! whose configuration changed since it last ran.
//!
//! Each operation in the history records a digest of the parameters it ran
//! with (`model::cib::digest`). Where the resource is active, the operations since
//! its last start are compared with the configuration: changed parameters
//! restart the resource (or reload it, when the agent can and only reloadable
//! parameters changed), a recurring monitor whose parameters or timeout
//! changed is issued again, and one no longer configured is cancelled. A
//! failure recorded under a definition that has since changed no longer
//! counts towards the migration threshold.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{node_failures, Rsc, Variant, Working};
use crate::model::cib::digest;
use crate::model::cib::operation::OpKind;
use crate::model::cib::time::parse_interval_ms;
use crate::model::cib::{LrmOp, LrmResource, NodeState, Role};

/// Pacemaker's default operation timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Stop and start again where it is (`reason` for the summary, if any).
    Restart { reason: Option<&'static str> },
    /// Only reloadable parameters changed: the agent reloads them in place.
    Reload,
    /// A recurring operation whose definition changed is issued again.
    Reschedule { task: OpKind, interval_ms: u64 },
    /// A recurring operation that is no longer wanted.
    Cancel {
        task: OpKind,
        interval_ms: u64,
        call_id: i64,
        reason: &'static str,
    },
    /// The resource's agent changed: its history there is deleted.
    Cleanup,
    /// Its fail count there is cleared (the failures were of an old definition).
    ClearFailcount { reason: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub rsc: usize,
    pub node: usize,
    pub kind: ChangeKind,
}

/// Whether the digests of one history entry match the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestCheck {
    Match,
    /// The history has no digest to compare.
    Unknown,
    /// Something changed; a reload may be enough.
    Mismatch,
    /// Parameters that need a restart changed.
    Restart,
}

/// The configured timeout of `task` at `interval_ms`.
pub fn op_timeout_ms(w: &Working, rsc: &Rsc, task: &OpKind, interval_ms: u64) -> u64 {
    rsc.ops
        .iter()
        .find(|o| o.name == *task && o.interval_ms == interval_ms)
        .and_then(|o| o.timeout_ms)
        .or_else(|| {
            w.cib
                .op_defaults
                .get("timeout")
                .and_then(|t| parse_interval_ms(t))
        })
        .unwrap_or(DEFAULT_TIMEOUT_MS)
}

/// The instance attributes of the configured `task` at `interval_ms`.
fn op_params<'a>(
    rsc: &'a Rsc,
    task: &OpKind,
    interval_ms: u64,
) -> Option<&'a BTreeMap<String, String>> {
    rsc.ops
        .iter()
        .find(|o| o.name == *task && o.interval_ms == interval_ms)
        .map(|o| &o.params)
}

/// Compares one history entry's digests with what the configuration gives.
fn check_digest(w: &Working, rsc: &Rsc, op: &LrmOp) -> DigestCheck {
    // One-off operations that mean "it runs" are compared with the start.
    let task = match op.operation {
        OpKind::Monitor | OpKind::MigrateFrom | OpKind::Promote if op.interval_ms == 0 => {
            &OpKind::Start
        }
        ref other => other,
    };
    let empty = BTreeMap::new();
    let own = op_params(rsc, task, op.interval_ms).unwrap_or(&empty);
    let timeout_ms = op_timeout_ms(w, rsc, task, op.interval_ms);
    let all = digest::digest_params(&rsc.params, own, op.interval_ms, timeout_ms);
    if let Some(recorded) = &op.op_restart_digest {
        let now = digest::restart_digest(&all, op.op_force_restart.as_deref());
        if &now != recorded {
            return DigestCheck::Restart;
        }
    }
    let result = match &op.op_digest {
        None => DigestCheck::Unknown,
        Some(recorded) if *recorded == digest::params_digest(&all) => return DigestCheck::Match,
        // A one-off operation with parameters of its own is restarted, not
        // reloaded, so that its own parameters apply.
        Some(_) if op.interval_ms == 0 && !own.is_empty() => DigestCheck::Restart,
        Some(_) => DigestCheck::Mismatch,
    };
    // In a CIB whose passwords were masked (as crm_report does), only the
    // other parameters can be compared.
    if w.secrets_masked {
        if let (Some(list), Some(recorded)) = (&op.op_secure_params, &op.op_secure_digest) {
            let fence_device = rsc.agent.as_ref().is_some_and(|a| a.is_fence_device());
            let secure = digest::secure_digest(
                &rsc.params,
                &all,
                list,
                op.feature_set.as_deref(),
                fence_device,
            );
            if secure == *recorded {
                return DigestCheck::Match;
            }
        }
    }
    result
}

/// Whether the history was made by a different agent than the configured one.
fn agent_changed(rsc: &Rsc, lrm: &LrmResource) -> bool {
    match (&rsc.agent, &lrm.agent) {
        (Some(now), Some(then)) => now != then,
        _ => false,
    }
}

/// Where the operations that describe the running resource begin: the last
/// start (or migration to here), else the last promote, else the last probe
/// that found it running; `None` when it was stopped since.
fn active_stretch(ops: &[&LrmOp]) -> Option<usize> {
    let mut start = None;
    let mut stop = None;
    let mut promoted = None;
    let mut found_running = None;
    for (i, op) in ops.iter().enumerate() {
        match op.operation {
            OpKind::Stop if op.op_status == 0 => stop = Some(i),
            OpKind::Start | OpKind::MigrateFrom => start = Some(i),
            OpKind::Promote => promoted = Some(i),
            OpKind::Monitor
                if op.interval_ms == 0
                    && (op.rc == 0 || op.rc == 8)
                    && start.map(|s| Some(s) <= stop).unwrap_or(true) =>
            {
                found_running = Some(i)
            }
            _ => {}
        }
    }
    let begin = start.or(promoted).or(found_running);
    match (begin, stop) {
        (Some(b), Some(s)) if b < s => None,
        (None, _) => None,
        (b, _) => b,
    }
}

/// The effective (unexpired, positive) fail count of a resource on a node.
pub fn fail_count(w: &Working, node: usize, rsc: &Rsc) -> i64 {
    let failures = node_failures(&w.nodes[node].attrs);
    let count = failures.counts.get(&rsc.base).copied().unwrap_or(0);
    let last = failures.last.get(&rsc.base).copied().unwrap_or(0);
    let failure_timeout_s = w
        .by_id
        .get(&rsc.id)
        .map_or(rsc.failure_timeout_s, |&r| w.failure_timeout_s(r));
    if failure_timeout_s > 0 && last > 0 && last + failure_timeout_s <= w.now_epoch_s {
        return 0;
    }
    count.max(0)
}

/// Finds every definition change in the history. `states` is the status
/// section (held apart from `w.cib` while the history is replayed).
pub fn check(w: &Working, states: &[std::sync::Arc<NodeState>]) -> Vec<Change> {
    let mut changes = Vec::new();
    let cancel_orphans = w.cib.bool_property("stop-orphan-actions", true);
    let mut by_base: HashMap<&str, Vec<usize>> = HashMap::new();
    for (r, rsc) in w.rscs.iter().enumerate() {
        if rsc.variant == Variant::Primitive && !rsc.orphan && rsc.agent.is_some() {
            by_base.entry(rsc.base.as_str()).or_default().push(r);
        }
    }
    for state in states {
        let Some(node) = w
            .node_named(&state.uname)
            .or_else(|| w.node_named(&state.id))
        else {
            continue;
        };
        let info = &w.nodes[node];
        // A node that cannot run anything (down, unclean, in standby,
        // shutting down) is not checked, except that maintenance still
        // cancels monitors.
        let usable = info.online && !info.unclean && !info.standby && !info.shutdown;
        if !usable && !info.maintenance {
            continue;
        }
        for lrm in &state.lrm {
            let base = match lrm.id.rsplit_once(':') {
                Some((b, n)) if n.parse::<u32>().is_ok() => b,
                _ => lrm.id.as_str(),
            };
            if let Some(candidates) = by_base.get(base) {
                check_resource(w, node, lrm, candidates, cancel_orphans, &mut changes);
            }
        }
    }
    changes
}

fn check_resource(
    w: &Working,
    node: usize,
    lrm: &LrmResource,
    candidates: &[usize],
    cancel_orphans: bool,
    changes: &mut Vec<Change>,
) {
    // The primitive (instance) this history belongs to, active or not.
    let Some(&first) = candidates.first() else {
        return;
    };
    let active = candidates.iter().copied().find(|&r| {
        w.rscs[r]
            .current
            .iter()
            .any(|c| c.node == node && c.history_id == lrm.id)
    });
    let mut ops: Vec<&LrmOp> = lrm.ops.iter().collect();
    ops.sort_by_key(|o| (o.call_id < 0, o.call_id));
    let Some(r) = active else {
        if agent_changed(&w.rscs[first], lrm) {
            changes.push(Change {
                rsc: first,
                node,
                kind: ChangeKind::Cleanup,
            });
            clear_old_failures(w, first, node, changes, "resource parameters have changed");
        } else {
            check_last_failures(w, first, node, &ops, changes);
        }
        return;
    };
    check_active_resource(w, r, node, lrm, &ops, cancel_orphans, changes);
}

/// The history `lrm` of resource `r`, active on `node` (`ops`: its
/// operations in call order), against the configuration: a changed agent
/// restarts it, changed operations are rescheduled, reloaded or restarted.
fn check_active_resource(
    w: &Working,
    r: usize,
    node: usize,
    lrm: &LrmResource,
    ops: &[&LrmOp],
    cancel_orphans: bool,
    changes: &mut Vec<Change>,
) {
    let rsc = &w.rscs[r];
    // What a bundle or a guest node generates has no configuration of its
    // own to compare with.
    let generated =
        w.rscs[w.top_of(r)].variant == Variant::Bundle || w.guest_containers.contains_key(&rsc.id);
    if generated {
        return;
    }
    if agent_changed(rsc, lrm) {
        restart_for_new_agent(w, r, node, changes);
        return;
    }
    check_last_failures(w, r, node, ops, changes);
    let Some(begin) = active_stretch(ops) else {
        return;
    };
    let maintenance = w.nodes[node].maintenance
        || w.maintenance_mode
        || rsc
            .meta
            .get("maintenance")
            .is_some_and(|v| crate::model::cib::parse_bool(v));
    let since_start = &ops[begin..];
    let found = check_ops_since_start(
        w,
        r,
        node,
        since_start,
        maintenance,
        cancel_orphans,
        changes,
    );
    reschedule_missing_monitors(w, r, node, since_start, maintenance, changes);
    if found.restart {
        changes.push(Change {
            rsc: r,
            node,
            kind: ChangeKind::Restart {
                reason: Some("resource definition change"),
            },
        });
    }
    if found.changed {
        clear_old_failures(w, r, node, changes, "action definition changed");
    }
}

/// An active resource whose agent (class, provider or type) has changed:
/// its history is cleaned up and it restarts.
fn restart_for_new_agent(w: &Working, r: usize, node: usize, changes: &mut Vec<Change>) {
    changes.push(Change {
        rsc: r,
        node,
        kind: ChangeKind::Cleanup,
    });
    changes.push(Change {
        rsc: r,
        node,
        kind: ChangeKind::Restart { reason: None },
    });
    clear_old_failures(w, r, node, changes, "resource parameters have changed");
}

/// What checking the operations since the last start found.
struct OpsCheck {
    /// An operation's definition changed (its failures are cleared).
    changed: bool,
    /// A change that only a restart applies.
    restart: bool,
}

/// Compares each operation recorded on `node` since the last start with the
/// configuration: recurring ones no longer configured (or in maintenance)
/// are cancelled, changed ones rescheduled, reloaded or restarted.
fn check_ops_since_start(
    w: &Working,
    r: usize,
    node: usize,
    ops: &[&LrmOp],
    maintenance: bool,
    cancel_orphans: bool,
    changes: &mut Vec<Change>,
) -> OpsCheck {
    let rsc = &w.rscs[r];
    let mut found = OpsCheck {
        changed: false,
        restart: false,
    };
    let cancel = |op: &LrmOp, reason: &'static str| Change {
        rsc: r,
        node,
        kind: ChangeKind::Cancel {
            task: op.operation.clone(),
            interval_ms: op.interval_ms,
            call_id: op.call_id,
            reason,
        },
    };
    for op in ops {
        if op.interval_ms > 0 {
            if maintenance {
                changes.push(cancel(op, "maintenance mode"));
                continue;
            }
            let configured = rsc
                .ops
                .iter()
                .any(|o| o.name == op.operation && o.interval_ms == op.interval_ms);
            if !configured {
                if cancel_orphans {
                    changes.push(cancel(op, "orphan"));
                }
                found.changed = true;
                continue;
            }
        } else if !matches!(
            op.operation,
            OpKind::Monitor | OpKind::Start | OpKind::Promote | OpKind::MigrateFrom
        ) {
            continue;
        }
        match check_digest(w, rsc, op) {
            DigestCheck::Match => {}
            DigestCheck::Restart => {
                found.changed = true;
                found.restart = true;
            }
            DigestCheck::Unknown | DigestCheck::Mismatch => {
                found.changed = true;
                if apply_changed_op(w, r, node, op, changes) {
                    found.restart = true;
                }
            }
        }
    }
    found
}

/// The change an operation whose digest differs asks for: a recurring one
/// is rescheduled, a reloadable start reloaded. True when only a restart
/// applies it.
fn apply_changed_op(
    w: &Working,
    r: usize,
    node: usize,
    op: &LrmOp,
    changes: &mut Vec<Change>,
) -> bool {
    if op.interval_ms > 0 {
        changes.push(Change {
            rsc: r,
            node,
            kind: ChangeKind::Reschedule {
                task: op.operation.clone(),
                interval_ms: op.interval_ms,
            },
        });
        false
    } else if op.op_restart_digest.is_some() {
        let pending = w.rscs[r]
            .current
            .iter()
            .any(|c| c.node == node && c.pending_op);
        let kind = if pending {
            // A start still in flight cannot be reloaded: stop it.
            ChangeKind::Restart { reason: None }
        } else {
            ChangeKind::Reload
        };
        changes.push(Change { rsc: r, node, kind });
        false
    } else {
        true
    }
}

/// A configured monitor that never ran since the start (added to the
/// configuration, or its interval changed) is issued now.
fn reschedule_missing_monitors(
    w: &Working,
    r: usize,
    node: usize,
    since_start: &[&LrmOp],
    maintenance: bool,
    changes: &mut Vec<Change>,
) {
    let rsc = &w.rscs[r];
    let role = rsc
        .current
        .iter()
        .find(|c| c.node == node)
        .map(|c| c.role)
        .unwrap_or(Role::Started);
    for op in &rsc.ops {
        if op.name != OpKind::Monitor || op.interval_ms == 0 || !op.enabled || maintenance {
            continue;
        }
        let wanted = match op.role {
            Some(Role::Promoted) => role == Role::Promoted,
            Some(Role::Stopped) => false,
            _ => role != Role::Promoted,
        };
        let ran = since_start
            .iter()
            .any(|o| o.operation == OpKind::Monitor && o.interval_ms == op.interval_ms);
        if wanted && !ran {
            changes.push(Change {
                rsc: r,
                node,
                kind: ChangeKind::Reschedule {
                    task: OpKind::Monitor,
                    interval_ms: op.interval_ms,
                },
            });
        }
    }
}

/// A failed start or monitor recorded under parameters that have changed
/// since: its fail count is cleared.
fn check_last_failures(
    w: &Working,
    r: usize,
    node: usize,
    ops: &[&LrmOp],
    changes: &mut Vec<Change>,
) {
    let rsc = &w.rscs[r];
    for op in ops {
        if !op.id.contains("last_failure")
            || !matches!(op.operation, OpKind::Start | OpKind::Monitor)
        {
            continue;
        }
        if matches!(
            check_digest(w, rsc, op),
            DigestCheck::Mismatch | DigestCheck::Restart
        ) {
            clear_old_failures(w, r, node, changes, "resource parameters have changed");
        }
    }
}

fn clear_old_failures(
    w: &Working,
    r: usize,
    node: usize,
    changes: &mut Vec<Change>,
    reason: &'static str,
) {
    let already = changes.iter().any(|c| {
        c.rsc == r && c.node == node && matches!(c.kind, ChangeKind::ClearFailcount { .. })
    });
    if !already && fail_count(w, node, &w.rscs[r]) > 0 {
        changes.push(Change {
            rsc: r,
            node,
            kind: ChangeKind::ClearFailcount { reason },
        });
    }
}

/// The (resource base id, node) pairs whose fail counts are being cleared.
pub fn cleared_failcounts(w: &Working, changes: &[Change]) -> HashSet<(String, usize)> {
    changes
        .iter()
        .filter(|c| matches!(c.kind, ChangeKind::ClearFailcount { .. }))
        .map(|c| (w.rscs[c.rsc].base.clone(), c.node))
        .collect()
}
