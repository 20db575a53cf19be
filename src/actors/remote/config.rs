//! `systole remote`'s configuration file (TOML):
//!
//! ```toml
//! cluster_name = "demo"
//! node_name = "remote1"          # the connection resource's id (or guest's remote-node)
//! listen = "0.0.0.0:3121"        # pacemaker_remote's port by default
//! authkey = "/etc/systole/authkey"
//! state_dir = "/var/lib/systole-remote"
//! # pid_file, agents_dir, ocf_root, log_file as for a cluster node; [agents] too
//! ```

use crate::actors::config::{read_config_file, AgentSettings, ConfigError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    pub cluster_name: String,
    pub node_name: String,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    pub authkey: PathBuf,
    pub state_dir: PathBuf,
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    #[serde(default)]
    pub agents_dir: Option<PathBuf>,
    #[serde(default = "default_ocf_root")]
    pub ocf_root: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], super::session::REMOTE_PORT_DEFAULT))
}

fn default_ocf_root() -> PathBuf {
    PathBuf::from("/usr/lib/ocf")
}

impl RemoteConfig {
    /// Reads the file and its `[agents]` table; names and the authkey checked.
    pub fn load(path: &Path) -> Result<(RemoteConfig, AgentSettings), ConfigError> {
        read_config_file(path, RemoteConfig::problems)
    }

    /// Names and the authkey, one line a problem.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (field, name) in [
            ("node_name", &self.node_name),
            ("cluster_name", &self.cluster_name),
        ] {
            if let Err(e) = crate::model::cib::names::check_node_name(name) {
                problems.push(format!("{field}: {e}"));
            }
        }
        if let Err(e) = crate::transport::load_authkey(&self.authkey) {
            problems.push(e.to_string());
        }
        problems
    }

    /// How this daemon runs agents (as a cluster node would, minus the
    /// control socket: a remote node has none).
    pub fn agent_config(&self, settings: &AgentSettings) -> crate::agent::AgentConfig {
        let agents_dir = self
            .agents_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("agents"));
        let mut extra_env = std::collections::BTreeMap::new();
        extra_env.insert("SYSTOLE_NODE".into(), self.node_name.clone());
        settings.agent_config(self.ocf_root.clone(), agents_dir, extra_env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_loads_with_defaults_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("authkey");
        crate::transport::keygen(&key).unwrap();
        let file = dir.path().join("remote.toml");
        let write = |node: &str| {
            std::fs::write(
                &file,
                format!(
                    "cluster_name = \"demo\"\nnode_name = \"{node}\"\nauthkey = \"{}\"\nstate_dir = \"{}\"\n",
                    key.display(),
                    dir.path().display()
                ),
            )
            .unwrap()
        };
        write("r1");
        let (config, _) = RemoteConfig::load(&file).unwrap();
        assert_eq!(config.listen.port(), 3121);
        assert_eq!(config.node_name, "r1");
        write("bad name");
        let error = RemoteConfig::load(&file).unwrap_err().to_string();
        assert!(error.contains("node_name"), "{error}");
    }
}
