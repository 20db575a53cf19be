//! What the DC did and why: the last transitions, each with the event that
//! caused it, the CIB version it was computed from, and every action with
//! the node it ran on, when it started and ended, its rc and result.
//! `systole history` reads these.
//!
//! The DC keeps the running transition here as it goes, and records each
//! transition in the replicated state when it starts and when it ends
//! ([`crate::model::cib::change::StatusChange::Transition`]), so every node holds
//! the same history and a new DC starts with its predecessor's. Bounded by
//! count (`TRANSITIONS_KEPT`) and size (`HISTORY_BYTES_MAX`, one record at
//! most `TRANSITION_BYTES_MAX`): the oldest go first.

use crate::model::cib::store::CibVersion;
use crate::model::control::plan::{Plan, PlannedKind};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Transitions kept.
pub const TRANSITIONS_KEPT: usize = 100;
/// The whole history's encoded size.
pub const HISTORY_BYTES_MAX: usize = 2 * 1024 * 1024;
/// One transition's encoded size: beyond it, its later actions are left
/// out (and counted in `actions_left_out`).
pub const TRANSITION_BYTES_MAX: usize = 256 * 1024;
/// The outcome given to a transition that never finished: a newer one
/// started (its DC was lost or restarted).
pub const INTERRUPTED: &str = "interrupted (its DC was lost or restarted)";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: u32,
    pub description: String,
    /// None while not yet run or in flight.
    pub result: Option<String>,
    /// Where it ran (the fencer for a fencing); None for pseudo-actions.
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub started_epoch_ms: Option<i64>,
    #[serde(default)]
    pub ended_epoch_ms: Option<i64>,
    /// The agent's rc, when one answered.
    #[serde(default)]
    pub rc: Option<i32>,
    /// The actions this one waited for (the transition graph's orderings).
    #[serde(default)]
    pub after: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    pub id: u64,
    pub dc: String,
    pub cause: String,
    pub input_version: CibVersion,
    pub started_epoch_s: i64,
    pub summary: Vec<String>,
    pub actions: Vec<ActionRecord>,
    /// None while running; "complete" or "aborted: why" after.
    pub outcome: Option<String>,
    /// Actions not kept because the record would pass `TRANSITION_BYTES_MAX`.
    #[serde(default)]
    pub actions_left_out: usize,
}

pub fn describe(kind: &PlannedKind) -> String {
    match kind {
        PlannedKind::Resource { node, op } if op.interval_ms > 0 => {
            format!(
                "{} {} every {} ms on {node}",
                op.operation, op.resource, op.interval_ms
            )
        }
        PlannedKind::Resource { node, op } if op.is_probe() => {
            format!("probe {} on {node}", op.resource)
        }
        PlannedKind::Resource { node, op } => format!("{} {} on {node}", op.operation, op.resource),
        PlannedKind::Fence { target, action } => format!("fence ({action}) {target}"),
        PlannedKind::Pseudo { name } => format!("pseudo-action {name}"),
    }
}

impl TransitionRecord {
    pub fn new(
        id: u64,
        dc: &str,
        cause: &str,
        input_version: CibVersion,
        started_epoch_s: i64,
        plan: &Plan,
    ) -> Self {
        TransitionRecord {
            id,
            dc: dc.to_string(),
            cause: cause.to_string(),
            input_version,
            started_epoch_s,
            summary: plan.summary.clone(),
            actions: plan
                .actions
                .iter()
                .map(|a| ActionRecord {
                    id: a.id,
                    description: describe(&a.kind),
                    result: None,
                    node: match &a.kind {
                        PlannedKind::Resource { node, .. } => Some(node.clone()),
                        PlannedKind::Fence { .. } => Some(dc.to_string()),
                        PlannedKind::Pseudo { .. } => None,
                    },
                    started_epoch_ms: None,
                    ended_epoch_ms: None,
                    rc: None,
                    after: a.after.clone(),
                })
                .collect(),
            outcome: None,
            actions_left_out: 0,
        }
    }

    fn encoded_bytes(&self) -> usize {
        rmp_serde::to_vec(self)
            .map(|b| b.len())
            .unwrap_or(usize::MAX)
    }

    /// Leaves out the last actions until the record fits `TRANSITION_BYTES_MAX`.
    fn fit(&mut self) {
        let mut bytes = self.encoded_bytes();
        while bytes > TRANSITION_BYTES_MAX && !self.actions.is_empty() {
            let cut = (self.actions.len() / 10).max(1);
            self.actions.truncate(self.actions.len() - cut);
            self.actions_left_out += cut;
            bytes = self.encoded_bytes();
        }
        while bytes > TRANSITION_BYTES_MAX && self.summary.pop().is_some() {
            bytes = self.encoded_bytes();
        }
    }
}

/// A bounded log of transitions, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    records: VecDeque<TransitionRecord>,
}

impl History {
    /// A new transition (the DC's live copy).
    pub fn push(&mut self, record: TransitionRecord) {
        self.upsert(record);
    }

    /// Adds a transition or replaces the one with its id, then drops the
    /// oldest beyond the bounds. A newer transition means every older one
    /// still unfinished will never finish: it is marked [`INTERRUPTED`].
    /// Deterministic: every node applying the same records holds the same.
    pub fn upsert(&mut self, mut record: TransitionRecord) {
        record.fit();
        for older in self.records.iter_mut().filter(|r| r.id < record.id) {
            if older.outcome.is_none() {
                older.outcome = Some(INTERRUPTED.to_string());
            }
        }
        match self.records.iter().position(|r| r.id >= record.id) {
            Some(i) if self.records[i].id == record.id => self.records[i] = record,
            Some(i) => self.records.insert(i, record),
            None => self.records.push_back(record),
        }
        while self.records.len() > TRANSITIONS_KEPT {
            self.records.pop_front();
        }
        let mut bytes: usize = self.records.iter().map(|r| r.encoded_bytes()).sum();
        while bytes > HISTORY_BYTES_MAX && self.records.len() > 1 {
            let gone = self.records.pop_front().expect("more than one");
            bytes -= gone.encoded_bytes();
        }
    }

    pub fn last_id(&self) -> Option<u64> {
        self.records.back().map(|r| r.id)
    }

    pub fn get(&self, id: u64) -> Option<&TransitionRecord> {
        self.records.iter().rev().find(|r| r.id == id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut TransitionRecord> {
        self.records.iter_mut().rev().find(|r| r.id == id)
    }

    fn action_mut(&mut self, transition: u64, action: u32) -> Option<&mut ActionRecord> {
        self.get_mut(transition)?
            .actions
            .iter_mut()
            .find(|a| a.id == action)
    }

    /// The DC sent the action.
    pub fn action_started(&mut self, transition: u64, action: u32, now_epoch_ms: i64) {
        if let Some(a) = self.action_mut(transition, action) {
            a.started_epoch_ms = Some(now_epoch_ms);
        }
    }

    pub fn record_action(
        &mut self,
        transition: u64,
        action: u32,
        result: &str,
        rc: Option<i32>,
        now_epoch_ms: i64,
    ) {
        if let Some(a) = self.action_mut(transition, action) {
            a.result = Some(result.to_string());
            a.rc = rc;
            a.ended_epoch_ms = Some(now_epoch_ms);
        }
    }

    pub fn finish(&mut self, transition: u64, outcome: &str) {
        if let Some(record) = self.get_mut(transition) {
            record.outcome = Some(outcome.to_string());
        }
    }

    pub fn records(&self) -> Vec<TransitionRecord> {
        self.records.iter().cloned().collect()
    }

    /// The replicated history with the DC's live copy of transitions it
    /// has not yet recorded as finished (those show their actions so far).
    pub fn merged(replicated: &History, live: &History) -> Vec<TransitionRecord> {
        let mut merged = replicated.clone();
        let last_replicated = replicated.records.back().map(|r| r.id);
        for record in &live.records {
            let take = match merged.get(record.id) {
                Some(known) => known.outcome.is_none(),
                None => last_replicated.is_none_or(|last| record.id > last),
            };
            if take {
                merged.upsert(record.clone());
            }
        }
        merged.records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::control::plan::PlannedAction;

    #[test]
    fn bounded_and_updated_in_place() {
        let plan = Plan {
            actions: vec![PlannedAction {
                id: 1,
                after: vec![],
                kind: PlannedKind::Fence {
                    target: "n2".into(),
                    action: "reboot".into(),
                },
            }],
            summary: vec!["* Fence (reboot) n2".into()],
            recheck_in_s: None,
        };
        let mut history = History::default();
        for id in 0..(TRANSITIONS_KEPT as u64 + 5) {
            history.push(TransitionRecord::new(
                id,
                "n1",
                "node n2 lost",
                CibVersion::default(),
                0,
                &plan,
            ));
        }
        assert_eq!(history.records().len(), TRANSITIONS_KEPT);
        assert_eq!(history.records()[0].id, 5);
        let last = TRANSITIONS_KEPT as u64 + 4;
        history.action_started(last, 1, 1_000);
        history.record_action(last, 1, "ok", Some(0), 2_500);
        history.finish(last, "complete");
        let record = history.records().pop().unwrap();
        let action = &record.actions[0];
        assert_eq!(action.description, "fence (reboot) n2");
        assert_eq!(action.result.as_deref(), Some("ok"));
        assert_eq!(action.node.as_deref(), Some("n1"), "the fencer");
        assert_eq!(
            (action.started_epoch_ms, action.ended_epoch_ms, action.rc),
            (Some(1_000), Some(2_500), Some(0))
        );
        assert_eq!(record.outcome.as_deref(), Some("complete"));
        // Every older one was started before the newest: never finished.
        assert_eq!(history.records()[0].outcome.as_deref(), Some(INTERRUPTED));
    }

    fn big_plan(actions: u32) -> Plan {
        Plan {
            actions: (1..=actions)
                .map(|id| PlannedAction {
                    id,
                    after: vec![],
                    kind: PlannedKind::Pseudo {
                        name: format!("a-rather-long-pseudo-action-name-to-take-room-{id:08}"),
                    },
                })
                .collect(),
            summary: vec![],
            recheck_in_s: None,
        }
    }

    #[test]
    fn bounded_by_bytes_too_and_a_huge_transition_keeps_what_fits() {
        let mut history = History::default();
        history.upsert(TransitionRecord::new(
            1,
            "n1",
            "big",
            CibVersion::default(),
            0,
            &big_plan(20_000),
        ));
        let record = &history.records()[0];
        assert!(record.actions_left_out > 0);
        assert_eq!(record.actions.len() + record.actions_left_out, 20_000);
        assert!(record.encoded_bytes() <= TRANSITION_BYTES_MAX);
        for id in 2..40 {
            history.upsert(TransitionRecord::new(
                id,
                "n1",
                "big",
                CibVersion::default(),
                0,
                &big_plan(3_000),
            ));
        }
        let total: usize = history.records.iter().map(|r| r.encoded_bytes()).sum();
        assert!(total <= HISTORY_BYTES_MAX, "{total}");
        assert!(history.records().len() < 39);
        assert_eq!(history.records().last().unwrap().id, 39);
    }

    #[test]
    fn the_dcs_live_copy_shows_the_running_transition_over_the_replicated_start() {
        let plan = big_plan(2);
        let mut replicated = History::default();
        let mut first = TransitionRecord::new(10, "n1", "a", CibVersion::default(), 0, &plan);
        first.outcome = Some("complete".into());
        replicated.upsert(first.clone());
        replicated.upsert(TransitionRecord::new(
            11,
            "n1",
            "b",
            CibVersion::default(),
            0,
            &plan,
        ));
        let mut live = History::default();
        live.upsert(TransitionRecord::new(
            5,
            "n1",
            "long gone",
            CibVersion::default(),
            0,
            &plan,
        ));
        live.upsert(first);
        live.upsert(TransitionRecord::new(
            11,
            "n1",
            "b",
            CibVersion::default(),
            0,
            &plan,
        ));
        live.record_action(11, 1, "ok", Some(0), 7);
        let merged = History::merged(&replicated, &live);
        assert_eq!(
            merged.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![10, 11]
        );
        assert_eq!(merged[1].actions[0].result.as_deref(), Some("ok"));
        // A node that never was DC answers the replicated history alone.
        assert_eq!(
            History::merged(&replicated, &History::default()),
            replicated.records()
        );
    }
}
