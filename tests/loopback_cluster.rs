//! Real daemons on loopback: the `systole` binary, three nodes per test,
//! each test in its own directory, stopped and removed afterwards. At every
//! poll no primitive may be active on two nodes.

use std::process::Command;
use std::time::{Duration, Instant};
use systole::actors::control_socket::{self, ControlRequest, ControlResponse, StatusReport};

mod common;
use common::{TestCluster, BIN};

/// A node's supervision tree, as JSON.
fn actors(cluster: &TestCluster, node: &str) -> serde_json::Value {
    match control_socket::call(&cluster.socket(node), &ControlRequest::Actors, 3_000) {
        Ok(ControlResponse::Actors { tree, .. }) => serde_json::to_value(tree).unwrap(),
        other => panic!("actors: {other:?}"),
    }
}

fn all_started(report: &StatusReport) -> bool {
    report.dc.is_some()
        && !report.resources.is_empty()
        && report
            .resources
            .iter()
            .all(|r| r.nodes.len() == 1 && !r.failed)
}

/// Where each resource runs. Instances of an anonymous clone are
/// interchangeable (their numbers are the scheduler's bookkeeping, as in
/// Pacemaker), so a clone counts as the set of nodes it runs on.
fn placement(report: &StatusReport) -> Vec<(String, Vec<String>)> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    for r in &report.resources {
        let key = match (&r.parent, r.id.split_once(':')) {
            (Some(parent), Some(_)) => parent.clone(),
            _ => r.id.clone(),
        };
        out.entry(key).or_default().extend(r.nodes.iter().cloned());
    }
    out.into_iter()
        .map(|(id, mut nodes)| {
            nodes.sort();
            (id, nodes)
        })
        .collect()
}

#[test]
fn three_nodes_start_the_demo_resources_and_fail_over_a_killed_node() {
    let cluster = TestCluster::up(3);
    let report = cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let dc = report.dc.clone().unwrap();
    let victim = report
        .resources
        .iter()
        .filter(|r| r.id == "vip" || r.parent.as_deref() == Some("web"))
        .flat_map(|r| r.nodes.clone())
        .find(|n| *n != dc)
        .or_else(|| {
            report
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .find(|n| *n != dc)
        })
        .unwrap();
    let moved: Vec<String> = report
        .resources
        .iter()
        .filter(|r| r.nodes.contains(&victim) && r.parent.as_deref() != Some("ping-clone"))
        .map(|r| r.id.clone())
        .collect();
    cluster.kill9(&victim);
    let observer = if dc != victim {
        dc.clone()
    } else {
        "node1".into()
    };
    let after = cluster.wait(
        &observer,
        30_000,
        "resources of the killed node restarted elsewhere",
        |r| {
            r.fencing.iter().any(|f| f.target == victim && f.ok)
                && moved.iter().all(|id| {
                    r.resources
                        .iter()
                        .find(|x| &x.id == id)
                        .is_some_and(|x| x.nodes.len() == 1 && x.nodes[0] != victim)
                })
        },
    );
    assert!(!after.nodes.iter().any(|n| n.name == victim && n.online));
}

#[test]
fn killing_the_dc_elects_a_new_one_and_disturbs_no_resource() {
    let cluster = TestCluster::up(3);
    let before = cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let old_dc = before.dc.clone().unwrap();
    // What ran on the surviving nodes must still run there.
    let on_survivors: Vec<(String, Vec<String>)> = placement(&before)
        .into_iter()
        .map(|(id, nodes)| (id, nodes.into_iter().filter(|n| *n != old_dc).collect()))
        .collect();
    cluster.kill9(&old_dc);
    let observer = before
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .find(|n| *n != old_dc)
        .unwrap();
    let after = cluster.wait(&observer, 30_000, "a new DC", |r| {
        r.dc.as_ref().is_some_and(|d| *d != old_dc)
            && r.fencing.iter().any(|f| f.target == old_dc && f.ok)
    });
    let now = placement(&after);
    for (id, nodes) in &on_survivors {
        let current = now
            .iter()
            .find(|(x, _)| x == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        for node in nodes {
            assert!(
                current.contains(node),
                "{id} was disturbed on {node} by the DC's loss: now {current:?}"
            );
        }
    }
}

#[test]
fn every_actor_kind_restarts_after_an_injected_crash_and_resources_keep_running() {
    let cluster = TestCluster::up(3);
    let before = cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let node = before.dc.clone().unwrap();
    for actor in ["bus", "membership", "cib", "policy", "exec", "fence", "dc"] {
        let output = Command::new(BIN)
            .args(["actors", "kill", actor, "--dir"])
            .arg(cluster.path())
            .args(["--node", &node])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "actors kill {actor}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let tree = actors(&cluster, &node);
            let restarts = find_actor(&tree, actor)
                .and_then(|a| a["restarts"].as_u64())
                .unwrap_or(0);
            if restarts >= 1 {
                let failure = find_actor(&tree, actor).unwrap()["last_failure"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                assert!(
                    failure.contains("injected crash") || failure.contains("crashed"),
                    "{actor}: {failure}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{actor} shows no restart: {tree:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The node still works and nothing moved.
    let after = cluster.wait(&node, 10_000, "status after the crashes", all_started);
    assert_eq!(placement(&after), placement(&before));
    let tree = actors(&cluster, &node);
    assert_eq!(tree["state"], "running");
}

fn find_actor<'a>(tree: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    if tree["name"] == name && tree["kind"] == "actor" {
        return Some(tree);
    }
    tree["children"]
        .as_array()?
        .iter()
        .find_map(|c| find_actor(c, name))
}

#[test]
fn a_malformed_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "cluster_name = \"x\"\nnode_name = 7\n").unwrap();
    let output = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("node_name"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn debians_unmodified_heartbeat_dummy_runs_in_the_cluster() {
    assert!(
        std::path::Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").exists(),
        "needs Debian's resource-agents: apt-get install resource-agents"
    );
    let cluster = TestCluster::up(3);
    cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let element = systole::model::cib::xml::Element::parse(
        r#"<primitive id="debian-dummy" class="ocf" provider="heartbeat" type="Dummy">
             <operations><op id="debian-dummy-monitor" name="monitor" interval="2s" timeout="20s"/></operations>
           </primitive>"#,
    )
    .unwrap();
    let change = systole::actors::message::CibChange::Upsert {
        section: "resources".into(),
        element,
    };
    match control_socket::call(
        &cluster.socket("node2"),
        &ControlRequest::CibModify { change },
        10_000,
    ) {
        Ok(ControlResponse::Done(_)) => {}
        other => panic!("adding the resource: {other:?}"),
    }
    let report = cluster.wait("node1", 30_000, "debian-dummy started", |r| {
        r.resources.iter().any(|x| {
            x.id == "debian-dummy" && x.nodes.len() == 1 && x.agent == "ocf:heartbeat:Dummy"
        })
    });
    let node = report
        .resources
        .iter()
        .find(|x| x.id == "debian-dummy")
        .unwrap()
        .nodes[0]
        .clone();
    // Its own state file proves the agent really ran there.
    let run = cluster.path().join(&node).join("rsctmp");
    let found = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("debian-dummy"));
    assert!(found, "no state file of debian-dummy in {}", run.display());
}

#[test]
fn a_promotable_clone_of_our_stateful_agent_gets_one_promoted_instance() {
    let cluster = TestCluster::up(3);
    cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let element = systole::model::cib::xml::Element::parse(
        r#"<clone id="db-clone">
             <meta_attributes id="db-clone-meta">
               <nvpair id="db-clone-promotable" name="promotable" value="true"/>
               <nvpair id="db-clone-promoted-max" name="promoted-max" value="1"/>
             </meta_attributes>
             <primitive id="db" class="ocf" provider="systole" type="Stateful">
               <operations>
                 <op id="db-monitor-promoted" name="monitor" interval="3s" role="Promoted" timeout="20s"/>
                 <op id="db-monitor-unpromoted" name="monitor" interval="4s" role="Unpromoted" timeout="20s"/>
               </operations>
             </primitive>
           </clone>"#,
    )
    .unwrap();
    let change = systole::actors::message::CibChange::Upsert {
        section: "resources".into(),
        element,
    };
    match control_socket::call(
        &cluster.socket("node1"),
        &ControlRequest::CibModify { change },
        10_000,
    ) {
        Ok(ControlResponse::Done(_)) => {}
        other => panic!("adding the clone: {other:?}"),
    }
    // The agent sets its promotion score with crm_master (our shim), the
    // scheduler promotes the best instance, the rest stay unpromoted.
    cluster.wait(
        "node1",
        40_000,
        "one promoted and two unpromoted db instances",
        |r| {
            let db: Vec<_> = r
                .resources
                .iter()
                .filter(|x| x.parent.as_deref() == Some("db-clone"))
                .collect();
            db.len() == 3
                && db
                    .iter()
                    .filter(|x| x.role == "Promoted" && x.nodes.len() == 1)
                    .count()
                    == 1
                && db
                    .iter()
                    .filter(|x| x.role == "Unpromoted" && x.nodes.len() == 1)
                    .count()
                    == 2
        },
    );
}

#[test]
fn a_node_stopped_with_sigterm_hands_its_resources_over_without_being_fenced() {
    let cluster = TestCluster::up(3);
    let before = cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let dc = before.dc.clone().unwrap();
    let leaving = before
        .resources
        .iter()
        .filter(|r| r.parent.as_deref() != Some("ping-clone"))
        .flat_map(|r| r.nodes.clone())
        .find(|n| *n != dc)
        .expect("a non-DC node runs something");
    let moved: Vec<String> = before
        .resources
        .iter()
        .filter(|r| r.nodes.contains(&leaving) && r.parent.as_deref() != Some("ping-clone"))
        .map(|r| r.id.clone())
        .collect();
    let pid = systole::cli::localcluster::read_pid(&systole::cli::localcluster::pid_path(
        cluster.path(),
        &leaving,
    ))
    .unwrap();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let after = cluster.wait(
        &dc,
        30_000,
        "the leaving node's resources elsewhere and the node gone",
        |r| {
            !r.nodes.iter().any(|n| n.name == leaving && n.online)
                && moved.iter().all(|id| {
                    r.resources
                        .iter()
                        .any(|x| &x.id == id && x.nodes.len() == 1 && x.nodes[0] != leaving)
                })
        },
    );
    assert!(
        !after.fencing.iter().any(|f| f.target == leaving),
        "a cleanly stopped node must not be fenced: {:?}\n{}",
        after.fencing,
        cluster.logs(40)
    );
    // Its own resources were stopped before it left: nothing runs there.
    let run = cluster.path().join(&leaving).join("rsctmp");
    let left_behind: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != systole::os::rsctmp::BOOT_STAMP)
        .collect();
    assert!(
        left_behind.is_empty(),
        "resources left running on {leaving}: {left_behind:?}"
    );
}

#[test]
fn systole_fence_shuts_a_node_out_and_its_resources_move() {
    let cluster = TestCluster::up(3);
    let before = cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let dc = before.dc.clone().unwrap();
    let target = before
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .find(|n| *n != dc)
        .unwrap();
    let output = Command::new(BIN)
        .args(["fence", &target, "--dir"])
        .arg(cluster.path())
        .args(["--node", &dc])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "fence: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("fenced {target}")));
    let after = cluster.wait(
        &dc,
        30_000,
        "the fenced node out and everything running elsewhere",
        |r| {
            !r.nodes.iter().any(|n| n.name == target && n.online)
                && r.resources
                    .iter()
                    .filter(|x| x.parent.as_deref() != Some("ping-clone"))
                    .all(|x| x.nodes.len() == 1 && x.nodes[0] != target)
        },
    );
    assert!(after.fencing.iter().any(|f| f.target == target && f.ok));
    // The DC refuses to fence itself, with a clear error.
    let output = Command::new(BIN)
        .args(["fence", &dc, "--dir"])
        .arg(cluster.path())
        .args(["--node", &dc])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot fence itself"));
}

/// `systole ARGS --dir DIR`, its standard output.
fn cli(cluster: &TestCluster, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--dir")
        .arg(cluster.path())
        .output()
        .expect("systole runs");
    assert!(
        out.status.success(),
        "systole {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ids of the transitions the DC ran, oldest first.
fn transitions(cluster: &TestCluster) -> Vec<String> {
    cli(cluster, &["history"])
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Waits until a transition after `seen` completed and the cluster is idle
/// (no newer one for 2 s); returns the details of the transitions since.
fn settle_after(cluster: &TestCluster, seen: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids = transitions(cluster);
        let history = cli(cluster, &["history"]);
        if ids.len() > seen
            && history
                .lines()
                .last()
                .is_some_and(|l| l.contains("complete"))
        {
            std::thread::sleep(Duration::from_secs(2));
            let again = transitions(cluster);
            if again.len() == ids.len() {
                return ids[seen..]
                    .iter()
                    .map(|id| cli(cluster, &["history", "show", id]))
                    .collect();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no settled transition after {seen}:\n{history}\n{}",
            cluster.logs(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn changed_definitions_restart_or_reschedule_once_and_then_settle() {
    let cluster = TestCluster::up(3);
    cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let seen = transitions(&cluster).len();
    let idle = settle_after(&cluster, seen.saturating_sub(1));
    assert!(!idle.is_empty());
    let seen = transitions(&cluster).len();

    // A changed parameter restarts vip where it runs, once.
    cli(&cluster, &["resource", "update", "vip", "fake=1"]);
    let details = settle_after(&cluster, seen);
    assert!(
        details.contains("Restart") && details.contains("due to resource definition change"),
        "{details}"
    );
    assert!(
        details.contains("stop vip") && details.contains("start vip"),
        "{details}"
    );
    let seen = transitions(&cluster).len();

    // A changed monitor interval cancels the old monitor and starts the new
    // one; vip keeps running.
    cli(
        &cluster,
        &["resource", "update", "vip", "op", "monitor", "interval=7s"],
    );
    let details = settle_after(&cluster, seen);
    assert!(details.contains("cancel vip every"), "{details}");
    assert!(details.contains("monitor vip every 7000 ms"), "{details}");
    assert!(!details.contains("stop vip"), "{details}");
}

/// The transitions `node` knows, by the control socket.
fn history_of(
    cluster: &TestCluster,
    node: &str,
) -> Vec<systole::model::control::history::TransitionRecord> {
    match control_socket::call(&cluster.socket(node), &ControlRequest::History, 5_000) {
        Ok(ControlResponse::History { transitions, .. }) => transitions,
        other => panic!("history on {node}: {other:?}"),
    }
}

fn finished(
    history: &[systole::model::control::history::TransitionRecord],
) -> Vec<systole::model::control::history::TransitionRecord> {
    history
        .iter()
        .filter(|t| t.outcome.is_some())
        .cloned()
        .collect()
}

#[test]
fn the_history_is_on_every_node_and_survives_the_dc() {
    let cluster = TestCluster::up(3);
    let before = cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let dc = before.dc.clone().unwrap();
    // A failover: vip's state goes behind the cluster's back; its monitor
    // fails and the DC recovers it.
    let vip_node = before
        .resources
        .iter()
        .find(|r| r.id == "vip")
        .unwrap()
        .nodes[0]
        .clone();
    std::fs::remove_file(
        cluster
            .path()
            .join(&vip_node)
            .join("rsctmp/Dummy-vip.state"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let recovery = loop {
        let history = history_of(&cluster, &dc);
        let found = history.iter().find(|t| {
            t.cause.contains("vip")
                && t.outcome.as_deref() == Some("complete")
                && t.actions
                    .iter()
                    .any(|a| a.description.starts_with("start vip"))
        });
        if let Some(t) = found {
            break t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no vip recovery in {history:#?}\n{}",
            cluster.logs(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let start = recovery
        .actions
        .iter()
        .find(|a| a.description.starts_with("start vip"))
        .unwrap();
    assert_eq!(start.rc, Some(0));
    assert!(start.node.is_some());
    let (begun, ended) = (
        start.started_epoch_ms.unwrap(),
        start.ended_epoch_ms.unwrap(),
    );
    assert!(begun <= ended, "{start:?}");
    // Every node answers the same finished transitions.
    let others: Vec<String> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| n.to_string())
        .filter(|n| *n != dc)
        .collect();
    let upto = |h: Vec<systole::model::control::history::TransitionRecord>| -> Vec<_> {
        finished(&h)
            .into_iter()
            .filter(|t| t.id <= recovery.id)
            .collect()
    };
    let known = upto(history_of(&cluster, &dc));
    assert!(known.len() >= 2, "{known:#?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in &others {
        loop {
            let theirs = upto(history_of(&cluster, node));
            if theirs == known {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{node} has {theirs:#?}\nthe DC {known:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // The DC dies; a survivor, and the new DC, still know what it did.
    cluster.kill9(&dc);
    let survivor = others[0].clone();
    let after = cluster.wait(&survivor, 30_000, "a new DC", |r| {
        r.dc.as_ref().is_some_and(|d| *d != dc)
    });
    let new_dc = after.dc.clone().unwrap();
    for node in [&survivor, &new_dc] {
        let history = history_of(&cluster, node);
        for old in &known {
            let kept = history.iter().find(|t| t.id == old.id);
            assert_eq!(
                kept,
                Some(old),
                "{node} lost or changed transition {}",
                old.id
            );
        }
        assert!(
            history.iter().any(|t| t.dc == dc),
            "{node}: no transition by {dc}"
        );
    }
    // The CLI answers on any node, with the earlier DC's transitions.
    let out = Command::new(BIN)
        .args(["history", "--dir"])
        .arg(cluster.path())
        .args(["--node", &survivor])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("dc {dc}")) && text.contains(&recovery.id.to_string()),
        "{text}"
    );
}

#[test]
fn report_gathers_cib_history_settings_and_every_nodes_log_without_the_key() {
    let cluster = TestCluster::up(3);
    cluster.wait("node1", 30_000, "all demo resources started", all_started);
    let out = cluster.path().join("report.tar.gz");
    let run = Command::new(BIN)
        .args(["report", "--from", "-10m", "--out"])
        .arg(&out)
        .arg("--dir")
        .arg(cluster.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let file = std::fs::File::open(&out).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut members = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        let name = path.split_once('/').unwrap().1.to_string();
        members.insert(name, bytes);
    }
    let mut expected = vec!["README.txt", "cib.xml", "history.json", "status.txt"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    for node in ["node1", "node2", "node3"] {
        expected.push(format!("{node}/systole.log"));
        expected.push(format!("{node}/systole.toml"));
    }
    expected.sort();
    assert_eq!(members.keys().cloned().collect::<Vec<_>>(), expected);
    let text = |name: &str| String::from_utf8_lossy(&members[name]).into_owned();
    assert!(text("cib.xml").contains("<primitive id=\"vip\""));
    let history: Vec<systole::model::control::history::TransitionRecord> =
        serde_json::from_slice(&members["history.json"]).unwrap();
    assert!(history.iter().any(|t| t
        .actions
        .iter()
        .any(|a| a.description.starts_with("start vip"))));
    for node in ["node1", "node2", "node3"] {
        let log = text(&format!("{node}/systole.log"));
        assert!(log.contains("membership view"), "{node}'s log: {log}");
        assert!(text(&format!("{node}/systole.toml")).contains(&format!("node_name = \"{node}\"")));
    }
    assert!(
        text("README.txt").contains("node2: log from file"),
        "{}",
        text("README.txt")
    );
    // The cluster's key is in no member, in any form.
    let key = std::fs::read(cluster.path().join("authkey")).unwrap();
    let key_text = String::from_utf8_lossy(&key).trim().to_string();
    for (name, bytes) in &members {
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_slice()),
            "the key is in {name}"
        );
        if key_text.len() >= 16 {
            assert!(
                !String::from_utf8_lossy(bytes).contains(&key_text),
                "the key is in {name}"
            );
        }
    }
}
