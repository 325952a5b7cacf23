//! Calendar helpers: Europe/Paris civil date of `as_of` and ages at a date (AGE-1).
use passerelle_api::pbjson_types::Timestamp;
use time::{Date, Duration, OffsetDateTime, macros::format_description};

/// Parses a "YYYY-MM-DD" date.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

pub(crate) fn ts(t: &Timestamp) -> Option<OffsetDateTime> {
    let dt = OffsetDateTime::from_unix_timestamp(t.seconds).ok()?;
    dt.checked_add(Duration::nanoseconds(i64::from(t.nanos)))
}

/// The civil date in Europe/Paris of an instant (one implementation, in the domain crate).
pub(crate) use passerelle_domain::paris::date as paris_date;

/// Age in whole years at `on`; a 29 February birthday counts from 1 March in common years.
pub(crate) fn age_on(birth: Date, on: Date) -> i32 {
    let mut age = on.year() - birth.year();
    let (bm, bd) = (birth.month() as u8, birth.day());
    let anniversary = if bm == 2 && bd == 29 && !time::util::is_leap_year(on.year()) {
        (3u8, 1u8)
    } else {
        (bm, bd)
    };
    if (on.month() as u8, on.day()) < anniversary {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn paris_date_follows_summer_time() {
        // 2026-03-29 is the last Sunday of March: 00:30 UTC is still CET (01:30 local).
        assert_eq!(
            paris_date(datetime!(2026-03-28 23:30 UTC)),
            date!(2026 - 03 - 29)
        );
        assert_eq!(
            paris_date(datetime!(2026-06-30 21:59 UTC)),
            date!(2026 - 06 - 30)
        );
        assert_eq!(
            paris_date(datetime!(2026-06-30 22:00 UTC)),
            date!(2026 - 07 - 01)
        );
        assert_eq!(
            paris_date(datetime!(2026-11-25 22:59 UTC)),
            date!(2026 - 11 - 25)
        );
        assert_eq!(
            paris_date(datetime!(2026-11-25 23:00 UTC)),
            date!(2026 - 11 - 26)
        );
    }

    #[test]
    fn ages_and_leap_day() {
        assert_eq!(age_on(date!(2008 - 11 - 26), date!(2026 - 11 - 25)), 17);
        assert_eq!(age_on(date!(2008 - 11 - 25), date!(2026 - 11 - 25)), 18);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2026 - 02 - 28)), 17);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2026 - 03 - 01)), 18);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2028 - 02 - 29)), 20);
    }
}
