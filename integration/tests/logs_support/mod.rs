//! Shared by the watcher log tests: a recording Logs test double in front of a real
//! `results-api`, a cluster (API, fake Kubernetes, watcher) and TaskRun fixtures.
#![allow(dead_code)]

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
use results_watcher::run::{
    FINALIZER, LOG_STORED_ANNOTATION, RECORD_ANNOTATION, STORED_ANNOTATION,
};
use results_watcher::settings::Settings;
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status, Streaming};

pub const NS: &str = "ci";
pub const V1: &str = "tekton.dev/v1";
pub const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// The test double: records UpdateLog, forwards the watcher's Results calls.
// ---------------------------------------------------------------------------------------

/// FNV-1a, 64 bits: a digest of a log received in pieces, whatever the pieces.
pub fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x100_0000_01b3);
    }
    hash
}

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The digest of the generated log of `size` bytes.
pub fn generated_digest(size: u64) -> u64 {
    GeneratedLog::new(size)
        .chunks(1 << 20)
        .fold(FNV_START, |hash, chunk| fnv(hash, &chunk))
}

/// Bytes of each log the double keeps (the rest is only counted and digested).
pub const KEEP: usize = 1 << 20;

/// One log as the double received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub name: String,
    pub bytes: u64,
    pub digest: u64,
    pub messages: usize,
    pub largest_message: usize,
    /// The first [`KEEP`] bytes.
    pub head: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8(self.head.clone()).expect("a text log")
    }
}

#[derive(Default)]
pub struct DoubleState {
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
pub struct Double {
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
pub struct LogsDouble {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<DoubleState>>,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl LogsDouble {
    pub async fn start(upstream: SocketAddr) -> LogsDouble {
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

    pub fn fail(&self, code: Option<Code>) {
        self.state.lock().unwrap().fail = code;
    }

    pub fn log(&self, name: &str) -> Option<Received> {
        self.state.lock().unwrap().logs.get(name).cloned()
    }

    pub fn uploads(&self) -> Vec<String> {
        self.state.lock().unwrap().uploads.clone()
    }

    pub fn refused(&self) -> usize {
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
pub struct Cluster {
    pub api: TestServer,
    pub kube: FakeKube,
    pub double: Option<LogsDouble>,
    pub watcher: WatcherThread,
}

impl Cluster {
    /// The watcher talks to the double, which forwards Results calls to the API.
    pub async fn with_double(adjust: impl FnOnce(&mut Settings)) -> Cluster {
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

    /// Stops the watcher and starts a new one (nothing remembered) with default test
    /// settings, talking to the double if there is one.
    pub fn restart_watcher(&mut self) {
        self.watcher.stop();
        let addr = self
            .double
            .as_ref()
            .map_or(self.api.grpc_addr(), |d| d.addr);
        self.watcher = WatcherThread::start(watcher_settings(addr), &self.kube.url());
    }

    /// The watcher talks to the real API.
    pub fn with_server(adjust: impl FnOnce(&mut Settings)) -> Cluster {
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

    pub fn double(&self) -> &LogsDouble {
        self.double.as_ref().expect("a cluster with the double")
    }

    pub async fn wait_task_run(
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
    pub async fn wait_logs_stored(&self, name: &str) -> Value {
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

    pub async fn logs_client(&self) -> LogsClient<Channel> {
        LogsClient::connect(format!("http://{}", self.api.grpc_addr()))
            .await
            .expect("connect to gRPC")
    }

    /// The body GetLog streams for `name`, or its error.
    pub async fn get_log(&self, name: &str) -> Result<Vec<u8>, Status> {
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

pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

pub fn has_finalizer(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

pub fn uid(object: &Value) -> String {
    object["metadata"]["uid"].as_str().unwrap().to_owned()
}

pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// A finished TaskRun `name` (pod `<name>-pod`) whose steps run in `containers`, created
/// as a child of `owner` if given.
pub fn finished_task_run(name: &str, containers: &[&str], owner: Option<&Value>) -> Value {
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
pub fn log_name(stored: &Value, container: &str) -> String {
    let record = annotation(stored, RECORD_ANNOTATION).unwrap();
    let (result, record) = record.split_once("/records/").unwrap();
    format!("{result}/logs/{record}/{container}")
}

/// Polls `check` until it holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
