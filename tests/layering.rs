//! The crate's layers point one way: a module uses only layers below its
//! own (the table in `src/lib.rs`). This reads every source file under
//! `src/` (unit tests included) and fails on any `crate::` path that names
//! a higher layer or a sibling of the same layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layer of each top-level module, lowest first; keep in step with `src/lib.rs`.
const LAYERS: &[(&str, u32)] = &[
    ("model", 0),
    ("scheduler", 1),
    ("admin", 2),
    ("os", 3),
    ("transport", 4),
    ("agent", 4),
    ("actors", 5),
    ("sim", 5),
    ("fuzz", 6),
    ("cli", 7),
    ("web", 8),
];

fn layer_of(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source text names through `crate::`, including
/// grouped imports (`use crate::{model::cib, scheduler};`).
fn referenced_modules(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        found.push((number + 1, name.to_string()));
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.push((number + 1, name));
            }
            rest = &rest[at + "crate::".len()..];
        }
    }
    found
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut checked = BTreeMap::new();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src/");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .expect("a file name");
        // The binaries (main.rs, bin/) sit above every layer; lib.rs declares them.
        if matches!(top.as_str(), "main" | "bin" | "lib") {
            continue;
        }
        let own = layer_of(&top)
            .unwrap_or_else(|| panic!("src/{top} is in no layer: add it to LAYERS and src/lib.rs"));
        let text = std::fs::read_to_string(path).expect("a readable source file");
        *checked.entry(top.clone()).or_insert(0) += 1;
        for (line, module) in referenced_modules(&text) {
            if module == top {
                continue;
            }
            let Some(theirs) = layer_of(&module) else {
                violations.push(format!(
                    "{}:{line}: crate::{module} is in no layer",
                    relative.display()
                ));
                continue;
            };
            if theirs >= own {
                violations.push(format!(
                    "{}:{line}: {top} (layer {own}) uses crate::{module} (layer {theirs})",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        checked.len() == LAYERS.len(),
        "every layer has files: {checked:?}"
    );
    assert!(
        violations.is_empty(),
        "{} imports point up or sideways:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[test]
fn grouped_and_nested_paths_are_seen() {
    let found = referenced_modules(
        "use crate::{model::cib, scheduler};\nlet x = crate::actors::daemon::run(); // crate::web\n",
    );
    let names: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(names, ["model", "scheduler", "actors"]);
}
