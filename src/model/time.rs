//! Dates as Pacemaker's CIB writes them, reduced to seconds since the epoch.
//!
//! Accepted: `2005-020` (year and ordinal day), `2005-02-20`, either followed
//! by `T` or a space and `HH[:MM[:SS]]`, and an optional `Z` or `±HH[:MM]`
//! offset. Also a bare epoch number. No clock is read here: "now" is an
//! argument everywhere in the model.

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date (year, month, day) of a day count since the epoch.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time used by date_spec matching.
#[derive(Debug, Clone, Copy)]
pub struct Broken {
    pub year: i64,
    pub month: u32,
    pub monthday: u32,
    pub yearday: u32,
    /// ISO weekday, 1 = Monday.
    pub weekday: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

pub fn broken_down(epoch_s: i64) -> Broken {
    let days = epoch_s.div_euclid(86400);
    let secs = epoch_s.rem_euclid(86400);
    let (year, month, monthday) = civil_from_days(days);
    let yearday = (days - days_from_civil(year, 1, 1) + 1) as u32;
    // 1970-01-01 was a Thursday (ISO 4).
    let weekday = ((days + 3).rem_euclid(7) + 1) as u32;
    Broken {
        year,
        month,
        monthday,
        yearday,
        weekday,
        hour: (secs / 3600) as u32,
        minute: (secs / 60 % 60) as u32,
        second: (secs % 60) as u32,
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A time as C's `ctime` writes it (and Pacemaker in `cib-last-written`
/// and crm_mon), in UTC: `Mon Dec  7 02:50:00 2026`.
pub fn ctime(epoch_s: i64) -> String {
    let b = broken_down(epoch_s);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[(b.weekday as usize + 6) % 7],
        MONTHS[(b.month as usize).saturating_sub(1) % 12],
        b.monthday,
        b.hour,
        b.minute,
        b.second,
        b.year
    )
}

/// Reads a [`ctime`] string back (UTC).
pub fn parse_ctime(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, month, day, clock, year] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let day: u32 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s)
}

/// Parses a CIB date-time into epoch seconds; None if it is not one.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) && t.len() > 8 {
        return t.parse().ok();
    }
    let (date, rest) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let days = match parts.as_slice() {
        [y, d] if d.len() == 3 => {
            let year: i64 = y.parse().ok()?;
            days_from_civil(year, 1, 1) + d.parse::<i64>().ok()? - 1
        }
        [y, m, d] => days_from_civil(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?),
        [y] if y.len() == 8 => days_from_civil(
            y[..4].parse().ok()?,
            y[4..6].parse().ok()?,
            y[6..].parse().ok()?,
        ),
        _ => return None,
    };
    let mut seconds = days * 86400;
    if rest.is_empty() {
        return Some(seconds);
    }
    // Split off a zone designator.
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (rest[..i].trim(), rest[i..].trim()),
        None => (rest, ""),
    };
    let fields: Vec<&str> = clock.split(':').collect();
    let mut mult = 3600;
    for f in fields.iter().take(3) {
        let value: f64 = f.trim().parse().ok()?;
        seconds += (value as i64) * mult;
        mult /= 60;
    }
    if let Some(sign) = zone.chars().next().filter(|c| *c == '+' || *c == '-') {
        let body: String = zone[1..].chars().filter(|c| c.is_ascii_digit()).collect();
        let (h, m) = match body.len() {
            0 => (0, 0),
            1 | 2 => (body.parse::<i64>().ok()?, 0),
            _ => (
                body[..2].parse::<i64>().ok()?,
                body[2..].parse::<i64>().unwrap_or(0),
            ),
        };
        let offset = h * 3600 + m * 60;
        seconds -= if sign == '+' { offset } else { -offset };
    }
    Some(seconds)
}

/// Parses an interval or timeout (`10s`, `5min`, `1h`, `500ms`, `30`,
/// ISO-8601 `PT10S`) into milliseconds. Bare numbers are seconds.
pub fn parse_interval_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return Some(0);
    }
    if let Some(iso) = t.strip_prefix('P').or_else(|| t.strip_prefix('p')) {
        let mut total: u64 = 0;
        let mut num = String::new();
        let mut in_time = false;
        for c in iso.chars() {
            match c {
                'T' | 't' => in_time = true,
                c if c.is_ascii_digit() => num.push(c),
                u => {
                    let n: u64 = num.parse().ok()?;
                    num.clear();
                    total += n * match (u.to_ascii_uppercase(), in_time) {
                        ('Y', false) => 365 * 86400,
                        // Without a T, "M" is months, but "S"/"H" mean time.
                        ('M', false) => 30 * 86400,
                        ('S', false) => 1,
                        ('H', false) => 3600,
                        ('W', false) => 7 * 86400,
                        ('D', false) => 86400,
                        ('H', true) => 3600,
                        ('M', true) => 60,
                        ('S', true) => 1,
                        _ => return None,
                    };
                }
            }
        }
        return Some(total * 1000);
    }
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let value: f64 = t[..split].parse().ok()?;
    let unit = t[split..].trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "s" | "sec" | "secs" => 1000.0,
        "ms" | "msec" | "msecs" => 1.0,
        "us" | "usec" | "usecs" => 0.001,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hr" | "hrs" => 3_600_000.0,
        _ => return None,
    };
    Some((value * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_round_trips() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_796_525_400), "Sun Dec  6 02:50:00 2026");
        for t in [0, 1_700_000_000, 1_796_525_400] {
            assert_eq!(parse_ctime(&ctime(t)), Some(t));
        }
        assert_eq!(parse_ctime("yesterday"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
        assert_eq!(parse_datetime("1970-002"), Some(86400));
        assert_eq!(parse_datetime("1970-01-01T01:00"), Some(3600));
        assert_eq!(parse_datetime("1970-01-01 01:00:00 +01:00"), Some(0));
        assert_eq!(
            parse_datetime("2005-020T12:30"),
            parse_datetime("2005-01-20 12:30:00")
        );
        let b = broken_down(parse_datetime("2014-05-07 00:28:00").unwrap());
        assert_eq!(
            (b.year, b.month, b.monthday, b.weekday, b.hour),
            (2014, 5, 7, 3, 0)
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval_ms("10s"), Some(10_000));
        assert_eq!(parse_interval_ms("10"), Some(10_000));
        assert_eq!(parse_interval_ms("2min"), Some(120_000));
        assert_eq!(parse_interval_ms("PT1M"), Some(60_000));
        assert_eq!(parse_interval_ms("500ms"), Some(500));
    }
}
