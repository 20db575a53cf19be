//! The benchmark's workload: a large CIB made up in code, so the benchmark
//! needs nothing beside the checkout.
//!
//! `nodes` online nodes (`node1`..) and `resources` `ocf:heartbeat:Dummy`
//! primitives, each with a 10 s monitor and `resource-stickiness=100` by
//! default. The first quarter are groups of four, each group preferring one
//! node (score 50); the rest are single primitives, each preferring one node
//! (scores 10..49), and every third one is colocated with (score 20) and
//! ordered after (Mandatory) the primitive before it. Placement is spread
//! round-robin over the nodes.
//!
//! With `running`, the status section shows every resource started (and
//! monitored) on the node it prefers, with the digests a real run records,
//! so there is nothing to do; with `failed_node`, that node has left the
//! cluster and its resources must move: the case a DC computes after a loss.

use std::collections::BTreeMap;
use std::fmt::Write;

use systole::model::cib::digest::op_digest;

const MONITOR_INTERVAL_MS: u64 = 10_000;
const MONITOR_TIMEOUT_MS: u64 = 20_000;

/// What to generate.
pub struct ScaleCib<'a> {
    pub nodes: usize,
    pub resources: usize,
    pub running: bool,
    pub failed_node: Option<&'a str>,
}

/// One primitive and the node it prefers.
struct Placed {
    id: String,
    node: String,
}

impl ScaleCib<'_> {
    /// The CIB as XML text.
    pub fn xml(&self) -> String {
        let nodes: Vec<String> = (1..=self.nodes).map(|i| format!("node{i}")).collect();
        let mut resources = String::new();
        let mut constraints = String::new();
        let placed = self.resources_and_constraints(&nodes, &mut resources, &mut constraints);
        let mut out = String::new();
        out.push_str(
            "<cib admin_epoch=\"0\" epoch=\"1\" num_updates=\"1\" dc-uuid=\"node1\" have-quorum=\"1\" \
             validate-with=\"pacemaker-3.0\" crm_feature_set=\"3.0.14\">\n<configuration>\n",
        );
        out.push_str(
            "<crm_config><cluster_property_set id=\"cib-bootstrap-options\">\
             <nvpair id=\"opt-stonith-enabled\" name=\"stonith-enabled\" value=\"false\"/>\
             <nvpair id=\"opt-no-quorum-policy\" name=\"no-quorum-policy\" value=\"ignore\"/>\
             </cluster_property_set></crm_config>\n<nodes>\n",
        );
        for node in &nodes {
            let _ = writeln!(
                out,
                "<node id=\"{node}\" uname=\"{node}\" type=\"member\"/>"
            );
        }
        let _ = write!(
            out,
            "</nodes>\n<resources>\n{resources}</resources>\n<constraints>\n{constraints}</constraints>\n\
             <rsc_defaults><meta_attributes id=\"rsc-defaults\">\
             <nvpair id=\"rsc-defaults-stickiness\" name=\"resource-stickiness\" value=\"100\"/>\
             </meta_attributes></rsc_defaults>\n</configuration>\n<status>\n"
        );
        for node in &nodes {
            self.node_state(node, &placed, &mut out);
        }
        out.push_str("</status>\n</cib>\n");
        out
    }

    fn resources_and_constraints(
        &self,
        nodes: &[String],
        resources: &mut String,
        constraints: &mut String,
    ) -> Vec<Placed> {
        let grouped = self.resources / 4 / 4 * 4;
        let mut placed = Vec::with_capacity(self.resources);
        for group in 0..grouped / 4 {
            let node = &nodes[group % nodes.len()];
            let _ = write!(resources, "<group id=\"grp{group}\">");
            for member in 0..4 {
                let id = format!("g{group}r{member}");
                primitive(&id, resources);
                placed.push(Placed {
                    id,
                    node: node.clone(),
                });
            }
            resources.push_str("</group>\n");
            let _ = writeln!(
                constraints,
                "<rsc_location id=\"loc-grp{group}\" rsc=\"grp{group}\" node=\"{node}\" score=\"50\"/>"
            );
        }
        for i in grouped..self.resources {
            let id = format!("r{i}");
            let node = &nodes[i % nodes.len()];
            primitive(&id, resources);
            resources.push('\n');
            let _ = writeln!(
                constraints,
                "<rsc_location id=\"loc-{id}\" rsc=\"{id}\" node=\"{node}\" score=\"{}\"/>",
                10 + i % 40
            );
            if i % 3 == 0 && i > grouped {
                let before = format!("r{}", i - 1);
                let _ = writeln!(
                    constraints,
                    "<rsc_colocation id=\"col-{id}\" rsc=\"{id}\" with-rsc=\"{before}\" score=\"20\"/>\n\
                     <rsc_order id=\"ord-{id}\" first=\"{before}\" then=\"{id}\" kind=\"Mandatory\"/>"
                );
            }
            placed.push(Placed {
                id,
                node: node.clone(),
            });
        }
        placed
    }

    fn node_state(&self, node: &str, placed: &[Placed], out: &mut String) {
        if self.failed_node == Some(node) {
            let _ = writeln!(
                out,
                "<node_state id=\"{node}\" uname=\"{node}\" in_ccm=\"false\" crmd=\"offline\" \
                 join=\"down\" expected=\"down\"/>"
            );
            return;
        }
        let _ = write!(
            out,
            "<node_state id=\"{node}\" uname=\"{node}\" in_ccm=\"true\" crmd=\"online\" \
             join=\"member\" expected=\"member\">\n<lrm id=\"{node}\"><lrm_resources>\n"
        );
        if self.running {
            let mut call_id = 0;
            for p in placed.iter().filter(|p| p.node == node) {
                let _ = write!(
                    out,
                    "<lrm_resource id=\"{}\" class=\"ocf\" provider=\"heartbeat\" type=\"Dummy\">",
                    p.id
                );
                call_id += 1;
                history_entry(&p.id, node, "start", 0, call_id, out);
                call_id += 1;
                history_entry(&p.id, node, "monitor", MONITOR_INTERVAL_MS, call_id, out);
                out.push_str("</lrm_resource>\n");
            }
        }
        out.push_str("</lrm_resources></lrm>\n</node_state>\n");
    }
}

fn primitive(id: &str, out: &mut String) {
    let _ = write!(
        out,
        "<primitive id=\"{id}\" class=\"ocf\" provider=\"heartbeat\" type=\"Dummy\"><operations>\
         <op id=\"{id}-monitor-10s\" name=\"monitor\" interval=\"10s\" timeout=\"20s\"/>\
         </operations></primitive>"
    );
}

/// One successful operation in a resource's history, as the executor
/// records it (the digest over no parameters, plus the monitor's timeout).
fn history_entry(id: &str, node: &str, op: &str, interval_ms: u64, call_id: u32, out: &mut String) {
    let no_params = BTreeMap::new();
    let digest = op_digest(&no_params, &no_params, interval_ms, MONITOR_TIMEOUT_MS);
    let entry_id = if interval_ms == 0 {
        format!("{id}_last_0")
    } else {
        format!("{id}_{op}_{interval_ms}")
    };
    let _ = write!(
        out,
        "<lrm_rsc_op id=\"{entry_id}\" operation_key=\"{id}_{op}_{interval_ms}\" operation=\"{op}\" \
         interval=\"{interval_ms}\" rc-code=\"0\" op-status=\"0\" call-id=\"{call_id}\" \
         on_node=\"{node}\" op-digest=\"{digest}\" crm_feature_set=\"3.0.14\" \
         transition-key=\"0:0:0:00000000-0000-0000-0000-000000000000\" \
         transition-magic=\"0:0;0:0:0:00000000-0000-0000-0000-000000000000\" \
         last-rc-change=\"1600000000\" exec-time=\"10\" queue-time=\"0\"/>"
    );
}
