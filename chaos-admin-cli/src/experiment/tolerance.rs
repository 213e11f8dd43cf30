//! Tolerances, evaluated the way chaoslib's `within_tolerance` does, including its odd
//! cases (a 2-item list is a range unless the output is a mapping with `status`, ...).
//! Where Python would raise a `TypeError` (comparing a dict with a number, searching a
//! regex in a mapping), the tolerance is simply not met.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::subst::{Vars, substitute, substitute_text};

/// What checking a tolerance needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The answer.
    Met(bool),
    /// A probe tolerance: run this probe (its `provider.arguments.value` set to the output);
    /// met when it succeeds with a truthy output.
    RunProbe(Value),
    /// The tolerance cannot be evaluated (a JSON path that does not parse once
    /// substituted): chaoslib raises, uncaught, so the run is aborted.
    Crashed(String),
}

/// Checks `output` against `tolerance`.
pub fn within_tolerance(tolerance: &Value, output: &Value, vars: &Vars) -> Check {
    match tolerance {
        Value::Bool(_) => Check::Met(py_eq(output, tolerance)),
        Value::String(_) => {
            // A string tolerance is substituted first, typed: one that is exactly
            // `${name}` takes the value's type and is then checked as that type (an int
            // is a status tolerance). Lists and mappings are not substituted (chaoslib).
            match substitute(tolerance, vars) {
                text @ Value::String(_) => Check::Met(py_eq(output, &text)),
                typed => within_tolerance(&typed, output, vars),
            }
        }
        // chaoslib checks `int` tolerances only: a float (e.g. from `"${x}"` with
        // `x: 0.0`) matches none of its cases and is not met.
        Value::Number(n) if n.is_f64() => Check::Met(false),
        Value::Number(_) => Check::Met(match output {
            Value::Object(map) if map.contains_key("status") => py_eq(&map["status"], tolerance),
            _ => py_eq(output, tolerance),
        }),
        Value::Array(items) => Check::Met(list_tolerance(items, output)),
        Value::Object(map) => object_tolerance(map, output, vars),
        Value::Null => Check::Met(false),
    }
}

fn list_tolerance(items: &[Value], output: &Value) -> bool {
    if let Value::Object(map) = output
        && let Some(status) = map.get("status")
    {
        return items.iter().any(|item| py_eq(status, item));
    }
    if let [low, high] = items {
        return matches!(py_cmp(low, output), Some(Ordering::Less | Ordering::Equal))
            && matches!(py_cmp(output, high), Some(Ordering::Less | Ordering::Equal));
    }
    items.iter().any(|item| py_eq(output, item))
}

/// `output[target]` when the output is a mapping holding `target`, else the output.
fn targeted<'a>(map: &Map<String, Value>, output: &'a Value) -> &'a Value {
    match (map.get("target"), output) {
        (Some(Value::String(target)), Value::Object(out)) if !target.is_empty() => {
            out.get(target).unwrap_or(output)
        }
        _ => output,
    }
}

fn object_tolerance(map: &Map<String, Value>, output: &Value, vars: &Vars) -> Check {
    match map.get("type").and_then(Value::as_str) {
        Some("probe") => {
            let mut probe = Value::Object(map.clone());
            if let Some(provider) = probe.get_mut("provider").and_then(Value::as_object_mut) {
                let arguments = provider
                    .entry("arguments")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !arguments.is_object() {
                    *arguments = Value::Object(Map::new());
                }
                if let Some(arguments) = arguments.as_object_mut() {
                    arguments.insert("value".to_owned(), output.clone());
                }
            }
            Check::RunProbe(probe)
        }
        Some("regex") => {
            let pattern = map.get("pattern").and_then(Value::as_str).unwrap_or("");
            let pattern = substitute_text(pattern, vars);
            Check::Met(match targeted(map, output) {
                Value::String(text) => python_search(&pattern, text),
                _ => false,
            })
        }
        Some("jsonpath") => match jsonpath_tolerance(map, output, vars) {
            Ok(met) => Check::Met(met),
            Err(message) => Check::Crashed(message),
        },
        Some("range") => {
            // Python's `Decimal(value)`: a string is its exact decimal value, a float
            // its exact binary value (so "0.1" is below the bound 0.1).
            let value = match targeted(map, output) {
                Value::Number(n) => n.as_f64().map(|f| format!("{f:.1100}")),
                Value::Bool(b) => Some(u8::from(*b).to_string()),
                Value::String(text) => Some(text.trim().to_owned()),
                _ => None,
            };
            let bounds = map.get("range").and_then(Value::as_array);
            Check::Met(match (value, bounds.map(Vec::as_slice)) {
                (Some(value), Some([low, high])) => match (as_number(low), as_number(high)) {
                    (Some(low), Some(high)) => {
                        let at_least = matches!(
                            decimal_cmp(&value, low),
                            Some(Ordering::Greater | Ordering::Equal)
                        );
                        let at_most = matches!(
                            decimal_cmp(&value, high),
                            Some(Ordering::Less | Ordering::Equal)
                        );
                        at_least && at_most
                    }
                    _ => false,
                },
                _ => false,
            })
        }
        _ => Check::Met(false),
    }
}

/// Python's `re.search(pattern, text)` in Rust's regex syntax, with the differences that
/// matter for command output translated: `\Z` is the very end (Rust's `\z`), and `$`
/// (without the multi-line flag) also matches before a final newline, as Python's does.
/// A pattern Rust cannot compile is not met.
pub fn python_search(pattern: &str, text: &str) -> bool {
    let Ok(regex) = compile_python_regex(pattern) else {
        return false;
    };
    if regex.is_match(text) {
        return true;
    }
    // `$` before a final newline: the same search on the text without it.
    has_dollar(pattern)
        && text
            .strip_suffix('\n')
            .is_some_and(|shorter| regex.is_match(shorter))
}

/// Compiles a Python `re` pattern as [`python_search`] runs it (the error for `validate`).
pub fn compile_python_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&translate_python_regex(pattern))
}

/// Python `re` syntax into Rust `regex` syntax where they differ in common patterns:
/// - `\Z` (the very end) → `\z`;
/// - `\w`/`\W`/`\s`/`\S` → Python's classes for `str` patterns (`\w` is letters, numbers
///   and `_`, so `½` is a word character and a combining mark is not; `\s` also holds
///   the separators `\x1c`–`\x1f`);
/// - three-digit octal escapes (`\101`) → `\x{41}`;
/// - `(?#comment)` → removed;
/// - a `{` that does not open a quantifier is a literal (`{"ok": true}`), and `{,m}` is
///   `{0,m}`.
fn translate_python_regex(pattern: &str) -> String {
    const WORD: &str = r"\p{L}\p{N}_";
    const SPACE: &str = r"\s\x1c-\x1f";
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                let next = chars[i + 1];
                i += 2;
                match next {
                    'Z' if !in_class => out.push_str(r"\z"),
                    'w' if in_class => out.push_str(WORD),
                    's' if in_class => out.push_str(SPACE),
                    'w' => out.push_str(&format!("[{WORD}]")),
                    'W' => out.push_str(&format!("[^{WORD}]")),
                    's' => out.push_str(&format!("[{SPACE}]")),
                    'S' => out.push_str(&format!("[^{SPACE}]")),
                    '0'..='3'
                        if chars.get(i).is_some_and(|d| ('0'..='7').contains(d))
                            && chars.get(i + 1).is_some_and(|d| ('0'..='7').contains(d)) =>
                    {
                        let digits: String = [next, chars[i], chars[i + 1]].iter().collect();
                        i += 2;
                        let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                        out.push_str(&format!(r"\x{{{code:x}}}"));
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            '(' if !in_class
                && chars.get(i + 1) == Some(&'?')
                && chars.get(i + 2) == Some(&'#') =>
            {
                // A comment group: skip to its closing parenthesis.
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                continue;
            }
            '{' if !in_class => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '}')
                    .map(|p| i + 1 + p);
                let body: String = close
                    .map(|end| chars[i + 1..end].iter().collect())
                    .unwrap_or_default();
                let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
                let quantifier = close.is_some()
                    && match body.split_once(',') {
                        None => digits(&body),
                        Some((low, high)) => {
                            (digits(low) || low.is_empty())
                                && (digits(high) || high.is_empty())
                                && !(low.is_empty() && high.is_empty())
                        }
                    };
                if let (true, Some(end)) = (quantifier, close) {
                    let body = if body.starts_with(',') {
                        format!("0{body}")
                    } else {
                        body
                    };
                    out.push('{');
                    out.push_str(&body);
                    out.push('}');
                    i = end + 1;
                } else {
                    out.push_str(r"\{");
                    i += 1;
                }
                continue;
            }
            '}' if !in_class => out.push_str(r"\}"),
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // `[]...]` and `[^]...]`: a leading `]` is a literal in both syntaxes.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether the pattern has an unescaped `$` outside a character class.
fn has_dollar(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => in_class = true,
            ']' => in_class = false,
            '$' if !in_class => return true,
            _ => {}
        }
    }
    false
}

/// Compares a decimal literal (`0.1`, `-2.5e3`, `1_000`, `١٢`) with the exact binary value
/// of `bound`, as Python's `Decimal(text)` compares with `Decimal(bound)`; `None` when
/// `text` is no number.
pub fn decimal_cmp(text: &str, bound: f64) -> Option<Ordering> {
    // Python's Decimal reads Unicode digits and underscores (`1_000`, even `1__000`).
    let cleaned = super::pynum::normalize_decimal(text);
    let text = cleaned.as_str();
    let approx: f64 = text.parse().ok()?;
    match approx.partial_cmp(&bound)? {
        // Rounding is monotonic: the exact values are ordered the same way.
        Ordering::Less => Some(Ordering::Less),
        Ordering::Greater => Some(Ordering::Greater),
        Ordering::Equal if !bound.is_finite() => Some(Ordering::Equal),
        // Same nearest double: compare the exact decimal expansions.
        Ordering::Equal => {
            let exact = format!("{bound:.1100}");
            Some(cmp_plain(&plain_decimal(text)?, &plain_decimal(&exact)?))
        }
    }
}

/// A decimal number as (negative, integer digits, fraction digits), without exponent,
/// leading integer zeros or trailing fraction zeros.
fn plain_decimal(text: &str) -> Option<(bool, String, String)> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || (int.is_empty() && frac.is_empty())
    {
        return None;
    }
    let digits = format!("{int}{frac}");
    // The decimal point sits after `point` digits.
    let point = i64::try_from(int.len()).ok()? + exponent;
    if !(-4000..=4000).contains(&point) {
        return None;
    }
    let (int, frac) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat(usize::try_from(-point).ok()?)),
        )
    } else {
        let point = usize::try_from(point).ok()?;
        if point >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point - digits.len())),
                String::new(),
            )
        } else {
            (digits[..point].to_owned(), digits[point..].to_owned())
        }
    };
    let int = int.trim_start_matches('0').to_owned();
    let frac = frac.trim_end_matches('0').to_owned();
    let zero = int.is_empty() && frac.is_empty();
    Some((negative && !zero, int, frac))
}

fn cmp_plain(a: &(bool, String, String), b: &(bool, String, String)) -> Ordering {
    let magnitude = |x: &(bool, String, String), y: &(bool, String, String)| {
        x.1.len()
            .cmp(&y.1.len())
            .then_with(|| x.1.cmp(&y.1))
            .then_with(|| {
                let width = x.2.len().max(y.2.len());
                format!("{:0<width$}", x.2).cmp(&format!("{:0<width$}", y.2))
            })
    };
    match (a.0, b.0) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => magnitude(a, b),
        (true, true) => magnitude(b, a),
    }
}

fn jsonpath_tolerance(
    map: &Map<String, Value>,
    output: &Value,
    vars: &Vars,
) -> Result<bool, String> {
    let path = map.get("path").and_then(Value::as_str).unwrap_or("");
    let path = substitute_text(path, vars);
    let path = super::jsonpath2::Path::parse(&path)
        .map_err(|err| format!("JSON path {path} is invalid: {err}"))?;
    let target = targeted(map, output);
    // A string output that holds JSON is parsed first.
    let parsed;
    let document = match target {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                parsed = value;
                &parsed
            }
            Err(_) => target,
        },
        other => other,
    };
    let values: Vec<Value> = path.matches(document);
    let mut result = !values.is_empty();
    if let Some(count) = map.get("count").filter(|c| !c.is_null()) {
        result = py_eq(&Value::from(values.len()), count);
    }
    if let Some(expect) = map.get("expect") {
        let expect = substitute(expect, vars);
        let expected = match expect {
            Value::Array(items) => items,
            other => vec![other],
        };
        result = py_eq(&Value::Array(values), &Value::Array(expected));
    }
    Ok(result)
}

/// A JSON value as Python would see it, for comparisons: bools are ints.
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Python's `==` on JSON values (`True == 1`, `1 == 1.0`).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        if let (Value::Number(m), Value::Number(n)) = (a, b)
            && let (Some(m), Some(n)) = (m.as_i64(), n.as_i64())
        {
            return m == n;
        }
        return x == y;
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => false,
    }
}

/// Python's ordering where it is defined (numbers, strings, lists); `None` where Python
/// raises `TypeError`.
pub fn py_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x.partial_cmp(&y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                if !py_eq(p, q) {
                    return py_cmp(p, q);
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

/// Python's truthiness.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn decimals_compare_exactly_as_python_does() {
        use Ordering::*;
        // Decimal("0.1") < Decimal(0.1) = 0.1000000000000000055511151231257827...
        assert_eq!(decimal_cmp("0.1", 0.1), Some(Less));
        // Decimal("0.3") > Decimal(0.3) = 0.299999999999999988897769753748...
        assert_eq!(decimal_cmp("0.3", 0.3), Some(Greater));
        assert_eq!(decimal_cmp("0.5", 0.5), Some(Equal));
        assert_eq!(decimal_cmp("1", 1.0), Some(Equal));
        assert_eq!(decimal_cmp("1e-1", 0.1), Some(Less));
        assert_eq!(decimal_cmp("-0.1", -0.1), Some(Greater));
        assert_eq!(decimal_cmp("2", 1.0), Some(Greater));
        assert_eq!(decimal_cmp("-0", 0.0), Some(Equal));
        assert_eq!(
            decimal_cmp(
                "0.1000000000000000055511151231257827021181583404541015625",
                0.1
            ),
            Some(Equal)
        );
        assert_eq!(decimal_cmp("1_000", 1000.0), Some(Equal));
        // Python's Decimal drops every underscore: Decimal("1__0") == 10, Decimal("_1") == 1.
        assert_eq!(decimal_cmp("1__0", 10.0), Some(Equal));
        assert_eq!(decimal_cmp("_1", 1.0), Some(Equal));
        assert_eq!(decimal_cmp("_", 1.0), None);
        assert_eq!(decimal_cmp("abc", 1.0), None);
        assert_eq!(decimal_cmp("", 1.0), None);
    }

    #[test]
    fn regexes_search_as_python_re_does() {
        assert!(python_search("full$", "disk full\n"));
        assert!(python_search("full$", "disk full"));
        assert!(!python_search("full$", "disk full\n\n"));
        assert!(!python_search("full\\Z", "disk full\n"));
        assert!(python_search("full\\Z", "disk full"));
        assert!(python_search("[$]", "costs $3"));
        assert!(!python_search("x[$]", "x\n"));
        assert!(
            python_search("\\d+", "\u{0663}"),
            "\\d is Unicode in Python 3"
        );
        assert!(!python_search("(", "anything"), "a bad pattern is not met");
        assert!(python_search(r#"{"ok": true}"#, "{\"ok\": true}\n"));
        assert!(python_search("a{,2}b", "aab"));
        assert!(python_search("a{2}", "aa"));
        assert!(python_search("x(?#a comment)y", "xy"));
        assert!(python_search(r"\101", "A"));
        assert!(python_search(r"^score \w$", "score \u{bd}"));
        assert!(python_search(r"field\svalue", "field\u{1c}value"));
        assert!(
            !python_search(r"^e\w$", "e\u{301}"),
            "a combining mark is not \\w"
        );
        assert!(python_search(r"[\w-]+", "a-b"));
    }

    use super::*;
    use serde_json::json;

    fn check(tolerance: Value, output: Value) -> bool {
        let mut configuration = Map::new();
        configuration.insert("expected".into(), json!("ok"));
        configuration.insert("want".into(), json!(3));
        let vars = Vars {
            configuration,
            secrets: Map::new(),
        };
        match within_tolerance(&tolerance, &output, &vars) {
            Check::Met(met) => met,
            Check::RunProbe(probe) => panic!("unexpected probe {probe}"),
            Check::Crashed(message) => panic!("unexpected crash {message}"),
        }
    }

    fn http(status: u16, body: Value) -> Value {
        json!({"status": status, "headers": {"Content-Type": "application/json"}, "body": body})
    }

    #[test]
    fn bool_compares_the_output_itself() {
        assert!(check(json!(true), json!(true)));
        assert!(!check(json!(true), json!(false)));
        // Python: True == 1.
        assert!(check(json!(true), json!(1)));
        // Never true for an http/process mapping.
        assert!(!check(json!(true), http(200, json!({}))));
    }

    #[test]
    fn int_uses_status_of_a_mapping() {
        assert!(check(json!(200), http(200, json!("x"))));
        assert!(!check(json!(200), http(503, json!("x"))));
        assert!(check(
            json!(0),
            json!({"status": 0, "stdout": "", "stderr": ""})
        ));
        assert!(check(json!(3), json!(3)));
        assert!(check(json!(3), json!(3.0)));
        assert!(!check(json!(3), json!("3")));
        assert!(!check(json!(200), json!({"code": 200})));
    }

    #[test]
    fn string_is_substituted_then_compared() {
        assert!(check(json!("ok"), json!("ok")));
        assert!(check(json!("${expected}"), json!("ok")));
        assert!(!check(json!("ok"), json!("ok\n")));
        assert!(!check(json!("200"), http(200, json!(""))));
    }

    #[test]
    fn two_item_list_is_a_range_unless_status_mapping() {
        // Plain value: inclusive range.
        assert!(check(json!([200, 299]), json!(250)));
        assert!(check(json!([200, 299]), json!(200)));
        assert!(check(json!([200, 299]), json!(299)));
        assert!(!check(json!([200, 299]), json!(300)));
        // Mapping with status: membership, even with 2 items.
        assert!(!check(json!([200, 299]), http(250, json!(""))));
        assert!(check(json!([200, 299]), http(299, json!(""))));
        // Other lengths: membership.
        assert!(check(json!([200, 201, 204]), json!(201)));
        assert!(!check(json!([200, 201, 204]), json!(202)));
        assert!(check(json!(["a", "b", "c"]), json!("b")));
        // Strings compare like Python in a 2-item range; mixed types are not met.
        assert!(check(json!(["a", "c"]), json!("b")));
        assert!(!check(json!([1, 5]), json!("3")));
        assert!(!check(json!([1, 5]), json!({"stdout": "3"})));
    }

    #[test]
    fn regex_with_and_without_target() {
        let tol = json!({"type": "regex", "pattern": "^hello [a-z]+$"});
        assert!(check(tol.clone(), json!("hello world")));
        assert!(!check(tol, json!("Hello world")));
        let tol = json!({"type": "regex", "pattern": "ite?ms", "target": "stdout"});
        assert!(check(
            tol.clone(),
            json!({"status": 0, "stdout": "3 items", "stderr": ""})
        ));
        assert!(!check(
            tol,
            json!({"status": 0, "stdout": "nothing", "stderr": ""})
        ));
        // search, not match; pattern substituted.
        let tol = json!({"type": "regex", "pattern": "${expected}", "target": "body"});
        assert!(check(tol.clone(), http(200, json!("all ok here"))));
        // A mapping body cannot be searched.
        assert!(!check(tol, http(200, json!({"status": "ok"}))));
    }

    #[test]
    fn jsonpath_count_and_expect() {
        let body = json!({"items": [{"id": 1, "ok": true}, {"id": 2, "ok": true}, {"id": 3, "ok": false}]});
        let out = http(200, body);
        let tol = |extra: Value| {
            let mut t = json!({"type": "jsonpath", "path": "$.items[*].id", "target": "body"});
            if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
                t.extend(e.clone());
            }
            t
        };
        assert!(check(tol(json!({})), out.clone()));
        assert!(check(tol(json!({"count": 3})), out.clone()));
        assert!(!check(tol(json!({"count": 2})), out.clone()));
        assert!(check(tol(json!({"expect": [1, 2, 3]})), out.clone()));
        assert!(!check(tol(json!({"expect": [1, 2]})), out.clone()));
        // Scalar expect: the matches must be exactly [expect]; it overrides count.
        let one = json!({"type": "jsonpath", "path": "$.items[0].id", "target": "body", "expect": 1, "count": 5});
        assert!(check(one, out.clone()));
        let scalar =
            json!({"type": "jsonpath", "path": "$.items[*].id", "target": "body", "expect": 1});
        assert!(!check(scalar, out.clone()));
        let substituted = json!({"type": "jsonpath", "path": "$.items[*].id", "target": "body", "expect": "${want}", "count": 1});
        assert!(!check(substituted, out.clone()));
        let none = json!({"type": "jsonpath", "path": "$.nothing", "target": "body"});
        assert!(!check(none, out));
        // A string output is parsed as JSON first.
        let text = json!({"type": "jsonpath", "path": "$.a", "target": "stdout", "expect": 2});
        assert!(check(
            text,
            json!({"status": 0, "stdout": "{\"a\": 2}", "stderr": ""})
        ));
    }

    #[test]
    fn range_with_target_and_numeric_strings() {
        let tol = json!({"type": "range", "range": [1, 5]});
        assert!(check(tol.clone(), json!(1)));
        assert!(check(tol.clone(), json!(5)));
        assert!(check(tol.clone(), json!(2.5)));
        assert!(check(tol.clone(), json!(" 3 ")));
        assert!(!check(tol.clone(), json!(6)));
        assert!(!check(tol.clone(), json!("many")));
        let tol = json!({"type": "range", "range": [200, 299], "target": "status"});
        assert!(check(tol.clone(), http(204, json!(""))));
        assert!(!check(tol, http(503, json!(""))));
        let tol = json!({"type": "range", "range": [0, 10], "target": "stdout"});
        assert!(check(
            tol,
            json!({"status": 0, "stdout": "7\n", "stderr": ""})
        ));
    }

    #[test]
    fn probe_tolerance_gets_the_value() {
        let tol = json!({"type": "probe", "name": "check", "provider": {"type": "process", "path": "test"}});
        let vars = Vars::default();
        let Check::RunProbe(probe) = within_tolerance(&tol, &json!(42), &vars) else {
            panic!("a probe tolerance must ask for the probe to run");
        };
        assert_eq!(probe["provider"]["arguments"]["value"], json!(42));
        assert!(truthy(&json!({"status": 1})));
        assert!(!truthy(&json!("")));
        assert!(!truthy(&json!(0)));
    }
}
