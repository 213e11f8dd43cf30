//! The guard task: advances the guards' coarse clock every 100 ms and checks them once a
//! second while chaos is active (asleep otherwise), stops
//! injecting at once when one is exceeded, and writes the trip to the store (or relay)
//! so that every instance stops. Asleep while no guard is armed.

use std::sync::Weak;

use tokio::sync::watch;

use super::reload::Published;
use super::state::Shared;
use crate::action::now_ms;
use crate::guard::Trip;

/// How often armed guards are checked (every 10th tick of their coarse clock).
const CHECKS_EVERY: u32 = 10;

pub(super) async fn watch_guards(
    shared: Weak<Shared>,
    published: watch::Receiver<Published>,
    instance: String,
) {
    let Some(stopped) = shared.upgrade().map(|layer| layer.shutdown.stopped()) else {
        return;
    };
    tokio::pin!(stopped);
    let mut failing = false;
    let mut ticks: u32 = 0;
    loop {
        let Some(layer) = shared.upgrade() else {
            return;
        };
        if let Some((guard, trip)) = layer.unwritten_trip() {
            let registry = published.borrow().registry.clone();
            if let Some(registry) = registry {
                match registry.trip_guard(guard, &trip).await {
                    Ok(generation) => {
                        layer.trip_written(generation);
                        failing = false;
                    }
                    Err(err) => {
                        if !failing {
                            tracing::warn!(target: "chaos", guard, error = %err, "cannot record the guard trip in the chaos store: this instance stays stopped, the others go on until it can");
                        }
                        failing = true;
                    }
                }
            }
        } else if let Some(monitor) = layer.current.load().monitor.clone()
            && {
                monitor.tick();
                ticks = ticks.wrapping_add(1);
                ticks.is_multiple_of(CHECKS_EVERY)
            }
            && layer.chaos_active()
            && let Some((guard, detail)) = monitor.exceeded()
        {
            let trip = Trip {
                at: now_ms(),
                by: instance.clone(),
                detail,
            };
            if layer.trip_locally(guard, trip.clone()) {
                tracing::error!(
                    target: "chaos",
                    guard,
                    detail = %trip.detail,
                    "chaos guard tripped: injection stopped (every instance stops once the trip is stored; `chaos-admin guard reset` re-arms)"
                );
                // Write it now.
                continue;
            }
        }
        let idle = layer.unwritten_trip().is_none()
            && !layer.measuring.load(std::sync::atomic::Ordering::Relaxed);
        let notify = std::sync::Arc::clone(&layer.armed);
        drop(layer);
        let armed = notify.notified();
        tokio::pin!(armed);
        if idle {
            tokio::select! {
                () = &mut armed => {}
                () = &mut stopped => return,
            }
        } else {
            tokio::select! {
                () = tokio::time::sleep(crate::guard::monitor::TICK) => {}
                () = &mut stopped => return,
            }
        }
    }
}
