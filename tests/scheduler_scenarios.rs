//! Small scheduler scenarios written from Pacemaker's documented behaviour,
//! plus property tests of the invariants.

use proptest::prelude::*;
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

fn running(rsc: &str, node: &str) -> String {
    format!(
        r#"<lrm_resource id="{rsc}" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="{rsc}_last_0" operation_key="{rsc}_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" on_node="{node}"/></lrm_resource>"#
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
