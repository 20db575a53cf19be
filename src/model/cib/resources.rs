//! Resources as configured: primitives (and the templates they are made
//! from), groups, clones and bundles, with their operations.

use std::collections::{BTreeMap, HashMap};

use super::agent::{read_known_agent, AgentSpec};
use super::error::{invalid_because, missing, req, ModelError};
use super::nvpairs::{nvpairs, parse_bool};
use super::operation::OpKind;
use super::role::Role;
use super::rules::RuleContext;
use super::score;
use super::time::{parse_interval_ms, read_duration_ms};
use super::verify::ConfigIssue;
use super::xml::Element;
use super::Cib;

/// Most instances one clone (or replicas one bundle) may have: a clone
/// needs a copy of its scores per instance and node, so `clone-max=INFINITY`
/// must not mean a million of them.
pub const CLONE_INSTANCES_MAX: i64 = 10_000;

#[derive(Debug, Clone)]
pub struct OpConfig {
    pub id: String,
    pub name: OpKind,
    pub interval_ms: u64,
    pub timeout_ms: Option<u64>,
    pub role: Option<Role>,
    pub on_fail: Option<String>,
    pub enabled: bool,
    pub meta: BTreeMap<String, String>,
    /// The operation's own instance attributes (passed to the agent with the
    /// resource's, and part of the operation's digest).
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub enum ResourceKind {
    Primitive {
        agent: AgentSpec,
        ops: Vec<OpConfig>,
    },
    Group {
        children: Vec<ResourceConfig>,
    },
    Clone {
        child: Box<ResourceConfig>,
        promotable: bool,
    },
    Bundle {
        child: Option<Box<ResourceConfig>>,
        replicas: u32,
        container: AgentSpec,
        /// How many replicas may share a node.
        replicas_per_host: u32,
        promoted_max: u32,
        /// First address of `<network ip-range-start>`: one IP per replica.
        ip_range_start: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct ResourceConfig {
    pub id: String,
    pub kind: ResourceKind,
    /// Meta attributes of this element only (defaults are merged later).
    pub meta: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub utilization: BTreeMap<String, String>,
}

pub(super) fn normalise_meta(name: &str) -> String {
    match name {
        "target_role" => "target-role".into(),
        "is_managed" => "is-managed".into(),
        "resource_stickiness" => "resource-stickiness".into(),
        "migration_threshold" => "migration-threshold".into(),
        "allow_migrate" => "allow-migrate".into(),
        "globally_unique" => "globally-unique".into(),
        "clone_max" => "clone-max".into(),
        "clone_node_max" => "clone-node-max".into(),
        "master-max" | "master_max" => "promoted-max".into(),
        "master-node-max" | "master_node_max" => "promoted-node-max".into(),
        "failure_timeout" => "failure-timeout".into(),
        "multiple_active" => "multiple-active".into(),
        other => other.to_string(),
    }
}

/// A clone's instance counts (its own meta, else the resource defaults)
/// within [`CLONE_INSTANCES_MAX`].
fn check_instances(
    rsc: &ResourceConfig,
    defaults: &BTreeMap<String, String>,
) -> Result<(), ModelError> {
    let bad = |name: &str, value: &str, why: String| ModelError::Invalid {
        element: match rsc.kind {
            ResourceKind::Bundle { .. } => "bundle".into(),
            _ => "clone".into(),
        },
        id: rsc.id.clone(),
        problem: format!("{name}={value:?}: {why}"),
    };
    if let ResourceKind::Bundle { replicas, .. } = &rsc.kind {
        if *replicas as i64 > CLONE_INSTANCES_MAX {
            return Err(bad(
                "replicas",
                &replicas.to_string(),
                format!("more than CLONE_INSTANCES_MAX = {CLONE_INSTANCES_MAX} instances"),
            ));
        }
        return Ok(());
    }
    if !matches!(rsc.kind, ResourceKind::Clone { .. }) {
        return Ok(());
    }
    for name in [
        "clone-max",
        "clone-node-max",
        "promoted-max",
        "promoted-node-max",
    ] {
        let Some(value) = rsc.meta.get(name).or_else(|| defaults.get(name)) else {
            continue;
        };
        match score::parse(value) {
            Some(n) if n > CLONE_INSTANCES_MAX => {
                return Err(bad(
                    name,
                    value,
                    format!("more than CLONE_INSTANCES_MAX = {CLONE_INSTANCES_MAX} instances"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_ops(
    root: &Element,
    e: &Element,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<Vec<OpConfig>, ModelError> {
    let mut ops = Vec::new();
    let Some(operations) = e.child("operations") else {
        return Ok(ops);
    };
    let operations = match operations.attr("id-ref") {
        Some(r) => root.find_by_id(Some("operations"), r).unwrap_or(operations),
        None => operations,
    };
    for op in operations.children_named("op") {
        // An operation that cannot be read is left out (the resource keeps
        // the others), as Pacemaker does.
        match read_op(root, op, ctx) {
            Ok(config) => ops.push(config),
            Err(error) => issues.push(error.into()),
        }
    }
    Ok(ops)
}

fn read_op(root: &Element, op: &Element, ctx: &RuleContext) -> Result<OpConfig, ModelError> {
    let id = req(op, "id")?.to_string();
    let name = OpKind::parse(req(op, "name")?);
    let interval_text = op.attr("interval").unwrap_or("0");
    let interval_ms = read_duration_ms(interval_text)
        .map_err(|e| invalid_because(op, "interval", interval_text, e))?;
    let mut meta = nvpairs(root, op, "meta_attributes", ctx);
    for (k, v) in &op.attrs {
        meta.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let timeout_ms = meta.get("timeout").and_then(|t| parse_interval_ms(t));
    let role = meta.get("role").and_then(|r| Role::parse(r));
    Ok(OpConfig {
        id,
        name,
        interval_ms,
        timeout_ms,
        role,
        on_fail: meta.get("on-fail").cloned(),
        enabled: meta.get("enabled").map(|v| parse_bool(v)).unwrap_or(true),
        meta,
        params: nvpairs(root, op, "instance_attributes", ctx),
    })
}

/// The templates of the `resources` section, by id.
type Templates<'a> = HashMap<&'a str, &'a Element>;

/// A resource element's meta attributes as the scheduler reads them, for
/// the tools that show one resource (admin, explain, metrics): its own and
/// its template's sets (scores, rules at a given time, `id-ref`,
/// `#default`, old names under their current ones), over the
/// rsc_defaults. One reader, so a tool says what the scheduler does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceMeta {
    pub own: BTreeMap<String, String>,
    pub defaults: BTreeMap<String, String>,
}

impl ResourceMeta {
    pub fn read(root: &Element, resource: &Element, now_epoch_s: i64) -> ResourceMeta {
        let ctx = RuleContext::at(now_epoch_s);
        let template = resource.attr("template").and_then(|t| {
            root.child("configuration")?
                .child("resources")?
                .children_named("template")
                .find(|e| e.id() == Some(t))
        });
        let mut own = meta_pairs(root, resource, &ctx);
        for (k, v) in template
            .map(|t| meta_pairs(root, t, &ctx))
            .unwrap_or_default()
        {
            own.entry(k).or_insert(v);
        }
        let defaults = root
            .child("configuration")
            .and_then(|c| c.child("rsc_defaults"))
            .map(|d| meta_pairs(root, d, &ctx))
            .unwrap_or_default();
        ResourceMeta { own, defaults }
    }

    /// The value, its own else the default.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.own
            .get(name)
            .or_else(|| self.defaults.get(name))
            .map(String::as_str)
    }

    /// A boolean setting as the scheduler reads it (`no`, `off`, `0` are
    /// false as much as `false`); `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> bool {
        self.get(name).map(parse_bool).unwrap_or(default)
    }
}

/// An element's `meta_attributes`, under the current names.
fn meta_pairs(root: &Element, e: &Element, ctx: &RuleContext) -> BTreeMap<String, String> {
    nvpairs(root, e, "meta_attributes", ctx)
        .into_iter()
        .map(|(k, v)| (normalise_meta(&k), v))
        .collect()
}

/// Reads one resource element; `None` for an element that is no resource.
fn read_resource(
    root: &Element,
    e: &Element,
    templates: &Templates,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<Option<ResourceConfig>, ModelError> {
    let kind = match e.name.as_str() {
        "primitive" => read_primitive(root, e, templates, ctx, issues)?,
        "group" => read_group(root, e, templates, ctx, issues),
        "clone" | "master" => read_clone(root, e, templates, ctx, issues)?,
        "bundle" => read_bundle(root, e, templates, ctx, issues)?,
        _ => return Ok(None),
    };
    let id = req(e, "id")?.to_string();
    let template = e.attr("template").and_then(|t| templates.get(t)).copied();
    // The element's own pairs first, then its template's (under the
    // current names, for meta attributes).
    let own_and_template = |tag: &str, ctx: &RuleContext, name: fn(&str) -> String| {
        let mut pairs: BTreeMap<String, String> = nvpairs(root, e, tag, ctx)
            .into_iter()
            .map(|(k, v)| (name(&k), v))
            .collect();
        if let Some(t) = template {
            for (k, v) in nvpairs(root, t, tag, ctx) {
                pairs.entry(name(&k)).or_insert(v);
            }
        }
        pairs
    };
    let meta = own_and_template("meta_attributes", ctx, normalise_meta);
    // Rules in a primitive's instance attributes and utilization may test
    // its agent.
    let agent_ctx;
    let ctx = if let ResourceKind::Primitive { agent, .. } = &kind {
        agent_ctx = RuleContext {
            agent: Some((
                agent.class.as_str(),
                agent.provider.as_deref().unwrap_or(""),
                agent.kind.as_str(),
            )),
            ..*ctx
        };
        &agent_ctx
    } else {
        ctx
    };
    let params = own_and_template("instance_attributes", ctx, str::to_string);
    let utilization = own_and_template("utilization", ctx, str::to_string);
    Ok(Some(ResourceConfig {
        id,
        kind,
        meta,
        params,
        utilization,
    }))
}

/// A primitive's agent and operations, its template's first: an operation
/// of its own replaces the template's of the same name and interval.
fn read_primitive(
    root: &Element,
    e: &Element,
    templates: &Templates,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<ResourceKind, ModelError> {
    let (agent, mut ops) = match e.attr("template") {
        Some(t) => {
            let template = templates.get(t).ok_or_else(|| ModelError::Dangling {
                element: e.name.clone(),
                id: e.id().unwrap_or("").into(),
                what: "template".into(),
                target: t.into(),
            })?;
            (
                read_known_agent(e, template)?,
                read_ops(root, template, ctx, issues)?,
            )
        }
        None => (read_known_agent(e, e)?, Vec::new()),
    };
    let own = read_ops(root, e, ctx, issues)?;
    ops.retain(|o| {
        !own.iter()
            .any(|x| x.name == o.name && x.interval_ms == o.interval_ms)
    });
    ops.extend(own);
    Ok(ResourceKind::Primitive { agent, ops })
}

/// A group's members: one that cannot be used is left out; the rest of
/// the group still runs.
fn read_group(
    root: &Element,
    e: &Element,
    templates: &Templates,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> ResourceKind {
    let mut children = Vec::new();
    for c in e.children_named("primitive") {
        match read_resource(root, c, templates, ctx, issues) {
            Ok(Some(r)) => children.push(r),
            Ok(None) => unreachable!("a primitive is a resource"),
            Err(error) => issues.push(error.into()),
        }
    }
    ResourceKind::Group { children }
}

/// The first child of `e` named one of `names`; `problem` when none is.
fn required_child<'a>(
    e: &'a Element,
    names: &[&str],
    problem: &str,
) -> Result<&'a Element, ModelError> {
    e.children
        .iter()
        .find(|c| names.contains(&c.name.as_str()))
        .ok_or_else(|| ModelError::Invalid {
            element: e.name.clone(),
            id: e.id().unwrap_or("").into(),
            problem: problem.into(),
        })
}

/// A clone's or bundle's meta attributes, and whether they make it
/// promotable.
fn collective_meta(
    root: &Element,
    e: &Element,
    ctx: &RuleContext,
) -> (BTreeMap<String, String>, bool) {
    let meta = nvpairs(root, e, "meta_attributes", ctx);
    let promotable = meta.get("promotable").is_some_and(|v| parse_bool(v));
    (meta, promotable)
}

fn read_clone(
    root: &Element,
    e: &Element,
    templates: &Templates,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<ResourceKind, ModelError> {
    let child = required_child(
        e,
        &["primitive", "group"],
        "has no primitive or group inside",
    )?;
    let child =
        read_resource(root, child, templates, ctx, issues)?.ok_or_else(|| missing(e, "child"))?;
    let (_, promotable) = collective_meta(root, e, ctx);
    let promotable = e.name == "master" || promotable;
    Ok(ResourceKind::Clone {
        child: Box::new(child),
        promotable,
    })
}

fn read_bundle(
    root: &Element,
    e: &Element,
    templates: &Templates,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<ResourceKind, ModelError> {
    let runtime = required_child(e, &["docker", "podman", "rkt"], "has no container runtime")?;
    let child = match e.child("primitive") {
        Some(p) => read_resource(root, p, templates, ctx, issues)?.map(Box::new),
        None => None,
    };
    let num = |el: &Element, names: &[&str]| {
        names
            .iter()
            .find_map(|n| el.attr(n))
            .and_then(|v| v.parse::<u32>().ok())
    };
    let (meta, promotable) = collective_meta(root, e, ctx);
    let promoted_max = num(runtime, &["promoted-max", "master-max"])
        .or_else(|| meta.get("promoted-max").and_then(|v| v.parse().ok()))
        .unwrap_or(if promotable { 1 } else { 0 });
    Ok(ResourceKind::Bundle {
        child,
        replicas: num(runtime, &["replicas"]).unwrap_or(promoted_max.max(1)),
        container: AgentSpec {
            class: crate::model::cib::ResourceClass::Ocf,
            provider: Some("heartbeat".into()),
            kind: runtime.name.clone(),
        },
        replicas_per_host: num(runtime, &["replicas-per-host"]).unwrap_or(1),
        promoted_max,
        ip_range_start: e
            .child("network")
            .and_then(|n| n.attr("ip-range-start"))
            .map(str::to_string),
    })
}

/// Reads the `resources` section: what cannot be used is left out (the
/// rest is scheduled), and each template stands for the primitives made
/// from it when a constraint names it.
pub(super) fn read_resources(cib: &mut Cib, root: &Element, config: &Element, ctx: &RuleContext) {
    let Some(resources) = config.child("resources") else {
        return;
    };
    let templates: HashMap<&str, &Element> = resources
        .children_named("template")
        .filter_map(|t| t.id().map(|id| (id, t)))
        .collect();
    let mut issues = Vec::new();
    for r in &resources.children {
        match read_resource(root, r, &templates, ctx, &mut issues) {
            Ok(Some(rsc)) => match check_instances(&rsc, &cib.rsc_defaults) {
                Ok(()) => cib.resources.push(rsc),
                Err(error) => issues.push(error.into()),
            },
            // Not a resource (a template, read where it is used).
            Ok(None) => {}
            Err(error) => issues.push(error.into()),
        }
    }
    cib.config_errors.append(&mut issues);
    read_template_users(cib, resources);
}

/// A template named in a constraint means every primitive made from it.
fn read_template_users(cib: &mut Cib, resources: &Element) {
    let mut users: HashMap<String, Vec<String>> = HashMap::new();
    resources.walk(&mut |e| {
        if e.name == "primitive" {
            if let (Some(t), Some(id)) = (e.attr("template"), e.id()) {
                users.entry(t.to_string()).or_default().push(id.to_string());
            }
        }
    });
    for t in resources.children_named("template") {
        if let Some(id) = t.id() {
            cib.templates.insert(id.to_string());
            cib.tags
                .insert(id.to_string(), users.remove(id).unwrap_or_default());
        }
    }
}
