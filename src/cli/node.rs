//! `systole node ...`: membership (add, remove) and node attributes.

use anyhow::bail;

use crate::actors::control_socket::ControlRequest;
use crate::admin;
use crate::cli::args::*;
use crate::cli::target::*;

pub fn command(target: &Target, action: NodeAction) -> anyhow::Result<i32> {
    let request = match &action {
        NodeAction::Add {
            name,
            addr,
            witness,
        } => Some(ControlRequest::MemberAdd {
            name: name.clone(),
            addr: addr.clone(),
            witness: *witness,
        }),
        NodeAction::Remove { name, force } => Some(ControlRequest::MemberRemove {
            name: name.clone(),
            force: *force,
        }),
        _ => None,
    };
    if let Some(request) = request {
        if target.shadow.is_some() {
            bail!("membership is not part of a shadow CIB; drop --shadow");
        }
        println!("{}", ask_done(target, request)?);
        return Ok(0);
    }
    let cib = current_cib(target)?;
    let edit = match action {
        NodeAction::Standby { node } => admin::node_standby(&cib, &node)?,
        NodeAction::Online { node } => admin::node_online(&cib, &node)?,
        NodeAction::Maintenance { node, off } => admin::node_maintenance(&cib, &node, !off)?,
        NodeAction::Unmaintenance { node } => admin::node_maintenance(&cib, &node, false)?,
        NodeAction::Attribute { node, assignments } if assignments.is_empty() => {
            print!("{}", admin::node_attributes_list(&cib, node.as_deref()));
            return Ok(0);
        }
        NodeAction::Attribute { node, assignments } => {
            admin::node_attribute(&cib, node.as_deref().unwrap_or_default(), &assignments)?
        }
        NodeAction::Add { .. } | NodeAction::Remove { .. } => unreachable!("handled above"),
    };
    commit_edit(target, edit)
}
