//! The one reader of name/value sets (`meta_attributes`,
//! `instance_attributes`, `utilization`, `cluster_property_set`) and of
//! their boolean values: rules, scores, `id-ref` and `#default` applied the
//! same way everywhere.

use std::collections::BTreeMap;

use super::rules::{eval_rule, RuleContext};
use super::score;
use super::xml::Element;

/// Reads the name/value pairs of every `tag` child set (meta_attributes,
/// instance_attributes, utilization, ...). Sets are applied in order of their
/// `score` (highest first), the first value for a name wins; a set whose rule
/// does not hold is skipped; `id-ref` follows to the referenced set.
pub fn nvpairs(
    root: &Element,
    parent: &Element,
    tag: &str,
    ctx: &RuleContext,
) -> BTreeMap<String, String> {
    nvpairs_where(root, parent, tag, &|rule| eval_rule(rule, ctx))
}

/// [`nvpairs`], a set with a rule applied when `holds` says its rule holds.
pub(super) fn nvpairs_where(
    root: &Element,
    parent: &Element,
    tag: &str,
    holds: &dyn Fn(&Element) -> bool,
) -> BTreeMap<String, String> {
    let mut sets: Vec<(i64, usize, &Element)> = Vec::new();
    for (i, set) in parent.children_named(tag).enumerate() {
        let set = match set.attr("id-ref") {
            Some(r) => match root.find_by_id(None, r) {
                Some(s) => s,
                None => continue,
            },
            None => set,
        };
        let s = set.attr("score").and_then(score::parse).unwrap_or(0);
        sets.push((s, i, set));
    }
    sets.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = BTreeMap::new();
    for (_, _, set) in sets {
        if let Some(rule) = set.child("rule") {
            if !holds(rule) {
                continue;
            }
        }
        for pair in set.children_named("nvpair") {
            let pair = match pair.attr("id-ref") {
                Some(r) => root.find_by_id(Some("nvpair"), r).unwrap_or(pair),
                None => pair,
            };
            let (Some(name), Some(value)) = (pair.attr("name"), pair.attr("value")) else {
                continue;
            };
            // "#default" asks for the default: as if the pair were absent.
            if value == "#default" {
                continue;
            }
            out.entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
    }
    out
}

/// The `instance_attributes` of a `node` or of a node_state's
/// `transient_attributes`, as the model reads a node's attributes (sets by
/// score, rules at `now_epoch_s`, `id-ref`, `#default`).
pub fn instance_attributes(
    root: &Element,
    holder: &Element,
    now_epoch_s: i64,
) -> BTreeMap<String, String> {
    nvpairs(
        root,
        holder,
        "instance_attributes",
        &RuleContext::at(now_epoch_s),
    )
}

pub fn parse_bool(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "true" | "on" | "yes" | "y" | "1"
    )
}
