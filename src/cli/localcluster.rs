//! A local cluster on loopback: N daemons of this binary, each with its own
//! directory, sharing one authkey. What `systole cluster up/down` and the
//! demo use, and what the process-level tests drive.
//!
//! Layout of DIR: `authkey`, `agents/`, and for each node `nodeK/`
//! (`systole.toml`, `systole.pid`, `systole.sock`, `systole.log`, `state/`,
//! `rsctmp/`: its agents' state).

use crate::actors::config::{NodeConfig, PeerConfig};
use crate::actors::control_socket::{self, ControlRequest, ControlResponse, StatusReport};
use crate::actors::message::CibChange;
use crate::model::cib::xml::Element;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const CLUSTER_NODES_MAX: usize = 128;
pub const START_TIMEOUT_MS: u64 = 20_000;
/// Above this many nodes, `cluster up` writes a longer heartbeat interval
/// and timeout. Every node heartbeats every peer, so a node sends and reads
/// 2 × (N − 1) datagrams per interval; 64 daemons on one small machine at
/// 100 ms spent most of its CPU on heartbeats alone. And the leader of 64
/// sends each write to 63 peers: with 64 clients writing at once on 2
/// cores, a 600 ms timeout dropped the busy leader from its peers' views
/// 568–988 times in a 10 s run (900 ms: 132; 1200 ms and 2000 ms: none),
/// refusing a write each time. Corosync lengthens its token with the node
/// count for the same reason. The price: a lost node is noticed after
/// 1.2 s rather than 0.6 s (failover 1.5 s against 0.8 s, measured).
pub const LARGE_CLUSTER_NODES: usize = 16;
const LARGE_CLUSTER_HEARTBEAT_INTERVAL_MS: u64 = 200;
/// Six intervals at 200 ms.
const LARGE_CLUSTER_HEARTBEAT_TIMEOUT_MS: u64 = 1_200;

pub fn node_name(index: usize) -> String {
    format!("node{index}")
}

pub fn node_dir(dir: &Path, node: &str) -> PathBuf {
    dir.join(node)
}

pub fn socket_path(dir: &Path, node: &str) -> PathBuf {
    node_dir(dir, node).join("systole.sock")
}

pub fn pid_path(dir: &Path, node: &str) -> PathBuf {
    node_dir(dir, node).join("systole.pid")
}

/// Node names of a cluster directory, in order.
pub fn nodes_in(dir: &Path) -> Vec<String> {
    let mut nodes: Vec<(usize, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let index = name.strip_prefix("node")?.parse().ok()?;
                    e.path()
                        .join("systole.toml")
                        .exists()
                        .then_some((index, name))
                })
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes.into_iter().map(|(_, name)| name).collect()
}

/// Free UDP ports on 127.0.0.1, held open together so they differ.
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let sockets: Vec<std::net::UdpSocket> = (0..count)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free ports on 127.0.0.1")?;
    Ok(sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?)
}

/// Writes DIR's authkey, agents and node configs (keeping existing configs:
/// a cluster brought up again in the same DIR restarts the same nodes).
pub fn prepare(dir: &Path, nodes: usize) -> anyhow::Result<Vec<PathBuf>> {
    if nodes == 0 || nodes > CLUSTER_NODES_MAX {
        bail!("--nodes must be between 1 and {CLUSTER_NODES_MAX}");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let authkey = dir.join("authkey");
    if !authkey.exists() {
        crate::transport::keygen(&authkey).context("writing the authkey")?;
    }
    let agents_dir = dir.join("agents");
    crate::agent::install_agents(&agents_dir).context("installing agents")?;
    let existing = nodes_in(&dir);
    if !existing.is_empty() {
        if existing.len() != nodes {
            bail!(
                "{} already holds a cluster of {} nodes; bring it up with --nodes {} or use another --dir",
                dir.display(),
                existing.len(),
                existing.len()
            );
        }
        return Ok(existing
            .iter()
            .map(|n| node_dir(&dir, n).join("systole.toml"))
            .collect());
    }
    let ports = free_ports(nodes)?;
    let names: Vec<String> = (1..=nodes).map(node_name).collect();
    let mut paths = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let home = node_dir(&dir, name);
        std::fs::create_dir_all(home.join("state"))?;
        let config = node_config(&dir, &names, &ports, index);
        // Each node its own agents' state (HA_RSCTMP), as on separate
        // machines; emptied when the machine has rebooted.
        let agents = crate::actors::config::AgentSettings {
            rsctmp_dir: home.join("rsctmp"),
            ..Default::default()
        };
        let path = home.join("systole.toml");
        std::fs::write(&path, config.to_toml_with_agents(&agents))?;
        paths.push(path);
    }
    Ok(paths)
}

/// Node `index` of the local cluster in `dir` of `names` on loopback `ports`.
fn node_config(dir: &Path, names: &[String], ports: &[u16], index: usize) -> NodeConfig {
    let home = node_dir(dir, &names[index]);
    NodeConfig {
        cluster_name: "demo".into(),
        node_name: names[index].clone(),
        bind: format!("127.0.0.1:{}", ports[index])
            .parse()
            .expect("loopback address"),
        peers: names
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != index)
            .map(|(j, peer)| PeerConfig {
                name: peer.clone(),
                addr: format!("127.0.0.1:{}", ports[j])
                    .parse()
                    .expect("loopback address"),
            })
            .collect(),
        multicast: None,
        authkey: dir.join("authkey"),
        state_dir: home.join("state"),
        socket: home.join("systole.sock"),
        pid_file: Some(home.join("systole.pid")),
        agents_dir: Some(dir.join("agents")),
        ocf_root: PathBuf::from("/usr/lib/ocf"),
        expected_votes: None,
        initial_voters: names.to_vec(),
        initial_witnesses: Vec::new(),
        election_timeout_ms: 500,
        two_node: names.len() == 2,
        heartbeat_interval_ms: if names.len() > LARGE_CLUSTER_NODES {
            LARGE_CLUSTER_HEARTBEAT_INTERVAL_MS
        } else {
            100
        },
        heartbeat_timeout_ms: if names.len() > LARGE_CLUSTER_NODES {
            LARGE_CLUSTER_HEARTBEAT_TIMEOUT_MS
        } else {
            600
        },
        realtime: true,
        admin_group: None,
        readonly_group: None,
        log_file: None,
    }
}

/// Starts one node's daemon in the background, detached from this process.
pub fn start_daemon(config_path: &Path) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    let home = config_path.parent().context("config has no directory")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("systole.log"))?;
    let exe = std::env::current_exe().context("locating the systole binary")?;
    let child = std::process::Command::new(exe)
        .arg("daemon")
        .arg("--config")
        .arg(config_path)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting a daemon")?;
    Ok(child.id())
}

/// The web console started for a local cluster (`demo --keep`).
pub fn web_pid_path(dir: &Path) -> PathBuf {
    dir.join("web.pid")
}

/// Starts `systole web` on a free loopback port for the local cluster in
/// `dir`, detached like its daemons (`cluster down` stops it); answers
/// its URL.
pub fn start_web(dir: &Path) -> anyhow::Result<String> {
    use std::os::unix::process::CommandExt;
    let out_path = dir.join("web.log");
    let out = std::fs::File::create(&out_path)?;
    let exe = std::env::current_exe().context("locating the systole binary")?;
    let child = std::process::Command::new(exe)
        .args(["web", "--bind", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .context("starting the web console")?;
    crate::os::persist::write_atomic(&web_pid_path(dir), child.id().to_string().as_bytes())?;
    let mut url = None;
    wait_for(10_000, "the web console to print its URL", || {
        url = std::fs::read_to_string(&out_path).ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("web console on ").map(String::from))
        });
        url.is_some()
    })?;
    url.context("no URL")
}

/// Free TCP ports on 127.0.0.1, held open together so they differ.
pub fn free_tcp_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free TCP ports on 127.0.0.1")?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?)
}

/// Writes DIR/NAME/remote.toml for a `systole remote` serving remote node
/// NAME on 127.0.0.1:PORT with DIR's authkey and agents. Its pid file is
/// DIR/NAME/systole.pid, where `fence_systole_local` finds it.
pub fn prepare_remote(dir: &Path, name: &str, port: u16) -> anyhow::Result<PathBuf> {
    let dir = dir.canonicalize()?;
    let home = node_dir(&dir, name);
    std::fs::create_dir_all(home.join("state"))?;
    let config = crate::actors::remote::config::RemoteConfig {
        cluster_name: "demo".into(),
        node_name: name.to_string(),
        listen: format!("127.0.0.1:{port}").parse()?,
        authkey: dir.join("authkey"),
        state_dir: home.join("state"),
        pid_file: Some(home.join("systole.pid")),
        agents_dir: Some(dir.join("agents")),
        ocf_root: PathBuf::from("/usr/lib/ocf"),
        log_file: None,
    };
    let mut text = toml::to_string(&config)?;
    text.push_str(&format!(
        "\n[agents]\nrsctmp_dir = {:?}\n",
        home.join("rsctmp").display().to_string()
    ));
    let path = home.join("remote.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Starts `BIN remote --config CONFIG` in its own process group, its log
/// beside the configuration (`remote.log`).
pub fn start_remote(bin: &Path, config: &Path) -> anyhow::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let home = config.parent().context("config has no directory")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("remote.log"))?;
    std::process::Command::new(bin)
        .arg("remote")
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting systole remote")
}

pub fn ping(socket: &Path) -> bool {
    matches!(
        control_socket::call(socket, &ControlRequest::Ping, 1_000),
        Ok(ControlResponse::Pong { .. })
    )
}

pub fn status(socket: &Path) -> anyhow::Result<StatusReport> {
    match control_socket::call(socket, &ControlRequest::Status, 5_000)? {
        ControlResponse::Status(report) => Ok(report),
        ControlResponse::Error(e) => bail!("{e}"),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// Waits until `check` holds, polling every 100 ms, at most `timeout_ms`.
pub fn wait_for(
    timeout_ms: u64,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    while Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("timed out after {timeout_ms} ms waiting for {what}")
}

/// `systole cluster up`: starts every node and waits for a quorate DC.
pub fn up(dir: &Path, nodes: usize, empty: bool) -> anyhow::Result<()> {
    let configs = prepare(dir, nodes)?;
    let dir = dir.canonicalize()?;
    for config in &configs {
        let node = config
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if ping(&socket_path(&dir, &node)) {
            continue;
        }
        start_daemon(config)?;
    }
    let names = nodes_in(&dir);
    for node in &names {
        let socket = socket_path(&dir, node);
        wait_for(START_TIMEOUT_MS, &format!("{node} to answer"), || {
            ping(&socket)
        })
        .with_context(|| format!("see {}", node_dir(&dir, node).join("systole.log").display()))?;
    }
    let first = socket_path(&dir, &names[0]);
    wait_for(START_TIMEOUT_MS, "a DC with quorum", || {
        status(&first).is_ok_and(|s| {
            s.dc.is_some()
                && s.quorate
                && s.nodes.iter().filter(|n| n.online).count() == names.len()
        })
    })?;
    if !empty && cib_has_no_resources(&first)? {
        for change in demo_configuration(&dir) {
            modify(&first, change)?;
        }
    }
    Ok(())
}

fn cib_has_no_resources(socket: &Path) -> anyhow::Result<bool> {
    match control_socket::call(socket, &ControlRequest::CibGet, 5_000)? {
        ControlResponse::Cib { xml } => {
            let cib = Element::parse(&xml)?;
            Ok(cib
                .child("configuration")
                .and_then(|c| c.child("resources"))
                .is_none_or(|r| r.children.is_empty()))
        }
        other => bail!("unexpected answer {other:?}"),
    }
}

pub fn modify(socket: &Path, change: CibChange) -> anyhow::Result<String> {
    match control_socket::call(socket, &ControlRequest::CibModify { change }, 15_000)? {
        ControlResponse::Done(text) => Ok(text),
        ControlResponse::Error(e) => bail!("{e}"),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// `systole cluster down`: TERM to every node (each leaves cleanly: its
/// resources are stopped or moved first), KILL for any still there after
/// the drain timeout.
pub fn down(dir: &Path) -> anyhow::Result<usize> {
    let mut stopped = 0;
    let names = nodes_in(dir);
    if names.is_empty() {
        bail!("{} holds no local cluster", dir.display());
    }
    if let Some(pid) = read_pid(&web_pid_path(dir)).filter(|&pid| alive(pid)) {
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let _ = std::fs::remove_file(web_pid_path(dir));
    }
    let mut pids = Vec::new();
    for node in &names {
        if let Some(pid) = read_pid(&pid_path(dir, node)) {
            if alive(pid) {
                unsafe { libc::kill(pid, libc::SIGTERM) };
                pids.push(pid);
            }
        }
    }
    // Each node first lets the cluster stop or move its resources.
    let deadline = Instant::now()
        + Duration::from_millis(crate::actors::shutdown::SHUTDOWN_DRAIN_TIMEOUT_MS + 5_000);
    for pid in pids {
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        stopped += 1;
    }
    Ok(stopped)
}

/// `systole cluster stop --node N --dir DIR`: TERM to that node (it moves
/// its resources away and leaves, as systemd's stop would make it), and
/// waits for it to exit.
pub fn stop_node(dir: &Path, node: &str) -> anyhow::Result<()> {
    if !nodes_in(dir).iter().any(|n| n == node) {
        bail!("{} has no node {node}", dir.display());
    }
    let Some(pid) = read_pid(&pid_path(dir, node)).filter(|&pid| alive(pid)) else {
        bail!("{node} is not running");
    };
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let timeout_ms = crate::actors::shutdown::SHUTDOWN_DRAIN_TIMEOUT_MS + 5_000;
    wait_for(timeout_ms, &format!("{node} to leave"), || !alive(pid))
}

pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); check /proc for state Z as well.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// CPU seconds of a process from `/proc/PID/stat`: its own, and its
/// waited-for children's (a daemon's agents). Zero for a process gone.
pub fn process_cpu_seconds(pid: i32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<f64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let field = |i: usize| fields.get(i).copied().unwrap_or(0.0) / ticks;
    // After the name: state is 0, utime 11, stime 12, cutime 13, cstime 14.
    (field(11) + field(12), field(13) + field(14))
}

/// A kB figure of `/proc/PID/status` (`key` as "VmRSS:"); 0 when absent.
pub fn process_memory_kb(pid: i32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn nvpairs(tag: &str, id: &str, pairs: &[(&str, &str)]) -> Element {
    let mut set = Element::new(tag).with_attr("id", id);
    for (name, value) in pairs {
        set.children.push(
            Element::new("nvpair")
                .with_attr("id", format!("{id}-{name}"))
                .with_attr("name", *name)
                .with_attr("value", *value),
        );
    }
    set
}

fn dummy(id: &str, monitor_interval: &str) -> Element {
    Element::new("primitive")
        .with_attr("id", id)
        .with_attr("class", "ocf")
        .with_attr("provider", "systole")
        .with_attr("type", "Dummy")
        .with_child(
            Element::new("operations").with_child(
                Element::new("op")
                    .with_attr("id", format!("{id}-monitor-{monitor_interval}"))
                    .with_attr("name", "monitor")
                    .with_attr("interval", monitor_interval)
                    .with_attr("timeout", "20s"),
            ),
        )
}

/// The demo's configuration: fencing through the local fence agent, a
/// virtual-IP-like Dummy, a group of two and a clone.
pub fn demo_configuration(dir: &Path) -> Vec<CibChange> {
    let property = |name: &str, value: &str| CibChange::SetProperty {
        name: name.into(),
        value: Some(value.into()),
    };
    let resource = |element: Element| CibChange::Upsert {
        section: "resources".into(),
        element,
    };
    let fence = Element::new("primitive")
        .with_attr("id", "fence-local")
        .with_attr("class", "stonith")
        .with_attr("type", "fence_systole_local")
        .with_child(nvpairs(
            "instance_attributes",
            "fence-local-params",
            &[("pid_dir", &dir.display().to_string())],
        ));
    let group = Element::new("group")
        .with_attr("id", "web")
        .with_child(dummy("web-fs", "5s"))
        .with_child(dummy("web-server", "5s"));
    let clone = Element::new("clone")
        .with_attr("id", "ping-clone")
        .with_child(dummy("ping", "10s"));
    vec![
        property("stonith-enabled", "true"),
        property("no-quorum-policy", "stop"),
        CibChange::Upsert {
            section: "rsc_defaults".into(),
            element: nvpairs(
                "meta_attributes",
                "rsc-options",
                &[("resource-stickiness", "100")],
            ),
        },
        resource(fence),
        resource(dummy("vip", "2s")),
        resource(group),
        resource(clone),
    ]
}

/// A local cluster run by a `systole` binary from outside (tests and
/// benchmarks): brought up in `dir`, stopped when dropped.
pub struct LocalCluster {
    dir: PathBuf,
    bin: PathBuf,
}

impl LocalCluster {
    /// `bin cluster up --nodes N --dir DIR [--empty]`.
    pub fn up(bin: &Path, dir: &Path, nodes: usize, empty: bool) -> anyhow::Result<LocalCluster> {
        let cluster = LocalCluster {
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
        };
        cluster.start(nodes, empty)?;
        Ok(cluster)
    }

    /// Starts the nodes (again): a cluster brought up in an existing DIR
    /// restarts the same nodes with their state.
    pub fn start(&self, nodes: usize, empty: bool) -> anyhow::Result<()> {
        let mut command = std::process::Command::new(&self.bin);
        command
            .args(["cluster", "up", "--nodes", &nodes.to_string(), "--dir"])
            .arg(&self.dir);
        if empty {
            command.arg("--empty");
        }
        let output = command.output().context("running systole cluster up")?;
        if !output.status.success() {
            bail!(
                "cluster up failed: {}\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.logs(40)
            );
        }
        Ok(())
    }

    pub fn down(&self) {
        let _ = std::process::Command::new(&self.bin)
            .args(["cluster", "down", "--dir"])
            .arg(&self.dir)
            .output();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn nodes(&self) -> Vec<String> {
        nodes_in(&self.dir)
    }

    pub fn socket(&self, node: &str) -> PathBuf {
        socket_path(&self.dir, node)
    }

    pub fn status(&self, node: &str) -> Option<StatusReport> {
        match control_socket::call(&self.socket(node), &ControlRequest::Status, 3_000) {
            Ok(ControlResponse::Status(report)) => Some(report),
            _ => None,
        }
    }

    pub fn cib(&self, node: &str) -> Option<Element> {
        match control_socket::call(&self.socket(node), &ControlRequest::CibGet, 3_000) {
            Ok(ControlResponse::Cib { xml }) => Element::parse(&xml).ok(),
            _ => None,
        }
    }

    /// Sends a change through `node`; Ok once a majority stored it.
    /// Writes the configuration of a node `name` that is not yet a member
    /// (for `node add`): node1's settings, a free loopback port, every
    /// member as a peer, the given `initial_voters` (empty for a joiner).
    /// Returns its bus address.
    pub fn prepare_joiner(&self, name: &str, initial_voters: &[&str]) -> anyhow::Result<String> {
        let first = node_dir(&self.dir, "node1").join("systole.toml");
        let (mut config, mut agents) = NodeConfig::load_with_agents(&first)?;
        let home = node_dir(&self.dir, name);
        std::fs::create_dir_all(home.join("state"))?;
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut peers = config.peers.clone();
        peers.push(PeerConfig {
            name: config.node_name.clone(),
            addr: config.bind,
        });
        config.node_name = name.into();
        config.bind = format!("127.0.0.1:{port}").parse()?;
        config.peers = peers;
        config.state_dir = home.join("state");
        config.socket = home.join("systole.sock");
        config.pid_file = Some(home.join("systole.pid"));
        config.initial_voters = initial_voters.iter().map(|v| v.to_string()).collect();
        config.two_node = false;
        agents.rsctmp_dir = home.join("rsctmp");
        std::fs::write(
            home.join("systole.toml"),
            config.to_toml_with_agents(&agents),
        )?;
        Ok(config.bind.to_string())
    }

    pub fn modify(&self, node: &str, change: CibChange) -> anyhow::Result<String> {
        modify(&self.socket(node), change)
    }

    /// SIGKILL to `node`'s daemon.
    pub fn kill9(&self, node: &str) {
        if let Some(pid) = read_pid(&pid_path(&self.dir, node)) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    /// The last `lines` lines of every node's log, for failure reports.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in nodes_in(&self.dir) {
            let log = std::fs::read_to_string(node_dir(&self.dir, &node).join("systole.log"))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(lines).collect();
            out.push_str(&format!("--- {node} log (last lines) ---\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.down();
    }
}
