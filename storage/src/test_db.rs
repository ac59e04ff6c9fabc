//! Throwaway databases for this crate's own tests: a fresh, migrated database per test
//! on each backend, dropped afterwards. The conventions (names, admin URLs and their
//! `RESULTS_TEST_*_URL` overrides) are those of `integration::db`, which this crate
//! cannot use: `integration` depends on it.

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::{Backend, Database, PoolSettings};

fn postgres_admin() -> String {
    std::env::var("RESULTS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn mysql_admin() -> String {
    std::env::var("RESULTS_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A migrated database that exists for one test.
pub(crate) struct TestDb {
    backend: Backend,
    name: String,
    database: Option<Database>,
}

impl TestDb {
    /// Creates and migrates a fresh database on `backend`.
    pub(crate) fn create(backend: Backend) -> TestDb {
        let name = format!("results_test_{}", uuid::Uuid::new_v4().simple());
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", sqlite_file(&name).display()),
            Backend::Postgres => {
                diesel::PgConnection::establish(&format!("{}/postgres", postgres_admin()))
                    .expect("PostgreSQL must run on 127.0.0.1:5432 (see README)")
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                format!("{}/{name}", postgres_admin())
            }
            Backend::Mysql => {
                diesel::MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))
                    .expect("MariaDB must run on 127.0.0.1:3306 (see README)")
                    .batch_execute(&format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    ))
                    .expect("create database");
                format!("{}/{name}", mysql_admin())
            }
        };
        let mut db = TestDb {
            backend,
            name,
            database: None,
        };
        let database = Database::connect(&url, PoolSettings::default()).expect("connect");
        database.migrate().expect("migrate");
        db.database = Some(database);
        db
    }

    /// The pool.
    pub(crate) fn database(&self) -> &Database {
        self.database.as_ref().expect("open until dropped")
    }
}

fn sqlite_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{name}.db"))
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Close the pool first: MariaDB waits for open connections' locks.
        self.database = None;
        let name = &self.name;
        let outcome = match self.backend {
            Backend::Sqlite => {
                let base = sqlite_file(name);
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", base.display()));
                }
                Ok(())
            }
            Backend::Postgres => {
                diesel::PgConnection::establish(&format!("{}/postgres", postgres_admin()))
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .map_err(|e| e.to_string())
                    })
            }
            Backend::Mysql => {
                diesel::MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                            .map_err(|e| e.to_string())
                    })
            }
        };
        if let Err(e) = outcome {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}
