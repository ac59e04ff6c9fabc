//! The Logs service end to end on every backend and both blob stores (a directory, and an
//! S3-compatible server on loopback): uploads streamed in
//! chunks, downloads by the Log Record's name and by the run's Record name (what
//! `tkn-results taskrun logs` sends), replacement, interrupted uploads changing nothing,
//! step parts, a PipelineRun's log made of its TaskRuns' in start order, deletes that take
//! the bytes with them, and the REST routes.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use integration::secured::TempDir;
use integration::{backend_tests, Backend, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_grpc::settings::LogStoreKind;
use results_storage::testing::s3::{self as s3_server, S3Server};
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::Code;

const NS: &str = "ci";
const BUCKET: &str = "results-logs";

/// Where the server under test keeps log bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Store {
    Filesystem,
    S3,
}

/// A server, and the S3 server it keeps logs in (S3 store).
struct LogServer {
    api: TestServer,
    s3: Option<(S3Server, TempDir)>,
}

impl std::ops::Deref for LogServer {
    type Target = TestServer;

    fn deref(&self) -> &TestServer {
        &self.api
    }
}

impl LogServer {
    async fn start(backend: Backend, store: Store) -> LogServer {
        Self::start_with(backend, store, |_| {}).await
    }

    async fn start_with(
        backend: Backend,
        store: Store,
        adjust: impl FnOnce(&mut results_grpc::settings::Settings),
    ) -> LogServer {
        let s3 = match store {
            Store::Filesystem => None,
            Store::S3 => {
                let root = TempDir::new("s3-logs");
                Some((S3Server::start(root.path(), BUCKET).await, root))
            }
        };
        let api = TestServer::start_with(backend, |settings| {
            if let Some((server, _)) = &s3 {
                let logs = &mut settings.logs;
                logs.store = LogStoreKind::S3;
                logs.s3_bucket = BUCKET.into();
                logs.s3_endpoint = server.endpoint();
                logs.s3_region = "us-east-1".into();
                logs.s3_access_key_id = s3_server::ACCESS_KEY.into();
                logs.s3_secret_access_key = s3_server::SECRET_KEY.into();
                logs.s3_allow_http = true;
                logs.s3_prefix = "tekton".into();
            }
            adjust(settings);
        });
        LogServer { api, s3 }
    }

    /// The blobs stored, by key relative to the store's root (the bucket's prefix).
    fn files(&self) -> Vec<String> {
        match &self.s3 {
            None => files_under(Path::new(&self.api.settings().logs.dir)),
            Some((server, _)) => files_under(&server.root.join(BUCKET).join("tekton")),
        }
    }
}

async fn logs(server: &LogServer) -> LogsClient<Channel> {
    LogsClient::connect(format!("http://{}", server.grpc_addr()))
        .await
        .unwrap()
        .max_decoding_message_size(64 << 20)
}

async fn create_run(server: &LogServer, result: &str, uid: &str, kind: &str, started: &str) {
    let mut grpc = server.grpc().await;
    let _ = grpc
        .create_result(pb::CreateResultRequest {
            parent: NS.into(),
            result: Some(pb::Result {
                name: format!("{NS}/results/{result}"),
                ..Default::default()
            }),
        })
        .await;
    let document = json!({
        "apiVersion": "tekton.dev/v1",
        "kind": kind,
        "metadata": {"name": format!("{kind}-{uid}").to_lowercase(), "namespace": NS, "uid": uid},
        "status": {"startTime": started},
    });
    grpc.create_record(pb::CreateRecordRequest {
        parent: format!("{NS}/results/{result}"),
        record: Some(pb::Record {
            name: format!("{NS}/results/{result}/records/{uid}"),
            data: Some(pb::Any {
                r#type: format!("tekton.dev/v1.{kind}"),
                value: serde_json::to_vec(&document).unwrap(),
            }),
            ..Default::default()
        }),
    })
    .await
    .expect("create the run's record");
}

/// Uploads `content` as the log `name` in chunks of `chunk` bytes.
async fn upload(server: &LogServer, name: &str, content: &[u8], chunk: usize) -> pb::LogSummary {
    let messages: Vec<pb::Log> = content
        .chunks(chunk)
        .enumerate()
        .map(|(i, data)| pb::Log {
            // Later messages may leave the name out.
            name: if i == 0 {
                name.to_owned()
            } else {
                String::new()
            },
            data: data.to_vec(),
        })
        .collect();
    logs(server)
        .await
        .update_log(futures::stream::iter(messages))
        .await
        .unwrap_or_else(|s| panic!("UpdateLog {name}: {s}"))
        .into_inner()
}

async fn download(server: &LogServer, name: &str) -> Result<Vec<u8>, tonic::Status> {
    let mut stream = logs(server)
        .await
        .get_log(pb::GetLogRequest { name: name.into() })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        assert_eq!(chunk.content_type, "text/plain");
        assert!(
            chunk.data.len() <= 64 << 10,
            "a chunk of {} bytes",
            chunk.data.len()
        );
        bytes.extend_from_slice(&chunk.data);
    }
    Ok(bytes)
}

fn text(lines: usize, tag: &str) -> Vec<u8> {
    (0..lines)
        .map(|i| format!("{tag} line {i}: the quick brown fox\n"))
        .collect::<String>()
        .into_bytes()
}

/// The files under `root`, relative to it (hidden ones left out).
fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, found);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if !name.split('/').any(|s| s.starts_with('.')) {
                    found.push(name);
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(root, root, &mut found);
    found.sort();
    found
}

async fn a_log_round_trips_by_either_name(backend: Backend, store: Store) {
    let server = LogServer::start(backend, store).await;
    create_run(&server, "r", "tr-1", "TaskRun", "2026-01-01T00:00:00Z").await;
    let content = text(20_000, "build");
    let summary = upload(
        &server,
        &format!("{NS}/results/r/logs/tr-1"),
        &content,
        10_000,
    )
    .await;
    assert_eq!(summary.bytes_received, content.len() as i64);
    assert_eq!(summary.record, format!("{NS}/results/r/records/tr-1-log"));

    // By the run's Record (what the CLI sends) and by the Log Record.
    assert_eq!(
        download(&server, &format!("{NS}/results/r/logs/tr-1"))
            .await
            .unwrap(),
        content
    );
    assert_eq!(
        download(&server, &format!("{NS}/results/r/logs/tr-1-log"))
            .await
            .unwrap(),
        content
    );

    // The Log Record keeps upstream's shape.
    let listed = logs(&server)
        .await
        .list_logs(pb::ListRecordsRequest {
            parent: format!("{NS}/results/-"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let data = listed[0].data.as_ref().unwrap();
    assert_eq!(data.r#type, "results.tekton.dev/v1alpha3.Log");
    let doc: Value = serde_json::from_slice(&data.value).unwrap();
    assert_eq!(doc["kind"], "Log");
    assert_eq!(doc["spec"]["resource"]["kind"], "TaskRun");
    assert_eq!(doc["spec"]["resource"]["uid"], "tr-1");
    assert_eq!(doc["status"]["isStored"], true);
    assert_eq!(doc["status"]["size"], content.len());
    // A filter narrows the Log Records; it cannot widen the listing to other Records.
    for (filter, expected) in [
        ("data.status.size > 0", Ok(1)),
        ("data.status.size < 0", Ok(0)),
    ] {
        let answer = logs(&server)
            .await
            .list_logs(pb::ListRecordsRequest {
                parent: format!("{NS}/results/-"),
                filter: filter.into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().records.len());
        assert_eq!(answer.map_err(|s| s.code()), expected, "{filter}");
    }
    let widened = logs(&server)
        .await
        .list_logs(pb::ListRecordsRequest {
            parent: format!("{NS}/results/-"),
            filter: "true) || (true".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(widened.code(), Code::InvalidArgument, "{widened:?}");
    // Every name ListLogs returns works in GetLog (upstream #514).
    let listed_name = listed[0].name.replace("/records/", "/logs/");
    assert_eq!(download(&server, &listed_name).await.unwrap(), content);

    // A re-upload replaces the log.
    let second = text(10, "again");
    upload(&server, &format!("{NS}/results/r/logs/tr-1"), &second, 100).await;
    assert_eq!(
        download(&server, &format!("{NS}/results/r/logs/tr-1"))
            .await
            .unwrap(),
        second
    );

    // Nothing stored, or no such record: NOT_FOUND.
    create_run(&server, "r", "tr-2", "TaskRun", "2026-01-01T00:00:01Z").await;
    for missing in ["tr-2", "nobody"] {
        let status = download(&server, &format!("{NS}/results/r/logs/{missing}"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{missing}: {status:?}");
    }
}

async fn an_interrupted_upload_changes_nothing(backend: Backend, store: Store) {
    let server = LogServer::start(backend, store).await;
    create_run(&server, "r", "tr-1", "TaskRun", "2026-01-01T00:00:00Z").await;
    let name = format!("{NS}/results/r/logs/tr-1");
    let first = text(1000, "first");
    upload(&server, &name, &first, 4096).await;

    // A client that sends part of a log and cancels the call (its connection stays up:
    // the server sees RST_STREAM CANCEL, which tonic ends a stream with as if it were done).
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::Log>(4);
    let connection = logs(&server).await;
    let mut client = connection.clone();
    let call = tokio::spawn(async move {
        client
            .update_log(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    for i in 0..3 {
        tx.send(pb::Log {
            name: name.clone(),
            data: format!("half-written chunk {i}\n").into_bytes(),
        })
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    call.abort();
    let _ = call.await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        download(&server, &name).await.unwrap(),
        first,
        "the earlier log stands"
    );
    // Only now may the request body end: hyper keeps sending a cancelled call's body in
    // its own task, and a body that ends is a finished upload (END_STREAM), whatever the
    // client did with the call's answer (dropping `tx` before the check made this test
    // depend on which of the reset and the end reached the server first).
    drop(tx);

    // Two logs in one call are refused, and nothing changes.
    let mixed = vec![
        pb::Log {
            name: name.clone(),
            data: b"a".to_vec(),
        },
        pb::Log {
            name: format!("{NS}/results/r/logs/other"),
            data: b"b".to_vec(),
        },
    ];
    let status = logs(&server)
        .await
        .update_log(futures::stream::iter(mixed))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(download(&server, &name).await.unwrap(), first);
    // No temporary file is left behind either.
    assert_eq!(server.files(), [format!("logs/{NS}/r/tr-1-log/_log")]);
}

async fn step_parts_and_pipeline_runs(backend: Backend, store: Store) {
    let server = LogServer::start(backend, store).await;
    create_run(&server, "p", "pr-1", "PipelineRun", "2026-01-01T00:00:00Z").await;
    // The second TaskRun started first.
    create_run(&server, "p", "tr-b", "TaskRun", "2026-01-01T00:00:05Z").await;
    create_run(&server, "p", "tr-a", "TaskRun", "2026-01-01T00:00:02Z").await;
    for (run, step, body) in [
        ("tr-b", "step-test", "testing\n"),
        ("tr-a", "step-clone", "cloning\n"),
        ("tr-a", "step-build", "building\n"),
    ] {
        upload(
            &server,
            &format!("{NS}/results/p/logs/{run}/{step}"),
            body.as_bytes(),
            3,
        )
        .await;
    }
    let one = download(&server, &format!("{NS}/results/p/logs/tr-a/step-build"))
        .await
        .unwrap();
    assert_eq!(one, b"building\n", "one step on its own (upstream #535)");
    let task = String::from_utf8(
        download(&server, &format!("{NS}/results/p/logs/tr-a"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        task,
        "--- step-clone ---\ncloning\n--- step-build ---\nbuilding\n"
    );
    let pipeline = String::from_utf8(
        download(&server, &format!("{NS}/results/p/logs/pr-1"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pipeline,
        "--- taskrun-tr-a / step-clone ---\ncloning\n--- taskrun-tr-a / step-build ---\nbuilding\n\
         --- taskrun-tr-b / step-test ---\ntesting\n",
        "the TaskRuns' logs in the order they started (upstream #1180)"
    );

    // Deleting one part, then a TaskRun's Record, then the Result: the bytes go too.
    logs(&server)
        .await
        .delete_log(pb::DeleteLogRequest {
            name: format!("{NS}/results/p/logs/tr-a/step-clone"),
        })
        .await
        .unwrap();
    assert_eq!(
        download(&server, &format!("{NS}/results/p/logs/tr-a"))
            .await
            .unwrap(),
        b"building\n"
    );
    let mut grpc = server.grpc().await;
    grpc.delete_record(pb::DeleteRecordRequest {
        name: format!("{NS}/results/p/records/tr-a"),
    })
    .await
    .unwrap();
    assert_eq!(server.files(), [format!("logs/{NS}/p/tr-b-log/step-test")]);
    let gone = grpc
        .get_record(pb::GetRecordRequest {
            name: format!("{NS}/results/p/records/tr-a-log"),
        })
        .await
        .unwrap_err();
    assert_eq!(
        gone.code(),
        Code::NotFound,
        "the run's Log Record went with it"
    );
    grpc.delete_result(pb::DeleteResultRequest {
        name: format!("{NS}/results/p"),
    })
    .await
    .unwrap();
    assert!(server.files().is_empty(), "{:?}", server.files());
}

async fn rest_streams_logs(backend: Backend, store: Store) {
    let server = LogServer::start(backend, store).await;
    create_run(&server, "r", "tr-1", "TaskRun", "2026-01-01T00:00:00Z").await;
    let content = text(5_000, "rest");
    upload(
        &server,
        &format!("{NS}/results/r/logs/tr-1"),
        &content,
        8192,
    )
    .await;
    let (status, body) = server
        .rest()
        .get_text(&format!("/parents/{NS}/results/r/logs/tr-1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_bytes(), &content[..]);
    let (status, listed) = server
        .rest()
        .api("GET", &format!("/parents/{NS}/results/r/logs"), None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["records"].as_array().unwrap().len(), 1, "{listed}");
    let (status, _) = server
        .rest()
        .api(
            "DELETE",
            &format!("/parents/{NS}/results/r/logs/tr-1"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .rest()
        .get_text(&format!("/parents/{NS}/results/r/logs/tr-1"))
        .await;
    assert_eq!(status, 404);
    assert!(server.files().is_empty());
}

/// A log larger than the server's whole budget for bytes in flight is answered over REST
/// as a stream, never gathered in memory first (which the budget would refuse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_downloads_stream_past_the_byte_budget() {
    let server = LogServer::start_with(Backend::Sqlite, Store::Filesystem, |s| {
        s.server.max_message_bytes = 1 << 20;
        s.server.max_inflight_bytes = 2 << 20;
        s.actors.timeout_secs = 1;
    })
    .await;
    create_run(&server, "r", "tr-1", "TaskRun", "2026-01-01T00:00:00Z").await;
    let content = text(200_000, "big");
    assert!(content.len() > 4 << 20, "{}", content.len());
    upload(
        &server,
        &format!("{NS}/results/r/logs/tr-1"),
        &content,
        64 << 10,
    )
    .await;
    let (status, body) = server
        .rest()
        .get_text(&format!("/parents/{NS}/results/r/logs/tr-1"))
        .await;
    assert_eq!(status, 200, "{}", &body[..body.len().min(300)]);
    assert!(body.as_bytes() == &content[..], "{} bytes back", body.len());
}

/// Creates the Record `record` in Result `r` with `type_` and `document`.
async fn create_record(server: &LogServer, record: &str, type_: &str, document: &Value) {
    server
        .grpc()
        .await
        .create_record(pb::CreateRecordRequest {
            parent: format!("{NS}/results/r"),
            record: Some(pb::Record {
                name: format!("{NS}/results/r/records/{record}"),
                data: Some(pb::Any {
                    r#type: type_.into(),
                    value: serde_json::to_vec(document).unwrap(),
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("create {record}: {s}"));
}

/// The stored type and document of Record `record` in Result `r`.
async fn stored(server: &LogServer, record: &str) -> Result<(String, Value), Code> {
    let record = server
        .grpc()
        .await
        .get_record(pb::GetRecordRequest {
            name: format!("{NS}/results/r/records/{record}"),
        })
        .await
        .map_err(|s| s.code())?
        .into_inner();
    let data = record.data.unwrap();
    Ok((data.r#type, serde_json::from_slice(&data.value).unwrap()))
}

/// A client's own Record under the name this server gives a run's log (`<run>-log`) is
/// not that log: reading, uploading or deleting the run's log, and deleting the run,
/// leave it as it is and answer clear errors; a Record of the Log type whose document is
/// not a Log answers FAILED_PRECONDITION, not INTERNAL.
async fn client_records_named_like_logs_are_left_alone(backend: Backend) {
    let server = LogServer::start(backend, Store::Filesystem).await;
    create_run(&server, "r", "tr-1", "TaskRun", "2026-01-01T00:00:00Z").await;
    let precious = json!({"precious": true});
    create_record(&server, "tr-1-log", "example.com/Notes", &precious).await;
    let untouched = Ok(("example.com/Notes".to_owned(), precious.clone()));
    let log = format!("{NS}/results/r/logs/tr-1");

    let read = download(&server, &log).await.unwrap_err();
    assert_eq!(read.code(), Code::NotFound, "{read:?}");
    let refused = logs(&server)
        .await
        .update_log(futures::stream::iter(vec![pb::Log {
            name: log.clone(),
            data: b"a line\n".to_vec(),
        }]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("not a Log Record"),
        "{refused:?}"
    );
    assert_eq!(server.files(), Vec::<String>::new(), "no byte stored");
    let deleted = logs(&server)
        .await
        .delete_log(pb::DeleteLogRequest { name: log.clone() })
        .await
        .unwrap_err();
    assert_eq!(deleted.code(), Code::NotFound, "{deleted:?}");
    assert_eq!(stored(&server, "tr-1-log").await, untouched);

    // Deleting the run deletes its log, not a client's Record under the log's name.
    server
        .grpc()
        .await
        .delete_record(pb::DeleteRecordRequest {
            name: format!("{NS}/results/r/records/tr-1"),
        })
        .await
        .expect("delete the run");
    assert_eq!(stored(&server, "tr-1").await, Err(Code::NotFound));
    assert_eq!(stored(&server, "tr-1-log").await, untouched);

    // A Record of the Log type that is not a Log document.
    create_run(&server, "r", "tr-2", "TaskRun", "2026-01-01T00:00:00Z").await;
    let odd = json!({"not": "a log"});
    create_record(&server, "tr-2-log", "results.tekton.dev/v1alpha3.Log", &odd).await;
    for name in ["tr-2", "tr-2-log"] {
        let read = download(&server, &format!("{NS}/results/r/logs/{name}"))
            .await
            .unwrap_err();
        assert_eq!(read.code(), Code::FailedPrecondition, "{name}: {read:?}");
        assert!(read.message().contains("not a Log document"), "{read:?}");
    }
    assert_eq!(
        stored(&server, "tr-2-log").await,
        Ok(("results.tekton.dev/v1alpha3.Log".to_owned(), odd))
    );
}

backend_tests!(client_records_named_like_logs_are_left_alone);

/// One test per store for each test function taking a backend and a store.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod filesystem {
            use super::*;
            $(async fn $name(backend: Backend) { super::$name(backend, Store::Filesystem).await })*
            backend_tests!($($name),*);
        }
        mod s3 {
            use super::*;
            $(async fn $name(backend: Backend) { super::$name(backend, Store::S3).await })*
            backend_tests!($($name),*);
        }
    };
}

on_both_stores!(
    a_log_round_trips_by_either_name,
    an_interrupted_upload_changes_nothing,
    step_parts_and_pipeline_runs,
    rest_streams_logs,
);
