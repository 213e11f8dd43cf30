//! State shared by every clone of the layer, its services and its handle.

use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::snapshot::{Effect, Snapshot};
use crate::user::UserExtractor;
use crate::views::ChaosViews;

#[derive(Debug)]
pub(crate) struct Shared {
    /// Swapped whole by the reloader; read without locks on every request.
    pub snapshot: ArcSwap<Snapshot>,
    pub views: ChaosViews,
    pub extract_user: UserExtractor,
    pub host: String,
    pub counters: Counters,
    /// False when built disabled or switched off by `CHAOS_DISABLED`.
    pub enabled: bool,
}

/// Faults injected so far, per verb.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub slow: AtomicU64,
    pub returned: AtomicU64,
}

impl Counters {
    pub fn record(&self, effect: &Effect) {
        let counter = match effect {
            Effect::Slow { .. } => &self.slow,
            Effect::Return { .. } => &self.returned,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
