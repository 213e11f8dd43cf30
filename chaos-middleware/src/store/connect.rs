//! Opening a store from its URL and bringing the schema up to date.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::notify::FileId;
use super::{Backend, Store, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");

/// How long a connection attempt may take before the store counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite: several processes may create or migrate the same file at once; the loser of
/// a race sees a busy or duplicate-migration error and simply tries again.
const SQLITE_ATTEMPTS: u32 = 10;

pub(super) async fn connect(url: &str) -> Result<Store, StoreError> {
    open(url, true).await
}

/// For commands that only read: a SQLite file that does not exist is not created; an
/// empty in-memory store stands in for it (its location still names the file, and
/// [`Store::missing_file`] says so).
pub(super) async fn connect_for_reading(url: &str) -> Result<Store, StoreError> {
    if url.starts_with("sqlite:") && !url.contains(":memory:") {
        let options =
            SqliteConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
                url: redact(url),
                source,
            })?;
        let path = options.get_filename().to_owned();
        // A missing folder stays an error (see `connect_sqlite`); a missing file in an
        // existing folder reads as an empty store.
        if !path.as_os_str().is_empty() && folder_of(&path).is_dir() && !path.exists() {
            let mut store = open("sqlite::memory:", true).await?;
            let absolute = std::path::absolute(&path).unwrap_or(path);
            store.location = format!("sqlite://{}", absolute.display());
            store.display_url = redact(url);
            store.missing_file = true;
            return Ok(store);
        }
    }
    open(url, true).await
}

/// Like [`connect`], but a missing SQLite file is an error instead of being created.
pub(super) async fn connect_existing(url: &str) -> Result<Store, StoreError> {
    open(url, false).await
}

async fn open(url: &str, create: bool) -> Result<Store, StoreError> {
    let display_url = redact(url);
    // URL schemes are case-insensitive (RFC 3986, 3.1): `MySQL://` is `mysql://`.
    let lowered;
    let url = match url.split_once(':') {
        Some((scheme, rest)) if scheme.chars().any(|c| c.is_ascii_uppercase()) => {
            lowered = format!("{}:{rest}", scheme.to_ascii_lowercase());
            lowered.as_str()
        }
        _ => url,
    };
    if url.starts_with("sqlite:") {
        connect_sqlite(url, display_url, create).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        connect_postgres(url, display_url).await
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        connect_mysql(url, display_url).await
    } else if crate::relay::is_relay_url(url) {
        Err(StoreError::InvalidUrl {
            url: display_url,
            reason: "http(s):// names a relay (chaos-admin serve), which app instances follow; \
                     chaos-admin and the admin need the database URL itself (sqlite://, \
                     postgres:// or mysql://)"
                .to_owned(),
        })
    } else {
        Err(StoreError::UnsupportedUrl(display_url))
    }
}

async fn connect_sqlite(url: &str, display_url: String, create: bool) -> Result<Store, StoreError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
        url: display_url.clone(),
        source,
    })?;
    let path = options.get_filename().to_owned();
    let in_memory = path.as_os_str() == ":memory:" || url.contains(":memory:");
    if path.as_os_str().is_empty() && !in_memory {
        return Err(StoreError::UnsupportedUrl(display_url));
    }
    if !in_memory {
        // SQLite says only "unable to open database file": name the missing folder, in
        // full (a relative one is relative to the current directory).
        let folder = folder_of(&path);
        if !folder.is_dir() {
            let shown = std::path::absolute(&folder).unwrap_or(folder);
            return Err(StoreError::MissingFolder {
                url: display_url,
                folder: shown.display().to_string(),
            });
        }
    }
    let created_file = create && !in_memory && !path.exists();
    let options = options
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(CONNECT_TIMEOUT);
    let mut attempt = 1;
    loop {
        let result = async {
            // An in-memory database lives in one connection: keep exactly one.
            let pool = SqlitePoolOptions::new()
                .max_connections(if in_memory { 1 } else { 4 })
                .min_connections(u32::from(in_memory))
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(|source| StoreError::Connect {
                    url: display_url.clone(),
                    source,
                })?;
            SQLITE_MIGRATIONS
                .run(&pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    url: display_url.clone(),
                    source,
                })?;
            Ok::<_, StoreError>(pool)
        }
        .await;
        match result {
            Ok(pool) => {
                let file = FileId::of(options.get_filename());
                let location = match std::fs::canonicalize(&path) {
                    Ok(absolute) => format!("sqlite://{}", absolute.display()),
                    Err(_) => display_url.clone(),
                };
                return Ok(Store {
                    backend: Backend::Sqlite(pool),
                    display_url,
                    url: url.to_owned(),
                    file,
                    location,
                    created_file,
                    missing_file: false,
                    actor: None,
                    queued: std::sync::Arc::default(),
                });
            }
            Err(err) if attempt < SQLITE_ATTEMPTS && is_sqlite_race(&err) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// The folder a SQLite file lives in (`.` for a bare file name).
fn folder_of(path: &std::path::Path) -> std::path::PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => std::path::PathBuf::from("."),
    }
}

/// Errors that another process creating or migrating the same file at once can cause.
fn is_sqlite_race(err: &StoreError) -> bool {
    let text = err.to_string();
    matches!(err, StoreError::Migrate { .. })
        || text.contains("database is locked")
        || text.contains("busy")
}

/// The `application_name` of the connection that checks the schema at start-up.
const PROBE_APPLICATION_NAME: &str = "chaos-schema-check";

/// How long a PostgreSQL or MySQL pool connection may sit idle before it is closed.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

async fn connect_postgres(url: &str, display_url: String) -> Result<Store, StoreError> {
    let unreachable = |source| StoreError::Connect {
        url: display_url.clone(),
        source,
    };
    let options = PgConnectOptions::from_str(url).map_err(|err| invalid_url(&display_url, &err))?;
    // Named for operators reading pg_stat_activity, unless the URL names the app.
    let named = options.get_application_name().is_none();
    let probe_options = match named {
        true => options.clone().application_name(PROBE_APPLICATION_NAME),
        false => options.clone(),
    };
    let options = match named {
        true => options.application_name(super::POOL_APPLICATION_NAME),
        false => options,
    };
    // One direct attempt first: a refused connection fails at once with the real reason,
    // where the pool would retry until its deadline and report only a timeout.
    let mut probe =
        tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&probe_options))
            .await
            .map_err(|_| unreachable(sqlx::Error::PoolTimedOut))?
            .map_err(unreachable)?;
    // The schema. When it is up to date (the usual case), one
    // small query and no lock: a hundred instances starting together do not queue on the
    // migration lock, each holding a connection. Otherwise sqlx takes a PostgreSQL
    // advisory lock around the migrations, so instances starting together apply them once.
    // (The table is looked for first: a query on a missing table would be an error in
    // the server log.)
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut probe)
        .await
        .unwrap_or(None);
    let applied: Vec<(i64, Vec<u8>)> = match table {
        Some(_) => sqlx::query_as(
            "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut probe)
        .await
        .unwrap_or_default(),
        None => Vec::new(),
    };
    // Up to date: exactly our migrations, with our checksums. Anything else (behind,
    // edited, or migrated by another version) goes through sqlx's migrator, which applies
    // or reports it.
    let up_to_date = is_up_to_date(&applied, &POSTGRES_MIGRATIONS);
    let _ = probe.close().await;
    if !up_to_date {
        // Named as the schema check: it is part of it, not of the pool.
        let migrating = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(probe_options)
            .await
            .map_err(unreachable)?;
        let migrated = POSTGRES_MIGRATIONS.run(&migrating).await;
        migrating.close().await;
        migrated.map_err(|source| StoreError::Migrate {
            url: display_url.clone(),
            source,
        })?;
    }
    // A quiet neighbour in the app's own database: no connection is kept idle, none is
    // opened before it is needed (the change listener holds its own and serves the
    // layer's reads); one opens for a write or a registration and closes after a few
    // idle seconds.
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .min_connections(0)
        .idle_timeout(Some(POOL_IDLE_TIMEOUT))
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(options);
    Ok(on_server(Backend::Postgres(pool), url, display_url))
}

/// A store on a database server (no file; its location is the URL without password).
fn on_server(backend: Backend, url: &str, display_url: String) -> Store {
    Store {
        backend,
        location: display_url.clone(),
        display_url,
        url: url.to_owned(),
        file: None,
        created_file: false,
        missing_file: false,
        actor: None,
        queued: std::sync::Arc::default(),
    }
}

/// A URL the driver could not parse, as bad input: the driver's reason without its
/// "error with configuration" prefixes.
fn invalid_url(display_url: &str, err: &sqlx::Error) -> StoreError {
    let text = err.to_string();
    let mut reason = text.as_str();
    while let Some(rest) = reason.strip_prefix("error with configuration: ") {
        reason = rest;
    }
    StoreError::InvalidUrl {
        url: display_url.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Whether the applied migrations (version, checksum; successful ones, by version) are
/// exactly `migrator`'s: then nothing needs to run, and nothing is written.
fn is_up_to_date(applied: &[(i64, Vec<u8>)], migrator: &Migrator) -> bool {
    applied.len() == migrator.iter().count()
        && applied
            .iter()
            .zip(migrator.iter())
            .all(|((version, checksum), m)| *version == m.version && **checksum == *m.checksum)
}

/// MySQL and MariaDB: no notifications (instances poll the generation), so the pool is
/// all there is: one connection, closed after a few idle seconds. Migrations run under a
/// lock, so instances starting together apply them once.
async fn connect_mysql(url: &str, display_url: String) -> Result<Store, StoreError> {
    let unreachable = |source| StoreError::Connect {
        url: display_url.clone(),
        source,
    };
    let options = MySqlConnectOptions::from_str(&url.replacen("mariadb://", "mysql://", 1))
        .map_err(|err| invalid_url(&display_url, &err))?;
    // Without a database the schema would have nowhere to go.
    if options.get_database().is_none_or(str::is_empty) {
        return Err(StoreError::InvalidUrl {
            url: display_url,
            reason: "it names no database (mysql://USER@HOST:PORT/DB)".to_owned(),
        });
    }
    // One direct attempt first: a refused connection fails at once with the real reason.
    let mut probe = tokio::time::timeout(CONNECT_TIMEOUT, MySqlConnection::connect_with(&options))
        .await
        .map_err(|_| unreachable(sqlx::Error::PoolTimedOut))?
        .map_err(unreachable)?;
    // One connection: an instance polls every 200 ms, and sqlx hands out idle connections
    // in turn, so a larger pool would keep every one of them open. Nothing in the store
    // holds one connection while asking for another.
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(Some(POOL_IDLE_TIMEOUT))
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(options);
    // Up to date (the usual case): exactly our migrations with our checksums, read without
    // writing anything, so a user allowed only SELECT can read the store.
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
    )
    .fetch_one(&mut probe)
    .await
    .map_err(unreachable)?;
    let applied: Vec<(i64, Vec<u8>)> = if tables > 0 {
        sqlx::query_as(
            "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut probe)
        .await
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    if !is_up_to_date(&applied, &MYSQL_MIGRATIONS) {
        // sqlx's own migration lock (`GET_LOCK(name, -1)`) does not wait on MariaDB, where
        // a negative timeout is not "forever": instances starting together would see each
        // other's migration half done. The probe's session holds a lock of ours meanwhile.
        let locked: Option<i64> =
            sqlx::query_scalar("SELECT GET_LOCK(CONCAT('chaos-rs migrations ', DATABASE()), 60)")
                .fetch_one(&mut probe)
                .await
                .map_err(unreachable)?;
        let migrated = MYSQL_MIGRATIONS.run(&pool).await;
        if locked == Some(1) {
            let _ = sqlx::query("SELECT RELEASE_LOCK(CONCAT('chaos-rs migrations ', DATABASE()))")
                .execute(&mut probe)
                .await;
        }
        migrated.map_err(|source| StoreError::Migrate {
            url: display_url.clone(),
            source,
        })?;
    }
    let _ = probe.close().await;
    Ok(on_server(Backend::Mysql(pool), url, display_url))
}

/// The URL with the password (if any, in the user info or as a `password=` option)
/// replaced by `***`.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = redact_user_info(base);
    match query {
        Some(query) => {
            let options: Vec<String> = query
                .split('&')
                .map(|option| match option.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => option.to_owned(),
                })
                .collect();
            format!("{base}?{}", options.join("&"))
        }
        None => base,
    }
}

fn redact_user_info(url: &str) -> String {
    // Any number of slashes after the scheme: a mistyped `mysql:/user:pw@host` must not
    // print its password either.
    let Some((scheme, rest)) = url.split_once(':') else {
        return url.to_owned();
    };
    let after_slashes = rest.trim_start_matches('/');
    let slashes = &rest[..rest.len() - after_slashes.len()];
    let (authority, path) = match after_slashes.find('/') {
        Some(slash) => after_slashes.split_at(slash),
        None => (after_slashes, ""),
    };
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    // A relay's user info is its token, whichever part holds it.
    if crate::relay::is_relay_url(url) {
        return format!("{scheme}:{slashes}***@{host}{path}");
    }
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}:{slashes}{user}:***@{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://chaos.db"), "sqlite://chaos.db");
        assert_eq!(
            redact("postgres://app@db/x?sslmode=disable&password=secret"),
            "postgres://app@db/x?sslmode=disable&password=***"
        );
        assert_eq!(
            redact("postgres://app:p@ss@db/x"),
            "postgres://app:***@db/x"
        );
        assert_eq!(
            redact("mysql://root:TopSecret1@127.0.0.1:3306/x"),
            "mysql://root:***@127.0.0.1:3306/x"
        );
        // Mistyped schemes keep their password hidden too.
        assert_eq!(
            redact("mysql:/root:TopSecret1@127.0.0.1:3306/x"),
            "mysql:/root:***@127.0.0.1:3306/x"
        );
        assert_eq!(
            redact("postgres:root:TopSecret1@db/x"),
            "postgres:root:***@db/x"
        );
        // A relay's token may sit in either part of the user info.
        assert_eq!(redact("http://:tok@relay:8900"), "http://***@relay:8900");
        assert_eq!(redact("HTTP://tok@relay:8900/p"), "HTTP://***@relay:8900/p");
    }
}
