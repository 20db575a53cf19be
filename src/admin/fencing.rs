//! Fencing topology from the command line (`systole fence level
//! add|remove|list`), as `pcs stonith level` does it: levels are
//! `fencing-level` elements of `fencing-topology`, id `fl-TARGET-INDEX`.

use super::{configuration, AdminError, Edit, Result};
use crate::model::cib::agent::{class_of, ResourceClass};
use crate::model::cib::change::CibChange;
use crate::model::cib::fencing::{topology, FencingLevel, LevelTarget};
use crate::model::cib::xml::Element;

/// Levels are tried from 1 up; Pacemaker allows 1-9.
pub use crate::model::cib::fencing::LEVEL_INDEX_MAX;

fn level_id(target: &str, index: u32) -> String {
    format!("fl-{target}-{index}")
}

/// The levels as the fencer reads them (the model's one reader).
fn levels(cib: &Element) -> Vec<FencingLevel> {
    topology(cib).0
}

/// The node a level names, if it names one (not a pattern or attribute).
fn node_target(level: &FencingLevel) -> Option<&str> {
    match &level.target {
        LevelTarget::Node(node) => Some(node),
        LevelTarget::Pattern(_) | LevelTarget::Attribute { .. } => None,
    }
}

/// How `fence level list` names a level's target.
fn target_text(level: &FencingLevel) -> String {
    match &level.target {
        LevelTarget::Node(node) => node.clone(),
        LevelTarget::Pattern(pattern) => format!("regexp {}", pattern.as_str()),
        LevelTarget::Attribute { name, value } => format!("{name}={value}"),
    }
}

fn is_fence_device(cib: &Element, id: &str) -> bool {
    configuration(cib)
        .and_then(|c| c.child("resources"))
        .and_then(|r| r.find_by_id(Some("primitive"), id))
        .is_some_and(|p| class_of(p) == Some(ResourceClass::Stonith))
}

/// `fence level add INDEX TARGET DEVICE...`: at level INDEX, fencing TARGET
/// needs every DEVICE to succeed.
pub fn level_add(cib: &Element, index: u32, target: &str, devices: &[String]) -> Result<Edit> {
    if !(1..=LEVEL_INDEX_MAX).contains(&index) {
        refuse!("level {index} is out of range: levels are 1 to {LEVEL_INDEX_MAX}");
    }
    if devices.is_empty() {
        refuse!("which devices? fence level add {index} {target} DEVICE...");
    }
    let known_node = configuration(cib)
        .and_then(|c| c.child("nodes"))
        .is_some_and(|n| {
            n.children_named("node")
                .any(|n| n.attr("uname") == Some(target))
        });
    if !known_node {
        refuse!("no node {target} is configured");
    }
    for device in devices {
        if !is_fence_device(cib, device) {
            refuse!("{device} is not a fence device (a stonith primitive)");
        }
    }
    if levels(cib)
        .iter()
        .any(|l| node_target(l) == Some(target) && l.index == index)
    {
        refuse!("{target} already has a level {index}; remove it first");
    }
    let id = level_id(target, index);
    let element = Element::new("fencing-level")
        .with_attr("id", id.clone())
        .with_attr("target", target)
        .with_attr("index", index.to_string())
        .with_attr("devices", devices.join(","));
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "fencing-topology".into(),
            element,
        },
        format!(
            "added fencing level {index} for {target}: {} ({id})",
            devices.join(" and ")
        ),
    );
    Ok(edit)
}

/// `fence level remove INDEX [TARGET]`: that level (of every target when
/// none is given).
pub fn level_remove(cib: &Element, index: u32, target: Option<&str>) -> Result<Edit> {
    let mut edit = Edit::new();
    for level in levels(cib) {
        let same_index = level.index == index;
        let same_target = target.is_none_or(|t| node_target(&level) == Some(t));
        if same_index && same_target {
            let id = level.id.clone();
            edit.push(
                CibChange::Delete { id: id.clone() },
                format!(
                    "removed fencing level {index} for {} ({id})",
                    target_text(&level)
                ),
            );
        }
    }
    if edit.is_empty() {
        match target {
            Some(target) => refuse!("{target} has no fencing level {index}"),
            None => refuse!("no node has a fencing level {index}"),
        }
    }
    Ok(edit)
}

/// `fence level list`: by target, levels in order.
pub fn level_list(cib: &Element) -> String {
    let mut rows: Vec<(String, u32, String)> = levels(cib)
        .iter()
        .map(|l| (target_text(l), l.index, l.devices.join(" ")))
        .collect();
    rows.sort();
    if rows.is_empty() {
        return "no fencing levels: every device that can fence a node is tried in turn\n".into();
    }
    let mut out = String::new();
    let mut last_target = None;
    for (target, index, devices) in rows {
        if last_target.as_deref() != Some(target.as_str()) {
            out.push_str(&format!("Target: {target}\n"));
            last_target = Some(target);
        }
        out.push_str(&format!("  Level {index} - {devices}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib() -> Element {
        Element::parse(
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/>
              <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
              <resources>
                <primitive id="ipmi" class="stonith" type="fence_ipmilan"/>
                <primitive id="pdu" class="stonith" type="fence_apc"/>
                <primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/>
              </resources><constraints/></configuration><status/></cib>"#,
        )
        .unwrap()
    }

    #[test]
    fn levels_are_added_listed_and_removed() {
        let mut cib = cib();
        let devices = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        level_add(&cib, 1, "n1", &devices(&["ipmi"]))
            .unwrap()
            .apply(&mut cib)
            .unwrap();
        level_add(&cib, 2, "n1", &devices(&["pdu", "ipmi"]))
            .unwrap()
            .apply(&mut cib)
            .unwrap();
        level_add(&cib, 1, "n2", &devices(&["pdu"]))
            .unwrap()
            .apply(&mut cib)
            .unwrap();
        let level = cib.find_by_id(Some("fencing-level"), "fl-n1-2").unwrap();
        assert_eq!(level.attr("devices"), Some("pdu,ipmi"));
        assert_eq!(
            level_list(&cib),
            "Target: n1\n  Level 1 - ipmi\n  Level 2 - pdu ipmi\nTarget: n2\n  Level 1 - pdu\n"
        );
        // The fencer reads them as it reads any topology.
        let order: Vec<Vec<String>> = crate::model::cib::fencing::levels_for(&cib, "n1", 0)
            .into_iter()
            .map(|l| l.into_iter().map(|d| d.id).collect())
            .collect();
        assert_eq!(
            order,
            vec![vec!["ipmi".to_string()], vec!["pdu".into(), "ipmi".into()]]
        );
        assert!(level_add(&cib, 1, "n1", &devices(&["pdu"]))
            .unwrap_err()
            .0
            .contains("already"));
        assert!(level_add(&cib, 3, "n1", &devices(&["web"]))
            .unwrap_err()
            .0
            .contains("not a fence device"));
        assert!(level_add(&cib, 3, "n9", &devices(&["pdu"]))
            .unwrap_err()
            .0
            .contains("no node n9"));
        assert!(level_add(&cib, 10, "n1", &devices(&["pdu"])).is_err());
        level_remove(&cib, 1, None)
            .unwrap()
            .apply(&mut cib)
            .unwrap();
        assert_eq!(level_list(&cib), "Target: n1\n  Level 2 - pdu ipmi\n");
        assert!(level_remove(&cib, 1, Some("n1")).is_err());
    }
}
