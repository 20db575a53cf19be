//! The node daemon: starts the transport, the supervised actors and the
//! control socket, and wires them together.
//!
//! [`start_node`] takes an already started bus, so the same assembly runs
//! over real UDP sockets (the daemon) and over the in-memory network (tests
//! of whole clusters in one process).

use crate::actors::cell::Cell;
use crate::actors::cib::CibActor;
use crate::actors::config::NodeConfig;
use crate::actors::control_socket::{
    Access, Caller, ControlRequest, ControlResponse, NodeReport, ResourceReport, StatusReport,
};
use crate::actors::dc::DcActor;
use crate::actors::exec::ExecActor;
use crate::actors::fence::FenceActor;
use crate::actors::membership::{BusActor, MembershipActor};
use crate::actors::message::{
    AdminFence, CibModify, CibNote, CibReadConsistent, ExecNote, Fenced, MembersChange, Message,
    ReportQuery, Stored, View,
};
use crate::actors::policy::PolicyActor;
use crate::actors::router::{Link, Router};
use crate::actors::shared::{ConsensusSettings, NodeShared};
use crate::actors::storage::{DiskReport, DiskWriter, RaftFiles};
use crate::actors::supervision::{Strategy, SupervisorSpec};
use crate::actors::tree::Tree;
use crate::agent::fence::FenceAction;
use crate::agent::AgentConfig;
use crate::model::cib::acl;
use crate::model::cib::xml::Element;
use crate::transport::{Bus, BusEvent};
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How long a control request waits on an actor.
pub const CONTROL_REQUEST_TIMEOUT_MS: u64 = 15_000;

/// The node's supervision tree, declared as data.
pub fn supervision_spec() -> SupervisorSpec {
    witness_supervision_spec()
        .actor("policy")
        .actor("exec")
        .actor("fence")
        .actor("dc")
}

/// A witness's tree: the transport and the consensus, nothing that runs
/// resources or decides.
pub fn witness_supervision_spec() -> SupervisorSpec {
    SupervisorSpec::new("root", Strategy::OneForOne, 20, 10_000)
        .supervisor(
            // The bus and membership share the transport: a crash of one
            // restarts both so their views agree.
            SupervisorSpec::new("transport", Strategy::OneForAll, 5, 5_000)
                .actor("bus")
                .actor("membership"),
        )
        .actor("cib")
}

/// A running node: what the control socket and tests need to reach it.
#[derive(Clone)]
pub struct NodeHandle {
    pub shared: Arc<NodeShared>,
    pub router: Arc<Router>,
    pub tree: Arc<Tree>,
    pub bus: Bus,
    /// Notified when an operator asks the node to stop.
    pub shutdown: Arc<tokio::sync::Notify>,
    /// The node's attribute manager (`attrd_updater`).
    pub attrd: mpsc::Sender<AttrdCommand>,
}

/// A request to the node's attribute manager.
#[derive(Debug)]
pub enum AttrdCommand {
    Update {
        node: String,
        name: String,
        value: Option<String>,
        dampen_ms: u64,
    },
    Query {
        node: Option<String>,
        name: String,
        reply: tokio::sync::oneshot::Sender<Vec<(String, Option<String>)>>,
    },
}

/// How many `attrd_updater` requests may wait for the attribute manager.
pub const ATTRD_QUEUE_DEPTH_MAX: usize = 1_024;

/// Runs the node's attribute manager: applies updates and queries, and
/// writes dampened values into the CIB (through the CIB actor, as any
/// client change) when they fall due.
fn spawn_attribute_manager(
    shared: Arc<NodeShared>,
    router: Arc<Router>,
) -> mpsc::Sender<AttrdCommand> {
    let (sender, mut commands) = mpsc::channel::<AttrdCommand>(ATTRD_QUEUE_DEPTH_MAX);
    tokio::spawn(async move {
        let mut manager = crate::actors::attrd::AttributeManager::new();
        loop {
            let now_ms = shared.uptime_ms();
            let wait_ms = manager.next_due_ms().map(|due| due.saturating_sub(now_ms));
            let sleep =
                tokio::time::sleep(std::time::Duration::from_millis(wait_ms.unwrap_or(60_000)));
            let writes = tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(command) => attrd_command(&shared, &mut manager, command),
                },
                _ = sleep, if wait_ms.is_some() => manager.due(shared.uptime_ms()),
            };
            // In order, one at a time: a later value never lands first.
            for write in writes {
                write_attribute(&shared, &router, write).await;
            }
        }
    });
    sender
}

fn attrd_command(
    shared: &NodeShared,
    manager: &mut crate::actors::attrd::AttributeManager,
    command: AttrdCommand,
) -> Vec<crate::actors::attrd::Write> {
    let cib = shared.cib();
    match command {
        AttrdCommand::Update {
            node,
            name,
            value,
            dampen_ms,
        } => {
            let current = crate::actors::attrd::transient_value(&cib, &node, &name);
            let now_ms = shared.uptime_ms();
            manager
                .update(&node, &name, value, dampen_ms, current.as_deref(), now_ms)
                .into_iter()
                .collect()
        }
        AttrdCommand::Query { node, name, reply } => {
            let nodes: Vec<String> = match node {
                Some(node) => vec![node],
                None => crate::scheduler::status::node_status(&cib)
                    .map(|nodes| nodes.into_iter().map(|n| n.name).collect())
                    .unwrap_or_default(),
            };
            let values = nodes
                .into_iter()
                .map(|node| {
                    let current = crate::actors::attrd::transient_value(&cib, &node, &name);
                    let value = manager.value(&node, &name, current.as_deref());
                    (node, value)
                })
                .collect();
            let _ = reply.send(values);
            Vec::new()
        }
    }
}

/// Sends one attribute write to the CIB; a failure is logged (the next
/// update writes again).
async fn write_attribute(
    shared: &NodeShared,
    router: &Arc<Router>,
    write: crate::actors::attrd::Write,
) {
    tracing::debug!(node = %write.node, name = %write.name, value = ?write.value, "attribute written");
    let change = crate::actors::message::CibChange::SetTransientAttribute {
        node: write.node.clone(),
        name: write.name.clone(),
        value: write.value.clone(),
    };
    match modify_local_cib(router, "attrd", change, CONTROL_REQUEST_TIMEOUT_MS).await {
        Ok(_) => {
            // Attribute alerts come from the node whose manager wrote it.
            let node_id = crate::model::cib::alerts::node_id(&shared.cib(), &write.node);
            shared.raise_alert(crate::model::cib::alerts::AlertEvent::Attribute {
                node: write.node,
                node_id,
                name: write.name,
                value: write.value,
            });
        }
        Err(error) => tracing::warn!(node = %shared.node, %error, "attribute write failed"),
    }
}

/// Sends envelopes for other nodes through the bus, one ordered queue per
/// destination so a slow node never holds up the others.
struct BusLink {
    bus: Bus,
    shared: Arc<NodeShared>,
    queues: DashMap<String, mpsc::Sender<Vec<u8>>>,
}

/// Envelopes queued for one destination before sends to it are refused.
pub const LINK_QUEUE_DEPTH_MAX: usize = 10_000;

impl Link for BusLink {
    fn send(&self, node: &str, bytes: Vec<u8>) -> Result<(), String> {
        if !self.shared.view().members.iter().any(|m| m == node) {
            return Err(format!("{node} is not a member"));
        }
        let queue = self.queues.entry(node.to_string()).or_insert_with(|| {
            let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(LINK_QUEUE_DEPTH_MAX);
            let bus = self.bus.clone();
            let to = node.to_string();
            tokio::spawn(async move {
                while let Some(bytes) = receiver.recv().await {
                    if let Err(error) = bus.send(&to, bytes).await {
                        tracing::debug!(%to, %error, "bus send failed");
                    }
                }
            });
            sender
        });
        queue.try_send(bytes).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => {
                format!("queue to {node} is full (LINK_QUEUE_DEPTH_MAX = {LINK_QUEUE_DEPTH_MAX})")
            }
            mpsc::error::TrySendError::Closed(_) => format!("queue to {node} closed"),
        })
    }
}

/// Starts the actors of one node on the current actix system.
pub fn start_node(
    config: &NodeConfig,
    agent_config: AgentConfig,
    bus: Bus,
    events: mpsc::Receiver<BusEvent>,
    give_up: Box<dyn Fn(&str) + Send + Sync>,
) -> NodeHandle {
    let settings = ConsensusSettings {
        initial_voters: config.initial_voters.clone(),
        initial_witnesses: config.initial_witnesses.clone(),
        witness: false,
        election_timeout_ms: config.election_timeout_ms,
        heartbeat_timeout_ms: config.heartbeat_timeout_ms,
        two_node: config.two_node,
    };
    start_node_with(config, agent_config, settings, bus, events, give_up)
}

/// [`start_node`] with the consensus settings given (a witness).
pub fn start_node_with(
    config: &NodeConfig,
    agent_config: AgentConfig,
    settings: ConsensusSettings,
    bus: Bus,
    mut events: mpsc::Receiver<BusEvent>,
    give_up: Box<dyn Fn(&str) + Send + Sync>,
) -> NodeHandle {
    let witness = settings.witness;
    let shared = Arc::new(NodeShared::new(
        &config.node_name,
        &config.cluster_name,
        config.state_dir.clone(),
        agent_config,
        settings,
    ));
    let router = Router::new(&config.node_name);
    let _ = shared.router.set(Arc::clone(&router));
    let _ = shared.config_toml.set(config.to_toml());
    let _ = shared.log_file.set(config.log_file.clone());
    let _ = shared.bus.set(bus.clone());
    match crate::transport::load_authkey(&config.authkey) {
        Ok(key) => {
            let _ = shared.cluster_key.set(key);
        }
        Err(error) => tracing::debug!(%error, "no cluster key for remote connections"),
    }
    {
        let router = Arc::clone(&router);
        let writer = DiskWriter::start(
            RaftFiles::new(&config.state_dir),
            Box::new(move |report| {
                let (incarnation, number, error) = match report {
                    DiskReport::Persisted {
                        incarnation,
                        number,
                    } => (incarnation, number, None),
                    DiskReport::Failed { incarnation, error } => (incarnation, 0, Some(error)),
                };
                let me = router.local_ref("cib");
                let _ = router.send(
                    me.clone(),
                    me,
                    Message::CibNote(CibNote::Disk {
                        incarnation,
                        number,
                        error,
                    }),
                );
            }),
            disk_failure_injector(&config.state_dir),
        );
        let _ = shared.disk.set(writer);
    }
    router.set_link(Arc::new(BusLink {
        bus: bus.clone(),
        shared: Arc::clone(&shared),
        queues: DashMap::new(),
    }));
    let spec = if witness {
        witness_supervision_spec()
    } else {
        supervision_spec()
    };
    let tree = Tree::new(spec, give_up);
    {
        let bus = bus.clone();
        Cell::start(
            "bus",
            Box::new(move || Box::new(BusActor { bus: bus.clone() })),
            &router,
            &tree,
        );
    }
    {
        let shared = Arc::clone(&shared);
        Cell::start(
            "membership",
            Box::new(move || {
                Box::new(MembershipActor {
                    shared: Arc::clone(&shared),
                })
            }),
            &router,
            &tree,
        );
    }
    let with_shared = |make: fn(Arc<NodeShared>) -> Box<dyn crate::actors::cell::Behaviour>| {
        let shared = Arc::clone(&shared);
        Box::new(move || make(Arc::clone(&shared))) as crate::actors::cell::Factory
    };
    Cell::start(
        "cib",
        with_shared(|s| Box::new(CibActor::new(s))),
        &router,
        &tree,
    );
    if !witness {
        start_deciding_actors(&shared, &router, &tree);
    }

    // Bus events into the actors.
    {
        let router = Arc::clone(&router);
        let shared_for_events = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                tracing::trace!(event = ?std::mem::discriminant(&event), "bus event");
                match event {
                    BusEvent::Message { from, payload } => {
                        if shared_for_events.admits(&from) {
                            router.receive_remote(&from, &payload)
                        } else {
                            refuse_non_member(&shared_for_events, &from);
                        }
                    }
                    BusEvent::View(view) => {
                        let view = View {
                            id: view.id,
                            members: view.members.iter().cloned().collect(),
                            quorate: view.quorate,
                        };
                        let me = router.local_ref("bus");
                        let _ = router.send(
                            me,
                            router.local_ref("membership"),
                            Message::ViewChanged(view),
                        );
                    }
                }
            }
        });
    }
    // Recurring monitor reports into the executor.
    {
        let shared = Arc::clone(&shared);
        let router = Arc::clone(&router);
        let mut reports = shared.take_monitor_reports();
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                let Some(op) = shared.recurring_op(&report.key.resource_id, report.key.interval_ms)
                else {
                    continue;
                };
                let outcome =
                    crate::actors::exec::outcome_from_agent(&report.outcome, shared.next_call_id());
                let me = router.local_ref("exec");
                let _ = router.send(
                    me.clone(),
                    me,
                    Message::ExecNote(ExecNote::RecurringResult { op, outcome }),
                );
            }
        });
    }
    let attrd = spawn_attribute_manager(Arc::clone(&shared), Arc::clone(&router));
    NodeHandle {
        shared,
        router,
        tree,
        bus,
        shutdown: Arc::new(tokio::sync::Notify::new()),
        attrd,
    }
}

/// The actors a witness does not run: policy, executor, fencer, DC.
fn start_deciding_actors(shared: &Arc<NodeShared>, router: &Arc<Router>, tree: &Arc<Tree>) {
    let with_shared =
        |shared: &Arc<NodeShared>,
         make: fn(Arc<NodeShared>) -> Box<dyn crate::actors::cell::Behaviour>| {
            let shared = Arc::clone(shared);
            Box::new(move || make(Arc::clone(&shared))) as crate::actors::cell::Factory
        };
    Cell::start(
        "policy",
        Box::new(|| Box::new(PolicyActor::default())),
        router,
        tree,
    );
    Cell::start(
        "exec",
        with_shared(shared, |s| Box::new(ExecActor::new(s))),
        router,
        tree,
    );
    Cell::start(
        "fence",
        with_shared(shared, |s| Box::new(FenceActor::new(s))),
        router,
        tree,
    );
    Cell::start(
        "dc",
        with_shared(shared, |s| Box::new(DcActor::new(s))),
        router,
        tree,
    );
}

/// Counts and logs (rate-limited) a message from a host that holds the
/// authkey but is not a member of the cluster.
fn refuse_non_member(shared: &NodeShared, from: &str) {
    let refused = shared
        .refused_non_members
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if refused.is_power_of_two() {
        tracing::warn!(%from, refused = refused + 1, "refused a message from a node that is not a member of this cluster (add it with `systole node add`)");
    }
}

/// Tests make the Raft log's disk "full" by creating `state_dir/raft/FAIL`
/// (only when SYSTOLE_TEST_DISK_FAULTS=1).
fn disk_failure_injector(
    state_dir: &std::path::Path,
) -> Option<crate::actors::storage::FailureInjector> {
    if std::env::var("SYSTOLE_TEST_DISK_FAULTS").as_deref() != Ok("1") {
        return None;
    }
    let marker = state_dir.join("raft").join("FAIL");
    Some(Box::new(move || {
        marker
            .exists()
            .then(|| "No space left on device (injected by the test)".to_string())
    }))
}

/// The status report from this node's point of view.
pub fn status_report(node: &NodeHandle) -> StatusReport {
    let shared = &node.shared;
    let cib = shared.cib();
    let view = shared.view();
    let dc = shared.dc_info().dc;
    let nodes = match crate::scheduler::status::node_status(&cib) {
        Ok(nodes) => nodes
            .into_iter()
            .map(|n| NodeReport {
                online: if n.remote {
                    n.online
                } else {
                    view.members.contains(&n.name)
                },
                remote: n.remote,
                attributes: crate::scheduler::status::node_attributes(&cib, &n.name),
                name: n.name,
                standby: n.standby,
                maintenance: n.maintenance,
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "status: CIB could not be read");
            Vec::new()
        }
    };
    let fail_counts = crate::scheduler::status::fail_counts(&cib);
    let resources = match crate::scheduler::status::resource_status(&cib) {
        Ok(resources) => resources
            .into_iter()
            .map(|r| {
                let base = r.id.split(':').next().unwrap_or(&r.id);
                let counts = fail_counts.get(base).cloned().unwrap_or_default();
                ResourceReport {
                    failed: r.failed || !counts.is_empty(),
                    fail_counts: counts,
                    id: r.id,
                    parent: r.parent,
                    agent: r.agent,
                    role: format!("{:?}", r.role),
                    nodes: r.nodes,
                }
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "status: CIB could not be read");
            Vec::new()
        }
    };
    StatusReport {
        cluster: shared.cluster_name.clone(),
        dc,
        quorate: shared.quorum().quorate(),
        nodes,
        resources,
        answered_by: shared.node.clone(),
        fencing: crate::model::cib::store::fence_history(&cib),
        failed_actions: crate::scheduler::status::failed_actions(&cib),
        last_change: crate::scheduler::status::last_change(&cib),
        updated_epoch_s: crate::actors::shared::now_epoch_s(),
        config_errors: shared.config_errors(&cib),
        consensus: Some(consensus_report(shared)),
    }
}

fn consensus_report(shared: &NodeShared) -> crate::actors::control_socket::ConsensusReport {
    use crate::model::control::members::MemberRole;
    let info = shared.consensus_info();
    let names = |role: MemberRole| -> Vec<String> {
        let mut names: Vec<String> = info
            .members
            .iter()
            .filter(|(_, m)| m.role == role)
            .map(|(_, m)| m.name.clone())
            .collect();
        names.sort();
        names
    };
    let status = info
        .status
        .clone()
        .unwrap_or(crate::model::control::consensus::ConsensusStatus {
            term: 0,
            leader: None,
            role: "none".into(),
            commit_index: 0,
            applied_index: 0,
            last_index: 0,
            snapshot_index: 0,
        });
    crate::actors::control_socket::ConsensusReport {
        term: status.term,
        leader: status.leader,
        commit_index: status.commit_index,
        applied_index: status.applied_index,
        voters: info.members.voter_names(),
        learners: names(MemberRole::Learner),
        witnesses: names(MemberRole::Witness),
        reachable_voters: shared.quorum().reachable,
        disk_error: info.disk_error,
        scheduler_error: info.scheduler_error,
        two_node_warning: info.two_node_warning,
        refused_non_members: shared
            .refused_non_members
            .load(std::sync::atomic::Ordering::Relaxed),
    }
}

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

/// Answers one control request.
pub async fn handle_control(
    node: NodeHandle,
    request: ControlRequest,
    caller: Caller,
) -> ControlResponse {
    let me = node.router.local_ref("control");
    let own_uid = unsafe { libc::geteuid() };
    let caller_acl = || {
        let cib = node.shared.cib();
        let (user, groups) = identity(&caller);
        acl_for(&cib, caller.uid, own_uid, &user, &groups).map(|a| (user, a))
    };
    match request {
        ControlRequest::Ping => ControlResponse::Pong {
            node: node.shared.node.clone(),
        },
        ControlRequest::Status => {
            let mut report = status_report(&node);
            if let Some((_, acl)) = caller_acl() {
                filter_status(&mut report, &acl.filter(&node.shared.cib()));
            }
            ControlResponse::Status(report)
        }
        ControlRequest::Actors => ControlResponse::Actors {
            node: node.shared.node.clone(),
            tree: node.tree.snapshot(),
        },
        ControlRequest::ActorsKill { name } => {
            if !node.tree.has_actor(&name) {
                return ControlResponse::Error(format!(
                    "no actor {name}; actors are {}",
                    node.tree.spec().actors().join(", ")
                ));
            }
            match node
                .router
                .send(me, node.router.local_ref(&name), Message::InjectCrash)
            {
                Ok(()) => ControlResponse::Done(format!(
                    "crash injected into {name} on {}",
                    node.shared.node
                )),
                Err(error) => ControlResponse::Error(error.to_string()),
            }
        }
        ControlRequest::CibGet => {
            let cib = node.shared.cib();
            let xml = match caller_acl() {
                Some((_, acl)) => acl.filter(&cib).to_xml_pretty(),
                None => cib.to_xml_pretty(),
            };
            ControlResponse::Cib { xml }
        }
        ControlRequest::CibModify { change } => {
            let change = stamped(change, &caller, &node.shared.node);
            if let Some((user, acl)) = caller_acl() {
                if let Err(error) = check_acl_write(&node.shared.cib(), &change, &acl) {
                    return ControlResponse::Error(format!("{user}: {error}"));
                }
            }
            // Refused here, before the CIB actor sees it, if it adds errors.
            if let Err(error) = check_change(
                &node.shared.cib(),
                &change,
                crate::actors::shared::now_epoch_s(),
            ) {
                return ControlResponse::Error(error);
            }
            match modify_local_cib(&node.router, "control", change, CONTROL_REQUEST_TIMEOUT_MS)
                .await
            {
                Ok((version, index)) => ControlResponse::Done(format!(
                    "CIB updated to version {version} (log index {index}, committed on a majority of the voters)"
                )),
                Err(e) => ControlResponse::Error(e),
            }
        }
        ControlRequest::CibGetConsistent => {
            let answer = node
                .router
                .ask(
                    me,
                    node.router.local_ref("cib"),
                    CibReadConsistent,
                    CONTROL_REQUEST_TIMEOUT_MS,
                )
                .await;
            match answer {
                Ok(cib) => {
                    let xml = match caller_acl() {
                        Some((_, acl)) => acl.filter(&cib).to_xml_pretty(),
                        None => cib.to_xml_pretty(),
                    };
                    ControlResponse::Cib { xml }
                }
                Err(error) => ControlResponse::Error(error.to_string()),
            }
        }
        ControlRequest::MemberAdd {
            name,
            addr,
            witness,
        } => member_add(&node, me, name, addr, witness).await,
        ControlRequest::MemberRemove { name, force } => member_remove(&node, me, name, force).await,
        ControlRequest::Report {
            from_epoch_s,
            to_epoch_s,
        } => ControlResponse::Report(Box::new(
            gather_report(&node, me, from_epoch_s, to_epoch_s).await,
        )),
        ControlRequest::History => ControlResponse::History {
            node: node.shared.node.clone(),
            transitions: node.shared.transition_history(),
        },
        ControlRequest::Fence { target, action } => {
            let action = match check_fence_request(&node.shared.cib(), &target, &action) {
                Ok(action) => action,
                Err(error) => return ControlResponse::Error(error),
            };
            let Some(dc) = node.shared.dc_info().dc else {
                return ControlResponse::Error("no DC at the moment; try again shortly".into());
            };
            let answer = node
                .router
                .ask(
                    me,
                    crate::actors::message::ActorRef::new(&dc, "dc"),
                    AdminFence {
                        target: target.clone(),
                        action,
                    },
                    crate::actors::dc::FENCE_ANSWER_TIMEOUT_MS + 5_000,
                )
                .await;
            match answer {
                Ok(Fenced {
                    ok: true, detail, ..
                }) => ControlResponse::Done(format!("fenced {target} ({action}): {detail}")),
                Ok(Fenced { detail, .. }) => {
                    ControlResponse::Error(format!("fencing {target} failed: {detail}"))
                }
                Err(error) => ControlResponse::Error(error.to_string()),
            }
        }
        ControlRequest::Timings => ControlResponse::Timings {
            node: node.shared.node.clone(),
            timings: node.shared.timings.lock().expect("timings lock").clone(),
        },
        ControlRequest::BusStats => ControlResponse::Bus {
            node: node.shared.node.clone(),
            stats: node.bus.stats(),
            refused_non_members: node
                .shared
                .refused_non_members
                .load(std::sync::atomic::Ordering::Relaxed),
        },
        ControlRequest::ChaosBlock { nodes } => {
            let described = if nodes.is_empty() {
                "healed: no peers blocked".to_string()
            } else {
                format!("blocking all traffic with {}", nodes.join(", "))
            };
            node.bus.block(nodes.into_iter().collect());
            ControlResponse::Done(format!("{}: {described}", node.shared.node))
        }
        ControlRequest::Shutdown => {
            node.shutdown.notify_one();
            ControlResponse::Done(format!("{} shutting down", node.shared.node))
        }
        ControlRequest::FenceConfirm { target } => fence_confirm(&node, target, &caller).await,
        ControlRequest::AttrUpdate {
            node: target,
            name,
            value,
            dampen_ms,
        } => {
            let command = AttrdCommand::Update {
                node: target,
                name,
                value,
                dampen_ms,
            };
            match node.attrd.try_send(command) {
                Ok(()) => ControlResponse::Done("attribute update accepted".into()),
                Err(error) => ControlResponse::Error(format!("attribute manager: {error}")),
            }
        }
        ControlRequest::AttrQuery { node: target, name } => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let command = AttrdCommand::Query {
                node: target,
                name,
                reply,
            };
            if let Err(error) = node.attrd.try_send(command) {
                return ControlResponse::Error(format!("attribute manager: {error}"));
            }
            match answer.await {
                Ok(values) => ControlResponse::Attributes(values),
                Err(_) => ControlResponse::Error("the attribute manager did not answer".into()),
            }
        }
        ControlRequest::Agents { filter } => {
            let config = Arc::clone(&node.shared.agent_config);
            match crate::agent::catalog::list_agents(&config, filter.as_deref()).await {
                Ok(agents) => ControlResponse::Agents(agents),
                Err(error) => ControlResponse::Error(error),
            }
        }
        ControlRequest::DescribeAgent { agent } => {
            let config = Arc::clone(&node.shared.agent_config);
            match crate::agent::catalog::describe(config, &agent).await {
                Ok(meta) => ControlResponse::AgentMetadata(meta),
                Err(error) => ControlResponse::Error(error),
            }
        }
    }
}

/// Answers of members to a report's question, at most this long.
pub const REPORT_PART_TIMEOUT_MS: u64 = 30_000;

/// `systole report`: this node's view (CIB, history, status) and every
/// member's part, asked in parallel; who did not answer is named.
async fn gather_report(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    from_epoch_s: i64,
    to_epoch_s: i64,
) -> crate::actors::report::Report {
    let members = node.shared.view().members;
    let asks = members.iter().map(|member| {
        let (router, me) = (Arc::clone(&node.router), me.clone());
        let to = crate::actors::message::ActorRef::new(member, "membership");
        async move {
            let question = ReportQuery {
                from_epoch_s,
                to_epoch_s,
            };
            (
                to.node.clone(),
                router.ask(me, to, question, REPORT_PART_TIMEOUT_MS).await,
            )
        }
    });
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    for (member, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(part) => parts.push(part),
            Err(error) => missing.push((member, error.to_string())),
        }
    }
    let cib = node.shared.cib();
    crate::actors::report::Report {
        from_epoch_s,
        to_epoch_s,
        asked: node.shared.node.clone(),
        cib_xml: cib.to_xml_pretty(),
        history: node.shared.transition_history(),
        status: status_report(node),
        parts,
        missing,
    }
}

/// `systole fence confirm NODE`: refused for a node this node sees as a
/// member (it is up); else recorded as a manual fencing through the CIB.
async fn fence_confirm(node: &NodeHandle, target: String, caller: &Caller) -> ControlResponse {
    if node.shared.view().members.contains(&target) {
        return ControlResponse::Error(format!(
            "{target} is a member of the cluster: it is up, not off; fence it instead (systole fence {target})"
        ));
    }
    let (user, _) = identity(caller);
    let change = crate::actors::message::CibChange::ConfirmFenced {
        node: target.clone(),
        at_epoch_s: crate::actors::shared::now_epoch_s(),
        by: format!("{user} on {}", node.shared.node),
    };
    match modify_local_cib(&node.router, "control", change, CONTROL_REQUEST_TIMEOUT_MS).await {
        Ok(_) => ControlResponse::Done(format!(
            "{target} recorded as off (confirmed by hand): its resources may start elsewhere"
        )),
        Err(e) => ControlResponse::Error(e),
    }
}

/// Sends `change` to this node's CIB actor on behalf of the local actor
/// `from`; `Ok((version, log index))` once it is committed and applied,
/// `Err` with the reason otherwise (no quorum, refused, timed out).
async fn modify_local_cib(
    router: &Router,
    from: &str,
    change: crate::actors::message::CibChange,
    timeout_ms: u64,
) -> Result<(crate::model::cib::store::CibVersion, u64), String> {
    let answer = router
        .ask(
            router.local_ref(from),
            router.local_ref("cib"),
            CibModify { change },
            timeout_ms,
        )
        .await;
    match answer {
        Ok(Stored { version, index }) => Ok((version, index)),
        Err(error) => Err(error.to_string()),
    }
}

/// Who made a configuration change, stamped on it as Pacemaker does; status
/// changes (attributes, cleanups) go unstamped.
fn stamped(
    change: crate::actors::message::CibChange,
    caller: &Caller,
    origin: &str,
) -> crate::actors::message::CibChange {
    use crate::actors::message::{ChangeStamp, CibChange};
    if matches!(
        change,
        CibChange::SetTransientAttribute { .. }
            | CibChange::CleanupResource { .. }
            | CibChange::ConfirmFenced { .. }
            | CibChange::Stamped { .. }
    ) {
        return change;
    }
    let (user, _) = identity(caller);
    CibChange::Stamped {
        change: Box::new(change),
        stamp: ChangeStamp {
            at_epoch_s: crate::actors::shared::now_epoch_s(),
            user,
            client: "systole".into(),
            origin: origin.to_string(),
        },
    }
}

pub use crate::model::cib::verify::check_change;

/// `systole fence NODE`: the target must be a node the cluster knows, and
/// the action one a fence agent takes (parsed here, once).
pub fn check_fence_request(
    cib: &Element,
    target: &str,
    action: &str,
) -> Result<FenceAction, String> {
    let action = match FenceAction::parse(action) {
        Some(action @ (FenceAction::Reboot | FenceAction::Off | FenceAction::On)) => action,
        _ => {
            return Err(format!(
                "unknown fence action {action:?} (reboot, off or on)"
            ))
        }
    };
    let known = crate::model::cib::names::known_nodes(cib);
    if !known.iter().any(|n| n == target) {
        return Err(format!(
            "refused: no node named {target:?} in the cluster (nodes: {}); nothing was fenced",
            known.join(", ")
        ));
    }
    Ok(action)
}

async fn member_change(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    change: crate::model::control::members::MemberChange,
) -> Result<(), String> {
    node.router
        .ask(
            me,
            node.router.local_ref("cib"),
            MembersChange { change },
            CONTROL_REQUEST_TIMEOUT_MS,
        )
        .await
        .map_err(|error| error.to_string())
}

async fn member_add(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    name: String,
    addr: Option<String>,
    witness: bool,
) -> ControlResponse {
    use crate::model::control::members::{Member, MemberChange, MemberRole};
    if let Err(error) = crate::admin::check_id_syntax(&name) {
        return ControlResponse::Error(format!("node name {name:?}: {error}"));
    }
    if let Some(addr) = &addr {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            return ControlResponse::Error(format!(
                "--addr {addr:?} is not HOST:PORT (an IP address and a port)"
            ));
        }
    }
    let members = node.shared.consensus_info().members;
    if members.contains(&name) {
        return ControlResponse::Error(format!("{name} is already a member"));
    }
    let role = if witness {
        MemberRole::Witness
    } else {
        MemberRole::Learner
    };
    let change = MemberChange::Set(Member {
        name: name.clone(),
        addr,
        role,
    });
    match member_change(node, me, change).await {
        Ok(()) if witness => ControlResponse::Done(format!(
            "{name} added as a witness (it votes, never leads, runs nothing)"
        )),
        Ok(()) => ControlResponse::Done(format!(
            "{name} added as a learner: start its daemon; it becomes a voter once it has caught up"
        )),
        Err(error) => ControlResponse::Error(error),
    }
}

async fn member_remove(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    name: String,
    force: bool,
) -> ControlResponse {
    use crate::model::control::members::MemberChange;
    let members = node.shared.consensus_info().members;
    let Some(member) = members.by_name(&name) else {
        return ControlResponse::Error(format!("{name} is not a member"));
    };
    let online = node.shared.view().members.contains(&name);
    if online && member.role.runs_resources() && !force {
        return ControlResponse::Error(format!(
            "{name} is online: stop it first (its resources move away), or --force"
        ));
    }
    if member.role.votes() && members.voter_names().len() <= 1 {
        return ControlResponse::Error(format!("{name} is the last voter"));
    }
    match member_change(node, me, MemberChange::Remove { name: name.clone() }).await {
        Ok(()) => ControlResponse::Done(format!("{name} removed from the cluster")),
        Err(error) => ControlResponse::Error(error),
    }
}

/// Leaves out of a status report the resources whose configuration the
/// caller may not read (`visible` is the CIB as the caller's ACL shows it).
pub fn filter_status(report: &mut StatusReport, visible: &Element) {
    let configuration = visible.child("configuration");
    report.resources.retain(|r| {
        let base = r.id.split(':').next().unwrap_or(&r.id);
        configuration
            .and_then(|c| c.find_by_id(None, base))
            .is_some_and(|e| !e.attrs.iter().all(|(k, _)| k == "id"))
    });
}

/// Refuses a change that would touch anything the ACL does not let the
/// caller write. Checked against this node's copy of the CIB; a change that
/// does not apply to it is refused too, since what it would touch cannot be
/// known (it cannot slip past the check that way).
pub fn check_acl_write(
    cib: &Element,
    change: &crate::actors::message::CibChange,
    acl: &acl::UserAcl,
) -> Result<(), String> {
    let mut next = cib.clone();
    if let Err(error) = crate::model::cib::store::apply_change(&mut next, change) {
        return Err(format!("refused: {error}"));
    }
    // Version and change-stamp attributes on <cib> always move; they are
    // not the caller's edit.
    let stamp = crate::model::cib::store::CHANGE_STAMP_ATTRS;
    for key in ["admin_epoch", "epoch", "num_updates"]
        .into_iter()
        .chain(stamp)
    {
        match cib.attr(key) {
            Some(v) => next.set_attr(key, v),
            None => {
                next.remove_attr(key);
            }
        }
    }
    acl.check_write(cib, &next)
}

/// Who may use the control socket, from the node configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The daemon's own effective uid.
    pub own_uid: u32,
    pub admin_gid: Option<u32>,
    pub readonly_gid: Option<u32>,
}

/// What `caller` (with supplementary `groups`) may do: root, the daemon's
/// own user and members of the admin group change anything; members of the
/// read-only group read. Anyone else is refused when either group is
/// configured, and may read when none is (a local test cluster).
pub fn access(policy: &AccessPolicy, caller: &Caller, groups: &[u32]) -> Access {
    let member = |gid: Option<u32>| gid.is_some_and(|g| caller.gid == g || groups.contains(&g));
    if caller.uid == 0 || caller.uid == policy.own_uid || member(policy.admin_gid) {
        Access::Admin
    } else if member(policy.readonly_gid) {
        Access::ReadOnly
    } else if policy.admin_gid.is_some() || policy.readonly_gid.is_some() {
        Access::Denied
    } else {
        Access::ReadOnly
    }
}

/// Whether `caller` may change the cluster: root, the daemon's own user, or
/// a member of the configured admin group.
pub fn may_mutate(caller: &Caller, admin_gid: Option<u32>) -> bool {
    let policy = AccessPolicy {
        own_uid: unsafe { libc::geteuid() },
        admin_gid,
        readonly_gid: None,
    };
    access(&policy, caller, &caller_groups(caller)) == Access::Admin
}

/// The caller's supplementary groups, from /proc (empty if unknown).
pub fn caller_groups(caller: &Caller) -> Vec<u32> {
    let Some(pid) = caller.pid else {
        return Vec::new();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("Groups:")).map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|g| g.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The CIB ACLs that bind `caller`, or `None` when they do not apply:
/// ACLs are off (`enable-acl` unset), or the caller is root or the
/// daemon's own user, who are never restricted.
pub fn acl_for(
    cib: &Element,
    caller_uid: u32,
    own_uid: u32,
    user: &str,
    groups: &[String],
) -> Option<acl::UserAcl> {
    if caller_uid == 0 || caller_uid == own_uid || !acl::enabled(cib) {
        return None;
    }
    Some(acl::UserAcl::for_user(cib, user, groups))
}

/// The caller's user name and group names, for ACLs.
fn identity(caller: &Caller) -> (String, Vec<String>) {
    let user = user_name(caller.uid).unwrap_or_else(|| caller.uid.to_string());
    let mut gids = caller_groups(caller);
    gids.push(caller.gid);
    let groups = gids.into_iter().filter_map(group_name).collect();
    (user, groups)
}

fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

fn group_name(gid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 64 * 1024];
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    let rc = unsafe {
        libc::getgrgid_r(
            gid,
            &mut grp,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
    Some(name.to_string_lossy().into_owned())
}

pub fn group_gid(name: &str) -> Option<u32> {
    let c_name = std::ffi::CString::new(name).ok()?;
    let group = unsafe { libc::getgrnam(c_name.as_ptr()) };
    if group.is_null() {
        None
    } else {
        Some(unsafe { (*group).gr_gid })
    }
}

/// How the nodes of an in-process cluster run agents: each keeps its
/// agents' state below its own state dir, so they do not share it.
pub fn agent_config_for(config: &NodeConfig) -> AgentConfig {
    let settings = crate::actors::config::AgentSettings {
        rsctmp_dir: config.state_dir.join("run"),
        ..Default::default()
    };
    agent_config_with(config, &settings)
}

/// How this node runs agents, from its configuration and `[agents]` table.
pub fn agent_config_with(
    config: &NodeConfig,
    settings: &crate::actors::config::AgentSettings,
) -> AgentConfig {
    let defaults = AgentConfig::default();
    let agents_dir = config
        .agents_dir
        .clone()
        .unwrap_or_else(|| config.state_dir.join("agents"));
    // Agents find our crm_attribute, attrd_updater, crm_node, ... first
    // (on PATH, and as HA_SBIN_DIR, where Debian's ocf-shellfuncs and
    // agents look for Pacemaker's tools), and through them this node's
    // daemon.
    let tools = agents_dir.join("bin");
    let mut extra_env = std::collections::BTreeMap::new();
    extra_env.insert("SYSTOLE_SOCKET".into(), config.socket.display().to_string());
    extra_env.insert("SYSTOLE_NODE".into(), config.node_name.clone());
    extra_env.insert("HA_SBIN_DIR".into(), tools.display().to_string());
    if let Ok(exe) = std::env::current_exe() {
        extra_env.insert("SYSTOLE_BIN".into(), exe.display().to_string());
    }
    AgentConfig {
        ocf_root: config.ocf_root.clone(),
        path_env: format!("{}:{}", tools.display(), defaults.path_env),
        agents_dir,
        state_dir: settings.rsctmp_dir.clone(),
        extra_env,
        lsb_dir: settings.lsb_dir.clone(),
        systemd_bus: settings.systemd_bus.clone(),
        systemd_dropin_dir: settings.systemd_dropin_dir.clone(),
        ..defaults
    }
}

/// In the state dir: the `shutdown` value this node's last clean leave
/// announced.
const SHUTDOWN_ANNOUNCED_FILE: &str = "shutdown-announced";

/// How often a node looks for a `shutdown` request made for it elsewhere
/// (`systole cluster stop --node N` from another node).
pub const SHUTDOWN_REQUEST_POLL_MS: u64 = 500;

/// Leaves the cluster when the CIB asks this node to (its transient
/// `shutdown` attribute, set since this daemon started: one left over from
/// before a restart is not a request).
fn watch_for_shutdown_requests(node: &NodeHandle) {
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
async fn withdraw_left_over_shutdown(node: &NodeHandle) -> bool {
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

/// Feeds systemd's watchdog (`WatchdogSec=` in the unit) from the runtime
/// the actors run on: if it wedges, the feeding stops and systemd restarts
/// the daemon.
fn feed_watchdog() {
    let Some(interval) = crate::os::sd_notify::watchdog_interval() else {
        return;
    };
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "feeding systemd's watchdog"
    );
    tokio::task::spawn_local(async move {
        loop {
            crate::os::sd_notify::notify("WATCHDOG=1");
            tokio::time::sleep(interval).await;
        }
    });
}

/// `systole daemon`: runs a node in the foreground until SIGTERM/SIGINT.
pub fn run(
    config: NodeConfig,
    settings: crate::actors::config::AgentSettings,
    witness: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    crate::actors::tree::install_quiet_panic_hook();
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("creating state_dir {}", config.state_dir.display()))?;
    let agent_config = agent_config_with(&config, &settings);
    let rsctmp = crate::os::rsctmp::prepare(&agent_config.state_dir).with_context(|| {
        format!(
            "preparing the agents' state dir {}",
            agent_config.state_dir.display()
        )
    })?;
    tracing::info!(dir = %agent_config.state_dir.display(), ?rsctmp, "agents' state dir (HA_RSCTMP)");
    crate::agent::install_agents(&agent_config.agents_dir).with_context(|| {
        format!(
            "installing agents into {}",
            agent_config.agents_dir.display()
        )
    })?;
    let authkey = crate::transport::load_authkey(&config.authkey)
        .with_context(|| format!("reading authkey {}", config.authkey.display()))?;
    if let Some(pid_file) = &config.pid_file {
        crate::os::persist::write_atomic(pid_file, std::process::id().to_string().as_bytes())?;
    }
    if config.realtime {
        // Before the runtime's threads exist: their stacks too stay in RAM.
        crate::transport::realtime::lock_memory();
    }
    let system = actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    });
    let policy = AccessPolicy {
        own_uid: unsafe { libc::geteuid() },
        // A group that does not exist still counts as configured: nobody
        // is in it (u32::MAX is no valid gid).
        admin_gid: config
            .admin_group
            .as_deref()
            .map(|g| group_gid(g).unwrap_or(u32::MAX)),
        readonly_gid: config
            .readonly_group
            .as_deref()
            .map(|g| group_gid(g).unwrap_or(u32::MAX)),
    };
    for (what, name, gid) in [
        ("admin_group", &config.admin_group, policy.admin_gid),
        (
            "readonly_group",
            &config.readonly_group,
            policy.readonly_gid,
        ),
    ] {
        if let (Some(name), Some(u32::MAX)) = (name, gid) {
            tracing::warn!(%name, "{what} names no group on this system; nobody is in it");
        }
    }
    let pid_file = config.pid_file.clone();
    let result: anyhow::Result<()> = system.block_on(async move {
        let known = |gid: Option<u32>| gid.filter(|g| *g != u32::MAX);
        let ownership = crate::actors::control_socket::SocketOwnership {
            group: known(policy.admin_gid).or(known(policy.readonly_gid)),
            also_group: known(policy.readonly_gid),
        };
        // Bound before anything starts: a daemon that cannot have its
        // control socket does not start (and deletes nothing but a stale
        // socket of its own).
        let listener = crate::actors::control_socket::bind_socket(&config.socket, ownership)?;
        let transport_config = crate::transport::TransportConfig {
            cluster_name: config.cluster_name.clone(),
            node_name: config.node_name.clone(),
            bind: config.bind,
            peers: config
                .peers
                .iter()
                .map(|p| (p.name.clone(), p.addr))
                .collect(),
            multicast: config.multicast,
            authkey,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            heartbeat_timeout_ms: config.heartbeat_timeout_ms,
            // The bus's own quorum flag is unused: quorum is a majority
            // of the cluster's voters (the member table).
            expected_votes: config.peers.len() as u32 + 1,
            two_node: config.two_node,
            // With two nodes, a node that starts alone must not declare
            // itself quorate before it has seen its peer once (corosync's
            // wait_for_all), or both halves of a split start could run.
            wait_for_all: config.two_node,
            realtime_priority: config.realtime,
            limits: crate::transport::TransportLimits::default(),
        };
        let (bus, events) = crate::transport::start_udp(transport_config)
            .await
            .context("starting the transport")?;
        let settings = ConsensusSettings {
            initial_voters: config.initial_voters.clone(),
            initial_witnesses: config.initial_witnesses.clone(),
            witness,
            election_timeout_ms: config.election_timeout_ms,
            heartbeat_timeout_ms: config.heartbeat_timeout_ms,
            two_node: config.two_node,
        };
        let node = start_node_with(
            &config,
            agent_config,
            settings,
            bus,
            events,
            Box::new(|supervisor| {
                tracing::error!(
                    supervisor,
                    "root supervisor gave up; exiting for the init system to restart us"
                );
                std::process::exit(70);
            }),
        );
        tracing::info!(node = %config.node_name, bind = %config.bind, witness, "node started");
        let control_node = node.clone();
        // Its own thread: status and reads never wait behind the actors.
        crate::actors::control_socket::serve_on_thread(
            listener,
            &config.node_name,
            move |request, caller| {
                let node = control_node.clone();
                async move { handle_control(node, request, caller).await }
            },
            move |caller| access(&policy, caller, &caller_groups(caller)),
        )
        .context("starting the control socket's thread")?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        watch_for_shutdown_requests(&node);
        feed_watchdog();
        crate::os::sd_notify::notify(&format!(
            "READY=1\nSTATUS=node {} running",
            config.node_name
        ));
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = node.shutdown.notified() => tracing::info!("asked to shut down"),
        }
        crate::os::sd_notify::notify("STOPPING=1\nSTATUS=moving resources away before leaving");
        leave_cleanly(&node, SHUTDOWN_DRAIN_TIMEOUT_MS).await;
        node.bus.shutdown().await;
        Ok(())
    });
    if let Some(pid_file) = &pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    result
}

#[cfg(test)]
mod access_tests {
    use super::*;
    use crate::actors::message::CibChange;

    fn caller(uid: u32, gid: u32) -> Caller {
        Caller {
            uid,
            gid,
            pid: None,
        }
    }

    #[test]
    fn access_by_uid_and_groups() {
        let open = AccessPolicy {
            own_uid: 500,
            admin_gid: None,
            readonly_gid: None,
        };
        assert_eq!(access(&open, &caller(0, 0), &[]), Access::Admin);
        assert_eq!(access(&open, &caller(500, 500), &[]), Access::Admin);
        assert_eq!(access(&open, &caller(1000, 1000), &[]), Access::ReadOnly);
        let closed = AccessPolicy {
            own_uid: 500,
            admin_gid: Some(10),
            readonly_gid: Some(20),
        };
        assert_eq!(access(&closed, &caller(1000, 10), &[]), Access::Admin);
        assert_eq!(
            access(&closed, &caller(1000, 1000), &[30, 10]),
            Access::Admin
        );
        assert_eq!(
            access(&closed, &caller(1000, 1000), &[20]),
            Access::ReadOnly
        );
        assert_eq!(access(&closed, &caller(1000, 1000), &[30]), Access::Denied);
        assert_eq!(access(&closed, &caller(500, 1000), &[]), Access::Admin);
        let admin_only = AccessPolicy {
            own_uid: 500,
            admin_gid: Some(10),
            readonly_gid: None,
        };
        assert_eq!(
            access(&admin_only, &caller(1000, 1000), &[]),
            Access::Denied
        );
    }

    fn acl_cib() -> Element {
        Element::parse(
            r#"<cib admin_epoch="0" epoch="5" num_updates="0"><configuration>
  <crm_config><cluster_property_set id="cib-bootstrap-options"><nvpair id="cib-bootstrap-options-enable-acl" name="enable-acl" value="true"/></cluster_property_set></crm_config>
  <nodes/><resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/></resources><constraints/>
  <acls>
    <acl_target id="alice"><role id="ops"/></acl_target>
    <acl_role id="ops">
      <acl_permission id="ops-read" kind="read" xpath="/cib"/>
      <acl_permission id="ops-web" kind="write" reference="web"/>
    </acl_role>
  </acls>
</configuration><status/></cib>"#,
        )
        .unwrap()
    }

    #[test]
    fn acls_bind_ordinary_users_only_when_enabled() {
        let cib = acl_cib();
        assert!(acl_for(&cib, 0, 500, "root", &[]).is_none());
        assert!(acl_for(&cib, 500, 500, "hacluster", &[]).is_none());
        assert!(acl_for(&cib, 1000, 500, "alice", &[]).is_some());
        assert!(acl_for(
            &crate::model::cib::store::empty_cib(),
            1000,
            500,
            "alice",
            &[]
        )
        .is_none());
    }

    #[test]
    fn acl_writes_checked_against_the_change() {
        let cib = acl_cib();
        let alice = acl_for(&cib, 1000, 500, "alice", &[]).unwrap();
        let disable = crate::admin::resource_disable(&cib, "web")
            .unwrap()
            .into_change()
            .unwrap();
        assert_eq!(check_acl_write(&cib, &disable, &alice), Ok(()));
        let property = CibChange::SetProperty {
            name: "no-quorum-policy".into(),
            value: Some("ignore".into()),
        };
        let error = check_acl_write(&cib, &property, &alice).unwrap_err();
        assert!(error.contains("no write access"), "{error}");
        let both = CibChange::Batch(vec![disable, property]);
        assert!(check_acl_write(&cib, &both, &alice).is_err());
        let unknown = CibChange::Delete { id: "ghost".into() };
        assert!(check_acl_write(&cib, &unknown, &alice)
            .unwrap_err()
            .contains("ghost"));
        let mut report = StatusReport {
            cluster: "c".into(),
            dc: None,
            quorate: true,
            nodes: vec![],
            resources: ["web", "web:1", "db"]
                .iter()
                .map(|id| ResourceReport {
                    id: id.to_string(),
                    parent: None,
                    agent: "ocf:heartbeat:Dummy".into(),
                    role: "Started".into(),
                    nodes: vec![],
                    failed: false,
                    ..ResourceReport::default()
                })
                .collect(),
            ..StatusReport::default()
        };
        filter_status(&mut report, &alice.filter(&cib));
        assert_eq!(report.resources.len(), 2);
        let mallory = acl_for(&cib, 1001, 500, "mallory", &[]).unwrap();
        filter_status(&mut report, &mallory.filter(&cib));
        assert!(report.resources.is_empty());
        assert!(mallory.filter(&cib).find_by_id(None, "web").is_none());
    }
}
