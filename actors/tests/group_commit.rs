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

/// The actors on `db`, holding each batch open long enough for every write a test sends at
/// once to join it.
fn start(db: &TestDb) -> Actors {
    let settings = ActorSettings {
        batch_wait: Duration::from_millis(300),
        ..ActorSettings::default()
    };
    Actors::start(
        db.database().clone(),
        None,
        TokenSigner::random(),
        Arc::new(SystemClock),
        Arc::new(UuidGen),
        settings,
    )
}

async fn a_mixed_batch_answers_each_caller(backend: Backend) {
    let db = TestDb::migrated(backend);
    let actors = start(&db);
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

/// A batch of Record creates: every caller gets its own Record (name, document, a uid of
/// its own) exactly as stored, each create is logged once, and when one create of the
/// batch fails (a name taken before, twice in the batch, or a missing Result) it fails
/// alone and the others are stored.
async fn a_run_of_record_creates_answers_each_caller(backend: Backend) {
    let db = TestDb::migrated(backend);
    let actors = start(&db);
    for name in ["ns/results/a", "ns/results/b", "other/results/a"] {
        actors.create_result(new_result(name)).await.unwrap();
    }
    let taken = actors
        .create_record(new_record("ns/results/a/records/taken", "{}"))
        .await
        .unwrap();
    let parents = ["ns/results/a", "ns/results/b", "other/results/a"];
    let names: Vec<String> = (0..24)
        .map(|i| format!("{}/records/r{i}", parents[i % 3]))
        .collect();

    // All good: one run.
    let answers = futures::future::join_all(
        names
            .iter()
            .enumerate()
            .map(|(i, name)| actors.create_record(new_record(name, &format!(r#"{{"i":{i}}}"#)))),
    )
    .await;
    let mut uids = std::collections::BTreeSet::new();
    for (i, (name, answer)) in names.iter().zip(answers).enumerate() {
        let answer = answer.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(answer.name.to_string(), *name);
        assert_eq!(answer.data.value, format!(r#"{{"i":{i}}}"#).as_bytes());
        assert!(uids.insert(answer.uid.clone()), "uids are unique");
        let stored = actors
            .get_record(RecordName::parse(name).unwrap(), Projection::Whole)
            .await
            .unwrap();
        assert_same_record(&stored, &answer);
    }

    // A run with failures in it: each fails alone.
    let (ok1, dup_stored, twice_1, twice_2, no_result, ok2) = futures::join!(
        actors.create_record(new_record("ns/results/b/records/fresh1", r#"{"f":1}"#)),
        actors.create_record(new_record("ns/results/a/records/taken", r#"{"f":2}"#)),
        actors.create_record(new_record("ns/results/b/records/twice", r#"{"f":3}"#)),
        actors.create_record(new_record("ns/results/b/records/twice", r#"{"f":4}"#)),
        actors.create_record(new_record("ns/results/nope/records/x", r#"{"f":5}"#)),
        actors.create_record(new_record("other/results/a/records/fresh2", r#"{"f":6}"#)),
    );
    let ok1 = ok1.unwrap();
    let ok2 = ok2.unwrap();
    assert_eq!(dup_stored.unwrap_err().code(), ErrorCode::AlreadyExists);
    assert_eq!(no_result.unwrap_err().code(), ErrorCode::NotFound);
    let twice = match (twice_1, twice_2) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => {
            assert_eq!(lost.code(), ErrorCode::AlreadyExists);
            won
        }
        (a, b) => panic!("exactly one of two creates of one name wins: {a:?} / {b:?}"),
    };
    let get = |name: &str| actors.get_record(RecordName::parse(name).unwrap(), Projection::Whole);
    assert_same_record(&get("ns/results/b/records/fresh1").await.unwrap(), &ok1);
    assert_same_record(&get("other/results/a/records/fresh2").await.unwrap(), &ok2);
    assert_same_record(&get("ns/results/b/records/twice").await.unwrap(), &twice);
    assert_same_record(&get("ns/results/a/records/taken").await.unwrap(), &taken);

    // Each stored create logged exactly once: the 3 Results, `taken`, the 24, the 3 of
    // the second run.
    let changes = db
        .database()
        .run(|c| results_storage::store::changes::read(c, 0, i64::MAX, 10_000))
        .unwrap();
    assert_eq!(
        changes.len(),
        3 + 1 + 24 + 3,
        "one change per stored create"
    );
}

#[actix_rt::test]
async fn a_run_of_record_creates_answers_each_caller_on_sqlite() {
    a_run_of_record_creates_answers_each_caller(Backend::Sqlite).await
}

#[actix_rt::test]
async fn a_run_of_record_creates_answers_each_caller_on_postgres() {
    a_run_of_record_creates_answers_each_caller(Backend::Postgres).await
}

#[actix_rt::test]
async fn a_run_of_record_creates_answers_each_caller_on_mariadb() {
    a_run_of_record_creates_answers_each_caller(Backend::Mysql).await
}
