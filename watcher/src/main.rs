//! `results-watcher [--config FILE]`: uploads Tekton runs to `results-api`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use results_grpc::layered::shutdown_signal;
use results_watcher::settings::{Layered as _, Settings, CONFIG_ENV};
use results_watcher::Watcher;

const USAGE: &str = "usage: results-watcher [--config FILE]

Watches Tekton TaskRuns and PipelineRuns and stores them in results-api.
The cluster comes from $KUBECONFIG, ~/.kube/config or the pod's service account.
Settings: the config file (--config or $RESULTS_WATCHER_CONFIG), then
RESULTS_WATCHER_<SECTION>_<KEY> environment variables; see config/results-watcher.toml.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config = std::env::var(CONFIG_ENV).ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => match args.next() {
                Some(path) => config = Some(path),
                None => {
                    eprintln!("--config needs a file\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let settings = match Settings::load(config.as_deref(), &env) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("results-watcher: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&settings.log.filter))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let kube = kube::Client::try_default()
        .await
        .map_err(|e| anyhow::anyhow!("cannot configure the Kubernetes client: {e}"))?;
    let watcher = Watcher::start(settings, kube).await?;
    if let Some(addr) = watcher.metrics_addr() {
        tracing::info!(%addr, "metrics on /metrics");
    }
    tracing::info!("watching TaskRuns and PipelineRuns");
    shutdown_signal().await;
    tracing::info!("shutting down");
    watcher.shutdown().await;
    Ok(())
}
