//! `systole resource ...`: resources, groups, clones, defaults, restart.

use anyhow::bail;

use crate::actors::control_socket::{self, ControlRequest, ControlResponse};
use crate::admin;
use crate::cli::args::{GroupAction, OpAction, ResourceAction, Target};
use crate::cli::target::{
    ask, commit_edit, current_cib, edit_each, edit_with, live_cib, now_epoch_s, take_flag,
    take_globals,
};
use crate::model::cib::xml::Element;

pub fn command(target: &Target, action: ResourceAction) -> anyhow::Result<i32> {
    let mut target = target.clone();
    let target = &mut target;
    match action {
        ResourceAction::Create { args } => create(target, args),
        ResourceAction::Update { mut args } => {
            take_globals(&mut args, target)?;
            edit_with(target, |cib| admin::resource_update(cib, &args))
        }
        ResourceAction::Delete { id } => edit_with(target, |cib| admin::resource_delete(cib, &id)),
        ResourceAction::Agents { filter } => agents(target, filter),
        ResourceAction::Describe { agent } => describe(target, agent),
        ResourceAction::List => {
            print!(
                "{}",
                admin::resource_list(&current_cib(target)?, now_epoch_s())
            );
            Ok(0)
        }
        ResourceAction::Show { id } => {
            print!("{}", admin::resource_show(&current_cib(target)?, &id)?);
            Ok(0)
        }
        ResourceAction::Move { id, node, lifetime } => edit_with(target, |cib| match &node {
            Some(node) => admin::resource_move(cib, &id, node, lifetime.as_deref(), now_epoch_s()),
            None => admin::resource_move_away(cib, &id, lifetime.as_deref(), now_epoch_s()),
        }),
        ResourceAction::Ban { id, node, lifetime } => edit_with(target, |cib| {
            admin::resource_ban(cib, &id, &node, lifetime.as_deref(), now_epoch_s())
        }),
        ResourceAction::Clear { id, node, expired } => clear(target, id, node, expired),
        ResourceAction::Cleanup { id, on } => edit_with(target, |cib| {
            admin::resource_cleanup(cib, id.as_deref(), on.as_deref())
        }),
        ResourceAction::Enable { ids } => edit_each(target, &ids, admin::resource_enable),
        ResourceAction::Disable { ids } => edit_each(target, &ids, admin::resource_disable),
        ResourceAction::Manage { ids } => edit_each(target, &ids, admin::resource_manage),
        ResourceAction::Unmanage { ids } => edit_each(target, &ids, admin::resource_unmanage),
        ResourceAction::Restart { id, timeout } => restart(target, &id, timeout),
        ResourceAction::Group { action } => edit_with(target, |cib| match action {
            GroupAction::Add { group, resources } => admin::group_add(cib, &group, &resources),
            GroupAction::Remove { group, resources } => {
                admin::group_remove(cib, &group, &resources)
            }
        }),
        ResourceAction::Defaults { assignments } => defaults(target, "rsc_defaults", &assignments),
        ResourceAction::Op {
            action: OpAction::Defaults { assignments },
        } => defaults(target, "op_defaults", &assignments),
        ResourceAction::Clone { id, meta } => {
            edit_with(target, |cib| admin::resource_clone(cib, &id, false, &meta))
        }
        ResourceAction::Promotable { id, meta } => {
            edit_with(target, |cib| admin::resource_clone(cib, &id, true, &meta))
        }
    }
}

/// `resource create`, its parameters checked against the agent's meta-data
/// unless `--force`.
fn create(target: &mut Target, mut args: Vec<String>) -> anyhow::Result<i32> {
    take_globals(&mut args, target)?;
    let force = take_flag(&mut args, "--force");
    let cib = current_cib(target)?;
    let edit = admin::resource_create(&cib, &args)?;
    if !force {
        check_agent_parameters(target, &args)?;
    }
    commit_edit(target, edit)
}

/// `resource agents [FILTER]`: the agents this node has.
fn agents(target: &Target, filter: Option<String>) -> anyhow::Result<i32> {
    match ask(target, ControlRequest::Agents { filter })? {
        ControlResponse::Agents(agents) => {
            for agent in agents {
                println!("{agent}");
            }
        }
        other => bail!("unexpected answer {other:?}"),
    }
    Ok(0)
}

/// `resource describe AGENT`: its parameters and actions.
fn describe(target: &Target, agent: String) -> anyhow::Result<i32> {
    match ask(target, ControlRequest::DescribeAgent { agent })? {
        ControlResponse::AgentMetadata(meta) => print!("{}", meta.render()),
        other => bail!("unexpected answer {other:?}"),
    }
    Ok(0)
}

/// `resource clear ID [NODE]` or `resource clear [ID] --expired`: the
/// cli-prefer/cli-ban constraints removed.
fn clear(
    target: &Target,
    id: Option<String>,
    node: Option<String>,
    expired: bool,
) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    let edit = match (id, expired) {
        (id, true) => admin::resource_clear_expired(&cib, id.as_deref(), now_epoch_s())?,
        (Some(id), false) => admin::resource_clear(&cib, &id, node.as_deref())?,
        (None, false) => bail!("which resource? `resource clear ID [NODE]` (or --expired)"),
    };
    if edit.is_empty() {
        println!("no cli-prefer/cli-ban constraints to clear; nothing changed");
        return Ok(0);
    }
    commit_edit(target, edit)
}

fn defaults(target: &Target, section: &str, assignments: &[String]) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    if assignments.is_empty() {
        print!("{}", admin::defaults_list(&cib, section));
        return Ok(0);
    }
    commit_edit(target, admin::defaults_set(&cib, section, assignments)?)
}

/// Whether no instance of `id` (or of what it contains) runs anywhere.
fn stopped(report: &control_socket::StatusReport, cib: &Element, id: &str) -> bool {
    let members: Vec<String> = admin::find_resource(cib, id)
        .map(|r| {
            let mut ids = Vec::new();
            r.walk(&mut |e| {
                if let Some(i) = e.id() {
                    ids.push(i.to_string());
                }
            });
            ids
        })
        .unwrap_or_default();
    report.resources.iter().all(|r| {
        let base = r.id.split(':').next().unwrap_or(&r.id);
        let ours = members
            .iter()
            .any(|m| m == base || r.parent.as_deref() == Some(m));
        !ours || r.nodes.is_empty()
    })
}

/// `resource restart`: disable, wait for the stop, enable.
fn restart(target: &Target, id: &str, timeout_s: u64) -> anyhow::Result<i32> {
    if target.shadow.is_some() {
        bail!("restart acts on the running cluster; it has no meaning for a shadow");
    }
    let cib = live_cib(target)?;
    commit_edit(target, admin::resource_disable(&cib, id)?)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_s);
    let mut stopped_in_time = false;
    while std::time::Instant::now() < deadline {
        if let ControlResponse::Status(report) = ask(target, ControlRequest::Status)? {
            if stopped(&report, &cib, id) {
                stopped_in_time = true;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let cib = live_cib(target)?;
    commit_edit(target, admin::resource_enable(&cib, id)?)?;
    if !stopped_in_time {
        bail!("{id} did not stop within {timeout_s} s; it was enabled again anyway");
    }
    println!("restarted {id}");
    Ok(0)
}

/// `resource create` checks the parameters against the agent's meta-data
/// (asked of the daemon, which knows this node's agents): unknown ones and
/// missing required ones are refused, in the agent's own words.
fn check_agent_parameters(target: &Target, args: &[String]) -> anyhow::Result<()> {
    let [_, agent, rest @ ..] = args else {
        return Ok(());
    };
    let parsed = admin::parse_resource_args(rest)?;
    let given: Vec<&str> = parsed.params.iter().map(|(k, _)| k.as_str()).collect();
    let meta = match ask(
        target,
        ControlRequest::DescribeAgent {
            agent: agent.clone(),
        },
    ) {
        Ok(ControlResponse::AgentMetadata(meta)) => meta,
        Ok(other) => bail!("unexpected answer {other:?}"),
        Err(_) if target.shadow.is_some() => {
            eprintln!("note: no daemon to ask about {agent}; its parameters were not checked");
            return Ok(());
        }
        Err(error) => bail!("{error:#}; nothing created (--force creates it anyway)"),
    };
    let problems = meta.check_parameters(given);
    if !problems.is_empty() {
        bail!(
            "{}\nnothing created (--force creates it anyway; `systole resource describe {agent}` lists its parameters)",
            problems.join("\n")
        );
    }
    Ok(())
}
