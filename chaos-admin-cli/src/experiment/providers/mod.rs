//! Activity providers: `http`, `process` and the native `chaos` provider.

pub mod chaos;
pub mod http;
pub mod process;

use serde_json::Value;

use super::runner::Ctx;
use super::subst::substitute;

/// Why an activity failed (chaoslib's `ActivityFailed`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityFailed(pub String);

impl std::fmt::Display for ActivityFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs the activity's provider (substituted first) and returns its output.
pub async fn run(activity: &Value, ctx: &Ctx) -> Result<Value, ActivityFailed> {
    let provider = activity.get("provider").cloned().unwrap_or(Value::Null);
    let provider = substitute(&provider, &ctx.vars);
    let has_tolerance = activity.get("tolerance").is_some();
    let work = async {
        match provider.get("type").and_then(Value::as_str) {
            Some("http") => http::run(&provider, has_tolerance, ctx).await,
            Some("process") => process::run(&provider, has_tolerance, ctx).await,
            Some("chaos") => chaos::run(&provider, ctx).await,
            Some("python") => Err(ActivityFailed(
                "python providers are not supported by chaos-admin: use http, process or chaos"
                    .to_owned(),
            )),
            other => Err(ActivityFailed(format!(
                "unknown provider type {other:?}: allowed are http, process, chaos"
            ))),
        }
    };
    tokio::select! {
        result = work => result,
        () = ctx.interrupt.wait() => Err(ActivityFailed("interrupted by a signal (Ctrl-C)".to_owned())),
    }
}
