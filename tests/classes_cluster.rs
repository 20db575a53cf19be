//! Real daemons on loopback running what real clusters run: every resource
//! class (ocf, lsb, systemd, service), Debian's unmodified ping, ethmonitor
//! and HealthCPU agents setting node attributes through attrd_updater, node
//! health emptying a node, failures in both status forms, fencing devices
//! chosen by their host lists, manual fencing confirmation, and a clean stop.
//! Each test has its own directory and cluster, stopped on drop.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use systole::actors::control_socket::{self, ControlRequest, ControlResponse, StatusReport};
use systole::actors::message::CibChange;
use systole::cli::localcluster::LocalCluster;
use systole::model::cib::operation::OpKind;
use systole::model::cib::xml::Element;

#[path = "support/private_systemd.rs"]
mod private_systemd;
use private_systemd::PrivateSystemd;

mod common;
use common::{TestCluster, BIN};

/// An init script whose state is its node's own (next to its init.d), so
/// three "machines" on one host do not share it.
const INIT_SCRIPT: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides: systole-test
# Short-Description: a test service with LSB exit codes
### END INIT INFO
state="$(dirname "$0")/../lsb-state"
mkdir -p "$state"
case "$1" in
    start) touch "$state/running"; exit 0 ;;
    stop) rm -f "$state/running"; exit 0 ;;
    status) [ -f "$state/running" ] && exit 0; exit 3 ;;
    *) echo "usage: $0 start|stop|status"; exit 2 ;;
esac
"#;

/// A cluster of `nodes` with no resources; `agents` gives settings of
/// each node's `[agents]` table before the daemons start.
fn up(nodes: usize, agents: impl Fn(&Path) -> Vec<(&'static str, String)>) -> TestCluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = systole::cli::localcluster::prepare(dir.path(), nodes).unwrap();
    for config in configs {
        let home = config.parent().unwrap();
        let mut table: toml::Table =
            toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        let section = table
            .entry("agents")
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .unwrap();
        for (key, value) in agents(home) {
            section.insert(key.to_string(), toml::Value::String(value));
        }
        std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    }
    TestCluster::start(dir, nodes, true)
}

fn resource(xml: &str) -> CibChange {
    CibChange::Upsert {
        section: "resources".into(),
        element: Element::parse(xml).unwrap(),
    }
}

fn constraint(xml: &str) -> CibChange {
    CibChange::Upsert {
        section: "constraints".into(),
        element: Element::parse(xml).unwrap(),
    }
}

fn property(name: &str, value: &str) -> CibChange {
    CibChange::SetProperty {
        name: name.into(),
        value: Some(value.into()),
    }
}

fn runs(report: &StatusReport, id: &str) -> Option<String> {
    report
        .resources
        .iter()
        .find(|r| r.id == id && !r.failed)
        .and_then(|r| r.nodes.first().cloned())
}

#[test]
fn every_class_runs_and_a_monitor_failure_shows_in_both_status_forms() {
    let scratch = tempfile::tempdir().unwrap();
    let unit = |description: &str| {
        format!("[Unit]\nDescription={description}\n[Service]\nExecStart=/bin/sleep 600\n")
    };
    let systemd = PrivateSystemd::start(
        scratch.path(),
        &[
            ("systole-test-a.service", &unit("unit a")),
            ("systole-test-b.service", &unit("unit b")),
        ],
    )
    .unwrap_or_else(|e| panic!("cannot start a private systemd: {e}"));
    let (bus, units) = (systemd.bus_address(), systemd.unit_dir());
    let cluster = up(3, |home| {
        let init = home.join("init.d");
        std::fs::create_dir_all(&init).unwrap();
        let script = init.join("systole-test");
        std::fs::write(&script, INIT_SCRIPT).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        vec![
            ("lsb_dir", init.display().to_string()),
            ("systemd_bus", bus.clone()),
            ("systemd_dropin_dir", units.display().to_string()),
        ]
    });
    cluster.modify("node1", property("stonith-enabled", "false"));
    let op = |id: &str| {
        format!(
            r#"<operations><op id="{id}-mon" name="monitor" interval="2s" timeout="20s"/></operations>"#
        )
    };
    cluster.modify("node1", resource(&format!(
        r#"<primitive id="ocf-dummy" class="ocf" provider="systole" type="Dummy">{}</primitive>"#,
        op("ocf-dummy")
    )));
    cluster.modify(
        "node1",
        resource(&format!(
            r#"<primitive id="lsb-test" class="lsb" type="systole-test">{}</primitive>"#,
            op("lsb-test")
        )),
    );
    // One systemd serves all three "machines" here, so each unit is
    // looked for (probed) and run only where it is put.
    cluster.modify(
        "node1",
        resource(&format!(
            r#"<primitive id="unit-a" class="systemd" type="systole-test-a">{}</primitive>"#,
            op("unit-a")
        )),
    );
    cluster.modify(
        "node1",
        resource(&format!(
            r#"<primitive id="unit-b" class="service" type="systole-test-b">{}</primitive>"#,
            op("unit-b")
        )),
    );
    for (id, node) in [("unit-a", "node1"), ("unit-b", "node2")] {
        cluster.modify("node1", constraint(&format!(
            r#"<rsc_location id="only-{id}" rsc="{id}" node="{node}" score="INFINITY" resource-discovery="exclusive"/>"#
        )));
    }
    let report = cluster.wait("node1", 60_000, "every class started", |r| {
        ["ocf-dummy", "lsb-test", "unit-a", "unit-b"]
            .iter()
            .all(|id| runs(r, id).is_some())
    });
    assert_eq!(runs(&report, "unit-a").as_deref(), Some("node1"));
    assert_eq!(runs(&report, "unit-b").as_deref(), Some("node2"));
    for unit in ["systole-test-a", "systole-test-b"] {
        assert_eq!(
            systemd.systemctl(&["is-active", unit]).trim(),
            "active",
            "{unit}"
        );
    }
    // The init script runs on one node: its state is there only.
    let lsb_node = runs(&report, "lsb-test").unwrap();
    let state = |node: &str| cluster.path().join(node).join("lsb-state/running");
    assert!(state(&lsb_node).exists());
    // The service stops behind the cluster's back: its monitor fails, and
    // both status forms say so.
    std::fs::remove_file(state(&lsb_node)).unwrap();
    let failed = cluster.wait("node1", 30_000, "the lsb monitor failure recorded", |r| {
        r.failed_actions
            .iter()
            .any(|a| a.resource == "lsb-test" && a.operation == OpKind::Monitor)
    });
    let action = failed
        .failed_actions
        .iter()
        .find(|a| a.resource == "lsb-test")
        .unwrap();
    assert_eq!((action.rc, action.rc_text.as_str()), (7, "not running"));
    assert_eq!(action.node, lsb_node);
    assert_eq!(action.interval_ms, 2_000);
    assert!(action.last_rc_change > 1_700_000_000);
    let json = cluster.run_ok(None, &["status", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let actions = value["failed_actions"].as_array().unwrap();
    assert!(actions.iter().any(|a| a["resource"] == "lsb-test"
        && a["operation"] == "monitor"
        && a["interval_ms"] == 2000
        && a["rc"] == 7
        && a["rc_text"] == "not running"
        && a["exit_reason"].is_string()
        && a["last_rc_change"].as_i64().unwrap() > 0));
    let lsb = value["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "lsb-test")
        .unwrap();
    assert_eq!(lsb["fail_counts"][&lsb_node], 1, "{lsb}");
    assert_eq!(lsb["failed"], true);
    let text = cluster.run_ok(None, &["status"]);
    assert!(text.contains("Failed Resource Actions:"), "{text}");
    assert!(
        text.contains(&format!(
            "* lsb-test_monitor_2000 on {lsb_node} 'not running' (7)"
        )),
        "{text}"
    );
    assert!(text.contains("Migration Summary:"), "{text}");
    assert!(text.contains("* lsb-test: fail-count=1"), "{text}");
    // The cluster recovered it (stop, start), and a cleanup forgets it.
    cluster.wait("node1", 30_000, "lsb-test running again", |r| {
        r.resources
            .iter()
            .any(|x| x.id == "lsb-test" && x.nodes.len() == 1)
    });
    cluster.run_ok(None, &["resource", "cleanup", "lsb-test"]);
    cluster.wait("node1", 30_000, "the failure cleaned up", |r| {
        !r.failed_actions.iter().any(|a| a.resource == "lsb-test")
    });
    // A deleted resource disappears from status once stopped.
    cluster.run_ok(None, &["resource", "delete", "ocf-dummy"]);
    cluster.wait("node1", 30_000, "ocf-dummy gone from status", |r| {
        !r.resources.iter().any(|x| x.id == "ocf-dummy")
    });
    // Stopping the systemd resources stops the units.
    cluster.run_ok(None, &["resource", "disable", "unit-a", "unit-b"]);
    cluster.wait("node1", 30_000, "the units stopped", |r| {
        r.resources
            .iter()
            .filter(|x| x.id.starts_with("unit-"))
            .all(|x| x.nodes.is_empty())
    });
    for unit in ["systole-test-a", "systole-test-b"] {
        assert_ne!(
            systemd.systemctl(&["is-active", unit]).trim(),
            "active",
            "{unit}"
        );
    }
    drop(cluster);
}

#[test]
fn debians_ping_ethmonitor_and_healthcpu_set_attributes_and_red_health_empties_a_node() {
    for agent in [
        "pacemaker/ping",
        "pacemaker/HealthCPU",
        "heartbeat/ethmonitor",
    ] {
        assert!(
            Path::new("/usr/lib/ocf/resource.d").join(agent).exists(),
            "{agent} is missing: apt-get install resource-agents pacemaker-resource-agents"
        );
    }
    let cluster = up(3, |_| Vec::new());
    cluster.modify("node1", property("stonith-enabled", "false"));
    cluster.modify("node1", property("node-health-strategy", "migrate-on-red"));
    // Health agents must keep running on an unhealthy node: that is where
    // they report from.
    let clone = |id: &str, agent: &str, params: &str, interval: &str| {
        format!(
            r#"<clone id="{id}-clone"><meta_attributes id="{id}-clone-meta"><nvpair id="{id}-au" name="allow-unhealthy-nodes" value="true"/></meta_attributes>
               <primitive id="{id}" class="ocf" provider="{agent}"><instance_attributes id="{id}-params">{params}</instance_attributes>
               <operations><op id="{id}-mon" name="monitor" interval="{interval}" timeout="30s"/></operations></primitive></clone>"#
        )
    };
    let nv = |id: &str, name: &str, value: &str| {
        format!(r#"<nvpair id="{id}-{name}" name="{name}" value="{value}"/>"#)
    };
    let ping_params = [
        nv("ping", "host_list", "127.0.0.1"),
        nv("ping", "dampen", "1s"),
        nv("ping", "multiplier", "1000"),
    ]
    .concat();
    let ping = clone("ping", r#"pacemaker" type="ping"#, &ping_params, "3s");
    cluster.modify("node1", resource(&ping));
    let health_params = [nv("cpu", "red_limit", "0"), nv("cpu", "yellow_limit", "0")].concat();
    cluster.modify(
        "node1",
        resource(&clone(
            "cpu",
            r#"pacemaker" type="HealthCPU"#,
            &health_params,
            "2s",
        )),
    );
    let eth_params = nv("eth", "interface", "lo");
    cluster.modify(
        "node1",
        resource(&clone(
            "eth",
            r#"heartbeat" type="ethmonitor"#,
            &eth_params,
            "3s",
        )),
    );
    cluster.modify("node1", resource(
        r#"<primitive id="web" class="ocf" provider="systole" type="Dummy"><operations><op id="web-mon" name="monitor" interval="2s" timeout="20s"/></operations></primitive>"#,
    ));
    // ping's score: 1000 per host reached, on every node.
    let report = cluster.wait("node2", 60_000, "pingd on every node", |r| {
        r.nodes
            .iter()
            .all(|n| n.attributes.get("pingd").map(String::as_str) == Some("1000"))
    });
    assert!(report.nodes.iter().all(|n| n.online));
    // ethmonitor reports its interface; HealthCPU (dampened 30 s by the
    // agent itself) reports green.
    cluster.wait(
        "node2",
        90_000,
        "ethmonitor-lo and #health-cpu everywhere",
        |r| {
            r.nodes.iter().all(|n| {
                n.attributes.contains_key("ethmonitor-lo")
                    && n.attributes.get("#health-cpu").map(String::as_str) == Some("green")
            })
        },
    );
    let text = cluster.run_ok(None, &["status"]);
    assert!(
        text.contains("Node Attributes:") && text.contains("pingd"),
        "{text}"
    );
    // The agents' own view of the cluster, through the tools they call.
    let node = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("SYSTOLE_SOCKET", cluster.socket("node2"))
            .env("SYSTOLE_NODE", "node2")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(node(&["crm-node", "-n"]), "node2\n");
    assert_eq!(node(&["crm-node", "-p"]), "node1 node2 node3\n");
    assert!(node(&["crm-node", "-l"]).contains("node3 node3 member"));
    assert_eq!(
        node(&["attrd-updater", "-Q", "-n", "pingd", "-q"]),
        "1000\n"
    );
    let web_node = runs(&cluster.cluster.status("node1").unwrap(), "web").unwrap();
    assert_eq!(
        node(&["crm-resource", "--locate", "-r", "web"]),
        format!("resource web is running on: {web_node}\n")
    );
    // A red health attribute on web's node, set as an agent sets it:
    // everything but the health agents leaves that node.
    node(&[
        "attrd-updater",
        "-N",
        &web_node,
        "-n",
        "#health-disk",
        "-U",
        "red",
    ]);
    let after = cluster.wait("node1", 30_000, "web off the red node", |r| {
        runs(r, "web").is_some_and(|n| n != web_node)
    });
    for r in after
        .resources
        .iter()
        .filter(|r| r.nodes.contains(&web_node))
    {
        assert!(
            ["ping", "cpu", "eth"].contains(&r.id.split(':').next().unwrap()),
            "{} still on the red node {web_node}",
            r.id
        );
    }
    // Dampening: a change waits out its delay before it is written.
    node(&[
        "attrd-updater",
        "-N",
        &web_node,
        "-n",
        "#health-disk",
        "-U",
        "green",
        "-d",
        "3s",
    ]);
    std::thread::sleep(Duration::from_millis(1_000));
    let status = cluster.cluster.status("node1").unwrap();
    let attrs = &status
        .nodes
        .iter()
        .find(|n| n.name == web_node)
        .unwrap()
        .attributes;
    assert_eq!(attrs.get("#health-disk").map(String::as_str), Some("red"));
    assert_eq!(
        node(&[
            "attrd-updater",
            "-Q",
            "-N",
            &web_node,
            "-n",
            "#health-disk",
            "-q"
        ]),
        "green\n"
    );
    cluster.wait("node1", 15_000, "the dampened green written", |r| {
        r.nodes.iter().any(|n| {
            n.name == web_node
                && n.attributes.get("#health-disk").map(String::as_str) == Some("green")
        })
    });
}

#[test]
fn host_lists_choose_the_device_and_a_manual_fence_is_confirmed() {
    let cluster = up(5, |_| Vec::new());
    // The DC (Raft's leader: any node) watches; two others are the victims.
    let dc = cluster
        .wait("node1", 30_000, "a DC", |r| r.dc.is_some())
        .dc
        .unwrap();
    let others: Vec<String> = (1..=5)
        .map(|i| format!("node{i}"))
        .filter(|n| *n != dc)
        .collect();
    let (home, a, b) = (dc.as_str(), others[0].as_str(), others[1].as_str());
    let dir = cluster.path().display().to_string();
    cluster.modify("node1", property("stonith-enabled", "true"));
    let device = |id: &str, pid_dir: &str, hosts: &str| {
        resource(&format!(
            r#"<primitive id="{id}" class="stonith" type="fence_systole_local">
                 <meta_attributes id="{id}-meta"><nvpair id="{id}-mt" name="migration-threshold" value="1"/></meta_attributes>
                 <instance_attributes id="{id}-params">
                   <nvpair id="{id}-pid_dir" name="pid_dir" value="{pid_dir}"/>
                   <nvpair id="{id}-hosts" name="pcmk_host_list" value="{hosts}"/>
                 </instance_attributes>
                 <operations><op id="{id}-mon" name="monitor" interval="3s" timeout="20s"/></operations>
               </primitive>"#
        ))
    };
    // fence-2 can fence a; fence-3 is the only one for b, and broken (its
    // pid_dir does not exist), which its monitor shows.
    cluster.modify("node1", device("fence-2", &dir, a));
    cluster.modify("node1", device("fence-3", &format!("{dir}/nonexistent"), b));
    cluster.modify("node1", resource(
        r#"<primitive id="web" class="ocf" provider="systole" type="Dummy"><operations><op id="web-mon" name="monitor" interval="2s" timeout="20s"/></operations></primitive>"#,
    ));
    cluster.modify(
        "node1",
        constraint(&format!(
            r#"<rsc_location id="web-on-b" rsc="web" node="{b}" score="100"/>"#
        )),
    );
    cluster.modify(
        "node1",
        constraint(&format!(
            r#"<rsc_location id="web-then-home" rsc="web" node="{home}" score="50"/>"#
        )),
    );
    let report = cluster.wait(home, 30_000, "web on b, fence-3's monitor failed", |r| {
        runs(r, "web").as_deref() == Some(b)
            && r.failed_actions
                .iter()
                .any(|a| a.resource == "fence-3" && a.operation == OpKind::Monitor)
    });
    let broken = report
        .failed_actions
        .iter()
        .find(|a| a.resource == "fence-3")
        .unwrap();
    assert!(broken.exit_reason.contains("pid_dir"), "{broken:?}");
    // Killing a: only fence-2 may fence it, and does.
    cluster.cluster.kill9(a);
    let after = cluster.wait(home, 30_000, "a fenced", |r| {
        r.fencing.iter().any(|f| f.target == a && f.ok)
    });
    let record = after
        .fencing
        .iter()
        .find(|f| f.target == a && f.ok)
        .unwrap();
    assert!(record.detail.starts_with("fence-2: ok"), "{record:?}");
    assert!(!record.detail.contains("fence-3:"), "{record:?}");
    // Killing b: fence-3 cannot do it, so web stays put...
    cluster.cluster.kill9(b);
    cluster.wait(home, 30_000, "fencing b failed", |r| {
        r.fencing.iter().any(|f| f.target == b && !f.ok)
    });
    let stuck = cluster.cluster.status(home).unwrap();
    assert!(
        runs(&stuck, "web").is_none_or(|n| n != home),
        "web must wait for fencing"
    );
    // ...until an operator who powered node3 off says so.
    let common::CliOutput {
        ok, stderr: err, ..
    } = cluster.run(None, &["fence", "confirm", home, "--node", home]);
    assert!(
        !ok && err.contains("member"),
        "confirming a member must be refused: {err}"
    );
    let confirmed = cluster.run_ok(None, &["fence", "confirm", b, "--node", home]);
    assert!(
        confirmed.contains(&format!("{b} recorded as off")),
        "{confirmed}"
    );
    let moved = cluster.wait(home, 30_000, "web home after the confirmation", |r| {
        runs(r, "web").as_deref() == Some(home)
    });
    let manual = moved
        .fencing
        .iter()
        .rev()
        .find(|f| f.target == b && f.ok)
        .unwrap();
    assert!(
        manual.detail.contains("confirmed off by hand"),
        "{manual:?}"
    );
    // Fencing levels from the command line.
    cluster.run_ok(
        None,
        &["fence", "level", "add", "1", a, "fence-2", "--node", home],
    );
    let levels = cluster.run_ok(None, &["fence", "level", "list", "--node", home]);
    assert_eq!(levels, format!("Target: {a}\n  Level 1 - fence-2\n"));
    cluster.run_ok(None, &["fence", "level", "remove", "1", "--node", home]);
}

#[test]
fn cluster_stop_moves_a_nodes_resources_away_without_fencing() {
    let cluster = up(3, |_| Vec::new());
    let dir = cluster.path().display().to_string();
    cluster.modify("node1", property("stonith-enabled", "true"));
    cluster.modify("node1", resource(&format!(
        r#"<primitive id="fence" class="stonith" type="fence_systole_local"><instance_attributes id="fp"><nvpair id="fp-d" name="pid_dir" value="{dir}"/></instance_attributes></primitive>"#
    )));
    for id in ["a", "b", "c"] {
        cluster.modify("node1", resource(&format!(
            r#"<primitive id="{id}" class="ocf" provider="systole" type="Dummy"><operations><op id="{id}-mon" name="monitor" interval="2s" timeout="20s"/></operations></primitive>"#
        )));
    }
    let before = cluster.wait("node1", 30_000, "a, b, c running", |r| {
        ["a", "b", "c"].iter().all(|id| runs(r, id).is_some())
    });
    // Which agents there are, what they take, and a create checked against it.
    let listed = cluster.run_ok(None, &["resource", "agents", "ocf:systole"]);
    assert!(listed.lines().any(|l| l == "ocf:systole:Dummy"), "{listed}");
    let stonith = cluster.run_ok(None, &["resource", "agents", "stonith"]);
    assert!(stonith.contains("stonith:fence_systole_local"), "{stonith}");
    let described = cluster.run_ok(
        None,
        &["resource", "describe", "stonith:fence_systole_local"],
    );
    assert!(
        described.contains("pid_dir (string, required)"),
        "{described}"
    );
    assert!(described.contains("pcmk_host_list"), "{described}");
    let common::CliOutput {
        ok, stderr: err, ..
    } = cluster.run(
        None,
        &[
            "resource",
            "create",
            "f2",
            "stonith:fence_systole_local",
            "pid_dri=/x",
        ],
    );
    assert!(!ok, "an unknown parameter must be refused");
    assert!(err.contains("has no parameter 'pid_dri'"), "{err}");
    assert!(
        err.contains(
            "requires parameter 'pid_dir': Local cluster directory holding NODE/systole.pid"
        ),
        "the agent's own words: {err}"
    );
    let common::CliOutput {
        ok, stderr: err, ..
    } = cluster.run(None, &["resource", "create", "x", "ocf:nobody:Nothing"]);
    assert!(!ok && err.contains("nothing created"), "{err}");
    cluster.run_ok(
        None,
        &[
            "resource",
            "create",
            "f2",
            "stonith:fence_systole_local",
            "pid_dri=/x",
            "--force",
            "--disabled",
        ],
    );
    let leaving = ["node2", "node3"]
        .into_iter()
        .find(|n| {
            before
                .resources
                .iter()
                .any(|r| r.nodes.iter().any(|x| x == n) && r.id != "fence")
        })
        .expect("node2 or node3 runs something");
    // Asked through the CIB, as `cluster stop --node N` does for a real
    // node: the node moves its resources away, then leaves.
    let out = Command::new(BIN)
        .args(["cluster", "stop", "--node", leaving])
        .env("SYSTOLE_SOCKET", cluster.socket("node1"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = cluster.wait(
        "node1",
        40_000,
        "the node gone, its resources elsewhere",
        |r| {
            r.nodes.iter().any(|n| n.name == leaving && !n.online)
                && ["a", "b", "c"]
                    .iter()
                    .all(|id| runs(r, id).is_some_and(|n| n != leaving))
        },
    );
    assert!(
        !after.fencing.iter().any(|f| f.target == leaving),
        "a node stopped cleanly must not be fenced: {:?}",
        after.fencing
    );
    // Its agents' state is its own and empty: nothing was left running.
    let rsctmp = cluster.path().join(leaving).join("rsctmp");
    let left: Vec<_> = std::fs::read_dir(&rsctmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n != systole::os::rsctmp::BOOT_STAMP)
        .collect();
    assert!(left.is_empty(), "left running on {leaving}: {left:?}");
    let pid = systole::cli::localcluster::read_pid(&systole::cli::localcluster::pid_path(
        cluster.path(),
        leaving,
    ));
    assert!(
        pid.is_none_or(|p| !systole::cli::localcluster::alive(p)),
        "the daemon exited"
    );
    let _ = control_socket::call(&cluster.socket("node1"), &ControlRequest::Ping, 1_000)
        .map(|r| matches!(r, ControlResponse::Pong { .. }));
}

#[test]
fn the_daemon_speaks_sd_notify_and_status_watch_redraws_on_change() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify");
    let notifications = UnixDatagram::bind(&socket).unwrap();
    notifications
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // As systemd starts it: NOTIFY_SOCKET and a 1 s watchdog.
    let cluster_dir = dir.path().join("cluster");
    let up = Command::new(BIN)
        .args(["cluster", "up", "--nodes", "1", "--empty", "--dir"])
        .arg(&cluster_dir)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", "1000000")
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let cluster = LocalCluster::up(Path::new(BIN), &cluster_dir, 1, true).unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(seen.contains("READY=1") && seen.matches("WATCHDOG=1").count() >= 2) {
        assert!(Instant::now() < deadline, "notifications so far: {seen:?}");
        let n = notifications.recv(&mut buffer).expect("a notification");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        seen.push('\n');
    }
    // `status --watch --json`: a line now, another when something changes.
    let mut watch = Command::new(BIN)
        .args(["status", "--watch", "--json", "--dir"])
        .arg(&cluster_dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("\"resources\":[]"), "{first}");
    cluster
        .modify("node1", property("stonith-enabled", "false"))
        .unwrap();
    cluster
        .modify(
            "node1",
            resource(r#"<primitive id="w" class="ocf" provider="systole" type="Dummy"/>"#),
        )
        .unwrap();
    let changed = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("\"id\":\"w\"")))
        .expect("a redraw showing the new resource");
    assert!(changed.is_ok());
    let _ = watch.kill();
    let _ = watch.wait();
    // A stop says so before the node leaves.
    cluster.down();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains("STOPPING=1") {
        assert!(Instant::now() < deadline, "notifications: {seen:?}");
        let n = notifications.recv(&mut buffer).expect("a notification");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}
