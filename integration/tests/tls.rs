//! TLS on both ports of `results-api`: served with a test CA's certificate, plaintext
//! refused, certificate files reloaded without a restart, an unloadable certificate stops
//! the server naming the file, and the watcher's client talks to it with the CA file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration::server::{loopback_settings, ServerThread};
use integration::TestServer;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use results_grpc::settings::{Layered, Settings};
use results_storage::testing::TestDb;
use results_storage::Backend;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// A test CA that signs server certificates for `localhost` and 127.0.0.1.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl TestCa {
    fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "results test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
            der: cert.der().clone(),
        }
    }

    /// A server certificate with `serial`: its DER, PEM and key PEM.
    fn server_cert(&self, serial: u64) -> (CertificateDer<'static>, String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("results-api {serial}"));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().clone(), cert.pem(), key.serialize_pem())
    }
}

/// A scratch directory holding `ca.pem`, `tls.crt` and `tls.key`.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(test: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("results-tls-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    /// Writes the CA and a server certificate signed by it; returns the certificate's DER.
    fn install(&self, ca: &TestCa, serial: u64) -> CertificateDer<'static> {
        let (der, cert, key) = ca.server_cert(serial);
        self.write("ca.pem", &ca.pem);
        self.write("tls.key", &key);
        self.write("tls.crt", &cert);
        der
    }

    fn tls_settings(&self, settings: &mut Settings) {
        settings.server.tls_cert_file = path_str(&self.path("tls.crt"));
        settings.server.tls_key_file = path_str(&self.path("tls.key"));
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// A TLS connection trusting only `ca` (as `localhost`), offering `alpn`.
async fn tls_connect(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
    alpn: &[u8],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// The certificate a new connection to `addr` is served, and the protocol agreed.
async fn served(addr: SocketAddr, ca: &CertificateDer<'static>, alpn: &[u8]) -> (Vec<u8>, String) {
    let stream = tls_connect(addr, ca, alpn).await.expect("TLS handshake");
    let conn = stream.get_ref().1;
    let cert = conn.peer_certificates().expect("a certificate")[0].to_vec();
    let protocol = String::from_utf8_lossy(conn.alpn_protocol().unwrap_or_default()).into_owned();
    (cert, protocol)
}

/// `GET path` over HTTP/1.1 on TLS; returns the whole answer.
async fn https_get(addr: SocketAddr, ca: &CertificateDer<'static>, path: &str) -> String {
    let mut stream = tls_connect(addr, ca, b"http/1.1")
        .await
        .expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn tls_channel(addr: SocketAddr, ca_pem: &str) -> Channel {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("connect over TLS")
}

fn get(name: &str) -> pb::GetResultRequest {
    pb::GetResultRequest { name: name.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ports_serve_tls_with_the_ca_and_refuse_plaintext() {
    let ca = TestCa::new();
    let files = Files::new("serve");
    let cert = files.install(&ca, 1);
    let server = TestServer::start_with(Backend::Sqlite, |s| files.tls_settings(s));
    let (grpc_addr, rest_addr) = (server.grpc_addr(), server.rest_addr());

    let mut client = ResultsClient::new(tls_channel(grpc_addr, &ca.pem).await);
    let created = client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(pb::Result {
                name: "ns/results/tls".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("CreateResult over TLS")
        .into_inner();
    assert_eq!(created.name, "ns/results/tls");
    let got = client.get_result(get("ns/results/tls")).await.unwrap();
    assert_eq!(got.into_inner().uid, created.uid);

    // The certificate served is the configured one; gRPC agrees on h2, REST on HTTP/1.1.
    assert_eq!(
        served(grpc_addr, &ca.der, b"h2").await,
        (cert.to_vec(), "h2".into())
    );
    assert_eq!(
        served(rest_addr, &ca.der, b"http/1.1").await,
        (cert.to_vec(), "http/1.1".into())
    );
    assert_eq!(served(rest_addr, &ca.der, b"h2").await.1, "h2");

    let health = https_get(rest_addr, &ca.der, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let answer = https_get(
        rest_addr,
        &ca.der,
        "/apis/results.tekton.dev/v1alpha2/parents/ns/results/tls",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(&created.uid), "{answer}");

    // Plaintext clients get nothing, on either port (a plaintext server would answer both).
    let plain = async {
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .unwrap()
            .connect()
            .await?;
        ResultsClient::new(channel)
            .get_result(get("ns/results/tls"))
            .await
            .map_err(|status| anyhow::anyhow!(status))?;
        anyhow::Ok(())
    };
    assert!(plain.await.is_err(), "plaintext gRPC must fail");
    let plain = reqwest::get(format!("http://{rest_addr}/healthz")).await;
    assert!(plain.is_err(), "plaintext REST must fail: {plain:?}");

    // A client that does not trust the CA fails the handshake.
    let stranger = TestCa::new();
    assert!(tls_connect(grpc_addr, &stranger.der, b"h2").await.is_err());
}

/// Polls new connections to `addr` until they are served `want`.
async fn wait_for_cert(addr: SocketAddr, ca: &CertificateDer<'static>, alpn: &[u8], want: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if served(addr, ca, alpn).await.0 == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} still serves the old certificate"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_files_are_served_to_new_connections_without_a_restart() {
    let ca = TestCa::new();
    let files = Files::new("reload");
    let first = files.install(&ca, 1);
    let server = TestServer::start_with(Backend::Sqlite, |s| files.tls_settings(s));
    let (grpc_addr, rest_addr) = (server.grpc_addr(), server.rest_addr());
    assert_eq!(served(grpc_addr, &ca.der, b"h2").await.0, first.to_vec());

    let second = files.install(&ca, 2);
    assert_ne!(first, second);
    wait_for_cert(grpc_addr, &ca.der, b"h2", &second).await;
    wait_for_cert(rest_addr, &ca.der, b"http/1.1", &second).await;
    let mut client = ResultsClient::new(tls_channel(grpc_addr, &ca.pem).await);
    let missing = client.get_result(get("ns/results/none")).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // A broken replacement is not loaded: the last good certificate stays in service.
    files.write("tls.crt", "-----BEGIN CERTIFICATE-----\nbroken\n");
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        assert_eq!(served(grpc_addr, &ca.der, b"h2").await.0, second.to_vec());
        assert_eq!(served(rest_addr, &ca.der, b"h2").await.0, second.to_vec());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // And a good one after it is.
    let third = files.install(&ca, 3);
    wait_for_cert(grpc_addr, &ca.der, b"h2", &third).await;
    wait_for_cert(rest_addr, &ca.der, b"http/1.1", &third).await;
}

/// Starts a server with `files`' certificate and key; returns how it ended.
fn start_error(files: &Files) -> String {
    let db = TestDb::create(Backend::Sqlite);
    let mut settings = loopback_settings(db.url(), "k");
    files.tls_settings(&mut settings);
    let mut server = ServerThread::start(settings).expect("start");
    format!(
        "{:#}",
        server.stop().expect_err("the server must not start")
    )
}

#[test]
fn an_unloadable_certificate_or_key_stops_the_server_naming_the_file() {
    let ca = TestCa::new();
    let files = Files::new("broken");
    let crt = path_str(&files.path("tls.crt"));
    let key = path_str(&files.path("tls.key"));

    files.install(&ca, 1);
    files.write("tls.crt", "not a certificate\n");
    let err = start_error(&files);
    assert!(err.contains(&crt) && err.contains("certificate"), "{err}");

    files.install(&ca, 1);
    std::fs::remove_file(files.path("tls.key")).unwrap();
    let err = start_error(&files);
    assert!(err.contains(&key) && err.contains("key"), "{err}");

    // A key that belongs to another certificate.
    files.install(&ca, 1);
    let (_, _, other_key) = ca.server_cert(2);
    files.write("tls.key", &other_key);
    let err = start_error(&files);
    assert!(err.contains(&key) && err.contains(&crt), "{err}");
}

#[test]
fn a_certificate_without_a_key_is_a_settings_error() {
    let err = Settings::from_toml(
        "[server]\ntls_cert_file = \"/etc/tls/tls.crt\"\n",
        "results-api.toml",
        &BTreeMap::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("server.tls_key_file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_client_talks_tls_with_its_ca_file() {
    use results_watcher::client::ApiClient;
    use results_watcher::settings::ApiSettings;

    let ca = TestCa::new();
    let files = Files::new("watcher");
    files.install(&ca, 1);
    let server = TestServer::start_with(Backend::Sqlite, |s| files.tls_settings(s));
    let settings = ApiSettings {
        url: format!("https://{}", server.grpc_addr()),
        ca_file: path_str(&files.path("ca.pem")),
        ..ApiSettings::default()
    };
    let result = pb::Result {
        name: "ns/results/watched".into(),
        ..Default::default()
    };
    let client = ApiClient::new(&settings).unwrap();
    let created = client.create_result("ns", result.clone()).await.unwrap();
    assert_eq!(created.name, "ns/results/watched");

    // Without the CA file the system roots do not trust the test CA.
    let untrusting = ApiClient::new(&ApiSettings {
        ca_file: String::new(),
        ..settings
    })
    .unwrap();
    assert!(untrusting.create_result("ns", result).await.is_err());
}
