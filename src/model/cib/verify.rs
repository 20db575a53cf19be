//! One reader for every write: a whole CIB checked with the scheduler's own
//! reader ([`Cib::from_xml`], which leaves out what it cannot use and says
//! so), the administration checks, the rules' dates and durations, names
//! and limits. [`verify`] lists every configuration error and warning
//! (`systole cib verify`, `status`); [`check_write`] refuses a change that
//! adds errors, naming each, and is what every write path calls before a
//! change is committed.
//!
//! ```
//! use systole::model::cib::{store, verify};
//! let before = store::empty_cib();
//! let mut after = before.clone();
//! let op = systole::model::cib::xml::Element::parse(r#"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy">
//!   <operations><op id="a-mon" name="monitor" interval="1d"/></operations></primitive>"#).unwrap();
//! after.child_mut("configuration").unwrap().child_mut("resources").unwrap().children.push(op);
//! let refused = verify::check_write(&before, &after, 0).unwrap_err();
//! assert!(refused.to_string().contains(r#"<op id="a-mon">: invalid interval "1d""#));
//! ```

use super::change::CibChange;
use super::time::{read_datetime, read_duration_ms};
use super::xml::{is_xml_name, Element, XML_ATTRIBUTES_MAX, XML_DEPTH_MAX};
use super::Cib;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest CIB accepted, in bytes of its XML: half the parser's limit, so
/// the indented copy on disk always reads back. The scale benchmark's 32
/// nodes and 10,000 running resources take 12 MB.
pub const CIB_BYTES_MAX: usize = super::xml::XML_DOCUMENT_BYTES_MAX / 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    Error,
    Warning,
}

/// One configuration problem, naming the element, its id and the value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConfigIssue {
    pub severity: Severity,
    /// The element's tag (empty when the problem is about the document).
    pub element: String,
    pub id: String,
    pub message: String,
}

impl ConfigIssue {
    pub fn error(element: &str, id: &str, message: impl Into<String>) -> ConfigIssue {
        ConfigIssue {
            severity: Severity::Error,
            element: element.to_string(),
            id: id.to_string(),
            message: message.into(),
        }
    }

    pub fn warning(element: &str, id: &str, message: impl Into<String>) -> ConfigIssue {
        ConfigIssue {
            severity: Severity::Warning,
            ..ConfigIssue::error(element, id, message)
        }
    }

    fn about(e: &Element, message: impl Into<String>) -> ConfigIssue {
        ConfigIssue::error(&e.name, e.id().unwrap_or(""), message)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match (self.element.as_str(), self.id.as_str()) {
            ("", _) => write!(f, "{severity}: {}", self.message),
            (element, "") => write!(f, "{severity}: <{element}>: {}", self.message),
            (element, id) => write!(f, "{severity}: <{element} id=\"{id}\">: {}", self.message),
        }
    }
}

/// A write refused because it would add configuration errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: the change adds {} configuration error(s); nothing was changed:\n  {}", errors.len(), lines(errors))]
pub struct WriteRefused {
    pub errors: Vec<ConfigIssue>,
}

fn lines(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Every configuration error and warning of a CIB, errors first, each once.
pub fn verify(cib: &Element, now_epoch_s: i64) -> Vec<ConfigIssue> {
    let mut issues = check_document(cib);
    if cib.name != "cib" {
        issues.push(ConfigIssue::about(cib, "the root element must be <cib>"));
        return issues;
    }
    match Cib::from_xml(cib, now_epoch_s) {
        Ok(typed) => issues.extend(typed.config_errors),
        Err(error) => issues.push(error.into()),
    }
    if let Some(configuration) = cib.child("configuration") {
        if let Err(errors) = crate::model::cib::validate::check(configuration) {
            issues.extend(errors.into_iter().map(|e| ConfigIssue::error("", "", e)));
        }
        check_rules(configuration, &mut issues);
        check_durations(configuration, &mut issues);
    }
    issues.sort();
    issues.dedup();
    issues
}

/// Refuses `after` if it has a configuration error `before` did not have;
/// otherwise answers the warnings it adds. Errors already there do not block
/// an unrelated change (a Pacemaker import may carry some).
pub fn check_write(
    before: &Element,
    after: &Element,
    now_epoch_s: i64,
) -> Result<Vec<ConfigIssue>, WriteRefused> {
    let mut known: BTreeMap<ConfigIssue, usize> = BTreeMap::new();
    for issue in verify(before, now_epoch_s) {
        *known.entry(issue).or_default() += 1;
    }
    let mut added = Vec::new();
    for issue in verify(after, now_epoch_s) {
        match known.get_mut(&issue) {
            Some(count) if *count > 0 => *count -= 1,
            _ => added.push(issue),
        }
    }
    let (errors, warnings): (Vec<_>, Vec<_>) = added.into_iter().partition(|i| i.is_error());
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(WriteRefused { errors })
    }
}

/// Names, nesting, attribute counts and size: what any XML must meet here.
fn check_document(cib: &Element) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut bytes = 0usize;
    let mut deepest = 0usize;
    walk_depth(cib, 1, &mut |e, depth| {
        deepest = deepest.max(depth);
        bytes += e.name.len() + e.text.len() + 5;
        if !is_xml_name(&e.name) {
            issues.push(ConfigIssue::about(
                e,
                format!("invalid element name {:?}", e.name),
            ));
        }
        if e.attrs.len() > XML_ATTRIBUTES_MAX {
            issues.push(ConfigIssue::about(
                e,
                format!(
                    "{} attributes exceed XML_ATTRIBUTES_MAX = {XML_ATTRIBUTES_MAX} per element",
                    e.attrs.len()
                ),
            ));
        }
        for (key, value) in &e.attrs {
            bytes += key.len() + value.len() + 4;
            if !is_xml_name(key) {
                issues.push(ConfigIssue::about(
                    e,
                    format!("invalid attribute name {key:?}"),
                ));
            }
        }
    });
    if deepest > XML_DEPTH_MAX {
        issues.push(ConfigIssue::error(
            "",
            "",
            format!("nesting of {deepest} levels exceeds XML_DEPTH_MAX = {XML_DEPTH_MAX} levels"),
        ));
    }
    if bytes > CIB_BYTES_MAX {
        issues.push(ConfigIssue::error(
            "",
            "",
            format!("the CIB's {bytes} bytes exceed CIB_BYTES_MAX = {CIB_BYTES_MAX} bytes"),
        ));
    }
    issues
}

fn walk_depth<'a>(e: &'a Element, depth: usize, visit: &mut dyn FnMut(&'a Element, usize)) {
    visit(e, depth);
    for child in &e.children {
        walk_depth(child, depth + 1, visit);
    }
}

/// Dates, durations and date specs in rules, read as the scheduler reads
/// them: an expression with a bad one never passes.
fn check_rules(configuration: &Element, issues: &mut Vec<ConfigIssue>) {
    configuration.walk(&mut |e| match e.name.as_str() {
        "date_expression" => {
            for name in ["start", "end"] {
                if let Some(Err(error)) = e.attr(name).map(read_datetime) {
                    issues.push(ConfigIssue::about(
                        e,
                        format!("invalid {name}: {error}; the expression never passes"),
                    ));
                }
            }
            let op = e.attr("operation").unwrap_or("in_range");
            if !["in_range", "gt", "lt", "date_spec"].contains(&op) {
                issues.push(ConfigIssue::about(e, format!("unknown operation {op:?}")));
            }
        }
        "duration" => check_integers(
            e,
            &[
                "years", "months", "weeks", "days", "hours", "minutes", "seconds",
            ],
            issues,
        ),
        "date_spec" => {
            for (key, value) in &e.attrs {
                if key != "id" && !is_range_list(value) {
                    issues.push(ConfigIssue::about(
                        e,
                        format!("invalid {key} {value:?}: expected N, N-M or a comma list"),
                    ));
                }
            }
        }
        "op_expression" => {
            if let Some(Err(error)) = e.attr("interval").map(read_duration_ms) {
                issues.push(ConfigIssue::about(e, format!("invalid interval: {error}")));
            }
        }
        _ => {}
    });
}

fn check_integers(e: &Element, names: &[&str], issues: &mut Vec<ConfigIssue>) {
    for name in names {
        if let Some(value) = e.attr(name) {
            let bound = super::rules::DURATION_FIELD_MAX;
            if !value
                .trim()
                .parse::<i64>()
                .is_ok_and(|v| v.unsigned_abs() <= bound.unsigned_abs())
            {
                issues.push(ConfigIssue::about(
                    e,
                    format!("invalid {name} {value:?}: expected an integer of at most {bound}"),
                ));
            }
        }
    }
}

fn is_range_list(text: &str) -> bool {
    let number = |s: &str| s.trim().parse::<i64>().is_ok();
    text.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => number(a) && number(b),
        None => number(part),
    })
}

/// Meta attributes and properties that are durations: an unreadable one
/// falls back to its default in the scheduler, which must be said.
const DURATION_META: [&str; 4] = [
    "timeout",
    "failure-timeout",
    "start-delay",
    "interval-origin",
];
const DURATION_PROPERTIES: [&str; 11] = [
    "cluster-delay",
    "cluster-recheck-interval",
    "dc-deadtime",
    "election-timeout",
    "shutdown-escalation",
    "stonith-timeout",
    "fencing-timeout",
    "priority-fencing-delay",
    "join-integration-timeout",
    "join-finalization-timeout",
    "transition-delay",
];

fn check_durations(configuration: &Element, issues: &mut Vec<ConfigIssue>) {
    let check = |e: &Element, name: &str, value: &str, issues: &mut Vec<ConfigIssue>| {
        if value != "#default" {
            if let Err(error) = read_duration_ms(value) {
                issues.push(ConfigIssue::about(e, format!("invalid {name}: {error}")));
            }
        }
    };
    configuration.walk(&mut |e| {
        let names: &[&str] = match e.name.as_str() {
            "op" => {
                for name in ["timeout", "start-delay"] {
                    if let Some(value) = e.attr(name) {
                        check(e, name, value, issues);
                    }
                }
                return;
            }
            "meta_attributes" => &DURATION_META,
            "cluster_property_set" => &DURATION_PROPERTIES,
            _ => return,
        };
        for pair in e.children_named("nvpair") {
            if let (Some(name), Some(value)) = (pair.attr("name"), pair.attr("value")) {
                if names.contains(&name) {
                    check(pair, name, value, issues);
                }
            }
        }
    });
}

/// The check every client change passes before it goes to the CIB actor:
/// names of nodes and attributes, then the whole CIB after the change
/// against before ([`crate::model::cib::verify::check_write`]). Status-only
/// changes (attributes agents set, cleanups) need only the name checks.
pub fn check_change(cib: &Element, change: &CibChange, now_epoch_s: i64) -> Result<(), String> {
    check_change_names(change)?;
    if !changes_configuration(change) {
        return Ok(());
    }
    // The compare-and-swap is the log's to decide; here only the content.
    let content = match change {
        CibChange::ReplaceConfigurationIf { configuration, .. } => {
            CibChange::ReplaceConfiguration(configuration.clone())
        }
        other => other.clone(),
    };
    let mut after = cib.clone();
    crate::model::cib::store::apply_change(&mut after, &content)
        .map_err(|e| format!("refused: {e}"))?;
    check_applied(cib, change, &after, now_epoch_s)
}

/// The same check on a change already applied to a copy (`after`): what
/// the replicated log runs on every node before it takes a change.
pub fn check_applied(
    before: &Element,
    change: &CibChange,
    after: &Element,
    now_epoch_s: i64,
) -> Result<(), String> {
    check_change_names(change)?;
    if !changes_configuration(change) {
        return Ok(());
    }
    check_write(before, after, now_epoch_s)
        .map(|_warnings| ())
        .map_err(|refused| refused.to_string())
}

fn changes_configuration(change: &CibChange) -> bool {
    match change {
        CibChange::SetTransientAttribute { .. } | CibChange::CleanupResource { .. } => false,
        CibChange::Batch(changes) => changes.iter().any(changes_configuration),
        CibChange::Stamped { change, .. } => changes_configuration(change),
        _ => true,
    }
}

fn check_change_names(change: &CibChange) -> Result<(), String> {
    use crate::model::cib::names::{check_attribute_name, check_node_name};
    match change {
        CibChange::SetTransientAttribute { node, name, .. }
        | CibChange::SetNodeAttribute { node, name, .. } => {
            check_node_name(node)?;
            check_attribute_name(name)
        }
        CibChange::SetProperty { name, .. } => check_attribute_name(name),
        CibChange::CleanupResource {
            node: Some(node), ..
        } => check_node_name(node),
        CibChange::Batch(changes) => changes.iter().try_for_each(check_change_names),
        CibChange::Stamped { change, .. } => check_change_names(change),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod integer_tests {
    use super::*;

    #[test]
    fn the_smallest_i64_is_out_of_range_not_an_overflow() {
        // Found by cargo-fuzz (cib_xml): `i64::MIN.abs()` overflowed.
        let e = Element::new("date_spec")
            .with_attr("id", "d")
            .with_attr("years", i64::MIN.to_string());
        let mut issues = Vec::new();
        check_integers(&e, &["years"], &mut issues);
        assert_eq!(issues.len(), 1);
    }
}
