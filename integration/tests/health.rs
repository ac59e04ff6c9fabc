//! gRPC health and reflection are served, the Logs and Watch services among them; a log of nothing
//! is NOT_FOUND over gRPC and REST alike.

use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_storage::Backend;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_logs() {
    let server = TestServer::start(Backend::Sqlite);
    let url = format!("http://{}", server.grpc_addr());

    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in [
        "",
        "tekton.results.v1alpha2.Results",
        "tekton.results.v1alpha2.Logs",
        "tekton.results.v1alpha2.Watch",
    ] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("unexpected {answer:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "tekton.results.v1alpha2.Results",
        "tekton.results.v1alpha2.Logs",
        "tekton.results.v1alpha2.Watch",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let mut logs = LogsClient::connect(url).await.unwrap();
    let status = logs
        .delete_log(pb::DeleteLogRequest {
            name: "a/results/b/logs/c".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert!(
        status.message().contains("a/results/b/records/c"),
        "{status:?}"
    );

    // Over REST, NotFound is 404 as grpc-gateway maps it, with the gRPC code in the body;
    // a listing of nothing is empty.
    let rest = server.rest();
    for (method, path) in [
        ("GET", "/parents/a/results/b/logs/c"),
        ("DELETE", "/parents/a/results/b/logs/c"),
    ] {
        let (status, body) = rest.api(method, path, None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["code"], tonic::Code::NotFound as i32, "{body}");
    }
    let (status, body) = rest.api("GET", "/parents/a/results/b/logs", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["records"].as_array().is_none_or(Vec::is_empty),
        "{body}"
    );
}
