//! PolicyActor: the scheduler, wrapped. Computes on a blocking thread so a
//! large cluster's transition never stalls the other actors.

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{Envelope, Message};
pub use crate::scheduler::plan::plan;

pub struct PolicyActor;

impl Behaviour for PolicyActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        if let Message::Schedule { cib, now_epoch_s } = &envelope.body {
            let (cib, now) = (cib.clone(), *now_epoch_s);
            ctx.spawn_reply(&envelope, async move {
                match tokio::task::spawn_blocking(move || plan(&cib, now)).await {
                    Ok(Ok(plan)) => Message::Scheduled { plan },
                    Ok(Err(error)) => Message::Error(format!("scheduler: {error}")),
                    Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                    Err(join) => Message::Error(format!("scheduler task: {join}")),
                }
            });
        }
    }
}
