//! What the request path reads (the compiled snapshot and the armed guards), published
//! whole by the reloader and kept per worker thread.
//!
//! A request reads it with one atomic load: the version the layer published last,
//! compared with the version of the copy this thread holds. Only after a change (or on
//! a thread's first request) does the thread take the new copy with arc-swap's `load`,
//! which costs about 50 instructions plus a write to shared memory per request; the
//! thread's copy costs none of that (see BENCHMARKS.md, "Instructions per request").
//!
//! A thread holds the copies of at most [`SLOTS`] layers. A copy of an older version is
//! never used (versions are unique across layers), so nothing outlives a change; it
//! is only kept in memory until that thread serves the layer again, or exits.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::guard::monitor::Monitor;
use crate::snapshot::Snapshot;

/// How many layers' copies one thread keeps (an app with more layers than this still
/// works, at the cost of arc-swap's `load` on some requests).
const SLOTS: usize = 4;

/// The next version to publish; shared by every layer of the process so that a version
/// names one publication of one layer.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

/// One publication: what a request needs to decide.
#[derive(Debug)]
pub(crate) struct Current {
    pub snapshot: Snapshot,
    /// The armed guards while chaos is active (`None`: nothing to measure).
    pub monitor: Option<Arc<Monitor>>,
}

/// The current publication of one layer.
#[derive(Debug)]
pub(crate) struct Published {
    current: ArcSwap<Current>,
    /// The version of `current` (stored after it, with release ordering).
    version: AtomicU64,
    /// Names this layer in the threads' copies (the version of its first publication).
    layer: u64,
}

/// A thread's copy of one layer's publication: (layer, version, publication).
type Copy = Option<(u64, u64, Arc<Current>)>;

thread_local! {
    /// This thread's copies, the most recently refreshed first.
    static COPIES: RefCell<[Copy; SLOTS]> = const { RefCell::new([None, None, None, None]) };
}

impl Published {
    pub(crate) fn new(current: Current) -> Self {
        let version = NEXT_VERSION.fetch_add(1, Ordering::Relaxed);
        Self {
            current: ArcSwap::from_pointee(current),
            version: AtomicU64::new(version),
            layer: version,
        }
    }

    /// Replaces the publication; every thread takes the new one on its next request.
    pub(crate) fn store(&self, current: Current) {
        let version = NEXT_VERSION.fetch_add(1, Ordering::Relaxed);
        self.current.store(Arc::new(current));
        self.version.store(version, Ordering::Release);
    }

    /// The publication, read with arc-swap (for everything but the request path).
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Current>> {
        self.current.load()
    }

    /// Runs `f` on the publication, read from this thread's copy when it is current.
    /// `f` runs once; it runs on a fresh load instead when the copies are in use further
    /// up this thread's stack (a user extractor serving a request of its own) or gone
    /// (the thread is exiting).
    #[inline]
    pub(crate) fn with<R>(&self, f: impl Fn(&Arc<Current>) -> R) -> R {
        let version = self.version.load(Ordering::Acquire);
        let copied = COPIES.try_with(|copies| {
            let mut copies = copies.try_borrow_mut().ok()?;
            Some(f(self.copy(&mut copies, version)))
        });
        match copied {
            Ok(Some(result)) => result,
            _ => f(&self.current.load_full()),
        }
    }

    /// This layer's copy at `version`, taken from the shared publication when the
    /// thread's copy is older or missing.
    #[inline]
    fn copy<'c>(&self, copies: &'c mut [Copy; SLOTS], version: u64) -> &'c Arc<Current> {
        if !matches!(&copies[0], Some((_, held, _)) if *held == version) {
            self.refresh(copies, version);
        }
        match &mut copies[0] {
            Some((_, _, current)) => current,
            // Filled by `refresh` just above.
            slot @ None => {
                &slot
                    .insert((self.layer, version, self.current.load_full()))
                    .2
            }
        }
    }

    /// Puts this layer's copy first among the copies (the least recently used one
    /// makes room when the layer has none), and brings it to `version`.
    #[cold]
    fn refresh(&self, copies: &mut [Copy; SLOTS], version: u64) {
        let end = copies
            .iter()
            .position(|copy| {
                copy.as_ref()
                    .is_some_and(|(layer, ..)| *layer == self.layer)
            })
            .unwrap_or(SLOTS - 1);
        copies[..=end].rotate_right(1);
        let stale = !matches!(&copies[0], Some((layer, held, _)) if *layer == self.layer && *held == version);
        if stale {
            copies[0] = Some((self.layer, version, self.current.load_full()));
        }
    }
}
