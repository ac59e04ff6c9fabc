//! The watcher end to end against an API that checks callers: `results-api` in kubernetes
//! auth mode serving TLS (a test CA), a fake cluster serving both the Tekton runs the
//! watcher watches and the reviews the API asks for, and the watcher calling over https
//! with its CA file and a bearer token from a file. Runs are stored; a rotated token is
//! picked up without losing a run; a token that may not write keeps the run until it may.

use std::path::PathBuf;
use std::time::Duration;

use integration::fake_kube::Subject;
use integration::secured::{KubeAuthServer, TempDir};
use integration::server::{HeaderChannel, Headers};
use integration::{
    tekton, watcher_settings, AccessRule, Backend, CapturedLogs, ReviewedUser, WatcherThread,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use results_watcher::run::{RunKind, RECORD_ANNOTATION, STORED_ANNOTATION};
use serde_json::Value;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::Code;

const NS: &str = "ci";
/// The watcher's service account, as the Tekton Results manifests run it.
const WATCHER: &str = "system:serviceaccount:tekton-pipelines:tekton-results-watcher";
/// The verbs the watcher's ClusterRole grants on results and records.
const WATCHER_VERBS: &[&str] = &["get", "list", "create", "update"];
/// The test's own reader of the API.
const TESTER_TOKEN: &str = "tester-token-5a01";
/// How long a run may take to be stored before a test gives up.
const WAIT: Duration = Duration::from_secs(30);

fn service_account() -> ReviewedUser {
    ReviewedUser::named(
        WATCHER,
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:tekton-pipelines",
            "system:authenticated",
        ],
    )
}

/// The CA certificate (PEM), and a server certificate for `localhost` and 127.0.0.1 signed
/// by it with its key (PEM).
fn test_ca() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "results auth test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "results-api");
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// The API over TLS in kubernetes mode, the fake cluster, the watcher's token file.
struct Secured {
    server: KubeAuthServer,
    ca_pem: String,
    ca_file: PathBuf,
    token_file: PathBuf,
    _dir: TempDir,
}

impl Secured {
    /// Starts the API (TLS, kubernetes mode, no review cache: a revoked token is refused at
    /// once) and writes `token` to the watcher's token file.
    fn start(token: &str) -> Secured {
        let dir = TempDir::new("auth-watcher");
        let (ca_pem, cert, key) = test_ca();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), key).unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let server = KubeAuthServer::start(Backend::Sqlite, |s| {
            s.server.tls_cert_file = crt.to_str().unwrap().into();
            s.server.tls_key_file = key.to_str().unwrap().into();
            s.auth.cache_ttl_secs = 0;
        });
        server
            .kube
            .add_token(TESTER_TOKEN, ReviewedUser::named("tester", &[]));
        server.kube.allow(AccessRule::results(
            Subject::User("tester".into()),
            None,
            &["get", "list"],
        ));
        Secured {
            server,
            ca_pem,
            ca_file,
            token_file,
            _dir: dir,
        }
    }

    /// A watcher calling the API over https with the CA file and the token file.
    fn watcher(&self) -> WatcherThread {
        let mut settings = watcher_settings(self.server.api.grpc_addr());
        settings.api.url = format!("https://localhost:{}", self.server.api.grpc_addr().port());
        settings.api.ca_file = self.ca_file.to_str().unwrap().into();
        settings.api.token_file = self.token_file.to_str().unwrap().into();
        WatcherThread::start(settings, &self.server.kube.url())
    }

    /// A client of the API over TLS sending `token`.
    async fn client(&self, token: &str) -> ResultsClient<HeaderChannel> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost");
        let channel = Channel::from_shared(format!("https://{}", self.server.api.grpc_addr()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .expect("connect over TLS");
        let authorization = format!("Bearer {token}");
        ResultsClient::with_interceptor(channel, Headers::new(&[("authorization", &authorization)]))
    }

    /// Creates a finished TaskRun `name` in the fake cluster.
    fn finished_task_run(&self, name: &str) {
        let mut run = tekton::task_run(NS, name, None);
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        tekton::set_running(&mut run, &now);
        tekton::set_finished(&mut run, "True", "Succeeded", &now);
        self.server.kube.create(run);
    }

    /// Waits until the watcher marks TaskRun `name` stored; returns it.
    async fn stored(&self, name: &str) -> Value {
        let stored = |o: Option<&Value>| {
            o.is_some_and(|o| {
                o["metadata"]["annotations"][STORED_ANNOTATION].as_str() == Some("true")
            })
        };
        self.server
            .kube
            .wait_for(
                tekton::API_VERSION,
                tekton::TASK_RUNS,
                NS,
                name,
                WAIT,
                stored,
            )
            .await
            .expect("the run exists")
    }

    /// The Record the API holds for the stored TaskRun `run`, read as the tester.
    async fn record_of(&self, run: &Value) -> pb::Record {
        let name = run["metadata"]["annotations"][RECORD_ANNOTATION]
            .as_str()
            .expect("the record annotation")
            .to_owned();
        let record = self
            .client(TESTER_TOKEN)
            .await
            .get_record(pb::GetRecordRequest { name: name.clone() })
            .await
            .unwrap_or_else(|s| panic!("GetRecord {name}: {s:?}"))
            .into_inner();
        let data = record.data.as_ref().expect("data");
        assert_eq!(data.r#type, "tekton.dev/v1.TaskRun");
        let stored: Value = serde_json::from_slice(&data.value).unwrap();
        assert_eq!(stored["metadata"]["uid"], run["metadata"]["uid"]);
        record
    }

    /// The outcome of a CreateResult in the watched namespace with `token`.
    async fn create_code(&self, token: &str) -> Code {
        let mut client = self.client(token).await;
        let created = client
            .create_result(pb::CreateResultRequest {
                parent: NS.into(),
                result: Some(pb::Result {
                    name: format!("{NS}/results/probe-{}", uuid::Uuid::new_v4()),
                    ..Default::default()
                }),
            })
            .await;
        created.map_or_else(|s| s.code(), |_| Code::Ok)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_stores_runs_over_tls_with_a_token_and_follows_its_rotation() {
    const FIRST: &str = "watcher-token-1-c0de";
    const SECOND: &str = "watcher-token-2-f00d";
    let cluster = Secured::start(FIRST);
    let kube = &cluster.server.kube;
    kube.add_token(FIRST, service_account());
    kube.allow(AccessRule::results(
        Subject::User(WATCHER.into()),
        None,
        WATCHER_VERBS,
    ));
    let watcher = cluster.watcher();

    cluster.finished_task_run("first");
    let first = cluster.stored("first").await;
    let record = cluster.record_of(&first).await;
    assert_eq!(record.name.split('/').next(), Some(NS));
    let reviewed: Vec<String> = kube
        .token_reviews()
        .iter()
        .filter_map(|r| r["spec"]["token"].as_str().map(str::to_owned))
        .collect();
    assert!(reviewed.iter().any(|t| t == FIRST), "{reviewed:?}");

    // Rotation as a projected service-account token rotates: the file gets the new token,
    // the cluster knows it, and the old one is revoked.
    std::fs::write(&cluster.token_file, format!("{SECOND}\n")).unwrap();
    kube.add_token(SECOND, service_account());
    kube.remove_token(FIRST);
    assert_eq!(cluster.create_code(FIRST).await, Code::Unauthenticated);

    cluster.finished_task_run("second");
    let second = cluster.stored("second").await;
    cluster.record_of(&second).await;
    let reviewed: Vec<String> = kube
        .token_reviews()
        .iter()
        .filter_map(|r| r["spec"]["token"].as_str().map(str::to_owned))
        .collect();
    assert!(reviewed.iter().any(|t| t == SECOND), "{reviewed:?}");
    assert_eq!(watcher.metrics().stored.get(RunKind::TaskRun), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_denied_keeps_retrying_and_stores_the_run_once_allowed() {
    let logs = CapturedLogs::install("warn");
    const TOKEN: &str = "watcher-token-unbound-ab12";
    let cluster = Secured::start(TOKEN);
    let kube = &cluster.server.kube;
    // A valid token, but no binding yet: every write is PERMISSION_DENIED.
    kube.add_token(TOKEN, service_account());
    assert_eq!(cluster.create_code(TOKEN).await, Code::PermissionDenied);
    let watcher = cluster.watcher();

    cluster.finished_task_run("held");
    let denial = logs
        .wait_for(
            &[
                "cannot store run",
                "does not have permission",
                "may not create results",
            ],
            WAIT,
        )
        .await;
    assert!(denial.contains(WATCHER), "{denial}");
    // It keeps trying, and the run is neither stored nor let go meanwhile.
    let deadline = tokio::time::Instant::now() + WAIT;
    while watcher.metrics().failures.get(RunKind::TaskRun) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watcher stopped retrying"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = kube
        .get(tekton::API_VERSION, tekton::TASK_RUNS, NS, "held")
        .expect("the run is still there");
    assert_eq!(
        held["metadata"]["annotations"][STORED_ANNOTATION].as_str(),
        None,
        "{held:#}"
    );
    assert_eq!(watcher.metrics().stored.get(RunKind::TaskRun), 0);

    // Once bound, the next retry stores it.
    kube.allow(AccessRule::results(
        Subject::User(WATCHER.into()),
        None,
        WATCHER_VERBS,
    ));
    let stored = cluster.stored("held").await;
    cluster.record_of(&stored).await;
    assert_eq!(watcher.metrics().stored.get(RunKind::TaskRun), 1);
}
