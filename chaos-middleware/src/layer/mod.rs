//! The tower layer: configuration, construction and the handle apps use to observe it.

mod body;
mod current;
mod deliver;
mod future;
mod guard;
mod listen;
mod reload;
mod service;
mod state;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tower::Layer;

pub use body::{BoxError, ChaosAbort};
pub use future::ResponseFuture;
pub use service::ChaosService;
pub(crate) use state::{ActiveDelay, Shared};

use crate::action::Action;
use crate::action::DEFAULT_MAX_DELAY;
use crate::point::{ChaosPointError, GLOBAL, point_outcome};
use crate::snapshot::{FiredCounters, Snapshot};
use crate::store::Store;
use crate::user::{ChaosUser, RequestInfo, UserExtractor};
use crate::views::ChaosViews;
use state::{Counters, Limits};

/// The environment variable that turns every injection off at start-up, whatever the
/// store says (`CHAOS_DISABLED=1`).
pub const DISABLE_ENV: &str = "CHAOS_DISABLED";

/// Default cap on how many requests (and points) may be held by delays at once.
pub const DEFAULT_MAX_ACTIVE_DELAYS: u64 = 10_000;

/// Default interval between change checks against a PostgreSQL store (a fallback: the
/// layer also listens for change notifications and reloads at once).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Default interval between change checks against a SQLite store (which has no
/// notifications; a check is one `stat` and one single-row query).
pub const DEFAULT_SQLITE_POLL_INTERVAL: Duration = reload::SQLITE_POLL_INTERVAL;

/// Default interval between the heartbeats that keep this instance (and its views)
/// registered in the store, for `chaos-admin views` and `chaos-admin status`.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);

/// A tower [`Layer`] that injects the chaos actions stored in a database.
///
/// Add it with `Router::layer` after the routes (so axum's `MatchedPath` is known), and
/// put the app's auth outside it so the user is known:
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use chaos_middleware::{ChaosLayer, ChaosViews};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut views = ChaosViews::new();
/// let app: Router = Router::new()
///     .route(views.name("items", "/items"), get(|| async { "items" }));
/// let chaos = ChaosLayer::builder()
///     .enabled(true)
///     .database_url("sqlite://chaos.db")
///     .views(views)
///     .build()?;
/// let app = app.layer(chaos);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ChaosLayer {
    shared: Arc<Shared>,
}

impl ChaosLayer {
    /// A builder; the layer it builds injects nothing unless `.enabled(true)` is set.
    pub fn builder() -> ChaosLayerBuilder {
        ChaosLayerBuilder::default()
    }

    /// The layer around a whole axum [`Router`](axum::Router), as one service: no
    /// per-route wrapping, so a request costs only the layer's own work (see BENCHMARKS.md,
    /// "Instructions per request"). Serve it as a router:
    /// `axum::serve(listener, chaos.around(app))`.
    ///
    /// Requests carry no `MatchedPath` there; the layer finds the route pattern with
    /// axum's matcher (`matchit`) from the named views (nested ones with their prefix) and
    /// the patterns actions target, so views resolve as with `Router::layer`. Layers
    /// inside the router run after chaos, so the user must be known outside it.
    ///
    /// Unlike `tower::Layer::layer(&chaos, app)`, which works too, this first turns the
    /// router's handlers into services once (`Router::with_state(())`, as `axum::serve`
    /// does for a bare `Router`); a `Router` used as a plain service does it on every
    /// request, one allocation each.
    pub fn around(&self, router: axum::Router) -> ChaosService<axum::Router> {
        ChaosService::new(router.with_state(()), Arc::clone(&self.shared), true)
    }

    /// A handle to observe the layer (and, in tests, to install actions directly).
    pub fn handle(&self) -> ChaosHandle {
        ChaosHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> Layer<S> for ChaosLayer {
    type Service = ChaosService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ChaosService::new(inner, Arc::clone(&self.shared), false)
    }
}

/// Builds a [`ChaosLayer`]; see [`ChaosLayer::builder`].
#[derive(Debug, Default)]
pub struct ChaosLayerBuilder {
    enabled: bool,
    source: Option<Source>,
    views: ChaosViews,
    extract_user: Option<UserExtractor>,
    host: Option<String>,
    poll_interval: Option<Duration>,
    max_delay: Option<Duration>,
    max_active_delays: Option<u64>,
    heartbeat: Option<Duration>,
    no_registration: bool,
    no_notifications: bool,
    relay_token: Option<String>,
}

#[derive(Debug)]
enum Source {
    Url(String),
    Store(Store),
}

/// Why a layer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A store was configured but there is no tokio runtime to reload it on.
    #[error("the chaos layer needs a tokio runtime to watch its store: build it inside one")]
    NoRuntime,
    /// The poll or heartbeat interval is zero.
    #[error("poll and heartbeat intervals must be greater than zero")]
    ZeroPollInterval,
}

impl ChaosLayerBuilder {
    /// Turns injection on. Off by default: chaos is opt-in.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Reads actions from the store at this URL: a database (`sqlite://PATH`,
    /// `postgres://...`, `mysql://...`), or the relay of `chaos-admin serve`
    /// (`http://[:TOKEN@]HOST:PORT`, see [`crate::relay`]), which holds the database
    /// connection for many instances. The app starts even if the store is unreachable;
    /// chaos begins once it answers.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// The token for a relay store (`http://`), sent as `Authorization: Bearer TOKEN`;
    /// wins over the URL's user info and over `CHAOS_RELAY_TOKEN` in the environment.
    pub fn relay_token(mut self, token: impl Into<String>) -> Self {
        self.relay_token = Some(token.into());
        self
    }

    /// Reads actions from an already opened store.
    pub fn store(mut self, store: Store) -> Self {
        self.source = Some(Source::Store(store));
        self
    }

    /// The app's view names (see [`ChaosViews`]).
    pub fn views(mut self, views: ChaosViews) -> Self {
        self.views = views;
        self
    }

    /// How the layer learns the user; the default reads a [`ChaosUser`] extension.
    pub fn user_extractor(
        mut self,
        extract: impl Fn(&RequestInfo<'_>) -> Option<ChaosUser> + Send + Sync + 'static,
    ) -> Self {
        self.extract_user = Some(UserExtractor::new(extract));
        self
    }

    /// This instance's host name, for `--host` filters (default: the machine's).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Cap on the total delay of one request or point (default 30 s); longer delays are
    /// cut to it and counted.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = Some(cap);
        self
    }

    /// Cap on requests and points held by delays at once (default 10,000); faults for
    /// requests over it are skipped (the request passes untouched) and counted.
    pub fn max_active_delays(mut self, cap: u64) -> Self {
        self.max_active_delays = Some(cap);
        self
    }

    /// How often to check the store for changes (default 50 ms on SQLite; 200 ms on
    /// PostgreSQL, where change notifications make the reload immediate anyway).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// How often this instance refreshes its registration (views, applied generation)
    /// in the store (default 10 s; it also reports after every reload).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// Whether to register this instance and its views in the store (default `true`).
    /// Registration failures never affect requests.
    pub fn register_instance(mut self, register: bool) -> Self {
        self.no_registration = !register;
        self
    }

    /// Whether this instance delivers the notifications queued in the store to its
    /// webhooks (default `true`; see [`crate::notification`]). Deliveries are claimed, so
    /// many instances never send one twice; turn it off where instances must not make
    /// outgoing requests (then run `chaos-admin serve` or `chaos-admin notify deliver`).
    /// Not used with a relay store.
    pub fn deliver_notifications(mut self, deliver: bool) -> Self {
        self.no_notifications = !deliver;
        self
    }

    /// Builds the layer and, when enabled with a store, starts watching the store.
    ///
    /// `CHAOS_DISABLED=1` (or `true`/`yes`) in the environment forces the layer off.
    pub fn build(self) -> Result<ChaosLayer, BuildError> {
        if self.poll_interval.is_some_and(|i| i.is_zero())
            || self.heartbeat.is_some_and(|i| i.is_zero())
        {
            return Err(BuildError::ZeroPollInterval);
        }
        let heartbeat =
            (!self.no_registration).then(|| self.heartbeat.unwrap_or(DEFAULT_HEARTBEAT_INTERVAL));
        let enabled = self.enabled && !disabled_by_env();
        let shared = Arc::new(Shared {
            current: current::Published::new(current::Current {
                snapshot: Snapshot::empty(),
                monitor: None,
            }),
            has_response_rules: AtomicBool::new(false),
            views: self.views,
            extract_user: self.extract_user.unwrap_or_default(),
            host: self.host.unwrap_or_else(local_host_name),
            counters: Counters::default(),
            fired: FiredCounters::default(),
            enabled,
            limits: Limits {
                max_delay: self.max_delay.unwrap_or(DEFAULT_MAX_DELAY),
                max_active_delays: self.max_active_delays.unwrap_or(DEFAULT_MAX_ACTIVE_DELAYS),
            },
            shutdown: state::Shutdown::new(),
            measuring: AtomicBool::new(false),
            guards: std::sync::Mutex::default(),
            armed: Arc::default(),
        });
        if enabled {
            // `chaos_point` consults the last enabled layer built in the process.
            GLOBAL.store(Some(Arc::clone(&shared)));
        }
        match (enabled, self.source) {
            (true, Some(source)) => {
                let runtime =
                    tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
                let source = match source {
                    Source::Url(url) if crate::relay::is_relay_url(&url) => {
                        match crate::relay::client::RelayClient::new(
                            &url,
                            self.relay_token.as_deref(),
                        ) {
                            Ok(relay) => reload::StoreSource::Relay(relay),
                            Err(err) => {
                                // The app starts (without chaos), as on any store it
                                // cannot use.
                                tracing::error!(target: "chaos", error = %err, "chaos store unusable: no faults will be injected");
                                return Ok(ChaosLayer { shared });
                            }
                        }
                    }
                    Source::Url(url) => reload::StoreSource::Url(url),
                    Source::Store(store) => reload::StoreSource::Open(store),
                };
                runtime.spawn(reload::watch(
                    Arc::downgrade(&shared),
                    reload::WatchConfig {
                        source,
                        poll_interval: self.poll_interval,
                        heartbeat,
                        notifications: !self.no_notifications,
                    },
                ));
            }
            (false, _) => {
                tracing::info!(target: "chaos", "chaos layer is disabled: no faults will be injected")
            }
            (true, None) => {}
        }
        Ok(ChaosLayer { shared })
    }
}

fn disabled_by_env() -> bool {
    std::env::var(DISABLE_ENV)
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

pub(crate) fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Observes a [`ChaosLayer`]: what it has loaded and what it has injected.
#[derive(Debug, Clone)]
pub struct ChaosHandle {
    shared: Arc<Shared>,
}

/// A point-in-time view of a layer's state, e.g. for a metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosStats {
    /// Whether the layer injects at all.
    pub enabled: bool,
    /// Store generation of the loaded snapshot (`None` before the first load).
    pub generation: Option<i64>,
    /// Time since the snapshot was built.
    pub snapshot_age: Duration,
    /// Request-level rules in the snapshot.
    pub rules: usize,
    /// Fault point rules in the snapshot.
    pub point_rules: usize,
    /// Requests delayed by `slow` so far.
    pub injected_slow: u64,
    /// Requests answered by `return` so far.
    pub injected_return: u64,
    /// Connections dropped by `abort` so far.
    pub injected_abort: u64,
    /// Panics injected so far.
    pub injected_panic: u64,
    /// Fault points delayed so far.
    pub injected_point_slow: u64,
    /// Fault point errors injected so far.
    pub injected_point_error: u64,
    /// Faults skipped because too many requests were held by delays already.
    pub skipped_by_cap: u64,
    /// Delays cut down to the delay cap.
    pub clamped_delays: u64,
    /// Requests and points held by a delay right now.
    pub active_delays: u64,
    /// Reloads that re-read every stored row (the first load; see
    /// [`Store::changes_since`](crate::Store::changes_since) for the others).
    pub full_reloads: u64,
    /// Reloads that read only the rows changed since the applied generation.
    pub incremental_reloads: u64,
    /// Rows and tombstones read by the last reload.
    pub last_reload_rows: u64,
    /// Whether a guard is tripped (in the store, or measured here): nothing is injected.
    pub guard_tripped: bool,
    /// Whether guards are armed and measuring the app's own responses.
    pub guards_armed: bool,
}

impl ChaosHandle {
    /// Counters and snapshot facts.
    pub fn stats(&self) -> ChaosStats {
        let current = self.shared.current.load();
        let snapshot = &current.snapshot;
        let counters = &self.shared.counters;
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        ChaosStats {
            enabled: self.shared.enabled,
            generation: snapshot.generation,
            snapshot_age: snapshot.built_at.elapsed(),
            rules: snapshot.rule_count,
            point_rules: snapshot.point_rule_count,
            injected_slow: read(&counters.slow),
            injected_return: read(&counters.returned),
            injected_abort: read(&counters.aborted),
            injected_panic: read(&counters.panicked),
            injected_point_slow: read(&counters.point_slow),
            injected_point_error: read(&counters.point_error),
            skipped_by_cap: read(&counters.skipped_by_cap),
            clamped_delays: read(&counters.clamped),
            active_delays: read(&counters.active_delays),
            full_reloads: read(&counters.full_reloads),
            incremental_reloads: read(&counters.incremental_reloads),
            last_reload_rows: read(&counters.last_reload_rows),
            guard_tripped: self.shared.guard_tripped(),
            guards_armed: self.shared.measuring.load(Ordering::Relaxed),
        }
    }

    /// Runs the fault point `name` against this layer (rather than the process-wide one
    /// [`chaos_point`](crate::chaos_point) uses), optionally as `user`.
    pub async fn point(&self, name: &str, user: Option<&ChaosUser>) -> Result<(), ChaosPointError> {
        match point_outcome(&self.shared, name, user) {
            Some(outcome) => outcome.apply().await,
            None => Ok(()),
        }
    }

    /// Replaces the rule set with `actions` (what the store watcher does on a change).
    /// Ignored when the layer is disabled or shut down.
    pub fn apply(&self, generation: Option<i64>, actions: &[Action]) {
        self.shared.apply(generation, actions, None);
    }

    /// Like [`ChaosHandle::apply`], with the stored guards too (see [`crate::guard`]):
    /// untripped guards measure the app's own responses while actions are active; a
    /// tripped one stops every action.
    pub fn apply_with_guards(
        &self,
        generation: Option<i64>,
        actions: &[Action],
        guards: &[crate::guard::Guard],
    ) {
        self.shared.apply(generation, actions, Some(guards));
    }

    /// Graceful shutdown, for the app's shutdown signal (e.g. inside axum's
    /// `with_graceful_shutdown`): the layer stops injecting, delays in flight end at once
    /// (they are chaos, not work, so the server drains quickly), the background tasks
    /// stop, and this instance's registration is removed from the store so
    /// `chaos-admin status` stops counting it at once. Waits at most 2 s for the store.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router, chaos: chaos_middleware::ChaosLayer) -> std::io::Result<()> {
    /// let handle = chaos.handle();
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(async move {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///         handle.shutdown().await;
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        let deregistered = shared.shutdown.deregistered.notified();
        shared.shutdown.stop.send_replace(true);
        {
            // Under the lock `apply` publishes with, after the stop it checks there: no
            // reload compiled before the stop can publish after this.
            let _state = shared.guards.lock().unwrap_or_else(|p| p.into_inner());
            shared.publish(Snapshot::empty(), None);
        }
        if shared.shutdown.registers.load(Ordering::Acquire) {
            let _ = tokio::time::timeout(SHUTDOWN_DEREGISTER_TIMEOUT, deregistered).await;
        }
    }
}

/// How long [`ChaosHandle::shutdown`] waits for the instance's row to be removed.
const SHUTDOWN_DEREGISTER_TIMEOUT: Duration = Duration::from_secs(2);

impl Shared {
    /// Compiles and publishes the snapshot of `actions` at `generation`, with `guards`
    /// when they changed (`None`: the ones applied before). While a guard is tripped (in
    /// the store, or measured here and not yet re-armed) every action compiles as
    /// disabled: nothing is injected, and fault counts are kept.
    pub(crate) fn apply<'a>(
        &self,
        generation: Option<i64>,
        actions: impl IntoIterator<Item = &'a Action>,
        guards: Option<&[crate::guard::Guard]>,
    ) {
        if !self.enabled || *self.shutdown.stop.borrow() {
            return;
        }
        let mut state = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        if *self.shutdown.stop.borrow() {
            return;
        }
        if let Some(guards) = guards {
            state.stored = guards.to_vec();
        }
        let rearmed = state.local.as_ref().is_some_and(|local| {
            local
                .written_at
                .is_some_and(|at| generation.is_some_and(|g| g >= at))
                && !state
                    .stored
                    .iter()
                    .any(|g| g.id == local.guard && g.tripped.is_some())
        });
        if rearmed {
            state.local = None;
        }
        let tripped = state.local.is_some() || state.stored.iter().any(|g| g.tripped.is_some());
        let actions: Vec<&Action> = actions.into_iter().collect();
        let now = crate::action::now_ms();
        // Chaos is active while an enabled action has not expired (and, for one with a
        // start or a window, is inside it: checked when a guard is).
        let live = || {
            actions
                .iter()
                .filter(|a| a.spec.enabled && !a.is_expired_at(now))
        };
        let until = |a: &&&Action| a.spec.expires_at.unwrap_or(i64::MAX);
        state.active_until = live().map(|a| until(&a)).max().unwrap_or(i64::MIN);
        state.always_until = live()
            .filter(|a| a.spec.starts_at.is_none() && a.spec.window.is_none())
            .map(|a| until(&a))
            .max()
            .unwrap_or(i64::MIN);
        state.scheduled = live()
            .filter_map(|a| {
                crate::schedule::WindowClock::new(a.spec.starts_at, a.spec.window.as_ref())
                    .map(|clock| (a.spec.expires_at, clock))
            })
            .collect();
        state.applied = (!state.stored.is_empty() || state.local.is_some())
            .then(|| (generation, actions.iter().map(|a| (*a).clone()).collect()));
        let snapshot = if tripped {
            let inert: Vec<Action> = actions
                .iter()
                .map(|action| {
                    let mut action = (*action).clone();
                    action.spec.enabled = false;
                    action
                })
                .collect();
            Snapshot::compile(generation, &inert, &self.views, &self.host, &self.fired)
        } else {
            Snapshot::compile(
                generation,
                actions.iter().copied(),
                &self.views,
                &self.host,
                &self.fired,
            )
        };
        let active = state.active_until > now && !tripped;
        let monitor = if active {
            let previous = self.current.load().monitor.clone();
            crate::guard::monitor::Monitor::build(&state.stored, &self.views, previous.as_deref())
        } else {
            None
        };
        let armed = monitor.is_some();
        self.publish(snapshot, monitor);
        drop(state);
        if armed {
            self.armed.notify_one();
        }
    }

    /// Stops injecting at once because guard `guard` tripped here (unless a trip is
    /// already pending); returns whether this call stopped it. The reloader keeps
    /// injection off until the store shows the guard re-armed after the trip was written.
    pub(crate) fn trip_locally(&self, guard: i64, trip: crate::guard::Trip) -> bool {
        let mut state = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        if state.local.is_some() {
            return false;
        }
        state.local = Some(state::LocalTrip {
            guard,
            trip,
            written_at: None,
        });
        let generation = self.current.load().snapshot.generation;
        self.publish(Snapshot::inert(generation), None);
        true
    }

    /// Swaps in what the request path reads: the snapshot, the armed guards, and the two
    /// flags derived from them (one relaxed load each on the request path). Called with
    /// the `guards` lock held, so publications do not interleave.
    fn publish(&self, snapshot: Snapshot, monitor: Option<crate::guard::monitor::Monitor>) {
        let has_rules = !snapshot.has_no_response_rules();
        let armed = monitor.is_some();
        self.current.store(current::Current {
            snapshot,
            monitor: monitor.map(Arc::new),
        });
        self.has_response_rules.store(has_rules, Ordering::Relaxed);
        self.measuring.store(armed, Ordering::Relaxed);
    }

    /// The trip measured here that is not written to the store yet.
    pub(crate) fn unwritten_trip(&self) -> Option<(i64, crate::guard::Trip)> {
        let state = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        state
            .local
            .as_ref()
            .filter(|local| local.written_at.is_none())
            .map(|local| (local.guard, local.trip.clone()))
    }

    /// The trip measured here was written; the store was at `generation` after it. If
    /// that generation is applied already (the guard was reset or removed meanwhile, so
    /// no newer change is coming), the stop is re-checked at once.
    pub(crate) fn trip_written(&self, generation: i64) {
        let again = {
            let mut state = self.guards.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(local) = state.local.as_mut() {
                local.written_at = Some(generation);
            }
            state.applied.clone()
        };
        if let Some((applied, actions)) = again
            && applied.is_some_and(|g| g >= generation)
        {
            self.apply(applied, &actions, None);
        }
    }

    /// Whether chaos is active now (an enabled action has not expired and is inside its
    /// start and window): guards trip only then.
    pub(crate) fn chaos_active(&self) -> bool {
        let state = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::action::now_ms();
        state.always_until > now
            || state
                .scheduled
                .iter()
                .any(|(expires, clock)| expires.is_none_or(|at| at > now) && clock.is_active(now))
    }

    /// Whether a guard is tripped (in the store, or measured here).
    pub(crate) fn guard_tripped(&self) -> bool {
        let state = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        state.local.is_some() || state.stored.iter().any(|g| g.tripped.is_some())
    }
}
