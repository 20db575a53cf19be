//! PolicyActor: the scheduler, wrapped. Computes on a blocking thread so a
//! large cluster's transition never stalls the other actors.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{Envelope, Message};
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
) -> Message {
    use std::sync::atomic::Ordering;
    if running.swap(true, Ordering::SeqCst) {
        return Message::Error(
            "scheduler: the previous run is still going (over SCHEDULER_TIME_MS_MAX); not starting another"
                .into(),
        );
    }
    let done = std::sync::Arc::clone(&running);
    let task = tokio::task::spawn_blocking(move || {
        let result = plan(&cib, now_epoch_s);
        done.store(false, Ordering::SeqCst);
        result
    });
    let limit = std::time::Duration::from_millis(SCHEDULER_TIME_MS_MAX);
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(Ok(plan))) => Message::Scheduled { plan },
        Ok(Ok(Err(error))) => Message::Error(format!("scheduler: {error}")),
        Ok(Err(join)) => {
            running.store(false, Ordering::SeqCst);
            Message::Error(format!("scheduler task: {join}"))
        }
        Err(_) => Message::Error(format!(
            "scheduler: no answer within SCHEDULER_TIME_MS_MAX = {SCHEDULER_TIME_MS_MAX} ms"
        )),
    }
}

impl Behaviour for PolicyActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        if let Message::Schedule { cib, now_epoch_s } = &envelope.body {
            let (cib, now) = (cib.clone(), *now_epoch_s);
            let running = std::sync::Arc::clone(&self.running);
            ctx.spawn_reply(&envelope, async move {
                schedule_bounded(running, cib, now).await
            });
        }
    }
}
