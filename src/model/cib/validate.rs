//! Checks a `<configuration>` before it goes live (import, shadow commit):
//! the rules of Pacemaker's schema that matter most, with one line per
//! problem naming the element. Not the whole RNG schema: what is checked is
//! listed on [`check`].

use crate::model::cib::xml::Element;
use crate::model::cib::ResourceClass;
use std::collections::{BTreeMap, BTreeSet};

/// Checks: the root is `<configuration>`; ids are unique and well formed;
/// primitives have a class and type (ocf ones a provider); groups hold
/// primitives; clones hold one primitive or group; every nvpair has a
/// name; location/colocation/order/ticket constraints and resource sets
/// name resources that exist, with valid scores, kinds and roles.
pub fn check(configuration: &Element) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if configuration.name != "configuration" {
        errors.push(format!(
            "expected <configuration>, found <{}>",
            configuration.name
        ));
        return Err(errors);
    }
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    configuration.walk(&mut |e| {
        if let Some(id) = e.id().filter(|_| !is_reference(&e.name)) {
            *ids.entry(id.to_string()).or_default() += 1;
            // Node ids are numbers in Pacemaker (corosync node ids): only
            // the schema's xsd:ID elements are held to the id syntax.
            if needs_id(&e.name) && crate::model::cib::names::check_id(id).is_err() {
                errors.push(format!("<{}> has an invalid id {id:?}", e.name));
            }
        } else if needs_id(&e.name) {
            errors.push(format!("<{}> has no id", e.name));
        }
        if e.name == "nvpair" && e.attr("name").is_none() {
            errors.push(format!("nvpair {} has no name", e.id().unwrap_or("?")));
        }
    });
    for (id, count) in &ids {
        if *count > 1 {
            errors.push(format!(
                "id {id:?} is used {count} times; ids must be unique"
            ));
        }
    }
    let mut resources = BTreeSet::new();
    if let Some(section) = configuration.child("resources") {
        for e in &section.children {
            check_resource(e, None, &mut resources, &mut errors);
        }
    }
    if let Some(constraints) = configuration.child("constraints") {
        for c in &constraints.children {
            check_constraint(c, &resources, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Elements whose `id` refers to another element (an IDREF), not defines one.
pub fn is_reference(tag: &str) -> bool {
    matches!(tag, "role" | "role_ref" | "resource_ref" | "obj_ref")
}

fn needs_id(tag: &str) -> bool {
    matches!(
        tag,
        "primitive"
            | "group"
            | "clone"
            | "master"
            | "bundle"
            | "template"
            | "rsc_location"
            | "rsc_colocation"
            | "rsc_order"
            | "rsc_ticket"
            | "nvpair"
            | "op"
            | "rule"
            | "expression"
            | "date_expression"
            | "cluster_property_set"
            | "instance_attributes"
            | "meta_attributes"
            | "resource_set"
            | "acl_role"
            | "acl_permission"
            | "fencing-level"
    )
}

/// A primitive's agent, where no template gives it: class and type, and a
/// provider for the classes that have one.
fn check_agent(e: &Element, id: &str, errors: &mut Vec<String>) {
    match (e.attr("class").map(ResourceClass::parse), e.attr("type")) {
        (Some(class), Some(_)) => {
            if class.has_provider() && e.attr("provider").is_none() {
                errors.push(format!("primitive {id}: ocf agents need a provider"));
            }
        }
        _ => errors.push(format!("primitive {id}: needs class and type")),
    }
}

fn check_resource(
    e: &Element,
    parent: Option<&str>,
    seen: &mut BTreeSet<String>,
    errors: &mut Vec<String>,
) {
    let id = e.id().unwrap_or("?").to_string();
    match e.name.as_str() {
        "primitive" => {
            seen.insert(id.clone());
            if e.attr("template").is_none() {
                check_agent(e, &id, errors);
            }
            if let Some(ops) = e.child("operations") {
                for op in ops.children_named("op") {
                    if op.attr("name").is_none() || op.attr("interval").is_none() {
                        errors.push(format!(
                            "op {} of {id}: needs name and interval",
                            op.id().unwrap_or("?")
                        ));
                    }
                }
            }
        }
        "group" => {
            seen.insert(id.clone());
            let members: Vec<_> = e.children.iter().filter(|c| is_resource(&c.name)).collect();
            if members.is_empty() {
                errors.push(format!("group {id} is empty"));
            }
            for m in members {
                if m.name != "primitive" {
                    errors.push(format!(
                        "group {id} holds a <{}>; groups hold primitives only",
                        m.name
                    ));
                }
                check_resource(m, Some("group"), seen, errors);
            }
        }
        "clone" | "master" => {
            seen.insert(id.clone());
            if parent.is_some() {
                errors.push(format!(
                    "clone {id} is nested; clones live at the top level"
                ));
            }
            let members: Vec<_> = e.children.iter().filter(|c| is_resource(&c.name)).collect();
            if members.len() != 1 || !matches!(members[0].name.as_str(), "primitive" | "group") {
                errors.push(format!(
                    "clone {id} must hold exactly one primitive or group"
                ));
            }
            for m in members {
                check_resource(m, Some("clone"), seen, errors);
            }
        }
        "bundle" | "template" => {
            seen.insert(id);
        }
        _ => {}
    }
}

fn is_resource(tag: &str) -> bool {
    matches!(tag, "primitive" | "group" | "clone" | "master" | "bundle")
}

fn check_constraint(c: &Element, resources: &BTreeSet<String>, errors: &mut Vec<String>) {
    let id = c.id().unwrap_or("?");
    let exists = |attr: &str, errors: &mut Vec<String>| {
        if let Some(r) = c.attr(attr) {
            if !resources.contains(r) {
                errors.push(format!("{} {id}: {attr}={r:?} names no resource", c.name));
            }
        }
    };
    let has_sets = c.child("resource_set").is_some();
    check_set_members(c, resources, errors);
    match c.name.as_str() {
        "rsc_location" => check_location(c, has_sets, &exists, errors),
        "rsc_colocation" => {
            if !has_sets && (c.attr("rsc").is_none() || c.attr("with-rsc").is_none()) {
                errors.push(format!(
                    "rsc_colocation {id}: needs rsc and with-rsc, or resource sets"
                ));
            }
            exists("rsc", errors);
            exists("with-rsc", errors);
            check_score(c, errors);
        }
        "rsc_order" => {
            if !has_sets && (c.attr("first").is_none() || c.attr("then").is_none()) {
                errors.push(format!(
                    "rsc_order {id}: needs first and then, or resource sets"
                ));
            }
            exists("first", errors);
            exists("then", errors);
            check_score(c, errors);
            if let Some(kind) = c.attr("kind") {
                if !["Mandatory", "Optional", "Serialize"].contains(&kind) {
                    errors.push(format!(
                        "rsc_order {id}: kind {kind:?} is not Mandatory, Optional or Serialize"
                    ));
                }
            }
        }
        "rsc_ticket" => exists("rsc", errors),
        // Pacemaker's schema has no other constraint: nothing names a
        // resource to check.
        _ => {}
    }
}

/// Every member of a constraint's resource sets names a resource.
fn check_set_members(c: &Element, resources: &BTreeSet<String>, errors: &mut Vec<String>) {
    let id = c.id().unwrap_or("?");
    for set in c.children_named("resource_set") {
        for r in set.children_named("resource_ref") {
            let rid = r.id().unwrap_or("?");
            if !resources.contains(rid) {
                errors.push(format!(
                    "{} {id}: resource set names {rid:?}, which is no resource",
                    c.name
                ));
            }
        }
    }
}

/// A well-formed `score`, if `e` has one.
fn check_score(e: &Element, errors: &mut Vec<String>) {
    if let Some(s) = e.attr("score") {
        if !crate::model::cib::score::is_well_formed(s) {
            errors.push(format!(
                "{} {}: invalid score {s:?}",
                e.name,
                e.id().unwrap_or("?")
            ));
        }
    }
}

fn check_location(
    c: &Element,
    has_sets: bool,
    exists: &dyn Fn(&str, &mut Vec<String>),
    errors: &mut Vec<String>,
) {
    let id = c.id().unwrap_or("?");
    if c.attr("rsc").is_none() && c.attr("rsc-pattern").is_none() && !has_sets {
        errors.push(format!(
            "rsc_location {id}: needs rsc, rsc-pattern or a resource set"
        ));
    }
    exists("rsc", errors);
    check_score(c, errors);
    if c.attr("node").is_none() && c.child("rule").is_none() {
        errors.push(format!(
            "rsc_location {id}: needs node and score, or a rule"
        ));
    }
    if c.attr("node").is_some() && c.attr("score").is_none() && c.attr("score-attribute").is_none()
    {
        errors.push(format!("rsc_location {id}: node without a score"));
    }
    c.walk(&mut |e| {
        if e.name == "rule" {
            check_score(e, errors);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_configuration_passes() {
        let c = Element::parse(r#"<configuration><crm_config/><nodes/><resources>
            <primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/>
            <group id="g"><primitive id="b" class="systemd" type="nginx"/></group>
            <clone id="c-clone"><primitive id="c" class="ocf" provider="pacemaker" type="Stateful"/></clone>
          </resources><constraints>
            <rsc_location id="l" rsc="a" node="n1" score="100"/>
            <rsc_colocation id="co" rsc="g" with-rsc="a" score="-INFINITY"/>
            <rsc_order id="o" first="a" then="c-clone" kind="Optional"/>
          </constraints></configuration>"#).unwrap();
        assert_eq!(check(&c), Ok(()));
    }

    #[test]
    fn references_are_not_duplicates() {
        let c = Element::parse(r#"<configuration><resources>
            <primitive id="a" class="lsb" type="x"/><primitive id="b" class="lsb" type="y"/>
          </resources><constraints>
            <rsc_order id="o"><resource_set id="s1"><resource_ref id="a"/><resource_ref id="b"/></resource_set></rsc_order>
            <rsc_colocation id="co" score="INFINITY"><resource_set id="s2"><resource_ref id="a"/></resource_set><resource_set id="s3"><resource_ref id="b"/></resource_set></rsc_colocation>
          </constraints><acls><acl_target id="u"><role id="r"/></acl_target><acl_role id="r"/></acls></configuration>"#).unwrap();
        assert_eq!(check(&c), Ok(()));
    }

    #[test]
    fn problems_are_each_named() {
        let c = Element::parse(
            r#"<configuration><resources>
            <primitive id="a" class="ocf" type="Dummy"/>
            <primitive id="a" class="ocf" provider="x" type="Dummy"/>
            <primitive id="9bad" class="lsb"/>
            <group id="g"/>
          </resources><constraints>
            <rsc_location id="l" rsc="ghost" node="n1" score="lots"/>
            <rsc_order id="o" first="a" then="a" kind="Sometimes"/>
          </constraints></configuration>"#,
        )
        .unwrap();
        let errors = check(&c).unwrap_err();
        let text = errors.join("\n");
        for expected in [
            "ocf agents need a provider",
            "\"a\" is used 2 times",
            "invalid id \"9bad\"",
            "needs class and type",
            "group g is empty",
            "names no resource",
            "invalid score \"lots\"",
            "kind \"Sometimes\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(check(&Element::new("cib")).is_err());
    }
}
