//! `systole alert ...` and `systole fence ...`: alert agents and fencing.

use anyhow::bail;

use crate::actors::control_socket::ControlRequest;
use crate::admin;
use crate::cli::args::*;
use crate::cli::target::*;

pub fn alert_command(target: &Target, mut action: AlertAction) -> anyhow::Result<i32> {
    use admin::alerts;
    // `--dir DIR` typed after the free-form words belongs to the target.
    let mut target = target.clone();
    if let AlertAction::Create { args }
    | AlertAction::Update { args, .. }
    | AlertAction::Recipient {
        action: RecipientAction::Add { args, .. },
    } = &mut action
    {
        take_globals(args, &mut target)?;
    }
    let target = &target;
    let cib = current_cib(target)?;
    let edit = match action {
        AlertAction::List => {
            print!("{}", alerts::alert_list(&cib));
            return Ok(0);
        }
        AlertAction::Create { args } => alerts::alert_create(&cib, &args)?,
        AlertAction::Update { id, args } => alerts::alert_update(&cib, &id, &args)?,
        AlertAction::Delete { ids } => alerts::alert_delete(&cib, &ids)?,
        AlertAction::Recipient {
            action: RecipientAction::Add { alert, args },
        } => alerts::recipient_add(&cib, &alert, &args)?,
        AlertAction::Recipient {
            action: RecipientAction::Remove { ids },
        } => alerts::recipient_remove(&cib, &ids)?,
    };
    commit_edit(target, edit)
}

/// `systole fence ...`.
pub fn fence_command(target: &Target, args: FenceArgs) -> anyhow::Result<i32> {
    let request = match (args.action, args.victim) {
        (Some(FenceAction::Confirm { victim }), _) => {
            ControlRequest::FenceConfirm { target: victim }
        }
        (Some(FenceAction::Level { action }), _) => return fence_level(target, action),
        (None, Some(victim)) => ControlRequest::Fence {
            target: victim,
            action: if args.off { "off" } else { "reboot" }.into(),
        },
        (None, None) => {
            bail!("which node? `systole fence NODE`, `fence confirm NODE` or `fence level ...`")
        }
    };
    println!("{}", ask_done(target, request)?);
    Ok(0)
}

fn fence_level(target: &Target, action: LevelAction) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    let edit = match action {
        LevelAction::List => {
            print!("{}", admin::fencing::level_list(&cib));
            return Ok(0);
        }
        LevelAction::Add {
            index,
            victim,
            devices,
        } => admin::fencing::level_add(&cib, index, &victim, &devices)?,
        LevelAction::Remove { index, victim } => {
            admin::fencing::level_remove(&cib, index, victim.as_deref())?
        }
    };
    commit_edit(target, edit)
}
