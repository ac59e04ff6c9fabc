//! A ListResults page is bounded by the bytes of its annotations (the Result's and its
//! summary's) as a ListRecords page is by its documents, on every backend.

use std::collections::BTreeMap;

use results_storage::model::{
    ListScope, NewResult, RecordSummary, ResultName, Status, StoredResult, Timestamp,
};
use results_storage::page::TokenSigner;
use results_storage::store::{create_result, list_results_within, ListRequest};
use results_storage::testing::TestDb;
use results_storage::Backend;

const CAP: usize = 4_000;

/// 50 Results in `ns` with annotations of 50 to ~1,800 bytes, half of them also in a
/// summary (with a start time, so `summary.start_time` orders by presence then time).
fn fill(db: &TestDb) {
    let mut conn = db.database().get().unwrap();
    for i in 0..50usize {
        let annotations = |size: usize| BTreeMap::from([("pad".to_string(), "x".repeat(size))]);
        let summary = (i % 2 == 0).then(|| RecordSummary {
            record: format!("ns/results/r-{i}/records/run"),
            type_: "tekton.dev/v1.PipelineRun".into(),
            start_time: (i % 4 == 0).then(|| Timestamp::from_nanos(5_000 - i as i64)),
            end_time: None,
            status: Status::Unknown,
            annotations: annotations(50 + (i * 131) % 900),
        });
        let result = NewResult {
            name: ResultName::parse(&format!("ns/results/r-{i}")).unwrap(),
            annotations: annotations(50 + (i * 251) % 900),
            summary,
        };
        let now = Timestamp::from_nanos(1_000 + (i as i64 / 3));
        create_result(&mut conn, result, format!("uid-{:02}", (i * 7) % 50), now).unwrap();
    }
}

/// The annotations' bytes, as compact JSON (a database may store them a little larger).
fn bytes(results: &[StoredResult]) -> usize {
    let json = |map: &BTreeMap<String, String>| serde_json::to_string(map).unwrap().len();
    results
        .iter()
        .map(|r| json(&r.annotations) + r.summary.as_ref().map_or(0, |s| json(&s.annotations)))
        .sum()
}

fn names(results: &[StoredResult]) -> Vec<String> {
    results.iter().map(|r| r.name.to_string()).collect()
}

fn result_pages_are_bounded_by_their_annotations(backend: Backend) {
    let db = TestDb::migrated(backend);
    fill(&db);
    let signer = TokenSigner::new(b"k".to_vec());
    let mut conn = db.database().get().unwrap();
    for (filter, order_by) in [
        ("", ""),
        ("", "summary.start_time desc"),
        ("summary.status == UNKNOWN", "create_time desc"),
    ] {
        let mut request = ListRequest {
            scope: ListScope::parse("ns", "parent", "ns").unwrap(),
            filter: filter.into(),
            page_size: 10_000,
            page_token: String::new(),
            order_by: order_by.into(),
        };
        let all = list_results_within(&mut conn, &signer, &request, usize::MAX).unwrap();
        assert!(all.next_page_token.is_empty());
        assert!(bytes(&all.items) > 5 * CAP);
        let mut pages = Vec::new();
        loop {
            let page = list_results_within(&mut conn, &signer, &request, CAP).unwrap();
            assert!(page.items.len() == 1 || bytes(&page.items) <= CAP);
            pages.push(page.items);
            if page.next_page_token.is_empty() {
                break;
            }
            request.page_token = page.next_page_token;
        }
        assert!(
            pages.len() >= 5,
            "{filter:?} {order_by:?}: {} pages",
            pages.len()
        );
        let concatenated = pages.concat();
        assert_eq!(
            names(&concatenated),
            names(&all.items),
            "{filter:?} {order_by:?}"
        );
        assert_eq!(concatenated, all.items, "annotations come back whole");
    }
}

results_storage::on_every_backend!(result_pages_are_bounded_by_their_annotations);
