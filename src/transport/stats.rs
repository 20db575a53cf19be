//! Counters of what the transport did and what it refused.
//!
//! Why counters rather than logs: a flood of forged or replayed datagrams must
//! cost the node as little as possible and must not flood its log either, yet
//! an operator (and the tests) need to see it. Each refusal increments one
//! named counter; [`TransportStats`] is a plain snapshot of them all.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[doc = $doc:expr])* $name:ident,)*) => {
        /// Live counters, shared between the transport's task and its `Bus` handles.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A snapshot of the transport's counters.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct TransportStats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> TransportStats {
                TransportStats {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    /// Reliable messages accepted by `send`/`broadcast` (one per destination).
    sent,
    /// Reliable messages delivered upward, local ones included.
    received,
    /// Data packets sent again after a timeout.
    retransmits,
    /// Datagrams sent.
    datagrams_sent,
    /// Datagrams received, before any check.
    datagrams_received,
    /// Datagrams the socket refused to send (buffer full, no route).
    send_failures,
    /// Heartbeats sent (one per heartbeat round).
    heartbeats_sent,
    /// Authentication tag did not verify under the cluster key.
    dropped_forged,
    /// Sealed under another key or for another cluster.
    dropped_wrong_key,
    /// Counter already seen, older than the replay window, or from an older incarnation.
    dropped_replayed,
    /// Timestamp further from our clock than `max_clock_skew_ms`.
    dropped_stale,
    /// Shorter than a header, a timestamp and a tag.
    dropped_truncated,
    /// Longer than `max_datagram_bytes`.
    dropped_oversized,
    /// Not a systole datagram, or authenticated but undecodable.
    dropped_malformed,
    /// Data or acks for another incarnation of this node or from a
    /// non-member; datagrams from another node using our name.
    dropped_misaddressed,
    /// Data refused because `event_backlog_max` messages wait for the layer above.
    dropped_backpressure,
    /// Fragments that did not reassemble, or a message above `max_message_bytes`.
    dropped_bad_fragment,
    /// Queued messages abandoned because their destination left the view.
    abandoned,
    /// Dropped by a chaos test's partition (`systole chaos block`).
    dropped_blocked,
    /// Membership views installed since start (each join, leave, restart
    /// or bounce is one; a steady cluster adds none).
    view_changes,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
