//! The `systemd` class: units started, stopped and watched through
//! systemd's D-Bus API (`org.freedesktop.systemd1.Manager`), as Pacemaker
//! does, never through `systemctl`.
//!
//! - `start` first writes a drop-in, `UNIT.d/50-systole.conf` under
//!   [`AgentConfig::systemd_dropin_dir`] (`/run/systemd/system`, gone at
//!   boot): `Before=systole.service`, so that at shutdown systemd stops
//!   Systole (which stops or moves the unit) before the unit itself, and
//!   `Restart=no`, so that only the cluster restarts it. systemd reloads
//!   its configuration when the drop-in is new or changed. Then
//!   `StartUnit(unit, "replace")`, and the unit's state is polled until its
//!   job is gone and it is `active` (success) or `failed`/`inactive`.
//! - `stop`: `StopUnit`, then polled until `inactive` or `failed` (both
//!   stopped). Stopping a unit systemd does not know succeeds.
//! - `monitor`: `ActiveState`: `active`, `reloading` and `activating` are
//!   running, anything else not running; an unknown unit is not installed.
//! - `meta-data`: made from the unit's `Description`.
//!
//! Unit names without a suffix get `.service`. The manager is
//! `org.freedesktop.systemd1` on the system bus, or on the message bus at
//! [`AgentConfig::systemd_bus`] when that gives a D-Bus address (a user
//! manager's bus, `unix:path=$XDG_RUNTIME_DIR/bus`, in tests).

use std::time::Duration;

use super::ocf::{OcfAction, OcfOutcome, OcfRc, OcfRequest, OpStatus};
use super::{is_safe_name, AgentConfig, CapturedOutput};
use zbus::{OwnedObjectPath, OwnedVariant};

const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// The drop-in Systole writes for every unit it starts.
pub const DROPIN_NAME: &str = "50-systole.conf";
/// How often a unit's state is read while a job runs.
const POLL_INTERVAL_MS: u64 = 100;
/// How long connecting to systemd may take.
const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// A connection to systemd's manager.
pub struct Systemd {
    connection: zbus::Connection,
}

/// What went wrong talking to systemd.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cannot reach systemd at {address}: {source}")]
    Connect {
        address: String,
        source: zbus::Error,
    },
    #[error("connecting to systemd at {0} timed out")]
    ConnectTimeout(String),
    #[error("systemd {method}: {source}")]
    Call { method: String, source: zbus::Error },
}

impl SystemdError {
    /// True when this host has no systemd bus at all (its socket does not
    /// exist): no unit can be running here, so the class is "not
    /// installed". Any other failure (a timeout, a refused call) may be
    /// passing, and says nothing about whether the unit runs.
    pub fn means_no_systemd(&self) -> bool {
        match self {
            SystemdError::Connect {
                source: zbus::Error::InputOutput(io) | zbus::Error::Connection(io, _),
                ..
            } => io.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// `nginx` is `nginx.service`; a name with a unit suffix stays as it is.
pub fn unit_name(name: &str) -> String {
    const SUFFIXES: [&str; 11] = [
        ".service",
        ".socket",
        ".mount",
        ".timer",
        ".path",
        ".target",
        ".swap",
        ".slice",
        ".scope",
        ".device",
        ".automount",
    ];
    if SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// How an `ActiveState` reads for a monitor.
pub fn monitor_rc(active_state: &str) -> OcfRc {
    match active_state {
        "active" | "reloading" | "activating" => OcfRc::Success,
        _ => OcfRc::NotRunning,
    }
}

/// Where a started job has got to: `None` while it is not settled.
pub fn settled(action: &OcfAction, job_pending: bool, active_state: &str) -> Option<OcfRc> {
    if job_pending {
        return None;
    }
    match (action, active_state) {
        (OcfAction::Start, "active" | "reloading") => Some(OcfRc::Success),
        (OcfAction::Start, "activating") => None,
        (OcfAction::Start, _) => Some(OcfRc::GenericError),
        (_, "inactive" | "failed") => Some(OcfRc::Success),
        (_, "deactivating") => None,
        (_, _) => Some(OcfRc::GenericError),
    }
}

/// The drop-in that puts a unit under the cluster.
pub fn dropin_text(unit: &str, cluster_unit: &str) -> String {
    let mut text = format!(
        "# Written by Systole: this unit is managed by the cluster.\n\
         [Unit]\nDescription=Cluster Controlled {unit}\nBefore={cluster_unit}\n"
    );
    if unit.ends_with(".service") {
        text.push_str("\n[Service]\nRestart=no\n");
    }
    text
}

impl Systemd {
    /// Connects to the manager `config` names.
    pub async fn connect(config: &AgentConfig) -> Result<Systemd, SystemdError> {
        let address = config
            .systemd_bus
            .clone()
            .unwrap_or_else(|| "the system bus".into());
        let connecting = async {
            match &config.systemd_bus {
                None => zbus::Connection::system().await,
                Some(address) => {
                    zbus::connection::Builder::address(address.as_str())
                        .build()
                        .await
                }
            }
        };
        let timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
        let connection = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| SystemdError::ConnectTimeout(address.clone()))?
            .map_err(|source| SystemdError::Connect {
                address: address.clone(),
                source,
            })?;
        Ok(Systemd { connection })
    }

    async fn call<B, R>(
        &self,
        path: &str,
        interface: &str,
        method: &str,
        body: &B,
    ) -> Result<R, SystemdError>
    where
        B: serde::Serialize + zbus::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::Type,
    {
        let failed = |source| SystemdError::Call {
            method: method.to_string(),
            source,
        };
        let reply = self
            .connection
            .call_method(Some(DESTINATION), path, Some(interface), method, body)
            .await
            .map_err(failed)?;
        reply.body().deserialize::<R>().map_err(failed)
    }

    /// The unit's object, loading its configuration if need be.
    pub async fn load_unit(&self, unit: &str) -> Result<OwnedObjectPath, SystemdError> {
        self.call(MANAGER_PATH, MANAGER, "LoadUnit", &(unit,)).await
    }

    async fn unit_property(
        &self,
        path: &OwnedObjectPath,
        name: &str,
    ) -> Result<String, SystemdError> {
        let value: OwnedVariant = self
            .call(path.as_str(), PROPERTIES, "Get", &(UNIT, name))
            .await?;
        String::try_from(value).map_err(|source| SystemdError::Call {
            method: format!("Get {name}"),
            source,
        })
    }

    /// `LoadState` (`loaded`, `not-found`, `masked`, ...).
    pub async fn load_state(&self, path: &OwnedObjectPath) -> Result<String, SystemdError> {
        self.unit_property(path, "LoadState").await
    }

    /// `ActiveState` (`active`, `inactive`, `failed`, `activating`, ...).
    pub async fn active_state(&self, path: &OwnedObjectPath) -> Result<String, SystemdError> {
        self.unit_property(path, "ActiveState").await
    }

    pub async fn description(&self, path: &OwnedObjectPath) -> Result<String, SystemdError> {
        self.unit_property(path, "Description").await
    }

    /// Whether any job is queued or running for `unit`.
    async fn job_pending(&self, unit: &str) -> Result<bool, SystemdError> {
        type Job = (
            u32,
            String,
            String,
            String,
            OwnedObjectPath,
            OwnedObjectPath,
        );
        let jobs: Vec<Job> = self.call(MANAGER_PATH, MANAGER, "ListJobs", &()).await?;
        Ok(jobs.iter().any(|job| job.1 == unit))
    }

    /// Unit files systemd knows, as (name, state).
    pub async fn unit_files(&self) -> Result<Vec<(String, String)>, SystemdError> {
        let files: Vec<(String, String)> = self
            .call(MANAGER_PATH, MANAGER, "ListUnitFiles", &())
            .await?;
        Ok(files
            .into_iter()
            .filter_map(|(path, state)| {
                let name = path.rsplit('/').next()?.to_string();
                Some((name, state))
            })
            .collect())
    }

    /// `daemon-reload`: systemd reads unit files and drop-ins again.
    pub async fn reload(&self) -> Result<(), SystemdError> {
        self.call::<_, ()>(MANAGER_PATH, MANAGER, "Reload", &())
            .await
    }

    async fn start_or_stop(&self, action: &OcfAction, unit: &str) -> Result<(), SystemdError> {
        let method = if *action == OcfAction::Start {
            "StartUnit"
        } else {
            "StopUnit"
        };
        let _job: OwnedObjectPath = self
            .call(MANAGER_PATH, MANAGER, method, &(unit, "replace"))
            .await?;
        Ok(())
    }
}

/// Writes the unit's drop-in; true when it is new or changed (systemd must
/// then reload).
fn write_dropin(config: &AgentConfig, unit: &str) -> std::io::Result<bool> {
    let dir = config.systemd_dropin_dir.join(format!("{unit}.d"));
    let path = dir.join(DROPIN_NAME);
    let text = dropin_text(unit, &config.systemd_cluster_unit);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    std::fs::create_dir_all(&dir)?;
    crate::os::persist::write_atomic(&path, text.as_bytes()).map_err(std::io::Error::other)?;
    Ok(true)
}

fn answer(
    status: OpStatus,
    rc: OcfRc,
    note: Option<String>,
    started: std::time::Instant,
) -> OcfOutcome {
    let mut outcome = OcfOutcome::without_run(status, rc, String::new());
    outcome.note = note;
    outcome.exit_reason = outcome.note.clone().filter(|_| rc != OcfRc::Success);
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// Runs one action of a systemd unit.
pub async fn run_systemd(req: &OcfRequest) -> OcfOutcome {
    let started = std::time::Instant::now();
    if !is_safe_name(&req.agent_type) {
        let note = format!("invalid unit name '{}'", req.agent_type);
        return OcfOutcome::without_run(OpStatus::NotInstalled, OcfRc::NotInstalled, note);
    }
    let unit = unit_name(&req.agent_type);
    let timeout_ms = req.config.effective_timeout_ms(req.timeout_ms);
    let work = run_unit_action(req, &unit, started);
    let outcome = match tokio::time::timeout(Duration::from_millis(timeout_ms), work).await {
        Ok(outcome) => outcome,
        Err(_) => answer(
            OpStatus::TimedOut,
            OcfRc::GenericError,
            Some(format!(
                "systemd {} of {unit} did not finish within timeout_ms {timeout_ms}",
                req.action
            )),
            started,
        ),
    };
    super::ocf::log_outcome(req, &outcome);
    outcome
}

async fn run_unit_action(req: &OcfRequest, unit: &str, started: std::time::Instant) -> OcfOutcome {
    let failed = |error: SystemdError| {
        answer(
            OpStatus::Error,
            OcfRc::GenericError,
            Some(error.to_string()),
            started,
        )
    };
    let systemd = match Systemd::connect(&req.config).await {
        Ok(systemd) => systemd,
        Err(error) if error.means_no_systemd() => {
            return answer(
                OpStatus::NotInstalled,
                OcfRc::NotInstalled,
                Some(format!("no systemd on this node: {error}")),
                started,
            );
        }
        Err(error) => return failed(error),
    };
    let path = match systemd.load_unit(unit).await {
        Ok(path) => path,
        Err(error) => return failed(error),
    };
    let load_state = match systemd.load_state(&path).await {
        Ok(state) => state,
        Err(error) => return failed(error),
    };
    if load_state != "loaded" {
        return match &req.action {
            // Nothing systemd does not know can be running.
            OcfAction::Stop => answer(OpStatus::Done, OcfRc::Success, None, started),
            _ => answer(
                OpStatus::Done,
                OcfRc::NotInstalled,
                Some(format!("systemd unit {unit} is {load_state}")),
                started,
            ),
        };
    }
    match &req.action {
        OcfAction::Monitor => match systemd.active_state(&path).await {
            Ok(state) => {
                let rc = monitor_rc(&state);
                let note =
                    (rc != OcfRc::Success).then(|| format!("systemd unit {unit} is {state}"));
                answer(OpStatus::Done, rc, note, started)
            }
            Err(error) => failed(error),
        },
        OcfAction::MetaData => unit_metadata(&systemd, req, &path, started).await,
        OcfAction::Start | OcfAction::Stop => {
            start_or_stop(&systemd, req, unit, &path, started).await
        }
        other => answer(
            OpStatus::Error,
            OcfRc::Unimplemented,
            Some(format!("systemd units have no {other} action")),
            started,
        ),
    }
}

/// The meta-data of a systemd unit: no parameters, its description.
async fn unit_metadata(
    systemd: &Systemd,
    req: &OcfRequest,
    path: &OwnedObjectPath,
    started: std::time::Instant,
) -> OcfOutcome {
    let description = systemd.description(path).await.unwrap_or_default();
    let xml = super::metadata::parameterless_xml(
        &req.agent_type,
        &description,
        &format!("systemd unit file for {}", req.agent_type),
        "100s",
        "60s",
        None,
    );
    let mut outcome = answer(OpStatus::Done, OcfRc::Success, None, started);
    outcome.stdout = CapturedOutput {
        bytes_total: xml.len() as u64,
        text: xml,
        truncated: false,
    };
    outcome
}

async fn start_or_stop(
    systemd: &Systemd,
    req: &OcfRequest,
    unit: &str,
    path: &OwnedObjectPath,
    started: std::time::Instant,
) -> OcfOutcome {
    let failed = |note: String| answer(OpStatus::Error, OcfRc::GenericError, Some(note), started);
    if req.action == OcfAction::Start {
        match write_dropin(&req.config, unit) {
            Ok(true) => {
                if let Err(error) = systemd.reload().await {
                    return failed(error.to_string());
                }
            }
            Ok(false) => {}
            Err(error) => {
                return failed(format!(
                    "cannot write the drop-in for {unit} in {}: {error}",
                    req.config.systemd_dropin_dir.display()
                ))
            }
        }
    }
    if let Err(error) = systemd.start_or_stop(&req.action, unit).await {
        return failed(error.to_string());
    }
    // The caller's timeout bounds this loop.
    loop {
        let pending = match systemd.job_pending(unit).await {
            Ok(pending) => pending,
            Err(error) => return failed(error.to_string()),
        };
        let state = match systemd.active_state(path).await {
            Ok(state) => state,
            Err(error) => return failed(error.to_string()),
        };
        match settled(&req.action, pending, &state) {
            Some(OcfRc::Success) => return answer(OpStatus::Done, OcfRc::Success, None, started),
            Some(rc) => {
                let note = format!("systemd unit {unit} is {state} after {}", req.action);
                return answer(OpStatus::Done, rc, Some(note), started);
            }
            None => tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await,
        }
    }
}

/// Whether systemd runs here and knows `name` (for the `service` class).
pub async fn knows_unit(config: &AgentConfig, name: &str) -> bool {
    let Ok(systemd) = Systemd::connect(config).await else {
        return false;
    };
    let Ok(path) = systemd.load_unit(&unit_name(name)).await else {
        return false;
    };
    systemd
        .load_state(&path)
        .await
        .is_ok_and(|state| state == "loaded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_get_a_service_suffix_only_when_they_have_none() {
        assert_eq!(unit_name("nginx"), "nginx.service");
        assert_eq!(unit_name("nginx.service"), "nginx.service");
        assert_eq!(unit_name("data.mount"), "data.mount");
        assert_eq!(unit_name("getty@tty1"), "getty@tty1.service");
    }

    #[test]
    fn active_states_read_as_pacemaker_reads_them() {
        assert_eq!(monitor_rc("active"), OcfRc::Success);
        assert_eq!(monitor_rc("reloading"), OcfRc::Success);
        assert_eq!(monitor_rc("activating"), OcfRc::Success);
        assert_eq!(monitor_rc("inactive"), OcfRc::NotRunning);
        assert_eq!(monitor_rc("failed"), OcfRc::NotRunning);
        assert_eq!(monitor_rc("deactivating"), OcfRc::NotRunning);
    }

    #[test]
    fn jobs_settle_on_the_states_they_aim_for() {
        let start = OcfAction::Start;
        let stop = OcfAction::Stop;
        assert_eq!(settled(&start, true, "active"), None);
        assert_eq!(settled(&start, false, "active"), Some(OcfRc::Success));
        assert_eq!(settled(&start, false, "activating"), None);
        assert_eq!(settled(&start, false, "failed"), Some(OcfRc::GenericError));
        assert_eq!(settled(&stop, false, "inactive"), Some(OcfRc::Success));
        assert_eq!(settled(&stop, false, "failed"), Some(OcfRc::Success));
        assert_eq!(settled(&stop, false, "deactivating"), None);
        assert_eq!(settled(&stop, false, "active"), Some(OcfRc::GenericError));
    }

    #[test]
    fn the_dropin_orders_the_unit_under_the_cluster() {
        let text = dropin_text("nginx.service", "systole.service");
        assert!(text.contains(
            "[Unit]\nDescription=Cluster Controlled nginx.service\nBefore=systole.service\n"
        ));
        assert!(text.contains("[Service]\nRestart=no\n"));
        assert!(!dropin_text("data.mount", "systole.service").contains("[Service]"));
    }
}
