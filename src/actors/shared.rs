//! Facts of one node that outlive any single actor's restart: the current
//! membership view and DC, the executor's operation history, fencing
//! history. Actors are restarted from these (and the CIB on disk).

use crate::actors::message::View;
use crate::actors::storage::DiskWriter;
use crate::agent::recurring::{MonitorReport, RecurringManager};
use crate::agent::AgentConfig;
use crate::model::cib::operation::OpSpec;
use crate::model::cib::xml::Element;
use crate::model::control::consensus::ConsensusStatus;
use crate::model::control::members::Members;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// The DC as this node's consensus sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DcInfo {
    /// The Raft leader, when known: the DC (or about to be).
    pub dc: Option<String>,
    /// This node's current Raft term: commands of older terms are refused.
    pub term: u64,
    /// This node is the leader and has applied an entry of its own term:
    /// it acts as DC.
    pub ready: bool,
}

/// What this node knows of the consensus, for status and access checks.
#[derive(Debug, Clone, Default)]
pub struct ConsensusInfo {
    pub status: Option<ConsensusStatus>,
    pub members: Members,
    /// Why this node cannot take part (its disk failed), when so.
    pub disk_error: Option<String>,
    /// The last scheduler error the DC met, until it works again.
    pub scheduler_error: Option<String>,
    /// Why a two-node survivor does not go on alone (fencing disabled or
    /// failing), while its peer is lost.
    pub two_node_warning: Option<String>,
}

/// Reachable voters against all voters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    pub reachable: usize,
    pub voters: usize,
}

impl Quorum {
    pub fn quorate(self) -> bool {
        self.voters > 0 && self.reachable * 2 > self.voters
    }
}

impl std::fmt::Display for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} voters reachable", self.reachable, self.voters)
    }
}

/// How the consensus runs on this node (from the configuration).
#[derive(Debug, Clone, Default)]
pub struct ConsensusSettings {
    /// Founding voters and witnesses, used at the very first start only.
    pub initial_voters: Vec<String>,
    pub initial_witnesses: Vec<String>,
    /// This node is a witness: it votes and never leads.
    pub witness: bool,
    pub election_timeout_ms: u64,
    pub heartbeat_timeout_ms: u64,
    /// Pacemaker's `two_node`: the survivor of a two-voter cluster fences
    /// its lost peer and goes on alone ([`crate::model::control::two_node`]).
    pub two_node: bool,
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
    pub consensus: RwLock<ConsensusInfo>,
    pub consensus_settings: ConsensusSettings,
    /// `verify`'s findings for a CIB version, and when they were made.
    config_errors: Mutex<Option<(crate::model::cib::store::CibVersion, Instant, Vec<String>)>>,
    /// The node's bus; set once at start.
    pub bus: std::sync::OnceLock<crate::transport::Bus>,
    /// The node's router; set once at start.
    pub router: std::sync::OnceLock<Arc<crate::actors::router::Router>>,
    /// The thread that writes the Raft log; set once at start.
    pub disk: std::sync::OnceLock<DiskWriter>,
    /// Messages refused because their sender is not a member.
    pub refused_non_members: AtomicU64,
    /// When this node's membership view began (ms of uptime).
    pub view_since_ms: AtomicU64,
    /// The CIB as this node's CIB actor last wrote it (read-only for others).
    pub cib: RwLock<Arc<Element>>,
    /// A status section holding only this node's executor history: what it
    /// ran and the results (kept in Pacemaker's format).
    pub lrm_history: Mutex<Element>,
    /// Runs the alert agents the CIB asks for.
    pub alerts: crate::actors::alert::AlertRunner,
    /// Transitions this node ran as DC, as they go (the live copy).
    pub history: Mutex<crate::model::control::history::History>,
    /// Every DC's transitions, as the replicated state holds them.
    pub transitions: RwLock<Arc<crate::model::control::history::History>>,
    /// The node's configuration file's settings (TOML), for `report`.
    pub config_toml: std::sync::OnceLock<String>,
    /// The node's `log_file`, when it has one.
    pub log_file: std::sync::OnceLock<Option<PathBuf>>,
    next_call_id: AtomicU64,
    pub started: Instant,
    /// Scheduler and transition durations, for `/metrics`.
    pub timings: Mutex<crate::model::control::histogram::Timings>,
    /// The cluster key, for connections to remote daemons; set at start.
    pub cluster_key: std::sync::OnceLock<crate::transport::AuthKey>,
    /// This node's connections to remote daemons (connection resources
    /// it hosts).
    pub remote_links: crate::actors::remote::link::RemoteLinks,
}

impl NodeShared {
    /// Must be called inside a tokio runtime (the recurring manager spawns).
    pub fn new(
        node: &str,
        cluster_name: &str,
        state_dir: PathBuf,
        agent_config: AgentConfig,
        consensus_settings: ConsensusSettings,
    ) -> Self {
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
            dc: RwLock::new(DcInfo::default()),
            consensus: RwLock::new(ConsensusInfo::default()),
            consensus_settings,
            disk: std::sync::OnceLock::new(),
            router: std::sync::OnceLock::new(),
            config_errors: Mutex::new(None),
            bus: std::sync::OnceLock::new(),
            refused_non_members: AtomicU64::new(0),
            view_since_ms: AtomicU64::new(0),
            cib: RwLock::new(Arc::new(crate::model::cib::store::empty_cib())),
            lrm_history: Mutex::new(crate::model::cib::store::empty_cib()),
            alerts: Default::default(),
            history: Mutex::new(Default::default()),
            transitions: RwLock::new(Arc::default()),
            config_toml: std::sync::OnceLock::new(),
            log_file: std::sync::OnceLock::new(),
            next_call_id: AtomicU64::new(1),
            started: Instant::now(),
            timings: Mutex::new(Default::default()),
            cluster_key: std::sync::OnceLock::new(),
            remote_links: Default::default(),
        }
    }

    /// `systole history` on this node: the replicated transitions, with
    /// the live state of one this node runs as DC.
    pub fn transition_history(&self) -> Vec<crate::model::control::history::TransitionRecord> {
        let replicated = Arc::clone(&self.transitions.read().expect("transitions lock"));
        let live = self.history.lock().expect("history lock");
        crate::model::control::history::History::merged(&replicated, &live)
    }

    pub fn view(&self) -> View {
        self.view.read().expect("view lock").clone()
    }

    pub fn dc_info(&self) -> DcInfo {
        self.dc.read().expect("dc lock").clone()
    }

    /// Whether this node acts as DC now.
    pub fn is_dc(&self) -> bool {
        self.dc_info().ready
    }

    pub fn set_dc(&self, info: DcInfo) {
        *self.dc.write().expect("dc lock") = info;
    }

    /// Whether a DC command of `term` from `from` may be carried out here.
    pub fn check_dc_command(&self, from: &str, term: u64) -> Result<(), String> {
        let info = self.dc_info();
        crate::model::control::controller::admit_command(info.term, info.dc.as_deref(), from, term)
    }

    /// The CIB's configuration errors and warnings, one a line. Checking a
    /// large CIB takes a while, so the answer is kept while the
    /// configuration is unchanged, for a few seconds of status changes.
    pub fn config_errors(&self, cib: &Element) -> Vec<String> {
        const STATUS_CHANGES_CACHED_MS: u128 = 5_000;
        let version = crate::model::cib::store::version(cib);
        let mut cached = self.config_errors.lock().expect("config errors lock");
        if let Some((seen, at, errors)) = cached.as_ref() {
            let same_configuration =
                (seen.admin_epoch, seen.epoch) == (version.admin_epoch, version.epoch);
            if *seen == version
                || (same_configuration && at.elapsed().as_millis() < STATUS_CHANGES_CACHED_MS)
            {
                return errors.clone();
            }
        }
        let errors: Vec<String> = crate::model::cib::verify::verify(cib, now_epoch_s())
            .iter()
            .map(ToString::to_string)
            .collect();
        *cached = Some((version, Instant::now(), errors.clone()));
        errors
    }

    pub fn consensus_info(&self) -> ConsensusInfo {
        self.consensus.read().expect("consensus lock").clone()
    }

    /// How many voters this node reaches (itself included, if it votes).
    pub fn quorum(&self) -> Quorum {
        let voters = self
            .consensus
            .read()
            .expect("consensus lock")
            .members
            .voter_names();
        let view = self.view();
        let reachable = voters
            .iter()
            .filter(|v| **v == self.node || view.members.contains(v))
            .count();
        Quorum {
            reachable,
            voters: voters.len(),
        }
    }

    /// Whether `node` may talk to this one: a member, or anyone while this
    /// node has no member table yet (it is joining).
    pub fn admits(&self, node: &str) -> bool {
        let consensus = self.consensus.read().expect("consensus lock");
        consensus.members.is_empty() || consensus.members.contains(node)
    }

    pub fn cib(&self) -> Arc<Element> {
        Arc::clone(&self.cib.read().expect("cib lock"))
    }

    pub fn cib_version(&self) -> crate::model::cib::store::CibVersion {
        crate::model::cib::store::version(&self.cib())
    }

    /// This node's `<lrm>` element, as a DC join collects it.
    pub fn lrm(&self) -> Element {
        let history = self.lrm_history.lock().expect("lrm lock");
        crate::model::cib::store::node_lrm(&history, &self.node)
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

/// Seconds since the epoch: for timestamps written into the CIB.
pub fn now_epoch_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
