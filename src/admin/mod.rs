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
pub mod fencing;

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

pub use crate::model::cib::AgentSpec;

/// `class:provider:type`, `class:type`: the model's one reader of agent
/// names, so a class the scheduler leaves out is refused here.
pub fn parse_agent(spec: &str) -> Result<AgentSpec> {
    AgentSpec::parse(spec).map_err(|e| AdminError(e.to_string()))
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

fn get_nv<'a>(element: &'a Element, tag: &'a str, name: &str) -> Option<&'a str> {
    element
        .children_named(tag)
        .flat_map(|s| s.children_named("nvpair"))
        .find(|nv| nv.attr("name") == Some(name))
        .and_then(|nv| nv.attr("value"))
}

/// `key=value` (an empty value means "remove").
fn split_pair(token: &str) -> Result<(String, String)> {
    match token.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => refuse!("expected name=value, found {token:?}"),
    }
}

/// One `op NAME k=v...` of pcs syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpArgs {
    pub name: String,
    pub options: Vec<(String, String)>,
}

/// The pcs-style tail of `resource create/update`:
/// `[k=v...] [meta k=v...] [op NAME k=v... [NAME k=v...]] [clone|promotable [k=v...]]
/// [--group G] [--disabled]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceArgs {
    pub params: Vec<(String, String)>,
    pub meta: Vec<(String, String)>,
    pub ops: Vec<OpArgs>,
    /// `clone` / `promotable` with the clone's meta attributes.
    pub clone: Option<(bool, Vec<(String, String)>)>,
    pub group: Option<String>,
    pub disabled: bool,
}

pub fn parse_resource_args(tokens: &[String]) -> Result<ResourceArgs> {
    #[derive(PartialEq)]
    enum Section {
        Params,
        Meta,
        Op,
        Clone,
    }
    let mut args = ResourceArgs::default();
    let mut section = Section::Params;
    let mut tokens = tokens.iter();
    while let Some(token) = tokens.next() {
        match token.as_str() {
            "meta" => section = Section::Meta,
            "op" => section = Section::Op,
            "clone" | "promotable" => {
                args.clone = Some((token == "promotable", Vec::new()));
                section = Section::Clone;
            }
            "--group" => match tokens.next() {
                Some(group) => args.group = Some(group.clone()),
                None => refuse!("--group needs a group id"),
            },
            "--disabled" => args.disabled = true,
            t if t.starts_with("--") => refuse!("unknown option {t}"),
            t => match section {
                Section::Params => args.params.push(split_pair(t)?),
                Section::Meta => args.meta.push(split_pair(t)?),
                Section::Clone => args
                    .clone
                    .as_mut()
                    .expect("clone section")
                    .1
                    .push(split_pair(t)?),
                Section::Op if !t.contains('=') => args.ops.push(OpArgs {
                    name: t.to_string(),
                    options: Vec::new(),
                }),
                Section::Op => match args.ops.last_mut() {
                    Some(op) => op.options.push(split_pair(t)?),
                    None => refuse!(
                        "`op` needs an operation name first (op monitor interval=10s), found {t:?}"
                    ),
                },
            },
        }
    }
    if args.clone.is_some() && args.group.is_some() {
        refuse!("a resource goes into a group or a clone, not both at once");
    }
    Ok(args)
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

fn op_element(resource: &str, op: &OpArgs) -> Result<Element> {
    let interval = op
        .options
        .iter()
        .find(|(k, _)| k == "interval")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "0s".into());
    let interval_ms = parse_duration_ms(&interval)?;
    let _ = interval_ms;
    let op_name_ok = !op.name.is_empty()
        && op
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
    if !op_name_ok {
        refuse!("bad operation name {:?}", op.name);
    }
    let mut element = Element::new("op")
        .with_attr(
            "id",
            format!("{resource}-{}-interval-{}", op.name, id_part(&interval)),
        )
        .with_attr("name", op.name.clone())
        .with_attr("interval", interval.clone());
    for (key, value) in &op.options {
        match key.as_str() {
            "interval" => {}
            "id" => element.set_attr("id", value.clone()),
            "timeout" | "start-delay" | "interval-origin" => {
                parse_duration_ms(value)?;
                element.set_attr(key, value.clone());
            }
            _ => element.set_attr(key, value.clone()),
        }
    }
    Ok(element)
}

/// Adds operations; one with the same name and interval is replaced, or,
/// with `by_name` (pcs's `update`), the first one with the same name.
fn set_ops(primitive: &mut Element, ops: &[OpArgs], by_name: bool) -> Result<()> {
    let id = primitive.id().unwrap_or_default().to_string();
    let mut elements = Vec::new();
    for op in ops {
        elements.push(op_element(&id, op)?);
    }
    let operations = primitive.child_or_insert("operations");
    for element in elements {
        // An op with the same name and interval is replaced.
        let same = |o: &Element| {
            o.attr("name") == element.attr("name")
                && (by_name
                    || o.attr("interval")
                        .map(parse_duration_ms)
                        .and_then(|r| r.ok())
                        == element
                            .attr("interval")
                            .map(parse_duration_ms)
                            .and_then(|r| r.ok()))
        };
        match operations.children.iter().position(same) {
            Some(i) => operations.children[i] = element,
            None => operations.children.push(element),
        }
    }
    Ok(())
}

/// `resource create ID AGENT [k=v...] [meta ...] [op ...] [clone|promotable] [--group G] [--disabled]`
pub fn resource_create(cib: &Element, args: &[String]) -> Result<Edit> {
    let [id, agent, rest @ ..] = args else {
        refuse!("usage: resource create ID AGENT [name=value...] [meta name=value...] [op NAME name=value...] [clone|promotable] [--group G]");
    };
    check_new_id(cib, id)?;
    let agent = parse_agent(agent)?;
    let args = parse_resource_args(rest)?;
    let mut primitive = Element::new("primitive")
        .with_attr("id", id.clone())
        .with_attr("class", agent.class.clone());
    if let Some(provider) = &agent.provider {
        primitive.set_attr("provider", provider.clone());
    }
    primitive.set_attr("type", agent.kind.clone());
    for (k, v) in &args.params {
        set_nv(
            &mut primitive,
            "instance_attributes",
            k,
            Some(v).filter(|v| !v.is_empty()).map(|v| v.as_str()),
        );
    }
    for (k, v) in &args.meta {
        set_nv(
            &mut primitive,
            "meta_attributes",
            k,
            Some(v).filter(|v| !v.is_empty()).map(|v| v.as_str()),
        );
    }
    if args.disabled {
        set_nv(
            &mut primitive,
            "meta_attributes",
            "target-role",
            Some("Stopped"),
        );
    }
    let mut ops = args.ops.clone();
    let mut notes = Vec::new();
    if !ops.iter().any(|o| o.name == "monitor") {
        let interval = if agent.class == "stonith" {
            "60s"
        } else {
            "10s"
        };
        ops.push(OpArgs {
            name: "monitor".into(),
            options: vec![
                ("interval".into(), interval.into()),
                ("timeout".into(), "20s".into()),
            ],
        });
        notes.push(format!(" with a default monitor every {interval}"));
    }
    set_ops(&mut primitive, &ops, false)?;
    let agent_text = match &agent.provider {
        Some(p) => format!("{}:{}:{}", agent.class, p, agent.kind),
        None => format!("{}:{}", agent.class, agent.kind),
    };
    let mut edit = Edit::new();
    let what = format!("created resource {id} ({agent_text}){}", notes.concat());
    match (&args.group, &args.clone) {
        (Some(group_id), _) => {
            let mut group = match find(cib, group_id) {
                Some(g) if g.name == "group" => g.clone(),
                Some(other) => refuse!("{group_id:?} is a <{}>, not a group", other.name),
                None => {
                    check_new_id(cib, group_id)?;
                    Element::new("group").with_attr("id", group_id.clone())
                }
            };
            group.children.push(primitive);
            edit.push(
                CibChange::Upsert {
                    section: "resources".into(),
                    element: group,
                },
                format!("{what} in group {group_id}"),
            );
        }
        (None, Some((promotable, meta))) => {
            let clone = make_clone(cib, primitive, *promotable, meta)?;
            let clone_id = clone.id().unwrap_or_default().to_string();
            edit.push(
                CibChange::Upsert {
                    section: "resources".into(),
                    element: clone,
                },
                format!(
                    "{what} as {} {clone_id}",
                    if *promotable {
                        "promotable clone"
                    } else {
                        "clone"
                    }
                ),
            );
        }
        (None, None) => edit.push(
            CibChange::Upsert {
                section: "resources".into(),
                element: primitive,
            },
            what,
        ),
    }
    Ok(edit)
}

fn make_clone(
    cib: &Element,
    child: Element,
    promotable: bool,
    meta: &[(String, String)],
) -> Result<Element> {
    let child_id = child.id().unwrap_or_default().to_string();
    let clone_id = format!("{child_id}-clone");
    check_new_id(cib, &clone_id)?;
    let mut clone = Element::new("clone").with_attr("id", clone_id);
    if promotable {
        set_nv(&mut clone, "meta_attributes", "promotable", Some("true"));
    }
    for (k, v) in meta {
        set_nv(
            &mut clone,
            "meta_attributes",
            k,
            Some(v.as_str()).filter(|v| !v.is_empty()),
        );
    }
    clone.children.push(child);
    Ok(clone)
}

/// `resource update ID [k=v...] [meta k=v...] [op NAME k=v...]`; `k=` removes.
pub fn resource_update(cib: &Element, args: &[String]) -> Result<Edit> {
    let [id, rest @ ..] = args else {
        refuse!("usage: resource update ID [name=value...] [meta name=value...] [op NAME name=value...]");
    };
    let mut element = need_resource(cib, id)?.clone();
    let args = parse_resource_args(rest)?;
    if args.clone.is_some() || args.group.is_some() {
        refuse!(
            "update changes attributes; use `resource clone/promotable/group add` to restructure"
        );
    }
    if (!args.params.is_empty() || !args.ops.is_empty()) && element.name != "primitive" {
        refuse!("{id} is a <{}>: only primitives have instance attributes and operations (meta attributes are fine)", element.name);
    }
    let mut said = Vec::new();
    for (k, v) in &args.params {
        set_nv(
            &mut element,
            "instance_attributes",
            k,
            Some(v.as_str()).filter(|v| !v.is_empty()),
        );
        said.push(if v.is_empty() {
            format!("removed {k}")
        } else {
            format!("{k}={v}")
        });
    }
    for (k, v) in &args.meta {
        set_nv(
            &mut element,
            "meta_attributes",
            k,
            Some(v.as_str()).filter(|v| !v.is_empty()),
        );
        said.push(if v.is_empty() {
            format!("removed meta {k}")
        } else {
            format!("meta {k}={v}")
        });
    }
    if !args.ops.is_empty() {
        set_ops(&mut element, &args.ops, true)?;
        for op in &args.ops {
            said.push(format!("op {}", op.name));
        }
    }
    if said.is_empty() {
        refuse!("nothing to update: give name=value, meta name=value or op NAME ...");
    }
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "resources".into(),
            element,
        },
        format!("updated resource {}: {}", id, said.join(", ")),
    );
    Ok(edit)
}

/// Every constraint that mentions `id` (directly or in a resource set).
fn constraints_referring_to(cib: &Element, ids: &[String]) -> Vec<String> {
    let Some(constraints) = configuration(cib).and_then(|c| c.child("constraints")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for constraint in &constraints.children {
        let mut hit = false;
        constraint.walk(&mut |e| {
            for key in ["rsc", "with-rsc", "first", "then"] {
                if e.attr(key).is_some_and(|v| ids.iter().any(|i| i == v)) {
                    hit = true;
                }
            }
            if e.name == "resource_ref" && e.id().is_some_and(|v| ids.iter().any(|i| i == v)) {
                hit = true;
            }
        });
        if hit {
            if let Some(cid) = constraint.id() {
                out.push(cid.to_string());
            }
        }
    }
    out
}

/// The resource ids in the subtree of `element`, itself included.
fn resource_ids(element: &Element) -> Vec<String> {
    let mut ids = Vec::new();
    element.walk(&mut |e| {
        if RESOURCE_TAGS.contains(&e.name.as_str()) {
            if let Some(id) = e.id() {
                ids.push(id.to_string());
            }
        }
    });
    ids
}

/// The element that contains resource `id` directly (group/clone), if any.
fn container_of<'a>(cib: &'a Element, id: &str) -> Option<&'a Element> {
    let resources = configuration(cib)?.child("resources")?;
    let mut found = None;
    resources.walk(&mut |e| {
        if matches!(e.name.as_str(), "group" | "clone" | "master" | "bundle")
            && e.children
                .iter()
                .any(|c| c.id() == Some(id) && RESOURCE_TAGS.contains(&c.name.as_str()))
        {
            found = Some(e);
        }
    });
    found
}

/// `resource delete ID`: the resource, the constraints that name it, and a
/// group or clone left empty.
pub fn resource_delete(cib: &Element, id: &str) -> Result<Edit> {
    let element = need_resource(cib, id)?;
    let mut target = element.clone();
    // Deleting the only member of a group, or the child of a clone, removes the wrapper.
    let mut current_id = id.to_string();
    while let Some(container) = container_of(cib, &current_id) {
        let members = container
            .children
            .iter()
            .filter(|c| RESOURCE_TAGS.contains(&c.name.as_str()))
            .count();
        if members > 1 {
            break;
        }
        target = container.clone();
        current_id = container.id().unwrap_or_default().to_string();
    }
    let ids = resource_ids(&target);
    let mut edit = Edit::new();
    for constraint in constraints_referring_to(cib, &ids) {
        edit.push(
            CibChange::Delete {
                id: constraint.clone(),
            },
            format!("removed constraint {constraint} (it referred to {id})"),
        );
    }
    let target_id = target.id().unwrap_or_default().to_string();
    let what = if target_id == id {
        format!("deleted resource {id}")
    } else {
        format!(
            "deleted resource {id} and its now empty {} {target_id}",
            target.name
        )
    };
    edit.push(CibChange::Delete { id: target_id }, what);
    Ok(edit)
}

/// Sets or removes one meta attribute of a resource.
fn resource_meta(
    cib: &Element,
    id: &str,
    name: &str,
    value: Option<&str>,
    what: String,
) -> Result<Edit> {
    let mut element = need_resource(cib, id)?.clone();
    set_nv(&mut element, "meta_attributes", name, value);
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "resources".into(),
            element,
        },
        what,
    );
    Ok(edit)
}

pub fn resource_enable(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "target-role",
        None,
        format!("enabled {id} (removed meta target-role=Stopped)"),
    )
}

pub fn resource_disable(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "target-role",
        Some("Stopped"),
        format!("disabled {id} (meta target-role=Stopped)"),
    )
}

pub fn resource_manage(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "is-managed",
        None,
        format!("{id} is managed again (removed meta is-managed=false)"),
    )
}

pub fn resource_unmanage(cib: &Element, id: &str) -> Result<Edit> {
    resource_meta(
        cib,
        id,
        "is-managed",
        Some("false"),
        format!("{id} is unmanaged (meta is-managed=false): the cluster leaves it alone"),
    )
}

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
        if e.attr("class") == Some("ocf")
            && e.attr("provider") == Some("pacemaker")
            && e.attr("type") == Some("remote")
        {
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
    let resource = need_resource(cib, id)?;
    let rsc = resource.id().unwrap_or(id).to_string();
    known_node(cib, node)?;
    let until = until(lifetime, now_epoch_s)?;
    let cid = format!("cli-prefer-{rsc}");
    let mut edit = Edit::new();
    let note = match &until {
        Some(end) => format!("; it expires at {end}"),
        None => format!("; it stays until `systole resource clear {rsc}`"),
    };
    edit.push(
        CibChange::Upsert {
            section: "constraints".into(),
            element: cli_location(&cid, &rsc, node, "INFINITY", until.as_deref()),
        },
        format!(
            "moving {rsc} to {node}: added location constraint {cid} (INFINITY on {node}){note}"
        ),
    );
    Ok(edit)
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
    let resource = need_resource(cib, id)?;
    let rsc = resource.id().unwrap_or(id).to_string();
    known_node(cib, node)?;
    let until = until(lifetime, now_epoch_s)?;
    let cid = format!("cli-ban-{rsc}-on-{node}");
    let note = match &until {
        Some(end) => format!("; it expires at {end}"),
        None => format!("; it stays until `systole resource clear {rsc}`"),
    };
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "constraints".into(),
            element: cli_location(&cid, &rsc, node, "-INFINITY", until.as_deref()),
        },
        format!("banned {rsc} from {node}: added location constraint {cid} (-INFINITY){note}"),
    );
    Ok(edit)
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

/// `resource group add G RSC...`: moves primitives into a group (made if new).
pub fn group_add(cib: &Element, group_id: &str, members: &[String]) -> Result<Edit> {
    if members.is_empty() {
        refuse!("usage: resource group add GROUP RSC...");
    }
    let mut group = match find(cib, group_id) {
        Some(g) if g.name == "group" => g.clone(),
        Some(other) => refuse!("{group_id:?} is a <{}>, not a group", other.name),
        None => {
            check_new_id(cib, group_id)?;
            Element::new("group").with_attr("id", group_id)
        }
    };
    let mut edit = Edit::new();
    for member in members {
        let element = need_resource(cib, member)?;
        if element.name != "primitive" {
            refuse!(
                "{member} is a <{}>: groups hold primitives only",
                element.name
            );
        }
        if group.children.iter().any(|c| c.id() == Some(member)) {
            refuse!("{member} is already in group {group_id}");
        }
        if let Some(container) = container_of(cib, member) {
            if container.name == "clone" {
                refuse!(
                    "{member} is inside clone {}; a cloned primitive cannot join a group",
                    container.id().unwrap_or("?")
                );
            }
        }
        edit.push(
            CibChange::Delete { id: member.clone() },
            format!("added {member} to group {group_id}"),
        );
        group.children.push(element.clone());
    }
    // A group the members all left goes, with the constraints naming it.
    let mut emptied: Vec<String> = Vec::new();
    for member in members {
        let Some(source) = container_of(cib, member).filter(|c| c.name == "group") else {
            continue;
        };
        let source_id = source.id().unwrap_or_default().to_string();
        let all_moved = source
            .children
            .iter()
            .filter(|c| c.name == "primitive")
            .all(|c| c.id().is_some_and(|id| members.iter().any(|m| m == id)));
        if all_moved && source_id != group_id && !emptied.contains(&source_id) {
            for constraint in constraints_referring_to(cib, std::slice::from_ref(&source_id)) {
                edit.push(
                    CibChange::Delete { id: constraint.clone() },
                    format!("removed constraint {constraint} (it referred to the emptied group {source_id})"),
                );
            }
            edit.push(
                CibChange::Delete {
                    id: source_id.clone(),
                },
                format!("deleted the now empty group {source_id}"),
            );
            emptied.push(source_id);
        }
    }
    let created = find(cib, group_id).is_none();
    edit.changes.push(CibChange::Upsert {
        section: "resources".into(),
        element: group,
    });
    if created {
        edit.summary.insert(0, format!("created group {group_id}"));
    }
    Ok(edit)
}

/// `resource group remove G RSC...`: members back to the top level; an
/// emptied group goes.
pub fn group_remove(cib: &Element, group_id: &str, members: &[String]) -> Result<Edit> {
    let group = match find(cib, group_id) {
        Some(g) if g.name == "group" => g.clone(),
        _ => refuse!("no group with id {group_id:?}"),
    };
    let mut remaining = group.clone();
    let mut taken = Vec::new();
    for member in members {
        match remaining
            .children
            .iter()
            .position(|c| c.id() == Some(member))
        {
            Some(i) => taken.push(remaining.children.remove(i)),
            None => refuse!("{member} is not in group {group_id}"),
        }
    }
    let mut edit = Edit::new();
    let left = remaining
        .children
        .iter()
        .filter(|c| c.name == "primitive")
        .count();
    if left == 0 {
        edit.push(
            CibChange::Delete {
                id: group_id.into(),
            },
            format!("deleted the now empty group {group_id}"),
        );
    } else {
        edit.changes.push(CibChange::Upsert {
            section: "resources".into(),
            element: remaining,
        });
    }
    for element in taken {
        let id = element.id().unwrap_or_default().to_string();
        edit.push(
            CibChange::Upsert {
                section: "resources".into(),
                element,
            },
            format!("removed {id} from group {group_id}"),
        );
    }
    Ok(edit)
}

/// `resource clone ID [k=v...]` / `resource promotable ID [k=v...]`.
pub fn resource_clone(cib: &Element, id: &str, promotable: bool, meta: &[String]) -> Result<Edit> {
    let element = need_resource(cib, id)?;
    if element.name != "primitive" && element.name != "group" {
        refuse!(
            "{id} is a <{}>; only primitives and groups can be cloned",
            element.name
        );
    }
    if let Some(container) = container_of(cib, id) {
        refuse!(
            "{id} is inside {} {}; clone that instead",
            container.name,
            container.id().unwrap_or("?")
        );
    }
    let meta = meta
        .iter()
        .map(|t| split_pair(t))
        .collect::<Result<Vec<_>>>()?;
    let clone = make_clone(cib, element.clone(), promotable, &meta)?;
    let clone_id = clone.id().unwrap_or_default().to_string();
    let mut edit = Edit::new();
    edit.changes.push(CibChange::Delete { id: id.into() });
    edit.push(
        CibChange::Upsert {
            section: "resources".into(),
            element: clone,
        },
        format!(
            "made {} {clone_id} of {id}",
            if promotable {
                "promotable clone"
            } else {
                "clone"
            }
        ),
    );
    Ok(edit)
}

fn indent_of(depth: usize) -> String {
    "  ".repeat(depth)
}

/// Where each primitive runs, from the status section: id -> "Started node1".
fn placements(cib: &Element) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in crate::scheduler::status::resource_status(cib).unwrap_or_default() {
        let base = r.id.split(':').next().unwrap_or(&r.id).to_string();
        let entry = map.entry(base).or_default();
        for node in &r.nodes {
            entry.push(format!("{:?} {node}", r.role));
        }
    }
    map
}

fn describe_resource(
    e: &Element,
    depth: usize,
    out: &mut String,
    placed: &std::collections::BTreeMap<String, Vec<String>>,
) {
    let meta = |name| get_nv(e, "meta_attributes", name);
    let mut flags = Vec::new();
    if meta("target-role").is_some_and(|v| v.eq_ignore_ascii_case("Stopped")) {
        flags.push("disabled");
    }
    if meta("is-managed").is_some_and(|v| v == "false") {
        flags.push("unmanaged");
    }
    if e.name == "master" || e.name == "clone" && meta("promotable").is_some_and(|v| v == "true") {
        flags.push("promotable");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", flags.join(", "))
    };
    let id = e.id().unwrap_or("?");
    match e.name.as_str() {
        "primitive" => {
            let agent = match e.attr("provider") {
                Some(p) => format!(
                    "{}:{}:{}",
                    e.attr("class").unwrap_or("?"),
                    p,
                    e.attr("type").unwrap_or("?")
                ),
                None => format!(
                    "{}:{}",
                    e.attr("class").unwrap_or("?"),
                    e.attr("type").unwrap_or("?")
                ),
            };
            let running = match placed.get(id) {
                Some(on) if !on.is_empty() => format!(": {}", on.join(", ")),
                Some(_) => ": Stopped".to_string(),
                None => String::new(),
            };
            out.push_str(&format!(
                "{}* {id}\t({agent}){flags}{running}\n",
                indent_of(depth)
            ));
        }
        tag => {
            out.push_str(&format!("{}* {tag} {id}{flags}:\n", indent_of(depth)));
            for child in e
                .children
                .iter()
                .filter(|c| RESOURCE_TAGS.contains(&c.name.as_str()))
            {
                describe_resource(child, depth + 1, out, placed);
            }
        }
    }
}

/// `resource list`: the configured resources as a tree, each primitive
/// with where it runs when the CIB has status.
pub fn resource_list(cib: &Element) -> String {
    let mut out = String::new();
    let placed = placements(cib);
    if let Some(resources) = configuration(cib).and_then(|c| c.child("resources")) {
        for e in resources
            .children
            .iter()
            .filter(|c| RESOURCE_TAGS.contains(&c.name.as_str()))
        {
            describe_resource(e, 0, &mut out, &placed);
        }
    }
    if out.is_empty() {
        out.push_str("no resources configured\n");
    }
    out
}

/// `resource show ID`: the resource's XML.
pub fn resource_show(cib: &Element, id: &str) -> Result<String> {
    Ok(need_resource(cib, id)?.to_xml_pretty())
}

// ---------------------------------------------------------------- constraints

fn constraint_upsert(cib: &Element, element: Element, what: String) -> Result<Edit> {
    let id = element.id().unwrap_or_default().to_string();
    check_new_id(cib, &id)?;
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "constraints".into(),
            element,
        },
        what,
    );
    Ok(edit)
}

fn take_id_option(args: &mut Vec<String>) -> Option<String> {
    let index = args.iter().position(|a| a.starts_with("id="))?;
    Some(args.remove(index)["id=".len()..].to_string())
}

/// `constraint location RSC prefers|avoids NODE[=SCORE]...`, or
/// `constraint location add ID RSC NODE SCORE`.
pub fn constraint_location(cib: &Element, args: &[String]) -> Result<Edit> {
    let usage = "usage: constraint location RSC prefers|avoids NODE[=SCORE]... | constraint location add ID RSC NODE SCORE | constraint location RSC rule [id=ID] [role=ROLE] [score=SCORE|score-attribute=ATTR] EXPRESSION";
    match args {
        [add, id, rsc, node, score] if add == "add" => {
            need_resource(cib, rsc)?;
            known_node(cib, node)?;
            check_score(score)?;
            let element = Element::new("rsc_location")
                .with_attr("id", id.clone())
                .with_attr("rsc", rsc.clone())
                .with_attr("node", node.clone())
                .with_attr("score", score.clone());
            constraint_upsert(
                cib,
                element,
                format!("added location constraint {id}: {rsc} on {node} scores {score}"),
            )
        }
        [rsc, rule, rest @ ..] if rule == "rule" => location_rule(cib, rsc, rest),
        [rsc, verb, nodes @ ..] if (verb == "prefers" || verb == "avoids") && !nodes.is_empty() => {
            need_resource(cib, rsc)?;
            let mut edit = Edit::new();
            for spec in nodes {
                let (node, score) = spec.split_once('=').unwrap_or((spec, "INFINITY"));
                known_node(cib, node)?;
                check_score(score)?;
                // `avoids N=S` is a preference of -S.
                let score = if verb == "avoids" {
                    format!("-{}", score.trim_start_matches(['+', '-']))
                } else {
                    score.to_string()
                };
                let id = format!("location-{rsc}-{node}-{}", id_part(&score));
                let element = Element::new("rsc_location")
                    .with_attr("id", id.clone())
                    .with_attr("rsc", rsc.clone())
                    .with_attr("node", node)
                    .with_attr("score", score.clone());
                let one = constraint_upsert(
                    cib,
                    element,
                    format!("added location constraint {id}: {rsc} {verb} {node} ({score})"),
                )?;
                edit.changes.extend(one.changes);
                edit.summary.extend(one.summary);
            }
            Ok(edit)
        }
        _ => refuse!("{usage}"),
    }
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

/// `constraint location RSC rule [id=ID] [role=ROLE] [score=S|score-attribute=A] EXPR`
/// where EXPR is terms joined by all `and` or all `or`; a term is
/// `defined ATTR`, `not_defined ATTR`, `ATTR lt|gt|lte|gte|eq|ne [string|integer|number|version] VALUE`,
/// `date gt|lt DATE` or `date in_range DATE to DATE` (pcs's rule syntax without parentheses).
fn location_rule(cib: &Element, rsc: &str, args: &[String]) -> Result<Edit> {
    need_resource(cib, rsc)?;
    let mut args: Vec<String> = args.to_vec();
    let mut id = None;
    let mut role = None;
    let mut score = None;
    let mut score_attribute = None;
    while let Some((key, value)) = args
        .first()
        .and_then(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
    {
        match key.as_str() {
            "id" => id = Some(value),
            "role" => role = Some(value),
            "score" => {
                check_score(&value)?;
                score = Some(value)
            }
            "score-attribute" => score_attribute = Some(value),
            _ => break,
        }
        args.remove(0);
    }
    if args.is_empty() {
        refuse!("rule: an expression is needed, e.g. `#uname eq node1` or `defined pingd`");
    }
    let cid = match id {
        Some(id) => {
            check_new_id(cib, &id)?;
            id
        }
        None => fresh_id(cib, &format!("location-{rsc}")),
    };
    let rule_id = format!("{cid}-rule");
    let mut terms: Vec<Vec<String>> = vec![Vec::new()];
    let mut joiner: Option<String> = None;
    for arg in &args {
        if arg == "and" || arg == "or" {
            if joiner.as_deref().is_some_and(|j| j != arg) {
                refuse!("rule: mixing `and` and `or` needs parentheses, which are not supported; use separate rules");
            }
            joiner = Some(arg.clone());
            terms.push(Vec::new());
        } else {
            terms.last_mut().expect("one term").push(arg.clone());
        }
    }
    let mut rule = Element::new("rule").with_attr("id", rule_id.clone());
    if let Some(role) = &role {
        rule.set_attr("role", role.clone());
    }
    match (&score, &score_attribute) {
        (Some(_), Some(_)) => refuse!("rule: score and score-attribute exclude each other"),
        (_, Some(attribute)) => rule.set_attr("score-attribute", attribute.clone()),
        (Some(score), None) => rule.set_attr("score", score.clone()),
        (None, None) => rule.set_attr("score", "INFINITY"),
    }
    rule.set_attr("boolean-op", joiner.clone().unwrap_or_else(|| "and".into()));
    let operations = ["lt", "gt", "lte", "gte", "eq", "ne"];
    let types = ["string", "integer", "number", "version"];
    for (n, term) in terms.iter().enumerate() {
        let expr_id = if n == 0 {
            format!("{rule_id}-expr")
        } else {
            format!("{rule_id}-expr-{n}")
        };
        let words: Vec<&str> = term.iter().map(String::as_str).collect();
        if let ["date", rest @ ..] = words.as_slice() {
            // The scheduler's own date reader: what it cannot read is refused.
            for date in rest
                .iter()
                .filter(|w| !matches!(**w, "gt" | "lt" | "in_range" | "to"))
            {
                crate::model::cib::time::read_datetime(date)
                    .map_err(|e| AdminError(format!("rule: {e}")))?;
            }
        }
        let expression = match words.as_slice() {
            [op @ ("defined" | "not_defined"), attribute] => Element::new("expression")
                .with_attr("id", expr_id)
                .with_attr("attribute", *attribute)
                .with_attr("operation", *op),
            ["date", op @ ("gt" | "lt"), date] => {
                let key = if *op == "gt" { "start" } else { "end" };
                Element::new("date_expression")
                    .with_attr("id", expr_id)
                    .with_attr("operation", *op)
                    .with_attr(key, *date)
            }
            ["date", "in_range", start, "to", end] => Element::new("date_expression")
                .with_attr("id", expr_id)
                .with_attr("operation", "in_range")
                .with_attr("start", *start)
                .with_attr("end", *end),
            [attribute, op, value] if operations.contains(op) => Element::new("expression")
                .with_attr("id", expr_id)
                .with_attr("attribute", *attribute)
                .with_attr("operation", *op)
                .with_attr("value", *value),
            [attribute, op, kind, value] if operations.contains(op) && types.contains(kind) => {
                Element::new("expression")
                    .with_attr("id", expr_id)
                    .with_attr("attribute", *attribute)
                    .with_attr("operation", *op)
                    .with_attr("type", *kind)
                    .with_attr("value", *value)
            }
            _ => refuse!("rule: cannot read the expression {:?}; use `ATTR eq|ne|lt|gt|lte|gte [TYPE] VALUE`, `defined ATTR`, `not_defined ATTR`, `date gt|lt DATE`, `date in_range DATE to DATE`", term.join(" ")),
        };
        rule.children.push(expression);
    }
    let element = Element::new("rsc_location")
        .with_attr("id", cid.clone())
        .with_attr("rsc", rsc)
        .with_child(rule);
    constraint_upsert(
        cib,
        element,
        format!(
            "added location constraint {cid}: {rsc} scores {} where {}",
            score_attribute
                .map(|a| format!("the value of {a}"))
                .or(score)
                .unwrap_or_else(|| "INFINITY".into()),
            args.join(" ")
        ),
    )
}

/// `constraint colocation add [ROLE] RSC with [ROLE] WITH_RSC [SCORE] [id=ID]`.
pub fn constraint_colocation(cib: &Element, args: &[String]) -> Result<Edit> {
    let mut args: Vec<String> = args.to_vec();
    if args.first().is_some_and(|a| a == "add") {
        args.remove(0);
    }
    let explicit_id = take_id_option(&mut args);
    let roles = [
        "Started",
        "Promoted",
        "Unpromoted",
        "Master",
        "Slave",
        "Stopped",
    ];
    let mut i = 0;
    let role = |i: &mut usize, args: &[String]| -> Option<String> {
        let r = args
            .get(*i)
            .filter(|a| roles.iter().any(|r| r.eq_ignore_ascii_case(a)))
            .cloned();
        if r.is_some() {
            *i += 1;
        }
        r
    };
    let rsc_role = role(&mut i, &args);
    let Some(rsc) = args.get(i).cloned() else {
        refuse!("usage: constraint colocation add [ROLE] RSC with [ROLE] WITH_RSC [SCORE]")
    };
    i += 1;
    if args.get(i).map(String::as_str) != Some("with") {
        refuse!("usage: constraint colocation add [ROLE] RSC with [ROLE] WITH_RSC [SCORE]");
    }
    i += 1;
    let with_role = role(&mut i, &args);
    let Some(with) = args.get(i).cloned() else {
        refuse!("colocation: which resource comes after `with`?")
    };
    i += 1;
    let score = args.get(i).cloned().unwrap_or_else(|| "INFINITY".into());
    if args.len() > i + 1 {
        refuse!("colocation: unexpected {:?}", &args[i + 1..]);
    }
    check_score(&score)?;
    need_resource(cib, &rsc)?;
    need_resource(cib, &with)?;
    let id = explicit_id.unwrap_or_else(|| format!("colocation-{rsc}-{with}-{}", id_part(&score)));
    let mut element = Element::new("rsc_colocation")
        .with_attr("id", id.clone())
        .with_attr("rsc", rsc.clone())
        .with_attr("with-rsc", with.clone())
        .with_attr("score", score.clone());
    if let Some(r) = &rsc_role {
        element.set_attr("rsc-role", r.clone());
    }
    if let Some(r) = &with_role {
        element.set_attr("with-rsc-role", r.clone());
    }
    constraint_upsert(
        cib,
        element,
        format!("added colocation constraint {id}: {rsc} with {with} ({score})"),
    )
}

/// `constraint order add [ACTION] FIRST then [ACTION] THEN [kind=K] [symmetrical=B] [id=ID]`.
pub fn constraint_order(cib: &Element, args: &[String]) -> Result<Edit> {
    let mut args: Vec<String> = args.to_vec();
    if args.first().is_some_and(|a| a == "add") {
        args.remove(0);
    }
    let explicit_id = take_id_option(&mut args);
    let mut options = Vec::new();
    args.retain(|a| match a.split_once('=') {
        Some((k, v)) => {
            options.push((k.to_string(), v.to_string()));
            false
        }
        None => true,
    });
    let actions = ["start", "stop", "promote", "demote"];
    let usage = "usage: constraint order add [ACTION] FIRST then [ACTION] THEN [kind=Mandatory|Optional|Serialize] [symmetrical=true|false]";
    let Some(then_at) = args.iter().position(|a| a == "then") else {
        refuse!("{usage}")
    };
    let side = |part: &[String]| -> Result<(Option<String>, String)> {
        match part {
            [rsc] => Ok((None, rsc.clone())),
            [action, rsc] if actions.contains(&action.as_str()) => {
                Ok((Some(action.clone()), rsc.clone()))
            }
            _ => refuse!("{usage}"),
        }
    };
    let (first_action, first) = side(&args[..then_at])?;
    let (then_action, then) = side(&args[then_at + 1..])?;
    need_resource(cib, &first)?;
    need_resource(cib, &then)?;
    let mut element = Element::new("rsc_order")
        .with_attr("id", "")
        .with_attr("first", first.clone())
        .with_attr("then", then.clone());
    if let Some(a) = &first_action {
        element.set_attr("first-action", a.clone());
    }
    if let Some(a) = &then_action {
        element.set_attr("then-action", a.clone());
    }
    let mut kind = "mandatory".to_string();
    for (k, v) in &options {
        match k.as_str() {
            "kind" => {
                if !["Mandatory", "Optional", "Serialize"]
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(v))
                {
                    refuse!("order kind {v:?}: one of Mandatory, Optional, Serialize");
                }
                kind = v.to_ascii_lowercase();
                let mut proper = v.to_ascii_lowercase();
                proper[..1].make_ascii_uppercase();
                element.set_attr("kind", proper);
            }
            "symmetrical" => {
                if v != "true" && v != "false" {
                    refuse!("symmetrical={v:?}: true or false");
                }
                element.set_attr("symmetrical", v.clone());
            }
            "score" => {
                check_score(v)?;
                element.set_attr("score", v.clone());
            }
            _ => refuse!("order: unknown option {k}"),
        }
    }
    let id = explicit_id.unwrap_or_else(|| format!("order-{first}-{then}-{kind}"));
    element.set_attr("id", id.clone());
    let describe = |a: &Option<String>, r: &str| match a {
        Some(a) => format!("{a} {r}"),
        None => format!("start {r}"),
    };
    constraint_upsert(
        cib,
        element,
        format!(
            "added order constraint {id}: {} then {} ({kind})",
            describe(&first_action, &first),
            describe(&then_action, &then)
        ),
    )
}

/// `constraint remove ID...`
pub fn constraint_remove(cib: &Element, ids: &[String]) -> Result<Edit> {
    if ids.is_empty() {
        refuse!("usage: constraint remove ID...");
    }
    let constraints = configuration(cib).and_then(|c| c.child("constraints"));
    let mut edit = Edit::new();
    for id in ids {
        let found = constraints.and_then(|c| c.children.iter().find(|e| e.id() == Some(id)));
        match found {
            Some(e) => edit.push(
                CibChange::Delete { id: id.clone() },
                format!("removed {} {id}", e.name.replace('_', " ")),
            ),
            None => refuse!("no constraint with id {id:?} (see `systole constraint list`)"),
        }
    }
    Ok(edit)
}

fn describe_constraint(c: &Element) -> String {
    let a = |k: &str| c.attr(k).unwrap_or("");
    let id = a("id");
    match c.name.as_str() {
        "rsc_location" => {
            if c.attr("node").is_some() {
                format!(
                    "location  {id}: {} on {} ({})",
                    a("rsc"),
                    a("node"),
                    a("score")
                )
            } else {
                let rules: Vec<String> = c
                    .children_named("rule")
                    .map(|r| {
                        let mut parts = Vec::new();
                        r.walk(&mut |e| match e.name.as_str() {
                            "expression" => parts.push(format!(
                                "{} {} {}",
                                e.attr("attribute").unwrap_or(""),
                                e.attr("operation").unwrap_or(""),
                                e.attr("value").unwrap_or("")
                            )),
                            "date_expression" => parts.push(format!(
                                "date {} {}",
                                e.attr("operation").unwrap_or(""),
                                e.attr("end").or(e.attr("start")).unwrap_or("")
                            )),
                            _ => {}
                        });
                        format!(
                            "score {} if {}",
                            r.attr("score").unwrap_or("?"),
                            parts.join(&format!(" {} ", r.attr("boolean-op").unwrap_or("and")))
                        )
                    })
                    .collect();
                format!("location  {id}: {} {}", a("rsc"), rules.join("; "))
            }
        }
        "rsc_colocation" => format!(
            "colocation {id}: {} with {} ({})",
            a("rsc"),
            a("with-rsc"),
            a("score")
        ),
        "rsc_order" => format!(
            "order     {id}: {} {} then {} {} ({})",
            c.attr("first-action").unwrap_or("start"),
            a("first"),
            c.attr("then-action").unwrap_or("start"),
            a("then"),
            c.attr("kind").unwrap_or("Mandatory")
        ),
        other => format!("{other} {id}"),
    }
}

/// `constraint list` (all kinds, or one kind: location, colocation, order).
pub fn constraint_list(cib: &Element, kind: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(constraints) = configuration(cib).and_then(|c| c.child("constraints")) {
        for c in &constraints.children {
            if kind.is_none_or(|k| c.name == format!("rsc_{k}")) {
                out.push_str(&describe_constraint(c));
                out.push('\n');
            }
        }
    }
    if out.is_empty() {
        out.push_str("no constraints\n");
    }
    out
}

// ---------------------------------------------------------------- properties

/// Cluster options Pacemaker knows (old and new names).
pub const KNOWN_PROPERTIES: &[&str] = &[
    "batch-limit",
    "cluster-delay",
    "cluster-infrastructure",
    "cluster-ipc-limit",
    "cluster-name",
    "cluster-recheck-interval",
    "concurrent-fencing",
    "dc-deadtime",
    "dc-version",
    "election-timeout",
    "enable-acl",
    "enable-startup-probes",
    "fence-reaction",
    "fencing-action",
    "fencing-enabled",
    "fencing-timeout",
    "have-watchdog",
    "join-finalization-timeout",
    "join-integration-timeout",
    "load-threshold",
    "maintenance-mode",
    "migration-limit",
    "no-quorum-policy",
    "node-action-limit",
    "node-health-base",
    "node-health-green",
    "node-health-red",
    "node-health-strategy",
    "node-health-yellow",
    "node-pending-timeout",
    "pe-error-series-max",
    "pe-input-series-max",
    "pe-warn-series-max",
    "placement-strategy",
    "priority-fencing-delay",
    "shutdown-escalation",
    "shutdown-lock",
    "shutdown-lock-limit",
    "start-failure-is-fatal",
    "startup-fencing",
    "stonith-action",
    "stonith-enabled",
    "stonith-max-attempts",
    "stonith-timeout",
    "stonith-watchdog-timeout",
    "stop-all-resources",
    "stop-orphan-actions",
    "stop-orphan-resources",
    "symmetric-cluster",
    "transition-delay",
];

const BOOLEAN_PROPERTIES: &[&str] = &[
    "concurrent-fencing",
    "enable-acl",
    "enable-startup-probes",
    "fencing-enabled",
    "maintenance-mode",
    "start-failure-is-fatal",
    "startup-fencing",
    "stonith-enabled",
    "stop-all-resources",
    "stop-orphan-actions",
    "stop-orphan-resources",
    "symmetric-cluster",
    "shutdown-lock",
];

fn check_property(name: &str, value: &str, force: bool) -> Result<()> {
    if !KNOWN_PROPERTIES.contains(&name) && !force {
        refuse!("unknown cluster property {name:?} (use --force to set it anyway)");
    }
    if BOOLEAN_PROPERTIES.contains(&name)
        && !["true", "false", "yes", "no", "on", "off", "1", "0"]
            .contains(&value.to_ascii_lowercase().as_str())
    {
        refuse!("{name} takes true or false, not {value:?}");
    }
    if name == "no-quorum-policy"
        && !["stop", "freeze", "ignore", "demote", "suicide", "fence"].contains(&value)
    {
        refuse!(
            "no-quorum-policy takes stop, freeze, ignore, demote, suicide or fence, not {value:?}"
        );
    }
    if name.ends_with("-timeout") || name.ends_with("-interval") || name.ends_with("-delay") {
        parse_duration_ms(value)?;
    }
    Ok(())
}

/// `property set NAME=VALUE...` (an empty value unsets).
pub fn property_set(cib: &Element, assignments: &[String], force: bool) -> Result<Edit> {
    if assignments.is_empty() {
        refuse!("usage: property set NAME=VALUE...");
    }
    let mut edit = Edit::new();
    for assignment in assignments {
        let (name, value) = split_pair(assignment)?;
        if value.is_empty() {
            let one = property_unset(cib, &[name])?;
            edit.changes.extend(one.changes);
            edit.summary.extend(one.summary);
            continue;
        }
        check_property(&name, &value, force)?;
        let before = property_get(cib, &name);
        let what = match before {
            Some(old) => format!("property {name}: {old} -> {value}"),
            None => format!("property {name} set to {value}"),
        };
        edit.push(
            CibChange::SetProperty {
                name,
                value: Some(value),
            },
            what,
        );
    }
    Ok(edit)
}

pub fn property_unset(cib: &Element, names: &[String]) -> Result<Edit> {
    let mut edit = Edit::new();
    for name in names {
        if property_get(cib, name).is_none() {
            refuse!("property {name:?} is not set");
        }
        edit.push(
            CibChange::SetProperty {
                name: name.clone(),
                value: None,
            },
            format!("property {name} unset (back to its default)"),
        );
    }
    Ok(edit)
}

pub fn property_get(cib: &Element, name: &str) -> Option<String> {
    let crm_config = configuration(cib)?.child("crm_config")?;
    let mut found = None;
    crm_config.walk(&mut |e| {
        if e.name == "nvpair" && e.attr("name") == Some(name) {
            found = e.attr("value").map(String::from);
        }
    });
    found
}

/// `property list`: name=value lines.
pub fn property_list(cib: &Element) -> String {
    nvpair_lines(
        cib,
        "crm_config",
        "no cluster properties set (all defaults)\n",
    )
}

/// Every nvpair below configuration's `section`, as name=value lines, or
/// `when_empty`.
fn nvpair_lines(cib: &Element, section: &str, when_empty: &str) -> String {
    let mut out = String::new();
    if let Some(section) = configuration(cib).and_then(|c| c.child(section)) {
        section.walk(&mut |e| {
            if e.name == "nvpair" {
                out.push_str(&format!(
                    "{}={}\n",
                    e.attr("name").unwrap_or("?"),
                    e.attr("value").unwrap_or("")
                ));
            }
        });
    }
    if out.is_empty() {
        out.push_str(when_empty);
    }
    out
}

// ---------------------------------------------------------------- defaults

/// `resource defaults NAME=VALUE...` (`section` rsc_defaults) and
/// `resource op defaults NAME=VALUE...` (op_defaults); `NAME=` removes.
/// Edits the section's first meta_attributes set, made with pcs's id
/// (`rsc_defaults-meta_attributes`) if there is none.
pub fn defaults_set(cib: &Element, section: &str, assignments: &[String]) -> Result<Edit> {
    let what = if section == "op_defaults" {
        "operation default"
    } else {
        "resource default"
    };
    if assignments.is_empty() {
        refuse!("give NAME=VALUE to set a {what}");
    }
    let existing = configuration(cib)
        .and_then(|c| c.child(section))
        .and_then(|s| s.child("meta_attributes"))
        .cloned();
    let mut set = existing.unwrap_or_else(|| {
        Element::new("meta_attributes").with_attr("id", format!("{section}-meta_attributes"))
    });
    if set.id().is_none() {
        refuse!("the <meta_attributes> of <{section}> has no id");
    }
    let set_id = set.id().unwrap_or_default().to_string();
    if set.children.is_empty() && find(cib, &set_id).is_none() {
        check_id_syntax(&set_id)?;
    }
    let mut said = Vec::new();
    for assignment in assignments {
        let (name, value) = split_pair(assignment)?;
        if (name.ends_with("timeout") || name == "interval") && !value.is_empty() {
            parse_duration_ms(&value)?;
        }
        let index = set
            .children
            .iter()
            .position(|c| c.name == "nvpair" && c.attr("name") == Some(name.as_str()));
        match (index, value.is_empty()) {
            (Some(i), true) => {
                set.children.remove(i);
                said.push(format!("{what} {name} removed"));
            }
            (Some(i), false) => {
                set.children[i].set_attr("value", value.clone());
                said.push(format!("{what} {name}={value}"));
            }
            (None, false) => {
                set.children.push(nvpair(&set_id, &name, &value));
                said.push(format!("{what} {name}={value}"));
            }
            (None, true) => refuse!("{what} {name} is not set"),
        }
    }
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: section.into(),
            element: set,
        },
        said.join(", "),
    );
    Ok(edit)
}

/// name=value lines of `rsc_defaults` or `op_defaults`.
pub fn defaults_list(cib: &Element, section: &str) -> String {
    nvpair_lines(cib, section, "no defaults set\n")
}

// ---------------------------------------------------------------- nodes

fn node_attr(
    cib: &Element,
    node: &str,
    name: &str,
    value: Option<&str>,
    what: String,
) -> Result<Edit> {
    known_node(cib, node)?;
    crate::model::cib::names::check_attribute_name(name).map_err(AdminError)?;
    let mut edit = Edit::new();
    edit.push(
        CibChange::SetNodeAttribute {
            node: node.into(),
            name: name.into(),
            value: value.map(String::from),
        },
        what,
    );
    Ok(edit)
}

pub fn node_standby(cib: &Element, node: &str) -> Result<Edit> {
    node_attr(
        cib,
        node,
        "standby",
        Some("on"),
        format!("{node} is in standby (node attribute standby=on): its resources move away"),
    )
}

pub fn node_online(cib: &Element, node: &str) -> Result<Edit> {
    node_attr(
        cib,
        node,
        "standby",
        None,
        format!("{node} is online again (removed node attribute standby)"),
    )
}

pub fn node_maintenance(cib: &Element, node: &str, on: bool) -> Result<Edit> {
    if on {
        node_attr(cib, node, "maintenance", Some("on"), format!("{node} is in maintenance (node attribute maintenance=on): its resources are left alone"))
    } else {
        node_attr(
            cib,
            node,
            "maintenance",
            None,
            format!("{node} left maintenance (removed node attribute maintenance)"),
        )
    }
}

/// `node attribute NODE NAME=VALUE...` (an empty value removes).
pub fn node_attribute(cib: &Element, node: &str, assignments: &[String]) -> Result<Edit> {
    known_node(cib, node)?;
    if assignments.is_empty() {
        refuse!("usage: node attribute NODE NAME=VALUE...");
    }
    let mut edit = Edit::new();
    for assignment in assignments {
        let (name, value) = split_pair(assignment)?;
        let what = if value.is_empty() {
            format!("removed node attribute {name} of {node}")
        } else {
            format!("node attribute {name}={value} on {node}")
        };
        edit.changes.extend(
            node_attr(
                cib,
                node,
                &name,
                Some(value.as_str()).filter(|v| !v.is_empty()),
                what.clone(),
            )?
            .changes,
        );
        edit.summary.push(what);
    }
    Ok(edit)
}

/// `node attribute [NODE]` with no assignment: NODE name=value lines.
pub fn node_attributes_list(cib: &Element, node: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(nodes) = configuration(cib).and_then(|c| c.child("nodes")) {
        for n in nodes.children_named("node") {
            let uname = n.attr("uname").unwrap_or("?");
            if node.is_some_and(|x| x != uname) {
                continue;
            }
            for nv in n
                .children_named("instance_attributes")
                .flat_map(|s| s.children_named("nvpair"))
            {
                out.push_str(&format!(
                    "{uname} {}={}\n",
                    nv.attr("name").unwrap_or("?"),
                    nv.attr("value").unwrap_or("")
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------- import

/// `cib import FILE [--merge]`: the file's configuration replaces the live
/// one (or, merged, its top-level elements are added or replaced by id),
/// after validation. The file may be a whole `<cib>` or a `<configuration>`.
pub fn cib_import(cib: &Element, text: &str, merge: bool) -> Result<Edit> {
    let document = Element::parse(text).map_err(|e| AdminError(format!("import refused: {e}")))?;
    let configuration = match document.name.as_str() {
        "cib" => document
            .child("configuration")
            .cloned()
            .ok_or_else(|| AdminError("import refused: <cib> has no <configuration>".into()))?,
        "configuration" => document,
        other => refuse!("import refused: expected <cib> or <configuration>, found <{other}>"),
    };
    let mut edit = Edit::new();
    if merge {
        let mut merged = configuration_of(cib);
        let mut count = 0;
        for section in &configuration.children {
            for element in &section.children {
                let Some(id) = element.id() else {
                    refuse!(
                        "import refused: <{}> in <{}> has no id, so it cannot be merged",
                        element.name,
                        section.name
                    );
                };
                let target = merged.child_or_insert(&section.name);
                match target.children.iter().position(|c| c.id() == Some(id)) {
                    Some(i) => target.children[i] = element.clone(),
                    None => {
                        if let Some(other) = find_definition(&merged, id) {
                            refuse!("import refused: {id:?} is already used by a <{}>; merging would make the id ambiguous", other.name);
                        }
                        merged
                            .child_or_insert(&section.name)
                            .children
                            .push(element.clone());
                    }
                }
                count += 1;
            }
        }
        crate::model::cib::validate::check(&merged).map_err(|errors| {
            AdminError(format!(
                "import refused, the merged configuration would be invalid:\n  {}",
                errors.join("\n  ")
            ))
        })?;
        edit.push(
            CibChange::ReplaceConfiguration(merged),
            format!("merged {count} elements into the configuration"),
        );
    } else {
        crate::model::cib::validate::check(&configuration).map_err(|errors| {
            AdminError(format!(
                "import refused, the configuration is invalid:\n  {}",
                errors.join("\n  ")
            ))
        })?;
        let count = configuration
            .children
            .iter()
            .map(|s| s.children.len())
            .sum::<usize>();
        edit.push(
            CibChange::ReplaceConfiguration(configuration),
            format!("replaced the configuration ({count} elements)"),
        );
    }
    Ok(edit)
}

/// The element that defines `id` (references like `<role id=..>` skipped).
fn find_definition<'a>(root: &'a Element, id: &str) -> Option<&'a Element> {
    root.children.iter().find_map(|child| {
        if child.id() == Some(id) && !crate::model::cib::validate::is_reference(&child.name) {
            Some(child)
        } else {
            find_definition(child, id)
        }
    })
}

/// A copy of the CIB's configuration (empty when missing).
pub fn configuration_of(cib: &Element) -> Element {
    configuration(cib)
        .cloned()
        .unwrap_or_else(|| Element::new("configuration"))
}

#[cfg(test)]
mod tests;
