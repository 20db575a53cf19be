//! The `systole` binary: parse the command line, run the command, exit
//! with its code. The grammar and the commands live in `systole::cli`.

use clap::Parser;
use systole::cli::args::{simulate_placeholder, Cli};

// The scheduler allocates many small strings and maps; mimalloc frees and
// reuses them several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse_from(simulate_placeholder(std::env::args().collect()));
    match systole::cli::run(cli, systole::web::command::run) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("systole: {error:#}");
            std::process::exit(1);
        }
    }
}
