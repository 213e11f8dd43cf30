//! Telling people about a run: the store's webhooks (`experiment.started`,
//! `experiment.deviated`, `experiment.ended`, see `chaos_middleware::notification`) and
//! Chaos Toolkit's own `notifications` settings.
//!
//! Chaos Toolkit reads `~/.chaostoolkit/settings.yaml` (or `chaos --settings PATH`); its
//! `notifications` list holds channels. We honour the `http` ones as chaostoolkit-lib's
//! `notify_with_http` does: a `POST` of `{"name", "payload", "phase": "run", "ts"}` (plus
//! `"error"`) as JSON to `url` with the channel's `headers`, or a `GET` without the payload
//! when `forward_event_payload` is false; `verify_tls: false` skips certificate checks; an
//! `events` list limits the channel to those events. The run events are `run-started`
//! (payload: the experiment), then `run-completed` when the journal's status is
//! `completed`, or `run-failed` when not, and `run-deviated` as well when it deviated
//! (payload: the journal), as the `chaos run` command sends them. `plugin` channels need
//! Python and are skipped with a warning. A failed notification is logged (a warning) and
//! never changes the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chaos_middleware::Store;
use chaos_middleware::notification::{Event, EventKind};
use serde_json::{Map, Value, json};

use super::log::Logger;
use super::runner::{Journal, Status};

/// One `type: http` channel of the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpChannel {
    /// Where to send.
    pub url: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Whether to check the TLS certificate (default true).
    pub verify_tls: bool,
    /// POST the event (default) or GET without it.
    pub forward_event_payload: bool,
    /// Only these events (empty: all).
    pub events: Vec<String>,
}

/// The settings file `chaos` reads by default: `~/.chaostoolkit/settings.yaml`.
pub fn default_settings_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| {
        PathBuf::from(home)
            .join(".chaostoolkit")
            .join("settings.yaml")
    })
}

/// The http channels of the settings at `path`; `Ok(empty)` when the file does not exist
/// and `required` is false (the default path). Channels of other types are skipped with a
/// warning.
///
/// Errors: an unreadable or malformed file, or an http channel without a `url`, naming
/// the file.
pub fn channels(path: &Path, required: bool, log: &Logger) -> Result<Vec<HttpChannel>, String> {
    if !required && !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the settings {}: {err}", path.display()))?;
    let settings = super::yaml_file(path, &text)?;
    let Some(list) = settings.get("notifications") else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = list else {
        return Err(format!(
            "{}: `notifications` must be a list of channels",
            path.display()
        ));
    };
    let mut out = Vec::new();
    for (index, channel) in list.iter().enumerate() {
        let at = format!("{}: notifications[{index}]", path.display());
        let Value::Object(channel) = channel else {
            return Err(format!("{at} must be a mapping with `type`"));
        };
        match channel.get("type").and_then(Value::as_str) {
            Some("http") => out.push(http_channel(channel, &at)?),
            Some(other) => log.warning(&format!(
                "{at}: notification channels of type '{other}' are not supported (only http); skipped"
            )),
            None => return Err(format!("{at} has no `type`: allowed are http, plugin")),
        }
    }
    Ok(out)
}

fn http_channel(channel: &Map<String, Value>, at: &str) -> Result<HttpChannel, String> {
    let url = channel
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| format!("{at} (http) has no `url`"))?;
    let url =
        chaos_middleware::notification::validate_url(url).map_err(|e| format!("{at}: {e}"))?;
    let headers = match channel.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (k.clone(), value)
            })
            .collect(),
        Some(_) => return Err(format!("{at}: `headers` must be a mapping")),
    };
    let flag = |key: &str| match channel.get(key) {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(format!("{at}: `{key}` must be true or false")),
    };
    let events = match channel.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{at}: `events` must be a list of names"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{at}: `events` must be a list of names")),
    };
    Ok(HttpChannel {
        url,
        headers,
        verify_tls: flag("verify_tls")?,
        forward_event_payload: flag("forward_event_payload")?,
        events,
    })
}

/// The Chaos Toolkit events a finished run sends, in order.
pub fn end_events(journal: &Journal) -> Vec<&'static str> {
    let mut events = vec![if journal.status == Status::Completed {
        "run-completed"
    } else {
        "run-failed"
    }];
    if journal.deviated {
        events.push("run-deviated");
    }
    events
}

/// Sends `events` (in order, as `chaos` does) with `payload` to every channel that wants
/// them, one thread per channel (2 s to connect, 5 s to answer each, as
/// chaostoolkit-lib); returns the threads to join.
pub fn send(
    channels: &[HttpChannel],
    events: &[&'static str],
    payload: &Value,
    log: Logger,
) -> Vec<std::thread::JoinHandle<()>> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    channels
        .iter()
        .map(|channel| {
            let wanted: Vec<(&'static str, Value)> = events
                .iter()
                .filter(|event| {
                    channel.events.is_empty() || channel.events.iter().any(|e| e == *event)
                })
                .map(|event| {
                    let body = json!({"name": event, "payload": payload, "phase": "run", "ts": ts});
                    (*event, body)
                })
                .collect();
            let channel = channel.clone();
            std::thread::spawn(move || {
                for (event, body) in wanted {
                    if let Err(err) = send_one(&channel, &body) {
                        log.warning(&format!(
                            "notification {event} to {} failed: {err}",
                            channel.url
                        ));
                    }
                }
            })
        })
        .collect()
}

fn send_one(channel: &HttpChannel, body: &Value) -> Result<(), String> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if !channel.verify_tls {
        tls = tls.disable_verification(true);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(2)))
        .timeout_recv_response(Some(Duration::from_secs(5)))
        .tls_config(tls.build())
        .build()
        .into();
    let mut request = ureq::http::Request::builder().uri(channel.url.as_str());
    for (name, value) in &channel.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = if channel.forward_event_payload {
        let request = request
            .method("POST")
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .map_err(|e| e.to_string())?;
        agent.run(request)
    } else {
        let request = request.method("GET").body(()).map_err(|e| e.to_string())?;
        agent.run(request)
    }
    .map_err(|e| e.to_string())?;
    if response.status().as_u16() > 399 {
        return Err(format!("HTTP {}", response.status()));
    }
    Ok(())
}

/// The store to tell, if it exists (a run never creates a store) and has webhooks.
pub async fn store_to_tell(database_url: &str) -> Option<Store> {
    let probe = Store::connect_for_reading(database_url).await.ok()?;
    let missing = probe.missing_file();
    probe.close().await;
    if missing {
        return None;
    }
    let store = Store::connect(database_url).await.ok()?;
    if store.has_webhooks().await.unwrap_or(false) {
        Some(store)
    } else {
        store.close().await;
        None
    }
}

/// `experiment.started` for the experiment titled `title`.
pub fn started(title: &str) -> Event {
    Event::new(
        EventKind::ExperimentStarted,
        format!("experiment \"{title}\" started"),
    )
    .with_details(json!({"title": title}))
}

/// `experiment.deviated` (when it did) and `experiment.ended` for a finished run.
pub fn finished(title: &str, journal: &Journal) -> Vec<Event> {
    let details = json!({
        "title": title,
        "status": journal.status.as_str(),
        "deviated": journal.deviated,
        "duration_s": journal.duration,
    });
    let mut events = Vec::new();
    if journal.deviated {
        events.push(
            Event::new(
                EventKind::ExperimentDeviated,
                format!("experiment \"{title}\" deviated: the steady state did not hold"),
            )
            .with_details(details.clone()),
        );
    }
    events.push(
        Event::new(
            EventKind::ExperimentEnded,
            format!(
                "experiment \"{title}\" ended: {}{} after {:.1} s",
                journal.status.as_str(),
                if journal.deviated { ", deviated" } else { "" },
                journal.duration
            ),
        )
        .with_details(details),
    );
    events
}
