//! Group commit: concurrent writes of every kind share one batch, and each caller gets
//! its own typed answer, which matches what is stored; a failing write fails alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use results_actors::model::{
    NewRecord, NewResult, Projection, RecordData, RecordName, RecordPatch, ResultName,
    ResultReplacement, StoredRecord,
};
use results_actors::{
    ActorSettings, Actors, Backend, ErrorCode, SystemClock, TokenSigner, UuidGen,
};
use results_storage::testing::TestDb;

fn new_result(name: &str) -> NewResult {
    NewResult {
        name: ResultName::parse(name).unwrap(),
        annotations: BTreeMap::new(),
        summary: None,
    }
}

fn new_record(name: &str, json: &str) -> NewRecord {
    NewRecord {
        name: RecordName::parse(name).unwrap(),
        data: RecordData::new("t".into(), json.as_bytes().to_vec()).unwrap(),
    }
}

fn patch(name: &str, json: &str) -> RecordPatch {
    RecordPatch::new(
        RecordName::parse(name).unwrap(),
        String::new(),
        RecordData::new(String::new(), json.as_bytes().to_vec()).unwrap(),
    )
}

/// The same Record, the document compared as JSON (PostgreSQL's `jsonb` reformats it).
fn assert_same_record(stored: &StoredRecord, answered: &StoredRecord) {
    let json =
        |r: &StoredRecord| serde_json::from_slice::<serde_json::Value>(&r.data.value).unwrap();
    assert_eq!(
        (
            &stored.name,
            &stored.uid,
            &stored.data.type_,
            stored.create_time,
            stored.update_time
        ),
        (
            &answered.name,
            &answered.uid,
            &answered.data.type_,
            answered.create_time,
            answered.update_time
        ),
    );
    assert_eq!(json(stored), json(answered));
}

async fn a_mixed_batch_answers_each_caller(backend: Backend) {
    let db = TestDb::migrated(backend);
    let settings = ActorSettings {
        // Long enough for every write below to join the first batch.
        batch_wait: Duration::from_millis(300),
        ..ActorSettings::default()
    };
    let actors = Actors::start(
        db.database().clone(),
        None,
        TokenSigner::random(),
        Arc::new(SystemClock),
        Arc::new(UuidGen),
        settings,
    );
    actors
        .create_result(new_result("ns/results/a"))
        .await
        .unwrap();
    let r0 = actors
        .create_record(new_record("ns/results/a/records/r0", "{}"))
        .await
        .unwrap();

    let (created_b, duplicate_a, updated_a, created_r1, updated_r0, missing) = futures::join!(
        actors.create_result(new_result("ns/results/b")),
        actors.create_result(new_result("ns/results/a")),
        actors.update_result(ResultReplacement {
            name: ResultName::parse("ns/results/a").unwrap(),
            etag: None,
            annotations: BTreeMap::from([("k".to_string(), "v".to_string())]),
            summary: None,
        }),
        actors.create_record(new_record("ns/results/a/records/r1", r#"{"n":1}"#)),
        actors.update_record(patch("ns/results/a/records/r0", r#"{"n":0}"#)),
        actors.update_record(patch("ns/results/a/records/gone", r#"{"n":2}"#)),
    );

    let created_b = created_b.unwrap();
    assert_eq!(created_b.name.to_string(), "ns/results/b");
    assert_eq!(
        duplicate_a.unwrap_err().code(),
        ErrorCode::AlreadyExists,
        "a duplicate fails alone"
    );
    let updated_a = updated_a.unwrap();
    assert_eq!(
        updated_a.annotations.get("k").map(String::as_str),
        Some("v")
    );
    let created_r1 = created_r1.unwrap();
    assert_eq!(created_r1.data.value, br#"{"n":1}"#);
    assert_ne!(created_r1.uid, r0.uid);
    let updated_r0 = updated_r0.unwrap();
    assert_eq!(
        (&updated_r0.uid, &updated_r0.data.value[..]),
        (&r0.uid, &br#"{"n":0}"#[..])
    );
    assert_ne!(updated_r0.etag(), r0.etag());
    assert_eq!(missing.unwrap_err().code(), ErrorCode::NotFound);

    // Every answer is what is stored.
    let get_result = |name: &str| actors.get_result(ResultName::parse(name).unwrap());
    let get_record =
        |name: &str| actors.get_record(RecordName::parse(name).unwrap(), Projection::Whole);
    assert_eq!(get_result("ns/results/b").await.unwrap(), created_b);
    assert_eq!(get_result("ns/results/a").await.unwrap(), updated_a);
    assert_same_record(
        &get_record("ns/results/a/records/r1").await.unwrap(),
        &created_r1,
    );
    assert_same_record(
        &get_record("ns/results/a/records/r0").await.unwrap(),
        &updated_r0,
    );
    assert_eq!(
        get_record("ns/results/a/records/gone")
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
}

#[actix_rt::test]
async fn a_mixed_batch_answers_each_caller_on_sqlite() {
    a_mixed_batch_answers_each_caller(Backend::Sqlite).await
}

#[actix_rt::test]
async fn a_mixed_batch_answers_each_caller_on_postgres() {
    a_mixed_batch_answers_each_caller(Backend::Postgres).await
}

#[actix_rt::test]
async fn a_mixed_batch_answers_each_caller_on_mariadb() {
    a_mixed_batch_answers_each_caller(Backend::Mysql).await
}
