//! The results watcher: a Kubernetes controller that uploads Tekton TaskRuns and
//! PipelineRuns to `results-api` over gRPC, writes back where they are stored, holds a
//! finalizer until a deleted run's final state is stored, and prunes stored runs.
//!
//! It is a client of the API only (the wire contract of `results-grpc`), never of storage.
//!
//! # Layout
//! - [`settings`]: the config file and environment overrides.
//! - [`run`]: naming, status and summary of one run (SPEC §7).
//! - [`controller`]: watch streams, the work queue and the reconciler.
//! - [`client`]: the gRPC client of the API.
//! - [`logs`]: step logs of finished TaskRuns, streamed from `pods/log` into `UpdateLog`.
//! - [`leader`]: leader election on a Lease, so that of several replicas one reconciles.
//! - [`error`]: why the watcher could not start.
//! - [`queue`], [`selector`], [`metrics`]: a keyed delay queue, label selectors, and the
//!   Prometheus endpoint.

pub mod client;
pub mod controller;
pub mod error;
pub mod leader;
pub mod logs;
pub mod metrics;
pub mod queue;
pub mod run;
pub mod selector;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
pub use results_grpc::pb::v1alpha2 as pb;
use tokio::task::JoinHandle;

use crate::controller::{Controller, Running};
pub use crate::error::{Error, Result};
use crate::leader::{LeaseLock, SystemClock, Timing};
use crate::metrics::Metrics;
use crate::settings::Settings;

/// What the watcher does in the cluster: `(API group, resource, verbs)`. The ClusterRole
/// in `config/` must grant exactly these (a test holds them together).
pub const REQUIRED_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    (
        "tekton.dev",
        "taskruns",
        &["get", "list", "watch", "patch", "delete"],
    ),
    (
        "tekton.dev",
        "pipelineruns",
        &["get", "list", "watch", "patch", "delete"],
    ),
    // The step logs of finished TaskRuns.
    ("", "pods/log", &["get"]),
];

/// What leader election does with its Lease, in the watcher's own namespace only (a Role
/// in `config/` grants exactly these).
pub const LEASE_PERMISSIONS: &[(&str, &str, &[&str])] = &[(
    "coordination.k8s.io",
    "leases",
    &["get", "create", "update"],
)];

/// A running watcher: watch streams, workers and the metrics endpoint, on the current
/// tokio runtime.
pub struct Watcher {
    engine: Engine,
    metrics: Arc<Metrics>,
    metrics_addr: Option<SocketAddr>,
    stop_metrics: Option<tokio::sync::oneshot::Sender<()>>,
    metrics_task: Option<JoinHandle<()>>,
    identity: Option<String>,
}

/// What reconciles.
enum Engine {
    /// The controller, at once (leader election is off).
    Alone(Running),
    /// The leader election loop, which runs the controller while it holds the Lease.
    Elected {
        stop: tokio::sync::oneshot::Sender<()>,
        task: JoinHandle<()>,
    },
}

impl Watcher {
    /// Connects to the cluster the environment names (`$KUBECONFIG`, `~/.kube/config` or
    /// the pod's service account), then [starts](Watcher::start).
    pub async fn connect(settings: Settings) -> Result<Watcher> {
        let kube = kube::Client::try_default()
            .await
            .map_err(Error::KubeClient)?;
        Watcher::start(settings, kube).await
    }

    /// Binds the metrics endpoint and starts watching through `kube`.
    pub async fn start(settings: Settings, kube: kube::Client) -> Result<Watcher> {
        let metrics = Arc::new(Metrics::default());
        let (metrics_addr, stop_metrics, metrics_task) = if settings.metrics.addr.is_empty() {
            (None, None, None)
        } else {
            let bind_error = |source| Error::BindMetrics {
                addr: settings.metrics.addr.clone(),
                source,
            };
            let listener = metrics::bind(&settings.metrics.addr)
                .await
                .map_err(bind_error)?;
            let addr = listener.local_addr().map_err(bind_error)?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(metrics::serve(listener, metrics.clone(), async move {
                let _ = stopped.await;
            }));
            (Some(addr), Some(stop), Some(task))
        };
        // Built now, so that bad settings stop the start whether or not it leads.
        let first = Controller::new(settings.clone(), kube.clone(), metrics.clone())?;
        let mut identity = None;
        let engine = if settings.leader.enabled {
            let leader = &settings.leader;
            if leader.namespace.is_empty() {
                return Err(Error::LeaderNamespace);
            }
            let id = leader::identity(&leader.identity);
            identity = Some(id.clone());
            let lock = LeaseLock::new(
                kube::Api::<Lease>::namespaced(kube.clone(), &leader.namespace),
                &leader.lease_name,
                &id,
                i32::try_from(leader.lease_duration_secs).unwrap_or(i32::MAX),
                Arc::new(SystemClock),
            );
            let timing = Timing::new(leader);
            let mut first = Some(first);
            let metrics_of_terms = metrics.clone();
            // Each term of leadership starts afresh (empty queue and caches).
            let start = move || {
                let controller = match first.take() {
                    Some(controller) => controller,
                    None => match Controller::new(
                        settings.clone(),
                        kube.clone(),
                        metrics_of_terms.clone(),
                    ) {
                        Ok(controller) => controller,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot start reconciling");
                            return None;
                        }
                    },
                };
                Some(Running::start(Arc::new(controller)))
            };
            let (stop, stopped) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(leader::elect(lock, timing, metrics.clone(), start, stopped));
            Engine::Elected { stop, task }
        } else {
            metrics
                .leader
                .store(1, std::sync::atomic::Ordering::Relaxed);
            Engine::Alone(Running::start(Arc::new(first)))
        };
        Ok(Watcher {
            engine,
            metrics,
            metrics_addr,
            stop_metrics,
            metrics_task,
            identity,
        })
    }

    /// Its name in the Lease, when leader election is on.
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    /// Its metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Where the metrics endpoint listens, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops watching, lets every worker finish the run in hand, releases the Lease (so
    /// that another replica takes over at once) and stops the metrics endpoint. Finalizers
    /// stay on runs not yet stored: the next watcher carries on.
    pub async fn shutdown(mut self) {
        match self.engine {
            Engine::Alone(running) => running.stop().await,
            Engine::Elected { stop, task } => {
                let _ = stop.send(());
                let _ = task.await;
            }
        }
        if let Some(stop) = self.stop_metrics.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.metrics_task.take() {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client of a Kubernetes API nobody serves; start-up fails before it is called.
    fn kube() -> kube::Client {
        let url = "http://127.0.0.1:1".parse().unwrap();
        kube::Client::try_from(kube::Config::new(url)).unwrap()
    }

    #[tokio::test]
    async fn a_taken_metrics_address_fails_the_start_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let mut settings = Settings::default();
        settings.metrics.addr = addr.clone();
        let err = Watcher::start(settings, kube()).await.err().unwrap();
        assert!(matches!(err, Error::BindMetrics { .. }), "{err:?}");
        let source = std::error::Error::source(&err).unwrap();
        let io = source.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::AddrInUse);
        let message = err.to_string();
        assert!(
            message.contains("metrics.addr") && message.contains(&addr),
            "{message}"
        );
    }

    #[tokio::test]
    async fn leader_election_without_a_namespace_fails_the_start() {
        let mut settings = Settings::default();
        settings.metrics.addr = String::new();
        settings.leader.enabled = true;
        let err = Watcher::start(settings, kube()).await.err().unwrap();
        assert!(matches!(err, Error::LeaderNamespace), "{err:?}");
        assert!(err.to_string().contains("leader.namespace"), "{err}");
    }

    #[tokio::test]
    async fn an_unvalidated_cleanup_selector_fails_the_start() {
        let mut settings = Settings::default();
        settings.metrics.addr = String::new();
        settings.watcher.cleanup_selector = "tier in (".into();
        let err = Watcher::start(settings, kube()).await.err().unwrap();
        assert!(matches!(err, Error::CleanupSelector(_)), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(
            err.to_string().contains("watcher.cleanup_selector"),
            "{err}"
        );
    }
}
