//! The history UI at `/ui`, end to end in headless Chromium against a seeded server:
//! namespaces → runs, paging both ways, a filter error shown inline with the server's
//! message, a run stored while the page is open appearing without reload, charts with one
//! point per day, a run's page; with auth, 401 shown until a token is given. Screenshots go
//! to `<target>/tmp/ui-screenshots/` as test artifacts.

mod common;

use std::path::PathBuf;

use common::{record, Client};
use integration::browser::Browser;
use integration::secured::StaticAuthServer;
use integration::{Backend, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use serde_json::json;
use tonic::codegen::StdError;

/// Runs of pipeline `build` on four days, and of `deploy`: more than a page.
const BUILDS: usize = 21;
const DEPLOYS: usize = 4;

fn screenshot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ui-screenshots")
        .join(format!("{name}.png"))
}

fn run_json(name: &str, pipeline: &str, day: usize, succeeded: bool) -> String {
    let start = format!("2026-11-{:02}T10:00:00Z", 20 + day);
    let end = format!("2026-11-{:02}T10:0{}:30Z", 20 + day, 1 + day);
    json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "ci",
                     "labels": {"tekton.dev/pipeline": pipeline}},
        "status": {
            "startTime": start,
            "completionTime": end,
            "conditions": [{"type": "Succeeded",
                            "status": if succeeded { "True" } else { "False" },
                            "reason": if succeeded { "Succeeded" } else { "Failed" }}],
        },
    })
    .to_string()
}

/// Stores a run as upstream's watcher would: a Result and its PipelineRun Record (through
/// any channel: plain, or one that adds a token).
async fn store_run<T>(client: &mut ResultsClient<T>, name: &str, json: &str)
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<StdError> + Send,
{
    let result = format!("ci/results/{name}");
    client
        .create_result(pb::CreateResultRequest {
            parent: "ci".into(),
            result: Some(pb::Result {
                name: result.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("create result");
    client
        .create_record(pb::CreateRecordRequest {
            parent: result.clone(),
            record: Some(record(&result, name, "tekton.dev/v1.PipelineRun", json)),
        })
        .await
        .expect("create record");
}

async fn seed(client: &mut Client) {
    for i in 0..BUILDS {
        let name = format!("build-{i:02}");
        store_run(client, &name, &run_json(&name, "build", i % 4, i % 3 != 0)).await;
    }
    for i in 0..DEPLOYS {
        let name = format!("deploy-{i}");
        store_run(client, &name, &run_json(&name, "deploy", 0, true)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_page_filter_watch_and_chart() {
    let server = TestServer::start(Backend::Sqlite);
    let mut client = server.grpc().await;
    seed(&mut client).await;
    let ui = format!("http://{}/ui", server.rest_addr());
    let browser = Browser::start().await;

    // Namespaces → runs, newest first, a page of 20.
    browser.goto(&ui).await;
    browser
        .click("#namespaces a[href='/ui?view=runs&ns=ci']")
        .await;
    browser.wait_for("#runs tbody tr").await;
    assert_eq!(browser.count("#runs tbody tr").await, 20);
    assert_eq!(
        browser.text("#runs tbody tr td a").await.as_deref(),
        Some("deploy-3"),
        "newest first"
    );
    assert_eq!(
        browser.text("#page-number").await.as_deref(),
        Some("page 1")
    );
    browser.screenshot(&screenshot("runs")).await;

    // Older, then newer again: the URL keeps the page.
    browser.click("#older").await;
    browser
        .wait_until(
            "document.querySelector('#page-number')?.innerText === arguments[0]",
            json!("page 2"),
            "page 2",
        )
        .await;
    assert_eq!(browser.count("#runs tbody tr").await, BUILDS + DEPLOYS - 20);
    assert!(browser.url().await.contains("tokens="));
    browser.click("#newer").await;
    browser
        .wait_until(
            "document.querySelector('#page-number')?.innerText === arguments[0]",
            json!("page 1"),
            "page 1 again",
        )
        .await;
    assert_eq!(browser.count("#runs tbody tr").await, 20);

    // A filter the server refuses: its message, inline.
    browser.type_into("input[name=filter]", "nope == 1").await;
    browser.click("#filters button[type=submit]").await;
    browser.wait_for(".filter-error").await;
    let refused = browser.text(".filter-error").await.unwrap();
    assert!(refused.contains("nope"), "{refused}");
    assert!(
        refused.contains("at offset 0 of your filter"),
        "the offset is in the typed text: {refused}"
    );
    assert!(browser.url().await.contains("filter="), "the URL holds it");
    browser.screenshot(&screenshot("filter-error")).await;

    // Quick filters: a pipeline, a status, a start-time range.
    browser
        .goto(&format!("{ui}?view=runs&ns=ci&pipeline=deploy"))
        .await;
    browser.wait_for("#runs tbody tr").await;
    assert_eq!(browser.count("#runs tbody tr").await, DEPLOYS);
    browser
        .goto(&format!("{ui}?view=runs&ns=ci&status=FAILURE"))
        .await;
    browser.wait_for("#runs tbody tr").await;
    let failed = (0..BUILDS).filter(|i| i % 3 == 0).count();
    assert_eq!(browser.count("#runs tbody tr").await, failed);
    assert_eq!(browser.count("#runs .status.SUCCESS").await, 0);
    browser
        .goto(&format!("{ui}?view=runs&ns=ci&since=2026-11-23"))
        .await;
    browser.wait_for("#runs tbody tr").await;
    let last_day = (0..BUILDS).filter(|i| i % 4 == 3).count();
    assert_eq!(browser.count("#runs tbody tr").await, last_day);

    // Live: a run stored while the page is open appears at the top without a reload.
    browser.goto(&format!("{ui}?view=runs&ns=ci")).await;
    browser.wait_for("#live.live:not(.off)").await;
    store_run(
        &mut client,
        "live-run",
        &run_json("live-run", "build", 3, true),
    )
    .await;
    browser
        .wait_until(
            "document.querySelector('#runs tbody tr')?.dataset.name === arguments[0]",
            json!("ci/results/live-run/records/live-run"),
            "the live run at the top",
        )
        .await;
    assert_eq!(browser.count("#runs tbody tr").await, 20);
    browser.screenshot(&screenshot("live")).await;

    // Charts of pipeline build: one point and one bar per day it ran.
    browser
        .goto(&format!("{ui}?view=charts&ns=ci&pipeline=build"))
        .await;
    browser.wait_for("#durations svg").await;
    assert_eq!(browser.count("#durations circle.point").await, 4);
    assert_eq!(browser.count("#success rect.bar").await, 4);
    browser.screenshot(&screenshot("charts")).await;

    // A run's page: what it is, the stored JSON, its log (none stored here).
    browser
        .goto(&format!(
            "{ui}?view=run&ns=ci&result=build-03&record=build-03"
        ))
        .await;
    browser.wait_for("#run").await;
    assert!(browser.text("h1").await.unwrap().contains("build-03"));
    let run = browser.text("#run").await.unwrap();
    assert!(
        run.contains("Pipeline") && run.contains("build") && run.contains("PipelineRun"),
        "{run}"
    );
    assert_eq!(browser.count("#json pre").await, 1);
    browser
        .wait_until(
            "document.querySelector('#log')?.innerText.includes(arguments[0])",
            json!("No log"),
            "the log's absence said",
        )
        .await;
    browser.screenshot(&screenshot("run")).await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_the_ui_says_401_until_it_has_a_token() {
    const TOKEN: &str = "ui-reader-token";
    let tokens = format!(
        "[[subjects]]\nname = \"admin\"\ntoken = \"admin-token\"\n\
         [[subjects.grants]]\nnamespaces = [\"*\"]\nresources = [\"*\"]\nverbs = [\"*\"]\n\
         [[subjects]]\nname = \"reader\"\ntoken = \"{TOKEN}\"\n\
         [[subjects.grants]]\nnamespaces = [\"ci\"]\nresources = [\"results\", \"records\"]\n\
         verbs = [\"get\", \"list\"]\n"
    );
    let server = StaticAuthServer::start(Backend::Sqlite, &tokens);
    let mut admin = server
        .api
        .grpc_with(&[("authorization", "Bearer admin-token")])
        .await;
    for i in 0..3 {
        let name = format!("build-{i}");
        store_run(&mut admin, &name, &run_json(&name, "build", 0, true)).await;
    }
    let browser = Browser::start().await;
    browser
        .goto(&format!(
            "http://{}/ui?view=runs&ns=ci",
            server.api.rest_addr()
        ))
        .await;
    browser.wait_for("#auth-error:not([hidden])").await;
    let said = browser.text("#auth-error").await.unwrap();
    assert!(said.contains("401"), "{said}");
    browser.screenshot(&screenshot("unauthenticated")).await;

    browser.type_into("#token", TOKEN).await;
    browser.click("#token-form button").await;
    browser.wait_for("#runs tbody tr").await;
    assert_eq!(browser.count("#runs tbody tr").await, 3);
    assert_eq!(browser.count("#auth-error:not([hidden])").await, 0);

    // Another namespace: the reader may not list there.
    browser
        .goto(&format!(
            "http://{}/ui?view=runs&ns=prod",
            server.api.rest_addr()
        ))
        .await;
    browser.wait_for("#auth-error:not([hidden])").await;
    assert!(browser.text("#auth-error").await.unwrap().contains("403"));
    browser.quit().await;
}
