//! `GET /metrics`: what operators graph and alert on. Each request is counted once under
//! its RPC or route with the code it got; page-token refusals, group-commit batches,
//! queues, connections and open watch streams are there; paths no client should be able
//! to invent do not grow the label sets.

mod common;

use std::time::{Duration, Instant};

use common::{create_result, Client};
use integration::{backend_tests, Backend, Scrape, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use tonic::Code;

const RESULTS: &str = "tekton.results.v1alpha2.Results";
const GET_RESULT_ROUTE: &str =
    "/apis/results.tekton.dev/v1alpha2/parents/{parent}/results/{result}";

async fn scrape(server: &TestServer) -> Scrape {
    let response = reqwest::get(format!("http://{}/metrics", server.rest_addr()))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&response.text().await.unwrap())
}

fn handled(scrape: &Scrape, method: &str, code: &str) -> f64 {
    scrape
        .value(
            "grpc_server_handled_total",
            &[
                ("grpc_service", RESULTS),
                ("grpc_method", method),
                ("grpc_code", code),
            ],
        )
        .unwrap_or(0.0)
}

async fn requests_are_counted_by_method_route_and_code(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client: Client = server.grpc().await;
    for name in ["a", "b", "c"] {
        create_result(&mut client, "metrics", name).await;
    }
    let missing = client
        .get_result(pb::GetResultRequest {
            name: "metrics/results/none".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let forged = client
        .list_results(pb::ListResultsRequest {
            parent: "metrics".into(),
            page_token: "forged".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::InvalidArgument);
    let rest = server.rest();
    assert_eq!(
        rest.api("GET", "/parents/metrics/results/a", None).await.0,
        200
    );
    assert_eq!(
        rest.api("GET", "/parents/metrics/results/zz", None).await.0,
        404
    );
    for n in 0..20 {
        // Paths a client makes up: all in one `unmatched` series.
        assert_eq!(
            rest.call("GET", &format!("/made-up/{n}"), None).await.0,
            404
        );
    }

    let scrape = scrape(&server).await;
    assert_eq!(
        handled(&scrape, "CreateResult", "OK"),
        3.0,
        "{}",
        scrape.text()
    );
    assert_eq!(handled(&scrape, "GetResult", "NotFound"), 1.0);
    assert_eq!(handled(&scrape, "ListResults", "InvalidArgument"), 1.0);
    assert_eq!(
        scrape.value(
            "grpc_server_started_total",
            &[("grpc_method", "CreateResult"), ("grpc_type", "unary")]
        ),
        Some(3.0)
    );
    assert_eq!(
        scrape.value(
            "grpc_server_handling_seconds_count",
            &[("grpc_method", "CreateResult")]
        ),
        Some(3.0)
    );
    assert_eq!(
        scrape.value("results_api_page_token_rejections_total", &[]),
        Some(1.0)
    );
    let route = |status: &str| {
        scrape.value(
            "results_api_http_requests_total",
            &[
                ("method", "GET"),
                ("route", GET_RESULT_ROUTE),
                ("status", status),
            ],
        )
    };
    assert_eq!(route("200"), Some(1.0));
    assert_eq!(route("404"), Some(1.0));
    let routes: Vec<String> = scrape
        .series("results_api_http_requests_total")
        .into_iter()
        .map(|labels| labels["route"].clone())
        .collect();
    assert!(
        !routes.iter().any(|r| r.contains("made-up")),
        "client paths became labels: {routes:?}"
    );
    assert_eq!(
        scrape.sum("results_api_http_requests_total", &[("status", "404")]),
        21.0
    );

    // Every write was committed through the batcher; the pools answered them.
    assert_eq!(
        scrape.value("results_api_write_batch_size_sum", &[]),
        Some(3.0)
    );
    assert!(
        scrape.value(
            "results_api_actor_calls_total",
            &[("pool", "writer"), ("code", "OK")]
        ) >= Some(3.0)
    );
    assert_eq!(
        scrape.value(
            "results_api_actor_calls_total",
            &[("pool", "query"), ("code", "NotFound")]
        ),
        Some(2.0),
        "the gRPC and the REST GetResult of a missing Result"
    );
    let capacity = server.settings().actors.writer_queue as f64;
    assert_eq!(
        scrape.value("results_api_actor_queue_capacity", &[("pool", "writer")]),
        Some(capacity)
    );
    assert_eq!(
        scrape.value("results_api_actor_queue_depth", &[("pool", "writer")]),
        Some(0.0),
        "nothing is queued between requests"
    );
    assert!(scrape.sum("results_api_db_connections", &[]) >= 1.0);
}

async fn open_watch_streams_are_gauged(backend: Backend) {
    let server = TestServer::start(backend);
    let before = scrape(&server).await;
    assert_eq!(before.value("results_api_watch_streams", &[]), Some(0.0));
    let mut watch = server.watch_with(&[]).await;
    let stream = watch
        .watch_results(pb::WatchResultsRequest {
            parent: "metrics".into(),
            ..Default::default()
        })
        .await
        .expect("watch");
    assert_eq!(
        scrape(&server)
            .await
            .value("results_api_watch_streams", &[]),
        Some(1.0)
    );
    drop(stream);
    // The hub lets go of a stream when it next tries to reach it or at its next bookmark:
    // write a change to make that prompt.
    let mut client = server.grpc().await;
    create_result(&mut client, "metrics", "poke").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = scrape(&server).await;
        if now.value("results_api_watch_streams", &[]) == Some(0.0) {
            assert!(now.value("results_api_watch_feed_revision", &[]) >= Some(1.0));
            break;
        }
        assert!(Instant::now() < deadline, "{}", now.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = scrape(&server).await;
    assert_eq!(
        after.value(
            "grpc_server_handled_total",
            &[
                ("grpc_method", "WatchResults"),
                ("grpc_type", "server_stream")
            ]
        ),
        Some(1.0),
        "the stream the client dropped is counted once it ends"
    );
}

/// `scrape`'s value of `name` once `results_api_run_columns_backfill_state` says done.
async fn backfill_done(server: &TestServer) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = scrape(server).await;
        match now.value("results_api_run_columns_backfill_state", &[]) {
            Some(1.0) => return now,
            Some(0.0) => {}
            _ => panic!("the backfill did not finish:\n{}", now.text()),
        }
        assert!(Instant::now() < deadline, "{}", now.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The start-up pass that fills `records.run_*` reports what it filled and when it is
/// done: nothing on a new database; on a restart over Records written without those
/// columns, exactly those Records, after which none is left.
async fn the_run_columns_backfill_reports_its_progress(backend: Backend) {
    let mut server = TestServer::start(backend);
    let fresh = backfill_done(&server).await;
    assert_eq!(
        fresh.value("results_api_run_columns_backfilled_total", &[]),
        Some(0.0)
    );
    server.stop();
    let database = results_storage::Database::connect(server.db().url(), Default::default())
        .expect("connect to the server's database");
    let conn = &mut database.get().unwrap();
    let seeded = results_storage::testing::run_columns_fixture(conn, 1200).unwrap();
    assert_eq!(seeded, (1200, 0));
    server.restart();
    let done = backfill_done(&server).await;
    assert_eq!(
        done.value("results_api_run_columns_backfilled_total", &[]),
        Some(1200.0),
        "{}",
        done.text()
    );
    assert_eq!(
        results_storage::testing::run_columns_counts(conn).unwrap(),
        (0, 1200)
    );
}

backend_tests!(
    requests_are_counted_by_method_route_and_code,
    open_watch_streams_are_gauged,
    the_run_columns_backfill_reports_its_progress
);
