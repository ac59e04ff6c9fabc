//! Plan-shape tests: every common listing, first page and continued page, on SQLite,
//! PostgreSQL and MariaDB, over a few thousand Results and Records (one busy namespace,
//! five quiet ones, a Result that keeps growing) with fresh planner statistics. Each
//! page's plan must read rows in the requested order from an index, without sorting
//! and without reading a whole table, and a continued page must seek to its keyset; so
//! a page costs about a page of rows however large the tables grow. The checks are on
//! plan shape only, never on timing.
//!
//! MariaDB gets there for continued pages of one namespace only because the listing names
//! the index (`FORCE INDEX`, chosen by `namespace_index` in `store::list`): left to
//! itself, MariaDB 10.11 costs the keyset's `range` (each row looked up) above a table
//! scan while the rows still to come are a large part of the table, drops it, and reads
//! the same index as `ref` on the namespace alone, which reads and discards every row of
//! the earlier pages. In a table of this fixture's proportions (`ns-a` holds 3,500 of
//! 11,000 Records) a 21-row page 1,000 rows deep read 1,022 index entries that way
//! (`Handler_icp_attempts`), and from about 1,500 rows deep the range won by itself;
//! `testing::namespace_pages` measures it in a namespace of 100,000 Records. The
//! MariaDB namespace shapes below pinned `Walk` are the check that the hint is there.
//!
//! Where a backend does not manage that today, the test pins the current shape, so a
//! change in either direction shows (a [`PagePlan`] other than `Walk`):
//!
//! - **PostgreSQL, filtered Records of one Result, first page** (`Sorts`): the generic
//!   plan (see `PostgresSetup`) expects a Result to hold a handful of Records, so it
//!   collects the Result's rows with a bitmap and top-N sorts those passing the filter.
//!   The sort is bounded by the size of that one Result, not by the table; continued
//!   pages walk `records_by_result_create_time` from the keyset.
//! - **PostgreSQL, annotation filters** (`Sorts`): the `@>` pre-filter is answered by the
//!   GIN index `results_annotations_gin`, intersected with the namespace, and the matches
//!   are top-N sorted: a page costs in proportion to the namespace's matching Results.
//!   That is the point of the GIN index when an annotation is rare; for a common one it
//!   is the sort the other backends avoid by walking the namespace in order.
//! - **Orders by two time fields** (`Sorts`, every backend): no index holds two time
//!   columns, so the rows of the scope are sorted (PostgreSQL and SQLite only within
//!   ties of the first key when they walk its index; MariaDB by a filesort of the
//!   scope). An index per combination is not worth its writes.
//!
//! Where several indexes are listed, the planner picks among equally ordered walks by
//! its estimates: PostgreSQL's generic plan costs a namespace at 1/6 of the table here,
//! and may walk all namespaces' rows in order and filter, reading about six rows per
//! row returned; with more namespaces it takes the namespace's own index (checked with
//! 14). A JSON path (`data.status.conditions[0].reason`) or a name prefix filters rows
//! of the scope's order on every backend; on PostgreSQL the generic plan keeps that
//! order here rather than use the GIN index for `data @> …`. That choice rests on
//! estimates too: with 14 namespaces, a continued page of a JSON filter in `ns-a`
//! collected the namespace's remaining rows with a bitmap and top-N sorted the matches,
//! so on PostgreSQL a JSON filter's page is bounded by its scope, not by a page. This
//! fixture keeps one namespace large because that is where MariaDB would drop the
//! keyset's range without the index hint (with 14 namespaces `ns-a` holds 3/16 of the
//! rows, and the range wins by itself).

use diesel::prelude::*;

#[path = "indexed_plans.rs"]
mod indexed_plans;

use crate::connection::{with_conn, Backend, Conn};
use crate::json::JsonText;
use crate::model::{ListScope, RecordScope};
use crate::page::TokenSigner;
use crate::rows::{RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::store::stored_size::stored_bytes;
use crate::store::{list_records, list_results, ListRequest, Page};
use crate::testing::{explain_list_records, explain_list_results, QueryPlan, TestDb};
use crate::Error;

/// Where each round's Results go: `ns-a` is busy, five namespaces are quieter.
const ROUND: [&str; 8] = [
    "ns-a", "ns-a", "ns-a", "ns-b", "ns-c", "ns-d", "ns-e", "ns-f",
];
/// Rounds of Results; the first Result of each namespace, `big`, collects records
/// throughout.
const ROUNDS: usize = 250;
/// Records each Result gets when created: one PipelineRun, then TaskRuns.
const RECORDS_PER_RESULT: usize = 4;
/// Records `big` gets in each round, while the other Results come and go.
const BIG_RECORDS_PER_ROUND: usize = 2;
/// 2026-01-01T00:00:00Z; each row is created one second after the one before.
const EPOCH_SECONDS: i64 = 1_767_225_600;
/// Rows per INSERT.
const CHUNK: usize = 500;

const PIPELINE_RUN: &str = "tekton.dev/v1.PipelineRun";
const TASK_RUN: &str = "tekton.dev/v1.TaskRun";
const LOG: &str = "results.tekton.dev/v1alpha3.Log";

/// A small deterministic generator (PCG's LCG step), so every run plans the same data.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn nanos(second: i64) -> i64 {
    (EPOCH_SECONDS + second) * 1_000_000_000
}

fn uid(kind: u64, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

fn rfc3339(second: i64) -> String {
    let t = chrono::DateTime::from_timestamp(EPOCH_SECONDS + second, 0).expect("in range");
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Rows as a busy installation makes them: Results arrive round-robin over the
/// namespaces, each with a PipelineRun and TaskRuns; `big` in each namespace keeps
/// collecting TaskRuns and logs the whole time; updates come a little later, out of
/// creation order; about one run in ten fails.
fn fixture() -> (Vec<ResultRow>, Vec<RecordRow>) {
    let mut rng = Lcg(7);
    let (mut results, mut records) = (Vec::new(), Vec::new());
    let mut clock = 0i64;
    let mut tick = || {
        clock += 1;
        clock
    };
    let record = |rng: &mut Lcg,
                  records: &mut Vec<RecordRow>,
                  result: &ResultRow,
                  data_type: &str,
                  created: i64| {
        let failed = rng.below(10) == 0;
        let n = records.len();
        let data = format!(
            r#"{{"kind":"{kind}","metadata":{{"name":"rec-{n:05}","labels":{{"tekton.dev/pipeline":"p-{p}"}}}},"status":{{"conditions":[{{"type":"Succeeded","status":"{status}","reason":"{reason}"}}],"startTime":"{start}","completionTime":"{end}"}}}}"#,
            kind = data_type.rsplit('.').next().unwrap_or_default(),
            p = rng.below(20),
            status = if failed { "False" } else { "True" },
            reason = if failed { "Failed" } else { "Succeeded" },
            start = rfc3339(created),
            end = rfc3339(created + 30),
        );
        records.push(RecordRow {
            id: uid(2, n),
            result_id: result.id.clone(),
            parent: result.parent.clone(),
            result_name: result.name.clone(),
            name: format!("rec-{n:05}"),
            data_type: data_type.to_owned(),
            data: Some(JsonText(data)),
            create_time: nanos(created),
            update_time: nanos(created + 1 + rng.below(60) as i64),
            data_bytes: None,
        });
    };
    // The namespaces in order of appearance, each with its `big` Result and its count.
    let mut namespaces: Vec<(&str, usize, usize)> = Vec::new();
    for round in 0..ROUNDS {
        for parent in ROUND {
            let created = tick();
            let status = match rng.below(20) {
                0 | 1 => 2, // FAILURE
                2 => 0,     // still running: no times yet
                _ => 1,     // SUCCESS
            };
            let n = results.len();
            let count = match namespaces.iter_mut().find(|(p, ..)| *p == parent) {
                Some((_, _, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    namespaces.push((parent, n, 0));
                    0
                }
            };
            let name = match count {
                0 => "big".to_owned(),
                i => format!("run-{i:04}"),
            };
            let result = ResultRow {
                id: uid(1, n),
                parent: parent.to_owned(),
                annotations: JsonText(format!(
                    r#"{{"team":"team-{}","repo":"repo-{}"}}"#,
                    rng.below(5),
                    rng.below(50)
                )),
                summary_record: Some(format!("{parent}/results/{name}/records/rec")),
                summary_type: Some(PIPELINE_RUN.to_owned()),
                summary_status: Some(status),
                summary_start_time: (status != 0).then(|| nanos(created)),
                summary_end_time: (status != 0 && rng.below(10) != 0)
                    .then(|| nanos(created + 1 + rng.below(3600) as i64)),
                summary_annotations: Some(JsonText("{}".into())),
                create_time: nanos(created),
                update_time: nanos(created + 1 + rng.below(600) as i64),
                name,
            };
            for k in 0..RECORDS_PER_RESULT {
                let data_type = if k == 0 { PIPELINE_RUN } else { TASK_RUN };
                record(&mut rng, &mut records, &result, data_type, tick());
            }
            results.push(result);
        }
        for (_, big, _) in &namespaces {
            let big = results[*big].clone();
            for k in 0..BIG_RECORDS_PER_ROUND {
                let data_type = if (round + k) % 10 == 0 { LOG } else { TASK_RUN };
                record(&mut rng, &mut records, &big, data_type, tick());
            }
        }
    }
    (results, records)
}

/// Inserts the fixture in one transaction, 500 rows per INSERT on PostgreSQL and MariaDB
/// (diesel runs one in-process statement per row on SQLite, as some columns are
/// optional), then gathers planner statistics.
fn fill(conn: &mut Conn) {
    let (results, mut records) = fixture();
    for record in &mut records {
        let data = record.data.as_ref().map_or(&[][..], |d| d.0.as_bytes());
        record.data_bytes = stored_bytes(data, conn.backend());
    }
    conn.transaction(|conn| {
        for chunk in results.chunks(CHUNK) {
            with_conn!(conn, |c| diesel::insert_into(results::table)
                .values(chunk)
                .execute(c))
            .map_err(Error::db("filling results"))?;
        }
        for chunk in records.chunks(CHUNK) {
            with_conn!(conn, |c| diesel::insert_into(records::table)
                .values(chunk)
                .execute(c))
            .map_err(Error::db("filling records"))?;
        }
        Ok(())
    })
    .expect("fill");
    crate::testing::bulk::analyze(conn);
}

/// What is listed: Results of a parent, or Records of `<parent>/results/<result>`.
#[derive(Debug, Clone, Copy)]
enum Listing {
    Results(&'static str),
    Records(&'static str),
}

impl Listing {
    fn table(self) -> &'static str {
        match self {
            Listing::Results(_) => "results",
            Listing::Records(_) => "records",
        }
    }
}

/// What the plan of one page must look like.
#[derive(Debug, Clone, Copy)]
enum PagePlan {
    /// The rows come out of one of these indexes in the requested order: no sort, no
    /// full scan. On a second page the index read starts at the keyset: the uid
    /// tie-breaker `id`, which only the keyset bounds, is part of the seek.
    Walk(&'static [&'static str]),
    /// A documented gap: rows are read through one of these indexes (no full scan), then
    /// sorted (see the module documentation for where and why).
    Sorts(&'static [&'static str]),
}

/// One listing shape, and its first and second page on each backend.
struct Shape {
    listing: Listing,
    filter: &'static str,
    order_by: &'static str,
    sqlite: [PagePlan; 2],
    postgres: [PagePlan; 2],
    mariadb: [PagePlan; 2],
}

impl Shape {
    fn expected(&self, backend: Backend) -> [PagePlan; 2] {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
            Backend::Mysql => self.mariadb,
        }
    }
}

/// Both pages walk one of `indexes`.
const fn walk(indexes: &'static [&'static str]) -> [PagePlan; 2] {
    [PagePlan::Walk(indexes), PagePlan::Walk(indexes)]
}

/// The same expectation on every backend.
const fn everywhere(
    listing: Listing,
    filter: &'static str,
    order_by: &'static str,
    pages: [PagePlan; 2],
) -> Shape {
    Shape {
        listing,
        filter,
        order_by,
        sqlite: pages,
        postgres: pages,
        mariadb: pages,
    }
}

const BIG: Listing = Listing::Records("ns-a/results/big");
const NAMESPACE_RECORDS: Listing = Listing::Records("ns-a/results/-");
const ALL_RECORDS: Listing = Listing::Records("-/results/-");
const NAMESPACE_RESULTS: Listing = Listing::Results("ns-a");
const ALL_RESULTS: Listing = Listing::Results("-");

const BY_RESULT_CREATE: &[&str] = &["records_by_result_create_time"];
const BY_RESULT_UPDATE: &[&str] = &["records_by_result_update_time"];
/// Any index of one Result's Records, for a bitmap.
const BY_RESULT_ANY: &[&str] = &[
    "records_by_result_create_time",
    "records_by_result_update_time",
];
const RECORDS_BY_CREATE: &[&str] = &["records_by_create_time"];
const RECORDS_BY_PARENT_CREATE: &[&str] = &["records_by_parent_create_time"];
/// PostgreSQL's generic plan may instead walk all namespaces' Records in the same order
/// and filter by namespace (see the module documentation).
const RECORDS_BY_PARENT_CREATE_OR_ALL: &[&str] =
    &["records_by_parent_create_time", "records_by_create_time"];
const RECORDS_BY_PARENT_UPDATE_OR_ALL: &[&str] =
    &["records_by_parent_update_time", "records_by_update_time"];
const RESULTS_BY_PARENT_CREATE: &[&str] = &["results_by_parent_create_time"];
const RESULTS_BY_PARENT_CREATE_OR_ALL: &[&str] =
    &["results_by_parent_create_time", "results_by_create_time"];

const FAILED: &str = r#"data.status.conditions[0].reason == "Failed""#;
const AFTER_TWO_HOURS: &str = r#"create_time > timestamp("2026-01-01T02:00:00Z")"#;

/// Every listing shape checked, with the plan each backend is expected to choose.
const SHAPES: &[Shape] = &[
    // Records of one Result.
    everywhere(BIG, "", "", walk(BY_RESULT_CREATE)),
    everywhere(BIG, "", "create_time desc", walk(BY_RESULT_CREATE)),
    everywhere(BIG, "", "update_time", walk(BY_RESULT_UPDATE)),
    everywhere(BIG, "", "update_time desc", walk(BY_RESULT_UPDATE)),
    // Records of every Result of one namespace.
    Shape {
        listing: NAMESPACE_RECORDS,
        filter: "",
        order_by: "",
        sqlite: walk(RECORDS_BY_PARENT_CREATE),
        postgres: walk(RECORDS_BY_PARENT_CREATE_OR_ALL),
        mariadb: walk(RECORDS_BY_PARENT_CREATE),
    },
    Shape {
        listing: NAMESPACE_RECORDS,
        filter: "",
        order_by: "create_time desc",
        sqlite: walk(RECORDS_BY_PARENT_CREATE),
        postgres: walk(RECORDS_BY_PARENT_CREATE_OR_ALL),
        mariadb: walk(RECORDS_BY_PARENT_CREATE),
    },
    Shape {
        listing: NAMESPACE_RECORDS,
        filter: "",
        order_by: "update_time desc",
        sqlite: walk(&["records_by_parent_update_time"]),
        postgres: walk(RECORDS_BY_PARENT_UPDATE_OR_ALL),
        mariadb: walk(&["records_by_parent_update_time"]),
    },
    // Records of every Result of every namespace.
    everywhere(ALL_RECORDS, "", "", walk(RECORDS_BY_CREATE)),
    everywhere(ALL_RECORDS, "", "create_time desc", walk(RECORDS_BY_CREATE)),
    everywhere(
        ALL_RECORDS,
        "",
        "update_time desc",
        walk(&["records_by_update_time"]),
    ),
    // data_type: an index per scope; inside one Result the Result's own order + filter.
    Shape {
        listing: ALL_RECORDS,
        filter: r#"data_type == "tekton.dev/v1.PipelineRun""#,
        order_by: "create_time desc",
        sqlite: walk(&["records_by_type"]),
        postgres: walk(&["records_by_type", "records_by_create_time"]),
        // MariaDB compares data_type by bytes (no index can answer that): it walks the
        // time index and checks each row, seeking to the page token. Given a plain `=`
        // it would read `records_by_type` as `ref` and re-read every earlier page.
        mariadb: walk(&["records_by_create_time"]),
    },
    Shape {
        listing: NAMESPACE_RECORDS,
        filter: r#"data_type == "tekton.dev/v1.PipelineRun""#,
        order_by: "create_time desc",
        sqlite: walk(&["records_by_parent_type"]),
        postgres: walk(&["records_by_parent_type"]),
        mariadb: walk(RECORDS_BY_PARENT_CREATE),
    },
    Shape {
        listing: BIG,
        filter: r#"data_type == "tekton.dev/v1.TaskRun""#,
        order_by: "",
        sqlite: walk(BY_RESULT_CREATE),
        postgres: [
            PagePlan::Sorts(BY_RESULT_ANY),
            PagePlan::Walk(BY_RESULT_CREATE),
        ],
        mariadb: walk(BY_RESULT_CREATE),
    },
    // A JSON path: the scope's order + filter (PostgreSQL adds `@>`, answered by the
    // same filter in these plans).
    everywhere(
        ALL_RECORDS,
        FAILED,
        "create_time desc",
        walk(RECORDS_BY_CREATE),
    ),
    Shape {
        listing: NAMESPACE_RECORDS,
        filter: FAILED,
        order_by: "create_time desc",
        sqlite: walk(RECORDS_BY_PARENT_CREATE),
        postgres: walk(RECORDS_BY_PARENT_CREATE_OR_ALL),
        mariadb: walk(RECORDS_BY_PARENT_CREATE),
    },
    Shape {
        listing: BIG,
        filter: FAILED,
        order_by: "",
        sqlite: walk(BY_RESULT_CREATE),
        postgres: [
            PagePlan::Sorts(BY_RESULT_ANY),
            PagePlan::Walk(BY_RESULT_CREATE),
        ],
        mariadb: walk(BY_RESULT_CREATE),
    },
    // A name prefix: not sargable in the requested order; the Result's order + filter.
    Shape {
        listing: BIG,
        filter: r#"name.startsWith("rec-1")"#,
        order_by: "",
        sqlite: walk(BY_RESULT_CREATE),
        postgres: [
            PagePlan::Sorts(BY_RESULT_ANY),
            PagePlan::Walk(BY_RESULT_CREATE),
        ],
        mariadb: walk(BY_RESULT_CREATE),
    },
    // A time range on the order's own column bounds the same index.
    Shape {
        listing: NAMESPACE_RECORDS,
        filter: AFTER_TWO_HOURS,
        order_by: "",
        sqlite: walk(RECORDS_BY_PARENT_CREATE),
        postgres: walk(RECORDS_BY_PARENT_CREATE_OR_ALL),
        mariadb: walk(RECORDS_BY_PARENT_CREATE),
    },
    everywhere(
        ALL_RECORDS,
        AFTER_TWO_HOURS,
        "create_time desc",
        walk(RECORDS_BY_CREATE),
    ),
    // A time range on another column than the order's: on MariaDB the listing names no
    // index (the range's own index might serve it better), and MariaDB, like
    // PostgreSQL, walks every namespace's Records in order and filters.
    Shape {
        listing: NAMESPACE_RECORDS,
        filter: AFTER_TWO_HOURS,
        order_by: "update_time desc",
        sqlite: walk(&["records_by_parent_update_time"]),
        postgres: walk(RECORDS_BY_PARENT_UPDATE_OR_ALL),
        mariadb: walk(RECORDS_BY_PARENT_UPDATE_OR_ALL),
    },
    // Results of one namespace and of all.
    Shape {
        listing: NAMESPACE_RESULTS,
        filter: "",
        order_by: "",
        sqlite: walk(RESULTS_BY_PARENT_CREATE),
        postgres: walk(RESULTS_BY_PARENT_CREATE_OR_ALL),
        mariadb: walk(RESULTS_BY_PARENT_CREATE),
    },
    Shape {
        listing: NAMESPACE_RESULTS,
        filter: "",
        order_by: "create_time desc",
        sqlite: walk(RESULTS_BY_PARENT_CREATE),
        postgres: walk(RESULTS_BY_PARENT_CREATE_OR_ALL),
        mariadb: walk(RESULTS_BY_PARENT_CREATE),
    },
    Shape {
        listing: NAMESPACE_RESULTS,
        filter: "",
        order_by: "update_time desc",
        sqlite: walk(&["results_by_parent_update_time"]),
        postgres: walk(&["results_by_parent_update_time", "results_by_update_time"]),
        mariadb: walk(&["results_by_parent_update_time"]),
    },
    everywhere(
        ALL_RESULTS,
        "",
        "create_time desc",
        walk(&["results_by_create_time"]),
    ),
    // Summary status: an index per scope.
    Shape {
        listing: NAMESPACE_RESULTS,
        filter: "summary.status == FAILURE",
        order_by: "create_time desc",
        sqlite: walk(&["results_by_parent_status"]),
        postgres: walk(&["results_by_parent_status", "results_by_summary_status"]),
        mariadb: walk(&["results_by_parent_status"]),
    },
    Shape {
        listing: ALL_RESULTS,
        filter: "summary.status == FAILURE",
        order_by: "create_time desc",
        sqlite: walk(&["results_by_summary_status"]),
        postgres: walk(&["results_by_summary_status", "results_by_create_time"]),
        mariadb: walk(&["results_by_summary_status"]),
    },
    // An annotation: the namespace's order + filter; PostgreSQL intersects the namespace
    // with the GIN index and sorts.
    Shape {
        listing: NAMESPACE_RESULTS,
        filter: r#"annotations["team"] == "team-3""#,
        order_by: "create_time desc",
        sqlite: walk(RESULTS_BY_PARENT_CREATE),
        postgres: [
            PagePlan::Sorts(&["results_annotations_gin"]),
            PagePlan::Sorts(&["results_annotations_gin"]),
        ],
        mariadb: walk(RESULTS_BY_PARENT_CREATE),
    },
    // Summary times, absent first.
    Shape {
        listing: NAMESPACE_RESULTS,
        filter: "",
        order_by: "summary.start_time desc",
        sqlite: walk(&["results_by_parent_start_time"]),
        postgres: walk(&["results_by_parent_start_time", "results_by_start_time"]),
        mariadb: walk(&["results_by_parent_start_time"]),
    },
    Shape {
        listing: NAMESPACE_RESULTS,
        filter: "",
        order_by: "summary.end_time",
        sqlite: walk(&["results_by_parent_end_time"]),
        postgres: walk(&["results_by_parent_end_time", "results_by_end_time"]),
        mariadb: walk(&["results_by_parent_end_time"]),
    },
    everywhere(
        ALL_RESULTS,
        "",
        "summary.start_time desc",
        walk(&["results_by_start_time"]),
    ),
    // Two time keys: no index has both, so every backend sorts (see the module docs).
    Shape {
        listing: BIG,
        filter: "",
        order_by: "update_time desc, create_time desc",
        sqlite: [
            PagePlan::Sorts(&["records_by_name", "records_by_result_update_time"]),
            PagePlan::Sorts(BY_RESULT_UPDATE),
        ],
        postgres: [
            PagePlan::Sorts(BY_RESULT_UPDATE),
            PagePlan::Sorts(BY_RESULT_UPDATE),
        ],
        mariadb: [
            PagePlan::Sorts(BY_RESULT_ANY),
            PagePlan::Sorts(BY_RESULT_ANY),
        ],
    },
];

/// Rows per page; the continued page is the second.
const PAGE_SIZE: i32 = 20;

fn request<S>(scope: S, filter: &str, order_by: &str, size: i32, token: String) -> ListRequest<S> {
    ListRequest {
        scope,
        filter: filter.to_owned(),
        page_size: size,
        page_token: token,
        order_by: order_by.to_owned(),
    }
}

/// The plans of the first page and of the second (continued with the first's token).
fn plans(conn: &mut Conn, shape: &Shape) -> [QueryPlan; 2] {
    match shape.listing {
        Listing::Results(parent) => two_pages(
            conn,
            shape,
            ListScope::parse(parent, "parent", parent).expect("scope"),
            list_results,
            explain_list_results,
            |r| r.uid.clone(),
        ),
        Listing::Records(parent) => two_pages(
            conn,
            shape,
            RecordScope::parse(parent).expect("scope"),
            list_records,
            explain_list_records,
            |r| r.uid.clone(),
        ),
    }
}

/// Lists the first two pages and explains them. The two pages must also be one page
/// twice their size: the keyset the SQL compares agrees with the cursor the rows give.
fn two_pages<S: Clone, T>(
    conn: &mut Conn,
    shape: &Shape,
    scope: S,
    list: impl Fn(&mut Conn, &TokenSigner, &ListRequest<S>) -> crate::Result<Page<T>>,
    explain: impl Fn(&mut Conn, &TokenSigner, &ListRequest<S>) -> crate::Result<QueryPlan>,
    uid: impl Fn(&T) -> String,
) -> [QueryPlan; 2] {
    let signer = TokenSigner::new(b"plan-shapes".to_vec());
    let what = format!(
        "{:?} {:?} {:?}",
        shape.listing, shape.filter, shape.order_by
    );
    let page = |conn: &mut Conn, size, token| {
        let request = request(scope.clone(), shape.filter, shape.order_by, size, token);
        let page = list(conn, &signer, &request).expect("list");
        let uids: Vec<String> = page.items.iter().map(&uid).collect();
        (request, page.next_page_token, uids)
    };
    let (first, token, mut uids) = page(conn, PAGE_SIZE, String::new());
    assert!(!token.is_empty(), "{what}: one page only");
    let (second, _, more) = page(conn, PAGE_SIZE, token);
    uids.extend(more);
    let (_, _, both) = page(conn, 2 * PAGE_SIZE, String::new());
    assert_eq!(
        uids, both,
        "{what}: two pages differ from one twice their size"
    );
    [&first, &second].map(|r| explain(conn, &signer, r).expect("explain"))
}

/// Why `plan` (of page `number`, 1 or 2) does not match `expected`, if it does not.
fn mismatch(plan: &QueryPlan, table: &str, expected: PagePlan, number: usize) -> Option<String> {
    if plan.scans_table_fully(table) {
        return Some(format!("reads all of {table}"));
    }
    let (indexes, seek) = match expected {
        PagePlan::Walk(indexes) => (indexes, number == 2),
        PagePlan::Sorts(indexes) => {
            return match (plan.sorts(), indexes.iter().find(|i| plan.uses_index(i))) {
                (true, Some(_)) => None,
                (false, _) => Some("no sort (better than documented: update the test)".into()),
                (true, None) => Some(format!("sorts, but reads none of {indexes:?}")),
            };
        }
    };
    match plan.ordered_by_index(table) {
        None if plan.sorts() => return Some("sorts".into()),
        None => return Some("reads no index in order".into()),
        Some(index) if !indexes.contains(&index) => {
            return Some(format!("walks {index}, expected one of {indexes:?}"))
        }
        Some(_) => {}
    }
    (seek && !plan.seeks_by(table, "id")).then(|| "does not seek to the keyset".into())
}

/// Fills a fresh database on `backend` and checks every shape's two pages.
fn check_shapes(backend: Backend) {
    let db = TestDb::migrated(backend);
    let mut conn = db.database().get().expect("connection");
    fill(&mut conn);
    let mut failures = Vec::new();
    for shape in SHAPES {
        let plans = plans(&mut conn, shape);
        for (number, (plan, expected)) in (1..).zip(plans.iter().zip(shape.expected(backend))) {
            if let Some(why) = mismatch(plan, shape.listing.table(), expected, number) {
                failures.push(format!(
                    "{:?} filter {:?} order_by {:?}, page {number}: {why}; expected \
                     {expected:?}, plan:\n{plan}",
                    shape.listing, shape.filter, shape.order_by
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn listing_plans_on_sqlite() {
    check_shapes(Backend::Sqlite);
}

#[test]
fn listing_plans_on_postgres() {
    check_shapes(Backend::Postgres);
}

#[test]
fn listing_plans_on_mariadb() {
    check_shapes(Backend::Mysql);
}
