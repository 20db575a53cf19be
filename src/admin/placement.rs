//! Where a resource may run, as the operator says it: `resource move`,
//! `ban` and `clear` (the `cli-prefer-`/`cli-ban-` location constraints),
//! and `cleanup` (forgetting failures so the cluster places it afresh).

use super::*;

/// A location constraint from a CLI move/ban, with an expiring rule when a
/// lifetime is given (as pcs and crm_resource do).
fn cli_location(id: &str, rsc: &str, node: &str, score: &str, until: Option<&str>) -> Element {
    let mut location = Element::new("rsc_location")
        .with_attr("id", id)
        .with_attr("rsc", rsc);
    match until {
        None => {
            location.set_attr("node", node);
            location.set_attr("score", score);
        }
        Some(end) => {
            location.children.push(
                Element::new("rule")
                    .with_attr("id", format!("{id}-rule"))
                    .with_attr("score", score)
                    .with_attr("boolean-op", "and")
                    .with_child(
                        Element::new("expression")
                            .with_attr("id", format!("{id}-expr"))
                            .with_attr("attribute", "#uname")
                            .with_attr("operation", "eq")
                            .with_attr("value", node)
                            .with_attr("type", "string"),
                    )
                    .with_child(
                        Element::new("date_expression")
                            .with_attr("id", format!("{id}-lifetime"))
                            .with_attr("operation", "lt")
                            .with_attr("end", end),
                    ),
            );
        }
    }
    location
}

fn until(lifetime: Option<&str>, now_epoch_s: i64) -> Result<Option<String>> {
    lifetime
        .map(|l| parse_duration_ms(l).map(|ms| iso8601(now_epoch_s + (ms / 1000) as i64)))
        .transpose()
}

/// `resource move ID NODE [--lifetime DURATION]`: a `cli-prefer-ID`
/// location constraint (INFINITY on NODE), left in place until `resource
/// clear` unless a lifetime makes it expire.
pub fn resource_move(
    cib: &Element,
    id: &str,
    node: &str,
    lifetime: Option<&str>,
    now_epoch_s: i64,
) -> Result<Edit> {
    let placed = CliLocation::new(cib, id, node, lifetime, now_epoch_s)?;
    let (rsc, cid) = (&placed.rsc, format!("cli-prefer-{}", placed.rsc));
    let said =
        format!("moving {rsc} to {node}: added location constraint {cid} (INFINITY on {node})");
    Ok(placed.edit(&cid, "INFINITY", said))
}

/// What `resource move` and `resource ban` write: a `cli-` location
/// constraint on a known resource and node, expiring after `lifetime`.
struct CliLocation {
    rsc: String,
    node: String,
    until: Option<String>,
}

impl CliLocation {
    fn new(
        cib: &Element,
        id: &str,
        node: &str,
        lifetime: Option<&str>,
        now_epoch_s: i64,
    ) -> Result<CliLocation> {
        let resource = need_resource(cib, id)?;
        known_node(cib, node)?;
        Ok(CliLocation {
            rsc: resource.id().unwrap_or(id).to_string(),
            node: node.to_string(),
            until: until(lifetime, now_epoch_s)?,
        })
    }

    /// The constraint `cid` with `score`; `said` and when it ends, for the
    /// operator.
    fn edit(&self, cid: &str, score: &str, said: String) -> Edit {
        let note = match &self.until {
            Some(end) => format!("; it expires at {end}"),
            None => format!("; it stays until `systole resource clear {}`", self.rsc),
        };
        let mut edit = Edit::new();
        edit.push(
            CibChange::Upsert {
                section: "constraints".into(),
                element: cli_location(cid, &self.rsc, &self.node, score, self.until.as_deref()),
            },
            format!("{said}{note}"),
        );
        edit
    }
}

/// Where resource `id` (or anything inside it) is active, from the CIB's
/// status section.
pub fn active_nodes(cib: &Element, id: &str) -> Result<Vec<String>> {
    let resource = need_resource(cib, id)?;
    let members = resource_ids(resource);
    let statuses = crate::scheduler::status::resource_status(cib)
        .map_err(|e| AdminError(format!("cannot read where {id} runs: {e}")))?;
    let mut nodes: Vec<String> = statuses
        .iter()
        .filter(|r| {
            let base = r.id.split(':').next().unwrap_or(&r.id);
            members.iter().any(|m| m == base)
        })
        .flat_map(|r| r.nodes.iter().cloned())
        .collect();
    nodes.sort();
    nodes.dedup();
    Ok(nodes)
}

/// `resource move ID` with no node: away from the one node it runs on (a
/// `cli-ban-ID-on-NODE` constraint, as pcs does).
pub fn resource_move_away(
    cib: &Element,
    id: &str,
    lifetime: Option<&str>,
    now_epoch_s: i64,
) -> Result<Edit> {
    let nodes = active_nodes(cib, id)?;
    let node = match nodes.as_slice() {
        [node] => node.clone(),
        [] => {
            refuse!("{id} is not running anywhere; say where to move it: resource move {id} NODE")
        }
        _ => refuse!(
            "{id} runs on {}; say where to move it: resource move {id} NODE",
            nodes.join(", ")
        ),
    };
    let mut edit = resource_ban(cib, id, &node, lifetime, now_epoch_s)?;
    edit.summary = edit
        .summary
        .iter()
        .map(|line| {
            line.replacen("banned", "moving", 1)
                .replacen(" from ", " away from ", 1)
        })
        .collect();
    Ok(edit)
}

/// `resource ban ID NODE [--lifetime DURATION]`: `cli-ban-ID-on-NODE`, -INFINITY.
pub fn resource_ban(
    cib: &Element,
    id: &str,
    node: &str,
    lifetime: Option<&str>,
    now_epoch_s: i64,
) -> Result<Edit> {
    let placed = CliLocation::new(cib, id, node, lifetime, now_epoch_s)?;
    let rsc = &placed.rsc;
    let cid = format!("cli-ban-{rsc}-on-{node}");
    let said = format!("banned {rsc} from {node}: added location constraint {cid} (-INFINITY)");
    Ok(placed.edit(&cid, "-INFINITY", said))
}

/// `resource clear ID [NODE]`: removes the cli-prefer/cli-ban constraints
/// that move and ban left. An empty edit when there are none.
pub fn resource_clear(cib: &Element, id: &str, node: Option<&str>) -> Result<Edit> {
    let resource = need_resource(cib, id)?;
    let rsc = resource.id().unwrap_or(id).to_string();
    let mut edit = Edit::new();
    let constraints = configuration(cib).and_then(|c| c.child("constraints"));
    for constraint in constraints
        .map(|c| c.children.as_slice())
        .unwrap_or_default()
    {
        let Some(cid) = constraint.id() else { continue };
        let prefer = cid == format!("cli-prefer-{rsc}");
        let ban = match node {
            Some(n) => cid == format!("cli-ban-{rsc}-on-{n}"),
            None => cid.starts_with(&format!("cli-ban-{rsc}-on-")),
        };
        let prefer_here = prefer
            && node.is_none_or(|n| {
                constraint.attr("node") == Some(n)
                    || constraint
                        .find_by_id(None, &format!("{cid}-expr"))
                        .and_then(|e| e.attr("value"))
                        == Some(n)
            });
        if prefer_here || ban {
            edit.push(
                CibChange::Delete {
                    id: cid.to_string(),
                },
                format!("removed constraint {cid}"),
            );
        }
    }
    Ok(edit)
}

/// The end of a move/ban constraint's lifetime, if it has one.
fn lifetime_end(constraint: &Element) -> Option<&str> {
    let cid = constraint.id()?;
    constraint
        .find_by_id(Some("date_expression"), &format!("{cid}-lifetime"))
        .and_then(|d| d.attr("end"))
}

/// `resource clear --expired [ID]`: only the move/ban constraints (of ID,
/// or of every resource) whose lifetime has ended.
pub fn resource_clear_expired(cib: &Element, id: Option<&str>, now_epoch_s: i64) -> Result<Edit> {
    let rsc = match id {
        Some(id) => Some(need_resource(cib, id)?.id().unwrap_or(id).to_string()),
        None => None,
    };
    let mut edit = Edit::new();
    let constraints = configuration(cib).and_then(|c| c.child("constraints"));
    for constraint in constraints
        .map(|c| c.children.as_slice())
        .unwrap_or_default()
    {
        let Some(cid) = constraint.id() else { continue };
        let ours = cid.starts_with("cli-prefer-") || cid.starts_with("cli-ban-");
        let of_rsc = rsc
            .as_deref()
            .is_none_or(|r| constraint.attr("rsc") == Some(r));
        match lifetime_end(constraint) {
            // The scheduler's date reader: a lifetime it cannot read never
            // ends for it either.
            Some(end)
                if ours
                    && of_rsc
                    && crate::model::cib::time::read_datetime(end)
                        .is_ok_and(|end_s| end_s <= now_epoch_s) =>
            {
                edit.push(
                    CibChange::Delete {
                        id: cid.to_string(),
                    },
                    format!("removed constraint {cid} (expired {end})"),
                );
            }
            _ => {}
        }
    }
    Ok(edit)
}

/// `resource cleanup [ID] [--node N]`.
pub fn resource_cleanup(cib: &Element, id: Option<&str>, node: Option<&str>) -> Result<Edit> {
    let rsc = match id {
        Some(id) => Some(need_resource(cib, id)?.id().unwrap_or(id).to_string()),
        None => None,
    };
    if let Some(node) = node {
        known_node(cib, node)?;
    }
    let what = format!(
        "cleaned up {} on {}: operation history and fail counts forgotten, the cluster re-probes",
        rsc.as_deref().unwrap_or("every resource"),
        node.unwrap_or("every node")
    );
    let mut edit = Edit::new();
    edit.push(
        CibChange::CleanupResource {
            resource: rsc,
            node: node.map(String::from),
        },
        what,
    );
    Ok(edit)
}
