//! Prometheus metrics of the watcher, served as text on `GET /metrics`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::run::RunKind;

/// Upper bounds (seconds) of the store-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One counter per run kind.
#[derive(Debug, Default)]
pub struct PerKind([AtomicU64; 2]);

impl PerKind {
    /// Adds one for `kind`.
    pub fn inc(&self, kind: RunKind) {
        self.0[kind as usize].fetch_add(1, Relaxed);
    }

    /// The count for `kind`.
    pub fn get(&self, kind: RunKind) -> u64 {
        self.0[kind as usize].load(Relaxed)
    }
}

/// Everything the watcher counts.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Runs whose state was written to the API.
    pub stored: PerKind,
    /// Changes not uploaded because nothing that is stored changed.
    pub skipped: PerKind,
    /// Failed attempts to store a run.
    pub failures: PerKind,
    /// Runs deleted by cleanup.
    pub deleted: PerKind,
    /// Finalizers released after the final state was stored.
    pub released_stored: PerKind,
    /// Finalizers released at the store deadline without the final state stored.
    pub released_deadline: PerKind,
    /// Step logs uploaded.
    pub logs_uploaded: AtomicU64,
    /// Bytes of step logs uploaded (as the API acknowledged them).
    pub log_bytes: AtomicU64,
    /// Failed attempts to upload a step log (retried with backoff, or given up on when
    /// the API refuses the log for good).
    pub log_failures: AtomicU64,
    /// Step logs not uploaded because their pod or container was gone.
    pub logs_missing: AtomicU64,
    /// Step logs cut at `logs.max_bytes_per_step`.
    pub logs_truncated: AtomicU64,
    /// Write calls made to the API (creates and updates).
    pub api_writes: AtomicU64,
    /// Errors of the Kubernetes watch streams (each is retried).
    pub watch_errors: AtomicU64,
    /// Keys waiting in the work queue (set by the workers).
    pub queue_depth: AtomicU64,
    /// 1 while this replica reconciles (holds the Lease, or leader election is off).
    pub leader: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Records how long storing one run took.
    pub fn observe_store(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let per_kind = [
            (
                "results_watcher_runs_stored_total",
                "Runs whose state was written to the results API.",
                &self.stored,
            ),
            (
                "results_watcher_uploads_skipped_total",
                "Run changes not uploaded because the stored state is current.",
                &self.skipped,
            ),
            (
                "results_watcher_store_failures_total",
                "Failed attempts to store a run (retried with backoff).",
                &self.failures,
            ),
            (
                "results_watcher_runs_deleted_total",
                "Completed, stored runs deleted from the cluster by cleanup.",
                &self.deleted,
            ),
        ];
        for (name, help, counter) in per_kind {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for kind in RunKind::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{kind=\"{}\"}} {}",
                    kind.kind(),
                    counter.get(kind)
                );
            }
        }
        let name = "results_watcher_finalizers_released_total";
        let _ = writeln!(out, "# HELP {name} Finalizers released, after storing or at the store deadline.\n# TYPE {name} counter");
        for (reason, counter) in [
            ("stored", &self.released_stored),
            ("deadline", &self.released_deadline),
        ] {
            for kind in RunKind::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{kind=\"{}\",reason=\"{reason}\"}} {}",
                    kind.kind(),
                    counter.get(kind)
                );
            }
        }
        for (name, kind, help, value) in [
            (
                "results_watcher_api_writes_total",
                "counter",
                "Create and update calls made to the results API.",
                &self.api_writes,
            ),
            (
                "results_watcher_watch_errors_total",
                "counter",
                "Errors of the Kubernetes watch streams (retried).",
                &self.watch_errors,
            ),
            (
                "results_watcher_logs_uploaded_total",
                "counter",
                "Step logs of finished TaskRuns uploaded to the results API.",
                &self.logs_uploaded,
            ),
            (
                "results_watcher_log_bytes_total",
                "counter",
                "Bytes of step logs uploaded to the results API.",
                &self.log_bytes,
            ),
            (
                "results_watcher_log_upload_failures_total",
                "counter",
                "Failed attempts to upload a step log.",
                &self.log_failures,
            ),
            (
                "results_watcher_logs_missing_total",
                "counter",
                "Step logs not uploaded because their pod or container was gone.",
                &self.logs_missing,
            ),
            (
                "results_watcher_logs_truncated_total",
                "counter",
                "Step logs cut at logs.max_bytes_per_step.",
                &self.logs_truncated,
            ),
            (
                "results_watcher_queue_depth",
                "gauge",
                "Runs waiting to be reconciled.",
                &self.queue_depth,
            ),
            (
                "results_watcher_leader",
                "gauge",
                "1 while this replica reconciles (it holds the Lease, or leader election is off).",
                &self.leader,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Relaxed)
            );
        }
        let name = "results_watcher_store_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to store one run in the results API.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let sum = self.latency_sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
        );
        out
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: std::sync::Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("metrics endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, std::convert::Infallible>(respond(&request, &metrics)) }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn respond(request: &Request<hyper::body::Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&hyper::Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        (&hyper::Method::GET, "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

/// Binds the metrics address.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_per_kind_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.stored.inc(RunKind::TaskRun);
        m.stored.inc(RunKind::TaskRun);
        m.released_deadline.inc(RunKind::PipelineRun);
        m.observe_store(Duration::from_millis(3));
        m.log_bytes.fetch_add(4096, Relaxed);
        m.observe_store(Duration::from_secs(20));
        let text = m.render();
        for line in [
            "results_watcher_runs_stored_total{kind=\"TaskRun\"} 2",
            "results_watcher_runs_stored_total{kind=\"PipelineRun\"} 0",
            "results_watcher_finalizers_released_total{kind=\"PipelineRun\",reason=\"deadline\"} 1",
            "results_watcher_store_duration_seconds_bucket{le=\"0.0025\"} 0",
            "results_watcher_store_duration_seconds_bucket{le=\"0.005\"} 1",
            "results_watcher_store_duration_seconds_bucket{le=\"10\"} 1",
            "results_watcher_store_duration_seconds_bucket{le=\"+Inf\"} 2",
            "results_watcher_store_duration_seconds_count 2",
            "results_watcher_log_bytes_total 4096",
            "results_watcher_logs_uploaded_total 0",
            "results_watcher_leader 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
