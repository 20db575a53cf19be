//! A cluster node's connections to remote daemons: what the connection
//! resource (`ocf:pacemaker:remote`) starts, monitors and stops on the node
//! that hosts it, and the way operations placed on the remote node travel.
//!
//! A link lost without being stopped (the daemon died, the network broke)
//! is reported as a failed monitor of its connection resource, which the
//! scheduler answers as Pacemaker does: fence the remote node, recover the
//! connection.

use super::liveness::{Liveness, Tick, LINK_TIMEOUT_MS, PING_INTERVAL_MS};
use super::session::{fresh_incarnation, Handshake, RemoteMsg, Session, Step};
use super::wire::{now_ms, read_msg, spawn_writer, WireError};
use crate::actors::message::{ActorRef, DcNote, ExecNote, ExecResult, Message};
use crate::actors::shared::{now_epoch_s, NodeShared};
use crate::model::cib::operation::{OpKind, OpOutcome, OpSpec, OpStatus};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Frames queued to send on one link.
const OUTBOX_FRAMES_MAX: usize = 4096;
/// Longest a connect and handshake may take when the operation's timeout
/// is longer.
const CONNECT_TIMEOUT_MS_MAX: u64 = 30_000;
/// A refused connect is tried again this often...
const CONNECT_RETRY_MS: u64 = 500;
/// ...while more than this is left of the start's timeout.
const CONNECT_RETRY_MARGIN_MS: u64 = 3_000;
/// Added to an operation's own timeout while waiting for its result.
const RESULT_MARGIN_MS: u64 = 5_000;

/// One open connection to a remote daemon.
pub struct Link {
    pub node: String,
    session: Arc<Mutex<Session>>,
    outbox: mpsc::Sender<RemoteMsg>,
    pending: Mutex<HashMap<u64, oneshot::Sender<OpOutcome>>>,
    next_id: AtomicU64,
    /// Stopped on purpose: its end is no failure.
    stopping: AtomicBool,
    alive: AtomicBool,
    /// The connection resource's recurring monitor, reported failed if the
    /// link is lost.
    monitor: Mutex<Option<OpSpec>>,
    /// How long the link may stay silent before it is lost: the connection
    /// resource's configured timeout (its recurring monitor's once known,
    /// its start's before), never under `LINK_TIMEOUT_MS`. A busy remote
    /// daemon or a busy cluster node answers late; only the timeout the
    /// user configured may call that a failure, as Pacemaker's connection
    /// monitor does.
    silence_limit_ms: AtomicU64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Link {
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    fn close(&self) {
        self.alive.store(false, Ordering::Relaxed);
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        self.pending.lock().expect("pending lock").clear();
    }
}

/// The links of one cluster node, by remote node name.
#[derive(Default)]
pub struct RemoteLinks {
    links: Mutex<HashMap<String, Arc<Link>>>,
}

impl RemoteLinks {
    pub fn get(&self, node: &str) -> Option<Arc<Link>> {
        self.links.lock().expect("links lock").get(node).cloned()
    }

    /// Names of the remote nodes with a live link.
    pub fn connected(&self) -> Vec<String> {
        let links = self.links.lock().expect("links lock");
        let mut names: Vec<String> = links
            .values()
            .filter(|l| l.is_alive())
            .map(|l| l.node.clone())
            .collect();
        names.sort();
        names
    }

    fn insert(&self, link: Arc<Link>) {
        let old = self
            .links
            .lock()
            .expect("links lock")
            .insert(link.node.clone(), link);
        if let Some(old) = old {
            old.stopping.store(true, Ordering::Relaxed);
            old.close();
        }
    }

    /// Closes the link on purpose (the connection resource stops).
    pub fn disconnect(&self, node: &str) {
        let link = self.links.lock().expect("links lock").remove(node);
        if let Some(link) = link {
            link.stopping.store(true, Ordering::Relaxed);
            link.close();
        }
    }

    /// The connection migrates away: the link's end is expected.
    pub fn hand_over(&self, node: &str) {
        if let Some(link) = self.get(node) {
            link.stopping.store(true, Ordering::Relaxed);
        }
    }

    /// Forgets the connection's recurring monitor (cancelled).
    pub fn forget_monitor(&self, node: &str) {
        if let Some(link) = self.get(node) {
            *link.monitor.lock().expect("monitor lock") = None;
        }
    }
}

/// An answer made here, without the remote daemon.
pub fn local_outcome(rc: i32, status: OpStatus, reason: &str, call_id: u64) -> OpOutcome {
    OpOutcome {
        rc,
        status,
        output: reason.to_string(),
        exec_ms: 0,
        ended_epoch_s: now_epoch_s(),
        call_id,
        exit_reason: reason.to_string(),
    }
}

/// The connection resource's own operations, on the node that hosts it.
pub async fn connection_op(shared: &Arc<NodeShared>, op: &OpSpec, call_id: u64) -> OpOutcome {
    let node = op.resource.clone();
    let ok = |reason: &str| local_outcome(0, OpStatus::Done, reason, call_id);
    match &op.operation {
        OpKind::Start | OpKind::MigrateFrom => match connect(shared, op).await {
            Ok(()) => ok(""),
            Err(reason) => {
                tracing::warn!(%node, %reason, "remote: connection failed");
                local_outcome(1, OpStatus::Error, &reason, call_id)
            }
        },
        OpKind::Stop => {
            shared.remote_links.disconnect(&node);
            ok("")
        }
        // The link stays until the stop that follows the migration (what
        // is in flight finishes over it), but its end is no failure now:
        // the remote daemon is about to serve the new host instead.
        OpKind::MigrateTo => {
            shared.remote_links.hand_over(&node);
            ok("")
        }
        OpKind::Monitor => {
            let Some(link) = shared.remote_links.get(&node).filter(|l| l.is_alive()) else {
                return local_outcome(7, OpStatus::Done, "", call_id);
            };
            if op.interval_ms > 0 {
                link.silence_limit_ms
                    .store(silence_limit_ms(op), Ordering::Relaxed);
                *link.monitor.lock().expect("monitor lock") = Some(op.clone());
            }
            ok("")
        }
        OpKind::Reload | OpKind::ReloadAgent | OpKind::MetaData | OpKind::ValidateAll => ok(""),
        other => local_outcome(
            3,
            OpStatus::NotSupported,
            &format!("{other} is not an action of a remote connection"),
            call_id,
        ),
    }
}

/// Runs `op` on remote node `node` over its link.
pub async fn exec_on(
    shared: &Arc<NodeShared>,
    node: &str,
    op: OpSpec,
) -> Result<OpOutcome, String> {
    let link = shared
        .remote_links
        .get(node)
        .filter(|l| l.is_alive())
        .ok_or_else(|| format!("no connection to remote node {node} on {}", shared.node))?;
    let id = link.next_id.fetch_add(1, Ordering::Relaxed);
    let (answer, result) = oneshot::channel();
    link.pending
        .lock()
        .expect("pending lock")
        .insert(id, answer);
    let wait_ms = op.timeout_ms + RESULT_MARGIN_MS;
    if link.outbox.send(RemoteMsg::Exec { id, op }).await.is_err() {
        return Err(format!("connection to remote node {node} closed"));
    }
    match tokio::time::timeout(std::time::Duration::from_millis(wait_ms), result).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(_)) => Err(format!("connection to remote node {node} lost")),
        Err(_) => {
            link.pending.lock().expect("pending lock").remove(&id);
            Err(format!("remote node {node} did not answer in {wait_ms} ms"))
        }
    }
}

/// Connects to `server:port` for remote node `node`. As Pacemaker's remote
/// connection does, a refused connect is tried again (a container's
/// executor may not listen yet) until the start's timeout is close.
async fn connect_retrying(
    node: &str,
    server: &str,
    port: u16,
    timeout_ms: u64,
) -> Result<tokio::net::TcpStream, String> {
    let started = std::time::Instant::now();
    loop {
        match tokio::net::TcpStream::connect((server, port)).await {
            Ok(stream) => return Ok(stream),
            Err(e)
                if started.elapsed().as_millis() as u64 + CONNECT_RETRY_MARGIN_MS < timeout_ms =>
            {
                tracing::debug!(%node, error = %e, "remote: connect failed, retrying");
                tokio::time::sleep(std::time::Duration::from_millis(CONNECT_RETRY_MS)).await;
            }
            Err(e) => return Err(format!("cannot connect to {server}:{port}: {e}")),
        }
    }
}

/// A connection whose handshake completed: what reads it, its session,
/// the queue of frames to send and the task writing them.
struct Opened {
    reader: tokio::net::tcp::OwnedReadHalf,
    session: Arc<Mutex<Session>>,
    outbox: mpsc::Sender<RemoteMsg>,
    writer: tokio::task::JoinHandle<()>,
}

/// Where a link goes: the remote node and the daemon's address.
struct Target<'a> {
    node: &'a str,
    server: &'a str,
    port: u16,
}

/// Connects to the daemon and completes the handshake: the daemon must
/// name itself as the remote node the connection resource is for.
async fn open(
    shared: &NodeShared,
    target: &Target<'_>,
    key: &crate::transport::AuthKey,
    timeout_ms: u64,
) -> Result<Opened, String> {
    let Target { node, server, port } = *target;
    let stream = connect_retrying(node, server, port, timeout_ms).await?;
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let session = Arc::new(Mutex::new(Session::new(
        key,
        &shared.cluster_name,
        &shared.node,
        fresh_incarnation(),
    )));
    let mut handshake = Handshake::AwaitHello {
        expected_node: node.to_string(),
    };
    let (outbox, queue) = mpsc::channel(OUTBOX_FRAMES_MAX);
    let writer = spawn_writer(writer, Arc::clone(&session), queue);
    let mut unbound_ok = true;
    loop {
        let msg = read_msg(&mut reader, &session, unbound_ok)
            .await
            .map_err(|e| format!("handshake with {server}:{port}: {e}"))?;
        unbound_ok = false;
        let peer = Session::peer_of(&session);
        match handshake.receive(&shared.node, &peer, &msg) {
            Ok(Step::Send(reply)) => {
                let _ = outbox.send(*reply).await;
            }
            Ok(Step::Up) => break,
            Err(e) => {
                writer.abort();
                return Err(format!("handshake with {server}:{port}: {e}"));
            }
        }
    }
    Ok(Opened {
        reader,
        session,
        outbox,
        writer,
    })
}

/// Connects to the daemon the connection resource names, completes the
/// handshake, and keeps the link watched.
async fn connect(shared: &Arc<NodeShared>, op: &OpSpec) -> Result<(), String> {
    let (server, port) = super::liveness::connection_target(op)?;
    let key = shared
        .cluster_key
        .get()
        .cloned()
        .ok_or("this node has no cluster key")?;
    let timeout_ms = op.timeout_ms.clamp(1_000, CONNECT_TIMEOUT_MS_MAX);
    let node = op.resource.clone();
    let target = Target {
        node: &node,
        server: &server,
        port,
    };
    let attempt = open(shared, &target, &key, timeout_ms);
    let opened = tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), attempt)
        .await
        .map_err(|_| format!("no connection to {server}:{port} within {timeout_ms} ms"))??;
    let link = Arc::new(Link {
        node: node.clone(),
        session: opened.session,
        outbox: opened.outbox,
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        stopping: AtomicBool::new(false),
        alive: AtomicBool::new(true),
        monitor: Mutex::new(None),
        silence_limit_ms: AtomicU64::new(silence_limit_ms(op)),
        tasks: Mutex::new(vec![opened.writer]),
    });
    let watcher = tokio::spawn(watch(Arc::clone(shared), Arc::clone(&link), opened.reader));
    link.tasks.lock().expect("tasks lock").push(watcher);
    shared.remote_links.insert(link);
    tracing::info!(%node, %server, port, "remote: connected");
    Ok(())
}

/// The silence a link to the connection resource of `op` may keep.
fn silence_limit_ms(op: &OpSpec) -> u64 {
    op.timeout_ms.max(LINK_TIMEOUT_MS)
}

/// Reads the link until it ends, pinging a quiet one; a link that ends
/// without being stopped is reported as a failed connection monitor.
async fn watch(
    shared: Arc<NodeShared>,
    link: Arc<Link>,
    mut reader: tokio::net::tcp::OwnedReadHalf,
) {
    let limit_ms = || link.silence_limit_ms.load(Ordering::Relaxed);
    let mut liveness = Liveness::new(now_ms(), PING_INTERVAL_MS, limit_ms());
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(PING_INTERVAL_MS / 4));
    let ended = loop {
        liveness.set_timeout_ms(limit_ms());
        tokio::select! {
            // What the peer sent is read before the clock is judged: after
            // this task waited for a busy runtime, a frame that arrived in
            // time must count, not the time this node took to look.
            biased;
            msg = read_link(&link, &mut reader) => match msg {
                Ok(msg) => {
                    liveness.heard(now_ms());
                    deliver(&shared, &link, msg);
                }
                Err(error) => break error.to_string(),
            },
            _ = ticker.tick() => match liveness.tick(now_ms()) {
                Tick::Idle => {}
                Tick::Ping => {
                    let _ = link.outbox.try_send(RemoteMsg::Ping { id: 0 });
                }
                Tick::Lost => break format!("nothing heard for {} ms", limit_ms()),
            },
        }
    };
    link.alive.store(false, Ordering::Relaxed);
    link.pending.lock().expect("pending lock").clear();
    if link.stopping.load(Ordering::Relaxed) {
        return;
    }
    tracing::warn!(node = %link.node, reason = %ended, "remote: connection lost");
    report_lost(&shared, &link, &ended);
}

async fn read_link(
    link: &Link,
    reader: &mut tokio::net::tcp::OwnedReadHalf,
) -> Result<RemoteMsg, WireError> {
    read_msg(reader, &link.session, false).await
}

/// A message from the remote daemon, where it belongs.
fn deliver(shared: &NodeShared, link: &Link, msg: RemoteMsg) {
    match msg {
        RemoteMsg::Result { id, outcome } => {
            let waiting = link.pending.lock().expect("pending lock").remove(&id);
            if let Some(waiting) = waiting {
                let _ = waiting.send(outcome);
            }
        }
        RemoteMsg::Recurring { op, outcome } => {
            // As a full node's executor reports a changed monitor: to the DC.
            let (Some(router), Some(dc)) = (shared.router.get(), shared.dc_info().dc) else {
                return;
            };
            let _ = router.send(
                router.local_ref("exec"),
                ActorRef::new(&dc, "dc"),
                Message::DcNote(DcNote::ExecResult(ExecResult {
                    transition: 0,
                    action: 0,
                    node: link.node.clone(),
                    op,
                    outcome,
                })),
            );
        }
        RemoteMsg::Pong { .. } => {}
        other => tracing::warn!(node = %link.node, ?other, "remote: unexpected message ignored"),
    }
}

/// The connection's monitor, failed: the link is gone.
fn report_lost(shared: &NodeShared, link: &Link, reason: &str) {
    let op = link
        .monitor
        .lock()
        .expect("monitor lock")
        .clone()
        .unwrap_or_else(|| OpSpec {
            resource: link.node.clone(),
            agent: crate::model::cib::operation::AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("pacemaker".into()),
                kind: "remote".into(),
            },
            operation: "monitor".into(),
            interval_ms: 0,
            timeout_ms: 20_000,
            params: Default::default(),
            meta: Default::default(),
        });
    let outcome = local_outcome(
        1,
        OpStatus::Error,
        &format!("connection to remote node {} lost: {reason}", link.node),
        shared.next_call_id(),
    );
    if let Some(router) = shared.router.get() {
        let me = router.local_ref("exec");
        let _ = router.send(
            me.clone(),
            me,
            Message::ExecNote(ExecNote::RecurringResult { op, outcome }),
        );
    }
}
