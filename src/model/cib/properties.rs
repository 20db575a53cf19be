//! Cluster properties (`crm_config`): their current names and values, and
//! the resource and operation defaults.

use std::collections::HashMap;

use super::nvpairs::{nvpairs, nvpairs_where, parse_bool};
use super::resources::normalise_meta;
use super::rules::{eval_rule, RuleContext};
use super::xml::Element;
use super::Cib;

impl Cib {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    pub fn bool_property(&self, name: &str, default: bool) -> bool {
        self.property(name).map(parse_bool).unwrap_or(default)
    }
}

/// Maps old property names to the current ones.
fn normalise_property(name: &str) -> &str {
    match name {
        "stonith-enabled" => "fencing-enabled",
        "stonith-action" => "fencing-action",
        "stonith-timeout" => "fencing-timeout",
        "default-resource-stickiness" => "resource-stickiness",
        "default_resource_stickiness" => "resource-stickiness",
        "symmetric_cluster" => "symmetric-cluster",
        "no_quorum_policy" => "no-quorum-policy",
        "stop_orphan_resources" => "stop-orphan-resources",
        "stop-removed-resources" => "stop-orphan-resources",
        "stop-removed-actions" => "stop-orphan-actions",
        "stop_orphan_actions" => "stop-orphan-actions",
        "startup_fencing" => "startup-fencing",
        "stonith_enabled" => "fencing-enabled",
        "is_managed_default" => "is-managed",
        "default-migration-threshold" => "migration-threshold",
        _ => name,
    }
}

/// Reads `crm_config` (old property names under their current ones) and the
/// resource and operation defaults.
pub(super) fn read_properties(cib: &mut Cib, root: &Element, config: &Element, ctx: &RuleContext) {
    cib.properties = cluster_properties(root, &|rule| eval_rule(rule, ctx));
    cib.rsc_defaults_xml = config.child("rsc_defaults").cloned();
    if let Some(d) = config.child("rsc_defaults") {
        cib.rsc_defaults = nvpairs(root, d, "meta_attributes", ctx)
            .into_iter()
            .map(|(k, v)| (normalise_meta(&k), v))
            .collect();
    }
    if let Some(d) = config.child("op_defaults") {
        cib.op_defaults = nvpairs(root, d, "meta_attributes", ctx);
    }
}

/// The cluster properties of a CIB document under their current names;
/// a set with a rule counts when `holds` says the rule holds.
fn cluster_properties(root: &Element, holds: &dyn Fn(&Element) -> bool) -> HashMap<String, String> {
    let mut properties = HashMap::new();
    let crm_config = root
        .child("configuration")
        .and_then(|c| c.child("crm_config"));
    if let Some(crm) = crm_config {
        for (k, v) in nvpairs_where(root, crm, "cluster_property_set", holds) {
            properties
                .entry(normalise_property(&k).to_string())
                .or_insert(v);
        }
    }
    properties
}

/// One cluster property of a CIB document, read as [`Cib::from_xml`] reads
/// it (current names, sets by score, `#default`, `id-ref`), for the control
/// plane, which holds the document and no clock: a set guarded by a rule
/// is left out, as one whose rule does not hold.
pub fn cluster_property(root: &Element, name: &str) -> Option<String> {
    cluster_properties(root, &|_| false).remove(name)
}
