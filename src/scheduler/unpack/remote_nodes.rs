//! Pacemaker Remote and guest nodes: the nodes their connections and
//! containers imply, and whether they are up, lost or unclean.

use std::collections::BTreeMap;

use super::nodes::finish_attrs;
use super::resources::add_resource;
use super::working::{guest_container, NodeInfo, Variant, Working};
use crate::model::cib::score::INFINITY;
use crate::model::cib::{AgentSpec, NodeKind, ResourceConfig, ResourceKind, Role};

/// A primitive with `remote-node=NAME` hosts guest node NAME: Pacemaker
/// adds an implicit connection resource NAME that runs with the container.
pub(super) fn add_guest_connections(w: &mut Working, defaults: &BTreeMap<String, String>) {
    let guests: Vec<(usize, String)> = w
        .rscs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.variant == Variant::Primitive && r.instance.is_none())
        .filter_map(|(i, r)| r.meta.get("remote-node").map(|g| (i, g.clone())))
        .collect();
    for (container, name) in guests {
        if w.by_id.contains_key(&name) {
            continue;
        }
        let cfg = ResourceConfig {
            id: name.clone(),
            kind: ResourceKind::Primitive {
                agent: AgentSpec {
                    class: crate::model::cib::ResourceClass::Ocf,
                    provider: Some("pacemaker".into()),
                    kind: "remote".into(),
                },
                ops: Vec::new(),
            },
            meta: BTreeMap::new(),
            params: guest_connection_params(&w.rscs[container].meta),
            utilization: BTreeMap::new(),
        };
        let conn = add_resource(w, &cfg, None, defaults, None);
        // Follows its container everywhere; never migrates on its own.
        w.rscs[conn].allow_migrate = false;
        w.rscs[conn].target_role = w.rscs[container].target_role;
        w.top.push(conn);
        w.guest_containers.insert(name, container);
    }
}

/// A guest's implicit connection points where its container's meta
/// attributes say, as Pacemaker maps them: `remote-addr` to `server`,
/// `remote-port` to `port` (without them: the guest's name, port 3121).
pub(super) fn guest_connection_params(meta: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    [("remote-addr", "server"), ("remote-port", "port")]
        .into_iter()
        .filter_map(|(from, to)| meta.get(from).map(|v| (to.to_string(), v.clone())))
        .collect()
}

/// Remote nodes (ocf:pacemaker:remote primitives) and guest nodes
/// (`remote-node` meta) become nodes whose availability follows their
/// connection resource.
pub(super) fn unpack_remote_nodes(w: &mut Working) {
    let mut new_nodes = configured_remote_nodes(w);
    // A remote connection only left in the history (an orphan) still names
    // a remote node: what runs there is read and stopped, as the reference
    // does. (Orphaned guest connections, with a container, are not.)
    for state in &w.cib.node_states {
        for lrm in &state.lrm {
            let is_remote = lrm
                .agent
                .as_ref()
                .is_some_and(AgentSpec::is_remote_connection);
            let known =
                w.by_id.contains_key(&lrm.id) || new_nodes.iter().any(|(name, _)| *name == lrm.id);
            if is_remote && lrm.container.is_none() && !known && !lrm.ops.is_empty() {
                new_nodes.push((lrm.id.clone(), NodeKind::Remote));
            }
        }
    }
    for (name, kind) in new_nodes {
        add_remote_node(w, name, kind);
    }
    let n = w.nodes.len();
    for r in &mut w.rscs {
        r.known_on.resize(n, false);
        r.instance_known_on.resize(n, false);
        r.banned_by_failures.resize(n, false);
    }
}

/// The remote and guest nodes the configured connection resources name
/// (each named after its connection).
fn configured_remote_nodes(w: &Working) -> Vec<(String, NodeKind)> {
    let mut new_nodes = Vec::new();
    for r in &w.rscs {
        if r.variant != Variant::Primitive {
            continue;
        }
        let is_remote = r
            .agent
            .as_ref()
            .is_some_and(AgentSpec::is_remote_connection);
        let in_bundle = r
            .parent
            .is_some_and(|p| matches!(w.rscs[p].variant, Variant::Bundle))
            || w.guest_containers.contains_key(&r.id);
        if is_remote && in_bundle {
            new_nodes.push((r.id.clone(), NodeKind::Guest));
        } else if is_remote {
            new_nodes.push((r.id.clone(), NodeKind::Remote));
        }
    }
    new_nodes
}

/// The node of connection `name` (added unless the status already named
/// it), of `kind`.
fn add_remote_node(w: &mut Working, name: String, kind: NodeKind) {
    let was_fenced = w
        .cib
        .node_states
        .iter()
        .any(|s| (s.uname == name || s.id == name) && s.fenced);
    let idx = match w.node_index.get(&name) {
        Some(&i) => i,
        None => {
            let state = w
                .cib
                .node_states
                .iter()
                .find(|s| s.uname == name || s.id == name)
                .cloned();
            let mut info = NodeInfo::offline(&name, &name, kind.clone(), state.is_some());
            let attrs = state.map(|s| s.transient.clone()).unwrap_or_default();
            finish_attrs(&mut info, attrs);
            w.node_index.insert(name.clone(), w.nodes.len());
            w.nodes.push(info);
            w.nodes.len() - 1
        }
    };
    // A bundle replica's node runs only the bundle's resource: every
    // other resource starts from -INFINITY there.
    if kind == NodeKind::Guest && !w.guest_containers.contains_key(&name) {
        w.nodes[idx].node_score = -INFINITY;
    }
    w.nodes[idx].kind = kind;
    w.nodes[idx].connection = Some(name);
    w.nodes[idx].was_fenced = was_fenced;
}

/// Remote and guest nodes are online while their connection resource runs
/// (and has not failed).
pub(super) fn decide_remote_nodes(w: &mut Working) {
    for n in 0..w.nodes.len() {
        if w.nodes[n].kind == NodeKind::Member {
            continue;
        }
        let up = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .is_some_and(|&r| {
                let rsc = &w.rscs[r];
                // A remote node stays up while its connection is thought to
                // run, even on a lost cluster node (the connection may be
                // re-established elsewhere); a guest goes with its host.
                let hosts_up = w.nodes[n].kind == NodeKind::Remote
                    || rsc.current.iter().all(|c| w.nodes[c.node].online);
                !rsc.current.is_empty() && !rsc.failed() && hosts_up
            });
        w.nodes[n].online = up;
        // A failed connection makes any fencing of its node final.
        if w.nodes[n].kind == NodeKind::Remote
            && w.nodes[n]
                .connection
                .as_ref()
                .and_then(|c| w.by_id.get(c))
                .is_some_and(|&r| w.rscs[r].failed())
        {
            w.nodes[n].fence_revocable = false;
        }
        // A connection on its way down takes the node's resources with it.
        let stopping = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .is_some_and(|&r| w.rscs[r].target_role == Role::Stopped);
        w.nodes[n].connection_stopping = stopping;
    }
}

/// A remote connection failed in a way that leaves its node in an unknown
/// state (on-fail=reset-remote): the node is fenced (unless already recorded
/// as fenced), and with a reconnect interval the connection stays down until
/// the failure expires.
pub(super) fn reset_remote(w: &mut Working, conn: usize) {
    let remote = w
        .node_named(&w.rscs[conn].id)
        .filter(|&n| w.nodes[n].kind == NodeKind::Remote);
    if let Some(n) = remote {
        if w.fencing_enabled && !w.nodes[n].was_fenced {
            w.nodes[n].mark_unclean("remote connection is unrecoverable".into());
            w.nodes[n].fence_revocable = false;
        }
    }
    if w.reconnect_interval_s(conn) > 0 {
        w.rscs[conn].target_role = Role::Stopped;
    }
}

/// A guest whose container or connection failed loses its resources: they
/// are recovered once the container is back.
pub(super) fn decide_lost_guests(w: &mut Working) {
    for n in 0..w.nodes.len() {
        if w.nodes[n].kind != NodeKind::Guest {
            continue;
        }
        let Some(container) = guest_container(w, n) else {
            continue;
        };
        let conn = w.nodes[n]
            .connection
            .as_ref()
            .and_then(|c| w.by_id.get(c))
            .map(|&c| &w.rscs[c]);
        let conn_failed = conn.is_some_and(|c| c.failed());
        let conn_active = conn.is_some_and(|c| {
            c.current
                .iter()
                .any(|cur| w.nodes[cur.node].online || w.nodes[cur.node].unclean)
        });
        let has_resources = w.rscs.iter().any(|r| r.current.iter().any(|c| c.node == n));
        // Unclean: something failed to stop there (on-fail=fence).
        let unclean = w.nodes[n].unclean;
        let down = w.rscs[container].failed() || conn_failed || !w.nodes[n].online || unclean;
        // A guest that was up (its connection active) when its container
        // failed is unclean even with nothing on it.
        let was_up_when_failed =
            conn_active && (w.rscs[container].failed() || conn_failed || unclean);
        if down && (has_resources || was_up_when_failed) && w.rscs[container].managed {
            w.nodes[n].guest_lost = Some(w.rscs[container].id.clone());
            // A guest is fenced by recovering its container.
            for c in &mut w.rscs[container].current {
                c.failed = true;
            }
            for r in &mut w.rscs {
                for c in &mut r.current {
                    if c.node == n {
                        c.failed = true;
                    }
                }
            }
        }
    }
}
