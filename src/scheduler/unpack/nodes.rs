//! Cluster nodes: membership, online/unclean/standby/maintenance state and
//! attributes, from the configuration and each node's `node_state`.

use std::collections::{BTreeMap, HashMap};

use super::working::{NodeInfo, Working};
use crate::model::cib::score;
use crate::model::cib::time::parse_interval_ms;
use crate::model::cib::{parse_bool, NodeKind, NodeState};

pub(super) fn unpack_nodes(w: &mut Working) {
    let startup_fencing = w.cib.bool_property("startup-fencing", true);
    let states: HashMap<String, usize> = w
        .cib
        .node_states
        .iter()
        .enumerate()
        .flat_map(|(i, s)| [(s.id.clone(), i), (s.uname.clone(), i)])
        .collect();
    let configs = w.cib.nodes.clone();
    let pending_timeout_ms = w
        .cib
        .property("node-pending-timeout")
        .and_then(parse_interval_ms)
        .unwrap_or(0);
    for n in configs {
        let state = states
            .get(&n.id)
            .or_else(|| states.get(&n.uname))
            .map(|&i| w.cib.node_states[i].clone());
        let mut attrs = n.attrs.clone();
        let mut info = NodeInfo {
            utilization: n.utilization.clone(),
            node_score: n.score,
            ..NodeInfo::offline(&n.uname, &n.id, n.kind.clone(), state.is_some())
        };
        if let Some(s) = &state {
            for (k, v) in &s.transient {
                attrs.insert(k.clone(), v.clone());
            }
        }
        // Remote nodes are online when their connection runs; decided once
        // the connection resource's history is known.
        if n.kind != NodeKind::Remote {
            let fencing = (startup_fencing, pending_timeout_ms);
            member_state(w, &mut info, &attrs, state.as_deref(), fencing);
        }
        let is_dc = w.cib.dc_uuid.as_deref() == Some(info.id.as_str());
        attrs.insert("#is_dc".into(), is_dc.to_string());
        finish_attrs(&mut info, attrs);
        w.node_index.insert(info.name.clone(), w.nodes.len());
        w.nodes.push(info);
    }
}

/// A cluster member's state from its `node_state` (`attrs` with its
/// transient attributes already in): online, unclean, shutting down.
/// `startup_fencing`: a node never seen is unclean; `pending_timeout_ms`:
/// how long a node may stay pending (0: for ever).
fn member_state(
    w: &Working,
    info: &mut NodeInfo,
    attrs: &BTreeMap<String, String>,
    state: Option<&NodeState>,
    (startup_fencing, pending_timeout_ms): (bool, u64),
) {
    let Some(s) = state else {
        // A node never seen: unclean if startup fencing applies.
        if w.fencing_enabled && startup_fencing {
            info.unclean = true;
            info.unclean_reason = "node is unclean".into();
        }
        return;
    };
    for (k, v) in &s.transient_utilization {
        info.utilization.insert(k.clone(), v.clone());
    }
    // The "terminate" attribute asks for the node to be fenced.
    let terminate = attrs
        .get("terminate")
        .is_some_and(|v| parse_bool(v) || v.parse::<i64>().is_ok_and(|n| n > 0));
    info.shutdown = s.shutdown || attrs.get("shutdown").is_some_and(|v| v != "0");
    let pending_too_long = pending_timed_out(s, pending_timeout_ms, w.now_epoch_s);
    decide_member_state(info, s, w.fencing_enabled, pending_too_long, terminate);
}

/// A remote or guest node whose state is never read (its connection is not
/// known to run, and fencing is off so no last pass reads it) keeps only
/// its configured attributes: its transient ones (fail counts, standby) are
/// as unknown as its resources, as in Pacemaker.
pub(super) fn forget_transient_attrs(w: &mut Working, node: usize) {
    let name = w.nodes[node].name.clone();
    let configured = w
        .cib
        .nodes
        .iter()
        .find(|n| n.uname == name)
        .map(|n| n.attrs.clone())
        .unwrap_or_default();
    let info = &mut w.nodes[node];
    info.standby = false;
    info.shutdown = false;
    let mut attrs = configured;
    attrs.insert("#is_dc".into(), "false".into());
    finish_attrs(info, attrs);
}

pub(super) fn finish_attrs(info: &mut NodeInfo, mut attrs: BTreeMap<String, String>) {
    info.standby |= attrs.get("standby").is_some_and(|v| parse_bool(v));
    info.maintenance = attrs.get("maintenance").is_some_and(|v| parse_bool(v));
    if attrs.get("shutdown").is_some_and(|v| v != "0") {
        info.shutdown = true;
    }
    attrs.insert("#uname".into(), info.name.clone());
    attrs.insert("#id".into(), info.id.clone());
    let kind = match info.kind {
        NodeKind::Member => "cluster",
        NodeKind::Remote => "remote",
        NodeKind::Guest => "container",
    };
    attrs.insert("#kind".into(), kind.into());
    info.attrs = attrs;
}

/// Whether a node that joined the membership but never came up has been
/// pending for longer than `node-pending-timeout` (0, the default, waits
/// for ever).
pub(super) fn pending_timed_out(
    s: &crate::model::cib::NodeState,
    timeout_ms: u64,
    now: i64,
) -> bool {
    let Some(since) = s.member_since else {
        return false;
    };
    let timeout_s = i64::try_from(timeout_ms / 1000).unwrap_or(i64::MAX);
    timeout_ms > 0 && !s.crmd_online && now >= since.saturating_add(timeout_s)
}

/// How a cluster node's membership, controller and join states decide
/// whether it is online, pending (up but not ready: treated as in standby
/// and unable to run actions) or to be fenced. With fencing enabled, a node
/// the cluster layer reports as a member counts as online even while it is
/// still joining; without fencing, only a full member is online.
pub(super) fn decide_member_state(
    info: &mut NodeInfo,
    s: &crate::model::cib::NodeState,
    fencing: bool,
    pending_timed_out: bool,
    terminate: bool,
) {
    let member = s.in_ccm;
    let controller = s.crmd_online;
    if !fencing {
        if member && controller && s.join == "member" {
            info.online = true;
        } else if member && !controller && s.expected == "member" {
            info.mark_unclean("peer is unexpectedly down".into());
        }
        return;
    }
    if info.shutdown {
        // A node shutting down cannot be fenced for being down.
        info.online = controller;
        return;
    }
    if !s.in_ccm_recorded {
        info.mark_unclean("peer has not been seen by the cluster".into());
        return;
    }
    if s.join == "banned" {
        info.mark_unclean("peer failed Pacemaker membership criteria".into());
    } else if terminate {
        if !member && !controller && s.join == "down" {
            // Fenced as requested.
            return;
        }
        info.mark_unclean("fencing was requested".into());
    } else if s.expected != "member" {
        if pending_timed_out {
            info.mark_unclean("peer pending timed out on joining the process group".into());
        } else if member || controller {
            info.pending = true;
            info.standby = true;
        }
    } else if !member {
        info.mark_unclean("peer is no longer part of the cluster".into());
    } else if !controller {
        info.mark_unclean("peer process is no longer available".into());
    } else if s.join == "member" {
    } else if s.join == "pending" || s.join == "down" {
        info.pending = true;
        info.standby = true;
    } else {
        info.mark_unclean("peer was in an unknown state".into());
    }
    info.online = member;
}

/// A node's failure records by resource base id (clone instances and
/// operations together): fail counts summed, the latest failure time.
pub struct NodeFailures {
    pub counts: HashMap<String, i64>,
    pub last: HashMap<String, i64>,
}

/// Reads the `fail-count-RSC[#op_interval]` and `last-failure-...` node
/// attributes.
pub fn node_failures(attrs: &BTreeMap<String, String>) -> NodeFailures {
    let mut failures = NodeFailures {
        counts: HashMap::new(),
        last: HashMap::new(),
    };
    for (k, v) in attrs {
        let (is_count, rest) = match k.strip_prefix("fail-count-") {
            Some(rest) => (true, rest),
            None => match k.strip_prefix("last-failure-") {
                Some(rest) => (false, rest),
                None => continue,
            },
        };
        let rsc = rest.split('#').next().unwrap_or(rest);
        let base = rsc.rsplit_once(':').map(|(b, _)| b).unwrap_or(rsc);
        if is_count {
            let c = failures.counts.entry(base.to_string()).or_insert(0);
            *c = score::add(*c, score::parse(v).unwrap_or(0));
        } else {
            let e = failures.last.entry(base.to_string()).or_insert(0);
            *e = (*e).max(v.parse::<i64>().unwrap_or(0));
        }
    }
    failures
}
