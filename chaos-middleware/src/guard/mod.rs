//! Guards: chaos that stops itself when the app's own users are really hurt.
//!
//! A guard is stored like actions (table `chaos_guards`, so every instance sees it): a
//! limit on the error rate (responses with status ≥ 500 the app produced itself) and/or
//! the p99 latency (excluding injected delay) over a sliding window, for one view or the
//! whole app. Each instance measures the responses the layer did **not** inject while
//! chaos is active ([`window`]); when a guard is exceeded it stops injecting at once and
//! writes the trip into the guard's row, which stops every instance within the
//! propagation time. Chaos resumes when an operator runs `chaos-admin guard reset`.

pub(crate) mod monitor;
pub mod window;

use serde::{Deserialize, Serialize};

use crate::action::InvalidAction;

/// Shortest window (ms).
pub const MIN_WINDOW_MS: u64 = 5_000;
/// Longest window (ms).
pub const MAX_WINDOW_MS: u64 = 3_600_000;
/// Default window (ms).
pub const DEFAULT_WINDOW_MS: u64 = 60_000;
/// Default least number of measured responses in the window before a guard may trip
/// (a handful of requests says nothing about a rate).
pub const DEFAULT_MIN_REQUESTS: u64 = 20;

/// What an operator sets: the limits of one guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardSpec {
    /// The view (name or route pattern) it watches; `None`: every response of the app.
    pub view: Option<String>,
    /// Trip when more than this fraction (0–1) of measured responses are app errors
    /// (status ≥ 500, or the service failing).
    pub max_error_rate: Option<f64>,
    /// Trip when the p99 latency (without injected delay) is above this (ms).
    pub max_p99_ms: Option<u64>,
    /// The sliding window (ms, 5 s to 1 h).
    pub window_ms: u64,
    /// Least number of measured responses in the window before it may trip.
    pub min_requests: u64,
}

impl GuardSpec {
    /// Checks the limits; the error names the value and what is allowed.
    pub fn validate(&self) -> Result<(), InvalidAction> {
        if self.max_error_rate.is_none() && self.max_p99_ms.is_none() {
            return Err(InvalidAction::new(
                "a guard needs a limit: --max-error-rate and/or --max-p99",
            ));
        }
        if let Some(rate) = self.max_error_rate
            && !(rate.is_finite() && (0.0..1.0).contains(&rate))
        {
            return Err(InvalidAction::new(format!(
                "max error rate {} is out of range: allowed is 0% to below 100%",
                format_percent(rate)
            )));
        }
        if self.max_p99_ms == Some(0) {
            return Err(InvalidAction::new(
                "max p99 0ms would trip on every response: allowed is 1ms or more",
            ));
        }
        if !(MIN_WINDOW_MS..=MAX_WINDOW_MS).contains(&self.window_ms) {
            return Err(InvalidAction::new(format!(
                "window {} is out of range: allowed is 5s to 1h",
                crate::time::format_duration_ms(self.window_ms)
            )));
        }
        if self.min_requests == 0 || self.min_requests > 1_000_000 {
            return Err(InvalidAction::new(format!(
                "min requests {} is out of range: allowed is 1 to 1000000",
                self.min_requests
            )));
        }
        if let Some(view) = &self.view
            && (view.is_empty() || view.chars().count() > 256 || view.chars().any(char::is_control))
        {
            return Err(InvalidAction::new(format!(
                "view '{view}' is not a view name: allowed are 1 to 256 printable characters"
            )));
        }
        Ok(())
    }
}

/// A stored guard and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// Primary key.
    pub id: i64,
    /// Its limits.
    #[serde(flatten)]
    pub spec: GuardSpec,
    /// When it was set (Unix ms).
    pub created_at: i64,
    /// Who set it.
    pub created_by: Option<String>,
    /// Set while it is tripped: chaos is off everywhere until a reset.
    pub tripped: Option<Trip>,
}

/// A guard that tripped: when, where, and what was measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trip {
    /// When (Unix ms).
    pub at: i64,
    /// The instance that measured it.
    pub by: String,
    /// What it measured, for people (`error rate 31% of 212 responses (limit 20%)`).
    pub detail: String,
}

impl Guard {
    /// One line for people: `guard 3 on items: error rate > 20%, p99 > 2s over 1m (at
    /// least 20 responses)`.
    pub fn describe(&self) -> String {
        format!("guard {} {}", self.id, self.spec.describe())
    }
}

impl GuardSpec {
    /// The limits for people: `on items: error rate > 20% over 1m (at least 20 responses)`.
    pub fn describe(&self) -> String {
        let scope = match &self.view {
            Some(view) => format!("on {view}"),
            None => "on every view".to_owned(),
        };
        let mut limits = Vec::new();
        if let Some(rate) = self.max_error_rate {
            limits.push(format!("error rate > {}", format_percent(rate)));
        }
        if let Some(ms) = self.max_p99_ms {
            limits.push(format!("p99 > {}", crate::time::format_duration_ms(ms)));
        }
        format!(
            "{scope}: {} over {} (at least {} responses)",
            limits.join(", "),
            crate::time::format_duration_ms(self.window_ms),
            self.min_requests
        )
    }
}

/// `0.05` → `5%`, `0.125` → `12.5%`.
pub fn format_percent(fraction: f64) -> String {
    let percent = fraction * 100.0;
    let rounded = (percent * 1000.0).round() / 1000.0;
    format!("{rounded}%")
}

/// Parses an error rate: `5%`, `0.5%` or a fraction `0.05`.
pub fn parse_rate(text: &str) -> Result<f64, InvalidAction> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    };
    match value {
        Ok(rate) if rate.is_finite() && (0.0..1.0).contains(&rate) => Ok(rate),
        _ => Err(InvalidAction::new(format!(
            "max error rate '{text}' is not a rate: allowed is a percentage from 0% to below 100% (e.g. 5%) or a fraction (0.05)"
        ))),
    }
}

/// A guard as text, before checking: what `chaos-admin guard set` and the web admin take
/// (`max_error_rate` `5%` or `0.05`; `max_p99` and `window` durations such as `2s`).
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardForm {
    /// Trip above this share of the app's own errors (`5%`, `0.05`).
    pub max_error_rate: Option<String>,
    /// Trip above this p99 latency (`2s`, `750ms`).
    pub max_p99: Option<String>,
    /// The sliding window (default `60s`; 5s to 1h).
    pub window: Option<String>,
    /// Only this view (name or route pattern); none: every response.
    pub view: Option<String>,
    /// Least number of responses in the window before it may trip (default 20).
    pub min_requests: Option<u64>,
}

impl GuardForm {
    /// The checked guard; the error names the value and what is allowed.
    pub fn into_spec(self) -> Result<GuardSpec, InvalidAction> {
        let blank = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
        let max_error_rate = blank(self.max_error_rate)
            .as_deref()
            .map(parse_rate)
            .transpose()?;
        let duration = |name: &str, text: &str| {
            crate::time::parse_duration_ms(text)
                .map_err(|err| InvalidAction::new(format!("{name}: {err}")))
        };
        let max_p99_ms = blank(self.max_p99)
            .map(|text| duration("max p99", &text))
            .transpose()?;
        let window_ms = match blank(self.window) {
            Some(text) => duration("window", &text)?,
            None => DEFAULT_WINDOW_MS,
        };
        if self.view.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(InvalidAction::new(
                "the view is empty: give a view name or route pattern (`*` or none: every view)",
            ));
        }
        let spec = GuardSpec {
            view: self.view.map(|v| v.trim().to_owned()),
            max_error_rate,
            max_p99_ms,
            window_ms,
            min_requests: self.min_requests.unwrap_or(DEFAULT_MIN_REQUESTS),
        };
        spec.validate()?;
        Ok(spec)
    }
}
