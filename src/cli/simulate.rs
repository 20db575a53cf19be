//! `systole simulate`: the scheduler on a CIB file, printed as crm_simulate does.
//!
//! What-if options edit the CIB before scheduling: `--node-down`/`--node-up`
//! rewrite a node's `node_state`, `--op-fail` appends a failed operation to a
//! resource's history.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use crate::admin::what_if::{inject_failure, set_node};
use crate::model::cib::time::read_datetime;
use crate::model::cib::xml::Element;
use crate::model::cib::Role;
use crate::scheduler::{self, unpack::Variant, Outcome, Task};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The CIB (Pacemaker XML) to schedule.
    #[arg(long)]
    pub cib: PathBuf,
    /// The time to schedule at (`2005-020`, `2005-020T12:30`, `2014-05-07 00:28:00`, epoch seconds).
    #[arg(long)]
    pub now: Option<String>,
    /// Print allocation and promotion scores.
    #[arg(long)]
    pub scores: bool,
    /// Write the transition graph in Graphviz dot format.
    #[arg(long)]
    pub dot: Option<PathBuf>,
    /// Write the transition graph as JSON: `actions` (id, key, task, node,
    /// meta) and `edges` (pairs of action ids, first then).
    #[arg(long = "graph-json")]
    pub graph_json: Option<PathBuf>,
    /// Take a node down before scheduling (repeatable).
    #[arg(long = "node-down")]
    pub node_down: Vec<String>,
    /// Bring a node up before scheduling (repeatable).
    #[arg(long = "node-up")]
    pub node_up: Vec<String>,
    /// Inject an operation failure: RSC_OP_INTERVAL@NODE=RC (repeatable).
    #[arg(long = "op-fail")]
    pub op_fail: Vec<String>,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.cib)
        .with_context(|| format!("reading {}", args.cib.display()))?;
    let mut cib =
        Element::parse(&text).with_context(|| format!("parsing {}", args.cib.display()))?;
    // The tree is all that is needed from here on.
    drop(text);
    let now = match &args.now {
        Some(d) => read_datetime(d).map_err(|e| anyhow::anyhow!("--now: {e}"))?,
        // crm_simulate's default: the time recorded in the CIB, else the clock.
        None if cib
            .attr("execution-date")
            .and_then(|d| d.parse::<i64>().ok())
            .is_some() =>
        {
            cib.attr("execution-date")
                .and_then(|d| d.parse::<i64>().ok())
                .unwrap_or(0)
        }
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    for n in &args.node_up {
        set_node(&mut cib, n, true);
    }
    for n in &args.node_down {
        set_node(&mut cib, n, false);
    }
    for spec in &args.op_fail {
        inject_failure(&mut cib, spec, now)?;
    }
    // Like crm_simulate: the CIB may come from crm_report, passwords masked.
    let options = scheduler::Options {
        secrets_masked: true,
    };
    if std::env::var_os("SYSTOLE_DEBUG_ACTIONS").is_some() {
        eprint!("{}", scheduler::debug_actions(&cib, now, options)?);
    }
    let outcome = scheduler::run_with(&cib, now, options)?;
    // As crm_simulate: what was left out goes to stderr, the rest is scheduled.
    for issue in &outcome.transition.config_errors {
        eprintln!("{issue}");
    }
    let out = render(&outcome, args.scores);
    print!("{out}");
    if let Some(path) = &args.dot {
        std::fs::write(path, dot(&outcome))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.graph_json {
        std::fs::write(path, graph_json(&outcome))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}

/// What `simulate` prints for an outcome: status, (scores,) summary, actions
/// and the revised status.
pub fn render(outcome: &Outcome, scores: bool) -> String {
    // About a line per action and two per resource: sized once, not regrown.
    let lines = outcome.transition.graph.node_count() + 2 * outcome.working.rscs.len();
    let mut out = String::with_capacity(64 * lines);
    out.push_str("Current cluster status:\n");
    print_status(&mut out, outcome, false);
    out.push('\n');
    if scores {
        print_scores(&mut out, outcome);
        out.push('\n');
    }
    out.push_str("Transition Summary:\n");
    for line in &outcome.transition.summary {
        let _ = writeln!(out, "  {line}");
    }
    out.push('\n');
    out.push_str("Executing Cluster Transition:\n");
    print_actions(&mut out, outcome);
    out.push('\n');
    out.push_str("Revised Cluster Status:\n");
    print_status(&mut out, outcome, true);
    out
}

fn agent_text(o: &Outcome, r: usize) -> String {
    o.working.rscs[r]
        .agent
        .as_ref()
        .map(|a| a.display())
        .unwrap_or_default()
}

fn print_status(out: &mut String, o: &Outcome, revised: bool) {
    let w = &o.working;
    out.push_str("  * Node List:\n");
    let mut online = Vec::new();
    for (i, n) in w.nodes.iter().enumerate() {
        let fenced = revised && o.fence[i];
        if n.online && !fenced {
            if n.standby {
                let _ = writeln!(out, "    * Node {}: standby", n.name);
            } else if n.maintenance {
                let _ = writeln!(out, "    * Node {}: maintenance", n.name);
            } else {
                online.push(n.name.clone());
            }
        } else if n.unclean && !fenced {
            let _ = writeln!(out, "    * Node {}: UNCLEAN (offline)", n.name);
        }
    }
    if !online.is_empty() {
        let _ = writeln!(out, "    * Online: [ {} ]", online.join(" "));
    }
    let offline: Vec<String> = w
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| (!n.online && !n.unclean) || (revised && o.fence[*i]))
        .map(|(_, n)| n.name.clone())
        .collect();
    if !offline.is_empty() {
        let _ = writeln!(out, "    * OFFLINE: [ {} ]", offline.join(" "));
    }
    out.push_str("\n  * Full List of Resources:\n");
    for &t in &w.top {
        print_rsc(out, o, t, 2, revised);
    }
}

fn role_text(o: &Outcome, r: usize, revised: bool) -> (String, Vec<String>) {
    let w = &o.working;
    let rsc = &w.rscs[r];
    if revised {
        let d = &o.decisions[r];
        let node = if d.managed {
            d.next.filter(|_| d.start_runnable || !d.start)
        } else {
            d.current
        };
        match node {
            Some(n) => {
                let role = d.next_role.unwrap_or(Role::Started);
                let role = if role == Role::Unpromoted {
                    "Unpromoted"
                } else if role == Role::Promoted {
                    "Promoted"
                } else {
                    "Started"
                };
                (role.to_string(), vec![w.nodes[n].name.clone()])
            }
            None => ("Stopped".into(), vec![]),
        }
    } else if rsc.current.is_empty() {
        ("Stopped".into(), vec![])
    } else {
        let role = rsc.current_role();
        let mut text = match role {
            Role::Promoted => "Promoted".to_string(),
            Role::Unpromoted => "Unpromoted".to_string(),
            _ => "Started".to_string(),
        };
        if rsc.failed() {
            text = format!("FAILED {text}");
        }
        (
            text,
            rsc.current
                .iter()
                .map(|c| w.nodes[c.node].name.clone())
                .collect(),
        )
    }
}

fn print_rsc(out: &mut String, o: &Outcome, r: usize, depth: usize, revised: bool) {
    let w = &o.working;
    let rsc = &w.rscs[r];
    let pad = "  ".repeat(depth);
    match rsc.variant {
        Variant::Primitive => {
            let (role, nodes) = role_text(o, r, revised);
            let unmanaged = if rsc.managed { "" } else { " (unmanaged)" };
            let _ = writeln!(
                out,
                "{pad}* {}\t({}):\t {} {}{}",
                rsc.id,
                agent_text(o, r),
                role,
                nodes.join(" "),
                unmanaged
            );
        }
        Variant::Group => {
            let _ = writeln!(out, "{pad}* Resource Group: {}:", rsc.id);
            for &c in &rsc.children {
                print_rsc(out, o, c, depth + 1, revised);
            }
        }
        Variant::Clone | Variant::Bundle => {
            let kind = if rsc.promotable { " (promotable)" } else { "" };
            let _ = writeln!(
                out,
                "{pad}* Clone Set: {} [{}]{}:",
                rsc.id,
                rsc.children
                    .first()
                    .map(|&c| w.rscs[c].base.clone())
                    .unwrap_or_default(),
                kind
            );
            for &c in &rsc.children {
                print_rsc(out, o, c, depth + 1, revised);
            }
        }
    }
}

fn print_scores(out: &mut String, o: &Outcome) {
    let w = &o.working;
    for (r, rsc) in w.rscs.iter().enumerate() {
        let fname = match rsc.variant {
            Variant::Primitive => "pcmk__primitive_assign",
            Variant::Clone => "pcmk__clone_assign",
            Variant::Group => "pcmk__group_assign",
            Variant::Bundle => "pcmk__bundle_assign",
        };
        for (n, node) in w.nodes.iter().enumerate() {
            let s = o.plan.final_scores[r]
                .get(n)
                .copied()
                .unwrap_or(-crate::model::cib::score::INFINITY);
            let _ = writeln!(
                out,
                "{fname}: {} allocation score on {}: {}",
                rsc.id,
                node.name,
                crate::model::cib::score::format(s)
            );
        }
    }
    for (r, rsc) in w.rscs.iter().enumerate() {
        if let (Some(s), Some(n)) = (o.plan.promotion_scores[r], o.plan.assigned[r]) {
            let _ = writeln!(
                out,
                "{} promotion score on {}: {}",
                rsc.id,
                w.nodes[n].name,
                crate::model::cib::score::format(s)
            );
        }
    }
}

fn print_actions(out: &mut String, o: &Outcome) {
    let g = &o.transition.graph;
    let order = petgraph::algo::toposort(g, None).unwrap_or_else(|_| g.node_indices().collect());
    for i in order {
        let a = &g[i];
        match a.task {
            Task::Fence => {
                let _ = writeln!(
                    out,
                    "  * Fencing {} ({})",
                    a.node.as_deref().unwrap_or(""),
                    a.meta.get("action").map(String::as_str).unwrap_or("reboot")
                );
            }
            Task::Pseudo => {
                let _ = writeln!(out, "  * Pseudo action:   {}", a.key());
            }
            Task::ClearFailcount => {
                let _ = writeln!(
                    out,
                    "  * Cluster action:  clear_failcount for {} on {}",
                    a.resource.as_deref().unwrap_or(""),
                    a.node.as_deref().unwrap_or("")
                );
            }
            _ => {
                let rsc = a.resource.as_deref().unwrap_or("");
                out.push_str("  * Resource action: ");
                out.push_str(rsc);
                // As `{:<15}`: padded to 15 characters.
                for _ in rsc.chars().count()..15 {
                    out.push(' ');
                }
                out.push(' ');
                out.push_str(a.task.name());
                if a.interval_ms > 0 {
                    let _ = write!(out, "={}", a.interval_ms);
                }
                out.push_str(" on ");
                out.push_str(a.node.as_deref().unwrap_or(""));
                out.push('\n');
            }
        }
    }
}

fn dot(o: &Outcome) -> String {
    let g = &o.transition.graph;
    let mut s = String::from(" digraph \"g\" {\n");
    let label = |i: petgraph::graph::NodeIndex| {
        let a = &g[i];
        match &a.node {
            Some(n) if a.task != Task::Fence => format!("{} {}", a.key(), n),
            _ => a.key(),
        }
    };
    for e in g.edge_indices() {
        if let Some((a, b)) = g.edge_endpoints(e) {
            let _ = writeln!(s, "\"{}\" -> \"{}\" [ style = bold]", label(a), label(b));
        }
    }
    for i in g.node_indices() {
        let color = if g[i].task == Task::Pseudo {
            "orange"
        } else {
            "black"
        };
        let _ = writeln!(
            s,
            "\"{}\" [ style=bold color=\"green\" fontcolor=\"{}\"]",
            label(i),
            color
        );
    }
    s.push_str("}\n");
    s
}

/// The graph as JSON, for tools that compare it with Pacemaker's.
fn graph_json(o: &Outcome) -> String {
    let g = &o.transition.graph;
    let actions: Vec<serde_json::Value> = g
        .node_indices()
        .map(|i| {
            let a = &g[i];
            let meta: serde_json::Map<String, serde_json::Value> = a
                .meta
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            serde_json::json!({
                "id": i.index(),
                "key": a.key(),
                "task": a.task.name(),
                "node": a.node,
                "meta": meta,
            })
        })
        .collect();
    let edges: Vec<[usize; 2]> = g
        .raw_edges()
        .iter()
        .map(|e| [e.source().index(), e.target().index()])
        .collect();
    serde_json::json!({ "actions": actions, "edges": edges }).to_string()
}
