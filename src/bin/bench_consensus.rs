//! The consensus core's figures on loopback (issue 8's benchmark; timings
//! stay out of the tests):
//! - update latency (p50, p99) and acknowledged updates per second with 1,
//!   8 and 64 concurrent clients on 3 and 5 nodes (or the sizes given with
//!   `--nodes`, e.g. `--nodes 5,64`), clients spread over the
//!   nodes (so most writes are forwarded to the leader);
//! - time to add a node to a running 5-node cluster, from `node add` until
//!   it is a voter.
//!
//! Beside each run: the CPU seconds all daemons spent per acknowledged
//! write (what a write costs the machine, whatever its latency).
//!
//! `cargo run --release --bin bench_consensus -- [SECONDS_PER_RUN] [--nodes
//! 3,5] [--clients 1,8,64] [--no-node-add]`; needs
//! the `systole` binary built beside this one (`cargo build --release`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use systole::actors::message::CibChange;
use systole::cli::localcluster::{node_dir, socket_path, LocalCluster};

fn systole_bin() -> PathBuf {
    std::env::current_exe()
        .expect("current exe")
        .with_file_name("systole")
}

/// A cluster in a directory of its own, stopped and removed on drop.
struct Bench {
    cluster: LocalCluster,
    children: Vec<std::process::Child>,
}

impl Bench {
    fn up(nodes: usize) -> Bench {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("systole-bench-cons-{}-{n}", std::process::id()));
        let cluster =
            LocalCluster::up(&systole_bin(), &dir, nodes, true).unwrap_or_else(|e| panic!("{e:#}"));
        Bench {
            cluster,
            children: Vec::new(),
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.cluster.down();
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(self.cluster.dir());
    }
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[rank]
}

/// `clients` threads writing properties for `seconds`; latencies of the
/// acknowledged writes and the count of refused ones.
fn updates(bench: &Bench, clients: usize, seconds: f64) -> (Vec<f64>, usize, f64) {
    let nodes = bench.cluster.nodes();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0usize));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let socket = socket_path(bench.cluster.dir(), &nodes[client % nodes.len()]);
            let (latencies, refused) = (latencies.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let change = CibChange::SetProperty {
                        name: format!("bench-{client}"),
                        value: Some(i.to_string()),
                    };
                    let start = Instant::now();
                    match systole::cli::localcluster::modify(&socket, change) {
                        Ok(_) => latencies
                            .lock()
                            .unwrap()
                            .push(start.elapsed().as_secs_f64() * 1000.0),
                        Err(error) => {
                            let mut refused = refused.lock().unwrap();
                            if *refused < 3 {
                                eprintln!("refused: {error:#}");
                            }
                            *refused += 1;
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let refused = *refused.lock().unwrap();
    (latencies, refused, elapsed)
}

fn voters(dir: &Path, node: &str) -> Vec<String> {
    match systole::actors::control_socket::call(
        &socket_path(dir, node),
        &systole::actors::control_socket::ControlRequest::Status,
        2_000,
    ) {
        Ok(systole::actors::control_socket::ControlResponse::Status(report)) => {
            report.consensus.map(|c| c.voters).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// From `node add` (daemon already started) until the node is a voter.
fn node_add_ms(bench: &mut Bench) -> Option<f64> {
    let dir = bench.cluster.dir().to_path_buf();
    let addr = bench.cluster.prepare_joiner("node6", &[]).ok()?;
    let home = node_dir(&dir, "node6");
    let log = std::fs::File::create(home.join("systole.log")).ok()?;
    let child = Command::new(systole_bin())
        .args(["daemon", "--config"])
        .arg(home.join("systole.toml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().ok()?)
        .stderr(log)
        .spawn()
        .ok()?;
    bench.children.push(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !systole::cli::localcluster::ping(&socket_path(&dir, "node6"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now();
    let status = Command::new(systole_bin())
        .args(["node", "add", "node6", "--addr", &addr, "--dir"])
        .arg(&dir)
        .args(["--node", "node1"])
        .output()
        .ok()?;
    if !status.status.success() {
        eprintln!("node add: {}", String::from_utf8_lossy(&status.stderr));
        return None;
    }
    while start.elapsed() < Duration::from_secs(30) {
        if voters(&dir, "node1").iter().any(|v| v == "node6") {
            return Some(start.elapsed().as_secs_f64() * 1000.0);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Total CPU seconds of the cluster's daemons so far.
fn daemons_cpu_seconds(bench: &Bench) -> f64 {
    let dir = bench.cluster.dir();
    bench
        .cluster
        .nodes()
        .iter()
        .filter_map(|node| {
            systole::cli::localcluster::read_pid(&systole::cli::localcluster::pid_path(dir, node))
        })
        .map(|pid| systole::cli::localcluster::process_cpu_seconds(pid).0)
        .sum()
}

/// The transports' counters so far, summed over the cluster's nodes
/// (`view_changes`: membership views installed; a flap shows on many).
fn bus_counters(bench: &Bench) -> std::collections::BTreeMap<String, u64> {
    use systole::actors::control_socket::{self, ControlRequest, ControlResponse};
    let dir = bench.cluster.dir();
    let mut sums = std::collections::BTreeMap::new();
    for node in bench.cluster.nodes() {
        let socket = systole::cli::localcluster::socket_path(dir, &node);
        let Ok(ControlResponse::Bus { stats, .. }) =
            control_socket::call(&socket, &ControlRequest::BusStats, 5_000)
        else {
            continue;
        };
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(stats) else {
            continue;
        };
        for (name, value) in fields {
            *sums.entry(name).or_insert(0) += value.as_u64().unwrap_or(0);
        }
    }
    sums
}

/// What grew between two readings of [`bus_counters`].
fn grown(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .map(|(name, value)| {
            (
                name.clone(),
                value.saturating_sub(*before.get(name).unwrap_or(&0)),
            )
        })
        .filter(|(_, value)| *value > 0)
        .collect()
}

struct Options {
    seconds: f64,
    sizes: Vec<usize>,
    clients: Vec<usize>,
    node_add: bool,
}

/// `[SECONDS] [--nodes 3,5,64] [--clients 1,8,64] [--no-node-add]`.
fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = Options {
        seconds: 5.0,
        sizes: vec![3, 5],
        clients: vec![1, 8, 64],
        node_add: true,
    };
    let list = |index: usize| -> Vec<usize> {
        args.get(index + 1)
            .expect("--nodes and --clients need a list, e.g. 3,5,64")
            .split(',')
            .map(|n| n.parse().expect("a list of numbers"))
            .collect()
    };
    let mut index = 0;
    while index < args.len() {
        index += match args[index].as_str() {
            "--nodes" => {
                options.sizes = list(index);
                2
            }
            "--clients" => {
                options.clients = list(index);
                2
            }
            "--no-node-add" => {
                options.node_add = false;
                1
            }
            seconds => {
                options.seconds = seconds.parse().expect("SECONDS is a number");
                1
            }
        };
    }
    options
}

fn main() {
    let options = options();
    let seconds = options.seconds;
    println!("| nodes | clients | acknowledged/s | p50 ms | p99 ms | refused | daemons' cpu ms per write | view changes (all nodes) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut idle = Vec::new();
    for nodes in options.sizes {
        let bench = Bench::up(nodes);
        // Settled, then idle: what the cluster costs with nothing to do.
        std::thread::sleep(Duration::from_secs(3));
        let cpu_before = daemons_cpu_seconds(&bench);
        std::thread::sleep(Duration::from_secs(5));
        idle.push((nodes, (daemons_cpu_seconds(&bench) - cpu_before) / 5.0));
        for &clients in &options.clients {
            let counters_before = bus_counters(&bench);
            let cpu_before = daemons_cpu_seconds(&bench);
            let (latencies, refused, elapsed) = updates(&bench, clients, seconds);
            let cpu_ms = (daemons_cpu_seconds(&bench) - cpu_before) * 1000.0;
            let counters = grown(&counters_before, &bus_counters(&bench));
            let views = counters.get("view_changes").copied().unwrap_or(0);
            println!(
                "| {nodes} | {clients} | {:.0} | {:.1} | {:.1} | {refused} | {:.1} | {views} |",
                latencies.len() as f64 / elapsed,
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.99),
                cpu_ms / latencies.len().max(1) as f64,
            );
            if views > 0 {
                eprintln!("transport counters during that run, all nodes: {counters:?}");
            }
        }
    }
    for (nodes, cpu) in idle {
        println!("{nodes} nodes idle: {cpu:.2} CPU seconds per second (all daemons)");
    }
    if !options.node_add {
        return;
    }
    let mut adds = Vec::new();
    for _ in 0..5 {
        let mut bench = Bench::up(5);
        if let Some(ms) = node_add_ms(&mut bench) {
            adds.push(ms);
        }
    }
    adds.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "node add to a running 5-node cluster (until a voter): median {:.0} ms, all {:?}",
        percentile(&adds, 0.5),
        adds.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
}
