use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use systole::control::{self, ControlRequest, ControlResponse};
use systole::localcluster;

#[derive(Parser)]
#[command(
    name = "systole",
    version,
    about = "A high-availability cluster resource manager",
    after_help = "Client commands find their daemon by --socket, then $SYSTOLE_SOCKET, then --dir DIR [--node NAME], then /run/systole/systole.sock."
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

/// Which daemon a client command talks to.
#[derive(Args, Clone, Debug)]
struct Target {
    /// The daemon's control socket.
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// A local cluster's directory (from `cluster up`).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// With --dir: which node to ask (default: the first that answers).
    #[arg(long, global = true)]
    node: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node in the foreground.
    Daemon {
        #[arg(long)]
        config: PathBuf,
    },
    /// Write a new random authkey (mode 0600).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// A local cluster on loopback.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// The newcomer's tour: a 3-node cluster, a node failure, the failover.
    Demo {
        /// Leave the cluster running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Cluster status, like crm_mon.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// This node's supervisor tree.
    Actors {
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<ActorsAction>,
    },
    /// The CIB.
    Cib {
        #[command(subcommand)]
        action: CibAction,
    },
    /// Run the scheduler on a CIB file and print what crm_simulate prints.
    Simulate(systole::simulate::SimulateArgs),
    /// The bus's counters on this node: messages, retransmits, drops and why.
    Bus,
    /// Why a resource is where it is: scores, constraints, stickiness, failures.
    Explain { resource: String },
    /// Pacemaker's crm_attribute for resource agents (see agents/bin).
    #[command(hide = true)]
    CrmAttribute {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The transitions the DC ran: why, from which CIB, with what results.
    History {
        #[command(subcommand)]
        action: Option<HistoryAction>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum HistoryAction {
    /// One transition in full.
    Show { id: u64 },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Start N nodes in DIR (the demo configuration unless --empty).
    Up {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        #[arg(long)]
        empty: bool,
    },
    /// Stop the nodes of DIR.
    Down,
}

#[derive(Subcommand)]
enum ActorsAction {
    /// Inject a crash into one actor (admin only).
    Kill { name: String },
}

#[derive(Subcommand)]
enum CibAction {
    /// Print the CIB (Pacemaker XML).
    Export {
        /// Pacemaker XML (the only format so far; accepted for pcs habits).
        #[arg(long)]
        xml: bool,
    },
}

/// Finds the daemon's socket as DESIGN.md's contract says.
fn resolve_socket(target: &Target) -> anyhow::Result<PathBuf> {
    if let Some(socket) = &target.socket {
        return Ok(socket.clone());
    }
    if let Ok(socket) = std::env::var("SYSTOLE_SOCKET") {
        return Ok(PathBuf::from(socket));
    }
    if let Some(dir) = &target.dir {
        if let Some(node) = &target.node {
            return Ok(localcluster::socket_path(dir, node));
        }
        let nodes = localcluster::nodes_in(dir);
        if nodes.is_empty() {
            bail!(
                "{} holds no local cluster (run `systole cluster up --dir {}`)",
                dir.display(),
                dir.display()
            );
        }
        for node in &nodes {
            let socket = localcluster::socket_path(dir, node);
            if localcluster::ping(&socket) {
                return Ok(socket);
            }
        }
        bail!("no node of {} answers; is the cluster up?", dir.display());
    }
    Ok(PathBuf::from("/run/systole/systole.sock"))
}

fn ask(target: &Target, request: ControlRequest) -> anyhow::Result<ControlResponse> {
    let socket = resolve_socket(target)?;
    match control::call(&socket, &request, 20_000)? {
        ControlResponse::Error(error) => bail!("{error}"),
        response => Ok(response),
    }
}

fn need_dir(target: &Target) -> anyhow::Result<&Path> {
    target
        .dir
        .as_deref()
        .context("this command needs --dir DIR")
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let target = &cli.target;
    match cli.command {
        Command::Daemon { config } => {
            let config = systole::config::NodeConfig::load(&config)?;
            init_logging();
            systole::daemon::run(config)?;
        }
        Command::Keygen { out } => {
            systole::transport::keygen(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("wrote a new authkey to {} (mode 0600)", out.display());
        }
        Command::Cluster { action } => {
            let dir = need_dir(target)?;
            match action {
                ClusterAction::Up { nodes, empty } => {
                    localcluster::up(dir, nodes, empty)?;
                    println!(
                        "cluster of {nodes} nodes up in {}; try `systole status --dir {}`",
                        dir.display(),
                        dir.display()
                    );
                }
                ClusterAction::Down => {
                    let stopped = localcluster::down(dir)?;
                    println!("stopped {stopped} nodes of {}", dir.display());
                }
            }
        }
        Command::Demo { keep } => systole::demo::run(target.dir.clone(), keep)?,
        Command::Status { json } => match ask(target, ControlRequest::Status)? {
            ControlResponse::Status(report) if json => {
                println!("{}", serde_json::to_string_pretty(&report)?)
            }
            ControlResponse::Status(report) => print!("{}", systole::status_text::render(&report)),
            other => bail!("unexpected answer {other:?}"),
        },
        Command::Actors { json, action } => match action {
            Some(ActorsAction::Kill { name }) => {
                match ask(target, ControlRequest::ActorsKill { name })? {
                    ControlResponse::Done(text) => println!("{text}"),
                    other => bail!("unexpected answer {other:?}"),
                }
            }
            None => match ask(target, ControlRequest::Actors)? {
                ControlResponse::Actors { node, tree } if json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"node": node, "tree": tree})
                        )?
                    )
                }
                ControlResponse::Actors { node, tree } => {
                    print!("{}", systole::actors::tree::render_text(&node, &tree))
                }
                other => bail!("unexpected answer {other:?}"),
            },
        },
        Command::Cib { action } => match action {
            CibAction::Export { xml: _ } => match ask(target, ControlRequest::CibGet)? {
                ControlResponse::Cib { xml } => print!("{xml}"),
                other => bail!("unexpected answer {other:?}"),
            },
        },
        Command::Simulate(args) => return systole::simulate::run(&args),
        Command::History { action, json } => history(target, action, json)?,
        Command::Explain { resource } => match ask(target, ControlRequest::CibGet)? {
            ControlResponse::Cib { xml } => {
                let cib = systole::model::xml::Element::parse(&xml).context("the daemon's CIB")?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                print!("{}", systole::explain::explain(&cib, &resource, now)?);
            }
            other => bail!("unexpected answer {other:?}"),
        },
        Command::CrmAttribute { args } => return crm_attribute(target, &args),
        Command::Bus => match ask(target, ControlRequest::BusStats)? {
            ControlResponse::Done(text) => println!("{text}"),
            other => bail!("unexpected answer {other:?}"),
        },
    }
    Ok(0)
}

/// `systole history`: asks the DC (the node that ran the transitions).
fn history(target: &Target, action: Option<HistoryAction>, json: bool) -> anyhow::Result<()> {
    let mut socket = resolve_socket(target)?;
    if target.node.is_none() {
        if let (Some(dir), Ok(ControlResponse::Status(status))) = (
            &target.dir,
            control::call(&socket, &ControlRequest::Status, 5_000),
        ) {
            if let Some(dc) = status.dc {
                socket = localcluster::socket_path(dir, &dc);
            }
        }
    }
    let (node, transitions) = match control::call(&socket, &ControlRequest::History, 5_000)? {
        ControlResponse::History { node, transitions } => (node, transitions),
        ControlResponse::Error(e) => bail!("{e}"),
        other => bail!("unexpected answer {other:?}"),
    };
    match action {
        None if json => println!("{}", serde_json::to_string_pretty(&transitions)?),
        None => {
            println!("Transitions run by {node} (newest last):");
            for t in &transitions {
                println!(
                    "  {:>16}  input {}  {} actions  {}  cause: {}",
                    t.id,
                    t.input_version,
                    t.actions.len(),
                    t.outcome.as_deref().unwrap_or("running"),
                    t.cause
                );
            }
        }
        Some(HistoryAction::Show { id }) => {
            let t = transitions
                .iter()
                .find(|t| t.id == id)
                .with_context(|| format!("{node} has no transition {id}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(t)?);
                return Ok(());
            }
            println!(
                "Transition {} on {} from CIB {}",
                t.id, t.dc, t.input_version
            );
            println!("Cause: {}", t.cause);
            println!("Outcome: {}", t.outcome.as_deref().unwrap_or("running"));
            println!("Summary:");
            for line in &t.summary {
                println!("  {line}");
            }
            println!("Actions:");
            for a in &t.actions {
                println!(
                    "  [{:>3}] {:<40} {}",
                    a.id,
                    a.description,
                    a.result.as_deref().unwrap_or("not run")
                );
            }
        }
    }
    Ok(())
}

/// `crm_attribute`/`crm_master` on behalf of an agent: exit codes as
/// Pacemaker's (0 done, 6 no such attribute on query, 1 other errors).
fn crm_attribute(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use systole::crm_attribute::{parse, query, Action};
    let request = parse(args, &|key| std::env::var(key).ok())
        .map_err(|e| anyhow::anyhow!("crm_attribute: {e}"))?;
    if request.action == Action::Query {
        let cib = match ask(target, ControlRequest::CibGet)? {
            ControlResponse::Cib { xml } => systole::model::xml::Element::parse(&xml)?,
            other => bail!("unexpected answer {other:?}"),
        };
        return Ok(match query(&cib, &request) {
            Some(value) if request.quiet => {
                println!("{value}");
                0
            }
            Some(value) => {
                println!(
                    "scope={} name={} value={value}",
                    if request.transient { "status" } else { "nodes" },
                    request.name
                );
                0
            }
            None => {
                eprintln!(
                    "crm_attribute: no attribute {} on {}",
                    request.name, request.node
                );
                6
            }
        });
    }
    let change = request.change().expect("not a query");
    match ask(target, ControlRequest::CibModify { change })? {
        ControlResponse::Done(_) => Ok(0),
        other => bail!("unexpected answer {other:?}"),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SYSTOLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("systole: {error:#}");
            std::process::exit(1);
        }
    }
}
