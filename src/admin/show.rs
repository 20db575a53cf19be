//! The resource tree as text (`resource list`, `resource show`).

use super::*;

fn indent_of(depth: usize) -> String {
    "  ".repeat(depth)
}

/// Where each primitive runs, from the status section: id -> "Started node1".
fn placements(cib: &Element) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in crate::scheduler::status::resource_status(cib).unwrap_or_default() {
        let base = r.id.split(':').next().unwrap_or(&r.id).to_string();
        let entry = map.entry(base).or_default();
        for node in &r.nodes {
            entry.push(format!("{:?} {node}", r.role));
        }
    }
    map
}

/// What `resource list` shows of the CIB besides the tree.
struct Listing<'a> {
    cib: &'a Element,
    now_epoch_s: i64,
    placed: std::collections::BTreeMap<String, Vec<String>>,
}

/// A resource's flags as the scheduler reads its meta attributes (rules,
/// `no`/`off` as false, the rsc_defaults under its own).
fn flags_of(e: &Element, listing: &Listing<'_>) -> String {
    let meta = crate::model::cib::ResourceMeta::read(listing.cib, e, listing.now_epoch_s);
    let mut flags = Vec::new();
    if meta
        .get("target-role")
        .is_some_and(|v| v.eq_ignore_ascii_case("Stopped"))
    {
        flags.push("disabled");
    }
    if !meta.flag("is-managed", true) {
        flags.push("unmanaged");
    }
    if e.name == "master" || e.name == "clone" && meta.flag("promotable", false) {
        flags.push("promotable");
    }
    if flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", flags.join(", "))
    }
}

fn describe_resource(e: &Element, depth: usize, out: &mut String, listing: &Listing<'_>) {
    let flags = flags_of(e, listing);
    let id = e.id().unwrap_or("?");
    match e.name.as_str() {
        "primitive" => {
            let agent = match e.attr("provider") {
                Some(p) => format!(
                    "{}:{}:{}",
                    e.attr("class").unwrap_or("?"),
                    p,
                    e.attr("type").unwrap_or("?")
                ),
                None => format!(
                    "{}:{}",
                    e.attr("class").unwrap_or("?"),
                    e.attr("type").unwrap_or("?")
                ),
            };
            let running = match listing.placed.get(id) {
                Some(on) if !on.is_empty() => format!(": {}", on.join(", ")),
                Some(_) => ": Stopped".to_string(),
                None => String::new(),
            };
            out.push_str(&format!(
                "{}* {id}\t({agent}){flags}{running}\n",
                indent_of(depth)
            ));
        }
        tag => {
            out.push_str(&format!("{}* {tag} {id}{flags}:\n", indent_of(depth)));
            for child in e
                .children
                .iter()
                .filter(|c| RESOURCE_TAGS.contains(&c.name.as_str()))
            {
                describe_resource(child, depth + 1, out, listing);
            }
        }
    }
}

/// `resource list`: the configured resources as a tree, each primitive
/// with where it runs when the CIB has status; rules in meta attributes
/// are read at `now_epoch_s`.
pub fn resource_list(cib: &Element, now_epoch_s: i64) -> String {
    let mut out = String::new();
    let listing = Listing {
        cib,
        now_epoch_s,
        placed: placements(cib),
    };
    if let Some(resources) = configuration(cib).and_then(|c| c.child("resources")) {
        for e in resources
            .children
            .iter()
            .filter(|c| RESOURCE_TAGS.contains(&c.name.as_str()))
        {
            describe_resource(e, 0, &mut out, &listing);
        }
    }
    if out.is_empty() {
        out.push_str("no resources configured\n");
    }
    out
}

/// `resource show ID`: the resource's XML.
pub fn resource_show(cib: &Element, id: &str) -> Result<String> {
    Ok(need_resource(cib, id)?.to_xml_pretty())
}
