//! End to end: two watchers with leader election against one fake Kubernetes API (which
//! serves the Lease) and one `results-api`. Exactly one reconciles; when it crashes the
//! other takes over once the Lease expires, and every run ends stored exactly once; when
//! it shuts down cleanly it releases the Lease and the other takes over at once; when
//! another holder appears it stops reconciling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use integration::tekton;
use integration::{watcher_settings, FakeKube, TestServer, WatcherThread};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::record_summary::Status;
use results_storage::Backend;
use results_watcher::run::{RunKind, FINALIZER, RECORD_ANNOTATION, STORED_ANNOTATION};
use results_watcher::settings::Settings;
use serde_json::{json, Value};

const NS: &str = "ci";
const V1: &str = "tekton.dev/v1";
/// Where the Lease lives.
const LEASE_NS: &str = "tekton-pipelines";
const LEASE: &str = "tekton-results-watcher";
const WAIT: Duration = Duration::from_secs(60);

/// Leader election on, with a short Lease: 3 s, renewed every second.
fn elected(api: &TestServer, name: &str, lease_secs: u64) -> Settings {
    let mut settings = watcher_settings(api.grpc_addr());
    settings.leader.enabled = true;
    settings.leader.namespace = LEASE_NS.into();
    settings.leader.identity = name.into();
    settings.leader.lease_duration_secs = lease_secs;
    settings.leader.renew_every_secs = 1;
    settings.leader.retry_every_secs = 1;
    // Logs are another test's concern; runs here have no pods.
    settings.logs.enabled = false;
    settings
}

/// Polls `check` until it holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one of `watchers` that leads, once exactly one does.
async fn leader_of(watchers: &[&WatcherThread]) -> usize {
    eventually("one watcher leads", || {
        watchers.iter().filter(|w| w.is_leader()).count() == 1
    })
    .await;
    watchers.iter().position(|w| w.is_leader()).unwrap()
}

fn holder(kube: &FakeKube) -> Option<String> {
    let lease = kube.lease(LEASE_NS, LEASE)?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

fn has_finalizer(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn finished_task_run(name: &str) -> Value {
    let mut tr = tekton::task_run(NS, name, None);
    tekton::set_running(&mut tr, &now());
    tekton::set_finished(&mut tr, "True", "Succeeded", &now());
    tr
}

/// Every Result of [`NS`], and every Record under them, read through the API page by page.
async fn stored(api: &TestServer) -> (Vec<pb::Result>, Vec<pb::Record>) {
    let mut client = api.grpc().await;
    let (mut results, mut records) = (Vec::new(), Vec::new());
    let mut token = String::new();
    loop {
        let request = pb::ListResultsRequest {
            parent: NS.into(),
            page_size: 100,
            page_token: token.clone(),
            ..Default::default()
        };
        let page = client.list_results(request).await.unwrap().into_inner();
        results.extend(page.results);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    loop {
        let request = pb::ListRecordsRequest {
            parent: format!("{NS}/results/-"),
            page_size: 100,
            page_token: token.clone(),
            ..Default::default()
        };
        let page = client.list_records(request).await.unwrap().into_inner();
        records.extend(page.records);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    (results, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_watchers_leads_and_the_other_stores_nothing() {
    let api = TestServer::start(Backend::Sqlite);
    let kube = FakeKube::start();
    let a = WatcherThread::start(elected(&api, "watcher-a", 3), &kube.url());
    let b = WatcherThread::start(elected(&api, "watcher-b", 3), &kube.url());
    let watchers = [&a, &b];
    let leader = leader_of(&watchers).await;
    let (leader, follower) = (watchers[leader], watchers[1 - leader]);
    assert_eq!(holder(&kube).as_deref(), leader.identity());
    assert!(leader.identity().unwrap().starts_with("watcher-"));
    assert_ne!(leader.identity(), follower.identity());

    for i in 0..20 {
        kube.create(finished_task_run(&format!("run-{i}")));
    }
    eventually("every run stored", || {
        kube.list(V1, "taskruns")
            .iter()
            .all(|o| annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o))
    })
    .await;
    assert_eq!(leader.metrics().stored.get(RunKind::TaskRun), 20);
    assert_eq!(follower.metrics().stored.get(RunKind::TaskRun), 0);
    assert_eq!(follower.metrics().api_writes.load(Relaxed), 0);
    assert!(leader.is_leader() && !follower.is_leader());
    let lease = kube.lease(LEASE_NS, LEASE).unwrap();
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 3);
    assert!(lease["spec"]["renewTime"].is_string(), "{lease}");
}

async fn a_crashed_leader_is_replaced_and_every_run_is_stored_exactly_once(backend: Backend) {
    integration::log_to_test_output();
    const RUNS: usize = 200;
    /// Runs are finished this many creations after they started.
    const LAG: usize = 20;
    let api = TestServer::start(backend);
    let kube = FakeKube::start();
    let mut watchers = [
        WatcherThread::start(elected(&api, "watcher-a", 3), &kube.url()),
        WatcherThread::start(elected(&api, "watcher-b", 3), &kube.url()),
    ];
    let first = leader_of(&[&watchers[0], &watchers[1]]).await;
    let first_identity = watchers[first].identity().unwrap().to_owned();

    // Runs start, then finish; every fourth is deleted as soon as it finishes, if the
    // watcher's finalizer holds it by then (only the finalizer keeps it until its final
    // state is stored; a run deleted before any watcher saw it is beyond any watcher).
    let mut killed_at = None;
    let mut deleted = 0;
    for i in 0..RUNS {
        let name = format!("run-{i:03}");
        let mut tr = tekton::task_run(NS, &name, None);
        tekton::set_running(&mut tr, &now());
        kube.create(tr);
        if i >= LAG {
            let earlier = format!("run-{:03}", i - LAG);
            let end = now();
            kube.update(V1, "taskruns", NS, &earlier, |o| {
                tekton::set_finished(o, "True", "Succeeded", &end)
            });
            let held = kube
                .get(V1, "taskruns", NS, &earlier)
                .is_some_and(|o| has_finalizer(&o));
            if (i - LAG).is_multiple_of(4) && held {
                kube.delete(V1, "taskruns", NS, &earlier);
                deleted += 1;
            }
        }
        if i == RUNS / 2 {
            // Mid-stream, while it is storing: a crash, nothing released.
            let stored_before = watchers[first].metrics().stored.get(RunKind::TaskRun);
            watchers[first].kill();
            killed_at = Some(stored_before);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in RUNS - LAG..RUNS {
        let name = format!("run-{i:03}");
        let end = now();
        kube.update(V1, "taskruns", NS, &name, |o| {
            tekton::set_finished(o, "True", "Succeeded", &end)
        });
    }
    assert!(
        killed_at.unwrap() > 0,
        "the leader had stored runs before it died"
    );
    assert!(deleted > 0, "no run was deleted while held");
    let survivor = &watchers[1 - first];
    eventually("the survivor takes the lease over", || survivor.is_leader()).await;
    assert_eq!(holder(&kube).as_deref(), survivor.identity());
    assert_ne!(survivor.identity(), Some(first_identity.as_str()));

    // Every run that is left is stored and released; the deleted ones are gone.
    eventually("every run stored, released or gone", || {
        let left = kube.list(V1, "taskruns");
        left.len() == RUNS - deleted
            && left
                .iter()
                .all(|o| annotation(o, STORED_ANNOTATION) == Some("true") && !has_finalizer(o))
    })
    .await;

    // Through the API: one Result per run, one Record in each, with the final state.
    let (results, records) = stored(&api).await;
    assert_eq!(results.len(), RUNS, "one Result per run");
    assert_eq!(records.len(), RUNS, "one Record per run");
    let mut per_result: BTreeMap<String, usize> = BTreeMap::new();
    let mut runs = BTreeSet::new();
    for record in &records {
        let result = record.name.split("/records/").next().unwrap().to_owned();
        *per_result.entry(result).or_default() += 1;
        let data: Value = serde_json::from_slice(&record.data.as_ref().unwrap().value).unwrap();
        let name = data["metadata"]["name"].as_str().unwrap().to_owned();
        assert_eq!(
            data["status"]["conditions"][0]["reason"], "Succeeded",
            "{name}: the final state is stored"
        );
        assert!(runs.insert(name.clone()), "{name} stored twice");
    }
    assert_eq!(runs.len(), RUNS, "every run stored");
    assert!(per_result.values().all(|n| *n == 1), "{per_result:?}");
    for result in &results {
        let summary = result.summary.as_ref().expect("a summary");
        assert_eq!(summary.status, Status::Success as i32, "{}", result.name);
        assert_eq!(per_result.get(&result.name), Some(&1), "{}", result.name);
    }
    // The survivor's record names match what the runs carry.
    for run in kube.list(V1, "taskruns") {
        let record = annotation(&run, RECORD_ANNOTATION).unwrap();
        assert!(records.iter().any(|r| r.name == record), "{record}");
    }
    // Taken from a crashed holder (nothing released), the Lease counts a transition.
    let lease = kube.lease(LEASE_NS, LEASE).unwrap();
    assert!(
        lease["spec"]["leaseTransitions"].as_i64().unwrap() >= 1,
        "{lease}"
    );
}

integration::backend_tests!(a_crashed_leader_is_replaced_and_every_run_is_stored_exactly_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_releases_the_lease_and_the_other_takes_over_at_once() {
    let api = TestServer::start(Backend::Sqlite);
    let kube = FakeKube::start();
    // A Lease far longer than this test waits: only a release lets the other take over.
    let mut watchers = [
        WatcherThread::start(elected(&api, "watcher-a", 600), &kube.url()),
        WatcherThread::start(elected(&api, "watcher-b", 600), &kube.url()),
    ];
    let first = leader_of(&[&watchers[0], &watchers[1]]).await;
    kube.create(finished_task_run("before"));
    let stored = |kube: &FakeKube, name: &str| {
        kube.get(V1, "taskruns", NS, name)
            .is_some_and(|o| annotation(&o, STORED_ANNOTATION) == Some("true"))
    };
    eventually("the first run stored", || stored(&kube, "before")).await;

    watchers[first].stop();
    assert!(!watchers[first].is_leader());
    let survivor = &watchers[1 - first];
    eventually("the other takes over", || survivor.is_leader()).await;
    assert_eq!(holder(&kube).as_deref(), survivor.identity());
    // The release is a write that clears the holder, by the leader that stopped.
    let released = kube.writes().into_iter().any(|w| {
        w.method == "PUT"
            && w.path.ends_with(&format!("/leases/{LEASE}"))
            && w.status == 200
            && w.body
                .as_ref()
                .is_some_and(|b| b["spec"]["holderIdentity"].is_null())
    });
    assert!(released, "no release written");

    kube.create(finished_task_run("after"));
    eventually("a run after the hand-over stored", || {
        stored(&kube, "after")
    })
    .await;
    assert_eq!(survivor.metrics().stored.get(RunKind::TaskRun), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_sees_another_holder_stops_reconciling() {
    let api = TestServer::start(Backend::Sqlite);
    let kube = FakeKube::start();
    let a = WatcherThread::start(elected(&api, "watcher-a", 3), &kube.url());
    leader_of(&[&a]).await;
    // Someone else writes itself into the Lease (as a replica whose clock ran ahead would).
    let taken = now();
    kube.update(
        "coordination.k8s.io/v1",
        "leases",
        LEASE_NS,
        LEASE,
        |lease| {
            lease["spec"]["holderIdentity"] = json!("intruder");
            lease["spec"]["renewTime"] = json!(taken);
        },
    );
    eventually("the leader steps down", || !a.is_leader()).await;
    let stored_then = a.metrics().stored.get(RunKind::TaskRun);
    // Once the intruder's Lease has expired, the watcher takes it back and carries on.
    kube.create(finished_task_run("later"));
    eventually("the watcher leads again", || a.is_leader()).await;
    assert_eq!(holder(&kube).as_deref(), a.identity());
    kube.wait_for(V1, "taskruns", NS, "later", WAIT, |o| {
        o.is_some_and(|o| annotation(o, STORED_ANNOTATION) == Some("true"))
    })
    .await;
    assert_eq!(a.metrics().stored.get(RunKind::TaskRun), stored_then + 1);
    let lease = kube.lease(LEASE_NS, LEASE).unwrap();
    assert!(
        lease["spec"]["leaseTransitions"].as_i64().unwrap() >= 1,
        "{lease}"
    );
}

/// A clock the test moves.
struct ManualClock(std::sync::Mutex<k8s_openapi::jiff::Timestamp>);

impl ManualClock {
    fn advance(&self, secs: i64) {
        let mut now = self.0.lock().unwrap();
        *now = now
            .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(secs))
            .unwrap();
    }
}

impl results_watcher::leader::Clock for ManualClock {
    fn now(&self) -> k8s_openapi::jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_locks_take_renew_expire_and_conflict_over_the_wire() {
    use results_watcher::leader::{Attempt, LeaseLock};
    use std::sync::Arc;

    let kube = FakeKube::start();
    let client = kube::Client::try_from(kube::Config::new(kube.url().parse().unwrap())).unwrap();
    let api = || kube::Api::namespaced(client.clone(), LEASE_NS);
    let clock = Arc::new(ManualClock(std::sync::Mutex::new(
        "2026-12-06T08:00:00Z".parse().unwrap(),
    )));
    let mut a = LeaseLock::new(api(), LEASE, "a", 15, clock.clone());
    let mut b = LeaseLock::new(api(), LEASE, "b", 15, clock.clone());

    // The first creates the Lease; the second finds it held.
    assert_eq!(a.try_hold().await.unwrap(), Attempt::Held);
    assert_eq!(b.try_hold().await.unwrap(), Attempt::Other("a".into()));
    let lease = kube.lease(LEASE_NS, LEASE).unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "a");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    assert_eq!(lease["spec"]["leaseTransitions"], 0);
    assert_eq!(lease["spec"]["renewTime"], "2026-12-06T08:00:00.000000Z");

    // Renewed before it expires, it stays a's.
    clock.advance(10);
    assert_eq!(a.try_hold().await.unwrap(), Attempt::Held);
    clock.advance(10);
    assert_eq!(b.try_hold().await.unwrap(), Attempt::Other("a".into()));
    let lease = kube.lease(LEASE_NS, LEASE).unwrap();
    assert_eq!(lease["spec"]["renewTime"], "2026-12-06T08:00:10.000000Z");

    // Unrenewed for the lease duration, b takes it; a's next renewal conflicts and a
    // learns who holds it.
    clock.advance(5);
    assert_eq!(b.try_hold().await.unwrap(), Attempt::Held);
    assert_eq!(a.try_hold().await.unwrap(), Attempt::Other("b".into()));
    let lease = kube.lease(LEASE_NS, LEASE).unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert_eq!(lease["spec"]["acquireTime"], "2026-12-06T08:00:25.000000Z");
    let conflicts = kube
        .writes()
        .into_iter()
        .filter(|w| w.method == "PUT" && w.status == 409)
        .count();
    assert_eq!(conflicts, 1, "a's stale renewal");

    // Released, it is free at once.
    assert!(b.release().await.unwrap());
    assert!(!b.release().await.unwrap(), "released once");
    assert_eq!(a.try_hold().await.unwrap(), Attempt::Held);
    let lease = kube.lease(LEASE_NS, LEASE).unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "a");
    assert_eq!(
        lease["spec"]["leaseTransitions"], 1,
        "from nobody is no transition"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_cluster_steps_down_before_the_other_takes_over() {
    let api = TestServer::start(Backend::Sqlite);
    let kube = FakeKube::start();
    let proxy = integration::TcpProxy::start(kube.url()["http://".len()..].parse().unwrap());
    let a = WatcherThread::start(
        elected(&api, "watcher-a", 3),
        &format!("http://{}", proxy.addr()),
    );
    leader_of(&[&a]).await;
    let b = WatcherThread::start(elected(&api, "watcher-b", 3), &kube.url());
    kube.create(finished_task_run("before"));
    eventually("the first run stored by a", || {
        a.metrics().stored.get(RunKind::TaskRun) == 1
    })
    .await;

    // a can no longer renew: it must stop before b may take the Lease, so that at no
    // moment do both reconcile.
    proxy.cut();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !b.is_leader() {
        assert!(
            !(a.is_leader() && b.is_leader()),
            "both watchers reconcile at once"
        );
        assert!(tokio::time::Instant::now() < deadline, "b never took over");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!a.is_leader(), "a still reconciles after b took over");
    assert_eq!(holder(&kube).as_deref(), b.identity());

    kube.create(finished_task_run("after"));
    eventually("the second run stored by b", || {
        b.metrics().stored.get(RunKind::TaskRun) == 1
    })
    .await;
    assert_eq!(a.metrics().stored.get(RunKind::TaskRun), 1);
    assert!(b.is_leader() && !a.is_leader());
}
