//! Alerts from the command line, as `pcs alert` does them:
//! `alert create path=P [id=ID] [description=D] [options k=v...] [meta k=v...]
//! [select KIND...]`, `alert update ID ...`, `alert delete ID...`,
//! `alert recipient add ALERT value=V [id=ID] [options ...] [meta ...]`,
//! `alert recipient remove ID...`, `alert list`. Ids as pcs gives them
//! (`alert`, `alert-1`, `ALERT-recipient`); `select` (not in pcs) takes
//! `nodes`, `fencing`, `resources`, `attributes` or `attribute=NAME`.

use super::{
    check_new_id, configuration, find, fresh_id, set_nv, split_pair, AdminError, Edit, Result,
};
use crate::model::cib::change::CibChange;
use crate::model::cib::xml::Element;

/// `name=value` words, then `options`, `meta` and `select` sections.
#[derive(Debug, Default, PartialEq, Eq)]
struct AlertArgs {
    plain: Vec<(String, String)>,
    options: Vec<(String, String)>,
    meta: Vec<(String, String)>,
    select: Option<Vec<String>>,
}

fn parse_args(tokens: &[String]) -> Result<AlertArgs> {
    let mut args = AlertArgs::default();
    let mut section = "";
    for token in tokens {
        match token.as_str() {
            "options" | "meta" => section = token,
            "select" => {
                section = "select";
                args.select.get_or_insert_with(Vec::new);
            }
            _ if section == "select" => {
                args.select.get_or_insert_with(Vec::new).push(token.clone())
            }
            _ => {
                let pair = split_pair(token)?;
                match section {
                    "options" => args.options.push(pair),
                    "meta" => args.meta.push(pair),
                    _ => args.plain.push(pair),
                }
            }
        }
    }
    Ok(args)
}

fn take(plain: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let at = plain.iter().position(|(k, _)| k == name)?;
    Some(plain.remove(at).1)
}

fn refuse_extra(plain: &[(String, String)], allowed: &str) -> Result<()> {
    match plain.first() {
        Some((k, _)) => Err(AdminError(format!(
            "unknown option {k:?} (expected {allowed}, then options k=v..., meta k=v...)"
        ))),
        None => Ok(()),
    }
}

fn alerts(cib: &Element) -> impl Iterator<Item = &Element> {
    configuration(cib)
        .and_then(|c| c.child("alerts"))
        .into_iter()
        .flat_map(|a| a.children_named("alert"))
}

fn need_alert<'a>(cib: &'a Element, id: &str) -> Result<&'a Element> {
    match alerts(cib).find(|a| a.id() == Some(id)) {
        Some(alert) => Ok(alert),
        None => Err(AdminError(format!(
            "no alert with id {id:?} (see `systole alert list`)"
        ))),
    }
}

fn apply_sets(element: &mut Element, args: &AlertArgs) {
    for (k, v) in &args.options {
        set_nv(
            element,
            "instance_attributes",
            k,
            Some(v).filter(|v| !v.is_empty()).map(String::as_str),
        );
    }
    for (k, v) in &args.meta {
        set_nv(
            element,
            "meta_attributes",
            k,
            Some(v).filter(|v| !v.is_empty()).map(String::as_str),
        );
    }
}

fn select_element(alert_id: &str, kinds: &[String]) -> Result<Element> {
    let mut select = Element::new("select");
    let mut attributes: Option<Element> = None;
    for kind in kinds {
        let child = match kind.as_str() {
            "nodes" => "select_nodes",
            "fencing" => "select_fencing",
            "resources" => "select_resources",
            "attributes" => {
                attributes.get_or_insert_with(|| Element::new("select_attributes"));
                continue;
            }
            other => match other.strip_prefix("attribute=") {
                Some(name) if !name.is_empty() => {
                    let set = attributes.get_or_insert_with(|| Element::new("select_attributes"));
                    set.children.push(
                        Element::new("attribute")
                            .with_attr("id", format!("{alert_id}-select-{}", super::id_part(name)))
                            .with_attr("name", name),
                    );
                    continue;
                }
                _ => {
                    return Err(AdminError(format!(
                        "select {other:?}: expected nodes, fencing, resources, attributes or attribute=NAME"
                    )))
                }
            },
        };
        if select.child(child).is_none() {
            select.children.push(Element::new(child));
        }
    }
    select.children.extend(attributes);
    Ok(select)
}

fn set_select(alert: &mut Element, kinds: &[String]) -> Result<()> {
    let id = alert.id().unwrap_or_default().to_string();
    alert.children.retain(|c| c.name != "select");
    if !kinds.is_empty() {
        alert.children.insert(0, select_element(&id, kinds)?);
    }
    Ok(())
}

fn upsert(alert: Element, summary: String) -> Edit {
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "alerts".into(),
            element: alert,
        },
        summary,
    );
    edit
}

/// The `id=` an element is given (it must be new), else a free id from
/// `base`.
fn take_new_id(cib: &Element, plain: &mut Vec<(String, String)>, base: &str) -> Result<String> {
    match take(plain, "id") {
        Some(id) => {
            check_new_id(cib, &id)?;
            Ok(id)
        }
        None => Ok(fresh_id(cib, base)),
    }
}

/// `alert create path=P [id=ID] [description=D] [options ...] [meta ...] [select ...]`.
pub fn alert_create(cib: &Element, tokens: &[String]) -> Result<Edit> {
    let mut args = parse_args(tokens)?;
    let Some(path) = take(&mut args.plain, "path") else {
        return Err(AdminError("usage: alert create path=PATH [id=ID] [description=TEXT] [options k=v...] [meta k=v...] [select nodes|fencing|resources|attributes|attribute=NAME...]".into()));
    };
    let id = take_new_id(cib, &mut args.plain, "alert")?;
    let description = take(&mut args.plain, "description");
    refuse_extra(&args.plain, "path=, id=, description=")?;
    let mut alert = Element::new("alert")
        .with_attr("id", id.clone())
        .with_attr("path", path.clone());
    if let Some(d) = description {
        alert.set_attr("description", d);
    }
    if let Some(kinds) = &args.select {
        set_select(&mut alert, kinds)?;
    }
    apply_sets(&mut alert, &args);
    Ok(upsert(alert, format!("created alert {id} calling {path}")))
}

/// `alert update ID [path=P] [description=D] [options ...] [meta ...] [select ...]`;
/// `name=` removes an option; `select` with no kind removes the selection.
pub fn alert_update(cib: &Element, id: &str, tokens: &[String]) -> Result<Edit> {
    let mut alert = need_alert(cib, id)?.clone();
    let mut args = parse_args(tokens)?;
    if let Some(path) = take(&mut args.plain, "path") {
        alert.set_attr("path", path);
    }
    if let Some(d) = take(&mut args.plain, "description") {
        alert.set_attr("description", d);
    }
    refuse_extra(&args.plain, "path=, description=")?;
    if let Some(kinds) = &args.select {
        set_select(&mut alert, kinds)?;
    }
    apply_sets(&mut alert, &args);
    Ok(upsert(alert, format!("updated alert {id}")))
}

/// `alert delete ID...`.
pub fn alert_delete(cib: &Element, ids: &[String]) -> Result<Edit> {
    if ids.is_empty() {
        return Err(AdminError("which alert? alert delete ID...".into()));
    }
    let mut edit = Edit::new();
    for id in ids {
        need_alert(cib, id)?;
        edit.push(
            CibChange::Delete { id: id.clone() },
            format!("deleted alert {id}"),
        );
    }
    Ok(edit)
}

/// `alert recipient add ALERT value=V [id=ID] [description=D] [options ...] [meta ...]`.
pub fn recipient_add(cib: &Element, alert_id: &str, tokens: &[String]) -> Result<Edit> {
    let mut alert = need_alert(cib, alert_id)?.clone();
    let mut args = parse_args(tokens)?;
    if args.select.is_some() {
        return Err(AdminError(
            "select belongs to the alert, not a recipient (alert update ALERT select ...)".into(),
        ));
    }
    let Some(value) = take(&mut args.plain, "value") else {
        return Err(AdminError("usage: alert recipient add ALERT value=VALUE [id=ID] [description=TEXT] [options k=v...] [meta k=v...]".into()));
    };
    if alert
        .children_named("recipient")
        .any(|r| r.attr("value") == Some(value.as_str()))
    {
        return Err(AdminError(format!(
            "alert {alert_id} already has recipient {value:?}"
        )));
    }
    let id = take_new_id(cib, &mut args.plain, &format!("{alert_id}-recipient"))?;
    let description = take(&mut args.plain, "description");
    refuse_extra(&args.plain, "value=, id=, description=")?;
    let mut recipient = Element::new("recipient")
        .with_attr("id", id.clone())
        .with_attr("value", value.clone());
    if let Some(d) = description {
        recipient.set_attr("description", d);
    }
    apply_sets(&mut recipient, &args);
    alert.children.push(recipient);
    Ok(upsert(
        alert,
        format!("added recipient {id} ({value}) to alert {alert_id}"),
    ))
}

/// `alert recipient remove ID...`.
pub fn recipient_remove(cib: &Element, ids: &[String]) -> Result<Edit> {
    if ids.is_empty() {
        return Err(AdminError(
            "which recipient? alert recipient remove ID...".into(),
        ));
    }
    let mut edit = Edit::new();
    for id in ids {
        let is_recipient = find(cib, id).is_some_and(|e| e.name == "recipient");
        if !is_recipient {
            return Err(AdminError(format!(
                "no recipient with id {id:?} (see `systole alert list`)"
            )));
        }
        edit.push(
            CibChange::Delete { id: id.clone() },
            format!("removed recipient {id}"),
        );
    }
    Ok(edit)
}

fn nv_line(element: &Element, tag: &str) -> String {
    element
        .children_named(tag)
        .flat_map(|s| s.children_named("nvpair"))
        .map(|nv| {
            format!(
                "{}={}",
                nv.attr("name").unwrap_or(""),
                nv.attr("value").unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe_sets(out: &mut String, element: &Element, indent: &str) {
    for (tag, label) in [
        ("instance_attributes", "Options"),
        ("meta_attributes", "Meta options"),
    ] {
        let line = nv_line(element, tag);
        if !line.is_empty() {
            out.push_str(&format!("{indent}{label}: {line}\n"));
        }
    }
}

/// `alert list`: as `pcs alert config` shows them.
pub fn alert_list(cib: &Element) -> String {
    let mut out = String::new();
    for alert in alerts(cib) {
        out.push_str(&format!(
            "Alert: {} (path={})\n",
            alert.id().unwrap_or(""),
            alert.attr("path").unwrap_or("")
        ));
        if let Some(d) = alert.attr("description") {
            out.push_str(&format!("  Description: {d}\n"));
        }
        if let Some(select) = alert.child("select") {
            let mut kinds: Vec<String> = select
                .children
                .iter()
                .map(|c| c.name.trim_start_matches("select_").to_string())
                .collect();
            let names: Vec<&str> = select
                .children_named("select_attributes")
                .flat_map(|s| s.children_named("attribute"))
                .filter_map(|a| a.attr("name"))
                .collect();
            if !names.is_empty() {
                kinds.push(format!("(attributes: {})", names.join(", ")));
            }
            out.push_str(&format!("  Select: {}\n", kinds.join(" ")));
        }
        describe_sets(&mut out, alert, "  ");
        for r in alert.children_named("recipient") {
            out.push_str(&format!(
                "  Recipient: {} (value={})\n",
                r.id().unwrap_or(""),
                r.attr("value").unwrap_or("")
            ));
            describe_sets(&mut out, r, "    ");
        }
    }
    if out.is_empty() {
        out.push_str("No alerts defined\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cib::store;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn apply(cib: &mut Element, make: impl FnOnce(&Element) -> Result<Edit>) {
        let before = cib.clone();
        let edit = make(&before).unwrap();
        edit.apply(cib).unwrap();
        crate::model::cib::verify::check_write(&before, cib, 0).unwrap();
    }

    #[test]
    fn create_recipients_update_and_delete_as_pcs() {
        let mut cib = store::empty_cib();
        let edit = |c: &Element| {
            alert_create(
            c,
            &words("path=/usr/share/pacemaker/alerts/alert_file.sh.sample options debug_exec_order=false meta timeout=15s timestamp-format=%H:%M select resources attribute=pingd"),
        )
        };
        apply(&mut cib, edit);
        apply(&mut cib, |c| {
            recipient_add(c, "alert", &words("value=/tmp/a.log meta timeout=5s"))
        });
        apply(&mut cib, |c| {
            recipient_add(c, "alert", &words("value=/tmp/b.log id=second"))
        });
        let typed = crate::model::cib::Cib::from_xml(&cib, 0).unwrap();
        let [alert] = typed.alerts.as_slice() else {
            panic!("{:?}", typed.alerts)
        };
        assert_eq!(alert.id, "alert");
        use crate::model::cib::alerts::AlertKind;
        assert_eq!(alert.kinds, vec![AlertKind::Resource, AlertKind::Attribute]);
        assert_eq!(alert.attribute_names, vec!["pingd"]);
        assert_eq!(alert.meta["timeout"], "15s");
        assert_eq!(alert.instance["debug_exec_order"], "false");
        let ids: Vec<&str> = alert.recipients.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["alert-recipient", "second"]);
        assert_eq!(alert.recipients[0].meta["timeout"], "5s");
        let listed = alert_list(&cib);
        assert!(
            listed.contains("Recipient: second (value=/tmp/b.log)"),
            "{listed}"
        );
        assert!(
            listed.contains("Select: resources attributes (attributes: pingd)"),
            "{listed}"
        );
        // The same value twice is refused; a second alert gets alert-1.
        assert!(recipient_add(&cib, "alert", &words("value=/tmp/a.log")).is_err());
        assert_eq!(
            alert_create(&cib, &words("path=/bin/true"))
                .unwrap()
                .summary,
            vec!["created alert alert-1 calling /bin/true"]
        );
        apply(&mut cib, |c| {
            alert_update(c, "alert", &words("path=/bin/echo meta timeout= select"))
        });
        let typed = crate::model::cib::Cib::from_xml(&cib, 0).unwrap();
        assert_eq!(typed.alerts[0].path, "/bin/echo");
        assert!(!typed.alerts[0].meta.contains_key("timeout"));
        assert_eq!(typed.alerts[0].kinds.len(), 3);
        apply(&mut cib, |c| recipient_remove(c, &words("second")));
        assert!(!alert_list(&cib).contains("second"));
        assert!(recipient_remove(&cib, &words("alert")).is_err());
        apply(&mut cib, |c| alert_delete(c, &words("alert")));
        assert_eq!(alert_list(&cib), "No alerts defined\n");
    }

    #[test]
    fn bad_alerts_are_refused_with_a_reason() {
        let cib = store::empty_cib();
        let err = |r: Result<Edit>| r.unwrap_err().to_string();
        assert!(err(alert_create(&cib, &words("id=x"))).contains("usage"));
        assert!(err(alert_create(&cib, &words("path=/x colour=red")))
            .contains("unknown option \"colour\""));
        assert!(err(alert_create(&cib, &words("path=/x select everything")))
            .contains("select \"everything\""));
        assert!(err(alert_update(&cib, "nope", &[])).contains("no alert"));
        // A relative path passes here and is refused by the write check.
        let mut after = cib.clone();
        alert_create(&cib, &words("path=relative.sh"))
            .unwrap()
            .apply(&mut after)
            .unwrap();
        assert!(crate::model::cib::verify::check_write(&cib, &after, 0).is_err());
    }
}
