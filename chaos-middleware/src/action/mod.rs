//! The chaos action model shared by the layer, the store and the CLI, and the rules that
//! say which values are allowed.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod describe;
mod form;
pub use form::{ActionForm, Naming};
pub(crate) use form::{blank_value, non_empty, refuse_blank};

/// Where an action applies: to whole requests matched by view, or to a named fault point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Request-level: matched by view name, route pattern or `*`.
    Response,
    /// A named fault point in application code.
    Point,
}

impl Kind {
    /// The name stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Response => "response",
            Kind::Point => "point",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = InvalidAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "response" => Ok(Kind::Response),
            "point" => Ok(Kind::Point),
            other => Err(InvalidAction::new(format!(
                "unknown kind '{other}': allowed are response, point"
            ))),
        }
    }
}

/// What an action does, with the data each verb needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "lowercase")]
pub enum Fault {
    /// Delay by a uniformly random duration in `[min_ms, max_ms]`.
    Slow {
        /// Shortest delay in milliseconds.
        min_ms: u64,
        /// Longest delay in milliseconds.
        max_ms: u64,
        /// Before the handler runs (default) or after it answered.
        #[serde(default)]
        phase: Phase,
    },
    /// Answer with `status` (and `body`) instead of running the handler.
    Return {
        /// HTTP status code, 200–599 (see [`validate_status`]).
        status: u16,
        /// Optional response body.
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Drop the connection without any response.
    Abort,
    /// Panic inside the service (for apps that test their panic handling).
    Panic,
    /// Make a fault point return an error the app must handle.
    Error {
        /// Optional error message.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// When a `slow` delay happens relative to the handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Hold the request before the handler runs.
    #[default]
    Before,
    /// Run the handler, then hold its response.
    After,
}

impl Phase {
    /// The name stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::After => "after",
        }
    }
}

impl FromStr for Phase {
    type Err = InvalidAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "before" => Ok(Phase::Before),
            "after" => Ok(Phase::After),
            other => Err(InvalidAction::new(format!(
                "unknown phase '{other}': allowed are before, after"
            ))),
        }
    }
}

impl Fault {
    /// The verb's name as stored and typed on the command line.
    pub fn verb(&self) -> &'static str {
        match self {
            Fault::Slow { .. } => "slow",
            Fault::Return { .. } => "return",
            Fault::Abort => "abort",
            Fault::Panic => "panic",
            Fault::Error { .. } => "error",
        }
    }

    /// Whether this verb applies to actions of `kind`.
    pub fn applies_to(&self, kind: Kind) -> bool {
        match kind {
            Kind::Response => !matches!(self, Fault::Error { .. }),
            Kind::Point => matches!(
                self,
                Fault::Slow {
                    phase: Phase::Before,
                    ..
                } | Fault::Error { .. }
            ),
        }
    }
}

/// Every verb the store may hold, for error messages.
pub const VERBS: &str = "slow, return, abort, panic, error";
/// Verbs of `response` actions.
pub const RESPONSE_VERBS: &str = "slow, return, abort, panic";
/// Verbs of `point` actions.
pub const POINT_VERBS: &str = "slow, error";

/// An action as stored: its id and bookkeeping plus what it does and to whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Primary key, shown by the CLI.
    pub id: i64,
    /// The fields the user chose.
    #[serde(flatten)]
    pub spec: ActionSpec,
    /// Unix milliseconds of creation.
    pub created_at: i64,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
    /// Who created it (the OS user of the CLI), when known.
    pub created_by: Option<String>,
}

impl Action {
    /// An action that does not come from a store (for [`ChaosHandle::apply`] from another
    /// source, tests and benchmarks): no bookkeeping times, no creator.
    ///
    /// [`ChaosHandle::apply`]: crate::ChaosHandle::apply
    pub fn new(id: i64, spec: ActionSpec) -> Self {
        Self {
            id,
            spec,
            created_at: 0,
            updated_at: 0,
            created_by: None,
        }
    }

    /// Whether the action has expired at `now_ms` (Unix milliseconds).
    pub fn is_expired_at(&self, now_ms: i64) -> bool {
        self.spec.expires_at.is_some_and(|at| at <= now_ms)
    }

    /// When the action may inject: its start, expiry and window.
    pub fn schedule(&self) -> crate::schedule::Schedule<'_> {
        self.spec.schedule()
    }
}

/// Everything about an action that a user chooses when creating it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionSpec {
    /// Request-level or fault point.
    pub kind: Kind,
    /// View name, route pattern or `*` (response); point name (point).
    pub target: String,
    /// The verb and its data.
    #[serde(flatten)]
    pub fault: Fault,
    /// Chance per request, 0.0–1.0.
    pub probability: f64,
    /// Only these users (empty: everyone).
    pub users: Vec<String>,
    /// Only these groups (empty: everyone).
    pub groups: Vec<String>,
    /// Only on these hosts (empty: everywhere).
    pub hosts: Vec<String>,
    /// Only these HTTP methods (empty: all).
    pub methods: Vec<String>,
    /// Disabled actions are kept but never injected.
    pub enabled: bool,
    /// Unix milliseconds after which the action is inert.
    pub expires_at: Option<i64>,
    /// Unix milliseconds before which the action is inert (`--start-at`).
    #[serde(default)]
    pub starts_at: Option<i64>,
    /// The weekly windows outside which the action is inert (`--between`, `--days`,
    /// `--tz`), as `09:00-17:00 mon-fri Europe/Berlin`; see [`crate::schedule`].
    #[serde(default)]
    pub window: Option<crate::schedule::Window>,
    /// Free label (`storm`, `exercise`, ...).
    pub tag: Option<String>,
    /// Free text for humans.
    pub note: Option<String>,
}

impl ActionSpec {
    /// When the action may inject: its start, expiry and window.
    pub fn schedule(&self) -> crate::schedule::Schedule<'_> {
        crate::schedule::Schedule {
            starts_at: self.starts_at,
            expires_at: self.expires_at,
            window: self.window.as_ref(),
        }
    }

    /// A spec with the defaults: everyone, probability 1, enabled, no expiry.
    pub fn new(kind: Kind, target: impl Into<String>, fault: Fault) -> Self {
        Self {
            kind,
            target: target.into(),
            fault,
            probability: 1.0,
            users: Vec::new(),
            groups: Vec::new(),
            hosts: Vec::new(),
            methods: Vec::new(),
            enabled: true,
            expires_at: None,
            starts_at: None,
            window: None,
            tag: None,
            note: None,
        }
    }

    /// Checks every field against what is allowed, as `create` does (CLI, experiment
    /// provider, store); the error names the bad value and what is allowed. This is
    /// [`ActionSpec::validate_stored`] plus the rules that only make sense when an action
    /// is written: `--body` with a status that carries no content (204, 205, 304).
    pub fn validate(&self) -> Result<(), InvalidAction> {
        self.validate_stored()?;
        // Sizes: every page, list and snapshot carries these (checked on new actions, so
        // rows stored before still load).
        let too_long = |what: &str, text: &str, max: usize| {
            let length = text.chars().count();
            (length > max).then(|| {
                InvalidAction::new(format!(
                    "{what} has {length} characters: allowed are at most {max}"
                ))
            })
        };
        let mut checks = vec![too_long(
            "the view or point name",
            &self.target,
            MAX_NAME_CHARS,
        )];
        checks.push(
            self.note
                .as_deref()
                .and_then(|n| too_long("the note", n, MAX_NOTE_CHARS)),
        );
        checks.push(
            self.tag
                .as_deref()
                .and_then(|t| too_long("the tag", t, MAX_NAME_CHARS)),
        );
        match &self.fault {
            Fault::Return {
                body: Some(body), ..
            } => {
                checks.push(too_long("the body", body, MAX_BODY_CHARS));
            }
            Fault::Error {
                message: Some(message),
            } => {
                checks.push(too_long("the message", message, MAX_NOTE_CHARS));
            }
            _ => {}
        }
        for name in self.users.iter().chain(&self.groups).chain(&self.hosts) {
            checks.push(too_long("a user, group or host name", name, MAX_NAME_CHARS));
        }
        if let Some(err) = checks.into_iter().flatten().next() {
            return Err(err);
        }
        if self.target.chars().any(char::is_control) {
            return Err(InvalidAction::new(format!(
                "invalid view {:?}: a view or point name must not hold control characters",
                self.target
            )));
        }
        if let Some(host) = self
            .hosts
            .iter()
            .find(|h| h.chars().any(char::is_whitespace))
        {
            return Err(InvalidAction::new(format!(
                "invalid host {host:?}: a host name (or glob) holds no spaces"
            )));
        }
        if let Fault::Return {
            status,
            body: Some(body),
        } = &self.fault
            && !status_allows_body(*status)
            && !body.is_empty()
        {
            return Err(InvalidAction::new(format!(
                "status {status} carries no body (RFC 9110: 204, 205 and 304 responses have no content): drop the body, or pick a status such as 200 or 503"
            )));
        }
        Ok(())
    }

    /// Checks what every stored row must satisfy to be applied; a row that fails is
    /// skipped by the layer (with a warning naming it) and listed as broken. A filter
    /// that cannot be understood makes the row fail, so it matches nothing rather than
    /// everything.
    pub fn validate_stored(&self) -> Result<(), InvalidAction> {
        validate_target(&self.target)?;
        match &self.fault {
            Fault::Slow { min_ms, max_ms, .. } => validate_delay_range(*min_ms, *max_ms)?,
            Fault::Return { status, .. } => validate_status(i64::from(*status)).map(|_| ())?,
            Fault::Abort | Fault::Panic | Fault::Error { .. } => {}
        }
        if !self.fault.applies_to(self.kind) {
            let allowed = match self.kind {
                Kind::Response => RESPONSE_VERBS,
                Kind::Point => POINT_VERBS,
            };
            let verb = match &self.fault {
                Fault::Slow {
                    phase: Phase::After,
                    ..
                } => "slow --phase after",
                other => other.verb(),
            };
            return Err(InvalidAction::new(format!(
                "verb '{verb}' does not apply to kind '{}': allowed are {allowed}",
                self.kind
            )));
        }
        validate_probability(self.probability)?;
        for user in &self.users {
            validate_name("--user", "user", user)?;
        }
        for group in &self.groups {
            validate_name("--group", "group", group)?;
        }
        for host in &self.hosts {
            validate_name("--host", "host pattern", host)?;
        }
        if self.kind == Kind::Point && !self.methods.is_empty() {
            return Err(InvalidAction::new(
                "--method applies only to response actions: fault points have no HTTP method",
            ));
        }
        for method in &self.methods {
            validate_method(method)?;
        }
        if let Some(at) = self.expires_at {
            crate::time::validate_expiry(at)?;
        }
        if let Some(at) = self.starts_at {
            crate::time::validate_expiry(at).map_err(|_| {
                InvalidAction::new(format!(
                    "start {at} is out of range: allowed are Unix milliseconds from 0 (1970) to {} ({})",
                    crate::time::MAX_EXPIRY_MS,
                    crate::time::format_time(crate::time::MAX_EXPIRY_MS)
                ))
            })?;
            if let Some(end) = self.expires_at
                && end <= at
            {
                return Err(InvalidAction::new(format!(
                    "the action starts at {} but expires at {}: allowed is a start before the expiry",
                    crate::time::format_time(at),
                    crate::time::format_time(end)
                )));
            }
        }
        Ok(())
    }
}

/// A value that is not allowed in an action, with a message that names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidAction {
    message: String,
}

impl InvalidAction {
    /// An error with this message (it should name the value and what is allowed).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The default cap on a single delay: the CLI refuses longer ones unless told otherwise,
/// and the layer clamps to its own cap (this one unless configured).
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

/// The longest view, point, tag, user, group or host name a new action may have.
pub const MAX_NAME_CHARS: usize = 256;
/// The longest note or error message.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// The longest `return` body (characters).
pub const MAX_BODY_CHARS: usize = 65_536;

/// The longest delay the store accepts at all (an action is a fault, not a hang).
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

fn validate_target(target: &str) -> Result<(), InvalidAction> {
    if target.trim().is_empty() {
        return Err(InvalidAction::new(
            "empty view: give a view name, a route pattern such as /items/{id}, or *",
        ));
    }
    Ok(())
}

/// Checks a delay range: `min <= max <= MAX_DELAY`.
pub fn validate_delay_range(min_ms: u64, max_ms: u64) -> Result<(), InvalidAction> {
    if min_ms > max_ms {
        return Err(InvalidAction::new(format!(
            "min delay {} is greater than max delay {}: min must be <= max",
            format_duration_ms(min_ms),
            format_duration_ms(max_ms),
        )));
    }
    let cap_ms = MAX_DELAY.as_millis() as u64;
    if max_ms > cap_ms {
        return Err(InvalidAction::new(format!(
            "delay {} is too long: allowed is at most {}",
            format_duration_ms(max_ms),
            format_duration_ms(cap_ms),
        )));
    }
    Ok(())
}

/// Checks an HTTP status code can be a forced final response: 200–599. 1xx codes are
/// interim responses (RFC 9110 §15.2): a server cannot answer a request with one alone
/// (hyper turns 100 into an empty 500, 101 switches protocols and closes the connection).
pub fn validate_status(status: i64) -> Result<u16, InvalidAction> {
    match u16::try_from(status) {
        Ok(code @ 200..=599) => Ok(code),
        _ if (100..200).contains(&status) => Err(InvalidAction::new(format!(
            "status {status} is an interim (1xx) response, which cannot end a request: allowed is 200-599"
        ))),
        _ => Err(InvalidAction::new(format!(
            "status {status} is out of range: allowed is 200-599"
        ))),
    }
}

/// Whether a response with `status` may carry content: 204 No Content, 205 Reset
/// Content and 304 Not Modified may not (RFC 9110 §15.3.5, §15.3.6, §15.4.5). The layer
/// sends those without a body and without `Content-Length`.
pub fn status_allows_body(status: u16) -> bool {
    !matches!(status, 204 | 205 | 304)
}

/// Whether a response with `status` must not carry `Content-Length` either: 204 (RFC 9110
/// §8.6) and 304 (where it would claim the resource is empty). A 205 keeps its
/// `Content-Length: 0` (§15.3.6).
pub fn status_forbids_content_length(status: u16) -> bool {
    matches!(status, 204 | 304)
}

/// Checks an HTTP method name: an RFC 9110 token (letters, digits and
/// ``!#$%&'*+-.^_`|~``), e.g. `GET` or `PURGE`; any letter case (methods are compared
/// upper-cased). `POST ` (a space), `PUT,PATCH` (a list) and non-ASCII names are refused.
pub fn validate_method(method: &str) -> Result<(), InvalidAction> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method == "*" {
        return Err(InvalidAction::new(
            "invalid method '*': leave --method out to match every method (a list of methods limits the action to them)",
        ));
    }
    if !method.is_empty() && method.bytes().all(is_tchar) {
        return Ok(());
    }
    let hint = if method.contains(',') {
        " (one method per --method: repeat the option)"
    } else {
        ""
    };
    Err(InvalidAction::new(format!(
        "invalid method '{method}'{hint}: allowed is one HTTP method name such as GET, POST, DELETE (letters, digits and !#$%&'*+-.^_`|~, no spaces)"
    )))
}

/// Checks a user, group or host name: not empty, no control characters and no leading
/// or trailing whitespace (which would never match and is almost always a typo).
fn validate_name(option: &str, what: &str, name: &str) -> Result<(), InvalidAction> {
    if name.trim().is_empty() {
        return Err(InvalidAction::new(format!(
            "empty {what}: a {option} value must not be empty"
        )));
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        return Err(InvalidAction::new(format!(
            "invalid {what} {name:?}: a {option} value must not start or end with whitespace or hold control characters"
        )));
    }
    Ok(())
}

/// Checks a probability is a number within 0.0–1.0.
pub fn validate_probability(probability: f64) -> Result<(), InvalidAction> {
    if (0.0..=1.0).contains(&probability) {
        Ok(())
    } else {
        Err(InvalidAction::new(format!(
            "probability {probability} is out of range: allowed is 0-100% (0.0-1.0)"
        )))
    }
}

/// Parses a probability written as `25%` or as a fraction `0.25`.
pub fn parse_probability(text: &str) -> Result<f64, InvalidAction> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    };
    match value {
        Ok(p) if p.is_finite() && (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(InvalidAction::new(format!(
            "invalid probability '{text}': allowed is 0%-100% or a fraction 0.0-1.0, e.g. 25% or 0.25"
        ))),
    }
}

use crate::time::format_duration_ms;
pub use crate::time::{now_ms, parse_duration_ms};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_accepts_percent_and_fraction() {
        assert_eq!(parse_probability("25%"), Ok(0.25));
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert_eq!(parse_probability("100%"), Ok(1.0));
        assert_eq!(parse_probability("0"), Ok(0.0));
        for bad in ["101%", "-1%", "1.5", "abc", "NaN", "inf"] {
            let err = parse_probability(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn durations_parse_with_humantime() {
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("1s"), Ok(1000));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        let err = parse_duration_ms("fast").expect_err("not a duration");
        assert!(err.to_string().contains("'fast'"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_value() {
        let slow = ActionSpec::new(
            Kind::Response,
            "items",
            Fault::Slow {
                min_ms: 300,
                max_ms: 200,
                phase: Phase::Before,
            },
        );
        let err = slow.validate().expect_err("min > max");
        assert!(err.to_string().contains("300ms"), "{err}");
        assert_eq!(
            validate_status(600).map_err(|e| e.to_string()),
            Err("status 600 is out of range: allowed is 200-599".into())
        );
        assert!(validate_status(99).is_err());
        assert_eq!(validate_status(401), Ok(401));
        let mut ok = ActionSpec::new(
            Kind::Response,
            "items",
            Fault::Return {
                status: 401,
                body: None,
            },
        );
        assert_eq!(ok.validate(), Ok(()));
        ok.probability = 1.01;
        assert!(ok.validate().is_err());
    }

    fn returning(status: u16, body: Option<&str>) -> ActionSpec {
        ActionSpec::new(
            Kind::Response,
            "items",
            Fault::Return {
                status,
                body: body.map(str::to_owned),
            },
        )
    }

    #[test]
    fn interim_statuses_are_refused_and_bodiless_ones_take_no_body() {
        for status in [100, 101, 102, 103, 199] {
            let err = returning(status, None).validate().expect_err("1xx");
            assert!(
                err.to_string().contains(&format!("status {status}")),
                "{err}"
            );
            assert!(err.to_string().contains("200-599"), "{err}");
            assert!(returning(status, None).validate_stored().is_err());
        }
        for status in [200, 204, 205, 304, 418, 503, 599] {
            assert_eq!(returning(status, None).validate(), Ok(()), "{status}");
        }
        for status in [204, 205, 304] {
            let err = returning(status, Some("x")).validate().expect_err("body");
            assert!(
                err.to_string()
                    .contains(&format!("status {status} carries no body")),
                "{err}"
            );
            // A row edited by hand like this still applies (sent without the body).
            assert_eq!(returning(status, Some("x")).validate_stored(), Ok(()));
            assert_eq!(returning(status, Some("")).validate(), Ok(()));
        }
        assert_eq!(returning(200, Some("x")).validate(), Ok(()));
        assert!(!status_allows_body(204) && !status_allows_body(304) && !status_allows_body(205));
        assert!(status_allows_body(200) && status_allows_body(503));
    }

    #[test]
    fn filters_that_cannot_be_understood_are_refused() {
        for good in ["GET", "get", "POST", "PURGE", "M-SEARCH"] {
            assert_eq!(validate_method(good), Ok(()), "{good}");
        }
        for bad in [
            "*",
            "POST ",
            " GET",
            "PUT,PATCH",
            "G\u{c9}T",
            "",
            "GET\n",
            "G ET",
            "\u{1f4a5}",
        ] {
            let err = validate_method(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
        assert!(
            validate_method("PUT,PATCH")
                .expect_err("list")
                .to_string()
                .contains("repeat")
        );
        let mut spec = returning(503, None);
        spec.methods = vec!["GET".into(), "POST ".into()];
        assert!(spec.validate().is_err());
        for (field, value) in [
            ("user", ""),
            ("user", " alice"),
            ("group", "ops\t"),
            ("host", ""),
            ("host", "web-1 "),
        ] {
            let mut spec = returning(503, None);
            let list = vec![value.to_owned()];
            match field {
                "user" => spec.users = list,
                "group" => spec.groups = list,
                _ => spec.hosts = list,
            }
            let err = spec.validate().expect_err(value);
            assert!(err.to_string().contains(field), "{err}");
        }
        let mut point = ActionSpec::new(Kind::Point, "db", Fault::Error { message: None });
        point.methods = vec!["GET".into()];
        assert!(point.validate().is_err());
    }

    #[test]
    fn expiries_must_be_printable() {
        let mut spec = returning(503, None);
        spec.expires_at = Some(crate::time::MAX_EXPIRY_MS);
        assert_eq!(spec.validate(), Ok(()));
        spec.expires_at = Some(crate::time::MAX_EXPIRY_MS + 1);
        assert!(spec.validate().is_err());
        spec.expires_at = Some(-5);
        assert!(spec.validate_stored().is_err());
    }
}
