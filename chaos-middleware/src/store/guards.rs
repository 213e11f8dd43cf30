//! Guards in the store (`chaos_guards`, migration 0007): set, listed, cleared, tripped
//! by an instance and reset by an operator. Every change bumps the generation and
//! `chaos_meta.guards_rev`, so every instance re-reads the (small) table with its next
//! reload.

use sqlx::Row;

use crate::action::now_ms;
use crate::guard::{Guard, GuardSpec, Trip};

use super::{INSERT_AUDIT, LOCK_META, Store, StoreError};

/// The columns of a guard, in the order [`guard_of`] reads them.
pub(super) const GUARDS_SQL: &str = "SELECT id, view, max_error_rate, max_p99_ms, window_ms, \
     min_requests, created_at, created_by, tripped_at, tripped_by, tripped_detail \
     FROM chaos_guards ORDER BY id";

/// Marks the guards as changed in the generation the write publishes.
const BUMP_GUARDS: &str = "UPDATE chaos_meta SET guards_rev = generation + 1 WHERE id = 1";

/// A guard from a row of [`GUARDS_SQL`]. A row that cannot be read (edited by hand) counts
/// as tripped, so chaos stays off until someone fixes or clears it: a guard nobody can
/// read must not let chaos run unguarded.
pub(super) fn guard_of<R: Row>(row: &R) -> Guard
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    read_guard(row).unwrap_or_else(|reason| {
        let id = row.try_get::<i64, _>(0).unwrap_or(0);
        tracing::warn!(target: "chaos", guard = id, "guard row {id} cannot be read ({reason}): chaos stays off until it is fixed or cleared");
        unreadable(id, &reason)
    })
}

/// The stand-in for a guard row that cannot be read: tripped.
fn unreadable(id: i64, reason: &str) -> Guard {
    Guard {
        id,
        spec: GuardSpec {
            view: None,
            max_error_rate: Some(0.0),
            max_p99_ms: None,
            window_ms: crate::guard::DEFAULT_WINDOW_MS,
            min_requests: crate::guard::DEFAULT_MIN_REQUESTS,
        },
        created_at: 0,
        created_by: None,
        tripped: Some(Trip {
            at: 0,
            by: String::new(),
            detail: format!(
                "guard row {id} cannot be read ({reason}): chaos stays off until it is fixed or cleared (`chaos-admin guard clear {id}`)"
            ),
        }),
    }
}

fn read_guard<R: Row>(row: &R) -> Result<Guard, String>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let column = |name: &'static str| move |err: sqlx::Error| format!("{name}: {err}");
    let non_negative = |name: &str, value: i64| {
        u64::try_from(value).map_err(|_| format!("{name} is {value}: allowed is 0 or more"))
    };
    let spec = GuardSpec {
        view: row
            .try_get::<Option<String>, _>(1)
            .map_err(column("view"))?,
        max_error_rate: row
            .try_get::<Option<f64>, _>(2)
            .map_err(column("max_error_rate"))?,
        max_p99_ms: match row
            .try_get::<Option<i64>, _>(3)
            .map_err(column("max_p99_ms"))?
        {
            Some(ms) => Some(non_negative("max_p99_ms", ms)?),
            None => None,
        },
        window_ms: non_negative("window_ms", row.try_get(4).map_err(column("window_ms"))?)?,
        min_requests: non_negative(
            "min_requests",
            row.try_get(5).map_err(column("min_requests"))?,
        )?,
    };
    spec.validate().map_err(|err| err.to_string())?;
    let tripped = match row
        .try_get::<Option<i64>, _>(8)
        .map_err(column("tripped_at"))?
    {
        Some(at) => Some(Trip {
            at,
            by: row
                .try_get::<Option<String>, _>(9)
                .map_err(column("tripped_by"))?
                .unwrap_or_default(),
            detail: row
                .try_get::<Option<String>, _>(10)
                .map_err(column("tripped_detail"))?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Guard {
        id: row.try_get(0).map_err(column("id"))?,
        spec,
        created_at: row.try_get(6).map_err(column("created_at"))?,
        created_by: row
            .try_get::<Option<String>, _>(7)
            .map_err(column("created_by"))?,
        tripped,
    })
}

/// Runs `$body` (statements on `$tx` evaluating to `Result<T, sqlx::Error>`) in one
/// transaction that locks `chaos_meta` first and, when `$publish($result)` holds, audits
/// `$operation` on `$detail`, marks the guards changed and publishes a new generation.
macro_rules! guard_write {
    ($store:expr, $operation:expr, $detail:expr, |$tx:ident| $body:expr, $publish:expr) => {{
        let actor = $store.actor();
        with_pool!($store, |pool| {
            let mut $tx = pool.begin().await?;
            crate::store::dialect::query(LOCK_META)
                .execute(&mut *$tx)
                .await?;
            let result = $body;
            if ($publish)(&result) {
                crate::store::dialect::query(INSERT_AUDIT)
                    .bind(now_ms())
                    .bind(actor.as_deref())
                    .bind($operation)
                    .bind("")
                    .bind(Some($detail))
                    .execute(&mut *$tx)
                    .await?;
                crate::store::dialect::query(BUMP_GUARDS)
                    .execute(&mut *$tx)
                    .await?;
                publish_write!($tx)?;
            }
            $tx.commit().await?;
            Ok::<_, sqlx::Error>(result)
        })
    }};
}

impl Store {
    /// Stores a new guard (checked first); returns its id.
    pub async fn set_guard(&self, spec: &GuardSpec) -> Result<i64, StoreError> {
        spec.validate()?;
        let now = now_ms();
        let actor = self.actor();
        let described = spec.describe();
        let id = guard_write!(
            self,
            "guard set",
            described.clone(),
            |tx| {
                let query = crate::store::dialect::query(
                    "INSERT INTO chaos_guards (view, max_error_rate, max_p99_ms, window_ms, \
                     min_requests, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     RETURNING id",
                )
                .bind(spec.view.as_deref())
                .bind(spec.max_error_rate)
                .bind(
                    spec.max_p99_ms
                        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                )
                .bind(i64::try_from(spec.window_ms).unwrap_or(i64::MAX))
                .bind(i64::try_from(spec.min_requests).unwrap_or(i64::MAX))
                .bind(now)
                .bind(actor.as_deref());
                crate::store::dialect::insert_id(query, &mut tx).await?
            },
            |_: &i64| true
        )?;
        Ok(id)
    }

    /// Every stored guard, by id (rows edited into something unreadable are skipped).
    pub async fn guards(&self) -> Result<Vec<Guard>, StoreError> {
        let guards = with_pool!(self, |pool| {
            let rows = crate::store::dialect::query(GUARDS_SQL)
                .fetch_all(pool)
                .await?;
            Ok::<_, sqlx::Error>(rows.iter().map(guard_of).collect())
        })?;
        Ok(guards)
    }

    /// Removes one guard (`Some(id)`; unknown: [`StoreError::UnknownGuard`]) or all of
    /// them; returns how many. A tripped guard is not removed (that would resume chaos
    /// without a reset): [`StoreError::Invalid`] says to reset it first.
    pub async fn clear_guards(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let detail = id.map_or_else(|| "all".to_owned(), |id| id.to_string());
        let removed = guard_write!(
            self,
            "guard clear",
            detail.clone(),
            |tx| {
                let tripped: i64 = match id {
                    Some(id) => crate::store::dialect::query_scalar(
                        "SELECT COUNT(*) FROM chaos_guards WHERE id = $1 AND tripped_at IS NOT NULL",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?,
                    None => crate::store::dialect::query_scalar(
                        "SELECT COUNT(*) FROM chaos_guards WHERE tripped_at IS NOT NULL",
                    )
                    .fetch_one(&mut *tx)
                    .await?,
                };
                if tripped > 0 {
                    Err(tripped)
                } else {
                    let query = match id {
                        Some(id) => {
                            crate::store::dialect::query("DELETE FROM chaos_guards WHERE id = $1")
                                .bind(id)
                        }
                        None => crate::store::dialect::query("DELETE FROM chaos_guards"),
                    };
                    Ok(query.execute(&mut *tx).await?.rows_affected())
                }
            },
            |removed: &Result<u64, i64>| removed.as_ref().is_ok_and(|n| *n > 0)
        )?;
        match (id, removed) {
            (_, Err(tripped)) => Err(StoreError::Invalid(crate::action::InvalidAction::new(
                format!(
                    "{tripped} guard(s) tripped: run `chaos-admin guard reset` first (chaos resumes), then clear"
                ),
            ))),
            (Some(id), Ok(0)) => Err(StoreError::UnknownGuard(id)),
            (_, Ok(removed)) => Ok(removed),
        }
    }

    /// Records that guard `id` tripped (`trip`: where and what was measured), unless it
    /// is tripped already or gone; returns whether this call tripped it. Every instance
    /// stops injecting when it loads the change.
    pub async fn trip_guard(&self, id: i64, trip: &Trip) -> Result<bool, StoreError> {
        let tripped = guard_write!(
            self,
            "guard tripped",
            format!("guard {id}: {} (instance {})", trip.detail, trip.by),
            |tx| {
                crate::store::dialect::query(
                    "UPDATE chaos_guards SET tripped_at = $1, tripped_by = $2, \
                     tripped_detail = $3 WHERE id = $4 AND tripped_at IS NULL",
                )
                .bind(trip.at)
                .bind(&trip.by)
                .bind(&trip.detail)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            },
            |tripped: &bool| *tripped
        )?;
        if tripped {
            let event = crate::notification::Event::new(
                crate::notification::EventKind::GuardTripped,
                format!(
                    "guard {id} tripped on {}: {}. All chaos stopped on every instance until `chaos-admin guard reset`",
                    trip.by, trip.detail
                ),
            )
            .with_details(serde_json::json!({"guard": id, "instance": trip.by, "measured": trip.detail, "at": crate::time::format_time(trip.at)}));
            self.notify(event).await;
        }
        Ok(tripped)
    }

    /// Re-arms every tripped guard: chaos resumes on every instance with its next
    /// reload. Returns how many were tripped.
    pub async fn reset_guards(&self) -> Result<u64, StoreError> {
        let reset = guard_write!(
            self,
            "guard reset",
            "all".to_owned(),
            |tx| {
                crate::store::dialect::query(
                    "UPDATE chaos_guards SET tripped_at = NULL, tripped_by = NULL, \
                     tripped_detail = NULL WHERE tripped_at IS NOT NULL",
                )
                .execute(&mut *tx)
                .await?
                .rows_affected()
            },
            |reset: &u64| *reset > 0
        )?;
        if reset > 0 {
            let event = crate::notification::Event::new(
                crate::notification::EventKind::GuardReset,
                format!("{reset} tripped guard(s) reset: chaos resumes"),
            )
            .with_details(serde_json::json!({"count": reset}));
            self.notify(event).await;
        }
        Ok(reset)
    }
}
