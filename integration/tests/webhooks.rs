//! Webhook sinks: a receiver that is down for a while gets every matching change once it
//! recovers, in revision order, as signed CloudEvents, and nothing else.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use integration::{Scrape, TestServer};
use results_grpc::settings::{WebhookKind, WebhookSettings};
use results_storage::Backend;
use serde_json::{json, Value};
use sha2::Sha256;

integration::backend_tests!(
    a_sink_that_fails_transiently_receives_every_event,
    a_sink_goes_on_where_it_stopped_after_a_restart,
    a_sink_behind_the_logs_retention_skips_what_was_pruned,
    replicas_deliver_each_event_once_and_take_over_from_a_stopped_one
);

const SECRET: &str = "s3cret-for-the-test";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    content_type: String,
    signature: String,
    body: Vec<u8>,
    /// What the receiver answered.
    accepted: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Answer 503 while set.
    down: bool,
    deliveries: Vec<Delivery>,
}

/// A webhook receiver on loopback: answers 503 while down, else 200, and keeps every request.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    async fn start(down: bool) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            down,
            deliveries: Vec::new(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, hyper::Error>(answer(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/hook?token=in-the-url", self.addr)
    }

    fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }

    /// Waits until `done` holds for the deliveries so far; panics after a minute.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Delivery]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if done(&self.deliveries()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting for {what}; got {} requests",
                self.deliveries().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    let signature = header("x-results-signature");
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let mut state = state.lock().unwrap();
    let accepted = !state.down;
    state.deliveries.push(Delivery {
        content_type,
        signature,
        body,
        accepted,
    });
    let status = if accepted {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// `sha256=<hex HMAC-SHA256>` of `body`, computed here independently of the server.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn record_body(name: &str, kind: &str, n: usize) -> Value {
    let value = STANDARD.encode(json!({"kind": kind, "n": n}).to_string());
    json!({"name": name, "data": {"type": format!("tekton.dev/v1.{kind}"), "value": value}})
}

/// The first accepted delivery of each event id, in the order they arrived, parsed.
fn first_accepted(deliveries: &[Delivery]) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    deliveries
        .iter()
        .filter(|d| d.accepted)
        .map(|d| serde_json::from_slice::<Value>(&d.body).expect("a JSON body"))
        .filter(|event| seen.insert(event["id"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The sink under test: TaskRun Records of namespace `ns`, signed.
fn sink(url: String) -> WebhookSettings {
    WebhookSettings {
        name: "ci".into(),
        url,
        kind: WebhookKind::Records,
        parent: "ns".into(),
        filter: "data_type == TASK_RUN && data.n >= 0".into(),
        secret: SECRET.into(),
        // Quick retries, so that the test does not wait for the default backoff.
        min_backoff_ms: 5,
        max_backoff_ms: 50,
        queue: 7,
        ..WebhookSettings::default()
    }
}

async fn a_sink_that_fails_transiently_receives_every_event(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let url = receiver.url();
    let server = TestServer::start_with(backend, |settings| {
        settings.watch.webhooks = vec![sink(url)];
    });
    let rest = server.rest();
    let api = |method: &'static str, path: String, body: Option<Value>| {
        let rest = rest.clone();
        async move {
            let (status, answer) = rest.api(method, &path, body.as_ref()).await;
            assert_eq!(status, 200, "{method} {path}: {answer}");
            answer
        }
    };

    // Expected events: (type, subject, data as the REST answer showed it).
    let mut expected: Vec<(String, String, Value)> = Vec::new();
    // Results are no Records: not sent. Records of another namespace are out of scope.
    api(
        "POST",
        "/parents/ns/results".into(),
        Some(json!({"name": "ns/results/r"})),
    )
    .await;
    api(
        "POST",
        "/parents/other/results".into(),
        Some(json!({"name": "other/results/r"})),
    )
    .await;
    for n in 0..50 {
        let kind = if n % 2 == 0 { "TaskRun" } else { "PipelineRun" };
        let name = format!("ns/results/r/records/rec-{n}");
        let created = api(
            "POST",
            "/parents/ns/results/r/records".into(),
            Some(record_body(&name, kind, n)),
        )
        .await;
        if kind == "TaskRun" {
            expected.push(("dev.tekton.results.record.added.v1".into(), name, created));
        }
        if n % 5 == 0 {
            let other = format!("other/results/r/records/rec-{n}");
            api(
                "POST",
                "/parents/other/results/r/records".into(),
                Some(record_body(&other, "TaskRun", n)),
            )
            .await;
        }
    }
    // The first requests were refused: the sink retries while changes pile up.
    receiver
        .wait_until("three refused attempts", |d| {
            d.iter().filter(|d| !d.accepted).count() >= 3
        })
        .await;
    for n in 0..10 {
        let kind = if n % 2 == 0 { "TaskRun" } else { "PipelineRun" };
        let name = format!("ns/results/r/records/rec-{n}");
        let updated = api(
            "PATCH",
            format!("/parents/ns/results/r/records/rec-{n}"),
            Some(record_body(&name, kind, 100 + n)),
        )
        .await;
        if kind == "TaskRun" {
            expected.push((
                "dev.tekton.results.record.modified.v1".into(),
                name,
                updated,
            ));
        }
    }
    for n in 40..50 {
        let name = format!("ns/results/r/records/rec-{n}");
        let last = api(
            "GET",
            format!("/parents/ns/results/r/records/rec-{n}"),
            None,
        )
        .await;
        api(
            "DELETE",
            format!("/parents/ns/results/r/records/rec-{n}"),
            None,
        )
        .await;
        if n % 2 == 0 {
            expected.push(("dev.tekton.results.record.deleted.v1".into(), name, last));
        }
    }
    // A last matching change: once it has arrived, everything before it has been handled
    // (events go out in revision order).
    let sentinel = "ns/results/r/records/sentinel".to_owned();
    let created = api(
        "POST",
        "/parents/ns/results/r/records".into(),
        Some(record_body(&sentinel, "TaskRun", 0)),
    )
    .await;
    expected.push((
        "dev.tekton.results.record.added.v1".into(),
        sentinel.clone(),
        created,
    ));

    // Recovery.
    receiver.set_down(false);
    receiver
        .wait_until("the sentinel", |d| {
            first_accepted(d)
                .iter()
                .any(|event| event["subject"] == sentinel.as_str())
        })
        .await;

    let deliveries = receiver.deliveries();
    assert!(
        deliveries.iter().any(|d| !d.accepted),
        "the receiver refused some"
    );
    for d in &deliveries {
        assert_eq!(d.content_type, "application/cloudevents+json");
        assert_eq!(d.signature, expected_signature(&d.body), "signature");
    }
    let events = first_accepted(&deliveries);
    let got: Vec<(String, String, Value)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
                e["data"].clone(),
            )
        })
        .collect();
    // Every matching change, in the order they were made, and nothing else.
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (got, expected) in got.iter().zip(&expected) {
        assert_eq!(got, expected);
    }
    let mut previous = 0;
    for event in &events {
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(
            event["source"],
            "/apis/results.tekton.dev/v1alpha2/parents/ns"
        );
        assert_eq!(event["datacontenttype"], "application/json");
        let revision: i64 = event["id"].as_str().unwrap().parse().unwrap();
        assert!(
            revision > previous,
            "revision order: {revision} after {previous}"
        );
        previous = revision;
        let time = event["time"].as_str().unwrap();
        assert!(
            time.ends_with('Z') && time.len() >= 20,
            "an RFC 3339 UTC time: {time}"
        );
    }
    // The data of an added event is what the create answered (the REST JSON of a Get).
    let first = &events[0]["data"];
    assert_eq!(first["name"], "ns/results/r/records/rec-0");
    assert_eq!(first["data"]["type"], "tekton.dev/v1.TaskRun");
}

/// The subjects of the first accepted deliveries, in order.
fn accepted_subjects(deliveries: &[Delivery]) -> Vec<String> {
    first_accepted(deliveries)
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_sink_goes_on_where_it_stopped_after_a_restart(backend: Backend) {
    let receiver = Receiver::start(false).await;
    let url = receiver.url();
    let mut server = TestServer::start_with(backend, |settings| {
        settings.watch.webhooks = vec![sink(url)];
    });
    // A restart keeps the addresses.
    let rest = server.rest_addr();
    let create = |name: &'static str| create_at(rest, name);
    create_result_at(rest).await;
    create("before").await;
    receiver
        .wait_until("the first event", |d| {
            accepted_subjects(d) == ["ns/results/r/records/before"]
        })
        .await;

    // The receiver fails while two more changes are made, and the server stops before it
    // recovers: they must still be sent, by the restarted server.
    receiver.set_down(true);
    create("during-1").await;
    create("during-2").await;
    receiver
        .wait_until("a refused attempt", |d| d.iter().any(|d| !d.accepted))
        .await;
    server.stop();
    receiver.set_down(false);
    server.restart();
    receiver
        .wait_until("the events made before the restart", |d| {
            accepted_subjects(d).len() == 3
        })
        .await;
    assert_eq!(
        accepted_subjects(&receiver.deliveries()),
        [
            "ns/results/r/records/before",
            "ns/results/r/records/during-1",
            "ns/results/r/records/during-2",
        ]
    );
}

async fn a_sink_behind_the_logs_retention_skips_what_was_pruned(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let url = receiver.url();
    let server = TestServer::start_with(backend, |settings| {
        // The log keeps the 5 newest changes, pruned every second.
        settings.watch.max_changes = 5;
        settings.watch.prune_interval_secs = 1;
        // The probing watch streams below are dropped by this side; the server notices only
        // when it next writes to them, so its graceful stop would wait out the grace period.
        settings.server.shutdown_grace_secs = 1;
        settings.watch.webhooks = vec![WebhookSettings {
            queue: 1,
            ..sink(url)
        }];
    });
    let rest = server.rest();
    let (status, answer) = rest
        .api(
            "POST",
            "/parents/ns/results",
            Some(&json!({"name": "ns/results/r"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    for n in 0..20 {
        let name = format!("ns/results/r/records/rec-{n:02}");
        let (status, answer) = rest
            .api(
                "POST",
                "/parents/ns/results/r/records",
                Some(&record_body(&name, "TaskRun", n)),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        if n == 0 {
            // The sink holds the first change and retries it.
            receiver
                .wait_until("a refused attempt", |d| d.iter().any(|d| !d.accepted))
                .await;
        }
    }
    // Wait until the log has been pruned past the sink: resuming a watch from revision 1
    // then answers 410 (OUT_OF_RANGE).
    let watch = format!(
        "http://{}/apis/results.tekton.dev/v1alpha2/parents/ns/results/-/records?watch=true&resume_from=1",
        server.rest_addr()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = reqwest::get(&watch).await.unwrap().status().as_u16();
        if status == 410 {
            break;
        }
        assert_eq!(status, 200, "the watch opens until the log is pruned");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the log was never pruned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.set_down(false);
    receiver
        .wait_until("the newest change", |d| {
            accepted_subjects(d).last().map(String::as_str) == Some("ns/results/r/records/rec-19")
        })
        .await;
    // The change it held, then what the log still keeps (the 5 newest, at most: pruning
    // goes on meanwhile), in order; the pruned ones in between are lost.
    let subjects = accepted_subjects(&receiver.deliveries());
    assert_eq!(subjects[0], "ns/results/r/records/rec-00", "{subjects:?}");
    assert!(subjects.len() <= 6, "{subjects:?}");
    let mut sorted = subjects.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, subjects, "in order, each once: {subjects:?}");
}

/// Whether the server at `rest` holds the lease of sink `ci` (its `/metrics` say so).
async fn leads(rest: SocketAddr) -> bool {
    let text = reqwest::get(format!("http://{rest}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    Scrape::parse(&text).value("results_api_webhook_leader", &[("sink", "ci")]) == Some(1.0)
}

/// POSTs `body` to `path` (under the API's prefix) of the server at `rest`, expecting 200.
async fn post_at(rest: SocketAddr, path: &str, body: &Value) {
    let answer = reqwest::Client::new()
        .post(format!(
            "http://{rest}/apis/results.tekton.dev/v1alpha2{path}"
        ))
        .json(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

/// Creates the Result `ns/results/r` through the server at `rest`.
async fn create_result_at(rest: SocketAddr) {
    post_at(
        rest,
        "/parents/ns/results",
        &json!({"name": "ns/results/r"}),
    )
    .await;
}

/// Creates the TaskRun Record `ns/results/r/records/<name>` through the server at `rest`.
async fn create_at(rest: SocketAddr, name: &str) {
    let body = record_body(&format!("ns/results/r/records/{name}"), "TaskRun", 1);
    post_at(rest, "/parents/ns/results/r/records", &body).await;
}

/// Two replicas run the same sink: only the holder of its lease delivers, so each event
/// reaches the receiver once, whichever replica wrote it. When the holder stops it gives
/// the lease up and the other replica goes on from the saved cursor: nothing is lost.
async fn replicas_deliver_each_event_once_and_take_over_from_a_stopped_one(backend: Backend) {
    let receiver = Receiver::start(false).await;
    let url = receiver.url();
    let mut first = TestServer::start_with(backend, |settings| {
        settings.watch.webhooks = vec![WebhookSettings {
            lease_ms: 600,
            ..sink(url)
        }];
        // The replicas see each other's commits by polling the change log.
        settings.watch.poll_interval_ms = 50;
    });
    let mut second = first.replica();
    create_result_at(first.rest_addr()).await;
    let mut expected = Vec::new();
    for i in 0..10 {
        let name = format!("both-{i}");
        let at = if i % 2 == 0 {
            first.rest_addr()
        } else {
            second.rest_addr()
        };
        create_at(at, &name).await;
        expected.push(format!("ns/results/r/records/{name}"));
    }
    receiver
        .wait_until("every event", |d| accepted_subjects(d).len() == 10)
        .await;
    // Time for a second replica's deliveries, were there any.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deliveries = receiver.deliveries();
    assert_eq!(
        deliveries.len(),
        10,
        "one delivery per event: {:?}",
        accepted_subjects(&deliveries)
    );
    let mut subjects = accepted_subjects(&deliveries);
    subjects.sort();
    expected.sort();
    assert_eq!(subjects, expected);
    let (first_leads, second_leads) = (
        leads(first.rest_addr()).await,
        leads(second.rest_addr()).await,
    );
    assert!(
        first_leads != second_leads,
        "exactly one holds the lease: {first_leads} {second_leads}"
    );

    // The holder stops; events written through the other are still delivered, by it.
    let survivor = if first_leads {
        first.stop();
        second.rest_addr()
    } else {
        second.stop().expect("the replica stops");
        first.rest_addr()
    };
    for i in 0..5 {
        let name = format!("after-{i}");
        create_at(survivor, &name).await;
        expected.push(format!("ns/results/r/records/{name}"));
    }
    receiver
        .wait_until("the events after the holder stopped", |d| {
            accepted_subjects(d).len() == 15
        })
        .await;
    let mut subjects = accepted_subjects(&receiver.deliveries());
    subjects.sort();
    expected.sort();
    assert_eq!(subjects, expected);
    assert!(leads(survivor).await, "the survivor took the lease over");
}
