//! What the scheduler hands back: the actions of a transition ([`Action`],
//! with its [`Task`] and [`Meta`]) and the [`Transition`] graph they form.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::cib::AgentSpec;

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    Start,
    Stop,
    /// A recurring monitor, or a probe when `interval_ms` is 0.
    Monitor,
    Promote,
    Demote,
    MigrateTo,
    MigrateFrom,
    Notify,
    /// Reload changed parameters in place (the agent supports it).
    Reload,
    /// Cancel a recurring operation (`interval_ms`; meta `operation`).
    Cancel,
    /// Forget the resource's history on the node (its agent changed).
    Delete,
    /// Clear the resource's fail count on the node.
    ClearFailcount,
    Fence,
    /// A pseudo-action: a synchronisation point run by nobody (e.g. a stop
    /// implied by fencing, a group's "running").
    Pseudo,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Start => "start",
            Task::Stop => "stop",
            Task::Monitor => "monitor",
            Task::Promote => "promote",
            Task::Demote => "demote",
            Task::MigrateTo => "migrate_to",
            Task::MigrateFrom => "migrate_from",
            Task::Notify => "notify",
            Task::Reload => "reload",
            Task::Cancel => "cancel",
            Task::Delete => "delete",
            Task::ClearFailcount => "clear_failcount",
            Task::Fence => "stonith",
            Task::Pseudo => "pseudo",
        }
    }
}

/// One action of the transition graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub task: Task,
    /// The lrm resource id (`db:0` for anonymous clone instances).
    pub resource: Option<String>,
    /// The resource's agent, shared by all of its actions.
    pub agent: Option<Arc<AgentSpec>>,
    /// Node uname the action runs on (the fence target for Fence).
    pub node: Option<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// The resource's parameters, shared by all of its actions.
    pub params: Arc<BTreeMap<String, String>>,
    /// CRM_meta_* style extras: `op_target_rc` for probes, fence `action`,
    /// pseudo-action name in `name`.
    pub meta: Meta,
}

/// An action's few meta attributes, sorted by name: a map API over a vector,
/// since a `BTreeMap` node costs half a kilobyte and a graph has an action
/// per resource and node.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Meta(Vec<(String, String)>);

impl Meta {
    pub fn new() -> Self {
        Meta(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`, returning its previous value (as `BTreeMap::insert`).
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self
            .0
            .binary_search_by(|(k, _)| k.as_str().cmp(key.as_str()))
        {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                // Grown one entry at a time: most actions carry one or two
                // entries, and a graph holds hundreds of thousands of them.
                self.0.reserve_exact(1);
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        Some(self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, String)> for Meta {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut m = Meta::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<'a> IntoIterator for &'a Meta {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Action {
    /// Pacemaker's operation key, `RSC_TASK_INTERVAL`.
    pub fn key(&self) -> String {
        match (&self.resource, self.task) {
            (_, Task::Fence) => format!(
                "stonith-{}-{}",
                self.node.as_deref().unwrap_or(""),
                self.meta
                    .get("action")
                    .map(String::as_str)
                    .unwrap_or("reboot")
            ),
            (Some(r), Task::Pseudo) => format!(
                "{}_{}_0",
                r,
                self.meta
                    .get("name")
                    .map(String::as_str)
                    .unwrap_or("pseudo")
            ),
            (Some(r), Task::Notify) => format!(
                "{}_{}_notify_{}_0",
                r,
                self.meta
                    .get("notify_type")
                    .map(String::as_str)
                    .unwrap_or("pre"),
                self.meta
                    .get("notify_operation")
                    .map(String::as_str)
                    .unwrap_or("start")
            ),
            (Some(r), t) => format!("{}_{}_{}", r, t.name(), self.interval_ms),
            (None, t) => self
                .meta
                .get("name")
                .cloned()
                .unwrap_or_else(|| t.name().to_string()),
        }
    }
}

/// The scheduler's answer.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Edge a -> b: b may run only after a completed.
    pub graph: petgraph::graph::DiGraph<Action, ()>,
    /// The "Transition Summary" bullet lines.
    pub summary: Vec<String>,
    /// What the scheduler left out of the CIB because it could not use it
    /// (and warnings); everything else was scheduled.
    pub config_errors: Vec<crate::model::cib::verify::ConfigIssue>,
    /// When to schedule again though nothing happens: a failure expires.
    pub recheck_at_epoch_s: Option<i64>,
}

impl Transition {
    /// Whether carrying the transition out changes anything: a graph of
    /// pseudo-actions only (the `load_stopped_NODE` steps every transition
    /// has under a placement strategy) runs nothing, and must not count as
    /// work, or a DC that schedules again after each transition would run
    /// one every second forever.
    pub fn has_work(&self) -> bool {
        self.graph
            .node_weights()
            .any(|action| action.task != Task::Pseudo)
    }
}
