//! Runs the deterministic simulation over many seeds (more than CI does),
//! or replays one: `sim_seeds --from 0 --to 10000 [--threads 2]`,
//! `sim_seeds --seed 1234 [--verbose]`; `--two-node` runs two-node
//! clusters with `two_node` on instead, `--many-voters` 64-voter clusters.

use systole::sim::{run_many_voters_seed, run_seed, run_seeds_with, run_two_node_seed};

fn arg(args: &[String], name: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let run = if args.iter().any(|a| a == "--two-node") {
        run_two_node_seed
    } else if args.iter().any(|a| a == "--many-voters") {
        run_many_voters_seed
    } else {
        run_seed
    };
    if let Some(seed) = arg(&args, "--seed") {
        let report = run(seed);
        println!("{report:#?}");
        std::process::exit(if report.violations.is_empty() { 0 } else { 1 });
    }
    let from = arg(&args, "--from").unwrap_or(0);
    let to = arg(&args, "--to").unwrap_or(1_000);
    let threads = arg(&args, "--threads").unwrap_or(2) as usize;
    let started = std::time::Instant::now();
    let reports = run_seeds_with(from, to, threads, run);
    let failed: Vec<_> = reports
        .iter()
        .filter(|r| !r.violations.is_empty())
        .collect();
    for report in &failed {
        println!("seed {}: {:?}", report.seed, report.violations);
    }
    let total = |f: fn(&systole::sim::SimReport) -> usize| reports.iter().map(f).sum::<usize>();
    println!(
        "{} seeds ({from}..{to}) in {:.1} s: {} failed; {} changes acknowledged, {} refused, {} terms, {} fencings, {} went on alone (two-node), {} transitions, {} events",
        reports.len(),
        started.elapsed().as_secs_f64(),
        failed.len(),
        total(|r| r.acknowledged),
        total(|r| r.refused),
        total(|r| r.terms),
        total(|r| r.fenced),
        total(|r| r.solos),
        total(|r| r.transitions),
        reports.iter().map(|r| r.events).sum::<u64>(),
    );
    std::process::exit(if failed.is_empty() { 0 } else { 1 });
}
