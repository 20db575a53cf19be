//! One node's share of the consensus: raft-rs's `RawNode` around the
//! replicated CIB, with no I/O of its own.
//!
//! The caller (the CIB actor, or a simulation) feeds it ticks, the Raft
//! messages that arrive and the proposals clients make, and calls
//! [`Consensus::poll`] after each batch of them. `poll` returns what to do:
//! messages to send at once, [`PersistBatch`]es to make durable (in order),
//! entries that were applied (answers for clients), reads that became
//! consistent. When a batch is durable the caller says so with
//! [`Consensus::persisted`]; only then may the messages that depended on it
//! (votes, acknowledgements) go out: nothing is acknowledged that is not on
//! disk. Many proposals handled between two polls share one batch, so one
//! fsync serves them all.
//!
//! Elections: pre-vote and check-quorum are on, so a node cut off from a
//! majority cannot disrupt the others when it returns, and a leader that
//! loses its majority steps down within an election timeout. Election
//! timeouts are drawn from a seeded generator, so a simulation replays.
//!
//! ```
//! use systole::model::control::consensus::{Consensus, ConsensusConfig};
//! let config = ConsensusConfig::new("n1", 1);
//! let mut node = Consensus::bootstrap(config, &["n1".to_string()], &[]).unwrap();
//! for _ in 0..30 {
//!     node.tick();
//!     let progress = node.poll();
//!     for batch in &progress.persist {
//!         node.persisted(batch.number);
//!     }
//! }
//! assert!(node.is_leader());
//! ```

use crate::model::cib::change::{CibChange, StatusChange};
use crate::model::control::log_store::{LogStore, PersistBatch};
use crate::model::control::members::{raft_id, MemberChange, MemberRole};
use crate::model::control::replicated::{Applied, Command, ReplicatedState};
use protobuf::Message as _;
use raft::eraftpb::{
    ConfChangeSingle, ConfChangeType, ConfChangeV2, Entry, EntryType, HardState,
    Message as RaftMessage, Snapshot,
};
use raft::{ProgressState, RawNode, SnapshotStatus, StateRole};
use std::collections::{BTreeMap, VecDeque};

/// Largest number of names learned from messages of non-members (a
/// joining node learns its peers before it has the member table).
const LEARNED_NAMES_MAX: usize = 256;
/// Election timeouts a leader waits for a snapshot's receipt before it
/// sends the snapshot again.
const SNAPSHOT_WAIT_ELECTIONS: usize = 4;

#[derive(Debug, Clone)]
pub struct ConsensusConfig {
    pub node: String,
    /// Ticks without a leader before an election (randomised up to twice).
    pub election_ticks: usize,
    /// A leader's heartbeat period, in ticks.
    pub heartbeat_ticks: usize,
    /// Votes but never leads.
    pub witness: bool,
    /// Entries applied after the last snapshot before the next is taken.
    pub snapshot_interval_entries: u64,
    /// Seeds the election timeouts.
    pub seed: u64,
    /// Bytes of proposals not yet committed before new ones are refused.
    pub uncommitted_bytes_max: u64,
}

impl ConsensusConfig {
    pub fn new(node: &str, seed: u64) -> Self {
        ConsensusConfig {
            node: node.to_string(),
            election_ticks: 10,
            heartbeat_ticks: 2,
            witness: false,
            snapshot_interval_entries: 1_000,
            seed,
            uncommitted_bytes_max: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusError {
    #[error("raft: {0}")]
    Raft(String),
    #[error("the stored log is unusable: {0}")]
    Corrupt(String),
    #[error("message claims to be from raft id {claimed} but came from {from} (raft id {actual})")]
    Forged {
        from: String,
        claimed: u64,
        actual: u64,
    },
    #[error("message for raft id {0} reached {1}")]
    Misaddressed(u64, String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not the DC (the DC is {})", leader.as_deref().unwrap_or("not known yet"))]
    NotLeader { leader: Option<String> },
    #[error("{0}")]
    Refused(String),
}

/// A Raft message for another node.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub message: RaftMessage,
}

impl Outgoing {
    pub fn encode(&self) -> Vec<u8> {
        self.message
            .write_to_bytes()
            .expect("raft messages serialise")
    }
}

pub fn decode_message(bytes: &[u8]) -> Result<RaftMessage, ConsensusError> {
    RaftMessage::parse_from_bytes(bytes).map_err(|e| ConsensusError::Raft(e.to_string()))
}

/// What the caller must do after a poll.
#[derive(Debug, Default)]
pub struct Progress {
    /// Send now.
    pub send: Vec<Outgoing>,
    /// Make durable, in this order; then call `persisted(number)` (batches
    /// with number 0 are compactions and need no answer).
    pub persist: Vec<PersistBatch>,
    /// Entries applied to the replicated state, in log order.
    pub applied: Vec<Applied>,
    /// Read requests (their tokens) that may now be answered from the state.
    pub reads: Vec<u64>,
    /// The state was replaced by a leader's snapshot.
    pub snapshot_installed: bool,
}

impl Progress {
    pub fn is_empty(&self) -> bool {
        self.send.is_empty()
            && self.persist.is_empty()
            && self.applied.is_empty()
            && self.reads.is_empty()
            && !self.snapshot_installed
    }
}

/// A Ready handed out for persisting, with the messages that wait for it.
struct Unpersisted {
    number: u64,
    messages: Vec<RaftMessage>,
    needs_disk: bool,
}

/// What `status` shows of the consensus.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsensusStatus {
    pub term: u64,
    pub leader: Option<String>,
    pub role: String,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
}

pub struct Consensus {
    node: String,
    id: u64,
    witness: bool,
    raw: RawNode<LogStore>,
    state: ReplicatedState,
    applied_index: u64,
    applied_term: u64,
    rng: u64,
    election_ticks: usize,
    snapshot_interval_entries: u64,
    unpersisted: VecDeque<Unpersisted>,
    /// Read requests confirmed by the leader, waiting for our state to
    /// reach their index: (index, token).
    pending_reads: Vec<(u64, u64)>,
    learned_names: BTreeMap<u64, String>,
    /// Ticks each follower has been waiting for a snapshot we sent.
    snapshot_wait_ticks: BTreeMap<u64, usize>,
    out: Progress,
}

impl Consensus {
    /// A founding member of a new cluster: every founder starts from the
    /// same state, computed from the same names.
    pub fn bootstrap(
        config: ConsensusConfig,
        voters: &[String],
        witnesses: &[String],
    ) -> Result<Consensus, ConsensusError> {
        Consensus::restore(config, bootstrap_store(voters, witnesses))
    }

    /// A node restarting from its durable log (or a blank one joining).
    pub fn restore(config: ConsensusConfig, store: LogStore) -> Result<Consensus, ConsensusError> {
        let id = raft_id(&config.node);
        let snapshot = store.snapshot_ref().clone();
        let metadata = snapshot.get_metadata();
        let state = if store.snapshot_index() > 0 {
            ReplicatedState::decode(&snapshot.data).map_err(ConsensusError::Corrupt)?
        } else {
            ReplicatedState::bootstrap(&[], &[])
        };
        let raft_config = raft::Config {
            id,
            election_tick: config.election_ticks,
            heartbeat_tick: config.heartbeat_ticks,
            applied: metadata.index,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            max_uncommitted_size: config.uncommitted_bytes_max,
            // Voters refuse a witness's candidacy unless its log is longer.
            priority: if config.witness { 0 } else { 1 },
            ..Default::default()
        };
        raft_config
            .validate()
            .map_err(|e| ConsensusError::Raft(e.to_string()))?;
        let logger = crate::model::control::raft_logger::logger(&config.node);
        let raw = RawNode::new(&raft_config, store, &logger)
            .map_err(|e| ConsensusError::Raft(e.to_string()))?;
        let mut consensus = Consensus {
            node: config.node,
            id,
            witness: config.witness,
            raw,
            state,
            applied_index: metadata.index,
            applied_term: metadata.term,
            rng: config.seed ^ id,
            election_ticks: config.election_ticks,
            snapshot_interval_entries: config.snapshot_interval_entries.max(1),
            unpersisted: VecDeque::new(),
            pending_reads: Vec::new(),
            learned_names: BTreeMap::new(),
            snapshot_wait_ticks: BTreeMap::new(),
            out: Progress::default(),
        };
        consensus.randomize_election_timeout(true);
        Ok(consensus)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn state(&self) -> &ReplicatedState {
        &self.state
    }

    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// A leader that has applied an entry of its own term: its state holds
    /// everything committed before it was elected, so it may act as DC.
    pub fn leader_ready(&self) -> bool {
        self.is_leader() && self.applied_term == self.term()
    }

    /// This node knows the current term's leader (or is it) and has
    /// applied an entry of that term: entries of a term come only from its
    /// leader, so this node's state is the leader's.
    pub fn in_sync(&self) -> bool {
        self.raw.raft.leader_id != 0 && self.applied_term == self.term()
    }

    /// Whether the stored log holds a configuration change this node has
    /// not applied yet (its configuration may be about to change).
    pub fn member_change_pending(&self) -> bool {
        let first_unapplied = self.applied_index + 1;
        self.raw
            .store()
            .entries_after_snapshot()
            .iter()
            .rev()
            .take_while(|e| e.index >= first_unapplied)
            .any(|e| e.get_entry_type() != EntryType::EntryNormal)
    }

    pub fn leader(&self) -> Option<String> {
        match self.raw.raft.leader_id {
            0 => None,
            id => self.name_of(id),
        }
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Whether this node has a configuration (a blank node waits for one).
    pub fn is_initialized(&self) -> bool {
        self.raw.store().is_initialized()
    }

    /// Whether this node is in the Raft configuration as a voter.
    pub fn votes(&self) -> bool {
        self.raw.raft.prs().conf().voters().contains(self.id)
    }

    pub fn status(&self) -> ConsensusStatus {
        let raft = &self.raw.raft;
        ConsensusStatus {
            term: raft.term,
            leader: self.leader(),
            role: format!("{:?}", raft.state).to_lowercase(),
            commit_index: raft.raft_log.committed,
            applied_index: self.applied_index,
            last_index: raft.raft_log.last_index(),
            snapshot_index: self.raw.store().snapshot_index(),
        }
    }

    fn name_of(&self, id: u64) -> Option<String> {
        self.state
            .members
            .get(id)
            .map(|m| m.name.clone())
            .or_else(|| self.learned_names.get(&id).cloned())
    }

    /// One tick of the logical clock.
    pub fn tick(&mut self) {
        let raft = &self.raw.raft;
        // A witness never stands: its clock stops just short of an
        // election, past the leader's lease, so it still grants votes.
        let witness_would_stand = self.witness
            && raft.state != StateRole::Leader
            && raft.election_elapsed + 1 >= raft.randomized_election_timeout();
        if !witness_would_stand {
            self.raw.tick();
        }
        if self.witness && self.is_leader() {
            self.hand_over_leadership();
        }
        if self.leader_ready() {
            self.promote_caught_up_learner();
        }
        self.resend_lost_snapshots();
        self.randomize_election_timeout(false);
    }

    /// raft-rs waits for a snapshot's receipt before it sends that node
    /// anything more; a snapshot lost on the way (the node crashed or was
    /// cut off meanwhile, as a fenced two-node peer is) would stall it for
    /// good. After `SNAPSHOT_WAIT_ELECTIONS` election timeouts it is
    /// reported failed, and raft-rs sends it again.
    fn resend_lost_snapshots(&mut self) {
        if !self.is_leader() {
            self.snapshot_wait_ticks.clear();
            return;
        }
        let waiting: Vec<u64> = self
            .raw
            .raft
            .prs()
            .iter()
            .filter(|(_, p)| p.state == ProgressState::Snapshot)
            .map(|(id, _)| *id)
            .collect();
        self.snapshot_wait_ticks
            .retain(|id, _| waiting.contains(id));
        let limit = SNAPSHOT_WAIT_ELECTIONS * self.election_ticks;
        for id in waiting {
            let ticks = self.snapshot_wait_ticks.entry(id).or_insert(0);
            *ticks += 1;
            if *ticks >= limit {
                self.snapshot_wait_ticks.remove(&id);
                tracing::info!(to = id, "no receipt for a snapshot; sending it again");
                self.raw.report_snapshot(id, SnapshotStatus::Failure);
            }
        }
    }

    /// A Raft message from `from` (authenticated by the bus).
    pub fn step(&mut self, from: &str, message: RaftMessage) -> Result<(), ConsensusError> {
        let actual = raft_id(from);
        if message.from != actual {
            return Err(ConsensusError::Forged {
                from: from.to_string(),
                claimed: message.from,
                actual,
            });
        }
        if message.to != self.id {
            return Err(ConsensusError::Misaddressed(message.to, self.node.clone()));
        }
        // A snapshot we could not install is refused before raft takes it.
        if message.has_snapshot() && !message.get_snapshot().get_data().is_empty() {
            ReplicatedState::decode(message.get_snapshot().get_data())
                .map_err(ConsensusError::Corrupt)?;
        }
        if self.state.members.get(actual).is_none() && self.learned_names.len() < LEARNED_NAMES_MAX
        {
            self.learned_names.insert(actual, from.to_string());
        }
        let result = self
            .raw
            .step(message)
            .map_err(|e| ConsensusError::Raft(e.to_string()));
        self.randomize_election_timeout(false);
        result
    }

    fn require_leader(&self) -> Result<(), ProposeError> {
        if self.is_leader() && self.raw.raft.lead_transferee.is_none() {
            Ok(())
        } else {
            Err(ProposeError::NotLeader {
                leader: self.leader().filter(|l| *l != self.node),
            })
        }
    }

    fn propose_command(&mut self, command: &Command) -> Result<(u64, u64), ProposeError> {
        self.require_leader()?;
        self.raw
            .propose(Vec::new(), command.encode())
            .map_err(|e| ProposeError::Refused(format!("the log refused the change: {e}")))?;
        Ok((self.raw.raft.raft_log.last_index(), self.term()))
    }

    /// Proposes a client's change; returns the log index and term it got.
    /// It is in effect once an [`Applied::Client`] with this node as origin
    /// and this `seq` comes out of `poll`; an entry of another origin at
    /// that index means it was lost in a change of leader.
    pub fn propose_client(
        &mut self,
        seq: u64,
        change: CibChange,
        now_epoch_s: i64,
    ) -> Result<(u64, u64), ProposeError> {
        let command = Command::Client {
            origin: self.node.clone(),
            seq,
            change,
            now_epoch_s,
        };
        self.propose_command(&command)
    }

    /// Proposes status facts; only the leader, in its current term.
    pub fn propose_status(
        &mut self,
        term: u64,
        changes: Vec<StatusChange>,
    ) -> Result<(u64, u64), ProposeError> {
        if term != self.term() {
            return Err(ProposeError::Refused(format!(
                "status of term {term} refused in term {}",
                self.term()
            )));
        }
        self.propose_command(&Command::Status { term, changes })
    }

    /// Proposes a change of membership (one at a time).
    pub fn propose_member(&mut self, change: MemberChange) -> Result<(), ProposeError> {
        self.require_leader()?;
        if self.raw.raft.has_pending_conf() {
            return Err(ProposeError::Refused(
                "another membership change is still in progress; try again shortly".into(),
            ));
        }
        let (name, kind) = match &change {
            MemberChange::Set(member) => {
                let kind = match member.role {
                    MemberRole::Learner => ConfChangeType::AddLearnerNode,
                    MemberRole::Voter | MemberRole::Witness => ConfChangeType::AddNode,
                };
                (member.name.clone(), kind)
            }
            MemberChange::Remove { name } => (name.clone(), ConfChangeType::RemoveNode),
        };
        let id = raft_id(&name);
        if let Some(other) = self.state.members.get(id).filter(|m| m.name != name) {
            return Err(ProposeError::Refused(format!(
                "the name {name} collides with member {} (same raft id); choose another name",
                other.name
            )));
        }
        let mut single = ConfChangeSingle::default();
        single.set_change_type(kind);
        single.node_id = id;
        let mut cc = ConfChangeV2::default();
        cc.set_changes(vec![single].into());
        let context = rmp_serde::to_vec(&change).expect("member changes serialise");
        self.raw
            .propose_conf_change(context, cc)
            .map_err(|e| ProposeError::Refused(format!("the log refused the change: {e}")))
    }

    /// Asks for a linearizable read; `token` comes back in
    /// [`Progress::reads`] once the local state is at least as new as the
    /// leader's commit index at the time of asking.
    pub fn read_index(&mut self, token: u64) {
        self.raw.read_index(token.to_be_bytes().to_vec());
    }

    /// Stands for election now (a node that has just become the only
    /// voter wins at once).
    pub fn campaign(&mut self) {
        if let Err(error) = self.raw.campaign() {
            tracing::debug!(%error, "campaign refused");
        }
    }

    /// Asks the leadership to move to `to` (removing the leader, a witness
    /// that won by accident).
    pub fn transfer_leadership(&mut self, to: &str) {
        self.raw.transfer_leader(raft_id(to));
    }

    /// The batches up to `number` are durable.
    pub fn persisted(&mut self, number: u64) {
        let mut last = None;
        while let Some(front) = self.unpersisted.front() {
            if front.number > number && front.needs_disk {
                break;
            }
            let front = self.unpersisted.pop_front().expect("front exists");
            last = Some(front.number);
            self.queue_send(front.messages);
        }
        if let Some(last) = last {
            self.raw.on_persist_ready(last);
        }
    }

    /// Processes everything raft-rs has ready; see the module docs.
    pub fn poll(&mut self) -> Progress {
        while self.raw.has_ready() {
            self.handle_ready();
        }
        self.release_reads();
        self.maybe_compact();
        self.randomize_election_timeout(false);
        std::mem::take(&mut self.out)
    }

    fn handle_ready(&mut self) {
        let mut ready = self.raw.ready();
        let number = ready.number();
        let messages = ready.take_messages();
        self.queue_send(messages);
        let mut batch = PersistBatch {
            number,
            ..Default::default()
        };
        if !ready.snapshot().is_empty() {
            let snapshot = ready.snapshot().clone();
            self.install_snapshot(&snapshot);
            batch.snapshot = Some(snapshot);
        }
        let committed = ready.take_committed_entries();
        self.apply_committed(committed);
        batch.entries = ready.take_entries();
        batch.hard_state = ready.hs().cloned();
        for read in ready.take_read_states() {
            let token = read
                .request_ctx
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            if let Some(token) = token {
                self.pending_reads.push((read.index, token));
            }
        }
        let waiting = ready.take_persisted_messages();
        let stored = self.raw.store().hard_state().clone();
        // raft-rs reads the entries from the store before they are durable.
        self.raw.mut_store().apply_batch(&PersistBatch {
            snapshot: None,
            ..batch.clone()
        });
        self.raw.advance_append_async(ready);
        if only_commit_moved(&batch, &stored) {
            // The commit index is volatile in Raft: a restarted node learns
            // it again from the leader (and never below its snapshot, see
            // `LogStore::raise_hard_state_to_snapshot`). Not writing it saves
            // every node a write, an fsync and the wait for them per commit;
            // it goes to disk with the next entries or vote.
            batch.hard_state = None;
        }
        let needs_disk = !batch.is_empty();
        if !needs_disk && self.unpersisted.is_empty() {
            self.raw.on_persist_ready(number);
            self.queue_send(waiting);
            return;
        }
        self.unpersisted.push_back(Unpersisted {
            number,
            messages: waiting,
            needs_disk,
        });
        if needs_disk {
            self.out.persist.push(batch);
        }
    }

    fn queue_send(&mut self, messages: Vec<RaftMessage>) {
        for message in messages {
            match self.name_of(message.to) {
                Some(to) => self.out.send.push(Outgoing { to, message }),
                None => {
                    tracing::debug!(to = message.to, "raft message for an unknown node dropped")
                }
            }
        }
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) {
        match ReplicatedState::decode(&snapshot.data) {
            Ok(state) => {
                let metadata = snapshot.get_metadata();
                // raft-rs restores only a snapshot newer than our commit.
                assert!(
                    metadata.index > self.applied_index,
                    "snapshot at {} over applied {}",
                    metadata.index,
                    self.applied_index
                );
                self.state = state;
                self.applied_index = metadata.index;
                self.applied_term = metadata.term;
                self.raw.mut_store().apply_batch(&PersistBatch {
                    snapshot: Some(snapshot.clone()),
                    ..Default::default()
                });
                self.out.snapshot_installed = true;
            }
            // `step` refuses snapshots that do not decode, so this is a bug.
            Err(error) => tracing::error!(%error, "cannot install the leader's snapshot"),
        }
    }

    fn apply_committed(&mut self, entries: Vec<Entry>) {
        let mut any = false;
        for entry in entries {
            if entry.index <= self.applied_index {
                continue;
            }
            // Committed entries are applied in log order, once, and their
            // terms never go down.
            assert!(
                entry.index == self.applied_index + 1 && entry.term >= self.applied_term,
                "entry {} of term {} applied after {} of term {}",
                entry.index,
                entry.term,
                self.applied_index,
                self.applied_term
            );
            match entry.get_entry_type() {
                EntryType::EntryNormal => {
                    let applied = self.state.apply_entry(entry.index, &entry.data);
                    self.out.applied.push(applied);
                }
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_entry(&entry)
                }
            }
            self.applied_index = entry.index;
            self.applied_term = entry.term;
            any = true;
        }
        if any {
            self.raw.advance_apply_to(self.applied_index);
        }
    }

    fn apply_conf_entry(&mut self, entry: &Entry) {
        // Systole proposes only version-2 changes.
        let change = match entry.get_entry_type() {
            EntryType::EntryConfChangeV2 => ConfChangeV2::parse_from_bytes(&entry.data).ok(),
            _ => None,
        };
        let Some(change) = change else {
            tracing::error!(
                index = entry.index,
                "undecodable configuration change skipped"
            );
            return;
        };
        if let Err(error) = self.raw.apply_conf_change(&change) {
            tracing::error!(index = entry.index, %error, "configuration change not applied");
            return;
        }
        if let Ok(member) = rmp_serde::from_slice::<MemberChange>(&entry.context) {
            self.state.apply_member_change(&member);
            self.out.applied.push(Applied::Members {
                index: entry.index,
                change: member,
            });
        }
    }

    fn release_reads(&mut self) {
        let applied = self.applied_index;
        let (ready, waiting): (Vec<_>, Vec<_>) = self
            .pending_reads
            .drain(..)
            .partition(|(index, _)| *index <= applied);
        self.pending_reads = waiting;
        self.out
            .reads
            .extend(ready.into_iter().map(|(_, token)| token));
    }

    /// Snapshots the applied state every `snapshot_interval_entries`, so the
    /// log on disk stays short and a lagging node gets one message.
    fn maybe_compact(&mut self) {
        let store = self.raw.store();
        let wanted = store.take_snapshot_wanted() && self.applied_index > store.snapshot_index();
        if !wanted && self.applied_index < store.snapshot_index() + self.snapshot_interval_entries {
            return;
        }
        let mut snapshot = Snapshot::default();
        let metadata = snapshot.mut_metadata();
        metadata.index = self.applied_index;
        metadata.term = self.applied_term;
        metadata.set_conf_state(self.raw.raft.prs().conf().to_conf_state());
        snapshot.data = self.state.encode().into();
        let batch = PersistBatch {
            compaction: Some(snapshot),
            ..Default::default()
        };
        self.raw.mut_store().apply_batch(&batch);
        self.out.persist.push(batch);
    }

    /// Our own draw of the election timeout (raft-rs's is not seeded).
    fn randomize_election_timeout(&mut self, force: bool) {
        let raft = &mut self.raw.raft;
        if raft.state == StateRole::Leader || (raft.election_elapsed != 0 && !force) {
            return;
        }
        let ticks = self.election_ticks;
        let timeout = if self.witness {
            2 * ticks - 1
        } else {
            self.rng = splitmix64(self.rng);
            ticks + (self.rng % ticks as u64) as usize
        };
        raft.set_randomized_election_timeout(timeout);
    }

    fn hand_over_leadership(&mut self) {
        let raft = &self.raw.raft;
        if raft.lead_transferee.is_some() {
            return;
        }
        let best = self
            .state
            .members
            .iter()
            .filter(|(id, m)| *id != self.id && m.role == MemberRole::Voter)
            .filter_map(|(id, _)| raft.prs().get(id).map(|p| (p.matched, id)))
            .max();
        if let Some((_, id)) = best {
            self.raw.transfer_leader(id);
        }
    }

    /// A learner whose log has reached the commit index becomes a voter.
    fn promote_caught_up_learner(&mut self) {
        if self.raw.raft.has_pending_conf() {
            return;
        }
        let committed = self.raw.raft.raft_log.committed;
        let caught_up = self
            .state
            .members
            .iter()
            .filter(|(_, m)| m.role == MemberRole::Learner)
            .find(|(id, _)| {
                self.raw
                    .raft
                    .prs()
                    .get(*id)
                    .is_some_and(|p| p.matched >= committed)
            })
            .map(|(_, m)| m.clone());
        if let Some(mut member) = caught_up {
            member.role = MemberRole::Voter;
            tracing::info!(node = %member.name, "learner caught up; promoting it to voter");
            if let Err(error) = self.propose_member(MemberChange::Set(member)) {
                tracing::debug!(%error, "promotion deferred");
            }
        }
    }
}

/// Whether `batch` changes nothing durable but the commit index of the
/// hard state `stored` (no entries, no snapshot, same term and vote).
fn only_commit_moved(batch: &PersistBatch, stored: &HardState) -> bool {
    batch.entries.is_empty()
        && batch.snapshot.is_none()
        && batch.compaction.is_none()
        && batch
            .hard_state
            .as_ref()
            .is_some_and(|hs| hs.term == stored.term && hs.vote == stored.vote)
}

fn bootstrap_store(voters: &[String], witnesses: &[String]) -> LogStore {
    founding_log_with(crate::model::cib::store::empty_cib(), voters, witnesses)
}

/// A founding log whose first CIB is `cib` (simulations, tests).
pub fn founding_log_with(
    cib: crate::model::cib::xml::Element,
    voters: &[String],
    witnesses: &[String],
) -> LogStore {
    let state = ReplicatedState::bootstrap_with(cib, voters, witnesses);
    let mut ids: Vec<u64> = voters.iter().chain(witnesses).map(|n| raft_id(n)).collect();
    ids.sort_unstable();
    ids.dedup();
    LogStore::bootstrap(ids, state.encode())
}

/// The founding log of a cluster (for the shell to write before the first
/// start): the same for every founder given the same names.
pub fn founding_log(voters: &[String], witnesses: &[String]) -> LogStore {
    bootstrap_store(voters, witnesses)
}

fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A few nodes with perfect links and disks that persist at once.
    struct Net {
        nodes: BTreeMap<String, Consensus>,
        disks: BTreeMap<String, LogStore>,
        applied: BTreeMap<String, Vec<Applied>>,
    }

    impl Net {
        fn new(names: &[&str]) -> Net {
            let voters: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut net = Net {
                nodes: BTreeMap::new(),
                disks: BTreeMap::new(),
                applied: BTreeMap::new(),
            };
            for (seed, name) in names.iter().enumerate() {
                let config = ConsensusConfig::new(name, seed as u64);
                net.disks
                    .insert(name.to_string(), founding_log(&voters, &[]));
                let node = Consensus::restore(config, net.disks[*name].clone()).unwrap();
                net.nodes.insert(name.to_string(), node);
            }
            net
        }

        fn restart(&mut self, name: &str) {
            let config = ConsensusConfig::new(name, 99);
            let node = Consensus::restore(config, self.disks[name].clone()).unwrap();
            self.nodes.insert(name.to_string(), node);
        }

        /// Polls every node and delivers until quiet.
        fn settle(&mut self) {
            for _ in 0..1000 {
                let mut mail = Vec::new();
                for (name, node) in self.nodes.iter_mut() {
                    let progress = node.poll();
                    for batch in &progress.persist {
                        self.disks.get_mut(name).unwrap().apply_batch(batch);
                        if batch.number > 0 {
                            node.persisted(batch.number);
                        }
                    }
                    let more = node.poll();
                    self.applied
                        .entry(name.clone())
                        .or_default()
                        .extend(progress.applied.into_iter().chain(more.applied));
                    for out in progress.send.into_iter().chain(more.send) {
                        mail.push((name.clone(), out));
                    }
                }
                if mail.is_empty() {
                    return;
                }
                for (from, out) in mail {
                    let bytes = out.encode();
                    if let Some(node) = self.nodes.get_mut(&out.to) {
                        node.step(&from, decode_message(&bytes).unwrap()).unwrap();
                    }
                }
            }
            panic!("did not settle");
        }

        fn run_ticks(&mut self, ticks: usize) {
            for _ in 0..ticks {
                for node in self.nodes.values_mut() {
                    node.tick();
                }
                self.settle();
            }
        }

        fn leaders(&self) -> Vec<String> {
            self.nodes
                .iter()
                .filter(|(_, n)| n.is_leader())
                .map(|(name, _)| name.clone())
                .collect()
        }
    }

    fn property(name: &str) -> CibChange {
        CibChange::SetProperty {
            name: name.into(),
            value: Some("1".into()),
        }
    }

    #[test]
    fn three_nodes_elect_one_leader_and_commit_everywhere() {
        let mut net = Net::new(&["n1", "n2", "n3"]);
        net.run_ticks(40);
        let leaders = net.leaders();
        assert_eq!(leaders.len(), 1, "{leaders:?}");
        let leader = leaders[0].clone();
        assert!(net.nodes[&leader].leader_ready());
        let follower = net.nodes.keys().find(|n| **n != leader).unwrap().clone();
        let refused = net
            .nodes
            .get_mut(&follower)
            .unwrap()
            .propose_client(1, property("a"), 0);
        assert_eq!(
            refused,
            Err(ProposeError::NotLeader {
                leader: Some(leader.clone())
            })
        );
        let (index, _) = net
            .nodes
            .get_mut(&leader)
            .unwrap()
            .propose_client(1, property("a"), 0)
            .unwrap();
        net.settle();
        for (name, node) in &net.nodes {
            assert!(node.applied_index() >= index, "{name}");
            assert_eq!(node.state(), net.nodes[&leader].state(), "{name}");
        }
        assert!(net.applied[&leader].iter().any(|a| matches!(
            a,
            Applied::Client { origin, seq: 1, result: Ok(_), .. } if *origin == leader
        )));
    }

    #[test]
    fn a_node_is_in_sync_once_it_applied_an_entry_of_its_leaders_term() {
        let mut net = Net::new(&["n1", "n2"]);
        net.run_ticks(40);
        let leader = net.leaders()[0].clone();
        let follower = if leader == "n1" { "n2" } else { "n1" };
        assert!(net.nodes.values().all(Consensus::in_sync));
        // A restarted node knows no leader until it hears from one.
        net.restart(follower);
        assert!(!net.nodes[follower].in_sync());
        net.run_ticks(5);
        assert!(net.nodes[follower].in_sync());
        // A node that learns a newer term but holds no entry of it (its
        // log is stale) is not in sync.
        let node = net.nodes.get_mut(follower).unwrap();
        let term = node.term() + 5;
        let heartbeat = RaftMessage {
            msg_type: raft::eraftpb::MessageType::MsgHeartbeat,
            to: raft_id(follower),
            from: raft_id(&leader),
            term,
            ..Default::default()
        };
        node.step(&leader, heartbeat).unwrap();
        assert_eq!(node.term(), term);
        assert_eq!(node.leader().as_deref(), Some(leader.as_str()));
        assert!(!node.in_sync());
    }

    #[test]
    fn a_restart_from_disk_keeps_what_was_committed() {
        let mut net = Net::new(&["n1", "n2", "n3"]);
        net.run_ticks(40);
        let leader = net.leaders()[0].clone();
        for seq in 0..5 {
            net.nodes
                .get_mut(&leader)
                .unwrap()
                .propose_client(seq, property(&format!("p{seq}")), 0)
                .unwrap();
        }
        net.settle();
        let expected = net.nodes[&leader].state().clone();
        for name in ["n1", "n2", "n3"] {
            net.restart(name);
        }
        net.run_ticks(40);
        assert_eq!(net.leaders().len(), 1);
        for node in net.nodes.values() {
            assert_eq!(
                node.state().cib.child("configuration"),
                expected.cib.child("configuration")
            );
        }
    }

    #[test]
    fn learners_catch_up_through_a_snapshot_and_become_voters() {
        let mut net = Net::new(&["n1", "n2", "n3"]);
        for node in net.nodes.values_mut() {
            node.snapshot_interval_entries = 3;
        }
        net.run_ticks(40);
        let leader = net.leaders()[0].clone();
        for seq in 0..10 {
            net.nodes
                .get_mut(&leader)
                .unwrap()
                .propose_client(seq, property(&format!("p{seq}")), 0)
                .unwrap();
            net.settle();
        }
        let blank = Consensus::restore(ConsensusConfig::new("n4", 4), LogStore::default()).unwrap();
        assert!(!blank.is_initialized());
        net.nodes.insert("n4".into(), blank);
        net.disks.insert("n4".into(), LogStore::default());
        net.nodes
            .get_mut(&leader)
            .unwrap()
            .propose_member(MemberChange::Set(crate::model::control::members::Member {
                name: "n4".into(),
                addr: None,
                role: MemberRole::Learner,
            }))
            .unwrap();
        net.run_ticks(20);
        let n4 = &net.nodes["n4"];
        assert!(n4.is_initialized());
        assert!(n4.votes(), "the learner was promoted");
        assert_eq!(n4.state(), net.nodes[&leader].state());
        assert_eq!(
            net.nodes[&leader].state().members.voter_names(),
            ["n1", "n2", "n3", "n4"]
        );
        // The new node's disk alone brings its log back; the commit index
        // (not written on its own) comes with the leader's next heartbeat.
        net.restart("n4");
        assert_eq!(
            net.nodes["n4"].status().last_index,
            net.nodes[&leader].status().last_index
        );
        net.run_ticks(5);
        assert_eq!(net.nodes["n4"].state(), net.nodes[&leader].state());
    }

    #[test]
    fn forged_and_misaddressed_messages_are_refused() {
        let mut node = Consensus::bootstrap(
            ConsensusConfig::new("n1", 1),
            &["n1".into(), "n2".into()],
            &[],
        )
        .unwrap();
        let mut message = RaftMessage {
            from: raft_id("n3"),
            to: raft_id("n1"),
            ..Default::default()
        };
        assert!(matches!(
            node.step("n2", message.clone()),
            Err(ConsensusError::Forged { .. })
        ));
        message.from = raft_id("n2");
        message.to = raft_id("n9");
        assert!(matches!(
            node.step("n2", message),
            Err(ConsensusError::Misaddressed(..))
        ));
        assert!(decode_message(b"\xff\xff\xff").is_err());
    }
}
