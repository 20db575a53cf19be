//! The node daemon and only it: assembly ([`daemon`]), supervised cells,
//! location-transparent addressing, the supervision tree, the node's actors
//! (CIB, DC, policy, executor, fencing, bus, membership, attributes, alerts),
//! the control-socket server, storage, remote-node links, and the
//! configuration file it starts from.

pub mod access;
pub mod alert;
pub mod attrd;
pub mod attrd_task;
pub mod cell;
pub mod cib;
pub mod config;
pub mod control;
pub mod control_socket;
pub mod daemon;
pub mod dc;
pub mod exec;
pub mod fence;
pub mod membership;
pub mod message;
pub mod node_status;
pub mod policy;
pub mod raft_thread;
pub mod remote;
pub mod report;
pub mod router;
pub mod shared;
pub mod shutdown;
pub mod storage;
pub mod supervision;
pub mod tree;
