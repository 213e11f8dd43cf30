//! Durations and points in time as operators type them, and the range an action's expiry
//! may take. One source of truth for the CLI, the experiment `chaos` provider and the
//! store, so every front end accepts and refuses the same values with the same words.
//!
//! - Durations are humantime's (`250ms`, `1s`, `10m`, `2h 30m`, `7d`).
//! - Times are RFC 3339 with an offset (`2030-01-01T09:00:00Z`,
//!   `2030-01-01T09:00:00+09:00`, fractions of a second allowed), parsed with `jiff`. A
//!   time without an offset is refused: it would silently mean a different instant in
//!   every time zone.
//! - An expiry lies between the Unix epoch and [`MAX_EXPIRY_MS`]
//!   (`9999-12-30T00:00:00Z`: RFC 3339 has four-digit years, and the last day of year
//!   9999 cannot be written in every offset), so every expiry can be printed and read
//!   back.

use std::time::Duration;

use crate::action::InvalidAction;

/// The latest expiry an action may have, in Unix milliseconds: `9999-12-30T00:00:00Z`.
pub const MAX_EXPIRY_MS: i64 = 253_402_128_000_000;

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses a humantime duration (`250ms`, `1s`, `2m`) into milliseconds.
///
/// Errors name the text and the allowed forms. Values beyond `u64::MAX` ms saturate
/// (callers bound them: delays by [`crate::action::MAX_DELAY`], lifetimes by
/// [`expiry_after`]).
pub fn parse_duration_ms(text: &str) -> Result<u64, InvalidAction> {
    humantime::parse_duration(text.trim())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|err| {
            InvalidAction::new(format!(
                "invalid duration '{text}' ({err}): allowed are durations such as 250ms, 1s, 2m"
            ))
        })
}

/// The expiry `duration_ms` after `now_ms` (Unix milliseconds), for `--for D`.
///
/// Errors: a zero duration, or one whose end lies after [`MAX_EXPIRY_MS`]; `option` (e.g.
/// `--for`) and `text` (what the operator typed) name the value in the message.
pub fn expiry_after(
    now_ms: i64,
    duration_ms: u64,
    option: &str,
    text: &str,
) -> Result<i64, InvalidAction> {
    if duration_ms == 0 {
        return Err(InvalidAction::new(format!(
            "{option} '{text}' is zero: allowed is a positive duration such as 10m"
        )));
    }
    let at = i64::try_from(duration_ms)
        .ok()
        .and_then(|ms| now_ms.checked_add(ms))
        .filter(|at| *at <= MAX_EXPIRY_MS);
    at.ok_or_else(|| {
        InvalidAction::new(format!(
            "{option} '{text}' ends after {}: allowed is a duration that ends by then, such as 10m, 8h or 30d",
            format_time(MAX_EXPIRY_MS)
        ))
    })
}

/// Parses an RFC 3339 time with an offset (`2030-01-01T09:00:00Z`,
/// `2030-01-01T09:00:00+09:00`) into Unix milliseconds. `option` names the value in
/// errors. A time without an offset is refused with the allowed forms.
pub fn parse_time(option: &str, text: &str) -> Result<i64, InvalidAction> {
    let trimmed = at_most_nine_fraction_digits(text.trim());
    let trimmed = trimmed.as_str();
    let allowed = "allowed are RFC 3339 times with an offset, such as 2030-01-01T09:00:00Z or 2030-01-01T09:00:00+09:00";
    let timestamp: jiff::Timestamp = match trimmed.parse() {
        Ok(timestamp) => timestamp,
        Err(_) if trimmed.parse::<jiff::civil::DateTime>().is_ok() => {
            return Err(InvalidAction::new(format!(
                "{option} '{text}' has no offset (Z or +HH:MM), so it names a different instant in every time zone: {allowed}"
            )));
        }
        Err(err) => {
            return Err(InvalidAction::new(format!(
                "invalid {option} '{text}' ({err}): {allowed}"
            )));
        }
    };
    // RFC 3339's offsets run to 23:59 (`time-numoffset`); jiff reads larger ones too.
    let tail: Vec<char> = trimmed.chars().rev().take(6).collect();
    if let [m2, m1, ':', h2, h1, sign] = tail[..]
        && matches!(sign, '+' | '-')
        && [h1, h2, m1, m2].iter().all(char::is_ascii_digit)
        && (h1 > '2' || (h1 == '2' && h2 > '3') || m1 > '5')
    {
        return Err(InvalidAction::new(format!(
            "invalid {option} '{text}': its offset {sign}{h1}{h2}:{m1}{m2} is out of range (RFC 3339 offsets run from -23:59 to +23:59): {allowed}"
        )));
    }
    let ms = timestamp.as_millisecond();
    if !(0..=MAX_EXPIRY_MS).contains(&ms) {
        return Err(InvalidAction::new(format!(
            "{option} '{text}' is out of range: allowed are times from 1970-01-01T00:00:00Z to {}",
            format_time(MAX_EXPIRY_MS)
        )));
    }
    Ok(ms)
}

/// RFC 3339 allows any number of fraction digits (`time-secfrac = "." 1*DIGIT`); jiff
/// reads nine (nanoseconds), and we keep milliseconds: drop the digits beyond nine.
fn at_most_nine_fraction_digits(text: &str) -> String {
    let Some(dot) = text.find('.') else {
        return text.to_owned();
    };
    let digits = text[dot + 1..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits <= 9 {
        return text.to_owned();
    }
    format!("{}{}", &text[..dot + 1 + 9], &text[dot + 1 + digits..])
}

/// The expiry given by `--until TIME`: a time that must lie after `now_ms`.
pub fn expiry_at(now_ms: i64, option: &str, text: &str) -> Result<i64, InvalidAction> {
    let at = parse_time(option, text)?;
    if at <= now_ms {
        return Err(InvalidAction::new(format!(
            "{option} '{text}' is in the past ({} now): allowed is a future RFC 3339 time",
            format_time(now_ms)
        )));
    }
    Ok(at)
}

/// Checks a stored expiry (Unix milliseconds) lies in `0..=MAX_EXPIRY_MS`.
pub fn validate_expiry(at_ms: i64) -> Result<(), InvalidAction> {
    if (0..=MAX_EXPIRY_MS).contains(&at_ms) {
        Ok(())
    } else {
        Err(InvalidAction::new(format!(
            "expiry {at_ms} is out of range: allowed are Unix milliseconds from 0 (1970) to {MAX_EXPIRY_MS} ({})",
            format_time(MAX_EXPIRY_MS)
        )))
    }
}

/// Unix milliseconds as an RFC 3339 UTC time to the second (`2026-11-22T18:00:00Z`).
/// Never panics: a value outside what RFC 3339 can write is printed as
/// `<ms> ms since 1970 (out of range)`.
pub fn format_time(ms: i64) -> String {
    let whole_seconds = ms.div_euclid(1000);
    match jiff::Timestamp::from_second(whole_seconds) {
        Ok(timestamp) => timestamp.to_string(),
        Err(_) => format!("{ms} ms since 1970 (out of range)"),
    }
}

/// A duration in milliseconds as humantime writes it (`250ms`, `1h 30m`); never panics.
pub fn format_duration_ms(ms: u64) -> String {
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000; // 2026-11-18

    #[test]
    fn times_with_any_rfc3339_offset_parse_to_the_same_instant() {
        let utc = parse_time("--until", "2030-01-01T00:00:00Z").expect("Z");
        assert_eq!(utc, 1_893_456_000_000);
        for text in [
            "2030-01-01T09:00:00+09:00",
            "2030-01-01T00:00:00+00:00",
            "2029-12-31T19:00:00-05:00",
            "2030-01-01T00:00:00.000Z",
            "2030-01-01t00:00:00z",
            "2030-01-01 00:00:00Z",
            "2030-01-01T05:30:00+05:30",
            "2030-01-01T00:00:00.000000000000000Z",
            "2030-01-01T09:00:00.0000000000001+09:00",
        ] {
            assert_eq!(parse_time("--until", text), Ok(utc), "{text}");
        }
        assert_eq!(
            parse_time("--until", "2030-01-01T00:00:00.250Z"),
            Ok(utc + 250)
        );
    }

    #[test]
    fn a_time_without_offset_is_refused_with_the_allowed_forms() {
        let err = parse_time("--until", "2030-01-01T09:00:00").expect_err("no offset");
        let text = err.to_string();
        assert!(text.contains("'2030-01-01T09:00:00'"), "{text}");
        assert!(text.contains("no offset"), "{text}");
        assert!(text.contains("+09:00"), "{text}");
        for bad in [
            "tomorrow",
            "2030-13-01T00:00:00Z",
            "",
            "10026-01-01T00:00:00Z",
        ] {
            let err = parse_time("--until", bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
        for bad in ["2030-01-01T00:00:00+25:00", "2030-01-01T00:00:00-24:00"] {
            let err = parse_time("--start-at", bad).expect_err(bad);
            assert!(err.to_string().contains("out of range (RFC 3339"), "{err}");
        }
        assert!(parse_time("--until", "2030-01-01T00:00:00+23:59").is_ok());
        let err = parse_time("--until", "1960-01-01T00:00:00Z").expect_err("before 1970");
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn expiries_stay_printable() {
        assert_eq!(
            expiry_after(NOW, 600_000, "--for", "10m"),
            Ok(NOW + 600_000)
        );
        let years_8000 = parse_duration_ms("8000y").expect("humantime parses it");
        let err = expiry_after(NOW, years_8000, "--for", "8000y").expect_err("too far");
        assert!(err.to_string().contains("'8000y'"), "{err}");
        assert!(err.to_string().contains("9999-12-30T00:00:00Z"), "{err}");
        assert!(expiry_after(NOW, u64::MAX, "--for", "huge").is_err());
        assert!(expiry_after(NOW, 0, "--for", "0s").is_err());
        let last = u64::try_from(MAX_EXPIRY_MS - NOW).expect("positive");
        assert_eq!(expiry_after(NOW, last, "--for", "x"), Ok(MAX_EXPIRY_MS));
        assert!(expiry_after(NOW, last + 1, "--for", "x").is_err());
        assert!(expiry_at(NOW, "--until", "2020-01-01T00:00:00Z").is_err());
        assert_eq!(format_time(MAX_EXPIRY_MS), "9999-12-30T00:00:00Z");
    }

    #[test]
    fn format_time_never_panics() {
        for ms in [
            i64::MIN,
            -1,
            0,
            1,
            MAX_EXPIRY_MS,
            MAX_EXPIRY_MS + 1,
            i64::MAX,
        ] {
            let text = format_time(ms);
            assert!(!text.is_empty());
        }
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59Z");
        assert!(format_time(i64::MAX).contains("out of range"));
    }

    /// Every string of a few characters from the alphabets of durations and times:
    /// parsing never panics, and whatever is accepted prints and parses back.
    #[test]
    fn parsers_never_panic_on_any_short_input() {
        let alphabet = [
            "0",
            "1",
            "9",
            "-",
            "+",
            ":",
            "T",
            "Z",
            " ",
            ".",
            "y",
            "s",
            "ms",
            "h",
            "d",
            "99999",
            "e",
            "\u{e9}",
            "2030-01-01T00:00:00",
        ];
        let mut count = 0;
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let text = format!("{a}{b}{c}");
                    if let Ok(ms) = parse_duration_ms(&text) {
                        let _ = format_duration_ms(ms);
                        let _ = expiry_after(NOW, ms, "--for", &text);
                    }
                    if let Ok(at) = parse_time("--until", &text) {
                        assert_eq!(
                            parse_time("--until", &format_time(at)),
                            Ok(at / 1000 * 1000)
                        );
                    }
                    count += 1;
                }
            }
        }
        assert_eq!(count, alphabet.len().pow(3));
    }
}
