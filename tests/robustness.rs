//! One bad input must never take the cluster down: the pure core's answers
//! to agents that cannot run, odd results and scheduler settings (issue 9).

use systole::actors::policy::plan;
use systole::model::cib::operation::{AgentSpec, OpOutcome, OpSpec, OpStatus};
use systole::model::cib::store;
use systole::model::cib::xml::Element;
use systole::scheduler::{schedule, Task};

/// Three online nodes and `resources`, with histories written afterwards
/// by [`record`], the daemon's own recording.
fn cib(properties: &str, resources: &str) -> Element {
    let states: String = ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            format!(
                r#"<node_state id="{n}" uname="{n}" in_ccm="true" crmd="online" join="member" expected="member"/>"#
            )
        })
        .collect();
    let nodes: String = ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            format!(
                r#"<node id="{n}" uname="{n}"><utilization id="{n}-u"><nvpair id="{n}-u-cpu" name="cpu" value="4"/></utilization></node>"#
            )
        })
        .collect();
    Element::parse(&format!(
        r#"<cib have-quorum="1" admin_epoch="0" epoch="1" num_updates="0"><configuration>
  <crm_config><cluster_property_set id="p">{properties}</cluster_property_set></crm_config>
  <nodes>{nodes}</nodes>
  <resources>
    <primitive id="fence" class="stonith" type="fence_systole_local"/>
    {resources}
  </resources><constraints/></configuration>
  <status>{states}</status></cib>"#
    ))
    .unwrap()
}

static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Records one result as the DC does (`agent` is class:type or
/// class:provider:type); a probe when `operation` is monitor, interval 0.
#[allow(clippy::too_many_arguments)]
fn record(
    cib: &mut Element,
    node: &str,
    rsc: &str,
    agent: &str,
    operation: &str,
    interval_ms: u64,
    rc: i32,
    status: OpStatus,
) {
    let agent = AgentSpec::parse(agent).expect("agent");
    let mut op = OpSpec::new(rsc, agent, operation.into());
    op.interval_ms = interval_ms;
    if op.is_probe() {
        op.meta.insert("op_target_rc".to_string(), "7".to_string());
    }
    let call_id = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let outcome = OpOutcome {
        status,
        exec_ms: 1,
        ..OpOutcome::completed(rc, call_id, 1_600_000_000)
    };
    let key = format!("1:1:{}:systole", op.expected_rc());
    store::record_op(cib, node, &op, &outcome, &key);
}

/// The fence device runs on n1 and was probed elsewhere.
fn fence_history(cib: &mut Element) {
    let device = "stonith:fence_systole_local";
    for n in ["n2", "n3"] {
        record(cib, n, "fence", device, "monitor", 0, 7, OpStatus::Done);
    }
    record(cib, "n1", "fence", device, "start", 0, 0, OpStatus::Done);
}

#[test]
fn a_probe_finding_the_agent_not_installed_keeps_it_off_that_node_without_fencing() {
    // systemd:nginx on hosts without it: every probe says "not installed"
    // (rc 5, op-status 7), as the executor now answers for any class or
    // agent it cannot run.
    let nginx = r#"<primitive id="s1" class="systemd" type="nginx"/>"#;
    let mut c = cib("", nginx);
    fence_history(&mut c);
    for n in ["n1", "n2", "n3"] {
        record(
            &mut c,
            n,
            "s1",
            "systemd:nginx",
            "monitor",
            0,
            5,
            OpStatus::NotInstalled,
        );
    }
    let t = schedule(&c, 1_700_000_000).unwrap();
    for action in t.graph.node_weights() {
        assert_ne!(action.task, Task::Fence, "{:?}", t.summary);
        assert_ne!(action.resource.as_deref(), Some("s1"), "{:?}", t.summary);
    }
    // Not installed on two nodes only: it starts on the third, and nothing
    // is stopped or fenced.
    let mut c = cib("", nginx);
    fence_history(&mut c);
    record(
        &mut c,
        "n1",
        "s1",
        "systemd:nginx",
        "monitor",
        0,
        5,
        OpStatus::NotInstalled,
    );
    record(
        &mut c,
        "n2",
        "s1",
        "systemd:nginx",
        "monitor",
        0,
        5,
        OpStatus::NotInstalled,
    );
    record(
        &mut c,
        "n3",
        "s1",
        "systemd:nginx",
        "monitor",
        0,
        7,
        OpStatus::Done,
    );
    let t = schedule(&c, 1_700_000_000).unwrap();
    let starts: Vec<_> = t
        .graph
        .node_weights()
        .filter(|a| a.resource.as_deref() == Some("s1") && a.task == Task::Start)
        .map(|a| a.node.clone().unwrap())
        .collect();
    assert_eq!(starts, vec!["n3".to_string()], "{:?}", t.summary);
    assert!(
        t.graph
            .node_weights()
            .all(|a| a.task != Task::Stop && a.task != Task::Fence),
        "{:?}",
        t.summary
    );
}

#[test]
fn running_promoted_from_a_plain_primitive_is_recovered_not_demoted() {
    // Started on n1; its recurring monitor then failed with rc 8.
    let mut c = cib(
        r#"<nvpair id="p1" name="stonith-enabled" value="false"/>"#,
        r#"<primitive id="web" class="ocf" provider="heartbeat" type="Dummy">
             <operations><op id="web-m" name="monitor" interval="10s"/></operations></primitive>"#,
    );
    fence_history(&mut c);
    let dummy = "ocf:heartbeat:Dummy";
    for n in ["n2", "n3"] {
        record(&mut c, n, "web", dummy, "monitor", 0, 7, OpStatus::Done);
    }
    record(&mut c, "n1", "web", dummy, "start", 0, 0, OpStatus::Done);
    record(
        &mut c,
        "n1",
        "web",
        dummy,
        "monitor",
        10_000,
        8,
        OpStatus::Done,
    );
    let t = schedule(&c, 1_700_000_000).unwrap();
    let tasks: Vec<Task> = t
        .graph
        .node_weights()
        .filter(|a| a.resource.as_deref() == Some("web"))
        .map(|a| a.task)
        .collect();
    assert!(!tasks.contains(&Task::Demote), "{:?}", t.summary);
    assert!(
        tasks.contains(&Task::Stop) && tasks.contains(&Task::Start),
        "{:?}",
        t.summary
    );
    assert!(t.summary.join("\n").contains("Recover"), "{:?}", t.summary);
}

#[test]
fn a_placement_strategy_does_not_make_an_idle_cluster_busy() {
    for strategy in ["utilization", "balanced", "minimal"] {
        let mut c = cib(
            &format!(
                r#"<nvpair id="p1" name="stonith-enabled" value="false"/>
                   <nvpair id="p2" name="placement-strategy" value="{strategy}"/>"#
            ),
            r#"<primitive id="web" class="ocf" provider="heartbeat" type="Dummy">
                 <meta_attributes id="wm"><nvpair id="wm1" name="resource-stickiness" value="100"/></meta_attributes>
                 <utilization id="wu"><nvpair id="wu1" name="cpu" value="1"/></utilization></primitive>"#,
        );
        fence_history(&mut c);
        let dummy = "ocf:heartbeat:Dummy";
        for n in ["n1", "n3"] {
            record(&mut c, n, "web", dummy, "monitor", 0, 7, OpStatus::Done);
        }
        // web beside the fence device would be a placement to improve: under
        // a placement strategy, Pacemaker moves the device (no stickiness)
        // to a node with fewer resources. Apart, the cluster is settled.
        record(&mut c, "n2", "web", dummy, "start", 0, 0, OpStatus::Done);
        // Pacemaker's graph has a load_stopped pseudo-action per node...
        let t = schedule(&c, 1_700_000_000).unwrap();
        assert!(t.graph.node_count() > 0, "{strategy}");
        assert!(
            !t.has_work(),
            "{strategy}: {:?}",
            t.graph.node_weights().collect::<Vec<_>>()
        );
        // ...but the DC gets nothing to run, so it rests.
        let plan = plan(&c, 1_700_000_000).unwrap();
        assert!(plan.actions.is_empty(), "{strategy}");
    }
}

#[test]
fn what_the_scheduler_leaves_out_is_listed_and_the_rest_planned() {
    let c = cib(
        r#"<nvpair id="p1" name="stonith-enabled" value="false"/>"#,
        r#"<primitive id="web" class="ocf" provider="heartbeat" type="Dummy"><operations>
             <op id="web-m" name="monitor" interval="garbage"/></operations></primitive>
           <primitive id="odd" class="bogus" type="x"/>"#,
    );
    let errors: Vec<String> = schedule(&c, 0)
        .unwrap()
        .config_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    let errors = errors.join("\n");
    assert!(
        errors.contains(r#"<op id="web-m">: invalid interval "garbage""#),
        "{errors}"
    );
    assert!(
        errors.contains(r#"<primitive id="odd">: unknown resource class"#),
        "{errors}"
    );
    let plan = plan(&c, 0).unwrap();
    assert!(
        plan.summary.iter().any(|l| l.contains("web")),
        "{:?}",
        plan.summary
    );
    // A CIB the scheduler cannot read at all is an error, not a panic.
    let error = systole::actors::policy::plan(&Element::new("cib"), 0).unwrap_err();
    assert!(error.contains("configuration"), "{error}");
}
