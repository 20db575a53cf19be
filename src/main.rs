use clap::{Parser, Subcommand};

// The scheduler allocates many small strings and maps; mimalloc frees and
// reuses them several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "systole",
    version,
    about = "A high-availability cluster resource manager"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scheduler on a CIB file and print what crm_simulate prints.
    Simulate(systole::simulate::SimulateArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Simulate(args) => systole::simulate::run(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("systole: {error:#}");
            std::process::exit(1);
        }
    }
}
