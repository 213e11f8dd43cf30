//! After a write: wait until every live app instance applies it, and say so (or say why
//! nothing will apply it), so that the next request an operator sends sees the change.

use std::time::Duration;

use chaos_middleware::action::parse_duration_ms;
use chaos_middleware::store::Propagation;
use chaos_middleware::{Store, StoreError};

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

/// Waits, at most `timeout`, until the live app instances apply the write that moved the
/// store on from generation `before`; `None` when the write changed nothing. The CLI's
/// writing commands and the experiment `chaos` provider both confirm writes this way.
pub async fn wait_for_write(
    store: &Store,
    before: i64,
    timeout: Duration,
) -> Result<Option<Propagation>, StoreError> {
    let after = store.generation().await?;
    if after == before {
        return Ok(None);
    }
    store.wait_applied(after, timeout).await.map(Some)
}

/// What a confirmation found, as one line for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Every live instance applied it.
    Applied(String),
    /// No instance uses the store, or some lag.
    Warning(String),
}

/// Says how `propagation` went, naming the store when no app uses it and the lagging
/// instances when some did not apply the change within `timeout`.
pub fn describe(store: &Store, propagation: &Propagation, timeout: Duration) -> Confirmation {
    let generation = propagation.generation;
    let live = propagation.applied.len() + propagation.lagging.len();
    if live == 0 {
        return Confirmation::Warning(format!(
            "no running app instance uses the store {}: nothing applies this change until an app starts with it (is the app using another store? see --database-url, CHAOS_DATABASE_URL, `chaos-admin status`)",
            store.location()
        ));
    }
    if propagation.lagging.is_empty() {
        let waited =
            output::short_millis(u64::try_from(propagation.waited.as_millis()).unwrap_or(u64::MAX));
        return Confirmation::Applied(format!(
            "applied by {live} of {} in {waited} (generation {generation})",
            instances(live)
        ));
    }
    let lagging: Vec<String> = propagation
        .lagging
        .iter()
        .map(|i| match i.applied_generation {
            Some(g) => format!("{} (applies {g})", i.id),
            None => format!("{} (nothing loaded yet)", i.id),
        })
        .collect();
    Confirmation::Warning(format!(
        "{} of {} did not apply generation {generation} within {}: {}; the change is stored and applies when they catch up",
        propagation.lagging.len(),
        instances(live),
        output::millis(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
        lagging.join(", ")
    ))
}

/// Reports on stderr how the change from `before` (the generation before the write)
/// reached the live instances, waiting for them unless `--no-wait`. Nothing is said when
/// the write changed nothing. Never fails the command: the write itself succeeded.
pub async fn after_write(store: &Store, before: i64, wait: Wait) {
    let Some(timeout) = wait.timeout else {
        return;
    };
    match wait_for_write(store, before, timeout).await {
        Ok(None) => {}
        Ok(Some(propagation)) => match describe(store, &propagation, timeout) {
            Confirmation::Applied(line) => eprintln!("{line}"),
            Confirmation::Warning(line) => eprintln!("warning: {line}"),
        },
        Err(err) => {
            eprintln!("warning: could not check that the app instances applied the change: {err}");
        }
    }
}

fn instances(count: usize) -> String {
    if count == 1 {
        "1 app instance".to_owned()
    } else {
        format!("{count} app instances")
    }
}
