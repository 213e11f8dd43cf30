//! Describing actions for people and scripts — states, fault details, probabilities,
//! ages and the JSON shape of an action — in one place for every front end (the CLI's
//! tables and `--json`, the web admin's pages and its JSON API).

use std::time::Duration;

use serde_json::Value;

use super::{Action, Fault, Phase};
use crate::store::CorruptRow;

/// The longest body shown in a table cell before it is cut.
pub const MAX_BODY_CHARS: usize = 30;

/// `expired`, `enabled` or `disabled` at `now_ms`.
pub fn state(action: &Action, now_ms: i64) -> &'static str {
    if action.is_expired_at(now_ms) {
        "expired"
    } else if action.spec.enabled {
        "enabled"
    } else {
        "disabled"
    }
}

/// `200ms..300ms`, `401` or `401 "body"`.
pub fn detail(fault: &Fault, max_body_chars: Option<usize>) -> String {
    match fault {
        Fault::Slow {
            min_ms,
            max_ms,
            phase,
        } => {
            let range = format!("{}..{}", short_millis(*min_ms), short_millis(*max_ms));
            match phase {
                Phase::Before => range,
                Phase::After => format!("{range} after"),
            }
        }
        Fault::Abort | Fault::Panic | Fault::Error { message: None } => String::new(),
        Fault::Error {
            message: Some(message),
        } => format!("{:?}", cut(message, max_body_chars)),
        Fault::Return { status, body: None } => status.to_string(),
        Fault::Return {
            status,
            body: Some(body),
        } => {
            format!("{status} {:?}", cut(body, max_body_chars))
        }
    }
}

/// `text`, cut to `max` characters (ending in `…`) when a limit is given.
fn cut(text: &str, max: Option<usize>) -> String {
    match max {
        Some(max) if text.chars().count() > max => {
            let kept: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{kept}…")
        }
        _ => text.to_owned(),
    }
}

/// A delay as humantime writes it (`250ms`, `1s 500ms`).
pub fn millis(ms: u64) -> String {
    crate::time::format_duration_ms(ms)
}

/// A delay in one compact unit: `150ms`, `2s`, `2.01s`, `1m`, `1m 30.5s` (two decimals
/// at most; `2s 10ms` reads like two delays in a range).
pub fn short_millis(ms: u64) -> String {
    fn decimal(value: f64) -> String {
        let text = format!("{value:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let minutes = ms / 60_000;
    let rest_ms = ms % 60_000;
    if minutes == 0 {
        return format!("{}s", decimal(rest_ms as f64 / 1000.0));
    }
    if rest_ms == 0 {
        format!("{minutes}m")
    } else {
        format!("{minutes}m {}s", decimal(rest_ms as f64 / 1000.0))
    }
}

/// When an action stops: `-` (never), `in 9m 59s`, or `3m ago` (expired).
pub fn expires(expires_at: Option<i64>, now_ms: i64) -> String {
    match expires_at {
        None => "-".to_owned(),
        Some(at) if at > now_ms => format!("in {}", age(at, now_ms)),
        Some(at) => ago(now_ms, at),
    }
}

/// When an enabled, unexpired action injects, for the WHEN column: `-` (whenever it
/// matches), `active until 17:00` (inside its window; the time in the window's zone), or
/// `active in 2h 10m` (its start or next window lies ahead); `-` for a disabled or
/// expired action (the state says why it is inert).
pub fn when(action: &Action, now_ms: i64) -> String {
    if state(action, now_ms) != "enabled" {
        return "-".to_owned();
    }
    action.schedule().describe(now_ms)
}

/// Replaces each Unix-millisecond field `key` of a JSON object with its RFC 3339 time,
/// and keeps the number as `key_ms`: one format for every `--json` timestamp.
pub fn rfc3339_fields(value: &mut Value, keys: &[&str]) {
    let Value::Object(map) = value else {
        return;
    };
    for key in keys {
        let Some(current) = map.get(*key).cloned() else {
            continue;
        };
        let text = current.as_i64().map(timestamp);
        map.insert(format!("{key}_ms"), current);
        map.insert((*key).to_owned(), text.map_or(Value::Null, Value::from));
    }
}

/// `100%`, `25%`, `12.5%`.
pub fn percent(probability: f64) -> String {
    let text = format!("{:.2}", probability * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// `*` for everyone, else the names joined by commas.
pub fn who(names: &[String]) -> String {
    if names.is_empty() {
        "*".to_owned()
    } else {
        names.join(",")
    }
}

/// Unix milliseconds as an RFC 3339 UTC time; never panics (see
/// [`crate::time::format_time`]).
pub fn timestamp(ms: i64) -> String {
    crate::time::format_time(ms)
}

/// How long ago `then_ms` was, at `now_ms`: `3s ago`, `2m 5s ago`.
pub fn ago(now_ms: i64, then_ms: i64) -> String {
    format!("{} ago", age(now_ms, then_ms))
}

/// The time from `then_ms` to `now_ms`, to the second, in its two largest units (`2m 5s`,
/// `3years 1month`; `0s` when in the future).
pub fn age(now_ms: i64, then_ms: i64) -> String {
    let seconds = u64::try_from(now_ms.saturating_sub(then_ms) / 1000).unwrap_or(0);
    let full = humantime::format_duration(Duration::from_secs(seconds)).to_string();
    full.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// The cells every action table starts with: ID, STATE, KIND, VERB, TARGET, DETAIL, PROB.
pub fn action_cells(action: &Action, now_ms: i64) -> Vec<String> {
    vec![
        action.id.to_string(),
        state(action, now_ms).to_owned(),
        action.spec.kind.to_string(),
        action.spec.fault.verb().to_owned(),
        action.spec.target.clone(),
        detail(&action.spec.fault, Some(MAX_BODY_CHARS)),
        percent(action.spec.probability),
    ]
}

/// One action as JSON: the stored fields plus the computed `state` and `when` (see
/// [`when`]).
pub fn action_json(action: &Action, now_ms: i64) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(action)?;
    if let Value::Object(map) = &mut value {
        map.insert("state".to_owned(), Value::from(state(action, now_ms)));
        map.insert("when".to_owned(), Value::from(when(action, now_ms)));
    }
    rfc3339_fields(
        &mut value,
        &["created_at", "updated_at", "expires_at", "starts_at"],
    );
    Ok(value)
}

/// A row that cannot be read, as `list --json` and `show --json` print it:
/// `{"id": 2, "state": "broken", "error": "..."}` (`id` is null when unreadable too).
pub fn broken_json(row: &CorruptRow) -> serde_json::Value {
    serde_json::json!({"id": row.id, "state": "broken", "error": row.reason})
}

/// The JSON object of an action an exercise hides: `{"id", "state", "hidden": true, "tag"}`
/// and nothing else (no kind, view, verb, status, timing, probability or audience).
pub fn hidden_json(action: &Action, now_ms: i64) -> Value {
    serde_json::json!({
        "id": action.id,
        "state": state(action, now_ms),
        "hidden": true,
        "tag": action.spec.tag,
    })
}

/// `12 (3 recently)`: how often the live app instances injected an action's fault, and
/// how often in their last heartbeat interval; `0` when none did.
pub fn fired(counts: Option<crate::store::Fired>) -> String {
    match counts {
        Some(crate::store::Fired { total, recent }) if recent > 0 => {
            format!("{total} ({recent} recently)")
        }
        Some(crate::store::Fired { total, .. }) => total.to_string(),
        None => "0".to_owned(),
    }
}

/// The JSON of an action (as [`action_json`]) with how often it `fired` on the live
/// instances: `{"total", "recent"}` (zeros when it did not).
pub fn action_json_fired(
    action: &Action,
    now_ms: i64,
    counts: Option<crate::store::Fired>,
) -> Result<Value, serde_json::Error> {
    let mut value = action_json(action, now_ms)?;
    if let Value::Object(map) = &mut value {
        map.insert(
            "fired".to_owned(),
            serde_json::to_value(counts.unwrap_or_default())?,
        );
    }
    Ok(value)
}
