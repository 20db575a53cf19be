//! Many resources at once on a 3-node loopback cluster: N
//! `ocf:heartbeat:Dummy` primitives (Debian's resource-agents) imported in
//! one CIB update, measuring the time until all run, membership view changes
//! per node (while starting), failed `systole status` calls (the real CLI,
//! polled every 200 ms), and each daemon's CPU seconds (its own and its
//! agents') and resident size.
//!
//! `cargo run --release --bin bench_scale -- [--resources N] [--busy K]
//! [--timeout-s S] [--monitor-s S] [--node-action-limit K]`; needs the
//! `systole` binary built beside this one. `--busy K` spins K threads
//! (normal priority) in this process for the whole run, as four
//! `yes > /dev/null` would.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use systole::actors::control_socket::{self, ControlRequest, ControlResponse, StatusReport};
use systole::actors::message::CibChange;
use systole::cli::localcluster::{
    node_dir, nodes_in, pid_path, process_cpu_seconds, process_memory_kb, read_pid, LocalCluster,
};
use systole::model::cib::xml::Element;

struct Options {
    resources: usize,
    busy: usize,
    timeout: Duration,
    monitor_s: Option<u64>,
    /// Sets the `node-action-limit` property before the import.
    node_action_limit: Option<u64>,
}

fn options() -> Options {
    let mut options = Options {
        resources: 1000,
        busy: 0,
        timeout: Duration::from_secs(300),
        monitor_s: None,
        node_action_limit: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || pair.get(1).and_then(|v| v.parse::<u64>().ok());
        let value = value().unwrap_or_else(|| panic!("{} needs a number", pair[0]));
        match pair[0].as_str() {
            "--resources" => options.resources = value as usize,
            "--busy" => options.busy = value as usize,
            "--timeout-s" => options.timeout = Duration::from_secs(value),
            "--monitor-s" => options.monitor_s = Some(value),
            "--node-action-limit" => options.node_action_limit = Some(value),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

fn systole_bin() -> PathBuf {
    std::env::current_exe()
        .expect("current exe")
        .with_file_name("systole")
}

fn dummy(index: usize, monitor_s: Option<u64>) -> CibChange {
    let id = format!("d{index}");
    let mut primitive = Element::new("primitive")
        .with_attr("id", &id)
        .with_attr("class", "ocf")
        .with_attr("provider", "heartbeat")
        .with_attr("type", "Dummy");
    if let Some(seconds) = monitor_s {
        primitive = primitive.with_child(
            Element::new("operations").with_child(
                Element::new("op")
                    .with_attr("id", format!("{id}-monitor"))
                    .with_attr("name", "monitor")
                    .with_attr("interval", format!("{seconds}s"))
                    .with_attr("timeout", "20s"),
            ),
        );
    }
    CibChange::Upsert {
        section: "resources".into(),
        element: primitive,
    }
}

/// Views a node's transport installed since start: `view_changes` of
/// `systole bus`; from a daemon without it (older builds, for before/after
/// figures), its log's `membership view` lines (a leave and join handled at
/// once log one line: a lower bound).
fn view_changes(dir: &Path, node: &str) -> u64 {
    let socket = systole::cli::localcluster::socket_path(dir, node);
    if let Ok(ControlResponse::Bus { stats, .. }) =
        control_socket::call(&socket, &ControlRequest::BusStats, 5_000)
    {
        return stats.view_changes;
    }
    std::fs::read_to_string(node_dir(dir, node).join("systole.log"))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("membership view") && line.contains("view_id"))
        .count() as u64
}

/// Polls `systole status --json` every 200 ms, round robin over the nodes.
struct Poller {
    calls: AtomicU64,
    failed: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Milliseconds per call, successful or not.
    latencies_ms: Mutex<Vec<u64>>,
    started: AtomicU64,
    stop: AtomicBool,
}

impl Poller {
    fn run(&self, dir: &Path, nodes: &[String]) {
        let mut turn = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let node = &nodes[turn % nodes.len()];
            turn += 1;
            let called = Instant::now();
            let output = std::process::Command::new(systole_bin())
                .args(["status", "--json", "--node", node, "--dir"])
                .arg(dir)
                .output();
            self.calls.fetch_add(1, Ordering::Relaxed);
            let took_ms = called.elapsed().as_millis() as u64;
            self.latencies_ms.lock().unwrap().push(took_ms);
            let report = output.ok().and_then(|o| {
                if o.status.success() {
                    serde_json::from_slice::<StatusReport>(&o.stdout).ok()
                } else {
                    let error = String::from_utf8_lossy(&o.stderr).trim().to_string();
                    self.errors.lock().unwrap().push(error);
                    None
                }
            });
            match report {
                Some(report) => {
                    let running = report.resources.iter().filter(|r| r.nodes.len() == 1);
                    self.started
                        .fetch_max(running.count() as u64, Ordering::Relaxed);
                }
                None => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn spin(count: usize, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    (0..count)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect()
}

fn report(dir: &Path, options: &Options, before: &[u64], poller: &Poller, took: Duration) {
    let started = poller.started.load(Ordering::Relaxed);
    println!(
        "resources: {} ocf:heartbeat:Dummy, busy loops: {}, monitor: {:?} s",
        options.resources, options.busy, options.monitor_s
    );
    println!(
        "started: {started}/{} in {:.1} s",
        options.resources,
        took.as_secs_f64()
    );
    println!(
        "status calls: {} failed of {}",
        poller.failed.load(Ordering::Relaxed),
        poller.calls.load(Ordering::Relaxed)
    );
    let mut latencies = poller.latencies_ms.lock().unwrap().clone();
    latencies.sort_unstable();
    if !latencies.is_empty() {
        println!(
            "status call time: median {} ms, max {} ms",
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1]
        );
    }
    let mut errors = poller.errors.lock().unwrap().clone();
    errors.sort();
    errors.dedup();
    for error in errors.iter().take(5) {
        println!("  error: {error}");
    }
    for (index, node) in nodes_in(dir).iter().enumerate() {
        let pid = read_pid(&pid_path(dir, node)).unwrap_or(0);
        let (own, agents) = process_cpu_seconds(pid);
        let log = std::fs::read_to_string(node_dir(dir, node).join("systole.log"));
        let log = log.unwrap_or_default();
        let priority = if log.contains("thread runs SCHED_RR") {
            "SCHED_RR"
        } else if log.contains("raised nice priority") {
            "nice -10"
        } else {
            "normal"
        };
        println!(
            "{node}: view changes {}, cpu {own:.1} s (agents {agents:.1} s), rss {} MB (peak {} MB), transport thread {priority}",
            view_changes(dir, node) - before[index],
            process_memory_kb(pid, "VmRSS:") / 1024,
            process_memory_kb(pid, "VmHWM:") / 1024,
        );
    }
}

fn main() -> anyhow::Result<()> {
    let options = options();
    let dir = std::env::temp_dir().join(format!("systole-bench-scale-{}", std::process::id()));
    let cluster = LocalCluster::up(&systole_bin(), &dir, 3, true)?;
    let nodes = cluster.nodes();
    cluster.modify(
        "node1",
        CibChange::SetProperty {
            name: "stonith-enabled".into(),
            value: Some("false".into()),
        },
    )?;
    if let Some(limit) = options.node_action_limit {
        cluster.modify(
            "node1",
            CibChange::SetProperty {
                name: "node-action-limit".into(),
                value: Some(limit.to_string()),
            },
        )?;
    }
    let before: Vec<u64> = nodes.iter().map(|n| view_changes(&dir, n)).collect();
    let stop_spinning = Arc::new(AtomicBool::new(false));
    let spinners = spin(options.busy, &stop_spinning);
    let poller = Poller {
        calls: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        latencies_ms: Mutex::new(Vec::new()),
        started: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    let start = Instant::now();
    let took = std::thread::scope(|scope| {
        scope.spawn(|| poller.run(&dir, &nodes));
        let import = (0..options.resources)
            .map(|i| dummy(i, options.monitor_s))
            .collect();
        if let Err(error) = cluster.modify("node1", CibChange::Batch(import)) {
            println!("import failed: {error:#}");
        }
        while start.elapsed() < options.timeout
            && poller.started.load(Ordering::Relaxed) < options.resources as u64
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = start.elapsed();
        poller.stop.store(true, Ordering::Relaxed);
        took
    });
    stop_spinning.store(true, Ordering::Relaxed);
    for spinner in spinners {
        let _ = spinner.join();
    }
    report(&dir, &options, &before, &poller, took);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
