//! Ordering and paging: every order and direction, paged in small pages, concatenates to
//! exactly the full sorted listing, also while rows are inserted between pages.

mod common;

use std::cmp::Ordering;

use common::*;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use tonic::Code;

integration::backend_tests!(
    results_pages_concatenate_to_the_sorted_listing,
    records_pages_concatenate_to_the_sorted_listing,
    inserts_between_pages_skip_and_repeat_nothing,
    page_size_defaults_and_limits,
    page_tokens_are_bound_to_their_request,
);

/// Sort key of one order field: absent values sort first (ascending).
fn key(r: &pb::Result, field: &str) -> (bool, i128) {
    let summary_time = |t: Option<&prost_types::Timestamp>| match t {
        Some(_) => (true, nanos(&t.copied())),
        None => (false, 0),
    };
    match field {
        "create_time" => (true, nanos(&r.create_time)),
        "update_time" => (true, nanos(&r.update_time)),
        "summary.start_time" => {
            summary_time(r.summary.as_ref().and_then(|s| s.start_time.as_ref()))
        }
        "summary.end_time" => summary_time(r.summary.as_ref().and_then(|s| s.end_time.as_ref())),
        other => panic!("no field {other}"),
    }
}

/// The expected order of `order_by`, computed here independently of the server.
fn sort_locally(mut all: Vec<pb::Result>, order_by: &str) -> Vec<String> {
    let mut keys: Vec<(String, bool)> = order_by
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            let mut words = c.split_whitespace();
            let field = words.next().unwrap().to_string();
            let desc = words.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            (field, desc)
        })
        .collect();
    if keys.is_empty() {
        keys.push(("create_time".into(), false));
    }
    let tie_desc = keys.last().unwrap().1;
    all.sort_by(|a, b| {
        for (field, desc) in &keys {
            let o = key(a, field).cmp(&key(b, field));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let o = a.uid.as_bytes().cmp(b.uid.as_bytes());
        if tie_desc {
            o.reverse()
        } else {
            o
        }
    });
    all.into_iter().map(|r| r.name).collect()
}

async fn page_all_results(
    client: &mut Client,
    parent: &str,
    order_by: &str,
    page_size: i32,
) -> (Vec<String>, usize) {
    let (mut names, mut pages, mut token) = (Vec::new(), 0, String::new());
    loop {
        let page = client
            .list_results(pb::ListResultsRequest {
                parent: parent.into(),
                page_size,
                page_token: token,
                order_by: order_by.into(),
                filter: String::new(),
            })
            .await
            .unwrap_or_else(|e| panic!("{order_by}: {e}"))
            .into_inner();
        pages += 1;
        assert!(page.results.len() <= page_size as usize);
        names.extend(page.results.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            return (names, pages);
        }
        token = page.next_page_token;
    }
}

async fn results_pages_concatenate_to_the_sorted_listing(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    for i in 0..25 {
        let name = format!("r{i:02}");
        let mut r = result("p", &name, &[]);
        // A third without summary (NULL start times); the rest share a few start times,
        // so ties are broken by uid.
        if i % 3 != 0 {
            r.summary = Some(summary(
                &format!("p/results/{name}/records/x"),
                1,
                Some(1_700_000_000 + (i * 7 % 4)),
            ));
        }
        client
            .create_result(pb::CreateResultRequest {
                parent: "p".into(),
                result: Some(r),
            })
            .await
            .unwrap();
    }
    // Another namespace's Results must not leak into "p".
    create_result(&mut client, "q", "other").await;
    // Touch every third Result, newest first, so update order differs from create order.
    for i in (0..25).rev().step_by(3) {
        let name = format!("p/results/r{i:02}");
        let current = client
            .get_result(pb::GetResultRequest { name: name.clone() })
            .await
            .unwrap()
            .into_inner();
        client
            .update_result(pb::UpdateResultRequest {
                name,
                result: Some(pb::Result {
                    summary: current.summary,
                    ..Default::default()
                }),
                etag: String::new(),
            })
            .await
            .unwrap();
    }
    let all = client
        .list_results(pb::ListResultsRequest {
            parent: "p".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(all.len(), 25);

    for order_by in [
        "",
        "create_time",
        "create_time desc",
        "update_time asc",
        "update_time DESC",
        "summary.start_time",
        "summary.start_time desc",
        "summary.end_time asc",
        "summary.start_time desc, create_time asc",
        "update_time asc, create_time desc",
    ] {
        let expected = sort_locally(all.clone(), order_by);
        let (got, pages) = page_all_results(&mut client, "p", order_by, 7).await;
        assert_eq!(got, expected, "order_by {order_by:?}");
        assert_eq!(pages, 4, "25 rows in pages of 7");
    }
    // The default order is create_time ascending, names were created in order.
    let (got, _) = page_all_results(&mut client, "p", "", 4).await;
    let created: Vec<String> = (0..25).map(|i| format!("p/results/r{i:02}")).collect();
    assert_eq!(got, created);
}

async fn records_pages_concatenate_to_the_sorted_listing(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    for r in ["a", "b", "c"] {
        create_result(&mut client, "p", r).await;
    }
    let mut created = Vec::new();
    for i in 0..21 {
        let result = format!("p/results/{}", ["a", "b", "c"][i % 3]);
        created.push(
            create_record(
                &mut client,
                &result,
                &format!("x{i:02}"),
                &format!("{{\"i\":{i}}}"),
            )
            .await,
        );
    }
    // Update some records in reverse order to make update_time order differ.
    for i in (0..21).rev().step_by(4) {
        let mut patch = pb::Record {
            name: created[i].name.clone(),
            ..Default::default()
        };
        patch.data = Some(pb::Any {
            r#type: String::new(),
            value: b"{\"touched\":true}".to_vec(),
        });
        let updated = client
            .update_record(pb::UpdateRecordRequest {
                record: Some(patch),
                update_mask: None,
                etag: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        created[i] = updated;
    }
    let order =
        |records: &[pb::Record], field: &str, desc: bool, filter: &dyn Fn(&pb::Record) -> bool| {
            let mut rs: Vec<&pb::Record> = records.iter().filter(|r| filter(r)).collect();
            rs.sort_by(|a, b| {
                let (ka, kb) = match field {
                    "update_time" => (nanos(&a.update_time), nanos(&b.update_time)),
                    _ => (nanos(&a.create_time), nanos(&b.create_time)),
                };
                let o = ka
                    .cmp(&kb)
                    .then_with(|| a.uid.as_bytes().cmp(b.uid.as_bytes()));
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
            rs.into_iter().map(|r| r.name.clone()).collect::<Vec<_>>()
        };
    for parent in ["-/results/-", "p/results/-", "p/results/b"] {
        for (order_by, field, desc) in [
            ("", "create_time", false),
            ("create_time desc", "create_time", true),
            ("update_time", "update_time", false),
            ("update_time desc", "update_time", true),
        ] {
            let only_b = parent == "p/results/b";
            let expected = order(&created, field, desc, &|r: &pb::Record| {
                !only_b || r.name.starts_with("p/results/b/")
            });
            let (mut got, mut token) = (Vec::new(), String::new());
            let mut pages = 0;
            loop {
                let page = client
                    .list_records(pb::ListRecordsRequest {
                        parent: parent.into(),
                        page_size: 3,
                        page_token: token,
                        order_by: order_by.into(),
                        filter: String::new(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                pages += 1;
                got.extend(page.records.into_iter().map(|r| r.name));
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            assert_eq!(got, expected, "{parent} {order_by:?}");
            assert!(pages >= 3, "{parent} {order_by:?}: {pages} pages");
        }
    }
}

async fn inserts_between_pages_skip_and_repeat_nothing(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    for i in 0..12 {
        create_result(&mut client, "p", &format!("r{i:02}")).await;
    }
    for (order_by, newest_last) in [("create_time asc", true), ("create_time desc", false)] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut round = 0;
        loop {
            let page = client
                .list_results(pb::ListResultsRequest {
                    parent: "p".into(),
                    page_size: 5,
                    page_token: token,
                    order_by: order_by.into(),
                    filter: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            seen.extend(page.results.into_iter().map(|r| r.name));
            // New rows arrive while the client is paging.
            create_result(
                &mut client,
                "p",
                &format!("{}-{round}", order_by.replace([' ', '_'], "-")),
            )
            .await;
            round += 1;
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{order_by}: a row was repeated: {seen:?}"
        );
        for i in 0..12 {
            assert!(
                seen.contains(&format!("p/results/r{i:02}")),
                "{order_by}: r{i:02} skipped"
            );
        }
        if newest_last {
            // Ascending: rows created after the cursor are picked up by later pages.
            assert!(seen.len() > 12, "{order_by}: {seen:?}");
        }
    }
}

async fn page_size_defaults_and_limits(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    for i in 0..60 {
        create_result(&mut client, "p", &format!("r{i:02}")).await;
    }
    let list = |page_size: i32| pb::ListResultsRequest {
        parent: "p".into(),
        page_size,
        ..Default::default()
    };
    let first = client.list_results(list(0)).await.unwrap().into_inner();
    assert_eq!(first.results.len(), 50, "page_size 0 means 50");
    assert!(!first.next_page_token.is_empty());
    let max = client
        .list_results(list(10_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(max.results.len(), 60);
    assert!(max.next_page_token.is_empty(), "no token on the last page");
    let exact = client.list_results(list(60)).await.unwrap().into_inner();
    assert!(
        exact.next_page_token.is_empty(),
        "a full last page has no token either"
    );
    let one = client.list_results(list(1)).await.unwrap().into_inner();
    assert_eq!(one.results.len(), 1);
    assert_code(
        client.list_results(list(-1)).await,
        Code::InvalidArgument,
        "page_size",
    );
    assert_code(
        client.list_results(list(10_001)).await,
        Code::InvalidArgument,
        "page_size",
    );
}

async fn page_tokens_are_bound_to_their_request(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    for i in 0..4 {
        create_result(&mut client, "p", &format!("r{i}")).await;
        create_record(&mut client, &format!("p/results/r{i}"), "x", "{}").await;
    }
    let first = client
        .list_results(pb::ListResultsRequest {
            parent: "p".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let token = first.next_page_token;
    let with = |parent: &str, order_by: &str, filter: &str, token: &str| pb::ListResultsRequest {
        parent: parent.into(),
        page_size: 2,
        page_token: token.into(),
        order_by: order_by.into(),
        filter: filter.into(),
    };
    assert_code(
        client.list_results(with("-", "", "", &token)).await,
        Code::InvalidArgument,
        "another parent",
    );
    assert_code(
        client
            .list_results(with("p", "create_time desc", "", &token))
            .await,
        Code::InvalidArgument,
        "another order_by",
    );
    let mut tampered = token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_code(
        client.list_results(with("p", "", "", &tampered)).await,
        Code::InvalidArgument,
        "page_token is invalid",
    );
    // The same order spelled differently is the same order; a new page size is fine.
    let next = client
        .list_results(pb::ListResultsRequest {
            parent: "p".into(),
            page_size: 10,
            page_token: token.clone(),
            order_by: "create_time ASC".into(),
            filter: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.results.len(), 2);
    // A Results token is no Records token.
    assert_code(
        client
            .list_records(pb::ListRecordsRequest {
                parent: "p/results/-".into(),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "another parent",
    );
}
