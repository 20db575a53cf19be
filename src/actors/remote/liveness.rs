//! Whether a connection to a remote daemon still works, without I/O: the
//! cluster node pings it every `ping_interval_ms` and calls the link lost
//! when nothing has been heard for `timeout_ms` (the connection resource's
//! configured timeout; a closed socket is lost at once, without waiting for
//! this).

use crate::model::cib::operation::OpSpec;

/// Ping a quiet link this often.
pub const PING_INTERVAL_MS: u64 = 1_000;
/// The least silence that loses a link, whatever the connection's
/// configured timeout.
pub const LINK_TIMEOUT_MS: u64 = 5_000;

/// What the link's watcher must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    Idle,
    Ping,
    Lost,
}

#[derive(Debug, Clone)]
pub struct Liveness {
    ping_interval_ms: u64,
    timeout_ms: u64,
    last_heard_ms: u64,
    last_ping_ms: u64,
}

impl Liveness {
    pub fn new(now_ms: u64, ping_interval_ms: u64, timeout_ms: u64) -> Liveness {
        Liveness {
            ping_interval_ms,
            timeout_ms,
            last_heard_ms: now_ms,
            last_ping_ms: now_ms,
        }
    }

    /// The configured timeout changed (the connection's monitor became
    /// known).
    pub fn set_timeout_ms(&mut self, timeout_ms: u64) {
        self.timeout_ms = timeout_ms;
    }

    /// Any frame from the peer proves it alive.
    pub fn heard(&mut self, now_ms: u64) {
        self.last_heard_ms = self.last_heard_ms.max(now_ms);
    }

    pub fn tick(&mut self, now_ms: u64) -> Tick {
        if now_ms.saturating_sub(self.last_heard_ms) >= self.timeout_ms {
            return Tick::Lost;
        }
        if now_ms.saturating_sub(self.last_ping_ms) >= self.ping_interval_ms
            && now_ms.saturating_sub(self.last_heard_ms) >= self.ping_interval_ms
        {
            self.last_ping_ms = now_ms;
            return Tick::Ping;
        }
        Tick::Idle
    }
}

/// Where a connection resource points: its `server` parameter (the node's
/// name without one, as Pacemaker does) and `port` (3121 by default).
pub fn connection_target(op: &OpSpec) -> Result<(String, u16), String> {
    let server = op
        .params
        .get("server")
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| op.resource.clone());
    let port = match op.params.get("port").map(|p| p.trim()) {
        None | Some("") => super::session::REMOTE_PORT_DEFAULT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port {p:?} is not a TCP port"))?,
    };
    Ok((server, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_link_is_pinged_then_lost() {
        let mut l = Liveness::new(0, 1_000, 5_000);
        assert_eq!(l.tick(500), Tick::Idle);
        assert_eq!(l.tick(1_000), Tick::Ping);
        assert_eq!(l.tick(1_500), Tick::Idle);
        assert_eq!(l.tick(2_000), Tick::Ping);
        assert_eq!(l.tick(5_000), Tick::Lost);
    }

    #[test]
    fn a_link_heard_from_is_neither_pinged_nor_lost() {
        let mut l = Liveness::new(0, 1_000, 5_000);
        for t in (0..20_000).step_by(400) {
            l.heard(t);
            assert_eq!(l.tick(t + 100), Tick::Idle, "at {t}");
        }
        // Heard late but out of order: the newest time counts.
        l.heard(10);
        assert_eq!(l.tick(20_500), Tick::Idle);
    }

    #[test]
    fn a_longer_configured_timeout_keeps_a_slow_link() {
        let mut l = Liveness::new(0, 1_000, 5_000);
        l.set_timeout_ms(20_000);
        assert_ne!(l.tick(5_000), Tick::Lost);
        assert_ne!(l.tick(19_999), Tick::Lost);
        assert_eq!(l.tick(20_000), Tick::Lost);
    }

    fn op(params: &[(&str, &str)]) -> OpSpec {
        OpSpec {
            resource: "r1".into(),
            agent: crate::model::cib::operation::AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("pacemaker".into()),
                kind: "remote".into(),
            },
            operation: "start".into(),
            interval_ms: 0,
            timeout_ms: 60_000,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            meta: Default::default(),
        }
    }

    #[test]
    fn the_target_defaults_to_the_node_name_and_port_3121() {
        assert_eq!(connection_target(&op(&[])).unwrap(), ("r1".into(), 3121));
        assert_eq!(
            connection_target(&op(&[("server", "127.0.0.1"), ("port", "4000")])).unwrap(),
            ("127.0.0.1".into(), 4000)
        );
        assert!(connection_target(&op(&[("port", "0")])).is_err());
        assert!(connection_target(&op(&[("port", "http")])).is_err());
    }
}
