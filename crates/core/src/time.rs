//! Business days: a store reports by its own time zone and a cut-off hour,
//! so a sale at 01:30 with a 04:00 cut-off belongs to the previous day.
//! Instants are always stored as UTC; this is the only place that turns them
//! into store dates.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessCalendar {
    pub timezone: Tz,
    pub day_cutoff: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("'{0}' is not an IANA time zone such as Asia/Shanghai")]
    BadTimezone(String),
    #[error("'{0}' is not a cut-off time of the form HH:MM")]
    BadCutoff(String),
}

impl BusinessCalendar {
    pub fn parse(timezone: &str, day_cutoff: &str) -> Result<BusinessCalendar, CalendarError> {
        let timezone: Tz = timezone
            .parse()
            .map_err(|_| CalendarError::BadTimezone(timezone.to_owned()))?;
        let day_cutoff = NaiveTime::parse_from_str(day_cutoff, "%H:%M")
            .map_err(|_| CalendarError::BadCutoff(day_cutoff.to_owned()))?;
        Ok(BusinessCalendar {
            timezone,
            day_cutoff,
        })
    }

    /// The business day an instant belongs to.
    pub fn business_date(&self, at: DateTime<Utc>) -> NaiveDate {
        let local = at.with_timezone(&self.timezone).naive_local();
        if local.time() < self.day_cutoff {
            local.date() - Duration::days(1)
        } else {
            local.date()
        }
    }

    /// The UTC instants `[start, end)` of a business day.
    pub fn day_bounds(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.local_instant(date.and_time(self.day_cutoff));
        let end = self.local_instant((date + Duration::days(1)).and_time(self.day_cutoff));
        (start, end)
    }

    /// The hour of the local clock (0–23) an instant falls in, for by-hour reports.
    pub fn local_hour(&self, at: DateTime<Utc>) -> u32 {
        use chrono::Timelike;
        at.with_timezone(&self.timezone).hour()
    }

    /// A local wall-clock time as an instant. In a DST gap the time does not
    /// exist, so the first instant after the gap is used; in an overlap the
    /// earlier one.
    fn local_instant(&self, local: chrono::NaiveDateTime) -> DateTime<Utc> {
        let mut probe = local;
        for _ in 0..4 {
            match self.timezone.from_local_datetime(&probe) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(early, _) => return early.with_timezone(&Utc),
                LocalResult::None => probe += Duration::minutes(30),
            }
        }
        Utc.from_utc_datetime(&local)
    }
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        BusinessCalendar {
            timezone: chrono_tz::Asia::Shanghai,
            day_cutoff: NaiveTime::MIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid rfc3339")
            .with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid date")
    }

    #[test]
    fn cutoff_moves_early_hours_to_the_previous_day() {
        let cal = BusinessCalendar::parse("Asia/Shanghai", "04:00").expect("valid");
        // 01:30 Beijing on the 22nd belongs to the 21st.
        assert_eq!(
            cal.business_date(utc("2026-11-21T17:30:00Z")),
            date("2026-11-21")
        );
        // 04:00 Beijing exactly starts the 22nd.
        assert_eq!(
            cal.business_date(utc("2026-11-21T20:00:00Z")),
            date("2026-11-22")
        );
        let (start, end) = cal.day_bounds(date("2026-11-21"));
        assert_eq!(start, utc("2026-11-20T20:00:00Z"));
        assert_eq!(end, utc("2026-11-21T20:00:00Z"));
    }

    #[test]
    fn time_zone_edges() {
        let cal = BusinessCalendar::parse("Asia/Shanghai", "00:00").expect("valid");
        // 23:59:59 UTC on the 20th is 07:59:59 Beijing on the 21st.
        assert_eq!(
            cal.business_date(utc("2026-11-20T23:59:59Z")),
            date("2026-11-21")
        );
        assert_eq!(
            cal.business_date(utc("2026-11-20T15:59:59Z")),
            date("2026-11-20")
        );
        assert_eq!(
            cal.business_date(utc("2026-11-20T16:00:00Z")),
            date("2026-11-21")
        );
    }

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let cal = BusinessCalendar::parse("Europe/Berlin", "00:00").expect("valid");
        let (s, e) = cal.day_bounds(date("2026-03-29"));
        assert_eq!(e - s, Duration::hours(23));
        let (s, e) = cal.day_bounds(date("2026-10-25"));
        assert_eq!(e - s, Duration::hours(25));
        // A cut-off inside the spring gap (02:30 does not exist) still gives a day.
        let gap = BusinessCalendar::parse("Europe/Berlin", "02:30").expect("valid");
        let (s, _) = gap.day_bounds(date("2026-03-29"));
        assert_eq!(s, utc("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert_eq!(
            BusinessCalendar::parse("Mars/Olympus", "04:00"),
            Err(CalendarError::BadTimezone("Mars/Olympus".into()))
        );
        assert_eq!(
            BusinessCalendar::parse("Asia/Shanghai", "4am"),
            Err(CalendarError::BadCutoff("4am".into()))
        );
    }
}
