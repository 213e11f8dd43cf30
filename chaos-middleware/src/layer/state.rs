//! State shared by every clone of the layer, its services, its fault points and its handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::snapshot::Effect;
use crate::user::UserExtractor;
use crate::views::ChaosViews;

#[derive(Debug)]
pub(crate) struct Shared {
    /// The snapshot and the armed guards, published whole by the reloader; read
    /// without locks (from a per-thread copy) on every request.
    pub current: super::current::Published,
    /// Whether the snapshot has request-level rules: one relaxed load lets an idle layer
    /// skip even the snapshot load.
    pub has_response_rules: AtomicBool,
    pub views: ChaosViews,
    pub extract_user: UserExtractor,
    pub host: String,
    pub counters: Counters,
    /// Faults injected per action (for the heartbeat).
    pub fired: crate::snapshot::FiredCounters,
    /// False when built disabled or switched off by `CHAOS_DISABLED`.
    pub enabled: bool,
    pub limits: Limits,
    /// Graceful shutdown: stop injecting, end delays in flight, deregister.
    pub shutdown: Shutdown,
    /// Whether `current` has armed guards: one relaxed load on the request path.
    pub measuring: AtomicBool,
    /// The stored guards and a trip this instance measured. Taken by the reloader and
    /// the guard task, never on the request path.
    pub guards: std::sync::Mutex<GuardState>,
    /// Wakes the guard task when guards get armed.
    pub armed: Arc<tokio::sync::Notify>,
}

/// The guards as the store says, and a trip this instance measured itself.
#[derive(Debug, Default)]
pub(crate) struct GuardState {
    /// The stored guards, as last loaded.
    pub stored: Vec<crate::guard::Guard>,
    /// A trip this instance measured: injection stays off until the store shows the
    /// guard re-armed after the trip was written.
    pub local: Option<LocalTrip>,
    /// While guards exist: the generation and actions last applied, to apply again when
    /// a trip written here turns out to be re-armed already.
    pub applied: Option<(Option<i64>, Vec<crate::action::Action>)>,
    /// Until when (Unix ms) some enabled action is unexpired: guards trip only while
    /// chaos is active.
    pub active_until: i64,
    /// Until when some enabled action with no start and no window is unexpired.
    pub always_until: i64,
    /// The enabled actions with a start or a window: their expiry and clock. Chaos is
    /// active while one of them is inside its window.
    pub scheduled: Vec<(Option<i64>, crate::schedule::WindowClock)>,
}

/// A trip this instance measured.
#[derive(Debug, Clone)]
pub(crate) struct LocalTrip {
    /// The guard.
    pub guard: i64,
    /// When, by whom, what was measured.
    pub trip: crate::guard::Trip,
    /// The store generation after the trip was written (`None`: not written yet).
    pub written_at: Option<i64>,
}

/// The graceful-shutdown signal shared by the request path and the background tasks.
#[derive(Debug)]
pub(crate) struct Shutdown {
    /// `true` once [`crate::ChaosHandle::shutdown`] ran; delays in flight watch it.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// Whether a heartbeat task registers this instance (and so must deregister it).
    pub registers: AtomicBool,
    /// Notified by the heartbeat task once the instance's row is gone.
    pub deregistered: tokio::sync::Notify,
}

impl Shutdown {
    pub fn new() -> Self {
        Self {
            stop: tokio::sync::watch::Sender::new(false),
            registers: AtomicBool::new(false),
            deregistered: tokio::sync::Notify::new(),
        }
    }

    /// Resolves once shutdown has begun (at once if it has).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut watching = self.stop.subscribe();
        async move {
            let _ = watching.wait_for(|stopped| *stopped).await;
        }
    }
}

/// Safety caps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// No request or point is held longer than this in total.
    pub max_delay: Duration,
    /// At most this many requests and points are held by delays at once; more pass
    /// through untouched.
    pub max_active_delays: u64,
}

/// What the layer has done so far.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub slow: AtomicU64,
    pub returned: AtomicU64,
    pub aborted: AtomicU64,
    pub panicked: AtomicU64,
    pub point_slow: AtomicU64,
    pub point_error: AtomicU64,
    /// Faults not injected because too many requests were already held.
    pub skipped_by_cap: AtomicU64,
    /// Delays cut down to the cap.
    pub clamped: AtomicU64,
    /// Requests and points being held by a delay right now.
    pub active_delays: AtomicU64,
    /// Reloads that re-read every row, and those that read only changes.
    pub full_reloads: AtomicU64,
    pub incremental_reloads: AtomicU64,
    /// Rows and tombstones the last reload read.
    pub last_reload_rows: AtomicU64,
}

impl Counters {
    pub fn record(&self, effect: &Effect, at_point: bool) {
        let counter = match (effect, at_point) {
            (Effect::Slow { .. }, false) => &self.slow,
            (Effect::Slow { .. }, true) => &self.point_slow,
            (Effect::Return { .. }, _) => &self.returned,
            (Effect::Abort, _) => &self.aborted,
            (Effect::Panic, _) => &self.panicked,
            (Effect::Error { .. }, _) => &self.point_error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A slot under the cap on held requests, given back on drop (also when the client
/// goes away mid-delay and the future is dropped).
#[derive(Debug)]
pub(crate) struct ActiveDelay {
    shared: Arc<Shared>,
}

impl Shared {
    /// Takes a slot for a delayed request, or `None` (counted) when the cap is reached.
    pub fn try_hold(self: &Arc<Self>) -> Option<ActiveDelay> {
        let previous = self.counters.active_delays.fetch_add(1, Ordering::AcqRel);
        if previous >= self.limits.max_active_delays {
            self.counters.active_delays.fetch_sub(1, Ordering::AcqRel);
            self.counters.skipped_by_cap.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(ActiveDelay {
            shared: Arc::clone(self),
        })
    }

    /// Cuts `before + after` down to the delay cap (before first), counting a cut.
    pub fn clamp_delays(&self, before_ms: u64, after_ms: u64) -> (u64, u64) {
        let cap = u64::try_from(self.limits.max_delay.as_millis()).unwrap_or(u64::MAX);
        if before_ms.saturating_add(after_ms) <= cap {
            return (before_ms, after_ms);
        }
        self.counters.clamped.fetch_add(1, Ordering::Relaxed);
        let before = before_ms.min(cap);
        (before, after_ms.min(cap - before))
    }
}

impl Drop for ActiveDelay {
    fn drop(&mut self) {
        self.shared
            .counters
            .active_delays
            .fetch_sub(1, Ordering::AcqRel);
    }
}
