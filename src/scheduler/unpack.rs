//! Stage 1, unpack: the typed CIB becomes the scheduler's working set.
//!
//! Nodes get their online/unclean/standby state, resources are flattened into
//! an arena (clones expanded into numbered instances), and each primitive's
//! operation history is replayed to find where it runs, in which role, and
//! whether it failed. Everything is indexed by id so later stages never scan.

use std::collections::{BTreeMap, HashMap};

use crate::model::cib::{
    parse_bool, AgentSpec, Cib, LrmOp, LrmResource, NodeKind, OpConfig, ResourceConfig,
    ResourceKind, Role,
};
use crate::model::score::{self, INFINITY};
use crate::model::time::parse_interval_ms;

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
}

impl NodeInfo {
    /// Whether resources may be placed here.
    pub fn can_host(&self) -> bool {
        self.online
            && !self.unclean
            && !self.standby
            && !self.shutdown
            && !self.maintenance
            && !self.pending
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
    /// A migration left half done: (source, target).
    pub pending_op: bool,
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
    /// Last failure bans: fail count reached migration-threshold.
    pub banned_by_failures: Vec<bool>,
    pub orphan: bool,
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

#[derive(Debug, Clone)]
pub struct Working {
    pub cib: Cib,
    pub now_epoch_s: i64,
    pub nodes: Vec<NodeInfo>,
    pub node_index: HashMap<String, usize>,
    pub rscs: Vec<Rsc>,
    /// Top-level resources in configuration order.
    pub top: Vec<usize>,
    pub by_id: HashMap<String, usize>,
    pub fencing_enabled: bool,
    pub symmetric: bool,
    pub have_quorum: bool,
    pub no_quorum_policy: String,
    pub maintenance_mode: bool,
    pub stop_orphans: bool,
    pub placement_strategy: String,
    pub fence_action: String,
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

pub fn unpack(cib: Cib, now_epoch_s: i64) -> Working {
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
        nodes: Vec::new(),
        node_index: HashMap::new(),
        rscs: Vec::new(),
        top: Vec::new(),
        by_id: HashMap::new(),
        fencing_enabled,
        symmetric,
        have_quorum,
        no_quorum_policy,
        maintenance_mode,
        stop_orphans,
        placement_strategy,
        fence_action,
        now_epoch_s,
        cib,
    };
    unpack_nodes(&mut w);
    let resources = w.cib.resources.clone();
    let defaults = w.cib.rsc_defaults.clone();
    for r in &resources {
        let idx = add_resource(&mut w, r, None, &defaults, None);
        w.top.push(idx);
    }
    unpack_remote_nodes(&mut w);
    unpack_history(&mut w);
    w
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
    for n in configs {
        let state = states
            .get(&n.id)
            .or_else(|| states.get(&n.uname))
            .map(|&i| w.cib.node_states[i].clone());
        let mut attrs = n.attrs.clone();
        let mut info = NodeInfo {
            name: n.uname.clone(),
            id: n.id.clone(),
            kind: n.kind.clone(),
            online: false,
            unclean: false,
            unclean_reason: String::new(),
            standby: false,
            maintenance: false,
            shutdown: false,
            pending: false,
            attrs: BTreeMap::new(),
            utilization: n.utilization.clone(),
            node_score: n.score,
            connection: None,
            has_state: state.is_some(),
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
                    decide_member_state(&mut info, s, w.fencing_enabled);
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
        finish_attrs(&mut info, attrs);
        w.node_index.insert(info.name.clone(), w.nodes.len());
        w.nodes.push(info);
    }
}

fn finish_attrs(info: &mut NodeInfo, mut attrs: BTreeMap<String, String>) {
    info.standby = attrs.get("standby").is_some_and(|v| parse_bool(v));
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

fn decide_member_state(info: &mut NodeInfo, s: &crate::model::cib::NodeState, fencing: bool) {
    let joined = s.join == "member";
    let expected_up = s.expected == "member";
    if s.in_ccm && s.crmd_online && joined {
        info.online = true;
    } else if s.in_ccm && s.crmd_online {
        // Joining: seen but not yet a member.
        info.pending = s.join == "pending";
    } else if fencing {
        if !s.in_ccm && expected_up {
            info.unclean = true;
            info.unclean_reason = "peer is no longer part of the cluster".into();
        } else if s.in_ccm && !s.crmd_online && expected_up {
            info.unclean = true;
            info.unclean_reason = "peer process is no longer available".into();
        }
    }
    if s.shutdown {
        info.shutdown = true;
    }
}

fn add_resource(
    w: &mut Working,
    r: &ResourceConfig,
    parent: Option<usize>,
    inherited: &BTreeMap<String, String>,
    instance: Option<u32>,
) -> usize {
    let mut meta = inherited.clone();
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
    let node_count = w
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Member)
        .count()
        .max(1) as i64;
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
    let target_role = meta
        .get("target-role")
        .and_then(|v| Role::parse(v))
        .unwrap_or(Role::Unknown);
    let requires_fencing = agent.as_ref().is_none_or(|a| a.class != "stonith")
        && meta
            .get("requires")
            .is_none_or(|v| v == "fencing" || v == "unfencing");
    let rsc = Rsc {
        base: r.id.clone(),
        id: id.clone(),
        variant,
        parent,
        children: Vec::new(),
        agent,
        ops,
        params: r.params.clone(),
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
        allow_migrate: meta_bool(&meta, "allow-migrate", false),
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
        banned_by_failures: vec![false; w.nodes.len()],
        orphan: false,
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
        } => {
            // A bundle is modelled as its container primitives (one per
            // replica) and the inner resource as a clone-like set of instances.
            for n in 0..*replicas {
                let cfg = ResourceConfig {
                    id: format!("{}-{}-{}", r.id, container.kind, n),
                    kind: ResourceKind::Primitive {
                        agent: container.clone(),
                        ops: Vec::new(),
                    },
                    meta: BTreeMap::new(),
                    params: BTreeMap::new(),
                    utilization: BTreeMap::new(),
                };
                let ci = add_resource(w, &cfg, Some(idx), &child_meta, None);
                w.rscs[idx].children.push(ci);
            }
            let _ = child;
        }
    }
    idx
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
        let is_remote = r.agent.as_ref().is_some_and(|a| {
            a.class == "ocf" && a.provider.as_deref() == Some("pacemaker") && a.kind == "remote"
        });
        if is_remote {
            new_nodes.push((r.id.clone(), NodeKind::Remote, r.id.clone()));
        } else if let Some(guest) = r.meta.get("remote-node") {
            new_nodes.push((guest.clone(), NodeKind::Guest, r.id.clone()));
        }
    }
    for (name, kind, connection) in new_nodes {
        let idx = match w.node_index.get(&name) {
            Some(&i) => i,
            None => {
                let state = w
                    .cib
                    .node_states
                    .iter()
                    .find(|s| s.uname == name || s.id == name)
                    .cloned();
                let mut info = NodeInfo {
                    name: name.clone(),
                    id: name.clone(),
                    kind: kind.clone(),
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
                    has_state: state.is_some(),
                };
                let attrs = state.map(|s| s.transient).unwrap_or_default();
                finish_attrs(&mut info, attrs);
                w.node_index.insert(name.clone(), w.nodes.len());
                w.nodes.push(info);
                w.nodes.len() - 1
            }
        };
        w.nodes[idx].kind = kind;
        w.nodes[idx].connection = Some(connection);
    }
    let n = w.nodes.len();
    for r in &mut w.rscs {
        r.known_on.resize(n, false);
        r.banned_by_failures.resize(n, false);
    }
}

/// The result of replaying one primitive's history on one node.
struct Replay {
    role: Role,
    failed: bool,
    on_fail: Option<String>,
    stop_failed: bool,
    pending: bool,
    migrated_to: Option<String>,
}

fn op_on_fail(rsc: &Rsc, op: &LrmOp, fencing: bool) -> String {
    let configured = rsc
        .ops
        .iter()
        .find(|o| o.name == op.operation && o.interval_ms == op.interval_ms)
        .and_then(|o| o.on_fail.clone());
    if let Some(c) = configured {
        return c;
    }
    if op.operation == "stop" {
        return if fencing {
            "fence".into()
        } else {
            "block".into()
        };
    }
    if op.operation == "demote" {
        return "demote".into();
    }
    "restart".into()
}

fn replay(rsc: &Rsc, lrm: &LrmResource, now: i64, fencing: bool) -> Replay {
    let mut ops: Vec<&LrmOp> = lrm.ops.iter().collect();
    ops.sort_by_key(|o| (o.call_id < 0, o.call_id));
    let mut st = Replay {
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
        if op.op_status == 1 || op.call_id == -1 {
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
        if op.op_status == 2 {
            continue; // cancelled
        }
        let rc = op.rc;
        let success = match op.operation.as_str() {
            "monitor" => rc == 0 || rc == 7 || rc == 8,
            _ => rc == 0,
        } && (op.op_status == 0);
        if success {
            match op.operation.as_str() {
                "start" | "migrate_from" => {
                    st.role = Role::Started;
                    clear(&mut st);
                }
                "stop" => {
                    st.role = Role::Stopped;
                    st.stop_failed = false;
                    clear(&mut st);
                }
                "promote" => {
                    st.role = Role::Promoted;
                    clear(&mut st);
                }
                "demote" => {
                    st.role = Role::Unpromoted;
                    clear(&mut st);
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
                            st.on_fail = Some(op_on_fail(rsc, op, fencing));
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
        if is_probe && rc == 5 {
            // Not installed: treat as stopped there.
            st.role = Role::Stopped;
            continue;
        }
        let on_fail = op_on_fail(rsc, op, fencing);
        if on_fail == "ignore" {
            continue;
        }
        match op.operation.as_str() {
            "stop" => {
                st.role = Role::Started;
                st.stop_failed = true;
            }
            "promote" | "demote" => st.role = Role::Promoted,
            "monitor" if rc == 9 => st.role = Role::Promoted,
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
    let states = w.cib.node_states.clone();
    let now = w.now_epoch_s;
    for state in &states {
        let Some(node) = w
            .node_named(&state.uname)
            .or_else(|| w.node_named(&state.id))
        else {
            continue;
        };
        for lrm in &state.lrm {
            let (base, number) = match lrm.id.rsplit_once(':') {
                Some((b, n)) if n.parse::<u32>().is_ok() => (b.to_string(), n.parse::<u32>().ok()),
                _ => (lrm.id.clone(), None),
            };
            let Some(instances) = by_base.get(&base).cloned() else {
                continue; // an orphan: no longer configured
            };
            let first = instances[0];
            let st = replay(&w.rscs[first], lrm, now, w.fencing_enabled);
            for &i in &instances {
                w.rscs[i].known_on[node] = true;
            }
            let active = st.role.is_active() || st.failed || st.stop_failed;
            if !active {
                continue;
            }
            let target = pick_instance(w, &instances, number, node);
            let Some(target) = target else { continue };
            let role = if st.role == Role::Unknown || st.role == Role::Stopped {
                Role::Started
            } else {
                st.role
            };
            if st.stop_failed && w.fencing_enabled {
                let n = &mut w.nodes[node];
                if !n.unclean {
                    n.unclean = true;
                    n.unclean_reason = format!("{} failed there", w.rscs[target].id);
                }
            }
            w.rscs[target].current.push(Current {
                node,
                role,
                failed: st.failed || st.stop_failed,
                on_fail: st.on_fail.clone(),
                pending_op: st.pending,
            });
            let _ = st.migrated_to;
        }
    }
    // Fail counts: fail-count-RSC[#op_interval] transient attributes.
    for n in 0..w.nodes.len() {
        let attrs = w.nodes[n].attrs.clone();
        let mut counts: HashMap<String, i64> = HashMap::new();
        let mut last: HashMap<String, i64> = HashMap::new();
        for (k, v) in &attrs {
            if let Some(rest) = k.strip_prefix("fail-count-") {
                let rsc = rest.split('#').next().unwrap_or(rest);
                let base = rsc.rsplit_once(':').map(|(b, _)| b).unwrap_or(rsc);
                let c = counts.entry(base.to_string()).or_insert(0);
                *c = score::add(*c, score::parse(v).unwrap_or(0));
            } else if let Some(rest) = k.strip_prefix("last-failure-") {
                let rsc = rest.split('#').next().unwrap_or(rest);
                let base = rsc.rsplit_once(':').map(|(b, _)| b).unwrap_or(rsc);
                let t = v.parse::<i64>().unwrap_or(0);
                let e = last.entry(base.to_string()).or_insert(0);
                *e = (*e).max(t);
            }
        }
        for (base, count) in counts {
            let Some(instances) = by_base.get(&base) else {
                continue;
            };
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
                if count >= r.migration_threshold {
                    w.rscs[i].banned_by_failures[n] = true;
                }
            }
        }
    }
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
        return Some(instances[0]);
    }
    let unique = instances
        .first()
        .is_some_and(|&i| w.rscs[i].globally_unique);
    if let Some(n) = number {
        if let Some(&i) = instances.iter().find(|&&i| w.rscs[i].instance == Some(n)) {
            if unique || w.rscs[i].current.is_empty() {
                return Some(i);
            }
        }
        if unique {
            return None;
        }
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
