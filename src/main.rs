use clap::{Parser, Subcommand};

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
