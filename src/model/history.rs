//! What the DC did and why: the last transitions, each with the event that
//! caused it, the CIB version it was computed from, and every action with
//! its result. `systole history` reads these.

use crate::model::cib_store::CibVersion;
use crate::model::plan::{Plan, PlannedKind};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Transitions kept by the DC.
pub const TRANSITIONS_KEPT: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: u32,
    pub description: String,
    /// None while not yet run or in flight.
    pub result: Option<String>,
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
}

pub fn describe(kind: &PlannedKind) -> String {
    match kind {
        PlannedKind::Resource { node, op } if op.interval_ms > 0 => {
            format!(
                "{} {} every {} ms on {node}",
                op.operation, op.resource, op.interval_ms
            )
        }
        PlannedKind::Resource { node, op } if op.operation == "monitor" => {
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
                })
                .collect(),
            outcome: None,
        }
    }
}

/// A bounded log of transitions, newest last.
#[derive(Debug, Default, Clone)]
pub struct History {
    records: VecDeque<TransitionRecord>,
}

impl History {
    pub fn push(&mut self, record: TransitionRecord) {
        if self.records.len() == TRANSITIONS_KEPT {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut TransitionRecord> {
        self.records.iter_mut().rev().find(|r| r.id == id)
    }

    pub fn record_action(&mut self, transition: u64, action: u32, result: &str) {
        if let Some(record) = self.get_mut(transition) {
            if let Some(a) = record.actions.iter_mut().find(|a| a.id == action) {
                a.result = Some(result.to_string());
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::PlannedAction;

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
        history.record_action(last, 1, "ok");
        history.finish(last, "complete");
        let record = history.records().pop().unwrap();
        assert_eq!(record.actions[0].description, "fence (reboot) n2");
        assert_eq!(record.actions[0].result.as_deref(), Some("ok"));
        assert_eq!(record.outcome.as_deref(), Some("complete"));
    }
}
