//! Scores with Pacemaker's ±INFINITY arithmetic.
//!
//! A score is an integer clamped to `[-INFINITY, INFINITY]` where INFINITY is
//! 1,000,000. Adding saturates, and -INFINITY wins over +INFINITY: a ban is
//! never undone by a preference, however strong.

/// Pacemaker's INFINITY.
pub const INFINITY: i64 = 1_000_000;

/// Adds two scores the way Pacemaker does: -INFINITY dominates, then
/// +INFINITY, otherwise a sum clamped into range.
pub fn add(a: i64, b: i64) -> i64 {
    if a <= -INFINITY || b <= -INFINITY {
        return -INFINITY;
    }
    if a >= INFINITY || b >= INFINITY {
        return INFINITY;
    }
    (a + b).clamp(-INFINITY, INFINITY)
}

/// Parses a score as written in the CIB: an integer, `INFINITY`,
/// `+INFINITY`, `-INFINITY` (case-insensitive). Pacemaker also maps the
/// colour names `red`, `yellow`, `green` to node-health scores; those are
/// left to the health code and read as 0 here.
pub fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "infinity" | "+infinity" | "inf" | "+inf" => return Some(INFINITY),
        "-infinity" | "-inf" => return Some(-INFINITY),
        _ => {}
    }
    let value: i128 = t.trim_start_matches('+').parse().ok()?;
    Some(value.clamp(-(INFINITY as i128), INFINITY as i128) as i64)
}

/// Whether a score is written as the schema allows: at most one sign, then
/// digits or `INFINITY`/`inf` (the admin commands and the import check refuse
/// anything else, though [`parse`] would read more).
pub fn is_well_formed(text: &str) -> bool {
    let unsigned = text.trim_start_matches(['+', '-']);
    let signs = text.len() - unsigned.len();
    signs <= 1
        && (unsigned.eq_ignore_ascii_case("INFINITY")
            || unsigned.eq_ignore_ascii_case("inf")
            || (!unsigned.is_empty() && unsigned.chars().all(|c| c.is_ascii_digit())))
}

/// Formats a score as crm_simulate prints it.
pub fn format(score: i64) -> String {
    match score {
        s if s >= INFINITY => "INFINITY".to_string(),
        s if s <= -INFINITY => "-INFINITY".to_string(),
        s => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minus_infinity_wins() {
        assert_eq!(add(INFINITY, -INFINITY), -INFINITY);
        assert_eq!(add(-INFINITY, INFINITY), -INFINITY);
        assert_eq!(add(INFINITY, 5), INFINITY);
        assert_eq!(parse("-INFINITY"), Some(-INFINITY));
        assert_eq!(parse("+INFINITY"), Some(INFINITY));
        assert_eq!(parse("2000000"), Some(INFINITY));
        assert_eq!(parse("abc"), None);
    }

    proptest! {
        #[test]
        fn add_saturates(a in -3_000_000i64..3_000_000, b in -3_000_000i64..3_000_000) {
            let a = a.clamp(-INFINITY, INFINITY);
            let b = b.clamp(-INFINITY, INFINITY);
            let s = add(a, b);
            prop_assert!((-INFINITY..=INFINITY).contains(&s));
            prop_assert_eq!(s, add(b, a));
            if a == -INFINITY || b == -INFINITY { prop_assert_eq!(s, -INFINITY); }
        }
    }
}
