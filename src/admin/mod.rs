//! Administration: parsed command arguments plus the current CIB in, CIB
//! changes out. Pure: no daemon, no files, no clock (callers pass "now").
//!
//! Every function returns an [`Edit`]: the [`CibChange`]s to apply (as one
//! atomic batch) and one line per change saying what it does, for the CLI to
//! print. Elements get the ids pcs gives them (`web-instance_attributes`,
//! `web-monitor-interval-10s`, `cli-prefer-web`, `location-web-node1-INFINITY`),
//! so a configuration made here reads like one made with pcs.
//!
//! ```
//! use systole::admin;
//! use systole::model::cib::store;
//! let mut cib = store::empty_cib();
//! let args: Vec<String> = "web ocf:heartbeat:Dummy fake=1 op monitor interval=10s"
//!     .split(' ').map(String::from).collect();
//! let edit = admin::resource_create(&cib, &args).unwrap();
//! edit.apply(&mut cib).unwrap();
//! assert!(cib.find_by_id(Some("op"), "web-monitor-interval-10s").is_some());
//! ```

use crate::model::cib::agent::read_agent;
use crate::model::cib::change::CibChange;
use crate::model::cib::store::{self, CibEditError};
use crate::model::cib::xml::Element;

/// What a command changes and how to say so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Edit {
    pub changes: Vec<CibChange>,
    pub summary: Vec<String>,
}

impl Edit {
    fn new() -> Edit {
        Edit::default()
    }

    fn push(&mut self, change: CibChange, summary: impl Into<String>) {
        self.changes.push(change);
        self.summary.push(summary.into());
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes as one request (a batch when more than one).
    pub fn into_change(mut self) -> Option<CibChange> {
        match self.changes.len() {
            0 => None,
            1 => self.changes.pop(),
            _ => Some(CibChange::Batch(self.changes)),
        }
    }

    /// Applies the edit to a CIB (a shadow, or a preview).
    pub fn apply(&self, cib: &mut Element) -> std::result::Result<(), CibEditError> {
        match self.clone().into_change() {
            Some(change) => store::apply_change(cib, &change),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AdminError(pub String);

pub type Result<T> = std::result::Result<T, AdminError>;

macro_rules! refuse {
    ($($arg:tt)*) => { return Err(AdminError(format!($($arg)*))) };
}

pub mod alerts;
mod constraint;
pub mod fencing;
mod group;
mod import;
mod location;
mod node;
mod placement;
mod property;
mod resource;
mod resource_args;
mod show;
pub mod what_if;

pub use constraint::*;
pub use group::*;
pub use import::*;
pub use location::*;
pub use node::*;
pub use placement::*;
pub use property::*;
pub use resource::*;
pub use resource_args::*;
pub use show::*;

fn configuration(cib: &Element) -> Option<&Element> {
    cib.child("configuration")
}

/// The configuration element with this id, if any.
pub fn find<'a>(cib: &'a Element, id: &str) -> Option<&'a Element> {
    configuration(cib)?.find_by_id(None, id)
}

/// `master` is the old (Pacemaker 1.x) name of a promotable clone.
const RESOURCE_TAGS: [&str; 5] = ["primitive", "group", "clone", "master", "bundle"];

/// A resource (primitive, group, clone, bundle) by id; a clone instance
/// name (`db:0`) finds its primitive.
pub fn find_resource<'a>(cib: &'a Element, id: &str) -> Option<&'a Element> {
    let resources = configuration(cib)?.child("resources")?;
    let base = id.split(':').next().unwrap_or(id);
    RESOURCE_TAGS
        .iter()
        .find_map(|tag| resources.find_by_id(Some(tag), base))
}

fn need_resource<'a>(cib: &'a Element, id: &str) -> Result<&'a Element> {
    match find_resource(cib, id) {
        Some(r) => Ok(r),
        None => refuse!("no resource with id {id:?} (see `systole resource list`)"),
    }
}

fn check_new_id(cib: &Element, id: &str) -> Result<()> {
    check_id_syntax(id)?;
    if let Some(existing) = find(cib, id) {
        refuse!(
            "id {id:?} already exists (a <{}>); pick another id",
            existing.name
        );
    }
    Ok(())
}

/// XML ids as Pacemaker accepts them: a letter or `_` first, then letters,
/// digits, `_`, `-`, `.`.
pub fn check_id_syntax(id: &str) -> Result<()> {
    crate::model::cib::names::check_id(id).map_err(AdminError)
}

/// Makes a string usable inside an id, as pcs does.
fn id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A score: an integer, or `INFINITY` with an optional sign.
pub fn check_score(score: &str) -> Result<()> {
    if !crate::model::cib::score::is_well_formed(score) {
        refuse!("invalid score {score:?}: use an integer, INFINITY or -INFINITY");
    }
    Ok(())
}

fn nvpair(set_id: &str, name: &str, value: &str) -> Element {
    Element::new("nvpair")
        .with_attr("id", format!("{set_id}-{}", id_part(name)))
        .with_attr("name", name)
        .with_attr("value", value)
}

/// Sets (`Some`) or removes (`None`) `name` in the nvpair set `tag` of
/// `element`, creating the set with pcs's id (`OWNER-TAG`) if needed.
fn set_nv(element: &mut Element, tag: &str, name: &str, value: Option<&str>) {
    let owner = element.id().unwrap_or_default().to_string();
    let index = match element.children.iter().position(|c| c.name == tag) {
        Some(index) => index,
        None => {
            if value.is_none() {
                return;
            }
            // nvpair sets go before operations and children, as pcs writes them.
            let at = element
                .children
                .iter()
                .position(|c| !(c.name == "instance_attributes" || c.name == "meta_attributes"))
                .unwrap_or(element.children.len());
            element.children.insert(
                at,
                Element::new(tag).with_attr("id", format!("{owner}-{tag}")),
            );
            at
        }
    };
    let set = &mut element.children[index];
    let set_id = set.id().unwrap_or_default().to_string();
    let existing = set
        .children
        .iter()
        .position(|c| c.name == "nvpair" && c.attr("name") == Some(name));
    match (existing, value) {
        (Some(i), Some(v)) => set.children[i].set_attr("value", v),
        (Some(i), None) => {
            set.children.remove(i);
        }
        (None, Some(v)) => set.children.push(nvpair(&set_id, name, v)),
        (None, None) => {}
    }
    if set.children.is_empty() {
        element.children.remove(index);
    }
}

/// `key=value` (an empty value means "remove").
fn split_pair(token: &str) -> Result<(String, String)> {
    match token.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => refuse!("expected name=value, found {token:?}"),
    }
}

/// A duration in Pacemaker's forms (`10`, `10s`, `500ms`, `5min`, `2h`, ISO
/// 8601 `PT1H30M`, `P1D`), in milliseconds: the scheduler's own reader
/// ([`crate::model::cib::time::read_duration_ms`]), so what is accepted here the
/// scheduler understands.
pub fn parse_duration_ms(text: &str) -> Result<u64> {
    crate::model::cib::time::read_duration_ms(text).map_err(|e| AdminError(e.to_string()))
}

/// Seconds since the epoch as ISO 8601 UTC: the model's date writer, paired
/// with its reader.
pub use crate::model::cib::time::iso8601;

fn known_node(cib: &Element, node: &str) -> Result<()> {
    let mut known: Vec<&str> = configuration(cib)
        .and_then(|c| c.child("nodes"))
        .map(|n| {
            n.children_named("node")
                .filter_map(|n| n.attr("uname"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(resources) = configuration(cib).and_then(|c| c.child("resources")) {
        known.extend(remote_node_names(resources));
    }
    if !known.contains(&node) {
        refuse!(
            "no node {node:?} in the configuration (known: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(())
}

/// Remote nodes (an `ocf:pacemaker:remote` primitive's id) and guest nodes
/// (a primitive's `remote-node` meta attribute) the resources define.
fn remote_node_names(resources: &Element) -> Vec<&str> {
    let mut names = Vec::new();
    resources.walk(&mut |e| {
        if e.name != "primitive" {
            return;
        }
        if read_agent(e).is_ok_and(|agent| agent.is_remote_connection()) {
            names.extend(e.id());
        }
        for meta in e.children_named("meta_attributes") {
            for pair in meta.children_named("nvpair") {
                if pair.attr("name") == Some("remote-node") {
                    names.extend(pair.attr("value"));
                }
            }
        }
    });
    names
}

/// An id not yet in the CIB: `base`, else `base-1`, `base-2`, ...
fn fresh_id(cib: &Element, base: &str) -> String {
    if find(cib, base).is_none() {
        return base.to_string();
    }
    (1..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| find(cib, id).is_none())
        .expect("some id is free")
}

/// A copy of the CIB's configuration (empty when missing).
pub fn configuration_of(cib: &Element) -> Element {
    configuration(cib)
        .cloned()
        .unwrap_or_else(|| Element::new("configuration"))
}

#[cfg(test)]
mod tests;
