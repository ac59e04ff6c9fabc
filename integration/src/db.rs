//! Throwaway databases: each test gets its own (`results_storage::scratch`, shared with
//! the storage crate's tests), dropped on `Drop`.

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection, RunQueryDsl};
use results_storage::scratch::{mysql_admin, postgres_admin, ScratchDb};
use results_storage::Backend;

/// The backends every storage and API test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// Embedded SQLite file in the temp directory.
    Sqlite,
    /// Local PostgreSQL.
    Postgres,
    /// Local MariaDB/MySQL.
    Mysql,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    backend: TestBackend,
    scratch: ScratchDb,
}

impl TestDb {
    /// Creates a fresh, empty database.
    pub fn create(backend: TestBackend) -> TestDb {
        let scratch = ScratchDb::create(match backend {
            TestBackend::Sqlite => Backend::Sqlite,
            TestBackend::Postgres => Backend::Postgres,
            TestBackend::Mysql => Backend::Mysql,
        });
        TestDb { backend, scratch }
    }

    /// The database URL for `results-api`.
    pub fn url(&self) -> &str {
        self.scratch.url()
    }

    /// The backend.
    pub fn backend(&self) -> TestBackend {
        self.backend
    }

    /// Kills every server connection to this database (as a database restart or a
    /// network cut would); says how many. SQLite has no connections to kill.
    pub fn kill_connections(&self) -> anyhow::Result<usize> {
        #[derive(diesel::QueryableByName)]
        struct Killed {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        #[derive(diesel::QueryableByName)]
        struct Process {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        match self.backend {
            TestBackend::Sqlite => Ok(0),
            TestBackend::Postgres => {
                let mut admin = PgConnection::establish(&format!("{}/postgres", postgres_admin()))?;
                let killed: Killed = diesel::sql_query(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind::<diesel::sql_types::Text, _>(self.scratch.name())
                .get_result(&mut admin)?;
                Ok(killed.n as usize)
            }
            TestBackend::Mysql => {
                let mut admin = MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))?;
                let processes: Vec<Process> = diesel::sql_query(
                    "SELECT CAST(id AS SIGNED) AS id FROM information_schema.processlist \
                     WHERE db = ? AND id <> CONNECTION_ID()",
                )
                .bind::<diesel::sql_types::Text, _>(self.scratch.name())
                .load(&mut admin)?;
                let mut killed = 0;
                for process in processes {
                    // The id comes from the server, not from input; KILL takes no parameters.
                    if admin
                        .batch_execute(&format!("KILL CONNECTION {}", process.id))
                        .is_ok()
                    {
                        killed += 1;
                    }
                }
                Ok(killed)
            }
        }
    }
}
