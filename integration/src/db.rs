//! Throwaway databases: each test gets its own, created here and dropped on `Drop`.
//!
//! PostgreSQL and MariaDB are reached at their standard local addresses (override with
//! `RESULTS_TEST_POSTGRES_URL` / `RESULTS_TEST_MYSQL_URL`, admin URLs without a database).

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection, RunQueryDsl};

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

fn postgres_admin() -> String {
    std::env::var("RESULTS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn mysql_admin() -> String {
    std::env::var("RESULTS_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    backend: TestBackend,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a fresh, empty database.
    pub fn create(backend: TestBackend) -> TestDb {
        let name = format!("results_test_{}", uuid::Uuid::new_v4().simple());
        let url = match backend {
            TestBackend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                format!("sqlite://{}", path.display())
            }
            TestBackend::Postgres => {
                let mut admin = PgConnection::establish(&format!("{}/postgres", postgres_admin()))
                    .expect("PostgreSQL must run on 127.0.0.1:5432 (see README)");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                format!("{}/{name}", postgres_admin())
            }
            TestBackend::Mysql => {
                let mut admin = MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))
                    .expect("MariaDB must run on 127.0.0.1:3306 (see README)");
                admin
                    .batch_execute(&format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    ))
                    .expect("create database");
                format!("{}/{name}", mysql_admin())
            }
        };
        TestDb { backend, name, url }
    }

    /// The database URL for `results-api`.
    pub fn url(&self) -> &str {
        &self.url
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
                .bind::<diesel::sql_types::Text, _>(&self.name)
                .get_result(&mut admin)?;
                Ok(killed.n as usize)
            }
            TestBackend::Mysql => {
                let mut admin = MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))?;
                let processes: Vec<Process> = diesel::sql_query(
                    "SELECT CAST(id AS SIGNED) AS id FROM information_schema.processlist \
                     WHERE db = ? AND id <> CONNECTION_ID()",
                )
                .bind::<diesel::sql_types::Text, _>(&self.name)
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

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = &self.name;
        let outcome = match self.backend {
            TestBackend::Sqlite => {
                let base = std::env::temp_dir().join(format!("{name}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", base.display()));
                }
                Ok(())
            }
            TestBackend::Postgres => {
                PgConnection::establish(&format!("{}/postgres", postgres_admin()))
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .map_err(|e| e.to_string())
                    })
            }
            TestBackend::Mysql => MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))
                .map_err(|e| e.to_string())
                .and_then(|mut c| {
                    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                        .map_err(|e| e.to_string())
                }),
        };
        if let Err(e) = outcome {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}
