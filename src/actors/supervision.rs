//! Supervision declared as data, with a pure decision core.
//!
//! Each supervisor is an OTP-style child spec: a strategy (one_for_one,
//! one_for_all, rest_for_one) and a restart intensity (at most
//! `max_restarts` in `period_ms`). When an actor crashes it restarts itself
//! at once (so its address and mailbox never go away) and reports here;
//! [`SupervisorState::on_child_restart`] decides what else must restart, or
//! that the supervisor gives up and escalates to its parent. No clocks and no
//! I/O: time comes in as `now_ms`.
//!
//! ```
//! use systole::actors::supervision::*;
//! let spec = SupervisorSpec::new("root", Strategy::OneForAll, 3, 1_000)
//!     .actor("a").actor("b");
//! let mut state = SupervisorState::new(spec);
//! assert_eq!(state.on_child_restart("a", 0), Decision::Restart(vec!["b".into()]));
//! ```

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the crashed child restarts.
    OneForOne,
    /// Every child restarts with it: the children share state that a crash
    /// leaves inconsistent.
    OneForAll,
    /// The crashed child and those declared after it restart: later children
    /// depend on earlier ones.
    RestForOne,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildSpec {
    Actor(String),
    Supervisor(SupervisorSpec),
}

impl ChildSpec {
    pub fn name(&self) -> &str {
        match self {
            ChildSpec::Actor(name) => name,
            ChildSpec::Supervisor(spec) => &spec.name,
        }
    }

    /// Every actor at or below this child, in declaration order.
    pub fn actors(&self) -> Vec<String> {
        match self {
            ChildSpec::Actor(name) => vec![name.clone()],
            ChildSpec::Supervisor(spec) => spec.actors(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorSpec {
    pub name: String,
    pub strategy: Strategy,
    pub max_restarts: u32,
    pub period_ms: u64,
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    pub fn new(name: &str, strategy: Strategy, max_restarts: u32, period_ms: u64) -> Self {
        SupervisorSpec {
            name: name.to_string(),
            strategy,
            max_restarts,
            period_ms,
            children: Vec::new(),
        }
    }

    pub fn actor(mut self, name: &str) -> Self {
        self.children.push(ChildSpec::Actor(name.to_string()));
        self
    }

    pub fn supervisor(mut self, spec: SupervisorSpec) -> Self {
        self.children.push(ChildSpec::Supervisor(spec));
        self
    }

    /// Every actor below this supervisor, in declaration order.
    pub fn actors(&self) -> Vec<String> {
        self.children.iter().flat_map(ChildSpec::actors).collect()
    }

    /// The supervisor that directly holds `child` (an actor or supervisor
    /// name), searching the whole subtree.
    pub fn parent_of(&self, child: &str) -> Option<&SupervisorSpec> {
        if self.children.iter().any(|c| c.name() == child) {
            return Some(self);
        }
        self.children.iter().find_map(|c| match c {
            ChildSpec::Supervisor(spec) => spec.parent_of(child),
            ChildSpec::Actor(_) => None,
        })
    }

    /// Every supervisor spec in this subtree, self first.
    pub fn supervisors(&self) -> Vec<&SupervisorSpec> {
        let mut out = vec![self];
        for child in &self.children {
            if let ChildSpec::Supervisor(spec) = child {
                out.extend(spec.supervisors());
            }
        }
        out
    }
}

/// What a supervisor decided about a child's restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// These other actors must restart too (possibly none).
    Restart(Vec<String>),
    /// Intensity exceeded: the supervisor gives up; its parent must restart
    /// the whole subtree (and count that against its own intensity).
    Escalate,
}

/// One supervisor's restart history.
#[derive(Debug, Clone)]
pub struct SupervisorState {
    pub spec: SupervisorSpec,
    restart_times_ms: VecDeque<u64>,
    pub restarts_total: u64,
}

impl SupervisorState {
    pub fn new(spec: SupervisorSpec) -> Self {
        SupervisorState {
            spec,
            restart_times_ms: VecDeque::new(),
            restarts_total: 0,
        }
    }

    /// A direct child (`child` names an actor or supervisor) has restarted.
    pub fn on_child_restart(&mut self, child: &str, now_ms: u64) -> Decision {
        self.restarts_total += 1;
        self.restart_times_ms.push_back(now_ms);
        while let Some(&oldest) = self.restart_times_ms.front() {
            if now_ms.saturating_sub(oldest) >= self.spec.period_ms {
                self.restart_times_ms.pop_front();
            } else {
                break;
            }
        }
        if self.restart_times_ms.len() > self.spec.max_restarts as usize {
            self.restart_times_ms.clear();
            return Decision::Escalate;
        }
        let index = self.spec.children.iter().position(|c| c.name() == child);
        let siblings: Vec<&ChildSpec> = match (self.spec.strategy, index) {
            (Strategy::OneForOne, _) | (_, None) => Vec::new(),
            (Strategy::OneForAll, Some(i)) => self
                .spec
                .children
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c)
                .collect(),
            (Strategy::RestForOne, Some(i)) => self.spec.children[i + 1..].iter().collect(),
        };
        Decision::Restart(siblings.into_iter().flat_map(ChildSpec::actors).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(strategy: Strategy) -> SupervisorSpec {
        SupervisorSpec::new("s", strategy, 2, 1_000)
            .actor("a")
            .actor("b")
            .supervisor(SupervisorSpec::new("inner", Strategy::OneForOne, 1, 1_000).actor("c"))
    }

    #[test]
    fn one_for_one_restarts_nothing_else() {
        let mut s = SupervisorState::new(spec(Strategy::OneForOne));
        assert_eq!(s.on_child_restart("b", 0), Decision::Restart(vec![]));
    }

    #[test]
    fn one_for_all_restarts_every_sibling_subtree() {
        let mut s = SupervisorState::new(spec(Strategy::OneForAll));
        assert_eq!(
            s.on_child_restart("b", 0),
            Decision::Restart(vec!["a".into(), "c".into()])
        );
    }

    #[test]
    fn rest_for_one_restarts_later_children() {
        let mut s = SupervisorState::new(spec(Strategy::RestForOne));
        assert_eq!(
            s.on_child_restart("a", 0),
            Decision::Restart(vec!["b".into(), "c".into()])
        );
        assert_eq!(s.on_child_restart("inner", 10), Decision::Restart(vec![]));
    }

    #[test]
    fn intensity_exceeded_escalates_and_window_slides() {
        let mut s = SupervisorState::new(spec(Strategy::OneForOne));
        assert_eq!(s.on_child_restart("a", 0), Decision::Restart(vec![]));
        assert_eq!(s.on_child_restart("a", 100), Decision::Restart(vec![]));
        assert_eq!(s.on_child_restart("a", 200), Decision::Escalate);
        // After escalation the history starts afresh.
        assert_eq!(s.on_child_restart("a", 300), Decision::Restart(vec![]));
        // Restarts older than the period no longer count.
        assert_eq!(s.on_child_restart("a", 5_000), Decision::Restart(vec![]));
        assert_eq!(s.on_child_restart("a", 5_100), Decision::Restart(vec![]));
        assert_eq!(s.restarts_total, 6);
    }

    #[test]
    fn tree_queries() {
        let s = spec(Strategy::OneForOne);
        assert_eq!(s.actors(), vec!["a", "b", "c"]);
        assert_eq!(s.parent_of("c").unwrap().name, "inner");
        assert_eq!(s.parent_of("inner").unwrap().name, "s");
        assert!(s.parent_of("zzz").is_none());
        assert_eq!(s.supervisors().len(), 2);
    }
}
