//! The Raft log on disk, and the thread that writes it.
//!
//! Files in `state_dir/raft/`:
//! - `snapshot`: the latest snapshot (Raft metadata, the member table and
//!   the CIB), written atomically with a SHA-256 digest;
//! - `wal`: records appended since, each `length | crc32 | payload`, the
//!   payload a batch of entries and/or a hard state.
//!
//! Starting up replays the snapshot and then the WAL into a [`LogStore`]. A
//! record cut short at the end (a crash mid-write, never acknowledged) is
//! cut off; a damaged record with good ones after it is corruption and
//! refuses to load, since dropping acknowledged entries would break the
//! cluster's promise.
//!
//! Writes happen on one thread per node, never on an actor's: the CIB actor
//! hands it batches and goes on. The thread takes every batch queued while
//! it was busy, writes them all and fsyncs once (group commit), then says
//! which Ready number is durable. A write that fails stops the thread
//! taking batches until the actor resets it: the node then stops voting and
//! acknowledging until its disk works again, and restarts from what really
//! is on disk.

use crate::model::control::log_store::{LogStore, PersistBatch};
use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState, Snapshot};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Largest WAL record (a batch of entries): beyond it, the file is damaged.
pub const WAL_RECORD_BYTES_MAX: usize = 256 << 20;
/// Largest snapshot file read.
pub const SNAPSHOT_FILE_BYTES_MAX: u64 = 512 << 20;

const SNAPSHOT_MAGIC: &[u8; 8] = b"SYSNAP01";

#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: damaged at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> StorageError + '_ {
    move |error| StorageError::Io {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

#[derive(Serialize, Deserialize, Default)]
struct WalRecord {
    /// Entries, each protobuf-encoded.
    entries: Vec<serde_bytes_vec::Bytes>,
    /// term, vote, commit
    hard_state: Option<(u64, u64, u64)>,
}

/// Byte vectors serialised as msgpack binary rather than arrays of numbers.
mod serde_bytes_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Bytes(pub Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Bytes, A::Error> {
                    let mut bytes = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        bytes.push(b);
                    }
                    Ok(Bytes(bytes))
                }
            }
            deserializer.deserialize_bytes(Visitor)
        }
    }
}

/// The raft directory of a node.
#[derive(Debug, Clone)]
pub struct RaftFiles {
    dir: PathBuf,
}

impl RaftFiles {
    pub fn new(state_dir: &Path) -> Self {
        RaftFiles {
            dir: state_dir.join("raft"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot")
    }

    fn wal_path(&self) -> PathBuf {
        self.dir.join("wal")
    }

    /// Whether this node has a log (it founded or joined a cluster).
    pub fn exists(&self) -> bool {
        self.snapshot_path().exists() || self.wal_path().exists()
    }

    /// Writes a founding log (bootstrap): the snapshot and an empty WAL
    /// holding the hard state.
    pub fn found(&self, store: &LogStore) -> Result<(), StorageError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        self.write_snapshot(store.snapshot_ref())?;
        self.rewrite_wal(store)
    }

    /// Replays the snapshot and the WAL. A torn last record is cut off.
    pub fn load(&self) -> Result<LogStore, StorageError> {
        let mut store = LogStore::default();
        if let Some(snapshot) = self.read_snapshot()? {
            store.apply_batch(&PersistBatch {
                snapshot: Some(snapshot),
                ..Default::default()
            });
        }
        let path = self.wal_path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let (records, good_len) = parse_wal(&path, &bytes)?;
        for record in records {
            store.apply_batch(&record);
        }
        store.raise_hard_state_to_snapshot();
        if good_len < bytes.len() {
            tracing::warn!(path = %path.display(), kept = good_len, dropped = bytes.len() - good_len, "cutting off a torn WAL record (a crash mid-write)");
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_error(&path))?;
            file.set_len(good_len as u64).map_err(io_error(&path))?;
            file.sync_all().map_err(io_error(&path))?;
        }
        Ok(store)
    }

    fn read_snapshot(&self) -> Result<Option<Snapshot>, StorageError> {
        let path = self.snapshot_path();
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let mut bytes = Vec::new();
        file.take(SNAPSHOT_FILE_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error(&path))?;
        let corrupt = |reason: &str| StorageError::Corrupt {
            path: path.clone(),
            offset: 0,
            reason: reason.to_string(),
        };
        if bytes.len() as u64 > SNAPSHOT_FILE_BYTES_MAX {
            return Err(corrupt("larger than SNAPSHOT_FILE_BYTES_MAX"));
        }
        if bytes.len() < 40 || &bytes[..8] != SNAPSHOT_MAGIC {
            return Err(corrupt("not a Systole snapshot"));
        }
        let body = &bytes[40..];
        if sha256(body) != bytes[8..40] {
            return Err(corrupt("digest mismatch"));
        }
        Snapshot::parse_from_bytes(body)
            .map(Some)
            .map_err(|e| corrupt(&e.to_string()))
    }

    fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let body = snapshot.write_to_bytes().expect("snapshots serialise");
        let mut content = Vec::with_capacity(body.len() + 40);
        content.extend_from_slice(SNAPSHOT_MAGIC);
        content.extend_from_slice(&sha256(&body));
        content.extend_from_slice(&body);
        crate::os::persist::write_atomic(&self.snapshot_path(), &content).map_err(|e| {
            StorageError::Io {
                path: self.snapshot_path(),
                reason: e.to_string(),
            }
        })
    }

    /// Replaces the WAL with one holding `store`'s entries and hard state
    /// (after a snapshot: everything before it is in the snapshot file).
    fn rewrite_wal(&self, store: &LogStore) -> Result<(), StorageError> {
        let record = PersistBatch {
            entries: store.entries_after_snapshot().to_vec(),
            hard_state: Some(store.hard_state().clone()),
            ..Default::default()
        };
        crate::os::persist::write_atomic(&self.wal_path(), &encode_record(&record)).map_err(|e| {
            StorageError::Io {
                path: self.wal_path(),
                reason: e.to_string(),
            }
        })
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn encode_record(batch: &PersistBatch) -> Vec<u8> {
    let record = WalRecord {
        entries: batch
            .entries
            .iter()
            .map(|e| serde_bytes_vec::Bytes(e.write_to_bytes().expect("entries serialise")))
            .collect(),
        hard_state: batch
            .hard_state
            .as_ref()
            .map(|hs| (hs.term, hs.vote, hs.commit)),
    };
    let payload = rmp_serde::to_vec(&record).expect("WAL records serialise");
    let mut bytes = Vec::with_capacity(payload.len() + 8);
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes
}

/// The records of a WAL and the length of its good prefix.
fn parse_wal(path: &Path, bytes: &[u8]) -> Result<(Vec<PersistBatch>, usize), StorageError> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        match parse_record(&bytes[offset..]) {
            Ok((record, used)) => {
                records.push(record);
                offset += used;
            }
            // Cut short at the very end: a write that never completed.
            Err(RecordError::Truncated) => break,
            Err(RecordError::Damaged(reason)) => {
                // A damaged last record is a torn write too; with records
                // after it, acknowledged data was lost.
                if let Some(next) = next_record_start(bytes, offset) {
                    return Err(StorageError::Corrupt {
                        path: path.to_path_buf(),
                        offset: offset as u64,
                        reason: format!("{reason} (another record follows at byte {next})"),
                    });
                }
                break;
            }
        }
    }
    Ok((records, offset))
}

enum RecordError {
    Truncated,
    Damaged(String),
}

fn parse_record(bytes: &[u8]) -> Result<(PersistBatch, usize), RecordError> {
    if bytes.len() < 8 {
        return Err(RecordError::Truncated);
    }
    let length = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if length > WAL_RECORD_BYTES_MAX {
        return Err(RecordError::Damaged(format!(
            "record of {length} bytes exceeds WAL_RECORD_BYTES_MAX"
        )));
    }
    let Some(payload) = bytes.get(8..8 + length) else {
        return Err(RecordError::Truncated);
    };
    if crc32fast::hash(payload) != crc {
        return Err(RecordError::Damaged("checksum mismatch".into()));
    }
    let record: WalRecord = rmp_serde::from_slice(payload)
        .map_err(|e| RecordError::Damaged(format!("undecodable record: {e}")))?;
    let entries = record
        .entries
        .iter()
        .map(|b| Entry::parse_from_bytes(&b.0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RecordError::Damaged(format!("undecodable entry: {e}")))?;
    let hard_state = record.hard_state.map(|(term, vote, commit)| HardState {
        term,
        vote,
        commit,
        ..Default::default()
    });
    Ok((
        PersistBatch {
            entries,
            hard_state,
            ..Default::default()
        },
        8 + length,
    ))
}

/// Whether a well-formed record starts anywhere after a damaged one.
fn next_record_start(bytes: &[u8], damaged_at: usize) -> Option<usize> {
    (damaged_at + 1..bytes.len()).find(|&start| parse_record(&bytes[start..]).is_ok())
}

/// What the writer thread reports.
#[derive(Debug, Clone)]
pub enum DiskReport {
    /// Batches up to this Ready number are durable.
    Persisted { incarnation: u64, number: u64 },
    /// A write failed; nothing more is written until a reset.
    Failed { incarnation: u64, error: String },
}

enum Job {
    Write {
        incarnation: u64,
        batches: Vec<PersistBatch>,
    },
    /// Reload from disk; answers with what is really there.
    Reset {
        reply: mpsc::Sender<Result<LogStore, StorageError>>,
    },
    Found {
        store: Box<LogStore>,
        reply: mpsc::Sender<Result<(), StorageError>>,
    },
}

/// The handle to a node's writer thread.
pub struct DiskWriter {
    jobs: mpsc::Sender<Job>,
}

/// How writes fail in tests (a full disk).
pub type FailureInjector = Box<dyn Fn() -> Option<String> + Send>;

impl DiskWriter {
    /// Starts the thread; `report` is called from it after each group of
    /// writes.
    pub fn start(
        files: RaftFiles,
        report: Box<dyn Fn(DiskReport) + Send>,
        inject_failure: Option<FailureInjector>,
    ) -> DiskWriter {
        let (jobs, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("raft-disk".into())
            .spawn(move || writer_loop(files, receiver, report, inject_failure))
            .expect("spawn the disk writer thread");
        DiskWriter { jobs }
    }

    pub fn write(&self, incarnation: u64, batches: Vec<PersistBatch>) {
        let _ = self.jobs.send(Job::Write {
            incarnation,
            batches,
        });
    }

    /// Waits for queued writes, then reloads the log from disk.
    pub fn reset(&self) -> Result<LogStore, StorageError> {
        let (reply, answer) = mpsc::channel();
        let _ = self.jobs.send(Job::Reset { reply });
        answer.recv().unwrap_or_else(|_| {
            Err(StorageError::Io {
                path: PathBuf::new(),
                reason: "the disk writer thread is gone".into(),
            })
        })
    }

    /// Writes a founding log (bootstrap), through the thread.
    pub fn found(&self, store: LogStore) -> Result<(), StorageError> {
        let (reply, answer) = mpsc::channel();
        let _ = self.jobs.send(Job::Found {
            store: Box::new(store),
            reply,
        });
        answer.recv().unwrap_or_else(|_| {
            Err(StorageError::Io {
                path: PathBuf::new(),
                reason: "the disk writer thread is gone".into(),
            })
        })
    }
}

/// The writer's state: the open WAL and a mirror of what is durable.
struct Writer {
    files: RaftFiles,
    wal: Option<File>,
    durable: LogStore,
    /// A failed write: nothing more until a reset.
    failed: bool,
}

fn writer_loop(
    files: RaftFiles,
    jobs: mpsc::Receiver<Job>,
    report: Box<dyn Fn(DiskReport) + Send>,
    inject_failure: Option<FailureInjector>,
) {
    let mut writer = Writer {
        files,
        wal: None,
        durable: LogStore::default(),
        failed: true,
    };
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        group.extend(jobs.try_iter());
        // The highest batch written (not yet synced) in this group.
        let mut written: Option<(u64, u64)> = None;
        for job in group {
            match job {
                Job::Write {
                    incarnation,
                    batches,
                } => {
                    if writer.failed {
                        continue;
                    }
                    let inject = inject_failure.as_ref();
                    match writer.write(incarnation, &batches, inject, &*report) {
                        Some(number) => {
                            let best = written.map_or(number, |(_, n)| n.max(number));
                            written = Some((incarnation, best));
                        }
                        // Written but not synced: nothing of the group counts.
                        None => written = None,
                    }
                }
                Job::Reset { reply } => {
                    if let Some((incarnation, number)) = written.take() {
                        writer.sync_and_report(incarnation, number, &report);
                    }
                    let _ = reply.send(writer.reset());
                }
                Job::Found { store, reply } => {
                    let result = writer.files.found(&store);
                    if result.is_ok() {
                        writer.durable = *store;
                        writer.wal = None;
                        writer.failed = false;
                    }
                    let _ = reply.send(result);
                }
            }
        }
        if let Some((incarnation, number)) = written {
            writer.sync_and_report(incarnation, number, &report);
        }
    }
}

impl Writer {
    /// Appends `batches` to the WAL (unsynced): the highest batch number
    /// written, or None when the write failed (reported, and the writer
    /// stops until a reset).
    fn write(
        &mut self,
        incarnation: u64,
        batches: &[PersistBatch],
        inject_failure: Option<&FailureInjector>,
        report: &dyn Fn(DiskReport),
    ) -> Option<u64> {
        let result = match inject_failure.and_then(|f| f()) {
            Some(error) => Err(StorageError::Io {
                path: self.files.wal_path(),
                reason: error,
            }),
            None => self.append(batches),
        };
        match result {
            Ok(()) => Some(batches.iter().map(|b| b.number).max().unwrap_or(0)),
            Err(error) => {
                self.failed = true;
                self.wal = None;
                tracing::error!(%error, "raft log write failed; this node stops voting and acknowledging until its disk works");
                report(DiskReport::Failed {
                    incarnation,
                    error: error.to_string(),
                });
                None
            }
        }
    }

    fn reset(&mut self) -> Result<LogStore, StorageError> {
        self.wal = None;
        match self.files.load() {
            Ok(store) => {
                self.durable = store.clone();
                self.failed = false;
                Ok(store)
            }
            Err(error) => {
                self.failed = true;
                Err(error)
            }
        }
    }

    fn open_wal(&mut self) -> Result<&mut File, StorageError> {
        if self.wal.is_none() {
            let path = self.files.wal_path();
            std::fs::create_dir_all(self.files.dir()).map_err(io_error(self.files.dir()))?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_error(&path))?;
            self.wal = Some(file);
        }
        Ok(self.wal.as_mut().expect("just opened"))
    }

    /// Writes batches (not yet synced). Snapshots rewrite the files.
    fn append(&mut self, batches: &[PersistBatch]) -> Result<(), StorageError> {
        for batch in batches {
            self.durable.apply_batch(batch);
            let snapshot = batch.snapshot.as_ref().or(batch.compaction.as_ref());
            if let Some(snapshot) = snapshot {
                // Sync what the WAL holds first: the snapshot must not be
                // on disk without the hard state that came before it.
                self.sync()?;
                self.files.write_snapshot(snapshot)?;
                self.files.rewrite_wal(&self.durable)?;
                self.wal = None;
                continue;
            }
            if batch.entries.is_empty() && batch.hard_state.is_none() {
                continue;
            }
            let bytes = encode_record(batch);
            let path = self.files.wal_path();
            self.open_wal()?
                .write_all(&bytes)
                .map_err(io_error(&path))?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        let path = self.files.wal_path();
        if let Some(wal) = self.wal.as_mut() {
            wal.sync_data().map_err(io_error(&path))?;
        }
        Ok(())
    }

    fn sync_and_report(&mut self, incarnation: u64, number: u64, report: &dyn Fn(DiskReport)) {
        match self.sync() {
            Ok(()) => report(DiskReport::Persisted {
                incarnation,
                number,
            }),
            Err(error) => {
                self.failed = true;
                self.wal = None;
                report(DiskReport::Failed {
                    incarnation,
                    error: error.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::control::consensus::founding_log;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            term,
            data: data.to_vec().into(),
            ..Default::default()
        }
    }

    fn batch(number: u64, entries: Vec<Entry>, commit: u64) -> PersistBatch {
        let hs = HardState {
            term: 2,
            commit,
            ..Default::default()
        };
        PersistBatch {
            number,
            entries,
            hard_state: Some(hs),
            ..Default::default()
        }
    }

    fn writer(dir: &Path) -> (DiskWriter, mpsc::Receiver<DiskReport>) {
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let writer = DiskWriter::start(
            RaftFiles::new(dir),
            Box::new(move |r| {
                let _ = tx.lock().unwrap().send(r);
            }),
            None,
        );
        (writer, rx)
    }

    #[test]
    fn batches_survive_a_restart_and_torn_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, reports) = writer(dir.path());
        writer.found(founding_log(&["n1".into()], &[])).unwrap();
        writer.write(
            1,
            vec![batch(1, vec![entry(2, 2, b"a"), entry(3, 2, b"b")], 2)],
        );
        writer.write(1, vec![batch(2, vec![entry(3, 2, b"c")], 3)]);
        let last = loop {
            match reports.recv().unwrap() {
                DiskReport::Persisted { number: 2, .. } => break 2,
                DiskReport::Persisted { .. } => continue,
                DiskReport::Failed { error, .. } => panic!("{error}"),
            }
        };
        assert_eq!(last, 2);
        let store = writer.reset().unwrap();
        assert_eq!((store.first(), store.last()), (2, 3));
        assert_eq!(store.hard_state().commit, 3);
        // A torn last record is cut off; the rest loads.
        let wal = dir.path().join("raft/wal");
        let mut file = OpenOptions::new().append(true).open(&wal).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(file);
        let again = RaftFiles::new(dir.path()).load().unwrap();
        assert_eq!(again.last(), 3);
        // Damage in the middle, with a good record after it, refuses.
        let mut bytes = std::fs::read(&wal).unwrap();
        let good = bytes.clone();
        bytes[10] ^= 0xff;
        bytes.extend_from_slice(&good);
        std::fs::write(&wal, &bytes).unwrap();
        assert!(matches!(
            RaftFiles::new(dir.path()).load(),
            Err(StorageError::Corrupt { .. })
        ));
    }

    #[test]
    fn compaction_rewrites_the_files_and_failures_stop_writes() {
        let dir = tempfile::tempdir().unwrap();
        let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, reports) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let flag = fail.clone();
        let writer = DiskWriter::start(
            RaftFiles::new(dir.path()),
            Box::new(move |r| {
                let _ = tx.lock().unwrap().send(r);
            }),
            Some(Box::new(move || {
                flag.load(std::sync::atomic::Ordering::SeqCst)
                    .then(|| "No space left on device".to_string())
            })),
        );
        writer.found(founding_log(&["n1".into()], &[])).unwrap();
        let entries: Vec<Entry> = (2..=6).map(|i| entry(i, 2, b"x")).collect();
        writer.write(1, vec![batch(1, entries, 6)]);
        let mut snapshot = Snapshot::default();
        snapshot.mut_metadata().index = 4;
        snapshot.mut_metadata().term = 2;
        snapshot.data = b"state".to_vec().into();
        writer.write(
            1,
            vec![PersistBatch {
                compaction: Some(snapshot),
                ..Default::default()
            }],
        );
        let store = writer.reset().unwrap();
        assert_eq!((store.first(), store.last()), (5, 6));
        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        writer.write(2, vec![batch(3, vec![entry(7, 2, b"y")], 7)]);
        loop {
            if let DiskReport::Failed { error, incarnation } = reports.recv().unwrap() {
                assert_eq!(incarnation, 2);
                assert!(error.contains("No space"));
                break;
            }
        }
        fail.store(false, std::sync::atomic::Ordering::SeqCst);
        let store = writer.reset().unwrap();
        assert_eq!(store.last(), 6, "the failed batch is not on disk");
    }
}
