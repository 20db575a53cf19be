//! The replicated state machine: the CIB and the member table, changed only
//! by applying committed log entries, in log order, on every node alike.
//!
//! Applying is deterministic (no clock, no randomness, no I/O), so every
//! node that has applied the same prefix of the log holds the same CIB, and
//! the CIB's version numbers (admin_epoch, epoch, num_updates) follow from
//! the log: a configuration change steps `epoch`, a status fact steps
//! `num_updates`. A change that cannot be applied (its target is gone, a
//! compare-and-swap lost, it would add configuration errors) is refused the
//! same way on every node and leaves the state as it was.

use crate::model::cib::change::{CibChange, StatusChange};
use crate::model::cib::store::{self, CibVersion};
use crate::model::cib::xml::Element;
use crate::model::control::history::History;
use crate::model::control::members::{Member, MemberChange, MemberRole, Members};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a normal log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client's change, proposed by `origin` as its `seq`-th proposal at
    /// `now_epoch_s` by its clock (the time rules in the check are read
    /// at, so every node checks alike).
    Client {
        origin: String,
        seq: u64,
        change: CibChange,
        now_epoch_s: i64,
    },
    /// Facts the DC of `term` records in the status section.
    Status {
        term: u64,
        changes: Vec<StatusChange>,
    },
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        let bytes = rmp_serde::to_vec(self).expect("commands serialise");
        // Every node applies what it decodes: what we write must read back
        // as itself (commands are small; a whole configuration is a few
        // hundred kilobytes at most, decoded once more).
        assert!(
            Command::decode(&bytes).as_ref() == Ok(self),
            "a command does not read back as written"
        );
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, String> {
        rmp_serde::from_slice(bytes).map_err(|e| format!("undecodable log entry: {e}"))
    }
}

/// The outcome of applying one entry, for whoever waits on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Client {
        origin: String,
        seq: u64,
        index: u64,
        result: Result<CibVersion, String>,
    },
    Status {
        index: u64,
    },
    Members {
        index: u64,
        change: MemberChange,
    },
    /// An entry with no command (a new leader's first entry).
    Empty {
        index: u64,
    },
}

/// The CIB and who is in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicatedState {
    pub cib: Arc<Element>,
    pub members: Members,
    /// The transitions the DCs ran (bounded; see `model::control::history`).
    pub history: Arc<History>,
}

/// The snapshot form: members plus the CIB as XML text, and the history
/// (absent from snapshots written before it was kept).
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    members: Members,
    cib_xml: String,
    #[serde(default)]
    history: History,
}

impl ReplicatedState {
    /// The first state of a new cluster: an empty CIB listing the voters as
    /// nodes. Every founding node computes the same one from the same names.
    pub fn bootstrap(voters: &[String], witnesses: &[String]) -> ReplicatedState {
        Self::bootstrap_with(store::empty_cib(), voters, witnesses)
    }

    /// [`Self::bootstrap`] from a given first CIB (simulations, tests).
    pub fn bootstrap_with(
        cib: Element,
        voters: &[String],
        witnesses: &[String],
    ) -> ReplicatedState {
        let mut state = ReplicatedState {
            cib: Arc::new(cib),
            members: Members::default(),
            history: Arc::default(),
        };
        let mut names: Vec<(&String, MemberRole)> = voters
            .iter()
            .map(|n| (n, MemberRole::Voter))
            .chain(witnesses.iter().map(|n| (n, MemberRole::Witness)))
            .collect();
        names.sort();
        for (name, role) in names {
            state.apply_member_change(&MemberChange::Set(Member {
                name: name.clone(),
                addr: None,
                role,
            }));
        }
        state
    }

    pub fn version(&self) -> CibVersion {
        store::version(&self.cib)
    }

    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec(&SnapshotData {
            members: self.members.clone(),
            cib_xml: self.cib.to_xml_compact(),
            history: (*self.history).clone(),
        })
        .expect("snapshot serialises")
    }

    pub fn decode(bytes: &[u8]) -> Result<ReplicatedState, String> {
        let data: SnapshotData =
            rmp_serde::from_slice(bytes).map_err(|e| format!("undecodable snapshot: {e}"))?;
        let cib = Element::parse(&data.cib_xml).map_err(|e| format!("snapshot CIB: {e}"))?;
        store::validate_shape(&cib).map_err(|e| format!("snapshot CIB: {e}"))?;
        Ok(ReplicatedState {
            cib: Arc::new(cib),
            members: data.members,
            history: Arc::new(data.history),
        })
    }

    /// Applies a normal entry's bytes at `index`.
    pub fn apply_entry(&mut self, index: u64, data: &[u8]) -> Applied {
        if data.is_empty() {
            return Applied::Empty { index };
        }
        match Command::decode(data) {
            Ok(Command::Client {
                origin,
                seq,
                change,
                now_epoch_s,
            }) => {
                let result = self.apply_client(&change, now_epoch_s);
                Applied::Client {
                    origin,
                    seq,
                    index,
                    result,
                }
            }
            Ok(Command::Status { changes, .. }) => {
                for change in changes {
                    match change {
                        StatusChange::Transition { record } => {
                            Arc::make_mut(&mut self.history).upsert(record)
                        }
                        other => store::apply_status(Arc::make_mut(&mut self.cib), &other),
                    }
                }
                Applied::Status { index }
            }
            // Every node fails to decode it alike: skipping it keeps them equal.
            Err(_) => Applied::Empty { index },
        }
    }

    /// Applies a client's change after the check every write passes
    /// ([`crate::model::cib::verify::check_applied`]): the same on every node.
    fn apply_client(&mut self, change: &CibChange, now_epoch_s: i64) -> Result<CibVersion, String> {
        let mut next = (*self.cib).clone();
        store::apply_change(&mut next, change).map_err(|e| e.to_string())?;
        crate::model::cib::verify::check_applied(&self.cib, change, &next, now_epoch_s)?;
        self.cib = Arc::new(next);
        Ok(self.version())
    }

    /// Applies a configuration change: the member table, and the CIB's
    /// node list (members that run resources are nodes).
    pub fn apply_member_change(&mut self, change: &MemberChange) {
        self.members.apply(change);
        let cib = Arc::make_mut(&mut self.cib);
        match change {
            MemberChange::Set(member) if member.role.runs_resources() => {
                add_cib_node(cib, &member.name);
            }
            MemberChange::Set(member) => remove_cib_node(cib, &member.name),
            MemberChange::Remove { name } => remove_cib_node(cib, name),
        }
    }
}

fn add_cib_node(cib: &mut Element, name: &str) {
    let nodes = cib
        .child_or_insert("configuration")
        .child_or_insert("nodes");
    if !nodes.children.iter().any(|n| is_node(n, name)) {
        nodes.children.push(
            Element::new("node")
                .with_attr("id", name)
                .with_attr("uname", name),
        );
        store::bump_epoch(cib);
    }
    // A node that has never been seen is "unclean" to the scheduler (as
    // Pacemaker's startup-fencing has it) and would be fenced before the
    // DC records its join: a node just added is known to be down instead.
    store::record_down_if_unknown(cib, name);
}

fn remove_cib_node(cib: &mut Element, name: &str) {
    let nodes = cib
        .child_or_insert("configuration")
        .child_or_insert("nodes");
    let before = nodes.children.len();
    nodes.children.retain(|n| !is_node(n, name));
    let removed = nodes.children.len() != before;
    if let Some(status) = cib.child_mut("status") {
        status
            .children
            .retain(|s| !(s.name == "node_state" && s.attr("uname") == Some(name)));
    }
    if removed {
        store::bump_epoch(cib);
    }
}

fn is_node(element: &Element, name: &str) -> bool {
    element.name == "node" && element.attr("uname") == Some(name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn founded() -> ReplicatedState {
        ReplicatedState::bootstrap(&["n2".into(), "n1".into()], &["w".into()])
    }

    fn nodes(state: &ReplicatedState) -> Vec<String> {
        state
            .cib
            .child("configuration")
            .and_then(|c| c.child("nodes"))
            .map(|n| {
                n.children
                    .iter()
                    .filter_map(|c| c.attr("uname").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn transitions_go_to_the_history_beside_the_cib_and_survive_a_snapshot() {
        let mut state = founded();
        let cib_before = state.cib.clone();
        let plan = crate::model::control::plan::Plan {
            actions: vec![],
            summary: vec!["* Start web".into()],
            recheck_in_s: None,
        };
        let mut record = crate::model::control::history::TransitionRecord::new(
            7,
            "n1",
            "node n2 joined",
            state.version(),
            1_700_000_000,
            &plan,
        );
        record.outcome = Some("complete".into());
        let entry = Command::Status {
            term: 3,
            changes: vec![StatusChange::Transition {
                record: record.clone(),
            }],
        };
        state.apply_entry(9, &entry.encode());
        assert_eq!(state.history.records(), vec![record.clone()]);
        assert_eq!(state.cib, cib_before, "the CIB is untouched");
        let restored = ReplicatedState::decode(&state.encode()).unwrap();
        assert_eq!(restored.history.records(), vec![record]);
        // A snapshot written before the history was kept still reads.
        #[derive(Serialize)]
        struct Older {
            members: Members,
            cib_xml: String,
        }
        let older = rmp_serde::to_vec(&Older {
            members: state.members.clone(),
            cib_xml: state.cib.to_xml_compact(),
        })
        .unwrap();
        let read = ReplicatedState::decode(&older).unwrap();
        assert!(read.history.records().is_empty());
        assert_eq!(read.cib, state.cib);
    }

    #[test]
    fn bootstrap_is_the_same_whatever_the_order_of_names() {
        let other = ReplicatedState::bootstrap(&["n1".into(), "n2".into()], &["w".into()]);
        assert_eq!(founded(), other);
        assert_eq!(nodes(&other), ["n1", "n2"]);
        assert_eq!(other.members.voter_names(), ["n1", "n2", "w"]);
    }

    #[test]
    fn client_changes_step_the_epoch_and_refusals_change_nothing() {
        let mut state = founded();
        let before = state.version();
        let set = Command::Client {
            origin: "n1".into(),
            seq: 1,
            change: CibChange::SetProperty {
                name: "stonith-enabled".into(),
                value: Some("false".into()),
            },
            now_epoch_s: 0,
        };
        let applied = state.apply_entry(5, &set.encode());
        let Applied::Client { result, index, .. } = applied else {
            panic!("{applied:?}")
        };
        assert_eq!(index, 5);
        assert_eq!(result.unwrap().epoch, before.epoch + 1);
        let snapshot = state.clone();
        let missing = Command::Client {
            origin: "n1".into(),
            seq: 2,
            change: CibChange::Delete { id: "ghost".into() },
            now_epoch_s: 0,
        };
        let Applied::Client { result, .. } = state.apply_entry(6, &missing.encode()) else {
            panic!()
        };
        assert!(result.unwrap_err().contains("ghost"));
        assert_eq!(state, snapshot);
    }

    #[test]
    fn status_facts_step_num_updates_and_snapshots_round_trip() {
        let mut state = founded();
        let status = Command::Status {
            term: 3,
            changes: vec![StatusChange::NodeJoined { node: "n1".into() }],
        };
        state.apply_entry(2, &status.encode());
        assert_eq!(state.version().num_updates, 1);
        let back = ReplicatedState::decode(&state.encode()).unwrap();
        assert_eq!(back, state);
        assert!(ReplicatedState::decode(b"garbage").is_err());
        assert_eq!(
            state.apply_entry(3, b"\xff\x00"),
            Applied::Empty { index: 3 }
        );
    }

    /// A learner restored from a snapshot holds the leader's CIB to the
    /// byte: element text and attribute values with spaces, tabs, carriage
    /// returns or line feeds at either end read back as written (the
    /// snapshot carries the CIB as XML).
    #[test]
    fn a_snapshot_restores_text_and_values_with_outer_whitespace_exactly() {
        let mut leader = founded();
        let mut primitive = Element::new("primitive")
            .with_attr("id", "p")
            .with_attr("class", "ocf")
            .with_attr("provider", "heartbeat")
            .with_attr("type", "Dummy")
            .with_attr("description", " \tpadded\r\n ");
        let mut note = Element::new("description");
        note.text = " \t spaced text\r\n ".into();
        primitive.children.push(note);
        let upsert = Command::Client {
            origin: "n1".into(),
            seq: 1,
            change: CibChange::Upsert {
                section: "resources".into(),
                element: primitive,
            },
            now_epoch_s: 0,
        };
        let Applied::Client { result, .. } = leader.apply_entry(2, &upsert.encode()) else {
            panic!()
        };
        result.unwrap();
        let learner = ReplicatedState::decode(&leader.encode()).unwrap();
        assert_eq!(learner, leader);
        assert_eq!(learner.cib.to_xml_compact(), leader.cib.to_xml_compact());
        assert_eq!(learner.encode(), leader.encode());
    }

    #[test]
    fn members_that_run_resources_are_cib_nodes() {
        let mut state = founded();
        state.apply_member_change(&MemberChange::Set(Member {
            name: "n3".into(),
            addr: Some("127.0.0.1:7403".into()),
            role: MemberRole::Learner,
        }));
        assert_eq!(nodes(&state), ["n1", "n2"]);
        state.apply_member_change(&MemberChange::Set(Member {
            name: "n3".into(),
            addr: Some("127.0.0.1:7403".into()),
            role: MemberRole::Voter,
        }));
        assert_eq!(nodes(&state), ["n1", "n2", "n3"]);
        state.apply_member_change(&MemberChange::Remove { name: "n1".into() });
        assert_eq!(nodes(&state), ["n2", "n3"]);
    }

    #[test]
    fn a_write_that_adds_configuration_errors_is_refused() {
        let mut state = founded();
        let bad = Command::Client {
            origin: "n1".into(),
            seq: 1,
            change: CibChange::Upsert {
                section: "resources".into(),
                element: Element::new("primitive").with_attr("id", "p"),
            },
            now_epoch_s: 0,
        };
        let Applied::Client { result, .. } = state.apply_entry(2, &bad.encode()) else {
            panic!()
        };
        assert!(result.unwrap_err().starts_with("refused"));
    }
}
