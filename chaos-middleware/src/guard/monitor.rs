//! The armed guards of one layer: where the request path records the responses it did
//! not inject, and what the guard task checks once a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rustc_hash::FxHashMap;

use super::window::{Summary, Window};
use super::{Guard, format_percent};
use crate::views::ChaosViews;

/// One armed guard and its window.
#[derive(Debug)]
struct Armed {
    guard: Guard,
    window: Arc<Window>,
}

/// The armed guards, compiled with the snapshot (see [`Monitor::build`]).
#[derive(Debug)]
pub(crate) struct Monitor {
    armed: Vec<Armed>,
    /// Guards on every view.
    overall: Vec<usize>,
    /// Guards per view key (route pattern, or a path): index into `groups`.
    by_view: FxHashMap<Box<str>, u32>,
    groups: Vec<Vec<usize>>,
    /// Whether a guard limits the p99: only then is each response timed (two clock
    /// reads); error rates need only the coarse clock.
    timed: bool,
    /// The windows' time (ms), advanced by the guard task every [`TICK`]: reading it is
    /// one relaxed load, where a clock read costs about 20 ns per request.
    coarse_ms: AtomicU64,
}

/// How often the guard task advances the coarse clock.
pub(crate) const TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Where a measured request records itself: the monitor and its view's guards.
#[derive(Debug)]
pub(crate) struct Measure {
    monitor: Arc<Monitor>,
    group: Option<u32>,
    /// Set when a guard limits the p99.
    started: Option<Instant>,
    /// Delay injected at fault points while the handler ran (ms), not the app's time.
    point_delay_ms: u64,
}

tokio::task_local! {
    /// While a timed request's handler is polled: the delay injected at fault points
    /// (ms), which its latency must not count.
    static POINT_DELAY_MS: std::cell::Cell<u64>;
}

/// A fault point held its caller `ms`: counted out of the latency of the request being
/// measured, if any.
pub(crate) fn point_delayed(ms: u64) {
    let _ = POINT_DELAY_MS.try_with(|delay| delay.set(delay.get().saturating_add(ms)));
}

/// Milliseconds on the process's monotonic clock (the windows' time).
fn clock_ms(at: Instant) -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(at.saturating_duration_since(base).as_millis()).unwrap_or(u64::MAX)
}

impl Monitor {
    /// The monitor for the untripped `guards`, keyed by the view keys requests carry
    /// (a view name is resolved to its patterns); windows of guards that were armed
    /// before with the same limits are kept, so a reload does not forget what was
    /// measured. `None` when no guard is armed.
    pub(crate) fn build(
        guards: &[Guard],
        views: &ChaosViews,
        previous: Option<&Monitor>,
    ) -> Option<Monitor> {
        let mut monitor = Monitor {
            armed: Vec::new(),
            overall: Vec::new(),
            by_view: FxHashMap::default(),
            groups: Vec::new(),
            timed: false,
            coarse_ms: AtomicU64::new(clock_ms(Instant::now())),
        };
        for guard in guards.iter().filter(|g| g.tripped.is_none()) {
            let window = previous
                .and_then(|p| {
                    p.armed
                        .iter()
                        .find(|a| a.guard.id == guard.id && a.guard.spec == guard.spec)
                })
                .map_or_else(
                    || Arc::new(Window::new(guard.spec.window_ms)),
                    |a| Arc::clone(&a.window),
                );
            let index = monitor.armed.len();
            monitor.timed |= guard.spec.max_p99_ms.is_some();
            monitor.armed.push(Armed {
                guard: guard.clone(),
                window,
            });
            match guard.spec.view.as_deref() {
                // `*` is every view, as in actions.
                None | Some("*") => monitor.overall.push(index),
                Some(view) => {
                    let mut keys: Vec<&str> = vec![view];
                    keys.extend(views.patterns_of(view).filter(|p| *p != view));
                    for key in keys {
                        let next = u32::try_from(monitor.groups.len()).unwrap_or(u32::MAX);
                        let group = *monitor.by_view.entry(key.into()).or_insert(next);
                        if group == next {
                            monitor.groups.push(Vec::new());
                        }
                        if let Some(members) = monitor.groups.get_mut(group as usize)
                            && !members.contains(&index)
                        {
                            members.push(index);
                        }
                    }
                }
            }
        }
        (!monitor.armed.is_empty()).then_some(monitor)
    }

    /// Starts measuring a request for `view` (its route pattern, or path).
    #[inline]
    pub(crate) fn start(self: &Arc<Self>, view: &str) -> Option<Measure> {
        let group = if self.by_view.is_empty() {
            None
        } else {
            self.by_view.get(view).copied()
        };
        if group.is_none() && self.overall.is_empty() {
            return None;
        }
        Some(Measure {
            monitor: Arc::clone(self),
            group,
            started: self.timed.then(Instant::now),
            point_delay_ms: 0,
        })
    }

    /// Advances the coarse clock (the guard task, every [`TICK`]).
    pub(crate) fn tick(&self) {
        self.coarse_ms
            .store(clock_ms(Instant::now()), Ordering::Relaxed);
    }

    /// The first guard whose limit is exceeded now: its id and what was measured.
    pub(crate) fn exceeded(&self) -> Option<(i64, String)> {
        self.tick();
        let now = clock_ms(Instant::now());
        self.armed.iter().find_map(|armed| {
            let summary = armed.window.summary(now);
            exceeded_by(&armed.guard, summary).map(|detail| (armed.guard.id, detail))
        })
    }
}

/// Whether `summary` exceeds `guard`'s limits; what was measured, for people.
fn exceeded_by(guard: &Guard, summary: Summary) -> Option<String> {
    let spec = &guard.spec;
    if summary.requests < spec.min_requests.max(1) {
        return None;
    }
    let scope = spec.view.as_deref().unwrap_or("every view");
    let rate = summary.errors as f64 / summary.requests as f64;
    if let Some(limit) = spec.max_error_rate
        && rate > limit
    {
        return Some(format!(
            "error rate {} ({} of {} responses on {scope}) is over the limit {}",
            format_percent((rate * 1000.0).round() / 1000.0),
            summary.errors,
            summary.requests,
            format_percent(limit)
        ));
    }
    let p99_ms = summary.p99_us / 1000;
    if let Some(limit) = spec.max_p99_ms
        && p99_ms > limit
    {
        return Some(format!(
            "p99 {} ({} responses on {scope}) is over the limit {}",
            crate::time::format_duration_ms(p99_ms),
            summary.requests,
            crate::time::format_duration_ms(limit)
        ));
    }
    None
}

impl Measure {
    /// Polls the handler's future; for a timed request, with the point delays it
    /// injects counted (see [`point_delayed`]).
    #[inline]
    pub(crate) fn poll<T>(&mut self, poll: impl FnOnce() -> T) -> T {
        if self.started.is_none() {
            return poll();
        }
        let (result, delay) =
            POINT_DELAY_MS.sync_scope(std::cell::Cell::new(self.point_delay_ms), || {
                let result = poll();
                (result, POINT_DELAY_MS.with(std::cell::Cell::get))
            });
        self.point_delay_ms = delay;
        result
    }

    /// Records the response: `error` (status ≥ 500, or the service failed), its latency
    /// minus `injected_ms` of injected delay.
    pub(crate) fn finish(&self, error: bool, injected_ms: u64) {
        let monitor = &*self.monitor;
        let (at, latency_us) = match self.started {
            Some(started) => {
                let now = Instant::now();
                let injected = injected_ms.saturating_add(self.point_delay_ms);
                let latency = u64::try_from(now.saturating_duration_since(started).as_micros())
                    .unwrap_or(u64::MAX)
                    .saturating_sub(injected.saturating_mul(1000));
                (clock_ms(now), latency)
            }
            None => (monitor.coarse_ms.load(Ordering::Relaxed), 0),
        };
        for &index in &monitor.overall {
            monitor.armed[index].window.record(at, error, latency_us);
        }
        if let Some(group) = self.group.and_then(|g| monitor.groups.get(g as usize)) {
            for &index in group {
                monitor.armed[index].window.record(at, error, latency_us);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::GuardSpec;

    fn guard(id: i64, view: Option<&str>, rate: Option<f64>, p99: Option<u64>) -> Guard {
        Guard {
            id,
            spec: GuardSpec {
                view: view.map(str::to_owned),
                max_error_rate: rate,
                max_p99_ms: p99,
                window_ms: 60_000,
                min_requests: 20,
            },
            created_at: 0,
            created_by: None,
            tripped: None,
        }
    }

    #[test]
    fn trips_on_rate_or_p99_once_enough_responses_are_measured() {
        let mut views = ChaosViews::new();
        let _ = views.name("items", "/items");
        let guards = [
            guard(1, Some("items"), Some(0.2), None),
            guard(2, None, None, Some(1_000)),
        ];
        let monitor = Arc::new(Monitor::build(&guards, &views, None).expect("armed"));
        // 19 errors on /items: below min_requests, nothing trips.
        for _ in 0..19 {
            monitor.start("/items").expect("measured").finish(true, 0);
        }
        assert_eq!(monitor.exceeded(), None);
        // The 20th: 100 % errors on items.
        monitor.start("/items").expect("measured").finish(true, 0);
        let (id, detail) = monitor.exceeded().expect("tripped");
        assert_eq!(id, 1);
        assert!(
            detail.starts_with("error rate 100% (20 of 20 responses on items)"),
            "{detail}"
        );
        // Other views feed only the overall guard; its p99 excludes injected delay.
        let others = Arc::new(Monitor::build(&guards[1..], &views, None).expect("armed"));
        assert!(others.start("/items").is_some());
        for _ in 0..30 {
            // 0 ms of handler time, 5 s injected: not the app's latency.
            others
                .start("/orders")
                .expect("overall")
                .finish(false, 5_000);
        }
        assert_eq!(others.exceeded(), None);
        // A reload keeps the windows of unchanged guards.
        let rebuilt = Monitor::build(&guards, &views, Some(&monitor)).expect("armed");
        assert_eq!(rebuilt.exceeded().map(|(id, _)| id), Some(1));
        // Tripped guards are not armed.
        let mut tripped = guards[0].clone();
        tripped.tripped = Some(super::super::Trip {
            at: 0,
            by: "x".into(),
            detail: String::new(),
        });
        assert!(Monitor::build(&[tripped], &views, None).is_none());
    }
}
