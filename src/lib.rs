//! Systole: a high-availability cluster resource manager, Pacemaker's
//! successor built as a supervised actor system.
//!
//! The crate is split the way data flows: [`model`] (the CIB and pure state
//! machines) and [`scheduler`] are deterministic and free of I/O; [`transport`],
//! [`agent`] and [`actors`] own sockets, processes and time. See
//! `docs/architecture.md` for how the parts fit.

pub mod actors;
pub mod admin;
pub mod agent;
pub mod agent_tools;
pub mod attrd;
pub mod config;
pub mod control;
pub mod crm_attribute;
pub mod daemon;
pub mod demo;
pub mod explain;
pub mod fuzz;
pub mod localcluster;
pub mod model;
pub mod persist;
pub mod remote;
pub mod report;
pub mod rsctmp;
pub mod scheduler;
pub mod sd_notify;
pub mod sim;
pub mod simulate;
pub mod status_text;
pub mod transport;
pub mod web;
