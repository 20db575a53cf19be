//! The actions an administrator takes from the status page, as the same
//! [`crate::admin`] edits the CLI makes (`node standby`, `resource move`,
//! ...). Pure: the form and the current CIB in, an edit or a clear refusal
//! out.

use crate::admin::{self, Edit};
use crate::model::cib::xml::Element;
use serde::Deserialize;

/// A submitted action form (every field a string: a bad value is refused
/// here with words, not by the form decoder).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub csrf: String,
}

fn need<'a>(value: &'a str, what: &str, action: &str) -> Result<&'a str, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{action}: which {what}?"));
    }
    Ok(value)
}

/// The edit an action makes on `cib` at `now_epoch_s`.
pub fn edit_for(cib: &Element, form: &ActionForm, now_epoch_s: i64) -> Result<Edit, String> {
    let action = form.action.as_str();
    let node = || need(&form.node, "node", action);
    let resource = || need(&form.resource, "resource", action);
    let edit = match action {
        "standby" => admin::node_standby(cib, node()?),
        "online" => admin::node_online(cib, node()?),
        "maintenance-on" => admin::node_maintenance(cib, node()?, true),
        "maintenance-off" => admin::node_maintenance(cib, node()?, false),
        "cluster-maintenance-on" => {
            admin::property_set(cib, &["maintenance-mode=true".into()], false)
        }
        "cluster-maintenance-off" => admin::property_unset(cib, &["maintenance-mode".into()]),
        "move" => match form.node.trim() {
            "" => admin::resource_move_away(cib, resource()?, None, now_epoch_s),
            to => admin::resource_move(cib, resource()?, to, None, now_epoch_s),
        },
        "ban" => admin::resource_ban(cib, resource()?, node()?, None, now_epoch_s),
        "clear" => {
            let on = Some(form.node.trim()).filter(|n| !n.is_empty());
            admin::resource_clear(cib, resource()?, on)
        }
        "cleanup" => {
            let on = Some(form.node.trim()).filter(|n| !n.is_empty());
            admin::resource_cleanup(cib, Some(resource()?), on)
        }
        "enable" => admin::resource_enable(cib, resource()?),
        "disable" => admin::resource_disable(cib, resource()?),
        other => return Err(format!("unknown action {other:?}")),
    };
    edit.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib() -> Element {
        crate::web::two_nodes_and_web()
    }

    fn form(action: &str, node: &str, resource: &str) -> ActionForm {
        ActionForm {
            action: action.into(),
            node: node.into(),
            resource: resource.into(),
            csrf: String::new(),
        }
    }

    #[test]
    fn each_action_is_the_cli_edit() {
        let cib = cib();
        for (action, node, resource) in [
            ("standby", "node1", ""),
            ("online", "node1", ""),
            ("maintenance-on", "node2", ""),
            ("cluster-maintenance-on", "", ""),
            ("move", "node2", "web"),
            ("ban", "node1", "web"),
            ("disable", "", "web"),
            ("enable", "", "web"),
        ] {
            let edit = edit_for(&cib, &form(action, node, resource), 0)
                .unwrap_or_else(|e| panic!("{action}: {e}"));
            assert!(!edit.is_empty(), "{action}");
        }
        let standby = edit_for(&cib, &form("standby", "node1", ""), 0).unwrap();
        assert_eq!(standby, admin::node_standby(&cib, "node1").unwrap());
    }

    #[test]
    fn bad_forms_are_refused_in_words() {
        let cib = cib();
        let missing = edit_for(&cib, &form("standby", " ", ""), 0).unwrap_err();
        assert!(missing.contains("which node"), "{missing}");
        let unknown = edit_for(&cib, &form("rm -rf", "", ""), 0).unwrap_err();
        assert!(unknown.contains("unknown action"), "{unknown}");
        let no_such = edit_for(&cib, &form("disable", "", "nope"), 0).unwrap_err();
        assert!(!no_such.is_empty());
    }
}
