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
//! - [`error`]: why the watcher could not start.
//! - [`queue`], [`selector`], [`metrics`]: a keyed delay queue, label selectors, and the
//!   Prometheus endpoint.

pub mod client;
pub mod controller;
pub mod error;
pub mod logs;
pub mod metrics;
pub mod queue;
pub mod run;
pub mod selector;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

pub use results_grpc::pb::v1alpha2 as pb;
use tokio::task::JoinHandle;

use crate::controller::Controller;
pub use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::run::RunKind;
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

/// A running watcher: watch streams, workers and the metrics endpoint, on the current
/// tokio runtime.
pub struct Watcher {
    controller: Arc<Controller>,
    metrics: Arc<Metrics>,
    metrics_addr: Option<SocketAddr>,
    stop_metrics: Option<tokio::sync::oneshot::Sender<()>>,
    watches: Vec<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    metrics_task: Option<JoinHandle<()>>,
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
        let workers = settings.watcher.workers;
        let controller = Arc::new(Controller::new(settings, kube, metrics.clone())?);
        let watches = RunKind::ALL
            .into_iter()
            .map(|kind| tokio::spawn(controller.clone().watch(kind)))
            .collect();
        let workers = (0..workers)
            .map(|_| tokio::spawn(controller.clone().work()))
            .collect();
        Ok(Watcher {
            controller,
            metrics,
            metrics_addr,
            stop_metrics,
            watches,
            workers,
            metrics_task,
        })
    }

    /// Its metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Where the metrics endpoint listens, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops watching, lets every worker finish the run in hand, and stops the metrics
    /// endpoint. Finalizers stay on runs not yet stored: the next watcher carries on.
    pub async fn shutdown(mut self) {
        for watch in self.watches.drain(..) {
            watch.abort();
            let _ = watch.await;
        }
        self.controller.close();
        for worker in self.workers.drain(..) {
            let _ = worker.await;
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
