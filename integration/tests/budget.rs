//! Whole requests are bounded: a gRPC message or REST body over `server.max_message_bytes`
//! is refused with RESOURCE_EXHAUSTED (HTTP 429) before it is buffered, and requests wait
//! for the budget of bytes in flight, then are refused the same way, storing nothing.

mod common;

use std::time::Duration;

use common::*;
use integration::{Backend, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use tokio::io::AsyncWriteExt as _;
use tonic::Code;

integration::backend_tests!(
    oversized_requests_are_refused_and_store_nothing,
    requests_wait_for_the_budget_then_are_refused
);

const MAX_MESSAGE: usize = 64 * 1024;

fn small_limits(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.server.max_message_bytes = MAX_MESSAGE;
        s.server.max_inflight_bytes = 256 * 1024;
        s.actors.timeout_secs = 2;
    })
}

fn document(bytes: usize) -> String {
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(bytes - 10))
}

async fn oversized_requests_are_refused_and_store_nothing(backend: Backend) {
    let server = small_limits(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;

    let status = client
        .create_record(pb::CreateRecordRequest {
            parent: "ns/results/r".into(),
            record: Some(record("ns/results/r", "big", "t", &document(MAX_MESSAGE))),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("server.max_message_bytes"),
        "{status:?}"
    );

    let body = serde_json::json!({
        "name": "ns/results/r/records/big-rest",
        "data": {"type": "t", "value": "A".repeat(MAX_MESSAGE)},
    });
    let (status, err) = server
        .rest()
        .api("POST", "/parents/ns/results/r/records", Some(&body))
        .await;
    assert_eq!((status, err["code"].as_i64()), (429, Some(8)), "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("server.max_message_bytes"),
        "{err}"
    );

    // Nothing stored; the server serves a request within the limits.
    let listed = list_records(&mut client, "ns/results/r").await;
    assert!(listed.is_empty(), "{listed:?}");
    create_record(&mut client, "ns/results/r", "small", &document(1024)).await;
}

async fn requests_wait_for_the_budget_then_are_refused(backend: Backend) {
    let server = small_limits(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;

    // Two REST clients declare 60,000-byte bodies and stall: each holds twice that
    // (body and answer) of the 256 KiB budget while its body is awaited.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut socket = tokio::net::TcpStream::connect(server.rest_addr())
            .await
            .unwrap();
        let head = "POST /apis/results.tekton.dev/v1alpha2/parents/ns/results HTTP/1.1\r\n\
                    Host: test\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{";
        socket.write_all(head.as_bytes()).await.unwrap();
        stalled.push(socket);
    }
    // Time for the server to read both heads and reserve (generous: CI machines are busy).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let create = |name: &'static str| {
        let mut client = client.clone();
        async move {
            client
                .create_record(pb::CreateRecordRequest {
                    parent: "ns/results/r".into(),
                    record: Some(record("ns/results/r", name, "t", &document(20_000))),
                })
                .await
        }
    };
    let status = create("waited").await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("server is busy"), "{status:?}");

    // The stalled clients go away: their budget comes back and the same request passes
    // (it waits up to the timeout for the server to notice).
    drop(stalled);
    create("passes").await.unwrap();
    let names: Vec<String> = list_records(&mut client, "ns/results/r")
        .await
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["ns/results/r/records/passes"]);
}

/// The first page of the Records under `parent`.
async fn list_records(client: &mut Client, parent: &str) -> Vec<pb::Record> {
    client
        .list_records(pb::ListRecordsRequest {
            parent: parent.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
}
