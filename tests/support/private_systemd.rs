//! A private systemd for tests: a user manager (`systemd --user`) with its
//! own runtime dir, run in its own mount namespace where `/run/systemd` is
//! a fresh tmpfs holding `system/` (systemd's "booted with systemd" mark,
//! which it checks before it runs), so nothing of the host's `/run` is
//! touched. Tests reach it on its own message bus, as Systole reaches the
//! system's manager on the system bus. Needs root (for the mount namespace) and systemd's
//! binary; stopped (SIGTERM, which stops its units) when dropped.
//!
//! One at a time in a process: a user manager started this way takes the
//! cgroup it runs in as its own, so two would share it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const SYSTEMD_BINARY: &str = "/lib/systemd/systemd";
const START_TIMEOUT_MS: u64 = 15_000;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub struct PrivateSystemd {
    child: Child,
    runtime_dir: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl PrivateSystemd {
    /// Starts a manager below `dir` with `units` (name, unit file text) in
    /// its runtime unit directory.
    pub fn start(dir: &Path, units: &[(&str, &str)]) -> Result<PrivateSystemd, String> {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        if !Path::new(SYSTEMD_BINARY).exists() {
            return Err(format!(
                "{SYSTEMD_BINARY} is missing: apt-get install systemd"
            ));
        }
        let runtime_dir = dir.join("xdg");
        let home = dir.join("home");
        let unit_dir = runtime_dir.join("systemd/user");
        for d in [&runtime_dir, &home, &unit_dir] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        for (name, text) in units {
            std::fs::write(unit_dir.join(name), text).map_err(|e| e.to_string())?;
        }
        let log = std::fs::File::create(dir.join("systemd.log")).map_err(|e| e.to_string())?;
        let script = format!(
            "mount -t tmpfs tmpfs /run/systemd 2>/dev/null || {{ mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd; }} || exit 1; \
             mkdir -p /run/systemd/system && exec {SYSTEMD_BINARY} --user --log-target=console"
        );
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("unshare: {e} (needs root and util-linux)"))?;
        let mut manager = PrivateSystemd {
            child,
            runtime_dir,
            _turn: turn,
        };
        let deadline = Instant::now() + Duration::from_millis(START_TIMEOUT_MS);
        while !manager.answers_on_its_bus() {
            if let Ok(Some(status)) = manager.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("systemd.log")).unwrap_or_default();
                return Err(format!("systemd --user exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("systemd --user did not answer on its bus".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(manager)
    }

    /// Its message bus (a `dbus-daemon --session` it starts on the first
    /// connection), where it answers as `org.freedesktop.systemd1`.
    pub fn bus_address(&self) -> String {
        format!("unix:path={}", self.runtime_dir.join("bus").display())
    }

    /// Whether the manager answers as `org.freedesktop.systemd1` on its bus
    /// (the bus daemon starts on the first connection; the manager then
    /// joins it).
    fn answers_on_its_bus(&self) -> bool {
        if !self.runtime_dir.join("systemd/private").exists() {
            return false;
        }
        Command::new("busctl")
            .arg(format!("--address={}", self.bus_address()))
            .args([
                "call",
                "org.freedesktop.systemd1",
                "/org/freedesktop/systemd1",
            ])
            .args(["org.freedesktop.DBus.Peer", "Ping"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A runtime unit directory it reads (units and drop-ins).
    pub fn unit_dir(&self) -> PathBuf {
        self.runtime_dir.join("systemd/user")
    }

    /// `systemctl --user ARGS` against this manager: its stdout.
    pub fn systemctl(&self, args: &[&str]) -> String {
        let output = Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .expect("systemctl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for PrivateSystemd {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
