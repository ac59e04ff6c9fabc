//! Kubernetes auth mode end to end: the real server asks a fake cluster (TokenReview,
//! SubjectAccessReview) who callers are and what they may do.

use integration::fake_kube::{AccessRule, ReviewedUser, Subject};
use integration::secured::{bearer, KubeAuthServer};
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use tonic::Code;

fn user(name: &str) -> Subject {
    Subject::User(name.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reaches_only_what_its_user_may_do() {
    let server = KubeAuthServer::start(Backend::Sqlite, |_| {});
    server
        .kube
        .add_token("alice-token", ReviewedUser::named("alice", &["dev"]));
    server.kube.allow(AccessRule::results(
        user("alice"),
        Some(&["ci"]),
        &["get", "create"],
    ));
    let (name, value) = bearer("alice-token");
    let mut alice = server.api.grpc_with(&[(name, &value)]).await;
    let created = alice
        .create_result(pb::CreateResultRequest {
            parent: "ci".into(),
            result: Some(pb::Result {
                name: "ci/results/r".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("alice may create in ci");
    assert_eq!(created.into_inner().name, "ci/results/r");
    let denied = alice
        .create_result(pb::CreateResultRequest {
            parent: "prod".into(),
            result: Some(pb::Result {
                name: "prod/results/r".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let mut anonymous = server.api.grpc_with(&[]).await;
    let status = anonymous
        .get_result(pb::GetResultRequest {
            name: "ci/results/r".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
