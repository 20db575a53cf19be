//! What-if edits of a CIB's status section, for a simulation: a node up or
//! down, an operation failed. `systole simulate` and the web console's
//! sandbox make them on a copy, never on the live CIB.

use super::*;

fn state_for<'a>(cib: &'a mut Element, node: &str) -> &'a mut Element {
    let status = cib.child_or_insert("status");
    let pos = status.children.iter().position(|c| {
        c.name == "node_state" && (c.attr("uname") == Some(node) || c.attr("id") == Some(node))
    });
    match pos {
        Some(i) => &mut status.children[i],
        None => {
            status.children.push(
                Element::new("node_state")
                    .with_attr("id", node)
                    .with_attr("uname", node),
            );
            status.children.last_mut().expect("just pushed")
        }
    }
}

/// Marks `node` up (in the cluster, its daemon running) or down in the status.
pub fn set_node(cib: &mut Element, node: &str, up: bool) {
    let ns = state_for(cib, node);
    if up {
        ns.set_attr("in_ccm", "true");
        ns.set_attr("crmd", "online");
        ns.set_attr("join", "member");
        ns.set_attr("expected", "member");
    } else {
        ns.set_attr("in_ccm", "false");
        ns.set_attr("crmd", "offline");
        ns.set_attr("join", "down");
        ns.set_attr("expected", "member");
    }
}

/// Records a failed operation `RSC_OP_INTERVAL@NODE=RC` at `now`.
pub fn inject_failure(cib: &mut Element, spec: &str, now: i64) -> Result<()> {
    let (key, rest) = spec
        .split_once('@')
        .ok_or_else(|| AdminError("--op-fail wants RSC_OP_INTERVAL@NODE=RC".into()))?;
    let (node, rc) = rest
        .split_once('=')
        .ok_or_else(|| AdminError("--op-fail wants RSC_OP_INTERVAL@NODE=RC".into()))?;
    let mut parts = key.rsplitn(3, '_');
    let interval = parts
        .next()
        .ok_or_else(|| AdminError("missing interval".into()))?
        .to_string();
    let op = parts
        .next()
        .ok_or_else(|| AdminError("missing operation".into()))?
        .to_string();
    let rsc = parts
        .next()
        .ok_or_else(|| AdminError("missing resource".into()))?
        .to_string();
    let agent = cib
        .find_by_id(Some("primitive"), rsc.split(':').next().unwrap_or(&rsc))
        .cloned();
    let ns = state_for(cib, node);
    let lrm = ns.child_or_insert("lrm");
    let resources = lrm.child_or_insert("lrm_resources");
    let pos = resources
        .children
        .iter()
        .position(|c| c.attr("id") == Some(rsc.as_str()));
    let entry = match pos {
        Some(i) => &mut resources.children[i],
        None => {
            let mut e = Element::new("lrm_resource").with_attr("id", rsc.clone());
            if let Some(a) = &agent {
                for k in ["class", "provider", "type"] {
                    if let Some(v) = a.attr(k) {
                        e.set_attr(k, v);
                    }
                }
            }
            resources.children.push(e);
            resources.children.last_mut().expect("just pushed")
        }
    };
    let max_call = entry
        .children
        .iter()
        .filter_map(|c| c.attr("call-id").and_then(|v| v.parse::<i64>().ok()))
        .max()
        .unwrap_or(0);
    entry.children.push(
        Element::new("lrm_rsc_op")
            .with_attr("id", format!("{rsc}_last_failure_0"))
            .with_attr("operation_key", key)
            .with_attr("operation", op)
            .with_attr("interval", interval)
            .with_attr("rc-code", rc)
            .with_attr("op-status", "0")
            .with_attr("call-id", (max_call + 1).to_string())
            .with_attr("on_node", node)
            .with_attr("last-rc-change", now.to_string()),
    );
    Ok(())
}
