//! Whole clusters in one process over the in-memory network, with faults
//! drawn from a seed: the same daemon assembly as on real sockets, real OCF
//! agents (our Dummy), one state directory per node.
//!
//! Time is real (agents are real processes), so a seed fixes the network's
//! fault choices, not every interleaving. The invariants are checked at every
//! step: no primitive active on two nodes; a lost node's resources start
//! elsewhere only after it was fenced; one DC per quorate partition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use systole::actors::config::NodeConfig;
use systole::actors::control_socket::StatusReport;
use systole::actors::daemon::{agent_config_for, start_node, NodeHandle};
use systole::actors::message::CibChange;
use systole::actors::node_status::status_report;
use systole::model::cib::xml::Element;
use systole::transport::{AuthKey, Faults, MemoryNetwork, TransportConfig};

/// A fence agent for the simulation: "powers off" the target by removing
/// its resources' state files and leaving a marker the harness acts on.
const FENCE_SIM: &str = r#"#!/bin/sh
target=""; root=""
while IFS='=' read -r key value; do
  case "$key" in
    nodename|port|plug) target="$value" ;;
    sim_root) root="$value" ;;
    action) action="$value" ;;
  esac
done
case "$action" in
  off|reboot)
    [ -n "$target" ] && [ -n "$root" ] || exit 1
    rm -f "$root/$target/state/run/"* 2>/dev/null
    mkdir -p "$root/fenced" && touch "$root/fenced/$target"
    exit 0 ;;
  monitor|status|list) exit 0 ;;
  *) exit 1 ;;
esac
"#;

struct Sim {
    root: tempfile::TempDir,
    net: MemoryNetwork,
    nodes: BTreeMap<String, NodeHandle>,
    killed: Vec<String>,
}

impl Sim {
    fn new(seed: u64, names: &[&str]) -> Sim {
        let root = tempfile::tempdir().unwrap();
        let agents = root.path().join("agents");
        systole::agent::install_agents(&agents).unwrap();
        let fence = agents.join("fence").join("fence_sim");
        std::fs::write(&fence, FENCE_SIM).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fence, std::fs::Permissions::from_mode(0o755)).unwrap();
        let net = MemoryNetwork::new(seed);
        let key = AuthKey::from_bytes([7; 32]);
        let mut nodes = BTreeMap::new();
        for name in names {
            let home = root.path().join(name);
            let config = NodeConfig {
                cluster_name: "sim".into(),
                node_name: name.to_string(),
                bind: "127.0.0.1:1".parse().unwrap(),
                peers: Vec::new(),
                multicast: None,
                authkey: root.path().join("authkey"),
                state_dir: home.join("state"),
                socket: home.join("systole.sock"),
                pid_file: None,
                agents_dir: Some(agents.clone()),
                ocf_root: PathBuf::from("/usr/lib/ocf"),
                expected_votes: None,
                initial_voters: names.iter().map(|n| n.to_string()).collect(),
                initial_witnesses: Vec::new(),
                election_timeout_ms: 500,
                two_node: false,
                heartbeat_interval_ms: 100,
                heartbeat_timeout_ms: 600,
                realtime: false,
                admin_group: None,
                readonly_group: None,
                log_file: None,
            };
            std::fs::create_dir_all(&config.state_dir).unwrap();
            let mut transport = TransportConfig::new("sim", name, key.clone());
            transport.expected_votes = names.len() as u32;
            let (bus, events) = net.join(transport);
            let handle = start_node(
                &config,
                agent_config_for(&config),
                bus,
                events,
                Box::new(|_| {}),
            );
            nodes.insert(name.to_string(), handle);
        }
        Sim {
            root,
            net,
            nodes,
            killed: Vec::new(),
        }
    }

    fn live(&self) -> impl Iterator<Item = (&String, &NodeHandle)> {
        self.nodes.iter().filter(|(n, _)| !self.killed.contains(n))
    }

    fn status(&self, node: &str) -> StatusReport {
        status_report(&self.nodes[node])
    }

    /// The invariants, checked over every live node's view.
    fn check(&self) {
        // A resource is really active where its state file exists: the
        // ground truth, independent of what any node believes.
        let mut active: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, _) in self.live() {
            let run = self.root.path().join(name).join("state").join("run");
            for entry in std::fs::read_dir(&run).into_iter().flatten().flatten() {
                let file = entry.file_name().to_string_lossy().to_string();
                active.entry(file).or_default().push(name.clone());
            }
        }
        for (file, nodes) in &active {
            if file.contains(':') || file.contains("ping") {
                continue; // clone instances may legitimately run everywhere
            }
            assert!(nodes.len() <= 1, "SAFETY: {file} active on {nodes:?}");
        }
        // Within one quorate membership, at most one node acts as DC.
        let mut quorate_dcs: BTreeMap<Vec<String>, std::collections::BTreeSet<String>> =
            BTreeMap::new();
        for (name, node) in self.live() {
            let report = self.status(name);
            for resource in &report.resources {
                assert!(
                    resource.nodes.len() <= 1,
                    "SAFETY: {name} sees {} on {:?}",
                    resource.id,
                    resource.nodes
                );
            }
            // A node that claims the role for itself (followers may still
            // name the DC they last heard of until the new one announces).
            if report.quorate && report.dc.as_deref() == Some(name.as_str()) {
                quorate_dcs
                    .entry(node.shared.view().members)
                    .or_default()
                    .insert(name.clone());
            }
        }
        for (members, dcs) in &quorate_dcs {
            assert!(
                dcs.len() <= 1,
                "SAFETY: two DCs {dcs:?} in one quorate partition {members:?}"
            );
            for dc in dcs {
                assert!(
                    members.contains(dc),
                    "DC {dc} outside its partition {members:?}"
                );
            }
        }
    }

    /// Steps real time in 100 ms slices until `done`, checking invariants.
    async fn run_until(&self, timeout_ms: u64, what: &str, mut done: impl FnMut(&Sim) -> bool) {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            self.apply_fencing();
            self.check();
            if done(self) {
                return;
            }
        }
        let status: Vec<_> = self
            .live()
            .map(|(n, _)| (n.clone(), self.status(n)))
            .collect();
        panic!("timed out waiting for {what}: {status:#?}");
    }

    /// The fence agent's marker: cut the fenced node off the network.
    fn apply_fencing(&self) {
        for name in self.nodes.keys() {
            if self.root.path().join("fenced").join(name).exists() {
                self.net.kill(name);
            }
        }
    }

    async fn modify(&self, node: &str, change: CibChange) {
        let handle = &self.nodes[node];
        let answer = handle
            .router
            .ask(
                handle.router.local_ref("test"),
                handle.router.local_ref("cib"),
                systole::actors::message::CibModify { change },
                10_000,
            )
            .await;
        assert!(answer.is_ok(), "{answer:?}");
    }

    fn dc_everywhere(&self) -> Option<String> {
        let dcs: Vec<Option<String>> = self.live().map(|(n, _)| self.status(n).dc).collect();
        let first = dcs.first().cloned().flatten()?;
        dcs.iter()
            .all(|d| d.as_deref() == Some(first.as_str()))
            .then_some(first)
    }
}

fn dummy(id: &str) -> Element {
    Element::parse(&format!(
        r#"<primitive id="{id}" class="ocf" provider="systole" type="Dummy">
             <operations><op id="{id}-mon" name="monitor" interval="1s" timeout="10s"/></operations>
           </primitive>"#
    ))
    .unwrap()
}

async fn configure(sim: &Sim, dc: &str, root: &Path) {
    let fence = Element::parse(&format!(
        r#"<primitive id="fence-sim" class="stonith" type="fence_sim">
             <instance_attributes id="fence-sim-ia"><nvpair id="fence-sim-root" name="sim_root" value="{}"/></instance_attributes>
           </primitive>"#,
        root.display()
    ))
    .unwrap();
    for change in [
        CibChange::SetProperty {
            name: "stonith-enabled".into(),
            value: Some("true".into()),
        },
        CibChange::SetProperty {
            name: "no-quorum-policy".into(),
            value: Some("stop".into()),
        },
        CibChange::Upsert {
            section: "resources".into(),
            element: fence,
        },
        CibChange::Upsert {
            section: "resources".into(),
            element: dummy("a"),
        },
        CibChange::Upsert {
            section: "resources".into(),
            element: dummy("b"),
        },
        CibChange::Upsert {
            section: "resources".into(),
            element: dummy("c"),
        },
    ] {
        sim.modify(dc, change).await;
    }
}

fn started_everywhere(sim: &Sim, ids: &[&str]) -> bool {
    sim.live().all(|(n, _)| {
        let report = sim.status(n);
        ids.iter().all(|id| {
            report
                .resources
                .iter()
                .any(|r| r.id == *id && r.nodes.len() == 1)
        })
    })
}

#[actix_rt::test]
async fn seeded_faults_lost_node_is_fenced_before_its_resources_move() {
    for seed in [1u64, 2] {
        let sim = Sim::new(seed, &["n1", "n2", "n3"]);
        sim.net.set_faults(Faults {
            drop_per_mille: 20,
            duplicate_per_mille: 20,
            delay_ms_min: 0,
            delay_ms_max: 5,
        });
        sim.run_until(10_000, "one DC", |s| s.dc_everywhere().is_some())
            .await;
        let dc = sim.dc_everywhere().unwrap();
        configure(&sim, &dc, sim.root.path()).await;
        sim.run_until(30_000, "a, b, c started", |s| {
            started_everywhere(s, &["a", "b", "c"])
        })
        .await;
        // Kill a node that runs something and is not the DC.
        let report = sim.status(&dc);
        let victim = report
            .resources
            .iter()
            .filter(|r| ["a", "b", "c"].contains(&r.id.as_str()))
            .flat_map(|r| r.nodes.clone())
            .find(|n| *n != dc)
            .unwrap_or_else(|| {
                report
                    .nodes
                    .iter()
                    .map(|n| n.name.clone())
                    .find(|n| *n != dc)
                    .unwrap()
            });
        let moved: Vec<String> = report
            .resources
            .iter()
            .filter(|r| r.nodes.contains(&victim))
            .map(|r| r.id.clone())
            .collect();
        sim.net.kill(&victim);
        let mut sim = sim;
        sim.killed.push(victim.clone());
        let fenced_marker = sim.root.path().join("fenced").join(&victim);
        sim.run_until(30_000, "the victim's resources restarted elsewhere", |s| {
            let report = s.status(&dc);
            let moved_now = moved.iter().all(|id| {
                report
                    .resources
                    .iter()
                    .any(|r| &r.id == id && r.nodes.len() == 1 && r.nodes[0] != victim)
            });
            if moved_now {
                assert!(
                    fenced_marker.exists(),
                    "SAFETY: resources of {victim} moved before it was fenced"
                );
            }
            moved_now
        })
        .await;
    }
}

#[actix_rt::test]
async fn partitions_heal_into_one_dc() {
    let sim = Sim::new(3, &["n1", "n2", "n3", "n4", "n5"]);
    sim.run_until(10_000, "one DC", |s| s.dc_everywhere().is_some())
        .await;
    sim.net.partition(&[&["n1", "n2"], &["n3", "n4", "n5"]]);
    sim.run_until(10_000, "a DC in the quorate partition", |s| {
        ["n3", "n4", "n5"].iter().all(|n| {
            let report = s.status(n);
            report.quorate
                && report
                    .dc
                    .as_deref()
                    .is_some_and(|d| ["n3", "n4", "n5"].contains(&d))
        }) && ["n1", "n2"].iter().all(|n| !s.status(n).quorate)
    })
    .await;
    sim.net.heal();
    sim.run_until(10_000, "one DC again", |s| {
        s.dc_everywhere().is_some() && s.live().all(|(n, _)| s.status(n).quorate)
    })
    .await;
}

#[actix_rt::test]
async fn crashing_every_actor_on_every_node_keeps_resources_and_invariants() {
    let sim = Sim::new(5, &["n1", "n2", "n3"]);
    sim.run_until(10_000, "one DC", |s| s.dc_everywhere().is_some())
        .await;
    let dc = sim.dc_everywhere().unwrap();
    configure(&sim, &dc, sim.root.path()).await;
    sim.run_until(30_000, "a, b, c started", |s| {
        started_everywhere(s, &["a", "b", "c"])
    })
    .await;
    let placement = |s: &Sim| -> Vec<(String, Vec<String>)> {
        let mut out: Vec<_> = s
            .status(&dc)
            .resources
            .into_iter()
            .map(|r| (r.id, r.nodes))
            .collect();
        out.sort();
        out
    };
    let before = placement(&sim);
    for actor in ["bus", "membership", "cib", "policy", "exec", "fence", "dc"] {
        for (name, node) in &sim.nodes {
            let router = &node.router;
            router
                .send(
                    router.local_ref("test"),
                    router.local_ref(actor),
                    systole::actors::message::Message::InjectCrash,
                )
                .unwrap_or_else(|e| panic!("{actor}@{name}: {e}"));
        }
        sim.run_until(5_000, "the crashed actors to be back", |s| {
            s.nodes.values().all(|n| {
                n.tree
                    .snapshot()
                    .children
                    .iter()
                    .flat_map(|c| std::iter::once(c.clone()).chain(c.children.clone()))
                    .any(|c| c.name == actor && c.restarts >= 1)
            })
        })
        .await;
    }
    // Give the DC a moment to run any transition the crashes caused.
    sim.run_until(10_000, "a, b, c still started", |s| {
        started_everywhere(s, &["a", "b", "c"])
    })
    .await;
    assert_eq!(placement(&sim), before, "a crashed actor moved a resource");
}
