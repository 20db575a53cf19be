//! Agent meta-data: what an agent says about itself (parameters, their
//! defaults and whether they are required; actions and their timeouts),
//! read from the OCF meta-data XML every class answers with, and the check
//! of a resource's parameters against it.

use crate::model::cib::xml::Element;
use serde::{Deserialize, Serialize};

/// One parameter an agent takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterInfo {
    pub name: String,
    pub required: bool,
    pub unique: bool,
    pub content_type: String,
    pub default: Option<String>,
    pub shortdesc: String,
    pub longdesc: String,
}

/// One action an agent advertises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionInfo {
    pub name: String,
    pub timeout: Option<String>,
    pub interval: Option<String>,
    pub role: Option<String>,
    pub depth: Option<String>,
}

/// An agent's meta-data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMetadata {
    /// `class:provider:type` (or `class:type`).
    pub agent: String,
    pub shortdesc: String,
    pub longdesc: String,
    pub parameters: Vec<ParameterInfo>,
    pub actions: Vec<ActionInfo>,
}

fn description(element: &Element, tag: &str) -> String {
    element
        .child(tag)
        .map(|d| d.text.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn truthy(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "true" | "yes"))
}

/// Parses meta-data XML (`<resource-agent>`).
pub fn parse(agent: &str, xml: &str) -> Result<AgentMetadata, String> {
    let root = Element::parse(xml.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("{agent}: its meta-data is not XML: {e}"))?;
    if root.name != "resource-agent" {
        return Err(format!(
            "{agent}: its meta-data has <{}>, not <resource-agent>",
            root.name
        ));
    }
    let parameters = root
        .child("parameters")
        .map(|p| {
            p.children_named("parameter")
                .filter_map(|p| {
                    let content = p.child("content");
                    Some(ParameterInfo {
                        name: p.attr("name")?.to_string(),
                        required: truthy(p.attr("required")),
                        unique: truthy(p.attr("unique")),
                        content_type: content
                            .and_then(|c| c.attr("type"))
                            .unwrap_or("string")
                            .to_string(),
                        default: content.and_then(|c| c.attr("default")).map(str::to_string),
                        shortdesc: description(p, "shortdesc"),
                        longdesc: description(p, "longdesc"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let actions = root
        .child("actions")
        .map(|a| {
            a.children_named("action")
                .filter_map(|a| {
                    let attr = |k: &str| a.attr(k).map(str::to_string);
                    Some(ActionInfo {
                        name: a.attr("name")?.to_string(),
                        timeout: attr("timeout"),
                        interval: attr("interval"),
                        role: attr("role"),
                        depth: attr("depth"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(AgentMetadata {
        agent: agent.to_string(),
        shortdesc: description(&root, "shortdesc"),
        longdesc: description(&root, "longdesc"),
        parameters,
        actions,
    })
}

impl AgentMetadata {
    pub fn supports(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a.name == action)
    }

    /// Problems with `given` parameter names: unknown ones and missing
    /// required ones, each in the agent's own words (its descriptions).
    pub fn check_parameters<'a>(&self, given: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let given: Vec<&str> = given.into_iter().collect();
        let mut problems = Vec::new();
        for name in &given {
            if !self.parameters.iter().any(|p| p.name == *name) {
                let known: Vec<&str> = self.parameters.iter().map(|p| p.name.as_str()).collect();
                problems.push(format!(
                    "{} has no parameter '{name}' (it takes: {})",
                    self.agent,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        for parameter in self.parameters.iter().filter(|p| p.required) {
            if !given.contains(&parameter.name.as_str()) {
                let words = match (
                    parameter.shortdesc.is_empty(),
                    parameter.longdesc.is_empty(),
                ) {
                    (false, _) => format!(": {}", parameter.shortdesc),
                    (true, false) => format!(": {}", parameter.longdesc),
                    (true, true) => String::new(),
                };
                problems.push(format!(
                    "{} requires parameter '{}'{words}",
                    self.agent, parameter.name
                ));
            }
        }
        problems
    }

    /// The description as `systole resource describe` prints it.
    pub fn render(&self) -> String {
        let mut out = format!("{} - {}\n", self.agent, self.shortdesc);
        if !self.longdesc.is_empty() && self.longdesc != self.shortdesc {
            out.push_str(&format!("\n{}\n", self.longdesc));
        }
        out.push_str("\nParameters:\n");
        if self.parameters.is_empty() {
            out.push_str("  (none)\n");
        }
        for p in &self.parameters {
            let mut flags = vec![p.content_type.clone()];
            if p.required {
                flags.push("required".into());
            }
            if p.unique {
                flags.push("unique".into());
            }
            if let Some(default) = &p.default {
                flags.push(format!("default: {default}"));
            }
            out.push_str(&format!("  {} ({})\n", p.name, flags.join(", ")));
            if !p.shortdesc.is_empty() {
                out.push_str(&format!("      {}\n", p.shortdesc));
            }
        }
        out.push_str("\nActions:\n");
        for a in &self.actions {
            let mut details = Vec::new();
            for (key, value) in [
                ("timeout", &a.timeout),
                ("interval", &a.interval),
                ("role", &a.role),
                ("depth", &a.depth),
            ] {
                if let Some(value) = value {
                    details.push(format!("{key}={value}"));
                }
            }
            let line = format!("  {} {}", a.name, details.join(" "));
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// OCF meta-data for a class whose agents have no parameters (lsb,
/// systemd), as Pacemaker makes it for them.
pub fn parameterless_xml(
    name: &str,
    longdesc: &str,
    shortdesc: &str,
    timeout: &str,
    monitor_interval: &str,
    special: Option<Element>,
) -> String {
    let text = |tag: &str, value: &str| {
        let mut element = Element::new(tag).with_attr("lang", "en");
        element.text = value.to_string();
        element
    };
    let action = |name: &str| {
        Element::new("action")
            .with_attr("name", name)
            .with_attr("timeout", timeout)
    };
    let mut version = Element::new("version");
    version.text = "1.1".into();
    let mut actions = Element::new("actions");
    for name in ["meta-data", "start", "stop", "status"] {
        actions.children.push(action(name));
    }
    actions
        .children
        .push(action("monitor").with_attr("interval", monitor_interval));
    let mut root = Element::new("resource-agent")
        .with_attr("name", name)
        .with_attr("version", "0.1")
        .with_child(version)
        .with_child(text("longdesc", longdesc))
        .with_child(text("shortdesc", shortdesc))
        .with_child(Element::new("parameters"))
        .with_child(actions);
    if let Some(special) = special {
        root.children.push(special);
    }
    root.to_xml_pretty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPADDR: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="IPaddr2" version="1.0">
<version>1.0</version>
<longdesc lang="en">Manages virtual IPv4 and IPv6 addresses.</longdesc>
<shortdesc lang="en">Manages virtual IPv4 and IPv6 addresses (Linux specific version)</shortdesc>
<parameters>
<parameter name="ip" unique="1" required="1">
<longdesc lang="en">The IPv4 address to be configured.</longdesc>
<shortdesc lang="en">IPv4 or IPv6 address</shortdesc>
<content type="string" default="" />
</parameter>
<parameter name="cidr_netmask">
<longdesc lang="en">The netmask.</longdesc>
<shortdesc lang="en">CIDR netmask</shortdesc>
<content type="string" default=""/>
</parameter>
</parameters>
<actions>
<action name="start"   timeout="20s" />
<action name="monitor" depth="0"  timeout="20s" interval="10s" />
</actions>
</resource-agent>"#;

    #[test]
    fn parses_parameters_and_actions() {
        let meta = parse("ocf:heartbeat:IPaddr2", IPADDR).unwrap();
        assert_eq!(meta.parameters.len(), 2);
        assert!(meta.parameters[0].required && meta.parameters[0].unique);
        assert_eq!(meta.parameters[0].shortdesc, "IPv4 or IPv6 address");
        assert_eq!(meta.actions[1].interval.as_deref(), Some("10s"));
        assert!(meta.supports("monitor") && !meta.supports("promote"));
        let text = meta.render();
        assert!(
            text.contains("ip (string, required, unique, default: )"),
            "{text}"
        );
        assert!(
            text.contains("monitor timeout=20s interval=10s depth=0"),
            "{text}"
        );
    }

    #[test]
    fn checks_name_the_problem_in_the_agents_words() {
        let meta = parse("ocf:heartbeat:IPaddr2", IPADDR).unwrap();
        assert!(meta.check_parameters(["ip", "cidr_netmask"]).is_empty());
        let problems = meta.check_parameters(["ipp"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("no parameter 'ipp' (it takes: ip, cidr_netmask)"));
        assert!(problems[1].contains("requires parameter 'ip': IPv4 or IPv6 address"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse("x", "not xml <").is_err());
        assert!(parse("x", "<foo/>").unwrap_err().contains("<foo>"));
        let xml = parameterless_xml("nginx", "long", "short", "100s", "60s", None);
        let meta = parse("systemd:nginx", &xml).unwrap();
        assert!(meta.parameters.is_empty() && meta.supports("monitor"));
    }
}
