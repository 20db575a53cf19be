//! The status view `systole status` prints: one entry per primitive
//! instance with where it is active, plus each node's state. Read from the
//! CIB's Pacemaker-format status section by the scheduler's unpack stage, so
//! the daemon and the scheduler agree on what runs where.

use crate::model::xml::Element;
use crate::scheduler::unpack::{unpack, Variant};

use super::cib::{Cib, ModelError, Role};

/// One primitive instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    /// `db:0` for clone instances.
    pub id: String,
    /// The enclosing group or clone.
    pub parent: Option<String>,
    /// `class:provider:type`, e.g. `ocf:systole:Dummy`.
    pub agent: String,
    pub role: Role,
    /// Every node where it is active (more than one is a violation).
    pub nodes: Vec<String>,
    pub failed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub name: String,
    pub online: bool,
    pub standby: bool,
    pub maintenance: bool,
}

/// The status of every primitive instance, in configuration order.
/// Instances of an anonymous clone that run nowhere are listed as Stopped.
pub fn resource_status(cib: &Element) -> Result<Vec<ResourceStatus>, ModelError> {
    let w = unpack(Cib::from_xml(cib, 0)?, 0, Default::default());
    let mut out = Vec::new();
    for (i, r) in w.rscs.iter().enumerate() {
        if r.variant != Variant::Primitive {
            continue;
        }
        let parent = r
            .parent
            .map(|p| w.rscs[w.top_of(p)].id.clone())
            .filter(|_| w.top_of(i) != i);
        let role = match r.current_role() {
            Role::Unknown | Role::Stopped => Role::Stopped,
            Role::Started if is_promotable(&w, i) => Role::Unpromoted,
            other => other,
        };
        out.push(ResourceStatus {
            id: r.id.clone(),
            parent,
            agent: r.agent.as_ref().map(|a| a.display()).unwrap_or_default(),
            role,
            nodes: r
                .current
                .iter()
                .map(|c| w.nodes[c.node].name.clone())
                .collect(),
            failed: r.failed(),
        });
    }
    Ok(out)
}

fn is_promotable(w: &crate::scheduler::unpack::Working, i: usize) -> bool {
    let top = w.top_of(i);
    w.rscs[top].promotable
}

/// Each configured node's state.
pub fn node_status(cib: &Element) -> Result<Vec<NodeStatus>, ModelError> {
    let w = unpack(Cib::from_xml(cib, 0)?, 0, Default::default());
    Ok(w.nodes
        .iter()
        .map(|n| NodeStatus {
            name: n.name.clone(),
            online: n.online,
            standby: n.standby,
            maintenance: n.maintenance,
        })
        .collect())
}
