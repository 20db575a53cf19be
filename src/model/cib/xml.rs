//! A small owned XML element tree: the form the CIB is stored, replicated and
//! persisted in.
//!
//! Pacemaker's CIB is an XML document, and keeping it as a generic tree means
//! a user's `cib.xml` round-trips without loss, even parts Systole does not
//! interpret. Typed views of the CIB are read from this tree.
//!
//! ```
//! use systole::model::cib::xml::Element;
//! let e = Element::parse(r#"<cib epoch="3"><configuration/></cib>"#).unwrap();
//! assert_eq!(e.attr("epoch"), Some("3"));
//! assert!(e.child("configuration").is_some());
//! ```

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

/// Deepest element nesting accepted; a CIB is a handful of levels deep, so a
/// deeper document is malformed or hostile.
pub const XML_DEPTH_MAX: usize = 64;
/// Most attributes on one element; Pacemaker's busiest (`lrm_rsc_op`) has
/// about twenty.
pub const XML_ATTRIBUTES_MAX: usize = 256;
/// Largest document parsed, in bytes: a CIB of 32 nodes and 10,000 running
/// resources is 12 MB, and the tree takes several times its text.
pub const XML_DOCUMENT_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum XmlError {
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("XML document has no root element")]
    NoRoot,
    #[error("XML nesting deeper than XML_DEPTH_MAX = {XML_DEPTH_MAX} levels")]
    TooDeep,
    #[error(
        "XML document of {0} bytes exceeds XML_DOCUMENT_BYTES_MAX = {XML_DOCUMENT_BYTES_MAX} bytes"
    )]
    TooLarge(usize),
    #[error("element <{0}> has more than XML_ATTRIBUTES_MAX = {XML_ATTRIBUTES_MAX} attributes")]
    TooManyAttributes(String),
    #[error("XML document has text after the root element")]
    TrailingContent,
}

/// One element: its tag, attributes in document order, and child elements.
/// Text content is kept because a few CIB parts carry it (ACL descriptions);
/// Pacemaker's own schema is attribute-only. Whitespace at either end of
/// parsed text is indentation and is dropped; written text keeps its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Builder-style attribute setter.
    pub fn with_attr(mut self, key: &str, value: impl Into<String>) -> Self {
        self.set_attr(key, value);
        self
    }

    /// Builder-style child appender.
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn set_attr(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((key.to_string(), value)),
        }
    }

    pub fn remove_attr(&mut self, key: &str) -> Option<String> {
        let index = self.attrs.iter().position(|(k, _)| k == key)?;
        Some(self.attrs.remove(index).1)
    }

    /// The `id` attribute, which nearly every CIB element carries.
    pub fn id(&self) -> Option<&str> {
        self.attr("id")
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// The child named `name`, appended first if missing.
    pub fn child_or_insert(&mut self, name: &str) -> &mut Element {
        if let Some(index) = self.children.iter().position(|c| c.name == name) {
            return &mut self.children[index];
        }
        self.children.push(Element::new(name));
        self.children.last_mut().expect("just pushed")
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first descendant (depth first, self excluded) with this tag and id.
    pub fn find_by_id(&self, name: Option<&str>, id: &str) -> Option<&Element> {
        for child in &self.children {
            if child.id() == Some(id) && name.is_none_or(|n| n == child.name) {
                return Some(child);
            }
            if let Some(found) = child.find_by_id(name, id) {
                return Some(found);
            }
        }
        None
    }

    /// Mutable form of [`Element::find_by_id`].
    pub fn find_by_id_mut(&mut self, name: Option<&str>, id: &str) -> Option<&mut Element> {
        for child in &mut self.children {
            if child.id() == Some(id) && name.is_none_or(|n| n == child.name) {
                return Some(child);
            }
            if let Some(found) = child.find_by_id_mut(name, id) {
                return Some(found);
            }
        }
        None
    }

    /// Removes every descendant with this id; returns how many went.
    pub fn remove_by_id(&mut self, id: &str) -> usize {
        let before = self.children.len();
        self.children.retain(|c| c.id() != Some(id));
        let mut removed = before - self.children.len();
        for child in &mut self.children {
            removed += child.remove_by_id(id);
        }
        removed
    }

    /// Parses a whole document; the root element is returned.
    pub fn parse(text: &str) -> Result<Element, XmlError> {
        if text.len() > XML_DOCUMENT_BYTES_MAX {
            return Err(XmlError::TooLarge(text.len()));
        }
        let mut reader = Reader::from_str(text);
        reader.config_mut().trim_text(true);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let position = reader.buffer_position();
            let event = reader.read_event().map_err(|e| XmlError::Malformed {
                position,
                message: e.to_string(),
            })?;
            match event {
                Event::Start(start) => {
                    if root.is_some() {
                        return Err(XmlError::TrailingContent);
                    }
                    if stack.len() >= XML_DEPTH_MAX {
                        return Err(XmlError::TooDeep);
                    }
                    stack.push(element_from_start(&start, position)?);
                }
                Event::Empty(start) => {
                    if root.is_some() {
                        return Err(XmlError::TrailingContent);
                    }
                    let element = element_from_start(&start, position)?;
                    attach(&mut stack, &mut root, element);
                }
                Event::End(_) => {
                    let element = stack.pop().ok_or_else(|| XmlError::Malformed {
                        position,
                        message: "closing tag without an opening one".into(),
                    })?;
                    attach(&mut stack, &mut root, element);
                }
                Event::Text(t) => {
                    let text = t.unescape().map_err(|e| XmlError::Malformed {
                        position,
                        message: e.to_string(),
                    })?;
                    // Raw whitespace at either end (indentation) is gone.
                    match stack.last_mut() {
                        Some(top) => top.text.push_str(&text),
                        None if text.trim().is_empty() => {}
                        None => return Err(XmlError::TrailingContent),
                    }
                }
                Event::CData(c) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&String::from_utf8_lossy(&c));
                    }
                }
                Event::Eof => break,
                // Declarations, comments, processing instructions and doctypes
                // carry nothing the CIB needs.
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err(XmlError::Malformed {
                position: reader.buffer_position(),
                message: format!("element <{}> is never closed", stack[0].name),
            });
        }
        root.ok_or(XmlError::NoRoot)
    }

    /// Serialises with two-space indentation, one element a line, as
    /// Pacemaker's tools print a CIB.
    pub fn to_xml_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    /// Serialises on one line, no indentation (for hashing and the wire).
    pub fn to_xml_compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>) {
        if let Some(level) = indent {
            for _ in 0..level {
                out.push_str("  ");
            }
        }
        out.push('<');
        push_name(out, &self.name);
        for (key, value) in &self.attrs {
            out.push(' ');
            push_name(out, key);
            out.push_str("=\"");
            escape_into(out, value);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            if indent.is_some() {
                out.push('\n');
            }
            return;
        }
        out.push('>');
        if !self.text.is_empty() {
            escape_text_into(out, &self.text);
        }
        if !self.children.is_empty() {
            if indent.is_some() {
                out.push('\n');
            }
            for child in &self.children {
                child.write(out, indent.map(|l| l + 1));
            }
            if let Some(level) = indent {
                for _ in 0..level {
                    out.push_str("  ");
                }
            }
        }
        out.push_str("</");
        push_name(out, &self.name);
        out.push('>');
        if indent.is_some() {
            out.push('\n');
        }
    }

    /// Depth-first walk over self and every descendant.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Element)) {
        visit(self);
        for child in &self.children {
            child.walk(visit);
        }
    }
}

/// An XML 1.0 name, restricted to ASCII (every CIB name is): a letter, `_`
/// or `:` first, then letters, digits, `_`, `:`, `-`, `.`.
pub fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_:-.".contains(c))
}

/// Writes a name; one that is no XML name (a tree built from the wire, not
/// parsed) has each other character replaced by `_`, so it can never break
/// the document's structure. The checks of every write refuse such names.
fn push_name(out: &mut String, name: &str) {
    if is_xml_name(name) {
        out.push_str(name);
        return;
    }
    if name.is_empty() {
        out.push('_');
    }
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic()
            || c == '_'
            || c == ':'
            || (i > 0 && (c.is_ascii_digit() || "-.".contains(c)));
        out.push(if ok { c } else { '_' });
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn element_from_start(start: &BytesStart<'_>, position: u64) -> Result<Element, XmlError> {
    let malformed = |message: String| XmlError::Malformed { position, message };
    let name = String::from_utf8(start.name().as_ref().to_vec())
        .map_err(|_| malformed("element name is not UTF-8".into()))?;
    let mut element = Element::new(name);
    for attr in start.attributes().with_checks(false) {
        let attr = attr.map_err(|e| malformed(e.to_string()))?;
        let key = String::from_utf8(attr.key.as_ref().to_vec())
            .map_err(|_| malformed("attribute name is not UTF-8".into()))?;
        let value = attr
            .unescape_value()
            .map_err(|e| malformed(e.to_string()))?
            .into_owned();
        if element.attrs.len() >= XML_ATTRIBUTES_MAX {
            return Err(XmlError::TooManyAttributes(element.name));
        }
        if element.attr(&key).is_some() {
            return Err(malformed(format!(
                "attribute {key} repeated on <{}>",
                element.name
            )));
        }
        element.attrs.push((key, value));
    }
    Ok(element)
}

fn escape_into(out: &mut String, value: &str) {
    for ch in value.chars() {
        escape_char_into(out, ch);
    }
}

/// Line ends and tabs go as character references: a reader (ours or
/// another) may normalise them when raw.
fn escape_char_into(out: &mut String, ch: char) {
    match ch {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&apos;"),
        '\n' => out.push_str("&#10;"),
        '\r' => out.push_str("&#13;"),
        '\t' => out.push_str("&#9;"),
        _ => out.push(ch),
    }
}

fn is_xml_space(ch: char) -> bool {
    matches!(ch, ' ' | '\t' | '\r' | '\n')
}

/// Element text, its whitespace at either end as character references:
/// [`Element::parse`] trims raw whitespace there (indentation), so this is
/// the one way its text reads back as written. A CIB written to a snapshot
/// and read back must equal the one it was written from, to the byte.
fn escape_text_into(out: &mut String, text: &str) {
    let body_start = text.len() - text.trim_start_matches(is_xml_space).len();
    let body_end = text.trim_end_matches(is_xml_space).len().max(body_start);
    for (at, ch) in text.char_indices() {
        if ch == ' ' && (at < body_start || at >= body_end) {
            out.push_str("&#32;");
        } else {
            escape_char_into(out, ch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_attributes_children_and_escapes() {
        let text = r#"<?xml version="1.0"?>
<!-- comment -->
<cib a="1 &amp; 2" b="&lt;x&gt;"><configuration><nodes><node id="1" uname="n1"/></nodes></configuration><status/></cib>"#;
        let parsed = Element::parse(text).unwrap();
        assert_eq!(parsed.attr("a"), Some("1 & 2"));
        assert_eq!(parsed.attr("b"), Some("<x>"));
        let again = Element::parse(&parsed.to_xml_pretty()).unwrap();
        assert_eq!(parsed, again);
        let compact = Element::parse(&parsed.to_xml_compact()).unwrap();
        assert_eq!(parsed, compact);
        assert_eq!(
            parsed.find_by_id(Some("node"), "1").unwrap().attr("uname"),
            Some("n1")
        );
    }

    #[test]
    fn text_and_values_read_back_as_written_whatever_their_whitespace() {
        for text in [
            " padded ",
            "\t\r\n mixed \r\n\t",
            "   ",
            "inner  \t\r\n  space",
            "\u{a0}no-break\u{a0}",
            "a &amp; <b>",
        ] {
            let mut element = Element::new("description").with_attr("value", text);
            element.text = text.to_string();
            let tree = Element::new("cib").with_child(element);
            for written in [tree.to_xml_compact(), tree.to_xml_pretty()] {
                assert_eq!(Element::parse(&written).unwrap(), tree, "{written}");
            }
        }
        // CDATA keeps its spaces; written back as text, they stay.
        let cdata = Element::parse("<a>\n  <![CDATA[ kept ]]>\n</a>").unwrap();
        assert_eq!(cdata.text, " kept ");
        assert_eq!(Element::parse(&cdata.to_xml_compact()).unwrap(), cdata);
        // Indentation is no text.
        let indented = Element::parse("<a>\n  <b/>\n</a>").unwrap();
        assert_eq!(indented.text, "");
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "</a>",
            "<a x='1' x='2'/>",
            "<a/><b/>",
            "text only",
            "<a><b></a>",
            "<a x=1/>",
            "\u{0}\u{1}<<<",
        ] {
            assert!(Element::parse(bad).is_err(), "accepted {bad:?}");
        }
        let deep = "<a>".repeat(XML_DEPTH_MAX + 1) + &"</a>".repeat(XML_DEPTH_MAX + 1);
        assert_eq!(Element::parse(&deep), Err(XmlError::TooDeep));
    }

    #[test]
    fn editing_helpers() {
        let mut e = Element::new("cib").with_child(Element::new("configuration").with_child(
            Element::new("resources").with_child(Element::new("primitive").with_attr("id", "r1")),
        ));
        e.child_or_insert("status");
        assert!(e.child("status").is_some());
        e.find_by_id_mut(None, "r1")
            .unwrap()
            .set_attr("class", "ocf");
        assert_eq!(
            e.find_by_id(Some("primitive"), "r1").unwrap().attr("class"),
            Some("ocf")
        );
        assert_eq!(e.remove_by_id("r1"), 1);
        assert!(e.find_by_id(None, "r1").is_none());
    }
}
