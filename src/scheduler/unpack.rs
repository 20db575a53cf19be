//! Stage 1, unpack: the typed CIB becomes the scheduler's working set.
//!
//! Nodes get their online/unclean/standby state, resources are flattened into
//! an arena (clones expanded into numbered instances), and each primitive's
//! operation history is replayed to find where it runs, in which role, and
//! whether it failed. Everything is indexed by id so later stages never scan.

use std::collections::{BTreeMap, HashMap};

use crate::model::cib::score::{self, INFINITY};
use crate::model::cib::time::parse_interval_ms;
use crate::model::cib::xml::Element;
use crate::model::cib::{
    parse_bool, AgentSpec, Cib, LrmOp, LrmResource, NodeKind, OpConfig, ResourceConfig,
    ResourceKind, Role,
};

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub id: String,
    pub kind: NodeKind,
    pub online: bool,
    pub unclean: bool,
    pub unclean_reason: String,
    pub standby: bool,
    pub maintenance: bool,
    pub shutdown: bool,
    pub pending: bool,
    /// Attributes for rules: configured, transient and built-in.
    pub attrs: BTreeMap<String, String>,
    pub utilization: BTreeMap<String, String>,
    pub node_score: i64,
    /// The guest node's container resource, or the remote node's connection.
    pub connection: Option<String>,
    pub has_state: bool,
    pub connection_stopping: bool,
    /// A guest node whose container (or connection) failed: its resources
    /// are lost and it is "fenced" by restarting the container.
    pub guest_lost: Option<String>,
    /// A remote node found unclean only because resources were active on it
    /// while its connection was down: the fencing is called off if the
    /// connection is placed again in this transition.
    pub fence_revocable: bool,
    /// The status section records the remote node as fenced since its
    /// connection was lost (`node_fenced`).
    pub was_fenced: bool,
}

impl NodeInfo {
    /// A node known by name and kind, not (yet) seen online, with nothing
    /// configured or recorded about it.
    pub fn offline(name: &str, id: &str, kind: NodeKind, has_state: bool) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            id: id.to_string(),
            kind,
            online: false,
            unclean: false,
            unclean_reason: String::new(),
            standby: false,
            maintenance: false,
            shutdown: false,
            pending: false,
            attrs: BTreeMap::new(),
            utilization: BTreeMap::new(),
            node_score: 0,
            connection: None,
            has_state,
            connection_stopping: false,
            guest_lost: None,
            fence_revocable: false,
            was_fenced: false,
        }
    }

    /// Marks the node for fencing. The first reason given is the one
    /// reported, as Pacemaker keeps the reason of the first fencing request.
    pub fn mark_unclean(&mut self, reason: String) {
        self.unclean = true;
        if self.unclean_reason.is_empty() {
            self.unclean_reason = reason;
        }
    }

    /// Whether resources may be placed here.
    pub fn can_host(&self) -> bool {
        self.online
            && !self.unclean
            && !self.standby
            && !self.shutdown
            && !self.maintenance
            && !self.pending
            && !self.connection_stopping
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Primitive,
    Group,
    Clone,
    Bundle,
}

/// Where a primitive was found in the operation history.
#[derive(Debug, Clone)]
pub struct Current {
    pub node: usize,
    pub role: Role,
    pub failed: bool,
    /// The failure's on-fail handling, e.g. "block", "ignore", "fence".
    pub on_fail: Option<String>,
    /// An operation is still in flight.
    pub pending_op: bool,
    /// A promoted-role failure with on-fail=demote.
    pub needs_demote: bool,
    /// The lrm_resource id the history used here (old anonymous clones
    /// recorded "rsc:N", and their promotion attributes use that name).
    pub history_id: String,
    /// The last successful operation was a migrate_to towards this node.
    pub migrated_to: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Rsc {
    pub id: String,
    /// The configured id (without `:N`) used for history and fail counts.
    pub base: String,
    pub variant: Variant,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub agent: Option<AgentSpec>,
    pub ops: Vec<OpConfig>,
    pub params: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub utilization: BTreeMap<String, String>,
    pub instance: Option<u32>,
    pub priority: i64,
    pub stickiness: i64,
    pub managed: bool,
    pub target_role: Role,
    pub migration_threshold: i64,
    pub failure_timeout_s: i64,
    pub allow_migrate: bool,
    pub globally_unique: bool,
    pub promotable: bool,
    pub interleave: bool,
    pub ordered: bool,
    pub clone_max: usize,
    pub clone_node_max: usize,
    pub promoted_max: usize,
    pub promoted_node_max: usize,
    pub requires_fencing: bool,
    pub current: Vec<Current>,
    /// Nodes whose history says anything about this primitive (no probe needed).
    pub known_on: Vec<bool>,
    /// Nodes whose history was attributed to this very instance (for an
    /// anonymous clone, Pacemaker gives each node's history to one
    /// instance): what its promotion scores may count.
    pub instance_known_on: Vec<bool>,
    /// Last failure bans: fail count reached migration-threshold.
    pub banned_by_failures: Vec<bool>,
    pub orphan: bool,
    /// A failure with on-fail=block: no further actions may run on it.
    pub blocked: bool,
    /// A contained resource's failure asks for this container's restart.
    pub restart_requested: bool,
    /// Sources of completed live migrations: stopped without being counted
    /// as active there.
    pub dangling: Vec<usize>,
}

impl Rsc {
    pub fn is_active(&self) -> bool {
        !self.current.is_empty()
    }
    pub fn failed(&self) -> bool {
        self.current.iter().any(|c| c.failed)
    }
    pub fn current_role(&self) -> Role {
        self.current
            .iter()
            .map(|c| c.role)
            .max()
            .unwrap_or(Role::Stopped)
    }
}

/// The generated parts of a bundle, by replica number.
#[derive(Debug, Clone, Default)]
pub struct BundleParts {
    pub containers: Vec<usize>,
    pub ips: Vec<usize>,
    pub remotes: Vec<usize>,
    /// The clone of the resource inside, if any.
    pub inner: Option<usize>,
    pub replicas_per_host: usize,
}

/// The `n`th address after `start` (IPv4 only).
fn next_ip(start: &str, n: u32) -> Option<String> {
    let addr: std::net::Ipv4Addr = start.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(addr).checked_add(n)?).to_string())
}

#[derive(Debug, Clone)]
pub struct Working {
    pub bundles: BTreeMap<usize, BundleParts>,
    /// Implicit guest-node connection id -> its container resource.
    pub guest_containers: BTreeMap<String, usize>,
    /// Every node the cluster will know: configured, remote and guest.
    pub default_clone_max: usize,
    pub cib: Cib,
    pub now_epoch_s: i64,
    pub nodes: Vec<NodeInfo>,
    pub node_index: HashMap<String, usize>,
    pub rscs: Vec<Rsc>,
    /// Top-level resources in configuration order.
    pub top: Vec<usize>,
    pub by_id: HashMap<String, usize>,
    pub fencing_enabled: bool,
    /// Something can fence: a fence device is configured, or the nodes
    /// fence themselves by watchdog (`have-watchdog`).
    pub have_fencing: bool,
    pub symmetric: bool,
    pub have_quorum: bool,
    pub no_quorum_policy: String,
    pub maintenance_mode: bool,
    pub stop_orphans: bool,
    pub placement_strategy: String,
    pub fence_action: String,
    /// What changed in resources' definitions since they ran (restarts,
    /// reloads, monitors to reissue or cancel, fail counts to clear).
    pub changes: Vec<super::definition::Change>,
    /// The CIB's private parameters may be masked (a simulation of a
    /// crm_report CIB): histories are compared without them.
    pub secrets_masked: bool,
}

fn meta_int(meta: &BTreeMap<String, String>, key: &str, default: i64) -> i64 {
    meta.get(key)
        .and_then(|v| score::parse(v))
        .unwrap_or(default)
}

fn meta_bool(meta: &BTreeMap<String, String>, key: &str, default: bool) -> bool {
    meta.get(key).map(|v| parse_bool(v)).unwrap_or(default)
}

impl Working {
    /// Fencing is enabled with nothing to fence with: resources are held
    /// where they are (probes still run), see `unpack_have_fencing`.
    pub fn start_up_disabled(&self) -> bool {
        self.fencing_enabled && !self.have_fencing
    }

    pub fn node_named(&self, name: &str) -> Option<usize> {
        self.node_index.get(name).copied()
    }

    /// The top-level ancestor of a resource.
    pub fn top_of(&self, mut r: usize) -> usize {
        while let Some(p) = self.rscs[r].parent {
            r = p;
        }
        r
    }

    /// Whether a resource sits (at any depth) in a promotable clone: its
    /// nearest clone ancestor is promotable.
    pub fn in_promotable_clone(&self, r: usize) -> bool {
        let mut ancestor = self.rscs[r].parent;
        while let Some(p) = ancestor.filter(|&p| self.rscs[p].variant != Variant::Clone) {
            ancestor = self.rscs[p].parent;
        }
        ancestor.is_some_and(|c| self.rscs[c].promotable)
    }

    /// Every primitive below (or equal to) a resource.
    pub fn primitives_of(&self, r: usize, out: &mut Vec<usize>) {
        if self.rscs[r].variant == Variant::Primitive {
            out.push(r);
        }
        for &c in &self.rscs[r].children {
            self.primitives_of(c, out);
        }
    }
}

pub fn unpack(cib: Cib, now_epoch_s: i64, options: super::Options) -> Working {
    let props = &cib.properties;
    let fencing_enabled = cib.bool_property("fencing-enabled", true);
    let symmetric = cib.bool_property("symmetric-cluster", true);
    let maintenance_mode = cib.bool_property("maintenance-mode", false);
    let stop_orphans = cib.bool_property("stop-orphan-resources", true);
    let no_quorum_policy = props
        .get("no-quorum-policy")
        .cloned()
        .unwrap_or_else(|| "stop".into());
    let placement_strategy = props
        .get("placement-strategy")
        .cloned()
        .unwrap_or_else(|| "default".into());
    let fence_action = props
        .get("fencing-action")
        .cloned()
        .unwrap_or_else(|| "reboot".into());
    let have_quorum = cib.have_quorum;
    let mut w = Working {
        bundles: BTreeMap::new(),
        guest_containers: BTreeMap::new(),
        default_clone_max: 0,
        nodes: Vec::new(),
        node_index: HashMap::new(),
        rscs: Vec::new(),
        top: Vec::new(),
        by_id: HashMap::new(),
        fencing_enabled,
        have_fencing: false,
        symmetric,
        have_quorum,
        no_quorum_policy,
        maintenance_mode,
        stop_orphans,
        placement_strategy,
        fence_action,
        now_epoch_s,
        cib,
        changes: Vec::new(),
        secrets_masked: options.secrets_masked,
    };
    unpack_nodes(&mut w);
    // no-quorum-policy=suicide: every node of an inquorate partition fences
    // itself (when the cluster layer asked for it).
    if !w.have_quorum
        && w.no_quorum_policy == "suicide"
        && w.cib.no_quorum_panic
        && w.fencing_enabled
    {
        for n in &mut w.nodes {
            if n.online && n.kind == NodeKind::Member && !n.unclean {
                n.unclean = true;
                n.unclean_reason = "cluster does not have quorum".into();
            }
        }
    }
    w.default_clone_max = count_all_nodes(&w);
    // Borrowed out of the CIB while the arena grows, then put back.
    let resources = std::mem::take(&mut w.cib.resources);
    let defaults = w.cib.rsc_defaults.clone();
    for r in &resources {
        let idx = add_resource(&mut w, r, None, &defaults, None);
        w.top.push(idx);
    }
    w.cib.resources = resources;
    add_guest_connections(&mut w, &defaults);
    unpack_remote_nodes(&mut w);
    unpack_history(&mut w);
    decide_remote_nodes(&mut w);
    decide_lost_guests(&mut w);
    // multiple-active: what to do with a primitive found on several nodes.
    for r in 0..w.rscs.len() {
        if w.rscs[r].current.len() < 2 {
            continue;
        }
        match w.rscs[r].meta.get("multiple-active").map(String::as_str) {
            Some("block") => {
                // Frozen; in a group configured so, the whole group.
                let mut frozen = vec![r];
                if let Some(g) = w.rscs[r]
                    .parent
                    .filter(|&g| matches!(w.rscs[g].variant, Variant::Group | Variant::Bundle))
                {
                    frozen.extend(w.rscs[g].children.iter().copied());
                }
                for x in frozen {
                    w.rscs[x].managed = false;
                    w.rscs[x].blocked = true;
                }
            }
            Some("stop_only") => w.rscs[r].target_role = Role::Stopped,
            _ => {}
        }
    }
    // Fencing a node releases what was blocked there: it will be stopped.
    let quorate = w.have_quorum || w.no_quorum_policy == "ignore";
    // A copy on a node about to be fenced goes away with the node; what runs
    // elsewhere is what counts.
    for r in 0..w.rscs.len() {
        if w.rscs[r].current.len() < 2 {
            continue;
        }
        let doomed = |c: &Current| {
            let n = &w.nodes[c.node];
            n.unclean && w.fencing_enabled && (quorate || n.online)
        };
        let survivors = w.rscs[r].current.iter().filter(|c| !doomed(c)).count();
        if survivors == 1 {
            let kept: Vec<Current> = w.rscs[r]
                .current
                .iter()
                .filter(|c| !doomed(c))
                .cloned()
                .collect();
            w.rscs[r].current = kept;
        }
    }
    for r in 0..w.rscs.len() {
        if !w.rscs[r].blocked {
            continue;
        }
        let fenced = w.rscs[r].current.iter().all(|c| {
            let n = &w.nodes[c.node];
            n.unclean && w.fencing_enabled && (quorate || n.online)
        });
        if fenced && !w.rscs[r].current.is_empty() {
            w.rscs[r].blocked = false;
            w.rscs[r].managed = true;
            for c in &mut w.rscs[r].current {
                c.failed = false;
            }
        }
    }
    // Resources on a node in maintenance are left alone.
    for r in 0..w.rscs.len() {
        if w.rscs[r]
            .current
            .iter()
            .any(|c| w.nodes[c.node].maintenance)
        {
            w.rscs[r].managed = false;
        }
    }
    unpack_ticket_fencing(&mut w);
    unpack_have_fencing(&mut w);
    w
}

/// With fencing enabled but nothing to fence with (no fence device, no
/// watchdog), Pacemaker starts, stops and recovers nothing ("resource
/// start-up disabled"): it could not recover a node that failed while
/// running a resource. It still probes, so the status stays true, and
/// nodes are not fenced (`remote::can_fence`). `Working::start_up_disabled`
/// holds resources where they are without showing them as unmanaged.
fn unpack_have_fencing(w: &mut Working) {
    // A fence device only left in the status section (an orphan) counts too.
    let device = w.rscs.iter().any(|r| {
        r.variant == Variant::Primitive && r.agent.as_ref().is_some_and(|a| a.class == "stonith")
    });
    w.have_fencing = device || w.cib.bool_property("have-watchdog", false);
}

/// `loss-policy=fence`: a node running a resource whose ticket was revoked
/// is fenced.
fn unpack_ticket_fencing(w: &mut Working) {
    let tickets = w.cib.tickets.clone();
    for t in tickets {
        if t.loss_policy != "fence" {
            continue;
        }
        let granted = w
            .cib
            .ticket_state
            .get(&t.ticket)
            .and_then(|s| s.get("granted"))
            .is_some_and(|v| parse_bool(v));
        if granted {
            continue;
        }
        let Some(&r) = w.by_id.get(&t.resource) else {
            continue;
        };
        let mut prims = Vec::new();
        w.primitives_of(r, &mut prims);
        for p in prims {
            let nodes: Vec<usize> = w.rscs[p]
                .current
                .iter()
                .filter(|c| t.role != Some(Role::Promoted) || c.role == Role::Promoted)
                .map(|c| c.node)
                .collect();
            for n in nodes {
                if w.fencing_enabled && !w.nodes[n].unclean {
                    w.nodes[n].unclean = true;
                    w.nodes[n].unclean_reason = "deadman ticket was lost".into();
                }
            }
        }
    }
}

fn unpack_nodes(w: &mut Working) {
    let startup_fencing = w.cib.bool_property("startup-fencing", true);
    let states: HashMap<String, usize> = w
        .cib
        .node_states
        .iter()
        .enumerate()
        .flat_map(|(i, s)| [(s.id.clone(), i), (s.uname.clone(), i)])
        .collect();
    let configs = w.cib.nodes.clone();
    let pending_timeout_ms = w
        .cib
        .property("node-pending-timeout")
        .and_then(parse_interval_ms)
        .unwrap_or(0);
    let now = w.now_epoch_s;
    let pending_too_long =
        |s: &crate::model::cib::NodeState| pending_timed_out(s, pending_timeout_ms, now);
    for n in configs {
        let state = states
            .get(&n.id)
            .or_else(|| states.get(&n.uname))
            .map(|&i| w.cib.node_states[i].clone());
        let mut attrs = n.attrs.clone();
        let mut info = NodeInfo {
            utilization: n.utilization.clone(),
            node_score: n.score,
            ..NodeInfo::offline(&n.uname, &n.id, n.kind.clone(), state.is_some())
        };
        if n.kind == NodeKind::Remote {
            // Remote nodes are online when their connection runs; decided
            // once the connection resource's history is known.
            if let Some(s) = &state {
                for (k, v) in &s.transient {
                    attrs.insert(k.clone(), v.clone());
                }
            }
        } else {
            match &state {
                Some(s) => {
                    for (k, v) in &s.transient {
                        attrs.insert(k.clone(), v.clone());
                    }
                    for (k, v) in &s.transient_utilization {
                        info.utilization.insert(k.clone(), v.clone());
                    }
                    // The "terminate" attribute asks for the node to be fenced.
                    let terminate = attrs
                        .get("terminate")
                        .is_some_and(|v| parse_bool(v) || v.parse::<i64>().is_ok_and(|n| n > 0));
                    info.shutdown = s.shutdown || attrs.get("shutdown").is_some_and(|v| v != "0");
                    decide_member_state(
                        &mut info,
                        s,
                        w.fencing_enabled,
                        pending_too_long(s),
                        terminate,
                    );
                }
                None => {
                    // A node never seen: unclean if startup fencing applies.
                    if w.fencing_enabled && startup_fencing {
                        info.unclean = true;
                        info.unclean_reason = "node is unclean".into();
                    }
                }
            }
        }
        let is_dc = w.cib.dc_uuid.as_deref() == Some(info.id.as_str());
        attrs.insert("#is_dc".into(), is_dc.to_string());
        finish_attrs(&mut info, attrs);
        w.node_index.insert(info.name.clone(), w.nodes.len());
        w.nodes.push(info);
    }
}

/// A remote or guest node whose state is never read (its connection is not
/// known to run, and fencing is off so no last pass reads it) keeps only
/// its configured attributes: its transient ones (fail counts, standby) are
/// as unknown as its resources, as in Pacemaker.
fn forget_transient_attrs(w: &mut Working, node: usize) {
    let name = w.nodes[node].name.clone();
    let configured = w
        .cib
        .nodes
        .iter()
        .find(|n| n.uname == name)
        .map(|n| n.attrs.clone())
        .unwrap_or_default();
    let info = &mut w.nodes[node];
    info.standby = false;
    info.shutdown = false;
    let mut attrs = configured;
    attrs.insert("#is_dc".into(), "false".into());
    finish_attrs(info, attrs);
}

fn finish_attrs(info: &mut NodeInfo, mut attrs: BTreeMap<String, String>) {
    info.standby |= attrs.get("standby").is_some_and(|v| parse_bool(v));
    info.maintenance = attrs.get("maintenance").is_some_and(|v| parse_bool(v));
    if attrs.get("shutdown").is_some_and(|v| v != "0") {
        info.shutdown = true;
    }
    attrs.insert("#uname".into(), info.name.clone());
    attrs.insert("#id".into(), info.id.clone());
    let kind = match info.kind {
        NodeKind::Member => "cluster",
        NodeKind::Remote => "remote",
        NodeKind::Guest => "container",
    };
    attrs.insert("#kind".into(), kind.into());
    info.attrs = attrs;
}

/// Whether a node that joined the membership but never came up has been
/// pending for longer than `node-pending-timeout` (0, the default, waits
/// for ever).
fn pending_timed_out(s: &crate::model::cib::NodeState, timeout_ms: u64, now: i64) -> bool {
    let Some(since) = s.member_since else {
        return false;
    };
    let timeout_s = i64::try_from(timeout_ms / 1000).unwrap_or(i64::MAX);
    timeout_ms > 0 && !s.crmd_online && now >= since.saturating_add(timeout_s)
}

/// How a cluster node's membership, controller and join states decide
/// whether it is online, pending (up but not ready: treated as in standby
/// and unable to run actions) or to be fenced. With fencing enabled, a node
/// the cluster layer reports as a member counts as online even while it is
/// still joining; without fencing, only a full member is online.
fn decide_member_state(
    info: &mut NodeInfo,
    s: &crate::model::cib::NodeState,
    fencing: bool,
    pending_timed_out: bool,
    terminate: bool,
) {
    let member = s.in_ccm;
    let controller = s.crmd_online;
    if !fencing {
        if member && controller && s.join == "member" {
            info.online = true;
        } else if member && !controller && s.expected == "member" {
            info.mark_unclean("peer is unexpectedly down".into());
        }
        return;
    }
    if info.shutdown {
        // A node shutting down cannot be fenced for being down.
        info.online = controller;
        return;
    }
    if !s.in_ccm_recorded {
        info.mark_unclean("peer has not been seen by the cluster".into());
        return;
    }
    if s.join == "banned" {
        info.mark_unclean("peer failed Pacemaker membership criteria".into());
    } else if terminate {
        if !member && !controller && s.join == "down" {
            // Fenced as requested.
            return;
        }
        info.mark_unclean("fencing was requested".into());
    } else if s.expected != "member" {
        if pending_timed_out {
            info.mark_unclean("peer pending timed out on joining the process group".into());
        } else if member || controller {
            info.pending = true;
            info.standby = true;
        }
    } else if !member {
        info.mark_unclean("peer is no longer part of the cluster".into());
    } else if !controller {
        info.mark_unclean("peer process is no longer available".into());
    } else if s.join == "member" {
    } else if s.join == "pending" || s.join == "down" {
        info.pending = true;
        info.standby = true;
    } else {
        info.mark_unclean("peer was in an unknown state".into());
    }
    info.online = member;
}

fn add_resource(
    w: &mut Working,
    r: &ResourceConfig,
    parent: Option<usize>,
    inherited: &BTreeMap<String, String>,
    instance: Option<u32>,
) -> usize {
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
    let id = match instance {
        Some(n) => format!("{}:{}", r.id, n),
        None => r.id.clone(),
    };
    let variant = match r.kind {
        ResourceKind::Primitive { .. } => Variant::Primitive,
        ResourceKind::Group { .. } => Variant::Group,
        ResourceKind::Clone { .. } => Variant::Clone,
        ResourceKind::Bundle { .. } => Variant::Bundle,
    };
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
    // Old CIBs wrote "stopped" in lower case; Pacemaker honours that on
    // primitives (collectives of that era ignored it).
    let target_role = meta
        .get("target-role")
        .and_then(|v| match Role::parse(v) {
            Some(role) => Some(role),
            None if v.eq_ignore_ascii_case("stopped") && agent.is_some() => Some(Role::Stopped),
            None => None,
        })
        .unwrap_or(Role::Unknown);
    let requires_fencing = agent.as_ref().is_none_or(|a| a.class != "stonith")
        && meta
            .get("requires")
            .is_none_or(|v| v == "fencing" || v == "unfencing");
    // Remote connections migrate unless told otherwise.
    let is_connection = agent
        .as_ref()
        .is_some_and(|a| a.provider.as_deref() == Some("pacemaker") && a.kind == "remote");
    let rsc = Rsc {
        base: r.id.clone(),
        id: id.clone(),
        variant,
        parent,
        children: Vec::new(),
        agent,
        ops,
        params: {
            // Instance attributes set on a group or clone reach its members
            // (the member's own win), as in Pacemaker.
            let mut params = r.params.clone();
            if let Some(p) = parent {
                for (k, v) in &w.rscs[p].params {
                    params.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            params
        },
        utilization: r.utilization.clone(),
        instance,
        priority: meta_int(&meta, "priority", 0),
        stickiness: meta_int(&meta, "resource-stickiness", stickiness_default),
        managed: meta_bool(&meta, "is-managed", true) && !meta_bool(&meta, "maintenance", false),
        target_role,
        migration_threshold: meta_int(&meta, "migration-threshold", INFINITY),
        failure_timeout_s: meta
            .get("failure-timeout")
            .and_then(|v| parse_interval_ms(v))
            .map(|ms| (ms / 1000) as i64)
            .unwrap_or(0),
        // Remote connections migrate unless told otherwise.
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
        meta: meta.clone(),
    };
    let idx = w.rscs.len();
    w.rscs.push(rsc);
    if instance.is_none() {
        w.by_id.insert(id.clone(), idx);
    } else {
        w.by_id.insert(id, idx);
    }
    // Children inherit the parent's meta attributes (target-role, is-managed...).
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
    match &r.kind {
        ResourceKind::Primitive { .. } => {}
        ResourceKind::Group { children } => {
            for c in children {
                let ci = add_resource(w, c, Some(idx), &child_meta, instance);
                w.rscs[idx].children.push(ci);
            }
        }
        ResourceKind::Clone { child, .. } => {
            let count = w.rscs[idx].clone_max;
            for n in 0..count {
                let ci = add_resource(w, child, Some(idx), &child_meta, Some(n as u32));
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
        ResourceKind::Bundle {
            child,
            replicas,
            container,
            replicas_per_host,
            promoted_max,
            ip_range_start,
        } => {
            // A bundle is its replicas' containers (plus an IP each when a
            // range is given), and, with a resource inside, a guest-node
            // connection per replica and that resource as a clone whose
            // instance N runs on guest node "<bundle>-N".
            let mut parts = BundleParts {
                replicas_per_host: (*replicas_per_host).max(1) as usize,
                ..Default::default()
            };
            let primitive =
                |id: String, agent: AgentSpec, params: BTreeMap<String, String>| ResourceConfig {
                    id,
                    kind: ResourceKind::Primitive {
                        agent,
                        ops: Vec::new(),
                    },
                    meta: BTreeMap::new(),
                    params,
                    utilization: BTreeMap::new(),
                };
            for n in 0..*replicas {
                let cfg = primitive(
                    format!("{}-{}-{}", r.id, container.kind, n),
                    container.clone(),
                    BTreeMap::new(),
                );
                let ci = add_resource(w, &cfg, Some(idx), &child_meta, None);
                w.rscs[idx].children.push(ci);
                parts.containers.push(ci);
            }
            if let Some(start) = ip_range_start {
                for n in 0..*replicas {
                    let ip = next_ip(start, n).unwrap_or_else(|| start.clone());
                    let mut params = BTreeMap::new();
                    params.insert("ip".to_string(), ip.clone());
                    let agent = AgentSpec {
                        class: "ocf".into(),
                        provider: Some("heartbeat".into()),
                        kind: "IPaddr2".into(),
                    };
                    let cfg = primitive(format!("{}-ip-{}", r.id, ip), agent, params);
                    let ci = add_resource(w, &cfg, Some(idx), &child_meta, None);
                    w.rscs[idx].children.push(ci);
                    parts.ips.push(ci);
                }
            }
            if let Some(child) = child {
                for n in 0..*replicas {
                    let agent = AgentSpec {
                        class: "ocf".into(),
                        provider: Some("pacemaker".into()),
                        kind: "remote".into(),
                    };
                    let cfg = primitive(format!("{}-{}", r.id, n), agent, BTreeMap::new());
                    let ci = add_resource(w, &cfg, Some(idx), &child_meta, None);
                    // Like a guest's, it follows its container; it never
                    // migrates on its own.
                    w.rscs[ci].allow_migrate = false;
                    w.rscs[idx].children.push(ci);
                    parts.remotes.push(ci);
                }
                let mut meta = BTreeMap::new();
                meta.insert("clone-max".to_string(), replicas.to_string());
                meta.insert("clone-node-max".to_string(), "1".to_string());
                meta.insert("promoted-max".to_string(), promoted_max.to_string());
                let promotable = *promoted_max > 0;
                // "-master" only for the legacy promoted-max on the container
                // element; a bundle made promotable by its meta gets "-clone".
                let by_meta = r
                    .meta
                    .get("promotable")
                    .is_some_and(|v| crate::model::cib::parse_bool(v));
                let suffix = if promotable && !by_meta {
                    "master"
                } else {
                    "clone"
                };
                let cfg = ResourceConfig {
                    id: format!("{}-{}", r.id, suffix),
                    kind: ResourceKind::Clone {
                        child: child.clone(),
                        promotable,
                    },
                    meta,
                    params: BTreeMap::new(),
                    utilization: BTreeMap::new(),
                };
                let ci = add_resource(w, &cfg, Some(idx), &child_meta, None);
                w.rscs[idx].children.push(ci);
                parts.inner = Some(ci);
            }
            w.bundles.insert(idx, parts);
        }
    }
    idx
}

/// The node a resource is active on, as Pacemaker picks it among several:
/// the first one it was found on, unless the resource does not need
/// fencing, in which case the first node that is online and clean.
pub fn current_node(w: &Working, r: usize) -> Option<usize> {
    let rsc = &w.rscs[r];
    if rsc.variant != Variant::Primitive {
        let mut prims = Vec::new();
        w.primitives_of(r, &mut prims);
        return prims.iter().find_map(|&p| current_node(w, p));
    }
    let first = rsc.current.first().map(|c| c.node)?;
    if rsc.requires_fencing {
        return Some(first);
    }
    rsc.current
        .iter()
        .map(|c| c.node)
        .find(|&n| w.nodes[n].online && !w.nodes[n].unclean)
        .or(Some(first))
}

/// The node a remote connection was left migrating to: its last operation
/// on its only node was a successful migrate_to, not yet completed there.
pub fn partial_migration_target(w: &Working, r: usize) -> Option<usize> {
    let is_connection = w.nodes.iter().any(|n| {
        n.kind == NodeKind::Remote && n.connection.as_deref() == Some(w.rscs[r].id.as_str())
    });
    let [only] = w.rscs[r].current.as_slice() else {
        return None;
    };
    if !is_connection {
        return None;
    }
    w.node_named(only.migrated_to.as_deref()?)
        .filter(|&t| t != only.node && w.nodes[t].can_host())
}

/// The container behind a guest node (implicit guest or bundle replica).
pub fn guest_container(w: &Working, node: usize) -> Option<usize> {
    let conn = w.nodes[node].connection.as_ref()?;
    if let Some(&c) = w.guest_containers.get(conn) {
        return Some(c);
    }
    w.bundles.values().find_map(|b| {
        let i = b.remotes.iter().position(|&r| &w.rscs[r].id == conn)?;
        b.containers.get(i).copied()
    })
}

/// A guest whose container or connection failed loses its resources: they
/// are recovered once the container is back.
fn decide_lost_guests(w: &mut Working) {
    for n in 0..w.nodes.len() {
        if w.nodes[n].kind != NodeKind::Guest {
            continue;
        }
        let Some(container) = guest_container(w, n) else {
            continue;
        };
        let conn = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .map(|&c| &w.rscs[c]);
        let conn_failed = conn.is_some_and(|c| c.failed());
        let conn_active = conn.is_some_and(|c| {
            c.current
                .iter()
                .any(|cur| w.nodes[cur.node].online || w.nodes[cur.node].unclean)
        });
        let has_resources = w.rscs.iter().any(|r| r.current.iter().any(|c| c.node == n));
        // Unclean: something failed to stop there (on-fail=fence).
        let unclean = w.nodes[n].unclean;
        let down = w.rscs[container].failed() || conn_failed || !w.nodes[n].online || unclean;
        // A guest that was up (its connection active) when its container
        // failed is unclean even with nothing on it.
        let was_up_when_failed =
            conn_active && (w.rscs[container].failed() || conn_failed || unclean);
        if down && (has_resources || was_up_when_failed) && w.rscs[container].managed {
            w.nodes[n].guest_lost = Some(w.rscs[container].id.clone());
            // A guest is fenced by recovering its container.
            for c in &mut w.rscs[container].current {
                c.failed = true;
            }
            for r in &mut w.rscs {
                for c in &mut r.current {
                    if c.node == n {
                        c.failed = true;
                    }
                }
            }
        }
    }
}

/// Configured nodes plus remote and guest nodes defined by resources: the
/// default clone-max.
fn count_all_nodes(w: &Working) -> usize {
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

/// A primitive with `remote-node=NAME` hosts guest node NAME: Pacemaker
/// adds an implicit connection resource NAME that runs with the container.
fn add_guest_connections(w: &mut Working, defaults: &BTreeMap<String, String>) {
    let guests: Vec<(usize, String)> = w
        .rscs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.variant == Variant::Primitive && r.instance.is_none())
        .filter_map(|(i, r)| r.meta.get("remote-node").map(|g| (i, g.clone())))
        .collect();
    for (container, name) in guests {
        if w.by_id.contains_key(&name) {
            continue;
        }
        let cfg = ResourceConfig {
            id: name.clone(),
            kind: ResourceKind::Primitive {
                agent: AgentSpec {
                    class: "ocf".into(),
                    provider: Some("pacemaker".into()),
                    kind: "remote".into(),
                },
                ops: Vec::new(),
            },
            meta: BTreeMap::new(),
            params: guest_connection_params(&w.rscs[container].meta),
            utilization: BTreeMap::new(),
        };
        let conn = add_resource(w, &cfg, None, defaults, None);
        // Follows its container everywhere; never migrates on its own.
        w.rscs[conn].allow_migrate = false;
        w.rscs[conn].target_role = w.rscs[container].target_role;
        w.top.push(conn);
        w.guest_containers.insert(name, container);
    }
}

/// A guest's implicit connection points where its container's meta
/// attributes say, as Pacemaker maps them: `remote-addr` to `server`,
/// `remote-port` to `port` (without them: the guest's name, port 3121).
fn guest_connection_params(meta: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    [("remote-addr", "server"), ("remote-port", "port")]
        .into_iter()
        .filter_map(|(from, to)| meta.get(from).map(|v| (to.to_string(), v.clone())))
        .collect()
}

/// Remote nodes (ocf:pacemaker:remote primitives) and guest nodes
/// (`remote-node` meta) become nodes whose availability follows their
/// connection resource.
fn unpack_remote_nodes(w: &mut Working) {
    let mut new_nodes = Vec::new();
    for r in &w.rscs {
        if r.variant != Variant::Primitive {
            continue;
        }
        let is_remote = r
            .agent
            .as_ref()
            .is_some_and(AgentSpec::is_remote_connection);
        let in_bundle = r
            .parent
            .is_some_and(|p| matches!(w.rscs[p].variant, Variant::Bundle))
            || w.guest_containers.contains_key(&r.id);
        if is_remote && in_bundle {
            new_nodes.push((r.id.clone(), NodeKind::Guest, r.id.clone()));
        } else if is_remote {
            new_nodes.push((r.id.clone(), NodeKind::Remote, r.id.clone()));
        }
    }
    // A remote connection only left in the history (an orphan) still names
    // a remote node: what runs there is read and stopped, as the reference
    // does. (Orphaned guest connections, with a container, are not.)
    for state in &w.cib.node_states {
        for lrm in &state.lrm {
            let is_remote = lrm
                .agent
                .as_ref()
                .is_some_and(AgentSpec::is_remote_connection);
            let known = w.by_id.contains_key(&lrm.id)
                || new_nodes.iter().any(|(name, _, _)| *name == lrm.id);
            if is_remote && lrm.container.is_none() && !known && !lrm.ops.is_empty() {
                new_nodes.push((lrm.id.clone(), NodeKind::Remote, lrm.id.clone()));
            }
        }
    }
    for (name, kind, connection) in new_nodes {
        let was_fenced = w
            .cib
            .node_states
            .iter()
            .any(|s| (s.uname == name || s.id == name) && s.fenced);
        let idx = match w.node_index.get(&name) {
            Some(&i) => i,
            None => {
                let state = w
                    .cib
                    .node_states
                    .iter()
                    .find(|s| s.uname == name || s.id == name)
                    .cloned();
                let mut info = NodeInfo::offline(&name, &name, kind.clone(), state.is_some());
                let attrs = state.map(|s| s.transient.clone()).unwrap_or_default();
                finish_attrs(&mut info, attrs);
                w.node_index.insert(name.clone(), w.nodes.len());
                w.nodes.push(info);
                w.nodes.len() - 1
            }
        };
        // A bundle replica's node runs only the bundle's resource: every
        // other resource starts from -INFINITY there.
        if kind == NodeKind::Guest && !w.guest_containers.contains_key(&name) {
            w.nodes[idx].node_score = -INFINITY;
        }
        w.nodes[idx].kind = kind;
        w.nodes[idx].connection = Some(connection);
        w.nodes[idx].was_fenced = was_fenced;
    }
    let n = w.nodes.len();
    for r in &mut w.rscs {
        r.known_on.resize(n, false);
        r.instance_known_on.resize(n, false);
        r.banned_by_failures.resize(n, false);
    }
}

/// The result of replaying one primitive's history on one node.
struct Replay {
    /// A hard error (invalid args, privileges, not installed): never here again.
    ban_here: bool,
    /// Not configured: nowhere at all.
    ban_everywhere: bool,
    needs_demote: bool,
    role: Role,
    failed: bool,
    on_fail: Option<String>,
    stop_failed: bool,
    pending: bool,
    migrated_to: Option<String>,
}

/// What a failed operation asks for (Pacemaker's on-fail): the configured
/// value where valid, else the default: restarting the container for a
/// resource inside one, resetting the remote node for a connection that
/// was up (anything but a probe or a start), fencing (or blocking, without
/// fencing) for a stop, restarting for anything else.
fn op_on_fail(rsc: &Rsc, op: &LrmOp, fencing: bool, remote_conn: bool) -> String {
    let configured = rsc
        .ops
        .iter()
        .find(|o| o.name == op.operation && o.interval_ms == op.interval_ms)
        .and_then(|o| o.on_fail.clone());
    let in_container = rsc.meta.get("container").is_some_and(|c| *c != rsc.base);
    let explicit = configured.and_then(|c| match c.to_ascii_lowercase().as_str() {
        "block" | "standby" | "stop" | "restart" | "demote" => Some(c.to_ascii_lowercase()),
        "ignore" | "nothing" => Some("ignore".to_string()),
        "migrate" => Some("ban".to_string()),
        "fence" if fencing => Some("fence".to_string()),
        "restart-container" if in_container => Some("restart-container".to_string()),
        _ => None,
    });
    let is_probe = op.operation == "monitor" && op.interval_ms == 0;
    let needs_remote_reset = remote_conn && !is_probe && op.operation != "start";
    let explicit = explicit.filter(|_| !needs_remote_reset || rsc.managed);
    if let Some(c) = explicit {
        return c;
    }
    if in_container {
        return "restart-container".into();
    }
    if needs_remote_reset {
        return if rsc.managed {
            "reset-remote".into()
        } else {
            "stop".into()
        };
    }
    if op.operation == "stop" {
        return if fencing {
            "fence".into()
        } else {
            "block".into()
        };
    }
    "restart".into()
}

/// The rc the controller expected of an operation: the third field of its
/// transition key ("action:transition:expected-rc:uuid").
fn expected_rc_of(op: &crate::model::cib::LrmOp) -> Option<i32> {
    op.transition_key
        .as_deref()
        .and_then(|k| k.split(':').nth(2))
        .and_then(|v| v.parse::<i32>().ok())
}

fn replay(rsc: &Rsc, lrm: &LrmResource, now: i64, fencing: bool, remote_conn: bool) -> Replay {
    let mut ops: Vec<&LrmOp> = lrm.ops.iter().collect();
    ops.sort_by_key(|o| (o.call_id < 0, o.call_id));
    let mut st = Replay {
        ban_here: false,
        ban_everywhere: false,
        needs_demote: false,
        role: Role::Unknown,
        failed: false,
        on_fail: None,
        stop_failed: false,
        pending: false,
        migrated_to: None,
    };
    for op in ops {
        let expired = rsc.failure_timeout_s > 0
            && op
                .last_rc_change
                .is_some_and(|t| t + rsc.failure_timeout_s <= now);
        let is_probe = op.operation == "monitor" && op.interval_ms == 0;
        // Execution status: -1 pending, 0 done, 1 cancelled, 2 timed out,
        // 3 not supported, 4 error (rc says more), 5 hard error, 6 fatal,
        // 7 not installed.
        if op.op_status == -1 || op.call_id == -1 {
            // An operation past failure-timeout that has not got the result
            // expected of it counts as an expired failure: ignored, even in
            // flight.
            if expired && op.rc != expected_rc_of(op).unwrap_or(0) {
                continue;
            }
            // In flight: a start or promote in progress means active.
            match op.operation.as_str() {
                "start" | "migrate_from" => st.role = Role::Started,
                "promote" => st.role = Role::Promoted,
                "stop" => {}
                "monitor" if !is_probe => {}
                _ => {}
            }
            st.pending = true;
            continue;
        }
        if op.op_status == 1 {
            continue; // cancelled
        }
        if op.op_status == 5 || op.op_status == 7 {
            st.ban_here = true;
        }
        if op.op_status == 6 {
            st.ban_everywhere = true;
        }
        // OCF 1.1 "degraded" codes count as their healthy equivalents.
        let rc = match op.rc {
            190 => 0,
            191 => 8,
            other => other,
        };
        // Status "error" (4) in old CIBs just means the rc was not 0; the rc
        // decides. Other statuses (timeout, not supported...) are failures.
        // The transition key "action:transition:expected-rc:uuid" says what
        // the controller expected; a recurring monitor is fine when it got it.
        let expected_rc = expected_rc_of(op);
        let success = match op.operation.as_str() {
            "monitor" if is_probe => rc == 0 || rc == 7 || rc == 8,
            "monitor" => match expected_rc {
                Some(e) if rc == 0 || rc == 7 || rc == 8 => e == rc,
                _ => rc == 0 || rc == 8 || rc == 7,
            },
            _ => rc == 0,
        } && (op.op_status == 0 || op.op_status == 4);
        // Any operation that found it stopped when the controller expected
        // exactly that (the transition key says so) is no failure.
        if op.operation != "monitor"
            && rc == 7
            && expected_rc == Some(7)
            && (op.op_status == 0 || op.op_status == 4)
        {
            st.role = Role::Stopped;
            clear(&mut st);
            continue;
        }
        if success && op.operation == "monitor" && !is_probe && rc == 7 && expected_rc == Some(7) {
            // A role=Stopped monitor confirming it is stopped.
            st.role = Role::Stopped;
            continue;
        }
        if success {
            match op.operation.as_str() {
                "start" | "migrate_from" => {
                    st.role = Role::Started;
                    st.migrated_to = None;
                    clear(&mut st);
                }
                "stop" => {
                    st.role = Role::Stopped;
                    st.migrated_to = None;
                    st.stop_failed = false;
                    clear(&mut st);
                }
                "promote" => {
                    st.role = Role::Promoted;
                    clear(&mut st);
                }
                "demote" => {
                    st.role = Role::Unpromoted;
                    // A demote settles only a failure that asked for it.
                    st.needs_demote = false;
                    if st.on_fail.as_deref() == Some("demote") {
                        clear(&mut st);
                    }
                }
                "migrate_to" => {
                    st.role = Role::Started;
                    st.migrated_to = op.migrate_target.clone();
                }
                "monitor" => {
                    if rc == 7 {
                        if is_probe {
                            st.role = Role::Stopped;
                            clear(&mut st);
                        } else if !expired {
                            // A recurring monitor finding it stopped is a failure.
                            st.role = Role::Stopped;
                            st.failed = true;
                            st.on_fail = Some(op_on_fail(rsc, op, fencing, remote_conn));
                        }
                    } else if rc == 8 {
                        st.role = Role::Promoted;
                    } else if st.role == Role::Unknown || st.role == Role::Stopped || is_probe {
                        st.role = Role::Started;
                    }
                }
                _ => {}
            }
            continue;
        }
        // A failure.
        if expired && op.operation != "stop" {
            continue;
        }
        match rc {
            2 | 4 | 5 => st.ban_here = true,
            6 => st.ban_everywhere = true,
            _ => {}
        }
        if is_probe && rc == 5 {
            // Not installed: treat as stopped there.
            st.role = Role::Stopped;
            continue;
        }
        // Hard errors cannot be ignored: the agent will not work there.
        let hard = matches!(op.op_status, 5..=7) || matches!(rc, 2 | 4..=6);
        let mut on_fail = op_on_fail(rsc, op, fencing, remote_conn);
        if on_fail == "ignore" && !hard {
            continue;
        }
        if on_fail == "ignore" {
            // A hard error cannot be ignored: the resource is banned there.
            on_fail = "ban".to_string();
        }
        if on_fail == "demote"
            && op.operation == "monitor"
            && !is_probe
            && st.role == Role::Promoted
        {
            // Demote (and maybe promote again), no full recovery.
            st.needs_demote = true;
            continue;
        }
        match op.operation.as_str() {
            "stop" => {
                st.role = Role::Started;
                st.stop_failed = true;
                // Where a stop failed, the resource may not run again
                // (unless restarting its container settles the failure).
                st.ban_here |= on_fail != "restart-container";
            }
            "promote" => st.role = Role::Promoted,
            // A failed demote leaves it unpromoted (or stopped).
            "demote" if rc == 7 => st.role = Role::Stopped,
            // ...unless it is blocked, and so still promoted.
            "demote" if on_fail == "block" => st.role = Role::Promoted,
            "demote" => st.role = Role::Unpromoted,
            "monitor" if rc == 9 || rc == 8 => st.role = Role::Promoted,
            "start" => st.role = Role::Started,
            "migrate_to" | "migrate_from" => st.role = Role::Started,
            _ => {
                if st.role == Role::Unknown || st.role == Role::Stopped {
                    st.role = Role::Started;
                }
            }
        }
        st.failed = true;
        st.on_fail = Some(on_fail);
    }
    st
}

fn clear(st: &mut Replay) {
    match st.on_fail.as_deref() {
        Some("stop") | Some("fence") | Some("standby") => {}
        _ => {
            st.failed = false;
            st.on_fail = None;
        }
    }
}

fn unpack_history(w: &mut Working) {
    // Primitive lookup by configured id: (base id) -> list of instances.
    let mut by_base: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in w.rscs.iter().enumerate() {
        if r.variant == Variant::Primitive {
            by_base.entry(r.base.clone()).or_default().push(i);
        }
    }
    // Taken out of the CIB while history is replayed, put back at the end.
    let states = std::mem::take(&mut w.cib.node_states);
    let now = w.now_epoch_s;
    // Cluster nodes first: remote and guest nodes are up only while their
    // connection (or container) runs, which the cluster nodes' history says.
    let mut ordered: Vec<(usize, &crate::model::cib::NodeState)> = Vec::new();
    for state in &states {
        if let Some(node) = w
            .node_named(&state.uname)
            .or_else(|| w.node_named(&state.id))
        {
            ordered.push((node, state));
        }
    }
    // Pacemaker reads node histories in status order, in passes: cluster
    // nodes (offline ones only with fencing enabled), then remote nodes
    // once their connection is known to run and guest nodes once their
    // container and connection are; a last pass, with fencing enabled,
    // reads the rest. Clone instance numbers follow this order.
    let mut done = vec![false; ordered.len()];
    let mut last_pass = false;
    loop {
        let mut progress = false;
        for k in 0..ordered.len() {
            if done[k] {
                continue;
            }
            let (node, state) = ordered[k];
            if !last_pass && !history_readable(w, node) {
                continue;
            }
            done[k] = true;
            progress = true;
            if w.nodes[node].kind != NodeKind::Member {
                decide_remote_nodes(w);
            }
            if skip_history(w, node) {
                continue;
            }
            for lrm in &state.lrm {
                unpack_lrm_entry(w, &mut by_base, node, lrm, now);
            }
        }
        if !progress {
            if last_pass || !w.fencing_enabled {
                break;
            }
            last_pass = true;
        }
    }
    for (k, &(node, _)) in ordered.iter().enumerate() {
        if !done[k] && w.nodes[node].kind != NodeKind::Member {
            forget_transient_attrs(w, node);
        }
    }
    decide_remote_nodes(w);
    // A completed migration leaves the source behind: not active, but in
    // need of a stop.
    for r in 0..w.rscs.len() {
        if w.rscs[r].current.len() < 2 {
            continue;
        }
        let names: Vec<String> = w.rscs[r]
            .current
            .iter()
            .map(|c| w.nodes[c.node].name.clone())
            .collect();
        let mut keep = Vec::new();
        let mut dangling = Vec::new();
        for c in std::mem::take(&mut w.rscs[r].current) {
            match &c.migrated_to {
                Some(t) if names.contains(t) && !c.failed => dangling.push(c.node),
                _ => keep.push(c),
            }
        }
        w.rscs[r].current = keep;
        w.rscs[r].dangling = dangling;
    }
    w.changes = super::definition::check(w, &states);
    let cleared = super::definition::cleared_failcounts(w, &w.changes);
    // Fail counts: fail-count-RSC[#op_interval] transient attributes.
    for n in 0..w.nodes.len() {
        let NodeFailures { mut counts, last } = node_failures(&w.nodes[n].attrs);
        // Failures of resources inside a container count for the container.
        let contained: Vec<(String, String, i64)> = counts
            .iter()
            .filter_map(|(base, &count)| {
                let &i = by_base.get(base)?.first()?;
                // (A group's meta reaches the container itself: not its own container.)
                let container = w.rscs[i]
                    .meta
                    .get("container")
                    .filter(|c| *c != base)?
                    .clone();
                Some((base.clone(), container, count))
            })
            .collect();
        for (base, container, count) in contained {
            counts.remove(&base);
            let e = counts.entry(container).or_insert(0);
            *e = score::add(*e, count);
        }
        // A guest node's implicit connection runs inside its container: its
        // failures count for the container too (and still for itself).
        let guest_failures: Vec<(String, i64)> = counts
            .iter()
            .filter_map(|(base, &count)| {
                let &c = w.guest_containers.get(base)?;
                Some((w.rscs[c].id.clone(), count))
            })
            .collect();
        for (container, count) in guest_failures {
            let e = counts.entry(container).or_insert(0);
            *e = score::add(*e, count);
        }
        for (base, count) in counts {
            let Some(instances) = by_base.get(&base) else {
                continue;
            };
            // Failures of a definition since changed are being cleared.
            if cleared.contains(&(base.clone(), n)) {
                continue;
            }
            for &i in instances {
                let r = &w.rscs[i];
                if count <= 0 || r.migration_threshold <= 0 {
                    continue;
                }
                if r.failure_timeout_s > 0 {
                    if let Some(t) = last.get(&base) {
                        if t + r.failure_timeout_s <= now {
                            continue;
                        }
                    }
                }
                // Failures inside a container are handled by restarting the
                // container, not by banning the resource.
                if count >= r.migration_threshold {
                    w.rscs[i].banned_by_failures[n] = true;
                }
            }
        }
    }
    w.cib.node_states = states;
}

/// Whether a node's history can be read in an ordinary pass: a cluster
/// node that is online (any, with fencing enabled); a remote node whose
/// connection runs; a guest node whose container and connection run.
fn history_readable(w: &Working, node: usize) -> bool {
    let info = &w.nodes[node];
    let active = |r: Option<usize>| r.is_some_and(|r| w.rscs[r].is_active());
    let conn = info
        .connection
        .as_ref()
        .and_then(|c| w.by_id.get(c))
        .copied();
    match info.kind {
        NodeKind::Member => w.fencing_enabled || info.online,
        NodeKind::Remote => active(conn),
        NodeKind::Guest => active(conn) && active(guest_container(w, node)),
    }
}

/// Whether a node's history says nothing about now and is left unread.
fn skip_history(w: &Working, node: usize) -> bool {
    // History on a node that is down (and need not be fenced) says
    // nothing about now. A remote node whose connection is down is read
    // when fencing is enabled: what is still active there gets it fenced.
    let node_info = &w.nodes[node];
    match node_info.kind {
        NodeKind::Remote => {
            !node_info.online && (!w.fencing_enabled || node_info.connection.is_none())
        }
        // A guest's history counts while its container and connection
        // are thought to run, even failed: what ran there is lost.
        // With fencing enabled, so does a stopped guest's: what is still
        // recorded active there is lost.
        NodeKind::Guest if !node_info.online => {
            let active = |r: Option<usize>| r.is_some_and(|r| w.rscs[r].is_active());
            let conn = node_info.connection.as_ref().and_then(|c| w.by_id.get(c));
            let running = active(conn.copied()) && active(guest_container(w, node));
            !(w.fencing_enabled || running)
        }
        // With fencing enabled, an offline member is read too: anything
        // still recorded active there gets it fenced.
        _ => !node_info.online && !w.fencing_enabled,
    }
}

/// Replays one resource's history on one node and records what it says.
fn unpack_lrm_entry(
    w: &mut Working,
    by_base: &mut HashMap<String, Vec<usize>>,
    node: usize,
    lrm: &LrmResource,
    now: i64,
) {
    // An entry without operations says nothing (Pacemaker skips it: no
    // orphan is made of it, the resource is not known there).
    if lrm.ops.is_empty() && !w.cib.bool_property("shutdown-lock", false) {
        return;
    }
    let (base, number) = match lrm.id.rsplit_once(':') {
        Some((b, n)) if n.parse::<u32>().is_ok() => (b.to_string(), n.parse::<u32>().ok()),
        _ => (lrm.id.clone(), None),
    };
    let instances = match by_base.get(&base) {
        Some(i) => i.clone(),
        None => {
            // An orphan: no longer configured. It must stop if active.
            // Bundle-generated resources are not modelled one by one, except
            // the connection of a replica beyond the bundle's count: it names
            // a node whose resources stop with it.
            let from_bundle = bundle_generated(w, &lrm.id);
            let names_node = w
                .node_named(&lrm.id)
                .is_some_and(|n| w.nodes[n].kind == NodeKind::Remote);
            if !w.stop_orphans || (from_bundle && !names_node && !on_orphan_replica(w, node)) {
                return;
            }
            let orphan = add_orphan(w, &lrm.id, &base, lrm.agent.clone(), None);
            w.rscs[orphan].instance = number;
            by_base.insert(base.clone(), vec![orphan]);
            vec![orphan]
        }
    };
    let first = instances[0];
    let remote_conn = w
        .node_named(&w.rscs[first].id)
        .is_some_and(|n| w.nodes[n].kind == NodeKind::Remote);
    let st = replay(&w.rscs[first], lrm, now, w.fencing_enabled, remote_conn);
    for &i in &instances {
        w.rscs[i].known_on[node] = true;
        if st.ban_here || st.ban_everywhere {
            w.rscs[i].banned_by_failures[node] = true;
        }
        if st.ban_everywhere {
            w.rscs[i]
                .banned_by_failures
                .iter_mut()
                .for_each(|b| *b = true);
        }
    }
    let active = st.role.is_active() || st.failed || st.stop_failed;
    // Inside a bundle, the instance is the replica's own.
    let replica = w.nodes[node].connection.as_ref().and_then(|c| {
        w.bundles
            .values()
            .find_map(|b| b.remotes.iter().position(|&r| &w.rscs[r].id == c))
    });
    let anonymous = replica.is_none() && anonymous_clone_of(w, first).is_some();
    // On the node of a bundle replica beyond the bundle's count, what ran
    // there is an orphan of its own, stopped with the replica.
    let orphan_replica = replica.is_none() && on_orphan_replica(w, node);
    let picked = match replica {
        None if orphan_replica => None,
        Some(k) => instances
            .iter()
            .copied()
            .find(|&i| w.rscs[i].instance == Some(k as u32)),
        None if anonymous => match number.filter(|_| several_per_node(w, first)) {
            // With several copies allowed per node, which copy is which
            // matters: the recorded number is kept, and a number beyond the
            // clone's instances is an orphan, as the reference does.
            Some(n) => instances
                .iter()
                .copied()
                .find(|&i| w.rscs[i].instance == Some(n)),
            None => anonymous_instance(w, &instances, node),
        },
        None => pick_instance(w, &instances, number, node),
    };
    if let Some(t) = picked {
        mark_instance_known(w, t, node);
    }
    if !active {
        return;
    }
    let target = match picked {
        Some(t) => t,
        None if orphan_replica => add_orphan(w, &lrm.id, &base, lrm.agent.clone(), None),
        None => {
            // More active copies than configured instances.
            let template = instances[0];
            let parent = w.rscs[template].parent;
            let used: Vec<u32> = instances
                .iter()
                .filter_map(|&i| w.rscs[i].instance)
                .collect();
            let n = number
                .filter(|k| !used.contains(k))
                .or_else(|| (0..).find(|k| !used.contains(k)))
                .unwrap_or(0);
            let id = format!("{base}:{n}");
            let agent = w.rscs[template].agent.clone();
            let orphan = add_orphan(w, &id, &base, agent, parent);
            w.rscs[orphan].instance = Some(n);
            if let Some(v) = by_base.get_mut(&base) {
                v.push(orphan);
            }
            orphan
        }
    };
    let mut role = if st.role == Role::Unknown || st.role == Role::Stopped {
        Role::Started
    } else {
        st.role
    };
    // A started instance of a promotable clone is unpromoted.
    let promotable = w.in_promotable_clone(target);
    if role == Role::Started && promotable {
        role = Role::Unpromoted;
    }
    // A monitor of something that cannot be promoted failing with
    // "running promoted" (rc 8): it runs, in no role it can have; it
    // is recovered by a stop and a start, never by a demote that its
    // agent cannot do (which would fail and loop). A probe finding
    // it promoted is still demoted first, as Pacemaker does.
    if role == Role::Promoted && !promotable && st.failed && !w.rscs[target].orphan {
        role = Role::Started;
    }
    // Active on a member that is down: it must be fenced.
    if w.nodes[node].kind == NodeKind::Member
        && !w.nodes[node].online
        && w.rscs[target].managed
        && !w.maintenance_mode
        && !w.nodes[node].maintenance
    {
        let id = w.rscs[target].id.clone();
        w.nodes[node].mark_unclean(format!("{id} is thought to be active there"));
    }
    // Active on a remote node whose connection is down: the node
    // must be fenced, unless the connection comes back elsewhere.
    if w.nodes[node].kind == NodeKind::Remote
        && !w.nodes[node].online
        && w.rscs[target].managed
        && !w.maintenance_mode
        && !w.nodes[node].maintenance
    {
        let conn_failed = w.nodes[node]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .is_some_and(|&c| w.rscs[c].failed());
        let id = w.rscs[target].id.clone();
        let n = &mut w.nodes[node];
        if conn_failed {
            n.mark_unclean(format!("{id} is thought to be active there"));
        } else {
            n.fence_revocable = true;
            n.mark_unclean(format!(
                "{id} is active there (fencing will be revoked if remote \
                         connection can be re-established elsewhere)"
            ));
        }
    }
    // On a node that is unclean (it will be fenced, or cannot be and is
    // lost) a failure asks for nothing more.
    let on_fail = if w.nodes[node].unclean {
        None
    } else {
        st.on_fail.as_deref()
    };
    match on_fail {
        Some("fence") if w.fencing_enabled && st.failed => {
            let n = &mut w.nodes[node];
            if !n.unclean {
                n.unclean = true;
                n.unclean_reason = format!("{} failed there", w.rscs[target].id);
            }
        }
        Some("standby") if st.failed => w.nodes[node].standby = true,
        Some("block") if st.failed => {
            w.rscs[target].managed = false;
            w.rscs[target].blocked = true;
        }
        Some("stop") if st.failed => w.rscs[target].target_role = Role::Stopped,
        Some("reset-remote") if st.failed || st.stop_failed => {
            reset_remote(w, target);
        }
        _ => {}
    }
    if st.stop_failed && w.fencing_enabled && st.on_fail.as_deref() == Some("fence") {
        let n = &mut w.nodes[node];
        if !n.unclean {
            n.unclean = true;
            n.unclean_reason = format!("{} failed there", w.rscs[target].id);
        }
    }
    // A resource whose stop failed inside a container goes down with
    // the container's restart.
    if st.stop_failed && st.on_fail.as_deref() == Some("restart-container") {
        if let Some(&c) = w.rscs[target]
            .meta
            .get("container")
            .and_then(|c| w.by_id.get(c))
        {
            w.rscs[c].restart_requested = true;
        }
        return;
    }
    // A failure on a node that is unclean asks for nothing (the node will
    // be fenced, or is lost); any other marks the resource failed.
    let failed = (st.failed || st.stop_failed) && on_fail.is_some_and(|f| f != "ignore");
    w.rscs[target].current.push(Current {
        node,
        role,
        failed,
        on_fail: st.on_fail.clone(),
        pending_op: st.pending,
        needs_demote: st.needs_demote,
        history_id: lrm.id.clone(),
        migrated_to: st.migrated_to.clone(),
    });
}

/// A remote connection failed in a way that leaves its node in an unknown
/// state (on-fail=reset-remote): the node is fenced (unless already recorded
/// as fenced), and with a reconnect interval the connection stays down until
/// the failure expires.
fn reset_remote(w: &mut Working, conn: usize) {
    let remote = w
        .node_named(&w.rscs[conn].id)
        .filter(|&n| w.nodes[n].kind == NodeKind::Remote);
    if let Some(n) = remote {
        if w.fencing_enabled && !w.nodes[n].was_fenced {
            w.nodes[n].mark_unclean("remote connection is unrecoverable".into());
            w.nodes[n].fence_revocable = false;
        }
    }
    let reconnect_ms = w.rscs[conn]
        .params
        .get("reconnect_interval")
        .and_then(|v| parse_interval_ms(v))
        .unwrap_or(0);
    if reconnect_ms > 0 {
        w.rscs[conn].target_role = Role::Stopped;
    }
}

/// A node's failure records by resource base id (clone instances and
/// operations together): fail counts summed, the latest failure time.
pub struct NodeFailures {
    pub counts: HashMap<String, i64>,
    pub last: HashMap<String, i64>,
}

/// Reads the `fail-count-RSC[#op_interval]` and `last-failure-...` node
/// attributes.
pub fn node_failures(attrs: &BTreeMap<String, String>) -> NodeFailures {
    let mut failures = NodeFailures {
        counts: HashMap::new(),
        last: HashMap::new(),
    };
    for (k, v) in attrs {
        let (is_count, rest) = match k.strip_prefix("fail-count-") {
            Some(rest) => (true, rest),
            None => match k.strip_prefix("last-failure-") {
                Some(rest) => (false, rest),
                None => continue,
            },
        };
        let rsc = rest.split('#').next().unwrap_or(rest);
        let base = rsc.rsplit_once(':').map(|(b, _)| b).unwrap_or(rsc);
        if is_count {
            let c = failures.counts.entry(base.to_string()).or_insert(0);
            *c = score::add(*c, score::parse(v).unwrap_or(0));
        } else {
            let e = failures.last.entry(base.to_string()).or_insert(0);
            *e = (*e).max(v.parse::<i64>().unwrap_or(0));
        }
    }
    failures
}

/// Remote and guest nodes are online while their connection resource runs
/// (and has not failed).
fn decide_remote_nodes(w: &mut Working) {
    for n in 0..w.nodes.len() {
        if w.nodes[n].kind == NodeKind::Member {
            continue;
        }
        let up = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .is_some_and(|&r| {
                let rsc = &w.rscs[r];
                // A remote node stays up while its connection is thought to
                // run, even on a lost cluster node (the connection may be
                // re-established elsewhere); a guest goes with its host.
                let hosts_up = w.nodes[n].kind == NodeKind::Remote
                    || rsc.current.iter().all(|c| w.nodes[c.node].online);
                !rsc.current.is_empty() && !rsc.failed() && hosts_up
            });
        w.nodes[n].online = up;
        // A failed connection makes any fencing of its node final.
        if w.nodes[n].kind == NodeKind::Remote
            && w.nodes[n]
                .connection
                .as_ref()
                .and_then(|c| w.by_id.get(c))
                .is_some_and(|&r| w.rscs[r].failed())
        {
            w.nodes[n].fence_revocable = false;
        }
        // A connection on its way down takes the node's resources with it.
        let stopping = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .is_some_and(|&r| w.rscs[r].target_role == Role::Stopped);
        w.nodes[n].connection_stopping = stopping;
    }
}

/// Adds a resource found only in the history: stopped wherever it runs.
fn add_orphan(
    w: &mut Working,
    id: &str,
    base: &str,
    agent: Option<AgentSpec>,
    parent: Option<usize>,
) -> usize {
    let n = w.nodes.len();
    let template = Rsc {
        id: id.to_string(),
        base: base.to_string(),
        variant: Variant::Primitive,
        parent,
        children: Vec::new(),
        agent,
        ops: Vec::new(),
        params: BTreeMap::new(),
        meta: BTreeMap::new(),
        utilization: BTreeMap::new(),
        instance: None,
        priority: 0,
        stickiness: 0,
        managed: true,
        target_role: Role::Stopped,
        migration_threshold: INFINITY,
        failure_timeout_s: 0,
        allow_migrate: false,
        globally_unique: false,
        promotable: false,
        interleave: false,
        ordered: false,
        clone_max: 0,
        clone_node_max: 0,
        promoted_max: 0,
        promoted_node_max: 0,
        requires_fencing: true,
        current: Vec::new(),
        known_on: vec![false; n],
        instance_known_on: vec![false; n],
        banned_by_failures: vec![false; n],
        orphan: true,
        blocked: false,
        restart_requested: false,
        dangling: Vec::new(),
    };
    w.rscs.push(template);
    let idx = w.rscs.len() - 1;
    w.by_id.entry(id.to_string()).or_insert(idx);
    // An orphan instance of a clone is one of its instances (Pacemaker
    // numbers it after the configured ones), never to run again.
    if let Some(p) = parent.filter(|&p| w.rscs[p].variant == Variant::Clone) {
        w.rscs[p].children.push(idx);
    }
    idx
}

/// The anonymous (not globally unique) clone a primitive is an instance of.
fn anonymous_clone_of(w: &Working, r: usize) -> Option<usize> {
    let mut a = w.rscs[r].parent;
    while let Some(p) = a {
        if w.rscs[p].variant == Variant::Clone {
            return (!w.rscs[p].globally_unique).then_some(p);
        }
        a = w.rscs[p].parent;
    }
    None
}

/// Records that an instance's (and its group's and clone's) state on a
/// node is known from its history.
fn mark_instance_known(w: &mut Working, r: usize, node: usize) {
    let mut at = Some(r);
    while let Some(x) = at {
        w.rscs[x].instance_known_on[node] = true;
        if x != r && w.rscs[x].variant == Variant::Clone {
            break;
        }
        at = w.rscs[x].parent;
    }
}

/// Pacemaker's choice of anonymous clone instance for a node's history of
/// it: the instance already active on that node (a cloned group's member
/// through its group), else the first instance not active anywhere yet; a
/// member already active there makes this history an orphan. An instance
/// that does not need fencing is not given to a node that is down (unless
/// the clone runs everywhere), so that it can start elsewhere.
fn anonymous_instance(w: &Working, instances: &[usize], node: usize) -> Option<usize> {
    let mut found = None;
    let mut inactive = None;
    let mut skip_inactive = false;
    for &i in instances {
        if found.is_some() {
            break;
        }
        let holder = w.rscs[i]
            .parent
            .filter(|&p| w.rscs[p].variant == Variant::Group)
            .unwrap_or(i);
        let mut prims = Vec::new();
        w.primitives_of(holder, &mut prims);
        let mut nodes: Vec<usize> = Vec::new();
        for p in prims {
            for c in &w.rscs[p].current {
                if !nodes.contains(&c.node) {
                    nodes.push(c.node);
                }
            }
        }
        match nodes.first() {
            Some(&n) if n == node => {
                if w.rscs[i].current.is_empty() {
                    found = Some(i);
                } else {
                    skip_inactive = true;
                }
            }
            Some(_) => {}
            None => {
                if !skip_inactive && inactive.is_none() && !w.rscs[i].blocked {
                    inactive = Some(i);
                }
            }
        }
    }
    if found.is_none() && !skip_inactive {
        found = inactive;
    }
    let down = !w.nodes[node].online || w.nodes[node].unclean;
    if let Some(t) = found {
        let universal =
            anonymous_clone_of(w, t).is_some_and(|c| w.rscs[c].clone_max == w.nodes.len());
        if !w.rscs[t].requires_fencing
            && down
            && w.nodes[node].kind != NodeKind::Guest
            && !universal
        {
            return None;
        }
    }
    found
}

/// Whether `node` is the node of a bundle replica beyond the bundle's
/// count: its connection is an orphan named after a bundle.
fn on_orphan_replica(w: &Working, node: usize) -> bool {
    let Some(conn) = w.nodes[node].connection.as_ref() else {
        return false;
    };
    let orphan = w.by_id.get(conn).is_some_and(|&c| w.rscs[c].orphan);
    orphan && bundle_generated(w, conn)
}

/// Whether `id` names something a bundle generates (`BUNDLE-...`).
fn bundle_generated(w: &Working, id: &str) -> bool {
    w.rscs
        .iter()
        .any(|r| r.variant == Variant::Bundle && id.starts_with(&format!("{}-", r.id)))
}

/// Whether the anonymous clone holding `r` allows several copies per node
/// (clone-node-max above 1).
fn several_per_node(w: &Working, r: usize) -> bool {
    anonymous_clone_of(w, r).is_some_and(|c| w.rscs[c].clone_node_max > 1)
}

/// Chooses which instance of a (possibly cloned) primitive a history entry
/// belongs to: an explicit `:N` when free, else the first instance not yet
/// active anywhere.
fn pick_instance(
    w: &Working,
    instances: &[usize],
    number: Option<u32>,
    node: usize,
) -> Option<usize> {
    if instances.len() == 1 {
        let only = instances[0];
        // An orphaned clone instance already active elsewhere: another copy.
        if w.rscs[only].orphan && w.rscs[only].id.contains(':') && !w.rscs[only].current.is_empty()
        {
            return None;
        }
        return Some(only);
    }
    let unique = instances
        .first()
        .is_some_and(|&i| w.rscs[i].globally_unique);
    // An anonymous clone runs at most clone-node-max copies on a node; more
    // active copies are orphans.
    if !unique {
        let clone = instances.first().and_then(|&i| {
            let mut a = w.rscs[i].parent;
            while let Some(p) = a.filter(|&p| w.rscs[p].variant != Variant::Clone) {
                a = w.rscs[p].parent;
            }
            a
        });
        if let Some(c) = clone {
            let here = instances
                .iter()
                .filter(|&&i| w.rscs[i].current.iter().any(|x| x.node == node))
                .count();
            if here >= w.rscs[c].clone_node_max.max(1) {
                return None;
            }
        }
    }
    // Anonymous clones ignore the recorded number: any free instance will do.
    if let Some(n) = number.filter(|_| unique) {
        return instances
            .iter()
            .copied()
            .find(|&i| w.rscs[i].instance == Some(n));
    }
    // Anonymous: a group instance with a sibling already here keeps together.
    for &i in instances {
        if let Some(p) = w.rscs[i].parent {
            if w.rscs[p].variant == Variant::Group
                && w.rscs[p]
                    .children
                    .iter()
                    .any(|&s| w.rscs[s].current.iter().any(|c| c.node == node))
                && w.rscs[i].current.is_empty()
            {
                return Some(i);
            }
        }
    }
    instances
        .iter()
        .copied()
        .find(|&i| {
            w.rscs[i].current.is_empty()
                && w.rscs[i]
                    .parent
                    .filter(|&p| w.rscs[p].variant == Variant::Group)
                    .is_none_or(|p| {
                        w.rscs[p]
                            .children
                            .iter()
                            .all(|&s| w.rscs[s].current.is_empty())
                    })
        })
        .or_else(|| {
            instances
                .iter()
                .copied()
                .find(|&i| w.rscs[i].current.is_empty())
        })
}
