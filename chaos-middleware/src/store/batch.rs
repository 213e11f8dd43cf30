//! Several actions written in one transaction (storms, exercises): all of them or none,
//! with one generation bump and one audit row.

use crate::action::{ActionSpec, InvalidAction, now_ms};

use super::{INSERT_AUDIT, LOCK_META, Store, StoreError, join_ids};

/// Inserts one action; `$17` and `$18` are both the time (`created_at`, `updated_at`).
pub(super) const INSERT_ACTION: &str = "INSERT INTO chaos_actions (kind, verb, target, min_ms, \
     max_ms, status, body, probability, users, groups, hosts, methods, enabled, expires_at, \
     tag, note, created_at, updated_at, created_by, phase, starts_at, active_window) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
     $17, $18, $19, $20, $21, $22) RETURNING id";

/// Inserts every spec of `$specs` (a slice, already validated) inside the open
/// transaction `$tx`; evaluates to `Result<Vec<i64>, sqlx::Error>` with the new ids in
/// order. A macro because the transaction's type differs per backend.
macro_rules! insert_specs {
    ($tx:ident, $specs:expr, $now:expr, $actor:expr) => {
        async {
            let specs: &[$crate::action::ActionSpec] = $specs;
            let mut ids: Vec<i64> = Vec::with_capacity(specs.len());
            for spec in specs {
                let columns = $crate::store::row::Columns::from_spec(spec);
                let query = $crate::store::dialect::query($crate::store::batch::INSERT_ACTION)
                    .bind(columns.kind)
                    .bind(columns.verb)
                    .bind(&spec.target)
                    .bind(columns.min_ms)
                    .bind(columns.max_ms)
                    .bind(columns.status)
                    .bind(columns.body)
                    .bind(spec.probability)
                    .bind(&columns.users)
                    .bind(&columns.groups)
                    .bind(&columns.hosts)
                    .bind(&columns.methods)
                    .bind(i64::from(spec.enabled))
                    .bind(spec.expires_at)
                    .bind(spec.tag.as_deref())
                    .bind(spec.note.as_deref())
                    .bind($now)
                    .bind($now)
                    .bind($actor)
                    .bind(columns.phase)
                    .bind(spec.starts_at)
                    .bind(columns.window);
                let id = $crate::store::dialect::insert_id(query, &mut $tx).await?;
                ids.push(id);
            }
            Ok::<_, sqlx::Error>(ids)
        }
        .await
    };
}

/// Checks every spec; the error says which one (1-based) is wrong and why.
pub(super) fn validate_all(specs: &[ActionSpec]) -> Result<(), InvalidAction> {
    if let [spec] = specs {
        return spec.validate();
    }
    for (index, spec) in specs.iter().enumerate() {
        spec.validate().map_err(|err| {
            InvalidAction::new(format!("action {} of {}: {err}", index + 1, specs.len()))
        })?;
    }
    Ok(())
}

impl Store {
    /// Validates every spec, then stores them all in one transaction (one generation
    /// bump, one audit row); returns the new ids in the order given. If any spec is
    /// invalid nothing is written. An empty slice writes nothing.
    pub async fn create_many(&self, specs: &[ActionSpec]) -> Result<Vec<i64>, StoreError> {
        validate_all(specs)?;
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let actor = self.actor();
        // One spec is audited as itself, several as a list.
        let detail = match specs {
            [spec] => serde_json::to_string(spec).ok(),
            _ => serde_json::to_string(specs).ok(),
        };
        let ids = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The first statement writes, so SQLite takes its write lock up front.
            crate::store::dialect::query(LOCK_META)
                .execute(&mut *tx)
                .await?;
            let ids = insert_specs!(tx, specs, now, actor.as_deref())?;
            crate::store::dialect::query(INSERT_AUDIT)
                .bind(now)
                .bind(actor.as_deref())
                .bind("create")
                .bind(join_ids(&ids))
                .bind(detail)
                .execute(&mut *tx)
                .await?;
            publish_write!(tx)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        })?;
        self.notify(crate::notification::created(specs, &ids)).await;
        Ok(ids)
    }
}
