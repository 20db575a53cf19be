//! Stage 4, order: which action must wait for which, from ordering
//! constraints and the built-in orders of groups (each member after the one
//! before it, stopping in reverse).

use super::assign::Plan;
use super::unpack::{Variant, Working};
use super::Task;
use crate::model::cib::OrderKind;

/// "`then_task` of `then` waits for `first_task` of `first`", on primitives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ordering {
    pub first: usize,
    pub first_task: Task,
    pub then: usize,
    pub then_task: Task,
}

fn task_of(name: &str) -> Task {
    match name {
        "stop" => Task::Stop,
        "promote" => Task::Promote,
        "demote" => Task::Demote,
        "monitor" => Task::Monitor,
        _ => Task::Start,
    }
}

fn inverse(task: Task) -> Task {
    match task {
        Task::Start => Task::Stop,
        Task::Stop => Task::Start,
        Task::Promote => Task::Demote,
        Task::Demote => Task::Promote,
        other => other,
    }
}

/// Both clones, the dependent one interleaved: each instance waits only for
/// the instance on its own node.
fn interleaved(w: &Working, first: usize, then: usize) -> bool {
    w.rscs[first].variant == Variant::Clone
        && w.rscs[then].variant == Variant::Clone
        && w.rscs[then].interleave
}

/// The node an instance is (or will be) on: where it is placed, else where
/// it runs.
fn instance_node(w: &Working, plan: &Plan, r: usize) -> Option<usize> {
    let mut prims = Vec::new();
    w.primitives_of(r, &mut prims);
    prims
        .iter()
        .find_map(|&p| plan.assigned[p].or_else(|| w.rscs[p].current.first().map(|c| c.node)))
}

/// Instances of two interleaved clones that share a node.
fn instance_pairs(w: &Working, plan: &Plan, first: usize, then: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &b in &w.rscs[then].children {
        let Some(n) = instance_node(w, plan, b) else {
            continue;
        };
        for &a in &w.rscs[first].children {
            if instance_node(w, plan, a) == Some(n) {
                out.push((a, b));
            }
        }
    }
    out
}

pub fn orderings(w: &Working, plan: &Plan) -> Vec<Ordering> {
    let mut out = Vec::new();
    for rsc in &w.rscs {
        if rsc.variant == Variant::Group {
            for pair in rsc.children.windows(2) {
                out.push(Ordering {
                    first: pair[0],
                    first_task: Task::Start,
                    then: pair[1],
                    then_task: Task::Start,
                });
                out.push(Ordering {
                    first: pair[1],
                    first_task: Task::Stop,
                    then: pair[0],
                    then_task: Task::Stop,
                });
            }
        }
    }
    for o in &w.cib.orders {
        if o.kind == OrderKind::Serialize {
            continue;
        }
        let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
            continue;
        };
        let ft = task_of(&o.first_action);
        let tt = task_of(&o.then_action);
        // A group, clone or bundle is ordered through its pseudo-actions
        // (its "running" after, its "start" before); interleaved clones
        // instance by instance.
        let collective = |r: usize| w.rscs[r].variant != Variant::Primitive;
        if (collective(f) || collective(t)) && ft != Task::Monitor && tt != Task::Monitor {
            let pairs = if interleaved(w, f, t) {
                instance_pairs(w, plan, f, t)
            } else {
                vec![(f, t)]
            };
            for (a, b) in pairs {
                out.push(Ordering {
                    first: a,
                    first_task: ft,
                    then: b,
                    then_task: tt,
                });
                if o.symmetrical {
                    out.push(Ordering {
                        first: b,
                        first_task: inverse(tt),
                        then: a,
                        then_task: inverse(ft),
                    });
                }
            }
            continue;
        }
        let mut fp = Vec::new();
        w.primitives_of(f, &mut fp);
        let mut tp = Vec::new();
        w.primitives_of(t, &mut tp);
        for &a in &fp {
            for &b in &tp {
                if a == b {
                    continue;
                }
                out.push(Ordering {
                    first: a,
                    first_task: ft,
                    then: b,
                    then_task: tt,
                });
                if o.symmetrical {
                    out.push(Ordering {
                        first: b,
                        first_task: inverse(tt),
                        then: a,
                        then_task: inverse(ft),
                    });
                }
            }
        }
    }
    out
}
