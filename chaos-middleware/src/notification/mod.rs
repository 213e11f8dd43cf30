//! Notifications: webhooks stored with the actions, told about every change to the chaos.
//!
//! - A [`Webhook`] is a URL and the [`EventKind`]s it wants (all when none are named).
//!   It is stored in the chaos store (`chaos-admin notify add URL --events ...`), so every
//!   front end and every app instance sees the same list.
//! - Every write the store makes (actions created, enabled, disabled, deleted; storms and
//!   exercises started and ended; guards tripped and reset) and every experiment run
//!   queues one delivery per interested webhook in the store, in the same database
//!   (`chaos_deliveries`); expiries are queued by whoever delivers, once each.
//! - Deliveries are made by [`deliver`]'s loop, which runs in every app instance's layer
//!   (database stores), in `chaos-admin serve`, and in a short-lived process the CLI starts
//!   after a write. A delivery is claimed with a lease first, so each is sent once even
//!   with many deliverers; a failure is retried with exponential backoff (1 s, 2 s, 4 s,
//!   … [`MAX_ATTEMPTS`] attempts), then given up and counted against the webhook, which
//!   `notify list` shows with its last error. Nothing of this runs on the request path or
//!   makes a command wait.
//!
//! A delivery is an HTTP `POST` of a JSON object ([`Event::body`]) whose `text` field is a
//! one-line message, so a Slack (or Mattermost, Rocket.Chat, Teams workflow) incoming
//! webhook URL shows it as it is; the other fields carry the details for machines.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Value, json};

use crate::action::InvalidAction;

pub mod deliver;

/// How often a delivery is tried before it is given up.
pub const MAX_ATTEMPTS: i64 = 6;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum EventKind {
    /// An action was created.
    ActionCreated,
    /// Actions were enabled.
    ActionEnabled,
    /// Actions were disabled.
    ActionDisabled,
    /// Actions were deleted.
    ActionDeleted,
    /// An action's expiry passed.
    ActionExpired,
    /// A storm was started.
    StormStarted,
    /// A storm was ended (`storm --end`) or its actions expired.
    StormEnded,
    /// An exercise was started.
    ExerciseStarted,
    /// An exercise was ended, or its time ran out.
    ExerciseEnded,
    /// A guard tripped: every instance stops injecting.
    GuardTripped,
    /// Guards were reset: chaos resumes.
    GuardReset,
    /// `chaos-admin run` started an experiment.
    ExperimentStarted,
    /// An experiment's steady-state hypothesis did not hold.
    ExperimentDeviated,
    /// An experiment run ended (whatever its status).
    ExperimentEnded,
    /// `chaos-admin notify test`.
    Test,
}

impl EventKind {
    /// Every event, in the order `notify --help` lists them.
    pub const ALL: [EventKind; 15] = [
        EventKind::ActionCreated,
        EventKind::ActionEnabled,
        EventKind::ActionDisabled,
        EventKind::ActionDeleted,
        EventKind::ActionExpired,
        EventKind::StormStarted,
        EventKind::StormEnded,
        EventKind::ExerciseStarted,
        EventKind::ExerciseEnded,
        EventKind::GuardTripped,
        EventKind::GuardReset,
        EventKind::ExperimentStarted,
        EventKind::ExperimentDeviated,
        EventKind::ExperimentEnded,
        EventKind::Test,
    ];

    /// The name stored and typed: `action.created`, `guard.tripped`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ActionCreated => "action.created",
            EventKind::ActionEnabled => "action.enabled",
            EventKind::ActionDisabled => "action.disabled",
            EventKind::ActionDeleted => "action.deleted",
            EventKind::ActionExpired => "action.expired",
            EventKind::StormStarted => "storm.started",
            EventKind::StormEnded => "storm.ended",
            EventKind::ExerciseStarted => "exercise.started",
            EventKind::ExerciseEnded => "exercise.ended",
            EventKind::GuardTripped => "guard.tripped",
            EventKind::GuardReset => "guard.reset",
            EventKind::ExperimentStarted => "experiment.started",
            EventKind::ExperimentDeviated => "experiment.deviated",
            EventKind::ExperimentEnded => "experiment.ended",
            EventKind::Test => "test",
        }
    }

    /// Every name, comma-separated, for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl From<EventKind> for &'static str {
    fn from(kind: EventKind) -> Self {
        kind.as_str()
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = InvalidAction;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                InvalidAction::new(format!(
                    "unknown event '{text}': allowed are {}, and groups such as guard.* or *",
                    Self::names()
                ))
            })
    }
}

/// Which events a webhook wants: names (`guard.tripped`), groups (`guard.*`) or `*`.
///
/// Errors: an empty or unknown name, naming it and the allowed ones.
pub fn parse_events(values: &[String]) -> Result<Vec<String>, InvalidAction> {
    let mut out: Vec<String> = Vec::new();
    for value in values.iter().flat_map(|v| v.split(',')) {
        let name = value.trim().to_ascii_lowercase();
        let known = if name == "*" {
            true
        } else if let Some(group) = name.strip_suffix(".*") {
            EventKind::ALL
                .iter()
                .any(|k| k.as_str().split('.').next() == Some(group))
        } else {
            name.parse::<EventKind>().is_ok()
        };
        if !known {
            return Err(InvalidAction::new(format!(
                "unknown event '{}': allowed are {}, and groups such as guard.* or *",
                value.trim(),
                EventKind::names()
            )));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.iter().any(|n| n == "*") {
        out.clear();
    }
    Ok(out)
}

/// Whether a webhook that asked for `events` (empty: all) wants `kind`.
pub fn wants(events: &[String], kind: EventKind) -> bool {
    events.is_empty()
        || events.iter().any(|e| {
            e == "*"
                || e == kind.as_str()
                || e.strip_suffix(".*")
                    .is_some_and(|group| kind.as_str().split('.').next() == Some(group))
        })
}

/// Checks a webhook URL: absolute `http` or `https` with a host, no spaces or control
/// characters, at most 2000 characters. Returns it as it will be requested (a Unicode
/// host in its ASCII form, other characters percent-encoded).
///
/// Errors: anything else, naming it (cut to 200 characters).
pub fn validate_url(text: &str) -> Result<String, InvalidAction> {
    let text = text.trim();
    let shown: String = text
        .chars()
        .take(200)
        .collect::<String>()
        .escape_debug()
        .to_string();
    let allowed = "allowed is an http:// or https:// URL such as https://hooks.slack.com/services/T000/B000/XXX";
    if text.chars().count() > 2_000 {
        return Err(InvalidAction::new(format!(
            "the webhook URL has {} characters: allowed are at most 2000",
            text.chars().count()
        )));
    }
    if let Some(bad) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidAction::new(format!(
            "invalid webhook URL '{shown}': it holds {bad:?}; {allowed} (encode spaces as %20)"
        )));
    }
    let url = url::Url::parse(text).map_err(|err| {
        InvalidAction::new(format!("invalid webhook URL '{shown}' ({err}): {allowed}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(InvalidAction::new(format!(
            "invalid webhook URL '{shown}': {allowed}"
        )));
    }
    Ok(url.to_string())
}

/// Escapes `&`, `<` and `>` as Slack asks for message text, so a name such as
/// `<!channel>` is shown, not obeyed (no ping, no disguised link).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The header every delivery carries; the web admin refuses requests that have it, so a
/// webhook pointed at it cannot drive it (reset guards, flip the kill switch, ...).
pub const DELIVERY_HEADER: &str = "x-chaos-notification";

/// One event, as queued for each webhook that wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// One line for people (`action 3 created: response return items 503`).
    pub text: String,
    /// Details for machines (ids, selection, measured values, …).
    pub details: Value,
    /// Set for events that must be queued only once per webhook (expiries): a key no
    /// other event shares.
    pub once: Option<String>,
    /// When it happened (Unix ms), if not now: webhooks added later do not hear of it.
    pub happened_at: Option<i64>,
}

impl Event {
    /// An event with no details.
    pub fn new(kind: EventKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
            details: Value::Null,
            once: None,
            happened_at: None,
        }
    }

    /// With these details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// It happened at `at_ms` (Unix ms): webhooks added after that are not told.
    pub fn happened_at(mut self, at_ms: i64) -> Self {
        self.happened_at = Some(at_ms);
        self
    }

    /// Queued once per webhook under `key`.
    pub fn once(mut self, key: impl Into<String>) -> Self {
        self.once = Some(key.into());
        self
    }

    /// The JSON body posted: `{"text", "event", "at", "at_ms", "actor", "store",
    /// "details"}`; `text` starts with `chaos-rs:` so a chat channel shows where it comes
    /// from.
    pub fn body(&self, at_ms: i64, actor: Option<&str>, store: &str) -> Value {
        json!({
            "text": format!("chaos-rs: {}", slack_escape(&self.text)),
            "event": self.kind.as_str(),
            "at": crate::time::format_time(at_ms),
            "at_ms": at_ms,
            "actor": actor,
            "store": store,
            "details": self.details,
        })
    }
}

/// The notification of `specs` stored as `ids`: a storm's start when all are storm
/// actions, else `action N created: response return items 503 (100%)`.
pub(crate) fn created(specs: &[crate::ActionSpec], ids: &[i64]) -> Event {
    use crate::action::describe::{detail, percent};
    let details = json!({"ids": ids});
    let is_storm = !specs.is_empty()
        && specs
            .iter()
            .all(|s| s.tag.as_deref() == Some(crate::store::STORM_TAG));
    if is_storm {
        let mut whom: Vec<String> = Vec::new();
        for spec in specs {
            for name in spec
                .users
                .iter()
                .cloned()
                .chain(spec.groups.iter().map(|g| format!("group {g}")))
            {
                if !whom.contains(&name) {
                    whom.push(name);
                }
            }
        }
        let until = specs.iter().filter_map(|s| s.expires_at).max();
        let mut text = format!(
            "storm started for {}: {} actions",
            whom.join(", "),
            specs.len()
        );
        if let Some(at) = until {
            text.push_str(&format!(" until {}", crate::time::format_time(at)));
        }
        let timing = crate::schedule::Timing {
            starts_at: specs[0].starts_at,
            window: specs[0].window.clone(),
        };
        if let Some(timing) = timing.describe() {
            text.push_str(&format!(" ({timing})"));
        }
        return Event::new(EventKind::StormStarted, text).with_details(details);
    }
    let text = match (specs, ids) {
        ([spec], [id]) => {
            let what = detail(&spec.fault, Some(30));
            let mut text = format!(
                "action {id} created: {} {} {}{}{} ({})",
                spec.kind,
                spec.fault.verb(),
                spec.target,
                if what.is_empty() { "" } else { " " },
                what,
                percent(spec.probability)
            );
            if let Some(at) = spec.expires_at {
                text.push_str(&format!(", until {}", crate::time::format_time(at)));
            }
            text
        }
        _ => format!(
            "{} actions created: {}",
            ids.len(),
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Event::new(EventKind::ActionCreated, text).with_details(details)
}

/// A stored webhook and how its deliveries went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Row id.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// The events it wants (empty: all).
    pub events: Vec<String>,
    /// Unix ms of creation.
    pub created_at: i64,
    /// Who added it.
    pub created_by: Option<String>,
    /// Deliveries that succeeded.
    pub delivered: i64,
    /// Deliveries given up after [`MAX_ATTEMPTS`] failures.
    pub failed: i64,
    /// Deliveries queued or being retried.
    pub pending: i64,
    /// The last failure (an attempt that will be retried included), if any.
    pub last_error: Option<String>,
    /// When it happened (Unix ms).
    pub last_error_at: Option<i64>,
    /// What is wrong with a row edited by hand into something unreadable (it is then
    /// told nothing).
    pub problem: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_as_names_groups_and_all() {
        assert_eq!(
            parse_events(&["guard.tripped,storm.*".into(), "GUARD.TRIPPED".into()]),
            Ok(vec!["guard.tripped".to_owned(), "storm.*".to_owned()])
        );
        assert_eq!(parse_events(&["*".into(), "test".into()]), Ok(vec![]));
        for bad in ["guard.exploded", "", "nothing.*", "action"] {
            let err = parse_events(&[bad.to_owned()]).expect_err(bad);
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
            assert!(err.to_string().contains("guard.tripped"), "{err}");
        }
        let storms = vec!["storm.*".to_owned()];
        assert!(wants(&storms, EventKind::StormEnded));
        assert!(!wants(&storms, EventKind::GuardTripped));
        assert!(wants(&[], EventKind::GuardTripped));
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
    }

    #[test]
    fn urls_must_be_http() {
        assert!(validate_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(validate_url(" http://127.0.0.1:9/x ").is_ok());
        for bad in [
            "ftp://x",
            "hooks.slack.com",
            "",
            "http://",
            "mailto:a@b",
            "http://x/a b",
            "http://x/\u{1b}[31m",
            "http://x/\r\nHost: y",
        ] {
            let err = validate_url(bad).expect_err(bad);
            assert!(err.to_string().contains("http:// or https://"), "{err}");
        }
        assert_eq!(
            validate_url("http://exämple.com/a\"b"),
            Ok("http://xn--exmple-cua.com/a%22b".to_owned())
        );
    }

    #[test]
    fn bodies_carry_a_slack_text() {
        let body = Event::new(EventKind::GuardTripped, "guard 1 tripped")
            .with_details(json!({"guard": 1}))
            .body(0, Some("alice"), "sqlite:///tmp/chaos.db");
        assert_eq!(body["text"], "chaos-rs: guard 1 tripped");
        assert_eq!(body["event"], "guard.tripped");
        assert_eq!(body["at"], "1970-01-01T00:00:00Z");
        assert_eq!(body["details"]["guard"], 1);
        let hostile = Event::new(
            EventKind::ActionCreated,
            "<!channel> <http://evil|click> & co",
        )
        .body(0, None, "s");
        assert_eq!(
            hostile["text"],
            "chaos-rs: &lt;!channel&gt; &lt;http://evil|click&gt; &amp; co"
        );
    }
}
