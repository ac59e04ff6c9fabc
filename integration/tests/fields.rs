//! Partial responses: the `fields` mask (gRPC metadata, REST query parameter) of Gets and
//! Lists, as upstream's `tkn-results` sends it, JSON paths trimmed in the database.

mod common;

use common::{assert_code, create_record, create_result, Client};
use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection, SqliteConnection};
use integration::{Backend, TestDb, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use serde_json::{json, Value};
use tonic::Code;

integration::backend_tests!(
    cli_masks_over_grpc_and_rest,
    json_path_masks_keep_types_and_null_missing_paths,
    gets_take_a_mask,
    bad_masks_are_refused,
    paging_with_a_mask_concatenates_to_the_full_listing,
    writes_answer_with_a_mask_and_store_everything,
    a_mask_without_data_does_not_read_the_document_column
);

/// `tkn-results`' masks (`pkg/cli/common/constants.go`): its logs commands, and its
/// list commands.
const CLI_LOGS_FIELDS: &str = "records.name,records.uid,records.data.value";
const CLI_LIST_FIELDS: &str = "records.name,records.uid,records.create_time,records.update_time,records.data.value.metadata,records.data.value.status,next_page_token";

/// The document of run `i`: a TaskRun as Tekton writes it, plus typed values.
fn doc(i: usize) -> Value {
    json!({
        "kind": "TaskRun",
        "metadata": {"name": format!("run-{i}"), "namespace": "ns", "labels": {"app": "x"}},
        "spec": {"params": [{"name": "p", "value": "x".repeat(2000)}]},
        "status": {"conditions": [{"reason": "Succeeded", "status": "True"}], "podName": format!("pod-{i}")},
        "count": i,
        "ratio": 1.5,
        "flags": {"on": true, "off": false, "none": null},
    })
}

/// A Result `ns/results/r` holding `n` Records `run-<i>`.
async fn seed(client: &mut Client, n: usize) -> Vec<pb::Record> {
    create_result(client, "ns", "r").await;
    let mut records = Vec::new();
    for i in 0..n {
        let json = doc(i).to_string();
        records.push(create_record(client, "ns/results/r", &format!("run-{i}"), &json).await);
    }
    records
}

fn with_fields<T>(message: T, fields: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("fields", fields.parse().expect("ASCII metadata"));
    request
}

async fn list(
    client: &mut Client,
    page_size: i32,
    page_token: &str,
    fields: &str,
) -> Result<pb::ListRecordsResponse, tonic::Status> {
    let message = pb::ListRecordsRequest {
        parent: "ns/results/r".into(),
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    };
    Ok(client
        .list_records(with_fields(message, fields))
        .await?
        .into_inner())
}

fn value(record: &pb::Record) -> Value {
    let data = record.data.as_ref().expect("data kept");
    serde_json::from_slice(&data.value).expect("data.value is JSON")
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn base64_json(text: &Value) -> Value {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_str().expect("base64 text"))
        .expect("base64");
    serde_json::from_slice(&bytes).expect("JSON")
}

async fn cli_masks_over_grpc_and_rest(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let created = seed(&mut client, 3).await;

    // The logs commands' mask, over gRPC metadata: name, uid and the whole document.
    let page = list(&mut client, 2, "", CLI_LOGS_FIELDS).await.unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(
        page.next_page_token, "",
        "not named, so not sent (as upstream)"
    );
    for (got, want) in page.records.iter().zip(&created) {
        assert_eq!(
            got,
            &pb::Record {
                name: want.name.clone(),
                uid: want.uid.clone(),
                data: Some(pb::Any {
                    r#type: String::new(),
                    value: got.data.as_ref().unwrap().value.clone(),
                }),
                ..Default::default()
            }
        );
        assert_eq!(value(got), value(want));
    }

    // The list commands' mask, over REST as the CLI sends it: metadata and status only.
    let (status, body) = server
        .rest()
        .api(
            "GET",
            &format!(
                "/parents/ns/results/r/records?page_size=2&fields={}",
                encode(CLI_LIST_FIELDS)
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["next_page_token"].is_string(),
        "named, so kept: {body}"
    );
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    for (got, want) in records.iter().zip(&created) {
        let mut keys: Vec<&str> = got
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["create_time", "data", "name", "uid", "update_time"],
            "{got}"
        );
        assert_eq!(got["name"], want.name.as_str());
        assert!(got["data"].get("type").is_none(), "{got}");
        let full = value(want);
        assert_eq!(
            base64_json(&got["data"]["value"]),
            json!({"metadata": full["metadata"], "status": full["status"]})
        );
    }
}

async fn json_path_masks_keep_types_and_null_missing_paths(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    seed(&mut client, 2).await;
    let fields = "records.data.value.metadata.name, records.data.value.status.conditions.0.reason,\
                  records.data.value.count,records.data.value.ratio,records.data.value.flags,\
                  records.data.value.missing.deeper,records.data.value.kind.not_an_object,\
                  records.data.value.0,records.data.value.metadata.we\"ird,\
                  records.data.value.status.conditions.-1,records.data.value.status.conditions.+0";
    let page = list(&mut client, 0, "", fields).await.unwrap();
    assert_eq!(page.records.len(), 2);
    for (i, record) in page.records.iter().enumerate() {
        assert_eq!(record.name, "", "not named");
        assert_eq!(
            value(record),
            json!({
                // Only digits index an array (as in gjson), on every backend: PostgreSQL's
                // own paths would read -1 as the last element.
                "status": {"conditions": {"0": {"reason": "Succeeded"}, "-1": null, "+0": null}},
                "count": i,
                "ratio": 1.5,
                "flags": {"on": true, "off": false, "none": null},
                "missing": {"deeper": null},
                "kind": {"not_an_object": null},
                "0": null,
                "metadata": {"name": format!("run-{i}"), "we\"ird": null},
            })
        );
    }
}

async fn gets_take_a_mask(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let created = seed(&mut client, 1).await;
    let name = created[0].name.clone();

    let got = client
        .get_record(with_fields(
            pb::GetRecordRequest { name: name.clone() },
            "name,etag,data.type,data.value.metadata.labels",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.name, name);
    assert_eq!(got.etag, created[0].etag);
    assert_eq!((got.uid.as_str(), got.create_time), ("", None));
    assert_eq!(got.data.as_ref().unwrap().r#type, "tekton.dev/v1.TaskRun");
    assert_eq!(value(&got), json!({"metadata": {"labels": {"app": "x"}}}));

    // The same over REST; a blank mask keeps everything.
    let rest = server.rest();
    let path = "/parents/ns/results/r/records/run-0";
    let (status, body) = rest
        .api("GET", &format!("{path}?fields=uid,data.value.kind"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["uid"], created[0].uid.as_str());
    assert!(body.get("name").is_none(), "{body}");
    assert_eq!(
        base64_json(&body["data"]["value"]),
        json!({"kind": "TaskRun"})
    );
    let (status, whole) = rest.api("GET", &format!("{path}?fields="), None).await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(base64_json(&whole["data"]["value"]), doc(0));
    assert_eq!(whole["etag"], created[0].etag.as_str());

    // GetResult and ListResults: map keys select annotations.
    let mut result = common::result("ns", "annotated", &[("repo", "app"), ("team", "t")]);
    result.summary = Some(common::summary(
        "ns/results/annotated/records/x",
        1,
        Some(7),
    ));
    client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(result),
        })
        .await
        .unwrap();
    let got = client
        .get_result(with_fields(
            pb::GetResultRequest {
                name: "ns/results/annotated".into(),
            },
            "name,annotations.repo,summary.status,no_such_field",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got,
        pb::Result {
            name: "ns/results/annotated".into(),
            annotations: [("repo".to_string(), "app".to_string())].into(),
            summary: Some(pb::RecordSummary {
                status: 1,
                ..Default::default()
            }),
            ..Default::default()
        }
    );
    let (status, body) = rest
        .api("GET", "/parents/ns/results?fields=results.name", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"results": [{"name": "ns/results/r"}, {"name": "ns/results/annotated"}]})
    );
}

async fn bad_masks_are_refused(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    seed(&mut client, 1).await;
    let too_many = (0..65)
        .map(|i| format!("records.f{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let too_long = format!("records.{}", "n".repeat(1100));
    for (fields, needle) in [
        ("records..name", "records..name"),
        ("records.name,", ""),
        (too_many.as_str(), "65 paths"),
        (too_long.as_str(), "bytes"),
        ("records.data.value.status.conditions.#.reason", "\"#\""),
    ] {
        let outcome = list(&mut client, 0, "", fields).await;
        if needle.is_empty() {
            outcome.expect("a trailing comma is an empty entry, skipped as upstream does");
            continue;
        }
        assert_code(outcome, Code::InvalidArgument, needle);
        let (status, body) = server
            .rest()
            .api(
                "GET",
                &format!("/parents/ns/results/r/records?fields={}", encode(fields)),
                None,
            )
            .await;
        assert_eq!((status, &body["code"]), (400, &json!(3)), "{body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
    let outcome = client
        .get_record(with_fields(
            pb::GetRecordRequest {
                name: "ns/results/r/records/run-0".into(),
            },
            "data.value.a..b",
        ))
        .await;
    assert_code(outcome, Code::InvalidArgument, "empty field name");
}

async fn paging_with_a_mask_concatenates_to_the_full_listing(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let created = seed(&mut client, 7).await;
    let fields = "records.name,records.data.value.metadata.name,next_page_token";
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(&mut client, 3, &token, fields).await.unwrap();
        assert!(page.records.len() <= 3);
        seen.extend(page.records);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let names: Vec<&str> = seen.iter().map(|r| r.name.as_str()).collect();
    let want: Vec<&str> = created.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, want);
    for (got, want) in seen.iter().zip(&created) {
        assert_eq!(
            value(got),
            json!({"metadata": {"name": value(want)["metadata"]["name"]}})
        );
    }
}

async fn writes_answer_with_a_mask_and_store_everything(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let record = common::record(
        "ns/results/r",
        "run-0",
        "tekton.dev/v1.TaskRun",
        &doc(0).to_string(),
    );
    let created = client
        .create_record(with_fields(
            pb::CreateRecordRequest {
                parent: "ns/results/r".into(),
                record: Some(record.clone()),
            },
            "name,etag,data.value.metadata.name,data.value.status.conditions.0.reason",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, record.name);
    assert!(!created.etag.is_empty());
    assert_eq!((created.uid.as_str(), created.create_time), ("", None));
    assert_eq!(
        value(&created),
        json!({"metadata": {"name": "run-0"}, "status": {"conditions": {"0": {"reason": "Succeeded"}}}})
    );
    let stored = common::get_record(&mut client, &record.name).await.unwrap();
    assert_eq!(value(&stored), doc(0));
    assert_eq!(stored.etag, created.etag);

    // A bad mask is refused before anything is written.
    let outcome = client
        .create_record(with_fields(
            pb::CreateRecordRequest {
                parent: "ns/results/r".into(),
                record: Some(common::record("ns/results/r", "run-1", "t", "{}")),
            },
            "data.value.*",
        ))
        .await;
    assert_code(outcome, Code::InvalidArgument, "\"*\"");
    assert_code(
        common::get_record(&mut client, "ns/results/r/records/run-1").await,
        Code::NotFound,
        "run-1",
    );

    // REST: PATCH answers the named fields only.
    let (status, body) = server
        .rest()
        .api(
            "PATCH",
            "/parents/ns/results/r?fields=name,annotations",
            Some(&json!({"annotations": {"a": "1"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"name": "ns/results/r", "annotations": {"a": "1"}})
    );
}

/// Runs `sql` on the test's database, beside the server.
fn execute(db: &TestDb, sql: &str) {
    match db.backend() {
        Backend::Sqlite => {
            let path = db.url().strip_prefix("sqlite://").expect("sqlite URL");
            SqliteConnection::establish(path)
                .unwrap()
                .batch_execute(sql)
        }
        Backend::Postgres => PgConnection::establish(db.url())
            .unwrap()
            .batch_execute(sql),
        Backend::Mysql => MysqlConnection::establish(db.url())
            .unwrap()
            .batch_execute(sql),
    }
    .expect(sql);
}

async fn a_mask_without_data_does_not_read_the_document_column(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let created = seed(&mut client, 3).await;
    list(&mut client, 0, "", "").await.expect("readable before");

    // With the document column gone, only reads that name no part of it still work.
    execute(
        server.db(),
        "ALTER TABLE records RENAME COLUMN data TO data_moved",
    );
    let page = list(
        &mut client,
        2,
        "",
        "records.name,records.uid,records.data.type,next_page_token",
    )
    .await
    .expect("a listing without data reads no document");
    assert_eq!(page.records[0].name, created[0].name);
    assert_eq!(page.records[1].uid, created[1].uid);
    assert_eq!(
        page.records[0].data.as_ref().unwrap().r#type,
        "tekton.dev/v1.TaskRun"
    );
    let rest = list(
        &mut client,
        2,
        &page.next_page_token,
        "records.name,next_page_token",
    )
    .await
    .expect("so does its next page");
    assert_eq!(rest.records[0].name, created[2].name);
    client
        .get_record(with_fields(
            pb::GetRecordRequest {
                name: created[0].name.clone(),
            },
            "name,create_time",
        ))
        .await
        .expect("a get without data reads no document");

    // Whoever asks for the document, or part of it, does read the column.
    assert!(list(&mut client, 0, "", "").await.is_err());
    assert!(list(&mut client, 0, "", "records.data.value.kind")
        .await
        .is_err());
}
