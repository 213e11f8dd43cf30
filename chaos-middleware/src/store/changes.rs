//! Incremental reads for the reloader: what changed since the position it applied.
//!
//! Rows carry `rev`, the generation that published their last change, and deleted rows
//! leave tombstones (migration 0006). A reader that applied generation `g` reads only
//! rows and tombstones with `rev > g`: one change costs O(changed rows), whatever the
//! number stored. Everything is re-read only when that cannot be trusted: the first
//! load; another store (its `epoch` differs: recreated, replaced, restored from
//! elsewhere); a generation that went back; a reader further behind than the kept
//! tombstones (also when a writer prunes them during the read, or after a `TRUNCATE`);
//! a bump that published no row (an edit by hand that bypassed the triggers).

use sqlx::Row;

use super::{Listing, Store, StoreError};
use crate::guard::Guard;

/// Where a reader stands: the generation it applied, of which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// The generation applied.
    pub generation: i64,
    /// The store's random identity (`chaos_meta.epoch`), drawn when it was created.
    pub epoch: i64,
}

/// What changed in the store since the position a reader applied.
#[derive(Debug)]
pub enum Changes {
    /// The generation has not moved.
    Unchanged,
    /// Everything, read afresh: replace what was applied.
    All {
        /// The position read before the rows (the rows may be newer, never older).
        position: Position,
        /// Every stored row.
        listing: Listing,
        /// Every guard.
        guards: Vec<Guard>,
    },
    /// Only what changed: apply on top of what was applied.
    Since {
        /// The position read before the rows.
        position: Position,
        /// Rows written since, valid ones and corrupt ones (a corrupt row replaces the
        /// valid action it was: drop it).
        changed: Listing,
        /// Ids of rows deleted since (a row deleted and then written again is in
        /// `changed` too: remove first, then apply `changed`).
        deleted: Vec<i64>,
        /// Every guard (the store reads the small table with every change; `None` only
        /// from a relay that sent none: keep the ones applied).
        guards: Option<Vec<Guard>>,
    },
}

/// The change counters of `chaos_meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Grows with every write of actions.
    pub generation: i64,
    /// Tombstones with `rev` at or below this are gone.
    pub pruned_through: i64,
    /// The store's random identity, drawn when it was created.
    pub epoch: i64,
    /// The generation that published the last change of a guard.
    pub guards_rev: i64,
}

impl Counters {
    fn position(self) -> Position {
        Position {
            generation: self.generation,
            epoch: self.epoch,
        }
    }
}

/// The queries of an incremental read, run by the pool ([`Store`]) or by the PostgreSQL
/// listener's own connection ([`super::ChangeListener`]).
pub(super) const COUNTERS_SQL: &str =
    "SELECT generation, pruned_through, epoch, guards_rev FROM chaos_meta WHERE id = 1";
pub(super) const TOMBSTONES_SQL: &str = "SELECT DISTINCT id FROM chaos_tombstones WHERE rev > $1";

/// Reads [`Counters`] from a row of [`COUNTERS_SQL`].
pub(super) fn counters_of<R: Row>(row: &R) -> Result<Counters, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Counters {
        generation: row.try_get(0)?,
        pruned_through: row.try_get(1)?,
        epoch: row.try_get(2)?,
        guards_rev: row.try_get(3)?,
    })
}

/// Where an incremental read runs: the pool, or one connection.
pub(super) trait ChangeReader {
    /// The change counters.
    async fn counters(&mut self) -> Result<Counters, StoreError>;
    /// Ids of rows deleted with `rev > since`.
    async fn deleted_after(&mut self, since: i64) -> Result<Vec<i64>, StoreError>;
    /// Rows with `rev > since` (every row with `None`).
    async fn rows_after(&mut self, since: Option<i64>) -> Result<Listing, StoreError>;
    /// Every guard.
    async fn guards(&mut self) -> Result<Vec<Guard>, StoreError>;
}

impl ChangeReader for &Store {
    async fn counters(&mut self) -> Result<Counters, StoreError> {
        let counters = with_pool!(self, |pool| {
            let row = crate::store::dialect::query(COUNTERS_SQL)
                .fetch_one(pool)
                .await?;
            counters_of(&row)
        })?;
        Ok(counters)
    }

    async fn deleted_after(&mut self, since: i64) -> Result<Vec<i64>, StoreError> {
        let deleted = with_pool!(self, |pool| {
            crate::store::dialect::query_scalar(TOMBSTONES_SQL)
                .bind(since)
                .fetch_all(pool)
                .await
        })?;
        Ok(deleted)
    }

    async fn rows_after(&mut self, since: Option<i64>) -> Result<Listing, StoreError> {
        self.list_changed_after(since).await
    }

    async fn guards(&mut self) -> Result<Vec<Guard>, StoreError> {
        Store::guards(self).await
    }
}

/// What changed since `applied`, read through `reader` (see [`Store::changes_since`]).
pub(super) async fn read_changes(
    reader: &mut impl ChangeReader,
    applied: Option<Position>,
) -> Result<Changes, StoreError> {
    let counters = reader.counters().await?;
    let position = counters.position();
    let since = match applied {
        Some(applied) if applied == position => return Ok(Changes::Unchanged),
        // Another store, a generation that went back, or tombstones we need are gone.
        Some(applied)
            if applied.epoch != counters.epoch
                || applied.generation > counters.generation
                || counters.pruned_through > applied.generation =>
        {
            None
        }
        other => other.map(|applied| applied.generation),
    };
    let Some(since) = since else {
        return read_all(reader, position).await;
    };
    let deleted = reader.deleted_after(since).await?;
    // A writer may have pruned tombstones we need since the counters were read.
    let again = reader.counters().await?;
    if again.pruned_through > since || again.epoch != counters.epoch {
        return read_all(reader, position).await;
    }
    let changed = reader.rows_after(Some(since)).await?;
    let guards_changed = counters.guards_rev > since;
    if deleted.is_empty()
        && changed.actions.is_empty()
        && changed.corrupt.is_empty()
        && !guards_changed
    {
        // The generation moved but no row says why: trust nothing.
        return read_all(reader, position).await;
    }
    // The (small) guard table is read with every change, so a guard edited by hand
    // arrives with the next write, as actions do.
    let guards = Some(reader.guards().await?);
    Ok(Changes::Since {
        position,
        changed,
        deleted,
        guards,
    })
}

async fn read_all(
    reader: &mut impl ChangeReader,
    position: Position,
) -> Result<Changes, StoreError> {
    let listing = reader.rows_after(None).await?;
    let guards = reader.guards().await?;
    Ok(Changes::All {
        position,
        listing,
        guards,
    })
}

impl Store {
    /// The change counters: one small query.
    pub async fn counters(&self) -> Result<Counters, StoreError> {
        ChangeReader::counters(&mut &*self).await
    }

    /// What changed since `applied` (`None`: nothing applied yet, read everything). One
    /// small query when nothing changed; tombstones and rows with `rev` above the applied
    /// generation when something did (tombstones first, so a row deleted between the two
    /// reads is caught by the next call). Rows written while reading may show up a second
    /// time later; applying them twice is harmless.
    pub async fn changes_since(&self, applied: Option<Position>) -> Result<Changes, StoreError> {
        read_changes(&mut &*self, applied).await
    }
}
