//! The console's pages as HTML, rendered on the server (they work without
//! JavaScript; the script only swaps in the live parts the server pushes).
//! Pure: reports in, markup out; every value from the cluster is escaped.

use crate::actors::control_socket::{Access, ConsensusReport, StatusReport};
use crate::model::control::history::TransitionRecord;
use crate::web::auth::Session;
use crate::web::layout::{escape, svg};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Transitions drawn on the transitions page (newest first); older ones
/// are listed.
pub const TRANSITIONS_DRAWN: usize = 5;

fn utc(epoch_s: i64) -> String {
    crate::model::cib::time::ctime(epoch_s)
}

/// The frame of every page: navigation, who is signed in, the body.
pub fn page(title: &str, active: &str, session: Option<&Session>, body: &str) -> String {
    let mut nav = String::new();
    for (href, name) in [
        ("/", "Status"),
        ("/transitions", "Transitions"),
        ("/sandbox", "Sandbox"),
        ("/metrics", "Metrics"),
    ] {
        let class = if name == active {
            " class=\"active\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{href}\"{class}>{name}</a>");
    }
    let who = match session {
        Some(s) => {
            let role = match s.access {
                Access::Admin => "admin",
                _ => "read-only",
            };
            let logout = if s.user.is_empty() {
                String::new()
            } else {
                format!(
                    "<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Sign out</button></form>",
                    escape(&s.csrf)
                )
            };
            format!(
                "<span class=\"who\" id=\"who\" data-role=\"{role}\">{} ({role}){logout}</span>",
                escape(if s.user.is_empty() { "local" } else { &s.user })
            )
        }
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} · Systole</title><link rel=\"stylesheet\" href=\"/static/console.css\"><script src=\"/static/console.js\" defer></script></head><body><header><span class=\"brand\">Systole</span><nav>{nav}</nav>{who}</header><main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// A message above the page's content (after an action, or an error).
pub fn notice(message: &str, ok: bool) -> String {
    if message.is_empty() {
        return String::new();
    }
    format!(
        "<p class=\"notice {}\" id=\"notice\">{}</p>",
        if ok { "ok" } else { "error" },
        escape(message).replace('\n', "<br>")
    )
}

/// One admin button: a form posting an action with the session's token.
fn button(s: &Session, action: &str, node: &str, resource: &str, text: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/action\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"node\" value=\"{}\"><input type=\"hidden\" name=\"resource\" value=\"{}\"><button data-action=\"{action}\" data-target=\"{}{}\">{text}</button></form>",
        escape(&s.csrf),
        escape(node),
        escape(resource),
        escape(node),
        escape(resource),
    )
}

/// A resource action that takes a node from a list (move, ban).
fn node_choice(
    s: &Session,
    action: &str,
    resource: &str,
    nodes: &[&str],
    any: Option<&str>,
) -> String {
    let mut options = String::new();
    if let Some(any) = any {
        let _ = write!(options, "<option value=\"\">{any}</option>");
    }
    for n in nodes {
        let _ = write!(options, "<option>{}</option>", escape(n));
    }
    format!(
        "<form method=\"post\" action=\"/action\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"resource\" value=\"{}\"><select name=\"node\">{options}</select><button data-action=\"{action}\" data-target=\"{}\">{action}</button></form>",
        escape(&s.csrf),
        escape(resource),
        escape(resource),
    )
}

/// The live part of the status page (pushed again whenever it changes).
pub fn status_fragment(report: &StatusReport, s: &Session) -> String {
    let mut out = String::with_capacity(8192);
    summary(&mut out, report, s);
    nodes(&mut out, report, s);
    resources(&mut out, report, s);
    failures(&mut out, report);
    fencing(&mut out, report);
    out
}

fn summary(out: &mut String, r: &StatusReport, s: &Session) {
    let dc = r.dc.as_deref().unwrap_or("NONE");
    let _ = write!(
        out,
        "<section class=\"summary\"><h2>Cluster {}</h2><dl><dt>DC</dt><dd id=\"dc\">{}</dd><dt>Quorum</dt><dd id=\"quorum\" class=\"{}\">{}</dd>",
        escape(&r.cluster),
        escape(dc),
        if r.quorate { "good" } else { "bad" },
        if r.quorate { "with quorum" } else { "WITHOUT quorum" },
    );
    if let Some(c) = &r.consensus {
        consensus_summary(out, c);
    }
    if r.updated_epoch_s > 0 {
        let _ = write!(
            out,
            "<dt>Updated</dt><dd id=\"updated\">{} by {}</dd>",
            utc(r.updated_epoch_s),
            escape(&r.answered_by)
        );
    }
    if let Some(c) = &r.last_change {
        let _ = write!(
            out,
            "<dt>Last change</dt><dd>{} by {} via {}</dd>",
            utc(c.at_epoch_s),
            escape(&c.user),
            escape(&c.client)
        );
    }
    out.push_str("</dl>");
    if s.access == Access::Admin {
        out.push_str("<p class=\"acts\">Cluster: ");
        let on = button(s, "cluster-maintenance-on", "", "", "maintenance mode on");
        out.push_str(&on);
        let off = button(s, "cluster-maintenance-off", "", "", "maintenance mode off");
        out.push_str(&off);
        out.push_str("</p>");
    }
    if !r.config_errors.is_empty() {
        out.push_str("<h3>Configuration errors (left out by the scheduler)</h3><ul class=\"bad\">");
        for e in &r.config_errors {
            let _ = write!(out, "<li>{}</li>", escape(e));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
}

/// The consensus line of the summary, and any warning it carries.
fn consensus_summary(out: &mut String, c: &ConsensusReport) {
    let _ = write!(
        out,
        "<dt>Consensus</dt><dd>term {}, commit index {}, leader {}</dd>",
        c.term,
        c.commit_index,
        escape(c.leader.as_deref().unwrap_or("none"))
    );
    for warning in [&c.disk_error, &c.scheduler_error, &c.two_node_warning]
        .into_iter()
        .flatten()
    {
        let _ = write!(
            out,
            "<dt>Warning</dt><dd class=\"bad\">{}</dd>",
            escape(warning)
        );
    }
}

fn nodes(out: &mut String, r: &StatusReport, s: &Session) {
    let mut nodes = r.nodes.clone();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    out.push_str("<section><h2>Nodes</h2><table id=\"nodes\"><tr><th>Node</th><th>State</th><th>Attributes</th><th></th></tr>");
    for n in &nodes {
        let mut state = vec![if n.online { "online" } else { "OFFLINE" }];
        if n.standby {
            state.push("standby");
        }
        if n.maintenance {
            state.push("maintenance");
        }
        if r.dc.as_deref() == Some(n.name.as_str()) {
            state.push("DC");
        }
        let attributes: Vec<String> = n
            .attributes
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect();
        let acts = if s.access != Access::Admin {
            String::new()
        } else {
            let mut acts = String::new();
            acts.push_str(&match n.standby {
                true => button(s, "online", &n.name, "", "online"),
                false => button(s, "standby", &n.name, "", "standby"),
            });
            acts.push_str(&match n.maintenance {
                true => button(s, "maintenance-off", &n.name, "", "end maintenance"),
                false => button(s, "maintenance-on", &n.name, "", "maintenance"),
            });
            acts
        };
        let _ = write!(
            out,
            "<tr class=\"node {}\" data-node=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"acts\">{acts}</td></tr>",
            if n.online { "up" } else { "down" },
            escape(&n.name),
            escape(&n.name),
            state.join(", "),
            attributes.join(" "),
        );
    }
    out.push_str("</table></section>");
}

fn resources(out: &mut String, r: &StatusReport, s: &Session) {
    let node_names: Vec<&str> = {
        let mut names: Vec<&str> = r.nodes.iter().map(|n| n.name.as_str()).collect();
        names.sort();
        names
    };
    // Grouped as `systole status` groups them: by parent, in first-seen order.
    let mut order: Vec<Option<&str>> = Vec::new();
    let mut by_parent: BTreeMap<Option<&str>, Vec<&crate::actors::control_socket::ResourceReport>> =
        BTreeMap::new();
    for res in &r.resources {
        let parent = res.parent.as_deref();
        if !by_parent.contains_key(&parent) {
            order.push(parent);
        }
        by_parent.entry(parent).or_default().push(res);
    }
    out.push_str("<section><h2>Resources</h2><table id=\"resources\"><tr><th>Resource</th><th>Agent</th><th>Role</th><th>Where</th><th></th></tr>");
    if r.resources.is_empty() {
        out.push_str("<tr><td colspan=\"5\">No resources</td></tr>");
    }
    for parent in order {
        if let Some(p) = parent {
            let _ = write!(
                out,
                "<tr class=\"parent\" data-resource=\"{}\"><td colspan=\"4\">{}</td><td class=\"acts\">{}</td></tr>",
                escape(p),
                escape(p),
                resource_acts(s, p, &node_names)
            );
        }
        for res in &by_parent[&parent] {
            let class = if res.failed {
                "failed"
            } else if res.nodes.is_empty() {
                "stopped"
            } else {
                "running"
            };
            let _ = write!(
                out,
                "<tr class=\"resource {class}{}\" data-resource=\"{}\"><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td class=\"acts\">{}</td></tr>",
                if parent.is_some() { " member" } else { "" },
                escape(&res.id),
                escape(&res.id),
                escape(&res.agent),
                escape(&res.role),
                if res.failed { " FAILED" } else { "" },
                escape(&res.nodes.join(", ")),
                if parent.is_some() { String::new() } else { resource_acts(s, &res.id, &node_names) },
            );
        }
    }
    out.push_str("</table></section>");
}

fn resource_acts(s: &Session, id: &str, nodes: &[&str]) -> String {
    if s.access != Access::Admin {
        return String::new();
    }
    let mut acts = String::new();
    acts.push_str(&button(s, "enable", "", id, "enable"));
    acts.push_str(&button(s, "disable", "", id, "disable"));
    acts.push_str(&button(s, "cleanup", "", id, "cleanup"));
    acts.push_str(&node_choice(s, "move", id, nodes, Some("(away)")));
    acts.push_str(&node_choice(s, "ban", id, nodes, None));
    acts.push_str(&button(s, "clear", "", id, "clear"));
    acts
}

fn failures(out: &mut String, r: &StatusReport) {
    let counts: Vec<(&str, &str, i64)> = r
        .resources
        .iter()
        .flat_map(|res| {
            res.fail_counts
                .iter()
                .map(move |(n, c)| (res.id.as_str(), n.as_str(), *c))
        })
        .collect();
    out.push_str("<section><h2>Fail counts</h2>");
    if counts.is_empty() {
        out.push_str("<p>None</p>");
    } else {
        out.push_str(
            "<table id=\"failcounts\"><tr><th>Resource</th><th>Node</th><th>Fail count</th></tr>",
        );
        for (res, node, count) in counts {
            let shown = if count >= 1_000_000 {
                "INFINITY".to_string()
            } else {
                count.to_string()
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{shown}</td></tr>",
                escape(res),
                escape(node)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Failed resource actions</h2>");
    if r.failed_actions.is_empty() {
        out.push_str("<p>None</p>");
    } else {
        out.push_str("<table id=\"failed\"><tr><th>Operation</th><th>Node</th><th>Result</th><th>Reason</th><th>When</th></tr>");
        for f in &r.failed_actions {
            let _ = write!(
                out,
                "<tr class=\"failed\"><td>{}_{}_{}</td><td>{}</td><td>{} ({}): {}</td><td>{}</td><td>{}</td></tr>",
                escape(&f.resource),
                escape(f.operation.as_str()),
                f.interval_ms,
                escape(&f.node),
                escape(&f.rc_text),
                f.rc,
                escape(&f.status),
                escape(&f.exit_reason),
                utc(f.last_rc_change),
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

fn fencing(out: &mut String, r: &StatusReport) {
    out.push_str("<section><h2>Fencing history</h2>");
    if r.fencing.is_empty() {
        out.push_str("<p>None</p></section>");
        return;
    }
    out.push_str(
        "<table id=\"fencing\"><tr><th>Target</th><th>Action</th><th>Result</th><th>When</th></tr>",
    );
    for f in r.fencing.iter().rev() {
        let _ = write!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
            if f.ok { "ok" } else { "failed" },
            escape(&f.target),
            escape(&f.action),
            if f.ok { "done" } else { "FAILED" },
            if f.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&f.detail))
            },
            utc(f.at_epoch_s),
        );
    }
    out.push_str("</table></section>");
}

/// One transition: what caused it, from which CIB, its summary and graph.
pub fn transition(t: &TransitionRecord) -> String {
    let outcome = t.outcome.as_deref().unwrap_or("running");
    let mut out = format!(
        "<article class=\"transition\" id=\"t{}\" data-outcome=\"{}\"><h3>Transition {} — {}</h3><p class=\"meta\">cause: <b class=\"cause\">{}</b> · input CIB {} · DC {} · started {} · {} actions{}</p>",
        t.id,
        escape(outcome),
        t.id,
        escape(outcome),
        escape(&t.cause),
        t.input_version,
        escape(&t.dc),
        utc(t.started_epoch_s),
        t.actions.len() + t.actions_left_out,
        if t.actions_left_out > 0 { format!(" ({} not kept)", t.actions_left_out) } else { String::new() },
    );
    if !t.summary.is_empty() {
        out.push_str("<ul class=\"tsummary\">");
        for line in &t.summary {
            let _ = write!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul>");
    }
    let _ = write!(out, "<div class=\"graphbox\">{}</div></article>", svg(t));
    out
}

/// The live part of the transitions page: the newest drawn, the rest listed.
pub fn transitions_fragment(history: &[TransitionRecord], answered_by: &str) -> String {
    let mut out = format!(
        "<p class=\"legend\">History as {} knows it ({} transitions). <span class=\"key pending\">pending</span> <span class=\"key running\">running</span> <span class=\"key done\">done</span> <span class=\"key failed\">failed</span></p>",
        escape(answered_by),
        history.len()
    );
    if history.is_empty() {
        out.push_str("<p>No transition yet.</p>");
    }
    for t in history.iter().rev().take(TRANSITIONS_DRAWN) {
        out.push_str(&transition(t));
    }
    if history.len() > TRANSITIONS_DRAWN {
        out.push_str("<h2>Older</h2><table><tr><th>Id</th><th>Outcome</th><th>Cause</th><th>Actions</th></tr>");
        for t in history.iter().rev().skip(TRANSITIONS_DRAWN) {
            let _ = write!(
                out,
                "<tr><td><a href=\"/transitions/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                t.id,
                t.id,
                escape(t.outcome.as_deref().unwrap_or("running")),
                escape(&t.cause),
                t.actions.len()
            );
        }
        out.push_str("</table>");
    }
    out
}

/// A live section: filled now, replaced by what the server pushes.
pub fn live(stream: &str, content: &str) -> String {
    format!("<div id=\"live\" data-stream=\"{stream}\">{content}</div>")
}

pub fn login(message: &str) -> String {
    let body = format!(
        "<h1>Sign in</h1>{}<form method=\"post\" action=\"/login\" class=\"login\"><label>User <input name=\"user\" autocomplete=\"username\" required></label><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label><button>Sign in</button></form>",
        notice(message, false)
    );
    page("Sign in", "", None, &body)
}

/// The sandbox form, filled with what was asked.
pub fn sandbox_form(w: &crate::web::sandbox::WhatIf, s: &Session, nodes: &[String]) -> String {
    let field = |name: &str, label: &str, value: &str, hint: &str| {
        format!(
            "<label>{label} <input name=\"{name}\" value=\"{}\" placeholder=\"{}\"></label>",
            escape(value),
            escape(hint)
        )
    };
    let example = nodes.first().map(String::as_str).unwrap_or("node1");
    format!(
        "<form method=\"post\" action=\"/sandbox\" class=\"sandbox\" id=\"sandbox-form\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{}{}{}{}{}<label>Pasted XML (merged by id) <textarea name=\"xml\" rows=\"5\" placeholder=\"&lt;configuration&gt;&lt;resources&gt;...&lt;/resources&gt;&lt;/configuration&gt;\">{}</textarea></label><button>Show what would happen</button></form><p class=\"hint\">Nodes: {}</p>",
        escape(&s.csrf),
        field("node_down", "Nodes down", &w.node_down, example),
        field("node_up", "Nodes up", &w.node_up, ""),
        field("standby", "Standby", &w.standby, example),
        field("op_fail", "Operation fails", &w.op_fail, &format!("web_monitor_10000@{example}=1")),
        field("constraint", "Constraint", &w.constraint, &format!("location web prefers {example}=INFINITY")),
        escape(&w.xml),
        escape(&nodes.join(", ")),
    )
}

/// What the sandbox would do, and (for an admin) its commit form.
pub fn sandbox_result(
    w: &crate::web::sandbox::WhatIf,
    s: &Session,
    said: &[String],
    record: &TransitionRecord,
    base: (u64, u64),
) -> String {
    let mut out = String::from("<section id=\"sandbox-result\"><h2>What-ifs</h2><ul>");
    for line in said {
        let _ = write!(out, "<li>{}</li>", escape(line));
    }
    if said.is_empty() {
        out.push_str("<li>none: the cluster as it is</li>");
    }
    out.push_str("</ul><h2>The transition that would follow</h2>");
    if record.summary.is_empty() && record.actions.is_empty() {
        out.push_str("<p>Nothing would change.</p>");
    }
    let _ = write!(out, "{}", transition(record));
    if s.access == Access::Admin {
        let hidden = |name: &str, value: &str| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            )
        };
        let _ = write!(
            out,
            "<h2>Commit</h2><p>Saves the configuration changes (standby, constraint, XML) as a shadow CIB and makes it live only if the live CIB is still at version {}:{} (compare-and-swap, as <code>systole cib shadow commit</code>). Nodes down or up and failures are not configuration and are not committed.</p><form method=\"post\" action=\"/sandbox/commit\" id=\"commit-form\">{}{}{}{}{}{}{}{}<label>Shadow name <input name=\"shadow\" value=\"web-sandbox\" required></label><button>Commit as shadow</button></form>",
            base.0,
            base.1,
            hidden("csrf", &s.csrf),
            hidden("node_down", &w.node_down),
            hidden("node_up", &w.node_up),
            hidden("standby", &w.standby),
            hidden("op_fail", &w.op_fail),
            hidden("constraint", &w.constraint),
            hidden("xml", &w.xml),
            hidden("base", &format!("{}:{}", base.0, base.1)),
        );
    }
    out.push_str("</section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::control_socket::{NodeReport, ResourceReport};

    fn session(access: Access) -> Session {
        Session {
            user: "alice".into(),
            access,
            csrf: "tok".into(),
        }
    }

    fn report() -> StatusReport {
        StatusReport {
            cluster: "demo".into(),
            dc: Some("node1".into()),
            quorate: true,
            nodes: vec![
                NodeReport {
                    name: "node2".into(),
                    online: true,
                    standby: true,
                    ..Default::default()
                },
                NodeReport {
                    name: "node1".into(),
                    online: true,
                    ..Default::default()
                },
            ],
            resources: vec![
                ResourceReport {
                    id: "web-ip".into(),
                    parent: Some("web".into()),
                    agent: "ocf:heartbeat:Dummy".into(),
                    role: "Started".into(),
                    nodes: vec!["node1".into()],
                    ..Default::default()
                },
                ResourceReport {
                    id: "<db>".into(),
                    agent: "ocf:heartbeat:Dummy".into(),
                    role: "Stopped".into(),
                    failed: true,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn status_shows_everything_and_escapes() {
        let html = status_fragment(&report(), &session(Access::Admin));
        for text in [
            "node1",
            "node2",
            "standby",
            "DC",
            "web-ip",
            "with quorum",
            "&lt;db&gt;",
            "FAILED",
        ] {
            assert!(html.contains(text), "{text}");
        }
        assert!(!html.contains("<db>"));
        assert!(html.contains("data-action=\"online\" data-target=\"node2\""));
        assert!(html.contains("data-action=\"standby\" data-target=\"node1\""));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        // The group's members sit under it.
        let group = html.find("data-resource=\"web\"").unwrap();
        assert!(html.find("data-resource=\"web-ip\"").unwrap() > group);
    }

    #[test]
    fn read_only_sees_everything_and_no_action() {
        let html = status_fragment(&report(), &session(Access::ReadOnly));
        assert!(html.contains("node2") && html.contains("web-ip"));
        assert!(!html.contains("/action"));
    }

    #[test]
    fn pages_escape_the_title_and_user() {
        let mut s = session(Access::ReadOnly);
        s.user = "<x>".into();
        let html = page("<t>", "Status", Some(&s), "");
        assert!(html.contains("&lt;t&gt;") && html.contains("&lt;x&gt; (read-only)"));
    }
}
