//! One node's transport as a state machine: datagrams, commands and ticks in;
//! sealed datagrams and bus events out.
//!
//! Why a state machine: the same logic must run over real UDP sockets and
//! over the simulated network, and a failing simulation must replay from its
//! seed. So [`Node`] owns no socket, no clock and no randomness: the caller
//! passes the time ([`Now`]) and the incarnation, hands it datagrams, and
//! sends the [`Output`]s it produces. It composes the pure pieces: `auth`
//! (seal/open), `replay`, `membership`, `reliable` and `fragment`.
//!
//! Rules this module adds on top of them:
//! - a datagram is checked in the order size, authentication, freshness of
//!   its timestamp (`max_clock_skew_ms`), replay window; each refusal counts;
//! - a heartbeat proves liveness only when it echoes our own current
//!   incarnation, so a heartbeat recorded before we (re)started cannot keep a
//!   dead node in our view; hearing a new peer triggers an early heartbeat so
//!   joins take one round trip, not one interval;
//! - reliable data is accepted only from current members, addressed to our
//!   current incarnation, and only while fewer than `event_backlog_max`
//!   messages wait for the layer above (otherwise it is not acked and the
//!   sender retransmits: backpressure, not loss);
//! - a send stream is reset (new epoch) only when its peer restarts, says
//!   goodbye, or stops acknowledging (`retransmits_max`); the peer then sees
//!   the epoch change and, if it had not seen us leave, reports a leave+join.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::auth::{OpenError, Opener, Sealer};
use super::frame::{Ack, Data, Frame, Plain, DATA_HEADER_BYTES, HEARTBEAT_SEEN_MAX};
use super::membership::{Membership, MembershipView};
use super::reliable::{Received, RecvLink, SendLink};
use super::replay::{ReplayGuard, Verdict};
use super::stats::Counters;
use super::{BusEvent, TransportConfig, TransportError, TransportLimits};

/// The time as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic ms, for timeouts.
    pub mono_ms: u64,
    /// Wall clock ms since the Unix epoch, for datagram timestamps.
    pub wall_ms: u64,
}

/// A sealed datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// To one node, at its known address.
    ToNode { node: String, datagram: Vec<u8> },
    /// To every peer (multicast group, or each configured and learned peer).
    ToAll { datagram: Vec<u8> },
}

/// One node's transport state.
pub struct Node {
    local: String,
    incarnation: u64,
    heartbeat_interval_ms: u64,
    heartbeat_timeout_ms: u64,
    limits: TransportLimits,
    fragment_bytes: usize,
    sealer: Sealer,
    opener: Opener,
    replay: ReplayGuard,
    membership: Membership,
    /// Peers heard (authenticated, fresh) recently: incarnation, last heard.
    heard: BTreeMap<String, (u64, u64)>,
    send_links: BTreeMap<String, SendLink>,
    recv_links: BTreeMap<String, RecvLink>,
    /// Members of the last view handed upward.
    last_members: BTreeSet<String>,
    next_epoch: u64,
    next_heartbeat_ms: u64,
    heartbeat_soon: bool,
    outputs: Vec<Output>,
    events: VecDeque<BusEvent>,
    /// Messages (not views) among `events`.
    queued_messages: usize,
    stats: Arc<Counters>,
    /// Peers cut off by a chaos test.
    blocked: std::collections::BTreeSet<String>,
}

impl Node {
    pub(crate) fn new(
        cfg: &TransportConfig,
        incarnation: u64,
        now: Now,
        stats: Arc<Counters>,
    ) -> Result<Node, TransportError> {
        cfg.validate()?;
        let sealer = Sealer::new(&cfg.authkey, &cfg.cluster_name, &cfg.node_name, incarnation);
        let fragment_bytes = cfg
            .limits
            .max_datagram_bytes
            .checked_sub(sealer.overhead_bytes() + DATA_HEADER_BYTES)
            .filter(|bytes| *bytes >= 64)
            .ok_or_else(|| TransportError::Config("max_datagram_bytes too small".into()))?;
        let membership = Membership::new(
            &cfg.node_name,
            cfg.heartbeat_timeout_ms,
            cfg.expected_votes,
            cfg.two_node,
        )
        .with_wait_for_all(cfg.wait_for_all);
        let mut node = Node {
            local: cfg.node_name.clone(),
            incarnation,
            heartbeat_interval_ms: cfg.heartbeat_interval_ms,
            heartbeat_timeout_ms: cfg.heartbeat_timeout_ms,
            limits: cfg.limits.clone(),
            fragment_bytes,
            sealer,
            opener: Opener::new(&cfg.authkey, &cfg.cluster_name),
            replay: ReplayGuard::default(),
            last_members: membership.view().members.clone(),
            membership,
            heard: BTreeMap::new(),
            send_links: BTreeMap::new(),
            recv_links: BTreeMap::new(),
            next_epoch: 1,
            next_heartbeat_ms: now.mono_ms,
            heartbeat_soon: true,
            outputs: Vec::new(),
            events: VecDeque::new(),
            queued_messages: 0,
            stats,
            blocked: Default::default(),
        };
        let view = node.membership.view().clone();
        node.events.push_back(BusEvent::View(view));
        Ok(node)
    }

    pub fn local_node(&self) -> &str {
        &self.local
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn view(&self) -> &MembershipView {
        self.membership.view()
    }

    /// Datagrams to send, in order.
    /// Chaos testing: datagrams from these nodes are dropped.
    pub fn set_blocked(&mut self, nodes: std::collections::BTreeSet<String>) {
        self.blocked = nodes;
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event for the layer above.
    pub fn pop_event(&mut self) -> Option<BusEvent> {
        let event = self.events.pop_front()?;
        if matches!(event, BusEvent::Message { .. }) {
            self.queued_messages -= 1;
        }
        Some(event)
    }

    /// The next event if it is a message (not a view): its sender and payload.
    pub fn pop_message(&mut self) -> Option<(String, Vec<u8>)> {
        if !matches!(self.events.front(), Some(BusEvent::Message { .. })) {
            return None;
        }
        match self.pop_event() {
            Some(BusEvent::Message { from, payload }) => Some((from, payload)),
            _ => None,
        }
    }

    /// When [`Node::tick`] next has something to do (monotonic ms): a
    /// heartbeat, a peer's timeout, a retransmission.
    pub fn next_due_ms(&self) -> u64 {
        let timeout_ms = self.heartbeat_timeout_ms;
        let heard = self
            .heard
            .values()
            .map(|(_, heard_ms)| heard_ms + timeout_ms);
        let links = self.send_links.values().map(SendLink::next_deadline_ms);
        heard
            .chain(links)
            .chain(self.membership.next_expiry_ms())
            .fold(self.next_heartbeat_ms, u64::min)
    }

    /// Handles one received datagram (decrypted in place). Returns the
    /// authenticated sender, so the caller may learn its address.
    pub fn on_datagram(&mut self, datagram: &mut [u8], now: Now) -> Option<String> {
        Counters::add(&self.stats.datagrams_received, 1);
        if datagram.len() > self.limits.max_datagram_bytes {
            Counters::add(&self.stats.dropped_oversized, 1);
            return None;
        }
        let opened = match self.opener.open(datagram) {
            Ok(opened) => opened,
            Err(error) => {
                let counter = match error {
                    OpenError::Truncated => &self.stats.dropped_truncated,
                    OpenError::Malformed => &self.stats.dropped_malformed,
                    OpenError::WrongKey => &self.stats.dropped_wrong_key,
                    OpenError::Forged => &self.stats.dropped_forged,
                };
                Counters::add(counter, 1);
                return None;
            }
        };
        if self.blocked.contains(opened.sender) {
            Counters::add(&self.stats.dropped_blocked, 1);
            return None;
        }
        if opened.sender == self.local {
            if opened.incarnation != self.incarnation {
                // Another node with our name, or our previous self's datagrams.
                Counters::add(&self.stats.dropped_misaddressed, 1);
            }
            // Otherwise our own multicast, looped back.
            return None;
        }
        if opened.plain.timestamp_ms.abs_diff(now.wall_ms) > self.limits.max_clock_skew_ms {
            Counters::add(&self.stats.dropped_stale, 1);
            return None;
        }
        if self
            .replay
            .check(opened.sender, opened.incarnation, opened.counter)
            != Verdict::Fresh
        {
            Counters::add(&self.stats.dropped_replayed, 1);
            return None;
        }
        let sender = opened.sender.to_owned();
        let incarnation = opened.incarnation;
        match opened.plain.frame {
            Frame::Heartbeat { seen } => self.on_heartbeat(&sender, incarnation, &seen, now),
            Frame::Goodbye => self.on_goodbye(&sender, incarnation),
            Frame::Data(data) => self.on_data(&sender, incarnation, data),
            Frame::Ack(ack) => self.on_ack(&sender, incarnation, &ack, now.mono_ms),
        }
        Some(sender)
    }

    fn on_heartbeat(&mut self, sender: &str, incarnation: u64, seen: &[u64], now: Now) {
        match self.heard.get(sender) {
            Some((known, _)) if *known == incarnation => {}
            Some(_) => {
                // Restarted: whatever we were exchanging with its old self is void.
                self.reset_links(sender);
                self.heartbeat_soon = true;
            }
            None if self.heard.len() >= HEARTBEAT_SEEN_MAX => {
                Counters::add(&self.stats.dropped_misaddressed, 1);
                return;
            }
            None => self.heartbeat_soon = true,
        }
        self.heard
            .insert(sender.to_owned(), (incarnation, now.mono_ms));
        if seen.contains(&self.incarnation) {
            let views = self
                .membership
                .on_heartbeat(sender, incarnation, now.mono_ms);
            self.push_views(views);
            // A stream opened to its old self while the restart was unconfirmed.
            let member = self.membership.incarnation_of(sender);
            if self
                .send_links
                .get(sender)
                .is_some_and(|l| Some(l.to_incarnation) != member)
            {
                self.reset_links(sender);
            }
        }
    }

    fn on_goodbye(&mut self, sender: &str, incarnation: u64) {
        if self.heard.get(sender).map(|h| h.0) == Some(incarnation) {
            self.heard.remove(sender);
            self.reset_links(sender);
        }
        let views = self.membership.on_goodbye(sender, incarnation);
        self.push_views(views);
    }

    fn on_data(&mut self, sender: &str, incarnation: u64, data: Data) {
        if data.to_incarnation != self.incarnation
            || self.membership.incarnation_of(sender) != Some(incarnation)
        {
            Counters::add(&self.stats.dropped_misaddressed, 1);
            return;
        }
        if self.queued_messages >= self.limits.event_backlog_max {
            Counters::add(&self.stats.dropped_backpressure, 1);
            return;
        }
        let max_message_bytes = self.limits.max_message_bytes;
        let link = self
            .recv_links
            .entry(sender.to_owned())
            .or_insert_with(|| RecvLink::new(incarnation, data.epoch, max_message_bytes));
        if link.from_incarnation != incarnation {
            *link = RecvLink::new(incarnation, data.epoch, max_message_bytes);
        }
        let mut delivered = Vec::new();
        match link.on_data(data, &self.limits.reliable, &mut delivered) {
            Received::Restarted => {
                let views = self.membership.bounce(sender);
                self.push_views(views);
            }
            Received::BadFragment(_) => Counters::add(&self.stats.dropped_bad_fragment, 1),
            _ => {}
        }
        for payload in delivered {
            self.deliver(sender, payload);
        }
    }

    fn on_ack(&mut self, sender: &str, incarnation: u64, ack: &Ack, now_ms: u64) {
        if ack.to_incarnation != self.incarnation {
            Counters::add(&self.stats.dropped_misaddressed, 1);
            return;
        }
        if let Some(link) = self.send_links.get_mut(sender) {
            if link.to_incarnation == incarnation && link.epoch == ack.epoch {
                link.on_ack(ack, now_ms);
            }
        }
    }

    fn deliver(&mut self, from: &str, payload: Vec<u8>) {
        Counters::add(&self.stats.received, 1);
        self.queued_messages += 1;
        self.events.push_back(BusEvent::Message {
            from: from.to_owned(),
            payload,
        });
    }

    /// Hands views upward; a peer that left may later restart its stream
    /// without that being news.
    fn push_views(&mut self, views: Vec<MembershipView>) {
        for view in views {
            for gone in self.last_members.difference(&view.members) {
                if let Some(link) = self.recv_links.get_mut(gone) {
                    link.forget_progress();
                }
            }
            self.last_members = view.members.clone();
            Counters::add(&self.stats.view_changes, 1);
            self.events.push_back(BusEvent::View(view));
        }
    }

    fn reset_links(&mut self, peer: &str) {
        if let Some(link) = self.send_links.remove(peer) {
            if !link.is_idle() {
                Counters::add(&self.stats.abandoned, 1);
            }
        }
        self.recv_links.remove(peer);
    }

    fn check_size(&self, payload: &[u8]) -> Result<(), TransportError> {
        if payload.len() > self.limits.max_message_bytes {
            return Err(TransportError::MessageTooLarge {
                bytes: payload.len(),
                max_message_bytes: self.limits.max_message_bytes,
            });
        }
        Ok(())
    }

    fn check_backlog(&self) -> Result<(), TransportError> {
        if self.queued_messages >= self.limits.event_backlog_max {
            return Err(TransportError::QueueFull {
                node: self.local.clone(),
                limit: "event_backlog_max",
            });
        }
        Ok(())
    }

    /// The send stream to a member, created (in a new epoch) if needed.
    fn link_to(&mut self, to: &str) -> Result<&mut SendLink, TransportError> {
        let incarnation = self
            .membership
            .incarnation_of(to)
            .ok_or_else(|| TransportError::NotMember(to.to_owned()))?;
        if self.send_links.get(to).map(|l| l.to_incarnation) != Some(incarnation) {
            let link = SendLink::new(incarnation, self.next_epoch);
            self.next_epoch += 1;
            if let Some(stale) = self.send_links.insert(to.to_owned(), link) {
                if !stale.is_idle() {
                    Counters::add(&self.stats.abandoned, 1);
                }
            }
        }
        Ok(self.send_links.get_mut(to).expect("inserted above"))
    }

    fn queue_full(to: &str) -> TransportError {
        TransportError::QueueFull {
            node: to.to_owned(),
            limit: "send_queue_bytes_max",
        }
    }

    /// Queues `payload` for reliable, ordered delivery to `to` (a member, or
    /// this node). Call [`Node::flush`] to send.
    pub fn send(&mut self, to: &str, payload: Vec<u8>) -> Result<(), TransportError> {
        self.check_size(&payload)?;
        if to == self.local {
            self.check_backlog()?;
            Counters::add(&self.stats.sent, 1);
            let local = self.local.clone();
            self.deliver(&local, payload);
            return Ok(());
        }
        let fragment_bytes = self.fragment_bytes;
        let limits = self.limits.reliable.clone();
        self.link_to(to)?
            .push(&payload, fragment_bytes, &limits)
            .map_err(|_| Self::queue_full(to))?;
        Counters::add(&self.stats.sent, 1);
        Ok(())
    }

    /// Queues `payload` to every member of the current view, this node
    /// included; all or none.
    pub fn broadcast(&mut self, payload: Vec<u8>) -> Result<(), TransportError> {
        self.check_size(&payload)?;
        let members: Vec<String> = self.membership.view().members.iter().cloned().collect();
        for member in &members {
            if *member == self.local {
                self.check_backlog()?;
            } else if let Some(link) = self.send_links.get(member) {
                link.fits(payload.len(), &self.limits.reliable)
                    .map_err(|_| Self::queue_full(member))?;
            }
        }
        for member in &members {
            self.send(member, payload.clone())?;
        }
        Ok(())
    }

    /// Time passes: heartbeats, timeouts, retransmissions.
    pub fn tick(&mut self, now: Now) {
        if now.mono_ms >= self.next_heartbeat_ms {
            self.heartbeat_soon = true;
        }
        let views = self.membership.tick(now.mono_ms);
        self.push_views(views);
        let timeout_ms = self.heartbeat_timeout_ms;
        self.heard
            .retain(|_, (_, heard_ms)| now.mono_ms.saturating_sub(*heard_ms) < timeout_ms);
        self.flush(now);
    }

    /// Sends what is due: acks, data within the windows, an early heartbeat.
    pub fn flush(&mut self, now: Now) {
        let mut frames = Vec::new();
        for (peer, link) in &mut self.recv_links {
            if let Some(ack) = link.take_ack() {
                frames.push((peer.clone(), Frame::Ack(ack)));
            }
        }
        let mut failed = Vec::new();
        let mut data = Vec::new();
        for (peer, link) in &mut self.send_links {
            match link.poll(now.mono_ms, &self.limits.reliable, &mut data) {
                Ok(retransmits) => Counters::add(&self.stats.retransmits, retransmits),
                Err(_) => failed.push(peer.clone()),
            }
            frames.extend(data.drain(..).map(|d| (peer.clone(), Frame::Data(d))));
        }
        for (node, frame) in frames {
            let datagram = self.seal(frame, now);
            self.outputs.push(Output::ToNode { node, datagram });
        }
        for peer in failed {
            // Only our stream to it: its stream to us may be fine, and a
            // receive link cannot rejoin a stream midway.
            self.send_links.remove(&peer);
            Counters::add(&self.stats.abandoned, 1);
            let views = self.membership.remove(&peer);
            self.push_views(views);
        }
        if self.heartbeat_soon {
            self.heartbeat(now);
        }
    }

    fn heartbeat(&mut self, now: Now) {
        let seen = self
            .heard
            .values()
            .map(|(incarnation, _)| *incarnation)
            .collect();
        let datagram = self.seal(Frame::Heartbeat { seen }, now);
        self.outputs.push(Output::ToAll { datagram });
        Counters::add(&self.stats.heartbeats_sent, 1);
        self.heartbeat_soon = false;
        // The next one on the wall clock's grid of intervals: the nodes of
        // a cluster heartbeat at about the same instants, so each reads its
        // peers' heartbeats in a few bursts rather than waking for each.
        let interval_ms = self.heartbeat_interval_ms;
        self.next_heartbeat_ms = now.mono_ms + interval_ms - now.wall_ms % interval_ms;
    }

    /// Tells every peer we are leaving, so they need not wait for a timeout.
    pub fn goodbye(&mut self, now: Now) {
        let datagram = self.seal(Frame::Goodbye, now);
        self.outputs.push(Output::ToAll { datagram });
    }

    fn seal(&mut self, frame: Frame, now: Now) -> Vec<u8> {
        let datagram = self.sealer.seal(&Plain {
            timestamp_ms: now.wall_ms,
            frame,
        });
        debug_assert!(datagram.len() <= self.limits.max_datagram_bytes);
        datagram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::AuthKey;

    const WALL_MS: u64 = 1_800_000_000_000;

    fn at(ms: u64) -> Now {
        Now {
            mono_ms: ms,
            wall_ms: WALL_MS + ms,
        }
    }

    fn node(name: &str, incarnation: u64) -> Node {
        node_with(name, incarnation, TransportLimits::default())
    }

    fn node_with(name: &str, incarnation: u64, limits: TransportLimits) -> Node {
        let mut cfg = TransportConfig::new("c", name, AuthKey::from_bytes([9; 32]));
        cfg.expected_votes = 2;
        cfg.limits = limits;
        Node::new(&cfg, incarnation, at(0), Arc::default()).unwrap()
    }

    fn datagrams(node: &mut Node) -> Vec<Vec<u8>> {
        node.take_outputs()
            .into_iter()
            .map(|output| match output {
                Output::ToNode { datagram, .. } | Output::ToAll { datagram } => datagram,
            })
            .collect()
    }

    /// Hands every pending datagram of `from` to `to`; returns them.
    fn carry(from: &mut Node, to: &mut Node, ms: u64) -> Vec<Vec<u8>> {
        let sent = datagrams(from);
        for datagram in &sent {
            to.on_datagram(&mut datagram.clone(), at(ms));
            to.flush(at(ms));
        }
        sent
    }

    fn members(node: &Node) -> Vec<&str> {
        node.view().members.iter().map(String::as_str).collect()
    }

    fn joined() -> (Node, Node) {
        joined_with(TransportLimits::default())
    }

    fn joined_with(limits: TransportLimits) -> (Node, Node) {
        let mut a = node_with("a", 10, limits.clone());
        let mut b = node_with("b", 20, limits);
        a.tick(at(0));
        carry(&mut a, &mut b, 0);
        assert_eq!(
            members(&b),
            ["b"],
            "a heartbeat that does not echo b proves nothing yet"
        );
        carry(&mut b, &mut a, 1);
        assert_eq!(members(&a), ["a", "b"]);
        carry(&mut a, &mut b, 2);
        assert_eq!(members(&b), ["a", "b"]);
        assert!(a.view().quorate && b.view().quorate);
        (a, b)
    }

    #[test]
    fn join_takes_one_round_trip_of_echoed_heartbeats() {
        joined();
    }

    #[test]
    fn replayed_stale_and_oversized_datagrams_are_counted() {
        let (mut a, mut b) = joined();
        a.tick(at(200));
        let heartbeat = datagrams(&mut a).pop().unwrap();
        assert!(b.on_datagram(&mut heartbeat.clone(), at(200)).is_some());
        assert!(b.on_datagram(&mut heartbeat.clone(), at(201)).is_none());
        assert_eq!(b.stats.snapshot().dropped_replayed, 1);

        a.tick(at(300));
        let mut late = datagrams(&mut a).pop().unwrap();
        let skewed = Now {
            mono_ms: 300,
            wall_ms: WALL_MS + 300 + 30_001,
        };
        assert!(b.on_datagram(&mut late, skewed).is_none());
        assert_eq!(b.stats.snapshot().dropped_stale, 1);

        assert!(b.on_datagram(&mut vec![0; 1401], at(300)).is_none());
        assert_eq!(b.stats.snapshot().dropped_oversized, 1);
    }

    #[test]
    fn a_restarted_receiver_is_not_fooled_by_old_datagrams() {
        let (mut a, b) = joined();
        a.send("b", b"before restart".to_vec()).unwrap();
        a.tick(at(150));
        let recorded = datagrams(&mut a);
        assert_eq!(recorded.len(), 2, "data and heartbeat");

        // b restarts; an attacker replays what a sent to the old b.
        let mut b2 = node("b", 21);
        for datagram in &recorded {
            b2.on_datagram(&mut datagram.clone(), at(160));
        }
        assert_eq!(members(&b2), ["b"], "old heartbeats echo the old b only");
        assert!(!b2.has_events() || matches!(b2.pop_event(), Some(BusEvent::View(_))));
        assert!(b2.pop_event().is_none(), "no message delivered");
        assert_eq!(b2.stats.snapshot().dropped_misaddressed, 1);
        drop(b);
    }

    #[test]
    fn data_waits_for_membership_and_is_acked() {
        let (mut a, mut b) = joined();
        while b.pop_event().is_some() {}
        assert!(matches!(
            a.send("c", vec![]),
            Err(TransportError::NotMember(_))
        ));
        a.send("b", b"one".to_vec()).unwrap();
        a.send("b", b"two".to_vec()).unwrap();
        a.flush(at(5));
        carry(&mut a, &mut b, 5);
        let got: Vec<_> = std::iter::from_fn(|| b.pop_event()).collect();
        assert_eq!(
            got,
            [
                BusEvent::Message {
                    from: "a".into(),
                    payload: b"one".to_vec()
                },
                BusEvent::Message {
                    from: "a".into(),
                    payload: b"two".to_vec()
                }
            ]
        );
        carry(&mut b, &mut a, 6);
        assert!(a.send_links["b"].is_idle(), "acked");
        assert_eq!(a.stats.snapshot().sent, 2);
        assert_eq!(b.stats.snapshot().received, 2);
    }

    #[test]
    fn a_failed_send_stream_keeps_the_receive_stream() {
        let mut limits = TransportLimits::default();
        limits.reliable.retransmits_max = 2;
        let (mut a, mut b) = joined_with(limits);
        while a.pop_event().is_some() {}
        // b -> a works throughout; a -> b data arrives but b's acks are lost.
        let mut now = 10;
        let mut from_b = 0;
        let mut got = Vec::new();
        a.send("b", b"lost ack".to_vec()).unwrap();
        while a.send_links.contains_key("b") {
            now += 10;
            assert!(now < 10_000, "a never gave up");
            b.send("a", format!("{from_b}").into_bytes()).unwrap();
            from_b += 1;
            a.tick(at(now));
            b.tick(at(now));
            carry(&mut a, &mut b, now);
            let mut opener = Opener::new(&AuthKey::from_bytes([9; 32]), "c");
            for datagram in datagrams(&mut b) {
                let frame = opener.open(&mut datagram.clone()).unwrap().plain.frame;
                if !matches!(frame, Frame::Ack(_)) {
                    a.on_datagram(&mut datagram.clone(), at(now));
                }
            }
            a.flush(at(now));
            got.extend(std::iter::from_fn(|| a.pop_event()));
        }
        // a gave up on its stream to b; b's stream to a carries on, in order.
        for _ in 0..30 {
            now += 10;
            b.send("a", format!("{from_b}").into_bytes()).unwrap();
            from_b += 1;
            a.tick(at(now));
            b.tick(at(now));
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
            got.extend(std::iter::from_fn(|| a.pop_event()));
        }
        assert!(a.view().members.contains("b"), "b is back in a's view");
        let numbers: Vec<usize> = got
            .iter()
            .filter_map(|e| match e {
                BusEvent::Message { payload, .. } => {
                    Some(std::str::from_utf8(payload).unwrap().parse().unwrap())
                }
                BusEvent::View(_) => None,
            })
            .collect();
        assert_eq!(numbers, (0..from_b).collect::<Vec<_>>());
        assert!(a.stats.snapshot().abandoned >= 1);
    }

    proptest::proptest! {
        /// Any frame an authenticated peer may send (even a buggy one, with
        /// absurd numbers) is handled without a panic.
        #[test]
        fn absurd_frames_from_a_member_never_panic(
            to_incarnation in proptest::prelude::any::<u64>(),
            epoch in proptest::prop_oneof![0u64..3, proptest::prelude::any::<u64>()],
            seq in proptest::prelude::any::<u64>(),
            first in proptest::prelude::any::<Option<u32>>(),
            last in proptest::prelude::any::<bool>(),
            cumulative in proptest::prop_oneof![0u64..300, u64::MAX - 70..=u64::MAX, proptest::prelude::any::<u64>()],
            selective in proptest::prelude::any::<u64>(),
            seen in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..64),
        ) {
            let (mut a, mut b) = joined();
            b.send("a", vec![1; 3000]).unwrap();
            b.flush(at(5));
            let mut sealer = Sealer::new(&AuthKey::from_bytes([9; 32]), "c", "a", 10);
            // Skip the counters a already used with b.
            for _ in 0..1000 {
                sealer.seal(&Plain { timestamp_ms: 0, frame: Frame::Goodbye });
            }
            for to_incarnation in [to_incarnation, 20] {
                let frames = [
                    Frame::Data(Data { to_incarnation, epoch, seq, first, last, bytes: vec![1, 2, 3] }),
                    Frame::Ack(Ack { to_incarnation, epoch, cumulative, selective }),
                    Frame::Heartbeat { seen: seen.clone() },
                ];
                for frame in frames {
                    let mut datagram = sealer.seal(&Plain { timestamp_ms: WALL_MS + 10, frame });
                    b.on_datagram(&mut datagram, at(10));
                    b.flush(at(10));
                }
            }
            a.send("b", vec![7; 5000]).unwrap();
            a.flush(at(11));
            carry(&mut a, &mut b, 11);
            carry(&mut b, &mut a, 12);
            a.tick(at(13));
        }
    }
}
