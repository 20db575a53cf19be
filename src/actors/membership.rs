//! MembershipActor and BusActor: the actor faces of the transport.
//!
//! The transport's own thread sends and receives heartbeats and datagrams off
//! the actor threads, so a busy actor is never mistaken for a dead node.
//! The membership actor turns its view changes into cluster events (to the
//! DC actor); the bus actor answers questions about the bus (counters).

use crate::actors::cell::{Behaviour, CellCtx};
use crate::actors::message::{
    BusRequest, BusStatsQuery, Envelope, MembershipRequest, Message, ReportQuery,
};
use crate::transport::Bus;

pub struct MembershipActor {
    pub shared: std::sync::Arc<crate::actors::shared::NodeShared>,
}

impl Behaviour for MembershipActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        match envelope.body {
            Message::Membership(MembershipRequest::Report(ReportQuery {
                from_epoch_s,
                to_epoch_s,
            })) => {
                // Only a member's daemon asks (the router checks the sender).
                let shared = std::sync::Arc::clone(&self.shared);
                ctx.spawn_answer::<ReportQuery, _>(&envelope, async move {
                    Ok(crate::actors::report::local_part(&shared, from_epoch_s, to_epoch_s).await)
                });
            }
            Message::ViewChanged(view) => {
                tracing::info!(view = view.id, members = ?view.members, "membership view");
                let before = std::mem::replace(
                    &mut *self.shared.view.write().expect("view lock"),
                    view.clone(),
                );
                self.raise_node_alerts(&before.members, &view.members);
                ctx.send_local("dc", Message::ViewChanged(view));
            }
            other => tracing::debug!(?other, "membership: ignored"),
        }
    }
}

impl MembershipActor {
    /// Every node tells its alert agents who joined (`member`) and who was
    /// lost (`lost`), as each Pacemaker controller does.
    fn raise_node_alerts(&self, before: &[String], after: &[String]) {
        let cib = self.shared.cib();
        let changes = after
            .iter()
            .filter(|n| !before.contains(n))
            .map(|n| (n, "member"))
            .chain(
                before
                    .iter()
                    .filter(|n| !after.contains(n))
                    .map(|n| (n, "lost")),
            );
        for (node, state) in changes {
            self.shared
                .raise_alert(crate::model::cib::alerts::AlertEvent::Node {
                    node: node.clone(),
                    node_id: crate::model::cib::alerts::node_id(&cib, node),
                    state: state.to_string(),
                });
        }
    }
}

pub struct BusActor {
    pub bus: Bus,
}

impl Behaviour for BusActor {
    fn handle(&mut self, envelope: Envelope, ctx: &mut CellCtx<'_>) {
        match envelope.body {
            Message::Bus(BusRequest::Stats(BusStatsQuery)) => {
                let stats = format!("{:?}", self.bus.stats());
                ctx.answer::<BusStatsQuery>(&envelope, Ok(stats));
            }
            other => tracing::debug!(?other, "bus: ignored"),
        }
    }
}
