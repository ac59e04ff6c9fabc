//! Versioned migrations from `diesel-migrations/<backend>/`, embedded at build time.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::Conn;
use crate::{Error, Result};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../diesel-migrations/postgres");
#[cfg(feature = "mysql")]
const MYSQL: EmbeddedMigrations = embed_migrations!("../diesel-migrations/mysql");
const SQLITE: EmbeddedMigrations = embed_migrations!("../diesel-migrations/sqlite");

/// Applies pending migrations on `conn`; returns the versions applied.
pub(crate) fn run(conn: &mut Conn) -> Result<Vec<String>> {
    let applied = match conn {
        Conn::Postgres(c) => (**c).run_pending_migrations(POSTGRES),
        #[cfg(feature = "mysql")]
        Conn::Mysql(c) => (**c).run_pending_migrations(MYSQL),
        Conn::Sqlite(c) => (**c).run_pending_migrations(SQLITE),
    };
    applied
        .map(|versions| versions.into_iter().map(|v| v.to_string()).collect())
        .map_err(|e| Error::Migration(e.to_string()))
}
