//! Stage 4, order: which action must wait for which, from ordering
//! constraints and the built-in orders of groups (each member after the one
//! before it, stopping in reverse).

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

pub fn orderings(w: &Working) -> Vec<Ordering> {
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
        let mut fp = Vec::new();
        w.primitives_of(f, &mut fp);
        let mut tp = Vec::new();
        w.primitives_of(t, &mut tp);
        let ft = task_of(&o.first_action);
        let tt = task_of(&o.then_action);
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
