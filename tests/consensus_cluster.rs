//! The consensus core's promises on real daemons over loopback, one test per
//! failure of the scheme Raft replaced (issue 8's numbered list):
//! 1. no write is acknowledged without a majority of the configured voters;
//! 2. an acknowledged change is never lost, whoever starts first;
//! 3. restarting three of five nodes at once fences no one, and
//! 4. a DC follows promptly;
//! 5. a host holding the key but not in the configuration gets no vote, and
//!    a 2|2 split of four voters leaves no side quorate (with a witness,
//!    exactly one);
//! 6. a DC whose disk fails hands over and changes go on;
//! 7. a lost node's status is recorded at once.
//!
//! Plus membership changes under a stream of writes. Every poll of a
//! cluster with resources checks that no primitive is active twice.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use systole::actors::control_socket::StatusReport;
use systole::actors::message::CibChange;
use systole::cli::localcluster::{node_dir, pid_path, read_pid, socket_path, LocalCluster};
use systole::model::cib::xml::Element;

mod common;
use common::{wait_until as wait, BIN};

/// A cluster in its own temporary directory, stopped and removed on drop
/// (extra daemons started here write pid files `cluster down` finds).
struct Cluster {
    cluster: LocalCluster,
    /// Daemons this test started itself, reaped on drop.
    spawned: Mutex<Vec<std::process::Child>>,
    _dir: tempfile::TempDir,
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Cluster {
    fn up(nodes: usize, empty: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = LocalCluster::up(Path::new(BIN), dir.path(), nodes, empty)
            .unwrap_or_else(|e| panic!("{e:#}"));
        Cluster {
            cluster,
            spawned: Mutex::new(Vec::new()),
            _dir: dir,
        }
    }

    fn path(&self) -> &Path {
        self.cluster.dir()
    }

    fn status(&self, node: &str) -> Option<StatusReport> {
        let report = self.cluster.status(node)?;
        assert_single_placement(&report);
        Some(report)
    }

    fn cib(&self, node: &str) -> Option<Element> {
        self.cluster.cib(node)
    }

    fn dc(&self, node: &str) -> Option<String> {
        self.status(node).and_then(|s| s.dc)
    }

    /// `systole ARGS --dir DIR --node NODE`.
    fn cli(&self, node: &str, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .args(args)
            .arg("--dir")
            .arg(self.path())
            .args(["--node", node])
            .output()
            .expect("systole runs");
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn cli_ok(&self, node: &str, args: &[&str]) -> String {
        let out = self.cli(node, args);
        assert!(
            out.ok,
            "systole {args:?} on {node} failed: {}\n{}",
            out.stderr,
            self.logs()
        );
        out.stdout
    }

    fn set_property(&self, node: &str, name: &str, value: &str) -> Result<String, String> {
        let change = CibChange::SetProperty {
            name: name.into(),
            value: Some(value.into()),
        };
        self.cluster
            .modify(node, change)
            .map_err(|e| format!("{e:#}"))
    }

    fn kill9(&self, node: &str) {
        self.cluster.kill9(node);
    }

    /// SIGTERM (a graceful stop), then waits for the process to exit.
    fn stop(&self, node: &str) {
        let pid = read_pid(&pid_path(self.path(), node)).expect("pid file");
        unsafe { libc::kill(pid, libc::SIGTERM) };
        assert!(
            wait(30_000, || !systole::cli::localcluster::alive(pid)),
            "{node} did not stop on SIGTERM\n{}",
            self.logs()
        );
    }

    /// Starts one node's daemon (`systole daemon`, or `systole witness`).
    fn spawn(&self, node: &str, command: &str) {
        let home = node_dir(self.path(), node);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("systole.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args([command, "--config"])
            .arg(home.join("systole.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("daemon starts");
        self.spawned.lock().unwrap().push(child);
        let socket = socket_path(self.path(), node);
        assert!(
            wait(15_000, || systole::cli::localcluster::ping(&socket)),
            "{node} never answered\n{}",
            self.logs()
        );
    }

    /// Blocks all traffic between the two sides (on every node of both).
    fn partition(&self, left: &[&str], right: &[&str]) {
        for (side, other) in [(left, right), (right, left)] {
            for node in side {
                let mut args = vec!["chaos", "block"];
                args.extend_from_slice(other);
                self.cli_ok(node, &args);
            }
        }
    }

    fn heal(&self, nodes: &[&str]) {
        for node in nodes {
            self.cli_ok(node, &["chaos", "heal"]);
        }
    }

    /// Writes the config of a node that is not (yet) a member: node1's
    /// settings with its own name, port and files, and the initial voters
    /// given (none for a node that joins: it must not found a cluster of
    /// its own).
    fn prepare_joiner(&self, name: &str, initial_voters: &[&str]) -> String {
        self.cluster
            .prepare_joiner(name, initial_voters)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn voters(&self, node: &str) -> Vec<String> {
        self.status(node)
            .and_then(|s| s.consensus)
            .map(|c| c.voters)
            .unwrap_or_default()
    }

    fn logs(&self) -> String {
        self.cluster.logs(
            std::env::var("LOG_LINES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(30),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cluster.down();
        let mut spawned = self.spawned.lock().unwrap_or_else(|e| e.into_inner());
        for child in spawned.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// At most one node runs each resource (the demo has no clones).
fn assert_single_placement(report: &StatusReport) {
    for resource in &report.resources {
        assert!(
            resource.nodes.len() <= 1,
            "SAFETY: {} active on {:?}",
            resource.id,
            resource.nodes
        );
    }
}

fn property(cib: &Element, name: &str) -> Option<String> {
    cib.child("configuration")?
        .child("crm_config")?
        .children
        .iter()
        .flat_map(|set| set.children.iter())
        .find(|nv| nv.attr("name") == Some(name))
        .and_then(|nv| nv.attr("value").map(str::to_string))
}

fn quorate(cluster: &Cluster, node: &str) -> bool {
    cluster.status(node).is_some_and(|s| s.quorate)
}

#[test]
fn writes_need_a_majority_of_the_configured_voters_and_acknowledged_ones_survive() {
    let cluster = Cluster::up(5, true);
    // 1. Four of five killed: the survivor refuses at once, and says why.
    for node in ["node2", "node3", "node4", "node5"] {
        cluster.kill9(node);
    }
    assert!(
        wait(10_000, || !quorate(&cluster, "node1")),
        "node1 still quorate alone"
    );
    let refused = cluster.cli("node1", &["property", "set", "alone=A", "--force"]);
    assert!(
        !refused.ok,
        "a write was acknowledged by one of five voters"
    );
    assert!(
        refused
            .stderr
            .contains("no quorum: 1 of 5 voters reachable"),
        "{}",
        refused.stderr
    );
    // 2. node1 goes, the other four come back and write B; node1 returns
    // and must take B, not impose its own history.
    cluster.kill9("node1");
    for node in ["node2", "node3", "node4", "node5"] {
        cluster.spawn(node, "daemon");
    }
    assert!(
        wait(20_000, || cluster
            .set_property("node2", "written", "B")
            .is_ok()),
        "the four could not write\n{}",
        cluster.logs()
    );
    cluster.spawn("node1", "daemon");
    let has = |node: &str, name: &str, value: &str| {
        cluster
            .cib(node)
            .is_some_and(|c| property(&c, name).as_deref() == Some(value))
    };
    assert!(
        wait(15_000, || has("node1", "written", "B")),
        "node1 did not take the acknowledged write\n{}",
        cluster.logs()
    );
    assert!(cluster
        .cib("node1")
        .is_some_and(|c| property(&c, "alone").is_none()));

    // A 2|3 partition: the minority refuses, the majority goes on, and
    // after healing everyone has the majority's change.
    let minority = ["node1", "node2"];
    let majority = ["node3", "node4", "node5"];
    cluster.partition(&minority, &majority);
    assert!(
        wait(10_000, || minority.iter().all(|n| !quorate(&cluster, n))),
        "the minority kept quorum"
    );
    let refused = cluster.cli("node1", &["property", "set", "minority=1", "--force"]);
    assert!(!refused.ok && refused.stderr.contains("no quorum: 2 of 5"));
    assert!(
        wait(15_000, || cluster
            .set_property("node3", "majority", "C")
            .is_ok()),
        "the majority could not write\n{}",
        cluster.logs()
    );
    cluster.heal(&["node1", "node2", "node3", "node4", "node5"]);
    assert!(
        wait(15_000, || ["node1", "node2"]
            .iter()
            .all(|n| has(n, "majority", "C"))),
        "the healed minority did not take the majority's change"
    );
    let versions: BTreeSet<_> = ["node1", "node2", "node3", "node4", "node5"]
        .iter()
        .map(|n| {
            let cib = cluster.cib(n).unwrap();
            let v = systole::model::cib::store::version(&cib);
            (v.admin_epoch, v.epoch, property(&cib, "minority"))
        })
        .collect();
    assert_eq!(versions.len(), 1, "nodes disagree: {versions:?}");
}

/// Waits until `nodes` are online (asking the first) under one DC with
/// every resource placed (clone instances too when the whole cluster is
/// up: one per node).
fn settled(cluster: &Cluster, nodes: &[&str]) {
    let whole = cluster.cluster.nodes().len() == nodes.len();
    let ok = wait(30_000, || {
        let Some(report) = cluster.status(nodes[0]) else {
            return false;
        };
        report.dc.is_some()
            && report.quorate
            && report.nodes.iter().filter(|n| n.online).count() == nodes.len()
            && report
                .resources
                .iter()
                .filter(|r| whole || r.parent.is_none())
                .all(|r| r.nodes.len() == 1)
    });
    assert!(
        ok,
        "the cluster did not settle: {:#?}\n{}",
        cluster.status(nodes[0]),
        cluster.logs()
    );
}

#[test]
fn restarting_three_of_five_at_once_fences_no_one_and_a_dc_follows() {
    let cluster = Cluster::up(5, false);
    let nodes = ["node1", "node2", "node3", "node4", "node5"];
    settled(&cluster, &nodes);
    // Each round restarts three, the DC among them in the first.
    let dc = cluster.dc("node1").unwrap();
    let others: Vec<&str> = nodes.iter().copied().filter(|n| *n != dc).collect();
    let rounds = [
        vec![dc.as_str(), others[0], others[1]],
        vec![others[1], others[2], others[3]],
        vec![others[0], others[2], others[3]],
    ];
    for round in &rounds {
        for node in round {
            cluster.stop(node);
        }
        for node in round {
            cluster.spawn(node, "daemon");
        }
        // 4. A DC follows: `settled` waits a bounded time for a quorate
        // DC with every node online (no timing is asserted).
        settled(&cluster, &nodes);
        // 3. No one was fenced: every node stopped cleanly or was running.
        for node in nodes {
            let report = cluster.status(node).unwrap();
            assert!(
                report.fencing.is_empty(),
                "after restarting {round:?}, {node} shows fencing: {:#?}\n{}",
                report.fencing,
                cluster.logs()
            );
        }
    }
}

#[test]
fn a_host_with_the_key_but_not_in_the_configuration_gets_no_vote() {
    let cluster = Cluster::up(3, true);
    // It holds the key and believes itself one of four founders: it asks
    // for votes.
    cluster.prepare_joiner("intruder", &["node1", "node2", "node3", "intruder"]);
    cluster.spawn("intruder", "daemon");
    assert!(
        wait(10_000, || cluster
            .status("node1")
            .and_then(|s| s.consensus)
            .is_some_and(|c| c.refused_non_members > 0)),
        "node1 never refused the intruder's messages"
    );
    let bus = cluster.cli_ok("node1", &["bus"]);
    assert!(bus.contains("refused_non_members"), "{bus}");
    let bus: serde_json::Value =
        serde_json::from_str(&cluster.cli_ok("node1", &["bus", "--json"])).unwrap();
    assert_eq!(bus["node"], "node1");
    assert!(bus["refused_non_members"].as_u64() > Some(0), "{bus}");
    // node2 and node3 joined node1's view at least once each.
    assert!(bus["view_changes"].as_u64() >= Some(2), "{bus}");
    assert_eq!(cluster.voters("node1"), ["node1", "node2", "node3"]);
    // The intruder writes nothing and runs nothing.
    let refused = cluster.cli("intruder", &["property", "set", "x=1", "--force"]);
    assert!(!refused.ok, "{}", refused.stdout);
    // Its own view may count the members it hears as reachable, but none
    // of them votes for it: it never has a DC.
    assert!(
        refused.stderr.contains("no quorum") || refused.stderr.contains("no DC"),
        "{}",
        refused.stderr
    );
    let report = cluster.status("node1").unwrap();
    assert!(!report.nodes.iter().any(|n| n.name == "intruder"));
    // Killing one real node leaves 2 of 3: still quorate, whatever the
    // intruder says.
    cluster.kill9("node3");
    assert!(wait(5_000, || cluster
        .set_property("node1", "y", "1")
        .is_ok()));
}

#[test]
fn a_two_two_split_leaves_no_side_quorate_and_with_a_witness_exactly_one() {
    let cluster = Cluster::up(4, true);
    let left = ["node1", "node2"];
    let right = ["node3", "node4"];
    cluster.partition(&left, &right);
    assert!(
        wait(10_000, || left
            .iter()
            .chain(right.iter())
            .all(|n| !quorate(&cluster, n))),
        "a half of a 2|2 split kept quorum"
    );
    for node in ["node1", "node3"] {
        let out = cluster.cli(node, &["property", "set", "split=1", "--force"]);
        assert!(
            !out.ok && out.stderr.contains("no quorum: 2 of 4"),
            "{}",
            out.stderr
        );
    }
    cluster.heal(&["node1", "node2", "node3", "node4"]);
    assert!(wait(15_000, || cluster
        .set_property("node1", "healed", "1")
        .is_ok()));

    // A witness makes five votes: the side with it has three.
    let addr = cluster.prepare_joiner("witness", &[]);
    cluster.cli_ok(
        "node1",
        &["node", "add", "witness", "--addr", &addr, "--witness"],
    );
    cluster.spawn("witness", "witness");
    assert!(
        wait(15_000, || cluster
            .voters("node1")
            .contains(&"witness".into())),
        "the witness never became a voter: {:#?}",
        cluster.status("node1").and_then(|s| s.consensus)
    );
    let with_witness = ["node1", "node2", "witness"];
    cluster.partition(&with_witness, &right);
    assert!(
        wait(10_000, || right.iter().all(|n| !quorate(&cluster, n))),
        "the side without the witness kept quorum"
    );
    assert!(
        wait(15_000, || cluster
            .set_property("node1", "with-witness", "1")
            .is_ok()),
        "the side with the witness could not write\n{}",
        cluster.logs()
    );
    assert!(left.iter().all(|n| quorate(&cluster, n)));
    let out = cluster.cli("node3", &["property", "set", "without=1", "--force"]);
    assert!(
        !out.ok && out.stderr.contains("no quorum: 2 of 5"),
        "{}",
        out.stderr
    );
    // The witness leads nothing and runs nothing.
    let report = cluster.status("node1").unwrap();
    assert_ne!(report.dc.as_deref(), Some("witness"));
    cluster.heal(&["node1", "node2", "node3", "node4", "witness"]);
}

#[test]
fn a_dc_whose_disk_fails_hands_over_and_catches_up_when_it_returns() {
    // The daemons inherit the switch that lets a marker file fail writes.
    std::env::set_var("SYSTOLE_TEST_DISK_FAULTS", "1");
    let cluster = Cluster::up(3, false);
    let nodes = ["node1", "node2", "node3"];
    settled(&cluster, &nodes);
    let dc = cluster.dc("node1").unwrap();
    let other = nodes.iter().copied().find(|n| *n != dc).unwrap();
    let marker = node_dir(cluster.path(), &dc).join("state/raft/FAIL");
    std::fs::write(&marker, b"").unwrap();
    // A write makes the DC touch its disk; it fails, and the DC steps down.
    let _ = cluster.set_property(other, "during-failure", "1");
    assert!(
        wait(10_000, || cluster.dc(other).is_some_and(|new| new != dc)),
        "{dc} kept the DC role with a failed disk\n{}",
        cluster.logs()
    );
    assert!(
        wait(10_000, || cluster
            .set_property(other, "after-failure", "1")
            .is_ok()),
        "no change went through after the DC's disk failed"
    );
    let failed = cluster
        .status(&dc)
        .and_then(|s| s.consensus)
        .and_then(|c| c.disk_error);
    assert!(
        failed
            .as_deref()
            .is_some_and(|e| e.contains("No space left")),
        "{dc} does not show its disk failure: {failed:?}"
    );
    let refused = cluster.cli(&dc, &["property", "set", "on-failed=1", "--force"]);
    assert!(!refused.ok && refused.stderr.contains("disk failed"));
    // The disk returns: the node catches up and takes part again.
    std::fs::remove_file(&marker).unwrap();
    assert!(
        wait(20_000, || cluster.cib(&dc).is_some_and(|c| property(
            &c,
            "after-failure"
        )
        .is_some())
            && cluster
                .status(&dc)
                .and_then(|s| s.consensus)
                .is_some_and(|c| c.disk_error.is_none())),
        "{dc} did not catch up after its disk came back\n{}",
        cluster.logs()
    );
    // No one was fenced for it: the node kept answering.
    assert!(cluster.status(other).unwrap().fencing.is_empty());
}

#[test]
fn a_lost_node_is_recorded_and_fenced_at_once() {
    let cluster = Cluster::up(3, false);
    let nodes = ["node1", "node2", "node3"];
    settled(&cluster, &nodes);
    let dc = cluster.dc("node1").unwrap();
    let victim = nodes.iter().copied().find(|n| *n != dc).unwrap();
    cluster.kill9(victim);
    let recorded = |report: &StatusReport| {
        report.fencing.iter().any(|f| f.target == victim && f.ok)
            && report.nodes.iter().any(|n| n.name == victim && !n.online)
    };
    assert!(
        wait(5_000, || cluster.status(&dc).is_some_and(|r| recorded(&r))),
        "{victim}'s loss and fencing were not recorded: {:#?}\n{}",
        cluster.status(&dc),
        cluster.logs()
    );
    // Every resource runs on a survivor.
    let survivors: Vec<&str> = nodes.iter().copied().filter(|n| *n != victim).collect();
    settled(&cluster, &survivors);
    let log = std::fs::read_to_string(node_dir(cluster.path(), &dc).join("systole.log")).unwrap();
    assert!(
        !log.contains("stale term"),
        "the DC refused its own status write:\n{log}"
    );
}

#[test]
fn nodes_are_added_and_removed_under_a_stream_of_writes() {
    let cluster = Cluster::up(3, true);
    let socket: PathBuf = socket_path(cluster.path(), "node1");
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acknowledged, refused, stop) = (acknowledged.clone(), refused.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let change = CibChange::SetProperty {
                    name: format!("load-{i:05}"),
                    value: Some(i.to_string()),
                };
                match systole::cli::localcluster::modify(&socket, change) {
                    Ok(_) => acknowledged.lock().unwrap().push(i),
                    Err(e) => refused.lock().unwrap().push(format!("{i}: {e:#}")),
                }
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let addr = cluster.prepare_joiner("node4", &[]);
    cluster.cli_ok("node1", &["node", "add", "node4", "--addr", &addr]);
    cluster.spawn("node4", "daemon");
    assert!(
        wait(20_000, || cluster.voters("node1").contains(&"node4".into())),
        "node4 never became a voter: {:#?}\n{}",
        cluster.status("node1").and_then(|s| s.consensus),
        cluster.logs()
    );
    let during_add = acknowledged.lock().unwrap().len();
    // A node is removed once it has left (an online one is refused
    // without --force, so its resources are moved away first).
    cluster.stop("node2");
    assert!(
        wait(15_000, || cluster.status("node1").is_some_and(|report| {
            report.nodes.iter().any(|n| n.name == "node2" && !n.online)
        })),
        "node2 never shown offline\n{}",
        cluster.logs()
    );
    cluster.cli_ok("node1", &["node", "remove", "node2"]);
    assert!(wait(10_000, || !cluster
        .voters("node1")
        .contains(&"node2".into())));
    std::thread::sleep(Duration::from_millis(1_000));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    assert!(
        acknowledged.len() > during_add && during_add > 0,
        "writes stalled: {} before the removal, {} in all; refused: {refused:?}",
        during_add,
        acknowledged.len()
    );
    assert_eq!(cluster.voters("node1"), ["node1", "node3", "node4"]);
    // Neither the added node nor the one that left cleanly was fenced.
    let fencing = cluster.status("node1").unwrap().fencing;
    assert!(
        fencing.is_empty(),
        "fenced: {:#?}\n{}",
        fencing.first(),
        cluster.logs()
    );
    for node in ["node1", "node3", "node4"] {
        let complete = wait(10_000, || {
            cluster.cib(node).is_some_and(|cib| {
                acknowledged
                    .iter()
                    .all(|i| property(&cib, &format!("load-{i:05}")).is_some())
            })
        });
        assert!(complete, "{node} misses an acknowledged write");
    }
    eprintln!(
        "membership under load: {} writes acknowledged, {} refused",
        acknowledged.len(),
        refused.len()
    );
}
