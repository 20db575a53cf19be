//! The control plane's pure core: consensus on the CIB (raft-rs around the
//! replicated CIB), the member table, and the log's durable form. The actor
//! shell (`actors::cib`, `actors::storage`) feeds it messages and ticks and
//! does its I/O; a simulation can do the same with an in-memory network and
//! disk, from a seed.

pub mod consensus;
pub mod controller;
pub mod histogram;
pub mod history;
pub mod log_store;
pub mod members;
pub mod plan;
pub mod raft_logger;
pub mod replicated;
pub mod transition;
pub mod two_node;
