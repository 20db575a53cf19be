//! The pure model: the CIB as an XML tree and its typed view, versions and
//! edits, scores and rules, and the state machines the daemon runs.

pub mod acl;
pub mod alerts;
pub mod change;
pub mod cib;
pub mod cib_store;
pub mod control;
pub mod diff;
pub mod digest;
pub mod fencing;
pub mod histogram;
pub mod history;
pub mod names;
pub mod operation;
pub mod plan;
pub mod rules;
pub mod score;
pub mod status;
pub mod time;
pub mod transition;
pub mod verify;
pub mod xml;
