//! Running resource agents (OCF) and fence agents as child processes.
//!
//! Every agent runs as an async child process (`tokio::process`), in its own
//! process group, with a deadline: nothing here blocks the calling thread, and
//! a timeout or a cancellation kills everything the agent forked.
//!
//! - [`ocf`]: one OCF 1.1 action ([`ocf::run_ocf`]), environment per the OCF
//!   spec, exit codes mapped to [`ocf::OcfRc`] and [`ocf::OpStatus`];
//! - [`recurring`]: recurring monitors that report only changes, like
//!   Pacemaker's executor;
//! - [`fence`]: one fence agent action, `key=value` lines on stdin.
//!
//! Systole ships its own agents (`agents/` in the source tree), embedded in
//! the binary so that a local cluster can materialize them anywhere with
//! [`install_agents`]: `ocf/Dummy`, `ocf/Stateful` (provider `systole`) and
//! `fence/fence_systole_local`.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use systole::agent::{install_agents, AgentConfig};
//! use systole::agent::ocf::{run_ocf, OcfAction, OcfRc, OcfRequest};
//!
//! let mut config = AgentConfig::default();
//! config.agents_dir = "/tmp/systole-agents".into();
//! config.state_dir = "/tmp/systole-state".into();
//! install_agents(&config.agents_dir).unwrap();
//! let request = OcfRequest::new(Arc::new(config), "systole", "Dummy", "rsc1", OcfAction::Start)
//!     .with_param("fake", "hello")
//!     .with_timeout_ms(20_000);
//! let outcome = run_ocf(&request).await;
//! assert_eq!(outcome.rc, OcfRc::Success);
//! # }
//! ```

use crate::model::cib::ResourceClass;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub mod catalog;
pub mod fence;
pub mod lsb;
pub mod metadata;
pub mod ocf;
pub(crate) mod process;
pub mod recurring;
pub mod systemd;

pub use process::CapturedOutput;

/// Where agents are found and how they are run. Shared (in an `Arc`) by every
/// request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// `OCF_ROOT`: agents of provider P and type T are `resource.d/P/T` below it.
    pub ocf_root: PathBuf,
    /// Systole's own agents: `ocf/TYPE` (provider `systole`) and
    /// `fence/fence_*`. See [`install_agents`].
    pub agents_dir: PathBuf,
    /// A writable directory for agents' state, given to them as `HA_RSCTMP`
    /// and `HA_VARRUN` (Debian's ocf-shellfuncs need both). Created if missing.
    pub state_dir: PathBuf,
    /// Where fence agents are looked for after `agents_dir/fence`.
    pub fence_system_dirs: Vec<PathBuf>,
    /// `PATH` for agents.
    pub path_env: String,
    /// More environment for every agent (set before the OCF variables,
    /// which win): how agents reach their node's daemon.
    pub extra_env: std::collections::BTreeMap<String, String>,
    /// Bytes of the end of stdout and of stderr kept, per stream.
    pub output_tail_bytes_max: usize,
    /// After SIGTERM to a timed-out agent's group, how long before SIGKILL.
    pub kill_grace_ms: u64,
    /// After an agent exits, how long its output pipes are still read (a
    /// daemon it started may hold them open).
    pub output_drain_ms_max: u64,
    /// Timeout used when a request gives 0.
    pub timeout_ms_default: u64,
    /// Upper bound on any request's timeout.
    pub timeout_ms_max: u64,
    /// Init scripts of the `lsb` class.
    pub lsb_dir: PathBuf,
    /// The D-Bus message bus where the `systemd` class finds systemd's
    /// manager: `None` is the system bus; else a D-Bus address
    /// (`unix:path=...`).
    pub systemd_bus: Option<String>,
    /// Where the drop-ins that put units under the cluster are written
    /// (`UNIT.d/50-systole.conf`).
    pub systemd_dropin_dir: PathBuf,
    /// The unit the cluster runs as: managed units are ordered `Before=` it.
    pub systemd_cluster_unit: String,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            ocf_root: PathBuf::from("/usr/lib/ocf"),
            agents_dir: PathBuf::from("/usr/lib/systole/agents"),
            state_dir: PathBuf::from("/run/systole/agents"),
            fence_system_dirs: vec![PathBuf::from("/usr/sbin")],
            path_env: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            extra_env: std::collections::BTreeMap::new(),
            output_tail_bytes_max: 4 * 1024,
            kill_grace_ms: 2_000,
            output_drain_ms_max: 500,
            timeout_ms_default: 20_000,
            timeout_ms_max: 24 * 60 * 60 * 1000,
            lsb_dir: PathBuf::from("/etc/init.d"),
            systemd_bus: None,
            systemd_dropin_dir: PathBuf::from("/run/systemd/system"),
            systemd_cluster_unit: "systole.service".to_string(),
        }
    }
}

impl AgentConfig {
    /// The timeout actually applied for a requested one (0 = default).
    pub fn effective_timeout_ms(&self, requested_ms: u64) -> u64 {
        let timeout_ms = if requested_ms == 0 {
            self.timeout_ms_default
        } else {
            requested_ms
        };
        timeout_ms.min(self.timeout_ms_max)
    }
}

/// The resource classes the executor runs (`stonith` devices are the
/// fencer's).
pub const RESOURCE_CLASSES: [ResourceClass; 4] = [
    ResourceClass::Ocf,
    ResourceClass::Lsb,
    ResourceClass::Systemd,
    ResourceClass::Service,
];

/// [`RESOURCE_CLASSES`] as a list to print.
pub fn resource_classes_text() -> String {
    RESOURCE_CLASSES
        .map(|class| class.as_str().to_string())
        .join(", ")
}

/// Runs one action of a resource of any class: `ocf`, `lsb`, `systemd`, or
/// `service` (systemd when it runs here and knows the unit, else lsb).
pub async fn run_resource(req: &ocf::OcfRequest) -> ocf::OcfOutcome {
    match &req.class {
        ResourceClass::Ocf => ocf::run_ocf(req).await,
        ResourceClass::Lsb => lsb::run_lsb(req).await,
        ResourceClass::Systemd => systemd::run_systemd(req).await,
        // A fence device's own actions (start, monitor), as the executor
        // runs them; fencing itself is the fencer's.
        ResourceClass::Stonith => fence::run_device(req).await,
        ResourceClass::Service => {
            let mut resolved = req.clone();
            resolved.class = service_class(req).await;
            let mut outcome = Box::pin(run_resource(&resolved)).await;
            if outcome.rc != ocf::OcfRc::Success && outcome.note.is_some() {
                outcome.note = outcome
                    .note
                    .map(|n| format!("service:{} ran as {}: {n}", req.agent_type, resolved.class));
            }
            outcome
        }
        other @ ResourceClass::Other(_) => ocf::OcfOutcome::without_run(
            ocf::OpStatus::NotInstalled,
            ocf::OcfRc::NotInstalled,
            format!(
                "resource class '{other}' is not supported (supported: {})",
                resource_classes_text()
            ),
        ),
    }
}

/// What a `service` resource is here: `systemd` where systemd runs and
/// knows the unit, else `lsb`.
pub async fn service_class(req: &ocf::OcfRequest) -> ResourceClass {
    if systemd::knows_unit(&req.config, &req.agent_type).await {
        ResourceClass::Systemd
    } else {
        ResourceClass::Lsb
    }
}

/// A name usable as one path component: no separators, not `.`/`..`, no NUL.
pub(crate) fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
        && name.len() <= 255
}

static EMBEDDED_AGENTS: [(&str, &str); 9] = [
    ("ocf/Dummy", include_str!("../../agents/ocf/Dummy")),
    ("ocf/Stateful", include_str!("../../agents/ocf/Stateful")),
    (
        "ocf/FakeContainer",
        include_str!("../../agents/ocf/FakeContainer"),
    ),
    (
        "fence/fence_systole_local",
        include_str!("../../agents/fence/fence_systole_local"),
    ),
    // Pacemaker's attribute tools, for agents that set promotion scores.
    (
        "bin/crm_attribute",
        include_str!("../../agents/bin/crm_attribute"),
    ),
    (
        "bin/crm_master",
        include_str!("../../agents/bin/crm_master"),
    ),
    // And the attribute manager, node and resource queries they call.
    (
        "bin/attrd_updater",
        include_str!("../../agents/bin/attrd_updater"),
    ),
    ("bin/crm_node", include_str!("../../agents/bin/crm_node")),
    (
        "bin/crm_resource",
        include_str!("../../agents/bin/crm_resource"),
    ),
];

static INSTALL_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Systole's own agents as (path relative to an agents dir, script).
pub fn embedded_agents() -> &'static [(&'static str, &'static str)] {
    &EMBEDDED_AGENTS
}

/// Writes every embedded agent below `dir` (creating `dir/ocf`, `dir/fence`),
/// mode 0755. Each file is written to a temporary name and renamed into
/// place, so an agent running meanwhile is never half-written nor busy.
pub fn install_agents(dir: &Path) -> io::Result<()> {
    for (relative, script) in embedded_agents() {
        let target = dir.join(relative);
        let parent = target.parent().expect("embedded agent paths have a parent");
        std::fs::create_dir_all(parent)?;
        let file_name = target
            .file_name()
            .expect("embedded agent paths name a file");
        let unique = INSTALL_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = parent.join(format!(
            ".{}.tmp{}.{unique}",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(script.as_bytes())?;
            file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
            file.sync_all()?;
        }
        std::fs::rename(&temporary, &target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
