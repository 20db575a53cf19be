//! Location constraints: `prefers`/`avoids` scores on nodes, and rules.

use super::*;

/// `constraint location RSC prefers|avoids NODE[=SCORE]...`, or
/// `constraint location add ID RSC NODE SCORE`.
pub fn constraint_location(cib: &Element, args: &[String]) -> Result<Edit> {
    let usage = "usage: constraint location RSC prefers|avoids NODE[=SCORE]... | constraint location add ID RSC NODE SCORE | constraint location RSC rule [id=ID] [role=ROLE] [score=SCORE|score-attribute=ATTR] EXPRESSION";
    match args {
        [add, id, rsc, node, score] if add == "add" => {
            need_resource(cib, rsc)?;
            known_node(cib, node)?;
            check_score(score)?;
            let element = Element::new("rsc_location")
                .with_attr("id", id.clone())
                .with_attr("rsc", rsc.clone())
                .with_attr("node", node.clone())
                .with_attr("score", score.clone());
            constraint_upsert(
                cib,
                element,
                format!("added location constraint {id}: {rsc} on {node} scores {score}"),
            )
        }
        [rsc, rule, rest @ ..] if rule == "rule" => location_rule(cib, rsc, rest),
        [rsc, verb, nodes @ ..] if (verb == "prefers" || verb == "avoids") && !nodes.is_empty() => {
            need_resource(cib, rsc)?;
            let mut edit = Edit::new();
            for spec in nodes {
                let (node, score) = spec.split_once('=').unwrap_or((spec, "INFINITY"));
                known_node(cib, node)?;
                check_score(score)?;
                // `avoids N=S` is a preference of -S.
                let score = if verb == "avoids" {
                    format!("-{}", score.trim_start_matches(['+', '-']))
                } else {
                    score.to_string()
                };
                let id = format!("location-{rsc}-{node}-{}", id_part(&score));
                let element = Element::new("rsc_location")
                    .with_attr("id", id.clone())
                    .with_attr("rsc", rsc.clone())
                    .with_attr("node", node)
                    .with_attr("score", score.clone());
                let one = constraint_upsert(
                    cib,
                    element,
                    format!("added location constraint {id}: {rsc} {verb} {node} ({score})"),
                )?;
                edit.changes.extend(one.changes);
                edit.summary.extend(one.summary);
            }
            Ok(edit)
        }
        _ => refuse!("{usage}"),
    }
}

/// The `key=value` options before a rule's expression.
#[derive(Default)]
struct RuleOptions {
    id: Option<String>,
    role: Option<String>,
    score: Option<String>,
    score_attribute: Option<String>,
}

/// Takes the leading `id=`, `role=`, `score=`, `score-attribute=` words.
fn take_rule_options(args: &mut Vec<String>) -> Result<RuleOptions> {
    let mut options = RuleOptions::default();
    while let Some((key, value)) = args
        .first()
        .and_then(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
    {
        match key.as_str() {
            "id" => options.id = Some(value),
            "role" => options.role = Some(value),
            "score" => {
                check_score(&value)?;
                options.score = Some(value)
            }
            "score-attribute" => options.score_attribute = Some(value),
            // The expression starts here (`#uname eq node1` has no `=`, but
            // an attribute test like `x=1` is no option either).
            _ => break,
        }
        args.remove(0);
    }
    Ok(options)
}

/// The expression's terms and the one joiner (`and` or `or`) between them.
fn split_terms(args: &[String]) -> Result<(Vec<Vec<String>>, Option<String>)> {
    let mut terms: Vec<Vec<String>> = vec![Vec::new()];
    let mut joiner: Option<String> = None;
    for arg in args {
        if arg == "and" || arg == "or" {
            if joiner.as_deref().is_some_and(|j| j != arg) {
                refuse!("rule: mixing `and` and `or` needs parentheses, which are not supported; use separate rules");
            }
            joiner = Some(arg.clone());
            terms.push(Vec::new());
        } else {
            terms.last_mut().expect("one term").push(arg.clone());
        }
    }
    Ok((terms, joiner))
}

/// One term of a rule as an `<expression>` or `<date_expression>`.
fn rule_expression(expr_id: String, term: &[String]) -> Result<Element> {
    const OPERATIONS: [&str; 6] = ["lt", "gt", "lte", "gte", "eq", "ne"];
    const TYPES: [&str; 4] = ["string", "integer", "number", "version"];
    let words: Vec<&str> = term.iter().map(String::as_str).collect();
    if let ["date", rest @ ..] = words.as_slice() {
        // The scheduler's own date reader: what it cannot read is refused.
        for date in rest
            .iter()
            .filter(|w| !matches!(**w, "gt" | "lt" | "in_range" | "to"))
        {
            crate::model::cib::time::read_datetime(date)
                .map_err(|e| AdminError(format!("rule: {e}")))?;
        }
    }
    Ok(match words.as_slice() {
        [op @ ("defined" | "not_defined"), attribute] => Element::new("expression")
            .with_attr("id", expr_id)
            .with_attr("attribute", *attribute)
            .with_attr("operation", *op),
        ["date", op @ ("gt" | "lt"), date] => {
            let key = if *op == "gt" { "start" } else { "end" };
            Element::new("date_expression")
                .with_attr("id", expr_id)
                .with_attr("operation", *op)
                .with_attr(key, *date)
        }
        ["date", "in_range", start, "to", end] => Element::new("date_expression")
            .with_attr("id", expr_id)
            .with_attr("operation", "in_range")
            .with_attr("start", *start)
            .with_attr("end", *end),
        [attribute, op, value] if OPERATIONS.contains(op) => Element::new("expression")
            .with_attr("id", expr_id)
            .with_attr("attribute", *attribute)
            .with_attr("operation", *op)
            .with_attr("value", *value),
        [attribute, op, kind, value] if OPERATIONS.contains(op) && TYPES.contains(kind) => {
            Element::new("expression")
                .with_attr("id", expr_id)
                .with_attr("attribute", *attribute)
                .with_attr("operation", *op)
                .with_attr("type", *kind)
                .with_attr("value", *value)
        }
        _ => refuse!("rule: cannot read the expression {:?}; use `ATTR eq|ne|lt|gt|lte|gte [TYPE] VALUE`, `defined ATTR`, `not_defined ATTR`, `date gt|lt DATE`, `date in_range DATE to DATE`", term.join(" ")),
    })
}

/// `constraint location RSC rule [id=ID] [role=ROLE] [score=S|score-attribute=A] EXPR`
/// where EXPR is terms joined by all `and` or all `or`; a term is
/// `defined ATTR`, `not_defined ATTR`, `ATTR lt|gt|lte|gte|eq|ne [string|integer|number|version] VALUE`,
/// `date gt|lt DATE` or `date in_range DATE to DATE` (pcs's rule syntax without parentheses).
fn location_rule(cib: &Element, rsc: &str, args: &[String]) -> Result<Edit> {
    need_resource(cib, rsc)?;
    let mut args: Vec<String> = args.to_vec();
    let options = take_rule_options(&mut args)?;
    if args.is_empty() {
        refuse!("rule: an expression is needed, e.g. `#uname eq node1` or `defined pingd`");
    }
    let cid = match options.id {
        Some(id) => {
            check_new_id(cib, &id)?;
            id
        }
        None => fresh_id(cib, &format!("location-{rsc}")),
    };
    let rule_id = format!("{cid}-rule");
    let (terms, joiner) = split_terms(&args)?;
    let mut rule = Element::new("rule").with_attr("id", rule_id.clone());
    if let Some(role) = &options.role {
        rule.set_attr("role", role.clone());
    }
    match (&options.score, &options.score_attribute) {
        (Some(_), Some(_)) => refuse!("rule: score and score-attribute exclude each other"),
        (_, Some(attribute)) => rule.set_attr("score-attribute", attribute.clone()),
        (Some(score), None) => rule.set_attr("score", score.clone()),
        (None, None) => rule.set_attr("score", "INFINITY"),
    }
    rule.set_attr("boolean-op", joiner.unwrap_or_else(|| "and".into()));
    for (n, term) in terms.iter().enumerate() {
        let expr_id = if n == 0 {
            format!("{rule_id}-expr")
        } else {
            format!("{rule_id}-expr-{n}")
        };
        rule.children.push(rule_expression(expr_id, term)?);
    }
    let element = Element::new("rsc_location")
        .with_attr("id", cid.clone())
        .with_attr("rsc", rsc)
        .with_child(rule);
    let scores = options
        .score_attribute
        .map(|a| format!("the value of {a}"))
        .or(options.score)
        .unwrap_or_else(|| "INFINITY".into());
    constraint_upsert(
        cib,
        element,
        format!(
            "added location constraint {cid}: {rsc} scores {scores} where {}",
            args.join(" ")
        ),
    )
}
