//! The Raft log as raft-rs reads it, and the batches of it that must reach
//! the disk.
//!
//! [`LogStore`] is both the in-memory mirror raft-rs reads through its
//! `Storage` trait and, replayed from the disk's records, what a node
//! restarts from: the last snapshot (a CIB and the member table at some
//! index), the entries after it, and the hard state (term, vote, commit).
//! [`PersistBatch`] is one Ready's worth of changes to it; the actor shell
//! writes batches to disk in order and says when they are durable, and a
//! simulation keeps them in memory. Applying the same batches in the same
//! order to an empty store gives the same store: that is the whole
//! durability contract.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

/// Changes to the durable log from one Ready (or a compaction), in order:
/// a snapshot replaces everything before its index; entries replace any
/// entries from their first index on; then the hard state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistBatch {
    /// The Ready this batch belongs to; persisted in increasing order.
    pub number: u64,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
    /// A snapshot this node made of its own applied state: entries up to
    /// its index may be dropped.
    pub compaction: Option<Snapshot>,
}

impl PersistBatch {
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.entries.is_empty()
            && self.hard_state.is_none()
            && self.compaction.is_none()
    }
}

/// The log: a snapshot, the entries after it, the hard state.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    /// raft-rs asked for a snapshot ours could not serve (too old, or
    /// taken before the node it is for was added): the consensus takes a
    /// fresh one and raft-rs asks again.
    snapshot_wanted: std::cell::Cell<bool>,
    hard_state: HardState,
    /// The configuration as of the snapshot; raft-rs replays later changes
    /// from the log.
    conf_state: ConfState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

impl LogStore {
    /// A new cluster's first state, the same on every founding node: a
    /// snapshot at index 1, term 1, of `data` with `voters`.
    pub fn bootstrap(voters: Vec<u64>, data: Vec<u8>) -> LogStore {
        let conf_state = ConfState {
            voters,
            ..Default::default()
        };
        let metadata = SnapshotMetadata {
            index: 1,
            term: 1,
            conf_state: Some(conf_state.clone()).into(),
            ..Default::default()
        };
        let snapshot = Snapshot {
            metadata: Some(metadata).into(),
            data: data.into(),
            ..Default::default()
        };
        let hard_state = HardState {
            term: 1,
            commit: 1,
            ..Default::default()
        };
        LogStore {
            snapshot_wanted: Default::default(),
            hard_state,
            conf_state,
            snapshot,
            entries: Vec::new(),
        }
    }

    /// A log that is only `snapshot`, with `hard_state` (a node going on
    /// alone: [`crate::model::control::two_node::force_solo`]).
    pub fn from_snapshot(snapshot: Snapshot, hard_state: HardState) -> LogStore {
        let conf_state = snapshot.get_metadata().get_conf_state().clone();
        LogStore {
            snapshot_wanted: Default::default(),
            hard_state,
            conf_state,
            snapshot,
            entries: Vec::new(),
        }
    }

    /// After a replay from disk: a snapshot file written just before a
    /// crash may be newer than the hard state in the WAL beside it. A
    /// snapshot holds only committed entries of its term or older, so the
    /// hard state is raised to it (a new term has no vote yet).
    pub fn raise_hard_state_to_snapshot(&mut self) {
        let metadata = self.snapshot.get_metadata();
        if metadata.term > self.hard_state.term {
            self.hard_state.term = metadata.term;
            self.hard_state.vote = 0;
        }
        self.hard_state.commit = self.hard_state.commit.max(metadata.index);
    }

    /// Whether the store has ever held a configuration (a blank node has
    /// not: it waits for a leader to send it a snapshot).
    pub fn is_initialized(&self) -> bool {
        self.conf_state != ConfState::default() || self.snapshot_index() > 0
    }

    pub fn snapshot_ref(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn snapshot_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub fn entries_after_snapshot(&self) -> &[Entry] {
        &self.entries
    }

    pub fn first(&self) -> u64 {
        self.snapshot_index() + 1
    }

    pub fn last(&self) -> u64 {
        self.snapshot_index() + self.entries.len() as u64
    }

    /// The term of the entry at `index`, if the store still has it.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index() {
            return Some(self.snapshot.get_metadata().term);
        }
        if index < self.first() || index > self.last() {
            return None;
        }
        Some(self.entries[(index - self.first()) as usize].term)
    }

    /// Whether raft-rs wanted a newer snapshot than ours (and forget it).
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.replace(false)
    }

    /// Applies one batch, in the order the batch's fields say.
    pub fn apply_batch(&mut self, batch: &PersistBatch) {
        if let Some(snapshot) = &batch.snapshot {
            self.install_snapshot(snapshot.clone());
        }
        self.append(&batch.entries);
        if let Some(hard_state) = &batch.hard_state {
            // Raft's terms and commit index only grow (a vote changes only
            // with a new term): a batch that lowers them is a bug of ours.
            assert!(
                hard_state.term >= self.hard_state.term
                    && hard_state.commit >= self.hard_state.commit,
                "hard state went back from term {} commit {} to term {} commit {}",
                self.hard_state.term,
                self.hard_state.commit,
                hard_state.term,
                hard_state.commit
            );
            self.hard_state = hard_state.clone();
        }
        if let Some(snapshot) = &batch.compaction {
            self.compact(snapshot.clone());
        }
    }

    /// A snapshot from the leader: everything before it is replaced.
    fn install_snapshot(&mut self, snapshot: Snapshot) {
        let metadata = snapshot.get_metadata();
        if metadata.index <= self.snapshot_index() {
            return;
        }
        self.hard_state.term = self.hard_state.term.max(metadata.term);
        self.hard_state.commit = self.hard_state.commit.max(metadata.index);
        self.conf_state = metadata.get_conf_state().clone();
        self.entries.clear();
        self.snapshot = snapshot;
    }

    /// Entries from `entries[0].index` on replace what the store had there.
    fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        // Entries at or before the snapshot are already in it.
        let skip = self.first().saturating_sub(first.index) as usize;
        let Some(first) = entries.get(skip) else {
            return;
        };
        let keep = first.index.saturating_sub(self.first()) as usize;
        debug_assert!(keep <= self.entries.len(), "a gap in the log");
        self.entries.truncate(keep.min(self.entries.len()));
        // The log stays a run of consecutive indexes whose terms never go
        // down (checked where the new entries join the old, and among them).
        let previous = self
            .entries
            .last()
            .map(|e| (e.index, e.term))
            .unwrap_or((self.snapshot_index(), self.snapshot.get_metadata().term));
        let joined =
            std::iter::once(previous).chain(entries[skip..].iter().map(|e| (e.index, e.term)));
        let mut pairs = joined.clone().zip(joined.skip(1));
        assert!(
            pairs.all(|((i, t), (next_i, next_t))| next_i == i + 1 && next_t >= t),
            "entries appended out of order or with a falling term"
        );
        self.entries.extend_from_slice(&entries[skip..]);
    }

    /// Our own snapshot at its index: the entries it covers go.
    fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.get_metadata().index;
        if index <= self.snapshot_index() || index > self.last() {
            return;
        }
        let drop = (index - self.snapshot_index()) as usize;
        self.entries.drain(..drop);
        self.conf_state = snapshot.get_metadata().get_conf_state().clone();
        self.snapshot = snapshot;
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let from = (low - self.first()) as usize;
        let to = (high - self.first()) as usize;
        let mut entries = self.entries[from..to].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index < self.snapshot_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.term_at(index)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        // A node only installs a snapshot whose configuration has it.
        let conf = self.snapshot.get_metadata().get_conf_state();
        let knows_to = conf.voters.contains(&to) || conf.learners.contains(&to);
        if self.snapshot_index() < request_index || !knows_to {
            self.snapshot_wanted.set(true);
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Default::default()
        }
    }

    fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s
    }

    #[test]
    fn appends_replace_conflicting_suffixes() {
        let mut store = LogStore::bootstrap(vec![1, 2, 3], b"state".to_vec());
        assert_eq!((store.first(), store.last()), (2, 1));
        store.apply_batch(&PersistBatch {
            entries: vec![entry(2, 1), entry(3, 1), entry(4, 1)],
            ..Default::default()
        });
        store.apply_batch(&PersistBatch {
            entries: vec![entry(3, 2)],
            ..Default::default()
        });
        assert_eq!(store.last(), 3);
        assert_eq!(store.term_at(3), Some(2));
        assert_eq!(store.term(1).unwrap(), 1);
        assert!(store
            .entries(1, 2, None, GetEntriesContext::empty(false))
            .is_err());
        assert_eq!(
            store
                .entries(2, 4, None, GetEntriesContext::empty(false))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn compaction_and_snapshots_drop_covered_entries() {
        let mut store = LogStore::bootstrap(vec![1], Vec::new());
        let entries: Vec<Entry> = (2..=10).map(|i| entry(i, 2)).collect();
        store.apply_batch(&PersistBatch {
            entries,
            ..Default::default()
        });
        store.apply_batch(&PersistBatch {
            compaction: Some(snapshot(6, 2)),
            ..Default::default()
        });
        assert_eq!((store.first(), store.last()), (7, 10));
        // Entries the snapshot already covers are skipped on replay.
        store.apply_batch(&PersistBatch {
            entries: vec![entry(5, 2), entry(6, 2), entry(7, 3)],
            ..Default::default()
        });
        assert_eq!((store.last(), store.term_at(7)), (7, Some(3)));
        store.apply_batch(&PersistBatch {
            snapshot: Some(snapshot(20, 4)),
            ..Default::default()
        });
        assert_eq!((store.first(), store.last()), (21, 20));
        assert_eq!(store.hard_state().commit, 20);
        assert!(store.is_initialized());
        assert!(!LogStore::default().is_initialized());
    }
}
