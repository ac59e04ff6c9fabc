//! Listing pages are bounded by the bytes of their documents as well as by `page_size`:
//! large documents make pages shorter than asked for, never larger than the cap, and the
//! pages still concatenate to exactly the full listing.

mod common;

use common::*;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_storage::limits::MAX_PAGE_BYTES;
use results_storage::Backend;

integration::backend_tests!(large_documents_come_in_shorter_pages);

/// Pages through `p/results/-` in `order_by`; the pages as lists of Records.
async fn pages(client: &mut Client, order_by: &str, filter: &str) -> Vec<Vec<pb::Record>> {
    let (mut pages, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_records(pb::ListRecordsRequest {
                parent: "p/results/-".into(),
                page_size: 1_000,
                page_token: token,
                order_by: order_by.into(),
                filter: filter.into(),
            })
            .await
            .expect("list records")
            .into_inner();
        pages.push(page.records);
        if page.next_page_token.is_empty() {
            return pages;
        }
        token = page.next_page_token;
    }
}

fn bytes(page: &[pb::Record]) -> usize {
    page.iter()
        .map(|r| r.data.as_ref().map_or(0, |d| d.value.len()))
        .sum()
}

async fn large_documents_come_in_shorter_pages(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "p", "r").await;
    // Ten ~900 KiB documents (about two caps' worth) between small ones.
    let mut created = Vec::new();
    for i in 0..14 {
        let size = if i % 7 < 5 { 900 << 10 } else { 10 };
        let json = format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(size));
        created.push(create_record(&mut client, "p/results/r", &format!("x{i:02}"), &json).await);
    }
    let names = |records: &[pb::Record]| records.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    let ascending = names(&created);
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    let big: Vec<String> = (0..14)
        .filter(|i| i % 7 < 5)
        .map(|i| format!("p/results/r/records/x{i:02}"))
        .collect();
    for (order_by, filter, expected) in [
        ("", "", ascending),
        ("create_time desc", "", descending),
        ("", "data.pad.size() > 100", big),
    ] {
        let pages = pages(&mut client, order_by, filter).await;
        assert!(
            pages.len() >= 3,
            "{order_by:?} {filter:?}: {} pages",
            pages.len()
        );
        for page in &pages {
            assert!(!page.is_empty());
            assert!(
                bytes(page) <= MAX_PAGE_BYTES,
                "a page of {} bytes",
                bytes(page)
            );
        }
        assert_eq!(names(&pages.concat()), expected, "{order_by:?} {filter:?}");
    }
}
