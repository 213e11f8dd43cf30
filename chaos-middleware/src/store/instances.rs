//! Running app instances and the views they serve (`chaos_instances`, `chaos_views`).
//!
//! Each app instance registers itself and its views when it reaches the store, then
//! refreshes `last_seen` (and the snapshot generation it has applied) on a heartbeat.
//! None of this touches `chaos_meta.generation`: registration never makes instances
//! reload. An instance counts as live while its last heartbeat is recent (see
//! [`InstanceRow::is_live_at`]); rows of instances gone for a day are pruned.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::action::now_ms;

/// Instances not seen for this long are deleted (with their views) when another
/// instance registers.
pub(super) const PRUNE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// How many times a registration that lost a deadlock is tried.
const REGISTER_ATTEMPTS: u32 = 5;

/// Whether the database rolled the transaction back to break a deadlock or a
/// serialisation conflict (SQLSTATE 40001, PostgreSQL's 40P01): trying again is right.
fn is_deadlock(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

/// A route an app instance serves, as it registers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewRoute {
    /// The view name the app gave the route (the pattern itself when unnamed).
    pub name: String,
    /// axum's route pattern, e.g. `/items/{id}`.
    pub pattern: String,
    /// HTTP methods, when the app said them (empty: not known).
    pub methods: Vec<String>,
}

/// What an app instance says about itself when it registers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceInfo {
    /// Unique per process: host, pid and a random suffix.
    pub id: String,
    /// The host the instance runs on.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// When it started (Unix ms).
    pub started_at: i64,
    /// How often it sends a heartbeat (ms), so readers know when it counts as gone.
    pub heartbeat_ms: i64,
    /// The views it serves.
    pub views: Vec<ViewRoute>,
}

/// One heartbeat of [`Store::heartbeats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The instance id.
    pub id: String,
    /// The generation it applied last.
    pub applied_generation: Option<i64>,
    /// When it applied it (Unix ms).
    pub applied_at: Option<i64>,
    /// Fault counts, the JSON of [`InstanceRow::fired`].
    pub fired: Option<String>,
}

/// One row of `chaos_instances`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct InstanceRow {
    /// Instance id.
    pub id: String,
    /// Host.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Start time (Unix ms).
    pub started_at: i64,
    /// Last heartbeat (Unix ms).
    pub last_seen: i64,
    /// Heartbeat interval (ms).
    pub heartbeat_ms: i64,
    /// Store generation of the snapshot the instance applies (`None`: not loaded yet).
    pub applied_generation: Option<i64>,
    /// When that snapshot was loaded (Unix ms).
    pub applied_at: Option<i64>,
    /// The faults it injected per action, as its last heartbeat reported them: JSON
    /// `{"<action id>": [total since the instance started, in the last interval]}`
    /// (read with [`fired_counts`]).
    pub fired: Option<String>,
}

/// How often an action fired on the live instances, as their heartbeats report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fired {
    /// Faults injected since each instance started (summed over the live ones).
    pub total: u64,
    /// Faults injected in each instance's last heartbeat interval (about 10 s), summed.
    pub recent: u64,
}

/// The fault counts per action id over the instances live at `now_ms` (a hand-edited
/// `fired` column counts as nothing).
pub fn fired_counts(
    instances: &[InstanceRow],
    now_ms: i64,
) -> std::collections::HashMap<i64, Fired> {
    let mut out: std::collections::HashMap<i64, Fired> = std::collections::HashMap::new();
    for instance in instances.iter().filter(|i| i.is_live_at(now_ms)) {
        let Some(text) = &instance.fired else {
            continue;
        };
        let Ok(map) = serde_json::from_str::<std::collections::HashMap<String, (u64, u64)>>(text)
        else {
            continue;
        };
        for (id, (total, recent)) in map {
            if let Ok(id) = id.parse::<i64>() {
                let entry = out.entry(id).or_default();
                entry.total = entry.total.saturating_add(total);
                entry.recent = entry.recent.saturating_add(recent);
            }
        }
    }
    out
}

impl InstanceRow {
    /// Every fault this instance reported injecting (all actions summed), as of its last
    /// heartbeat.
    pub fn fired_total(&self) -> Fired {
        fired_counts(std::slice::from_ref(self), self.last_seen)
            .values()
            .fold(Fired::default(), |sum, f| Fired {
                total: sum.total.saturating_add(f.total),
                recent: sum.recent.saturating_add(f.recent),
            })
    }

    /// Live: the last heartbeat is less than three intervals (plus 5 s of slack) old.
    pub fn is_live_at(&self, now_ms: i64) -> bool {
        let grace = self.heartbeat_ms.saturating_mul(3).saturating_add(5_000);
        now_ms.saturating_sub(self.last_seen) <= grace
    }
}

/// One registered view of one instance (`chaos_views` joined with `chaos_instances`).
#[derive(serde::Serialize, Debug, Clone, PartialEq, Eq)]
pub struct RegisteredView {
    /// View name.
    pub name: String,
    /// Route pattern.
    pub pattern: String,
    /// Methods (empty: not known).
    pub methods: Vec<String>,
    /// The instance that serves it.
    pub instance: InstanceRow,
}

#[derive(FromRow)]
struct ViewRow {
    instance_id: String,
    name: String,
    pattern: String,
    methods: String,
}

/// How far a change has reached the live app instances (see [`Store::wait_applied`]).
#[derive(Debug, Clone)]
pub struct Propagation {
    /// The store generation waited for.
    pub generation: i64,
    /// Live instances that apply `generation` (or a later one).
    pub applied: Vec<InstanceRow>,
    /// Live instances that did not apply it before the timeout (empty when all did).
    pub lagging: Vec<InstanceRow>,
    /// How long the wait took.
    pub waited: std::time::Duration,
}

/// Whether `instance` provably stopped although its row still looks live: it ran on this
/// host and its process is gone (a crashed app, until its heartbeats are missed).
fn is_gone_here(instance: &InstanceRow, here: &str) -> bool {
    let proc = std::path::Path::new("/proc");
    instance.host == here
        && proc.join("self").exists()
        && !proc.join(instance.pid.to_string()).exists()
}

/// How often [`Store::wait_applied`] reads the instances' rows.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Decodes each row as `T`, skipping (with a warning naming `table`) the ones that do not.
fn decode_leniently<T, R>(rows: &[R], table: &str) -> Vec<T>
where
    R: sqlx::Row,
    for<'r> T: FromRow<'r, R>,
{
    rows.iter()
        .filter_map(|row| match T::from_row(row) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::warn!(target: "chaos", table, error = %err, "skipping a row that cannot be read");
                None
            }
        })
        .collect()
}

const SELECT_INSTANCES: &str = "SELECT id, host, pid, started_at, last_seen, heartbeat_ms, \
     applied_generation, applied_at, fired FROM chaos_instances ORDER BY started_at, id";

/// Removes instances not seen for a day and their views, on `$exec` (outside the
/// registration's transaction: on MySQL, scanning the table inside it made instances
/// starting together deadlock). Best effort: evaluates to nothing.
macro_rules! prune_instances {
    ($exec:expr) => {
        async {
            let cutoff =
                $crate::action::now_ms().saturating_sub($crate::store::instances::PRUNE_AFTER_MS);
            let _ = $crate::store::dialect::query(
                "DELETE FROM chaos_views WHERE instance_id IN \
                 (SELECT id FROM chaos_instances WHERE last_seen < $1)",
            )
            .bind(cutoff)
            .execute($exec)
            .await;
            let _ =
                $crate::store::dialect::query("DELETE FROM chaos_instances WHERE last_seen < $1")
                    .bind(cutoff)
                    .execute($exec)
                    .await;
        }
        .await
    };
}

/// The statements of [`Store::register_instance`], run on `$exec` (an expression giving
/// an executor each time it is evaluated) inside a transaction the caller opened.
/// Evaluates to `Result<(), sqlx::Error>`.
macro_rules! register_statements {
    ($exec:expr, $info:expr, $applied_generation:expr, $applied_at:expr) => {
        async {
            let info: &$crate::store::InstanceInfo = $info;
            let now = $crate::action::now_ms();
            let upsert = "INSERT INTO chaos_instances (id, host, pid, started_at, last_seen, \
                 heartbeat_ms, applied_generation, applied_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, \
                 started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen, \
                 heartbeat_ms = EXCLUDED.heartbeat_ms, \
                 applied_generation = EXCLUDED.applied_generation, \
                 applied_at = EXCLUDED.applied_at";
            let insert_view = "INSERT INTO chaos_views (instance_id, name, pattern, methods) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (instance_id, pattern) DO UPDATE SET name = EXCLUDED.name, \
                 methods = EXCLUDED.methods";
            crate::store::dialect::query(upsert)
                .bind(&info.id)
                .bind(&info.host)
                .bind(info.pid)
                .bind(info.started_at)
                .bind(now)
                .bind(info.heartbeat_ms)
                .bind($applied_generation)
                .bind($applied_at)
                .execute($exec)
                .await?;
            crate::store::dialect::query("DELETE FROM chaos_views WHERE instance_id = $1")
                .bind(&info.id)
                .execute($exec)
                .await?;
            for view in &info.views {
                let methods =
                    serde_json::to_string(&view.methods).unwrap_or_else(|_| "[]".to_owned());
                crate::store::dialect::query(insert_view)
                    .bind(&info.id)
                    .bind(&view.name)
                    .bind(&view.pattern)
                    .bind(methods)
                    .execute($exec)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}

impl Store {
    /// Registers (or re-registers) an instance and replaces its views, in one
    /// transaction; then prunes instances not seen for a day (best effort).
    pub async fn register_instance(
        &self,
        info: &InstanceInfo,
        applied_generation: Option<i64>,
        applied_at: Option<i64>,
    ) -> Result<(), StoreError> {
        // Instances starting together can deadlock on MySQL's gap locks (the database
        // rolls one back and says to try again): try again, a few times, after a short
        // random pause.
        let mut attempt = 1;
        loop {
            let result = with_pool!(self, |pool| {
                let mut tx = pool.begin().await?;
                register_statements!(&mut *tx, info, applied_generation, applied_at)?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(())
            });
            match result {
                Err(err) if attempt < REGISTER_ATTEMPTS && is_deadlock(&err) => {
                    attempt += 1;
                    let pause = 10 + u64::from(rand::random::<u8>() % 40);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Err(err) => return Err(err.into()),
                Ok(()) => break,
            }
        }
        with_pool!(self, |pool| prune_instances!(pool));
        Ok(())
    }

    /// Refreshes an instance's `last_seen`, applied generation and fault counts (`fired`:
    /// the JSON of [`InstanceRow::fired`]). Returns `false` when the instance is not
    /// registered (it was pruned): register it again. One small write.
    pub async fn heartbeat(
        &self,
        id: &str,
        applied_generation: Option<i64>,
        applied_at: Option<i64>,
        fired: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| {
            heartbeat_query(id, applied_generation, applied_at, fired)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Several heartbeats (see [`Store::heartbeat`]) in one transaction: one commit for
    /// the batch, which is what lets one relay carry thousands of instances. Returns, in
    /// order, whether each instance is registered.
    pub async fn heartbeats(&self, beats: &[Heartbeat]) -> Result<Vec<bool>, StoreError> {
        let known = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut known = Vec::with_capacity(beats.len());
            for beat in beats {
                let done = heartbeat_query(
                    &beat.id,
                    beat.applied_generation,
                    beat.applied_at,
                    beat.fired.as_deref(),
                )
                .execute(&mut *tx)
                .await?;
                known.push(done.rows_affected() > 0);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(known)
        })?;
        Ok(known)
    }

    /// Removes an instance and its views (an instance that stops cleanly).
    pub async fn deregister_instance(&self, id: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            crate::store::dialect::query("DELETE FROM chaos_views WHERE instance_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            crate::store::dialect::query("DELETE FROM chaos_instances WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Waits until every live app instance reports that it applies `generation` (or a
    /// later one), reading their rows every 10 ms, for at most `timeout`. Instances
    /// report a reload at once (their heartbeat runs after every reload), so this is
    /// how a writer confirms its change is in effect. With no live instance it returns
    /// at once (`applied` and `lagging` empty).
    pub async fn wait_applied(
        &self,
        generation: i64,
        timeout: std::time::Duration,
    ) -> Result<Propagation, StoreError> {
        let started = std::time::Instant::now();
        let here = crate::layer::local_host_name();
        loop {
            let now = now_ms();
            let (applied, lagging): (Vec<InstanceRow>, Vec<InstanceRow>) = self
                .instances()
                .await?
                .into_iter()
                .filter(|i| i.is_live_at(now) && !is_gone_here(i, &here))
                .partition(|i| i.applied_generation.is_some_and(|g| g >= generation));
            if lagging.is_empty() || started.elapsed() >= timeout {
                return Ok(Propagation {
                    generation,
                    applied,
                    lagging,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// Every registered instance, live or not, oldest first.
    /// A row edited by hand into something that does not decode is skipped (with a
    /// warning), so it never breaks `status`, `views` or a write's confirmation.
    pub async fn instances(&self) -> Result<Vec<InstanceRow>, StoreError> {
        let rows = with_pool!(self, |pool| {
            let rows = crate::store::dialect::query(SELECT_INSTANCES)
                .fetch_all(pool)
                .await?;
            Ok::<_, sqlx::Error>(decode_leniently::<InstanceRow, _>(&rows, "chaos_instances"))
        })?;
        Ok(rows)
    }

    /// Every registered view of every instance (live or not), by name, pattern and
    /// instance.
    pub async fn registered_views(&self) -> Result<Vec<RegisteredView>, StoreError> {
        let instances = self.instances().await?;
        let sql = "SELECT instance_id, name, pattern, methods FROM chaos_views";
        let rows = with_pool!(self, |pool| {
            let rows = crate::store::dialect::query(sql).fetch_all(pool).await?;
            Ok::<_, sqlx::Error>(decode_leniently::<ViewRow, _>(&rows, "chaos_views"))
        })?;
        let mut views = Vec::new();
        for row in rows {
            // Views of an instance row that is gone are leftovers: not shown.
            let Some(instance) = instances.iter().find(|i| i.id == row.instance_id) else {
                continue;
            };
            views.push(RegisteredView {
                name: row.name,
                pattern: row.pattern,
                // A hand-edited methods column reads as "not known".
                methods: serde_json::from_str(&row.methods).unwrap_or_default(),
                instance: instance.clone(),
            });
        }
        views.sort_by(|a, b| {
            (&a.name, &a.pattern, &a.instance.id).cmp(&(&b.name, &b.pattern, &b.instance.id))
        });
        Ok(views)
    }
}

/// The heartbeat's one write, for any backend and any connection.
pub(super) fn heartbeat_query<'q, DB: crate::store::dialect::Dialect>(
    id: &'q str,
    applied_generation: Option<i64>,
    applied_at: Option<i64>,
    fired: Option<&'q str>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    crate::store::dialect::query(
        "UPDATE chaos_instances SET last_seen = $1, applied_generation = $2, \
         applied_at = $3, fired = $4 WHERE id = $5",
    )
    .bind(now_ms())
    .bind(applied_generation)
    .bind(applied_at)
    .bind(fired)
    .bind(id)
}
