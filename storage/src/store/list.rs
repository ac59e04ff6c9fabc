//! Keyset pagination over an index-friendly order (the [`Plan`] of a listing), and
//! ListRecords; ListResults is in [`super::result_list`]. Pages are read in chunks (see
//! [`super::chunks`]) and bounded by bytes as well as by `page_size`.
//!
//! On MySQL/MariaDB a listing scoped to one namespace names the index of its order
//! (`FORCE INDEX`, see [`namespace_index`]): MariaDB 10.11 otherwise reads that index as
//! `ref` on the namespace alone whenever the rows after the page token are a large share
//! of the table (it costs the keyset's `range` above a table scan and drops it), and so
//! re-reads every earlier page's rows on each later page.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::connection::{with_conn, Backend, Conn};
use crate::filter::{Environment, Filter, IndexedPaths};
use crate::fragment::Fragment;
use crate::limits::MAX_PAGE_BYTES;
use crate::model::{ListScope, Projection, RecordScope, StoredRecord};
use crate::page::{
    page_size, Collection, Cursor, Direction, Order, OrderField, TokenScope, TokenSigner,
};
use crate::rows::RecordRow;
use crate::store::chunks::{self, Chunk, Fetched};
use crate::store::page_select::PageSelect;
use crate::store::projection::{self, ListedColumns};
use crate::{Error, Result};

/// A List request as received, before validation.
#[derive(Debug, Clone)]
pub struct ListRequest<S> {
    /// Where to list (with `-` wildcards).
    pub scope: S,
    /// CEL filter (empty = everything).
    pub filter: String,
    /// Requested page size (0 = default).
    pub page_size: i32,
    /// Token from the previous page (empty = first page).
    pub page_token: String,
    /// `order_by` as given.
    pub order_by: String,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows, in order.
    pub items: Vec<T>,
    /// Token for the next page; empty on the last page.
    pub next_page_token: String,
}

/// ListRecords: a page of at most `page_size` Records whose documents add up to at most
/// [`MAX_PAGE_BYTES`] (see [`list_records_within`]).
pub fn list_records(
    conn: &mut Conn,
    signer: &TokenSigner,
    request: &ListRequest<RecordScope>,
) -> Result<Page<StoredRecord>> {
    list_records_within(conn, signer, request, &Projection::Whole, MAX_PAGE_BYTES)
}

/// ListRecords returning only what `projection` asks of each document (see
/// [`Projection`]); [`Projection::Whole`] is [`list_records`]. Paging is the same.
pub fn list_records_projected(
    conn: &mut Conn,
    signer: &TokenSigner,
    request: &ListRequest<RecordScope>,
    projection: &Projection,
) -> Result<Page<StoredRecord>> {
    list_records_within(conn, signer, request, projection, MAX_PAGE_BYTES)
}

/// ListRecords under `projection`, with a page's documents (what the projection reads of
/// them) bounded by `max_page_bytes`: the page ends before the Record that would take it
/// over, so it may hold fewer than `page_size` Records, but always at least one, and its
/// `next_page_token` continues right after its last Record. The page is read in chunks
/// of rows whose documents the database sends only when they fit, so memory stays bounded
/// by about twice the larger of the cap and one document, whatever `page_size` asks.
pub fn list_records_within(
    conn: &mut Conn,
    signer: &TokenSigner,
    request: &ListRequest<RecordScope>,
    projection: &Projection,
    max_page_bytes: usize,
) -> Result<Page<StoredRecord>> {
    let backend = conn.backend();
    let plan = Plan::new(Collection::Records, backend, signer, request)?
        .with_indexed_paths(conn.indexed_paths());
    let scope = || record_scope(&request.scope);
    plan.read_page(max_page_bytes, scope, record_cursor, |page, chunk| {
        let columns = projection::listed_columns(projection, backend, chunk.row_bytes);
        conn.note_statement_shape(page.shape() ^ columns.0 .6.shape().rotate_left(2));
        let rows: Vec<(RecordRow, i64)> = with_conn!(conn, |c| records_query(page, columns)
            .load(c))
        .map_err(|e| conn.discard_if_desynced(Error::db("listing records")(e)))?;
        rows.into_iter()
            .map(|(row, bytes)| Fetched::new(projection::decode(projection, row)?, bytes, chunk))
            .collect()
    })
}

/// Where a Record listing continues after `r`.
fn record_cursor(plan: &Plan, r: &StoredRecord) -> Cursor {
    Cursor {
        keys: plan
            .order
            .keys
            .iter()
            .map(|(field, _)| match field {
                OrderField::UpdateTime => r.update_time.as_nanos(),
                _ => r.create_time.as_nanos(),
            })
            .collect(),
        uid: r.uid.clone(),
    }
}

/// The index hint, WHERE, ORDER BY and LIMIT of the one query a page of a listing runs.
pub(crate) struct PageQuery {
    /// The index MySQL/MariaDB must read the rows through (`FORCE INDEX`); never set on
    /// the other backends.
    pub(super) index: Option<&'static str>,
    pub(super) condition: Fragment,
    pub(super) order: Fragment<BigInt>,
    pub(super) limit: i64,
}

impl PageQuery {
    /// Identifies the statement this page prepares (see `Conn::note_statement_shape`).
    pub(super) fn shape(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut index = std::hash::DefaultHasher::new();
        self.index.hash(&mut index);
        self.condition.shape() ^ self.order.shape().rotate_left(1) ^ index.finish()
    }
}

/// Validates a ListRecords request: the query and columns of the first chunk of the page
/// it asks for (see [`list_records`]).
// Only the EXPLAIN helpers of `testing` ask for the query without running it.
#[cfg(any(test, feature = "test-support"))]
pub(crate) fn records_listing(
    backend: Backend,
    indexed: IndexedPaths,
    signer: &TokenSigner,
    request: &ListRequest<RecordScope>,
) -> Result<(PageQuery, ListedColumns)> {
    let plan =
        Plan::new(Collection::Records, backend, signer, request)?.with_indexed_paths(indexed);
    let chunk = Chunk::first(plan.page_size, MAX_PAGE_BYTES);
    let page = plan.page_query(record_scope(&request.scope), chunk.limit);
    let columns = projection::listed_columns(&Projection::Whole, backend, chunk.row_bytes);
    Ok((page, columns))
}

/// The query a chunk of a ListRecords page runs, on every backend;
/// `testing::explain_list_records` explains this same query.
pub(crate) fn records_query(page: PageQuery, columns: ListedColumns) -> PageSelect<ListedColumns> {
    PageSelect::new("records", columns, page)
}

/// What a listing is scoped to: written into its page tokens, and telling whether the
/// listing reads one namespace.
pub(crate) trait ListingScope: std::fmt::Display {
    /// Whether the listing's rows are exactly those of one namespace: Results whose parent
    /// is one namespace, Records of every Result of one namespace.
    fn is_one_namespace(&self) -> bool;
}

impl ListingScope for ListScope {
    fn is_one_namespace(&self) -> bool {
        match self {
            ListScope::Exactly(_) => true,
            // `parent IN (?)` of one value is `parent = ?` to every planner.
            ListScope::Among(values) => values.len() == 1,
            ListScope::Any => false,
        }
    }
}

impl ListingScope for RecordScope {
    fn is_one_namespace(&self) -> bool {
        self.parent.is_one_namespace() && self.result == ListScope::Any
    }
}

/// The index a page of a listing of one namespace (see [`ListingScope`]) names on
/// MySQL/MariaDB: the namespace's index in the order of `order`, when that is the one
/// index serving the page. Then a continued page reads it as a `range` from the page
/// token; without the hint, MariaDB 10.11 reads it as `ref` from the namespace's first
/// row whenever the rest of the namespace is a large share of the table, reading and
/// discarding every earlier page (see `testing::plan_shapes`). No hint for:
///
/// - orders by two fields, which no index serves in order (the rows are sorted);
/// - a filter that another index could narrow: one comparing `summary_status`
///   (`results_by_parent_status`) or a time other than the order's own columns (see
///   [`Filter::mysql_index_columns`]). Filters on text, JSON paths, annotations, and
///   `data_type` (compared by bytes) are checked on each row of the order's index
///   whether or not it is named, so the hint only adds the seek;
/// - other scopes: Records of one Result walk `records_by_result_*` as a `range` from
///   the token already, and listings of every namespace have no namespace to seek in.
fn namespace_index(collection: Collection, order: &Order, filter: &Filter) -> Option<&'static str> {
    let [(field, _)] = order.keys[..] else {
        return None;
    };
    let own = expressions(field, Backend::Mysql);
    if !filter
        .mysql_index_columns()
        .iter()
        .all(|column| own.contains(column))
    {
        return None;
    }
    Some(match (collection, field) {
        (Collection::Records, OrderField::CreateTime) => "records_by_parent_create_time",
        (Collection::Records, OrderField::UpdateTime) => "records_by_parent_update_time",
        (Collection::Results, OrderField::CreateTime) => "results_by_parent_create_time",
        (Collection::Results, OrderField::UpdateTime) => "results_by_parent_update_time",
        (Collection::Results, OrderField::SummaryStartTime) => "results_by_parent_start_time",
        (Collection::Results, OrderField::SummaryEndTime) => "results_by_parent_end_time",
        // Records have no summary times (`Order::parse` rejects them).
        (Collection::Records, _) => return None,
    })
}

/// The rows of a Record listing's parent (`-` segments add no condition).
pub(super) fn record_scope(scope: &RecordScope) -> Fragment {
    column_in_scope("parent", &scope.parent).and(column_in_scope("result_name", &scope.result))
}

/// The condition that `column` is in `scope`: none for `-`, `=` for a literal, `IN` for
/// a set (every value bound; an empty set matches nothing).
pub(super) fn column_in_scope(column: &'static str, scope: &ListScope) -> Fragment {
    let mut condition = Fragment::new();
    match scope {
        ListScope::Any => {}
        ListScope::Exactly(value) => {
            condition.sql(column).sql(" = ").text(value.as_str());
        }
        ListScope::Among(values) if values.is_empty() => {
            condition.sql("1 = 0");
        }
        ListScope::Among(values) => {
            condition.sql(column).sql(" IN (");
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    condition.sql(", ");
                }
                condition.text(value.as_str());
            }
            condition.sql(")");
        }
    }
    condition
}

/// The SQL sort expressions of a field: nullable fields sort by presence, then value,
/// so every key is a non-NULL integer and keyset comparisons stay exact. PostgreSQL
/// indexes these expressions (migration `000003_listing_indexes`); MySQL/MariaDB cannot
/// index expressions and SQLite cannot seek a row value of them, so there generated
/// columns of the same definitions hold the keys and the listing names those.
pub(super) fn expressions(field: OrderField, backend: Backend) -> &'static [&'static str] {
    match (field, backend) {
        (OrderField::CreateTime, _) => &["create_time"],
        (OrderField::UpdateTime, _) => &["update_time"],
        (OrderField::SummaryStartTime, Backend::Mysql | Backend::Sqlite) => {
            &["summary_start_set", "summary_start_key"]
        }
        (OrderField::SummaryStartTime, Backend::Postgres) => &[
            "CASE WHEN summary_start_time IS NULL THEN 0 ELSE 1 END",
            "COALESCE(summary_start_time, 0)",
        ],
        (OrderField::SummaryEndTime, Backend::Mysql | Backend::Sqlite) => {
            &["summary_end_set", "summary_end_key"]
        }
        (OrderField::SummaryEndTime, Backend::Postgres) => &[
            "CASE WHEN summary_end_time IS NULL THEN 0 ELSE 1 END",
            "COALESCE(summary_end_time, 0)",
        ],
    }
}

/// A validated List request: order, page size and where to continue.
pub(crate) struct Plan {
    backend: Backend,
    collection: Collection,
    filter: Filter,
    /// JSON paths with an index the filter may use (none unless given).
    indexed: IndexedPaths,
    pub(super) order: Order,
    pub(super) page_size: usize,
    /// Where the page starts (after this row).
    pub(super) after: Option<Cursor>,
    /// The index to read on MySQL/MariaDB (see [`namespace_index`]).
    index: Option<&'static str>,
    scope: TokenScope,
    signer: TokenSigner,
}

impl Plan {
    pub(super) fn new<S: ListingScope>(
        collection: Collection,
        backend: Backend,
        signer: &TokenSigner,
        request: &ListRequest<S>,
    ) -> Result<Plan> {
        let environment = match collection {
            Collection::Results => Environment::Results,
            Collection::Records => Environment::Records,
        };
        let filter = Filter::compile(&request.filter, environment)?;
        let order = Order::parse(&request.order_by, collection)?;
        let page_size = page_size(request.page_size)?;
        let scope = TokenScope {
            parent: request.scope.to_string(),
            filter: request.filter.clone(),
            order: order.canonical(),
        };
        let after = match request.page_token.as_str() {
            "" => None,
            token => {
                let cursor = signer.verify(token, &scope)?;
                let expected: usize = order
                    .keys
                    .iter()
                    .map(|(f, _)| expressions(*f, backend).len())
                    .sum();
                if cursor.keys.len() != expected {
                    return Err(Error::PageToken("wrong shape".into()));
                }
                Some(cursor)
            }
        };
        let index = match backend {
            Backend::Mysql if request.scope.is_one_namespace() => {
                namespace_index(collection, &order, &filter)
            }
            _ => None,
        };
        Ok(Plan {
            backend,
            collection,
            filter,
            indexed: IndexedPaths::none(),
            order,
            page_size,
            after,
            index,
            scope,
            signer: signer.clone(),
        })
    }

    /// The plan, with equalities on `indexed` JSON paths answered by their indexes.
    pub(super) fn with_indexed_paths(mut self, indexed: IndexedPaths) -> Plan {
        // A JSON path's own index serves the filter better than the order's: no hint.
        if self.filter.compares_indexed_path(&indexed) {
            self.index = None;
        }
        self.indexed = indexed;
        self
    }

    /// The error of a query running [`Plan::condition`]: a value the database refused to
    /// compute for the filter on a stored row is the filter's (see [`Error::in_filter`]).
    pub(super) fn failed(&self, error: Error) -> Error {
        if self.filter.is_trivial() {
            return error;
        }
        error.in_filter(match self.collection {
            Collection::Records => "Record",
            Collection::Results => "Result",
        })
    }

    /// The filter's condition (empty when it matches everything).
    pub(super) fn condition(&self) -> Fragment {
        if self.filter.is_trivial() {
            return Fragment::new();
        }
        self.filter.to_sql(self.backend, &self.indexed)
    }

    /// The query of `limit` rows after the plan's cursor, among the rows `scope` selects.
    pub(super) fn page_query(&self, scope: Fragment, limit: i64) -> PageQuery {
        PageQuery {
            index: self.index,
            // The keyset before the filter: SQLite seeks with the first of two bounds on
            // the same column, and the keyset's is the tighter one.
            condition: scope.and(self.keyset()).and(self.condition()).or_true(),
            order: self.order_by(),
            limit,
        }
    }

    /// Every sort expression with its direction, the uid tie-breaker last.
    fn sort_keys(&self) -> Vec<(&'static str, Direction)> {
        let id = match self.backend {
            // Byte order for uids, as on the other backends (and as the indexes are built).
            Backend::Postgres => "id COLLATE \"C\"",
            _ => "id",
        };
        let mut keys: Vec<(&'static str, Direction)> = self
            .order
            .keys
            .iter()
            .flat_map(|(f, d)| expressions(*f, self.backend).iter().map(move |e| (*e, *d)))
            .collect();
        keys.push((id, self.order.tie_break()));
        keys
    }

    pub(super) fn order_by(&self) -> Fragment<diesel::sql_types::BigInt> {
        let mut sql = Fragment::new();
        for (i, (expr, dir)) in self.sort_keys().into_iter().enumerate() {
            if i > 0 {
                sql.sql(", ");
            }
            sql.sql(expr).sql(if dir == Direction::Asc {
                " ASC"
            } else {
                " DESC"
            });
        }
        sql
    }

    /// Rows strictly after the cursor in sort order (empty on the first page).
    pub(super) fn keyset(&self) -> Fragment {
        let Some(cursor) = &self.after else {
            return Fragment::new();
        };
        let keys = self.sort_keys();
        let op = |d: Direction| if d == Direction::Asc { " > " } else { " < " };
        let uniform = keys.iter().all(|(_, d)| *d == keys[0].1);
        let mut sql = Fragment::new();
        // Row values let PostgreSQL and SQLite seek the index directly; MySQL/MariaDB
        // (and mixed directions) get the equivalent expanded form.
        if uniform && self.backend != Backend::Mysql {
            sql.sql("(");
            for (i, (expr, _)) in keys.iter().enumerate() {
                sql.sql(if i > 0 { ", " } else { "" }).sql(expr);
            }
            sql.sql(")").sql(op(keys[0].1)).sql("(");
            for (i, value) in cursor.keys.iter().enumerate() {
                sql.sql(if i > 0 { ", " } else { "" }).bigint(*value);
            }
            sql.sql(", ").text(cursor.uid.clone()).sql(")");
            return sql;
        }
        // k1 > v1 OR (k1 = v1 AND (k2 > v2 OR (k2 = v2 AND … id > u)))
        let last = keys.len() - 1;
        for (i, (expr, dir)) in keys.iter().enumerate() {
            sql.sql("(").sql(expr).sql(op(*dir));
            if i == last {
                sql.text(cursor.uid.clone()).sql(")");
            } else {
                let value = cursor.keys[i];
                sql.bigint(value)
                    .sql(" OR (")
                    .sql(expr)
                    .sql(" = ")
                    .bigint(value)
                    .sql(" AND ");
            }
        }
        for _ in 0..last {
            sql.sql("))");
        }
        sql
    }

    /// Reads the page in chunks (see [`chunks::read`]) within `max_bytes`: `fetch` runs a
    /// chunk's query, of the rows `scope` selects after the plan's cursor, and `cursor`
    /// says where a listing continues after a row.
    pub(super) fn read_page<T>(
        mut self,
        max_bytes: usize,
        scope: impl Fn() -> Fragment,
        cursor: impl Fn(&Plan, &T) -> Cursor,
        mut fetch: impl FnMut(PageQuery, Chunk) -> Result<Vec<Fetched<T>>>,
    ) -> Result<Page<T>> {
        let start = self.after.clone();
        let read = chunks::read(self.page_size, max_bytes, |last, chunk| {
            self.after = last.map(|r| cursor(&self, r)).or_else(|| start.clone());
            fetch(self.page_query(scope(), chunk.limit), chunk).map_err(|e| self.failed(e))
        })?;
        Ok(self.finish(read.items, read.more, |r| cursor(&self, r)))
    }

    /// The page of `items`, with a token continuing after the last when `more` follow.
    fn finish<T>(&self, items: Vec<T>, more: bool, cursor: impl Fn(&T) -> Cursor) -> Page<T> {
        let next_page_token = match items.last() {
            Some(last) if more => self.signer.sign(&self.scope, &cursor(last)),
            _ => String::new(),
        };
        Page {
            items,
            next_page_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index a listing names on `backend` (see [`namespace_index`]).
    fn index<S: ListingScope>(
        collection: Collection,
        backend: Backend,
        scope: S,
        filter: &str,
        order_by: &str,
    ) -> Option<&'static str> {
        let request = ListRequest {
            scope,
            filter: filter.to_owned(),
            page_size: 0,
            page_token: String::new(),
            order_by: order_by.to_owned(),
        };
        let signer = TokenSigner::new(b"k".to_vec());
        Plan::new(collection, backend, &signer, &request)
            .expect("valid")
            .index
    }

    #[test]
    fn only_mariadb_listings_of_one_namespace_name_the_index_of_their_order() {
        let records = |scope: &str, filter: &str, order_by: &str| {
            let scope = RecordScope::parse(scope).expect("scope");
            index(Collection::Records, Backend::Mysql, scope, filter, order_by)
        };
        let results = |scope: ListScope, filter: &str, order_by: &str| {
            index(Collection::Results, Backend::Mysql, scope, filter, order_by)
        };
        let ns = || ListScope::Exactly("ns".into());
        let after = r#"create_time > timestamp("2026-01-01T02:00:00Z")"#;

        assert_eq!(
            records("ns/results/-", "", ""),
            Some("records_by_parent_create_time")
        );
        assert_eq!(
            records("ns/results/-", "", "update_time desc"),
            Some("records_by_parent_update_time")
        );
        // Filters no other index narrows, and a range on the order's own column.
        for filter in [
            r#"data_type == "tekton.dev/v1.TaskRun""#,
            r#"data.status.conditions[0].reason == "Failed""#,
            after,
        ] {
            assert_eq!(
                records("ns/results/-", filter, "create_time desc"),
                Some("records_by_parent_create_time"),
                "{filter}"
            );
        }
        // A range on another time, two order fields, other scopes: no hint.
        assert_eq!(records("ns/results/-", after, "update_time desc"), None);
        assert_eq!(
            records("ns/results/-", "", "update_time desc, create_time desc"),
            None
        );
        assert_eq!(records("ns/results/r", "", ""), None);
        assert_eq!(records("-/results/-", "", ""), None);
        // An equality on a JSON path with an index of its own: that index, not the order's.
        let indexed =
            crate::filter::indexed::IndexedPaths::parse(&["data.status.conditions[0].reason"])
                .expect("path");
        let with_paths = |filter: &str| {
            let request = ListRequest {
                scope: RecordScope::parse("ns/results/-").expect("scope"),
                filter: filter.to_owned(),
                page_size: 0,
                page_token: String::new(),
                order_by: String::new(),
            };
            Plan::new(
                Collection::Records,
                Backend::Mysql,
                &TokenSigner::new(b"k".to_vec()),
                &request,
            )
            .expect("valid")
            .with_indexed_paths(indexed.clone())
            .index
        };
        assert_eq!(
            with_paths(r#"data.status.conditions[0].reason == "Failed""#),
            None
        );
        assert_eq!(
            with_paths(r#"data.metadata.labels["app"] == "a""#),
            Some("records_by_parent_create_time"),
            "a path without an index keeps the hint"
        );
        assert_eq!(records("-/results/r", "", ""), None);

        assert_eq!(
            results(ns(), r#"annotations["team"] == "a""#, "create_time desc"),
            Some("results_by_parent_create_time")
        );
        assert_eq!(
            results(ns(), "", "update_time desc"),
            Some("results_by_parent_update_time")
        );
        assert_eq!(
            results(ns(), "", "summary.start_time desc"),
            Some("results_by_parent_start_time")
        );
        assert_eq!(
            results(ns(), "", "summary.end_time"),
            Some("results_by_parent_end_time")
        );
        assert_eq!(
            results(ListScope::Among(vec!["ns".into()]), "", ""),
            Some("results_by_parent_create_time")
        );
        // `results_by_parent_status` serves a status filter; the start time's own index
        // serves a range on it (the order's index holds its generated keys instead).
        assert_eq!(results(ns(), "summary.status == FAILURE", ""), None);
        assert_eq!(
            results(
                ns(),
                r#"summary.start_time > timestamp("2026-01-01T02:00:00Z")"#,
                "summary.start_time desc"
            ),
            None
        );
        assert_eq!(results(ListScope::Any, "", ""), None);
        assert_eq!(
            results(ListScope::Among(vec!["a".into(), "b".into()]), "", ""),
            None
        );

        for backend in [Backend::Sqlite, Backend::Postgres] {
            let scope = RecordScope::parse("ns/results/-").expect("scope");
            assert_eq!(index(Collection::Records, backend, scope, "", ""), None);
            assert_eq!(index(Collection::Results, backend, ns(), "", ""), None);
        }
    }
}
