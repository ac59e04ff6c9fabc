//! [`FakeKube`]: starts the fake apiserver on its own thread (own actix system) on a
//! loopback port, stops it on drop, and lets tests read and write objects, register tokens
//! and access rules, and read the reviews received, in process.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use serde_json::Value;

use super::delete::DeleteOptions;
use super::http::{self, WriteRequest};
use super::meta::{meta_str, Resource};
use super::pod_logs::PodLogRequest;
use super::rbac::AccessRule;
use super::reviews::{Review, ReviewedUser};
use super::shared::Shared;

/// The field manager of in-process [`FakeKube::create`] (as `kubectl create` would be).
pub const CREATE_MANAGER: &str = "kubectl-create";

/// The field manager of in-process [`FakeKube::update`] (the Tekton controller).
pub const UPDATE_MANAGER: &str = "tekton-pipelines-controller";

/// A fake Kubernetes API server for end-to-end tests of controllers, speaking the wire format
/// kube-rs consumes: list (paged), watch (with history, bookmarks), get, create, replace,
/// merge/JSON patch, server-side apply, delete with finalizers and garbage collection.
///
/// Point a client at it with `kube::Client::try_from(kube::Config::new(fake.url().parse()?))`.
/// Objects are JSON values stored per (group, version, plural, namespace, name).
///
/// Reviews: `POST /apis/authentication.k8s.io/v1/tokenreviews` authenticates the tokens of
/// [`FakeKube::add_token`] (any other token: `authenticated` left out and an `error`, still
/// 201); `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` allows what one of the
/// [`AccessRule`]s of [`FakeKube::allow`] covers, RBAC style (no rule: `allowed: false`).
///
/// Leases: `coordination.k8s.io/v1` `leases` are served like any namespaced object (get,
/// create, replace, patch; a stale resourceVersion is 409 Conflict) and validated as the
/// apiserver validates their spec; [`FakeKube::lease`] reads one.
///
/// Pod logs: `GET /api/v1/namespaces/{ns}/pods/{pod}/log` serves what
/// [`FakeKube::set_pod_log`] and its siblings set, streamed in chunks.
///
/// Not modelled: schemas and validation beyond names, version conversion, subresources
/// other than `pods/log` (`/status` is a 404; status written through the main resource is
/// kept), field ownership
/// of anything but label/annotation keys and finalizers (other applied fields are merged in
/// and only shown in `managedFields`), YAML apply bodies, strategic merge patch (415, as for
/// custom resources), consistent snapshots across list pages and `Exact` list
/// resourceVersions (pages show current objects), foreground deletion (treated as
/// background), authentication and authorization of its own clients (every request is
/// served), token audiences (a token is valid for any), rules for non-resource URLs, and
/// built-in grants (not even `system:masters` may do anything without a rule).
pub struct FakeKube {
    shared: Arc<Shared>,
    url: String,
    server: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
}

impl FakeKube {
    /// Starts an empty server on `127.0.0.1` and a port chosen by the OS.
    pub fn start() -> FakeKube {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Shared::new());
        let data = web::Data::from(shared.clone());
        let (started, handle) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("fake-kube".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(8 << 20))
                            .default_service(web::to(http::handle))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener)
                    .expect("listen on the bound port")
                    .run();
                    let _ = started.send(server.handle());
                    if let Err(e) = server.await {
                        eprintln!("fake apiserver stopped with an error: {e}");
                    }
                });
            })
            .expect("spawn the fake apiserver thread");
        let server = handle.recv().expect("the fake apiserver started");
        FakeKube {
            shared,
            url,
            server: Some(server),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Writes a kubeconfig file naming this server (as results-api's `auth.kubeconfig`
    /// reads it) into `dir`, and returns its path.
    pub fn write_kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: results-api\n  user:\n    token: results-api-service-account\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: results-api\n\
             current-context: fake\n",
            self.url
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// Creates `object` like a POST by `kubectl create` would; `apiVersion` and `kind` pick
    /// the resource (plural: lowercase kind + "s"), `metadata.namespace` the namespace.
    /// Returns the stored object; panics on failure.
    pub fn create(&self, object: Value) -> Value {
        let resource = resource_of(&object);
        let namespace = meta_str(&object, "namespace").to_owned();
        self.shared
            .write(|s| s.create(&resource, &namespace, object, CREATE_MANAGER))
            .unwrap_or_else(|e| panic!("create in the fake apiserver failed: {e}"))
    }

    /// The object, if it exists.
    pub fn get(
        &self,
        api_version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let resource = Resource::new(api_version, plural);
        self.shared
            .read(|s| s.get(&resource, namespace, name).ok())
            .map(|o| (*o).clone())
    }

    /// The Lease `namespace/name`, if it exists.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get(super::leases::LEASE_API_VERSION, "leases", namespace, name)
    }

    /// Every object of the resource, in all namespaces, ordered by namespace and name.
    pub fn list(&self, api_version: &str, plural: &str) -> Vec<Value> {
        let resource = Resource::new(api_version, plural);
        let page = self
            .shared
            .read(|s| s.list(&resource, None, &Default::default(), None, None))
            .expect("a list without continue token");
        page.items.iter().map(|o| (**o).clone()).collect()
    }

    /// Changes the object like a controller's update (manager [`UPDATE_MANAGER`], operation
    /// Update): applies `change`, bumps the resourceVersion and emits MODIFIED, even when
    /// `change` changes nothing. Server fields (uid, resourceVersion, timestamps) are kept;
    /// removing the last finalizer of an object being deleted removes it. Panics if missing.
    pub fn update(
        &self,
        api_version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Value {
        let resource = Resource::new(api_version, plural);
        self.shared
            .write(|s| s.update_with(&resource, namespace, name, UPDATE_MANAGER, change))
            .unwrap_or_else(|e| panic!("update in the fake apiserver failed: {e}"))
    }

    /// Deletes like `kubectl delete`: background propagation to dependents, finalizers
    /// honoured (the object then only gets a deletionTimestamp). Panics if missing.
    pub fn delete(&self, api_version: &str, plural: &str, namespace: &str, name: &str) {
        let resource = Resource::new(api_version, plural);
        self.shared
            .write(|s| s.delete(&resource, namespace, name, &DeleteOptions::default()))
            .unwrap_or_else(|e| panic!("delete in the fake apiserver failed: {e}"));
    }

    /// Every write request received over HTTP so far (not the in-process calls), in order.
    /// Reviews are not writes: see [`FakeKube::token_reviews`] and
    /// [`FakeKube::access_reviews`].
    pub fn writes(&self) -> Vec<WriteRequest> {
        self.shared.writes()
    }

    /// Lets TokenReviews of `token` authenticate it as `user` (replacing an earlier user).
    pub fn add_token(&self, token: &str, user: ReviewedUser) {
        self.shared.reviews().add_token(token, user);
    }

    /// Makes `token` unknown: its reviews answer `invalid bearer token` from now on.
    pub fn remove_token(&self, token: &str) {
        self.shared.reviews().remove_token(token);
    }

    /// Adds `rule`: SubjectAccessReviews it covers are allowed from now on.
    pub fn allow(&self, rule: AccessRule) {
        self.shared.reviews().allow(rule);
    }

    /// Drops every rule: every SubjectAccessReview is denied from now on.
    pub fn revoke_all(&self) {
        self.shared.reviews().revoke_all();
    }

    /// The bodies of the TokenReviews received, in order, failed ones included.
    pub fn token_reviews(&self) -> Vec<Value> {
        self.shared.reviews().received(Review::Token)
    }

    /// The bodies of the SubjectAccessReviews received, in order, failed ones included.
    pub fn access_reviews(&self) -> Vec<Value> {
        self.shared.reviews().received(Review::Access)
    }

    /// While `Some(code)`, both review endpoints answer that HTTP status (4xx or 5xx, else a
    /// panic) with a `Status` body, as in an API outage; `None` ends it. Beware that kube-rs
    /// clients with the default config retry 429, 503 and 504 up to 15 times with growing
    /// backoff (minutes in all), so a test of a lasting outage wants 500 or no retries.
    pub fn fail_reviews(&self, status: Option<u16>) {
        self.shared.reviews().fail(status);
    }

    /// Sets the log of `container` in `pod`, served by `GET …/pods/{pod}/log` (a pod
    /// exists for logs once one of its containers has a log; pod objects are not
    /// consulted). Unknown pods answer 404, unknown containers 400 as the apiserver does
    /// (`container X is not valid for pod Y`); `container` may be left out for a pod with
    /// one container; `limitBytes` cuts the log; `follow=true` ends where the log does
    /// (every container of the fake has terminated); `previous`, `timestamps`,
    /// `tailLines`, `sinceSeconds` and `sinceTime` are refused (400) as not modelled.
    pub fn set_pod_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        text: impl Into<actix_web::web::Bytes>,
    ) {
        self.shared
            .pod_logs()
            .set_text(namespace, pod, container, text.into());
    }

    /// Sets the log of `container` in `pod` to the [`GeneratedLog`](super::GeneratedLog)
    /// of `size` bytes, produced chunk by chunk as it is served (never held whole).
    pub fn set_pod_log_generated(&self, namespace: &str, pod: &str, container: &str, size: u64) {
        self.shared
            .pod_logs()
            .set_generated(namespace, pod, container, size);
    }

    /// Sets the log of `container` in `pod` to `text`, after which the connection breaks
    /// (as when the kubelet or apiserver goes away mid-log): the client reads `text`, then
    /// an error instead of the end of the body.
    pub fn set_pod_log_broken(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        text: impl Into<actix_web::web::Bytes>,
    ) {
        self.shared
            .pod_logs()
            .set_broken(namespace, pod, container, text.into());
    }

    /// Forgets the pod's logs: its log requests answer 404 from now on.
    pub fn remove_pod_logs(&self, namespace: &str, pod: &str) {
        self.shared.pod_logs().remove_pod(namespace, pod);
    }

    /// While `Some(code)`, every log request answers that HTTP status with a `Status` body;
    /// `None` ends it. (kube-rs clients retry 429, 503 and 504 themselves: see
    /// [`FakeKube::fail_reviews`].)
    pub fn fail_pod_logs(&self, status: Option<u16>) {
        self.shared.pod_logs().fail(status);
    }

    /// The log requests received, in order.
    pub fn pod_log_requests(&self) -> Vec<PodLogRequest> {
        self.shared.pod_logs().requests()
    }

    /// The resourceVersion of the last write (0 before any).
    pub fn resource_version(&self) -> u64 {
        self.shared.read(|s| s.resource_version())
    }

    /// How many watch streams are open now.
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches().load(Ordering::SeqCst)
    }

    /// Ends every open watch stream (as an apiserver restart would); clients resume from
    /// their last resourceVersion.
    pub fn end_watches(&self) {
        self.shared.end_watches();
    }

    /// Forgets the event history: watches that resume from an older resourceVersion get a
    /// 410 Expired ERROR event and must list again.
    pub fn compact(&self) {
        self.shared.write(|s| s.compact());
    }

    /// How often watches that allow bookmarks get one (default 1 s); other watches get a
    /// blank line as often, so that clients that went away are noticed.
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.shared.set_bookmark_interval(interval);
    }

    /// Waits until `predicate` holds for the object (None: it does not exist) and returns
    /// it; panics with the last state after `timeout`. Woken by every write.
    pub async fn wait_for(
        &self,
        api_version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        timeout: Duration,
        predicate: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticks = self.shared.subscribe();
        loop {
            ticks.borrow_and_update();
            let current = self.get(api_version, plural, namespace, name);
            if predicate(current.as_ref()) {
                return current;
            }
            let woken = tokio::time::timeout_at(deadline, ticks.changed()).await;
            if woken.is_err() {
                let last = current.map_or("gone".into(), |o| format!("{o:#}"));
                panic!("timed out after {timeout:?} waiting for {plural} {namespace}/{name}; last state: {last}");
            }
        }
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // The stop command is sent at once; the thread ends when the server has stopped.
            drop(server.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The resource of an object from its apiVersion and kind.
fn resource_of(object: &Value) -> Resource {
    let api_version = object["apiVersion"]
        .as_str()
        .expect("the object has an apiVersion");
    let kind = object["kind"].as_str().expect("the object has a kind");
    Resource::new(api_version, &format!("{}s", kind.to_lowercase()))
}
