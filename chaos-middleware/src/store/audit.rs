//! Reading the audit table: who changed what, and when.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

/// One change, as the audit table recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Row id (grows with time).
    pub id: i64,
    /// When, in Unix milliseconds.
    pub at: i64,
    /// Who (the operator, `CHAOS_ACTOR` or `USER` of the process that wrote it), if known.
    pub actor: Option<String>,
    /// What: `create`, `enable`, `disable`, `delete`, `exercise start`, ….
    pub operation: String,
    /// The action ids touched, comma-separated as stored.
    pub action_ids: String,
    /// The selection or the details, as stored.
    pub detail: Option<String>,
}

const RECENT_AUDIT: &str = "SELECT id, at, actor, operation, action_ids, detail FROM chaos_audit \
     ORDER BY id DESC LIMIT $1";

impl Store {
    /// The `limit` most recent changes, newest first.
    ///
    /// Errors: the store cannot be read.
    pub async fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::from(limit);
        // Each backend's rows are read into the same entries.
        with_pool!(self, |pool| {
            let rows = crate::store::dialect::query(RECENT_AUDIT)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEntry {
                        id: row.try_get("id")?,
                        at: row.try_get("at")?,
                        actor: row.try_get("actor")?,
                        operation: row.try_get("operation")?,
                        action_ids: row.try_get("action_ids")?,
                        detail: row.try_get("detail")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }
}

impl AuditEntry {
    /// The action ids this change touched (an unreadable list touches none).
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.action_ids
            .split([',', ' '])
            .filter_map(|id| id.trim().parse::<i64>().ok())
    }
}

/// Who changed each action last, and when, from audit entries (newest first):
/// action id → (Unix ms, actor).
pub fn last_changes(
    entries: &[AuditEntry],
) -> std::collections::HashMap<i64, (i64, Option<String>)> {
    let mut out = std::collections::HashMap::new();
    for entry in entries {
        for id in entry.ids() {
            out.entry(id)
                .or_insert_with(|| (entry.at, entry.actor.clone()));
        }
    }
    out
}
