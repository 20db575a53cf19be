//! Pacemaker-style access control lists, evaluated on the CIB itself.
//!
//! The `<acls>` section of the configuration names users (`acl_target`,
//! by `id` or `name`) and groups (`acl_group`), gives them roles
//! (`<role id="..."/>` referring to an `acl_role`) and permissions
//! (`acl_permission kind="read|write|deny"` with `xpath="..."` or
//! `reference="id"`; permissions directly under a target count too).
//!
//! Semantics, as Pacemaker Explained describes them:
//! - a permission covers the selected element and its whole subtree;
//! - the more specific (deeper) selection wins over a more general one;
//! - for the same element, deny beats write beats read;
//! - what no permission covers is denied (ACL users start with nothing);
//! - write implies read.
//!
//! Supported XPath: absolute location paths of `/`-separated steps, each a
//! tag or `*`, with any number of `[@attr='value']` predicates (single or
//! double quotes), and `//` for "at any depth below", e.g.
//! `/cib/configuration/resources/primitive[@id='web']` or `//nvpair[@name='target-role']`.
//! Not supported (such a permission never matches, and
//! [`UserAcl::unsupported`] lists it): functions, axes, positional predicates,
//! `and`/`or`, relative paths. `object-type` and `attribute` restrictions are
//! not supported either.
//!
//! ```
//! use systole::model::cib::{acl, xml::Element};
//! let cib = Element::parse(r#"<cib><configuration><acls>
//!   <acl_target id="alice"><role id="ro"/></acl_target>
//!   <acl_role id="ro"><acl_permission id="p" kind="read" xpath="/cib"/></acl_role>
//! </acls><resources/></configuration></cib>"#).unwrap();
//! let alice = acl::UserAcl::for_user(&cib, "alice", &[]);
//! assert!(alice.can_read_path(&[("cib", None), ("configuration", None)]));
//! assert!(!alice.can_write_path(&[("cib", None), ("configuration", None)]));
//! ```

use crate::model::cib::diff::{self, Change, Step};
use crate::model::cib::xml::Element;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Read,
    Write,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Axis {
    Child,
    Descendant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct XStep {
    axis: Axis,
    /// `None` is `*`.
    name: Option<String>,
    predicates: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    XPath(Vec<XStep>),
    Reference(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Permission {
    kind: Kind,
    selector: Selector,
}

/// The permissions that apply to one user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserAcl {
    permissions: Vec<Permission>,
    /// Whether the user is named by any acl_target or acl_group.
    pub known: bool,
    /// Permissions whose XPath this evaluator does not understand.
    pub unsupported: Vec<String>,
}

/// Whether ACLs are switched on (`enable-acl=true` in crm_config).
pub fn enabled(cib: &Element) -> bool {
    let mut on = false;
    if let Some(crm_config) = cib
        .child("configuration")
        .and_then(|c| c.child("crm_config"))
    {
        crm_config.walk(&mut |e| {
            if e.name == "nvpair"
                && e.attr("name") == Some("enable-acl")
                && e.attr("value").is_some_and(|v| {
                    matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
                })
            {
                on = true;
            }
        });
    }
    on
}

/// Parses the supported XPath subset; `None` if outside it.
fn parse_xpath(text: &str) -> Option<Vec<XStep>> {
    let text = text.trim();
    if !text.starts_with('/') {
        return None;
    }
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let axis = if let Some(r) = rest.strip_prefix("//") {
            rest = r;
            Axis::Descendant
        } else if let Some(r) = rest.strip_prefix('/') {
            rest = r;
            Axis::Child
        } else {
            return None;
        };
        // The step runs to the next '/' outside a predicate.
        let mut end = rest.len();
        let mut depth = 0;
        let mut quote: Option<char> = None;
        for (i, ch) in rest.char_indices() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(ch),
                (None, '[') => depth += 1,
                (None, ']') => depth -= 1,
                (None, '/') if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let (step, after) = rest.split_at(end);
        rest = after;
        steps.push(parse_step(step, axis)?);
    }
    (!steps.is_empty()).then_some(steps)
}

fn parse_step(step: &str, axis: Axis) -> Option<XStep> {
    let (name, mut predicates_text) = match step.find('[') {
        Some(i) => (&step[..i], &step[i..]),
        None => (step, ""),
    };
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    };
    let name = match name {
        "*" => None,
        n if name_ok(n) => Some(n.to_string()),
        _ => return None,
    };
    let mut predicates = Vec::new();
    while !predicates_text.is_empty() {
        let inner = predicates_text.strip_prefix("[@")?;
        let close = inner.find(']')?;
        let (predicate, after) = (&inner[..close], &inner[close + 1..]);
        let (attr, value) = predicate.split_once('=')?;
        let value = value.trim();
        let unquoted = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))?;
        if !name_ok(attr.trim()) {
            return None;
        }
        predicates.push((attr.trim().to_string(), unquoted.to_string()));
        predicates_text = after;
    }
    Some(XStep {
        axis,
        name,
        predicates,
    })
}

fn step_matches(x: &XStep, step: &Step) -> bool {
    x.name.as_deref().is_none_or(|n| n == step.name)
        && x.predicates
            .iter()
            .all(|(k, v)| step.attr(k) == Some(v.as_str()))
}

/// Whether the XPath selects exactly the element at the end of `path`.
fn selects(steps: &[XStep], path: &[Step]) -> bool {
    match (steps.first(), path.first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(x), Some(step)) => match x.axis {
            Axis::Child => step_matches(x, step) && selects(&steps[1..], &path[1..]),
            Axis::Descendant => (0..path.len()).any(|skip| {
                step_matches(x, &path[skip]) && selects(&steps[1..], &path[skip + 1..])
            }),
        },
    }
}

impl UserAcl {
    /// The permissions of `user` (member of `groups`) from the CIB's `acls`.
    pub fn for_user(cib: &Element, user: &str, groups: &[String]) -> UserAcl {
        let mut acl = UserAcl::default();
        let Some(acls) = cib.child("configuration").and_then(|c| c.child("acls")) else {
            return acl;
        };
        let named = |e: &Element| e.attr("name").or(e.id()).unwrap_or_default().to_string();
        let subjects = acls.children.iter().filter(|e| {
            (e.name == "acl_target" || e.name == "acl_user") && named(e) == user
                || e.name == "acl_group" && groups.contains(&named(e))
        });
        for subject in subjects {
            acl.known = true;
            for child in &subject.children {
                match child.name.as_str() {
                    "role" | "role_ref" => {
                        if let Some(role) = child.id().and_then(|id| {
                            acls.children
                                .iter()
                                .find(|r| r.name == "acl_role" && r.id() == Some(id))
                        }) {
                            for permission in role.children_named("acl_permission") {
                                acl.add(permission);
                            }
                        }
                    }
                    "acl_permission" | "read" | "write" | "deny" => acl.add(child),
                    _ => {}
                }
            }
        }
        acl
    }

    fn add(&mut self, permission: &Element) {
        let kind = match permission.attr("kind").unwrap_or(permission.name.as_str()) {
            "read" => Kind::Read,
            "write" => Kind::Write,
            "deny" => Kind::Deny,
            _ => return,
        };
        let selector =
            if let Some(reference) = permission.attr("reference").or(permission.attr("ref")) {
                Selector::Reference(reference.to_string())
            } else if let Some(xpath) = permission.attr("xpath") {
                match parse_xpath(xpath) {
                    Some(steps) => Selector::XPath(steps),
                    None => {
                        self.unsupported.push(xpath.to_string());
                        return;
                    }
                }
            } else {
                self.unsupported.push(format!(
                    "permission {} (object-type/attribute)",
                    permission.id().unwrap_or("?")
                ));
                return;
            };
        self.permissions.push(Permission { kind, selector });
    }

    /// The permission in force for the element at the end of `path`.
    pub fn effective(&self, path: &[Step]) -> Option<Kind> {
        // Deepest selected ancestor-or-self wins; ties: deny > write > read.
        let mut best: Option<(usize, Kind)> = None;
        for permission in &self.permissions {
            for depth in (1..=path.len()).rev() {
                let prefix = &path[..depth];
                let hit = match &permission.selector {
                    Selector::Reference(id) => prefix[depth - 1].attr("id") == Some(id.as_str()),
                    Selector::XPath(steps) => selects(steps, prefix),
                };
                if hit {
                    let better = match best {
                        None => true,
                        Some((d, k)) => depth > d || depth == d && permission.kind > k,
                    };
                    if better {
                        best = Some((depth, permission.kind));
                    }
                    break;
                }
            }
        }
        best.map(|(_, kind)| kind)
    }

    pub fn can_read(&self, path: &[Step]) -> bool {
        matches!(self.effective(path), Some(Kind::Read | Kind::Write))
    }

    pub fn can_write(&self, path: &[Step]) -> bool {
        self.effective(path) == Some(Kind::Write)
    }

    /// Test helper form: a path of `(tag, id)`.
    pub fn can_read_path(&self, path: &[(&str, Option<&str>)]) -> bool {
        self.can_read(&simple_path(path))
    }

    pub fn can_write_path(&self, path: &[(&str, Option<&str>)]) -> bool {
        self.can_write(&simple_path(path))
    }

    /// The CIB as this user may see it: unreadable elements are dropped,
    /// unless something below them is readable, in which case they stay as
    /// bare scaffolding (tag and id only).
    pub fn filter(&self, cib: &Element) -> Element {
        let mut path = Vec::new();
        self.filter_element(cib, &mut path).unwrap_or_else(|| {
            let mut root = Element::new(cib.name.clone());
            for key in ["admin_epoch", "epoch", "num_updates", "validate-with"] {
                if let Some(v) = cib.attr(key) {
                    root.set_attr(key, v);
                }
            }
            root
        })
    }

    fn filter_element(&self, element: &Element, path: &mut Vec<Step>) -> Option<Element> {
        path.push(Step::of(element));
        let readable = self.can_read(path);
        let children: Vec<Element> = element
            .children
            .iter()
            .filter_map(|c| self.filter_element(c, path))
            .collect();
        path.pop();
        if readable {
            let mut kept = element.clone();
            kept.children = children;
            Some(kept)
        } else if !children.is_empty() {
            let mut scaffold = Element::new(element.name.clone());
            if let Some(id) = element.id() {
                scaffold.set_attr("id", id);
            }
            scaffold.children = children;
            Some(scaffold)
        } else {
            None
        }
    }

    /// Checks that every element `old -> new` touches is writable; the
    /// error names the first one that is not.
    pub fn check_write(&self, old: &Element, new: &Element) -> Result<(), String> {
        for change in diff::diff(old, new) {
            let denied = |path: &[Step]| -> Option<String> {
                (!self.can_write(path)).then(|| diff::xpath(path))
            };
            let first_denied = match &change {
                Change::Modified { path, .. } => denied(path),
                Change::Added { path, element } | Change::Removed { path, element } => {
                    let mut parent = path.clone();
                    parent.pop();
                    subtree_paths(element, &parent)
                        .iter()
                        .find_map(|p| denied(p))
                }
            };
            if let Some(xpath) = first_denied {
                return Err(format!(
                    "permission denied by the CIB's ACLs: no write access to {xpath}"
                ));
            }
        }
        Ok(())
    }
}

fn simple_path(path: &[(&str, Option<&str>)]) -> Vec<Step> {
    path.iter()
        .map(|(name, id)| Step {
            name: name.to_string(),
            attrs: id
                .map(|id| vec![("id".to_string(), id.to_string())])
                .unwrap_or_default(),
        })
        .collect()
}

fn subtree_paths(element: &Element, parent: &[Step]) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let mut path = parent.to_vec();
    fn walk(element: &Element, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        path.push(Step::of(element));
        out.push(path.clone());
        for child in &element.children {
            walk(child, path, out);
        }
        path.pop();
    }
    walk(element, &mut path, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib(acls: &str) -> Element {
        Element::parse(&format!(
            r#"<cib epoch="3"><configuration>
  <crm_config><cluster_property_set id="o"><nvpair id="o-acl" name="enable-acl" value="true"/></cluster_property_set></crm_config>
  <resources>
    <primitive id="web" class="ocf" provider="heartbeat" type="Dummy">
      <meta_attributes id="web-meta_attributes"><nvpair id="web-meta_attributes-target-role" name="target-role" value="Started"/></meta_attributes>
    </primitive>
    <primitive id="db" class="ocf" provider="heartbeat" type="Dummy"/>
  </resources>
  <constraints/>
  <acls>{acls}</acls>
</configuration><status/></cib>"#
        ))
        .unwrap()
    }

    const ROLES: &str = r#"
  <acl_target id="alice"><role id="read-all"/><role id="web-operator"/></acl_target>
  <acl_target id="bob"><role id="read-all"/><role id="no-db"/></acl_target>
  <acl_group id="ops"><role id="write-all"/></acl_group>
  <acl_role id="read-all"><acl_permission id="ra" kind="read" xpath="/cib"/></acl_role>
  <acl_role id="write-all"><acl_permission id="wa" kind="write" xpath="/cib"/></acl_role>
  <acl_role id="web-operator">
    <acl_permission id="wo" kind="write" xpath="//primitive[@id='web']/meta_attributes"/>
  </acl_role>
  <acl_role id="no-db"><acl_permission id="nd" kind="deny" reference="db"/></acl_role>"#;

    fn path(parts: &[(&str, Option<&str>)]) -> Vec<Step> {
        simple_path(parts)
    }

    #[test]
    fn enabled_follows_enable_acl() {
        assert!(enabled(&cib("")));
        assert!(!enabled(&crate::model::cib::store::empty_cib()));
    }

    #[test]
    fn unknown_users_get_nothing() {
        let acl = UserAcl::for_user(&cib(ROLES), "mallory", &[]);
        assert!(!acl.known);
        assert!(!acl.can_read_path(&[("cib", None)]));
    }

    #[test]
    fn more_specific_wins_and_deny_beats_write_beats_read() {
        let c = cib(ROLES);
        let alice = UserAcl::for_user(&c, "alice", &[]);
        let web_meta = [
            ("cib", None),
            ("configuration", None),
            ("resources", None),
            ("primitive", Some("web")),
            ("meta_attributes", Some("web-meta_attributes")),
        ];
        assert!(alice.can_write_path(&web_meta));
        assert!(!alice.can_write_path(&web_meta[..4]));
        assert!(alice.can_read_path(&web_meta[..4]));
        let bob = UserAcl::for_user(&c, "bob", &[]);
        let db = [
            ("cib", None),
            ("configuration", None),
            ("resources", None),
            ("primitive", Some("db")),
        ];
        assert!(!bob.can_read_path(&db));
        assert!(bob.can_read_path(&db[..3]));
        // Same element, two roles: deny wins over write.
        let mixed = cib(
            r#"<acl_target id="carol"><role id="w"/><role id="d"/></acl_target>
            <acl_role id="w"><acl_permission id="w1" kind="write" reference="db"/></acl_role>
            <acl_role id="d"><acl_permission id="d1" kind="deny" reference="db"/></acl_role>"#,
        );
        let carol = UserAcl::for_user(&mixed, "carol", &[]);
        assert_eq!(carol.effective(&path(&db)), Some(Kind::Deny));
        // Groups count.
        let dave = UserAcl::for_user(&c, "dave", &["ops".into()]);
        assert!(dave.known);
        assert!(dave.can_write_path(&db));
    }

    #[test]
    fn reads_are_filtered() {
        let c = cib(ROLES);
        let bob = UserAcl::for_user(&c, "bob", &[]);
        let seen = bob.filter(&c);
        assert!(seen.find_by_id(None, "web").is_some());
        assert!(seen.find_by_id(None, "db").is_none());
        // Only web's meta attributes readable: the rest is scaffolding.
        let only = cib(
            r#"<acl_target id="eve"><acl_permission id="p" kind="read" xpath="/cib/configuration/resources/primitive[@id='web']/meta_attributes"/></acl_target>"#,
        );
        let eve = UserAcl::for_user(&only, "eve", &[]);
        let seen = eve.filter(&only);
        let web = seen.find_by_id(None, "web").unwrap();
        assert_eq!(web.attr("class"), None);
        assert!(seen
            .find_by_id(None, "web-meta_attributes-target-role")
            .is_some());
        assert!(seen.find_by_id(None, "o-acl").is_none());
    }

    #[test]
    fn writes_touching_forbidden_elements_are_refused_whole() {
        let c = cib(ROLES);
        let alice = UserAcl::for_user(&c, "alice", &[]);
        let mut allowed = c.clone();
        allowed
            .find_by_id_mut(None, "web-meta_attributes-target-role")
            .unwrap()
            .set_attr("value", "Stopped");
        assert_eq!(alice.check_write(&c, &allowed), Ok(()));
        let mut both = allowed.clone();
        both.find_by_id_mut(None, "db")
            .unwrap()
            .set_attr("type", "Stateful");
        let error = alice.check_write(&c, &both).unwrap_err();
        assert!(error.contains("primitive[@id='db']"), "{error}");
        let mut removed = c.clone();
        removed.remove_by_id("web");
        assert!(alice.check_write(&c, &removed).is_err());
    }

    #[test]
    fn xpath_subset() {
        assert!(parse_xpath("/cib/configuration/resources/primitive[@id='x']").is_some());
        assert!(parse_xpath("//nvpair[@name=\"target-role\"][@id='a']").is_some());
        assert!(parse_xpath("/cib/*/resources").is_some());
        for bad in [
            "cib",
            "/cib/a[1]",
            "/cib/a[contains(@id,'x')]",
            "/cib/a[@id=x]",
            "",
        ] {
            assert!(parse_xpath(bad).is_none(), "{bad}");
        }
        let c = cib(
            r#"<acl_target id="f"><acl_permission id="p" kind="read" xpath="/cib/a[position()=1]"/></acl_target>"#,
        );
        let f = UserAcl::for_user(&c, "f", &[]);
        assert_eq!(f.unsupported, vec!["/cib/a[position()=1]".to_string()]);
    }
}
