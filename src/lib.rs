//! Systole: a high-availability cluster resource manager, Pacemaker's
//! successor built as a supervised actor system.
//!
//! The crate is layered; a module uses only the layers below its own (a
//! test, `tests/layering.rs`, fails on an import that points up or sideways):
//!
//! ```text
//!  8  web                      the web console: the CLI's pieces behind HTTP
//!  7  cli                      the operator's commands: text output, local cluster, demo,
//!                              simulate, explain, the tools agents call
//!  6  fuzz                     fuzz targets over every edge below
//!  5  actors   sim             the node daemon (actors, control socket, storage, remote
//!                              links); the deterministic cluster simulator
//!  4  transport   agent        the bus between nodes; resource and fence agents
//!  3  os                       durable writes, systemd notification, agents' state dir
//!  2  admin                    pure edits an operator asks for, one file per noun
//!  1  scheduler                pure: CIB in, transition graph out, stage by stage
//!  0  model                    pure: the CIB (cib/) and the control plane's state machines (control/)
//! ```
//!
//! Layers 0–2 are deterministic and free of I/O, clocks and randomness: most
//! tests live there. See `docs/architecture.md` for how the parts fit.

pub mod actors;
pub mod admin;
pub mod agent;
pub mod cli;
pub mod fuzz;
pub mod model;
pub mod os;
pub mod scheduler;
pub mod sim;
pub mod transport;
pub mod web;
