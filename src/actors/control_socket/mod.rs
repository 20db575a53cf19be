//! The control socket between the CLI and a node's daemon: a Unix socket
//! carrying length-prefixed rmp-serde frames, one request and one answer per
//! connection. The daemon learns the caller's uid from the kernel
//! (SO_PEERCRED), so access is decided on who the caller really is.

mod client;
mod protocol;
mod server;
#[cfg(test)]
mod tests;

pub use client::*;
pub use protocol::*;
pub use server::*;
