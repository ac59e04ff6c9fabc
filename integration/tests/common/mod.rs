//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::collections::HashMap;

use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use tonic::transport::Channel;
use tonic::Code;

/// The gRPC client type.
pub type Client = ResultsClient<Channel>;

/// A Result named `<parent>/results/<name>` with annotations.
pub fn result(parent: &str, name: &str, annotations: &[(&str, &str)]) -> pb::Result {
    pb::Result {
        name: format!("{parent}/results/{name}"),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// A summary of `record` with the given status and optional start time (seconds).
pub fn summary(record: &str, status: i32, start: Option<i64>) -> pb::RecordSummary {
    pb::RecordSummary {
        record: record.into(),
        r#type: "tekton.dev/v1.PipelineRun".into(),
        start_time: start.map(|seconds| prost_types::Timestamp { seconds, nanos: 0 }),
        end_time: None,
        status,
        annotations: HashMap::from([("repo".to_string(), "app".to_string())]),
    }
}

/// A Record named `<result>/records/<name>` holding `json` of type `type_`.
pub fn record(result: &str, name: &str, type_: &str, json: &str) -> pb::Record {
    pb::Record {
        name: format!("{result}/records/{name}"),
        data: Some(pb::Any {
            r#type: type_.into(),
            value: json.as_bytes().to_vec(),
        }),
        ..Default::default()
    }
}

/// CreateResult, expecting success.
pub async fn create_result(client: &mut Client, parent: &str, name: &str) -> pb::Result {
    client
        .create_result(pb::CreateResultRequest {
            parent: parent.into(),
            result: Some(result(parent, name, &[])),
        })
        .await
        .expect("create result")
        .into_inner()
}

/// CreateRecord, expecting success.
pub async fn create_record(
    client: &mut Client,
    result: &str,
    name: &str,
    json: &str,
) -> pb::Record {
    client
        .create_record(pb::CreateRecordRequest {
            parent: result.into(),
            record: Some(record(result, name, "tekton.dev/v1.TaskRun", json)),
        })
        .await
        .expect("create record")
        .into_inner()
}

/// GetResult.
pub async fn get_result(client: &mut Client, name: &str) -> Result<pb::Result, tonic::Status> {
    let request = pb::GetResultRequest { name: name.into() };
    Ok(client.get_result(request).await?.into_inner())
}

/// GetRecord.
pub async fn get_record(client: &mut Client, name: &str) -> Result<pb::Record, tonic::Status> {
    let request = pb::GetRecordRequest { name: name.into() };
    Ok(client.get_record(request).await?.into_inner())
}

/// Asserts that `outcome` failed with `code` and a message containing `needle`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(
    outcome: Result<T, tonic::Status>,
    code: Code,
    needle: &str,
) {
    match outcome {
        Ok(v) => panic!("expected {code:?} ({needle}), got success: {v:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(
                status.message().contains(needle),
                "message {:?} should contain {needle:?}",
                status.message()
            );
        }
    }
}

/// Unix nanoseconds of a wire timestamp.
pub fn nanos(t: &Option<prost_types::Timestamp>) -> i128 {
    let t = t.expect("timestamp set");
    i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
}

/// Asserts two Records are equal, comparing `data.value` as JSON (PostgreSQL's jsonb
/// normalises whitespace and key order).
#[track_caller]
pub fn assert_same_record(a: &pb::Record, b: &pb::Record) {
    let json = |r: &pb::Record| {
        r.data.as_ref().map(|d| {
            (
                d.r#type.clone(),
                serde_json::from_slice::<serde_json::Value>(&d.value).ok(),
            )
        })
    };
    assert_eq!(json(a), json(b), "data of {} differs", a.name);
    let strip = |r: &pb::Record| pb::Record {
        data: None,
        ..r.clone()
    };
    assert_eq!(strip(a), strip(b));
}
