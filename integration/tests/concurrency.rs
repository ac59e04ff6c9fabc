//! Concurrent writers: of N updates carrying the same etag exactly one wins, the rest get
//! FailedPrecondition, and what is stored is the winner's write.

mod common;

use common::*;
use futures::future::join_all;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use tonic::Code;

integration::backend_tests!(
    concurrent_record_updates_with_one_etag,
    concurrent_result_updates_with_one_etag,
    concurrent_updates_without_etag_all_land,
    concurrent_creates_all_land,
    group_commit_keeps_each_callers_outcome,
);

/// 500 concurrent creates, 10 of them duplicates of others: group commit gives each
/// caller its own answer, and exactly the acknowledged writes are stored.
async fn group_commit_keeps_each_callers_outcome(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    for r in ["r0", "r1", "r2", "r3", "r4"] {
        create_result(&mut client, "ns", r).await;
    }
    let calls = (0..500).map(|i| {
        let mut client = client.clone();
        // Requests 490..500 reuse the names of requests 0..10.
        let n = if i >= 490 { i - 490 } else { i };
        let result = format!("ns/results/r{}", n % 5);
        let request = pb::CreateRecordRequest {
            parent: result.clone(),
            record: Some(record(
                &result,
                &format!("x{n}"),
                "t",
                &format!("{{\"i\":{i}}}"),
            )),
        };
        async move { client.create_record(request).await.map(|r| r.into_inner()) }
    });
    let outcomes = join_all(calls).await;
    let acked: Vec<&pb::Record> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Err(s) if s.code() == Code::AlreadyExists))
        .count();
    let other: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .filter(|s| s.code() != Code::AlreadyExists)
        .collect();
    assert!(other.is_empty(), "unexpected errors: {other:?}");
    assert_eq!((acked.len(), duplicates), (490, 10));
    for record in &acked {
        let stored = get_record(&mut client, &record.name).await.unwrap();
        assert_same_record(&stored, record);
    }
    let listed = client
        .list_records(pb::ListRecordsRequest {
            parent: "ns/results/-".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(listed.len(), 490);
}

const WRITERS: usize = 20;

async fn concurrent_record_updates_with_one_etag(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let original = create_record(&mut client, "ns/results/r", "x", r#"{"writer":-1}"#).await;

    let calls = (0..WRITERS).map(|i| {
        let mut client = client.clone();
        let mut patch = pb::Record {
            name: original.name.clone(),
            ..Default::default()
        };
        patch.data = Some(pb::Any {
            r#type: String::new(),
            value: format!("{{\"writer\":{i}}}").into_bytes(),
        });
        let etag = original.etag.clone();
        async move {
            client
                .update_record(pb::UpdateRecordRequest {
                    record: Some(patch),
                    update_mask: None,
                    etag,
                })
                .await
        }
    });
    let outcomes = join_all(calls).await;
    let winners: Vec<pb::Record> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|r| r.get_ref().clone())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one update may win: {outcomes:?}");
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        }
    }
    let stored = get_record(&mut client, &original.name).await.unwrap();
    assert_same_record(&stored, &winners[0]);
}

async fn concurrent_result_updates_with_one_etag(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let original = create_result(&mut client, "ns", "r").await;
    let calls = (0..WRITERS).map(|i| {
        let mut client = client.clone();
        let request = pb::UpdateResultRequest {
            name: original.name.clone(),
            result: Some(result("ns", "r", &[("writer", &i.to_string())])),
            etag: original.etag.clone(),
        };
        async move { client.update_result(request).await }
    });
    let outcomes = join_all(calls).await;
    let winners: Vec<pb::Result> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|r| r.get_ref().clone())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one update may win");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Err(s) if s.code() == Code::FailedPrecondition))
            .count(),
        WRITERS - 1
    );
    let stored = get_result(&mut client, &original.name).await.unwrap();
    assert_eq!(stored, winners[0]);
}

/// Without an etag every update succeeds and the last one applied is what is stored; no
/// update is silently dropped (update_time moves once per write).
async fn concurrent_updates_without_etag_all_land(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let original = create_result(&mut client, "ns", "r").await;
    let calls = (0..WRITERS).map(|i| {
        let mut client = client.clone();
        let request = pb::UpdateResultRequest {
            name: original.name.clone(),
            result: Some(result("ns", "r", &[("writer", &i.to_string())])),
            etag: String::new(),
        };
        async move { client.update_result(request).await.map(|r| r.into_inner()) }
    });
    let outcomes: Vec<pb::Result> = join_all(calls)
        .await
        .into_iter()
        .map(|o| o.expect("update without etag"))
        .collect();
    let mut times: Vec<i128> = outcomes.iter().map(|r| nanos(&r.update_time)).collect();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), WRITERS, "each write got its own update_time");
    let last = outcomes
        .iter()
        .max_by_key(|r| nanos(&r.update_time))
        .unwrap();
    let stored = get_result(&mut client, &original.name).await.unwrap();
    assert_eq!(&stored, last);
}

async fn concurrent_creates_all_land(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let calls = (0..WRITERS * 2).map(|i| {
        let mut client = client.clone();
        // Every fifth name is used twice: one of each pair must be AlreadyExists.
        let name = if i % 5 == 4 {
            format!("x{}", i - 1)
        } else {
            format!("x{i}")
        };
        let request = pb::CreateRecordRequest {
            parent: "ns/results/r".into(),
            record: Some(record("ns/results/r", &name, "t", "{}")),
        };
        async move { client.create_record(request).await.map(|r| r.into_inner()) }
    });
    let outcomes = join_all(calls).await;
    let created: Vec<&pb::Record> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Err(s) if s.code() == Code::AlreadyExists))
        .count();
    let other: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .filter(|s| s.code() != Code::AlreadyExists)
        .collect();
    assert!(other.is_empty(), "unexpected errors: {other:?}");
    assert_eq!(created.len(), WRITERS * 2 - WRITERS * 2 / 5);
    assert_eq!(duplicates, WRITERS * 2 / 5);
    let listed = client
        .list_records(pb::ListRecordsRequest {
            parent: "ns/results/r".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let mut listed_names: Vec<_> = listed.iter().map(|r| r.name.clone()).collect();
    let mut acked: Vec<_> = created.iter().map(|r| r.name.clone()).collect();
    listed_names.sort();
    acked.sort();
    assert_eq!(
        listed_names, acked,
        "every acknowledged create is stored, nothing else"
    );
}
