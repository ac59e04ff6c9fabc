//! GetRecordListSummary on every backend: totals, statuses, durations and groups checked
//! against hand-computed values, over gRPC and REST.

mod common;

use common::*;
use integration::TestServer;
use prost_types::value::Kind;
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use serde_json::json;
use tonic::Code;

integration::backend_tests!(summaries_match_hand_computed_values);

fn run(reason: &str, start: &str, end: Option<&str>, pipeline: &str) -> String {
    let mut status =
        json!({"conditions": [{"type": "Succeeded", "reason": reason}], "startTime": start});
    if let Some(end) = end {
        status["completionTime"] = json!(end);
    }
    // Pipelines-as-Code annotates the runs of a repository; only "build" runs here are.
    let annotations = match pipeline {
        "build" => json!({"pipelinesascode.tekton.dev/repository": "app"}),
        _ => json!({}),
    };
    json!({"kind": "PipelineRun", "metadata": {"labels": {"tekton.dev/pipeline": pipeline}, "annotations": annotations}, "status": status}).to_string()
}

fn field(s: &prost_types::Struct, key: &str) -> Kind {
    s.fields
        .get(key)
        .and_then(|v| v.kind.clone())
        .unwrap_or_else(|| panic!("{key} missing from {s:?}"))
}

fn number(s: &prost_types::Struct, key: &str) -> f64 {
    match field(s, key) {
        Kind::NumberValue(n) => n,
        other => panic!("{key}: {other:?}"),
    }
}

fn text(s: &prost_types::Struct, key: &str) -> String {
    match field(s, key) {
        Kind::StringValue(t) => t,
        other => panic!("{key}: {other:?}"),
    }
}

async fn summaries_match_hand_computed_values(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "a", "r").await;
    create_result(&mut client, "b", "r").await;
    let runs = [
        (
            "a",
            "Succeeded",
            "2024-01-01T00:00:00Z",
            Some("2024-01-01T00:01:00Z"),
            "build",
        ), // 60 s
        (
            "a",
            "Succeeded",
            "2024-01-02T00:00:00Z",
            Some("2024-01-02T00:00:30Z"),
            "build",
        ), // 30 s
        (
            "a",
            "Failed",
            "2024-02-10T00:00:00Z",
            Some("2024-02-10T01:00:00Z"),
            "deploy",
        ), // 3600 s
        (
            "b",
            "Cancelled",
            "2024-02-11T00:00:00Z",
            Some("2024-02-11T00:00:10Z"),
            "deploy",
        ), // 10 s
        ("b", "Running", "2024-03-01T00:00:00Z", None, "build"),
        (
            "b",
            "PipelineRunTimeout",
            "2024-03-02T12:00:00Z",
            Some("2024-03-02T13:00:00Z"),
            "build",
        ), // 3600 s
    ];
    for (i, (ns, reason, start, end, pipeline)) in runs.iter().enumerate() {
        create_record(
            &mut client,
            &format!("{ns}/results/r"),
            &format!("x{i}"),
            &run(reason, start, *end, pipeline),
        )
        .await;
    }
    let ask = |summary: &str, filter: &str, group_by: &str, order_by: &str| {
        pb::RecordListSummaryRequest {
            parent: "-/results/-".into(),
            summary: summary.into(),
            filter: filter.into(),
            group_by: group_by.into(),
            order_by: order_by.into(),
        }
    };

    let all = client
        .get_record_list_summary(ask(
            "total,succeeded,failed,cancelled,running,others,avg_duration,min_duration,max_duration,total_duration,last_runtime",
            "",
            "",
            "",
        ))
        .await
        .unwrap()
        .into_inner()
        .summary;
    assert_eq!(all.len(), 1);
    let s = &all[0];
    assert_eq!(
        [
            number(s, "total"),
            number(s, "succeeded"),
            number(s, "failed"),
            number(s, "cancelled"),
            number(s, "running"),
            number(s, "others")
        ],
        [6.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    );
    // Five completed runs: 60 + 30 + 3600 + 10 + 3600 = 7300 s.
    assert_eq!(text(s, "total_duration"), "02:01:40");
    assert_eq!(text(s, "avg_duration"), "00:24:20");
    assert_eq!(text(s, "min_duration"), "00:00:10");
    assert_eq!(text(s, "max_duration"), "01:00:00");
    assert_eq!(number(s, "last_runtime"), 1_709_380_800.0); // 2024-03-02T12:00:00Z

    // An empty summary means total; the filter and the parent narrow the rows.
    let only_a = client
        .get_record_list_summary(pb::RecordListSummaryRequest {
            parent: "a/results/-".into(),
            ..ask("", "", "", "")
        })
        .await
        .unwrap()
        .into_inner()
        .summary;
    assert_eq!(number(&only_a[0], "total"), 3.0);
    assert_eq!(only_a[0].fields.len(), 1);
    let filtered = client
        .get_record_list_summary(ask(
            "total,failed",
            "data.metadata.labels['tekton.dev/pipeline'] == 'deploy'",
            "",
            "",
        ))
        .await
        .unwrap()
        .into_inner()
        .summary;
    assert_eq!(
        (
            number(&filtered[0], "total"),
            number(&filtered[0], "failed")
        ),
        (2.0, 1.0)
    );

    // Monthly buckets (by startTime), Unix seconds of each month's first instant.
    let months = client
        .get_record_list_summary(ask("total,succeeded", "", "month", ""))
        .await
        .unwrap()
        .into_inner()
        .summary;
    let got: Vec<(f64, f64, f64)> = months
        .iter()
        .map(|g| {
            (
                number(g, "group_value"),
                number(g, "total"),
                number(g, "succeeded"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1_704_067_200.0, 2.0, 2.0),
            (1_706_745_600.0, 2.0, 0.0),
            (1_709_251_200.0, 2.0, 0.0)
        ]
    );
    // By `<namespace>/<pipeline>` as upstream, ordered by total descending (ties by the
    // group, in the same direction).
    let pipelines = client
        .get_record_list_summary(ask("total,max_duration", "", "pipeline", "total desc"))
        .await
        .unwrap()
        .into_inner()
        .summary;
    let got: Vec<(String, f64, String)> = pipelines
        .iter()
        .map(|g| {
            (
                text(g, "group_value"),
                number(g, "total"),
                text(g, "max_duration"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("b/build".into(), 2.0, "01:00:00".into()),
            ("a/build".into(), 2.0, "00:01:00".into()),
            ("b/deploy".into(), 1.0, "00:00:10".into()),
            ("a/deploy".into(), 1.0, "01:00:00".into()),
        ]
    );
    // By `<namespace>/<annotation pipelinesascode.tekton.dev/repository>`; runs without the
    // annotation fall into `<namespace>/`, as upstream's SQL CONCAT puts them.
    let repositories = client
        .get_record_list_summary(ask("total", "", "repository", ""))
        .await
        .unwrap()
        .into_inner()
        .summary;
    let got: Vec<(String, f64)> = repositories
        .iter()
        .map(|g| (text(g, "group_value"), number(g, "total")))
        .collect();
    assert_eq!(
        got,
        [
            ("a/".into(), 1.0),
            ("a/app".into(), 2.0),
            ("b/".into(), 1.0),
            ("b/app".into(), 2.0),
        ]
    );
    let namespaces = client
        .get_record_list_summary(ask("total", "", "namespace", ""))
        .await
        .unwrap()
        .into_inner()
        .summary;
    assert_eq!(
        namespaces
            .iter()
            .map(|g| text(g, "group_value"))
            .collect::<Vec<_>>(),
        ["a", "b"]
    );

    for (request, needle) in [
        (ask("bogus", "", "", ""), "use a comma list"),
        (ask("total", "", "fortnight", ""), "group_by"),
        (ask("total", "", "", "total desc"), "needs group_by"),
        (ask("total", "nope == 1", "", ""), "unknown identifier"),
    ] {
        assert_code(
            client.get_record_list_summary(request).await,
            Code::InvalidArgument,
            needle,
        );
    }

    // The same through REST.
    let (status, body) = server
        .rest()
        .api(
            "GET",
            "/parents/-/results/-/records/summary?summary=total,avg_duration&group_by=namespace",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["summary"],
        json!([
            {"group_value": "a", "total": 3, "avg_duration": "00:20:30"},
            {"group_value": "b", "total": 3, "avg_duration": "00:30:05"}
        ])
    );
    // Counts render as protojson writes them, without a fraction: Go clients decoding into
    // integers depend on it.
    let (_, raw) = server
        .rest()
        .get_text("/parents/-/results/-/records/summary?summary=total&group_by=namespace")
        .await;
    assert!(raw.contains(r#""total":3}"#), "{raw}");
}
