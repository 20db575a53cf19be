//! The alert runner: calls the alert agents the CIB's `alerts` section asks
//! for (`model::cib::alerts` decides which, with what environment), off every
//! actor thread, at most `ALERTS_RUNNING_MAX` at a time, each killed (with
//! its process group) at its timeout. An agent never holds anything up:
//! when `ALERTS_WAITING_MAX` calls already wait, a new one is dropped and
//! counted, as a slow mail server must not grow the daemon without bound.
//!
//! Which node raises which event follows Pacemaker: resource operations on
//! the node that ran them, node joins and losses on every node, fencing on
//! the node that fenced, attribute changes on the node whose attribute
//! manager wrote them.

use crate::actors::shared::NodeShared;
use crate::agent::process::{self, Exit, RunSpec};
use crate::model::cib::alerts::{self, Alert, AlertEvent, AlertTime, Invocation};
use crate::model::cib::store::CibVersion;
use crate::model::cib::xml::Element;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Agents running at once on this node.
pub const ALERTS_RUNNING_MAX: usize = 8;
/// Calls waiting for a free slot before new ones are dropped.
pub const ALERTS_WAITING_MAX: usize = 1_000;
/// The Pacemaker version whose alert interface this is (`CRM_alert_version`;
/// agents check it is set and may compare it).
pub const ALERT_INTERFACE_VERSION: &str = "2.1.5";
const OUTPUT_TAIL_BYTES_MAX: usize = 4 * 1024;
const KILL_GRACE_MS: u64 = 2_000;
const OUTPUT_DRAIN_MS_MAX: u64 = 1_000;

/// What the runner did, for `status` and the tests.
#[derive(Debug, Default)]
pub struct AlertCounters {
    pub ran: AtomicU64,
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
    pub dropped: AtomicU64,
}

pub struct AlertRunner {
    slots: Arc<tokio::sync::Semaphore>,
    waiting: Arc<AtomicUsize>,
    sequence: AtomicU64,
    /// The alerts of the CIB version last read.
    alerts: Mutex<Option<(CibVersion, Arc<Vec<Alert>>)>>,
    pub counters: Arc<AlertCounters>,
}

impl Default for AlertRunner {
    fn default() -> Self {
        AlertRunner {
            slots: Arc::new(tokio::sync::Semaphore::new(ALERTS_RUNNING_MAX)),
            waiting: Arc::new(AtomicUsize::new(0)),
            sequence: AtomicU64::new(0),
            alerts: Mutex::new(None),
            counters: Arc::new(AlertCounters::default()),
        }
    }
}

impl AlertRunner {
    /// The configured alerts, read again only when the CIB changed.
    fn alerts_of(&self, cib: &Element) -> Arc<Vec<Alert>> {
        // Only the configuration matters: status updates keep the cache.
        let version = CibVersion {
            num_updates: 0,
            ..crate::model::cib::store::version(cib)
        };
        let mut cached = self.alerts.lock().expect("alerts lock");
        if let Some((seen, alerts)) = cached.as_ref() {
            if *seen == version {
                return Arc::clone(alerts);
            }
        }
        let alerts = match cib.child("configuration") {
            Some(configuration) => {
                alerts::read_alerts(cib, configuration, crate::actors::shared::now_epoch_s()).0
            }
            None => Vec::new(),
        };
        let alerts = Arc::new(alerts);
        *cached = Some((version, Arc::clone(&alerts)));
        alerts
    }

    /// Starts the agents `event` calls for; returns at once.
    pub fn raise(&self, cib: &Element, path_env: &str, event: AlertEvent) {
        let alerts = self.alerts_of(cib);
        if alerts.is_empty() {
            return;
        }
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let calls = alerts::invocations(
            &alerts,
            &event,
            sequence,
            &local_time_now(),
            ALERT_INTERFACE_VERSION,
        );
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(?event, "alert not sent: no runtime");
            return;
        };
        for call in calls {
            if self.waiting.fetch_add(1, Ordering::SeqCst) >= ALERTS_WAITING_MAX {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(alert = %call.alert_id, "alert dropped: ALERTS_WAITING_MAX = {ALERTS_WAITING_MAX} calls already wait");
                continue;
            }
            let slots = Arc::clone(&self.slots);
            let waiting = Arc::clone(&self.waiting);
            let counters = Arc::clone(&self.counters);
            let path_env = path_env.to_string();
            runtime.spawn(async move {
                let permit = slots.acquire_owned().await;
                waiting.fetch_sub(1, Ordering::SeqCst);
                run_one(&call, &path_env, &counters).await;
                drop(permit);
            });
        }
    }
}

async fn run_one(call: &Invocation, path_env: &str, counters: &AlertCounters) {
    let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> =
        vec![("PATH".into(), path_env.into())];
    env.extend(
        call.env
            .iter()
            .map(|(k, v)| (k.clone().into(), v.clone().into())),
    );
    let spec = RunSpec {
        program: call.path.clone().into(),
        args: Vec::new(),
        env,
        stdin: None,
        timeout_ms: call.timeout_ms,
        kill_grace_ms: KILL_GRACE_MS,
        output_tail_bytes_max: OUTPUT_TAIL_BYTES_MAX,
        output_drain_ms_max: OUTPUT_DRAIN_MS_MAX,
    };
    let result = process::run(&spec).await;
    counters.ran.fetch_add(1, Ordering::Relaxed);
    let recipient = call.recipient_id.as_deref().unwrap_or("");
    match result.exit {
        Exit::Code(0) => {
            tracing::debug!(alert = %call.alert_id, recipient, duration_ms = result.duration_ms, "alert agent done")
        }
        Exit::TimedOut => {
            counters.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(alert = %call.alert_id, recipient, timeout_ms = call.timeout_ms, "alert agent timed out; its process group was killed");
        }
        other => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(alert = %call.alert_id, recipient, exit = ?other, stderr = %result.stderr.text.trim(), "alert agent failed");
        }
    }
}

/// Now, with the local zone's offset and abbreviation (for `%z`, `%Z` and
/// local hours in `timestamp-format`).
fn local_time_now() -> AlertTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let epoch_s = now.as_secs() as i64;
    let (utc_offset_s, zone) = local_zone(epoch_s);
    AlertTime {
        epoch_s,
        usec: now.subsec_micros(),
        utc_offset_s,
        zone,
    }
}

fn local_zone(epoch_s: i64) -> (i64, String) {
    let time: libc::time_t = epoch_s as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which we own; tm_zone then
    // points at static zone data or is null.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return (0, "UTC".into());
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        (tm.tm_gmtoff, zone)
    }
}

impl NodeShared {
    /// Raises an alert event on this node (see the module's doc for which
    /// node raises which).
    pub fn raise_alert(&self, event: AlertEvent) {
        let cib = self.cib();
        self.alerts.raise(&cib, &self.agent_config.path_env, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cib::operation::OpKind;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    fn cib_with(alerts: &str) -> Element {
        Element::parse(&format!(
            r#"<cib admin_epoch="0" epoch="1" num_updates="0"><configuration><crm_config/><nodes/><resources/><constraints/>
               <alerts>{alerts}</alerts></configuration><status/></cib>"#
        ))
        .unwrap()
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn an_agent_gets_the_environment_and_a_hung_one_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let pidfile = dir.path().join("pid");
        let good = script(
            dir.path(),
            "good",
            &format!(
                "echo \"$CRM_alert_kind $CRM_alert_rsc $CRM_alert_recipient $colour\" >> {}",
                out.display()
            ),
        );
        let hung = script(
            dir.path(),
            "hung",
            &format!("echo $$ > {}; exec sleep 60", pidfile.display()),
        );
        let cib = cib_with(&format!(
            r#"<alert id="g" path="{good}"><instance_attributes id="gi"><nvpair id="gi1" name="colour" value="blue"/></instance_attributes>
                 <recipient id="g1" value="r1"/></alert>
               <alert id="h" path="{hung}"><meta_attributes id="hm"><nvpair id="hm1" name="timeout" value="1s"/></meta_attributes></alert>"#
        ));
        let runner = AlertRunner::default();
        runner.raise(
            &cib,
            "/usr/bin:/bin",
            AlertEvent::Resource {
                node: "n1".into(),
                resource: "web".into(),
                task: OpKind::Start,
                interval_ms: 0,
                target_rc: 0,
                status: 0,
                rc: 0,
                exec_ms: 5,
            },
        );
        until("the good agent's line", || {
            std::fs::read_to_string(&out).is_ok_and(|t| t.contains("resource web r1 blue"))
        })
        .await;
        until("the hung agent killed", || {
            runner.counters.timed_out.load(Ordering::Relaxed) == 1
        })
        .await;
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "the hung agent {pid} still runs");
        assert_eq!(runner.counters.ran.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn calls_beyond_the_waiting_bound_are_dropped_not_queued() {
        let dir = tempfile::tempdir().unwrap();
        let slow = script(dir.path(), "slow", "sleep 2");
        let cib = cib_with(&format!(r#"<alert id="s" path="{slow}"/>"#));
        let runner = AlertRunner::default();
        let event = AlertEvent::Node {
            node: "n2".into(),
            node_id: "n2".into(),
            state: "lost".into(),
        };
        for _ in 0..(ALERTS_RUNNING_MAX + ALERTS_WAITING_MAX + 5) {
            runner.raise(&cib, "/usr/bin:/bin", event.clone());
        }
        // Every slot busy and the waiting list full: the last ones dropped.
        assert!(runner.counters.dropped.load(Ordering::Relaxed) >= 5);
        assert!(runner.waiting.load(Ordering::SeqCst) <= ALERTS_WAITING_MAX);
    }
}
