//! When a connection runs: a [`Schedule`] is manual, a five-field [`CronExpr`] or an
//! [`Interval`], and says when it fires next.
//!
//! Times are UTC. A schedule fires on whole minutes for cron, and every [`Interval`] from when
//! it was set for an interval. The scheduler (see [`crate::port::schedules`]) keeps each
//! scheduled connection's next due time; [`Schedule::first_due`] gives it when the schedule is
//! set, [`Schedule::due_after`] when the tick has made the due job.
//!
//! Cron follows Vixie cron (cronie, the `crontab(5)` page): `minute hour day-of-month month
//! day-of-week`, each `*` or a comma list of numbers, ranges `a-b` and steps (`*/15`, `0-30/10`,
//! and `5/10`, which is `5-59/10`); day-of-week 0 and 7 are Sunday. A day matches when **both**
//! day fields match if either of them starts with `*`, and when **either** matches otherwise
//! (`0 0 1 * 1` fires on the 1st and on every Monday). An expression whose days can never
//! happen (`0 0 30 2 *`) is refused when parsed, so a cron schedule always fires again.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::model::time::{Timestamp, civil_from_days, days_from_civil};

const MINUTE_MS: i64 = 60_000;
const MINUTES_PER_DAY: i64 = 1_440;

/// When a connection runs: on demand, on a cron schedule, or at a fixed interval.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum Schedule {
    /// Only when a sync is started explicitly.
    #[default]
    Manual,
    /// On a five-field cron schedule (UTC).
    Cron(CronExpr),
    /// Every so many minutes, hours or days.
    Interval(Interval),
}

impl Schedule {
    /// The stored form: `manual`, the cron expression, or the interval (`every 6 hours`).
    pub fn as_text(&self) -> &str {
        match self {
            Self::Manual => "manual",
            Self::Cron(c) => c.as_str(),
            Self::Interval(i) => i.as_str(),
        }
    }

    /// Parses the stored form: `manual`, an interval (`every 15 minutes`, see [`Interval`]) or
    /// a cron expression.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text == "manual" {
            Ok(Self::Manual)
        } else if Interval::looks_like(text) {
            text.parse().map(Self::Interval)
        } else {
            text.parse().map(Self::Cron)
        }
    }

    /// Whether it ever makes a job by itself (cron or interval).
    pub fn is_scheduled(&self) -> bool {
        !matches!(self, Self::Manual)
    }

    /// The first due time of this schedule set at `now`: the next cron fire strictly after
    /// `now`, or `now` plus the interval. `None` for a manual schedule.
    pub fn first_due(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Manual => None,
            Self::Cron(c) => c.next_after(now),
            Self::Interval(i) => Some(now.plus(i.duration())),
        }
    }

    /// The due time after the one at `due`, seen at `now`: the first fire strictly after
    /// `now`, so fires missed while nothing ticked collapse into the one just made. For an
    /// interval it stays on the grid of `due` (`due + k·interval`, the first past `now`).
    pub fn due_after(&self, due: Timestamp, now: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Manual => None,
            Self::Cron(c) => c.next_after(now.max(due)),
            Self::Interval(i) => {
                let step = i.millis();
                let behind = now.unix_millis().saturating_sub(due.unix_millis()).max(0);
                let steps = behind / step + 1;
                Some(Timestamp::from_unix_millis(
                    due.unix_millis().saturating_add(steps.saturating_mul(step)),
                ))
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manual => f.write_str("manual"),
            Self::Cron(c) => write!(f, "cron `{c}`"),
            Self::Interval(i) => f.write_str(i.as_str()),
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_text())
    }
}

/// The unit of an [`Interval`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum IntervalUnit {
    /// 60 seconds.
    Minutes,
    /// 60 minutes.
    Hours,
    /// 24 hours (UTC days have no daylight-saving change).
    Days,
}

impl IntervalUnit {
    fn minutes(self) -> u64 {
        match self {
            Self::Minutes => 1,
            Self::Hours => 60,
            Self::Days => 1_440,
        }
    }

    fn name(self, plural: bool) -> &'static str {
        match (self, plural) {
            (Self::Minutes, false) => "minute",
            (Self::Minutes, true) => "minutes",
            (Self::Hours, false) => "hour",
            (Self::Hours, true) => "hours",
            (Self::Days, false) => "day",
            (Self::Days, true) => "days",
        }
    }
}

/// A fixed interval: `every N minutes`, `every N hours` or `every N days` (singular or plural,
/// any case), from one minute to 365 days. Its text is written lower case, `every 1 hour`,
/// `every 6 hours`; it fires first one interval after it is set, then every interval.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Interval {
    count: u32,
    unit: IntervalUnit,
    text: String,
}

impl Interval {
    /// The longest interval, in minutes (365 days).
    pub const MAX_MINUTES: u64 = 365 * 1_440;

    /// Every `count` `unit`s; refused, naming `schedule`, when outside one minute to 365 days.
    pub fn new(count: u32, unit: IntervalUnit) -> Result<Self, Error> {
        let minutes = u64::from(count).saturating_mul(unit.minutes());
        if count == 0 || minutes > Self::MAX_MINUTES {
            return Err(Error::invalid_input(
                "schedule",
                format!(
                    "an interval of {count} {} is outside 1 minute to 365 days",
                    unit.name(count != 1)
                ),
            ));
        }
        Ok(Self {
            count,
            unit,
            text: format!("every {count} {}", unit.name(count != 1)),
        })
    }

    /// How many units.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The unit.
    pub fn unit(&self) -> IntervalUnit {
        self.unit
    }

    /// Its text, `every 6 hours`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its length.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.count) * self.unit.minutes() * 60)
    }

    fn millis(&self) -> i64 {
        // At most 365 days: far inside i64.
        i64::from(self.count)
            .saturating_mul(i64::try_from(self.unit.minutes()).unwrap_or(i64::MAX))
            .saturating_mul(MINUTE_MS)
    }

    /// Whether `text` is written as an interval (starts with the word `every`).
    fn looks_like(text: &str) -> bool {
        text.split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("every"))
    }
}

impl FromStr for Interval {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid_input(
                "schedule",
                format!(
                    "`{s}` is not an interval; write `every N minutes`, `every N hours` or `every N days`"
                ),
            )
        };
        let words: Vec<&str> = s.split_whitespace().collect();
        let [every, count, unit] = words.as_slice() else {
            return Err(bad());
        };
        if !every.eq_ignore_ascii_case("every") {
            return Err(bad());
        }
        let count: u32 = count.parse().map_err(|_| bad())?;
        let unit = match unit.to_ascii_lowercase().as_str() {
            "minute" | "minutes" => IntervalUnit::Minutes,
            "hour" | "hours" => IntervalUnit::Hours,
            "day" | "days" => IntervalUnit::Days,
            _ => return Err(bad()),
        };
        Self::new(count, unit)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A five-field cron expression (`minute hour day-of-month month day-of-week`), UTC.
///
/// Each field is `*` or a comma-separated list of numbers and ranges (`1-5`), each optionally
/// followed by a step (`*/15`, `0-30/10`, `5/10`); numbers must lie in the field's range
/// (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7 with 0 and 7 Sunday). Month
/// and day names are not accepted. See the module docs for how the two day fields combine.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CronExpr {
    text: String,
    set: CronSet,
}

/// The minutes, hours, days, months and weekdays an expression names, as bit sets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct CronSet {
    minutes: u64,
    hours: u32,
    /// Bits 1 to 31.
    days: u32,
    /// Bits 1 to 12.
    months: u16,
    /// Bits 0 (Sunday) to 6.
    weekdays: u8,
    /// The day-of-month field starts with `*`.
    days_star: bool,
    /// The day-of-week field starts with `*`.
    weekdays_star: bool,
}

fn has(bits: u64, n: i64) -> bool {
    u32::try_from(n)
        .ok()
        .and_then(|n| bits.checked_shr(n))
        .is_some_and(|b| b & 1 == 1)
}

impl CronSet {
    fn day_matches(&self, days: i64, day: i64) -> bool {
        let weekday = (days + 4).rem_euclid(7);
        let dom = has(u64::from(self.days), day);
        let dow = has(u64::from(self.weekdays), weekday);
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }
}

impl CronExpr {
    /// The expression as text, fields separated by single spaces.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first minute strictly after `t` this expression names, UTC; `None` only past
    /// the year 9999 (a parsed expression always has days that happen: the leap day within
    /// eight years, a date on a given weekday within a few decades).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let s = &self.set;
        let mut minute = t.unix_millis().div_euclid(MINUTE_MS) + 1;
        loop {
            let days = minute.div_euclid(MINUTES_PER_DAY);
            let of_day = minute.rem_euclid(MINUTES_PER_DAY);
            let (year, month, day) = civil_from_days(days);
            if year > 9999 {
                return None;
            }
            if !has(u64::from(s.months), month) {
                let (y, m) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                minute = days_from_civil(y, m, 1) * MINUTES_PER_DAY;
                continue;
            }
            if !s.day_matches(days, day) {
                minute = (days + 1) * MINUTES_PER_DAY;
                continue;
            }
            let hour = of_day / 60;
            if !has(u64::from(s.hours), hour) {
                minute = days * MINUTES_PER_DAY + (hour + 1) * 60;
                continue;
            }
            if !has(s.minutes, of_day % 60) {
                minute += 1;
                continue;
            }
            return Some(Timestamp::from_unix_millis(minute * MINUTE_MS));
        }
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The longest month of each month number (February with its leap day).
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl FromStr for CronExpr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        const FIELDS: [(&str, u32, u32); 5] = [
            ("minute", 0, 59),
            ("hour", 0, 23),
            ("day of month", 1, 31),
            ("month", 1, 12),
            ("day of week", 0, 7),
        ];
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.len() != FIELDS.len() {
            return Err(Error::invalid_input(
                "schedule",
                format!(
                    "`{s}` has {} fields; a cron expression has 5 (minute hour day-of-month month day-of-week), or use `manual` or `every N hours`",
                    parts.len()
                ),
            ));
        }
        let mut bits = [0u64; 5];
        for ((part, (name, lo, hi)), out) in parts.iter().zip(FIELDS).zip(bits.iter_mut()) {
            *out = cron_field(part, lo, hi).map_err(|why| {
                Error::invalid_input("schedule", format!("{name} field `{part}` {why}"))
            })?;
        }
        let [minutes, hours, days, months, weekdays] = bits;
        // Day of week 7 is Sunday, like 0.
        let weekdays = (weekdays & 0x7f) | ((weekdays >> 7) & 1);
        let starts_star = |i: usize| parts.get(i).is_some_and(|p| p.starts_with('*'));
        let set = CronSet {
            minutes,
            hours: u32::try_from(hours).unwrap_or(0),
            days: u32::try_from(days).unwrap_or(0),
            months: u16::try_from(months).unwrap_or(0),
            weekdays: u8::try_from(weekdays).unwrap_or(0),
            days_star: starts_star(2),
            weekdays_star: starts_star(4),
        };
        // With the day of week `*`, a day must match the day of month: refuse a day that no
        // named month has (30 February), which would never fire.
        if set.weekdays_star {
            let possible = (1..=12u32).any(|m| {
                has(u64::from(set.months), i64::from(m))
                    && (1..=MONTH_DAYS.get((m - 1) as usize).copied().unwrap_or(31))
                        .any(|d| has(u64::from(set.days), i64::from(d)))
            });
            if !possible {
                return Err(Error::invalid_input(
                    "schedule",
                    format!("`{s}` never fires: no month it names has the days it names"),
                ));
            }
        }
        Ok(Self {
            text: parts.join(" "),
            set,
        })
    }
}

/// The values one cron field names, as bits `lo..=hi`.
fn cron_field(field: &str, lo: u32, hi: u32) -> Result<u64, String> {
    let number = |t: &str| -> Result<u32, String> {
        let n: u32 = t
            .parse()
            .map_err(|_| format!("has `{t}`, which is not a number"))?;
        if n < lo || n > hi {
            return Err(format!("has {n}, outside {lo}-{hi}"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let step = match step {
            None => 1,
            Some(step) => match step.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(format!("has step `{step}`; a step is a number from 1")),
            },
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else {
            match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (number(a)?, number(b)?);
                    if a > b {
                        return Err(format!("has range `{range}`, which runs backwards"));
                    }
                    (a, b)
                }
                // `5/10` runs from 5 to the end of the field, as in Vixie cron.
                None if step > 1 => (number(range)?, hi),
                None => {
                    let n = number(range)?;
                    (n, n)
                }
            }
        };
        let mut n = from;
        while n <= to {
            bits |= 1u64 << n;
            n = n.saturating_add(step);
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next(expr: &str, after: &str) -> String {
        let cron: CronExpr = expr.parse().unwrap();
        cron.next_after(at(after)).unwrap().to_string()
    }

    #[test]
    fn cron_accepts_common_expressions() {
        for ok in [
            "0 * * * *",
            "*/15 0-23 1,15 * 1-5",
            "30 2 * 1-12/2 0",
            "5/10 * * * 7",
        ] {
            assert!(ok.parse::<CronExpr>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn cron_refuses_out_of_range_malformed_and_impossible_fields() {
        for bad in [
            "60 * * * *",
            "* * * *",
            "* 24 * * *",
            "* * 0 * *",
            "5-1 * * * *",
            "*/0 * * * *",
            "a * * * *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
        ] {
            let err = bad.parse::<CronExpr>().unwrap_err();
            assert!(err.to_string().contains("schedule"), "{bad}: {err}");
        }
        // A day of week makes a 30 February possible: either field matches.
        assert!("0 0 30 2 1".parse::<CronExpr>().is_ok());
    }

    #[test]
    fn cron_next_fire_crosses_hours_days_months_and_years() {
        assert_eq!(
            next("0 * * * *", "2026-01-01T10:00:00Z"),
            "2026-01-01T11:00:00.000Z"
        );
        assert_eq!(
            next("0 * * * *", "2026-01-01T10:59:59.999Z"),
            "2026-01-01T11:00:00.000Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-01-01T23:50:00Z"),
            "2026-01-02T00:00:00.000Z"
        );
        assert_eq!(
            next("30 2 * * *", "2026-12-31T03:00:00Z"),
            "2027-01-01T02:30:00.000Z"
        );
        assert_eq!(
            next("0 0 1 1 *", "2026-01-01T00:00:00Z"),
            "2027-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn cron_month_ends_skip_short_months() {
        // The 31st: January, then March (not February, not the 1st of March).
        assert_eq!(
            next("0 12 31 * *", "2026-01-31T12:00:00Z"),
            "2026-03-31T12:00:00.000Z"
        );
        assert_eq!(
            next("0 12 31 * *", "2026-04-01T00:00:00Z"),
            "2026-05-31T12:00:00.000Z"
        );
        assert_eq!(
            next("0 0 30 * *", "2026-01-30T00:00:00Z"),
            "2026-03-30T00:00:00.000Z"
        );
    }

    #[test]
    fn cron_leap_days() {
        assert_eq!(
            next("0 0 29 2 *", "2025-03-01T00:00:00Z"),
            "2028-02-29T00:00:00.000Z"
        );
        // 2100 is not a leap year: 2096, then 2104.
        assert_eq!(
            next("0 0 29 2 *", "2096-02-29T00:00:00Z"),
            "2104-02-29T00:00:00.000Z"
        );
        // 2000 is.
        assert_eq!(
            next("0 0 29 2 *", "1999-01-01T00:00:00Z"),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            next("59 23 * 2 *", "2024-02-28T23:59:00Z"),
            "2024-02-29T23:59:00.000Z"
        );
    }

    #[test]
    fn cron_day_of_month_and_day_of_week_combine_as_cron_defines() {
        // Both restricted: either matches. 2026-03-01 is a Sunday; Monday the 2nd matches
        // by weekday, the 13th (a Friday) by day of month.
        assert_eq!(
            next("0 0 13 * 1", "2026-03-01T00:00:00Z"),
            "2026-03-02T00:00:00.000Z"
        );
        assert_eq!(
            next("0 0 13 * 1", "2026-03-09T00:00:00Z"),
            "2026-03-13T00:00:00.000Z"
        );
        // Day of month `*`: the weekday decides. 0 and 7 are both Sunday.
        for sunday in ["0 0 * * 0", "0 0 * * 7"] {
            assert_eq!(
                next(sunday, "2026-03-02T00:00:00Z"),
                "2026-03-08T00:00:00.000Z"
            );
        }
        // A field starting with `*` counts as unrestricted (`*/2`): both must match, so
        // Mondays on odd days only. 2026-03-02 is an even Monday, 2026-03-09 odd.
        assert_eq!(
            next("0 0 */2 * 1", "2026-03-01T00:00:00Z"),
            "2026-03-09T00:00:00.000Z"
        );
        // Weekdays at 9:00; a Friday evening goes to Monday.
        assert_eq!(
            next("0 9 * * 1-5", "2026-03-06T18:00:00Z"),
            "2026-03-09T09:00:00.000Z"
        );
    }

    #[test]
    fn intervals_parse_write_and_bound() {
        let i: Interval = "Every 6 Hours".parse().unwrap();
        assert_eq!(i.as_str(), "every 6 hours");
        assert_eq!(i.duration(), Duration::from_secs(6 * 3600));
        assert_eq!(
            "every 1 minutes".parse::<Interval>().unwrap().as_str(),
            "every 1 minute"
        );
        assert_eq!(
            Schedule::parse("every 365 days").unwrap().as_text(),
            "every 365 days"
        );
        for bad in [
            "every 0 minutes",
            "every 366 days",
            "every 9000 hours",
            "every hour",
            "every 5 weeks",
            "every -1 hours",
            "every 5 hours please",
        ] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.to_string().contains("schedule"), "{bad}: {err}");
        }
    }

    #[test]
    fn stored_forms_round_trip() {
        for text in ["manual", "0 * * * *", "every 15 minutes", "every 1 day"] {
            assert_eq!(Schedule::parse(text).unwrap().as_text(), text);
        }
    }

    #[test]
    fn interval_due_times_stay_on_their_grid_and_collapse_missed_fires() {
        let every = Schedule::parse("every 10 minutes").unwrap();
        let set = at("2026-01-01T00:00:00Z");
        let due = every.first_due(set).unwrap();
        assert_eq!(due.to_string(), "2026-01-01T00:10:00.000Z");
        // Ticked on time: the next is one interval later.
        assert_eq!(
            every.due_after(due, due).unwrap().to_string(),
            "2026-01-01T00:20:00.000Z"
        );
        // Ticked 35 minutes late: one job, and the next due time is the first on the grid
        // past now.
        assert_eq!(
            every
                .due_after(due, at("2026-01-01T00:45:00Z"))
                .unwrap()
                .to_string(),
            "2026-01-01T00:50:00.000Z"
        );
        assert_eq!(Schedule::Manual.first_due(set), None);
        let cron = Schedule::parse("0 * * * *").unwrap();
        assert_eq!(
            cron.due_after(at("2026-01-01T01:00:00Z"), at("2026-01-01T05:30:00Z"))
                .unwrap()
                .to_string(),
            "2026-01-01T06:00:00.000Z"
        );
    }

    // --- The brute-force reference: a minute-by-minute scan with its own field expansion
    // and weekday (Zeller's congruence), sharing nothing with the bit sets above.

    fn expand(field: &str, lo: u32, hi: u32) -> Vec<u32> {
        let mut out = Vec::new();
        for item in field.split(',') {
            let (range, step) = item
                .split_once('/')
                .map_or((item, 1), |(r, s)| (r, s.parse().unwrap()));
            let (a, b) = if range == "*" {
                (lo, hi)
            } else if let Some((a, b)) = range.split_once('-') {
                (a.parse().unwrap(), b.parse().unwrap())
            } else if step > 1 {
                (range.parse().unwrap(), hi)
            } else {
                let n = range.parse().unwrap();
                (n, n)
            };
            out.extend((a..=b).step_by(step as usize));
        }
        out
    }

    fn zeller_weekday(y: i64, m: i64, d: i64) -> i64 {
        let (y, m) = if m < 3 { (y - 1, m + 12) } else { (y, m) };
        let h = (d + (13 * (m + 1)) / 5 + y % 100 + (y % 100) / 4 + (y / 100) / 4 + 5 * (y / 100))
            .rem_euclid(7);
        // Zeller: 0 = Saturday. Cron: 0 = Sunday.
        (h + 6) % 7
    }

    /// A matcher of minutes (since the epoch) for `expr`, its fields expanded once.
    fn brute_matcher(expr: &str) -> impl Fn(i64) -> bool {
        let f: Vec<&str> = expr.split(' ').collect();
        let minutes = expand(f[0], 0, 59);
        let hours = expand(f[1], 0, 23);
        let doms = expand(f[2], 1, 31);
        let months = expand(f[3], 1, 12);
        let dows: Vec<i64> = expand(f[4], 0, 7)
            .iter()
            .map(|&x| i64::from(x) % 7)
            .collect();
        let either = !(f[2].starts_with('*') || f[4].starts_with('*'));
        move |minute: i64| {
            let days = minute.div_euclid(1440);
            let (y, mo, d) = civil_from_days(days);
            let hh = minute.rem_euclid(1440) / 60;
            let mm = minute.rem_euclid(60);
            let inn = |v: &[u32], n: i64| v.iter().any(|&x| i64::from(x) == n);
            let dom = inn(&doms, d);
            let dow = dows.contains(&zeller_weekday(y, mo, d));
            let day = if either { dom || dow } else { dom && dow };
            inn(&minutes, mm) && inn(&hours, hh) && inn(&months, mo) && day
        }
    }

    fn field(lo: u32, hi: u32) -> impl Strategy<Value = String> {
        let item = prop_oneof![
            Just("*".to_owned()),
            (1..=(hi - lo + 1).min(12)).prop_map(|s| format!("*/{s}")),
            (lo..=hi).prop_map(|n| n.to_string()),
            (lo..=hi, lo..=hi, 1u32..4).prop_map(|(a, b, s)| {
                let (a, b) = (a.min(b), a.max(b));
                if s == 1 {
                    format!("{a}-{b}")
                } else {
                    format!("{a}-{b}/{s}")
                }
            }),
        ];
        prop::collection::vec(item, 1..3).prop_map(|v| v.join(","))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("BULKHEAD_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
        ))]

        /// The next fire time is the first minute after the start the brute-force scan finds
        /// (scanning at most 400 days; an expression that fires later is checked to have no
        /// match in those 400 days).
        #[test]
        fn next_fire_is_the_first_match_of_a_minute_by_minute_scan(
            minute in field(0, 59),
            hour in field(0, 23),
            dom in field(1, 31),
            month in field(1, 12),
            dow in field(0, 7),
            start_min in 0i64..(200 * 365 * 1440),
            offset_ms in 0i64..60_000,
        ) {
            let text = format!("{minute} {hour} {dom} {month} {dow}");
            let Ok(cron) = text.parse::<CronExpr>() else {
                return Ok(());
            };
            // 1950 to 2150.
            let start_min = start_min - 20 * 365 * 1440;
            let start = Timestamp::from_unix_millis(start_min * 60_000 + offset_ms);
            let got = cron.next_after(start).unwrap();
            let got_min = got.unix_millis() / 60_000;
            prop_assert_eq!(got.unix_millis() % 60_000, 0);
            prop_assert!(got_min > start_min);
            let matches = brute_matcher(&text);
            let limit = start_min + 400 * 1440;
            let mut m = start_min + 1;
            while m < got_min.min(limit) {
                prop_assert!(!matches(m), "{} matches {} before {}", text, m, got);
                m += 1;
            }
            if got_min < limit {
                prop_assert!(matches(got_min), "{} does not match {}", text, got);
            }
        }

        /// An interval's due times stay on the grid of the first one and are the first past
        /// now.
        #[test]
        fn interval_due_is_the_first_grid_point_past_now(
            count in 1u32..500,
            unit in prop_oneof![Just(IntervalUnit::Minutes), Just(IntervalUnit::Hours)],
            due in 0i64..4_000_000_000_000,
            late in 0i64..100_000_000_000,
        ) {
            let Ok(interval) = Interval::new(count, unit) else { return Ok(()); };
            let step = i64::try_from(interval.duration().as_millis()).unwrap();
            let schedule = Schedule::Interval(interval);
            let due_t = Timestamp::from_unix_millis(due);
            let now = Timestamp::from_unix_millis(due + late);
            let next = schedule.due_after(due_t, now).unwrap().unix_millis();
            prop_assert!(next > due + late);
            prop_assert_eq!((next - due) % step, 0);
            prop_assert!(next - step <= due + late);
        }
    }
}
