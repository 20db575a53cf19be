//! `systole demo`: the newcomer's tour. A 3-node local cluster with the
//! demo resources, the live status, one node killed, the failover shown,
//! and everything shut down again, within a minute.

use crate::actors::control_socket::StatusReport;
use crate::cli::localcluster::{self, socket_path};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const DEMO_NODES: usize = 3;
const SETTLE_TIMEOUT_MS: u64 = 20_000;
const FAILOVER_TIMEOUT_MS: u64 = 20_000;

fn all_started(report: &StatusReport) -> bool {
    !report.resources.is_empty()
        && report.dc.is_some()
        && report
            .resources
            .iter()
            .all(|r| r.role != "Stopped" && !r.nodes.is_empty() && !r.failed)
}

fn hosting(report: &StatusReport, resource: &str) -> Vec<String> {
    report
        .resources
        .iter()
        .find(|r| r.id == resource)
        .map(|r| r.nodes.clone())
        .unwrap_or_default()
}

/// Runs the tour; `dir` defaults to a fresh temporary directory.
pub fn run(dir: Option<PathBuf>, keep: bool) -> anyhow::Result<()> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("systole-demo-{}", std::process::id())),
    };
    println!(
        "== Starting a {DEMO_NODES}-node cluster on loopback in {}",
        dir.display()
    );
    let started = Instant::now();
    let outcome = tour(&dir);
    if keep {
        match localcluster::start_web(&dir) {
            Ok(url) => println!(
                "\n== Web console: {url} (live status, transition graphs, sandbox, /metrics)"
            ),
            Err(error) => println!("\n== The web console did not start: {error:#}"),
        }
        println!(
            "\n== Cluster left running (--keep). Try:\n   systole status --dir {0}\n   systole actors --dir {0} --node node1\n   systole cluster down --dir {0}",
            dir.display()
        );
    } else {
        let stopped = localcluster::down(&dir).unwrap_or(0);
        println!(
            "\n== Stopped {stopped} nodes; demo took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if outcome.is_ok() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            println!("   logs kept in {}", dir.display());
        }
    }
    outcome
}

fn tour(dir: &std::path::Path) -> anyhow::Result<()> {
    localcluster::up(dir, DEMO_NODES, false)?;
    let names = localcluster::nodes_in(dir);
    let first = socket_path(dir, &names[0]);
    let mut report = localcluster::status(&first)?;
    localcluster::wait_for(SETTLE_TIMEOUT_MS, "every demo resource to start", || {
        localcluster::status(&first)
            .map(|r| {
                let done = all_started(&r);
                report = r;
                done
            })
            .unwrap_or(false)
    })
    .context("the demo resources did not all start")?;
    println!("\n== The cluster is up and every resource runs:\n");
    print!("{}", crate::cli::status_text::render(&report));

    let dc = report.dc.clone().unwrap_or_default();
    let vip_nodes = hosting(&report, "vip");
    let victim = vip_nodes
        .iter()
        .find(|n| **n != dc)
        .or(vip_nodes.first())
        .cloned()
        .context("vip is not running anywhere")?;
    let survivor = names
        .iter()
        .find(|n| **n != victim)
        .cloned()
        .context("no survivor")?;
    let survivor_socket = socket_path(dir, &survivor);
    let pid = localcluster::read_pid(&localcluster::pid_path(dir, &victim))
        .context("victim has no pid file")?;
    println!("\n== Killing {victim} (pid {pid}, runs vip) with SIGKILL; DC is {dc}\n");
    let killed_at = Instant::now();
    unsafe { libc::kill(pid, libc::SIGKILL) };

    report = watch_failover(&survivor_socket, &victim, killed_at)?;
    // Let the rest of the resources settle before the final picture.
    let _ = localcluster::wait_for(5_000, "the cluster to settle", || {
        localcluster::status(&survivor_socket)
            .map(|r| {
                let settled = r
                    .resources
                    .iter()
                    .filter(|r| r.parent.as_deref() != Some("ping-clone"))
                    .all(|r| r.nodes.len() == 1 && !r.nodes.contains(&victim));
                report = r;
                settled
            })
            .unwrap_or(false)
    });
    print!("{}", crate::cli::status_text::render(&report));
    Ok(())
}

/// Shows each change the survivor sees after `victim` was killed, until
/// vip runs elsewhere; the status then.
fn watch_failover(
    survivor_socket: &std::path::Path,
    victim: &str,
    killed_at: Instant,
) -> anyhow::Result<StatusReport> {
    let mut last_state = String::new();
    let deadline = killed_at + Duration::from_millis(FAILOVER_TIMEOUT_MS);
    loop {
        if Instant::now() > deadline {
            bail!("vip did not fail over within {FAILOVER_TIMEOUT_MS} ms");
        }
        std::thread::sleep(Duration::from_millis(100));
        let Ok(now) = localcluster::status(survivor_socket) else {
            continue;
        };
        let victim_online = now.nodes.iter().any(|n| n.name == victim && n.online);
        let vip_at = hosting(&now, "vip");
        let fenced = now.fencing.iter().any(|f| f.target == victim && f.ok);
        let state = format!(
            "DC {}  {victim} {}  fenced: {}  vip on {:?}",
            now.dc.as_deref().unwrap_or("none"),
            if victim_online { "online" } else { "OFFLINE" },
            if fenced { "yes" } else { "not yet" },
            vip_at
        );
        if state != last_state {
            println!("  +{:>5} ms  {state}", killed_at.elapsed().as_millis());
            last_state = state;
        }
        if !victim_online && vip_at.len() == 1 && vip_at[0] != victim {
            println!(
                "\n== Failover done in {} ms: vip now runs on {}\n",
                killed_at.elapsed().as_millis(),
                vip_at[0]
            );
            return Ok(now);
        }
    }
}
