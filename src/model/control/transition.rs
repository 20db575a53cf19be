//! Carrying out a transition, as a pure state machine: which actions may be
//! sent now, what a result means, when the transition is over.
//!
//! An action is ready when every action it comes after has succeeded. A
//! result that is not the expected one aborts the transition: nothing new is
//! sent, the actions in flight are waited for, and the DC computes a new
//! transition from the CIB that now records what happened.
//!
//! Pacemaker's throttles bound what is in flight at once ([`ActionLimits`]):
//! `batch-limit` across the cluster, `node-action-limit` per node and
//! `migration-limit` (migrate_to/migrate_from) per node. Ready actions
//! beyond them wait, in action order, until results free a place.
//!
//! Readiness is kept up to date as results come in (each action counts its
//! predecessors still to succeed; a success counts down its successors), so
//! a result costs the edges it frees, not a scan of the whole graph: with
//! thousands of probes a scan per result made a transition quadratic
//! (measured: 75 % of the DC's CPU with 100 remote nodes).

use crate::model::cib::operation::OpKind;
use crate::model::cib::xml::Element;
use crate::model::control::plan::{Plan, PlannedAction, PlannedKind};
use std::collections::{BTreeMap, BTreeSet};

/// Bounds on actions in flight at once; `None`: no bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionLimits {
    /// `batch-limit`: resource and fencing actions, cluster-wide.
    pub batch: Option<usize>,
    /// `node-action-limit`: resource actions per node.
    pub per_node: Option<usize>,
    /// `migration-limit`: migrate_to/migrate_from per node.
    pub migrations_per_node: Option<usize>,
}

impl ActionLimits {
    /// From the cluster properties. Pacemaker's "0" for `batch-limit` and
    /// `node-action-limit` (derive a bound from the machines' load and
    /// cores) and its "-1" for `migration-limit` are "no bound" here: the
    /// DC does not know its peers' cores. Read by the model's one reader of
    /// properties; the controller has no clock, so a rule-guarded set is
    /// left out; a value that is no number is ignored.
    pub fn from_cib(cib: &Element) -> ActionLimits {
        let property = |name: &str| {
            crate::model::cib::properties::cluster_property(cib, name)
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let positive = |value: Option<i64>| value.filter(|v| *v > 0).map(|v| v as usize);
        ActionLimits {
            batch: positive(property("batch-limit")),
            per_node: positive(property("node-action-limit")),
            // 0 is a bound here: no migration at all at once (Pacemaker
            // then stops and starts instead, which the scheduler decides).
            migrations_per_node: property("migration-limit")
                .filter(|v| *v >= 0)
                .map(|v| v as usize),
        }
    }
}

/// Where an action takes a place: the cluster-wide batch, its node, and
/// (for migrations) its node's migration slots.
fn places(action: &PlannedAction) -> Option<(Option<&str>, bool)> {
    match &action.kind {
        PlannedKind::Pseudo { .. } => None,
        PlannedKind::Fence { .. } => Some((None, false)),
        PlannedKind::Resource { node, op } => Some((
            Some(node.as_str()),
            matches!(op.operation, OpKind::MigrateTo | OpKind::MigrateFrom),
        )),
    }
}

/// Actions in flight, counted against [`ActionLimits`].
#[derive(Debug, Default, Clone)]
struct InFlightCounts {
    total: usize,
    per_node: BTreeMap<String, usize>,
    migrations: BTreeMap<String, usize>,
}

impl InFlightCounts {
    /// Gives back the places `action` took.
    fn release(&mut self, action: &PlannedAction) {
        let Some((node, migration)) = places(action) else {
            return;
        };
        self.total = self.total.saturating_sub(1);
        if let Some(node) = node {
            if let Some(count) = self.per_node.get_mut(node) {
                *count = count.saturating_sub(1);
            }
            if let (true, Some(count)) = (migration, self.migrations.get_mut(node)) {
                *count = count.saturating_sub(1);
            }
        }
    }

    /// Takes the places of `action`, if `limits` leave room for it.
    fn admit(&mut self, action: &PlannedAction, limits: &ActionLimits) -> bool {
        let Some((node, migration)) = places(action) else {
            return true;
        };
        let full = |count: usize, limit: Option<usize>| limit.is_some_and(|l| count >= l);
        if full(self.total, limits.batch) {
            return false;
        }
        if let Some(node) = node {
            let on_node = self.per_node.get(node).copied().unwrap_or(0);
            let migrating = self.migrations.get(node).copied().unwrap_or(0);
            if full(on_node, limits.per_node)
                || (migration && full(migrating, limits.migrations_per_node))
            {
                return false;
            }
            *self.per_node.entry(node.to_string()).or_default() += 1;
            if migration {
                *self.migrations.entry(node.to_string()).or_default() += 1;
            }
        }
        self.total += 1;
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionState {
    Waiting,
    InFlight,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
pub struct TransitionRun {
    pub id: u64,
    actions: BTreeMap<u32, PlannedAction>,
    states: BTreeMap<u32, ActionState>,
    aborted: Option<String>,
    limits: ActionLimits,
    /// Per action: its predecessors in this run that have not succeeded.
    blocking: BTreeMap<u32, usize>,
    /// Per action: the actions that come after it.
    successors: BTreeMap<u32, Vec<u32>>,
    /// Waiting actions with nothing blocking them, in action order.
    ready: BTreeSet<u32>,
    in_flight: InFlightCounts,
    /// Actions in flight (pseudo-actions too) and still waiting.
    in_flight_actions: usize,
    waiting_actions: usize,
}

impl TransitionRun {
    pub fn new(id: u64, plan: &Plan) -> Self {
        let actions: BTreeMap<u32, PlannedAction> =
            plan.actions.iter().map(|a| (a.id, a.clone())).collect();
        let states = actions
            .keys()
            .map(|&id| (id, ActionState::Waiting))
            .collect();
        let mut blocking = BTreeMap::new();
        let mut successors: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for action in actions.values() {
            // A predecessor the run does not hold is another transition's,
            // and no longer waited for.
            let held: Vec<u32> = action
                .after
                .iter()
                .copied()
                .filter(|dep| actions.contains_key(dep))
                .collect();
            for dep in &held {
                successors.entry(*dep).or_default().push(action.id);
            }
            blocking.insert(action.id, held.len());
        }
        let ready = blocking
            .iter()
            .filter(|(_, count)| **count == 0)
            .map(|(id, _)| *id)
            .collect();
        TransitionRun {
            id,
            waiting_actions: actions.len(),
            actions,
            states,
            aborted: None,
            limits: ActionLimits::default(),
            blocking,
            successors,
            ready,
            in_flight: InFlightCounts::default(),
            in_flight_actions: 0,
        }
    }

    /// Bounds what is in flight at once (none by default).
    pub fn with_limits(mut self, limits: ActionLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn action(&self, id: u32) -> Option<&PlannedAction> {
        self.actions.get(&id)
    }

    pub fn state(&self, id: u32) -> Option<ActionState> {
        self.states.get(&id).copied()
    }

    /// Actions to send now, within the limits; they are marked in flight.
    pub fn take_ready(&mut self) -> Vec<PlannedAction> {
        if self.aborted.is_some() {
            return Vec::new();
        }
        let mut taken = Vec::new();
        for &id in &self.ready {
            if self.in_flight.admit(&self.actions[&id], &self.limits) {
                taken.push(id);
            }
        }
        taken
            .into_iter()
            .map(|id| {
                let action = &self.actions[&id];
                // An action is sent once, and only after its predecessors
                // succeeded: the order the scheduler drew is what keeps a
                // start after the stop and the fencing it depends on.
                assert_eq!(
                    self.states[&id],
                    ActionState::Waiting,
                    "action {id} sent twice"
                );
                assert!(
                    self.unblocked(action),
                    "action {id} sent before its predecessors {:?} succeeded",
                    action.after
                );
                self.states.insert(id, ActionState::InFlight);
                self.ready.remove(&id);
                self.in_flight_actions += 1;
                self.waiting_actions -= 1;
                action.clone()
            })
            .collect()
    }

    /// Every predecessor in this run succeeded (one the run does not hold
    /// is another transition's, and no longer waited for).
    fn unblocked(&self, action: &PlannedAction) -> bool {
        action.after.iter().all(|dep| {
            self.states
                .get(dep)
                .is_none_or(|s| *s == ActionState::Succeeded)
        })
    }

    /// Records a result; an unexpected one aborts with `reason`.
    pub fn complete(&mut self, id: u32, ok: bool, reason: &str) {
        let Some(state) = self.states.get_mut(&id) else {
            return;
        };
        if *state != ActionState::InFlight {
            return;
        }
        *state = if ok {
            ActionState::Succeeded
        } else {
            ActionState::Failed
        };
        self.in_flight_actions -= 1;
        self.in_flight.release(&self.actions[&id]);
        if ok {
            for next in self.successors.get(&id).into_iter().flatten() {
                let count = self.blocking.get_mut(next).expect("every action counted");
                *count -= 1;
                if *count == 0 && self.states[next] == ActionState::Waiting {
                    self.ready.insert(*next);
                }
            }
        }
        if !ok && self.aborted.is_none() {
            self.aborted = Some(reason.to_string());
        }
    }

    pub fn abort(&mut self, reason: &str) {
        if self.aborted.is_none() {
            self.aborted = Some(reason.to_string());
        }
    }

    pub fn aborted(&self) -> Option<&str> {
        self.aborted.as_deref()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight_actions
    }

    /// Over: everything done, or aborted with nothing left in flight. An
    /// action that can never become ready (a predecessor failed) does not
    /// hold the transition open.
    pub fn is_finished(&self) -> bool {
        if self.in_flight() > 0 {
            return false;
        }
        if self.aborted.is_some() {
            return true;
        }
        self.waiting_actions == 0
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |wanted| self.states.values().filter(|s| **s == wanted).count();
        (
            count(ActionState::Succeeded),
            count(ActionState::Failed),
            self.states.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::control::plan::PlannedKind;

    fn plan(edges: &[(u32, &[u32])]) -> Plan {
        Plan {
            actions: edges
                .iter()
                .map(|(id, after)| PlannedAction {
                    id: *id,
                    after: after.to_vec(),
                    kind: PlannedKind::Pseudo {
                        name: format!("a{id}"),
                    },
                })
                .collect(),
            summary: vec![],
            recheck_in_s: None,
        }
    }

    fn ids(actions: Vec<PlannedAction>) -> Vec<u32> {
        actions.into_iter().map(|a| a.id).collect()
    }

    #[test]
    fn runs_in_dependency_order() {
        let mut run = TransitionRun::new(1, &plan(&[(1, &[]), (2, &[1]), (3, &[1, 2]), (4, &[])]));
        assert_eq!(ids(run.take_ready()), vec![1, 4]);
        assert!(run.take_ready().is_empty());
        run.complete(1, true, "");
        assert_eq!(ids(run.take_ready()), vec![2]);
        run.complete(2, true, "");
        run.complete(4, true, "");
        assert_eq!(ids(run.take_ready()), vec![3]);
        assert!(!run.is_finished());
        run.complete(3, true, "");
        assert!(run.is_finished());
        assert_eq!(run.counts(), (4, 0, 4));
    }

    #[test]
    fn failure_aborts_after_in_flight_actions_finish() {
        let mut run = TransitionRun::new(1, &plan(&[(1, &[]), (2, &[]), (3, &[1])]));
        assert_eq!(ids(run.take_ready()), vec![1, 2]);
        run.complete(1, false, "rc 1");
        assert_eq!(run.aborted(), Some("rc 1"));
        assert!(run.take_ready().is_empty());
        assert!(!run.is_finished());
        run.complete(2, true, "");
        assert!(run.is_finished());
    }

    #[test]
    fn results_for_unknown_or_finished_actions_are_ignored() {
        let mut run = TransitionRun::new(1, &plan(&[(1, &[])]));
        run.complete(9, false, "x");
        run.complete(1, true, "");
        assert!(run.aborted().is_none());
        run.take_ready();
        run.complete(1, true, "");
        run.complete(1, false, "late duplicate");
        assert!(run.aborted().is_none());
        assert!(run.is_finished());
    }

    fn resource(id: u32, node: &str, operation: &str) -> PlannedAction {
        let op = crate::model::cib::operation::OpSpec {
            resource: format!("r{id}"),
            agent: crate::model::cib::AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("heartbeat".into()),
                kind: "Dummy".into(),
            },
            operation: operation.into(),
            interval_ms: 0,
            timeout_ms: 20_000,
            params: Default::default(),
            meta: Default::default(),
        };
        PlannedAction {
            id,
            after: vec![],
            kind: PlannedKind::Resource {
                node: node.into(),
                op,
            },
        }
    }

    /// The incremental readiness agrees with the definition on random
    /// graphs and limits: what is sent has every predecessor succeeded, and
    /// without a bound everything that may go is sent at once.
    #[test]
    fn readiness_kept_as_results_arrive_matches_the_definition() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for round in 0..40 {
            let count = 2 + next(60) as u32;
            let mut actions = Vec::new();
            for id in 1..=count {
                let mut action = resource(id, &format!("n{}", next(4)), "start");
                action.after = (1..id).filter(|_| next(5) == 0).collect();
                actions.push(action);
            }
            let plan = Plan {
                actions: actions.clone(),
                summary: vec![],
                recheck_in_s: None,
            };
            let limited = round % 2 == 1;
            let limits = ActionLimits {
                batch: limited.then_some(3),
                per_node: limited.then_some(1),
                migrations_per_node: None,
            };
            let mut run = TransitionRun::new(1, &plan).with_limits(limits);
            let mut done = BTreeMap::new();
            let mut in_flight = Vec::new();
            while !run.is_finished() {
                let sent = run.take_ready();
                for action in &sent {
                    assert!(action.after.iter().all(|d| done.contains_key(d)));
                }
                in_flight.extend(sent.iter().map(|a| a.id));
                if !limited {
                    let may_go = actions.iter().filter(|a| {
                        run.state(a.id) == Some(ActionState::Waiting)
                            && a.after.iter().all(|d| done.contains_key(d))
                    });
                    assert_eq!(may_go.count(), 0, "a ready action was held back");
                }
                assert!(!in_flight.is_empty(), "stuck with nothing in flight");
                let id = in_flight.remove(next(in_flight.len() as u64) as usize);
                run.complete(id, true, "");
                done.insert(id, ());
            }
            assert_eq!(done.len(), count as usize);
        }
    }

    #[test]
    fn limits_bound_what_is_in_flight() {
        let mut actions: Vec<PlannedAction> = (1..=6)
            .map(|id| resource(id, if id % 2 == 1 { "n1" } else { "n2" }, "start"))
            .collect();
        actions.push(PlannedAction {
            id: 7,
            after: vec![],
            kind: PlannedKind::Pseudo {
                name: "done".into(),
            },
        });
        let plan = Plan {
            actions,
            summary: vec![],
            recheck_in_s: None,
        };
        let limits = ActionLimits {
            batch: Some(3),
            per_node: Some(2),
            migrations_per_node: None,
        };
        let mut run = TransitionRun::new(1, &plan).with_limits(limits);
        // n1 takes two places (its limit), n2 the last of the batch; the
        // pseudo-action takes none.
        assert_eq!(ids(run.take_ready()), vec![1, 2, 3, 7]);
        assert!(run.take_ready().is_empty(), "full");
        run.complete(1, true, "");
        assert_eq!(ids(run.take_ready()), vec![4], "one place: the first ready");
        run.complete(2, true, "");
        run.complete(3, true, "");
        assert_eq!(ids(run.take_ready()), vec![5, 6], "n2 now holds 4 and 6");
        let unlimited = TransitionRun::new(1, &plan).take_ready();
        assert_eq!(unlimited.len(), 7);
    }

    #[test]
    fn migrations_have_their_own_limit_per_node() {
        let plan = Plan {
            actions: vec![
                resource(1, "n1", "migrate_to"),
                resource(2, "n1", "migrate_to"),
                resource(3, "n1", "start"),
                resource(4, "n2", "migrate_from"),
            ],
            summary: vec![],
            recheck_in_s: None,
        };
        let limits = ActionLimits {
            migrations_per_node: Some(1),
            ..Default::default()
        };
        let mut run = TransitionRun::new(1, &plan).with_limits(limits);
        assert_eq!(ids(run.take_ready()), vec![1, 3, 4]);
        run.complete(1, true, "");
        assert_eq!(ids(run.take_ready()), vec![2]);
    }

    #[test]
    fn limits_come_from_the_cluster_properties() {
        let cib = Element::parse(
            r#"<cib><configuration><crm_config><cluster_property_set id="o">
                <nvpair id="a" name="batch-limit" value="30"/>
                <nvpair id="b" name="node-action-limit" value="0"/>
                <nvpair id="c" name="migration-limit" value="-1"/>
            </cluster_property_set></crm_config></configuration></cib>"#,
        )
        .unwrap();
        let limits = ActionLimits::from_cib(&cib);
        assert_eq!(
            limits,
            ActionLimits {
                batch: Some(30),
                per_node: None,
                migrations_per_node: None
            }
        );
        let empty = Element::parse("<cib/>").unwrap();
        assert_eq!(ActionLimits::from_cib(&empty), ActionLimits::default());
    }
}
