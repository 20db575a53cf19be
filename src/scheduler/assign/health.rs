//! Node health (`node-health-strategy`), as Pacemaker applies it: every
//! node attribute whose name starts with `#health` is a health indicator,
//! `red`, `yellow`, `green` or a score. A node's health is the sum of its
//! indicators (plus `node-health-base` for `progressive` and `custom`), and
//! it is added to every resource's score on that node, like a location
//! constraint, except where a negative health meets a resource with
//! `allow-unhealthy-nodes=true`.
//!
//! | strategy | red | yellow | green |
//! | --- | --- | --- | --- |
//! | `none` (default) | not tracked | | |
//! | `migrate-on-red` | -INFINITY | 0 | 0 |
//! | `only-green` | -INFINITY | -INFINITY | 0 |
//! | `progressive`, `custom` | `node-health-red` (-INFINITY) | `node-health-yellow` (0) | `node-health-green` (0) |
//!
//! Checked against Pacemaker's own regression cases (`systemhealth*`,
//! `allow-unhealthy-nodes`).

use crate::model::cib::score::{self, INFINITY};
use crate::scheduler::unpack::{Rsc, Working};

/// Each node's health under node-health-strategy (`None` when health is
/// not tracked): the sum of its `#health*` attributes (red, yellow, green
/// or a number), plus `node-health-base` for progressive and custom.
pub fn node_health(w: &Working) -> Option<Vec<i64>> {
    let strategy = w.cib.property("node-health-strategy").unwrap_or("none");
    if strategy == "none" {
        return None;
    }
    let colour = |name: &str, default: i64| {
        w.cib
            .property(&format!("node-health-{name}"))
            .and_then(score::parse)
            .unwrap_or(default)
    };
    let (red, yellow, green) = match strategy {
        "migrate-on-red" => (-INFINITY, 0, 0),
        "only-green" => (-INFINITY, -INFINITY, 0),
        _ => (
            colour("red", -INFINITY),
            colour("yellow", 0),
            colour("green", 0),
        ),
    };
    let base_health = if strategy == "progressive" || strategy == "custom" {
        w.cib
            .property("node-health-base")
            .and_then(score::parse)
            .unwrap_or(0)
    } else {
        0
    };
    let health = w
        .nodes
        .iter()
        .map(|node| {
            node.attrs
                .iter()
                .filter(|(k, _)| k.starts_with("#health"))
                .map(|(_, v)| match v.as_str() {
                    "red" => red,
                    "yellow" => yellow,
                    "green" => green,
                    other => score::parse(other).unwrap_or(0),
                })
                .fold(base_health, score::add)
        })
        .collect();
    Some(health)
}

/// `allow-unhealthy-nodes=true`: the resource ignores node health.
pub fn exempt(rsc: &Rsc) -> bool {
    rsc.meta
        .get("allow-unhealthy-nodes")
        .is_some_and(|v| crate::model::cib::parse_bool(v))
}

#[cfg(test)]
mod tests {
    fn cib(
        strategy: &str,
        n1_health: &str,
        allow_unhealthy: bool,
    ) -> crate::model::cib::xml::Element {
        let meta = if allow_unhealthy {
            r#"<meta_attributes id="web-meta"><nvpair id="web-au" name="allow-unhealthy-nodes" value="true"/></meta_attributes>"#
        } else {
            ""
        };
        crate::model::cib::xml::Element::parse(&format!(
            r##"<cib have-quorum="1"><configuration>
  <crm_config><cluster_property_set id="o">
    <nvpair id="o-s" name="stonith-enabled" value="false"/>
    <nvpair id="o-h" name="node-health-strategy" value="{strategy}"/>
  </cluster_property_set></crm_config>
  <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
  <resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy">{meta}</primitive></resources>
  <constraints><rsc_location id="prefer-n1" rsc="web" node="n1" score="100"/></constraints>
</configuration><status>
  <node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
    <transient_attributes id="n1"><instance_attributes id="status-n1">
      <nvpair id="status-n1-h" name="#health-cpu" value="{n1_health}"/>
    </instance_attributes></transient_attributes>
  </node_state>
  <node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
</status></cib>"##
        ))
        .unwrap()
    }

    fn starts_on(cib: &crate::model::cib::xml::Element) -> String {
        let t = crate::scheduler::schedule(cib, 0).unwrap();
        t.summary
            .iter()
            .find(|l| l.contains("Start") && l.contains("web"))
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn red_empties_a_node_under_migrate_on_red() {
        assert!(starts_on(&cib("migrate-on-red", "red", false)).contains("n2"));
        assert!(starts_on(&cib("migrate-on-red", "yellow", false)).contains("n1"));
        assert!(starts_on(&cib("none", "red", false)).contains("n1"));
    }

    #[test]
    fn only_green_also_refuses_yellow_and_allow_unhealthy_nodes_exempts() {
        assert!(starts_on(&cib("only-green", "yellow", false)).contains("n2"));
        assert!(starts_on(&cib("only-green", "green", false)).contains("n1"));
        assert!(starts_on(&cib("migrate-on-red", "red", true)).contains("n1"));
        // A score counts as itself: -200 outweighs the preference of 100.
        assert!(starts_on(&cib("progressive", "-200", false)).contains("n2"));
    }
}
