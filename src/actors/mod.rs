//! The actor shell: supervised cells, location-transparent addressing, and
//! the node's actors (CIB, DC, policy, executor, fencing, bus, membership).

pub mod alert;
pub mod cell;
pub mod cib;
pub mod dc;
pub mod exec;
pub mod fence;
pub mod membership;
pub mod message;
pub mod policy;
pub mod router;
pub mod shared;
pub mod storage;
pub mod supervision;
pub mod tree;
