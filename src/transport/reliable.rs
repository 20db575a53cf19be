//! Reliable, ordered delivery per sender: sequence numbers, acks, retransmission.
//!
//! Why our own rather than TCP: one UDP socket carries heartbeats, data and
//! acks with one authentication scheme, so a slow stream never delays a
//! heartbeat, there is no connection to set up after a partition heals, and
//! every limit (window, queue, retries) is ours to name. The state machines
//! here are pure: the caller passes `now_ms` and sends what they return.
//!
//! A [`SendLink`] numbers fragments from 1 within an *epoch*, keeps at most
//! `window_packets` unacknowledged, retransmits each after a timeout that
//! doubles up to `rto_max_ms`, and gives up after `retransmits_max` (the
//! caller then drops the peer from the view). The first timeout follows the
//! round trips measured on the link (RFC 6298's smoothed estimate, never
//! below `rto_initial_ms`): a peer that answers slowly, because its machine
//! is busy, is not sent every packet again and again, which would only add
//! to the load that slows it. A [`RecvLink`] buffers what
//! arrives out of order within the window, delivers in order, reassembles
//! fragments, and answers with a cumulative ack plus a 64-bit selective map.
//!
//! A stream is tied to both ends' incarnations; when the sender gives up on a
//! peer (or the peer leaves its view) it starts a new epoch, and a receiver
//! that sees the epoch change while it had state knows messages may be lost.
//!
//! ```
//! use systole::transport::reliable::{RecvLink, ReliableLimits, SendLink};
//! let limits = ReliableLimits::default();
//! let mut tx = SendLink::new(9, 1);
//! let mut rx = RecvLink::new(5, 1, 1 << 20);
//! tx.push(b"hello", 1000, &limits).unwrap();
//! let mut wire = Vec::new();
//! tx.poll(0, &limits, &mut wire).unwrap();
//! let mut delivered = Vec::new();
//! rx.on_data(wire.pop().unwrap(), &limits, &mut delivered);
//! assert_eq!(delivered, [b"hello".to_vec()]);
//! tx.on_ack(&rx.take_ack().unwrap(), 1);
//! assert!(tx.is_idle());
//! ```

use std::collections::{BTreeMap, VecDeque};

use super::fragment::{split, FragmentError, Reassembler};
use super::frame::{Ack, Data};

/// Limits of the reliable layer, per peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReliableLimits {
    /// Unacknowledged packets in flight to one peer; also the receive window.
    pub window_packets: usize,
    /// First retransmission timeout.
    pub rto_initial_ms: u64,
    /// Largest retransmission timeout after doubling.
    pub rto_max_ms: u64,
    /// Retransmissions of one packet before the link is declared failed.
    pub retransmits_max: u32,
    /// Bytes queued or in flight to one peer before `send` is refused.
    pub send_queue_bytes_max: usize,
}

impl Default for ReliableLimits {
    fn default() -> Self {
        ReliableLimits {
            window_packets: 256,
            rto_initial_ms: 50,
            rto_max_ms: 1000,
            retransmits_max: 30,
            send_queue_bytes_max: 64 << 20,
        }
    }
}

/// The send queue would exceed `send_queue_bytes_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub queued_bytes: usize,
}

/// A packet was retransmitted `retransmits_max` times without an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFailed;

#[derive(Debug)]
struct Packet {
    seq: u64,
    first: Option<u32>,
    last: bool,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct InFlight {
    packet: Packet,
    sent_at_ms: u64,
    rto_ms: u64,
    retransmits: u32,
}

/// The round-trip time of a link as RFC 6298 estimates it, from acks of
/// packets sent once (Karn: a retransmitted packet's ack could answer
/// either copy, so it is no sample; the backed-off timeout is kept for new
/// packets until a packet sent once is acknowledged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RoundTrip {
    /// Smoothed round trip, once a sample was taken.
    smoothed_ms: Option<u64>,
    /// Its mean deviation.
    variation_ms: u64,
    /// The timeout a retransmission backed off to, since the last sample.
    backed_off_ms: u64,
}

impl RoundTrip {
    /// A packet timed out and its timeout doubled to `rto_ms`.
    fn back_off(&mut self, rto_ms: u64) {
        self.backed_off_ms = self.backed_off_ms.max(rto_ms);
    }

    fn sample(&mut self, rtt_ms: u64) {
        self.backed_off_ms = 0;
        match self.smoothed_ms {
            None => {
                self.smoothed_ms = Some(rtt_ms);
                self.variation_ms = rtt_ms / 2;
            }
            Some(smoothed) => {
                // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|; SRTT = 7/8 SRTT + 1/8 R.
                self.variation_ms = (3 * self.variation_ms + smoothed.abs_diff(rtt_ms)) / 4;
                self.smoothed_ms = Some((7 * smoothed + rtt_ms) / 8);
            }
        }
    }

    /// The first retransmission timeout of a new packet.
    fn timeout_ms(&self, limits: &ReliableLimits) -> u64 {
        let estimate = match self.smoothed_ms {
            None => limits.rto_initial_ms,
            Some(smoothed) => smoothed + (4 * self.variation_ms).max(1),
        };
        estimate.max(self.backed_off_ms).clamp(
            limits.rto_initial_ms,
            limits.rto_max_ms.max(limits.rto_initial_ms),
        )
    }
}

/// The sending half of a stream to one peer incarnation.
#[derive(Debug)]
pub struct SendLink {
    pub to_incarnation: u64,
    pub epoch: u64,
    next_seq: u64,
    queue: VecDeque<Packet>,
    in_flight: BTreeMap<u64, InFlight>,
    queued_bytes: usize,
    /// No retransmission is due before this.
    next_deadline_ms: u64,
    round_trip: RoundTrip,
}

impl SendLink {
    pub fn new(to_incarnation: u64, epoch: u64) -> Self {
        SendLink {
            to_incarnation,
            epoch,
            next_seq: 1,
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            queued_bytes: 0,
            next_deadline_ms: u64::MAX,
            round_trip: RoundTrip::default(),
        }
    }

    /// Bytes queued or in flight.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// No retransmission is due before this (ms; `u64::MAX`: none).
    pub fn next_deadline_ms(&self) -> u64 {
        self.next_deadline_ms
    }

    /// Nothing queued, nothing unacknowledged.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_empty()
    }

    /// Whether a message of `len` bytes fits under the queue limit.
    pub fn fits(&self, len: usize, limits: &ReliableLimits) -> Result<(), QueueFull> {
        if self.queued_bytes + len > limits.send_queue_bytes_max {
            return Err(QueueFull {
                queued_bytes: self.queued_bytes,
            });
        }
        Ok(())
    }

    /// Queues one message, cut into fragments of `fragment_bytes`.
    pub fn push(
        &mut self,
        payload: &[u8],
        fragment_bytes: usize,
        limits: &ReliableLimits,
    ) -> Result<(), QueueFull> {
        self.fits(payload.len(), limits)?;
        for (first, last, bytes) in split(payload, fragment_bytes) {
            self.queue.push_back(Packet {
                seq: self.next_seq,
                first,
                last,
                bytes: bytes.to_vec(),
            });
            self.next_seq += 1;
        }
        self.queued_bytes += payload.len();
        Ok(())
    }

    /// The receiver acknowledged at `now_ms`; the caller checked
    /// incarnation and epoch.
    pub fn on_ack(&mut self, ack: &Ack, now_ms: u64) {
        let mut acked: Vec<u64> = self
            .in_flight
            .range(..ack.cumulative)
            .map(|(s, _)| *s)
            .collect();
        for bit in 0..64 {
            if ack.selective & (1 << bit) != 0 {
                acked.push(ack.cumulative.saturating_add(1 + bit));
            }
        }
        for seq in acked {
            if let Some(done) = self.in_flight.remove(&seq) {
                self.queued_bytes -= done.packet.bytes.len();
                if done.retransmits == 0 {
                    self.round_trip
                        .sample(now_ms.saturating_sub(done.sent_at_ms));
                }
            }
        }
    }

    /// Packets to send at `now_ms`: due retransmissions, then new packets
    /// while the window allows. Returns how many were retransmissions.
    pub fn poll(
        &mut self,
        now_ms: u64,
        limits: &ReliableLimits,
        out: &mut Vec<Data>,
    ) -> Result<u64, LinkFailed> {
        let mut retransmits = 0;
        if now_ms >= self.next_deadline_ms {
            let mut next_deadline_ms = u64::MAX;
            let (to_incarnation, epoch) = (self.to_incarnation, self.epoch);
            for flight in self.in_flight.values_mut() {
                if now_ms >= flight.sent_at_ms + flight.rto_ms {
                    if flight.retransmits >= limits.retransmits_max {
                        return Err(LinkFailed);
                    }
                    flight.retransmits += 1;
                    flight.rto_ms = (flight.rto_ms * 2).min(limits.rto_max_ms);
                    self.round_trip.back_off(flight.rto_ms);
                    flight.sent_at_ms = now_ms;
                    retransmits += 1;
                    out.push(data(to_incarnation, epoch, &flight.packet));
                }
                next_deadline_ms = next_deadline_ms.min(flight.sent_at_ms + flight.rto_ms);
            }
            self.next_deadline_ms = next_deadline_ms;
        }
        while self.in_flight.len() < limits.window_packets {
            let Some(packet) = self.queue.pop_front() else {
                break;
            };
            out.push(data(self.to_incarnation, self.epoch, &packet));
            let flight = InFlight {
                packet,
                sent_at_ms: now_ms,
                rto_ms: self.round_trip.timeout_ms(limits),
                retransmits: 0,
            };
            self.next_deadline_ms = self.next_deadline_ms.min(now_ms + flight.rto_ms);
            self.in_flight.insert(flight.packet.seq, flight);
        }
        Ok(retransmits)
    }
}

fn data(to_incarnation: u64, epoch: u64, packet: &Packet) -> Data {
    Data {
        to_incarnation,
        epoch,
        seq: packet.seq,
        first: packet.first,
        last: packet.last,
        bytes: packet.bytes.clone(),
    }
}

/// What became of one received data packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// New, buffered or delivered.
    Accepted,
    /// Already had it (acked again).
    Duplicate,
    /// Beyond the receive window: dropped, the sender will retransmit.
    OutOfWindow,
    /// From an older epoch of the stream: dropped.
    StaleEpoch,
    /// The sender started a new epoch although this stream had state: what
    /// was in flight in the old epoch may be lost.
    Restarted,
    /// Fragments did not reassemble; the partial message was dropped.
    BadFragment(FragmentError),
}

/// The receiving half of a stream from one peer incarnation.
#[derive(Debug)]
pub struct RecvLink {
    pub from_incarnation: u64,
    epoch: u64,
    expected: u64,
    buffer: BTreeMap<u64, Data>,
    reassembler: Reassembler,
    max_message_bytes: usize,
    ack_pending: bool,
    /// Something was received since the last time the peer left our view.
    progressed: bool,
}

impl RecvLink {
    pub fn new(from_incarnation: u64, epoch: u64, max_message_bytes: usize) -> Self {
        RecvLink {
            from_incarnation,
            epoch,
            expected: 1,
            buffer: BTreeMap::new(),
            reassembler: Reassembler::new(max_message_bytes),
            max_message_bytes,
            ack_pending: false,
            progressed: false,
        }
    }

    /// The peer left our view: the layers above already know state may be
    /// lost, so a later epoch change need not be reported again.
    pub fn forget_progress(&mut self) {
        self.progressed = false;
    }

    /// Bytes held for reordering and reassembly.
    pub fn buffered_bytes(&self) -> usize {
        self.reassembler.buffered_bytes()
            + self.buffer.values().map(|d| d.bytes.len()).sum::<usize>()
    }

    /// Takes one packet; complete messages are appended to `delivered`.
    pub fn on_data(
        &mut self,
        data: Data,
        limits: &ReliableLimits,
        delivered: &mut Vec<Vec<u8>>,
    ) -> Received {
        let mut outcome = Received::Accepted;
        if data.epoch < self.epoch {
            return Received::StaleEpoch;
        }
        if data.epoch > self.epoch {
            if self.progressed {
                outcome = Received::Restarted;
            }
            *self = RecvLink::new(self.from_incarnation, data.epoch, self.max_message_bytes);
        }
        self.ack_pending = true;
        if data.seq < self.expected || self.buffer.contains_key(&data.seq) {
            return Received::Duplicate;
        }
        if data.seq - self.expected >= limits.window_packets as u64 {
            return Received::OutOfWindow;
        }
        self.progressed = true;
        self.buffer.insert(data.seq, data);
        while let Some(next) = self.buffer.remove(&self.expected) {
            self.expected += 1;
            match self.reassembler.push(next.first, next.last, &next.bytes) {
                Ok(Some(message)) => delivered.push(message),
                Ok(None) => {}
                Err(error) => outcome = Received::BadFragment(error),
            }
        }
        outcome
    }

    /// The ack to send, if anything arrived since the last one.
    pub fn take_ack(&mut self) -> Option<Ack> {
        if !std::mem::take(&mut self.ack_pending) {
            return None;
        }
        let mut selective = 0u64;
        for seq in self
            .buffer
            .range(self.expected + 1..self.expected + 65)
            .map(|(s, _)| *s)
        {
            selective |= 1 << (seq - self.expected - 1);
        }
        Some(Ack {
            to_incarnation: self.from_incarnation,
            epoch: self.epoch,
            cumulative: self.expected,
            selective,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> ReliableLimits {
        ReliableLimits {
            window_packets: 4,
            rto_initial_ms: 10,
            rto_max_ms: 40,
            retransmits_max: 3,
            send_queue_bytes_max: 1000,
        }
    }

    #[test]
    fn in_order_delivery_through_loss_and_reordering() {
        let limits = limits();
        let mut tx = SendLink::new(2, 7);
        let mut rx = RecvLink::new(1, 7, 1000);
        for i in 0..6u8 {
            tx.push(&[i; 3], 100, &limits).unwrap();
        }
        let mut wire = Vec::new();
        assert_eq!(tx.poll(0, &limits, &mut wire), Ok(0));
        assert_eq!(wire.len(), 4, "window of 4");
        assert!(wire.iter().all(|d| d.to_incarnation == 2 && d.epoch == 7));
        let mut got = Vec::new();
        // Lose seq 1, deliver 3 then 2 then a duplicate of 3.
        assert_eq!(
            rx.on_data(wire[2].clone(), &limits, &mut got),
            Received::Accepted
        );
        assert_eq!(
            rx.on_data(wire[1].clone(), &limits, &mut got),
            Received::Accepted
        );
        assert_eq!(
            rx.on_data(wire[2].clone(), &limits, &mut got),
            Received::Duplicate
        );
        assert!(got.is_empty(), "waits for seq 1");
        let ack = rx.take_ack().unwrap();
        assert_eq!((ack.cumulative, ack.selective), (1, 0b11));
        assert!(rx.take_ack().is_none());
        tx.on_ack(&ack, 0);
        wire.clear();
        assert_eq!(tx.poll(5, &limits, &mut wire), Ok(0));
        assert_eq!(wire.iter().map(|d| d.seq).collect::<Vec<_>>(), [5, 6]);
        wire.clear();
        assert_eq!(
            tx.poll(10, &limits, &mut wire),
            Ok(2),
            "seq 1 and 4 time out"
        );
        assert_eq!(wire.iter().map(|d| d.seq).collect::<Vec<_>>(), [1, 4]);
        for data in wire {
            rx.on_data(data, &limits, &mut got);
        }
        assert_eq!(got, [[0; 3], [1; 3], [2; 3], [3; 3]]);
        let ack = rx.take_ack().unwrap();
        assert_eq!(ack.cumulative, 5);
        tx.on_ack(&ack, 10);
        assert_eq!(tx.queued_bytes(), 6, "5 and 6 still in flight");
    }

    #[test]
    fn window_and_queue_limits() {
        let limits = limits();
        let mut rx = RecvLink::new(1, 1, 1000);
        let far = Data {
            to_incarnation: 1,
            epoch: 1,
            seq: 5,
            first: Some(0),
            last: true,
            bytes: vec![],
        };
        assert_eq!(
            rx.on_data(far, &limits, &mut Vec::new()),
            Received::OutOfWindow
        );
        let mut tx = SendLink::new(2, 1);
        tx.push(&[0; 600], 100, &limits).unwrap();
        assert_eq!(
            tx.push(&[0; 401], 100, &limits),
            Err(QueueFull { queued_bytes: 600 })
        );
        tx.push(&[0; 400], 100, &limits).unwrap();
    }

    #[test]
    fn gives_up_after_retransmits_max() {
        let limits = limits();
        let mut tx = SendLink::new(2, 1);
        tx.push(b"x", 100, &limits).unwrap();
        let mut wire = Vec::new();
        let mut now = 0;
        tx.poll(now, &limits, &mut wire).unwrap();
        let mut rtos = Vec::new();
        loop {
            now += 1;
            let before = wire.len();
            match tx.poll(now, &limits, &mut wire) {
                Ok(_) if wire.len() > before => rtos.push(now),
                Ok(_) => {}
                Err(LinkFailed) => break,
            }
            assert!(now < 1000);
        }
        assert_eq!(rtos, [10, 30, 70], "backoff doubles to rto_max_ms");
        assert_eq!(now, 110);
    }

    #[test]
    fn fragments_and_epochs() {
        let limits = ReliableLimits::default();
        let mut tx = SendLink::new(2, 1);
        let mut rx = RecvLink::new(1, 1, 10_000);
        let message: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        tx.push(&message, 1000, &limits).unwrap();
        let mut wire = Vec::new();
        tx.poll(0, &limits, &mut wire).unwrap();
        assert_eq!(wire.len(), 5);
        let mut got = Vec::new();
        for data in wire.iter().rev() {
            rx.on_data(data.clone(), &limits, &mut got);
        }
        assert_eq!(got, [message]);
        // The sender restarts its stream: the receiver is told.
        let mut tx = SendLink::new(2, 2);
        tx.push(b"again", 1000, &limits).unwrap();
        let mut wire2 = Vec::new();
        tx.poll(0, &limits, &mut wire2).unwrap();
        let mut got = Vec::new();
        assert_eq!(
            rx.on_data(wire2[0].clone(), &limits, &mut got),
            Received::Restarted
        );
        assert_eq!(got, [b"again".to_vec()]);
        assert_eq!(
            rx.on_data(wire[0].clone(), &limits, &mut got),
            Received::StaleEpoch
        );
        // After the peer left our view, a new epoch is not a surprise.
        rx.forget_progress();
        let data = Data {
            epoch: 3,
            ..wire2[0].clone()
        };
        assert_eq!(rx.on_data(data, &limits, &mut got), Received::Accepted);
    }

    /// One message over a link whose ack comes back `rtt_ms` later (the
    /// sender polling every 10 ms meanwhile): the retransmissions it took.
    fn round_trip(tx: &mut SendLink, rx: &mut RecvLink, now: &mut u64, rtt_ms: u64) -> u64 {
        let limits = ReliableLimits::default();
        tx.push(b"x", 100, &limits).unwrap();
        let mut wire = Vec::new();
        let mut retransmits = tx.poll(*now, &limits, &mut wire).unwrap();
        for _ in 0..rtt_ms / 10 {
            *now += 10;
            let mut again = Vec::new();
            retransmits += tx.poll(*now, &limits, &mut again).unwrap();
        }
        let mut got = Vec::new();
        for data in wire {
            rx.on_data(data, &limits, &mut got);
        }
        tx.on_ack(&rx.take_ack().unwrap(), *now);
        assert!(tx.is_idle());
        retransmits
    }

    /// A peer whose acks take 200 ms (a busy machine) is not sent each
    /// packet again at the first timeout once round trips are measured;
    /// the timeout comes back down when the peer answers quickly again.
    #[test]
    fn the_first_timeout_follows_the_measured_round_trip() {
        let limits = ReliableLimits::default();
        assert_eq!(limits.rto_initial_ms, 50);
        let (mut tx, mut rx, mut now) = (SendLink::new(2, 1), RecvLink::new(1, 1, 1 << 20), 0);
        assert!(
            round_trip(&mut tx, &mut rx, &mut now, 200) > 0,
            "before any sample, a 200 ms round trip times out"
        );
        // Karn: that packet was retransmitted, so its ack is no sample.
        assert_eq!(tx.round_trip.smoothed_ms, None);
        for _ in 0..4 {
            assert_eq!(round_trip(&mut tx, &mut rx, &mut now, 40), 0);
        }
        let slow: u64 = (0..8)
            .map(|_| round_trip(&mut tx, &mut rx, &mut now, 200))
            .sum();
        assert!(
            slow <= 2,
            "after a slow sample or two the timeout exceeds 200 ms ({slow})"
        );
        assert!(tx.round_trip.timeout_ms(&limits) > 200);
        for _ in 0..30 {
            round_trip(&mut tx, &mut rx, &mut now, 10);
        }
        assert_eq!(
            tx.round_trip.timeout_ms(&limits),
            50,
            "never below rto_initial_ms"
        );
    }

    #[test]
    fn round_trip_estimate_as_rfc_6298() {
        let limits = ReliableLimits::default();
        let mut rt = RoundTrip::default();
        assert_eq!(rt.timeout_ms(&limits), limits.rto_initial_ms);
        rt.sample(100);
        // SRTT = R, RTTVAR = R/2: RTO = 100 + 4 * 50.
        assert_eq!(rt.timeout_ms(&limits), 300);
        rt.sample(100);
        // RTTVAR = 3/4 * 50 + 1/4 * 0 = 37 (integer), SRTT = 100.
        assert_eq!(rt.timeout_ms(&limits), 100 + 4 * 37);
        for _ in 0..100 {
            rt.sample(5_000);
        }
        assert_eq!(rt.timeout_ms(&limits), limits.rto_max_ms, "capped");
    }

    proptest! {
        /// Whatever the network does to packets and acks (loss, duplication,
        /// reordering), what is delivered is exactly the messages sent, in order.
        #[test]
        fn exactly_once_in_order_through_any_network(
            sizes in proptest::collection::vec(0usize..300, 1..40),
            fates in proptest::collection::vec(0u8..8, 0..4000),
        ) {
            let limits = ReliableLimits {
                window_packets: 8,
                rto_initial_ms: 5,
                rto_max_ms: 20,
                retransmits_max: u32::MAX,
                send_queue_bytes_max: 1 << 20,
            };
            let messages: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| (0..*n).map(|j| (i * 7 + j) as u8).collect())
                .collect();
            let mut tx = SendLink::new(2, 1);
            let mut rx = RecvLink::new(1, 1, 1 << 20);
            for message in &messages {
                tx.push(message, 64, &limits).unwrap();
            }
            let mut fates = fates.into_iter().chain(std::iter::repeat(0));
            let mut in_transit: Vec<Data> = Vec::new();
            let mut delivered = Vec::new();
            let mut now = 0;
            while !tx.is_idle() {
                now += 1;
                assert!(now < 100_000, "no progress");
                tx.poll(now, &limits, &mut in_transit).unwrap();
                // Deliver, drop, duplicate or hold back each packet.
                let mut held = Vec::new();
                for data in in_transit.drain(..) {
                    match fates.next().unwrap() {
                        1 => {}
                        2 => {
                            rx.on_data(data.clone(), &limits, &mut delivered);
                            rx.on_data(data, &limits, &mut delivered);
                        }
                        3 | 4 => held.push(data),
                        _ => {
                            rx.on_data(data, &limits, &mut delivered);
                        }
                    }
                }
                in_transit = held;
                if let Some(ack) = rx.take_ack() {
                    if fates.next().unwrap() != 1 {
                        tx.on_ack(&ack, now);
                    }
                }
            }
            prop_assert_eq!(delivered, messages);
        }
    }
}
