//! The background task that keeps the snapshot in step with the store.
//!
//! It checks the store's generation counter at a short interval and reloads only when it
//! moved. If the store is unreachable (at start-up or later) the layer keeps its last
//! snapshot, so requests never wait on or fail because of the store.

use std::sync::Weak;
use std::time::Duration;

use super::state::Shared;
use crate::store::Store;

pub(crate) enum StoreSource {
    Url(String),
    Open(Store),
}

/// Longest wait between attempts while the store is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) async fn watch(shared: Weak<Shared>, source: StoreSource, interval: Duration) {
    let (url, mut store) = match source {
        StoreSource::Url(url) => (url, None),
        StoreSource::Open(store) => (store.display_url().to_owned(), Some(store)),
    };
    let mut applied: Option<i64> = None;
    let mut failing = false;
    let mut wait = Duration::ZERO;
    loop {
        tokio::time::sleep(wait).await;
        // The layer is gone (the app dropped its router): stop watching.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let result = match &store {
            Some(open) => refresh(open, &shared, &mut applied).await,
            None => match Store::connect(&url).await {
                Ok(open) => {
                    let result = refresh(&open, &shared, &mut applied).await;
                    store = Some(open);
                    result
                }
                Err(err) => Err(err.to_string()),
            },
        };
        drop(shared);
        match result {
            Ok(()) => {
                if failing {
                    tracing::info!(target: "chaos", store = %url, "chaos store reachable again");
                }
                failing = false;
                wait = interval;
            }
            Err(message) => {
                if !failing {
                    tracing::warn!(
                        target: "chaos",
                        store = %url,
                        error = %message,
                        "chaos store unavailable: keeping the last loaded actions and retrying"
                    );
                }
                failing = true;
                wait = (wait * 2).clamp(interval, MAX_BACKOFF);
            }
        }
    }
}

/// Reloads the snapshot if the store's generation moved since the last load.
async fn refresh(store: &Store, shared: &Shared, applied: &mut Option<i64>) -> Result<(), String> {
    let generation = store.generation().await.map_err(|e| e.to_string())?;
    if *applied == Some(generation) {
        return Ok(());
    }
    let listing = store.list().await.map_err(|e| e.to_string())?;
    for corrupt in &listing.corrupt {
        tracing::warn!(target: "chaos", "skipping {corrupt}");
    }
    shared.apply(Some(generation), &listing.actions);
    tracing::debug!(
        target: "chaos",
        generation,
        actions = listing.actions.len(),
        "chaos snapshot reloaded"
    );
    *applied = Some(generation);
    Ok(())
}
