//! Webhooks and their delivery queue (`chaos_webhooks`, `chaos_deliveries`; see
//! [`crate::notification`]). Webhooks are few, so they are read whole; deliveries are
//! claimed a few at a time with a lease, so many deliverers never send one twice.

use sqlx::Row;

use super::{Store, StoreError};
use crate::action::{InvalidAction, now_ms};
use crate::notification::{Event, MAX_ATTEMPTS, Webhook, parse_events, validate_url, wants};

/// How long a claimed delivery is reserved for its deliverer (it sends within 10 s).
const LEASE_MS: i64 = 30_000;
/// How long sent or given-up deliveries are kept (so an event queued once per webhook is
/// never queued twice), in ms.
const KEEP_DONE_MS: i64 = 24 * 3_600_000;
/// The most deliveries one claim takes.
const CLAIM_BATCH: i64 = 20;

/// A delivery claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Row id.
    pub id: i64,
    /// The webhook's id.
    pub webhook_id: i64,
    /// Where to post.
    pub url: String,
    /// The JSON body.
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// The wait before attempt `attempts + 1` after `attempts` failures: 1 s, 2 s, 4 s, ….
pub fn backoff_ms(attempts: i64) -> i64 {
    1_000_i64 << attempts.clamp(1, 20).saturating_sub(1)
}

const WEBHOOKS_SQL: &str = "SELECT w.id, w.url, w.events, w.created_at, w.created_by, \
     w.delivered, w.failed, w.last_error, w.last_error_at, \
     (SELECT COUNT(*) FROM chaos_deliveries d WHERE d.webhook_id = w.id AND d.done_at IS NULL) \
     AS pending FROM chaos_webhooks w ORDER BY w.id";

impl Store {
    /// Stores a webhook for `url` (checked: `http`/`https`) wanting `events` (names,
    /// groups such as `guard.*`, or `*`; none: all); returns its id.
    ///
    /// Errors: [`StoreError::Invalid`] for a bad URL or event name, naming it, or a URL
    /// another webhook posts to already.
    pub async fn add_webhook(&self, url: &str, events: &[String]) -> Result<i64, StoreError> {
        let url = validate_url(url)?;
        let events = parse_events(events)?;
        let events = serde_json::to_string(&events).unwrap_or_else(|_| "[]".to_owned());
        let now = now_ms();
        let actor = self.actor();
        let shown = crate::store::redact_url(&url);
        let id = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The first statement writes, so SQLite takes its write lock (and waits on
            // busy_timeout) up front: a read first would fail with "database is locked"
            // when another writer commits before this one's insert.
            crate::store::dialect::query(super::LOCK_META)
                .execute(&mut *tx)
                .await?;
            let same: Option<i64> =
                crate::store::dialect::query_scalar("SELECT id FROM chaos_webhooks WHERE url = $1")
                    .bind(&url)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(same) = same {
                return Ok::<_, sqlx::Error>(Err(same));
            }
            let query = crate::store::dialect::query(
                "INSERT INTO chaos_webhooks (url, events, created_at, created_by) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(&url)
            .bind(&events)
            .bind(now)
            .bind(actor.as_deref());
            let id = crate::store::dialect::insert_id(query, &mut tx).await?;
            crate::store::dialect::query(super::INSERT_AUDIT)
                .bind(now)
                .bind(actor.as_deref())
                .bind("notify add")
                .bind("")
                .bind(Some(format!("webhook {id}: {shown} {events}")))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Ok(id))
        })?;
        id.map_err(|same| {
            StoreError::Invalid(InvalidAction::new(format!(
                "webhook {same} already posts to {shown}: remove it first (`chaos-admin notify remove {same}`) to change its events"
            )))
        })
    }

    /// Every webhook with its delivery counts, by id.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let hooks = with_pool!(self, |pool| {
            let rows = crate::store::dialect::query(WEBHOOKS_SQL)
                .fetch_all(pool)
                .await?;
            Ok::<_, sqlx::Error>(rows.iter().map(webhook_of).collect::<Vec<_>>())
        })?;
        Ok(hooks)
    }

    /// Removes one webhook (`Some(id)`) or all, with their queued deliveries; returns how
    /// many.
    ///
    /// Errors: an unknown id ([`StoreError::UnknownWebhook`]).
    pub async fn remove_webhooks(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let actor = self.actor();
        let removed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let now = now_ms();
            let removed = match id {
                Some(id) => {
                    crate::store::dialect::query(
                        "DELETE FROM chaos_deliveries WHERE webhook_id = $1",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    crate::store::dialect::query("DELETE FROM chaos_webhooks WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                }
                None => {
                    crate::store::dialect::query("DELETE FROM chaos_deliveries")
                        .execute(&mut *tx)
                        .await?;
                    crate::store::dialect::query("DELETE FROM chaos_webhooks")
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                }
            };
            // Deliveries queued for a webhook while it was being removed (orphans).
            crate::store::dialect::query(
                "DELETE FROM chaos_deliveries WHERE webhook_id NOT IN (SELECT id FROM chaos_webhooks)",
            )
            .execute(&mut *tx)
            .await?;
            if removed > 0 {
                crate::store::dialect::query(super::INSERT_AUDIT)
                    .bind(now)
                    .bind(actor.as_deref())
                    .bind("notify remove")
                    .bind("")
                    .bind(Some(id.map_or_else(
                        || "all".to_owned(),
                        |id| format!("webhook {id}"),
                    )))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(removed)
        })?;
        if let Some(id) = id
            && removed == 0
        {
            return Err(StoreError::UnknownWebhook(id));
        }
        Ok(removed)
    }

    /// Queues `event` for every webhook that wants it; returns how many deliveries were
    /// queued (an event with a `once` key already queued for a webhook is not queued
    /// again).
    ///
    /// Errors: the store cannot be read or written.
    pub async fn emit(&self, event: &Event) -> Result<u64, StoreError> {
        let now = now_ms();
        let actor = self.actor();
        let body = event
            .body(now, actor.as_deref(), self.location())
            .to_string();
        let queued = with_pool!(self, |pool| {
            let rows =
                crate::store::dialect::query("SELECT id, events, created_at FROM chaos_webhooks")
                    .fetch_all(pool)
                    .await?;
            let mut queued = 0;
            for row in rows {
                // Rows edited by hand into something unreadable want nothing (fail closed).
                let (Ok(id), Ok(events), Ok(created_at)) = (
                    row.try_get::<i64, _>("id"),
                    row.try_get::<String, _>("events"),
                    row.try_get::<i64, _>("created_at"),
                ) else {
                    continue;
                };
                let Ok(events) = serde_json::from_str::<Vec<String>>(&events) else {
                    continue;
                };
                // A webhook added after the event happened does not hear about it.
                if !wants(&events, event.kind)
                    || event.happened_at.is_some_and(|at| created_at > at)
                {
                    continue;
                }
                if let Some(key) = &event.once {
                    let before: i64 = crate::store::dialect::query_scalar(
                        "SELECT COUNT(*) FROM chaos_deliveries WHERE webhook_id = $1 AND once_key = $2",
                    )
                    .bind(id)
                    .bind(key.as_str())
                    .fetch_one(pool)
                    .await?;
                    if before > 0 {
                        continue;
                    }
                }
                // A plain insert, locking no webhook row (an `INSERT … SELECT` would, and
                // deadlock with a deliverer's finish on MySQL). If the webhook is removed
                // meanwhile, the row is an orphan: never claimed nor counted, and pruned.
                // A race on a once-key updates the row to itself instead of failing.
                queued += crate::store::dialect::query(
                    "INSERT INTO chaos_deliveries (webhook_id, event, body, once_key, \
                     attempts, next_at) VALUES ($1, $2, $3, $4, 0, $5) \
                     ON CONFLICT (webhook_id, once_key) DO UPDATE SET once_key = EXCLUDED.once_key",
                )
                .bind(id)
                .bind(event.kind.as_str())
                .bind(&body)
                .bind(event.once.as_deref())
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
                .min(1);
            }
            Ok::<_, sqlx::Error>(queued)
        })?;
        self.queued
            .fetch_add(queued, std::sync::atomic::Ordering::Relaxed);
        Ok(queued)
    }

    /// [`Store::emit`], logging instead of failing: a notification never fails the write
    /// it reports.
    pub(crate) async fn notify(&self, event: Event) {
        if let Err(err) = self.emit(&event).await {
            tracing::warn!(target: "chaos", event = event.kind.as_str(), error = %err, "cannot queue the chaos notification");
        }
    }

    /// Whether any webhook is stored.
    pub async fn has_webhooks(&self) -> Result<bool, StoreError> {
        let count: i64 = with_pool!(self, |pool| {
            crate::store::dialect::query_scalar("SELECT COUNT(*) FROM chaos_webhooks")
                .fetch_one(pool)
                .await
        })?;
        Ok(count > 0)
    }

    /// How many deliveries are queued or being retried.
    pub async fn pending_deliveries(&self) -> Result<i64, StoreError> {
        let count: i64 = with_pool!(self, |pool| {
            crate::store::dialect::query_scalar(
                "SELECT COUNT(*) FROM chaos_deliveries WHERE done_at IS NULL \
                 AND webhook_id IN (SELECT id FROM chaos_webhooks)",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(count)
    }

    /// When the next queued delivery is due (Unix ms), if any is queued.
    pub async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError> {
        let next: Option<i64> = with_pool!(self, |pool| {
            crate::store::dialect::query_scalar(
                "SELECT MIN(CASE WHEN lease_until IS NULL OR lease_until < next_at \
                 THEN next_at ELSE lease_until END) FROM chaos_deliveries WHERE done_at IS NULL \
                 AND webhook_id IN (SELECT id FROM chaos_webhooks)",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(next)
    }

    /// Claims the deliveries due at `now_ms` for this caller: for each webhook its oldest
    /// queued one (so each webhook gets its events in order, one at a time), at most 20,
    /// each with a lease of 30 s and one more attempt counted. Others calling at once get
    /// none of them.
    ///
    /// Errors: the store cannot be read or written.
    pub async fn claim_deliveries(&self, now_ms: i64) -> Result<Vec<Delivery>, StoreError> {
        let claimed = with_pool!(self, |pool| {
            let due = crate::store::dialect::query(
                "SELECT d.id, d.webhook_id, w.url, d.body, d.attempts FROM chaos_deliveries d \
                 JOIN chaos_webhooks w ON w.id = d.webhook_id \
                 WHERE d.id IN (SELECT MIN(id) FROM chaos_deliveries WHERE done_at IS NULL \
                 GROUP BY webhook_id) AND d.next_at <= $1 \
                 AND (d.lease_until IS NULL OR d.lease_until <= $2) ORDER BY d.id LIMIT 20",
            )
            .bind(now_ms)
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
            let mut claimed = Vec::with_capacity(due.len());
            for row in due {
                // A row edited by hand into something unreadable is left alone.
                let (Ok(id), Ok(webhook_id), Ok(url), Ok(body), Ok(attempts)) = (
                    row.try_get::<i64, _>("id"),
                    row.try_get::<i64, _>("webhook_id"),
                    row.try_get::<String, _>("url"),
                    row.try_get::<String, _>("body"),
                    row.try_get::<i64, _>("attempts"),
                ) else {
                    continue;
                };
                // Won only if nobody claimed or finished it since it was read.
                let won = crate::store::dialect::query(
                    "UPDATE chaos_deliveries SET lease_until = $1, attempts = attempts + 1 \
                     WHERE id = $2 AND done_at IS NULL AND attempts = $3 AND next_at <= $4 \
                     AND (lease_until IS NULL OR lease_until <= $5)",
                )
                .bind(now_ms + LEASE_MS)
                .bind(id)
                .bind(attempts)
                .bind(now_ms)
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected()
                    == 1;
                if won {
                    claimed.push(Delivery {
                        id,
                        webhook_id,
                        url,
                        body,
                        attempts: attempts + 1,
                    });
                }
            }
            Ok::<_, sqlx::Error>(claimed)
        })?;
        debug_assert!(claimed.len() <= CLAIM_BATCH as usize);
        Ok(claimed)
    }

    /// Records how `delivery` went at `now_ms`: sent (`Ok`), or failed with a reason: retried
    /// after [`backoff_ms`], or given up after [`MAX_ATTEMPTS`] and counted as failed.
    ///
    /// Errors: the store cannot be written.
    pub async fn finish_delivery(
        &self,
        delivery: &Delivery,
        outcome: Result<(), String>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            match &outcome {
                Ok(()) => {
                    crate::store::dialect::query(
                        "UPDATE chaos_deliveries SET done_at = $1, lease_until = NULL WHERE id = $2",
                    )
                    .bind(now_ms)
                    .bind(delivery.id)
                    .execute(&mut *tx)
                    .await?;
                    crate::store::dialect::query(
                        "UPDATE chaos_webhooks SET delivered = delivered + 1 WHERE id = $1",
                    )
                    .bind(delivery.webhook_id)
                    .execute(&mut *tx)
                    .await?;
                }
                Err(reason) => {
                    let given_up = delivery.attempts >= MAX_ATTEMPTS;
                    let reason = if given_up {
                        format!("{reason} (gave up after {} attempts)", delivery.attempts)
                    } else {
                        format!("{reason} (attempt {} of {MAX_ATTEMPTS})", delivery.attempts)
                    };
                    crate::store::dialect::query(
                        "UPDATE chaos_deliveries SET lease_until = NULL, next_at = $1, done_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(now_ms + backoff_ms(delivery.attempts))
                    .bind(given_up.then_some(now_ms))
                    .bind(delivery.id)
                    .execute(&mut *tx)
                    .await?;
                    crate::store::dialect::query(
                        "UPDATE chaos_webhooks SET failed = failed + $1, last_error = $2, \
                         last_error_at = $3 WHERE id = $4",
                    )
                    .bind(i64::from(given_up))
                    .bind(reason)
                    .bind(now_ms)
                    .bind(delivery.webhook_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    /// Drops deliveries finished more than a day before `now_ms`; returns how many.
    ///
    /// Errors: the store cannot be written.
    pub async fn prune_deliveries(&self, now_ms: i64) -> Result<u64, StoreError> {
        let pruned = with_pool!(self, |pool| {
            // Only by time: a subquery on the webhooks would lock their rows and deadlock
            // with a deliverer's finish on MySQL (orphans go with `remove_webhooks`).
            crate::store::dialect::query("DELETE FROM chaos_deliveries WHERE done_at < $1")
                .bind(now_ms - KEEP_DONE_MS)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(pruned)
    }

    /// Actions whose expiry passed in `(after_ms, now_ms]`: `(id, target, tag,
    /// expires_at)`, read leniently (rows that cannot be read are left out).
    pub(crate) async fn expired_between(
        &self,
        after_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<(i64, String, Option<String>, i64)>, StoreError> {
        let rows = with_pool!(self, |pool| {
            let rows = crate::store::dialect::query(
                "SELECT id, target, tag, expires_at FROM chaos_actions \
                 WHERE expires_at > $1 AND expires_at <= $2 ORDER BY id",
            )
            .bind(after_ms)
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>(
                rows.iter()
                    .filter_map(|row| {
                        Some((
                            row.try_get("id").ok()?,
                            row.try_get("target").ok()?,
                            row.try_get("tag").ok()?,
                            row.try_get("expires_at").ok()?,
                        ))
                    })
                    .collect(),
            )
        })?;
        Ok(rows)
    }

    /// Exercises whose time ran out in `(after_ms, now_ms]` without `exercise end`: ids.
    pub(crate) async fn exercises_expired_between(
        &self,
        after_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let ids = with_pool!(self, |pool| {
            crate::store::dialect::query_scalar(
                "SELECT id FROM chaos_exercises WHERE ended_at IS NULL \
                 AND expires_at > $1 AND expires_at <= $2 ORDER BY id",
            )
            .bind(after_ms)
            .bind(now_ms)
            .fetch_all(pool)
            .await
        })?;
        Ok(ids)
    }
}

/// A webhook row read leniently: a row edited by hand into something unreadable is
/// listed with its `problem` (and wants no event).
fn webhook_of<R: Row>(row: &R) -> Webhook
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    let mut problems: Vec<String> = Vec::new();
    let mut text = |column: &'static str| match row.try_get::<String, _>(column) {
        Ok(value) => value,
        Err(_) => {
            problems.push(format!("{column} is not text"));
            String::new()
        }
    };
    let url = text("url");
    let events_text = text("events");
    let events = match serde_json::from_str::<Vec<String>>(&events_text) {
        Ok(events) => events,
        Err(_) if events_text.is_empty() => Vec::new(),
        Err(_) => {
            problems.push(format!(
                "events is '{events_text}': allowed is a JSON list of event names"
            ));
            Vec::new()
        }
    };
    let int = |column: &'static str| row.try_get::<i64, _>(column).unwrap_or(0);
    Webhook {
        id: int("id"),
        url: crate::store::redact_url(&url),
        events,
        created_at: int("created_at"),
        created_by: row.try_get("created_by").unwrap_or(None),
        delivered: int("delivered"),
        failed: int("failed"),
        pending: int("pending"),
        last_error: row.try_get("last_error").unwrap_or(None),
        last_error_at: row.try_get("last_error_at").unwrap_or(None),
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second() {
        assert_eq!(
            (1..=6).map(backoff_ms).collect::<Vec<_>>(),
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]
        );
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(i64::MAX), 1_000 << 19);
    }
}
