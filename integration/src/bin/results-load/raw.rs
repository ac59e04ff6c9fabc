//! Direct database access with diesel: the "database already holds results" check, and
//! the yardstick — plain single-row autocommit INSERTs into a scratch table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{
    Connection, MysqlConnection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection,
};

use crate::stats::Stats;
use crate::workload::Workload;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH`.
    Sqlite,
    /// `postgres://…`.
    Postgres,
    /// `mysql://…`.
    Mysql,
}

impl Backend {
    /// The backend of `url`.
    pub fn of(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("mysql://") {
            Ok(Backend::Mysql)
        } else {
            anyhow::bail!(
                "--database-url must start with sqlite://, postgres:// or mysql:// (got {url:?})"
            )
        }
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL/MariaDB",
        }
    }
}

/// The file path of a `sqlite://PATH` URL.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// One connection of any backend.
pub enum Raw {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Pg(PgConnection),
    /// MySQL/MariaDB.
    Mysql(MysqlConnection),
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Raw {
    /// Connects; SQLite connections get the server's pragmas (WAL, synchronous=NORMAL).
    pub fn connect(url: &str) -> anyhow::Result<Raw> {
        Ok(match Backend::of(url)? {
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(sqlite_path(url))
                    .with_context(|| format!("cannot open SQLite file {}", sqlite_path(url)))?;
                c.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000;",
                )?;
                Raw::Sqlite(c)
            }
            Backend::Postgres => Raw::Pg(PgConnection::establish(url).with_context(|| {
                "cannot connect to PostgreSQL (the database in the URL must already exist)"
            })?),
            Backend::Mysql => Raw::Mysql(MysqlConnection::establish(url).with_context(|| {
                "cannot connect to MySQL/MariaDB (the database in the URL must already exist)"
            })?),
        })
    }

    /// Runs SQL statements.
    pub fn batch(&mut self, sql: &str) -> diesel::QueryResult<()> {
        match self {
            Raw::Sqlite(c) => c.batch_execute(sql),
            Raw::Pg(c) => c.batch_execute(sql),
            Raw::Mysql(c) => c.batch_execute(sql),
        }
    }

    /// Whether the `results` table exists and holds a row.
    pub fn has_results(&mut self) -> anyhow::Result<bool> {
        let sql = "SELECT COUNT(*) AS n FROM (SELECT 1 AS x FROM results LIMIT 1) t";
        let q = diesel::sql_query(sql);
        let outcome = match self {
            Raw::Sqlite(c) => q.get_result::<Count>(c),
            Raw::Pg(c) => q.get_result::<Count>(c),
            Raw::Mysql(c) => q.get_result::<Count>(c),
        };
        match outcome {
            Ok(count) => Ok(count.n > 0),
            Err(e) => {
                let msg = e.to_string();
                if msg.contains("no such table")
                    || msg.contains("does not exist")
                    || msg.contains("doesn't exist")
                {
                    Ok(false)
                } else {
                    Err(e).context("checking whether the database already holds results")
                }
            }
        }
    }

    /// One autocommit INSERT into `load_raw`.
    pub fn insert(
        &mut self,
        id: &str,
        parent: &str,
        name: &str,
        data: &str,
    ) -> diesel::QueryResult<usize> {
        macro_rules! run {
            ($c:expr, $sql:expr) => {
                diesel::sql_query($sql)
                    .bind::<Text, _>(id)
                    .bind::<Text, _>(parent)
                    .bind::<Text, _>(name)
                    .bind::<Text, _>(data)
                    .execute($c)
            };
        }
        match self {
            Raw::Sqlite(c) => run!(
                c,
                "INSERT INTO load_raw (id, parent, name, data) VALUES (?, ?, ?, ?)"
            ),
            Raw::Mysql(c) => run!(
                c,
                "INSERT INTO load_raw (id, parent, name, data) VALUES (?, ?, ?, ?)"
            ),
            Raw::Pg(c) => run!(
                c,
                "INSERT INTO load_raw (id, parent, name, data) VALUES ($1, $2, $3, CAST($4 AS jsonb))"
            ),
        }
    }
}

/// The scratch database URL: a separate SQLite file next to the main one, else the same
/// database.
pub fn scratch_url(url: &str) -> String {
    match Backend::of(url) {
        Ok(Backend::Sqlite) => format!("sqlite://{}.load-raw", sqlite_path(url)),
        _ => url.to_owned(),
    }
}

/// Creates the scratch table (dropping a leftover of an interrupted run).
pub fn create_scratch(url: &str) -> anyhow::Result<()> {
    let mut c = Raw::connect(url)?;
    // The same column types the server stores documents in (jsonb, JSON, checked TEXT),
    // so that the yardstick pays the same parsing cost.
    let ddl = match c {
        // MySQL cannot index TEXT without a length.
        Raw::Mysql(_) => "DROP TABLE IF EXISTS load_raw; CREATE TABLE load_raw (id VARCHAR(64) PRIMARY KEY, parent TEXT, name TEXT, data JSON)",
        Raw::Pg(_) => "DROP TABLE IF EXISTS load_raw; CREATE TABLE load_raw (id TEXT PRIMARY KEY, parent TEXT, name TEXT, data JSONB)",
        Raw::Sqlite(_) => "DROP TABLE IF EXISTS load_raw; CREATE TABLE load_raw (id TEXT PRIMARY KEY, parent TEXT, name TEXT, data TEXT CHECK (json_valid(data)))",
    };
    c.batch(ddl).context("creating the scratch table load_raw")
}

/// Drops the scratch table, and for SQLite removes the scratch file.
pub fn drop_scratch(url: &str) -> anyhow::Result<()> {
    if Backend::of(url)? == Backend::Sqlite {
        let path = sqlite_path(url);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
        return Ok(());
    }
    Raw::connect(url)?
        .batch("DROP TABLE IF EXISTS load_raw")
        .context("dropping load_raw")
}

/// Inserts records `range` with `concurrency` threads, each with its own connection,
/// stopping at `deadline`.
pub fn insert_loop(
    url: &str,
    workload: &Workload,
    range: std::ops::Range<u64>,
    concurrency: usize,
    deadline: Instant,
) -> anyhow::Result<Stats> {
    let next = AtomicU64::new(range.start);
    let merged = Mutex::new(Stats::default());
    let mut conns = Vec::new();
    for _ in 0..concurrency {
        conns.push(Raw::connect(url)?);
    }
    let started = Instant::now();
    std::thread::scope(|scope| {
        for mut conn in conns {
            let (next, merged, end) = (&next, &merged, range.end);
            scope.spawn(move || {
                let mut stats = Stats::default();
                loop {
                    if Instant::now() >= deadline {
                        stats.truncated = true;
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        break;
                    }
                    let spec = workload.record(i);
                    let doc = workload.document(&spec, false);
                    let data = String::from_utf8(doc).unwrap_or_default();
                    let t0 = Instant::now();
                    let outcome = conn.insert(&spec.uid, spec.result.namespace, &spec.name, &data);
                    stats.observe(t0.elapsed(), outcome.map(|_| ()).map_err(|e| e.to_string()));
                }
                merged
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .merge(stats);
            });
        }
    });
    let mut stats = merged.into_inner().unwrap_or_else(|p| p.into_inner());
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Whether the database holds no Result yet (a missing `results` table counts as empty).
pub fn check_empty(url: &str) -> anyhow::Result<bool> {
    Ok(!Raw::connect(url)?.has_results()?)
}
