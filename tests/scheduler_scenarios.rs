//! Small scheduler scenarios written from Pacemaker's documented behaviour,
//! plus property tests of the invariants.

use std::collections::BTreeMap;

use proptest::prelude::*;
use systole::model::digest::{op_digest, params_digest};
use systole::model::status::resource_status;
use systole::model::xml::Element;
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
    let c = cib("", r#"<primitive id="x" template="nope"/>"#, "", "");
    let err = schedule(&c, 0).unwrap_err().to_string();
    assert!(
        err.contains("primitive") && err.contains("x") && err.contains("nope"),
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
    let c = cib(
        "",
        &dummy("web"),
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
        .find(|&i| t.graph[i].task == Task::Start)
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
