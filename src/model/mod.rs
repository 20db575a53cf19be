//! The pure model: the CIB as an XML tree, its versions and edits, and the
//! operations the cluster runs.

pub mod acl;
pub mod cib_store;
pub mod diff;
pub mod election;
pub mod operation;
pub mod transition;
pub mod xml;
