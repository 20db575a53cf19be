//! The datagram layer over real UDP sockets, built with socket2.
//!
//! Why socket2: multicast on one host needs options tokio does not expose
//! before bind (SO_REUSEADDR/SO_REUSEPORT, multicast interface, loop, TTL)
//! and larger socket buffers so a burst of fragments is not lost in the
//! kernel. Sockets are non-blocking and sends never wait: a datagram the
//! kernel will not take now is dropped and counted, and the reliable layer
//! retransmits it, so the transport's task never blocks on the network.
//!
//! Two modes, chosen by [`TransportConfig::multicast`]:
//! - **unicast** (the default, and what local clusters use): heartbeats go
//!   to every configured peer and every peer learned from an authenticated
//!   datagram; data goes to the peer's latest authenticated source address,
//!   else its configured one. Several nodes on one host just use different
//!   ports on 127.0.0.1.
//! - **multicast**: heartbeats go to the group (IPv4 or IPv6); each node
//!   also joins the group on a second socket bound to the group address with
//!   SO_REUSEADDR/SO_REUSEPORT (so several nodes on one host share it) and
//!   multicast loop on. For IPv6 the group's scope id names the interface
//!   (`[ff12::7777%2]:5405`; 0 lets the kernel choose). Peers learn each other's unicast address from the
//!   source of those heartbeats; data always goes unicast.
//!
//! ```no_run
//! # async fn example() -> Result<(), systole::transport::TransportError> {
//! use systole::transport::{load_authkey, start_udp, TransportConfig};
//! let mut cfg = TransportConfig::new("demo", "node1", load_authkey("/etc/systole/authkey")?);
//! cfg.bind = "127.0.0.1:5405".parse().unwrap();
//! cfg.peers = vec![("node2".into(), "127.0.0.1:5406".parse().unwrap())];
//! cfg.expected_votes = 2;
//! let (bus, mut events) = start_udp(cfg).await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::bus::{self, wall_clock_ms, Clock, Inbound, Io};
use super::node::{Node, Output};
use super::stats::Counters;
use super::{Bus, BusEvent, TransportConfig, TransportError};

/// Kernel buffer asked for each socket: room for a window of fragments.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;
/// Receive buffer: larger than any UDP datagram, so none is cut short.
const RECV_BUFFER_BYTES: usize = 65_536;
/// Addresses learned from authenticated datagrams, at most.
const LEARNED_MAX: usize = 256;

/// Starts a node's transport on UDP; returns its bus and its events.
pub async fn start_udp(
    cfg: TransportConfig,
) -> Result<(Bus, mpsc::Receiver<BusEvent>), TransportError> {
    cfg.validate()?;
    let incarnation = new_incarnation()?;
    let socket = unicast_socket(cfg.bind, cfg.multicast)?;
    let local_addr = socket.local_addr().map_err(io_error("local address"))?;
    let group = match cfg.multicast {
        Some(group) => Some(multicast_socket(group, cfg.bind)?),
        None => None,
    };
    let stats = Arc::new(Counters::default());
    let clock = Clock::real();
    let node = Node::new(&cfg, incarnation, clock.now(), stats.clone())?;
    let peers = cfg
        .peers
        .iter()
        .filter(|(name, _)| *name != cfg.node_name)
        .cloned()
        .collect();
    let io_stats = stats.clone();
    let group_addr = cfg.multicast;
    // Registered with the transport thread's own reactor, on that thread.
    let make_io = move || {
        let socket = UdpSocket::from_std(socket).map_err(io_error("register UDP socket"))?;
        let group = group
            .map(UdpSocket::from_std)
            .transpose()
            .map_err(io_error("register multicast socket"))?;
        Ok(UdpIo {
            socket,
            group,
            group_addr,
            peers,
            learned: BTreeMap::new(),
            blocked: BTreeSet::new(),
            buf: vec![0; RECV_BUFFER_BYTES],
            group_buf: vec![0; RECV_BUFFER_BYTES],
            stats: io_stats,
        })
    };
    let settings = bus::ThreadSettings {
        clock,
        tick_interval_ms: cfg.limits.tick_interval_ms,
        local_addr: Some(local_addr),
        realtime_priority: cfg.realtime_priority,
    };
    let (bus, events) = bus::spawn_thread(node, make_io, stats, settings)?;
    tracing::info!(node = %cfg.node_name, %local_addr, multicast = ?cfg.multicast, "transport started");
    Ok((bus, events))
}

/// Boot time in ms in the high bits (so a restart is newer), 22 random bits
/// below (so two starts in one ms differ).
fn new_incarnation() -> Result<u64, TransportError> {
    let mut random = [0; 4];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| TransportError::Config("system random generator failed".into()))?;
    Ok((wall_clock_ms() << 22) | u64::from(u32::from_be_bytes(random) & 0x3f_ffff))
}

fn io_error(context: &'static str) -> impl Fn(io::Error) -> TransportError {
    move |source| TransportError::Io {
        context: context.to_owned(),
        source,
    }
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    Ok(socket)
}

/// The socket every datagram leaves from, and unicast arrives on.
fn unicast_socket(
    bind: SocketAddr,
    group: Option<SocketAddr>,
) -> Result<std::net::UdpSocket, TransportError> {
    let socket = new_socket(bind).map_err(io_error("create UDP socket"))?;
    match (group, bind.ip()) {
        (None, _) => {}
        (Some(SocketAddr::V4(_)), IpAddr::V4(ip)) => {
            let setup = || -> io::Result<()> {
                socket.set_multicast_loop_v4(true)?;
                socket.set_multicast_ttl_v4(1)?;
                if !ip.is_unspecified() {
                    socket.set_multicast_if_v4(&ip)?;
                }
                Ok(())
            };
            setup().map_err(io_error("set IPv4 multicast options"))?;
        }
        (Some(SocketAddr::V6(group)), IpAddr::V6(_)) => {
            let setup = || -> io::Result<()> {
                socket.set_multicast_loop_v6(true)?;
                socket.set_multicast_hops_v6(1)?;
                socket.set_multicast_if_v6(group.scope_id())
            };
            setup().map_err(io_error("set IPv6 multicast options"))?;
        }
        _ => {
            return Err(TransportError::Config(
                "multicast group and bind address must be of the same IP family".into(),
            ))
        }
    }
    socket.bind(&bind.into()).map_err(|e| TransportError::Io {
        context: format!("bind {bind}"),
        source: e,
    })?;
    Ok(socket.into())
}

/// A socket bound to the multicast group, shared by every node on the host.
fn multicast_socket(
    group: SocketAddr,
    bind: SocketAddr,
) -> Result<std::net::UdpSocket, TransportError> {
    if !group.ip().is_multicast() {
        return Err(TransportError::Config(format!(
            "multicast address {group} is not a multicast group"
        )));
    }
    let socket = new_socket(group).map_err(io_error("create multicast socket"))?;
    let setup = || -> io::Result<()> {
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        match (group, bind.ip()) {
            (SocketAddr::V4(g), local) => {
                let interface = match local {
                    IpAddr::V4(ip) => ip,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                };
                socket.join_multicast_v4(g.ip(), &interface)?;
            }
            (SocketAddr::V6(g), _) => {
                socket.set_only_v6(true)?;
                socket.join_multicast_v6(g.ip(), g.scope_id())?;
            }
        }
        socket.bind(&group.into())
    };
    setup().map_err(|e| TransportError::Io {
        context: format!("join multicast group {group}"),
        source: e,
    })?;
    Ok(socket.into())
}

struct UdpIo {
    socket: UdpSocket,
    group: Option<UdpSocket>,
    group_addr: Option<SocketAddr>,
    peers: BTreeMap<String, SocketAddr>,
    learned: BTreeMap<String, SocketAddr>,
    /// Peers cut off by a chaos test: nothing is sent to them.
    blocked: BTreeSet<String>,
    buf: Vec<u8>,
    group_buf: Vec<u8>,
    stats: Arc<Counters>,
}

impl UdpIo {
    fn send_to(&self, datagram: &[u8], addr: SocketAddr) {
        match self.socket.try_send_to(datagram, addr) {
            Ok(_) => Counters::add(&self.stats.datagrams_sent, 1),
            Err(error) => {
                Counters::add(&self.stats.send_failures, 1);
                tracing::trace!(%addr, %error, "datagram not sent");
            }
        }
    }

    fn address_of(&self, node: &str) -> Option<SocketAddr> {
        self.learned
            .get(node)
            .or_else(|| self.peers.get(node))
            .copied()
    }
}

impl Io for UdpIo {
    async fn recv(&mut self) -> Option<Inbound> {
        loop {
            let (result, from_group) = match &self.group {
                Some(group) => tokio::select! {
                    biased;
                    r = self.socket.recv_from(&mut self.buf) => (r, false),
                    r = group.recv_from(&mut self.group_buf) => (r, true),
                },
                None => (self.socket.recv_from(&mut self.buf).await, false),
            };
            match result {
                Ok((len, from)) => {
                    let buf = if from_group {
                        &self.group_buf
                    } else {
                        &self.buf
                    };
                    return Some(Inbound {
                        datagram: buf[..len].to_vec(),
                        from: Some(from),
                    });
                }
                // ICMP errors from earlier sends and the like: keep going.
                Err(error) => tracing::trace!(%error, "UDP receive error"),
            }
        }
    }

    fn try_recv(&mut self) -> Option<Inbound> {
        if let Ok((len, from)) = self.socket.try_recv_from(&mut self.buf) {
            return Some(Inbound {
                datagram: self.buf[..len].to_vec(),
                from: Some(from),
            });
        }
        let group = self.group.as_ref()?;
        let (len, from) = group.try_recv_from(&mut self.group_buf).ok()?;
        Some(Inbound {
            datagram: self.group_buf[..len].to_vec(),
            from: Some(from),
        })
    }

    fn send(&mut self, output: Output) {
        match output {
            Output::ToNode { node, .. } if self.blocked.contains(&node) => {}
            Output::ToNode { node, datagram } => match self.address_of(&node) {
                Some(addr) => self.send_to(&datagram, addr),
                None => Counters::add(&self.stats.send_failures, 1),
            },
            Output::ToAll { datagram } => {
                if let Some(group) = self.group_addr {
                    self.send_to(&datagram, group);
                    return;
                }
                let mut addresses = self.peers.clone();
                addresses.extend(self.learned.iter().map(|(n, a)| (n.clone(), *a)));
                let unique: BTreeSet<SocketAddr> = addresses
                    .into_iter()
                    .filter(|(n, _)| !self.blocked.contains(n))
                    .map(|(_, a)| a)
                    .collect();
                for addr in unique {
                    self.send_to(&datagram, addr);
                }
            }
        }
    }

    fn add_peer(&mut self, node: &str, addr: SocketAddr) {
        if self.peers.get(node) != Some(&addr) {
            tracing::info!(node, %addr, "peer address from the member table");
            self.peers.insert(node.to_owned(), addr);
        }
    }

    fn block(&mut self, nodes: &BTreeSet<String>) {
        self.blocked = nodes.clone();
    }

    fn learn(&mut self, node: &str, from: Option<SocketAddr>) {
        let Some(from) = from else { return };
        if self.learned.get(node) == Some(&from) {
            return;
        }
        if self.learned.contains_key(node) || self.learned.len() < LEARNED_MAX {
            tracing::debug!(node, %from, "learned peer address");
            self.learned.insert(node.to_owned(), from);
        }
    }
}
