//! Tests of the scheduler's speed-ups: the cheap structures must behave as
//! the ones they replaced, and the graph must come out the same every time.

use std::collections::BTreeMap;

use proptest::prelude::*;
use systole::model::cib::xml::Element;
use systole::scheduler::{schedule, Meta, Task};

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u8),
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, any::<u8>()).prop_map(|(k, v)| Op::Insert(k, v)),
        (0u8..12).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// `Meta` answers every query as the `BTreeMap` it replaced, entries in
    /// the same (key) order.
    #[test]
    fn meta_behaves_as_btreemap(ops in proptest::collection::vec(op(), 0..40)) {
        let mut meta = Meta::new();
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    let (k, v) = (format!("key{k}"), v.to_string());
                    prop_assert_eq!(meta.insert(k.clone(), v.clone()), map.insert(k, v));
                }
                Op::Remove(k) => {
                    let k = format!("key{k}");
                    prop_assert_eq!(meta.remove(&k), map.remove(&k));
                }
            }
            prop_assert_eq!(meta.len(), map.len());
            for k in 0..12 {
                let k = format!("key{k}");
                prop_assert_eq!(meta.get(&k), map.get(&k));
                prop_assert_eq!(meta.contains_key(&k), map.contains_key(&k));
            }
            let a: Vec<(&String, &String)> = meta.iter().collect();
            let b: Vec<(&String, &String)> = map.iter().collect();
            prop_assert_eq!(a, b);
            prop_assert_eq!(format!("{meta:?}"), format!("{map:?}"));
        }
        let rebuilt: Meta = map.clone().into_iter().collect();
        prop_assert_eq!(rebuilt, meta);
    }
}

fn fencing_cib(nodes: usize, down: &[usize], rscs: usize) -> Element {
    let mut node_list = String::new();
    let mut status = String::new();
    for n in 1..=nodes {
        node_list += &format!(r#"<node id="n{n}" uname="n{n}"/>"#);
        let lrm: String = (0..rscs)
            .filter(|r| r % nodes + 1 == n)
            .map(|r| {
                format!(
                    r#"<lrm_resource id="r{r}" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="r{r}_last_0" operation_key="r{r}_start_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" on_node="n{n}"/></lrm_resource>"#
                )
            })
            .collect();
        // A node that left uncleanly (in_ccm false but expected member) is fenced.
        let (ccm, crmd, join) = if down.contains(&n) {
            ("false", "offline", "member")
        } else {
            ("true", "online", "member")
        };
        status += &format!(
            r#"<node_state id="n{n}" uname="n{n}" in_ccm="{ccm}" crmd="{crmd}" join="{join}" expected="member"><lrm id="n{n}"><lrm_resources>{lrm}</lrm_resources></lrm></node_state>"#
        );
    }
    let resources: String = (0..rscs)
        .map(|r| {
            format!(
                r#"<primitive id="r{r}" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="r{r}-ia"><nvpair id="r{r}-p" name="state" value="/run/r{r}"/></instance_attributes><operations><op id="r{r}-mon" name="monitor" interval="10s"/></operations></primitive>"#
            )
        })
        .collect();
    let text = format!(
        r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="p">
        <nvpair id="p1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
        <nodes>{node_list}</nodes><resources><primitive id="fence" class="stonith" type="fence_dummy"/>{resources}</resources><constraints/></configuration>
        <status>{status}</status></cib>"#
    );
    Element::parse(&text).expect("test CIB parses")
}

fn edges(t: &systole::scheduler::Transition) -> Vec<(String, String)> {
    t.graph
        .raw_edges()
        .iter()
        .map(|e| {
            let a = &t.graph[e.source()];
            let b = &t.graph[e.target()];
            (
                format!("{} {:?}", a.key(), a.node),
                format!("{} {:?}", b.key(), b.node),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// The same CIB gives the same graph, edge for edge and in the same
    /// order, even with several nodes to fence (their order once came from a
    /// randomly seeded hash map).
    #[test]
    fn graph_is_deterministic_with_fencing(
        nodes in 3usize..7,
        down in proptest::collection::vec(1usize..7, 0..3),
        rscs in 1usize..12,
    ) {
        let cib = fencing_cib(nodes, &down, rscs);
        let a = schedule(&cib, 0).unwrap();
        let b = schedule(&cib, 0).unwrap();
        prop_assert_eq!(a.graph.node_count(), b.graph.node_count());
        let na: Vec<_> = a.graph.node_weights().cloned().collect();
        let nb: Vec<_> = b.graph.node_weights().cloned().collect();
        prop_assert_eq!(na, nb);
        prop_assert_eq!(edges(&a), edges(&b));
        // Actions of one resource share one parameter map, and carry it.
        for act in a.graph.node_weights() {
            if let (Some(r), Task::Start | Task::Stop | Task::Monitor) = (&act.resource, act.task) {
                if r.starts_with('r') {
                    let expect = format!("/run/{r}");
                    prop_assert_eq!(act.params.get("state"), Some(&expect));
                }
            }
        }
    }
}

#[test]
fn one_probe_per_resource_and_unknown_node() {
    // Nothing runs anywhere and nothing is known: every resource is probed
    // once on every online node, no more.
    let nodes = 4;
    let rscs = 5;
    let mut cib = fencing_cib(nodes, &[], 0);
    let resources = cib
        .child_mut("configuration")
        .and_then(|c| c.child_mut("resources"))
        .unwrap();
    for r in 0..rscs {
        resources.children.push(
            Element::new("primitive")
                .with_attr("id", format!("p{r}"))
                .with_attr("class", "ocf")
                .with_attr("provider", "heartbeat")
                .with_attr("type", "Dummy"),
        );
    }
    let t = schedule(&cib, 0).unwrap();
    let mut probes: Vec<(String, String)> = t
        .graph
        .node_weights()
        .filter(|a| a.task == Task::Monitor && a.interval_ms == 0)
        .filter(|a| a.resource.as_deref().is_some_and(|r| r.starts_with('p')))
        .map(|a| (a.resource.clone().unwrap(), a.node.clone().unwrap()))
        .collect();
    let before = probes.len();
    probes.sort();
    probes.dedup();
    assert_eq!(before, probes.len(), "a probe was scheduled twice");
    assert_eq!(probes.len(), rscs * nodes);
    for p in t
        .graph
        .node_weights()
        .filter(|a| a.interval_ms == 0 && a.task == Task::Monitor)
    {
        assert_eq!(p.meta.get("op_target_rc").map(String::as_str), Some("7"));
    }
}

#[test]
fn fencing_cib_fences_the_lost_nodes() {
    // The determinism property above is only worth something if the test
    // CIB does fence: two lost nodes, two fence actions.
    let t = schedule(&fencing_cib(4, &[2, 3], 6), 0).unwrap();
    let fenced: Vec<_> = t
        .graph
        .node_weights()
        .filter(|a| a.task == Task::Fence)
        .map(|a| a.node.clone().unwrap())
        .collect();
    assert_eq!(fenced, vec!["n2".to_string(), "n3".to_string()]);
}

/// A random element tree: unique attribute names per element, values with
/// characters that need escaping.
fn element_tree() -> impl Strategy<Value = Element> {
    let leaf = (
        "[a-z]{1,6}",
        proptest::collection::btree_map("[a-z][a-z_-]{0,5}", "[ -~]{0,8}", 0..5),
    )
        .prop_map(|(name, attrs)| {
            let mut e = Element::new(name);
            e.attrs = attrs.into_iter().collect();
            e
        });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (
            "[a-z]{1,6}",
            proptest::collection::btree_map("[a-z][a-z_-]{0,5}", "[ -~]{0,8}", 0..5),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(name, attrs, children)| {
                let mut e = Element::new(name);
                e.attrs = attrs.into_iter().collect();
                e.children = children;
                e
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// The parser (attributes read without quick-xml's own duplicate
    /// tracking) gives back exactly the tree that was written.
    #[test]
    fn xml_round_trips(e in element_tree()) {
        prop_assert_eq!(Element::parse(&e.to_xml_compact()).unwrap(), e.clone());
        prop_assert_eq!(Element::parse(&e.to_xml_pretty()).unwrap(), e);
    }

    /// A repeated attribute is still an error, wherever it sits.
    #[test]
    fn repeated_attribute_is_rejected(
        names in proptest::collection::btree_set("[a-z]{1,4}", 1..6),
        pick in any::<prop::sample::Index>(),
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let dup = pick.get(&names).clone();
        let mut attrs: Vec<String> = names.iter().map(|n| format!("{n}=\"v\"")).collect();
        attrs.insert(pick.index(attrs.len() + 1), format!("{dup}='w'"));
        let text = format!("<cib><x {}/></cib>", attrs.join(" "));
        let err = Element::parse(&text).unwrap_err().to_string();
        prop_assert!(err.contains(&format!("attribute {dup} repeated on <x>")), "{}", err);
    }
}
