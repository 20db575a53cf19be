//! The Pacemaker tools resource agents call (`crm_attribute`, `attrd_updater`,
//! `crm_node`, `crm_resource`), answered through the daemon with Pacemaker's
//! exit codes.

use anyhow::bail;

use crate::actors::control_socket::{ControlRequest, ControlResponse};
use crate::cli::args::*;
use crate::cli::target::*;

/// `crm_attribute`/`crm_master` on behalf of an agent: exit codes as
/// Pacemaker's (0 done, 6 no such attribute on query, 1 other errors).
pub fn crm_attribute(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use crate::cli::crm_attribute::{parse, query, Action};
    let request = parse(args, &|key| std::env::var(key).ok())
        .map_err(|e| anyhow::anyhow!("crm_attribute: {e}"))?;
    if request.action == Action::Query {
        let cib = live_cib(target)?;
        return Ok(
            match query(&cib, &request, crate::cli::target::now_epoch_s()) {
                Some(value) if request.quiet => {
                    println!("{value}");
                    0
                }
                Some(value) => {
                    println!(
                        "scope={} name={} value={value}",
                        if request.transient { "status" } else { "nodes" },
                        request.name
                    );
                    0
                }
                None => {
                    eprintln!(
                        "crm_attribute: no attribute {} on {}",
                        request.name, request.node
                    );
                    6
                }
            },
        );
    }
    let change = request.change().expect("not a query");
    ask_done(target, ControlRequest::CibModify { change })?;
    Ok(0)
}

/// `attrd_updater` on behalf of an agent.
pub fn attrd_updater(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use crate::cli::agent_tools::{
        parse_attrd_updater, render_attrd_query, AttrdAction, EXIT_NO_SUCH, EXIT_USAGE,
    };
    let request = match parse_attrd_updater(args, &|key| std::env::var(key).ok()) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("{error}");
            return Ok(EXIT_USAGE);
        }
    };
    let value = match request.action {
        AttrdAction::Nothing => return Ok(0),
        AttrdAction::Update(value) => Some(value),
        AttrdAction::Delete => None,
        AttrdAction::Query { all_nodes } => {
            let query = ControlRequest::AttrQuery {
                node: (!all_nodes).then(|| request.node.clone()),
                name: request.name.clone(),
            };
            let values = match ask(target, query)? {
                ControlResponse::Attributes(values) => values,
                other => bail!("unexpected answer {other:?}"),
            };
            if values.iter().all(|(_, v)| v.is_none()) {
                eprintln!(
                    "attrd_updater: could not query value of {}: attribute does not exist",
                    request.name
                );
                return Ok(EXIT_NO_SUCH);
            }
            let known: Vec<_> = values.into_iter().filter(|(_, v)| v.is_some()).collect();
            print!(
                "{}",
                render_attrd_query(&request.name, &known, request.quiet)
            );
            return Ok(0);
        }
    };
    let update = ControlRequest::AttrUpdate {
        node: request.node,
        name: request.name,
        value,
        dampen_ms: request.dampen_ms,
    };
    ask_done(target, update)?;
    Ok(0)
}

/// `crm_node` on behalf of an agent.
pub fn crm_node(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use crate::cli::agent_tools::{answer_crm_node, parse_crm_node, CrmNodeQuery, EXIT_USAGE};
    let query = match parse_crm_node(args) {
        Ok(query) => query,
        Err(error) => {
            eprintln!("{error}");
            return Ok(EXIT_USAGE);
        }
    };
    // The own name needs no daemon.
    if let (CrmNodeQuery::Name(None) | CrmNodeQuery::Id, Ok(me)) =
        (&query, std::env::var("SYSTOLE_NODE"))
    {
        println!("{me}");
        return Ok(0);
    }
    let status = ask_status(target)?;
    let me = std::env::var("SYSTOLE_NODE").unwrap_or_else(|_| status.answered_by.clone());
    match answer_crm_node(&query, &me, &status) {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(crate::cli::agent_tools::EXIT_NO_SUCH)
        }
    }
}

/// `crm_resource --locate` on behalf of an agent.
pub fn crm_resource(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use crate::cli::agent_tools::{answer_locate, parse_crm_resource, EXIT_NO_SUCH, EXIT_USAGE};
    let request = match parse_crm_resource(args) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("{error}");
            return Ok(EXIT_USAGE);
        }
    };
    match answer_locate(&request, &ask_status(target)?) {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(EXIT_NO_SUCH)
        }
    }
}
