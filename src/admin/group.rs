//! Resources that hold others: moving primitives into and out of groups,
//! and wrapping a resource in a clone or promotable clone.

use super::*;

/// `resource group add G RSC...`: moves primitives into a group (made if new).
pub fn group_add(cib: &Element, group_id: &str, members: &[String]) -> Result<Edit> {
    if members.is_empty() {
        refuse!("usage: resource group add GROUP RSC...");
    }
    let mut group = group_or_new(cib, group_id)?;
    let mut edit = Edit::new();
    for member in members {
        let element = need_resource(cib, member)?;
        if element.name != "primitive" {
            refuse!(
                "{member} is a <{}>: groups hold primitives only",
                element.name
            );
        }
        if group.children.iter().any(|c| c.id() == Some(member)) {
            refuse!("{member} is already in group {group_id}");
        }
        if let Some(container) = container_of(cib, member) {
            if container.name == "clone" {
                refuse!(
                    "{member} is inside clone {}; a cloned primitive cannot join a group",
                    container.id().unwrap_or("?")
                );
            }
        }
        edit.push(
            CibChange::Delete { id: member.clone() },
            format!("added {member} to group {group_id}"),
        );
        group.children.push(element.clone());
    }
    delete_emptied_groups(cib, group_id, members, &mut edit);
    let created = find(cib, group_id).is_none();
    edit.changes.push(CibChange::Upsert {
        section: "resources".into(),
        element: group,
    });
    if created {
        edit.summary.insert(0, format!("created group {group_id}"));
    }
    Ok(edit)
}

/// The group `group_id` to add to: the existing one, or a new empty one.
pub(super) fn group_or_new(cib: &Element, group_id: &str) -> Result<Element> {
    Ok(match find(cib, group_id) {
        Some(g) if g.name == "group" => g.clone(),
        Some(other) => refuse!("{group_id:?} is a <{}>, not a group", other.name),
        None => {
            check_new_id(cib, group_id)?;
            Element::new("group").with_attr("id", group_id)
        }
    })
}

/// A group all its primitives left for `group_id` goes, with the
/// constraints naming it.
fn delete_emptied_groups(cib: &Element, group_id: &str, members: &[String], edit: &mut Edit) {
    let mut emptied: Vec<String> = Vec::new();
    for member in members {
        let Some(source) = container_of(cib, member).filter(|c| c.name == "group") else {
            continue;
        };
        let source_id = source.id().unwrap_or_default().to_string();
        let all_moved = source
            .children
            .iter()
            .filter(|c| c.name == "primitive")
            .all(|c| c.id().is_some_and(|id| members.iter().any(|m| m == id)));
        if all_moved && source_id != group_id && !emptied.contains(&source_id) {
            for constraint in constraints_referring_to(cib, std::slice::from_ref(&source_id)) {
                edit.push(
                    CibChange::Delete { id: constraint.clone() },
                    format!("removed constraint {constraint} (it referred to the emptied group {source_id})"),
                );
            }
            edit.push(
                CibChange::Delete {
                    id: source_id.clone(),
                },
                format!("deleted the now empty group {source_id}"),
            );
            emptied.push(source_id);
        }
    }
}

/// `resource group remove G RSC...`: members back to the top level; an
/// emptied group goes.
pub fn group_remove(cib: &Element, group_id: &str, members: &[String]) -> Result<Edit> {
    let group = match find(cib, group_id) {
        Some(g) if g.name == "group" => g.clone(),
        _ => refuse!("no group with id {group_id:?}"),
    };
    let mut remaining = group.clone();
    let mut taken = Vec::new();
    for member in members {
        match remaining
            .children
            .iter()
            .position(|c| c.id() == Some(member))
        {
            Some(i) => taken.push(remaining.children.remove(i)),
            None => refuse!("{member} is not in group {group_id}"),
        }
    }
    let mut edit = Edit::new();
    let left = remaining
        .children
        .iter()
        .filter(|c| c.name == "primitive")
        .count();
    if left == 0 {
        edit.push(
            CibChange::Delete {
                id: group_id.into(),
            },
            format!("deleted the now empty group {group_id}"),
        );
    } else {
        edit.changes.push(CibChange::Upsert {
            section: "resources".into(),
            element: remaining,
        });
    }
    for element in taken {
        let id = element.id().unwrap_or_default().to_string();
        edit.push(
            CibChange::Upsert {
                section: "resources".into(),
                element,
            },
            format!("removed {id} from group {group_id}"),
        );
    }
    Ok(edit)
}

/// `resource clone ID [k=v...]` / `resource promotable ID [k=v...]`.
pub fn resource_clone(cib: &Element, id: &str, promotable: bool, meta: &[String]) -> Result<Edit> {
    let element = need_resource(cib, id)?;
    if element.name != "primitive" && element.name != "group" {
        refuse!(
            "{id} is a <{}>; only primitives and groups can be cloned",
            element.name
        );
    }
    if let Some(container) = container_of(cib, id) {
        refuse!(
            "{id} is inside {} {}; clone that instead",
            container.name,
            container.id().unwrap_or("?")
        );
    }
    let meta = meta
        .iter()
        .map(|t| split_pair(t))
        .collect::<Result<Vec<_>>>()?;
    let clone = make_clone(cib, element.clone(), promotable, &meta)?;
    let clone_id = clone.id().unwrap_or_default().to_string();
    let mut edit = Edit::new();
    edit.changes.push(CibChange::Delete { id: id.into() });
    edit.push(
        CibChange::Upsert {
            section: "resources".into(),
            element: clone,
        },
        format!(
            "made {} {clone_id} of {id}",
            if promotable {
                "promotable clone"
            } else {
                "clone"
            }
        ),
    );
    Ok(edit)
}
