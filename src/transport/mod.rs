//! The cluster bus: authenticated, encrypted datagrams, reliable ordered
//! delivery, heartbeat membership and quorum.
//!
//! Why it looks like this: the layers above (CIB, DC, executor) need three
//! things from the network and nothing else: "send these bytes to that node,
//! reliably and in order", "who is alive, and do we have quorum", and "this
//! cannot be forged or replayed". A [`Bus`] gives exactly that, over UDP
//! ([`start_udp`]) or over a simulated network ([`MemoryNetwork`]) with the
//! same API, so whole clusters can be tested in one process from a seed.
//!
//! Inside, one task per node owns everything: it receives datagrams, sends
//! heartbeats on its own ticks (a busy actor never delays them; over UDP the
//! task has an OS thread of its own), and runs the pure state machine in
//! [`node`], which composes the pieces, one module per idea:
//!
//! | module | idea |
//! | --- | --- |
//! | [`frame`] | the wire format, decoded without trusting a byte |
//! | [`auth`] | AEAD per datagram, per-sender keys, the authkey file |
//! | [`replay`] | sliding windows of nonce counters per sender incarnation |
//! | [`reliable`] | acks, retransmission, in-order delivery per sender |
//! | [`fragment`] | messages of several MB cut into datagrams and rebuilt |
//! | [`membership`] | views and quorum from heartbeats and ticks |
//! | [`node`] | all of the above as one state machine |
//! | `bus` | the task (its own thread over UDP) and the [`Bus`] handle |
//! | [`realtime`] | SCHED_RR for that thread, mlockall for the daemon |
//! | `stats` | counters of what was sent, received and refused |
//! | [`udp`] | sockets (socket2): unicast peers, IPv4/IPv6 multicast |
//! | [`memory`] | the simulated network: drop, delay, duplicate, partition, kill |
//!
//! ```
//! use systole::transport::{AuthKey, BusEvent, MemoryNetwork, TransportConfig};
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let net = MemoryNetwork::new(7);
//! let key = AuthKey::from_bytes([1; 32]);
//! let (a, _a_events) = net.join(TransportConfig::new("demo", "a", key.clone()));
//! let (_b, mut b_events) = net.join(TransportConfig::new("demo", "b", key));
//! while a.view().members.len() < 2 {
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//! }
//! a.send("b", b"hello".to_vec()).await.unwrap();
//! loop {
//!     if let Some(BusEvent::Message { from, payload }) = b_events.recv().await {
//!         assert_eq!((from.as_str(), payload.as_slice()), ("a", &b"hello"[..]));
//!         break;
//!     }
//! }
//! # });
//! ```

pub mod auth;
mod bus;
pub mod fragment;
pub mod frame;
pub mod membership;
pub mod memory;
pub mod node;
pub mod realtime;
pub mod reliable;
pub mod replay;
mod stats;
pub mod udp;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod udp_tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub use auth::{keygen, load_authkey, AuthKey};
pub use bus::Bus;
pub use membership::MembershipView;
pub use memory::{Faults, MemoryNetwork};
pub use reliable::ReliableLimits;
pub use stats::TransportStats;
pub use udp::start_udp;

use frame::NODE_NAME_BYTES_MAX;

/// What the bus hands upward, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A reliable message, delivered once, in the order its sender sent it.
    Message { from: String, payload: Vec<u8> },
    /// The membership changed (the first event is the initial view).
    View(MembershipView),
}

/// Errors of the transport; each names the limit or the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("node {0:?} is not a member of the current view")]
    NotMember(String),
    #[error("the transport is shut down")]
    Shutdown,
    #[error("message of {bytes} bytes exceeds max_message_bytes = {max_message_bytes}")]
    MessageTooLarge {
        bytes: usize,
        max_message_bytes: usize,
    },
    #[error("queue for {node:?} is full ({limit})")]
    QueueFull { node: String, limit: &'static str },
    #[error("authkey {path}: {reason}")]
    AuthKey { path: PathBuf, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid transport configuration: {0}")]
    Config(String),
}

/// Limits of one node's transport; the defaults suit a LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportLimits {
    /// Largest datagram sent or accepted (below a 1500-byte Ethernet MTU).
    pub max_datagram_bytes: usize,
    /// Largest reliable message (a whole CIB fits).
    pub max_message_bytes: usize,
    /// Window, retransmission and queue limits per peer.
    pub reliable: ReliableLimits,
    /// Messages held for the layer above before incoming data is refused
    /// (unacknowledged, so its sender retransmits).
    pub event_backlog_max: usize,
    /// Largest difference between a datagram's timestamp and our clock.
    pub max_clock_skew_ms: u64,
    /// Period of the transport's timer (heartbeats, timeouts, retransmits).
    pub tick_interval_ms: u64,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_datagram_bytes: 1400,
            max_message_bytes: 16 << 20,
            reliable: ReliableLimits::default(),
            event_backlog_max: 4096,
            max_clock_skew_ms: 30_000,
            tick_interval_ms: 10,
        }
    }
}

/// Configuration of one node's transport.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub cluster_name: String,
    pub node_name: String,
    /// Local address for unicast (port 0: any free port).
    pub bind: SocketAddr,
    /// Other nodes and their unicast addresses (this node may be listed too).
    pub peers: Vec<(String, SocketAddr)>,
    /// Multicast group and port for heartbeats, if the network has multicast.
    pub multicast: Option<SocketAddr>,
    pub authkey: AuthKey,
    pub heartbeat_interval_ms: u64,
    /// A node not heard for this long leaves the view.
    pub heartbeat_timeout_ms: u64,
    pub expected_votes: u32,
    /// Quorate with 1 of 2 votes.
    pub two_node: bool,
    /// Not quorate until all `expected_votes` nodes were members at once
    /// (corosync's wait_for_all; advisable with `two_node`). Default false.
    pub wait_for_all: bool,
    /// UDP only: run the transport's thread SCHED_RR (best effort; a
    /// refusal is logged once). Default false; the daemon asks for it.
    pub realtime_priority: bool,
    pub limits: TransportLimits,
}

impl TransportConfig {
    /// A configuration with the defaults: bound to 127.0.0.1 on any port,
    /// no peers, heartbeats every 100 ms, dead after 600 ms, one vote expected.
    pub fn new(cluster_name: &str, node_name: &str, authkey: AuthKey) -> Self {
        TransportConfig {
            cluster_name: cluster_name.to_owned(),
            node_name: node_name.to_owned(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            peers: Vec::new(),
            multicast: None,
            authkey,
            heartbeat_interval_ms: 100,
            heartbeat_timeout_ms: 600,
            expected_votes: 1,
            two_node: false,
            wait_for_all: false,
            realtime_priority: false,
            limits: TransportLimits::default(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), TransportError> {
        let fail = |what: String| Err(TransportError::Config(what));
        let names = std::iter::once(&self.node_name).chain(self.peers.iter().map(|(n, _)| n));
        for name in names.chain(std::iter::once(&self.cluster_name)) {
            if name.is_empty() || name.len() > NODE_NAME_BYTES_MAX {
                return fail(format!(
                    "name {name:?} must be 1 to {NODE_NAME_BYTES_MAX} bytes"
                ));
            }
        }
        if self.heartbeat_interval_ms == 0
            || self.heartbeat_timeout_ms <= self.heartbeat_interval_ms
        {
            return fail(format!(
                "heartbeat_timeout_ms ({}) must exceed heartbeat_interval_ms ({}) > 0",
                self.heartbeat_timeout_ms, self.heartbeat_interval_ms
            ));
        }
        let limits = &self.limits;
        if !(1024..=65_000).contains(&limits.max_datagram_bytes) {
            return fail("max_datagram_bytes must be within 1024..=65000".into());
        }
        if limits.max_message_bytes > u32::MAX as usize {
            return fail("max_message_bytes must fit in 32 bits".into());
        }
        if limits.reliable.window_packets == 0
            || limits.event_backlog_max == 0
            || limits.tick_interval_ms == 0
        {
            return fail(
                "window_packets, event_backlog_max and tick_interval_ms must be > 0".into(),
            );
        }
        Ok(())
    }
}
