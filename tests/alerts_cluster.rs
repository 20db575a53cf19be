//! Alerts on real daemons on loopback: Debian's unmodified Pacemaker sample
//! agents (`alert_file.sh.sample`, `alert_snmp.sh.sample`, package
//! pacemaker-common, which `.ci/run` installs) configured with `systole
//! alert`, called for a resource start and failure, an attribute change,
//! a fencing and a lost node.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::TestCluster;

const SAMPLES: &str = "/usr/share/pacemaker/alerts";

fn sample(name: &str) -> String {
    let path = PathBuf::from(SAMPLES).join(name);
    assert!(
        path.exists(),
        "{} is missing: install Debian's pacemaker-common (apt-get install pacemaker-common; bash .ci/run does)",
        path.display()
    );
    path.display().to_string()
}

/// Waits until `file` has a line containing every one of `parts`.
fn wait_for_line(cluster: &TestCluster, file: &Path, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {parts:?} in {}:\n{text}\n{}",
            file.display(),
            cluster.cluster.logs(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `HH:MM:SS.uuuuuu: ` (the default timestamp-format) starts the line.
fn has_default_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 17
        && b[2] == b':'
        && b[5] == b':'
        && b[8] == b'.'
        && &line[15..17] == ": "
        && line[..15].chars().filter(|c| c.is_ascii_digit()).count() == 12
}

/// A stand-in for net-snmp's snmptrap: writes its arguments, one call a line.
fn fake_snmptrap(dir: &Path) -> PathBuf {
    let path = dir.join("snmptrap");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\n",
            dir.join("traps.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn debians_sample_alert_agents_hear_resources_attributes_fencing_and_nodes() {
    let file_agent = sample("alert_file.sh.sample");
    let snmp_agent = sample("alert_snmp.sh.sample");
    let cluster = TestCluster::up(3);
    let report = cluster.wait("node1", 40_000, "a DC and the demo resources", |r| {
        r.dc.is_some() && !r.resources.is_empty() && r.resources.iter().all(|x| x.nodes.len() == 1)
    });
    let dc = report.dc.clone().unwrap();
    let log = cluster.path().join("alerts.log");
    let snmptrap = fake_snmptrap(cluster.path());
    let snmp_dir = cluster.path().join("snmp");
    let create_file = format!("path={file_agent}");
    cluster.run_ok(
        None,
        &[
            "alert",
            "create",
            &create_file,
            "id=file",
            "select",
            "nodes",
            "fencing",
            "resources",
            "attribute=alert_test",
        ],
    );
    let recipient = format!("value={}", log.display());
    cluster.run_ok(None, &["alert", "recipient", "add", "file", &recipient]);
    let create_snmp = format!("path={snmp_agent}");
    let binary = format!("trap_binary={}", snmptrap.display());
    let persistent = format!("trap_snmp_persistent_dir={}", snmp_dir.display());
    cluster.run_ok(
        None,
        &[
            "alert",
            "create",
            &create_snmp,
            "id=snmp",
            "options",
            &binary,
            &persistent,
            "trap_add_hires_timestamp_oid=false",
            "meta",
            "timeout=10s",
        ],
    );
    cluster.run_ok(
        None,
        &["alert", "recipient", "add", "snmp", "value=192.0.2.1"],
    );
    let listed = cluster.run_ok(None, &["alert", "list"]);
    assert!(listed.contains("Alert: file"), "{listed}");
    assert!(
        listed.contains("Recipient: snmp-recipient (value=192.0.2.1)"),
        "{listed}"
    );

    // A resource starts: the node that ran it says so.
    cluster.run_ok(
        None,
        &[
            "resource",
            "create",
            "alerted",
            "ocf:systole:Dummy",
            "op",
            "monitor",
            "interval=1s",
        ],
    );
    let report = cluster.wait("node1", 40_000, "alerted started", |r| {
        r.resources
            .iter()
            .any(|x| x.id == "alerted" && x.nodes.len() == 1)
    });
    let node = report
        .resources
        .iter()
        .find(|x| x.id == "alerted")
        .unwrap()
        .nodes[0]
        .clone();
    let started = wait_for_line(
        &cluster,
        &log,
        &[&format!(
            "Resource operation 'start' for 'alerted' on '{node}': ok"
        )],
    );
    assert!(has_default_timestamp(&started), "{started}");

    // It fails behind the cluster's back: the monitor's result is alerted.
    let state = cluster
        .path()
        .join(&node)
        .join("rsctmp")
        .join("Dummy-alerted.state");
    std::fs::remove_file(&state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
    wait_for_line(
        &cluster,
        &log,
        &[&format!(
            "Resource operation 'monitor (1000)' for 'alerted' on '{node}': not running"
        )],
    );
    // The snmp sample sent the failure (monitor successes it leaves out).
    let traps = cluster.path().join("traps.log");
    let trap = wait_for_line(
        &cluster,
        &traps,
        &[
            "pacemakerNotificationResource s alerted",
            "pacemakerNotificationOperation s monitor",
            "ReturnCode i 7",
        ],
    );
    assert!(trap.contains("-c public 192.0.2.1"), "{trap}");

    // An attribute change, from the node whose manager wrote it.
    cluster.run_ok(
        Some("node1"),
        &[
            "attrd-updater",
            "-n",
            "alert_test",
            "-U",
            "42",
            "-N",
            "node1",
        ],
    );
    wait_for_line(
        &cluster,
        &log,
        &["Attribute 'alert_test' on node 'node1' was updated to '42'"],
    );

    // Fencing a node: the fencer reports it, every survivor sees it lost.
    let victim = ["node1", "node2", "node3"]
        .into_iter()
        .find(|n| *n != dc)
        .unwrap()
        .to_string();
    let fenced = cluster.run_ok(Some(&dc), &["fence", &victim]);
    assert!(fenced.contains(&format!("fenced {victim}")), "{fenced}");
    wait_for_line(
        &cluster,
        &log,
        &[
            &format!("Fencing Operation reboot of {victim} by {dc}"),
            ": OK",
        ],
    );
    let survivors: Vec<&str> = ["node1", "node2", "node3"]
        .into_iter()
        .filter(|n| *n != victim)
        .collect();
    let lost = format!("Node '{victim}' is now 'lost'");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let count = text.lines().filter(|l| l.contains(&lost)).count();
        if count >= survivors.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{lost} {count} times, not {}:\n{text}",
            survivors.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let traps_text = std::fs::read_to_string(&traps).unwrap();
    assert!(
        traps_text.contains(&format!("pacemakerNotificationNode s {victim}"))
            && traps_text.contains("pacemakerNotificationOperation s reboot"),
        "{traps_text}"
    );
    // Nothing unhandled: every line is one the sample knows.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("Unhandled"), "{text}");
    cluster.cluster.down();
}
