//! The `systole` command line as clap reads it: every command, flag and
//! argument. Shell completions and man pages are rendered from this same
//! definition (`cli::docs`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "systole",
    version,
    about = "A high-availability cluster resource manager",
    after_help = "Client commands find their daemon by --socket, then $SYSTOLE_SOCKET, then --dir DIR [--node NAME], then /run/systole/systole.sock."
)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: Command,
}

/// Which daemon a client command talks to.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// The daemon's control socket.
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,
    /// A local cluster's directory (from `cluster up`).
    #[arg(long, global = true)]
    pub dir: Option<PathBuf>,
    /// With --dir: which node to ask (default: the first that answers).
    /// Its own id, so a command's NODE argument is never taken for it.
    #[arg(long = "node", id = "target_node", global = true, value_name = "NODE")]
    pub node: Option<String>,
    /// Work on the shadow CIB NAME instead of the live cluster (see `cib shadow`).
    #[arg(long, global = true, value_name = "NAME")]
    pub shadow: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
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
    Simulate(crate::cli::simulate::SimulateArgs),
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
pub struct FenceArgs {
    #[command(subcommand)]
    pub action: Option<FenceAction>,
    /// The node to fence now.
    #[arg(value_name = "NODE")]
    pub victim: Option<String>,
    /// Power it off instead of rebooting it.
    #[arg(long)]
    pub off: bool,
}

#[derive(Args)]
pub struct WebArgs {
    #[command(subcommand)]
    pub action: Option<WebAction>,
    /// Address to serve on (port 0: any free port; the URL is printed).
    /// Any address but loopback needs --tls-cert, --tls-key and --users.
    #[arg(long, default_value = "127.0.0.1:7630")]
    pub bind: std::net::SocketAddr,
    /// PEM certificate chain for HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Users file (`systole web passwd` writes it): every page then needs a login.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// A node's configuration: its admin_group and readonly_group decide
    /// what each user may do (as on the control socket).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The admin group (overrides the configuration's).
    #[arg(long)]
    pub admin_group: Option<String>,
    /// The read-only group (overrides the configuration's).
    #[arg(long)]
    pub readonly_group: Option<String>,
}

#[derive(Subcommand)]
pub enum WebAction {
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
pub enum AlertAction {
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
pub enum RecipientAction {
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
pub enum FenceAction {
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
pub enum LevelAction {
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
pub enum ChaosAction {
    /// Drop every datagram between this node and NODE... (a partition).
    Block {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Stop blocking.
    Heal,
}

#[derive(Subcommand)]
pub enum HistoryAction {
    /// One transition in full.
    Show { id: u64 },
}

#[derive(Subcommand)]
pub enum ResourceAction {
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
pub enum OpAction {
    /// Operation defaults (op_defaults): `[NAME=VALUE...]`; `NAME=` removes.
    Defaults { assignments: Vec<String> },
}

#[derive(Subcommand)]
pub enum GroupAction {
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
pub enum ConstraintAction {
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
pub enum PropertyAction {
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
pub enum NodeAction {
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
pub enum ShadowAction {
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
pub enum ClusterAction {
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
pub enum ActorsAction {
    /// Inject a crash into one actor (admin only).
    Kill { name: String },
}

#[derive(Subcommand)]
pub enum CibAction {
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

/// `simulate --shadow NAME` without `--cib`: clap wants `--cib`, so give it
/// a placeholder the shadow's path replaces after parsing.
pub fn simulate_placeholder(mut argv: Vec<String>) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
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
