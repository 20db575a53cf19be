//! Pacemaker's command-line tools as resource agents call them, answered by
//! Systole: `attrd_updater`, `crm_node` and `crm_resource --locate` (and
//! `crm_attribute`/`crm_master` in [`crate::cli::crm_attribute`]). Agents find
//! them first on their `PATH` (`agents/bin`), and as `$HA_SBIN_DIR`. This
//! module parses their arguments and words their answers; `systole
//! attrd-updater`, `crm-node` and `crm-resource` ask the node's daemon.

use crate::actors::control_socket::StatusReport;

/// Pacemaker's exit code for "no such attribute/resource" (CRM_EX_NOSUCH).
pub const EXIT_NO_SUCH: i32 = 105;
/// Pacemaker's exit code for a usage error (CRM_EX_USAGE).
pub const EXIT_USAGE: i32 = 64;

/// What an `attrd_updater` call asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrdAction {
    /// `-U/-v VALUE` (`-B` also sets the delay).
    Update(String),
    /// `-D`.
    Delete,
    /// `-Q` (`-A`: every node).
    Query { all_nodes: bool },
    /// `-Y`: change only the delay; `-R`: refresh. Nothing to write here.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrdRequest {
    pub name: String,
    pub node: String,
    pub action: AttrdAction,
    /// `-d`: dampening, in ms.
    pub dampen_ms: u64,
    pub quiet: bool,
}

fn flag_and_inline(arg: &str) -> (&str, Option<String>) {
    match arg.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
        _ => (arg, None),
    }
}

/// A delay as Pacemaker writes it: `5s`, `30s`, `1min`; bare numbers are
/// seconds.
pub fn parse_delay_ms(text: &str) -> Result<u64, String> {
    crate::model::cib::time::parse_interval_ms(text)
        .ok_or_else(|| format!("invalid delay '{text}'"))
}

/// Parses `attrd_updater`'s arguments; `env` gives `SYSTOLE_NODE`.
pub fn parse_attrd_updater(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AttrdRequest, String> {
    let mut name = None;
    let mut node = env("SYSTOLE_NODE");
    let mut action = None;
    let mut dampen_ms = 0;
    let mut quiet = false;
    let mut all_nodes = false;
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = flag_and_inline(&args[i]);
        let mut value = || -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "-n" | "--name" => name = Some(value()?),
            "-U" | "-v" | "--update" | "--value" => action = Some(AttrdAction::Update(value()?)),
            "-B" | "--update-both" => action = Some(AttrdAction::Update(value()?)),
            "-Y" | "--update-delay" => action = Some(AttrdAction::Nothing),
            "-R" | "--refresh" => action = Some(AttrdAction::Nothing),
            "-D" | "--delete" => action = Some(AttrdAction::Delete),
            "-Q" | "--query" => action = Some(AttrdAction::Query { all_nodes: false }),
            "-A" | "--all" => all_nodes = true,
            "-d" | "--delay" => dampen_ms = parse_delay_ms(&value()?)?,
            "-N" | "--node" => node = Some(value()?),
            "-l" | "--lifetime" => {
                let lifetime = value()?;
                if lifetime != "reboot" {
                    return Err(format!(
                        "attrd_updater manages transient attributes only (-l reboot), not '{lifetime}'"
                    ));
                }
            }
            // Private attributes, sets and the old "section" are accepted
            // and make no difference here.
            "-p" | "--private" => {}
            "-s" | "--set" | "-S" | "--section" => {
                value()?;
            }
            "-q" | "--quiet" => quiet = true,
            other => return Err(format!("attrd_updater: unsupported option {other}")),
        }
        i += 1;
    }
    let mut action = action.ok_or("attrd_updater: nothing to do: give -U VALUE, -D or -Q")?;
    if let AttrdAction::Query { .. } = action {
        action = AttrdAction::Query { all_nodes };
    }
    Ok(AttrdRequest {
        name: name.ok_or("attrd_updater: give the attribute's name with -n NAME")?,
        node: node
            .ok_or("attrd_updater: no node: give -N NODE (or run under a Systole executor)")?,
        action,
        dampen_ms,
        quiet,
    })
}

/// `attrd_updater -Q`'s answer lines, as Pacemaker words them.
pub fn render_attrd_query(name: &str, values: &[(String, Option<String>)], quiet: bool) -> String {
    let mut out = String::new();
    for (node, value) in values {
        let value = value.clone().unwrap_or_default();
        if quiet {
            out.push_str(&format!("{value}\n"));
        } else {
            out.push_str(&format!(
                "name=\"{name}\" host=\"{node}\" value=\"{value}\"\n"
            ));
        }
    }
    out
}

/// What a `crm_node` call asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmNodeQuery {
    /// `-n`: this node's name (`-N ID`: that node's).
    Name(Option<String>),
    /// `-i`: this node's id.
    Id,
    /// `-l`: every known node with its state.
    List,
    /// `-p`: the members of this node's partition.
    Partition,
    /// `-q`: 1 if this partition has quorum.
    Quorum,
}

pub fn parse_crm_node(args: &[String]) -> Result<CrmNodeQuery, String> {
    let mut query = None;
    let mut named = None;
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = flag_and_inline(&args[i]);
        match flag {
            "-n" | "--name" => query = Some(CrmNodeQuery::Name(None)),
            "-N" | "--name-for-id" => {
                let id = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i).cloned().ok_or("-N needs a node id")?
                    }
                };
                named = Some(id);
                query = Some(CrmNodeQuery::Name(None));
            }
            "-i" | "--cluster-id" => query = Some(CrmNodeQuery::Id),
            "-l" | "--list" => query = Some(CrmNodeQuery::List),
            "-p" | "--partition" => query = Some(CrmNodeQuery::Partition),
            "-q" | "--quorum" => query = Some(CrmNodeQuery::Quorum),
            "-Q" | "--quiet" | "-V" | "--verbose" => {}
            other => return Err(format!("crm_node: unsupported option {other}")),
        }
        i += 1;
    }
    match query {
        Some(CrmNodeQuery::Name(_)) => Ok(CrmNodeQuery::Name(named)),
        Some(query) => Ok(query),
        None => Err("crm_node: give -n, -l, -p, -q or -i".into()),
    }
}

/// `crm_node`'s answer. Node ids are the node names (Systole's nodes have
/// no numeric ids). `me` is the node the caller runs on.
pub fn answer_crm_node(
    query: &CrmNodeQuery,
    me: &str,
    status: &StatusReport,
) -> Result<String, String> {
    let mut nodes: Vec<&crate::actors::control_socket::NodeReport> = status.nodes.iter().collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let members: Vec<&str> = nodes
        .iter()
        .filter(|n| n.online)
        .map(|n| n.name.as_str())
        .collect();
    Ok(match query {
        CrmNodeQuery::Name(None) | CrmNodeQuery::Id => format!("{me}\n"),
        CrmNodeQuery::Name(Some(id)) => match status.nodes.iter().find(|n| n.name == *id) {
            Some(node) => format!("{}\n", node.name),
            None => return Err(format!("crm_node: no node with id {id}")),
        },
        CrmNodeQuery::List => nodes
            .iter()
            .map(|n| {
                let state = if n.online { "member" } else { "lost" };
                format!("{} {} {state}\n", n.name, n.name)
            })
            .collect(),
        CrmNodeQuery::Partition => format!("{}\n", members.join(" ")),
        CrmNodeQuery::Quorum => format!("{}\n", u8::from(status.quorate)),
    })
}

/// A `crm_resource --locate -r RSC [-Q]` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocateRequest {
    pub resource: String,
    pub quiet: bool,
}

pub fn parse_crm_resource(args: &[String]) -> Result<LocateRequest, String> {
    let mut resource = None;
    let mut locate = false;
    let mut quiet = false;
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = flag_and_inline(&args[i]);
        match flag {
            "-W" | "--locate" => locate = true,
            "-r" | "--resource" => {
                resource = Some(match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i).cloned().ok_or("-r needs a resource")?
                    }
                })
            }
            "-Q" | "--quiet" => quiet = true,
            other => {
                return Err(format!(
                    "crm_resource: only --locate -r RESOURCE [-Q] is answered here, not {other}"
                ))
            }
        }
        i += 1;
    }
    if !locate {
        return Err("crm_resource: only --locate (-W) is answered here".into());
    }
    Ok(LocateRequest {
        resource: resource.ok_or("crm_resource: give the resource with -r")?,
        quiet,
    })
}

/// Where a resource (a primitive, or every instance of a clone or group
/// member) runs, in `crm_resource --locate`'s words.
pub fn answer_locate(request: &LocateRequest, status: &StatusReport) -> Result<String, String> {
    let id = request.resource.as_str();
    let matching: Vec<_> = status
        .resources
        .iter()
        .filter(|r| {
            r.id == id || r.id.split(':').next() == Some(id) || r.parent.as_deref() == Some(id)
        })
        .collect();
    if matching.is_empty() {
        return Err(format!("crm_resource: resource {id} not found"));
    }
    let mut out = String::new();
    for r in &matching {
        for node in &r.nodes {
            let role = if r.role == "Promoted" {
                " Promoted"
            } else {
                ""
            };
            if request.quiet {
                out.push_str(&format!("{node}\n"));
            } else {
                out.push_str(&format!("resource {id} is running on: {node}{role}\n"));
            }
        }
    }
    if out.is_empty() && !request.quiet {
        out = format!("resource {id} is NOT running\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::control_socket::{NodeReport, ResourceReport};

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn env(key: &str) -> Option<String> {
        (key == "SYSTOLE_NODE").then(|| "n2".to_string())
    }

    #[test]
    fn attrd_updater_as_ping_and_health_agents_call_it() {
        let ping = parse_attrd_updater(&args("-n pingd -B 1000 -d 5s"), &env).unwrap();
        assert_eq!(ping.action, AttrdAction::Update("1000".into()));
        assert_eq!((ping.node.as_str(), ping.dampen_ms), ("n2", 5_000));
        let health = parse_attrd_updater(&args("-n #health-cpu -U red -d 30s"), &env).unwrap();
        assert_eq!(health.name, "#health-cpu");
        let delete = parse_attrd_updater(&args("-D -n pingd -d 5"), &env).unwrap();
        assert_eq!(
            (delete.action, delete.dampen_ms),
            (AttrdAction::Delete, 5_000)
        );
        let query = parse_attrd_updater(&args("-Q -A -n pingd"), &env).unwrap();
        assert_eq!(query.action, AttrdAction::Query { all_nodes: true });
        assert!(parse_attrd_updater(&args("-n x"), &env)
            .unwrap_err()
            .contains("nothing to do"));
        assert!(parse_attrd_updater(&args("-n x -U 1 -l forever"), &env).is_err());
        assert!(parse_attrd_updater(&args("-n x -U 1 -d soon"), &env).is_err());
        let text = render_attrd_query("pingd", &[("n1".into(), Some("1".into()))], false);
        assert_eq!(text, "name=\"pingd\" host=\"n1\" value=\"1\"\n");
    }

    fn status() -> StatusReport {
        let node = |name: &str, online: bool| NodeReport {
            name: name.into(),
            online,
            standby: false,
            maintenance: false,
            ..NodeReport::default()
        };
        let rsc = |id: &str, parent: Option<&str>, role: &str, nodes: &[&str]| ResourceReport {
            id: id.into(),
            parent: parent.map(str::to_string),
            agent: "ocf:pacemaker:Stateful".into(),
            role: role.into(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            failed: false,
            ..ResourceReport::default()
        };
        StatusReport {
            cluster: "c".into(),
            dc: Some("n1".into()),
            quorate: true,
            nodes: vec![node("n1", true), node("n2", true), node("n3", false)],
            resources: vec![
                rsc("db:0", Some("db-clone"), "Promoted", &["n1"]),
                rsc("db:1", Some("db-clone"), "Unpromoted", &["n2"]),
                rsc("web", None, "Stopped", &[]),
            ],
            ..StatusReport::default()
        }
    }

    #[test]
    fn crm_node_answers_from_the_status() {
        let status = status();
        let answer =
            |text: &str| answer_crm_node(&parse_crm_node(&args(text)).unwrap(), "n2", &status);
        assert_eq!(answer("-n").unwrap(), "n2\n");
        assert_eq!(
            answer("-l").unwrap(),
            "n1 n1 member\nn2 n2 member\nn3 n3 lost\n"
        );
        assert_eq!(answer("-p").unwrap(), "n1 n2\n");
        assert_eq!(answer("-q").unwrap(), "1\n");
        assert_eq!(answer("-N n3").unwrap(), "n3\n");
        assert!(answer("-N n9").is_err());
        assert!(parse_crm_node(&args("--frob")).is_err());
    }

    #[test]
    fn crm_resource_locates_primitives_and_clones() {
        let status = status();
        let locate = |text: &str| answer_locate(&parse_crm_resource(&args(text)).unwrap(), &status);
        assert_eq!(
            locate("--locate -r db-clone").unwrap(),
            "resource db-clone is running on: n1 Promoted\nresource db-clone is running on: n2\n"
        );
        assert_eq!(locate("-W -r db -Q").unwrap(), "n1\nn2\n");
        assert_eq!(
            locate("-W -r web").unwrap(),
            "resource web is NOT running\n"
        );
        assert!(locate("-W -r ghost").is_err());
        assert!(parse_crm_resource(&args("--cleanup -r web")).is_err());
    }
}
