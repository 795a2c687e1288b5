//! Dates from Unix time and back, proleptic Gregorian, no time zones but offsets the caller
//! adds (Howard Hinnant's days-from-civil algorithms). One copy for the journal's sales days,
//! VDA 5050 timestamps and the payment channels' bill days.

pub const DAY_MS: i64 = 86_400_000;
pub const MINUTE_MS: i64 = 60_000;
/// 9999-12-31 23:59:59.999 UTC: the last moment a four-digit year writes.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Minutes after midnight of a time of day `HH:MM`, from 00:00 to 24:00 (the day's end, for
/// closing times).
pub fn minute_of_day(at: &str) -> Option<i64> {
    let (h, m) = at.split_once(':')?;
    let digits = h.len() == 2 && m.len() == 2 && h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit());
    let minute = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
    (digits && m.parse::<i64>().ok()? < 60 && minute <= 24 * 60).then_some(minute)
}

/// Days since 1970-01-01 of a calendar date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day) of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date written `YYYY-MM-DD` (any year 1 to 9999; leading zeros
/// optional); None when it is not a calendar date.
pub fn parse_day(raw: &str) -> Option<i64> {
    let mut parts = raw.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return None };
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// Why a `YYYY-MM-DD HH:MM:SS` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadTime {
    /// Not written `YYYY-MM-DD HH:MM:SS` with digits.
    Shape,
    /// Written so, but no such moment (month 13, 29 February 2023, 24:00:00, before 1970).
    NotReal,
}

/// Reads `YYYY-MM-DD HH:MM:SS` (years 1970 to 9999) in a zone `offset_ms` east of UTC into
/// Unix milliseconds: how the payment channels' bills and the carriers write times.
pub fn parse_local_time(raw: &str, offset_ms: i64) -> Result<i64, BadTime> {
    let b = raw.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return Err(BadTime::Shape);
    }
    let part = |range: std::ops::Range<usize>| b[range].iter().try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))).ok_or(BadTime::Shape);
    let (year, month, day) = (part(0..4)?, part(5..7)?, part(8..10)?);
    let (hour, minute, second) = (part(11..13)?, part(14..16)?, part(17..19)?);
    let days = days_from_civil(year, month, day);
    let real = (1970..=9999).contains(&year) && (1..=12).contains(&month) && civil_from_days(days) == (year, month, day) && hour < 24 && minute < 60 && second < 60;
    if !real {
        return Err(BadTime::NotReal);
    }
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000 - offset_ms)
}

/// Writes `YYYY-MM-DD HH:MM:SS` for `at_ms` in a zone `offset_ms` east of UTC.
pub fn write_local_time(out: &mut impl std::fmt::Write, at_ms: i64, offset_ms: i64) -> std::fmt::Result {
    let local_seconds = (at_ms + offset_ms).div_euclid(1000);
    let (days, second_of_day) = (local_seconds.div_euclid(86_400), local_seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    write!(out, "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60)
}

/// `YYYY-MM-DD HH:MM:SS` of `at_ms` in a zone `offset_ms` east of UTC.
pub fn local_time(at_ms: i64, offset_ms: i64) -> String {
    let mut out = String::with_capacity(19);
    let _ = write_local_time(&mut out, at_ms, offset_ms);
    out
}

/// `YYYY-MM-DD` (UTC) of a Unix time in milliseconds.
pub fn utc_day(at_ms: i64) -> String {
    let (year, month, day) = civil_from_days(at_ms.div_euclid(DAY_MS));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_of_day_is_hh_mm_up_to_the_days_end() {
        assert_eq!(minute_of_day("00:00"), Some(0));
        assert_eq!(minute_of_day("16:30"), Some(990));
        assert_eq!(minute_of_day("24:00"), Some(1440));
        for bad in ["24:01", "7:00", "07:60", "07-00", "0700", "ab:cd", "+7:00"] {
            assert_eq!(minute_of_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_and_dates_round_trip_across_leap_years_and_eras() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(-1), "1969-12-31");
        assert_eq!(parse_day("2000-02-29"), Some(11_016));
        assert_eq!(parse_day("0001-01-01"), Some(days_from_civil(1, 1, 1)));
        for bad in ["2001-02-29", "2026-13-01", "2026-12", "2026-12-01-1", "x-1-1", "10000-01-01", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
