//! The reconciler: watch streams feed a keyed work queue; workers store each run's latest
//! state in the results API, write back where it is stored, hold and release the
//! finalizer, and delete finished runs after the grace period.
//!
//! Memory does not grow with the size of runs: between the watch and the workers only
//! the latest object of each pending run is kept, within `watcher.cache_bytes` (beyond
//! that a worker fetches the object again), and per live run the watcher remembers two
//! hashes of what it stored, not the run.

use std::collections::HashMap;
use std::hash::Hasher as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::jiff::Timestamp;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::runtime::{watcher, WatchStreamExt as _};
use prost::Message as _;
use serde::Serialize;
use tokio::time::Instant;

use crate::client::{already_exists, not_found, ApiClient, CallResult};
use crate::metrics::Metrics;
use crate::pb;
use crate::queue::WorkQueue;
use crate::run::{
    Names, Run, RunKind, FINALIZER, RECORD_ANNOTATION, RESULT_ANNOTATION,
    RESULT_ANNOTATIONS_ANNOTATION, STORED_ANNOTATION,
};
use crate::selector::Selector;
use crate::settings::Settings;

/// Field manager of the watcher's server-side applies.
pub const FIELD_MANAGER: &str = "results-watcher";

/// A run in the work queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    kind: RunKind,
    namespace: String,
    name: String,
}

/// The latest object of a pending run, as the watch delivered it.
struct Cached {
    object: Arc<DynamicObject>,
    /// The watch said it is gone: this is its final state.
    gone: bool,
    bytes: usize,
}

/// The latest objects of pending runs, within a byte budget.
struct Cache {
    entries: HashMap<Key, Cached>,
    bytes: usize,
    budget: usize,
}

impl Cache {
    fn new(budget: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            bytes: 0,
            budget,
        }
    }

    /// Keeps `object` (of serialised size `bytes`) for `key` if it fits. `replace` = a
    /// newer object; otherwise only fills an empty slot. What does not fit is not kept
    /// (the worker fetches the run again).
    fn keep(
        &mut self,
        key: Key,
        object: Arc<DynamicObject>,
        bytes: usize,
        gone: bool,
        replace: bool,
    ) {
        if let Some(old) = self.entries.get(&key) {
            if !replace {
                return;
            }
            self.bytes -= old.bytes;
            self.entries.remove(&key);
        }
        if self.bytes + bytes <= self.budget {
            self.bytes += bytes;
            self.entries.insert(
                key,
                Cached {
                    object,
                    gone,
                    bytes,
                },
            );
        }
    }

    fn take(&mut self, key: &Key) -> Option<Cached> {
        let cached = self.entries.remove(key)?;
        self.bytes -= cached.bytes;
        Some(cached)
    }
}

/// What was last stored of a live run.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Its kind.
    kind: RunKind,
    /// Fingerprint of the object, without what the watcher itself writes.
    content: u64,
    /// Fingerprint of the Result (summary and annotations) a top-level run set.
    summary: u64,
}

/// State shared by the watch tasks and the workers.
pub struct Controller {
    settings: Settings,
    kube: kube::Client,
    api: ApiClient,
    metrics: Arc<Metrics>,
    queue: WorkQueue<Key>,
    cache: Mutex<Cache>,
    seen: Mutex<HashMap<String, Seen>>,
    attempts: Mutex<HashMap<Key, u32>>,
    cleanup_selector: Selector,
}

/// Counts bytes written, to size objects without keeping their text.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Feeds written bytes to a hasher.
struct HashWriter(std::hash::DefaultHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A run object with a replaced `metadata`, serialised like the original.
#[derive(Serialize)]
struct WithMetadata<'a> {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    types: &'a Option<kube::api::TypeMeta>,
    metadata: &'a kube::api::ObjectMeta,
    #[serde(flatten)]
    data: &'a serde_json::Value,
}

/// The JSON stored as the Record's data: the object without `managedFields` (server-side
/// apply bookkeeping, often larger than the run itself).
pub fn record_data(object: &DynamicObject) -> Vec<u8> {
    let mut metadata = object.metadata.clone();
    metadata.managed_fields = None;
    serde_json::to_vec(&WithMetadata {
        types: &object.types,
        metadata: &metadata,
        data: &object.data,
    })
    .expect("a Kubernetes object serialises")
}

/// A fingerprint of what is stored of `object`, leaving out what changes when only the
/// watcher wrote to it (resource version, its annotations and finalizer) or when the run
/// is merely being deleted (a stored run is not stored again on its way out).
pub fn fingerprint(object: &DynamicObject) -> u64 {
    let mut metadata = object.metadata.clone();
    metadata.managed_fields = None;
    metadata.resource_version = None;
    metadata.deletion_timestamp = None;
    metadata.deletion_grace_period_seconds = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        for key in [RESULT_ANNOTATION, RECORD_ANNOTATION, STORED_ANNOTATION] {
            annotations.remove(key);
        }
    }
    metadata.annotations = metadata.annotations.filter(|a| !a.is_empty());
    if let Some(finalizers) = metadata.finalizers.as_mut() {
        finalizers.retain(|f| f != FINALIZER);
    }
    metadata.finalizers = metadata.finalizers.filter(|f| !f.is_empty());
    let mut hasher = HashWriter(std::hash::DefaultHasher::new());
    serde_json::to_writer(
        &mut hasher,
        &WithMetadata {
            types: &object.types,
            metadata: &metadata,
            data: &object.data,
        },
    )
    .expect("a Kubernetes object serialises");
    hasher.0.finish()
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

/// `at` (wall clock) as a tokio instant: now if it has passed.
fn instant_at(at: Timestamp) -> Instant {
    let now = Timestamp::now();
    let ahead = at.duration_since(now).try_into().unwrap_or(Duration::ZERO);
    Instant::now() + ahead
}

fn plus(at: Timestamp, secs: u64) -> Timestamp {
    at.checked_add(jiff_secs(secs)).unwrap_or(Timestamp::MAX)
}

fn jiff_secs(secs: u64) -> k8s_openapi::jiff::SignedDuration {
    k8s_openapi::jiff::SignedDuration::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
}

impl Controller {
    /// A controller over `kube` and the API of `settings`.
    pub fn new(
        settings: Settings,
        kube: kube::Client,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Controller> {
        let api = ApiClient::new(&settings.api)?;
        let cleanup_selector = Selector::parse(&settings.watcher.cleanup_selector)?;
        let cache = Cache::new(settings.watcher.cache_bytes);
        Ok(Controller {
            settings,
            kube,
            api,
            metrics,
            queue: WorkQueue::default(),
            cache: Mutex::new(cache),
            seen: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            cleanup_selector,
        })
    }

    fn version(&self) -> &str {
        &self.settings.kubernetes.tekton_version
    }

    fn resource(&self, kind: RunKind) -> ApiResource {
        kind.resource(self.version())
    }

    fn namespaced(&self, kind: RunKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.kube.clone(), namespace, &self.resource(kind))
    }

    /// Follows runs of `kind` until the stream ends (it does not: errors are retried with
    /// backoff).
    pub async fn watch(self: Arc<Self>, kind: RunKind) {
        let resource = self.resource(kind);
        let api: Api<DynamicObject> = match self.settings.namespace() {
            Some(namespace) => Api::namespaced_with(self.kube.clone(), namespace, &resource),
            None => Api::all_with(self.kube.clone(), &resource),
        };
        let config = watcher::Config::default().page_size(self.settings.kubernetes.list_page_size);
        let mut events = watcher(api, config).default_backoff().boxed();
        // UIDs of a (re-)list in progress: afterwards, what is remembered of runs that are
        // no longer listed (deleted while the watch was down) is forgotten.
        let mut listed: Option<std::collections::HashSet<String>> = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(object)) => self.observe(kind, object, false),
                Ok(watcher::Event::InitApply(object)) => {
                    if let (Some(listed), Some(uid)) = (listed.as_mut(), &object.metadata.uid) {
                        listed.insert(uid.clone());
                    }
                    self.observe(kind, object, false)
                }
                Ok(watcher::Event::Delete(object)) => self.observe(kind, object, true),
                Ok(watcher::Event::Init) => listed = Some(Default::default()),
                Ok(watcher::Event::InitDone) => {
                    if let Some(listed) = listed.take() {
                        self.seen
                            .lock()
                            .expect("seen lock")
                            .retain(|uid, seen| seen.kind != kind || listed.contains(uid));
                    }
                }
                Err(e) => {
                    self.metrics
                        .watch_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(kind = kind.kind(), "watch failed, retrying: {e}");
                }
            }
        }
    }

    /// Queues a run the watch delivered.
    fn observe(&self, kind: RunKind, object: DynamicObject, gone: bool) {
        let (Some(namespace), Some(name)) = (
            object.metadata.namespace.clone(),
            object.metadata.name.clone(),
        ) else {
            return;
        };
        let key = Key {
            kind,
            namespace,
            name,
        };
        self.remember(key.clone(), Arc::new(object), gone, true);
        self.queue.schedule(key, Instant::now());
        self.publish_depth();
    }

    /// Keeps `object` for the worker, within the byte budget. `replace` = a newer
    /// object; otherwise only fills an empty slot.
    fn remember(&self, key: Key, object: Arc<DynamicObject>, gone: bool, replace: bool) {
        let mut count = ByteCount(0);
        let _ = serde_json::to_writer(&mut count, &*object);
        self.cache
            .lock()
            .expect("cache lock")
            .keep(key, object, count.0, gone, replace);
    }

    fn take_cached(&self, key: &Key) -> Option<Cached> {
        self.cache.lock().expect("cache lock").take(key)
    }

    fn publish_depth(&self) {
        self.metrics.queue_depth.store(
            self.queue.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Reconciles queued runs until the queue is closed.
    pub async fn work(self: Arc<Self>) {
        while let Some(key) = self.queue.next().await {
            // A bug in one run's reconcile must not take the worker (and the key) with it.
            let again = match std::panic::AssertUnwindSafe(self.reconcile(&key))
                .catch_unwind()
                .await
            {
                Ok(again) => again,
                Err(_) => {
                    tracing::error!(
                        namespace = key.namespace,
                        name = key.name,
                        "reconcile panicked; retrying later"
                    );
                    self.metrics.failures.inc(key.kind);
                    Some(self.backoff(&key))
                }
            };
            self.queue.done(&key);
            if let Some(at) = again {
                self.queue.schedule(key, at);
            }
            self.publish_depth();
        }
    }

    /// Stops the workers after their current run.
    pub fn close(&self) {
        self.queue.close();
    }

    fn backoff(&self, key: &Key) -> Instant {
        let mut attempts = self.attempts.lock().expect("attempts lock");
        let attempt = attempts.entry(key.clone()).or_insert(0);
        *attempt += 1;
        Instant::now() + self.settings.retry_delay(*attempt)
    }

    /// One pass over one run; returns when to look at it again, if ever.
    async fn reconcile(&self, key: &Key) -> Option<Instant> {
        let (object, gone) = match self.take_cached(key) {
            Some(cached) => (cached.object, cached.gone),
            None => match self
                .namespaced(key.kind, &key.namespace)
                .get_opt(&key.name)
                .await
            {
                Ok(Some(object)) => (Arc::new(object), false),
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(
                        namespace = key.namespace,
                        name = key.name,
                        "cannot read run: {e}"
                    );
                    return Some(self.backoff(key));
                }
            },
        };
        let run = Run::new(key.kind, &object);
        let uid = run.uid().to_owned();
        let names = run.names();
        let complete = run.is_complete();
        let content = fingerprint(&object);
        let result = self.result_of(&run, &names);
        let summary = result
            .as_ref()
            .map_or(0, |r| hash_bytes(&r.encode_to_vec()));
        let seen = self.seen.lock().expect("seen lock").get(&uid).copied();
        // After a restart nothing is remembered: a finished run marked stored is current,
        // and what it is now is what later changes are compared with.
        let current = match seen {
            Some(seen) => seen.content == content,
            None => complete && run.is_marked_stored(),
        };
        if current {
            self.metrics.skipped.inc(key.kind);
            if seen.is_none() && !gone {
                self.seen.lock().expect("seen lock").insert(
                    uid.clone(),
                    Seen {
                        kind: key.kind,
                        content,
                        summary,
                    },
                );
            }
        } else {
            let started = std::time::Instant::now();
            match self.store(&run, &names, seen, result, summary).await {
                Ok(()) => {
                    self.metrics.observe_store(started.elapsed());
                    self.metrics.stored.inc(key.kind);
                    self.seen.lock().expect("seen lock").insert(
                        uid.clone(),
                        Seen {
                            kind: key.kind,
                            content,
                            summary,
                        },
                    );
                }
                Err(e) => {
                    self.metrics.failures.inc(key.kind);
                    tracing::warn!(
                        namespace = key.namespace,
                        name = key.name,
                        record = names.record,
                        "cannot store run, will retry: {e}"
                    );
                    let retry = self.backoff(key);
                    if !gone && !run.is_deleting() && !run.has_finalizer() {
                        // Hold the run while the API is away, so that deleting it waits.
                        if let Err(e) = self.write_back(&run, &names, false, true).await {
                            tracing::warn!(
                                namespace = key.namespace,
                                name = key.name,
                                "cannot add the finalizer: {e}"
                            );
                        }
                    }
                    if gone {
                        // Its final state exists nowhere else: keep it for the retry.
                        self.remember(key.clone(), object.clone(), true, false);
                        return Some(retry);
                    }
                    if let (Some(deleted_at), true) =
                        (&object.metadata.deletion_timestamp, run.has_finalizer())
                    {
                        let deadline =
                            plus(deleted_at.0, self.settings.watcher.store_deadline_secs);
                        if Timestamp::now() >= deadline {
                            tracing::error!(
                                namespace = key.namespace,
                                name = key.name,
                                "store deadline passed: releasing the finalizer without the final state stored"
                            );
                            if self.write_back(&run, &names, false, false).await.is_ok() {
                                self.metrics.released_deadline.inc(key.kind);
                                self.attempts.lock().expect("attempts lock").remove(key);
                                return None;
                            }
                            return Some(retry);
                        }
                        return Some(retry.min(instant_at(deadline)));
                    }
                    return Some(retry);
                }
            }
        }
        self.attempts.lock().expect("attempts lock").remove(key);
        if gone {
            self.seen.lock().expect("seen lock").remove(&uid);
            return None;
        }
        if run.is_deleting() && !run.has_finalizer() {
            // Leaving, and not held by us: nothing to write.
            return None;
        }
        // Stored: write back where, hold the finalizer while the run may still change.
        let hold = !run.is_deleting() && !complete;
        match self.write_back(&run, &names, complete, hold).await {
            Ok(true) => self.metrics.released_stored.inc(key.kind),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(
                    namespace = key.namespace,
                    name = key.name,
                    "cannot annotate run: {e}"
                );
                return Some(self.backoff(key));
            }
        }
        if run.is_deleting() {
            return None;
        }
        self.cleanup(key, &run).await
    }

    /// Deletes a finished, stored top-level run once its grace period is over; else says
    /// when to look again.
    async fn cleanup(&self, key: &Key, run: &Run<'_>) -> Option<Instant> {
        let grace = self.settings.watcher.cleanup_grace_secs;
        if grace == 0
            || !run.is_complete()
            || !run.is_top_level()
            || !self.cleanup_selector.matches(&run.labels())
        {
            return None;
        }
        let finished = run
            .completion_time()
            .or_else(|| run.object.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
        let due = plus(finished, grace);
        if Timestamp::now() < due {
            return Some(instant_at(due));
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(run.uid().to_owned()),
                resource_version: None,
            }),
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match self
            .namespaced(key.kind, &key.namespace)
            .delete(&key.name, &params)
            .await
        {
            Ok(_) => {
                self.metrics.deleted.inc(key.kind);
                tracing::info!(
                    namespace = key.namespace,
                    name = key.name,
                    "deleted a stored, finished run"
                );
                None
            }
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => None,
            Err(e) => {
                tracing::warn!(
                    namespace = key.namespace,
                    name = key.name,
                    "cannot delete run: {e}"
                );
                Some(self.backoff(key))
            }
        }
    }

    /// Server-side applies the watcher's annotations (`stored` when `stored`) and its
    /// finalizer (when `hold`), unless the run already has exactly those. Says whether
    /// this released the finalizer.
    async fn write_back(
        &self,
        run: &Run<'_>,
        names: &Names,
        stored: bool,
        hold: bool,
    ) -> Result<bool, kube::Error> {
        let up_to_date = run.annotation(RESULT_ANNOTATION) == Some(names.result.as_str())
            && run.annotation(RECORD_ANNOTATION) == Some(names.record.as_str())
            && run.is_marked_stored() == stored
            && run.has_finalizer() == hold;
        if up_to_date {
            return Ok(false);
        }
        let mut annotations = serde_json::Map::new();
        annotations.insert(RESULT_ANNOTATION.into(), names.result.clone().into());
        annotations.insert(RECORD_ANNOTATION.into(), names.record.clone().into());
        if stored {
            annotations.insert(STORED_ANNOTATION.into(), "true".into());
        }
        let mut metadata = serde_json::json!({
            "name": run.name(),
            "namespace": run.namespace(),
            "annotations": annotations,
        });
        if hold {
            metadata["finalizers"] = serde_json::json!([FINALIZER]);
        }
        let resource = self.resource(run.kind);
        let patch = serde_json::json!({
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": metadata,
        });
        self.namespaced(run.kind, run.namespace())
            .patch(
                run.name(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        Ok(run.has_finalizer() && !hold)
    }

    /// The Result a top-level run sets (summary and annotations); none for a TaskRun of a
    /// PipelineRun.
    fn result_of(&self, run: &Run<'_>, names: &Names) -> Option<pb::Result> {
        run.is_top_level().then(|| pb::Result {
            name: names.result.clone(),
            annotations: run.annotation_map(RESULT_ANNOTATIONS_ANNOTATION),
            summary: Some(run.summary(&names.record, self.version())),
            ..pb::Result::default()
        })
    }

    /// Writes the run's Record (and `result`, whose fingerprint is `summary`) with as few
    /// calls as it can.
    async fn store(
        &self,
        run: &Run<'_>,
        names: &Names,
        seen: Option<Seen>,
        result: Option<pb::Result>,
        summary: u64,
    ) -> CallResult<()> {
        let record = pb::Record {
            name: names.record.clone(),
            data: Some(pb::Any {
                r#type: run.kind.record_type(self.version()),
                value: record_data(run.object),
            }),
            ..pb::Record::default()
        };
        // Never stored by a watcher yet: create rather than try an update first.
        let fresh = seen.is_none() && run.annotation(RECORD_ANNOTATION) != Some(&names.record);
        let mut result_written = false;
        if fresh {
            self.ensure_result(run, names, result.clone()).await?;
            result_written = true;
            self.create_or_update_record(names, record).await?;
        } else {
            self.writing();
            match self.api.update_record(record.clone()).await {
                Ok(_) => {}
                Err(e) if not_found(&e) => {
                    self.ensure_result(run, names, result.clone()).await?;
                    result_written = true;
                    self.create_or_update_record(names, record).await?;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(result) = result {
            if !result_written && seen.map(|s| s.summary) != Some(summary) {
                self.writing();
                self.api.update_result(result).await?;
            }
        }
        Ok(())
    }

    fn writing(&self) {
        self.metrics
            .api_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Creates the Result; if it exists, a top-level run replaces its summary and
    /// annotations.
    async fn ensure_result(
        &self,
        run: &Run<'_>,
        names: &Names,
        result: Option<pb::Result>,
    ) -> CallResult<()> {
        let body = result.clone().unwrap_or_else(|| pb::Result {
            name: names.result.clone(),
            ..pb::Result::default()
        });
        self.writing();
        match self.api.create_result(run.namespace(), body).await {
            Ok(_) => Ok(()),
            Err(e) if already_exists(&e) => match result {
                Some(result) => {
                    self.writing();
                    self.api.update_result(result).await.map(drop)
                }
                None => Ok(()),
            },
            Err(e) => Err(e),
        }
    }

    async fn create_or_update_record(&self, names: &Names, record: pb::Record) -> CallResult<()> {
        self.writing();
        match self.api.create_record(&names.result, record.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if already_exists(&e) => {
                self.writing();
                self.api.update_record(record).await.map(drop)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    fn run() -> serde_json::Value {
        json!({
            "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {
                "name": "t", "namespace": "ci", "uid": "u", "resourceVersion": "1",
                "labels": {"app": "ci"},
                "managedFields": [{"manager": "tekton", "operation": "Update"}]
            },
            "spec": {"taskRef": {"name": "build"}},
            "status": {"podName": "t-pod"}
        })
    }

    #[test]
    fn the_fingerprint_ignores_only_what_the_watcher_and_deletion_change() {
        let base = fingerprint(&object(run()));
        let mut ours = run();
        ours["metadata"]["resourceVersion"] = json!("7");
        ours["metadata"]["annotations"] = json!({
            RESULT_ANNOTATION: "ci/results/u", RECORD_ANNOTATION: "ci/results/u/records/u",
            STORED_ANNOTATION: "true",
        });
        ours["metadata"]["finalizers"] = json!([FINALIZER]);
        ours["metadata"]["managedFields"] = json!([{"manager": "results-watcher"}]);
        ours["metadata"]["deletionTimestamp"] = json!("2026-11-29T10:00:00Z");
        assert_eq!(fingerprint(&object(ours)), base);

        let changes: [&dyn Fn(&mut serde_json::Value); 4] = [
            &|v| v["status"]["podName"] = json!("other"),
            &|v| v["metadata"]["labels"]["new"] = json!("x"),
            &|v| v["metadata"]["annotations"] = json!({"user": "note"}),
            &|v| v["metadata"]["finalizers"] = json!(["someone.else/finalizer"]),
        ];
        for change in changes {
            let mut changed = run();
            change(&mut changed);
            assert_ne!(fingerprint(&object(changed.clone())), base, "{changed}");
        }
    }

    #[test]
    fn the_cache_keeps_latest_objects_within_its_budget() {
        let key = |name: &str| Key {
            kind: RunKind::TaskRun,
            namespace: "ci".into(),
            name: name.into(),
        };
        let o = Arc::new(object(run()));
        let mut cache = Cache::new(100);
        cache.keep(key("a"), o.clone(), 60, false, true);
        cache.keep(key("b"), o.clone(), 60, false, true); // over budget: not kept
        assert!(cache.take(&key("b")).is_none());
        cache.keep(key("a"), o.clone(), 90, false, true); // a newer object replaces
        assert_eq!(cache.bytes, 90);
        cache.keep(key("a"), o.clone(), 10, true, false); // a tombstone only fills a gap
        let a = cache.take(&key("a")).unwrap();
        assert_eq!((a.bytes, a.gone), (90, false));
        assert_eq!(cache.bytes, 0);
        cache.keep(key("a"), o, 10, true, false);
        assert!(cache.take(&key("a")).unwrap().gone);
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn record_data_is_the_object_without_managed_fields() {
        let data: serde_json::Value = serde_json::from_slice(&record_data(&object(run()))).unwrap();
        let mut expected = run();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(data, expected);
    }
}
