//! Replaying one resource's operations on one node, oldest first: what its
//! last state is, whether it failed, and what the failure asks for.

use super::working::Rsc;
use crate::model::cib::operation::OpKind;
use crate::model::cib::{LrmOp, LrmResource, Role};

/// The result of replaying one primitive's history on one node.
pub(super) struct Replay {
    /// A hard error (invalid args, privileges, not installed): never here again.
    pub(super) ban_here: bool,
    /// Not configured: nowhere at all.
    pub(super) ban_everywhere: bool,
    pub(super) needs_demote: bool,
    pub(super) role: Role,
    pub(super) failed: bool,
    pub(super) on_fail: Option<String>,
    pub(super) stop_failed: bool,
    pub(super) pending: bool,
    pub(super) migrated_to: Option<String>,
}

/// What a failed operation asks for (Pacemaker's on-fail): the configured
/// value where valid, else the default: restarting the container for a
/// resource inside one, resetting the remote node for a connection that
/// was up (anything but a probe or a start), fencing (or blocking, without
/// fencing) for a stop, restarting for anything else.
pub(super) fn op_on_fail(rsc: &Rsc, op: &LrmOp, fencing: bool, remote_conn: bool) -> String {
    let configured = rsc
        .ops
        .iter()
        .find(|o| o.name == op.operation && o.interval_ms == op.interval_ms)
        .and_then(|o| o.on_fail.clone());
    let in_container = rsc.meta.get("container").is_some_and(|c| *c != rsc.base);
    let explicit = configured.and_then(|c| match c.to_ascii_lowercase().as_str() {
        "block" | "standby" | "stop" | "restart" | "demote" => Some(c.to_ascii_lowercase()),
        "ignore" | "nothing" => Some("ignore".to_string()),
        "migrate" => Some("ban".to_string()),
        "fence" if fencing => Some("fence".to_string()),
        "restart-container" if in_container => Some("restart-container".to_string()),
        _ => None,
    });
    let is_probe = op.is_probe();
    let needs_remote_reset = remote_conn && !is_probe && op.operation != OpKind::Start;
    let explicit = explicit.filter(|_| !needs_remote_reset || rsc.managed);
    if let Some(c) = explicit {
        return c;
    }
    if in_container {
        return "restart-container".into();
    }
    if needs_remote_reset {
        return if rsc.managed {
            "reset-remote".into()
        } else {
            "stop".into()
        };
    }
    if op.operation == OpKind::Stop {
        return if fencing {
            "fence".into()
        } else {
            "block".into()
        };
    }
    "restart".into()
}

/// The rc the controller expected of an operation: the third field of its
/// transition key ("action:transition:expected-rc:uuid").
pub(super) fn expected_rc_of(op: &crate::model::cib::LrmOp) -> Option<i32> {
    op.transition_key
        .as_deref()
        .and_then(|k| k.split(':').nth(2))
        .and_then(|v| v.parse::<i32>().ok())
}

/// Replays a primitive's operations on one node in call order (pending
/// calls, numbered -1, last).
pub(super) fn replay(
    rsc: &Rsc,
    lrm: &LrmResource,
    now: i64,
    failure_timeout_s: i64,
    fencing: bool,
    remote_conn: bool,
    managed: bool,
) -> Replay {
    let mut ops: Vec<&LrmOp> = lrm.ops.iter().collect();
    ops.sort_by_key(|o| (o.call_id < 0, o.call_id));
    let ctx = ReplayContext {
        rsc,
        now,
        failure_timeout_s,
        fencing,
        remote_conn,
        managed,
    };
    let mut st = Replay {
        ban_here: false,
        ban_everywhere: false,
        needs_demote: false,
        role: Role::Unknown,
        failed: false,
        on_fail: None,
        stop_failed: false,
        pending: false,
        migrated_to: None,
    };
    for op in ops {
        st.apply(&ctx, op);
    }
    st
}

/// What a replay needs besides the operations.
struct ReplayContext<'a> {
    rsc: &'a Rsc,
    now: i64,
    /// `Working::failure_timeout_s` of the resource.
    failure_timeout_s: i64,
    fencing: bool,
    remote_conn: bool,
    /// Managed (not unmanaged, nor in maintenance, nor the cluster in
    /// maintenance mode).
    managed: bool,
}

impl ReplayContext<'_> {
    fn on_fail(&self, op: &LrmOp) -> String {
        op_on_fail(self.rsc, op, self.fencing, self.remote_conn)
    }
}

/// OCF 1.1 "degraded" codes count as their healthy equivalents.
fn healthy_rc(rc: i32) -> i32 {
    match rc {
        190 => 0,
        191 => 8,
        other => other,
    }
}

/// Whether an operation that completed got what it should. Status "error"
/// (4) in old CIBs just means the rc was not 0; the rc decides. Other
/// statuses (timeout, not supported...) are failures. A recurring monitor is
/// fine when it got the rc the controller expected.
fn succeeded(op: &LrmOp, rc: i32, expected_rc: Option<i32>, is_probe: bool) -> bool {
    let rc_ok = match op.operation {
        OpKind::Monitor if is_probe => rc == 0 || rc == 7 || rc == 8,
        OpKind::Monitor => match expected_rc {
            Some(e) if rc == 0 || rc == 7 || rc == 8 => e == rc,
            _ => rc == 0 || rc == 8 || rc == 7,
        },
        _ => rc == 0,
    };
    rc_ok && (op.op_status == 0 || op.op_status == 4)
}

impl Replay {
    /// One operation, in call order.
    fn apply(&mut self, ctx: &ReplayContext<'_>, op: &LrmOp) {
        let expired = ctx.failure_timeout_s > 0
            && op
                .last_rc_change
                .is_some_and(|t| t + ctx.failure_timeout_s <= ctx.now);
        let is_probe = op.is_probe();
        // Execution status: -1 pending, 0 done, 1 cancelled, 2 timed out,
        // 3 not supported, 4 error (rc says more), 5 hard error, 6 fatal,
        // 7 not installed.
        if op.op_status == -1 || op.call_id == -1 {
            self.in_flight(op, expired);
            return;
        }
        if op.op_status == 1 {
            return; // cancelled
        }
        if op.op_status == 5 || op.op_status == 7 {
            self.ban_here = true;
        }
        if op.op_status == 6 {
            self.ban_everywhere = true;
        }
        let rc = healthy_rc(op.rc);
        // The transition key "action:transition:expected-rc:uuid" says what
        // the controller expected.
        let expected_rc = expected_rc_of(op);
        let success = succeeded(op, rc, expected_rc, is_probe);
        // Any operation that found it stopped when the controller expected
        // exactly that (the transition key says so) is no failure; nor is
        // one on an unmanaged resource, which the cluster does not recover
        // (Pacemaker's `determine_op_status`: not running is then simply
        // stopped).
        let found_stopped = rc == 7 && (op.op_status == 0 || op.op_status == 4);
        if found_stopped
            && (!ctx.managed || (op.operation != OpKind::Monitor && expected_rc == Some(7)))
        {
            self.role = Role::Stopped;
            clear(self);
            return;
        }
        if success
            && op.operation == OpKind::Monitor
            && !is_probe
            && rc == 7
            && expected_rc == Some(7)
        {
            // A role=Stopped monitor confirming it is stopped.
            self.role = Role::Stopped;
            return;
        }
        if success {
            self.success(ctx, op, rc, is_probe, expired);
        } else if !expired || op.operation == OpKind::Stop {
            // An expired failure is forgotten, but a failed stop stays.
            self.failure(ctx, op, rc, is_probe);
        }
    }

    /// An operation still in flight: a start or promote in progress means
    /// active.
    fn in_flight(&mut self, op: &LrmOp, expired: bool) {
        // An operation past failure-timeout that has not got the result
        // expected of it counts as an expired failure: ignored, even in
        // flight.
        if expired && op.rc != expected_rc_of(op).unwrap_or(0) {
            return;
        }
        match op.operation {
            OpKind::Start | OpKind::MigrateFrom => self.role = Role::Started,
            OpKind::Promote => self.role = Role::Promoted,
            // A stop, demote, monitor or migrate_to in flight does not
            // change what the last completed operation said.
            _ => {}
        }
        self.pending = true;
    }

    /// An operation that got what it should.
    fn success(
        &mut self,
        ctx: &ReplayContext<'_>,
        op: &LrmOp,
        rc: i32,
        is_probe: bool,
        expired: bool,
    ) {
        match op.operation {
            OpKind::Start | OpKind::MigrateFrom => {
                self.role = Role::Started;
                self.migrated_to = None;
                clear(self);
            }
            OpKind::Stop => {
                self.role = Role::Stopped;
                self.migrated_to = None;
                self.stop_failed = false;
                clear(self);
            }
            OpKind::Promote => {
                self.role = Role::Promoted;
                clear(self);
            }
            OpKind::Demote => {
                self.role = Role::Unpromoted;
                // A demote settles only a failure that asked for it.
                self.needs_demote = false;
                if self.on_fail.as_deref() == Some("demote") {
                    clear(self);
                }
            }
            OpKind::MigrateTo => {
                self.role = Role::Started;
                self.migrated_to = op.migrate_target.clone();
            }
            OpKind::Monitor => self.monitored(ctx, op, rc, is_probe, expired),
            // Other operations (notify, reload, meta-data...) say nothing
            // about the role.
            _ => {}
        }
    }

    /// A monitor (or probe) that got what it should: what it found.
    fn monitored(
        &mut self,
        ctx: &ReplayContext<'_>,
        op: &LrmOp,
        rc: i32,
        is_probe: bool,
        expired: bool,
    ) {
        if rc == 7 {
            if is_probe {
                self.role = Role::Stopped;
                clear(self);
            } else if !expired {
                // A recurring monitor finding it stopped is a failure.
                self.role = Role::Stopped;
                self.failed = true;
                self.on_fail = Some(ctx.on_fail(op));
            }
        } else if rc == 8 {
            self.role = Role::Promoted;
        } else if self.role == Role::Unknown || self.role == Role::Stopped || is_probe {
            self.role = Role::Started;
        }
    }

    /// A failed operation (not expired, or a stop).
    fn failure(&mut self, ctx: &ReplayContext<'_>, op: &LrmOp, rc: i32, is_probe: bool) {
        match rc {
            2 | 4 | 5 => self.ban_here = true,
            6 => self.ban_everywhere = true,
            // Other codes say nothing about where it may run.
            _ => {}
        }
        if is_probe && rc == 5 {
            // Not installed: treat as stopped there.
            self.role = Role::Stopped;
            return;
        }
        // Hard errors cannot be ignored: the agent will not work there.
        let hard = matches!(op.op_status, 5..=7) || matches!(rc, 2 | 4..=6);
        let mut on_fail = ctx.on_fail(op);
        if on_fail == "ignore" && !hard {
            return;
        }
        if on_fail == "ignore" {
            // A hard error cannot be ignored: the resource is banned there.
            on_fail = "ban".to_string();
        }
        if on_fail == "demote"
            && op.operation == OpKind::Monitor
            && !is_probe
            && self.role == Role::Promoted
        {
            // Demote (and maybe promote again), no full recovery.
            self.needs_demote = true;
            return;
        }
        self.role = self.role_after_failure(op, rc, &on_fail);
        if op.operation == OpKind::Stop {
            self.stop_failed = true;
            // Where a stop failed, the resource may not run again (unless
            // restarting its container settles the failure).
            self.ban_here |= on_fail != "restart-container";
        }
        self.failed = true;
        self.on_fail = Some(on_fail);
    }

    /// The role a failed operation leaves the resource in.
    fn role_after_failure(&self, op: &LrmOp, rc: i32, on_fail: &str) -> Role {
        match op.operation {
            OpKind::Stop => Role::Started,
            OpKind::Promote => Role::Promoted,
            // A failed demote leaves it unpromoted (or stopped).
            OpKind::Demote if rc == 7 => Role::Stopped,
            // ...unless it is blocked, and so still promoted.
            OpKind::Demote if on_fail == "block" => Role::Promoted,
            OpKind::Demote => Role::Unpromoted,
            OpKind::Monitor if rc == 9 || rc == 8 => Role::Promoted,
            OpKind::Start | OpKind::MigrateTo | OpKind::MigrateFrom => Role::Started,
            _ if self.role == Role::Unknown || self.role == Role::Stopped => Role::Started,
            _ => self.role,
        }
    }
}

pub(super) fn clear(st: &mut Replay) {
    match st.on_fail.as_deref() {
        Some("stop") | Some("fence") | Some("standby") => {}
        _ => {
            st.failed = false;
            st.on_fail = None;
        }
    }
}
