//! Runs one agent as an async child process with a deadline, in its own
//! process group, capturing the tail of its output.
//!
//! Shared by the OCF runner and the fence runner. The rules:
//! - the child gets its own process group (`process_group(0)`), so a timeout
//!   or a cancellation kills everything the agent forked, not just the agent;
//! - on timeout: SIGTERM to the group, a short grace, then SIGKILL to the group;
//! - if the future is dropped before the child exits (a cancelled recurring
//!   monitor), the group is killed with SIGKILL at once, from `Drop`;
//! - after a normal exit the group is left alone: a `start` may legitimately
//!   leave daemons behind. Their inherited pipes are read for at most
//!   `output_drain_ms_max` more, then abandoned;
//! - output is kept as a bounded tail per stream; any bytes are fine.

use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// How many times a spawn that failed with ETXTBSY is retried. The error is a
/// race with another thread that has just written an executable and forked
/// before closing it (close-on-exec closes it a moment later).
const SPAWN_TEXT_BUSY_RETRIES_MAX: u32 = 20;
const SPAWN_TEXT_BUSY_DELAY_MS: u64 = 10;
/// After SIGKILL to the group, how long to wait for the leader to be reaped.
const REAP_AFTER_KILL_MS_MAX: u64 = 2_000;
const READ_CHUNK_BYTES: usize = 8 * 1024;

/// What to run and with which limits.
#[derive(Debug, Clone)]
pub(crate) struct RunSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The whole environment: the child inherits nothing else.
    pub env: Vec<(OsString, OsString)>,
    /// Written to the child's stdin, which is then closed; `None` = /dev/null.
    pub stdin: Option<Vec<u8>>,
    pub timeout_ms: u64,
    pub kill_grace_ms: u64,
    pub output_tail_bytes_max: usize,
    pub output_drain_ms_max: u64,
}

/// How the child ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
    /// The deadline passed; the group was killed.
    TimedOut,
    /// The child could not be started.
    SpawnFailed(io::Error),
}

/// The end of one output stream, at most `output_tail_bytes_max` bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedOutput {
    /// The tail of the stream, non-UTF-8 bytes replaced (lossy).
    pub text: String,
    /// Every byte the agent wrote to the stream, kept or not.
    pub bytes_total: u64,
    /// True when `text` is only the tail because the stream was longer.
    pub truncated: bool,
}

#[derive(Debug)]
pub(crate) struct RunResult {
    pub exit: Exit,
    pub pid: Option<u32>,
    pub stdout: CapturedOutput,
    pub stderr: CapturedOutput,
    pub duration_ms: u64,
}

/// A bounded tail buffer.
struct Tail {
    bytes: Vec<u8>,
    bytes_total: u64,
    bytes_max: usize,
}

impl Tail {
    fn new(bytes_max: usize) -> Tail {
        Tail {
            bytes: Vec::new(),
            bytes_total: 0,
            bytes_max,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.bytes_total += chunk.len() as u64;
        self.bytes.extend_from_slice(chunk);
        // Trim lazily, so a stream of small writes stays linear.
        if self.bytes.len() > self.bytes_max.saturating_mul(2).max(READ_CHUNK_BYTES) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.bytes.len() > self.bytes_max {
            let excess = self.bytes.len() - self.bytes_max;
            self.bytes.drain(..excess);
        }
    }

    fn finish(mut self) -> CapturedOutput {
        self.trim();
        assert!(self.bytes.len() <= self.bytes_max);
        CapturedOutput {
            text: String::from_utf8_lossy(&self.bytes).into_owned(),
            bytes_total: self.bytes_total,
            truncated: self.bytes_total > self.bytes.len() as u64,
        }
    }
}

/// Kills the child's process group with SIGKILL if dropped while armed: the
/// run was cancelled (its future dropped) before the child exited.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid, libc::SIGKILL);
        }
    }
}

fn kill_group(pgid: i32, signal: i32) {
    // A group id of 0 or 1 would mean "our own group" or init: never.
    assert!(pgid > 1, "refusing to signal process group {pgid}");
    // SAFETY: killpg has no memory-safety preconditions. ESRCH (the group is
    // gone) is the expected outcome of a race and is ignored.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

async fn pump<R: AsyncRead + Unpin>(stream: Option<R>, tail: &mut Tail) {
    let Some(mut stream) = stream else { return };
    let mut buffer = vec![0u8; READ_CHUNK_BYTES];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => tail.push(&buffer[..n]),
        }
    }
}

async fn feed(stdin: Option<tokio::process::ChildStdin>, input: Option<&[u8]>) {
    let (Some(mut stdin), Some(input)) = (stdin, input) else {
        return;
    };
    // An agent that exits without reading gives EPIPE: not our problem.
    let _ = stdin.write_all(input).await;
    let _ = stdin.shutdown().await;
    drop(stdin);
}

async fn spawn(spec: &RunSpec) -> io::Result<Child> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(error)
                if error.raw_os_error() == Some(libc::ETXTBSY)
                    && attempt < SPAWN_TEXT_BUSY_RETRIES_MAX =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(SPAWN_TEXT_BUSY_DELAY_MS)).await;
            }
            other => return other,
        }
    }
}

fn exit_of(status: ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    }
}

/// Ends a process group that ran out of time: SIGTERM, `grace_ms` to clean
/// up, then SIGKILL to whatever is left of it, leader or not. The output
/// (`io`) is read meanwhile: an agent cleaning up on SIGTERM must not block
/// on a full pipe.
async fn kill_timed_out<F: std::future::Future>(
    child: &mut Child,
    pgid: i32,
    grace_ms: u64,
    mut io: std::pin::Pin<&mut F>,
    io_done: &mut bool,
) {
    kill_group(pgid, libc::SIGTERM);
    let grace_deadline = tokio::time::Instant::now() + Duration::from_millis(grace_ms);
    loop {
        tokio::select! {
            biased;
            _ = child.wait() => break,
            _ = &mut io, if !*io_done => *io_done = true,
            _ = tokio::time::sleep_until(grace_deadline) => break,
        }
    }
    kill_group(pgid, libc::SIGKILL);
    let reap = Duration::from_millis(REAP_AFTER_KILL_MS_MAX);
    let _ = tokio::time::timeout(reap, child.wait()).await;
}

/// Runs `spec` to completion, timeout or cancellation (drop).
pub(crate) async fn run(spec: &RunSpec) -> RunResult {
    let started = Instant::now();
    let mut stdout_tail = Tail::new(spec.output_tail_bytes_max);
    let mut stderr_tail = Tail::new(spec.output_tail_bytes_max);
    let elapsed_ms = |started: Instant| started.elapsed().as_millis() as u64;

    let mut child = match spawn(spec).await {
        Ok(child) => child,
        Err(error) => {
            return RunResult {
                exit: Exit::SpawnFailed(error),
                pid: None,
                stdout: stdout_tail.finish(),
                stderr: stderr_tail.finish(),
                duration_ms: elapsed_ms(started),
            }
        }
    };
    let pid = child.id();
    let pgid = pid.and_then(|pid| i32::try_from(pid).ok());
    let mut guard = GroupGuard { pgid };

    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stdin = child.stdin.take();
    let exit = {
        let io = async {
            tokio::join!(
                pump(stdout, &mut stdout_tail),
                pump(stderr, &mut stderr_tail),
                feed(stdin, spec.stdin.as_deref()),
            )
        };
        tokio::pin!(io);
        let deadline =
            tokio::time::Instant::from_std(started) + Duration::from_millis(spec.timeout_ms);
        let mut io_done = false;
        let exit = loop {
            tokio::select! {
                biased;
                status = child.wait() => {
                    break match status {
                        Ok(status) => exit_of(status),
                        Err(error) => Exit::SpawnFailed(error),
                    };
                }
                _ = &mut io, if !io_done => io_done = true,
                _ = tokio::time::sleep_until(deadline) => break Exit::TimedOut,
            }
        };
        if let (Exit::TimedOut, Some(pgid)) = (&exit, pgid) {
            let grace_ms = spec.kill_grace_ms;
            kill_timed_out(&mut child, pgid, grace_ms, io.as_mut(), &mut io_done).await;
        }
        guard.disarm();
        if !io_done {
            let drain = Duration::from_millis(spec.output_drain_ms_max);
            let _ = tokio::time::timeout(drain, &mut io).await;
        }
        exit
    };
    RunResult {
        exit,
        pid,
        stdout: stdout_tail.finish(),
        stderr: stderr_tail.finish(),
        duration_ms: elapsed_ms(started),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_only_the_end() {
        let mut tail = Tail::new(4);
        for chunk in [&b"abc"[..], b"defgh", &[0xff; 20_000], b"wxyz"] {
            tail.push(chunk);
        }
        let captured = tail.finish();
        assert_eq!(captured.text, "wxyz");
        assert_eq!(captured.bytes_total, 3 + 5 + 20_000 + 4);
        assert!(captured.truncated);
    }

    #[test]
    fn tail_short_stream_is_whole() {
        let mut tail = Tail::new(4096);
        tail.push(b"hello");
        let captured = tail.finish();
        assert_eq!(captured.text, "hello");
        assert!(!captured.truncated);
    }
}
