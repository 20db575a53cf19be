//! Stage 1, unpack: the typed CIB becomes the scheduler's working set.
//!
//! Nodes get their online/unclean/standby state, resources are flattened into
//! an arena (clones expanded into numbered instances), and each primitive's
//! operation history is replayed to find where it runs, in which role, and
//! whether it failed. Everything is indexed by id so later stages never scan.

pub mod definition;
mod history;
mod nodes;
mod orphans;
mod remote_nodes;
mod replay;
mod resources;
pub mod status;
mod working;

use std::collections::{BTreeMap, HashMap};

use crate::model::cib::{parse_bool, Cib, NodeKind, Role};

pub use nodes::{node_failures, NodeFailures};
pub use working::*;

use history::unpack_history;
use nodes::unpack_nodes;
use remote_nodes::{
    add_guest_connections, decide_lost_guests, decide_remote_nodes, unpack_remote_nodes,
};
use resources::{add_resource, count_all_nodes};

/// The working set of a typed CIB at `now_epoch_s`.
pub fn unpack(cib: Cib, now_epoch_s: i64, options: crate::scheduler::Options) -> Working {
    let mut w = new_working(cib, now_epoch_s, options);
    unpack_nodes(&mut w);
    fence_inquorate_partition(&mut w);
    w.default_clone_max = count_all_nodes(&w);
    add_resources(&mut w);
    unpack_remote_nodes(&mut w);
    unpack_history(&mut w);
    decide_remote_nodes(&mut w);
    decide_lost_guests(&mut w);
    apply_multiple_active(&mut w);
    forget_copies_on_fenced_nodes(&mut w);
    release_blocked_on_fenced_nodes(&mut w);
    leave_alone_on_maintenance_nodes(&mut w);
    unpack_ticket_fencing(&mut w);
    unpack_have_fencing(&mut w);
    w
}

/// The cluster-wide settings, with nothing unpacked yet.
fn new_working(cib: Cib, now_epoch_s: i64, options: crate::scheduler::Options) -> Working {
    let props = &cib.properties;
    let property =
        |name: &str, default: &str| props.get(name).cloned().unwrap_or_else(|| default.into());
    Working {
        bundles: BTreeMap::new(),
        guest_containers: BTreeMap::new(),
        default_clone_max: 0,
        nodes: Vec::new(),
        node_index: HashMap::new(),
        rscs: Vec::new(),
        top: Vec::new(),
        by_id: HashMap::new(),
        fencing_enabled: cib.bool_property("fencing-enabled", true),
        have_fencing: false,
        symmetric: cib.bool_property("symmetric-cluster", true),
        have_quorum: cib.have_quorum,
        no_quorum_policy: property("no-quorum-policy", "stop"),
        maintenance_mode: cib.bool_property("maintenance-mode", false),
        stop_orphans: cib.bool_property("stop-orphan-resources", true),
        placement_strategy: property("placement-strategy", "default"),
        fence_action: property("fencing-action", "reboot"),
        now_epoch_s,
        recheck_at_epoch_s: None,
        changes: Vec::new(),
        secrets_masked: options.secrets_masked,
        cib,
    }
}

/// no-quorum-policy=suicide: every node of an inquorate partition fences
/// itself (when the cluster layer asked for it).
fn fence_inquorate_partition(w: &mut Working) {
    if !w.have_quorum
        && w.no_quorum_policy == "suicide"
        && w.cib.no_quorum_panic
        && w.fencing_enabled
    {
        for n in &mut w.nodes {
            if n.online && n.kind == NodeKind::Member && !n.unclean {
                n.unclean = true;
                n.unclean_reason = "cluster does not have quorum".into();
            }
        }
    }
}

/// The configured resources into the arena, then the guest connections
/// their meta attributes imply.
fn add_resources(w: &mut Working) {
    // Borrowed out of the CIB while the arena grows, then put back.
    let resources = std::mem::take(&mut w.cib.resources);
    let defaults = w.cib.rsc_defaults.clone();
    for r in &resources {
        let idx = add_resource(w, r, None, &defaults, None);
        w.top.push(idx);
    }
    w.cib.resources = resources;
    add_guest_connections(w, &defaults);
}

/// multiple-active: what to do with a primitive found on several nodes
/// (the default, stop everywhere and start once, is the actions stage's).
fn apply_multiple_active(w: &mut Working) {
    for r in 0..w.rscs.len() {
        if w.rscs[r].current.len() < 2 {
            continue;
        }
        match w.rscs[r].meta.get("multiple-active").map(String::as_str) {
            Some("block") => {
                // Frozen; in a group configured so, the whole group.
                let mut frozen = vec![r];
                if let Some(g) = w.rscs[r]
                    .parent
                    .filter(|&g| matches!(w.rscs[g].variant, Variant::Group | Variant::Bundle))
                {
                    frozen.extend(w.rscs[g].children.iter().copied());
                }
                for x in frozen {
                    w.rscs[x].managed = false;
                    w.rscs[x].blocked = true;
                }
            }
            Some("stop_only") => w.rscs[r].target_role = Role::Stopped,
            // stop_start (the default), stop_unexpected: decided later.
            _ => {}
        }
    }
}

/// Whether node `n` will be fenced, so that what runs there goes away with it.
fn doomed(w: &Working, n: usize) -> bool {
    let quorate = w.have_quorum || w.no_quorum_policy == "ignore";
    let node = &w.nodes[n];
    node.unclean && w.fencing_enabled && (quorate || node.online)
}

/// A copy on a node about to be fenced goes away with the node; what runs
/// elsewhere is what counts.
fn forget_copies_on_fenced_nodes(w: &mut Working) {
    for r in 0..w.rscs.len() {
        if w.rscs[r].current.len() < 2 {
            continue;
        }
        let survivors = w.rscs[r]
            .current
            .iter()
            .filter(|c| !doomed(w, c.node))
            .count();
        if survivors == 1 {
            let kept: Vec<Current> = w.rscs[r]
                .current
                .iter()
                .filter(|c| !doomed(w, c.node))
                .cloned()
                .collect();
            w.rscs[r].current = kept;
        }
    }
}

/// Fencing a node releases what was blocked there: it will be stopped.
fn release_blocked_on_fenced_nodes(w: &mut Working) {
    for r in 0..w.rscs.len() {
        if !w.rscs[r].blocked {
            continue;
        }
        let fenced = w.rscs[r].current.iter().all(|c| doomed(w, c.node));
        if fenced && !w.rscs[r].current.is_empty() {
            w.rscs[r].blocked = false;
            w.rscs[r].managed = true;
            for c in &mut w.rscs[r].current {
                c.failed = false;
            }
        }
    }
}

/// Resources on a node in maintenance are left alone.
fn leave_alone_on_maintenance_nodes(w: &mut Working) {
    for r in 0..w.rscs.len() {
        if w.rscs[r]
            .current
            .iter()
            .any(|c| w.nodes[c.node].maintenance)
        {
            w.rscs[r].managed = false;
        }
    }
}

/// With fencing enabled but nothing to fence with (no fence device, no
/// watchdog), Pacemaker starts, stops and recovers nothing ("resource
/// start-up disabled"): it could not recover a node that failed while
/// running a resource. It still probes, so the status stays true, and
/// nodes are not fenced (`remote::can_fence`). `Working::start_up_disabled`
/// holds resources where they are without showing them as unmanaged.
fn unpack_have_fencing(w: &mut Working) {
    // A fence device only left in the status section (an orphan) counts too.
    let device = w.rscs.iter().any(|r| {
        r.variant == Variant::Primitive && r.agent.as_ref().is_some_and(|a| a.is_fence_device())
    });
    w.have_fencing = device || w.cib.bool_property("have-watchdog", false);
}

/// `loss-policy=fence`: a node running a resource whose ticket was revoked
/// is fenced.
fn unpack_ticket_fencing(w: &mut Working) {
    let tickets = w.cib.tickets.clone();
    for t in tickets {
        if t.loss_policy != "fence" {
            continue;
        }
        let granted = w
            .cib
            .ticket_state
            .get(&t.ticket)
            .and_then(|s| s.get("granted"))
            .is_some_and(|v| parse_bool(v));
        if granted {
            continue;
        }
        let Some(&r) = w.by_id.get(&t.resource) else {
            continue;
        };
        let mut prims = Vec::new();
        w.primitives_of(r, &mut prims);
        for p in prims {
            let nodes: Vec<usize> = w.rscs[p]
                .current
                .iter()
                .filter(|c| t.role != Some(Role::Promoted) || c.role == Role::Promoted)
                .map(|c| c.node)
                .collect();
            for n in nodes {
                if w.fencing_enabled && !w.nodes[n].unclean {
                    w.nodes[n].unclean = true;
                    w.nodes[n].unclean_reason = "deadman ticket was lost".into();
                }
            }
        }
    }
}
