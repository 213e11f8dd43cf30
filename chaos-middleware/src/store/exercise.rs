//! Fault-finding exercises: a row per exercise in `chaos_exercises`; its faults are
//! ordinary actions (so every app instance applies them and they expire by themselves)
//! whose ids the row lists, so the CLI can hide their details until the exercise is
//! revealed or ended. At most one exercise runs at a time.

use serde::Serialize;
use sqlx::{FromRow, Row};

use crate::action::{ActionSpec, now_ms};

use super::batch::validate_all;
use super::{INSERT_AUDIT, LOCK_META, Store, StoreError, join_ids};

/// One exercise, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exercise {
    /// Primary key.
    pub id: i64,
    /// Unix milliseconds of the start.
    pub started_at: i64,
    /// Unix milliseconds at which the exercise (and its faults) expire.
    pub expires_at: i64,
    /// Unix milliseconds of `exercise end` (or of being closed by the next start).
    pub ended_at: Option<i64>,
    /// Unix milliseconds of `exercise reveal`.
    pub revealed_at: Option<i64>,
    /// The generator's seed.
    pub seed: u64,
    /// How many hints were given so far.
    pub hints_given: u32,
    /// The exercise's actions.
    pub action_ids: Vec<i64>,
    /// Who started it (the OS user of the CLI), when known.
    pub started_by: Option<String>,
}

impl Exercise {
    /// Not ended and not expired at `now_ms`.
    pub fn is_running_at(&self, now_ms: i64) -> bool {
        self.ended_at.is_none() && self.expires_at > now_ms
    }

    /// Whether its actions' details are hidden: until it is revealed or ended.
    pub fn hides_actions(&self) -> bool {
        self.ended_at.is_none() && self.revealed_at.is_none()
    }
}

/// What [`Store::start_exercise`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExerciseStart {
    /// The exercise was stored with its faults; `closed` lists earlier exercises that had
    /// expired without `exercise end` and were closed (their faults removed) on the way.
    Started {
        /// The new exercise.
        exercise: Exercise,
        /// Ids of expired exercises closed by this start.
        closed: Vec<i64>,
    },
    /// Another exercise is running; nothing was written.
    AlreadyRunning(Exercise),
}

#[derive(Debug, FromRow)]
struct ExerciseRow {
    id: i64,
    started_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
    revealed_at: Option<i64>,
    seed: String,
    hints_given: i64,
    action_ids: String,
    started_by: Option<String>,
}

/// A row of `chaos_exercises` that does not decode (edited by hand), said plainly: which
/// column, and how to get rid of it.
fn unreadable_exercise(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::ColumnDecode { index, source } => {
            StoreError::Invalid(crate::action::InvalidAction::new(format!(
                "an exercise row cannot be read: column {index} holds an unexpected value ({source}); fix it or delete the row from chaos_exercises (its actions are tagged exercise: `chaos-admin delete --tag exercise`)"
            )))
        }
        other => StoreError::Query(other),
    }
}

impl ExerciseRow {
    fn into_exercise(self) -> Result<Exercise, StoreError> {
        let invalid = |column: &str, value: &str| {
            StoreError::Invalid(crate::action::InvalidAction::new(format!(
                "exercise row {} is invalid: {column} is '{value}'",
                self.id
            )))
        };
        let seed = self
            .seed
            .parse::<u64>()
            .map_err(|_| invalid("seed", &self.seed))?;
        let action_ids: Vec<i64> = serde_json::from_str(&self.action_ids)
            .map_err(|_| invalid("action_ids", &self.action_ids))?;
        let hints_given = u32::try_from(self.hints_given)
            .map_err(|_| invalid("hints_given", &self.hints_given.to_string()))?;
        Ok(Exercise {
            id: self.id,
            started_at: self.started_at,
            expires_at: self.expires_at,
            ended_at: self.ended_at,
            revealed_at: self.revealed_at,
            seed,
            hints_given,
            action_ids,
            started_by: self.started_by,
        })
    }
}

const EXERCISE_COLUMNS: &str =
    "id, started_at, expires_at, ended_at, revealed_at, seed, hints_given, action_ids, started_by";

impl Store {
    /// Stores a new exercise with its faults (`specs`, validated first; they should carry
    /// the exercise's expiry) in one transaction, unless one is already running. Earlier
    /// exercises that expired without being ended are closed and their faults removed.
    pub async fn start_exercise(
        &self,
        specs: &[ActionSpec],
        seed: u64,
        expires_at: i64,
    ) -> Result<ExerciseStart, StoreError> {
        validate_all(specs)?;
        let now = now_ms();
        let actor = self.actor();
        let open_sql = format!(
            "SELECT {EXERCISE_COLUMNS} FROM chaos_exercises WHERE ended_at IS NULL ORDER BY id"
        );
        let insert = "INSERT INTO chaos_exercises (started_at, expires_at, seed, hints_given, \
             action_ids, started_by) VALUES ($1, $2, $3, 0, $4, $5) RETURNING id";
        let outcome = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The first statement writes, so SQLite takes its write lock up front and
            // PostgreSQL serialises concurrent starts on the meta row: the check below
            // cannot race another start.
            crate::store::dialect::query(LOCK_META)
                .execute(&mut *tx)
                .await?;
            let open: Vec<ExerciseRow> = crate::store::dialect::query_as(open_sql.as_str())
                .fetch_all(&mut *tx)
                .await?;
            let mut stale = Vec::new();
            for row in open {
                if row.expires_at > now {
                    // Dropping the transaction rolls it back.
                    return Ok::<_, sqlx::Error>(Err(row));
                }
                stale.push(row);
            }
            let mut closed = Vec::new();
            for row in &stale {
                let ids: Vec<i64> = serde_json::from_str(&row.action_ids).unwrap_or_default();
                for id in ids {
                    crate::store::dialect::query("DELETE FROM chaos_actions WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                crate::store::dialect::query(
                    "UPDATE chaos_exercises SET ended_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                closed.push(row.id);
            }
            let ids = insert_specs!(tx, specs, now, actor.as_deref())?;
            let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
            let query = crate::store::dialect::query(insert)
                .bind(now)
                .bind(expires_at)
                .bind(seed.to_string())
                .bind(&ids_json)
                .bind(actor.as_deref());
            let id = crate::store::dialect::insert_id(query, &mut tx).await?;
            // The audit names the actions but not what they do: the exercise is a secret.
            crate::store::dialect::query(INSERT_AUDIT)
                .bind(now)
                .bind(actor.as_deref())
                .bind("exercise start")
                .bind(join_ids(&ids))
                .bind(Some(format!("exercise {id}")))
                .execute(&mut *tx)
                .await?;
            publish_write!(tx)?;
            tx.commit().await?;
            Ok(Ok((id, ids, closed)))
        })
        .map_err(unreadable_exercise)?;
        if let Ok((id, action_ids, _)) = &outcome {
            let faults = if action_ids.len() == 1 {
                "1 hidden fault".to_owned()
            } else {
                format!("{} hidden faults", action_ids.len())
            };
            // A booked exercise says when it starts and in which windows it runs.
            let timing = specs
                .first()
                .and_then(|spec| {
                    crate::schedule::Timing {
                        starts_at: spec.starts_at,
                        window: spec.window.clone(),
                    }
                    .describe()
                })
                .map(|timing| format!(" ({timing})"))
                .unwrap_or_default();
            let event = crate::notification::Event::new(
                crate::notification::EventKind::ExerciseStarted,
                format!(
                    "exercise {id} started: {faults} until {}{timing}",
                    crate::time::format_time(expires_at)
                ),
            )
            .with_details(serde_json::json!({"exercise": id, "faults": action_ids.len()}));
            self.notify(event).await;
        }
        match outcome {
            Err(running) => Ok(ExerciseStart::AlreadyRunning(running.into_exercise()?)),
            Ok((id, action_ids, closed)) => Ok(ExerciseStart::Started {
                exercise: Exercise {
                    id,
                    started_at: now,
                    expires_at,
                    ended_at: None,
                    revealed_at: None,
                    seed,
                    hints_given: 0,
                    action_ids,
                    started_by: actor,
                },
                closed,
            }),
        }
    }

    /// The latest exercise not ended yet (running, or expired without `exercise end`).
    pub async fn current_exercise(&self) -> Result<Option<Exercise>, StoreError> {
        let sql = format!(
            "SELECT {EXERCISE_COLUMNS} FROM chaos_exercises WHERE ended_at IS NULL \
             ORDER BY id DESC LIMIT 1"
        );
        let row: Option<ExerciseRow> = with_pool!(self, |pool| {
            crate::store::dialect::query_as(sql.as_str())
                .fetch_optional(pool)
                .await
        })
        .map_err(unreadable_exercise)?;
        row.map(ExerciseRow::into_exercise).transpose()
    }

    /// One exercise by id, ended or not.
    pub async fn exercise(&self, id: i64) -> Result<Option<Exercise>, StoreError> {
        let sql = format!("SELECT {EXERCISE_COLUMNS} FROM chaos_exercises WHERE id = $1");
        let row: Option<ExerciseRow> = with_pool!(self, |pool| {
            crate::store::dialect::query_as(sql.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await
        })
        .map_err(unreadable_exercise)?;
        row.map(ExerciseRow::into_exercise).transpose()
    }

    /// Ids of the actions whose details are hidden: those of exercises neither revealed
    /// nor ended.
    pub async fn hidden_action_ids(&self) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT action_ids FROM chaos_exercises \
             WHERE ended_at IS NULL AND revealed_at IS NULL";
        let lists: Vec<Option<String>> = with_pool!(self, |pool| {
            let rows = crate::store::dialect::query(sql).fetch_all(pool).await?;
            Ok::<_, sqlx::Error>(
                rows.iter()
                    .map(|row| row.try_get::<String, _>(0).ok())
                    .collect(),
            )
        })?;
        let mut ids = Vec::new();
        for list in lists.into_iter().flatten() {
            // An unreadable list hides nothing rather than failing every `list`.
            let parsed: Vec<i64> = serde_json::from_str(&list).unwrap_or_default();
            ids.extend(parsed);
        }
        Ok(ids)
    }

    /// Counts one more hint given for exercise `id`; returns the new count.
    pub async fn record_exercise_hint(&self, id: i64) -> Result<u32, StoreError> {
        self.update_exercise(
            id,
            "UPDATE chaos_exercises SET hints_given = hints_given + 1 WHERE id = $1",
            "exercise hint",
        )
        .await?;
        let exercise = self
            .exercise(id)
            .await?
            .ok_or_else(|| StoreError::UnknownIds(vec![id]))?;
        Ok(exercise.hints_given)
    }

    /// Marks exercise `id` revealed (its actions are no longer hidden); a second reveal
    /// keeps the first time.
    pub async fn reveal_exercise(&self, id: i64) -> Result<(), StoreError> {
        self.update_exercise(
            id,
            "UPDATE chaos_exercises SET revealed_at = COALESCE(revealed_at, $1) WHERE id = $2",
            "exercise reveal",
        )
        .await
    }

    /// Ends exercise `id`: removes its actions (those still stored) and records the end,
    /// in one transaction. Returns how many actions were removed.
    pub async fn end_exercise(&self, id: i64) -> Result<u64, StoreError> {
        let now = now_ms();
        let actor = self.actor();
        let removed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            crate::store::dialect::query(LOCK_META)
                .execute(&mut *tx)
                .await?;
            let list: Option<String> = crate::store::dialect::query_scalar(
                "SELECT action_ids FROM chaos_exercises WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(list) = list else {
                return Ok::<_, sqlx::Error>(None);
            };
            let ids: Vec<i64> = serde_json::from_str(&list).unwrap_or_default();
            let mut removed = 0;
            for action in &ids {
                removed += crate::store::dialect::query("DELETE FROM chaos_actions WHERE id = $1")
                    .bind(action)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            crate::store::dialect::query(
                "UPDATE chaos_exercises SET ended_at = COALESCE(ended_at, $1) WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            crate::store::dialect::query(INSERT_AUDIT)
                .bind(now)
                .bind(actor.as_deref())
                .bind("exercise end")
                .bind(join_ids(&ids))
                .bind(Some(format!("exercise {id}")))
                .execute(&mut *tx)
                .await?;
            publish_write!(tx)?;
            tx.commit().await?;
            Ok(Some(removed))
        })?;
        if removed.is_some() {
            let why = format!("ended by {}", actor.as_deref().unwrap_or("an operator"));
            self.notify(crate::notification::deliver::exercise_ended(id, &why))
                .await;
        }
        removed.ok_or_else(|| StoreError::UnknownIds(vec![id]))
    }

    /// Runs `sql` (binding `$1` = now and `$2` = id, or `$1` = id alone) on one exercise row with a generation
    /// bump and an audit row; an unknown id is an error and changes nothing.
    async fn update_exercise(
        &self,
        id: i64,
        sql: &'static str,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let actor = self.actor();
        // No generation bump: hints and reveals change no action, so no app reloads.
        // The update is the transaction's first statement, so SQLite takes its write
        // lock up front.
        let found = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut query = crate::store::dialect::query(sql);
            if sql.contains("$2") {
                query = query.bind(now);
            }
            query = query.bind(id);
            let changed = query.execute(&mut *tx).await?.rows_affected();
            if changed == 0 {
                return Ok::<_, sqlx::Error>(false);
            }
            crate::store::dialect::query(INSERT_AUDIT)
                .bind(now)
                .bind(actor.as_deref())
                .bind(operation)
                .bind(String::new())
                .bind(Some(format!("exercise {id}")))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })?;
        if found {
            Ok(())
        } else {
            Err(StoreError::UnknownIds(vec![id]))
        }
    }
}
