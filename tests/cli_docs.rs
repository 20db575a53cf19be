//! What the CLI gives operators beside commands: shell completions and man
//! pages from its own definition, and a daemon logging to its `log_file`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_systole");

fn systole(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("systole runs");
    assert!(
        out.status.success(),
        "systole {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completions_for_bash_zsh_and_fish_know_every_command() {
    for (shell, marker) in [
        ("bash", "_systole()"),
        ("zsh", "#compdef systole"),
        ("fish", "complete -c systole"),
    ] {
        let script = systole(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for word in ["alert", "recipient", "report", "history", "resource"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"));
}

#[test]
fn man_pages_are_written_for_the_tool_and_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let said = systole(&["man", dir.path().to_str().unwrap()]);
    assert!(said.starts_with("wrote "), "{said}");
    let page = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let top = page("systole.1");
    assert!(top.contains(".TH systole 1"), "{top}");
    assert!(
        top.contains("high\\-availability cluster resource manager"),
        "{top}"
    );
    let alert = page("systole-alert.1");
    assert!(
        alert.contains(".TH systole-alert 1") && alert.contains("recipient"),
        "{alert}"
    );
    assert!(page("systole-report.1").contains("\\-\\-from"));
    // Hidden helpers (crm_attribute for agents) get no page.
    assert!(!dir.path().join("systole-crm-attribute.1").exists());
}

#[test]
fn a_daemon_with_a_log_file_logs_there_and_not_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let configs = systole::cli::localcluster::prepare(dir.path(), 1).unwrap();
    let log_file = dir.path().join("own.log");
    let text = std::fs::read_to_string(&configs[0]).unwrap();
    // A top-level key: before the first table.
    std::fs::write(
        &configs[0],
        format!("log_file = {:?}\n{text}", log_file.display().to_string()),
    )
    .unwrap();
    let cluster = systole::cli::localcluster::LocalCluster::up(Path::new(BIN), dir.path(), 1, true)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.contains("membership view") {
            assert!(!log.contains("\u{1b}["), "no colours in a file");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing logged in {}: {log}",
            log_file.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stderr = std::fs::read_to_string(
        systole::cli::localcluster::node_dir(cluster.dir(), "node1").join("systole.log"),
    )
    .unwrap_or_default();
    assert!(
        !stderr.contains("membership view"),
        "stderr got the log: {stderr}"
    );
    cluster.down();
}
