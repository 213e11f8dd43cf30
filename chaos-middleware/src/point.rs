//! Fault points: faults at named places in the app's own code (a database query, a cache
//! read, an outbound call), controlled from the same store as request faults.
//!
//! ```
//! # async fn load_items() -> Result<Vec<String>, Box<dyn std::error::Error>> {
//! chaos_middleware::chaos_point("db.items").await?;
//! // ... the real query ...
//! # Ok(Vec::new())
//! # }
//! ```
//!
//! A point costs one atomic load and, when any point action exists, one hash lookup.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::layer::{ActiveDelay, Shared};
use crate::snapshot::{Effect, decide};
use crate::user::ChaosUser;

/// The layer that `chaos_point` consults: the last enabled layer built in this process.
pub(crate) static GLOBAL: ArcSwapOption<Shared> = ArcSwapOption::const_empty();

/// The error a fault point returns when an `error` action fires; the app must handle it
/// like the failure it stands for (database gone, cache down, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chaos error at point '{point}' (action {action_id}): {message}")]
pub struct ChaosPointError {
    /// The point's name.
    pub point: String,
    /// The action that fired.
    pub action_id: i64,
    /// The action's message (or a default one).
    pub message: String,
}

/// Runs the fault point `name` for no particular user: waits if a `slow` action targets
/// it, returns an error if an `error` action does, and otherwise returns at once.
/// Actions restricted to users or groups do not fire here; see [`chaos_point_as`].
pub async fn chaos_point(name: &str) -> Result<(), ChaosPointError> {
    let outcome = match &*GLOBAL.load() {
        Some(shared) => point_outcome(shared, name, None),
        None => None,
    };
    match outcome {
        Some(outcome) => outcome.apply().await,
        None => Ok(()),
    }
}

/// Like [`chaos_point`], for actions aimed at this user or their groups too.
pub async fn chaos_point_as(name: &str, user: &ChaosUser) -> Result<(), ChaosPointError> {
    let outcome = match &*GLOBAL.load() {
        Some(shared) => point_outcome(shared, name, Some(user)),
        None => None,
    };
    match outcome {
        Some(outcome) => outcome.apply().await,
        None => Ok(()),
    }
}

/// What a point must do: decided synchronously (no snapshot guard held across awaits),
/// applied afterwards.
pub(crate) struct PointOutcome {
    delay_ms: u64,
    hold: Option<ActiveDelay>,
    error: Option<ChaosPointError>,
    shared: Arc<Shared>,
}

impl PointOutcome {
    pub(crate) async fn apply(self) -> Result<(), ChaosPointError> {
        if self.delay_ms > 0 {
            // Not the app's latency, for the guard measuring this request (if any).
            crate::guard::monitor::point_delayed(self.delay_ms);
            // A graceful shutdown ends the delay at once.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(self.delay_ms)) => {}
                () = self.shared.shutdown.stopped() => {}
            }
        }
        drop(self.hold);
        match self.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// Decides the point `name`; `None` when nothing fires (the common case).
pub(crate) fn point_outcome(
    shared: &Arc<Shared>,
    name: &str,
    user: Option<&ChaosUser>,
) -> Option<PointOutcome> {
    let current = shared.current.load();
    let snapshot = &current.snapshot;
    let (specific, wildcard) = snapshot.point_candidates(name)?;
    let (decision, _) = decide(specific, wildcard, None, || user.map(Cow::Borrowed));
    if decision.is_empty() {
        return None;
    }
    let (delay_ms, _) = shared.clamp_delays(decision.before_ms, 0);
    let hold = if delay_ms > 0 {
        // Too many held already: the point passes untouched.
        Some(shared.try_hold()?)
    } else {
        None
    };
    for rule in &decision.fired {
        shared.counters.record(&rule.effect, true);
        rule.fired
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            target: "chaos",
            action_id = rule.id,
            verb = rule.effect.verb(),
            point = name,
            user = user.map(|u| u.name.as_str()),
            delay_ms,
            "chaos fault injected at point"
        );
    }
    let error = decision.terminal.and_then(|rule| match &rule.effect {
        Effect::Error { message } => Some(ChaosPointError {
            point: name.to_owned(),
            action_id: rule.id,
            message: message.to_string(),
        }),
        _ => None,
    });
    Some(PointOutcome {
        delay_ms,
        hold,
        error,
        shared: Arc::clone(shared),
    })
}
