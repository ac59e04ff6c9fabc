//! `results-api import` end to end on every backend: an upstream-shaped PostgreSQL
//! database (upstream's tables, a few thousand rows with edge cases, Log Records with their
//! bytes in upstream's file layout) imported into a running server's database. Then the
//! API's listings, Gets and logs equal what the upstream rows say — computed here from the
//! upstream database with SQL of this test's own, not through the importer — what cannot
//! be kept is reported by name with its reason, and a second run changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use futures::StreamExt;
use integration::secured::TempDir;
use integration::{backend_tests, Backend, TestServer};
use results_actors::import::{Kind, Note, Progress, Report};
use results_grpc::import::{import, ImportArgs, LogSource, S3_KEY_VARS};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_grpc::settings::Settings;
use results_storage::testing::s3::{self as s3_server, S3Server};
use results_storage::testing::{Seeded, UpstreamDb};
use serde_json::Value;
use tonic::Code;

/// Every note an import made, as (kind, name, reason).
#[derive(Default)]
struct Notes(Vec<(Kind, String, String)>);

impl Progress for Notes {
    fn counted(&mut self, _: u64, _: u64) {}
    fn advanced(&mut self, _: &Report) {}
    fn noted(&mut self, note: Note<'_>) {
        self.0
            .push((note.kind, note.name.to_owned(), note.reason.to_owned()));
    }
}

/// Runs the import as `results-api import` does, on a thread of its own (it blocks), while
/// this task yields (the S3 server of a test runs on this runtime).
async fn run_import(settings: &Settings, args: ImportArgs) -> (Report, Notes) {
    run_import_with(settings, args, BTreeMap::new()).await
}

async fn run_import_with(
    settings: &Settings,
    args: ImportArgs,
    env: BTreeMap<String, String>,
) -> (Report, Notes) {
    let settings = settings.clone();
    let (done, outcome) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut notes = Notes::default();
        let report = import(&settings, &args, &env, &mut notes);
        let _ = done.send(report.map(|report| (report, notes)));
    });
    outcome
        .await
        .expect("the import thread")
        .unwrap_or_else(|e| panic!("import failed: {e}"))
}

#[derive(QueryableByName)]
struct UpResult {
    #[diesel(sql_type = Text)]
    parent: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    annotations: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_us: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    updated_us: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    s_record: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    s_type: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    s_status: Option<i32>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s_start_us: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s_end_us: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    s_annotations: Option<String>,
}

#[derive(QueryableByName)]
struct UpRecord {
    #[diesel(sql_type = Text)]
    parent: String,
    #[diesel(sql_type = Text)]
    result_name: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    type_: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    data: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_us: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    updated_us: Option<i64>,
}

fn ts(micros: Option<i64>) -> Option<prost_types::Timestamp> {
    micros.map(|us| prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    })
}

fn etag(uid: &str, micros: Option<i64>) -> String {
    format!("{uid}-{}", micros.unwrap() * 1000)
}

fn map(json: Option<&str>) -> HashMap<String, String> {
    json.and_then(|j| serde_json::from_str::<Option<HashMap<String, String>>>(j).unwrap())
        .unwrap_or_default()
}

/// The Results upstream's API would show (what an import must keep), by name.
fn upstream_results(upstream: &UpstreamDb) -> BTreeMap<String, pb::Result> {
    let rows: Vec<UpResult> = diesel::sql_query(
        "SELECT parent, id, name, annotations::text AS annotations, \
         (extract(epoch FROM created_time) * 1000000)::bigint AS created_us, \
         (extract(epoch FROM updated_time) * 1000000)::bigint AS updated_us, \
         recordsummary_record AS s_record, recordsummary_type AS s_type, \
         recordsummary_status AS s_status, \
         (extract(epoch FROM recordsummary_start_time) * 1000000)::bigint AS s_start_us, \
         (extract(epoch FROM recordsummary_end_time) * 1000000)::bigint AS s_end_us, \
         recordsummary_annotations::text AS s_annotations FROM results",
    )
    .load(&mut upstream.connect())
    .unwrap();
    rows.into_iter()
        .map(|r| {
            let name = format!("{}/results/{}", r.parent, r.name);
            let summary =
                r.s_record
                    .clone()
                    .filter(|s| !s.is_empty())
                    .map(|record| pb::RecordSummary {
                        record,
                        r#type: r.s_type.clone().unwrap_or_default(),
                        start_time: ts(r.s_start_us),
                        end_time: ts(r.s_end_us),
                        status: r.s_status.unwrap_or_default(),
                        annotations: map(r.s_annotations.as_deref()),
                    });
            let result = pb::Result {
                name: name.clone(),
                id: r.id.clone(),
                uid: r.id.clone(),
                created_time: ts(r.created_us),
                create_time: ts(r.created_us),
                updated_time: ts(r.updated_us),
                update_time: ts(r.updated_us),
                annotations: map(r.annotations.as_deref()),
                etag: if r.updated_us.is_some() {
                    etag(&r.id, r.updated_us)
                } else {
                    String::new()
                },
                summary,
            };
            (name, result)
        })
        .collect()
}

/// The Records upstream's API would show, by name, with their documents as JSON.
fn upstream_records(upstream: &UpstreamDb) -> BTreeMap<String, (pb::Record, Option<Value>)> {
    let rows: Vec<UpRecord> = diesel::sql_query(
        "SELECT parent, result_name, id, name, type AS type_, data::text AS data, \
         (extract(epoch FROM created_time) * 1000000)::bigint AS created_us, \
         (extract(epoch FROM updated_time) * 1000000)::bigint AS updated_us FROM records",
    )
    .load(&mut upstream.connect())
    .unwrap();
    rows.into_iter()
        .map(|r| {
            let name = format!("{}/results/{}/records/{}", r.parent, r.result_name, r.name);
            let record = pb::Record {
                name: name.clone(),
                id: r.id.clone(),
                uid: r.id.clone(),
                data: Some(pb::Any {
                    r#type: r.type_.unwrap_or_default(),
                    value: Vec::new(),
                }),
                etag: etag(&r.id, r.updated_us),
                created_time: ts(r.created_us),
                create_time: ts(r.created_us),
                updated_time: ts(r.updated_us),
                update_time: ts(r.updated_us),
            };
            let data = r.data.map(|d| serde_json::from_str(&d).unwrap());
            (name, (record, data))
        })
        .collect()
}

async fn list_results(server: &TestServer, parent: &str) -> Vec<pb::Result> {
    let mut client = server.grpc().await;
    let (mut all, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_results(pb::ListResultsRequest {
                parent: parent.into(),
                page_size: 100,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.results);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
}

async fn list_records(server: &TestServer, parent: &str) -> Vec<pb::Record> {
    let mut client = server.grpc().await;
    let (mut all, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_records(pb::ListRecordsRequest {
                parent: parent.into(),
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.records);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
}

/// A record as compared: the document parsed, and for Log Records whose bytes were copied
/// the fields that now describe our copy set aside (checked on their own).
fn comparable(record: &pb::Record) -> (pb::Record, Option<Value>) {
    let data = record.data.clone().unwrap_or_default();
    let mut json: Option<Value> =
        (!data.value.is_empty()).then(|| serde_json::from_slice(&data.value).unwrap());
    if data.r#type.ends_with(".Log") {
        if let Some(doc) = json.as_mut().filter(|d| d["status"]["parts"].is_array()) {
            for field in ["path", "size", "parts"] {
                doc["status"].as_object_mut().unwrap().remove(field);
            }
            doc["spec"]["type"] = Value::Null;
        }
    }
    let bare = pb::Record {
        data: Some(pb::Any {
            r#type: data.r#type,
            value: Vec::new(),
        }),
        ..record.clone()
    };
    (bare, json)
}

fn comparable_upstream(
    (record, data): &(pb::Record, Option<Value>),
    copied: bool,
) -> (pb::Record, Option<Value>) {
    let mut data = data.clone();
    if copied {
        let doc = data.as_mut().unwrap();
        for field in ["path", "size"] {
            doc["status"].as_object_mut().unwrap().remove(field);
        }
        doc["spec"]["type"] = Value::Null;
    }
    (record.clone(), data)
}

async fn get_log(server: &TestServer, name: &str) -> Result<Vec<u8>, tonic::Status> {
    let mut client = LogsClient::connect(format!("http://{}", server.grpc_addr()))
        .await
        .unwrap();
    let mut stream = client
        .get_log(pb::GetLogRequest { name: name.into() })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend(chunk?.data);
    }
    Ok(bytes)
}

fn assert_noted(notes: &Notes, kind: Kind, name: &str, fragment: &str) {
    assert!(
        notes
            .0
            .iter()
            .any(|(k, n, reason)| *k == kind && n == name && reason.contains(fragment)),
        "no {kind} note for {name} with {fragment:?}; notes: {:#?}",
        notes
            .0
            .iter()
            .filter(|(_, n, _)| n.starts_with("edge/"))
            .collect::<Vec<_>>()
    );
}

async fn imports_what_upstream_shows(backend: Backend) {
    let upstream = UpstreamDb::create();
    let logs = TempDir::new("upstream-logs");
    let seeded: Seeded = upstream.seed(300, 10, logs.path());
    let server = TestServer::start(backend);
    let args = ImportArgs {
        from: upstream.url().into(),
        logs: Some(LogSource::Dir(logs.path().into())),
        batch: 64,
    };
    let (report, notes) = run_import(server.settings(), args.clone()).await;

    // What cannot be kept is reported by name, with its reason; nothing else is skipped.
    for (name, reason) in &seeded.skipped_results {
        assert_noted(&notes, Kind::Result, name, reason);
    }
    for (name, reason) in &seeded.skipped_records {
        assert_noted(&notes, Kind::Record, name, reason);
    }
    for name in &seeded.logs_missing {
        assert_noted(&notes, Kind::Log, name, "no log at");
    }
    assert_eq!(
        report.results.skipped as usize,
        seeded.skipped_results.len()
    );
    assert_eq!(
        report.records.skipped as usize,
        seeded.skipped_records.len()
    );
    assert_eq!(report.logs_copied as usize, seeded.logs.len());
    assert_eq!(report.logs_not_copied as usize, seeded.logs_missing.len());
    assert_eq!((report.results.present, report.records.present), (0, 0));
    assert!(report.problems().is_empty(), "{:?}", report.problems());

    // Results: the listing over every namespace is what upstream shows, minus the skipped.
    let skipped_results: HashSet<&str> = seeded
        .skipped_results
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let mut expected = upstream_results(&upstream);
    expected.retain(|name, _| !skipped_results.contains(name.as_str()));
    assert!(expected.len() > 300);
    let listed: BTreeMap<String, pb::Result> = list_results(&server, "-")
        .await
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    assert_eq!(
        listed.len(),
        expected.len(),
        "no duplicates, nothing missing"
    );
    for (name, want) in &expected {
        assert_eq!(listed.get(name), Some(want), "{name}");
    }
    let empty = &seeded.empty_result;
    assert!(listed.contains_key(empty));

    // Records: over `-`, and per Result.
    let skipped_records: HashSet<&str> = seeded
        .skipped_records
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let copied: HashSet<&str> = seeded.logs.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = upstream_records(&upstream);
    expected.retain(|name, _| !skipped_records.contains(name.as_str()));
    assert!(expected.len() > 2500);
    let listed = list_records(&server, "-/results/-").await;
    assert_eq!(
        listed.len(),
        expected.len(),
        "no duplicates, nothing missing"
    );
    for record in &listed {
        let want = expected
            .get(&record.name)
            .unwrap_or_else(|| panic!("{} is not upstream", record.name));
        assert_eq!(
            comparable(record),
            comparable_upstream(want, copied.contains(record.name.as_str()))
        );
    }
    for result in [
        "ci/results/run-00003",
        "prod/results/run-00004",
        &format!("prod/results/{}", "r".repeat(63)),
        empty,
    ] {
        let per_result = list_records(&server, result).await;
        let want = expected
            .keys()
            .filter(|n| n.starts_with(&format!("{result}/records/")))
            .count();
        assert_eq!(per_result.len(), want, "{result}");
    }
    let mut client = server.grpc().await;
    let long = format!("prod/results/{}/records/{}", "r".repeat(63), "x".repeat(63));
    let got = client
        .get_record(pb::GetRecordRequest { name: long.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        comparable(&got),
        comparable_upstream(&expected[&long], false)
    );

    // Logs: the bytes, by the Log Record's name and by the run's; a copied Log Record
    // describes our copy; a missing one stays as upstream had it and has no bytes.
    for (name, bytes) in &seeded.logs {
        let log = name.replace("/records/", "/logs/");
        assert_eq!(&get_log(&server, &log).await.unwrap(), bytes, "{log}");
        let run = log.trim_end_matches("-log");
        assert_eq!(&get_log(&server, run).await.unwrap(), bytes, "{run}");
        let record = client
            .get_record(pb::GetRecordRequest { name: name.clone() })
            .await
            .unwrap()
            .into_inner();
        let doc: Value = serde_json::from_slice(&record.data.unwrap().value).unwrap();
        let short = name.rsplit('/').next().unwrap();
        assert_eq!(doc["status"]["path"], format!("logs/edge/logs/{short}"));
        assert_eq!(doc["status"]["size"], bytes.len());
        assert_eq!(doc["status"]["isStored"], true);
    }
    for name in &seeded.logs_missing {
        let status = get_log(&server, &name.replace("/records/", "/logs/"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{name}");
    }

    // Again: everything is here already; nothing changes, nothing is duplicated.
    let before = (
        list_results(&server, "-").await,
        list_records(&server, "-/results/-").await,
    );
    let (again, _) = run_import(server.settings(), args).await;
    assert_eq!(
        (
            again.results.imported,
            again.records.imported,
            again.logs_copied
        ),
        (0, 0, 0)
    );
    assert_eq!(again.results.present, report.results.imported);
    assert_eq!(again.records.present, report.records.imported);
    assert_eq!(again.ours, report.ours);
    let after = (
        list_results(&server, "-").await,
        list_records(&server, "-/results/-").await,
    );
    assert_eq!(before, after);
}

backend_tests!(imports_what_upstream_shows);

/// Upstream's logs in an S3 bucket (key `<LOGS_PATH>/<status.path>`, here `/logs/…`) are
/// copied into our store like those in a directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_logs_from_an_s3_bucket() {
    const BUCKET: &str = "upstream-logs";
    let upstream = UpstreamDb::create();
    let root = TempDir::new("upstream-s3");
    let seeded = upstream.seed(30, 3, &root.path().join(BUCKET).join("logs"));
    let s3 = S3Server::start(root.path(), BUCKET).await;
    let server = TestServer::start(Backend::Sqlite);
    let args = ImportArgs {
        from: upstream.url().into(),
        logs: Some(LogSource::S3 {
            bucket: BUCKET.into(),
            endpoint: s3.endpoint(),
            region: "us-east-1".into(),
            prefix: "/logs".into(),
            allow_http: true,
        }),
        batch: 500,
    };
    let env = [
        (S3_KEY_VARS.0.to_owned(), s3_server::ACCESS_KEY.to_owned()),
        (S3_KEY_VARS.1.to_owned(), s3_server::SECRET_KEY.to_owned()),
    ];
    let (report, notes) = run_import_with(server.settings(), args, env.into_iter().collect()).await;
    assert_eq!(report.logs_copied as usize, seeded.logs.len());
    for name in &seeded.logs_missing {
        assert_noted(&notes, Kind::Log, name, "no log at");
    }
    for (name, bytes) in &seeded.logs {
        let log = name.replace("/records/", "/logs/");
        assert_eq!(&get_log(&server, &log).await.unwrap(), bytes, "{log}");
    }
}
