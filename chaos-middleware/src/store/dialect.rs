//! One SQL text for three databases.
//!
//! Queries are written once, PostgreSQL-style, and run on SQLite and PostgreSQL as they
//! are. For MySQL/MariaDB, [`Dialect::translate`] rewrites the few things that differ:
//!
//! - placeholders `$1, $2, …` become `?` (every query uses each number once, in order:
//!   checked in debug builds);
//! - `groups`, a reserved word in MySQL 8, is quoted;
//! - `ON CONFLICT (…) DO UPDATE SET c = EXCLUDED.c` becomes
//!   `ON DUPLICATE KEY UPDATE c = VALUES(c)`;
//! - `INSERT … RETURNING id` loses its `RETURNING` (MySQL 8 has none); the id comes from
//!   the insert's `last_insert_id` instead ([`Dialect::insert_id`]).
//!
//! The wrappers [`query`], [`query_scalar`] and [`query_as`] stand in for sqlx's: the
//! database type is inferred from the executor, as with sqlx's own.

use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{AssertSqlSafe, Database, FromRow, MySql, Postgres, Row, Sqlite, Transaction};

/// A boxed, sendable future (the trait's methods return one, so callers in spawned
/// tasks need no proof about lifetimes).
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// How one database spells the shared SQL.
pub(crate) trait Dialect: Database {
    /// The SQL as this database wants it.
    fn translate(sql: &str) -> String;

    /// Runs an `INSERT … RETURNING id` built with [`query`] and returns the new id.
    fn insert_id<'a>(
        query: Query<'a, Self, <Self as Database>::Arguments>,
        transaction: &'a mut Transaction<'_, Self>,
    ) -> Boxed<'a, Result<i64, sqlx::Error>>;
}

/// SQLite and PostgreSQL take the shared SQL as it is, `RETURNING` included.
macro_rules! as_written {
    ($($database:ty),*) => {$(
        impl Dialect for $database {
            fn translate(sql: &str) -> String {
                sql.to_owned()
            }

            fn insert_id<'a>(
                query: Query<'a, Self, <Self as Database>::Arguments>,
                transaction: &'a mut Transaction<'_, Self>,
            ) -> Boxed<'a, Result<i64, sqlx::Error>> {
                Box::pin(async move { query.fetch_one(&mut **transaction).await?.try_get(0) })
            }
        }
    )*};
}

as_written!(Sqlite, Postgres);

impl Dialect for MySql {
    fn translate(sql: &str) -> String {
        to_mysql(sql)
    }

    fn insert_id<'a>(
        query: Query<'a, Self, <Self as Database>::Arguments>,
        transaction: &'a mut Transaction<'_, Self>,
    ) -> Boxed<'a, Result<i64, sqlx::Error>> {
        Box::pin(async move {
            let done = query.execute(&mut **transaction).await?;
            i64::try_from(done.last_insert_id())
                .map_err(|_| sqlx::Error::Protocol("the new id does not fit a BIGINT".into()))
        })
    }
}

/// Runs an `INSERT … RETURNING id` built with [`query`] and returns the new id.
pub(crate) fn insert_id<'a, DB: Dialect>(
    query: Query<'a, DB, <DB as Database>::Arguments>,
    transaction: &'a mut Transaction<'_, DB>,
) -> Boxed<'a, Result<i64, sqlx::Error>> {
    DB::insert_id(query, transaction)
}

/// sqlx's `query`, with the SQL translated for the executor's database.
pub(crate) fn query<'q, DB: Dialect>(sql: &str) -> Query<'q, DB, <DB as Database>::Arguments> {
    sqlx::query(AssertSqlSafe(DB::translate(sql)))
}

/// sqlx's `query_scalar`, with the SQL translated for the executor's database.
pub(crate) fn query_scalar<'q, DB, O>(
    sql: &str,
) -> QueryScalar<'q, DB, O, <DB as Database>::Arguments>
where
    DB: Dialect,
    (O,): for<'r> FromRow<'r, DB::Row>,
{
    sqlx::query_scalar(AssertSqlSafe(DB::translate(sql)))
}

/// sqlx's `query_as`, with the SQL translated for the executor's database.
pub(crate) fn query_as<'q, DB, O>(sql: &str) -> QueryAs<'q, DB, O, <DB as Database>::Arguments>
where
    DB: Dialect,
    O: for<'r> FromRow<'r, DB::Row>,
{
    sqlx::query_as(AssertSqlSafe(DB::translate(sql)))
}

/// `sql` with its placeholders renumbered `$1, $2, …` in the order they appear, each
/// once, and for each the number it had (for a statement that uses a value twice or
/// out of order: bind the values in this order).
pub(crate) fn sequential(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_string = !in_string;
        }
        if c == '$' && !in_string && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut number = 0usize;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                number = number * 10 + d as usize;
                chars.next();
            }
            order.push(number);
            out.push_str(&format!("${}", order.len()));
            continue;
        }
        out.push(c);
    }
    (out, order)
}

/// The MySQL/MariaDB spelling of `sql` (see the module documentation).
pub(crate) fn to_mysql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut expected = 1u32;
    let mut chars = sql.char_indices().peekable();
    let mut in_string = false;
    while let Some((at, c)) = chars.next() {
        if c == '\'' {
            in_string = !in_string;
            out.push(c);
            continue;
        }
        if in_string {
            out.push(c);
            continue;
        }
        if c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
            let mut number = 0u32;
            while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
                number = number * 10 + d.to_digit(10).unwrap_or(0);
                chars.next();
            }
            debug_assert_eq!(
                number, expected,
                "placeholders must be $1, $2, … each once and in order for MySQL: {sql}"
            );
            expected += 1;
            out.push('?');
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            // A word: copy it, quoting `groups` and rewriting `EXCLUDED.column`.
            let start = at;
            let mut end = at + c.len_utf8();
            while let Some((i, d)) = chars.peek().copied() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &sql[start..end];
            if word.eq_ignore_ascii_case("groups") {
                out.push_str("`groups`");
            } else if word.eq_ignore_ascii_case("excluded")
                && chars.peek().is_some_and(|(_, d)| *d == '.')
            {
                chars.next();
                let mut column = String::new();
                while let Some((_, d)) = chars.peek().copied() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        column.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let column = if column.eq_ignore_ascii_case("groups") {
                    "`groups`".to_owned()
                } else {
                    column
                };
                out.push_str(&format!("VALUES({column})"));
            } else {
                out.push_str(word);
            }
            continue;
        }
        out.push(c);
    }
    // `ON CONFLICT (columns) DO UPDATE SET` → `ON DUPLICATE KEY UPDATE`.
    if let Some(on) = out.find("ON CONFLICT (")
        && let Some(close) = out[on..].find(") DO UPDATE SET")
    {
        let end = on + close + ") DO UPDATE SET".len();
        out.replace_range(on..end, "ON DUPLICATE KEY UPDATE");
    }
    if let Some(stripped) = out.strip_suffix(" RETURNING id") {
        out = stripped.to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_mysql;

    #[test]
    fn placeholders_become_question_marks() {
        assert_eq!(
            to_mysql("SELECT a FROM t WHERE b = $1 AND c > $2"),
            "SELECT a FROM t WHERE b = ? AND c > ?"
        );
        // Inside a string literal nothing changes.
        assert_eq!(
            to_mysql("SELECT '$1 groups' FROM t WHERE x = $1"),
            "SELECT '$1 groups' FROM t WHERE x = ?"
        );
    }

    #[test]
    fn sequential_renumbers_and_reports_the_order() {
        let (sql, order) = super::sequential(
            "UPDATE t SET a = $1, b = CASE WHEN b <= $1 THEN NULL END WHERE (id = $2) AND c <> '$9'",
        );
        assert_eq!(
            sql,
            "UPDATE t SET a = $1, b = CASE WHEN b <= $2 THEN NULL END WHERE (id = $3) AND c <> '$9'"
        );
        assert_eq!(order, [1, 1, 2]);
    }

    #[test]
    fn groups_is_quoted_as_a_word_only() {
        assert_eq!(
            to_mysql("SELECT users, groups, hosts FROM chaos_actions"),
            "SELECT users, `groups`, hosts FROM chaos_actions"
        );
        assert_eq!(to_mysql("SELECT groupsx FROM t"), "SELECT groupsx FROM t");
    }

    #[test]
    fn upserts_and_returning() {
        assert_eq!(
            to_mysql(
                "INSERT INTO t (id, a, groups) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, groups = EXCLUDED.groups"
            ),
            "INSERT INTO t (id, a, `groups`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE a = VALUES(a), `groups` = VALUES(`groups`)"
        );
        assert_eq!(
            to_mysql("INSERT INTO t (a) VALUES ($1) RETURNING id"),
            "INSERT INTO t (a) VALUES (?)"
        );
    }

    #[test]
    #[should_panic(expected = "placeholders must be")]
    fn out_of_order_placeholders_are_caught_in_debug_builds() {
        let _ = to_mysql("UPDATE t SET a = $2 WHERE id = $1");
    }
}
