//! Operation digests: a fingerprint of the parameters an operation ran with.
//!
//! The operation history records one per operation (`op-digest`, and for
//! agents that can reload, `op-restart-digest` over the parameters that
//! cannot be reloaded). Comparing them with the configuration tells the
//! scheduler that a definition changed, so the resource must restart or
//! reload, or a recurring monitor must be rescheduled. The format is
//! Pacemaker's, so the histories in a CIB brought over from Pacemaker compare
//! equal when nothing changed: the MD5 of ` <parameters a="1" b="2"/>` and a
//! newline, attributes sorted by name.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

/// The meta-attribute a recurring operation's digest includes (its timeout
/// changes what the monitor does; nothing else of the meta does).
pub const TIMEOUT_META: &str = "CRM_meta_timeout";

/// The digest of a parameter set, in Pacemaker's format.
pub fn params_digest(params: &BTreeMap<String, String>) -> String {
    let mut text = String::from(" <parameters");
    for (name, value) in params {
        text.push(' ');
        text.push_str(name);
        text.push_str("=\"");
        escape_into(value, &mut text);
        text.push('"');
    }
    text.push_str("/>\n");
    let sum = Md5::digest(text.as_bytes());
    sum.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parameters an operation's digest covers: the resource's parameters,
/// the operation's own, and for a recurring operation its timeout.
pub fn digest_params(
    resource_params: &BTreeMap<String, String>,
    op_params: &BTreeMap<String, String>,
    interval_ms: u64,
    timeout_ms: u64,
) -> BTreeMap<String, String> {
    let mut all = resource_params.clone();
    for (k, v) in op_params {
        all.insert(k.clone(), v.clone());
    }
    // Pacemaker leaves these out: they say where and by whom, not what.
    all.retain(|k, _| !is_filtered(k));
    if interval_ms > 0 {
        all.insert(TIMEOUT_META.to_string(), timeout_ms.to_string());
    }
    all
}

/// The digest an operation with these parameters records (`op-digest`).
pub fn op_digest(
    resource_params: &BTreeMap<String, String>,
    op_params: &BTreeMap<String, String>,
    interval_ms: u64,
    timeout_ms: u64,
) -> String {
    params_digest(&digest_params(
        resource_params,
        op_params,
        interval_ms,
        timeout_ms,
    ))
}

/// The restart digest: only the parameters named in `force_restart` (a
/// space-separated list, as `op-force-restart` records it).
pub fn restart_digest(all: &BTreeMap<String, String>, force_restart: Option<&str>) -> String {
    match force_restart {
        None => params_digest(all),
        Some(list) => {
            let names: Vec<&str> = list.split_whitespace().collect();
            let kept: BTreeMap<String, String> = all
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            params_digest(&kept)
        }
    }
}

/// The digest without private parameters (`op-secure-digest`), for CIBs in
/// which they are masked. `secure_list` is `op-secure-params`. Histories
/// older than feature set 3.16.0 left out the operation's own parameters,
/// the timeout and, for fence devices, Pacemaker's own `pcmk_*` options.
pub fn secure_digest(
    resource_params: &BTreeMap<String, String>,
    all: &BTreeMap<String, String>,
    secure_list: &str,
    feature_set: Option<&str>,
    fence_device: bool,
) -> String {
    let private: Vec<&str> = secure_list.split_whitespace().collect();
    let old = feature_set.is_some_and(|v| version_before(v, &[3, 16, 0]));
    let source = if old { resource_params } else { all };
    let kept: BTreeMap<String, String> = source
        .iter()
        .filter(|(k, _)| !private.contains(&k.as_str()) && !is_filtered(k))
        .filter(|(k, _)| !(old && fence_device && is_fencing_option(k)))
        .filter(|(k, _)| !(old && k.as_str() == TIMEOUT_META))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params_digest(&kept)
}

/// Whether a fence device parameter is one of Pacemaker's own options
/// rather than the agent's.
pub fn is_fencing_option(name: &str) -> bool {
    if matches!(name, "provides" | "stonith-timeout") {
        return true;
    }
    let Some(rest) = name.strip_prefix("pcmk_") else {
        return false;
    };
    matches!(
        rest,
        "action_limit"
            | "delay_base"
            | "delay_max"
            | "host_argument"
            | "host_check"
            | "host_list"
            | "host_map"
    ) || rest
        .split_once('_')
        .is_some_and(|(_, what)| matches!(what, "action" | "timeout" | "retries"))
}

/// Whether a dotted version is older than `than`.
fn version_before(version: &str, than: &[u64]) -> bool {
    let parts: Vec<u64> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    for (i, &t) in than.iter().enumerate() {
        let v = parts.get(i).copied().unwrap_or(0);
        if v != t {
            return v < t;
        }
    }
    false
}

fn is_filtered(name: &str) -> bool {
    name.starts_with("CRM_meta_")
        || matches!(
            name,
            "id" | "crm_feature_set"
                | "op-digest"
                | "on_node"
                | "on_node_uuid"
                | "pcmk_external_ip"
        )
}

fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_parameters_have_pacemakers_digest() {
        // The digest Pacemaker records for an agent run without parameters.
        assert_eq!(
            params_digest(&BTreeMap::new()),
            "f2317cad3d54cec5d7d7aa7d0bf35cf8"
        );
    }

    #[test]
    fn recurring_operations_include_their_timeout() {
        let params = map(&[("ip", "10.0.0.1")]);
        let once = op_digest(&params, &BTreeMap::new(), 0, 20_000);
        let recurring = op_digest(&params, &BTreeMap::new(), 10_000, 20_000);
        let slower = op_digest(&params, &BTreeMap::new(), 10_000, 30_000);
        assert_ne!(once, recurring);
        assert_ne!(recurring, slower);
        // The timeout of a one-off operation is not part of its digest.
        assert_eq!(once, op_digest(&params, &BTreeMap::new(), 0, 90_000));
    }

    #[test]
    fn digests_follow_names_not_insertion_and_escape_values() {
        let a = map(&[("b", "2"), ("a", "1")]);
        let b = map(&[("a", "1"), ("b", "2")]);
        assert_eq!(params_digest(&a), params_digest(&b));
        assert_ne!(
            params_digest(&map(&[("a", "x\"y")])),
            params_digest(&map(&[("a", "x'y")]))
        );
    }

    #[test]
    fn secure_digest_leaves_out_private_and_fencing_options() {
        let params = map(&[
            ("ipaddr", "192.0.2.1"),
            ("passwd", "****"),
            ("pcmk_host_list", "n1"),
        ]);
        let other_password = map(&[
            ("ipaddr", "192.0.2.1"),
            ("passwd", "secret"),
            ("pcmk_host_list", "n1"),
        ]);
        let a = secure_digest(&params, &params, " passwd ", Some("3.0.12"), true);
        let b = secure_digest(
            &other_password,
            &other_password,
            " passwd ",
            Some("3.0.12"),
            true,
        );
        assert_eq!(a, b);
        assert_eq!(a, params_digest(&map(&[("ipaddr", "192.0.2.1")])));
        // Newer histories keep the fencing options in.
        let c = secure_digest(&params, &params, " passwd ", Some("3.19.0"), true);
        assert_ne!(a, c);
        assert!(is_fencing_option("pcmk_reboot_timeout"));
        assert!(!is_fencing_option("pcmk_custom"));
        assert!(version_before("3.0.12", &[3, 16, 0]));
        assert!(!version_before("3.16.0", &[3, 16, 0]));
    }

    #[test]
    fn restart_digest_covers_only_unreloadable_parameters() {
        let all = map(&[("state", "on"), ("delay", "5")]);
        let changed_reloadable = map(&[("state", "on"), ("delay", "9")]);
        assert_eq!(
            restart_digest(&all, Some(" state ")),
            restart_digest(&changed_reloadable, Some(" state "))
        );
        assert_ne!(
            restart_digest(&all, None),
            restart_digest(&changed_reloadable, None)
        );
    }
}
