//! End to end: the real watcher uploads the step logs of finished TaskRuns, read from the
//! fake Kubernetes API's `pods/log`, before it releases their finalizer (SPEC §7, §9,
//! issue 12).
//!
//! The wire protocol: each step is one `UpdateLog` stream named
//! `<parent>/results/<result>/logs/<taskrun-record>/<container>`, every message carrying
//! the name, data in chunks of at most 64 KiB; a re-upload replaces; the answer's
//! `bytes_received` counts the data.
//!
//! Two set-ups:
//! - the watcher talks to a test double that records `UpdateLog` calls and forwards the
//!   Results calls the watcher makes to a real `results-api` (to see exactly what it sends,
//!   and to make the API fail on cue);
//! - the watcher against the real server, and the logs read back with `GetLog`.

mod logs_support;

use std::time::Duration;

use integration::fake_kube::GeneratedLog;
use integration::tekton;
use integration::watcher_settings;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_watcher::logs::CHUNK_BYTES;
use results_watcher::run::{LOG_STORED_ANNOTATION, RECORD_ANNOTATION, STORED_ANNOTATION};
use serde_json::json;
use tonic::Code;

use logs_support::*;

// ---------------------------------------------------------------------------------------
// Against the double: runnable now.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_log_is_uploaded_under_its_name_before_the_finalizer_goes() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    kube.set_pod_log(NS, "unit-pod", "step-build", "compiling\nlinking\n");
    kube.set_pod_log(NS, "unit-pod", "step-test", "");
    kube.set_pod_log(NS, "unit-pod", "step.odd", "never asked for\n");
    // A running TaskRun is held; the finished one is released once its logs are up.
    let mut tr = tekton::task_run(NS, "unit", None);
    tekton::set_running(&mut tr, &now());
    let tr = kube.create(tr);
    cluster
        .wait_task_run("unit", "held while running", |o| {
            o.is_some_and(has_finalizer)
        })
        .await;
    assert!(
        cluster.double().uploads().is_empty(),
        "no logs while running"
    );
    let finished = finished_task_run("unit", &["step-build", "step-test", "step.odd"], None);
    kube.update(V1, "taskruns", NS, "unit", |o| {
        o["status"] = finished["status"].clone()
    });

    let stored = cluster.wait_logs_stored("unit").await;
    let build = log_name(&stored, "step-build");
    assert_eq!(
        build,
        format!("{NS}/results/{0}/logs/{0}/step-build", uid(&tr))
    );
    let double = cluster.double();
    let log = double.log(&build).expect("the build step's log");
    assert_eq!(log.text(), "compiling\nlinking\n");
    assert_eq!(log.messages, 1);
    let test = double
        .log(&log_name(&stored, "step-test"))
        .expect("an empty log is a log");
    assert_eq!((test.bytes, test.messages), (0, 1));
    // A container name that is no name segment is skipped.
    assert_eq!(double.uploads().len(), 2, "{:?}", double.uploads());

    // Asked with the cap (+1, to tell a cut log) for the API server to stop there too.
    let asked: Vec<_> = kube
        .pod_log_requests()
        .into_iter()
        .filter(|r| r.pod == "unit-pod")
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[0].query.contains("container=step-build"), "{asked:?}");
    assert!(
        asked[0]
            .query
            .contains(&format!("limitBytes={}", (64 << 20) + 1)),
        "{asked:?}"
    );

    let metrics = cluster.watcher.metrics();
    assert_eq!(metrics.logs_uploaded.load(Relaxed), 2);
    assert_eq!(metrics.log_bytes.load(Relaxed), 18);
    assert_eq!(metrics.log_failures.load(Relaxed), 0);
    let addr = cluster.watcher.metrics_addr().unwrap();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l == "results_watcher_logs_uploaded_total 2"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "results_watcher_log_bytes_total 18"),
        "{text}"
    );

    // Marked: later changes of the run do not upload its logs again.
    kube.update(V1, "taskruns", NS, "unit", |o| {
        o["metadata"]["labels"]["seen"] = json!("yes")
    });
    eventually("the change stored", || {
        metrics.stored.get(results_watcher::run::RunKind::TaskRun) >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(double.uploads().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_task_runs_upload_their_logs_and_the_pipeline_run_none() {
    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    let mut pr = tekton::pipeline_run(NS, "pipe");
    tekton::set_running(&mut pr, &now());
    let pr = kube.create(pr);
    for name in ["pipe-fetch", "pipe-build"] {
        kube.set_pod_log(
            NS,
            &format!("{name}-pod"),
            "step-build",
            format!("{name} says hi\n"),
        );
        kube.create(finished_task_run(name, &["step-build"], Some(&pr)));
    }
    kube.update(V1, "pipelineruns", NS, "pipe", |o| {
        tekton::set_finished(o, "True", "Succeeded", &now())
    });
    let pr_uid = uid(&pr);
    for name in ["pipe-fetch", "pipe-build"] {
        let stored = cluster.wait_logs_stored(name).await;
        let log = log_name(&stored, "step-build");
        // Under the PipelineRun's Result, named after the TaskRun's Record.
        assert_eq!(
            log,
            format!("{NS}/results/{pr_uid}/logs/{}/step-build", uid(&stored))
        );
        let received = cluster.double().log(&log).expect("uploaded");
        assert_eq!(received.text(), format!("{name} says hi\n"));
    }
    let pr = kube
        .wait_for(V1, "pipelineruns", NS, "pipe", WAIT, |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o))
        })
        .await
        .unwrap();
    assert_eq!(annotation(&pr, LOG_STORED_ANNOTATION), None);
    assert_eq!(cluster.double().uploads().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_logs_stream_in_chunks_and_are_cut_at_the_cap() {
    use std::sync::atomic::Ordering::Relaxed;

    const CAP: u64 = 3 << 20;
    let cluster = Cluster::with_double(|s| s.logs.max_bytes_per_step = CAP).await;
    let kube = &cluster.kube;
    let whole = CAP - 12_345;
    let over = 2 * CAP;
    kube.set_pod_log_generated(NS, "big-pod", "step-whole", whole);
    kube.set_pod_log_generated(NS, "big-pod", "step-over", over);
    kube.create(finished_task_run("big", &["step-whole", "step-over"], None));
    let stored = cluster.wait_logs_stored("big").await;

    let received = cluster
        .double()
        .log(&log_name(&stored, "step-whole"))
        .unwrap();
    assert_eq!(received.bytes, whole);
    assert_eq!(
        received.digest,
        generated_digest(whole),
        "the log as generated"
    );
    assert_eq!(received.largest_message, CHUNK_BYTES);
    assert_eq!(received.messages as u64, whole.div_ceil(CHUNK_BYTES as u64));

    let cut = cluster
        .double()
        .log(&log_name(&stored, "step-over"))
        .unwrap();
    let line = format!("\n[results-watcher: log truncated at {CAP} bytes]\n");
    assert_eq!(cut.bytes, CAP + line.len() as u64);
    let expected = GeneratedLog::new(CAP)
        .chunks(1 << 20)
        .fold(FNV_START, |hash, chunk| fnv(hash, &chunk));
    assert_eq!(
        cut.digest,
        fnv(expected, line.as_bytes()),
        "the first CAP bytes, then the line"
    );
    assert!(cut.largest_message <= CHUNK_BYTES);
    let metrics = cluster.watcher.metrics();
    assert_eq!(metrics.logs_truncated.load(Relaxed), 1);
    assert_eq!(metrics.log_bytes.load(Relaxed), whole + cut.bytes);
    // The API server was asked to stop at the cap too.
    let asked = kube.pod_log_requests();
    assert!(
        asked
            .iter()
            .all(|r| r.query.contains(&format!("limitBytes={}", CAP + 1))),
        "{asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_the_logs_service_holds_the_deleted_run_until_its_logs_are_up() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    cluster.double().fail(Some(Code::Unavailable));
    kube.set_pod_log(NS, "held-pod", "step-build", "built\n");
    let mut tr = tekton::task_run(NS, "held", None);
    tekton::set_running(&mut tr, &now());
    kube.create(tr);
    cluster
        .wait_task_run("held", "held while running", |o| {
            o.is_some_and(has_finalizer)
        })
        .await;
    let finished = finished_task_run("held", &["step-build"], None);
    kube.update(V1, "taskruns", NS, "held", |o| {
        o["status"] = finished["status"].clone()
    });
    kube.delete(V1, "taskruns", NS, "held");
    // Stored, but held: the logs could not go.
    let metrics = cluster.watcher.metrics();
    eventually("failed uploads", || metrics.log_failures.load(Relaxed) >= 2).await;
    let still = kube
        .get(V1, "taskruns", NS, "held")
        .expect("kept while its logs are not up");
    assert!(still["metadata"]["deletionTimestamp"].is_string());
    assert!(has_finalizer(&still));
    assert_eq!(annotation(&still, LOG_STORED_ANNOTATION), None);
    assert!(cluster.double().refused() >= 2, "retried");

    cluster.double().fail(None);
    cluster
        .wait_task_run("held", "gone once its logs are up", |o| o.is_none())
        .await;
    let names = cluster.double().uploads();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(cluster.double().log(&names[0]).unwrap().text(), "built\n");
    assert_eq!(
        metrics
            .released_deadline
            .get(results_watcher::run::RunKind::TaskRun),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_read_that_breaks_aborts_the_upload_rather_than_storing_half_and_retries() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    // More than a chunk arrives before the break: the upload is under way when it fails.
    kube.set_pod_log_broken(NS, "flaky-pod", "step-build", vec![b'x'; 3 * CHUNK_BYTES]);
    kube.create(finished_task_run("flaky", &["step-build"], None));
    let metrics = cluster.watcher.metrics();
    eventually("failed uploads", || metrics.log_failures.load(Relaxed) >= 2).await;
    let held = kube.get(V1, "taskruns", NS, "flaky").unwrap();
    assert!(has_finalizer(&held), "held while its log is not up");
    assert_eq!(annotation(&held, LOG_STORED_ANNOTATION), None);
    assert!(
        cluster.double().uploads().is_empty(),
        "a cut read must abort the upload, not end it: {:?}",
        cluster.double().uploads()
    );

    kube.set_pod_log(NS, "flaky-pod", "step-build", "whole at last\n");
    let stored = cluster.wait_logs_stored("flaky").await;
    let log = cluster
        .double()
        .log(&log_name(&stored, "step-build"))
        .unwrap();
    assert_eq!(log.text(), "whole at last\n");
    assert_eq!(cluster.double().uploads().len(), 1);
}

/// Why the watcher aborts uploads on the wire: a tonic server reads a dropped
/// client-streaming call (RST_STREAM CANCEL) as a complete stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_upload_looks_complete_to_a_tonic_server_and_an_aborted_one_does_not() {
    use results_watcher::client::ApiClient;
    use results_watcher::logs::Upload;

    let double = LogsDouble::start("127.0.0.1:1".parse().unwrap()).await;
    let name = "ci/results/r/logs/t/step-build";
    let half = pb::Log {
        name: name.into(),
        data: b"half".to_vec(),
    };
    let (more, rest) = tokio::sync::mpsc::channel::<pb::Log>(1);
    more.send(half.clone()).await.unwrap();
    let mut client = LogsClient::connect(format!("http://{}", double.addr))
        .await
        .unwrap();
    let call = tokio::spawn(async move {
        client
            .update_log(tokio_stream::wrappers::ReceiverStream::new(rest))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    eventually("the dropped upload ends on the server", || {
        !double.uploads().is_empty()
    })
    .await;
    assert_eq!(
        double.log(name).unwrap().text(),
        "half",
        "stored as if whole"
    );
    drop(more);

    let mut settings = watcher_settings(double.addr).api;
    settings.timeout_secs = 5;
    let api = ApiClient::new(&settings).unwrap();
    let uploads = futures::stream::iter([
        Upload::Chunk(pb::Log {
            name: "ci/results/r/logs/t/step-test".into(),
            data: b"half".to_vec(),
        }),
        Upload::Abort("the log read failed".into()),
    ]);
    let status = api.update_log(uploads).await.expect_err("aborted");
    assert_ne!(status.code(), Code::Ok);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        double.uploads().len(),
        1,
        "the aborted upload is not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_watcher_uploads_the_logs_its_predecessor_could_not() {
    use std::sync::atomic::Ordering::Relaxed;

    let mut cluster = Cluster::with_double(|_| {}).await;
    cluster.double().fail(Some(Code::Unavailable));
    cluster
        .kube
        .set_pod_log(NS, "carry-pod", "step-build", "carried over\n");
    cluster
        .kube
        .create(finished_task_run("carry", &["step-build"], None));
    cluster
        .wait_task_run("carry", "stored and held for its logs", |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && has_finalizer(o))
        })
        .await;
    // What is pending lives on the run, not in the watcher's memory.
    cluster.restart_watcher();
    cluster.double().fail(None);
    let stored = cluster.wait_logs_stored("carry").await;
    let log = cluster
        .double()
        .log(&log_name(&stored, "step-build"))
        .unwrap();
    assert_eq!(log.text(), "carried over\n");
    let metrics = cluster.watcher.metrics();
    assert_eq!(metrics.logs_uploaded.load(Relaxed), 1);
    // The Record was current: the new watcher only uploaded the logs.
    assert_eq!(metrics.api_writes.load(Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_that_cannot_go_are_given_up_at_the_store_deadline() {
    let cluster = Cluster::with_double(|s| s.watcher.store_deadline_secs = 2).await;
    let kube = &cluster.kube;
    cluster.double().fail(Some(Code::Unavailable));
    kube.set_pod_log(NS, "late-pod", "step-build", "built\n");
    kube.create(finished_task_run("late", &["step-build"], None));
    cluster
        .wait_task_run("late", "stored and held for its logs", |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && has_finalizer(o))
        })
        .await;
    kube.delete(V1, "taskruns", NS, "late");
    let asked = std::time::Instant::now();
    cluster
        .wait_task_run("late", "released at the deadline", |o| o.is_none())
        .await;
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "released before the deadline"
    );
    let metrics = cluster.watcher.metrics();
    eventually("the deadline release counted", || {
        metrics
            .released_deadline
            .get(results_watcher::run::RunKind::TaskRun)
            == 1
    })
    .await;
    assert!(cluster.double().uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_without_logs_is_asked_once_and_holds_nothing() {
    let cluster = Cluster::with_double(|_| {}).await;
    let kube = &cluster.kube;
    cluster.double().fail(Some(Code::Unimplemented));
    let released = async |name: &str| {
        let stored = cluster
            .wait_task_run(name, "stored and released", |o| {
                o.is_some_and(|o| {
                    annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o)
                })
            })
            .await
            .unwrap();
        // Not marked: a later watcher against a server with logs may still upload them.
        assert_eq!(annotation(&stored, LOG_STORED_ANNOTATION), None);
    };
    kube.set_pod_log(NS, "old-a-pod", "step-build", "built\n");
    kube.create(finished_task_run("old-a", &["step-build"], None));
    released("old-a").await;
    assert_eq!(cluster.double().refused(), 1);
    // Later runs are not held for logs, and the API is not asked again for a while.
    for name in ["old-b", "old-c"] {
        kube.set_pod_log(NS, &format!("{name}-pod"), "step-build", "built\n");
        kube.create(finished_task_run(name, &["step-build"], None));
    }
    for name in ["old-b", "old-c"] {
        released(name).await;
    }
    assert_eq!(
        cluster.double().refused(),
        1,
        "asked once, then taken as not offered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_pod_has_no_logs_and_does_not_hold_its_run() {
    use std::sync::atomic::Ordering::Relaxed;

    let cluster = Cluster::with_double(|_| {}).await;
    // No pod logs set: the pod is gone (404).
    cluster.kube.create(finished_task_run(
        "pruned",
        &["step-build", "step-test"],
        None,
    ));
    let stored = cluster.wait_logs_stored("pruned").await;
    assert!(annotation(&stored, RECORD_ANNOTATION).is_some());
    assert!(cluster.double().uploads().is_empty());
    assert_eq!(cluster.watcher.metrics().logs_missing.load(Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_not_uploaded_when_disabled() {
    let cluster = Cluster::with_double(|s| s.logs.enabled = false).await;
    cluster
        .kube
        .set_pod_log(NS, "quiet-pod", "step-build", "built\n");
    cluster
        .kube
        .create(finished_task_run("quiet", &["step-build"], None));
    let stored = cluster
        .wait_task_run("quiet", "stored and released", |o| {
            o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o))
        })
        .await
        .unwrap();
    assert_eq!(annotation(&stored, LOG_STORED_ANNOTATION), None);
    assert!(cluster.kube.pod_log_requests().is_empty());
    assert!(cluster.double().uploads().is_empty());
}

// ---------------------------------------------------------------------------------------
// Against the real server: once its Logs service exists.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_logs_uploaded_by_the_watcher_are_served_by_get_log() {
    let cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    kube.set_pod_log(NS, "unit-pod", "step-build", "compiling\nlinking\n");
    kube.set_pod_log(NS, "unit-pod", "step-test", "ok 1\n");
    kube.create(finished_task_run(
        "unit",
        &["step-build", "step-test"],
        None,
    ));
    let stored = cluster.wait_logs_stored("unit").await;
    // One step on its own (#535).
    let build = cluster
        .get_log(&log_name(&stored, "step-build"))
        .await
        .unwrap();
    assert_eq!(build, b"compiling\nlinking\n");
    let test = cluster
        .get_log(&log_name(&stored, "step-test"))
        .await
        .unwrap();
    assert_eq!(test, b"ok 1\n");
    // By the TaskRun's Record name, as the CLI asks (records → logs): its steps in order.
    let record = annotation(&stored, RECORD_ANNOTATION).unwrap();
    let whole = cluster
        .get_log(&record.replace("/records/", "/logs/"))
        .await
        .unwrap();
    let whole = String::from_utf8(whole).unwrap();
    let (build_at, test_at) = (
        whole.find("compiling").unwrap(),
        whole.find("ok 1").unwrap(),
    );
    assert!(build_at < test_at, "steps in order: {whole:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_log_is_its_task_runs_logs_in_order() {
    let cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    let mut pr = tekton::pipeline_run(NS, "pipe");
    tekton::set_running(&mut pr, &now());
    let pr = kube.create(pr);
    for name in ["pipe-fetch", "pipe-build"] {
        kube.set_pod_log(
            NS,
            &format!("{name}-pod"),
            "step-build",
            format!("{name} says hi\n"),
        );
        let tr = kube.create(finished_task_run(name, &["step-build"], Some(&pr)));
        kube.update(V1, "pipelineruns", NS, "pipe", |o| {
            tekton::add_child_reference(o, &tr)
        });
    }
    kube.update(V1, "pipelineruns", NS, "pipe", |o| {
        tekton::set_finished(o, "True", "Succeeded", &now())
    });
    for name in ["pipe-fetch", "pipe-build"] {
        cluster.wait_logs_stored(name).await;
    }
    let pr_uid = uid(&pr);
    let whole = cluster
        .get_log(&format!("{NS}/results/{pr_uid}/logs/{pr_uid}"))
        .await
        .unwrap();
    let whole = String::from_utf8(whole).unwrap();
    let fetch = whole
        .find("pipe-fetch says hi")
        .expect("the first TaskRun's log");
    let build = whole
        .find("pipe-build says hi")
        .expect("the second TaskRun's log");
    assert!(fetch < build, "TaskRuns in order: {whole:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_step_log_round_trips_and_a_reupload_replaces_it() {
    const SIZE: u64 = 20 << 20;
    let cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    kube.set_pod_log_generated(NS, "big-pod", "step-build", SIZE);
    kube.create(finished_task_run("big", &["step-build"], None));
    let stored = cluster.wait_logs_stored("big").await;
    let name = log_name(&stored, "step-build");
    let request = pb::GetLogRequest { name: name.clone() };
    let mut stream = cluster
        .logs_client()
        .await
        .get_log(request)
        .await
        .unwrap()
        .into_inner();
    let (mut bytes, mut digest) = (0u64, FNV_START);
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes += chunk.data.len() as u64;
        digest = fnv(digest, &chunk.data);
    }
    assert_eq!(bytes, SIZE);
    assert_eq!(digest, generated_digest(SIZE));

    // The same name uploaded again (a retry) replaces the log.
    let again = pb::Log {
        name: name.clone(),
        data: b"replaced\n".to_vec(),
    };
    let summary = cluster
        .logs_client()
        .await
        .update_log(futures::stream::iter([again]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.bytes_received, 9);
    assert_eq!(cluster.get_log(&name).await.unwrap(), b"replaced\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_retries_logs_through_an_api_outage() {
    let mut cluster = Cluster::with_server(|_| {});
    let kube = &cluster.kube;
    kube.set_pod_log(NS, "held-pod", "step-build", "built\n");
    let mut tr = tekton::task_run(NS, "held", None);
    tekton::set_running(&mut tr, &now());
    kube.create(tr);
    cluster
        .wait_task_run("held", "held while running", |o| {
            o.is_some_and(has_finalizer)
        })
        .await;
    cluster.api.stop();
    let finished = finished_task_run("held", &["step-build"], None);
    cluster.kube.update(V1, "taskruns", NS, "held", |o| {
        o["status"] = finished["status"].clone()
    });
    cluster.kube.delete(V1, "taskruns", NS, "held");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        cluster.kube.get(V1, "taskruns", NS, "held").is_some(),
        "held during the outage"
    );
    cluster.api.restart();
    let final_state = cluster
        .kube
        .wait_for(V1, "taskruns", NS, "held", WAIT, |o| o.is_none())
        .await;
    assert!(final_state.is_none());
    let record = cluster
        .api
        .grpc()
        .await
        .list_records(pb::ListRecordsRequest {
            parent: format!("{NS}/results/-"),
            filter: "data_type == \"tekton.dev/v1.TaskRun\"".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
        .pop()
        .expect("the TaskRun's Record");
    let log = format!("{}/step-build", record.name.replace("/records/", "/logs/"));
    assert_eq!(cluster.get_log(&log).await.unwrap(), b"built\n");
}
