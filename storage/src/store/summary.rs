//! GetRecordListSummary, aggregated in the database.
//!
//! Which path runs: [`record_list_summary`] aggregates in the database on MariaDB and
//! folds in Rust on SQLite and PostgreSQL, by measurement (docs/performance.md,
//! "Summaries"): on PostgreSQL the time-shape checks and integer parsing below cost more
//! per row than sending five short fields over loopback and folding them (SQL 0.25–0.35×
//! the fold's speed at 100k Records), on SQLite they are about even, on MariaDB, whose
//! JSON reads are the slow part either way, one statement is 1.5–2.8× faster. Both paths
//! are kept correct on every backend by the differential test.
//!
//! [`record_list_summary_in_db`] runs one statement that groups and aggregates the filtered
//! Records in SQL and sends only the groups to the API; the in-memory [`Summarizer`]
//! (the reference semantics, see [`crate::summary`]) then merges them, orders them and
//! formats durations. [`record_list_summary_folded`] folds every matching row in Rust;
//! it is the reference the differential tests compare against.
//!
//! # What runs where
//!
//! On SQLite, PostgreSQL and MariaDB alike, the statement is a chain of derived tables
//! over the rows the listing condition selects (scope and filter exactly as in
//! listings, [`Plan::condition`]):
//!
//! 1. `t1` reads the five JSON fields once per row (`filter::data_text`, the same
//!    expressions the fold reads; on MariaDB cast to bytes so that comparisons and
//!    grouping are byte-wise, not by a padding or case-insensitive collation);
//! 2. `t2` classifies the reason (`Succeeded`/`Completed`, `Failed`, `Cancelled*`,
//!    `Running`/`Started`/`Pending`, other) and tests each time against the one shape
//!    SQL parses: `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` (Kubernetes writes `…Z` with whole
//!    seconds). SQLite uses GLOB, MariaDB a regular expression on the bytes (and the
//!    last byte, as PCRE's `$` also matches before a final newline), PostgreSQL LIKE,
//!    replace() and ltrim() (its regular expressions cost microseconds per row);
//! 3. `t2p` cuts out the integer parts (year … second, and the fraction right-padded
//!    to 9 digits, as chrono reads it), only of times of that shape;
//! 4. `t3` validates the parts (month, day of that month, hour, minute, second
//!    0–59, year 1970–2261) and computes in integer arithmetic the Unix seconds and
//!    the UTC bucket of the grouping (ISO weeks start Monday: `days − (days + 3) mod
//!    7`);
//! 5. the outer query groups by (handled, namespace, name, bucket) and computes count,
//!    the four reason counts, the number of durations, the sum of their whole seconds
//!    and of their nanosecond parts (separately, so that no sum can overflow a
//!    BIGINT), their minimum and maximum in nanoseconds and the latest start in
//!    nanoseconds. The years 1970–2261 keep every nanosecond value and difference
//!    inside an i64 (the fold computes in i128 for the times outside).
//!
//! Each derived table is fenced (`OFFSET 0`, `LIMIT`) so that the database computes
//! its columns once per row instead of inlining them at each use. On PostgreSQL the
//! statement runs with `SET LOCAL jit = off` in a transaction: its cost estimate
//! otherwise triggers JIT compilation, which took longer (about half a second) than
//! the query.
//!
//! A row whose start or completion time is present but not of that shape (an offset
//! other than `Z`, a lowercase `t`, more than 9 fraction digits, a leap second, a year
//! outside 1970–2261, a JSON `null` on MariaDB, anything unparsable) is *not* handled
//! in SQL: it lands in a group with handled = 0, whose count says how many such rows
//! there are. Only when there are some, [`record_list_summary_in_db`] scans the matching
//! rows again in keyset batches of 2,000 (the same chain, the first table limited to
//! the batch) and folds exactly those rows in Rust with chrono, as the fold always
//! did. Kubernetes-written Records never need this second pass.
//!
//! Pipeline and repository groups are `<namespace>/<name>`; SQL groups by the two
//! parts and Rust joins them and merges groups that join to the same text (a missing
//! name and an empty one both give `<namespace>/`). Ordering (by an aggregate, ties by
//! group key with absent keys first, text by bytes) is done in Rust by the
//! [`Summarizer`], so no collation takes part.
//!
//! Memory: the API holds one accumulator per group, as the fold did (the groups are
//! read in one answer, so briefly twice that); rows are never held. The database's
//! own work is a hash or sort aggregate over the groups (MariaDB materialises the
//! derived tables in temporary tables, on disk past `tmp_table_size`).
//!
//! No SQL text comes from a request: the group and unit choose among `&'static str`
//! fragments; scope and filter values are bound parameters.

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
use crate::summary::{namespaced, Acc, Group, Key, Summarizer, SummaryInput, SummaryRow};
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

/// Summarises the Records under `scope` that match `filter`: aggregated in the database
/// on MariaDB ([`record_list_summary_in_db`]), folded in Rust on SQLite and PostgreSQL
/// ([`record_list_summary_folded`]) — by measurement, each is the faster there
/// (docs/performance.md, "Summaries"); both give the same answers (`sql_equals_fold`).
pub fn record_list_summary(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    spec: SummarySpec,
) -> Result<Vec<SummaryRow>> {
    match conn.backend() {
        Backend::Mysql => record_list_summary_in_db(conn, scope, filter, spec),
        Backend::Sqlite | Backend::Postgres => {
            record_list_summary_folded(conn, scope, filter, spec)
        }
    }
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
    conn.note_statement_shape(statement.0.shape());
    let groups: Vec<GroupRow> =
        with_conn!(conn, |c| statement.load(c)).map_err(Error::db("summarising records"))?;
    let mut summarizer = Summarizer::new(spec);
    let mut unhandled = 0;
    for row in groups {
        let (handled, ns, name, bucket, total, succeeded, failed, cancelled, running) = row.0;
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
            Some(Group::Time { .. }) => bucket.map_or(Key::None, Key::Time),
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
        fold_unhandled(conn, scope, filter, &mut summarizer)?;
    }
    Ok(summarizer.finish())
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

/// Reads the Records `filter` selects under `scope` in keyset batches of [`BATCH`] rows
/// (the keyset before the filter, as in listings: SQLite seeks with the first bound):
/// `load` reads one batch given its condition and plan, `cursor` says where a row stands
/// (create time, uid), and `each` takes every row.
fn scan<R>(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    mut load: impl FnMut(&mut Conn, Fragment, &Plan) -> Result<Vec<R>>,
    cursor: impl Fn(&R) -> (i64, String),
    mut each: impl FnMut(R),
) -> Result<()> {
    let backend = conn.backend();
    let mut plan = scan_plan(backend, scope, filter)?.with_indexed_paths(conn.indexed_paths());
    loop {
        let condition = record_scope(scope)
            .and(plan.keyset())
            .and(plan.condition())
            .or_true();
        let rows = load(conn, condition, &plan)?;
        let done = rows.len() < BATCH as usize;
        if let Some(last) = rows.last() {
            let (create_time, uid) = cursor(last);
            plan.after = Some(Cursor {
                keys: vec![create_time],
                uid,
            });
        }
        rows.into_iter().for_each(&mut each);
        if done {
            return Ok(());
        }
    }
}

/// Folds in Rust the rows SQL did not handle, scanning in keyset batches.
fn fold_unhandled(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    summarizer: &mut Summarizer,
) -> Result<()> {
    let backend = conn.backend();
    let spec = summarizer.spec().clone();
    scan(
        conn,
        scope,
        filter,
        |conn, condition, plan| {
            let statement = unhandled_rows(Dialect(backend), &spec, condition, plan);
            conn.note_statement_shape(statement.0.shape());
            with_conn!(conn, |c| statement.load::<UnhandledRow>(c))
                .map_err(Error::db("summarising records"))
        },
        |(id, create_time, ..)| (*create_time, id.clone()),
        |(_, _, handled, parent, reason, start_time, completion_time, name)| {
            if handled != 0 {
                return;
            }
            let (pipeline, repository) = match spec.group {
                Some(Group::Repository) => (None, name),
                _ => (name, None),
            };
            summarizer.add(SummaryInput {
                parent,
                reason,
                start_time,
                completion_time,
                pipeline,
                repository,
            });
        },
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

/// Scans every matching Record in keyset batches and folds them in Rust with
/// [`Summarizer`]: the path on SQLite and PostgreSQL, where it is the faster, and the
/// reference of the differential tests; answers equal [`record_list_summary_in_db`]'s.
pub fn record_list_summary_folded(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    spec: SummarySpec,
) -> Result<Vec<SummaryRow>> {
    let backend = conn.backend();
    let mut summarizer = Summarizer::new(spec);
    scan(
        conn,
        scope,
        filter,
        |conn, condition, plan| {
            let order = plan.order_by();
            conn.note_statement_shape(condition.shape());
            with_conn!(conn, |c| records::table
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
            .map_err(Error::db("summarising records"))
        },
        |(id, create_time, ..)| (*create_time, id.clone()),
        |(_, _, parent, reason, start_time, completion_time, pipeline, repository)| {
            summarizer.add(SummaryInput {
                parent,
                reason,
                start_time,
                completion_time,
                pipeline,
                repository,
            })
        },
    )?;
    Ok(summarizer.finish())
}

/// One group of [`grouped`]: (handled, namespace, name, bucket, count, succeeded,
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

/// One row of a batch of [`unhandled_rows`]: id, create_time, handled, namespace,
/// reason, start, completion, pipeline or repository (the texts only when not handled).
type UnhandledRow = (
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

type UnhandledSql = (
    Text,
    BigInt,
    BigInt,
    Text,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<Text>,
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

    /// Integer division of non-negative operands.
    fn div(self) -> &'static str {
        match self.0 {
            Backend::Mysql => " DIV ",
            _ => " / ",
        }
    }

    fn length(self, e: Sql) -> Sql {
        cat([
            s(match self.0 {
                Backend::Mysql => "CHAR_LENGTH(",
                _ => "length(",
            }),
            e,
            s(")"),
        ])
    }

    /// After a derived table that must be computed once per row, not inlined into the
    /// query around it (which would re-evaluate its expressions at each use).
    fn fence(self) -> &'static str {
        match self.0 {
            Backend::Sqlite => " LIMIT -1",
            Backend::Postgres => " OFFSET 0",
            Backend::Mysql => " LIMIT 18446744073709551615",
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

    fn null_int(self) -> Sql {
        self.int(s("NULL"))
    }

    /// 1 when text `t` reads `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` (digits unchecked), else 0.
    fn shaped(self, t: &Sql) -> Sql {
        let t = || t.clone();
        match self.0 {
            Backend::Sqlite => cat([
                s("CASE WHEN "),
                t(),
                s(" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'"),
                s(" AND (length("),
                t(),
                s(") = 20 OR (length("),
                t(),
                s(") BETWEEN 22 AND 30 AND substr("),
                t(),
                s(", 20, 1) = '.' AND substr("),
                t(),
                s(", 21, length("),
                t(),
                s(") - 21) NOT GLOB '*[^0-9]*')) THEN 1 ELSE 0 END"),
            ]),
            // Without a regular expression or translate(), which cost a microsecond or
            // more per row: LIKE fixes the separators; once '-', ':' and 'T' are removed,
            // the first 14 characters are digits exactly when ltrim() leaves what follows
            // the seconds (and exactly the five separators LIKE placed were removed); the
            // fraction is digits when ltrim() leaves only the 'Z'.
            Backend::Postgres => cat([
                s("CASE WHEN "),
                t(),
                s(" LIKE '____-__-__T__:__:__%Z' AND length(replace(replace(replace("),
                t(),
                s(", '-', ''), ':', ''), 'T', '')) = length("),
                t(),
                s(") - 5 AND length(ltrim(replace(replace(replace("),
                t(),
                s(", '-', ''), ':', ''), 'T', ''), '0123456789')) = length("),
                t(),
                s(") - 19 AND (length("),
                t(),
                s(") = 20 OR (length("),
                t(),
                s(") BETWEEN 22 AND 30 AND substr("),
                t(),
                s(", 20, 1) = '.' AND ltrim(substr("),
                t(),
                s(", 21), '0123456789') = 'Z')) THEN 1 ELSE 0 END"),
            ]),
            // `$` also matches before a final newline in PCRE: the last byte is checked.
            Backend::Mysql => cat([
                s("CASE WHEN "),
                t(),
                s(" REGEXP '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?Z$' AND RIGHT("),
                t(),
                s(", 1) = 'Z' THEN 1 ELSE 0 END"),
            ]),
        }
    }

    /// The parts of time text `t` whose shape flag is `m` (NULL when not shaped).
    fn parts(self, t: &Sql, m: &Sql) -> Parts {
        let digits = |at: &'static str| {
            cat([
                s("CASE WHEN "),
                m.clone(),
                s(" = 1 THEN "),
                self.int(cat([s("substr("), t.clone(), s(at), s(")")])),
                s(" END"),
            ])
        };
        let fraction = match self.0 {
            Backend::Mysql => cat([
                s("SUBSTR(CONCAT(SUBSTR("),
                t.clone(),
                s(", 21, "),
                self.length(t.clone()),
                s(" - 21), '000000000'), 1, 9)"),
            ]),
            _ => cat([
                s("substr(substr("),
                t.clone(),
                s(", 21, "),
                self.length(t.clone()),
                s(" - 21) || '000000000', 1, 9)"),
            ]),
        };
        Parts {
            m: m.clone(),
            y: digits(", 1, 4"),
            mo: digits(", 6, 2"),
            d: digits(", 9, 2"),
            h: digits(", 12, 2"),
            mi: digits(", 15, 2"),
            s: digits(", 18, 2"),
            f: cat([
                s("CASE WHEN "),
                m.clone(),
                s(" = 1 THEN CASE WHEN "),
                self.length(t.clone()),
                s(" > 20 THEN "),
                self.int(fraction),
                s(" ELSE 0 END END"),
            ]),
        }
    }
}

/// Integer parts of a time of the shape SQL reads.
struct Parts {
    m: Sql,
    y: Sql,
    mo: Sql,
    d: Sql,
    h: Sql,
    mi: Sql,
    s: Sql,
    f: Sql,
}

impl Parts {
    /// Parts that are columns of these names (shape flag, year, month, day, hour,
    /// minute, second, nanoseconds).
    fn columns(names: [&'static str; 8]) -> Parts {
        let [m, y, mo, d, h, mi, sec, f] = names.map(s);
        Parts {
            m,
            y,
            mo,
            d,
            h,
            mi,
            s: sec,
            f,
        }
    }

    fn leap(&self) -> Sql {
        let y = || self.y.clone();
        cat([
            s("CASE WHEN ("),
            y(),
            s(" % 4 = 0 AND "),
            y(),
            s(" % 100 <> 0) OR "),
            y(),
            s(" % 400 = 0 THEN 1 ELSE 0 END"),
        ])
    }

    /// 1 when the parts are a time chrono reads whose nanoseconds fit an i64 (and whose
    /// differences do), else 0.
    fn valid(&self) -> Sql {
        let days_in_month = cat([
            s("CASE WHEN "),
            self.mo.clone(),
            s(" = 2 THEN 28 + "),
            self.leap(),
            s(" WHEN "),
            self.mo.clone(),
            s(" IN (4, 6, 9, 11) THEN 30 ELSE 31 END"),
        ]);
        cat([
            s("CASE WHEN "),
            self.m.clone(),
            s(" = 1 AND "),
            self.y.clone(),
            s(" BETWEEN 1970 AND 2261 AND "),
            self.mo.clone(),
            s(" BETWEEN 1 AND 12 AND "),
            self.d.clone(),
            s(" >= 1 AND "),
            self.d.clone(),
            s(" <= "),
            days_in_month,
            s(" AND "),
            self.h.clone(),
            s(" <= 23 AND "),
            self.mi.clone(),
            s(" <= 59 AND "),
            self.s.clone(),
            s(" <= 59 THEN 1 ELSE 0 END"),
        ])
    }

    /// Days from 1970-01-01 to the first of the year.
    fn year_days(&self, d: Dialect) -> Sql {
        let y = || self.y.clone();
        cat([
            s("(365 * ("),
            y(),
            s(" - 1970) + ("),
            y(),
            s(" - 1)"),
            s(d.div()),
            s("4 - ("),
            y(),
            s(" - 1)"),
            s(d.div()),
            s("100 + ("),
            y(),
            s(" - 1)"),
            s(d.div()),
            s("400 - 477)"),
        ])
    }

    /// Days from 1970-01-01 to the first of the month.
    fn month_days(&self, d: Dialect) -> Sql {
        cat([
            s("("),
            self.year_days(d),
            s(" + CASE "),
            self.mo.clone(),
            s(
                " WHEN 1 THEN 0 WHEN 2 THEN 31 WHEN 3 THEN 59 WHEN 4 THEN 90 WHEN 5 THEN 120 \
               WHEN 6 THEN 151 WHEN 7 THEN 181 WHEN 8 THEN 212 WHEN 9 THEN 243 \
               WHEN 10 THEN 273 WHEN 11 THEN 304 ELSE 334 END + CASE WHEN ",
            ),
            self.mo.clone(),
            s(" > 2 THEN "),
            self.leap(),
            s(" ELSE 0 END)"),
        ])
    }

    /// Days from 1970-01-01 to the date.
    fn days(&self, d: Dialect) -> Sql {
        cat([
            s("("),
            self.month_days(d),
            s(" + "),
            self.d.clone(),
            s(" - 1)"),
        ])
    }

    /// Unix seconds.
    fn epoch(&self, d: Dialect) -> Sql {
        cat([
            s("("),
            self.days(d),
            s(" * 86400 + "),
            self.h.clone(),
            s(" * 3600 + "),
            self.mi.clone(),
            s(" * 60 + "),
            self.s.clone(),
            s(")"),
        ])
    }

    /// Unix seconds of the start of the UTC period holding the time.
    fn bucket(&self, d: Dialect, unit: Unit) -> Sql {
        let hour = || cat([s(" + "), self.h.clone(), s(" * 3600")]);
        match unit {
            Unit::Year => cat([self.year_days(d), s(" * 86400")]),
            Unit::Month => cat([self.month_days(d), s(" * 86400")]),
            // 1970-01-01 was a Thursday: Monday is 3 days before.
            Unit::Week => cat([
                s("("),
                self.days(d),
                s(" - ("),
                self.days(d),
                s(" + 3) % 7) * 86400"),
            ]),
            Unit::Day => cat([self.days(d), s(" * 86400")]),
            Unit::Hour => cat([s("("), self.days(d), s(" * 86400"), hour(), s(")")]),
            Unit::Minute => cat([
                s("("),
                self.days(d),
                s(" * 86400"),
                hour(),
                s(" + "),
                self.mi.clone(),
                s(" * 60)"),
            ]),
        }
    }
}

/// `t3` (over `t1`, `t2`, `t2p`, see the module docs): per row the namespace, group
/// name, reason class, and for each time whether it is absent (`sn0`), valid in SQL
/// (`sv`), its seconds and nanoseconds (`se`, `sf`), and the bucket `kt` of the
/// grouping; `raw` adds id, create_time and the texts.
/// `t1_tail` follows `t1`'s WHERE (a fence, or an ORDER BY and LIMIT).
fn per_row(d: Dialect, spec: &SummarySpec, condition: Sql, t1_tail: Sql, raw: bool) -> Sql {
    let name = match spec.group {
        Some(Group::Pipeline) => d.json(PIPELINE),
        Some(Group::Repository) => d.json(REPOSITORY),
        _ => d.null_text(),
    };
    let t1 = cat([
        s("SELECT "),
        s(if raw { "id, create_time, " } else { "" }),
        d.bytes(s("parent")),
        s(" AS parent, "),
        d.json(REASON),
        s(" AS r0, "),
        d.json(START),
        s(" AS s0, "),
        d.json(COMPLETION),
        s(" AS c0, "),
        name,
        s(" AS g0 FROM records WHERE "),
        condition,
        t1_tail,
    ]);
    let class = cat([s(
        "CASE WHEN r0 IN ('Succeeded', 'Completed') THEN 1 WHEN r0 = 'Failed' THEN 2 \
         WHEN substr(r0, 1, 9) = 'Cancelled' THEN 3 \
         WHEN r0 IN ('Running', 'Started', 'Pending') THEN 4 ELSE 5 END",
    )]);
    let t2 = cat([
        s("SELECT "),
        s(if raw { "id, create_time, " } else { "" }),
        s("parent, r0, s0, c0, g0, "),
        class,
        s(" AS cls, "),
        d.shaped(&s("s0")),
        s(" AS sm, "),
        d.shaped(&s("c0")),
        s(" AS cm FROM ("),
        t1,
        s(") t1"),
        s(d.fence()),
    ]);
    // The parts once per row: each is read several times below.
    let part_columns = |p: Parts, names: [&'static str; 7]| {
        let [y, mo, day, h, mi, sec, f] = names;
        cat([
            p.y,
            s(y),
            p.mo,
            s(mo),
            p.d,
            s(day),
            p.h,
            s(h),
            p.mi,
            s(mi),
            p.s,
            s(sec),
            p.f,
            s(f),
        ])
    };
    let t2p = cat([
        s("SELECT "),
        s(if raw {
            "id, create_time, r0, s0, c0, "
        } else {
            ""
        }),
        s(
            "parent, g0, cls, sm, cm, CASE WHEN s0 IS NULL THEN 1 ELSE 0 END AS sn0, \
           CASE WHEN c0 IS NULL THEN 1 ELSE 0 END AS cn0, ",
        ),
        part_columns(
            d.parts(&s("s0"), &s("sm")),
            [
                " AS sy, ",
                " AS smo, ",
                " AS sd, ",
                " AS sh, ",
                " AS smi, ",
                " AS ss, ",
                " AS sf, ",
            ],
        ),
        part_columns(
            d.parts(&s("c0"), &s("cm")),
            [
                " AS cy, ",
                " AS cmo, ",
                " AS cd, ",
                " AS ch, ",
                " AS cmi, ",
                " AS cs, ",
                " AS cf",
            ],
        ),
        s(" FROM ("),
        t2,
        s(") t2"),
        s(d.fence()),
    ]);
    let start = Parts::columns(["sm", "sy", "smo", "sd", "sh", "smi", "ss", "sf"]);
    let completion = Parts::columns(["cm", "cy", "cmo", "cd", "ch", "cmi", "cs", "cf"]);
    let bucket = match spec.group {
        Some(Group::Time {
            unit,
            completion: c,
        }) => {
            let p = if c { &completion } else { &start };
            cat([
                s("CASE WHEN "),
                p.valid(),
                s(" = 1 THEN "),
                p.bucket(d, unit),
                s(" END"),
            ])
        }
        _ => d.null_int(),
    };
    cat([
        s("SELECT "),
        s(if raw {
            "id, create_time, r0, s0, c0, "
        } else {
            ""
        }),
        s("parent, g0, cls, sn0, "),
        start.valid(),
        s(" AS sv, "),
        start.epoch(d),
        s(" AS se, sf, cn0, "),
        completion.valid(),
        s(" AS cv, "),
        completion.epoch(d),
        s(" AS ce, cf, "),
        bucket,
        s(" AS kt FROM ("),
        t2p,
        s(") t2p"),
        s(d.fence()),
    ])
}

/// 1 when SQL handles the row of `t3`, else 0.
const HANDLED: &str = "CASE WHEN (sn0 = 1 OR sv = 1) AND (cn0 = 1 OR cv = 1) THEN 1 ELSE 0 END";

/// The aggregate statement: one row per (handled, namespace, name, bucket).
fn grouped(d: Dialect, spec: &SummarySpec, condition: Sql) -> Statement<GroupSql> {
    let (ns, name) = match spec.group {
        Some(Group::Namespace) => (s("parent"), d.null_text()),
        Some(Group::Pipeline | Group::Repository) => (s("parent"), s("g0")),
        _ => (d.null_text(), d.null_text()),
    };
    const DURATION: &str =
        "CASE WHEN sv = 1 AND cv = 1 THEN (ce - se) * 1000000000 + (cf - sf) END";
    let sum = |e: &'static str| d.int(cat([s("SUM("), s(e), s(")")]));
    let sql = cat([
        s("SELECT "),
        d.int(s(HANDLED)),
        s(", "),
        ns,
        s(", "),
        name,
        s(", "),
        d.int(s("kt")),
        s(", "),
        d.int(s("COUNT(*)")),
        s(", "),
        sum("CASE WHEN cls = 1 THEN 1 ELSE 0 END"),
        s(", "),
        sum("CASE WHEN cls = 2 THEN 1 ELSE 0 END"),
        s(", "),
        sum("CASE WHEN cls = 3 THEN 1 ELSE 0 END"),
        s(", "),
        sum("CASE WHEN cls = 4 THEN 1 ELSE 0 END"),
        s(", "),
        d.int(cat([s("COUNT("), s(DURATION), s(")")])),
        s(", "),
        sum("CASE WHEN sv = 1 AND cv = 1 THEN ce - se END"),
        s(", "),
        sum("CASE WHEN sv = 1 AND cv = 1 THEN cf - sf END"),
        s(", "),
        d.int(cat([s("MIN("), s(DURATION), s(")")])),
        s(", "),
        d.int(cat([s("MAX("), s(DURATION), s(")")])),
        s(", "),
        d.int(s("MAX(CASE WHEN sv = 1 THEN se * 1000000000 + sf END)")),
        s(" FROM ("),
        per_row(d, spec, condition, s(d.fence()), false),
        s(") t3 GROUP BY 1, 2, 3, 4"),
    ]);
    Statement(sql.cast())
}

/// A batch of the scan for the rows SQL does not handle: the next [`BATCH`] rows after
/// the plan's cursor, with their texts when not handled.
fn unhandled_rows(
    d: Dialect,
    spec: &SummarySpec,
    condition: Fragment,
    plan: &Plan,
) -> Statement<UnhandledSql> {
    let tail = cat([
        s(" ORDER BY "),
        plan.order_by().cast(),
        s(" LIMIT "),
        s(BATCH_TEXT),
    ]);
    let unless_handled = |column: &'static str| {
        cat([
            s("CASE WHEN "),
            s(HANDLED),
            s(" = 0 THEN "),
            s(column),
            s(" END"),
        ])
    };
    let sql = cat([
        s("SELECT id, create_time, "),
        d.int(s(HANDLED)),
        s(", parent, "),
        unless_handled("r0"),
        s(", "),
        unless_handled("s0"),
        s(", "),
        unless_handled("c0"),
        s(", "),
        unless_handled("g0"),
        s(" FROM ("),
        per_row(d, spec, condition.cast(), tail, true),
        s(") t3 ORDER BY "),
        plan.order_by().cast(),
    ]);
    Statement(sql.cast())
}

/// [`BATCH`] as SQL text.
const BATCH_TEXT: &str = "2000";
const _: () = assert!(BATCH == 2000, "BATCH_TEXT spells BATCH");

#[cfg(test)]
mod tests {
    //! Differential tests: the SQL path answers exactly what folding the same rows with
    //! the in-memory [`Summarizer`] answers, on generated edge cases.

    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::model::{ListScope, RecordData, RecordName, ResultName, StoredRecord};
    use crate::model::{StoredResult, Timestamp};
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
            let result = StoredResult {
                name: name.clone(),
                uid: format!("result-{i:05}"),
                create_time: created,
                update_time: created,
                annotations: BTreeMap::new(),
                summary: None,
            };
            let doc = serde_json::to_vec(&document(&mut rng, i)).unwrap();
            records.push((
                result.uid.clone(),
                StoredRecord {
                    name: RecordName {
                        parent: name.parent.clone(),
                        result: name.result.clone(),
                        record: format!("rec{i}"),
                    },
                    uid: format!("record-{:05}", (i * 7919) % n),
                    data: RecordData::new("tekton.dev/v1.PipelineRun".into(), doc).unwrap(),
                    create_time: created,
                    update_time: created,
                },
            ));
            results.push(result);
        }
        db.database()
            .run(|c| c.transaction(|c| bulk::insert_all(c, &results, &records)))
            .unwrap();
    }

    const ALL: &str = "total,succeeded,failed,cancelled,running,others,avg_duration,\
                       min_duration,max_duration,total_duration,last_runtime";

    fn sql_equals_fold(backend: Backend) {
        let db = TestDb::migrated(backend);
        seed(&db, 400);
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
        assert!(
            handled(1) > 200 && handled(0) > 40,
            "{backend:?}: {} rows in SQL, {} in Rust",
            handled(1),
            handled(0)
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
                let result = StoredResult {
                    name: name.clone(),
                    uid: format!("result-{i:07}"),
                    create_time: created,
                    update_time: created,
                    annotations: BTreeMap::new(),
                    summary: None,
                };
                records.push((
                    result.uid.clone(),
                    StoredRecord {
                        name: RecordName {
                            parent: name.parent.clone(),
                            result: name.result.clone(),
                            record: "run".into(),
                        },
                        uid: format!("record-{i:07}"),
                        data: RecordData::new(
                            "tekton.dev/v1.PipelineRun".into(),
                            serde_json::to_vec(&doc).unwrap(),
                        )
                        .unwrap(),
                        create_time: created,
                        update_time: created,
                    },
                ));
                results.push(result);
            }
            db.database()
                .run(|c| c.transaction(|c| bulk::insert_all(c, &results, &records)))
                .unwrap();
        }
    }

    crate::on_every_backend!(sql_equals_fold, summary_figures);
}
