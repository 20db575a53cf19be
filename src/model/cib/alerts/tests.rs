use super::*;
use crate::model::cib::xml::Element;

fn cib_with(alerts: &str) -> Element {
    Element::parse(&format!(
        r#"<cib admin_epoch="0" epoch="1" num_updates="0"><configuration>
  <crm_config/><nodes><node id="1" uname="n1"/></nodes><resources/><constraints/>
  <alerts>{alerts}</alerts></configuration><status/></cib>"#
    ))
    .unwrap()
}

fn read(alerts: &str) -> (Vec<Alert>, Vec<ConfigIssue>) {
    let cib = cib_with(alerts);
    read_alerts(&cib, cib.child("configuration").unwrap(), 0)
}

/// 2026-12-07 13:05:09.123456 UTC.
fn at() -> AlertTime {
    AlertTime {
        epoch_s: 1_796_648_709,
        usec: 123_456,
        utc_offset_s: 0,
        zone: "UTC".into(),
    }
}

fn env_of(call: &Invocation, key: &str) -> Option<String> {
    call.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

fn resource_event(rc: i32, status: i32) -> AlertEvent {
    AlertEvent::Resource {
        node: "n1".into(),
        resource: "web".into(),
        task: OpKind::Monitor,
        interval_ms: 10_000,
        target_rc: 0,
        status,
        rc,
        exec_ms: 12,
    }
}

const FULL: &str = r#"
  <alert id="a1" path="/usr/share/pacemaker/alerts/alert_file.sh.sample">
    <meta_attributes id="a1-meta"><nvpair id="a1-ts" name="timestamp-format" value="%Y-%m-%d %H:%M:%S.%03N"/>
      <nvpair id="a1-to" name="timeout" value="15s"/></meta_attributes>
    <instance_attributes id="a1-inst"><nvpair id="a1-dbg" name="debug_exec_order" value="false"/>
      <nvpair id="a1-o" name="opt" value="alert"/></instance_attributes>
    <recipient id="r1" value="/tmp/one.log"/>
    <recipient id="r2" value="/tmp/two.log">
      <meta_attributes id="r2-meta"><nvpair id="r2-to" name="timeout" value="5s"/>
        <nvpair id="r2-ts" name="timestamp-format" value="%H:%M"/></meta_attributes>
      <instance_attributes id="r2-inst"><nvpair id="r2-o" name="opt" value="recipient"/></instance_attributes>
    </recipient>
  </alert>"#;

#[test]
fn an_alert_is_read_with_its_recipients_and_attributes() {
    let (alerts, issues) = read(FULL);
    assert!(issues.is_empty(), "{issues:?}");
    let [alert] = alerts.as_slice() else {
        panic!("{alerts:?}")
    };
    assert_eq!(alert.id, "a1");
    assert_eq!(
        alert.kinds,
        vec![AlertKind::Node, AlertKind::Fencing, AlertKind::Resource]
    );
    assert_eq!(alert.recipients.len(), 2);
    assert_eq!(alert.recipients[1].value, "/tmp/two.log");
    assert_eq!(alert.recipients[1].instance["opt"], "recipient");
    assert_eq!(alert.meta["timeout"], "15s");
}

#[test]
fn each_recipient_gets_a_call_and_overrides_the_alert() {
    let (alerts, _) = read(FULL);
    let calls = invocations(&alerts, &resource_event(7, 0), 42, &at(), "2.1.5");
    assert_eq!(calls.len(), 2);
    let (one, two) = (&calls[0], &calls[1]);
    assert_eq!(one.timeout_ms, 15_000);
    assert_eq!(two.timeout_ms, 5_000);
    assert_eq!(env_of(one, "CRM_alert_recipient").unwrap(), "/tmp/one.log");
    assert_eq!(env_of(two, "CRM_alert_recipient").unwrap(), "/tmp/two.log");
    assert_eq!(env_of(one, "opt").unwrap(), "alert");
    assert_eq!(env_of(two, "opt").unwrap(), "recipient");
    assert_eq!(env_of(one, "debug_exec_order").unwrap(), "false");
    assert_eq!(
        env_of(one, "CRM_alert_timestamp").unwrap(),
        "2026-12-07 13:05:09.123"
    );
    assert_eq!(env_of(two, "CRM_alert_timestamp").unwrap(), "13:05");
    for (key, value) in [
        ("CRM_alert_kind", "resource"),
        ("CRM_alert_version", "2.1.5"),
        ("CRM_alert_node", "n1"),
        ("CRM_alert_rsc", "web"),
        ("CRM_alert_task", "monitor"),
        ("CRM_alert_interval", "10000"),
        ("CRM_alert_target_rc", "0"),
        ("CRM_alert_status", "0"),
        ("CRM_alert_rc", "7"),
        ("CRM_alert_desc", "not running"),
        ("CRM_alert_exec_time", "12"),
        ("CRM_alert_node_sequence", "42"),
        ("CRM_alert_timestamp_epoch", "1796648709"),
        ("CRM_alert_timestamp_usec", "123456"),
        ("CRM_alert_select_kind", "node,fencing,resource"),
        ("CRM_notify_rsc", "web"),
    ] {
        assert_eq!(env_of(one, key).as_deref(), Some(value), "{key}");
    }
}

#[test]
fn an_alert_without_recipients_is_called_once_without_one() {
    let (alerts, _) = read(r#"<alert id="a" path="/bin/true"/>"#);
    let node = AlertEvent::Node {
        node: "n2".into(),
        node_id: "7".into(),
        state: "lost".into(),
    };
    let calls = invocations(&alerts, &node, 1, &at(), "2.1.5");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].recipient_id, None);
    assert_eq!(env_of(&calls[0], "CRM_alert_recipient").unwrap(), "");
    assert_eq!(env_of(&calls[0], "CRM_alert_desc").unwrap(), "lost");
    assert_eq!(env_of(&calls[0], "CRM_alert_nodeid").unwrap(), "7");
    assert_eq!(calls[0].timeout_ms, ALERT_TIMEOUT_MS_DEFAULT);
    // The default format: %H:%M:%S.%06N.
    assert_eq!(
        env_of(&calls[0], "CRM_alert_timestamp").unwrap(),
        "13:05:09.123456"
    );
}

#[test]
fn select_limits_kinds_and_attribute_names() {
    let (alerts, issues) = read(
        r#"<alert id="a" path="/bin/true"><select><select_fencing/>
             <select_attributes><attribute id="a-p" name="pingd"/></select_attributes></select></alert>
           <alert id="b" path="/bin/true"/>"#,
    );
    assert!(issues.is_empty(), "{issues:?}");
    let attribute = |name: &str| AlertEvent::Attribute {
        node: "n1".into(),
        node_id: "1".into(),
        name: name.into(),
        value: Some("100".into()),
    };
    let ids = |event: &AlertEvent| -> Vec<String> {
        invocations(&alerts, event, 1, &at(), "x")
            .into_iter()
            .map(|c| c.alert_id)
            .collect()
    };
    // Attributes only when selected, and only the names selected.
    assert_eq!(ids(&attribute("pingd")), vec!["a"]);
    assert!(ids(&attribute("other")).is_empty());
    assert_eq!(ids(&resource_event(0, 0)), vec!["b"]);
    let fencing = AlertEvent::Fencing {
        target: "n2".into(),
        action: "reboot".into(),
        rc: 0,
        desc: fencing_desc("reboot", "n2", "n1", "n1", true, ""),
    };
    assert_eq!(ids(&fencing), vec!["a", "b"]);
    let call = &invocations(&alerts, &attribute("pingd"), 1, &at(), "x")[0];
    assert_eq!(env_of(call, "CRM_alert_attribute_name").unwrap(), "pingd");
    assert_eq!(env_of(call, "CRM_alert_attribute_value").unwrap(), "100");
    assert_eq!(
        env_of(call, "CRM_alert_select_kind").unwrap(),
        "fencing,attribute"
    );
    assert_eq!(
        env_of(call, "CRM_alert_select_attribute_name").unwrap(),
        "pingd"
    );
}

#[test]
fn a_disabled_alert_or_recipient_is_not_called() {
    let (alerts, _) = read(
        r#"<alert id="a" path="/bin/true"><meta_attributes id="m"><nvpair id="m1" name="enabled" value="false"/></meta_attributes></alert>
           <alert id="b" path="/bin/true"><recipient id="b1" value="x"><meta_attributes id="bm"><nvpair id="bm1" name="enabled" value="false"/></meta_attributes></recipient>
             <recipient id="b2" value="y"/></alert>"#,
    );
    let calls = invocations(&alerts, &resource_event(0, 0), 1, &at(), "x");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].recipient_id.as_deref(), Some("b2"));
}

#[test]
fn unusable_alerts_are_left_out_with_an_error_and_verify_sees_them() {
    let alerts = r#"<alert id="nopath"/><alert id="relative" path="alert.sh"/>
        <alert id="badto" path="/bin/true"><meta_attributes id="bt"><nvpair id="bt1" name="timeout" value="soon"/></meta_attributes></alert>
        <alert id="norcpt" path="/bin/true"><recipient id="r"/></alert>
        <alert id="badsel" path="/bin/true"><select><select_everything/></select></alert>
        <alert id="good" path="/bin/true"/>"#;
    let (read_ok, issues) = read(alerts);
    assert_eq!(
        read_ok.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        vec!["good"]
    );
    assert_eq!(issues.len(), 5, "{issues:?}");
    let cib = cib_with(alerts);
    let found = crate::model::cib::verify::verify(&cib, 0);
    for id in ["nopath", "relative", "badto", "r", "badsel"] {
        assert!(
            found.iter().any(|i| i.is_error() && i.id == id),
            "{id} not in {found:?}"
        );
    }
    // The typed CIB carries the good one for the runner.
    let typed = crate::model::cib::Cib::from_xml(&cib, 0).unwrap();
    assert_eq!(typed.alerts.len(), 1);
}

#[test]
fn a_write_adding_a_broken_alert_is_refused() {
    let before = cib_with("");
    let after = cib_with(r#"<alert id="x" path="relative.sh"/>"#);
    let refused = crate::model::cib::verify::check_write(&before, &after, 0).unwrap_err();
    assert!(
        refused.to_string().contains("must be absolute"),
        "{refused}"
    );
}

#[test]
fn timestamps_follow_strftime_with_fractions_and_the_local_offset() {
    let mut t = at();
    assert_eq!(format_timestamp("%s %N", &t), "1796648709 123456000");
    assert_eq!(format_timestamp("%3N|%06N|%1N", &t), "123|123456|1");
    assert_eq!(
        format_timestamp("%F %T %z %Z", &t),
        "2026-12-07 13:05:09 +0000 UTC"
    );
    assert_eq!(
        format_timestamp("%a %b %e %D %%", &t),
        "Mon Dec  7 12/07/26 %"
    );
    assert_eq!(format_timestamp("%c", &t), "Mon Dec  7 13:05:09 2026");
    t.utc_offset_s = -(5 * 3600 + 30 * 60);
    t.zone = "X".into();
    assert_eq!(format_timestamp("%H:%M %z %Z", &t), "07:35 -0530 X");
    // Unknown conversions stay as written; a trailing % too.
    assert_eq!(format_timestamp("%Q %", &t), "%Q %");
    let long = "%Y".repeat(1000);
    assert!(format_timestamp(&long, &t).len() <= TIMESTAMP_BYTES_MAX);
}

#[test]
fn resource_and_fencing_descriptions_are_pacemakers() {
    assert_eq!(resource_desc(0, 0), "ok");
    assert_eq!(resource_desc(0, 1), "error");
    assert_eq!(resource_desc(2, 1), "Timed Out");
    assert_eq!(resource_desc(7, 5), "Not installed");
    assert_eq!(
        fencing_desc("reboot", "n2", "n1", "n3", false, "no device"),
        "Operation reboot of n2 by n1 for systole-dc@n3: Error (no device)"
    );
}
