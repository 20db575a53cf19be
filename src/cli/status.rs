//! What the running cluster shows: `status`, `actors`, `bus`, `history`.

use anyhow::{bail, Context};

use crate::actors::control_socket::{self, ControlRequest, ControlResponse};
use crate::cli::args::{ActorsAction, HistoryAction, Target};
use crate::cli::localcluster;
use crate::cli::target::{ask, ask_done, ask_status, resolve_socket};
use crate::model::control::history::TransitionRecord;

/// `systole status [--json] [--watch]`, like `crm_mon -1`.
pub fn status(target: &Target, json: bool, watch: bool) -> anyhow::Result<i32> {
    if target.shadow.is_some() {
        bail!(
            "status shows the running cluster; for a shadow see `systole simulate --shadow NAME`"
        );
    }
    if watch {
        return watch_status(target, json);
    }
    let report = ask_status(target)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?)
    } else {
        print!("{}", crate::cli::status_text::render(&report))
    }
    Ok(0)
}

/// `systole actors [--json]`: the supervision tree; `actors kill NAME`.
pub fn actors(target: &Target, json: bool, action: Option<ActorsAction>) -> anyhow::Result<i32> {
    if let Some(ActorsAction::Kill { name }) = action {
        println!("{}", ask_done(target, ControlRequest::ActorsKill { name })?);
        return Ok(0);
    }
    match ask(target, ControlRequest::Actors)? {
        ControlResponse::Actors { node, tree } if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"node": node, "tree": tree}))?
            )
        }
        ControlResponse::Actors { node, tree } => {
            print!("{}", crate::actors::tree::render_text(&node, &tree))
        }
        other => bail!("unexpected answer {other:?}"),
    }
    Ok(0)
}

/// `systole bus [--json]`.
pub fn bus(target: &Target, json: bool) -> anyhow::Result<i32> {
    match ask(target, ControlRequest::BusStats)? {
        ControlResponse::Bus {
            node,
            stats,
            refused_non_members,
        } => print_bus(&node, &stats, refused_non_members, json)?,
        other => bail!("unexpected answer {other:?}"),
    }
    Ok(0)
}

/// `systole status --watch`: redrawn whenever what it shows changes.
fn watch_status(target: &Target, json: bool) -> anyhow::Result<i32> {
    const REFRESH_MS: u64 = 500;
    let mut shown = String::new();
    loop {
        let text = match ask(target, ControlRequest::Status) {
            Ok(ControlResponse::Status(mut report)) => {
                // The clock alone is no change worth a redraw.
                report.updated_epoch_s = 0;
                if json {
                    serde_json::to_string(&report)? + "\n"
                } else {
                    crate::cli::status_text::render(&report)
                }
            }
            Ok(other) => bail!("unexpected answer {other:?}"),
            Err(error) => format!("no answer from the daemon: {error:#}\n"),
        };
        if text != shown {
            if !json {
                // Clear the screen and go home, as crm_mon does.
                print!("\x1b[2J\x1b[H");
            }
            print!("{text}");
            use std::io::Write;
            std::io::stdout().flush()?;
            shown = text;
        }
        std::thread::sleep(std::time::Duration::from_millis(REFRESH_MS));
    }
}

/// `systole bus [--json]`: one counter a line, or one JSON object.
fn print_bus(
    node: &str,
    stats: &crate::transport::TransportStats,
    refused_non_members: u64,
    json: bool,
) -> anyhow::Result<()> {
    let mut object = serde_json::to_value(stats)?;
    object["node"] = node.into();
    object["refused_non_members"] = refused_non_members.into();
    if json {
        println!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(());
    }
    println!("node: {node}");
    for (name, value) in object.as_object().into_iter().flatten() {
        if name != "node" {
            println!("{name}: {value}");
        }
    }
    Ok(())
}

/// `systole history`: every node holds the same finished transitions; the
/// DC also the running one's progress, so with `--dir` and no `--node` the
/// DC is asked.
pub fn history(target: &Target, action: Option<HistoryAction>, json: bool) -> anyhow::Result<i32> {
    let (node, transitions) = ask_history(target)?;
    match action {
        None if json => println!("{}", serde_json::to_string_pretty(&transitions)?),
        None => {
            println!("Transitions as {node} knows them (newest last):");
            for t in &transitions {
                println!(
                    "  {:>16}  dc {}  input {}  {} actions  {}  cause: {}",
                    t.id,
                    t.dc,
                    t.input_version,
                    t.actions.len() + t.actions_left_out,
                    t.outcome.as_deref().unwrap_or("running"),
                    t.cause
                );
            }
        }
        Some(HistoryAction::Show { id }) => {
            let t = transitions
                .iter()
                .find(|t| t.id == id)
                .with_context(|| format!("{node} has no transition {id}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(t)?);
            } else {
                print_transition(t);
            }
        }
    }
    Ok(0)
}

/// The asked node's name and the transitions it keeps (the DC's, when a
/// local cluster's directory is given without a node).
fn ask_history(target: &Target) -> anyhow::Result<(String, Vec<TransitionRecord>)> {
    let mut socket = resolve_socket(target)?;
    if target.node.is_none() {
        if let (Some(dir), Ok(ControlResponse::Status(status))) = (
            &target.dir,
            control_socket::call(&socket, &ControlRequest::Status, 5_000),
        ) {
            if let Some(dc) = status.dc {
                socket = localcluster::socket_path(dir, &dc);
            }
        }
    }
    match control_socket::call(&socket, &ControlRequest::History, 5_000)? {
        ControlResponse::History { node, transitions } => Ok((node, transitions)),
        ControlResponse::Error(e) => bail!("{e}"),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// `systole history show ID`: one transition, its summary and actions.
fn print_transition(t: &TransitionRecord) {
    println!(
        "Transition {} on {} from CIB {}",
        t.id, t.dc, t.input_version
    );
    println!("Cause: {}", t.cause);
    println!("Outcome: {}", t.outcome.as_deref().unwrap_or("running"));
    println!("Summary:");
    for line in &t.summary {
        println!("  {line}");
    }
    println!("Actions:");
    for a in &t.actions {
        println!("  {}", history_action_line(a));
    }
    if t.actions_left_out > 0 {
        println!("  ... and {} more actions not kept", t.actions_left_out);
    }
}

/// `[  3] start web on node2  ok  rc=0  on node2  13:05:09.120 +0.512s`.
fn history_action_line(a: &crate::model::control::history::ActionRecord) -> String {
    let mut line = format!(
        "[{:>3}] {:<40} {}",
        a.id,
        a.description,
        a.result.as_deref().unwrap_or("not run")
    );
    if let Some(rc) = a.rc {
        line.push_str(&format!("  rc={rc}"));
    }
    if let Some(node) = &a.node {
        line.push_str(&format!("  on {node}"));
    }
    if let Some(started) = a.started_epoch_ms {
        let clock = crate::model::cib::time::ctime(started.div_euclid(1000));
        let time_of_day = clock
            .split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_string();
        line.push_str(&format!(
            "  started {time_of_day}.{:03} UTC",
            started.rem_euclid(1000)
        ));
        if let Some(ended) = a.ended_epoch_ms {
            line.push_str(&format!("  took {} ms", ended - started));
        }
    }
    line
}
