//! One fixed clock for every layer that takes time as an argument.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A clock that stays where it is put and moves only when told. It is a
/// clock of the api (`shouyin_api::Clock`), of the channel clients and of
/// head office, so one test can drive all three from one instant.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(at))
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl shouyin_api::Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        FixedClock::now(self)
    }
}

impl shouyin_channels::Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        FixedClock::now(self)
    }
}

impl shouyin_hq::Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        FixedClock::now(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stays_put_and_moves_when_told() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 21, 1, 0, 0)
            .single()
            .unwrap_or_default();
        let clock = FixedClock::new(t0);
        assert_eq!(shouyin_api::Clock::now(&clock), t0);
        clock.advance(Duration::minutes(5));
        assert_eq!(
            shouyin_channels::Clock::now(&clock),
            t0 + Duration::minutes(5)
        );
        clock.set(t0);
        assert_eq!(shouyin_hq::Clock::now(&clock), t0);
    }
}
