//! `systole remote`: the executor alone, for a cluster node to drive over
//! an authenticated, encrypted TCP connection (pacemaker_remote's role).
//! No vote, no CIB, no scheduler: it runs what it is asked to run and says
//! what its recurring monitors find. The newest authenticated connection is
//! the one it serves (a connection that moves to another cluster node
//! replaces the old one); a refused frame ends that connection only.

use super::session::{fresh_incarnation, Handshake, RemoteMsg, Session, Step};
use super::wire::{read_msg, spawn_writer, WireError};
use crate::actors::shared::NodeShared;
use crate::model::cib::operation::{OpOutcome, OpSpec};
use crate::transport::AuthKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Without a finished handshake this long, a connection is dropped.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Threads for blocking work (file system calls of agent runs).
const REMOTE_BLOCKING_THREADS_MAX: usize = 4;
/// Frames queued to send on one connection.
const OUTBOX_FRAMES_MAX: usize = 1024;

/// The executor's side: what every connection shares.
pub struct RemoteExecutor {
    shared: Arc<NodeShared>,
    key: AuthKey,
    /// The connection being served: its number and its outbox.
    current: Mutex<Option<(u64, mpsc::Sender<RemoteMsg>)>>,
    connections: AtomicU64,
    /// Each recurring monitor's newest result, sent again to a new
    /// connection when it is a failure (it may have been lost in between).
    monitors: Mutex<HashMap<(String, u64), (OpSpec, OpOutcome)>>,
    /// Frames refused (forged, replayed, malformed), for the log and tests.
    pub refused_frames: AtomicU64,
}

impl RemoteExecutor {
    pub fn new(shared: Arc<NodeShared>, key: AuthKey) -> Arc<RemoteExecutor> {
        Arc::new(RemoteExecutor {
            shared,
            key,
            current: Mutex::new(None),
            connections: AtomicU64::new(0),
            monitors: Mutex::new(HashMap::new()),
            refused_frames: AtomicU64::new(0),
        })
    }

    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// Serves connections on `listener` forever; also forwards the
    /// recurring monitors' reports to the connection being served.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let reports = Arc::clone(&self);
        tokio::spawn(async move { reports.forward_monitor_reports().await });
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let this = Arc::clone(&self);
                    tokio::spawn(async move {
                        let outcome = this.connection(stream).await;
                        match outcome {
                            Ok(()) | Err(WireError::Closed) => {
                                tracing::info!(%peer, "remote: connection closed")
                            }
                            Err(error) => {
                                if matches!(error, WireError::Refused(_)) {
                                    this.refused_frames.fetch_add(1, Ordering::Relaxed);
                                }
                                tracing::warn!(%peer, %error, "remote: connection ended")
                            }
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "remote: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn forward_monitor_reports(&self) {
        let mut reports = self.shared.take_monitor_reports();
        while let Some(report) = reports.recv().await {
            let key = (report.key.resource_id.clone(), report.key.interval_ms);
            let Some(op) = self.shared.recurring_op(&key.0, key.1) else {
                continue;
            };
            let outcome = crate::actors::exec::outcome_from_agent(
                &report.outcome,
                self.shared.next_call_id(),
            );
            self.monitors
                .lock()
                .expect("monitors lock")
                .insert(key, (op.clone(), outcome.clone()));
            self.send_current(RemoteMsg::Recurring { op, outcome });
        }
    }

    fn send_current(&self, msg: RemoteMsg) {
        let current = self.current.lock().expect("current lock").clone();
        if let Some((_, outbox)) = current {
            if outbox.try_send(msg).is_err() {
                tracing::warn!("remote: connection's queue full, a monitor report dropped");
            }
        }
    }

    /// One connection: handshake, then operations until it ends.
    async fn connection(self: &Arc<Self>, stream: TcpStream) -> Result<(), WireError> {
        let _ = stream.set_nodelay(true);
        let (mut reader, writer) = stream.into_split();
        let session = Arc::new(Mutex::new(Session::new(
            &self.key,
            &self.shared.cluster_name,
            &self.shared.node,
            fresh_incarnation(),
        )));
        let (outbox, queue) = mpsc::channel(OUTBOX_FRAMES_MAX);
        let writer = spawn_writer(writer, Arc::clone(&session), queue);
        let _ = outbox
            .send(RemoteMsg::Hello {
                node: self.shared.node.clone(),
            })
            .await;
        let joined = tokio::time::timeout(
            std::time::Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
            self.handshake(&mut reader, &session, &outbox),
        )
        .await;
        let number = match joined {
            Ok(Ok(number)) => number,
            Ok(Err(error)) => {
                writer.abort();
                return Err(error);
            }
            Err(_) => {
                writer.abort();
                tracing::warn!("remote: no handshake within {HANDSHAKE_TIMEOUT_MS} ms");
                return Ok(());
            }
        };
        let result = self.serve_ops(&mut reader, &session, &outbox, number).await;
        let mut current = self.current.lock().expect("current lock");
        if current.as_ref().is_some_and(|(n, _)| *n == number) {
            *current = None;
        }
        drop(current);
        writer.abort();
        result
    }

    /// Reads the `Join`, answers `Welcome`, and makes this the connection
    /// served; returns its number.
    async fn handshake(
        &self,
        reader: &mut tokio::net::tcp::OwnedReadHalf,
        session: &Mutex<Session>,
        outbox: &mpsc::Sender<RemoteMsg>,
    ) -> Result<u64, WireError> {
        let mut handshake = Handshake::AwaitJoin;
        let msg = read_msg(reader, session, false).await?;
        let peer = Session::peer_of(session);
        let Step::Send(welcome) = handshake.receive(&self.shared.node, &peer, &msg)? else {
            return Err(WireError::Closed);
        };
        let _ = outbox.send(*welcome).await;
        let number = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(cluster_node = %peer, "remote: joined by the cluster");
        *self.current.lock().expect("current lock") = Some((number, outbox.clone()));
        // Failures the previous connection may not have passed on.
        let failures: Vec<RemoteMsg> = self
            .monitors
            .lock()
            .expect("monitors lock")
            .values()
            .filter(|(op, outcome)| !outcome.succeeded_as(op.expected_rc()))
            .map(|(op, outcome)| RemoteMsg::Recurring {
                op: op.clone(),
                outcome: outcome.clone(),
            })
            .collect();
        for msg in failures {
            let _ = outbox.send(msg).await;
        }
        Ok(number)
    }

    async fn serve_ops(
        &self,
        reader: &mut tokio::net::tcp::OwnedReadHalf,
        session: &Mutex<Session>,
        outbox: &mpsc::Sender<RemoteMsg>,
        number: u64,
    ) -> Result<(), WireError> {
        loop {
            let msg = read_msg(reader, session, false).await?;
            let served = self
                .current
                .lock()
                .expect("current lock")
                .as_ref()
                .is_some_and(|(n, _)| *n == number);
            if !served {
                tracing::info!("remote: connection replaced by a newer one");
                return Ok(());
            }
            match msg {
                RemoteMsg::Ping { id } => {
                    let _ = outbox.send(RemoteMsg::Pong { id }).await;
                }
                RemoteMsg::Exec { id, op } => {
                    let shared = Arc::clone(&self.shared);
                    let outbox = outbox.clone();
                    tokio::spawn(async move {
                        tracing::debug!(resource = %op.resource, operation = %op.operation, "remote: running");
                        let outcome = crate::actors::exec::execute(shared, op).await;
                        let _ = outbox.send(RemoteMsg::Result { id, outcome }).await;
                    });
                }
                other => {
                    tracing::warn!(?other, "remote: unexpected message ignored");
                }
            }
        }
    }
}

/// `systole remote --config FILE`: runs until killed.
pub fn run(
    config: super::config::RemoteConfig,
    agents: crate::actors::config::AgentSettings,
) -> anyhow::Result<()> {
    use anyhow::Context;
    // One thread is plenty (agents are child processes), and keeps a
    // machine with hundreds of remote daemons light. The blocking pool
    // (tokio::fs, each agent run) is bounded too: unbounded, a burst of
    // probes made 51 threads per daemon, and 200 daemons hit the machine's
    // task limit.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(REMOTE_BLOCKING_THREADS_MAX)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let key = crate::transport::load_authkey(&config.authkey)?;
        std::fs::create_dir_all(&config.state_dir)
            .with_context(|| format!("creating {}", config.state_dir.display()))?;
        let agent_config = config.agent_config(&agents);
        crate::agent::install_agents(&agent_config.agents_dir).with_context(|| {
            format!("installing agents in {}", agent_config.agents_dir.display())
        })?;
        let shared = Arc::new(NodeShared::new(
            &config.node_name,
            &config.cluster_name,
            config.state_dir.clone(),
            agent_config,
            Default::default(),
        ));
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        if let Some(pid_file) = &config.pid_file {
            crate::os::persist::write_atomic(pid_file, std::process::id().to_string().as_bytes())?;
        }
        tracing::info!(node = %config.node_name, listen = %config.listen, "remote executor ready");
        RemoteExecutor::new(shared, key).serve(listener).await;
        Ok(())
    })
}
