//! The typed view of a Pacemaker CIB, read from the XML element tree.
//!
//! Reading never panics: malformed or dangling input gives a [`ModelError`]
//! naming the element and its id. Option names are normalised to their
//! current spelling (`stonith-enabled` becomes `fencing-enabled`, roles
//! `Master`/`Slave` become `Promoted`/`Unpromoted`).

use std::collections::{BTreeMap, HashMap};

pub mod acl;
pub mod agent;
pub mod alerts;
pub mod change;
pub mod constraints;
pub mod diff;
pub mod digest;
pub mod error;
pub mod fencing;
pub mod names;
pub mod nodes;
pub mod nvpairs;
pub mod operation;
pub mod properties;
pub mod resources;
pub mod role;
pub mod rules;
pub mod score;
pub mod status;
pub mod store;
pub mod time;
pub mod validate;
pub mod verify;
pub mod xml;

pub use agent::{AgentSpec, ResourceClass};
pub use constraints::{
    location_rule_score, rsc_pattern, Colocation, Location, LocationTarget, Order, OrderKind,
    Ticket, RSC_PATTERN_BYTES_MAX,
};
pub use error::ModelError;
pub use fencing::FencingLevel;
pub use nodes::{NodeConfig, NodeKind};
pub use nvpairs::{nvpairs, parse_bool};
pub use resources::{OpConfig, ResourceConfig, ResourceKind, ResourceMeta, CLONE_INSTANCES_MAX};
pub use role::Role;
pub use status::{LrmOp, LrmResource, NodeState};

use rules::RuleContext;
use verify::ConfigIssue;
use xml::Element;

/// The whole CIB, typed.
#[derive(Debug, Clone, Default)]
pub struct Cib {
    pub properties: HashMap<String, String>,
    pub have_quorum: bool,
    /// The cluster layer asked for suicide on quorum loss.
    pub no_quorum_panic: bool,
    pub dc_uuid: Option<String>,
    pub nodes: Vec<NodeConfig>,
    pub resources: Vec<ResourceConfig>,
    pub rsc_defaults: BTreeMap<String, String>,
    /// The rsc_defaults section, for rules that depend on the resource agent.
    pub rsc_defaults_xml: Option<Element>,
    pub op_defaults: BTreeMap<String, String>,
    pub locations: Vec<Location>,
    pub colocations: Vec<Colocation>,
    pub orders: Vec<Order>,
    /// The `rsc_order` elements as written: the scheduler reads resource
    /// sets from them the way Pacemaker does.
    pub order_xml: Vec<Element>,
    pub tickets: Vec<Ticket>,
    pub tags: HashMap<String, Vec<String>>,
    /// Ids of resource templates (they also appear in `tags`).
    pub templates: std::collections::HashSet<String>,
    pub fencing_levels: Vec<FencingLevel>,
    /// The `alerts` section: which agents to call on which events.
    pub alerts: Vec<crate::model::cib::alerts::Alert>,
    /// Shared, so that the scheduler's passes over the status section can
    /// hold it without copying every resource's history.
    pub node_states: Vec<std::sync::Arc<NodeState>>,
    pub ticket_state: HashMap<String, BTreeMap<String, String>>,
    /// What was left out because it could not be used, and warnings: the
    /// scheduler schedules everything else, as Pacemaker does.
    pub config_errors: Vec<ConfigIssue>,
}

impl Cib {
    /// Reads a CIB element tree, section by section. What cannot be used is
    /// left out and said in `config_errors`; only a CIB without a
    /// configuration is refused.
    pub fn from_xml(root: &Element, now_epoch_s: i64) -> Result<Cib, ModelError> {
        let config = root
            .child("configuration")
            .ok_or_else(|| ModelError::MissingSection("configuration".into()))?;
        let ctx = RuleContext {
            node_attrs: None,
            now_epoch_s,
            agent: None,
            op: None,
        };
        let mut cib = Cib {
            have_quorum: root.attr("have-quorum").map(parse_bool).unwrap_or(false),
            no_quorum_panic: root
                .attr("no-quorum-panic")
                .map(parse_bool)
                .unwrap_or(false),
            dc_uuid: root.attr("dc-uuid").map(str::to_string),
            ..Default::default()
        };
        properties::read_properties(&mut cib, root, config, &ctx);
        nodes::read_nodes(&mut cib, root, config, &ctx);
        resources::read_resources(&mut cib, root, config, &ctx);
        constraints::read_tags(&mut cib, config);
        constraints::read_constraints(&mut cib, config);
        fencing::read_topology(&mut cib, root);
        let (alerts, mut alert_issues) = alerts::read_alerts(root, config, now_epoch_s);
        cib.alerts = alerts;
        cib.config_errors.append(&mut alert_issues);
        if let Some(issue) = start_up_disabled(&cib, config) {
            cib.config_errors.push(issue);
        }
        status::read_status(&mut cib, root, &ctx);
        Ok(cib)
    }
}

/// Fencing is enabled with nothing to fence with: as in Pacemaker, no
/// resource is started, stopped or recovered (probes still run). Said as a
/// warning so that removing the last fence device stays possible.
fn start_up_disabled(cib: &Cib, config: &Element) -> Option<ConfigIssue> {
    if !cib.bool_property("fencing-enabled", true) || cib.bool_property("have-watchdog", false) {
        return None;
    }
    let mut device = false;
    if let Some(resources) = config.child("resources") {
        resources.walk(&mut |e| device |= agent::class_of(e) == Some(ResourceClass::Stonith));
    }
    (!device).then(|| {
        ConfigIssue::warning(
            "",
            "",
            "resource start-up disabled: fencing is enabled (stonith-enabled) but no fence \
             device is configured; add one (`resource create NAME stonith:AGENT ...`) or set \
             stonith-enabled=false",
        )
    })
}
