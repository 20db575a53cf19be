//! The invariants a simulated run must keep, checked after every event and
//! at the end:
//! - at most one leader (acting DC) per term;
//! - no change acknowledged before it was durable on a majority of voters;
//! - every acknowledged change is in the final state, in acknowledgement
//!   order (a change acknowledged before another was proposed comes first
//!   in the log);
//! - no node carries out a command of a term older than one it already
//!   obeyed, or than its own;
//! - no node is fenced while it was up and linked with the DC all along;
//! - no primitive runs on two nodes at once;
//! - after the calm, one leader, the same state everywhere, and every
//!   resource running exactly once (liveness).

use super::node::SimNode;
use super::RESOURCES;
use crate::model::cib::change::CibChange;
use std::collections::BTreeMap;

/// A node that was up and linked with the DC this long was answering: if
/// it is fenced, a healthy node was fenced.
pub const ANSWERING_MS: u64 = 2_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub at_ms: u64,
    pub what: String,
}

/// What a node saw, for the checker.
#[derive(Debug, Clone)]
pub enum Observation {
    Leader {
        term: u64,
        node: String,
    },
    Acked {
        change: CibChange,
        index: u64,
        term: u64,
        proposed_ms: u64,
        acked_ms: u64,
        /// Voters of the acknowledging leader's configuration when it may
        /// differ from every simulated node (one, for a two-node survivor
        /// that fenced its peer); `None`: every node votes.
        voters: Option<usize>,
    },
    Executed {
        node: String,
        term: u64,
        local_term: u64,
    },
    DiskFailed {
        node: String,
    },
    SchedulerError(String),
}

#[derive(Debug, Clone)]
struct Ack {
    change: CibChange,
    index: u64,
    proposed_ms: u64,
    acked_ms: u64,
}

pub struct Checker {
    leaders: BTreeMap<u64, String>,
    acks: Vec<Ack>,
    obeyed_terms: BTreeMap<String, u64>,
    /// Resources seen on two nodes, not yet reported again.
    doubled: BTreeMap<String, bool>,
    pub refused: usize,
    pub fenced: usize,
    pub disk_failures: usize,
    pub violations: Vec<Violation>,
}

impl Checker {
    pub fn new(_nodes: usize) -> Checker {
        Checker {
            leaders: BTreeMap::new(),
            acks: Vec::new(),
            obeyed_terms: BTreeMap::new(),
            doubled: BTreeMap::new(),
            refused: 0,
            fenced: 0,
            disk_failures: 0,
            violations: Vec::new(),
        }
    }

    pub fn acknowledged(&self) -> usize {
        self.acks.len()
    }

    pub fn terms(&self) -> usize {
        self.leaders.len()
    }

    fn violation(&mut self, at_ms: u64, what: String) {
        if self.violations.len() < 20 {
            self.violations.push(Violation { at_ms, what });
        }
    }

    /// A fence of `target` by `dc`, which had been answering for
    /// `answering_ms`.
    pub fn fenced(&mut self, dc: &str, target: &str, answering_ms: u64, now_ms: u64) {
        self.fenced += 1;
        if answering_ms >= ANSWERING_MS {
            self.violation(
                now_ms,
                format!("{dc} fenced {target}, which had been up and linked with it for {answering_ms} ms"),
            );
        }
    }

    pub fn check_step(&mut self, observed: Vec<Observation>, nodes: &[SimNode], now_ms: u64) {
        for observation in observed {
            self.observe(observation, nodes, now_ms);
        }
        self.check_single_placement(nodes, now_ms);
    }

    fn observe(&mut self, observation: Observation, nodes: &[SimNode], now_ms: u64) {
        match observation {
            Observation::Leader { term, node } => match self.leaders.get(&term) {
                Some(other) if *other != node => {
                    let what = format!("two DCs in term {term}: {other} and {node}");
                    self.violation(now_ms, what);
                }
                _ => {
                    self.leaders.insert(term, node);
                }
            },
            Observation::Acked {
                change,
                index,
                term,
                proposed_ms,
                acked_ms,
                voters,
            } => {
                let durable = nodes
                    .iter()
                    .filter(|n| {
                        n.disk.term_at(index) == Some(term) || n.disk.snapshot_index() > index
                    })
                    .count();
                let voters = voters.unwrap_or(nodes.len());
                if durable * 2 <= voters {
                    let what = format!(
                        "change at index {index} acknowledged while durable on {durable} of {voters} voters"
                    );
                    self.violation(now_ms, what);
                }
                self.acks.push(Ack {
                    change,
                    index,
                    proposed_ms,
                    acked_ms,
                });
            }
            Observation::Executed {
                node,
                term,
                local_term,
            } => {
                let obeyed = self.obeyed_terms.entry(node.clone()).or_default();
                if term < *obeyed || term < local_term {
                    let what = format!(
                        "{node} carried out a command of term {term} after obeying term {obeyed} (its own term {local_term})"
                    );
                    self.violation(now_ms, what);
                } else {
                    *obeyed = term;
                }
            }
            Observation::DiskFailed { .. } => self.disk_failures += 1,
            Observation::SchedulerError(error) => {
                self.violation(now_ms, format!("the scheduler failed: {error}"))
            }
        }
    }

    fn check_single_placement(&mut self, nodes: &[SimNode], now_ms: u64) {
        let mut placed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for node in nodes.iter().filter(|n| n.up) {
            for resource in &node.running {
                placed.entry(resource).or_default().push(&node.name);
            }
        }
        for (resource, on) in placed {
            let twice = on.len() > 1;
            let reported = self.doubled.get(resource).copied().unwrap_or(false);
            if twice && !reported {
                let what = format!("{resource} runs on {} at once", on.join(" and "));
                self.violation(now_ms, what);
            }
            self.doubled.insert(resource.to_string(), twice);
        }
    }

    /// The end of the calm: one leader, one state, every acknowledged
    /// change in it in order, every resource running once.
    pub fn check_end(&mut self, nodes: &[SimNode], now_ms: u64) {
        if std::env::var_os("SIM_TRACE").is_some() {
            for node in nodes {
                let status = node
                    .consensus()
                    .map(|c| (c.status(), c.state().members.clone()));
                eprintln!("{now_ms:>6} END {} up={} {status:?}", node.name, node.up);
            }
        }
        let leaders: Vec<&SimNode> = nodes
            .iter()
            .filter(|n| n.up && n.consensus().is_some_and(|c| c.leader_ready()))
            .collect();
        if leaders.len() != 1 {
            let names: Vec<&str> = leaders.iter().map(|n| n.name.as_str()).collect();
            self.violation(now_ms, format!("after the calm, DCs: {names:?} (want one)"));
            return;
        }
        let leader = leaders[0].consensus().expect("a leader has consensus");
        let state = leader.state();
        for node in nodes.iter().filter(|n| n.up) {
            let same = node
                .consensus()
                .is_some_and(|c| c.applied_index() == leader.applied_index() && c.state() == state);
            if !same {
                let what = format!("after the calm, {} differs from the DC's state", node.name);
                self.violation(now_ms, what);
            }
        }
        self.check_acknowledged_in(&state.cib, now_ms);
        self.check_ack_order(now_ms);
        let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
        for node in nodes.iter().filter(|n| n.up) {
            for resource in &node.running {
                *placed.entry(resource).or_default() += 1;
            }
        }
        for resource in RESOURCES.iter().chain(std::iter::once(&"fencer")) {
            let count = placed.get(resource).copied().unwrap_or(0);
            if count != 1 {
                let what = format!("after the calm, {resource} runs on {count} nodes (want 1)");
                self.violation(now_ms, what);
            }
        }
    }

    fn check_acknowledged_in(&mut self, cib: &crate::model::cib::xml::Element, now_ms: u64) {
        let missing: Vec<String> = self
            .acks
            .iter()
            .filter_map(|ack| match &ack.change {
                CibChange::SetProperty {
                    name,
                    value: Some(value),
                } => (property(cib, name).as_deref() != Some(value.as_str())).then(|| name.clone()),
                _ => None,
            })
            .collect();
        for name in missing {
            self.violation(
                now_ms,
                format!("acknowledged change {name} is missing from the final state"),
            );
        }
    }

    fn check_ack_order(&mut self, now_ms: u64) {
        let mut acks = self.acks.clone();
        acks.sort_by_key(|a| a.acked_ms);
        for (i, first) in acks.iter().enumerate() {
            for second in &acks[i + 1..] {
                if first.acked_ms < second.proposed_ms && first.index >= second.index {
                    let what = format!(
                        "a change acknowledged at {} ms (index {}) comes after one proposed later at {} ms (index {})",
                        first.acked_ms, first.index, second.proposed_ms, second.index
                    );
                    self.violation(now_ms, what);
                    return;
                }
            }
        }
    }
}

fn property(cib: &crate::model::cib::xml::Element, name: &str) -> Option<String> {
    cib.child("configuration")?
        .child("crm_config")?
        .children
        .iter()
        .flat_map(|set| set.children.iter())
        .find(|nv| nv.attr("name") == Some(name))
        .and_then(|nv| nv.attr("value"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::control::consensus::founding_log;

    fn nodes(count: usize) -> Vec<SimNode> {
        let names: Vec<String> = (1..=count).map(|i| format!("n{i}")).collect();
        let founding = founding_log(&names, &[]);
        names
            .iter()
            .enumerate()
            .map(|(i, n)| SimNode::new(i, n, founding.clone(), 1))
            .collect()
    }

    fn property(name: &str) -> CibChange {
        CibChange::SetProperty {
            name: name.into(),
            value: Some("1".into()),
        }
    }

    #[test]
    fn two_leaders_in_one_term_are_caught() {
        let nodes = nodes(3);
        let mut checker = Checker::new(3);
        let leader = |node: &str| Observation::Leader {
            term: 4,
            node: node.into(),
        };
        checker.check_step(vec![leader("n1"), leader("n1")], &nodes, 10);
        assert!(checker.violations.is_empty());
        checker.check_step(vec![leader("n2")], &nodes, 11);
        assert!(checker.violations[0].what.contains("two DCs in term 4"));
    }

    #[test]
    fn an_acknowledgement_without_a_durable_majority_is_caught() {
        let nodes = nodes(3);
        let mut checker = Checker::new(3);
        // Index 1 is the founding snapshot: on every disk.
        let acked = |index| Observation::Acked {
            change: property("a"),
            index,
            term: 1,
            proposed_ms: 0,
            acked_ms: 5,
            voters: None,
        };
        checker.check_step(vec![acked(1)], &nodes, 5);
        assert!(checker.violations.is_empty());
        checker.check_step(vec![acked(7)], &nodes, 6);
        assert!(checker.violations[0].what.contains("durable on 0 of 3"));
    }

    #[test]
    fn older_commands_and_double_placement_are_caught() {
        let mut nodes = nodes(2);
        let mut checker = Checker::new(2);
        let executed = |term, local_term| Observation::Executed {
            node: "n1".into(),
            term,
            local_term,
        };
        checker.check_step(vec![executed(5, 5), executed(5, 4)], &nodes, 1);
        assert!(checker.violations.is_empty());
        checker.check_step(vec![executed(4, 4)], &nodes, 2);
        assert!(checker.violations[0]
            .what
            .contains("term 4 after obeying term 5"));
        for node in nodes.iter_mut() {
            node.up = true;
            node.running.insert("r1".into());
        }
        checker.check_step(vec![], &nodes, 3);
        assert!(checker.violations[1].what.contains("r1 runs on n1 and n2"));
        checker.fenced("n1", "n2", ANSWERING_MS, 4);
        assert!(checker.violations[2].what.contains("n1 fenced n2"));
    }

    #[test]
    fn the_end_wants_every_acknowledged_change_in_order() {
        let mut checker = Checker::new(1);
        let ack = |name: &str, index, proposed_ms, acked_ms| Ack {
            change: property(name),
            index,
            proposed_ms,
            acked_ms,
        };
        checker.acks = vec![ack("a", 5, 0, 10), ack("b", 4, 20, 30)];
        let cib = crate::model::cib::store::empty_cib();
        checker.check_acknowledged_in(&cib, 100);
        checker.check_ack_order(100);
        let found: Vec<&str> = checker.violations.iter().map(|v| v.what.as_str()).collect();
        assert!(found[0].contains("a is missing"), "{found:?}");
        assert!(found[1].contains("b is missing"), "{found:?}");
        assert!(
            found[2].contains("comes after one proposed later"),
            "{found:?}"
        );
    }
}
