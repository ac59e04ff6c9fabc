//! Direct database access with diesel: the "database already holds results" check, and
//! the two yardsticks — the same records through plain single-row autocommit INSERTs into
//! a scratch table with only a primary key (`load_raw`), and into a copy of the server's
//! `records` table with every one of its indexes (`load_records`) — plus the cost of each
//! of those indexes (`--index-costs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text};
use diesel::{
    Connection, MysqlConnection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection,
};

use results_storage::store::{run_columns, RunColumns};

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

/// Which scratch table a yardstick loop inserts into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `load_raw`: id, parent, name and the document, a primary key only.
    PkOnly,
    /// `load_records`: a copy of the server's `records` table (same columns, same column
    /// types and compression, every index; no foreign key), filled with the columns the
    /// server writes.
    SchemaCopy,
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
                // diesel turns foreign keys on; the scratch file's copy of `records` names a
                // `results` table that is not there (the PostgreSQL and MySQL copies have no
                // foreign key at all), and nothing else here relies on them.
                c.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF;",
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

    /// One autocommit INSERT into `load_records`, with the columns the server writes for a
    /// Record (the Result's uid stands in for `result_id`: the copy has no foreign key).
    pub fn insert_record(&mut self, row: &CopyRow<'_>) -> diesel::QueryResult<usize> {
        macro_rules! run {
            ($c:expr, $sql:expr) => {
                diesel::sql_query($sql)
                    .bind::<Text, _>(row.id)
                    .bind::<Text, _>(row.result_id)
                    .bind::<Text, _>(row.parent)
                    .bind::<Text, _>(row.result_name)
                    .bind::<Text, _>(row.name)
                    .bind::<Text, _>(row.data_type)
                    .bind::<Text, _>(row.data)
                    .bind::<BigInt, _>(row.time)
                    .bind::<BigInt, _>(row.time)
                    .bind::<BigInt, _>(row.data.len() as i64)
                    .bind::<Nullable<SmallInt>, _>(row.run.run_state)
                    .bind::<Nullable<SmallInt>, _>(row.run.run_reason)
                    .bind::<Nullable<BigInt>, _>(row.run.run_start)
                    .bind::<Nullable<BigInt>, _>(row.run.run_end)
                    .execute($c)
            };
        }
        match self {
            Raw::Sqlite(c) => run!(
                c,
                "INSERT INTO load_records (id, result_id, parent, result_name, name, data_type, \
                 data, create_time, update_time, data_bytes, run_state, run_reason, run_start, \
                 run_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            Raw::Mysql(c) => run!(
                c,
                "INSERT INTO load_records (id, result_id, parent, result_name, name, data_type, \
                 data, create_time, update_time, data_bytes, run_state, run_reason, run_start, \
                 run_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            Raw::Pg(c) => run!(
                c,
                "INSERT INTO load_records (id, result_id, parent, result_name, name, data_type, \
                 data, create_time, update_time, data_bytes, run_state, run_reason, run_start, \
                 run_end) \
                 VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS jsonb), $8, $9, $10, $11, $12, $13, $14)"
            ),
        }
    }

    /// The secondary indexes of `load_records`: (name, definition), primary key excluded.
    pub fn copy_indexes(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        #[derive(QueryableByName)]
        struct Index {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = Text)]
            def: String,
        }
        let rows: Vec<Index> = match self {
            Raw::Sqlite(c) => diesel::sql_query(
                "SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name = 'load_records' AND sql IS NOT NULL ORDER BY name",
            )
            .load(c),
            Raw::Pg(c) => diesel::sql_query(
                "SELECT indexname::text AS name, indexdef AS def FROM pg_indexes \
                 WHERE tablename = 'load_records' AND indexname NOT LIKE '%pkey' ORDER BY indexname",
            )
            .load(c),
            Raw::Mysql(c) => diesel::sql_query(
                "SELECT index_name AS name, CAST(GROUP_CONCAT(column_name ORDER BY seq_in_index) \
                 AS CHAR) AS def FROM information_schema.statistics WHERE table_schema = DATABASE() \
                 AND table_name = 'load_records' AND index_name <> 'PRIMARY' \
                 GROUP BY index_name ORDER BY index_name",
            )
            .load(c),
        }
        .context("listing the indexes of load_records")?;
        Ok(rows.into_iter().map(|i| (i.name, i.def)).collect())
    }

    /// Drops index `name` of `load_records` (a name read from the catalog, checked to be a
    /// plain identifier before it is put into the statement).
    pub fn drop_copy_index(&mut self, name: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_'),
            "unexpected index name {name:?}"
        );
        let sql = match self {
            Raw::Mysql(_) => format!("ALTER TABLE load_records DROP INDEX {name}"),
            _ => format!("DROP INDEX {name}"),
        };
        self.batch(&sql)
            .with_context(|| format!("dropping index {name}"))
    }
}

/// A row of `load_records`: the columns of `records` the server writes.
pub struct CopyRow<'a> {
    /// The Record's uid.
    pub id: &'a str,
    /// Stands in for the Result's uid.
    pub result_id: &'a str,
    /// The namespace.
    pub parent: &'a str,
    /// The Result's name segment.
    pub result_name: &'a str,
    /// The Record's name segment.
    pub name: &'a str,
    /// The record type.
    pub data_type: &'a str,
    /// The document.
    pub data: &'a str,
    /// Create and update time, Unix nanoseconds.
    pub time: i64,
    /// What summaries read of the document, extracted as the server extracts it.
    pub run: RunColumns,
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

/// Creates `load_records` in the scratch database as a copy of the server's `records` table
/// in `main_url` (dropping a leftover): PostgreSQL `LIKE … INCLUDING ALL` and MySQL `LIKE`
/// copy columns, compression and indexes but no foreign key; on SQLite, whose scratch is a
/// file of its own, the table's and indexes' DDL is read from the server's file and replayed
/// under the new names (foreign keys are not enforced on these connections).
pub fn create_schema_copy(main_url: &str, scratch: &str) -> anyhow::Result<()> {
    let mut c = Raw::connect(scratch)?;
    match c {
        Raw::Pg(_) => c.batch(
            "DROP TABLE IF EXISTS load_records; \
             CREATE TABLE load_records (LIKE records INCLUDING ALL)",
        ),
        Raw::Mysql(_) => {
            c.batch("DROP TABLE IF EXISTS load_records; CREATE TABLE load_records LIKE records")
        }
        Raw::Sqlite(_) => {
            #[derive(QueryableByName)]
            struct Ddl {
                #[diesel(sql_type = Text)]
                sql: String,
            }
            let Raw::Sqlite(main) = &mut Raw::connect(main_url)? else {
                unreachable!("the scratch of a SQLite database is SQLite");
            };
            // The table first, then its indexes.
            let ddl: Vec<Ddl> = diesel::sql_query(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'records' AND sql IS NOT NULL \
                 ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, name",
            )
            .load(main)
            .context("reading the DDL of the records table")?;
            let mut script = String::from("DROP TABLE IF EXISTS load_records;\n");
            for Ddl { sql } in ddl {
                // `CREATE TABLE records (` and `CREATE INDEX records_x ON records (`: the
                // first `records` is the object's own name, then the table it is on.
                let renamed = sql.replacen("records", "load_records", 1).replacen(
                    " ON records ",
                    " ON load_records ",
                    1,
                );
                anyhow::ensure!(
                    renamed.starts_with("CREATE TABLE") || renamed.contains(" ON load_records "),
                    "unexpected DDL for the records table: {sql}"
                );
                script.push_str(&renamed);
                script.push_str(";\n");
            }
            c.batch(&script)
        }
    }
    .context("creating load_records, a copy of the records table")
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
        .batch("DROP TABLE IF EXISTS load_raw; DROP TABLE IF EXISTS load_records")
        .context("dropping load_raw and load_records")
}

/// Inserts records `range` into `table` with `concurrency` threads, each with its own
/// connection, stopping at `deadline`.
pub fn insert_loop(
    url: &str,
    table: Table,
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
                    let outcome = match table {
                        Table::PkOnly => {
                            conn.insert(&spec.uid, spec.result.namespace, &spec.name, &data)
                        }
                        Table::SchemaCopy => conn.insert_record(&CopyRow {
                            id: &spec.uid,
                            result_id: &spec.result.name,
                            parent: spec.result.namespace,
                            result_name: &spec.result.run,
                            name: &spec.uid,
                            data_type: spec.type_(),
                            data: &data,
                            time: now_nanos(),
                            run: run_columns(data.as_bytes()),
                        }),
                    };
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

/// The clock in Unix nanoseconds, as the server stamps create times.
fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
