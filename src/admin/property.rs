//! Cluster properties (`crm_config`) and resource/operation defaults.

use super::*;

/// Cluster options Pacemaker knows (old and new names).
pub const KNOWN_PROPERTIES: &[&str] = &[
    "batch-limit",
    "cluster-delay",
    "cluster-infrastructure",
    "cluster-ipc-limit",
    "cluster-name",
    "cluster-recheck-interval",
    "concurrent-fencing",
    "dc-deadtime",
    "dc-version",
    "election-timeout",
    "enable-acl",
    "enable-startup-probes",
    "fence-reaction",
    "fencing-action",
    "fencing-enabled",
    "fencing-timeout",
    "have-watchdog",
    "join-finalization-timeout",
    "join-integration-timeout",
    "load-threshold",
    "maintenance-mode",
    "migration-limit",
    "no-quorum-policy",
    "node-action-limit",
    "node-health-base",
    "node-health-green",
    "node-health-red",
    "node-health-strategy",
    "node-health-yellow",
    "node-pending-timeout",
    "pe-error-series-max",
    "pe-input-series-max",
    "pe-warn-series-max",
    "placement-strategy",
    "priority-fencing-delay",
    "shutdown-escalation",
    "shutdown-lock",
    "shutdown-lock-limit",
    "start-failure-is-fatal",
    "startup-fencing",
    "stonith-action",
    "stonith-enabled",
    "stonith-max-attempts",
    "stonith-timeout",
    "stonith-watchdog-timeout",
    "stop-all-resources",
    "stop-orphan-actions",
    "stop-orphan-resources",
    "symmetric-cluster",
    "transition-delay",
];

const BOOLEAN_PROPERTIES: &[&str] = &[
    "concurrent-fencing",
    "enable-acl",
    "enable-startup-probes",
    "fencing-enabled",
    "maintenance-mode",
    "start-failure-is-fatal",
    "startup-fencing",
    "stonith-enabled",
    "stop-all-resources",
    "stop-orphan-actions",
    "stop-orphan-resources",
    "symmetric-cluster",
    "shutdown-lock",
];

fn check_property(name: &str, value: &str, force: bool) -> Result<()> {
    if !KNOWN_PROPERTIES.contains(&name) && !force {
        refuse!("unknown cluster property {name:?} (use --force to set it anyway)");
    }
    if BOOLEAN_PROPERTIES.contains(&name)
        && !["true", "false", "yes", "no", "on", "off", "1", "0"]
            .contains(&value.to_ascii_lowercase().as_str())
    {
        refuse!("{name} takes true or false, not {value:?}");
    }
    if name == "no-quorum-policy"
        && !["stop", "freeze", "ignore", "demote", "suicide", "fence"].contains(&value)
    {
        refuse!(
            "no-quorum-policy takes stop, freeze, ignore, demote, suicide or fence, not {value:?}"
        );
    }
    if name.ends_with("-timeout") || name.ends_with("-interval") || name.ends_with("-delay") {
        parse_duration_ms(value)?;
    }
    Ok(())
}

/// `property set NAME=VALUE...` (an empty value unsets).
pub fn property_set(cib: &Element, assignments: &[String], force: bool) -> Result<Edit> {
    if assignments.is_empty() {
        refuse!("usage: property set NAME=VALUE...");
    }
    let mut edit = Edit::new();
    for assignment in assignments {
        let (name, value) = split_pair(assignment)?;
        if value.is_empty() {
            let one = property_unset(cib, &[name])?;
            edit.changes.extend(one.changes);
            edit.summary.extend(one.summary);
            continue;
        }
        check_property(&name, &value, force)?;
        let before = property_get(cib, &name);
        let what = match before {
            Some(old) => format!("property {name}: {old} -> {value}"),
            None => format!("property {name} set to {value}"),
        };
        edit.push(
            CibChange::SetProperty {
                name,
                value: Some(value),
            },
            what,
        );
    }
    Ok(edit)
}

pub fn property_unset(cib: &Element, names: &[String]) -> Result<Edit> {
    let mut edit = Edit::new();
    for name in names {
        if property_get(cib, name).is_none() {
            refuse!("property {name:?} is not set");
        }
        edit.push(
            CibChange::SetProperty {
                name: name.clone(),
                value: None,
            },
            format!("property {name} unset (back to its default)"),
        );
    }
    Ok(edit)
}

pub fn property_get(cib: &Element, name: &str) -> Option<String> {
    let crm_config = configuration(cib)?.child("crm_config")?;
    let mut found = None;
    crm_config.walk(&mut |e| {
        if e.name == "nvpair" && e.attr("name") == Some(name) {
            found = e.attr("value").map(String::from);
        }
    });
    found
}

/// `property list`: name=value lines.
pub fn property_list(cib: &Element) -> String {
    nvpair_lines(
        cib,
        "crm_config",
        "no cluster properties set (all defaults)\n",
    )
}

/// Every nvpair below configuration's `section`, as name=value lines, or
/// `when_empty`.
fn nvpair_lines(cib: &Element, section: &str, when_empty: &str) -> String {
    let mut out = String::new();
    if let Some(section) = configuration(cib).and_then(|c| c.child(section)) {
        section.walk(&mut |e| {
            if e.name == "nvpair" {
                out.push_str(&format!(
                    "{}={}\n",
                    e.attr("name").unwrap_or("?"),
                    e.attr("value").unwrap_or("")
                ));
            }
        });
    }
    if out.is_empty() {
        out.push_str(when_empty);
    }
    out
}

// ---------------------------------------------------------------- defaults

/// `resource defaults NAME=VALUE...` (`section` rsc_defaults) and
/// `resource op defaults NAME=VALUE...` (op_defaults); `NAME=` removes.
/// Edits the section's first meta_attributes set, made with pcs's id
/// (`rsc_defaults-meta_attributes`) if there is none.
pub fn defaults_set(cib: &Element, section: &str, assignments: &[String]) -> Result<Edit> {
    let what = if section == "op_defaults" {
        "operation default"
    } else {
        "resource default"
    };
    if assignments.is_empty() {
        refuse!("give NAME=VALUE to set a {what}");
    }
    let existing = configuration(cib)
        .and_then(|c| c.child(section))
        .and_then(|s| s.child("meta_attributes"))
        .cloned();
    let mut set = existing.unwrap_or_else(|| {
        Element::new("meta_attributes").with_attr("id", format!("{section}-meta_attributes"))
    });
    if set.id().is_none() {
        refuse!("the <meta_attributes> of <{section}> has no id");
    }
    let set_id = set.id().unwrap_or_default().to_string();
    if set.children.is_empty() && find(cib, &set_id).is_none() {
        check_id_syntax(&set_id)?;
    }
    let mut said = Vec::new();
    for assignment in assignments {
        let (name, value) = split_pair(assignment)?;
        if (name.ends_with("timeout") || name == "interval") && !value.is_empty() {
            parse_duration_ms(&value)?;
        }
        let index = set
            .children
            .iter()
            .position(|c| c.name == "nvpair" && c.attr("name") == Some(name.as_str()));
        match (index, value.is_empty()) {
            (Some(i), true) => {
                set.children.remove(i);
                said.push(format!("{what} {name} removed"));
            }
            (Some(i), false) => {
                set.children[i].set_attr("value", value.clone());
                said.push(format!("{what} {name}={value}"));
            }
            (None, false) => {
                set.children.push(nvpair(&set_id, &name, &value));
                said.push(format!("{what} {name}={value}"));
            }
            (None, true) => refuse!("{what} {name} is not set"),
        }
    }
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: section.into(),
            element: set,
        },
        said.join(", "),
    );
    Ok(edit)
}

/// name=value lines of `rsc_defaults` or `op_defaults`.
pub fn defaults_list(cib: &Element, section: &str) -> String {
    nvpair_lines(cib, section, "no defaults set\n")
}
