//! Answers control-socket requests (`systole ...` on this node): each
//! request is checked (ACLs, input) here, at the edge, and carried out
//! through the node's actors.

use crate::actors::access::{acl_for, check_acl_write, identity};
use crate::actors::attrd_task::AttrdCommand;
use crate::actors::control_socket::{Caller, ControlRequest, ControlResponse, StatusReport};
use crate::actors::daemon::NodeHandle;
use crate::actors::message::{
    ActorRef, AdminFence, CibChange, CibModify, CibReadConsistent, Fenced, MembersChange, Message,
    ReportQuery, Stored,
};
use crate::actors::node_status::{filter_status, status_report};
use crate::actors::router::Router;
use crate::agent::fence::FenceAction;
use crate::model::cib::acl;
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
    match request {
        ControlRequest::Ping => ControlResponse::Pong {
            node: node.shared.node.clone(),
        },
        ControlRequest::Status => ControlResponse::Status(visible_status(&node, &caller)),
        ControlRequest::Actors => ControlResponse::Actors {
            node: node.shared.node.clone(),
            tree: node.tree.snapshot(),
        },
        ControlRequest::ActorsKill { name } => actors_kill(&node, me, &name),
        ControlRequest::CibGet => ControlResponse::Cib {
            xml: visible_xml(&node, &caller, &node.shared.cib()),
        },
        ControlRequest::CibModify { change } => cib_modify(&node, change, &caller).await,
        ControlRequest::CibGetConsistent => cib_get_consistent(&node, me, &caller).await,
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
        ControlRequest::Fence { target, action } => fence(&node, me, target, &action).await,
        ControlRequest::Timings => ControlResponse::Timings {
            node: node.shared.node.clone(),
            timings: node.shared.timings.lock().expect("timings lock").clone(),
        },
        ControlRequest::BusStats => bus_stats(&node),
        ControlRequest::ChaosBlock { nodes } => chaos_block(&node, nodes),
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
        } => attr_update(&node, target, name, value, dampen_ms),
        ControlRequest::AttrQuery { node: target, name } => attr_query(&node, target, name).await,
        ControlRequest::Agents { filter } => list_agents(&node, filter.as_deref()).await,
        ControlRequest::DescribeAgent { agent } => describe_agent(&node, &agent).await,
    }
}

/// The message bus's counters on this node.
fn bus_stats(node: &NodeHandle) -> ControlResponse {
    ControlResponse::Bus {
        node: node.shared.node.clone(),
        stats: node.bus.stats(),
        refused_non_members: node
            .shared
            .refused_non_members
            .load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// The resource agents installed on this node (`filter`: a class, or
/// class:provider).
async fn list_agents(node: &NodeHandle, filter: Option<&str>) -> ControlResponse {
    let config = Arc::clone(&node.shared.agent_config);
    match crate::agent::catalog::list_agents(&config, filter).await {
        Ok(agents) => ControlResponse::Agents(agents),
        Err(error) => ControlResponse::Error(error),
    }
}

/// One agent's meta-data, as this node's copy of it describes itself.
async fn describe_agent(node: &NodeHandle, agent: &str) -> ControlResponse {
    let config = Arc::clone(&node.shared.agent_config);
    match crate::agent::catalog::describe(config, agent).await {
        Ok(meta) => ControlResponse::AgentMetadata(meta),
        Err(error) => ControlResponse::Error(error),
    }
}

/// The status report, less what the caller's ACL hides.
fn visible_status(node: &NodeHandle, caller: &Caller) -> StatusReport {
    let mut report = status_report(node);
    if let Some((_, acl)) = caller_acl(node, caller) {
        filter_status(&mut report, &acl.filter(&node.shared.cib()));
    }
    report
}

/// `cib export --consistent`: a read through the leader.
async fn cib_get_consistent(node: &NodeHandle, me: ActorRef, caller: &Caller) -> ControlResponse {
    let cib = node.router.local_ref("cib");
    let answer = node
        .router
        .ask(me, cib, CibReadConsistent, CONTROL_REQUEST_TIMEOUT_MS)
        .await;
    match answer {
        Ok(cib) => ControlResponse::Cib {
            xml: visible_xml(node, caller, &cib),
        },
        Err(error) => ControlResponse::Error(error.to_string()),
    }
}

/// The CIB ACLs that bind the caller (None: not bound), with their name.
fn caller_acl(node: &NodeHandle, caller: &Caller) -> Option<(String, acl::UserAcl)> {
    let own_uid = unsafe { libc::geteuid() };
    let cib = node.shared.cib();
    let (user, groups) = identity(caller);
    acl_for(&cib, caller.uid, own_uid, &user, &groups).map(|a| (user, a))
}

/// `cib` as XML, as much of it as the caller may read.
fn visible_xml(node: &NodeHandle, caller: &Caller, cib: &Element) -> String {
    match caller_acl(node, caller) {
        Some((_, acl)) => acl.filter(cib).to_xml_pretty(),
        None => cib.to_xml_pretty(),
    }
}

/// `systole actors kill NAME`: the same path as a real bug.
fn actors_kill(node: &NodeHandle, me: ActorRef, name: &str) -> ControlResponse {
    if !node.tree.has_actor(name) {
        return ControlResponse::Error(format!(
            "no actor {name}; actors are {}",
            node.tree.spec().actors().join(", ")
        ));
    }
    match node
        .router
        .send(me, node.router.local_ref(name), Message::InjectCrash)
    {
        Ok(()) => ControlResponse::Done(format!(
            "crash injected into {name} on {}",
            node.shared.node
        )),
        Err(error) => ControlResponse::Error(error.to_string()),
    }
}

/// A client's change: stamped, checked against the caller's ACL and for
/// new configuration errors here, at the edge, then committed.
async fn cib_modify(node: &NodeHandle, change: CibChange, caller: &Caller) -> ControlResponse {
    let change = stamped(change, caller, &node.shared.node);
    if let Some((user, acl)) = caller_acl(node, caller) {
        if let Err(error) = check_acl_write(&node.shared.cib(), &change, &acl) {
            return ControlResponse::Error(format!("{user}: {error}"));
        }
    }
    // Refused here, before the CIB actor sees it, if it adds errors.
    let now_epoch_s = crate::actors::shared::now_epoch_s();
    if let Err(error) = check_change(&node.shared.cib(), &change, now_epoch_s) {
        return ControlResponse::Error(error);
    }
    match modify_local_cib(&node.router, "control", change, CONTROL_REQUEST_TIMEOUT_MS).await {
        Ok((version, index)) => ControlResponse::Done(format!(
            "CIB updated to version {version} (log index {index}, committed on a majority of the voters)"
        )),
        Err(e) => ControlResponse::Error(e),
    }
}

/// `systole fence NODE`: checked and parsed here, carried out by the DC.
async fn fence(node: &NodeHandle, me: ActorRef, target: String, action: &str) -> ControlResponse {
    let action = match check_fence_request(&node.shared.cib(), &target, action) {
        Ok(action) => action,
        Err(error) => return ControlResponse::Error(error),
    };
    let Some(dc) = node.shared.dc_info().dc else {
        return ControlResponse::Error("no DC at the moment; try again shortly".into());
    };
    let request = AdminFence {
        target: target.clone(),
        action,
    };
    let timeout_ms = crate::actors::dc::FENCE_ANSWER_TIMEOUT_MS + 5_000;
    let dc = ActorRef::new(&dc, "dc");
    match node.router.ask(me, dc, request, timeout_ms).await {
        Ok(Fenced {
            ok: true, detail, ..
        }) => ControlResponse::Done(format!("fenced {target} ({action}): {detail}")),
        Ok(Fenced { detail, .. }) => {
            ControlResponse::Error(format!("fencing {target} failed: {detail}"))
        }
        Err(error) => ControlResponse::Error(error.to_string()),
    }
}

/// Chaos testing: drop all traffic with `nodes` (none: heal).
fn chaos_block(node: &NodeHandle, nodes: Vec<String>) -> ControlResponse {
    let described = if nodes.is_empty() {
        "healed: no peers blocked".to_string()
    } else {
        format!("blocking all traffic with {}", nodes.join(", "))
    };
    node.bus.block(nodes.into_iter().collect());
    ControlResponse::Done(format!("{}: {described}", node.shared.node))
}

fn attr_update(
    node: &NodeHandle,
    target: String,
    name: String,
    value: Option<String>,
    dampen_ms: u64,
) -> ControlResponse {
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

async fn attr_query(node: &NodeHandle, target: Option<String>, name: String) -> ControlResponse {
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
