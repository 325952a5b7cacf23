//! Europe/Paris civil time without a tz database (pure): EU rule since 1996, summer time from the
//! last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let mut d = Date::from_calendar_date(year, month, month.length(year)).ok()?;
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day()?;
    }
    Some(d)
}

/// The Europe/Paris UTC offset in force at `instant`.
pub fn offset_at(instant: OffsetDateTime) -> UtcOffset {
    let utc = instant.to_offset(UtcOffset::UTC);
    let year = utc.year();
    let one = Time::from_hms(1, 0, 0).unwrap_or(Time::MIDNIGHT);
    let summer = match (
        last_sunday(year, Month::March),
        last_sunday(year, Month::October),
    ) {
        (Some(start), Some(end)) => {
            let start = PrimitiveDateTime::new(start, one).assume_utc();
            let end = PrimitiveDateTime::new(end, one).assume_utc();
            utc >= start && utc < end
        }
        _ => false,
    };
    let hours = if summer { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// `instant` in Europe/Paris local time.
pub fn to_paris(instant: OffsetDateTime) -> OffsetDateTime {
    instant.to_offset(offset_at(instant))
}

/// RFC 5322 date-time in Europe/Paris: `Sun, 01 Mar 2026 10:15:00 +0100`.
pub fn rfc5322(instant: OffsetDateTime) -> String {
    let t = to_paris(instant);
    let day = match t.weekday() {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    };
    let month = match t.month() {
        Month::January => "Jan",
        Month::February => "Feb",
        Month::March => "Mar",
        Month::April => "Apr",
        Month::May => "May",
        Month::June => "Jun",
        Month::July => "Jul",
        Month::August => "Aug",
        Month::September => "Sep",
        Month::October => "Oct",
        Month::November => "Nov",
        Month::December => "Dec",
    };
    let off = t.offset();
    let (oh, om) = (off.whole_hours(), off.minutes_past_hour());
    format!(
        "{day}, {:02} {month} {} {:02}:{:02}:{:02} {}{:02}{:02}",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second(),
        if off.is_negative() { '-' } else { '+' },
        oh.unsigned_abs(),
        om.unsigned_abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn winter_and_summer() {
        assert_eq!(
            rfc5322(datetime!(2026-03-01 09:15:00 UTC)),
            "Sun, 01 Mar 2026 10:15:00 +0100"
        );
        assert_eq!(
            rfc5322(datetime!(2026-07-14 10:00:00 UTC)),
            "Tue, 14 Jul 2026 12:00:00 +0200"
        );
    }

    #[test]
    fn transitions_2026() {
        // Summer time starts Sun 29 March 2026 01:00 UTC, ends Sun 25 October 2026 01:00 UTC.
        assert_eq!(
            offset_at(datetime!(2026-03-29 00:59:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            offset_at(datetime!(2026-03-29 01:00:00 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            offset_at(datetime!(2026-10-25 00:59:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            offset_at(datetime!(2026-10-25 01:00:00 UTC)).whole_hours(),
            1
        );
    }
}
