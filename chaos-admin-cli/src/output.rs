//! Rendering actions for humans (aligned table, key: value lines) and scripts (JSON).

use std::io::{self, Write};
use std::time::Duration;

use chaos_middleware::store::CorruptRow;
use chaos_middleware::{Action, Fault, Phase};
use serde_json::Value;

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
    chaos_middleware::time::format_duration_ms(ms)
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
/// [`chaos_middleware::time::format_time`]).
pub fn timestamp(ms: i64) -> String {
    chaos_middleware::time::format_time(ms)
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

/// One action as JSON: the stored fields plus the computed `state`.
pub fn action_json(action: &Action, now_ms: i64) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(action)?;
    if let Value::Object(map) = &mut value {
        map.insert("state".to_owned(), Value::from(state(action, now_ms)));
    }
    rfc3339_fields(&mut value, &["created_at", "updated_at", "expires_at"]);
    Ok(value)
}

/// Writes a one-line warning on stderr for each row the store could not read.
pub fn warn_corrupt(rows: &[CorruptRow]) {
    for row in rows {
        eprintln!(
            "warning: {row}; the apps skip it (listed as broken; `chaos-admin delete ID` removes it)"
        );
    }
}

/// A row that cannot be read, as `list --json` and `show --json` print it:
/// `{"id": 2, "state": "broken", "error": "..."}` (`id` is null when unreadable too).
pub fn broken_json(row: &CorruptRow) -> serde_json::Value {
    serde_json::json!({"id": row.id, "state": "broken", "error": row.reason})
}

/// A row that cannot be read, as `show` prints it.
pub fn broken_lines(row: &CorruptRow) -> String {
    let id = row.id.map_or_else(|| "?".to_owned(), |id| id.to_string());
    format!(
        "id:    {id}\nstate: broken (the apps skip it)\nerror: {}\nfix:   chaos-admin delete {id}",
        printable(&row.reason)
    )
}

/// `text` safe for a terminal: control characters (escape sequences that would retitle or
/// repaint the operator's terminal, newlines that would break a table row) are shown
/// escaped (`\u{1b}`) instead of sent raw.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Writes `rows` under `header`, each column padded to its widest cell; the last column
/// is not padded. Cells go through [`printable`].
pub fn write_table<W: Write>(out: &mut W, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| printable(cell).into_owned())
                .collect()
        })
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = width.saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Treats a closed stdout (`chaos-admin list | head`) as success.
pub fn ignore_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_trims_zeros() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn detail_formats_each_verb() {
        let slow = Fault::Slow {
            min_ms: 200,
            max_ms: 1500,
            phase: Phase::Before,
        };
        assert_eq!(detail(&slow, None), "200ms..1.5s");
        let after = Fault::Slow {
            min_ms: 2000,
            max_ms: 2000,
            phase: Phase::After,
        };
        assert_eq!(detail(&after, None), "2s..2s after");
        assert_eq!(detail(&Fault::Abort, None), "");
        let error = Fault::Error {
            message: Some("db gone".into()),
        };
        assert_eq!(detail(&error, None), "\"db gone\"");
        let bare = Fault::Return {
            status: 401,
            body: None,
        };
        assert_eq!(detail(&bare, None), "401");
        let body = Fault::Return {
            status: 401,
            body: Some("nope".into()),
        };
        assert_eq!(detail(&body, None), "401 \"nope\"");
        let long = Fault::Return {
            status: 500,
            body: Some("x".repeat(40)),
        };
        assert_eq!(detail(&long, Some(5)), "500 \"xxxx…\"");
    }

    #[test]
    fn table_aligns_columns() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["1".to_owned(), "enabled".to_owned(), "a".to_owned()],
            vec!["10".to_owned(), "x".to_owned(), String::new()],
        ];
        write_table(&mut out, &["ID", "STATE", "NOTE"], &rows).expect("write to a Vec");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text, "ID  STATE    NOTE\n1   enabled  a\n10  x\n");
    }
}
