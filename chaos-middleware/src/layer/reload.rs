//! The background tasks that keep the snapshot in step with the store.
//!
//! - The **reloader** checks the store's change counters (one tiny query) and, when the
//!   generation moved, reads only the rows changed since ([`Store::changes_since`]). It
//!   checks at the poll interval, and at once when woken by:
//! - the **listener** (PostgreSQL, [`super::listen`]): a `LISTEN chaos_changes`
//!   connection; every write notifies in its transaction, so instances reload within
//!   milliseconds. While it is up there is no polling, only a safety check every 30 s,
//!   and the counter checks and heartbeats run on its connection. If it drops, it
//!   reconnects with backoff and polling covers the gap.
//! - The **heartbeat** registers the instance and its views in the store, and refreshes
//!   its `last_seen` and applied generation periodically and after every reload, for
//!   `chaos-admin views` and `status`.
//!
//! If the store is unreachable (at start-up or later) the layer keeps its last snapshot,
//! so requests never wait on or fail because of the store; the reloader retries with
//! backoff and resumes by itself. A SQLite file that is deleted or replaced counts as
//! unreachable (and is reopened, never re-created, once it is back).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use std::collections::BTreeMap;

use super::listen::Session;
use super::state::Shared;
use crate::action::{Action, now_ms};
use crate::relay::ReportBody;
use crate::relay::client::RelayClient;
use crate::store::{Changes, InstanceInfo, Position, Store, StoreError, ViewRoute};

pub(crate) enum StoreSource {
    Url(String),
    Open(Store),
    /// The admin server's relay (a store at `http://`).
    Relay(RelayClient),
}

/// What the builder asks of the background tasks.
pub(crate) struct WatchConfig {
    pub source: StoreSource,
    /// Fixed poll interval; `None`: the backend's default.
    pub poll_interval: Option<Duration>,
    /// Heartbeat interval; `None`: do not register the instance.
    pub heartbeat: Option<Duration>,
    /// Whether to deliver the store's queued notifications.
    pub notifications: bool,
}

/// Default poll interval on SQLite, which has no notifications.
pub(crate) const SQLITE_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Longest wait between attempts while the store is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// While the PostgreSQL change listener is connected, a safety re-read of the generation
/// at this interval (a notification lost in transit is caught within it); polling at the
/// configured interval resumes as soon as the listener is down.
pub(crate) const LISTENING_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// PostgreSQL: how long a starting reloader waits for the listener's connection before
/// loading over the pool. The listener wakes it as soon as it is connected or has failed,
/// so this only bounds a connection attempt that hangs.
const LISTENER_FIRST_WAIT: Duration = Duration::from_secs(5);

/// What the reloader publishes for the heartbeat and the guard task.
#[derive(Clone, Default)]
pub(super) struct Published {
    /// Where to register (`None` while the store is not open).
    pub(super) registry: Option<Registry>,
    generation: Option<i64>,
    applied_at: Option<i64>,
}

/// Where the heartbeat registers the instance.
#[derive(Clone)]
pub(super) enum Registry {
    /// The store, over the listener's connection (PostgreSQL) when it is up.
    Store {
        store: Store,
        session: Option<Session>,
    },
    /// The relay, which writes to its store.
    Relay(RelayClient),
}

impl Registry {
    /// Whether to wait for the first load before registering (PostgreSQL: so that a
    /// starting instance registers over the listener's connection instead of opening
    /// another; the relay: so that the first report carries a generation).
    fn waits_for_first_load(&self) -> bool {
        match self {
            Registry::Store { session, .. } => session.is_some(),
            Registry::Relay(_) => true,
        }
    }

    /// Refreshes the registration (`registered`: the instance was registered before;
    /// `fired`: fault counts by action id). Registers it when the store does not know it.
    async fn report(
        &self,
        info: &InstanceInfo,
        registered: bool,
        generation: Option<i64>,
        applied_at: Option<i64>,
        fired: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(), StoreError> {
        match self {
            Registry::Store { store, session } => {
                let fired = fired.map(|map| serde_json::Value::Object(map).to_string());
                let known = if registered {
                    super::listen::heartbeat(
                        session.as_ref(),
                        store,
                        &info.id,
                        generation,
                        applied_at,
                        fired.as_deref(),
                    )
                    .await?
                } else {
                    false
                };
                // Not registered yet, or the row was pruned: register (again).
                if !known {
                    super::listen::register_instance(
                        session.as_ref(),
                        store,
                        info,
                        generation,
                        applied_at,
                    )
                    .await?;
                }
                Ok(())
            }
            Registry::Relay(relay) => {
                relay
                    .report(&ReportBody {
                        instance: info.clone(),
                        generation,
                        applied_at,
                        fired,
                    })
                    .await
            }
        }
    }

    async fn deregister(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Registry::Store { store, .. } => store.deregister_instance(id).await,
            Registry::Relay(relay) => relay.deregister(id).await,
        }
    }

    /// Writes that guard `id` tripped; the store's generation after it.
    pub(super) async fn trip_guard(
        &self,
        id: i64,
        trip: &crate::guard::Trip,
    ) -> Result<i64, StoreError> {
        match self {
            Registry::Store { store, .. } => {
                store.trip_guard(id, trip).await?;
                store.generation().await
            }
            Registry::Relay(relay) => relay.trip_guard(id, trip).await,
        }
    }
}

/// Aborts a spawned task when dropped.
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a refresh failed.
enum RefreshError {
    /// The SQLite file is gone or was replaced: drop the store and reopen it later.
    Gone(StoreError),
    /// Anything else: keep the store (its pool reconnects) and retry.
    Failed(StoreError),
}

/// Where the reloader stands with its store.
enum Connection {
    /// Never opened: open (and on SQLite create) it from this URL.
    Never(String),
    /// Opened by the app, not yet set up (listener, poll interval, heartbeat).
    Given(Store),
    Open(Store),
    /// Had it and lost it (SQLite file gone): reopen it, never create it anew.
    Lost(Store),
}

pub(crate) async fn watch(shared: Weak<Shared>, config: WatchConfig) {
    let (published, watching) = watch::channel(Published::default());
    let Some(stopped) = shared.upgrade().map(|layer| layer.shutdown.stopped()) else {
        return;
    };
    tokio::pin!(stopped);
    let info = match shared.upgrade() {
        Some(layer) => instance_info(
            &layer,
            config
                .heartbeat
                .unwrap_or(super::DEFAULT_HEARTBEAT_INTERVAL),
        ),
        None => return,
    };
    tokio::spawn(super::guard::watch_guards(
        shared.clone(),
        watching.clone(),
        info.id.clone(),
    ));
    if config.notifications
        && let Some(layer) = shared.upgrade()
    {
        tokio::spawn(super::deliver::deliver(
            watching.clone(),
            layer.shutdown.stopped(),
        ));
    }
    if let (Some(every), Some(layer)) = (config.heartbeat, shared.upgrade()) {
        // Not aborted with the reloader: it ends by itself (deregistering the instance)
        // when `published` is dropped or the layer shuts down.
        layer
            .shutdown
            .registers
            .store(true, std::sync::atomic::Ordering::Release);
        let task = heartbeat(watching, info, every, Arc::downgrade(&layer));
        tokio::spawn(task);
    }
    let (url, mut connection) = match config.source {
        StoreSource::Url(url) => (crate::store::redact_url(&url), Connection::Never(url)),
        StoreSource::Open(store) => (store.display_url().to_owned(), Connection::Given(store)),
        StoreSource::Relay(relay) => return subscribe(shared, relay, published, stopped).await,
    };
    let wake = Arc::new(Notify::new());
    // PostgreSQL: the listener task and the way to its connection.
    let mut listener: Option<(Session, AbortOnDrop)> = None;
    let mut interval = config.poll_interval.unwrap_or(super::DEFAULT_POLL_INTERVAL);
    let mut applied = Applied::default();
    let mut failing = false;
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
            // Graceful shutdown: stop watching (the heartbeat deregisters).
            () = &mut stopped => return,
        }
        // The layer is gone (the app dropped its router): stop watching.
        let Some(layer) = shared.upgrade() else {
            return;
        };
        let opened = match &connection {
            Connection::Open(_) => None,
            Connection::Given(store) => Some(Ok(store.clone())),
            Connection::Never(raw_url) => Some(Store::connect(raw_url).await),
            Connection::Lost(old) => Some(old.reopen().await),
        };
        match opened {
            None => {}
            Some(Ok(store)) => {
                if matches!(connection, Connection::Lost(_)) {
                    // Perhaps another file now: its generation says nothing about ours.
                    applied = Applied::default();
                }
                if config.poll_interval.is_none() && store.backend_name() == "sqlite" {
                    interval = SQLITE_POLL_INTERVAL;
                }
                let mut first_over_listener = false;
                if listener.is_none() && store.backend_name() == "postgres" {
                    let (session, task) =
                        super::listen::spawn(store.clone(), Arc::clone(&wake), url.clone());
                    listener = Some((session, AbortOnDrop(task)));
                    first_over_listener = true;
                }
                let session = listener.as_ref().map(|(session, _)| session.clone());
                published.send_modify(|p| {
                    p.registry = Some(Registry::Store {
                        store: store.clone(),
                        session,
                    });
                });
                connection = Connection::Open(store);
                if first_over_listener {
                    // The first load over the listener's connection once it is up (it
                    // wakes us), so a starting instance opens one connection, not two;
                    // over the pool if it fails (it wakes us too) or hangs.
                    drop(layer);
                    wait = LISTENER_FIRST_WAIT;
                    continue;
                }
            }
            Some(Err(err)) => {
                drop(layer);
                report_failure(&url, &err, &mut failing);
                wait = backoff(wait, interval);
                continue;
            }
        }
        let Connection::Open(store) = &connection else {
            continue;
        };
        let session = listener.as_ref().map(|(session, _)| session);
        let result = refresh(store, session, &layer, &mut applied).await;
        drop(layer);
        match result {
            Ok(reloaded) => {
                if failing {
                    tracing::info!(target: "chaos", store = %url, "chaos store reachable again");
                }
                failing = false;
                // No polling while notifications arrive: only a safety check.
                wait = if session.is_some_and(Session::listening) {
                    LISTENING_CHECK_INTERVAL
                } else {
                    interval
                };
                if reloaded {
                    published.send_modify(|p| {
                        p.generation = applied.position.map(|p| p.generation);
                        p.applied_at = Some(now_ms());
                    });
                }
            }
            Err(RefreshError::Gone(err)) => {
                report_failure(&url, &err, &mut failing);
                published.send_modify(|p| p.registry = None);
                let old = store.clone();
                // Close the lost file's connections in the background.
                tokio::spawn({
                    let old = old.clone();
                    async move { old.close().await }
                });
                connection = Connection::Lost(old);
                wait = backoff(wait, interval);
            }
            Err(RefreshError::Failed(err)) => {
                report_failure(&url, &err, &mut failing);
                wait = backoff(wait, interval);
            }
        }
    }
}

fn backoff(wait: Duration, interval: Duration) -> Duration {
    (wait * 2).clamp(interval, MAX_BACKOFF)
}

fn report_failure(url: &str, err: &StoreError, failing: &mut bool) {
    if !*failing {
        tracing::warn!(
            target: "chaos",
            store = %url,
            error = %err,
            "chaos store unavailable: keeping the last loaded actions and retrying"
        );
    }
    *failing = true;
}

/// What the reloader has applied: the position and the actions, by id.
#[derive(Default)]
struct Applied {
    position: Option<Position>,
    actions: BTreeMap<i64, Action>,
}

/// Reloads the snapshot if the store's generation moved since the last load, reading
/// only the rows changed since (see [`Store::changes_since`]); returns whether it did.
async fn refresh(
    store: &Store,
    session: Option<&Session>,
    shared: &Shared,
    applied: &mut Applied,
) -> Result<bool, RefreshError> {
    store.check_file().map_err(RefreshError::Gone)?;
    let started = Instant::now();
    // Over the listener's connection when it is up, else the pool's.
    let changes = super::listen::changes_since(session, store, applied.position)
        .await
        .map_err(RefreshError::Failed)?;
    Ok(apply_changes(changes, shared, applied, started))
}

/// Applies what changed to `applied` and publishes the snapshot; whether anything did.
fn apply_changes(
    changes: Changes,
    shared: &Shared,
    applied: &mut Applied,
    started: Instant,
) -> bool {
    let (position, read, full, guards) = match changes {
        Changes::Unchanged => return false,
        Changes::All {
            position,
            listing,
            guards,
        } => {
            for corrupt in &listing.corrupt {
                tracing::warn!(target: "chaos", "skipping {corrupt}");
            }
            let read = listing.actions.len() + listing.corrupt.len();
            applied.actions = listing.actions.into_iter().map(|a| (a.id, a)).collect();
            (position, read, true, Some(guards))
        }
        Changes::Since {
            position,
            changed,
            deleted,
            guards,
        } => {
            let read = changed.actions.len() + changed.corrupt.len() + deleted.len();
            for id in deleted {
                applied.actions.remove(&id);
            }
            for corrupt in changed.corrupt {
                tracing::warn!(target: "chaos", "skipping {corrupt}");
                if let Some(id) = corrupt.id {
                    applied.actions.remove(&id);
                }
            }
            for action in changed.actions {
                applied.actions.insert(action.id, action);
            }
            (position, read, false, guards)
        }
    };
    // Counted before the snapshot is published, so whoever sees the new snapshot sees
    // the counts too.
    let counters = &shared.counters;
    let kind = if full {
        &counters.full_reloads
    } else {
        &counters.incremental_reloads
    };
    kind.fetch_add(1, Ordering::Relaxed);
    counters
        .last_reload_rows
        .store(u64::try_from(read).unwrap_or(u64::MAX), Ordering::Relaxed);
    let generation = position.generation;
    shared.apply(
        Some(generation),
        applied.actions.values(),
        guards.as_deref(),
    );
    tracing::debug!(
        target: "chaos",
        generation,
        actions = applied.actions.len(),
        rows_read = read,
        full,
        elapsed_us = started.elapsed().as_micros() as u64,
        "chaos snapshot reloaded"
    );
    applied.position = Some(position);
    true
}

/// How long a long poll of the relay waits for a change (s); the relay answers sooner
/// when something changes.
const RELAY_WAIT: Duration = Duration::from_secs(25);
/// Shortest wait before asking the relay again after a failure (doubling to 5 s).
const MIN_RELAY_BACKOFF: Duration = Duration::from_millis(200);
/// Shortest time between two polls: a server that answers at once (not a relay, or a
/// broken one) gets at most 10 polls a second.
const MIN_RELAY_POLL: Duration = Duration::from_millis(100);

/// The reloader of a layer whose store is the relay: long polls, each answered when the
/// store changes (or after [`RELAY_WAIT`]), applied like the store's own changes. While the
/// relay is unreachable the last snapshot stays in force and polls back off.
async fn subscribe(
    shared: Weak<Shared>,
    relay: RelayClient,
    published: watch::Sender<Published>,
    mut stopped: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) {
    let url = relay.display_url().to_owned();
    published.send_modify(|p| p.registry = Some(Registry::Relay(relay.clone())));
    let mut applied = Applied::default();
    let mut failing = false;
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stopped => return,
        }
        if shared.strong_count() == 0 {
            return;
        }
        let started = Instant::now();
        let answer = tokio::select! {
            answer = relay.changes(applied.position, RELAY_WAIT) => answer,
            () = &mut stopped => return,
        };
        let Some(layer) = shared.upgrade() else {
            return;
        };
        match answer {
            Ok(changes) => {
                if failing {
                    tracing::info!(target: "chaos", store = %url, "chaos relay reachable again");
                }
                failing = false;
                wait = MIN_RELAY_POLL.saturating_sub(started.elapsed());
                if apply_changes(changes, &layer, &mut applied, started) {
                    published.send_modify(|p| {
                        p.generation = applied.position.map(|p| p.generation);
                        p.applied_at = Some(now_ms());
                    });
                }
            }
            Err(err) => {
                report_failure(&url, &err, &mut failing);
                wait = backoff(wait, MIN_RELAY_BACKOFF);
            }
        }
    }
}

fn instance_info(shared: &Shared, heartbeat: Duration) -> InstanceInfo {
    let pid = std::process::id();
    let suffix: u32 = rand::random();
    InstanceInfo {
        // 32 random bits: layers built in one process (one pid) must not collide.
        id: format!("{}-{pid}-{suffix:08x}", shared.host),
        host: shared.host.clone(),
        pid: i64::from(pid),
        started_at: now_ms(),
        heartbeat_ms: i64::try_from(heartbeat.as_millis()).unwrap_or(i64::MAX),
        views: shared
            .views
            .iter()
            .map(|(name, pattern)| ViewRoute {
                name: name.to_owned(),
                pattern: pattern.to_owned(),
                methods: shared.views.methods_of(pattern).to_vec(),
            })
            .collect(),
    }
}

/// Registers the instance once the store is reachable, then refreshes it every
/// `every` and after every reload. Failures are logged and never reach requests. On the
/// layer's graceful shutdown it removes the registration and says so.
async fn heartbeat(
    mut published: watch::Receiver<Published>,
    info: InstanceInfo,
    every: Duration,
    layer: Weak<Shared>,
) {
    let Some(stopped) = layer.upgrade().map(|l| l.shutdown.stopped()) else {
        return;
    };
    tokio::pin!(stopped);
    let mut registered = false;
    let mut failing = false;
    let mut last_registry: Option<Registry> = None;
    // Fault counts at the previous heartbeat, to report what fired in the interval.
    let mut previous: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    loop {
        let state = published.borrow_and_update().clone();
        let ready = state
            .registry
            .as_ref()
            .filter(|r| !(r.waits_for_first_load() && state.generation.is_none()));
        if let Some(registry) = ready {
            let fired = layer.upgrade().map(|layer| {
                let now = layer.fired.read();
                let report: serde_json::Map<String, serde_json::Value> = now
                    .iter()
                    .map(|(id, total)| {
                        let recent = total.saturating_sub(previous.get(id).copied().unwrap_or(0));
                        (id.to_string(), serde_json::json!([total, recent]))
                    })
                    .collect();
                previous = now.into_iter().collect();
                report
            });
            let result = registry
                .report(&info, registered, state.generation, state.applied_at, fired)
                .await;
            match result {
                Ok(()) => {
                    registered = true;
                    failing = false;
                }
                Err(err) => {
                    registered = false;
                    if !failing {
                        tracing::warn!(
                            target: "chaos",
                            instance = %info.id,
                            error = %err,
                            "cannot register this instance in the chaos store (requests are not affected)"
                        );
                    }
                    failing = true;
                }
            }
            last_registry = Some(registry.clone());
        }
        let ending = tokio::select! {
            // The reloader stopped (the layer is gone, or shuts down).
            changed = published.changed() => changed.is_err(),
            () = tokio::time::sleep(every) => false,
            () = &mut stopped => true,
        };
        if ending {
            // Say so in the store, and to a waiting `ChaosHandle::shutdown`.
            if let Some(registry) = last_registry {
                let _ = registry.deregister(&info.id).await;
            }
            if let Some(layer) = layer.upgrade() {
                layer.shutdown.deregistered.notify_one();
            }
            return;
        }
    }
}
