//! A measurement, not a check: what a page costs deep in a large namespace on MariaDB.
//! It runs only when `RESULTS_MEASURE_NAMESPACE_PAGES` is set (to the Records of the large
//! namespace, e.g. `100000`), in a release build:
//!
//! ```sh
//! RESULTS_MEASURE_NAMESPACE_PAGES=100000 cargo test --release -p results-storage --lib \
//!     measure_namespace_pages -- --nocapture
//! ```
//!
//! `ns-a` gets that many Records (one Result per 5), five other namespaces a fifth as
//! many each, created interleaved in time (so `ns-a` holds half the table). Each listing
//! is paged to its end, 100 rows a page, newest first; for each page the connection's
//! own handler counters say how many index entries MariaDB read (`Handler_icp_attempts`
//! when the index condition is pushed down, else `Handler_read_next` +
//! `Handler_read_prev`). It prints, per listing, the total time and entries read, the
//! mean time and entries read per page in each tenth of the pages, and the ratio of the
//! last tenth to the first: flat when a page seeks to its token, growing with the depth
//! when it re-reads the earlier pages.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::connection::{with_conn, Backend, Conn};
use crate::json::JsonText;
use crate::model::{ListScope, RecordScope};
use crate::page::TokenSigner;
use crate::rows::{RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::store::stored_size::stored_bytes;
use crate::store::{list_records, list_results, ListRequest, Page};
use crate::testing::TestDb;
use crate::Error;

const OTHERS: [&str; 5] = ["ns-b", "ns-c", "ns-d", "ns-e", "ns-f"];
const RECORDS_PER_RESULT: usize = 5;
/// 2026-01-01T00:00:00Z.
const EPOCH_SECONDS: i64 = 1_767_225_600;
const PAGE_SIZE: i32 = 100;

fn uid(kind: u32, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

/// `big` Records in `ns-a` and `big / 5` in each other namespace, interleaved: of every
/// ten Results, five are `ns-a`'s.
fn fixture(big: usize) -> (Vec<ResultRow>, Vec<RecordRow>) {
    let results_in_a = big / RECORDS_PER_RESULT;
    let (mut results, mut records) = (Vec::new(), Vec::new());
    let mut second = 0i64;
    for n in 0..2 * results_in_a {
        let parent = match n % 10 {
            i @ 5..=9 => OTHERS[i - 5],
            _ => "ns-a",
        };
        second += 1;
        let failed = n % 10 == 3;
        let result = ResultRow {
            id: uid(1, n),
            parent: parent.to_owned(),
            name: format!("run-{n:07}"),
            annotations: JsonText(format!(r#"{{"team":"team-{}"}}"#, n % 5)),
            summary_record: None,
            summary_type: Some("tekton.dev/v1.PipelineRun".into()),
            summary_status: Some(if failed { 2 } else { 1 }),
            summary_start_time: Some((EPOCH_SECONDS + second) * 1_000_000_000),
            summary_end_time: None,
            summary_annotations: None,
            create_time: (EPOCH_SECONDS + second) * 1_000_000_000,
            update_time: (EPOCH_SECONDS + second + 600) * 1_000_000_000,
        };
        for k in 0..RECORDS_PER_RESULT {
            second += 1;
            let i = records.len();
            let kind = if k == 0 { "PipelineRun" } else { "TaskRun" };
            let data = format!(
                r#"{{"kind":"{kind}","metadata":{{"name":"rec-{i}"}},"status":{{"conditions":[{{"type":"Succeeded","reason":"{}"}}]}}}}"#,
                if failed { "Failed" } else { "Succeeded" }
            );
            records.push(RecordRow {
                id: uid(2, i),
                result_id: result.id.clone(),
                parent: parent.to_owned(),
                result_name: result.name.clone(),
                name: format!("rec-{k}"),
                data_type: format!("tekton.dev/v1.{kind}"),
                data: Some(JsonText(data)),
                create_time: (EPOCH_SECONDS + second) * 1_000_000_000,
                update_time: (EPOCH_SECONDS + second + 30) * 1_000_000_000,
                data_bytes: None,
            });
        }
        results.push(result);
    }
    (results, records)
}

fn fill(conn: &mut Conn, big: usize) {
    let (results, mut records) = fixture(big);
    for record in &mut records {
        let data = record.data.as_ref().map_or(&[][..], |d| d.0.as_bytes());
        record.data_bytes = stored_bytes(data, conn.backend());
    }
    conn.transaction(|conn| {
        for chunk in results.chunks(500) {
            with_conn!(conn, |c| diesel::insert_into(results::table)
                .values(chunk)
                .execute(c))
            .map_err(Error::db("filling results"))?;
        }
        for chunk in records.chunks(500) {
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

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = "Variable_name")]
    name: String,
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

/// Index entries this session has read so far: `(icp_attempts, read_next + read_prev)`.
fn entries_read(conn: &mut Conn) -> (u64, u64) {
    let rows: Vec<Status> = with_conn!(conn, |c| diesel::sql_query(
        "SHOW SESSION STATUS WHERE Variable_name IN \
         ('Handler_icp_attempts', 'Handler_read_next', 'Handler_read_prev')"
    )
    .load(c))
    .expect("status");
    let get = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map_or(0, |r| r.value.parse().unwrap_or(0))
    };
    (
        get("Handler_icp_attempts"),
        get("Handler_read_next") + get("Handler_read_prev"),
    )
}

/// Pages `list` to the end: per page, its time and the index entries read.
fn measure<S: Clone, T>(
    conn: &mut Conn,
    scope: S,
    filter: &str,
    list: impl Fn(&mut Conn, &TokenSigner, &ListRequest<S>) -> crate::Result<Page<T>>,
) -> Vec<(Duration, u64)> {
    let signer = TokenSigner::new(b"measure".to_vec());
    let mut request = ListRequest {
        scope,
        filter: filter.to_owned(),
        page_size: PAGE_SIZE,
        page_token: String::new(),
        order_by: "create_time desc".into(),
    };
    let mut pages = Vec::new();
    loop {
        let (icp, next) = entries_read(conn);
        let started = Instant::now();
        let page = list(conn, &signer, &request).expect("list");
        let took = started.elapsed();
        let (icp_after, next_after) = entries_read(conn);
        // With the condition pushed down, each entry read is an ICP attempt; without,
        // each is a read_next/read_prev.
        let read = match icp_after - icp {
            0 => next_after - next,
            n => n,
        };
        pages.push((took, read));
        if page.next_page_token.is_empty() {
            return pages;
        }
        request.page_token = page.next_page_token;
    }
}

fn report(label: &str, pages: &[(Duration, u64)]) {
    let tenth = (pages.len() / 10).max(1);
    let mean = |part: &[(Duration, u64)]| {
        let ms = part.iter().map(|(d, _)| d.as_secs_f64() * 1e3).sum::<f64>() / part.len() as f64;
        let read = part.iter().map(|(_, r)| *r as f64).sum::<f64>() / part.len() as f64;
        (ms, read)
    };
    let tenths: Vec<(f64, f64)> = pages.chunks(tenth).map(mean).collect();
    let (first_ms, first_read) = tenths[0];
    let (last_ms, last_read) = tenths[tenths.len() - 1];
    let total: Duration = pages.iter().map(|(d, _)| *d).sum();
    let read: u64 = pages.iter().map(|(_, r)| r).sum();
    let max = pages.iter().map(|(_, r)| *r).max().unwrap_or(0);
    println!(
        "{label}: {} pages in {:.2} s, {read} index entries read (at most {max} by a page); \
         last tenth / first tenth: time {last_ms:.2} / {first_ms:.2} ms = {:.2}, entries \
         {last_read:.0} / {first_read:.0} = {:.2}",
        pages.len(),
        total.as_secs_f64(),
        last_ms / first_ms,
        last_read / first_read.max(1.0),
    );
    let each: Vec<String> = tenths
        .iter()
        .map(|(ms, read)| format!("{ms:.1} ms/{read:.0}"))
        .collect();
    println!("  per tenth of the pages: {}", each.join(", "));
}

#[test]
fn measure_namespace_pages_on_mariadb() {
    let Some(big) = std::env::var("RESULTS_MEASURE_NAMESPACE_PAGES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let db = TestDb::migrated(Backend::Mysql);
    let mut conn = db.database().get().expect("connection");
    let started = Instant::now();
    fill(&mut conn, big);
    println!(
        "seeded {big} Records in ns-a, {} in each of 5 other namespaces, in {:.1} s",
        big / 5,
        started.elapsed().as_secs_f64()
    );
    let ns = || ListScope::Exactly("ns-a".into());
    let records_of_ns = || RecordScope::parse("ns-a/results/-").expect("scope");
    let pages = measure(&mut conn, records_of_ns(), "", list_records);
    report("Records of ns-a", &pages);
    let failed = r#"data.status.conditions[0].reason == "Failed""#;
    let pages = measure(&mut conn, records_of_ns(), failed, list_records);
    report("Records of ns-a, reason Failed", &pages);
    let pages = measure(&mut conn, ns(), "", list_results);
    report("Results of ns-a", &pages);
}
