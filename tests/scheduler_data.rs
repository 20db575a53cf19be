//! Data-driven scheduler scenarios, in the manner of raft-rs's testdata: each
//! file under `tests/scheduler_data/` holds cases of the form
//!
//! ```text
//! # what the case is about (comment lines)
//! simulate name=NAME now=EPOCH_SECONDS
//! <cib ...>
//! ...
//! </cib>
//! ----
//! * Start      web     ( node1 )
//! ```
//!
//! the input CIB, the "now" it is scheduled at, and the Transition Summary
//! Pacemaker's crm_simulate printed for it (white space folded, compared as a
//! set of lines), side by side. A case ends at the first blank line after
//! its expectation. Most cases are differences found by the differential
//! tester (`tools/difftest`), shrunk to the smallest CIB that still showed
//! them, with the reference's answer as the expectation.
//!
//! `SYSTOLE_REWRITE=1 cargo test --release --test scheduler_data` rewrites the
//! expectations from the scheduler's current output, for review with
//! `git diff` (a rewritten expectation is no longer the reference's).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use systole::model::cib::xml::Element;
use systole::scheduler::schedule;

struct Case {
    name: String,
    now: i64,
    /// Lines from the `simulate` line to the `----` line, inclusive.
    header: Vec<String>,
    cib: String,
    expected: Vec<String>,
}

/// The file's cases, and the text between them (comments and blank lines)
/// so that a rewrite keeps it.
fn parse(text: &str, file: &Path) -> Vec<(Vec<String>, Case)> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    let mut preamble = Vec::new();
    while let Some(line) = lines.next() {
        let Some(args) = line.strip_prefix("simulate") else {
            preamble.push(line.to_string());
            continue;
        };
        let mut name = String::new();
        let mut now = 0;
        for arg in args.split_whitespace() {
            match arg.split_once('=') {
                Some(("name", v)) => name = v.to_string(),
                Some(("now", v)) => {
                    now = v
                        .parse()
                        .unwrap_or_else(|_| panic!("{}: bad now={v}", file.display()))
                }
                _ => panic!("{}: unknown argument {arg:?}", file.display()),
            }
        }
        assert!(
            !name.is_empty(),
            "{}: a case without a name",
            file.display()
        );
        let mut header = vec![line.to_string()];
        let mut cib = String::new();
        for line in lines.by_ref() {
            if line == "----" {
                break;
            }
            header.push(line.to_string());
            cib.push_str(line);
            cib.push('\n');
        }
        header.push("----".to_string());
        let mut expected = Vec::new();
        while let Some(line) = lines.peek() {
            if line.trim().is_empty() {
                break;
            }
            expected.push(fold(line));
            lines.next();
        }
        out.push((
            std::mem::take(&mut preamble),
            Case {
                name,
                now,
                header,
                cib,
                expected,
            },
        ));
    }
    if !preamble.is_empty() {
        // Trailing text after the last case.
        out.push((
            preamble,
            Case {
                name: String::new(),
                now: 0,
                header: Vec::new(),
                cib: String::new(),
                expected: Vec::new(),
            },
        ));
    }
    out
}

fn fold(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn actual(case: &Case, file: &Path) -> Vec<String> {
    let cib = Element::parse(&case.cib)
        .unwrap_or_else(|e| panic!("{} {}: CIB does not parse: {e}", file.display(), case.name));
    let transition = schedule(&cib, case.now)
        .unwrap_or_else(|e| panic!("{} {}: scheduler error: {e}", file.display(), case.name));
    transition.summary.iter().map(|l| fold(l)).collect()
}

fn data_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scheduler_data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
}

#[test]
fn scheduler_data_cases_match_their_expectations() {
    let rewrite = std::env::var("SYSTOLE_REWRITE").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    for file in data_files() {
        let text = std::fs::read_to_string(&file).expect("reading a data file");
        let cases = parse(&text, &file);
        let mut rewritten = String::new();
        for (preamble, case) in &cases {
            for line in preamble {
                writeln!(rewritten, "{line}").unwrap();
            }
            if case.name.is_empty() {
                continue;
            }
            count += 1;
            let got = actual(case, &file);
            let mut want_sorted = case.expected.clone();
            want_sorted.sort();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            if want_sorted != got_sorted {
                let mut msg = format!("{} {}:\n", file.display(), case.name);
                for l in case.expected.iter().filter(|l| !got.contains(l)) {
                    writeln!(msg, "  - {l}").unwrap();
                }
                for l in got.iter().filter(|l| !case.expected.contains(l)) {
                    writeln!(msg, "  + {l}").unwrap();
                }
                failures.push(msg);
            }
            for line in &case.header {
                writeln!(rewritten, "{line}").unwrap();
            }
            let lines = if rewrite { &got } else { &case.expected };
            for line in lines {
                writeln!(rewritten, "{line}").unwrap();
            }
        }
        if rewrite && rewritten != text {
            std::fs::write(&file, rewritten).expect("rewriting a data file");
        }
    }
    assert!(count > 0, "no scheduler data cases found");
    if !rewrite {
        assert!(
            failures.is_empty(),
            "{} of {count} scheduler data cases differ (- expected, + got):\n{}",
            failures.len(),
            failures.join("")
        );
    }
}
