//! Alerts as Pacemaker runs them: the CIB's `alerts` section read once into
//! [`Alert`]s, and for a cluster event the agent calls it asks for, each
//! with Pacemaker's `CRM_alert_*` environment. Pure: the caller passes the
//! event, the time and the node's alert sequence number; running the agents
//! is the alert runner's job (`actors::alert`).
//!
//! As in Pacemaker: an alert with no `<select>` gets node, fencing and
//! resource events (attribute events only when selected); a recipient's meta
//! and instance attributes override its alert's; an alert without recipients
//! is called once with an empty `CRM_alert_recipient`; instance attributes
//! reach the agent as plain environment variables.

use crate::model::cib::nvpairs;
use crate::model::cib::operation::OpKind;
use crate::model::cib::rules::RuleContext;
use crate::model::cib::time::{broken_down, read_duration_ms, Broken};
use crate::model::cib::verify::ConfigIssue;
use crate::model::cib::xml::Element;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Pacemaker's default: an agent still running after this is killed.
pub const ALERT_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// Pacemaker's default `timestamp-format`.
pub const TIMESTAMP_FORMAT_DEFAULT: &str = "%H:%M:%S.%06N";
/// A formatted timestamp longer than this is cut (a format is user input).
pub const TIMESTAMP_BYTES_MAX: usize = 256;

/// What happened, as the four kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    Node,
    Fencing,
    Resource,
    Attribute,
}

impl AlertKind {
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Node => "node",
            AlertKind::Fencing => "fencing",
            AlertKind::Resource => "resource",
            AlertKind::Attribute => "attribute",
        }
    }
}

/// One `<recipient>`: its value and the attributes that override the alert's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub id: String,
    pub value: String,
    pub meta: BTreeMap<String, String>,
    pub instance: BTreeMap<String, String>,
}

/// One `<alert>` as it will run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub path: String,
    pub description: Option<String>,
    /// The kinds of event this alert is for.
    pub kinds: Vec<AlertKind>,
    /// With [`AlertKind::Attribute`]: only these attributes (empty = all).
    pub attribute_names: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub instance: BTreeMap<String, String>,
    pub recipients: Vec<Recipient>,
}

/// A cluster event that may call alert agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertEvent {
    /// A node joined (`member`) or was lost (`lost`).
    Node {
        node: String,
        node_id: String,
        state: String,
    },
    Fencing {
        target: String,
        action: String,
        rc: i32,
        /// Pacemaker's summary: `Operation reboot of n2 by n1 for ...: OK`.
        desc: String,
    },
    Resource {
        node: String,
        resource: String,
        task: OpKind,
        interval_ms: u64,
        target_rc: i32,
        /// Pacemaker's op-status code (0 = the agent ran and answered `rc`).
        status: i32,
        rc: i32,
        exec_ms: u64,
    },
    Attribute {
        node: String,
        node_id: String,
        name: String,
        value: Option<String>,
    },
}

impl AlertEvent {
    pub fn kind(&self) -> AlertKind {
        match self {
            AlertEvent::Node { .. } => AlertKind::Node,
            AlertEvent::Fencing { .. } => AlertKind::Fencing,
            AlertEvent::Resource { .. } => AlertKind::Resource,
            AlertEvent::Attribute { .. } => AlertKind::Attribute,
        }
    }
}

/// When the event happened, with the local clock's offset from UTC (the
/// shell reads it; the model reads no clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTime {
    pub epoch_s: i64,
    pub usec: u32,
    pub utc_offset_s: i64,
    /// The zone's abbreviation, for `%Z`.
    pub zone: String,
}

/// One agent call: what to run, with which environment and time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub alert_id: String,
    pub recipient_id: Option<String>,
    pub path: String,
    pub timeout_ms: u64,
    pub env: Vec<(String, String)>,
}

fn issue(e: &Element, message: impl Into<String>) -> ConfigIssue {
    ConfigIssue::error(&e.name, e.id().unwrap_or(""), message)
}

/// Reads every `<alert>` of the configuration; one that can't be used is
/// left out with an error, the others run.
pub fn read_alerts(
    root: &Element,
    configuration: &Element,
    now_epoch_s: i64,
) -> (Vec<Alert>, Vec<ConfigIssue>) {
    let ctx = RuleContext {
        node_attrs: None,
        now_epoch_s,
        agent: None,
        op: None,
    };
    let mut alerts = Vec::new();
    let mut issues = Vec::new();
    let Some(section) = configuration.child("alerts") else {
        return (alerts, issues);
    };
    for child in &section.children {
        if child.name != "alert" {
            issues.push(issue(
                child,
                format!("<{}> does not belong in <alerts>", child.name),
            ));
            continue;
        }
        match read_alert(root, child, &ctx) {
            Ok(alert) => alerts.push(alert),
            Err(problem) => issues.push(problem),
        }
    }
    (alerts, issues)
}

fn read_alert(root: &Element, e: &Element, ctx: &RuleContext) -> Result<Alert, ConfigIssue> {
    let id = e
        .id()
        .ok_or_else(|| issue(e, "missing attribute id"))?
        .to_string();
    let path = e.attr("path").unwrap_or_default();
    if path.is_empty() {
        return Err(issue(e, "missing attribute path (the alert agent)"));
    }
    if !path.starts_with('/') {
        return Err(issue(
            e,
            format!("path {path:?} must be absolute (the agent is run without a search path)"),
        ));
    }
    let (kinds, attribute_names) = read_select(e)?;
    let meta = nvpairs(root, e, "meta_attributes", ctx);
    check_meta(e, &meta)?;
    let mut recipients = Vec::new();
    for r in e.children_named("recipient") {
        let rid = r
            .id()
            .ok_or_else(|| issue(r, "missing attribute id"))?
            .to_string();
        let value = r
            .attr("value")
            .ok_or_else(|| issue(r, "missing attribute value"))?
            .to_string();
        let meta = nvpairs(root, r, "meta_attributes", ctx);
        check_meta(r, &meta)?;
        recipients.push(Recipient {
            id: rid,
            value,
            meta,
            instance: nvpairs(root, r, "instance_attributes", ctx),
        });
    }
    Ok(Alert {
        id,
        path: path.to_string(),
        description: e.attr("description").map(str::to_string),
        kinds,
        attribute_names,
        meta,
        instance: nvpairs(root, e, "instance_attributes", ctx),
        recipients,
    })
}

/// `<select>`: which kinds of event; none means node, fencing and resource.
fn read_select(e: &Element) -> Result<(Vec<AlertKind>, Vec<String>), ConfigIssue> {
    let Some(select) = e.child("select") else {
        return Ok((
            vec![AlertKind::Node, AlertKind::Fencing, AlertKind::Resource],
            Vec::new(),
        ));
    };
    let mut kinds = Vec::new();
    let mut names = Vec::new();
    for s in &select.children {
        let kind = match s.name.as_str() {
            "select_nodes" => AlertKind::Node,
            "select_fencing" => AlertKind::Fencing,
            "select_resources" => AlertKind::Resource,
            "select_attributes" => {
                for a in s.children_named("attribute") {
                    match a.attr("name") {
                        Some(name) if !name.is_empty() => names.push(name.to_string()),
                        _ => return Err(issue(a, "missing attribute name")),
                    }
                }
                AlertKind::Attribute
            }
            other => {
                return Err(issue(
                    e,
                    format!("<select> holds <{other}>; expected select_nodes, select_fencing, select_resources or select_attributes"),
                ))
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok((kinds, names))
}

fn check_meta(e: &Element, meta: &BTreeMap<String, String>) -> Result<(), ConfigIssue> {
    if let Some(timeout) = meta.get("timeout") {
        match read_duration_ms(timeout) {
            Ok(0) => return Err(issue(e, "timeout 0: an alert agent needs time to run")),
            Ok(_) => {}
            Err(error) => return Err(issue(e, format!("timeout: {error}"))),
        }
    }
    if let Some(format) = meta.get("timestamp-format") {
        if format.len() > TIMESTAMP_BYTES_MAX {
            return Err(issue(
                e,
                format!("timestamp-format longer than TIMESTAMP_BYTES_MAX = {TIMESTAMP_BYTES_MAX} bytes"),
            ));
        }
    }
    Ok(())
}

fn is_false(value: Option<&String>) -> bool {
    value.is_some_and(|v| !crate::model::cib::parse_bool(v))
}

/// A node's id as the CIB's `<node>` gives it (its name when not there).
pub fn node_id(cib: &Element, node: &str) -> String {
    cib.child("configuration")
        .and_then(|c| c.child("nodes"))
        .and_then(|n| {
            n.children_named("node")
                .find(|n| n.attr("uname") == Some(node))
        })
        .and_then(Element::id)
        .unwrap_or(node)
        .to_string()
}

/// Whether `alert` wants `event`.
pub fn selects(alert: &Alert, event: &AlertEvent) -> bool {
    if !alert.kinds.contains(&event.kind()) {
        return false;
    }
    match event {
        AlertEvent::Attribute { name, .. } => {
            alert.attribute_names.is_empty() || alert.attribute_names.contains(name)
        }
        _ => true,
    }
}

/// The agent calls an event asks for: one per recipient of each alert that
/// selects it (one without a recipient for an alert that has none).
pub fn invocations(
    alerts: &[Alert],
    event: &AlertEvent,
    sequence: u64,
    at: &AlertTime,
    version: &str,
) -> Vec<Invocation> {
    let mut calls = Vec::new();
    for alert in alerts {
        if !selects(alert, event) || is_false(alert.meta.get("enabled")) {
            continue;
        }
        let recipients: Vec<Option<&Recipient>> = if alert.recipients.is_empty() {
            vec![None]
        } else {
            alert.recipients.iter().map(Some).collect()
        };
        for recipient in recipients {
            if recipient.is_some_and(|r| is_false(r.meta.get("enabled"))) {
                continue;
            }
            calls.push(invocation(alert, recipient, event, sequence, at, version));
        }
    }
    calls
}

fn invocation(
    alert: &Alert,
    recipient: Option<&Recipient>,
    event: &AlertEvent,
    sequence: u64,
    at: &AlertTime,
    version: &str,
) -> Invocation {
    let mut meta = alert.meta.clone();
    let mut instance = alert.instance.clone();
    if let Some(r) = recipient {
        meta.extend(r.meta.clone());
        instance.extend(r.instance.clone());
    }
    let timeout_ms = meta
        .get("timeout")
        .and_then(|t| read_duration_ms(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(ALERT_TIMEOUT_MS_DEFAULT);
    let format = meta
        .get("timestamp-format")
        .map(String::as_str)
        .unwrap_or(TIMESTAMP_FORMAT_DEFAULT);
    let mut keys: Vec<(&str, String)> = vec![
        ("kind", event.kind().name().to_string()),
        ("version", version.to_string()),
        (
            "recipient",
            recipient.map(|r| r.value.clone()).unwrap_or_default(),
        ),
        ("node_sequence", sequence.to_string()),
        ("timestamp", format_timestamp(format, at)),
        ("timestamp_epoch", at.epoch_s.to_string()),
        ("timestamp_usec", at.usec.to_string()),
        ("select_kind", select_kind(alert)),
        ("select_attribute_name", alert.attribute_names.join(",")),
    ];
    keys.extend(event_keys(event));
    let mut env: Vec<(String, String)> = instance.into_iter().collect();
    for (key, value) in keys {
        // ClusterMon's external agents read the older CRM_notify_ names.
        env.push((format!("CRM_notify_{key}"), value.clone()));
        env.push((format!("CRM_alert_{key}"), value));
    }
    Invocation {
        alert_id: alert.id.clone(),
        recipient_id: recipient.map(|r| r.id.clone()),
        path: alert.path.clone(),
        timeout_ms,
        env,
    }
}

fn select_kind(alert: &Alert) -> String {
    let mut text: String = alert
        .kinds
        .iter()
        .map(|k| format!("{},", k.name()))
        .collect();
    text.pop();
    text
}

fn event_keys(event: &AlertEvent) -> Vec<(&'static str, String)> {
    match event {
        AlertEvent::Node {
            node,
            node_id,
            state,
        } => vec![
            ("node", node.clone()),
            ("nodeid", node_id.clone()),
            ("desc", state.clone()),
        ],
        AlertEvent::Fencing {
            target,
            action,
            rc,
            desc,
        } => vec![
            ("node", target.clone()),
            ("task", action.clone()),
            ("rc", rc.to_string()),
            ("desc", desc.clone()),
        ],
        AlertEvent::Resource {
            node,
            resource,
            task,
            interval_ms,
            target_rc,
            status,
            rc,
            exec_ms,
        } => vec![
            ("node", node.clone()),
            ("rsc", resource.clone()),
            ("task", task.to_string()),
            ("interval", interval_ms.to_string()),
            ("target_rc", target_rc.to_string()),
            ("status", status.to_string()),
            ("rc", rc.to_string()),
            ("exec_time", exec_ms.to_string()),
            ("desc", resource_desc(*status, *rc).to_string()),
        ],
        AlertEvent::Attribute {
            node,
            node_id,
            name,
            value,
        } => vec![
            ("node", node.clone()),
            ("nodeid", node_id.clone()),
            ("attribute_name", name.clone()),
            ("attribute_value", value.clone().unwrap_or_default()),
        ],
    }
}

/// Pacemaker's `CRM_alert_desc` of a fencing operation:
/// `Operation reboot of n2 by n1 for systole-dc@n1: OK`.
pub fn fencing_desc(
    action: &str,
    target: &str,
    executioner: &str,
    origin: &str,
    ok: bool,
    detail: &str,
) -> String {
    let result = if ok {
        "OK".to_string()
    } else if detail.is_empty() {
        "Error".to_string()
    } else {
        format!("Error ({detail})")
    };
    format!("Operation {action} of {target} by {executioner} for systole-dc@{origin}: {result}")
}

/// Pacemaker's `CRM_alert_desc` of a resource operation: the OCF result's
/// words when the agent answered, else the op-status's.
pub fn resource_desc(status: i32, rc: i32) -> &'static str {
    if status != 0 {
        return crate::model::cib::operation::OpStatus::text_of_code(status);
    }
    match rc {
        0 => "ok",
        1 => "error",
        2 => "invalid parameter",
        3 => "unimplemented feature",
        4 => "insufficient privileges",
        5 => "not installed",
        6 => "not configured",
        7 => "not running",
        8 => "promoted",
        9 => "promoted (failed)",
        _ => "unknown",
    }
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `timestamp-format` as Pacemaker reads it: strftime's conversions, plus
/// `%N` for the fraction of the second (`%3N` milliseconds, `%06N`
/// microseconds, `%N` nanoseconds), in local time.
pub fn format_timestamp(format: &str, at: &AlertTime) -> String {
    let b = broken_down(at.epoch_s + at.utc_offset_s);
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() > TIMESTAMP_BYTES_MAX {
            break;
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        // A width (digits, maybe 0-led) is read for %N only.
        let mut width = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            width.push(d);
            chars.next();
        }
        let Some(conversion) = chars.next() else {
            out.push('%');
            out.push_str(&width);
            break;
        };
        out.push_str(&convert(conversion, &width, &b, at));
    }
    if out.len() > TIMESTAMP_BYTES_MAX {
        let mut cut = TIMESTAMP_BYTES_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// One strftime conversion (`%` and `width` already read); an unknown one
/// is written as it was.
fn convert(conversion: char, width: &str, b: &Broken, at: &AlertTime) -> String {
    let weekday = WEEKDAYS[(b.weekday as usize + 6) % 7];
    let month = MONTHS[(b.month as usize).saturating_sub(1) % 12];
    let hour12 = match b.hour % 12 {
        0 => 12,
        h => h,
    };
    match conversion {
        'N' => fraction(at.usec, width.parse().unwrap_or(9)),
        'Y' => b.year.to_string(),
        'y' => format!("{:02}", b.year.rem_euclid(100)),
        'C' => format!("{:02}", b.year.div_euclid(100)),
        'm' => format!("{:02}", b.month),
        'd' => format!("{:02}", b.monthday),
        'e' => format!("{:>2}", b.monthday),
        'j' => format!("{:03}", b.yearday),
        'H' => format!("{:02}", b.hour),
        'k' => format!("{:>2}", b.hour),
        'I' => format!("{hour12:02}"),
        'l' => format!("{hour12:>2}"),
        'M' => format!("{:02}", b.minute),
        'S' => format!("{:02}", b.second),
        'p' => (if b.hour < 12 { "AM" } else { "PM" }).to_string(),
        'a' => weekday[..3].to_string(),
        'A' => weekday.to_string(),
        'b' | 'h' => month[..3].to_string(),
        'B' => month.to_string(),
        'u' => b.weekday.to_string(),
        'w' => (b.weekday % 7).to_string(),
        's' => at.epoch_s.to_string(),
        'z' => utc_offset(at.utc_offset_s),
        'Z' => at.zone.clone(),
        'D' => format!(
            "{:02}/{:02}/{:02}",
            b.month,
            b.monthday,
            b.year.rem_euclid(100)
        ),
        'F' => format!("{}-{:02}-{:02}", b.year, b.month, b.monthday),
        'T' => format!("{:02}:{:02}:{:02}", b.hour, b.minute, b.second),
        'R' => format!("{:02}:{:02}", b.hour, b.minute),
        'c' => format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            &weekday[..3],
            &month[..3],
            b.monthday,
            b.hour,
            b.minute,
            b.second,
            b.year
        ),
        'n' => "\n".to_string(),
        't' => "\t".to_string(),
        '%' => "%".to_string(),
        other => format!("%{width}{other}"),
    }
}

/// The first `digits` digits of the fraction of the second (nanoseconds
/// padded from microseconds).
fn fraction(usec: u32, digits: usize) -> String {
    let nanos = format!("{:09}", u64::from(usec.min(999_999)) * 1000);
    nanos[..digits.clamp(1, 9)].to_string()
}

fn utc_offset(offset_s: i64) -> String {
    let sign = if offset_s < 0 { '-' } else { '+' };
    let minutes = offset_s.abs() / 60;
    format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests;
