//! Activity providers: `http`, `process` and the native `chaos` provider.

pub mod chaos;
pub mod http;
pub mod process;

use serde_json::Value;

use super::runner::Ctx;
use super::subst::substitute;

/// Why an activity failed (chaoslib's `ActivityFailed`): the run goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityFailed(pub String);

impl std::fmt::Display for ActivityFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a provider gave no output.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityError {
    /// chaoslib's `ActivityFailed` (connection errors, timeouts, our own checks): the
    /// activity is journaled `failed` and the run goes on.
    Failed(String),
    /// Any other error, which chaoslib does not catch (an invalid URL, a response body
    /// that is not the JSON its `Content-Type` claims, too many redirects, a process that
    /// cannot be started): the activity is journaled without a status and the run is
    /// `aborted` ("Experiment ran into an un expected fatal error").
    Crashed(String),
}

impl ActivityError {
    /// The message, whichever kind.
    pub fn message(&self) -> &str {
        match self {
            ActivityError::Failed(message) | ActivityError::Crashed(message) => message,
        }
    }
}

impl From<ActivityFailed> for ActivityError {
    fn from(failed: ActivityFailed) -> Self {
        ActivityError::Failed(failed.0)
    }
}

impl std::fmt::Display for ActivityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Runs the activity's provider (substituted first) and returns its output.
pub async fn run(activity: &Value, ctx: &Ctx) -> Result<Value, ActivityError> {
    let provider = activity.get("provider").cloned().unwrap_or(Value::Null);
    let provider = substitute(&provider, &ctx.vars);
    let has_tolerance = activity.get("tolerance").is_some();
    let work = async {
        match provider.get("type").and_then(Value::as_str) {
            Some("http") => http::run(&provider, has_tolerance, ctx).await,
            Some("process") => process::run(&provider, has_tolerance, ctx).await,
            Some("chaos") => chaos::run(&provider, ctx)
                .await
                .map_err(ActivityError::from),
            Some("python") => Err(ActivityError::Failed(
                "python providers are not supported by chaos-admin: use http, process or chaos"
                    .to_owned(),
            )),
            other => Err(ActivityError::Failed(format!(
                "unknown provider type {other:?}: allowed are http, process, chaos"
            ))),
        }
    };
    tokio::select! {
        result = work => result,
        () = ctx.interrupt.wait() => Err(ActivityError::Failed("interrupted by a signal (Ctrl-C)".to_owned())),
    }
}
