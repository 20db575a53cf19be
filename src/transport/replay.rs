//! Replay protection: a sliding window of nonce counters per sender.
//!
//! Why: authentication proves a datagram was sealed by a key holder, not that
//! it is new. An attacker who records a heartbeat can replay it to keep a dead
//! node "alive", or replay a command. Every datagram carries its sender's
//! incarnation and a counter that never repeats within it, so the receiver
//! keeps, per sender, the newest incarnation seen and a bitmap of the last
//! [`REPLAY_WINDOW_PACKETS`] counters: a counter seen twice, one older than the
//! window, or any counter of an older incarnation is refused. A newer
//! incarnation (the sender restarted) starts a fresh window.
//!
//! A receiver that restarts loses its windows; what keeps that from opening a
//! hole is outside this module: datagrams carry a wall-clock timestamp that
//! must be fresh, reliable data names the receiver's own incarnation, and a
//! heartbeat counts for liveness only when it echoes the receiver's current
//! incarnation (see `node.rs`).
//!
//! Only call [`ReplayGuard::check`] on datagrams that already authenticated:
//! a forgery must not move the window.
//!
//! ```
//! use systole::transport::replay::{ReplayGuard, Verdict};
//! let mut guard = ReplayGuard::default();
//! assert_eq!(guard.check("n1", 7, 0), Verdict::Fresh);
//! assert_eq!(guard.check("n1", 7, 0), Verdict::Duplicate);
//! assert_eq!(guard.check("n1", 6, 1), Verdict::StaleIncarnation);
//! ```

use std::collections::BTreeMap;

/// Counters remembered per sender: datagrams reordered further than this are refused.
pub const REPLAY_WINDOW_PACKETS: u64 = 1024;
const WORDS: usize = (REPLAY_WINDOW_PACKETS / 64) as usize;
/// Most senders tracked; beyond it the least recently added is forgotten.
const SENDERS_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Fresh,
    Duplicate,
    TooOld,
    StaleIncarnation,
}

/// The window of one sender's current incarnation.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    incarnation: u64,
    highest: u64,
    /// Bit `i` (word i/64, bit i%64) set: counter `highest - i` was seen.
    seen: [u64; WORDS],
}

impl ReplayWindow {
    fn new(incarnation: u64, counter: u64) -> Self {
        let mut seen = [0; WORDS];
        seen[0] = 1;
        ReplayWindow {
            incarnation,
            highest: counter,
            seen,
        }
    }

    fn bit(&self, age: u64) -> bool {
        self.seen[(age / 64) as usize] & (1 << (age % 64)) != 0
    }

    fn set(&mut self, age: u64) {
        self.seen[(age / 64) as usize] |= 1 << (age % 64);
    }

    /// Moves the window forward by `shift` counters.
    fn advance(&mut self, shift: u64) {
        if shift >= REPLAY_WINDOW_PACKETS {
            self.seen = [0; WORDS];
            return;
        }
        let words = (shift / 64) as usize;
        let bits = (shift % 64) as u32;
        for i in (0..WORDS).rev() {
            let low = if i >= words { self.seen[i - words] } else { 0 };
            let lower = if i > words {
                self.seen[i - words - 1]
            } else {
                0
            };
            self.seen[i] = if bits == 0 {
                low
            } else {
                (low << bits) | (lower >> (64 - bits))
            };
        }
    }

    fn check(&mut self, incarnation: u64, counter: u64) -> Verdict {
        if incarnation < self.incarnation {
            return Verdict::StaleIncarnation;
        }
        if incarnation > self.incarnation {
            *self = ReplayWindow::new(incarnation, counter);
            return Verdict::Fresh;
        }
        if counter > self.highest {
            self.advance(counter - self.highest);
            self.highest = counter;
            self.set(0);
            return Verdict::Fresh;
        }
        let age = self.highest - counter;
        if age >= REPLAY_WINDOW_PACKETS {
            return Verdict::TooOld;
        }
        if self.bit(age) {
            return Verdict::Duplicate;
        }
        self.set(age);
        Verdict::Fresh
    }
}

/// Windows of every sender heard.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    windows: BTreeMap<String, ReplayWindow>,
}

impl ReplayGuard {
    /// Accepts (and records) or refuses one authenticated datagram.
    pub fn check(&mut self, sender: &str, incarnation: u64, counter: u64) -> Verdict {
        if let Some(window) = self.windows.get_mut(sender) {
            return window.check(incarnation, counter);
        }
        if self.windows.len() >= SENDERS_MAX {
            self.windows.pop_first();
        }
        self.windows
            .insert(sender.to_owned(), ReplayWindow::new(incarnation, counter));
        Verdict::Fresh
    }

    /// The newest incarnation heard from `sender`.
    pub fn incarnation(&self, sender: &str) -> Option<u64> {
        self.windows.get(sender).map(|w| w.incarnation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_window_duplicates_and_reordering() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check("a", 1, 10), Verdict::Fresh);
        assert_eq!(guard.check("a", 1, 12), Verdict::Fresh);
        assert_eq!(guard.check("a", 1, 11), Verdict::Fresh, "late but new");
        assert_eq!(guard.check("a", 1, 11), Verdict::Duplicate);
        assert_eq!(guard.check("a", 1, 12), Verdict::Duplicate);
        assert_eq!(guard.check("a", 1, 10), Verdict::Duplicate);
        assert_eq!(
            guard.check("a", 1, 5),
            Verdict::Fresh,
            "never seen, in window"
        );
        assert_eq!(
            guard.check("b", 1, 10),
            Verdict::Fresh,
            "senders are separate"
        );
    }

    #[test]
    fn too_old() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check("a", 1, 0), Verdict::Fresh);
        assert_eq!(
            guard.check("a", 1, REPLAY_WINDOW_PACKETS + 5),
            Verdict::Fresh
        );
        assert_eq!(guard.check("a", 1, 0), Verdict::TooOld);
        assert_eq!(guard.check("a", 1, 5), Verdict::TooOld);
        assert_eq!(guard.check("a", 1, 6), Verdict::Fresh, "oldest in window");
        assert_eq!(guard.check("a", 1, 6), Verdict::Duplicate);
    }

    #[test]
    fn restart_incarnation() {
        let mut guard = ReplayGuard::default();
        for counter in 0..100 {
            assert_eq!(guard.check("a", 5, counter), Verdict::Fresh);
        }
        // The sender restarts: new incarnation, counter from 0 again.
        assert_eq!(guard.check("a", 6, 0), Verdict::Fresh);
        assert_eq!(guard.incarnation("a"), Some(6));
        assert_eq!(guard.check("a", 6, 0), Verdict::Duplicate);
        // Old incarnation's datagrams are replays now, even unseen counters.
        assert_eq!(guard.check("a", 5, 50), Verdict::StaleIncarnation);
        assert_eq!(guard.check("a", 5, 500), Verdict::StaleIncarnation);
    }

    #[test]
    fn shifts_across_words() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check("a", 1, 1), Verdict::Fresh);
        assert_eq!(guard.check("a", 1, 1 + 64 + 3), Verdict::Fresh);
        assert_eq!(guard.check("a", 1, 1), Verdict::Duplicate);
        assert_eq!(guard.check("a", 1, 2), Verdict::Fresh);
        assert_eq!(guard.check("a", 1, 500), Verdict::Fresh);
        assert_eq!(guard.check("a", 1, 2), Verdict::Duplicate);
        assert_eq!(guard.check("a", 1, 68), Verdict::Duplicate);
    }

    proptest! {
        /// The window agrees with a set of everything seen, within its reach.
        #[test]
        fn matches_a_model(counters in proptest::collection::vec(0u64..3000, 1..400)) {
            let mut guard = ReplayGuard::default();
            let mut seen = std::collections::BTreeSet::new();
            let mut highest = None::<u64>;
            for counter in counters {
                let verdict = guard.check("a", 1, counter);
                let expected = match highest {
                    Some(h) if counter + REPLAY_WINDOW_PACKETS <= h => Verdict::TooOld,
                    _ if seen.contains(&counter) => Verdict::Duplicate,
                    _ => Verdict::Fresh,
                };
                prop_assert_eq!(verdict, expected);
                if verdict == Verdict::Fresh {
                    seen.insert(counter);
                    highest = Some(highest.map_or(counter, |h| h.max(counter)));
                }
            }
        }
    }
}
