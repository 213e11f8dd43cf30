//! A sliding window of response measurements: lock-free and allocation-free per record.
//!
//! The window is cut into [`SLOTS_IN_WINDOW`] slots in a ring of [`RING`]. A record adds
//! to the slot of its time with relaxed atomic adds (a slot whose time is over is reset
//! by the first record of its new time, with one compare-and-swap). Latencies go into
//! log-linear buckets (8 per power of two: 12.5 % resolution), from which the p99 is
//! read. A summary covers the current slot and the 9 before it: 90–100 % of the window.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots the window spans.
pub const SLOTS_IN_WINDOW: u64 = 10;
/// Slots kept (one more than the window, plus one being reset).
const RING: u64 = SLOTS_IN_WINDOW + 2;
/// Latency buckets: 16 exact ones below 16 µs, then 8 per power of two up to 2^32 µs.
const BUCKETS: usize = 16 + 28 * 8;

/// One slot of the ring.
#[derive(Debug)]
struct Slot {
    /// The slot number (time / slot length, plus one) it holds; 0: never used.
    number: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Slot {
    fn new() -> Self {
        Self {
            number: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// What a window holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Responses measured.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// The 99th percentile latency (µs, the upper bound of its bucket); 0 without
    /// responses.
    pub p99_us: u64,
}

/// A sliding window (see the module documentation).
#[derive(Debug)]
pub struct Window {
    slot_ms: u64,
    slots: Box<[Slot]>,
}

/// The bucket of a latency (µs).
fn bucket(us: u64) -> usize {
    if us < 16 {
        return us as usize;
    }
    let us = us.min((1 << 32) - 1);
    let exponent = 63 - u64::from(us.leading_zeros()); // 4..=31
    let sub = (us >> (exponent - 3)) & 7;
    16 + ((exponent - 4) * 8 + sub) as usize
}

/// The upper bound (µs) of a bucket.
fn upper_bound(index: usize) -> u64 {
    if index < 16 {
        return index as u64 + 1;
    }
    let exponent = (index as u64 - 16) / 8 + 4;
    let sub = (index as u64 - 16) % 8;
    (9 + sub) << (exponent - 3)
}

impl Window {
    /// A window of `window_ms` (at least [`SLOTS_IN_WINDOW`] ms).
    pub fn new(window_ms: u64) -> Self {
        let slot_ms = (window_ms / SLOTS_IN_WINDOW).max(1);
        Self {
            slot_ms,
            slots: (0..RING).map(|_| Slot::new()).collect(),
        }
    }

    /// Records one response at `now_ms` (any monotonic clock in ms): whether it was an
    /// error, and its latency (µs).
    #[inline]
    pub fn record(&self, now_ms: u64, error: bool, latency_us: u64) {
        let number = now_ms / self.slot_ms + 1;
        let slot = &self.slots[(number % RING) as usize];
        let held = slot.number.load(Ordering::Acquire);
        if held != number {
            if held > number {
                // An older time than the slot already holds: too late to count.
                return;
            }
            if slot
                .number
                .compare_exchange(held, number, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.requests.store(0, Ordering::Relaxed);
                slot.errors.store(0, Ordering::Relaxed);
                for counter in &slot.latency {
                    counter.store(0, Ordering::Relaxed);
                }
            } else if slot.number.load(Ordering::Acquire) != number {
                return;
            }
        }
        slot.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            slot.errors.fetch_add(1, Ordering::Relaxed);
        }
        slot.latency[bucket(latency_us)].fetch_add(1, Ordering::Relaxed);
    }

    /// What the window holds at `now_ms`.
    pub fn summary(&self, now_ms: u64) -> Summary {
        let current = now_ms / self.slot_ms + 1;
        let oldest = current.saturating_sub(SLOTS_IN_WINDOW - 1);
        let mut summary = Summary::default();
        let mut latency = [0u64; BUCKETS];
        for slot in self.slots.iter() {
            let number = slot.number.load(Ordering::Acquire);
            if number < oldest || number > current || number == 0 {
                continue;
            }
            summary.requests += slot.requests.load(Ordering::Relaxed);
            summary.errors += slot.errors.load(Ordering::Relaxed);
            for (sum, counter) in latency.iter_mut().zip(&slot.latency) {
                *sum += counter.load(Ordering::Relaxed);
            }
        }
        let total: u64 = latency.iter().sum();
        if total > 0 {
            // The smallest latency at or above which 1 % of responses lie.
            let rank = total - total / 100;
            let mut seen = 0;
            for (index, count) in latency.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    summary.p99_us = upper_bound(index);
                    break;
                }
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_bound_their_values() {
        let mut previous = 0;
        for us in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            100,
            1_000,
            65_535,
            2_000_000,
            u64::MAX,
        ] {
            let index = bucket(us);
            assert!(index >= previous, "{us}");
            assert!(index < BUCKETS, "{us}");
            previous = index;
            if us < (1 << 32) {
                assert!(
                    upper_bound(index) > us,
                    "{us} ≤ bound {}",
                    upper_bound(index)
                );
                // 12.5 % resolution.
                assert!(
                    upper_bound(index) as f64 <= (us as f64 + 1.0) * 1.125 + 1.0,
                    "{us}"
                );
            }
        }
    }

    #[test]
    fn rates_and_p99_over_the_window() {
        let window = Window::new(10_000); // slots of 1 s
        // 1,000 responses at t = 0.5 s: 10 errors, 990 of 1 ms and 10 of 500 ms.
        for i in 0..1_000u64 {
            let latency = if i < 10 { 500_000 } else { 1_000 };
            window.record(500, i % 100 == 0, latency);
        }
        let summary = window.summary(600);
        assert_eq!((summary.requests, summary.errors), (1_000, 10));
        // 1 % of responses are at 500 ms: the p99 is the 1 ms bucket's bound.
        assert!((1_000..1_200).contains(&summary.p99_us), "{summary:?}");
        // One more slow response tips the 99th percentile to 500 ms.
        for _ in 0..20 {
            window.record(700, false, 500_000);
        }
        let summary = window.summary(800);
        assert!((500_000..570_000).contains(&summary.p99_us), "{summary:?}");
        // 9 s later the responses are still in the window, 10 s later they are gone.
        assert_eq!(window.summary(9_999).requests, 1_020);
        assert_eq!(window.summary(10_000).requests, 0);
        // A slot reused after a full turn of the ring starts from zero.
        window.record(12_500, true, 10);
        assert_eq!(
            window.summary(12_600),
            Summary {
                requests: 1,
                errors: 1,
                p99_us: 11
            }
        );
        // A record from before the slot's time is dropped, not added to the new one.
        window.record(500, true, 10);
        assert_eq!(window.summary(12_600).requests, 1);
    }
}
