//! The operator's side: the `systole` command line. [`args`] is the clap
//! grammar; [`run`] hands each command to the module of its group, whose
//! glue reaches the daemon or a shadow CIB through [`target`] and prints
//! the answer. The other modules hold the commands' substance: text output,
//! the local cluster and the demo, `simulate` and `explain`, and the tools
//! resource agents call.

pub mod agent_commands;
pub mod agent_tools;
pub mod alert;
pub mod args;
pub mod cib;
pub mod cluster;
pub mod constraint;
pub mod crm_attribute;
pub mod daemon;
pub mod demo;
pub mod docs;
pub mod explain;
pub mod localcluster;
pub mod node;
pub mod report;
pub mod resource;
pub mod simulate;
pub mod status;
pub mod status_text;
pub mod target;

use args::{Cli, Command, Target, WebArgs};

/// `systole web` belongs to the web console, a layer above this one; the
/// binary hands its entry in.
pub type WebCommand = fn(&Target, WebArgs) -> anyhow::Result<i32>;

/// Runs one command line; the process's exit code (0 when done, otherwise
/// as the command documents: `cib verify`, the agents' tools).
pub fn run(cli: Cli, web: WebCommand) -> anyhow::Result<i32> {
    let target = &cli.target;
    match cli.command {
        Command::Daemon { config } => daemon::node(&config, false),
        Command::Witness { config } => daemon::node(&config, true),
        Command::Remote { config } => daemon::remote(&config),
        Command::Keygen { out } => daemon::keygen(&out),
        Command::Cluster { action } => cluster::command(target, action),
        Command::Chaos { action } => cluster::chaos(target, action),
        Command::Demo { keep } => demo::run(target.dir.clone(), keep).map(|()| 0),
        Command::Web(args) => web(target, args),
        Command::Status { json, watch } => status::status(target, json, watch),
        Command::Actors { json, action } => status::actors(target, json, action),
        Command::Bus { json } => status::bus(target, json),
        Command::History { action, json } => status::history(target, action, json),
        Command::Explain { resource } => explain::command(target, &resource),
        Command::Cib { action } => cib::command(target, action),
        Command::Simulate(args) => cib::simulate(target, args),
        Command::Resource { action } => resource::command(target, action),
        Command::Constraint { action } => constraint::command(target, action),
        Command::Property { action } => constraint::property_command(target, action),
        Command::Node { action } => node::command(target, action),
        Command::Alert { action } => alert::alert_command(target, action),
        Command::Fence(args) => alert::fence_command(target, args),
        Command::Report { from, to, out } => report::command(target, &from, to.as_deref(), out),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man_pages(&dir),
        Command::CrmAttribute { args } => agent_commands::crm_attribute(target, &args),
        Command::AttrdUpdater { args } => agent_commands::attrd_updater(target, &args),
        Command::CrmNode { args } => agent_commands::crm_node(target, &args),
        Command::CrmResource { args } => agent_commands::crm_resource(target, &args),
    }
}
