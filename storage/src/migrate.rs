//! Versioned migrations from `diesel-migrations/<backend>/`, embedded at build time.
//!
//! Several replicas starting at once on one database take turns: on PostgreSQL and
//! MariaDB the migrating connection holds a database-wide lock (an advisory lock, a named
//! lock) while it applies what is pending, so one replica migrates and the others wait
//! for it (on PostgreSQL by asking again every 200 ms), then find nothing left to do. SQLite is one file for one process. The indexes
//! of indexed JSON paths ([`crate::json_indexes`]) are made under the same lock, after
//! the migrations.

use diesel::sql_types::BigInt;
#[cfg(feature = "mysql")]
use diesel::sql_types::{Integer, Nullable, Text};
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::Conn;
use crate::filter::IndexedPaths;
use crate::{Error, Result};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../diesel-migrations/postgres");
#[cfg(feature = "mysql")]
const MYSQL: EmbeddedMigrations = embed_migrations!("../diesel-migrations/mysql");
const SQLITE: EmbeddedMigrations = embed_migrations!("../diesel-migrations/sqlite");

/// The PostgreSQL advisory lock key of migrations ("results" in ASCII, then 1).
const ADVISORY_KEY: i64 = 0x7265_7375_6c74_7301;
/// The MariaDB lock name of migrations.
#[cfg(feature = "mysql")]
const LOCK_NAME: &str = "tekton-results-migrations";
/// How long a replica waits for another's migrations on MariaDB (seconds); PostgreSQL
/// waits as long as they take.
#[cfg(feature = "mysql")]
const LOCK_WAIT_SECS: i32 = 3600;

/// How often a replica asks for the PostgreSQL migration lock while another holds it.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(diesel::QueryableByName)]
struct Taken {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    taken: bool,
}

#[cfg(feature = "mysql")]
#[derive(diesel::QueryableByName)]
struct Acquired {
    #[diesel(sql_type = Nullable<Integer>)]
    acquired: Option<i32>,
}

/// Applies pending migrations on `conn`, then makes the indexes of `indexed` JSON paths
/// (see [`crate::json_indexes`]), holding the migration lock of the database; returns the
/// versions applied.
pub(crate) fn run(conn: &mut Conn, indexed: &IndexedPaths) -> Result<Vec<String>> {
    match conn {
        Conn::Postgres(c) => {
            // Polled, not waited for in `pg_advisory_lock`: a session blocked in that
            // statement holds a snapshot, which a `CREATE INDEX CONCURRENTLY` under the
            // lock (see `json_indexes`) waits out: a deadlock PostgreSQL breaks by failing
            // one of the two (seen with replicas starting at once).
            loop {
                let taken: Taken = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS taken")
                    .bind::<BigInt, _>(ADVISORY_KEY)
                    .get_result(&mut ***c)
                    .map_err(Error::db("taking the migration lock"))?;
                if taken.taken {
                    break;
                }
                std::thread::sleep(LOCK_POLL);
            }
        }
        #[cfg(feature = "mysql")]
        Conn::Mysql(c) => {
            let acquired: Acquired = diesel::sql_query("SELECT GET_LOCK(?, ?) AS acquired")
                .bind::<Text, _>(LOCK_NAME)
                .bind::<Integer, _>(LOCK_WAIT_SECS)
                .get_result(&mut ***c)
                .map_err(Error::db("taking the migration lock"))?;
            if acquired.acquired != Some(1) {
                return Err(Error::Migration(format!(
                    "another replica has been migrating this database for over \
                     {LOCK_WAIT_SECS} s (lock {LOCK_NAME:?} not granted)"
                )));
            }
        }
        // One file for one process.
        Conn::Sqlite(_) => {}
    }
    let applied = match conn {
        Conn::Postgres(c) => (**c).run_pending_migrations(POSTGRES).map(versions),
        #[cfg(feature = "mysql")]
        Conn::Mysql(c) => (**c).run_pending_migrations(MYSQL).map(versions),
        Conn::Sqlite(c) => (**c).run_pending_migrations(SQLITE).map(versions),
    }
    .map_err(|e| Error::Migration(e.to_string()));
    let done = applied.and_then(|applied| {
        crate::json_indexes::sync(conn, indexed)?;
        Ok(applied)
    });
    // Ending the session would release the lock too; a pooled connection lives on.
    let unlocked = match conn {
        Conn::Postgres(c) => diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(ADVISORY_KEY)
            .execute(&mut ***c)
            .map(drop),
        #[cfg(feature = "mysql")]
        Conn::Mysql(c) => diesel::sql_query("SELECT RELEASE_LOCK(?)")
            .bind::<Text, _>(LOCK_NAME)
            .execute(&mut ***c)
            .map(drop),
        Conn::Sqlite(_) => Ok(()),
    };
    // A lock that could not be released is an error only when the rest succeeded (its
    // own error says more).
    let applied = done?;
    unlocked.map_err(Error::db("releasing the migration lock"))?;
    Ok(applied)
}

fn versions(applied: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    applied.into_iter().map(|v| v.to_string()).collect()
}
