//! The status view `systole status` prints: one entry per primitive
//! instance with where it is active, plus each node's state. Read from the
//! CIB's Pacemaker-format status section by the scheduler's unpack stage, so
//! the daemon and the scheduler agree on what runs where.

use super::{unpack, Variant};
use crate::model::cib::operation::OpKind;
use crate::model::cib::xml::Element;

use crate::model::cib::{Cib, ModelError, Role};

/// One primitive instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    /// `db:0` for clone instances.
    pub id: String,
    /// The enclosing group or clone.
    pub parent: Option<String>,
    /// `class:provider:type`, e.g. `ocf:systole:Dummy`.
    pub agent: String,
    pub role: Role,
    /// Every node where it is active (more than one is a violation).
    pub nodes: Vec<String>,
    pub failed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub name: String,
    /// A remote or guest node (online when its connection runs).
    pub remote: bool,
    pub online: bool,
    pub standby: bool,
    pub maintenance: bool,
}

/// The status of every primitive instance, in configuration order.
/// Instances of an anonymous clone that run nowhere are listed as Stopped.
pub fn resource_status(cib: &Element) -> Result<Vec<ResourceStatus>, ModelError> {
    let w = unpack(Cib::from_xml(cib, 0)?, 0, Default::default());
    let mut out = Vec::new();
    for (i, r) in w.rscs.iter().enumerate() {
        // A deleted resource is shown while it still runs somewhere.
        if r.variant != Variant::Primitive || (r.orphan && r.current.is_empty()) {
            continue;
        }
        let parent = r
            .parent
            .map(|p| w.rscs[w.top_of(p)].id.clone())
            .filter(|_| w.top_of(i) != i);
        let role = match r.current_role() {
            Role::Unknown | Role::Stopped => Role::Stopped,
            Role::Started if is_promotable(&w, i) => Role::Unpromoted,
            other => other,
        };
        out.push(ResourceStatus {
            id: r.id.clone(),
            parent,
            agent: r.agent.as_ref().map(|a| a.display()).unwrap_or_default(),
            role,
            nodes: r
                .current
                .iter()
                .map(|c| w.nodes[c.node].name.clone())
                .collect(),
            failed: r.failed(),
        });
    }
    Ok(out)
}

fn is_promotable(w: &super::Working, i: usize) -> bool {
    let top = w.top_of(i);
    w.rscs[top].promotable
}

/// Each configured node's state.
pub fn node_status(cib: &Element) -> Result<Vec<NodeStatus>, ModelError> {
    let w = unpack(Cib::from_xml(cib, 0)?, 0, Default::default());
    Ok(w.nodes
        .iter()
        .map(|n| NodeStatus {
            name: n.name.clone(),
            remote: n.kind != crate::model::cib::NodeKind::Member,
            online: n.online,
            standby: n.standby,
            maintenance: n.maintenance,
        })
        .collect())
}

/// One failed operation, from a node's `RSC_last_failure_0` record (what
/// crm_mon lists as "Failed Resource Actions").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedAction {
    pub resource: String,
    pub node: String,
    pub operation: OpKind,
    pub interval_ms: u64,
    pub rc: i32,
    /// The rc as crm_mon words it (`not running`, `error`, ...).
    pub rc_text: String,
    /// Pacemaker's op-status: `complete`, `Timed Out`, ...
    pub status: String,
    pub exit_reason: String,
    /// When the result last changed, seconds since the epoch.
    pub last_rc_change: i64,
    pub call_id: u64,
    pub exec_ms: u64,
}

/// The words for an OCF rc.
pub fn rc_text(rc: i32) -> String {
    crate::model::cib::operation::OcfRc::from_code(rc)
        .map(|rc| rc.description().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

fn node_states(cib: &Element) -> impl Iterator<Item = &Element> {
    cib.child("status")
        .into_iter()
        .flat_map(|s| s.children_named("node_state"))
}

/// The base id of a history or attribute resource id (`db:1` is `db`).
fn base_id(id: &str) -> &str {
    id.split(':').next().unwrap_or(id)
}

fn configured(cib: &Element, id: &str) -> bool {
    cib.child("configuration")
        .and_then(|c| c.child("resources"))
        .is_some_and(|r| r.find_by_id(None, base_id(id)).is_some())
}

/// Every recorded failure of a configured resource, newest first.
pub fn failed_actions(cib: &Element) -> Vec<FailedAction> {
    let mut out = Vec::new();
    for state in node_states(cib) {
        let node = state.attr("uname").unwrap_or_default();
        let resources = state
            .child("lrm")
            .and_then(|l| l.child("lrm_resources"))
            .into_iter()
            .flat_map(|r| r.children_named("lrm_resource"));
        for resource in resources {
            let id = resource.id().unwrap_or_default();
            if !configured(cib, id) {
                continue;
            }
            let failure = format!("{id}_last_failure_0");
            for op in resource
                .children_named("lrm_rsc_op")
                .filter(|o| o.id() == Some(failure.as_str()))
            {
                let number = |k: &str| op.attr(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                let rc = number("rc-code") as i32;
                out.push(FailedAction {
                    resource: id.to_string(),
                    node: node.to_string(),
                    operation: OpKind::parse(op.attr("operation").unwrap_or_default()),
                    interval_ms: number("interval").max(0) as u64,
                    rc,
                    rc_text: rc_text(rc),
                    status: crate::model::cib::operation::OpStatus::text_of_code(
                        number("op-status") as i32,
                    )
                    .to_string(),
                    exit_reason: op.attr("exit-reason").unwrap_or_default().to_string(),
                    last_rc_change: number("last-rc-change"),
                    call_id: number("call-id").max(0) as u64,
                    exec_ms: number("exec-time").max(0) as u64,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        b.last_rc_change
            .cmp(&a.last_rc_change)
            .then(a.resource.cmp(&b.resource))
    });
    out
}

/// Fail counts by resource (base id) and node, summed over operations;
/// INFINITY counts as 1000000, as crm_mon shows it. A node's transient
/// attributes are read as the scheduler reads them (rules at
/// `now_epoch_s`).
pub fn fail_counts(
    cib: &Element,
    now_epoch_s: i64,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>> {
    use crate::model::cib::nvpairs::instance_attributes;
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>> =
        Default::default();
    for state in node_states(cib) {
        let node = state.attr("uname").unwrap_or_default();
        let transient = state
            .child("transient_attributes")
            .map(|t| instance_attributes(cib, t, now_epoch_s))
            .unwrap_or_default();
        for (name, value) in &transient {
            let Some(rest) = name.strip_prefix("fail-count-") else {
                continue;
            };
            let resource = base_id(rest.split('#').next().unwrap_or(rest));
            let count = crate::model::cib::score::parse(value)
                .unwrap_or(0)
                .clamp(0, crate::model::cib::score::INFINITY);
            if count > 0 {
                let entry = out
                    .entry(resource.to_string())
                    .or_default()
                    .entry(node.to_string())
                    .or_default();
                *entry = crate::model::cib::score::add(*entry, count);
            }
        }
    }
    out
}

/// A node's attributes as crm_mon's "Node Attributes" shows them: its
/// permanent ones and its transient ones (the newer wins), read as the
/// scheduler reads them (rules at `now_epoch_s`), without fail counts and
/// last-failure times (shown with the failures).
pub fn node_attributes(
    cib: &Element,
    node: &str,
    now_epoch_s: i64,
) -> std::collections::BTreeMap<String, String> {
    use crate::model::cib::nvpairs::instance_attributes;
    let permanent = cib
        .child("configuration")
        .and_then(|c| c.child("nodes"))
        .into_iter()
        .flat_map(|n| n.children_named("node"))
        .filter(|n| n.attr("uname") == Some(node))
        .flat_map(|n| instance_attributes(cib, n, now_epoch_s));
    let transient = node_states(cib)
        .filter(|s| s.attr("uname") == Some(node))
        .filter_map(|s| s.child("transient_attributes"))
        .flat_map(|t| instance_attributes(cib, t, now_epoch_s));
    permanent
        .chain(transient)
        .filter(|(name, _)| !name.starts_with("fail-count-") && !name.starts_with("last-failure-"))
        .collect()
}

/// The last configuration change: when, by whom, through what, where.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct LastChange {
    pub at_epoch_s: i64,
    pub user: String,
    pub client: String,
    pub origin: String,
}

/// The CIB's `cib-last-written` stamp and the change's origin attributes.
pub fn last_change(cib: &Element) -> Option<LastChange> {
    let at_epoch_s = crate::model::cib::time::parse_ctime(
        cib.attr(crate::model::cib::store::LAST_WRITTEN_ATTR)?,
    )?;
    let attr = |k: &str| cib.attr(k).unwrap_or_default().to_string();
    Some(LastChange {
        at_epoch_s,
        user: attr("update-user"),
        client: attr("update-client"),
        origin: attr("update-origin"),
    })
}

/// Whether the CIB shows any resource active on `node` (an unreadable CIB
/// counts as yes: the cautious answer).
pub fn runs_anything_on(cib: &Element, node: &str) -> bool {
    resource_status(cib)
        .map(|resources| resources.iter().any(|r| r.nodes.iter().any(|n| n == node)))
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use crate::model::cib::change::{CibChange, StatusChange};
    use crate::model::cib::store::{announced_shutdown, apply_change, apply_status, empty_cib};

    #[test]
    fn a_rejoining_node_forgets_its_transient_attributes() {
        let mut cib = empty_cib();
        let joined = StatusChange::NodeJoined { node: "n1".into() };
        apply_status(&mut cib, &joined);
        let shutdown = CibChange::SetTransientAttribute {
            node: "n1".into(),
            name: "shutdown".into(),
            value: Some("1700000000".into()),
        };
        apply_change(&mut cib, &shutdown).unwrap();
        // A new DC re-announcing a member keeps what is underway.
        apply_status(&mut cib, &joined);
        assert!(announced_shutdown(&cib, "n1"));
        // Lost (its daemon restarted before it could leave), then back.
        apply_status(&mut cib, &StatusChange::NodeLost { node: "n1".into() });
        assert!(announced_shutdown(&cib, "n1"));
        apply_status(&mut cib, &joined);
        assert!(!announced_shutdown(&cib, "n1"));
        // The scheduler does not see it shutting down any more.
        let outcome = crate::scheduler::run(&cib, 0).unwrap();
        let n1 = outcome.working.node_named("n1").unwrap();
        assert!(!outcome.working.nodes[n1].shutdown);
        assert!(outcome.working.nodes[n1].online);
    }

    /// Fail counts are summed per resource over its operations (INFINITY
    /// caps the sum), read as every node attribute is: a set whose rule
    /// does not hold, or a `#default`, counts nothing.
    #[test]
    fn fail_counts_are_read_like_every_transient_attribute() {
        let cib = crate::model::cib::xml::Element::parse(
            r##"<cib><configuration/><status>
              <node_state id="1" uname="n1"><transient_attributes id="t1">
                <instance_attributes id="t1-a">
                  <nvpair id="a1" name="fail-count-web#start_0" value="2"/>
                  <nvpair id="a2" name="fail-count-web#monitor_10000" value="3"/>
                  <nvpair id="a3" name="fail-count-db:1#start_0" value="INFINITY"/>
                  <nvpair id="a4" name="fail-count-db:1#monitor_10000" value="1"/>
                  <nvpair id="a5" name="fail-count-old#start_0" value="#default"/>
                </instance_attributes>
                <instance_attributes id="t1-b"><rule id="r" boolean-op="and" score="0">
                  <date_expression id="d" operation="lt" end="2000-01-01"/></rule>
                  <nvpair id="b1" name="fail-count-gone#start_0" value="5"/>
                </instance_attributes>
              </transient_attributes></node_state>
            </status></cib>"##,
        )
        .unwrap();
        let counts = super::fail_counts(&cib, 1_700_000_000);
        let on_n1 = |rsc: &str| {
            counts
                .get(rsc)
                .and_then(|by_node| by_node.get("n1"))
                .copied()
        };
        assert_eq!(on_n1("web"), Some(5));
        assert_eq!(on_n1("db"), Some(crate::model::cib::score::INFINITY));
        assert_eq!(on_n1("old"), None);
        assert_eq!(on_n1("gone"), None);
    }
}
