//! ListResults: keyset pages (see [`super::list`]) bounded by the bytes of their
//! annotations as well as by `page_size`, read in chunks like Record pages.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};

use crate::connection::{with_conn, Backend, Conn};
use crate::fragment::Fragment;
use crate::json::Json;
use crate::limits::MAX_PAGE_BYTES;
use crate::model::{ListScope, StoredResult, Timestamp};
use crate::page::{Collection, Cursor, OrderField, TokenSigner};
use crate::rows::ResultRow;
use crate::schema::results;
use crate::store::chunks::Fetched;
use crate::store::list::{ListRequest, Page, PageQuery, Plan};
use crate::store::page_select::PageSelect;
use crate::store::projection::text_bytes;
use crate::{Error, Result};

/// The columns of a listed Result, in [`ResultRow`]'s order: both annotation maps only
/// when together they are at most a chunk's per-row budget (else `{}` and NULL), then
/// their size in bytes.
pub(crate) type ListedColumns = (
    (
        results::id,
        results::parent,
        results::name,
        Fragment<Json>,
        results::summary_record,
        results::summary_type,
        results::summary_status,
        results::summary_start_time,
        results::summary_end_time,
        Fragment<Nullable<Json>>,
        results::create_time,
        results::update_time,
    ),
    Fragment<BigInt>,
);

/// ListResults: a page of at most `page_size` Results whose annotations (their own and
/// their summary's) add up to at most [`MAX_PAGE_BYTES`] (see [`list_results_within`]).
pub fn list_results(
    conn: &mut Conn,
    signer: &TokenSigner,
    request: &ListRequest<ListScope>,
) -> Result<Page<StoredResult>> {
    list_results_within(conn, signer, request, MAX_PAGE_BYTES)
}

/// ListResults with a page's annotations bounded by `max_page_bytes`, as
/// [`list_records_within`](super::list_records_within) bounds documents: a page may end
/// before `page_size` Results, holds at least one, and its token continues after its last.
pub fn list_results_within(
    conn: &mut Conn,
    signer: &TokenSigner,
    request: &ListRequest<ListScope>,
    max_page_bytes: usize,
) -> Result<Page<StoredResult>> {
    let backend = conn.backend();
    let plan = Plan::new(Collection::Results, backend, signer, request)?;
    plan.read_page(
        max_page_bytes,
        || scope(request),
        result_cursor,
        |page, chunk| {
            conn.note_statement_shape(page.shape());
            let columns = listed_columns(backend, chunk.row_bytes);
            let rows: Vec<(ResultRow, i64)> = with_conn!(conn, |c| results_query(page, columns)
                .load(c))
            .map_err(|e| conn.discard_if_desynced(Error::db("listing results")(e)))?;
            rows.into_iter()
                .map(|(row, bytes)| Fetched::new(row.into_model()?, bytes, chunk))
                .collect()
        },
    )
}

/// The rows of a Result listing's parent (`-` adds no condition).
fn scope(request: &ListRequest<ListScope>) -> Fragment {
    super::list::column_in_scope("parent", &request.scope)
}

/// Where a Result listing continues after `r`.
fn result_cursor(plan: &Plan, r: &StoredResult) -> Cursor {
    let keys = plan.order.keys.iter().flat_map(|(field, _)| match field {
        OrderField::CreateTime => vec![r.create_time.as_nanos()],
        OrderField::UpdateTime => vec![r.update_time.as_nanos()],
        OrderField::SummaryStartTime => nullable(r.summary.as_ref().and_then(|s| s.start_time)),
        OrderField::SummaryEndTime => nullable(r.summary.as_ref().and_then(|s| s.end_time)),
    });
    Cursor {
        keys: keys.collect(),
        uid: r.uid.clone(),
    }
}

/// Sort keys of an absent-able time: `[0, 0]` when absent (sorts first), else `[1, t]`.
fn nullable(time: Option<Timestamp>) -> Vec<i64> {
    match time {
        None => vec![0, 0],
        Some(t) => vec![1, t.as_nanos()],
    }
}

/// The select list of a Result listing's chunk whose per-row budget is `row_bytes` (a
/// bound parameter: every budget runs the same statement).
fn listed_columns(backend: Backend, row_bytes: i64) -> ListedColumns {
    let bytes = || {
        let mut f = Fragment::<BigInt>::new();
        f.sql("(COALESCE(")
            .append(text_bytes(column("results.annotations"), backend))
            .sql(", 0) + COALESCE(")
            .append(text_bytes(column("results.summary_annotations"), backend))
            .sql(", 0))");
        f
    };
    let sent = |column: &'static str, otherwise: &'static str| {
        let mut f = Fragment::new();
        f.sql("CASE WHEN ")
            .append(bytes())
            .sql(" <= ")
            .bigint(row_bytes)
            .sql(" THEN ")
            .sql(column)
            .sql(" ELSE ")
            .sql(otherwise)
            .sql(" END");
        f
    };
    let empty = match backend {
        Backend::Postgres => "CAST('{}' AS jsonb)",
        _ => "'{}'",
    };
    (
        (
            results::id,
            results::parent,
            results::name,
            sent("results.annotations", empty),
            results::summary_record,
            results::summary_type,
            results::summary_status,
            results::summary_start_time,
            results::summary_end_time,
            sent("results.summary_annotations", "NULL").cast(),
            results::create_time,
            results::update_time,
        ),
        bytes(),
    )
}

/// A column, as a fragment.
fn column(name: &'static str) -> Fragment<Json> {
    let mut f = Fragment::new();
    f.sql(name);
    f
}

/// Validates a ListResults request: the query and columns of the first chunk of the page
/// it asks for (see [`list_results`]).
// Only the EXPLAIN helpers of `testing` ask for the query without running it.
#[cfg(any(test, feature = "test-support"))]
pub(crate) fn results_listing(
    backend: Backend,
    signer: &TokenSigner,
    request: &ListRequest<ListScope>,
) -> Result<(PageQuery, ListedColumns)> {
    let plan = Plan::new(Collection::Results, backend, signer, request)?;
    let chunk = crate::store::chunks::Chunk::first(plan.page_size, MAX_PAGE_BYTES);
    let page = plan.page_query(scope(request), chunk.limit);
    Ok((page, listed_columns(backend, chunk.row_bytes)))
}

/// The query a chunk of a ListResults page runs, on every backend;
/// `testing::explain_list_results` explains this same query.
pub(crate) fn results_query(page: PageQuery, columns: ListedColumns) -> PageSelect<ListedColumns> {
    PageSelect::new("results", columns, page)
}
