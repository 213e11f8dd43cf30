//! What the request path reads (the compiled snapshot and the armed guards), published
//! whole by the reloader and kept per worker thread.
//!
//! A request reads it with one atomic load: the version the layer published last,
//! compared with the version of the copy this thread holds. Only after a change (or on
//! a thread's first request) does the thread take the new copy with arc-swap's `load`,
//! which costs about 50 instructions plus a write to shared memory per request; the
//! thread's copy costs none of that (see BENCHMARKS.md, "Instructions per request").
//!
//! A thread holds the copy of the layer it served last, and those of at most [`SLOTS`]
//! more. A copy of an older version is never used (versions are unique across layers),
//! so no rule outlives a change. The memory of an old copy is only given back when the
//! thread next reads that layer's publication, or pushes the copy out for others, or
//! exits: requests of an idle layer (no request-level rules) do not read it, so after the
//! last action is removed each worker keeps the last snapshot it read until then.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::guard::monitor::Monitor;
use crate::snapshot::Snapshot;

/// How many more layers' copies one thread keeps (an app with more layers than this
/// still works, at the cost of arc-swap's `load` on some requests).
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
    /// Held while publishing: versions are stored in the order of their publications.
    publishing: std::sync::Mutex<()>,
    /// The version of `current` (stored after it, with release ordering).
    version: AtomicU64,
    /// Names this layer in the threads' copies (the version of its first publication).
    layer: u64,
}

/// A thread's copy of one layer's publication: (layer, version, publication).
type Copy = (u64, u64, Arc<Current>);

thread_local! {
    /// The copy this thread used last: taken out while a request reads it, put back after.
    static FRONT: Cell<Option<Copy>> = const { Cell::new(None) };
    /// Copies of other layers' publications, the most recently put back first.
    static BACK: RefCell<[Option<Copy>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

impl Published {
    pub(crate) fn new(current: Current) -> Self {
        let version = NEXT_VERSION.fetch_add(1, Ordering::Relaxed);
        Self {
            current: ArcSwap::from_pointee(current),
            publishing: std::sync::Mutex::new(()),
            version: AtomicU64::new(version),
            layer: version,
        }
    }

    /// Replaces the publication; every thread takes the new one on its next request.
    pub(crate) fn store(&self, current: Current) {
        // Two publications at once must not pair a version with the other's snapshot.
        let _publishing = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        let version = NEXT_VERSION.fetch_add(1, Ordering::Relaxed);
        self.current.store(Arc::new(current));
        self.version.store(version, Ordering::Release);
    }

    /// The publication, read with arc-swap (for everything but the request path).
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Current>> {
        self.current.load()
    }

    /// Runs `f` on the publication, read from this thread's copy when it is current.
    /// (While `f` runs the copy is out of its place: a request served from within `f`,
    /// by a user extractor say, finds no copy and takes one of its own.)
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Current) -> R) -> R {
        let version = self.version.load(Ordering::Acquire);
        let copy = match FRONT.try_with(Cell::take).ok().flatten() {
            Some(copy) if copy.1 == version => copy,
            held => self.refresh(held, version),
        };
        let result = f(&copy.2);
        // Fails only while the thread exits: the copy is dropped then.
        if let Ok(Some(displaced)) = FRONT.try_with(|front| front.replace(Some(copy))) {
            // A request served from within `f` left its layer's copy: keep it.
            keep(displaced);
        }
        result
    }

    /// This layer's copy at `version`: from the other copies, else from the shared
    /// publication. `held`, the copy used last, joins the others unless it is this
    /// layer's (then it is stale).
    #[cold]
    #[inline(never)]
    fn refresh(&self, held: Option<Copy>, version: u64) -> Copy {
        let mine = BACK
            .try_with(|back| {
                let mut back = back.try_borrow_mut().ok()?;
                back.iter_mut()
                    .find(|copy| {
                        copy.as_ref()
                            .is_some_and(|(layer, ..)| *layer == self.layer)
                    })
                    .and_then(Option::take)
            })
            .ok()
            .flatten();
        if let Some(held) = held.filter(|(layer, ..)| *layer != self.layer) {
            keep(held);
        }
        match mine {
            Some(copy) if copy.1 == version => copy,
            _ => (self.layer, version, self.current.load_full()),
        }
    }
}

/// Puts another layer's copy first among the kept ones (in place of that layer's older
/// copy, else of the first free place, else of the least recently kept).
#[cold]
#[inline(never)]
fn keep(copy: Copy) {
    let _ = BACK.try_with(|back| {
        let Ok(mut back) = back.try_borrow_mut() else {
            return;
        };
        let end = back
            .iter()
            .position(|kept| kept.as_ref().is_none_or(|(layer, ..)| *layer == copy.0))
            .unwrap_or(SLOTS - 1);
        back[..=end].rotate_right(1);
        back[0] = Some(copy);
    });
}
