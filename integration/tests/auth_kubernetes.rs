//! Kubernetes auth mode end to end: the real server asks a fake cluster (TokenReview,
//! SubjectAccessReview) who callers are and what they may do; answers are cached per
//! token for the TTL and never serve another caller; impersonation needs the cluster's
//! `impersonate` permission; listings over `-` see exactly the namespaces the caller may
//! list; an unreachable cluster answers UNAVAILABLE and is asked again next time.

use std::time::Duration;

use integration::fake_kube::{AccessRule, ReviewedUser, Subject};
use integration::secured::{bearer, KubeAuthServer};
use integration::server::HeaderChannel;
use integration::{backend_tests, Backend};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use serde_json::Value;
use tonic::Code;

type Client = ResultsClient<HeaderChannel>;

fn user(name: &str) -> Subject {
    Subject::User(name.into())
}

/// A client sending `token` (and `extra` headers).
async fn client(server: &KubeAuthServer, token: &str, extra: &[(&str, &str)]) -> Client {
    let (name, value) = bearer(token);
    let mut headers = vec![(name, value.as_str())];
    headers.extend_from_slice(extra);
    server.api.grpc_with(&headers).await
}

/// A server whose `admin` may do everything everywhere, with `alice` (group `dev`) and
/// `bob` known to the cluster but allowed nothing yet.
fn cluster(
    backend: Backend,
    adjust: impl FnOnce(&mut results_grpc::settings::Settings),
) -> KubeAuthServer {
    let server = KubeAuthServer::start(backend, adjust);
    server
        .kube
        .add_token("admin-token", ReviewedUser::named("admin", &[]));
    server
        .kube
        .add_token("alice-token", ReviewedUser::named("alice", &["dev"]));
    server
        .kube
        .add_token("bob-token", ReviewedUser::named("bob", &[]));
    server
        .kube
        .allow(AccessRule::results(user("admin"), None, &["*"]));
    server
}

async fn create(
    client: &mut Client,
    namespace: &str,
    result: &str,
) -> Result<pb::Result, tonic::Status> {
    client
        .create_result(pb::CreateResultRequest {
            parent: namespace.into(),
            result: Some(pb::Result {
                name: format!("{namespace}/results/{result}"),
                ..Default::default()
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn create_record(client: &mut Client, namespace: &str, result: &str) {
    client
        .create_record(pb::CreateRecordRequest {
            parent: format!("{namespace}/results/{result}"),
            record: Some(pb::Record {
                name: format!("{namespace}/results/{result}/records/run"),
                data: Some(pb::Any {
                    r#type: "tekton.dev/v1.TaskRun".into(),
                    value: b"{}".to_vec(),
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("create a record");
}

async fn get(client: &mut Client, name: &str) -> Result<pb::Result, tonic::Status> {
    client
        .get_result(pb::GetResultRequest { name: name.into() })
        .await
        .map(tonic::Response::into_inner)
}

fn namespaces_of(answer: &[pb::Result]) -> Vec<String> {
    let mut namespaces: Vec<String> = answer
        .iter()
        .map(|r| r.name.split('/').next().unwrap().to_owned())
        .collect();
    namespaces.dedup();
    namespaces
}

/// Every Result a client lists over `-`, through every page.
async fn list_all(client: &mut Client) -> Result<Vec<pb::Result>, tonic::Status> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_results(pb::ListResultsRequest {
                parent: "-".into(),
                page_size: 2,
                page_token,
                order_by: "create_time".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        all.extend(page.results);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reaches_only_what_its_user_may_do() {
    let server = cluster(Backend::Sqlite, |_| {});
    server.kube.allow(AccessRule::results(
        user("alice"),
        Some(&["ci"]),
        &["get", "create"],
    ));
    let mut alice = client(&server, "alice-token", &[]).await;
    assert_eq!(
        create(&mut alice, "ci", "r").await.unwrap().name,
        "ci/results/r"
    );
    let denied = create(&mut alice, "prod", "r").await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(
        denied.message().contains("alice") && denied.message().contains("create results"),
        "{denied:?}"
    );
    let mut admin = client(&server, "admin-token", &[]).await;
    assert_eq!(
        get(&mut admin, "prod/results/r").await.unwrap_err().code(),
        Code::NotFound,
        "the denied create stored nothing"
    );
    let unknown = get(&mut client(&server, "stolen", &[]).await, "ci/results/r").await;
    assert_eq!(unknown.unwrap_err().code(), Code::Unauthenticated);
    let anonymous = get(&mut server.api.grpc_with(&[]).await, "ci/results/r").await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_cached_per_token_until_they_expire() {
    let server = cluster(Backend::Sqlite, |s| s.auth.cache_ttl_secs = 1);
    server
        .kube
        .allow(AccessRule::results(user("alice"), Some(&["ci"]), &["get"]));
    let mut admin = client(&server, "admin-token", &[]).await;
    create(&mut admin, "ci", "r").await.unwrap();
    let reviews =
        |kube: &integration::FakeKube| (kube.token_reviews().len(), kube.access_reviews().len());
    let before = reviews(&server.kube);

    // A miss asks the cluster once; hits within the TTL ask nothing.
    let mut alice = client(&server, "alice-token", &[]).await;
    for _ in 0..5 {
        get(&mut alice, "ci/results/r")
            .await
            .expect("alice may get");
    }
    assert_eq!(reviews(&server.kube), (before.0 + 1, before.1 + 1));

    // Another user's token is reviewed on its own: alice's answer does not serve bob.
    let mut bob = client(&server, "bob-token", &[]).await;
    for _ in 0..3 {
        let denied = get(&mut bob, "ci/results/r").await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
    }
    assert_eq!(reviews(&server.kube), (before.0 + 2, before.1 + 2));

    // A revoked permission holds until the answer expires, then is asked again.
    server.kube.revoke_all();
    get(&mut alice, "ci/results/r")
        .await
        .expect("cached within the TTL");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let denied = get(&mut alice, "ci/results/r").await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(reviews(&server.kube), (before.0 + 3, before.1 + 3));

    // A removed token stops working once its review expires.
    server
        .kube
        .allow(AccessRule::results(user("alice"), Some(&["ci"]), &["get"]));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    get(&mut alice, "ci/results/r")
        .await
        .expect("allowed again");
    server.kube.remove_token("alice-token");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let status = get(&mut alice, "ci/results/r").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_review_and_no_cache_asks_every_time() {
    let server = cluster(Backend::Sqlite, |_| {});
    server
        .kube
        .allow(AccessRule::results(user("alice"), Some(&["ci"]), &["get"]));
    let mut admin = client(&server, "admin-token", &[]).await;
    create(&mut admin, "ci", "r").await.unwrap();
    let before = server.kube.access_reviews().len();
    let alice = client(&server, "alice-token", &[]).await;
    let calls = (0..16).map(|_| {
        let mut alice = alice.clone();
        async move { get(&mut alice, "ci/results/r").await }
    });
    for answer in futures::future::join_all(calls).await {
        answer.expect("alice may get");
    }
    assert_eq!(server.kube.access_reviews().len(), before + 1);

    let uncached = cluster(Backend::Sqlite, |s| s.auth.cache_ttl_secs = 0);
    let mut admin = client(&uncached, "admin-token", &[]).await;
    for i in 0..3 {
        create(&mut admin, "ci", &format!("r{i}")).await.unwrap();
    }
    assert_eq!(uncached.kube.access_reviews().len(), 3);
    assert_eq!(uncached.kube.token_reviews().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_needs_the_clusters_permission() {
    let server = cluster(Backend::Sqlite, |_| {});
    let mut admin = client(&server, "admin-token", &[]).await;
    create(&mut admin, "ci", "r").await.unwrap();
    create(&mut admin, "prod", "r").await.unwrap();
    server
        .kube
        .allow(AccessRule::results(user("alice"), Some(&["ci"]), &["get"]));
    server.kube.allow(AccessRule::results(
        Subject::Group("auditors".into()),
        None,
        &["get"],
    ));
    // The dashboard may impersonate alice and the auditors group, nobody else.
    server
        .kube
        .add_token("dashboard-token", ReviewedUser::named("dashboard", &[]));
    server.kube.allow(AccessRule::impersonate(
        user("dashboard"),
        "users",
        &["alice"],
    ));
    server.kube.allow(AccessRule::impersonate(
        user("dashboard"),
        "groups",
        &["auditors"],
    ));

    let mut as_alice = client(&server, "dashboard-token", &[("impersonate-user", "alice")]).await;
    get(&mut as_alice, "ci/results/r")
        .await
        .expect("acts as alice in ci");
    let denied = get(&mut as_alice, "prod/results/r").await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("alice"), "{denied:?}");
    let last = server.kube.access_reviews().pop().unwrap();
    assert_eq!(last["spec"]["user"], "alice", "{last}");
    let groups: Vec<&str> = last["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(groups, ["system:authenticated"], "{last}");

    let mut as_auditor = client(
        &server,
        "dashboard-token",
        &[
            ("impersonate-user", "alice"),
            ("impersonate-group", "auditors"),
        ],
    )
    .await;
    get(&mut as_auditor, "prod/results/r")
        .await
        .expect("the auditors group may get everywhere");

    let mut as_bob = client(&server, "dashboard-token", &[("impersonate-user", "bob")]).await;
    let denied = get(&mut as_bob, "ci/results/r").await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("impersonate"), "{denied:?}");

    // alice may not impersonate anyone, not even herself into more groups.
    let mut alice_as_admin = client(&server, "alice-token", &[("impersonate-user", "admin")]).await;
    let denied = get(&mut alice_as_admin, "ci/results/r").await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The same over REST.
    let (name, value) = bearer("dashboard-token");
    let rest = server
        .api
        .rest()
        .with_headers(&[(name, &value), ("Impersonate-User", "alice")]);
    let (status, _) = rest.api("GET", "/parents/ci/results/r", None).await;
    assert_eq!(status, 200);
    let (status, body) = rest.api("GET", "/parents/prod/results/r", None).await;
    assert_eq!(status, 403, "{body}");
}

async fn wildcard_listings_see_exactly_the_permitted_namespaces(backend: Backend) {
    let server = cluster(backend, |_| {});
    let mut admin = client(&server, "admin-token", &[]).await;
    for namespace in ["alpha", "beta", "gamma", "delta"] {
        for result in ["r1", "r2"] {
            create(&mut admin, namespace, result).await.unwrap();
            create_record(&mut admin, namespace, result).await;
        }
    }
    // alice may list in alpha and gamma (and get in beta, which does not let her list it).
    server.kube.allow(AccessRule::results(
        user("alice"),
        Some(&["alpha", "gamma"]),
        &["list"],
    ));
    server.kube.allow(AccessRule::results(
        user("alice"),
        Some(&["beta"]),
        &["get"],
    ));
    let mut alice = client(&server, "alice-token", &[]).await;
    let listed = list_all(&mut alice).await.unwrap();
    assert_eq!(listed.len(), 4);
    let mut seen = namespaces_of(&listed);
    seen.sort();
    assert_eq!(seen, ["alpha", "gamma"]);

    let records = alice
        .list_records(pb::ListRecordsRequest {
            parent: "-/results/-".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let mut record_namespaces: Vec<&str> = records
        .iter()
        .map(|r| r.name.split('/').next().unwrap())
        .collect();
    record_namespaces.sort();
    assert_eq!(record_namespaces, ["alpha", "alpha", "gamma", "gamma"]);

    let summary = alice
        .get_record_list_summary(pb::RecordListSummaryRequest {
            parent: "-/results/-".into(),
            summary: "total".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let total = &summary.summary[0].fields["total"];
    assert_eq!(
        total.kind,
        Some(prost_types::value::Kind::NumberValue(4.0)),
        "{summary:?}"
    );

    // REST sees the same.
    let (name, value) = bearer("alice-token");
    let rest = server.api.rest().with_headers(&[(name, &value)]);
    let (status, body) = rest
        .api("GET", "/parents/-/results?page_size=100", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 4, "{body}");

    // A literal namespace she may not list is a denial, not an empty page.
    let denied = alice
        .list_results(pb::ListResultsRequest {
            parent: "beta".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // bob may list nowhere: an empty listing.
    let mut bob = client(&server, "bob-token", &[]).await;
    assert!(list_all(&mut bob).await.unwrap().is_empty());

    // The admin may list in all namespaces: one cluster-wide review, every namespace.
    let reviews_before = server.kube.access_reviews().len();
    let all = list_all(&mut admin).await.unwrap();
    assert_eq!(all.len(), 8);
    let asked: Vec<Value> = server.kube.access_reviews()[reviews_before..].to_vec();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let namespace = &asked[0]["spec"]["resourceAttributes"]["namespace"];
    assert!(namespace.is_null() || namespace == "", "{asked:?}");
}

backend_tests!(wildcard_listings_see_exactly_the_permitted_namespaces);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_answers_unavailable_and_is_asked_again() {
    let server = cluster(Backend::Sqlite, |_| {});
    let mut admin = client(&server, "admin-token", &[]).await;
    create(&mut admin, "ci", "r").await.unwrap();
    server
        .kube
        .allow(AccessRule::results(user("alice"), Some(&["ci"]), &["get"]));
    let mut alice = client(&server, "alice-token", &[]).await;
    server.kube.fail_reviews(Some(500));
    let status = get(&mut alice, "ci/results/r").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let (name, value) = bearer("alice-token");
    let rest = server.api.rest().with_headers(&[(name, &value)]);
    let (code, body) = rest.api("GET", "/parents/ci/results/r", None).await;
    assert_eq!(code, 503, "{body}");
    server.kube.fail_reviews(None);
    get(&mut alice, "ci/results/r")
        .await
        .expect("the outage was not remembered as an answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_and_cache_lookups_are_counted() {
    let server = cluster(Backend::Sqlite, |_| {});
    server
        .kube
        .allow(AccessRule::results(user("alice"), Some(&["ci"]), &["get"]));
    let mut admin = client(&server, "admin-token", &[]).await;
    create(&mut admin, "ci", "r").await.unwrap();
    let mut alice = client(&server, "alice-token", &[]).await;
    for _ in 0..4 {
        get(&mut alice, "ci/results/r")
            .await
            .expect("alice may get");
    }
    let mut bob = client(&server, "bob-token", &[]).await;
    for _ in 0..2 {
        let denied = get(&mut bob, "ci/results/r").await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
    }
    let anonymous = get(&mut server.api.grpc_with(&[]).await, "ci/results/r").await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);

    let url = format!("http://{}/metrics", server.api.rest_addr());
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let scrape = integration::Scrape::parse(&text);
    let decided = |outcome| {
        scrape
            .value("results_api_auth_decisions_total", &[("outcome", outcome)])
            .unwrap_or(0.0)
    };
    // admin: 1 create; alice: 4 gets; bob: 2 denials; one request without a token.
    assert_eq!(decided("allowed"), 5.0, "{text}");
    assert_eq!(decided("denied"), 2.0);
    assert_eq!(decided("unauthenticated"), 1.0);
    let looked_up = |result| {
        scrape
            .value(
                "results_api_auth_cache_lookups_total",
                &[("result", result)],
            )
            .unwrap_or(0.0)
    };
    // One miss per distinct (token, access); the repeats are hits.
    assert_eq!(looked_up("miss"), 3.0, "{text}");
    assert_eq!(looked_up("hit"), 4.0);
}
