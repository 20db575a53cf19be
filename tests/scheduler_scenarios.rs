//! Small scheduler scenarios written from Pacemaker's documented behaviour,
//! plus property tests of the invariants.

use std::collections::BTreeMap;

use proptest::prelude::*;
use systole::model::cib::digest::{op_digest, params_digest};
use systole::model::cib::xml::Element;
use systole::scheduler::status::resource_status;
use systole::scheduler::{schedule, Task};

fn node_state(name: &str, up: bool, lrm: &str) -> String {
    let (ccm, crmd, join) = if up {
        ("true", "online", "member")
    } else {
        ("false", "offline", "down")
    };
    format!(
        r#"<node_state id="{name}" uname="{name}" in_ccm="{ccm}" crmd="{crmd}" join="{join}" expected="{join}"><lrm id="{name}"><lrm_resources>{lrm}</lrm_resources></lrm></node_state>"#
    )
}

/// A resource without parameters, started on `node` (its history records the
/// digest of the parameters it started with, as the executor does).
fn running(rsc: &str, node: &str) -> String {
    let digest = params_digest(&BTreeMap::new());
    format!(
        r#"<lrm_resource id="{rsc}" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="{rsc}_last_0" operation_key="{rsc}_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" on_node="{node}" op-digest="{digest}"/></lrm_resource>"#
    )
}

fn cib(props: &str, resources: &str, constraints: &str, status: &str) -> Element {
    let text = format!(
        r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
        <nvpair id="p1" name="stonith-enabled" value="false"/>{props}</cluster_property_set></crm_config>
        <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/><node id="n3" uname="n3"/></nodes>
        <resources>{resources}</resources><constraints>{constraints}</constraints></configuration>
        <status>{status}</status></cib>"#
    );
    Element::parse(&text).expect("test CIB parses")
}

fn dummy(id: &str) -> String {
    format!(
        r#"<primitive id="{id}" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="{id}-mon" name="monitor" interval="10s"/></operations></primitive>"#
    )
}

#[test]
fn stopped_resource_starts_where_preferred() {
    let c = cib(
        "",
        &dummy("web"),
        r#"<rsc_location id="l1" rsc="web" node="n2" score="100"/>"#,
        &(node_state("n1", true, "") + &node_state("n2", true, "") + &node_state("n3", true, "")),
    );
    let t = schedule(&c, 0).unwrap();
    assert_eq!(t.summary.len(), 1);
    assert!(
        t.summary[0].contains("Start") && t.summary[0].contains("( n2 )"),
        "{:?}",
        t.summary
    );
    let starts: Vec<_> = t
        .graph
        .node_weights()
        .filter(|a| a.task == Task::Start)
        .collect();
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].node.as_deref(), Some("n2"));
    // The start waits for the probes.
    let start = t
        .graph
        .node_indices()
        .find(|&i| t.graph[i].task == Task::Start)
        .unwrap();
    let probes = t
        .graph
        .neighbors_directed(start, petgraph::Direction::Incoming)
        .count();
    assert_eq!(probes, 3);
}

#[test]
fn stickiness_keeps_a_resource_in_place() {
    let status = node_state("n1", true, &running("web", "n1"))
        + &node_state("n2", true, "")
        + &node_state("n3", true, "");
    let prefer = r#"<rsc_location id="l1" rsc="web" node="n2" score="50"/>"#;
    let sticky = r#"<nvpair id="p2" name="placement-strategy" value="default"/>"#;
    let sticky_rsc = dummy("web").replace("<operations>", r#"<meta_attributes id="m"><nvpair id="m1" name="resource-stickiness" value="100"/></meta_attributes><operations>"#);
    let t = schedule(&cib(sticky, &sticky_rsc, prefer, &status), 0).unwrap();
    assert!(t.summary.is_empty(), "{:?}", t.summary);
    let t = schedule(&cib("", &dummy("web"), prefer, &status), 0).unwrap();
    assert_eq!(t.summary.len(), 1);
    assert!(
        t.summary[0].contains("Move") && t.summary[0].contains("n1 -> n2"),
        "{:?}",
        t.summary
    );
}

#[test]
fn resources_leave_a_node_that_went_down() {
    let status = node_state("n1", false, &running("web", "n1"))
        + &node_state("n2", true, "")
        + &node_state("n3", true, "");
    let t = schedule(&cib("", &dummy("web"), "", &status), 0).unwrap();
    assert_eq!(t.summary.len(), 1, "{:?}", t.summary);
    // The node left cleanly: its history no longer counts, so a plain start.
    assert!(t.summary[0].contains("Start"), "{:?}", t.summary);
    let status = resource_status(&cib(
        "",
        &dummy("web"),
        "",
        &node_state("n1", true, &running("web", "n1")),
    ))
    .unwrap();
    assert_eq!(status[0].nodes, vec!["n1".to_string()]);
}

#[test]
fn a_group_moves_together() {
    let group = format!(r#"<group id="g">{}{}</group>"#, dummy("a"), dummy("b"));
    let status =
        node_state("n1", true, "") + &node_state("n2", true, "") + &node_state("n3", true, "");
    let t = schedule(
        &cib(
            "",
            &group,
            r#"<rsc_location id="l" rsc="b" node="n3" score="10"/>"#,
            &status,
        ),
        0,
    )
    .unwrap();
    assert_eq!(t.summary.len(), 2, "{:?}", t.summary);
    assert!(
        t.summary.iter().all(|l| l.contains("( n3 )")),
        "{:?}",
        t.summary
    );
}

#[test]
fn mandatory_colocation_with_an_unrunnable_primary_stops_the_dependent() {
    let rscs = dummy("a") + &dummy("b");
    let cons = r#"<rsc_colocation id="c" rsc="b" with-rsc="a" score="INFINITY"/>
        <rsc_location id="ban1" rsc="a" node="n1" score="-INFINITY"/>
        <rsc_location id="ban2" rsc="a" node="n2" score="-INFINITY"/>
        <rsc_location id="ban3" rsc="a" node="n3" score="-INFINITY"/>"#;
    let status =
        node_state("n1", true, "") + &node_state("n2", true, "") + &node_state("n3", true, "");
    let t = schedule(&cib("", &rscs, cons, &status), 0).unwrap();
    assert!(t.summary.is_empty(), "{:?}", t.summary);
}

#[test]
fn dangling_template_is_an_error_not_a_panic() {
    // Left out with a configuration error; the rest is scheduled.
    let c = cib("", r#"<primitive id="x" template="nope"/>"#, "", "");
    let t = schedule(&c, 0).unwrap();
    let err = t
        .config_errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        err.contains(r#"<primitive id="x">"#) && err.contains("nope"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn same_input_same_output_and_no_double_assignment(
        prefs in proptest::collection::vec((0usize..3, -20i64..20), 1..6),
        up in proptest::collection::vec(any::<bool>(), 3),
    ) {
        let mut rscs = String::new();
        let mut cons = String::new();
        for (i, (node, score)) in prefs.iter().enumerate() {
            rscs += &dummy(&format!("r{i}"));
            cons += &format!(r#"<rsc_location id="l{i}" rsc="r{i}" node="n{}" score="{score}"/>"#, node + 1);
        }
        let status: String = (1..=3).map(|n| {
            let lrm = if n == 1 { running("r0", "n1") } else { String::new() };
            node_state(&format!("n{n}"), up[n - 1], &lrm)
        }).collect();
        let c = cib("", &rscs, &cons, &status);
        let a = schedule(&c, 0).unwrap();
        let b = schedule(&c, 0).unwrap();
        prop_assert_eq!(&a.summary, &b.summary);
        prop_assert_eq!(a.graph.node_count(), b.graph.node_count());
        let mut started = std::collections::HashSet::new();
        for act in a.graph.node_weights().filter(|x| x.task == Task::Start) {
            prop_assert!(started.insert(act.resource.clone()), "started twice: {:?}", act.resource);
        }
        prop_assert!(!petgraph::algo::is_cyclic_directed(&a.graph));
    }
}

fn promotable(attr_n1: i64, attr_n2: i64) -> Element {
    let status = format!(
        r#"{}{}{}"#,
        node_state("n1", true, "").replace(
            "<lrm ",
            &format!(r#"<transient_attributes id="t1"><instance_attributes id="t1a"><nvpair id="m1" name="master-db" value="{attr_n1}"/></instance_attributes></transient_attributes><lrm "#)
        ),
        node_state("n2", true, "").replace(
            "<lrm ",
            &format!(r#"<transient_attributes id="t2"><instance_attributes id="t2a"><nvpair id="m2" name="master-db" value="{attr_n2}"/></instance_attributes></transient_attributes><lrm "#)
        ),
        node_state("n3", false, ""),
    );
    let rsc = r#"<clone id="db-clone"><meta_attributes id="dbm"><nvpair id="dbm1" name="promotable" value="true"/><nvpair id="dbm2" name="clone-max" value="2"/></meta_attributes>
        <primitive id="db" class="ocf" provider="pacemaker" type="Stateful"/></clone>"#;
    cib("", rsc, "", &status)
}

#[test]
fn a_promotable_clone_promotes_where_the_score_is_highest() {
    let t = schedule(&promotable(5, 10), 0).unwrap();
    assert_eq!(t.summary.len(), 2, "{:?}", t.summary);
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Promote") && l.contains("Stopped -> Promoted n2")),
        "{:?}",
        t.summary
    );
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Start") && l.contains("( n1 )")),
        "{:?}",
        t.summary
    );
    // Promotion waits for the start.
    let promote = t
        .graph
        .node_indices()
        .find(|&i| t.graph[i].task == Task::Promote)
        .unwrap();
    let before: Vec<_> = t
        .graph
        .neighbors_directed(promote, petgraph::Direction::Incoming)
        .map(|i| t.graph[i].task)
        .collect();
    assert!(before.contains(&Task::Start), "{before:?}");
}

#[test]
fn a_revoked_ticket_stops_its_resource() {
    let status = node_state("n1", true, &running("web", "n1"))
        + &node_state("n2", true, "")
        + &node_state("n3", true, "");
    let cons = r#"<rsc_ticket id="t" rsc="web" ticket="T1" loss-policy="stop"/>"#;
    let t = schedule(&cib("", &dummy("web"), cons, &status), 0).unwrap();
    assert_eq!(t.summary.len(), 1, "{:?}", t.summary);
    assert!(t.summary[0].contains("Stop") && t.summary[0].contains("node availability"));
}

#[test]
fn an_unclean_node_is_fenced_before_its_resources_move() {
    // A fence device: with fencing enabled and nothing to fence with,
    // Pacemaker manages nothing.
    let c = cib(
        "",
        &(r#"<primitive id="fence" class="stonith" type="fence_xvm"/>"#.to_string()
            + &dummy("web")),
        "",
        &(node_state("n1", true, "")
            .replace(
                r#"in_ccm="true" crmd="online" join="member" expected="member""#,
                r#"in_ccm="false" crmd="offline" join="down" expected="member""#,
            )
            .replace(
                "</lrm_resources>",
                &format!("{}</lrm_resources>", running("web", "n1")),
            )
            + &node_state("n2", true, "")
            + &node_state("n3", true, "")),
    );
    // The common test CIB disables fencing; this scenario needs it.
    let text = c.to_xml_compact().replace(
        r#"name="stonith-enabled" value="false""#,
        r#"name="stonith-enabled" value="true""#,
    );
    let c = Element::parse(&text).unwrap();
    let t = schedule(&c, 0).unwrap();
    assert!(
        t.summary
            .iter()
            .any(|l| l.starts_with("* Fence (reboot) n1")),
        "{:?}",
        t.summary
    );
    let fence = t
        .graph
        .node_indices()
        .find(|&i| t.graph[i].task == Task::Fence)
        .unwrap();
    let start = t
        .graph
        .node_indices()
        .find(|&i| t.graph[i].task == Task::Start && t.graph[i].resource.as_deref() == Some("web"))
        .unwrap();
    assert!(petgraph::algo::has_path_connecting(
        &t.graph, fence, start, None
    ));
}

// Definition changes: the history's digests against the configuration.

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `web` started on n1 with `started_with` and monitored every `interval_ms`
/// with a 20 s timeout; `extra` goes into the start entry (restart digests).
fn history(started_with: &BTreeMap<String, String>, interval_ms: u64, extra: &str) -> String {
    let start = op_digest(started_with, &BTreeMap::new(), 0, 20_000);
    let monitor = op_digest(started_with, &BTreeMap::new(), interval_ms, 20_000);
    let lrm = format!(
        r#"<lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="web_last_0" operation_key="web_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" on_node="n1" op-digest="{start}" {extra}/><lrm_rsc_op id="web_monitor_{interval_ms}" operation_key="web_monitor_{interval_ms}" operation="monitor" interval="{interval_ms}" rc-code="0" op-status="0" call-id="3" on_node="n1" op-digest="{monitor}"/></lrm_resource>"#
    );
    node_state("n1", true, &lrm) + &node_state("n2", true, "") + &node_state("n3", true, "")
}

fn web(pairs: &[(&str, &str)], monitor: &str) -> String {
    let nv: String = pairs
        .iter()
        .map(|(k, v)| format!(r#"<nvpair id="web-{k}" name="{k}" value="{v}"/>"#))
        .collect();
    format!(
        r#"<primitive id="web" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="web-ia">{nv}</instance_attributes><operations>{monitor}</operations></primitive>"#
    )
}

const MONITOR_10S: &str = r#"<op id="web-mon" name="monitor" interval="10s" timeout="20s"/>"#;

fn stickiness() -> &'static str {
    r#"<nvpair id="p2" name="default-resource-stickiness" value="100"/>"#
}

fn actions_on(t: &systole::scheduler::Transition, task: Task, node: &str) -> Vec<u64> {
    t.graph
        .node_weights()
        .filter(|a| a.task == task && a.node.as_deref() == Some(node))
        .map(|a| a.interval_ms)
        .collect()
}

#[test]
fn unchanged_definition_leaves_a_running_resource_alone() {
    let started = params(&[("state", "/run/web")]);
    let c = cib(
        stickiness(),
        &web(&[("state", "/run/web")], MONITOR_10S),
        "",
        &history(&started, 10_000, ""),
    );
    let t = schedule(&c, 0).unwrap();
    assert!(t.summary.is_empty(), "{:?}", t.summary);
    assert!(actions_on(&t, Task::Stop, "n1").is_empty());
    assert!(actions_on(&t, Task::Cancel, "n1").is_empty());
    assert!(!actions_on(&t, Task::Monitor, "n1").contains(&10_000));
}

#[test]
fn changed_parameters_restart_the_resource_in_place() {
    let started = params(&[("state", "/run/web")]);
    let c = cib(
        stickiness(),
        &web(&[("state", "/run/other")], MONITOR_10S),
        "",
        &history(&started, 10_000, ""),
    );
    let t = schedule(&c, 0).unwrap();
    assert_eq!(t.summary.len(), 1, "{:?}", t.summary);
    assert!(
        t.summary[0].contains("Restart")
            && t.summary[0].contains("( n1 )")
            && t.summary[0].ends_with("due to resource definition change"),
        "{:?}",
        t.summary
    );
    assert_eq!(actions_on(&t, Task::Stop, "n1"), vec![0]);
    assert_eq!(actions_on(&t, Task::Start, "n1"), vec![0]);
}

#[test]
fn reloadable_parameter_change_reloads_instead_of_restarting() {
    // The agent said "state" needs a restart; "delay" may be reloaded.
    let started = params(&[("state", "/run/web"), ("delay", "1")]);
    let restart = params_digest(&params(&[("state", "/run/web")]));
    let extra = format!(r#"op-force-restart=" state " op-restart-digest="{restart}""#);
    let c = cib(
        stickiness(),
        &web(&[("state", "/run/web"), ("delay", "5")], MONITOR_10S),
        "",
        &history(&started, 10_000, &extra),
    );
    let t = schedule(&c, 0).unwrap();
    assert_eq!(t.summary.len(), 1, "{:?}", t.summary);
    assert!(t.summary[0].contains("Reload"), "{:?}", t.summary);
    assert_eq!(actions_on(&t, Task::Reload, "n1"), vec![0]);
    assert!(actions_on(&t, Task::Stop, "n1").is_empty());
    // The monitor runs with the new parameters: issued again after the reload.
    assert_eq!(actions_on(&t, Task::Monitor, "n1"), vec![10_000]);

    // Changing "state" itself needs the restart.
    let c = cib(
        stickiness(),
        &web(&[("state", "/run/new"), ("delay", "1")], MONITOR_10S),
        "",
        &history(&started, 10_000, &extra),
    );
    let t = schedule(&c, 0).unwrap();
    assert!(
        t.summary.iter().any(|l| l.contains("Restart")),
        "{:?}",
        t.summary
    );
}

#[test]
fn a_changed_monitor_interval_cancels_the_old_and_starts_the_new() {
    let started = params(&[("state", "/run/web")]);
    let c = cib(
        stickiness(),
        &web(
            &[("state", "/run/web")],
            r#"<op id="web-mon" name="monitor" interval="30s" timeout="20s"/>"#,
        ),
        "",
        &history(&started, 10_000, ""),
    );
    let t = schedule(&c, 0).unwrap();
    // Monitors are no resource change: nothing in the summary.
    assert!(t.summary.is_empty(), "{:?}", t.summary);
    assert_eq!(actions_on(&t, Task::Cancel, "n1"), vec![10_000]);
    assert_eq!(actions_on(&t, Task::Monitor, "n1"), vec![30_000]);
    assert!(actions_on(&t, Task::Stop, "n1").is_empty());
}

#[test]
fn a_changed_monitor_timeout_reissues_the_monitor() {
    let started = params(&[("state", "/run/web")]);
    let c = cib(
        stickiness(),
        &web(
            &[("state", "/run/web")],
            r#"<op id="web-mon" name="monitor" interval="10s" timeout="60s"/>"#,
        ),
        "",
        &history(&started, 10_000, ""),
    );
    let t = schedule(&c, 0).unwrap();
    assert!(t.summary.is_empty(), "{:?}", t.summary);
    assert_eq!(actions_on(&t, Task::Monitor, "n1"), vec![10_000]);
    let monitor = t
        .graph
        .node_weights()
        .find(|a| a.task == Task::Monitor && a.interval_ms == 10_000)
        .unwrap();
    assert_eq!(monitor.timeout_ms, 60_000);
    assert!(actions_on(&t, Task::Cancel, "n1").is_empty());
}

#[test]
fn failures_under_an_old_definition_stop_counting() {
    // web failed to start on n1 (fail count INFINITY) with other parameters:
    // once the definition changed, n1 may run it again.
    let old = op_digest(
        &params(&[("state", "/broken")]),
        &BTreeMap::new(),
        0,
        20_000,
    );
    let lrm = format!(
        r#"<lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="web_last_0" operation_key="web_stop_0" operation="stop" interval="0" rc-code="0" op-status="0" call-id="3" on_node="n1" op-digest="{old}"/><lrm_rsc_op id="web_last_failure_0" operation_key="web_start_0" operation="start" interval="0" rc-code="1" op-status="0" call-id="2" on_node="n1" op-digest="{old}"/></lrm_resource>"#
    );
    let failed = r#"<transient_attributes id="n1"><instance_attributes id="st-n1"><nvpair id="fc" name="fail-count-web#start_0" value="INFINITY"/></instance_attributes></transient_attributes>"#;
    let n1 = node_state("n1", true, &lrm).replace("<lrm ", &format!("{failed}<lrm "));
    let status =
        |n1: &str| n1.to_string() + &node_state("n2", false, "") + &node_state("n3", false, "");
    let preferred = r#"<rsc_location id="l1" rsc="web" node="n1" score="100"/>"#;

    let same = cib(
        "",
        &web(&[("state", "/broken")], MONITOR_10S),
        preferred,
        &status(&n1),
    );
    let t = schedule(&same, 0).unwrap();
    assert!(
        !t.summary.iter().any(|l| l.contains("Start")),
        "still banned: {:?}",
        t.summary
    );

    let fixed = cib(
        "",
        &web(&[("state", "/run/web")], MONITOR_10S),
        preferred,
        &status(&n1),
    );
    let t = schedule(&fixed, 0).unwrap();
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Start") && l.contains("( n1 )")),
        "{:?}",
        t.summary
    );
    assert_eq!(actions_on(&t, Task::ClearFailcount, "n1"), vec![0]);
}

#[test]
fn a_node_never_unfenced_is_unfenced_before_anything_runs_there() {
    let device = r#"<primitive id="scsi" class="stonith" type="fence_scsi"><meta_attributes id="scsi-m"><nvpair id="scsi-p" name="provides" value="unfencing"/></meta_attributes></primitive>"#;
    let unfenced = |node: &str| {
        format!(
            r#"<transient_attributes id="{node}"><instance_attributes id="st-{node}"><nvpair id="u-{node}" name="\#node-unfenced" value="1700000000"/></instance_attributes></transient_attributes>"#
        )
        .replace("\\#", "#")
    };
    let known = |node: &str| {
        let lrm = format!(
            r#"<lrm_resource id="scsi" class="stonith" type="fence_scsi"><lrm_rsc_op id="scsi_last_0" operation_key="scsi_monitor_0" operation="monitor" interval="0" rc-code="7" op-status="0" call-id="1" on_node="{node}"/></lrm_resource><lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="web_last_0" operation_key="web_monitor_0" operation="monitor" interval="0" rc-code="7" op-status="0" call-id="2" on_node="{node}"/></lrm_resource>"#
        );
        node_state(node, true, &lrm).replace("<lrm ", &format!("{}<lrm ", unfenced(node)))
    };
    // n1 and n2 were unfenced and probed; n3 is new.
    let status = known("n1") + &known("n2") + &node_state("n3", true, "");
    let c = cib(
        "",
        &(device.to_string() + &dummy("web")),
        r#"<rsc_location id="l1" rsc="web" node="n3" score="100"/>"#,
        &status,
    );
    // With fencing on.
    let c = Element::parse(&c.to_xml_compact().replace(
        r#"name="stonith-enabled" value="false""#,
        r#"name="stonith-enabled" value="true""#,
    ))
    .unwrap();
    let t = schedule(&c, 0).unwrap();
    assert!(
        t.summary
            .iter()
            .any(|l| l == "* Fence (on) n3 'required by scsi monitor'"),
        "{:?}",
        t.summary
    );
    assert!(!t.summary.iter().any(|l| l.contains("Fence (on) n1")));
    // The unfencing comes first on n3: before the probes and web's start.
    let unfence = t
        .graph
        .node_indices()
        .find(|&i| {
            t.graph[i].task == Task::Fence
                && t.graph[i].meta.get("action").map(String::as_str) == Some("on")
        })
        .expect("an unfence action");
    let after: Vec<_> = t
        .graph
        .neighbors_directed(unfence, petgraph::Direction::Outgoing)
        .map(|i| (t.graph[i].task, t.graph[i].resource.clone()))
        .collect();
    assert!(
        after.contains(&(Task::Start, Some("web".into()))),
        "{after:?}"
    );
    assert!(
        after.contains(&(Task::Monitor, Some("scsi".into()))),
        "{after:?}"
    );
}

#[test]
fn stopping_a_clone_stops_the_chain_of_clones_ordered_after_it() {
    // base-clone -> mid-clone -> top-clone (each a group), all running on
    // n1 and n2; base-clone is disabled.
    let clone = |id: &str, members: &[&str], extra: &str| {
        let prims: String = members
            .iter()
            .map(|m| {
                format!(r#"<primitive id="{m}" class="ocf" provider="heartbeat" type="Dummy"/>"#)
            })
            .collect();
        format!(r#"<clone id="{id}-clone">{extra}<group id="{id}">{prims}</group></clone>"#)
    };
    let resources = clone(
        "base",
        &["base-a"],
        r#"<meta_attributes id="base-m"><nvpair id="base-tr" name="target-role" value="Stopped"/></meta_attributes>"#,
    ) + &clone("mid", &["mid-a"], "")
        + &clone("top", &["top-a", "top-b", "top-c"], "");
    let orders = r#"<rsc_order id="o1" first="base-clone" then="mid-clone"/><rsc_order id="o2" first="mid-clone" then="top-clone"/>"#;
    let all = ["base-a", "mid-a", "top-a", "top-b", "top-c"];
    let on = |node: &str| {
        let lrm: String = all.iter().map(|r| running(r, node)).collect();
        node_state(node, true, &lrm)
    };
    let status = on("n1") + &on("n2") + &node_state("n3", false, "");
    let c = cib("", &resources, orders, &status);
    let t = schedule(&c, 0).unwrap();
    let stops = |id: &str| {
        t.summary
            .iter()
            .filter(|l| {
                l.starts_with("* Stop")
                    && l.split_whitespace()
                        .nth(2)
                        .is_some_and(|r| r.starts_with(&format!("{id}:")))
            })
            .count()
    };
    for id in all {
        assert_eq!(stops(id), 2, "{id} stops on both nodes: {:?}", t.summary);
    }
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("mid-a:") && l.ends_with("due to unrunnable base-clone running")),
        "{:?}",
        t.summary
    );
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("top-a:") && l.ends_with("due to required mid-clone running")),
        "{:?}",
        t.summary
    );
    assert!(
        t.summary
            .iter()
            .any(|l| l.ends_with("due to required top-a:0 stop")),
        "{:?}",
        t.summary
    );
    assert!(
        t.summary
            .iter()
            .any(|l| l.ends_with("due to required top-b:1 start")),
        "{:?}",
        t.summary
    );
    // Nothing starts.
    assert!(
        !t.summary.iter().any(|l| l.starts_with("* Start")),
        "{:?}",
        t.summary
    );
}

// ---- Pacemaker Remote nodes: fencing when the connection cannot be had ----

/// A cluster of n1 and n2 with fencing on, a remote node `r1` (connection
/// resource `r1`) and a Dummy `web`. `n1_up` says whether n1 is still a
/// member; `conn_ops` is r1's history on n1; `remote_lrm` the remote node's
/// own history; `constraints` as given.
fn remote_cib(n1_up: bool, conn_ops: &str, remote_lrm: &str, constraints: &str) -> Element {
    let n1 = if n1_up {
        r#"in_ccm="true" crmd="online" join="member" expected="member""#
    } else {
        r#"in_ccm="false" crmd="offline" join="member" expected="member""#
    };
    let text = format!(
        r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
        <nvpair id="p1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
        <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
        <resources>
          <primitive id="fence" class="stonith" type="fence_xvm"/>
          <primitive id="r1" class="ocf" provider="pacemaker" type="remote">
            <operations><op id="r1-mon" name="monitor" interval="20s"/></operations></primitive>
          {web}
        </resources><constraints>{constraints}</constraints></configuration>
        <status>
          <node_state id="n1" uname="n1" {n1}><lrm id="n1"><lrm_resources>
            <lrm_resource id="r1" class="ocf" provider="pacemaker" type="remote">{conn_ops}</lrm_resource>
          </lrm_resources></lrm></node_state>
          <node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
          <node_state id="r1" uname="r1" remote_node="true"><lrm id="r1"><lrm_resources>{remote_lrm}</lrm_resources></lrm></node_state>
        </status></cib>"#,
        web = dummy("web"),
    );
    Element::parse(&text).expect("test CIB parses")
}

const CONN_STARTED: &str = r#"<lrm_rsc_op id="r1_last_0" operation_key="r1_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2"/>"#;

fn fence_line<'a>(summary: &'a [String], node: &str) -> Option<&'a String> {
    summary
        .iter()
        .find(|l| l.starts_with(&format!("* Fence (reboot) {node} ")))
}

#[test]
fn remote_node_is_fenced_when_its_connection_has_nowhere_to_go() {
    // The connection ran on n1, which is lost, and may not run on n2: what
    // runs on r1 can only be stopped by fencing r1.
    let c = remote_cib(
        false,
        CONN_STARTED,
        &running("web", "r1"),
        r#"<rsc_location id="ban-r1" rsc="r1" node="n2" score="-INFINITY"/>"#,
    );
    let t = schedule(&c, 0).unwrap();
    let line = fence_line(&t.summary, "r1").unwrap_or_else(|| panic!("{:?}", t.summary));
    assert!(
        line.ends_with("'resources are active but connection is unrecoverable'"),
        "{line}"
    );
    assert!(fence_line(&t.summary, "n1").is_some(), "{:?}", t.summary);
    // web's stop on r1 is implied by the fencing: a pseudo-action after it.
    let fence_r1 = t
        .graph
        .node_indices()
        .find(|&i| t.graph[i].task == Task::Fence && t.graph[i].node.as_deref() == Some("r1"))
        .expect("a fence action for r1");
    let implied_stop = t
        .graph
        .node_indices()
        .find(|&i| {
            t.graph[i].task == Task::Pseudo
                && t.graph[i].resource.as_deref() == Some("web")
                && t.graph[i].node.as_deref() == Some("r1")
        })
        .expect("web's stop on r1 is a pseudo-action");
    assert!(t.graph.contains_edge(fence_r1, implied_stop));
    // Nothing really runs on r1 any more.
    assert!(!t
        .graph
        .node_weights()
        .any(|a| a.node.as_deref() == Some("r1")
            && matches!(a.task, Task::Stop | Task::Start | Task::Monitor)));
}

#[test]
fn remote_node_is_not_fenced_when_its_connection_moves() {
    // Same loss, but n2 may take the connection: r1 stays up, web stays put.
    let c = remote_cib(false, CONN_STARTED, &running("web", "r1"), "");
    let t = schedule(&c, 0).unwrap();
    assert!(fence_line(&t.summary, "r1").is_none(), "{:?}", t.summary);
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Move") && l.contains("r1") && l.contains("n1 -> n2")),
        "{:?}",
        t.summary
    );
    assert!(
        !t.summary.iter().any(|l| l.contains("web")),
        "{:?}",
        t.summary
    );
}

#[test]
fn remote_node_with_unknown_resources_and_no_connection_is_fenced() {
    // Nothing is known about web on r1: it would need a probe there, which
    // no connection can carry.
    let c = remote_cib(
        false,
        CONN_STARTED,
        "",
        r#"<rsc_location id="ban-r1" rsc="r1" node="n2" score="-INFINITY"/>"#,
    );
    let t = schedule(&c, 0).unwrap();
    let line = fence_line(&t.summary, "r1").unwrap_or_else(|| panic!("{:?}", t.summary));
    assert!(
        line.ends_with("'resources are in unknown state and connection is unrecoverable'"),
        "{line}"
    );
}

#[test]
fn remote_node_with_nothing_to_do_is_not_fenced() {
    // web is known to be stopped on r1 and kept away from it: losing the
    // connection costs nothing, so r1 is left alone.
    let probed = r#"<lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="web_last_0" operation_key="web_monitor_0" operation="monitor" interval="0" rc-code="7" op-status="0" call-id="1"/></lrm_resource>"#;
    let c = remote_cib(
        false,
        CONN_STARTED,
        probed,
        r#"<rsc_location id="ban-r1" rsc="r1" node="n2" score="-INFINITY"/>"#,
    );
    let t = schedule(&c, 0).unwrap();
    assert!(fence_line(&t.summary, "r1").is_none(), "{:?}", t.summary);
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Stop") && l.contains("r1") && l.contains("node availability")),
        "{:?}",
        t.summary
    );
}

#[test]
fn failed_remote_connection_fences_the_remote_node_and_recovers() {
    // A recurring monitor of the connection failed: the remote node's state
    // is unknown, so it is reset, and the connection is recovered.
    let failed = format!(
        r#"{CONN_STARTED}<lrm_rsc_op id="r1_last_failure_0" operation_key="r1_monitor_20000" operation="monitor" interval="20000" rc-code="1" op-status="4" call-id="3"/>"#
    );
    let c = remote_cib(true, &failed, "", "");
    let t = schedule(&c, 0).unwrap();
    let line = fence_line(&t.summary, "r1").unwrap_or_else(|| panic!("{:?}", t.summary));
    assert!(
        line.ends_with("'remote connection is unrecoverable'"),
        "{line}"
    );
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Recover") && l.contains("r1")),
        "{:?}",
        t.summary
    );
}

#[test]
fn recorded_fencing_of_a_remote_node_is_not_repeated() {
    // The same failure, but the remote node was already fenced since.
    let failed = format!(
        r#"{CONN_STARTED}<lrm_rsc_op id="r1_last_failure_0" operation_key="r1_monitor_20000" operation="monitor" interval="20000" rc-code="1" op-status="4" call-id="3"/>"#
    );
    let text = remote_cib(true, &failed, "", "").to_xml_compact().replace(
        r#"remote_node="true""#,
        r#"remote_node="true" node_fenced="1""#,
    );
    let t = schedule(&Element::parse(&text).unwrap(), 0).unwrap();
    assert!(fence_line(&t.summary, "r1").is_none(), "{:?}", t.summary);
}

#[test]
fn resources_on_a_disconnected_remote_node_fence_it_unless_it_reconnects() {
    let stopped_conn = r#"<lrm_rsc_op id="r1_last_0" operation_key="r1_stop_0" operation="stop" interval="0" rc-code="0" op-status="0" call-id="3"/>"#;
    // The connection is down but web is recorded active on r1. If the
    // connection can be placed again, the fencing is called off.
    let c = remote_cib(true, stopped_conn, &running("web", "r1"), "");
    let t = schedule(&c, 0).unwrap();
    assert!(fence_line(&t.summary, "r1").is_none(), "{:?}", t.summary);
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Start") && l.contains("r1")),
        "{:?}",
        t.summary
    );
    assert!(
        !t.summary.iter().any(|l| l.contains("web")),
        "{:?}",
        t.summary
    );
    // If it cannot, r1 is fenced and web's stop is implied.
    let c = remote_cib(
        true,
        stopped_conn,
        &running("web", "r1"),
        r#"<rsc_location id="ban-r1-n1" rsc="r1" node="n1" score="-INFINITY"/>
           <rsc_location id="ban-r1-n2" rsc="r1" node="n2" score="-INFINITY"/>
           <rsc_location id="web-n1" rsc="web" node="n1" score="-INFINITY"/>
           <rsc_location id="web-n2" rsc="web" node="n2" score="-INFINITY"/>"#,
    );
    let t = schedule(&c, 0).unwrap();
    let line = fence_line(&t.summary, "r1").unwrap_or_else(|| panic!("{:?}", t.summary));
    assert!(
        line.ends_with(
            "'web is active there (fencing will be revoked if remote connection can be \
             re-established elsewhere)'"
        ),
        "{line}"
    );
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Stop") && l.contains("web") && l.contains("node availability")),
        "{:?}",
        t.summary
    );
}

#[test]
fn remote_node_without_fencing_is_never_fenced() {
    let text = remote_cib(
        false,
        CONN_STARTED,
        &running("web", "r1"),
        r#"<rsc_location id="ban-r1" rsc="r1" node="n2" score="-INFINITY"/>"#,
    )
    .to_xml_compact()
    .replace(
        r#"name="stonith-enabled" value="true""#,
        r#"name="stonith-enabled" value="false""#,
    );
    let t = schedule(&Element::parse(&text).unwrap(), 0).unwrap();
    assert!(
        !t.summary.iter().any(|l| l.starts_with("* Fence")),
        "{:?}",
        t.summary
    );
}

// ---- Guest nodes, members that left, pending members ----

/// A guest node `g1` inside container `vm` (on n1), with `web` on g1.
/// `vm_ops` is vm's history on n1.
fn guest_cib(vm_ops: &str) -> Element {
    let text = format!(
        r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
        <nvpair id="p1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
        <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
        <resources>
          <primitive id="fence" class="stonith" type="fence_xvm"/>
          <primitive id="vm" class="ocf" provider="heartbeat" type="VirtualDomain">
            <meta_attributes id="vm-meta"><nvpair id="vm-rn" name="remote-node" value="g1"/></meta_attributes>
            <operations><op id="vm-mon" name="monitor" interval="10s"/></operations></primitive>
          {web}
        </resources><constraints>
          <rsc_location id="web-g1" rsc="web" node="g1" score="100"/>
          <rsc_location id="vm-n1" rsc="vm" node="n1" score="100"/>
        </constraints></configuration>
        <status>
          <node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="n1"><lrm_resources>
            <lrm_resource id="vm" class="ocf" provider="heartbeat" type="VirtualDomain">{vm_ops}</lrm_resource>
            <lrm_resource id="g1" class="ocf" provider="pacemaker" type="remote"><lrm_rsc_op id="g1_last_0" operation_key="g1_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="3"/></lrm_resource>
          </lrm_resources></lrm></node_state>
          <node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
          <node_state id="g1" uname="g1" remote_node="true"><lrm id="g1"><lrm_resources>{running}</lrm_resources></lrm></node_state>
        </status></cib>"#,
        web = dummy("web"),
        running = running("web", "g1"),
    );
    Element::parse(&text).expect("test CIB parses")
}

// (Started with no parameters: the digest of none.)
const VM_STARTED: &str = r#"<lrm_rsc_op id="vm_last_0" operation_key="vm_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"/>"#;

#[test]
fn a_failed_guest_container_fences_the_guest_and_recovers_in_place() {
    let failed = format!(
        r#"{VM_STARTED}<lrm_rsc_op id="vm_last_failure_0" operation_key="vm_monitor_10000" operation="monitor" interval="10000" rc-code="1" op-status="0" call-id="4" transition-key="1:1:0:x"/>"#
    );
    let t = schedule(&guest_cib(&failed), 0).unwrap();
    assert!(
        t.summary
            .iter()
            .any(|l| l == "* Fence (reboot) g1 (resource: vm) 'guest is unclean'"),
        "{:?}",
        t.summary
    );
    for rsc in ["vm", "web"] {
        assert!(
            t.summary
                .iter()
                .any(|l| l.starts_with("* Recover") && l.contains(rsc)),
            "{rsc}: {:?}",
            t.summary
        );
    }
    // web comes back on the guest, not elsewhere.
    assert!(
        t.graph.node_weights().any(|a| a.task == Task::Start
            && a.resource.as_deref() == Some("web")
            && a.node.as_deref() == Some("g1")),
        "{:?}",
        t.summary
    );
}

#[test]
fn a_healthy_guest_is_left_alone() {
    let t = schedule(&guest_cib(VM_STARTED), 0).unwrap();
    assert!(
        !t.summary
            .iter()
            .any(|l| l.contains("g1") || l.contains(" vm ") || l.contains("web")),
        "{:?}",
        t.summary
    );
}

#[test]
fn a_guest_connection_that_cannot_start_keeps_its_container_stopped() {
    // vm is stopped; its guest connection g1 failed to start on the only
    // node vm may use, so vm has nowhere useful to run either.
    let text = guest_cib(
        r#"<lrm_rsc_op id="vm_last_0" operation_key="vm_stop_0" operation="stop" interval="0" rc-code="0" op-status="0" call-id="5"/>"#,
    )
    .to_xml_compact()
    .replace(
        r#"<lrm_rsc_op id="g1_last_0" operation_key="g1_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="3"/>"#,
        r#"<lrm_rsc_op id="g1_last_0" operation_key="g1_stop_0" operation="stop" interval="0" rc-code="0" op-status="0" call-id="6"/>"#,
    )
    .replace(
        r#"<node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>"#,
        r#"<node_state id="n2" uname="n2" in_ccm="false" crmd="offline" join="down" expected="down"/>"#,
    )
    .replace(
        r#"<node_state id="g1" uname="g1" remote_node="true">"#,
        r#"<node_state id="g1" uname="g1" remote_node="true"><transient_attributes id="g1-t"/>"#,
    )
    .replace(
        r#"<lrm id="n1">"#,
        r#"<transient_attributes id="n1-t"><instance_attributes id="n1-ta"><nvpair id="fc" name="fail-count-g1#start_0" value="INFINITY"/></instance_attributes></transient_attributes><lrm id="n1">"#,
    );
    let text = text.replace(&running("web", "g1"), "");
    let t = schedule(&Element::parse(&text).unwrap(), 0).unwrap();
    assert!(
        !t.summary
            .iter()
            .any(|l| l.contains("Start") && l.contains(" vm ")),
        "{:?}",
        t.summary
    );
}

/// n1 up; n2 as `n2_state` attributes, with `web` recorded started on it.
fn member_left_cib(fencing: bool, n2_state: &str) -> Element {
    let text = format!(
        r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
        <nvpair id="p1" name="stonith-enabled" value="{fencing}"/>
        <nvpair id="p2" name="node-pending-timeout" value="60s"/></cluster_property_set></crm_config>
        <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
        <resources><primitive id="fence" class="stonith" type="fence_xvm"/>{web}</resources><constraints/></configuration>
        <status>
          <node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="n1"><lrm_resources>
            <lrm_resource id="fence" class="stonith" type="fence_xvm"><lrm_rsc_op id="f_last_0" operation_key="fence_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2"/></lrm_resource>
          </lrm_resources></lrm></node_state>
          <node_state id="n2" {n2_state}><lrm id="n2"><lrm_resources>{running}</lrm_resources></lrm></node_state>
        </status></cib>"#,
        web = dummy("web"),
        running = running("web", "n2"),
    );
    Element::parse(&text).expect("test CIB parses")
}

#[test]
fn a_member_that_left_with_resources_recorded_active_is_fenced() {
    let left = r#"uname="n2" in_ccm="false" crmd="offline" join="down" expected="down""#;
    let t = schedule(&member_left_cib(true, left), 0).unwrap();
    let line = fence_line(&t.summary, "n2").unwrap_or_else(|| panic!("{:?}", t.summary));
    assert!(
        line.ends_with("'web is thought to be active there'"),
        "{line}"
    );
    assert!(
        t.summary
            .iter()
            .any(|l| l.contains("Move") && l.contains("web") && l.contains("n2 -> n1")),
        "{:?}",
        t.summary
    );
    // Without fencing, the history of a node that left says nothing.
    let t = schedule(&member_left_cib(false, left), 0).unwrap();
    assert!(fence_line(&t.summary, "n2").is_none(), "{:?}", t.summary);
}

#[test]
fn a_member_pending_longer_than_node_pending_timeout_is_fenced() {
    // n2 joined the membership at t=1000 but its controller never came up.
    let pending = r#"in_ccm="1000" crmd="0""#;
    let t = schedule(&member_left_cib(true, pending), 2000).unwrap();
    let line = fence_line(&t.summary, "n2").unwrap_or_else(|| panic!("{:?}", t.summary));
    assert!(
        line.ends_with("'peer pending timed out on joining the process group'"),
        "{line}"
    );
    // Still within the timeout: it is only pending, and nothing is fenced.
    let t = schedule(&member_left_cib(true, pending), 1030).unwrap();
    assert!(fence_line(&t.summary, "n2").is_none(), "{:?}", t.summary);
}

#[test]
fn a_clone_instance_whose_stop_failed_leaves_its_number_to_a_healthy_one() {
    // clvm:0's stop failed on n2, which is fenced for it; the instance that
    // starts on n1 is a fresh one, and clvm:0 is simply gone with n2.
    let failed_stop = r#"<lrm_resource id="clvm" class="lsb" type="clvmd"><lrm_rsc_op id="clvm_last_0" operation_key="clvm_stop_0" operation="stop" interval="0" rc-code="1" op-status="0" call-id="3"/></lrm_resource>"#;
    let text = format!(
        r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
        <nvpair id="p1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
        <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
        <resources><primitive id="fence" class="stonith" type="fence_xvm"/>
        <clone id="clvm-clone"><primitive id="clvm" class="lsb" type="clvmd"/></clone></resources>
        <constraints/></configuration>
        <status>
          <node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>
          <node_state id="n2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="n2"><lrm_resources>{failed_stop}</lrm_resources></lrm></node_state>
        </status></cib>"#
    );
    let t = schedule(&Element::parse(&text).unwrap(), 0).unwrap();
    let line = fence_line(&t.summary, "n2").unwrap_or_else(|| panic!("{:?}", t.summary));
    assert!(line.ends_with("'clvm:0 failed there'"), "{line}");
    let has = |s: &str| {
        t.summary
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == s)
    };
    assert!(
        has("* Stop clvm:0 ( n2 ) due to node availability"),
        "{:?}",
        t.summary
    );
    assert!(has("* Start clvm:1 ( n1 )"), "{:?}", t.summary);
}

#[test]
fn a_remote_connection_left_mid_migration_goes_on_to_its_target() {
    // r1's connection was being live-migrated from n1 to n2: migrate_to
    // succeeded on n1, n2 has not completed it. n1 and n2 are equally good,
    // so the migration is carried through rather than undone.
    let migrating = r#"<lrm_rsc_op id="r1_last_0" operation_key="r1_migrate_to_0" operation="migrate_to" interval="0" rc-code="0" op-status="0" call-id="4" migrate_source="n1" migrate_target="n2"/>"#;
    let text = remote_cib(true, migrating, "", "")
        .to_xml_compact()
        .replace(
            r#"type="remote"><operations>"#,
            r#"type="remote"><meta_attributes id="r1-meta"><nvpair id="r1-am" name="allow-migrate" value="true"/></meta_attributes><operations>"#,
        );
    let t = schedule(&Element::parse(&text).unwrap(), 0).unwrap();
    assert!(
        t.summary
            .iter()
            .any(|l| l.starts_with("* Migrate") && l.contains("r1") && l.contains("n1 -> n2")),
        "{:?}",
        t.summary
    );
}

#[test]
fn a_lost_guest_whose_container_stays_down_is_fenced_off() {
    let failed = format!(
        r#"{VM_STARTED}<lrm_rsc_op id="vm_last_failure_0" operation_key="vm_monitor_10000" operation="monitor" interval="10000" rc-code="1" op-status="0" call-id="4" transition-key="1:1:0:x"/>"#
    );
    let text = guest_cib(&failed).to_xml_compact().replace(
        r#"<rsc_location id="vm-n1" rsc="vm" node="n1" score="100"/>"#,
        r#"<rsc_location id="vm-n1" rsc="vm" node="n1" score="-INFINITY"/><rsc_location id="vm-n2" rsc="vm" node="n2" score="-INFINITY"/>"#,
    );
    let t = schedule(&Element::parse(&text).unwrap(), 0).unwrap();
    assert!(
        t.summary
            .iter()
            .any(|l| l == "* Fence (off) g1 (resource: vm) 'guest is unclean'"),
        "{:?}",
        t.summary
    );
}

// Pseudo-actions of collective resources and clone notifications.

/// The graph as (operation key, node) names, with a lookup of edges by key.
struct Keys {
    t: systole::scheduler::Transition,
}

impl Keys {
    fn new(t: systole::scheduler::Transition) -> Self {
        Keys { t }
    }

    fn find(&self, key: &str, node: Option<&str>) -> Option<petgraph::graph::NodeIndex> {
        self.t.graph.node_indices().find(|&i| {
            self.t.graph[i].key() == key
                && (node.is_none() || self.t.graph[i].node.as_deref() == node)
        })
    }

    fn has(&self, key: &str) -> bool {
        self.find(key, None).is_some()
    }

    fn count(&self, key: &str) -> usize {
        self.t
            .graph
            .node_weights()
            .filter(|a| a.key() == key)
            .count()
    }

    /// `first` comes before `then`, directly.
    fn edge(&self, first: &str, then: &str) -> bool {
        match (self.find(first, None), self.find(then, None)) {
            (Some(a), Some(b)) => self.t.graph.contains_edge(a, b),
            _ => false,
        }
    }

    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.t.graph.node_weights().map(|a| a.key()).collect();
        k.sort();
        k
    }
}

#[test]
fn a_starting_group_is_wrapped_in_start_and_running() {
    let group = format!(r#"<group id="g">{}{}</group>"#, dummy("a"), dummy("b"));
    let status =
        node_state("n1", true, "") + &node_state("n2", true, "") + &node_state("n3", true, "");
    let t = Keys::new(schedule(&cib("", &group, "", &status), 0).unwrap());
    for key in ["g_start_0", "g_running_0"] {
        assert_eq!(t.count(key), 1, "{key} in {:?}", t.keys());
        let i = t.find(key, None).unwrap();
        assert_eq!(t.t.graph[i].task, Task::Pseudo);
        assert_eq!(t.t.graph[i].node, None);
    }
    assert!(
        !t.has("g_stop_0") && !t.has("g_stopped_0"),
        "{:?}",
        t.keys()
    );
    assert!(t.edge("g_start_0", "a_start_0"));
    assert!(t.edge("g_start_0", "b_start_0"));
    assert!(t.edge("a_start_0", "g_running_0"));
    assert!(t.edge("b_start_0", "g_running_0"));
    assert!(t.edge("a_start_0", "b_start_0"));
}

#[test]
fn a_moving_group_stops_before_it_starts() {
    let group = format!(r#"<group id="g">{}{}</group>"#, dummy("a"), dummy("b"));
    let status = node_state("n1", true, &(running("a", "n1") + &running("b", "n1")))
        + &node_state("n2", true, "")
        + &node_state("n3", true, "");
    let t = Keys::new(
        schedule(
            &cib(
                "",
                &group,
                r#"<rsc_location id="l" rsc="g" node="n1" score="-INFINITY"/>"#,
                &status,
            ),
            0,
        )
        .unwrap(),
    );
    for key in ["g_stop_0", "g_stopped_0", "g_start_0", "g_running_0"] {
        assert!(t.has(key), "{key} in {:?}", t.keys());
    }
    assert!(t.edge("g_stop_0", "b_stop_0"));
    assert!(t.edge("a_stop_0", "g_stopped_0"));
    assert!(t.edge("g_stopped_0", "g_start_0"));
    assert!(t.edge("b_stop_0", "a_stop_0"));
}

#[test]
fn an_order_against_a_clone_goes_through_its_pseudo_actions() {
    let rsc = format!(
        r#"{}<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="clone-max" value="2"/></meta_attributes>{}</clone>{}"#,
        dummy("first"),
        dummy("inst"),
        dummy("after")
    );
    let status =
        node_state("n1", true, "") + &node_state("n2", true, "") + &node_state("n3", true, "");
    let t = Keys::new(
        schedule(
            &cib(
                "",
                &rsc,
                r#"<rsc_order id="o1" first="first" then="c"/><rsc_order id="o2" first="c" then="after"/>"#,
                &status,
            ),
            0,
        )
        .unwrap(),
    );
    assert!(t.edge("first_start_0", "c_start_0"), "{:?}", t.keys());
    assert!(t.edge("c_running_0", "after_start_0"));
    assert!(t.edge("c_start_0", "inst:0_start_0"));
    assert!(t.edge("inst:1_start_0", "c_running_0"));
    // The instances no longer wait on "first" one by one.
    assert!(!t.edge("first_start_0", "inst:0_start_0"));
}

fn notify_clone(status: &str, constraints: &str, quorum: bool) -> Element {
    let rsc = r#"<clone id="db-clone"><meta_attributes id="dbm"><nvpair id="dbm1" name="notify" value="true"/><nvpair id="dbm2" name="clone-max" value="2"/></meta_attributes>
        <primitive id="db" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#;
    let c = cib("", rsc, constraints, status);
    if quorum {
        return c;
    }
    let text = c
        .to_xml_compact()
        .replace(r#"have-quorum="1""#, r#"have-quorum="0""#);
    Element::parse(&text).unwrap()
}

#[test]
fn a_notifying_clone_tells_active_instances_before_and_everyone_after_a_start() {
    let status = node_state("n1", true, &running("db", "n1"))
        + &node_state("n2", true, "")
        + &node_state("n3", false, "");
    let t = Keys::new(schedule(&notify_clone(&status, "", true), 0).unwrap());
    for key in [
        "db-clone_pre_notify_start_0",
        "db-clone_confirmed-pre_notify_start_0",
        "db-clone_start_0",
        "db-clone_running_0",
        "db-clone_post_notify_running_0",
        "db-clone_confirmed-post_notify_running_0",
    ] {
        assert_eq!(t.count(key), 1, "{key} in {:?}", t.keys());
    }
    // Nothing stops: no stop notifications.
    assert!(!t.has("db-clone_pre_notify_stop_0"), "{:?}", t.keys());
    // Before: only the instance already running (on n1) is told.
    let pre: Vec<_> = t
        .t
        .graph
        .node_weights()
        .filter(|a| {
            a.task == Task::Notify && a.meta.get("notify_type").map(String::as_str) == Some("pre")
        })
        .collect();
    assert_eq!(pre.len(), 1, "{:?}", t.keys());
    assert_eq!(pre[0].node.as_deref(), Some("n1"));
    assert_eq!(pre[0].key(), "db:0_pre_notify_start_0");
    assert_eq!(pre[0].meta.get("notify_operation").unwrap(), "start");
    assert_eq!(pre[0].meta.get("notify_start_uname").unwrap(), "n2");
    assert_eq!(pre[0].meta.get("notify_active_uname").unwrap(), "n1");
    assert_eq!(pre[0].meta.get("notify_stop_resource").unwrap(), " ");
    // After: both instances.
    let post: Vec<_> = t
        .t
        .graph
        .node_weights()
        .filter(|a| {
            a.task == Task::Notify && a.meta.get("notify_type").map(String::as_str) == Some("post")
        })
        .filter_map(|a| a.node.clone())
        .collect();
    assert_eq!(post.len(), 2, "{:?}", t.keys());
    assert!(post.contains(&"n1".to_string()) && post.contains(&"n2".to_string()));
    // The order: pre, confirmed-pre, start, running, post, confirmed-post.
    assert!(t.edge("db-clone_pre_notify_start_0", "db:0_pre_notify_start_0"));
    assert!(t.edge(
        "db:0_pre_notify_start_0",
        "db-clone_confirmed-pre_notify_start_0"
    ));
    assert!(t.edge("db-clone_confirmed-pre_notify_start_0", "db-clone_start_0"));
    assert!(t.edge("db-clone_start_0", "db:1_start_0"));
    assert!(t.edge("db:1_start_0", "db-clone_running_0"));
    assert!(t.edge("db-clone_running_0", "db-clone_post_notify_running_0"));
    assert!(t.edge("db-clone_post_notify_running_0", "db:1_post_notify_start_0"));
    assert!(t.edge(
        "db:1_post_notify_start_0",
        "db-clone_confirmed-post_notify_running_0"
    ));
    assert!(petgraph::algo::toposort(&t.t.graph, None).is_ok());
}

#[test]
fn a_notifying_clone_that_stops_tells_the_stopping_instance_first() {
    let status = node_state("n1", true, &running("db", "n1"))
        + &node_state("n2", true, &running("db", "n2"))
        + &node_state("n3", false, "");
    let c = notify_clone(
        &status,
        r#"<rsc_location id="ban" rsc="db-clone" node="n2" score="-INFINITY"/>"#,
        true,
    );
    let t = Keys::new(schedule(&c, 0).unwrap());
    for key in [
        "db-clone_pre_notify_stop_0",
        "db-clone_confirmed-pre_notify_stop_0",
        "db-clone_stop_0",
        "db-clone_stopped_0",
        "db-clone_post_notify_stopped_0",
        "db-clone_confirmed-post_notify_stopped_0",
    ] {
        assert_eq!(t.count(key), 1, "{key} in {:?}", t.keys());
    }
    assert!(!t.has("db-clone_start_0"), "{:?}", t.keys());
    let notes: Vec<(String, String)> =
        t.t.graph
            .node_weights()
            .filter(|a| a.task == Task::Notify)
            .map(|a| (a.key(), a.node.clone().unwrap_or_default()))
            .collect();
    // Both instances hear of the stop before it; only the survivor after.
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert_eq!(
        notes
            .iter()
            .filter(|(k, _)| k.contains("_pre_notify_stop_0"))
            .count(),
        2,
        "{notes:?}"
    );
    assert!(notes
        .iter()
        .any(|(k, n)| k.contains("_post_notify_stop_0") && n == "n1"));
}

#[test]
fn an_idle_notifying_clone_sends_nothing() {
    let status = node_state("n1", true, &running("db", "n1"))
        + &node_state("n2", true, &running("db", "n2"))
        + &node_state("n3", false, "");
    let t = Keys::new(schedule(&notify_clone(&status, "", true), 0).unwrap());
    assert!(
        t.t.graph
            .node_weights()
            .all(|a| a.task != Task::Notify && a.task != Task::Pseudo),
        "{:?}",
        t.keys()
    );
}

#[test]
fn notifications_are_not_sent_for_starts_that_cannot_run() {
    // Without quorum nothing starts: no clone start, no notifications.
    let status =
        node_state("n1", true, "") + &node_state("n2", true, "") + &node_state("n3", false, "");
    let t = Keys::new(schedule(&notify_clone(&status, "", false), 0).unwrap());
    assert!(
        t.t.graph
            .node_weights()
            .all(|a| a.task != Task::Notify && a.task != Task::Pseudo),
        "{:?}",
        t.keys()
    );
}

#[test]
fn an_interleaved_instance_without_its_first_on_the_node_is_not_started_there() {
    let clone = |id: &str| {
        format!(
            r#"<clone id="{id}-clone"><meta_attributes id="{id}-m"><nvpair id="{id}-i" name="interleave" value="true"/></meta_attributes><primitive id="{id}" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#
        )
    };
    let c = cib(
        "",
        &(clone("base") + &clone("app")),
        r#"<rsc_order id="o" first="base-clone" then="app-clone"/><rsc_location id="ban" rsc="base-clone" node="n1" score="-INFINITY"/>"#,
        &(node_state("n1", true, "") + &node_state("n2", true, "") + &node_state("n3", true, "")),
    );
    let t = schedule(&c, 0).unwrap();
    let starts_on = |id: &str, node: &str| {
        t.summary
            .iter()
            .filter(|l| {
                l.starts_with("* Start")
                    && l.contains(&format!(" {id}:"))
                    && l.contains(&format!("( {node} )"))
            })
            .count()
    };
    for node in ["n2", "n3"] {
        assert_eq!(starts_on("base", node), 1, "{:?}", t.summary);
        assert_eq!(starts_on("app", node), 1, "{:?}", t.summary);
    }
    // Nothing of either clone on n1, not even a blocked start.
    assert!(
        !t.summary.iter().any(|l| l.contains("n1")),
        "{:?}",
        t.summary
    );
    assert!(!t
        .graph
        .node_weights()
        .any(|a| a.task == Task::Start && a.node.as_deref() == Some("n1")));
}

#[test]
fn maintenance_cancels_monitors_and_touches_nothing_else() {
    let started = params(&[("state", "/run/web")]);
    let c = cib(
        r#"<nvpair id="p-m" name="maintenance-mode" value="true"/>"#,
        // A changed parameter too: in maintenance it is not acted on.
        &web(&[("state", "/run/other")], MONITOR_10S),
        "",
        &history(&started, 10_000, ""),
    );
    let t = schedule(&c, 0).unwrap();
    assert!(t.summary.is_empty(), "{:?}", t.summary);
    assert_eq!(actions_on(&t, Task::Cancel, "n1"), vec![10_000]);
    assert!(actions_on(&t, Task::Stop, "n1").is_empty());
    assert!(actions_on(&t, Task::Start, "n1").is_empty());
}

/// Fencing enabled and no fence device: nothing starts, stops or recovers
/// (a failed node could not be fenced), but every node is still probed so
/// the status stays true; the CIB carries a warning saying why.
#[test]
fn without_a_fence_device_resources_are_probed_but_not_started_or_stopped() {
    let lrm = running("held", "n1");
    let text = format!(
        r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
        <nvpair id="p1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
        <nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
        <resources>{}{}</resources><constraints/></configuration>
        <status>{}{}</status></cib>"#,
        dummy("fresh"),
        dummy("held").replace(
            "<operations>",
            r#"<meta_attributes id="held-meta"><nvpair id="held-tr" name="target-role" value="Stopped"/></meta_attributes><operations>"#
        ),
        node_state("n1", true, &lrm),
        node_state("n2", true, ""),
    );
    let t = schedule(&Element::parse(&text).unwrap(), 0).unwrap();
    assert!(t.summary.is_empty(), "{:?}", t.summary);
    let probes: Vec<(String, String)> = t
        .graph
        .node_weights()
        .filter(|a| a.task == Task::Monitor && a.interval_ms == 0)
        .map(|a| {
            (
                a.resource.clone().unwrap_or_default(),
                a.node.clone().unwrap_or_default(),
            )
        })
        .collect();
    for want in [("fresh", "n1"), ("fresh", "n2"), ("held", "n2")] {
        assert!(
            probes.contains(&(want.0.to_string(), want.1.to_string())),
            "no probe of {want:?} in {probes:?}"
        );
    }
    assert!(t
        .config_errors
        .iter()
        .any(|e| e.message.contains("start-up disabled")));
}

/// Probes follow resource-discovery on remote nodes as on cluster nodes: a
/// resource discovered only where `exclusive` constraints name is probed
/// nowhere else (with a hundred remote nodes, probing everything everywhere
/// is quadratic, and a probe that times out on a node the resource may not
/// run on counts it active there). Fence devices and connections are never
/// probed on remote nodes.
#[test]
fn exclusive_discovery_keeps_probes_off_other_remote_nodes() {
    let connection = |id: &str| {
        format!(
            r#"<primitive id="{id}" class="ocf" provider="pacemaker" type="remote"><instance_attributes id="{id}-p"><nvpair id="{id}-s" name="server" value="127.0.0.1"/></instance_attributes><operations><op id="{id}-m" name="monitor" interval="10s"/></operations></primitive>"#
        )
    };
    let started = |id: &str, node: &str| {
        format!(
            r#"<lrm_resource id="{id}" class="ocf" provider="pacemaker" type="remote"><lrm_rsc_op id="{id}_last_0" operation_key="{id}_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" on_node="{node}"/></lrm_resource>"#
        )
    };
    let rscs = format!(
        r#"<primitive id="fence" class="stonith" type="fence_dummy"/>{}{}{}"#,
        connection("r0"),
        connection("r1"),
        dummy("d0")
    );
    let mut cons = String::new();
    for (node, score) in [("r0", 100), ("n1", 0), ("n2", 0), ("n3", 0)] {
        cons += &format!(
            r#"<rsc_location id="d0-{node}" rsc="d0" node="{node}" score="{score}" resource-discovery="exclusive"/>"#
        );
    }
    let status = node_state("n1", true, &started("r0", "n1"))
        + &node_state("n2", true, &started("r1", "n2"))
        + &node_state("n3", true, "");
    let t = schedule(&cib("", &rscs, &cons, &status), 0).unwrap();
    let mut probed: Vec<(String, String)> = t
        .graph
        .node_weights()
        .filter(|a| a.task == Task::Monitor && a.interval_ms == 0)
        .filter(|a| a.node.as_deref().is_some_and(|n| n.starts_with('r')))
        .map(|a| (a.resource.clone().unwrap(), a.node.clone().unwrap()))
        .collect();
    probed.sort();
    assert_eq!(
        probed,
        [("d0".to_string(), "r0".to_string())],
        "{:?}",
        t.summary
    );
    let d0_probes = t
        .graph
        .node_weights()
        .filter(|a| a.task == Task::Monitor && a.interval_ms == 0)
        .filter(|a| a.resource.as_deref() == Some("d0"))
        .count();
    assert_eq!(d0_probes, 4, "n1, n2, n3 and r0");
}
