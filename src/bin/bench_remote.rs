//! Remote nodes at scale on loopback: 3 cluster daemons and R `systole
//! remote` processes (distinct ports), R connection resources and K
//! `ocf:heartbeat:Dummy` primitives per remote node (each preferring its
//! node), imported in one CIB update. Measures the time until every remote
//! node is online and every resource runs where it prefers; then kills one
//! remote daemon and measures the time until it is fenced and its resources
//! run elsewhere. Also: membership view changes per cluster node, failed
//! `systole status` calls (the real CLI, every 500 ms), CPU seconds and
//! resident size per cluster node, and over the remote daemons.
//!
//! Every resource is probed on every node first, as Pacemaker does: the
//! R x K primitives on each of the R remote nodes too, so probes grow with
//! R squared (printed with the figures). `--discovery exclusive` gives each
//! primitive `resource-discovery="exclusive"` location constraints naming
//! its remote node and the 3 cluster nodes (Pacemaker's way to keep probes
//! linear in large remote deployments), so it is probed on those 4 only.
//!
//! `cargo run --release --bin bench_remote -- [--remotes R] [--per-remote K]
//! [--monitor-s S] [--timeout-s T] [--discovery always|exclusive]`; needs
//! the `systole` binary built beside this one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use systole::actors::control_socket::{self, ControlRequest, ControlResponse, StatusReport};
use systole::actors::message::CibChange;
use systole::cli::localcluster::{
    self, pid_path, process_cpu_seconds, process_memory_kb, read_pid, LocalCluster,
};
use systole::model::cib::xml::Element;

struct Options {
    remotes: usize,
    per_remote: usize,
    monitor_s: u64,
    timeout: Duration,
    /// Probe each primitive only on its remote node and the cluster nodes.
    exclusive: bool,
    /// The recurring monitors' timeout: the connection's is also how long
    /// its link may stay silent (5 s is the least).
    op_timeout_s: u64,
}

const USAGE: &str = "bench_remote [--remotes R] [--per-remote K] [--monitor-s S] \
[--timeout-s T] [--op-timeout-s S] [--discovery always|exclusive]";

fn options() -> Options {
    let mut options = Options {
        remotes: 200,
        per_remote: 2,
        monitor_s: 10,
        timeout: Duration::from_secs(600),
        exclusive: false,
        op_timeout_s: 20,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        std::process::exit(0);
    }
    for pair in args.chunks(2) {
        if pair[0] == "--discovery" {
            options.exclusive = match pair.get(1).map(String::as_str) {
                Some("exclusive") => true,
                Some("always") => false,
                _ => panic!("--discovery takes always or exclusive\n{USAGE}"),
            };
            continue;
        }
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        let value = value.unwrap_or_else(|| panic!("{} needs a number", pair[0]));
        match pair[0].as_str() {
            "--remotes" => options.remotes = value as usize,
            "--per-remote" => options.per_remote = value as usize,
            "--monitor-s" => options.monitor_s = value,
            "--timeout-s" => options.timeout = Duration::from_secs(value),
            "--op-timeout-s" => options.op_timeout_s = value,
            other => panic!("unknown option {other}\n{USAGE}"),
        }
    }
    options
}

fn systole_bin() -> PathBuf {
    std::env::current_exe()
        .expect("current exe")
        .with_file_name("systole")
}

fn remote_name(i: usize) -> String {
    format!("remote{i}")
}

/// The whole configuration in one batch: fencing, connections, resources.
fn configuration(dir: &Path, options: &Options, ports: &[u16]) -> Vec<CibChange> {
    let parse = |xml: String| Element::parse(&xml).expect("bench XML parses");
    let upsert = |section: &str, element: Element| CibChange::Upsert {
        section: section.into(),
        element,
    };
    let mut changes = vec![
        CibChange::SetProperty {
            name: "stonith-enabled".into(),
            value: Some("true".into()),
        },
        upsert(
            "resources",
            parse(format!(
                r#"<primitive id="fence-local" class="stonith" type="fence_systole_local"><instance_attributes id="fence-local-params"><nvpair id="fence-local-pid-dir" name="pid_dir" value="{}"/></instance_attributes></primitive>"#,
                dir.display()
            )),
        ),
    ];
    let (monitor, timeout) = (options.monitor_s, options.op_timeout_s);
    for (i, port) in ports.iter().enumerate() {
        let name = remote_name(i);
        changes.push(upsert("resources", parse(format!(
            r#"<primitive id="{name}" class="ocf" provider="pacemaker" type="remote"><instance_attributes id="{name}-params"><nvpair id="{name}-server" name="server" value="127.0.0.1"/><nvpair id="{name}-port" name="port" value="{port}"/></instance_attributes><operations><op id="{name}-monitor" name="monitor" interval="{monitor}s" timeout="{timeout}s"/></operations></primitive>"#
        ))));
        for k in 0..options.per_remote {
            let id = format!("d{i}-{k}");
            changes.push(upsert("resources", parse(format!(
                r#"<primitive id="{id}" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="{id}-monitor" name="monitor" interval="{monitor}s" timeout="{timeout}s"/></operations></primitive>"#
            ))));
            let discovery = if options.exclusive {
                r#" resource-discovery="exclusive""#
            } else {
                ""
            };
            changes.push(upsert(
                "constraints",
                parse(format!(
                    r#"<rsc_location id="{id}-prefers" rsc="{id}" node="{name}" score="100"{discovery}/>"#
                )),
            ));
            if options.exclusive {
                for node in ["node1", "node2", "node3"] {
                    changes.push(upsert("constraints", parse(format!(
                        r#"<rsc_location id="{id}-may-{node}" rsc="{id}" node="{node}" score="0"{discovery}/>"#
                    ))));
                }
            }
        }
    }
    changes
}

/// Probes the scheduler asks for before anything starts: every resource
/// on each cluster node (the fence device, connections, primitives), and
/// the primitives on each remote node (connections are never probed there).
fn probes(options: &Options) -> usize {
    let (remotes, primitives) = (options.remotes, options.remotes * options.per_remote);
    let on_remotes = if options.exclusive {
        primitives
    } else {
        remotes * primitives
    };
    3 * (1 + remotes + primitives) + on_remotes
}

fn status(dir: &Path) -> Option<StatusReport> {
    for node in ["node1", "node2", "node3"] {
        let socket = localcluster::socket_path(dir, node);
        if let Ok(ControlResponse::Status(report)) =
            control_socket::call(&socket, &ControlRequest::Status, 20_000)
        {
            return Some(report);
        }
    }
    None
}

fn view_changes(dir: &Path, node: &str) -> u64 {
    let socket = localcluster::socket_path(dir, node);
    match control_socket::call(&socket, &ControlRequest::BusStats, 5_000) {
        Ok(ControlResponse::Bus { stats, .. }) => stats.view_changes,
        _ => 0,
    }
}

/// The real CLI's `status`, every 500 ms: calls and failures.
struct Poller {
    calls: AtomicU64,
    failed: AtomicU64,
    errors: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Poller {
    fn run(&self, dir: &Path) {
        let mut turn = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let node = format!("node{}", turn % 3 + 1);
            turn += 1;
            let output = std::process::Command::new(systole_bin())
                .args(["status", "--json", "--node", &node, "--dir"])
                .arg(dir)
                .output();
            self.calls.fetch_add(1, Ordering::Relaxed);
            match output {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    let error = String::from_utf8_lossy(&o.stderr).trim().to_string();
                    self.errors.lock().unwrap().push(error);
                }
                Err(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    self.errors.lock().unwrap().push(e.to_string());
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn placed(report: &StatusReport, id: &str) -> Option<String> {
    report
        .resources
        .iter()
        .find(|r| r.id == id && !r.failed)
        .and_then(|r| r.nodes.first().cloned())
}

/// Every remote node online and every resource on its remote node.
fn all_in_place(report: &StatusReport, options: &Options) -> (usize, usize) {
    let online = report.nodes.iter().filter(|n| n.remote && n.online).count();
    let mut placed_ok = 0;
    for i in 0..options.remotes {
        for k in 0..options.per_remote {
            if placed(report, &format!("d{i}-{k}")).as_deref() == Some(&remote_name(i)) {
                placed_ok += 1;
            }
        }
    }
    (online, placed_ok)
}

/// What must hold at every poll: no primitive active on two nodes, and,
/// with exclusive discovery, none active outside its remote node and the
/// cluster nodes. A node where the resource failed (a probe that timed out,
/// say) holds it in an unknown state, not running: the cluster stops it
/// there, as Pacemaker does, and it is not counted.
fn safety_violation(report: &StatusReport, options: &Options) -> Option<String> {
    for r in &report.resources {
        let running: Vec<&String> = r
            .nodes
            .iter()
            .filter(|n| !r.fail_counts.contains_key(*n))
            .collect();
        if running.len() > 1 {
            return Some(format!("{} active on {running:?}", r.id));
        }
        let remote =
            r.id.strip_prefix('d')
                .and_then(|rest| rest.split_once('-'))
                .map(|(i, _)| format!("remote{i}"));
        let allowed = |node: &str| {
            remote.as_deref() == Some(node) || ["node1", "node2", "node3"].contains(&node)
        };
        if let Some(node) = running.first().filter(|n| options.exclusive && !allowed(n)) {
            return Some(format!(
                "{} active on {node}, which it may not run on",
                r.id
            ));
        }
    }
    None
}

/// Polls status until `done`; a safety violation ends the wait with the
/// violation, the report kept in `dir/violation.json` for study.
fn wait_until(
    dir: &Path,
    options: &Options,
    mut done: impl FnMut(&StatusReport) -> bool,
) -> Result<Option<Duration>, String> {
    let start = Instant::now();
    while start.elapsed() < options.timeout {
        if let Some(report) = status(dir) {
            if let Some(violation) = safety_violation(&report, options) {
                let json = serde_json::to_string_pretty(&report).unwrap_or_default();
                let _ = std::fs::write(dir.join("violation.json"), json);
                return Err(violation);
            }
            if done(&report) {
                return Ok(Some(start.elapsed()));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(None)
}

fn start_remotes(
    dir: &Path,
    options: &Options,
) -> anyhow::Result<(Vec<u16>, Vec<std::process::Child>)> {
    let ports = localcluster::free_tcp_ports(options.remotes)?;
    let mut children = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let config = localcluster::prepare_remote(dir, &remote_name(i), *port)?;
        children.push(localcluster::start_remote(&systole_bin(), &config)?);
    }
    for port in &ports {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "a remote daemon did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok((ports, children))
}

fn report_nodes(dir: &Path, before: &[u64], children: &[std::process::Child]) {
    for (index, node) in ["node1", "node2", "node3"].iter().enumerate() {
        let pid = read_pid(&pid_path(dir, node)).unwrap_or(0);
        let (own, agents) = process_cpu_seconds(pid);
        println!(
            "{node}: view changes {}, cpu {own:.1} s (agents {agents:.1} s), rss {} MB (peak {} MB)",
            view_changes(dir, node).saturating_sub(before[index]),
            process_memory_kb(pid, "VmRSS:") / 1024,
            process_memory_kb(pid, "VmHWM:") / 1024,
        );
    }
    let (mut cpu, mut agents, mut rss, mut max_rss) = (0.0, 0.0, 0u64, 0u64);
    for child in children {
        let pid = child.id() as i32;
        let (own, theirs) = process_cpu_seconds(pid);
        cpu += own;
        agents += theirs;
        let kb = process_memory_kb(pid, "VmRSS:");
        rss += kb;
        max_rss = max_rss.max(kb);
    }
    let n = children.len().max(1) as f64;
    println!(
        "remote daemons ({}): cpu {cpu:.1} s in all ({:.2} s each), agents {agents:.1} s; rss mean {:.1} MB, max {:.1} MB",
        children.len(),
        cpu / n,
        rss as f64 / n / 1024.0,
        max_rss as f64 / 1024.0
    );
}

fn main() -> anyhow::Result<()> {
    let options = options();
    let dir = std::env::temp_dir().join(format!("systole-bench-remote-{}", std::process::id()));
    let cluster = LocalCluster::up(&systole_bin(), &dir, 3, true)?;
    let (ports, mut children) = start_remotes(&dir, &options)?;
    println!(
        "{} remote daemons listening; {} resources each",
        options.remotes, options.per_remote
    );
    let before: Vec<u64> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| view_changes(&dir, n))
        .collect();
    let poller = Poller {
        calls: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    };
    let total = options.remotes * options.per_remote;
    println!("probes to run: {}", probes(&options));
    let violation = std::thread::scope(|scope| {
        scope.spawn(|| poller.run(&dir));
        let start = Instant::now();
        if let Err(error) = cluster.modify(
            "node1",
            CibChange::Batch(configuration(&dir, &options, &ports)),
        ) {
            println!("import failed: {error:#}");
        }
        let mut best = (0, 0);
        let took = wait_until(&dir, &options, |r| {
            best = all_in_place(r, &options);
            best == (options.remotes, total)
        });
        let outcome = took.and_then(|took| {
            report_start(took, start, &options, best);
            match took {
                Some(_) => kill_one(&dir, &options, &mut children),
                None => Ok(()),
            }
        });
        poller.stop.store(true, Ordering::Relaxed);
        outcome.err()
    });
    println!(
        "status calls: {} failed of {}",
        poller.failed.load(Ordering::Relaxed),
        poller.calls.load(Ordering::Relaxed)
    );
    let mut errors = poller.errors.lock().unwrap().clone();
    errors.sort();
    errors.dedup();
    for error in errors.iter().take(5) {
        println!("  error: {error}");
    }
    report_fencing(&dir, &options);
    report_nodes(&dir, &before, &children);
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(cluster);
    if let Some(violation) = violation {
        println!(
            "SAFETY VIOLATION: {violation}; the cluster's directory is kept: {}",
            dir.display()
        );
        std::process::exit(2);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn report_start(took: Option<Duration>, start: Instant, options: &Options, best: (usize, usize)) {
    let total = options.remotes * options.per_remote;
    match took {
            Some(_) => println!(
                "all {} remote nodes online and {total} resources started on them in {:.1} s",
                options.remotes,
                start.elapsed().as_secs_f64()
            ),
            None => println!(
                "NOT all in place after {:.0} s: {} of {} remote nodes online, {} of {total} resources in place",
                options.timeout.as_secs_f64(),
                best.0,
                options.remotes,
                best.1
            ),
        }
}

/// Kills the last remote daemon; times its fencing and its resources'
/// recovery elsewhere.
fn kill_one(
    dir: &Path,
    options: &Options,
    children: &mut [std::process::Child],
) -> Result<(), String> {
    let victim = options.remotes - 1;
    let name = remote_name(victim);
    let ids: Vec<String> = (0..options.per_remote)
        .map(|k| format!("d{victim}-{k}"))
        .collect();
    let child = &mut children[victim];
    let killed = Instant::now();
    let _ = child.kill();
    let _ = child.wait();
    let mut fenced_at = None;
    let took = wait_until(dir, options, |r| {
        if fenced_at.is_none() && r.fencing.iter().any(|f| f.target == name && f.ok) {
            fenced_at = Some(killed.elapsed());
        }
        fenced_at.is_some()
            && ids
                .iter()
                .all(|id| placed(r, id).is_some_and(|n| n != name))
    })?;
    match took {
        Some(_) => println!(
            "killed {name}: fenced after {:.2} s, its {} resources running elsewhere after {:.2} s",
            fenced_at.unwrap_or_default().as_secs_f64(),
            ids.len(),
            killed.elapsed().as_secs_f64()
        ),
        None => println!("killed {name}: its resources NOT elsewhere within the timeout"),
    }
    Ok(())
}

/// Fencing of any remote node but the one killed is of a healthy node.
fn report_fencing(dir: &Path, options: &Options) {
    let Some(report) = status(dir) else {
        println!("fencing: no status");
        return;
    };
    let victim = remote_name(options.remotes.saturating_sub(1));
    let mut healthy: Vec<&str> = report
        .fencing
        .iter()
        .filter(|f| f.ok && f.target != victim)
        .map(|f| f.target.as_str())
        .collect();
    healthy.sort();
    healthy.dedup();
    println!("healthy nodes fenced: {} {healthy:?}", healthy.len());
}
