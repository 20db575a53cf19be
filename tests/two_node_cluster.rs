//! Two real daemons on loopback (`two_node`): when one is killed, the
//! survivor fences it, goes on alone as the only voter, becomes DC and runs
//! every resource; when the killed node comes back it is re-added as a
//! voter. At every poll no primitive may be active on two nodes.

use std::time::{Duration, Instant};
use systole::actors::control_socket::StatusReport;

mod common;
use common::TestCluster;

/// Polls `node`'s status until `done` holds (no primitive active twice at
/// any poll); the report and when it held.
fn wait(
    cluster: &TestCluster,
    node: &str,
    timeout_ms: u64,
    what: &str,
    done: impl FnMut(&StatusReport) -> bool,
) -> (StatusReport, Instant) {
    let report = cluster.wait(node, timeout_ms, what, done);
    (report, Instant::now())
}

/// A fenced node's machine reboots: the agents' state of its old boot
/// is gone (the local fence agent only kills the daemon).
fn reboot_state(cluster: &TestCluster, node: &str) {
    let stamp = cluster
        .path()
        .join(node)
        .join("rsctmp")
        .join(systole::os::rsctmp::BOOT_STAMP);
    std::fs::write(stamp, "an earlier boot").expect("write the boot stamp");
}

/// `node` is DC and runs everything: every primitive, and one instance of
/// each clone (a clone's other instance has nowhere else to run).
fn all_started_on(report: &StatusReport, node: &str) -> bool {
    let on_node =
        |r: &systole::actors::control_socket::ResourceReport| r.nodes == [node.to_string()];
    let clone_instance = |r: &systole::actors::control_socket::ResourceReport| r.id.contains(':');
    report.dc.as_deref() == Some(node)
        && !report.resources.is_empty()
        && report
            .resources
            .iter()
            .all(|r| !r.failed && (on_node(r) || (clone_instance(r) && r.nodes.is_empty())))
        && report
            .resources
            .iter()
            .filter(|r| clone_instance(r))
            .all(|r| {
                report
                    .resources
                    .iter()
                    .any(|x| x.parent == r.parent && on_node(x))
            })
}

fn voters(report: &StatusReport) -> Vec<String> {
    report
        .consensus
        .as_ref()
        .map(|c| c.voters.clone())
        .unwrap_or_default()
}

/// Kills `victim` (the DC or not), and checks the survivor takes over and
/// the victim rejoins as a voter.
fn survivor_takes_over_and_the_peer_rejoins(kill_the_dc: bool) {
    let cluster = TestCluster::up(2);
    let (before, _) = wait(
        &cluster,
        "node1",
        30_000,
        "all demo resources started",
        |r| r.dc.is_some() && r.resources.iter().all(|x| x.nodes.len() == 1 && !x.failed),
    );
    assert_eq!(voters(&before), ["node1", "node2"]);
    let dc = before.dc.clone().unwrap();
    let other = if dc == "node1" { "node2" } else { "node1" };
    let (victim, survivor) = if kill_the_dc {
        (dc.clone(), other.to_string())
    } else {
        (other.to_string(), dc.clone())
    };
    let killed_at = Instant::now();
    cluster.cluster.kill9(&victim);
    // DC of the one-voter configuration (a DC that outlives its peer
    // steps down first: it has lost its majority).
    let (_, dc_at) = wait(
        &cluster,
        &survivor,
        30_000,
        "the survivor as DC alone",
        |r| r.dc.as_deref() == Some(survivor.as_str()) && voters(r) == [survivor.as_str()],
    );
    let (after, started_at) = wait(
        &cluster,
        &survivor,
        30_000,
        "every resource on the survivor",
        |r| all_started_on(r, &survivor),
    );
    eprintln!(
        "two-node failover (killed {}): survivor DC after {} ms, every resource started after {} ms",
        if kill_the_dc { "the DC" } else { "the other node" },
        dc_at.duration_since(killed_at).as_millis(),
        started_at.duration_since(killed_at).as_millis()
    );
    assert!(
        after.fencing.iter().any(|f| f.target == victim && f.ok),
        "the survivor fenced its peer first: {:?}",
        after.fencing
    );
    assert_eq!(voters(&after), [survivor.as_str()]);
    assert!(after.quorate, "one voter of one");
    assert!(
        after.nodes.iter().any(|n| n.name == victim && !n.online),
        "the peer stays a node: {:?}",
        after.nodes
    );
    // The fenced node's machine comes back (rebooted) and rejoins.
    reboot_state(&cluster, &victim);
    let restarted_at = Instant::now();
    cluster
        .cluster
        .start(2, false)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let (back, rejoined_at) = wait(&cluster, &survivor, 30_000, "two voters again", |r| {
        voters(r) == ["node1", "node2"]
            && r.nodes.iter().all(|n| n.online)
            && r.resources.iter().all(|x| x.nodes.len() == 1 && !x.failed)
    });
    eprintln!(
        "two-node rejoin: two voters again {} ms after the restart",
        rejoined_at.duration_since(restarted_at).as_millis()
    );
    assert!(back.quorate);
    // The rejoined node sees the same configuration.
    wait(&cluster, &victim, 10_000, "the rejoined node's view", |r| {
        voters(r) == ["node1", "node2"] && r.dc.is_some()
    });
    // And the pair is a real two-voter cluster: it survives a second loss.
    let dc = back.dc.clone().unwrap();
    let other = if dc == "node1" { "node2" } else { "node1" };
    cluster.cluster.kill9(other);
    wait(
        &cluster,
        &dc,
        30_000,
        "every resource on the DC after a second loss",
        |r| all_started_on(r, &dc) && voters(r) == [dc.as_str()],
    );
}

#[test]
fn killing_the_node_that_is_not_dc_leaves_the_dc_alone_with_every_resource() {
    survivor_takes_over_and_the_peer_rejoins(false);
}

#[test]
fn killing_the_dc_makes_the_survivor_fence_it_and_take_over() {
    survivor_takes_over_and_the_peer_rejoins(true);
}

/// With fencing disabled the survivor cannot tell a dead peer from a broken
/// link: it stays without quorum, keeps both voters, fences no one, and
/// says why in `status`; the warning goes once the peer is back.
#[test]
fn without_fencing_the_survivor_waits_and_says_why() {
    let cluster = TestCluster::up(2);
    let (before, _) = wait(
        &cluster,
        "node1",
        30_000,
        "all demo resources started",
        |r| r.dc.is_some() && r.resources.iter().all(|x| x.nodes.len() == 1 && !x.failed),
    );
    let dc = before.dc.clone().unwrap();
    let victim = if dc == "node1" { "node2" } else { "node1" };
    let change = systole::actors::message::CibChange::SetProperty {
        name: "stonith-enabled".into(),
        value: Some("false".into()),
    };
    cluster
        .cluster
        .modify(&dc, change)
        .unwrap_or_else(|e| panic!("{e:#}"));
    cluster.cluster.kill9(victim);
    let warning = |r: &StatusReport| {
        r.consensus
            .as_ref()
            .and_then(|c| c.two_node_warning.clone())
    };
    let (waiting, _) = wait(&cluster, &dc, 30_000, "the warning in status", |r| {
        warning(r).is_some_and(|w| w.contains("fencing disabled"))
    });
    assert_eq!(waiting.dc, None, "no DC without quorum");
    assert!(!waiting.quorate);
    // Well past the election timeout and the race delay: nothing changes.
    std::thread::sleep(Duration::from_millis(3_000));
    let still = cluster.cluster.status(&dc).expect("the survivor answers");
    assert_eq!(voters(&still), ["node1", "node2"]);
    assert_eq!(still.dc, None);
    assert!(
        still.fencing.iter().all(|f| f.target != victim),
        "no one fenced: {:?}",
        still.fencing
    );
    assert!(systole::cli::status_text::render(&still).contains("WARNING: two-node peer"));
    cluster
        .cluster
        .start(2, false)
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait(&cluster, &dc, 30_000, "a DC again and no warning", |r| {
        r.dc.is_some() && r.quorate && warning(r).is_none()
    });
}
