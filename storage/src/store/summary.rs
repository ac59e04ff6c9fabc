//! GetRecordListSummary, aggregated in the database.
//!
//! [`record_list_summary`] aggregates in the database ([`record_list_summary_in_db`]) on
//! SQLite, PostgreSQL and MariaDB alike: by measurement (docs/performance.md,
//! "Summaries") it is the faster on each. [`record_list_summary_folded`] folds every
//! matching row in Rust with the in-memory [`Summarizer`] (the reference semantics, see
//! [`crate::summary`]); it is the reference the differential test `sql_equals_fold`
//! compares against on every backend.
//!
//! # What runs where
//!
//! What a summary reads of each Record's document is extracted once, when the document
//! is written, into the `records.run_*` columns ([`super::run_columns`]): the reason's
//! class, and the start and completion times in Unix nanoseconds, with `run_state` 1
//! when these say all the fold would read of the row. The statement of
//! [`record_list_summary_in_db`] selects the rows the listing condition selects (scope
//! and filter exactly as in listings, [`Plan::condition`]) and groups them by (handled,
//! namespace, name, period) where handled is `run_state = 1`; per group it computes in
//! integers the count, the four reason counts, the number of durations
//! (`run_end - run_start`, both present), the sum of their whole seconds and of their
//! nanosecond parts (separately, so that no sum can overflow a BIGINT), their minimum
//! and maximum, and the latest start. The extracted times are 0 to i64::MAX
//! nanoseconds, so every difference fits an i64 and integer division floors.
//!
//! Grouping by time groups in SQL by the whole days (hours, minutes for those units)
//! since 1970 of the start or completion; Rust maps each to the bucket of the requested
//! unit ([`crate::summary::bucket`], the fold's own calendar: ISO weeks, months, years)
//! and merges the groups that fall into one. Pipeline and repository groups are
//! `<namespace>/<name>`: SQL reads the label or annotation from the document (only for
//! these groupings, once per row in a derived table fenced by `OFFSET 0` or `LIMIT` so
//! that the database does not merge it into the grouping, where SQLite took twice as
//! long) and groups by the two parts, Rust joins them and merges groups that join to
//! the same text (a missing name and an empty one both give `<namespace>/`).
//! Ordering (by an aggregate, ties by group key with absent keys first, text by bytes)
//! is done in Rust by the [`Summarizer`], so no collation takes part; on MariaDB the
//! namespace and name are compared and grouped as bytes.
//!
//! Rows not handled in SQL (`run_state` NULL: written before the columns existed and
//! not yet backfilled; 0: a time before 1970 or past 2262, a leap second, or an odd
//! document) land in groups with handled = 0, whose count says how many there are.
//! Only when there are some, [`record_list_summary_in_db`] scans exactly those rows in
//! keyset batches of 2,000 and folds them in Rust from their documents, as the fold
//! does (Kubernetes-written Records never need it once backfilled). Both statements
//! read one snapshot (a REPEATABLE READ transaction; on SQLite any transaction), so a
//! row the backfill fills between them is counted exactly once. On PostgreSQL the
//! transaction also sets `jit = off`: a cost estimate at many rows otherwise triggers
//! JIT compilation, which took longer than the query (measured on the earlier
//! statement that parsed times in SQL).
//!
//! Memory: the API holds one accumulator per group, as the fold does (the groups are
//! read in one answer, so briefly twice that; a time grouping by year or month reads
//! one group per day); rows are never held. The database's own work is a hash or sort
//! aggregate over the groups.
//!
//! No SQL text comes from a request: the group and unit choose among `&'static str`
//! fragments; scope and filter values are bound parameters.

use chrono::DateTime;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::connection::{with_conn, Backend, Conn};
use crate::filter::data_text;
use crate::fragment::Fragment;
use crate::model::RecordScope;
use crate::page::{Collection, Cursor, TokenSigner};
use crate::schema::records;
use crate::store::list::{record_scope, Plan};
use crate::store::ListRequest;
use crate::summary::{bucket, namespaced, Acc, Group, Key, Summarizer, SummaryInput, SummaryRow};
use crate::summary::{SummarySpec, Unit};
use crate::{Error, Result};

/// Rows read per round trip when rows are folded in Rust.
const BATCH: i32 = 2000;

const REASON: &[&str] = &["status", "conditions", "0", "reason"];
const START: &[&str] = &["status", "startTime"];
const COMPLETION: &[&str] = &["status", "completionTime"];
const PIPELINE: &[&str] = &["metadata", "labels", "tekton.dev/pipeline"];
const REPOSITORY: &[&str] = &[
    "metadata",
    "annotations",
    "pipelinesascode.tekton.dev/repository",
];

/// Summarises the Records under `scope` that match `filter`, aggregating in the
/// database ([`record_list_summary_in_db`]) on every backend: by measurement the faster
/// (docs/performance.md, "Summaries"); it answers what the fold
/// ([`record_list_summary_folded`]) answers (`sql_equals_fold`).
pub fn record_list_summary(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    spec: SummarySpec,
) -> Result<Vec<SummaryRow>> {
    record_list_summary_in_db(conn, scope, filter, spec)
}

/// Summarises the Records under `scope` that match `filter`, aggregating in the
/// database (see the module docs).
#[doc(hidden)]
pub fn record_list_summary_in_db(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    spec: SummarySpec,
) -> Result<Vec<SummaryRow>> {
    let backend = conn.backend();
    let plan = scan_plan(backend, scope, filter)?.with_indexed_paths(conn.indexed_paths());
    let condition = record_scope(scope).and(plan.condition()).or_true();
    let statement = grouped(Dialect(backend), &spec, condition.cast());
    in_snapshot(conn, |conn| {
        conn.note_statement_shape(statement.0.shape());
        let groups: Vec<GroupRow> = with_conn!(conn, |c| statement.load(c)).map_err(|e| {
            plan.failed(conn.discard_if_desynced(Error::db("summarising records")(e)))
        })?;
        let mut summarizer = Summarizer::new(spec);
        let mut unhandled = 0;
        for row in groups {
            let (handled, ns, name, period, total, succeeded, failed, cancelled, running) = row.0;
            let (durations, seconds, nanos, min, max, last_start) = row.1;
            let count = |n: i64| u64::try_from(n).unwrap_or_default();
            if handled == 0 {
                unhandled += count(total);
                continue;
            }
            let key = match summarizer.spec().group {
                None => Key::None,
                Some(Group::Namespace) => Key::Text(ns.unwrap_or_default()),
                Some(Group::Pipeline | Group::Repository) => {
                    namespaced(&ns.unwrap_or_default(), name.as_deref())
                }
                Some(Group::Time { unit, .. }) => period
                    .and_then(|p| p.checked_mul(period_seconds(unit)))
                    .and_then(|t| DateTime::from_timestamp(t, 0))
                    .and_then(|t| bucket(t, unit))
                    .map_or(Key::None, Key::Time),
            };
            let classified = count(succeeded) + count(failed) + count(cancelled) + count(running);
            let acc = Acc {
                total: count(total),
                succeeded: count(succeeded),
                failed: count(failed),
                cancelled: count(cancelled),
                running: count(running),
                others: count(total) - classified,
                durations: count(durations),
                duration_sum: i128::from(seconds.unwrap_or(0)) * 1_000_000_000
                    + i128::from(nanos.unwrap_or(0)),
                duration_min: min.map(i128::from),
                duration_max: max.map(i128::from),
                last_start,
            };
            summarizer.merge(key, &acc);
        }
        if unhandled > 0 {
            fold(conn, scope, filter, &mut summarizer, true)?;
        }
        Ok(summarizer.finish())
    })
}

/// Runs `f` in a read transaction that sees one snapshot of the database throughout.
fn in_snapshot<T>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
    let set = |conn: &mut Conn, sql: &'static str| {
        with_conn!(conn, |c| diesel::sql_query(sql).execute(c))
            .map(drop)
            .map_err(Error::db("beginning a summary"))
    };
    match conn.backend() {
        // For the next transaction only; the session stays READ COMMITTED.
        Backend::Mysql => set(conn, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")?,
        Backend::Sqlite | Backend::Postgres => {}
    }
    conn.transaction(|conn| {
        if conn.backend() == Backend::Postgres {
            set(conn, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
            set(conn, "SET LOCAL jit = off")?;
        }
        f(conn)
    })
}

/// The length of the periods SQL groups by for `unit`, in seconds: a day for days and
/// longer units (whose buckets are whole days), else the unit.
fn period_seconds(unit: Unit) -> i64 {
    match unit {
        Unit::Year | Unit::Month | Unit::Week | Unit::Day => 86_400,
        Unit::Hour => 3_600,
        Unit::Minute => 60,
    }
}

/// A listing plan over the Records `filter` selects under `scope`, to reuse its
/// condition and keyset.
fn scan_plan(backend: Backend, scope: &RecordScope, filter: &str) -> Result<Plan> {
    let request = ListRequest {
        scope: scope.clone(),
        filter: filter.to_owned(),
        page_size: BATCH,
        page_token: String::new(),
        order_by: String::new(),
    };
    // An internal scan issues no page tokens, so the signer's key is never used.
    Plan::new(
        Collection::Records,
        backend,
        &TokenSigner::new(Vec::new()),
        &request,
    )
}

type Scanned = (
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Folds into `summarizer` the Records `filter` selects under `scope` (only those SQL
/// does not handle when `unhandled`), read in keyset batches of [`BATCH`] rows (the
/// keyset before the filter, as in listings: SQLite seeks with the first bound).
fn fold(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    summarizer: &mut Summarizer,
    unhandled: bool,
) -> Result<()> {
    let backend = conn.backend();
    let mut plan = scan_plan(backend, scope, filter)?.with_indexed_paths(conn.indexed_paths());
    loop {
        let mut condition = record_scope(scope).and(plan.keyset()).and(plan.condition());
        if unhandled {
            condition = condition.and(s(UNHANDLED).cast());
        }
        let condition = condition.or_true();
        let order = plan.order_by();
        conn.note_statement_shape(condition.shape());
        let rows: Vec<Scanned> = with_conn!(conn, |c| records::table
            .into_boxed()
            .filter(condition)
            .order_by(order)
            .limit(i64::from(BATCH))
            .select((
                records::id,
                records::create_time,
                records::parent,
                data_text(REASON, backend),
                data_text(START, backend),
                data_text(COMPLETION, backend),
                data_text(PIPELINE, backend),
                data_text(REPOSITORY, backend),
            ))
            .load::<Scanned>(c))
        .map_err(|e| plan.failed(conn.discard_if_desynced(Error::db("summarising records")(e))))?;
        let done = rows.len() < BATCH as usize;
        if let Some((id, create_time, ..)) = rows.last() {
            plan.after = Some(Cursor {
                keys: vec![*create_time],
                uid: id.clone(),
            });
        }
        for (_, _, parent, reason, start_time, completion_time, pipeline, repository) in rows {
            summarizer.add(SummaryInput {
                parent,
                reason,
                start_time,
                completion_time,
                pipeline,
                repository,
            });
        }
        if done {
            return Ok(());
        }
    }
}

/// The rows SQL does not aggregate: `run_*` not extracted yet, or to be folded.
const UNHANDLED: &str = "(run_state IS NULL OR run_state <> 1)";

/// Scans every matching Record in keyset batches and folds them in Rust with
/// [`Summarizer`]: the reference of the differential tests; answers equal
/// [`record_list_summary_in_db`]'s.
pub fn record_list_summary_folded(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    spec: SummarySpec,
) -> Result<Vec<SummaryRow>> {
    let mut summarizer = Summarizer::new(spec);
    fold(conn, scope, filter, &mut summarizer, false)?;
    Ok(summarizer.finish())
}

/// One group of [`grouped`]: (handled, namespace, name, period, count, succeeded,
/// failed, cancelled, running), (durations, sum of their seconds, sum of their
/// nanosecond parts, min, max, latest start).
type GroupRow = (
    (
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
        i64,
        i64,
        i64,
        i64,
        i64,
    ),
    (
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ),
);

type GroupSql = (
    (
        BigInt,
        Nullable<Text>,
        Nullable<Text>,
        Nullable<BigInt>,
        BigInt,
        BigInt,
        BigInt,
        BigInt,
        BigInt,
    ),
    (
        BigInt,
        Nullable<BigInt>,
        Nullable<BigInt>,
        Nullable<BigInt>,
        Nullable<BigInt>,
        Nullable<BigInt>,
    ),
);

/// A whole statement built from fragments, loaded as rows of SQL type `ST`.
struct Statement<ST>(Fragment<ST>);

impl<ST, DB> QueryFragment<DB> for Statement<ST>
where
    DB: diesel::backend::Backend,
    Fragment<ST>: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

impl<ST> QueryId for Statement<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Statement<ST> {
    type SqlType = ST;
}

impl<ST, C> RunQueryDsl<C> for Statement<ST> {}

/// An untyped piece of SQL.
type Sql = Fragment<BigInt>;

/// SQL text written here.
fn s(text: &'static str) -> Sql {
    let mut f = Sql::new();
    f.sql(text);
    f
}

/// The concatenation of `parts`.
fn cat<const N: usize>(parts: [Sql; N]) -> Sql {
    let mut f = Sql::new();
    for part in parts {
        f.append(part);
    }
    f
}

/// The spellings that differ between backends.
#[derive(Debug, Clone, Copy)]
struct Dialect(Backend);

impl Dialect {
    fn int(self, e: Sql) -> Sql {
        cat([
            s("CAST("),
            e,
            s(match self.0 {
                Backend::Sqlite => " AS INTEGER)",
                Backend::Postgres => " AS bigint)",
                Backend::Mysql => " AS SIGNED)",
            }),
        ])
    }

    /// After a derived table that must be computed once per row, not merged into the
    /// query around it (which would evaluate its expressions at each use).
    fn fence(self) -> &'static str {
        match self.0 {
            Backend::Sqlite => " LIMIT -1",
            Backend::Postgres => " OFFSET 0",
            Backend::Mysql => " LIMIT 18446744073709551615",
        }
    }

    /// Integer division of non-negative operands.
    fn div(self) -> &'static str {
        match self.0 {
            Backend::Mysql => " DIV ",
            _ => " / ",
        }
    }

    /// The text at a JSON path of `data`; bytes on MariaDB.
    fn json(self, path: &[&str]) -> Sql {
        let text = data_text(path, self.0).cast();
        self.bytes(text)
    }

    /// On MariaDB, `e` as bytes: compared and grouped byte-wise, whatever the collation.
    fn bytes(self, e: Sql) -> Sql {
        match self.0 {
            Backend::Mysql => cat([s("CAST("), e, s(" AS BINARY)")]),
            _ => e,
        }
    }

    fn null_text(self) -> Sql {
        s(match self.0 {
            Backend::Sqlite => "NULL",
            Backend::Postgres => "CAST(NULL AS text)",
            Backend::Mysql => "CAST(NULL AS BINARY)",
        })
    }
}

/// 1 when SQL aggregates the row, else 0.
const HANDLED: &str = "CASE WHEN run_state = 1 THEN 1 ELSE 0 END";

/// The aggregate statement: one row per (handled, namespace, name, period).
fn grouped(d: Dialect, spec: &SummarySpec, condition: Sql) -> Statement<GroupSql> {
    // The name from the document, read once per row: a fenced derived table (merged
    // into the grouping, SQLite took twice as long).
    let (ns, name, fence) = match spec.group {
        Some(Group::Namespace) => (s("parent"), d.null_text(), ""),
        Some(Group::Pipeline) => (s("parent"), d.json(PIPELINE), d.fence()),
        Some(Group::Repository) => (s("parent"), d.json(REPOSITORY), d.fence()),
        _ => (d.null_text(), d.null_text(), ""),
    };
    let rows = cat([
        s("SELECT "),
        d.bytes(s("parent")),
        s(" AS parent, "),
        name,
        s(" AS g0, run_state, run_reason, run_start, run_end FROM records WHERE "),
        condition,
        s(fence),
    ]);
    let period = match spec.group {
        Some(Group::Time { unit, completion }) => cat([
            s(if completion { "run_end" } else { "run_start" }),
            s(d.div()),
            s(match unit {
                Unit::Year | Unit::Month | Unit::Week | Unit::Day => "86400000000000",
                Unit::Hour => "3600000000000",
                Unit::Minute => "60000000000",
            }),
        ]),
        _ => s("NULL"),
    };
    let reason = |class: &'static str| {
        d.int(cat([
            s("SUM(CASE WHEN run_reason = "),
            s(class),
            s(" THEN 1 ELSE 0 END)"),
        ]))
    };
    let sql = cat([
        s("SELECT "),
        d.int(s(HANDLED)),
        s(", "),
        ns,
        s(", "),
        if fence.is_empty() {
            d.null_text()
        } else {
            s("g0")
        },
        s(", "),
        d.int(period),
        s(", "),
        d.int(s("COUNT(*)")),
        s(", "),
        reason("1"),
        s(", "),
        reason("2"),
        s(", "),
        reason("3"),
        s(", "),
        reason("4"),
        s(", "),
        d.int(s("COUNT(run_end - run_start)")),
        s(", "),
        // Whole seconds and nanosecond parts: the times are never negative.
        d.int(cat([
            s("SUM(run_end"),
            s(d.div()),
            s("1000000000 - run_start"),
            s(d.div()),
            s("1000000000)"),
        ])),
        s(", "),
        d.int(s("SUM(run_end % 1000000000 - run_start % 1000000000)")),
        s(", "),
        d.int(s("MIN(run_end - run_start)")),
        s(", "),
        d.int(s("MAX(run_end - run_start)")),
        s(", "),
        d.int(s("MAX(run_start)")),
        s(" FROM ("),
        rows,
        s(") t GROUP BY 1, 2, 3, 4"),
    ]);
    Statement(sql.cast())
}

#[cfg(test)]
mod tests {
    //! Differential tests: the SQL path answers exactly what folding the same rows with
    //! the in-memory [`Summarizer`] answers, on generated edge cases.

    use serde_json::{json, Value};

    use super::*;
    use crate::model::{ListScope, ResultName, Timestamp};
    use crate::store::run_columns::{
        backfill_all_run_columns, backfill_run_columns, RunColumns, BACKFILL_BATCH,
    };
    use crate::testing::{bulk, TestDb};

    /// splitmix64: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Clone>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())].clone()
        }
    }

    /// Times that SQL must not take for canonical: each is folded in Rust.
    const ODD_TIMES: &[&str] = &[
        "2024-01-01T01:30:00+02:00",
        "2023-12-31T23:30:00-05:30",
        "2024-02-29T12:00:00.5+00:00",
        "2024-01-01t00:00:00Z",
        "2024-01-01T00:00:00z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00.1234567891Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00Z\n",
        "2023-02-29T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:60:00Z",
        "2024-06-30T23:59:60Z",
        "2024-01-01T10:15:60.25Z",
        "1969-12-31T23:59:59Z",
        "1900-01-01T00:00:00Z",
        "1677-09-21T00:12:44Z",
        "2262-04-11T23:47:16Z",
        "2300-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "",
        "not a time",
        "2024-01-01",
        "2024-0--01T00:00:00Z",
        "2024-01-01TT0:00:00Z",
        "2024-01-01T00:00:0:Z",
        "2024-01-01T00:00:00.1Z2Z",
        "2024-01-01T00:00:+1Z",
        "\u{662}\u{660}\u{662}\u{664}-01-01T00:00:00Z",
        "2024-01-01T00:00:00.-1Z",
    ];

    /// Canonical edges SQL handles itself.
    const EDGE_TIMES: &[&str] = &[
        "1970-01-01T00:00:00Z",
        "1970-01-05T00:00:00Z",
        "2000-02-29T12:00:00Z",
        "2100-03-01T00:00:00Z",
        "2261-12-31T23:59:59.999999999Z",
        "2024-02-29T23:59:59.000000001Z",
        "2024-12-30T00:00:00Z",
        "2023-01-01T00:00:00Z",
    ];

    fn time(rng: &mut Rng) -> Option<Value> {
        match rng.below(20) {
            0 => return None,
            1 => return Some(Value::Null),
            2 => return Some(json!(1_704_067_200)),
            3 | 4 => return Some(json!(rng.pick(ODD_TIMES))),
            5 => return Some(json!(rng.pick(EDGE_TIMES))),
            _ => {}
        }
        // Around New Year, month ends, the leap day and week boundaries.
        let base = 1_703_462_400i64; // 2023-12-25T00:00:00Z, a Monday
        let seconds = base + (rng.next() % (75 * 86_400)) as i64;
        let t = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
        let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
        if rng.below(3) == 0 {
            let digits = 1 + rng.below(9);
            let fraction: String = (0..digits)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            text.push('.');
            text.push_str(&fraction);
        }
        text.push('Z');
        Some(json!(text))
    }

    fn document(rng: &mut Rng, i: usize) -> Value {
        let reasons: &[Value] = &[
            json!("Succeeded"),
            json!("Completed"),
            json!("Failed"),
            json!("Failed "),
            json!("failed"),
            json!("Cancelled"),
            json!("CancelledRunFinally"),
            json!("cancelled"),
            json!("Cancelle"),
            json!("Running"),
            json!("Started"),
            json!("Pending"),
            json!("PipelineRunTimeout"),
            json!(""),
            json!(1),
            Value::Null,
        ];
        let names: &[Value] = &[
            json!("build"),
            json!("Build"),
            json!("build "),
            json!("deploy"),
            json!(""),
            json!("x/y"),
            json!("é"),
            json!(7),
            Value::Null,
        ];
        let mut status = serde_json::Map::new();
        match rng.below(8) {
            0 => {}
            1 => {
                status.insert("conditions".into(), json!([{"type": "Succeeded"}]));
            }
            _ => {
                status.insert(
                    "conditions".into(),
                    json!([{"type": "Succeeded", "reason": rng.pick(reasons)}]),
                );
            }
        }
        let start = time(rng);
        let mut completion = time(rng);
        if let (Some(Value::String(s)), 0) = (&start, rng.below(4)) {
            // Often a plausible run: completion minutes after the start.
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                let end = t + chrono::Duration::milliseconds((rng.next() % 5_000_000) as i64);
                completion = Some(json!(
                    end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                ));
            }
        }
        if let Some(v) = start {
            status.insert("startTime".into(), v);
        }
        if let Some(v) = completion {
            status.insert("completionTime".into(), v);
        }
        let mut labels = serde_json::Map::new();
        if rng.below(4) != 0 {
            labels.insert("tekton.dev/pipeline".into(), rng.pick(names));
        }
        let mut annotations = serde_json::Map::new();
        if rng.below(4) != 0 {
            annotations.insert(
                "pipelinesascode.tekton.dev/repository".into(),
                rng.pick(names),
            );
        }
        // Now and then a shape the JSON paths of the databases may read otherwise than
        // serde: extracted as "fold it" (run_state 0).
        let status = match i % 23 {
            0 => json!([status]),
            1 => json!({"conditions": {"0": {"reason": "Failed"}},
                        "startTime": "2024-01-01T00:00:00Z"}),
            2 => json!({"conditions": [["Failed"]], "completionTime": "2024-01-01T00:00:00Z"}),
            3 => json!("Succeeded"),
            _ => Value::Object(status),
        };
        json!({
            "metadata": {"labels": labels, "annotations": annotations},
            "spec": {"n": i},
            "status": status,
        })
    }

    /// Seeds `n` Records over three namespaces; some share a create_time.
    fn seed(db: &TestDb, n: usize) {
        let mut rng = Rng(0x5eed);
        let mut results = Vec::new();
        let mut records = Vec::new();
        for i in 0..n {
            let ns = ["ns-a", "ns-b", "ns-c"][i % 3];
            let name = ResultName::parse(&format!("{ns}/results/r{}", i / 3)).unwrap();
            let created = Timestamp::from_nanos(1_700_000_000_000_000_000 + (i as i64 / 2));
            let doc = serde_json::to_vec(&document(&mut rng, i)).unwrap();
            let (result, record) = bulk::pipeline_run(
                name,
                format!("result-{i:05}"),
                format!("rec{i}"),
                format!("record-{:05}", (i * 7919) % n),
                doc,
                created,
            )
            .unwrap();
            results.push(result);
            records.push(record);
        }
        db.database()
            .run(|c| c.transaction(|c| bulk::insert_all(c, &results, &records)))
            .unwrap();
    }

    const ALL: &str = "total,succeeded,failed,cancelled,running,others,avg_duration,\
                       min_duration,max_duration,total_duration,last_runtime";

    /// Leaves the `run_*` columns of about a fifth of the rows unextracted (NULL, as
    /// written before the migration) and marks another fifth to be folded (0).
    fn mix_run_states(db: &TestDb) {
        let mut conn = db.database().get().unwrap();
        with_conn!(&mut conn, |c| diesel::update(
            records::table.filter(records::id.like("%0"))
        )
        .set(RunColumns::default())
        .execute(c))
        .unwrap();
        with_conn!(&mut conn, |c| diesel::update(
            records::table.filter(records::id.like("%5"))
        )
        .set(records::run_state.eq(Some(0i16)))
        .execute(c))
        .unwrap();
    }

    /// How many rows have each `run_state` (NULL, 0, 1).
    fn run_states(conn: &mut Conn) -> (i64, i64, i64) {
        let states: Vec<Option<i16>> =
            with_conn!(conn, |c| records::table.select(records::run_state).load(c)).unwrap();
        let n = |s: Option<i16>| states.iter().filter(|x| **x == s).count() as i64;
        (n(None), n(Some(0)), n(Some(1)))
    }

    fn sql_equals_fold(backend: Backend) {
        let db = TestDb::migrated(backend);
        seed(&db, 400);
        mix_run_states(&db);
        let scopes = [
            RecordScope::parse("-/results/-").unwrap(),
            RecordScope::parse("ns-b/results/-").unwrap(),
            RecordScope {
                parent: ListScope::Among(vec!["ns-a".into(), "ns-c".into()]),
                result: ListScope::Any,
            },
        ];
        let filters = ["", "data.spec.n < 150", "data.spec.n < 0"];
        let mut groupings = vec![
            String::new(),
            "namespace".into(),
            "pipeline".into(),
            "repository".into(),
        ];
        for unit in ["year", "month", "week", "day", "hour", "minute"] {
            groupings.push(unit.into());
            groupings.push(format!("{unit} completionTime"));
        }
        let aggregates: Vec<&str> = ALL.split(',').collect();
        let mut rng = Rng(7);
        let mut compared = 0;
        let mut conn = db.database().get().unwrap();
        // Both paths are exercised: most rows are aggregated in SQL, some folded in Rust.
        let statement = grouped(
            Dialect(backend),
            &SummarySpec::parse("", "", "").unwrap(),
            s("1 = 1"),
        );
        let groups: Vec<GroupRow> = with_conn!(&mut conn, |c| statement.load(c)).unwrap();
        let handled = |flag: i64| -> i64 {
            groups
                .iter()
                .filter(|g| g.0 .0 == flag)
                .map(|g| g.0 .4)
                .sum()
        };
        let (unextracted, folded, extracted) = run_states(&mut conn);
        assert!(
            unextracted > 30 && folded > 80 && extracted > 200,
            "{backend:?}: run_state NULL {unextracted}, 0 {folded}, 1 {extracted}"
        );
        assert_eq!(
            (handled(1), handled(0)),
            (extracted, unextracted + folded),
            "{backend:?}"
        );
        for scope in &scopes {
            for filter in filters {
                for group in &groupings {
                    let mut orders = vec![String::new()];
                    if !group.is_empty() {
                        for _ in 0..3 {
                            let dir = rng.pick(&["", " asc", " desc"]);
                            orders.push(format!("{}{dir}", rng.pick(&aggregates)));
                        }
                    }
                    for order in orders {
                        let summary = if rng.below(4) == 0 {
                            "total,failed"
                        } else {
                            ALL
                        };
                        let summary = if order.is_empty()
                            || summary
                                .split(',')
                                .any(|a| order.split(' ').next() == Some(a))
                        {
                            summary
                        } else {
                            ALL
                        };
                        let spec = SummarySpec::parse(summary, group, &order).unwrap();
                        let sql = record_list_summary_in_db(&mut conn, scope, filter, spec.clone())
                            .unwrap();
                        let folded =
                            record_list_summary_folded(&mut conn, scope, filter, spec).unwrap();
                        assert_eq!(
                            sql, folded,
                            "{backend:?} scope {scope:?} filter {filter:?} group_by {group:?} \
                             order_by {order:?}"
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 300, "{compared}");
    }

    /// Rows written before the `run_*` columns (NULL) are summarised the same before and
    /// after the backfill, which fills them as the writes do, once.
    fn backfill_keeps_answers(backend: Backend) {
        let db = TestDb::migrated(backend);
        seed(&db, 1200);
        let mut conn = db.database().get().unwrap();
        let columns = |conn: &mut Conn| -> Vec<(String, RunColumns)> {
            with_conn!(conn, |c| records::table
                .order_by(records::id)
                .select((
                    records::id,
                    (
                        records::run_state,
                        records::run_reason,
                        records::run_start,
                        records::run_end,
                    ),
                ))
                .load::<(String, (Option<i16>, Option<i16>, Option<i64>, Option<i64>))>(
                    c
                ))
            .unwrap()
            .into_iter()
            .map(|(id, (run_state, run_reason, run_start, run_end))| {
                (
                    id,
                    RunColumns {
                        run_state,
                        run_reason,
                        run_start,
                        run_end,
                    },
                )
            })
            .collect()
        };
        let written = columns(&mut conn);
        let (_, folded, extracted) = run_states(&mut conn);
        assert!(folded > 50 && extracted > 600, "{folded} {extracted}");
        let scope = RecordScope::parse("-/results/-").unwrap();
        let specs = [
            SummarySpec::parse(ALL, "", "").unwrap(),
            SummarySpec::parse(ALL, "week", "").unwrap(),
            SummarySpec::parse(ALL, "pipeline", "failed desc").unwrap(),
        ];
        let answers = |conn: &mut Conn| -> Vec<Vec<SummaryRow>> {
            specs
                .iter()
                .map(|spec| record_list_summary_in_db(conn, &scope, "", spec.clone()).unwrap())
                .collect()
        };
        let before = answers(&mut conn);
        with_conn!(&mut conn, |c| diesel::update(records::table)
            .set(RunColumns::default())
            .execute(c))
        .unwrap();
        assert_eq!(run_states(&mut conn), (1200, 0, 0));
        assert_eq!(answers(&mut conn), before, "{backend:?}: all rows folded");
        // Partly backfilled: one batch of the three.
        let first = backfill_run_columns(&mut conn, "").unwrap().unwrap().last;
        assert_eq!(run_states(&mut conn).0, 1200 - BACKFILL_BATCH);
        assert_eq!(answers(&mut conn), before, "{backend:?}: some rows folded");
        assert!(backfill_run_columns(&mut conn, &first).unwrap().is_some());
        assert_eq!(backfill_all_run_columns(&mut conn).unwrap(), 1);
        assert_eq!(columns(&mut conn), written, "{backend:?}");
        assert_eq!(answers(&mut conn), before, "{backend:?}: backfilled");
        assert_eq!(backfill_all_run_columns(&mut conn).unwrap(), 0);
    }

    /// `SUMMARY_FIGURES=1 cargo test --release -p results-storage --lib summary_figures --
    /// --nocapture --test-threads 1` prints how long summaries take over 10,000 and
    /// 100,000 Records (`SUMMARY_SIZES=…` for others), folded in Rust and aggregated in
    /// SQL; nothing here asserts a time. With `SUMMARY_EXPLAIN=1` it instead writes the
    /// statement of a minute grouping to `/tmp/summary_<backend>.sql` and keeps the
    /// seeded database (named in the output; drop it by hand) for EXPLAIN.
    fn summary_figures(backend: Backend) {
        if std::env::var_os("SUMMARY_FIGURES").is_none() {
            return;
        }
        let sizes = std::env::var("SUMMARY_SIZES").unwrap_or_else(|_| "10000,100000".into());
        for n in sizes.split(',').map(|n| n.trim().parse::<usize>().unwrap()) {
            let db = TestDb::migrated(backend);
            let started = std::time::Instant::now();
            seed_runs(&db, n);
            let seeding = started.elapsed();
            let mut conn = db.database().get().unwrap();
            let scope = RecordScope::parse("-/results/-").unwrap();
            if std::env::var_os("SUMMARY_EXPLAIN").is_some() {
                let spec = SummarySpec::parse(ALL, "minute completionTime", "").unwrap();
                let statement = grouped(Dialect(backend), &spec, s("1 = 1"));
                let text = match backend {
                    Backend::Postgres => {
                        diesel::debug_query::<diesel::pg::Pg, _>(&statement).to_string()
                    }
                    Backend::Sqlite => {
                        diesel::debug_query::<diesel::sqlite::Sqlite, _>(&statement).to_string()
                    }
                    Backend::Mysql => {
                        diesel::debug_query::<diesel::mysql::Mysql, _>(&statement).to_string()
                    }
                };
                std::fs::write(format!("/tmp/summary_{backend:?}.sql"), text).unwrap();
                println!("kept database {}", db.name());
                std::mem::forget(db);
                return;
            }
            for (summary, group_by) in [
                ("total", ""),
                (ALL, ""),
                (ALL, "day"),
                (ALL, "pipeline"),
                (ALL, "minute completionTime"),
            ] {
                let spec = SummarySpec::parse(summary, group_by, "").unwrap();
                let time = |conn: &mut Conn, sql: bool| {
                    (0..3)
                        .map(|_| {
                            let t = std::time::Instant::now();
                            let rows = if sql {
                                record_list_summary_in_db(conn, &scope, "", spec.clone())
                            } else {
                                record_list_summary_folded(conn, &scope, "", spec.clone())
                            }
                            .unwrap();
                            (t.elapsed(), rows.len())
                        })
                        .min()
                        .unwrap()
                };
                let (fold, groups) = time(&mut conn, false);
                let (sql, _) = time(&mut conn, true);
                println!(
                    "{backend:?} n={n} (seeded in {:.1}s) summary={} group_by={group_by:?}: \
                     {groups} groups; fold {:.3}s, SQL {:.3}s ({:.1}x)",
                    seeding.as_secs_f64(),
                    if summary == ALL { "all" } else { summary },
                    fold.as_secs_f64(),
                    sql.as_secs_f64(),
                    fold.as_secs_f64() / sql.as_secs_f64()
                );
            }
        }
    }

    /// `n` PipelineRun-like Records (about 1.5 KiB each) over 10 namespaces, a day apart
    /// at most, as Kubernetes writes them.
    fn seed_runs(db: &TestDb, n: usize) {
        let mut rng = Rng(42);
        for start in (0..n).step_by(5000) {
            let mut results = Vec::new();
            let mut records = Vec::new();
            for i in start..(start + 5000).min(n) {
                let name = ResultName::parse(&format!("ns-{}/results/r{i}", i % 10)).unwrap();
                let created = Timestamp::from_nanos(1_700_000_000_000_000_000 + i as i64);
                let begin = 1_704_067_200 + (rng.next() % 86_400) as i64;
                let end = begin + (rng.next() % 3600) as i64;
                let at = |t: i64| {
                    chrono::DateTime::from_timestamp(t, 0)
                        .unwrap()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                };
                let reason = rng.pick(&["Succeeded", "Failed", "Cancelled", "Running"]);
                let doc = json!({
                    "apiVersion": "tekton.dev/v1",
                    "kind": "PipelineRun",
                    "metadata": {
                        "name": format!("run-{i}"),
                        "namespace": name.parent,
                        "uid": format!("{i:08}-aaaa-bbbb-cccc-dddddddddddd"),
                        "labels": {
                            "tekton.dev/pipeline": format!("pipeline-{}", i % 37),
                            "app.kubernetes.io/managed-by": "tekton-pipelines",
                        },
                        "annotations": {
                            "pipelinesascode.tekton.dev/repository": format!("repo-{}", i % 11),
                            "results.tekton.dev/record": "x".repeat(120),
                        },
                    },
                    "spec": {
                        "pipelineRef": {"name": format!("pipeline-{}", i % 37)},
                        "params": (0..8).map(|p| json!({"name": format!("param-{p}"), "value": "v".repeat(60)})).collect::<Vec<_>>(),
                        "timeouts": {"pipeline": "1h0m0s"},
                    },
                    "status": {
                        "conditions": [{
                            "type": "Succeeded",
                            "status": "True",
                            "reason": reason,
                            "message": "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0",
                            "lastTransitionTime": at(end),
                        }],
                        "startTime": at(begin),
                        "completionTime": at(end),
                    },
                });
                let (result, record) = bulk::pipeline_run(
                    name,
                    format!("result-{i:07}"),
                    "run".into(),
                    format!("record-{i:07}"),
                    serde_json::to_vec(&doc).unwrap(),
                    created,
                )
                .unwrap();
                results.push(result);
                records.push(record);
            }
            db.database()
                .run(|c| c.transaction(|c| bulk::insert_all(c, &results, &records)))
                .unwrap();
        }
    }

    crate::on_every_backend!(sql_equals_fold, backfill_keeps_answers, summary_figures);
}
