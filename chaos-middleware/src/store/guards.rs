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

/// A guard from a row of [`GUARDS_SQL`]; a row that cannot be read (edited by hand) is
/// `None` and is skipped.
pub(super) fn guard_of<R: Row>(row: &R) -> Option<Guard>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let non_negative = |value: i64| u64::try_from(value).ok();
    let spec = GuardSpec {
        view: row.try_get::<Option<String>, _>(1).ok()?,
        max_error_rate: row.try_get::<Option<f64>, _>(2).ok()?,
        max_p99_ms: match row.try_get::<Option<i64>, _>(3).ok()? {
            Some(ms) => Some(non_negative(ms)?),
            None => None,
        },
        window_ms: non_negative(row.try_get(4).ok()?)?,
        min_requests: non_negative(row.try_get(5).ok()?)?,
    };
    spec.validate().ok()?;
    let tripped = match row.try_get::<Option<i64>, _>(8).ok()? {
        Some(at) => Some(Trip {
            at,
            by: row
                .try_get::<Option<String>, _>(9)
                .ok()?
                .unwrap_or_default(),
            detail: row
                .try_get::<Option<String>, _>(10)
                .ok()?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Some(Guard {
        id: row.try_get(0).ok()?,
        spec,
        created_at: row.try_get(6).ok()?,
        created_by: row.try_get::<Option<String>, _>(7).ok()?,
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
            Ok::<_, sqlx::Error>(rows.iter().filter_map(guard_of).collect())
        })?;
        Ok(guards)
    }

    /// Removes one guard (`Some(id)`; unknown: [`StoreError::UnknownIds`]) or all of them;
    /// returns how many.
    pub async fn clear_guards(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let detail = id.map_or_else(|| "all".to_owned(), |id| id.to_string());
        let removed = guard_write!(
            self,
            "guard clear",
            detail.clone(),
            |tx| {
                let query = match id {
                    Some(id) => {
                        crate::store::dialect::query("DELETE FROM chaos_guards WHERE id = $1")
                            .bind(id)
                    }
                    None => crate::store::dialect::query("DELETE FROM chaos_guards"),
                };
                query.execute(&mut *tx).await?.rows_affected()
            },
            |removed: &u64| *removed > 0
        )?;
        match (id, removed) {
            (Some(id), 0) => Err(StoreError::UnknownIds(vec![id])),
            _ => Ok(removed),
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
        Ok(reset)
    }
}
