//! Learning about changes quickly and cheaply.
//!
//! - PostgreSQL: a trigger on `chaos_meta` (migration 0003) calls
//!   `pg_notify('chaos_changes', generation)` in the transaction of every write; a
//!   [`ChangeListener`] holds a dedicated `LISTEN` connection.
//! - SQLite: no notifications; readers poll the generation row at a short interval. The
//!   store also checks that its file is still the one it opened ([`Store::check_file`]),
//!   because an open SQLite connection keeps reading a deleted or replaced file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};

use super::{Backend, Store, StoreError};

/// The PostgreSQL channel every write notifies (payload: the new generation).
pub const CHANGE_CHANNEL: &str = "chaos_changes";

/// The `application_name` of the listener's connection in `pg_stat_activity` (when the
/// store URL sets none).
pub const LISTENER_APPLICATION_NAME: &str = "chaos-listener";

/// The `application_name` of the pool's connections (writes, and reads while the
/// listener is down) when the store URL sets none.
pub const POOL_APPLICATION_NAME: &str = "chaos-store";

/// How long the listener waits for a connection before it counts as unreachable.
const LISTEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `LISTEN chaos_changes` connection (PostgreSQL only).
pub struct ChangeListener {
    listener: PgListener,
    display_url: String,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("url", &self.display_url)
            .finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// [`Store::changes_since`] over this connection (no pool connection needed).
    pub async fn changes_since(
        &mut self,
        applied: Option<super::Position>,
    ) -> Result<super::Changes, StoreError> {
        super::changes::read_changes(self, applied).await
    }

    /// [`Store::register_instance`] over this connection, in one transaction (rolled
    /// back on error), so a starting instance needs no second connection.
    pub async fn register_instance(
        &mut self,
        info: &super::InstanceInfo,
        applied_generation: Option<i64>,
        applied_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("BEGIN").execute(&mut self.listener).await?;
        let listener = &mut self.listener;
        let done = register_statements!(&mut *listener, info, applied_generation, applied_at);
        let end = if done.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = sqlx::query(end).execute(&mut self.listener).await;
        done?;
        ended?;
        let listener = &mut self.listener;
        prune_instances!(&mut *listener);
        Ok(())
    }

    /// [`Store::heartbeat`] over this connection, so an idle instance holds one
    /// connection, not two.
    pub async fn heartbeat(
        &mut self,
        id: &str,
        applied_generation: Option<i64>,
        applied_at: Option<i64>,
        fired: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = super::instances::heartbeat_query(id, applied_generation, applied_at, fired)
            .execute(&mut self.listener)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// [`Store::has_webhooks`] over this connection.
    pub async fn has_webhooks(&mut self) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chaos_webhooks")
            .fetch_one(&mut self.listener)
            .await?;
        Ok(count > 0)
    }

    /// Waits for the next notification (the store may have changed: check the
    /// generation). An error means the connection is gone: open a new listener (and
    /// check the generation, since notifications sent meanwhile are lost). The listener
    /// never reconnects by itself, so waiting is cancel-safe: a dropped wait leaves the
    /// connection as it was.
    pub async fn changed(&mut self) -> Result<(), StoreError> {
        let lost = || {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the listening connection was lost",
            ))
        };
        match self.listener.try_recv().await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(StoreError::Connect {
                url: self.display_url.clone(),
                source: lost(),
            }),
            Err(source) => Err(StoreError::Connect {
                url: self.display_url.clone(),
                source,
            }),
        }
    }
}

/// Identity of a file: device and inode on Unix, so a replaced file is noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileId {
    path: PathBuf,
    id: (u64, u64),
}

impl FileId {
    /// The identity of the file at `path` now, if it exists.
    pub(super) fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            path: path.to_owned(),
            id: identity(&metadata),
        })
    }
}

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
fn identity(_metadata: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

impl Store {
    /// Opens a `LISTEN` connection on [`CHANGE_CHANNEL`]; `None` on SQLite, which has no
    /// notifications.
    pub async fn listen_for_changes(&self) -> Result<Option<ChangeListener>, StoreError> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(None);
        };
        let unreachable = |source| StoreError::Connect {
            url: self.display_url.clone(),
            source,
        };
        // Named for operators reading pg_stat_activity, unless the URL names the app.
        let mut options = (*pool.connect_options()).clone();
        if options
            .get_application_name()
            .is_none_or(|name| name == super::POOL_APPLICATION_NAME)
        {
            options = options.application_name(LISTENER_APPLICATION_NAME);
        }
        // A pool of one connection of its own: PgListener uses it to reconnect.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(LISTEN_CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own).await.map_err(unreachable)?;
        listener.ignore_pool_close_event(true);
        // A lost connection ends this listener (the caller opens a new one) instead of
        // reconnecting inside a wait that may be cancelled.
        listener.eager_reconnect(false);
        listener.listen(CHANGE_CHANNEL).await.map_err(unreachable)?;
        Ok(Some(ChangeListener {
            listener,
            display_url: self.display_url.clone(),
        }))
    }

    /// SQLite: checks that the database file is still the one this store opened (a
    /// deleted, moved or replaced file is an error). Costs one `stat`. Always `Ok` on
    /// PostgreSQL and for in-memory databases.
    pub fn check_file(&self) -> Result<(), StoreError> {
        let Some(opened) = &self.file else {
            return Ok(());
        };
        let reason = match FileId::of(&opened.path) {
            Some(now) if now == *opened => return Ok(()),
            Some(_) => "the database file was replaced",
            None => "the database file is gone",
        };
        Err(StoreError::Connect {
            url: self.display_url.clone(),
            source: sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::NotFound, reason)),
        })
    }

    /// Opens the same store again, without creating a missing SQLite file (an app that
    /// lost its file must not create an empty one in its place).
    pub async fn reopen(&self) -> Result<Store, StoreError> {
        super::connect::connect_existing(&self.url).await
    }
}

impl super::changes::ChangeReader for ChangeListener {
    async fn counters(&mut self) -> Result<super::Counters, StoreError> {
        let row = sqlx::query(super::changes::COUNTERS_SQL)
            .fetch_one(&mut self.listener)
            .await?;
        Ok(super::changes::counters_of(&row)?)
    }

    async fn deleted_after(&mut self, since: i64) -> Result<Vec<i64>, StoreError> {
        let deleted = sqlx::query_scalar(super::changes::TOMBSTONES_SQL)
            .bind(since)
            .fetch_all(&mut self.listener)
            .await?;
        Ok(deleted)
    }

    async fn rows_after(&mut self, since: Option<i64>) -> Result<super::Listing, StoreError> {
        let sql = super::list_sql(since);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        if let Some(since) = since {
            query = query.bind(since);
        }
        let rows = query.fetch_all(&mut self.listener).await?;
        Ok(super::row::parse_rows(&rows))
    }

    async fn guards(&mut self) -> Result<Vec<crate::guard::Guard>, StoreError> {
        let rows = sqlx::query(super::guards::GUARDS_SQL)
            .fetch_all(&mut self.listener)
            .await?;
        Ok(rows.iter().map(super::guards::guard_of).collect())
    }
}
