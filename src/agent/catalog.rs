//! Which agents exist on this node and what they say about themselves:
//! `systole resource agents [CLASS[:PROVIDER]]` and `systole resource
//! describe AGENT`, and the parameter check at `resource create`.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::fence::{run_fence, FenceAction, FenceRequest, FENCE_AGENT_PREFIX};
use super::metadata::{self, AgentMetadata};
use super::ocf::{OcfAction, OcfRequest, SYSTOLE_PROVIDER};
use super::{run_resource, AgentConfig};
use crate::model::cib::ResourceClass;

/// Time an agent gets to print its meta-data.
pub const METADATA_TIMEOUT_MS: u64 = 10_000;
/// Parameters the fencer itself reads from any fence device (Pacemaker's).
pub const FENCER_PARAMETERS: [&str; 12] = [
    "pcmk_host_list",
    "pcmk_host_map",
    "pcmk_host_check",
    "pcmk_host_argument",
    "pcmk_delay_base",
    "pcmk_delay_max",
    "pcmk_action_limit",
    "pcmk_reboot_action",
    "pcmk_off_action",
    "pcmk_list_action",
    "pcmk_monitor_action",
    "pcmk_status_action",
];

/// An agent named as the CIB names it: the model's one reader.
pub use crate::model::cib::AgentSpec as AgentName;

fn executables(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn ocf_providers(config: &AgentConfig) -> Vec<(String, std::path::PathBuf)> {
    let mut providers = vec![(SYSTOLE_PROVIDER.to_string(), config.agents_dir.join("ocf"))];
    let root = config.ocf_root.join("resource.d");
    if let Ok(entries) = std::fs::read_dir(&root) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != SYSTOLE_PROVIDER)
            .collect();
        names.sort();
        providers.extend(names.into_iter().map(|n| {
            let dir = root.join(&n);
            (n, dir)
        }));
    }
    providers
}

/// Every agent of `filter` (`CLASS` or `ocf:PROVIDER`; all when `None`),
/// as `class:provider:type` or `class:type`, sorted.
pub async fn list_agents(
    config: &AgentConfig,
    filter: Option<&str>,
) -> Result<Vec<String>, String> {
    let (class, provider) = match filter.map(|f| f.split_once(':').unwrap_or((f, ""))) {
        None => (None, None),
        Some((class, "")) => (Some(class), None),
        Some((class, provider)) => (Some(class), Some(provider)),
    };
    let class = class.map(ResourceClass::parse);
    if let Some(Err(refused)) = class.as_ref().map(ResourceClass::supported) {
        return Err(refused.to_string());
    }
    let wants = |c: ResourceClass| class.as_ref().is_none_or(|x| *x == c);
    let mut out = Vec::new();
    if wants(ResourceClass::Ocf) {
        for (name, dir) in ocf_providers(config) {
            if provider.is_none_or(|p| p == name) {
                out.extend(
                    executables(&dir)
                        .into_iter()
                        .map(|t| format!("ocf:{name}:{t}")),
                );
            }
        }
    }
    let lsb = executables(&config.lsb_dir);
    let units = systemd_services(config).await;
    if wants(ResourceClass::Lsb) {
        out.extend(lsb.iter().map(|t| format!("lsb:{t}")));
    }
    if wants(ResourceClass::Systemd) {
        out.extend(units.iter().map(|t| format!("systemd:{t}")));
    }
    if wants(ResourceClass::Service) {
        let all: BTreeSet<&String> = lsb.iter().chain(units.iter()).collect();
        out.extend(all.into_iter().map(|t| format!("service:{t}")));
    }
    if wants(ResourceClass::Stonith) {
        let mut fence: BTreeSet<String> = BTreeSet::new();
        let dirs = std::iter::once(config.agents_dir.join("fence"))
            .chain(config.fence_system_dirs.iter().cloned());
        for dir in dirs {
            fence.extend(
                executables(&dir)
                    .into_iter()
                    .filter(|n| n.starts_with(FENCE_AGENT_PREFIX)),
            );
        }
        out.extend(fence.into_iter().map(|t| format!("stonith:{t}")));
    }
    Ok(out)
}

/// The services systemd has unit files for (names without `.service`);
/// none when systemd is not reachable.
async fn systemd_services(config: &AgentConfig) -> Vec<String> {
    let Ok(systemd) = super::systemd::Systemd::connect(config).await else {
        return Vec::new();
    };
    let mut names: Vec<String> = systemd
        .unit_files()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, _)| name.strip_suffix(".service").map(str::to_string))
        .filter(|name| !name.ends_with('@'))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `ocf:pacemaker:remote`, as Pacemaker describes it (the parameters this
/// executor reads; `reconnect_interval` is the scheduler's).
const REMOTE_CONNECTION_METADATA: &str = r#"<?xml version="1.0"?>
<resource-agent name="remote" version="1.0">
<version>1.1</version>
<longdesc lang="en">The connection to a remote node running systole remote (pacemaker_remote's role): the cluster node that runs this resource connects to it and carries out the operations placed on the remote node.</longdesc>
<shortdesc lang="en">Remote node connection</shortdesc>
<parameters>
<parameter name="server"><longdesc lang="en">Host name or address of the remote node (default: the resource's id).</longdesc><shortdesc lang="en">Server location</shortdesc><content type="string"/></parameter>
<parameter name="port"><longdesc lang="en">TCP port of the remote node's executor.</longdesc><shortdesc lang="en">Remote port</shortdesc><content type="integer" default="3121"/></parameter>
<parameter name="reconnect_interval"><longdesc lang="en">After the connection failed and the node was fenced, try to connect again this often.</longdesc><shortdesc lang="en">Reconnect interval</shortdesc><content type="string" default="0"/></parameter>
</parameters>
<actions>
<action name="start" timeout="60s"/>
<action name="stop" timeout="60s"/>
<action name="monitor" timeout="30s" interval="60s"/>
<action name="migrate_to" timeout="60s"/>
<action name="migrate_from" timeout="60s"/>
<action name="reload" timeout="60s"/>
<action name="meta-data" timeout="5s"/>
</actions>
</resource-agent>
"#;

/// Runs the agent's meta-data action and reads it.
pub async fn describe(config: Arc<AgentConfig>, spec: &str) -> Result<AgentMetadata, String> {
    let agent = AgentName::parse(spec).map_err(|e| e.to_string())?;
    let xml = if agent.is_remote_connection() {
        // Built in: the executor itself carries out a connection's actions.
        REMOTE_CONNECTION_METADATA.to_string()
    } else if agent.is_fence_device() {
        let request = FenceRequest::new(config, &agent.kind, FenceAction::Metadata)
            .with_timeout_ms(METADATA_TIMEOUT_MS);
        let outcome = run_fence(&request).await;
        if !outcome.succeeded() {
            return Err(format!("{spec}: meta-data failed: {outcome}"));
        }
        outcome.stdout.text
    } else {
        let mut request = OcfRequest::new(
            config,
            agent.provider.as_deref().unwrap_or_default(),
            &agent.kind,
            "meta-data",
            OcfAction::MetaData,
        )
        .with_timeout_ms(METADATA_TIMEOUT_MS);
        request.class = agent.class.clone();
        let outcome = run_resource(&request).await;
        if !outcome.is_success() {
            return Err(format!("{spec}: meta-data failed: {outcome}"));
        }
        outcome.stdout.text
    };
    let mut meta = metadata::parse(spec, &xml)?;
    if agent.is_fence_device() {
        add_fencer_parameters(&mut meta);
    }
    Ok(meta)
}

/// Fence devices also take the fencer's own `pcmk_*` parameters.
fn add_fencer_parameters(meta: &mut AgentMetadata) {
    for name in FENCER_PARAMETERS {
        if !meta.parameters.iter().any(|p| p.name == name) {
            meta.parameters.push(metadata::ParameterInfo {
                name: name.to_string(),
                required: false,
                unique: false,
                content_type: "string".into(),
                default: None,
                shortdesc: "read by the fencer (Pacemaker's pcmk_* device parameter)".into(),
                longdesc: String::new(),
            });
        }
    }
    // Fence agents mark the port "required" though the fencer supplies it.
    for p in &mut meta.parameters {
        if matches!(p.name.as_str(), "port" | "plug" | "nodename" | "action") {
            p.required = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_parse_as_the_cib_spells_them() {
        let ocf = AgentName::parse("ocf:heartbeat:IPaddr2").unwrap();
        assert_eq!(ocf.provider.as_deref(), Some("heartbeat"));
        assert_eq!(ocf.to_string(), "ocf:heartbeat:IPaddr2");
        let unit = AgentName::parse("systemd:nginx").unwrap();
        assert_eq!(
            (unit.class.as_str(), unit.kind.as_str()),
            ("systemd", "nginx")
        );
        assert!(AgentName::parse("ocf:Dummy").is_err());
        assert!(AgentName::parse("nginx").is_err());
        assert!(AgentName::parse("lsb:").is_err());
    }
}
