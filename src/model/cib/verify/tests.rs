use super::*;
use crate::model::cib::xml::Element;

/// A two-node CIB with fencing off and quorum, and `resources` and
/// `constraints` as given.
pub(crate) fn cib(resources: &str, constraints: &str) -> Element {
    Element::parse(&format!(
        r#"<cib admin_epoch="0" epoch="1" num_updates="0" have-quorum="1"><configuration>
  <crm_config><cluster_property_set id="p"><nvpair id="p1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
  <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
  <resources>
    <primitive id="good" class="ocf" provider="heartbeat" type="Dummy"/>
    {resources}
  </resources>
  <constraints>{constraints}</constraints></configuration>
  <status>
    <node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>
    <node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
  </status></cib>"#
    ))
    .unwrap()
}

pub(crate) fn texts(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn writes_that_add_errors_are_refused_and_old_errors_do_not_block() {
    let before = cib(r#"<primitive id="old" class="bogus" type="x"/>"#, "");
    // An unrelated good change passes although `old` is already an error.
    let mut after = before.clone();
    let resources = after
        .child_mut("configuration")
        .unwrap()
        .child_mut("resources")
        .unwrap();
    resources.children.push(
        Element::parse(r#"<primitive id="new" class="ocf" provider="heartbeat" type="Dummy"/>"#)
            .unwrap(),
    );
    assert_eq!(check_write(&before, &after, 0), Ok(vec![]));
    // A change adding an error is refused, naming element, id and value.
    after
        .child_mut("configuration")
        .unwrap()
        .child_mut("resources")
        .unwrap()
        .children
        .push(
        Element::parse(r#"<primitive id="bad" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="bad-m" name="monitor" interval="1d"/></operations></primitive>"#).unwrap(),
    );
    let refused = check_write(&before, &after, 0).unwrap_err();
    assert_eq!(refused.errors.len(), 1, "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains(r#"<op id="bad-m">: invalid interval "1d""#),
        "{text}"
    );
    assert!(
        text.starts_with("refused: the change adds 1 configuration error(s)"),
        "{text}"
    );
    // A warning is no refusal.
    let mut warned = before.clone();
    warned
        .child_mut("configuration")
        .unwrap()
        .child_mut("resources")
        .unwrap()
        .children
        .push(Element::parse(r#"<primitive id="n" class="upstart" type="x"/>"#).unwrap());
    let warnings = check_write(&before, &warned, 0).unwrap();
    assert_eq!(warnings.len(), 1);
}

#[test]
fn invalid_names_are_errors_and_written_harmlessly() {
    let mut c = cib("", "");
    let mut evil = Element::new("primitive\" onload=\"x");
    evil.set_attr("id", "e");
    evil.set_attr("bad name", "v");
    c.child_mut("configuration")
        .unwrap()
        .child_mut("resources")
        .unwrap()
        .children
        .push(evil);
    let text = texts(&verify(&c, 0));
    assert!(text.contains("invalid element name"), "{text}");
    assert!(
        text.contains(r#"invalid attribute name "bad name""#),
        "{text}"
    );
    // Written, the document still parses: the names were made harmless.
    let back = Element::parse(&c.to_xml_compact()).unwrap();
    assert!(back.find_by_id(None, "e").is_some());
}

#[test]
fn limits_are_named_with_their_units() {
    let mut deep = Element::new("cib");
    let mut at = &mut deep;
    for _ in 0..crate::model::cib::xml::XML_DEPTH_MAX + 2 {
        at.children.push(Element::new("x"));
        at = at.children.last_mut().unwrap();
    }
    let text = texts(&verify(&deep, 0));
    assert!(text.contains("exceeds XML_DEPTH_MAX = 64 levels"), "{text}");
    let mut wide = Element::new("cib");
    for i in 0..=crate::model::cib::xml::XML_ATTRIBUTES_MAX {
        wide.set_attr(&format!("a{i}"), "v");
    }
    let text = texts(&verify(&wide, 0));
    assert!(
        text.contains("exceed XML_ATTRIBUTES_MAX = 256 per element"),
        "{text}"
    );
    let attrs: String = (0..=256).map(|i| format!(" a{i}=\"v\"")).collect();
    let error = Element::parse(&format!("<cib{attrs}/>"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("XML_ATTRIBUTES_MAX"), "{error}");
}

#[test]
fn rule_parts_are_checked() {
    let c = cib(
        "",
        r#"<rsc_location id="l" rsc="good"><rule id="r" score="1">
             <date_expression id="d" operation="in_range" start="2020-01-01"><duration id="du" days="lots"/></date_expression>
             <date_expression id="s" operation="date_spec"><date_spec id="sp" hours="9-x"/></date_expression>
             <date_expression id="o" operation="sometimes" start="2020-01-01"/>
           </rule></rsc_location>"#,
    );
    let text = texts(&verify(&c, 0));
    for expected in [
        r#"<duration id="du">: invalid days "lots""#,
        r#"<date_spec id="sp">: invalid hours "9-x""#,
        r#"<date_expression id="o">: unknown operation "sometimes""#,
    ] {
        assert!(text.contains(expected), "{expected} not in\n{text}");
    }
}
