//! Stage 4, order: which action must wait for which, from ordering
//! constraints and the built-in orders of groups (each member after the one
//! before it, stopping in reverse).

use super::assign::Plan;
use super::unpack::{Variant, Working};
use super::Task;
use crate::model::cib::{Order, OrderKind};

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
        // "One or more of the firsts" goes through its own pseudo-action
        // (see `one_or_more`); the symmetrical stops are ordinary.
        let forward = !(ft == Task::Start && one_or_more_name(w, o, f).is_some());
        // a before b, and (symmetrical) b's inverse before a's.
        let push_pair = |out: &mut Vec<Ordering>, a: usize, b: usize| {
            if forward {
                out.push(Ordering {
                    first: a,
                    first_task: ft,
                    then: b,
                    then_task: tt,
                });
            }
            if o.symmetrical {
                out.push(Ordering {
                    first: b,
                    first_task: inverse(tt),
                    then: a,
                    then_task: inverse(ft),
                });
            }
        };
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
                push_pair(&mut out, a, b);
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
                push_pair(&mut out, a, b);
            }
        }
    }
    out
}

/// The pseudo-action name and minimum count of an order whose "then" needs
/// only some of its firsts started: a set with require-all=false
/// (`one-or-more:SET`), or a clone with clone-min or require-all=false
/// (`clone-one-or-more:ORDER`).
fn one_or_more_name(w: &Working, o: &Order, first: usize) -> Option<(String, usize)> {
    let clone = w.rscs[first].variant == Variant::Clone;
    let clone_min = w.rscs[first]
        .meta
        .get("clone-min")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&m| m > 0 && clone);
    match (&o.first_set, clone_min) {
        (Some(set), _) if o.first_any => Some((format!("one-or-more:{set}"), 1)),
        (_, Some(min)) => Some((format!("clone-one-or-more:{}", o.id), min)),
        _ if clone && o.first_any => Some((format!("clone-one-or-more:{}", o.id), 1)),
        _ => None,
    }
}

/// "Then" waits for at least `min` of `firsts` (primitives) to start.
#[derive(Debug, Clone)]
pub struct OneOrMore {
    pub name: String,
    pub min: usize,
    pub firsts: Vec<usize>,
    pub thens: Vec<(usize, Task)>,
}

/// The one-or-more orderings, one per pseudo-action name.
pub fn one_or_more(w: &Working) -> Vec<OneOrMore> {
    let mut out: Vec<OneOrMore> = Vec::new();
    for o in &w.cib.orders {
        if o.kind == OrderKind::Serialize || task_of(&o.first_action) != Task::Start {
            continue;
        }
        let (Some(&f), Some(&t)) = (w.by_id.get(&o.first), w.by_id.get(&o.then)) else {
            continue;
        };
        let Some((name, min)) = one_or_more_name(w, o, f) else {
            continue;
        };
        let i = match out.iter().position(|x| x.name == name) {
            Some(i) => i,
            None => {
                out.push(OneOrMore {
                    name,
                    min,
                    firsts: Vec::new(),
                    thens: Vec::new(),
                });
                out.len() - 1
            }
        };
        let entry = &mut out[i];
        let mut fp = Vec::new();
        w.primitives_of(f, &mut fp);
        for p in fp {
            if !entry.firsts.contains(&p) {
                entry.firsts.push(p);
            }
        }
        let then = (t, task_of(&o.then_action));
        if !entry.thens.contains(&then) {
            entry.thens.push(then);
        }
    }
    out
}
