//! Stage 3, actions: what every resource must do, as Pacemaker works it out.
//!
//! Each primitive gets the actions that take it from its current role and
//! node to its next ones (stops, starts, demotes, promotes, migrations),
//! each *optional* (only needed if something else requires it) or required,
//! *runnable* or not, sometimes a *pseudo-action* (implied by fencing, or a
//! group's, clone's or bundle's synchronisation point). Orderings relate
//! actions with Pacemaker's relation flags ([`rel`]): "first implies then"
//! (a required first makes the then required), "then implies first",
//! "unrunnable first blocks then", the restart relation between a stop and
//! its start, one-or-more and so on. The flags are propagated along the
//! orderings until nothing changes ([`Model::update_for_orderings`]); the
//! Transition Summary is then read off the actions ([`summary`]),
//! and each primitive's [`Decision`] (what the graph stage builds from) too.
//!
//! Creating actions lives in [`create`], the orderings themselves in
//! [`orderings`].

pub mod create;
pub mod orderings;
pub mod summary;
pub mod unfence;

use crate::model::cib::Role;
use crate::scheduler::assign::Plan;
use crate::scheduler::unpack::{Variant, Working};

/// What one primitive will do in this transition (read off its actions).
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub role: Option<Role>,
    pub next_role: Option<Role>,
    pub current: Option<usize>,
    pub next: Option<usize>,
    /// Nodes it must stop on.
    pub stop_on: Vec<usize>,
    /// Start required on `next`.
    pub start: bool,
    /// The start exists (maybe optional) and can run.
    pub start_runnable: bool,
    pub start_reason: Option<String>,
    pub stop_reason: Option<String>,
    pub promote: bool,
    pub demote: bool,
    pub migrate: bool,
    pub managed: bool,
    /// Probes may run: managed, or held only because start-up is disabled
    /// for want of fencing (probes read the state and change nothing).
    pub probe: bool,
    pub failed: bool,
    /// Failed with on-fail=block: frozen where it is, never started again.
    pub blocked_stop: bool,
    /// Stops can run (false when the node is unclean and cannot be fenced).
    pub stop_runnable: bool,
    /// Reloads its changed parameters in place (the agent can).
    pub reload: bool,
}

/// Action flags (Pacemaker's `pe_action_flags`).
pub mod flag {
    pub const OPTIONAL: u32 = 1;
    pub const RUNNABLE: u32 = 1 << 1;
    pub const PSEUDO: u32 = 1 << 2;
    pub const MIGRATABLE: u32 = 1 << 3;
    pub const MIN_RUNNABLE: u32 = 1 << 4;
    pub const MIGRATION_ABORT: u32 = 1 << 5;
}

/// Relation flags between two ordered actions (Pacemaker's
/// `pcmk__action_relation_flags`).
pub mod rel {
    pub const ORDERED: u32 = 1;
    pub const THEN_IMPLIES_FIRST: u32 = 1 << 1;
    pub const FIRST_IMPLIES_THEN: u32 = 1 << 2;
    pub const UNRUNNABLE_FIRST_BLOCKS: u32 = 1 << 3;
    pub const INTERMEDIATE_STOP: u32 = 1 << 4;
    pub const PROMOTED_THEN_IMPLIES_FIRST: u32 = 1 << 5;
    pub const MIN_RUNNABLE: u32 = 1 << 6;
    pub const UNMIGRATABLE_THEN_BLOCKS: u32 = 1 << 7;
    pub const FIRST_ELSE_THEN: u32 = 1 << 8;
    pub const ASYMMETRIC: u32 = 1 << 9;
    pub const SERIALIZE: u32 = 1 << 10;
    pub const IF_ON_SAME_NODE: u32 = 1 << 11;
    pub const FIRST_IMPLIES_THEN_GRAPHED: u32 = 1 << 12;
    pub const THEN_IMPLIES_FIRST_GRAPHED: u32 = 1 << 13;
    pub const GUEST_ALLOWED: u32 = 1 << 14;
}

/// An action's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tk {
    Start,
    Stop,
    Promote,
    Demote,
    Running,
    Stopped,
    Promoted,
    Demoted,
    MigrateTo,
    MigrateFrom,
    /// A probe.
    Monitor,
    /// `one-or-more:` / `clone-one-or-more:` pseudo-actions.
    OneOrMore,
    Fence,
}

impl Tk {
    pub fn name(self) -> &'static str {
        match self {
            Tk::Start => "start",
            Tk::Stop => "stop",
            Tk::Promote => "promote",
            Tk::Demote => "demote",
            Tk::Running => "running",
            Tk::Stopped => "stopped",
            Tk::Promoted => "promoted",
            Tk::Demoted => "demoted",
            Tk::MigrateTo => "migrate_to",
            Tk::MigrateFrom => "migrate_from",
            Tk::Monitor => "monitor",
            Tk::OneOrMore => "one-or-more",
            Tk::Fence => "stonith",
        }
    }

    pub fn parse(text: &str) -> Option<Tk> {
        Some(match text {
            "start" => Tk::Start,
            "stop" => Tk::Stop,
            "promote" => Tk::Promote,
            "demote" => Tk::Demote,
            "running" => Tk::Running,
            "stopped" => Tk::Stopped,
            "promoted" => Tk::Promoted,
            "demoted" => Tk::Demoted,
            "migrate_to" => Tk::MigrateTo,
            "migrate_from" => Tk::MigrateFrom,
            "monitor" => Tk::Monitor,
            _ => return None,
        })
    }

    /// The opposite action, for the inverse of a symmetrical ordering.
    pub fn invert(self) -> Option<Tk> {
        Some(match self {
            Tk::Start => Tk::Stop,
            Tk::Stop => Tk::Start,
            Tk::Promote => Tk::Demote,
            Tk::Demote => Tk::Promote,
            Tk::Promoted => Tk::Demoted,
            Tk::Demoted => Tk::Promoted,
            Tk::Running => Tk::Stopped,
            Tk::Stopped => Tk::Running,
            _ => return None,
        })
    }

    /// The "done" pseudo-action of a collective's task (start -> running).
    pub fn completed(self) -> Tk {
        match self {
            Tk::Start => Tk::Running,
            Tk::Stop => Tk::Stopped,
            Tk::Promote => Tk::Promoted,
            Tk::Demote => Tk::Demoted,
            other => other,
        }
    }

    /// A primitive's own task for a collective's "done" task.
    pub fn atomic(self) -> Tk {
        match self {
            Tk::Running => Tk::Start,
            Tk::Stopped => Tk::Stop,
            Tk::Promoted => Tk::Promote,
            Tk::Demoted => Tk::Demote,
            other => other,
        }
    }
}

/// What an action needs before it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    Quorum,
    Fencing,
}

#[derive(Debug, Clone)]
pub struct Act {
    pub rsc: Option<usize>,
    pub task: Tk,
    pub node: Option<usize>,
    pub flags: u32,
    pub reason: Option<String>,
    pub needs: Needs,
    /// Relations where this action is the "then", oldest first.
    pub before: Vec<usize>,
    /// Relations where this action is the "first", oldest first.
    pub after: Vec<usize>,
    pub required_before: usize,
    pub runnable_before: usize,
    /// The name of a pseudo-action that belongs to no resource.
    pub name: String,
}

impl Act {
    pub fn is(&self, f: u32) -> bool {
        self.flags & f != 0
    }
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub first: usize,
    pub then: usize,
    pub flags: u32,
}

/// The resource-level facts actions are created from.
#[derive(Debug, Clone)]
pub struct RscState {
    pub role: Role,
    pub next_role: Role,
    pub next: Option<usize>,
    pub running_on: Vec<usize>,
    pub managed: bool,
    pub failed: bool,
    /// A failure is recovered by stopping (not only by demoting).
    pub stop_if_failed: bool,
    pub blocked: bool,
    pub reload: bool,
    pub stop_unexpected: bool,
    pub restarting: bool,
}

/// The transition's actions and their relations.
pub struct Model<'a> {
    pub w: &'a Working,
    pub plan: &'a Plan,
    pub acts: Vec<Act>,
    pub rels: Vec<Relation>,
    /// Each resource's actions, in creation order.
    pub by_rsc: Vec<Vec<usize>>,
    pub state: Vec<RscState>,
    /// Nodes being fenced (set once fencing is decided).
    pub fenced: Vec<bool>,
    /// Ordering constraints, resolved to relations once all actions exist.
    pub orderings: Vec<orderings::Ordering>,
    /// Guard against runaway propagation on pathological input.
    budget: u64,
}

/// Relation updates that changed something (Pacemaker's
/// `pcmk__updated_first` / `pcmk__updated_then`).
const CHANGED_FIRST: u32 = 1;
const CHANGED_THEN: u32 = 2;

impl<'a> Model<'a> {
    pub fn new(w: &'a Working, plan: &'a Plan) -> Model<'a> {
        let state = (0..w.rscs.len())
            .map(|r| create::initial_state(w, plan, r))
            .collect();
        Model {
            w,
            plan,
            acts: Vec::new(),
            rels: Vec::new(),
            by_rsc: vec![Vec::new(); w.rscs.len()],
            state,
            fenced: vec![false; w.nodes.len()],
            orderings: Vec::new(),
            budget: 50_000_000,
        }
    }

    /// The first action of a resource with a task, on a node (any node when
    /// `None`; an action without a node matches any node).
    pub fn find(&self, r: usize, task: Tk, node: Option<usize>) -> Option<usize> {
        self.by_rsc[r].iter().copied().find(|&a| {
            let act = &self.acts[a];
            act.task == task && (node.is_none() || act.node.is_none() || act.node == node)
        })
    }

    /// Every action of a resource with a task (any node).
    pub fn find_all(&self, r: usize, task: Tk) -> Vec<usize> {
        self.by_rsc[r]
            .iter()
            .copied()
            .filter(|&a| self.acts[a].task == task)
            .collect()
    }

    /// Pacemaker's `custom_action`: finds or creates the action; a required
    /// request makes an existing optional action required (unless the
    /// resource is unmanaged); runnability follows the node and quorum.
    pub fn custom(&mut self, r: usize, task: Tk, node: Option<usize>, optional: bool) -> usize {
        let existing = self.by_rsc[r].iter().copied().find(|&a| {
            let act = &self.acts[a];
            act.task == task && act.node == node
        });
        let a = match existing {
            Some(a) => a,
            None => {
                let needs = create::needs(self.w, r, task);
                let mut flags = flag::RUNNABLE;
                if optional {
                    flags |= flag::OPTIONAL;
                }
                self.push(Act {
                    rsc: Some(r),
                    task,
                    node,
                    flags,
                    reason: None,
                    needs,
                    before: Vec::new(),
                    after: Vec::new(),
                    required_before: 0,
                    runnable_before: 0,
                    name: String::new(),
                })
            }
        };
        if self.acts[a].node.is_some() && !self.acts[a].is(flag::PSEUDO) && !self.state[r].managed {
            self.acts[a].flags |= flag::OPTIONAL;
        } else if !optional {
            self.acts[a].flags &= !flag::OPTIONAL;
        }
        create::update_runnable(self, a);
        a
    }

    /// A pseudo-action of a collective (or of nothing, when `r` is None).
    pub fn pseudo(
        &mut self,
        r: Option<usize>,
        task: Tk,
        optional: bool,
        runnable: bool,
        name: &str,
    ) -> usize {
        if let Some(r) = r {
            if let Some(a) = self.find(r, task, None) {
                return a;
            }
        } else if let Some(a) = self
            .acts
            .iter()
            .position(|x| x.rsc.is_none() && x.name == name)
        {
            return a;
        }
        let mut flags = flag::PSEUDO;
        if optional {
            flags |= flag::OPTIONAL;
        }
        if runnable {
            flags |= flag::RUNNABLE;
        }
        self.push(Act {
            rsc: r,
            task,
            node: None,
            flags,
            reason: None,
            needs: Needs::Nothing,
            before: Vec::new(),
            after: Vec::new(),
            required_before: 0,
            runnable_before: 0,
            name: name.to_string(),
        })
    }

    fn push(&mut self, act: Act) -> usize {
        let i = self.acts.len();
        if let Some(r) = act.rsc {
            self.by_rsc[r].push(i);
        }
        self.acts.push(act);
        i
    }

    /// Sets an action's reason unless it has one (or `overwrite`).
    pub fn set_reason(&mut self, a: usize, reason: &str, overwrite: bool) {
        if self.acts[a].reason.is_none() || overwrite {
            self.acts[a].reason = Some(reason.to_string());
        }
    }

    /// Pacemaker's `order_actions`: relates two actions (once per pair and
    /// flags); returns whether a new relation was made.
    pub fn order(&mut self, first: usize, then: usize, flags: u32) -> bool {
        if flags == 0 || first == then {
            return false;
        }
        for &ri in &self.acts[first].after {
            let r = &self.rels[ri];
            if r.then == then && r.flags & flags != 0 {
                return false;
            }
        }
        let ri = self.rels.len();
        self.rels.push(Relation { first, then, flags });
        self.acts[first].after.push(ri);
        self.acts[then].before.push(ri);
        true
    }

    /// Clears a flag on an action because of another action, recording the
    /// reason ("unrunnable X start", "required X stop", "unmigrateable X
    /// stop") when they belong to different resources.
    fn clear_because(&mut self, a: usize, f: u32, because: usize) {
        if !self.acts[a].is(f) {
            return;
        }
        self.acts[a].flags &= !f;
        if self.acts[a].rsc != self.acts[because].rsc {
            let change = match f {
                flag::RUNNABLE => "unrunnable",
                flag::MIGRATABLE => "unmigrateable",
                _ => "required",
            };
            let b = &self.acts[because];
            let text = match b.rsc {
                Some(r) => format!("{change} {} {}", self.w.rscs[r].id, self.task_text(because)),
                None => format!("{change} {}", self.task_text(because)),
            };
            self.set_reason(a, &text, false);
        }
    }

    /// The task as Pacemaker names it in reasons (a pseudo-action without a
    /// resource by its full name).
    fn task_text(&self, a: usize) -> String {
        let act = &self.acts[a];
        if act.rsc.is_none() && !act.name.is_empty() {
            return act.name.clone();
        }
        act.task.name().to_string()
    }

    /// Where a resource will be: its assigned node (a collective's single
    /// node, if all its members go to one).
    pub fn location(&self, r: usize) -> Option<usize> {
        let w = self.w;
        if w.rscs[r].variant == Variant::Primitive {
            return self.state[r].next;
        }
        let mut prims = Vec::new();
        w.primitives_of(r, &mut prims);
        let mut nodes: Vec<usize> = prims.iter().filter_map(|&p| self.state[p].next).collect();
        nodes.dedup();
        match nodes.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    fn is_collective(&self, r: usize) -> bool {
        self.w.rscs[r].variant != Variant::Primitive
    }

    /// The action a collective's action stands for in orderings with other
    /// resources: its "done" pseudo-action (start -> running).
    fn action_for_ordering(&self, a: usize) -> usize {
        let act = &self.acts[a];
        let Some(r) = act.rsc else { return a };
        if !self.is_collective(r) {
            return a;
        }
        let target = act.task.completed();
        if target == act.task {
            return a;
        }
        self.find(r, target, None).unwrap_or(a)
    }

    /// The flags of an action as orderings see them: a collective's are
    /// worked out from its members' (Pacemaker's `action_flags` methods).
    fn action_flags(&mut self, a: usize, node: Option<usize>) -> u32 {
        let Some(r) = self.acts[a].rsc else {
            return self.acts[a].flags;
        };
        match self.w.rscs[r].variant {
            Variant::Primitive => self.acts[a].flags,
            Variant::Group => self.group_action_flags(a, r, node),
            Variant::Clone | Variant::Bundle => self.collective_action_flags(a, r, node),
        }
    }

    fn group_action_flags(&mut self, a: usize, g: usize, node: Option<usize>) -> u32 {
        let mut flags = flag::OPTIONAL | flag::RUNNABLE | flag::PSEUDO;
        let task = self.acts[a].task;
        for m in self.w.rscs[g].children.clone() {
            let member_task = if self.is_collective(m) {
                task
            } else {
                task.atomic()
            };
            match self.find(m, member_task, node) {
                Some(ma) => {
                    let mf = self.action_flags(ma, node);
                    if flags & flag::OPTIONAL != 0 && mf & flag::OPTIONAL == 0 {
                        flags &= !flag::OPTIONAL;
                        self.acts[a].flags &= !flag::OPTIONAL;
                    }
                    if member_task != task
                        && flags & flag::RUNNABLE != 0
                        && mf & flag::RUNNABLE == 0
                    {
                        flags &= !flag::RUNNABLE;
                        self.acts[a].flags &= !flag::RUNNABLE;
                    }
                }
                None if member_task != Tk::Stop && member_task != Tk::Demote => {
                    flags &= !flag::RUNNABLE;
                }
                None => {}
            }
        }
        flags
    }

    fn collective_action_flags(&mut self, a: usize, c: usize, node: Option<usize>) -> u32 {
        let mut flags = flag::OPTIONAL | flag::RUNNABLE | flag::PSEUDO;
        let task = self.acts[a].task;
        let mut any_runnable = false;
        for i in self.instances(c) {
            let primitive = !self.is_collective(i);
            let instance_task = if primitive { task.atomic() } else { task };
            let instance_node = if primitive { node } else { None };
            let Some(ia) = self.find(i, instance_task, instance_node) else {
                continue;
            };
            let f = self.action_flags(ia, node);
            if flags & flag::OPTIONAL != 0 && f & flag::OPTIONAL == 0 {
                flags &= !flag::OPTIONAL;
                self.acts[a].flags &= !flag::OPTIONAL;
            }
            if f & flag::RUNNABLE != 0 {
                any_runnable = true;
            }
        }
        if !any_runnable {
            flags &= !flag::RUNNABLE;
            if node.is_none() {
                self.acts[a].flags &= !flag::RUNNABLE;
            }
        }
        flags
    }

    /// A clone's instances, or a bundle's containers.
    pub fn instances(&self, c: usize) -> Vec<usize> {
        match self.w.bundles.get(&c) {
            Some(parts) => parts.containers.clone(),
            None => self.w.rscs[c].children.clone(),
        }
    }

    /// Pacemaker's `action_flags_for_ordering`: for a clone on a given
    /// node, runnable anywhere counts as runnable.
    fn flags_for_ordering(&mut self, a: usize, node: Option<usize>) -> u32 {
        let Some(r) = self.acts[a].rsc else {
            return self.acts[a].flags;
        };
        let flags = self.action_flags(a, None);
        let is_clone = self.w.rscs[r].variant == Variant::Clone;
        if node.is_none() || !is_clone {
            return flags;
        }
        let runnable = flags & flag::RUNNABLE != 0;
        let mut flags = self.action_flags(a, node);
        if runnable {
            flags |= flag::RUNNABLE;
        }
        flags
    }

    fn is_parent(&self, child: usize, maybe_parent: usize) -> bool {
        let mut a = self.w.rscs[child].parent;
        while let Some(p) = a {
            if p == maybe_parent {
                return true;
            }
            a = self.w.rscs[p].parent;
        }
        false
    }

    /// Pacemaker's `pcmk__update_action_for_orderings`: brings `then`'s
    /// flags in line with everything ordered before it, and re-examines
    /// whatever its changes affect.
    pub fn update_for_orderings(&mut self, then: usize) {
        if self.budget == 0 {
            return;
        }
        self.budget -= 1;
        let last_flags = self.acts[then].flags;
        if self.acts[then].is(flag::MIN_RUNNABLE) {
            self.acts[then].runnable_before = 0;
            if self.acts[then].required_before == 0 {
                self.acts[then].required_before = 1;
            }
            self.acts[then].flags &= !flag::RUNNABLE;
        }
        let mut then_changed = false;
        let befores: Vec<usize> = self.acts[then].before.iter().rev().copied().collect();
        for ri in befores {
            then_changed |= self.apply_ordering_before(ri, then);
        }
        if self.acts[then].is(flag::MIN_RUNNABLE) {
            then_changed = last_flags != self.acts[then].flags;
        }
        if then_changed {
            let lost_runnable =
                last_flags & flag::RUNNABLE != 0 && !self.acts[then].is(flag::RUNNABLE);
            if lost_runnable {
                orderings::block_colocation_dependents(self, then);
            }
            self.update_for_orderings(then);
            self.update_actions_after(then);
        }
    }

    /// Applies ordering `ri` to its "then" action `then`, and re-examines
    /// what follows the "first" action when that changed. True when `then`
    /// changed.
    fn apply_ordering_before(&mut self, ri: usize, then: usize) -> bool {
        let rel_flags = self.rels[ri].flags;
        if rel_flags == 0 {
            return false;
        }
        let original_first = self.rels[ri].first;
        let mut first = original_first;
        let then_node = self.ordering_node(then);
        let first_node = self.ordering_node(first);
        if rel_flags & rel::IF_ON_SAME_NODE != 0 {
            if let (Some(f), Some(t)) = (first_node, then_node) {
                if f != t {
                    self.rels[ri].flags = 0;
                    return false;
                }
            }
        }
        if let (Some(fr), Some(tr)) = (self.acts[first].rsc, self.acts[then].rsc) {
            if fr != tr && !self.is_parent(tr, fr) {
                first = self.action_for_ordering(first);
            }
        }
        let mut changed = 0;
        if first == original_first {
            let first_flags = self.flags_for_ordering(first, then_node);
            // For its effect: a group's or clone's flags follow its members'.
            self.flags_for_ordering(then, first_node);
            changed = self.update_for_ordering_flags(first, then, first_flags, ri);
        } else if self.order(first, then, rel_flags) {
            changed = CHANGED_THEN;
            self.rels[ri].flags = 0;
        }
        if changed & CHANGED_FIRST != 0 {
            self.update_actions_after(first);
            self.update_for_orderings(first);
        }
        changed & CHANGED_THEN != 0
    }

    /// Where action `a` runs, for orderings limited to one node: a group's
    /// start is where the group is placed.
    fn ordering_node(&self, a: usize) -> Option<usize> {
        if let Some(r) = self.acts[a].rsc {
            if self.w.rscs[r].variant == Variant::Group && self.acts[a].task == Tk::Start {
                return self.location(r);
            }
        }
        self.acts[a].node
    }

    /// Re-examines every action ordered after `a`, last ordering first.
    fn update_actions_after(&mut self, a: usize) {
        let afters: Vec<usize> = self.acts[a]
            .after
            .iter()
            .rev()
            .map(|&r| self.rels[r].then)
            .collect();
        for t in afters {
            self.update_for_orderings(t);
        }
    }

    /// Pacemaker's `update_action_for_ordering_flags`.
    fn update_for_ordering_flags(
        &mut self,
        first: usize,
        then: usize,
        first_flags: u32,
        ri: usize,
    ) -> u32 {
        // Each kind of ordering, in Pacemaker's order: which of the first's
        // flags it passes on, and which flags it may change.
        const EFFECTS: [(u32, u32, u32); 10] = [
            (rel::FIRST_IMPLIES_THEN, flag::OPTIONAL, flag::OPTIONAL),
            (
                rel::INTERMEDIATE_STOP,
                u32::MAX,
                flag::OPTIONAL | flag::RUNNABLE,
            ),
            (rel::THEN_IMPLIES_FIRST, u32::MAX, flag::OPTIONAL),
            (
                rel::PROMOTED_THEN_IMPLIES_FIRST,
                flag::OPTIONAL,
                flag::OPTIONAL,
            ),
            (rel::MIN_RUNNABLE, u32::MAX, flag::RUNNABLE),
            (rel::UNRUNNABLE_FIRST_BLOCKS, u32::MAX, flag::RUNNABLE),
            (rel::UNMIGRATABLE_THEN_BLOCKS, u32::MAX, flag::OPTIONAL),
            (rel::FIRST_ELSE_THEN, u32::MAX, flag::OPTIONAL),
            (rel::ORDERED, u32::MAX, flag::RUNNABLE),
            (rel::ASYMMETRIC, u32::MAX, flag::RUNNABLE),
        ];
        let type_ = self.rels[ri].flags;
        let mut changed = 0;
        for (kind, passed, filter) in EFFECTS {
            if type_ & kind != 0 {
                changed |=
                    self.apply_ordering_kind(first, then, kind, first_flags & passed, filter);
            }
        }
        // An unmanaged, blocked first whose stop cannot run blocks the then.
        if type_ & (rel::FIRST_IMPLIES_THEN | rel::THEN_IMPLIES_FIRST | rel::INTERMEDIATE_STOP) != 0
        {
            if let Some(fr) = self.acts[first].rsc {
                let st = &self.state[fr];
                if !st.managed
                    && st.blocked
                    && !self.acts[first].is(flag::RUNNABLE)
                    && self.acts[first].task == Tk::Stop
                    && self.acts[then].is(flag::RUNNABLE)
                {
                    self.acts[then].flags &= !flag::RUNNABLE;
                    changed |= CHANGED_THEN;
                }
            }
        }
        changed
    }

    /// One kind of ordering between `first` and `then`: the resource's
    /// `update_ordered_actions` method, or, for an action without a
    /// resource, the flag it implies directly.
    fn apply_ordering_kind(
        &mut self,
        first: usize,
        then: usize,
        kind: u32,
        first_flags: u32,
        filter: u32,
    ) -> u32 {
        let node = self.acts[then].node;
        if kind == rel::THEN_IMPLIES_FIRST {
            if let Some(fr) = self.acts[first].rsc {
                return self.update_ordered_by(fr, first, then, node, first_flags, filter, kind);
            }
            if first_flags & flag::OPTIONAL == 0 && self.acts[first].is(flag::RUNNABLE) {
                self.acts[first].flags &= !flag::RUNNABLE;
                return CHANGED_FIRST;
            }
            return 0;
        }
        if self.acts[then].rsc.is_some() {
            return self.update_ordered(first, then, node, first_flags, filter, kind);
        }
        let then_act = &mut self.acts[then];
        match kind {
            rel::FIRST_IMPLIES_THEN
                if first_flags & flag::OPTIONAL == 0 && then_act.is(flag::OPTIONAL) =>
            {
                then_act.flags &= !flag::OPTIONAL;
                CHANGED_THEN
            }
            rel::MIN_RUNNABLE if first_flags & flag::RUNNABLE != 0 => {
                then_act.runnable_before += 1;
                if then_act.runnable_before >= then_act.required_before
                    && !then_act.is(flag::RUNNABLE)
                {
                    then_act.flags |= flag::RUNNABLE;
                    CHANGED_THEN
                } else {
                    0
                }
            }
            rel::UNRUNNABLE_FIRST_BLOCKS
                if first_flags & flag::RUNNABLE == 0 && then_act.is(flag::RUNNABLE) =>
            {
                then_act.flags &= !flag::RUNNABLE;
                CHANGED_THEN
            }
            // The other kinds act only through a resource.
            _ => 0,
        }
    }

    /// The "then" resource's `update_ordered_actions` method.
    fn update_ordered(
        &mut self,
        first: usize,
        then: usize,
        node: Option<usize>,
        flags: u32,
        filter: u32,
        type_: u32,
    ) -> u32 {
        let Some(tr) = self.acts[then].rsc else {
            return 0;
        };
        self.update_ordered_by(tr, first, then, node, flags, filter, type_)
    }

    /// The `update_ordered_actions` method of resource `by`'s variant (the
    /// "then" resource's, except for then-implies-first: the "first"'s).
    #[allow(clippy::too_many_arguments)]
    fn update_ordered_by(
        &mut self,
        by: usize,
        first: usize,
        then: usize,
        node: Option<usize>,
        flags: u32,
        filter: u32,
        type_: u32,
    ) -> u32 {
        let Some(tr) = self.acts[then].rsc else {
            return 0;
        };
        match self.w.rscs[by].variant {
            Variant::Primitive => self.update_ordered_primitive(first, then, flags, filter, type_),
            Variant::Group => {
                let mut changed = self.update_ordered_primitive(first, then, flags, filter, type_);
                let task = self.acts[then].task;
                for m in self.w.rscs[tr].children.clone() {
                    if let Some(ma) = self.find(m, task, node) {
                        changed |= self.update_ordered(first, ma, node, flags, filter, type_);
                    }
                }
                changed
            }
            Variant::Clone | Variant::Bundle => {
                self.update_ordered_collective(first, then, node, flags, filter, type_)
            }
        }
    }

    fn update_ordered_collective(
        &mut self,
        first: usize,
        then: usize,
        node: Option<usize>,
        flags: u32,
        filter: u32,
        type_: u32,
    ) -> u32 {
        let tr = self.acts[then].rsc.expect("collective action");
        if !self.is_collective(tr) {
            return self.update_ordered_primitive(first, then, flags, filter, type_);
        }
        if self.can_interleave(first, then) {
            return orderings::update_interleaved(self, first, then, node, filter, type_);
        }
        let mut changed = self.update_ordered_primitive(first, then, flags, filter, type_);
        let task = self.acts[then].task;
        for i in self.instances(tr) {
            let primitive = !self.is_collective(i);
            let instance_task = if primitive { task.atomic() } else { task };
            let Some(ia) = self.find(i, instance_task, node) else {
                continue;
            };
            let f = self.action_flags(ia, node);
            if f & flag::RUNNABLE == 0 {
                continue;
            }
            let c = self.update_ordered(first, ia, node, flags, filter, type_);
            changed |= c;
            if c & CHANGED_THEN != 0 {
                self.update_actions_after(ia);
            }
        }
        changed
    }

    /// Whether an ordering between two clones (or bundles) is applied
    /// instance by instance: the "then" clone interleaves (the "first" one,
    /// for stops and demotes).
    pub fn can_interleave(&self, first: usize, then: usize) -> bool {
        let (Some(fr), Some(tr)) = (self.acts[first].rsc, self.acts[then].rsc) else {
            return false;
        };
        let collective =
            |r: usize| matches!(self.w.rscs[r].variant, Variant::Clone | Variant::Bundle);
        if fr == tr || !collective(fr) || !collective(tr) {
            return false;
        }
        let then_task = self.acts[then].task;
        let r = if matches!(then_task, Tk::Stop | Tk::Demote) {
            fr
        } else {
            tr
        };
        self.w.rscs[r].interleave
    }

    /// Pacemaker's `pcmk__update_ordered_actions` for one primitive (or a
    /// collective's own pseudo-action).
    pub fn update_ordered_primitive(
        &mut self,
        first: usize,
        then: usize,
        flags: u32,
        filter: u32,
        type_: u32,
    ) -> u32 {
        let then_flags = self.acts[then].flags;
        let first_flags = self.acts[first].flags;
        if type_ & rel::ASYMMETRIC != 0 {
            self.handle_asymmetric(first, then);
        }
        self.apply_ordering_to_first(first, then, then_flags, flags, filter, type_);
        self.apply_ordering_to_then(first, then, flags, filter, type_);
        let mut changed = 0;
        if then_flags != self.acts[then].flags {
            changed |= CHANGED_THEN;
            let in_collective = self.acts[then]
                .rsc
                .is_some_and(|r| self.w.rscs[r].parent.is_some());
            if in_collective {
                self.update_for_orderings(then);
            }
        }
        if first_flags != self.acts[first].flags {
            changed |= CHANGED_FIRST;
        }
        changed
    }

    /// The orderings by which the "then" action constrains the "first" one
    /// (`then_flags`: the then's flags before this ordering was applied).
    fn apply_ordering_to_first(
        &mut self,
        first: usize,
        then: usize,
        then_flags: u32,
        flags: u32,
        filter: u32,
        type_: u32,
    ) {
        let first_flags = self.acts[first].flags;
        if type_ & rel::THEN_IMPLIES_FIRST != 0 && then_flags & flag::OPTIONAL == 0 {
            if filter & flag::OPTIONAL != 0
                && flags & flag::OPTIONAL == 0
                && first_flags & flag::OPTIONAL != 0
            {
                self.clear_because(first, flag::OPTIONAL, then);
            }
            if flags & flag::MIGRATABLE != 0 && !self.acts[then].is(flag::MIGRATABLE) {
                self.clear_because(first, flag::MIGRATABLE, then);
            }
        }
        if type_ & rel::PROMOTED_THEN_IMPLIES_FIRST != 0 {
            let then_promoted = self.acts[then]
                .rsc
                .is_some_and(|r| self.state[r].role == Role::Promoted);
            if then_promoted && filter & flag::OPTIONAL != 0 && !self.acts[then].is(flag::OPTIONAL)
            {
                self.clear_because(first, flag::OPTIONAL, then);
                if self.acts[first].is(flag::MIGRATABLE) && !self.acts[then].is(flag::MIGRATABLE) {
                    self.clear_because(first, flag::MIGRATABLE, then);
                }
            }
        }
        if type_ & rel::UNMIGRATABLE_THEN_BLOCKS != 0 && filter & flag::OPTIONAL != 0 {
            if !(self.acts[then].is(flag::MIGRATABLE) && self.acts[then].is(flag::RUNNABLE)) {
                self.clear_because(first, flag::RUNNABLE, then);
            }
            if !self.acts[then].is(flag::OPTIONAL) {
                self.clear_because(first, flag::OPTIONAL, then);
            }
        }
    }

    /// The orderings by which the "first" action constrains the "then" one.
    fn apply_ordering_to_then(
        &mut self,
        first: usize,
        then: usize,
        flags: u32,
        filter: u32,
        type_: u32,
    ) {
        if type_ & rel::FIRST_ELSE_THEN != 0
            && filter & flag::OPTIONAL != 0
            && !self.acts[first].is(flag::RUNNABLE)
        {
            self.clear_because(then, flag::MIGRATABLE, first);
            self.acts[then].flags &= !flag::PSEUDO;
        }
        if type_ & rel::UNRUNNABLE_FIRST_BLOCKS != 0
            && filter & flag::RUNNABLE != 0
            && self.acts[then].is(flag::RUNNABLE)
            && flags & flag::RUNNABLE == 0
        {
            self.clear_because(then, flag::RUNNABLE, first);
            self.clear_because(then, flag::MIGRATABLE, first);
        }
        if type_ & rel::FIRST_IMPLIES_THEN != 0
            && filter & flag::OPTIONAL != 0
            && self.acts[then].is(flag::OPTIONAL)
            && flags & flag::OPTIONAL == 0
            && !self.acts[first].is(flag::MIGRATABLE)
        {
            self.clear_because(then, flag::OPTIONAL, first);
        }
        if type_ & rel::INTERMEDIATE_STOP != 0 {
            self.handle_restart(first, then, filter);
        }
    }

    /// An asymmetrical mandatory ordering: an unrunnable first blocks the
    /// then, unless the then is optional and already where it would be (a
    /// stop of something stopped, a start of something running on that
    /// node alone).
    fn handle_asymmetric(&mut self, first: usize, then: usize) {
        let Some(tr) = self.acts[then].rsc else {
            return;
        };
        if self.acts[first].is(flag::RUNNABLE) {
            return;
        }
        if self.acts[then].is(flag::OPTIONAL) {
            let mut prims = Vec::new();
            self.w.primitives_of(tr, &mut prims);
            let role = prims
                .iter()
                .map(|&p| self.state[p].role)
                .max()
                .unwrap_or(Role::Stopped);
            let task = self.acts[then].task;
            if role == Role::Stopped && task == Tk::Stop {
                return;
            }
            let node = self.acts[then].node;
            let only_there = prims
                .iter()
                .all(|&p| self.state[p].running_on.iter().all(|&n| Some(n) == node))
                && prims.iter().any(|&p| !self.state[p].running_on.is_empty());
            if role >= Role::Started && task == Tk::Start && only_there {
                return;
            }
        }
        self.clear_because(then, flag::RUNNABLE, first);
    }

    /// The restart relation between a stop and a start of one resource
    /// (Pacemaker's `handle_restart_ordering`).
    fn handle_restart(&mut self, first: usize, then: usize, filter: u32) {
        let mut reason = false;
        if filter & flag::OPTIONAL != 0 && !self.acts[then].is(flag::OPTIONAL) {
            reason = true;
        }
        let same = self.acts[first].rsc == self.acts[then].rsc;
        let then_managed = self.acts[then].rsc.is_some_and(|r| self.state[r].managed);
        if filter & flag::RUNNABLE != 0
            && !self.acts[then].is(flag::RUNNABLE)
            && then_managed
            && same
        {
            reason = true;
        }
        if !reason {
            return;
        }
        if self.acts[first].is(flag::RUNNABLE) {
            self.clear_because(first, flag::OPTIONAL, then);
        }
        if !self.acts[then].is(flag::OPTIONAL) {
            self.clear_because(first, flag::OPTIONAL, then);
        }
        if !self.acts[then].is(flag::MIGRATABLE) {
            self.clear_because(first, flag::MIGRATABLE, then);
        }
        if !self.acts[first].is(flag::OPTIONAL) && !self.acts[first].is(flag::RUNNABLE) {
            self.clear_because(then, flag::RUNNABLE, first);
        }
    }

    /// Runs every stage and propagates the flags.
    pub fn build(w: &'a Working, plan: &'a Plan, fence: &[bool]) -> Model<'a> {
        let mut m = Model::new(w, plan);
        create::create_all(&mut m);
        orderings::internal(&mut m);
        orderings::user_orders(&mut m);
        m.fenced = fence.to_vec();
        m
    }

    /// Applies fencing (stops on fenced nodes are implied), resolves the
    /// orderings and propagates their flags.
    pub fn finish(&mut self, fence: &[bool]) {
        self.fenced = fence.to_vec();
        create::apply_fencing(self);
        orderings::apply(self);
        // Newest action first, as the reference walks its action list: which
        // ordering makes an action required first decides the reason shown.
        for a in (0..self.acts.len()).rev() {
            self.update_for_orderings(a);
        }
    }

    /// Every action and relation, one per line (for debugging).
    pub fn dump(&self) -> String {
        let w = self.w;
        let mut out = String::new();
        let name = |a: usize| {
            let act = &self.acts[a];
            let rsc = act
                .rsc
                .map(|r| w.rscs[r].id.as_str())
                .unwrap_or(act.name.as_str());
            let node = act.node.map(|n| w.nodes[n].name.as_str()).unwrap_or("-");
            format!("{rsc}_{}@{node}", act.task.name())
        };
        for (a, act) in self.acts.iter().enumerate() {
            let mut f = String::new();
            for (bit, c) in [
                (flag::OPTIONAL, 'o'),
                (flag::RUNNABLE, 'r'),
                (flag::PSEUDO, 'p'),
                (flag::MIGRATABLE, 'm'),
                (flag::MIN_RUNNABLE, 'n'),
            ] {
                if act.flags & bit != 0 {
                    f.push(c);
                }
            }
            out.push_str(&format!("{a:4} {} [{f}] {:?}\n", name(a), act.reason));
            for &ri in &act.before {
                let r = &self.rels[ri];
                out.push_str(&format!(
                    "       after {} ({:#x})\n",
                    name(r.first),
                    r.flags
                ));
            }
        }
        out
    }

    /// Each primitive's decision, read off its actions (for the graph).
    pub fn decisions(&self) -> Vec<Decision> {
        (0..self.w.rscs.len()).map(|r| self.decision(r)).collect()
    }

    fn decision(&self, r: usize) -> Decision {
        let w = self.w;
        let rsc = &w.rscs[r];
        if rsc.variant != Variant::Primitive {
            return Decision::default();
        }
        let st = &self.state[r];
        let mut d = Decision {
            role: Some(st.role),
            next_role: Some(if st.next.is_none() {
                Role::Stopped
            } else {
                st.next_role
            }),
            current: crate::scheduler::unpack::current_node(w, r),
            next: st.next,
            managed: st.managed,
            probe: st.managed || (rsc.managed && !w.maintenance_mode),
            failed: st.failed,
            blocked_stop: rsc.blocked,
            reload: st.reload,
            stop_runnable: true,
            ..Decision::default()
        };
        for a in self.find_all(r, Tk::Stop) {
            let act = &self.acts[a];
            if act.is(flag::OPTIONAL) {
                continue;
            }
            if let Some(n) = act.node {
                d.stop_on.push(n);
            }
            if !act.is(flag::RUNNABLE) && !act.is(flag::PSEUDO) {
                d.stop_runnable = false;
            }
            if d.stop_reason.is_none() {
                d.stop_reason = act.reason.clone();
            }
        }
        if let Some(a) = st.next.and_then(|n| self.find(r, Tk::Start, Some(n))) {
            let act = &self.acts[a];
            d.start = !act.is(flag::OPTIONAL);
            d.start_runnable = act.is(flag::RUNNABLE);
            d.start_reason = act.reason.clone();
        }
        d.promote = self
            .find_all(r, Tk::Promote)
            .iter()
            .any(|&a| !self.acts[a].is(flag::OPTIONAL));
        d.demote = self
            .find_all(r, Tk::Demote)
            .iter()
            .any(|&a| !self.acts[a].is(flag::OPTIONAL));
        d.migrate = self
            .find_all(r, Tk::MigrateFrom)
            .iter()
            .any(|&a| self.acts[a].is(flag::RUNNABLE));
        d
    }
}

/// The actions stage: builds the model up to fencing, for the callers that
/// decide fencing from it (remote nodes), then finishes it.
pub fn decide(w: &Working, plan: &Plan, fence: &[bool]) -> Vec<Decision> {
    let mut m = Model::build(w, plan, fence);
    m.finish(fence);
    m.decisions()
}
