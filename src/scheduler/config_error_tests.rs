//! What the scheduler does with a configuration `verify` finds errors in:
//! it leaves out the element it cannot use and schedules the rest, as
//! Pacemaker does.

use crate::model::cib::verify::tests::{cib, texts};
use crate::model::cib::verify::*;
use crate::model::cib::xml::Element;

/// What the scheduler starts, as summary lines.
fn starts(cib: &Element) -> String {
    let t = crate::scheduler::schedule(cib, 1_700_000_000).unwrap();
    t.summary.join("\n")
}

#[test]
fn a_bad_date_in_a_rule_is_an_error_and_the_rest_is_scheduled() {
    let c = cib(
        r#"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"/>"#,
        r#"<rsc_location id="l1" rsc="vip"><rule id="r1" score="100">
             <date_expression id="d1" operation="gt" start="123é456"/></rule></rsc_location>
           <rsc_location id="l2" rsc="vip"><rule id="r2" score="100">
             <date_expression id="d2" operation="in_range" start="2020-13-45T99:99:99"/></rule></rsc_location>"#,
    );
    let issues = verify(&c, 0);
    let text = texts(&issues);
    assert!(
        text.contains(
            r#"error: <date_expression id="d1">: invalid start: "123é456" is not a valid date"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"<date_expression id="d2">"#) && text.contains("month 13"),
        "{text}"
    );
    let summary = starts(&c);
    assert!(summary.contains("Start      vip"), "{summary}");
    assert!(summary.contains("Start      good"), "{summary}");
}

#[test]
fn a_bad_op_interval_leaves_out_that_op_only() {
    for interval in ["1d", "garbage", "NaN", ""] {
        let c = cib(
            &format!(
                r#"<primitive id="web" class="ocf" provider="heartbeat" type="Dummy"><operations>
                  <op id="web-mon" name="monitor" interval="{interval}"/>
                  <op id="web-mon2" name="monitor" interval="20s" timeout="xyz"/></operations></primitive>"#
            ),
            "",
        );
        let text = texts(&verify(&c, 0));
        assert!(
            text.contains(&format!(
                r#"error: <op id="web-mon">: invalid interval "{interval}""#
            )),
            "{text}"
        );
        assert!(
            text.contains(r#"<op id="web-mon2">: invalid timeout"#),
            "{text}"
        );
        let t = crate::scheduler::schedule(&c, 0).unwrap();
        assert!(t.summary.join("\n").contains("Start      web"));
        let monitors: Vec<u64> = t
            .graph
            .node_weights()
            .filter(|a| a.resource.as_deref() == Some("web") && a.interval_ms > 0)
            .map(|a| a.interval_ms)
            .collect();
        assert_eq!(monitors, vec![20_000], "{interval}");
        assert_eq!(t.config_errors.len(), 1, "{:?}", t.config_errors);
    }
}

#[test]
fn unknown_and_dropped_classes_are_left_out() {
    let c = cib(
        r#"<primitive id="x" class="bogus" type="nginx"/>
           <primitive id="y" class="nagios" type="check_http"/>
           <group id="g"><primitive id="g1" class="ocf" provider="heartbeat" type="Dummy"/>
             <primitive id="g2" class="weird" type="t"/></group>"#,
        "",
    );
    let issues = verify(&c, 0);
    let text = texts(&issues);
    assert!(
        text.contains(r#"error: <primitive id="x">: unknown resource class "bogus""#),
        "{text}"
    );
    assert!(
        text.contains(r#"warning: <primitive id="y">: nagios resources are no longer supported"#),
        "{text}"
    );
    assert!(text.contains(r#"<primitive id="g2">"#), "{text}");
    let summary = starts(&c);
    assert!(summary.contains("Start      g1"), "{summary}");
    assert!(
        !summary.contains(" x ") && !summary.contains("g2"),
        "{summary}"
    );
}

#[test]
fn clone_max_infinity_is_refused_and_the_clone_left_out() {
    let c = cib(
        r#"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="clone-max" value="INFINITY"/></meta_attributes>
             <primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#,
        "",
    );
    let text = texts(&verify(&c, 0));
    assert!(
        text.contains(r#"<clone id="c">: clone-max="INFINITY": more than CLONE_INSTANCES_MAX = 10000 instances"#),
        "{text}"
    );
    let t = crate::scheduler::run(&c, 0).unwrap();
    assert!(t.working.rscs.len() < 10, "{}", t.working.rscs.len());
    // The same from the resource defaults.
    let mut c = cib(
        r#"<clone id="c"><primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#,
        "",
    );
    let defaults = Element::parse(
        r#"<rsc_defaults><meta_attributes id="rd"><nvpair id="rd1" name="clone-max" value="1000000"/></meta_attributes></rsc_defaults>"#,
    )
    .unwrap();
    c.child_mut("configuration")
        .unwrap()
        .children
        .push(defaults);
    assert!(texts(&verify(&c, 0)).contains("CLONE_INSTANCES_MAX"));
}

#[test]
fn rsc_patterns_match_in_linear_time_within_a_size_limit() {
    // Exponential for a backtracking matcher; the regex crate is linear.
    let redos = ".*".repeat(40) + "x$";
    let many: String = (0..2000)
        .map(|i| format!(r#"<primitive id="r{i:04}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" class="ocf" provider="heartbeat" type="Dummy"/>"#))
        .collect();
    let c = cib(
        &many,
        &format!(r#"<rsc_location id="l" rsc-pattern="{redos}" node="n1" score="100"/>"#),
    );
    assert!(verify(&c, 0).is_empty(), "{}", texts(&verify(&c, 0)));
    assert!(starts(&c).contains("Start"));
    let huge = "(a{1000}){1000}";
    let c = cib(
        "",
        &format!(r#"<rsc_location id="l" rsc-pattern="{huge}" node="n1" score="100"/>"#),
    );
    let text = texts(&verify(&c, 0));
    assert!(
        text.contains(r#"<rsc_location id="l">: invalid rsc-pattern"#)
            && text.contains("RSC_PATTERN_BYTES_MAX"),
        "{text}"
    );
    assert!(starts(&c).contains("Start      good"));
    // An anchored pattern matches as POSIX extended regexes do.
    let c = cib(
        r#"<primitive id="web-1" class="ocf" provider="heartbeat" type="Dummy"/>"#,
        r#"<rsc_location id="l" rsc-pattern="^web-[0-9]+$" node="n2" score="-INFINITY"/>"#,
    );
    let summary = starts(&c);
    assert!(
        summary
            .lines()
            .any(|l| l.contains("Start") && l.contains("web-1") && l.contains("( n1 )")),
        "{summary}"
    );
}

#[test]
fn the_scheduler_and_verify_agree_on_a_clean_cib() {
    let c = cib(
        r#"<primitive id="w" class="ocf" provider="heartbeat" type="Dummy"><operations>
             <op id="w-m" name="monitor" interval="PT10S" timeout="20s"/></operations></primitive>"#,
        r#"<rsc_location id="l" rsc="w"><rule id="r" score="100"><date_expression id="d" operation="gt" start="2001-01-01T00:00:00Z"/></rule></rsc_location>"#,
    );
    assert_eq!(verify(&c, 0), vec![]);
    assert!(crate::scheduler::schedule(&c, 0)
        .unwrap()
        .config_errors
        .is_empty());
}
