//! What the policy actor (the scheduler) is asked and how it fails.

use super::request;
use crate::actors::policy::SCHEDULER_TIME_MS_MAX;
use crate::model::cib::xml::Element;
use crate::model::control::plan::Plan;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PolicyRequest {
    Schedule(Schedule),
}

/// Compute the transition for this CIB at this time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schedule {
    pub cib: Element,
    pub now_epoch_s: i64,
}
request!(Schedule: Policy(PolicyRequest::Schedule) -> Plan(Plan));

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PolicyError {
    #[error("scheduler: the previous run is still going (over SCHEDULER_TIME_MS_MAX); not starting another")]
    StillRunning,
    /// The scheduler refused the CIB, in its words.
    #[error("scheduler: {0}")]
    Scheduler(String),
    /// The scheduler's thread ended without an answer (it panicked).
    #[error("scheduler task: {0}")]
    Task(String),
    #[error("scheduler: no answer within SCHEDULER_TIME_MS_MAX = {SCHEDULER_TIME_MS_MAX} ms")]
    TimedOut,
}
