//! A node's configuration file (TOML), checked when read.
//!
//! ```toml
//! cluster_name = "demo"
//! node_name = "node1"
//! bind = "127.0.0.1:7401"
//! authkey = "/etc/systole/authkey"
//! state_dir = "/var/lib/systole"
//! socket = "/run/systole/systole.sock"
//! # The founding members, read at this node's very first start only: the
//! # same list on every founder. Nodes added later leave it out and are
//! # added with `systole node add`.
//! initial_voters = ["node1", "node2"]
//! [[peers]]
//! name = "node2"
//! addr = "127.0.0.1:7402"
//! ```
//!
//! `peers` only says where other nodes listen; who votes is the cluster's
//! member table, kept in the replicated log.

use crate::model::cib::names::check_node_name;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Shortest heartbeat interval accepted, in milliseconds.
pub const HEARTBEAT_INTERVAL_MS_MIN: u64 = 20;
/// Longest heartbeat interval accepted, in milliseconds.
pub const HEARTBEAT_INTERVAL_MS_MAX: u64 = 10_000;
/// The heartbeat timeout spans at least this many intervals.
pub const HEARTBEAT_TIMEOUTS_MIN: u64 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    pub name: String,
    pub addr: SocketAddr,
}

fn default_heartbeat_interval_ms() -> u64 {
    100
}
fn default_heartbeat_timeout_ms() -> u64 {
    600
}
fn default_realtime() -> bool {
    true
}
fn default_election_timeout_ms() -> u64 {
    500
}
fn default_ocf_root() -> PathBuf {
    PathBuf::from("/usr/lib/ocf")
}

/// How this node runs agents: the optional `[agents]` table of
/// `systole.toml`.
///
/// ```toml
/// [agents]
/// rsctmp_dir = "/run/systole/rsctmp"        # HA_RSCTMP, cleared at boot
/// lsb_dir = "/etc/init.d"                   # the lsb class
/// # systemd_bus = "unix:path=/run/user/0/bus"   # where systemd is; default: the system bus
/// systemd_dropin_dir = "/run/systemd/system"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Agents' state (`HA_RSCTMP`, `HA_VARRUN`): on a tmpfs, and emptied
    /// when the machine has booted since it was last used.
    pub rsctmp_dir: PathBuf,
    /// Init scripts of the `lsb` class.
    pub lsb_dir: PathBuf,
    /// The D-Bus message bus where systemd's manager is: the system bus
    /// when unset, else a D-Bus address.
    pub systemd_bus: Option<String>,
    /// Where the drop-ins that order managed units under the cluster go.
    pub systemd_dropin_dir: PathBuf,
}

/// Reads a daemon's TOML file (a node's or a remote daemon's): its
/// `[agents]` table and the rest as `T`, refused with every one of
/// `problems` in what was read.
pub fn read_config_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    problems: impl FnOnce(&T) -> Vec<String>,
) -> Result<(T, AgentSettings), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let syntax = |message: String| ConfigError::Syntax {
        path: path.to_path_buf(),
        message,
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| syntax(e.to_string()))?;
    let agents = match table.remove(AGENTS_TABLE) {
        Some(value) => value
            .try_into::<AgentSettings>()
            .map_err(|e| syntax(format!("[{AGENTS_TABLE}]: {e}")))?,
        None => AgentSettings::default(),
    };
    let config: T = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| syntax(e.to_string()))?;
    let problems = problems(&config);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: problems.join("\n"),
        });
    }
    Ok((config, agents))
}

impl AgentSettings {
    /// How a daemon runs agents: these settings, with its OCF root, its
    /// own agents' directory and the environment it adds.
    pub fn agent_config(
        &self,
        ocf_root: PathBuf,
        agents_dir: PathBuf,
        extra_env: std::collections::BTreeMap<String, String>,
    ) -> crate::agent::AgentConfig {
        crate::agent::AgentConfig {
            ocf_root,
            agents_dir,
            state_dir: self.rsctmp_dir.clone(),
            extra_env,
            lsb_dir: self.lsb_dir.clone(),
            systemd_bus: self.systemd_bus.clone(),
            systemd_dropin_dir: self.systemd_dropin_dir.clone(),
            ..crate::agent::AgentConfig::default()
        }
    }
}

impl Default for AgentSettings {
    fn default() -> AgentSettings {
        let agents = crate::agent::AgentConfig::default();
        AgentSettings {
            rsctmp_dir: PathBuf::from(DEFAULT_RSCTMP_DIR),
            lsb_dir: agents.lsb_dir,
            systemd_bus: agents.systemd_bus,
            systemd_dropin_dir: agents.systemd_dropin_dir,
        }
    }
}

/// Where agents keep their state on a real node (a tmpfs, like Pacemaker's
/// `/run/resource-agents`).
pub const DEFAULT_RSCTMP_DIR: &str = "/run/systole/rsctmp";
/// The table of `systole.toml` that holds [`AgentSettings`].
pub const AGENTS_TABLE: &str = "agents";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub cluster_name: String,
    pub node_name: String,
    /// Address this node's bus listens on.
    pub bind: SocketAddr,
    /// Every other node, for unicast (networks without multicast).
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// A multicast group to use instead of (or beside) the peer list.
    #[serde(default)]
    pub multicast: Option<SocketAddr>,
    pub authkey: PathBuf,
    pub state_dir: PathBuf,
    /// The control socket the CLI talks to.
    pub socket: PathBuf,
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    /// Systole's own agents; written there at start from the binary.
    #[serde(default)]
    pub agents_dir: Option<PathBuf>,
    #[serde(default = "default_ocf_root")]
    pub ocf_root: PathBuf,
    /// Ignored: quorum is a majority of the cluster's voters (its member
    /// table). Accepted so older files still load.
    #[serde(default)]
    pub expected_votes: Option<u32>,
    /// The founding voters, read only when this node has no log yet.
    #[serde(default)]
    pub initial_voters: Vec<String>,
    /// Founding witnesses (vote, never lead, run nothing).
    #[serde(default)]
    pub initial_witnesses: Vec<String>,
    /// Without a leader this long (randomised up to twice), an election.
    #[serde(default = "default_election_timeout_ms")]
    pub election_timeout_ms: u64,
    /// Two-node clusters: quorate with one node of two.
    #[serde(default)]
    pub two_node: bool,
    #[serde(default = "default_heartbeat_interval_ms")]
    pub heartbeat_interval_ms: u64,
    #[serde(default = "default_heartbeat_timeout_ms")]
    pub heartbeat_timeout_ms: u64,
    /// Run the transport's thread (heartbeats and their judgement) SCHED_RR
    /// and lock the daemon's memory, as Corosync does; best effort (a
    /// refusal is logged and the node runs on). Default true.
    #[serde(default = "default_realtime")]
    pub realtime: bool,
    /// Members of this group may change the cluster (besides root and the
    /// daemon's own user).
    #[serde(default)]
    pub admin_group: Option<String>,
    /// Members of this group may read status.
    #[serde(default)]
    pub readonly_group: Option<String>,
    /// Where the daemon writes its log; without it, standard error (the
    /// journal under systemd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        Ok(NodeConfig::load_with_agents(path)?.0)
    }

    /// The node's configuration and its `[agents]` table.
    pub fn load_with_agents(path: &Path) -> Result<(NodeConfig, AgentSettings), ConfigError> {
        read_config_file(path, |config: &NodeConfig| {
            let mut problems = config.problems();
            problems.extend(config.file_problems());
            problems
        })
    }

    /// Every problem of the configuration as written, one line each.
    pub fn validate(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// The checks that need no file: names, addresses, ports, duplicates,
    /// timings and votes.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = check_node_name(&self.node_name) {
            problems.push(format!("node_name: {e}"));
        }
        if let Err(e) = check_node_name(&self.cluster_name) {
            problems.push(format!("cluster_name: {e}"));
        }
        problems.extend(self.address_problems());
        problems.extend(self.timing_problems());
        if self.peers.is_empty()
            && self.multicast.is_none()
            && !self.two_node
            && self.expected_votes.unwrap_or(1) > 1
        {
            problems.push(
                "no peers and no multicast group: this node could never reach the others".into(),
            );
        }
        if self.expected_votes == Some(0) {
            problems.push("expected_votes must be at least 1".into());
        }
        if self.election_timeout_ms < 200 {
            problems.push(format!(
                "election_timeout_ms = {} is below the minimum of 200",
                self.election_timeout_ms
            ));
        }
        for name in self.initial_voters.iter().chain(&self.initial_witnesses) {
            if let Err(e) = check_node_name(name) {
                problems.push(format!("initial member: {e}"));
            }
        }
        let founders: std::collections::BTreeSet<&String> = self
            .initial_voters
            .iter()
            .chain(&self.initial_witnesses)
            .collect();
        if founders.len() != self.initial_voters.len() + self.initial_witnesses.len() {
            problems.push("initial_voters and initial_witnesses list a node twice".into());
        }
        if !self.initial_witnesses.is_empty() && self.initial_voters.is_empty() {
            problems
                .push("initial_witnesses without initial_voters: a witness runs nothing".into());
        }
        for (what, path) in [
            ("authkey", &self.authkey),
            ("state_dir", &self.state_dir),
            ("socket", &self.socket),
        ] {
            if path.as_os_str().is_empty() {
                problems.push(format!("{what} is empty"));
            }
        }
        if let Err(e) = crate::actors::control_socket::check_socket_path(&self.socket) {
            problems.push(format!("socket: {e}"));
        }
        for (what, group) in [
            ("admin_group", &self.admin_group),
            ("readonly_group", &self.readonly_group),
        ] {
            if let Some(group) = group {
                if check_node_name(group).is_err() {
                    problems.push(format!("{what} {group:?} is not a valid group name"));
                }
            }
        }
        problems
    }

    fn address_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.bind.port() == 0 {
            problems.push(format!(
                "bind {}: port 0 is not a port to listen on",
                self.bind
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        let mut addrs = std::collections::BTreeMap::new();
        addrs.insert(self.bind, self.node_name.clone());
        for peer in &self.peers {
            if let Err(e) = check_node_name(&peer.name) {
                problems.push(format!("peer name: {e}"));
            }
            if peer.name == self.node_name {
                problems.push(format!("peer {} is this node itself", peer.name));
            }
            if !names.insert(peer.name.clone()) {
                problems.push(format!("peer {} is listed twice", peer.name));
            }
            if peer.addr.port() == 0 {
                problems.push(format!("peer {} addr {}: port 0", peer.name, peer.addr));
            }
            if peer.addr.ip().is_unspecified() || peer.addr.ip().is_multicast() {
                problems.push(format!(
                    "peer {} addr {}: not an address a node can have",
                    peer.name, peer.addr
                ));
            }
            if let Some(other) = addrs.insert(peer.addr, peer.name.clone()) {
                problems.push(format!(
                    "peer {} addr {} is also {other}'s",
                    peer.name, peer.addr
                ));
            }
        }
        if let Some(group) = self.multicast {
            if !group.ip().is_multicast() || group.port() == 0 {
                problems.push(format!(
                    "multicast {group}: needs a multicast address and a port other than 0"
                ));
            }
        }
        problems
    }

    fn timing_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.heartbeat_interval_ms < HEARTBEAT_INTERVAL_MS_MIN {
            problems.push(format!(
                "heartbeat_interval_ms = {} is below HEARTBEAT_INTERVAL_MS_MIN = {HEARTBEAT_INTERVAL_MS_MIN} ms",
                self.heartbeat_interval_ms
            ));
        }
        if self.heartbeat_interval_ms > HEARTBEAT_INTERVAL_MS_MAX {
            problems.push(format!(
                "heartbeat_interval_ms = {} is above HEARTBEAT_INTERVAL_MS_MAX = {HEARTBEAT_INTERVAL_MS_MAX} ms",
                self.heartbeat_interval_ms
            ));
        }
        if self.heartbeat_timeout_ms < HEARTBEAT_TIMEOUTS_MIN * self.heartbeat_interval_ms {
            problems.push(format!(
                "heartbeat_timeout_ms = {} must be at least {HEARTBEAT_TIMEOUTS_MIN} heartbeat intervals ({} ms): fewer lose nodes to one late datagram",
                self.heartbeat_timeout_ms,
                HEARTBEAT_TIMEOUTS_MIN * self.heartbeat_interval_ms
            ));
        }
        problems
    }

    /// The checks on files named by the configuration: the authkey is a
    /// regular file only its owner can read (a FIFO would hang the start).
    pub fn file_problems(&self) -> Vec<String> {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let mut problems = Vec::new();
        match std::fs::metadata(&self.authkey) {
            Err(e) => problems.push(format!("authkey {}: {e}", self.authkey.display())),
            Ok(meta) if !meta.is_file() => problems.push(format!(
                "authkey {} is a {}, not a regular file (make one with `systole keygen`)",
                self.authkey.display(),
                crate::os::file_kind(&meta)
            )),
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => problems.push(format!(
                "authkey {} has mode {:04o}: group and others must have no access (chmod 600)",
                self.authkey.display(),
                meta.permissions().mode() & 0o777
            )),
            Ok(_) => {}
        }
        if let Ok(meta) = std::fs::symlink_metadata(&self.socket) {
            if !meta.file_type().is_socket() {
                problems.push(format!(
                    "socket {} exists and is a {}: refusing to replace it",
                    self.socket.display(),
                    crate::os::file_kind(&meta)
                ));
            }
        }
        if let Ok(meta) = std::fs::metadata(&self.state_dir) {
            if !meta.is_dir() {
                problems.push(format!(
                    "state_dir {} is not a directory",
                    self.state_dir.display()
                ));
            }
        }
        problems
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// The configuration file with its `[agents]` table.
    pub fn to_toml_with_agents(&self, agents: &AgentSettings) -> String {
        let mut text = self.to_toml();
        let table = toml::to_string_pretty(agents).expect("agent settings serialise");
        text.push_str(&format!("\n[{AGENTS_TABLE}]\n{table}"));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig {
            cluster_name: "demo".into(),
            node_name: "node1".into(),
            bind: "127.0.0.1:7401".parse().unwrap(),
            peers: vec![PeerConfig {
                name: "node2".into(),
                addr: "127.0.0.1:7402".parse().unwrap(),
            }],
            multicast: None,
            authkey: "/tmp/authkey".into(),
            state_dir: "/tmp/state".into(),
            socket: "/tmp/s.sock".into(),
            pid_file: None,
            agents_dir: None,
            ocf_root: default_ocf_root(),
            expected_votes: None,
            initial_voters: vec!["node1".into(), "node2".into()],
            initial_witnesses: vec![],
            election_timeout_ms: 500,
            two_node: false,
            heartbeat_interval_ms: 100,
            heartbeat_timeout_ms: 600,
            realtime: true,
            admin_group: None,
            readonly_group: None,
            log_file: None,
        }
    }

    #[test]
    fn round_trips_and_validates() {
        let config = sample();
        let text = config.to_toml();
        let back: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn the_agents_table_is_optional_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let mut config = sample();
        // Loading checks the files the config names, so they must exist.
        config.authkey = dir.path().join("authkey");
        std::fs::write(&config.authkey, [7u8; 32]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.authkey, std::fs::Permissions::from_mode(0o600)).unwrap();
        config.state_dir = dir.path().join("state");
        config.socket = dir.path().join("s.sock");
        std::fs::write(&path, config.to_toml()).unwrap();
        let (back, agents) = NodeConfig::load_with_agents(&path).unwrap();
        assert_eq!(back, config);
        assert_eq!(agents.rsctmp_dir, PathBuf::from(DEFAULT_RSCTMP_DIR));
        let custom = AgentSettings {
            systemd_bus: Some("unix:path=/tmp/x/private".into()),
            lsb_dir: "/tmp/init.d".into(),
            ..AgentSettings::default()
        };
        std::fs::write(&path, config.to_toml_with_agents(&custom)).unwrap();
        assert_eq!(NodeConfig::load_with_agents(&path).unwrap().1, custom);
        std::fs::write(
            &path,
            format!("{}\n[agents]\nlsb_dri = \"/x\"\n", config.to_toml()),
        )
        .unwrap();
        let error = NodeConfig::load_with_agents(&path).unwrap_err().to_string();
        assert!(error.contains("lsb_dri"), "{error}");
    }

    #[test]
    fn bad_configs_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "node_name = ").unwrap();
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::Syntax { .. })
        ));
        std::fs::write(&path, "bogus = 1").unwrap();
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::Syntax { .. })
        ));
        assert!(matches!(
            NodeConfig::load(&dir.path().join("missing")),
            Err(ConfigError::Read { .. })
        ));
        let mut config = sample();
        config.peers.push(PeerConfig {
            name: "node1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
        });
        assert!(config.validate().unwrap_err().contains("itself"));
        let mut config = sample();
        config.node_name = "bad name!".into();
        assert!(config.validate().is_err());
        let mut config = sample();
        config.heartbeat_timeout_ms = 50;
        assert!(config.validate().is_err());
        std::fs::write(&path, config.to_toml()).unwrap();
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn every_problem_is_named_one_line_each() {
        let mut config = sample();
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.peers.push(PeerConfig {
            name: "node3".into(),
            addr: "127.0.0.1:7402".parse().unwrap(),
        });
        config.peers.push(PeerConfig {
            name: "node2".into(),
            addr: "0.0.0.0:0".parse().unwrap(),
        });
        config.heartbeat_interval_ms = 1;
        config.heartbeat_timeout_ms = 2;
        config.socket = PathBuf::from(format!("/tmp/{}", "s".repeat(120)));
        config.multicast = Some("127.0.0.1:5405".parse().unwrap());
        let problems = config.problems();
        let text = problems.join("\n");
        for expected in [
            "bind 127.0.0.1:0: port 0",
            "peer node3 addr 127.0.0.1:7402 is also node2's",
            "peer node2 is listed twice",
            "peer node2 addr 0.0.0.0:0: port 0",
            "not an address a node can have",
            "below HEARTBEAT_INTERVAL_MS_MIN = 20 ms",
            "at least 3 heartbeat intervals",
            "SOCKET_PATH_BYTES_MAX = 107",
            "multicast 127.0.0.1:5405",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in\n{text}");
        }
        assert_eq!(
            config.validate().unwrap_err().lines().count(),
            problems.len()
        );
    }

    #[test]
    fn files_are_checked_before_they_are_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut config = sample();
        config.state_dir = dir.path().to_path_buf();
        // A FIFO authkey is refused with a message, not read (which hangs).
        let fifo = dir.path().join("authkey");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        config.authkey = fifo.clone();
        // An existing regular file as the socket is refused, not deleted.
        let precious = dir.path().join("precious");
        std::fs::write(&precious, "keep").unwrap();
        config.socket = precious.clone();
        let text = config.file_problems().join("\n");
        assert!(text.contains("is a FIFO, not a regular file"), "{text}");
        assert!(
            text.contains("exists and is a regular file: refusing"),
            "{text}"
        );
        assert!(crate::transport::load_authkey(&fifo)
            .unwrap_err()
            .to_string()
            .contains("FIFO"));
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
        // A key others can read is refused too.
        let key = dir.path().join("key");
        std::fs::write(&key, [0u8; 32]).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        config.authkey = key;
        config.socket = dir.path().join("s.sock");
        let text = config.file_problems().join("\n");
        assert!(text.contains("mode 0644"), "{text}");
        // And load() reports all of it at once.
        let file = dir.path().join("c.toml");
        config.bind = "127.0.0.1:0".parse().unwrap();
        std::fs::write(&file, config.to_toml()).unwrap();
        let error = NodeConfig::load(&file).unwrap_err().to_string();
        assert!(
            error.contains("port 0") && error.contains("mode 0644"),
            "{error}"
        );
    }
}
