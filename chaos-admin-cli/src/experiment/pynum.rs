//! Python's reading of numeric text, shared by `int()`, `float()` and `Decimal()`
//! (<https://docs.python.org/3/library/functions.html#int>, `decimal.Decimal`): surrounding
//! whitespace is ignored, any Unicode decimal digit (`\p{Nd}`: Arabic-Indic `٣`, fullwidth
//! `３`, Devanagari `३`, …) counts as its digit, and underscores may group digits (single
//! ones between digits for `int`/`float`, any for `Decimal`).

use std::sync::LazyLock;

use regex::Regex;

static DECIMAL_DIGIT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{Nd}$").ok());

fn is_decimal_digit(c: char) -> bool {
    let mut buf = [0u8; 4];
    DECIMAL_DIGIT
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut buf)))
}

/// The value of a Unicode decimal digit. Unicode keeps every script's digits 0–9 as one
/// run of ten consecutive code points (some runs directly follow one another, such as
/// the mathematical digits), so the value is the distance from the run's start, modulo 10.
fn digit_value(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return c.to_digit(10);
    }
    if !is_decimal_digit(c) {
        return None;
    }
    let mut start = u32::from(c);
    while let Some(previous) = start.checked_sub(1).and_then(char::from_u32) {
        if !is_decimal_digit(previous) {
            break;
        }
        start -= 1;
    }
    Some((u32::from(c) - start) % 10)
}

/// The text as `Decimal()` reads it: trimmed, its digits in ASCII and every underscore
/// dropped (`Decimal` is lenient: `1__000`, `_1` and `1_` are numbers to it).
pub fn normalize_decimal(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| *c != '_')
        .map(|c| match digit_value(c) {
            Some(d) => char::from_digit(d, 10).unwrap_or('0'),
            None => c,
        })
        .collect()
}

/// The text as `int()` and `float()` read it: trimmed, its digits in ASCII and its
/// underscores removed. `None` when an underscore is not between two digits (they reject
/// `1__0`, `_1`, `1_`, `1_.5`).
pub fn normalize(text: &str) -> Option<String> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut out = String::with_capacity(chars.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == '_' {
            let before = i.checked_sub(1).and_then(|j| chars.get(j));
            let after = chars.get(i + 1);
            let digit = |c: Option<&char>| c.is_some_and(|c| digit_value(*c).is_some());
            if !(digit(before) && digit(after)) {
                return None;
            }
            continue;
        }
        match digit_value(*c) {
            Some(d) => out.push(char::from_digit(d, 10).unwrap_or('0')),
            None => out.push(*c),
        }
    }
    Some(out)
}

/// JSON has no infinity: the largest finite float stands for it (every comparison with a
/// finite number comes out the same). NaN stays NaN (and is refused by JSON numbers).
pub fn finite(value: f64) -> f64 {
    if value == f64::INFINITY {
        f64::MAX
    } else if value == f64::NEG_INFINITY {
        f64::MIN
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_digits_read_as_their_values() {
        assert_eq!(normalize("١٢٣").as_deref(), Some("123")); // Arabic-Indic
        assert_eq!(normalize("３.５").as_deref(), Some("3.5")); // fullwidth
        assert_eq!(normalize("९").as_deref(), Some("9")); // Devanagari
        assert_eq!(normalize("\u{1D7D8}\u{1D7E2}").as_deref(), Some("00")); // math double-struck 0, sans-serif 0
        assert_eq!(normalize(" 42\n").as_deref(), Some("42"));
        // Superscripts and fractions are numeric but not decimal digits.
        assert_eq!(normalize("²").as_deref(), Some("²"));
    }

    #[test]
    fn underscores_only_between_digits() {
        assert_eq!(normalize("1_000").as_deref(), Some("1000"));
        assert_eq!(normalize("1_0.2_5").as_deref(), Some("10.25"));
        assert_eq!(normalize("١_٠").as_deref(), Some("10"));
        for bad in ["1__0", "_1", "1_", "1_.5", "1._5"] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
        // Decimal("1__000") == Decimal("_1_000_") == 1000 in Python.
        assert_eq!(normalize_decimal("1__000"), "1000");
        assert_eq!(normalize_decimal(" _1_000_ "), "1000");
    }
}
