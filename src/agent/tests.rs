//! Tests that run real agents: ours, throw-away ones written here, and
//! Debian's `ocf:heartbeat:Dummy`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fence::{run_fence, FenceAction, FenceRequest};
use super::ocf::{run_ocf, OcfAction, OcfRc, OcfRequest, OpStatus};
use super::recurring::{RecurringError, RecurringManager};
use super::{embedded_agents, install_agents, AgentConfig};

const DEBIAN_DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";

/// A config rooted in a temporary dir, with our agents installed and short
/// grace periods so that the tests stay quick.
fn config_in(dir: &Path) -> AgentConfig {
    let agents_dir = dir.join("agents");
    install_agents(&agents_dir).expect("install agents");
    AgentConfig {
        agents_dir,
        state_dir: dir.join("state"),
        kill_grace_ms: 300,
        output_drain_ms_max: 200,
        ..AgentConfig::default()
    }
}

fn write_agent(dir: &Path, relative: &str, script: &str) -> PathBuf {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, script).unwrap();
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    path
}

/// Alive = kill(pid, 0) succeeds and the process is not a zombie (an
/// orphaned zombie waits for a reaper that may not exist in a container).
fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        }
        Err(_) => false,
    }
}

/// Waits up to 3 s for every pid to die; returns the survivors. Async, so
/// the runtime can meanwhile drop what it must (an aborted task).
async fn survivors(pids: &[i32]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|&pid| alive(pid)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_pid(path: &Path) -> i32 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap()
}

async fn run(req: &OcfRequest, action: OcfAction) -> OcfRc {
    let outcome = run_ocf(&req.clone().with_action(action.clone())).await;
    assert_eq!(outcome.status, OpStatus::Done, "{action}: {outcome:?}");
    outcome.rc
}

#[test]
fn installed_agents_are_executable_copies() {
    let dir = tempfile::tempdir().unwrap();
    install_agents(dir.path()).unwrap();
    install_agents(dir.path()).unwrap(); // idempotent
    assert_eq!(embedded_agents().len(), 9);
    for (relative, script) in embedded_agents() {
        let path = dir.path().join(relative);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), *script);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{relative}");
        assert!(script.starts_with("#!/bin/sh\n"), "{relative}");
        // The source tree's copy is executable too (git keeps the bit).
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("agents")
            .join(relative);
        let mode = std::fs::metadata(&source).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{} not executable", source.display());
    }
}

#[tokio::test]
async fn our_dummy_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let req = OcfRequest::new(config.clone(), "systole", "Dummy", "d1", OcfAction::Monitor)
        .with_param("fake", "one")
        .with_timeout_ms(10_000);
    let state = config.state_dir.join("Dummy-d1.state");

    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::NotRunning);
    assert_eq!(run(&req, OcfAction::Stop).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "one\n");
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    let reloaded = req.clone().with_param("fake", "two");
    assert_eq!(run(&reloaded, OcfAction::Reload).await, OcfRc::Success);
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "two\n");
    assert_eq!(run(&req, OcfAction::ValidateAll).await, OcfRc::Success);
    let migrating = req.clone().with_meta("migrate-target", "node2");
    assert_eq!(run(&migrating, OcfAction::MigrateTo).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::NotRunning);
    assert_eq!(run(&req, OcfAction::MigrateFrom).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Stop).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::NotRunning);
    assert!(!state.exists());
    // An action Dummy does not implement.
    assert_eq!(run(&req, OcfAction::Promote).await, OcfRc::Unimplemented);

    let meta = run_ocf(&req.clone().with_action(OcfAction::MetaData)).await;
    assert!(meta.is_success(), "{meta:?}");
    assert!(meta.stdout.text.contains("<resource-agent name=\"Dummy\""));

    let bad = req.clone().with_param("op_sleep", "soon");
    let outcome = run_ocf(&bad.with_action(OcfAction::ValidateAll)).await;
    assert_eq!(outcome.rc, OcfRc::NotConfigured);
    assert!(outcome.exit_reason.unwrap().contains("op_sleep"));
}

#[tokio::test]
async fn our_dummy_with_explicit_state_param() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let state = dir.path().join("elsewhere/d2.state");
    let req = OcfRequest::new(config, "systole", "Dummy", "d2", OcfAction::Start)
        .with_param("state", state.to_str().unwrap());
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    assert!(state.exists());
    assert_eq!(run(&req, OcfAction::Stop).await, OcfRc::Success);
    assert!(!state.exists());
}

#[tokio::test]
async fn our_dummy_op_sleep_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let req = OcfRequest::new(config, "systole", "Dummy", "slow", OcfAction::Start)
        .with_param("op_sleep", "30")
        .with_timeout_ms(400);
    let started = Instant::now();
    let outcome = run_ocf(&req).await;
    assert_eq!(outcome.status, OpStatus::TimedOut, "{outcome:?}");
    assert_eq!(outcome.rc, OcfRc::GenericError);
    assert!(outcome.note.unwrap().contains("timeout_ms 400"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn our_stateful_roles() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    // A crm_master shim that records its arguments.
    let calls = dir.path().join("crm_master.calls");
    write_agent(
        dir.path(),
        "bin/crm_master",
        &format!("#!/bin/sh\necho \"$*\" >> '{}'\n", calls.display()),
    );
    config.path_env = format!("{}:/usr/bin:/bin", dir.path().join("bin").display());
    let req = OcfRequest::new(
        Arc::new(config),
        "systole",
        "Stateful",
        "db:0",
        OcfAction::Monitor,
    );

    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::NotRunning);
    assert_eq!(run(&req, OcfAction::Promote).await, OcfRc::GenericError);
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Promote).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::RunningPromoted);
    assert_eq!(run(&req, OcfAction::Promote).await, OcfRc::Success);
    let notify = req
        .clone()
        .with_meta("notify_type", "post")
        .with_meta("notify_operation", "promote");
    let outcome = run_ocf(&notify.with_action(OcfAction::Notify)).await;
    assert!(outcome.is_success(), "{outcome:?}");
    assert!(outcome.stderr.text.contains("notify: post-promote"));
    assert_eq!(run(&req, OcfAction::Demote).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Stop).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::NotRunning);
    assert_eq!(run(&req, OcfAction::Demote).await, OcfRc::GenericError);
    let meta = run_ocf(&req.clone().with_action(OcfAction::MetaData)).await;
    assert!(meta
        .stdout
        .text
        .contains("<resource-agent name=\"Stateful\""));

    let calls = std::fs::read_to_string(&calls).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(
        calls,
        [
            "-l reboot -v 5",
            "-l reboot -v 10",
            "-l reboot -v 5",
            "-l reboot -D"
        ]
    );
}

#[tokio::test]
async fn stateful_without_crm_master_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.path_env = "/usr/bin:/bin".into(); // no crm_master here
    let req = OcfRequest::new(
        Arc::new(config),
        "systole",
        "Stateful",
        "s",
        OcfAction::Start,
    );
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Promote).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::RunningPromoted);
    assert_eq!(run(&req, OcfAction::Stop).await, OcfRc::Success);
}

const HANG_AGENT: &str = r#"#!/bin/sh
# Ignores SIGTERM, forks a child and a grandchild that ignore it too, hangs.
trap '' TERM
d="$OCF_RESKEY_pids"
echo $$ > "$d/leader"
sleep 600 &
echo $! > "$d/child"
sh -c 'sleep 600 & echo $! > "$1/grandchild"; wait' sh "$d" &
echo $! > "$d/child2"
while [ ! -s "$d/grandchild" ]; do sleep 0.01; done
echo ready > "$d/ready"
wait
"#;

fn hang_pids(pids_dir: &Path) -> Vec<i32> {
    assert!(
        pids_dir.join("ready").exists(),
        "hang agent never got ready"
    );
    ["leader", "child", "child2", "grandchild"]
        .iter()
        .map(|name| read_pid(&pids_dir.join(name)))
        .collect()
}

#[tokio::test]
async fn hung_agent_and_its_children_are_killed_at_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(&config.agents_dir, "ocf/Hang", HANG_AGENT);
    let pids_dir = dir.path().join("pids");
    std::fs::create_dir(&pids_dir).unwrap();
    let req = OcfRequest::new(Arc::new(config), "systole", "Hang", "h", OcfAction::Start)
        .with_param("pids", pids_dir.to_str().unwrap())
        .with_timeout_ms(1_000);
    let started = Instant::now();
    let outcome = run_ocf(&req).await;
    let elapsed = started.elapsed();
    assert_eq!(outcome.status, OpStatus::TimedOut, "{outcome:?}");
    assert_eq!(outcome.rc, OcfRc::GenericError);
    assert!(elapsed >= Duration::from_millis(1_000));
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    let pids = hang_pids(&pids_dir);
    assert_eq!(pids[0] as u32, outcome.pid.unwrap());
    assert_eq!(survivors(&pids).await, Vec::<i32>::new());
}

#[tokio::test]
async fn dropping_a_run_kills_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(&config.agents_dir, "ocf/Hang", HANG_AGENT);
    let pids_dir = dir.path().join("pids");
    std::fs::create_dir(&pids_dir).unwrap();
    let req = OcfRequest::new(Arc::new(config), "systole", "Hang", "h", OcfAction::Start)
        .with_param("pids", pids_dir.to_str().unwrap())
        .with_timeout_ms(60_000);
    let ready = pids_dir.join("ready");
    // Boxed, so that drop() really drops the future (pin! would not).
    let mut run = Box::pin(run_ocf(&req));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "hang agent never got ready");
        tokio::select! {
            _ = &mut run => panic!("the hang agent finished"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    let pids = hang_pids(&pids_dir);
    assert!(pids.iter().all(|&pid| alive(pid)));
    drop(run);
    assert_eq!(survivors(&pids).await, Vec::<i32>::new());
}

#[tokio::test]
async fn binary_garbage_and_odd_exit_code_is_generic_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(
        &config.agents_dir,
        "ocf/Garbage",
        "#!/bin/sh\nhead -c 3000000 /dev/urandom\nhead -c 1000000 /dev/urandom >&2\nexit 77\n",
    );
    let bytes_max = config.output_tail_bytes_max;
    let req = OcfRequest::new(
        Arc::new(config),
        "systole",
        "Garbage",
        "g",
        OcfAction::Start,
    );
    let outcome = run_ocf(&req).await;
    assert_eq!(outcome.status, OpStatus::Done);
    assert_eq!(outcome.rc, OcfRc::GenericError);
    assert_eq!(outcome.exit_code, Some(77));
    assert!(outcome.note.as_deref().unwrap().contains("77"));
    assert_eq!(outcome.stdout.bytes_total, 3_000_000);
    assert_eq!(outcome.stderr.bytes_total, 1_000_000);
    assert!(outcome.stdout.truncated && outcome.stderr.truncated);
    // Lossy decoding may widen a byte to U+FFFD, never add characters.
    assert!(outcome.stdout.text.chars().count() <= bytes_max);
    assert!(outcome.stderr.text.chars().count() <= bytes_max);
}

#[tokio::test]
async fn killed_by_signal_is_generic_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(&config.agents_dir, "ocf/Suicide", "#!/bin/sh\nkill -9 $$\n");
    let req = OcfRequest::new(
        Arc::new(config),
        "systole",
        "Suicide",
        "s",
        OcfAction::Start,
    );
    let outcome = run_ocf(&req).await;
    assert_eq!(outcome.rc, OcfRc::GenericError);
    assert_eq!(outcome.signal, Some(9));
    assert!(outcome.note.unwrap().contains("signal 9"));
}

#[tokio::test]
async fn agent_sees_ocf_environment_and_null_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(
        &config.agents_dir,
        "ocf/Env",
        "#!/bin/sh\ncat\necho \"$1\"\nenv | sort\nreadlink /proc/self/fd/0\nexit 0\n",
    );
    let state_dir = config.state_dir.clone();
    let req = OcfRequest::new(
        Arc::new(config),
        "systole",
        "Env",
        "web:1",
        OcfAction::Notify,
    )
    .with_param("ip", "10.0.0.1")
    .with_meta("notify_type", "pre")
    .with_meta("clone-max", "3")
    .with_timeout_ms(7_000)
    .with_interval_ms(0);
    let outcome = run_ocf(&req).await;
    assert!(outcome.is_success(), "{outcome:?}");
    let out = &outcome.stdout.text;
    for line in [
        "notify",
        "OCF_ROOT=/usr/lib/ocf",
        "OCF_RA_VERSION_MAJOR=1",
        "OCF_RA_VERSION_MINOR=1",
        "OCF_RESOURCE_INSTANCE=web:1",
        "OCF_RESOURCE_TYPE=Env",
        "OCF_RESOURCE_PROVIDER=systole",
        "OCF_RESKEY_ip=10.0.0.1",
        "OCF_RESKEY_CRM_meta_notify_type=pre",
        "OCF_RESKEY_CRM_meta_clone_max=3",
        "OCF_RESKEY_CRM_meta_timeout=7000",
        "OCF_RESKEY_CRM_meta_interval=0",
        &format!("HA_RSCTMP={}", state_dir.display()),
        &format!("HA_VARRUN={}", state_dir.display()),
        "/dev/null",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    assert!(state_dir.is_dir());
}

#[tokio::test]
async fn missing_agent_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    for (provider, agent_type) in [
        ("systole", "NoSuchAgent"),
        ("nosuchprovider", "Dummy"),
        ("..", "Dummy"),
        ("systole", "../ocf/Dummy"),
    ] {
        let req = OcfRequest::new(config.clone(), provider, agent_type, "m", OcfAction::Start);
        let outcome = run_ocf(&req).await;
        assert_eq!(outcome.status, OpStatus::NotInstalled, "{outcome:?}");
        assert_eq!(outcome.rc, OcfRc::NotInstalled);
        assert!(outcome.note.is_some());
    }
    let req = OcfRequest::new(
        config.clone(),
        "systole",
        "NoSuchAgent",
        "m",
        OcfAction::Start,
    );
    let note = run_ocf(&req).await.note.unwrap();
    assert!(
        note.contains("ocf/NoSuchAgent") && note.contains("not found"),
        "{note}"
    );
    let mut lsb = OcfRequest::new(config, "systole", "Dummy", "m", OcfAction::Start);
    lsb.class = crate::model::cib::ResourceClass::Lsb;
    assert_eq!(run_ocf(&lsb).await.rc, OcfRc::NotInstalled);
}

#[tokio::test]
async fn debian_heartbeat_dummy_runs_unmodified() {
    assert!(
        Path::new(DEBIAN_DUMMY).exists(),
        "{DEBIAN_DUMMY} is missing: run `apt-get install resource-agents` \
         (Debian's OCF agents; CI installs them)"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let req = OcfRequest::new(
        config.clone(),
        "heartbeat",
        "Dummy",
        "hb1",
        OcfAction::Monitor,
    )
    .with_timeout_ms(20_000);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::NotRunning);
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    assert!(config.state_dir.join("Dummy-hb1.state").exists());
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Stop).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Monitor).await, OcfRc::NotRunning);
    let meta = run_ocf(&req.clone().with_action(OcfAction::MetaData)).await;
    assert!(meta.stdout.text.contains("resource-agent"), "{meta:?}");
}

#[tokio::test]
async fn recurring_monitor_reports_changes_and_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let req = OcfRequest::new(config.clone(), "systole", "Dummy", "r1", OcfAction::Start)
        .with_timeout_ms(5_000);
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);

    let (reports_tx, mut reports_rx) = tokio::sync::mpsc::channel(16);
    let mut monitors = RecurringManager::new(reports_tx);
    let monitor = req
        .clone()
        .with_action(OcfAction::Monitor)
        .with_interval_ms(100);
    let key = monitors.start(monitor, OcfRc::Success).unwrap();
    assert_eq!(key.to_string(), "r1_monitor_100");
    assert!(monitors.is_active("r1", 100));

    // Healthy: nothing to report.
    let quiet = tokio::time::timeout(Duration::from_millis(500), reports_rx.recv()).await;
    assert!(quiet.is_err(), "unexpected report {quiet:?}");

    std::fs::remove_file(config.state_dir.join("Dummy-r1.state")).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), reports_rx.recv())
        .await
        .expect("a report within 5 s")
        .unwrap();
    assert_eq!(report.key, key);
    assert_eq!(report.previous_rc, OcfRc::Success);
    assert_eq!(report.outcome.rc, OcfRc::NotRunning);
    assert!(report.run_count >= 2);

    // Still failing: no new report. Recovered: one report.
    let quiet = tokio::time::timeout(Duration::from_millis(400), reports_rx.recv()).await;
    assert!(quiet.is_err(), "unexpected report {quiet:?}");
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    let report = tokio::time::timeout(Duration::from_secs(5), reports_rx.recv())
        .await
        .expect("a recovery report")
        .unwrap();
    assert_eq!(report.previous_rc, OcfRc::NotRunning);
    assert_eq!(report.outcome.rc, OcfRc::Success);

    assert!(monitors.cancel("r1", 100).await);
    assert!(!monitors.cancel("r1", 100).await);
    assert!(!monitors.abort("r1", 100));
    assert!(monitors.active().is_empty());
    std::fs::remove_file(config.state_dir.join("Dummy-r1.state")).unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(400), reports_rx.recv()).await;
    assert!(quiet.is_err(), "report after cancel {quiet:?}");
}

#[tokio::test]
async fn recurring_monitor_first_run_after_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let (reports_tx, mut reports_rx) = tokio::sync::mpsc::channel(16);
    let mut monitors = RecurringManager::new(reports_tx);
    let monitor = OcfRequest::new(config, "systole", "Dummy", "never", OcfAction::Monitor)
        .with_interval_ms(300);
    let started = Instant::now();
    monitors.start(monitor, OcfRc::Success).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), reports_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(report.run_count, 1, "first failure is reported");
    assert_eq!(report.outcome.rc, OcfRc::NotRunning);
    monitors.cancel_all().await;
}

#[tokio::test]
async fn recurring_monitor_never_overlaps_and_cancel_kills_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let log = dir.path().join("runs.log");
    write_agent(
        &config.agents_dir,
        "ocf/Slow",
        &format!(
            "#!/bin/sh\necho \"begin $$\" >> '{log}'\nsleep 0.3\necho end >> '{log}'\nexit 0\n",
            log = log.display()
        ),
    );
    let (reports_tx, _reports_rx) = tokio::sync::mpsc::channel(16);
    let mut monitors = RecurringManager::new(reports_tx);
    let monitor = OcfRequest::new(Arc::new(config), "systole", "Slow", "s", OcfAction::Monitor)
        .with_interval_ms(20)
        .with_timeout_ms(5_000);
    monitors.start(monitor.clone(), OcfRc::Success).unwrap();
    // Wait for a run in flight (odd number of lines: a begin without end).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines = text.lines().count();
        if lines >= 5 && lines % 2 == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "monitor did not run: {text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(monitors.cancel_resource("s").await == 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if index % 2 == 0 {
            assert!(line.starts_with("begin "), "overlap: {text}");
        } else {
            assert_eq!(*line, "end", "overlap: {text}");
        }
    }
    // The run cancelled in flight (or, on a slow machine, the last one).
    let last_begin = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("begin "))
        .unwrap();
    let last_pid: i32 = last_begin["begin ".len()..].parse().unwrap();
    assert_eq!(survivors(&[last_pid]).await, Vec::<i32>::new());

    let not_monitor = monitor.clone().with_action(OcfAction::Start);
    assert_eq!(
        monitors.start(not_monitor, OcfRc::Success),
        Err(RecurringError::NotAMonitor(OcfAction::Start))
    );
    assert_eq!(
        monitors.start(monitor.clone().with_interval_ms(0), OcfRc::Success),
        Err(RecurringError::ZeroInterval)
    );

    // A limit on monitors, with an error naming it.
    let (reports_tx, _reports_rx) = tokio::sync::mpsc::channel(16);
    let mut limited = RecurringManager::new(reports_tx).with_monitors_max(1);
    limited
        .start(monitor.clone().with_interval_ms(60_000), OcfRc::Success)
        .unwrap();
    // Replacing the same key is not a new monitor.
    limited
        .start(monitor.clone().with_interval_ms(60_000), OcfRc::Success)
        .unwrap();
    let error = limited
        .start(monitor.clone().with_interval_ms(30_000), OcfRc::Success)
        .unwrap_err();
    assert_eq!(error, RecurringError::TooMany { monitors_max: 1 });
    assert!(error.to_string().contains("monitors_max"));
    assert_eq!(limited.active().len(), 1);
}

#[tokio::test]
async fn aborted_monitor_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(&config.agents_dir, "ocf/Hang", HANG_AGENT);
    let pids_dir = dir.path().join("pids");
    std::fs::create_dir(&pids_dir).unwrap();
    let (reports_tx, _reports_rx) = tokio::sync::mpsc::channel(16);
    let mut monitors = RecurringManager::new(reports_tx);
    let monitor = OcfRequest::new(Arc::new(config), "systole", "Hang", "h", OcfAction::Monitor)
        .with_param("pids", pids_dir.to_str().unwrap())
        .with_interval_ms(10)
        .with_timeout_ms(60_000);
    monitors.start(monitor, OcfRc::Success).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_dir.join("ready").exists() {
        assert!(Instant::now() < deadline, "hang agent never got ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pids = hang_pids(&pids_dir);
    assert!(monitors.abort("h", 10));
    assert!(monitors.active().is_empty());
    assert_eq!(survivors(&pids).await, Vec::<i32>::new());
}

/// A process that looks like a systole daemon: `sleep 60` named
/// `systole-daemon`, its pid in `pid_dir/NODE/systole.pid`.
fn fake_daemon(pid_dir: &Path, node: &str, argv0: &str) -> std::process::Child {
    let child = std::process::Command::new("sleep")
        .arg0(argv0)
        .arg("60")
        .spawn()
        .unwrap();
    std::fs::create_dir_all(pid_dir.join(node)).unwrap();
    std::fs::write(
        pid_dir.join(node).join("systole.pid"),
        format!("{}\n", child.id()),
    )
    .unwrap();
    child
}

fn fence_request(
    config: &Arc<AgentConfig>,
    pid_dir: &Path,
    action: FenceAction,
    node: &str,
) -> FenceRequest {
    FenceRequest::new(config.clone(), "fence_systole_local", action)
        .with_target(node)
        .with_param("pid_dir", pid_dir.to_str().unwrap())
        .with_timeout_ms(20_000)
}

#[tokio::test]
async fn fence_agent_kills_a_systole_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let pid_dir = dir.path().join("cluster");
    let mut daemon = fake_daemon(&pid_dir, "node1", "systole-daemon");
    let pid = daemon.id() as i32;

    let status = run_fence(&fence_request(
        &config,
        &pid_dir,
        FenceAction::Status,
        "node1",
    ))
    .await;
    assert_eq!(status.rc, 0, "{status:?}");
    let list = run_fence(&fence_request(
        &config,
        &pid_dir,
        FenceAction::List,
        "node1",
    ))
    .await;
    assert!(list.succeeded(), "{list:?}");
    assert_eq!(list.stdout.text, "node1\n");
    let monitor = run_fence(
        &FenceRequest::new(config.clone(), "fence_systole_local", FenceAction::Monitor)
            .with_param("pid_dir", pid_dir.to_str().unwrap()),
    )
    .await;
    assert!(monitor.succeeded(), "{monitor:?}");

    let off = run_fence(&fence_request(&config, &pid_dir, FenceAction::Off, "node1")).await;
    assert!(off.succeeded(), "{off:?}");
    let exit = daemon.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(exit.signal(), Some(libc::SIGKILL));
    assert!(!alive(pid));

    let status = run_fence(&fence_request(
        &config,
        &pid_dir,
        FenceAction::Status,
        "node1",
    ))
    .await;
    assert_eq!(status.rc, 2, "off: {status:?}");
    // Already off: off succeeds again.
    let again = run_fence(&fence_request(
        &config,
        &pid_dir,
        FenceAction::Reboot,
        "node1",
    ))
    .await;
    assert!(again.succeeded(), "{again:?}");
    let meta = run_fence(&FenceRequest::new(
        config.clone(),
        "fence_systole_local",
        FenceAction::Metadata,
    ))
    .await;
    assert!(meta.stdout.text.contains("fence_systole_local"));
}

#[tokio::test]
async fn fence_agent_refuses_to_kill_a_stranger() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let pid_dir = dir.path().join("cluster");
    let mut stranger = fake_daemon(&pid_dir, "node2", "sleep");
    let pid = stranger.id() as i32;
    let off = run_fence(&fence_request(&config, &pid_dir, FenceAction::Off, "node2")).await;
    assert_eq!(off.rc, 1, "{off:?}");
    assert!(off.stderr.text.contains("refusing"), "{off:?}");
    assert!(alive(pid));
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[tokio::test]
async fn fence_runner_missing_agent_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(
        &config.agents_dir,
        "fence/fence_hang",
        "#!/bin/sh\ncat > /dev/null\nsleep 600 &\nsleep 600\n",
    );
    let config = Arc::new(config);
    let missing = run_fence(&FenceRequest::new(
        config.clone(),
        "fence_no_such_agent",
        FenceAction::Off,
    ))
    .await;
    assert_eq!(missing.status, OpStatus::NotInstalled);
    assert!(!missing.succeeded());
    let bad_name = run_fence(&FenceRequest::new(config.clone(), "rm", FenceAction::Off)).await;
    assert_eq!(bad_name.status, OpStatus::NotInstalled);

    let started = Instant::now();
    let hung = run_fence(
        &FenceRequest::new(config, "fence_hang", FenceAction::Reboot)
            .with_target("n1")
            .with_timeout_ms(500),
    )
    .await;
    assert_eq!(hung.status, OpStatus::TimedOut, "{hung:?}");
    assert!(!hung.succeeded());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!alive(hung.pid.unwrap() as i32));
}

#[tokio::test]
async fn fence_agent_reads_stdin_params() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_agent(
        &config.agents_dir,
        "fence/fence_echo",
        "#!/bin/sh\ncat\nexit 0\n",
    );
    let mut params = BTreeMap::new();
    params.insert("ipaddr".to_string(), "10.1.1.1".to_string());
    let mut req = FenceRequest::new(Arc::new(config), "fence_echo", FenceAction::Off)
        .with_target("node3")
        .with_port("plug3");
    req.params = params;
    let outcome = run_fence(&req).await;
    assert!(outcome.succeeded());
    assert_eq!(
        outcome.stdout.text,
        "action=off\nnodename=node3\nport=plug3\nipaddr=10.1.1.1\n"
    );
}

#[test]
fn config_reads_from_partial_toml() {
    let config: AgentConfig =
        toml::from_str("agents_dir = \"/srv/agents\"\nkill_grace_ms = 500\n").unwrap();
    assert_eq!(config.agents_dir, PathBuf::from("/srv/agents"));
    assert_eq!(config.kill_grace_ms, 500);
    assert_eq!(config.ocf_root, AgentConfig::default().ocf_root);
    assert_eq!(config.effective_timeout_ms(0), config.timeout_ms_default);
    assert_eq!(config.effective_timeout_ms(u64::MAX), config.timeout_ms_max);
}

#[tokio::test]
async fn outcomes_cross_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_in(dir.path()));
    let req = OcfRequest::new(config, "systole", "Dummy", "w", OcfAction::Monitor);
    let outcome = run_ocf(&req).await;
    let bytes = rmp_serde::to_vec(&outcome).unwrap();
    let back: super::ocf::OcfOutcome = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, outcome);
    assert_eq!(
        serde_json::to_string(&OcfAction::MigrateTo).unwrap(),
        "\"migrate_to\""
    );
}

#[tokio::test]
async fn daemon_holding_stdout_does_not_block_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let pid_file = dir.path().join("daemon.pid");
    write_agent(
        &config.agents_dir,
        "ocf/Daemonizing",
        &format!(
            "#!/bin/sh\nsleep 30 &\necho $! > '{}'\necho started\nexit 0\n",
            pid_file.display()
        ),
    );
    let req = OcfRequest::new(
        Arc::new(config),
        "systole",
        "Daemonizing",
        "d",
        OcfAction::Start,
    )
    .with_timeout_ms(20_000);
    let started = Instant::now();
    let outcome = run_ocf(&req).await;
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(outcome.stdout.text, "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A start may leave daemons behind: a normal exit kills nothing.
    let daemon = read_pid(&pid_file);
    assert!(alive(daemon));
    // SAFETY: plain kill of the process this test started.
    unsafe { libc::kill(daemon, libc::SIGKILL) };
    assert_eq!(survivors(&[daemon]).await, Vec::<i32>::new());
}

#[tokio::test]
async fn recurring_monitor_of_a_promoted_instance() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.path_env = "/usr/bin:/bin".into();
    let req = OcfRequest::new(
        Arc::new(config),
        "systole",
        "Stateful",
        "p:0",
        OcfAction::Start,
    );
    assert_eq!(run(&req, OcfAction::Start).await, OcfRc::Success);
    assert_eq!(run(&req, OcfAction::Promote).await, OcfRc::Success);
    let (reports_tx, mut reports_rx) = tokio::sync::mpsc::channel(16);
    let mut monitors = RecurringManager::new(reports_tx);
    let monitor = req
        .clone()
        .with_action(OcfAction::Monitor)
        .with_meta("role", "Promoted")
        .with_interval_ms(100);
    monitors.start(monitor, OcfRc::RunningPromoted).unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(400), reports_rx.recv()).await;
    assert!(quiet.is_err(), "promoted is what was expected: {quiet:?}");
    assert_eq!(run(&req, OcfAction::Demote).await, OcfRc::Success);
    let report = tokio::time::timeout(Duration::from_secs(5), reports_rx.recv())
        .await
        .expect("a report after demote")
        .unwrap();
    assert_eq!(report.previous_rc, OcfRc::RunningPromoted);
    assert_eq!(report.outcome.rc, OcfRc::Success);
    assert_eq!(monitors.cancel_resource("p:0").await, 1);
}
