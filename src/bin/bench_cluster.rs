//! Cluster timings on loopback, median of N trials (default 10):
//! failover (kill -9 of a non-DC node until its primitive is active
//! elsewhere), DC re-election (kill -9 of the DC until another node is DC),
//! and actor restart after `actors kill` (until the restart is visible).
//!
//! With `--nodes N` (default 3) every figure is taken on an N-node
//! cluster, and the time to bring it up (every daemon started until a
//! quorate DC sees all N online) is reported as well.
//!
//! `cargo run --release --bin bench_cluster -- [TRIALS] [--nodes N]`; needs
//! the `systole` binary built beside this one (`cargo build --release`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use systole::actors::control_socket::{self, ControlRequest, ControlResponse, StatusReport};
use systole::cli::localcluster::{nodes_in, socket_path, LocalCluster};

fn systole_bin() -> PathBuf {
    let me = std::env::current_exe().expect("current exe");
    me.with_file_name("systole")
}

fn status(dir: &Path, node: &str) -> Option<StatusReport> {
    match control_socket::call(&socket_path(dir, node), &ControlRequest::Status, 2_000) {
        Ok(ControlResponse::Status(report)) => Some(report),
        _ => None,
    }
}

fn wait(timeout: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn all_started(report: &StatusReport) -> bool {
    report.dc.is_some()
        && !report.resources.is_empty()
        && report.resources.iter().all(|r| r.nodes.len() == 1)
}

/// A 3-node cluster with the demo resources in a directory of its own,
/// stopped and removed on drop; returns once every resource runs.
struct Cluster {
    cluster: LocalCluster,
    /// From `cluster up` until a quorate DC saw every node online.
    up_ms: f64,
}

impl Cluster {
    fn up(nodes: usize) -> Cluster {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("systole-bench-{}-{n}", std::process::id()));
        let started = Instant::now();
        let cluster = LocalCluster::up(&systole_bin(), &dir, nodes, false)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let up_ms = started.elapsed().as_secs_f64() * 1000.0;
        let cluster = Cluster { cluster, up_ms };
        wait(Duration::from_secs(120), || {
            status(cluster.path(), "node1").is_some_and(|r| all_started(&r))
        })
        .expect("resources did not start");
        cluster
    }

    fn path(&self) -> &Path {
        self.cluster.dir()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cluster.down();
        let _ = std::fs::remove_dir_all(self.cluster.dir());
    }
}

fn failover_ms(cluster: &Cluster) -> Option<f64> {
    let dir = cluster.path();
    let report = status(dir, "node1")?;
    let dc = report.dc.clone()?;
    let (resource, victim) = report
        .resources
        .iter()
        .filter(|r| r.parent.as_deref() != Some("ping-clone") && r.id != "fence-local")
        .find_map(|r| {
            r.nodes
                .first()
                .filter(|n| **n != dc)
                .map(|n| (r.id.clone(), n.clone()))
        })?;
    let killed = Instant::now();
    cluster.cluster.kill9(&victim);
    wait(Duration::from_secs(20), || {
        status(dir, &dc).is_some_and(|r| {
            r.resources
                .iter()
                .any(|x| x.id == resource && x.nodes.len() == 1 && x.nodes[0] != victim)
        })
    })?;
    Some(killed.elapsed().as_secs_f64() * 1000.0)
}

fn reelection_ms(cluster: &Cluster) -> Option<f64> {
    let dir = cluster.path();
    let dc = status(dir, "node1")?.dc?;
    let observer = nodes_in(dir).into_iter().find(|n| *n != dc)?;
    let killed = Instant::now();
    cluster.cluster.kill9(&dc);
    wait(Duration::from_secs(20), || {
        status(dir, &observer).is_some_and(|r| r.dc.as_ref().is_some_and(|d| *d != dc))
    })?;
    Some(killed.elapsed().as_secs_f64() * 1000.0)
}

fn restarts(dir: &Path, node: &str, actor: &str) -> u64 {
    fn find(tree: &serde_json::Value, name: &str) -> Option<u64> {
        if tree["name"] == name && tree["kind"] == "actor" {
            return tree["restarts"].as_u64();
        }
        tree["children"]
            .as_array()?
            .iter()
            .find_map(|c| find(c, name))
    }
    match control_socket::call(&socket_path(dir, node), &ControlRequest::Actors, 2_000) {
        Ok(ControlResponse::Actors { tree, .. }) => {
            find(&serde_json::to_value(tree).unwrap(), actor).unwrap_or(0)
        }
        _ => 0,
    }
}

fn restart_ms(cluster: &Cluster, actor: &str) -> Option<f64> {
    let dir = cluster.path();
    let before = restarts(dir, "node1", actor);
    let start = Instant::now();
    match control_socket::call(
        &socket_path(dir, "node1"),
        &ControlRequest::ActorsKill { name: actor.into() },
        2_000,
    ) {
        Ok(ControlResponse::Done(_)) => {}
        other => panic!("actors kill: {other:?}"),
    }
    wait(Duration::from_secs(5), || {
        restarts(dir, "node1", actor) > before
    })?;
    Some(start.elapsed().as_secs_f64() * 1000.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if values.is_empty() {
        return f64::NAN;
    }
    values[values.len() / 2]
}

struct Options {
    trials: usize,
    nodes: usize,
}

fn options() -> Options {
    let mut options = Options {
        trials: 10,
        nodes: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let number = |value: Option<String>| {
            value
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--nodes" => options.nodes = number(args.next()),
            _ => options.trials = number(Some(arg.clone())),
        }
    }
    options
}

fn summary(values: &[f64]) -> String {
    format!(
        "median {:.0} ms, all {:?}",
        median(values.to_vec()),
        values.iter().map(|v| v.round()).collect::<Vec<_>>()
    )
}

fn main() {
    let Options { trials, nodes } = options();
    let (mut up, mut failover, mut reelection) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..trials {
        // A fresh cluster for each measurement: the failover leaves a node
        // down, and the re-election must start from a settled DC.
        let cluster = Cluster::up(nodes);
        up.push(cluster.up_ms);
        match failover_ms(&cluster) {
            Some(ms) => failover.push(ms),
            None => eprintln!("trial {trial}: failover did not complete"),
        }
        drop(cluster);
        let cluster = Cluster::up(nodes);
        up.push(cluster.up_ms);
        match reelection_ms(&cluster) {
            Some(ms) => reelection.push(ms),
            None => eprintln!("trial {trial}: re-election did not complete"),
        }
    }
    println!("nodes: {nodes}, trials: {trials}");
    println!(
        "cluster up (start every daemon until a quorate DC sees all online): {}",
        summary(&up)
    );
    println!(
        "failover (kill -9 non-DC until its primitive runs elsewhere): {}",
        summary(&failover)
    );
    println!(
        "DC re-election (kill -9 DC until a new DC is seen): {}",
        summary(&reelection)
    );
    let cluster = Cluster::up(nodes);
    let mut restart = Vec::new();
    for trial in 0..trials {
        for actor in ["cib", "dc", "exec", "policy", "fence", "membership", "bus"] {
            match restart_ms(&cluster, actor) {
                Some(ms) => restart.push(ms),
                None => eprintln!("trial {trial}: {actor} restart not seen"),
            }
            // Stay inside the root supervisor's restart intensity (20 in
            // 10 s): beyond it the node gives up by design.
            std::thread::sleep(Duration::from_millis(600));
        }
    }
    println!(
        "actor restart after `actors kill` (until visible over the control socket): median {:.1} ms over {} kills",
        median(restart.clone()),
        restart.len()
    );
}
