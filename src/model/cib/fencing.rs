//! Which fence device may fence which node, from the device's own
//! parameters, as Pacemaker's fencer decides it:
//!
//! - `pcmk_host_list`: the nodes it can fence (space, comma or semicolon
//!   separated);
//! - `pcmk_host_map`: `node:port` pairs (`;`, `,` or space separated): the
//!   nodes it can fence, and the port (plug) the agent is given for each;
//! - `pcmk_host_check`: how to tell, `static-list` (the list and map),
//!   `dynamic-list` (the agent's `list` output), `status` (the agent's
//!   `status` for the node answers on or off), `none` (every node). When
//!   unset: `static-list` if a list or map is set, else `dynamic-list` if the
//!   agent has a `list` action, else `status` if it has `status`, else
//!   `none`;
//! - `pcmk_host_argument`: the agent parameter that carries the port
//!   (`port` by default; `none` for agents that take no port).
//!
//! The decisions are pure; the fencer runs the agent's `list` and `status`
//! when they are needed.

use crate::model::cib::agent::{class_of, ResourceClass};
use crate::model::cib::constraints::rsc_pattern;
use crate::model::cib::error::{invalid_because, missing, req, ModelError};
use crate::model::cib::nvpairs::nvpairs;
use crate::model::cib::rules::RuleContext;
use crate::model::cib::verify::ConfigIssue;
use crate::model::cib::xml::Element;
use crate::model::cib::Cib;
use std::collections::BTreeMap;

/// How the fencer finds out whether a device can fence a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCheck {
    StaticList,
    DynamicList,
    Status,
    None,
}

impl HostCheck {
    pub fn parse(text: &str) -> Result<HostCheck, String> {
        match text.trim() {
            "static-list" => Ok(HostCheck::StaticList),
            "dynamic-list" => Ok(HostCheck::DynamicList),
            "status" => Ok(HostCheck::Status),
            "none" => Ok(HostCheck::None),
            other => Err(format!(
                "pcmk_host_check '{other}' is not static-list, dynamic-list, status or none"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HostCheck::StaticList => "static-list",
            HostCheck::DynamicList => "dynamic-list",
            HostCheck::Status => "status",
            HostCheck::None => "none",
        }
    }
}

/// Splits a host list: spaces, commas, semicolons and line breaks separate
/// entries (Pacemaker's rule for both the parameter and an agent's `list`
/// output); `on`/`off` status words in `list` output are not hosts.
pub fn parse_host_list(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty() && *t != "on" && *t != "off")
        .map(str::to_string)
        .collect()
}

/// Parses `pcmk_host_map` (`node1:port1;node2:port2`, also `=` for `:`).
pub fn parse_host_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for entry in text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
    {
        let Some((node, port)) = entry.split_once([':', '=']) else {
            return Err(format!("pcmk_host_map entry '{entry}' is not NODE:PORT"));
        };
        if node.is_empty() || port.is_empty() {
            return Err(format!("pcmk_host_map entry '{entry}' is not NODE:PORT"));
        }
        map.insert(node.to_string(), port.to_string());
    }
    Ok(map)
}

/// A device's targeting parameters, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTargets {
    pub host_list: Vec<String>,
    pub host_map: BTreeMap<String, String>,
    /// `pcmk_host_check` as configured.
    pub check: Option<HostCheck>,
    /// `pcmk_host_argument`: the agent parameter for the port; `None` when
    /// it is `none`.
    pub host_argument: Option<String>,
}

impl DeviceTargets {
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<DeviceTargets, String> {
        let check = params
            .get("pcmk_host_check")
            .map(|c| HostCheck::parse(c))
            .transpose()?;
        let host_argument = match params.get("pcmk_host_argument").map(|a| a.trim()) {
            Some("none") => None,
            Some(a) if !a.is_empty() => Some(a.to_string()),
            _ => Some("port".to_string()),
        };
        Ok(DeviceTargets {
            host_list: params
                .get("pcmk_host_list")
                .map(|l| parse_host_list(l))
                .unwrap_or_default(),
            host_map: params
                .get("pcmk_host_map")
                .map(|m| parse_host_map(m))
                .transpose()?
                .unwrap_or_default(),
            check,
            host_argument,
        })
    }

    /// The check in force, given what the agent supports.
    pub fn effective_check(&self, agent_lists: bool, agent_has_status: bool) -> HostCheck {
        if let Some(check) = self.check {
            return check;
        }
        if !self.host_list.is_empty() || !self.host_map.is_empty() {
            HostCheck::StaticList
        } else if agent_lists {
            HostCheck::DynamicList
        } else if agent_has_status {
            HostCheck::Status
        } else {
            HostCheck::None
        }
    }

    /// The agent's name for `node` (its port): from the map, else the name.
    pub fn port_for(&self, node: &str) -> String {
        self.host_map
            .get(node)
            .cloned()
            .unwrap_or_else(|| node.to_string())
    }

    /// Whether a static list says the device can fence `node`.
    pub fn statically_lists(&self, node: &str) -> bool {
        self.host_list.iter().any(|h| h == node) || self.host_map.contains_key(node)
    }

    /// Whether `list` output names `node` (by its name or its port).
    pub fn listed_in(&self, node: &str, list_output: &str) -> bool {
        let port = self.port_for(node);
        parse_host_list(list_output)
            .iter()
            .any(|h| h == node || *h == port)
    }
}

/// A configured fence device: its agent and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDevice {
    pub id: String,
    pub agent: String,
    pub params: BTreeMap<String, String>,
}

/// A rule context with only a clock: fence devices and nodes are read
/// outside the scheduler.
fn clock_only(now_epoch_s: i64) -> RuleContext<'static> {
    RuleContext {
        node_attrs: None,
        now_epoch_s,
        agent: None,
        op: None,
    }
}

/// The fence devices of a CIB, their parameters read as the scheduler
/// reads a resource's (rules at `now_epoch_s`, the first value wins).
pub fn devices(cib: &Element, now_epoch_s: i64) -> Vec<FenceDevice> {
    let ctx = clock_only(now_epoch_s);
    let mut out = Vec::new();
    if let Some(resources) = cib
        .child("configuration")
        .and_then(|c| c.child("resources"))
    {
        resources.walk(&mut |e| {
            if e.name == "primitive" && class_of(e) == Some(ResourceClass::Stonith) {
                out.push(FenceDevice {
                    id: e.id().unwrap_or_default().to_string(),
                    agent: e.attr("type").unwrap_or_default().to_string(),
                    params: nvpairs(cib, e, "instance_attributes", &ctx),
                });
            }
        });
    }
    out
}

/// Which nodes a fencing level is for.
#[derive(Debug, Clone)]
pub enum LevelTarget {
    /// `target`: the node of that name.
    Node(String),
    /// `target-pattern`: nodes whose name the regular expression matches.
    Pattern(regex::Regex),
    /// `target-attribute` and `target-value`: nodes with that attribute.
    Attribute { name: String, value: String },
}

/// One `fencing-level`: to fence its targets at this level, every device
/// must succeed; levels are tried from the lowest index up.
#[derive(Debug, Clone)]
pub struct FencingLevel {
    pub id: String,
    pub target: LevelTarget,
    pub index: u32,
    pub devices: Vec<String>,
}

/// Levels are numbered 1 to 9 (Pacemaker's schema and fencer).
pub const LEVEL_INDEX_MAX: u32 = 9;

impl FencingLevel {
    /// Whether this level is for `node`, whose configured attributes are
    /// `node_attrs`.
    pub fn applies_to(&self, node: &str, node_attrs: &BTreeMap<String, String>) -> bool {
        match &self.target {
            LevelTarget::Node(name) => name == node,
            LevelTarget::Pattern(pattern) => pattern.is_match(node),
            LevelTarget::Attribute { name, value } => node_attrs.get(name) == Some(value),
        }
    }
}

/// The one reader of a `fencing-level`: the typed view, the fencer and
/// `fence level list` all read levels here.
pub fn read_fencing_level(level: &Element) -> Result<FencingLevel, ModelError> {
    let target = match (
        level.attr("target"),
        level.attr("target-pattern"),
        level.attr("target-attribute"),
    ) {
        (Some(node), _, _) => LevelTarget::Node(node.to_string()),
        (None, Some(pattern), _) => LevelTarget::Pattern(
            rsc_pattern(pattern)
                .map_err(|e| invalid_because(level, "target-pattern", pattern, e))?,
        ),
        (None, None, Some(name)) => LevelTarget::Attribute {
            name: name.to_string(),
            value: req(level, "target-value")?.to_string(),
        },
        (None, None, None) => return Err(missing(level, "target")),
    };
    let index_text = req(level, "index")?;
    let index = index_text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|i| (1..=LEVEL_INDEX_MAX).contains(i))
        .ok_or_else(|| invalid_because(level, "index", index_text, "levels are numbered 1 to 9"))?;
    let devices: Vec<String> = req(level, "devices")?
        .split(',')
        .map(|d| d.trim().to_string())
        .collect();
    if devices.iter().any(String::is_empty) {
        let text = level.attr("devices").unwrap_or_default();
        return Err(invalid_because(
            level,
            "devices",
            text,
            "an empty device id",
        ));
    }
    Ok(FencingLevel {
        id: level.id().unwrap_or_default().to_string(),
        target,
        index,
        devices,
    })
}

/// Every level of `fencing-topology` that can be read, and why the others
/// were left out.
pub fn topology(cib: &Element) -> (Vec<FencingLevel>, Vec<ModelError>) {
    let mut levels = Vec::new();
    let mut errors = Vec::new();
    let elements = cib
        .child("configuration")
        .and_then(|c| c.child("fencing-topology"))
        .into_iter()
        .flat_map(|t| t.children_named("fencing-level"));
    for level in elements {
        match read_fencing_level(level) {
            Ok(level) => levels.push(level),
            Err(error) => errors.push(error),
        }
    }
    (levels, errors)
}

/// The levels for `node`, lowest index first: those naming it, else those
/// whose pattern or attribute matches it (as Pacemaker's fencer prefers
/// the topology registered under the node's own name).
fn levels_of(cib: &Element, node: &str, now_epoch_s: i64) -> Vec<FencingLevel> {
    let (levels, _) = topology(cib);
    let ctx = clock_only(now_epoch_s);
    let node_attrs = cib
        .child("configuration")
        .and_then(|c| c.child("nodes"))
        .and_then(|n| {
            n.children_named("node")
                .find(|n| n.attr("uname").or(n.id()) == Some(node))
        })
        .map(|n| nvpairs(cib, n, "instance_attributes", &ctx))
        .unwrap_or_default();
    let (by_name, by_match): (Vec<FencingLevel>, Vec<FencingLevel>) = levels
        .into_iter()
        .filter(|l| l.applies_to(node, &node_attrs))
        .partition(|l| matches!(l.target, LevelTarget::Node(_)));
    let mut chosen = if by_name.is_empty() {
        by_match
    } else {
        by_name
    };
    chosen.sort_by_key(|l| l.index);
    chosen
}

/// Whether `fencing-topology` has levels for `target`.
pub fn has_topology_for(cib: &Element, target: &str, now_epoch_s: i64) -> bool {
    !levels_of(cib, target, now_epoch_s).is_empty()
}

/// The device lists to try for `target`, in order: its topology's levels,
/// or else each device on its own.
pub fn levels_for(cib: &Element, target: &str, now_epoch_s: i64) -> Vec<Vec<FenceDevice>> {
    let all = devices(cib, now_epoch_s);
    let levels = levels_of(cib, target, now_epoch_s);
    if levels.is_empty() {
        return all.into_iter().map(|d| vec![d]).collect();
    }
    levels
        .into_iter()
        .map(|level| {
            level
                .devices
                .iter()
                .filter_map(|id| all.iter().find(|d| &d.id == id).cloned())
                .collect()
        })
        .collect()
}

/// Reads `fencing-topology` into the typed view; a level that cannot be
/// read is left out.
pub(super) fn read_topology(cib: &mut Cib, root: &Element) {
    let (levels, errors) = topology(root);
    cib.fencing_levels = levels;
    cib.config_errors
        .extend(errors.into_iter().map(ConfigIssue::from));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_orders_levels_and_falls_back_to_all_devices() {
        let cib = Element::parse(
            r#"<cib><configuration><resources>
                 <primitive id="ipmi" class="stonith" type="fence_ipmilan">
                   <instance_attributes id="p"><nvpair id="p1" name="ip" value="10.0.0.1"/></instance_attributes>
                 </primitive>
                 <primitive id="pdu" class="stonith" type="fence_apc"/>
                 <primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/>
               </resources>
               <fencing-topology>
                 <fencing-level id="l2" target="n1" index="2" devices="pdu"/>
                 <fencing-level id="l1" target="n1" index="1" devices="ipmi"/>
               </fencing-topology></configuration></cib>"#,
        )
        .unwrap();
        let all = devices(&cib, 0);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].params["ip"], "10.0.0.1");
        let n1: Vec<Vec<String>> = levels_for(&cib, "n1", 0)
            .into_iter()
            .map(|l| l.into_iter().map(|d| d.id).collect())
            .collect();
        assert_eq!(n1, vec![vec!["ipmi".to_string()], vec!["pdu".to_string()]]);
        assert_eq!(levels_for(&cib, "n2", 0).len(), 2);
    }

    fn level_ids(cib: &Element, node: &str) -> Vec<Vec<String>> {
        levels_for(cib, node, 0)
            .into_iter()
            .map(|l| l.into_iter().map(|d| d.id).collect())
            .collect()
    }

    /// Patterns and attributes name targets too; a level named after the
    /// node wins over them; a level that cannot be read is left out, by the
    /// fencer and the typed view alike.
    #[test]
    fn levels_target_names_patterns_and_attributes() {
        let cib = Element::parse(
            r#"<cib><configuration><nodes>
                 <node id="1" uname="web1"><instance_attributes id="a">
                   <nvpair id="a1" name="rack" value="r7"/></instance_attributes></node>
                 <node id="2" uname="db1"/><node id="3" uname="app1"/>
               </nodes><resources>
                 <primitive id="ipmi" class="stonith" type="fence_ipmilan">
                   <instance_attributes id="p" score="1"><nvpair id="p1" name="ip" value="first"/></instance_attributes>
                   <instance_attributes id="q"><nvpair id="q1" name="ip" value="second"/></instance_attributes>
                 </primitive>
                 <primitive id="pdu" class="stonith" type="fence_apc"/>
               </resources>
               <fencing-topology>
                 <fencing-level id="l1" target-pattern="^web" index="2" devices="pdu"/>
                 <fencing-level id="l2" target-attribute="rack" target-value="r7" index="1" devices="ipmi"/>
                 <fencing-level id="l3" target="db1" index="1" devices="pdu"/>
                 <fencing-level id="l4" target-pattern="^db" index="2" devices="ipmi"/>
                 <fencing-level id="bad-index" target="app1" index="0" devices="ipmi"/>
                 <fencing-level id="bad-pattern" target-pattern="(" index="1" devices="ipmi"/>
               </fencing-topology></configuration></cib>"#,
        )
        .unwrap();
        assert_eq!(level_ids(&cib, "web1"), [["ipmi"], ["pdu"]]);
        assert_eq!(level_ids(&cib, "db1"), [["pdu"]]);
        // app1's only level is unreadable: every device on its own.
        assert!(!has_topology_for(&cib, "app1", 0));
        assert_eq!(level_ids(&cib, "app1"), [["ipmi"], ["pdu"]]);
        // The same reader of name/value sets as the scheduler's.
        assert_eq!(devices(&cib, 0)[0].params["ip"], "first");
        let (levels, errors) = topology(&cib);
        assert_eq!(levels.len(), 4);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let typed = Cib::from_xml(&cib, 0).unwrap();
        assert_eq!(typed.fencing_levels.len(), 4);
        assert_eq!(typed.config_errors.len(), 2, "{:?}", typed.config_errors);
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lists_and_maps_parse_with_any_separator() {
        assert_eq!(
            parse_host_list("n1 n2,n3;n4\nn5"),
            ["n1", "n2", "n3", "n4", "n5"]
        );
        assert_eq!(parse_host_list("vm1,on\nvm2,off\n"), ["vm1", "vm2"]);
        let map = parse_host_map("node1:vm-a;node2:vm-b node3=7").unwrap();
        assert_eq!(map["node1"], "vm-a");
        assert_eq!(map["node3"], "7");
        assert!(parse_host_map("node1").is_err());
        assert!(parse_host_map("node1:").is_err());
    }

    #[test]
    fn the_check_defaults_as_pacemakers_does() {
        let listed = DeviceTargets::from_params(&params(&[("pcmk_host_list", "n1 n2")])).unwrap();
        assert_eq!(listed.effective_check(true, true), HostCheck::StaticList);
        assert!(listed.statically_lists("n2") && !listed.statically_lists("n3"));
        let mapped = DeviceTargets::from_params(&params(&[("pcmk_host_map", "n3:plug3")])).unwrap();
        assert_eq!(mapped.effective_check(true, true), HostCheck::StaticList);
        assert_eq!(mapped.port_for("n3"), "plug3");
        assert_eq!(mapped.port_for("n1"), "n1");
        let bare = DeviceTargets::from_params(&params(&[])).unwrap();
        assert_eq!(bare.effective_check(true, true), HostCheck::DynamicList);
        assert_eq!(bare.effective_check(false, true), HostCheck::Status);
        assert_eq!(bare.effective_check(false, false), HostCheck::None);
        let forced = DeviceTargets::from_params(&params(&[
            ("pcmk_host_list", "n1"),
            ("pcmk_host_check", "none"),
        ]))
        .unwrap();
        assert_eq!(forced.effective_check(true, true), HostCheck::None);
        assert!(DeviceTargets::from_params(&params(&[("pcmk_host_check", "maybe")])).is_err());
    }

    #[test]
    fn dynamic_lists_match_names_or_ports() {
        let mapped = DeviceTargets::from_params(&params(&[("pcmk_host_map", "n1:vm1")])).unwrap();
        assert!(mapped.listed_in("n1", "vm1\nvm2\n"));
        assert!(!mapped.listed_in("n2", "vm1\nvm2\n"));
        assert!(mapped.listed_in("n2", "n2,on\n"));
        let argument =
            DeviceTargets::from_params(&params(&[("pcmk_host_argument", "plug")])).unwrap();
        assert_eq!(argument.host_argument.as_deref(), Some("plug"));
        let none = DeviceTargets::from_params(&params(&[("pcmk_host_argument", "none")])).unwrap();
        assert_eq!(none.host_argument, None);
    }
}
