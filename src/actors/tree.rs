//! The live supervision tree of one node: the declared [`SupervisorSpec`],
//! each supervisor's restart history, each actor's counters, and how to
//! restart an actor. `systole actors` prints a [`Tree::snapshot`].

use crate::actors::cell::Restart;
use crate::actors::supervision::{ChildSpec, Decision, SupervisorSpec, SupervisorState};
use actix::Recipient;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Counters of one actor, shared between its cell, its mailbox and readers.
#[derive(Debug)]
pub struct ActorStats {
    pub depth: AtomicU64,
    pub processed: AtomicU64,
    pub restarts: AtomicU64,
    last_failure: Mutex<Option<String>>,
    started_at: Mutex<Instant>,
}

impl ActorStats {
    fn new() -> Self {
        ActorStats {
            depth: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            last_failure: Mutex::new(None),
            started_at: Mutex::new(Instant::now()),
        }
    }

    pub fn record_restart(&self, reason: &str) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        *self.last_failure.lock().expect("stats lock") = Some(reason.to_string());
        *self.started_at.lock().expect("stats lock") = Instant::now();
    }

    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().expect("stats lock").clone()
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started_at
            .lock()
            .expect("stats lock")
            .elapsed()
            .as_millis() as u64
    }
}

/// One node of `systole actors --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TreeNode {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    pub state: String,
    pub restarts: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mailbox: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub processed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uptime_ms: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub children: Vec<TreeNode>,
}

type GiveUp = Box<dyn Fn(&str) + Send + Sync>;

pub struct Tree {
    spec: SupervisorSpec,
    supervisors: Mutex<HashMap<String, SupervisorState>>,
    subtree_restarts: DashMap<String, u64>,
    stats: DashMap<String, Arc<ActorStats>>,
    restarters: DashMap<String, Recipient<Restart>>,
    epoch: Instant,
    give_up: GiveUp,
}

impl Tree {
    /// `give_up` runs when the root supervisor's intensity is exceeded: the
    /// node can no longer heal itself and the init system must restart it.
    pub fn new(spec: SupervisorSpec, give_up: GiveUp) -> Arc<Tree> {
        let supervisors = spec
            .supervisors()
            .into_iter()
            .map(|s| (s.name.clone(), SupervisorState::new(s.clone())))
            .collect();
        Arc::new(Tree {
            spec,
            supervisors: Mutex::new(supervisors),
            subtree_restarts: DashMap::new(),
            stats: DashMap::new(),
            restarters: DashMap::new(),
            epoch: Instant::now(),
            give_up,
        })
    }

    pub fn spec(&self) -> &SupervisorSpec {
        &self.spec
    }

    /// The counters of `name`, created on first use.
    pub fn stats(&self, name: &str) -> Arc<ActorStats> {
        Arc::clone(
            self.stats
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(ActorStats::new()))
                .value(),
        )
    }

    pub fn register_restarter(&self, name: &str, recipient: Recipient<Restart>) {
        self.restarters.insert(name.to_string(), recipient);
    }

    fn restart_actor(&self, name: &str, reason: &str) {
        if let Some(recipient) = self.restarters.get(name) {
            recipient.do_send(Restart(reason.to_string()));
        }
    }

    /// An actor restarted itself after a crash: apply the strategies up the
    /// tree.
    pub fn child_restarted(&self, actor: &str) {
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let mut child = actor.to_string();
        loop {
            let Some(parent) = self.spec.parent_of(&child) else {
                return;
            };
            let decision = {
                let mut supervisors = self.supervisors.lock().expect("tree lock");
                match supervisors.get_mut(&parent.name) {
                    Some(state) => state.on_child_restart(&child, now_ms),
                    None => return,
                }
            };
            match decision {
                Decision::Restart(others) => {
                    let reason = format!("{child} crashed ({})", parent.strategy.as_str());
                    for other in others {
                        self.restart_actor(&other, &reason);
                    }
                    return;
                }
                Decision::Escalate => {
                    tracing::error!(supervisor = %parent.name, "restart intensity exceeded; escalating");
                    if parent.name == self.spec.name {
                        (self.give_up)(&parent.name);
                        return;
                    }
                    *self
                        .subtree_restarts
                        .entry(parent.name.clone())
                        .or_insert(0) += 1;
                    let reason = format!("supervisor {} restarted", parent.name);
                    for other in parent.actors() {
                        self.restart_actor(&other, &reason);
                    }
                    child = parent.name.clone();
                }
            }
        }
    }

    pub fn snapshot(&self) -> TreeNode {
        self.snapshot_supervisor(&self.spec)
    }

    fn snapshot_supervisor(&self, spec: &SupervisorSpec) -> TreeNode {
        TreeNode {
            name: spec.name.clone(),
            kind: "supervisor".into(),
            strategy: Some(spec.strategy.as_str().into()),
            state: "running".into(),
            restarts: self
                .subtree_restarts
                .get(&spec.name)
                .map(|r| *r)
                .unwrap_or(0),
            last_failure: None,
            mailbox: None,
            processed: None,
            uptime_ms: None,
            children: spec
                .children
                .iter()
                .map(|child| match child {
                    ChildSpec::Supervisor(inner) => self.snapshot_supervisor(inner),
                    ChildSpec::Actor(name) => self.snapshot_actor(name),
                })
                .collect(),
        }
    }

    fn snapshot_actor(&self, name: &str) -> TreeNode {
        let running = self.restarters.contains_key(name);
        let stats = self.stats(name);
        TreeNode {
            name: name.to_string(),
            kind: "actor".into(),
            strategy: None,
            state: if running { "running" } else { "not started" }.into(),
            restarts: stats.restarts.load(Ordering::Relaxed),
            last_failure: stats.last_failure(),
            mailbox: Some(stats.depth.load(Ordering::Relaxed)),
            processed: Some(stats.processed.load(Ordering::Relaxed)),
            uptime_ms: Some(stats.uptime_ms()),
            children: Vec::new(),
        }
    }

    /// Is `name` an actor of this tree?
    pub fn has_actor(&self, name: &str) -> bool {
        self.spec.actors().iter().any(|a| a == name)
    }
}

/// The text of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Replaces Rust's default panic hook (which prints a backtrace and costs
/// ~100 µs) with one structured log line: actor panics are expected events.
pub fn install_quiet_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = %panic_text(info.payload()), %location, "panic");
    }));
}

/// Renders the tree as text, one actor a line, for `systole actors`.
pub fn render_text(node: &str, tree: &TreeNode) -> String {
    let mut out = format!("Supervisor tree of {node}\n");
    render_into(&mut out, tree, 0);
    out
}

fn render_into(out: &mut String, node: &TreeNode, depth: usize) {
    let indent = "  ".repeat(depth);
    if node.kind == "supervisor" {
        out.push_str(&format!(
            "{indent}{} [supervisor, {}] {} restarts={}\n",
            node.name,
            node.strategy.as_deref().unwrap_or("-"),
            node.state,
            node.restarts
        ));
    } else {
        out.push_str(&format!(
            "{indent}{:<12} {:<8} restarts={:<3} mailbox={:<5} processed={:<8} uptime={:.1}s{}\n",
            node.name,
            node.state,
            node.restarts,
            node.mailbox.unwrap_or(0),
            node.processed.unwrap_or(0),
            node.uptime_ms.unwrap_or(0) as f64 / 1000.0,
            node.last_failure
                .as_ref()
                .map(|f| format!(" last_failure=\"{f}\""))
                .unwrap_or_default()
        ));
    }
    for child in &node.children {
        render_into(out, child, depth + 1);
    }
}
