//! The node's attribute manager as a task: takes `attrd_updater` requests
//! from the control socket, keeps the dampening state ([`crate::actors::attrd`])
//! and writes the values that fall due through the CIB actor.

use crate::actors::control::{modify_local_cib, CONTROL_REQUEST_TIMEOUT_MS};
use crate::actors::router::Router;
use crate::actors::shared::NodeShared;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A request to the node's attribute manager.
#[derive(Debug)]
pub enum AttrdCommand {
    Update {
        node: String,
        name: String,
        value: Option<String>,
        dampen_ms: u64,
    },
    Query {
        node: Option<String>,
        name: String,
        reply: tokio::sync::oneshot::Sender<Vec<(String, Option<String>)>>,
    },
}

/// How many `attrd_updater` requests may wait for the attribute manager.
pub const ATTRD_QUEUE_DEPTH_MAX: usize = 1_024;

/// Runs the node's attribute manager: applies updates and queries, and
/// writes dampened values into the CIB (through the CIB actor, as any
/// client change) when they fall due.
pub(crate) fn spawn_attribute_manager(
    shared: Arc<NodeShared>,
    router: Arc<Router>,
) -> mpsc::Sender<AttrdCommand> {
    let (sender, mut commands) = mpsc::channel::<AttrdCommand>(ATTRD_QUEUE_DEPTH_MAX);
    tokio::spawn(async move {
        let mut manager = crate::actors::attrd::AttributeManager::new();
        loop {
            let now_ms = shared.uptime_ms();
            let wait_ms = manager.next_due_ms().map(|due| due.saturating_sub(now_ms));
            let sleep =
                tokio::time::sleep(std::time::Duration::from_millis(wait_ms.unwrap_or(60_000)));
            let writes = tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(command) => attrd_command(&shared, &mut manager, command),
                },
                _ = sleep, if wait_ms.is_some() => manager.due(shared.uptime_ms()),
            };
            // In order, one at a time: a later value never lands first.
            for write in writes {
                write_attribute(&shared, &router, write).await;
            }
        }
    });
    sender
}

fn attrd_command(
    shared: &NodeShared,
    manager: &mut crate::actors::attrd::AttributeManager,
    command: AttrdCommand,
) -> Vec<crate::actors::attrd::Write> {
    let cib = shared.cib();
    match command {
        AttrdCommand::Update {
            node,
            name,
            value,
            dampen_ms,
        } => {
            let current = crate::actors::attrd::transient_value(&cib, &node, &name);
            let now_ms = shared.uptime_ms();
            manager
                .update(&node, &name, value, dampen_ms, current.as_deref(), now_ms)
                .into_iter()
                .collect()
        }
        AttrdCommand::Query { node, name, reply } => {
            let nodes: Vec<String> = match node {
                Some(node) => vec![node],
                None => crate::scheduler::status::node_status(&cib)
                    .map(|nodes| nodes.into_iter().map(|n| n.name).collect())
                    .unwrap_or_default(),
            };
            let values = nodes
                .into_iter()
                .map(|node| {
                    let current = crate::actors::attrd::transient_value(&cib, &node, &name);
                    let value = manager.value(&node, &name, current.as_deref());
                    (node, value)
                })
                .collect();
            let _ = reply.send(values);
            Vec::new()
        }
    }
}

/// Sends one attribute write to the CIB; a failure is logged (the next
/// update writes again).
async fn write_attribute(
    shared: &NodeShared,
    router: &Arc<Router>,
    write: crate::actors::attrd::Write,
) {
    tracing::debug!(node = %write.node, name = %write.name, value = ?write.value, "attribute written");
    let change = crate::actors::message::CibChange::SetTransientAttribute {
        node: write.node.clone(),
        name: write.name.clone(),
        value: write.value.clone(),
    };
    match modify_local_cib(router, "attrd", change, CONTROL_REQUEST_TIMEOUT_MS).await {
        Ok(_) => {
            // Attribute alerts come from the node whose manager wrote it.
            let node_id = crate::model::cib::alerts::node_id(&shared.cib(), &write.node);
            shared.raise_alert(crate::model::cib::alerts::AlertEvent::Attribute {
                node: write.node,
                node_id,
                name: write.name,
                value: write.value,
            });
        }
        Err(error) => tracing::warn!(node = %shared.node, %error, "attribute write failed"),
    }
}
