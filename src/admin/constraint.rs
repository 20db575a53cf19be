//! Colocation and order constraints, removing and listing constraints of
//! any kind. Location constraints are in `location.rs`.

use super::*;

pub(super) fn constraint_upsert(cib: &Element, element: Element, what: String) -> Result<Edit> {
    let id = element.id().unwrap_or_default().to_string();
    check_new_id(cib, &id)?;
    let mut edit = Edit::new();
    edit.push(
        CibChange::Upsert {
            section: "constraints".into(),
            element,
        },
        what,
    );
    Ok(edit)
}

fn take_id_option(args: &mut Vec<String>) -> Option<String> {
    let index = args.iter().position(|a| a.starts_with("id="))?;
    Some(args.remove(index)["id=".len()..].to_string())
}

/// `constraint colocation add [ROLE] RSC with [ROLE] WITH_RSC [SCORE] [id=ID]`.
pub fn constraint_colocation(cib: &Element, args: &[String]) -> Result<Edit> {
    let mut args: Vec<String> = args.to_vec();
    if args.first().is_some_and(|a| a == "add") {
        args.remove(0);
    }
    let explicit_id = take_id_option(&mut args);
    let roles = [
        "Started",
        "Promoted",
        "Unpromoted",
        "Master",
        "Slave",
        "Stopped",
    ];
    let mut i = 0;
    let role = |i: &mut usize, args: &[String]| -> Option<String> {
        let r = args
            .get(*i)
            .filter(|a| roles.iter().any(|r| r.eq_ignore_ascii_case(a)))
            .cloned();
        if r.is_some() {
            *i += 1;
        }
        r
    };
    let rsc_role = role(&mut i, &args);
    let Some(rsc) = args.get(i).cloned() else {
        refuse!("usage: constraint colocation add [ROLE] RSC with [ROLE] WITH_RSC [SCORE]")
    };
    i += 1;
    if args.get(i).map(String::as_str) != Some("with") {
        refuse!("usage: constraint colocation add [ROLE] RSC with [ROLE] WITH_RSC [SCORE]");
    }
    i += 1;
    let with_role = role(&mut i, &args);
    let Some(with) = args.get(i).cloned() else {
        refuse!("colocation: which resource comes after `with`?")
    };
    i += 1;
    let score = args.get(i).cloned().unwrap_or_else(|| "INFINITY".into());
    if args.len() > i + 1 {
        refuse!("colocation: unexpected {:?}", &args[i + 1..]);
    }
    check_score(&score)?;
    need_resource(cib, &rsc)?;
    need_resource(cib, &with)?;
    let id = explicit_id.unwrap_or_else(|| format!("colocation-{rsc}-{with}-{}", id_part(&score)));
    let mut element = Element::new("rsc_colocation")
        .with_attr("id", id.clone())
        .with_attr("rsc", rsc.clone())
        .with_attr("with-rsc", with.clone())
        .with_attr("score", score.clone());
    if let Some(r) = &rsc_role {
        element.set_attr("rsc-role", r.clone());
    }
    if let Some(r) = &with_role {
        element.set_attr("with-rsc-role", r.clone());
    }
    constraint_upsert(
        cib,
        element,
        format!("added colocation constraint {id}: {rsc} with {with} ({score})"),
    )
}

/// `constraint order add [ACTION] FIRST then [ACTION] THEN [kind=K] [symmetrical=B] [id=ID]`.
pub fn constraint_order(cib: &Element, args: &[String]) -> Result<Edit> {
    let mut args: Vec<String> = args.to_vec();
    if args.first().is_some_and(|a| a == "add") {
        args.remove(0);
    }
    let explicit_id = take_id_option(&mut args);
    let mut options = Vec::new();
    args.retain(|a| match a.split_once('=') {
        Some((k, v)) => {
            options.push((k.to_string(), v.to_string()));
            false
        }
        None => true,
    });
    let actions = ["start", "stop", "promote", "demote"];
    let usage = "usage: constraint order add [ACTION] FIRST then [ACTION] THEN [kind=Mandatory|Optional|Serialize] [symmetrical=true|false]";
    let Some(then_at) = args.iter().position(|a| a == "then") else {
        refuse!("{usage}")
    };
    let side = |part: &[String]| -> Result<(Option<String>, String)> {
        match part {
            [rsc] => Ok((None, rsc.clone())),
            [action, rsc] if actions.contains(&action.as_str()) => {
                Ok((Some(action.clone()), rsc.clone()))
            }
            _ => refuse!("{usage}"),
        }
    };
    let (first_action, first) = side(&args[..then_at])?;
    let (then_action, then) = side(&args[then_at + 1..])?;
    need_resource(cib, &first)?;
    need_resource(cib, &then)?;
    let mut element = Element::new("rsc_order")
        .with_attr("id", "")
        .with_attr("first", first.clone())
        .with_attr("then", then.clone());
    if let Some(a) = &first_action {
        element.set_attr("first-action", a.clone());
    }
    if let Some(a) = &then_action {
        element.set_attr("then-action", a.clone());
    }
    let kind = set_order_options(&mut element, &options)?;
    let id = explicit_id.unwrap_or_else(|| format!("order-{first}-{then}-{kind}"));
    element.set_attr("id", id.clone());
    let describe = |a: &Option<String>, r: &str| match a {
        Some(a) => format!("{a} {r}"),
        None => format!("start {r}"),
    };
    constraint_upsert(
        cib,
        element,
        format!(
            "added order constraint {id}: {} then {} ({kind})",
            describe(&first_action, &first),
            describe(&then_action, &then)
        ),
    )
}

/// An order's `kind=`, `symmetrical=` and `score=` options set on it; its
/// kind in lower case (for the id), `mandatory` when not given.
fn set_order_options(element: &mut Element, options: &[(String, String)]) -> Result<String> {
    let mut kind = "mandatory".to_string();
    for (k, v) in options {
        match k.as_str() {
            "kind" => {
                if !["Mandatory", "Optional", "Serialize"]
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(v))
                {
                    refuse!("order kind {v:?}: one of Mandatory, Optional, Serialize");
                }
                kind = v.to_ascii_lowercase();
                let mut proper = v.to_ascii_lowercase();
                proper[..1].make_ascii_uppercase();
                element.set_attr("kind", proper);
            }
            "symmetrical" => {
                if v != "true" && v != "false" {
                    refuse!("symmetrical={v:?}: true or false");
                }
                element.set_attr("symmetrical", v.clone());
            }
            "score" => {
                check_score(v)?;
                element.set_attr("score", v.clone());
            }
            _ => refuse!("order: unknown option {k}"),
        }
    }
    Ok(kind)
}

/// `constraint remove ID...`
pub fn constraint_remove(cib: &Element, ids: &[String]) -> Result<Edit> {
    if ids.is_empty() {
        refuse!("usage: constraint remove ID...");
    }
    let constraints = configuration(cib).and_then(|c| c.child("constraints"));
    let mut edit = Edit::new();
    for id in ids {
        let found = constraints.and_then(|c| c.children.iter().find(|e| e.id() == Some(id)));
        match found {
            Some(e) => edit.push(
                CibChange::Delete { id: id.clone() },
                format!("removed {} {id}", e.name.replace('_', " ")),
            ),
            None => refuse!("no constraint with id {id:?} (see `systole constraint list`)"),
        }
    }
    Ok(edit)
}

fn describe_constraint(c: &Element) -> String {
    let a = |k: &str| c.attr(k).unwrap_or("");
    let id = a("id");
    match c.name.as_str() {
        "rsc_location" => {
            if c.attr("node").is_some() {
                format!(
                    "location  {id}: {} on {} ({})",
                    a("rsc"),
                    a("node"),
                    a("score")
                )
            } else {
                let rules: Vec<String> = c
                    .children_named("rule")
                    .map(|r| {
                        let mut parts = Vec::new();
                        r.walk(&mut |e| match e.name.as_str() {
                            "expression" => parts.push(format!(
                                "{} {} {}",
                                e.attr("attribute").unwrap_or(""),
                                e.attr("operation").unwrap_or(""),
                                e.attr("value").unwrap_or("")
                            )),
                            "date_expression" => parts.push(format!(
                                "date {} {}",
                                e.attr("operation").unwrap_or(""),
                                e.attr("end").or(e.attr("start")).unwrap_or("")
                            )),
                            _ => {}
                        });
                        format!(
                            "score {} if {}",
                            r.attr("score").unwrap_or("?"),
                            parts.join(&format!(" {} ", r.attr("boolean-op").unwrap_or("and")))
                        )
                    })
                    .collect();
                format!("location  {id}: {} {}", a("rsc"), rules.join("; "))
            }
        }
        "rsc_colocation" => format!(
            "colocation {id}: {} with {} ({})",
            a("rsc"),
            a("with-rsc"),
            a("score")
        ),
        "rsc_order" => format!(
            "order     {id}: {} {} then {} {} ({})",
            c.attr("first-action").unwrap_or("start"),
            a("first"),
            c.attr("then-action").unwrap_or("start"),
            a("then"),
            c.attr("kind").unwrap_or("Mandatory")
        ),
        other => format!("{other} {id}"),
    }
}

/// `constraint list` (all kinds, or one kind: location, colocation, order).
pub fn constraint_list(cib: &Element, kind: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(constraints) = configuration(cib).and_then(|c| c.child("constraints")) {
        for c in &constraints.children {
            if kind.is_none_or(|k| c.name == format!("rsc_{k}")) {
                out.push_str(&describe_constraint(c));
                out.push('\n');
            }
        }
    }
    if out.is_empty() {
        out.push_str("no constraints\n");
    }
    out
}
