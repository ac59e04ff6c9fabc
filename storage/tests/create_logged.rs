//! `create_record_logged`, the writer's path for a CreateRecord committed alone (on
//! PostgreSQL one statement): the Record is stored as `create_record` stores it, exactly one
//! change is logged for it, with the next revision and the Record as stored; a create that
//! fails (no such Result, a name taken) stores nothing, logs nothing and leaves the head
//! where it was — on every backend.

use diesel::sql_types::{BigInt, Nullable, SmallInt, Text};
use diesel::{MysqlConnection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use results_storage::connection::Conn;
use results_storage::model::{
    ChangeKind, ChangedObject, NewRecord, RecordData, RecordName, Timestamp,
};
use results_storage::store::{changes, create_record, create_record_logged, get_record};
use results_storage::testing::TestDb;
use results_storage::{Backend, ErrorCode};

fn new_record(name: &str, document: &str) -> NewRecord {
    NewRecord {
        name: RecordName::parse(name).unwrap(),
        data: RecordData::new("tekton.dev/v1.TaskRun".into(), document.as_bytes().to_vec())
            .unwrap(),
    }
}

/// A database with the Result `ns/results/r`.
fn database(backend: Backend) -> TestDb {
    TestDb::migrated_with_result(backend, "ns/results/r")
}

/// The document as JSON (PostgreSQL's `jsonb` reformats the text).
fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The columns a create derives from the document, besides the document itself.
#[derive(QueryableByName, Debug, PartialEq)]
struct Derived {
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    data_bytes: Option<i64>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    run_state: Option<i16>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    run_reason: Option<i16>,
    #[diesel(sql_type = Nullable<BigInt>)]
    run_start: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    run_end: Option<i64>,
}

/// What the create of Record `name` derived (a fixed test query; the name is bound).
fn derived(conn: &mut Conn, name: &str) -> Derived {
    let query = diesel::sql_query(
        "SELECT data_type, data_bytes, run_state, run_reason, run_start, run_end \
         FROM records WHERE name = ?",
    );
    let pg = diesel::sql_query(
        "SELECT data_type, data_bytes, run_state, run_reason, run_start, run_end \
         FROM records WHERE name = $1",
    );
    match conn {
        Conn::Postgres(c) => pg
            .bind::<Text, _>(name)
            .get_result(&mut **c as &mut PgConnection),
        Conn::Mysql(c) => query
            .bind::<Text, _>(name)
            .get_result(&mut **c as &mut MysqlConnection),
        Conn::Sqlite(c) => query
            .bind::<Text, _>(name)
            .get_result(&mut **c as &mut SqliteConnection),
    }
    .unwrap()
}

fn head(conn: &mut Conn) -> i64 {
    changes::head(conn).unwrap().revision
}

fn logs_exactly_one_change_with_the_record(backend: Backend) {
    let db = database(backend);
    let mut conn = db.database().get().unwrap();
    let before = head(&mut conn);
    let document =
        r#"{"status": {"conditions": [{"reason": "Succeeded"}]}, "n": 1.50e1, "s": "\u00e9"}"#;
    let answered = create_record_logged(
        &mut conn,
        new_record("ns/results/r/records/a", document),
        "uid-a".into(),
        Timestamp::from_nanos(1_000),
    )
    .unwrap();
    assert_eq!(head(&mut conn), before + 1);

    // Stored as create_record stores it, and answered as stored.
    let stored = get_record(&mut conn, &answered.name).unwrap();
    assert_eq!(
        (
            stored.uid.as_str(),
            stored.data.type_.as_str(),
            stored.create_time,
            stored.update_time
        ),
        (
            "uid-a",
            "tekton.dev/v1.TaskRun",
            Timestamp::from_nanos(1_000),
            Timestamp::from_nanos(1_000)
        )
    );
    assert_eq!(json(&stored.data.value), json(document.as_bytes()));
    assert_eq!(json(&answered.data.value), json(document.as_bytes()));

    // One change, at the new head, about the Record as stored.
    let logged = changes::read(&mut conn, before, i64::MAX, 10).unwrap();
    assert_eq!(logged.len(), 1, "{logged:?}");
    let change = &logged[0];
    assert_eq!(
        (change.revision, change.kind),
        (before + 1, ChangeKind::Added)
    );
    assert_eq!(change.time, Timestamp::from_nanos(1_000));
    let ChangedObject::Record(object) = &change.object else {
        panic!("a Record's change, got {:?}", change.object)
    };
    assert_eq!(
        (
            &object.name,
            &object.uid,
            object.create_time,
            object.update_time
        ),
        (
            &stored.name,
            &stored.uid,
            stored.create_time,
            stored.update_time
        )
    );
    assert_eq!(json(&object.data.value), json(document.as_bytes()));

    // Everything derived from the document is what create_record derives.
    let document = r#"{"status": {"startTime": "2026-12-06T10:00:00Z", "completionTime": "2026-12-06T10:01:30.5Z", "conditions": [{"reason": "Failed"}]}}"#;
    create_record_logged(
        &mut conn,
        new_record("ns/results/r/records/logged", document),
        "uid-logged".into(),
        Timestamp::from_nanos(1_500),
    )
    .unwrap();
    create_record(
        &mut conn,
        new_record("ns/results/r/records/plain", document),
        "uid-plain".into(),
        Timestamp::from_nanos(1_600),
    )
    .unwrap();
    let logged = derived(&mut conn, "logged");
    assert_eq!(logged, derived(&mut conn, "plain"));
    assert_eq!(logged.run_state, Some(1), "{logged:?}");
    assert!(logged.run_start.is_some() && logged.run_end.is_some());
    let before = head(&mut conn) - 1;

    // A Record without a document is stored and logged without one.
    let bare = NewRecord {
        name: RecordName::parse("ns/results/r/records/bare").unwrap(),
        data: RecordData::new("t".into(), Vec::new()).unwrap(),
    };
    create_record_logged(
        &mut conn,
        bare,
        "uid-bare".into(),
        Timestamp::from_nanos(2_000),
    )
    .unwrap();
    let stored = get_record(
        &mut conn,
        &RecordName::parse("ns/results/r/records/bare").unwrap(),
    )
    .unwrap();
    assert!(stored.data.value.is_empty());
    let logged = changes::read(&mut conn, before + 1, i64::MAX, 10).unwrap();
    assert_eq!(logged.len(), 1);
    let ChangedObject::Record(object) = &logged[0].object else {
        panic!("a Record's change")
    };
    assert!(object.data.value.is_empty());
    assert_eq!(head(&mut conn), before + 2);
}

fn a_failed_create_stores_and_logs_nothing(backend: Backend) {
    let db = database(backend);
    let mut conn = db.database().get().unwrap();
    create_record(
        &mut conn,
        new_record("ns/results/r/records/taken", "{}"),
        "uid-taken".into(),
        Timestamp::from_nanos(10),
    )
    .unwrap();
    let before = head(&mut conn);

    // No such Result.
    let error = create_record_logged(
        &mut conn,
        new_record("ns/results/missing/records/a", "{}"),
        "uid-1".into(),
        Timestamp::from_nanos(20),
    )
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");

    // The name is taken: the stored Record stays as it was.
    let error = create_record_logged(
        &mut conn,
        new_record("ns/results/r/records/taken", r#"{"other": true}"#),
        "uid-2".into(),
        Timestamp::from_nanos(30),
    )
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::AlreadyExists, "{error}");
    let stored = get_record(
        &mut conn,
        &RecordName::parse("ns/results/r/records/taken").unwrap(),
    )
    .unwrap();
    assert_eq!(stored.uid, "uid-taken");
    assert_eq!(json(&stored.data.value), json(b"{}"));

    assert_eq!(head(&mut conn), before);
    assert!(changes::read(&mut conn, before, i64::MAX, 10)
        .unwrap()
        .is_empty());

    // The connection is usable afterwards (no transaction left open by the failures).
    create_record_logged(
        &mut conn,
        new_record("ns/results/r/records/after", "{}"),
        "uid-3".into(),
        Timestamp::from_nanos(40),
    )
    .unwrap();
    assert_eq!(head(&mut conn), before + 1);
}

results_storage::on_every_backend!(
    logs_exactly_one_change_with_the_record,
    a_failed_create_stores_and_logs_nothing,
);
