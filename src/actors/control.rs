//! Answers control-socket requests (`systole ...` on this node): each
//! request is checked (ACLs, input) here, at the edge, and carried out
//! through the node's actors.

use crate::actors::access::{acl_for, check_acl_write, identity};
use crate::actors::attrd_task::AttrdCommand;
use crate::actors::control_socket::{Caller, ControlRequest, ControlResponse};
use crate::actors::daemon::NodeHandle;
use crate::actors::message::{
    AdminFence, CibModify, CibReadConsistent, Fenced, MembersChange, Message, ReportQuery, Stored,
};
use crate::actors::node_status::{filter_status, status_report};
use crate::actors::router::Router;
use crate::agent::fence::FenceAction;
use crate::model::cib::xml::Element;
use std::sync::Arc;

/// How long a control request waits on an actor.
pub const CONTROL_REQUEST_TIMEOUT_MS: u64 = 15_000;

/// Answers one control request.
pub async fn handle_control(
    node: NodeHandle,
    request: ControlRequest,
    caller: Caller,
) -> ControlResponse {
    let me = node.router.local_ref("control");
    let own_uid = unsafe { libc::geteuid() };
    let caller_acl = || {
        let cib = node.shared.cib();
        let (user, groups) = identity(&caller);
        acl_for(&cib, caller.uid, own_uid, &user, &groups).map(|a| (user, a))
    };
    match request {
        ControlRequest::Ping => ControlResponse::Pong {
            node: node.shared.node.clone(),
        },
        ControlRequest::Status => {
            let mut report = status_report(&node);
            if let Some((_, acl)) = caller_acl() {
                filter_status(&mut report, &acl.filter(&node.shared.cib()));
            }
            ControlResponse::Status(report)
        }
        ControlRequest::Actors => ControlResponse::Actors {
            node: node.shared.node.clone(),
            tree: node.tree.snapshot(),
        },
        ControlRequest::ActorsKill { name } => {
            if !node.tree.has_actor(&name) {
                return ControlResponse::Error(format!(
                    "no actor {name}; actors are {}",
                    node.tree.spec().actors().join(", ")
                ));
            }
            match node
                .router
                .send(me, node.router.local_ref(&name), Message::InjectCrash)
            {
                Ok(()) => ControlResponse::Done(format!(
                    "crash injected into {name} on {}",
                    node.shared.node
                )),
                Err(error) => ControlResponse::Error(error.to_string()),
            }
        }
        ControlRequest::CibGet => {
            let cib = node.shared.cib();
            let xml = match caller_acl() {
                Some((_, acl)) => acl.filter(&cib).to_xml_pretty(),
                None => cib.to_xml_pretty(),
            };
            ControlResponse::Cib { xml }
        }
        ControlRequest::CibModify { change } => {
            let change = stamped(change, &caller, &node.shared.node);
            if let Some((user, acl)) = caller_acl() {
                if let Err(error) = check_acl_write(&node.shared.cib(), &change, &acl) {
                    return ControlResponse::Error(format!("{user}: {error}"));
                }
            }
            // Refused here, before the CIB actor sees it, if it adds errors.
            if let Err(error) = check_change(
                &node.shared.cib(),
                &change,
                crate::actors::shared::now_epoch_s(),
            ) {
                return ControlResponse::Error(error);
            }
            match modify_local_cib(&node.router, "control", change, CONTROL_REQUEST_TIMEOUT_MS)
                .await
            {
                Ok((version, index)) => ControlResponse::Done(format!(
                    "CIB updated to version {version} (log index {index}, committed on a majority of the voters)"
                )),
                Err(e) => ControlResponse::Error(e),
            }
        }
        ControlRequest::CibGetConsistent => {
            let answer = node
                .router
                .ask(
                    me,
                    node.router.local_ref("cib"),
                    CibReadConsistent,
                    CONTROL_REQUEST_TIMEOUT_MS,
                )
                .await;
            match answer {
                Ok(cib) => {
                    let xml = match caller_acl() {
                        Some((_, acl)) => acl.filter(&cib).to_xml_pretty(),
                        None => cib.to_xml_pretty(),
                    };
                    ControlResponse::Cib { xml }
                }
                Err(error) => ControlResponse::Error(error.to_string()),
            }
        }
        ControlRequest::MemberAdd {
            name,
            addr,
            witness,
        } => member_add(&node, me, name, addr, witness).await,
        ControlRequest::MemberRemove { name, force } => member_remove(&node, me, name, force).await,
        ControlRequest::Report {
            from_epoch_s,
            to_epoch_s,
        } => ControlResponse::Report(Box::new(
            gather_report(&node, me, from_epoch_s, to_epoch_s).await,
        )),
        ControlRequest::History => ControlResponse::History {
            node: node.shared.node.clone(),
            transitions: node.shared.transition_history(),
        },
        ControlRequest::Fence { target, action } => {
            let action = match check_fence_request(&node.shared.cib(), &target, &action) {
                Ok(action) => action,
                Err(error) => return ControlResponse::Error(error),
            };
            let Some(dc) = node.shared.dc_info().dc else {
                return ControlResponse::Error("no DC at the moment; try again shortly".into());
            };
            let answer = node
                .router
                .ask(
                    me,
                    crate::actors::message::ActorRef::new(&dc, "dc"),
                    AdminFence {
                        target: target.clone(),
                        action,
                    },
                    crate::actors::dc::FENCE_ANSWER_TIMEOUT_MS + 5_000,
                )
                .await;
            match answer {
                Ok(Fenced {
                    ok: true, detail, ..
                }) => ControlResponse::Done(format!("fenced {target} ({action}): {detail}")),
                Ok(Fenced { detail, .. }) => {
                    ControlResponse::Error(format!("fencing {target} failed: {detail}"))
                }
                Err(error) => ControlResponse::Error(error.to_string()),
            }
        }
        ControlRequest::Timings => ControlResponse::Timings {
            node: node.shared.node.clone(),
            timings: node.shared.timings.lock().expect("timings lock").clone(),
        },
        ControlRequest::BusStats => ControlResponse::Bus {
            node: node.shared.node.clone(),
            stats: node.bus.stats(),
            refused_non_members: node
                .shared
                .refused_non_members
                .load(std::sync::atomic::Ordering::Relaxed),
        },
        ControlRequest::ChaosBlock { nodes } => {
            let described = if nodes.is_empty() {
                "healed: no peers blocked".to_string()
            } else {
                format!("blocking all traffic with {}", nodes.join(", "))
            };
            node.bus.block(nodes.into_iter().collect());
            ControlResponse::Done(format!("{}: {described}", node.shared.node))
        }
        ControlRequest::Shutdown => {
            node.shutdown.notify_one();
            ControlResponse::Done(format!("{} shutting down", node.shared.node))
        }
        ControlRequest::FenceConfirm { target } => fence_confirm(&node, target, &caller).await,
        ControlRequest::AttrUpdate {
            node: target,
            name,
            value,
            dampen_ms,
        } => {
            let command = AttrdCommand::Update {
                node: target,
                name,
                value,
                dampen_ms,
            };
            match node.attrd.try_send(command) {
                Ok(()) => ControlResponse::Done("attribute update accepted".into()),
                Err(error) => ControlResponse::Error(format!("attribute manager: {error}")),
            }
        }
        ControlRequest::AttrQuery { node: target, name } => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let command = AttrdCommand::Query {
                node: target,
                name,
                reply,
            };
            if let Err(error) = node.attrd.try_send(command) {
                return ControlResponse::Error(format!("attribute manager: {error}"));
            }
            match answer.await {
                Ok(values) => ControlResponse::Attributes(values),
                Err(_) => ControlResponse::Error("the attribute manager did not answer".into()),
            }
        }
        ControlRequest::Agents { filter } => {
            let config = Arc::clone(&node.shared.agent_config);
            match crate::agent::catalog::list_agents(&config, filter.as_deref()).await {
                Ok(agents) => ControlResponse::Agents(agents),
                Err(error) => ControlResponse::Error(error),
            }
        }
        ControlRequest::DescribeAgent { agent } => {
            let config = Arc::clone(&node.shared.agent_config);
            match crate::agent::catalog::describe(config, &agent).await {
                Ok(meta) => ControlResponse::AgentMetadata(meta),
                Err(error) => ControlResponse::Error(error),
            }
        }
    }
}

/// Answers of members to a report's question, at most this long.
pub const REPORT_PART_TIMEOUT_MS: u64 = 30_000;

/// `systole report`: this node's view (CIB, history, status) and every
/// member's part, asked in parallel; who did not answer is named.
async fn gather_report(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    from_epoch_s: i64,
    to_epoch_s: i64,
) -> crate::actors::report::Report {
    let members = node.shared.view().members;
    let asks = members.iter().map(|member| {
        let (router, me) = (Arc::clone(&node.router), me.clone());
        let to = crate::actors::message::ActorRef::new(member, "membership");
        async move {
            let question = ReportQuery {
                from_epoch_s,
                to_epoch_s,
            };
            (
                to.node.clone(),
                router.ask(me, to, question, REPORT_PART_TIMEOUT_MS).await,
            )
        }
    });
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    for (member, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(part) => parts.push(part),
            Err(error) => missing.push((member, error.to_string())),
        }
    }
    let cib = node.shared.cib();
    crate::actors::report::Report {
        from_epoch_s,
        to_epoch_s,
        asked: node.shared.node.clone(),
        cib_xml: cib.to_xml_pretty(),
        history: node.shared.transition_history(),
        status: status_report(node),
        parts,
        missing,
    }
}

/// `systole fence confirm NODE`: refused for a node this node sees as a
/// member (it is up); else recorded as a manual fencing through the CIB.
async fn fence_confirm(node: &NodeHandle, target: String, caller: &Caller) -> ControlResponse {
    if node.shared.view().members.contains(&target) {
        return ControlResponse::Error(format!(
            "{target} is a member of the cluster: it is up, not off; fence it instead (systole fence {target})"
        ));
    }
    let (user, _) = identity(caller);
    let change = crate::actors::message::CibChange::ConfirmFenced {
        node: target.clone(),
        at_epoch_s: crate::actors::shared::now_epoch_s(),
        by: format!("{user} on {}", node.shared.node),
    };
    match modify_local_cib(&node.router, "control", change, CONTROL_REQUEST_TIMEOUT_MS).await {
        Ok(_) => ControlResponse::Done(format!(
            "{target} recorded as off (confirmed by hand): its resources may start elsewhere"
        )),
        Err(e) => ControlResponse::Error(e),
    }
}

/// Sends `change` to this node's CIB actor on behalf of the local actor
/// `from`; `Ok((version, log index))` once it is committed and applied,
/// `Err` with the reason otherwise (no quorum, refused, timed out).
pub(crate) async fn modify_local_cib(
    router: &Router,
    from: &str,
    change: crate::actors::message::CibChange,
    timeout_ms: u64,
) -> Result<(crate::model::cib::store::CibVersion, u64), String> {
    let answer = router
        .ask(
            router.local_ref(from),
            router.local_ref("cib"),
            CibModify { change },
            timeout_ms,
        )
        .await;
    match answer {
        Ok(Stored { version, index }) => Ok((version, index)),
        Err(error) => Err(error.to_string()),
    }
}

/// Who made a configuration change, stamped on it as Pacemaker does; status
/// changes (attributes, cleanups) go unstamped.
fn stamped(
    change: crate::actors::message::CibChange,
    caller: &Caller,
    origin: &str,
) -> crate::actors::message::CibChange {
    use crate::actors::message::{ChangeStamp, CibChange};
    if matches!(
        change,
        CibChange::SetTransientAttribute { .. }
            | CibChange::CleanupResource { .. }
            | CibChange::ConfirmFenced { .. }
            | CibChange::Stamped { .. }
    ) {
        return change;
    }
    let (user, _) = identity(caller);
    CibChange::Stamped {
        change: Box::new(change),
        stamp: ChangeStamp {
            at_epoch_s: crate::actors::shared::now_epoch_s(),
            user,
            client: "systole".into(),
            origin: origin.to_string(),
        },
    }
}

pub use crate::model::cib::verify::check_change;

/// `systole fence NODE`: the target must be a node the cluster knows, and
/// the action one a fence agent takes (parsed here, once).
pub fn check_fence_request(
    cib: &Element,
    target: &str,
    action: &str,
) -> Result<FenceAction, String> {
    let action = match FenceAction::parse(action) {
        Some(action @ (FenceAction::Reboot | FenceAction::Off | FenceAction::On)) => action,
        _ => {
            return Err(format!(
                "unknown fence action {action:?} (reboot, off or on)"
            ))
        }
    };
    let known = crate::model::cib::names::known_nodes(cib);
    if !known.iter().any(|n| n == target) {
        return Err(format!(
            "refused: no node named {target:?} in the cluster (nodes: {}); nothing was fenced",
            known.join(", ")
        ));
    }
    Ok(action)
}

async fn member_change(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    change: crate::model::control::members::MemberChange,
) -> Result<(), String> {
    node.router
        .ask(
            me,
            node.router.local_ref("cib"),
            MembersChange { change },
            CONTROL_REQUEST_TIMEOUT_MS,
        )
        .await
        .map_err(|error| error.to_string())
}

async fn member_add(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    name: String,
    addr: Option<String>,
    witness: bool,
) -> ControlResponse {
    use crate::model::control::members::{Member, MemberChange, MemberRole};
    if let Err(error) = crate::admin::check_id_syntax(&name) {
        return ControlResponse::Error(format!("node name {name:?}: {error}"));
    }
    if let Some(addr) = &addr {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            return ControlResponse::Error(format!(
                "--addr {addr:?} is not HOST:PORT (an IP address and a port)"
            ));
        }
    }
    let members = node.shared.consensus_info().members;
    if members.contains(&name) {
        return ControlResponse::Error(format!("{name} is already a member"));
    }
    let role = if witness {
        MemberRole::Witness
    } else {
        MemberRole::Learner
    };
    let change = MemberChange::Set(Member {
        name: name.clone(),
        addr,
        role,
    });
    match member_change(node, me, change).await {
        Ok(()) if witness => ControlResponse::Done(format!(
            "{name} added as a witness (it votes, never leads, runs nothing)"
        )),
        Ok(()) => ControlResponse::Done(format!(
            "{name} added as a learner: start its daemon; it becomes a voter once it has caught up"
        )),
        Err(error) => ControlResponse::Error(error),
    }
}

async fn member_remove(
    node: &NodeHandle,
    me: crate::actors::message::ActorRef,
    name: String,
    force: bool,
) -> ControlResponse {
    use crate::model::control::members::MemberChange;
    let members = node.shared.consensus_info().members;
    let Some(member) = members.by_name(&name) else {
        return ControlResponse::Error(format!("{name} is not a member"));
    };
    let online = node.shared.view().members.contains(&name);
    if online && member.role.runs_resources() && !force {
        return ControlResponse::Error(format!(
            "{name} is online: stop it first (its resources move away), or --force"
        ));
    }
    if member.role.votes() && members.voter_names().len() <= 1 {
        return ControlResponse::Error(format!("{name} is the last voter"));
    }
    match member_change(node, me, MemberChange::Remove { name: name.clone() }).await {
        Ok(()) => ControlResponse::Done(format!("{name} removed from the cluster")),
        Err(error) => ControlResponse::Error(error),
    }
}
