//! The delivery loop: queues expiries, claims due deliveries and posts them.
//!
//! [`Deliverer::run`] is what app instances and `chaos-admin serve` run in the
//! background; [`Deliverer::drain`] what the CLI's short-lived delivery process runs. Each
//! post runs on tokio's blocking pool (`ureq`, 5 s to connect, 10 s in all), so a slow
//! webhook never holds a worker thread.

use std::time::Duration;

use serde_json::json;

use super::{Event, EventKind};
use crate::action::now_ms;
use crate::store::{EXERCISE_TAG, STORM_TAG, Store, StoreError};

/// How far back the first round looks for expiries (a deliverer that starts late still
/// reports what expired shortly before), in ms.
const EXPIRY_LOOK_BACK_MS: i64 = 15 * 60_000;
/// How often a deliverer prunes finished deliveries (ms).
const PRUNE_EVERY_MS: i64 = 60_000;
/// How often a running deliverer looks for work while webhooks exist.
pub const ROUND_INTERVAL: Duration = Duration::from_secs(1);
/// How often it checks whether any webhook exists while none does.
pub const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Deliveries sent.
    pub sent: usize,
    /// Attempts that failed (retried later, or given up).
    pub failed: usize,
}

/// Delivers a store's queued notifications; see the [module docs](self).
#[derive(Debug)]
pub struct Deliverer {
    store: Store,
    /// Expiries up to this time (Unix ms) are queued already.
    scanned_to: i64,
    /// When finished and orphaned deliveries were last pruned (Unix ms).
    pruned_at: i64,
}

impl Deliverer {
    /// A deliverer for `store`; its first round reports expiries of the last 15 minutes.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            scanned_to: now_ms() - EXPIRY_LOOK_BACK_MS,
            pruned_at: i64::MIN,
        }
    }

    /// One round: queues the expiries since the last round, then sends every delivery
    /// due now (claimed first, so no other deliverer sends it too).
    ///
    /// Errors: the store cannot be read or written (the round stops there; nothing is
    /// lost, the next round goes on).
    pub async fn round(&mut self) -> Result<Round, StoreError> {
        let now = now_ms();
        self.queue_expiries(now).await?;
        if now.saturating_sub(self.pruned_at) > PRUNE_EVERY_MS {
            // Best effort: what is not pruned now is pruned next time.
            if self.store.prune_deliveries(now).await.is_ok() {
                self.pruned_at = now;
            }
        }
        let mut round = Round::default();
        loop {
            let claimed = self.store.claim_deliveries(now_ms()).await?;
            if claimed.is_empty() {
                return Ok(round);
            }
            // All at once (at most one per webhook): a slow webhook delays no other,
            // and every post ends (10 s) well within its 30 s lease.
            let mut posts = tokio::task::JoinSet::new();
            for delivery in claimed {
                posts.spawn(async move {
                    let outcome =
                        post(delivery.id, delivery.url.clone(), delivery.body.clone()).await;
                    (delivery, outcome)
                });
            }
            while let Some(done) = posts.join_next().await {
                let Ok((delivery, outcome)) = done else {
                    continue;
                };
                match &outcome {
                    Ok(()) => round.sent += 1,
                    Err(reason) => {
                        round.failed += 1;
                        tracing::warn!(target: "chaos", webhook = delivery.webhook_id, url = %delivery.url, attempt = delivery.attempts, error = %reason, "chaos notification not delivered");
                    }
                }
                self.finish(&delivery, outcome).await?;
            }
        }
    }

    /// Records a sent or failed delivery, trying again on a transient error (a deadlock
    /// between concurrent writers): a delivery left leased would be sent again once its
    /// lease runs out.
    async fn finish(
        &self,
        delivery: &crate::store::Delivery,
        outcome: Result<(), String>,
    ) -> Result<(), StoreError> {
        let mut tries = 0;
        loop {
            match self
                .store
                .finish_delivery(delivery, outcome.clone(), now_ms())
                .await
            {
                Ok(()) => return Ok(()),
                Err(err) if tries >= 4 => return Err(err),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20 << tries)).await;
                }
            }
        }
    }

    /// Queues `action.expired` (and `storm.ended`, `exercise.ended`) for what expired
    /// since the last round; each once per webhook, however many deliverers run.
    async fn queue_expiries(&mut self, now: i64) -> Result<(), StoreError> {
        let from = self.scanned_to;
        let expired = self.store.expired_between(from, now).await?;
        let mut storm_ends: Vec<(i64, usize)> = Vec::new();
        for (id, target, tag, at) in &expired {
            match tag.as_deref() {
                Some(STORM_TAG) => match storm_ends.iter_mut().find(|(end, _)| end == at) {
                    Some((_, count)) => *count += 1,
                    None => storm_ends.push((*at, 1)),
                },
                // An exercise's faults stay secret: its end is reported instead.
                Some(EXERCISE_TAG) => {}
                _ => {
                    let event = Event::new(
                        EventKind::ActionExpired,
                        format!("action {id} on {target} expired"),
                    )
                    .with_details(json!({"ids": [id], "target": target, "expires_at": crate::time::format_time(*at)}))
                    .once(format!("expired:{id}:{at}"))
                    .happened_at(*at);
                    self.store.emit(&event).await?;
                }
            }
        }
        for (at, count) in storm_ends {
            let event = Event::new(
                EventKind::StormEnded,
                format!("storm ended: its {count} actions expired"),
            )
            .with_details(json!({"actions": count, "expires_at": crate::time::format_time(at)}))
            .once(format!("storm-ended:{at}"))
            .happened_at(at);
            self.store.emit(&event).await?;
        }
        for id in self.store.exercises_expired_between(from, now).await? {
            self.store
                .emit(&exercise_ended(id, "its time ran out"))
                .await?;
        }
        self.scanned_to = now;
        Ok(())
    }

    /// Runs rounds until `stop` resolves: every second while webhooks exist, checking for
    /// one every 10 s while none does. Store errors are logged once per outage.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let store = self.store.clone();
        self.run_probing(stop, Duration::ZERO, move || {
            let store = store.clone();
            Box::pin(async move { store.has_webhooks().await })
        })
        .await;
    }

    /// [`Deliverer::run`], first waiting `first_check`, and asking `probe` whether any
    /// webhook exists (the layer asks over its listener's connection, so that an idle
    /// instance holds no second one).
    pub(crate) async fn run_probing<P>(
        mut self,
        stop: impl std::future::Future<Output = ()>,
        first_check: Duration,
        mut probe: P,
    ) where
        P: FnMut() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<bool, StoreError>> + Send>,
        >,
    {
        tokio::pin!(stop);
        let mut failing = false;
        tokio::select! {
            () = tokio::time::sleep(first_check) => {}
            () = &mut stop => return,
        }
        loop {
            let wait = match probe().await {
                Ok(true) => match self.round().await {
                    Ok(_) => {
                        failing = false;
                        ROUND_INTERVAL
                    }
                    Err(err) => {
                        if !failing {
                            tracing::warn!(target: "chaos", error = %err, "cannot deliver chaos notifications");
                        }
                        failing = true;
                        IDLE_CHECK_INTERVAL
                    }
                },
                Ok(false) => {
                    // Nothing to report expiries to: none are queued for later.
                    self.scanned_to = now_ms();
                    IDLE_CHECK_INTERVAL
                }
                Err(_) => IDLE_CHECK_INTERVAL,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut stop => return,
            }
        }
    }

    /// Delivers until nothing is queued or `limit` has passed, waiting for retries in
    /// between (the CLI's delivery process after a write). Returns what was done.
    ///
    /// Errors: the store cannot be read or written.
    pub async fn drain(mut self, limit: Duration) -> Result<Round, StoreError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut total = Round::default();
        loop {
            let round = self.round().await?;
            total.sent += round.sent;
            total.failed += round.failed;
            let Some(next) = self.store.next_delivery_at().await? else {
                return Ok(total);
            };
            let wait = u64::try_from(next.saturating_sub(now_ms())).unwrap_or(0);
            let wake = tokio::time::Instant::now() + Duration::from_millis(wait.max(50));
            if wake > deadline {
                return Ok(total);
            }
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// The event of exercise `id` ending (`why`: `ended by alice`, `its time ran out`); once
/// per webhook, whether it was ended or ran out.
pub(crate) fn exercise_ended(id: i64, why: &str) -> Event {
    Event::new(
        EventKind::ExerciseEnded,
        format!("exercise {id} ended: {why}"),
    )
    .with_details(json!({"exercise": id}))
    .once(format!("exercise-ended:{id}"))
}

/// Posts `body` (JSON) to `url` as delivery `id` (header `x-chaos-delivery-id`); `Err`
/// says why it failed (connection, timeout, or a status other than 2xx with the start of
/// the answer).
pub async fn post(id: i64, url: String, body: String) -> Result<(), String> {
    tokio::task::spawn_blocking(move || post_blocking(id, &url, body))
        .await
        .unwrap_or_else(|err| Err(format!("the delivery did not finish: {err}")))
}

fn post_blocking(id: i64, url: &str, body: String) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header(
            "User-Agent",
            concat!("chaos-rs/", env!("CARGO_PKG_VERSION")),
        )
        .header(super::DELIVERY_HEADER, "1")
        // Delivery is at least once (a post that times out after 10 s is sent again):
        // the same id on every attempt lets a receiver drop repeats.
        .header("x-chaos-delivery-id", id.to_string())
        .send(body)
        .map_err(|err| err.to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(4_096)
        .read_to_string()
        .unwrap_or_default();
    let text: String = text.trim().chars().take(200).collect();
    Err(if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    })
}
