//! Resource agents as Pacemaker names them: `class:provider:type` on the
//! command line, `class`/`provider`/`type` attributes in the CIB. The one
//! reader of both, so what the administration commands accept the
//! scheduler uses, and what it leaves out they refuse.

use super::error::{req, ModelError};
use super::xml::Element;

/// A resource class, as the CIB's `class` attribute names it.
///
/// Systole runs the first five. A class it does not run is `Other`, with
/// its text as written: `nagios`, `upstart` and `heartbeat` (no longer
/// supported, as in Pacemaker 3) or any unknown text. Reading never fails
/// on a class, so a Pacemaker CIB or a history entry that names one still
/// loads and is written back unchanged; [`ResourceClass::supported`] says
/// why such a class is refused when typed and left out of scheduling when
/// configured. On the wire and in the replicated log a class is its text,
/// the same bytes as when it was a string, so an old entry (or one naming
/// a class this build does not know) always decodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceClass {
    Ocf,
    Lsb,
    /// `service:NAME`: systemd if it has the unit, else LSB.
    Service,
    Systemd,
    /// A fence device.
    Stonith,
    /// A class Systole does not run, by its text (never one of the names
    /// above: [`ResourceClass::parse`] gives those their own variant).
    Other(String),
}

/// Why a class is not one Systole runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassError {
    #[error("{0} resources are no longer supported")]
    Dropped(String),
    #[error("unknown resource class {0:?} (one of ocf, lsb, service, systemd, stonith)")]
    Unknown(String),
}

impl ResourceClass {
    /// Every class Systole runs.
    pub const ALL: [ResourceClass; 5] = [
        ResourceClass::Ocf,
        ResourceClass::Lsb,
        ResourceClass::Service,
        ResourceClass::Systemd,
        ResourceClass::Stonith,
    ];

    pub fn parse(text: &str) -> ResourceClass {
        match text {
            "ocf" => ResourceClass::Ocf,
            "lsb" => ResourceClass::Lsb,
            "service" => ResourceClass::Service,
            "systemd" => ResourceClass::Systemd,
            "stonith" => ResourceClass::Stonith,
            other => ResourceClass::Other(other.to_string()),
        }
    }

    /// The class as the CIB writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ResourceClass::Ocf => "ocf",
            ResourceClass::Lsb => "lsb",
            ResourceClass::Service => "service",
            ResourceClass::Systemd => "systemd",
            ResourceClass::Stonith => "stonith",
            ResourceClass::Other(text) => text,
        }
    }

    /// Whether Systole runs this class; if not, why.
    pub fn supported(&self) -> Result<(), ClassError> {
        match self {
            ResourceClass::Other(text) => match text.as_str() {
                "nagios" | "upstart" | "heartbeat" => Err(ClassError::Dropped(text.clone())),
                _ => Err(ClassError::Unknown(text.clone())),
            },
            _ => Ok(()),
        }
    }

    /// Only OCF agents have a provider.
    pub fn has_provider(&self) -> bool {
        *self == ResourceClass::Ocf
    }
}

impl std::fmt::Display for ResourceClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As its text: the replicated log and the wire carry the same bytes as
/// when the class was a string.
impl serde::Serialize for ResourceClass {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ResourceClass {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<ResourceClass, D::Error> {
        String::deserialize(deserializer).map(|text| ResourceClass::parse(&text))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentSpec {
    pub class: ResourceClass,
    pub provider: Option<String>,
    pub kind: String,
}

/// Why `class:provider:type` text names no agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentSpecError {
    #[error("bad agent {0:?}: expected class:provider:type (ocf:heartbeat:IPaddr2) or class:type (systemd:nginx, stonith:fence_xvm)")]
    Shape(String),
    #[error("bad agent {0:?}: ocf agents need a provider, e.g. ocf:heartbeat:Dummy")]
    NoProvider(String),
    #[error("bad agent {0:?}: {1}")]
    Class(String, ClassError),
    #[error("bad agent {0:?}: empty or odd characters in a part")]
    Part(String),
}

impl AgentSpec {
    /// Reads `ocf:PROVIDER:TYPE` or `CLASS:TYPE` (lsb, service, systemd,
    /// stonith); each part is letters, digits and `_-.@`.
    pub fn parse(spec: &str) -> Result<AgentSpec, AgentSpecError> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (class, provider, kind) = match parts.as_slice() {
            [class, provider, kind] => (*class, Some(*provider), *kind),
            [class, kind] => (*class, None, *kind),
            _ => return Err(AgentSpecError::Shape(spec.to_string())),
        };
        let class = ResourceClass::parse(class);
        class
            .supported()
            .map_err(|e| AgentSpecError::Class(spec.to_string(), e))?;
        match (class.has_provider(), provider) {
            (true, None) => return Err(AgentSpecError::NoProvider(spec.to_string())),
            (false, Some(_)) => return Err(AgentSpecError::Shape(spec.to_string())),
            _ => {}
        }
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c))
        };
        if !part_ok(kind) || provider.is_some_and(|p| !part_ok(p)) {
            return Err(AgentSpecError::Part(spec.to_string()));
        }
        Ok(AgentSpec {
            class,
            provider: provider.map(str::to_string),
            kind: kind.to_string(),
        })
    }

    /// A fence device (class `stonith`).
    pub fn is_fence_device(&self) -> bool {
        self.class == ResourceClass::Stonith
    }

    /// `ocf:pacemaker:remote`: the connection to a Pacemaker Remote node.
    pub fn is_remote_connection(&self) -> bool {
        self.class == ResourceClass::Ocf
            && self.provider.as_deref() == Some("pacemaker")
            && self.kind == "remote"
    }

    pub fn display(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for AgentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.provider {
            Some(p) => write!(f, "{}:{}:{}", self.class, p, self.kind),
            None => write!(f, "{}:{}", self.class, self.kind),
        }
    }
}

/// The class an element's `class` attribute names (a primitive, a
/// template, a history entry), if it has one.
pub fn class_of(e: &Element) -> Option<ResourceClass> {
    e.attr("class").map(ResourceClass::parse)
}

/// An agent as the CIB writes it (history entries keep whatever class
/// they recorded).
pub fn read_agent(e: &Element) -> Result<AgentSpec, ModelError> {
    Ok(AgentSpec {
        class: ResourceClass::parse(req(e, "class")?),
        provider: e.attr("provider").map(str::to_string),
        kind: req(e, "type")?.to_string(),
    })
}

/// A primitive's agent, if the scheduler knows its class: an unknown class
/// is an error, a class Pacemaker dropped a warning; either way the
/// primitive is left out.
pub(super) fn read_known_agent(
    e: &Element,
    agent_element: &Element,
) -> Result<AgentSpec, ModelError> {
    let agent = read_agent(agent_element)?;
    let element = e.name.clone();
    let id = e.id().unwrap_or("").to_string();
    match agent.class.supported() {
        Ok(_) => Ok(agent),
        Err(dropped @ ClassError::Dropped(_)) => Err(ModelError::Unsupported {
            element,
            id,
            problem: format!("{dropped}; left out"),
        }),
        Err(unknown @ ClassError::Unknown(_)) => Err(ModelError::Invalid {
            element,
            id,
            problem: format!("{unknown}; left out"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_read_as_pacemaker_names_them() {
        let ocf = AgentSpec::parse("ocf:heartbeat:IPaddr2").unwrap();
        assert_eq!(ocf.provider.as_deref(), Some("heartbeat"));
        assert_eq!(ocf.to_string(), "ocf:heartbeat:IPaddr2");
        let unit = AgentSpec::parse("systemd:getty@tty1").unwrap();
        assert_eq!((unit.class.as_str(), unit.provider), ("systemd", None));
        assert_eq!(
            AgentSpec::parse("stonith:fence_xvm").unwrap().class,
            ResourceClass::Stonith
        );
        for bad in [
            "ocf:Dummy",
            "nginx",
            "lsb:",
            "ocf::Dummy",
            "a:b:c:d",
            "lsb:x y",
        ] {
            assert!(AgentSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            AgentSpec::parse("systemd:x:y"),
            Err(AgentSpecError::Shape(_))
        ));
    }

    /// What the scheduler leaves out, the command line refuses, with the
    /// same reason.
    #[test]
    fn dropped_classes_are_refused_when_typed_and_left_out_when_read() {
        for class in ["nagios", "upstart", "heartbeat"] {
            let typed = AgentSpec::parse(&format!("{class}:check")).unwrap_err();
            assert!(typed.to_string().contains("no longer supported"), "{typed}");
            let e = Element::parse(&format!(
                r#"<primitive id="p" class="{class}" type="check"/>"#
            ))
            .unwrap();
            let read = read_known_agent(&e, &e).unwrap_err();
            assert!(matches!(read, ModelError::Unsupported { .. }), "{read}");
        }
        let typed = AgentSpec::parse("bogus:x").unwrap_err().to_string();
        assert!(typed.contains("unknown resource class"), "{typed}");
        for class in ResourceClass::ALL {
            assert_eq!(ResourceClass::parse(class.as_str()), class);
            assert_eq!(class.supported(), Ok(()));
        }
    }

    /// A class Systole does not run still loads, keeps its text, and is
    /// written and sent as that text.
    #[test]
    fn a_class_not_run_here_is_kept_as_written() {
        for text in ["nagios", "upstart", "bogus"] {
            let e = Element::parse(&format!(
                r#"<lrm_resource id="p" class="{text}" type="check"/>"#
            ))
            .unwrap();
            let agent = read_agent(&e).unwrap();
            assert_eq!(agent.class, ResourceClass::Other(text.to_string()));
            assert_eq!(agent.to_string(), format!("{text}:check"));
            assert!(agent.class.supported().is_err());
        }
    }

    /// The shape `AgentSpec` had when its class was a string: the log and
    /// the wire must carry the same bytes, both ways.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct AgentSpecWithTextClass {
        class: String,
        provider: Option<String>,
        kind: String,
    }

    #[test]
    fn a_class_travels_as_its_text() {
        for (class, provider) in [
            ("ocf", Some("heartbeat")),
            ("stonith", None),
            ("service", None),
            ("nagios", None),
            ("something-new", None),
        ] {
            let as_text = AgentSpecWithTextClass {
                class: class.to_string(),
                provider: provider.map(str::to_string),
                kind: "check".to_string(),
            };
            let typed = AgentSpec {
                class: ResourceClass::parse(class),
                provider: provider.map(str::to_string),
                kind: "check".to_string(),
            };
            let bytes = rmp_serde::to_vec(&as_text).unwrap();
            assert_eq!(rmp_serde::to_vec(&typed).unwrap(), bytes, "{class}");
            assert_eq!(
                rmp_serde::to_vec_named(&typed).unwrap(),
                rmp_serde::to_vec_named(&as_text).unwrap(),
                "{class}"
            );
            assert_eq!(rmp_serde::from_slice::<AgentSpec>(&bytes).unwrap(), typed);
            let back: AgentSpecWithTextClass =
                rmp_serde::from_slice(&rmp_serde::to_vec(&typed).unwrap()).unwrap();
            assert_eq!(back.class, class);
        }
    }
}
