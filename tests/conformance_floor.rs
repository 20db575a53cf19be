//! A floor under the scheduler's conformance: runs the regression scorer
//! (`tools/score-scheduler` over Pacemaker's own scheduler regression cases,
//! kept in a `shared/` folder beside the checkout by the project's CI and never
//! copied into the repository) against this build's `systole simulate`, and
//! fails naming every case listed in `tests/conformance_floor.txt` that no
//! longer matches exactly. The list only ever grows: add the cases a change
//! makes exact (`SYSTOLE_REWRITE=1` rewrites it from the current build, for
//! review with `git diff`).
//!
//! Without the cases (a user's checkout) the test says so and passes; CI sets
//! `SYSTOLE_REQUIRE_CONFORMANCE_CASES=1`, which makes their absence a failure.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn floor_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance_floor.txt")
}

fn listed() -> BTreeSet<String> {
    let text = std::fs::read_to_string(floor_file()).expect("reading tests/conformance_floor.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Where the scorer is, if this checkout has the regression cases beside it.
fn scorer() -> Option<PathBuf> {
    let scorer = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/score-scheduler");
    if scorer.exists() {
        return Some(scorer);
    }
    let required = std::env::var("SYSTOLE_REQUIRE_CONFORMANCE_CASES").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{} is missing, and SYSTOLE_REQUIRE_CONFORMANCE_CASES=1 says this run must have it",
        scorer.display()
    );
    None
}

/// Runs the scorer; returns the cases that match exactly and its last line.
fn exact_cases(scorer: &std::path::Path) -> (BTreeSet<String>, String) {
    let json = tempfile::NamedTempFile::new().expect("a temporary file");
    let output = Command::new("python3")
        .arg(scorer)
        .args(["--jobs", "2", "--show", "0", "--json"])
        .arg(json.path())
        .arg("--")
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
    let results: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(json.path()).expect("reading the scorer's JSON"))
            .expect("the scorer's JSON parses");
    let exact = results
        .iter()
        .filter(|r| r["exact"].as_bool() == Some(true))
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    (exact, stdout.lines().last().unwrap_or_default().to_string())
}

#[test]
fn conformance_does_not_fall_below_the_floor() {
    let Some(scorer) = scorer() else {
        eprintln!(
            "conformance floor not measured: Pacemaker's scheduler regression cases are not \
             beside this checkout (CI has them)"
        );
        return;
    };
    let (exact, last) = exact_cases(&scorer);
    println!("{last}");
    if std::env::var("SYSTOLE_REWRITE").is_ok_and(|v| v == "1") {
        let text = std::fs::read_to_string(floor_file()).unwrap_or_default();
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let body: String = exact.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(floor_file(), header + &body).expect("rewriting the floor");
        return;
    }
    let floor = listed();
    let lost: Vec<&String> = floor.iter().filter(|n| !exact.contains(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} case(s) on the conformance floor no longer match exactly: {} ({last})",
        lost.len(),
        lost.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
