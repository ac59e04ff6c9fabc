//! The one diesel schema (`schema.rs`) against each backend's migrations: once migrated,
//! every table has exactly the columns the schema names, so a column added to one side
//! only (or to one backend's migrations only) fails here rather than in a query. Generated
//! columns (the sort keys of `000003_listing_indexes` on SQLite and MariaDB) are computed,
//! never written or selected by name through the schema, so they are left out.

use diesel::prelude::*;
use diesel::query_builder::QueryFragment;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use crate::connection::{with_conn, Backend};
use crate::schema::{
    change_log_head, changes, json_path_indexes, leases, records, results, webhook_cursors,
};
use crate::testing::TestDb;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The columns `query` (`SELECT <all columns> FROM table`) selects, sorted: its SQL as
/// diesel writes it for SQLite (`` `table`.`column` ``, the same names on every backend).
fn schema_columns(query: impl QueryFragment<Sqlite>) -> Vec<String> {
    let sql = diesel::debug_query::<Sqlite, _>(&query).to_string();
    let list = sql
        .strip_prefix("SELECT ")
        .and_then(|s| s.split(" FROM ").next())
        .expect("a SELECT");
    let mut names: Vec<String> = list
        .split(", ")
        .map(|c| {
            c.rsplit('.')
                .next()
                .unwrap_or(c)
                .trim_matches('`')
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

/// The stored (not generated) columns of `table` in the migrated database, sorted.
fn database_columns(db: &TestDb, table: &str) -> Vec<String> {
    let sql = match db.backend() {
        Backend::Postgres => format!(
            "SELECT CAST(column_name AS text) AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        Backend::Mysql => format!(
            "SELECT column_name AS name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}' \
             AND is_generated = 'NEVER'"
        ),
        // `hidden` is 2 or 3 for generated columns.
        Backend::Sqlite => {
            format!("SELECT name FROM pragma_table_xinfo('{table}') WHERE hidden = 0")
        }
    };
    let mut conn = db.database().get().expect("a connection");
    let rows: Vec<Column> =
        with_conn!(&mut conn, |c| diesel::sql_query(&sql).load(c)).expect("columns");
    let mut names: Vec<String> = rows.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

fn columns_match(backend: Backend) {
    let db = TestDb::migrated(backend);
    let tables = [
        (
            "results",
            schema_columns(results::table.select(results::all_columns)),
        ),
        (
            "records",
            schema_columns(records::table.select(records::all_columns)),
        ),
        (
            "changes",
            schema_columns(changes::table.select(changes::all_columns)),
        ),
        (
            "change_log_head",
            schema_columns(change_log_head::table.select(change_log_head::all_columns)),
        ),
        (
            "webhook_cursors",
            schema_columns(webhook_cursors::table.select(webhook_cursors::all_columns)),
        ),
        (
            "leases",
            schema_columns(leases::table.select(leases::all_columns)),
        ),
        (
            "json_path_indexes",
            schema_columns(json_path_indexes::table.select(json_path_indexes::all_columns)),
        ),
    ];
    for (table, schema) in tables {
        assert!(schema.len() >= 2, "{table}: {schema:?}");
        assert_eq!(
            database_columns(&db, table),
            schema,
            "{backend:?}: the migrated {table} table against schema.rs"
        );
    }
}

#[test]
fn schema_matches_the_migrations_on_sqlite() {
    columns_match(Backend::Sqlite);
}

#[test]
fn schema_matches_the_migrations_on_postgres() {
    columns_match(Backend::Postgres);
}

#[test]
fn schema_matches_the_migrations_on_mariadb() {
    columns_match(Backend::Mysql);
}
