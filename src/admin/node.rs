//! Node attributes an operator sets: standby, maintenance, and any other.

use super::*;

fn node_attr(
    cib: &Element,
    node: &str,
    name: &str,
    value: Option<&str>,
    what: String,
) -> Result<Edit> {
    known_node(cib, node)?;
    crate::model::cib::names::check_attribute_name(name).map_err(AdminError)?;
    let mut edit = Edit::new();
    edit.push(
        CibChange::SetNodeAttribute {
            node: node.into(),
            name: name.into(),
            value: value.map(String::from),
        },
        what,
    );
    Ok(edit)
}

pub fn node_standby(cib: &Element, node: &str) -> Result<Edit> {
    node_attr(
        cib,
        node,
        "standby",
        Some("on"),
        format!("{node} is in standby (node attribute standby=on): its resources move away"),
    )
}

pub fn node_online(cib: &Element, node: &str) -> Result<Edit> {
    node_attr(
        cib,
        node,
        "standby",
        None,
        format!("{node} is online again (removed node attribute standby)"),
    )
}

pub fn node_maintenance(cib: &Element, node: &str, on: bool) -> Result<Edit> {
    if on {
        node_attr(cib, node, "maintenance", Some("on"), format!("{node} is in maintenance (node attribute maintenance=on): its resources are left alone"))
    } else {
        node_attr(
            cib,
            node,
            "maintenance",
            None,
            format!("{node} left maintenance (removed node attribute maintenance)"),
        )
    }
}

/// `node attribute NODE NAME=VALUE...` (an empty value removes).
pub fn node_attribute(cib: &Element, node: &str, assignments: &[String]) -> Result<Edit> {
    known_node(cib, node)?;
    if assignments.is_empty() {
        refuse!("usage: node attribute NODE NAME=VALUE...");
    }
    let mut edit = Edit::new();
    for assignment in assignments {
        let (name, value) = split_pair(assignment)?;
        let what = if value.is_empty() {
            format!("removed node attribute {name} of {node}")
        } else {
            format!("node attribute {name}={value} on {node}")
        };
        edit.changes.extend(
            node_attr(
                cib,
                node,
                &name,
                Some(value.as_str()).filter(|v| !v.is_empty()),
                what.clone(),
            )?
            .changes,
        );
        edit.summary.push(what);
    }
    Ok(edit)
}

/// `node attribute [NODE]` with no assignment: NODE name=value lines.
pub fn node_attributes_list(cib: &Element, node: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(nodes) = configuration(cib).and_then(|c| c.child("nodes")) {
        for n in nodes.children_named("node") {
            let uname = n.attr("uname").unwrap_or("?");
            if node.is_some_and(|x| x != uname) {
                continue;
            }
            for nv in n
                .children_named("instance_attributes")
                .flat_map(|s| s.children_named("nvpair"))
            {
                out.push_str(&format!(
                    "{uname} {}={}\n",
                    nv.attr("name").unwrap_or("?"),
                    nv.attr("value").unwrap_or("")
                ));
            }
        }
    }
    out
}
