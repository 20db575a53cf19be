//! MembershipActor and BusActor: the actor faces of the transport.
//!
//! The transport's own thread sends and receives heartbeats and datagrams off
//! the actor threads, so a busy actor is never mistaken for a dead node.
//! The membership actor turns its view changes into cluster events (to the
//! DC actor); the bus actor answers questions about the bus (counters).

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{Envelope, Message};
use crate::transport::Bus;

pub struct MembershipActor {
    pub shared: std::sync::Arc<crate::actors::shared::NodeShared>,
}

impl Behaviour for MembershipActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        if let Message::ViewChanged(view) = envelope.body {
            tracing::info!(view = view.id, members = ?view.members, "membership view");
            *self.shared.view.write().expect("view lock") = view.clone();
            ctx.send_local("dc", Message::ViewChanged(view));
        }
    }
}

pub struct BusActor {
    pub bus: Bus,
}

impl Behaviour for BusActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        if let Message::BusStatsQuery = envelope.body {
            let stats = format!("{:?}", self.bus.stats());
            ctx.reply(&envelope, Message::BusStats { text: stats });
        }
    }
}
