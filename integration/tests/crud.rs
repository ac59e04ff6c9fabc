//! Create, read, update and delete of Results and Records over gRPC, on every backend.

mod common;

use common::*;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use tonic::Code;

integration::backend_tests!(
    result_lifecycle,
    record_lifecycle,
    update_result_replaces_annotations_and_summary,
    update_record_merges_and_never_renames,
    duplicates_and_missing_objects,
    stale_etag_is_rejected_and_changes_nothing,
    deleting_a_result_deletes_its_records,
    wildcards_in_list_parents,
);

async fn result_lifecycle(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let mut input = result("ns", "run-1", &[("app", "web")]);
    input.summary = Some(summary(
        "ns/results/run-1/records/pr",
        1,
        Some(1_700_000_000),
    ));
    input.uid = "client-chosen".into();
    input.etag = "ignored".into();
    let created = client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(input),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(created.name, "ns/results/run-1");
    assert_ne!(
        created.uid, "client-chosen",
        "uid is assigned by the server"
    );
    assert_eq!(created.id, created.uid);
    assert_eq!(created.create_time, created.update_time);
    assert_eq!(created.created_time, created.create_time);
    assert_eq!(created.updated_time, created.update_time);
    assert_eq!(
        created.etag,
        format!("{}-{}", created.uid, nanos(&created.update_time))
    );
    assert_eq!(created.annotations["app"], "web");
    let s = created.summary.clone().unwrap();
    assert_eq!(
        (s.status, s.record.as_str()),
        (1, "ns/results/run-1/records/pr")
    );
    assert_eq!(s.start_time.unwrap().seconds, 1_700_000_000);

    let got = get_result(&mut client, "ns/results/run-1").await.unwrap();
    assert_eq!(
        got, created,
        "a read returns exactly what the create returned"
    );

    client
        .delete_result(pb::DeleteResultRequest {
            name: "ns/results/run-1".into(),
        })
        .await
        .unwrap();
    assert_code(
        get_result(&mut client, "ns/results/run-1").await,
        Code::NotFound,
        "ns/results/run-1",
    );
    assert_code(
        client
            .delete_result(pb::DeleteResultRequest {
                name: "ns/results/run-1".into(),
            })
            .await,
        Code::NotFound,
        "not found",
    );
}

async fn record_lifecycle(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let doc = r#"{"kind":"TaskRun","metadata":{"name":"build","labels":{"é":"ü"}},"status":{"conditions":[{"reason":"Succeeded"}]}}"#;
    let created = create_record(&mut client, "ns/results/r", "tr-1", doc).await;
    assert_eq!(created.name, "ns/results/r/records/tr-1");
    assert_eq!(
        created.etag,
        format!("{}-{}", created.uid, nanos(&created.update_time))
    );
    let data = created.data.clone().unwrap();
    assert_eq!(data.r#type, "tekton.dev/v1.TaskRun");

    let got = get_record(&mut client, &created.name).await.unwrap();
    assert_eq!(got.etag, created.etag);
    let stored: serde_json::Value = serde_json::from_slice(&got.data.unwrap().value).unwrap();
    assert_eq!(
        stored,
        serde_json::from_str::<serde_json::Value>(doc).unwrap()
    );

    let listed = client
        .list_records(pb::ListRecordsRequest {
            parent: "ns/results/r".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.records.len(), 1);
    assert!(listed.next_page_token.is_empty());

    client
        .delete_record(pb::DeleteRecordRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap();
    assert_code(
        get_record(&mut client, &created.name).await,
        Code::NotFound,
        "ns/results/r/records/tr-1",
    );
    assert_code(
        client
            .delete_record(pb::DeleteRecordRequest { name: created.name })
            .await,
        Code::NotFound,
        "not found",
    );
    // The Result itself is untouched by deleting its Record.
    get_result(&mut client, "ns/results/r").await.unwrap();
}

async fn update_result_replaces_annotations_and_summary(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let mut input = result("ns", "r", &[("a", "1"), ("b", "2")]);
    input.summary = Some(summary("ns/results/r/records/x", 2, None));
    let created = client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(input),
        })
        .await
        .unwrap()
        .into_inner();

    let updated = client
        .update_result(pb::UpdateResultRequest {
            name: "ns/results/r".into(),
            result: Some(result("ns", "r", &[("c", "3")])),
            etag: created.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        updated.annotations.len(),
        1,
        "annotations are replaced: {:?}",
        updated.annotations
    );
    assert_eq!(updated.annotations["c"], "3");
    assert_eq!(updated.summary, None, "an omitted summary is cleared");
    assert_eq!(updated.uid, created.uid);
    assert_eq!(updated.create_time, created.create_time);
    assert!(nanos(&updated.update_time) > nanos(&created.update_time));
    assert_ne!(updated.etag, created.etag);
    assert_eq!(
        updated.etag,
        format!("{}-{}", updated.uid, nanos(&updated.update_time))
    );

    let got = get_result(&mut client, "ns/results/r").await.unwrap();
    assert_eq!(got, updated);

    // An empty etag skips the check; a different name in the body is refused.
    client
        .update_result(pb::UpdateResultRequest {
            name: "ns/results/r".into(),
            result: Some(pb::Result::default()),
            etag: String::new(),
        })
        .await
        .unwrap();
    assert_code(
        client
            .update_result(pb::UpdateResultRequest {
                name: "ns/results/r".into(),
                result: Some(result("ns", "other", &[])),
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "cannot be renamed",
    );
}

async fn update_record_merges_and_never_renames(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let created = create_record(&mut client, "ns/results/r", "x", r#"{"v":1}"#).await;

    // Only the type: the value stays.
    let mut patch = pb::Record {
        name: created.name.clone(),
        ..Default::default()
    };
    patch.data = Some(pb::Any {
        r#type: "tekton.dev/v1.PipelineRun".into(),
        value: vec![],
    });
    let updated = client
        .update_record(pb::UpdateRecordRequest {
            record: Some(patch),
            update_mask: None,
            etag: created.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let data = updated.data.clone().unwrap();
    assert_eq!(data.r#type, "tekton.dev/v1.PipelineRun");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data.value).unwrap(),
        serde_json::json!({"v": 1})
    );
    assert_eq!(updated.name, created.name);
    assert!(nanos(&updated.update_time) > nanos(&created.update_time));

    // Only the value: the type stays. Nothing at all: nothing is cleared.
    let mut patch = pb::Record {
        name: created.name.clone(),
        ..Default::default()
    };
    patch.data = Some(pb::Any {
        r#type: String::new(),
        value: br#"{"v":2}"#.to_vec(),
    });
    client
        .update_record(pb::UpdateRecordRequest {
            record: Some(patch),
            update_mask: None,
            etag: String::new(),
        })
        .await
        .unwrap();
    let patch = pb::Record {
        name: created.name.clone(),
        ..Default::default()
    };
    client
        .update_record(pb::UpdateRecordRequest {
            record: Some(patch),
            update_mask: None,
            etag: String::new(),
        })
        .await
        .unwrap();
    let got = get_record(&mut client, &created.name).await.unwrap();
    let data = got.data.unwrap();
    assert_eq!(data.r#type, "tekton.dev/v1.PipelineRun");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data.value).unwrap(),
        serde_json::json!({"v": 2})
    );

    // Updating a record that does not exist is NotFound, not a create.
    let ghost = record("ns/results/r", "ghost", "t", "{}");
    assert_code(
        client
            .update_record(pb::UpdateRecordRequest {
                record: Some(ghost),
                update_mask: None,
                etag: String::new(),
            })
            .await,
        Code::NotFound,
        "ghost",
    );
}

async fn duplicates_and_missing_objects(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    assert_code(
        client
            .create_result(pb::CreateResultRequest {
                parent: "ns".into(),
                result: Some(result("ns", "r", &[])),
            })
            .await,
        Code::AlreadyExists,
        "ns/results/r",
    );
    // The same short name in another namespace is a different Result.
    create_result(&mut client, "other", "r").await;

    create_record(&mut client, "ns/results/r", "x", "{}").await;
    assert_code(
        client
            .create_record(pb::CreateRecordRequest {
                parent: "ns/results/r".into(),
                record: Some(record("ns/results/r", "x", "t", "{}")),
            })
            .await,
        Code::AlreadyExists,
        "ns/results/r/records/x",
    );
    assert_code(
        client
            .create_record(pb::CreateRecordRequest {
                parent: "ns/results/missing".into(),
                record: Some(record("ns/results/missing", "x", "t", "{}")),
            })
            .await,
        Code::NotFound,
        "ns/results/missing",
    );
    assert_code(
        get_result(&mut client, "ns/results/nope").await,
        Code::NotFound,
        "ns/results/nope",
    );
    assert_code(
        client
            .update_result(pb::UpdateResultRequest {
                name: "ns/results/nope".into(),
                result: None,
                etag: String::new(),
            })
            .await,
        Code::NotFound,
        "ns/results/nope",
    );
    // Listing the Records of a Result that does not exist is an empty list.
    let listed = client
        .list_records(pb::ListRecordsRequest {
            parent: "ns/results/nope".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.records.is_empty() && listed.next_page_token.is_empty());
}

async fn stale_etag_is_rejected_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let r = create_result(&mut client, "ns", "r").await;
    let rec = create_record(&mut client, "ns/results/r", "x", r#"{"v":1}"#).await;

    let first = client
        .update_result(pb::UpdateResultRequest {
            name: r.name.clone(),
            result: Some(result("ns", "r", &[("k", "new")])),
            etag: r.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_code(
        client
            .update_result(pb::UpdateResultRequest {
                name: r.name.clone(),
                result: Some(result("ns", "r", &[("k", "stale")])),
                etag: r.etag.clone(),
            })
            .await,
        Code::FailedPrecondition,
        "etag mismatch",
    );
    let got = get_result(&mut client, &r.name).await.unwrap();
    assert_eq!(got, first);

    let mut patch = record("ns/results/r", "x", "", r#"{"v":2}"#);
    patch.data.as_mut().unwrap().r#type.clear();
    assert_code(
        client
            .update_record(pb::UpdateRecordRequest {
                record: Some(patch),
                update_mask: None,
                etag: "bogus-1".into(),
            })
            .await,
        Code::FailedPrecondition,
        "etag mismatch",
    );
    let got = get_record(&mut client, &rec.name).await.unwrap();
    assert_same_record(&got, &rec);
}

async fn deleting_a_result_deletes_its_records(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    create_result(&mut client, "ns", "keep").await;
    for name in ["a", "b", "c"] {
        create_record(&mut client, "ns/results/r", name, "{}").await;
    }
    create_record(&mut client, "ns/results/keep", "a", "{}").await;

    client
        .delete_result(pb::DeleteResultRequest {
            name: "ns/results/r".into(),
        })
        .await
        .unwrap();
    assert_code(
        get_record(&mut client, "ns/results/r/records/a").await,
        Code::NotFound,
        "not found",
    );
    // Re-creating the Result does not resurrect the old Records.
    create_result(&mut client, "ns", "r").await;
    let all = client
        .list_records(pb::ListRecordsRequest {
            parent: "ns/results/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = all.records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ns/results/keep/records/a"]);
}

async fn wildcards_in_list_parents(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    for (ns, r) in [("a", "r1"), ("a", "r2"), ("b", "r1")] {
        create_result(&mut client, ns, r).await;
        create_record(&mut client, &format!("{ns}/results/{r}"), "x", "{}").await;
    }
    let results = |parent: &str| pb::ListResultsRequest {
        parent: parent.into(),
        ..Default::default()
    };
    let names = |rs: Vec<pb::Result>| rs.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let all = client
        .list_results(results("-"))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(names(all), ["a/results/r1", "a/results/r2", "b/results/r1"]);
    let a = client
        .list_results(results("a"))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(names(a), ["a/results/r1", "a/results/r2"]);

    let records = |parent: &str| pb::ListRecordsRequest {
        parent: parent.into(),
        ..Default::default()
    };
    let rnames = |rs: Vec<pb::Record>| rs.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let cases: [(&str, &[&str]); 4] = [
        (
            "-/results/-",
            &[
                "a/results/r1/records/x",
                "a/results/r2/records/x",
                "b/results/r1/records/x",
            ],
        ),
        (
            "a/results/-",
            &["a/results/r1/records/x", "a/results/r2/records/x"],
        ),
        (
            "-/results/r1",
            &["a/results/r1/records/x", "b/results/r1/records/x"],
        ),
        ("b/results/r1", &["b/results/r1/records/x"]),
    ];
    for (parent, expected) in cases {
        let got = client
            .list_records(records(parent))
            .await
            .unwrap()
            .into_inner()
            .records;
        assert_eq!(rnames(got), expected, "{parent}");
    }
    // In Get, '-' is a literal name.
    assert_code(
        get_result(&mut client, "a/results/-").await,
        Code::NotFound,
        "a/results/-",
    );
}
