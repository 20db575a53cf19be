//! systemd's notification protocol (`sd_notify`), for `Type=notify` and the
//! watchdog of `dist/systole.service`: datagrams of `KEY=VALUE` lines on
//! the Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace). Without `$NOTIFY_SOCKET` (not run by systemd) every
//! call does nothing.
//!
//! - `READY=1` once the node runs (systemd then considers the start done);
//! - `WATCHDOG=1` every half of `$WATCHDOG_USEC` (systemd kills and
//!   restarts a daemon that misses it: a wedged runtime cannot feed it);
//! - `STOPPING=1` when the node starts leaving the cluster;
//! - `STATUS=...` a line `systemctl status` shows.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where to notify, from the environment; `None` when systemd did not ask.
pub fn socket_from_env() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Sends one notification to `socket` (a path, or `@abstract`).
pub fn notify_to(socket: &str, state: &str) -> io::Result<()> {
    let datagram = UnixDatagram::unbound()?;
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        datagram.send_to_addr(state.as_bytes(), &address)?;
    } else {
        datagram.send_to(state.as_bytes(), socket)?;
    }
    Ok(())
}

/// Notifies systemd if it asked for notifications; errors are logged, never
/// fatal (a missed notification must not take the node down).
pub fn notify(state: &str) {
    if let Some(socket) = socket_from_env() {
        if let Err(error) = notify_to(&socket, state) {
            tracing::warn!(%error, socket, "sd_notify failed");
        }
    }
}

/// How often to feed the watchdog: half of `$WATCHDOG_USEC`, when systemd
/// set it for this process (`$WATCHDOG_PID` absent or ours).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1\nSTATUS=up").unwrap();
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1\nSTATUS=up");
    }

    #[test]
    fn and_an_abstract_one() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("systole-test-notify-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&address).unwrap();
        notify_to(&format!("@{name}"), "WATCHDOG=1").unwrap();
        let mut buffer = [0u8; 16];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"WATCHDOG=1");
    }

    #[test]
    fn the_watchdog_is_fed_at_half_its_timeout_and_only_for_us() {
        assert_eq!(
            watchdog_interval_from(Some("10000000"), None, 7),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            watchdog_interval_from(Some("10000000"), Some("7"), 7),
            Some(Duration::from_secs(5))
        );
        assert_eq!(watchdog_interval_from(Some("10000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
    }
}
