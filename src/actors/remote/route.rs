//! Where the DC sends an operation placed on a remote node: to the cluster
//! node hosting the node's connection resource (Pacemaker's "router node").
//! Pure: learned from the connection's results, or read from the CIB when
//! nothing was learned yet (a DC that just took office).

use crate::model::cib::operation::{OpKind, OpOutcome, OpSpec};
use crate::model::cib::xml::Element;
use std::collections::HashMap;

/// Remote node (its connection resource's id) -> the cluster node hosting it.
#[derive(Debug, Default, Clone)]
pub struct ConnectionHosts {
    hosts: HashMap<String, String>,
}

impl ConnectionHosts {
    /// Takes note of a connection resource's result on cluster node `node`.
    pub fn learn(&mut self, node: &str, op: &OpSpec, outcome: &OpOutcome) {
        if !op.agent.is_remote_connection() {
            return;
        }
        let ok = outcome.succeeded_as(0);
        match op.operation {
            OpKind::Start | OpKind::MigrateFrom | OpKind::Monitor if ok => {
                self.hosts.insert(op.resource.clone(), node.to_string());
            }
            OpKind::Start
            | OpKind::MigrateFrom
            | OpKind::Monitor
            | OpKind::Stop
            | OpKind::MigrateTo
                if self.hosts.get(&op.resource).is_some_and(|h| h == node) =>
            {
                self.hosts.remove(&op.resource);
            }
            // A failed start elsewhere, a probe, a reload: it says nothing
            // about which node holds the connection now.
            _ => {}
        }
    }

    /// The host of `remote`'s connection, learned or read from `cib`.
    pub fn host(&mut self, remote: &str, cib: &Element) -> Option<String> {
        if let Some(host) = self.hosts.get(remote) {
            return Some(host.clone());
        }
        let host = host_in_cib(cib, remote)?;
        self.hosts.insert(remote.to_string(), host.clone());
        Some(host)
    }

    /// A cluster node is lost: what it hosted is hosted nowhere.
    pub fn forget_host(&mut self, host: &str) {
        self.hosts.retain(|_, h| h != host);
    }
}

/// The cluster node the CIB says runs connection resource `remote`.
fn host_in_cib(cib: &Element, remote: &str) -> Option<String> {
    let resources = crate::scheduler::status::resource_status(cib).ok()?;
    resources
        .into_iter()
        .find(|r| r.id == remote)
        .and_then(|r| r.nodes.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cib::operation::OpStatus;

    fn op(resource: &str, operation: &str, kind: &str) -> OpSpec {
        OpSpec {
            resource: resource.into(),
            agent: crate::model::cib::operation::AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some(
                    if kind == "remote" {
                        "pacemaker"
                    } else {
                        "heartbeat"
                    }
                    .into(),
                ),
                kind: kind.into(),
            },
            operation: operation.into(),
            interval_ms: 0,
            timeout_ms: 20_000,
            params: Default::default(),
            meta: Default::default(),
        }
    }

    fn outcome(rc: i32) -> OpOutcome {
        OpOutcome {
            rc,
            status: OpStatus::Done,
            output: String::new(),
            exec_ms: 0,
            ended_epoch_s: 0,
            call_id: 1,
            exit_reason: String::new(),
        }
    }

    fn empty() -> Element {
        crate::model::cib::store::empty_cib()
    }

    #[test]
    fn a_started_connection_routes_to_its_host_until_it_stops_or_fails() {
        let mut hosts = ConnectionHosts::default();
        hosts.learn("n1", &op("r1", "start", "remote"), &outcome(0));
        assert_eq!(hosts.host("r1", &empty()).as_deref(), Some("n1"));
        // A stop reported by another node changes nothing here.
        hosts.learn("n2", &op("r1", "stop", "remote"), &outcome(0));
        assert_eq!(hosts.host("r1", &empty()).as_deref(), Some("n1"));
        hosts.learn("n1", &op("r1", "monitor", "remote"), &outcome(1));
        assert_eq!(hosts.host("r1", &empty()), None);
        hosts.learn("n2", &op("r1", "migrate_from", "remote"), &outcome(0));
        assert_eq!(hosts.host("r1", &empty()).as_deref(), Some("n2"));
        hosts.forget_host("n2");
        assert_eq!(hosts.host("r1", &empty()), None);
    }

    #[test]
    fn other_resources_teach_nothing() {
        let mut hosts = ConnectionHosts::default();
        hosts.learn("n1", &op("d1", "start", "Dummy"), &outcome(0));
        assert_eq!(hosts.host("d1", &empty()), None);
    }
}
