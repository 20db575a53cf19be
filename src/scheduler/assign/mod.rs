//! Stage 2, assign: every resource gets a node (or none) and a next role.
//!
//! As in Pacemaker, each resource has a table of allowed nodes with scores.
//! A symmetric cluster allows every node at 0; location constraints add
//! their scores (a group's through its first member, a clone's to every
//! instance); stickiness adds to the node a resource runs on; failures past
//! the migration threshold, lost tickets and resource-discovery=exclusive
//! ban nodes. Resources are then assigned in priority order (remote
//! connections first): a resource first assigns what it is colocated with
//! and applies those colocations to its own scores, takes in the attenuated
//! preferences of what is colocated with it, and picks the best node (score,
//! then free capacity under `balanced`, then how many resources the node
//! already has, then the node it runs on, then the name). Clones and bundles
//! place their instances (keeping current nodes where they are as good as
//! any), then promotable clones choose which instances to promote
//! ([`instances`]). Colocations live in [`colocation`].

pub mod colocation;
pub mod fencing;
pub mod health;
pub mod instances;
pub mod remote;
pub mod utilization;

use std::collections::BTreeMap;

use crate::model::cib::rules::RuleContext;
use crate::model::cib::score::{self, INFINITY};
use crate::model::cib::{location_rule_score, Location, LocationTarget, NodeKind, Role};
use crate::scheduler::unpack::{Variant, Working};

/// A node table: a resource's score per node; `None` where the node is not
/// allowed at all (an opt-in cluster allows only what a constraint names).
pub type Table = Vec<Option<i64>>;

/// How a location constraint lets a resource be probed on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Discovery {
    Always,
    Never,
    Exclusive,
}

/// The nodes a location rule matched, with its score there, and the role
/// it is limited to.
type NodeScores = (Vec<(usize, i64)>, Option<Role>);

/// A location constraint resolved to node scores (one per rule).
#[derive(Debug, Clone)]
pub struct Loc {
    pub rsc: usize,
    /// (node, score) for the nodes it names or whose attributes match.
    pub nodes: Vec<(usize, i64)>,
    /// Only for this role (Promoted); `None` for any role.
    pub role: Option<Role>,
    pub discovery: Discovery,
}

/// The outcome of assignment, indexed like `Working::rscs`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Whether the resource may be probed on a node (present in its allowed
    /// nodes, and resource-discovery allows it).
    pub allowed: Vec<Vec<bool>>,
    /// The node scores at the time of assignment (for `--scores`); -INFINITY
    /// where the node is not allowed.
    pub final_scores: Vec<Vec<i64>>,
    pub assigned: Vec<Option<usize>>,
    pub next_role: Vec<Role>,
    /// Promotion priorities of promotable clone instances.
    pub promotion_scores: Vec<Option<i64>>,
}

/// The assignment in progress: Pacemaker's per-resource node tables and
/// flags, plus the node facts that assignment changes (remote nodes coming
/// up, capacity used).
pub struct Assigner<'a> {
    pub w: &'a Working,
    pub allowed: Vec<Table>,
    pub discover: Vec<Vec<Discovery>>,
    pub exclusive: Vec<bool>,
    /// Instances assigned per node, kept on collectives (and reused for
    /// promoted instances per node during promotion).
    pub count: Vec<Vec<usize>>,
    pub assigned: Vec<Option<usize>>,
    /// The score of the chosen node when the resource was assigned.
    pub assigned_score: Vec<i64>,
    pub unassigned: Vec<bool>,
    pub assigning: Vec<bool>,
    pub updating_nodes: Vec<bool>,
    pub next_role: Vec<Role>,
    pub priority: Vec<i64>,
    pub sort_index: Vec<i64>,
    /// Children in the order the scheduler currently keeps them (clones sort
    /// their instances).
    pub children: Vec<Vec<usize>>,
    pub locs: Vec<Loc>,
    pub rsc_locs: Vec<Vec<usize>>,
    pub colocs: Vec<colocation::Coloc>,
    /// Colocations where the resource is the dependent ("this with"), and
    /// where it is the primary ("with this"), each sorted as Pacemaker keeps
    /// them.
    pub this_with: Vec<Vec<usize>>,
    pub with_this: Vec<Vec<usize>>,
    pub managed: Vec<bool>,
    pub blocked: Vec<bool>,
    pub node_online: Vec<bool>,
    pub node_shutdown: Vec<bool>,
    pub node_unclean: Vec<bool>,
    pub num_resources: Vec<usize>,
    pub capacity: Vec<BTreeMap<String, i64>>,
    pub promotion_added: Vec<bool>,
    pub promotion_constrained: Vec<bool>,
    pub final_scores: Vec<Vec<i64>>,
    pub promotion_scores: Vec<Option<i64>>,
}

pub fn assign(w: &Working) -> Plan {
    let mut a = Assigner::new(w);
    a.apply_symmetric_default();
    a.apply_tickets();
    a.apply_node_health();
    colocation::build(&mut a);
    a.build_locations();
    a.apply_locations();
    a.apply_stickiness();
    a.apply_failure_thresholds();
    a.apply_exclusive_discovery();
    colocation::internal_bans(&mut a);
    a.assign_all();
    a.into_plan()
}

impl<'a> Assigner<'a> {
    fn new(w: &'a Working) -> Assigner<'a> {
        let n_rsc = w.rscs.len();
        let n_nodes = w.nodes.len();
        let capacity = w
            .nodes
            .iter()
            .map(|n| {
                n.utilization
                    .iter()
                    .map(|(k, v)| (k.clone(), v.trim().parse::<i64>().unwrap_or(0)))
                    .collect()
            })
            .collect();
        Assigner {
            w,
            allowed: vec![vec![None; n_nodes]; n_rsc],
            discover: vec![vec![Discovery::Always; n_nodes]; n_rsc],
            exclusive: vec![false; n_rsc],
            count: vec![vec![0; n_nodes]; n_rsc],
            assigned: vec![None; n_rsc],
            assigned_score: vec![0; n_rsc],
            unassigned: vec![true; n_rsc],
            assigning: vec![false; n_rsc],
            updating_nodes: vec![false; n_rsc],
            next_role: (0..n_rsc).map(|r| initial_next_role(w, r)).collect(),
            priority: w.rscs.iter().map(|r| r.priority).collect(),
            sort_index: vec![0; n_rsc],
            // A bundle's replicas are not its children as far as scores go:
            // what is done to a bundle is done to its own node table.
            children: w
                .rscs
                .iter()
                .map(|r| {
                    if r.variant == Variant::Bundle {
                        Vec::new()
                    } else {
                        r.children.clone()
                    }
                })
                .collect(),
            locs: Vec::new(),
            rsc_locs: vec![Vec::new(); n_rsc],
            colocs: Vec::new(),
            this_with: vec![Vec::new(); n_rsc],
            with_this: vec![Vec::new(); n_rsc],
            managed: w
                .rscs
                .iter()
                .map(|r| r.managed && !w.maintenance_mode)
                .collect(),
            blocked: w.rscs.iter().map(|r| r.blocked).collect(),
            node_online: w.nodes.iter().map(|n| n.online).collect(),
            node_shutdown: w
                .nodes
                .iter()
                .map(|n| n.shutdown || n.connection_stopping)
                .collect(),
            node_unclean: w.nodes.iter().map(|n| n.unclean).collect(),
            num_resources: vec![0; n_nodes],
            capacity,
            promotion_added: vec![false; n_rsc],
            promotion_constrained: vec![false; n_rsc],
            final_scores: vec![vec![-INFINITY; n_nodes]; n_rsc],
            promotion_scores: vec![None; n_rsc],
        }
    }

    fn into_plan(self) -> Plan {
        let w = self.w;
        let allowed = (0..w.rscs.len())
            .map(|r| (0..w.nodes.len()).map(|n| self.may_probe(r, n)).collect())
            .collect();
        let next_role = (0..w.rscs.len())
            .map(|r| match self.next_role[r] {
                Role::Unknown if self.assigned[r].is_some() => Role::Started,
                Role::Unknown => Role::Stopped,
                role if self.assigned[r].is_none() => {
                    if self.managed[r] {
                        Role::Stopped
                    } else {
                        role
                    }
                }
                role => role,
            })
            .collect();
        Plan {
            allowed,
            final_scores: self.final_scores,
            assigned: self.assigned,
            next_role,
            promotion_scores: self.promotion_scores,
        }
    }

    /// Whether `r` may be probed on node `n`, as Pacemaker decides:
    /// resource-discovery allows it (a node outside its allowed nodes is
    /// still probed, unless discovery is exclusive elsewhere); fence
    /// devices and connections are never probed on remote or guest nodes,
    /// nor containers of guests on guest nodes, nor anything but a bundle's
    /// own resource on the bundle's nodes.
    fn may_probe(&self, r: usize, n: usize) -> bool {
        let w = self.w;
        let top = w.top_of(r);
        let exclusive = self.exclusive[r] || self.exclusive[self.discovery_top(r)];
        let discovery = self.discovery_at(r, n);
        if discovery == Discovery::Never || (exclusive && discovery != Discovery::Exclusive) {
            return false;
        }
        let node = &w.nodes[n];
        if node.kind == NodeKind::Member {
            return true;
        }
        let rsc = &w.rscs[r];
        let fence_device = rsc.agent.as_ref().is_some_and(|a| a.is_fence_device());
        if fence_device || w.is_connection(r) {
            return false;
        }
        if node.kind == NodeKind::Guest {
            if w.guest_containers.values().any(|&c| w.top_of(c) == top) {
                return false;
            }
            let own_bundle = w.bundles.iter().find(|(_, p)| {
                p.remotes
                    .iter()
                    .any(|&c| node.connection.as_deref() == Some(w.rscs[c].id.as_str()))
            });
            if let Some((&b, _)) = own_bundle {
                return top == b;
            }
        }
        true
    }

    /// Where resource-discovery is decided for `r`: its topmost ancestor
    /// below a bundle. A bundle's discovery constraints do not reach its
    /// replicas' containers and connections, which Pacemaker probes on the
    /// cluster nodes regardless.
    fn discovery_top(&self, r: usize) -> usize {
        let rscs = &self.w.rscs;
        let mut top = r;
        while let Some(p) = rscs[top]
            .parent
            .filter(|&p| rscs[p].variant != Variant::Bundle)
        {
            top = p;
        }
        top
    }

    /// The resource-discovery mode on node `n` for `r`: its own, or, where
    /// no constraint on it names the node, its nearest ancestor's up to
    /// `discovery_top` (a group's members and a clone's instances inherit
    /// the node table of what encloses them).
    fn discovery_at(&self, r: usize, n: usize) -> Discovery {
        let top = self.discovery_top(r);
        let mut at = r;
        loop {
            if self.discover[at][n] != Discovery::Always || at == top {
                return self.discover[at][n];
            }
            match self.w.rscs[at].parent {
                Some(p) => at = p,
                None => return self.discover[at][n],
            }
        }
    }

    pub fn n_nodes(&self) -> usize {
        self.w.nodes.len()
    }

    /// Pacemaker's `pcmk__node_available`: the node can run resources (and,
    /// with `consider_score`, the given score is not negative).
    pub fn node_available(&self, n: usize) -> bool {
        let node = &self.w.nodes[n];
        self.node_online[n]
            && !self.node_shutdown[n]
            && !self.node_unclean[n]
            && !node.standby
            && !node.maintenance
    }

    /// A guest or bundle node: assignment may assume it will come up.
    pub fn is_guest(&self, n: usize) -> bool {
        self.w.nodes[n].kind == NodeKind::Guest
    }

    /// Pacemaker's `resource_location`: adds `score` on `node` (every node
    /// when `None`) to the resource and all its descendants, allowing nodes
    /// not yet allowed.
    pub fn resource_location(&mut self, r: usize, node: Option<usize>, value: i64) {
        match node {
            Some(n) => self.node_score(r, n, value),
            None => {
                for n in 0..self.n_nodes() {
                    self.node_score(r, n, value);
                }
            }
        }
        if node.is_none() && value <= -INFINITY {
            self.assigned[r] = None;
        }
    }

    fn node_score(&mut self, r: usize, n: usize, value: i64) {
        for c in self.children[r].clone() {
            self.node_score(c, n, value);
        }
        let base = self.w.nodes[n].node_score;
        let cur = self.allowed[r][n].unwrap_or(base);
        self.allowed[r][n] = Some(score::add(cur, value));
    }

    /// A symmetric cluster allows every resource on every node, at the
    /// node's own score (as Pacemaker does for each resource it unpacks,
    /// bundle replicas included).
    ///
    /// In an opt-in cluster the connection of a guest node (made from its
    /// container's `remote-node`) is still allowed everywhere: it goes
    /// where its container goes (seen in the reference on a shrunk case).
    fn apply_symmetric_default(&mut self) {
        for r in 0..self.w.rscs.len() {
            if self.w.symmetric || !self.w.guest_containers.contains_key(&self.w.rscs[r].id) {
                continue;
            }
            for n in 0..self.n_nodes() {
                if self.allowed[r][n].is_none() && self.w.nodes[n].kind == NodeKind::Member {
                    self.allowed[r][n] = Some(self.w.nodes[n].node_score);
                }
            }
        }
        if !self.w.symmetric {
            return;
        }
        for r in 0..self.w.rscs.len() {
            for n in 0..self.n_nodes() {
                if self.allowed[r][n].is_none() {
                    self.allowed[r][n] = Some(self.w.nodes[n].node_score);
                }
            }
        }
    }

    /// Resources that need a ticket they do not hold (revoked or in
    /// standby): banned everywhere, except that a ticket needed only for the
    /// promoted role bans promotion instead (unless loss-policy=stop);
    /// a revoked ticket with loss-policy=freeze leaves running resources
    /// frozen where they are.
    fn apply_tickets(&mut self) {
        let w = self.w;
        for t in &w.cib.tickets {
            let Some(r) = self.resolve(&t.resource) else {
                continue;
            };
            let (granted, standby) = ticket_ok(w, &t.ticket);
            if granted && !standby {
                continue;
            }
            let role = t.role.filter(|&r| r == Role::Promoted);
            let policy = ticket_policy(t.loss_policy.as_str(), role, w.fencing_enabled);
            let mut prims = Vec::new();
            w.primitives_of(r, &mut prims);
            for p in prims {
                let running = !w.rscs[p].current.is_empty();
                if !granted && running {
                    match policy {
                        "demote" if role == Some(Role::Promoted) => {}
                        "freeze" => {
                            let role_ok = role.is_none_or(|want| w.rscs[p].current_role() == want);
                            if role_ok {
                                self.managed[p] = false;
                                self.blocked[p] = true;
                            }
                        }
                        "fence" if role.is_some_and(|want| w.rscs[p].current_role() != want) => {}
                        _ => self.resource_location(p, None, -INFINITY),
                    }
                } else if role != Some(Role::Promoted) || policy == "stop" {
                    self.resource_location(p, None, -INFINITY);
                }
            }
        }
    }

    /// Resolves a constraint's resource reference as Pacemaker does: an id
    /// inside a clone or bundle (the cloned primitive or group, or one of
    /// its members) means the whole collective.
    pub fn resolve(&self, id: &str) -> Option<usize> {
        let &r = self.w.by_id.get(id)?;
        if self.w.rscs[r].id == id {
            // A bundle's inner clone is the bundle's.
            if self.w.rscs[r].parent.is_some()
                && self.w.rscs[self.w.top_of(r)].variant == Variant::Bundle
            {
                return Some(self.w.top_of(r));
            }
            return Some(r);
        }
        Some(self.w.top_of(r))
    }

    /// node-health-strategy: each node's health is added to every
    /// resource's score there, like a location constraint (see `health`).
    fn apply_node_health(&mut self) {
        let w = self.w;
        let Some(health) = health::node_health(w) else {
            return;
        };
        for (n, &h) in health.iter().enumerate() {
            if h == 0 {
                continue;
            }
            for r in w.top.clone() {
                if !health::exempt(&w.rscs[r]) {
                    self.resource_location(r, Some(n), h);
                }
            }
        }
    }

    /// Resolves the location constraints into node scores, one entry per
    /// rule (Pacemaker adds the scores of several matching rules).
    fn build_locations(&mut self) {
        let w = self.w;
        for loc in &w.cib.locations {
            let targets = self.location_targets(loc);
            let discovery = match loc.discovery.as_str() {
                "never" => Discovery::Never,
                "exclusive" => Discovery::Exclusive,
                _ => Discovery::Always,
            };
            let entries = location_entries(w, loc);
            for &rsc in &targets {
                for (nodes, role) in &entries {
                    let i = self.locs.len();
                    self.locs.push(Loc {
                        rsc,
                        nodes: nodes.clone(),
                        role: *role,
                        discovery,
                    });
                    self.rsc_locs[rsc].push(i);
                }
            }
        }
    }

    /// The resources a location constraint names, by id or by pattern.
    fn location_targets(&self, loc: &Location) -> Vec<usize> {
        let w = self.w;
        let mut targets = Vec::new();
        for name in &loc.resources {
            if let Some(pattern) = name.strip_prefix('\u{1}') {
                // Checked when the CIB was read; linear-time matching.
                let Ok(pattern) = crate::model::cib::rsc_pattern(pattern) else {
                    continue;
                };
                for &t in &w.top {
                    if pattern.is_match(&w.rscs[t].id) {
                        targets.push(t);
                    }
                }
            } else if let Some(r) = self.resolve(name) {
                targets.push(r);
            }
        }
        targets
    }

    fn apply_locations(&mut self) {
        for i in 0..self.locs.len() {
            let rsc = self.locs[i].rsc;
            self.apply_location_to(rsc, i, false);
        }
    }

    /// Pacemaker's `apply_location` methods: a group applies a constraint to
    /// itself and its members (only the first member counts the score), a
    /// clone to itself and every instance, a bundle to itself, its
    /// containers and IPs.
    pub fn apply_location_to(&mut self, r: usize, loc: usize, zero: bool) {
        let w = self.w;
        match w.rscs[r].variant {
            Variant::Primitive => self.apply_location(r, loc, zero),
            Variant::Group => {
                self.apply_location(r, loc, zero);
                let mut zero_rest = zero;
                for c in w.rscs[r].children.clone() {
                    self.apply_location_to(c, loc, zero_rest);
                    zero_rest = true;
                }
            }
            Variant::Clone => {
                self.apply_location(r, loc, zero);
                for c in w.rscs[r].children.clone() {
                    self.apply_location_to(c, loc, zero);
                }
            }
            Variant::Bundle => {
                self.apply_location(r, loc, zero);
                if let Some(parts) = w.bundles.get(&r) {
                    for &c in parts.containers.iter().chain(parts.ips.iter()) {
                        self.apply_location(c, loc, zero);
                    }
                    if let Some(inner) = parts.inner {
                        if self.locs[loc].role.is_some() {
                            self.apply_location_to(inner, loc, zero);
                        }
                    }
                }
            }
        }
    }

    /// Pacemaker's `pcmk__apply_location` on one resource's own table.
    fn apply_location(&mut self, r: usize, loc: usize, zero: bool) {
        let l = &self.locs[loc];
        if l.role.is_some() && l.role != Some(self.next_role[r]) {
            return;
        }
        let discovery = l.discovery;
        for &(n, value) in &l.nodes.clone() {
            let value = if zero { 0 } else { value };
            self.allowed[r][n] = Some(match self.allowed[r][n] {
                None => value,
                Some(cur) => score::add(cur, value),
            });
            if self.discover[r][n] < discovery {
                if discovery == Discovery::Exclusive {
                    self.exclusive[r] = true;
                }
                self.discover[r][n] = discovery;
            }
        }
    }

    /// A managed resource active on exactly one node prefers to stay there
    /// by its stickiness (in an opt-in cluster only where it is allowed).
    fn apply_stickiness(&mut self) {
        let w = self.w;
        for r in 0..w.rscs.len() {
            let rsc = &w.rscs[r];
            if rsc.variant != Variant::Primitive || !self.managed[r] || rsc.stickiness < 1 {
                continue;
            }
            let [cur] = rsc.current.as_slice() else {
                continue;
            };
            if !w.symmetric && self.allowed[r][cur.node].is_none() {
                continue;
            }
            self.resource_location(r, Some(cur.node), rsc.stickiness);
        }
    }

    /// A resource whose fail count on a node reached its migration
    /// threshold is banned there (an anonymous clone instance's failures ban
    /// the whole clone).
    fn apply_failure_thresholds(&mut self) {
        let w = self.w;
        for n in 0..w.nodes.len() {
            for r in 0..w.rscs.len() {
                let rsc = &w.rscs[r];
                if rsc.variant != Variant::Primitive || !rsc.banned_by_failures[n] {
                    continue;
                }
                let target = if self.in_anonymous_clone(r) {
                    self.clone_of(r).unwrap_or(r)
                } else {
                    r
                };
                self.resource_location(target, Some(n), -INFINITY);
            }
        }
    }

    /// resource-discovery=exclusive: only the nodes such a constraint names
    /// may run the resource (and its children).
    fn apply_exclusive_discovery(&mut self) {
        let w = self.w;
        for r in w.top.clone() {
            self.exclusive_below(r, r);
        }
    }

    fn exclusive_below(&mut self, r: usize, top: usize) {
        if !(self.exclusive[r] || self.exclusive[top]) {
            return;
        }
        for c in self.children[r].clone() {
            self.exclusive_below(c, top);
        }
        for n in 0..self.n_nodes() {
            if self.allowed[r][n].is_some() && self.discover[r][n] != Discovery::Exclusive {
                self.allowed[r][n] = Some(-INFINITY);
            }
        }
    }

    /// The clone above a resource (through a cloned group), if any.
    pub fn clone_of(&self, r: usize) -> Option<usize> {
        let mut a = self.w.rscs[r].parent;
        while let Some(p) = a {
            if self.w.rscs[p].variant == Variant::Clone {
                return Some(p);
            }
            a = self.w.rscs[p].parent;
        }
        None
    }

    pub fn in_anonymous_clone(&self, r: usize) -> bool {
        self.clone_of(r)
            .is_some_and(|c| !self.w.rscs[c].globally_unique)
    }

    /// Assignment order: resources by priority (configuration order among
    /// equals; by their scores when a placement strategy is set), remote
    /// connections before everything else.
    fn assign_all(&mut self) {
        let w = self.w;
        let mut order: Vec<usize> = w.top.clone();
        for r in 0..w.rscs.len() {
            if w.rscs[r].parent.is_none() && !order.contains(&r) {
                order.push(r);
            }
        }
        order.sort_by_key(|&r| std::cmp::Reverse(w.rscs[r].priority));
        if w.placement_strategy != "default" {
            utilization::sort_resources(self, &mut order);
        }
        for &r in &order {
            if w.is_connection(r) {
                let prefer = crate::scheduler::unpack::partial_migration_target(w, r);
                self.assign(r, prefer, true);
            }
        }
        for &r in &order {
            if !w.is_connection(r) {
                self.assign(r, None, true);
            }
        }
    }

    /// Assigns any resource (its variant's method).
    pub fn assign(&mut self, r: usize, prefer: Option<usize>, stop_if_fail: bool) -> Option<usize> {
        match self.w.rscs[r].variant {
            Variant::Primitive => self.assign_primitive(r, prefer, stop_if_fail),
            Variant::Group => self.assign_group(r, prefer, stop_if_fail),
            Variant::Clone => {
                instances::assign_clone(self, r, prefer, stop_if_fail);
                None
            }
            Variant::Bundle => {
                instances::assign_bundle(self, r, prefer, stop_if_fail);
                None
            }
        }
    }

    fn assign_group(
        &mut self,
        r: usize,
        prefer: Option<usize>,
        stop_if_fail: bool,
    ) -> Option<usize> {
        if !self.unassigned[r] {
            return self.assigned[r];
        }
        if self.assigning[r] {
            return None;
        }
        let members = self.children[r].clone();
        if members.is_empty() {
            self.unassigned[r] = false;
            return None;
        }
        self.assigning[r] = true;
        let mut first_node = None;
        for (i, &m) in members.iter().enumerate() {
            let node = self.assign(m, prefer, stop_if_fail);
            if i == 0 {
                first_node = node;
            }
        }
        self.next_role[r] = self.next_role[members[0]];
        self.assigning[r] = false;
        self.unassigned[r] = false;
        self.assigned[r] = first_node;
        first_node
    }

    /// Pacemaker's `pcmk__primitive_assign`.
    fn assign_primitive(
        &mut self,
        r: usize,
        prefer: Option<usize>,
        stop_if_fail: bool,
    ) -> Option<usize> {
        let w = self.w;
        if let Some(p) = w.rscs[r].parent {
            if !self.assigning[p] {
                self.assign(p, prefer, stop_if_fail);
            }
        }
        if !self.unassigned[r] {
            return self.assigned[r];
        }
        if self.assigning[r] {
            return None;
        }
        self.assigning[r] = true;
        let this_with = colocation::this_with_list(self, r);
        let with_this = colocation::with_this_list(self, r);
        for pass_mandatory in [true, false] {
            for &ci in &this_with {
                if (self.colocs[ci].score.abs() >= INFINITY) == pass_mandatory {
                    colocation::apply_this_with(self, ci, r);
                }
            }
            for &ci in &with_this {
                if (self.colocs[ci].score.abs() >= INFINITY) == pass_mandatory {
                    colocation::add_dependent_scores(self, ci, r);
                }
            }
        }
        if self.next_role[r] == Role::Stopped {
            self.resource_location(r, None, -INFINITY);
        } else if self.next_role[r] > w.rscs[r].current_role()
            && !w.have_quorum
            && w.no_quorum_policy == "freeze"
        {
            self.next_role[r] = w.rscs[r].current_role();
        }
        if !self.managed[r] || w.start_up_disabled() {
            // Unmanaged resources stay where they are.
            self.next_role[r] = w.rscs[r].current_role();
            let here = crate::scheduler::unpack::current_node(w, r);
            self.record_scores(r);
            self.assign_resource(r, here, true, stop_if_fail);
        } else if w.cib.bool_property("stop-all-resources", false) {
            self.record_scores(r);
            self.assign_resource(r, None, true, stop_if_fail);
        } else {
            self.assign_best_node(r, prefer, stop_if_fail);
        }
        self.assigning[r] = false;
        self.remote_connection_assigned(r);
        self.assigned[r]
    }

    /// A remote connection's node comes up when the connection is placed,
    /// and shuts down otherwise.
    fn remote_connection_assigned(&mut self, r: usize) {
        let w = self.w;
        let Some(n) = w
            .nodes
            .iter()
            .position(|n| n.connection.as_deref() == Some(w.rscs[r].id.as_str()))
        else {
            return;
        };
        if self.assigned[r].is_some() && self.next_role[r] != Role::Stopped {
            self.node_online[n] = true;
            if w.nodes[n].fence_revocable || !w.nodes[n].has_state {
                self.node_unclean[n] = false;
            }
        } else {
            self.node_shutdown[n] = true;
        }
    }

    /// The resource's allowed nodes, best first (Pacemaker's
    /// `pcmk__sort_nodes`): score (unavailable nodes count as -INFINITY),
    /// then free capacity under `balanced`, then resources already
    /// assigned, then the given node, then name. `minimal` goes straight
    /// from the score to the name.
    pub fn sorted_nodes(&self, table: &Table, preferred: Option<usize>) -> Vec<usize> {
        let w = self.w;
        let mut nodes: Vec<usize> = (0..table.len()).filter(|&n| table[n].is_some()).collect();
        let effective = |n: usize| {
            if self.node_available(n) {
                table[n].unwrap_or(-INFINITY)
            } else {
                -INFINITY
            }
        };
        nodes.sort_by(|&a, &b| {
            effective(b)
                .cmp(&effective(a))
                .then_with(|| {
                    if w.placement_strategy == "minimal" {
                        return std::cmp::Ordering::Equal;
                    }
                    let by_capacity = if w.placement_strategy == "balanced" {
                        utilization::compare_capacity(self, a, b)
                    } else {
                        std::cmp::Ordering::Equal
                    };
                    by_capacity
                        .then(self.num_resources[a].cmp(&self.num_resources[b]))
                        .then_with(|| match preferred {
                            Some(p) if p == a => std::cmp::Ordering::Less,
                            Some(p) if p == b => std::cmp::Ordering::Greater,
                            _ => std::cmp::Ordering::Equal,
                        })
                })
                .then_with(|| w.nodes[a].name.as_bytes().cmp(w.nodes[b].name.as_bytes()))
        });
        nodes
    }

    /// Pacemaker's `assign_best_node`.
    fn assign_best_node(&mut self, r: usize, prefer: Option<usize>, stop_if_fail: bool) {
        let w = self.w;
        let most_free = utilization::ban_insufficient_capacity(self, r);
        let prefer = prefer.or(most_free);
        let current = crate::scheduler::unpack::current_node(w, r);
        let nodes = self.sorted_nodes(&self.allowed[r], current);
        let best = nodes.first().copied();
        let score_of = |a: &Self, n: usize| a.allowed[r][n].unwrap_or(-INFINITY);
        let mut chosen = None;
        if let (Some(p), Some(b)) = (prefer, best) {
            if self.allowed[r][p].is_some()
                && score_of(self, p) >= score_of(self, b)
                && self.node_available(p)
                && score_of(self, p) >= 0
            {
                chosen = Some(p);
            }
        }
        if chosen.is_none() {
            if let Some(b) = best {
                chosen = Some(b);
                let unique = !self.in_anonymous_clone(r);
                if !unique && score_of(self, b) > 0 && self.node_available(b) {
                    if let Some(running) = current.filter(|&c| self.node_available(c)) {
                        for &n in nodes.iter().skip(1) {
                            if score_of(self, n) != score_of(self, b) {
                                break;
                            }
                            if n == running {
                                chosen = Some(n);
                            }
                        }
                    }
                }
            }
        }
        self.record_scores(r);
        self.assign_resource(r, chosen, false, stop_if_fail);
    }

    /// Keeps the scores a resource was assigned with (for `--scores`).
    pub fn record_scores(&mut self, r: usize) {
        self.final_scores[r] = (0..self.n_nodes())
            .map(|n| self.allowed[r][n].unwrap_or(-INFINITY))
            .collect();
    }

    /// Pacemaker's `pcmk__assign_resource`: records the choice (refusing a
    /// node with a negative score or that cannot run resources, unless
    /// forced or a guest node that will come up), or the failure to place.
    pub fn assign_resource(
        &mut self,
        r: usize,
        node: Option<usize>,
        force: bool,
        stop_if_fail: bool,
    ) {
        let w = self.w;
        if w.rscs[r].variant != Variant::Primitive {
            for c in self.children[r].clone() {
                self.assign_resource(c, node, force, stop_if_fail);
            }
            return;
        }
        let mut node = node;
        if let Some(n) = node {
            let score = self.allowed[r][n].unwrap_or(w.nodes[n].node_score);
            if !force && (score < 0 || (!self.node_available(n) && !self.is_guest(n))) {
                node = None;
            }
        }
        self.unassign(r);
        self.unassigned[r] = false;
        let Some(n) = node else {
            if stop_if_fail {
                self.next_role[r] = Role::Stopped;
            }
            return;
        };
        self.assigned[r] = Some(n);
        self.assigned_score[r] = self.allowed[r][n].unwrap_or(w.nodes[n].node_score);
        self.num_resources[n] += 1;
        utilization::consume(self, r, n);
    }

    /// Undoes an assignment (instances whose early assignment failed).
    pub fn unassign(&mut self, r: usize) {
        if let Some(old) = self.assigned[r].take() {
            self.num_resources[old] = self.num_resources[old].saturating_sub(1);
            utilization::release(self, r, old);
        }
        self.unassigned[r] = true;
    }

    /// Where a resource will be: a primitive's assigned node; a collective's
    /// single node, or `None` when its members are on several nodes or none.
    pub fn location(&self, r: usize) -> Option<usize> {
        let w = self.w;
        if w.rscs[r].variant == Variant::Primitive {
            return self.assigned[r];
        }
        let mut nodes = Vec::new();
        self.collect_locations(r, &mut nodes);
        match nodes.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    fn collect_locations(&self, r: usize, out: &mut Vec<usize>) {
        if self.w.rscs[r].variant == Variant::Primitive {
            if let Some(n) = self.assigned[r] {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            return;
        }
        for &c in &self.children[r] {
            self.collect_locations(c, out);
        }
    }

    /// The next role of a resource (a collective's highest).
    pub fn state_next(&self, r: usize) -> Role {
        if self.w.rscs[r].variant == Variant::Primitive {
            return self.next_role[r];
        }
        self.children[r]
            .iter()
            .map(|&c| self.state_next(c))
            .max()
            .unwrap_or(Role::Unknown)
    }

    /// The current role of a resource (a collective's highest).
    pub fn state_current(&self, r: usize) -> Role {
        let w = self.w;
        if w.rscs[r].variant == Variant::Primitive {
            return if w.rscs[r].current.is_empty() {
                Role::Stopped
            } else {
                w.rscs[r].current_role()
            };
        }
        self.children[r]
            .iter()
            .map(|&c| self.state_current(c))
            .max()
            .unwrap_or(Role::Unknown)
    }

    /// Whether a resource or anything in it is blocked.
    pub fn blocked_recursive(&self, r: usize) -> bool {
        self.blocked[r] || self.children[r].iter().any(|&c| self.blocked_recursive(c))
    }
}

/// The node scores of a location constraint: one entry for a node score,
/// one per rule, each with the role it applies to.
fn location_entries(w: &Working, loc: &Location) -> Vec<NodeScores> {
    // Started and Unpromoted mean any role (an instance is
    // unpromoted before it can be promoted).
    let role = loc.role.filter(|&r| r == Role::Promoted);
    let mut entries: Vec<NodeScores> = Vec::new();
    match &loc.target {
        LocationTarget::Node { node, score } => {
            if let Some(n) = w.node_named(node) {
                entries.push((vec![(n, *score)], role));
            } else {
                entries.push((Vec::new(), role));
            }
        }
        LocationTarget::Rules(rules) => {
            for rule in rules {
                let rule_role = match rule.attr("role").and_then(Role::parse) {
                    Some(Role::Promoted) => Some(Role::Promoted),
                    Some(_) => None,
                    None => role,
                };
                let mut nodes = Vec::new();
                for n in 0..w.nodes.len() {
                    let ctx = RuleContext {
                        node_attrs: Some(&w.nodes[n].attrs),
                        now_epoch_s: w.now_epoch_s,
                        agent: None,
                        op: None,
                    };
                    if let Some(s) = location_rule_score(rule, &ctx) {
                        nodes.push((n, s));
                    }
                }
                entries.push((nodes, rule_role));
            }
        }
    }
    entries
}

/// The next role a resource starts assignment with: what its target-role
/// allows (Stopped, or Unpromoted for a promotable instance), otherwise
/// undecided.
fn initial_next_role(w: &Working, r: usize) -> Role {
    let rsc = &w.rscs[r];
    match rsc.target_role {
        Role::Stopped => Role::Stopped,
        // Inside a promotable clone, Unpromoted bars promotion whether the
        // instance runs or not (checked against the reference on a stopped
        // promotable clone: both instances start, none is promoted).
        Role::Unpromoted
            if !rsc.current.is_empty()
                || rsc.variant != Variant::Primitive
                || w.in_promotable_clone(r) =>
        {
            Role::Unpromoted
        }
        _ => Role::Unknown,
    }
}

/// What a lost ticket does: the configured loss-policy, or by default
/// demote for a promoted-role dependency and stop otherwise (fence only
/// with fencing enabled).
fn ticket_policy(policy: &str, role: Option<Role>, fencing: bool) -> &'static str {
    match policy {
        "fence" if fencing => "fence",
        "fence" | "stop" => "stop",
        "freeze" => "freeze",
        "demote" => "demote",
        _ if role == Some(Role::Promoted) => "demote",
        _ => "stop",
    }
}

/// Whether a ticket is usable: granted and not in standby.
pub fn ticket_ok(w: &Working, ticket: &str) -> (bool, bool) {
    let state = w.cib.ticket_state.get(ticket);
    let granted = state
        .and_then(|s| s.get("granted"))
        .is_some_and(|v| crate::model::cib::parse_bool(v));
    let standby = state
        .and_then(|s| s.get("standby"))
        .is_some_and(|v| crate::model::cib::parse_bool(v));
    (granted, standby)
}
