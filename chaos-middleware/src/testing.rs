//! Helpers for test suites (this crate's, the CLI's, the end-to-end tests): throwaway
//! PostgreSQL databases and SQLite URLs in a temporary folder. Not part of the public API.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, MySqlConnection, PgConnection};

/// The variable naming a PostgreSQL server the tests may create databases on, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "CHAOS_TEST_POSTGRES_URL";

/// The variable naming a MySQL or MariaDB server the tests may create databases on, e.g.
/// `mysql://root@127.0.0.1:3306/test`.
pub const MYSQL_URL_VAR: &str = "CHAOS_TEST_MYSQL_URL";

/// An armed guard on every view: error rate over 5 % in a minute, after 20 responses
/// (the benchmarks' guard).
pub fn guard_on_every_view() -> crate::guard::Guard {
    crate::guard::Guard {
        id: 1,
        spec: crate::guard::GuardSpec {
            view: None,
            max_error_rate: Some(0.05),
            max_p99_ms: None,
            window_ms: 60_000,
            min_requests: 20,
        },
        created_at: 0,
        created_by: None,
        tripped: None,
    }
}

/// The URL of a SQLite store file `chaos.db` inside `dir` (the file need not exist).
pub fn temp_sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/chaos.db", dir.display())
}

/// A uniquely named PostgreSQL or MySQL/MariaDB database (by the URL's scheme) that is
/// dropped again: explicitly with [`TempDatabase::drop_db`], or best-effort when the value
/// is dropped.
pub struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

/// The PostgreSQL name of [`TempDatabase`].
pub type TempPostgres = TempDatabase;

impl fmt::Debug for TempDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempDatabase {
    /// Creates a database on the PostgreSQL server named by `CHAOS_TEST_POSTGRES_URL`.
    ///
    /// Returns `None` (and says so on stderr) when the variable is not set. Panics when it
    /// is set but the server cannot be used: a CI run that asked for PostgreSQL must fail
    /// loudly rather than skip.
    pub async fn from_env() -> Option<Self> {
        Self::from_var(POSTGRES_URL_VAR, "PostgreSQL").await
    }

    /// Creates a database on the MySQL or MariaDB server named by `CHAOS_TEST_MYSQL_URL`;
    /// like [`TempDatabase::from_env`].
    pub async fn mysql_from_env() -> Option<Self> {
        Self::from_var(MYSQL_URL_VAR, "MySQL").await
    }

    async fn from_var(var: &str, what: &str) -> Option<Self> {
        let admin_url = match std::env::var(var) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                eprintln!("skipping {what}: {var} is not set");
                return None;
            }
        };
        match Self::create(&admin_url).await {
            Ok(db) => Some(db),
            Err(err) => panic!(
                "{var} is set to {} but a test database cannot be created there: {err}",
                crate::store::redact_url(&admin_url)
            ),
        }
    }

    /// Creates a fresh database on the server at `admin_url` (any database the user may
    /// connect to; the new one gets the same user, host and options).
    pub async fn create(admin_url: &str) -> Result<Self, sqlx::Error> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("chaos_test_{}_{nanos}_{counter}", std::process::id());
        let url = with_database(admin_url, &name);
        if is_mysql(admin_url) {
            let mut conn = MySqlConnection::connect(admin_url).await?;
            let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
            created?;
        } else {
            let mut conn = PgConnection::connect(admin_url).await?;
            let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
            created?;
        }
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
            dropped: false,
        })
    }

    /// The URL of the throwaway database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, closing any connection still open on it. A failure is
    /// reported on stderr; a leftover test database is not worth failing a test for.
    pub async fn drop_db(mut self) {
        self.dropped = true;
        if let Err(err) = drop_database(&self.admin_url, &self.name).await {
            eprintln!("warning: cannot drop test database {}: {err}", self.name);
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot be async and may run inside a runtime, so a separate thread with its
        // own small runtime does the work. Every failure is ignored: this is best-effort.
        let worker = std::thread::Builder::new()
            .name("drop-test-db".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    let _ = runtime.block_on(drop_database(&admin_url, &name));
                }
            });
        if let Ok(worker) = worker {
            let _ = worker.join();
        }
    }
}

fn is_mysql(url: &str) -> bool {
    url.starts_with("mysql://") || url.starts_with("mariadb://")
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    if is_mysql(admin_url) {
        let mut conn = MySqlConnection::connect(admin_url).await?;
        let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{name}`"
        )))
        .execute(&mut conn)
        .await;
        let _ = conn.close().await;
        return dropped.map(|_| ());
    }
    let mut conn = PgConnection::connect(admin_url).await?;
    let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
    let _ = conn.close().await;
    dropped.map(|_| ())
}

/// `url` with its database (the path) replaced by `name`; query options are kept.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(a, _)| a);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Runs each named `async fn(url: &str)` case once per backend, each time on a brand-new
/// store: a SQLite file in a temp dir (module `sqlite`) and a throwaway PostgreSQL
/// database (module `postgres`; it passes with a note when `CHAOS_TEST_POSTGRES_URL` is
/// not set). For this crate's own test suites (they have `tempfile` as a dev-dependency).
#[doc(hidden)]
#[macro_export]
macro_rules! per_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("create a temp dir");
                    super::$case(&$crate::testing::temp_sqlite_url(dir.path())).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = $crate::testing::TempDatabase::from_env().await else {
                        return;
                    };
                    super::$case(db.url()).await;
                    db.drop_db().await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = $crate::testing::TempDatabase::mysql_from_env().await else {
                        return;
                    };
                    super::$case(db.url()).await;
                    db.drop_db().await;
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_and_options_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
        assert_eq!(
            temp_sqlite_url(Path::new("/tmp/a")),
            "sqlite:///tmp/a/chaos.db"
        );
    }
}
