//! After a write: wait until every live app instance applies it, and say so (or say why
//! nothing will apply it), so that the next request an operator sends sees the change.

use std::time::Duration;

use chaos_middleware::Store;
use chaos_middleware::action::parse_duration_ms;

use crate::error::CliError;
use crate::output;

/// The default for `--wait-timeout`.
pub const DEFAULT_WAIT_TIMEOUT: &str = "5s";

/// How a writing command confirms its change.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// `None`: `--no-wait`.
    pub timeout: Option<Duration>,
}

impl Wait {
    /// From `--no-wait` and `--wait-timeout D`.
    pub fn from_args(no_wait: bool, timeout: &str) -> Result<Self, CliError> {
        let ms = parse_duration_ms(timeout).map_err(|_| {
            CliError::usage(format!(
                "invalid --wait-timeout '{timeout}': allowed are durations such as 500ms, 5s, 1m"
            ))
        })?;
        Ok(Self {
            timeout: (!no_wait).then(|| Duration::from_millis(ms)),
        })
    }
}

/// Reports on stderr how the change from `before` (the generation before the write)
/// reached the live instances, waiting for them unless `--no-wait`. Nothing is said when
/// the write changed nothing. Never fails the command: the write itself succeeded.
pub async fn after_write(store: &Store, before: i64, wait: Wait) {
    let Ok(after) = store.generation().await else {
        return;
    };
    if after == before {
        return;
    }
    let Some(timeout) = wait.timeout else {
        return;
    };
    let propagation = match store.wait_applied(after, timeout).await {
        Ok(propagation) => propagation,
        Err(err) => {
            eprintln!("warning: could not check that the app instances applied the change: {err}");
            return;
        }
    };
    let live = propagation.applied.len() + propagation.lagging.len();
    if live == 0 {
        eprintln!(
            "warning: no running app instance uses the store {}: nothing applies this change until an app starts with it (is the app using another store? see --database-url, CHAOS_DATABASE_URL, `chaos-admin status`)",
            store.location()
        );
        return;
    }
    let waited =
        output::short_millis(u64::try_from(propagation.waited.as_millis()).unwrap_or(u64::MAX));
    if propagation.lagging.is_empty() {
        eprintln!(
            "applied by {live} of {} in {waited} (generation {after})",
            instances(live)
        );
        return;
    }
    let lagging: Vec<String> = propagation
        .lagging
        .iter()
        .map(|i| match i.applied_generation {
            Some(g) => format!("{} (applies {g})", i.id),
            None => format!("{} (nothing loaded yet)", i.id),
        })
        .collect();
    eprintln!(
        "warning: {} of {} did not apply generation {after} within {}: {}; the change is stored and applies when they catch up",
        propagation.lagging.len(),
        instances(live),
        output::millis(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
        lagging.join(", ")
    );
}

fn instances(count: usize) -> String {
    if count == 1 {
        "1 app instance".to_owned()
    } else {
        format!("{count} app instances")
    }
}
