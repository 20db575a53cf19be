//! PolicyActor: the scheduler, wrapped. Computes on a blocking thread so a
//! large cluster's transition never stalls the other actors.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{
    Envelope, Failure, Message, Plan, PolicyError, PolicyRequest, Schedule,
};
use crate::model::cib::xml::Element;
pub use crate::scheduler::plan::plan;

/// The scheduler's actor; `running` is set while a run is in progress on
/// the blocking pool (a run cannot be stopped, so no second one starts).
#[derive(Default)]
pub struct PolicyActor {
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Longest one scheduler run may take, in milliseconds, before the DC is
/// told it failed (the limits on clone instances, CIB size and patterns
/// keep a run far below this; the thread cannot be stopped, so no second
/// run starts while it lasts).
/// Below the DC's own request timeout, so the DC hears why.
pub const SCHEDULER_TIME_MS_MAX: u64 = 50_000;

/// Runs [`plan`] on a blocking thread, one run at a time, answering an
/// error when it takes longer than [`SCHEDULER_TIME_MS_MAX`].
async fn schedule_bounded(
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cib: Element,
    now_epoch_s: i64,
) -> Result<Plan, Failure> {
    use std::sync::atomic::Ordering;
    if running.swap(true, Ordering::SeqCst) {
        return Err(PolicyError::StillRunning.into());
    }
    let done = std::sync::Arc::clone(&running);
    let task = tokio::task::spawn_blocking(move || {
        let result = plan(&cib, now_epoch_s);
        done.store(false, Ordering::SeqCst);
        result
    });
    let limit = std::time::Duration::from_millis(SCHEDULER_TIME_MS_MAX);
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(Ok(plan))) => Ok(plan),
        Ok(Ok(Err(error))) => Err(PolicyError::Scheduler(error.to_string()).into()),
        Ok(Err(join)) => {
            running.store(false, Ordering::SeqCst);
            Err(PolicyError::Task(join.to_string()).into())
        }
        Err(_) => Err(PolicyError::TimedOut.into()),
    }
}

impl Behaviour for PolicyActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        match envelope.body {
            Message::Policy(PolicyRequest::Schedule(Schedule {
                ref cib,
                now_epoch_s,
            })) => {
                let cib = cib.clone();
                let running = std::sync::Arc::clone(&self.running);
                ctx.spawn_answer::<Schedule, _>(&envelope, async move {
                    schedule_bounded(running, cib, now_epoch_s).await
                });
            }
            // No clock, no notes: a policy actor only answers.
            other => tracing::debug!(?other, "policy: ignored"),
        }
    }
}
