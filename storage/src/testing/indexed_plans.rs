//! Indexed JSON paths (`filter::indexed`, `json_indexes`) on every backend, over the
//! plan-shape fixture: with the paths configured, equality filters on them walk the
//! path's index (first and continued page) instead of filtering the scope's order; the
//! rows are those listed without the index; and the indexes follow the configuration
//! (made once, replaced when a slot's path changes, dropped when it goes).

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::*;
use crate::filter::IndexedPaths;
use crate::{Database, PoolSettings};

const LABEL: &str = "data.metadata.labels['tekton.dev/pipeline']";
const REASON: &str = "data.status.conditions[0].reason";
const KIND: &str = "data.kind";

const LABEL_IS_P7: &str = r#"data.metadata.labels["tekton.dev/pipeline"] == "p-7""#;

/// A pool on `db` whose migrations make the indexes of `paths`.
fn database(db: &TestDb, paths: &[&str]) -> Database {
    let settings = PoolSettings {
        indexed_json_paths: IndexedPaths::parse(paths).expect("valid paths"),
        ..PoolSettings::default()
    };
    let database = Database::connect(db.url(), settings).expect("connect");
    database.migrate().expect("migrate");
    database
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// What the database holds for the slots: indexes, generated columns or functions, and
/// the recorded `(slot, path)` rows, each sorted.
fn slots(conn: &mut Conn) -> (Vec<String>, Vec<String>, Vec<(i32, String)>) {
    let (indexes, helpers) = match conn.backend() {
        Backend::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'records_jp_%'",
            "SELECT name FROM pragma_table_xinfo('records') WHERE name LIKE 'jp_%'",
        ),
        Backend::Postgres => (
            "SELECT CAST(indexname AS text) AS name FROM pg_indexes \
             WHERE tablename = 'records' AND indexname LIKE 'records_jp_%'",
            "SELECT CAST(proname AS text) AS name FROM pg_proc WHERE proname LIKE 'records_jp_%'",
        ),
        Backend::Mysql => (
            "SELECT DISTINCT index_name AS name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = 'records' \
             AND index_name LIKE 'records_jp_%'",
            "SELECT column_name AS name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'records' \
             AND column_name LIKE 'jp_%'",
        ),
    };
    let mut names = |sql: &str| {
        let mut rows: Vec<Name> =
            with_conn!(&mut *conn, |c| diesel::sql_query(sql).load(c)).expect("catalog");
        rows.sort();
        rows.into_iter().map(|n| n.name).collect::<Vec<_>>()
    };
    let (indexes, helpers) = (names(indexes), names(helpers));
    let mut recorded: Vec<(i32, String)> = with_conn!(&mut *conn, |c| {
        crate::schema::json_path_indexes::table
            .select((
                crate::schema::json_path_indexes::slot,
                crate::schema::json_path_indexes::path,
            ))
            .load(c)
    })
    .expect("recorded slots");
    recorded.sort();
    (indexes, helpers, recorded)
}

/// The uids a listing returns over all its pages.
fn all_uids(conn: &mut Conn, scope: &str, filter: &str) -> Vec<String> {
    let signer = TokenSigner::new(b"indexed".to_vec());
    let (mut uids, mut token) = (Vec::new(), String::new());
    loop {
        let request = request(
            RecordScope::parse(scope).expect("scope"),
            filter,
            "",
            500,
            token,
        );
        let page = list_records(conn, &signer, &request).expect("list");
        uids.extend(page.items.into_iter().map(|r| r.uid));
        if page.next_page_token.is_empty() {
            return uids;
        }
        token = page.next_page_token;
    }
}

/// The listings the indexes serve, with their pages' expected plans.
fn indexed_shapes() -> Vec<Shape> {
    const REASON_INDEX: &[&str] = &["records_jp_1"];
    const LABEL_INDEX: &[&str] = &["records_jp_0"];
    // PostgreSQL's generic plan knows only that `reason` has two values, so it costs
    // `reason = $1` at half the table: past the first page, walking all Records in
    // order from the keyset and filtering is costed the same as the path's index and it
    // may take either (both seek; with this fixture's one failure in ten, the time index
    // reads about ten rows per row returned). Paths with more values (the label) and a
    // namespace's listing take the index.
    const REASON_OR_TIME: &[&str] = &["records_jp_1", "records_by_create_time"];
    let reason = |order_by| Shape {
        listing: ALL_RECORDS,
        filter: FAILED,
        order_by,
        sqlite: walk(REASON_INDEX),
        postgres: [PagePlan::Walk(REASON_INDEX), PagePlan::Walk(REASON_OR_TIME)],
        mariadb: walk(REASON_INDEX),
    };
    vec![
        reason(""),
        reason("create_time desc"),
        everywhere(
            ALL_RECORDS,
            LABEL_IS_P7,
            "create_time desc",
            walk(LABEL_INDEX),
        ),
    ]
}

/// With the paths configured, equality filters on them walk their indexes, page after
/// page, and list exactly what an unindexed listing does.
fn indexed_equalities_walk_their_index(backend: Backend) {
    let db = TestDb::create(backend);
    let plain = database(&db, &[]);
    fill(&mut plain.get().expect("connection"));
    let indexed = database(&db, &[LABEL, REASON]);
    let mut conn = indexed.get().expect("connection");
    crate::testing::bulk::analyze(&mut conn);
    let mut failures = Vec::new();
    for shape in indexed_shapes() {
        let plans = plans(&mut conn, &shape);
        for (number, (plan, expected)) in (1..).zip(plans.iter().zip(shape.expected(backend))) {
            if let Some(why) = mismatch(plan, shape.listing.table(), expected, number) {
                failures.push(format!(
                    "{:?} filter {:?} order_by {:?}, page {number}: {why}; expected \
                     {expected:?}, plan:\n{plan}",
                    shape.listing, shape.filter, shape.order_by
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The same rows with and without the index, in every scope.
    let mut unindexed = plain.get().expect("connection");
    for scope in ["-/results/-", "ns-a/results/-", "ns-a/results/big"] {
        for filter in [
            FAILED,
            LABEL_IS_P7,
            r#"data.status.conditions[0].reason in ["Failed", "x"]"#,
        ] {
            let with = all_uids(&mut conn, scope, filter);
            assert!(!with.is_empty(), "{scope} {filter}");
            assert_eq!(
                with,
                all_uids(&mut unindexed, scope, filter),
                "{scope} {filter}: listings differ with the index"
            );
        }
    }
}

/// Migrating again changes nothing; a slot whose path changes gets a new index; paths
/// no longer configured lose theirs; the listing stays exact throughout.
fn indexes_follow_the_configuration(backend: Backend) {
    let db = TestDb::create(backend);
    let first = database(&db, &[LABEL, REASON]);
    fill(&mut first.get().expect("connection"));
    let json = |p: &str| IndexedPaths::parse(&[p]).unwrap().paths()[0].json_path();
    // Generated columns, or functions on PostgreSQL.
    let helpers = match backend {
        Backend::Postgres => vec!["records_jp_0", "records_jp_1"],
        _ => vec!["jp_0", "jp_1"],
    };
    let expected_failed = all_uids(&mut first.get().unwrap(), "-/results/-", FAILED);

    let mut conn = first.get().expect("connection");
    let made = slots(&mut conn);
    assert_eq!(made.0, vec!["records_jp_0", "records_jp_1"], "{backend:?}");
    assert_eq!(made.1, helpers);
    assert_eq!(made.2, vec![(0, json(LABEL)), (1, json(REASON))]);
    // Idempotent: migrating again (another replica starting) keeps everything.
    first.migrate().expect("migrate again");
    assert_eq!(slots(&mut conn), made);
    assert_eq!(all_uids(&mut conn, "-/results/-", FAILED), expected_failed);
    drop(conn);

    // Slot 1 now holds another path: its index is rebuilt for it.
    let second = database(&db, &[LABEL, KIND]);
    let mut conn = second.get().expect("connection");
    let changed = slots(&mut conn);
    assert_eq!((&changed.0, &changed.1), (&made.0, &made.1));
    assert_eq!(changed.2, vec![(0, json(LABEL)), (1, json(KIND))]);
    // The old path reads without an index, the new one with it.
    assert_eq!(all_uids(&mut conn, "-/results/-", FAILED), expected_failed);
    let kinds = all_uids(&mut conn, "-/results/-", r#"data.kind == "PipelineRun""#);
    assert_eq!(kinds.len(), 2000, "{backend:?}: one PipelineRun per Result");
    let signer = TokenSigner::new(b"indexed".to_vec());
    let plan = explain_list_records(
        &mut conn,
        &signer,
        &request(
            RecordScope::parse("-/results/-").unwrap(),
            r#"data.kind == "PipelineRun""#,
            "",
            20,
            String::new(),
        ),
    )
    .expect("explain");
    assert_eq!(
        plan.ordered_by_index("records"),
        Some("records_jp_1"),
        "{plan}"
    );
    drop(conn);

    // None configured: every slot goes.
    let third = database(&db, &[]);
    let mut conn = third.get().expect("connection");
    assert_eq!(slots(&mut conn), (vec![], vec![], vec![]));
    assert_eq!(all_uids(&mut conn, "-/results/-", FAILED), expected_failed);
    drop(conn);

    // A pool that does not migrate uses only the slots the database holds for its paths.
    let fourth = Database::connect(
        db.url(),
        PoolSettings {
            indexed_json_paths: IndexedPaths::parse(&[LABEL]).unwrap(),
            ..PoolSettings::default()
        },
    )
    .expect("connect");
    let mut conn = fourth.get().expect("connection");
    assert!(conn.indexed_paths().is_empty());
    assert!(!all_uids(&mut conn, "-/results/-", LABEL_IS_P7).is_empty());
}

crate::on_every_backend!(
    indexed_equalities_walk_their_index,
    indexes_follow_the_configuration
);

/// Replicas starting at once on a database that holds Records: one builds the indexes
/// while the others wait for the migration lock, then find them in place; every one
/// ends up using them.
fn replicas_start_at_once(backend: Backend) {
    let db = TestDb::create(backend);
    let first = database(&db, &[]);
    fill(&mut first.get().expect("connection"));
    let expected = all_uids(&mut first.get().unwrap(), "-/results/-", FAILED);
    let replicas: Vec<Database> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| database(&db, &[LABEL, REASON])))
            .collect();
        starting
            .into_iter()
            .map(|s| s.join().expect("started"))
            .collect()
    });
    for replica in &replicas {
        let mut conn = replica.get().expect("connection");
        assert_eq!(conn.indexed_paths().paths().len(), 2);
        assert_eq!(all_uids(&mut conn, "-/results/-", FAILED), expected);
        let (indexes, _, recorded) = slots(&mut conn);
        assert_eq!(indexes, vec!["records_jp_0", "records_jp_1"]);
        assert_eq!(recorded.len(), 2);
    }
}

mod at_once {
    use super::*;

    #[test]
    fn replicas_start_at_once_on_postgres() {
        replicas_start_at_once(Backend::Postgres);
    }

    #[test]
    fn replicas_start_at_once_on_mariadb() {
        replicas_start_at_once(Backend::Mysql);
    }
}

/// Insert cost of each indexed path: not a test of behaviour but a measurement, run only
/// with `RESULTS_BENCH_JSON_INDEX_INSERTS=1` (in a release build):
/// `RESULTS_BENCH_JSON_INDEX_INSERTS=1 cargo test --release -p results-storage --lib
/// insert_cost -- --nocapture`. Inserts the fixture's Records one autocommitted statement
/// each (as creates commit) into databases with 0, 1 and 2 indexed paths, twice in
/// alternation, and prints rows/s.
#[test]
fn insert_cost_of_indexed_paths() {
    if std::env::var_os("RESULTS_BENCH_JSON_INDEX_INSERTS").is_none() {
        return;
    }
    let backends = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];
    let configs: [&[&str]; 3] = [&[], &[REASON], &[REASON, LABEL]];
    let (results, records) = fixture();
    let records = &records[..6000];
    for backend in backends {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
        for _round in 0..2 {
            for (k, paths) in configs.iter().enumerate() {
                let db = TestDb::create(backend);
                let database = database(&db, paths);
                let mut conn = database.get().expect("connection");
                for chunk in results.chunks(CHUNK) {
                    with_conn!(&mut conn, |c| diesel::insert_into(results::table)
                        .values(chunk)
                        .execute(c))
                    .expect("results");
                }
                let started = std::time::Instant::now();
                for record in records {
                    with_conn!(&mut conn, |c| diesel::insert_into(records::table)
                        .values(record)
                        .execute(c))
                    .expect("record");
                }
                rates[k].push(records.len() as f64 / started.elapsed().as_secs_f64());
                drop(conn);
                drop(database);
            }
        }
        for (paths, rates) in configs.iter().zip(&rates) {
            println!(
                "{backend:?}: {} indexed paths: {:.0} rows/s (runs: {:?})",
                paths.len(),
                rates.iter().sum::<f64>() / rates.len() as f64,
                rates.iter().map(|r| r.round()).collect::<Vec<_>>()
            );
        }
    }
}
