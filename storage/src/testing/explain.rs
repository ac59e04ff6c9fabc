//! The plan of exactly the query a page of ListResults or ListRecords runs: the same
//! SQL, built by the same function, behind the backend's `EXPLAIN`, with the same bound
//! parameters on SQLite and MySQL/MariaDB (PostgreSQL's generic plan does not depend on
//! them). For the tests that pin plan shapes.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Integer, Text, Untyped};
use diesel::{PgConnection, SqliteConnection};

use crate::connection::{with_conn, Conn};
use crate::model::{ListScope, RecordScope};
use crate::page::TokenSigner;
use crate::store::list::{records_listing, records_query};
use crate::store::result_list::{results_listing, results_query};
use crate::store::run_columns::pending_ids;
use crate::store::ListRequest;
use crate::testing::QueryPlan;
use crate::{Error, Result};

/// The plan of the query [`list_results`](crate::store::list_results) would run for
/// `request` on `conn` (the page the request's token points at, if any).
///
/// A diagnostic: it validates the request like the listing does but reads no rows.
/// On PostgreSQL it shows the generic plan, which is what connections of a
/// [`Database`](crate::Database) run (they set `plan_cache_mode = force_generic_plan`);
/// on other connections it fails rather than show a plan they would not use.
pub fn explain_list_results(
    conn: &mut Conn,
    signer: &TokenSigner,
    request: &ListRequest<ListScope>,
) -> Result<QueryPlan> {
    let (page, columns) = results_listing(conn.backend(), signer, request)?;
    with_conn!(conn, |c| c.explain_plan(results_query(page, columns)))
}

/// The plan of the query [`list_records`](crate::store::list_records) would run for
/// `request` on `conn`; see [`explain_list_results`].
pub fn explain_list_records(
    conn: &mut Conn,
    signer: &TokenSigner,
    request: &ListRequest<RecordScope>,
) -> Result<QueryPlan> {
    let (page, columns) = records_listing(conn.backend(), conn.indexed_paths(), signer, request)?;
    with_conn!(conn, |c| c.explain_plan(records_query(page, columns)))
}

/// The plan of the scan that [`backfill_run_columns`](crate::store::backfill_run_columns)
/// runs for the batch after `after`.
pub fn explain_backfill_scan(conn: &mut Conn, after: &str) -> Result<QueryPlan> {
    with_conn!(conn, |c| c.explain_plan(pending_ids(after)))
}

/// A connection that can report the plan of a query.
trait ExplainPlan: Connection {
    fn explain_plan<Q>(&mut self, query: Q) -> Result<QueryPlan>
    where
        Q: QueryFragment<Self::Backend> + QueryId;
}

/// `<prefix> <query>`, with the query's bind parameters, read as untyped rows.
struct Explain<Q> {
    prefix: &'static str,
    query: Q,
}

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<Q> {
    type SqlType = Untyped;
}

impl<Q, C> RunQueryDsl<C> for Explain<Q> {}

impl<Q, DB> QueryFragment<DB> for Explain<Q>
where
    DB: diesel::backend::Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(self.prefix);
        self.query.walk_ast(out.reborrow())
    }
}

#[derive(QueryableByName)]
struct SqliteExplainRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Integer)]
    parent: i32,
    #[diesel(sql_type = Text)]
    detail: String,
}

impl ExplainPlan for SqliteConnection {
    fn explain_plan<Q>(&mut self, query: Q) -> Result<QueryPlan>
    where
        Q: QueryFragment<diesel::sqlite::Sqlite> + QueryId,
    {
        let rows: Vec<SqliteExplainRow> = Explain {
            prefix: "EXPLAIN QUERY PLAN ",
            query,
        }
        .load(self)
        .map_err(Error::db("explaining a query"))?;
        let rows: Vec<_> = rows
            .into_iter()
            .map(|r| (r.id, r.parent, r.detail))
            .collect();
        Ok(QueryPlan::from_sqlite_rows(&rows))
    }
}

/// The prepared statement `explain_plan` creates on PostgreSQL, and drops again.
const PG_STATEMENT: &str = "results_storage_explain";

#[derive(QueryableByName)]
struct PgPrepared {
    #[diesel(sql_type = Integer)]
    params: i32,
    #[diesel(sql_type = Text)]
    mode: String,
}

#[derive(QueryableByName)]
struct PgExplainRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// PostgreSQL plans a plain `EXPLAIN` with its bound values as constants (a custom
/// plan), while the listing runs as a prepared statement whose plan the plan cache picks
/// (generic on a Database's connections). `EXPLAIN EXECUTE` of the same SQL, prepared,
/// asks the plan cache itself, so the plan shown is the plan run. A generic plan does
/// not depend on values, so the parameters are passed as NULL.
impl ExplainPlan for PgConnection {
    fn explain_plan<Q>(&mut self, query: Q) -> Result<QueryPlan>
    where
        Q: QueryFragment<diesel::pg::Pg> + QueryId,
    {
        // `DebugQuery` displays the SQL sent (placeholders, never values), then the binds.
        let shown = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
        let sql = shown
            .split_once(" -- binds: ")
            .map_or(shown.as_str(), |(s, _)| s);
        self.batch_execute(&format!("PREPARE {PG_STATEMENT} AS {sql}"))
            .map_err(Error::db("preparing a query to explain"))?;
        let plan = explain_prepared(self);
        let dropped = self
            .batch_execute(&format!("DEALLOCATE {PG_STATEMENT}"))
            .map_err(Error::db("dropping an explained query"));
        let plan = plan?;
        dropped?;
        Ok(plan)
    }
}

fn explain_prepared(conn: &mut PgConnection) -> Result<QueryPlan> {
    let prepared: PgPrepared = diesel::sql_query(
        "SELECT cardinality(parameter_types) AS params, \
         current_setting('plan_cache_mode') AS mode \
         FROM pg_prepared_statements WHERE name = $1",
    )
    .bind::<Text, _>(PG_STATEMENT)
    .get_result(conn)
    .map_err(Error::db("reading a prepared query"))?;
    if prepared.mode != "force_generic_plan" {
        return Err(Error::Unimplemented(format!(
            "explaining a listing on PostgreSQL needs plan_cache_mode = force_generic_plan, \
             as connections of a Database have (this one has {})",
            prepared.mode
        )));
    }
    let args = match prepared.params {
        0 => String::new(),
        n => format!("({})", vec!["NULL"; n as usize].join(", ")),
    };
    let row: PgExplainRow = diesel::sql_query(format!(
        "EXPLAIN (FORMAT JSON) EXECUTE {PG_STATEMENT}{args}"
    ))
    .get_result(conn)
    .map_err(Error::db("explaining a query"))?;
    QueryPlan::from_postgres_json(row.plan)
}

#[cfg(feature = "mysql")]
#[derive(QueryableByName)]
struct MysqlExplainRow {
    #[diesel(sql_type = Text, column_name = "EXPLAIN")]
    plan: String,
}

/// MySQL and MariaDB plan a prepared statement with its bound values on every execution,
/// so `EXPLAIN` of the same statement with the same values shows the plan run.
#[cfg(feature = "mysql")]
impl ExplainPlan for diesel::MysqlConnection {
    fn explain_plan<Q>(&mut self, query: Q) -> Result<QueryPlan>
    where
        Q: QueryFragment<diesel::mysql::Mysql> + QueryId,
    {
        let row: MysqlExplainRow = Explain {
            prefix: "EXPLAIN FORMAT=JSON ",
            query,
        }
        .get_result(self)
        .map_err(Error::db("explaining a query"))?;
        QueryPlan::from_mysql_json(row.plan)
    }
}
