//! Wall-clock helpers: Unix milliseconds and the timestamp formats OpenClaw prints
//! (`2026-11-23T23:20:04.400+00:00` in logs, `…Z` in log metadata). Local time comes from the C
//! library (`localtime_r`), which reads `TZ` or `/etc/localtime`, so no time-zone crate is needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A broken-down civil time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
    /// Offset from UTC in seconds (0 for UTC).
    pub offset_secs: i64,
}

impl Civil {
    /// The calendar day as a number that changes exactly at local midnight.
    pub fn day_number(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmm+HH:MM`, or with `Z` when `zulu` and the offset is zero.
    pub fn rfc3339(&self, zulu: bool) -> String {
        let mut s = format!("{}T{:02}:{:02}:{:02}.{:03}", self.date(), self.hour, self.minute, self.second, self.millis);
        if zulu && self.offset_secs == 0 {
            s.push('Z');
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let off = self.offset_secs.unsigned_abs();
            s.push_str(&format!("{sign}{:02}:{:02}", off / 3600, (off % 3600) / 60));
        }
        s
    }
}

/// UTC civil time for `ms` since the epoch.
/// A duration as people read an age: `12s ago`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(elapsed_ms: u64) -> String {
    let s = elapsed_ms / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

pub fn utc(ms: u64) -> Civil {
    civil_at(ms, 0)
}

/// Local civil time for `ms` since the epoch (UTC if the C library cannot tell).
pub fn local(ms: u64) -> Civil {
    civil_at(ms, local_offset_secs(ms))
}

fn civil_at(ms: u64, offset_secs: i64) -> Civil {
    let total = (ms / 1000) as i64 + offset_secs;
    let days = total.div_euclid(86_400);
    let secs = total.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: ((secs % 3600) / 60) as u32,
        second: (secs % 60) as u32,
        millis: (ms % 1000) as u32,
        offset_secs,
    }
}

fn local_offset_secs(ms: u64) -> i64 {
    // `time_t` is named by inference: libc deprecates the alias on musl while it moves to 64 bits.
    let t = (ms / 1000) as _;
    // SAFETY: `tm` is plain old data that localtime_r fully initialises on success; we only read
    // it when the call returned non-null.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i64
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the only HTTP date form senders may
/// produce) into milliseconds since the epoch.
pub fn parse_http_date(text: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut parts = text.split_whitespace();
    let (_weekday, day, month, year, time, zone) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if zone != "GMT" || parts.next().is_some() {
        return None;
    }
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let year: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let mut hms = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + (h * 3600 + m * 60 + s) as i64;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instant_in_utc() {
        // 2026-11-23T23:25:25.463Z, taken from the observed log metadata.
        let c = utc(1_795_476_325_463);
        assert_eq!(c.rfc3339(true), "2026-11-23T23:25:25.463Z");
        assert_eq!(c.rfc3339(false), "2026-11-23T23:25:25.463+00:00");
        assert_eq!(c.date(), "2026-11-23");
    }

    #[test]
    fn day_arithmetic_round_trips_across_leap_years() {
        for days in [-719_468i64, -1, 0, 59, 365, 11_016, 20_415, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777_000));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn negative_offsets_are_signed() {
        let c = civil_at(0, -(5 * 3600 + 30 * 60));
        assert_eq!(c.rfc3339(false), "1969-12-31T18:30:00.000-05:30");
    }
}
