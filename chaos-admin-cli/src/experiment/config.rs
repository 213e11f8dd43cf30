//! Configuration, secrets and their overrides (`--var`, `--var-file`), as chaoslib
//! loads them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::subst::Vars;

/// Overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Configuration values (`--var`, the `configuration` of a var file).
    pub configuration: Map<String, Value>,
    /// Secret values by scope (the `secrets` of a var file).
    pub secrets: Map<String, Value>,
    /// Environment variables from `KEY=VALUE` var files; seen by `env` entries and by
    /// process activities.
    pub env: BTreeMap<String, String>,
}

impl Overrides {
    /// An environment variable, from a var file or the process.
    pub fn env_var(&self, key: &str) -> Option<String> {
        self.env
            .get(key)
            .cloned()
            .or_else(|| std::env::var(key).ok())
    }
}

/// Parses `key[:type]=value` (types: str, int, float, bool, json).
pub fn parse_var(text: &str) -> Result<(String, Value), String> {
    let Some((key, raw)) = text.split_once('=') else {
        return Err(format!(
            "invalid --var '{text}': the format is key[:type]=value, e.g. consumer=consumer_after or port:int=3000"
        ));
    };
    let (key, kind) = match key.rsplit_once(':') {
        Some((key, kind)) => (key, Some(kind)),
        None => (key, None),
    };
    if key.is_empty() {
        return Err(format!("invalid --var '{text}': the key is empty"));
    }
    let value =
        convert_to_type(kind, raw).map_err(|why| format!("invalid --var '{text}': {why}"))?;
    Ok((key.to_owned(), value))
}

/// chaoslib's `convert_to_type` (`int`/`float` read text as Python does: [`super::pynum`]).
pub fn convert_to_type(kind: Option<&str>, raw: &str) -> Result<Value, String> {
    match kind {
        None | Some("str" | "string" | "bytes") => Ok(Value::String(raw.to_owned())),
        // Python's int() and float(): Unicode digits, `_` between digits.
        // Beyond 64 bits (Python's ints are unbounded) the nearest float stands in; JSON
        // has no infinity, so the largest float stands for `inf`.
        Some("int" | "integer") => super::pynum::normalize(raw)
            .and_then(|text| {
                let text = text.strip_prefix('+').unwrap_or(&text).to_owned();
                if let Ok(n) = text.parse::<i64>() {
                    return Some(Value::from(n));
                }
                if let Ok(n) = text.parse::<u64>() {
                    return Some(Value::from(n));
                }
                let digits = text.strip_prefix('-').unwrap_or(&text);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                text.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            })
            .ok_or_else(|| format!("'{raw}' is not an int")),
        Some("float" | "number") => super::pynum::normalize(raw)
            .and_then(|text| text.parse::<f64>().ok())
            .map(super::pynum::finite)
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("'{raw}' is not a float")),
        Some("bool") => Ok(Value::Bool(!matches!(
            raw.to_ascii_lowercase().as_str(),
            "false" | "0" | "no"
        ))),
        Some("json") => {
            if raw.is_empty() {
                Ok(Value::String(String::new()))
            } else {
                serde_json::from_str(raw).map_err(|err| format!("'{raw}' is not JSON: {err}"))
            }
        }
        Some(other) => Err(format!(
            "unknown type '{other}': allowed are str, int, float, bool, json"
        )),
    }
}

/// Reads one `--var-file`: JSON or YAML `{configuration, secrets}` (by extension), or
/// `KEY=VALUE` lines (environment variables, like a `.env` file).
pub fn load_var_file(path: &Path, overrides: &mut Overrides) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read var file {}: {err}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let data: Option<Value> = match ext {
        "json" => Some(
            serde_json::from_str(&text)
                .map_err(|err| format!("cannot parse var file {}: {err}", path.display()))?,
        ),
        "yaml" | "yml" => Some(
            super::yaml::from_str(&text)
                .map_err(|err| format!("cannot parse var file {}:{err}", path.display()))?,
        ),
        _ => None,
    };
    match data {
        Some(Value::Object(map)) => {
            if let Some(Value::Object(configuration)) = map.get("configuration") {
                overrides.configuration.extend(configuration.clone());
            }
            if let Some(Value::Object(secrets)) = map.get("secrets") {
                overrides.secrets.extend(secrets.clone());
            }
            Ok(())
        }
        Some(Value::Null) => Ok(()),
        Some(_) => Err(format!(
            "var file {} must be a mapping with `configuration` and/or `secrets`",
            path.display()
        )),
        None => {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((key, value)) = line.split_once('=') else {
                    return Err(format!(
                        "{}:{}: expected KEY=VALUE, found '{line}'",
                        path.display(),
                        n + 1
                    ));
                };
                overrides
                    .env
                    .insert(key.trim().to_owned(), value.to_owned());
            }
            Ok(())
        }
    }
}

/// Resolves the experiment's `configuration` and `secrets` into substitution values.
pub fn load(experiment: &Value, overrides: &Overrides) -> Result<Vars, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut configuration = Map::new();
    if let Some(Value::Object(declared)) = experiment.get("configuration") {
        for (key, value) in declared {
            let location = format!("configuration.{key}");
            // An override may replace the whole declaration.
            let value = overrides.configuration.get(key).unwrap_or(value);
            match resolve_entry(value, overrides, Entry::Configuration) {
                Ok(value) => {
                    configuration.insert(key.clone(), value);
                }
                Err(message) => problems.push((location, message)),
            }
        }
    }
    let mut secrets = Map::new();
    // A var file's secret scope replaces the experiment's scope of that name whole (as
    // chaoslib updates the secrets mapping): keys it leaves out are gone, not merged.
    let mut scopes = experiment
        .get("secrets")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // Only scopes the experiment declares, and only by a mapping; another scope (or a
    // null) in a var file is ignored, as in chaoslib.
    for (scope, entries) in &overrides.secrets {
        if let (Some(declared), true) = (scopes.get_mut(scope), entries.is_object()) {
            *declared = entries.clone();
        }
    }
    {
        for (scope, entries) in &scopes {
            let Value::Object(entries) = entries else {
                problems.push((
                    format!("secrets.{scope}"),
                    "a secrets scope must be a mapping of names to values".to_owned(),
                ));
                continue;
            };
            let mut resolved = Map::new();
            for (key, value) in entries {
                match resolve_entry(value, overrides, Entry::Secret) {
                    Ok(value) => {
                        resolved.insert(key.clone(), value);
                    }
                    Err(message) => problems.push((format!("secrets.{scope}.{key}"), message)),
                }
            }
            secrets.insert(scope.clone(), Value::Object(resolved));
        }
    }
    if problems.is_empty() {
        Ok(Vars {
            configuration,
            secrets,
        })
    } else {
        Err(problems)
    }
}

/// Whether an entry belongs to `configuration` or to `secrets`: they resolve `env`
/// entries differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Configuration,
    Secret,
}

/// Resolves one entry: plain values as they are (so is a configuration mapping of another
/// `type`, as in chaoslib); `{"type": "env", "key": K}` from the environment; a
/// `{"type": "probe", "provider": ...}` configuration entry stays as it is: the runner runs
/// it when the run starts ([`is_dynamic`]). For configuration, `env_var_type` converts the value and `default`
/// stands in for an unset variable; a secret is the variable's raw string, and an unset
/// one is an error whatever its `default` says (chaoslib).
fn resolve_entry(value: &Value, overrides: &Overrides, entry: Entry) -> Result<Value, String> {
    let Value::Object(map) = value else {
        return Ok(value.clone());
    };
    match map.get("type").and_then(Value::as_str) {
        Some("env") => {
            let Some(env_key) = map.get("key").and_then(Value::as_str) else {
                return Err("an env entry needs a `key` naming the environment variable".to_owned());
            };
            let raw = overrides.env_var(env_key);
            if entry == Entry::Secret {
                return raw.map(Value::String).ok_or_else(|| {
                    format!(
                        "Secrets make reference to an environment key that does not exist: {env_key} (a secret's `default` is not used, as in Chaos Toolkit)"
                    )
                });
            }
            let kind = map.get("env_var_type").and_then(Value::as_str);
            match raw {
                Some(raw) => convert_to_type(kind, &raw),
                None => match map.get("default") {
                    Some(Value::String(raw)) => convert_to_type(kind, raw),
                    Some(default) => Ok(default.clone()),
                    None => Err(format!(
                        "makes reference to an environment key that does not exist: {env_key}"
                    )),
                },
            }
        }
        // Dynamic configuration: kept as declared here and run just before the experiment
        // (see `dynamic_keys`); chaoslib crashes on one without a provider, we refuse it.
        Some("probe") if entry == Entry::Configuration => {
            let provider_type = map
                .get("provider")
                .and_then(|p| p.get("type"))
                .and_then(Value::as_str);
            match provider_type {
                Some("http" | "process" | "chaos") => Ok(value.clone()),
                _ => Err(
                    "a dynamic configuration probe needs a `provider` with a `type` (http, process or chaos)"
                        .to_owned(),
                ),
            }
        }
        Some(other @ ("vault" | "probe" | "action")) if entry == Entry::Secret => Err(format!(
            "secrets of type '{other}' are not supported by chaos-admin: allowed are plain values and {{\"type\": \"env\", \"key\": ...}}"
        )),
        // Any other mapping is a plain value.
        _ => Ok(value.clone()),
    }
}

/// Whether a resolved configuration value is dynamic configuration: a probe whose output
/// becomes the value when the run starts (chaoslib's `load_dynamic_configuration`).
pub fn is_dynamic(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("probe")
        && value.get("provider").is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn var_types() {
        assert_eq!(parse_var("a=b=c"), Ok(("a".into(), json!("b=c"))));
        assert_eq!(parse_var("port:int=3000"), Ok(("port".into(), json!(3000))));
        assert_eq!(
            parse_var("ratio:float=0.5"),
            Ok(("ratio".into(), json!(0.5)))
        );
        assert_eq!(parse_var("on:bool=no"), Ok(("on".into(), json!(false))));
        assert_eq!(parse_var("on:bool=yes"), Ok(("on".into(), json!(true))));
        assert_eq!(parse_var("l:json=[1,2]"), Ok(("l".into(), json!([1, 2]))));
        assert_eq!(
            parse_var("u:str=http://x:1"),
            Ok(("u".into(), json!("http://x:1")))
        );
        for bad in ["novalue", "port:int=x", "x:weird=1", "=1", "l:json={"] {
            assert!(parse_var(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configuration_env_defaults_and_overrides() {
        let experiment = json!({
            "configuration": {
                "plain": "p",
                "from_env": {"type": "env", "key": "CHAOS_TEST_CFG_SET"},
                "with_default": {"type": "env", "key": "CHAOS_TEST_CFG_UNSET_1", "default": "d"},
                "typed": {"type": "env", "key": "CHAOS_TEST_CFG_PORT", "env_var_type": "int"},
                "overridden": "old"
            },
            "secrets": {"api": {"token": {"type": "env", "key": "CHAOS_TEST_CFG_SET"}}}
        });
        let mut overrides = Overrides::default();
        overrides
            .env
            .insert("CHAOS_TEST_CFG_SET".into(), "from-env".into());
        overrides
            .env
            .insert("CHAOS_TEST_CFG_PORT".into(), "8080".into());
        overrides
            .configuration
            .insert("overridden".into(), json!("new"));
        // Only declared keys are overridden.
        overrides
            .configuration
            .insert("undeclared".into(), json!("x"));
        let vars = load(&experiment, &overrides).expect("loads");
        assert_eq!(vars.configuration["plain"], "p");
        assert_eq!(vars.configuration["from_env"], "from-env");
        assert_eq!(vars.configuration["with_default"], "d");
        assert_eq!(vars.configuration["typed"], 8080);
        assert_eq!(vars.configuration["overridden"], "new");
        assert!(!vars.configuration.contains_key("undeclared"));
        assert_eq!(vars.lookup("token"), Some(&json!("from-env")));

        let missing =
            json!({"configuration": {"x": {"type": "env", "key": "CHAOS_TEST_CFG_UNSET_2"}}});
        let problems = load(&missing, &Overrides::default()).expect_err("missing env");
        assert_eq!(problems[0].0, "configuration.x");
        assert!(problems[0].1.contains("CHAOS_TEST_CFG_UNSET_2"));
    }

    #[test]
    fn var_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let json_file = dir.path().join("vars.json");
        std::fs::write(
            &json_file,
            r#"{"configuration": {"a": 1}, "secrets": {"s": {"k": "v"}}}"#,
        )
        .expect("write");
        let yaml_file = dir.path().join("vars.yaml");
        std::fs::write(&yaml_file, "configuration:\n  b: two\n").expect("write");
        let env_file = dir.path().join("vars.env");
        std::fs::write(&env_file, "# comment\nX_ONE=1\n\nX_TWO=a=b\n").expect("write");
        let mut overrides = Overrides::default();
        for file in [&json_file, &yaml_file, &env_file] {
            load_var_file(file, &mut overrides).expect("var file loads");
        }
        assert_eq!(overrides.configuration["a"], 1);
        assert_eq!(overrides.configuration["b"], "two");
        assert_eq!(overrides.secrets["s"]["k"], "v");
        assert_eq!(overrides.env["X_TWO"], "a=b");
        let bad = dir.path().join("bad.env");
        std::fs::write(&bad, "no equals here\n").expect("write");
        let err = load_var_file(&bad, &mut overrides).expect_err("bad line");
        assert!(err.contains(":1:"), "{err}");
    }
}
