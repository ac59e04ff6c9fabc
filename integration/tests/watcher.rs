//! End to end: the real watcher against a fake Kubernetes API server (real kube-rs wire
//! format) and a real `results-api` over a throwaway database.

use std::time::Duration;

use integration::tekton;
use integration::{watcher_settings, FakeKube, TestServer, WatcherThread};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::record_summary::Status;
use results_storage::Backend;
use results_watcher::run::{
    RunKind, FINALIZER, RECORD_ANNOTATION, RESULT_ANNOTATION, STORED_ANNOTATION,
};
use results_watcher::settings::Settings;
use serde_json::{json, Value};

const NS: &str = "ci";
const V1: &str = "tekton.dev/v1";
const WAIT: Duration = Duration::from_secs(30);

/// A test cluster: the API, a fake Kubernetes, and a watcher between them.
struct Cluster {
    api: TestServer,
    kube: FakeKube,
    watcher: WatcherThread,
}

impl Cluster {
    fn start(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Cluster {
        let api = TestServer::start(backend);
        let kube = FakeKube::start();
        let mut settings = watcher_settings(api.grpc_addr());
        adjust(&mut settings);
        let watcher = WatcherThread::start(settings, &kube.url());
        Cluster { api, kube, watcher }
    }

    fn restart_watcher(&mut self, adjust: impl FnOnce(&mut Settings)) {
        self.watcher.stop();
        let mut settings = watcher_settings(self.api.grpc_addr());
        adjust(&mut settings);
        self.watcher = WatcherThread::start(settings, &self.kube.url());
    }

    async fn result(&self, name: &str) -> Option<pb::Result> {
        let request = pb::GetResultRequest { name: name.into() };
        match self.api.grpc().await.get_result(request).await {
            Ok(r) => Some(r.into_inner()),
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => panic!("GetResult {name}: {s}"),
        }
    }

    async fn record(&self, name: &str) -> Option<pb::Record> {
        let request = pb::GetRecordRequest { name: name.into() };
        match self.api.grpc().await.get_record(request).await {
            Ok(r) => Some(r.into_inner()),
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => panic!("GetRecord {name}: {s}"),
        }
    }

    async fn records(&self, result: &str) -> Vec<pb::Record> {
        let request = pb::ListRecordsRequest {
            parent: result.into(),
            page_size: 100,
            ..Default::default()
        };
        let response = self.api.grpc().await.list_records(request).await.unwrap();
        response.into_inner().records
    }

    /// Waits until the run `name` of `plural` satisfies `done`.
    async fn wait_run(
        &self,
        plural: &str,
        name: &str,
        what: &str,
        done: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let found = self.kube.wait_for(V1, plural, NS, name, WAIT, &done).await;
        assert!(done(found.as_ref()), "{plural}/{name}: {what}");
        found
    }

    async fn wait_stored(&self, plural: &str, name: &str) -> Value {
        self.wait_run(plural, name, "stored and released", |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o))
        })
        .await
        .unwrap()
    }
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

fn has_finalizer(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

fn uid(object: &Value) -> String {
    object["metadata"]["uid"].as_str().unwrap().to_owned()
}

fn data(record: &pb::Record) -> Value {
    serde_json::from_slice(&record.data.as_ref().unwrap().value).unwrap()
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn seconds(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap()
        .as_second()
}

/// Polls `check` until it holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pipeline_with_two_tasks_becomes_one_result(backend: Backend) {
    let cluster = Cluster::start(backend, |_| {});
    let kube = &cluster.kube;
    let mut pr = tekton::pipeline_run(NS, "build");
    pr["metadata"]["annotations"] = json!({
        "results.tekton.dev/resultAnnotations": "{\"repo\":\"app\"}",
        "results.tekton.dev/recordSummaryAnnotations": "{\"commit\":\"abc123\"}",
    });
    let pr = kube.create(pr);
    let pr_uid = uid(&pr);
    let result_name = format!("{NS}/results/{pr_uid}");
    let pr_record = format!("{result_name}/records/{pr_uid}");

    // Seen while pending: stored, annotated, held by the finalizer.
    let seen = cluster
        .wait_run("pipelineruns", "build", "annotated and held", |o| {
            o.is_some_and(|o| annotation(o, RECORD_ANNOTATION).is_some() && has_finalizer(o))
        })
        .await
        .unwrap();
    assert_eq!(
        annotation(&seen, RESULT_ANNOTATION),
        Some(result_name.as_str())
    );
    assert_eq!(
        annotation(&seen, RECORD_ANNOTATION),
        Some(pr_record.as_str())
    );
    assert_eq!(annotation(&seen, STORED_ANNOTATION), None);

    let start = now();
    kube.update(V1, "pipelineruns", NS, "build", |o| {
        tekton::set_running(o, &start)
    });
    let pr = kube.get(V1, "pipelineruns", NS, "build").unwrap();
    let mut task_names = Vec::new();
    for name in ["build-fetch", "build-test"] {
        let mut tr = tekton::task_run(NS, name, Some(&pr));
        tekton::set_running(&mut tr, &start);
        let tr = kube.create(tr);
        kube.update(V1, "pipelineruns", NS, "build", |o| {
            tekton::add_child_reference(o, &tr)
        });
        task_names.push((name, uid(&tr)));
    }
    let end = now();
    for (name, _) in &task_names {
        kube.update(V1, "taskruns", NS, name, |o| {
            tekton::set_finished(o, "True", "Succeeded", &end)
        });
    }
    kube.update(V1, "pipelineruns", NS, "build", |o| {
        tekton::set_finished(o, "True", "Succeeded", &end)
    });

    let final_pr = cluster.wait_stored("pipelineruns", "build").await;
    let mut finals = vec![(pr_uid.clone(), final_pr)];
    for (name, tr_uid) in &task_names {
        let tr = cluster.wait_stored("taskruns", name).await;
        // Grouped under the PipelineRun's Result.
        assert_eq!(
            annotation(&tr, RESULT_ANNOTATION),
            Some(result_name.as_str())
        );
        assert_eq!(
            annotation(&tr, RECORD_ANNOTATION),
            Some(format!("{result_name}/records/{tr_uid}").as_str())
        );
        finals.push((tr_uid.clone(), tr));
    }

    let result = cluster
        .result(&result_name)
        .await
        .expect("the Result exists");
    assert_eq!(
        result.annotations.get("repo").map(String::as_str),
        Some("app")
    );
    let summary = result.summary.expect("a summary");
    assert_eq!(summary.record, pr_record);
    assert_eq!(summary.r#type, "tekton.dev/v1.PipelineRun");
    assert_eq!(summary.status, Status::Success as i32);
    assert_eq!(summary.start_time.unwrap().seconds, seconds(&start));
    assert_eq!(summary.end_time.unwrap().seconds, seconds(&end));
    assert_eq!(
        summary.annotations.get("commit").map(String::as_str),
        Some("abc123")
    );

    let records = cluster.records(&result_name).await;
    assert_eq!(records.len(), 3, "one Result with three Records");
    for (record_uid, object) in &finals {
        let record = records
            .iter()
            .find(|r| r.name.ends_with(&format!("/records/{record_uid}")))
            .unwrap_or_else(|| panic!("no record for {record_uid}"));
        let kind = object["kind"].as_str().unwrap();
        assert_eq!(
            record.data.as_ref().unwrap().r#type,
            format!("tekton.dev/v1.{kind}")
        );
        let stored = data(record);
        // The final state: status, spec and identity as the cluster had them.
        assert_eq!(stored["status"], object["status"], "{kind} status");
        assert_eq!(stored["spec"], object["spec"], "{kind} spec");
        assert_eq!(stored["metadata"]["uid"], object["metadata"]["uid"]);
        assert!(stored["metadata"].get("managedFields").is_none());
    }

    // Write-backs were server-side applies by the watcher.
    let patches: Vec<_> = kube
        .writes()
        .into_iter()
        .filter(|w| w.method == "PATCH")
        .collect();
    assert!(!patches.is_empty());
    for patch in &patches {
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(patch.field_manager.as_deref(), Some("results-watcher"));
    }

    // The Prometheus endpoint counts what happened.
    let addr = cluster.watcher.metrics_addr().unwrap();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stored_runs = |kind: &str| -> u64 {
        let prefix = format!("results_watcher_runs_stored_total{{kind=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(stored_runs("PipelineRun") >= 2, "{text}");
    assert!(stored_runs("TaskRun") >= 2, "{text}");
    assert!(text.contains("results_watcher_store_duration_seconds_count"));
}

integration::backend_tests!(pipeline_with_two_tasks_becomes_one_result);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_map_to_the_summary_status() {
    let cluster = Cluster::start(Backend::Sqlite, |_| {});
    let cases = [
        ("ok", "True", "Succeeded", Status::Success),
        ("pull", "False", "TaskRunImagePullFailed", Status::Failure),
        ("failed", "False", "Failed", Status::Failure),
        ("slow", "False", "TaskRunTimeout", Status::Timeout),
        ("stopped", "False", "TaskRunCancelled", Status::Cancelled),
    ];
    let start = now();
    for (name, status, reason, _) in cases {
        let mut tr = tekton::task_run(NS, name, None);
        tekton::set_running(&mut tr, &start);
        tekton::set_finished(&mut tr, status, reason, &now());
        cluster.kube.create(tr);
    }
    for (name, _, reason, expected) in cases {
        let tr = cluster.wait_stored("taskruns", name).await;
        let result = cluster
            .result(annotation(&tr, RESULT_ANNOTATION).unwrap())
            .await
            .unwrap();
        let summary = result.summary.unwrap();
        assert_eq!(summary.status, expected as i32, "{reason}");
        assert_eq!(summary.r#type, "tekton.dev/v1.TaskRun");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_waits_until_the_final_state_is_stored() {
    let mut cluster = Cluster::start(Backend::Sqlite, |_| {});
    let mut tr = tekton::task_run(NS, "held", None);
    tekton::set_running(&mut tr, &now());
    cluster.kube.create(tr);
    let seen = cluster
        .wait_run("taskruns", "held", "held by the finalizer", |o| {
            o.is_some_and(has_finalizer)
        })
        .await
        .unwrap();
    let record_name = annotation(&seen, RECORD_ANNOTATION).unwrap().to_owned();

    cluster.api.stop();
    let end = now();
    cluster.kube.update(V1, "taskruns", NS, "held", |o| {
        tekton::set_finished(o, "True", "Succeeded", &end)
    });
    cluster.kube.delete(V1, "taskruns", NS, "held");
    // The watcher tries, fails, and keeps the run.
    eventually("a failed store", async || {
        cluster.watcher.metrics().failures.get(RunKind::TaskRun) > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = cluster
        .kube
        .get(V1, "taskruns", NS, "held")
        .expect("kept while unstored");
    assert!(still["metadata"]["deletionTimestamp"].is_string());

    cluster.api.restart();
    cluster
        .wait_run("taskruns", "held", "gone once stored", |o| o.is_none())
        .await;
    let record = cluster.record(&record_name).await.expect("stored");
    let stored = data(&record);
    assert_eq!(stored["status"]["conditions"][0]["reason"], "Succeeded");
    assert_eq!(stored["status"]["completionTime"], end.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finalizer_is_released_at_the_store_deadline() {
    let mut cluster = Cluster::start(Backend::Sqlite, |s| s.watcher.store_deadline_secs = 2);
    cluster.api.stop();
    let mut tr = tekton::task_run(NS, "orphan", None);
    tekton::set_running(&mut tr, &now());
    cluster.kube.create(tr);
    // Held even though the API has never been reachable.
    cluster
        .wait_run("taskruns", "orphan", "held while the API is down", |o| {
            o.is_some_and(has_finalizer)
        })
        .await;
    cluster.kube.delete(V1, "taskruns", NS, "orphan");
    let asked = std::time::Instant::now();
    cluster
        .wait_run("taskruns", "orphan", "released at the deadline", |o| {
            o.is_none()
        })
        .await;
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "released before the deadline"
    );
    // Counted once the release is answered (the run may be seen gone a moment before).
    eventually("the deadline release counted", async || {
        let metrics = cluster.watcher.metrics();
        metrics.released_deadline.get(RunKind::TaskRun) == 1
    })
    .await;
    assert_eq!(
        cluster
            .watcher
            .metrics()
            .released_stored
            .get(RunKind::TaskRun),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_stored_pipelines_after_the_grace_period() {
    let cluster = Cluster::start(Backend::Sqlite, |s| {
        s.watcher.cleanup_grace_secs = 1;
        s.watcher.cleanup_selector = "app=ci".into();
    });
    let kube = &cluster.kube;
    let mut pruned = tekton::pipeline_run(NS, "pruned");
    pruned["metadata"]["labels"]["app"] = json!("ci");
    let pruned = kube.create(pruned);
    let mut kept = tekton::pipeline_run(NS, "kept");
    kept["metadata"]["labels"]["app"] = json!("other");
    kube.create(kept);
    let start = now();
    let mut tasks = Vec::new();
    for name in ["pruned-a", "pruned-b"] {
        let mut tr = tekton::task_run(NS, name, Some(&pruned));
        tekton::set_running(&mut tr, &start);
        tekton::set_finished(&mut tr, "True", "Succeeded", &now());
        tasks.push(uid(&kube.create(tr)));
    }
    for name in ["pruned", "kept"] {
        kube.update(V1, "pipelineruns", NS, name, |o| {
            tekton::set_running(o, &start);
            tekton::set_finished(o, "True", "Succeeded", &now());
        });
    }
    cluster
        .wait_run(
            "pipelineruns",
            "pruned",
            "deleted after the grace period",
            |o| o.is_none(),
        )
        .await;
    for name in ["pruned-a", "pruned-b"] {
        cluster
            .wait_run("taskruns", name, "gone with its PipelineRun", |o| {
                o.is_none()
            })
            .await;
    }
    // The history stays queryable.
    let result_name = format!("{NS}/results/{}", uid(&pruned));
    let result = cluster.result(&result_name).await.expect("Result kept");
    assert_eq!(result.summary.unwrap().status, Status::Success as i32);
    assert_eq!(cluster.records(&result_name).await.len(), 3);
    // Only the PipelineRun was deleted by the watcher; its TaskRuns went with it.
    let deletes: Vec<_> = kube
        .writes()
        .into_iter()
        .filter(|w| w.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(deletes[0].path.ends_with("/pipelineruns/pruned"));
    // Not selected: stored, but never deleted.
    cluster.wait_stored("pipelineruns", "kept").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(kube.get(V1, "pipelineruns", NS, "kept").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_outage_loses_no_update() {
    let mut cluster = Cluster::start(Backend::Sqlite, |_| {});
    let names: Vec<String> = (0..5).map(|i| format!("outage-{i}")).collect();
    let start = now();
    for name in &names {
        let mut tr = tekton::task_run(NS, name, None);
        tekton::set_running(&mut tr, &start);
        cluster.kube.create(tr);
    }
    for name in &names {
        cluster
            .wait_run("taskruns", name, "stored while running", |o| {
                o.is_some_and(has_finalizer)
            })
            .await;
    }
    cluster.api.stop();
    for step in 0..3 {
        for name in &names {
            cluster.kube.update(V1, "taskruns", NS, name, |o| {
                o["status"]["podName"] = json!(format!("{name}-pod-{step}"));
            });
        }
    }
    for (i, name) in names.iter().enumerate() {
        let reason = if i % 2 == 0 { "Succeeded" } else { "Failed" };
        let status = if i % 2 == 0 { "True" } else { "False" };
        cluster.kube.update(V1, "taskruns", NS, name, |o| {
            tekton::set_finished(o, status, reason, &now())
        });
    }
    eventually("failed stores during the outage", async || {
        cluster.watcher.metrics().failures.get(RunKind::TaskRun) >= 5
    })
    .await;
    cluster.api.restart();
    for name in &names {
        let object = cluster.wait_stored("taskruns", name).await;
        let record = cluster
            .record(annotation(&object, RECORD_ANNOTATION).unwrap())
            .await
            .unwrap();
        let stored = data(&record);
        assert_eq!(
            stored["status"], object["status"],
            "{name}: the latest state"
        );
        assert_eq!(stored["status"]["podName"], format!("{name}-pod-2"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_run_causes_no_writes() {
    use std::sync::atomic::Ordering::Relaxed;
    use RunKind::TaskRun;

    let mut cluster = Cluster::start(Backend::Sqlite, |_| {});
    let mut tr = tekton::task_run(NS, "quiet", None);
    tekton::set_running(&mut tr, &now());
    tekton::set_finished(&mut tr, "True", "Succeeded", &now());
    cluster.kube.create(tr);
    let object = cluster.wait_stored("taskruns", "quiet").await;
    let record_name = annotation(&object, RECORD_ANNOTATION).unwrap().to_owned();
    let etag = cluster.record(&record_name).await.unwrap().etag;
    let patches = |kube: &FakeKube| kube.writes().iter().filter(|w| w.method == "PATCH").count();
    let patches_before = patches(&cluster.kube);
    let metrics = cluster.watcher.metrics();
    let writes = metrics.api_writes.load(Relaxed);
    let skipped = metrics.skipped.get(TaskRun);
    // A run first seen finished: CreateResult + CreateRecord, and one apply that says
    // where it is stored (no finalizer needed).
    assert_eq!(writes, 2, "API writes for a new run");
    assert_eq!(patches_before, 1, "Kubernetes writes for a new run");

    // Events that change nothing stored: a new resource version only.
    for _ in 0..3 {
        cluster.kube.update(V1, "taskruns", NS, "quiet", |_| {});
    }
    eventually("the events were seen", async || {
        cluster.watcher.metrics().skipped.get(TaskRun) > skipped
    })
    .await;
    let metrics = cluster.watcher.metrics();
    assert_eq!(metrics.api_writes.load(Relaxed), writes, "no API writes");
    assert_eq!(
        patches(&cluster.kube),
        patches_before,
        "no Kubernetes writes"
    );
    assert_eq!(cluster.record(&record_name).await.unwrap().etag, etag);

    // A restarted watcher finds everything stored and writes nothing.
    cluster.restart_watcher(|_| {});
    eventually("the restarted watcher listed the run", async || {
        cluster.watcher.metrics().skipped.get(TaskRun) >= 1
    })
    .await;
    assert_eq!(cluster.watcher.metrics().api_writes.load(Relaxed), 0);
    assert_eq!(patches(&cluster.kube), patches_before);

    // A real change is one write: the Record, not the unchanged Result.
    cluster.kube.update(V1, "taskruns", NS, "quiet", |o| {
        o["metadata"]["labels"]["reviewed"] = json!("yes");
    });
    eventually("the change stored", async || {
        cluster.watcher.metrics().stored.get(TaskRun) >= 1
    })
    .await;
    assert_eq!(cluster.watcher.metrics().api_writes.load(Relaxed), 1);
    let stored = data(&cluster.record(&record_name).await.unwrap());
    assert_eq!(stored["metadata"]["labels"]["reviewed"], "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_one_trigger_event_share_a_result_even_without_a_cache() {
    // No cache between watch and workers: every change is fetched again.
    let cluster = Cluster::start(Backend::Sqlite, |s| s.watcher.cache_bytes = 0);
    for name in ["push-build", "push-lint"] {
        let mut pr = tekton::pipeline_run(NS, name);
        pr["metadata"]["labels"]["triggers.tekton.dev/triggers-eventid"] = json!("event-7");
        tekton::set_running(&mut pr, &now());
        tekton::set_finished(&mut pr, "True", "Succeeded", &now());
        cluster.kube.create(pr);
    }
    let mut uids = Vec::new();
    for name in ["push-build", "push-lint"] {
        let pr = cluster.wait_stored("pipelineruns", name).await;
        assert_eq!(
            annotation(&pr, RESULT_ANNOTATION),
            Some("ci/results/event-7")
        );
        uids.push(uid(&pr));
    }
    let records = cluster.records("ci/results/event-7").await;
    let mut names: Vec<_> = records.iter().map(|r| r.name.clone()).collect();
    names.sort();
    let mut expected: Vec<_> = uids
        .iter()
        .map(|u| format!("ci/results/event-7/records/{u}"))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1beta1_runs_are_recorded_with_their_version() {
    const V1BETA1: &str = "tekton.dev/v1beta1";
    let cluster = Cluster::start(Backend::Sqlite, |s| {
        s.kubernetes.tekton_version = "v1beta1".into()
    });
    let mut tr = tekton::task_run(NS, "old-style", None);
    tr["apiVersion"] = json!(V1BETA1);
    tekton::set_running(&mut tr, &now());
    tekton::set_finished(&mut tr, "False", "Failed", &now());
    cluster.kube.create(tr);
    let stored = cluster
        .kube
        .wait_for(V1BETA1, "taskruns", NS, "old-style", WAIT, |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true"))
        })
        .await
        .expect("stored");
    let record = cluster
        .record(annotation(&stored, RECORD_ANNOTATION).unwrap())
        .await
        .unwrap();
    assert_eq!(
        record.data.as_ref().unwrap().r#type,
        "tekton.dev/v1beta1.TaskRun"
    );
    let result = cluster
        .result(annotation(&stored, RESULT_ANNOTATION).unwrap())
        .await
        .unwrap();
    let summary = result.summary.unwrap();
    assert_eq!(summary.r#type, "tekton.dev/v1beta1.TaskRun");
    assert_eq!(summary.status, Status::Failure as i32);
}
