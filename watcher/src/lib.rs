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
//! - [`queue`], [`selector`], [`metrics`]: a keyed delay queue, label selectors, and the
//!   Prometheus endpoint.

pub mod client;
pub mod controller;
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
    /// Binds the metrics endpoint and starts watching through `kube`.
    pub async fn start(settings: Settings, kube: kube::Client) -> anyhow::Result<Watcher> {
        let metrics = Arc::new(Metrics::default());
        let (metrics_addr, stop_metrics, metrics_task) = if settings.metrics.addr.is_empty() {
            (None, None, None)
        } else {
            let listener = metrics::bind(&settings.metrics.addr).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on metrics.addr {}: {e}",
                    settings.metrics.addr
                )
            })?;
            let addr = listener.local_addr()?;
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
