//! The remote executor's protocol over one TCP connection, without I/O.
//!
//! Every frame is a length (u32, big-endian) and a datagram sealed exactly
//! as the cluster bus seals its own ([`crate::transport::auth`]): the cluster
//! key, a key derived per sender and *incarnation*, ChaCha20-Poly1305, a
//! counter as nonce. Each side picks a fresh random incarnation per
//! connection, and every frame names the receiver's incarnation
//! (`to_incarnation`): so a frame recorded on another connection is refused
//! (its receiver incarnation is stale), and within a connection the counter
//! must be exactly the next one, so a frame replayed, dropped or reordered
//! ends the connection.
//!
//! The handshake, in three frames:
//! 1. remote daemon -> cluster node: `Hello` (its name; `to_incarnation` 0:
//!    it knows nothing of the caller yet);
//! 2. cluster node -> remote daemon: `Join`, bound to the daemon's fresh
//!    incarnation, which proves it is no replay;
//! 3. remote daemon -> cluster node: `Welcome`, bound to the caller's
//!    incarnation, proving the same the other way.

use crate::model::cib::operation::{OpOutcome, OpSpec};
use crate::transport::auth::{AuthKey, OpenError, Opener, Sealer};
use crate::transport::frame::{Data, Frame, Plain};
use serde::{Deserialize, Serialize};

/// pacemaker_remote's port, and ours by default.
pub const REMOTE_PORT_DEFAULT: u16 = 3121;
/// Most bytes one frame may carry; a longer length ends the connection
/// before anything is allocated for it.
pub const FRAME_BYTES_MAX: usize = 4 << 20;
/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 4;

/// What the two ends say to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RemoteMsg {
    /// The remote daemon's first frame.
    Hello {
        node: String,
    },
    /// The cluster node's answer: it will drive this executor.
    Join {
        cluster_node: String,
    },
    /// The remote daemon accepts the caller.
    Welcome,
    /// Run one operation (`id` matches the answer).
    Exec {
        id: u64,
        op: OpSpec,
    },
    /// An operation's result.
    Result {
        id: u64,
        outcome: OpOutcome,
    },
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
    /// A recurring monitor's result changed, unasked.
    Recurring {
        op: OpSpec,
        outcome: OpOutcome,
    },
}

/// Why a frame was refused; each ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("frame refused: {0}")]
    Open(#[from] OpenError),
    #[error("frame is not a data frame")]
    NotData,
    #[error("frame meant for another connection (incarnation {got}, this one is {mine})")]
    StaleIncarnation { got: u64, mine: u64 },
    #[error("frame from {sender} incarnation {incarnation}, not this connection's peer")]
    WrongPeer { sender: String, incarnation: u64 },
    #[error("frame counter {got}, expected {expected}: replayed or reordered")]
    Replayed { got: u64, expected: u64 },
    #[error("frame payload does not decode: {0}")]
    Payload(String),
    #[error("unexpected {0} during the handshake")]
    Handshake(&'static str),
    #[error("peer is {got}, expected {expected}")]
    WrongNode { got: String, expected: String },
    #[error("frame of {0} bytes is over the limit")]
    TooLong(usize),
}

/// One end of one connection: seals what it sends, opens and checks what
/// it receives.
pub struct Session {
    sealer: Sealer,
    opener: Opener,
    incarnation: u64,
    /// The peer's (name, incarnation), once its first frame is opened.
    peer: Option<(String, u64)>,
    next_counter: u64,
}

impl Session {
    /// `incarnation` must be fresh per connection (random).
    pub fn new(key: &AuthKey, cluster_name: &str, me: &str, incarnation: u64) -> Session {
        Session {
            sealer: Sealer::new(key, cluster_name, me, incarnation),
            opener: Opener::new(key, cluster_name),
            incarnation,
            peer: None,
            next_counter: 0,
        }
    }

    /// The peer's name, once known.
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_ref().map(|(name, _)| name.as_str())
    }

    /// The peer's name in a shared session ("" before it is known).
    pub fn peer_of(session: &std::sync::Mutex<Session>) -> String {
        session
            .lock()
            .expect("session lock")
            .peer()
            .unwrap_or_default()
            .to_string()
    }

    /// The frame for `msg`, length prefix included.
    pub fn seal(&mut self, msg: &RemoteMsg, now_ms: u64) -> Vec<u8> {
        let bytes = rmp_serde::to_vec(msg).expect("remote messages serialise");
        let to_incarnation = self.peer.as_ref().map_or(0, |(_, inc)| *inc);
        let datagram = self.sealer.seal(&Plain {
            timestamp_ms: now_ms,
            frame: Frame::Data(Data {
                to_incarnation,
                epoch: 0,
                seq: 0,
                first: Some(bytes.len() as u32),
                last: true,
                bytes,
            }),
        });
        let mut out = Vec::with_capacity(LENGTH_BYTES + datagram.len());
        out.extend_from_slice(&(datagram.len() as u32).to_be_bytes());
        out.extend_from_slice(&datagram);
        out
    }

    /// Opens one frame (without its length prefix). `unbound_ok`: a frame
    /// not yet bound to this end's incarnation is accepted (only the
    /// remote daemon's `Hello`, the first frame a cluster node reads).
    pub fn open(&mut self, frame: &mut [u8], unbound_ok: bool) -> Result<RemoteMsg, SessionError> {
        let opened = self.opener.open(frame)?;
        let Frame::Data(data) = opened.plain.frame else {
            return Err(SessionError::NotData);
        };
        let bound = data.to_incarnation == self.incarnation;
        let unbound_allowed = unbound_ok && data.to_incarnation == 0;
        if !(bound || unbound_allowed) {
            return Err(SessionError::StaleIncarnation {
                got: data.to_incarnation,
                mine: self.incarnation,
            });
        }
        match &self.peer {
            Some((name, inc)) if name != opened.sender || *inc != opened.incarnation => {
                return Err(SessionError::WrongPeer {
                    sender: opened.sender.to_string(),
                    incarnation: opened.incarnation,
                })
            }
            Some(_) => {}
            None => self.peer = Some((opened.sender.to_string(), opened.incarnation)),
        }
        if opened.counter != self.next_counter {
            return Err(SessionError::Replayed {
                got: opened.counter,
                expected: self.next_counter,
            });
        }
        self.next_counter += 1;
        rmp_serde::from_slice(&data.bytes).map_err(|e| SessionError::Payload(e.to_string()))
    }
}

/// Reads a frame's length prefix; refuses a frame longer than the limit.
pub fn frame_len(prefix: [u8; LENGTH_BYTES]) -> Result<usize, SessionError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(SessionError::TooLong(len));
    }
    Ok(len)
}

/// Where a handshake stands, on either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// Cluster node: waiting for the daemon's `Hello`.
    AwaitHello { expected_node: String },
    /// Cluster node: sent `Join`, waiting for `Welcome`.
    AwaitWelcome,
    /// Remote daemon: sent `Hello`, waiting for `Join`.
    AwaitJoin,
    /// Both: operations may flow.
    Up,
}

/// What a handshake step asks of its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this and keep reading.
    Send(Box<RemoteMsg>),
    /// The connection is up.
    Up,
}

impl Handshake {
    /// The next step on receiving `msg` from `peer`; an error ends the
    /// connection. `me` is this end's name.
    pub fn receive(&mut self, me: &str, peer: &str, msg: &RemoteMsg) -> Result<Step, SessionError> {
        match (&*self, msg) {
            (Handshake::AwaitHello { expected_node }, RemoteMsg::Hello { node }) => {
                if node != expected_node || peer != expected_node {
                    return Err(SessionError::WrongNode {
                        got: node.clone(),
                        expected: expected_node.clone(),
                    });
                }
                *self = Handshake::AwaitWelcome;
                Ok(Step::Send(Box::new(RemoteMsg::Join {
                    cluster_node: me.to_string(),
                })))
            }
            (Handshake::AwaitWelcome, RemoteMsg::Welcome) => {
                *self = Handshake::Up;
                Ok(Step::Up)
            }
            (Handshake::AwaitJoin, RemoteMsg::Join { .. }) => {
                *self = Handshake::Up;
                Ok(Step::Send(Box::new(RemoteMsg::Welcome)))
            }
            (Handshake::Up, _) => Err(SessionError::Handshake("handshake message after it")),
            (_, other) => Err(SessionError::Handshake(msg_name(other))),
        }
    }
}

fn msg_name(msg: &RemoteMsg) -> &'static str {
    match msg {
        RemoteMsg::Hello { .. } => "Hello",
        RemoteMsg::Join { .. } => "Join",
        RemoteMsg::Welcome => "Welcome",
        RemoteMsg::Exec { .. } => "Exec",
        RemoteMsg::Result { .. } => "Result",
        RemoteMsg::Ping { .. } => "Ping",
        RemoteMsg::Pong { .. } => "Pong",
        RemoteMsg::Recurring { .. } => "Recurring",
    }
}

/// A fresh random incarnation for one connection.
pub fn fresh_incarnation() -> u64 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 8];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // Never 0 (0 means "unbound"); the clock is a fallback only.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        return now | 1;
    }
    u64::from_be_bytes(bytes).max(1)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
