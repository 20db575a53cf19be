//! The CIB's promises, on real daemons over loopback: an acknowledged
//! update is never lost (not even with the DC killed mid-stream), a
//! whole-cluster restart keeps the configuration, and a damaged CIB file is
//! set aside and replaced.

use std::path::Path;
use std::process::Command;
use systole::actors::message::CibChange;
use systole::cli::localcluster::{nodes_in, pid_path, read_pid, LocalCluster};
use systole::model::cib::xml::Element;

mod common;
use common::{wait_until as wait, BIN};

/// A cluster in its own temporary directory, stopped and removed on drop.
struct Cluster {
    cluster: LocalCluster,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn up(nodes: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let cluster = LocalCluster::up(Path::new(BIN), dir.path(), nodes, true)
            .unwrap_or_else(|e| panic!("{e:#}"));
        Cluster { cluster, _dir: dir }
    }

    fn start(&self, nodes: usize) {
        self.cluster
            .start(nodes, true)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    fn down(&self) {
        self.cluster.down();
    }

    fn path(&self) -> &Path {
        self.cluster.dir()
    }

    fn cib(&self, node: &str) -> Option<Element> {
        self.cluster.cib(node)
    }

    fn dc(&self, node: &str) -> Option<String> {
        self.cluster.status(node).and_then(|s| s.dc)
    }

    fn set_property(&self, node: &str, name: &str, value: &str) -> bool {
        let change = CibChange::SetProperty {
            name: name.into(),
            value: Some(value.into()),
        };
        self.cluster.modify(node, change).is_ok()
    }
}

fn property(cib: &Element, name: &str) -> Option<String> {
    let mut found = None;
    cib.walk(&mut |e| {
        if e.name == "nvpair" && e.attr("name") == Some(name) {
            found = e.attr("value").map(str::to_string);
        }
    });
    found
}

#[test]
fn acknowledged_updates_survive_the_dc_being_killed_mid_stream() {
    let cluster = Cluster::up(3);
    let nodes = nodes_in(cluster.path());
    let dc = cluster.dc(&nodes[0]).expect("a DC");
    let mut acknowledged = Vec::new();
    let mut killed = false;
    for i in 0..60 {
        // Updates come in through every node in turn.
        let via = &nodes[i % nodes.len()];
        if killed && *via == dc {
            continue;
        }
        if cluster.set_property(via, &format!("update-{i:03}"), &i.to_string()) {
            acknowledged.push(i);
        }
        if i == 20 {
            let pid = read_pid(&pid_path(cluster.path(), &dc)).unwrap();
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
    }
    assert!(
        acknowledged.len() > 30,
        "too few updates went through: {acknowledged:?}\n{}",
        cluster.cluster.logs(40)
    );
    let survivors: Vec<&String> = nodes.iter().filter(|n| **n != dc).collect();
    let all_present = |node: &str| {
        cluster.cib(node).is_some_and(|cib| {
            acknowledged.iter().all(|i| {
                property(&cib, &format!("update-{i:03}")).as_deref() == Some(i.to_string().as_str())
            })
        })
    };
    assert!(
        wait(15_000, || survivors.iter().all(|n| all_present(n))),
        "an acknowledged update is missing on a survivor"
    );
    // In order: the configuration epoch grew with every update, so the
    // survivors agree on one version.
    let versions: Vec<_> = survivors
        .iter()
        .map(|n| systole::model::cib::store::version(&cluster.cib(n).unwrap()))
        .collect();
    assert!(versions
        .windows(2)
        .all(|w| (w[0].admin_epoch, w[0].epoch) == (w[1].admin_epoch, w[1].epoch)));
}

#[test]
fn a_whole_cluster_restart_keeps_the_configuration() {
    let cluster = Cluster::up(3);
    assert!(cluster.set_property("node2", "kept-across-restart", "yes"));
    cluster.down();
    cluster.start(3);
    assert!(wait(10_000, || {
        nodes_in(cluster.path()).iter().all(|n| {
            cluster
                .cib(n)
                .is_some_and(|c| property(&c, "kept-across-restart").as_deref() == Some("yes"))
        })
    }));
}

#[test]
fn a_damaged_log_keeps_its_node_out_until_it_is_wiped_and_added_again() {
    let cluster = Cluster::up(3);
    assert!(cluster.set_property("node1", "before-damage", "1"));
    let node = "node3";
    let pid = read_pid(&pid_path(cluster.path(), node)).unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Damage a record in the middle of node3's log, with a good one after.
    let wal = cluster.path().join(node).join("state/raft/wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let good = bytes.clone();
    bytes[10] ^= 0xff;
    bytes.extend_from_slice(&good);
    std::fs::write(&wal, &bytes).unwrap();
    // The two others are a majority: changes go on.
    assert!(wait(5_000, || cluster.set_property(
        "node1",
        "while-away",
        "1"
    )));
    let restart = |log: &str| {
        Command::new(BIN)
            .args(["daemon", "--config"])
            .arg(cluster.path().join(node).join("systole.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(cluster.path().join(node).join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let mut first = restart("restart.log");
    // It refuses to take part, and says why.
    assert!(
        wait(10_000, || cluster
            .cluster
            .status(node)
            .and_then(|s| s.consensus)
            .and_then(|c| c.disk_error)
            .is_some_and(|e| e.contains("damaged"))),
        "node3 does not report its damaged log"
    );
    let refused = Command::new(BIN)
        .args(["property", "set", "from-node3=1", "--force", "--dir"])
        .arg(cluster.path())
        .args(["--node", node])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("disk failed"));
    // The operator's way back: remove it, wipe it, add it again.
    first.kill().unwrap();
    first.wait().unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--dir")
            .arg(cluster.path())
            .args(["--node", "node1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert!(wait(5_000, || !cluster
        .cluster
        .status("node1")
        .is_some_and(|s| s
            .nodes
            .iter()
            .any(|n| n.name == node && n.online))));
    cli(&["node", "remove", node]);
    std::fs::remove_dir_all(cluster.path().join(node).join("state")).unwrap();
    std::fs::create_dir_all(cluster.path().join(node).join("state")).unwrap();
    // A re-added node does not found a cluster of its own.
    let config = cluster.path().join(node).join("systole.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("initial_voters").unwrap();
    let end = start + text[start..].find(']').unwrap() + 1;
    std::fs::write(&config, format!("{}{}", &text[..start], &text[end..])).unwrap();
    cli(&["node", "add", node]);
    let mut rejoined = restart("rejoin.log");
    assert!(
        wait(15_000, || cluster.cib(node).is_some_and(|c| {
            property(&c, "before-damage").is_some() && property(&c, "while-away").is_some()
        })),
        "node3 did not catch up after being added again"
    );
    assert!(
        wait(10_000, || cluster
            .cluster
            .status("node1")
            .and_then(|s| s.consensus)
            .is_some_and(|c| c.voters.contains(&node.to_string()))),
        "node3 was not promoted to voter"
    );
    cluster.down();
    rejoined.wait().unwrap();
}
