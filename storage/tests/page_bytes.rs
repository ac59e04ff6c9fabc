//! A ListRecords page is bounded by the bytes of its documents as well as by `page_size`:
//! it ends before the Record that would take it over the cap (but holds at least one), and
//! its pages still concatenate to exactly the full listing, on every backend.

use results_storage::model::{
    NewRecord, Projection, RecordData, RecordName, RecordScope, StoredRecord, Timestamp,
};
use results_storage::page::TokenSigner;
use results_storage::store::{create_record, list_records_within, ListRequest};
use results_storage::testing::TestDb;
use results_storage::Backend;

/// The cap the tests page within: a few Records' documents.
const CAP: usize = 3_000;
const TASK_RUN: &str = "tekton.dev/v1.TaskRun";

/// 60 Records in the Result `ns/results/r` (which must exist) with documents of 100 to ~2,000 bytes (one over the cap),
/// every third a PipelineRun, pairs sharing a create time (the uid breaks the tie).
fn fill(db: &TestDb) {
    let mut conn = db.database().get().unwrap();
    for i in 0..60usize {
        let size = if i == 17 {
            2 * CAP
        } else {
            100 + (i * 397) % 1_900
        };
        let type_ = if i % 3 == 0 {
            "tekton.dev/v1.PipelineRun"
        } else {
            TASK_RUN
        };
        let record = NewRecord {
            name: RecordName::parse(&format!("ns/results/r/records/rec-{i}")).unwrap(),
            data: RecordData {
                type_: type_.into(),
                value: format!("{{\"pad\":\"{}\"}}", "x".repeat(size)).into_bytes(),
            },
        };
        let now = Timestamp::from_nanos(1_000 + (i as i64 / 2));
        create_record(&mut conn, record, format!("uid-{:02}", (i * 7) % 60), now).unwrap();
    }
}

/// Every page of a listing, and the whole listing in one page without a byte cap.
fn page_through(
    db: &TestDb,
    filter: &str,
    order_by: &str,
    page_size: i32,
    projection: &Projection,
    cap: usize,
) -> (Vec<Vec<StoredRecord>>, Vec<StoredRecord>) {
    let signer = TokenSigner::new(b"k".to_vec());
    let mut conn = db.database().get().unwrap();
    let mut request = ListRequest {
        scope: RecordScope::parse("ns/results/-").unwrap(),
        filter: filter.into(),
        page_size,
        page_token: String::new(),
        order_by: order_by.into(),
    };
    let mut pages = Vec::new();
    loop {
        let page = list_records_within(&mut conn, &signer, &request, projection, cap).unwrap();
        pages.push(page.items);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    request.page_token = String::new();
    request.page_size = 10_000;
    let all = list_records_within(&mut conn, &signer, &request, projection, usize::MAX).unwrap();
    assert!(all.next_page_token.is_empty());
    (pages, all.items)
}

fn names(records: &[StoredRecord]) -> Vec<String> {
    records.iter().map(|r| r.name.to_string()).collect()
}

fn bytes(records: &[StoredRecord]) -> usize {
    records.iter().map(|r| r.data.value.len()).sum()
}

fn large_documents_make_more_pages_that_concatenate_to_the_listing(backend: Backend) {
    let db = TestDb::migrated_with_result(backend, "ns/results/r");
    fill(&db);
    for (filter, order_by, expected) in [
        ("", "", 60),
        ("", "create_time desc", 60),
        (&format!("data_type == \"{TASK_RUN}\"") as &str, "", 40),
        (
            &format!("data_type == \"{TASK_RUN}\""),
            "create_time desc",
            40,
        ),
    ] {
        let (pages, all) = page_through(&db, filter, order_by, 1_000, &Projection::Whole, CAP);
        assert_eq!(all.len(), expected, "{filter:?} {order_by:?}");
        let ordered: Vec<_> = all.iter().map(|r| (r.create_time, r.uid.clone())).collect();
        let mut sorted = ordered.clone();
        sorted.sort();
        if order_by.is_empty() {
            assert_eq!(ordered, sorted, "listed in ascending order");
        } else {
            sorted.reverse();
            assert_eq!(ordered, sorted, "listed in descending order");
        }
        assert!(bytes(&all) > 10 * CAP, "the listing is many caps' worth");
        assert!(
            pages.len() >= 10,
            "{filter:?} {order_by:?}: {} pages",
            pages.len()
        );
        for page in &pages {
            assert!(
                page.len() == 1 || bytes(page) <= CAP,
                "a page of {} Records holds {} bytes",
                page.len(),
                bytes(page)
            );
        }
        assert!(
            pages.iter().any(|p| p.len() == 1 && bytes(p) > CAP) || !filter.is_empty(),
            "the document over the cap comes alone"
        );
        let concatenated: Vec<StoredRecord> = pages.into_iter().flatten().collect();
        assert_eq!(names(&concatenated), names(&all), "{filter:?} {order_by:?}");
        assert_eq!(concatenated, all, "documents come back whole");
    }
}

fn page_size_still_bounds_pages_of_small_documents(backend: Backend) {
    let db = TestDb::migrated_with_result(backend, "ns/results/r");
    fill(&db);
    let (pages, all) = page_through(&db, "", "", 7, &Projection::Whole, usize::MAX);
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [7, 7, 7, 7, 7, 7, 7, 7, 4]);
    assert_eq!(pages.concat(), all);
    // Without documents, a page has no document bytes: even a 1-byte cap pages by size.
    let (pages, all) = page_through(&db, "", "create_time desc", 25, &Projection::NoData, 1);
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 10]);
    assert_eq!(pages.concat(), all);
    assert!(all.iter().all(|r| r.data.value.is_empty()));
}

fn a_projection_is_capped_by_what_it_reads(backend: Backend) {
    let db = TestDb::migrated_with_result(backend, "ns/results/r");
    fill(&db);
    let projection = Projection::paths(vec![vec!["pad".into()]]).unwrap();
    let (pages, all) = page_through(&db, "", "update_time desc", 100, &projection, CAP);
    assert_eq!(all.len(), 60);
    assert!(pages.len() >= 10, "{} pages", pages.len());
    for page in &pages {
        assert!(page.len() == 1 || bytes(page) <= CAP);
    }
    assert_eq!(pages.concat(), all);
}

results_storage::on_every_backend!(
    large_documents_make_more_pages_that_concatenate_to_the_listing,
    page_size_still_bounds_pages_of_small_documents,
    a_projection_is_capped_by_what_it_reads,
);
