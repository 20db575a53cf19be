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

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Members of this group may change the cluster (besides root and the
    /// daemon's own user).
    #[serde(default)]
    pub admin_group: Option<String>,
    /// Members of this group may read status.
    #[serde(default)]
    pub readonly_group: Option<String>,
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
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(syntax)?;
        let agents = match table.remove(AGENTS_TABLE) {
            Some(value) => value
                .try_into::<AgentSettings>()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: format!("[{AGENTS_TABLE}]: {e}"),
                })?,
            None => AgentSettings::default(),
        };
        let config: NodeConfig = toml::Value::Table(table).try_into().map_err(syntax)?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok((config, agents))
    }

    pub fn validate(&self) -> Result<(), String> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !name_ok(&self.node_name) {
            return Err(format!(
                "node_name {:?} must be 1-64 letters, digits, '-', '_' or '.'",
                self.node_name
            ));
        }
        if !name_ok(&self.cluster_name) {
            return Err(format!(
                "cluster_name {:?} is not a valid name",
                self.cluster_name
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for peer in &self.peers {
            if !name_ok(&peer.name) {
                return Err(format!("peer name {:?} is not a valid name", peer.name));
            }
            if peer.name == self.node_name {
                return Err(format!("peer {} is this node itself", peer.name));
            }
            if !seen.insert(peer.name.clone()) {
                return Err(format!("peer {} is listed twice", peer.name));
            }
        }
        if self.peers.is_empty()
            && self.multicast.is_none()
            && !self.two_node
            && self.expected_votes.unwrap_or(1) > 1
        {
            return Err(
                "no peers and no multicast group: this node could never reach the others".into(),
            );
        }
        if self.heartbeat_interval_ms == 0
            || self.heartbeat_timeout_ms <= self.heartbeat_interval_ms
        {
            return Err(
                "heartbeat_timeout_ms must exceed heartbeat_interval_ms, which must be > 0".into(),
            );
        }
        if self.election_timeout_ms < 200 {
            return Err(format!(
                "election_timeout_ms = {} is below the minimum of 200",
                self.election_timeout_ms
            ));
        }
        for name in self.initial_voters.iter().chain(&self.initial_witnesses) {
            if !name_ok(name) {
                return Err(format!("initial member {name:?} is not a valid name"));
            }
        }
        let founders: std::collections::BTreeSet<&String> = self
            .initial_voters
            .iter()
            .chain(&self.initial_witnesses)
            .collect();
        if founders.len() != self.initial_voters.len() + self.initial_witnesses.len() {
            return Err("initial_voters and initial_witnesses list a node twice".into());
        }
        if !self.initial_witnesses.is_empty() && self.initial_voters.is_empty() {
            return Err("initial_witnesses without initial_voters: a witness runs nothing".into());
        }
        Ok(())
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
            admin_group: None,
            readonly_group: None,
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
        let config = sample();
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
}
