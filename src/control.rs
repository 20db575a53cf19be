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
    CibModify {
        change: CibChange,
    },
    /// The transitions this node ran as DC.
    History,
    /// The bus's counters (sent, received, dropped and why).
    BusStats,
    /// Fence a node now (`systole fence NODE`), through the DC.
    Fence {
        target: String,
        action: String,
    },
    Shutdown,
}

impl ControlRequest {
    /// Whether the request changes anything (and so needs an admin).
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            ControlRequest::Fence { .. }
                | ControlRequest::ActorsKill { .. }
                | ControlRequest::CibModify { .. }
                | ControlRequest::Shutdown
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeReport {
    pub name: String,
    pub online: bool,
    pub standby: bool,
    pub maintenance: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceReport {
    pub id: String,
    pub parent: Option<String>,
    pub agent: String,
    pub role: String,
    pub nodes: Vec<String>,
    pub failed: bool,
}

/// `systole status --json`, as DESIGN.md fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    pub fencing: Vec<crate::model::cib_store::FenceRecord>,
    /// Configuration errors and warnings of the CIB (`systole cib verify`),
    /// one a line: what the scheduler leaves out.
    #[serde(default)]
    pub config_errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
        transitions: Vec<crate::model::history::TransitionRecord>,
    },
    Done(String),
    Error(String),
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

/// The CLI's side: one request, one answer.
pub fn call(
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
    stream.write_all(&encode_frame(request)?)?;
    let body = read_frame(&mut stream)?;
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

/// Serves the control socket until the listener fails. `handle` answers
/// each request; requests are refused before `handle` when `access(caller)`
/// does not allow them (see [`refusal`]).
pub async fn serve<H, F, M>(socket: &Path, handle: H, access: M) -> std::io::Result<()>
where
    H: Fn(ControlRequest, Caller) -> F + Send + Sync + Clone + 'static,
    F: std::future::Future<Output = ControlResponse> + Send + 'static,
    M: Fn(&Caller) -> Access + Send + Sync + Clone + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = tokio::net::UnixListener::bind(socket)?;
    // Anyone may connect: who may do what is decided per request from the
    // caller's kernel credentials, so group members need no file access.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
    }
    loop {
        let (mut stream, _) = listener.accept().await?;
        let handle = handle.clone();
        let access = access.clone();
        tokio::spawn(async move {
            let caller = match stream.peer_cred() {
                Ok(cred) => Caller {
                    uid: cred.uid(),
                    gid: cred.gid(),
                    pid: cred.pid(),
                },
                Err(_) => return,
            };
            let mut length = [0u8; 4];
            if stream.read_exact(&mut length).await.is_err() {
                return;
            }
            let length = u32::from_be_bytes(length) as usize;
            let response = if length > CONTROL_FRAME_BYTES_MAX {
                ControlResponse::Error(format!("request of {length} bytes is too large"))
            } else {
                let mut body = vec![0u8; length];
                if stream.read_exact(&mut body).await.is_err() {
                    return;
                }
                match decode_body::<ControlRequest>(&body) {
                    Err(error) => ControlResponse::Error(format!("bad request: {error}")),
                    Ok(request) => match refusal(&request, &caller, access(&caller)) {
                        Some(error) => ControlResponse::Error(error),
                        None => handle(request, caller).await,
                    },
                }
            };
            if let Ok(frame) = encode_frame(&response) {
                let _ = stream.write_all(&frame).await;
            }
        });
    }
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
}
