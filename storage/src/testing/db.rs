//! [`TestDb`]: a fresh, empty database per test on any backend, dropped with the value,
//! optionally migrated with a connection pool. PostgreSQL and MariaDB are reached at
//! their standard local addresses; `RESULTS_TEST_POSTGRES_URL` / `RESULTS_TEST_MYSQL_URL`
//! override them (admin URLs without a database).

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};

use crate::{Backend, Database, Error, PoolSettings, Result};

/// The PostgreSQL server URL (no database).
pub fn postgres_admin() -> String {
    std::env::var("RESULTS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The MariaDB/MySQL server URL (no database).
pub fn mysql_admin() -> String {
    std::env::var("RESULTS_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database that exists for one test; dropped (with its pool, if any) with this value.
#[derive(Debug)]
pub struct TestDb {
    // Dropped before the database: MariaDB waits for open connections' locks.
    database: Option<Database>,
    backend: Backend,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a fresh, empty database on `backend`, for a server to migrate itself.
    pub fn create(backend: Backend) -> TestDb {
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
        TestDb {
            database: None,
            backend,
            name,
            url,
        }
    }

    /// Creates a fresh database on `backend`, migrated, with a connection pool.
    pub fn migrated(backend: Backend) -> TestDb {
        let mut db = TestDb::create(backend);
        let database = Database::connect(&db.url, PoolSettings::default()).expect("connect");
        database.migrate().expect("migrate");
        db.database = Some(database);
        db
    }

    /// [`TestDb::migrated`] holding one empty Result, `name` (e.g. `ns/results/r`), with
    /// uid `result-uid`, created at 1 ns.
    pub fn migrated_with_result(backend: Backend, name: &str) -> TestDb {
        let db = TestDb::migrated(backend);
        let result = crate::model::NewResult {
            name: crate::model::ResultName::parse(name).expect("a Result name"),
            annotations: std::collections::BTreeMap::new(),
            summary: None,
        };
        let mut conn = db.database().get().expect("a connection");
        crate::store::create_result(
            &mut conn,
            result,
            "result-uid".into(),
            crate::model::Timestamp::from_nanos(1),
        )
        .expect("creating the Result");
        drop(conn);
        db
    }

    /// The pool of a database made by [`TestDb::migrated`].
    ///
    /// # Panics
    /// On a database made by [`TestDb::create`], which has no pool.
    pub fn database(&self) -> &Database {
        self.database
            .as_ref()
            .expect("only TestDb::migrated makes a pool")
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

    /// Kills every server connection to this database (as a database restart or a
    /// network cut would); says how many. SQLite has no connections to kill.
    pub fn kill_connections(&self) -> Result<usize> {
        #[derive(diesel::QueryableByName)]
        struct Killed {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let unreachable = |e: diesel::ConnectionError| Error::Connect(e.to_string());
        match self.backend {
            Backend::Sqlite => Ok(0),
            Backend::Postgres => {
                let mut admin =
                    diesel::PgConnection::establish(&format!("{}/postgres", postgres_admin()))
                        .map_err(unreachable)?;
                let killed: Killed = diesel::sql_query(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind::<diesel::sql_types::Text, _>(&self.name)
                .get_result(&mut admin)
                .map_err(Error::db("killing connections"))?;
                Ok(killed.n as usize)
            }
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                #[derive(diesel::QueryableByName)]
                struct Process {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    id: i64,
                }
                let mut admin =
                    diesel::MysqlConnection::establish(&format!("{}/mysql", mysql_admin()))
                        .map_err(unreachable)?;
                let processes: Vec<Process> = diesel::sql_query(
                    "SELECT CAST(id AS SIGNED) AS id FROM information_schema.processlist \
                     WHERE db = ? AND id <> CONNECTION_ID()",
                )
                .bind::<diesel::sql_types::Text, _>(&self.name)
                .load(&mut admin)
                .map_err(Error::db("listing connections"))?;
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
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => panic!("built without the mysql feature"),
        }
    }
}

fn sqlite_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{name}.db"))
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop(self.database.take());
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
