//! Facts of one node that outlive any single actor's restart: the current
//! membership view and DC, the executor's operation history, fencing
//! history. Actors are restarted from these (and the CIB on disk).

use crate::actors::message::View;
use crate::agent::recurring::{MonitorReport, RecurringManager};
use crate::agent::AgentConfig;
use crate::model::operation::OpSpec;
use crate::model::xml::Element;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DcInfo {
    pub dc: Option<String>,
    /// The term of the DC this node follows.
    pub term: u64,
    /// The highest term this node has seen (persisted).
    pub term_seen: u64,
}

pub struct NodeShared {
    pub node: String,
    pub cluster_name: String,
    pub state_dir: PathBuf,
    pub agent_config: Arc<AgentConfig>,
    /// Recurring monitors: they outlive the executor actor's restarts.
    pub recurring: tokio::sync::Mutex<RecurringManager>,
    monitor_reports: Mutex<Option<tokio::sync::mpsc::Receiver<MonitorReport>>>,
    recurring_ops: Mutex<HashMap<(String, u64), OpSpec>>,
    /// Fence devices "started" (registered) on this node.
    pub fence_devices: Mutex<HashSet<String>>,
    pub view: RwLock<View>,
    pub dc: RwLock<DcInfo>,
    /// The CIB as this node's CIB actor last wrote it (read-only for others).
    pub cib: RwLock<Arc<Element>>,
    /// A status section holding only this node's executor history: what it
    /// ran and the results (kept in Pacemaker's format).
    pub lrm_history: Mutex<Element>,
    /// Transitions this node ran as DC.
    pub history: Mutex<crate::model::history::History>,
    next_call_id: AtomicU64,
    pub started: Instant,
}

impl NodeShared {
    /// Must be called inside a tokio runtime (the recurring manager spawns).
    pub fn new(
        node: &str,
        cluster_name: &str,
        state_dir: PathBuf,
        agent_config: AgentConfig,
    ) -> Self {
        let term_seen = read_term(&state_dir);
        let (report_sender, reports) = tokio::sync::mpsc::channel(1024);
        NodeShared {
            node: node.to_string(),
            cluster_name: cluster_name.to_string(),
            state_dir,
            agent_config: Arc::new(agent_config),
            recurring: tokio::sync::Mutex::new(RecurringManager::new(report_sender)),
            monitor_reports: Mutex::new(Some(reports)),
            recurring_ops: Mutex::new(HashMap::new()),
            fence_devices: Mutex::new(HashSet::new()),
            view: RwLock::new(View::default()),
            dc: RwLock::new(DcInfo {
                term_seen,
                ..DcInfo::default()
            }),
            cib: RwLock::new(Arc::new(crate::model::cib_store::empty_cib())),
            lrm_history: Mutex::new(crate::model::cib_store::empty_cib()),
            history: Mutex::new(Default::default()),
            next_call_id: AtomicU64::new(1),
            started: Instant::now(),
        }
    }

    pub fn view(&self) -> View {
        self.view.read().expect("view lock").clone()
    }

    pub fn dc_info(&self) -> DcInfo {
        self.dc.read().expect("dc lock").clone()
    }

    pub fn is_dc(&self) -> bool {
        self.dc_info().dc.as_deref() == Some(self.node.as_str())
    }

    /// Records the DC and terms; the highest term seen goes to disk first, so
    /// a restarted node never accepts a term it had seen superseded.
    pub fn set_dc(&self, info: DcInfo) {
        let previous = self.dc_info().term_seen;
        if info.term_seen > previous {
            let path = self.state_dir.join("term");
            if let Err(error) =
                crate::persist::write_atomic(&path, info.term_seen.to_string().as_bytes())
            {
                tracing::error!(%error, "could not persist the election term");
            }
        }
        *self.dc.write().expect("dc lock") = info;
    }

    /// Whether a DC command stamped with `term` is current.
    pub fn accepts_term(&self, term: u64) -> bool {
        let info = self.dc_info();
        term >= info.term_seen && term == info.term
    }

    pub fn cib(&self) -> Arc<Element> {
        Arc::clone(&self.cib.read().expect("cib lock"))
    }

    pub fn cib_version(&self) -> crate::model::cib_store::CibVersion {
        crate::model::cib_store::version(&self.cib())
    }

    /// This node's `<lrm>` element, as a DC join collects it.
    pub fn lrm(&self) -> Element {
        let history = self.lrm_history.lock().expect("lrm lock");
        history
            .child("status")
            .and_then(|s| {
                s.children
                    .iter()
                    .find(|n| n.attr("uname") == Some(self.node.as_str()))
            })
            .and_then(|n| n.child("lrm"))
            .cloned()
            .unwrap_or_else(|| Element::new("lrm").with_attr("id", self.node.clone()))
    }

    /// The recurring monitor reports; taken once, by the task that feeds
    /// them to the executor actor.
    pub fn take_monitor_reports(&self) -> tokio::sync::mpsc::Receiver<MonitorReport> {
        self.monitor_reports
            .lock()
            .expect("reports lock")
            .take()
            .expect("monitor reports taken twice")
    }

    pub fn remember_recurring(&self, op: &OpSpec) {
        self.recurring_ops
            .lock()
            .expect("recurring lock")
            .insert((op.resource.clone(), op.interval_ms), op.clone());
    }

    pub fn forget_recurring(&self, resource: &str) {
        self.recurring_ops
            .lock()
            .expect("recurring lock")
            .retain(|(r, _), _| r != resource);
    }

    pub fn forget_recurring_one(&self, resource: &str, interval_ms: u64) {
        self.recurring_ops
            .lock()
            .expect("recurring lock")
            .remove(&(resource.to_string(), interval_ms));
    }

    pub fn recurring_op(&self, resource: &str, interval_ms: u64) -> Option<OpSpec> {
        self.recurring_ops
            .lock()
            .expect("recurring lock")
            .get(&(resource.to_string(), interval_ms))
            .cloned()
    }

    pub fn next_call_id(&self) -> u64 {
        self.next_call_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

fn read_term(state_dir: &std::path::Path) -> u64 {
    std::fs::read_to_string(state_dir.join("term"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds since the epoch: for timestamps written into the CIB.
pub fn now_epoch_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
