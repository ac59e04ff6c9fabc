//! An upstream Tekton Results database for the import tests: a throwaway PostgreSQL
//! database with upstream's tables ([`UPSTREAM_SCHEMA`]), seeded with a few thousand rows
//! that include the edge cases an import must keep (NULL and `null` annotations, summaries
//! without times, documents of every JSON shape and in Unicode, names at the length limit,
//! microsecond times written in several time zones, a Result without Records, Log Records
//! with their bytes in upstream's file layout) and those it must skip with a reason.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::TestDb;
use crate::Backend;

/// upstream's tables, as gorm's AutoMigrate creates them on PostgreSQL.
pub const UPSTREAM_SCHEMA: &str = include_str!("upstream_schema.sql");

/// A throwaway upstream database, dropped with the value.
#[derive(Debug)]
pub struct UpstreamDb {
    db: TestDb,
}

/// What a seeded database holds that an import must treat specially.
#[derive(Debug, Default, Clone)]
pub struct Seeded {
    /// Results (full names) our validation refuses, with a fragment of the reason.
    pub skipped_results: Vec<(String, &'static str)>,
    /// Records (full names) that cannot be imported, with a fragment of the reason.
    pub skipped_records: Vec<(String, &'static str)>,
    /// Log Records (full names) whose bytes are in the logs directory, with the bytes.
    pub logs: Vec<(String, Vec<u8>)>,
    /// Log Records (full names) that say they are stored, but whose bytes are missing.
    pub logs_missing: Vec<String>,
    /// A Result (full name) that has no Records.
    pub empty_result: String,
}

/// One row of upstream's `results`, as text (times in any form PostgreSQL reads).
#[derive(Debug, Clone, Default)]
struct ResultRow {
    parent: String,
    id: String,
    name: String,
    annotations: Option<String>,
    created: Option<String>,
    updated: Option<String>,
    summary_record: Option<String>,
    summary_type: Option<String>,
    summary_start: Option<String>,
    summary_end: Option<String>,
    summary_status: Option<i32>,
    summary_annotations: Option<String>,
}

/// One row of upstream's `records`.
#[derive(Debug, Clone, Default)]
struct RecordRow {
    parent: String,
    result_id: String,
    result_name: String,
    id: String,
    name: String,
    type_: Option<String>,
    data: Option<String>,
    created: Option<String>,
    updated: Option<String>,
}

/// A deterministic uid.
fn uid(kind: u32, i: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

/// A time with microseconds, written in one of several time zones.
fn time(i: u64, offset_secs: u64) -> String {
    let zones = ["+00:00", "+05:30", "-08:00", "+14:00"];
    let zone = zones[(i % 4) as usize];
    // The wall-clock time differs per zone; PostgreSQL stores the instant.
    format!(
        "2025-03-{:02} {:02}:{:02}:{:02}.{:06}{zone}",
        1 + i % 28,
        (i / 60) % 24,
        i % 60,
        offset_secs % 60,
        (i * 7919 + offset_secs) % 1_000_000
    )
}

/// Record documents of several shapes.
fn document(i: u64, j: u64, parent: &str, name: &str, run_uid: &str) -> (String, Option<String>) {
    match j % 8 {
        0 | 1 => (
            "tekton.dev/v1.TaskRun".into(),
            Some(format!(
                r#"{{"apiVersion":"tekton.dev/v1","kind":"TaskRun","metadata":{{"name":"{name}","namespace":"{parent}","uid":"{run_uid}","labels":{{"tekton.dev/pipeline":"build-{}"}}}},"status":{{"startTime":"2025-03-01T10:00:{:02}Z","conditions":[{{"type":"Succeeded","status":"True","reason":"Succeeded"}}]}}}}"#,
                i % 5,
                j % 60
            )),
        ),
        2 => (
            "tekton.dev/v1.PipelineRun".into(),
            Some(format!(
                r#"{{"kind":"PipelineRun","metadata":{{"name":"{name}"}},"note":"ünïcödé ✓ 日本語 🚀","escapes":"tab\tquote\"back\\slash","n":{i}.5}}"#
            )),
        ),
        3 => (
            "example.dev/v1.Array".into(),
            Some(format!(r#"[1, "two", {{"3": null}}, [true, false], {i}]"#)),
        ),
        4 => (
            "example.dev/v1.String".into(),
            Some(r#""just a string""#.into()),
        ),
        5 => (
            "example.dev/v1.Number".into(),
            Some(format!("{}", i * 1000 + j)),
        ),
        6 => (String::new(), None),
        _ => (
            "example.dev/v1.Nested".into(),
            Some(r#"{"a":{"b":{"c":[{"d":{"e":"deep"}}]}},"empty":{},"list":[]}"#.into()),
        ),
    }
}

impl UpstreamDb {
    /// A fresh PostgreSQL database with upstream's tables, empty.
    pub fn create() -> UpstreamDb {
        let db = TestDb::create(Backend::Postgres);
        let upstream = UpstreamDb { db };
        upstream
            .connect()
            .batch_execute(UPSTREAM_SCHEMA)
            .expect("create upstream's tables");
        upstream
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// A connection to it.
    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(self.url()).expect("connect to the upstream database")
    }

    /// Seeds `results` Results in three namespaces with `per_result` Records each (one
    /// Result has none), every edge case listed in the module header, and the bytes of its
    /// Log Records under `logs_dir` in upstream's file layout (`<namespace>/<uid>/<name>`).
    pub fn seed(&self, results: u64, per_result: u64, logs_dir: &Path) -> Seeded {
        let mut seeded = Seeded::default();
        let long_ns = "n".repeat(63);
        let namespaces = ["ci", "prod", long_ns.as_str()];
        let mut result_rows = Vec::new();
        let mut record_rows = Vec::new();
        let annotations = [
            None,
            Some("null".to_owned()),
            Some("{}".to_owned()),
            Some(r#"{"repo":"app","ünï":"cödé ✓","empty":""}"#.to_owned()),
        ];
        for i in 0..results {
            let parent = namespaces[(i % 3) as usize].to_owned();
            let name = if i == 1 {
                "r".repeat(63)
            } else {
                format!("run-{i:05}")
            };
            let id = uid(1, i);
            let first_record = format!("{parent}/results/{name}/records/tr-0");
            let (summary_record, summary_type, start, end, status, summary_annotations) =
                match i % 5 {
                    0 => (
                        Some(String::new()),
                        Some(String::new()),
                        None,
                        None,
                        Some(0),
                        None,
                    ),
                    1 => (None, None, None, None, None, None),
                    2 => (
                        Some(first_record),
                        Some("tekton.dev/v1.TaskRun".to_owned()),
                        None,
                        None,
                        Some(1),
                        Some("null".to_owned()),
                    ),
                    _ => (
                        Some(first_record),
                        Some("tekton.dev/v1.PipelineRun".to_owned()),
                        Some(time(i, 1)),
                        Some(time(i, 59)),
                        Some((i % 5) as i32),
                        Some(r#"{"pipeline":"build","ö":"ü"}"#.to_owned()),
                    ),
                };
            result_rows.push(ResultRow {
                parent: parent.clone(),
                id: id.clone(),
                name: name.clone(),
                annotations: annotations[(i % 4) as usize].clone(),
                created: Some(time(i, 0)),
                updated: Some(time(i + 1, 30)),
                summary_record,
                summary_type,
                summary_start: start,
                summary_end: end,
                summary_status: status,
                summary_annotations,
            });
            if i == 2 {
                seeded.empty_result = format!("{parent}/results/{name}");
                continue;
            }
            for j in 0..per_result {
                let record_name = if i == 1 && j == 0 {
                    "x".repeat(63)
                } else {
                    format!("tr-{j}")
                };
                let run_uid = uid(3, i * 1000 + j);
                let (type_, data) = document(i, j, &parent, &record_name, &run_uid);
                record_rows.push(RecordRow {
                    parent: parent.clone(),
                    result_id: id.clone(),
                    result_name: name.clone(),
                    id: uid(2, i * 1000 + j),
                    name: record_name,
                    type_: Some(type_),
                    data,
                    created: Some(time(i * 31 + j, j)),
                    updated: Some(time(i * 31 + j + 1, j)),
                });
            }
        }
        self.edge_cases(&mut result_rows, &mut record_rows, &mut seeded, logs_dir);
        let mut conn = self.connect();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for row in &result_rows {
                insert_result(conn, row)?;
            }
            for row in &record_rows {
                insert_record(conn, row)?;
            }
            Ok(())
        })
        .expect("seed the upstream database");
        seeded
    }

    /// Rows our validation refuses, and Log Records with and without their bytes.
    fn edge_cases(
        &self,
        results: &mut Vec<ResultRow>,
        records: &mut Vec<RecordRow>,
        seeded: &mut Seeded,
        logs_dir: &Path,
    ) {
        let base = ResultRow {
            parent: "edge".into(),
            created: Some("2025-01-01 00:00:00.000001+00".into()),
            updated: Some("2025-01-01 00:00:00.000002+00".into()),
            ..ResultRow::default()
        };
        let refused = [
            (
                "r".repeat(64),
                None,
                "result name is 64 characters long",
                None,
            ),
            ("Upper".to_owned(), None, "only a-z", None),
            (
                "no-created-time".to_owned(),
                Some(()),
                "created_time is NULL",
                None,
            ),
            ("bad-status".to_owned(), None, "is not a status", Some(7)),
        ];
        for (k, (name, no_time, reason, status)) in refused.into_iter().enumerate() {
            let row = ResultRow {
                id: uid(4, k as u64),
                name: name.clone(),
                created: if no_time.is_some() {
                    None
                } else {
                    base.created.clone()
                },
                summary_record: status.map(|_| format!("edge/results/{name}/records/a")),
                summary_type: status.map(|_| "tekton.dev/v1.TaskRun".to_owned()),
                summary_status: status,
                ..base.clone()
            };
            seeded
                .skipped_results
                .push((format!("edge/results/{name}"), reason));
            // Its Record goes with it.
            records.push(RecordRow {
                parent: "edge".into(),
                result_id: row.id.clone(),
                result_name: name.clone(),
                id: uid(5, k as u64),
                name: "orphan".into(),
                type_: Some("t".into()),
                data: Some("{}".into()),
                created: base.created.clone(),
                updated: base.updated.clone(),
            });
            // A bad Result name makes a bad Record name; otherwise its Result is missing.
            let record_reason = if status.is_none() && no_time.is_none() {
                reason
            } else {
                "was not imported"
            };
            seeded
                .skipped_records
                .push((format!("edge/results/{name}/records/orphan"), record_reason));
            results.push(row);
        }
        let logs_id = uid(4, 100);
        results.push(ResultRow {
            id: logs_id.clone(),
            name: "logs".into(),
            ..base.clone()
        });
        let record = |id: u64, name: &str, type_: &str, data: String| RecordRow {
            parent: "edge".into(),
            result_id: logs_id.clone(),
            result_name: "logs".into(),
            id: uid(6, id),
            name: name.to_owned(),
            type_: Some(type_.to_owned()),
            data: Some(data),
            created: base.created.clone(),
            updated: base.updated.clone(),
        };
        let full = |name: &str| format!("edge/results/logs/records/{name}");
        // Too large for our limits, too deep, and a name one character too long.
        let large = format!(
            r#"{{"big":"{}"}}"#,
            "x".repeat(crate::limits::MAX_DOCUMENT_BYTES)
        );
        records.push(record(1, "too-large", "t", large));
        seeded
            .skipped_records
            .push((full("too-large"), "the limit is"));
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        records.push(record(2, "too-deep", "t", deep));
        seeded
            .skipped_records
            .push((full("too-deep"), "nests arrays and objects"));
        let long = "y".repeat(64);
        records.push(record(3, &long, "t", "{}".into()));
        seeded
            .skipped_records
            .push((full(&long), "record name is 64 characters long"));
        // Log Records: the run, its log with bytes; a log whose path upstream derives from
        // its metadata; one whose bytes are gone; one never stored.
        for (n, (stored, path, present)) in [
            (true, true, true),
            (true, false, true),
            (true, true, false),
            (false, false, false),
        ]
        .into_iter()
        .enumerate()
        {
            let n = n as u64;
            let run_uid = uid(7, n);
            let run = format!("run-{n}");
            records.push(record(10 + n, &run, "tekton.dev/v1.TaskRun", format!(
                r#"{{"kind":"TaskRun","metadata":{{"name":"{run}","namespace":"edge","uid":"{run_uid}"}}}}"#
            )));
            let log_uid = uid(8, n);
            let log = format!("{run}-log");
            let log_path = format!("edge/{log_uid}/{log}");
            let bytes = format!("log of {run}\nline two ✓\n")
                .repeat(1 + n as usize * 1000)
                .into_bytes();
            let document = serde_json::json!({
                "kind": "Log", "apiVersion": "results.tekton.dev/v1alpha3",
                "metadata": {"name": log, "namespace": "edge", "uid": log_uid},
                "spec": {"resource": {"kind": "TaskRun", "namespace": "edge", "name": run, "uid": run_uid}, "type": "File"},
                "status": {"path": if path { log_path.as_str() } else { "" }, "size": if stored { bytes.len() } else { 0 },
                           "isStored": stored, "errorOnStoreMsg": "", "isRetryableErr": false},
            });
            records.push(record(
                20 + n,
                &log,
                "results.tekton.dev/v1alpha3.Log",
                document.to_string(),
            ));
            if present {
                let file = logs_dir.join(&log_path);
                std::fs::create_dir_all(file.parent().expect("a parent")).expect("log dir");
                std::fs::write(&file, &bytes).expect("write a log");
                seeded.logs.push((full(&log), bytes));
            } else if stored {
                seeded.logs_missing.push(full(&log));
            }
        }
    }
}

fn insert_result(conn: &mut PgConnection, row: &ResultRow) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO results (parent, id, name, annotations, created_time, updated_time, \
         recordsummary_record, recordsummary_type, recordsummary_start_time, \
         recordsummary_end_time, recordsummary_status, recordsummary_annotations, etag) \
         VALUES ($1, $2, $3, $4::jsonb, $5::timestamptz, $6::timestamptz, $7, $8, \
         $9::timestamptz, $10::timestamptz, $11, $12::jsonb, $2 || '-etag')",
    )
    .bind::<Text, _>(&row.parent)
    .bind::<Text, _>(&row.id)
    .bind::<Text, _>(&row.name)
    .bind::<Nullable<Text>, _>(&row.annotations)
    .bind::<Nullable<Text>, _>(&row.created)
    .bind::<Nullable<Text>, _>(&row.updated)
    .bind::<Nullable<Text>, _>(&row.summary_record)
    .bind::<Nullable<Text>, _>(&row.summary_type)
    .bind::<Nullable<Text>, _>(&row.summary_start)
    .bind::<Nullable<Text>, _>(&row.summary_end)
    .bind::<Nullable<Integer>, _>(row.summary_status)
    .bind::<Nullable<Text>, _>(&row.summary_annotations)
    .execute(conn)
}

fn insert_record(conn: &mut PgConnection, row: &RecordRow) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO records (parent, result_id, result_name, id, name, type, data, \
         created_time, updated_time, etag) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::timestamptz, $9::timestamptz, $4 || '-etag')",
    )
    .bind::<Text, _>(&row.parent)
    .bind::<Text, _>(&row.result_id)
    .bind::<Text, _>(&row.result_name)
    .bind::<Text, _>(&row.id)
    .bind::<Text, _>(&row.name)
    .bind::<Nullable<Text>, _>(&row.type_)
    .bind::<Nullable<Text>, _>(&row.data)
    .bind::<Nullable<Text>, _>(&row.created)
    .bind::<Nullable<Text>, _>(&row.updated)
    .execute(conn)
}
