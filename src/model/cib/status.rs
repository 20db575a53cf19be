//! The status section: each node's state, its resources' operation
//! history and its transient attributes.

use std::collections::BTreeMap;

use super::agent::{read_agent, AgentSpec};
use super::error::{invalid, missing, req, ModelError};
use super::nvpairs::{nvpairs, nvpairs_where, parse_bool};
use super::operation::OpKind;
use super::rules::RuleContext;
use super::verify::ConfigIssue;
use super::xml::Element;
use super::Cib;

#[derive(Debug, Clone)]
pub struct LrmOp {
    pub id: String,
    pub operation: OpKind,
    pub interval_ms: u64,
    pub rc: i32,
    pub op_status: i32,
    pub call_id: i64,
    pub last_rc_change: Option<i64>,
    pub op_digest: Option<String>,
    /// Digest of the parameters that cannot be reloaded (agents that reload).
    pub op_restart_digest: Option<String>,
    /// Those parameters' names, space-separated (`op-force-restart`).
    pub op_force_restart: Option<String>,
    /// Private parameters (passwords) left out of `op_secure_digest`, so a
    /// CIB with them masked can still be compared.
    pub op_secure_params: Option<String>,
    pub op_secure_digest: Option<String>,
    /// The feature set of the node that recorded it (digest rules changed
    /// at 3.16.0).
    pub feature_set: Option<String>,
    pub transition_key: Option<String>,
    pub migrate_source: Option<String>,
    pub migrate_target: Option<String>,
    pub exit_reason: Option<String>,
}

impl LrmOp {
    /// A one-shot monitor: whether the resource runs, either answer being
    /// information rather than failure.
    pub fn is_probe(&self) -> bool {
        self.operation == OpKind::Monitor && self.interval_ms == 0
    }
}

#[derive(Debug, Clone)]
pub struct LrmResource {
    pub id: String,
    pub agent: Option<AgentSpec>,
    pub container: Option<String>,
    pub ops: Vec<LrmOp>,
}

#[derive(Debug, Clone)]
pub struct NodeState {
    pub id: String,
    pub uname: String,
    pub in_ccm: bool,
    /// `in_ccm` was recorded (as a boolean or a time): a node the cluster
    /// layer has seen at least once.
    pub in_ccm_recorded: bool,
    pub crmd_online: bool,
    pub join: String,
    pub expected: String,
    pub shutdown: bool,
    pub has_lrm: bool,
    pub lrm: Vec<LrmResource>,
    pub transient: BTreeMap<String, String>,
    /// Utilization published at run time (transient_attributes/utilization).
    pub transient_utilization: BTreeMap<String, String>,
    /// `node_fenced`: a Pacemaker Remote node recorded as fenced since its
    /// connection was lost.
    pub fenced: bool,
    /// Since when the node has been a cluster member (epoch seconds), when
    /// `in_ccm` records a time rather than a boolean.
    pub member_since: Option<i64>,
}

fn read_node_state(
    root: &Element,
    ns: &Element,
    ctx: &RuleContext,
    issues: &mut Vec<ConfigIssue>,
) -> Result<NodeState, ModelError> {
    let id = match (ns.attr("id"), ns.attr("uname")) {
        (Some(id), _) | (None, Some(id)) => id.to_string(),
        (None, None) => return Err(missing(ns, "id")),
    };
    let uname = ns.attr("uname").unwrap_or(&id).to_string();
    let mut transient = BTreeMap::new();
    let mut transient_utilization = BTreeMap::new();
    if let Some(t) = ns.child("transient_attributes") {
        transient = nvpairs(root, t, "instance_attributes", ctx);
        transient_utilization = nvpairs(root, t, "utilization", ctx);
    }
    let mut lrm = Vec::new();
    let has_lrm = ns.child("lrm").is_some();
    if let Some(resources) = ns.child("lrm").and_then(|l| l.child("lrm_resources")) {
        for r in resources.children_named("lrm_resource") {
            let rid = req(r, "id")?.to_string();
            let agent = read_agent(r).ok();
            let mut ops = Vec::new();
            for op in r.children_named("lrm_rsc_op") {
                // A history entry that cannot be read is left out.
                match read_lrm_op(op) {
                    Ok(entry) => ops.push(entry),
                    Err(error) => issues.push(error.into()),
                }
            }
            lrm.push(LrmResource {
                id: rid,
                agent,
                container: r.attr("container").map(str::to_string),
                ops,
            });
        }
    }
    read_node_state_attrs(
        ns,
        id,
        uname,
        has_lrm,
        lrm,
        transient,
        transient_utilization,
    )
}

fn read_lrm_op(op: &Element) -> Result<LrmOp, ModelError> {
    {
        let operation = OpKind::parse(req(op, "operation")?);
        let interval_text = op.attr("interval").unwrap_or("0");
        let interval_ms = interval_text
            .parse()
            .map_err(|_| invalid(op, "interval", interval_text))?;
        let magic = op.attr("transition-magic");
        // rc-code and op-status may be missing in old CIBs; the
        // transition magic "status:rc;key" carries both.
        let magic_parts = magic
            .and_then(|m| m.split(';').next())
            .and_then(|s| s.split_once(':'));
        let rc = match op.attr("rc-code") {
            Some(v) => v.parse().map_err(|_| invalid(op, "rc-code", v))?,
            None => magic_parts.and_then(|(_, rc)| rc.parse().ok()).unwrap_or(0),
        };
        let op_status = match op.attr("op-status") {
            Some(v) => v.parse().map_err(|_| invalid(op, "op-status", v))?,
            None => magic_parts.and_then(|(s, _)| s.parse().ok()).unwrap_or(0),
        };
        Ok(LrmOp {
            id: op.id().unwrap_or("").to_string(),
            operation,
            interval_ms,
            rc,
            op_status,
            call_id: op.attr("call-id").and_then(|c| c.parse().ok()).unwrap_or(0),
            last_rc_change: op
                .attr("last-rc-change")
                .or_else(|| op.attr("last-run"))
                .and_then(|v| v.parse().ok()),
            op_digest: op.attr("op-digest").map(str::to_string),
            op_restart_digest: op.attr("op-restart-digest").map(str::to_string),
            op_force_restart: op.attr("op-force-restart").map(str::to_string),
            op_secure_params: op.attr("op-secure-params").map(str::to_string),
            op_secure_digest: op.attr("op-secure-digest").map(str::to_string),
            feature_set: op.attr("crm_feature_set").map(str::to_string),
            transition_key: op.attr("transition-key").map(str::to_string),
            migrate_source: op.attr("migrate_source").map(str::to_string),
            migrate_target: op.attr("migrate_target").map(str::to_string),
            exit_reason: op.attr("exit-reason").map(str::to_string),
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn read_node_state_attrs(
    ns: &Element,
    id: String,
    uname: String,
    has_lrm: bool,
    lrm: Vec<LrmResource>,
    transient: BTreeMap<String, String>,
    transient_utilization: BTreeMap<String, String>,
) -> Result<NodeState, ModelError> {
    let in_ccm = ns
        .attr("in_ccm")
        .map(|v| parse_bool(v) || v.parse::<i64>().is_ok_and(|n| n > 1))
        .unwrap_or(false);
    let crmd_online = ns
        .attr("crmd")
        .map(|v| v == "online" || v.parse::<i64>().is_ok_and(|n| n > 0))
        .unwrap_or(false);
    let in_ccm_recorded = ns.attr("in_ccm").is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        matches!(
            v.as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
        ) || v.parse::<i64>().is_ok_and(|n| n >= 0)
    });
    Ok(NodeState {
        id,
        uname,
        in_ccm,
        in_ccm_recorded,
        crmd_online,
        // Empty when never recorded (a node that has not joined yet).
        join: ns.attr("join").unwrap_or("").to_string(),
        expected: ns.attr("expected").unwrap_or("down").to_string(),
        shutdown: ns.attr("shutdown").is_some_and(|s| s != "0"),
        has_lrm,
        lrm,
        transient,
        transient_utilization,
        member_since: ns
            .attr("in_ccm")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&t| t > 1),
        fenced: ns
            .attr("node_fenced")
            .is_some_and(|v| v.parse::<i64>().is_ok_and(|n| n != 0) || parse_bool(v)),
    })
}

/// Reads the `status` section: node states (an entry that cannot be read
/// is left out) and ticket states.
pub(super) fn read_status(cib: &mut Cib, root: &Element, ctx: &RuleContext) {
    let Some(status) = root.child("status") else {
        return;
    };
    for ns in status.children_named("node_state") {
        match read_node_state(root, ns, ctx, &mut cib.config_errors) {
            Ok(state) => cib.node_states.push(std::sync::Arc::new(state)),
            Err(error) => cib.config_errors.push(error.into()),
        }
    }
    if let Some(tickets) = status.child("tickets") {
        for ts in tickets.children_named("ticket_state") {
            if let Some(id) = ts.id() {
                cib.ticket_state
                    .insert(id.to_string(), ts.attrs.iter().cloned().collect());
            }
        }
    }
}

/// A node's transient attribute as the status section holds it, read as
/// the typed view reads `transient_attributes` (every set, the first value
/// wins; the status section carries no rules), for readers that hold the
/// document rather than the typed view.
pub fn transient_attribute(cib: &Element, node: &str, name: &str) -> Option<String> {
    let state = cib
        .child("status")?
        .children_named("node_state")
        .find(|n| n.attr("uname").or(n.attr("id")) == Some(node))?;
    let transient = state.child("transient_attributes")?;
    nvpairs_where(cib, transient, "instance_attributes", &|_| false).remove(name)
}
