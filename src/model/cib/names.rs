//! What a CIB id, a node name and an attribute name may be: checked at the
//! edge (the CLI, the control socket, the config file), so nothing written
//! into the CIB makes it invalid or unreadable.

use super::xml::Element;

/// Longest node name, in bytes (a host name label is at most 63).
pub const NODE_NAME_BYTES_MAX: usize = 64;
/// Longest attribute name, in bytes.
pub const ATTRIBUTE_NAME_BYTES_MAX: usize = 256;

/// XML ids as Pacemaker accepts them: a letter or `_` first, then letters,
/// digits, `_`, `-`, `.`.
pub fn check_id(id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(format!(
            "invalid id {id:?}: ids start with a letter or '_' and hold letters, digits, '_', '-', '.'"
        ));
    }
    Ok(())
}

/// An id made from arbitrary text, as Pacemaker's `crm_xml_sanitize_id`:
/// each character an id may not hold becomes `.`, and one that may not
/// start it gets a `_` before it.
pub fn sanitize_id(text: &str) -> String {
    let mut id: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        id.insert(0, '_');
    }
    id
}

/// A node name: 1 to 64 letters, digits, `-`, `_` or `.` (a host name).
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= NODE_NAME_BYTES_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid node name {name:?}: 1-{NODE_NAME_BYTES_MAX} letters, digits, '-', '_' or '.'"
        ))
    }
}

/// A node or cluster attribute's name: printable ASCII without quotes,
/// `<`, `>`, `&`, `=` or spaces, at most 256 bytes; names starting with
/// `#` are the cluster's own (`#uname`, `#id`, `#kind`...) except the
/// node-health ones (`#health-*`), which operators and agents set.
pub fn check_attribute_name(name: &str) -> Result<(), String> {
    let printable = name
        .chars()
        .all(|c| c.is_ascii_graphic() && !"\"'<>&=".contains(c));
    if name.is_empty() || name.len() > ATTRIBUTE_NAME_BYTES_MAX || !printable {
        return Err(format!(
            "invalid attribute name {name:?}: 1-{ATTRIBUTE_NAME_BYTES_MAX} printable ASCII \
             characters, no spaces, quotes, '<', '>', '&' or '='"
        ));
    }
    if name.starts_with('#') && !name.starts_with("#health") {
        return Err(format!(
            "attribute name {name:?} is reserved: names starting with '#' are the cluster's own \
             (#uname, #id, #kind, ...); only #health-* may be set"
        ));
    }
    Ok(())
}

/// Every node the CIB knows: configured (`<node uname>`) or with a state.
pub fn known_nodes(cib: &Element) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: Option<&str>| {
        if let Some(name) = name {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    };
    if let Some(nodes) = cib.child("configuration").and_then(|c| c.child("nodes")) {
        for n in nodes.children_named("node") {
            add(n.attr("uname").or_else(|| n.id()));
        }
    }
    if let Some(status) = cib.child("status") {
        for n in status.children_named("node_state") {
            add(n.attr("uname").or_else(|| n.id()));
        }
    }
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert!(check_id("web-1").is_ok());
        assert!(check_id("9web").is_err());
        assert_eq!(
            sanitize_id("status-n1-fail-count-db#monitor_10000"),
            "status-n1-fail-count-db.monitor_10000"
        );
        assert_eq!(sanitize_id("#x"), "_.x");
        assert!(check_id(&sanitize_id("é 1 <x>")).is_ok());
        assert!(check_node_name("node-1.example").is_ok());
        for bad in ["", "a b", "n/1", "..", &"n".repeat(65)] {
            assert!(check_node_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_attribute_name("master-db").is_ok());
        assert!(check_attribute_name("#health-disk").is_ok());
        for bad in ["#uname", "#id", "a=b", "a b", "", "x\"y", "é"] {
            assert!(check_attribute_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_attribute_name("#uname")
            .unwrap_err()
            .contains("reserved"));
    }

    #[test]
    fn known_nodes_from_configuration_and_status() {
        let cib = Element::parse(
            r#"<cib><configuration><nodes><node id="1" uname="n1"/></nodes></configuration>
               <status><node_state id="n2" uname="n2"/><node_state id="1" uname="n1"/></status></cib>"#,
        )
        .unwrap();
        assert_eq!(known_nodes(&cib), vec!["n1", "n2"]);
    }
}
