//! The `lsb`, `systemd` and `service` classes against the real things:
//! Debian's own init script `/etc/init.d/logd` (cluster-glue's logging
//! daemon, installed with resource-agents) and a private systemd instance,
//! a user manager (`systemd --user`) started for the test in its own mount
//! namespace and reached on its D-Bus message bus.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use systole::agent::ocf::{OcfAction, OcfRc, OcfRequest, OpStatus};
use systole::agent::{catalog, run_resource, AgentConfig};

#[path = "support/private_systemd.rs"]
mod private_systemd;
use private_systemd::PrivateSystemd;

fn request(config: &Arc<AgentConfig>, class: &str, name: &str, action: OcfAction) -> OcfRequest {
    let mut request =
        OcfRequest::new(Arc::clone(config), "", name, name, action).with_timeout_ms(20_000);
    request.class = systole::model::cib::ResourceClass::parse(class);
    request
}

async fn rc(config: &Arc<AgentConfig>, class: &str, name: &str, action: OcfAction) -> OcfRc {
    let outcome = run_resource(&request(config, class, name, action.clone())).await;
    assert_eq!(
        outcome.status,
        OpStatus::Done,
        "{class}:{name} {action}: {outcome:?}"
    );
    outcome.rc
}

/// The monitor's answer once it settles: `ha_logd -d` returns before the
/// daemon it forks has written its pid file, so a status right after start
/// may still say "not running" (at most 5 s, 100 ms apart).
async fn settled_monitor_rc(config: &Arc<AgentConfig>, class: &str, name: &str) -> OcfRc {
    let mut last = OcfRc::GenericError;
    for _ in 0..50 {
        last = rc(config, class, name, OcfAction::Monitor).await;
        if last == OcfRc::Success {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last
}

fn config_for(dir: &Path, systemd: Option<&PrivateSystemd>) -> Arc<AgentConfig> {
    let mut config = AgentConfig {
        state_dir: dir.join("rsctmp"),
        agents_dir: dir.join("agents"),
        ..AgentConfig::default()
    };
    if let Some(systemd) = systemd {
        config.systemd_bus = Some(systemd.bus_address());
        config.systemd_dropin_dir = systemd.unit_dir();
    }
    Arc::new(config)
}

#[tokio::test]
async fn debians_logd_init_script_runs_as_an_lsb_resource() {
    let script = Path::new("/etc/init.d/logd");
    assert!(
        script.exists(),
        "{} is missing: apt-get install resource-agents (cluster-glue ships it)",
        script.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), None);
    // Whatever an earlier run left, start from stopped.
    assert_eq!(
        rc(&config, "lsb", "logd", OcfAction::Stop).await,
        OcfRc::Success
    );
    assert_eq!(
        rc(&config, "lsb", "logd", OcfAction::Monitor).await,
        OcfRc::NotRunning
    );
    assert_eq!(
        rc(&config, "lsb", "logd", OcfAction::Start).await,
        OcfRc::Success
    );
    assert_eq!(
        settled_monitor_rc(&config, "lsb", "logd").await,
        OcfRc::Success
    );
    // Idempotent, as LSB requires.
    assert_eq!(
        rc(&config, "lsb", "logd", OcfAction::Start).await,
        OcfRc::Success
    );
    assert_eq!(
        rc(&config, "lsb", "logd", OcfAction::Stop).await,
        OcfRc::Success
    );
    // logd's status says 1 ("dead, pid file exists") now: not running.
    let status = run_resource(&request(&config, "lsb", "logd", OcfAction::Monitor)).await;
    assert_eq!(status.rc, OcfRc::NotRunning, "{status:?}");
    assert_eq!(
        rc(&config, "lsb", "logd", OcfAction::Stop).await,
        OcfRc::Success
    );
    // The service class finds no systemd here (none reachable), so lsb.
    assert_eq!(
        rc(&config, "service", "logd", OcfAction::Monitor).await,
        OcfRc::NotRunning
    );
    let missing = run_resource(&request(&config, "lsb", "no-such-script", OcfAction::Start)).await;
    assert_eq!(missing.rc, OcfRc::NotInstalled);
    assert!(missing.note.unwrap().contains("/etc/init.d/no-such-script"));
    let promote = run_resource(&request(&config, "lsb", "logd", OcfAction::Promote)).await;
    assert_eq!(promote.rc, OcfRc::Unimplemented);
    let meta = catalog::describe(Arc::clone(&config), "lsb:logd")
        .await
        .unwrap();
    assert_eq!(meta.shortdesc, "ha_logd logging daemon");
    assert!(meta.supports("monitor") && meta.parameters.is_empty());
    let listed = catalog::list_agents(&config, Some("lsb")).await.unwrap();
    assert!(listed.contains(&"lsb:logd".to_string()), "{listed:?}");
}

const SLEEPER: &str = "systole-test-sleeper";

#[tokio::test]
async fn a_private_systemd_runs_units_through_its_dbus_api() {
    let dir = tempfile::tempdir().unwrap();
    let systemd = PrivateSystemd::start(dir.path(), &[
        (&format!("{SLEEPER}.service"), "[Unit]\nDescription=Systole test sleeper\n[Service]\nExecStart=/bin/sleep 600\nRestart=always\n"),
        ("systole-test-broken.service", "[Service]\nType=exec\nExecStart=/nonexistent/binary\n"),
    ])
    .unwrap_or_else(|e| panic!("cannot start a private systemd: {e}"));
    let config = config_for(dir.path(), Some(&systemd));
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Monitor).await,
        OcfRc::NotRunning
    );
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Start).await,
        OcfRc::Success
    );
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Monitor).await,
        OcfRc::Success
    );
    // systemd itself agrees, and holds the drop-in that puts the unit under
    // the cluster: ordered before systole.service, never restarted by systemd.
    let dropin = systemd
        .unit_dir()
        .join(format!("{SLEEPER}.service.d/50-systole.conf"));
    let text = std::fs::read_to_string(&dropin).unwrap();
    assert!(text.contains("Before=systole.service"), "{text}");
    let shown = systemd.systemctl(&[
        "show",
        "-p",
        "ActiveState",
        "-p",
        "Restart",
        "-p",
        "Before",
        SLEEPER,
    ]);
    assert!(shown.contains("ActiveState=active"), "{shown}");
    assert!(
        shown.contains("Restart=no"),
        "the drop-in must win over Restart=always: {shown}"
    );
    assert!(shown.contains("systole.service"), "{shown}");
    // Killed behind the cluster's back: the monitor sees it, systemd does
    // not restart it.
    systemd.systemctl(&["kill", "--signal=KILL", SLEEPER]);
    wait_until(|| systemd.systemctl(&["is-active", SLEEPER]).trim() != "active");
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Monitor).await,
        OcfRc::NotRunning
    );
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Start).await,
        OcfRc::Success
    );
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Stop).await,
        OcfRc::Success
    );
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Monitor).await,
        OcfRc::NotRunning
    );
    assert_eq!(
        rc(&config, "systemd", SLEEPER, OcfAction::Stop).await,
        OcfRc::Success
    );
    // A unit that cannot start fails its start; an unknown one is not
    // installed, and stopping it succeeds (nothing runs).
    let broken = run_resource(&request(
        &config,
        "systemd",
        "systole-test-broken",
        OcfAction::Start,
    ))
    .await;
    assert_eq!(broken.rc, OcfRc::GenericError, "{broken:?}");
    assert!(broken.exit_reason.unwrap().contains("failed"));
    assert_eq!(
        rc(&config, "systemd", "no-such-unit", OcfAction::Monitor).await,
        OcfRc::NotInstalled
    );
    assert_eq!(
        rc(&config, "systemd", "no-such-unit", OcfAction::Stop).await,
        OcfRc::Success
    );
    // service: systemd where systemd knows the unit.
    assert_eq!(
        rc(&config, "service", SLEEPER, OcfAction::Start).await,
        OcfRc::Success
    );
    assert!(systemd
        .systemctl(&["is-active", SLEEPER])
        .contains("active"));
    assert_eq!(
        rc(&config, "service", SLEEPER, OcfAction::Stop).await,
        OcfRc::Success
    );
    let meta = catalog::describe(Arc::clone(&config), &format!("systemd:{SLEEPER}"))
        .await
        .unwrap();
    // The drop-in's description, as with Pacemaker's.
    assert_eq!(
        meta.longdesc,
        format!("Cluster Controlled {SLEEPER}.service")
    );
    let listed = catalog::list_agents(&config, Some("systemd"))
        .await
        .unwrap();
    assert!(listed.contains(&format!("systemd:{SLEEPER}")), "{listed:?}");
}

fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
}
