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

use crate::model::cib::xml::Element;
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

/// The fence devices of a CIB.
pub fn devices(cib: &Element) -> Vec<FenceDevice> {
    let mut out = Vec::new();
    if let Some(resources) = cib
        .child("configuration")
        .and_then(|c| c.child("resources"))
    {
        resources.walk(&mut |e| {
            if e.name == "primitive" && e.attr("class") == Some("stonith") {
                let params = e
                    .children_named("instance_attributes")
                    .flat_map(|set| set.children_named("nvpair"))
                    .filter_map(|nv| {
                        Some((nv.attr("name")?.to_string(), nv.attr("value")?.to_string()))
                    })
                    .collect();
                out.push(FenceDevice {
                    id: e.id().unwrap_or_default().to_string(),
                    agent: e.attr("type").unwrap_or_default().to_string(),
                    params,
                });
            }
        });
    }
    out
}

/// Whether `fencing-topology` has levels for `target`.
pub fn has_topology_for(cib: &Element, target: &str) -> bool {
    cib.child("configuration")
        .and_then(|c| c.child("fencing-topology"))
        .is_some_and(|t| {
            t.children_named("fencing-level")
                .any(|l| l.attr("target") == Some(target))
        })
}

/// The device lists to try for `target`, in order.
pub fn levels_for(cib: &Element, target: &str) -> Vec<Vec<FenceDevice>> {
    let all = devices(cib);
    let mut levels: Vec<(u32, Vec<FenceDevice>)> = cib
        .child("configuration")
        .and_then(|c| c.child("fencing-topology"))
        .map(|topology| {
            topology
                .children_named("fencing-level")
                .filter(|level| level.attr("target") == Some(target))
                .map(|level| {
                    let index = level
                        .attr("index")
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0);
                    let devices = level
                        .attr("devices")
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(|id| all.iter().find(|d| d.id == id.trim()).cloned())
                        .collect();
                    (index, devices)
                })
                .collect()
        })
        .unwrap_or_default();
    if levels.is_empty() {
        return all.into_iter().map(|d| vec![d]).collect();
    }
    levels.sort_by_key(|(index, _)| *index);
    levels.into_iter().map(|(_, devices)| devices).collect()
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
        let all = devices(&cib);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].params["ip"], "10.0.0.1");
        let n1: Vec<Vec<String>> = levels_for(&cib, "n1")
            .into_iter()
            .map(|l| l.into_iter().map(|d| d.id).collect())
            .collect();
        assert_eq!(n1, vec![vec!["ipmi".to_string()], vec!["pdu".to_string()]]);
        assert_eq!(levels_for(&cib, "n2").len(), 2);
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
