//! The database a URL names, its connection pool, and per-backend dispatch.
//!
//! Queries are written once with diesel's DSL and compiled for each backend by
//! [`with_conn!`], which expands its body for every concrete connection type.

use std::sync::PoisonError;
use std::time::Duration;

use diesel::r2d2::{self, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};

use crate::filter::IndexedPaths;
use crate::{Error, Result};

mod setup;
mod tracked;

#[cfg(feature = "mysql")]
use setup::MysqlSetup;
use setup::{PostgresSetup, SqliteSetup};
use tracked::SharedPaths;
use tracked::Usage;
pub use tracked::{Manager, Tracked, MAX_STATEMENT_SHAPES};

#[cfg(feature = "mysql")]
use diesel::MysqlConnection;

/// The SQL backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Embedded SQLite file (`sqlite://path`).
    Sqlite,
    /// PostgreSQL (`postgres://…`).
    Postgres,
    /// MySQL or MariaDB (`mysql://…`).
    Mysql,
}

impl Backend {
    /// The backend named by a URL's scheme.
    pub fn from_url(url: &str) -> Result<Backend> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::Mysql),
            _ => Err(Error::Connect(format!(
                "database URL must start with sqlite://, postgres:// or mysql:// (got {:?})",
                redact(url)
            ))),
        }
    }

    /// Whether this build can talk to the backend.
    pub fn is_supported(self) -> bool {
        self != Backend::Mysql || cfg!(feature = "mysql")
    }
}

/// A URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// What a pool holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Open connections.
    pub connections: u32,
    /// Of those, the ones not in use.
    pub idle: u32,
}

/// Pool sizing, and what the pool's queries may rely on.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long to wait for a free connection.
    pub connect_timeout: Duration,
    /// JSON paths of Record documents to index (see [`crate::filter::IndexedPaths`]):
    /// [`Database::migrate`] makes their indexes, and listings use those it finds.
    pub indexed_json_paths: IndexedPaths,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_size: 8,
            connect_timeout: Duration::from_secs(10),
            indexed_json_paths: IndexedPaths::none(),
        }
    }
}

#[derive(Clone)]
enum AnyPool {
    Postgres(Pool<Manager<PgConnection>>),
    #[cfg(feature = "mysql")]
    Mysql(Pool<Manager<MysqlConnection>>),
    Sqlite(Pool<Manager<SqliteConnection>>),
}

/// A pooled connection to whichever backend the [`Database`] uses.
pub enum Conn {
    /// PostgreSQL.
    Postgres(PooledConnection<Manager<PgConnection>>),
    /// MySQL/MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(PooledConnection<Manager<MysqlConnection>>),
    /// SQLite.
    Sqlite(PooledConnection<Manager<SqliteConnection>>),
}

impl Conn {
    /// Runs `f` in a transaction (a savepoint when one is already open): committed when
    /// `f` succeeds, rolled back when it fails.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        with_conn!(self, |c| AnsiTransactionManager::begin_transaction(c))
            .map_err(Error::db("beginning a transaction"))?;
        match f(self) {
            Ok(value) => {
                with_conn!(self, |c| AnsiTransactionManager::commit_transaction(c))
                    .map_err(Error::db("committing"))?;
                Ok(value)
            }
            Err(e) => {
                let _ = with_conn!(self, |c| AnsiTransactionManager::rollback_transaction(c));
                Err(e)
            }
        }
    }

    /// Marks this connection for the pool to discard (instead of reusing it) when `error`
    /// says it broke. diesel notices broken PostgreSQL connections by itself, not MySQL ones.
    pub fn discard_if_lost(&mut self, error: &Error) {
        if error.is_connection_lost() {
            self.usage().retired = true;
        }
    }

    /// Marks this connection for the pool to discard when it is a MySQL/MariaDB one and
    /// `error` is the database's refusal of a listing or summary query: such an error
    /// (a filter's arithmetic overflowing a DOUBLE, error 1690) comes while the rows are
    /// read, and leaves libmariadb's connection out of step with the server, so that its
    /// next statement waits forever for an answer. Returns `error`.
    pub(crate) fn discard_if_desynced(&mut self, error: Error) -> Error {
        let refused = matches!(
            error,
            Error::Database {
                source: diesel::result::Error::DatabaseError(..),
                ..
            }
        );
        if refused && self.backend() == Backend::Mysql {
            self.usage().retired = true;
        }
        error
    }

    /// Notes that a statement of a user-chosen shape (identified by `shape`) is now
    /// prepared on this connection; past [`MAX_STATEMENT_SHAPES`] the pool replaces it.
    pub(crate) fn note_statement_shape(&mut self, shape: u64) {
        self.usage().shapes.insert(shape);
    }

    fn usage(&mut self) -> &mut Usage {
        match self {
            Conn::Postgres(c) => &mut c.usage,
            #[cfg(feature = "mysql")]
            Conn::Mysql(c) => &mut c.usage,
            Conn::Sqlite(c) => &mut c.usage,
        }
    }

    /// The indexed JSON paths whose indexes this connection's database holds (as far as
    /// its pool knows: see [`Database::migrate`]).
    pub fn indexed_paths(&self) -> IndexedPaths {
        match self {
            Conn::Postgres(c) => c.indexed_paths(),
            #[cfg(feature = "mysql")]
            Conn::Mysql(c) => c.indexed_paths(),
            Conn::Sqlite(c) => c.indexed_paths(),
        }
    }

    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Conn::Mysql(_) => Backend::Mysql,
            Conn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Runs `$body` with `$c` bound to the concrete diesel connection, once per backend.
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::connection::Conn::Postgres($c) => {
                let $c: &mut diesel::PgConnection = &mut *$c;
                $body
            }
            #[cfg(feature = "mysql")]
            $crate::connection::Conn::Mysql($c) => {
                let $c: &mut diesel::MysqlConnection = &mut *$c;
                $body
            }
            $crate::connection::Conn::Sqlite($c) => {
                let $c: &mut diesel::SqliteConnection = &mut *$c;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// A connection pool to the configured database.
#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    /// The indexed JSON paths configured.
    configured: IndexedPaths,
    /// Those whose indexes the database holds, shared with the pool's connections.
    active: SharedPaths,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens a pool for `url`; fails when the first connection cannot be made.
    pub fn connect(url: &str, settings: PoolSettings) -> Result<Database> {
        let backend = Backend::from_url(url)?;
        let active = SharedPaths::default();
        let configured = settings.indexed_json_paths.clone();
        let connect_err = |e: r2d2::PoolError| Error::Connect(format!("{}: {e}", redact(url)));
        let pool = match backend {
            Backend::Postgres => AnyPool::Postgres(
                builder(settings)
                    .connection_customizer(Box::new(PostgresSetup))
                    .build(Manager::sharing(url, active.clone()))
                    .map_err(connect_err)?,
            ),
            #[cfg(feature = "mysql")]
            Backend::Mysql => AnyPool::Mysql(
                builder(settings)
                    .connection_customizer(Box::new(MysqlSetup))
                    .build(Manager::sharing(url, active.clone()))
                    .map_err(connect_err)?,
            ),
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => {
                return Err(Error::Connect(
                    "this build has no MySQL/MariaDB support; build with `--features mysql`".into(),
                ))
            }
            Backend::Sqlite => {
                let path = sqlite_path(url)?;
                AnyPool::Sqlite(
                    builder(settings)
                        .connection_customizer(Box::new(SqliteSetup))
                        .build(Manager::sharing(path, active.clone()))
                        .map_err(connect_err)?,
                )
            }
        };
        let database = Database {
            pool,
            backend,
            configured,
            active,
        };
        if !database.configured.is_empty() {
            let found = crate::json_indexes::active(&mut database.get()?, &database.configured)?;
            database.set_active(found);
        }
        Ok(database)
    }

    fn set_active(&self, paths: IndexedPaths) {
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = paths;
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How many connections the pool holds, and how many of them are idle.
    pub fn pool_state(&self) -> PoolState {
        let state = match &self.pool {
            AnyPool::Postgres(p) => p.state(),
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(p) => p.state(),
            AnyPool::Sqlite(p) => p.state(),
        };
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
        }
    }

    /// Takes a connection from the pool.
    pub fn get(&self) -> Result<Conn> {
        let err = |e: r2d2::PoolError| Error::Pool(e.to_string());
        Ok(match &self.pool {
            AnyPool::Postgres(p) => Conn::Postgres(p.get().map_err(err)?),
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(p) => Conn::Mysql(p.get().map_err(err)?),
            AnyPool::Sqlite(p) => Conn::Sqlite(p.get().map_err(err)?),
        })
    }

    /// Runs `f` on a pooled connection. A connection that broke under it is discarded by
    /// the pool instead of being handed out again.
    pub fn run<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.get()?;
        let outcome = f(&mut conn);
        if let Err(e) = &outcome {
            conn.discard_if_lost(e);
        }
        outcome
    }

    /// Runs the read-only `f` like [`Database::run`], once more on a fresh connection if
    /// the first one broke (a database restart costs a retry, not a failed request).
    pub fn read<T>(&self, mut f: impl FnMut(&mut Conn) -> Result<T>) -> Result<T> {
        match self.run(&mut f) {
            Err(e) if e.is_connection_lost() => self.run(f),
            outcome => outcome,
        }
    }

    /// Applies every pending migration, then makes (or replaces, or drops) the indexes of
    /// the configured JSON paths so that the database holds exactly those; returns the
    /// versions applied. Listings use the indexes from then on.
    pub fn migrate(&self) -> Result<Vec<String>> {
        let applied = crate::migrate::run(&mut self.get()?, &self.configured)?;
        self.set_active(self.configured.clone());
        Ok(applied)
    }
}

fn builder<C>(settings: PoolSettings) -> r2d2::Builder<Manager<C>>
where
    C: diesel::r2d2::R2D2Connection + 'static,
{
    Pool::builder()
        .max_size(settings.max_size.max(1))
        .min_idle(Some(1))
        .connection_timeout(settings.connect_timeout)
        .test_on_check_out(false)
}

/// The file path of a `sqlite://path` (or `sqlite:path`) URL.
fn sqlite_path(url: &str) -> Result<String> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Err(Error::Connect(
            "sqlite URL needs a file path, e.g. sqlite://results.db (in-memory databases \
             are not shared between pooled connections)"
                .into(),
        ));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("mysql://root@h/db").unwrap(),
            Backend::Mysql
        );
        let err = Backend::from_url("oracle://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sqlite://, postgres:// or mysql://"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://results.db").unwrap(), "results.db");
        assert_eq!(
            sqlite_path("sqlite:///var/lib/r.db").unwrap(),
            "/var/lib/r.db"
        );
        assert!(sqlite_path("sqlite://").is_err());
        assert!(sqlite_path("sqlite::memory:").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
