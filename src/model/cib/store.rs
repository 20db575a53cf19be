//! Pure edits of a CIB document: versions, client changes, and the facts the
//! DC writes into the status section (operation results, node states), all
//! in Pacemaker's own format so the scheduler reads the daemon's CIB exactly
//! as it reads one of Pacemaker's.

use crate::model::cib::change::{CibChange, StatusChange};
use crate::model::cib::operation::{OpKind, OpOutcome, OpSpec};
use crate::model::cib::xml::Element;
use serde::{Deserialize, Serialize};

/// Characters of an operation's exit reason kept in its record.
pub const EXIT_REASON_CHARS_MAX: usize = 512;
/// Fencing events kept in the status section.
pub const FENCE_EVENTS_KEPT: usize = 50;
/// When the configuration last changed, as Pacemaker writes it on `<cib>`
/// (`Mon Dec  7 02:50:00 2026`, UTC).
pub const LAST_WRITTEN_ATTR: &str = "cib-last-written";
/// The attributes on `<cib>` that say who changed it last.
pub const CHANGE_STAMP_ATTRS: [&str; 4] = [
    LAST_WRITTEN_ATTR,
    "update-user",
    "update-client",
    "update-origin",
];

/// One fencing attempt, as every node sees it in the CIB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceRecord {
    pub target: String,
    pub action: String,
    pub ok: bool,
    pub detail: String,
    pub at_epoch_s: i64,
}

/// The fencing history recorded in the status section, oldest first.
pub fn fence_history(cib: &Element) -> Vec<FenceRecord> {
    cib.child("status")
        .and_then(|s| s.child("fencing_history"))
        .map(|h| {
            h.children_named("fence_event")
                .map(|e| FenceRecord {
                    target: e.attr("target").unwrap_or_default().to_string(),
                    action: e.attr("action").unwrap_or_default().to_string(),
                    ok: e.attr("result") == Some("ok"),
                    detail: e.attr("detail").unwrap_or_default().to_string(),
                    at_epoch_s: e.attr("at").and_then(|v| v.parse().ok()).unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `(admin_epoch, epoch, num_updates)`, compared in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct CibVersion {
    pub admin_epoch: u64,
    pub epoch: u64,
    pub num_updates: u64,
}

impl std::fmt::Display for CibVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.admin_epoch, self.epoch, self.num_updates
        )
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CibEditError {
    #[error("the CIB root must be <cib>, found <{0}>")]
    NotACib(String),
    #[error("no element with id {0}")]
    NoSuchId(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the live CIB moved on: its configuration is at {live_admin_epoch}.{live_epoch}, the change expected {expected_admin_epoch}.{expected_epoch} (someone changed it meanwhile; diff again, or --force)")]
    VersionMismatch {
        expected_admin_epoch: u64,
        expected_epoch: u64,
        live_admin_epoch: u64,
        live_epoch: u64,
    },
}

pub fn version(cib: &Element) -> CibVersion {
    let number = |key: &str| cib.attr(key).and_then(|v| v.parse().ok()).unwrap_or(0);
    CibVersion {
        admin_epoch: number("admin_epoch"),
        epoch: number("epoch"),
        num_updates: number("num_updates"),
    }
}

fn set_version(cib: &mut Element, v: CibVersion) {
    cib.set_attr("admin_epoch", v.admin_epoch.to_string());
    cib.set_attr("epoch", v.epoch.to_string());
    cib.set_attr("num_updates", v.num_updates.to_string());
}

/// A configuration change: epoch up, num_updates back to 0.
pub fn bump_epoch(cib: &mut Element) {
    let mut v = version(cib);
    // Saturating: a document may be written with any number.
    v.epoch = v.epoch.saturating_add(1);
    v.num_updates = 0;
    set_version(cib, v);
}

/// A status change: num_updates up.
pub fn bump_num_updates(cib: &mut Element) {
    let mut v = version(cib);
    v.num_updates = v.num_updates.saturating_add(1);
    set_version(cib, v);
}

/// Versions only grow when a change is applied: every node and client
/// orders CIBs by them. (A document written with a counter at its maximum
/// stays there; no change can be told apart after that.)
fn assert_version_grew(before: CibVersion, after: CibVersion) {
    let saturated = before.epoch == u64::MAX || before.num_updates == u64::MAX;
    assert!(
        after > before || saturated,
        "a change moved the CIB version from {before} to {after}"
    );
}

/// An empty CIB with the sections Pacemaker always has.
pub fn empty_cib() -> Element {
    Element::new("cib")
        .with_attr("admin_epoch", "0")
        .with_attr("epoch", "1")
        .with_attr("num_updates", "0")
        .with_attr("validate-with", "pacemaker-3.9")
        .with_attr("crm_feature_set", "3.19.0")
        .with_child(
            Element::new("configuration")
                .with_child(Element::new("crm_config"))
                .with_child(Element::new("nodes"))
                .with_child(Element::new("resources"))
                .with_child(Element::new("constraints")),
        )
        .with_child(Element::new("status"))
}

/// Checks the shape every other function relies on.
pub fn validate_shape(cib: &Element) -> Result<(), CibEditError> {
    if cib.name != "cib" {
        return Err(CibEditError::NotACib(cib.name.clone()));
    }
    if cib.child("configuration").is_none() {
        return Err(CibEditError::Invalid("<cib> has no <configuration>".into()));
    }
    Ok(())
}

fn configuration_mut(cib: &mut Element) -> &mut Element {
    cib.child_or_insert("configuration")
}

/// Applies a client change to the configuration; bumps epoch (a change of
/// the status section, num_updates). A refused change leaves `cib` as it
/// was.
pub fn apply_change(cib: &mut Element, change: &CibChange) -> Result<(), CibEditError> {
    let before = version(cib);
    apply_change_once(cib, change)?;
    assert_version_grew(before, version(cib));
    Ok(())
}

fn apply_change_once(cib: &mut Element, change: &CibChange) -> Result<(), CibEditError> {
    validate_shape(cib)?;
    match change {
        CibChange::Stamped { change, stamp } => {
            apply_change(cib, change)?;
            cib.set_attr(
                LAST_WRITTEN_ATTR,
                crate::model::cib::time::ctime(stamp.at_epoch_s),
            );
            cib.set_attr("update-user", stamp.user.clone());
            cib.set_attr("update-client", stamp.client.clone());
            cib.set_attr("update-origin", stamp.origin.clone());
            Ok(())
        }
        CibChange::ConfirmFenced {
            node,
            at_epoch_s,
            by,
        } => confirm_fenced(cib, node, *at_epoch_s, by),
        CibChange::SetTransientAttribute { node, name, value } => {
            // Status, not configuration: num_updates moves, epoch stays.
            let set_id = format!("status-{node}");
            let set = transient_set_mut(node_state_mut(cib, node), node);
            set_nvpair(set, &set_id, name, value.as_deref());
            bump_num_updates(cib);
            Ok(())
        }
        CibChange::CleanupResource { resource, node } => {
            clear_history(cib, resource.as_deref(), node.as_deref());
            Ok(())
        }
        CibChange::ReplaceConfigurationIf {
            admin_epoch,
            epoch,
            configuration,
        } => {
            let live = version(cib);
            if (live.admin_epoch, live.epoch) != (*admin_epoch, *epoch) {
                return Err(CibEditError::VersionMismatch {
                    expected_admin_epoch: *admin_epoch,
                    expected_epoch: *epoch,
                    live_admin_epoch: live.admin_epoch,
                    live_epoch: live.epoch,
                });
            }
            apply_change(cib, &CibChange::ReplaceConfiguration(configuration.clone()))
        }
        CibChange::Batch(changes) => {
            // All or nothing, one epoch step for the whole batch.
            let before = version(cib);
            let mut next = cib.clone();
            for change in changes {
                apply_change(&mut next, change)?;
            }
            set_version(&mut next, before);
            *cib = next;
            bump_epoch(cib);
            Ok(())
        }
        CibChange::ReplaceConfiguration(_)
        | CibChange::Upsert { .. }
        | CibChange::Delete { .. }
        | CibChange::SetProperty { .. }
        | CibChange::SetNodeAttribute { .. } => {
            edit_configuration(cib, change)?;
            bump_epoch(cib);
            Ok(())
        }
    }
}

/// One edit of the configuration section (the caller bumps the epoch).
fn edit_configuration(cib: &mut Element, change: &CibChange) -> Result<(), CibEditError> {
    match change {
        CibChange::ReplaceConfiguration(configuration) => {
            if configuration.name != "configuration" {
                return Err(CibEditError::Invalid(format!(
                    "expected <configuration>, found <{}>",
                    configuration.name
                )));
            }
            *configuration_mut(cib) = configuration.clone();
        }
        CibChange::Upsert { section, element } => {
            let id = element
                .id()
                .ok_or_else(|| CibEditError::Invalid(format!("<{}> has no id", element.name)))?
                .to_string();
            let configuration = configuration_mut(cib);
            if let Some(existing) = configuration.find_by_id_mut(None, &id) {
                *existing = element.clone();
            } else {
                configuration
                    .child_or_insert(section)
                    .children
                    .push(element.clone());
            }
        }
        CibChange::Delete { id } => {
            if configuration_mut(cib).remove_by_id(id) == 0 {
                return Err(CibEditError::NoSuchId(id.clone()));
            }
        }
        CibChange::SetProperty { name, value } => {
            let crm_config = configuration_mut(cib).child_or_insert("crm_config");
            let set = nvset(crm_config, "cluster_property_set", "cib-bootstrap-options");
            set_nvpair(set, "cib-bootstrap-options", name, value.as_deref());
        }
        CibChange::SetNodeAttribute { node, name, value } => {
            set_node_attribute(cib, node, name, value.as_deref())
        }
        CibChange::Stamped { .. }
        | CibChange::ConfirmFenced { .. }
        | CibChange::SetTransientAttribute { .. }
        | CibChange::CleanupResource { .. }
        | CibChange::ReplaceConfigurationIf { .. }
        | CibChange::Batch(_) => unreachable!("apply_change_once handles it"),
    }
    Ok(())
}

/// A node's configured attribute; the node is configured if it was not.
fn set_node_attribute(cib: &mut Element, node: &str, name: &str, value: Option<&str>) {
    let nodes = configuration_mut(cib).child_or_insert("nodes");
    let node_element = match nodes
        .children
        .iter()
        .position(|n| n.name == "node" && n.attr("uname") == Some(node))
    {
        Some(index) => &mut nodes.children[index],
        None => {
            nodes.children.push(
                Element::new("node")
                    .with_attr("id", node)
                    .with_attr("uname", node),
            );
            nodes.children.last_mut().expect("just pushed")
        }
    };
    let set_id = format!("nodes-{node}");
    let set = nvset(node_element, "instance_attributes", &set_id);
    set_nvpair(set, &set_id, name, value);
}

/// Records an operator's word that `node` is off: a successful manual
/// fencing in the history, and the node down (its resources may start
/// elsewhere). Refused while the node is a member of the cluster.
fn confirm_fenced(
    cib: &mut Element,
    node: &str,
    at_epoch_s: i64,
    by: &str,
) -> Result<(), CibEditError> {
    let configured = cib
        .child("configuration")
        .and_then(|c| c.child("nodes"))
        .is_some_and(|n| {
            n.children_named("node")
                .any(|n| n.attr("uname") == Some(node))
        });
    if !configured {
        return Err(CibEditError::Invalid(format!(
            "no node {node} is configured"
        )));
    }
    let member = cib
        .child("status")
        .and_then(|s| {
            s.children_named("node_state")
                .find(|n| n.attr("uname") == Some(node))
        })
        .is_some_and(|n| n.attr("in_ccm") == Some("true"));
    if member {
        return Err(CibEditError::Invalid(format!(
            "{node} is a member of the cluster: it is up, not off; fence it instead (systole fence {node})"
        )));
    }
    let record = FenceRecord {
        target: node.to_string(),
        action: "off".into(),
        ok: true,
        detail: format!("confirmed off by hand ({by})"),
        at_epoch_s,
    };
    apply_status(cib, &StatusChange::FenceEvent { record });
    apply_status(
        cib,
        &StatusChange::NodeFenced {
            node: node.to_string(),
        },
    );
    Ok(())
}

/// The nvpair set `tag` with `id` under `parent`, created if missing.
fn nvset<'a>(parent: &'a mut Element, tag: &str, id: &str) -> &'a mut Element {
    let index = match parent.children.iter().position(|c| c.name == tag) {
        Some(index) => index,
        None => {
            parent.children.push(Element::new(tag).with_attr("id", id));
            parent.children.len() - 1
        }
    };
    &mut parent.children[index]
}

fn set_nvpair(set: &mut Element, set_id: &str, name: &str, value: Option<&str>) {
    let existing = set
        .children
        .iter()
        .position(|c| c.name == "nvpair" && c.attr("name") == Some(name));
    match (existing, value) {
        (Some(index), Some(value)) => set.children[index].set_attr("value", value),
        (Some(index), None) => {
            set.children.remove(index);
        }
        (None, Some(value)) => set.children.push(
            Element::new("nvpair")
                .with_attr(
                    "id",
                    crate::model::cib::names::sanitize_id(&format!("{set_id}-{name}")),
                )
                .with_attr("name", name)
                .with_attr("value", value),
        ),
        (None, None) => {}
    }
}

/// Marks a node_state cleanly down: not in the membership, controller
/// offline, expected down (what a fencing or a clean leave records).
fn set_down(state: &mut Element) {
    for (key, value) in [
        ("in_ccm", "false"),
        ("crmd", "offline"),
        ("join", "down"),
        ("expected", "down"),
    ] {
        state.set_attr(key, value);
    }
}

/// Gives `node` a cleanly-down node_state when it has none: a node never
/// seen is "unclean" to the scheduler (Pacemaker's startup-fencing) and
/// would be fenced before it could join.
pub fn record_down_if_unknown(cib: &mut Element, node: &str) {
    let known = cib.child("status").is_some_and(|s| {
        s.children
            .iter()
            .any(|c| c.name == "node_state" && c.attr("uname") == Some(node))
    });
    if !known {
        set_down(node_state_mut(cib, node));
    }
}

fn node_state_mut<'a>(cib: &'a mut Element, node: &str) -> &'a mut Element {
    let status = cib.child_or_insert("status");
    let index = match status
        .children
        .iter()
        .position(|c| c.name == "node_state" && c.attr("uname") == Some(node))
    {
        Some(index) => index,
        None => {
            status.children.push(
                Element::new("node_state")
                    .with_attr("id", node)
                    .with_attr("uname", node),
            );
            status.children.len() - 1
        }
    };
    &mut status.children[index]
}

fn lrm_resource_mut<'a>(node_state: &'a mut Element, node: &str, op: &OpSpec) -> &'a mut Element {
    let lrm = node_state.child_or_insert("lrm");
    if lrm.id().is_none() {
        lrm.set_attr("id", node);
    }
    let resources = lrm.child_or_insert("lrm_resources");
    let index = match resources
        .children
        .iter()
        .position(|c| c.id() == Some(op.resource.as_str()))
    {
        Some(index) => index,
        None => {
            let mut resource = Element::new("lrm_resource")
                .with_attr("id", op.resource.clone())
                .with_attr("class", op.agent.class.as_str())
                .with_attr("type", op.agent.kind.clone());
            if let Some(provider) = &op.agent.provider {
                resource.set_attr("provider", provider.clone());
            }
            resources.children.push(resource);
            resources.children.len() - 1
        }
    };
    &mut resources.children[index]
}

/// Whether an outcome is a failure the scheduler must count: a probe that
/// finds the resource stopped or running is information, not failure.
pub fn is_failure(op: &OpSpec, outcome: &OpOutcome) -> bool {
    if op.is_probe() {
        return !(outcome.status == crate::model::cib::operation::OpStatus::Done
            && matches!(outcome.rc, 0 | 7 | 8));
    }
    !outcome.succeeded_as(op.expected_rc())
}

fn transient_set_mut<'a>(node_state: &'a mut Element, node: &str) -> &'a mut Element {
    let transient = node_state.child_or_insert("transient_attributes");
    if transient.id().is_none() {
        transient.set_attr("id", node);
    }
    nvset(transient, "instance_attributes", &format!("status-{node}"))
}

/// Writes one operation result into the status section, as Pacemaker's
/// controller does: `RSC_last_0` for one-shot operations, `RSC_OP_INTERVAL`
/// for recurring ones, `RSC_last_failure_0` plus fail-count and last-failure
/// attributes for failures.
pub fn record_op(
    cib: &mut Element,
    node: &str,
    op: &OpSpec,
    outcome: &OpOutcome,
    transition_key: &str,
) {
    // Operations on the record itself rather than on the resource.
    match op.operation {
        OpKind::Delete => return delete_lrm_history(cib, Some(&op.resource), Some(node)),
        OpKind::ClearFailcount => return clear_fail_counts(cib, Some(&op.resource), Some(node)),
        OpKind::Cancel => return forget_cancelled(cib, node, op),
        // Every other operation ran on the resource: it goes on record.
        _ => {}
    }
    remote_node_reconnected(cib, op, outcome);
    // A reload that worked is the start of the new definition, as far as
    // the history goes; one that did not, a monitor that found it failed.
    let reloaded;
    let op = if op.operation == OpKind::Reload {
        let done =
            outcome.status == crate::model::cib::operation::OpStatus::Done && outcome.rc == 0;
        reloaded = OpSpec {
            operation: if done { OpKind::Start } else { OpKind::Monitor },
            ..op.clone()
        };
        &reloaded
    } else {
        op
    };
    let failed = is_failure(op, outcome);
    let entry = history_entry(node, op, outcome, transition_key);
    let node_state = node_state_mut(cib, node);
    let resource = lrm_resource_mut(node_state, node, op);
    let entry_id = if op.interval_ms > 0 {
        format!("{}_{}_{}", op.resource, op.operation, op.interval_ms)
    } else {
        format!("{}_last_0", op.resource)
    };
    upsert_entry(resource, entry.clone().with_attr("id", entry_id));
    let last_failure = format!("{}_last_failure_0", op.resource);
    if failed {
        upsert_entry(resource, entry.with_attr("id", last_failure.clone()));
    }
    // A resource that stopped has no recurring operations any more; its
    // last failure stays on record (until a cleanup), as in Pacemaker, for
    // status to show.
    if op.operation == OpKind::Stop && !failed {
        resource.children.retain(|c| {
            c.attr("interval").is_none_or(|i| i == "0") || c.id() == Some(last_failure.as_str())
        });
    }
    if failed {
        count_failure(node_state, node, op, outcome);
    }
}

/// A cancelled recurring operation leaves the history.
fn forget_cancelled(cib: &mut Element, node: &str, op: &OpSpec) {
    let task = op
        .meta
        .get("operation")
        .map(String::as_str)
        .unwrap_or("monitor");
    let id = format!("{}_{}_{}", op.resource, task, op.interval_ms);
    for state in node_states_mut(cib, Some(node)) {
        if let Some(resources) = state
            .child_mut("lrm")
            .and_then(|lrm| lrm.child_mut("lrm_resources"))
        {
            for r in &mut resources.children {
                r.children.retain(|o| o.id() != Some(id.as_str()));
            }
        }
    }
}

/// An `lrm_rsc_op` for one result, its id left empty (in first place, as
/// Pacemaker writes it) for the caller to name.
fn history_entry(node: &str, op: &OpSpec, outcome: &OpOutcome, transition_key: &str) -> Element {
    let magic = format!(
        "{}:{};{}",
        outcome.status.code(),
        outcome.rc,
        transition_key
    );
    // What it ran with, so the scheduler sees when the definition changes.
    let digest = crate::model::cib::digest::op_digest(
        &op.params,
        &std::collections::BTreeMap::new(),
        op.interval_ms,
        op.timeout_ms,
    );
    // Pacemaker keeps the exit reason of the last result; bounded here.
    let exit_reason: String = outcome
        .exit_reason
        .chars()
        .take(EXIT_REASON_CHARS_MAX)
        .collect();
    let element = Element::new("lrm_rsc_op")
        .with_attr("id", "")
        .with_attr("operation_key", op.key())
        .with_attr("operation", op.operation.as_str())
        .with_attr("crm-debug-origin", "systole")
        .with_attr("crm_feature_set", "3.19.0")
        .with_attr("transition-key", transition_key)
        .with_attr("transition-magic", magic)
        .with_attr("on_node", node)
        .with_attr("call-id", outcome.call_id.to_string())
        .with_attr("rc-code", outcome.rc.to_string())
        .with_attr("op-status", outcome.status.code().to_string())
        .with_attr("interval", op.interval_ms.to_string())
        .with_attr("last-rc-change", outcome.ended_epoch_s.to_string())
        .with_attr("exec-time", outcome.exec_ms.to_string())
        .with_attr("queue-time", "0")
        .with_attr("op-digest", digest);
    if exit_reason.is_empty() {
        element
    } else {
        element.with_attr("exit-reason", exit_reason)
    }
}

/// Replaces the history entry with the same id, or adds it.
fn upsert_entry(resource: &mut Element, entry: Element) {
    let id = entry.id().unwrap_or_default().to_string();
    match resource
        .children
        .iter()
        .position(|c| c.id() == Some(id.as_str()))
    {
        Some(index) => resource.children[index] = entry,
        None => resource.children.push(entry),
    }
}

/// The fail count and last-failure time of a failed operation.
fn count_failure(node_state: &mut Element, node: &str, op: &OpSpec, outcome: &OpOutcome) {
    let attribute = format!("{}#{}_{}", op.resource, op.operation, op.interval_ms);
    let set = transient_set_mut(node_state, node);
    let set_id = format!("status-{node}");
    let count_name = format!("fail-count-{attribute}");
    // A start that fails makes the node ineligible (start-failure-is-fatal).
    let count = if op.operation == OpKind::Start {
        "INFINITY".to_string()
    } else {
        let previous: u64 = set
            .children
            .iter()
            .find(|c| c.attr("name") == Some(count_name.as_str()))
            .and_then(|c| c.attr("value"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        previous.saturating_add(1).to_string()
    };
    set_nvpair(set, &set_id, &count_name, Some(&count));
    set_nvpair(
        set,
        &set_id,
        &format!("last-failure-{attribute}"),
        Some(&outcome.ended_epoch_s.to_string()),
    );
}

/// Applies a status fact; bumps num_updates.
pub fn apply_status(cib: &mut Element, change: &StatusChange) {
    let before = version(cib);
    match change {
        // Not the CIB's: the replicated state keeps it (`ReplicatedState::history`).
        StatusChange::Transition { .. } => {}
        StatusChange::OpResult {
            node,
            op,
            outcome,
            transition_key,
        } => record_op(cib, node, op, outcome, transition_key),
        StatusChange::NodeJoined { node } => node_joined(cib, node),
        StatusChange::NodeLost { node } => {
            // in_ccm false with the controller still "online": the node left
            // without saying goodbye, so the scheduler treats it as unclean.
            node_state_mut(cib, node).set_attr("in_ccm", "false");
        }
        StatusChange::NodeFenced { node } | StatusChange::NodeLeft { node } => {
            let fenced_remote =
                matches!(change, StatusChange::NodeFenced { .. }) && is_remote_node(cib, node);
            let state = node_state_mut(cib, node);
            set_down(state);
            state
                .children
                .retain(|c| c.name != "lrm" && c.name != "transient_attributes");
            if fenced_remote {
                state.set_attr("node_fenced", "1");
            }
        }
        StatusChange::NodeLrm { node, lrm } => {
            let state = node_state_mut(cib, node);
            state.children.retain(|c| c.name != "lrm");
            let mut lrm = lrm.clone();
            lrm.set_attr("id", node.clone());
            state.children.push(lrm);
        }
        StatusChange::FenceEvent { record } => record_fence_event(cib, record),
        StatusChange::Quorum { quorate, dc } => {
            cib.set_attr("have-quorum", if *quorate { "1" } else { "0" });
            cib.set_attr("dc-uuid", dc.clone());
        }
    }
    bump_num_updates(cib);
    assert_version_grew(before, version(cib));
}

/// Whether `node` is a Pacemaker Remote node: a connection resource
/// (`ocf:pacemaker:remote`) of that id is configured.
fn is_remote_node(cib: &Element, node: &str) -> bool {
    cib.find_by_id(Some("primitive"), node)
        .and_then(|p| crate::model::cib::agent::read_agent(p).ok())
        .is_some_and(|agent| agent.is_remote_connection())
}

/// A remote node fenced since its connection was lost is marked so
/// (`node_fenced`, as Pacemaker's controller does): its connection's
/// failures may then expire after `reconnect_interval`. The mark goes once
/// its connection starts again, so a later loss is fenced anew.
fn remote_node_reconnected(cib: &mut Element, op: &OpSpec, outcome: &OpOutcome) {
    let started = matches!(op.operation, OpKind::Start | OpKind::MigrateFrom)
        && outcome.status == crate::model::cib::operation::OpStatus::Done
        && outcome.rc == 0;
    if !started || !op.agent.is_remote_connection() {
        return;
    }
    let state = cib.child_mut("status").and_then(|s| {
        s.children
            .iter_mut()
            .find(|n| n.name == "node_state" && n.attr("id") == Some(op.resource.as_str()))
    });
    if let Some(state) = state {
        state.remove_attr("node_fenced");
    }
}

/// A node joined: configured the first time, as Pacemaker's controller
/// does (a configuration change), and recorded a member.
fn node_joined(cib: &mut Element, node: &str) {
    let nodes = configuration_mut(cib).child_or_insert("nodes");
    if !nodes
        .children
        .iter()
        .any(|n| n.name == "node" && n.attr("uname") == Some(node))
    {
        nodes.children.push(
            Element::new("node")
                .with_attr("id", node)
                .with_attr("uname", node),
        );
        bump_epoch(cib);
    }
    let state = node_state_mut(cib, node);
    // A node (re)joining starts with no transient attributes, as
    // Pacemaker's attribute manager forgets a node's on its loss: a
    // `shutdown` left from before a restart must not keep it from
    // resources. One already recorded as a member (a new DC taking
    // office) keeps its own (promotion scores, a shutdown underway).
    let was_member = state.attr("in_ccm") == Some("true")
        && state.attr("crmd") == Some("online")
        && state.attr("join") == Some("member");
    if !was_member {
        state.children.retain(|c| c.name != "transient_attributes");
    }
    for (key, value) in [
        ("in_ccm", "true"),
        ("crmd", "online"),
        ("join", "member"),
        ("expected", "member"),
    ] {
        state.set_attr(key, value);
    }
}

/// Keeps a fencing attempt in the CIB, so every node, and the next DC,
/// sees it (the last [`FENCE_EVENTS_KEPT`]).
fn record_fence_event(cib: &mut Element, record: &FenceRecord) {
    let history = cib
        .child_or_insert("status")
        .child_or_insert("fencing_history");
    let next_id = history
        .children
        .last()
        .and_then(|e| e.attr("id"))
        .and_then(|id| id.strip_prefix("fence-event-"))
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(1, |n| n.saturating_add(1));
    history.children.push(
        Element::new("fence_event")
            .with_attr("id", format!("fence-event-{next_id}"))
            .with_attr("target", record.target.clone())
            .with_attr("action", record.action.clone())
            .with_attr("result", if record.ok { "ok" } else { "failed" })
            .with_attr("detail", record.detail.clone())
            .with_attr("at", record.at_epoch_s.to_string()),
    );
    let excess = history.children.len().saturating_sub(FENCE_EVENTS_KEPT);
    history.children.drain(..excess);
    // A node unfenced is marked so, for the scheduler (Pacemaker's
    // "#node-unfenced" attribute).
    if record.ok && record.action == "on" {
        let node_state = node_state_mut(cib, &record.target);
        let set = transient_set_mut(node_state, &record.target);
        let set_id = format!("status-{}", record.target);
        set_nvpair(
            set,
            &set_id,
            "#node-unfenced",
            Some(&record.at_epoch_s.to_string()),
        );
    }
}

/// A node's `<lrm>` from an operation history kept in CIB form (what an
/// executor reports to a new DC).
pub fn node_lrm(history: &Element, node: &str) -> Element {
    history
        .child("status")
        .and_then(|s| s.children.iter().find(|n| n.attr("uname") == Some(node)))
        .and_then(|n| n.child("lrm"))
        .cloned()
        .unwrap_or_else(|| Element::new("lrm").with_attr("id", node))
}

/// Whether `node` announced a clean shutdown (the transient `shutdown`
/// attribute, as Pacemaker's controller sets it).
pub fn announced_shutdown(cib: &Element, node: &str) -> bool {
    crate::model::cib::status::transient_attribute(cib, node, "shutdown").is_some_and(|v| v != "0")
}

/// Removes a resource's operation history and fail counts (cleanup).
pub fn clear_resource_history(cib: &mut Element, resource: &str) {
    clear_history(cib, Some(resource), None);
}

/// Removes operation history and fail counts of `resource` (all resources
/// when `None`) on `node` (all nodes when `None`); bumps num_updates.
pub fn clear_history(cib: &mut Element, resource: Option<&str>, node: Option<&str>) {
    delete_lrm_history(cib, resource, node);
    clear_fail_counts(cib, resource, node);
    bump_num_updates(cib);
}

/// Whether a history or attribute resource id names `resource` (clone
/// instances, "db:0", share their primitive's entries); `None` matches all.
fn names_resource(resource: Option<&str>, id: &str) -> bool {
    resource.is_none_or(|r| id == r || id.split(':').next() == Some(r))
}

/// The node_state elements of `node` (every node when `None`).
fn node_states_mut<'a>(
    cib: &'a mut Element,
    node: Option<&'a str>,
) -> impl Iterator<Item = &'a mut Element> + 'a {
    cib.child_mut("status")
        .into_iter()
        .flat_map(|status| status.children.iter_mut())
        .filter(|c| c.name == "node_state")
        .filter(move |c| node.is_none_or(|n| c.attr("uname") == Some(n)))
}

/// Forgets the operation history of a resource (its agent changed, or a
/// cleanup).
pub fn delete_lrm_history(cib: &mut Element, resource: Option<&str>, node: Option<&str>) {
    for state in node_states_mut(cib, node) {
        if let Some(resources) = state
            .child_mut("lrm")
            .and_then(|lrm| lrm.child_mut("lrm_resources"))
        {
            resources
                .children
                .retain(|r| !names_resource(resource, r.id().unwrap_or_default()));
        }
    }
}

/// Removes the fail counts (and last-failure times) of a resource.
pub fn clear_fail_counts(cib: &mut Element, resource: Option<&str>, node: Option<&str>) {
    for state in node_states_mut(cib, node) {
        if let Some(set) = state
            .child_mut("transient_attributes")
            .and_then(|t| t.child_mut("instance_attributes"))
        {
            set.children.retain(|nv| {
                let name = nv.attr("name").unwrap_or_default();
                let Some(rest) = name
                    .strip_prefix("fail-count-")
                    .or_else(|| name.strip_prefix("last-failure-"))
                else {
                    return true;
                };
                let rsc = rest.split('#').next().unwrap_or_default();
                !(rest.contains('#') && names_resource(resource, rsc))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cib::operation::{AgentSpec, OpStatus};

    fn op(operation: &str, interval_ms: u64) -> OpSpec {
        OpSpec {
            resource: "vip".into(),
            agent: AgentSpec {
                class: crate::model::cib::ResourceClass::Ocf,
                provider: Some("systole".into()),
                kind: "Dummy".into(),
            },
            operation: operation.into(),
            interval_ms,
            timeout_ms: 20_000,
            params: Default::default(),
            meta: Default::default(),
        }
    }

    /// Records vip's `operation` (every `interval_ms`) on n1, ended with
    /// `rc` as call `call_id`.
    fn record_on_n1(
        cib: &mut Element,
        operation: &str,
        interval_ms: u64,
        (rc, call_id): (i32, u64),
        transition_key: &str,
    ) {
        let (op, outcome) = (op(operation, interval_ms), outcome(rc, call_id));
        record_op(cib, "n1", &op, &outcome, transition_key);
    }

    fn outcome(rc: i32, call_id: u64) -> OpOutcome {
        OpOutcome {
            rc,
            status: OpStatus::Done,
            output: String::new(),
            exec_ms: 3,
            ended_epoch_s: 1_700_000_000,
            call_id,
            exit_reason: String::new(),
        }
    }

    #[test]
    fn versions_bump_as_pacemaker_does() {
        let mut cib = empty_cib();
        assert_eq!(
            version(&cib),
            CibVersion {
                admin_epoch: 0,
                epoch: 1,
                num_updates: 0
            }
        );
        apply_status(&mut cib, &StatusChange::NodeJoined { node: "n1".into() });
        // The first join configures the node (epoch) and records its state.
        assert_eq!(version(&cib).epoch, 2);
        assert_eq!(version(&cib).num_updates, 1);
        apply_status(&mut cib, &StatusChange::NodeJoined { node: "n1".into() });
        assert_eq!(version(&cib).epoch, 2);
        assert_eq!(version(&cib).num_updates, 2);
        apply_change(
            &mut cib,
            &CibChange::SetProperty {
                name: "stonith-enabled".into(),
                value: Some("false".into()),
            },
        )
        .unwrap();
        assert_eq!(
            version(&cib),
            CibVersion {
                admin_epoch: 0,
                epoch: 3,
                num_updates: 0
            }
        );
        let nv = cib
            .find_by_id(Some("nvpair"), "cib-bootstrap-options-stonith-enabled")
            .unwrap();
        assert_eq!(nv.attr("value"), Some("false"));
        apply_change(
            &mut cib,
            &CibChange::SetProperty {
                name: "stonith-enabled".into(),
                value: None,
            },
        )
        .unwrap();
        assert!(cib
            .find_by_id(None, "cib-bootstrap-options-stonith-enabled")
            .is_none());
    }

    #[test]
    fn op_results_land_in_pacemaker_format() {
        let mut cib = empty_cib();
        record_on_n1(&mut cib, "start", 0, (0, 1), "1:1:0:x");
        record_on_n1(&mut cib, "monitor", 10_000, (0, 2), "2:1:0:x");
        let last = cib.find_by_id(Some("lrm_rsc_op"), "vip_last_0").unwrap();
        assert_eq!(last.attr("operation_key"), Some("vip_start_0"));
        assert_eq!(last.attr("transition-magic"), Some("0:0;1:1:0:x"));
        assert!(cib
            .find_by_id(Some("lrm_rsc_op"), "vip_monitor_10000")
            .is_some());
        // A failed monitor counts a failure.
        record_on_n1(&mut cib, "monitor", 10_000, (7, 3), "2:1:0:x");
        assert!(cib
            .find_by_id(Some("lrm_rsc_op"), "vip_last_failure_0")
            .is_some());
        let count = cib
            .find_by_id(Some("nvpair"), "status-n1-fail-count-vip.monitor_10000")
            .unwrap();
        assert_eq!(count.attr("value"), Some("1"));
        // A clean stop drops the recurring entry.
        record_on_n1(&mut cib, "stop", 0, (0, 4), "3:2:0:x");
        assert!(cib
            .find_by_id(Some("lrm_rsc_op"), "vip_monitor_10000")
            .is_none());
        clear_resource_history(&mut cib, "vip");
        assert!(cib.find_by_id(Some("lrm_resource"), "vip").is_none());
        assert!(cib
            .find_by_id(None, "status-n1-fail-count-vip.monitor_10000")
            .is_none());
    }

    #[test]
    fn definition_change_operations_edit_the_record() {
        let mut cib = empty_cib();
        let mut start = op("start", 0);
        start.params.insert("ip".into(), "192.0.2.1".into());
        record_op(&mut cib, "n1", &start, &outcome(0, 1), "1:1:0:x");
        let digest = |cib: &Element, id: &str| {
            cib.find_by_id(Some("lrm_rsc_op"), id)
                .and_then(|o| o.attr("op-digest"))
                .map(str::to_string)
        };
        // The digest is the scheduler's, for these parameters.
        assert_eq!(
            digest(&cib, "vip_last_0").as_deref(),
            Some(
                crate::model::cib::digest::op_digest(&start.params, &Default::default(), 0, 20_000)
                    .as_str()
            )
        );
        record_on_n1(&mut cib, "monitor", 10_000, (0, 2), "2:1:0:x");
        // A reload is recorded as the start of the new definition.
        let mut reload = op("reload", 0);
        reload.params.insert("ip".into(), "192.0.2.9".into());
        record_op(&mut cib, "n1", &reload, &outcome(0, 3), "3:2:0:x");
        let last = cib.find_by_id(Some("lrm_rsc_op"), "vip_last_0").unwrap();
        assert_eq!(last.attr("operation"), Some("start"));
        assert_ne!(digest(&cib, "vip_last_0"), None);
        // A cancel removes the recurring entry only.
        let mut cancel = op("cancel", 10_000);
        cancel.meta.insert("operation".into(), "monitor".into());
        record_op(&mut cib, "n1", &cancel, &outcome(0, 4), "4:2:0:x");
        assert!(cib
            .find_by_id(Some("lrm_rsc_op"), "vip_monitor_10000")
            .is_none());
        assert!(cib.find_by_id(Some("lrm_rsc_op"), "vip_last_0").is_some());
        // Fail counts are cleared; delete forgets the history.
        record_on_n1(&mut cib, "monitor", 10_000, (1, 5), "5:2:0:x");
        assert!(cib
            .find_by_id(None, "status-n1-fail-count-vip.monitor_10000")
            .is_some());
        record_on_n1(&mut cib, "clear_failcount", 0, (0, 6), "6:3:0:x");
        assert!(cib
            .find_by_id(None, "status-n1-fail-count-vip.monitor_10000")
            .is_none());
        assert!(cib.find_by_id(Some("lrm_resource"), "vip").is_some());
        record_on_n1(&mut cib, "delete", 0, (0, 7), "7:3:0:x");
        assert!(cib.find_by_id(Some("lrm_resource"), "vip").is_none());
    }

    #[test]
    fn probes_that_find_stopped_or_running_are_not_failures() {
        let probe = op("monitor", 0);
        assert!(!is_failure(&probe, &outcome(7, 1)));
        assert!(!is_failure(&probe, &outcome(0, 1)));
        assert!(is_failure(&probe, &outcome(1, 1)));
        assert!(is_failure(&op("start", 0), &outcome(1, 1)));
    }

    /// A fenced remote node is marked `node_fenced` (a cluster node is
    /// not), and the mark goes when its connection starts again: its
    /// connection's failures may expire meanwhile, and a later loss of
    /// the reconnected node is fenced anew.
    #[test]
    fn a_fenced_remote_node_is_marked_until_it_reconnects() {
        let mut cib = empty_cib();
        let connection = Element::parse(
            r#"<primitive id="remote1" class="ocf" provider="pacemaker" type="remote"/>"#,
        )
        .unwrap();
        apply_change(
            &mut cib,
            &CibChange::Upsert {
                section: "resources".into(),
                element: connection,
            },
        )
        .unwrap();
        for node in ["remote1", "n2"] {
            apply_status(&mut cib, &StatusChange::NodeFenced { node: node.into() });
        }
        let mark = |cib: &Element, node: &str| {
            cib.find_by_id(Some("node_state"), node)
                .and_then(|s| s.attr("node_fenced").map(str::to_string))
        };
        assert_eq!(mark(&cib, "remote1").as_deref(), Some("1"));
        assert_eq!(mark(&cib, "n2"), None, "a cluster node is not marked");
        let start = OpSpec::new(
            "remote1",
            AgentSpec::parse("ocf:pacemaker:remote").unwrap(),
            OpKind::Start,
        );
        // A failed start leaves the mark; a successful one takes it away.
        record_op(&mut cib, "n1", &start, &outcome(1, 1), "k");
        assert_eq!(mark(&cib, "remote1").as_deref(), Some("1"));
        record_op(&mut cib, "n1", &start, &outcome(0, 2), "k");
        assert_eq!(mark(&cib, "remote1"), None);
    }

    #[test]
    fn lost_then_fenced_node() {
        let mut cib = empty_cib();
        apply_status(&mut cib, &StatusChange::NodeJoined { node: "n2".into() });
        record_op(&mut cib, "n2", &op("start", 0), &outcome(0, 1), "k");
        apply_status(&mut cib, &StatusChange::NodeLost { node: "n2".into() });
        let state = cib.find_by_id(Some("node_state"), "n2").unwrap();
        assert_eq!(state.attr("in_ccm"), Some("false"));
        assert_eq!(state.attr("crmd"), Some("online"));
        apply_status(&mut cib, &StatusChange::NodeFenced { node: "n2".into() });
        let state = cib.find_by_id(Some("node_state"), "n2").unwrap();
        assert_eq!(state.attr("join"), Some("down"));
        assert!(state.child("lrm").is_none());
    }

    #[test]
    fn batch_is_all_or_nothing_and_one_epoch() {
        let mut cib = empty_cib();
        let good = CibChange::Batch(vec![
            CibChange::SetProperty {
                name: "a".into(),
                value: Some("1".into()),
            },
            CibChange::SetProperty {
                name: "b".into(),
                value: Some("2".into()),
            },
        ]);
        apply_change(&mut cib, &good).unwrap();
        assert_eq!(version(&cib).epoch, 2);
        let bad = CibChange::Batch(vec![
            CibChange::SetProperty {
                name: "c".into(),
                value: Some("3".into()),
            },
            CibChange::Delete { id: "nope".into() },
        ]);
        let before = cib.clone();
        assert!(apply_change(&mut cib, &bad).is_err());
        assert_eq!(cib, before);
    }

    #[test]
    fn replace_if_checks_the_epoch() {
        let mut cib = empty_cib();
        let configuration = Element::new("configuration").with_child(Element::new("resources"));
        let stale = CibChange::ReplaceConfigurationIf {
            admin_epoch: 0,
            epoch: 0,
            configuration: configuration.clone(),
        };
        assert!(matches!(
            apply_change(&mut cib, &stale),
            Err(CibEditError::VersionMismatch { live_epoch: 1, .. })
        ));
        let current = CibChange::ReplaceConfigurationIf {
            admin_epoch: 0,
            epoch: 1,
            configuration: configuration.clone(),
        };
        apply_change(&mut cib, &current).unwrap();
        assert_eq!(cib.child("configuration"), Some(&configuration));
        assert_eq!(version(&cib).epoch, 2);
    }

    #[test]
    fn cleanup_change_clears_history_without_an_epoch_step() {
        let mut cib = empty_cib();
        apply_status(&mut cib, &StatusChange::NodeJoined { node: "n1".into() });
        apply_status(&mut cib, &StatusChange::NodeJoined { node: "n2".into() });
        record_on_n1(&mut cib, "monitor", 10_000, (1, 1), "k");
        record_op(&mut cib, "n2", &op("monitor", 10_000), &outcome(1, 2), "k");
        let epoch = version(&cib).epoch;
        apply_change(
            &mut cib,
            &CibChange::CleanupResource {
                resource: Some("vip".into()),
                node: Some("n1".into()),
            },
        )
        .unwrap();
        assert_eq!(version(&cib).epoch, epoch);
        let text = cib.to_xml_compact();
        assert!(!text.contains("on_node=\"n1\""));
        assert!(text.contains("on_node=\"n2\""));
        assert!(text.contains("fail-count-vip#monitor_10000"));
        apply_change(
            &mut cib,
            &CibChange::CleanupResource {
                resource: None,
                node: None,
            },
        )
        .unwrap();
        let text = cib.to_xml_compact();
        assert!(!text.contains("fail-count-vip"));
        assert!(!text.contains("lrm_rsc_op"));
    }

    #[test]
    fn fence_events_are_kept_bounded_in_status() {
        let mut cib = empty_cib();
        for i in 0..(FENCE_EVENTS_KEPT + 3) {
            let record = FenceRecord {
                target: format!("n{i}"),
                action: "reboot".into(),
                ok: i % 2 == 0,
                detail: "fence-local: ok".into(),
                at_epoch_s: i as i64,
            };
            apply_status(&mut cib, &StatusChange::FenceEvent { record });
        }
        let history = fence_history(&cib);
        assert_eq!(history.len(), FENCE_EVENTS_KEPT);
        assert_eq!(history[0].target, "n3");
        assert!(!history[0].ok);
        assert_eq!(
            history.last().unwrap().at_epoch_s,
            FENCE_EVENTS_KEPT as i64 + 2
        );
    }

    #[test]
    fn transient_attributes_go_to_status_without_an_epoch_bump() {
        let mut cib = empty_cib();
        let before = version(&cib);
        let set = |value: Option<&str>| CibChange::SetTransientAttribute {
            node: "n1".into(),
            name: "master-db".into(),
            value: value.map(str::to_string),
        };
        apply_change(&mut cib, &set(Some("10"))).unwrap();
        assert_eq!(version(&cib).epoch, before.epoch);
        let nv = cib
            .find_by_id(Some("nvpair"), "status-n1-master-db")
            .unwrap();
        assert_eq!(nv.attr("value"), Some("10"));
        apply_change(&mut cib, &set(None)).unwrap();
        assert!(cib.find_by_id(None, "status-n1-master-db").is_none());
    }

    #[test]
    fn bad_changes_are_errors() {
        let mut cib = empty_cib();
        assert_eq!(
            apply_change(&mut cib, &CibChange::Delete { id: "nope".into() }),
            Err(CibEditError::NoSuchId("nope".into()))
        );
        assert!(apply_change(
            &mut cib,
            &CibChange::Upsert {
                section: "resources".into(),
                element: Element::new("primitive")
            }
        )
        .is_err());
        let mut not_cib = Element::new("foo");
        assert!(apply_change(&mut not_cib, &CibChange::Delete { id: "x".into() }).is_err());
    }
}
