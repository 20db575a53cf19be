//! Rule evaluation: `<rule>` elements with attribute expressions, date
//! expressions and nested rules, against one node's attributes and "now".

use std::collections::BTreeMap;

use super::time::{broken_down, read_datetime, TimeError};
use super::xml::Element;

/// What a rule is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct RuleContext<'a> {
    /// The node's attributes (configured, transient and the built-in `#uname`,
    /// `#id`, `#kind`); None when the rule is evaluated outside a node.
    pub node_attrs: Option<&'a BTreeMap<String, String>>,
    pub now_epoch_s: i64,
    /// `class`, `provider`, `type` of the resource for rsc_expression.
    pub agent: Option<(&'a str, &'a str, &'a str)>,
    /// Operation name and interval (ms) for op_expression.
    pub op: Option<(&'a str, u64)>,
}

impl RuleContext<'static> {
    /// Rules evaluated at a time, outside any node, resource or operation
    /// (what the model reads configuration sets with).
    pub fn at(now_epoch_s: i64) -> RuleContext<'static> {
        RuleContext {
            node_attrs: None,
            now_epoch_s,
            agent: None,
            op: None,
        }
    }
}

/// Evaluates a `<rule>`: its expressions combined with `boolean-op` (and by
/// default). An empty rule is true.
pub fn eval_rule(rule: &Element, ctx: &RuleContext) -> bool {
    let or = rule
        .attr("boolean-op")
        .is_some_and(|o| o.eq_ignore_ascii_case("or"));
    let mut any = false;
    let mut seen = false;
    for child in &rule.children {
        let result = match child.name.as_str() {
            "expression" => eval_expression(child, ctx),
            "date_expression" => eval_date_expression(child, ctx.now_epoch_s),
            "rule" => eval_rule(child, ctx),
            "rsc_expression" => eval_rsc_expression(child, ctx),
            "op_expression" => eval_op_expression(child, ctx),
            _ => continue,
        };
        seen = true;
        if or && result {
            return true;
        }
        if !or && !result {
            return false;
        }
        any |= result;
    }
    if or {
        any || !seen
    } else {
        true
    }
}

fn eval_rsc_expression(expr: &Element, ctx: &RuleContext) -> bool {
    // Outside a resource (cluster-wide defaults) an rsc_expression cannot hold.
    let Some((class, provider, kind)) = ctx.agent else {
        return false;
    };
    expr.attr("class").is_none_or(|c| c == class)
        && expr.attr("provider").is_none_or(|p| p == provider)
        && expr.attr("type").is_none_or(|t| t == kind)
}

fn eval_op_expression(expr: &Element, ctx: &RuleContext) -> bool {
    let Some((name, interval_ms)) = ctx.op else {
        return false;
    };
    if expr.attr("name").is_some_and(|n| n != name) {
        return false;
    }
    match expr.attr("interval") {
        Some(i) => super::time::parse_interval_ms(i) == Some(interval_ms),
        None => true,
    }
}

fn eval_expression(expr: &Element, ctx: &RuleContext) -> bool {
    let attribute = expr.attr("attribute").unwrap_or("");
    let op = expr.attr("operation").unwrap_or("eq");
    let Some(attrs) = ctx.node_attrs else {
        return false;
    };
    let actual = attrs.get(attribute).map(String::as_str);
    match op {
        "defined" => return actual.is_some(),
        "not_defined" => return actual.is_none(),
        _ => {}
    }
    let expected = expr.attr("value");
    let (Some(actual), Some(expected)) = (actual, expected) else {
        // ne with a missing side is true, everything else false.
        return op == "ne" && !(actual.is_none() && expected.is_none());
    };
    let kind = expr.attr("type").unwrap_or_else(|| {
        // Pacemaker compares as numbers when both sides look numeric and
        // the operator is an ordering.
        if matches!(op, "lt" | "gt" | "lte" | "gte")
            && actual.parse::<f64>().is_ok()
            && expected.parse::<f64>().is_ok()
        {
            "number"
        } else {
            "string"
        }
    });
    let ordering = match kind {
        "integer" => match (actual.trim().parse::<f64>(), expected.trim().parse::<f64>()) {
            // Integers drop any fraction, as Pacemaker's parsing does.
            (Ok(a), Ok(b)) => (a.trunc() as i64).cmp(&(b.trunc() as i64)),
            _ => actual.cmp(expected),
        },
        "number" => match (actual.trim().parse::<f64>(), expected.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
            _ => actual.cmp(expected),
        },
        "version" => compare_versions(actual, expected),
        _ => {
            if op == "eq" || op == "ne" {
                actual.cmp(expected)
            } else {
                actual
                    .to_ascii_lowercase()
                    .cmp(&expected.to_ascii_lowercase())
            }
        }
    };
    use std::cmp::Ordering::*;
    match op {
        "eq" => ordering == Equal,
        "ne" => ordering != Equal,
        "lt" => ordering == Less,
        "lte" => ordering != Greater,
        "gt" => ordering == Greater,
        "gte" => ordering != Less,
        _ => false,
    }
}

fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let pa: Vec<u64> = a.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let pb: Vec<u64> = b.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let n = pa.len().max(pb.len());
    for i in 0..n {
        let x = pa.get(i).copied().unwrap_or(0);
        let y = pb.get(i).copied().unwrap_or(0);
        if x != y {
            return x.cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}

fn eval_date_expression(expr: &Element, now: i64) -> bool {
    let op = expr.attr("operation").unwrap_or("in_range");
    // As Pacemaker: an expression with an invalid date does not pass (and
    // `model::cib::verify` reports it as a configuration error).
    let (Ok(start), Ok(end)) = (date_attr(expr, "start"), date_attr(expr, "end")) else {
        return false;
    };
    match op {
        "gt" => start.is_some_and(|s| now > s),
        "lt" => end.is_some_and(|e| now < e),
        "date_spec" => expr
            .child("date_spec")
            .is_some_and(|spec| date_spec_matches(spec, now)),
        _ => {
            let end = end.or_else(|| {
                let s = start?;
                let d = expr.child("duration")?;
                Some(add_duration(s, d))
            });
            if start.is_none() && end.is_none() {
                return false;
            }
            start.is_none_or(|s| now >= s) && end.is_none_or(|e| now <= e)
        }
    }
}

/// A date attribute: absent, or read by the one checked reader.
pub fn date_attr(expr: &Element, name: &str) -> Result<Option<i64>, TimeError> {
    expr.attr(name).map(read_datetime).transpose()
}

/// Largest value of one `<duration>` field: ten thousand years of seconds.
pub const DURATION_FIELD_MAX: i64 = 10_000 * 366 * 86_400;

fn add_duration(start: i64, duration: &Element) -> i64 {
    // Bounded, so a hostile value can neither overflow nor reach dates the
    // calendar functions cannot hold.
    let get = |k: &str| {
        duration
            .attr(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
            .clamp(-DURATION_FIELD_MAX, DURATION_FIELD_MAX)
    };
    let mut t = start
        .saturating_add(get("weeks").saturating_mul(7 * 86400))
        .saturating_add(get("days").saturating_mul(86400))
        .saturating_add(get("hours").saturating_mul(3600))
        .saturating_add(get("minutes").saturating_mul(60))
        .saturating_add(get("seconds"))
        .clamp(-DURATION_FIELD_MAX, DURATION_FIELD_MAX);
    let months = get("months").saturating_add(get("years").saturating_mul(12));
    if months != 0 {
        let b = broken_down(t);
        let total = (b.year * 12 + (b.month as i64 - 1)).saturating_add(months);
        let (y, m) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
        let y = y.clamp(-10_000, 20_000);
        let days = super::time::days_from_civil(y, m, b.monthday);
        t = days * 86400 + t.rem_euclid(86400);
    }
    t
}

fn in_ranges(spec: Option<&str>, value: i64) -> bool {
    let Some(spec) = spec else {
        return true;
    };
    spec.split(',').any(|part| {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let lo = a.trim().parse::<i64>().unwrap_or(i64::MIN);
                let hi = b.trim().parse::<i64>().unwrap_or(i64::MAX);
                (lo..=hi).contains(&value)
            }
            None => part.parse::<i64>().is_ok_and(|v| v == value),
        }
    })
}

fn date_spec_matches(spec: &Element, now: i64) -> bool {
    let b = broken_down(now);
    in_ranges(spec.attr("years"), b.year)
        && in_ranges(spec.attr("months"), b.month as i64)
        && in_ranges(spec.attr("monthdays"), b.monthday as i64)
        && in_ranges(spec.attr("yeardays"), b.yearday as i64)
        && in_ranges(spec.attr("weekdays"), b.weekday as i64)
        && in_ranges(spec.attr("hours"), b.hour as i64)
        && in_ranges(spec.attr("minutes"), b.minute as i64)
        && in_ranges(spec.attr("seconds"), b.second as i64)
}
