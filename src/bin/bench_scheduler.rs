//! Times `schedule()` on CIB files (e.g. from `gen-scale-cib 32 10000
//! --running --fail-node node2`): parse once, schedule N times, print the
//! median and the stage split. No assertions: numbers for humans.
//!
//! Usage: bench_scheduler FILE [RUNS]

use std::time::Instant;

use systole::model::cib::Cib;
use systole::model::xml::Element;
use systole::scheduler::{self, actions, assign, graph, unpack};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bench_scheduler FILE [RUNS]"))?;
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(5);
    let text = std::fs::read_to_string(&path)?;
    let t = Instant::now();
    let cib = Element::parse(&text)?;
    println!("parse xml: {:?}", t.elapsed());
    let mut totals = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let typed = Cib::from_xml(&cib, 0)?;
        let t1 = Instant::now();
        let w = unpack::unpack(typed, 0);
        let t2 = Instant::now();
        let plan = assign::assign(&w);
        let t3 = Instant::now();
        let fence = vec![false; w.nodes.len()];
        let decisions = actions::decide(&w, &plan, &fence);
        let t4 = Instant::now();
        let g = graph::build(&w, &plan, &decisions, &fence);
        let t5 = Instant::now();
        println!(
            "model {:?} unpack {:?} assign {:?} actions {:?} graph {:?} ({} actions)",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            t4 - t3,
            t5 - t4,
            g.node_count()
        );
        std::hint::black_box(&g);
        drop(g);
        drop(decisions);
        drop(plan);
        drop(w);
        // schedule() as the daemon calls it; dropping the result is timed
        // separately (hundreds of thousands of small allocations).
        let t6 = Instant::now();
        let transition = scheduler::schedule(&cib, 0)?;
        let took = t6.elapsed();
        totals.push(took);
        let t7 = Instant::now();
        let actions = transition.graph.node_count();
        drop(transition);
        println!(
            "schedule {took:?} ({actions} actions; dropping them {:?})",
            t7.elapsed()
        );
    }
    totals.sort();
    println!(
        "schedule() median over {runs}: {:?}",
        totals[totals.len() / 2]
    );
    Ok(())
}
