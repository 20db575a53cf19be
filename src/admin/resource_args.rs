//! The pcs-style words of `resource create`/`update`: the agent spec,
//! `name=value` parameters, `meta` and `op` sections, and the `<op>`
//! elements they become.

use super::*;

use crate::model::cib::operation::OpKind;
pub use crate::model::cib::AgentSpec;

/// `class:provider:type`, `class:type`: the model's one reader of agent
/// names, so a class the scheduler leaves out is refused here.
pub fn parse_agent(spec: &str) -> Result<AgentSpec> {
    AgentSpec::parse(spec).map_err(|e| AdminError(e.to_string()))
}

/// One `op NAME k=v...` of pcs syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpArgs {
    pub name: OpKind,
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
                    name: OpKind::parse(t),
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

fn op_element(resource: &str, op: &OpArgs) -> Result<Element> {
    let interval = op
        .options
        .iter()
        .find(|(k, _)| k == "interval")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "0s".into());
    let interval_ms = parse_duration_ms(&interval)?;
    let _ = interval_ms;
    let op_name_ok = !op.name.as_str().is_empty()
        && op
            .name
            .as_str()
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
        .with_attr("name", op.name.as_str())
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
pub(super) fn set_ops(primitive: &mut Element, ops: &[OpArgs], by_name: bool) -> Result<()> {
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
