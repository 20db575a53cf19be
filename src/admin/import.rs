//! `cib import`: a whole configuration from a file, replacing or merged.

use super::*;

/// `cib import FILE [--merge]`: the file's configuration replaces the live
/// one (or, merged, its top-level elements are added or replaced by id),
/// after validation. The file may be a whole `<cib>` or a `<configuration>`.
pub fn cib_import(cib: &Element, text: &str, merge: bool) -> Result<Edit> {
    let document = Element::parse(text).map_err(|e| AdminError(format!("import refused: {e}")))?;
    let configuration = match document.name.as_str() {
        "cib" => document
            .child("configuration")
            .cloned()
            .ok_or_else(|| AdminError("import refused: <cib> has no <configuration>".into()))?,
        "configuration" => document,
        other => refuse!("import refused: expected <cib> or <configuration>, found <{other}>"),
    };
    let mut edit = Edit::new();
    if merge {
        let mut merged = configuration_of(cib);
        let mut count = 0;
        for section in &configuration.children {
            for element in &section.children {
                let Some(id) = element.id() else {
                    refuse!(
                        "import refused: <{}> in <{}> has no id, so it cannot be merged",
                        element.name,
                        section.name
                    );
                };
                let target = merged.child_or_insert(&section.name);
                match target.children.iter().position(|c| c.id() == Some(id)) {
                    Some(i) => target.children[i] = element.clone(),
                    None => {
                        if let Some(other) = find_definition(&merged, id) {
                            refuse!("import refused: {id:?} is already used by a <{}>; merging would make the id ambiguous", other.name);
                        }
                        merged
                            .child_or_insert(&section.name)
                            .children
                            .push(element.clone());
                    }
                }
                count += 1;
            }
        }
        crate::model::cib::validate::check(&merged).map_err(|errors| {
            AdminError(format!(
                "import refused, the merged configuration would be invalid:\n  {}",
                errors.join("\n  ")
            ))
        })?;
        edit.push(
            CibChange::ReplaceConfiguration(merged),
            format!("merged {count} elements into the configuration"),
        );
    } else {
        crate::model::cib::validate::check(&configuration).map_err(|errors| {
            AdminError(format!(
                "import refused, the configuration is invalid:\n  {}",
                errors.join("\n  ")
            ))
        })?;
        let count = configuration
            .children
            .iter()
            .map(|s| s.children.len())
            .sum::<usize>();
        edit.push(
            CibChange::ReplaceConfiguration(configuration),
            format!("replaced the configuration ({count} elements)"),
        );
    }
    Ok(edit)
}

/// The element that defines `id` (references like `<role id=..>` skipped).
fn find_definition<'a>(root: &'a Element, id: &str) -> Option<&'a Element> {
    root.children.iter().find_map(|child| {
        if child.id() == Some(id) && !crate::model::cib::validate::is_reference(&child.name) {
            Some(child)
        } else {
            find_definition(child, id)
        }
    })
}
