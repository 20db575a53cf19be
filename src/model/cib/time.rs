//! Dates and durations as Pacemaker's CIB writes them: the one checked
//! reader that the administration commands, the scheduler's rules and
//! `simulate --now` all use, so what one accepts the other understands.
//!
//! Dates: `2005-020` (year and ordinal day), `2005-02-20`, `20050220`,
//! `2005-W07-7` (ISO week date), each optionally followed by `T` or a space
//! and `HH[:MM[:SS]]` (or `HHMMSS`), and an optional `Z` or `±HH[:MM]`
//! offset; also a bare epoch number of nine digits or more. Every field is
//! range-checked (`2020-13-45` is refused). Durations: a number with an
//! optional unit (`ms`, `msec`, `us`, `usec`, `s`, `sec`, `m`, `min`, `h`,
//! `hr`; none means seconds), or ISO 8601 `P[nY][nM][nW][nD][T[nH][nM][nS]]`.
//! No clock is read here: "now" is an argument everywhere in the model.

/// Longest duration accepted, in milliseconds (about 100 years): anything
/// longer is a typo, and timers must be able to add it to "now".
pub const DURATION_MS_MAX: u64 = 100 * 366 * 86_400_000;
/// Longest date or duration text read, in bytes.
pub const TIME_TEXT_BYTES_MAX: usize = 64;

/// Why a date or duration was refused; the text says what and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(pub String);

fn refuse<T>(text: &str, why: impl std::fmt::Display) -> Result<T, TimeError> {
    Err(TimeError(format!("{text:?} is not a valid date: {why}")))
}

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

/// A time as ISO 8601 UTC (`2026-11-24T10:00:00Z`), as lifetimes and
/// report stamps are written; [`read_datetime`] reads it back.
pub fn iso8601(epoch_s: i64) -> String {
    let b = broken_down(epoch_s);
    let text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        b.year, b.month, b.monthday, b.hour, b.minute, b.second
    );
    // Written to be read back: the pair must agree (cheap, called rarely;
    // a disagreement would make a lifetime end at another time). Years
    // past 9999 are beyond the reader, by design.
    assert!(
        !(0..=9999).contains(&b.year) || read_datetime(&text) == Ok(epoch_s),
        "{text} does not read back as {epoch_s}"
    );
    text
}

/// Reads a [`ctime`] string back (UTC).
pub fn parse_ctime(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, month, day, clock, year] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: i64 = year.parse().ok().filter(|y| (1..=9999).contains(y))?;
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..61).contains(&s) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A run of ASCII digits as a number within `range`, or why not.
fn number(field: &str, what: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    if field.is_empty() || field.len() > 18 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{field:?} is not a {what}"));
    }
    let value: i64 = field
        .parse()
        .map_err(|_| format!("{field:?} is not a {what}"))?;
    if !range.contains(&value) {
        return Err(format!(
            "{what} {value} is out of range ({}-{})",
            range.start(),
            range.end()
        ));
    }
    Ok(value)
}

/// Days since the epoch of the date part (`YYYY-MM-DD`, `YYYY-DDD`,
/// `YYYYMMDD`, `YYYY-Www-D`).
fn read_date_part(date: &str) -> Result<i64, String> {
    let parts: Vec<&str> = date.split('-').collect();
    let year = |y: &str| number(y, "year", 0..=9999);
    match parts.as_slice() {
        [y, w, rest @ ..] if w.starts_with('W') && rest.len() <= 1 => {
            let year = year(y)?;
            let week = number(&w[1..], "week", 1..=53)?;
            let day = match rest {
                [d] => number(d, "weekday", 1..=7)?,
                _ => 1,
            };
            let jan4 = days_from_civil(year, 1, 4);
            let week1_monday = jan4 - (jan4 + 3).rem_euclid(7);
            let next_week1 = {
                let jan4 = days_from_civil(year + 1, 1, 4);
                jan4 - (jan4 + 3).rem_euclid(7)
            };
            let days = week1_monday + (week - 1) * 7 + day - 1;
            if days >= next_week1 {
                return Err(format!("{year} has no week {week}"));
            }
            Ok(days)
        }
        [y, d] if d.len() == 3 => {
            let year = year(y)?;
            let last = if is_leap(year) { 366 } else { 365 };
            Ok(days_from_civil(year, 1, 1) + number(d, "day of the year", 1..=last)? - 1)
        }
        [y, m, d] => {
            let year = year(y)?;
            let month = number(m, "month", 1..=12)? as u32;
            let day = number(d, "day", 1..=days_in_month(year, month) as i64)? as u32;
            Ok(days_from_civil(year, month, day))
        }
        [ymd] if ymd.len() == 8 => {
            read_date_part(&format!("{}-{}-{}", &ymd[..4], &ymd[4..6], &ymd[6..]))
        }
        _ => Err("expected YYYY-MM-DD, YYYY-DDD, YYYYMMDD or YYYY-Www-D".into()),
    }
}

/// Seconds into the day of `HH[:MM[:SS[.fff]]]` or `HH[MM[SS]]`.
fn read_clock(clock: &str) -> Result<i64, String> {
    let fields: Vec<&str> = if clock.contains(':') {
        clock.split(':').collect()
    } else {
        let whole = clock.split('.').next().unwrap_or("");
        if !whole.len().is_multiple_of(2) {
            return Err(format!("{clock:?} is not HH:MM:SS"));
        }
        (0..whole.len())
            .step_by(2)
            .map(|i| &whole[i..i + 2])
            .collect()
    };
    if fields.is_empty() || fields.len() > 3 {
        return Err(format!("{clock:?} is not HH:MM:SS"));
    }
    let hour = number(fields[0], "hour", 0..=24)?;
    let minute = match fields.get(1) {
        Some(m) => number(m, "minute", 0..=59)?,
        None => 0,
    };
    let second = match fields.get(2) {
        // A fraction of a second is allowed and dropped.
        Some(s) => number(s.split('.').next().unwrap_or(""), "second", 0..=59)?,
        None => 0,
    };
    if hour == 24 && (minute, second) != (0, 0) {
        return Err("hour 24 is only 24:00:00".into());
    }
    Ok(hour * 3600 + minute * 60 + second)
}

/// Seconds to subtract for a zone designator (`Z`, `+HH`, `-HH:MM`, `+HHMM`).
fn read_zone(zone: &str) -> Result<i64, String> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
        return Ok(0);
    }
    let (sign, body) = match zone.split_at(1) {
        ("+", body) => (1, body),
        ("-", body) => (-1, body),
        _ => return Err(format!("{zone:?} is not a time zone (Z, +HH:MM, -HHMM)")),
    };
    let body = body.replace(':', "");
    let (hours, minutes) = match body.len() {
        2 => (&body[..2], "0"),
        4 => (&body[..2], &body[2..]),
        _ => return Err(format!("{zone:?} is not a time zone (Z, +HH:MM, -HHMM)")),
    };
    let offset =
        number(hours, "zone hour", 0..=23)? * 3600 + number(minutes, "zone minute", 0..=59)? * 60;
    Ok(sign * offset)
}

/// Reads a CIB date-time into epoch seconds, or says what is wrong with it.
pub fn read_datetime(text: &str) -> Result<i64, TimeError> {
    let t = text.trim();
    if t.len() > TIME_TEXT_BYTES_MAX {
        return refuse(
            t,
            format!("longer than TIME_TEXT_BYTES_MAX = {TIME_TEXT_BYTES_MAX} bytes"),
        );
    }
    if !t.is_ascii() {
        return refuse(t, "dates are ASCII digits, '-', ':', 'T', 'Z' and '+'");
    }
    if t.len() > 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        // A bare epoch number, up to the end of year 9999.
        return number(t, "epoch time", 0..=253_402_300_799).or_else(|e| refuse(t, e));
    }
    let (date, rest) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let days = read_date_part(date).or_else(|e| refuse(t, e))?;
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (rest[..i].trim(), rest[i..].trim()),
        None => (rest, ""),
    };
    let seconds = if clock.is_empty() {
        if !zone.is_empty() {
            return refuse(t, "a time zone needs a time of day");
        }
        0
    } else {
        read_clock(clock).or_else(|e| refuse(t, e))?
    };
    let offset = read_zone(zone).or_else(|e| refuse(t, e))?;
    Ok(days * 86_400 + seconds - offset)
}

/// [`read_datetime`], for callers that treat a bad date as absent.
pub fn parse_datetime(text: &str) -> Option<i64> {
    read_datetime(text).ok()
}

fn refuse_duration<T>(text: &str, why: impl std::fmt::Display) -> Result<T, TimeError> {
    Err(TimeError(format!(
        "{text:?} is not a valid duration: {why}"
    )))
}

/// Reads an interval or timeout (`10s`, `5min`, `1h`, `500ms`, `30`, `1.5s`,
/// ISO 8601 `PT10S`) into milliseconds. Bare numbers are seconds.
pub fn read_duration_ms(text: &str) -> Result<u64, TimeError> {
    let t = text.trim();
    if t.is_empty() {
        return refuse_duration(t, "it is empty (use 10s, 5min, 2h or PT1H)");
    }
    if t.len() > TIME_TEXT_BYTES_MAX {
        return refuse_duration(
            t,
            format!("longer than TIME_TEXT_BYTES_MAX = {TIME_TEXT_BYTES_MAX} bytes"),
        );
    }
    if !t.is_ascii() {
        return refuse_duration(t, "durations are ASCII digits and a unit");
    }
    let ms = match t.strip_prefix(['P', 'p']) {
        Some(iso) => iso_duration_ms(iso).or_else(|e| refuse_duration(t, e))?,
        None => plain_duration_ms(t).or_else(|e| refuse_duration(t, e))?,
    };
    if ms > DURATION_MS_MAX as u128 {
        return refuse_duration(
            t,
            format!("longer than DURATION_MS_MAX = {DURATION_MS_MAX} ms (100 years)"),
        );
    }
    Ok(ms as u64)
}

/// [`read_duration_ms`], for callers that treat a bad duration as absent.
pub fn parse_interval_ms(text: &str) -> Option<u64> {
    read_duration_ms(text).ok()
}

fn iso_duration_ms(iso: &str) -> Result<u128, String> {
    let mut total_s: u128 = 0;
    let mut digits = String::new();
    let mut in_time = false;
    let mut components = 0;
    for c in iso.chars() {
        match c {
            'T' | 't' if digits.is_empty() => in_time = true,
            c if c.is_ascii_digit() => digits.push(c),
            unit => {
                if digits.is_empty() || digits.len() > 12 {
                    return Err(format!("expected a number before {unit:?}"));
                }
                let n: u128 = digits
                    .parse()
                    .map_err(|_| format!("{digits:?} is not a number"))?;
                digits.clear();
                components += 1;
                // Without a T, "M" is months; "H" and "S" mean time anyway.
                total_s += n * match (unit.to_ascii_uppercase(), in_time) {
                    ('Y', false) => 365 * 86_400,
                    ('M', false) => 30 * 86_400,
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', _) => 3_600,
                    ('M', true) => 60,
                    ('S', _) => 1,
                    (u, _) => return Err(format!("unknown ISO 8601 designator {u:?}")),
                };
            }
        }
    }
    if !digits.is_empty() {
        return Err(format!("{digits:?} has no unit designator"));
    }
    if components == 0 {
        return Err("an ISO 8601 duration needs at least one part, like PT10S".into());
    }
    Ok(total_s * 1000)
}

fn plain_duration_ms(t: &str) -> Result<u128, String> {
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || whole.len() > 15 || fraction.contains('.') || fraction.len() > 9 {
        return Err("expected a number and a unit, like 10s, 5min, 2h or PT1H".into());
    }
    // Thousandths of the unit: exact for every unit down to microseconds.
    let whole: u128 = whole
        .parse()
        .map_err(|_| format!("{whole:?} is not a number"))?;
    let fraction_milli: u128 = format!("{fraction:0<3}")[..3].parse().unwrap_or(0);
    let milli_units = whole * 1000 + fraction_milli;
    let unit_us: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" => 1_000_000,
        "ms" | "msec" | "msecs" => 1_000,
        "us" | "usec" | "usecs" => 1,
        "m" | "min" | "mins" => 60_000_000,
        "h" | "hr" | "hrs" => 3_600_000_000,
        "d" | "day" | "days" => return Err("days are no unit here: use 24h or P1D".into()),
        other => {
            return Err(format!(
                "unknown unit {other:?} (use ms, s, min, h, or ISO 8601 like PT1H)"
            ))
        }
    };
    Ok(milli_units * unit_us / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bad_dates_are_refused_with_the_reason() {
        for (text, why) in [
            ("123é456", "ASCII"),
            ("2020-13-45T99:99:99", "month 13"),
            ("2021-02-29", "day 29"),
            ("2021-366", "day of the year 366"),
            ("2020-01-01T25:00", "hour 25"),
            ("2020-01-01T24:00:01", "24:00:00"),
            ("2020-01-01T10:61", "minute 61"),
            ("2020-01-01T10:00+25", "zone hour"),
            ("2021-W53", "no week 53"),
            ("", "expected YYYY"),
            ("garbage", "expected YYYY"),
            ("-1-01-01", "expected YYYY"),
            ("99999999999999999999999", "epoch"),
        ] {
            let error = read_datetime(text).unwrap_err().to_string();
            assert!(error.contains(why), "{text:?}: {error}");
        }
        assert!(read_datetime(&"1".repeat(100))
            .unwrap_err()
            .0
            .contains("TIME_TEXT_BYTES_MAX"));
        assert_eq!(
            read_datetime("2020-366"),
            parse_datetime("2020-12-31").ok_or(TimeError(String::new()))
        );
    }

    #[test]
    fn other_date_forms() {
        assert_eq!(read_datetime("19700102"), Ok(86400));
        assert_eq!(read_datetime("1970-01-01T010000Z"), Ok(3600));
        assert_eq!(read_datetime("1970-01-01T01:00:00-0100"), Ok(7200));
        assert_eq!(read_datetime("1970-01-01T24:00:00"), Ok(86400));
        // 2009-W01-1 is 2008-12-29; 2020-W53-7 is 2021-01-03.
        assert_eq!(read_datetime("2009-W01-1"), read_datetime("2008-12-29"));
        assert_eq!(read_datetime("2020-W53-7"), read_datetime("2021-01-03"));
        assert_eq!(read_datetime("1234567890"), Ok(1234567890));
    }

    #[test]
    fn bad_durations_are_refused_with_the_reason() {
        for (text, why) in [
            ("1d", "24h or P1D"),
            ("garbage", "expected a number"),
            ("NaN", "expected a number"),
            ("inf", "expected a number"),
            ("", "empty"),
            ("10 parsecs", "unknown unit"),
            ("1.2.3s", "expected a number"),
            ("P", "at least one part"),
            ("PT", "at least one part"),
            ("P1X", "designator"),
            ("PT5", "no unit"),
            ("99999999999h", "DURATION_MS_MAX"),
            ("P999999999999Y", "DURATION_MS_MAX"),
            ("10é", "ASCII"),
        ] {
            let error = read_duration_ms(text).unwrap_err().to_string();
            assert!(error.contains(why), "{text:?}: {error}");
        }
        assert_eq!(read_duration_ms("1.5s"), Ok(1500));
        assert_eq!(read_duration_ms("1500us"), Ok(1));
        assert_eq!(read_duration_ms("P1DT1H"), Ok(90_000_000));
        assert_eq!(read_duration_ms(" 2 min "), Ok(120_000));
        assert_eq!(read_duration_ms("0"), Ok(0));
    }

    #[test]
    fn iso8601_round_trips() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 86_399, 951_782_400, 1_796_525_400, 253_402_300_799] {
            assert_eq!(read_datetime(&iso8601(t)), Ok(t));
        }
    }

    #[test]
    fn ctime_round_trips() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_796_525_400), "Sun Dec  6 02:50:00 2026");
        for t in [0, 1_700_000_000, 1_796_525_400] {
            assert_eq!(parse_ctime(&ctime(t)), Some(t));
        }
        assert_eq!(parse_ctime("yesterday"), None);
    }
}
