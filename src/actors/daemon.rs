//! The node daemon: starts the transport, the supervised actors and the
//! control socket, and wires them together.
//!
//! [`start_node`] takes an already started bus, so the same assembly runs
//! over real UDP sockets (the daemon) and over the in-memory network (tests
//! of whole clusters in one process).

use crate::actors::access::{access, caller_groups, group_gid, AccessPolicy};
use crate::actors::attrd_task::{spawn_attribute_manager, AttrdCommand};
use crate::actors::cell::Cell;
use crate::actors::cib::CibActor;
use crate::actors::config::NodeConfig;
use crate::actors::control::handle_control;
use crate::actors::dc::DcActor;
use crate::actors::exec::ExecActor;
use crate::actors::fence::FenceActor;
use crate::actors::membership::{BusActor, MembershipActor};
use crate::actors::message::{ExecNote, Message, View};
use crate::actors::policy::PolicyActor;
use crate::actors::raft_thread::{RaftThread, RAFT_MAILBOX};
use crate::actors::router::{Link, Router};
use crate::actors::shared::{ConsensusSettings, NodeShared};
use crate::actors::shutdown::{
    leave_cleanly, watch_for_shutdown_requests, SHUTDOWN_DRAIN_TIMEOUT_MS,
};
use crate::actors::storage::{DiskWriter, RaftFiles};
use crate::actors::supervision::{Strategy, SupervisorSpec};
use crate::actors::tree::Tree;
use crate::agent::AgentConfig;
use crate::transport::{Bus, BusEvent};
use std::sync::Arc;
use tokio::sync::mpsc;

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

/// Sends envelopes for other nodes through the bus: queued at once, in
/// order, and sent by the transport's thread with whatever else is queued
/// (no task or thread hop of its own: with many nodes every hop is a wait
/// in the run queue). A slow node never holds up the others: its stream's
/// limit refuses what does not fit.
struct BusLink {
    bus: Bus,
    shared: Arc<NodeShared>,
}

impl Link for BusLink {
    fn send(&self, node: &str, bytes: Vec<u8>) -> Result<(), String> {
        if !self.shared.view().members.iter().any(|m| m == node) {
            return Err(format!("{node} is not a member"));
        }
        self.bus
            .send_now(node, bytes)
            .map_err(|error| error.to_string())
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
    events: mpsc::Receiver<BusEvent>,
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
    let raft = RaftThread::start(Arc::clone(&shared), config.realtime);
    router.register(RAFT_MAILBOX, Arc::new(raft.clone()));
    let _ = shared.disk.set(start_disk_writer(config, &raft));
    router.set_link(Arc::new(BusLink {
        bus: bus.clone(),
        shared: Arc::clone(&shared),
    }));
    let spec = if witness {
        witness_supervision_spec()
    } else {
        supervision_spec()
    };
    let tree = Tree::new(spec, give_up);
    start_consensus_actors(&shared, &router, &tree, &bus, &raft);
    if !witness {
        start_deciding_actors(&shared, &router, &tree);
    }
    set_message_sink(&shared, &router, &bus);
    forward_bus_events(&shared, &router, events);
    forward_monitor_reports(&shared, &router);
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

/// The Raft log's disk writer thread; what it reports goes to the
/// consensus thread.
fn start_disk_writer(config: &NodeConfig, raft: &RaftThread) -> DiskWriter {
    let raft = raft.clone();
    DiskWriter::start(
        RaftFiles::new(&config.state_dir),
        Box::new(move |report| raft.disk_report(report)),
        disk_failure_injector(&config.state_dir),
    )
}

/// The actors every node runs, a witness too: bus, membership, CIB.
fn start_consensus_actors(
    shared: &Arc<NodeShared>,
    router: &Arc<Router>,
    tree: &Arc<Tree>,
    bus: &Bus,
    raft: &RaftThread,
) {
    let bus = bus.clone();
    Cell::start(
        "bus",
        Box::new(move || Box::new(BusActor { bus: bus.clone() })),
        router,
        tree,
    );
    let for_membership = Arc::clone(shared);
    Cell::start(
        "membership",
        Box::new(move || {
            Box::new(MembershipActor {
                shared: Arc::clone(&for_membership),
            })
        }),
        router,
        tree,
    );
    let for_cib = Arc::clone(shared);
    let raft = raft.clone();
    Cell::start(
        "cib",
        Box::new(move || Box::new(CibActor::new(Arc::clone(&for_cib), raft.clone()))),
        router,
        tree,
    );
}

/// Once the actors are registered, messages go to their actors from the
/// transport's thread: the router only decodes and queues them in a mailbox.
fn set_message_sink(shared: &Arc<NodeShared>, router: &Arc<Router>, bus: &Bus) {
    let router = Arc::clone(router);
    let shared = Arc::clone(shared);
    bus.set_message_sink(Arc::new(move |from: &str, payload: Vec<u8>| {
        deliver_from_peer(&shared, &router, from, &payload)
    }));
}

/// A peer's envelope to the router if the member table admits the peer,
/// else refused and counted.
fn deliver_from_peer(shared: &NodeShared, router: &Router, from: &str, payload: &[u8]) {
    if shared.admits(from) {
        router.receive_remote(from, payload)
    } else {
        refuse_non_member(shared, from);
    }
}

/// Bus events into the actors: members' envelopes to the router, views to
/// the membership actor.
fn forward_bus_events(
    shared: &Arc<NodeShared>,
    router: &Arc<Router>,
    mut events: mpsc::Receiver<BusEvent>,
) {
    let router = Arc::clone(router);
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            tracing::trace!(event = ?std::mem::discriminant(&event), "bus event");
            match event {
                BusEvent::Message { from, payload } => {
                    deliver_from_peer(&shared, &router, &from, &payload)
                }
                BusEvent::View(view) => {
                    let view = View {
                        id: view.id,
                        members: view.members.iter().cloned().collect(),
                        quorate: view.quorate,
                    };
                    let me = router.local_ref("bus");
                    let membership = router.local_ref("membership");
                    let _ = router.send(me, membership, Message::ViewChanged(view));
                }
            }
        }
    });
}

/// Recurring monitor reports into the executor.
fn forward_monitor_reports(shared: &Arc<NodeShared>, router: &Arc<Router>) {
    let shared = Arc::clone(shared);
    let router = Arc::clone(router);
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
            let note = ExecNote::RecurringResult { op, outcome };
            let _ = router.send(me.clone(), me, Message::ExecNote(note));
        }
    });
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
    let agents = settings.agent_config(config.ocf_root.clone(), agents_dir, extra_env);
    AgentConfig {
        path_env: format!("{}:{}", tools.display(), agents.path_env),
        ..agents
    }
}

/// Feeds systemd's watchdog (`WatchdogSec=` in the unit) from the runtime
/// the actors run on: if it wedges, the feeding stops and systemd restarts
/// the daemon.
pub(crate) fn feed_watchdog() {
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
    let agent_config = prepare_agents(&config, &settings)?;
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
    let policy = access_policy(&config);
    let pid_file = config.pid_file.clone();
    let result = system.block_on(serve(config, agent_config, authkey, policy, witness));
    if let Some(pid_file) = &pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    result
}

/// The agents' state dir emptied after a reboot, our own agents installed.
fn prepare_agents(
    config: &NodeConfig,
    settings: &crate::actors::config::AgentSettings,
) -> anyhow::Result<AgentConfig> {
    use anyhow::Context;
    let agent_config = agent_config_with(config, settings);
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
    Ok(agent_config)
}

/// Who may use the control socket, from the configured groups.
fn access_policy(config: &NodeConfig) -> AccessPolicy {
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
    policy
}

/// Binds the control socket, starts the transport and the node, serves
/// until a signal or a shutdown request, then leaves cleanly.
async fn serve(
    config: NodeConfig,
    agent_config: AgentConfig,
    authkey: crate::transport::AuthKey,
    policy: AccessPolicy,
    witness: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let known = |gid: Option<u32>| gid.filter(|g| *g != u32::MAX);
    let ownership = crate::actors::control_socket::SocketOwnership {
        group: known(policy.admin_gid).or(known(policy.readonly_gid)),
        also_group: known(policy.readonly_gid),
    };
    // Bound before anything starts: a daemon that cannot have its
    // control socket does not start (and deletes nothing but a stale
    // socket of its own).
    let listener = crate::actors::control_socket::bind_socket(&config.socket, ownership)?;
    let (bus, events) = crate::transport::start_udp(transport_config(&config, authkey))
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
    let give_up = Box::new(|supervisor: &str| {
        tracing::error!(
            supervisor,
            "root supervisor gave up; exiting for the init system to restart us"
        );
        std::process::exit(70);
    });
    let node = start_node_with(&config, agent_config, settings, bus, events, give_up);
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
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
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
}

/// The transport's settings from the node's configuration.
fn transport_config(
    config: &NodeConfig,
    authkey: crate::transport::AuthKey,
) -> crate::transport::TransportConfig {
    crate::transport::TransportConfig {
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
    }
}
