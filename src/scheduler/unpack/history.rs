//! Operation histories: each node's `lrm` entries matched to the resources
//! they belong to and replayed, to learn where each resource runs, in which
//! role, and how it failed.

use std::collections::HashMap;

use super::definition;
use super::nodes::forget_transient_attrs;
use super::nodes::{node_failures, NodeFailures};
use super::orphans::{
    add_orphan, anonymous_clone_of, anonymous_instance, bundle_generated, mark_instance_known,
    on_orphan_replica, pick_instance, several_per_node,
};
use super::remote_nodes::{decide_remote_nodes, reset_remote};
use super::replay::{replay, Replay};
use super::working::{guest_container, Current, Variant, Working};
use crate::model::cib::score;
use crate::model::cib::{LrmResource, NodeKind, Role};

/// Replays every node's history, then settles what it says: migration
/// sources left behind, definition changes, fail counts.
pub(super) fn unpack_history(w: &mut Working) {
    // Primitive lookup by configured id: (base id) -> list of instances.
    let mut by_base: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in w.rscs.iter().enumerate() {
        if r.variant == Variant::Primitive {
            by_base.entry(r.base.clone()).or_default().push(i);
        }
    }
    // Taken out of the CIB while history is replayed, put back at the end.
    let states = std::mem::take(&mut w.cib.node_states);
    read_node_histories(w, &states, &mut by_base);
    decide_remote_nodes(w);
    leave_migration_sources(w);
    w.changes = definition::check(w, &states);
    let cleared = definition::cleared_failcounts(w, &w.changes);
    for n in 0..w.nodes.len() {
        ban_for_failures(w, n, &by_base, &cleared);
    }
    w.cib.node_states = states;
}

/// Pacemaker reads node histories in status order, in passes: cluster
/// nodes (offline ones only with fencing enabled), then remote nodes once
/// their connection is known to run and guest nodes once their container
/// and connection are; a last pass, with fencing enabled, reads the rest.
/// Clone instance numbers follow this order.
fn read_node_histories(
    w: &mut Working,
    states: &[std::sync::Arc<crate::model::cib::NodeState>],
    by_base: &mut HashMap<String, Vec<usize>>,
) {
    let now = w.now_epoch_s;
    let mut ordered: Vec<(usize, &crate::model::cib::NodeState)> = Vec::new();
    for state in states {
        if let Some(node) = w
            .node_named(&state.uname)
            .or_else(|| w.node_named(&state.id))
        {
            ordered.push((node, state));
        }
    }
    let mut done = vec![false; ordered.len()];
    let mut last_pass = false;
    loop {
        let mut progress = false;
        for k in 0..ordered.len() {
            if done[k] {
                continue;
            }
            let (node, state) = ordered[k];
            if !last_pass && !history_readable(w, node) {
                continue;
            }
            done[k] = true;
            progress = true;
            if w.nodes[node].kind != NodeKind::Member {
                decide_remote_nodes(w);
            }
            if skip_history(w, node) {
                continue;
            }
            for lrm in &state.lrm {
                unpack_lrm_entry(w, by_base, node, lrm, now);
            }
        }
        if !progress {
            if last_pass || !w.fencing_enabled {
                break;
            }
            last_pass = true;
        }
    }
    for (k, &(node, _)) in ordered.iter().enumerate() {
        if !done[k] && w.nodes[node].kind != NodeKind::Member {
            forget_transient_attrs(w, node);
        }
    }
}

/// A completed migration leaves the source behind: not active, but in need
/// of a stop.
fn leave_migration_sources(w: &mut Working) {
    for r in 0..w.rscs.len() {
        if w.rscs[r].current.len() < 2 {
            continue;
        }
        let names: Vec<String> = w.rscs[r]
            .current
            .iter()
            .map(|c| w.nodes[c.node].name.clone())
            .collect();
        let mut keep = Vec::new();
        let mut dangling = Vec::new();
        for c in std::mem::take(&mut w.rscs[r].current) {
            match &c.migrated_to {
                Some(t) if names.contains(t) && !c.failed => dangling.push(c.node),
                _ => keep.push(c),
            }
        }
        w.rscs[r].current = keep;
        w.rscs[r].dangling = dangling;
    }
}

/// Node `n`'s fail counts (`fail-count-RSC[#op_interval]` transient
/// attributes) ban the resources past their migration threshold there.
fn ban_for_failures(
    w: &mut Working,
    n: usize,
    by_base: &HashMap<String, Vec<usize>>,
    cleared: &std::collections::HashSet<(String, usize)>,
) {
    let NodeFailures { counts, last } = node_failures(&w.nodes[n].attrs);
    let counts = count_for_containers(w, by_base, counts);
    for (base, count) in counts {
        let Some(instances) = by_base.get(&base) else {
            continue;
        };
        // Failures of a definition since changed are being cleared.
        if cleared.contains(&(base.clone(), n)) {
            continue;
        }
        for &i in instances {
            let r = &w.rscs[i];
            if count <= 0 || r.migration_threshold <= 0 {
                continue;
            }
            let failure_timeout_s = w.failure_timeout_s(i);
            if failure_timeout_s > 0 {
                if let Some(t) = last.get(&base) {
                    let expires_epoch_s = t + failure_timeout_s;
                    if expires_epoch_s <= w.now_epoch_s {
                        continue;
                    }
                    w.recheck_at(expires_epoch_s);
                }
            }
            // A connection that failed stays down until its failure
            // expires: the cluster reconnects after the interval, not at
            // once (Pacemaker's reconnect_interval).
            if w.is_remote_connection(i) && w.reconnect_interval_s(i) > 0 {
                w.rscs[i].target_role = Role::Stopped;
            }
            let r = &w.rscs[i];
            if count >= r.migration_threshold {
                w.rscs[i].banned_by_failures[n] = true;
            }
        }
    }
}

/// Failures inside a container count for the container (handled by
/// restarting it, not by banning the resource); a guest node's implicit
/// connection runs inside its container, and its failures count for the
/// container too (and still for itself).
fn count_for_containers(
    w: &Working,
    by_base: &HashMap<String, Vec<usize>>,
    mut counts: HashMap<String, i64>,
) -> HashMap<String, i64> {
    let contained: Vec<(String, String, i64)> = counts
        .iter()
        .filter_map(|(base, &count)| {
            let &i = by_base.get(base)?.first()?;
            // (A group's meta reaches the container itself: not its own container.)
            let container = w.rscs[i]
                .meta
                .get("container")
                .filter(|c| *c != base)?
                .clone();
            Some((base.clone(), container, count))
        })
        .collect();
    for (base, container, count) in contained {
        counts.remove(&base);
        let e = counts.entry(container).or_insert(0);
        *e = score::add(*e, count);
    }
    let guest_failures: Vec<(String, i64)> = counts
        .iter()
        .filter_map(|(base, &count)| {
            let &c = w.guest_containers.get(base)?;
            Some((w.rscs[c].id.clone(), count))
        })
        .collect();
    for (container, count) in guest_failures {
        let e = counts.entry(container).or_insert(0);
        *e = score::add(*e, count);
    }
    counts
}

/// Whether a node's history can be read in an ordinary pass: a cluster
/// node that is online (any, with fencing enabled); a remote node whose
/// connection runs; a guest node whose container and connection run.
pub(super) fn history_readable(w: &Working, node: usize) -> bool {
    let info = &w.nodes[node];
    let active = |r: Option<usize>| r.is_some_and(|r| w.rscs[r].is_active());
    let conn = info
        .connection
        .as_ref()
        .and_then(|c| w.by_id.get(c))
        .copied();
    match info.kind {
        NodeKind::Member => w.fencing_enabled || info.online,
        NodeKind::Remote => active(conn),
        NodeKind::Guest => active(conn) && active(guest_container(w, node)),
    }
}

/// Whether a node's history says nothing about now and is left unread.
pub(super) fn skip_history(w: &Working, node: usize) -> bool {
    // History on a node that is down (and need not be fenced) says
    // nothing about now. A remote node's history is read once it is
    // chosen (its connection is known to run, or, with fencing enabled,
    // in the last pass), whether or not the node is up, as Pacemaker's
    // `unpack_node_history` does: what is recorded active there must stop.
    let node_info = &w.nodes[node];
    match node_info.kind {
        NodeKind::Remote => false,
        // A guest's history counts while its container and connection
        // are thought to run, even failed: what ran there is lost.
        // With fencing enabled, so does a stopped guest's: what is still
        // recorded active there is lost.
        NodeKind::Guest if !node_info.online => {
            let active = |r: Option<usize>| r.is_some_and(|r| w.rscs[r].is_active());
            let conn = node_info.connection.as_ref().and_then(|c| w.by_id.get(c));
            let running = active(conn.copied()) && active(guest_container(w, node));
            !(w.fencing_enabled || running)
        }
        // With fencing enabled, an offline member is read too: anything
        // still recorded active there gets it fenced.
        _ => !node_info.online && !w.fencing_enabled,
    }
}

/// Replays one resource's history on one node and records what it says.
pub(super) fn unpack_lrm_entry(
    w: &mut Working,
    by_base: &mut HashMap<String, Vec<usize>>,
    node: usize,
    lrm: &LrmResource,
    now: i64,
) {
    // An entry without operations says nothing (Pacemaker skips it: no
    // orphan is made of it, the resource is not known there).
    if lrm.ops.is_empty() && !w.cib.bool_property("shutdown-lock", false) {
        return;
    }
    let (base, number) = match lrm.id.rsplit_once(':') {
        Some((b, n)) if n.parse::<u32>().is_ok() => (b.to_string(), n.parse::<u32>().ok()),
        _ => (lrm.id.clone(), None),
    };
    let Some(instances) = entry_instances(w, by_base, node, lrm, &base, number) else {
        return;
    };
    let first = instances[0];
    let remote_conn = w
        .node_named(&w.rscs[first].id)
        .is_some_and(|n| w.nodes[n].kind == NodeKind::Remote);
    // As configured (a failure's on-fail=block elsewhere unmanages only
    // the instance it happened to).
    let meta = &w.rscs[first].meta;
    let managed = super::resources::meta_bool(meta, "is-managed", true)
        && !super::resources::meta_bool(meta, "maintenance", false)
        && !w.maintenance_mode;
    let failure_timeout_s = if w.failure_kept_until_fenced(first) {
        0
    } else {
        w.failure_timeout_s(first)
    };
    let st = replay(
        &w.rscs[first],
        lrm,
        now,
        failure_timeout_s,
        w.fencing_enabled,
        remote_conn,
        managed,
    );
    if failure_timeout_s > 0 && st.failed {
        // The failure is forgotten once it expires: schedule again then.
        for t in lrm.ops.iter().filter_map(|op| op.last_rc_change) {
            w.recheck_at(t + failure_timeout_s);
        }
    }
    mark_known(w, &instances, node, &st);
    let active = st.role.is_active() || st.failed || st.stop_failed;
    // On the node of a bundle replica beyond the bundle's count, what ran
    // there is an orphan of its own, stopped with the replica.
    let (picked, orphan_replica) = entry_instance(w, &instances, node, number);
    if let Some(t) = picked {
        mark_instance_known(w, t, node);
    }
    if !active {
        return;
    }
    let target = match picked {
        Some(t) => t,
        None if orphan_replica => add_orphan(w, &lrm.id, &base, lrm.agent.clone(), None),
        None => add_extra_copy(w, by_base, &instances, &base, number),
    };
    record_active(w, node, target, &lrm.id, &st);
}

/// Records `target` active on `node` as its history `history_id` replayed
/// to `st` says, and what its failure there asks for.
fn record_active(w: &mut Working, node: usize, target: usize, history_id: &str, st: &Replay) {
    let role = active_role(w, target, st);
    mark_unclean_where_down(w, node, target);
    // On a node that is unclean (it will be fenced, or cannot be and is
    // lost) a failure asks for nothing more.
    let on_fail = if w.nodes[node].unclean {
        None
    } else {
        st.on_fail.as_deref()
    };
    apply_on_fail(w, node, target, st, on_fail);
    // A resource whose stop failed inside a container goes down with
    // the container's restart.
    if st.stop_failed && st.on_fail.as_deref() == Some("restart-container") {
        if let Some(&c) = w.rscs[target]
            .meta
            .get("container")
            .and_then(|c| w.by_id.get(c))
        {
            w.rscs[c].restart_requested = true;
        }
        return;
    }
    // A failure on a node that is unclean asks for nothing (the node will
    // be fenced, or is lost); any other marks the resource failed.
    let failed = (st.failed || st.stop_failed) && on_fail.is_some_and(|f| f != "ignore");
    w.rscs[target].current.push(Current {
        node,
        role,
        failed,
        on_fail: st.on_fail.clone(),
        pending_op: st.pending,
        needs_demote: st.needs_demote,
        history_id: history_id.to_string(),
        migrated_to: st.migrated_to.clone(),
    });
}

/// The resource instances a history entry may belong to; an orphan (no
/// longer configured) is added when it must stop if active. None: the
/// entry is ignored.
fn entry_instances(
    w: &mut Working,
    by_base: &mut HashMap<String, Vec<usize>>,
    node: usize,
    lrm: &LrmResource,
    base: &str,
    number: Option<u32>,
) -> Option<Vec<usize>> {
    if let Some(i) = by_base.get(base) {
        return Some(i.clone());
    }
    // Bundle-generated resources are not modelled one by one, except the
    // connection of a replica beyond the bundle's count: it names a node
    // whose resources stop with it.
    let from_bundle = bundle_generated(w, &lrm.id);
    let names_node = w
        .node_named(&lrm.id)
        .is_some_and(|n| w.nodes[n].kind == NodeKind::Remote);
    if !w.stop_orphans || (from_bundle && !names_node && !on_orphan_replica(w, node)) {
        return None;
    }
    let orphan = add_orphan(w, &lrm.id, base, lrm.agent.clone(), None);
    w.rscs[orphan].instance = number;
    by_base.insert(base.to_string(), vec![orphan]);
    Some(vec![orphan])
}

/// The history makes the resource known on the node, and hard errors ban
/// it there (or everywhere).
fn mark_known(w: &mut Working, instances: &[usize], node: usize, st: &Replay) {
    for &i in instances {
        w.rscs[i].known_on[node] = true;
        if st.ban_here || st.ban_everywhere {
            w.rscs[i].banned_by_failures[node] = true;
        }
        if st.ban_everywhere {
            w.rscs[i]
                .banned_by_failures
                .iter_mut()
                .for_each(|b| *b = true);
        }
    }
}

/// Which instance a history entry is, and whether the node is a bundle
/// replica beyond the bundle's count (whatever ran there is then an orphan
/// of its own).
fn entry_instance(
    w: &Working,
    instances: &[usize],
    node: usize,
    number: Option<u32>,
) -> (Option<usize>, bool) {
    let first = instances[0];
    // Inside a bundle, the instance is the replica's own.
    let replica = w.nodes[node].connection.as_ref().and_then(|c| {
        w.bundles
            .values()
            .find_map(|b| b.remotes.iter().position(|&r| &w.rscs[r].id == c))
    });
    let anonymous = replica.is_none() && anonymous_clone_of(w, first).is_some();
    let orphan_replica = replica.is_none() && on_orphan_replica(w, node);
    let numbered = |n: u32| {
        instances
            .iter()
            .copied()
            .find(|&i| w.rscs[i].instance == Some(n))
    };
    let picked = match replica {
        None if orphan_replica => None,
        Some(k) => numbered(k as u32),
        None if anonymous => match number.filter(|_| several_per_node(w, first)) {
            // With several copies allowed per node, which copy is which
            // matters: the recorded number is kept, and a number beyond the
            // clone's instances is an orphan, as the reference does.
            Some(n) => numbered(n),
            None => anonymous_instance(w, instances, node),
        },
        None => pick_instance(w, instances, number, node),
    };
    (picked, orphan_replica)
}

/// More active copies than configured instances: the extra one is an
/// orphan instance, under its recorded number when free.
fn add_extra_copy(
    w: &mut Working,
    by_base: &mut HashMap<String, Vec<usize>>,
    instances: &[usize],
    base: &str,
    number: Option<u32>,
) -> usize {
    let template = instances[0];
    let parent = w.rscs[template].parent;
    let used: Vec<u32> = instances
        .iter()
        .filter_map(|&i| w.rscs[i].instance)
        .collect();
    let n = number
        .filter(|k| !used.contains(k))
        .or_else(|| (0..).find(|k| !used.contains(k)))
        .unwrap_or(0);
    let id = format!("{base}:{n}");
    let agent = w.rscs[template].agent.clone();
    let orphan = add_orphan(w, &id, base, agent, parent);
    w.rscs[orphan].instance = Some(n);
    if let Some(v) = by_base.get_mut(base) {
        v.push(orphan);
    }
    orphan
}

/// The role an active instance has, as its history says.
fn active_role(w: &Working, target: usize, st: &Replay) -> Role {
    let mut role = if st.role == Role::Unknown || st.role == Role::Stopped {
        Role::Started
    } else {
        st.role
    };
    // A started instance of a promotable clone is unpromoted.
    let promotable = w.in_promotable_clone(target);
    if role == Role::Started && promotable {
        role = Role::Unpromoted;
    }
    // A monitor of something that cannot be promoted failing with
    // "running promoted" (rc 8): it runs, in no role it can have; it is
    // recovered by a stop and a start, never by a demote that its agent
    // cannot do (which would fail and loop). A probe finding it promoted is
    // still demoted first, as Pacemaker does.
    if role == Role::Promoted && !promotable && st.failed && !w.rscs[target].orphan {
        role = Role::Started;
    }
    role
}

/// Active on a node that is down: a member must be fenced; a remote node
/// too, unless its connection comes back elsewhere.
fn mark_unclean_where_down(w: &mut Working, node: usize, target: usize) {
    let n = &w.nodes[node];
    if n.online || !w.rscs[target].managed || w.maintenance_mode || n.maintenance {
        return;
    }
    let id = w.rscs[target].id.clone();
    match n.kind {
        NodeKind::Member => {
            w.nodes[node].mark_unclean(format!("{id} is thought to be active there"));
        }
        NodeKind::Remote => {
            let conn_failed = n
                .connection
                .as_ref()
                .and_then(|c| w.by_id.get(c))
                .is_some_and(|&c| w.rscs[c].failed());
            let n = &mut w.nodes[node];
            if conn_failed {
                n.mark_unclean(format!("{id} is thought to be active there"));
            } else {
                n.fence_revocable = true;
                n.mark_unclean(format!(
                    "{id} is active there (fencing will be revoked if remote \
                         connection can be re-established elsewhere)"
                ));
            }
        }
        // A guest is "fenced" by recovering its container, decided with
        // the lost guests.
        NodeKind::Guest => {}
    }
}

/// What a failure's on-fail asks of the node or the resource.
fn apply_on_fail(w: &mut Working, node: usize, target: usize, st: &Replay, on_fail: Option<&str>) {
    let fence_node = |w: &mut Working| {
        let reason = format!("{} failed there", w.rscs[target].id);
        let n = &mut w.nodes[node];
        if !n.unclean {
            n.unclean = true;
            n.unclean_reason = reason;
        }
    };
    match on_fail {
        Some("fence") if w.fencing_enabled && st.failed => fence_node(w),
        Some("standby") if st.failed => w.nodes[node].standby = true,
        Some("block") if st.failed => {
            w.rscs[target].managed = false;
            w.rscs[target].blocked = true;
        }
        Some("stop") if st.failed => w.rscs[target].target_role = Role::Stopped,
        Some("reset-remote") if st.failed || st.stop_failed => {
            reset_remote(w, target);
        }
        // restart, restart-container, ban, demote, ignore: what the
        // actions stage does with a failed resource; none: no failure.
        _ => {}
    }
    if st.stop_failed && w.fencing_enabled && st.on_fail.as_deref() == Some("fence") {
        fence_node(w);
    }
}
