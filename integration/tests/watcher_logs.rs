//! End to end: the real watcher uploads the step logs of finished TaskRuns, read from the
//! fake Kubernetes API's `pods/log`, before it releases their finalizer (SPEC §7, §9,
//! issue 12).
//!
//! The wire protocol: each step is one `UpdateLog` stream named
//! `<parent>/results/<result>/logs/<taskrun-record>/<container>`, every message carrying
//! the name, data in chunks of at most 64 KiB; a re-upload replaces; the answer's
//! `bytes_received` counts the data.
//!
//! Two set-ups:
//! - runnable now: the watcher talks to a test double that records `UpdateLog` calls and
//!   forwards the Results calls the watcher makes to a real `results-api`;
//! - `#[ignore]`d until the server's Logs service exists: the watcher against the real
//!   server, and the logs read back with `GetLog`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration::fake_kube::GeneratedLog;
use integration::tekton;
use integration::{watcher_settings, FakeKube, TestServer, WatcherThread};
use results_grpc::pb::google::api::HttpBody;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_grpc::pb::v1alpha2::logs_server::{Logs, LogsServer};
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use results_grpc::pb::v1alpha2::results_server::{Results, ResultsServer};
use results_storage::Backend;
use results_watcher::logs::CHUNK_BYTES;
use results_watcher::run::{
    FINALIZER, LOG_STORED_ANNOTATION, RECORD_ANNOTATION, STORED_ANNOTATION,
};
use results_watcher::settings::Settings;
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status, Streaming};

const NS: &str = "ci";
const V1: &str = "tekton.dev/v1";
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// The test double: records UpdateLog, forwards the watcher's Results calls.
// ---------------------------------------------------------------------------------------

/// FNV-1a, 64 bits: a digest of a log received in pieces, whatever the pieces.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x100_0000_01b3);
    }
    hash
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The digest of the generated log of `size` bytes.
fn generated_digest(size: u64) -> u64 {
    GeneratedLog::new(size)
        .chunks(1 << 20)
        .fold(FNV_START, |hash, chunk| fnv(hash, &chunk))
}

/// Bytes of each log the double keeps (the rest is only counted and digested).
const KEEP: usize = 1 << 20;

/// One log as the double received it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    bytes: u64,
    digest: u64,
    messages: usize,
    largest_message: usize,
    /// The first [`KEEP`] bytes.
    head: Vec<u8>,
}

impl Received {
    fn text(&self) -> String {
        String::from_utf8(self.head.clone()).expect("a text log")
    }
}

#[derive(Default)]
struct DoubleState {
    /// The last complete upload of each name.
    logs: HashMap<String, Received>,
    /// Names of the completed uploads, in order.
    uploads: Vec<String>,
    /// UpdateLog calls refused.
    refused: usize,
    /// While set, UpdateLog answers this code.
    fail: Option<Code>,
}

#[derive(Clone)]
struct Double {
    state: Arc<Mutex<DoubleState>>,
    upstream: ResultsClient<Channel>,
}

#[tonic::async_trait]
impl Logs for Double {
    type GetLogStream = futures::stream::Empty<Result<HttpBody, Status>>;

    async fn get_log(
        &self,
        _: Request<pb::GetLogRequest>,
    ) -> Result<Response<Self::GetLogStream>, Status> {
        Err(Status::unimplemented(
            "the test double only records uploads",
        ))
    }

    async fn list_logs(
        &self,
        _: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        Err(Status::unimplemented(
            "the test double only records uploads",
        ))
    }

    async fn update_log(
        &self,
        request: Request<Streaming<pb::Log>>,
    ) -> Result<Response<pb::LogSummary>, Status> {
        {
            let mut state = self.state.lock().unwrap();
            if let Some(code) = state.fail {
                state.refused += 1;
                return Err(Status::new(code, "the test double refuses logs"));
            }
        }
        let mut stream = request.into_inner();
        let mut log = Received {
            name: String::new(),
            bytes: 0,
            digest: FNV_START,
            messages: 0,
            largest_message: 0,
            head: Vec::new(),
        };
        // An interrupted upload ends here with an error: nothing is recorded.
        while let Some(message) = stream.message().await? {
            if log.messages == 0 {
                log.name = message.name.clone();
            } else if message.name != log.name {
                return Err(Status::invalid_argument("every message must name the log"));
            }
            log.messages += 1;
            log.largest_message = log.largest_message.max(message.data.len());
            log.bytes += message.data.len() as u64;
            log.digest = fnv(log.digest, &message.data);
            let room = KEEP.saturating_sub(log.head.len()).min(message.data.len());
            log.head.extend_from_slice(&message.data[..room]);
        }
        let summary = pb::LogSummary {
            record: log.name.clone(),
            bytes_received: log.bytes as i64,
        };
        let mut state = self.state.lock().unwrap();
        state.uploads.push(log.name.clone());
        state.logs.insert(log.name.clone(), log);
        Ok(Response::new(summary))
    }

    async fn delete_log(&self, _: Request<pb::DeleteLogRequest>) -> Result<Response<()>, Status> {
        Err(Status::unimplemented(
            "the test double only records uploads",
        ))
    }
}

/// The Results calls the watcher makes, passed on to the real server.
#[tonic::async_trait]
impl Results for Double {
    async fn create_result(
        &self,
        request: Request<pb::CreateResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        self.upstream
            .clone()
            .create_result(request.into_inner())
            .await
    }

    async fn update_result(
        &self,
        request: Request<pb::UpdateResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        self.upstream
            .clone()
            .update_result(request.into_inner())
            .await
    }

    async fn get_result(
        &self,
        request: Request<pb::GetResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        self.upstream.clone().get_result(request.into_inner()).await
    }

    async fn delete_result(
        &self,
        _: Request<pb::DeleteResultRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not forwarded"))
    }

    async fn list_results(
        &self,
        _: Request<pb::ListResultsRequest>,
    ) -> Result<Response<pb::ListResultsResponse>, Status> {
        Err(Status::unimplemented("not forwarded"))
    }

    async fn create_record(
        &self,
        request: Request<pb::CreateRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        self.upstream
            .clone()
            .create_record(request.into_inner())
            .await
    }

    async fn update_record(
        &self,
        request: Request<pb::UpdateRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        self.upstream
            .clone()
            .update_record(request.into_inner())
            .await
    }

    async fn get_record(
        &self,
        request: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        self.upstream.clone().get_record(request.into_inner()).await
    }

    async fn list_records(
        &self,
        _: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        Err(Status::unimplemented("not forwarded"))
    }

    async fn delete_record(
        &self,
        _: Request<pb::DeleteRecordRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not forwarded"))
    }

    async fn get_record_list_summary(
        &self,
        _: Request<pb::RecordListSummaryRequest>,
    ) -> Result<Response<pb::RecordListSummary>, Status> {
        Err(Status::unimplemented("not forwarded"))
    }
}

/// The double on a loopback port; stopped on drop.
struct LogsDouble {
    addr: SocketAddr,
    state: Arc<Mutex<DoubleState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl LogsDouble {
    async fn start(upstream: SocketAddr) -> LogsDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Channel::from_shared(format!("http://{upstream}"))
            .unwrap()
            .connect_lazy();
        let double = Double {
            state: Arc::default(),
            upstream: ResultsClient::new(upstream),
        };
        let state = double.state.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(LogsServer::new(double.clone()))
                .add_service(ResultsServer::new(double))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                }),
        );
        LogsDouble {
            addr,
            state,
            stop: Some(stop),
        }
    }

    fn fail(&self, code: Option<Code>) {
        self.state.lock().unwrap().fail = code;
    }

    fn log(&self, name: &str) -> Option<Received> {
        self.state.lock().unwrap().logs.get(name).cloned()
    }

    fn uploads(&self) -> Vec<String> {
        self.state.lock().unwrap().uploads.clone()
    }

    fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }
}

impl Drop for LogsDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The cluster and fixtures.
// ---------------------------------------------------------------------------------------

/// The API, a fake Kubernetes, the double in front of the API (when used), a watcher.
struct Cluster {
    api: TestServer,
    kube: FakeKube,
    double: Option<LogsDouble>,
    watcher: WatcherThread,
}

impl Cluster {
    /// The watcher talks to the double, which forwards Results calls to the API.
    async fn with_double(adjust: impl FnOnce(&mut Settings)) -> Cluster {
        let api = TestServer::start(Backend::Sqlite);
        let kube = FakeKube::start();
        let double = LogsDouble::start(api.grpc_addr()).await;
        let mut settings = watcher_settings(double.addr);
        adjust(&mut settings);
        let watcher = WatcherThread::start(settings, &kube.url());
        Cluster {
            api,
            kube,
            double: Some(double),
            watcher,
        }
    }

    /// The watcher talks to the real API.
    fn with_server(adjust: impl FnOnce(&mut Settings)) -> Cluster {
        let api = TestServer::start(Backend::Sqlite);
        let kube = FakeKube::start();
        let mut settings = watcher_settings(api.grpc_addr());
        adjust(&mut settings);
        let watcher = WatcherThread::start(settings, &kube.url());
        Cluster {
            api,
            kube,
            double: None,
            watcher,
        }
    }

    fn double(&self) -> &LogsDouble {
        self.double.as_ref().expect("a cluster with the double")
    }

    async fn wait_task_run(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let found = self
            .kube
            .wait_for(V1, "taskruns", NS, name, WAIT, &done)
            .await;
        assert!(done(found.as_ref()), "taskruns/{name}: {what}");
        found
    }

    /// Waits until the TaskRun is stored, its logs marked stored and its finalizer gone.
    async fn wait_logs_stored(&self, name: &str) -> Value {
        self.wait_task_run(name, "logs stored and released", |o| {
            o.is_some_and(|o| {
                annotation(o, STORED_ANNOTATION) == Some("true")
                    && annotation(o, LOG_STORED_ANNOTATION) == Some("true")
                    && !has_finalizer(o)
            })
        })
        .await
        .unwrap()
    }

    async fn logs_client(&self) -> LogsClient<Channel> {
        LogsClient::connect(format!("http://{}", self.api.grpc_addr()))
            .await
            .expect("connect to gRPC")
    }

    /// The body GetLog streams for `name`, or its error.
    async fn get_log(&self, name: &str) -> Result<Vec<u8>, Status> {
        let request = pb::GetLogRequest { name: name.into() };
        let mut stream = self
            .logs_client()
            .await
            .get_log(request)
            .await?
            .into_inner();
        let mut body = Vec::new();
        while let Some(chunk) = stream.message().await? {
            body.extend_from_slice(&chunk.data);
        }
        Ok(body)
    }
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

fn has_finalizer(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

fn uid(object: &Value) -> String {
    object["metadata"]["uid"].as_str().unwrap().to_owned()
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// A finished TaskRun `name` (pod `<name>-pod`) whose steps run in `containers`, created
/// as a child of `owner` if given.
fn finished_task_run(name: &str, containers: &[&str], owner: Option<&Value>) -> Value {
    let mut tr = tekton::task_run(NS, name, owner);
    tekton::set_running(&mut tr, &now());
    tekton::set_finished(&mut tr, "True", "Succeeded", &now());
    let steps: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "name": c.trim_start_matches("step-"),
                "container": c,
                "terminated": {"exitCode": 0, "reason": "Completed"},
            })
        })
        .collect();
    tr["status"]["steps"] = json!(steps);
    tr
}

/// `<result>/logs/<record>/<container>` for a stored run.
fn log_name(stored: &Value, container: &str) -> String {
    let record = annotation(stored, RECORD_ANNOTATION).unwrap();
    let (result, record) = record.split_once("/records/").unwrap();
    format!("{result}/logs/{record}/{container}")
}

/// Polls `check` until it holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Against the double: runnable now.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_log_is_uploaded_under_its_name_before_the_finalizer_goes() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    kube.set_pod_log(NS, "unit-pod", "step-build", "compiling\nlinking\n");
    kube.set_pod_log(NS, "unit-pod", "step-test", "");
    kube.set_pod_log(NS, "unit-pod", "step.odd", "never asked for\n");
    // A running TaskRun is held; the finished one is released once its logs are up.
    let mut tr = tekton::task_run(NS, "unit", None);
    tekton::set_running(&mut tr, &now());
    let tr = kube.create(tr);
    cluster
        .wait_task_run("unit", "held while running", |o| {
            o.is_some_and(has_finalizer)
        })
        .await;
    assert!(
        cluster.double().uploads().is_empty(),
        "no logs while running"
    );
    let finished = finished_task_run("unit", &["step-build", "step-test", "step.odd"], None);
    kube.update(V1, "taskruns", NS, "unit", |o| {
        o["status"] = finished["status"].clone()
    });

    let stored = cluster.wait_logs_stored("unit").await;
    let build = log_name(&stored, "step-build");
    assert_eq!(
        build,
        format!("{NS}/results/{0}/logs/{0}/step-build", uid(&tr))
    );
    let double = cluster.double();
    let log = double.log(&build).expect("the build step's log");
    assert_eq!(log.text(), "compiling\nlinking\n");
    assert_eq!(log.messages, 1);
    let test = double
        .log(&log_name(&stored, "step-test"))
        .expect("an empty log is a log");
    assert_eq!((test.bytes, test.messages), (0, 1));
    // A container name that is no name segment is skipped.
    assert_eq!(double.uploads().len(), 2, "{:?}", double.uploads());

    // Asked with the cap (+1, to tell a cut log) for the API server to stop there too.
    let asked: Vec<_> = kube
        .pod_log_requests()
        .into_iter()
        .filter(|r| r.pod == "unit-pod")
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[0].query.contains("container=step-build"), "{asked:?}");
    assert!(
        asked[0]
            .query
            .contains(&format!("limitBytes={}", (64 << 20) + 1)),
        "{asked:?}"
    );

    let metrics = cluster.watcher.metrics();
    assert_eq!(metrics.logs_uploaded.load(Relaxed), 2);
    assert_eq!(metrics.log_bytes.load(Relaxed), 18);
    assert_eq!(metrics.log_failures.load(Relaxed), 0);
    let addr = cluster.watcher.metrics_addr().unwrap();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l == "results_watcher_logs_uploaded_total 2"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "results_watcher_log_bytes_total 18"),
        "{text}"
    );

    // Marked: later changes of the run do not upload its logs again.
    kube.update(V1, "taskruns", NS, "unit", |o| {
        o["metadata"]["labels"]["seen"] = json!("yes")
    });
    eventually("the change stored", || {
        metrics.stored.get(results_watcher::run::RunKind::TaskRun) >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(double.uploads().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_task_runs_upload_their_logs_and_the_pipeline_run_none() {
    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    let mut pr = tekton::pipeline_run(NS, "pipe");
    tekton::set_running(&mut pr, &now());
    let pr = kube.create(pr);
    for name in ["pipe-fetch", "pipe-build"] {
        kube.set_pod_log(
            NS,
            &format!("{name}-pod"),
            "step-build",
            format!("{name} says hi\n"),
        );
        kube.create(finished_task_run(name, &["step-build"], Some(&pr)));
    }
    kube.update(V1, "pipelineruns", NS, "pipe", |o| {
        tekton::set_finished(o, "True", "Succeeded", &now())
    });
    let pr_uid = uid(&pr);
    for name in ["pipe-fetch", "pipe-build"] {
        let stored = cluster.wait_logs_stored(name).await;
        let log = log_name(&stored, "step-build");
        // Under the PipelineRun's Result, named after the TaskRun's Record.
        assert_eq!(
            log,
            format!("{NS}/results/{pr_uid}/logs/{}/step-build", uid(&stored))
        );
        let received = cluster.double().log(&log).expect("uploaded");
        assert_eq!(received.text(), format!("{name} says hi\n"));
    }
    let pr = kube
        .wait_for(V1, "pipelineruns", NS, "pipe", WAIT, |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o))
        })
        .await
        .unwrap();
    assert_eq!(annotation(&pr, LOG_STORED_ANNOTATION), None);
    assert_eq!(cluster.double().uploads().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_logs_stream_in_chunks_and_are_cut_at_the_cap() {
    use std::sync::atomic::Ordering::Relaxed;

    const CAP: u64 = 3 << 20;
    let cluster = Cluster::with_double(|s| s.logs.max_bytes_per_step = CAP).await;
    let kube = &cluster.kube;
    let whole = CAP - 12_345;
    let over = 2 * CAP;
    kube.set_pod_log_generated(NS, "big-pod", "step-whole", whole);
    kube.set_pod_log_generated(NS, "big-pod", "step-over", over);
    kube.create(finished_task_run("big", &["step-whole", "step-over"], None));
    let stored = cluster.wait_logs_stored("big").await;

    let received = cluster
        .double()
        .log(&log_name(&stored, "step-whole"))
        .unwrap();
    assert_eq!(received.bytes, whole);
    assert_eq!(
        received.digest,
        generated_digest(whole),
        "the log as generated"
    );
    assert_eq!(received.largest_message, CHUNK_BYTES);
    assert_eq!(received.messages as u64, whole.div_ceil(CHUNK_BYTES as u64));

    let cut = cluster
        .double()
        .log(&log_name(&stored, "step-over"))
        .unwrap();
    let line = format!("\n[results-watcher: log truncated at {CAP} bytes]\n");
    assert_eq!(cut.bytes, CAP + line.len() as u64);
    let expected = GeneratedLog::new(CAP)
        .chunks(1 << 20)
        .fold(FNV_START, |hash, chunk| fnv(hash, &chunk));
    assert_eq!(
        cut.digest,
        fnv(expected, line.as_bytes()),
        "the first CAP bytes, then the line"
    );
    assert!(cut.largest_message <= CHUNK_BYTES);
    let metrics = cluster.watcher.metrics();
    assert_eq!(metrics.logs_truncated.load(Relaxed), 1);
    assert_eq!(metrics.log_bytes.load(Relaxed), whole + cut.bytes);
    // The API server was asked to stop at the cap too.
    let asked = kube.pod_log_requests();
    assert!(
        asked
            .iter()
            .all(|r| r.query.contains(&format!("limitBytes={}", CAP + 1))),
        "{asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_the_logs_service_holds_the_deleted_run_until_its_logs_are_up() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    cluster.double().fail(Some(Code::Unavailable));
    kube.set_pod_log(NS, "held-pod", "step-build", "built\n");
    let mut tr = tekton::task_run(NS, "held", None);
    tekton::set_running(&mut tr, &now());
    kube.create(tr);
    cluster
        .wait_task_run("held", "held while running", |o| {
            o.is_some_and(has_finalizer)
        })
        .await;
    let finished = finished_task_run("held", &["step-build"], None);
    kube.update(V1, "taskruns", NS, "held", |o| {
        o["status"] = finished["status"].clone()
    });
    kube.delete(V1, "taskruns", NS, "held");
    // Stored, but held: the logs could not go.
    let metrics = cluster.watcher.metrics();
    eventually("failed uploads", || metrics.log_failures.load(Relaxed) >= 2).await;
    let still = kube
        .get(V1, "taskruns", NS, "held")
        .expect("kept while its logs are not up");
    assert!(still["metadata"]["deletionTimestamp"].is_string());
    assert!(has_finalizer(&still));
    assert_eq!(annotation(&still, LOG_STORED_ANNOTATION), None);
    assert!(cluster.double().refused() >= 2, "retried");

    cluster.double().fail(None);
    cluster
        .wait_task_run("held", "gone once its logs are up", |o| o.is_none())
        .await;
    let names = cluster.double().uploads();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(cluster.double().log(&names[0]).unwrap().text(), "built\n");
    assert_eq!(
        metrics
            .released_deadline
            .get(results_watcher::run::RunKind::TaskRun),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_read_that_breaks_aborts_the_upload_rather_than_storing_half_and_retries() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    // More than a chunk arrives before the break: the upload is under way when it fails.
    kube.set_pod_log_broken(NS, "flaky-pod", "step-build", vec![b'x'; 3 * CHUNK_BYTES]);
    kube.create(finished_task_run("flaky", &["step-build"], None));
    let metrics = cluster.watcher.metrics();
    eventually("failed uploads", || metrics.log_failures.load(Relaxed) >= 2).await;
    let held = kube.get(V1, "taskruns", NS, "flaky").unwrap();
    assert!(has_finalizer(&held), "held while its log is not up");
    assert_eq!(annotation(&held, LOG_STORED_ANNOTATION), None);
    assert!(
        cluster.double().uploads().is_empty(),
        "a cut read must abort the upload, not end it: {:?}",
        cluster.double().uploads()
    );

    kube.set_pod_log(NS, "flaky-pod", "step-build", "whole at last\n");
    let stored = cluster.wait_logs_stored("flaky").await;
    let log = cluster
        .double()
        .log(&log_name(&stored, "step-build"))
        .unwrap();
    assert_eq!(log.text(), "whole at last\n");
    assert_eq!(cluster.double().uploads().len(), 1);
}

/// Why the watcher aborts uploads on the wire: a tonic server reads a dropped
/// client-streaming call (RST_STREAM CANCEL) as a complete stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_upload_looks_complete_to_a_tonic_server_and_an_aborted_one_does_not() {
    use results_watcher::client::ApiClient;
    use results_watcher::logs::Upload;

    let double = LogsDouble::start("127.0.0.1:1".parse().unwrap()).await;
    let name = "ci/results/r/logs/t/step-build";
    let half = pb::Log {
        name: name.into(),
        data: b"half".to_vec(),
    };
    let (more, rest) = tokio::sync::mpsc::channel::<pb::Log>(1);
    more.send(half.clone()).await.unwrap();
    let mut client = LogsClient::connect(format!("http://{}", double.addr))
        .await
        .unwrap();
    let call = tokio::spawn(async move {
        client
            .update_log(tokio_stream::wrappers::ReceiverStream::new(rest))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    eventually("the dropped upload ends on the server", || {
        !double.uploads().is_empty()
    })
    .await;
    assert_eq!(
        double.log(name).unwrap().text(),
        "half",
        "stored as if whole"
    );
    drop(more);

    let mut settings = watcher_settings(double.addr).api;
    settings.timeout_secs = 5;
    let api = ApiClient::new(&settings).unwrap();
    let uploads = futures::stream::iter([
        Upload::Chunk(pb::Log {
            name: "ci/results/r/logs/t/step-test".into(),
            data: b"half".to_vec(),
        }),
        Upload::Abort("the log read failed".into()),
    ]);
    let status = api.update_log(uploads).await.expect_err("aborted");
    assert_ne!(status.code(), Code::Ok);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        double.uploads().len(),
        1,
        "the aborted upload is not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_that_cannot_go_are_given_up_at_the_store_deadline() {
    let cluster = Cluster::with_double(|s| s.watcher.store_deadline_secs = 2).await;
    let kube = &cluster.kube;
    cluster.double().fail(Some(Code::Unavailable));
    kube.set_pod_log(NS, "late-pod", "step-build", "built\n");
    kube.create(finished_task_run("late", &["step-build"], None));
    cluster
        .wait_task_run("late", "stored and held for its logs", |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && has_finalizer(o))
        })
        .await;
    kube.delete(V1, "taskruns", NS, "late");
    let asked = std::time::Instant::now();
    cluster
        .wait_task_run("late", "released at the deadline", |o| o.is_none())
        .await;
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "released before the deadline"
    );
    let metrics = cluster.watcher.metrics();
    eventually("the deadline release counted", || {
        metrics
            .released_deadline
            .get(results_watcher::run::RunKind::TaskRun)
            == 1
    })
    .await;
    assert!(cluster.double().uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_without_logs_is_asked_once_and_holds_nothing() {
    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    cluster.double().fail(Some(Code::Unimplemented));
    let released = async |name: &str| {
        let stored = cluster
            .wait_task_run(name, "stored and released", |o| {
                o.is_some_and(|o| {
                    annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o)
                })
            })
            .await
            .unwrap();
        // Not marked: a later watcher against a server with logs may still upload them.
        assert_eq!(annotation(&stored, LOG_STORED_ANNOTATION), None);
    };
    kube.set_pod_log(NS, "old-a-pod", "step-build", "built\n");
    kube.create(finished_task_run("old-a", &["step-build"], None));
    released("old-a").await;
    assert_eq!(cluster.double().refused(), 1);
    // Later runs are not held for logs, and the API is not asked again for a while.
    for name in ["old-b", "old-c"] {
        kube.set_pod_log(NS, &format!("{name}-pod"), "step-build", "built\n");
        kube.create(finished_task_run(name, &["step-build"], None));
    }
    for name in ["old-b", "old-c"] {
        released(name).await;
    }
    assert_eq!(
        cluster.double().refused(),
        1,
        "asked once, then taken as not offered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_pod_has_no_logs_and_does_not_hold_its_run() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    // No pod logs set: the pod is gone (404).
    cluster.kube.create(finished_task_run(
        "pruned",
        &["step-build", "step-test"],
        None,
    ));
    let stored = cluster.wait_logs_stored("pruned").await;
    assert!(annotation(&stored, RECORD_ANNOTATION).is_some());
    assert!(cluster.double().uploads().is_empty());
    assert_eq!(cluster.watcher.metrics().logs_missing.load(Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_not_uploaded_when_disabled() {
    let cluster = Cluster::with_double(|s| s.logs.enabled = false).await;
    cluster
        .kube
        .set_pod_log(NS, "quiet-pod", "step-build", "built\n");
    cluster
        .kube
        .create(finished_task_run("quiet", &["step-build"], None));
    let stored = cluster
        .wait_task_run("quiet", "stored and released", |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o))
        })
        .await
        .unwrap();
    assert_eq!(annotation(&stored, LOG_STORED_ANNOTATION), None);
    assert!(cluster.kube.pod_log_requests().is_empty());
    assert!(cluster.double().uploads().is_empty());
}

// ---------------------------------------------------------------------------------------
// Against the real server: once its Logs service exists.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the server's Logs service (issue 12, in progress)"]
async fn step_logs_uploaded_by_the_watcher_are_served_by_get_log() {
    let cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    kube.set_pod_log(NS, "unit-pod", "step-build", "compiling\nlinking\n");
    kube.set_pod_log(NS, "unit-pod", "step-test", "ok 1\n");
    kube.create(finished_task_run(
        "unit",
        &["step-build", "step-test"],
        None,
    ));
    let stored = cluster.wait_logs_stored("unit").await;
    // One step on its own (#535).
    let build = cluster
        .get_log(&log_name(&stored, "step-build"))
        .await
        .unwrap();
    assert_eq!(build, b"compiling\nlinking\n");
    let test = cluster
        .get_log(&log_name(&stored, "step-test"))
        .await
        .unwrap();
    assert_eq!(test, b"ok 1\n");
    // By the TaskRun's Record name, as the CLI asks (records → logs): its steps in order.
    let record = annotation(&stored, RECORD_ANNOTATION).unwrap();
    let whole = cluster
        .get_log(&record.replace("/records/", "/logs/"))
        .await
        .unwrap();
    let whole = String::from_utf8(whole).unwrap();
    let (build_at, test_at) = (
        whole.find("compiling").unwrap(),
        whole.find("ok 1").unwrap(),
    );
    assert!(build_at < test_at, "steps in order: {whole:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the server's Logs service (issue 12, in progress)"]
async fn a_pipeline_runs_log_is_its_task_runs_logs_in_order() {
    let cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    let mut pr = tekton::pipeline_run(NS, "pipe");
    tekton::set_running(&mut pr, &now());
    let pr = kube.create(pr);
    for name in ["pipe-fetch", "pipe-build"] {
        kube.set_pod_log(
            NS,
            &format!("{name}-pod"),
            "step-build",
            format!("{name} says hi\n"),
        );
        let tr = kube.create(finished_task_run(name, &["step-build"], Some(&pr)));
        kube.update(V1, "pipelineruns", NS, "pipe", |o| {
            tekton::add_child_reference(o, &tr)
        });
    }
    kube.update(V1, "pipelineruns", NS, "pipe", |o| {
        tekton::set_finished(o, "True", "Succeeded", &now())
    });
    for name in ["pipe-fetch", "pipe-build"] {
        cluster.wait_logs_stored(name).await;
    }
    let pr_uid = uid(&pr);
    let whole = cluster
        .get_log(&format!("{NS}/results/{pr_uid}/logs/{pr_uid}"))
        .await
        .unwrap();
    let whole = String::from_utf8(whole).unwrap();
    let fetch = whole
        .find("pipe-fetch says hi")
        .expect("the first TaskRun's log");
    let build = whole
        .find("pipe-build says hi")
        .expect("the second TaskRun's log");
    assert!(fetch < build, "TaskRuns in order: {whole:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the server's Logs service (issue 12, in progress)"]
async fn a_big_step_log_round_trips_and_a_reupload_replaces_it() {
    const SIZE: u64 = 20 << 20;
    let cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    kube.set_pod_log_generated(NS, "big-pod", "step-build", SIZE);
    kube.create(finished_task_run("big", &["step-build"], None));
    let stored = cluster.wait_logs_stored("big").await;
    let name = log_name(&stored, "step-build");
    let request = pb::GetLogRequest { name: name.clone() };
    let mut stream = cluster
        .logs_client()
        .await
        .get_log(request)
        .await
        .unwrap()
        .into_inner();
    let (mut bytes, mut digest) = (0u64, FNV_START);
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes += chunk.data.len() as u64;
        digest = fnv(digest, &chunk.data);
    }
    assert_eq!(bytes, SIZE);
    assert_eq!(digest, generated_digest(SIZE));

    // The same name uploaded again (a retry) replaces the log.
    let again = pb::Log {
        name: name.clone(),
        data: b"replaced\n".to_vec(),
    };
    let summary = cluster
        .logs_client()
        .await
        .update_log(futures::stream::iter([again]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.bytes_received, 9);
    assert_eq!(cluster.get_log(&name).await.unwrap(), b"replaced\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the server's Logs service (issue 12, in progress)"]
async fn the_watcher_retries_logs_through_an_api_outage() {
    let mut cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    kube.set_pod_log(NS, "held-pod", "step-build", "built\n");
    let mut tr = tekton::task_run(NS, "held", None);
    tekton::set_running(&mut tr, &now());
    kube.create(tr);
    cluster
        .wait_task_run("held", "held while running", |o| {
            o.is_some_and(has_finalizer)
        })
        .await;
    cluster.api.stop();
    let finished = finished_task_run("held", &["step-build"], None);
    cluster.kube.update(V1, "taskruns", NS, "held", |o| {
        o["status"] = finished["status"].clone()
    });
    cluster.kube.delete(V1, "taskruns", NS, "held");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        cluster.kube.get(V1, "taskruns", NS, "held").is_some(),
        "held during the outage"
    );
    cluster.api.restart();
    let final_state = cluster
        .kube
        .wait_for(V1, "taskruns", NS, "held", WAIT, |o| o.is_none())
        .await;
    assert!(final_state.is_none());
    let record = cluster
        .api
        .grpc()
        .await
        .list_records(pb::ListRecordsRequest {
            parent: format!("{NS}/results/-"),
            filter: "data_type == \"tekton.dev/v1.TaskRun\"".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
        .pop()
        .expect("the TaskRun's Record");
    let log = format!("{}/step-build", record.name.replace("/records/", "/logs/"));
    assert_eq!(cluster.get_log(&log).await.unwrap(), b"built\n");
}
