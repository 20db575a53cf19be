//! The working set: nodes, the resource arena and the lookups every later
//! stage uses.

use std::collections::{BTreeMap, HashMap};

use super::definition;
use crate::model::cib::{AgentSpec, Cib, NodeKind, OpConfig, Role};

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

#[derive(Debug, Clone)]
pub struct Working {
    pub bundles: BTreeMap<usize, BundleParts>,
    /// Implicit guest-node connection id -> its container resource.
    pub guest_containers: BTreeMap<String, usize>,
    /// Every node the cluster will know: configured, remote and guest.
    pub default_clone_max: usize,
    pub cib: Cib,
    pub now_epoch_s: i64,
    /// The earliest moment after `now_epoch_s` when a failure expires
    /// (`failure-timeout`): the decisions may change then with nothing
    /// else happening, so the DC schedules again.
    pub recheck_at_epoch_s: Option<i64>,
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
    pub changes: Vec<definition::Change>,
    /// The CIB's private parameters may be masked (a simulation of a
    /// crm_report CIB): histories are compared without them.
    pub secrets_masked: bool,
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

    /// Whether resource `r` is the connection of a remote or guest node.
    pub fn is_connection(&self, r: usize) -> bool {
        let id = self.rscs[r].id.as_str();
        self.nodes
            .iter()
            .any(|n| n.connection.as_deref() == Some(id))
    }

    /// The container a primitive runs inside: a guest connection's
    /// container, a bundle replica's connection's container, else the
    /// primitive (not itself) its `container` meta attribute names, when
    /// `named_ok` accepts that one.
    pub fn container_of(&self, r: usize, named_ok: impl Fn(usize) -> bool) -> Option<usize> {
        let rsc = &self.rscs[r];
        if let Some(&c) = self.guest_containers.get(&rsc.id) {
            return Some(c);
        }
        for parts in self.bundles.values() {
            if let Some(i) = parts.remotes.iter().position(|&x| x == r) {
                return parts.containers.get(i).copied();
            }
        }
        let c = rsc.meta.get("container")?;
        let &c = self.by_id.get(c)?;
        (c != r && self.rscs[c].variant == Variant::Primitive && named_ok(c)).then_some(c)
    }

    /// The top-level ancestor of a resource.
    /// After how many seconds resource `r`'s failures expire (0: never):
    /// its `failure-timeout`, and for a remote connection its
    /// `reconnect_interval` at the latest, so that the cluster connects
    /// again after the interval (Pacemaker makes the interval a
    /// connection's least failure-timeout).
    pub fn failure_timeout_s(&self, r: usize) -> i64 {
        let rsc = &self.rscs[r];
        if self.is_remote_connection(r) {
            return rsc.failure_timeout_s.max(self.reconnect_interval_s(r));
        }
        rsc.failure_timeout_s
    }

    /// Whether a failed operation of `r` is kept though it expired: a remote
    /// connection with a reconnect interval keeps its failure until its
    /// node has been fenced, so that the node is fenced before anything
    /// connects to it again (as Pacemaker waits "to clear monitor failure
    /// for remote node until fencing has occurred").
    pub fn failure_kept_until_fenced(&self, r: usize) -> bool {
        self.fencing_enabled
            && self.reconnect_interval_s(r) > 0
            && self
                .remote_node_of(r)
                .is_some_and(|n| !self.nodes[n].was_fenced)
    }

    /// Whether `r` is the connection of a Pacemaker Remote node.
    pub fn is_remote_connection(&self, r: usize) -> bool {
        self.remote_node_of(r).is_some()
    }

    /// The Pacemaker Remote node whose connection `r` is.
    fn remote_node_of(&self, r: usize) -> Option<usize> {
        self.node_named(&self.rscs[r].id)
            .filter(|&n| self.nodes[n].kind == NodeKind::Remote)
    }

    /// A remote connection's `reconnect_interval` in whole seconds (0: none).
    pub fn reconnect_interval_s(&self, r: usize) -> i64 {
        self.rscs[r]
            .params
            .get("reconnect_interval")
            .and_then(|v| crate::model::cib::time::parse_interval_ms(v))
            .map_or(0, |ms| ms.div_ceil(1000) as i64)
    }

    /// Takes note of a failure that expires at `epoch_s`.
    pub fn recheck_at(&mut self, epoch_s: i64) {
        if epoch_s > self.now_epoch_s {
            self.recheck_at_epoch_s =
                Some(self.recheck_at_epoch_s.map_or(epoch_s, |t| t.min(epoch_s)));
        }
    }

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
