//! Tolerances, evaluated the way chaoslib's `within_tolerance` does, including its odd
//! cases (a 2-item list is a range unless the output is a mapping with `status`, ...).
//! Where Python would raise a `TypeError` (comparing a dict with a number, searching a
//! regex in a mapping), the tolerance is simply not met.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::subst::{Vars, substitute, substitute_text};

/// What checking a tolerance needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The answer.
    Met(bool),
    /// A probe tolerance: run this probe (its `provider.arguments.value` set to the output);
    /// met when it succeeds with a truthy output.
    RunProbe(Value),
}

/// Checks `output` against `tolerance`.
pub fn within_tolerance(tolerance: &Value, output: &Value, vars: &Vars) -> Check {
    match tolerance {
        Value::Bool(_) => Check::Met(py_eq(output, tolerance)),
        Value::String(text) => {
            // The string tolerance is substituted before the comparison.
            let text = Value::String(substitute_text(text, vars));
            Check::Met(py_eq(output, &text))
        }
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
            let Ok(regex) = regex::Regex::new(&pattern) else {
                return Check::Met(false);
            };
            Check::Met(match targeted(map, output) {
                Value::String(text) => regex.is_match(text),
                _ => false,
            })
        }
        Some("jsonpath") => Check::Met(jsonpath_tolerance(map, output, vars)),
        Some("range") => {
            let value = match targeted(map, output) {
                Value::Number(n) => n.as_f64(),
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                Value::String(text) => text.trim().parse::<f64>().ok(),
                _ => None,
            };
            let bounds = map.get("range").and_then(Value::as_array);
            Check::Met(match (value, bounds.map(Vec::as_slice)) {
                (Some(value), Some([low, high])) => match (low.as_f64(), high.as_f64()) {
                    (Some(low), Some(high)) => low <= value && value <= high,
                    _ => false,
                },
                _ => false,
            })
        }
        _ => Check::Met(false),
    }
}

fn jsonpath_tolerance(map: &Map<String, Value>, output: &Value, vars: &Vars) -> bool {
    let path = map.get("path").and_then(Value::as_str).unwrap_or("");
    let path = substitute_text(path, vars);
    let Ok(path) = JsonPath::parse(path.trim()) else {
        return false;
    };
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
    let values: Vec<Value> = path.query(document).all().into_iter().cloned().collect();
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
    result
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
