//! Filter shapes are chosen by clients and every shape is a prepared statement that diesel
//! (and PostgreSQL, server-side) keeps for the connection's life: the pool replaces a
//! connection once it has prepared `MAX_STATEMENT_SHAPES` of them, so that memory stays
//! bounded however many shapes clients send — and only then.

use diesel::{PgConnection, QueryableByName, RunQueryDsl};
use results_storage::connection::{Conn, MAX_STATEMENT_SHAPES};
use results_storage::model::RecordScope;
use results_storage::page::TokenSigner;
use results_storage::store::{list_records, ListRequest};
use results_storage::testing::TestDb;
use results_storage::{Backend, Database, PoolSettings};

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    v: i64,
}

/// `sql` (one BIGINT column `v`) on the pool's (only) connection's session.
fn session_value(database: &Database, sql: &str) -> i64 {
    let mut conn = database.get().unwrap();
    let Conn::Postgres(c) = &mut conn else {
        panic!("a PostgreSQL connection")
    };
    let c: &mut PgConnection = c;
    diesel::sql_query(sql).get_result::<Value>(c).unwrap().v
}

/// Statements prepared by the session.
fn prepared_statements(database: &Database) -> i64 {
    session_value(database, "SELECT count(*) AS v FROM pg_prepared_statements")
}

/// The session's server process.
fn backend_pid(database: &Database) -> i64 {
    session_value(database, "SELECT pg_backend_pid()::bigint AS v")
}

/// A filter whose SQL differs for each `i` in 0..1024 (`=` or `<>` per term).
fn filter_shape(i: usize) -> String {
    (0..10)
        .map(|bit| {
            let op = if i >> bit & 1 == 1 { "!=" } else { "==" };
            format!("data_type {op} \"t{bit}\"")
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

#[test]
fn connections_are_replaced_once_they_hold_too_many_statement_shapes() {
    let db = TestDb::create(Backend::Postgres);
    let settings = PoolSettings {
        max_size: 1,
        ..PoolSettings::default()
    };
    let database = Database::connect(db.url(), settings).unwrap();
    database.migrate().unwrap();
    let signer = TokenSigner::new(b"k".to_vec());
    let list = |filter: String| {
        let request = ListRequest {
            scope: RecordScope::parse("ns/results/-").unwrap(),
            filter,
            page_size: 10,
            page_token: String::new(),
            order_by: String::new(),
        };
        list_records(&mut database.get().unwrap(), &signer, &request).unwrap();
    };

    let first = backend_pid(&database);
    // The same shape again and again (other values) is one prepared statement, reused: no
    // new statements, no replacement.
    list("data_type == \"v\"".into());
    let prepared = prepared_statements(&database);
    assert!(prepared >= 1, "listings run as prepared statements");
    for i in 0..2 * MAX_STATEMENT_SHAPES {
        list(format!("data_type == \"v{i}\""));
    }
    assert_eq!(
        prepared_statements(&database),
        prepared,
        "reused, not prepared again"
    );
    assert_eq!(
        backend_pid(&database),
        first,
        "one shape never replaces the connection"
    );
    // Up to the limit of distinct shapes, the connection stays.
    for i in 0..MAX_STATEMENT_SHAPES - 1 {
        list(filter_shape(i));
    }
    assert_eq!(backend_pid(&database), first);
    // Past it, the pool replaces the connection (and PostgreSQL frees its statements).
    for i in MAX_STATEMENT_SHAPES - 1..MAX_STATEMENT_SHAPES + 2 {
        list(filter_shape(i));
    }
    let second = backend_pid(&database);
    assert_ne!(
        second, first,
        "replaced after {MAX_STATEMENT_SHAPES} shapes"
    );
}
