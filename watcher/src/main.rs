//! `results-watcher [--config FILE]`: uploads Tekton runs to `results-api`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use results_settings::{shutdown_signal, CommandLine, Invocation};
use results_watcher::settings::{Layered as _, Settings};
use results_watcher::Watcher;

const USAGE: &str = "usage: results-watcher [--config FILE]

Watches Tekton TaskRuns and PipelineRuns and stores them in results-api.
The cluster comes from $KUBECONFIG, ~/.kube/config or the pod's service account.
Settings: the config file (--config or $RESULTS_WATCHER_CONFIG), then
RESULTS_WATCHER_<SECTION>_<KEY> environment variables; see config/results-watcher.toml.";

fn main() -> ExitCode {
    let command_line = match CommandLine::parse(std::env::args().skip(1), &[]) {
        Ok(Invocation::Run(command_line)) => command_line,
        Ok(Invocation::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut settings = match Settings::from_command_line(&command_line, &env) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("results-watcher: {e}");
            return ExitCode::from(2);
        }
    };
    settings.leader.fill_from_pod(&env, || {
        std::fs::read_to_string(results_watcher::settings::SERVICE_ACCOUNT_NAMESPACE_FILE).ok()
    });
    settings.log.init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> results_watcher::Result<()> {
    let watcher = Watcher::connect(settings).await?;
    if let Some(addr) = watcher.metrics_addr() {
        tracing::info!(%addr, "metrics on /metrics");
    }
    match watcher.identity() {
        Some(identity) => tracing::info!(identity, "waiting for the lease to reconcile"),
        None => tracing::info!("watching TaskRuns and PipelineRuns"),
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    watcher.shutdown().await;
    Ok(())
}
