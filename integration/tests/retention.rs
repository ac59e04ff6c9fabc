//! Scheduled retention end to end, on every backend: two replicas with retention enabled
//! over one database; Results whose run ended long ago are deleted with their Records
//! (only one replica holds the `retention` lease), watch streams see the DELETED events,
//! what the policy keeps stays, and `/metrics` counts the deletes.

mod common;

use std::time::Duration;

use common::*;
use integration::{backend_tests, Backend, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::settings::RetentionRule;
use results_storage::{store, Database, PoolSettings};
use tonic::Code;

backend_tests!(scheduled_retention_deletes_and_watch_streams_see_it);

/// How long the test waits for retention (a bound on waiting, not a speed requirement).
const WAIT: Duration = Duration::from_secs(120);
const DAY: i64 = 86_400;

/// A Result in `parent` whose run ended `ended_days_ago`, with one Record.
async fn run(client: &mut Client, parent: &str, name: &str, ended_days_ago: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let full = format!("{parent}/results/{name}");
    let ended = now - ended_days_ago * DAY;
    // Created (now: not expired) with its Record, then given its summary, so that a pass
    // in between cannot delete it before its Record exists.
    create_result(client, parent, name).await;
    create_record(client, &full, "run", r#"{"kind":"PipelineRun"}"#).await;
    let mut result = result(parent, name, &[]);
    result.summary = Some(pb::RecordSummary {
        record: format!("{full}/records/run"),
        r#type: "tekton.dev/v1.PipelineRun".into(),
        start_time: Some(prost_types::Timestamp {
            seconds: ended - 60,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: ended,
            nanos: 0,
        }),
        status: pb::record_summary::Status::Success as i32,
        annotations: Default::default(),
    });
    client
        .update_result(pb::UpdateResultRequest {
            name: full.clone(),
            result: Some(result),
            etag: String::new(),
        })
        .await
        .unwrap();
}

async fn scheduled_retention_deletes_and_watch_streams_see_it(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.retention.enabled = true;
        s.retention.interval = "1s".into();
        s.retention.default_max_age = "30d".into();
        s.retention.rules = vec![RetentionRule {
            namespaces: vec!["keep".into()],
            max_age: "forever".into(),
            ..RetentionRule::default()
        }];
    });
    let replica = server.replica();
    let mut watch = server.watch_with(&[]).await;
    let mut stream = watch
        .watch_results(pb::WatchResultsRequest {
            parent: "-".into(),
            filter: String::new(),
            resume_from: None,
        })
        .await
        .unwrap()
        .into_inner();
    let opened = stream.message().await.unwrap().unwrap();
    assert_eq!(opened.r#type, pb::EventType::Bookmark as i32);

    let mut client = server.grpc().await;
    run(&mut client, "old", "a", 100).await;
    run(&mut client, "old", "b", 31).await;
    run(&mut client, "old", "recent", 1).await;
    run(&mut client, "keep", "a", 400).await;

    // The watch sees both old Results deleted by a scheduled pass.
    let mut deleted = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while deleted.len() < 2 {
        let event = tokio::time::timeout_at(deadline, stream.message())
            .await
            .expect("retention deletes within the wait")
            .unwrap()
            .unwrap();
        if event.r#type == pb::EventType::Deleted as i32 {
            deleted.push(event.object.unwrap().name);
        }
    }
    deleted.sort();
    assert_eq!(deleted, ["old/results/a", "old/results/b"]);
    for gone in ["old/results/a", "old/results/b"] {
        assert_code(get_result(&mut client, gone).await, Code::NotFound, gone);
        let record = format!("{gone}/records/run");
        assert_code(
            get_record(&mut client, &record).await,
            Code::NotFound,
            "run",
        );
    }
    for kept in ["old/results/recent", "keep/results/a"] {
        get_result(&mut client, kept).await.unwrap();
        get_record(&mut client, &format!("{kept}/records/run"))
            .await
            .unwrap();
    }
    // One replica holds the lease.
    let db = Database::connect(server.db().url(), PoolSettings::default()).unwrap();
    let lease = db.run(|c| store::leases::read(c, "retention")).unwrap();
    assert!(lease.is_some_and(|l| !l.holder.is_empty()));

    // /metrics: one leader, and the deletes counted (once the pass has ended).
    let addrs = [server.rest_addr(), replica.rest_addr()];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut scrapes = Vec::new();
        for addr in addrs {
            let text = reqwest::get(format!("http://{addr}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            scrapes.push(text);
        }
        let sum = |line: &str| -> f64 { scrapes.iter().map(|s| value(s, line)).sum() };
        if sum("results_api_retention_deleted_total{object=\"results\"}") == 2.0 {
            assert_eq!(sum("results_api_retention_leader"), 1.0, "{scrapes:?}");
            assert_eq!(
                sum("results_api_retention_deleted_total{object=\"records\"}"),
                2.0
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{scrapes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample `name` (with its labels) in a scrape; 0 when absent.
fn value(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}
