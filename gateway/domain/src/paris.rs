//! Europe/Paris civil time without a tz database: the EU summer-time rule is fixed by directive
//! 2000/84/EC. Ages and minors' status (policy AGE-1, DMP EX_GEN-1550) use the French calendar day.

use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};

fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let next = if month == Month::December {
        Date::from_calendar_date(year + 1, Month::January, 1).ok()?
    } else {
        Date::from_calendar_date(year, month.next(), 1).ok()?
    };
    let mut d = next.previous_day()?;
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day()?;
    }
    Some(d)
}

/// Europe/Paris offset at an instant: CEST (+2) from the last Sunday of March 01:00 UTC to the
/// last Sunday of October 01:00 UTC, CET (+1) otherwise.
pub fn offset(t: OffsetDateTime) -> UtcOffset {
    let utc = t.to_offset(UtcOffset::UTC);
    let y = utc.year();
    let cet = UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC);
    let cest = UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC);
    let (Some(start), Some(end)) = (last_sunday(y, Month::March), last_sunday(y, Month::October))
    else {
        return cet;
    };
    let start = start.with_hms(1, 0, 0).map(|p| p.assume_utc());
    let end = end.with_hms(1, 0, 0).map(|p| p.assume_utc());
    match (start, end) {
        (Ok(s), Ok(e)) if utc >= s && utc < e => cest,
        _ => cet,
    }
}

/// The civil date in Europe/Paris of an instant.
pub fn date(t: OffsetDateTime) -> Date {
    t.to_offset(offset(t)).date()
}

#[cfg(test)]
mod tests {
    use super::date;
    use time::macros::{date, datetime};

    #[test]
    fn the_french_day_follows_summer_time() {
        assert_eq!(date(datetime!(2026-03-28 23:30 UTC)), date!(2026 - 03 - 29));
        assert_eq!(date(datetime!(2026-06-30 21:59 UTC)), date!(2026 - 06 - 30));
        assert_eq!(date(datetime!(2026-06-30 22:00 UTC)), date!(2026 - 07 - 01));
        assert_eq!(date(datetime!(2026-11-25 22:59 UTC)), date!(2026 - 11 - 25));
        assert_eq!(date(datetime!(2026-11-25 23:00 UTC)), date!(2026 - 11 - 26));
    }
}
