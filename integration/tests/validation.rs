//! Every InvalidArgument case, over gRPC and REST alike: the same code from both, a message
//! that names the problem, and nothing stored.

mod common;

use common::*;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use serde_json::json;
use tonic::Code;

integration::backend_tests!(
    bad_result_requests_are_rejected,
    bad_record_requests_are_rejected,
    bad_list_requests_are_rejected,
    same_errors_from_grpc_and_rest,
);

async fn bad_result_requests_are_rejected(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let long = "x".repeat(64);
    let with_summary = |s: pb::RecordSummary| {
        let mut r = result("ns", "r", &[]);
        r.summary = Some(s);
        r
    };
    let cases: Vec<(&str, pb::CreateResultRequest, &str)> = vec![
        (
            "upper case",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(result("ns", "Bad", &[])),
            },
            "'B'",
        ),
        (
            "bad character",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(result("ns", "a.b", &[])),
            },
            "'.'",
        ),
        (
            "64 characters",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(result("ns", &long, &[])),
            },
            "at most 63",
        ),
        (
            "64-char parent",
            pb::CreateResultRequest {
                parent: long.clone(),
                result: Some(result(&long, "r", &[])),
            },
            "at most 63",
        ),
        (
            "bad shape",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(pb::Result {
                    name: "ns/r".into(),
                    ..Default::default()
                }),
            },
            "<parent>/results/<result>",
        ),
        (
            "empty name",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(pb::Result::default()),
            },
            "<parent>/results/<result>",
        ),
        (
            "parent mismatch",
            pb::CreateResultRequest {
                parent: "other".into(),
                result: Some(result("ns", "r", &[])),
            },
            "not under parent",
        ),
        (
            "no result",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: None,
            },
            "result is required",
        ),
        (
            "summary without record",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(with_summary(pb::RecordSummary {
                    r#type: "t".into(),
                    ..Default::default()
                })),
            },
            "summary.record is required",
        ),
        (
            "summary without type",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(with_summary(pb::RecordSummary {
                    record: "ns/results/r/records/x".into(),
                    ..Default::default()
                })),
            },
            "summary.type is required",
        ),
        (
            "summary with an unknown status",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(with_summary(pb::RecordSummary {
                    record: "ns/results/r/records/x".into(),
                    r#type: "tekton.dev/v1.PipelineRun".into(),
                    status: -5,
                    ..Default::default()
                })),
            },
            "summary.status -5 is not a status",
        ),
        (
            "summary with bad record",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(with_summary(pb::RecordSummary {
                    record: "nope".into(),
                    r#type: "t".into(),
                    ..Default::default()
                })),
            },
            "summary.record is not a record name",
        ),
        (
            "summary type too long",
            pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(with_summary(pb::RecordSummary {
                    record: "ns/results/r/records/x".into(),
                    r#type: "t".repeat(769),
                    ..Default::default()
                })),
            },
            "at most 768",
        ),
    ];
    for (what, request, needle) in cases {
        let outcome = client.create_result(request).await;
        match outcome {
            Err(status) => {
                assert_eq!(
                    status.code(),
                    Code::InvalidArgument,
                    "{what}: {}",
                    status.message()
                );
                assert!(
                    status.message().contains(needle),
                    "{what}: {:?} lacks {needle:?}",
                    status.message()
                );
            }
            Ok(r) => panic!("{what}: accepted {r:?}"),
        }
    }
    let summary_only = |s: pb::RecordSummary| pb::Result {
        summary: Some(s),
        ..Default::default()
    };
    // A 768-character type is fine.
    create_result(&mut client, "ns", "ok").await;
    client
        .update_result(pb::UpdateResultRequest {
            name: "ns/results/ok".into(),
            result: Some(summary_only(pb::RecordSummary {
                record: "ns/results/ok/records/x".into(),
                r#type: "t".repeat(768),
                ..Default::default()
            })),
            etag: String::new(),
        })
        .await
        .expect("768 characters are allowed");
    assert_code(
        client
            .update_result(pb::UpdateResultRequest {
                name: "ns/results/ok".into(),
                result: Some(summary_only(pb::RecordSummary::default())),
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "summary.record is required",
    );
    assert_code(
        get_result(&mut client, "ns/results/A").await,
        Code::InvalidArgument,
        "'A'",
    );
    assert_code(
        client
            .delete_result(pb::DeleteResultRequest { name: "ns".into() })
            .await,
        Code::InvalidArgument,
        "<parent>/results/<result>",
    );

    // Nothing but the valid Result was stored.
    let all = client
        .list_results(pb::ListResultsRequest {
            parent: "-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.results
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["ns/results/ok"]
    );
}

async fn bad_record_requests_are_rejected(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let create = |record: pb::Record| pb::CreateRecordRequest {
        parent: "ns/results/r".into(),
        record: Some(record),
    };
    let cases: Vec<(&str, pb::CreateRecordRequest, &str)> = vec![
        (
            "upper case",
            create(record("ns/results/r", "X", "t", "{}")),
            "'X'",
        ),
        (
            "64 characters",
            create(record("ns/results/r", &"x".repeat(64), "t", "{}")),
            "at most 63",
        ),
        (
            "bad shape",
            create(pb::Record {
                name: "ns/results/r/x".into(),
                ..Default::default()
            }),
            "/records/<name>",
        ),
        (
            "parent mismatch",
            pb::CreateRecordRequest {
                parent: "ns/results/other".into(),
                record: Some(record("ns/results/r", "x", "t", "{}")),
            },
            "not under parent",
        ),
        (
            "bad parent",
            pb::CreateRecordRequest {
                parent: "ns".into(),
                record: Some(record("ns/results/r", "x", "t", "{}")),
            },
            // The parent is read first (its namespace is what the access check needs).
            "must have the form <parent>/results/<result>",
        ),
        (
            "type too long",
            create(record("ns/results/r", "x", &"t".repeat(769), "{}")),
            "at most 768",
        ),
        (
            "value not JSON",
            create(record("ns/results/r", "x", "t", "{not json")),
            "not a JSON document",
        ),
        (
            "two documents",
            create(record("ns/results/r", "x", "t", "{} {}")),
            "not a JSON document",
        ),
        (
            "no record",
            pb::CreateRecordRequest {
                parent: "ns/results/r".into(),
                record: None,
            },
            "record is required",
        ),
    ];
    for (what, request, needle) in cases {
        match client.create_record(request).await {
            Err(status) => {
                assert_eq!(
                    status.code(),
                    Code::InvalidArgument,
                    "{what}: {}",
                    status.message()
                );
                assert!(
                    status.message().contains(needle),
                    "{what}: {:?} lacks {needle:?}",
                    status.message()
                );
            }
            Ok(r) => panic!("{what}: accepted {r:?}"),
        }
    }
    let good = create_record(&mut client, "ns/results/r", "x", r#"{"a":1}"#).await;
    let mut patch = record("ns/results/r", "x", "", "[1,");
    patch.data.as_mut().unwrap().r#type.clear();
    assert_code(
        client
            .update_record(pb::UpdateRecordRequest {
                record: Some(patch),
                update_mask: None,
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "not a JSON document",
    );
    assert_code(
        client
            .update_record(pb::UpdateRecordRequest {
                record: None,
                update_mask: None,
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "record is required",
    );
    assert_code(
        get_record(&mut client, "ns/results/r/x").await,
        Code::InvalidArgument,
        "form",
    );
    let got = get_record(&mut client, &good.name).await.unwrap();
    assert_same_record(&got, &good);
    let all = client
        .list_records(pb::ListRecordsRequest {
            parent: "-/results/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.records.len(), 1, "rejected requests stored nothing");
}

async fn bad_list_requests_are_rejected(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let list = |parent: &str, page_size: i32, order_by: &str, token: &str| pb::ListResultsRequest {
        parent: parent.into(),
        page_size,
        order_by: order_by.into(),
        page_token: token.into(),
        filter: String::new(),
    };
    for (request, needle) in [
        (list("NS", 0, "", ""), "'N'"),
        (list("ns/results/x", 0, "", ""), "'/'"),
        (list("ns", -1, "", ""), "page_size -1 is out of range"),
        (
            list("ns", 10_001, "", ""),
            "page_size 10001 is out of range",
        ),
        (
            list("ns", 0, "name", ""),
            "create_time, update_time, summary.start_time, summary.end_time",
        ),
        (list("ns", 0, "create_time sideways", ""), "asc|desc"),
        (list("ns", 0, "", "not-a-token"), "page_token is invalid"),
    ] {
        assert_code(
            client.list_results(request).await,
            Code::InvalidArgument,
            needle,
        );
    }
    for (parent, needle) in [
        ("ns", "<parent>/results/<result>"),
        ("ns/results/X", "'X'"),
        ("-/records/-", "<parent>/results/<result>"),
    ] {
        assert_code(
            client
                .list_records(pb::ListRecordsRequest {
                    parent: parent.into(),
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            needle,
        );
    }
    assert_code(
        client
            .list_records(pb::ListRecordsRequest {
                parent: "ns/results/-".into(),
                order_by: "summary.start_time".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "create_time, update_time",
    );
    for ok in [0, 1, 10_000] {
        client
            .list_results(list("ns", ok, "", ""))
            .await
            .unwrap_or_else(|e| panic!("page_size {ok}: {e}"));
    }
}

/// The same mistakes through both front-ends give the same gRPC code, the HTTP status of
/// that code, and the same message.
async fn same_errors_from_grpc_and_rest(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let rest = server.rest();
    create_result(&mut client, "ns", "r").await;
    let rec = create_record(&mut client, "ns/results/r", "x", "{}").await;

    let grpc_cases: Vec<tonic::Status> = vec![
        client
            .create_result(pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(result("ns", "Bad", &[])),
            })
            .await
            .unwrap_err(),
        client
            .create_result(pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(result("ns", "r", &[])),
            })
            .await
            .unwrap_err(),
        get_result(&mut client, "ns/results/nope")
            .await
            .unwrap_err(),
        client
            .create_record(pb::CreateRecordRequest {
                parent: "ns/results/nope".into(),
                record: Some(record("ns/results/nope", "x", "t", "{}")),
            })
            .await
            .unwrap_err(),
        client
            .update_record(pb::UpdateRecordRequest {
                record: Some(pb::Record {
                    name: rec.name.clone(),
                    ..Default::default()
                }),
                update_mask: None,
                etag: "stale".into(),
            })
            .await
            .unwrap_err(),
        client
            .list_results(pb::ListResultsRequest {
                parent: "ns".into(),
                page_size: -1,
                ..Default::default()
            })
            .await
            .unwrap_err(),
        client
            .list_results(pb::ListResultsRequest {
                parent: "ns".into(),
                filter: "nope == 1".into(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ];
    let rest_cases = vec![
        rest.api("POST", "/parents/ns/results", Some(&json!({"name": "ns/results/Bad"}))).await,
        rest.api("POST", "/parents/ns/results", Some(&json!({"name": "ns/results/r"}))).await,
        rest.api("GET", "/parents/ns/results/nope", None).await,
        rest.api("POST", "/parents/ns/results/nope/records", Some(&json!({"name": "ns/results/nope/records/x", "data": {"type": "t", "value": "e30="}}))).await,
        rest.api("PATCH", "/parents/ns/results/r/records/x?etag=stale", Some(&json!({}))).await,
        rest.api("GET", "/parents/ns/results?page_size=-1", None).await,
        rest.api("GET", "/parents/ns/results?filter=nope%20%3D%3D%201", None).await,
    ];
    let expected_http = [400, 409, 404, 404, 400, 400, 400];
    for ((status, (http, body)), expected) in grpc_cases.iter().zip(&rest_cases).zip(expected_http)
    {
        assert_eq!(*http, expected, "{body}");
        assert_eq!(body["code"], status.code() as i32, "{body} vs {status:?}");
        assert_eq!(body["message"], status.message(), "{body} vs {status:?}");
        assert!(body["details"].is_array(), "{body}");
    }
}
