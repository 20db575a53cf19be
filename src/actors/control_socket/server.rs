//! The daemon's side of the control socket: the socket file and who may
//! connect, admission (connections per uid, idle callers), and the lanes
//! that keep reads answering while writes wait.

use super::protocol::*;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

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
    pub(super) admission: Admission,
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
