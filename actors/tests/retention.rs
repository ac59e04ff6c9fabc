//! Retention through the actors, on every backend: a pass over 50,000 expired Records
//! deletes exactly the expired Results with their Records and log blobs, while concurrent
//! writes keep succeeding; a dry run before it deletes nothing and counts what the real
//! pass then deletes; the change log gets a DELETED event for each; and with two replicas
//! only the holder of the `retention` lease runs passes.
//!
//! `RETENTION_FIGURES=1 cargo test --release -p results-actors --test retention -- --nocapture`
//! prints the pass's duration and the writes' latency before and during it
//! (docs/performance.md; `RETENTION_BATCH=20` for another batch size); nothing here
//! asserts a time.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use results_actors::blobs::{BlobKey, BlobStore};
use results_actors::model::{
    ChangeKind, ListScope, NewRecord, NewResult, Projection, RecordData, RecordName, RecordScope,
    RecordSummary, ResultName, Status, StoredRecord, StoredResult, Timestamp,
};
use results_actors::retention::{PassSettings, Policy, RetentionConfig, RuleSpec};
use results_actors::{
    ActorSettings, Actors, Backend, ListRequest, SystemClock, TokenSigner, UuidGen,
};
use results_storage::store;
use results_storage::testing::{bulk, TestDb};

const DAY: i64 = 86_400_000_000_000;
/// Expired Results in namespace `old`, each with [`RECORDS`] Records: 50,000 Records.
const EXPIRED: usize = 5_000;
const RECORDS: usize = 10;
/// Results per other group (kept, or expired by a label rule).
const GROUP: usize = 100;
/// Of the `old` Results, this many have a log (two blobs); as many in `keep`.
const LOGGED: usize = 50;

fn days_ago(now: Timestamp, days: i64) -> Timestamp {
    Timestamp::from_nanos(now.as_nanos() - days * DAY)
}

/// What the policy of these tests keeps: `keep` forever, `short`-labelled runs 1 day,
/// everything else 30 days from completion (else creation).
fn policy() -> Policy {
    Policy::new(
        "30d",
        &[
            RuleSpec {
                namespaces: vec!["keep".into()],
                max_age: "forever".into(),
                ..RuleSpec::default()
            },
            RuleSpec {
                labels: BTreeMap::from([("app".into(), "short".into())]),
                max_age: "1d".into(),
                ..RuleSpec::default()
            },
        ],
    )
    .unwrap()
}

struct Seed {
    /// Result names that must remain.
    kept: BTreeSet<String>,
    /// Result names that must go.
    expired: BTreeSet<String>,
    /// Blob keys that must remain / go.
    kept_blobs: Vec<BlobKey>,
    gone_blobs: Vec<BlobKey>,
}

fn log_keys(result: &ResultName) -> [BlobKey; 2] {
    ["step-a", "step-b"]
        .map(|part| BlobKey::new(&["logs", &result.parent, &result.result, "log", part]).unwrap())
}

/// A group of seeded Results: (namespace, count, created days ago, ended days ago, label
/// `app`, expired, how many with a log).
type Group = (
    &'static str,
    usize,
    i64,
    Option<i64>,
    &'static str,
    bool,
    usize,
);

/// Seeds directly through storage, by multi-row inserts in big transactions (the API
/// would be slow here).
async fn seed(db: &TestDb, blobs: &Arc<dyn BlobStore>, now: Timestamp) -> Seed {
    let mut seed = Seed {
        kept: BTreeSet::new(),
        expired: BTreeSet::new(),
        kept_blobs: Vec::new(),
        gone_blobs: Vec::new(),
    };
    let groups: [Group; 5] = [
        ("old", EXPIRED, 100, Some(60), "x", true, LOGGED),
        ("keep", GROUP, 400, Some(300), "short", false, LOGGED),
        // Created long ago but completed yesterday: age counts from completion.
        ("fresh", GROUP, 100, Some(1), "x", false, 0),
        ("short", GROUP, 10, Some(2), "short", true, 0),
        ("long", GROUP, 10, Some(2), "long", false, 0),
    ];
    let mut logged_results = Vec::new();
    for (ns, count, created, ended, app, expired, logged) in groups {
        let names: Vec<ResultName> = (0..count)
            .map(|i| ResultName::parse(&format!("{ns}/results/r{i:05}")).unwrap())
            .collect();
        for chunk in names.chunks(500) {
            let mut results = Vec::new();
            let mut records = Vec::new();
            for name in chunk {
                let created_at = days_ago(now, created);
                let run = RecordName {
                    parent: name.parent.clone(),
                    result: name.result.clone(),
                    record: "run".into(),
                };
                let result = StoredResult {
                    name: name.clone(),
                    uid: uuid::Uuid::new_v4().to_string(),
                    create_time: created_at,
                    update_time: created_at,
                    annotations: BTreeMap::new(),
                    summary: Some(RecordSummary {
                        record: run.to_string(),
                        type_: "tekton.dev/v1.PipelineRun".into(),
                        start_time: Some(created_at),
                        end_time: ended.map(|d| days_ago(now, d)),
                        status: Status::Success,
                        annotations: BTreeMap::new(),
                    }),
                };
                for r in 0..RECORDS {
                    let (record, type_, json) = if r == 0 {
                        (
                            "run".to_string(),
                            "tekton.dev/v1.PipelineRun",
                            format!(
                                r#"{{"metadata":{{"name":"{}","labels":{{"app":"{app}"}}}},"status":{{}}}}"#,
                                name.result
                            ),
                        )
                    } else {
                        (
                            format!("task-{r}"),
                            "tekton.dev/v1.TaskRun",
                            format!(
                                r#"{{"metadata":{{"name":"t{r}"}},"status":{{"podName":"p{r}"}}}}"#
                            ),
                        )
                    };
                    records.push((
                        result.uid.clone(),
                        StoredRecord {
                            name: RecordName {
                                record,
                                ..run.clone()
                            },
                            uid: uuid::Uuid::new_v4().to_string(),
                            data: RecordData::new(type_.into(), json.into_bytes()).unwrap(),
                            create_time: created_at,
                            update_time: created_at,
                        },
                    ));
                }
                results.push(result);
            }
            db.database()
                .run(|c| c.transaction(|c| bulk::insert_all(c, &results, &records)))
                .unwrap();
        }
        for (i, name) in names.iter().enumerate() {
            if expired {
                seed.expired.insert(name.to_string());
            } else {
                seed.kept.insert(name.to_string());
            }
            if i < logged {
                logged_results.push((name.clone(), expired));
            }
        }
    }
    for (name, expired) in logged_results {
        // A Log Record (replacing one TaskRun Record's place) and two step blobs.
        let log = RecordName {
            parent: name.parent.clone(),
            result: name.result.clone(),
            record: "log".into(),
        };
        let json = format!(
            r#"{{"kind":"Log","spec":{{"resource":{{"kind":"TaskRun","uid":"u"}},"type":"File"}},"status":{{"path":"logs/{}/{}/log","size":8,"isStored":true}}}}"#,
            name.parent, name.result
        );
        db.database()
            .run(|c| {
                store::create_record(
                    c,
                    NewRecord {
                        name: log,
                        data: RecordData::new(
                            "results.tekton.dev/v1alpha3.Log".into(),
                            json.into_bytes(),
                        )
                        .unwrap(),
                    },
                    uuid::Uuid::new_v4().to_string(),
                    days_ago(now, 100),
                )
            })
            .unwrap();
        for key in log_keys(&name) {
            let mut writer = blobs.create(&key).await.unwrap();
            writer.write(Bytes::from_static(b"a log\n")).await.unwrap();
            writer.finish().await.unwrap();
            if expired {
                seed.gone_blobs.push(key);
            } else {
                seed.kept_blobs.push(key);
            }
        }
    }
    seed
}

/// The batch size: 100, or `RETENTION_BATCH` (to measure other sizes).
fn batch_size() -> usize {
    std::env::var("RETENTION_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(100)
}

fn settings(dry_run: bool) -> PassSettings {
    PassSettings {
        policy: Arc::new(policy()),
        batch_size: batch_size(),
        pause: Duration::ZERO,
        dry_run,
    }
}

/// Every Result (name → its Records' count), through the query pool.
async fn everything(actors: &Actors) -> BTreeMap<String, usize> {
    let mut all = BTreeMap::new();
    let mut request = ListRequest {
        scope: ListScope::Any,
        filter: String::new(),
        page_size: 10_000,
        page_token: String::new(),
        order_by: String::new(),
    };
    loop {
        let page = actors.list_results(request.clone()).await.unwrap();
        all.extend(page.items.iter().map(|r| (r.name.to_string(), 0)));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let mut request = ListRequest {
        scope: RecordScope {
            parent: ListScope::Any,
            result: ListScope::Any,
        },
        filter: String::new(),
        page_size: 10_000,
        page_token: String::new(),
        order_by: String::new(),
    };
    loop {
        let page = actors
            .list_records(request.clone(), Projection::NoData)
            .await
            .unwrap();
        for record in &page.items {
            *all.get_mut(&record.name.result_name().to_string())
                .expect("no record without its result") += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    all
}

/// Creates a Result and a Record in `live`; answers how long it took.
async fn write(actors: &Actors, i: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let name = ResultName::parse(&format!("live/results/w{i:06}")).unwrap();
    actors
        .create_result(NewResult {
            name: name.clone(),
            annotations: BTreeMap::new(),
            summary: None,
        })
        .await
        .map_err(|e| e.to_string())?;
    actors
        .create_record(NewRecord {
            name: RecordName {
                parent: name.parent,
                result: name.result,
                record: "r".into(),
            },
            data: RecordData::new("t".into(), b"{}".to_vec()).unwrap(),
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(started.elapsed())
}

/// Compares what remains with what should, naming the first few differences.
#[track_caller]
fn assert_same(
    after: &BTreeMap<String, usize>,
    expected: &BTreeMap<String, usize>,
    backend: Backend,
) {
    let extra: Vec<_> = after
        .iter()
        .filter(|(n, c)| expected.get(*n) != Some(c))
        .take(5)
        .collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|(n, c)| after.get(*n) != Some(c))
        .take(5)
        .collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{backend:?}: {} remain, {} expected; unexpected (name, records): {extra:?}; \
         expected but missing or different: {missing:?}",
        after.len(),
        expected.len()
    );
}

fn percentile(latencies: &mut [Duration], p: f64) -> Duration {
    latencies.sort();
    latencies[((latencies.len() - 1) as f64 * p) as usize]
}

async fn a_pass_deletes_exactly_the_expired(backend: Backend) {
    let db = TestDb::migrated(backend);
    let dir = tempfile::tempdir().unwrap();
    let blobs = results_actors::blobs::open_store(&results_actors::blobs::BlobConfig::Filesystem {
        dir: dir.path().to_path_buf(),
    })
    .await
    .unwrap();
    let now = Timestamp::now();
    let started = Instant::now();
    let seed = seed(&db, &blobs, now).await;
    let seeding = started.elapsed();
    let actors = Actors::start(
        db.database().clone(),
        None,
        TokenSigner::random(),
        Arc::new(SystemClock),
        Arc::new(UuidGen),
        ActorSettings::default(),
    );
    let before = everything(&actors).await;
    let expired_records: usize = seed.expired.iter().map(|n| before[n]).sum();
    assert!(expired_records >= EXPIRED * RECORDS, "{expired_records}");

    // Dry run: counts, deletes nothing.
    let (dry, outcome) = actors
        .retention_pass(&settings(true), Some(&blobs), now, || async { Ok(true) })
        .await;
    outcome.unwrap();
    assert_eq!(dry.results as usize, seed.expired.len());
    assert_eq!(dry.records as usize, expired_records);
    assert_eq!(dry.log_records as usize, LOGGED);
    assert_eq!(dry.sample.len(), 10);
    assert_eq!(dry.batches, 0, "a dry run writes nothing");
    assert_eq!(
        everything(&actors).await,
        before,
        "a dry run deletes nothing"
    );
    for key in &seed.gone_blobs {
        assert!(blobs.open(key, 64).await.unwrap().is_some());
    }

    // Write latency with nothing else going on.
    let mut idle = Vec::new();
    for i in 0..200 {
        idle.push(write(&actors, i).await.unwrap());
    }

    // The real pass, with writes going on all along.
    let head = db.database().run(store::changes::head).unwrap();
    let done = Cell::new(false);
    let busy = RefCell::new(Vec::new());
    let failures = RefCell::new(Vec::new());
    let pass = async {
        let outcome = actors
            .retention_pass(&settings(false), Some(&blobs), now, || async { Ok(true) })
            .await;
        done.set(true);
        outcome
    };
    let writes = async {
        let mut i = 200;
        while !done.get() {
            match write(&actors, i).await {
                Ok(latency) => busy.borrow_mut().push(latency),
                Err(e) => failures.borrow_mut().push(e),
            }
            i += 1;
        }
        i
    };
    let ((report, outcome), written) = futures::join!(pass, writes);
    outcome.unwrap();
    assert!(
        failures.borrow().is_empty(),
        "writes failed during the pass: {:?}",
        failures.borrow()
    );
    let busy = busy.into_inner();
    assert!(!busy.is_empty(), "some writes ran during the pass");

    // The same counts as the dry run, and exactly what should remain.
    assert_eq!(
        (report.results, report.records, report.log_records),
        (dry.results, dry.records, dry.log_records)
    );
    assert_eq!(report.log_blobs as usize, seed.gone_blobs.len());
    assert_eq!(report.changed, 0);
    let after = everything(&actors).await;
    let mut expected: BTreeMap<String, usize> = before
        .iter()
        .filter(|(name, _)| seed.kept.contains(*name) || name.starts_with("live/"))
        .map(|(n, c)| (n.clone(), *c))
        .collect();
    for i in 0..written {
        expected.insert(format!("live/results/w{i:06}"), 1);
    }
    assert_same(&after, &expected, backend);
    assert!(seed.expired.iter().all(|n| !after.contains_key(n)));
    for key in &seed.gone_blobs {
        assert!(blobs.open(key, 64).await.unwrap().is_none(), "{key:?} gone");
    }
    for key in &seed.kept_blobs {
        assert!(blobs.open(key, 64).await.unwrap().is_some(), "{key:?} kept");
    }

    // The change log has a DELETED event for each Record, then its Result.
    let changes = db
        .database()
        .run(|c| {
            let end = store::changes::head(c)?.revision;
            store::changes::read(c, head.revision, end, usize::MAX)
        })
        .unwrap();
    let deleted: Vec<_> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deleted)
        .collect();
    assert_eq!(
        deleted.len() as u64,
        report.results + report.records,
        "a DELETED event per Result and Record"
    );
    let deleted_results: BTreeSet<String> = deleted
        .iter()
        .filter(|c| c.object.record().is_empty())
        .map(|c| format!("{}/results/{}", c.object.parent(), c.object.result()))
        .collect();
    assert_eq!(deleted_results, seed.expired);

    // A second pass finds nothing.
    let (again, outcome) = actors
        .retention_pass(&settings(false), Some(&blobs), now, || async { Ok(true) })
        .await;
    outcome.unwrap();
    assert_eq!(again.results, 0);

    if std::env::var_os("RETENTION_FIGURES").is_some() {
        let mut idle = idle;
        let mut busy = busy;
        println!(
            "{backend:?} (batch {}): seeded {} results / {} records in {:.1}s; dry run {:.2}s; pass {:.2}s \
             ({} results, {} records, {} log blobs, {} batches); writes during the pass: {}, \
             latency p50 {:?} → {:?} ({:.1}×), p99 {:?} → {:?} ({:.1}×)",
            batch_size(),
            before.len(),
            before.values().sum::<usize>(),
            seeding.as_secs_f64(),
            dry.duration.as_secs_f64(),
            report.duration.as_secs_f64(),
            report.results,
            report.records,
            report.log_blobs,
            report.batches,
            busy.len(),
            percentile(&mut idle, 0.5),
            percentile(&mut busy, 0.5),
            percentile(&mut busy, 0.5).as_secs_f64() / percentile(&mut idle, 0.5).as_secs_f64(),
            percentile(&mut idle, 0.99),
            percentile(&mut busy, 0.99),
            percentile(&mut busy, 0.99).as_secs_f64() / percentile(&mut idle, 0.99).as_secs_f64(),
        );
    }
}

/// A Result judged expired but updated before its batch runs is left alone.
async fn a_result_changed_after_judgement_stays(backend: Backend) {
    let db = TestDb::migrated(backend);
    let now = Timestamp::now();
    let name = ResultName::parse("old/results/a").unwrap();
    db.database()
        .run(|c| {
            store::create_result(
                c,
                NewResult {
                    name: name.clone(),
                    annotations: BTreeMap::new(),
                    summary: None,
                },
                "uid-a".into(),
                days_ago(now, 100),
            )
        })
        .unwrap();
    let policy = policy();
    let page = db
        .database()
        .run(|c| results_storage::retention::expired_page(c, &policy, now, "", 10))
        .unwrap();
    assert_eq!(page.expired.len(), 1);
    // Updated meanwhile (e.g. the watcher stored a newer state).
    db.database()
        .run(|c| {
            store::update_result(
                c,
                results_actors::model::ResultReplacement {
                    name: name.clone(),
                    etag: None,
                    annotations: BTreeMap::from([("k".into(), "v".into())]),
                    summary: None,
                },
                days_ago(now, 99),
            )
        })
        .unwrap();
    let deleted = db
        .database()
        .run(|c| c.transaction(|c| results_storage::retention::delete_runs(c, &page.expired)))
        .unwrap();
    assert!(deleted.is_empty());
    db.database()
        .run(|c| store::get_result(c, &name))
        .expect("still there");
}

/// Two replicas with retention scheduled: only the lease holder runs passes; when it
/// stops, the other takes over.
async fn only_the_lease_holder_runs_passes(backend: Backend) {
    let db = TestDb::migrated(backend);
    let start = || {
        Actors::start(
            db.database().clone(),
            None,
            TokenSigner::random(),
            Arc::new(SystemClock),
            Arc::new(UuidGen),
            ActorSettings::default(),
        )
    };
    let config = |holder: &str| RetentionConfig {
        pass: settings(false),
        interval: Duration::from_millis(200),
        lease_ttl: Duration::from_secs(2),
        holder: holder.into(),
    };
    let (a, b) = (start(), start());
    let first = a.start_retention(config("a"), None, Arc::new(SystemClock));
    // a's first tick runs at once: it holds the lease before b starts.
    wait_until(|| first.stats().counts().passes >= 1).await;
    let second = b.start_retention(config("b"), None, Arc::new(SystemClock));
    wait_until(|| first.stats().counts().passes >= 5).await;
    let (ca, cb) = (first.stats().counts(), second.stats().counts());
    assert!(ca.leader && !cb.leader, "{ca:?} {cb:?}");
    assert_eq!(cb.passes, 0, "b never ran a pass while a held the lease");
    let holder = db
        .database()
        .run(|c| store::leases::read(c, "retention"))
        .unwrap()
        .unwrap();
    assert_eq!(holder.holder, "a");
    // a stops (and gives the lease up): b takes over.
    first.stop().await;
    let stopped_at = first.stats().counts().passes;
    wait_until(|| second.stats().counts().passes >= 2).await;
    assert!(second.stats().counts().leader);
    assert_eq!(first.stats().counts().passes, stopped_at);
    second.stop().await;
}

async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[actix_rt::test] async fn $name() { super::$name(super::Backend::Sqlite).await })* }
        mod postgres { $(#[actix_rt::test] async fn $name() { super::$name(super::Backend::Postgres).await })* }
        mod mariadb { $(#[actix_rt::test] async fn $name() { super::$name(super::Backend::Mysql).await })* }
    };
}

on_every_backend!(
    a_pass_deletes_exactly_the_expired,
    a_result_changed_after_judgement_stays,
    only_the_lease_holder_runs_passes,
);
