//! Validation: every problem, each with its location in the file (`method[1].provider.url`).
//! The rules are chaoslib's `ensure_experiment_is_valid`, which stops at the first
//! problem; we list them all.

use serde_json::Value;

use super::providers::{chaos, process};
use super::runner::{HypothesisStrategy, named_activities};

/// One problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path in the document, e.g. `method[0].provider.url`.
    pub location: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            location: location.into(),
            message: message.into(),
        });
    }
}

fn non_empty_str(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// Checks an experiment; an empty list means valid.
pub fn validate(experiment: &Value) -> Vec<Problem> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let Value::Object(root) = experiment else {
        c.add("(root)", "an experiment must be a mapping (a JSON object)");
        return c.problems;
    };
    if root.is_empty() {
        c.add("(root)", "an empty experiment is not an experiment");
        return c.problems;
    }
    if !non_empty_str(root.get("title")) {
        c.add("title", "experiment requires a title (a non-empty string)");
    }
    if !non_empty_str(root.get("description")) {
        c.add(
            "description",
            "experiment requires a description (a non-empty string)",
        );
    }
    match root.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tags)) => {
            for (i, tag) in tags.iter().enumerate() {
                if !non_empty_str(Some(tag)) {
                    c.add(
                        format!("tags[{i}]"),
                        "experiment tags must be non-empty strings",
                    );
                }
            }
        }
        Some(_) => c.add("tags", "tags must be a list of strings"),
    }
    for key in ["configuration", "secrets"] {
        if let Some(value) = root.get(key)
            && !value.is_object()
            && !value.is_null()
        {
            c.add(key, format!("{key} must be a mapping"));
        }
    }
    let named = named_activities(experiment);
    match root.get("steady-state-hypothesis") {
        None | Some(Value::Null) => {}
        Some(Value::Object(hypothesis)) => {
            if hypothesis.contains_key("controls") {
                check_named_list(
                    &mut c,
                    hypothesis.get("controls"),
                    "steady-state-hypothesis.controls",
                    "provider",
                );
            }
            if !non_empty_str(hypothesis.get("title")) {
                c.add(
                    "steady-state-hypothesis.title",
                    "hypothesis requires a title",
                );
            }
            match hypothesis.get("probes") {
                None | Some(Value::Null) => {}
                Some(Value::Array(probes)) => {
                    for (i, probe) in probes.iter().enumerate() {
                        let at = format!("steady-state-hypothesis.probes[{i}]");
                        check_activity(&mut c, &at, probe, &named);
                        // A `ref` entry needs its own tolerance too (chaoslib reads the
                        // tolerance from the hypothesis entry, not the referenced one).
                        match probe.get("tolerance") {
                            None => c.add(&at, "hypothesis probe must have a tolerance entry"),
                            Some(tolerance) => check_tolerance(
                                &mut c,
                                &format!("{at}.tolerance"),
                                tolerance,
                                &named,
                            ),
                        }
                    }
                }
                Some(_) => c.add("steady-state-hypothesis.probes", "probes must be a list"),
            }
        }
        Some(_) => c.add(
            "steady-state-hypothesis",
            "the hypothesis must be a mapping",
        ),
    }
    match root.get("method") {
        None => c.add(
            "method",
            "an experiment requires a method, which can be empty for only checking the steady state hypothesis",
        ),
        Some(Value::Array(method)) => {
            // A method `ref` may name a hypothesis probe or a method activity, not an
            // activity that exists only in the rollbacks (chaoslib).
            let mut before_rollbacks = experiment.clone();
            if let Value::Object(map) = &mut before_rollbacks {
                map.remove("rollbacks");
            }
            let named_in_method = named_activities(&before_rollbacks);
            for (i, activity) in method.iter().enumerate() {
                check_activity(&mut c, &format!("method[{i}]"), activity, &named_in_method);
            }
        }
        Some(_) => c.add("method", "the method must be a list of activities"),
    }
    match root.get("rollbacks") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rollbacks)) => {
            for (i, activity) in rollbacks.iter().enumerate() {
                check_activity(&mut c, &format!("rollbacks[{i}]"), activity, &named);
            }
        }
        Some(_) => c.add("rollbacks", "rollbacks must be a list of activities"),
    }
    if let Some(runtime) = root.get("runtime") {
        if let Some(strategy) = runtime.pointer("/hypothesis/strategy")
            && strategy
                .as_str()
                .and_then(HypothesisStrategy::parse)
                .is_none()
        {
            c.add(
                    "runtime.hypothesis.strategy",
                    format!("unknown strategy {strategy}: allowed are default, before-method-only, after-method-only, during-method-only, continuously"),
                );
        }
        // An unknown rollback strategy is accepted (and plays no rollbacks), as in
        // Chaos Toolkit; only a non-string is refused.
        if let Some(strategy) = runtime.pointer("/rollbacks/strategy")
            && !strategy.is_string()
        {
            c.add(
                "runtime.rollbacks.strategy",
                format!(
                    "strategy {strategy} is not a name: allowed are default, always, never, deviated"
                ),
            );
        }
    }
    check_named_list(&mut c, root.get("controls"), "controls", "provider");
    check_named_list(&mut c, root.get("extensions"), "extensions", "name");
    c.problems
}

/// `controls` and `extensions`: lists of mappings, each with `required` (chaoslib refuses
/// a control without `provider` and an extension without `name`); otherwise ignored.
fn check_named_list(c: &mut Checker, list: Option<&Value>, key: &str, required: &str) {
    match list {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if item.get(required).is_none_or(Value::is_null) {
                    c.add(
                        format!("{key}[{i}]"),
                        format!("each of {key} needs a `{required}`"),
                    );
                }
            }
        }
        Some(_) => c.add(key, format!("{key} must be a list")),
    }
}

fn is_pause(value: &Value) -> bool {
    match value {
        Value::Null | Value::Number(_) => true,
        Value::String(s) => s.starts_with("${") && s.ends_with('}'),
        _ => false,
    }
}

fn check_activity(
    c: &mut Checker,
    at: &str,
    activity: &Value,
    named: &std::collections::HashMap<String, Value>,
) {
    let Value::Object(map) = activity else {
        c.add(at, "an activity must be a mapping");
        return;
    };
    if map.is_empty() {
        c.add(at, "empty activity is no activity");
        return;
    }
    // Controls on an activity are checked like the experiment's (each needs a provider).
    if map.contains_key("controls") {
        check_named_list(
            c,
            map.get("controls"),
            &format!("{at}.controls"),
            "provider",
        );
    }
    if let Some(reference) = map.get("ref") {
        match reference.as_str().filter(|r| !r.is_empty()) {
            None => c.add(
                format!("{at}.ref"),
                "reference to activity must be non-empty strings",
            ),
            Some(name) if !named.contains_key(name) => c.add(
                format!("{at}.ref"),
                format!("referenced activity '{name}' could not be found in the experiment"),
            ),
            Some(_) => {}
        }
        return;
    }
    match map.get("type").and_then(Value::as_str) {
        None => c.add(
            format!("{at}.type"),
            "an activity must have a type: probe or action",
        ),
        Some("probe" | "action") => {}
        Some(other) => c.add(
            format!("{at}.type"),
            format!("'{other}' is not a supported activity type: allowed are probe, action"),
        ),
    }
    if !non_empty_str(map.get("name")) {
        c.add(format!("{at}.name"), "an activity must have a name");
    }
    if let Some(timeout) = map.get("timeout")
        && !timeout.is_number()
        && !timeout.is_null()
    {
        c.add(format!("{at}.timeout"), "activity timeout must be a number");
    }
    if let Some(pauses) = map.get("pauses") {
        for key in ["before", "after"] {
            if let Some(value) = pauses.get(key)
                && !is_pause(value)
            {
                c.add(
                    format!("{at}.pauses.{key}"),
                    format!("activity {key} pause must be a number or a pattern to a variable from the configuration or secrets"),
                );
            }
        }
    }
    if let Some(background) = map.get("background")
        && !background.is_boolean()
    {
        c.add(
            format!("{at}.background"),
            "activity background must be a boolean",
        );
    }
    let Some(provider) = map.get("provider").filter(|p| !p.is_null()) else {
        c.add(format!("{at}.provider"), "an activity requires a provider");
        return;
    };
    check_provider(c, &format!("{at}.provider"), provider);
}

fn check_provider(c: &mut Checker, at: &str, provider: &Value) {
    let Value::Object(map) = provider else {
        c.add(at, "a provider must be a mapping");
        return;
    };
    match map.get("type").and_then(Value::as_str) {
        None => c.add(format!("{at}.type"), "a provider must have a type: http, process or chaos"),
        Some("http") => {
            if !non_empty_str(map.get("url")) {
                c.add(format!("{at}.url"), "a HTTP activity must have a URL");
            }
            if let Some(headers) = map.get("headers")
                && !headers.is_object()
                && !headers.is_null()
            {
                c.add(format!("{at}.headers"), "a HTTP activity expects headers as a mapping");
            }
            if let Some(method) = map.get("method")
                && !method.is_string()
            {
                c.add(format!("{at}.method"), "the HTTP method must be a string such as GET");
            }
        }
        Some("process") => match map.get("path").and_then(Value::as_str) {
            None | Some("") => c.add(format!("{at}.path"), "a process activity must have a path"),
            Some(path) if process::which(path).is_none() => c.add(
                format!("{at}.path"),
                format!("path '{path}' cannot be found (not an executable file, nor on PATH)"),
            ),
            Some(_) => {}
        },
        Some("chaos") => {
            // Values taken from the configuration are checked when the run substitutes them.
            if !provider.to_string().contains('$')
                && let Err(message) = chaos::parse(provider)
            {
                c.add(at.to_owned(), message);
            }
        }
        Some("python") => c.add(
            format!("{at}.type"),
            "python providers are not supported by chaos-admin: use http, process, or the native chaos provider",
        ),
        Some(other) => c.add(
            format!("{at}.type"),
            format!("unknown provider type '{other}': allowed are http, process, chaos"),
        ),
    }
}

fn check_tolerance(
    c: &mut Checker,
    at: &str,
    tolerance: &Value,
    named: &std::collections::HashMap<String, Value>,
) {
    match tolerance {
        Value::Bool(_) | Value::String(_) | Value::Array(_) => {}
        Value::Number(n) if n.is_i64() || n.is_u64() => {}
        Value::Object(map) => match map.get("type").and_then(Value::as_str) {
            Some("probe") => check_activity(c, at, tolerance, named),
            Some("regex") => match map.get("pattern") {
                None => c.add(at, "hypothesis regex probe tolerance must have a `pattern` key"),
                Some(Value::String(pattern)) => {
                    if !pattern.contains('$')
                        && let Err(err) = crate::experiment::tolerance::compile_python_regex(pattern)
                    {
                        c.add(
                            format!("{at}.pattern"),
                            format!("hypothesis probe tolerance pattern {pattern} seems invalid: {}", crate::error::one_line(&err.to_string())),
                        );
                    }
                }
                Some(other) => c.add(
                    format!("{at}.pattern"),
                    format!("hypothesis probe tolerance pattern {other} has an invalid type"),
                ),
            },
            Some("jsonpath") => match map.get("path") {
                None => c.add(at, "hypothesis jsonpath probe tolerance must have a `path` key"),
                Some(Value::String(path)) if path.trim().is_empty() => c.add(
                    format!("{at}.path"),
                    "hypothesis probe tolerance JSON path cannot be empty",
                ),
                Some(Value::String(path)) => {
                    // As written, `${...}` included: chaoslib parses the raw path too.
                    if let Err(err) = super::jsonpath2::Path::parse(path) {
                        let shown: String = path.chars().take(80).collect();
                        let cut = if path.chars().count() > 80 { "…" } else { "" };
                        c.add(
                            format!("{at}.path"),
                            format!(
                                "hypothesis probe tolerance JSON path {shown}{cut} is invalid: {err}"
                            ),
                        );
                    }
                }
                Some(_) => c.add(
                    format!("{at}.path"),
                    "hypothesis probe tolerance JSON path has an invalid type",
                ),
            },
            Some("range") => match map.get("range") {
                None => c.add(at, "hypothesis range probe tolerance must have a `range` key"),
                Some(Value::Array(bounds)) if bounds.len() == 2 => {
                    // Python's `isinstance(x, (int, float))`: booleans are ints.
                    let number = |v: &Value| v.is_number() || v.is_boolean();
                    if !number(&bounds[0]) {
                        c.add(format!("{at}.range[0]"), "hypothesis range lower boundary must be a number");
                    }
                    if !number(&bounds[1]) {
                        c.add(format!("{at}.range[1]"), "hypothesis range upper boundary must be a number");
                    }
                }
                Some(Value::Array(_)) => c.add(
                    format!("{at}.range"),
                    "hypothesis range sequence must be made of two values",
                ),
                Some(_) => c.add(format!("{at}.range"), "hypothesis range must be a sequence"),
            },
            other => c.add(
                format!("{at}.type"),
                format!(
                    "hypothesis probe tolerance type {} is unsupported: allowed are probe, regex, jsonpath, range",
                    other.map_or("(none)".to_owned(), |t| format!("'{t}'"))
                ),
            ),
        },
        _ => c.add(
            at,
            "hypothesis probe tolerance must either be an integer, a string, a boolean or a pair of values for boundaries, or a mapping (probe, regex, jsonpath, range)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locations(experiment: Value) -> Vec<String> {
        validate(&experiment)
            .into_iter()
            .map(|p| p.location)
            .collect()
    }

    #[test]
    fn a_good_experiment_is_valid() {
        let experiment = json!({
            "title": "t", "description": "d", "tags": ["a"],
            "steady-state-hypothesis": {"title": "h", "probes": [
                {"type": "probe", "name": "p", "tolerance": 200,
                 "provider": {"type": "http", "url": "http://x"}},
                {"type": "probe", "name": "q", "tolerance": {"type": "jsonpath", "path": "$.a[*]", "count": 1},
                 "provider": {"type": "process", "path": "sh", "arguments": ["-c", "echo {}"]}},
                {"ref": "p", "tolerance": 200}
            ]},
            "method": [{"type": "action", "name": "a", "pauses": {"after": "${wait}"},
                        "provider": {"type": "chaos", "action": "create", "verb": "return", "view": "v", "status": 503}}],
            "rollbacks": [{"type": "action", "name": "r", "provider": {"type": "chaos", "action": "delete", "tag": "experiment"}}]
        });
        assert_eq!(validate(&experiment), vec![]);
    }

    #[test]
    fn every_problem_is_listed_with_its_location() {
        let experiment = json!({
            "title": "", "tags": ["", 1],
            "steady-state-hypothesis": {"probes": [
                {"type": "probe", "name": "p", "provider": {"type": "http"}},
                {"type": "probe", "name": "q", "tolerance": {"type": "regex", "pattern": "("},
                 "provider": {"type": "process", "path": "/no/such/program"}},
                {"type": "probe", "name": "r", "tolerance": {"type": "range", "range": [1, "x"]},
                 "provider": {"type": "python", "module": "m", "func": "f"}},
                {"type": "probe", "name": "s", "tolerance": 1.5, "provider": {"type": "http", "url": "u"}}
            ]},
            "method": [
                {"type": "explode", "provider": {"type": "chaos", "action": "create", "verb": "return", "view": "v", "status": 700}},
                {"ref": "nowhere"},
                {"type": "action", "name": "x", "pauses": {"before": "soon"}, "background": "yes"}
            ],
            "runtime": {"rollbacks": {"strategy": 5}}
        });
        assert_eq!(
            locations(experiment),
            vec![
                "title",
                "description",
                "tags[0]",
                "tags[1]",
                "steady-state-hypothesis.title",
                "steady-state-hypothesis.probes[0].provider.url",
                "steady-state-hypothesis.probes[0]",
                "steady-state-hypothesis.probes[1].provider.path",
                "steady-state-hypothesis.probes[1].tolerance.pattern",
                "steady-state-hypothesis.probes[2].provider.type",
                "steady-state-hypothesis.probes[2].tolerance.range[1]",
                "steady-state-hypothesis.probes[3].tolerance",
                "method[0].type",
                "method[0].name",
                "method[0].provider",
                "method[1].ref",
                "method[2].pauses.before",
                "method[2].background",
                "method[2].provider",
                "runtime.rollbacks.strategy",
            ]
        );
    }

    #[test]
    fn references_controls_and_extensions_as_chaos_toolkit_checks_them() {
        let experiment = json!({
            "title": "t", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [{"ref": "m"}]},
            "method": [{"type": "probe", "name": "m", "provider": {"type": "http", "url": "u"}},
                       {"ref": "undo"}],
            "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "http", "url": "u"}},
                          {"ref": "m"}],
            "controls": [{"name": "c"}],
            "extensions": [{"data": 1}, {"name": "ok"}],
            "runtime": {"rollbacks": {"strategy": "sometimes"}}
        });
        assert_eq!(
            locations(experiment),
            vec![
                "steady-state-hypothesis.probes[0]",
                "method[1].ref",
                "controls[0]",
                "extensions[0]",
            ]
        );
    }

    #[test]
    fn method_is_required_but_may_be_empty() {
        let base = json!({"title": "t", "description": "d"});
        assert_eq!(locations(base.clone()), vec!["method"]);
        let mut empty = base;
        empty["method"] = json!([]);
        assert!(locations(empty).is_empty());
    }
}
