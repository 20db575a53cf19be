//! The control socket between the CLI and a node's daemon: a Unix socket
//! carrying length-prefixed rmp-serde frames, one request and one answer per
//! connection. The daemon learns the caller's uid from the kernel
//! (SO_PEERCRED), so access is decided on who the caller really is.

use crate::actors::message::CibChange;
use crate::actors::tree::TreeNode;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Largest control frame: a whole CIB of a big cluster fits.
pub const CONTROL_FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControlRequest {
    Ping,
    Status,
    Actors,
    ActorsKill {
        name: String,
    },
    CibGet,
    /// The CIB as of the leader's commit index (a linearizable read).
    CibGetConsistent,
    CibModify {
        change: CibChange,
    },
    /// `systole node add`: a new member, as a learner until it caught up.
    MemberAdd {
        name: String,
        addr: Option<String>,
        witness: bool,
    },
    /// `systole node remove`.
    MemberRemove {
        name: String,
        force: bool,
    },
    /// The transitions the DCs ran, as this node knows them.
    History,
    /// `systole report`: CIB, history, status, and every member's settings
    /// and log lines from `from_epoch_s` to `to_epoch_s`.
    Report {
        from_epoch_s: i64,
        to_epoch_s: i64,
    },
    /// The bus's counters (sent, received, dropped and why).
    BusStats,
    /// This node's scheduler and transition durations (`/metrics`).
    Timings,
    /// Fence a node now (`systole fence NODE`), through the DC.
    Fence {
        target: String,
        action: String,
    },
    /// `systole fence confirm NODE`: the operator powered it off by hand.
    FenceConfirm {
        target: String,
    },
    Shutdown,
    /// `attrd_updater`: set or delete a transient node attribute, dampened.
    AttrUpdate {
        node: String,
        name: String,
        value: Option<String>,
        dampen_ms: u64,
    },
    /// `attrd_updater -Q`: an attribute's newest value on one node or all.
    AttrQuery {
        node: Option<String>,
        name: String,
    },
    /// `systole resource agents [CLASS[:PROVIDER]]`.
    Agents {
        filter: Option<String>,
    },
    /// `systole resource describe AGENT`: its meta-data.
    DescribeAgent {
        agent: String,
    },
    /// Chaos testing: drop all traffic with these nodes (empty: heal).
    ChaosBlock {
        nodes: Vec<String>,
    },
}

/// Which path a request takes through the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Answered from the node's shared state on the control socket's own
    /// thread: never waits behind a transition, a write or an agent.
    Read,
    /// Waits for actors, the cluster or an agent: admitted up to
    /// [`CONTROL_WORK_REQUESTS_MAX`] at once, else "busy, retry".
    Work,
}

impl ControlRequest {
    pub fn lane(&self) -> Lane {
        match self {
            ControlRequest::Ping
            | ControlRequest::Status
            | ControlRequest::Actors
            | ControlRequest::CibGet
            | ControlRequest::History
            | ControlRequest::BusStats
            | ControlRequest::Timings => Lane::Read,
            _ => Lane::Work,
        }
    }

    /// Whether the request changes anything (and so needs an admin).
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            ControlRequest::Fence { .. }
                | ControlRequest::FenceConfirm { .. }
                | ControlRequest::ActorsKill { .. }
                | ControlRequest::CibModify { .. }
                | ControlRequest::MemberAdd { .. }
                | ControlRequest::MemberRemove { .. }
                | ControlRequest::ChaosBlock { .. }
                | ControlRequest::Shutdown
                | ControlRequest::AttrUpdate { .. }
                // Logs and settings: for administrators only.
                | ControlRequest::Report { .. }
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeReport {
    pub name: String,
    /// A remote or guest node: online while the cluster's connection to
    /// it runs, not a member of the membership.
    #[serde(default)]
    pub remote: bool,
    pub online: bool,
    pub standby: bool,
    pub maintenance: bool,
    /// Its node attributes, permanent and transient (`pingd`,
    /// `#health-cpu`, `master-db`, ...), without fail counts.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ResourceReport {
    pub id: String,
    pub parent: Option<String>,
    pub agent: String,
    pub role: String,
    pub nodes: Vec<String>,
    /// It failed where it runs, or has failures recorded anywhere (until
    /// `resource cleanup`).
    pub failed: bool,
    /// Its fail count per node (INFINITY is 1000000), when not zero.
    #[serde(default)]
    pub fail_counts: std::collections::BTreeMap<String, i64>,
}

/// `systole status --json`, as DESIGN.md fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StatusReport {
    pub cluster: String,
    pub dc: Option<String>,
    pub quorate: bool,
    pub nodes: Vec<NodeReport>,
    pub resources: Vec<ResourceReport>,
    /// The node that answered.
    #[serde(default)]
    pub answered_by: String,
    #[serde(default)]
    pub fencing: Vec<crate::model::cib::store::FenceRecord>,
    /// Failed operations, newest first (crm_mon's "Failed Resource Actions").
    #[serde(default)]
    pub failed_actions: Vec<crate::scheduler::status::FailedAction>,
    /// The last configuration change.
    #[serde(default)]
    pub last_change: Option<crate::scheduler::status::LastChange>,
    /// When the answering node made this report (seconds since the epoch).
    #[serde(default)]
    pub updated_epoch_s: i64,
    /// Configuration errors and warnings of the CIB (`systole cib verify`),
    /// one a line: what the scheduler leaves out.
    #[serde(default)]
    pub config_errors: Vec<String>,
    /// The consensus as the answering node sees it.
    #[serde(default)]
    pub consensus: Option<ConsensusReport>,
}

/// The consensus part of `status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ConsensusReport {
    pub term: u64,
    pub leader: Option<String>,
    pub commit_index: u64,
    pub applied_index: u64,
    /// Members that vote (witnesses included), learners catching up, and
    /// witnesses.
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    pub witnesses: Vec<String>,
    /// Voters this node reaches (itself included).
    pub reachable_voters: usize,
    /// Set while this node's disk fails: it neither votes nor acknowledges.
    pub disk_error: Option<String>,
    /// The DC's last scheduler error, until scheduling works again.
    pub scheduler_error: Option<String>,
    /// Why this two-node survivor does not go on alone (fencing disabled
    /// or failing), while its peer is lost.
    #[serde(default)]
    pub two_node_warning: Option<String>,
    /// Messages refused because their sender is not a member.
    pub refused_non_members: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
// One answer per connection, encoded at once: the size of the status
// variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum ControlResponse {
    Pong {
        node: String,
    },
    Status(StatusReport),
    Actors {
        node: String,
        tree: TreeNode,
    },
    Cib {
        xml: String,
    },
    History {
        node: String,
        transitions: Vec<crate::model::control::history::TransitionRecord>,
    },
    Report(Box<crate::actors::report::Report>),
    /// `attrd_updater -Q`: (node, value) pairs.
    Attributes(Vec<(String, Option<String>)>),
    Agents(Vec<String>),
    AgentMetadata(crate::agent::metadata::AgentMetadata),
    /// `systole bus`: the transport's counters on `node`.
    Bus {
        node: String,
        stats: crate::transport::TransportStats,
        /// Datagrams from hosts that hold the key but are not members.
        refused_non_members: u64,
    },
    /// Scheduler and transition durations on `node`.
    Timings {
        node: String,
        timings: crate::model::control::histogram::Timings,
    },
    Done(String),
    Error(String),
    /// Too many requests wait for this node's actors: nothing was done;
    /// retry after `retry_after_ms` ([`call`] does, a few times).
    Busy {
        node: String,
        retry_after_ms: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the daemon at {path}: {source} (is it running? see --socket / --dir)")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("talking to the daemon: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes exceeds the limit of {CONTROL_FRAME_BYTES_MAX}")]
    TooLarge(usize),
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("the daemon at {path} gave no answer within {timeout_ms} ms (busy or stuck); retry, or see its log")]
    NoAnswer { path: String, timeout_ms: u64 },
    #[error("node {node} is busy ({CONTROL_WORK_REQUESTS_MAX} requests already wait for it; asked {attempts} times): nothing was done, retry shortly")]
    Busy { node: String, attempts: usize },
}

pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, ControlError> {
    // Named fields: optional fields may be skipped without shifting the rest.
    let body = rmp_serde::to_vec_named(value).map_err(|e| ControlError::Decode(e.to_string()))?;
    if body.len() > CONTROL_FRAME_BYTES_MAX {
        return Err(ControlError::TooLarge(body.len()));
    }
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    Ok(frame)
}

pub fn decode_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ControlError> {
    rmp_serde::from_slice(body).map_err(|e| ControlError::Decode(e.to_string()))
}

fn read_frame(stream: &mut impl Read) -> Result<Vec<u8>, ControlError> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let length = u32::from_be_bytes(length) as usize;
    if length > CONTROL_FRAME_BYTES_MAX {
        return Err(ControlError::TooLarge(length));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Waits before the retries of a request refused as busy: a few, growing.
pub const CONTROL_BUSY_BACKOFF_MS: [u64; 4] = [100, 250, 500, 1000];

/// The CLI's side: one request, one answer. A busy node is asked again
/// after each of [`CONTROL_BUSY_BACKOFF_MS`] (nothing was done), then
/// [`ControlError::Busy`].
pub fn call(
    socket: &Path,
    request: &ControlRequest,
    timeout_ms: u64,
) -> Result<ControlResponse, ControlError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match call_once(socket, request, timeout_ms)? {
            ControlResponse::Busy {
                node,
                retry_after_ms,
            } => match CONTROL_BUSY_BACKOFF_MS.get(attempts - 1) {
                Some(backoff_ms) => {
                    let wait_ms = (*backoff_ms).max(retry_after_ms.min(5_000));
                    std::thread::sleep(Duration::from_millis(wait_ms));
                }
                None => return Err(ControlError::Busy { node, attempts }),
            },
            answer => return Ok(answer),
        }
    }
}

fn call_once(
    socket: &Path,
    request: &ControlRequest,
    timeout_ms: u64,
) -> Result<ControlResponse, ControlError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| ControlError::Connect {
        path: socket.display().to_string(),
        source,
    })?;
    stream.set_read_timeout(Some(Duration::from_millis(timeout_ms)))?;
    stream.set_write_timeout(Some(Duration::from_millis(timeout_ms)))?;
    // A timeout is EAGAIN from the kernel ("Resource temporarily
    // unavailable"): say what happened instead.
    let timed_out = |error: ControlError| match error {
        ControlError::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            ControlError::NoAnswer {
                path: socket.display().to_string(),
                timeout_ms,
            }
        }
        other => other,
    };
    stream
        .write_all(&encode_frame(request)?)
        .map_err(|e| timed_out(e.into()))?;
    let body = read_frame(&mut stream).map_err(timed_out)?;
    decode_body(&body)
}

/// Who is calling, as the kernel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// What a caller may do on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Root, the daemon's user, the admin group: anything (CIB ACLs aside).
    Admin,
    /// The read-only group (or anyone when no group is configured): reads.
    ReadOnly,
    /// Nothing at all.
    Denied,
}

/// The answer to a request `access` does not allow, or `None` to go on.
pub fn refusal(request: &ControlRequest, caller: &Caller, access: Access) -> Option<String> {
    match access {
        Access::Admin => None,
        Access::ReadOnly if !request.mutates() => None,
        Access::ReadOnly => Some(format!(
            "permission denied: uid {} may only read; changes need root, the daemon's user or the admin group",
            caller.uid
        )),
        // Liveness only: lets the CLI find a node, then say why it is refused.
        Access::Denied if matches!(request, ControlRequest::Ping) => None,
        Access::Denied => Some(format!(
            "permission denied: uid {} is neither root nor in the cluster's admin or read-only group",
            caller.uid
        )),
    }
}

/// Control connections served at once (each holds a file descriptor).
pub const CONTROL_CONNECTIONS_MAX: usize = 256;
/// Work-lane requests (writes, consistent reads, agents) admitted at once on
/// one node; beyond, the caller is told "busy, retry" at once.
pub const CONTROL_WORK_REQUESTS_MAX: usize = 64;
/// What a busy node suggests as the wait before a retry.
pub const CONTROL_BUSY_RETRY_MS: u64 = 200;
/// Control connections one uid may hold at once.
pub const CONTROL_CONNECTIONS_PER_UID_MAX: usize = 16;
/// How long a caller may take to send its whole request, in milliseconds.
pub const CONTROL_IDLE_MS_MAX: u64 = 10_000;
/// Largest request a caller who may only read can send, in bytes (reads
/// are a few bytes; a CIB write is an admin's).
pub const CONTROL_READ_FRAME_BYTES_MAX: usize = 64 * 1024;
/// Largest request a caller with no access can send (a ping), in bytes.
pub const CONTROL_DENIED_FRAME_BYTES_MAX: usize = 64;
/// Longest socket path, in bytes: the kernel's `sun_path` holds 108 with
/// the terminating NUL.
pub const SOCKET_PATH_BYTES_MAX: usize = 107;

/// Who may connect to the socket file, besides its owner: the group named
/// here owns it with read-write (mode 0660), and `also_group` (the read-only
/// group) gets read-write through a POSIX ACL entry; nobody else can
/// connect at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketOwnership {
    pub group: Option<u32>,
    pub also_group: Option<u32>,
}

/// Gives `gid` read-write on `path` with a POSIX access ACL (owner and owning
/// group read-write, others nothing), in the kernel's xattr format.
fn grant_group(path: &std::ffi::CStr, gid: u32) -> std::io::Result<()> {
    const UNDEFINED: u32 = u32::MAX;
    let entries: [(u16, u16, u32); 5] = [
        (0x01, 6, UNDEFINED), // user::rw-
        (0x04, 6, UNDEFINED), // group::rw-
        (0x08, 6, gid),       // group:GID:rw-
        (0x10, 6, UNDEFINED), // mask::rw-
        (0x20, 0, UNDEFINED), // other::---
    ];
    let mut value = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        value.extend_from_slice(&tag.to_le_bytes());
        value.extend_from_slice(&perm.to_le_bytes());
        value.extend_from_slice(&id.to_le_bytes());
    }
    let name = c"system.posix_acl_access";
    let rc = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("socket path {path} is {bytes} bytes, over SOCKET_PATH_BYTES_MAX = {SOCKET_PATH_BYTES_MAX} bytes (the kernel's limit)")]
    PathTooLong { path: String, bytes: usize },
    #[error("refusing to use {path} as the control socket: it exists and is not a socket (nothing was deleted)")]
    NotASocket { path: String },
    #[error("{path} is the live control socket of another daemon")]
    InUse { path: String },
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Checks a control socket path's length (the config check uses it too).
pub fn check_socket_path(socket: &Path) -> Result<(), SocketError> {
    let bytes = socket.as_os_str().len();
    if bytes > SOCKET_PATH_BYTES_MAX {
        return Err(SocketError::PathTooLong {
            path: socket.display().to_string(),
            bytes,
        });
    }
    Ok(())
}

/// Binds the socket: only a stale socket of ours is removed first; any
/// other file, or a socket a live daemon answers on, is left alone.
pub fn bind_socket(
    socket: &Path,
    ownership: SocketOwnership,
) -> Result<tokio::net::UnixListener, SocketError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let path = socket.display().to_string();
    let io = |source| SocketError::Io {
        path: path.clone(),
        source,
    };
    check_socket_path(socket)?;
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(socket).is_ok() {
                return Err(SocketError::InUse { path });
            }
            std::fs::remove_file(socket).map_err(io)?;
        }
        Ok(_) => return Err(SocketError::NotASocket { path }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(error)),
    }
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Created owner-only, then opened to the group: never world-connectable.
    let old_mask = unsafe { libc::umask(0o177) };
    let listener = tokio::net::UnixListener::bind(socket);
    unsafe { libc::umask(old_mask) };
    let listener = listener.map_err(io)?;
    let c_path = std::ffi::CString::new(socket.as_os_str().as_encoded_bytes())
        .map_err(|_| SocketError::NotASocket { path: path.clone() })?;
    if let Some(gid) = ownership.group {
        if unsafe { libc::chown(c_path.as_ptr(), u32::MAX, gid) } != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
    }
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    if let Some(gid) = ownership.also_group.filter(|g| Some(*g) != ownership.group) {
        if let Err(error) = grant_group(&c_path, gid) {
            // The read-only group then cannot connect; say so, run on.
            tracing::warn!(%error, gid, "control socket: no ACL for the read-only group (a filesystem without POSIX ACLs?); its members cannot connect");
        }
    }
    Ok(listener)
}

/// The largest request body a caller with `access` may send.
pub fn frame_bytes_max(access: Access) -> usize {
    match access {
        Access::Admin => CONTROL_FRAME_BYTES_MAX,
        Access::ReadOnly => CONTROL_READ_FRAME_BYTES_MAX,
        Access::Denied => CONTROL_DENIED_FRAME_BYTES_MAX,
    }
}

/// Open connections per uid, bounded.
#[derive(Default)]
struct ConnectionCounts {
    per_uid: std::sync::Mutex<std::collections::HashMap<u32, usize>>,
}

impl ConnectionCounts {
    fn enter(self: &std::sync::Arc<Self>, uid: u32) -> Option<UidSlot> {
        let mut counts = self.per_uid.lock().expect("connection counts");
        let count = counts.entry(uid).or_default();
        if *count >= CONTROL_CONNECTIONS_PER_UID_MAX {
            return None;
        }
        *count += 1;
        Some(UidSlot {
            counts: std::sync::Arc::clone(self),
            uid,
        })
    }
}

/// One connection's place in its uid's count, given back when dropped.
struct UidSlot {
    counts: std::sync::Arc<ConnectionCounts>,
    uid: u32,
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.per_uid.lock().expect("connection counts");
        if let Some(count) = counts.get_mut(&self.uid) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.uid);
            }
        }
    }
}

/// Serves the control socket for good. Each caller's access is decided from
/// its kernel credentials (SO_PEERCRED) before any of its request is read,
/// and bounds what it may send ([`frame_bytes_max`]); requests are refused
/// before `handle` when `access(caller)` does not allow them (see
/// [`refusal`]). Connections are bounded in number (per uid and in all) and
/// in time; a failing `accept` (out of file descriptors) is waited out,
/// never the end of the listener. Requests take their [`Lane`].
pub async fn serve<H, F, M>(
    socket: &Path,
    ownership: SocketOwnership,
    handle: H,
    access: M,
) -> Result<(), SocketError>
where
    H: Fn(ControlRequest, Caller) -> F + Send + Sync + Clone + 'static,
    F: std::future::Future<Output = ControlResponse> + Send + 'static,
    M: Fn(&Caller) -> Access + Send + Sync + Clone + 'static,
{
    let listener = bind_socket(socket, ownership)?;
    let lanes = Lanes::new("this node", tokio::runtime::Handle::current());
    serve_listener(listener, lanes, handle, access).await;
    Ok(())
}

/// At most `limit` holders at once; entering never waits.
#[derive(Debug, Clone)]
pub struct Admission {
    limit: usize,
    admitted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A place taken in an [`Admission`], given back when dropped.
#[derive(Debug)]
pub struct Admitted {
    admitted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Admission {
    pub fn new(limit: usize) -> Self {
        Admission {
            limit,
            admitted: Default::default(),
        }
    }

    /// A place, or `None` when all `limit` are taken (the caller answers
    /// "busy, retry" rather than queueing without bound).
    pub fn try_enter(&self) -> Option<Admitted> {
        use std::sync::atomic::Ordering;
        let limit = self.limit;
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(Admitted {
            admitted: std::sync::Arc::clone(&self.admitted),
        })
    }

    pub fn admitted(&self) -> usize {
        self.admitted.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admitted
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Where requests are answered: reads where the socket is served, work on
/// `work` (the daemon's runtime), bounded by `admission`.
#[derive(Debug, Clone)]
pub struct Lanes {
    node: String,
    work: tokio::runtime::Handle,
    admission: Admission,
}

impl Lanes {
    pub fn new(node: &str, work: tokio::runtime::Handle) -> Self {
        Lanes::with_limit(node, work, CONTROL_WORK_REQUESTS_MAX)
    }

    pub fn with_limit(node: &str, work: tokio::runtime::Handle, work_max: usize) -> Self {
        Lanes {
            node: node.to_owned(),
            work,
            admission: Admission::new(work_max),
        }
    }

    async fn answer<H, F>(
        &self,
        request: ControlRequest,
        caller: Caller,
        handle: &H,
    ) -> ControlResponse
    where
        H: Fn(ControlRequest, Caller) -> F,
        F: std::future::Future<Output = ControlResponse> + Send + 'static,
    {
        if request.lane() == Lane::Read {
            return handle(request, caller).await;
        }
        let Some(admitted) = self.admission.try_enter() else {
            return ControlResponse::Busy {
                node: self.node.clone(),
                retry_after_ms: CONTROL_BUSY_RETRY_MS,
            };
        };
        let work = handle(request, caller);
        // The place is held until the work is done, even if the caller left.
        let done = self.work.spawn(async move {
            let _admitted = admitted;
            work.await
        });
        done.await
            .unwrap_or_else(|error| ControlResponse::Error(format!("request failed: {error}")))
    }
}

/// Serves `listener` on an OS thread of its own (with its own runtime), so
/// `status` and other reads are answered however busy the daemon's runtime
/// and actors are; work-lane requests run on the calling runtime.
pub fn serve_on_thread<H, F, M>(
    listener: tokio::net::UnixListener,
    node: &str,
    handle: H,
    access: M,
) -> std::io::Result<()>
where
    H: Fn(ControlRequest, Caller) -> F + Send + Sync + Clone + 'static,
    F: std::future::Future<Output = ControlResponse> + Send + 'static,
    M: Fn(&Caller) -> Access + Send + Sync + Clone + 'static,
{
    let lanes = Lanes::new(node, tokio::runtime::Handle::current());
    let listener = listener.into_std()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("systole-control".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::UnixListener::from_std(listener) {
                    Ok(listener) => serve_listener(listener, lanes, handle, access).await,
                    Err(error) => tracing::error!(%error, "control socket: cannot serve"),
                }
            })
        })?;
    Ok(())
}

/// [`serve`] on a socket already bound with [`bind_socket`]; never returns.
pub async fn serve_listener<H, F, M>(
    listener: tokio::net::UnixListener,
    lanes: Lanes,
    handle: H,
    access: M,
) where
    H: Fn(ControlRequest, Caller) -> F + Send + Sync + Clone + 'static,
    F: std::future::Future<Output = ControlResponse> + Send + 'static,
    M: Fn(&Caller) -> Access + Send + Sync + Clone + 'static,
{
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONTROL_CONNECTIONS_MAX));
    let counts = std::sync::Arc::new(ConnectionCounts::default());
    loop {
        // Wait for a free slot before accepting: excess callers wait in the
        // kernel's backlog instead of costing descriptors here.
        let Ok(slot) = std::sync::Arc::clone(&slots).acquire_owned().await else {
            continue;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "control socket: accept failed; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (handle, access, counts) = (handle.clone(), access.clone(), counts.clone());
        let lanes = lanes.clone();
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(stream, &counts, &lanes, handle, access).await;
        });
    }
}

async fn serve_connection<H, F, M>(
    mut stream: tokio::net::UnixStream,
    counts: &std::sync::Arc<ConnectionCounts>,
    lanes: &Lanes,
    handle: H,
    access: M,
) where
    H: Fn(ControlRequest, Caller) -> F,
    F: std::future::Future<Output = ControlResponse> + Send + 'static,
    M: Fn(&Caller) -> Access,
{
    use tokio::io::AsyncWriteExt;
    let Ok(cred) = stream.peer_cred() else {
        return;
    };
    let caller = Caller {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    };
    let idle = Duration::from_millis(CONTROL_IDLE_MS_MAX);
    let allowed = access(&caller);
    // Administrators (root, the daemon's user, the admin group) are bound
    // only by the overall limit: agents run as root and may call
    // `crm_attribute` or `attrd_updater` many at a time.
    let _uid_slot = if matches!(allowed, Access::Admin) {
        None
    } else {
        let Some(slot) = counts.enter(caller.uid) else {
            let refused = ControlResponse::Error(format!(
                "refused: uid {} already holds CONTROL_CONNECTIONS_PER_UID_MAX = {CONTROL_CONNECTIONS_PER_UID_MAX} connections",
                caller.uid
            ));
            if let Ok(frame) = encode_frame(&refused) {
                let _ = tokio::time::timeout(idle, stream.write_all(&frame)).await;
            }
            return;
        };
        Some(slot)
    };
    let response = match tokio::time::timeout(idle, read_request(&mut stream, allowed)).await {
        Err(_) => ControlResponse::Error(format!(
            "no complete request within CONTROL_IDLE_MS_MAX = {CONTROL_IDLE_MS_MAX} ms"
        )),
        Ok(Err(None)) => return,
        Ok(Err(Some(error))) => ControlResponse::Error(error),
        Ok(Ok(request)) => match refusal(&request, &caller, allowed) {
            Some(error) => ControlResponse::Error(error),
            None => lanes.answer(request, caller, &handle).await,
        },
    };
    if let Ok(frame) = encode_frame(&response) {
        let _ = tokio::time::timeout(idle, stream.write_all(&frame)).await;
    }
}

/// Reads one request, its size bounded by what the caller's access allows
/// (decided before the body is read). `Err(None)`: the caller went away.
async fn read_request(
    stream: &mut tokio::net::UnixStream,
    access: Access,
) -> Result<ControlRequest, Option<String>> {
    use tokio::io::AsyncReadExt;
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).await.map_err(|_| None)?;
    let length = u32::from_be_bytes(length) as usize;
    let limit = frame_bytes_max(access);
    if length > limit {
        return Err(Some(format!(
            "request of {length} bytes refused: this caller may send at most {limit} bytes \
             (CONTROL_FRAME_BYTES_MAX = {CONTROL_FRAME_BYTES_MAX} bytes for admins)"
        )));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.map_err(|_| None)?;
    decode_body::<ControlRequest>(&body).map_err(|error| Some(format!("bad request: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_by_access() {
        let caller = Caller {
            uid: 1234,
            gid: 1234,
            pid: None,
        };
        let read = ControlRequest::CibGet;
        let write = ControlRequest::Shutdown;
        assert_eq!(refusal(&read, &caller, Access::Admin), None);
        assert_eq!(refusal(&write, &caller, Access::Admin), None);
        assert_eq!(refusal(&read, &caller, Access::ReadOnly), None);
        assert!(refusal(&write, &caller, Access::ReadOnly)
            .unwrap()
            .contains("may only read"));
        assert!(refusal(&read, &caller, Access::Denied)
            .unwrap()
            .contains("neither root nor"));
        assert_eq!(
            refusal(&ControlRequest::Ping, &caller, Access::Denied),
            None
        );
    }

    #[test]
    fn frames_round_trip_and_garbage_is_an_error() {
        let frame = encode_frame(&ControlRequest::ActorsKill { name: "cib".into() }).unwrap();
        let body = read_frame(&mut &frame[..]).unwrap();
        assert!(
            matches!(decode_body::<ControlRequest>(&body).unwrap(), ControlRequest::ActorsKill { name } if name == "cib")
        );
        assert!(decode_body::<ControlRequest>(b"\xff\x00garbage").is_err());
        let huge = (u32::MAX).to_be_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]),
            Err(ControlError::TooLarge(_))
        ));
        assert!(read_frame(&mut &[0u8, 0][..]).is_err());
    }

    #[tokio::test]
    async fn server_answers_and_refuses_mutation_by_readers() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        let path = socket.clone();
        tokio::spawn(async move {
            serve(
                &path,
                SocketOwnership::default(),
                |request, _caller| async move {
                    match request {
                        ControlRequest::Ping => ControlResponse::Pong { node: "n1".into() },
                        _ => ControlResponse::Done("done".into()),
                    }
                },
                |_caller| Access::ReadOnly,
            )
            .await
        });
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let s = socket.clone();
        let pong = tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Ping, 2_000))
            .await
            .unwrap();
        assert!(matches!(pong, Ok(ControlResponse::Pong { node }) if node == "n1"));
        let s = socket.clone();
        let refused =
            tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Shutdown, 2_000))
                .await
                .unwrap();
        assert!(
            matches!(refused, Ok(ControlResponse::Error(e)) if e.contains("permission denied"))
        );
        // Garbage on the socket gets an error answer, and the server lives on.
        let s = socket.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = UnixStream::connect(&s).unwrap();
            stream.write_all(&[0, 0, 0, 3, 0xc1, 0xc1, 0xc1]).unwrap();
            let body = read_frame(&mut stream).unwrap();
            assert!(matches!(
                decode_body::<ControlResponse>(&body).unwrap(),
                ControlResponse::Error(_)
            ));
        })
        .await
        .unwrap();
        let s = socket.clone();
        let pong = tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Ping, 2_000))
            .await
            .unwrap();
        assert!(pong.is_ok());
    }

    #[test]
    fn the_socket_never_replaces_what_is_not_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        // A regular file is refused and kept.
        let file = dir.path().join("precious");
        std::fs::write(&file, "keep me").unwrap();
        let error = bind_socket(&file, SocketOwnership::default()).unwrap_err();
        assert!(matches!(error, SocketError::NotASocket { .. }), "{error}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        // Too long a path is named with the limit.
        let long = dir.path().join("x".repeat(120));
        let error = bind_socket(&long, SocketOwnership::default()).unwrap_err();
        assert!(
            error.to_string().contains("SOCKET_PATH_BYTES_MAX = 107"),
            "{error}"
        );
        // A fresh socket is 0660; a live one is not taken over; a stale one is.
        let socket = dir.path().join("s.sock");
        let listener = bind_socket(&socket, SocketOwnership::default()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(
            bind_socket(&socket, SocketOwnership::default()),
            Err(SocketError::InUse { .. })
        ));
        drop(listener);
        assert!(bind_socket(&socket, SocketOwnership::default()).is_ok());
    }

    async fn start_server(socket: &Path, access: Access) {
        let path = socket.to_path_buf();
        tokio::spawn(async move {
            serve(
                &path,
                SocketOwnership::default(),
                |_request, _caller| async move { ControlResponse::Pong { node: "n1".into() } },
                move |_caller| access,
            )
            .await
        });
        for _ in 0..200 {
            if UnixStream::connect(socket).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("server did not start");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_without_access_cannot_make_the_daemon_read_a_large_body() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        start_server(&socket, Access::Denied).await;
        let s = socket.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = UnixStream::connect(&s).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            // Announce 60 MB and send none of it: the answer comes at once.
            stream.write_all(&(60_000_000u32).to_be_bytes()).unwrap();
            let body = read_frame(&mut stream).unwrap();
            decode_body::<ControlResponse>(&body).unwrap()
        })
        .await
        .unwrap();
        assert!(
            matches!(&answer, ControlResponse::Error(e) if e.contains("at most 64 bytes")),
            "{answer:?}"
        );
        // A ping (to find a node) still works for it.
        let s = socket.clone();
        let pong = tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Ping, 2_000))
            .await
            .unwrap();
        assert!(matches!(pong, Ok(ControlResponse::Pong { .. })), "{pong:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_stops_mid_request_is_answered_and_dropped_after_the_idle_limit() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        start_server(&socket, Access::Admin).await;
        let s = socket.clone();
        let (answer, after) = tokio::task::spawn_blocking(move || {
            let mut stream = UnixStream::connect(&s).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(CONTROL_IDLE_MS_MAX * 3)))
                .unwrap();
            // A length and half the body, then nothing.
            stream.write_all(&100u32.to_be_bytes()).unwrap();
            stream.write_all(&[0u8; 50]).unwrap();
            let body = read_frame(&mut stream).unwrap();
            let answer: ControlResponse = decode_body(&body).unwrap();
            // The daemon has closed its end: the next read sees the end.
            let mut rest = Vec::new();
            let after = std::io::Read::read_to_end(&mut stream, &mut rest).map(|_| rest.len());
            (answer, after)
        })
        .await
        .unwrap();
        assert!(
            matches!(&answer, ControlResponse::Error(e) if e.contains("CONTROL_IDLE_MS_MAX")),
            "{answer:?}"
        );
        assert_eq!(after.unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn administrators_are_bound_only_by_the_overall_limit() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        start_server(&socket, Access::Admin).await;
        let s = socket.clone();
        tokio::task::spawn_blocking(move || {
            // Many agents calling crm_attribute at once, all as root.
            let held: Vec<UnixStream> = (0..CONTROL_CONNECTIONS_PER_UID_MAX * 3)
                .map(|_| UnixStream::connect(&s).unwrap())
                .collect();
            let answer = call(&s, &ControlRequest::Ping, 2_000);
            assert!(
                matches!(answer, Ok(ControlResponse::Pong { .. })),
                "{answer:?}"
            );
            drop(held);
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_connections_are_bounded_and_the_listener_lives_on() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        // The per-uid bound holds for callers who are not administrators.
        start_server(&socket, Access::ReadOnly).await;
        let s = socket.clone();
        tokio::task::spawn_blocking(move || {
            // Many idle connections from one uid: past the per-uid bound
            // each is refused at once, and the listener keeps going.
            let mut idle = Vec::new();
            let mut refused = 0;
            for _ in 0..300 {
                let mut stream = UnixStream::connect(&s).unwrap();
                stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                if let Ok(body) = read_frame(&mut stream) {
                    let answer: ControlResponse = decode_body(&body).unwrap();
                    assert!(
                        matches!(&answer, ControlResponse::Error(e) if e.contains("CONTROL_CONNECTIONS_PER_UID_MAX")),
                        "{answer:?}"
                    );
                    refused += 1;
                } else {
                    idle.push(stream);
                }
            }
            assert_eq!(idle.len(), CONTROL_CONNECTIONS_PER_UID_MAX);
            assert_eq!(refused, 300 - CONTROL_CONNECTIONS_PER_UID_MAX);
            drop(idle);
            // Slots come back when the idle callers go.
            let mut answered = false;
            for _ in 0..50 {
                if let Ok(ControlResponse::Pong { .. }) = call(&s, &ControlRequest::Ping, 2_000) {
                    answered = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(answered);
        })
        .await
        .unwrap();
    }

    #[test]
    fn admission_is_bounded_and_places_come_back() {
        let admission = Admission::new(2);
        let first = admission.try_enter().unwrap();
        let second = admission.try_enter().unwrap();
        assert!(admission.try_enter().is_none(), "full: refused, not queued");
        assert_eq!(admission.admitted(), 2);
        drop(first);
        let third = admission.try_enter().unwrap();
        assert!(admission.try_enter().is_none());
        drop((second, third));
        assert_eq!(admission.admitted(), 0);
        assert!(Admission::new(0).try_enter().is_none());
    }

    #[test]
    fn reads_and_work_take_their_lanes() {
        assert_eq!(ControlRequest::Status.lane(), Lane::Read);
        assert_eq!(ControlRequest::CibGet.lane(), Lane::Read);
        assert_eq!(ControlRequest::CibGetConsistent.lane(), Lane::Work);
        assert_eq!(ControlRequest::Shutdown.lane(), Lane::Work);
        let agents = ControlRequest::Agents { filter: None };
        assert_eq!(agents.lane(), Lane::Work, "may run an agent");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_beyond_the_limit_is_told_busy_and_reads_still_answer() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        let listener = bind_socket(&socket, SocketOwnership::default()).unwrap();
        let lanes = Lanes::with_limit("n1", tokio::runtime::Handle::current(), 2);
        let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let held_release = release.clone();
        tokio::spawn(serve_listener(
            listener,
            lanes.clone(),
            move |request: ControlRequest, _caller| {
                let release = held_release.clone();
                async move {
                    if request.lane() == Lane::Work {
                        release.acquire().await.unwrap().forget();
                    }
                    ControlResponse::Done(format!("{request:?}"))
                }
            },
            |_caller| Access::Admin,
        ));
        let ask = |request: ControlRequest| {
            let socket = socket.clone();
            tokio::task::spawn_blocking(move || call(&socket, &request, 10_000))
        };
        let held = [ask(ControlRequest::Shutdown), ask(ControlRequest::Shutdown)];
        while lanes.admission.admitted() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let socket_path = socket.clone();
        let once = tokio::task::spawn_blocking(move || {
            call_once(&socket_path, &ControlRequest::Shutdown, 10_000)
        });
        assert!(matches!(
            once.await.unwrap(),
            Ok(ControlResponse::Busy { node, .. }) if node == "n1"
        ));
        // The CLI's call retries with backoff, then says so.
        let refused = ask(ControlRequest::Shutdown).await.unwrap().unwrap_err();
        assert!(matches!(refused, ControlError::Busy { attempts: 5, .. }));
        assert!(refused.to_string().contains("busy"), "{refused}");
        // Reads do not wait behind the held work.
        let status = ask(ControlRequest::Status).await.unwrap().unwrap();
        assert!(matches!(status, ControlResponse::Done(text) if text == "Status"));
        release.add_permits(2);
        for answer in held {
            let answer = answer.await.unwrap().unwrap();
            assert!(matches!(answer, ControlResponse::Done(text) if text == "Shutdown"));
        }
        assert_eq!(lanes.admission.admitted(), 0);
    }

    #[test]
    fn a_daemon_that_does_not_answer_is_named_not_eagain() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        // Accepted by the kernel (backlog), never answered.
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let error = call(&socket, &ControlRequest::Status, 100).unwrap_err();
        assert!(
            matches!(
                error,
                ControlError::NoAnswer {
                    timeout_ms: 100,
                    ..
                }
            ),
            "{error}"
        );
        assert!(!error.to_string().contains("temporarily"), "{error}");
    }
}
