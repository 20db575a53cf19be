//! Replicated CIB updates on loopback: latency (median, p99) of one
//! acknowledged update (stored on a majority) and throughput with several
//! clients, on 3- and 5-node clusters; and the time to replace the whole
//! configuration with a 1000-resource one (what `cib import` does).
//!
//! `cargo run --release --bin bench_cib -- [UPDATES]`; needs the `systole`
//! binary built beside this one (`cargo build --release`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use systole::actors::control_socket::{self, ControlRequest, ControlResponse};
use systole::actors::message::CibChange;
use systole::cli::localcluster::{socket_path, LocalCluster};
use systole::model::cib::xml::Element;

fn systole_bin() -> PathBuf {
    std::env::current_exe()
        .expect("current exe")
        .with_file_name("systole")
}

/// A cluster in a directory of its own, removed with it.
struct Cluster {
    cluster: LocalCluster,
}

impl Cluster {
    fn up(nodes: usize) -> Cluster {
        let dir =
            std::env::temp_dir().join(format!("systole-bench-cib-{}-{nodes}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster =
            LocalCluster::up(&systole_bin(), &dir, nodes, true).unwrap_or_else(|e| panic!("{e:#}"));
        Cluster { cluster }
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

fn update(socket: &Path, change: CibChange) -> Duration {
    let start = Instant::now();
    match control_socket::call(socket, &ControlRequest::CibModify { change }, 30_000) {
        Ok(ControlResponse::Done(_)) => start.elapsed(),
        other => panic!("update failed: {other:?}"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn latency_and_throughput(nodes: usize, updates: usize) {
    let cluster = Cluster::up(nodes);
    let socket = socket_path(cluster.path(), "node2");
    let mut latencies: Vec<Duration> = (0..updates)
        .map(|i| {
            update(
                &socket,
                CibChange::SetProperty {
                    name: format!("bench-{i}"),
                    value: Some(i.to_string()),
                },
            )
        })
        .collect();
    latencies.sort();
    let clients = 4;
    let per_client = updates / clients;
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let socket = socket_path(cluster.path(), &format!("node{}", c % nodes + 1));
            std::thread::spawn(move || {
                for i in 0..per_client {
                    update(
                        &socket,
                        CibChange::SetProperty {
                            name: format!("bench-c{c}-{i}"),
                            value: Some(i.to_string()),
                        },
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client thread");
    }
    let throughput = (per_client * clients) as f64 / start.elapsed().as_secs_f64();
    println!(
        "{nodes} nodes: update latency (via a non-DC node, acknowledged once on a majority) median {:.2} ms, p99 {:.2} ms over {updates}; throughput {throughput:.0} updates/s with {clients} clients",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}

fn configuration_with(resources: usize) -> Element {
    let mut text = String::from("<configuration><crm_config><cluster_property_set id=\"cib-bootstrap-options\"><nvpair id=\"opt-st\" name=\"stonith-enabled\" value=\"false\"/></cluster_property_set></crm_config><nodes/><resources>");
    for i in 0..resources {
        text.push_str(&format!(
            "<primitive id=\"r{i}\" class=\"ocf\" provider=\"systole\" type=\"Dummy\"><meta_attributes id=\"r{i}-meta\"><nvpair id=\"r{i}-role\" name=\"target-role\" value=\"Stopped\"/></meta_attributes><operations><op id=\"r{i}-mon\" name=\"monitor\" interval=\"10s\"/></operations></primitive>"
        ));
    }
    text.push_str("</resources><constraints/></configuration>");
    Element::parse(&text).expect("generated configuration")
}

fn main() {
    let updates: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    latency_and_throughput(3, updates);
    latency_and_throughput(5, updates);
    let cluster = Cluster::up(3);
    let socket = socket_path(cluster.path(), "node1");
    // Resources stay stopped (target-role) so this times the CIB path only.
    let configuration = configuration_with(1000);
    let took = update(&socket, CibChange::ReplaceConfiguration(configuration));
    println!(
        "replace the configuration with 1000 resources (cib import's path), acknowledged on a majority: {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
}
