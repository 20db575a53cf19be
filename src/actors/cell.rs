//! An actor cell: an actix actor that hosts one of our behaviours and
//! survives its panics.
//!
//! actix's own `Supervisor` restarts an actor only when it stops; a panic in
//! a handler kills the actor's task and drops its mailbox. So the cell calls
//! the behaviour inside `catch_unwind`: on a panic it counts the failure,
//! answers the request in flight with an error, cancels the old behaviour's
//! timers, builds a fresh behaviour from its factory (known-good state: the
//! CIB on disk, a re-probe of what runs) and tells the supervision tree. The
//! actix actor itself never stops, so its address and queued messages stay.

use crate::actors::message::{ActorRef, Envelope, Failure, Message, Reply, Request};
use crate::actors::router::{ActorError, Mailbox, Router};
use crate::actors::tree::{ActorStats, Tree};
use actix::prelude::*;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Mailbox depth at which senders are refused: a bound on memory, and a
/// signal that the actor is wedged.
pub const MAILBOX_DEPTH_MAX: u64 = 100_000;

/// The code of an actor: state plus a message handler.
pub trait Behaviour: 'static {
    /// Called once after (re)start: set up timers here.
    fn started(&mut self, _ctx: &mut CellCtx<'_>) {}
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>);
}

/// Builds a fresh behaviour: at start and after every crash.
pub type Factory = Box<dyn Fn() -> Box<dyn Behaviour>>;

/// What a behaviour may do while it handles a message.
pub struct CellCtx<'a> {
    me: ActorRef,
    router: &'a Arc<Router>,
    actix: &'a mut Context<Cell>,
    timers: &'a mut Vec<SpawnHandle>,
}

impl CellCtx<'_> {
    pub fn me(&self) -> &ActorRef {
        &self.me
    }

    pub fn node(&self) -> &str {
        &self.me.node
    }

    pub fn router(&self) -> &Arc<Router> {
        self.router
    }

    /// Fire and forget; an unreachable target is logged, not fatal.
    pub fn send(&self, to: ActorRef, body: Message) {
        if let Err(error) = self.router.send(self.me.clone(), to, body) {
            tracing::debug!(from = %self.me, %error, "send failed");
        }
    }

    /// Sends to a local actor by name.
    pub fn send_local(&self, name: &str, body: Message) {
        self.send(self.router.local_ref(name), body);
    }

    /// Answers `request` with an untyped reply (a waiter kept by kind, a
    /// relayed answer); handlers that know their request use [`Self::answer`].
    pub fn reply(&self, request: &Envelope, answer: Result<Reply, Failure>) {
        self.router.reply(request, answer);
    }

    /// Answers `request`, a `R`, with `R`'s own kind of reply.
    pub fn answer<R: Request>(&self, request: &Envelope, answer: Result<R::Reply, Failure>) {
        self.router.reply(request, answer.map(R::wrap));
    }

    /// Refuses `request` with `failure`.
    pub fn refuse(&self, request: &Envelope, failure: impl Into<Failure>) {
        self.router.reply(request, Err(failure.into()));
    }

    /// Sends a typed request; when the answer (or error) comes, `then` turns
    /// it into a note to this actor (None: nothing to tell).
    pub fn ask_then<R, F>(&self, to: ActorRef, request: R, timeout_ms: u64, then: F)
    where
        R: Request + Send + 'static,
        R::Reply: Send,
        F: FnOnce(Result<R::Reply, ActorError>) -> Option<Message> + Send + 'static,
    {
        let router = Arc::clone(self.router);
        let me = self.me.clone();
        tokio::spawn(async move {
            let answer = router.ask(me.clone(), to, request, timeout_ms).await;
            if let Some(note) = then(answer) {
                let _ = router.send(me.clone(), me, note);
            }
        });
    }

    /// Passes a request on to another actor and relays its answer (or the
    /// error) back to the original sender.
    pub fn relay(&self, request: &Envelope, to: ActorRef, body: Message, timeout_ms: u64) {
        let header = request.header();
        let router = Arc::clone(self.router);
        let me = self.me.clone();
        tokio::spawn(async move {
            let answer = router
                .request(me, to, body, timeout_ms)
                .await
                .map_err(Failure::from);
            router.reply(&header, answer);
        });
    }

    /// Runs `work` off the actor and answers `request` (a `R`) with its
    /// result. A panic in `work` answers with an error and counts as a crash.
    pub fn spawn_answer<R, F>(&self, request: &Envelope, work: F)
    where
        R: Request,
        F: std::future::Future<Output = Result<R::Reply, Failure>> + Send + 'static,
    {
        let header = request.header();
        let router = Arc::clone(self.router);
        let me = self.me.clone();
        tokio::spawn(async move {
            match AssertUnwindSafe(work).catch_unwind().await {
                Ok(answer) => router.reply(&header, answer.map(R::wrap)),
                Err(payload) => {
                    let reason = crate::actors::tree::panic_text(payload.as_ref());
                    router.reply(&header, Err(Failure::Crashed(reason.clone())));
                    let _ = router.send(me.clone(), me, Message::TaskPanicked(reason));
                }
            }
        });
    }

    /// Runs `work` off the actor (agents, disk, the scheduler) and delivers
    /// what it returns to this actor. A panic in `work` counts as a crash
    /// of this actor.
    pub fn spawn_then<F>(&self, work: F)
    where
        F: std::future::Future<Output = Message> + Send + 'static,
    {
        let router = Arc::clone(self.router);
        let me = self.me.clone();
        tokio::spawn(async move {
            let body = match AssertUnwindSafe(work).catch_unwind().await {
                Ok(body) => body,
                Err(payload) => {
                    Message::TaskPanicked(crate::actors::tree::panic_text(payload.as_ref()))
                }
            };
            let _ = router.send(me.clone(), me, body);
        });
    }

    /// Delivers `body` to this actor after `delay_ms`. Cancelled on restart.
    pub fn run_later(&mut self, delay_ms: u64, body: Message) {
        let handle = self
            .actix
            .run_later(Duration::from_millis(delay_ms), move |cell, _| {
                cell.enqueue_self(body);
            });
        self.timers.push(handle);
    }

    /// Delivers a clone of `body` every `period_ms`. Cancelled on restart.
    pub fn run_every(&mut self, period_ms: u64, body: Message) {
        let handle = self
            .actix
            .run_interval(Duration::from_millis(period_ms), move |cell, _| {
                cell.enqueue_self(body.clone());
            });
        self.timers.push(handle);
    }
}

/// actix message carrying an envelope into a cell.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Envelope);

/// actix message: the supervision tree restarts this cell.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Restart(pub String);

pub struct Cell {
    me: ActorRef,
    behaviour: Box<dyn Behaviour>,
    factory: Factory,
    stats: Arc<ActorStats>,
    router: Arc<Router>,
    tree: Arc<Tree>,
    timers: Vec<SpawnHandle>,
}

impl Cell {
    /// Starts a cell on the current actix arbiter and registers it with the
    /// router under `name`.
    pub fn start(
        name: &str,
        factory: Factory,
        router: &Arc<Router>,
        tree: &Arc<Tree>,
    ) -> Addr<Cell> {
        let stats = tree.stats(name);
        let me = router.local_ref(name);
        let behaviour = factory();
        let cell = Cell {
            me,
            behaviour,
            factory,
            stats: Arc::clone(&stats),
            router: Arc::clone(router),
            tree: Arc::clone(tree),
            timers: Vec::new(),
        };
        let addr = cell.start();
        router.register(
            name,
            Arc::new(CellMailbox {
                addr: addr.clone(),
                stats,
            }),
        );
        tree.register_restarter(name, addr.clone().recipient());
        addr
    }

    fn enqueue_self(&self, body: Message) {
        let _ = self.router.send(self.me.clone(), self.me.clone(), body);
    }

    fn ctx<'a>(
        &'a mut self,
        actix: &'a mut Context<Cell>,
    ) -> (CellCtx<'a>, &'a mut Box<dyn Behaviour>) {
        (
            CellCtx {
                me: self.me.clone(),
                router: &self.router,
                actix,
                timers: &mut self.timers,
            },
            &mut self.behaviour,
        )
    }

    /// Replaces the behaviour with a fresh one; `report` says whether the
    /// supervision tree must hear of it (not when it ordered the restart).
    fn restart(&mut self, reason: String, report: bool, actix: &mut Context<Cell>) {
        for timer in self.timers.drain(..) {
            actix.cancel_future(timer);
        }
        self.stats.record_restart(&reason);
        tracing::warn!(actor = %self.me, %reason, "actor restarted");
        self.behaviour = (self.factory)();
        self.run_guarded(actix, None, |behaviour, ctx| behaviour.started(ctx));
        if report {
            self.tree.child_restarted(&self.me.name);
        }
    }

    /// Runs `f` on the behaviour, turning a panic into a restart. `request`
    /// is the envelope in flight, answered with an error if `f` panics.
    fn run_guarded<F>(&mut self, actix: &mut Context<Cell>, request: Option<&Envelope>, f: F)
    where
        F: FnOnce(&mut Box<dyn Behaviour>, &mut CellCtx<'_>),
    {
        let outcome = {
            let (mut ctx, behaviour) = self.ctx(actix);
            std::panic::catch_unwind(AssertUnwindSafe(|| f(behaviour, &mut ctx)))
        };
        if let Err(payload) = outcome {
            let reason = crate::actors::tree::panic_text(payload.as_ref());
            if let Some(request) = request {
                self.router
                    .reply(request, Err(Failure::Crashed(reason.clone())));
            }
            self.restart(reason, true, actix);
        }
    }
}

impl Actor for Cell {
    type Context = Context<Cell>;

    fn started(&mut self, actix: &mut Context<Cell>) {
        actix.set_mailbox_capacity(usize::MAX >> 4);
        self.run_guarded(actix, None, |behaviour, ctx| behaviour.started(ctx));
    }
}

impl Handler<Deliver> for Cell {
    type Result = ();

    fn handle(&mut self, Deliver(envelope): Deliver, actix: &mut Context<Cell>) {
        self.stats.depth.fetch_sub(1, Ordering::Relaxed);
        self.stats.processed.fetch_add(1, Ordering::Relaxed);
        let header = envelope.header();
        if let Message::TaskPanicked(reason) = &envelope.body {
            // A spawned task of ours panicked: that is our crash. (Another
            // node cannot make us restart by sending one.)
            if envelope.from == self.me {
                self.restart(format!("task panicked: {reason}"), true, actix);
            }
            return;
        }
        self.run_guarded(actix, Some(&header), move |behaviour, ctx| {
            if matches!(envelope.body, Message::InjectCrash) {
                panic!("injected crash");
            }
            behaviour.handle(envelope, ctx)
        });
    }
}

impl Handler<Restart> for Cell {
    type Result = ();

    fn handle(&mut self, Restart(reason): Restart, actix: &mut Context<Cell>) {
        self.restart(reason, false, actix);
    }
}

struct CellMailbox {
    addr: Addr<Cell>,
    stats: Arc<ActorStats>,
}

impl Mailbox for CellMailbox {
    fn deliver(&self, envelope: Envelope) -> Result<(), ActorError> {
        if self.stats.depth.load(Ordering::Relaxed) >= MAILBOX_DEPTH_MAX {
            return Err(ActorError::MailboxFull(envelope.to.to_string()));
        }
        self.stats.depth.fetch_add(1, Ordering::Relaxed);
        // `do_send` ignores capacity: our own bound above is the limit.
        self.addr.do_send(Deliver(envelope));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::message::{CibError, DcNote};
    use crate::actors::supervision::{Strategy, SupervisorSpec};

    /// Counts messages; panics on request; its count survives only in the
    /// shared counter, as known-good state would.
    struct Counter {
        seen: Arc<std::sync::atomic::AtomicU64>,
        local: u64,
    }

    impl Behaviour for Counter {
        fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
            self.local += 1;
            self.seen.fetch_add(1, Ordering::Relaxed);
            match envelope.body {
                Message::Tick => ctx.reply(&envelope, Ok(Reply::Done)),
                Message::ViewChanged(_) => panic!("asked to fail"),
                _ => ctx.refuse(
                    &envelope,
                    CibError::Refused(format!("local={}", self.local)),
                ),
            }
        }
    }

    fn tree() -> Arc<Tree> {
        Tree::new(
            SupervisorSpec::new("root", Strategy::OneForAll, 100, 10_000)
                .actor("a")
                .actor("b"),
            Box::new(|_| {}),
        )
    }

    #[actix_rt::test]
    async fn crash_restarts_in_place_and_the_request_gets_an_error() {
        let router = Router::new("n1");
        let tree = tree();
        let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for name in ["a", "b"] {
            let seen = Arc::clone(&seen);
            Cell::start(
                name,
                Box::new(move || {
                    Box::new(Counter {
                        seen: Arc::clone(&seen),
                        local: 0,
                    })
                }),
                &router,
                &tree,
            );
        }
        let a = router.local_ref("a");
        let me = router.local_ref("test");
        let ok = router
            .request(me.clone(), a.clone(), Message::Tick, 1_000)
            .await;
        assert!(matches!(ok, Ok(Reply::Done)));
        let crashed = router
            .request(
                me.clone(),
                a.clone(),
                Message::ViewChanged(Default::default()),
                1_000,
            )
            .await;
        assert!(
            matches!(crashed, Err(ActorError::Failed(_, Failure::Crashed(ref r))) if r.contains("asked to fail")),
            "{crashed:?}"
        );
        let injected = router
            .request(me.clone(), a.clone(), Message::InjectCrash, 1_000)
            .await;
        assert!(
            matches!(injected, Err(ActorError::Failed(_, Failure::Crashed(ref r))) if r.contains("injected crash"))
        );
        // Same address, fresh state: the local count restarted.
        let after = router
            .request(
                me.clone(),
                a.clone(),
                Message::DcNote(DcNote::ClientChange),
                1_000,
            )
            .await;
        assert!(
            matches!(after, Err(ActorError::Failed(_, Failure::Cib(CibError::Refused(ref r)))) if r == "local=1"),
            "{after:?}"
        );
        // Another's "task panicked" is not ours: no restart, no answer.
        let foreign = router
            .request(
                me.clone(),
                a.clone(),
                Message::TaskPanicked("not a's".into()),
                100,
            )
            .await;
        assert!(
            matches!(foreign, Err(ActorError::Timeout(..))),
            "{foreign:?}"
        );
        let snapshot = tree.snapshot();
        let a_node = snapshot.children.iter().find(|c| c.name == "a").unwrap();
        assert_eq!(a_node.restarts, 2);
        assert_eq!(a_node.last_failure.as_deref(), Some("injected crash"));
        // one_for_all: b was restarted with a, without having crashed.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let b_node = tree
            .snapshot()
            .children
            .into_iter()
            .find(|c| c.name == "b")
            .unwrap();
        assert_eq!(b_node.restarts, 2);
        assert!(b_node.last_failure.unwrap().contains("a crashed"));
        // The injected crash never reaches the behaviour.
        assert_eq!(seen.load(Ordering::Relaxed), 3);
    }

    #[actix_rt::test]
    async fn unknown_actor_and_timeouts_fail_back_to_the_sender() {
        let router = Router::new("n1");
        let me = router.local_ref("test");
        let missing = router
            .request(me.clone(), router.local_ref("nope"), Message::Tick, 100)
            .await;
        assert!(matches!(missing, Err(ActorError::NoSuchActor(n)) if n == "nope"));
        let remote = router
            .request(me, ActorRef::new("n9", "cib"), Message::Tick, 100)
            .await;
        assert!(matches!(remote, Err(ActorError::Unreachable(n)) if n == "n9"));
    }
}
