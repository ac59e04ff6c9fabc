//! How much disk the database takes, for the report: per table where the backend says,
//! and per Record.

use anyhow::Context as _;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};

use crate::raw::{sqlite_path, Raw};

/// The database's size in bytes, in all and for its largest tables (name, bytes).
pub struct DbSize {
    /// Everything the database holds on disk (SQLite: the file and its WAL).
    pub total: u64,
    /// Tables with their indexes (and, on PostgreSQL, their TOAST data), largest first.
    pub tables: Vec<(String, u64)>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// Measures the database at `url` (after a checkpoint on SQLite, so the WAL is folded in).
pub fn measure(url: &str) -> anyhow::Result<DbSize> {
    let mut conn = Raw::connect(url)?;
    let rows: Vec<Row> = match &mut conn {
        Raw::Pg(c) => diesel::sql_query(
            "SELECT '(database)' AS name, pg_database_size(current_database()) AS bytes \
             UNION ALL SELECT relname::text AS name, pg_total_relation_size(oid) AS bytes \
             FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
        )
        .load(c),
        Raw::Mysql(c) => diesel::sql_query(
            "SELECT '(database)' AS name, CAST(COALESCE(SUM(data_length + index_length), 0) \
             AS SIGNED) AS bytes FROM information_schema.tables WHERE table_schema = DATABASE() \
             UNION ALL SELECT table_name AS name, CAST(data_length + index_length AS SIGNED) \
             AS bytes FROM information_schema.tables WHERE table_schema = DATABASE()",
        )
        .load(c),
        Raw::Sqlite(c) => {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(c)
                .context("checkpointing the SQLite WAL")?;
            // dbstat is compiled into the bundled SQLite only with SQLITE_ENABLE_DBSTAT_VTAB;
            // without it only the file size is reported.
            let tables = diesel::sql_query(
                "SELECT m.tbl_name AS name, CAST(SUM(d.pgsize) AS BIGINT) AS bytes \
                 FROM dbstat d JOIN sqlite_master m ON m.name = d.name GROUP BY m.tbl_name",
            )
            .load::<Row>(c)
            .unwrap_or_default();
            let path = sqlite_path(url);
            let file = |suffix: &str| {
                std::fs::metadata(format!("{path}{suffix}")).map_or(0, |m| m.len() as i64)
            };
            let mut rows = vec![Row {
                name: "(database)".into(),
                bytes: file("") + file("-wal"),
            }];
            rows.extend(tables);
            Ok(rows)
        }
    }
    .context("measuring the database size")?;
    let mut total = 0;
    let mut tables = Vec::new();
    for row in rows {
        let bytes = u64::try_from(row.bytes).unwrap_or(0);
        if row.name == "(database)" {
            total = bytes;
        } else {
            tables.push((row.name, bytes));
        }
    }
    tables.sort_by_key(|t| std::cmp::Reverse(t.1));
    tables.truncate(6);
    Ok(DbSize { total, tables })
}
