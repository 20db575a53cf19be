//! Resources themselves: create, update, delete, and the meta attributes
//! that enable, disable, manage and unmanage them.

use super::*;
use crate::model::cib::operation::OpKind;

/// `resource create ID AGENT [k=v...] [meta ...] [op ...] [clone|promotable] [--group G] [--disabled]`
pub fn resource_create(cib: &Element, args: &[String]) -> Result<Edit> {
    let [id, agent, rest @ ..] = args else {
        refuse!("usage: resource create ID AGENT [name=value...] [meta name=value...] [op NAME name=value...] [clone|promotable] [--group G]");
    };
    check_new_id(cib, id)?;
    let agent = parse_agent(agent)?;
    let args = parse_resource_args(rest)?;
    let (primitive, notes) = new_primitive(id, &agent, &args)?;
    let what = format!("created resource {id} ({agent}){}", notes.concat());
    place_new(cib, primitive, &args, what)
}

/// The `<primitive>` of `resource create`, with a default monitor when none
/// is given (and a note saying so).
fn new_primitive(
    id: &str,
    agent: &AgentSpec,
    args: &ResourceArgs,
) -> Result<(Element, Vec<String>)> {
    let mut primitive = Element::new("primitive")
        .with_attr("id", id)
        .with_attr("class", agent.class.as_str());
    if let Some(provider) = &agent.provider {
        primitive.set_attr("provider", provider.clone());
    }
    primitive.set_attr("type", agent.kind.clone());
    for (tag, pairs) in [
        ("instance_attributes", &args.params),
        ("meta_attributes", &args.meta),
    ] {
        for (k, v) in pairs {
            let value = Some(v).filter(|v| !v.is_empty()).map(|v| v.as_str());
            set_nv(&mut primitive, tag, k, value);
        }
    }
    if args.disabled {
        set_nv(
            &mut primitive,
            "meta_attributes",
            "target-role",
            Some("Stopped"),
        );
    }
    let mut ops = args.ops.clone();
    let mut notes = Vec::new();
    if !ops.iter().any(|o| o.name == OpKind::Monitor) {
        let interval = if agent.is_fence_device() {
            "60s"
        } else {
            "10s"
        };
        ops.push(OpArgs {
            name: OpKind::Monitor,
            options: vec![
                ("interval".into(), interval.into()),
                ("timeout".into(), "20s".into()),
            ],
        });
        notes.push(format!(" with a default monitor every {interval}"));
    }
    set_ops(&mut primitive, &ops, false)?;
    Ok((primitive, notes))
}

/// A new primitive into the resources: alone, in its `--group`, or
/// wrapped in its clone.
fn place_new(cib: &Element, primitive: Element, args: &ResourceArgs, what: String) -> Result<Edit> {
    let mut edit = Edit::new();
    let upsert = |element| CibChange::Upsert {
        section: "resources".into(),
        element,
    };
    match (&args.group, &args.clone) {
        (Some(group_id), _) => {
            let mut group = group_or_new(cib, group_id)?;
            group.children.push(primitive);
            edit.push(upsert(group), format!("{what} in group {group_id}"));
        }
        (None, Some((promotable, meta))) => {
            let clone = make_clone(cib, primitive, *promotable, meta)?;
            let clone_id = clone.id().unwrap_or_default().to_string();
            let kind = if *promotable {
                "promotable clone"
            } else {
                "clone"
            };
            edit.push(upsert(clone), format!("{what} as {kind} {clone_id}"));
        }
        (None, None) => edit.push(upsert(primitive), what),
    }
    Ok(edit)
}

pub(super) fn make_clone(
    cib: &Element,
    child: Element,
    promotable: bool,
    meta: &[(String, String)],
) -> Result<Element> {
    let child_id = child.id().unwrap_or_default().to_string();
    let clone_id = format!("{child_id}-clone");
    check_new_id(cib, &clone_id)?;
    let mut clone = Element::new("clone").with_attr("id", clone_id);
    if promotable {
        set_nv(&mut clone, "meta_attributes", "promotable", Some("true"));
    }
    for (k, v) in meta {
        set_nv(
            &mut clone,
            "meta_attributes",
            k,
            Some(v.as_str()).filter(|v| !v.is_empty()),
        );
    }
    clone.children.push(child);
    Ok(clone)
}

/// `resource update ID [k=v...] [meta k=v...] [op NAME k=v...]`; `k=` removes.
pub fn resource_update(cib: &Element, args: &[String]) -> Result<Edit> {
    let [id, rest @ ..] = args else {
        refuse!("usage: resource update ID [name=value...] [meta name=value...] [op NAME name=value...]");
    };
    let mut element = need_resource(cib, id)?.clone();
    let args = parse_resource_args(rest)?;
    if args.clone.is_some() || args.group.is_some() {
        refuse!(
            "update changes attributes; use `resource clone/promotable/group add` to restructure"
        );
    }
    if (!args.params.is_empty() || !args.ops.is_empty()) && element.name != "primitive" {
        refuse!("{id} is a <{}>: only primitives have instance attributes and operations (meta attributes are fine)", element.name);
    }
    let mut said = Vec::new();
    for (k, v) in &args.params {
        set_nv(
            &mut element,
            "instance_attributes",
            k,
            Some(v.as_str()).filter(|v| !v.is_empty()),
        );
        said.push(if v.is_empty() {
            format!("removed {k}")
        } else {
            format!("{k}={v}")
        });
    }
    for (k, v) in &args.meta {
        set_nv(
            &mut element,
            "meta_attributes",
            k,
            Some(v.as_str()).filter(|v| !v.is_empty()),
        );
        said.push(if v.is_empty() {
            format!("removed meta {k}")
        } else {
            format!("meta {k}={v}")
        });
    }
    if !args.ops.is_empty() {
        set_ops(&mut element, &args.ops, true)?;
        for op in &args.ops {
            said.push(format!("op {}", op.name));
        }
    }
    if said.is_empty() {
        refuse!("nothing to update: give name=value, meta name=value or op NAME ...");
    }
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "resources".into(),
            element,
        },
        format!("updated resource {}: {}", id, said.join(", ")),
    );
    Ok(edit)
}

/// Every constraint that mentions `id` (directly or in a resource set).
pub(super) fn constraints_referring_to(cib: &Element, ids: &[String]) -> Vec<String> {
    let Some(constraints) = configuration(cib).and_then(|c| c.child("constraints")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for constraint in &constraints.children {
        let mut hit = false;
        constraint.walk(&mut |e| {
            for key in ["rsc", "with-rsc", "first", "then"] {
                if e.attr(key).is_some_and(|v| ids.iter().any(|i| i == v)) {
                    hit = true;
                }
            }
            if e.name == "resource_ref" && e.id().is_some_and(|v| ids.iter().any(|i| i == v)) {
                hit = true;
            }
        });
        if hit {
            if let Some(cid) = constraint.id() {
                out.push(cid.to_string());
            }
        }
    }
    out
}

/// The resource ids in the subtree of `element`, itself included.
pub(super) fn resource_ids(element: &Element) -> Vec<String> {
    let mut ids = Vec::new();
    element.walk(&mut |e| {
        if RESOURCE_TAGS.contains(&e.name.as_str()) {
            if let Some(id) = e.id() {
                ids.push(id.to_string());
            }
        }
    });
    ids
}

/// The element that contains resource `id` directly (group/clone), if any.
pub(super) fn container_of<'a>(cib: &'a Element, id: &str) -> Option<&'a Element> {
    let resources = configuration(cib)?.child("resources")?;
    let mut found = None;
    resources.walk(&mut |e| {
        if matches!(e.name.as_str(), "group" | "clone" | "master" | "bundle")
            && e.children
                .iter()
                .any(|c| c.id() == Some(id) && RESOURCE_TAGS.contains(&c.name.as_str()))
        {
            found = Some(e);
        }
    });
    found
}

/// `resource delete ID`: the resource, the constraints that name it, and a
/// group or clone left empty.
pub fn resource_delete(cib: &Element, id: &str) -> Result<Edit> {
    let element = need_resource(cib, id)?;
    let mut target = element.clone();
    // Deleting the only member of a group, or the child of a clone, removes the wrapper.
    let mut current_id = id.to_string();
    while let Some(container) = container_of(cib, &current_id) {
        let members = container
            .children
            .iter()
            .filter(|c| RESOURCE_TAGS.contains(&c.name.as_str()))
            .count();
        if members > 1 {
            break;
        }
        target = container.clone();
        current_id = container.id().unwrap_or_default().to_string();
    }
    let ids = resource_ids(&target);
    let mut edit = Edit::new();
    for constraint in constraints_referring_to(cib, &ids) {
        edit.push(
            CibChange::Delete {
                id: constraint.clone(),
            },
            format!("removed constraint {constraint} (it referred to {id})"),
        );
    }
    let target_id = target.id().unwrap_or_default().to_string();
    let what = if target_id == id {
        format!("deleted resource {id}")
    } else {
        format!(
            "deleted resource {id} and its now empty {} {target_id}",
            target.name
        )
    };
    edit.push(CibChange::Delete { id: target_id }, what);
    Ok(edit)
}

/// Sets or removes one meta attribute of a resource.
fn resource_meta(
    cib: &Element,
    id: &str,
    name: &str,
    value: Option<&str>,
    what: String,
) -> Result<Edit> {
    let mut element = need_resource(cib, id)?.clone();
    set_nv(&mut element, "meta_attributes", name, value);
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "resources".into(),
            element,
        },
        what,
    );
    Ok(edit)
}

pub fn resource_enable(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "target-role",
        None,
        format!("enabled {id} (removed meta target-role=Stopped)"),
    )
}

pub fn resource_disable(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "target-role",
        Some("Stopped"),
        format!("disabled {id} (meta target-role=Stopped)"),
    )
}

pub fn resource_manage(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "is-managed",
        None,
        format!("{id} is managed again (removed meta is-managed=false)"),
    )
}

pub fn resource_unmanage(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "is-managed",
        Some("false"),
        format!("{id} is unmanaged (meta is-managed=false): the cluster leaves it alone"),
    )
}
