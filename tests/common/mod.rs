//! What the loopback cluster tests share: real daemons of the `systole`
//! binary in a cluster of their own temporary directory (stopped and removed
//! on drop), polled with the safety invariant checked at every poll, and the
//! binary run as an operator would against it.

// Each test binary includes this module and uses only its own part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use systole::actors::control_socket::StatusReport;
use systole::actors::message::CibChange;
use systole::cli::localcluster::LocalCluster;

pub const BIN: &str = env!("CARGO_BIN_EXE_systole");

/// The temporary directory of a cluster the `systole` binary runs
/// (`systole cluster up --dir DIR`): `cluster down` on drop, before the
/// directory is removed.
pub struct ClusterDir {
    dir: tempfile::TempDir,
}

impl ClusterDir {
    pub fn new() -> ClusterDir {
        ClusterDir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ClusterDir {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["cluster", "down", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A local cluster in its own temporary directory, stopped (by
/// `LocalCluster`'s drop) before the directory is removed.
pub struct TestCluster {
    pub cluster: LocalCluster,
    _dir: tempfile::TempDir,
}

/// What one run of the `systole` binary did.
pub struct CliOutput {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl TestCluster {
    /// `nodes` daemons running the demo resources.
    pub fn up(nodes: usize) -> TestCluster {
        TestCluster::start(tempfile::tempdir().expect("tempdir"), nodes, false)
    }

    /// The daemons of a directory already prepared (`localcluster::prepare`),
    /// with no resources when `empty`.
    pub fn start(dir: tempfile::TempDir, nodes: usize, empty: bool) -> TestCluster {
        let cluster = LocalCluster::up(Path::new(BIN), dir.path(), nodes, empty)
            .unwrap_or_else(|e| panic!("{e:#}"));
        TestCluster { cluster, _dir: dir }
    }

    pub fn path(&self) -> &Path {
        self.cluster.dir()
    }

    pub fn socket(&self, node: &str) -> PathBuf {
        self.cluster.socket(node)
    }

    /// The last `lines` of every node's log, for a failure message.
    pub fn logs(&self, lines: usize) -> String {
        self.cluster.logs(lines)
    }

    pub fn kill9(&self, node: &str) {
        self.cluster.kill9(node);
    }

    pub fn modify(&self, node: &str, change: CibChange) {
        self.cluster
            .modify(node, change)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Polls `node`'s status every `poll_ms` until `done` holds, checking
    /// at every poll that no primitive is active on two nodes.
    pub fn wait_polling(
        &self,
        node: &str,
        timeout_ms: u64,
        poll_ms: u64,
        what: &str,
        done: impl FnMut(&StatusReport) -> bool,
    ) -> StatusReport {
        let polling = Polling {
            node,
            timeout_ms,
            poll_ms,
            what,
        };
        polling.wait(&self.cluster, done, || self.logs(80))
    }

    /// [`TestCluster::wait_polling`] every 100 ms.
    pub fn wait(
        &self,
        node: &str,
        timeout_ms: u64,
        what: &str,
        done: impl FnMut(&StatusReport) -> bool,
    ) -> StatusReport {
        self.wait_polling(node, timeout_ms, 100, what, done)
    }

    /// `systole --dir DIR [--node NODE] ARGS` (options first: ARGS may end
    /// with a free-form tail).
    pub fn run(&self, node: Option<&str>, args: &[&str]) -> CliOutput {
        let mut command = Command::new(BIN);
        command.arg("--dir").arg(self.path());
        if let Some(node) = node {
            command.args(["--node", node]);
        }
        let out = command.args(args).output().expect("systole runs");
        CliOutput {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// [`TestCluster::run`] that must succeed; its standard output.
    pub fn run_ok(&self, node: Option<&str>, args: &[&str]) -> String {
        let out = self.run(node, args);
        assert!(
            out.ok,
            "systole {args:?} failed: {}\n{}",
            out.stderr, out.stdout
        );
        out.stdout
    }
}

/// The safety invariant: no primitive is active on two nodes (`logs` says
/// what the daemons did, for the failure message).
/// How a test polls a cluster's status: which node it asks, how long and
/// how often, for what (named in the failure message).
pub struct Polling<'a> {
    pub node: &'a str,
    pub timeout_ms: u64,
    pub poll_ms: u64,
    pub what: &'a str,
}

impl Polling<'_> {
    /// Polls `cluster` until `done` holds, checking at every poll that no
    /// primitive is active on two nodes; `logs` says what the daemons
    /// logged, for a failure.
    pub fn wait(
        &self,
        cluster: &LocalCluster,
        mut done: impl FnMut(&StatusReport) -> bool,
        logs: impl Fn() -> String,
    ) -> StatusReport {
        let deadline = Instant::now() + Duration::from_millis(self.timeout_ms);
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(report) = cluster.status(self.node) {
                assert_single_placement(&report, &logs);
                if done(&report) {
                    return report;
                }
                last = Some(report);
            }
            std::thread::sleep(Duration::from_millis(self.poll_ms));
        }
        panic!(
            "timed out waiting for {}; last status: {last:#?}\n{}",
            self.what,
            logs()
        );
    }
}

pub fn assert_single_placement(report: &StatusReport, logs: impl Fn() -> String) {
    for resource in &report.resources {
        assert!(
            resource.nodes.len() <= 1,
            "SAFETY: {} active on {:?}\n{}",
            resource.id,
            resource.nodes,
            logs()
        );
    }
}

/// Polls `check` every 100 ms until it holds (true) or `timeout_ms` passes.
pub fn wait_until(timeout_ms: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
