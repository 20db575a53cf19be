//! Two-node clusters: Pacemaker's `two_node` with `wait_for_all`, on Raft.
//!
//! A Raft majority of two voters is two, so without help the survivor of a
//! two-node cluster could never lead again. Pacemaker lets the survivor keep
//! quorum and fence its peer; here the survivor earns its quorum by fencing:
//!
//! 1. The [`Arbiter`] watches. With `two_node` set, the configuration exactly
//!    {me, peer} (no witness: a witness gives a real majority), the peer seen
//!    since this daemon started while this node was in step with the
//!    current leader (`wait_for_all`; see [`Observation::in_sync`]), the
//!    peer's heartbeat lost
//!    and no working leader for longer than the election timeout, it asks
//!    for the peer to be fenced. The node that led last asks at once; the
//!    other waits [`ArbiterConfig::race_delay_ms`] longer, so after a broken
//!    link the two do not shoot each other at the same instant (Pacemaker's
//!    `priority-fencing-delay` idea). A failed fencing is retried with
//!    backoff; a node whose fencing failed changes nothing.
//! 2. Only after the fencing succeeded, [`force_solo`] rewrites the node's
//!    own log into a one-voter configuration: every entry of the local log
//!    is applied (an entry the old leader acknowledged is on both nodes,
//!    though this follower may not know it was committed), the fencing is
//!    recorded in the CIB (so the new DC does not fence the peer again), the
//!    peer becomes a learner (it stays a CIB node: constraints naming it stay
//!    valid), and a snapshot one index past the log's end with a new term
//!    replaces the log. The peer can never hold an entry with that term, so
//!    when it returns it must take the snapshot: its stale log is replaced,
//!    and the leader promotes the caught-up learner to voter again.
//!
//! With fencing disabled the survivor does not go on alone: without fencing
//! a broken link would let both nodes run the resources (split brain).

use crate::model::cib::change::StatusChange;
use crate::model::cib::store::{self, FenceRecord};
use crate::model::control::log_store::LogStore;
use crate::model::control::members::{raft_id, Member, MemberChange, MemberRole, Members};
use crate::model::control::replicated::ReplicatedState;
use protobuf::Message as _;
use raft::eraftpb::{ConfChangeV2, ConfState, EntryType, HardState, Snapshot, SnapshotMetadata};

/// The first wait after a failed fencing; doubled each time up to the max.
pub const FENCE_RETRY_MS: u64 = 1_000;
pub const FENCE_RETRY_MAX_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArbiterConfig {
    pub node: String,
    pub two_node: bool,
    /// How long without a leader before the survivor acts.
    pub election_timeout_ms: u64,
    /// The extra wait of the node that did not lead last.
    pub race_delay_ms: u64,
}

/// What the arbiter sees at one tick.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub now_ms: u64,
    pub members: &'a Members,
    /// The bus's view (heartbeats) has the peer.
    pub peer_in_view: bool,
    /// This node leads, or the leader it knows is in its view.
    pub leader: Option<&'a str>,
    pub leader_in_view: bool,
    pub fencing_enabled: bool,
    /// This node knows the current term's leader and has applied an entry
    /// of that term, so its log is the leader's. A node that restarts
    /// after its peer went on alone holds a stale log, in which it is still
    /// a voter; until it has caught up it must never go on alone, or the
    /// changes its peer acknowledged alone would be lost (and two logs
    /// would carry the same term).
    pub in_sync: bool,
    /// The stored log holds a configuration change not yet applied (a
    /// witness or third voter being added gives the peer a majority
    /// without us): the configuration acted on may be stale.
    pub member_change_pending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Wait,
    /// Fence the peer now (one request at a time).
    Fence {
        peer: String,
    },
    /// The peer is lost but fencing is disabled: the survivor stays
    /// without quorum (said once per outage).
    NoFencing {
        peer: String,
    },
}

/// What to do with a fencing result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFencing {
    /// The peer is off: go on alone.
    GoSolo { peer: String },
    /// Try again no earlier than `retry_at_ms`.
    Retry { retry_at_ms: u64 },
}

/// The survivor's side of a two-node cluster; see the module docs.
#[derive(Debug, Clone)]
pub struct Arbiter {
    config: ArbiterConfig,
    /// The peer seen in the view since start while this node was in sync
    /// (`wait_for_all`).
    peer_seen: Option<String>,
    leaderless_since_ms: Option<u64>,
    last_leader: Option<String>,
    fencing: bool,
    failures: u32,
    retry_at_ms: u64,
    warned: bool,
}

impl Arbiter {
    pub fn new(config: ArbiterConfig) -> Arbiter {
        Arbiter {
            config,
            peer_seen: None,
            leaderless_since_ms: None,
            last_leader: None,
            fencing: false,
            failures: 0,
            retry_at_ms: 0,
            warned: false,
        }
    }

    /// Whether this node arbitrates at all (a two-node cluster without a
    /// witness); otherwise [`Arbiter::observe`] always answers `Wait`.
    pub fn is_two_node(&self) -> bool {
        self.config.two_node
    }

    /// The peer of a configuration of exactly two voters, this node and
    /// one other (no witness, no other voter).
    pub fn peer_of(&self, members: &Members) -> Option<String> {
        let voters: Vec<&Member> = members
            .iter()
            .map(|(_, m)| m)
            .filter(|m| m.role.votes())
            .collect();
        let me = voters
            .iter()
            .any(|m| m.name == self.config.node && m.role == MemberRole::Voter);
        match voters.as_slice() {
            [a, b] if me => [a, b]
                .into_iter()
                .find(|m| m.name != self.config.node && m.role == MemberRole::Voter)
                .map(|m| m.name.clone()),
            _ => None,
        }
    }

    pub fn observe(&mut self, seen: &Observation<'_>) -> Decision {
        let peer = match self.peer_of(seen.members) {
            Some(peer) if self.config.two_node => peer,
            _ => {
                self.leaderless_since_ms = None;
                return Decision::Wait;
            }
        };
        if seen.peer_in_view || seen.leader_in_view {
            if seen.peer_in_view {
                if seen.in_sync {
                    self.peer_seen = Some(peer.clone());
                }
                self.failures = 0;
                self.retry_at_ms = 0;
            }
            if seen.leader_in_view {
                self.last_leader = seen.leader.map(str::to_string);
            }
            self.leaderless_since_ms = None;
            self.warned = false;
            return Decision::Wait;
        }
        if self.peer_seen.as_deref() != Some(peer.as_str()) {
            return Decision::Wait;
        }
        let since_ms = *self.leaderless_since_ms.get_or_insert(seen.now_ms);
        let led_last = self.last_leader.as_deref() == Some(self.config.node.as_str());
        let wait_ms = self.config.election_timeout_ms
            + if led_last {
                0
            } else {
                self.config.race_delay_ms
            };
        if seen.now_ms.saturating_sub(since_ms) < wait_ms
            || self.fencing
            || seen.now_ms < self.retry_at_ms
            || seen.member_change_pending
        {
            return Decision::Wait;
        }
        if !seen.fencing_enabled {
            if self.warned {
                return Decision::Wait;
            }
            self.warned = true;
            return Decision::NoFencing { peer };
        }
        self.fencing = true;
        Decision::Fence { peer }
    }

    pub fn fenced(&mut self, peer: &str, ok: bool, now_ms: u64) -> AfterFencing {
        self.fencing = false;
        if ok {
            self.failures = 0;
            self.peer_seen = None;
            self.leaderless_since_ms = None;
            return AfterFencing::GoSolo {
                peer: peer.to_string(),
            };
        }
        let wait_ms = FENCE_RETRY_MS
            .saturating_mul(1 << self.failures.min(16))
            .min(FENCE_RETRY_MAX_MS);
        self.failures += 1;
        self.retry_at_ms = now_ms + wait_ms;
        AfterFencing::Retry {
            retry_at_ms: self.retry_at_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoloError {
    #[error("this node has no cluster log")]
    Uninitialized,
    #[error("the stored log is unusable: {0}")]
    Corrupt(String),
    #[error("the configuration is not two voters {me} and {peer} (voters: {voters:?})")]
    NotTwoVoters {
        me: String,
        peer: String,
        voters: Vec<String>,
    },
}

/// The log of a node going on alone after fencing `peer`: see the module
/// docs. Pure: the caller makes it durable before using it.
pub fn force_solo(
    store: &LogStore,
    me: &str,
    peer: &str,
    fencing: FenceRecord,
) -> Result<LogStore, SoloError> {
    if !store.is_initialized() {
        return Err(SoloError::Uninitialized);
    }
    let mut state = state_at_end(store)?;
    let voters = state.members.voter_names();
    if voters != sorted_pair(me, peer) {
        return Err(SoloError::NotTwoVoters {
            me: me.into(),
            peer: peer.into(),
            voters,
        });
    }
    let cib = std::sync::Arc::make_mut(&mut state.cib);
    store::apply_status(cib, &StatusChange::FenceEvent { record: fencing });
    store::apply_status(
        cib,
        &StatusChange::NodeFenced {
            node: peer.to_string(),
        },
    );
    // The peer stops voting but stays a CIB node: the member table is set
    // directly, not through `apply_member_change`, which would drop it.
    let addr = state.members.by_name(peer).and_then(|m| m.addr.clone());
    state.members.apply(&MemberChange::Set(Member {
        name: peer.to_string(),
        addr,
        role: MemberRole::Learner,
    }));
    let last_term = store.term_at(store.last()).unwrap_or(0);
    let term = store.hard_state().term.max(last_term) + 1;
    let index = store.last() + 1;
    let mut learners: Vec<u64> = state
        .members
        .iter()
        .filter(|(_, m)| m.role == MemberRole::Learner)
        .map(|(id, _)| id)
        .collect();
    learners.sort_unstable();
    let conf_state = ConfState {
        voters: vec![raft_id(me)],
        learners,
        ..Default::default()
    };
    let snapshot = Snapshot {
        data: state.encode().into(),
        metadata: Some(SnapshotMetadata {
            conf_state: Some(conf_state).into(),
            index,
            term,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    let hard_state = HardState {
        term,
        vote: raft_id(me),
        commit: index,
        ..Default::default()
    };
    Ok(LogStore::from_snapshot(snapshot, hard_state))
}

/// Whether `cib` enables fencing (`stonith-enabled`, default true); an
/// unreadable CIB counts as enabled, the cautious answer.
pub fn fencing_enabled(cib: &crate::model::cib::xml::Element, now_epoch_s: i64) -> bool {
    crate::model::cib::Cib::from_xml(cib, now_epoch_s)
        .map(|c| c.bool_property("fencing-enabled", true))
        .unwrap_or(true)
}

fn sorted_pair(a: &str, b: &str) -> Vec<String> {
    let mut pair = vec![a.to_string(), b.to_string()];
    pair.sort();
    pair
}

/// The replicated state after applying every entry of the log, committed
/// or not.
fn state_at_end(store: &LogStore) -> Result<ReplicatedState, SoloError> {
    let snapshot = store.snapshot_ref();
    let mut state = ReplicatedState::decode(&snapshot.data).map_err(SoloError::Corrupt)?;
    for entry in store.entries_after_snapshot() {
        match entry.get_entry_type() {
            EntryType::EntryNormal => {
                state.apply_entry(entry.index, &entry.data);
            }
            EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                // Undecodable changes are skipped, as when applied normally.
                let valid = ConfChangeV2::parse_from_bytes(&entry.data).is_ok();
                let member = rmp_serde::from_slice::<MemberChange>(&entry.context);
                if let (true, Ok(member)) = (valid, member) {
                    state.apply_member_change(&member);
                }
            }
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cib::change::CibChange;
    use crate::model::control::consensus::{founding_log, Consensus, ConsensusConfig};
    use crate::model::control::log_store::PersistBatch;
    use crate::model::control::replicated::Command;
    use raft::eraftpb::Entry;

    fn config() -> ArbiterConfig {
        ArbiterConfig {
            node: "n1".into(),
            two_node: true,
            election_timeout_ms: 500,
            race_delay_ms: 1_000,
        }
    }

    fn pair() -> Members {
        ReplicatedState::bootstrap(&["n1".into(), "n2".into()], &[]).members
    }

    /// (now, peer in view, leader, leader in view, fencing) -> decision.
    type Step = (u64, bool, Option<&'static str>, bool, bool, Decision);

    fn run(arbiter: &mut Arbiter, members: &Members, steps: &[Step]) {
        run_in_sync(arbiter, members, true, steps);
    }

    fn run_in_sync(arbiter: &mut Arbiter, members: &Members, in_sync: bool, steps: &[Step]) {
        for (i, (now_ms, peer_in_view, leader, leader_in_view, fencing, want)) in
            steps.iter().enumerate()
        {
            let seen = Observation {
                now_ms: *now_ms,
                members,
                peer_in_view: *peer_in_view,
                leader: *leader,
                leader_in_view: *leader_in_view,
                fencing_enabled: *fencing,
                in_sync,
                member_change_pending: false,
            };
            assert_eq!(&arbiter.observe(&seen), want, "step {i} at {now_ms} ms");
        }
    }

    fn fence() -> Decision {
        Decision::Fence { peer: "n2".into() }
    }

    #[test]
    fn the_last_leader_fences_its_lost_peer_after_the_election_timeout() {
        let mut arbiter = Arbiter::new(config());
        run(
            &mut arbiter,
            &pair(),
            &[
                (0, true, Some("n1"), true, true, Decision::Wait),
                // Lost: n1 still leads until check-quorum steps it down.
                (100, false, Some("n1"), true, true, Decision::Wait),
                (600, false, None, false, true, Decision::Wait),
                (1_000, false, None, false, true, Decision::Wait),
                (1_100, false, None, false, true, fence()),
                // One request at a time.
                (1_200, false, None, false, true, Decision::Wait),
            ],
        );
        assert_eq!(
            arbiter.fenced("n2", true, 1_500),
            AfterFencing::GoSolo { peer: "n2".into() }
        );
    }

    #[test]
    fn an_unapplied_member_change_holds_the_fencing_back() {
        let mut arbiter = Arbiter::new(config());
        let members = pair();
        let mut seen = Observation {
            now_ms: 0,
            members: &members,
            peer_in_view: true,
            leader: Some("n1"),
            leader_in_view: true,
            fencing_enabled: true,
            in_sync: true,
            member_change_pending: false,
        };
        assert_eq!(arbiter.observe(&seen), Decision::Wait);
        (seen.peer_in_view, seen.leader, seen.leader_in_view) = (false, None, false);
        seen.member_change_pending = true;
        for now_ms in [100, 700, 5_000] {
            seen.now_ms = now_ms;
            assert_eq!(arbiter.observe(&seen), Decision::Wait, "at {now_ms} ms");
        }
        seen.member_change_pending = false;
        assert_eq!(arbiter.observe(&seen), fence());
    }

    #[test]
    fn the_follower_waits_the_race_delay_and_failures_back_off() {
        let mut arbiter = Arbiter::new(config());
        let steps = [
            (0, true, Some("n2"), true, true, Decision::Wait),
            // The leader n2 is gone; its id lingers until an election.
            (100, false, Some("n2"), false, true, Decision::Wait),
            (600, false, None, false, true, Decision::Wait),
            (1_500, false, None, false, true, Decision::Wait),
            (1_600, false, None, false, true, fence()),
        ];
        run(&mut arbiter, &pair(), &steps);
        assert_eq!(
            arbiter.fenced("n2", false, 2_000),
            AfterFencing::Retry { retry_at_ms: 3_000 }
        );
        run(
            &mut arbiter,
            &pair(),
            &[
                (2_900, false, None, false, true, Decision::Wait),
                (3_000, false, None, false, true, fence()),
            ],
        );
        assert_eq!(
            arbiter.fenced("n2", false, 3_000),
            AfterFencing::Retry { retry_at_ms: 5_000 }
        );
        // The peer is back: the failures are forgotten, nothing happens.
        run(
            &mut arbiter,
            &pair(),
            &[(3_100, true, Some("n1"), true, true, Decision::Wait)],
        );
    }

    #[test]
    fn nothing_happens_without_two_node_a_seen_peer_fencing_or_two_voters() {
        // wait_for_all: the peer was never seen since start.
        let mut arbiter = Arbiter::new(config());
        run(
            &mut arbiter,
            &pair(),
            &[
                (0, false, None, false, true, Decision::Wait),
                (10_000, false, None, false, true, Decision::Wait),
            ],
        );
        // The peer seen, but this node restarted with a stale log and has
        // not caught up with the leader (the peer may have gone on alone).
        let mut arbiter = Arbiter::new(config());
        run_in_sync(
            &mut arbiter,
            &pair(),
            false,
            &[
                (0, true, Some("n2"), true, true, Decision::Wait),
                (100, false, Some("n2"), false, true, Decision::Wait),
                (10_000, false, None, false, true, Decision::Wait),
            ],
        );
        // two_node off.
        let mut arbiter = Arbiter::new(ArbiterConfig {
            two_node: false,
            ..config()
        });
        run(
            &mut arbiter,
            &pair(),
            &[
                (0, true, None, false, true, Decision::Wait),
                (10_000, false, None, false, true, Decision::Wait),
            ],
        );
        // Fencing disabled: said once, then nothing.
        let mut arbiter = Arbiter::new(config());
        run(
            &mut arbiter,
            &pair(),
            &[
                (0, true, Some("n1"), true, false, Decision::Wait),
                (100, false, None, false, false, Decision::Wait),
                (
                    700,
                    false,
                    None,
                    false,
                    false,
                    Decision::NoFencing { peer: "n2".into() },
                ),
                (5_000, false, None, false, false, Decision::Wait),
            ],
        );
        // A witness (or a third voter) gives a real majority: no arbiter.
        let with_witness =
            ReplicatedState::bootstrap(&["n1".into(), "n2".into()], &["w".into()]).members;
        let three =
            ReplicatedState::bootstrap(&["n1".into(), "n2".into(), "n3".into()], &[]).members;
        let solo = ReplicatedState::bootstrap(&["n1".into()], &[]).members;
        for members in [with_witness, three, solo] {
            let mut arbiter = Arbiter::new(config());
            assert_eq!(arbiter.peer_of(&members), None);
            run(
                &mut arbiter,
                &members,
                &[
                    (0, true, Some("n1"), true, true, Decision::Wait),
                    (10_000, false, None, false, true, Decision::Wait),
                ],
            );
        }
    }

    fn client_entry(index: u64, term: u64, name: &str) -> Entry {
        let command = Command::Client {
            origin: "n2".into(),
            seq: index,
            change: CibChange::SetProperty {
                name: name.into(),
                value: Some("1".into()),
            },
            now_epoch_s: 0,
        };
        Entry {
            index,
            term,
            data: command.encode().into(),
            ..Default::default()
        }
    }

    fn fencing_record() -> FenceRecord {
        FenceRecord {
            target: "n2".into(),
            action: "reboot".into(),
            ok: true,
            detail: "fence-local: ok".into(),
            at_epoch_s: 1_700_000_000,
        }
    }

    fn has_property(state: &ReplicatedState, name: &str) -> bool {
        state
            .cib
            .to_xml_compact()
            .contains(&format!("name=\"{name}\""))
    }

    #[test]
    fn going_solo_keeps_every_entry_bumps_the_term_and_leaves_one_voter() {
        let mut store = founding_log(&["n1".into(), "n2".into()], &[]);
        // Entries 2..=4 of term 3; only 2 is known committed here.
        store.apply_batch(&PersistBatch {
            entries: (2..=4)
                .map(|i| client_entry(i, 3, &format!("p{i}")))
                .collect(),
            hard_state: Some(HardState {
                term: 3,
                vote: raft_id("n2"),
                commit: 2,
                ..Default::default()
            }),
            ..Default::default()
        });
        let solo = force_solo(&store, "n1", "n2", fencing_record()).unwrap();
        assert_eq!(solo.snapshot_index(), 5, "one past the log's end");
        let metadata = solo.snapshot_ref().get_metadata();
        assert_eq!(metadata.term, 4);
        assert_eq!(metadata.get_conf_state().voters, vec![raft_id("n1")]);
        assert_eq!(metadata.get_conf_state().learners, vec![raft_id("n2")]);
        let hard = solo.hard_state();
        assert_eq!((hard.term, hard.vote, hard.commit), (4, raft_id("n1"), 5));
        let state = ReplicatedState::decode(&solo.snapshot_ref().data).unwrap();
        for name in ["p2", "p3", "p4"] {
            assert!(has_property(&state, name), "{name} (uncommitted too)");
        }
        assert_eq!(state.members.voter_names(), ["n1"]);
        assert_eq!(
            state.members.by_name("n2").map(|m| m.role),
            Some(MemberRole::Learner)
        );
        // The peer stays a node, recorded fenced (down, not lost).
        let nodes = state
            .cib
            .child("configuration")
            .unwrap()
            .child("nodes")
            .unwrap();
        assert!(nodes.children.iter().any(|n| n.attr("uname") == Some("n2")));
        let history = store::fence_history(&state.cib);
        assert_eq!(history, vec![fencing_record()]);
        assert!(!crate::model::control::controller::nodes_recorded_up(&state.cib).contains("n2"));
        // The rebuilt node elects itself at once.
        let mut node = Consensus::restore(ConsensusConfig::new("n1", 1), solo).unwrap();
        node.campaign();
        let progress = node.poll();
        for batch in &progress.persist {
            node.persisted(batch.number);
        }
        node.poll();
        assert!(node.is_leader());
        assert!(node.term() > 4);
        assert_eq!(node.state().members.voter_names(), ["n1"]);
    }

    #[test]
    fn going_solo_is_refused_unless_the_voters_are_me_and_the_peer() {
        let three = founding_log(&["n1".into(), "n2".into(), "n3".into()], &[]);
        assert!(matches!(
            force_solo(&three, "n1", "n2", fencing_record()),
            Err(SoloError::NotTwoVoters { .. })
        ));
        assert_eq!(
            force_solo(&LogStore::default(), "n1", "n2", fencing_record()).unwrap_err(),
            SoloError::Uninitialized
        );
    }
}
