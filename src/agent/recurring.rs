//! Recurring monitors, like Pacemaker's executor runs them.
//!
//! A [`RecurringManager`] keeps one task per (resource, interval_ms). Each
//! task runs its monitor every interval, the first run one interval after the
//! start, never overlapping itself (each run is due one interval after the
//! previous one ended). It reports upward through a
//! tokio mpsc channel only when the result changes: the first result that is
//! not the expected one (a first failure), and every change after that.
//!
//! [`RecurringManager::cancel`] aborts the task and waits for it: a run in
//! flight is killed with its whole process group before it returns.
//! [`RecurringManager::start`] and [`RecurringManager::abort`] are not async,
//! for callers (actors) that cannot await.
//!
//! ```no_run
//! # async fn demo(request: systole::agent::ocf::OcfRequest) {
//! use systole::agent::ocf::OcfRc;
//! use systole::agent::recurring::RecurringManager;
//!
//! let (reports_tx, mut reports_rx) = tokio::sync::mpsc::channel(64);
//! let mut monitors = RecurringManager::new(reports_tx);
//! monitors.start(request.with_interval_ms(10_000), OcfRc::Success).unwrap();
//! while let Some(report) = reports_rx.recv().await {
//!     println!("{} changed: {}", report.key, report.outcome);
//! }
//! # }
//! ```

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ocf::{OcfAction, OcfOutcome, OcfRc, OcfRequest, OpStatus};

/// Default limit on the number of recurring monitors of one manager.
pub const MONITORS_MAX_DEFAULT: usize = 10_000;

/// Identifies a recurring monitor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MonitorKey {
    pub resource_id: String,
    pub interval_ms: u64,
}

impl fmt::Display for MonitorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_monitor_{}", self.resource_id, self.interval_ms)
    }
}

/// A change in a recurring monitor's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorReport {
    pub key: MonitorKey,
    /// The result before this one (the expected one before the first run).
    pub previous_status: OpStatus,
    pub previous_rc: OcfRc,
    pub outcome: OcfOutcome,
    /// How many times the monitor has run, this run included.
    pub run_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurringError {
    #[error("a recurring operation must be a monitor, not {0}")]
    NotAMonitor(OcfAction),
    #[error("a recurring monitor needs interval_ms > 0")]
    ZeroInterval,
    #[error("{monitors_max} recurring monitors already run (monitors_max)")]
    TooMany { monitors_max: usize },
}

/// Starts, runs and cancels recurring monitors. Must be used inside a tokio
/// runtime (actix arbiters are one).
pub struct RecurringManager {
    monitors: HashMap<MonitorKey, JoinHandle<()>>,
    reports: mpsc::Sender<MonitorReport>,
    monitors_max: usize,
}

impl RecurringManager {
    pub fn new(reports: mpsc::Sender<MonitorReport>) -> RecurringManager {
        RecurringManager {
            monitors: HashMap::new(),
            reports,
            monitors_max: MONITORS_MAX_DEFAULT,
        }
    }

    pub fn with_monitors_max(mut self, monitors_max: usize) -> RecurringManager {
        self.monitors_max = monitors_max;
        self
    }

    /// Starts a recurring monitor for `req.resource_id` every
    /// `req.interval_ms`, replacing (aborting) one with the same key.
    /// `expected_rc` is the result that needs no report (`Success`, or
    /// `RunningPromoted` for a promoted instance's monitor). Not async, so
    /// that an actor can call it from a plain handler.
    pub fn start(
        &mut self,
        req: OcfRequest,
        expected_rc: OcfRc,
    ) -> Result<MonitorKey, RecurringError> {
        if req.action != OcfAction::Monitor {
            return Err(RecurringError::NotAMonitor(req.action.clone()));
        }
        if req.interval_ms == 0 {
            return Err(RecurringError::ZeroInterval);
        }
        let key = MonitorKey {
            resource_id: req.resource_id.clone(),
            interval_ms: req.interval_ms,
        };
        self.abort(&key.resource_id, key.interval_ms);
        self.monitors.retain(|_, task| !task.is_finished());
        if self.monitors.len() >= self.monitors_max {
            return Err(RecurringError::TooMany {
                monitors_max: self.monitors_max,
            });
        }
        let task = tokio::spawn(monitor_loop(
            req,
            key.clone(),
            expected_rc,
            self.reports.clone(),
        ));
        self.monitors.insert(key.clone(), task);
        Ok(key)
    }

    /// Cancels one monitor; true if it existed. When this returns, no
    /// process of it is left.
    pub async fn cancel(&mut self, resource_id: &str, interval_ms: u64) -> bool {
        let key = MonitorKey {
            resource_id: resource_id.to_string(),
            interval_ms,
        };
        match self.monitors.remove(&key) {
            Some(task) => {
                stop(task).await;
                true
            }
            None => false,
        }
    }

    /// Cancels one monitor without waiting; true if it existed. A run in
    /// flight is killed (its whole group, SIGKILL) as soon as the runtime
    /// drops the aborted task, normally within the current tick. Use
    /// [`RecurringManager::cancel`] to wait for that.
    pub fn abort(&mut self, resource_id: &str, interval_ms: u64) -> bool {
        let key = MonitorKey {
            resource_id: resource_id.to_string(),
            interval_ms,
        };
        match self.monitors.remove(&key) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    /// Cancels every monitor of a resource; returns how many there were.
    pub async fn cancel_resource(&mut self, resource_id: &str) -> usize {
        let keys: Vec<MonitorKey> = self
            .monitors
            .keys()
            .filter(|key| key.resource_id == resource_id)
            .cloned()
            .collect();
        for key in &keys {
            self.cancel(&key.resource_id, key.interval_ms).await;
        }
        keys.len()
    }

    /// Cancels every monitor.
    pub async fn cancel_all(&mut self) {
        for (_, task) in self.monitors.drain() {
            stop(task).await;
        }
    }

    pub fn is_active(&self, resource_id: &str, interval_ms: u64) -> bool {
        let key = MonitorKey {
            resource_id: resource_id.to_string(),
            interval_ms,
        };
        self.monitors
            .get(&key)
            .is_some_and(|task| !task.is_finished())
    }

    /// The running monitors, sorted.
    pub fn active(&self) -> Vec<MonitorKey> {
        let mut keys: Vec<MonitorKey> = self
            .monitors
            .iter()
            .filter(|(_, task)| !task.is_finished())
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for RecurringManager {
    fn drop(&mut self) {
        // Aborted tasks drop their run in flight, which kills its group.
        for (_, task) in self.monitors.drain() {
            task.abort();
        }
    }
}

/// Aborts a monitor task and waits until its future is dropped (which kills
/// the process group of a run in flight).
async fn stop(task: JoinHandle<()>) {
    task.abort();
    let _ = task.await;
}

async fn monitor_loop(
    req: OcfRequest,
    key: MonitorKey,
    expected_rc: OcfRc,
    reports: mpsc::Sender<MonitorReport>,
) {
    assert!(req.interval_ms > 0);
    let period = Duration::from_millis(req.interval_ms);
    let mut last = (OpStatus::Done, expected_rc);
    let mut run_count: u64 = 0;
    loop {
        // Measured from the end of the previous run, as Pacemaker does.
        tokio::time::sleep(period).await;
        let outcome = super::run_resource(&req).await;
        run_count += 1;
        let current = (outcome.status, outcome.rc);
        if current == last {
            continue;
        }
        let report = MonitorReport {
            key: key.clone(),
            previous_status: last.0,
            previous_rc: last.1,
            outcome,
            run_count,
        };
        last = current;
        if reports.send(report).await.is_err() {
            return; // Nobody listens: the executor is gone.
        }
    }
}
