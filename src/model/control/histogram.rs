//! Durations counted in fixed buckets, as Prometheus histograms are: how
//! long the scheduler and transitions take on a node, for `/metrics`.

use serde::{Deserialize, Serialize};

/// Upper bounds of the buckets, in milliseconds (the last, +Inf, is implied).
pub const BUCKET_BOUNDS_MS: [u64; 14] = [
    1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

/// Counts per bucket (not cumulative), with the total and the sum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// One count per bound of [`BUCKET_BOUNDS_MS`]: observations above the
    /// previous bound and at most this one.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_ms: u64,
}

impl Histogram {
    pub fn observe(&mut self, duration_ms: u64) {
        if self.buckets.len() != BUCKET_BOUNDS_MS.len() {
            self.buckets = vec![0; BUCKET_BOUNDS_MS.len()];
        }
        if let Some(i) = BUCKET_BOUNDS_MS.iter().position(|b| duration_ms <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(duration_ms);
    }

    /// `(bound_ms, observations at most bound_ms)` for each bound, as
    /// Prometheus's `le` buckets are cumulative.
    pub fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut total = 0;
        BUCKET_BOUNDS_MS
            .iter()
            .enumerate()
            .map(|(i, bound)| {
                total += self.buckets.get(i).copied().unwrap_or(0);
                (*bound, total)
            })
            .collect()
    }
}

/// A node's timings: what `/metrics` shows as histograms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Scheduler runs, as the DC waited for them.
    pub scheduler_ms: Histogram,
    /// Transitions from start to finish, as the DC ran them.
    pub transition_ms: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_overflow_counts_only_in_total() {
        let mut h = Histogram::default();
        for ms in [0, 1, 3, 70, 100_000] {
            h.observe(ms);
        }
        let cumulative = h.cumulative();
        assert_eq!(cumulative[0], (1, 2));
        assert_eq!(cumulative[1], (5, 3));
        assert_eq!(cumulative[5], (100, 4));
        assert_eq!(cumulative.last(), Some(&(60_000, 4)));
        assert_eq!((h.count, h.sum_ms), (5, 100_074));
    }
}
