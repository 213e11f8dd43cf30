//! YAML read as Chaos Toolkit reads it: PyYAML's `yaml.safe_load`, which implements YAML
//! 1.1. The parsing is `saphyr-parser`'s; this module turns its events into JSON values with
//! PyYAML's implicit resolvers for plain scalars (PyYAML `resolver.py`) and its safe
//! constructors (`constructor.py`), so where YAML 1.1 and 1.2 differ the value is PyYAML's:
//!
//! - `yes`/`no`/`on`/`off` (any of three casings) are booleans;
//! - `010` is octal (8), `0b101` binary, `0x1F` hexadecimal, `1_000` is 1000, `1:30` is
//!   base 60 (90); `0o10` is a string;
//! - a float needs a dot and a signed exponent (`1.5e+3`; `1e3` and `1.5e3` are strings),
//!   and `1:30.5` is base 60;
//! - `~`, `null` and an empty value are null; `<<` merges mappings;
//! - quoted and block scalars are always strings; `!!str`, `!!int`, `!!float`, `!!bool`,
//!   `!!null`, `!!map` and `!!seq` tags are honoured.
//!
//! Timestamps (`2024-05-01`) stay strings (PyYAML makes dates of them). A document that
//! cannot be JSON (infinite or NaN floats, `!!binary`, other tags, several documents) is
//! an error, as is anything PyYAML refuses.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use super::pynum::finite;

/// A YAML document that cannot be read: 1-based line and column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

fn error_at(span: &Span, message: impl Into<String>) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: message.into(),
    }
}

/// A collection being built.
enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
    Mapping {
        entries: Map<String, Value>,
        /// Mappings merged in with `<<`, in the order written.
        merged: Vec<Map<String, Value>>,
        /// The key read, waiting for its value; `Some(None)` for a `<<` merge key.
        key: Option<Option<String>>,
        anchor: usize,
    },
}

/// The deepest nesting read (as `serde_json`'s limit: deeper values could not be dropped
/// or compared without risking the stack).
pub const MAX_DEPTH: usize = 128;
/// The most values a document may hold once its aliases are expanded (a "billion laughs"
/// file of a few lines would otherwise fill the memory).
pub const MAX_VALUES: usize = 1_000_000;

/// How many values a value holds (itself included).
fn size(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

/// Reads one YAML document as `yaml.safe_load` would (an empty document is null).
pub fn from_str(text: &str) -> Result<Value, YamlError> {
    let mut stack: Vec<Frame> = Vec::new();
    // Each anchored value with its size, for the expansion budget.
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut values = 0usize;
    let mut root: Option<Value> = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|err| YamlError {
            line: err.marker().line(),
            column: err.marker().col() + 1,
            message: err.info().to_owned(),
        })?;
        let (value, anchor, is_merge_key) = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(error_at(
                        &span,
                        "expected a single document in the stream, but found another",
                    ));
                }
                continue;
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq", &span)?;
                check_depth(stack.len(), &span)?;
                stack.push(Frame::Sequence {
                    items: Vec::new(),
                    anchor,
                });
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map", &span)?;
                check_depth(stack.len(), &span)?;
                stack.push(Frame::Mapping {
                    entries: Map::new(),
                    merged: Vec::new(),
                    key: None,
                    anchor,
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Sequence { items, anchor }) => (Value::Array(items), anchor, false),
                _ => return Err(error_at(&span, "unbalanced sequence end")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Mapping {
                    entries,
                    merged,
                    anchor,
                    ..
                }) => (Value::Object(merge(merged, entries)), anchor, false),
                _ => return Err(error_at(&span, "unbalanced mapping end")),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let is_merge_key = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                (
                    scalar(&text, style, tag.as_deref(), &span)?,
                    anchor,
                    is_merge_key,
                )
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((value, count)) => {
                    values = values.saturating_add(*count);
                    if values > MAX_VALUES {
                        return Err(error_at(
                            &span,
                            format!(
                                "the document expands to more than {MAX_VALUES} values through its aliases"
                            ),
                        ));
                    }
                    (value.clone(), 0, false)
                }
                None => return Err(error_at(&span, "found undefined alias")),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {
                continue;
            }
        };
        if anchor != 0 {
            let count = size(&value);
            anchors.insert(anchor, (value.clone(), count));
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping {
                entries,
                merged,
                key,
                ..
            }) => match key.take() {
                None if is_merge_key => *key = Some(None),
                None => *key = Some(Some(key_text(&value, &span)?)),
                Some(Some(name)) => {
                    entries.insert(name, value);
                }
                Some(None) => match value {
                    Value::Object(map) => merged.push(map),
                    Value::Array(maps) => {
                        for map in maps {
                            match map {
                                Value::Object(map) => merged.push(map),
                                _ => {
                                    return Err(error_at(
                                        &span,
                                        "while constructing a mapping: expected a mapping for merging",
                                    ));
                                }
                            }
                        }
                    }
                    _ => {
                        return Err(error_at(
                            &span,
                            "while constructing a mapping: expected a mapping or list of mappings for merging",
                        ));
                    }
                },
            },
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

fn check_depth(depth: usize, span: &Span) -> Result<(), YamlError> {
    if depth >= MAX_DEPTH {
        return Err(error_at(
            span,
            format!("nesting deeper than {MAX_DEPTH} levels: allowed are at most {MAX_DEPTH}"),
        ));
    }
    Ok(())
}

/// PyYAML 6's `flatten_mapping`: the merged mappings' keys first, in order, the first
/// mapping giving a key winning; then the mapping's own keys, which override.
fn merge(merged: Vec<Map<String, Value>>, entries: Map<String, Value>) -> Map<String, Value> {
    if merged.is_empty() {
        return entries;
    }
    let mut out = Map::new();
    for map in merged {
        for (key, value) in map {
            out.entry(key).or_insert(value);
        }
    }
    for (key, value) in entries {
        out.insert(key, value);
    }
    out
}

/// A mapping key as JSON text: strings as they are, other scalars as JSON writes them
/// (`true`, `1`, `null`), as Chaos Toolkit's journal would.
fn key_text(value: &Value, span: &Span) -> Result<String, YamlError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Array(_) | Value::Object(_) => Err(error_at(
            span,
            "a mapping key must be a scalar (JSON keys are strings)",
        )),
        other => Ok(other.to_string()),
    }
}

fn core_suffix(tag: &Tag) -> Option<&str> {
    tag.is_yaml_core_schema().then_some(tag.suffix.as_str())
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str, span: &Span) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(tag) if core_suffix(tag) == Some(expected) => Ok(()),
        Some(tag) => Err(unsupported_tag(tag, span)),
    }
}

fn unsupported_tag(tag: &Tag, span: &Span) -> YamlError {
    let name = match core_suffix(tag) {
        Some(suffix) => format!("!!{suffix}"),
        None => format!("{}{}", tag.handle, tag.suffix),
    };
    error_at(
        span,
        format!(
            "could not determine a constructor for the tag '{name}' (allowed: !!str, !!int, !!float, !!bool, !!null, !!map, !!seq)"
        ),
    )
}

/// PyYAML's implicit resolvers (YAML 1.1), in its order of precedence.
struct Resolvers {
    boolean: Regex,
    float: Regex,
    int: Regex,
    null: Regex,
    timestamp: Regex,
}

static RESOLVERS: LazyLock<Option<Resolvers>> = LazyLock::new(|| {
    Some(Resolvers {
        boolean: Regex::new(
            r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        )
        .ok()?,
        float: Regex::new(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        )
        .ok()?,
        int: Regex::new(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        )
        .ok()?,
        null: Regex::new(r"^(?:~|null|Null|NULL|)$").ok()?,
        timestamp: Regex::new(
            r"^(?:(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})(?:(?:[Tt]|[ \t]+)(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2}):(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]*))?(?:[ \t]*(?P<tz>Z|(?P<sign>[-+])(?P<th>[0-9]{1,2})(?::(?P<tm>[0-9]{2}))?))?)?)$",
        )
        .ok()?,
    })
});

/// The value of a scalar: plain ones resolved as PyYAML resolves them, tagged ones
/// constructed for their tag, others strings.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: &Span,
) -> Result<Value, YamlError> {
    let kind = match tag {
        Some(tag) if tag.handle == "!" && tag.suffix.is_empty() => "str",
        Some(tag) => match core_suffix(tag) {
            Some(suffix @ ("str" | "int" | "float" | "bool" | "null")) => suffix,
            _ => return Err(unsupported_tag(tag, span)),
        },
        None if style != ScalarStyle::Plain => "str",
        None => {
            let Some(resolvers) = RESOLVERS.as_ref() else {
                return Ok(Value::String(text.to_owned()));
            };
            if resolvers.boolean.is_match(text) {
                "bool"
            } else if resolvers.float.is_match(text) {
                "float"
            } else if resolvers.int.is_match(text) {
                "int"
            } else if resolvers.null.is_match(text) {
                "null"
            } else if resolvers.timestamp.is_match(text) {
                "timestamp"
            } else {
                "str"
            }
        }
    };
    let invalid = |what: &str| error_at(span, format!("'{text}' is not {what}"));
    match kind {
        "bool" => match text.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" => Ok(Value::Bool(true)),
            "no" | "false" | "off" => Ok(Value::Bool(false)),
            _ => Err(invalid("a boolean")),
        },
        "null" => Ok(Value::Null),
        "int" => construct_int(text).ok_or_else(|| invalid("an integer")),
        "float" => construct_float(text)
            .map(finite)
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| invalid("a float other than nan (JSON has no nan)")),
        "timestamp" => RESOLVERS
            .as_ref()
            .and_then(|r| python_timestamp(&r.timestamp, text))
            .map(Value::String)
            .ok_or_else(|| invalid("a valid date or time")),
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// Splits a sign off; `true` when negative.
fn sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// PyYAML's `construct_yaml_int`, as a JSON number: 64-bit integers exactly, larger ones
/// (Python's are unbounded) as the nearest float.
fn construct_int(text: &str) -> Option<Value> {
    let cleaned = text.replace('_', "");
    let (negative, digits) = sign(&cleaned);
    let magnitude: i128 = if digits == "0" {
        0
    } else if let Some(bits) = digits.strip_prefix("0b") {
        i128::from_str_radix(bits, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = digits.strip_prefix('0') {
        i128::from_str_radix(octal, 8).ok()?
    } else if digits.contains(':') {
        sexagesimal(digits)?
    } else {
        match digits.parse::<i128>() {
            Ok(n) => n,
            // Beyond 128 bits: only a float can carry it.
            Err(_) => {
                let float: f64 = digits.parse().ok()?;
                let float = if negative { -float } else { float };
                return Number::from_f64(finite(float)).map(Value::Number);
            }
        }
    };
    let value = if negative { -magnitude } else { magnitude };
    Some(match (i64::try_from(value), u64::try_from(value)) {
        (Ok(small), _) => Value::from(small),
        (_, Ok(unsigned)) => Value::from(unsigned),
        _ => Number::from_f64(value as f64).map(Value::Number)?,
    })
}

/// `str()` of the date or datetime PyYAML's `construct_yaml_timestamp` makes:
/// `2001-12-14`, `2001-12-14 21:59:43.100000-05:00`, `2001-12-15 02:59:43+00:00`.
fn python_timestamp(pattern: &Regex, text: &str) -> Option<String> {
    let caps = pattern.captures(text)?;
    let number = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<i16>().ok());
    let (year, month, day) = (number("y")?, number("m")?, number("d")?);
    let month = i8::try_from(month).ok()?;
    let day = i8::try_from(day).ok()?;
    let date = jiff::civil::Date::new(year, month, day).ok()?;
    let Some(hour) = number("H") else {
        return Some(date.to_string());
    };
    let time = jiff::civil::Time::new(
        i8::try_from(hour).ok()?,
        i8::try_from(number("M")?).ok()?,
        i8::try_from(number("S")?).ok()?,
        0,
    )
    .ok()?;
    let mut out = format!("{date} {}", time.strftime("%H:%M:%S"));
    // Microseconds: the first six digits of the fraction, padded; shown when not zero.
    let fraction = caps.name("f").map_or("", |m| m.as_str());
    let micros: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    if micros != "000000" {
        out.push('.');
        out.push_str(&micros);
    }
    match caps.name("tz").map(|m| m.as_str()) {
        None => {}
        Some("Z") => out.push_str("+00:00"),
        Some(_) => {
            let sign = caps.name("sign").map_or("+", |m| m.as_str());
            let hours = number("th")?;
            let minutes = number("tm").unwrap_or(0);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let zero = hours == 0 && minutes == 0;
            let sign = if zero { "+" } else { sign };
            out.push_str(&format!("{sign}{hours:02}:{minutes:02}"));
        }
    }
    Some(out)
}

/// `a:b:c` in base 60, whole parts only.
fn sexagesimal(text: &str) -> Option<i128> {
    text.split(':').try_fold(0i128, |total, part| {
        total
            .checked_mul(60)?
            .checked_add(part.parse::<i128>().ok()?)
    })
}

/// PyYAML's `construct_yaml_float`.
fn construct_float(text: &str) -> Option<f64> {
    let cleaned = text.replace('_', "").to_ascii_lowercase();
    let (negative, digits) = sign(&cleaned);
    let magnitude = if digits == ".inf" {
        f64::INFINITY
    } else if digits == ".nan" {
        f64::NAN
    } else if let Some((whole, fraction)) = digits.rsplit_once(':') {
        let whole = sexagesimal(whole)? as f64;
        whole * 60.0 + fraction.parse::<f64>().ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Value {
        from_str(text).unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn yaml_1_1_booleans_and_nulls() {
        assert_eq!(
            read("[yes, No, ON, off, True, y, n, 'yes', \"on\", ~, null, NULL, '']"),
            json!([
                true, false, true, false, true, "y", "n", "yes", "on", null, null, null, ""
            ])
        );
        assert_eq!(read("a:\nb: 1"), json!({"a": null, "b": 1}));
    }

    #[test]
    fn yaml_1_1_integers() {
        assert_eq!(
            read("[010, 0b101, 0x1F, 1_000, '1_0', 1:30, -1:00:01, 0, -0, +7, 0o10, 09]"),
            json!([8, 5, 31, 1000, "1_0", 90, -3601, 0, 0, 7, "0o10", "09"])
        );
    }

    #[test]
    fn yaml_1_1_floats_need_a_dot_and_a_signed_exponent() {
        assert_eq!(
            read("[1.5, 1., .5, 1.5e+3, 1.5e3, 1e3, 1_0.5, 1:30.5, -.5, -0.5]"),
            json!([
                1.5, 1.0, 0.5, 1500.0, "1.5e3", "1e3", 10.5, 90.5, "-.5", -0.5
            ])
        );
        // JSON has no infinity: the largest float stands for it; nan is refused.
        assert_eq!(read("[.inf, -.Inf]"), json!([f64::MAX, f64::MIN]));
        let err = from_str("x: .nan").expect_err("nan has no JSON form");
        assert!(err.message.contains(".nan"), "{err}");
        assert_eq!(read("[._5, .5_]"), json!(["._5", 0.5]));
    }

    #[test]
    fn block_and_quoted_scalars_are_strings_and_tags_apply() {
        assert_eq!(
            read("a: |\n  010\nb: !!str 010\nc: !!int '12'\nd: !!float '1'\ne: !!bool 'yes'"),
            json!({"a": "010\n", "b": "010", "c": 12, "d": 1.0, "e": true})
        );
        let err = from_str("a: !!binary aGk=").expect_err("binary has no JSON form");
        assert!(err.message.contains("!!binary"), "{err}");
        assert!(from_str("a: !custom x").is_err());
    }

    #[test]
    fn anchors_aliases_and_merges() {
        // As PyYAML 6.0.4 reads them: merged keys first (the first mapping giving a key
        // wins), then the mapping's own keys, which override.
        let value = read(
            "b: &b {x: 1, y: 2}\no: &o {y: 3, z: 4}\nuse: *b\nm:\n  q: 0\n  <<: [*o, *b]\n  x: 9\n",
        );
        assert_eq!(value["use"], json!({"x": 1, "y": 2}));
        assert_eq!(
            serde_json::to_string(&value["m"]).expect("JSON"),
            r#"{"y":3,"z":4,"x":9,"q":0}"#
        );
        let value = read("b: &b {x: 1, y: 2}\nm:\n  q: 0\n  <<: *b\n  x: 9\n");
        assert_eq!(
            serde_json::to_string(&value["m"]).expect("JSON"),
            r#"{"x":9,"y":2,"q":0}"#
        );
        assert!(from_str("a: *nowhere").is_err());
    }

    #[test]
    fn keys_and_documents() {
        assert_eq!(
            read("1: a\nfalse: b\n~: c"),
            json!({"1": "a", "false": "b", "null": "c"})
        );
        assert_eq!(read(""), Value::Null);
        let err = from_str("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert_eq!(err.line, 2, "{err}");
        let err = from_str("a: [1, 2\nb: 3").expect_err("unclosed");
        assert!(err.line >= 1 && !err.message.is_empty(), "{err}");
    }

    #[test]
    fn timestamps_read_as_python_prints_them() {
        assert_eq!(
            read(
                "[2001-12-14, 2001-12-14 21:59:43.10 -5, 2001-12-14t21:59:43.10Z, 2001-1-2 3:04:05]"
            ),
            json!([
                "2001-12-14",
                "2001-12-14 21:59:43.100000-05:00",
                "2001-12-14 21:59:43.100000+00:00",
                "2001-01-02 03:04:05"
            ])
        );
        assert!(from_str("d: 2001-13-40").is_err());
        assert_eq!(read("d: '2001-12-14'"), json!({"d": "2001-12-14"}));
    }

    #[test]
    fn big_integers_deep_nesting_and_alias_bombs() {
        assert_eq!(
            read("[9223372036854775807, 18446744073709551615, 99999999999999999999999]"),
            json!([i64::MAX, u64::MAX, 1e23])
        );
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(from_str(&deep).is_err());
        let block: String = (0..300)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        let err = from_str(&block).expect_err("too deep");
        assert!(err.message.contains("deeper than 128"), "{err}");
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().enumerate() {
            let prev = ["a", "b", "c", "d", "e", "f", "g", "h"][i];
            bomb.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let err = from_str(&bomb).expect_err("a billion laughs");
        assert!(err.message.contains("expands to more than"), "{err}");
    }

    #[test]
    fn key_order_is_kept() {
        let value = read("z: 1\na: 2\nm: 3");
        let keys: Vec<&String> = value.as_object().expect("map").keys().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }
}
