//! Shell completions and man pages, rendered from the clap definition.

use anyhow::{bail, Context};
use std::path::Path;

use crate::cli::args::Cli;

/// `systole completions SHELL`: the script on standard output.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "systole", &mut script);
    // A closed pipe (`| head`) is no error worth a message.
    match std::io::Write::write_all(&mut std::io::stdout(), &script) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            bail!("writing the completion script: {error}")
        }
        _ => {}
    }
    Ok(0)
}

/// `systole man DIR`.
pub fn man_pages(dir: &Path) -> anyhow::Result<i32> {
    let written = write_man_pages(dir)?;
    println!("wrote {written} man pages into {}", dir.display());
    Ok(0)
}

/// `systole man DIR`: the top page and one per visible command, rendered
/// from the same definition the parser uses.
fn write_man_pages(dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let command = <Cli as clap::CommandFactory>::command().version(env!("CARGO_PKG_VERSION"));
    let mut pages = vec![("systole".to_string(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("systole-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(name.clone());
        pages.push((name, page));
    }
    for (name, page) in &pages {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page.clone()).render(&mut bytes)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(pages.len())
}
