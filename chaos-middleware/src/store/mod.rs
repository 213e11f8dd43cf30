//! The chaos store: actions in SQLite (embedded default) or PostgreSQL (shared by several
//! app instances), chosen by the URL scheme.
//!
//! Every query is written once and run on either backend (`with_pool!` expands it per
//! backend; both accept `$N` placeholders). Every write bumps `chaos_meta.generation` in
//! the same transaction, so readers detect changes with one tiny query.

mod connect;
mod dialect;
pub use connect::redact;
mod row;

use std::fmt;

use sqlx::{MySqlPool, PgPool, Row, SqlitePool};

use crate::action::{Action, ActionSpec, InvalidAction, Kind, now_ms};

pub use instances::{
    Fired, Heartbeat, InstanceInfo, InstanceRow, Propagation, RegisteredView, ViewRoute,
    fired_counts,
};
pub use notify::{
    CHANGE_CHANNEL, ChangeListener, LISTENER_APPLICATION_NAME, POOL_APPLICATION_NAME,
};
pub use row::CorruptRow;

pub(crate) use connect::redact as redact_url;

/// Which rows an `enable`, `disable` or `delete` applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These ids; every one must exist or nothing is changed.
    Ids(Vec<i64>),
    /// Every action of this kind aimed at this target.
    Target {
        /// Kind of the actions.
        kind: Kind,
        /// View or point name, exactly as stored.
        target: String,
    },
    /// Every action of this kind aimed at any of these targets: one view by all its
    /// names (its view name and its route patterns), in one transaction.
    Targets {
        /// Kind of the actions.
        kind: Kind,
        /// View or point names, exactly as stored.
        targets: Vec<String>,
    },
    /// Every action, or every action of one kind.
    All {
        /// Restrict to one kind.
        kind: Option<Kind>,
    },
    /// Every action whose expiry is at or before this time (Unix milliseconds).
    Expired {
        /// The cut-off.
        at_or_before: i64,
    },
    /// Every action with this tag (`storm`, `exercise`, ...).
    Tag(String),
}

impl Selection {
    /// Whether the selection picks `action`: the rule the store's `WHERE` clause applies,
    /// for explaining a write (what matched, what was already so).
    pub fn matches(&self, action: &Action) -> bool {
        let spec = &action.spec;
        match self {
            Selection::Ids(ids) => ids.contains(&action.id),
            Selection::Target { kind, target } => spec.kind == *kind && spec.target == *target,
            Selection::Targets { kind, targets } => {
                spec.kind == *kind && targets.contains(&spec.target)
            }
            Selection::All { kind } => kind.is_none_or(|k| spec.kind == k),
            Selection::Expired { at_or_before } => {
                spec.expires_at.is_some_and(|at| at <= *at_or_before)
            }
            Selection::Tag(tag) => spec.tag.as_deref() == Some(tag.as_str()),
        }
    }
}

/// Errors from the store, each with a message fit for one line of CLI output.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we support.
    #[error(
        "unsupported database URL '{0}': allowed are sqlite://PATH (e.g. sqlite://chaos.db), postgres://USER@HOST:PORT/DB and mysql://USER@HOST:PORT/DB (MySQL or MariaDB)"
    )]
    UnsupportedUrl(String),
    /// The URL names a supported backend but is malformed (a port out of range, an
    /// unknown option, no database).
    #[error("invalid database URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL, password removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The SQLite file's folder does not exist (the file is never created in a folder
    /// that is not there).
    #[error(
        "cannot open the chaos store at {url}: the folder {folder} does not exist (create it, or fix the URL)"
    )]
    MissingFolder {
        /// The URL, password removed.
        url: String,
        /// The missing folder, as the URL names it.
        folder: String,
    },
    /// The database could not be reached or opened.
    #[error("cannot reach the chaos store at {url}: {}", describe(source))]
    Connect {
        /// The URL, password removed.
        url: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error(
        "cannot prepare the chaos store at {url}: {}",
        describe_migrate(source)
    )]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// What the migrator said.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("chaos store query failed: {}", describe(.0))]
    Query(#[from] sqlx::Error),
    /// Some ids given do not exist.
    #[error("unknown action id {}: no such action (see `chaos-admin list`)", join_ids(.0))]
    UnknownIds(Vec<i64>),
    /// The action is not valid.
    #[error(transparent)]
    Invalid(#[from] InvalidAction),
    /// No guard has this id.
    #[error("unknown guard id {0}: no such guard (see `chaos-admin guard list`)")]
    UnknownGuard(i64),
    /// No webhook has this id.
    #[error("unknown webhook id {0}: see `chaos-admin notify list`")]
    UnknownWebhook(i64),
    /// The relay (a store at `http://`, see [`crate::relay`]) failed or answered an error.
    #[error("the chaos relay at {url} failed: {message}")]
    Relay {
        /// The relay's URL, token removed.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// A driver error for a human: the database server's own message (PostgreSQL's, without
/// sqlx's "at line N" of the server's source file), else the driver's text.
fn describe(err: &sqlx::Error) -> String {
    match err.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => err.to_string(),
    }
}

/// A migration error for a human: the server's own message for a failed statement.
fn describe_migrate(err: &sqlx::migrate::MigrateError) -> String {
    match err {
        sqlx::migrate::MigrateError::Execute(source)
        | sqlx::migrate::MigrateError::ExecuteMigration(source, _) => describe(source),
        other => other.to_string(),
    }
}

fn join_ids(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything stored, split into actions that parsed and rows that did not.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Valid actions, ordered by id.
    pub actions: Vec<Action>,
    /// Rows someone edited into something we cannot understand.
    pub corrupt: Vec<CorruptRow>,
}

/// A handle on the chaos store. Cheap to clone (a connection pool inside).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    display_url: String,
    /// The URL as given (may hold a password: never printed), to reopen the store.
    url: String,
    /// SQLite: the file opened, to notice it being deleted or replaced.
    file: Option<notify::FileId>,
    /// Where the store is, for operators: SQLite's absolute file path, else the URL.
    location: String,
    /// Whether opening it created a new SQLite file.
    created_file: bool,
    /// Whether the SQLite file does not exist (a read-only open stands in empty).
    missing_file: bool,
    /// Who the audit table names for changes made through this handle (see
    /// [`Store::with_actor`]); `None`: `CHAOS_ACTOR`, else `USER`.
    actor: Option<std::sync::Arc<str>>,
    /// Deliveries queued through this handle and its clones (see
    /// [`Store::queued_deliveries`]).
    queued: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    Mysql(MySqlPool),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.display_url)
            .finish_non_exhaustive()
    }
}

/// Ends a write transaction `$tx` that changed actions: bumps the generation and prunes
/// old tombstones. Evaluates to `Result<(), sqlx::Error>`.
macro_rules! publish_write {
    ($tx:ident) => {
        async {
            crate::store::dialect::query($crate::store::BUMP_GENERATION)
                .execute(&mut *$tx)
                .await?;
            crate::store::dialect::query($crate::store::PRUNE_TOMBSTONES)
                .execute(&mut *$tx)
                .await?;
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}

/// Runs the same query code against whichever pool the store has.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => async { $body }.await,
            $crate::store::Backend::Postgres($pool) => async { $body }.await,
            $crate::store::Backend::Mysql($pool) => async { $body }.await,
        }
    };
}

// Storms and exercises: several actions in one transaction, exercise state.
#[macro_use]
mod batch;
mod audit;
mod exercise;

pub use audit::{AuditEntry, last_changes};
pub use exercise::{Exercise, ExerciseStart};
mod changes;
mod guards;
#[macro_use]
mod instances;
mod notify;
mod webhooks;

pub use webhooks::{Delivery, backoff_ms};

pub use changes::{Changes, Counters, Position};

/// The columns of `chaos_actions` in the order the list queries emit them.
const LIST_COLUMNS: [&str; 23] = [
    "id",
    "kind",
    "verb",
    "target",
    "min_ms",
    "max_ms",
    "status",
    "body",
    "probability",
    "phase",
    "users",
    "groups",
    "hosts",
    "methods",
    "enabled",
    "expires_at",
    "tag",
    "note",
    "created_at",
    "updated_at",
    "created_by",
    "starts_at",
    "active_window",
];
/// The whole table as one JSON array of rows, for SQLite (one value, not one per row).
/// Each row ends with the storage classes of its columns (`typeof`), since SQLite keeps
/// any value in any column and the JSON functions read a BLOB as JSONB (`X'00'` would
/// pass as `null`).
const LIST_ACTIONS_SQLITE: &str = "SELECT json_group_array(json_array(id, kind, verb, target, \
     min_ms, max_ms, status, body, probability, phase, users, groups, hosts, methods, enabled, \
     expires_at, tag, note, created_at, updated_at, created_by, starts_at, active_window, \
     typeof(id) || ' ' || typeof(kind) || ' ' || typeof(verb) || ' ' || typeof(target) || ' ' || \
     typeof(min_ms) || ' ' || typeof(max_ms) || ' ' || typeof(status) || ' ' || typeof(body) || ' ' || \
     typeof(probability) || ' ' || typeof(phase) || ' ' || typeof(users) || ' ' || typeof(groups) || ' ' || \
     typeof(hosts) || ' ' || typeof(methods) || ' ' || typeof(enabled) || ' ' || typeof(expires_at) || ' ' || \
     typeof(tag) || ' ' || typeof(note) || ' ' || typeof(created_at) || ' ' || typeof(updated_at) || ' ' || \
     typeof(created_by) || ' ' || typeof(starts_at) || ' ' || typeof(active_window))) \
     FROM chaos_actions";
/// Row by row, for PostgreSQL (where this is faster than one aggregated value).
const LIST_ACTIONS: &str = "SELECT id, kind, verb, target, min_ms, max_ms, status, body, \
     probability, phase, users, groups, hosts, methods, enabled, expires_at, tag, note, \
     created_at, updated_at, created_by, starts_at, active_window FROM chaos_actions ORDER BY id";
/// The first statement of every write: locks the meta row without moving the generation
/// (SQLite takes its write lock up front instead of failing a read-to-write upgrade;
/// PostgreSQL and MySQL serialise writers on the row), so the `rev` triggers see a stable
/// generation.
const LOCK_META: &str = "UPDATE chaos_meta SET generation = generation WHERE id = 1";
/// [`LIST_ACTIONS`], limited to rows with `rev > $1` when `generation` is given.
fn list_sql(generation: Option<i64>) -> String {
    match generation {
        None => LIST_ACTIONS.to_owned(),
        Some(_) => LIST_ACTIONS.replace(" ORDER BY id", " WHERE rev > $1 ORDER BY id"),
    }
}
/// Publishes a write: generation + 1, the `rev` the triggers gave the rows it wrote (see
/// migration 0006). Tombstones are kept for 1,000 generations (`pruned_through`): a
/// reader further behind re-reads everything. `pruned_through` is assigned first, so the
/// statement means the same where assignments are evaluated left to right (MySQL).
const BUMP_GENERATION: &str = "UPDATE chaos_meta SET pruned_through = CASE \
     WHEN generation + 1 - 1000 > pruned_through THEN generation + 1 - 1000 \
     ELSE pruned_through END, generation = generation + 1 WHERE id = 1";
/// Drops the tombstones no reader may need any more.
const PRUNE_TOMBSTONES: &str = "DELETE FROM chaos_tombstones \
     WHERE rev <= (SELECT pruned_through FROM chaos_meta WHERE id = 1)";
const INSERT_AUDIT: &str = "INSERT INTO chaos_audit (at, actor, operation, action_ids, detail) \
     VALUES ($1, $2, $3, $4, $5)";

impl Store {
    /// Opens the store at `url` (`sqlite://PATH` or `postgres://...`), creating a SQLite
    /// file on first use and bringing the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        connect::connect(url).await
    }

    /// The URL with any password removed, for messages.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Where the store is, for messages that must leave no doubt which store a command
    /// wrote to: `sqlite:///abs/path/chaos.db` (the file's absolute path), or the URL
    /// with any password removed.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether opening this store created a new, empty SQLite file (a mistyped path or a
    /// command run from another directory usually means the apps use another store).
    pub fn created_file(&self) -> bool {
        self.created_file
    }

    /// Opens the store for a command that only reads: like [`Store::connect`], except
    /// that a SQLite file that does not exist is not created; an empty store stands in
    /// for it and [`Store::missing_file`] is true.
    pub async fn connect_for_reading(url: &str) -> Result<Self, StoreError> {
        connect::connect_for_reading(url).await
    }

    /// Whether the SQLite file this store names does not exist (see
    /// [`Store::connect_for_reading`]).
    pub fn missing_file(&self) -> bool {
        self.missing_file
    }

    /// `"sqlite"`, `"postgres"` or `"mysql"` (MySQL and MariaDB).
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
            Backend::Mysql(_) => "mysql",
        }
    }

    /// The change counter: it grows with every write.
    pub async fn generation(&self) -> Result<i64, StoreError> {
        let sql = "SELECT generation FROM chaos_meta WHERE id = 1";
        let generation: i64 = with_pool!(self, |pool| crate::store::dialect::query_scalar(sql)
            .fetch_one(pool)
            .await)?;
        Ok(generation)
    }

    /// Validates and stores a new action; returns its id.
    pub async fn create(&self, spec: &ActionSpec) -> Result<i64, StoreError> {
        let ids = self.create_many(std::slice::from_ref(spec)).await?;
        // `create_many` returns one id per spec.
        ids.first().copied().ok_or_else(|| {
            StoreError::Invalid(InvalidAction::new(
                "the store returned no id for the new action",
            ))
        })
    }

    /// Every stored action, ordered by id; rows that do not parse are reported apart.
    pub async fn list(&self) -> Result<Listing, StoreError> {
        self.list_changed_after(None).await
    }

    /// Like [`Store::list`], but only rows whose `rev` is above `generation` (all rows
    /// with `None`).
    async fn list_changed_after(&self, generation: Option<i64>) -> Result<Listing, StoreError> {
        let sqlite_sql = match generation {
            None => LIST_ACTIONS_SQLITE.to_owned(),
            Some(_) => format!("{LIST_ACTIONS_SQLITE} WHERE rev > $1"),
        };
        let sql = list_sql(generation);
        let sql = sql.as_str();
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut query = crate::store::dialect::query_scalar(sqlite_sql.as_str());
                if let Some(generation) = generation {
                    query = query.bind(generation);
                }
                let table: Result<Option<String>, _> = query.fetch_one(pool).await;
                if let Some(listing) = table.ok().and_then(|t| row::parse_json_rows(t.as_deref())) {
                    return Ok(listing);
                }
                // A value the aggregate cannot carry (a BLOB, text that is not UTF-8, an
                // infinite number) fails the whole table: read row by row instead, so
                // only the bad rows are skipped. (A store that is down fails here too.)
                let mut query = crate::store::dialect::query(sql);
                if let Some(generation) = generation {
                    query = query.bind(generation);
                }
                let rows = query.fetch_all(pool).await?;
                Ok(row::parse_rows(&rows))
            }
            Backend::Postgres(pool) => {
                let mut query = crate::store::dialect::query(sql);
                if let Some(generation) = generation {
                    query = query.bind(generation);
                }
                let rows = query.fetch_all(pool).await?;
                Ok(row::parse_rows(&rows))
            }
            Backend::Mysql(pool) => {
                let mut query = crate::store::dialect::query(sql);
                if let Some(generation) = generation {
                    query = query.bind(generation);
                }
                let rows = query.fetch_all(pool).await?;
                Ok(row::parse_rows(&rows))
            }
        }
    }

    /// One action by id (`None` if there is no such row).
    pub async fn get(&self, id: i64) -> Result<Option<Action>, StoreError> {
        let listing = self.list().await?;
        if let Some(action) = listing.actions.into_iter().find(|a| a.id == id) {
            return Ok(Some(action));
        }
        match listing.corrupt.into_iter().find(|c| c.id == Some(id)) {
            Some(corrupt) => Err(StoreError::Invalid(InvalidAction::new(corrupt.to_string()))),
            None => Ok(None),
        }
    }

    /// Enables or disables the selected actions; returns how many rows changed.
    /// With [`Selection::Ids`], an unknown id changes nothing and is an error.
    ///
    /// Enabling never makes a fault outlive what was asked:
    /// - by id, an ordinary action whose expiry has passed is live again (its expiry is
    ///   cleared); a future expiry is kept;
    /// - storm and exercise actions (tagged [`OWNED_TAGS`]) end with their storm or
    ///   exercise: enabling one by id after its expiry is refused
    ///   ([`StoreError::Invalid`], nothing written);
    /// - bulk selections (`Target`, `All`, `Tag`) leave expired actions as they are:
    ///   they never revive anything.
    pub async fn set_enabled(
        &self,
        selection: &Selection,
        enabled: bool,
    ) -> Result<u64, StoreError> {
        let change = if enabled {
            Change::Enable { expires_at: None }
        } else {
            Change::Disable
        };
        self.write_selected(change, selection).await
    }

    /// Enables the selected actions until `expires_at` (Unix milliseconds). Bulk
    /// selections skip expired actions and keep the expiry of storm and exercise actions
    /// (it is their owner's); by id, an expired storm or exercise action, or giving one a
    /// new expiry, is refused ([`StoreError::Invalid`], nothing written).
    pub async fn enable_until(
        &self,
        selection: &Selection,
        expires_at: i64,
    ) -> Result<u64, StoreError> {
        let change = Change::Enable {
            expires_at: Some(expires_at),
        };
        self.write_selected(change, selection).await
    }

    /// Deletes the selected actions; returns how many rows were removed.
    /// With [`Selection::Ids`], an unknown id deletes nothing and is an error.
    pub async fn delete(&self, selection: &Selection) -> Result<u64, StoreError> {
        self.write_selected(Change::Delete, selection).await
    }

    /// Deletes every action whose expiry has passed; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let selection = Selection::Expired {
            at_or_before: now_ms(),
        };
        self.write_selected(Change::Delete, &selection).await
    }

    /// Applies `change` to the selected rows, in one transaction with the generation
    /// bump and an audit row.
    async fn write_selected(
        &self,
        change: Change,
        selection: &Selection,
    ) -> Result<u64, StoreError> {
        let changed = self.write_selected_rows(change, selection).await?;
        if changed > 0 {
            self.notify(changed_event(change, selection, changed)).await;
        }
        Ok(changed)
    }

    /// [`Store::write_selected`] without the notification.
    async fn write_selected_rows(
        &self,
        change: Change,
        selection: &Selection,
    ) -> Result<u64, StoreError> {
        let now = now_ms();
        let actor = self.actor();
        let by_id = matches!(selection, Selection::Ids(_));
        // `$1` is always the current time when the statement has a SET clause. By id,
        // storm and exercise actions that would be revived were refused before.
        let (statement, next_param) = match change {
            Change::Enable { expires_at: None } if by_id => (
                "UPDATE chaos_actions SET enabled = 1, updated_at = $1, \
                 expires_at = CASE WHEN expires_at <= $1 THEN NULL ELSE expires_at END",
                2,
            ),
            Change::Enable { expires_at: None } => {
                ("UPDATE chaos_actions SET enabled = 1, updated_at = $1", 2)
            }
            Change::Enable {
                expires_at: Some(_),
            } if by_id => (
                "UPDATE chaos_actions SET enabled = 1, updated_at = $1, expires_at = $2",
                3,
            ),
            Change::Enable {
                expires_at: Some(_),
            } => (
                "UPDATE chaos_actions SET enabled = 1, updated_at = $1, expires_at = \
                 CASE WHEN COALESCE(tag, '') IN (:owned_tags) THEN expires_at ELSE $2 END",
                3,
            ),
            Change::Disable => ("UPDATE chaos_actions SET enabled = 0, updated_at = $1", 2),
            Change::Delete => ("DELETE FROM chaos_actions", 1),
        };
        // Bulk enables never revive an expired action; and a row is only written when
        // the write changes it (an enabled action is not "enabled" again).
        let only_changes = match change {
            Change::Enable { expires_at: None } if by_id => {
                " AND (enabled = 0 OR expires_at <= $1)"
            }
            Change::Enable { expires_at: None } => {
                " AND enabled = 0 AND (expires_at IS NULL OR expires_at > $1)"
            }
            Change::Enable {
                expires_at: Some(_),
            } if by_id => " AND (enabled = 0 OR expires_at IS NULL OR expires_at <> $2)",
            Change::Enable {
                expires_at: Some(_),
            } => {
                " AND (expires_at IS NULL OR expires_at > $1) AND (enabled = 0 OR \
                 (COALESCE(tag, '') NOT IN (:owned_tags) \
                 AND (expires_at IS NULL OR expires_at <> $2)))"
            }
            Change::Disable => " AND enabled = 1",
            Change::Delete => "",
        };
        let condition = match selection {
            Selection::Ids(_) => format!("id = ${next_param}"),
            Selection::Target { .. } | Selection::Targets { .. } => {
                format!("kind = ${next_param} AND target = ${}", next_param + 1)
            }
            Selection::All { kind: Some(_) } => format!("kind = ${next_param}"),
            Selection::All { kind: None } => "1 = 1".to_owned(),
            Selection::Expired { .. } => {
                format!("expires_at IS NOT NULL AND expires_at <= ${next_param}")
            }
            Selection::Tag(_) => format!("tag = ${next_param}"),
        };
        // `:owned_tags` stands for the tags of storm and exercise actions (`OWNED_TAGS`).
        let owned = OWNED_TAGS.map(|tag| format!("'{tag}'")).join(", ");
        let sql =
            format!("{statement} WHERE ({condition}){only_changes}").replace(":owned_tags", &owned);
        // Placeholders renumbered in the order they appear, each once (MySQL binds by
        // position): `order` says which value each one takes.
        let (sql, order) = dialect::sequential(&sql);
        // One statement per id so an unknown id is noticed; the whole change is one
        // transaction either way.
        let bindings: Vec<Binding<'_>> = match selection {
            Selection::Ids(ids) => {
                // Each id once: a repeated id would be counted twice by an update, and a
                // delete would find it gone the second time and call it unknown.
                let mut unique: Vec<i64> = Vec::with_capacity(ids.len());
                for id in ids {
                    if !unique.contains(id) {
                        unique.push(*id);
                    }
                }
                unique.into_iter().map(Binding::Id).collect()
            }
            Selection::Target { kind, target } => vec![Binding::Target(kind.as_str(), target)],
            // One statement per name, all in the one transaction.
            Selection::Targets { kind, targets } => targets
                .iter()
                .map(|target| Binding::Target(kind.as_str(), target))
                .collect(),
            Selection::All { kind: Some(kind) } => vec![Binding::Kind(kind.as_str())],
            Selection::All { kind: None } => vec![Binding::Nothing],
            Selection::Expired { at_or_before } => vec![Binding::Time(*at_or_before)],
            Selection::Tag(tag) => vec![Binding::Tag(tag)],
        };
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The first statement writes, so SQLite takes its write lock (and waits on
            // busy_timeout) up front instead of failing a read-to-write upgrade.
            crate::store::dialect::query(LOCK_META)
                .execute(&mut *tx)
                .await?;
            let mut changed: u64 = 0;
            let mut missing = Vec::new();
            // By id: every id must exist (a write that changes nothing is not "unknown"),
            // and enabling must not revive a storm's or exercise's action.
            for binding in &bindings {
                let Binding::Id(id) = *binding else { continue };
                let row = crate::store::dialect::query(
                    "SELECT tag, expires_at FROM chaos_actions WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    missing.push(id);
                    continue;
                };
                let Change::Enable { expires_at } = change else {
                    continue;
                };
                // Read leniently: a row edited by hand into other types is not owned.
                let tag: Option<String> = row.try_get("tag").unwrap_or(None);
                let expiry: Option<i64> = row.try_get("expires_at").unwrap_or(None);
                if let Some(refusal) =
                    refuse_owned_enable(id, tag.as_deref(), expiry, expires_at, now)
                {
                    return Ok(Err(StoreError::Invalid(InvalidAction::new(refusal))));
                }
            }
            for binding in &bindings {
                // The values of `$1`, `$2`, … as the statement was written.
                let mut values: Vec<Value<'_>> = Vec::with_capacity(4);
                match change {
                    Change::Enable {
                        expires_at: Some(at),
                    } => values.extend([Value::Int(now), Value::Int(at)]),
                    Change::Enable { expires_at: None } | Change::Disable => {
                        values.push(Value::Int(now));
                    }
                    Change::Delete => {}
                }
                match *binding {
                    Binding::Id(id) => values.push(Value::Int(id)),
                    Binding::Target(kind, target) => {
                        values.extend([Value::Text(kind), Value::Text(target)]);
                    }
                    Binding::Kind(kind) => values.push(Value::Text(kind)),
                    Binding::Time(at) => values.push(Value::Int(at)),
                    Binding::Tag(tag) => values.push(Value::Text(tag)),
                    Binding::Nothing => {}
                }
                let mut query = crate::store::dialect::query(sql.as_str());
                for number in &order {
                    query = match number.checked_sub(1).and_then(|i| values.get(i)) {
                        Some(Value::Int(value)) => query.bind(*value),
                        Some(Value::Text(value)) => query.bind(*value),
                        // Not reached: every number written above has a value (a
                        // missing one makes the database refuse the statement).
                        None => query,
                    };
                }
                changed += query.execute(&mut *tx).await?.rows_affected();
            }
            if !missing.is_empty() {
                // Dropping the transaction rolls it back: nothing is half-written.
                return Ok::<_, sqlx::Error>(Err(StoreError::UnknownIds(missing)));
            }
            if changed == 0 {
                // Nothing changed: no generation bump, no audit row, no reload anywhere.
                return Ok(Ok(0));
            }
            crate::store::dialect::query(INSERT_AUDIT)
                .bind(now)
                .bind(actor.as_deref())
                .bind(change.operation())
                .bind(describe_selection(selection))
                .bind(Option::<String>::None)
                .execute(&mut *tx)
                .await?;
            publish_write!(tx)?;
            tx.commit().await?;
            Ok(Ok(changed))
        })?
    }

    /// Counts the rows of `chaos_audit`, `chaos_meta` or `_sqlx_migrations` (any other
    /// name counts `chaos_actions`), for tests that inspect the raw tables.
    #[doc(hidden)]
    pub async fn raw_count(&self, table: &'static str) -> Result<i64, StoreError> {
        let sql = match table {
            "chaos_audit" => "SELECT COUNT(*) FROM chaos_audit",
            "chaos_meta" => "SELECT COUNT(*) FROM chaos_meta",
            "_sqlx_migrations" => "SELECT COUNT(*) FROM _sqlx_migrations",
            "chaos_exercises" => "SELECT COUNT(*) FROM chaos_exercises",
            "chaos_tombstones" => "SELECT COUNT(*) FROM chaos_tombstones",
            _ => "SELECT COUNT(*) FROM chaos_actions",
        };
        let count = with_pool!(self, |pool| {
            let row = crate::store::dialect::query(sql).fetch_one(pool).await?;
            row.try_get::<i64, _>(0)
        })?;
        Ok(count)
    }

    /// Runs a statement that edits the table by hand (tests of corrupt rows).
    #[doc(hidden)]
    pub async fn raw_execute(&self, sql: &str) -> Result<u64, StoreError> {
        let affected = with_pool!(self, |pool| {
            crate::store::dialect::query(sql)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(affected)
    }

    /// SQLite's `PRAGMA journal_mode` (`None` on PostgreSQL), for tests of the file setup.
    #[doc(hidden)]
    pub async fn raw_sqlite_journal_mode(&self) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mode: String = crate::store::dialect::query_scalar("PRAGMA journal_mode")
                    .fetch_one(pool)
                    .await?;
                Ok(Some(mode))
            }
            Backend::Postgres(_) | Backend::Mysql(_) => Ok(None),
        }
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// Whether [`Store::close`] ran (on this handle or a clone: they share the pool).
    pub fn is_closed(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(pool) => pool.is_closed(),
            Backend::Postgres(pool) => pool.is_closed(),
            Backend::Mysql(pool) => pool.is_closed(),
        }
    }
}

/// The tag of the actions a storm creates.
pub const STORM_TAG: &str = "storm";
/// The tag of the actions an exercise creates.
pub const EXERCISE_TAG: &str = "exercise";
/// Tags of actions that belong to a storm or an exercise and end with it.
pub const OWNED_TAGS: [&str; 2] = [STORM_TAG, EXERCISE_TAG];

/// Why enabling action `id` by id would make a storm's or exercise's fault outlive it,
/// or `None` when it may be enabled.
fn refuse_owned_enable(
    id: i64,
    tag: Option<&str>,
    expiry: Option<i64>,
    new_expiry: Option<i64>,
    now: i64,
) -> Option<String> {
    let owner = tag.filter(|t| OWNED_TAGS.contains(t))?;
    let article = if owner.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    if let Some(at) = expiry.filter(|at| *at <= now) {
        return Some(format!(
            "action {id} belongs to {article} {owner} that ended at {}: {owner} actions end with it and cannot be enabled again (start a new {owner})",
            crate::time::format_time(at)
        ));
    }
    if new_expiry.is_some() {
        return Some(format!(
            "action {id} belongs to {article} {owner}: its expiry is the {owner}'s and cannot be changed with --for or --until (enable it without them)"
        ));
    }
    None
}

/// What a selected write does to each row.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Enable; with `Some`, also set the expiry; with `None`, clear a passed expiry.
    Enable {
        expires_at: Option<i64>,
    },
    Disable,
    Delete,
}

impl Change {
    fn operation(self) -> &'static str {
        match self {
            Change::Enable { .. } => "enable",
            Change::Disable => "disable",
            Change::Delete => "delete",
        }
    }
}

/// A value bound to a placeholder of a selected write.
enum Value<'a> {
    Int(i64),
    Text(&'a str),
}

/// What one statement of a selected write binds after the operation's own values.
enum Binding<'a> {
    Id(i64),
    Target(&'a str, &'a str),
    Kind(&'a str),
    Time(i64),
    Tag(&'a str),
    Nothing,
}

/// The notification of `changed` rows changed by `change` on `selection`: a deleted
/// storm is a storm's end; the rest say what happened to which actions.
fn changed_event(
    change: Change,
    selection: &Selection,
    changed: u64,
) -> crate::notification::Event {
    use crate::notification::{Event, EventKind};
    let actions = if changed == 1 {
        "1 action".to_owned()
    } else {
        format!("{changed} actions")
    };
    let details = serde_json::json!({"count": changed, "selection": describe_selection(selection)});
    if matches!(change, Change::Delete)
        && matches!(selection, Selection::Tag(tag) if tag == STORM_TAG)
    {
        return Event::new(
            EventKind::StormEnded,
            format!("storm ended: {actions} removed"),
        )
        .with_details(details);
    }
    let (kind, done) = match change {
        Change::Enable { expires_at: None } => (EventKind::ActionEnabled, "enabled".to_owned()),
        Change::Enable {
            expires_at: Some(at),
        } => (
            EventKind::ActionEnabled,
            format!("enabled until {}", crate::time::format_time(at)),
        ),
        Change::Disable => (EventKind::ActionDisabled, "disabled".to_owned()),
        Change::Delete => (EventKind::ActionDeleted, "deleted".to_owned()),
    };
    let which = match selection {
        Selection::Ids(ids) if ids.len() == 1 => format!("action {}", ids[0]),
        Selection::Ids(ids) => format!("actions {}", join_ids(ids)),
        Selection::Expired { .. } => format!("{actions} (expired, purged)"),
        other => format!("{actions} ({})", describe_selection(other)),
    };
    Event::new(kind, format!("{which} {done}")).with_details(details)
}

fn describe_selection(selection: &Selection) -> String {
    match selection {
        Selection::Ids(ids) => join_ids(ids),
        Selection::Target { kind, target } => format!("{kind} {target}"),
        Selection::Targets { kind, targets } => format!("{kind} {}", targets.join("|")),
        Selection::All { kind: None } => "all".to_owned(),
        Selection::All { kind: Some(kind) } => format!("all {kind}"),
        Selection::Expired { .. } => "expired".to_owned(),
        Selection::Tag(tag) => format!("tag {tag}"),
    }
}

impl Store {
    /// How many notification deliveries this handle (and its clones) queued: the CLI
    /// starts its background delivery only when it queued one.
    pub fn queued_deliveries(&self) -> u64 {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The same store, with changes audited as made by `actor` (the operator a web admin
    /// authenticated, say) instead of the process's `CHAOS_ACTOR` or `USER`. Cheap: the
    /// connection pool is shared.
    pub fn with_actor(&self, actor: impl Into<String>) -> Store {
        let mut store = self.clone();
        store.actor = Some(std::sync::Arc::from(actor.into()));
        store
    }

    /// Who is making a change, for the audit table.
    fn actor(&self) -> Option<String> {
        match &self.actor {
            Some(actor) => Some(actor.to_string()),
            None => ["CHAOS_ACTOR", "USER", "LOGNAME", "USERNAME"]
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty())),
        }
    }
}
