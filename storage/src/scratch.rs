//! Throwaway databases for tests (this crate's and the `integration` crate's, through the
//! `test-support` feature): a fresh, empty database per test on each backend, dropped
//! with the value. PostgreSQL and MariaDB are reached at their standard local addresses;
//! `RESULTS_TEST_POSTGRES_URL` / `RESULTS_TEST_MYSQL_URL` override them (admin URLs
//! without a database).

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::Backend;

/// The PostgreSQL server URL (no database).
pub fn postgres_admin() -> String {
    std::env::var("RESULTS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The MariaDB/MySQL server URL (no database).
pub fn mysql_admin() -> String {
    std::env::var("RESULTS_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database that exists for one test; dropped with this value.
#[derive(Debug)]
pub struct ScratchDb {
    backend: Backend,
    name: String,
    url: String,
}

impl ScratchDb {
    /// Creates a fresh, empty database on `backend`.
    pub fn create(backend: Backend) -> ScratchDb {
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
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                diesel::MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))
                    .expect("MariaDB must run on 127.0.0.1:3306 (see README)")
                    .batch_execute(&format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    ))
                    .expect("create database");
                format!("{}/{name}", mysql_admin())
            }
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => panic!("built without the mysql feature"),
        };
        ScratchDb { backend, name, url }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

fn sqlite_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{name}.db"))
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
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
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                diesel::MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                            .map_err(|e| e.to_string())
                    })
            }
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => Ok(()),
        };
        if let Err(e) = outcome {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}
