//! When an action may inject: weekly time windows and a delayed start.
//!
//! - A [`Window`] is one or more wall-clock ranges (`09:00-17:00`, repeatable) on some days
//!   of the week (`mon-fri`, default every day) in an IANA time zone (`Europe/Berlin`,
//!   default `UTC`). Times are wall-clock times in that zone, so a window follows the
//!   zone's daylight-saving changes (the tz database is bundled, so every host agrees). A
//!   range whose end is not after its start spans midnight (`22:00-02:00`) and belongs to
//!   the day it starts on; `24:00` is the end of the day. A wall-clock time that does not
//!   exist (skipped by a spring-forward change) moves forward by the gap (02:30 becomes
//!   03:30 in Berlin); one that exists twice (fall-back) is the earlier — the
//!   "compatible" rule of `jiff`, Temporal and `java.time`.
//! - A start time (`--start-at`, Unix milliseconds when stored) keeps an action inert
//!   until then: a game day booked in advance.
//!
//! Outside its window an action is inert exactly as a disabled one. The layer checks a
//! window per request as one comparison against the precomputed next transition
//! ([`WindowClock`]); the transition is recomputed only when it has passed.
//!
//! The stored and printed form of a window is `RANGES DAYS ZONE`, for example
//! `09:00-12:00,13:00-17:00 mon-fri Europe/Berlin` ([`Window`]'s `Display` and `FromStr`).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use crate::action::{InvalidAction, Naming};

/// Minutes in a day: `24:00`.
const DAY_MINUTES: u16 = 24 * 60;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One wall-clock range: minutes after midnight, `start` in `0..1440`, `end` in `1..=1440`
/// (`end <= start`: the range spans midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u16,
    end: u16,
}

/// Weekly time windows in a time zone; see the [module docs](self).
#[derive(Clone)]
pub struct Window {
    ranges: Vec<Range>,
    /// Bit `n`: the day `n` days after Monday.
    days: u8,
    zone: String,
    tz: TimeZone,
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Window({self})")
    }
}

impl PartialEq for Window {
    fn eq(&self, other: &Self) -> bool {
        self.ranges == other.ranges && self.days == other.days && self.zone == other.zone
    }
}

/// Whether a window (or schedule) is active at an instant, and until when that holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Active at the instant asked about.
    pub active: bool,
    /// The next instant (Unix ms) at which `active` changes; `i64::MAX` when never.
    pub until_ms: i64,
}

impl Window {
    /// Builds a window from the options as typed: `between` (`HH:MM-HH:MM`, repeatable;
    /// empty: the whole day), `days` (`mon-fri`, `sat,sun`, `mon,wed-fri`; default every
    /// day) and `tz` (an IANA name; default `UTC`). `naming` names the options in errors.
    ///
    /// Errors: a malformed or empty range, an unknown day or zone; each names the value
    /// and the allowed forms.
    pub fn parse(
        naming: Naming,
        between: &[String],
        days: Option<&str>,
        tz: Option<&str>,
    ) -> Result<Self, InvalidAction> {
        let option = naming.name("between");
        let mut ranges = Vec::with_capacity(between.len().max(1));
        // `--between 10:00-12:00,14:00-16:00` is two ranges, as repeating the option.
        for text in between.iter().flat_map(|t| t.split(',')) {
            let range = parse_range(text.trim()).ok_or_else(|| {
                InvalidAction::new(format!(
                    "invalid {option} '{text}': allowed is HH:MM-HH:MM in 24-hour time, such as 09:00-17:00 or 22:00-02:00 (across midnight); 24:00 ends the day"
                ))
            })?;
            if range.start == range.end % DAY_MINUTES && range.end != DAY_MINUTES {
                return Err(InvalidAction::new(format!(
                    "{option} '{text}' starts and ends at the same time: allowed is a range such as 09:00-17:00 (00:00-24:00 for the whole day)"
                )));
            }
            if !ranges.contains(&range) {
                ranges.push(range);
            }
        }
        if ranges.is_empty() {
            ranges.push(Range {
                start: 0,
                end: DAY_MINUTES,
            });
        }
        ranges.sort_by_key(|r| (r.start, r.end));
        let days = match days.map(str::trim) {
            None => 0x7f,
            Some(text) => parse_days(text).ok_or_else(|| {
                InvalidAction::new(format!(
                    "invalid {} '{text}': allowed are the days mon, tue, wed, thu, fri, sat, sun, ranges such as mon-fri and lists such as sat,sun or mon,wed-fri",
                    naming.name("days")
                ))
            })?,
        };
        let zone = tz.map(str::trim).unwrap_or("UTC");
        let tz = TimeZone::get(zone).map_err(|_| {
            InvalidAction::new(format!(
                "unknown {} '{zone}': allowed are IANA time zone names such as Europe/Berlin, America/New_York or UTC",
                naming.name("tz")
            ))
        })?;
        Ok(Self {
            ranges,
            days,
            zone: tz.iana_name().unwrap_or(zone).to_owned(),
            tz,
        })
    }

    /// The time zone's IANA name.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Whether the window is open at `at_ms` (Unix ms), and the next instant that changes.
    pub fn phase_at(&self, at_ms: i64) -> Activity {
        let Ok(now) = jiff::Timestamp::from_millisecond(at_ms) else {
            return Activity {
                active: false,
                until_ms: i64::MAX,
            };
        };
        let today = now.to_zoned(self.tz.clone()).date();
        // The intervals of the day before (a range across midnight reaches into today)
        // through a week ahead (the next day in `days`), merged where they touch.
        let mut intervals: Vec<(i64, i64)> = Vec::new();
        let mut day = today.yesterday().unwrap_or(today);
        for _ in 0..9 {
            if self.days & day_bit(day.weekday()) != 0 {
                for range in &self.ranges {
                    let start = self.instant(day, range.start);
                    let end = if range.end <= range.start {
                        day.tomorrow()
                            .ok()
                            .and_then(|next| self.instant(next, range.end))
                    } else {
                        self.instant(day, range.end)
                    };
                    if let (Some(start), Some(end)) = (start, end)
                        && start < end
                    {
                        intervals.push((start, end));
                    }
                }
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        intervals.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(intervals.len());
        for (start, end) in intervals {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        if let Some(&(_, end)) = merged.iter().find(|(s, e)| *s <= at_ms && at_ms < *e) {
            return Activity {
                active: true,
                until_ms: end,
            };
        }
        let next = merged.iter().map(|(s, _)| *s).find(|s| *s > at_ms);
        Activity {
            active: false,
            until_ms: next.unwrap_or(i64::MAX),
        }
    }

    /// `minute` minutes after midnight on `day` in the window's zone, as Unix ms (a time
    /// in a gap moves forward by the gap, a repeated one is the earlier: jiff's
    /// compatible rule).
    fn instant(&self, day: Date, minute: u16) -> Option<i64> {
        let (day, minute) = if minute >= DAY_MINUTES {
            (day.tomorrow().ok()?, minute - DAY_MINUTES)
        } else {
            (day, minute)
        };
        let hour = i8::try_from(minute / 60).ok()?;
        let minute = i8::try_from(minute % 60).ok()?;
        let zoned = day.at(hour, minute, 0, 0).to_zoned(self.tz.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }

    /// `at_ms` as a wall-clock time in the window's zone, named: `17:00 Europe/Berlin`, or
    /// `Tue 02:00 UTC` when it is not on the same day as `now_ms`, or a date when it is a
    /// week or more away.
    pub fn local_time(&self, at_ms: i64, now_ms: i64) -> String {
        let (Ok(at), Ok(now)) = (
            jiff::Timestamp::from_millisecond(at_ms),
            jiff::Timestamp::from_millisecond(now_ms),
        ) else {
            return crate::time::format_time(at_ms);
        };
        let at = at.to_zoned(self.tz.clone());
        let now = now.to_zoned(self.tz.clone());
        let time = format!("{:02}:{:02} {}", at.hour(), at.minute(), self.zone);
        let days_apart = (at.date() - now.date()).get_days();
        if days_apart == 0 {
            time
        } else if (1..7).contains(&days_apart) {
            let name = DAY_NAMES[usize::from(at.weekday().to_monday_zero_offset().unsigned_abs())];
            let mut name = name.to_owned();
            name[..1].make_ascii_uppercase();
            format!("{name} {time}")
        } else {
            format!("{} {time}", at.date())
        }
    }
}

fn day_bit(weekday: Weekday) -> u8 {
    1 << weekday.to_monday_zero_offset()
}

/// `HH:MM-HH:MM`; the end may be `24:00`.
fn parse_range(text: &str) -> Option<Range> {
    let (start, end) = text.split_once('-')?;
    let start = parse_clock(start.trim())?;
    let end = parse_clock(end.trim())?;
    if start >= DAY_MINUTES {
        return None;
    }
    // `24:00` as an end; `00:00` as an end is midnight too (a range across midnight).
    Some(Range {
        start,
        end: if end == 0 { DAY_MINUTES } else { end },
    })
}

/// `HH:MM` (hours 0–24, `24:00` only), as minutes after midnight.
fn parse_clock(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    if !hours
        .bytes()
        .chain(minutes.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    if minutes >= 60 || hours > 24 || (hours == 24 && minutes != 0) {
        return None;
    }
    Some(hours * 60 + minutes)
}

fn parse_day(text: &str) -> Option<u8> {
    let text = text.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|name| *name == text)
        .and_then(|n| u8::try_from(n).ok())
}

/// `mon-fri`, `sat,sun`, `fri-mon` (wrapping), as a bit set; `None` when malformed.
fn parse_days(text: &str) -> Option<u8> {
    let mut bits = 0u8;
    for item in text.split(',') {
        match item.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (parse_day(from)?, parse_day(to)?);
                let mut day = from;
                loop {
                    bits |= 1 << day;
                    if day == to {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
            None => bits |= 1 << parse_day(item)?,
        }
    }
    (bits != 0).then_some(bits)
}

/// The days as the shortest list of names and ranges: `mon-fri`, `sat,sun`, `mon-sun`.
fn format_days(bits: u8) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut day = 0;
    while day < 7 {
        if bits & (1 << day) == 0 {
            day += 1;
            continue;
        }
        let start = day;
        while day + 1 < 7 && bits & (1 << (day + 1)) != 0 {
            day += 1;
        }
        parts.push(match day - start {
            0 => DAY_NAMES[start].to_owned(),
            1 => format!("{},{}", DAY_NAMES[start], DAY_NAMES[day]),
            _ => format!("{}-{}", DAY_NAMES[start], DAY_NAMES[day]),
        });
        day += 1;
    }
    parts.join(",")
}

fn format_clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<String> = self
            .ranges
            .iter()
            .map(|r| format!("{}-{}", format_clock(r.start), format_clock(r.end)))
            .collect();
        write!(
            f,
            "{} {} {}",
            ranges.join(","),
            format_days(self.days),
            self.zone
        )
    }
}

impl FromStr for Window {
    type Err = InvalidAction;

    /// The stored form `RANGES DAYS ZONE` (`09:00-17:00 mon-fri Europe/Berlin`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [ranges, days, zone] = parts[..] else {
            return Err(InvalidAction::new(format!(
                "window '{text}' is malformed: allowed is RANGES DAYS ZONE, such as '09:00-17:00 mon-fri Europe/Berlin'"
            )));
        };
        let between: Vec<String> = ranges.split(',').map(str::to_owned).collect();
        Self::parse(Naming::Fields, &between, Some(days), Some(zone))
    }
}

impl serde::Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Window {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The start and window chosen for an action, a storm or an exercise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// Inert before this instant (Unix ms).
    pub starts_at: Option<i64>,
    /// Inert outside this window.
    pub window: Option<Window>,
}

impl Timing {
    /// For people: `starts 2099-01-01T09:00:00Z; active only 09:00-17:00 mon-fri UTC`,
    /// or `None` when neither is set.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(at) = self.starts_at {
            parts.push(format!("starts {}", crate::time::format_time(at)));
        }
        if let Some(window) = &self.window {
            parts.push(format!("active only {window}"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// The schedule of an action with this timing that expires at `expires_at`.
    pub fn schedule(&self, expires_at: Option<i64>) -> Schedule<'_> {
        Schedule {
            starts_at: self.starts_at,
            expires_at,
            window: self.window.as_ref(),
        }
    }

    /// Sets them on `spec`.
    pub fn apply_to(&self, spec: &mut crate::action::ActionSpec) {
        spec.starts_at = self.starts_at;
        spec.window = self.window.clone();
    }
}

/// A start and a window from the options as typed (`start_at` an RFC 3339 time after
/// `now_ms`; `between`, `days`, `tz` as [`Window::parse`] reads them); `None` where not
/// given. `naming` names the options in errors. A blank value is refused on the command
/// line ([`Naming::Flags`]) and means "not given" in forms, except a blank range.
///
/// Errors: everything [`Window::parse`] refuses, a blank value (see above), a start that
/// is malformed or not in the future, and a `tz` without `between` or `days` (it would
/// change nothing).
pub fn from_options(
    naming: Naming,
    now_ms: i64,
    between: &[String],
    days: Option<&str>,
    tz: Option<&str>,
    start_at: Option<&str>,
) -> Result<Timing, InvalidAction> {
    // A blank range is refused everywhere (the web form drops its own blank ranges); the
    // other options follow the shared rule: refused on the command line, "not given" in
    // forms.
    if between.iter().any(|t| t.trim().is_empty()) {
        return Err(crate::action::blank_value(naming, "between"));
    }
    crate::action::refuse_blank(
        naming,
        &[("days", days), ("tz", tz), ("start_at", start_at)],
    )?;
    fn given(text: Option<&str>) -> Option<&str> {
        text.filter(|t| !t.trim().is_empty())
    }
    let (days, tz, start_at) = (given(days), given(tz), given(start_at));
    let window = if between.is_empty() && days.is_none() {
        if let Some(zone) = tz {
            return Err(InvalidAction::new(format!(
                "{} '{zone}' applies only with {} or {}: it says in which zone their times are",
                naming.name("tz"),
                naming.name("between"),
                naming.name("days")
            )));
        }
        None
    } else {
        Some(Window::parse(naming, between, days, tz)?)
    };
    let starts_at = start_at
        .map(|text| crate::time::expiry_at(now_ms, &naming.name("start_at"), text))
        .transpose()?;
    Ok(Timing { starts_at, window })
}

/// When an action may inject: after `starts_at` (Unix ms), before `expires_at`, inside
/// `window` (each `None`: no bound).
#[derive(Debug, Clone, Copy)]
pub struct Schedule<'a> {
    /// Inert before this instant.
    pub starts_at: Option<i64>,
    /// Inert from this instant on.
    pub expires_at: Option<i64>,
    /// Inert outside these windows.
    pub window: Option<&'a Window>,
}

impl Schedule<'_> {
    /// Whether the action is active at `now_ms`, and until when that holds.
    pub fn phase_at(&self, now_ms: i64) -> Activity {
        let ends = self.expires_at.unwrap_or(i64::MAX);
        if self.expires_at.is_some_and(|end| now_ms >= end) {
            return Activity {
                active: false,
                until_ms: i64::MAX,
            };
        }
        if let Some(start) = self.starts_at
            && now_ms < start
        {
            return Activity {
                active: false,
                until_ms: start,
            };
        }
        let phase = match self.window {
            Some(window) => window.phase_at(now_ms),
            None => Activity {
                active: true,
                until_ms: i64::MAX,
            },
        };
        if phase.active {
            Activity {
                active: true,
                until_ms: phase.until_ms.min(ends),
            }
        } else if phase.until_ms >= ends {
            Activity {
                active: false,
                until_ms: i64::MAX,
            }
        } else {
            phase
        }
    }

    /// For people, at `now_ms`: `-` (no start and no window), `active until 17:00`,
    /// `active in 2h 10m` (a start or window still ahead), `no window left` when no
    /// window opens before the expiry.
    pub fn describe(&self, now_ms: i64) -> String {
        if self.starts_at.is_none_or(|s| s <= now_ms) && self.window.is_none() {
            return "-".to_owned();
        }
        let phase = self.phase_at(now_ms);
        let at = |ms: i64| match self.window {
            Some(window) => window.local_time(ms, now_ms),
            None => crate::time::format_time(ms),
        };
        // A window open all day every day "ends" only at the edge of what is computed.
        const WEEK_MS: i64 = 7 * 24 * 3_600_000;
        match (phase.active, phase.until_ms) {
            (true, until) if until == i64::MAX || until - now_ms > WEEK_MS => "active".to_owned(),
            (true, until) => format!("active until {}", at(until)),
            (false, _) => match self.next_active_at(now_ms) {
                None => "no window left".to_owned(),
                Some(next) => format!(
                    "active in {}",
                    crate::action::describe::age(next.saturating_add(999), now_ms)
                ),
            },
        }
    }

    /// Refuses a schedule that is never active from `now_ms` on (its windows do not open
    /// between its start and its expiry): such an action, storm or exercise would do
    /// nothing while looking booked.
    ///
    /// Errors: naming the window, start and expiry.
    pub fn check_ever_active(&self, now_ms: i64) -> Result<(), InvalidAction> {
        if self.next_active_at(now_ms).is_some() {
            return Ok(());
        }
        let mut what = Vec::new();
        if let Some(window) = self.window {
            what.push(format!("window {window}"));
        }
        if let Some(at) = self.starts_at {
            what.push(format!("start {}", crate::time::format_time(at)));
        }
        let end = self
            .expires_at
            .map_or_else(|| "never".to_owned(), crate::time::format_time);
        Err(InvalidAction::new(format!(
            "the {} leave no time to inject before the expiry {end}: allowed is a window that opens before the expiry (or a later expiry)",
            what.join(" and ")
        )))
    }

    /// The first instant at or after `now_ms` at which the action is active (its start
    /// passed, inside its window, before its expiry); `None` when there is none.
    pub fn next_active_at(&self, now_ms: i64) -> Option<i64> {
        let mut at = now_ms;
        // Each step moves to the next transition; a start, then a window opening, is
        // found within a few steps (a week holds at most 14 transitions per range).
        for _ in 0..512 {
            let phase = self.phase_at(at);
            if phase.active {
                return Some(at);
            }
            if phase.until_ms == i64::MAX || phase.until_ms <= at {
                return None;
            }
            at = phase.until_ms;
        }
        None
    }
}

/// A schedule's phase cached for the request path: one atomic load and one comparison
/// while the next transition lies ahead; recomputed (by whichever request first sees the
/// transition pass) otherwise.
#[derive(Debug)]
pub(crate) struct WindowClock {
    starts_at: Option<i64>,
    window: Option<Window>,
    /// `until_ms << 1 | active` (0: not computed yet).
    packed: AtomicI64,
}

impl WindowClock {
    /// A clock for an action with a start or a window; `None` for one with neither.
    pub fn new(starts_at: Option<i64>, window: Option<&Window>) -> Option<Self> {
        (starts_at.is_some() || window.is_some()).then(|| Self {
            starts_at,
            window: window.cloned(),
            packed: AtomicI64::new(0),
        })
    }

    /// Whether the schedule is active at `now_ms` (expiry is checked apart).
    #[inline]
    pub fn is_active(&self, now_ms: i64) -> bool {
        let packed = self.packed.load(Ordering::Relaxed);
        if now_ms < packed >> 1 {
            return packed & 1 == 1;
        }
        self.recompute(now_ms)
    }

    #[cold]
    fn recompute(&self, now_ms: i64) -> bool {
        let phase = Schedule {
            starts_at: self.starts_at,
            expires_at: None,
            window: self.window.as_ref(),
        }
        .phase_at(now_ms);
        // Unix ms fit 62 bits until the year 146 million; `i64::MAX >> 1` means never.
        let until = phase.until_ms.min(i64::MAX >> 1);
        self.packed
            .store(until << 1 | i64::from(phase.active), Ordering::Relaxed);
        phase.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(between: &[&str], days: Option<&str>, tz: &str) -> Window {
        let between: Vec<String> = between.iter().map(|s| (*s).to_owned()).collect();
        Window::parse(Naming::Flags, &between, days, Some(tz)).expect("valid window")
    }

    fn ms(text: &str) -> i64 {
        crate::time::parse_time("t", text).expect("RFC 3339 time")
    }

    fn phase(window: &Window, at: &str) -> (bool, String) {
        let phase = window.phase_at(ms(at));
        (phase.active, crate::time::format_time(phase.until_ms))
    }

    #[test]
    fn office_hours_in_berlin_follow_daylight_saving() {
        let office = window(&["09:00-17:00"], Some("mon-fri"), "Europe/Berlin");
        assert_eq!(office.to_string(), "09:00-17:00 mon-fri Europe/Berlin");
        // Winter (CET, +01:00): 09:00 Berlin is 08:00Z.
        assert_eq!(
            phase(&office, "2026-01-14T07:59:00Z"),
            (false, "2026-01-14T08:00:00Z".into())
        );
        assert_eq!(
            phase(&office, "2026-01-14T08:00:00Z"),
            (true, "2026-01-14T16:00:00Z".into())
        );
        // Summer (CEST, +02:00): 09:00 Berlin is 07:00Z.
        assert_eq!(
            phase(&office, "2026-07-15T07:00:00Z"),
            (true, "2026-07-15T15:00:00Z".into())
        );
        // Friday evening: next is Monday morning.
        assert_eq!(
            phase(&office, "2026-07-17T15:00:00Z"),
            (false, "2026-07-20T07:00:00Z".into())
        );
        // The week of the spring change (Sunday 2026-03-29): Friday before in CET,
        // Monday after in CEST.
        assert_eq!(
            phase(&office, "2026-03-27T18:00:00Z"),
            (false, "2026-03-30T07:00:00Z".into())
        );
        // Autumn change (Sunday 2026-10-25): Monday after is CET again.
        assert_eq!(
            phase(&office, "2026-10-23T16:00:00Z"),
            (false, "2026-10-26T08:00:00Z".into())
        );
    }

    #[test]
    fn ranges_across_midnight_belong_to_the_day_they_start() {
        let night = window(&["22:00-02:00"], Some("fri"), "UTC");
        // Friday 2026-11-27 22:00 to Saturday 02:00.
        assert_eq!(
            phase(&night, "2026-11-27T21:59:59Z"),
            (false, "2026-11-27T22:00:00Z".into())
        );
        assert_eq!(
            phase(&night, "2026-11-28T01:30:00Z"),
            (true, "2026-11-28T02:00:00Z".into())
        );
        // Saturday 22:00 is not Friday: next Friday.
        assert_eq!(
            phase(&night, "2026-11-28T23:00:00Z"),
            (false, "2026-12-04T22:00:00Z".into())
        );
        // Every night: the ranges join across midnight into one run.
        let nightly = window(&["22:00-24:00", "00:00-06:00"], None, "UTC");
        assert_eq!(nightly.to_string(), "00:00-06:00,22:00-24:00 mon-sun UTC");
        assert_eq!(
            phase(&nightly, "2026-11-28T23:00:00Z"),
            (true, "2026-11-29T06:00:00Z".into())
        );
        // A whole day, every day: always on (the transition is a week or more away).
        let always = window(&[], None, "UTC");
        assert!(always.phase_at(ms("2026-11-28T12:00:00Z")).active);
    }

    #[test]
    fn gaps_and_repeated_hours_of_daylight_saving_changes() {
        // 02:00-03:00 on the spring-forward night does not exist in Berlin: no window.
        let early = window(&["02:00-03:00"], Some("sun"), "Europe/Berlin");
        assert_eq!(
            phase(&early, "2026-03-29T00:30:00Z"),
            (false, "2026-04-05T00:00:00Z".into())
        );
        // On the fall-back night the hour happens twice: the window covers both.
        assert_eq!(
            phase(&early, "2026-10-25T00:00:00Z"),
            (true, "2026-10-25T02:00:00Z".into())
        );
        assert!(early.phase_at(ms("2026-10-25T01:30:00Z")).active);
        // A range starting in the gap moves forward by the gap (02:30 -> 03:30 CEST).
        let gap = window(&["02:30-04:00"], Some("sun"), "Europe/Berlin");
        assert_eq!(
            phase(&gap, "2026-03-29T00:59:00Z"),
            (false, "2026-03-29T01:30:00Z".into())
        );
        assert_eq!(
            phase(&gap, "2026-03-29T01:30:00Z"),
            (true, "2026-03-29T02:00:00Z".into())
        );
        // New York changes on another date (2026-03-08).
        let ny = window(&["09:00-17:00"], None, "America/New_York");
        assert_eq!(
            phase(&ny, "2026-03-07T15:00:00Z"),
            (true, "2026-03-07T22:00:00Z".into())
        );
        assert_eq!(
            phase(&ny, "2026-03-09T13:00:00Z"),
            (true, "2026-03-09T21:00:00Z".into())
        );
    }

    #[test]
    fn bad_options_name_the_value_and_the_allowed_forms() {
        let between = |text: &str| vec![text.to_owned()];
        for bad in [
            "9-17",
            "09:00",
            "25:00-26:00",
            "09:60-10:00",
            "ab:cd-ef:gh",
            "24:00-01:00",
            "-",
            "",
        ] {
            let err = Window::parse(Naming::Flags, &between(bad), None, None).expect_err(bad);
            assert!(
                err.to_string().contains(&format!("--between '{bad}'")),
                "{err}"
            );
            assert!(err.to_string().contains("HH:MM-HH:MM"), "{err}");
        }
        let err =
            Window::parse(Naming::Flags, &between("09:00-09:00"), None, None).expect_err("empty");
        assert!(err.to_string().contains("same time"), "{err}");
        for bad in ["weekdays", "mon-", "", "mon,,fri", "monday"] {
            let err = Window::parse(Naming::Flags, &[], Some(bad), None).expect_err(bad);
            assert!(
                err.to_string().contains(&format!("--days '{bad}'")),
                "{err}"
            );
        }
        let err = Window::parse(Naming::Fields, &[], None, Some("Mars/Olympus")).expect_err("zone");
        assert_eq!(
            err.to_string(),
            "unknown tz 'Mars/Olympus': allowed are IANA time zone names such as Europe/Berlin, America/New_York or UTC"
        );
        assert_eq!(
            window(&[], Some("fri-mon"), "UTC").to_string(),
            "00:00-24:00 mon,fri-sun UTC"
        );
        assert_eq!(
            window(&["9:00-17:00"], Some("SAT,sun,tue"), "utc").to_string(),
            "09:00-17:00 tue,sat,sun UTC"
        );
    }

    #[test]
    fn the_stored_form_reads_back() {
        for text in [
            "09:00-17:00 mon-fri Europe/Berlin",
            "00:00-06:00,22:00-24:00 mon-sun UTC",
            "09:00-12:00,13:00-17:00 mon,wed,fri America/New_York",
        ] {
            let window: Window = text.parse().expect(text);
            assert_eq!(window.to_string(), text);
        }
        assert!("09:00-17:00 mon-fri".parse::<Window>().is_err());
        assert!("".parse::<Window>().is_err());
    }

    #[test]
    fn schedules_combine_start_window_and_expiry() {
        let office = window(&["09:00-17:00"], None, "UTC");
        let schedule = Schedule {
            starts_at: Some(ms("2026-12-01T12:00:00Z")),
            expires_at: Some(ms("2026-12-02T10:00:00Z")),
            window: Some(&office),
        };
        let at = |text: &str| {
            let phase = schedule.phase_at(ms(text));
            (phase.active, crate::time::format_time(phase.until_ms))
        };
        assert_eq!(
            at("2026-12-01T08:00:00Z"),
            (false, "2026-12-01T12:00:00Z".into())
        );
        assert_eq!(
            at("2026-12-01T12:00:00Z"),
            (true, "2026-12-01T17:00:00Z".into())
        );
        assert_eq!(
            at("2026-12-01T18:00:00Z"),
            (false, "2026-12-02T09:00:00Z".into())
        );
        assert_eq!(
            at("2026-12-02T09:30:00Z"),
            (true, "2026-12-02T10:00:00Z".into())
        );
        assert!(!schedule.phase_at(ms("2026-12-02T11:00:00Z")).active);
        assert_eq!(
            schedule.describe(ms("2026-12-01T12:30:00Z")),
            "active until 17:00 UTC"
        );
        assert_eq!(
            schedule.describe(ms("2026-12-01T09:50:00Z")),
            "active in 2h 10m"
        );
        assert_eq!(
            schedule.describe(ms("2026-12-01T20:00:00Z")),
            "active in 13h"
        );
        let mid = Schedule {
            expires_at: None,
            ..schedule
        };
        assert_eq!(mid.describe(ms("2026-12-01T23:00:00Z")), "active in 10h");
        assert_eq!(
            Schedule {
                starts_at: None,
                expires_at: None,
                window: None
            }
            .describe(0),
            "-"
        );
        // A window that never opens before the expiry leaves nothing.
        let late = Schedule {
            starts_at: None,
            expires_at: Some(ms("2026-12-01T08:00:00Z")),
            window: Some(&office),
        };
        assert_eq!(late.describe(ms("2026-12-01T07:00:00Z")), "no window left");
    }

    #[test]
    fn the_next_active_time_follows_start_window_and_expiry() {
        let noon = window(&["12:00-13:00"], None, "UTC");
        let booked = Schedule {
            starts_at: Some(ms("2026-12-01T00:00:00Z")),
            expires_at: None,
            window: Some(&noon),
        };
        // Not the start (midnight) but the first noon after it.
        assert_eq!(
            booked.next_active_at(ms("2026-11-30T08:17:00Z")),
            Some(ms("2026-12-01T12:00:00Z"))
        );
        assert_eq!(
            booked.describe(ms("2026-11-30T08:17:00Z")),
            "active in 1day 3h"
        );
        let weekend = window(&[], Some("sat,sun"), "UTC");
        let weekdays_only = Schedule {
            starts_at: Some(ms("2030-01-07T00:00:00Z")),
            expires_at: Some(ms("2030-01-11T00:00:00Z")),
            window: Some(&weekend),
        };
        assert_eq!(
            weekdays_only.next_active_at(ms("2029-12-01T00:00:00Z")),
            None
        );
        assert_eq!(
            weekdays_only.describe(ms("2029-12-01T00:00:00Z")),
            "no window left"
        );
        let err = weekdays_only
            .check_ever_active(ms("2029-12-01T00:00:00Z"))
            .expect_err("never active");
        assert!(
            err.to_string().contains("window 00:00-24:00 sat,sun UTC"),
            "{err}"
        );
        assert!(err.to_string().contains("2030-01-11T00:00:00Z"), "{err}");
        // Open all day every day: just "active".
        let always = window(&["00:00-24:00"], None, "Europe/Berlin");
        let open = Schedule {
            starts_at: None,
            expires_at: None,
            window: Some(&always),
        };
        assert_eq!(open.describe(ms("2026-12-01T12:00:00Z")), "active");
    }

    #[test]
    fn blank_values_are_refused_on_the_command_line_only() {
        for (between, days, tz, start, field) in [
            (vec![String::new()], None, None, None, "--between"),
            (vec![], Some(" "), None, None, "--days"),
            (vec![], Some("mon"), Some(""), None, "--tz"),
            (vec![], None, None, Some(""), "--start-at"),
        ] {
            let err = from_options(Naming::Flags, 0, &between, days, tz, start).expect_err(field);
            assert!(
                err.to_string().starts_with(&format!("empty {field} value")),
                "{err}"
            );
        }
        // Forms send every field: blanks are "not given" there (a blank range is not).
        assert_eq!(
            from_options(Naming::Fields, 0, &[], Some(""), Some(""), Some("")),
            Ok(Timing::default())
        );
        assert!(from_options(Naming::Fields, 0, &[String::new()], None, None, None).is_err());
        // A comma-separated value is several ranges, as the option repeated.
        let two = from_options(
            Naming::Flags,
            0,
            &["10:00-12:00,22:00-02:00".to_owned()],
            None,
            None,
            None,
        )
        .expect("two ranges");
        assert_eq!(
            two.window.map(|w| w.to_string()).as_deref(),
            Some("10:00-12:00,22:00-02:00 mon-sun UTC")
        );
    }

    #[test]
    fn the_clock_caches_until_the_next_transition() {
        let office = window(&["09:00-17:00"], None, "UTC");
        let clock = WindowClock::new(None, Some(&office)).expect("a window");
        assert!(!clock.is_active(ms("2026-12-01T08:59:59Z")));
        assert!(clock.is_active(ms("2026-12-01T09:00:00Z")));
        assert!(clock.is_active(ms("2026-12-01T16:59:59Z")));
        assert!(!clock.is_active(ms("2026-12-01T17:00:00Z")));
        let start = WindowClock::new(Some(1_000), None).expect("a start");
        assert!(!start.is_active(999));
        assert!(start.is_active(1_000));
        assert!(start.is_active(i64::MAX));
        assert!(WindowClock::new(None, None).is_none());
    }
}
