//! A real `results-api` (same composition root as the binary) on loopback ports chosen by
//! the OS, running in its own thread with its own actix system.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::Context as _;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use results_grpc::pb::v1alpha2::watch_client::WatchClient;
use results_grpc::server::{open_database, serve, Listeners, ServeError};
use results_grpc::settings::Settings;
use serde_json::Value;
use tonic::metadata::{Ascii, MetadataKey, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::Status;

use results_storage::testing::TestDb;
use results_storage::Backend;

/// The composition root of `results-api` serving on its own thread, with its own actix
/// system, until stopped (or dropped).
pub struct ServerThread {
    grpc_addr: SocketAddr,
    rest_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl ServerThread {
    /// Opens (and migrates) the database of `settings`, binds its addresses and serves.
    pub fn start(settings: Settings) -> anyhow::Result<ServerThread> {
        let database = open_database(&settings).context("opening and migrating the database")?;
        let listeners = Listeners::bind(&settings)?;
        let grpc_addr = listeners.grpc.local_addr()?;
        let rest_addr = listeners.rest.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::with_tokio_rt(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime")
            })
            .block_on(serve(settings, database, listeners, async move {
                let _ = stopped.await;
            }))
        });
        Ok(ServerThread {
            grpc_addr,
            rest_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The REST address.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// Stops the server and waits for it; says how it ended.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(outcome)) => outcome.context("the server ended with an error"),
            Some(Err(_)) => anyhow::bail!("the server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("{e:#}");
        }
    }
}

/// Sends warnings and errors of the servers (and watchers) a test starts to the test's
/// captured output, shown when the test fails (`RUST_LOG` changes the level).
pub fn log_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

/// Settings for a server on loopback ports chosen by the OS over `url`.
pub fn loopback_settings(url: &str, token_key: &str) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = url.to_owned();
    settings.server.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.rest_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.paging.token_key = token_key.into();
    settings.log.filter = "warn".into();
    settings.logs.dir = crate::secured::TempDir::unique_path("results-logs")
        .to_string_lossy()
        .into_owned();
    settings
}

/// A running server over a throwaway database; stopped and cleaned up on drop.
pub struct TestServer {
    server: ServerThread,
    settings: Settings,
    // Declared last: dropped after the server has stopped.
    db: TestDb,
}

impl TestServer {
    /// Starts a server on a fresh database of `backend`.
    pub fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {})
    }

    /// Starts a server after `adjust` has changed the default test settings.
    pub fn start_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestServer {
        log_to_test_output();
        let db = TestDb::create(backend);
        let mut settings = loopback_settings(db.url(), "integration-test-key");
        adjust(&mut settings);
        let server = ServerThread::start(settings.clone()).expect("start the test server");
        settings.server.grpc_addr = server.grpc_addr();
        settings.server.rest_addr = server.rest_addr();
        TestServer {
            server,
            settings,
            db,
        }
    }

    /// Stops the server (clients see it unavailable) and keeps the database.
    pub fn stop(&mut self) {
        self.server.stop().expect("the test server stops cleanly");
    }

    /// Starts the server again on the same addresses and database.
    pub fn restart(&mut self) {
        self.server = ServerThread::start(self.settings.clone()).expect("restart the test server");
    }

    /// Starts another replica over the same database: its own ports, actors and change
    /// feed (it sees this server's commits only through the database). Stopped on drop.
    pub fn replica(&self) -> ServerThread {
        let mut settings = self.settings.clone();
        settings.server.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.server.rest_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        ServerThread::start(settings).expect("start a replica of the test server")
    }

    /// The settings it runs with (its addresses filled in).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The test database.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// A gRPC client of the Results service.
    pub async fn grpc(&self) -> ResultsClient<Channel> {
        ResultsClient::connect(format!("http://{}", self.server.grpc_addr()))
            .await
            .expect("connect to gRPC")
            .max_decoding_message_size(64 << 20)
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    /// The REST address.
    pub fn rest_addr(&self) -> SocketAddr {
        self.server.rest_addr()
    }

    /// A REST client.
    pub fn rest(&self) -> Rest {
        Rest {
            base: format!("http://{}", self.server.rest_addr()),
            http: reqwest::Client::new(),
            headers: Vec::new(),
        }
    }

    /// A new connection to the gRPC port.
    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.server.grpc_addr()))
            .expect("gRPC address")
            .connect()
            .await
            .expect("connect to gRPC")
    }

    /// A gRPC client of the Results service sending `headers` (e.g. `authorization`,
    /// `impersonate-user`) as metadata with every call.
    pub async fn grpc_with(&self, headers: &[(&str, &str)]) -> ResultsClient<HeaderChannel> {
        ResultsClient::with_interceptor(self.channel().await, Headers::new(headers))
            .max_decoding_message_size(64 << 20)
    }

    /// A gRPC client of the Watch service sending `headers` with every call.
    pub async fn watch_with(&self, headers: &[(&str, &str)]) -> WatchClient<HeaderChannel> {
        WatchClient::with_interceptor(self.channel().await, Headers::new(headers))
            .max_decoding_message_size(64 << 20)
    }

    /// A gRPC client of the Logs service sending `headers` with every call.
    pub async fn logs_with(&self, headers: &[(&str, &str)]) -> LogsClient<HeaderChannel> {
        LogsClient::with_interceptor(self.channel().await, Headers::new(headers))
    }
}

/// A gRPC channel whose calls carry fixed metadata.
pub type HeaderChannel = InterceptedService<Channel, Headers>;

/// An interceptor adding fixed metadata to every call.
#[derive(Debug, Clone)]
pub struct Headers(Vec<(MetadataKey<Ascii>, MetadataValue<Ascii>)>);

impl Headers {
    /// The headers, as (lower-case name, value) pairs.
    pub fn new(headers: &[(&str, &str)]) -> Headers {
        Headers(
            headers
                .iter()
                .map(|(name, value)| {
                    (
                        MetadataKey::from_bytes(name.as_bytes()).expect("metadata name"),
                        MetadataValue::try_from(*value).expect("metadata value"),
                    )
                })
                .collect(),
        )
    }
}

impl Interceptor for Headers {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        for (name, value) in &self.0 {
            request.metadata_mut().append(name.clone(), value.clone());
        }
        Ok(request)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The server first, then the log files it kept (the database goes after this).
        let _ = self.server.stop();
        let _ = std::fs::remove_dir_all(&self.settings.logs.dir);
    }
}

/// A small JSON-over-HTTP client of the REST gateway.
#[derive(Debug, Clone)]
pub struct Rest {
    base: String,
    http: reqwest::Client,
    headers: Vec<(String, String)>,
}

/// Path prefix of the REST API.
pub const API: &str = "/apis/results.tekton.dev/v1alpha2";

impl Rest {
    /// This client, sending `headers` with every request as well.
    pub fn with_headers(mut self, headers: &[(&str, &str)]) -> Rest {
        self.headers
            .extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        self
    }

    /// Sends `method path` with an optional JSON body; returns the status and JSON answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = self.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("REST request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("REST body");
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, json)
    }

    /// `call` under the API prefix.
    pub async fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call(method, &format!("{API}{path}"), body).await
    }

    /// `GET` under the API prefix; returns the status and the body as text, exactly as sent
    /// (for checks of the JSON's rendering).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .request("GET", format!("{}{API}{path}", self.base))
            .send()
            .await
            .expect("REST request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("REST body"))
    }

    /// A request to `url` carrying this client's headers.
    fn request(&self, method: &str, url: String) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request
    }

    /// Sends raw bytes as the body (for malformed-input tests).
    pub async fn raw(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let url = format!("{}{API}{path}", self.base);
        let response = self
            .request(method, url)
            .body(body)
            .send()
            .await
            .expect("REST request");
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json)
    }
}
