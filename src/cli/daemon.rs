//! Running a node: the daemon, a witness, a remote executor, and their logs.

use anyhow::Context;
use std::path::Path;

/// `systole daemon` (a full node) or `systole witness` (a voter only).
pub fn node(config: &Path, witness: bool) -> anyhow::Result<i32> {
    let (config, agents) = crate::actors::config::NodeConfig::load_with_agents(config)?;
    init_logging(config.log_file.as_deref())?;
    crate::actors::daemon::run(config, agents, witness)?;
    Ok(0)
}

/// `systole remote`: a remote node's executor, as pacemaker_remote.
pub fn remote(config: &Path) -> anyhow::Result<i32> {
    let (config, agents) = crate::actors::remote::config::RemoteConfig::load(config)?;
    init_logging(config.log_file.as_deref())?;
    crate::actors::remote::server::run(config, agents)?;
    Ok(0)
}

/// `systole keygen --out FILE`.
pub fn keygen(out: &Path) -> anyhow::Result<i32> {
    crate::transport::keygen(out).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote a new authkey to {} (mode 0600)", out.display());
    Ok(0)
}
/// Logs to the node's `log_file` when it has one (appended), else to
/// standard error (the journal under systemd).
pub fn init_logging(log_file: Option<&Path>) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SYSTOLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match log_file {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(path)
                .with_context(|| format!("opening log_file {}", path.display()))?;
            subscriber
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            subscriber
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .init();
        }
    }
    Ok(())
}
