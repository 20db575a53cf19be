//! The policy engine: a pure function from CIB and "now" to a transition graph.
//!
//! The stages follow Pacemaker's scheduler, a folder each, run in this order
//! by [`run_with`]:
//! 1. [`unpack`]: the typed CIB becomes the working set (nodes and their
//!    state, resources flattened into an arena, operation histories
//!    replayed, definition changes found);
//! 2. [`assign`]: every resource gets a node and a role (locations,
//!    colocations, utilization, clone instances, node health); remote nodes
//!    follow their connection, and [`assign::fencing`] decides who is fenced;
//! 3. [`actions`]: what each resource must do and how the actions are
//!    ordered (Pacemaker's action model), read off as the summary;
//! 4. [`graph`]: the transition graph, a petgraph DAG of actions with their
//!    orderings, and the [`graph::plan`] the DC carries out.
//!
//! [`transition`] holds the types of the answer.
//!
//! ```
//! let cib = systole::model::cib::xml::Element::parse(r#"<cib have-quorum="1"><configuration>
//!   <crm_config><cluster_property_set id="opts">
//!     <nvpair id="opts-fencing" name="stonith-enabled" value="false"/>
//!   </cluster_property_set></crm_config><nodes><node id="n1" uname="n1"/></nodes>
//!   <resources><primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"/></resources>
//!   <constraints/></configuration>
//!   <status><node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/></status></cib>"#).unwrap();
//! let t = systole::scheduler::schedule(&cib, 0).unwrap();
//! assert!(t.summary.iter().any(|l| l.contains("Start") && l.contains("ip")));
//! ```

// Loops over node indices read best as index loops here.
#![allow(clippy::needless_range_loop)]

pub mod actions;
pub mod assign;
#[cfg(test)]
mod config_error_tests;
pub mod graph;
pub mod transition;
pub mod unpack;

// The status view and the DC's plan, at the paths their callers know.
pub use assign::fencing::fencing;
pub use graph::plan;
pub use transition::{Action, Meta, Task, Transition};
pub use unpack::status;

use crate::model::cib::xml::Element;
pub use crate::model::cib::AgentSpec;
use crate::model::cib::{Cib, ModelError};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("invalid CIB: {0}")]
    Model(#[from] ModelError),
}

/// Everything the scheduler worked out, for `simulate` (scores, status).
pub struct Outcome {
    pub working: unpack::Working,
    pub plan: assign::Plan,
    pub decisions: Vec<actions::Decision>,
    pub fence: Vec<bool>,
    pub transition: Transition,
}

/// Schedules a CIB: the pure entry point the daemon calls.
pub fn schedule(cib: &Element, now_epoch_s: i64) -> Result<Transition, SchedulerError> {
    Ok(run(cib, now_epoch_s)?.transition)
}

/// How to read the CIB, beyond what it says itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Private parameters (passwords) may be masked, as in a CIB taken by
    /// crm_report: operation histories are compared without them, so a
    /// simulation does not restart every fence device. A running cluster
    /// leaves this off: there, a changed password is a changed definition.
    pub secrets_masked: bool,
}

/// Runs every stage and keeps the intermediate results.
pub fn run(cib: &Element, now_epoch_s: i64) -> Result<Outcome, SchedulerError> {
    run_with(cib, now_epoch_s, Options::default())
}

/// [`run`], with options.
pub fn run_with(
    cib: &Element,
    now_epoch_s: i64,
    options: Options,
) -> Result<Outcome, SchedulerError> {
    let typed = Cib::from_xml(cib, now_epoch_s)?;
    let mut working = unpack::unpack(typed, now_epoch_s, options);
    let plan = assign::assign(&working);
    assign::remote::settle(&mut working, &plan);
    let (mut fence, mut fence_reason) = fencing(&working);
    // Remote nodes whose connection cannot be recovered are fenced when
    // they still have something to stop or probe: decided from the actions
    // before fencing is applied to them.
    if working.nodes.iter().any(|n| n.connection.is_some()) {
        let prelim = actions::Model::build(&working, &plan, &fence).decisions();
        assign::remote::fence_unrecoverable(
            &mut working,
            &plan,
            &prelim,
            &mut fence,
            &mut fence_reason,
        );
    }
    let mut model = actions::Model::build(&working, &plan, &fence);
    model.finish(&fence);
    let decisions = model.decisions();
    let summary = actions::summary::summary(&model, &decisions, &fence, &fence_reason);
    drop(model);
    let graph = graph::build(&working, &plan, &decisions, &fence);
    let config_errors = working.cib.config_errors.clone();
    let recheck_at_epoch_s = working.recheck_at_epoch_s;
    Ok(Outcome {
        working,
        plan,
        decisions,
        fence,
        transition: Transition {
            graph,
            summary,
            config_errors,
            recheck_at_epoch_s,
        },
    })
}

/// The action model of a CIB, dumped for debugging (`systole simulate`
/// prints it with SYSTOLE_DEBUG_ACTIONS set).
pub fn debug_actions(
    cib: &Element,
    now_epoch_s: i64,
    options: Options,
) -> Result<String, SchedulerError> {
    let typed = Cib::from_xml(cib, now_epoch_s)?;
    let mut working = unpack::unpack(typed, now_epoch_s, options);
    let plan = assign::assign(&working);
    assign::remote::settle(&mut working, &plan);
    let (fence, _) = fencing(&working);
    let mut model = actions::Model::build(&working, &plan, &fence);
    model.finish(&fence);
    Ok(model.dump())
}
