//! `systole web`: the operator's console, served by Systole itself. It is a
//! client of the control socket like the CLI (the same requests, the same
//! admin edits), so the daemon knows nothing of HTTP and a console that
//! fails takes nothing down. axum on hyper and tokio serves it; rustls (ring)
//! adds TLS. The pages are rendered here ([`pages`], [`layout`]) and work
//! without JavaScript; a small script swaps in what the server pushes
//! (Server-Sent Events) when the cluster changes.
//!
//! Access: loopback only by default; any other address needs TLS and a
//! login ([`auth`]), or the console refuses to start.

pub mod actions;
pub mod auth;
pub mod command;
pub mod layout;
pub mod metrics;
pub mod pages;
pub mod sandbox;
mod server;

pub use server::{serve, WebError};

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the console finds the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// One node's control socket.
    Socket(PathBuf),
    /// A local cluster's directory: the first node that answers (the DC
    /// for the history, as `systole history --dir` asks).
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct WebOptions {
    pub bind: SocketAddr,
    pub endpoint: Endpoint,
    /// PEM certificate chain and private key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The users file; with it every page needs a login.
    pub users: Option<PathBuf>,
    pub groups: auth::GroupPolicy,
    pub shadow_dir: PathBuf,
}

/// Why the console will not start with these options.
pub fn check_options(options: &WebOptions) -> Result<(), WebError> {
    if options.bind.ip().is_loopback() {
        return Ok(());
    }
    if options.tls.is_none() || options.users.is_none() {
        return Err(WebError::Exposed {
            bind: options.bind,
            missing: match (options.tls.is_none(), options.users.is_none()) {
                (true, true) => "TLS (--tls-cert, --tls-key) and a login (--users)",
                (true, false) => "TLS (--tls-cert, --tls-key)",
                _ => "a login (--users)",
            },
        });
    }
    Ok(())
}

/// The page tests' CIB: nodes node1 and node2, and a Dummy resource `web`.
#[cfg(test)]
fn two_nodes_and_web() -> crate::model::cib::xml::Element {
    use crate::model::cib::xml::Element;
    let mut cib = crate::model::cib::store::empty_cib();
    let nodes = cib
        .child_or_insert("configuration")
        .child_or_insert("nodes");
    for n in ["node1", "node2"] {
        nodes.children.push(
            Element::new("node")
                .with_attr("id", n)
                .with_attr("uname", n),
        );
    }
    let args: Vec<String> = "web ocf:heartbeat:Dummy"
        .split(' ')
        .map(String::from)
        .collect();
    crate::admin::resource_create(&cib, &args)
        .unwrap()
        .apply(&mut cib)
        .unwrap();
    cib
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(bind: &str, tls: bool, users: bool) -> WebOptions {
        WebOptions {
            bind: bind.parse().unwrap(),
            endpoint: Endpoint::Socket("/x".into()),
            tls: tls.then(|| ("c".into(), "k".into())),
            users: users.then(|| "u".into()),
            groups: Default::default(),
            shadow_dir: "/tmp".into(),
        }
    }

    #[test]
    fn only_loopback_goes_without_tls_and_login() {
        assert!(check_options(&options("127.0.0.1:9000", false, false)).is_ok());
        assert!(check_options(&options("[::1]:9000", false, false)).is_ok());
        for (tls, users, missing) in [
            (false, false, "TLS (--tls-cert, --tls-key) and a login"),
            (true, false, "a login (--users)"),
            (false, true, "TLS (--tls-cert"),
        ] {
            let error = check_options(&options("0.0.0.0:9000", tls, users))
                .unwrap_err()
                .to_string();
            assert!(error.contains(missing), "{error}");
        }
        assert!(check_options(&options("192.0.2.1:9000", true, true)).is_ok());
    }
}
