//! The native `chaos` provider: creates, enables, disables and deletes chaos actions in
//! the store, so an experiment injects faults without shelling out.
//!
//! ```json
//! {"type": "chaos", "action": "create", "verb": "return", "view": "provider", "status": 503}
//! {"type": "chaos", "action": "delete", "tag": "experiment"}
//! ```
//!
//! `create` takes the verb and its fields exactly as the action model serializes them
//! (`verb`, `status`, `body`, `min_ms`, `max_ms`, ... — new verbs work without change),
//! plus `view` (or `target`), `kind` (default `response`), `probability` (0.25 or "25%"),
//! `users`, `groups`, `hosts`, `methods`, `enabled`, `for` ("10m"), `note`, `tag`
//! (default `experiment`), and the windows of `chaos-admin create`: `between`
//! ("09:00-17:00" or a list), `days` ("mon-fri"), `tz` ("Europe/Berlin") and `start_at`
//! (RFC 3339). For `slow`, `min`/`max` durations ("200ms") may replace
//! `min_ms`/`max_ms`. It outputs `{"id": N, "action": {...}}`.
//!
//! `enable`/`disable`/`delete` select by `id` (one or a list), `from_activity` (the id a
//! named `create` activity of this run output), `tag`, `view`/`kind`, or `all: true`; they
//! output `{"count": N, "ids": [...]}`. `database_url` overrides the store of the CLI.
//!
//! Guards (see `chaos-admin guard`): `guard` sets one from `max_error_rate` ("5%"),
//! `max_p99` ("2s"), `window` ("60s"), `view` and `min_requests`, and outputs `{"id": N,
//! "guard": {...}}`; `guard_reset` re-arms tripped guards and `guard_clear` removes one
//! (`id`) or all (`all: true`), both outputting `{"count": N}`; `guards` (a probe) outputs
//! `{"guards": [...], "tripped": true|false}`.
//!
//! Like the CLI's writing commands, every write waits until the live app instances
//! apply it (at most `wait_timeout`, default 5 s; `"wait": false` skips it), so a probe
//! right after an injecting action sees the fault. The output then carries `applied`:
//! `{"generation": G, "instances": N, "lagging": [ids], "waited_ms": MS}`.

use chaos_middleware::action::{now_ms, parse_duration_ms, parse_probability};
use chaos_middleware::time::expiry_after;
use chaos_middleware::{ActionSpec, Fault, Kind, Selection, Store};
use serde_json::{Map, Value};

use super::ActivityFailed;
use crate::confirm::{Confirmation, describe, wait_for_write};
use crate::experiment::runner::Ctx;

/// The tag `create` puts on actions unless told otherwise.
pub const DEFAULT_TAG: &str = "experiment";

/// Keys of a chaos provider that are not part of the fault.
const COMMON_KEYS: &[&str] = &[
    "type",
    "action",
    "database_url",
    "view",
    "target",
    "kind",
    "probability",
    "users",
    "groups",
    "hosts",
    "methods",
    "enabled",
    "for",
    "tag",
    "note",
    "arguments",
    "id",
    "from_activity",
    "all",
    "min",
    "max",
    "wait",
    "wait_timeout",
    "between",
    "days",
    "tz",
    "start_at",
];

/// What a chaos provider asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Create this action.
    Create(Box<ActionSpec>),
    /// Enable (`Some(true)`), disable (`Some(false)`) or delete (`None`) the selection.
    Change {
        /// enable/disable, or delete.
        enabled: Option<bool>,
        /// Which actions.
        select: Select,
    },
    /// Set this guard.
    Guard(chaos_middleware::guard::GuardSpec),
    /// Re-arm tripped guards.
    GuardReset,
    /// Remove one guard (`Some`) or all.
    GuardClear(Option<i64>),
    /// List the guards.
    Guards,
}

/// Keys of a guard provider that are not part of the guard.
const GUARD_COMMON_KEYS: &[&str] = &[
    "type",
    "action",
    "database_url",
    "wait",
    "wait_timeout",
    "arguments",
];

fn guard_spec(map: &Map<String, Value>) -> Result<chaos_middleware::guard::GuardSpec, String> {
    let fields: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !GUARD_COMMON_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let form: chaos_middleware::guard::GuardForm = serde_json::from_value(Value::Object(fields))
        .map_err(|err| format!("invalid chaos guard: {err}"))?;
    form.into_spec().map_err(|err| err.to_string())
}

/// How `enable`/`disable`/`delete` pick actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Select {
    /// These ids.
    Ids(Vec<i64>),
    /// The id output by a previous `create` activity with this name.
    FromActivity(String),
    /// Actions matching every given filter.
    Filter {
        /// Stored tag.
        tag: Option<String>,
        /// Target view.
        view: Option<String>,
        /// Kind.
        kind: Option<Kind>,
    },
    /// Every action.
    All,
}

fn string_list(provider: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match provider.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{key}` must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("`{key}` must be a string or a list of strings")),
    }
}

fn opt_str<'a>(provider: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match provider.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn kind_of(provider: &Map<String, Value>) -> Result<Option<Kind>, String> {
    opt_str(provider, "kind")?
        .map(|k| k.parse::<Kind>().map_err(|e| e.to_string()))
        .transpose()
}

/// The provider's actions, for messages.
const ACTIONS: &str = "create, enable, disable, delete, guard, guard_reset, guard_clear, guards";

/// Reads a chaos provider mapping.
pub fn parse(provider: &Value) -> Result<Request, String> {
    let Value::Object(map) = provider else {
        return Err("a chaos provider must be a mapping".to_owned());
    };
    match map.get("action").and_then(Value::as_str) {
        Some("create") => Ok(Request::Create(Box::new(build_spec(map)?))),
        Some(action @ ("enable" | "disable" | "delete")) => {
            let enabled = match action {
                "enable" => Some(true),
                "disable" => Some(false),
                _ => None,
            };
            Ok(Request::Change {
                enabled,
                select: selection(map, action)?,
            })
        }
        Some("guard") => Ok(Request::Guard(guard_spec(map)?)),
        Some("guard_reset") => Ok(Request::GuardReset),
        Some("guards") => Ok(Request::Guards),
        Some("guard_clear") => match (map.get("id"), map.get("all")) {
            (Some(id), None) => id
                .as_i64()
                .filter(|id| *id > 0)
                .map(|id| Request::GuardClear(Some(id)))
                .ok_or_else(|| format!("invalid `id` {id}: allowed is a positive guard id")),
            (None, Some(Value::Bool(true))) => Ok(Request::GuardClear(None)),
            _ => Err("guard_clear needs `id` (one guard) or `all: true`".to_owned()),
        },
        Some(other) => Err(format!(
            "unknown chaos action '{other}': allowed are {ACTIONS}"
        )),
        None => Err(format!(
            "a chaos provider needs an `action`: one of {ACTIONS}"
        )),
    }
}

fn selection(map: &Map<String, Value>, action: &str) -> Result<Select, String> {
    if let Some(id) = map.get("id").filter(|v| !v.is_null()) {
        let ids: Vec<Value> = match id {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        let ids = ids
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_i64().filter(|i| *i > 0),
                Value::String(s) => s.trim().parse::<i64>().ok().filter(|i| *i > 0),
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| format!("invalid `id` {id}: allowed are positive action ids"))?;
        return Ok(Select::Ids(ids));
    }
    if let Some(name) = opt_str(map, "from_activity")? {
        return Ok(Select::FromActivity(name.to_owned()));
    }
    if map.get("all") == Some(&Value::Bool(true)) {
        return Ok(Select::All);
    }
    let tag = opt_str(map, "tag")?.map(str::to_owned);
    let view = opt_str(map, "view")?
        .or(opt_str(map, "target")?)
        .map(str::to_owned);
    let kind = kind_of(map)?;
    if tag.is_none() && view.is_none() && kind.is_none() {
        return Err(format!(
            "nothing to {action}: give `id`, `from_activity`, `tag`, `view` (with `kind`), or `all: true`"
        ));
    }
    Ok(Select::Filter { tag, view, kind })
}

/// Builds and validates the action a `create` describes; the fault is read by the
/// action model itself, so every verb it knows is accepted.
pub fn build_spec(map: &Map<String, Value>) -> Result<ActionSpec, String> {
    let mut fault_fields: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !COMMON_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (short, long) in [("min", "min_ms"), ("max", "max_ms")] {
        if let Some(value) = map.get(short) {
            let ms = match value {
                Value::String(text) => parse_duration_ms(text).map_err(|e| e.to_string())?,
                Value::Number(n) => n
                    .as_u64()
                    .ok_or_else(|| format!("`{short}` must be a duration such as 200ms"))?,
                _ => return Err(format!("`{short}` must be a duration such as 200ms")),
            };
            fault_fields.insert(long.to_owned(), Value::from(ms));
        }
    }
    if !fault_fields.contains_key("verb") {
        return Err("a chaos create needs a `verb` (e.g. return, slow)".to_owned());
    }
    let given = Value::Object(fault_fields.clone());
    let fault: Fault = serde_json::from_value(given).map_err(|err| {
        let verb = fault_fields
            .get("verb")
            .map(|v| v.to_string())
            .unwrap_or_default();
        format!("invalid chaos action for verb {verb}: {err}")
    })?;
    // The model ignores unknown fields; typos must not pass silently.
    let known = serde_json::to_value(&fault).map_err(|e| e.to_string())?;
    let unknown: Vec<&String> = fault_fields
        .iter()
        .filter(|(k, v)| !v.is_null() && known.get(k.as_str()).is_none())
        .map(|(k, _)| k)
        .collect();
    if let Some(key) = unknown.first() {
        return Err(format!("unknown field `{key}` for verb '{}'", fault.verb()));
    }
    let target = opt_str(map, "view")?
        .or(opt_str(map, "target")?)
        .ok_or("a chaos create needs a `view` (a view name, a route pattern, or *)")?;
    let kind = kind_of(map)?.unwrap_or(Kind::Response);
    let mut spec = ActionSpec::new(kind, target, fault);
    if let Some(probability) = map.get("probability").filter(|v| !v.is_null()) {
        spec.probability = match probability {
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::String(text) => parse_probability(text).map_err(|e| e.to_string())?,
            _ => f64::NAN,
        };
    }
    spec.users = string_list(map, "users")?;
    spec.groups = string_list(map, "groups")?;
    spec.hosts = string_list(map, "hosts")?;
    spec.methods = string_list(map, "methods")?;
    match map.get("enabled") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(enabled)) => spec.enabled = *enabled,
        Some(_) => return Err("`enabled` must be true or false".to_owned()),
    }
    if let Some(duration) = opt_str(map, "for")? {
        let ms = parse_duration_ms(duration).map_err(|e| e.to_string())?;
        spec.expires_at =
            Some(expiry_after(now_ms(), ms, "`for`", duration).map_err(|e| e.to_string())?);
    }
    chaos_middleware::schedule::from_options(
        chaos_middleware::Naming::Fields,
        now_ms(),
        &string_list(map, "between")?,
        opt_str(map, "days")?,
        opt_str(map, "tz")?,
        opt_str(map, "start_at")?,
    )
    .map_err(|e| e.to_string())?
    .apply_to(&mut spec);
    spec.tag = Some(opt_str(map, "tag")?.unwrap_or(DEFAULT_TAG).to_owned());
    spec.note = opt_str(map, "note")?.map(str::to_owned);
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

async fn store_for(provider: &Value, ctx: &Ctx) -> Result<Store, ActivityFailed> {
    let url = provider
        .get("database_url")
        .and_then(Value::as_str)
        .unwrap_or(&ctx.database_url)
        .to_owned();
    let mut stores = ctx.stores.lock().await;
    if let Some(store) = stores.get(&url) {
        return Ok(store.clone());
    }
    let store = Store::connect(&url)
        .await
        .map_err(|err| ActivityFailed(err.to_string()))?;
    stores.insert(url, store.clone());
    Ok(store)
}

/// How long a write waits for the app instances: the provider's `wait_timeout`, else the
/// run's `--wait-timeout`; `None` when `"wait": false` or `--no-wait`.
fn wait_timeout(
    provider: &Value,
    default: Option<std::time::Duration>,
) -> Result<Option<std::time::Duration>, String> {
    if provider.get("wait") == Some(&Value::Bool(false)) {
        return Ok(None);
    }
    if let Some(other) = provider
        .get("wait")
        .filter(|v| !v.is_boolean() && !v.is_null())
    {
        return Err(format!("`wait` is {other}: allowed are true and false"));
    }
    let text = match provider.get("wait_timeout") {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::String(text)) => text.as_str(),
        Some(other) => {
            return Err(format!(
                "`wait_timeout` is {other}: allowed is a duration such as \"5s\""
            ));
        }
    };
    let ms = parse_duration_ms(text).map_err(|e| e.to_string())?;
    Ok(Some(std::time::Duration::from_millis(ms)))
}

/// Carries the request out against the store, then waits for the apps to apply it.
pub async fn run(provider: &Value, ctx: &Ctx) -> Result<Value, ActivityFailed> {
    let timeout = wait_timeout(provider, ctx.wait_timeout).map_err(ActivityFailed)?;
    let store = store_for(provider, ctx).await?;
    let failed = |err: chaos_middleware::StoreError| ActivityFailed(err.to_string());
    let before = store.generation().await.map_err(failed)?;
    let mut output = write(provider, ctx, &store).await?;
    let Some(timeout) = timeout else {
        return Ok(output);
    };
    if let Some(propagation) = wait_for_write(&store, before, timeout)
        .await
        .map_err(failed)?
    {
        if let Confirmation::Warning(line) = describe(&store, &propagation, timeout) {
            ctx.log.warning(&line);
        }
        if let Value::Object(map) = &mut output {
            map.insert(
                "applied".to_owned(),
                serde_json::json!({
                    "generation": propagation.generation,
                    "instances": propagation.applied.len(),
                    "lagging": propagation.lagging.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
                    "waited_ms": u64::try_from(propagation.waited.as_millis()).unwrap_or(u64::MAX),
                }),
            );
        }
    }
    Ok(output)
}

async fn write(provider: &Value, ctx: &Ctx, store: &Store) -> Result<Value, ActivityFailed> {
    let request = parse(provider).map_err(ActivityFailed)?;
    let failed = |err: chaos_middleware::StoreError| ActivityFailed(err.to_string());
    match request {
        Request::Create(spec) => {
            let id = store.create(&spec).await.map_err(failed)?;
            let action = store.get(id).await.map_err(failed)?;
            let action = action
                .map(|a| crate::output::action_json(&a, now_ms()).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            Ok(serde_json::json!({"id": id, "action": action}))
        }
        Request::Change { enabled, select } => {
            let selection = match select {
                Select::Ids(ids) => Selection::Ids(ids),
                Select::All => Selection::All { kind: None },
                Select::FromActivity(name) => {
                    let outputs = ctx.outputs.lock().await;
                    let id = outputs
                        .get(&name)
                        .and_then(|o| o.get("id"))
                        .and_then(Value::as_i64)
                        .ok_or_else(|| {
                            ActivityFailed(format!(
                                "no action id from activity '{name}': it has not created one in this run"
                            ))
                        })?;
                    Selection::Ids(vec![id])
                }
                Select::Filter { tag, view, kind } => {
                    let listing = store.list().await.map_err(failed)?;
                    let now = now_ms();
                    let ids = listing
                        .actions
                        .iter()
                        // A bulk enable never revives an expired action (as the CLI's).
                        .filter(|a| enabled != Some(true) || !a.is_expired_at(now))
                        .filter(|a| tag.is_none() || a.spec.tag == tag)
                        .filter(|a| view.as_ref().is_none_or(|v| &a.spec.target == v))
                        .filter(|a| kind.is_none_or(|k| a.spec.kind == k))
                        .map(|a| a.id)
                        .collect::<Vec<_>>();
                    if ids.is_empty() {
                        return Ok(serde_json::json!({"count": 0, "ids": []}));
                    }
                    Selection::Ids(ids)
                }
            };
            let ids = match &selection {
                Selection::Ids(ids) => Value::from(ids.clone()),
                _ => Value::Null,
            };
            let count = match enabled {
                Some(enabled) => store.set_enabled(&selection, enabled).await,
                None => store.delete(&selection).await,
            }
            .map_err(failed)?;
            Ok(serde_json::json!({"count": count, "ids": ids}))
        }
        Request::Guard(spec) => {
            let id = store.set_guard(&spec).await.map_err(failed)?;
            let guard = store
                .guards()
                .await
                .map_err(failed)?
                .into_iter()
                .find(|g| g.id == id);
            Ok(serde_json::json!({"id": id, "guard": guard}))
        }
        Request::GuardReset => {
            let count = store.reset_guards().await.map_err(failed)?;
            Ok(serde_json::json!({"count": count}))
        }
        Request::GuardClear(id) => {
            let count = store.clear_guards(id).await.map_err(failed)?;
            Ok(serde_json::json!({"count": count}))
        }
        Request::Guards => {
            let guards = store.guards().await.map_err(failed)?;
            let tripped = guards.iter().any(|g| g.tripped.is_some());
            Ok(serde_json::json!({"guards": guards, "tripped": tripped}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guards_are_read_with_the_cli_s_rules() {
        let Request::Guard(spec) = parse(&json!({"type": "chaos", "action": "guard",
            "max_error_rate": "5%", "window": "30s", "view": "items"}))
        .expect("valid") else {
            panic!("guard expected")
        };
        assert_eq!(spec.max_error_rate, Some(0.05));
        assert_eq!(
            (spec.window_ms, spec.view.as_deref()),
            (30_000, Some("items"))
        );
        for (provider, says) in [
            (
                json!({"type": "chaos", "action": "guard", "window": "30s"}),
                "needs a limit",
            ),
            (
                json!({"type": "chaos", "action": "guard", "max_eror_rate": "5%"}),
                "max_eror_rate",
            ),
            (
                json!({"type": "chaos", "action": "guard_clear"}),
                "needs `id`",
            ),
            (
                json!({"type": "chaos", "action": "explode"}),
                "allowed are create, enable",
            ),
        ] {
            let err = parse(&provider).expect_err(says);
            assert!(err.contains(says), "{provider}: {err}");
        }
        assert_eq!(
            parse(&json!({"type": "chaos", "action": "guard_clear", "all": true})),
            Ok(Request::GuardClear(None))
        );
    }

    #[test]
    fn create_takes_the_windows_of_the_cli() {
        let Request::Create(spec) = parse(&json!({"type": "chaos", "action": "create",
            "verb": "abort", "view": "items", "between": ["09:00-12:00", "13:00-17:00"],
            "days": "mon-fri", "tz": "Europe/Berlin", "start_at": "2099-01-01T00:00:00Z"}))
        .expect("valid") else {
            panic!("create expected")
        };
        assert_eq!(
            spec.window.map(|w| w.to_string()).as_deref(),
            Some("09:00-12:00,13:00-17:00 mon-fri Europe/Berlin")
        );
        assert_eq!(spec.starts_at, Some(4_070_908_800_000));
        for (provider, says) in [
            (
                json!({"type": "chaos", "action": "create", "verb": "abort", "view": "x",
                    "between": "9-17"}),
                "invalid between '9-17'",
            ),
            (
                json!({"type": "chaos", "action": "create", "verb": "abort", "view": "x",
                    "tz": "Europe/Berlin"}),
                "tz 'Europe/Berlin' applies only with between or days",
            ),
            (
                json!({"type": "chaos", "action": "create", "verb": "abort", "view": "x",
                    "start_at": "2001-01-01T00:00:00Z"}),
                "start_at '2001-01-01T00:00:00Z' is in the past",
            ),
        ] {
            let err = parse(&provider).expect_err(says);
            assert!(err.contains(says), "{provider}: {err}");
        }
    }

    #[test]
    fn create_reads_the_fault_through_the_model() {
        let Request::Create(spec) = parse(&json!({"type": "chaos", "action": "create",
            "verb": "return", "view": "provider", "status": 503}))
        .expect("valid") else {
            panic!("create expected")
        };
        assert_eq!(spec.target, "provider");
        assert_eq!(spec.kind, Kind::Response);
        assert_eq!(spec.fault.verb(), "return");
        assert_eq!(spec.tag.as_deref(), Some(DEFAULT_TAG));
        let Request::Create(slow) = parse(&json!({"type": "chaos", "action": "create",
            "verb": "slow", "view": "items", "min": "200ms", "max": "1s", "probability": "50%",
            "tag": "mine", "for": "10m"}))
        .expect("valid") else {
            panic!("create expected")
        };
        assert_eq!(slow.probability, 0.5);
        assert_eq!(slow.tag.as_deref(), Some("mine"));
        assert!(slow.expires_at.is_some());
    }

    #[test]
    fn create_errors_name_the_problem() {
        let cases = [
            (
                json!({"action": "create", "view": "v", "status": 503}),
                "verb",
            ),
            (
                json!({"action": "create", "verb": "explode", "view": "v"}),
                "explode",
            ),
            (
                json!({"action": "create", "verb": "return", "view": "v", "status": 700}),
                "700",
            ),
            (
                json!({"action": "create", "verb": "return", "view": "v", "status": 503, "stauts": 1}),
                "stauts",
            ),
            (
                json!({"action": "create", "verb": "return", "status": 503}),
                "view",
            ),
            (
                json!({"action": "create", "verb": "return", "view": "v", "status": 503, "probability": 2}),
                "probability",
            ),
            (json!({"action": "explode"}), "explode"),
            (json!({"action": "delete"}), "nothing to delete"),
            (json!({"action": "delete", "id": "x"}), "id"),
        ];
        for (provider, needle) in cases {
            let err = parse(&provider).expect_err(&provider.to_string());
            assert!(err.contains(needle), "{provider}: {err}");
        }
    }

    #[test]
    fn selections() {
        assert_eq!(
            parse(&json!({"action": "delete", "id": [1, "2"]})),
            Ok(Request::Change {
                enabled: None,
                select: Select::Ids(vec![1, 2])
            })
        );
        assert_eq!(
            parse(&json!({"action": "disable", "tag": "experiment"})),
            Ok(Request::Change {
                enabled: Some(false),
                select: Select::Filter {
                    tag: Some("experiment".into()),
                    view: None,
                    kind: None
                }
            })
        );
        assert_eq!(
            parse(&json!({"action": "enable", "from_activity": "inject"})),
            Ok(Request::Change {
                enabled: Some(true),
                select: Select::FromActivity("inject".into())
            })
        );
        assert_eq!(
            parse(&json!({"action": "delete", "all": true})),
            Ok(Request::Change {
                enabled: None,
                select: Select::All
            })
        );
    }
}
