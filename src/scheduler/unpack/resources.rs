//! The resource arena: the configured resources flattened, clones expanded
//! into numbered instances, bundles into their replicas' parts.

use std::collections::BTreeMap;

use super::working::{BundleParts, Rsc, Variant, Working};
use crate::model::cib::score::{self, INFINITY};
use crate::model::cib::time::parse_interval_ms;
use crate::model::cib::xml::Element;
use crate::model::cib::{parse_bool, AgentSpec, ResourceConfig, ResourceKind, Role};

/// Adds a configured resource (instance `instance` of a clone, when given)
/// and, recursively, its children; returns its index in the arena.
pub(super) fn add_resource(
    w: &mut Working,
    r: &ResourceConfig,
    parent: Option<usize>,
    inherited: &BTreeMap<String, String>,
    instance: Option<u32>,
) -> usize {
    let meta = resource_meta(w, r, inherited);
    let rsc = new_rsc(w, r, parent, instance, meta);
    let idx = w.rscs.len();
    w.by_id.insert(rsc.id.clone(), idx);
    let child_meta = child_meta(&rsc.meta);
    w.rscs.push(rsc);
    match &r.kind {
        ResourceKind::Primitive { .. } => {}
        ResourceKind::Group { children } => {
            for c in children {
                let ci = add_resource(w, c, Some(idx), &child_meta, instance);
                w.rscs[idx].children.push(ci);
            }
        }
        ResourceKind::Clone { child, .. } => add_clone_instances(w, child, idx, &child_meta),
        ResourceKind::Bundle {
            child,
            replicas,
            container,
            replicas_per_host,
            promoted_max,
            ip_range_start,
        } => {
            let bundle = BundleConfig {
                id: &r.id,
                meta: &r.meta,
                child: child.as_deref(),
                replicas: *replicas,
                container,
                replicas_per_host: *replicas_per_host,
                promoted_max: *promoted_max,
                ip_range_start: ip_range_start.as_deref(),
            };
            add_bundle(w, &bundle, idx, &child_meta)
        }
    }
    idx
}

/// A resource's meta attributes: what it inherits, the resource defaults
/// whose rules name its agent, then its own.
fn resource_meta(
    w: &Working,
    r: &ResourceConfig,
    inherited: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut meta = inherited.clone();
    // Defaults whose rules name the agent (rsc_expression) apply per primitive.
    if let (ResourceKind::Primitive { agent, .. }, Some(defaults)) =
        (&r.kind, &w.cib.rsc_defaults_xml)
    {
        let has_rsc_rules = defaults.children.iter().any(|set| {
            set.child("rule")
                .is_some_and(|rule| rule.children_named("rsc_expression").next().is_some())
        });
        if has_rsc_rules {
            let ctx = crate::model::cib::rules::RuleContext {
                node_attrs: None,
                now_epoch_s: w.now_epoch_s,
                agent: Some((
                    agent.class.as_str(),
                    agent.provider.as_deref().unwrap_or(""),
                    agent.kind.as_str(),
                )),
                op: None,
            };
            let root = Element::new("cib");
            for (k, v) in crate::model::cib::nvpairs(&root, defaults, "meta_attributes", &ctx) {
                if !w.cib.rsc_defaults.contains_key(&k) {
                    meta.insert(k, v);
                }
            }
        }
    }
    for (k, v) in &r.meta {
        meta.insert(k.clone(), v.clone());
    }
    meta
}

/// The arena entry of a resource, its settings read from its meta
/// attributes; children, history and state are filled in later.
fn new_rsc(
    w: &Working,
    r: &ResourceConfig,
    parent: Option<usize>,
    instance: Option<u32>,
    meta: BTreeMap<String, String>,
) -> Rsc {
    let id = match instance {
        Some(n) => format!("{}:{}", r.id, n),
        None => r.id.clone(),
    };
    let variant = variant_of(&r.kind);
    let node_count = w.default_clone_max.max(1) as i64;
    let (agent, ops) = match &r.kind {
        ResourceKind::Primitive { agent, ops } => (Some(agent.clone()), ops.clone()),
        _ => (None, Vec::new()),
    };
    let promotable = match &r.kind {
        ResourceKind::Clone { promotable, .. } => *promotable,
        _ => false,
    };
    let is_clone = variant == Variant::Clone;
    let stickiness_default = if is_clone || instance.is_some() { 1 } else { 0 };
    let target_role = target_role(&meta, agent.is_some());
    let requires_fencing = requires_fencing(agent.as_ref(), &meta);
    // Remote connections migrate unless told otherwise.
    let is_connection = agent
        .as_ref()
        .is_some_and(|a| a.provider.as_deref() == Some("pacemaker") && a.kind == "remote");
    Rsc {
        base: r.id.clone(),
        id,
        variant,
        parent,
        children: Vec::new(),
        agent,
        ops,
        params: inherited_params(w, r, parent),
        utilization: r.utilization.clone(),
        instance,
        priority: meta_int(&meta, "priority", 0),
        stickiness: meta_int(&meta, "resource-stickiness", stickiness_default),
        managed: meta_bool(&meta, "is-managed", true) && !meta_bool(&meta, "maintenance", false),
        target_role,
        migration_threshold: meta_int(&meta, "migration-threshold", INFINITY),
        failure_timeout_s: failure_timeout_s(&meta),
        allow_migrate: meta_bool(&meta, "allow-migrate", is_connection),
        globally_unique: meta_bool(&meta, "globally-unique", false),
        promotable,
        interleave: meta_bool(&meta, "interleave", false),
        ordered: meta_bool(&meta, "ordered", false),
        clone_max: meta_int(&meta, "clone-max", node_count).max(0) as usize,
        clone_node_max: meta_int(&meta, "clone-node-max", 1).max(0) as usize,
        promoted_max: meta_int(&meta, "promoted-max", 1).max(0) as usize,
        promoted_node_max: meta_int(&meta, "promoted-node-max", 1).max(0) as usize,
        requires_fencing,
        current: Vec::new(),
        known_on: vec![false; w.nodes.len()],
        instance_known_on: vec![false; w.nodes.len()],
        banned_by_failures: vec![false; w.nodes.len()],
        orphan: false,
        blocked: false,
        restart_requested: false,
        dangling: Vec::new(),
        meta,
    }
}

fn variant_of(kind: &ResourceKind) -> Variant {
    match kind {
        ResourceKind::Primitive { .. } => Variant::Primitive,
        ResourceKind::Group { .. } => Variant::Group,
        ResourceKind::Clone { .. } => Variant::Clone,
        ResourceKind::Bundle { .. } => Variant::Bundle,
    }
}

/// Whether a resource starts only once fencing is possible: all but
/// fencing devices, unless `requires` says otherwise.
fn requires_fencing(agent: Option<&AgentSpec>, meta: &BTreeMap<String, String>) -> bool {
    agent.is_none_or(|a| !a.is_fence_device())
        && meta
            .get("requires")
            .is_none_or(|v| v == "fencing" || v == "unfencing")
}

/// `failure-timeout` in whole seconds, 0 (never expire) when unset.
fn failure_timeout_s(meta: &BTreeMap<String, String>) -> i64 {
    meta.get("failure-timeout")
        .and_then(|v| parse_interval_ms(v))
        .map(|ms| (ms / 1000) as i64)
        .unwrap_or(0)
}

/// `target-role`, `Unknown` when unset or unreadable. Old CIBs wrote
/// "stopped" in lower case; Pacemaker honours that on primitives
/// (collectives of that era ignored it).
fn target_role(meta: &BTreeMap<String, String>, primitive: bool) -> Role {
    meta.get("target-role")
        .and_then(|v| match Role::parse(v) {
            Some(role) => Some(role),
            None if v.eq_ignore_ascii_case("stopped") && primitive => Some(Role::Stopped),
            None => None,
        })
        .unwrap_or(Role::Unknown)
}

/// Instance attributes set on a group or clone reach its members (the
/// member's own win), as in Pacemaker.
fn inherited_params(
    w: &Working,
    r: &ResourceConfig,
    parent: Option<usize>,
) -> BTreeMap<String, String> {
    let mut params = r.params.clone();
    if let Some(p) = parent {
        for (k, v) in &w.rscs[p].params {
            params.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    params
}

/// Children inherit the parent's meta attributes (target-role,
/// is-managed...), but not those that size a clone or rank a resource.
fn child_meta(meta: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut child_meta = meta.clone();
    for k in [
        "clone-max",
        "clone-node-max",
        "promoted-max",
        "promoted-node-max",
        "promotable",
        "priority",
    ] {
        child_meta.remove(k);
    }
    child_meta
}

/// A clone's `clone-max` numbered instances of its child.
fn add_clone_instances(
    w: &mut Working,
    child: &ResourceConfig,
    idx: usize,
    child_meta: &BTreeMap<String, String>,
) {
    let count = w.rscs[idx].clone_max;
    for n in 0..count {
        let ci = add_resource(w, child, Some(idx), child_meta, Some(n as u32));
        w.rscs[idx].children.push(ci);
    }
    // Constraints naming the cloned primitive or group mean the clone.
    w.by_id.entry(child.id.clone()).or_insert(idx);
    if let ResourceKind::Group { children } = &child.kind {
        for c in children {
            w.by_id.entry(c.id.clone()).or_insert(idx);
        }
    }
}

/// A primitive the scheduler makes up for a bundle (container, IP,
/// connection).
fn implicit_primitive(
    id: String,
    agent: AgentSpec,
    params: BTreeMap<String, String>,
) -> ResourceConfig {
    ResourceConfig {
        id,
        kind: ResourceKind::Primitive {
            agent,
            ops: Vec::new(),
        },
        meta: BTreeMap::new(),
        params,
        utilization: BTreeMap::new(),
    }
}

/// A bundle's configuration, as `ResourceKind::Bundle` holds it.
struct BundleConfig<'a> {
    id: &'a str,
    meta: &'a BTreeMap<String, String>,
    child: Option<&'a ResourceConfig>,
    replicas: u32,
    container: &'a AgentSpec,
    replicas_per_host: u32,
    promoted_max: u32,
    ip_range_start: Option<&'a str>,
}

/// A bundle is its replicas' containers (plus an IP each when a range is
/// given), and, with a resource inside, a guest-node connection per replica
/// and that resource as a clone whose instance N runs on guest node
/// "<bundle>-N".
fn add_bundle(
    w: &mut Working,
    b: &BundleConfig<'_>,
    idx: usize,
    child_meta: &BTreeMap<String, String>,
) {
    let mut parts = BundleParts {
        replicas_per_host: b.replicas_per_host.max(1) as usize,
        ..Default::default()
    };
    for n in 0..b.replicas {
        let cfg = implicit_primitive(
            format!("{}-{}-{}", b.id, b.container.kind, n),
            b.container.clone(),
            BTreeMap::new(),
        );
        parts
            .containers
            .push(add_bundle_part(w, &cfg, idx, child_meta));
    }
    if let Some(start) = b.ip_range_start {
        for n in 0..b.replicas {
            let ip = next_ip(start, n).unwrap_or_else(|| start.to_string());
            let mut params = BTreeMap::new();
            params.insert("ip".to_string(), ip.clone());
            let agent = AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("heartbeat".into()),
                kind: "IPaddr2".into(),
            };
            let cfg = implicit_primitive(format!("{}-ip-{}", b.id, ip), agent, params);
            parts.ips.push(add_bundle_part(w, &cfg, idx, child_meta));
        }
    }
    if let Some(child) = b.child {
        for n in 0..b.replicas {
            let agent = AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("pacemaker".into()),
                kind: "remote".into(),
            };
            let cfg = implicit_primitive(format!("{}-{}", b.id, n), agent, BTreeMap::new());
            let ci = add_bundle_part(w, &cfg, idx, child_meta);
            // Like a guest's, it follows its container; it never
            // migrates on its own.
            w.rscs[ci].allow_migrate = false;
            parts.remotes.push(ci);
        }
        parts.inner = Some(add_bundle_clone(w, b, child, idx, child_meta));
    }
    w.bundles.insert(idx, parts);
}

fn add_bundle_part(
    w: &mut Working,
    cfg: &ResourceConfig,
    idx: usize,
    child_meta: &BTreeMap<String, String>,
) -> usize {
    let ci = add_resource(w, cfg, Some(idx), child_meta, None);
    w.rscs[idx].children.push(ci);
    ci
}

/// The resource inside a bundle, as a clone of one instance per replica.
fn add_bundle_clone(
    w: &mut Working,
    b: &BundleConfig<'_>,
    child: &ResourceConfig,
    idx: usize,
    child_meta: &BTreeMap<String, String>,
) -> usize {
    let mut meta = BTreeMap::new();
    meta.insert("clone-max".to_string(), b.replicas.to_string());
    meta.insert("clone-node-max".to_string(), "1".to_string());
    meta.insert("promoted-max".to_string(), b.promoted_max.to_string());
    let promotable = b.promoted_max > 0;
    // "-master" only for the legacy promoted-max on the container element; a
    // bundle made promotable by its meta gets "-clone".
    let by_meta = b
        .meta
        .get("promotable")
        .is_some_and(|v| crate::model::cib::parse_bool(v));
    let suffix = if promotable && !by_meta {
        "master"
    } else {
        "clone"
    };
    let cfg = ResourceConfig {
        id: format!("{}-{}", b.id, suffix),
        kind: ResourceKind::Clone {
            child: Box::new(child.clone()),
            promotable,
        },
        meta,
        params: BTreeMap::new(),
        utilization: BTreeMap::new(),
    };
    add_bundle_part(w, &cfg, idx, child_meta)
}

/// Configured nodes plus remote and guest nodes defined by resources: the
/// default clone-max.
pub(super) fn count_all_nodes(w: &Working) -> usize {
    fn walk(r: &ResourceConfig, names: &mut std::collections::HashSet<String>) {
        match &r.kind {
            ResourceKind::Primitive { agent, .. } => {
                if agent.provider.as_deref() == Some("pacemaker") && agent.kind == "remote" {
                    names.insert(r.id.clone());
                }
                if let Some(g) = r.meta.get("remote-node") {
                    names.insert(g.clone());
                }
            }
            ResourceKind::Group { children } => children.iter().for_each(|c| walk(c, names)),
            ResourceKind::Clone { child, .. } => walk(child, names),
            ResourceKind::Bundle { .. } => {}
        }
    }
    let mut names: std::collections::HashSet<String> =
        w.nodes.iter().map(|n| n.name.clone()).collect();
    for r in &w.cib.resources {
        walk(r, &mut names);
    }
    names.len()
}

/// The `n`th address after `start` (IPv4 only).
pub(super) fn next_ip(start: &str, n: u32) -> Option<String> {
    let addr: std::net::Ipv4Addr = start.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(addr).checked_add(n)?).to_string())
}

pub(super) fn meta_int(meta: &BTreeMap<String, String>, key: &str, default: i64) -> i64 {
    meta.get(key)
        .and_then(|v| score::parse(v))
        .unwrap_or(default)
}

pub(super) fn meta_bool(meta: &BTreeMap<String, String>, key: &str, default: bool) -> bool {
    meta.get(key).map(|v| parse_bool(v)).unwrap_or(default)
}
