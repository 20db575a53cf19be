//! Fuzz targets: every input a user, an agent or a peer can hand the node,
//! fed arbitrary bytes. Each must return, never panic (nor overflow, nor
//! hang). The same functions run under cargo-fuzz (`fuzz/`, for long runs)
//! and under a bounded proptest harness with a kept corpus in CI
//! (`tests/fuzz.rs`).

use crate::model::cib::xml::Element;

/// "Now" for the targets: fixed, so a crash replays.
const NOW_EPOCH_S: i64 = 1_700_000_000;

/// A CIB as XML text: parsed, written back and parsed again (names made
/// harmless on write), checked as every write is, and scheduled.
pub fn cib_xml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(cib) = Element::parse(&text) else {
        return;
    };
    let written = cib.to_xml_compact();
    if let Err(error) = Element::parse(&written) {
        panic!("a parsed tree did not parse once written: {error}\n{written}");
    }
    let issues = crate::model::cib::verify::verify(&cib, NOW_EPOCH_S);
    let _ = crate::model::cib::verify::check_write(&crate::model::cib::store::empty_cib(), &cib, 0);
    if let Ok(outcome) = crate::scheduler::run(&cib, NOW_EPOCH_S) {
        // What the scheduler left out, verify reports too.
        for left_out in &outcome.transition.config_errors {
            assert!(issues.contains(left_out), "{left_out} not in verify's list");
        }
    }
    let _ = crate::scheduler::status::resource_status(&cib);
}

/// A date, a duration and a rule built from them, evaluated.
pub fn rules_and_dates(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::model::cib::time::read_datetime(&text);
    let _ = crate::model::cib::time::read_duration_ms(&text);
    let now = i64::from_le_bytes(
        data.iter()
            .copied()
            .chain([0; 8])
            .take(8)
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or([0; 8]),
    )
    .clamp(-1 << 40, 1 << 40);
    let parts: Vec<&str> = text.split('|').collect();
    let or = data.first().is_some_and(|b| b % 2 == 0);
    let rule = fuzzed_rule(&parts, or);
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert(
        "a".to_string(),
        parts.get(5).copied().unwrap_or("").to_string(),
    );
    let ctx = crate::model::cib::rules::RuleContext {
        node_attrs: Some(&attrs),
        now_epoch_s: now,
        agent: Some(("ocf", "heartbeat", "Dummy")),
        op: Some(("monitor", 10_000)),
    };
    let _ = crate::model::cib::rules::eval_rule(&rule, &ctx);
    let _ = crate::model::cib::location_rule_score(&rule, &ctx);
}

/// A rule of every kind of expression, its dates, durations and values
/// taken from the fuzzer's `parts` in turn.
fn fuzzed_rule(parts: &[&str], or: bool) -> Element {
    let fields = [
        "years",
        "months",
        "weeks",
        "days",
        "hours",
        "minutes",
        "seconds",
        "monthdays",
        "weekdays",
        "yeardays",
    ];
    let mut duration = Element::new("duration").with_attr("id", "d");
    let mut spec = Element::new("date_spec").with_attr("id", "s");
    for (i, &part) in parts.iter().enumerate() {
        let field = fields[i % fields.len()];
        duration.set_attr(field, part);
        spec.set_attr(field, part);
    }
    let part = |i: usize| parts.get(i).copied().unwrap_or("");
    Element::new("rule")
        .with_attr("id", "r")
        .with_attr("boolean-op", if or { "or" } else { "and" })
        .with_child(
            Element::new("date_expression")
                .with_attr("id", "e1")
                .with_attr("operation", "in_range")
                .with_attr("start", part(0))
                .with_child(duration),
        )
        .with_child(
            Element::new("date_expression")
                .with_attr("id", "e2")
                .with_attr("operation", "date_spec")
                .with_child(spec),
        )
        .with_child(
            Element::new("expression")
                .with_attr("id", "e3")
                .with_attr("attribute", "a")
                .with_attr("operation", part(1))
                .with_attr("type", part(2))
                .with_attr("value", part(3)),
        )
        .with_child(
            Element::new("op_expression")
                .with_attr("id", "e4")
                .with_attr("name", "monitor")
                .with_attr("interval", part(4)),
        )
}

/// A duration alone (intervals, timeouts, lifetimes).
pub fn durations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(ms) = crate::model::cib::time::read_duration_ms(&text) {
        assert!(ms <= crate::model::cib::time::DURATION_MS_MAX);
    }
    let _ = crate::admin::parse_duration_ms(&text);
    let _ = crate::model::cib::time::read_datetime(&text);
}

/// A control-socket request body: decoded, access-checked, and a CIB
/// change checked as the daemon checks it before the CIB actor sees it.
pub fn control_frame(data: &[u8]) {
    let _ = crate::actors::control_socket::decode_body::<
        crate::actors::control_socket::ControlResponse,
    >(data);
    let Ok(request) = crate::actors::control_socket::decode_body::<
        crate::actors::control_socket::ControlRequest,
    >(data) else {
        return;
    };
    let caller = crate::actors::control_socket::Caller {
        uid: 1000,
        gid: 1000,
        pid: None,
    };
    for access in [
        crate::actors::control_socket::Access::Admin,
        crate::actors::control_socket::Access::ReadOnly,
        crate::actors::control_socket::Access::Denied,
    ] {
        let _ = crate::actors::control_socket::refusal(&request, &caller, access);
    }
    let cib = crate::model::cib::store::empty_cib();
    match request {
        crate::actors::control_socket::ControlRequest::CibModify { change }
            if crate::actors::control::check_change(&cib, &change, NOW_EPOCH_S).is_ok() =>
        {
            let mut after = cib.clone();
            let _ = crate::model::cib::store::apply_change(&mut after, &change);
            let _ = after.to_xml_compact();
        }
        crate::actors::control_socket::ControlRequest::Fence { target, action } => {
            let _ = crate::actors::control::check_fence_request(&cib, &target, &action);
        }
        _ => {}
    }
}

/// A datagram from the network and what the bus makes of its parts: the
/// header, an authenticated open (always refused here: no key is known),
/// the plain frame, fragments reassembled, and an actor envelope.
pub fn bus_frame(data: &[u8]) {
    use crate::transport::frame::{Header, Plain};
    let _ = Header::decode(data);
    let _ = Plain::decode(data);
    let key = crate::transport::AuthKey::from_bytes([7; 32]);
    let mut opener = crate::transport::auth::Opener::new(&key, "fuzz");
    let mut datagram = data.to_vec();
    let _ = opener.open(&mut datagram);
    let mut reassembler = crate::transport::fragment::Reassembler::new(64 * 1024);
    for chunk in data.chunks(7) {
        let first = chunk.first().map(|b| u32::from(*b) * 3);
        let last = chunk.len() < 7;
        let _ = reassembler.push(first.filter(|f| f % 2 == 0), last, chunk);
    }
    if let Ok(envelope) = rmp_serde::from_slice::<crate::actors::message::Envelope>(data) {
        let _ = rmp_serde::to_vec_named(&envelope);
        use crate::actors::message::{Message, Reply};
        if let Message::Reply(Ok(Reply::Cib(cib))) = &envelope.body {
            let _ = crate::model::cib::store::validate_shape(cib);
            let _ = crate::model::cib::verify::verify(cib, NOW_EPOCH_S);
        }
    }
}

/// A fuzz target: takes any bytes, returns.
pub type Target = fn(&[u8]);

/// Every target by name, for the harness and the corpus replay.
pub const TARGETS: [(&str, Target); 5] = [
    ("cib_xml", cib_xml),
    ("rules_and_dates", rules_and_dates),
    ("durations", durations),
    ("control_frame", control_frame),
    ("bus_frame", bus_frame),
];
