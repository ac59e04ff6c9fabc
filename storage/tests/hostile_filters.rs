//! Filters and read masks that one backend's database would refuse are refused alike on
//! every backend before any query (regular expressions PostgreSQL cannot compile, list
//! indexes beyond its `integer`, paths longer than its functions take), and a value the
//! database refuses to compute while running a filter on a stored Record (arithmetic
//! overflowing a double) answers INVALID_ARGUMENT, never INTERNAL or an empty page.

use results_storage::filter::{Environment, Filter};
use results_storage::model::{
    NewRecord, Projection, RecordData, RecordName, RecordScope, StoredRecord, Timestamp,
    MAX_PROJECTION_STEPS,
};
use results_storage::page::TokenSigner;
use results_storage::store::{
    create_record, list_records, list_records_projected, record_list_summary,
    record_list_summary_folded, ListRequest,
};
use results_storage::summary::SummarySpec;
use results_storage::testing::TestDb;
use results_storage::{Backend, ErrorCode, Result};

const TASK_RUN: &str = "tekton.dev/v1.TaskRun";

/// A database with the Result `ns/results/r` holding a Record `rec-<i>` per document.
fn seeded(backend: Backend, documents: &[&str]) -> TestDb {
    let db = TestDb::migrated_with_result(backend, "ns/results/r");
    let mut conn = db.database().get().unwrap();
    for (i, document) in documents.iter().enumerate() {
        let record = NewRecord {
            name: RecordName::parse(&format!("ns/results/r/records/rec-{i}")).unwrap(),
            data: RecordData {
                type_: TASK_RUN.into(),
                value: document.as_bytes().to_vec(),
            },
        };
        let now = Timestamp::from_nanos(1_000 + i as i64);
        create_record(&mut conn, record, format!("uid-{i:02}"), now).unwrap();
    }
    db
}

/// The names of the Records `filter` lists (one page holds them all).
fn list(db: &TestDb, filter: &str) -> Result<Vec<String>> {
    let mut conn = db.database().get().unwrap();
    let page = list_records(
        &mut conn,
        &TokenSigner::new(b"k".to_vec()),
        &request(filter),
    )?;
    assert!(page.next_page_token.is_empty());
    Ok(names(&page.items))
}

fn request(filter: &str) -> ListRequest<RecordScope> {
    ListRequest {
        scope: RecordScope::parse("ns/results/-").unwrap(),
        filter: filter.into(),
        page_size: 100,
        page_token: String::new(),
        order_by: String::new(),
    }
}

fn names(records: &[StoredRecord]) -> Vec<String> {
    records.iter().map(|r| r.name.to_string()).collect()
}

/// What the in-memory evaluation of `filter` selects among every stored Record.
fn in_memory(db: &TestDb, filter: &str) -> Vec<String> {
    let all = {
        let mut conn = db.database().get().unwrap();
        list_records(&mut conn, &TokenSigner::new(b"k".to_vec()), &request("")).unwrap()
    };
    let compiled = Filter::compile(filter, Environment::Records).unwrap();
    names(
        &all.items
            .into_iter()
            .filter(|r| compiled.matches_record(r))
            .collect::<Vec<_>>(),
    )
}

/// Asserts that `result` is an INVALID_ARGUMENT whose message holds `needle`.
fn assert_invalid<T: std::fmt::Debug>(result: Result<T>, needle: &str, what: &str) {
    let error = result.expect_err(what);
    assert_eq!(error.code(), ErrorCode::InvalidArgument, "{what}: {error}");
    assert!(
        error.to_string().contains(needle),
        "{what}: {error:?} lacks {needle:?}"
    );
}

/// Patterns PostgreSQL cannot compile (a repetition of a repetition or of an assertion,
/// counts over 255) are refused on every backend; the grouped forms every engine reads
/// alike run, and match what the in-memory evaluation matches.
fn regex_repetitions_are_checked_before_the_database(backend: Backend) {
    let db = seeded(
        backend,
        &[
            r#"{"s":"x"}"#,
            r#"{"s":"aaaaaa"}"#,
            r#"{"s":""}"#,
            r#"{"s":"ab"}"#,
        ],
    );
    // One of each kind the pattern check refuses (its unit tests list them all): the check
    // is made before any SQL, so it answers alike on every backend.
    for (pattern, needle) in [
        ("^*", "not ^ or $"),
        ("a*+", "cannot directly follow another one"),
        ("a{2}{3}", "cannot directly follow another one"),
        ("(b|a{0,300})", "the repetition count 300 is too large"),
    ] {
        let filter = format!("data.s.matches('{pattern}')");
        assert_invalid(list(&db, &filter), needle, &filter);
        assert_invalid(list(&db, &filter), "matches()", &filter);
    }
    for pattern in [
        "(a*)*",
        "(a+)?",
        "()*",
        "(^)*",
        "(a|)*",
        "^(a{2}){3}$",
        "a{255}",
        "^a{0,255}$",
        "^(?:a*)*b",
    ] {
        let filter = format!("data.s.matches('{pattern}')");
        assert_eq!(
            list(&db, &filter).unwrap(),
            in_memory(&db, &filter),
            "{filter}"
        );
    }
    assert_eq!(
        list(&db, "data.s.matches('^(a{2}){3}$')").unwrap(),
        ["ns/results/r/records/rec-1"]
    );
    // Too large for one engine or another (PostgreSQL: "regular expression is too
    // complex"; MariaDB: "regular expression is too large"): refused when the filter is
    // compiled, or by the database while the listing runs, never INTERNAL.
    for pattern in [
        "((a?){255}){8}",
        "((a|b|c|d|e){255}){19}",
        "(.*.*.*.*.*.*.*.*.*.*){255}",
    ] {
        let filter = format!("data.s.matches('{pattern}')");
        match list(&db, &filter) {
            Ok(names) => assert_eq!(names, in_memory(&db, &filter), "{filter}"),
            Err(e) => assert_eq!(e.code(), ErrorCode::InvalidArgument, "{filter}: {e}"),
        }
    }
}

/// List indexes up to i32::MAX run everywhere (PostgreSQL's `->` takes an integer);
/// larger ones are refused alike, before the database.
fn list_indexes_are_bounded_alike(backend: Backend) {
    let db = seeded(backend, &[r#"{"list":[1,2,3]}"#]);
    assert_eq!(
        list(&db, "data.list[2] == 3").unwrap(),
        ["ns/results/r/records/rec-0"]
    );
    assert!(list(&db, "data.list[2147483647] == 1").unwrap().is_empty());
    for filter in [
        "data.list[2147483648] == 1",
        "data.list[4294967295] == 1",
        "data.list[4294967296] == 1",
        "data['list'][3000000000] > 0",
    ] {
        assert_invalid(
            list(&db, filter),
            "is out of range; indexes go from 0 to 2147483647",
            filter,
        );
    }
}

/// A read mask's path into the document holds at most MAX_PROJECTION_STEPS keys: one
/// that long reads the same on every backend; a longer one cannot be made. A filter's
/// path is bounded by the filter's nesting, and the deepest runs everywhere.
fn long_paths_are_bounded_alike(backend: Backend) {
    let depth = 30; // MAX_JSON_DEPTH
    let nested = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let db = seeded(backend, &[&nested]);
    let signer = TokenSigner::new(b"k".to_vec());
    let mut conn = db.database().get().unwrap();
    for steps in [depth, MAX_PROJECTION_STEPS] {
        let projection = Projection::paths(vec![vec!["a".to_owned(); steps]]).unwrap();
        let page = list_records_projected(&mut conn, &signer, &request(""), &projection).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&page.items[0].data.value).unwrap();
        let leaf = if steps == depth {
            serde_json::json!(1)
        } else {
            serde_json::Value::Null
        };
        let expected = (0..steps).fold(leaf, |inner, _| serde_json::json!({ "a": inner }));
        assert_eq!(value, expected, "{steps} steps");
    }
    for steps in [MAX_PROJECTION_STEPS + 1, 100] {
        assert_invalid(
            Projection::paths(vec![vec!["a".to_owned(); steps]]),
            &format!("has {steps} steps; at most {MAX_PROJECTION_STEPS} are accepted"),
            "a long projection path",
        );
    }
    drop(conn);
    let path = |keys: usize| format!("data{}", ".a".repeat(keys));
    assert_eq!(
        list(&db, &format!("{} == 1", path(depth))).unwrap(),
        ["ns/results/r/records/rec-0"]
    );
    let deepest = (depth..200)
        .take_while(|keys| {
            Filter::compile(&format!("{} == 1", path(*keys)), Environment::Records).is_ok()
        })
        .last()
        .unwrap();
    for filter in [
        format!("{} == 1", path(deepest)),
        format!("has({})", path(deepest)),
        format!("{} + 1.0 > 1.0", path(deepest - 2)),
    ] {
        assert_eq!(
            list(&db, &filter).unwrap(),
            in_memory(&db, &filter),
            "{filter}"
        );
    }
    assert_invalid(
        list(&db, &format!("{} == 1", path(100))),
        "nests deeper than",
        "a filter path of 100 keys",
    );
}

/// Arithmetic on stored numbers overflowing or underflowing a double: SQLite and the
/// in-memory evaluation go on with infinity or zero; PostgreSQL (and MariaDB, on
/// overflow) refuse to compute it. Every answer is either that of the in-memory
/// evaluation or INVALID_ARGUMENT naming the database's reason, on listings and
/// summaries alike, and nothing stored changes.
fn overflowing_arithmetic_never_answers_internal(backend: Backend) {
    let db = seeded(
        backend,
        &[
            r#"{"big":1e300,"tiny":1e-300,"max":1.7e308}"#,
            r#"{"big":2,"tiny":0.5,"max":1}"#,
        ],
    );
    let before = list(&db, "").unwrap();
    let spec = || SummarySpec::parse("total", "", "").unwrap();
    let scope = RecordScope::parse("ns/results/-").unwrap();
    for (filter, overflows) in [
        ("data.big * data.big > 1.0", true),
        ("data.max + data.max > 1.0", true),
        ("data.big / data.tiny > 1.0", true),
        ("-data.max - data.max < 1.0", true),
        ("data.tiny * data.tiny < 1.0", false),
    ] {
        let listed = list(&db, filter).map(|_| ());
        let mut conn = db.database().get().unwrap();
        let answers = [
            ("list", listed),
            (
                "summary",
                record_list_summary(&mut conn, &scope, filter, spec()).map(|_| ()),
            ),
            (
                "folded summary",
                record_list_summary_folded(&mut conn, &scope, filter, spec()).map(|_| ()),
            ),
        ];
        drop(conn);
        let refuses = match backend {
            Backend::Postgres => true,
            Backend::Mysql => overflows,
            Backend::Sqlite => false,
        };
        for (what, answer) in answers {
            let what = format!("{what} of {filter}");
            if refuses {
                assert_invalid(
                    answer,
                    "the filter could not be evaluated on a stored Record: ",
                    &what,
                );
                assert_invalid(list(&db, filter), "out of range", &what);
            } else {
                answer.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(list(&db, filter).unwrap(), in_memory(&db, filter), "{what}");
            }
        }
    }
    assert_eq!(list(&db, "").unwrap(), before);
    assert_eq!(
        list(&db, "data.big * data.tiny > 0.5").unwrap(),
        before,
        "in range, the same filter runs on every backend"
    );
}

results_storage::on_every_backend!(
    regex_repetitions_are_checked_before_the_database,
    list_indexes_are_bounded_alike,
    long_paths_are_bounded_alike,
    overflowing_arithmetic_never_answers_internal,
);
