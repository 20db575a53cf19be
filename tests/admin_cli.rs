//! The administration CLI as an operator uses it: a 3-node local cluster
//! (`cluster up --empty`), every command run through the `systole` binary,
//! the result checked in `cib export --xml` (and, where the cluster acts on
//! it, in `status --json`). The cluster is stopped by a Drop guard; every
//! command and every wait is bounded in time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use systole::model::cib::xml::Element;

const BIN: &str = env!("CARGO_BIN_EXE_systole");
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

mod common;

/// The cluster under test; `cluster down` when its directory goes.
struct Cluster {
    dir: common::ClusterDir,
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Cluster {
    fn up() -> Cluster {
        let cluster = Cluster {
            dir: common::ClusterDir::new(),
        };
        cluster.start();
        cluster
    }

    /// `cluster up`, then waits until a write is acknowledged by a majority
    /// (right after an election a replica may still refuse the new term).
    fn start(&self) {
        let out = self.run_in(&["cluster", "up", "--nodes", "3", "--empty"]);
        assert!(out.ok, "cluster up failed: {}", out.stderr);
        self.add_fence_device();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.run_in(&["node", "attribute", "node1", "settle="]);
            if out.ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no write succeeded: {}",
                out.stderr
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// With fencing enabled and no fence device nothing would start (as in
    /// Pacemaker): the local cluster's fence agent, as an operator would add
    /// it. Retried while the first election settles.
    fn add_fence_device(&self) {
        let pid_dir = format!("pid_dir={}", self.dir().display());
        let args = [
            "resource",
            "create",
            "fence-local",
            "stonith:fence_systole_local",
            &pid_dir,
        ];
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.run_in(&args);
            if out.ok || out.stderr.contains("already exists") {
                return;
            }
            assert!(Instant::now() < deadline, "no fence device: {}", out.stderr);
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `systole --dir DIR ARGS`, killed after COMMAND_TIMEOUT.
    fn run_in(&self, args: &[&str]) -> Output {
        let mut child = Command::new(BIN)
            .arg("--dir")
            .arg(self.dir())
            .args(args)
            .env_remove("SYSTOLE_SOCKET")
            .env_remove("SYSTOLE_SHADOW_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn systole");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("systole {args:?} ran longer than {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let out = self.run_in(&args);
        assert!(
            out.ok,
            "`systole {line}` failed:\n{}\n{}",
            out.stderr, out.stdout
        );
        out.stdout
    }

    /// Runs a command that must fail; returns its stderr.
    fn fails(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let out = self.run_in(&args);
        assert!(!out.ok, "`systole {line}` succeeded:\n{}", out.stdout);
        out.stderr
    }

    fn cib(&self) -> Element {
        Element::parse(&self.ok("cib export --xml")).expect("export is XML")
    }

    /// Whether the configuration (not the status history) holds `id`.
    fn has(&self, id: &str) -> bool {
        self.cib()
            .child("configuration")
            .and_then(|c| c.find_by_id(None, id))
            .is_some()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok("status --json")).expect("status json")
    }

    /// Waits until resource `id` runs on `nodes` (empty: stopped).
    fn wait_placement(&self, id: &str, nodes: &[&str]) {
        self.wait_until(id, &format!("{nodes:?}"), |on| on == nodes);
    }

    /// Waits until the nodes resource `id` runs on satisfy `done`.
    fn wait_until(&self, id: &str, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut last = serde_json::Value::Null;
        while Instant::now() < deadline {
            last = self.status();
            let on: Vec<String> = last["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["id"] == id)
                .flat_map(|r| r["nodes"].as_array().cloned().unwrap_or_default())
                .filter_map(|n| n.as_str().map(String::from))
                .collect();
            if done(&on) {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("{id} never ran on {what}; last status: {last:#}");
    }

    fn shadow_file(&self, name: &str) -> PathBuf {
        self.dir().join("shadow").join(format!("shadow.{name}"))
    }
}

fn nvpair_value(cib: &Element, id: &str) -> Option<String> {
    cib.find_by_id(Some("nvpair"), id)
        .and_then(|nv| nv.attr("value"))
        .map(String::from)
}

#[test]
fn administration_cli_end_to_end() {
    let c = Cluster::up();

    // --- resources
    let said = c.ok("resource create web ocf:systole:Dummy fake=1 meta resource-stickiness=100 op monitor interval=10s");
    assert!(
        said.contains("created resource web (ocf:systole:Dummy)"),
        "{said}"
    );
    let cib = c.cib();
    for id in [
        "web-instance_attributes-fake",
        "web-meta_attributes-resource-stickiness",
        "web-monitor-interval-10s",
    ] {
        assert!(cib.find_by_id(None, id).is_some(), "{id} missing");
    }
    assert!(c
        .fails("resource create web ocf:systole:Dummy")
        .contains("\"web\" already exists"));
    assert!(c.fails("resource create x Dummy").contains("bad agent"));
    assert!(c
        .fails("resource update ghost fake=2")
        .contains("\"ghost\""));
    assert!(c.fails("resource delete ghost").contains("\"ghost\""));
    c.ok("resource create db ocf:systole:Dummy --group app");
    c.ok("resource create ping ocf:systole:Dummy clone");
    c.ok("resource create st ocf:systole:Stateful promotable --disabled");
    let list = c.ok("resource list");
    assert!(
        list.contains("* group app:") && list.contains("* clone ping-clone:"),
        "{list}"
    );
    assert!(list.contains("* clone st-clone [promotable]:"), "{list}");
    assert!(c
        .ok("resource update web fake=2")
        .contains("updated resource web: fake=2"));
    assert_eq!(
        nvpair_value(&c.cib(), "web-instance_attributes-fake").as_deref(),
        Some("2")
    );
    assert!(c.ok("resource show web").contains("<primitive id=\"web\""));

    // --- move, ban, clear
    let said = c.ok("resource move web node2");
    assert!(
        said.contains("cli-prefer-web") && said.contains("resource clear web"),
        "{said}"
    );
    c.wait_placement("web", &["node2"]);
    assert!(c
        .ok("resource clear web")
        .contains("removed constraint cli-prefer-web"));
    assert!(!c.has("cli-prefer-web"));
    // Without a node: away from where it runs now (stickiness kept it on node2).
    let said = c.ok("resource move web");
    assert!(
        said.contains("moving web away from node2: added location constraint cli-ban-web-on-node2"),
        "{said}"
    );
    c.wait_until("web", "a node other than node2", |on| {
        on.len() == 1 && on[0] != "node2"
    });
    c.ok("resource clear web");
    assert!(c
        .ok("resource move web node3 --lifetime 1h")
        .contains("expires at"));
    assert!(c
        .cib()
        .find_by_id(Some("date_expression"), "cli-prefer-web-lifetime")
        .is_some());
    c.ok("resource ban web node1");
    assert!(c.has("cli-ban-web-on-node1"));
    let said = c.ok("resource clear web");
    assert!(
        said.contains("cli-prefer-web") && said.contains("cli-ban-web-on-node1"),
        "{said}"
    );
    assert!(c.ok("resource clear web").contains("nothing changed"));
    c.ok("resource ban web node3 --lifetime 1h");
    assert!(c.ok("resource clear --expired").contains("nothing changed"));
    c.ok("resource clear web node3");
    assert!(!c.has("cli-ban-web-on-node3"));

    // --- enable, disable, restart, manage, cleanup
    c.ok("resource disable web");
    assert_eq!(
        nvpair_value(&c.cib(), "web-meta_attributes-target-role").as_deref(),
        Some("Stopped")
    );
    c.wait_placement("web", &[]);
    c.ok("resource enable web");
    assert!(!c.has("web-meta_attributes-target-role"));
    let placed = c.status();
    assert!(placed["resources"].is_array());
    let said = c.ok("resource restart web --timeout 30");
    assert!(
        said.contains("disabled web")
            && said.contains("enabled web")
            && said.contains("restarted web"),
        "{said}"
    );
    c.ok("resource unmanage web");
    assert_eq!(
        nvpair_value(&c.cib(), "web-meta_attributes-is-managed").as_deref(),
        Some("false")
    );
    c.ok("resource manage web");
    assert!(!c.has("web-meta_attributes-is-managed"));
    assert!(c
        .ok("resource cleanup web")
        .contains("cleaned up web on every node"));
    assert!(c
        .ok("resource cleanup web node1")
        .contains("cleaned up web on node1"));

    // --- groups and clones
    c.ok("resource create extra ocf:systole:Dummy --disabled");
    c.ok("resource group add app extra");
    let app = c.cib().find_by_id(Some("group"), "app").cloned().unwrap();
    assert_eq!(
        app.children
            .iter()
            .filter_map(|e| e.id())
            .collect::<Vec<_>>(),
        ["db", "extra"]
    );
    c.ok("resource group remove app extra");
    c.ok("resource clone extra");
    assert!(c.has("extra-clone"));
    c.ok("resource create gauge ocf:systole:Stateful --disabled");
    assert!(c
        .ok("resource promotable gauge")
        .contains("made promotable clone gauge-clone of gauge"));
    assert_eq!(
        nvpair_value(&c.cib(), "gauge-clone-meta_attributes-promotable").as_deref(),
        Some("true")
    );
    c.ok("resource delete gauge");
    assert!(!c.has("gauge-clone"));
    assert!(c
        .ok("resource delete extra")
        .contains("empty clone extra-clone"));
    assert!(!c.has("extra-clone"));

    // --- constraints
    assert!(c
        .ok("constraint location web prefers node1=50")
        .contains("location-web-node1-50"));
    c.ok("constraint location add keep-db app node2 20");
    assert!(c
        .ok("constraint location web rule score=10 #uname eq node3 or #uname eq node2")
        .contains("added location constraint location-web"));
    assert_eq!(
        c.cib()
            .find_by_id(Some("rule"), "location-web-rule")
            .and_then(|r| r.attr("boolean-op").map(String::from))
            .as_deref(),
        Some("or")
    );
    c.ok("constraint remove location-web");
    c.ok("constraint colocation add app with web -10");
    c.ok("constraint order add web then app kind=Optional");
    let list = c.ok("constraint list");
    for expected in [
        "location-web-node1-50",
        "keep-db",
        "colocation-app-web--10",
        "order-web-app-optional",
    ] {
        assert!(list.contains(expected), "{expected} not in\n{list}");
    }
    assert_eq!(c.ok("constraint order list").lines().count(), 1);
    assert!(c
        .fails("constraint location web prefers node1=lots")
        .contains("invalid score"));
    assert!(c
        .fails("constraint colocation add ghost with web")
        .contains("\"ghost\""));
    c.ok("constraint remove keep-db");
    c.ok("constraint location remove location-web-node1-50");
    assert!(!c.has("keep-db") && !c.has("location-web-node1-50"));
    assert!(c.fails("constraint remove keep-db").contains("keep-db"));

    // --- defaults
    assert!(c
        .ok("resource defaults resource-stickiness=50")
        .contains("resource default resource-stickiness=50"));
    assert_eq!(
        nvpair_value(&c.cib(), "rsc_defaults-meta_attributes-resource-stickiness").as_deref(),
        Some("50")
    );
    c.ok("resource op defaults timeout=30s");
    assert!(c.ok("resource op defaults").contains("timeout=30s"));

    // --- properties
    c.ok("property set no-quorum-policy=stop stonith-enabled=false");
    assert_eq!(
        nvpair_value(&c.cib(), "cib-bootstrap-options-no-quorum-policy").as_deref(),
        Some("stop")
    );
    assert!(c.ok("property list").contains("no-quorum-policy=stop"));
    assert!(c
        .fails("property set no-quorum-policy=whenever")
        .contains("no-quorum-policy takes"));
    c.ok("property unset stonith-enabled");
    assert!(!c.ok("property list").contains("stonith-enabled"));

    // --- nodes
    c.ok("node standby node3");
    assert_eq!(
        nvpair_value(&c.cib(), "nodes-node3-standby").as_deref(),
        Some("on")
    );
    c.ok("node online node3");
    assert!(!c.has("nodes-node3-standby"));
    c.ok("node maintenance node2");
    assert!(c.has("nodes-node2-maintenance"));
    c.ok("node maintenance node2 --off");
    c.ok("node attribute node1 rack=r1");
    assert!(c.ok("node attribute node1").contains("node1 rack=r1"));
    assert!(c.fails("node standby node9").contains("node9"));

    // --- delete takes its constraints
    let said = c.ok("resource delete web");
    assert!(
        said.contains("colocation-app-web--10") && said.contains("order-web-app-optional"),
        "{said}"
    );
    assert!(!c.has("web"));

    // --- import (replace), export, compare
    let imported = r#"<cib validate-with="pacemaker-3.9" admin_epoch="0" epoch="1" num_updates="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy" value="stop"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="node1" uname="node1"/>
      <node id="node2" uname="node2"/>
      <node id="node3" uname="node3"/>
    </nodes>
    <resources>
      <primitive id="vip" class="ocf" provider="systole" type="Dummy">
        <instance_attributes id="vip-instance_attributes">
          <nvpair id="vip-instance_attributes-fake" name="fake" value="192.0.2.10"/>
        </instance_attributes>
        <operations>
          <op id="vip-monitor-interval-10s" name="monitor" interval="10s" timeout="20s"/>
        </operations>
      </primitive>
      <group id="site">
        <primitive id="fs" class="ocf" provider="systole" type="Dummy"/>
        <primitive id="srv" class="ocf" provider="systole" type="Dummy"/>
      </group>
    </resources>
    <constraints>
      <rsc_colocation id="site-with-vip" rsc="site" with-rsc="vip" score="INFINITY"/>
      <rsc_order id="vip-then-site" first="vip" then="site" kind="Mandatory"/>
      <rsc_location id="vip-likes-node2" rsc="vip" node="node2" score="100"/>
    </constraints>
    <rsc_defaults>
      <meta_attributes id="rsc-options">
        <nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" value="100"/>
      </meta_attributes>
    </rsc_defaults>
  </configuration>
  <status/>
</cib>
"#;
    let file = c.dir().join("import.xml");
    std::fs::write(&file, imported).unwrap();
    let said = c.ok(&format!("cib import {}", file.display()));
    assert!(said.contains("replaced the configuration"), "{said}");
    let exported = c.cib();
    assert_eq!(
        exported.child("configuration"),
        Element::parse(imported).unwrap().child("configuration"),
        "export differs from the import"
    );
    c.wait_placement("vip", &["node2"]);
    // Invalid: refused whole, nothing changed.
    let bad = imported.replace("with-rsc=\"vip\"", "with-rsc=\"ghost\"");
    let bad_file = c.dir().join("bad.xml");
    std::fs::write(&bad_file, bad).unwrap();
    let error = c.fails(&format!("cib import {}", bad_file.display()));
    assert!(
        error.contains("import refused") && error.contains("ghost"),
        "{error}"
    );
    assert_eq!(
        c.cib().child("configuration"),
        exported.child("configuration")
    );
    // Merge adds by id.
    let merge_file = c.dir().join("merge.xml");
    std::fs::write(
        &merge_file,
        r#"<configuration><resources><primitive id="late" class="ocf" provider="systole" type="Dummy"/></resources></configuration>"#,
    )
    .unwrap();
    c.ok(&format!("cib import {} --merge", merge_file.display()));
    assert!(c.has("late") && c.has("vip"));

    // --- shadow: create, edit, diff, simulate, commit
    assert!(c.ok("cib shadow create s1").contains("created shadow s1"));
    assert!(c.shadow_file("s1").exists());
    c.ok("resource create shadowy ocf:systole:Dummy --shadow s1");
    c.ok("--shadow s1 property set no-quorum-policy=freeze");
    assert!(!c.has("shadowy"), "a shadow edit reached the live CIB");
    let diff = c.ok("cib shadow diff s1");
    assert!(
        diff.contains("+ /configuration/resources/primitive[@id='shadowy']"),
        "{diff}"
    );
    assert!(diff.contains("value: \"stop\" -> \"freeze\""), "{diff}");
    assert!(c.ok("resource list --shadow s1").contains("shadowy"));
    let simulated = c.ok("simulate --shadow s1");
    assert!(simulated.contains("Transition Summary:"), "{simulated}");
    assert!(simulated.contains("shadowy"), "{simulated}");
    assert!(c.ok("cib shadow commit s1").contains("committed shadow s1"));
    assert!(c.has("shadowy"));
    assert!(c
        .ok("cib shadow diff s1")
        .contains("has the live configuration"));

    // A concurrent live change: the commit is refused, --force overrides.
    c.ok("cib shadow create s2");
    c.ok("resource disable shadowy --shadow s2");
    c.ok("property set no-quorum-policy=stop");
    let error = c.fails("cib shadow commit s2");
    assert!(error.contains("moved on"), "{error}");
    assert!(!c.has("shadowy-meta_attributes-target-role"));
    c.ok("cib shadow commit s2 --force");
    assert!(c.has("shadowy-meta_attributes-target-role"));
    assert!(c.ok("cib shadow list").contains("s2"));
    assert!(c.ok("cib shadow export s2").contains("<cib"));
    assert!(c.fails("status --shadow s2").contains("simulate --shadow"));
    c.ok("cib shadow delete s2");
    assert!(!c.shadow_file("s2").exists());
}

/// Runs `systole --dir DIR ARGS` as uid `uid` with primary group `gid`.
#[cfg(unix)]
fn run_as(dir: &Path, uid: u32, gid: u32, line: &str) -> Output {
    use std::os::unix::process::CommandExt;
    let out = Command::new(BIN)
        .arg("--dir")
        .arg(dir)
        .args(line.split_whitespace())
        .env_remove("SYSTOLE_SOCKET")
        .uid(uid)
        .gid(gid)
        .output()
        .expect("run systole as another user");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut fields = l.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1).and_then(|g| g.parse().ok()))
            .flatten()
    })
}

/// Groups on the control socket and CIB ACLs, with real credentials: needs
/// root (to run the CLI as `nobody`) and the groups `users` and `nogroup`;
/// skipped otherwise.
#[test]
fn access_control_with_real_credentials() {
    let (Some(users), Some(nogroup)) = (group_id("users"), group_id("nogroup")) else {
        eprintln!("skipped: needs the groups users and nogroup");
        return;
    };
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to act as another user");
        return;
    }
    let nobody = 65534;
    let c = Cluster::up();
    // Reconfigure: admins are group users, readers group nogroup.
    c.ok("cluster down");
    for node in systole::cli::localcluster::nodes_in(c.dir()) {
        let path = c.dir().join(&node).join("systole.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            format!("admin_group = \"users\"\nreadonly_group = \"nogroup\"\n{text}"),
        )
        .unwrap();
    }
    c.start();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(c.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    c.ok("resource create web ocf:systole:Dummy");
    c.ok("resource create db ocf:systole:Dummy");
    let acls = c.dir().join("acls.xml");
    std::fs::write(
        &acls,
        r#"<configuration><acls>
  <acl_target id="nobody"><role id="web-operator"/></acl_target>
  <acl_role id="web-operator">
    <acl_permission id="wo-read" kind="read" xpath="/cib"/>
    <acl_permission id="wo-web" kind="write" reference="web"/>
    <acl_permission id="wo-no-db" kind="deny" xpath="/cib/configuration/resources/primitive[@id='db']"/>
  </acl_role>
</acls></configuration>"#,
    )
    .unwrap();
    c.ok(&format!("cib import {} --merge", acls.display()));

    // Before enable-acl: an admin-group member may change anything.
    let admin = |line: &str| run_as(c.dir(), nobody, users, line);
    let out = admin("property set no-quorum-policy=stop");
    assert!(out.ok, "{}", out.stderr);

    c.ok("property set enable-acl=true");
    // Its ACL lets nobody write web, not db, not properties.
    let out = admin("resource disable web");
    assert!(out.ok, "{}", out.stderr);
    // db is invisible to nobody, so the CLI cannot even name it.
    let out = admin("resource disable db");
    assert!(!out.ok && out.stderr.contains("\"db\""), "{}", out.stderr);
    assert!(!c.has("db-meta_attributes-target-role"));
    let out = admin("property set no-quorum-policy=ignore");
    assert!(
        !out.ok && out.stderr.contains("no write access"),
        "{}",
        out.stderr
    );
    // Refused whole: a configuration built from nobody's filtered view
    // changes web (allowed) and drops db (denied): nothing happens.
    let change = c.dir().join("web-started.xml");
    std::fs::write(
        &change,
        r#"<configuration><resources><primitive id="web" class="ocf" provider="systole" type="Dummy"/></resources></configuration>"#,
    )
    .unwrap();
    let out = admin(&format!("cib import {} --merge", change.display()));
    assert!(
        !out.ok && out.stderr.contains("no write access"),
        "{}",
        out.stderr
    );
    assert!(c.has("web-meta_attributes-target-role") && c.has("db"));
    // Reads leave db out.
    let out = admin("cib export --xml");
    assert!(out.ok, "{}", out.stderr);
    let seen = Element::parse(&out.stdout).unwrap();
    let configuration = seen.child("configuration").unwrap();
    assert!(configuration.find_by_id(Some("primitive"), "web").is_some());
    assert!(configuration.find_by_id(Some("primitive"), "db").is_none());

    let out = admin("status --json");
    assert!(out.ok, "{}", out.stderr);
    let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&str> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.contains(&"web") && !ids.contains(&"db"), "{ids:?}");

    // The read-only group reads, and may not write.
    let reader = |line: &str| run_as(c.dir(), nobody, nogroup, line);
    assert!(reader("status").ok);
    let out = reader("resource enable web");
    assert!(
        !out.ok && out.stderr.contains("may only read"),
        "{}",
        out.stderr
    );
    // Anyone else: cannot even connect (socket 0660, group and ACL).
    let out = run_as(c.dir(), nobody, 1, "status");
    assert!(
        !out.ok && out.stderr.contains("permission denied"),
        "{}",
        out.stderr
    );
}

/// Issue 9 on a live 3-node cluster: each bad input is refused with an error
/// naming it (or, for agents that cannot run, isolated), and afterwards
/// every node is still online, nothing was fenced, and writes still work.
#[test]
fn bad_input_never_takes_the_cluster_down() {
    let c = Cluster::up();
    c.ok("resource create web ocf:systole:Dummy");
    // Dates, durations and counts the scheduler could not use.
    let said = c.fails("constraint location web rule score=100 date gt 123é456");
    assert!(
        said.contains("123é456") && said.contains("not a valid date"),
        "{said}"
    );
    let said = c.fails("constraint location web rule score=100 date gt 2020-13-45T99:99:99");
    assert!(said.contains("month 13"), "{said}");
    let said = c.fails("resource create bad ocf:systole:Dummy op monitor interval=1d");
    assert!(said.contains("24h or P1D"), "{said}");
    c.ok("resource create cl ocf:systole:Dummy clone");
    let said = c.fails("resource update cl-clone meta clone-max=INFINITY");
    assert!(said.contains("CLONE_INSTANCES_MAX"), "{said}");
    // Names and targets.
    let said = c.fails("node attribute node1 #uname=evil");
    assert!(said.contains("reserved"), "{said}");
    let said = c.fails("fence no-such-node");
    assert!(said.contains("no node named \"no-such-node\""), "{said}");
    // A raw frame skips the CLI's checks, not the daemon's.
    let socket = systole::cli::localcluster::socket_path(c.dir(), "node2");
    let op = Element::parse(
        r#"<primitive id="raw" class="ocf" provider="systole" type="Dummy"><operations><op id="raw-m" name="monitor" interval="NaN"/></operations></primitive>"#,
    )
    .unwrap();
    let change = systole::actors::message::CibChange::Upsert {
        section: "resources".into(),
        element: op,
    };
    let answer = systole::actors::control_socket::call(
        &socket,
        &systole::actors::control_socket::ControlRequest::CibModify { change },
        20_000,
    )
    .unwrap();
    assert!(
        matches!(&answer, systole::actors::control_socket::ControlResponse::Error(e) if e.contains(r#"<op id="raw-m">: invalid interval "NaN""#)),
        "{answer:?}"
    );
    assert!(!c.has("raw") && !c.has("bad"));

    // Agents this host cannot run: an unknown class, a missing agent, one
    // that is not executable. Probes say "not installed"; nothing is fenced.
    let noexec = c.dir().join("agents").join("ocf").join("NoExec");
    std::fs::write(&noexec, "#!/bin/sh\nexit 0\n").unwrap();
    // `resource create` refuses them at the edge (their meta-data cannot be
    // read); forced in anyway, they must still harm nothing.
    for line in [
        "resource create s1 systemd:nginx --disabled",
        "resource create s2 ocf:systole:NoExec",
        "resource create s3 ocf:heartbeat:NoSuchAgent",
    ] {
        let args: Vec<&str> = line.split_whitespace().collect();
        let out = c.run_in(&args);
        assert!(!out.ok, "`{line}` was accepted without --force");
        assert!(out.stderr.contains("nothing created"), "{}", out.stderr);
        c.ok(&format!("{line} --force"));
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let cib = c.cib();
        let probed = |rsc: &str| {
            ["node1", "node2", "node3"].iter().all(|n| {
                cib.find_by_id(Some("node_state"), n)
                    .and_then(|s| s.find_by_id(Some("lrm_rsc_op"), &format!("{rsc}_last_0")))
                    .is_some()
            })
        };
        if probed("s1") && probed("s2") && probed("s3") {
            break;
        }
        assert!(Instant::now() < deadline, "probes never all recorded");
        std::thread::sleep(Duration::from_millis(300));
    }
    // Some time for anything that would follow (a stop, a fence).
    std::thread::sleep(Duration::from_secs(3));
    let status = c.status();
    assert_eq!(
        status["fencing"].as_array().map(Vec::len),
        Some(0),
        "{status:#}"
    );
    for node in status["nodes"].as_array().unwrap() {
        assert_eq!(node["online"], true, "{status:#}");
    }
    for id in ["s1", "s2", "s3"] {
        let running = status["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id && !r["nodes"].as_array().unwrap().is_empty());
        assert!(!running, "{id} runs somewhere: {status:#}");
    }
    c.wait_until("web", "one node", |on| on.len() == 1);

    // A Pacemaker import with a class Pacemaker 3 dropped: accepted with a
    // warning, shown by status and `cib verify`.
    let file = c.dir().join("import.xml");
    let mut cib = c.cib();
    cib.child_mut("configuration")
        .unwrap()
        .child_mut("resources")
        .unwrap()
        .children
        .push(Element::parse(r#"<primitive id="old" class="nagios" type="check_http"/>"#).unwrap());
    std::fs::write(&file, cib.to_xml_pretty()).unwrap();
    c.ok(&format!("cib import {}", file.display()));
    let status = c.status();
    let errors = status["config_errors"].to_string();
    assert!(
        errors.contains("nagios resources are no longer supported"),
        "{status:#}"
    );
    assert!(c.ok("status").contains("Configuration Errors"));
    let verify = c.ok("cib verify");
    assert!(
        verify.contains(r#"warning: <primitive id="old">"#),
        "{verify}"
    );
    // An invalid file: one line per error, exit 1.
    let bad = c.dir().join("bad.xml");
    std::fs::write(
        &bad,
        cib.to_xml_pretty().replace(r#"type="check_http""#, r#"type="check_http"><operations><op id="o" name="monitor" interval="1d"/></operations></primitive><primitive id="zz" class="x" type="y""#),
    )
    .unwrap();
    let out = c.run_in(&["cib", "verify", bad.to_str().unwrap()]);
    assert!(!out.ok);
    assert!(
        out.stdout
            .contains(r#"error: <primitive id="zz">: unknown resource class"#),
        "{}",
        out.stdout
    );
    // The cluster still takes writes.
    c.ok("resource delete old");
}
