use super::*;
use crate::model::cib::store::{apply_change, empty_cib, version};

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

/// The raw value written in a set (what an edit put there), not what the
/// scheduler reads from it.
fn get_nv<'a>(element: &'a Element, tag: &'a str, name: &str) -> Option<&'a str> {
    element
        .children_named(tag)
        .flat_map(|s| s.children_named("nvpair"))
        .find(|nv| nv.attr("name") == Some(name))
        .and_then(|nv| nv.attr("value"))
}

fn cluster() -> Element {
    let mut cib = empty_cib();
    for node in ["node1", "node2", "node3"] {
        crate::model::cib::store::apply_status(
            &mut cib,
            &crate::model::cib::change::StatusChange::NodeJoined { node: node.into() },
        );
    }
    cib
}

macro_rules! run {
    ($cib:ident, $e:expr $(,)?) => {{
        let edit = $e;
        run(&mut $cib, edit)
    }};
}

fn run(cib: &mut Element, edit: Result<Edit>) -> Vec<String> {
    let edit = edit.unwrap();
    edit.apply(cib).unwrap();
    edit.summary
}

fn with_web() -> Element {
    let mut cib = cluster();
    run!(
        cib,
        resource_create(&cib, &words("web ocf:heartbeat:Dummy fake=1 meta resource-stickiness=100 op monitor interval=10s start timeout=30s")),
    );
    run!(cib, resource_create(&cib, &words("db ocf:heartbeat:Dummy")));
    cib
}

#[test]
fn create_writes_pcs_ids() {
    let cib = with_web();
    let web = cib.find_by_id(Some("primitive"), "web").unwrap();
    assert_eq!(web.attr("class"), Some("ocf"));
    assert_eq!(web.attr("provider"), Some("heartbeat"));
    assert_eq!(web.attr("type"), Some("Dummy"));
    let expected = [
        ("instance_attributes", "web-instance_attributes"),
        ("nvpair", "web-instance_attributes-fake"),
        ("meta_attributes", "web-meta_attributes"),
        ("nvpair", "web-meta_attributes-resource-stickiness"),
        ("op", "web-monitor-interval-10s"),
        ("op", "web-start-interval-0s"),
    ];
    for (tag, id) in expected {
        assert!(
            web.find_by_id(Some(tag), id).is_some(),
            "{id} missing:\n{}",
            web.to_xml_pretty()
        );
    }
    assert_eq!(
        web.find_by_id(None, "web-start-interval-0s")
            .unwrap()
            .attr("timeout"),
        Some("30s")
    );
    // A default monitor when none is given, and it is said.
    let db = cib.find_by_id(Some("primitive"), "db").unwrap();
    assert!(db
        .find_by_id(Some("op"), "db-monitor-interval-10s")
        .is_some());
}

#[test]
fn create_refuses_duplicates_bad_agents_and_bad_syntax() {
    let cib = with_web();
    let error = resource_create(&cib, &words("web ocf:heartbeat:Dummy")).unwrap_err();
    assert!(error.0.contains("\"web\" already exists"), "{error}");
    for bad in [
        "x Dummy",
        "x ocf:Dummy",
        "x bogus:thing",
        "x ocf::Dummy",
        "x ocf:heartbeat:Dummy fake",
        "x ocf:heartbeat:Dummy op interval=10s",
        "9x ocf:heartbeat:Dummy",
        "x ocf:heartbeat:Dummy op monitor interval=soon",
    ] {
        assert!(
            resource_create(&cib, &words(bad)).is_err(),
            "accepted {bad}"
        );
    }
    let error = resource_create(&cib, &words("x ocf:heartbeat")).unwrap_err();
    assert!(error.0.contains("provider"), "{error}");
}

#[test]
fn create_into_group_clone_promotable_and_disabled() {
    let mut cib = cluster();
    let said = run!(
        cib,
        resource_create(&cib, &words("fs ocf:heartbeat:Dummy --group g1"))
    );
    assert!(said[0].contains("in group g1"));
    run!(
        cib,
        resource_create(&cib, &words("srv ocf:heartbeat:Dummy --group g1"))
    );
    let g = cib.find_by_id(Some("group"), "g1").unwrap();
    assert_eq!(
        g.children
            .iter()
            .map(|c| c.id().unwrap())
            .collect::<Vec<_>>(),
        ["fs", "srv"]
    );
    run!(
        cib,
        resource_create(&cib, &words("ping ocf:pacemaker:ping clone clone-max=2"))
    );
    let clone = cib.find_by_id(Some("clone"), "ping-clone").unwrap();
    assert!(clone
        .find_by_id(Some("nvpair"), "ping-clone-meta_attributes-clone-max")
        .is_some());
    run!(
        cib,
        resource_create(
            &cib,
            &words("st ocf:pacemaker:Stateful promotable --disabled")
        )
    );
    let p = cib.find_by_id(Some("clone"), "st-clone").unwrap();
    assert_eq!(get_nv(p, "meta_attributes", "promotable"), Some("true"));
    let st = cib.find_by_id(Some("primitive"), "st").unwrap();
    assert_eq!(
        get_nv(st, "meta_attributes", "target-role"),
        Some("Stopped")
    );
    assert!(resource_create(&cib, &words("z ocf:heartbeat:Dummy --group web clone")).is_err());
    let list = resource_list(&cib, 0);
    assert!(
        list.contains("* group g1:\n  * fs\t(ocf:heartbeat:Dummy)"),
        "{list}"
    );
    assert!(list.contains("* clone st-clone [promotable]:"), "{list}");
}

#[test]
fn update_sets_and_removes_and_refuses_unknown() {
    let mut cib = with_web();
    let said = run!(
        cib,
        resource_update(
            &cib,
            &words(
                "web fake=2 other=x meta resource-stickiness= op monitor interval=10s timeout=40s"
            )
        )
    );
    assert!(
        said[0].contains("fake=2") && said[0].contains("removed meta resource-stickiness"),
        "{said:?}"
    );
    let web = cib.find_by_id(Some("primitive"), "web").unwrap();
    assert_eq!(get_nv(web, "instance_attributes", "fake"), Some("2"));
    assert_eq!(get_nv(web, "instance_attributes", "other"), Some("x"));
    assert!(web.child("meta_attributes").is_none());
    assert_eq!(
        web.find_by_id(None, "web-monitor-interval-10s")
            .unwrap()
            .attr("timeout"),
        Some("40s")
    );
    assert_eq!(web.child("operations").unwrap().children.len(), 2);
    // pcs semantics: `op NAME` in update replaces the first op of that name.
    run!(
        cib,
        resource_update(&cib, &words("web op monitor interval=20s"))
    );
    let ops = cib
        .find_by_id(None, "web")
        .unwrap()
        .child("operations")
        .unwrap()
        .clone();
    let ids: Vec<&str> = ops.children.iter().filter_map(|o| o.id()).collect();
    assert_eq!(ids, ["web-monitor-interval-20s", "web-start-interval-0s"]);
    let error = resource_update(&cib, &words("ghost fake=1")).unwrap_err();
    assert!(error.0.contains("\"ghost\""), "{error}");
    assert!(resource_update(&cib, &words("web")).is_err());
}

#[test]
fn delete_takes_constraints_and_empty_wrappers() {
    let mut cib = with_web();
    run!(cib, constraint_colocation(&cib, &words("add db with web")));
    run!(cib, constraint_order(&cib, &words("add web then db")));
    let said = run!(cib, resource_delete(&cib, "web"));
    assert!(
        said.iter()
            .any(|s| s.contains("colocation-db-web-INFINITY")),
        "{said:?}"
    );
    assert!(find(&cib, "web").is_none());
    assert!(find(&cib, "order-web-db-mandatory").is_none());
    run!(
        cib,
        resource_create(&cib, &words("p ocf:heartbeat:Dummy clone"))
    );
    let said = run!(cib, resource_delete(&cib, "p"));
    assert!(said[0].contains("empty clone p-clone"), "{said:?}");
    assert!(find(&cib, "p-clone").is_none());
    assert!(resource_delete(&cib, "web")
        .unwrap_err()
        .0
        .contains("\"web\""));
}

#[test]
fn enable_disable_manage_unmanage() {
    let mut cib = with_web();
    run!(cib, resource_disable(&cib, "web"));
    let web = || cib.find_by_id(Some("primitive"), "web").unwrap().clone();
    assert_eq!(
        get_nv(&web(), "meta_attributes", "target-role"),
        Some("Stopped")
    );
    run!(cib, resource_enable(&cib, "web"));
    let web = cib.find_by_id(Some("primitive"), "web").unwrap();
    assert_eq!(get_nv(web, "meta_attributes", "target-role"), None);
    assert_eq!(
        get_nv(web, "meta_attributes", "resource-stickiness"),
        Some("100")
    );
    run!(cib, resource_unmanage(&cib, "web"));
    assert!(resource_list(&cib, 0).contains("web\t(ocf:heartbeat:Dummy) [unmanaged]"));
    run!(cib, resource_manage(&cib, "web"));
    assert!(!resource_list(&cib, 0).contains("unmanaged"));
    assert!(resource_disable(&cib, "nope").is_err());
}

/// `resource list` reads meta attributes as the scheduler does: it used to
/// compare the text with "false", so `is-managed=no` (which the scheduler
/// reads as unmanaged) showed as managed, and a set whose rule had expired
/// still counted.
#[test]
fn the_resource_list_reads_meta_attributes_as_the_scheduler_does() {
    let mut cib = with_web();
    let pair = |id: &str, name: &str, value: &str| {
        Element::new("nvpair")
            .with_attr("id", id)
            .with_attr("name", name)
            .with_attr("value", value)
    };
    let web = cib.find_by_id_mut(Some("primitive"), "web").unwrap();
    web.children.push(
        Element::new("meta_attributes")
            .with_attr("id", "web-unmanaged")
            .with_child(pair("web-im", "is-managed", "no")),
    );
    let mut expired = Element::new("meta_attributes")
        .with_attr("id", "web-old")
        .with_attr("score", "10")
        .with_child(pair("web-old-tr", "target-role", "Stopped"));
    expired.children.insert(
        0,
        Element::new("rule")
            .with_attr("id", "web-old-rule")
            .with_child(
                Element::new("date_expression")
                    .with_attr("id", "web-old-date")
                    .with_attr("operation", "lt")
                    .with_attr("end", "2001-01-01"),
            ),
    );
    web.children.push(expired);
    let now_epoch_s = 1_800_000_000;
    let list = resource_list(&cib, now_epoch_s);
    assert!(
        list.contains("web\t(ocf:heartbeat:Dummy) [unmanaged]"),
        "{list}"
    );
    let model = crate::model::cib::Cib::from_xml(&cib, now_epoch_s).unwrap();
    let web = model.resources.iter().find(|r| r.id == "web").unwrap();
    assert_eq!(web.meta.get("is-managed").map(String::as_str), Some("no"));
    assert_eq!(
        web.meta.get("target-role"),
        None,
        "the expired set is skipped"
    );
    // The resource defaults count too, as for the scheduler.
    let mut cib = with_web();
    let configuration = cib.child_mut("configuration").unwrap();
    configuration.children.push(
        Element::new("rsc_defaults").with_child(
            Element::new("meta_attributes")
                .with_attr("id", "rd")
                .with_child(pair("rd-im", "is-managed", "off")),
        ),
    );
    let list = resource_list(&cib, now_epoch_s);
    assert!(
        list.contains("db\t(ocf:heartbeat:Dummy) [unmanaged]"),
        "{list}"
    );
}

#[test]
fn move_ban_clear() {
    let mut cib = with_web();
    let said = run!(cib, resource_move(&cib, "web", "node2", None, 0));
    assert!(
        said[0].contains("cli-prefer-web") && said[0].contains("resource clear web"),
        "{said:?}"
    );
    let c = cib
        .find_by_id(Some("rsc_location"), "cli-prefer-web")
        .unwrap();
    assert_eq!(
        (c.attr("node"), c.attr("score")),
        (Some("node2"), Some("INFINITY"))
    );
    // Moving again replaces, no duplicate.
    run!(cib, resource_move(&cib, "web", "node3", None, 0));
    assert_eq!(
        cib.find_by_id(Some("rsc_location"), "cli-prefer-web")
            .unwrap()
            .attr("node"),
        Some("node3")
    );
    run!(
        cib,
        resource_ban(&cib, "web", "node1", Some("1h"), 1_700_000_000)
    );
    let ban = cib
        .find_by_id(Some("rsc_location"), "cli-ban-web-on-node1")
        .unwrap();
    let date = ban
        .find_by_id(Some("date_expression"), "cli-ban-web-on-node1-lifetime")
        .unwrap();
    assert_eq!(date.attr("end"), Some("2023-11-14T23:13:20Z"));
    assert_eq!(ban.child("rule").unwrap().attr("score"), Some("-INFINITY"));
    assert!(resource_move(&cib, "web", "node9", None, 0)
        .unwrap_err()
        .0
        .contains("node9"));
    assert!(resource_move(&cib, "web", "node2", Some("forever"), 0).is_err());
    let said = run!(cib, resource_clear(&cib, "web", None));
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(constraint_list(&cib, None).contains("no constraints"));
    assert!(resource_clear(&cib, "web", None).unwrap().is_empty());
}

#[test]
fn cleanup_is_a_status_change() {
    let cib = with_web();
    let edit = resource_cleanup(&cib, Some("web"), Some("node1")).unwrap();
    assert_eq!(
        edit.changes,
        vec![CibChange::CleanupResource {
            resource: Some("web".into()),
            node: Some("node1".into())
        }]
    );
    assert!(edit.summary[0].contains("cleaned up web on node1"));
    assert!(resource_cleanup(&cib, Some("ghost"), None).is_err());
    assert!(resource_cleanup(&cib, None, Some("node7")).is_err());
    let all = resource_cleanup(&cib, None, None).unwrap();
    assert!(all.summary[0].contains("every resource on every node"));
}

#[test]
fn groups_and_clones_restructure() {
    let mut cib = with_web();
    run!(cib, group_add(&cib, "app", &words("db web")));
    let app = cib.find_by_id(Some("group"), "app").unwrap();
    assert_eq!(
        app.children
            .iter()
            .map(|c| c.id().unwrap())
            .collect::<Vec<_>>(),
        ["db", "web"]
    );
    let resources = cib
        .child("configuration")
        .unwrap()
        .child("resources")
        .unwrap();
    assert_eq!(resources.children.len(), 1);
    run!(cib, group_remove(&cib, "app", &words("db")));
    assert!(find(&cib, "db").is_some());
    run!(cib, group_remove(&cib, "app", &words("web")));
    assert!(find(&cib, "app").is_none());
    run!(
        cib,
        resource_clone(&cib, "web", false, &words("clone-max=2"))
    );
    assert!(cib.find_by_id(Some("clone"), "web-clone").is_some());
    run!(cib, resource_clone(&cib, "db", true, &[]));
    assert!(resource_list(&cib, 0).contains("clone db-clone [promotable]"));
    assert!(resource_clone(&cib, "web", false, &[]).is_err());
    assert!(group_add(&cib, "g", &words("web")).is_err());
}

#[test]
fn constraints_add_list_remove() {
    let mut cib = with_web();
    let said = run!(
        cib,
        constraint_location(&cib, &words("web prefers node1=50 node2"))
    );
    assert_eq!(said.len(), 2);
    assert!(find(&cib, "location-web-node1-50").is_some());
    assert!(find(&cib, "location-web-node2-INFINITY").is_some());
    run!(cib, constraint_location(&cib, &words("db avoids node3")));
    assert_eq!(
        find(&cib, "location-db-node3--INFINITY")
            .unwrap()
            .attr("score"),
        Some("-INFINITY")
    );
    run!(
        cib,
        constraint_location(&cib, &words("add my-loc db node1 200"))
    );
    run!(
        cib,
        constraint_colocation(&cib, &words("add Promoted db with web -100 id=co1"))
    );
    let co = find(&cib, "co1").unwrap();
    assert_eq!(
        (co.attr("rsc-role"), co.attr("score")),
        (Some("Promoted"), Some("-100"))
    );
    run!(
        cib,
        constraint_order(&cib, &words("start db then start web kind=Optional"))
    );
    assert_eq!(
        find(&cib, "order-db-web-optional").unwrap().attr("kind"),
        Some("Optional")
    );
    let list = constraint_list(&cib, None);
    assert!(
        list.contains("location  my-loc: db on node1 (200)"),
        "{list}"
    );
    assert!(
        list.contains("order     order-db-web-optional: start db then start web (Optional)"),
        "{list}"
    );
    assert_eq!(constraint_list(&cib, Some("colocation")).lines().count(), 1);
    for bad in [
        "web prefers node1=lots",
        "ghost prefers node1",
        "web prefers node9",
        "add x web",
    ] {
        assert!(
            constraint_location(&cib, &words(bad)).is_err(),
            "accepted {bad}"
        );
    }
    assert!(constraint_colocation(&cib, &words("add db web")).is_err());
    assert!(constraint_order(&cib, &words("db then ghost")).is_err());
    assert!(constraint_order(&cib, &words("db then web kind=Sometimes")).is_err());
    // Same constraint twice: refused, naming the id.
    assert!(constraint_location(&cib, &words("add my-loc db node1 200"))
        .unwrap_err()
        .0
        .contains("my-loc"));
    let said = run!(cib, constraint_remove(&cib, &words("my-loc co1")));
    assert_eq!(
        said,
        ["removed rsc location my-loc", "removed rsc colocation co1"]
    );
    assert!(constraint_remove(&cib, &words("my-loc"))
        .unwrap_err()
        .0
        .contains("my-loc"));
}

#[test]
fn properties() {
    let mut cib = cluster();
    let said = run!(
        cib,
        property_set(
            &cib,
            &words("no-quorum-policy=stop stonith-enabled=false"),
            false
        )
    );
    assert_eq!(
        said,
        [
            "property no-quorum-policy set to stop",
            "property stonith-enabled set to false"
        ]
    );
    let said = run!(
        cib,
        property_set(&cib, &words("no-quorum-policy=ignore"), false)
    );
    assert_eq!(said, ["property no-quorum-policy: stop -> ignore"]);
    assert_eq!(
        property_list(&cib),
        "no-quorum-policy=ignore\nstonith-enabled=false\n"
    );
    assert!(property_set(&cib, &words("no-quorum-policy=maybe"), false).is_err());
    assert!(property_set(&cib, &words("stonith-enabled=perhaps"), false).is_err());
    assert!(property_set(&cib, &words("made-up=1"), false)
        .unwrap_err()
        .0
        .contains("--force"));
    assert!(property_set(&cib, &words("made-up=1"), true).is_ok());
    run!(cib, property_unset(&cib, &words("stonith-enabled")));
    assert_eq!(property_get(&cib, "stonith-enabled"), None);
    assert!(property_unset(&cib, &words("stonith-enabled")).is_err());
}

#[test]
fn nodes() {
    let mut cib = cluster();
    run!(cib, node_standby(&cib, "node1"));
    run!(cib, node_maintenance(&cib, "node2", true));
    run!(
        cib,
        node_attribute(&cib, "node3", &words("rack=r1 ssd=yes"))
    );
    assert_eq!(
        node_attributes_list(&cib, None),
        "node1 standby=on\nnode2 maintenance=on\nnode3 rack=r1\nnode3 ssd=yes\n"
    );
    run!(cib, node_online(&cib, "node1"));
    run!(cib, node_maintenance(&cib, "node2", false));
    run!(cib, node_attribute(&cib, "node3", &words("ssd=")));
    assert_eq!(node_attributes_list(&cib, None), "node3 rack=r1\n");
    assert!(node_standby(&cib, "node9").unwrap_err().0.contains("node9"));
}

const PACEMAKER_XML: &str = r#"<cib crm_feature_set="3.17.4" validate-with="pacemaker-3.9" epoch="12" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="node1"/>
    </nodes>
    <resources>
      <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
        <instance_attributes id="vip-instance_attributes">
          <nvpair id="vip-instance_attributes-ip" name="ip" value="192.0.2.10"/>
        </instance_attributes>
        <operations>
          <op id="vip-monitor-interval-10s" name="monitor" interval="10s"/>
        </operations>
      </primitive>
    </resources>
    <constraints>
      <rsc_location id="loc-vip" rsc="vip" node="node1" score="100"/>
    </constraints>
  </configuration>
  <status/>
</cib>"#;

#[test]
fn import_replaces_merges_and_refuses_invalid_whole() {
    let mut cib = with_web();
    let said = run!(cib, cib_import(&cib, PACEMAKER_XML, false));
    assert!(said[0].contains("replaced the configuration"));
    let imported = Element::parse(PACEMAKER_XML).unwrap();
    assert_eq!(cib.child("configuration"), imported.child("configuration"));
    assert!(find(&cib, "web").is_none());

    let mut cib = with_web();
    run!(cib, cib_import(&cib, PACEMAKER_XML, true));
    assert!(
        find(&cib, "web").is_some()
            && find(&cib, "vip").is_some()
            && find(&cib, "loc-vip").is_some()
    );

    let before = with_web();
    for bad in [
        "<cib><configuration><resources><primitive id=\"x\" class=\"ocf\" type=\"Dummy\"/></resources></configuration></cib>",
        "<cib><configuration><constraints><rsc_location id=\"l\" rsc=\"ghost\" node=\"n\" score=\"1\"/></constraints></configuration></cib>",
        "<cib><configuration",
        "<status/>",
    ] {
        let error = cib_import(&before, bad, false).unwrap_err();
        assert!(error.0.starts_with("import refused"), "{error}");
    }
    // Merged duplicates are invalid too.
    let dup = "<configuration><constraints><rsc_location id=\"web\" rsc=\"db\" node=\"node1\" score=\"1\"/></constraints></configuration>";
    assert!(cib_import(&before, dup, true).is_err());
}

#[test]
fn edits_apply_as_one_epoch_step() {
    let mut cib = with_web();
    let epoch = version(&cib).epoch;
    let edit = property_set(
        &cib,
        &words("no-quorum-policy=stop symmetric-cluster=true"),
        false,
    )
    .unwrap();
    let change = edit.into_change().unwrap();
    assert!(matches!(change, CibChange::Batch(_)));
    apply_change(&mut cib, &change).unwrap();
    assert_eq!(version(&cib).epoch, epoch + 1);
}

#[test]
fn helpers() {
    assert_eq!(parse_duration_ms("10s").unwrap(), 10_000);
    assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
    assert_eq!(parse_duration_ms("5min").unwrap(), 300_000);
    assert_eq!(parse_duration_ms("PT1H30M").unwrap(), 5_400_000);
    assert_eq!(parse_duration_ms("P1D").unwrap(), 86_400_000);
    for bad in ["", "ten", "10x", "P", "PT5", "1d", "NaN"] {
        assert!(parse_duration_ms(bad).is_err(), "{bad}");
    }
    assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
    assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    for good in ["0", "100", "-100", "INFINITY", "-INFINITY", "+INFINITY"] {
        assert!(check_score(good).is_ok(), "{good}");
    }
    for bad in ["", "lots", "--1", "1.5", "INF INITY"] {
        assert!(check_score(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_agent("stonith:fence_xvm").unwrap().provider, None);
}

#[test]
fn avoids_scores_and_old_master_resources() {
    let mut cib = with_web();
    run!(
        cib,
        constraint_location(&cib, &words("db avoids node2=-5 node1=7"))
    );
    assert_eq!(
        find(&cib, "location-db-node2--5").unwrap().attr("score"),
        Some("-5")
    );
    assert_eq!(
        find(&cib, "location-db-node1--7").unwrap().attr("score"),
        Some("-7")
    );
    let master = Element::parse(r#"<master id="ms"><primitive id="m" class="ocf" provider="pacemaker" type="Stateful"/></master>"#).unwrap();
    run!(
        cib,
        Ok(Edit {
            changes: vec![CibChange::Upsert {
                section: "resources".into(),
                element: master
            }],
            summary: vec![],
        })
    );
    assert!(resource_list(&cib, 0).contains("* master ms [promotable]:"));
    run!(cib, resource_disable(&cib, "ms"));
    let said = run!(cib, resource_delete(&cib, "m"));
    assert!(said[0].contains("empty master ms"), "{said:?}");
}

#[test]
fn move_without_a_node_bans_the_current_one() {
    use crate::model::cib::operation::{AgentSpec, OpKind, OpOutcome, OpSpec};
    let mut cib = with_web();
    let error = resource_move_away(&cib, "web", None, 0).unwrap_err();
    assert!(error.0.contains("not running anywhere"), "{error}");
    let dummy = AgentSpec::parse("ocf:heartbeat:Dummy").unwrap();
    let start = OpSpec::new("web", dummy, OpKind::Start);
    let done = OpOutcome::completed(0, 1, 1);
    crate::model::cib::store::record_op(&mut cib, "node1", &start, &done, "0:0:0:x");
    assert_eq!(active_nodes(&cib, "web").unwrap(), ["node1"]);
    let list = resource_list(&cib, 0);
    assert!(
        list.contains("* web\t(ocf:heartbeat:Dummy): Started node1\n"),
        "{list}"
    );
    assert!(
        list.contains("* db\t(ocf:heartbeat:Dummy): Stopped\n"),
        "{list}"
    );
    let said = run!(cib, resource_move_away(&cib, "web", None, 0));
    assert!(
        said[0].starts_with("moving web away from node1"),
        "{said:?}"
    );
    assert!(find(&cib, "cli-ban-web-on-node1").is_some());
}

#[test]
fn resource_and_operation_defaults() {
    let mut cib = cluster();
    let said = run!(
        cib,
        defaults_set(
            &cib,
            "rsc_defaults",
            &words("resource-stickiness=100 migration-threshold=3")
        )
    );
    assert_eq!(
        said,
        ["resource default resource-stickiness=100, resource default migration-threshold=3"]
    );
    assert!(find(&cib, "rsc_defaults-meta_attributes-resource-stickiness").is_some());
    run!(
        cib,
        defaults_set(
            &cib,
            "rsc_defaults",
            &words("resource-stickiness=200 migration-threshold=")
        )
    );
    assert_eq!(
        defaults_list(&cib, "rsc_defaults"),
        "resource-stickiness=200\n"
    );
    run!(
        cib,
        defaults_set(&cib, "op_defaults", &words("timeout=30s"))
    );
    assert_eq!(defaults_list(&cib, "op_defaults"), "timeout=30s\n");
    assert!(defaults_set(&cib, "op_defaults", &words("timeout=soon")).is_err());
    assert!(defaults_set(&cib, "op_defaults", &words("record-pending=")).is_err());
    // An existing set (the demo's rsc-options) is edited in place.
    let mut demo = cluster();
    let set = Element::parse(r#"<meta_attributes id="rsc-options"><nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" value="100"/></meta_attributes>"#).unwrap();
    run!(
        demo,
        Ok(Edit {
            changes: vec![CibChange::Upsert {
                section: "rsc_defaults".into(),
                element: set
            }],
            summary: vec![]
        })
    );
    run!(
        demo,
        defaults_set(&demo, "rsc_defaults", &words("resource-stickiness=5"))
    );
    assert_eq!(
        demo.find_by_id(None, "rsc-options-resource-stickiness")
            .unwrap()
            .attr("value"),
        Some("5")
    );
}

#[test]
fn location_rules() {
    let mut cib = with_web();
    let said = run!(
        cib,
        constraint_location(
            &cib,
            &words("web rule score=100 #uname eq node1 or pingd gt integer 0")
        )
    );
    assert!(
        said[0]
            .contains("location-web: web scores 100 where #uname eq node1 or pingd gt integer 0"),
        "{said:?}"
    );
    let c = find(&cib, "location-web").unwrap();
    let rule = c.child("rule").unwrap();
    assert_eq!(
        (rule.attr("score"), rule.attr("boolean-op")),
        (Some("100"), Some("or"))
    );
    let e1 = cib.find_by_id(None, "location-web-rule-expr-1").unwrap();
    assert_eq!(
        (e1.attr("attribute"), e1.attr("type"), e1.attr("value")),
        (Some("pingd"), Some("integer"), Some("0"))
    );
    // A second rule constraint gets a fresh id.
    run!(cib, constraint_location(&cib, &words("web rule role=Promoted score-attribute=pingd defined pingd and date in_range 2026-01-01 to 2027-01-01")));
    let c = find(&cib, "location-web-1").unwrap();
    let rule = c.child("rule").unwrap();
    assert_eq!(
        (rule.attr("score-attribute"), rule.attr("role")),
        (Some("pingd"), Some("Promoted"))
    );
    assert_eq!(
        cib.find_by_id(None, "location-web-1-rule-expr-1")
            .unwrap()
            .attr("start"),
        Some("2026-01-01")
    );
    assert!(constraint_list(&cib, None)
        .contains("location  location-web: web score 100 if #uname eq node1 or pingd gt 0"));
    for bad in [
        "web rule",
        "web rule a eq b or c eq d and e eq f",
        "web rule score=lots a eq b",
        "web rule a is b",
        "ghost rule a eq b",
    ] {
        assert!(
            constraint_location(&cib, &words(bad)).is_err(),
            "accepted {bad}"
        );
    }
    assert_eq!(
        crate::model::cib::validate::check(&configuration_of(&cib)),
        Ok(())
    );
}

#[test]
fn clear_expired_takes_only_ended_lifetimes() {
    let mut cib = with_web();
    run!(
        cib,
        resource_move(&cib, "web", "node2", Some("1h"), 1_000_000)
    );
    run!(
        cib,
        resource_ban(&cib, "web", "node3", Some("3h"), 1_000_000)
    );
    run!(cib, resource_ban(&cib, "db", "node1", None, 1_000_000));
    assert!(resource_clear_expired(&cib, None, 1_000_000 + 1800)
        .unwrap()
        .is_empty());
    let said = run!(cib, resource_clear_expired(&cib, None, 1_000_000 + 7200));
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("removed constraint cli-prefer-web (expired"),
        "{said:?}"
    );
    assert!(resource_clear_expired(&cib, Some("db"), 1_000_000 + 86_400)
        .unwrap()
        .is_empty());
    run!(
        cib,
        resource_clear_expired(&cib, Some("web"), 1_000_000 + 86_400)
    );
    assert!(find(&cib, "cli-ban-web-on-node3").is_none());
    assert!(find(&cib, "cli-ban-db-on-node1").is_some());
}

#[test]
fn moving_every_member_out_of_a_group_deletes_it() {
    let mut cib = with_web();
    run!(cib, group_add(&cib, "old", &words("web")));
    run!(cib, constraint_location(&cib, &words("old prefers node1")));
    let said = run!(cib, group_add(&cib, "new", &words("web db")));
    assert!(
        said.iter()
            .any(|s| s.contains("deleted the now empty group old")),
        "{said:?}"
    );
    assert!(find(&cib, "old").is_none() && find(&cib, "location-old-node1-INFINITY").is_none());
    assert_eq!(
        crate::model::cib::validate::check(&configuration_of(&cib)),
        Ok(())
    );
}

/// The command line and the scheduler read durations, agent names and
/// lifetimes with one reader: what one refuses, the other leaves out, for
/// the same reason, and a lifetime ends for both at the same moment.
#[test]
fn the_command_line_and_the_scheduler_read_alike() {
    use crate::model::cib::Cib;
    let base = crate::model::cib::store::empty_cib();
    for (interval, accepted) in [("10s", true), ("P1D", true), ("1d", false), ("PT5", false)] {
        let args: Vec<String> = format!("web ocf:heartbeat:Dummy op monitor interval={interval}")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let typed = resource_create(&base, &args);
        assert_eq!(
            typed.is_ok(),
            accepted,
            "resource create, interval={interval}"
        );
        // The same op written into the CIB by hand: the scheduler keeps it
        // or leaves it out alike.
        let cib = Element::parse(&format!(
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/>
              <resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy">
                <operations><op id="web-m" name="monitor" interval="{interval}"/></operations>
              </primitive></resources><constraints/></configuration><status/></cib>"#
        ))
        .unwrap();
        let read = Cib::from_xml(&cib, 0).unwrap();
        assert_eq!(
            ops_of(&read) == 1,
            accepted,
            "scheduler, interval={interval}"
        );
        if let Err(refused) = typed {
            let left_out = read.config_errors[0].to_string();
            let why = refused.to_string();
            let reason = why.split(": ").last().unwrap();
            assert!(left_out.contains(reason), "{why} / {left_out}");
        }
    }
    for agent in ["nagios:check_http", "upstart:web"] {
        let error = parse_agent(agent).unwrap_err().to_string();
        assert!(error.contains("no longer supported"), "{error}");
    }
    // A lifetime written with a zone offset: 10:00+01:00 is 09:00 UTC.
    let now = crate::model::cib::time::read_datetime("2026-12-07T09:30:00Z").unwrap();
    let cib = Element::parse(
        r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/>
          <nodes><node id="n1" uname="n1"/></nodes>
          <resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/></resources>
          <constraints><rsc_location id="cli-ban-web-on-n1" rsc="web">
            <rule id="cli-ban-web-on-n1-rule" score="-INFINITY">
              <date_expression id="cli-ban-web-on-n1-lifetime" operation="lt" end="2026-12-07 10:00:00 +01:00"/>
            </rule></rsc_location></constraints></configuration><status/></cib>"#,
    )
    .unwrap();
    let rule = cib
        .find_by_id(Some("rule"), "cli-ban-web-on-n1-rule")
        .unwrap();
    let ctx = crate::model::cib::rules::RuleContext {
        node_attrs: None,
        now_epoch_s: now,
        agent: None,
        op: None,
    };
    assert!(
        !crate::model::cib::rules::eval_rule(rule, &ctx),
        "the scheduler: over"
    );
    let expired = resource_clear_expired(&cib, Some("web"), now).unwrap();
    assert_eq!(expired.changes.len(), 1, "the command line: over too");
}

/// How many operations the only primitive of a typed CIB kept.
fn ops_of(cib: &crate::model::cib::Cib) -> usize {
    match &cib.resources[0].kind {
        crate::model::cib::ResourceKind::Primitive { ops, .. } => ops.len(),
        other => panic!("not a primitive: {other:?}"),
    }
}
