//! `systole web`: the console served, and `web passwd` writing its users file.

use anyhow::{bail, Context};

use std::path::Path;

use crate::cli::args::{Target, WebAction, WebArgs};
use crate::cli::daemon::init_logging;
use crate::cli::target::{resolve_socket, shadow_dir};

/// Serves the console until stopped, or (`web passwd`) writes a user.
pub fn run(target: &Target, args: WebArgs) -> anyhow::Result<i32> {
    if let Some(WebAction::Passwd {
        users,
        name,
        groups,
    }) = args.action
    {
        return web_passwd(&users, &name, &groups);
    }
    let endpoint = match (&target.socket, &target.dir) {
        (None, Some(dir)) if target.node.is_none() => crate::web::Endpoint::Dir(dir.clone()),
        _ => crate::web::Endpoint::Socket(resolve_socket(target)?),
    };
    let mut groups = crate::web::auth::GroupPolicy::default();
    if let Some(path) = &args.config {
        let config = crate::actors::config::NodeConfig::load(path)?;
        groups.admin_group = config.admin_group;
        groups.readonly_group = config.readonly_group;
    }
    groups.admin_group = args.admin_group.or(groups.admin_group);
    groups.readonly_group = args.readonly_group.or(groups.readonly_group);
    let options = crate::web::WebOptions {
        bind: args.bind,
        endpoint,
        tls: args.tls_cert.zip(args.tls_key),
        users: args.users,
        groups,
        shadow_dir: shadow_dir(target),
    };
    // Refused before anything starts, with the reason.
    crate::web::check_options(&options)?;
    init_logging(None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the web console's runtime")?;
    runtime.block_on(crate::web::serve(options))?;
    Ok(0)
}

fn web_passwd(users: &Path, name: &str, groups: &[String]) -> anyhow::Result<i32> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("empty password on standard input; nothing written");
    }
    let line =
        crate::web::auth::user_line(name, groups, password, crate::web::auth::PBKDF2_ITERATIONS)
            .map_err(|e| anyhow::anyhow!(e))?;
    let old = match std::fs::read_to_string(users) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", users.display())),
    };
    let prefix = format!("{name}:");
    let mut lines: Vec<&str> = old.lines().filter(|l| !l.starts_with(&prefix)).collect();
    lines.push(&line);
    let text = lines.join("\n") + "\n";
    crate::os::persist::write_atomic(users, text.as_bytes())?;
    std::fs::set_permissions(users, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    println!(
        "{name} written to {} (groups {})",
        users.display(),
        groups.join(",")
    );
    Ok(0)
}
