//! Liveness vs readiness: with the database cut off (a proxy between server and database
//! drops every connection), `/readyz` answers 503 saying why and gRPC health reports
//! NOT_SERVING while `/healthz` stays 200; requests get UNAVAILABLE, not INTERNAL. When
//! the database is reachable again the same process is ready again, without a restart.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use integration::{Backend, TcpProxy, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const DEADLINE: Duration = Duration::from_secs(30);

async fn get(server: &TestServer, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{}{path}", server.rest_addr()))
        .await
        .expect("REST request");
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn health(server: &TestServer, service: &str) -> i32 {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

/// Waits until `/readyz` answers `status`; returns its body.
async fn ready_becomes(server: &TestServer, status: u16) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (now, body) = get(server, "/readyz").await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz still {now}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn readiness_follows_the_database(backend: Backend) {
    let target: SocketAddr = match backend {
        Backend::Postgres => "127.0.0.1:5432",
        Backend::Mysql => "127.0.0.1:3306",
        Backend::Sqlite => unreachable!("SQLite has no network to cut"),
    }
    .parse()
    .unwrap();
    let proxy = TcpProxy::start(target);
    let server = TestServer::start_with(backend, |s| {
        s.database.url = s
            .database
            .url
            .replace(&target.to_string(), &proxy.addr().to_string());
        assert!(s.database.url.contains(&proxy.addr().to_string()));
        s.database.readiness_interval_ms = 200;
        s.database.connect_timeout_secs = 1;
    });
    let mut client = server.grpc().await;
    assert_eq!(get(&server, "/readyz").await, (200, "ok".into()));
    assert_eq!(health(&server, "").await, ServingStatus::Serving as i32);

    proxy.cut();
    let why = ready_becomes(&server, 503).await;
    assert!(why.contains("database"), "{why}");
    for service in ["", "tekton.results.v1alpha2.Results"] {
        assert_eq!(
            health(&server, service).await,
            ServingStatus::NotServing as i32,
            "{service:?}"
        );
    }
    assert_eq!(get(&server, "/healthz").await.0, 200, "liveness stays");
    let refused = client
        .get_result(pb::GetResultRequest {
            name: "ns/results/r".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    proxy.restore();
    ready_becomes(&server, 200).await;
    assert_eq!(health(&server, "").await, ServingStatus::Serving as i32);
    let created = client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(pb::Result {
                name: "ns/results/back".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("writes work again");
    assert_eq!(created.into_inner().name, "ns/results/back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readiness_follows_the_database() {
    readiness_follows_the_database(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_readiness_follows_the_database() {
    readiness_follows_the_database(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_ready_once_serving() {
    let server = TestServer::start(Backend::Sqlite);
    assert_eq!(get(&server, "/readyz").await, (200, "ok".into()));
    assert_eq!(health(&server, "").await, ServingStatus::Serving as i32);
}
