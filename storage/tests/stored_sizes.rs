//! Each Record's document size is stored when it is written (`records.data_bytes`) and a
//! listing bounds its pages by it: the stored size is the size of the document the
//! backend hands back (on PostgreSQL, whose `jsonb` renders new text, never less), rows
//! written before sizes were stored (NULL) are measured instead, and a fields mask is
//! bounded by what it reads, on every backend.

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{MysqlConnection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use results_storage::connection::Conn;
use results_storage::model::{
    NewRecord, Projection, RecordData, RecordName, RecordPatch, RecordScope, StoredRecord,
    Timestamp,
};
use results_storage::page::TokenSigner;
use results_storage::store::{
    create_record, get_record, list_records_within, update_record, ListRequest,
};
use results_storage::testing::TestDb;
use results_storage::Backend;

/// The cap the listing tests page within: a few Records' documents.
const CAP: usize = 3_000;

#[derive(QueryableByName, Debug)]
struct Sizes {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    stored: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    measured: Option<i64>,
}

/// Runs `sql` on the connection's backend.
fn execute(conn: &mut Conn, sql: &str) -> usize {
    let query = diesel::sql_query(sql);
    match conn {
        Conn::Postgres(c) => query.execute(&mut **c as &mut PgConnection),
        Conn::Mysql(c) => query.execute(&mut **c as &mut MysqlConnection),
        Conn::Sqlite(c) => query.execute(&mut **c as &mut SqliteConnection),
    }
    .unwrap()
}

/// Every Record's stored size beside the size of its document as the database measures
/// it (what the listing measured before sizes were stored), by name.
fn sizes(conn: &mut Conn) -> Vec<Sizes> {
    let measured = match conn.backend() {
        Backend::Postgres => "CAST(octet_length(CAST(data AS text)) AS BIGINT)",
        Backend::Sqlite => "length(CAST(data AS BLOB))",
        Backend::Mysql => "CAST(LENGTH(data) AS SIGNED)",
    };
    let query = diesel::sql_query(format!(
        "SELECT name, data_bytes AS stored, {measured} AS measured FROM records ORDER BY name"
    ));
    match conn {
        Conn::Postgres(c) => query.load(&mut **c as &mut PgConnection),
        Conn::Mysql(c) => query.load(&mut **c as &mut MysqlConnection),
        Conn::Sqlite(c) => query.load(&mut **c as &mut SqliteConnection),
    }
    .unwrap()
}

fn record_name(name: &str) -> RecordName {
    RecordName::parse(&format!("ns/results/r/records/{name}")).unwrap()
}

/// A database with the Result `ns/results/r`.
fn database(backend: Backend) -> TestDb {
    TestDb::migrated_with_result(backend, "ns/results/r")
}

fn create(conn: &mut Conn, name: &str, document: &str, at: i64) {
    let record = NewRecord {
        name: record_name(name),
        data: RecordData::new("t".into(), document.as_bytes().to_vec()).unwrap(),
    };
    create_record(
        conn,
        record,
        format!("uid-{name}"),
        Timestamp::from_nanos(at),
    )
    .unwrap();
}

/// Documents whose text PostgreSQL renders differently: separators, escapes, Unicode,
/// numbers it prints as exact decimals, and insignificant whitespace.
fn documents() -> Vec<(&'static str, String)> {
    let many = (0..500)
        .map(|i| format!("\"k{i}\":[{i},{{\"a\":{i}.5}},[]]"))
        .collect::<Vec<_>>()
        .join(",");
    let pretty = serde_json::to_string_pretty(&serde_json::json!({
        "kind": "TaskRun",
        "metadata": {"name": "build", "labels": {"a": "b", "c": "d"}},
        "status": {"steps": [{"name": "s", "exitCode": 0}, {"name": "t", "exitCode": 1}]},
    }))
    .unwrap();
    vec![
        ("compact", r#"{"a":1,"b":[1,2,{"c":"x"}],"d":{},"e":[]}"#.into()),
        ("many-separators", format!("{{{many}}}")),
        ("separators-in-strings", r#"{"a:b,c":"x, y: z","d":[",",":"]}"#.into()),
        (
            "escapes",
            r#"{"s":"\u0041\u00e9\/\b\f\n\r\t\u001f\u007f\"\\ \ud83d\ude00","\u00e9":"\u4e2d"}"#
                .into(),
        ),
        ("unicode", r#"{"é":"中文 😀 ü","emoji":["😀","🎉"]}"#.into()),
        (
            "numbers",
            "[1.0, 1e5, 1E+2, -0, -0.0, 1.5e-3, 0.05e1, 100e-2, 1e-5, -1.50e1, 0e10, 0.0e-3, \
             12.34e1, 1e300, 123456789012345678901234567890, -1.000e-20, 5E0, 2e-0, 1e308, 1e-320, -0.0e-200]"
                .into(),
        ),
        ("whitespace", format!(" \n\t{}\r\n ", pretty.replace("  ", "\t \t"))),
        ("scalar", "  \"just a string\"  ".into()),
    ]
}

fn stored_sizes_are_what_the_database_hands_back(backend: Backend) {
    let db = database(backend);
    let mut conn = db.database().get().unwrap();
    for (i, (name, document)) in documents().into_iter().enumerate() {
        create(&mut conn, name, &document, 10 + i as i64);
    }
    let empty = NewRecord {
        name: record_name("no-document"),
        data: RecordData::new("t".into(), Vec::new()).unwrap(),
    };
    create_record(
        &mut conn,
        empty,
        "uid-none".into(),
        Timestamp::from_nanos(101),
    )
    .unwrap();
    // An update stores the new document's size.
    create(&mut conn, "updated", r#"{"a":1}"#, 102);
    let patch = RecordPatch::new(
        record_name("updated"),
        String::new(),
        RecordData::new("t".into(), documents()[1].1.clone().into_bytes()).unwrap(),
    );
    update_record(&mut conn, patch, Timestamp::from_nanos(103)).unwrap();

    let rows = sizes(&mut conn);
    assert_eq!(rows.len(), documents().len() + 2);
    for row in rows {
        let returned = get_record(&mut conn, &record_name(&row.name)).unwrap();
        if row.name == "no-document" {
            assert_eq!((row.stored, row.measured), (None, None));
            assert!(returned.data.value.is_empty());
            continue;
        }
        let stored = row.stored.expect("a stored size");
        assert_eq!(
            row.measured,
            Some(returned.data.value.len() as i64),
            "{row:?}"
        );
        assert_eq!(Some(stored), row.measured, "{}", row.name);
    }
}

/// 60 Records whose documents are mostly separators (PostgreSQL renders them half as
/// long again), of about 100 to 2,000 bytes, one over the cap; the odd-numbered ones'
/// sizes are set to NULL as if written before sizes were stored.
fn fill(db: &TestDb) {
    let mut conn = db.database().get().unwrap();
    for i in 0..60usize {
        let numbers = if i == 17 { CAP } else { 30 + (i * 397) % 900 };
        let document = format!("{{\"n\":[{}0]}}", "0,".repeat(numbers / 2));
        create(
            &mut conn,
            &format!("rec-{i:02}"),
            &document,
            1_000 + i as i64,
        );
    }
    let odd = (0..60)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("'rec-{i:02}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("UPDATE records SET data_bytes = NULL WHERE name IN ({odd})");
    assert_eq!(execute(&mut conn, &sql), 30);
}

/// Every page of the listing within `cap`, and the whole listing in one page.
fn page_through(
    db: &TestDb,
    projection: &Projection,
    cap: usize,
) -> (Vec<Vec<StoredRecord>>, Vec<StoredRecord>) {
    let signer = TokenSigner::new(b"k".to_vec());
    let mut conn = db.database().get().unwrap();
    let mut request = ListRequest {
        scope: RecordScope::parse("ns/results/r").unwrap(),
        filter: String::new(),
        page_size: 1_000,
        page_token: String::new(),
        order_by: String::new(),
    };
    let mut pages = Vec::new();
    loop {
        let page = list_records_within(&mut conn, &signer, &request, projection, cap).unwrap();
        pages.push(page.items);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    request.page_token = String::new();
    let all = list_records_within(&mut conn, &signer, &request, projection, usize::MAX).unwrap();
    (pages, all.items)
}

fn bytes(records: &[StoredRecord]) -> usize {
    records.iter().map(|r| r.data.value.len()).sum()
}

fn pages_are_bounded_with_stored_and_unrecorded_sizes(backend: Backend) {
    let db = database(backend);
    fill(&db);
    let rows = sizes(&mut db.database().get().unwrap());
    assert_eq!(rows.iter().filter(|r| r.stored.is_none()).count(), 30);
    let (pages, all) = page_through(&db, &Projection::Whole, CAP);
    assert_eq!(all.len(), 60);
    assert!(bytes(&all) > 10 * CAP, "the listing is many caps' worth");
    assert!(pages.len() >= 10, "{} pages", pages.len());
    for page in &pages {
        assert!(
            page.len() == 1 || bytes(page) <= CAP,
            "a page of {} Records holds {} bytes",
            page.len(),
            bytes(page)
        );
    }
    assert!(pages.iter().any(|p| p.len() == 1 && bytes(p) > CAP));
    assert_eq!(pages.concat(), all, "pages concatenate to the listing");
}

fn the_listing_goes_by_the_stored_size_and_a_mask_by_what_it_reads(backend: Backend) {
    let db = database(backend);
    let mut conn = db.database().get().unwrap();
    for i in 0..10 {
        create(
            &mut conn,
            &format!("rec-{i}"),
            r#"{"a":1,"b":2}"#,
            1_000 + i,
        );
    }
    // A stored size over the cap: the listing believes it, and gives rec-4 a page alone.
    let sql = format!(
        "UPDATE records SET data_bytes = {} WHERE name = 'rec-4'",
        CAP + 1
    );
    assert_eq!(execute(&mut conn, &sql), 1);
    let (pages, _) = page_through(&db, &Projection::Whole, CAP);
    let lengths: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(lengths, [4, 1, 5]);
    assert_eq!(pages[1][0].name.record, "rec-4");
    // A fields mask is bounded by the (measured) size of what it reads.
    let mask = Projection::paths(vec![vec!["a".into()]]).unwrap();
    let (pages, _) = page_through(&db, &mask, CAP);
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10]);
}

results_storage::on_every_backend!(
    stored_sizes_are_what_the_database_hands_back,
    pages_are_bounded_with_stored_and_unrecorded_sizes,
    the_listing_goes_by_the_stored_size_and_a_mask_by_what_it_reads,
);
