//! Leaving the cluster cleanly: announce the shutdown, let the DC move
//! this node's resources away, then go; and leave when the CIB asks it.

use crate::actors::control::{modify_local_cib, CONTROL_REQUEST_TIMEOUT_MS};
use crate::actors::daemon::NodeHandle;

/// How long a stopping node waits for the cluster to move its resources
/// away before it leaves regardless.
pub const SHUTDOWN_DRAIN_TIMEOUT_MS: u64 = 20_000;

/// A clean leave, as Pacemaker's: mark this node as shutting down (the
/// transient `shutdown` attribute), let the DC stop or move its resources,
/// then go. The DC then records the node as down, not lost, so it is not
/// fenced. Gives up after `timeout_ms` (no DC, no quorum, a stop that hangs).
pub async fn leave_cleanly(node: &NodeHandle, timeout_ms: u64) {
    let me = node.shared.node.clone();
    // Announced even when nothing runs here: a node gone without a word
    // is recorded as lost, and fenced.
    if node.shared.dc_info().dc.is_none() {
        return;
    }
    let announced = crate::actors::shared::now_epoch_s().to_string();
    // Noted before it is sent, for the next incarnation: the change may be
    // committed even when its answer does not reach us (the DC left first),
    // and a goodbye of this second must not read as a request to it.
    let file = node.shared.state_dir.join(SHUTDOWN_ANNOUNCED_FILE);
    if let Err(error) = std::fs::write(&file, &announced) {
        tracing::warn!(%error, file = %file.display(), "could not remember the announced shutdown");
    }
    let change = crate::actors::message::CibChange::SetTransientAttribute {
        node: me.clone(),
        name: "shutdown".into(),
        value: Some(announced.clone()),
    };
    let answer = modify_local_cib(
        &node.router,
        "control",
        change,
        CONTROL_REQUEST_TIMEOUT_MS.min(timeout_ms),
    )
    .await;
    if let Err(error) = answer {
        tracing::warn!(%error, "could not announce the shutdown; leaving anyway");
        return;
    }
    tracing::info!("waiting for the cluster to move this node's resources away");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    while tokio::time::Instant::now() < deadline {
        if !crate::scheduler::status::runs_anything_on(&node.shared.cib(), &me) {
            tracing::info!("no resources left here; leaving the cluster");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::warn!(
        timeout_ms,
        "resources still here at the shutdown timeout; leaving anyway"
    );
}

/// In the state dir: the `shutdown` value this node's last clean leave
/// announced.
pub(crate) const SHUTDOWN_ANNOUNCED_FILE: &str = "shutdown-announced";

/// How often a node looks for a `shutdown` request made for it elsewhere
/// (`systole cluster stop --node N` from another node).
pub const SHUTDOWN_REQUEST_POLL_MS: u64 = 500;

/// Leaves the cluster when the CIB asks this node to (its transient
/// `shutdown` attribute, set since this daemon started: one left over from
/// before a restart is not a request).
pub(crate) fn watch_for_shutdown_requests(node: &NodeHandle) {
    let node = node.clone();
    let started_epoch_s = crate::actors::shared::now_epoch_s();
    // The attribute is in seconds: a daemon restarted within the second it
    // left in would take its own goodbye (still in the CIB until the DC
    // records the leave) for a request. The last incarnation noted it.
    let announced_file = node.shared.state_dir.join(SHUTDOWN_ANNOUNCED_FILE);
    let mut left_over = std::fs::read_to_string(&announced_file).ok();
    tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(SHUTDOWN_REQUEST_POLL_MS)).await;
            let cib = node.shared.cib();
            let value = crate::actors::attrd::transient_value(&cib, &node.shared.node, "shutdown");
            if value.is_some() && value == left_over {
                // Until it is gone the scheduler keeps everything off
                // this node (a DC that left records no leave for itself).
                if withdraw_left_over_shutdown(&node).await {
                    left_over = None;
                    let _ = std::fs::remove_file(&announced_file);
                }
                continue;
            }
            let requested = value != left_over
                && value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|at| at >= started_epoch_s);
            if requested {
                tracing::info!("the cluster asks this node to stop");
                node.shutdown.notify_one();
                return;
            }
        }
    });
}

/// Removes the `shutdown` attribute the previous incarnation of this node
/// left in the CIB; false while there is no quorum to write it.
pub(crate) async fn withdraw_left_over_shutdown(node: &NodeHandle) -> bool {
    let change = crate::actors::message::CibChange::SetTransientAttribute {
        node: node.shared.node.clone(),
        name: "shutdown".into(),
        value: None,
    };
    match modify_local_cib(&node.router, "control", change, CONTROL_REQUEST_TIMEOUT_MS).await {
        Err(error) => {
            tracing::debug!(%error, "the last incarnation's shutdown stays for now");
            false
        }
        Ok(_) => {
            tracing::info!("withdrew the shutdown the last incarnation announced");
            true
        }
    }
}
