//! The whole control plane (Raft, the replicated CIB, the DC controller and
//! the scheduler) under seeded faults: partitions, drops, duplicates,
//! delays, crash-restarts with the disk kept, disk write failures. Every
//! seed must keep every invariant (`systole::sim::check`); a failing seed
//! replays with `cargo run --release --bin sim_seeds -- --seed N`.
//!
//! CI runs 1,000 seeds (and 300 two-node, 2 of 64 voters); `sim_seeds
//! --from A --to B` runs more.

#[test]
fn a_thousand_seeds_keep_every_invariant() {
    let reports = systole::sim::run_seeds(0, 1_000, 2);
    assert_eq!(reports.len(), 1_000);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.violations.is_empty())
        .map(|r| format!("seed {}: {:?}", r.seed, r.violations))
        .collect();
    assert!(
        failed.is_empty(),
        "{} seeds failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    // The runs did exercise the faults they are about.
    let sum = |f: fn(&systole::sim::SimReport) -> usize| reports.iter().map(f).sum::<usize>();
    assert!(sum(|r| r.acknowledged) > 10_000);
    assert!(sum(|r| r.terms) > 1_000, "leaders changed");
    assert!(sum(|r| r.fenced) > 100, "nodes were fenced");
    assert!(
        sum(|r| r.refused) > 100,
        "writes were refused without quorum"
    );
    assert!(sum(|r| r.disk_failures) > 100, "disks failed");
}

/// Two-node clusters with `two_node` on: the survivor of a crash or a
/// partition fences its peer and goes on alone as the only voter; the peer
/// is re-added when it returns. The same invariants hold, with an
/// acknowledgement counted against the acknowledging leader's voters.
#[test]
fn two_node_seeds_keep_every_invariant() {
    let reports = systole::sim::run_seeds_with(0, 300, 2, systole::sim::run_two_node_seed);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.violations.is_empty())
        .map(|r| format!("seed {}: {:?}", r.seed, r.violations))
        .collect();
    assert!(
        failed.is_empty(),
        "{} seeds failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let sum = |f: fn(&systole::sim::SimReport) -> usize| reports.iter().map(f).sum::<usize>();
    assert!(sum(|r| r.solos) > 50, "survivors went on alone");
    assert!(sum(|r| r.acknowledged) > 3_000);
}

/// 64 voters (a quorum of 33) under the same faults: elections among many,
/// partitions that leave no side a majority. Two seeds (each is some 30 CPU
/// seconds); `sim_seeds --many-voters --from A --to B` runs more.
#[test]
fn sixty_four_voters_keep_every_invariant() {
    let reports = systole::sim::run_seeds_with(0, 2, 2, systole::sim::run_many_voters_seed);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.violations.is_empty())
        .map(|r| format!("seed {}: {:?}", r.seed, r.violations))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(reports.iter().all(|r| r.nodes == systole::sim::MANY_VOTERS));
    let sum = |f: fn(&systole::sim::SimReport) -> usize| reports.iter().map(f).sum::<usize>();
    assert!(sum(|r| r.acknowledged) > 50, "writes were acknowledged");
    assert!(sum(|r| r.terms) >= 2, "a leader was elected");
}
