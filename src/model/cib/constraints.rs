//! Constraints: location, colocation, order and ticket, resource sets and
//! tags expanded into pairs the scheduler applies.

use std::collections::HashMap;

use super::error::{invalid, invalid_because, missing, req, ModelError};
use super::nvpairs::parse_bool;
use super::operation::OpKind;
use super::role::Role;
use super::rules::{eval_rule, RuleContext};
use super::score;
use super::xml::Element;
use super::Cib;

/// Largest compiled `rsc-pattern` regular expression, in bytes of the
/// `regex` crate's program (linear-time matching, so size bounds the time).
pub const RSC_PATTERN_BYTES_MAX: usize = 64 * 1024;

/// Compiles an `rsc-pattern` with the linear-time `regex` engine, bounded in
/// size: the one compiler the checks and the scheduler both use.
pub fn rsc_pattern(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(RSC_PATTERN_BYTES_MAX)
        .dfa_size_limit(RSC_PATTERN_BYTES_MAX)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("the pattern compiles to more than RSC_PATTERN_BYTES_MAX = {limit} bytes")
            }
            other => other.to_string(),
        })
}

/// A rule-based or fixed location preference.
#[derive(Debug, Clone)]
pub enum LocationTarget {
    Node { node: String, score: i64 },
    Rules(Vec<Element>),
}

#[derive(Debug, Clone)]
pub struct Location {
    pub id: String,
    pub resources: Vec<String>,
    pub target: LocationTarget,
    pub role: Option<Role>,
    pub discovery: String,
}

#[derive(Debug, Clone)]
pub struct Colocation {
    pub id: String,
    pub dependent: String,
    pub primary: String,
    pub score: i64,
    pub dependent_role: Option<Role>,
    pub primary_role: Option<Role>,
    pub node_attribute: String,
    /// `influence` as configured; when absent the dependent's `critical`
    /// meta-attribute decides.
    pub influence: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    Mandatory,
    Optional,
    Serialize,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub first: String,
    pub first_action: OpKind,
    pub then: String,
    pub then_action: OpKind,
    pub kind: OrderKind,
    pub symmetrical: bool,
    /// Only one of the firsts needs to run (`require-all=false`).
    pub first_any: bool,
    /// The resource set the first came from, if any.
    pub first_set: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub ticket: String,
    pub resource: String,
    pub role: Option<Role>,
    pub loss_policy: String,
}

fn parse_score_attr(e: &Element) -> Result<Option<i64>, ModelError> {
    match e
        .attr("score")
        .or_else(|| e.attr("score-attribute").map(|_| "0"))
    {
        Some(s) => score::parse(s)
            .map(Some)
            .ok_or_else(|| invalid(e, "score", s)),
        None => Ok(None),
    }
}

fn role_attr(e: &Element, name: &str) -> Result<Option<Role>, ModelError> {
    match e.attr(name) {
        Some(r) => Role::parse(r).map(Some).ok_or_else(|| invalid(e, name, r)),
        None => Ok(None),
    }
}

/// Resource sets of a constraint: (set element, member ids).
fn sets(e: &Element, tags: &HashMap<String, Vec<String>>) -> Vec<(Element, Vec<String>)> {
    e.children_named("resource_set")
        .map(|s| {
            let mut members = Vec::new();
            for r in s.children_named("resource_ref") {
                if let Some(id) = r.id() {
                    match tags.get(id) {
                        Some(t) => members.extend(t.iter().cloned()),
                        None => members.push(id.to_string()),
                    }
                }
            }
            (s.clone(), members)
        })
        .collect()
}

fn expand_tag(tags: &HashMap<String, Vec<String>>, id: &str) -> Vec<String> {
    tags.get(id)
        .cloned()
        .unwrap_or_else(|| vec![id.to_string()])
}

fn read_constraint(cib: &mut Cib, c: &Element) -> Result<(), ModelError> {
    let id = c.id().unwrap_or("").to_string();
    match c.name.as_str() {
        "rsc_location" => read_location(cib, c, id),
        "rsc_colocation" => read_colocation(cib, c, id),
        "rsc_order" => read_order(cib, c, id),
        "rsc_ticket" => read_ticket(cib, c, id),
        // Pacemaker's schema has no other constraint: nothing to apply.
        _ => Ok(()),
    }
}

fn read_location(cib: &mut Cib, c: &Element, id: String) -> Result<(), ModelError> {
    let role = role_attr(c, "role")?;
    let discovery = c.attr("resource-discovery").unwrap_or("always").to_string();
    let mut resources: Vec<String> = match c.attr("rsc") {
        Some(r) => expand_tag(&cib.tags, r),
        None => Vec::new(),
    };
    for (_, members) in sets(c, &cib.tags) {
        resources.extend(members);
    }
    if let Some(pattern) = c.attr("rsc-pattern") {
        rsc_pattern(pattern).map_err(|e| invalid_because(c, "rsc-pattern", pattern, e))?;
        // Stored with a marker; the scheduler matches it to ids.
        resources.push(format!("\u{1}{pattern}"));
    }
    if resources.is_empty() {
        return Err(missing(c, "rsc"));
    }
    let target = if let Some(node) = c.attr("node") {
        let score = parse_score_attr(c)?.ok_or_else(|| missing(c, "score"))?;
        LocationTarget::Node {
            node: node.to_string(),
            score,
        }
    } else {
        let rules: Vec<Element> = c.children_named("rule").cloned().collect();
        if rules.is_empty() {
            return Err(missing(c, "node"));
        }
        LocationTarget::Rules(rules)
    };
    cib.locations.push(Location {
        id,
        resources,
        target,
        role,
        discovery,
    });
    Ok(())
}

fn read_colocation(cib: &mut Cib, c: &Element, id: String) -> Result<(), ModelError> {
    let score = parse_score_attr(c)?.unwrap_or(0);
    let node_attribute = c.attr("node-attribute").unwrap_or("#uname").to_string();
    let influence = c.attr("influence").map(parse_bool);
    let (Some(rsc), Some(with)) = (c.attr("rsc"), c.attr("with-rsc")) else {
        return read_colocation_sets(cib, c, &id, score, influence);
    };
    // Pacemaker ignores a colocation between two templates.
    if cib.templates.contains(rsc) && cib.templates.contains(with) {
        return Ok(());
    }
    for dependent in expand_tag(&cib.tags, rsc) {
        for primary in expand_tag(&cib.tags, with) {
            cib.colocations.push(Colocation {
                id: id.clone(),
                dependent: dependent.clone(),
                primary,
                score,
                dependent_role: role_attr(c, "rsc-role")?,
                primary_role: role_attr(c, "with-rsc-role")?,
                node_attribute: node_attribute.clone(),
                influence,
            });
        }
    }
    Ok(())
}

/// One resource set of a colocation, read.
struct ColocationSet<'a> {
    members: &'a [String],
    role: Option<Role>,
    sequential: bool,
    score: i64,
}

/// As Pacemaker reads sets: within a sequential set each member is
/// colocated with the one before it (a negative score anti-colocates each
/// member with every earlier one); between consecutive sets, the first
/// member of the earlier set (each member, if not sequential) with the last
/// member of the later set (each member, if not sequential), at the
/// constraint's score. Sets ignore node-attribute.
fn read_colocation_sets(
    cib: &mut Cib,
    c: &Element,
    id: &str,
    score: i64,
    influence: Option<bool>,
) -> Result<(), ModelError> {
    let all = sets(c, &cib.tags);
    if all.is_empty() {
        return Err(missing(c, "rsc"));
    }
    let mut parsed = Vec::new();
    for (set, members) in &all {
        parsed.push(ColocationSet {
            members,
            role: role_attr(set, "role")?,
            sequential: set.attr("sequential").map(parse_bool).unwrap_or(true),
            score: set.attr("score").and_then(score::parse).unwrap_or(score),
        });
    }
    let pair = |dependent: &str, primary: &str, score: i64, dr, pr| Colocation {
        id: id.to_string(),
        dependent: dependent.to_string(),
        primary: primary.to_string(),
        score,
        dependent_role: dr,
        primary_role: pr,
        node_attribute: "#uname".to_string(),
        influence,
    };
    for set in parsed.iter().filter(|s| s.sequential && s.score != 0) {
        let (members, role) = (set.members, set.role);
        if set.score > 0 {
            for w in members.windows(2) {
                cib.colocations
                    .push(pair(&w[1], &w[0], set.score, role, role));
            }
        } else {
            for (i, later) in members.iter().enumerate() {
                for earlier in &members[..i] {
                    cib.colocations
                        .push(pair(later, earlier, set.score, role, role));
                }
            }
        }
    }
    if score == 0 {
        return Ok(());
    }
    for w in parsed.windows(2) {
        let (earlier, later) = (&w[0], &w[1]);
        let dependents = match earlier.sequential {
            true => &earlier.members[..earlier.members.len().min(1)],
            false => earlier.members,
        };
        let primaries = match later.sequential {
            true => &later.members[later.members.len().saturating_sub(1)..],
            false => later.members,
        };
        for d in dependents {
            for p in primaries {
                cib.colocations
                    .push(pair(d, p, score, earlier.role, later.role));
            }
        }
    }
    Ok(())
}

fn read_order(cib: &mut Cib, c: &Element, id: String) -> Result<(), ModelError> {
    cib.order_xml.push(c.clone());
    let score = parse_score_attr(c)?;
    let kind = match c.attr("kind") {
        Some("Optional") => OrderKind::Optional,
        Some("Serialize") => OrderKind::Serialize,
        Some("Mandatory") => OrderKind::Mandatory,
        // Pacemaker treats an unknown kind as mandatory.
        Some(_) => OrderKind::Mandatory,
        None => match score {
            Some(0) => OrderKind::Optional,
            _ => OrderKind::Mandatory,
        },
    };
    let symmetrical = c
        .attr("symmetrical")
        .map(parse_bool)
        .unwrap_or(kind != OrderKind::Serialize);
    let order = |first: &str, first_action: &OpKind, then: &str, then_action: &OpKind| Order {
        id: id.clone(),
        first: first.to_string(),
        first_action: first_action.clone(),
        then: then.to_string(),
        then_action: then_action.clone(),
        kind,
        symmetrical,
        first_any: false,
        first_set: None,
    };
    let (Some(first), Some(then)) = (c.attr("first"), c.attr("then")) else {
        return read_order_sets(cib, c, order);
    };
    let require_all = c.attr("require-all").map(parse_bool).unwrap_or(true);
    let first_action = OpKind::parse(c.attr("first-action").unwrap_or("start"));
    let then_action = c
        .attr("then-action")
        .map_or(first_action.clone(), OpKind::parse);
    for f in expand_tag(&cib.tags, first) {
        for t in expand_tag(&cib.tags, then) {
            cib.orders.push(Order {
                first_any: !require_all,
                ..order(&f, &first_action, &t, &then_action)
            });
        }
    }
    Ok(())
}

/// Orders between the members of each sequential set, and from the exits
/// of each set (its last member, or every member when it is not
/// sequential or needs only one) to the entries of the next.
fn read_order_sets(
    cib: &mut Cib,
    c: &Element,
    order: impl Fn(&str, &OpKind, &str, &OpKind) -> Order,
) -> Result<(), ModelError> {
    let all = sets(c, &cib.tags);
    if all.is_empty() {
        return Err(missing(c, "first"));
    }
    // The previous set's exits, action, whether one of them is enough, id.
    let mut previous: Option<(Vec<String>, OpKind, bool, Option<String>)> = None;
    for (set, members) in &all {
        let action = OpKind::parse(set.attr("action").unwrap_or("start"));
        let sequential = set.attr("sequential").map(parse_bool).unwrap_or(true);
        let require_all = set.attr("require-all").map(parse_bool).unwrap_or(true);
        if sequential {
            for pair in members.windows(2) {
                cib.orders.push(order(&pair[0], &action, &pair[1], &action));
            }
        }
        if let Some((prev, prev_action, prev_any, prev_set)) = &previous {
            let entries = if sequential { 1 } else { members.len() };
            for f in prev {
                for t in members.iter().take(entries) {
                    cib.orders.push(Order {
                        first_any: *prev_any,
                        first_set: prev_set.clone(),
                        ..order(f, prev_action, t, &action)
                    });
                }
            }
        }
        // A set that needs only one member lets all of them lead.
        let exits: Vec<String> = if sequential && require_all {
            members.last().into_iter().cloned().collect()
        } else {
            members.clone()
        };
        previous = Some((exits, action, !require_all, set.id().map(str::to_string)));
    }
    Ok(())
}

fn read_ticket(cib: &mut Cib, c: &Element, id: String) -> Result<(), ModelError> {
    let ticket = req(c, "ticket")?.to_string();
    let loss_policy = c.attr("loss-policy").unwrap_or("stop").to_string();
    let mut resources = Vec::new();
    if let Some(r) = c.attr("rsc") {
        for r in expand_tag(&cib.tags, r) {
            resources.push((r, role_attr(c, "rsc-role")?));
        }
    }
    for (set, members) in sets(c, &cib.tags) {
        let role = role_attr(&set, "role")?;
        for m in members {
            resources.push((m, role));
        }
    }
    for (resource, role) in resources {
        cib.tickets.push(Ticket {
            id: id.clone(),
            ticket: ticket.clone(),
            resource,
            role,
            loss_policy: loss_policy.clone(),
        });
    }
    Ok(())
}

/// Evaluates a location rule for one node: Some(score) if it holds.
pub fn location_rule_score(rule: &Element, ctx: &RuleContext) -> Option<i64> {
    if !eval_rule(rule, ctx) {
        return None;
    }
    if let Some(attr) = rule.attr("score-attribute") {
        let value = ctx.node_attrs?.get(attr)?;
        return score::parse(value);
    }
    Some(rule.attr("score").and_then(score::parse).unwrap_or(0))
}

/// Reads the `tags` section: a tag named in a constraint means its members.
pub(super) fn read_tags(cib: &mut Cib, config: &Element) {
    let Some(tags) = config.child("tags") else {
        return;
    };
    for t in tags.children_named("tag") {
        let Some(id) = t.id().map(str::to_string) else {
            cib.config_errors.push(missing(t, "id").into());
            continue;
        };
        let members = t
            .children_named("obj_ref")
            .filter_map(|o| o.id().map(str::to_string))
            .collect();
        cib.tags.insert(id, members);
    }
}

/// Reads the `constraints` section: all of a constraint or none of it.
pub(super) fn read_constraints(cib: &mut Cib, config: &Element) {
    let Some(constraints) = config.child("constraints") else {
        return;
    };
    for c in &constraints.children {
        let counts = (
            cib.locations.len(),
            cib.colocations.len(),
            cib.orders.len(),
            cib.tickets.len(),
        );
        if let Err(error) = read_constraint(cib, c) {
            cib.locations.truncate(counts.0);
            cib.colocations.truncate(counts.1);
            cib.orders.truncate(counts.2);
            cib.tickets.truncate(counts.3);
            cib.config_errors.push(error.into());
        }
    }
}
