//! Remote and guest nodes on loopback: three real cluster daemons and
//! `systole remote` processes, each test in its own directory, everything
//! stopped afterwards. At every poll no primitive may be active on two
//! nodes.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use systole::actors::control_socket::StatusReport;
use systole::actors::message::CibChange;
use systole::cli::localcluster::{self, LocalCluster};
use systole::model::cib::xml::Element;

mod common;
use common::{Polling, BIN};

/// A three-node cluster with fencing (fence_systole_local) and no resources.
struct RemoteCluster {
    cluster: LocalCluster,
    remotes: Vec<(String, std::process::Child)>,
    _dir: tempfile::TempDir,
}

impl Drop for RemoteCluster {
    fn drop(&mut self) {
        // The cluster first: while it runs, a guest executor killed here
        // is a failed container it recovers, starting a new one that
        // would outlive the test.
        self.cluster.down();
        for (_, child) in &mut self.remotes {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Guest executors the fake container agent started (their pid
        // files are where remote daemons keep theirs: DIR/NAME/systole.pid).
        for entry in std::fs::read_dir(self.cluster.dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("node") {
                continue;
            }
            if let Some(pid) = localcluster::read_pid(&entry.path().join("systole.pid")) {
                if localcluster::alive(pid) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

impl RemoteCluster {
    fn up() -> RemoteCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = LocalCluster::up(Path::new(BIN), dir.path(), 3, true)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let rc = RemoteCluster {
            cluster,
            remotes: Vec::new(),
            _dir: dir,
        };
        rc.wait(20_000, "a DC", |r| r.dc.is_some());
        let fence = Element::parse(&format!(
            r#"<primitive id="fence-local" class="stonith" type="fence_systole_local">
                 <instance_attributes id="fence-local-params">
                   <nvpair id="fence-local-pid-dir" name="pid_dir" value="{}"/>
                 </instance_attributes>
               </primitive>"#,
            rc.cluster.dir().display()
        ))
        .unwrap();
        rc.change(CibChange::SetProperty {
            name: "stonith-enabled".into(),
            value: Some("true".into()),
        });
        rc.upsert("resources", fence);
        rc
    }

    fn change(&self, change: CibChange) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.cluster.modify("node1", change.clone()) {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!("{change:?}: {e:#}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn upsert(&self, section: &str, element: Element) {
        self.change(CibChange::Upsert {
            section: section.into(),
            element,
        });
    }

    /// Starts `systole remote` for remote node NAME; its port.
    fn start_remote(&mut self, name: &str) -> u16 {
        let port = localcluster::free_tcp_ports(1).unwrap()[0];
        let config = localcluster::prepare_remote(self.cluster.dir(), name, port).unwrap();
        let child = localcluster::start_remote(Path::new(BIN), &config).unwrap();
        self.remotes.push((name.to_string(), child));
        wait_listening(port);
        port
    }

    /// Starts `systole remote` for NAME again, on the port it had.
    fn restart_remote(&mut self, name: &str, port: u16) {
        let config = localcluster::prepare_remote(self.cluster.dir(), name, port).unwrap();
        let child = localcluster::start_remote(Path::new(BIN), &config).unwrap();
        self.remotes.retain(|(n, _)| n != name);
        self.remotes.push((name.to_string(), child));
        wait_listening(port);
    }

    fn kill_remote(&mut self, name: &str) {
        let (_, child) = self
            .remotes
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("remote started");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn add_connection(&self, name: &str, port: u16) {
        self.add_connection_with(name, port, "");
    }

    /// A connection with more parameters (`<nvpair .../>` elements).
    fn add_connection_with(&self, name: &str, port: u16, more_params: &str) {
        self.upsert(
            "resources",
            Element::parse(&format!(
                r#"<primitive id="{name}" class="ocf" provider="pacemaker" type="remote">
                     <instance_attributes id="{name}-params">
                       <nvpair id="{name}-server" name="server" value="127.0.0.1"/>
                       <nvpair id="{name}-port" name="port" value="{port}"/>{more_params}
                     </instance_attributes>
                     <operations><op id="{name}-monitor" name="monitor" interval="1s" timeout="10s"/></operations>
                   </primitive>"#
            ))
            .unwrap(),
        );
    }

    /// A real ocf:heartbeat:Dummy preferring `node`.
    fn add_dummy(&self, id: &str, node: &str) {
        self.upsert(
            "resources",
            Element::parse(&format!(
                r#"<primitive id="{id}" class="ocf" provider="heartbeat" type="Dummy">
                     <operations><op id="{id}-monitor" name="monitor" interval="2s" timeout="20s"/></operations>
                   </primitive>"#
            ))
            .unwrap(),
        );
        self.upsert(
            "constraints",
            Element::parse(&format!(
                r#"<rsc_location id="{id}-prefers-{node}" rsc="{id}" node="{node}" score="100"/>"#
            ))
            .unwrap(),
        );
    }

    /// Polls node1's status (the common polling, every 100 ms).
    fn wait(
        &self,
        timeout_ms: u64,
        what: &str,
        done: impl FnMut(&StatusReport) -> bool,
    ) -> StatusReport {
        let polling = Polling {
            node: "node1",
            timeout_ms,
            poll_ms: 100,
            what,
        };
        polling.wait(&self.cluster, done, || self.logs())
    }

    /// The cluster's logs and each remote executor's.
    fn logs(&self) -> String {
        let mut logs = self.cluster.logs(40);
        for (name, _) in &self.remotes {
            let log = self.cluster.dir().join(name).join("remote.log");
            logs.push_str(&format!(
                "\n== {name} ==\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ));
        }
        logs
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "systole remote not listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn placed_on(report: &StatusReport, id: &str) -> Option<String> {
    report
        .resources
        .iter()
        .find(|r| r.id == id && !r.failed)
        .and_then(|r| r.nodes.first().cloned())
}

fn node_online(report: &StatusReport, name: &str) -> bool {
    report.nodes.iter().any(|n| n.name == name && n.online)
}

#[test]
fn resources_run_on_remote_nodes_and_fail_over_when_one_is_killed() {
    let mut rc = RemoteCluster::up();
    let port1 = rc.start_remote("remote1");
    let port2 = rc.start_remote("remote2");
    rc.add_connection("remote1", port1);
    rc.add_connection("remote2", port2);
    rc.add_dummy("d1", "remote1");
    rc.add_dummy("d2", "remote2");
    let report = rc.wait(60_000, "d1 on remote1 and d2 on remote2", |r| {
        placed_on(r, "d1").as_deref() == Some("remote1")
            && placed_on(r, "d2").as_deref() == Some("remote2")
    });
    assert!(node_online(&report, "remote1") && node_online(&report, "remote2"));
    assert!(report.nodes.iter().any(|n| n.name == "remote1" && n.remote));
    // The agent really ran in the remote daemon's own state directory.
    let state = rc.cluster.dir().join("remote1").join("rsctmp");
    assert!(
        std::fs::read_dir(&state)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("d1")),
        "no state file of d1 in {}",
        state.display()
    );
    // Kill remote1's executor: it is fenced, d1 runs elsewhere, d2 stays.
    rc.kill_remote("remote1");
    let after = rc.wait(60_000, "remote1 fenced and d1 elsewhere", |r| {
        r.fencing.iter().any(|f| f.target == "remote1" && f.ok)
            && placed_on(r, "d1").is_some_and(|n| n != "remote1")
            && !node_online(r, "remote1")
    });
    assert_eq!(placed_on(&after, "d2").as_deref(), Some("remote2"));
}

#[test]
fn forged_and_malformed_frames_to_the_remote_port_are_refused_without_harm() {
    let mut rc = RemoteCluster::up();
    let port = rc.start_remote("remote1");
    rc.add_connection("remote1", port);
    rc.add_dummy("d1", "remote1");
    rc.wait(60_000, "d1 on remote1", |r| {
        placed_on(r, "d1").as_deref() == Some("remote1")
    });
    let mut attacks: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        // An overlong length: refused before anything is allocated.
        u32::MAX.to_be_bytes().to_vec(),
        vec![0u8; 64],
    ];
    // A well-formed frame sealed with another key.
    let stranger = systole::transport::AuthKey::from_bytes([3; 32]);
    let mut session = systole::actors::remote::session::Session::new(&stranger, "demo", "node1", 7);
    attacks.push(session.seal(
        &systole::actors::remote::session::RemoteMsg::Join {
            cluster_node: "node1".into(),
        },
        1,
    ));
    for attack in &attacks {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(attack);
        // The daemon greets, then closes the connection on the bad frame.
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    // The daemon still serves the cluster: d1 still runs there, monitored.
    std::thread::sleep(Duration::from_secs(3));
    let report = rc.wait(10_000, "remote1 still online with d1", |r| {
        node_online(r, "remote1") && placed_on(r, "d1").as_deref() == Some("remote1")
    });
    assert!(report.fencing.iter().all(|f| f.target != "remote1"));
    let log = std::fs::read_to_string(rc.cluster.dir().join("remote1").join("remote.log")).unwrap();
    assert!(log.contains("connection ended"), "{log}");
}

/// A guest node GUEST in a fake container `vm1` (the container is a
/// `systole remote` process the agent starts), and `g1` preferring it.
fn add_guest(rc: &RemoteCluster, guest: &str) {
    let port = localcluster::free_tcp_ports(1).unwrap()[0];
    let config = localcluster::prepare_remote(rc.cluster.dir(), guest, port).unwrap();
    rc.upsert(
        "resources",
        Element::parse(&format!(
            r#"<primitive id="vm1" class="ocf" provider="systole" type="FakeContainer">
                 <instance_attributes id="vm1-params">
                   <nvpair id="vm1-config" name="config" value="{}"/>
                 </instance_attributes>
                 <meta_attributes id="vm1-meta">
                   <nvpair id="vm1-remote-node" name="remote-node" value="{guest}"/>
                   <nvpair id="vm1-remote-addr" name="remote-addr" value="127.0.0.1"/>
                   <nvpair id="vm1-remote-port" name="remote-port" value="{port}"/>
                 </meta_attributes>
                 <operations><op id="vm1-monitor" name="monitor" interval="2s" timeout="20s"/></operations>
               </primitive>"#,
            config.display()
        ))
        .unwrap(),
    );
    rc.add_dummy("g1", guest);
}

#[test]
fn a_guest_node_in_a_fake_container_runs_resources() {
    let rc = RemoteCluster::up();
    add_guest(&rc, "guest1");
    let report = rc.wait(60_000, "g1 on guest1", |r| {
        placed_on(r, "g1").as_deref() == Some("guest1")
    });
    assert!(node_online(&report, "guest1"));
    let container_host = placed_on(&report, "vm1").expect("vm1 runs");
    assert!(container_host.starts_with("node"), "{container_host}");
}

/// A remote node whose connection has `reconnect_interval` comes back by
/// itself: killed, it is fenced and its resource runs elsewhere; once its
/// daemon listens again, the cluster reconnects within the interval and the
/// resource returns to the node it prefers.
#[test]
fn a_remote_node_with_a_reconnect_interval_rejoins_when_it_is_back() {
    let mut rc = RemoteCluster::up();
    let port = rc.start_remote("remote1");
    rc.add_connection_with(
        "remote1",
        port,
        r#"<nvpair id="remote1-reconnect" name="reconnect_interval" value="3s"/>"#,
    );
    rc.add_dummy("d1", "remote1");
    rc.wait(60_000, "d1 on remote1", |r| {
        placed_on(r, "d1").as_deref() == Some("remote1")
    });
    rc.kill_remote("remote1");
    rc.wait(60_000, "remote1 fenced and d1 elsewhere", |r| {
        r.fencing.iter().any(|f| f.target == "remote1" && f.ok)
            && placed_on(r, "d1").is_some_and(|n| n != "remote1")
            && !node_online(r, "remote1")
    });
    rc.restart_remote("remote1", port);
    let report = rc.wait(60_000, "remote1 back and d1 on it", |r| {
        node_online(r, "remote1") && placed_on(r, "d1").as_deref() == Some("remote1")
    });
    // Its connection runs on a cluster node again (its old failures stay
    // on record until a cleanup).
    let connection = report.resources.iter().find(|r| r.id == "remote1").unwrap();
    assert!(
        connection.nodes.len() == 1 && connection.nodes[0].starts_with("node"),
        "{connection:?}"
    );
}
