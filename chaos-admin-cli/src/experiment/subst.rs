//! `${name}` / `$name` substitution as chaoslib does it (Python's `string.Template`):
//! one pass, unknown names left as they are, `$$` is a literal `$`, and a string that is
//! exactly `${name}` becomes the typed value.

use serde_json::{Map, Value};

/// Values for substitution: configuration first, then every secret scope merged.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// Loaded configuration.
    pub configuration: Map<String, Value>,
    /// Loaded secrets, by scope.
    pub secrets: Map<String, Value>,
}

impl Vars {
    /// The value of `name`: configuration first, then the secret scopes in order.
    pub fn lookup(&self, name: &str) -> Option<&Value> {
        if let Some(value) = self.configuration.get(name) {
            return Some(value);
        }
        self.secrets
            .values()
            .filter_map(Value::as_object)
            .find_map(|scope| scope.get(name))
    }

    fn is_empty(&self) -> bool {
        self.configuration.is_empty() && self.secrets.is_empty()
    }
}

/// Substitutes every string inside `value` (keys are left alone).
pub fn substitute(value: &Value, vars: &Vars) -> Value {
    if vars.is_empty() {
        return value.clone();
    }
    match value {
        Value::String(text) => substitute_str(text, vars),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn is_ident(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// The identifier of a whole-string `${name}`, if the text is exactly that.
fn whole_braced(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    let bytes = inner.as_bytes();
    (!bytes.is_empty() && is_start(bytes[0]) && bytes.iter().all(|&c| is_ident(c))).then_some(inner)
}

/// Substitutes one string; returns a typed value for a whole-string `${name}`.
pub fn substitute_str(text: &str, vars: &Vars) -> Value {
    if let Some(name) = whole_braced(text)
        && let Some(value) = vars.lookup(name)
    {
        return value.clone();
    }
    Value::String(substitute_text(text, vars))
}

/// Template substitution that always gives a string.
pub fn substitute_text(text: &str, vars: &Vars) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&text[copied..i]);
        let rest = &bytes[i + 1..];
        if rest.first() == Some(&b'$') {
            out.push('$');
            i += 2;
        } else if rest.first() == Some(&b'{') {
            let name_len = rest[1..].iter().take_while(|&&c| is_ident(c)).count();
            let valid = name_len > 0 && is_start(rest[1]) && rest.get(1 + name_len) == Some(&b'}');
            if valid {
                let name = &text[i + 2..i + 2 + name_len];
                match vars.lookup(name) {
                    Some(value) => out.push_str(&py_str(value)),
                    None => out.push_str(&text[i..i + 3 + name_len]),
                }
                i += 3 + name_len;
            } else {
                out.push('$');
                i += 1;
            }
        } else {
            let name_len = if rest.first().is_some_and(|&c| is_start(c)) {
                rest.iter().take_while(|&&c| is_ident(c)).count()
            } else {
                0
            };
            if name_len > 0 {
                let name = &text[i + 1..i + 1 + name_len];
                match vars.lookup(name) {
                    Some(value) => out.push_str(&py_str(value)),
                    None => out.push_str(&text[i..i + 1 + name_len]),
                }
                i += 1 + name_len;
            } else {
                out.push('$');
                i += 1;
            }
        }
        copied = i;
    }
    out.push_str(&text[copied..]);
    out
}

/// Python's `str()` of a JSON value (`True`, `None`, `['a', 1]`, `{'k': 'v'}`).
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::String(text) => {
            if text.contains('\'') && !text.contains('"') {
                format!("\"{text}\"")
            } else {
                format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let Value::Object(configuration) = json!({
            "base_url": "http://127.0.0.1:3000",
            "port": 3000,
            "flag": true,
            "codes": [200, 201],
            "shadow": "from-config",
        }) else {
            unreachable!()
        };
        let Value::Object(secrets) = json!({
            "api": {"token": "s3cret", "shadow": "from-secret"},
        }) else {
            unreachable!()
        };
        Vars {
            configuration,
            secrets,
        }
    }

    #[test]
    fn braced_and_bare_names() {
        let v = vars();
        assert_eq!(
            substitute_text("${base_url}/items", &v),
            "http://127.0.0.1:3000/items"
        );
        assert_eq!(
            substitute_text("$base_url/items", &v),
            "http://127.0.0.1:3000/items"
        );
        assert_eq!(substitute_text("port=$port!", &v), "port=3000!");
        assert_eq!(substitute_text("Bearer ${token}", &v), "Bearer s3cret");
    }

    #[test]
    fn whole_string_keeps_the_type() {
        let v = vars();
        assert_eq!(substitute_str("${port}", &v), json!(3000));
        assert_eq!(substitute_str("${flag}", &v), json!(true));
        assert_eq!(substitute_str("${codes}", &v), json!([200, 201]));
        // Only the braced form is typed; `$port` alone is text.
        assert_eq!(substitute_str("$port", &v), json!("3000"));
        // Inside a longer string, Python's str() of the value.
        assert_eq!(
            substitute_str("on=${flag} ${codes}", &v),
            json!("on=True [200, 201]")
        );
    }

    #[test]
    fn unknown_names_and_escapes_are_left() {
        let v = vars();
        assert_eq!(
            substitute_text("${nope} $nope ${ 1} $1 $", &v),
            "${nope} $nope ${ 1} $1 $"
        );
        assert_eq!(substitute_str("${nope}", &v), json!("${nope}"));
        assert_eq!(substitute_text("cost: $$5 $$port", &v), "cost: $5 $port");
    }

    #[test]
    fn one_pass_and_configuration_first() {
        let mut v = vars();
        v.configuration
            .insert("nested".into(), json!("${base_url}"));
        assert_eq!(substitute_text("${nested}", &v), "${base_url}");
        assert_eq!(substitute_text("${shadow}", &v), "from-config");
    }

    #[test]
    fn nested_values_and_empty_vars() {
        let v = vars();
        let value = json!({"url": "${base_url}", "args": ["${port}", {"x": "$flag"}], "n": 1});
        assert_eq!(
            substitute(&value, &v),
            json!({"url": "http://127.0.0.1:3000", "args": [3000, {"x": "True"}], "n": 1})
        );
        assert_eq!(substitute(&json!("$$"), &Vars::default()), json!("$$"));
    }
}
