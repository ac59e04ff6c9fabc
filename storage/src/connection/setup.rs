//! What every new connection runs first, per backend.

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, CustomizeConnection};
use diesel::{PgConnection, SqliteConnection};

#[cfg(feature = "mysql")]
use diesel::MysqlConnection;

use super::Tracked;

/// Per-connection SQLite settings: WAL, one writer, enforced foreign keys.
#[derive(Debug)]
pub(super) struct SqliteSetup;

impl CustomizeConnection<Tracked<SqliteConnection>, r2d2::Error> for SqliteSetup {
    fn on_acquire(
        &self,
        conn: &mut Tracked<SqliteConnection>,
    ) -> std::result::Result<(), r2d2::Error> {
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
        )
        .map_err(r2d2::Error::QueryError)?;
        register_regexp(conn).map_err(r2d2::Error::QueryError)
    }
}

/// Per-connection PostgreSQL settings: generic plans for prepared statements. With the
/// values at hand (custom plans) the planner trusts the fixed 1% estimate of `@>` and
/// reads and sorts every matching document for each page, which grows with the table;
/// the generic plan walks the ordering index and stops after a page, so every page of a
/// listing costs the same.
#[derive(Debug)]
pub(super) struct PostgresSetup;

impl CustomizeConnection<Tracked<PgConnection>, r2d2::Error> for PostgresSetup {
    fn on_acquire(&self, conn: &mut Tracked<PgConnection>) -> std::result::Result<(), r2d2::Error> {
        conn.batch_execute("SET plan_cache_mode = force_generic_plan")
            .map_err(r2d2::Error::QueryError)
    }
}

/// Per-connection MySQL/MariaDB settings: READ COMMITTED, as on PostgreSQL. InnoDB's
/// default (REPEATABLE READ) would let a read inside a group-commit transaction see a
/// snapshot older than the row its conditional UPDATE then finds.
#[cfg(feature = "mysql")]
#[derive(Debug)]
pub(super) struct MysqlSetup;

#[cfg(feature = "mysql")]
impl CustomizeConnection<Tracked<MysqlConnection>, r2d2::Error> for MysqlSetup {
    fn on_acquire(
        &self,
        conn: &mut Tracked<MysqlConnection>,
    ) -> std::result::Result<(), r2d2::Error> {
        conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .map_err(r2d2::Error::QueryError)
    }
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// `X REGEXP Y` in SQLite calls `regexp(Y, X)`.
    fn regexp(
        pattern: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        text: diesel::sql_types::Nullable<diesel::sql_types::Text>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Bool>;
}

/// Patterns compiled per connection, at most this many at once.
const REGEX_CACHE: usize = 64;

/// SQLite has no regular expressions of its own: `regexp()` uses Rust's `regex`, which
/// the filter checker has already validated the pattern for.
fn register_regexp(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    let cache =
        std::sync::Mutex::new(std::collections::HashMap::<String, Option<regex::Regex>>::new());
    regexp_utils::register_impl(
        conn,
        move |pattern: Option<String>, text: Option<String>| {
            let (pattern, text) = (pattern?, text?);
            let mut cache = cache
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.len() >= REGEX_CACHE && !cache.contains_key(&pattern) {
                cache.clear();
            }
            let compiled = cache.entry(pattern).or_insert_with_key(|p| {
                regex::RegexBuilder::new(p).size_limit(1 << 20).build().ok()
            });
            compiled.as_ref().map(|re| re.is_match(&text))
        },
    )
}
