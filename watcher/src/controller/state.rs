//! The controller's shared state, its watch tasks and its workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{watcher, WatchStreamExt as _};
use tokio::time::Instant;

use super::cache::{ByteCount, Cache, Cached};
use crate::client::ApiClient;
use crate::error::{Error, Result};
use crate::logs::LogUploader;
use crate::metrics::Metrics;
use crate::queue::WorkQueue;
use crate::run::RunKind;
use crate::selector::Selector;
use crate::settings::Settings;

/// Field manager of the watcher's server-side applies.
pub const FIELD_MANAGER: &str = "results-watcher";

/// A run in the work queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub(super) kind: RunKind,
    pub(super) namespace: String,
    pub(super) name: String,
}

/// What was last stored of a live run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    /// Its kind.
    pub(super) kind: RunKind,
    /// Fingerprint of the object, without what the watcher itself writes.
    pub(super) content: u64,
    /// Fingerprint of the Result (summary and annotations) a top-level run set.
    pub(super) summary: u64,
}

/// State shared by the watch tasks and the workers.
pub struct Controller {
    pub(super) settings: Settings,
    pub(super) kube: kube::Client,
    pub(super) api: ApiClient,
    pub(super) logs: LogUploader,
    pub(super) metrics: Arc<Metrics>,
    pub(super) queue: WorkQueue<Key>,
    pub(super) cache: Mutex<Cache>,
    pub(super) seen: Mutex<HashMap<String, Seen>>,
    pub(super) attempts: Mutex<HashMap<Key, u32>>,
    pub(super) cleanup_selector: Selector,
}

/// `at` (wall clock) as a tokio instant: now if it has passed.
pub(super) fn instant_at(at: Timestamp) -> Instant {
    let now = Timestamp::now();
    let ahead = at.duration_since(now).try_into().unwrap_or(Duration::ZERO);
    Instant::now() + ahead
}

pub(super) fn plus(at: Timestamp, secs: u64) -> Timestamp {
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
    ) -> Result<Controller> {
        let api = ApiClient::new(&settings.api)?;
        let cleanup_selector =
            Selector::parse(&settings.watcher.cleanup_selector).map_err(Error::CleanupSelector)?;
        let cache = Cache::new(settings.watcher.cache_bytes);
        let logs = LogUploader::new(
            settings.logs.clone(),
            Duration::from_secs(settings.api.timeout_secs),
            kube.clone(),
            metrics.clone(),
        );
        Ok(Controller {
            settings,
            kube,
            api,
            logs,
            metrics,
            queue: WorkQueue::default(),
            cache: Mutex::new(cache),
            seen: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            cleanup_selector,
        })
    }

    pub(super) fn version(&self) -> &str {
        &self.settings.kubernetes.tekton_version
    }

    pub(super) fn resource(&self, kind: RunKind) -> ApiResource {
        kind.resource(self.version())
    }

    pub(super) fn namespaced(&self, kind: RunKind, namespace: &str) -> Api<DynamicObject> {
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
    pub(super) fn remember(&self, key: Key, object: Arc<DynamicObject>, gone: bool, replace: bool) {
        let mut count = ByteCount(0);
        let _ = serde_json::to_writer(&mut count, &*object);
        self.cache
            .lock()
            .expect("cache lock")
            .keep(key, object, count.0, gone, replace);
    }

    pub(super) fn take_cached(&self, key: &Key) -> Option<Cached> {
        self.cache.lock().expect("cache lock").take(key)
    }

    pub(super) fn publish_depth(&self) {
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

    pub(super) fn backoff(&self, key: &Key) -> Instant {
        let mut attempts = self.attempts.lock().expect("attempts lock");
        let attempt = attempts.entry(key.clone()).or_insert(0);
        *attempt += 1;
        Instant::now() + self.settings.retry_delay(*attempt)
    }
}
