//! A tiny per-thread random number generator (wyrand) for the request path: probability
//! draws and delays need speed and uniformity, not cryptographic strength. Each thread is
//! seeded once from `rand`'s generator.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(rand::random::<u64>());
}

fn next_u64() -> u64 {
    STATE.with(|state| {
        let seed = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(seed);
        let product = u128::from(seed) * u128::from(seed ^ 0xe703_7ed1_a0b4_28db);
        ((product >> 64) ^ product) as u64
    })
}

/// Uniform in `[0, 1)`, with 53 bits of precision.
pub(crate) fn unit() -> f64 {
    (next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in `[min, max]` (Lemire's multiply-shift; `min` when `max <= min`).
pub(crate) fn between(min: u64, max: u64) -> u64 {
    if max <= min {
        return min;
    }
    let span = max - min;
    if span == u64::MAX {
        return next_u64();
    }
    let span = span + 1;
    min + ((u128::from(next_u64()) * u128::from(span)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_in_range_and_spread() {
        let draws: Vec<f64> = (0..100_000).map(|_| unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        // Ten equal buckets of 10,000 expected: each within 5 standard deviations (~95).
        let mut buckets = [0u32; 10];
        for d in &draws {
            buckets[(d * 10.0) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|b| (9_500..=10_500).contains(b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn between_is_inclusive_and_uniform() {
        let mut seen = [0u32; 3];
        for _ in 0..30_000 {
            let d = between(100, 102);
            assert!((100..=102).contains(&d));
            seen[(d - 100) as usize] += 1;
        }
        assert!(
            seen.iter().all(|n| (9_500..=10_500).contains(n)),
            "{seen:?}"
        );
        assert_eq!(between(7, 7), 7);
        assert_eq!(between(9, 3), 9);
        let _ = between(0, u64::MAX);
    }
}
