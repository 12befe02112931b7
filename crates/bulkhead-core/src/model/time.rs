//! Time: a [`Timestamp`] type and the [`Clock`] the engine reads it from.
//!
//! The engine never calls the system clock directly; it asks its [`Clock`], so tests can use a
//! [`ManualClock`] and get the same result every run.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// Displayed and serialized as RFC 3339 (`2026-11-29T05:03:22.000Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// This timestamp moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Howard Hinnant's `days_from_civil`: (year, month, day) to days since 1970-01-01.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl std::str::FromStr for Timestamp {
    type Err = crate::error::Error;

    /// Parses the form [`Timestamp`] displays: RFC 3339 in UTC, `2026-11-29T05:03:22Z` with
    /// optional milliseconds (`.123`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            crate::error::Error::invalid_input(
                "time",
                format!("`{s}` is not a UTC time like 2026-11-29T05:03:22Z"),
            )
        };
        let text = s.strip_suffix('Z').ok_or_else(bad)?;
        let (date, time) = text.split_once('T').ok_or_else(bad)?;
        let (clock, millis) = match time.split_once('.') {
            Some((clock, frac)) if frac.len() == 3 => (clock, frac),
            Some(_) => return Err(bad()),
            None => (time, "000"),
        };
        let number = |part: &str, len: usize| -> Result<i64, crate::error::Error> {
            if part.len() != len || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let date: Vec<&str> = date.split('-').collect();
        let clock: Vec<&str> = clock.split(':').collect();
        let ([y, mo, d], [h, mi, se]) = (date.as_slice(), clock.as_slice()) else {
            return Err(bad());
        };
        let (year, month, day) = (number(y, 4)?, number(mo, 2)?, number(d, 2)?);
        let (hour, minute, second) = (number(h, 2)?, number(mi, 2)?, number(se, 2)?);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(bad());
        }
        let days = days_from_civil(year, month, day);
        if civil_from_days(days) != (year, month, day) {
            return Err(bad());
        }
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Self(secs * 1000 + number(millis, 3)?))
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Where the engine reads the current time from.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(millis)
    }
}

/// A clock that moves only when told to; for tests.
///
/// ```
/// use bulkhead_core::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
/// let clock = ManualClock::new(Timestamp::from_unix_millis(0));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now().unix_millis(), 60_000);
/// ```
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.0))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `t`.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_unix_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        // 2026-11-29T05:03:22.123Z
        assert_eq!(
            Timestamp::from_unix_millis(1_795_928_602_123).to_string(),
            "2026-11-29T05:03:22.123Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_millis(5));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(5));
        clock.advance(Duration::from_millis(10));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(15));
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn displayed_times_parse_back() {
        for ms in [0, 1, 1_795_000_000_123, -86_400_000, 951_782_400_000] {
            let t = Timestamp::from_unix_millis(ms);
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t, "{t}");
        }
        assert_eq!(
            "2026-11-29T05:03:22Z"
                .parse::<Timestamp>()
                .unwrap()
                .to_string(),
            "2026-11-29T05:03:22.000Z"
        );
    }

    #[test]
    fn malformed_times_name_the_field() {
        for bad in [
            "",
            "2026-11-29",
            "2026-02-30T00:00:00Z",
            "2026-11-29T25:00:00Z",
            "2026-11-29T05:03:22+01:00",
            "2026-11-29T05:03:22.1Z",
        ] {
            let err = bad.parse::<Timestamp>().unwrap_err();
            assert!(err.to_string().starts_with("invalid time"), "{bad}: {err}");
        }
    }
}
