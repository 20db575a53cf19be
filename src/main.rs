use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use systole::actors::control_socket::{self, ControlRequest, ControlResponse};
use systole::actors::message::CibChange;
use systole::admin;
use systole::cli::localcluster;
use systole::model::cib::diff;
use systole::model::cib::xml::Element;
use systole::os::shadow;

// The scheduler allocates many small strings and maps; mimalloc frees and
// reuses them several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Its own id, so a command's NODE argument is never taken for it.
    #[arg(long = "node", id = "target_node", global = true, value_name = "NODE")]
    node: Option<String>,
    /// Work on the shadow CIB NAME instead of the live cluster (see `cib shadow`).
    #[arg(long, global = true, value_name = "NAME")]
    shadow: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node in the foreground.
    Daemon {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a witness: a voter that runs no resources and never leads (a
    /// third vote for two machines).
    Witness {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a remote node's executor (as pacemaker_remote): no vote, no CIB;
    /// the cluster drives it over TCP (port 3121 by default) through an
    /// ocf:pacemaker:remote connection resource, or a guest node's container.
    Remote {
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
    /// The web console: live status, transition graphs, a sandbox and
    /// /metrics, talking to the cluster through the control socket.
    Web(WebArgs),
    /// Cluster status, like `crm_mon -1 --show-detail`.
    Status {
        #[arg(long)]
        json: bool,
        /// Keep showing it, refreshed whenever it changes (Ctrl-C ends).
        #[arg(long)]
        watch: bool,
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
    /// Run the scheduler on a CIB file and print what crm_simulate prints
    /// (`--shadow NAME` simulates a shadow CIB).
    Simulate(systole::cli::simulate::SimulateArgs),
    /// Resources: create, update, delete, move, ban, enable, disable, ...
    Resource {
        #[command(subcommand)]
        action: ResourceAction,
    },
    /// Location, colocation and order constraints.
    Constraint {
        #[command(subcommand)]
        action: ConstraintAction,
    },
    /// Cluster properties (crm_config).
    Property {
        #[command(subcommand)]
        action: PropertyAction,
    },
    /// Nodes: standby, online, maintenance, attributes.
    Node {
        #[command(subcommand)]
        action: NodeAction,
    },
    /// Shell completion script on standard output:
    /// `source <(systole completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Man pages (systole.1 and systole-COMMAND.1 for each command) into DIR.
    Man { dir: PathBuf },
    /// crm_report's job: CIB, history, status, every node's settings (not
    /// the authkey) and log lines of a window, in one .tar.gz.
    Report {
        /// Start of the window: a date-time (`2026-12-07 14:00`, UTC unless
        /// a zone is given), epoch seconds, or `-DURATION` before now (`-2h`).
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        /// End of the window (same forms); default now.
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Where to write it (default ./systole-report-DATE-TIME.tar.gz).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Alert agents called on cluster events, as `pcs alert`:
    /// create, update, delete, list, recipient add|remove.
    Alert {
        #[command(subcommand)]
        action: AlertAction,
    },
    /// Fence a node now, through the DC and the configured fence devices;
    /// `fence confirm NODE`, `fence level add|remove|list`.
    Fence(FenceArgs),
    /// The bus's counters on this node: messages, retransmits, drops and
    /// why, membership views installed since start (`view_changes`).
    Bus {
        #[arg(long)]
        json: bool,
    },
    /// Fault injection for chaos tests: cut this node off from others.
    Chaos {
        #[command(subcommand)]
        action: ChaosAction,
    },
    /// Why a resource is where it is: scores, constraints, stickiness, failures.
    Explain { resource: String },
    /// Pacemaker's crm_attribute for resource agents (see agents/bin).
    #[command(hide = true)]
    CrmAttribute {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Pacemaker's attrd_updater for resource agents (see agents/bin).
    #[command(hide = true)]
    AttrdUpdater {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Pacemaker's crm_node for resource agents (see agents/bin).
    #[command(hide = true)]
    CrmNode {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Pacemaker's crm_resource --locate for resource agents.
    #[command(hide = true)]
    CrmResource {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The transitions the DCs ran: why, from which CIB, with what results
    /// (kept on every node, so any node answers, after any change of DC).
    History {
        #[command(subcommand)]
        action: Option<HistoryAction>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct FenceArgs {
    #[command(subcommand)]
    action: Option<FenceAction>,
    /// The node to fence now.
    #[arg(value_name = "NODE")]
    victim: Option<String>,
    /// Power it off instead of rebooting it.
    #[arg(long)]
    off: bool,
}

#[derive(Args)]
struct WebArgs {
    #[command(subcommand)]
    action: Option<WebAction>,
    /// Address to serve on (port 0: any free port; the URL is printed).
    /// Any address but loopback needs --tls-cert, --tls-key and --users.
    #[arg(long, default_value = "127.0.0.1:7630")]
    bind: std::net::SocketAddr,
    /// PEM certificate chain for HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Users file (`systole web passwd` writes it): every page then needs a login.
    #[arg(long)]
    users: Option<PathBuf>,
    /// A node's configuration: its admin_group and readonly_group decide
    /// what each user may do (as on the control socket).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The admin group (overrides the configuration's).
    #[arg(long)]
    admin_group: Option<String>,
    /// The read-only group (overrides the configuration's).
    #[arg(long)]
    readonly_group: Option<String>,
}

#[derive(Subcommand)]
enum WebAction {
    /// Add or replace a user in a users file; the password is read from
    /// standard input (its first line).
    Passwd {
        #[arg(long)]
        users: PathBuf,
        name: String,
        /// The user's groups (the admin or read-only group of the cluster).
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AlertAction {
    /// `create path=PATH [id=ID] [description=TEXT] [options k=v...] [meta k=v...]
    /// [select nodes|fencing|resources|attributes|attribute=NAME...]`
    Create {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// `update ID [path=PATH] [description=TEXT] [options k=v...] [meta k=v...] [select ...]`; `k=` removes.
    Update {
        id: String,
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Delete alerts (with their recipients).
    #[command(alias = "remove")]
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// The configured alerts and recipients.
    #[command(alias = "config")]
    List,
    /// `recipient add ALERT value=V [id=ID] [options k=v...] [meta k=v...]`, `recipient remove ID...`.
    Recipient {
        #[command(subcommand)]
        action: RecipientAction,
    },
}

#[derive(Subcommand)]
enum RecipientAction {
    Add {
        alert: String,
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    #[command(alias = "delete")]
    Remove {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
enum FenceAction {
    /// NODE was powered off by hand: record it as fenced, so its resources
    /// may start elsewhere (stonith_admin --confirm). Refused for a member.
    Confirm {
        #[arg(value_name = "NODE")]
        victim: String,
    },
    /// Fencing topology: `level add INDEX NODE DEVICE...`, `level remove
    /// INDEX [NODE]`, `level list`.
    Level {
        #[command(subcommand)]
        action: LevelAction,
    },
}

#[derive(Subcommand)]
enum LevelAction {
    /// At level INDEX (1 first), fencing NODE takes every DEVICE.
    Add {
        index: u32,
        #[arg(value_name = "NODE")]
        victim: String,
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// Remove level INDEX (of NODE, or of every node).
    Remove {
        index: u32,
        #[arg(value_name = "NODE")]
        victim: Option<String>,
    },
    /// The levels, by node.
    List,
}

#[derive(Subcommand)]
enum ChaosAction {
    /// Drop every datagram between this node and NODE... (a partition).
    Block {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Stop blocking.
    Heal,
}

#[derive(Subcommand)]
enum HistoryAction {
    /// One transition in full.
    Show { id: u64 },
}

#[derive(Subcommand)]
enum ResourceAction {
    /// `create ID AGENT [name=value...] [meta name=value...] [op NAME name=value...]
    /// [clone|promotable [name=value...]] [--group G] [--disabled]`
    Create {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "ID AGENT ARGS"
        )]
        args: Vec<String>,
    },
    /// `update ID [name=value...] [meta name=value...] [op NAME name=value...]`; `name=` removes.
    Update {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "ID ARGS"
        )]
        args: Vec<String>,
    },
    /// Delete a resource (and the constraints that name it).
    #[command(alias = "remove")]
    Delete { id: String },
    /// The configured resources, with where they run.
    #[command(alias = "status")]
    List,
    /// One resource's configuration (XML).
    #[command(alias = "config")]
    Show { id: String },
    /// Move to NODE: adds location constraint cli-prefer-ID (until `clear`, or
    /// --lifetime); without NODE, away from where it runs (cli-ban-ID-on-NODE).
    Move {
        id: String,
        node: Option<String>,
        /// Let the constraint expire (10min, 2h, PT1H).
        #[arg(long)]
        lifetime: Option<String>,
    },
    /// Keep off NODE: adds location constraint cli-ban-ID-on-NODE.
    Ban {
        id: String,
        node: String,
        #[arg(long)]
        lifetime: Option<String>,
    },
    /// Remove the constraints move and ban added (on NODE only if given);
    /// `--expired`: only those whose lifetime has ended (ID optional then).
    Clear {
        id: Option<String>,
        node: Option<String>,
        #[arg(long)]
        expired: bool,
    },
    /// Forget operation history and fail counts (all resources / all nodes if not given).
    Cleanup {
        id: Option<String>,
        #[arg(value_name = "NODE")]
        on: Option<String>,
    },
    /// Let the cluster start it (removes target-role=Stopped).
    Enable { ids: Vec<String> },
    /// Stop it and keep it stopped (target-role=Stopped).
    Disable { ids: Vec<String> },
    /// Disable, wait until stopped, enable.
    Restart {
        id: String,
        /// Seconds to wait for the stop.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// The cluster manages it again.
    Manage { ids: Vec<String> },
    /// The cluster leaves it alone (is-managed=false).
    Unmanage { ids: Vec<String> },
    /// Groups: `group add G RSC...`, `group remove G RSC...`.
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Clone a primitive or group: `clone ID [name=value...]` (ID-clone).
    Clone { id: String, meta: Vec<String> },
    /// Resource defaults (rsc_defaults): `defaults [NAME=VALUE...]`; `NAME=` removes.
    Defaults { assignments: Vec<String> },
    /// Operation defaults: `op defaults [NAME=VALUE...]`.
    Op {
        #[command(subcommand)]
        action: OpAction,
    },
    /// Promotable clone: `promotable ID [name=value...]`.
    Promotable { id: String, meta: Vec<String> },
    /// The agents this node has: `agents [CLASS[:PROVIDER]]` (ocf,
    /// ocf:heartbeat, lsb, systemd, service, stonith).
    Agents { filter: Option<String> },
    /// An agent's parameters (with defaults) and actions, from its meta-data.
    Describe { agent: String },
}

#[derive(Subcommand)]
enum OpAction {
    /// Operation defaults (op_defaults): `[NAME=VALUE...]`; `NAME=` removes.
    Defaults { assignments: Vec<String> },
}

#[derive(Subcommand)]
enum GroupAction {
    /// Put resources into a group (created if new), in order.
    Add {
        group: String,
        #[arg(required = true)]
        resources: Vec<String>,
    },
    /// Take resources out of a group (an emptied group goes).
    Remove {
        group: String,
        #[arg(required = true)]
        resources: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ConstraintAction {
    /// `location RSC prefers|avoids NODE[=SCORE]...`, `location add ID RSC NODE SCORE`,
    /// `location remove ID`, `location list`
    Location {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// `colocation add [ROLE] RSC with [ROLE] WITH [SCORE] [id=ID]`, `colocation remove ID`, `colocation list`
    Colocation {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// `order [add] [ACTION] FIRST then [ACTION] THEN [kind=..] [symmetrical=..] [id=ID]`, `order remove ID`, `order list`
    Order {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Every constraint, one a line.
    #[command(alias = "show", alias = "config")]
    List,
    /// Remove constraints by id.
    #[command(alias = "delete")]
    Remove {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
enum PropertyAction {
    /// `set NAME=VALUE...`
    Set {
        #[arg(required = true)]
        assignments: Vec<String>,
        /// Accept a property name Pacemaker does not know.
        #[arg(long)]
        force: bool,
    },
    /// Back to the default.
    Unset {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// name=value lines.
    #[command(alias = "config")]
    List,
}

#[derive(Subcommand)]
enum NodeAction {
    /// Move resources away and keep them away.
    Standby { node: String },
    /// Undo standby.
    #[command(alias = "unstandby")]
    Online { node: String },
    /// Leave the node's resources alone (`--off` undoes).
    Maintenance {
        node: String,
        #[arg(long)]
        off: bool,
    },
    /// Undo maintenance.
    Unmaintenance { node: String },
    /// Add a member: it catches up as a learner, then votes. Start its
    /// daemon (with no initial_voters) before or after.
    Add {
        name: String,
        /// Where its bus listens.
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// A witness: votes, never leads, runs no resources.
        #[arg(long)]
        witness: bool,
    },
    /// Remove a member (stop it first; --force for an online one).
    Remove {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// `attribute [NODE [NAME=VALUE...]]`: list, set (`NAME=` removes).
    Attribute {
        node: Option<String>,
        assignments: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ShadowAction {
    /// Copy the live CIB into shadow NAME.
    Create {
        name: String,
        /// Overwrite an existing shadow.
        #[arg(long)]
        force: bool,
    },
    /// What the shadow changes against the live configuration.
    Diff { name: String },
    /// Make the shadow's configuration live; refused if the live CIB changed
    /// since the shadow was made, unless --force.
    Commit {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Print the shadow CIB.
    Export { name: String },
    /// Remove shadow NAME.
    Delete { name: String },
    /// The shadows in the shadow directory.
    List,
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
    /// Stop nodes cleanly: each moves its resources away first, nobody is
    /// fenced. `--node N` (with --dir: that node of the local cluster; else
    /// asked through the CIB), `--all`, or else the node the command talks to.
    Stop {
        #[arg(long)]
        all: bool,
    },
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
        /// Read through the DC: everything committed before the call is in
        /// it (plain reads answer from this node's copy).
        #[arg(long)]
        consistent: bool,
    },
    /// Check a CIB as the scheduler reads it (crm_verify): errors and
    /// warnings one a line; exit 1 on errors. Without FILE, the live CIB
    /// (or the shadow given with --shadow).
    Verify { file: Option<PathBuf> },
    /// Load a Pacemaker XML configuration (validated first; refused whole if invalid).
    Import {
        file: PathBuf,
        /// Add or replace elements by id instead of replacing the whole configuration.
        #[arg(long)]
        merge: bool,
    },
    /// Shadow CIBs: edit offline, diff, simulate, commit.
    Shadow {
        #[command(subcommand)]
        action: ShadowAction,
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
        // Distinguish a socket this caller may not open from a dead node.
        for node in &nodes {
            let socket = localcluster::socket_path(dir, node);
            if let Err(error) = std::os::unix::net::UnixStream::connect(&socket) {
                if error.kind() == std::io::ErrorKind::PermissionDenied {
                    bail!(
                        "permission denied on {}: only root, the daemon's user and the cluster's admin and read-only groups may connect",
                        socket.display()
                    );
                }
            }
        }
        bail!("no node of {} answers; is the cluster up?", dir.display());
    }
    Ok(PathBuf::from("/run/systole/systole.sock"))
}

fn ask(target: &Target, request: ControlRequest) -> anyhow::Result<ControlResponse> {
    let socket = resolve_socket(target)?;
    match control_socket::call(&socket, &request, 20_000)? {
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
            let (config, agents) = systole::actors::config::NodeConfig::load_with_agents(&config)?;
            init_logging(config.log_file.as_deref())?;
            systole::actors::daemon::run(config, agents, false)?;
        }
        Command::Witness { config } => {
            let (config, agents) = systole::actors::config::NodeConfig::load_with_agents(&config)?;
            init_logging(config.log_file.as_deref())?;
            systole::actors::daemon::run(config, agents, true)?;
        }
        Command::Remote { config } => {
            let (config, agents) = systole::actors::remote::config::RemoteConfig::load(&config)?;
            init_logging(config.log_file.as_deref())?;
            systole::actors::remote::server::run(config, agents)?;
        }
        Command::Keygen { out } => {
            systole::transport::keygen(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("wrote a new authkey to {} (mode 0600)", out.display());
        }
        Command::Cluster {
            action: ClusterAction::Stop { all },
        } => return cluster_stop(target, all),
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
                ClusterAction::Stop { .. } => unreachable!("handled above"),
            }
        }
        Command::Demo { keep } => systole::cli::demo::run(target.dir.clone(), keep)?,
        Command::Web(args) => return web(target, args),
        Command::Status { .. } if target.shadow.is_some() => bail!(
            "status shows the running cluster; for a shadow see `systole simulate --shadow NAME`"
        ),
        Command::Status { json, watch: true } => return watch_status(target, json),
        Command::Status { json, .. } => match ask(target, ControlRequest::Status)? {
            ControlResponse::Status(report) if json => {
                println!("{}", serde_json::to_string_pretty(&report)?)
            }
            ControlResponse::Status(report) => {
                print!("{}", systole::cli::status_text::render(&report))
            }
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
        Command::Cib { action } => return cib_command(target, action),
        Command::Simulate(mut args) => {
            if let Some(name) = &target.shadow {
                let dir = shadow_dir(target);
                shadow::load(&dir, name)?;
                args.cib = shadow::path(&dir, name);
            }
            return systole::cli::simulate::run(&args);
        }
        Command::Resource { action } => return resource_command(target, action),
        Command::Constraint { action } => return constraint_command(target, action),
        Command::Property { action } => return property_command(target, action),
        Command::Node { action } => return node_command(target, action),
        Command::History { action, json } => history(target, action, json)?,
        Command::Explain { resource } => match ask(target, ControlRequest::CibGet)? {
            ControlResponse::Cib { xml } => {
                let cib =
                    systole::model::cib::xml::Element::parse(&xml).context("the daemon's CIB")?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                print!("{}", systole::cli::explain::explain(&cib, &resource, now)?);
            }
            other => bail!("unexpected answer {other:?}"),
        },
        Command::CrmAttribute { args } => return crm_attribute(target, &args),
        Command::AttrdUpdater { args } => return attrd_updater(target, &args),
        Command::CrmNode { args } => return crm_node(target, &args),
        Command::CrmResource { args } => return crm_resource(target, &args),
        Command::Fence(args) => return fence_command(target, args),
        Command::Alert { action } => return alert_command(target, action),
        Command::Completions { shell } => {
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
        }
        Command::Man { dir } => {
            let written = write_man_pages(&dir)?;
            println!("wrote {written} man pages into {}", dir.display());
        }
        Command::Report { from, to, out } => {
            return report_command(target, &from, to.as_deref(), out)
        }
        Command::Chaos { action } => {
            let nodes = match action {
                ChaosAction::Block { nodes } => nodes,
                ChaosAction::Heal => Vec::new(),
            };
            match ask(target, ControlRequest::ChaosBlock { nodes })? {
                ControlResponse::Done(text) => println!("{text}"),
                other => bail!("unexpected answer {other:?}"),
            }
        }
        Command::Bus { json } => match ask(target, ControlRequest::BusStats)? {
            ControlResponse::Bus {
                node,
                stats,
                refused_non_members,
            } => print_bus(&node, &stats, refused_non_members, json)?,
            other => bail!("unexpected answer {other:?}"),
        },
    }
    Ok(0)
}

/// `systole bus [--json]`: one counter a line, or one JSON object.
fn print_bus(
    node: &str,
    stats: &systole::transport::TransportStats,
    refused_non_members: u64,
    json: bool,
) -> anyhow::Result<()> {
    let mut object = serde_json::to_value(stats)?;
    object["node"] = node.into();
    object["refused_non_members"] = refused_non_members.into();
    if json {
        println!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(());
    }
    println!("node: {node}");
    for (name, value) in object.as_object().into_iter().flatten() {
        if name != "node" {
            println!("{name}: {value}");
        }
    }
    Ok(())
}

/// `systole history`: every node holds the same finished transitions; the
/// DC also the running one's progress, so with `--dir` and no `--node` the
/// DC is asked.
fn history(target: &Target, action: Option<HistoryAction>, json: bool) -> anyhow::Result<()> {
    let mut socket = resolve_socket(target)?;
    if target.node.is_none() {
        if let (Some(dir), Ok(ControlResponse::Status(status))) = (
            &target.dir,
            control_socket::call(&socket, &ControlRequest::Status, 5_000),
        ) {
            if let Some(dc) = status.dc {
                socket = localcluster::socket_path(dir, &dc);
            }
        }
    }
    let (node, transitions) = match control_socket::call(&socket, &ControlRequest::History, 5_000)?
    {
        ControlResponse::History { node, transitions } => (node, transitions),
        ControlResponse::Error(e) => bail!("{e}"),
        other => bail!("unexpected answer {other:?}"),
    };
    match action {
        None if json => println!("{}", serde_json::to_string_pretty(&transitions)?),
        None => {
            println!("Transitions as {node} knows them (newest last):");
            for t in &transitions {
                println!(
                    "  {:>16}  dc {}  input {}  {} actions  {}  cause: {}",
                    t.id,
                    t.dc,
                    t.input_version,
                    t.actions.len() + t.actions_left_out,
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
                println!("  {}", history_action_line(a));
            }
            if t.actions_left_out > 0 {
                println!("  ... and {} more actions not kept", t.actions_left_out);
            }
        }
    }
    Ok(())
}

/// `[  3] start web on node2  ok  rc=0  on node2  13:05:09.120 +0.512s`.
fn history_action_line(a: &systole::model::control::history::ActionRecord) -> String {
    let mut line = format!(
        "[{:>3}] {:<40} {}",
        a.id,
        a.description,
        a.result.as_deref().unwrap_or("not run")
    );
    if let Some(rc) = a.rc {
        line.push_str(&format!("  rc={rc}"));
    }
    if let Some(node) = &a.node {
        line.push_str(&format!("  on {node}"));
    }
    if let Some(started) = a.started_epoch_ms {
        let clock = systole::model::cib::time::ctime(started.div_euclid(1000));
        let time_of_day = clock
            .split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_string();
        line.push_str(&format!(
            "  started {time_of_day}.{:03} UTC",
            started.rem_euclid(1000)
        ));
        if let Some(ended) = a.ended_epoch_ms {
            line.push_str(&format!("  took {} ms", ended - started));
        }
    }
    line
}

// ------------------------------------------------------------ administration

/// Global options typed after a free-form argument list land in it; take
/// them back out (`resource create web ocf:heartbeat:Dummy --dir /tmp/c`).
fn take_globals(args: &mut Vec<String>, target: &mut Target) -> anyhow::Result<()> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].clone();
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !matches!(key.as_str(), "--dir" | "--socket" | "--node" | "--shadow") {
            i += 1;
            continue;
        }
        args.remove(i);
        let value = match inline {
            Some(v) => v,
            None if i < args.len() => args.remove(i),
            None => bail!("{key} needs a value"),
        };
        match key.as_str() {
            "--dir" => target.dir = Some(PathBuf::from(value)),
            "--socket" => target.socket = Some(PathBuf::from(value)),
            "--node" => target.node = Some(value),
            _ => target.shadow = Some(value),
        }
    }
    Ok(())
}

/// `simulate --shadow NAME` without `--cib`: clap wants `--cib`, so give it
/// a placeholder the shadow's path replaces after parsing.
fn simulate_placeholder(mut argv: Vec<String>) -> Vec<String> {
    if argv.iter().skip(1).any(|a| a == "simulate")
        && argv
            .iter()
            .any(|a| a == "--shadow" || a.starts_with("--shadow="))
        && !argv.iter().any(|a| a == "--cib" || a.starts_with("--cib="))
    {
        argv.push("--cib".into());
        argv.push("(shadow)".into());
    }
    argv
}

fn shadow_dir(target: &Target) -> PathBuf {
    shadow::shadow_dir(
        std::env::var("SYSTOLE_SHADOW_DIR").ok().as_deref(),
        target.dir.as_deref(),
    )
}

fn now_epoch_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn live_cib(target: &Target) -> anyhow::Result<Element> {
    match ask(target, ControlRequest::CibGet)? {
        ControlResponse::Cib { xml } => Ok(Element::parse(&xml)?),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// The CIB a command works on: the shadow if `--shadow`, else the live one.
fn current_cib(target: &Target) -> anyhow::Result<Element> {
    match &target.shadow {
        Some(name) => shadow::load(&shadow_dir(target), name),
        None => live_cib(target),
    }
}

/// Applies an edit (to the shadow, or through the DC) and says what changed.
fn commit_edit(target: &Target, edit: admin::Edit) -> anyhow::Result<i32> {
    if edit.is_empty() {
        println!("nothing to change");
        return Ok(0);
    }
    let summary = edit.summary.clone();
    match &target.shadow {
        Some(name) => {
            let dir = shadow_dir(target);
            let before = shadow::load(&dir, name)?;
            let mut cib = before.clone();
            edit.apply(&mut cib)?;
            // The same check as a live write: a shadow never takes an error.
            systole::model::cib::verify::check_write(&before, &cib, now_epoch_s())?;
            shadow::save(&dir, name, &cib)?;
            for line in summary {
                println!("{line}");
            }
            println!("(in shadow {name}; `systole cib shadow diff {name}` to review)");
        }
        None => {
            let change = edit.into_change().expect("not empty");
            match ask(target, ControlRequest::CibModify { change })? {
                ControlResponse::Done(text) => {
                    for line in summary {
                        println!("{line}");
                    }
                    println!("({text})");
                }
                other => bail!("unexpected answer {other:?}"),
            }
        }
    }
    Ok(0)
}

fn edit_each(
    target: &Target,
    ids: &[String],
    make: fn(&Element, &str) -> admin::Result<admin::Edit>,
) -> anyhow::Result<i32> {
    if ids.is_empty() {
        bail!("which resource? give at least one id");
    }
    let cib = current_cib(target)?;
    let mut all = admin::Edit::default();
    for id in ids {
        let edit = make(&cib, id)?;
        all.changes.extend(edit.changes);
        all.summary.extend(edit.summary);
    }
    commit_edit(target, all)
}

fn resource_command(target: &Target, action: ResourceAction) -> anyhow::Result<i32> {
    let mut target = target.clone();
    match action {
        ResourceAction::Create { mut args } => {
            take_globals(&mut args, &mut target)?;
            let force = take_flag(&mut args, "--force");
            let cib = current_cib(&target)?;
            let edit = admin::resource_create(&cib, &args)?;
            if !force {
                check_agent_parameters(&target, &args)?;
            }
            commit_edit(&target, edit)
        }
        ResourceAction::Agents { filter } => {
            match ask(&target, ControlRequest::Agents { filter })? {
                ControlResponse::Agents(agents) => {
                    for agent in agents {
                        println!("{agent}");
                    }
                }
                other => bail!("unexpected answer {other:?}"),
            }
            Ok(0)
        }
        ResourceAction::Describe { agent } => {
            match ask(&target, ControlRequest::DescribeAgent { agent })? {
                ControlResponse::AgentMetadata(meta) => print!("{}", meta.render()),
                other => bail!("unexpected answer {other:?}"),
            }
            Ok(0)
        }
        ResourceAction::Update { mut args } => {
            take_globals(&mut args, &mut target)?;
            let cib = current_cib(&target)?;
            commit_edit(&target, admin::resource_update(&cib, &args)?)
        }
        ResourceAction::Delete { id } => {
            let cib = current_cib(&target)?;
            commit_edit(&target, admin::resource_delete(&cib, &id)?)
        }
        ResourceAction::List => {
            print!("{}", admin::resource_list(&current_cib(&target)?));
            Ok(0)
        }
        ResourceAction::Show { id } => {
            print!("{}", admin::resource_show(&current_cib(&target)?, &id)?);
            Ok(0)
        }
        ResourceAction::Move { id, node, lifetime } => {
            let cib = current_cib(&target)?;
            let edit = match node {
                Some(node) => {
                    admin::resource_move(&cib, &id, &node, lifetime.as_deref(), now_epoch_s())?
                }
                None => admin::resource_move_away(&cib, &id, lifetime.as_deref(), now_epoch_s())?,
            };
            commit_edit(&target, edit)
        }
        ResourceAction::Ban { id, node, lifetime } => {
            let cib = current_cib(&target)?;
            let edit = admin::resource_ban(&cib, &id, &node, lifetime.as_deref(), now_epoch_s())?;
            commit_edit(&target, edit)
        }
        ResourceAction::Clear { id, node, expired } => {
            let cib = current_cib(&target)?;
            let edit = match (id, expired) {
                (id, true) => admin::resource_clear_expired(&cib, id.as_deref(), now_epoch_s())?,
                (Some(id), false) => admin::resource_clear(&cib, &id, node.as_deref())?,
                (None, false) => bail!("which resource? `resource clear ID [NODE]` (or --expired)"),
            };
            if edit.is_empty() {
                println!("no cli-prefer/cli-ban constraints to clear; nothing changed");
                return Ok(0);
            }
            commit_edit(&target, edit)
        }
        ResourceAction::Cleanup { id, on } => {
            let cib = current_cib(&target)?;
            commit_edit(
                &target,
                admin::resource_cleanup(&cib, id.as_deref(), on.as_deref())?,
            )
        }
        ResourceAction::Enable { ids } => edit_each(&target, &ids, admin::resource_enable),
        ResourceAction::Disable { ids } => edit_each(&target, &ids, admin::resource_disable),
        ResourceAction::Manage { ids } => edit_each(&target, &ids, admin::resource_manage),
        ResourceAction::Unmanage { ids } => edit_each(&target, &ids, admin::resource_unmanage),
        ResourceAction::Restart { id, timeout } => restart(&target, &id, timeout),
        ResourceAction::Group { action } => {
            let cib = current_cib(&target)?;
            let edit = match action {
                GroupAction::Add { group, resources } => {
                    admin::group_add(&cib, &group, &resources)?
                }
                GroupAction::Remove { group, resources } => {
                    admin::group_remove(&cib, &group, &resources)?
                }
            };
            commit_edit(&target, edit)
        }
        ResourceAction::Defaults { assignments } => defaults(&target, "rsc_defaults", &assignments),
        ResourceAction::Op {
            action: OpAction::Defaults { assignments },
        } => defaults(&target, "op_defaults", &assignments),
        ResourceAction::Clone { id, meta } => {
            let cib = current_cib(&target)?;
            commit_edit(&target, admin::resource_clone(&cib, &id, false, &meta)?)
        }
        ResourceAction::Promotable { id, meta } => {
            let cib = current_cib(&target)?;
            commit_edit(&target, admin::resource_clone(&cib, &id, true, &meta)?)
        }
    }
}

fn defaults(target: &Target, section: &str, assignments: &[String]) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    if assignments.is_empty() {
        print!("{}", admin::defaults_list(&cib, section));
        return Ok(0);
    }
    commit_edit(target, admin::defaults_set(&cib, section, assignments)?)
}

/// Whether no instance of `id` (or of what it contains) runs anywhere.
fn stopped(report: &control_socket::StatusReport, cib: &Element, id: &str) -> bool {
    let members: Vec<String> = admin::find_resource(cib, id)
        .map(|r| {
            let mut ids = Vec::new();
            r.walk(&mut |e| {
                if let Some(i) = e.id() {
                    ids.push(i.to_string());
                }
            });
            ids
        })
        .unwrap_or_default();
    report.resources.iter().all(|r| {
        let base = r.id.split(':').next().unwrap_or(&r.id);
        let ours = members
            .iter()
            .any(|m| m == base || r.parent.as_deref() == Some(m));
        !ours || r.nodes.is_empty()
    })
}

/// `resource restart`: disable, wait for the stop, enable.
fn restart(target: &Target, id: &str, timeout_s: u64) -> anyhow::Result<i32> {
    if target.shadow.is_some() {
        bail!("restart acts on the running cluster; it has no meaning for a shadow");
    }
    let cib = live_cib(target)?;
    commit_edit(target, admin::resource_disable(&cib, id)?)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_s);
    let mut stopped_in_time = false;
    while std::time::Instant::now() < deadline {
        if let ControlResponse::Status(report) = ask(target, ControlRequest::Status)? {
            if stopped(&report, &cib, id) {
                stopped_in_time = true;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let cib = live_cib(target)?;
    commit_edit(target, admin::resource_enable(&cib, id)?)?;
    if !stopped_in_time {
        bail!("{id} did not stop within {timeout_s} s; it was enabled again anyway");
    }
    println!("restarted {id}");
    Ok(0)
}

fn constraint_command(target: &Target, action: ConstraintAction) -> anyhow::Result<i32> {
    let mut target = target.clone();
    let (kind, mut args) = match action {
        ConstraintAction::List => {
            print!("{}", admin::constraint_list(&current_cib(&target)?, None));
            return Ok(0);
        }
        ConstraintAction::Remove { ids } => {
            let cib = current_cib(&target)?;
            return commit_edit(&target, admin::constraint_remove(&cib, &ids)?);
        }
        ConstraintAction::Location { args } => ("location", args),
        ConstraintAction::Colocation { args } => ("colocation", args),
        ConstraintAction::Order { args } => ("order", args),
    };
    take_globals(&mut args, &mut target)?;
    let cib = current_cib(&target)?;
    match args.first().map(String::as_str) {
        None | Some("list") | Some("show") | Some("config") => {
            print!("{}", admin::constraint_list(&cib, Some(kind)));
            Ok(0)
        }
        Some("remove") | Some("delete") => {
            commit_edit(&target, admin::constraint_remove(&cib, &args[1..])?)
        }
        _ => {
            let edit = match kind {
                "location" => admin::constraint_location(&cib, &args)?,
                "colocation" => admin::constraint_colocation(&cib, &args)?,
                _ => admin::constraint_order(&cib, &args)?,
            };
            commit_edit(&target, edit)
        }
    }
}

fn property_command(target: &Target, action: PropertyAction) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    match action {
        PropertyAction::Set { assignments, force } => {
            commit_edit(target, admin::property_set(&cib, &assignments, force)?)
        }
        PropertyAction::Unset { names } => {
            commit_edit(target, admin::property_unset(&cib, &names)?)
        }
        PropertyAction::List => {
            print!("{}", admin::property_list(&cib));
            Ok(0)
        }
    }
}

fn node_command(target: &Target, action: NodeAction) -> anyhow::Result<i32> {
    let request = match &action {
        NodeAction::Add {
            name,
            addr,
            witness,
        } => Some(ControlRequest::MemberAdd {
            name: name.clone(),
            addr: addr.clone(),
            witness: *witness,
        }),
        NodeAction::Remove { name, force } => Some(ControlRequest::MemberRemove {
            name: name.clone(),
            force: *force,
        }),
        _ => None,
    };
    if let Some(request) = request {
        if target.shadow.is_some() {
            bail!("membership is not part of a shadow CIB; drop --shadow");
        }
        return match ask(target, request)? {
            ControlResponse::Done(text) => {
                println!("{text}");
                Ok(0)
            }
            other => bail!("unexpected answer {other:?}"),
        };
    }
    let cib = current_cib(target)?;
    let edit = match action {
        NodeAction::Standby { node } => admin::node_standby(&cib, &node)?,
        NodeAction::Online { node } => admin::node_online(&cib, &node)?,
        NodeAction::Maintenance { node, off } => admin::node_maintenance(&cib, &node, !off)?,
        NodeAction::Unmaintenance { node } => admin::node_maintenance(&cib, &node, false)?,
        NodeAction::Attribute { node, assignments } if assignments.is_empty() => {
            print!("{}", admin::node_attributes_list(&cib, node.as_deref()));
            return Ok(0);
        }
        NodeAction::Attribute { node, assignments } => {
            admin::node_attribute(&cib, node.as_deref().unwrap_or_default(), &assignments)?
        }
        NodeAction::Add { .. } | NodeAction::Remove { .. } => unreachable!("handled above"),
    };
    commit_edit(target, edit)
}

fn cib_command(target: &Target, action: CibAction) -> anyhow::Result<i32> {
    match action {
        CibAction::Export { xml: _, consistent } => match &target.shadow {
            Some(_) => print!("{}", current_cib(target)?.to_xml_pretty()),
            None => match ask(
                target,
                if consistent {
                    ControlRequest::CibGetConsistent
                } else {
                    ControlRequest::CibGet
                },
            )? {
                ControlResponse::Cib { xml } => print!("{xml}"),
                other => bail!("unexpected answer {other:?}"),
            },
        },
        CibAction::Verify { file } => {
            let cib = match file {
                Some(file) => Element::parse(&read_cib_file(&file)?)
                    .with_context(|| format!("parsing {}", file.display()))?,
                None => current_cib(target)?,
            };
            let issues = systole::model::cib::verify::verify(&cib, now_epoch_s());
            for issue in &issues {
                println!("{issue}");
            }
            return Ok(i32::from(issues.iter().any(|i| i.is_error())));
        }
        CibAction::Import { file, merge } => {
            let text = read_cib_file(&file)?;
            let cib = current_cib(target)?;
            return commit_edit(target, admin::cib_import(&cib, &text, merge)?);
        }
        CibAction::Shadow { action } => return shadow_command(target, action),
    }
    Ok(0)
}

/// A CIB file's text, refused before it is read when over the size limit
/// (a 200 MB file must not cost gigabytes) or when it is not a regular file.
fn read_cib_file(file: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let limit = systole::model::cib::verify::CIB_BYTES_MAX;
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", file.display());
    }
    if meta.len() > limit as u64 {
        bail!(
            "{} is {} bytes, over CIB_BYTES_MAX = {limit} bytes; refused",
            file.display(),
            meta.len()
        );
    }
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(limit as u64 + 1).read_to_string(&mut text))
        .with_context(|| format!("reading {}", file.display()))?;
    if text.len() > limit {
        bail!(
            "{} grew over CIB_BYTES_MAX = {limit} bytes while read; refused",
            file.display()
        );
    }
    Ok(text)
}

fn shadow_command(target: &Target, action: ShadowAction) -> anyhow::Result<i32> {
    let dir = shadow_dir(target);
    match action {
        ShadowAction::Create { name, force } => {
            let live = live_cib(target)?;
            let file = shadow::create(&dir, &name, &live, force)?;
            let v = systole::model::cib::store::version(&live);
            println!(
                "created shadow {name} from the live CIB (version {v}) at {}; edit it with `--shadow {name}`",
                file.display()
            );
        }
        ShadowAction::Diff { name } => {
            let shadow_cib = shadow::load(&dir, &name)?;
            let live = live_cib(target)?;
            let changes = diff::diff(
                &admin::configuration_of(&live),
                &admin::configuration_of(&shadow_cib),
            );
            if changes.is_empty() {
                println!("shadow {name} has the live configuration");
            } else {
                print!("{}", diff::render(&changes));
            }
        }
        ShadowAction::Commit { name, force } => {
            let change = shadow::commit_change(&dir, &name, force)?;
            match ask(target, ControlRequest::CibModify { change }) {
                Ok(ControlResponse::Done(text)) => {
                    println!("committed shadow {name}: its configuration is live ({text})")
                }
                Ok(other) => bail!("unexpected answer {other:?}"),
                Err(error) => bail!("commit of shadow {name} refused: {error}"),
            }
        }
        ShadowAction::Export { name } => print!("{}", shadow::load(&dir, &name)?.to_xml_pretty()),
        ShadowAction::Delete { name } => {
            shadow::delete(&dir, &name)?;
            println!("deleted shadow {name}");
        }
        ShadowAction::List => {
            let names = shadow::list(&dir);
            if names.is_empty() {
                println!("no shadows in {}", dir.display());
            }
            for name in names {
                println!("{name}");
            }
        }
    }
    Ok(0)
}

fn web(target: &Target, args: WebArgs) -> anyhow::Result<i32> {
    if let Some(WebAction::Passwd {
        users,
        name,
        groups,
    }) = args.action
    {
        return web_passwd(&users, &name, &groups);
    }
    let endpoint = match (&target.socket, &target.dir) {
        (None, Some(dir)) if target.node.is_none() => systole::web::Endpoint::Dir(dir.clone()),
        _ => systole::web::Endpoint::Socket(resolve_socket(target)?),
    };
    let mut groups = systole::web::auth::GroupPolicy::default();
    if let Some(path) = &args.config {
        let config = systole::actors::config::NodeConfig::load(path)?;
        groups.admin_group = config.admin_group;
        groups.readonly_group = config.readonly_group;
    }
    groups.admin_group = args.admin_group.or(groups.admin_group);
    groups.readonly_group = args.readonly_group.or(groups.readonly_group);
    let options = systole::web::WebOptions {
        bind: args.bind,
        endpoint,
        tls: args.tls_cert.zip(args.tls_key),
        users: args.users,
        groups,
        shadow_dir: shadow_dir(target),
    };
    // Refused before anything starts, with the reason.
    systole::web::check_options(&options)?;
    init_logging(None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the web console's runtime")?;
    runtime.block_on(systole::web::serve(options))?;
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
    let line = systole::web::auth::user_line(
        name,
        groups,
        password,
        systole::web::auth::PBKDF2_ITERATIONS,
    )
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
    systole::os::persist::write_atomic(users, text.as_bytes())?;
    std::fs::set_permissions(users, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    println!(
        "{name} written to {} (groups {})",
        users.display(),
        groups.join(",")
    );
    Ok(0)
}

/// `crm_attribute`/`crm_master` on behalf of an agent: exit codes as
/// Pacemaker's (0 done, 6 no such attribute on query, 1 other errors).
fn crm_attribute(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use systole::cli::crm_attribute::{parse, query, Action};
    let request = parse(args, &|key| std::env::var(key).ok())
        .map_err(|e| anyhow::anyhow!("crm_attribute: {e}"))?;
    if request.action == Action::Query {
        let cib = match ask(target, ControlRequest::CibGet)? {
            ControlResponse::Cib { xml } => systole::model::cib::xml::Element::parse(&xml)?,
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

/// Removes `flag` from free-form arguments; whether it was there.
fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

/// `resource create` checks the parameters against the agent's meta-data
/// (asked of the daemon, which knows this node's agents): unknown ones and
/// missing required ones are refused, in the agent's own words.
fn check_agent_parameters(target: &Target, args: &[String]) -> anyhow::Result<()> {
    let [_, agent, rest @ ..] = args else {
        return Ok(());
    };
    let parsed = admin::parse_resource_args(rest)?;
    let given: Vec<&str> = parsed.params.iter().map(|(k, _)| k.as_str()).collect();
    let meta = match ask(
        target,
        ControlRequest::DescribeAgent {
            agent: agent.clone(),
        },
    ) {
        Ok(ControlResponse::AgentMetadata(meta)) => meta,
        Ok(other) => bail!("unexpected answer {other:?}"),
        Err(_) if target.shadow.is_some() => {
            eprintln!("note: no daemon to ask about {agent}; its parameters were not checked");
            return Ok(());
        }
        Err(error) => bail!("{error:#}; nothing created (--force creates it anyway)"),
    };
    let problems = meta.check_parameters(given);
    if !problems.is_empty() {
        bail!(
            "{}\nnothing created (--force creates it anyway; `systole resource describe {agent}` lists its parameters)",
            problems.join("\n")
        );
    }
    Ok(())
}

/// `systole fence ...`.
fn fence_command(target: &Target, args: FenceArgs) -> anyhow::Result<i32> {
    let request = match (args.action, args.victim) {
        (Some(FenceAction::Confirm { victim }), _) => {
            ControlRequest::FenceConfirm { target: victim }
        }
        (Some(FenceAction::Level { action }), _) => return fence_level(target, action),
        (None, Some(victim)) => ControlRequest::Fence {
            target: victim,
            action: if args.off { "off" } else { "reboot" }.into(),
        },
        (None, None) => {
            bail!("which node? `systole fence NODE`, `fence confirm NODE` or `fence level ...`")
        }
    };
    match ask(target, request)? {
        ControlResponse::Done(text) => println!("{text}"),
        other => bail!("unexpected answer {other:?}"),
    }
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

/// A report window's end: a date-time, epoch seconds or `-DURATION` ago.
fn report_time(text: &str, now_epoch_s: i64) -> anyhow::Result<i64> {
    if let Some(ago) = text.strip_prefix('-') {
        let ms = systole::model::cib::time::read_duration_ms(ago)?;
        return Ok(now_epoch_s - (ms / 1000) as i64);
    }
    Ok(systole::model::cib::time::read_datetime(text)?)
}

fn report_command(
    target: &Target,
    from: &str,
    to: Option<&str>,
    out: Option<PathBuf>,
) -> anyhow::Result<i32> {
    let now = now_epoch_s();
    let from_epoch_s = report_time(from, now).context("--from")?;
    let to_epoch_s = match to {
        Some(to) => report_time(to, now).context("--to")?,
        None => now,
    };
    if from_epoch_s > to_epoch_s {
        bail!("--from is after --to: the window is empty");
    }
    let socket = resolve_socket(target)?;
    let request = ControlRequest::Report {
        from_epoch_s,
        to_epoch_s,
    };
    let report = match control_socket::call(&socket, &request, 90_000)? {
        ControlResponse::Report(report) => report,
        ControlResponse::Error(error) => bail!("{error}"),
        other => bail!("unexpected answer {other:?}"),
    };
    let stamp = systole::admin::iso8601(now).replace([':', '-'], "");
    let name = format!("systole-report-{}", stamp.trim_end_matches('Z'));
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{name}.tar.gz")));
    let bytes = systole::cli::report::tarball(&report, &name)?;
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {}: CIB, {} transitions, {} nodes' settings and logs",
        path.display(),
        report.history.len(),
        report.parts.len()
    );
    for (node, why) in &report.missing {
        println!("  {node} did not answer: {why}");
    }
    Ok(0)
}

fn alert_command(target: &Target, mut action: AlertAction) -> anyhow::Result<i32> {
    use admin::alerts;
    // `--dir DIR` typed after the free-form words belongs to the target.
    let mut target = target.clone();
    if let AlertAction::Create { args }
    | AlertAction::Update { args, .. }
    | AlertAction::Recipient {
        action: RecipientAction::Add { args, .. },
    } = &mut action
    {
        take_globals(args, &mut target)?;
    }
    let target = &target;
    let cib = current_cib(target)?;
    let edit = match action {
        AlertAction::List => {
            print!("{}", alerts::alert_list(&cib));
            return Ok(0);
        }
        AlertAction::Create { args } => alerts::alert_create(&cib, &args)?,
        AlertAction::Update { id, args } => alerts::alert_update(&cib, &id, &args)?,
        AlertAction::Delete { ids } => alerts::alert_delete(&cib, &ids)?,
        AlertAction::Recipient {
            action: RecipientAction::Add { alert, args },
        } => alerts::recipient_add(&cib, &alert, &args)?,
        AlertAction::Recipient {
            action: RecipientAction::Remove { ids },
        } => alerts::recipient_remove(&cib, &ids)?,
    };
    commit_edit(target, edit)
}

fn fence_level(target: &Target, action: LevelAction) -> anyhow::Result<i32> {
    let cib = current_cib(target)?;
    let edit = match action {
        LevelAction::List => {
            print!("{}", admin::fencing::level_list(&cib));
            return Ok(0);
        }
        LevelAction::Add {
            index,
            victim,
            devices,
        } => admin::fencing::level_add(&cib, index, &victim, &devices)?,
        LevelAction::Remove { index, victim } => {
            admin::fencing::level_remove(&cib, index, victim.as_deref())?
        }
    };
    commit_edit(target, edit)
}

/// `systole status --watch`: redrawn whenever what it shows changes.
fn watch_status(target: &Target, json: bool) -> anyhow::Result<i32> {
    const REFRESH_MS: u64 = 500;
    let mut shown = String::new();
    loop {
        let text = match ask(target, ControlRequest::Status) {
            Ok(ControlResponse::Status(mut report)) => {
                // The clock alone is no change worth a redraw.
                report.updated_epoch_s = 0;
                if json {
                    serde_json::to_string(&report)? + "\n"
                } else {
                    systole::cli::status_text::render(&report)
                }
            }
            Ok(other) => bail!("unexpected answer {other:?}"),
            Err(error) => format!("no answer from the daemon: {error:#}\n"),
        };
        if text != shown {
            if !json {
                // Clear the screen and go home, as crm_mon does.
                print!("\x1b[2J\x1b[H");
            }
            print!("{text}");
            use std::io::Write;
            std::io::stdout().flush()?;
            shown = text;
        }
        std::thread::sleep(std::time::Duration::from_millis(REFRESH_MS));
    }
}

/// `systole cluster stop`: nodes leave cleanly, their resources moved away.
fn cluster_stop(target: &Target, all: bool) -> anyhow::Result<i32> {
    if let Some(dir) = &target.dir {
        if all {
            let stopped = localcluster::down(dir)?;
            println!("stopped {stopped} nodes of {}", dir.display());
            return Ok(0);
        }
        let node = target
            .node
            .as_deref()
            .context("which node? --node N, or --all")?;
        localcluster::stop_node(dir, node)?;
        println!("{node} stopped; its resources were moved away first");
        return Ok(0);
    }
    let nodes: Vec<String> = match (&target.node, all) {
        (Some(node), _) => vec![node.clone()],
        (None, true) => match ask(target, ControlRequest::Status)? {
            ControlResponse::Status(report) => report
                .nodes
                .into_iter()
                .filter(|n| n.online)
                .map(|n| n.name)
                .collect(),
            other => bail!("unexpected answer {other:?}"),
        },
        (None, false) => {
            match ask(target, ControlRequest::Shutdown)? {
                ControlResponse::Done(text) => println!("{text}"),
                other => bail!("unexpected answer {other:?}"),
            }
            return Ok(0);
        }
    };
    for node in nodes {
        let change = CibChange::SetTransientAttribute {
            node: node.clone(),
            name: "shutdown".into(),
            value: Some(now_epoch_s().to_string()),
        };
        match ask(target, ControlRequest::CibModify { change })? {
            ControlResponse::Done(_) => {
                println!("asked {node} to stop: it moves its resources away, then leaves")
            }
            other => bail!("unexpected answer {other:?}"),
        }
    }
    Ok(0)
}

/// `attrd_updater` on behalf of an agent.
fn attrd_updater(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use systole::cli::agent_tools::{
        parse_attrd_updater, render_attrd_query, AttrdAction, EXIT_NO_SUCH, EXIT_USAGE,
    };
    let request = match parse_attrd_updater(args, &|key| std::env::var(key).ok()) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("{error}");
            return Ok(EXIT_USAGE);
        }
    };
    let value = match request.action {
        AttrdAction::Nothing => return Ok(0),
        AttrdAction::Update(value) => Some(value),
        AttrdAction::Delete => None,
        AttrdAction::Query { all_nodes } => {
            let query = ControlRequest::AttrQuery {
                node: (!all_nodes).then(|| request.node.clone()),
                name: request.name.clone(),
            };
            let values = match ask(target, query)? {
                ControlResponse::Attributes(values) => values,
                other => bail!("unexpected answer {other:?}"),
            };
            if values.iter().all(|(_, v)| v.is_none()) {
                eprintln!(
                    "attrd_updater: could not query value of {}: attribute does not exist",
                    request.name
                );
                return Ok(EXIT_NO_SUCH);
            }
            let known: Vec<_> = values.into_iter().filter(|(_, v)| v.is_some()).collect();
            print!(
                "{}",
                render_attrd_query(&request.name, &known, request.quiet)
            );
            return Ok(0);
        }
    };
    let update = ControlRequest::AttrUpdate {
        node: request.node,
        name: request.name,
        value,
        dampen_ms: request.dampen_ms,
    };
    match ask(target, update)? {
        ControlResponse::Done(_) => Ok(0),
        other => bail!("unexpected answer {other:?}"),
    }
}

fn status_for_tools(target: &Target) -> anyhow::Result<control_socket::StatusReport> {
    match ask(target, ControlRequest::Status)? {
        ControlResponse::Status(report) => Ok(report),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// `crm_node` on behalf of an agent.
fn crm_node(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use systole::cli::agent_tools::{answer_crm_node, parse_crm_node, CrmNodeQuery, EXIT_USAGE};
    let query = match parse_crm_node(args) {
        Ok(query) => query,
        Err(error) => {
            eprintln!("{error}");
            return Ok(EXIT_USAGE);
        }
    };
    // The own name needs no daemon.
    if let (CrmNodeQuery::Name(None) | CrmNodeQuery::Id, Ok(me)) =
        (&query, std::env::var("SYSTOLE_NODE"))
    {
        println!("{me}");
        return Ok(0);
    }
    let status = status_for_tools(target)?;
    let me = std::env::var("SYSTOLE_NODE").unwrap_or_else(|_| status.answered_by.clone());
    match answer_crm_node(&query, &me, &status) {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(systole::cli::agent_tools::EXIT_NO_SUCH)
        }
    }
}

/// `crm_resource --locate` on behalf of an agent.
fn crm_resource(target: &Target, args: &[String]) -> anyhow::Result<i32> {
    use systole::cli::agent_tools::{answer_locate, parse_crm_resource, EXIT_NO_SUCH, EXIT_USAGE};
    let request = match parse_crm_resource(args) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("{error}");
            return Ok(EXIT_USAGE);
        }
    };
    match answer_locate(&request, &status_for_tools(target)?) {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(EXIT_NO_SUCH)
        }
    }
}

/// Logs to the node's `log_file` when it has one (appended), else to
/// standard error (the journal under systemd).
fn init_logging(log_file: Option<&Path>) -> anyhow::Result<()> {
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

fn main() {
    let cli = Cli::parse_from(simulate_placeholder(std::env::args().collect()));
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("systole: {error:#}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn globals_typed_after_free_form_arguments_are_taken_back() {
        let mut target = Target {
            socket: None,
            dir: None,
            node: None,
            shadow: None,
        };
        let mut args = strings(
            "web ocf:heartbeat:Dummy fake=1 --dir /tmp/c --shadow=s1 op monitor interval=5s",
        );
        take_globals(&mut args, &mut target).unwrap();
        assert_eq!(
            args,
            strings("web ocf:heartbeat:Dummy fake=1 op monitor interval=5s")
        );
        assert_eq!(target.dir, Some(PathBuf::from("/tmp/c")));
        assert_eq!(target.shadow.as_deref(), Some("s1"));
        assert!(take_globals(&mut strings("x --node"), &mut target).is_err());
    }

    #[test]
    fn simulate_shadow_gets_a_placeholder_cib() {
        let argv = simulate_placeholder(strings("systole simulate --shadow s1"));
        assert_eq!(argv, strings("systole simulate --shadow s1 --cib (shadow)"));
        let argv = simulate_placeholder(strings("systole --dir /tmp/c simulate --shadow s1"));
        assert_eq!(
            argv,
            strings("systole --dir /tmp/c simulate --shadow s1 --cib (shadow)")
        );
        let argv = simulate_placeholder(strings("systole simulate --cib f.xml"));
        assert_eq!(argv, strings("systole simulate --cib f.xml"));
        let argv = simulate_placeholder(strings("systole resource list --shadow s1"));
        assert_eq!(argv, strings("systole resource list --shadow s1"));
        let cli = Cli::try_parse_from(simulate_placeholder(strings(
            "systole simulate --shadow s1",
        )))
        .unwrap();
        assert_eq!(cli.target.shadow.as_deref(), Some("s1"));
    }

    #[test]
    fn a_node_argument_is_not_the_node_to_ask() {
        let cli = Cli::try_parse_from(strings("systole --dir /tmp/c node standby node3")).unwrap();
        assert_eq!(cli.target.node, None);
        assert!(
            matches!(cli.command, Command::Node { action: NodeAction::Standby { node } } if node == "node3")
        );
        let cli = Cli::try_parse_from(strings(
            "systole --dir /tmp/c --node node1 node attribute node3 rack=2",
        ))
        .unwrap();
        assert_eq!(cli.target.node.as_deref(), Some("node1"));
        assert!(
            matches!(cli.command, Command::Node { action: NodeAction::Attribute { node: Some(n), .. } } if n == "node3")
        );
        let cli = Cli::try_parse_from(strings("systole node online node2 --node node1")).unwrap();
        assert_eq!(cli.target.node.as_deref(), Some("node1"));
    }

    #[test]
    fn the_cli_parses_pcs_style_commands() {
        for line in [
            "systole resource create web ocf:heartbeat:Dummy fake=1 meta resource-stickiness=100 op monitor interval=10s",
            "systole resource move web node2 --lifetime 1h",
            "systole resource cleanup web node1",
            "systole constraint colocation add db with web INFINITY",
            "systole constraint order start db then start web",
            "systole property set no-quorum-policy=stop",
            "systole node attribute node1 rack=1",
            "systole cib export --xml",
            "systole cib import cib.xml --merge",
            "systole cib verify",
            "systole cib verify cib.xml",
            "systole cib shadow commit s1 --force",
            "systole --dir /tmp/c resource list",
        ] {
            Cli::try_parse_from(strings(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}
