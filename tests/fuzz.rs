//! The fuzz targets of `systole::fuzz` in CI: the kept corpus (every input
//! that ever crashed a target, plus seeds) replayed, then each target fed
//! generated inputs for a bounded time. Longer runs use cargo-fuzz on the
//! same targets (`fuzz/`, see docs/fuzzing.md).
//!
//! `FUZZ_SECONDS` sets the time per target (default 5), `FUZZ_SEED` the
//! seed (default fixed, so a run is reproducible; the failing input is
//! printed and can be added to the corpus).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use systole::fuzz::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target)
}

fn budget() -> Duration {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0f64);
    Duration::from_secs_f64(seconds)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5157_0e1e)
}

/// Runs `target` on `input`, turning a panic into a failure that shows the
/// input (hex) so it can be kept in the corpus.
fn run_one(name: &str, target: fn(&[u8]), input: &[u8]) {
    let outcome = std::panic::catch_unwind(|| target(input));
    if outcome.is_err() {
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        panic!(
            "fuzz target {name} panicked on {} bytes: {:?}\nhex: {hex}",
            input.len(),
            String::from_utf8_lossy(input)
        );
    }
}

/// Feeds generated inputs to `target` until the time budget is spent.
fn fuzz_for(name: &str, target: fn(&[u8]), strategy: BoxedStrategy<Vec<u8>>) -> usize {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &{
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed().to_le_bytes());
        bytes[8..8 + name.len().min(24)].copy_from_slice(&name.as_bytes()[..name.len().min(24)]);
        bytes
    });
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let deadline = Instant::now() + budget();
    let mut runs = 0;
    while Instant::now() < deadline {
        let input = strategy.new_tree(&mut runner).expect("generate").current();
        run_one(name, target, &input);
        runs += 1;
    }
    runs
}

fn target(name: &str) -> fn(&[u8]) {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("target")
}

#[test]
fn the_corpus_replays_cleanly() {
    let mut replayed = 0;
    for (name, target) in TARGETS {
        let dir = corpus_dir(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            run_one(&format!("{name} ({})", path.display()), target, &input);
            replayed += 1;
        }
    }
    assert!(replayed >= 20, "only {replayed} corpus inputs");
}

/// Text made of the characters dates, durations and rules are made of.
fn time_text() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        "[0-9PTWZYMDHSmsuhinecdz:+. |-]{0,40}".prop_map(String::into_bytes),
        "[0-9]{1,5}-[0-9]{1,3}(-[0-9]{1,3})?([T ][0-9:]{1,9}([Z+-][0-9:]{0,5})?)?"
            .prop_map(String::into_bytes),
        "P([0-9]{1,13}[YMWDHS]){0,4}(T([0-9]{1,13}[HMS]){0,3})?".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
    .boxed()
}

#[test]
fn fuzz_rules_and_dates() {
    let runs = fuzz_for("rules_and_dates", target("rules_and_dates"), time_text());
    assert!(runs > 0);
}

#[test]
fn fuzz_durations() {
    let runs = fuzz_for("durations", target("durations"), time_text());
    assert!(runs > 0);
}

/// CIB-shaped XML: the elements the scheduler reads, with attribute values
/// from a small alphabet of valid and invalid ones, nested at random.
fn cib_text() -> BoxedStrategy<Vec<u8>> {
    let tags = prop::sample::select(vec![
        "primitive",
        "group",
        "clone",
        "master",
        "bundle",
        "op",
        "operations",
        "meta_attributes",
        "instance_attributes",
        "utilization",
        "nvpair",
        "rsc_location",
        "rsc_colocation",
        "rsc_order",
        "rsc_ticket",
        "resource_set",
        "resource_ref",
        "rule",
        "expression",
        "date_expression",
        "date_spec",
        "duration",
        "node",
        "node_state",
        "lrm",
        "lrm_resources",
        "lrm_resource",
        "lrm_rsc_op",
        "transient_attributes",
        "fencing-topology",
        "fencing-level",
        "tag",
        "obj_ref",
        "template",
        "docker",
        "network",
    ]);
    let keys = prop::sample::select(vec![
        "id",
        "class",
        "provider",
        "type",
        "name",
        "value",
        "interval",
        "timeout",
        "rsc",
        "with-rsc",
        "first",
        "then",
        "score",
        "node",
        "role",
        "operation",
        "start",
        "end",
        "rsc-pattern",
        "uname",
        "in_ccm",
        "crmd",
        "join",
        "expected",
        "rc-code",
        "op-status",
        "call-id",
        "operation_key",
        "index",
        "target",
        "devices",
        "kind",
        "replicas",
        "template",
        "attribute",
        "boolean-op",
        "hours",
        "days",
        "id-ref",
        "on-fail",
    ]);
    let values = prop::sample::select(vec![
        "a",
        "b",
        "n1",
        "n2",
        "ocf",
        "stonith",
        "systemd",
        "nagios",
        "heartbeat",
        "Dummy",
        "0",
        "1",
        "-1",
        "10s",
        "1d",
        "NaN",
        "garbage",
        "INFINITY",
        "-INFINITY",
        "123é456",
        "2020-13-45T99:99:99",
        "2024-02-29",
        "monitor",
        "start",
        "stop",
        "promote",
        "Promoted",
        "true",
        "online",
        "member",
        "7",
        "8",
        "5",
        "(a{99}){99}",
        ".*.*.*.*x",
        "g",
        "c",
        "clone-max",
        "promotable",
        "migration-threshold",
        "",
    ]);
    let attrs = proptest::collection::vec((keys, values), 0..6);
    let leaf = (tags.clone(), attrs.clone()).prop_map(|(tag, attrs)| {
        let attrs: String = dedup(attrs)
            .iter()
            .map(|(k, v)| format!(" {k}=\"{v}\""))
            .collect();
        format!("<{tag}{attrs}/>")
    });
    let tree = leaf.prop_recursive(5, 48, 6, move |inner| {
        (
            tags.clone(),
            attrs.clone(),
            proptest::collection::vec(inner, 0..6),
        )
            .prop_map(|(tag, attrs, children)| {
                let attrs: String = dedup(attrs)
                    .iter()
                    .map(|(k, v)| format!(" {k}=\"{v}\""))
                    .collect();
                format!("<{tag}{attrs}>{}</{tag}>", children.concat())
            })
    });
    (
        proptest::collection::vec(tree.clone(), 0..5),
        proptest::collection::vec(tree.clone(), 0..5),
        proptest::collection::vec(tree, 0..3),
    )
        .prop_map(|(resources, constraints, status)| {
            format!(
                r#"<cib have-quorum="1"><configuration><crm_config/><nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes><resources>{}</resources><constraints>{}</constraints></configuration><status><node_state id="n1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>{}</status></cib>"#,
                resources.concat(),
                constraints.concat(),
                status.concat()
            )
            .into_bytes()
        })
        .boxed()
}

fn dedup(attrs: Vec<(&'static str, &'static str)>) -> Vec<(&'static str, &'static str)> {
    let mut seen = Vec::new();
    attrs
        .into_iter()
        .filter(|(k, _)| {
            if seen.contains(k) {
                false
            } else {
                seen.push(*k);
                true
            }
        })
        .collect()
}

#[test]
fn fuzz_cib_xml() {
    let strategy = prop_oneof![
        4 => cib_text(),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
    .boxed();
    let runs = fuzz_for("cib_xml", target("cib_xml"), strategy);
    assert!(runs > 0);
}

/// Control frames: real requests encoded, then mutated byte-wise.
fn control_bytes() -> BoxedStrategy<Vec<u8>> {
    use systole::actors::control_socket::ControlRequest;
    use systole::actors::message::CibChange;
    let text = "[a-z#=<> é\"0-9:-]{0,12}";
    let request = prop_oneof![
        Just(ControlRequest::Ping),
        Just(ControlRequest::Status),
        (text, text).prop_map(|(target, action)| ControlRequest::Fence { target, action }),
        (text, text, proptest::option::of(text)).prop_map(|(node, name, value)| {
            ControlRequest::CibModify {
                change: CibChange::SetNodeAttribute { node, name, value },
            }
        }),
        (text, text).prop_map(|(id, interval)| ControlRequest::CibModify {
            change: CibChange::Upsert {
                section: "resources".into(),
                element: systole::model::cib::xml::Element::new("primitive")
                    .with_attr("id", id.clone())
                    .with_attr("class", "ocf")
                    .with_attr("provider", "heartbeat")
                    .with_attr("type", "Dummy")
                    .with_child(
                        systole::model::cib::xml::Element::new("operations").with_child(
                            systole::model::cib::xml::Element::new("op")
                                .with_attr("id", format!("{id}-m"))
                                .with_attr("name", "monitor")
                                .with_attr("interval", interval),
                        ),
                    ),
            },
        }),
        (text, proptest::option::of(text)).prop_map(|(name, value)| ControlRequest::CibModify {
            change: CibChange::SetProperty { name, value },
        }),
        text.prop_map(|id| ControlRequest::CibModify {
            change: CibChange::Delete { id }
        }),
    ];
    (
        request,
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    )
        .prop_map(|(request, flips)| {
            let mut bytes = rmp_serde::to_vec_named(&request).expect("encode");
            for (at, byte) in flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = byte;
                }
            }
            bytes
        })
        .boxed()
}

#[test]
fn fuzz_control_frame() {
    let strategy = prop_oneof![
        3 => control_bytes(),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
    .boxed();
    let runs = fuzz_for("control_frame", target("control_frame"), strategy);
    assert!(runs > 0);
}

#[test]
fn fuzz_bus_frame() {
    let strategy = proptest::collection::vec(any::<u8>(), 0..512).boxed();
    let runs = fuzz_for("bus_frame", target("bus_frame"), strategy);
    assert!(runs > 0);
}
