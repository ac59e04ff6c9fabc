//! A real `results-watcher` (the library the binary runs) on its own thread and tokio
//! runtime, pointed at a fake Kubernetes API server and a test `results-api`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use results_watcher::metrics::Metrics;
use results_watcher::settings::Settings;
use results_watcher::Watcher;

/// Watcher settings for tests: the API at `api`, metrics on a port chosen by the OS,
/// quick retries.
pub fn watcher_settings(api: SocketAddr) -> Settings {
    let mut settings = Settings::default();
    settings.api.url = format!("http://{api}");
    settings.api.timeout_secs = 5;
    settings.metrics.addr = "127.0.0.1:0".into();
    settings.watcher.retry_initial_ms = 100;
    settings.watcher.retry_max_secs = 1;
    settings.log.filter = "warn".into();
    settings
}

/// How a [`WatcherThread`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// [`Watcher::shutdown`], as on SIGTERM.
    Clean,
    /// Its runtime dropped mid-work, as when the process dies: nothing is released.
    Crash,
}

/// A running watcher; stopped on drop.
pub struct WatcherThread {
    metrics: Arc<Metrics>,
    metrics_addr: Option<SocketAddr>,
    identity: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<Stop>>,
    thread: Option<JoinHandle<()>>,
}

impl WatcherThread {
    /// Starts a watcher with `settings` against the Kubernetes API at `kube_url`.
    pub fn start(settings: Settings, kube_url: &str) -> WatcherThread {
        let url = kube_url.parse().expect("a Kubernetes API URL");
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<Stop>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            let crashed = runtime.block_on(async move {
                let kube = kube::Client::try_from(kube::Config::new(url)).expect("kube client");
                let watcher = Watcher::start(settings, kube)
                    .await
                    .expect("start the watcher");
                let identity = watcher.identity().map(str::to_owned);
                let _ =
                    started_tx.send((watcher.metrics().clone(), watcher.metrics_addr(), identity));
                if stopped.await.unwrap_or(Stop::Clean) == Stop::Clean {
                    watcher.shutdown().await;
                    return None;
                }
                Some(watcher)
            });
            // A crash: the runtime goes first, with every task in it, mid-request. The
            // watcher's handle is dropped only then: dropped while its tasks still ran, it
            // would tell the leader election to stop, which releases the Lease as a clean
            // shutdown does (seen as a "crash" hand-over without a transition).
            drop(runtime);
            drop(crashed);
        });
        let (metrics, metrics_addr, identity) = started_rx.recv().expect("the watcher started");
        WatcherThread {
            metrics,
            metrics_addr,
            identity,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Its metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where its Prometheus endpoint listens.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Its name in the Lease, when leader election is on.
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    /// Whether it reconciles now (its `results_watcher_leader` gauge).
    pub fn is_leader(&self) -> bool {
        self.metrics
            .leader
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    }

    /// Stops it and waits.
    pub fn stop(&mut self) {
        self.end(Stop::Clean);
    }

    /// Ends it as a crash would: every task dropped wherever it is, the Lease not
    /// released, finalizers and half-done work left as they are.
    pub fn kill(&mut self) {
        self.end(Stop::Crash);
    }

    fn end(&mut self, how: Stop) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(how);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WatcherThread {
    fn drop(&mut self) {
        self.stop();
    }
}
