//! Who belongs to the cluster: the voters, learners and witnesses of the
//! Raft configuration, each with its name and bus address.
//!
//! The table is part of the replicated state and changes only when a
//! configuration change is applied from the log, so every node agrees on it
//! at every log index. A node's Raft id is a hash of its name: a node that
//! has just been added knows its own id before it has heard from anyone, and
//! nobody has to hand ids out.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a member does in the consensus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MemberRole {
    /// Votes, may lead (be DC), runs resources.
    Voter,
    /// Catching up before it votes; runs no resources yet.
    Learner,
    /// Votes but never leads and runs no resources: a tie-breaker (like
    /// corosync-qnetd) so two machines plus a small third host have a
    /// real majority.
    Witness,
}

impl MemberRole {
    pub fn votes(self) -> bool {
        matches!(self, MemberRole::Voter | MemberRole::Witness)
    }

    /// Whether the node may run resources (appears in the CIB's nodes).
    pub fn runs_resources(self) -> bool {
        self == MemberRole::Voter
    }
}

impl std::fmt::Display for MemberRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemberRole::Voter => "voter",
            MemberRole::Learner => "learner",
            MemberRole::Witness => "witness",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    /// Where its bus listens (`HOST:PORT`), when known.
    pub addr: Option<String>,
    pub role: MemberRole,
}

/// A configuration change as the log carries it (the Raft entry's context):
/// which member, and what it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    /// Added as a learner, or a learner promoted, or a witness added.
    Set(Member),
    Remove {
        name: String,
    },
}

/// The members by Raft id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Members {
    by_id: BTreeMap<u64, Member>,
}

impl Members {
    pub fn get(&self, id: u64) -> Option<&Member> {
        self.by_id.get(&id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Member> {
        self.by_id.get(&raft_id(name)).filter(|m| m.name == name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &Member)> {
        self.by_id.iter().map(|(id, m)| (*id, m))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Names of the members that vote (voters and witnesses), sorted.
    pub fn voter_names(&self) -> Vec<String> {
        self.names_where(|m| m.role.votes())
    }

    /// Names of the members that may run resources, sorted.
    pub fn node_names(&self) -> Vec<String> {
        self.names_where(|m| m.role.runs_resources())
    }

    fn names_where(&self, keep: impl Fn(&Member) -> bool) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_id
            .values()
            .filter(|m| keep(m))
            .map(|m| m.name.clone())
            .collect();
        names.sort();
        names
    }

    pub fn apply(&mut self, change: &MemberChange) {
        match change {
            MemberChange::Set(member) => {
                self.by_id.insert(raft_id(&member.name), member.clone());
            }
            MemberChange::Remove { name } => {
                self.by_id.remove(&raft_id(name));
            }
        }
    }
}

/// A node's Raft id: FNV-1a of its name, never 0 (raft's "nobody").
pub fn raft_id(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, role: MemberRole) -> Member {
        Member {
            name: name.into(),
            addr: None,
            role,
        }
    }

    #[test]
    fn ids_are_stable_and_never_zero() {
        assert_eq!(raft_id("node1"), raft_id("node1"));
        assert_ne!(raft_id("node1"), raft_id("node2"));
        assert_ne!(raft_id(""), 0);
    }

    #[test]
    fn roles_decide_votes_and_resources() {
        let mut members = Members::default();
        for (name, role) in [
            ("b", MemberRole::Voter),
            ("a", MemberRole::Voter),
            ("w", MemberRole::Witness),
            ("l", MemberRole::Learner),
        ] {
            members.apply(&MemberChange::Set(member(name, role)));
        }
        assert_eq!(members.voter_names(), ["a", "b", "w"]);
        assert_eq!(members.node_names(), ["a", "b"]);
        members.apply(&MemberChange::Set(member("l", MemberRole::Voter)));
        assert_eq!(members.node_names(), ["a", "b", "l"]);
        members.apply(&MemberChange::Remove { name: "a".into() });
        assert!(!members.contains("a"));
        assert_eq!(members.len(), 3);
    }
}
