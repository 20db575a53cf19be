//! Carrying out a transition, as a pure state machine: which actions may be
//! sent now, what a result means, when the transition is over.
//!
//! An action is ready when every action it comes after has succeeded. A
//! result that is not the expected one aborts the transition: nothing new is
//! sent, the actions in flight are waited for, and the DC computes a new
//! transition from the CIB that now records what happened.

use crate::model::plan::{Plan, PlannedAction};
use std::collections::BTreeMap;

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
}

impl TransitionRun {
    pub fn new(id: u64, plan: &Plan) -> Self {
        let actions: BTreeMap<u32, PlannedAction> =
            plan.actions.iter().map(|a| (a.id, a.clone())).collect();
        let states = actions
            .keys()
            .map(|&id| (id, ActionState::Waiting))
            .collect();
        TransitionRun {
            id,
            actions,
            states,
            aborted: None,
        }
    }

    pub fn action(&self, id: u32) -> Option<&PlannedAction> {
        self.actions.get(&id)
    }

    pub fn state(&self, id: u32) -> Option<ActionState> {
        self.states.get(&id).copied()
    }

    /// Actions to send now; they are marked in flight.
    pub fn take_ready(&mut self) -> Vec<PlannedAction> {
        if self.aborted.is_some() {
            return Vec::new();
        }
        let ready: Vec<u32> = self
            .actions
            .values()
            .filter(|a| self.states[&a.id] == ActionState::Waiting)
            .filter(|a| {
                a.after.iter().all(|dep| {
                    self.states
                        .get(dep)
                        .is_none_or(|s| *s == ActionState::Succeeded)
                })
            })
            .map(|a| a.id)
            .collect();
        ready
            .into_iter()
            .map(|id| {
                self.states.insert(id, ActionState::InFlight);
                self.actions[&id].clone()
            })
            .collect()
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
        self.states
            .values()
            .filter(|s| **s == ActionState::InFlight)
            .count()
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
        !self.states.values().any(|s| *s == ActionState::Waiting)
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
    use crate::model::plan::PlannedKind;

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
}
