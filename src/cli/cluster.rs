//! `systole cluster ...`: local clusters up and down, nodes leaving cleanly.

use anyhow::{bail, Context};

use crate::actors::control_socket::{ControlRequest, ControlResponse};
use crate::actors::message::CibChange;
use crate::cli::args::{ChaosAction, ClusterAction, Target};
use crate::cli::localcluster;
use crate::cli::target::{ask, ask_done, need_dir, now_epoch_s};

/// `systole cluster up|down|stop`.
pub fn command(target: &Target, action: ClusterAction) -> anyhow::Result<i32> {
    if let ClusterAction::Stop { all } = action {
        return cluster_stop(target, all);
    }
    let dir = need_dir(target)?;
    match action {
        ClusterAction::Up { nodes, empty } => {
            localcluster::up(dir, nodes, empty)?;
            println!(
                "cluster of {nodes} nodes up in {}; try `systole status --dir {}`",
                dir.display(),
                dir.display()
            );
        }
        ClusterAction::Down => {
            let stopped = localcluster::down(dir)?;
            println!("stopped {stopped} nodes of {}", dir.display());
        }
        ClusterAction::Stop { .. } => unreachable!("handled above"),
    }
    Ok(0)
}

/// `systole chaos block NODE...|heal`: this node stops hearing the others.
pub fn chaos(target: &Target, action: ChaosAction) -> anyhow::Result<i32> {
    let nodes = match action {
        ChaosAction::Block { nodes } => nodes,
        ChaosAction::Heal => Vec::new(),
    };
    println!(
        "{}",
        ask_done(target, ControlRequest::ChaosBlock { nodes })?
    );
    Ok(0)
}

/// `systole cluster stop`: nodes leave cleanly, their resources moved away.
fn cluster_stop(target: &Target, all: bool) -> anyhow::Result<i32> {
    if let Some(dir) = &target.dir {
        if all {
            let stopped = localcluster::down(dir)?;
            println!("stopped {stopped} nodes of {}", dir.display());
            return Ok(0);
        }
        let node = target
            .node
            .as_deref()
            .context("which node? --node N, or --all")?;
        localcluster::stop_node(dir, node)?;
        println!("{node} stopped; its resources were moved away first");
        return Ok(0);
    }
    let nodes: Vec<String> = match (&target.node, all) {
        (Some(node), _) => vec![node.clone()],
        (None, true) => match ask(target, ControlRequest::Status)? {
            ControlResponse::Status(report) => report
                .nodes
                .into_iter()
                .filter(|n| n.online)
                .map(|n| n.name)
                .collect(),
            other => bail!("unexpected answer {other:?}"),
        },
        (None, false) => {
            println!("{}", ask_done(target, ControlRequest::Shutdown)?);
            return Ok(0);
        }
    };
    for node in nodes {
        let change = CibChange::SetTransientAttribute {
            node: node.clone(),
            name: "shutdown".into(),
            value: Some(now_epoch_s().to_string()),
        };
        ask_done(target, ControlRequest::CibModify { change })?;
        println!("asked {node} to stop: it moves its resources away, then leaves");
    }
    Ok(0)
}
