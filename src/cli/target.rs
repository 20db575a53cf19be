//! How a command reaches what it works on: the daemon's control socket
//! (found from `--socket`, `$SYSTOLE_SOCKET` or `--dir`), the live or
//! shadow CIB, and the commit of an admin edit to either.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

use crate::actors::control_socket::{self, ControlRequest, ControlResponse};
use crate::admin;
use crate::cli::args::Target;
use crate::cli::localcluster;
use crate::model::cib::xml::Element;
use crate::os::shadow;

/// Finds the daemon's socket as DESIGN.md's contract says.
pub fn resolve_socket(target: &Target) -> anyhow::Result<PathBuf> {
    if let Some(socket) = &target.socket {
        return Ok(socket.clone());
    }
    if let Ok(socket) = std::env::var("SYSTOLE_SOCKET") {
        return Ok(PathBuf::from(socket));
    }
    if let Some(dir) = &target.dir {
        if let Some(node) = &target.node {
            return Ok(localcluster::socket_path(dir, node));
        }
        let nodes = localcluster::nodes_in(dir);
        if nodes.is_empty() {
            bail!(
                "{} holds no local cluster (run `systole cluster up --dir {}`)",
                dir.display(),
                dir.display()
            );
        }
        for node in &nodes {
            let socket = localcluster::socket_path(dir, node);
            if localcluster::ping(&socket) {
                return Ok(socket);
            }
        }
        // Distinguish a socket this caller may not open from a dead node.
        for node in &nodes {
            let socket = localcluster::socket_path(dir, node);
            if let Err(error) = std::os::unix::net::UnixStream::connect(&socket) {
                if error.kind() == std::io::ErrorKind::PermissionDenied {
                    bail!(
                        "permission denied on {}: only root, the daemon's user and the cluster's admin and read-only groups may connect",
                        socket.display()
                    );
                }
            }
        }
        bail!("no node of {} answers; is the cluster up?", dir.display());
    }
    Ok(PathBuf::from("/run/systole/systole.sock"))
}

pub fn ask(target: &Target, request: ControlRequest) -> anyhow::Result<ControlResponse> {
    let socket = resolve_socket(target)?;
    match control_socket::call(&socket, &request, 20_000)? {
        ControlResponse::Error(error) => bail!("{error}"),
        response => Ok(response),
    }
}

/// Asks for what the daemon answers with `Done`: the text it says.
pub fn ask_done(target: &Target, request: ControlRequest) -> anyhow::Result<String> {
    match ask(target, request)? {
        ControlResponse::Done(text) => Ok(text),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// Reads the CIB, applies the edit `make` builds from it, and commits it.
pub fn edit_with(
    target: &Target,
    make: impl FnOnce(&Element) -> admin::Result<admin::Edit>,
) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    commit_edit(target, make(&cib)?)
}

pub fn need_dir(target: &Target) -> anyhow::Result<&Path> {
    target
        .dir
        .as_deref()
        .context("this command needs --dir DIR")
}

/// Global options typed after a free-form argument list land in it; take
/// them back out (`resource create web ocf:heartbeat:Dummy --dir /tmp/c`).
pub fn take_globals(args: &mut Vec<String>, target: &mut Target) -> anyhow::Result<()> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].clone();
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !matches!(key.as_str(), "--dir" | "--socket" | "--node" | "--shadow") {
            i += 1;
            continue;
        }
        args.remove(i);
        let value = match inline {
            Some(v) => v,
            None if i < args.len() => args.remove(i),
            None => bail!("{key} needs a value"),
        };
        match key.as_str() {
            "--dir" => target.dir = Some(PathBuf::from(value)),
            "--socket" => target.socket = Some(PathBuf::from(value)),
            "--node" => target.node = Some(value),
            _ => target.shadow = Some(value),
        }
    }
    Ok(())
}

/// Removes `flag` from free-form arguments; whether it was there.
pub fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

pub fn shadow_dir(target: &Target) -> PathBuf {
    shadow::shadow_dir(
        std::env::var("SYSTOLE_SHADOW_DIR").ok().as_deref(),
        target.dir.as_deref(),
    )
}

pub fn now_epoch_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn live_cib(target: &Target) -> anyhow::Result<Element> {
    match ask(target, ControlRequest::CibGet)? {
        ControlResponse::Cib { xml } => Ok(Element::parse(&xml)?),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// The CIB a command works on: the shadow if `--shadow`, else the live one.
pub fn current_cib(target: &Target) -> anyhow::Result<Element> {
    match &target.shadow {
        Some(name) => shadow::load(&shadow_dir(target), name),
        None => live_cib(target),
    }
}

/// Applies an edit (to the shadow, or through the DC) and says what changed.
pub fn commit_edit(target: &Target, edit: admin::Edit) -> anyhow::Result<i32> {
    if edit.is_empty() {
        println!("nothing to change");
        return Ok(0);
    }
    let summary = edit.summary.clone();
    match &target.shadow {
        Some(name) => {
            let dir = shadow_dir(target);
            let before = shadow::load(&dir, name)?;
            let mut cib = before.clone();
            edit.apply(&mut cib)?;
            // The same check as a live write: a shadow never takes an error.
            crate::model::cib::verify::check_write(&before, &cib, now_epoch_s())?;
            shadow::save(&dir, name, &cib)?;
            for line in summary {
                println!("{line}");
            }
            println!("(in shadow {name}; `systole cib shadow diff {name}` to review)");
        }
        None => {
            let change = edit.into_change().expect("not empty");
            match ask(target, ControlRequest::CibModify { change })? {
                ControlResponse::Done(text) => {
                    for line in summary {
                        println!("{line}");
                    }
                    println!("({text})");
                }
                other => bail!("unexpected answer {other:?}"),
            }
        }
    }
    Ok(0)
}

pub fn edit_each(
    target: &Target,
    ids: &[String],
    make: fn(&Element, &str) -> admin::Result<admin::Edit>,
) -> anyhow::Result<i32> {
    if ids.is_empty() {
        bail!("which resource? give at least one id");
    }
    let cib = current_cib(target)?;
    let mut all = admin::Edit::default();
    for id in ids {
        let edit = make(&cib, id)?;
        all.changes.extend(edit.changes);
        all.summary.extend(edit.summary);
    }
    commit_edit(target, all)
}

/// The cluster's status as the asked node sees it.
pub fn ask_status(target: &Target) -> anyhow::Result<control_socket::StatusReport> {
    match ask(target, ControlRequest::Status)? {
        ControlResponse::Status(report) => Ok(report),
        other => bail!("unexpected answer {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn globals_typed_after_free_form_arguments_are_taken_back() {
        let mut target = Target {
            socket: None,
            dir: None,
            node: None,
            shadow: None,
        };
        let mut args = strings(
            "web ocf:heartbeat:Dummy fake=1 --dir /tmp/c --shadow=s1 op monitor interval=5s",
        );
        take_globals(&mut args, &mut target).unwrap();
        assert_eq!(
            args,
            strings("web ocf:heartbeat:Dummy fake=1 op monitor interval=5s")
        );
        assert_eq!(target.dir, Some(PathBuf::from("/tmp/c")));
        assert_eq!(target.shadow.as_deref(), Some("s1"));
        assert!(take_globals(&mut strings("x --node"), &mut target).is_err());
    }
}
