//! A hostile corpus, over gRPC and REST, on every backend: each over-limit or malformed
//! field is refused with INVALID_ARGUMENT (HTTP 400, JSON `code` 3) and a message naming
//! the limit or field, never INTERNAL or UNKNOWN; a refused write stores nothing; inputs
//! just inside the limits are accepted and read back intact; and the server keeps serving.
//! The limits are those of `results_storage::limits`.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use integration::{Rest, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use serde_json::{json, Value};
use std::collections::HashMap;
use tonic::Code;

integration::backend_tests!(
    hostile_documents,
    hostile_annotations,
    hostile_names_and_etags,
    hostile_list_parameters,
    long_filters_within_the_limit,
    malformed_protobuf,
);

/// One mebibyte of `c`.
fn mib(c: char) -> String {
    c.to_string().repeat(1 << 20)
}

/// Answers quote what they were sent at most this much (grpc/src/status.rs).
const MAX_MESSAGE: usize = 1024;

/// Asserts a gRPC refusal: INVALID_ARGUMENT, a message naming `needle`, cut to 1 KiB.
#[track_caller]
fn refused<T: std::fmt::Debug>(what: &str, outcome: Result<T, tonic::Status>, needle: &str) {
    let status = match outcome {
        Ok(v) => {
            let shown = format!("{v:?}");
            panic!("{what}: accepted {}", &shown[..shown.len().min(300)]);
        }
        Err(status) => status,
    };
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
    assert!(
        status.message().len() <= MAX_MESSAGE,
        "{what}: long message"
    );
}

/// Asserts a REST refusal: 400 with a JSON status of code 3 naming `needle`.
#[track_caller]
fn rest_refused(what: &str, (http, body): (u16, Value), needle: &str) {
    assert_eq!(http, 400, "{what}: {body}");
    assert_eq!(body["code"].as_i64(), Some(3), "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "{what}: {message:?} lacks {needle:?}"
    );
    assert!(message.len() <= MAX_MESSAGE, "{what}: long message");
}

/// A long URL, yet one an HTTP client sends (they refuse 64 KiB and more, so the 1 MiB
/// cases are gRPC only).
const URL_BYTES: usize = 40 << 10;

/// Percent-encodes a query parameter value.
fn q(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A Record request whose `data.value` is `bytes`.
fn raw_record(result: &str, name: &str, bytes: &[u8]) -> pb::CreateRecordRequest {
    pb::CreateRecordRequest {
        parent: result.into(),
        record: Some(pb::Record {
            name: format!("{result}/records/{name}"),
            data: Some(pb::Any {
                r#type: "tekton.dev/v1.TaskRun".into(),
                value: bytes.to_vec(),
            }),
            ..Default::default()
        }),
    }
}

/// The REST body creating Record `name` holding `bytes`.
fn rest_record(result: &str, name: &str, bytes: &[u8]) -> Value {
    json!({"name": format!("{result}/records/{name}"),
           "data": {"type": "tekton.dev/v1.TaskRun", "value": STANDARD.encode(bytes)}})
}

/// Names of every Record, sorted.
async fn record_names(client: &mut Client) -> Vec<String> {
    // Pages hold at most 4 MiB of documents, so large ones take several.
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_records(pb::ListRecordsRequest {
                parent: "-/results/-".into(),
                page_size: 10_000,
                page_token,
                ..Default::default()
            })
            .await
            .expect("list records")
            .into_inner();
        names.extend(page.records.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    names.sort();
    names
}

/// Names of every Result, sorted.
async fn result_names(client: &mut Client) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_results(pb::ListResultsRequest {
            parent: "-".into(),
            page_size: 10_000,
            ..Default::default()
        })
        .await
        .expect("list results")
        .into_inner()
        .results
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

/// After the corpus the server still creates and reads, over both front-ends.
async fn still_serving(client: &mut Client, rest: &Rest) {
    create_result(client, "after", "ok").await;
    get_result(client, "after/results/ok")
        .await
        .expect("the server keeps serving gRPC");
    let (http, body) = rest.api("GET", "/parents/after/results/ok", None).await;
    assert_eq!(http, 200, "the server keeps serving REST: {body}");
}

/// `{"a":{"a":…1…}}`, `depth` objects deep.
fn objects(depth: usize) -> Vec<u8> {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)).into_bytes()
}

/// `[[…]]`, `depth` arrays deep.
fn arrays(depth: usize) -> Vec<u8> {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

/// A string document of exactly `len` bytes.
fn string_doc(len: usize) -> Vec<u8> {
    let mut doc = b"{\"s\":\"".to_vec();
    doc.resize(len - 2, b'x');
    doc.extend_from_slice(b"\"}");
    doc
}

async fn hostile_documents(backend: Backend) {
    let server = TestServer::start(backend);
    let (mut client, rest) = (server.grpc().await, server.rest());
    let parent = "ns/results/r";
    create_result(&mut client, "ns", "r").await;
    let max = results_storage::limits::MAX_DOCUMENT_BYTES;
    let many_keys = {
        let keys: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":{i}")).collect();
        format!("{{{}}}", keys.join(",")).into_bytes()
    };
    assert!(many_keys.len() < max);
    let accepted: Vec<(&str, Vec<u8>)> = vec![
        ("depth30", objects(30)),
        ("arrays30", arrays(30)),
        ("four-mib", string_doc(max)),
        ("many-keys", many_keys),
        (
            "numbers",
            format!("[1e-1000, -2.5e+300, 0.{}]", "1".repeat(998)).into_bytes(),
        ),
        (
            "escapes",
            br#"{"a\\u0000":"\\ud800","e":"\ud83d\ude00\u00e9"}"#.to_vec(),
        ),
    ];
    let refused_docs: Vec<(&str, Vec<u8>, &str)> = vec![
        ("depth31", objects(31), "more than 30 deep, the limit"),
        ("arrays31", arrays(31), "more than 30 deep, the limit"),
        (
            "depth100000",
            arrays(100_000),
            "more than 30 deep, the limit",
        ),
        (
            "over4mib",
            string_doc(max + 1),
            "the limit is 4194304 bytes",
        ),
        ("nul", br#"{"a":"\u0000"}"#.to_vec(), "NUL"),
        ("nulkey", br#"{"a\u0000":1}"#.to_vec(), "NUL"),
        (
            "high",
            br#"{"a":"\ud800"}"#.to_vec(),
            "lone UTF-16 surrogate",
        ),
        ("low", br#""\udc00""#.to_vec(), "lone UTF-16 surrogate"),
        (
            "utf8",
            b"{\"a\":\"\xff\xfe\"}".to_vec(),
            "not a JSON document",
        ),
        ("notjson", b"{nope".to_vec(), "not a JSON document"),
        (
            "tinyfraction",
            format!("[0.{}1]", "0".repeat(200_000)).into_bytes(),
            "longer than 1000 characters",
        ),
        (
            "hugeexponent",
            b"[0e-99999999999]".to_vec(),
            "with an exponent beyond",
        ),
        ("trailing", b"{} x".to_vec(), "not a JSON document"),
        // Backends would keep different ones of the two, so filters would differ.
        (
            "dupkey",
            br#"{"a":1,"b":[{"x":1,"x":2}]}"#.to_vec(),
            r#"the key "x" appears twice"#,
        ),
    ];
    let mut stored = Vec::new();
    for (name, doc) in &accepted {
        let expected: Value = serde_json::from_slice(doc).unwrap();
        let grpc_name = format!("g-{name}");
        client
            .create_record(raw_record(parent, &grpc_name, doc))
            .await
            .unwrap_or_else(|e| panic!("{name} over gRPC: {}", e.message()));
        let got = get_record(&mut client, &format!("{parent}/records/{grpc_name}"))
            .await
            .unwrap();
        let got: Value = serde_json::from_slice(&got.data.unwrap().value).unwrap();
        assert!(got == expected, "{name}: gRPC read back differs");
        let rest_name = format!("r-{name}");
        let body = rest_record(parent, &rest_name, doc);
        let (http, answer) = rest
            .api("POST", "/parents/ns/results/r/records", Some(&body))
            .await;
        assert_eq!(http, 200, "{name} over REST: {}", answer["message"]);
        let (http, got) = rest
            .api(
                "GET",
                &format!("/parents/ns/results/r/records/{rest_name}"),
                None,
            )
            .await;
        assert_eq!(http, 200);
        let bytes = STANDARD
            .decode(got["data"]["value"].as_str().unwrap())
            .unwrap();
        let got: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(got == expected, "{name}: REST read back differs");
        stored.extend([
            format!("{parent}/records/{grpc_name}"),
            format!("{parent}/records/{rest_name}"),
        ]);
    }
    let target = format!("{parent}/records/g-depth30");
    let before = get_record(&mut client, &target).await.unwrap();
    for (name, doc, needle) in &refused_docs {
        let outcome = client.create_record(raw_record(parent, name, doc)).await;
        refused(&format!("create {name}"), outcome, needle);
        let body = rest_record(parent, name, doc);
        let answer = rest
            .api("POST", "/parents/ns/results/r/records", Some(&body))
            .await;
        rest_refused(&format!("REST create {name}"), answer, needle);
        let mut update = raw_record(parent, "g-depth30", doc).record;
        update
            .as_mut()
            .unwrap()
            .data
            .as_mut()
            .unwrap()
            .r#type
            .clear();
        let outcome = client
            .update_record(pb::UpdateRecordRequest {
                record: update,
                update_mask: None,
                etag: String::new(),
            })
            .await;
        refused(&format!("update {name}"), outcome, needle);
        let patch = json!({"data": {"value": STANDARD.encode(doc)}});
        let answer = rest
            .api(
                "PATCH",
                "/parents/ns/results/r/records/g-depth30",
                Some(&patch),
            )
            .await;
        rest_refused(&format!("REST update {name}"), answer, needle);
    }
    // Types are text every backend stores: no NUL (PostgreSQL's text cannot hold one).
    let nul_type = record(parent, "nul-type", "tekton.dev/v1.TaskRun\0", "{}");
    let outcome = client
        .create_record(pb::CreateRecordRequest {
            parent: parent.into(),
            record: Some(nul_type),
        })
        .await;
    refused(
        "NUL in data.type",
        outcome,
        "data.type contains the NUL character",
    );
    let body = json!({"name": format!("{parent}/records/nul-type"),
                      "data": {"type": "t\u{0}", "value": STANDARD.encode(b"{}")}});
    let answer = rest
        .api("POST", "/parents/ns/results/r/records", Some(&body))
        .await;
    rest_refused(
        "REST NUL in data.type",
        answer,
        "data.type contains the NUL character",
    );
    let mut nul_summary = result("ns", "nul", &[]);
    nul_summary.summary = Some(pb::RecordSummary {
        record: "ns/results/nul/records/x".into(),
        r#type: "\0".into(),
        ..Default::default()
    });
    let outcome = client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(nul_summary),
        })
        .await;
    refused(
        "NUL in summary.type",
        outcome,
        "summary.type contains the NUL character",
    );
    let body = json!({"summary": {"record": "ns/results/r/records/x", "type": "\u{0}"}});
    let answer = rest
        .api("PATCH", "/parents/ns/results/r", Some(&body))
        .await;
    rest_refused(
        "REST NUL in summary.type",
        answer,
        "summary.type contains the NUL character",
    );
    assert_eq!(result_names(&mut client).await, ["ns/results/r"]);

    stored.sort();
    assert_eq!(
        record_names(&mut client).await,
        stored,
        "refused creates stored nothing"
    );
    let after = get_record(&mut client, &target).await.unwrap();
    assert_same_record(&after, &before);
    still_serving(&mut client, &rest).await;
}

/// An annotation map of `n` entries with `value_len`-byte values.
fn annotations(n: usize, value_len: usize) -> HashMap<String, String> {
    (0..n)
        .map(|i| (format!("k{i}"), "v".repeat(value_len)))
        .collect()
}

async fn hostile_annotations(backend: Backend) {
    use results_storage::limits::{
        MAX_ANNOTATIONS, MAX_ANNOTATIONS_BYTES, MAX_ANNOTATION_KEY_BYTES,
    };
    let server = TestServer::start(backend);
    let (mut client, rest) = (server.grpc().await, server.rest());
    // Within every limit: 256 entries, a 317-byte key, 256 KiB in all.
    let value_len = MAX_ANNOTATIONS_BYTES / MAX_ANNOTATIONS - 8;
    let mut fits = annotations(MAX_ANNOTATIONS - 1, value_len);
    fits.insert("k".repeat(MAX_ANNOTATION_KEY_BYTES), "v".into());
    assert!(fits.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() <= MAX_ANNOTATIONS_BYTES);
    let mut nul = annotations(1, 1);
    nul.insert("k".into(), "a\0b".into());
    let mut long_key = annotations(1, 1);
    long_key.insert(mib('k'), "v".into());
    let cases: Vec<(&str, HashMap<String, String>, &str)> = vec![
        (
            "257 entries",
            annotations(MAX_ANNOTATIONS + 1, 1),
            "has 257 entries; the limit is 256",
        ),
        ("10000 entries", annotations(10_000, 1), "the limit is 256"),
        (
            "318-byte key",
            HashMap::from([("k".repeat(318), "v".into())]),
            "is 318 bytes long; the limit is 317",
        ),
        ("1 MiB key", long_key, "the limit is 317 bytes"),
        (
            "over 256 KiB",
            annotations(4, MAX_ANNOTATIONS_BYTES / 4),
            "the limit is 262144 bytes",
        ),
        (
            "1 MiB value",
            HashMap::from([("k".into(), mib('v'))]),
            "the limit is 262144 bytes",
        ),
        ("NUL value", nul, "NUL"),
    ];
    let summary = |annotations: HashMap<String, String>| pb::RecordSummary {
        record: "ns/results/kept/records/x".into(),
        r#type: "tekton.dev/v1.PipelineRun".into(),
        annotations,
        ..Default::default()
    };
    // Accepted through both front-ends, as annotations and as summary.annotations.
    let mut accepted = pb::Result {
        name: "ns/results/kept".into(),
        annotations: fits.clone(),
        summary: Some(summary(fits.clone())),
        ..Default::default()
    };
    let kept = client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(accepted.clone()),
        })
        .await
        .expect("annotations within the limits")
        .into_inner();
    assert_eq!(kept.annotations, fits);
    assert_eq!(kept.summary.as_ref().unwrap().annotations, fits);
    let body = json!({"name": "ns/results/rest", "annotations": fits, "summary": {"record": "ns/results/rest/records/x", "type": "t", "annotations": fits}});
    let (http, answer) = rest.api("POST", "/parents/ns/results", Some(&body)).await;
    assert_eq!(http, 200, "{}", answer["message"]);
    accepted.name.clear();
    client
        .update_result(pb::UpdateResultRequest {
            name: kept.name.clone(),
            result: Some(accepted),
            etag: String::new(),
        })
        .await
        .expect("update within the limits");
    let kept = get_result(&mut client, &kept.name).await.unwrap();

    for (what, map, needle) in cases {
        let as_annotations = pb::Result {
            name: "ns/results/bad".into(),
            annotations: map.clone(),
            ..Default::default()
        };
        let as_summary = pb::Result {
            name: "ns/results/bad".into(),
            summary: Some(summary(map.clone())),
            ..Default::default()
        };
        for (field, result) in [
            ("annotations", as_annotations),
            ("summary.annotations", as_summary),
        ] {
            let what = format!("{what} in {field}");
            let outcome = client
                .create_result(pb::CreateResultRequest {
                    parent: "ns".into(),
                    result: Some(result.clone()),
                })
                .await
                .map(tonic::Response::into_inner);
            refused(&format!("create {what}"), outcome.clone(), needle);
            refused(&format!("create {what}"), outcome, field);
            let update = pb::Result {
                name: String::new(),
                ..result.clone()
            };
            let outcome = client
                .update_result(pb::UpdateResultRequest {
                    name: kept.name.clone(),
                    result: Some(update),
                    etag: String::new(),
                })
                .await
                .map(tonic::Response::into_inner);
            refused(&format!("update {what}"), outcome.clone(), needle);
            refused(&format!("update {what}"), outcome, field);
        }
        let body = json!({"name": "ns/results/bad", "annotations": map});
        rest_refused(
            &format!("REST create {what}"),
            rest.api("POST", "/parents/ns/results", Some(&body)).await,
            needle,
        );
        let body = json!({"annotations": map});
        rest_refused(
            &format!("REST update {what}"),
            rest.api("PATCH", "/parents/ns/results/kept", Some(&body))
                .await,
            needle,
        );
        let body = json!({"summary": {"record": "ns/results/kept/records/x", "type": "t", "annotations": map}});
        rest_refused(
            &format!("REST update summary {what}"),
            rest.api("PATCH", "/parents/ns/results/kept", Some(&body))
                .await,
            needle,
        );
    }
    assert_eq!(
        result_names(&mut client).await,
        ["ns/results/kept", "ns/results/rest"]
    );
    assert_eq!(
        get_result(&mut client, &kept.name).await.unwrap(),
        kept,
        "refused updates changed nothing"
    );
    still_serving(&mut client, &rest).await;
}

async fn hostile_names_and_etags(backend: Backend) {
    let server = TestServer::start(backend);
    let (mut client, rest) = (server.grpc().await, server.rest());
    let kept = create_result(&mut client, "ns", "r").await;
    let rec = create_record(&mut client, "ns/results/r", "x", "{}").await;
    let limit = "the limit is 207 bytes";
    for huge in [
        mib('/'),
        mib('a'),
        format!("ns/results/{}", "a".repeat(200)),
    ] {
        let what = format!("a name of {} bytes of {:?}", huge.len(), &huge[..1]);
        let what = what.as_str();
        refused(
            what,
            client
                .create_result(pb::CreateResultRequest {
                    parent: "ns".into(),
                    result: Some(pb::Result {
                        name: huge.clone(),
                        ..Default::default()
                    }),
                })
                .await,
            limit,
        );
        refused(
            what,
            client
                .create_result(pb::CreateResultRequest {
                    parent: huge.clone(),
                    result: Some(result("ns", "p", &[])),
                })
                .await,
            "parent",
        );
        refused(what, get_result(&mut client, &huge).await, limit);
        refused(
            what,
            client
                .delete_result(pb::DeleteResultRequest { name: huge.clone() })
                .await,
            limit,
        );
        refused(
            what,
            client
                .update_result(pb::UpdateResultRequest {
                    name: huge.clone(),
                    ..Default::default()
                })
                .await,
            limit,
        );
        refused(
            what,
            client
                .update_result(pb::UpdateResultRequest {
                    name: kept.name.clone(),
                    result: Some(pb::Result {
                        name: huge.clone(),
                        ..Default::default()
                    }),
                    etag: String::new(),
                })
                .await,
            limit,
        );
        refused(
            what,
            client
                .create_record(pb::CreateRecordRequest {
                    parent: "ns/results/r".into(),
                    record: Some(pb::Record {
                        name: huge.clone(),
                        ..Default::default()
                    }),
                })
                .await,
            limit,
        );
        refused(
            what,
            client
                .create_record(pb::CreateRecordRequest {
                    parent: huge.clone(),
                    record: Some(record("ns/results/r", "y", "t", "{}")),
                })
                .await,
            "parent",
        );
        refused(what, get_record(&mut client, &huge).await, limit);
        refused(
            what,
            client
                .delete_record(pb::DeleteRecordRequest { name: huge.clone() })
                .await,
            limit,
        );
        refused(
            what,
            client
                .update_record(pb::UpdateRecordRequest {
                    record: Some(pb::Record {
                        name: huge.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await,
            limit,
        );
        refused(
            what,
            client
                .list_results(pb::ListResultsRequest {
                    parent: huge.clone(),
                    ..Default::default()
                })
                .await,
            limit,
        );
        refused(
            what,
            client
                .list_records(pb::ListRecordsRequest {
                    parent: huge.clone(),
                    ..Default::default()
                })
                .await,
            limit,
        );
        refused(
            what,
            client
                .get_record_list_summary(pb::RecordListSummaryRequest {
                    parent: huge.clone(),
                    summary: "total".into(),
                    ..Default::default()
                })
                .await,
            limit,
        );
        rest_refused(
            what,
            rest.api("POST", "/parents/ns/results", Some(&json!({"name": huge})))
                .await,
            limit,
        );
        rest_refused(
            what,
            rest.api(
                "POST",
                "/parents/ns/results/r/records",
                Some(&json!({"name": huge})),
            )
            .await,
            limit,
        );
    }
    // Names in REST paths: segments over the limit, and a whole path of 40 KiB.
    let long = "a".repeat(250);
    for (method, path) in [
        ("GET", format!("/parents/ns/results/{long}")),
        ("DELETE", format!("/parents/ns/results/{long}")),
        ("GET", format!("/parents/{long}/results")),
        ("GET", format!("/parents/ns/results/r/records/{long}")),
        ("GET", format!("/parents/ns/results/{long}/records")),
    ] {
        rest_refused(&path, rest.api(method, &path, None).await, limit);
    }
    let path = format!("/parents/ns/results/{}", "a".repeat(URL_BYTES));
    rest_refused(
        "a 40 KiB path",
        rest.api("GET", &path, None).await,
        "is 40971 bytes long; the limit is 207 bytes",
    );

    // Etags: 128 bytes is a (stale) etag; 129 bytes, 40 KiB and 1 MiB are refused by size.
    let stale = "e".repeat(128);
    let stale_code =
        |outcome: Result<tonic::Response<pb::Result>, tonic::Status>| outcome.unwrap_err().code();
    assert_eq!(
        stale_code(
            client
                .update_result(pb::UpdateResultRequest {
                    name: kept.name.clone(),
                    result: None,
                    etag: stale
                })
                .await
        ),
        Code::FailedPrecondition
    );
    for etag in ["e".repeat(129), "e".repeat(URL_BYTES), mib('e')] {
        let what = format!("etag of {} bytes", etag.len());
        let needle = "etag is";
        refused(
            &what,
            client
                .update_result(pb::UpdateResultRequest {
                    name: kept.name.clone(),
                    result: None,
                    etag: etag.clone(),
                })
                .await,
            needle,
        );
        refused(
            &what,
            client
                .update_record(pb::UpdateRecordRequest {
                    record: Some(pb::Record {
                        name: rec.name.clone(),
                        ..Default::default()
                    }),
                    update_mask: None,
                    etag: etag.clone(),
                })
                .await,
            needle,
        );
        if etag.len() <= URL_BYTES {
            rest_refused(
                &what,
                rest.api(
                    "PATCH",
                    &format!("/parents/ns/results/r?etag={etag}"),
                    Some(&json!({})),
                )
                .await,
                "the limit is 128 bytes",
            );
            rest_refused(
                &what,
                rest.api(
                    "PATCH",
                    &format!("/parents/ns/results/r/records/x?etag={etag}"),
                    Some(&json!({})),
                )
                .await,
                "the limit is 128 bytes",
            );
        }
    }
    assert_eq!(result_names(&mut client).await, ["ns/results/r"]);
    assert_eq!(get_result(&mut client, &kept.name).await.unwrap(), kept);
    assert_eq!(
        record_names(&mut client).await,
        std::slice::from_ref(&rec.name)
    );
    still_serving(&mut client, &rest).await;
}

/// The parameters of a List or summary call.
#[derive(Clone, Default)]
struct Params {
    filter: String,
    page_size: i32,
    page_token: String,
    order_by: String,
    summary: String,
    group_by: String,
}

/// Which calls take a parameter.
#[derive(Clone, Copy, PartialEq)]
enum Calls {
    /// ListResults, ListRecords and GetRecordListSummary.
    All,
    /// ListResults and ListRecords.
    Lists,
    /// GetRecordListSummary.
    Summary,
}

impl Params {
    fn query(&self) -> String {
        let mut query = format!(
            "filter={}&order_by={}&page_token={}",
            q(&self.filter),
            q(&self.order_by),
            q(&self.page_token)
        );
        if self.page_size != 0 {
            query.push_str(&format!("&page_size={}", self.page_size));
        }
        query
    }

    fn summary_query(&self) -> String {
        let summary = if self.summary.is_empty() {
            "total"
        } else {
            &self.summary
        };
        format!(
            "summary={}&group_by={}&filter={}&order_by={}",
            q(summary),
            q(&self.group_by),
            q(&self.filter),
            q(&self.order_by)
        )
    }
}

/// Sends `params` to every call in `calls`, over gRPC and (when the URL is of a size an
/// HTTP server reads) REST, expecting each to be refused naming `needle`.
async fn refuse_params(
    client: &mut Client,
    rest: &Rest,
    what: &str,
    calls: Calls,
    p: Params,
    needle: &str,
) {
    let p2 = p.clone();
    if calls != Calls::Summary {
        let outcome = client
            .list_results(pb::ListResultsRequest {
                parent: "-".into(),
                filter: p.filter.clone(),
                page_size: p.page_size,
                page_token: p.page_token.clone(),
                order_by: p.order_by.clone(),
            })
            .await;
        refused(&format!("ListResults {what}"), outcome, needle);
        let outcome = client
            .list_records(pb::ListRecordsRequest {
                parent: "-/results/-".into(),
                filter: p.filter.clone(),
                page_size: p.page_size,
                page_token: p.page_token.clone(),
                order_by: p.order_by.clone(),
            })
            .await;
        refused(&format!("ListRecords {what}"), outcome, needle);
    }
    if calls != Calls::Lists {
        let outcome = client
            .get_record_list_summary(pb::RecordListSummaryRequest {
                parent: "-/results/-".into(),
                summary: if p.summary.is_empty() {
                    "total".into()
                } else {
                    p.summary.clone()
                },
                filter: p.filter.clone(),
                group_by: p.group_by.clone(),
                order_by: p.order_by.clone(),
            })
            .await;
        refused(&format!("summary {what}"), outcome, needle);
    }
    let mut paths = Vec::new();
    if calls != Calls::Summary {
        paths.push(format!("/parents/-/results?{}", p2.query()));
        paths.push(format!("/parents/-/results/-/records?{}", p2.query()));
    }
    if calls != Calls::Lists {
        paths.push(format!(
            "/parents/-/results/-/records/summary?{}",
            p2.summary_query()
        ));
    }
    for path in paths {
        // No HTTP client sends a URL of 64 KiB or more; the 40 KiB cases cover REST.
        if path.len() < 63 << 10 {
            let answer = rest.api("GET", &path, None).await;
            rest_refused(&format!("REST {what}"), answer, needle);
        }
    }
}

async fn hostile_list_parameters(backend: Backend) {
    let server = TestServer::start(backend);
    let (mut client, rest) = (server.grpc().await, server.rest());
    create_result(&mut client, "ns", "r").await;
    create_record(&mut client, "ns/results/r", "x", "{}").await;
    create_result(&mut client, "ns", "s").await;
    let filter = |f: String| Params {
        filter: f,
        ..Default::default()
    };
    let nested = |n: usize| format!("{}true{}", "(".repeat(n), ")".repeat(n));
    let cases: Vec<(&str, Calls, Params, &str)> = vec![
        (
            "1 MiB filter",
            Calls::All,
            filter(mib('a')),
            "filter is 1048576 bytes long; the limit is 8192 bytes",
        ),
        (
            "8193-byte filter",
            Calls::All,
            filter(format!("name == '{}'", "x".repeat(8183))),
            "the limit is 8192 bytes",
        ),
        (
            "10000 nested parens",
            Calls::All,
            filter(nested(10_000)),
            "the limit is 8192 bytes",
        ),
        (
            "4000 nested parens",
            Calls::All,
            filter(nested(4_000)),
            "4000 deep; the limit is 32",
        ),
        (
            "33 nested parens",
            Calls::All,
            filter(nested(33)),
            "33 deep; the limit is 32",
        ),
        (
            "5000-term chain",
            Calls::All,
            filter(vec!["true"; 5000].join("||")),
            "the limit is 8192 bytes",
        ),
        (
            "1 MiB order_by",
            Calls::All,
            Params {
                order_by: mib('a'),
                ..Default::default()
            },
            "order_by is 1048576 bytes long; the limit is 256 bytes",
        ),
        (
            "257-byte order_by",
            Calls::All,
            Params {
                order_by: " ".repeat(257),
                ..Default::default()
            },
            "order_by is 257 bytes long",
        ),
        (
            "1 MiB page_token",
            Calls::Lists,
            Params {
                page_token: mib('a'),
                ..Default::default()
            },
            "page_token is invalid: 1048576 bytes long; the limit is 4096 bytes",
        ),
        (
            "4097-byte page_token",
            Calls::Lists,
            Params {
                page_token: "a".repeat(4097),
                ..Default::default()
            },
            "the limit is 4096 bytes",
        ),
        (
            "page_size -1",
            Calls::Lists,
            Params {
                page_size: -1,
                ..Default::default()
            },
            "page_size -1 is out of range",
        ),
        (
            "page_size 10001",
            Calls::Lists,
            Params {
                page_size: 10_001,
                ..Default::default()
            },
            "page_size 10001 is out of range",
        ),
        (
            "page_size i32::MIN",
            Calls::Lists,
            Params {
                page_size: i32::MIN,
                ..Default::default()
            },
            "is out of range",
        ),
        (
            "1 MiB summary",
            Calls::Summary,
            Params {
                summary: mib('a'),
                ..Default::default()
            },
            "summary is 1048576 bytes long; the limit is 256 bytes",
        ),
        (
            "257-byte summary",
            Calls::Summary,
            Params {
                summary: "a".repeat(257),
                ..Default::default()
            },
            "summary is 257 bytes long",
        ),
        (
            "1 MiB group_by",
            Calls::Summary,
            Params {
                group_by: mib('a'),
                ..Default::default()
            },
            "group_by is 1048576 bytes long; the limit is 256 bytes",
        ),
        (
            "257-byte group_by",
            Calls::Summary,
            Params {
                group_by: "a".repeat(257),
                ..Default::default()
            },
            "group_by is 257 bytes long",
        ),
    ];
    let kib40 = || "a".repeat(URL_BYTES);
    let cases = cases.into_iter().chain([
        (
            "40 KiB filter",
            Calls::All,
            filter(kib40()),
            "filter is 40960 bytes long",
        ),
        (
            "40 KiB order_by",
            Calls::All,
            Params {
                order_by: kib40(),
                ..Default::default()
            },
            "order_by is 40960 bytes long",
        ),
        (
            "40 KiB page_token",
            Calls::Lists,
            Params {
                page_token: kib40(),
                ..Default::default()
            },
            "page_token is invalid: 40960 bytes long",
        ),
        (
            "40 KiB summary",
            Calls::Summary,
            Params {
                summary: kib40(),
                ..Default::default()
            },
            "summary is 40960 bytes long",
        ),
        (
            "40 KiB group_by",
            Calls::Summary,
            Params {
                group_by: kib40(),
                ..Default::default()
            },
            "group_by is 40960 bytes long",
        ),
    ]);
    for (what, calls, params, needle) in cases {
        refuse_params(&mut client, &rest, what, calls, params, needle).await;
    }

    // Garbage page tokens, and real ones altered or used elsewhere.
    let first = client
        .list_results(pb::ListResultsRequest {
            parent: "-".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let (body, tag) = token.split_once('.').unwrap();
    let tampered = format!(
        "{body}.{}",
        if tag.starts_with('A') { "B" } else { "A" }.to_owned() + &tag[1..]
    );
    let token_cases = [
        ("not-a-token", "malformed"),
        (".", "page_token is invalid"),
        ("a.b", "page_token is invalid"),
        ("%%%.%%%", "malformed"),
        ("é.é", "malformed"),
        ("\0.\0", "malformed"),
        (&token[..token.len() - 3], "page_token is invalid"),
        (&tampered, "not issued by this server, or altered"),
        (&format!("{body}.{tag}.{tag}"), "page_token is invalid"),
    ];
    for (garbage, needle) in token_cases {
        let what = format!("page_token {garbage:?}");
        let p = Params {
            page_token: garbage.to_owned(),
            ..Default::default()
        };
        refuse_params(&mut client, &rest, &what, Calls::Lists, p, needle).await;
    }
    let outcome = client
        .list_results(pb::ListResultsRequest {
            parent: "ns".into(),
            page_size: 1,
            page_token: token.clone(),
            ..Default::default()
        })
        .await;
    refused(
        "token of another parent",
        outcome,
        "issued for another parent",
    );
    let outcome = client
        .list_results(pb::ListResultsRequest {
            parent: "-".into(),
            page_size: 1,
            page_token: token.clone(),
            order_by: "create_time desc".into(),
            ..Default::default()
        })
        .await;
    refused(
        "token of another order",
        outcome,
        "issued for another order_by",
    );
    let outcome = client
        .list_records(pb::ListRecordsRequest {
            parent: "-/results/-".into(),
            page_token: token.clone(),
            ..Default::default()
        })
        .await;
    refused(
        "token of Results for Records",
        outcome,
        "page_token is invalid",
    );
    let (http, page) = rest
        .api(
            "GET",
            &format!("/parents/-/results?page_size=1&page_token={token}"),
            None,
        )
        .await;
    assert_eq!(http, 200, "the real token still works: {page}");
    assert_eq!(page["results"].as_array().map(Vec::len), Some(1), "{page}");
    still_serving(&mut client, &rest).await;
}

/// Filters as long as the limit allows, made of many flat terms, are accepted, mean what
/// they say, and every backend runs them (no INTERNAL from a parameter or depth limit of
/// the database). An `in` list of 4,000 constants once overflowed the stack of the thread
/// lowering it to SQL and aborted the server.
async fn long_filters_within_the_limit(backend: Backend) {
    use results_storage::limits::MAX_FILTER_BYTES;
    let server = TestServer::start(backend);
    let (mut client, rest) = (server.grpc().await, server.rest());
    create_result(&mut client, "ns", "r").await;
    for (name, doc) in [("one", r#"{"a":1}"#), ("two", r#"{"a":2}"#), ("none", "{}")] {
        create_record(&mut client, "ns/results/r", name, doc).await;
    }
    // As many terms as fit in the limit.
    let chain = |term: &str, sep: &str, last: &str| {
        let n = (MAX_FILTER_BYTES - last.len()) / (term.len() + sep.len());
        let mut f = vec![term; n].join(sep);
        f.push_str(sep);
        f.push_str(last);
        assert!(f.len() <= MAX_FILTER_BYTES, "{}", f.len());
        f
    };
    let list_in = format!("data.a in [{}2]", "3,".repeat((MAX_FILTER_BYTES - 20) / 2));
    let records_cases: Vec<(String, Vec<&str>)> = vec![
        (chain("false", "||", "true"), vec!["none", "one", "two"]),
        (chain("true", "&&", "false"), vec![]),
        (chain("data.a==3", "||", "data.a==1"), vec!["one"]),
        (chain("data.b", "||", "data.a==2"), vec!["two"]),
        (chain("data.a!=5", "&&", "data.a!=1"), vec!["two"]),
        (
            chain("name=='x'", "||", "name.startsWith('on')"),
            vec!["one"],
        ),
        (list_in, vec!["two"]),
        (
            format!("{}true", "!".repeat(MAX_FILTER_BYTES - 4)),
            vec!["none", "one", "two"],
        ),
    ];
    for (filter, expected) in records_cases {
        let what = format!("{}… ({} bytes)", &filter[..20], filter.len());
        let page = client
            .list_records(pb::ListRecordsRequest {
                parent: "-/results/-".into(),
                filter: filter.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{what}: {:?} {}", e.code(), e.message()));
        let mut names: Vec<String> = page
            .into_inner()
            .records
            .into_iter()
            .map(|r| r.name.rsplit('/').next().unwrap().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, expected, "{what}");
        let (http, body) = rest
            .api(
                "GET",
                &format!("/parents/-/results/-/records?filter={}", q(&filter)),
                None,
            )
            .await;
        assert_eq!(http, 200, "REST {what}: {}", body["message"]);
        assert_eq!(
            body["records"].as_array().map_or(0, Vec::len),
            expected.len(),
            "REST {what}"
        );
        let summary = client
            .get_record_list_summary(pb::RecordListSummaryRequest {
                parent: "-/results/-".into(),
                summary: "total".into(),
                filter,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("summary {what}: {:?} {}", e.code(), e.message()))
            .into_inner();
        let total = summary
            .summary
            .first()
            .and_then(|row| row.fields.get("total"))
            .and_then(|v| match v.kind {
                Some(prost_types::value::Kind::NumberValue(n)) => Some(n),
                _ => None,
            });
        assert_eq!(
            total.unwrap_or(0.0),
            expected.len() as f64,
            "summary {what}"
        );
    }
    let results_filter = chain("annotations.a=='b'", "||", "uid!=''");
    let page = client
        .list_results(pb::ListResultsRequest {
            parent: "-".into(),
            filter: results_filter,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("Results chain: {:?} {}", e.code(), e.message()));
    assert_eq!(page.into_inner().results.len(), 1);
    still_serving(&mut client, &rest).await;
}

/// A request whose `name` (field 1) is bytes, to send a string that is not UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct BytesName {
    #[prost(bytes = "vec", tag = "1")]
    name: Vec<u8>,
}

/// A request whose field 1 is an integer where a string belongs.
#[derive(Clone, PartialEq, prost::Message)]
struct IntName {
    #[prost(uint64, tag = "1")]
    name: u64,
}

/// Sends `request` as the request of `method`, answering a Result.
async fn raw_call<T: prost::Message + Default + Send + 'static>(
    server: &TestServer,
    method: &'static str,
    request: T,
) -> Result<pb::Result, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.grpc_addr()))
        .expect("address")
        .connect()
        .await
        .expect("connect to gRPC");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    let codec = tonic_prost::ProstCodec::<T, pb::Result>::default();
    grpc.unary(tonic::Request::new(request), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

/// Requests that are not valid protobuf (a string that is not UTF-8, a field of the wrong
/// wire type) are the client's fault: INVALID_ARGUMENT, not tonic's INTERNAL.
async fn malformed_protobuf(backend: Backend) {
    let server = TestServer::start(backend);
    let (mut client, rest) = (server.grpc().await, server.rest());
    create_result(&mut client, "ns", "r").await;
    let get = "/tekton.results.v1alpha2.Results/GetResult";
    let create = "/tekton.results.v1alpha2.Results/CreateResult";
    let not_utf8 = BytesName {
        name: b"ns/results/\xffr".to_vec(),
    };
    refused(
        "name not UTF-8",
        raw_call(&server, get, not_utf8.clone()).await,
        "not valid protobuf",
    );
    refused(
        "parent not UTF-8",
        raw_call(&server, create, not_utf8).await,
        "not valid protobuf",
    );
    refused(
        "name of the wrong wire type",
        raw_call(&server, get, IntName { name: 7 }).await,
        "not valid protobuf",
    );
    // The same fields, well formed, work through the raw path.
    let valid = BytesName {
        name: b"ns/results/r".to_vec(),
    };
    assert_eq!(
        raw_call(&server, get, valid)
            .await
            .expect("a valid raw request")
            .name,
        "ns/results/r"
    );
    assert_eq!(result_names(&mut client).await, ["ns/results/r"]);
    still_serving(&mut client, &rest).await;
}
