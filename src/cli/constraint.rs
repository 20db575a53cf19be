//! `systole constraint ...` and `systole property ...`: the configuration
//! that is not resources.

use crate::admin;
use crate::cli::args::*;
use crate::cli::target::*;

pub fn command(target: &Target, action: ConstraintAction) -> anyhow::Result<i32> {
    let mut target = target.clone();
    let (kind, mut args) = match action {
        ConstraintAction::List => {
            print!("{}", admin::constraint_list(&current_cib(&target)?, None));
            return Ok(0);
        }
        ConstraintAction::Remove { ids } => {
            let cib = current_cib(&target)?;
            return commit_edit(&target, admin::constraint_remove(&cib, &ids)?);
        }
        ConstraintAction::Location { args } => ("location", args),
        ConstraintAction::Colocation { args } => ("colocation", args),
        ConstraintAction::Order { args } => ("order", args),
    };
    take_globals(&mut args, &mut target)?;
    let cib = current_cib(&target)?;
    match args.first().map(String::as_str) {
        None | Some("list") | Some("show") | Some("config") => {
            print!("{}", admin::constraint_list(&cib, Some(kind)));
            Ok(0)
        }
        Some("remove") | Some("delete") => {
            commit_edit(&target, admin::constraint_remove(&cib, &args[1..])?)
        }
        _ => {
            let edit = match kind {
                "location" => admin::constraint_location(&cib, &args)?,
                "colocation" => admin::constraint_colocation(&cib, &args)?,
                _ => admin::constraint_order(&cib, &args)?,
            };
            commit_edit(&target, edit)
        }
    }
}

pub fn property_command(target: &Target, action: PropertyAction) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    match action {
        PropertyAction::Set { assignments, force } => {
            commit_edit(target, admin::property_set(&cib, &assignments, force)?)
        }
        PropertyAction::Unset { names } => {
            commit_edit(target, admin::property_unset(&cib, &names)?)
        }
        PropertyAction::List => {
            print!("{}", admin::property_list(&cib));
            Ok(0)
        }
    }
}
