//! Remote nodes, as Pacemaker Remote runs them: `systole remote` (the
//! executor alone, [`server`]) on the remote machine, and on the cluster
//! node that hosts the connection resource, the [`link`] that drives it.
//! The protocol ([`session`]) and the link's liveness ([`liveness`]) are
//! pure; [`wire`] puts frames on TCP.

pub mod config;
pub mod link;
pub mod liveness;
pub mod route;
pub mod server;
pub mod session;
pub mod wire;
