//! `systole report --from TIME [--to TIME]`: crm_report's job. The node
//! asked gathers the CIB, the transition history and the status, and from
//! every member its configuration file's settings (never the authkey: the
//! file names its path, the key stays on disk) and its log lines of the
//! window; the CLI writes them into one gzipped tarball
//! (`crate::cli::report`).
//!
//! A node's log is its `log_file` when configured, else the journal when
//! its standard error goes there (systemd), else the file its standard
//! error was redirected to (`cluster up`).

use crate::actors::shared::NodeShared;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A node's log lines sent, at most (the newest of the window are kept).
pub const REPORT_LOG_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Bytes read from the end of a log file to find the window in.
pub const LOG_READ_BYTES_MAX: u64 = 256 * 1024 * 1024;
const JOURNAL_TIMEOUT_MS: u64 = 20_000;

/// One node's share of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportPart {
    pub node: String,
    /// Its configuration file's settings (TOML).
    pub config: String,
    /// Where its log was read from.
    pub log_source: String,
    /// Its log lines within the window.
    pub log: String,
}

/// Everything a report holds, as the node asked answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub from_epoch_s: i64,
    pub to_epoch_s: i64,
    pub asked: String,
    pub cib_xml: String,
    pub history: Vec<crate::model::control::history::TransitionRecord>,
    pub status: crate::actors::control_socket::StatusReport,
    pub parts: Vec<ReportPart>,
    /// Members that did not answer, and why.
    pub missing: Vec<(String, String)>,
}

/// Where this process's log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    File(PathBuf),
    Journal,
    Unknown(String),
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogSource::File(path) => write!(f, "file {}", path.display()),
            LogSource::Journal => write!(f, "the systemd journal"),
            LogSource::Unknown(why) => write!(f, "none ({why})"),
        }
    }
}

/// This daemon's log: `log_file` when set, else the journal or the file
/// standard error goes to.
pub fn log_source(log_file: Option<&std::path::Path>) -> LogSource {
    if let Some(path) = log_file {
        return LogSource::File(path.to_path_buf());
    }
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        return LogSource::Journal;
    }
    match std::fs::read_link("/proc/self/fd/2") {
        Ok(path) if path.is_file() => LogSource::File(path),
        Ok(path) => LogSource::Unknown(format!("standard error is {}", path.display())),
        Err(error) => LogSource::Unknown(format!("standard error unknown: {error}")),
    }
}

/// The epoch second a log line starts with (tracing's RFC 3339 time).
fn line_time(line: &str) -> Option<i64> {
    let stamp = line.split_whitespace().next()?;
    let stamp = stamp.split('.').next()?;
    crate::model::cib::time::parse_datetime(stamp.trim_end_matches('Z'))
}

/// The lines of `text` from `from` to `to` (epoch seconds, inclusive); a
/// line without a time of its own (a continuation) goes with the line
/// before. At most `REPORT_LOG_BYTES_MAX` bytes, the newest kept.
pub fn log_window(text: &str, from_epoch_s: i64, to_epoch_s: i64) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if let Some(at) = line_time(line) {
            inside = (from_epoch_s..=to_epoch_s).contains(&at);
        }
        if inside {
            kept.push(line);
        }
    }
    let mut bytes = 0usize;
    let mut start = kept.len();
    while start > 0 && bytes + kept[start - 1].len() < REPORT_LOG_BYTES_MAX {
        start -= 1;
        bytes += kept[start].len() + 1;
    }
    let mut out = kept[start..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

async fn read_tail(path: &std::path::Path) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    file.seek(std::io::SeekFrom::Start(
        length.saturating_sub(LOG_READ_BYTES_MAX),
    ))
    .await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

async fn read_journal(from_epoch_s: i64, to_epoch_s: i64) -> Result<String, String> {
    let run = tokio::process::Command::new("journalctl")
        .args(["--no-pager", "-o", "short-iso-precise", "--utc"])
        .arg(format!("_PID={}", std::process::id()))
        .arg(format!("--since=@{from_epoch_s}"))
        .arg(format!("--until=@{to_epoch_s}"))
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(std::time::Duration::from_millis(JOURNAL_TIMEOUT_MS), run).await {
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Ok(Ok(out)) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Ok(Err(error)) => Err(format!("journalctl: {error}")),
        Err(_) => Err(format!(
            "journalctl did not answer within {JOURNAL_TIMEOUT_MS} ms"
        )),
    }
}

/// This node's share: its settings and its log lines of the window.
pub async fn local_part(shared: &NodeShared, from_epoch_s: i64, to_epoch_s: i64) -> ReportPart {
    let source = log_source(shared.log_file.get().and_then(|p| p.as_deref()));
    let log = match &source {
        LogSource::File(path) => match read_tail(path).await {
            Ok(text) => log_window(&text, from_epoch_s, to_epoch_s),
            Err(error) => format!("(reading {}: {error})\n", path.display()),
        },
        LogSource::Journal => read_journal(from_epoch_s, to_epoch_s)
            .await
            .unwrap_or_else(|e| format!("(reading the journal: {e})\n")),
        LogSource::Unknown(_) => String::new(),
    };
    ReportPart {
        node: shared.node.clone(),
        config: shared.config_toml.get().cloned().unwrap_or_default(),
        log_source: source.to_string(),
        log,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_its_lines_and_their_continuations() {
        let log = "2026-12-07T10:00:00.000001Z  INFO early\n\
                   2026-12-07T10:00:05.5Z  WARN inside one\n\
                   \x20 a continuation\n\
                   2026-12-07T10:00:09Z  INFO inside two\n\
                   2026-12-07T10:00:11.0Z  INFO late\n\
                   after late\n";
        let from = crate::model::cib::time::parse_datetime("2026-12-07T10:00:05Z").unwrap();
        let text = log_window(log, from, from + 5);
        assert_eq!(
            text,
            "2026-12-07T10:00:05.5Z  WARN inside one\n  a continuation\n2026-12-07T10:00:09Z  INFO inside two\n"
        );
        assert_eq!(log_window(log, 0, 1), "");
    }

    #[test]
    fn a_named_log_file_wins() {
        let path = std::path::Path::new("/var/log/systole.log");
        assert_eq!(log_source(Some(path)), LogSource::File(path.to_path_buf()));
    }
}
