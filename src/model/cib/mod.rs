//! The typed view of a Pacemaker CIB, read from the XML element tree.
//!
//! Reading never panics: malformed or dangling input gives a [`ModelError`]
//! naming the element and its id. Option names are normalised to their
//! current spelling (`stonith-enabled` becomes `fencing-enabled`, roles
//! `Master`/`Slave` become `Promoted`/`Unpromoted`).

use std::collections::{BTreeMap, HashMap};

pub mod acl;
pub mod alerts;
pub mod change;
pub mod diff;
pub mod digest;
pub mod fencing;
pub mod names;
pub mod operation;
pub mod rules;
pub mod score;
pub mod store;
pub mod time;
pub mod validate;
pub mod verify;
pub mod xml;

use rules::{eval_rule, RuleContext};
use time::{parse_interval_ms, read_duration_ms};
use verify::ConfigIssue;
use xml::Element;

/// Most instances one clone (or replicas one bundle) may have: a clone
/// needs a copy of its scores per instance and node, so `clone-max=INFINITY`
/// must not mean a million of them.
pub const CLONE_INSTANCES_MAX: i64 = 10_000;
/// Largest compiled `rsc-pattern` regular expression, in bytes of the
/// `regex` crate's program (linear-time matching, so size bounds the time).
pub const RSC_PATTERN_BYTES_MAX: usize = 64 * 1024;
/// Resource classes the scheduler knows; `nagios`, `upstart` and
/// `heartbeat` are left out with a warning, as Pacemaker 3 does.
pub const RESOURCE_CLASSES: [&str; 5] = ["ocf", "lsb", "service", "systemd", "stonith"];
const RESOURCE_CLASSES_DROPPED: [&str; 3] = ["nagios", "upstart", "heartbeat"];

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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("<{element} id=\"{id}\">: missing attribute {attribute}")]
    MissingAttribute {
        element: String,
        id: String,
        attribute: String,
    },
    #[error("<{element} id=\"{id}\">: invalid {attribute} \"{value}\"")]
    InvalidValue {
        element: String,
        id: String,
        attribute: String,
        value: String,
    },
    #[error("<{element} id=\"{id}\">: refers to unknown {what} \"{target}\"")]
    Dangling {
        element: String,
        id: String,
        what: String,
        target: String,
    },
    #[error("<{element} id=\"{id}\">: {problem}")]
    Invalid {
        element: String,
        id: String,
        problem: String,
    },
    #[error("the CIB has no <{0}> section")]
    MissingSection(String),
    /// Something Pacemaker itself drops with a warning (old classes).
    #[error("<{element} id=\"{id}\">: {problem}")]
    Unsupported {
        element: String,
        id: String,
        problem: String,
    },
}

impl ModelError {
    /// (element, id, what is wrong) for a configuration error report.
    pub fn parts(&self) -> (String, String, String) {
        match self {
            ModelError::MissingAttribute {
                element,
                id,
                attribute,
            } => (
                element.clone(),
                id.clone(),
                format!("missing attribute {attribute}"),
            ),
            ModelError::InvalidValue {
                element,
                id,
                attribute,
                value,
            } => (
                element.clone(),
                id.clone(),
                format!("invalid {attribute} {value:?}"),
            ),
            ModelError::Dangling {
                element,
                id,
                what,
                target,
            } => (
                element.clone(),
                id.clone(),
                format!("refers to unknown {what} {target:?}"),
            ),
            ModelError::Invalid {
                element,
                id,
                problem,
            } => (element.clone(), id.clone(), problem.clone()),
            ModelError::Unsupported {
                element,
                id,
                problem,
            } => (element.clone(), id.clone(), problem.clone()),
            ModelError::MissingSection(section) => (
                "cib".into(),
                String::new(),
                format!("no <{section}> section"),
            ),
        }
    }
}

impl From<ModelError> for ConfigIssue {
    fn from(error: ModelError) -> ConfigIssue {
        let (element, id, message) = error.parts();
        match error {
            ModelError::Unsupported { .. } => ConfigIssue::warning(&element, &id, message),
            _ => ConfigIssue::error(&element, &id, message),
        }
    }
}

fn invalid_because(
    e: &Element,
    attribute: &str,
    value: &str,
    why: impl std::fmt::Display,
) -> ModelError {
    ModelError::Invalid {
        element: e.name.clone(),
        id: e.id().unwrap_or("").to_string(),
        problem: format!("invalid {attribute} {value:?}: {why}"),
    }
}

fn missing(e: &Element, attribute: &str) -> ModelError {
    ModelError::MissingAttribute {
        element: e.name.clone(),
        id: e.id().unwrap_or("").to_string(),
        attribute: attribute.to_string(),
    }
}

fn invalid(e: &Element, attribute: &str, value: &str) -> ModelError {
    ModelError::InvalidValue {
        element: e.name.clone(),
        id: e.id().unwrap_or("").to_string(),
        attribute: attribute.to_string(),
        value: value.to_string(),
    }
}

fn req<'a>(e: &'a Element, attribute: &str) -> Result<&'a str, ModelError> {
    e.attr(attribute).ok_or_else(|| missing(e, attribute))
}

/// A role as the CIB and the scheduler see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Unknown,
    Stopped,
    Started,
    Unpromoted,
    Promoted,
}

impl Role {
    /// Reads a role, accepting the old names.
    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "Stopped" => Role::Stopped,
            "Started" => Role::Started,
            "Slave" | "Unpromoted" => Role::Unpromoted,
            "Master" | "Promoted" => Role::Promoted,
            "Unknown" => Role::Unknown,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Unknown => "Unknown",
            Role::Stopped => "Stopped",
            Role::Started => "Started",
            Role::Unpromoted => "Unpromoted",
            Role::Promoted => "Promoted",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, Role::Started | Role::Unpromoted | Role::Promoted)
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

fn normalise_meta(name: &str) -> String {
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
            if !eval_rule(rule, ctx) {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Member,
    Remote,
    Guest,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: String,
    pub uname: String,
    pub kind: NodeKind,
    pub attrs: BTreeMap<String, String>,
    pub utilization: BTreeMap<String, String>,
    pub score: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentSpec {
    pub class: String,
    pub provider: Option<String>,
    pub kind: String,
}

impl AgentSpec {
    /// `ocf:pacemaker:remote`: the connection to a Pacemaker Remote node.
    pub fn is_remote_connection(&self) -> bool {
        self.class == "ocf"
            && self.provider.as_deref() == Some("pacemaker")
            && self.kind == "remote"
    }

    pub fn display(&self) -> String {
        match &self.provider {
            Some(p) => format!("{}:{}:{}", self.class, p, self.kind),
            None => format!("{}:{}", self.class, self.kind),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OpConfig {
    pub id: String,
    pub name: String,
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
    pub first_action: String,
    pub then: String,
    pub then_action: String,
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

#[derive(Debug, Clone)]
pub struct LrmOp {
    pub id: String,
    pub operation: String,
    pub interval_ms: u64,
    pub rc: i32,
    pub op_status: i32,
    pub call_id: i64,
    pub last_rc_change: Option<i64>,
    pub op_digest: Option<String>,
    /// Digest of the parameters that cannot be reloaded (agents that reload).
    pub op_restart_digest: Option<String>,
    /// Those parameters' names, space-separated (`op-force-restart`).
    pub op_force_restart: Option<String>,
    /// Private parameters (passwords) left out of `op_secure_digest`, so a
    /// CIB with them masked can still be compared.
    pub op_secure_params: Option<String>,
    pub op_secure_digest: Option<String>,
    /// The feature set of the node that recorded it (digest rules changed
    /// at 3.16.0).
    pub feature_set: Option<String>,
    pub transition_key: Option<String>,
    pub migrate_source: Option<String>,
    pub migrate_target: Option<String>,
    pub exit_reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LrmResource {
    pub id: String,
    pub agent: Option<AgentSpec>,
    pub container: Option<String>,
    pub ops: Vec<LrmOp>,
}

#[derive(Debug, Clone)]
pub struct NodeState {
    pub id: String,
    pub uname: String,
    pub in_ccm: bool,
    /// `in_ccm` was recorded (as a boolean or a time): a node the cluster
    /// layer has seen at least once.
    pub in_ccm_recorded: bool,
    pub crmd_online: bool,
    pub join: String,
    pub expected: String,
    pub shutdown: bool,
    pub has_lrm: bool,
    pub lrm: Vec<LrmResource>,
    pub transient: BTreeMap<String, String>,
    /// Utilization published at run time (transient_attributes/utilization).
    pub transient_utilization: BTreeMap<String, String>,
    /// `node_fenced`: a Pacemaker Remote node recorded as fenced since its
    /// connection was lost.
    pub fenced: bool,
    /// Since when the node has been a cluster member (epoch seconds), when
    /// `in_ccm` records a time rather than a boolean.
    pub member_since: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct FencingLevel {
    pub target: String,
    pub index: u32,
    pub devices: Vec<String>,
}

/// The whole CIB, typed.
#[derive(Debug, Clone, Default)]
pub struct Cib {
    pub properties: HashMap<String, String>,
    pub have_quorum: bool,
    /// The cluster layer asked for suicide on quorum loss.
    pub no_quorum_panic: bool,
    pub dc_uuid: Option<String>,
    pub nodes: Vec<NodeConfig>,
    pub resources: Vec<ResourceConfig>,
    pub rsc_defaults: BTreeMap<String, String>,
    /// The rsc_defaults section, for rules that depend on the resource agent.
    pub rsc_defaults_xml: Option<Element>,
    pub op_defaults: BTreeMap<String, String>,
    pub locations: Vec<Location>,
    pub colocations: Vec<Colocation>,
    pub orders: Vec<Order>,
    /// The `rsc_order` elements as written: the scheduler reads resource
    /// sets from them the way Pacemaker does.
    pub order_xml: Vec<Element>,
    pub tickets: Vec<Ticket>,
    pub tags: HashMap<String, Vec<String>>,
    /// Ids of resource templates (they also appear in `tags`).
    pub templates: std::collections::HashSet<String>,
    pub fencing_levels: Vec<FencingLevel>,
    /// The `alerts` section: which agents to call on which events.
    pub alerts: Vec<crate::model::cib::alerts::Alert>,
    /// Shared, so that the scheduler's passes over the status section can
    /// hold it without copying every resource's history.
    pub node_states: Vec<std::sync::Arc<NodeState>>,
    pub ticket_state: HashMap<String, BTreeMap<String, String>>,
    /// What was left out because it could not be used, and warnings: the
    /// scheduler schedules everything else, as Pacemaker does.
    pub config_errors: Vec<ConfigIssue>,
}

impl Cib {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    pub fn bool_property(&self, name: &str, default: bool) -> bool {
        self.property(name).map(parse_bool).unwrap_or(default)
    }

    /// Reads a CIB element tree.
    pub fn from_xml(root: &Element, now_epoch_s: i64) -> Result<Cib, ModelError> {
        let config = root
            .child("configuration")
            .ok_or_else(|| ModelError::MissingSection("configuration".into()))?;
        let ctx = RuleContext {
            node_attrs: None,
            now_epoch_s,
            agent: None,
            op: None,
        };
        let mut cib = Cib {
            have_quorum: root.attr("have-quorum").map(parse_bool).unwrap_or(false),
            no_quorum_panic: root
                .attr("no-quorum-panic")
                .map(parse_bool)
                .unwrap_or(false),
            dc_uuid: root.attr("dc-uuid").map(str::to_string),
            ..Default::default()
        };
        if let Some(crm) = config.child("crm_config") {
            let props = nvpairs(root, crm, "cluster_property_set", &ctx);
            for (k, v) in props {
                cib.properties
                    .entry(normalise_property(&k).to_string())
                    .or_insert(v);
            }
        }
        cib.rsc_defaults_xml = config.child("rsc_defaults").cloned();
        if let Some(d) = config.child("rsc_defaults") {
            cib.rsc_defaults = nvpairs(root, d, "meta_attributes", &ctx)
                .into_iter()
                .map(|(k, v)| (normalise_meta(&k), v))
                .collect();
        }
        if let Some(d) = config.child("op_defaults") {
            cib.op_defaults = nvpairs(root, d, "meta_attributes", &ctx);
        }
        if let Some(nodes) = config.child("nodes") {
            for n in nodes.children_named("node") {
                match read_node(root, n, &ctx) {
                    Ok(node) => cib.nodes.push(node),
                    Err(error) => cib.config_errors.push(error.into()),
                }
            }
        }
        let templates: HashMap<&str, &Element> = config
            .child("resources")
            .map(|r| {
                r.children_named("template")
                    .filter_map(|t| t.id().map(|id| (id, t)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(resources) = config.child("resources") {
            let mut issues = Vec::new();
            for r in &resources.children {
                match read_resource(root, r, &templates, &ctx, &mut issues) {
                    Ok(Some(rsc)) => match check_instances(&rsc, &cib.rsc_defaults) {
                        Ok(()) => cib.resources.push(rsc),
                        Err(error) => issues.push(error.into()),
                    },
                    Ok(None) => {}
                    Err(error) => issues.push(error.into()),
                }
            }
            cib.config_errors.append(&mut issues);
        }
        // A template named in a constraint means every primitive made from it.
        if let Some(resources) = config.child("resources") {
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
        if let Some(tags) = config.child("tags") {
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
        if let Some(constraints) = config.child("constraints") {
            for c in &constraints.children {
                // All of a constraint or none of it.
                let counts = (
                    cib.locations.len(),
                    cib.colocations.len(),
                    cib.orders.len(),
                    cib.tickets.len(),
                );
                if let Err(error) = read_constraint(&mut cib, c) {
                    cib.locations.truncate(counts.0);
                    cib.colocations.truncate(counts.1);
                    cib.orders.truncate(counts.2);
                    cib.tickets.truncate(counts.3);
                    cib.config_errors.push(error.into());
                }
            }
        }
        if let Some(ft) = config.child("fencing-topology") {
            for level in ft.children_named("fencing-level") {
                match read_fencing_level(level) {
                    Ok(level) => cib.fencing_levels.push(level),
                    Err(error) => cib.config_errors.push(error.into()),
                }
            }
        }
        let (alerts, mut alert_issues) =
            crate::model::cib::alerts::read_alerts(root, config, now_epoch_s);
        cib.alerts = alerts;
        cib.config_errors.append(&mut alert_issues);
        if let Some(issue) = start_up_disabled(&cib, config) {
            cib.config_errors.push(issue);
        }
        if let Some(status) = root.child("status") {
            for ns in status.children_named("node_state") {
                match read_node_state(root, ns, &ctx, &mut cib.config_errors) {
                    Ok(state) => cib.node_states.push(std::sync::Arc::new(state)),
                    Err(error) => cib.config_errors.push(error.into()),
                }
            }
            if let Some(tickets) = status.child("tickets") {
                for ts in tickets.children_named("ticket_state") {
                    if let Some(id) = ts.id() {
                        cib.ticket_state
                            .insert(id.to_string(), ts.attrs.iter().cloned().collect());
                    }
                }
            }
        }
        Ok(cib)
    }
}

fn read_fencing_level(level: &Element) -> Result<FencingLevel, ModelError> {
    let target = level
        .attr("target")
        .or_else(|| level.attr("target-pattern"))
        .unwrap_or("")
        .to_string();
    let index_text = req(level, "index")?;
    let index = index_text
        .parse()
        .map_err(|_| invalid(level, "index", index_text))?;
    let devices = req(level, "devices")?
        .split(',')
        .map(str::to_string)
        .collect();
    Ok(FencingLevel {
        target,
        index,
        devices,
    })
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

pub fn parse_bool(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "true" | "on" | "yes" | "y" | "1"
    )
}

fn read_node(root: &Element, n: &Element, ctx: &RuleContext) -> Result<NodeConfig, ModelError> {
    let id = req(n, "id")?.to_string();
    let uname = n.attr("uname").unwrap_or(&id).to_string();
    let kind = match n.attr("type") {
        Some("remote") => NodeKind::Remote,
        _ => NodeKind::Member,
    };
    let score = match n.attr("score") {
        Some(s) => score::parse(s).ok_or_else(|| invalid(n, "score", s))?,
        None => 0,
    };
    Ok(NodeConfig {
        id,
        uname,
        kind,
        attrs: nvpairs(root, n, "instance_attributes", ctx),
        utilization: nvpairs(root, n, "utilization", ctx),
        score,
    })
}

fn read_agent(e: &Element) -> Result<AgentSpec, ModelError> {
    Ok(AgentSpec {
        class: req(e, "class")?.to_string(),
        provider: e.attr("provider").map(str::to_string),
        kind: req(e, "type")?.to_string(),
    })
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
    {
        let id = req(op, "id")?.to_string();
        let name = req(op, "name")?.to_string();
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
}

/// A primitive's agent, if the scheduler knows its class: an unknown class
/// is an error, a class Pacemaker dropped a warning; either way the
/// primitive is left out.
fn read_known_agent(e: &Element, agent_element: &Element) -> Result<AgentSpec, ModelError> {
    let agent = read_agent(agent_element)?;
    let class = agent.class.as_str();
    if RESOURCE_CLASSES.contains(&class) {
        return Ok(agent);
    }
    if RESOURCE_CLASSES_DROPPED.contains(&class) {
        return Err(ModelError::Unsupported {
            element: e.name.clone(),
            id: e.id().unwrap_or("").into(),
            problem: format!("{class} resources are no longer supported; left out"),
        });
    }
    let why = {
        format!(
            "unknown resource class {class:?} (one of {}); left out",
            RESOURCE_CLASSES.join(", ")
        )
    };
    Err(ModelError::Invalid {
        element: e.name.clone(),
        id: e.id().unwrap_or("").into(),
        problem: why,
    })
}

fn read_resource(
    root: &Element,
    e: &Element,
    templates: &HashMap<&str, &Element>,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<Option<ResourceConfig>, ModelError> {
    let kind = match e.name.as_str() {
        "primitive" => {
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
            ResourceKind::Primitive { agent, ops }
        }
        "group" => {
            let mut children = Vec::new();
            for c in &e.children {
                if c.name == "primitive" {
                    // A member that cannot be used is left out; the rest
                    // of the group still runs.
                    match read_resource(root, c, templates, ctx, issues) {
                        Ok(Some(r)) => children.push(r),
                        Ok(None) => {}
                        Err(error) => issues.push(error.into()),
                    }
                }
            }
            ResourceKind::Group { children }
        }
        "clone" | "master" => {
            let child = e
                .children
                .iter()
                .find(|c| matches!(c.name.as_str(), "primitive" | "group"))
                .ok_or_else(|| ModelError::Invalid {
                    element: e.name.clone(),
                    id: e.id().unwrap_or("").into(),
                    problem: "has no primitive or group inside".into(),
                })?;
            let child = read_resource(root, child, templates, ctx, issues)?
                .ok_or_else(|| missing(e, "child"))?;
            let meta = nvpairs(root, e, "meta_attributes", ctx);
            let promotable =
                e.name == "master" || meta.get("promotable").is_some_and(|v| parse_bool(v));
            ResourceKind::Clone {
                child: Box::new(child),
                promotable,
            }
        }
        "bundle" => {
            let runtime = e
                .children
                .iter()
                .find(|c| matches!(c.name.as_str(), "docker" | "podman" | "rkt"))
                .ok_or_else(|| ModelError::Invalid {
                    element: e.name.clone(),
                    id: e.id().unwrap_or("").into(),
                    problem: "has no container runtime".into(),
                })?;
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
            let meta = nvpairs(root, e, "meta_attributes", ctx);
            let promotable = meta.get("promotable").is_some_and(|v| parse_bool(v));
            let promoted_max = num(runtime, &["promoted-max", "master-max"])
                .or_else(|| meta.get("promoted-max").and_then(|v| v.parse().ok()))
                .unwrap_or(if promotable { 1 } else { 0 });
            let network = e.child("network");
            ResourceKind::Bundle {
                child,
                replicas: num(runtime, &["replicas"]).unwrap_or(promoted_max.max(1)),
                container: AgentSpec {
                    class: "ocf".into(),
                    provider: Some("heartbeat".into()),
                    kind: runtime.name.clone(),
                },
                replicas_per_host: num(runtime, &["replicas-per-host"]).unwrap_or(1),
                promoted_max,
                ip_range_start: network
                    .and_then(|n| n.attr("ip-range-start"))
                    .map(str::to_string),
            }
        }
        _ => return Ok(None),
    };
    let id = req(e, "id")?.to_string();
    let mut meta: BTreeMap<String, String> = nvpairs(root, e, "meta_attributes", ctx)
        .into_iter()
        .map(|(k, v)| (normalise_meta(&k), v))
        .collect();
    let template = e.attr("template").and_then(|t| templates.get(t)).copied();
    if let Some(t) = template {
        for (k, v) in nvpairs(root, t, "meta_attributes", ctx) {
            meta.entry(normalise_meta(&k)).or_insert(v);
        }
    }
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
    let mut params = nvpairs(root, e, "instance_attributes", ctx);
    if let Some(t) = e.attr("template").and_then(|t| templates.get(t)) {
        for (k, v) in nvpairs(root, t, "instance_attributes", ctx) {
            params.entry(k).or_insert(v);
        }
    }
    let mut utilization = nvpairs(root, e, "utilization", ctx);
    if let Some(t) = template {
        for (k, v) in nvpairs(root, t, "utilization", ctx) {
            utilization.entry(k).or_insert(v);
        }
    }
    Ok(Some(ResourceConfig {
        id,
        kind,
        meta,
        params,
        utilization,
    }))
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
        "rsc_location" => {
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
        }
        "rsc_colocation" => {
            let score = parse_score_attr(c)?.unwrap_or(0);
            let node_attribute = c.attr("node-attribute").unwrap_or("#uname").to_string();
            let influence = c.attr("influence").map(parse_bool);
            if let (Some(rsc), Some(with)) = (c.attr("rsc"), c.attr("with-rsc")) {
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
                return Ok(());
            }
            let all = sets(c, &cib.tags);
            if all.is_empty() {
                return Err(missing(c, "rsc"));
            }
            // As Pacemaker reads sets: within a sequential set each member is
            // colocated with the one before it (a negative score
            // anti-colocates each member with every earlier one); between
            // consecutive sets, the first member of the earlier set (each
            // member, if not sequential) with the last member of the later
            // set (each member, if not sequential), at the constraint's
            // score. Sets ignore node-attribute.
            let pair = |dependent: &str, primary: &str, score: i64, dr, pr| Colocation {
                id: id.clone(),
                dependent: dependent.to_string(),
                primary: primary.to_string(),
                score,
                dependent_role: dr,
                primary_role: pr,
                node_attribute: "#uname".to_string(),
                influence,
            };
            let mut parsed = Vec::new();
            for (set, members) in &all {
                let role = role_attr(set, "role")?;
                let sequential = set.attr("sequential").map(parse_bool).unwrap_or(true);
                let set_score = set.attr("score").and_then(score::parse).unwrap_or(score);
                parsed.push((members, role, sequential, set_score));
            }
            for &(members, role, sequential, set_score) in &parsed {
                if !sequential || set_score == 0 {
                    continue;
                }
                if set_score > 0 {
                    for w in members.windows(2) {
                        cib.colocations
                            .push(pair(&w[1], &w[0], set_score, role, role));
                    }
                } else {
                    for (i, later) in members.iter().enumerate() {
                        for earlier in &members[..i] {
                            cib.colocations
                                .push(pair(later, earlier, set_score, role, role));
                        }
                    }
                }
            }
            for w in parsed.windows(2) {
                let (set1, role1, seq1, _) = w[0];
                let (set2, role2, seq2, _) = w[1];
                if score == 0 {
                    continue;
                }
                let dependents: Vec<&String> = if seq1 {
                    set1.first().into_iter().collect()
                } else {
                    set1.iter().collect()
                };
                let primaries: Vec<&String> = if seq2 {
                    set2.last().into_iter().collect()
                } else {
                    set2.iter().collect()
                };
                for d in &dependents {
                    for p in &primaries {
                        cib.colocations.push(pair(d, p, score, role1, role2));
                    }
                }
            }
        }
        "rsc_order" => {
            cib.order_xml.push(c.clone());
            let kind_text = c.attr("kind");
            let score = parse_score_attr(c)?;
            let kind = match kind_text {
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
            let require_all = c.attr("require-all").map(parse_bool).unwrap_or(true);
            if let (Some(first), Some(then)) = (c.attr("first"), c.attr("then")) {
                let first_action = c.attr("first-action").unwrap_or("start").to_string();
                let then_action = c
                    .attr("then-action")
                    .map(str::to_string)
                    .unwrap_or_else(|| first_action.clone());
                for f in expand_tag(&cib.tags, first) {
                    for t in expand_tag(&cib.tags, then) {
                        cib.orders.push(Order {
                            id: id.clone(),
                            first: f.clone(),
                            first_action: first_action.clone(),
                            then: t,
                            then_action: then_action.clone(),
                            kind,
                            symmetrical,
                            first_any: !require_all,
                            first_set: None,
                        });
                    }
                }
                return Ok(());
            }
            let all = sets(c, &cib.tags);
            if all.is_empty() {
                return Err(missing(c, "first"));
            }
            let mut previous: Option<(Vec<String>, String, bool, Option<String>)> = None;
            for (set, members) in &all {
                let action = set.attr("action").unwrap_or("start").to_string();
                let sequential = set.attr("sequential").map(parse_bool).unwrap_or(true);
                let require_all = set.attr("require-all").map(parse_bool).unwrap_or(true);
                // A set that needs only one member lets all of them lead.
                let exits_all = !require_all;
                if sequential {
                    for pair in members.windows(2) {
                        cib.orders.push(Order {
                            id: id.clone(),
                            first: pair[0].clone(),
                            first_action: action.clone(),
                            then: pair[1].clone(),
                            then_action: action.clone(),
                            kind,
                            symmetrical,
                            first_any: false,
                            first_set: None,
                        });
                    }
                }
                if let Some((prev, prev_action, prev_seq_any, prev_set)) = &previous {
                    for f in prev {
                        for t in members
                            .iter()
                            .take(if sequential { 1 } else { members.len() })
                        {
                            cib.orders.push(Order {
                                id: id.clone(),
                                first: f.clone(),
                                first_action: prev_action.clone(),
                                then: t.clone(),
                                then_action: action.clone(),
                                kind,
                                symmetrical,
                                first_any: *prev_seq_any,
                                first_set: prev_set.clone(),
                            });
                        }
                    }
                }
                let exits: Vec<String> = if sequential && !exits_all {
                    members.last().into_iter().cloned().collect()
                } else {
                    members.clone()
                };
                previous = Some((exits, action, !require_all, set.id().map(str::to_string)));
            }
        }
        "rsc_ticket" => {
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
        }
        _ => {}
    }
    Ok(())
}

fn read_node_state(
    root: &Element,
    ns: &Element,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<NodeState, ModelError> {
    let id = match (ns.attr("id"), ns.attr("uname")) {
        (Some(id), _) | (None, Some(id)) => id.to_string(),
        (None, None) => return Err(missing(ns, "id")),
    };
    let uname = ns.attr("uname").unwrap_or(&id).to_string();
    let mut transient = BTreeMap::new();
    let mut transient_utilization = BTreeMap::new();
    if let Some(t) = ns.child("transient_attributes") {
        transient = nvpairs(root, t, "instance_attributes", ctx);
        transient_utilization = nvpairs(root, t, "utilization", ctx);
    }
    let mut lrm = Vec::new();
    let has_lrm = ns.child("lrm").is_some();
    if let Some(resources) = ns.child("lrm").and_then(|l| l.child("lrm_resources")) {
        for r in resources.children_named("lrm_resource") {
            let rid = req(r, "id")?.to_string();
            let agent = read_agent(r).ok();
            let mut ops = Vec::new();
            for op in r.children_named("lrm_rsc_op") {
                // A history entry that cannot be read is left out.
                match read_lrm_op(op) {
                    Ok(entry) => ops.push(entry),
                    Err(error) => issues.push(error.into()),
                }
            }
            lrm.push(LrmResource {
                id: rid,
                agent,
                container: r.attr("container").map(str::to_string),
                ops,
            });
        }
    }
    read_node_state_attrs(
        ns,
        id,
        uname,
        has_lrm,
        lrm,
        transient,
        transient_utilization,
    )
}

fn read_lrm_op(op: &Element) -> Result<LrmOp, ModelError> {
    {
        let operation = req(op, "operation")?.to_string();
        let interval_text = op.attr("interval").unwrap_or("0");
        let interval_ms = interval_text
            .parse()
            .map_err(|_| invalid(op, "interval", interval_text))?;
        let magic = op.attr("transition-magic");
        // rc-code and op-status may be missing in old CIBs; the
        // transition magic "status:rc;key" carries both.
        let magic_parts = magic
            .and_then(|m| m.split(';').next())
            .and_then(|s| s.split_once(':'));
        let rc = match op.attr("rc-code") {
            Some(v) => v.parse().map_err(|_| invalid(op, "rc-code", v))?,
            None => magic_parts.and_then(|(_, rc)| rc.parse().ok()).unwrap_or(0),
        };
        let op_status = match op.attr("op-status") {
            Some(v) => v.parse().map_err(|_| invalid(op, "op-status", v))?,
            None => magic_parts.and_then(|(s, _)| s.parse().ok()).unwrap_or(0),
        };
        Ok(LrmOp {
            id: op.id().unwrap_or("").to_string(),
            operation,
            interval_ms,
            rc,
            op_status,
            call_id: op.attr("call-id").and_then(|c| c.parse().ok()).unwrap_or(0),
            last_rc_change: op
                .attr("last-rc-change")
                .or_else(|| op.attr("last-run"))
                .and_then(|v| v.parse().ok()),
            op_digest: op.attr("op-digest").map(str::to_string),
            op_restart_digest: op.attr("op-restart-digest").map(str::to_string),
            op_force_restart: op.attr("op-force-restart").map(str::to_string),
            op_secure_params: op.attr("op-secure-params").map(str::to_string),
            op_secure_digest: op.attr("op-secure-digest").map(str::to_string),
            feature_set: op.attr("crm_feature_set").map(str::to_string),
            transition_key: op.attr("transition-key").map(str::to_string),
            migrate_source: op.attr("migrate_source").map(str::to_string),
            migrate_target: op.attr("migrate_target").map(str::to_string),
            exit_reason: op.attr("exit-reason").map(str::to_string),
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn read_node_state_attrs(
    ns: &Element,
    id: String,
    uname: String,
    has_lrm: bool,
    lrm: Vec<LrmResource>,
    transient: BTreeMap<String, String>,
    transient_utilization: BTreeMap<String, String>,
) -> Result<NodeState, ModelError> {
    let in_ccm = ns
        .attr("in_ccm")
        .map(|v| parse_bool(v) || v.parse::<i64>().is_ok_and(|n| n > 1))
        .unwrap_or(false);
    let crmd_online = ns
        .attr("crmd")
        .map(|v| v == "online" || v.parse::<i64>().is_ok_and(|n| n > 0))
        .unwrap_or(false);
    let in_ccm_recorded = ns.attr("in_ccm").is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        matches!(
            v.as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
        ) || v.parse::<i64>().is_ok_and(|n| n >= 0)
    });
    Ok(NodeState {
        id,
        uname,
        in_ccm,
        in_ccm_recorded,
        crmd_online,
        // Empty when never recorded (a node that has not joined yet).
        join: ns.attr("join").unwrap_or("").to_string(),
        expected: ns.attr("expected").unwrap_or("down").to_string(),
        shutdown: ns.attr("shutdown").is_some_and(|s| s != "0"),
        has_lrm,
        lrm,
        transient,
        transient_utilization,
        member_since: ns
            .attr("in_ccm")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&t| t > 1),
        fenced: ns
            .attr("node_fenced")
            .is_some_and(|v| v.parse::<i64>().is_ok_and(|n| n != 0) || parse_bool(v)),
    })
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

/// Fencing is enabled with nothing to fence with: as in Pacemaker, no
/// resource is started, stopped or recovered (probes still run). Said as a
/// warning so that removing the last fence device stays possible.
fn start_up_disabled(cib: &Cib, config: &Element) -> Option<ConfigIssue> {
    if !cib.bool_property("fencing-enabled", true) || cib.bool_property("have-watchdog", false) {
        return None;
    }
    let mut device = false;
    if let Some(resources) = config.child("resources") {
        resources.walk(&mut |e| device |= e.attr("class") == Some("stonith"));
    }
    (!device).then(|| {
        ConfigIssue::warning(
            "",
            "",
            "resource start-up disabled: fencing is enabled (stonith-enabled) but no fence \
             device is configured; add one (`resource create NAME stonith:AGENT ...`) or set \
             stonith-enabled=false",
        )
    })
}
