//! Incremental reads for the reloader: what changed since the generation it applied.
//!
//! Rows carry `rev`, the generation that published their last change, and deleted rows
//! leave tombstones (migration 0006). A reader that applied generation `g` reads only
//! rows and tombstones with `rev > g`: one change costs O(changed rows), whatever the
//! number stored. Everything is re-read only when that cannot be trusted: the first
//! load, a reader further behind than the kept tombstones, a store whose generation went
//! back (replaced or restored), or a bump that published no row (an edit by hand that
//! bypassed the triggers).

use sqlx::Row;

use super::{Listing, Store, StoreError};

/// What changed in the store since the generation a reader applied.
#[derive(Debug)]
pub enum Changes {
    /// The generation has not moved.
    Unchanged,
    /// Everything, read afresh: replace what was applied.
    All {
        /// The generation read before the rows (the rows may be newer, never older).
        generation: i64,
        /// Every stored row.
        listing: Listing,
    },
    /// Only what changed: apply on top of what was applied.
    Since {
        /// The generation read before the rows.
        generation: i64,
        /// Rows written since, valid ones and corrupt ones (a corrupt row replaces the
        /// valid action it was: drop it).
        changed: Listing,
        /// Ids of rows deleted since (a row deleted and then written again is in
        /// `changed` too: remove first, then apply `changed`).
        deleted: Vec<i64>,
    },
}

/// The change counters of `chaos_meta`: the generation, and the generation through which
/// tombstones were pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Grows with every write of actions.
    pub generation: i64,
    /// Tombstones with `rev` at or below this are gone.
    pub pruned_through: i64,
}

/// The queries of an incremental read, run by the pool ([`Store`]) or by the PostgreSQL
/// listener's own connection ([`super::ChangeListener`]).
pub(super) const COUNTERS_SQL: &str =
    "SELECT generation, pruned_through FROM chaos_meta WHERE id = 1";
pub(super) const TOMBSTONES_SQL: &str = "SELECT DISTINCT id FROM chaos_tombstones WHERE rev > $1";

/// Where an incremental read runs: the pool, or one connection.
pub(super) trait ChangeReader {
    /// The change counters.
    async fn counters(&mut self) -> Result<Counters, StoreError>;
    /// Ids of rows deleted with `rev > since`.
    async fn deleted_after(&mut self, since: i64) -> Result<Vec<i64>, StoreError>;
    /// Rows with `rev > since` (every row with `None`).
    async fn rows_after(&mut self, since: Option<i64>) -> Result<Listing, StoreError>;
}

impl ChangeReader for &Store {
    async fn counters(&mut self) -> Result<Counters, StoreError> {
        let row = with_pool!(self, |pool| {
            let row = sqlx::query(COUNTERS_SQL).fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?))
        })?;
        Ok(Counters {
            generation: row.0,
            pruned_through: row.1,
        })
    }

    async fn deleted_after(&mut self, since: i64) -> Result<Vec<i64>, StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query_scalar(TOMBSTONES_SQL)
                .bind(since)
                .fetch_all(pool)
                .await
        })?;
        Ok(deleted)
    }

    async fn rows_after(&mut self, since: Option<i64>) -> Result<Listing, StoreError> {
        self.list_changed_after(since).await
    }
}

/// What changed since `applied`, read through `reader` (see [`Store::changes_since`]).
pub(super) async fn read_changes(
    reader: &mut impl ChangeReader,
    applied: Option<i64>,
) -> Result<Changes, StoreError> {
    let Counters {
        generation,
        pruned_through,
    } = reader.counters().await?;
    let since = match applied {
        Some(applied) if applied == generation => return Ok(Changes::Unchanged),
        // The store went back (replaced, restored) or dropped tombstones we need.
        Some(applied) if applied > generation || pruned_through > applied => None,
        other => other,
    };
    let Some(since) = since else {
        let listing = reader.rows_after(None).await?;
        return Ok(Changes::All {
            generation,
            listing,
        });
    };
    let deleted = reader.deleted_after(since).await?;
    let changed = reader.rows_after(Some(since)).await?;
    if deleted.is_empty() && changed.actions.is_empty() && changed.corrupt.is_empty() {
        // The generation moved but no row says why: trust nothing.
        let listing = reader.rows_after(None).await?;
        return Ok(Changes::All {
            generation,
            listing,
        });
    }
    Ok(Changes::Since {
        generation,
        changed,
        deleted,
    })
}

impl Store {
    /// The change counters: one small query.
    pub async fn counters(&self) -> Result<Counters, StoreError> {
        ChangeReader::counters(&mut &*self).await
    }

    /// What changed since `applied` (`None`: nothing applied yet, read everything). One
    /// small query when nothing changed; rows and tombstones with `rev > applied` when
    /// something did (tombstones first, so a row deleted between the two reads is caught
    /// by the next call). Rows written while reading may show up a second time later;
    /// applying them twice is harmless.
    pub async fn changes_since(&self, applied: Option<i64>) -> Result<Changes, StoreError> {
        read_changes(&mut &*self, applied).await
    }
}
