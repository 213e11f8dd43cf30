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

impl Store {
    /// What changed since `applied` (`None`: nothing applied yet, read everything). One
    /// small query when nothing changed; rows and tombstones with `rev > applied` when
    /// something did (tombstones first, so a row deleted between the two reads is caught
    /// by the next call). Rows written while reading may show up a second time later;
    /// applying them twice is harmless.
    pub async fn changes_since(&self, applied: Option<i64>) -> Result<Changes, StoreError> {
        let sql = "SELECT generation, pruned_through FROM chaos_meta WHERE id = 1";
        let (generation, pruned_through): (i64, i64) = with_pool!(self, |pool| {
            let row = sqlx::query(sql).fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?))
        })?;
        let since = match applied {
            Some(applied) if applied == generation => return Ok(Changes::Unchanged),
            // The store went back (replaced, restored) or dropped tombstones we need.
            Some(applied) if applied > generation || pruned_through > applied => None,
            other => other,
        };
        let Some(since) = since else {
            let listing = self.list().await?;
            return Ok(Changes::All {
                generation,
                listing,
            });
        };
        let sql = "SELECT DISTINCT id FROM chaos_tombstones WHERE rev > $1";
        let deleted: Vec<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(sql).bind(since).fetch_all(pool).await
        })?;
        let changed = self.list_changed_after(Some(since)).await?;
        if deleted.is_empty() && changed.actions.is_empty() && changed.corrupt.is_empty() {
            // The generation moved but no row says why: trust nothing.
            let listing = self.list().await?;
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
}
