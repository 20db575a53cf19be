//! A structural diff of two XML trees, element by element.
//!
//! Children are matched by tag and `id` (elements without an id by tag and
//! position among their id-less siblings), so a reordering of resources is
//! not reported as a removal and an addition of everything after it. The
//! result serves `systole cib shadow diff` (rendered as text) and ACL write
//! checks (every element touched must be writable).
//!
//! ```
//! use systole::model::cib::{diff, xml::Element};
//! let old = Element::parse(r#"<configuration><resources/></configuration>"#).unwrap();
//! let new = Element::parse(r#"<configuration><resources><primitive id="web"/></resources></configuration>"#).unwrap();
//! let changes = diff::diff(&old, &new);
//! assert_eq!(changes.len(), 1);
//! assert_eq!(diff::render(&changes).trim(), "+ /configuration/resources/primitive[@id='web']\n    <primitive id=\"web\"/>");
//! ```

use crate::model::cib::xml::Element;

/// One step of a path from the root: the element's tag and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

impl Step {
    pub fn of(element: &Element) -> Step {
        Step {
            name: element.name.clone(),
            attrs: element.attrs.clone(),
        }
    }

    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A path from the root to an element, root included.
pub type Path = Vec<Step>;

/// Renders a path as XPath with `[@id='x']` predicates where there is an id.
pub fn xpath(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        out.push('/');
        out.push_str(&step.name);
        if let Some(id) = step.attr("id") {
            out.push_str(&format!("[@id='{id}']"));
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new element (with its whole subtree).
    Added { path: Path, element: Element },
    /// An element gone (with its whole subtree).
    Removed { path: Path, element: Element },
    /// Attributes or text of an element that exists on both sides changed.
    Modified {
        path: Path,
        before: Vec<(String, String)>,
        after: Vec<(String, String)>,
    },
}

impl Change {
    pub fn path(&self) -> &Path {
        match self {
            Change::Added { path, .. }
            | Change::Removed { path, .. }
            | Change::Modified { path, .. } => path,
        }
    }
}

/// The changes that turn `old` into `new`; both roots are taken to be the
/// same element (their own attribute changes are reported too).
pub fn diff(old: &Element, new: &Element) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut path = Vec::new();
    diff_into(old, new, &mut path, &mut changes);
    changes
}

fn key_of(children: &[Element], index: usize) -> (String, Option<String>, usize) {
    let child = &children[index];
    match child.id() {
        Some(id) => (child.name.clone(), Some(id.to_string()), 0),
        None => {
            let nth = children[..index]
                .iter()
                .filter(|c| c.name == child.name && c.id().is_none())
                .count();
            (child.name.clone(), None, nth)
        }
    }
}

fn diff_into(old: &Element, new: &Element, path: &mut Path, changes: &mut Vec<Change>) {
    path.push(Step::of(new));
    if old.attrs != new.attrs || old.text != new.text {
        let mut before = old.attrs.clone();
        let mut after = new.attrs.clone();
        if old.text != new.text {
            before.push(("#text".into(), old.text.clone()));
            after.push(("#text".into(), new.text.clone()));
        }
        changes.push(Change::Modified {
            path: path.clone(),
            before,
            after,
        });
    }
    let old_keys: Vec<_> = (0..old.children.len())
        .map(|i| key_of(&old.children, i))
        .collect();
    let new_keys: Vec<_> = (0..new.children.len())
        .map(|i| key_of(&new.children, i))
        .collect();
    for (index, key) in old_keys.iter().enumerate() {
        if !new_keys.contains(key) {
            let element = old.children[index].clone();
            let mut removed = path.clone();
            removed.pop();
            removed.push(Step::of(old));
            removed.push(Step::of(&element));
            changes.push(Change::Removed {
                path: removed,
                element,
            });
        }
    }
    for (index, key) in new_keys.iter().enumerate() {
        match old_keys.iter().position(|k| k == key) {
            Some(old_index) => diff_into(
                &old.children[old_index],
                &new.children[index],
                path,
                changes,
            ),
            None => {
                let element = new.children[index].clone();
                let mut added = path.clone();
                added.push(Step::of(&element));
                changes.push(Change::Added {
                    path: added,
                    element,
                });
            }
        }
    }
    path.pop();
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>()
}

/// A readable rendering: `+` added (with its XML), `-` removed, `~` changed
/// attributes as `name: "before" -> "after"`.
pub fn render(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        match change {
            Change::Added { path, element } => {
                out.push_str(&format!("+ {}\n", xpath(path)));
                out.push_str(&indent(&element.to_xml_pretty()));
            }
            Change::Removed { path, element } => {
                out.push_str(&format!("- {}\n", xpath(path)));
                out.push_str(&indent(&element.to_xml_pretty()));
            }
            Change::Modified {
                path,
                before,
                after,
            } => {
                out.push_str(&format!("~ {}\n", xpath(path)));
                let get = |list: &[(String, String)], key: &str| {
                    list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
                };
                let mut keys: Vec<&String> = before.iter().map(|(k, _)| k).collect();
                for (k, _) in after {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                for key in keys {
                    let (b, a) = (get(before, key), get(after, key));
                    if b != a {
                        let show = |v: Option<String>| match v {
                            Some(v) => format!("{v:?}"),
                            None => "(unset)".into(),
                        };
                        out.push_str(&format!("    {key}: {} -> {}\n", show(b), show(a)));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Element {
        Element::parse(text).unwrap()
    }

    #[test]
    fn identical_trees_have_no_changes_and_reordering_is_not_a_change_of_content() {
        let a = parse(r#"<c><r><p id="a"/><p id="b"/></r></c>"#);
        assert!(diff(&a, &a).is_empty());
        let b = parse(r#"<c><r><p id="b"/><p id="a"/></r></c>"#);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn added_removed_and_modified_are_reported_with_paths() {
        let old = parse(
            r#"<configuration><crm_config><cluster_property_set id="o"><nvpair id="o-q" name="no-quorum-policy" value="stop"/></cluster_property_set></crm_config><resources><primitive id="gone"/></resources></configuration>"#,
        );
        let new = parse(
            r#"<configuration><crm_config><cluster_property_set id="o"><nvpair id="o-q" name="no-quorum-policy" value="ignore"/></cluster_property_set></crm_config><resources><primitive id="web"/></resources></configuration>"#,
        );
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 3, "{changes:?}");
        let text = render(&changes);
        assert!(text.contains("~ /configuration/crm_config/cluster_property_set[@id='o']/nvpair[@id='o-q']\n    value: \"stop\" -> \"ignore\""), "{text}");
        assert!(text.contains("- /configuration/resources/primitive[@id='gone']"));
        assert!(text.contains("+ /configuration/resources/primitive[@id='web']"));
    }

    #[test]
    fn id_less_children_match_by_position() {
        let old = parse(r#"<p id="x"><operations><op id="m" interval="10s"/></operations></p>"#);
        let new = parse(r#"<p id="x"><operations><op id="m" interval="20s"/></operations></p>"#);
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            xpath(changes[0].path()),
            "/p[@id='x']/operations/op[@id='m']"
        );
    }
}
