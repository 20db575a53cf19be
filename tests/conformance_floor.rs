//! A floor under the scheduler's conformance: runs `../shared/tools/score-
//! scheduler` (Pacemaker's own regression cases, beside the checkout; never
//! copied into the repository) against this build's `systole simulate`, and
//! fails if fewer cases match exactly than the floor. The floor only ever
//! goes up: raise it when the figure does.

use std::path::PathBuf;
use std::process::Command;

/// Exact matches (reasons included) the scheduler must keep, out of the
/// 586 cases with a summary.
const EXACT_FLOOR: usize = 532;

#[test]
fn conformance_does_not_fall_below_the_floor() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let scorer = shared.join("tools/score-scheduler");
    assert!(
        scorer.exists(),
        "{} is missing: the scheduler regression cases live in ../shared beside the checkout",
        scorer.display()
    );
    let output = Command::new("python3")
        .arg(&scorer)
        .args(["--jobs", "2", "--show", "0", "--"])
        .arg(env!("CARGO_BIN_EXE_systole"))
        .args(["simulate", "--cib", "{cib}"])
        .output()
        .expect("running python3 score-scheduler");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scorer failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    // "scheduler conformance: E/N exact (P%), C/N core (Q%)"
    let exact: usize = last
        .strip_prefix("scheduler conformance: ")
        .and_then(|rest| rest.split('/').next())
        .and_then(|e| e.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected scorer output: {last}"));
    println!("{last}");
    assert!(
        exact >= EXACT_FLOOR,
        "conformance fell to {exact} exact, below the floor of {EXACT_FLOOR}: {last}"
    );
}
