//! The pure model: no I/O, no clocks, no randomness.
//!
//! - [`cib`]: the Cluster Information Base: the XML tree and its typed view,
//!   the change vocabulary and its pure edits, versions, status facts, the
//!   one reader of durations, dates, rules and scores, digests, diffs, ACLs.
//! - [`control`]: the control plane's state machines: consensus on the CIB,
//!   the member table, the DC controller, transitions as they run, their
//!   history.
//!
//! The scheduler (`crate::scheduler`) is pure too, and builds on this.

pub mod cib;
pub mod control;
