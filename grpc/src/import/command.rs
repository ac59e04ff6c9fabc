//! Running `results-api import`: the upstream database first (a bad `--from` fails before
//! anything else is touched), then ours (migrated like `serve` when `database.migrate`),
//! the log stores when logs are to be copied, the import, and the summary.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use results_actors::blobs::{self, fs::FsStore, s3::S3Store, BlobConfig, BlobStore};
use results_actors::import::{
    self, ImportError, ImportOptions, LogCopy, Progress, Report, Upstream,
};
use results_settings::CommandLine;

use super::args::{ImportArgs, ImportArgsError};
use super::progress::ConsoleProgress;
use crate::server::{open_database, ServeError};
use crate::settings::Settings;

/// How often a plain progress line is written when standard error is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Why an import did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The command line cannot be used.
    #[error("{0}")]
    Args(#[from] ImportArgsError),
    /// The upstream database (`--from`) cannot be used.
    #[error("{0}")]
    From(#[source] Box<ImportError>),
    /// Our database cannot be opened.
    #[error("opening the target database: {0}")]
    Target(#[from] ServeError),
    /// A log store cannot be opened.
    #[error("opening the {which} log store: {source}")]
    LogStore {
        /// `upstream` or `our`.
        which: &'static str,
        /// What failed.
        #[source]
        source: Box<blobs::BlobError>,
    },
    /// The runtime for the log stores' I/O cannot be made.
    #[error("starting the i/o runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The import stopped.
    #[error("the import stopped (run it again to resume): {0}")]
    Import(#[source] Box<ImportError>),
    /// The final check found rows neither imported nor skipped.
    #[error("verification failed: {}", .0.join("; "))]
    Verify(Vec<String>),
}

impl ImportFailure {
    /// The exit code: 2 for a command line or `--from` that cannot be used, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ImportFailure::Args(_) | ImportFailure::From(_) => 2,
            _ => 1,
        }
    }
}

/// Imports what `args` names into the database of `settings`, telling `progress`; the
/// report once verified.
pub fn import(
    settings: &Settings,
    args: &ImportArgs,
    env: &BTreeMap<String, String>,
    progress: &mut dyn Progress,
) -> Result<Report, ImportFailure> {
    let mut upstream =
        Upstream::connect(&args.from).map_err(|e| ImportFailure::From(Box::new(e)))?;
    let db = open_database(settings)?;
    // A worker of its own drives the stores' I/O: the import blocks on it through a
    // `Handle`, which cannot drive a current-thread runtime's network I/O.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(ImportFailure::Runtime)?;
    let logs = match &args.logs {
        None => None,
        Some(source) => {
            let upstream_store = match source.blob_config(env) {
                BlobConfig::Filesystem { dir } => {
                    FsStore::open_read_only(&dir).map(|s| Arc::new(s) as Arc<dyn BlobStore>)
                }
                config => {
                    S3Store::open_read_only(&config).map(|s| Arc::new(s) as Arc<dyn BlobStore>)
                }
            }
            .map_err(|source| ImportFailure::LogStore {
                which: "upstream",
                source: Box::new(source),
            })?;
            let ours = runtime
                .block_on(blobs::open_store(&settings.logs.blob_config()))
                .map_err(|source| ImportFailure::LogStore {
                    which: "our",
                    source: Box::new(source),
                })?;
            let log_settings = settings.log_settings();
            Some(LogCopy {
                source: upstream_store,
                target: ours,
                target_type: log_settings.store_type,
                max_bytes: log_settings.max_bytes,
                chunk_bytes: log_settings.chunk_bytes,
                runtime: runtime.handle().clone(),
            })
        }
    };
    let options = ImportOptions {
        batch: args.batch,
        logs,
    };
    let report = import::run(&mut upstream, &db, &options, progress)
        .map_err(|e| ImportFailure::Import(Box::new(e)))?;
    let problems = report.problems();
    if !problems.is_empty() {
        return Err(ImportFailure::Verify(problems));
    }
    Ok(report)
}

/// `results-api import …`: runs, prints the summary, and answers the exit code.
pub fn main(
    command_line: &CommandLine,
    settings: &Settings,
    env: &BTreeMap<String, String>,
) -> i32 {
    let outcome = ImportArgs::parse(&command_line.args)
        .map_err(ImportFailure::from)
        .and_then(|args| {
            let mut progress = ConsoleProgress::stderr(PLAIN_PROGRESS_EVERY);
            let outcome = import(settings, &args, env, &mut progress);
            if let Ok(report) = &outcome {
                progress.finish(report);
            }
            outcome
        });
    match outcome {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", summary(&report));
            0
        }
        Err(failure) => {
            eprintln!("results-api import: {failure}");
            if matches!(failure, ImportFailure::Args(_)) {
                eprintln!("{}", super::args::USAGE);
            }
            failure.exit_code()
        }
    }
}

/// The closing summary.
pub fn summary(report: &Report) -> String {
    let mut text = String::new();
    for (what, tally) in [("results", &report.results), ("records", &report.records)] {
        text += &format!(
            "{what}: {} upstream, {} imported, {} already here, {} skipped\n",
            tally.upstream, tally.imported, tally.present, tally.skipped
        );
    }
    text += &format!(
        "logs: {} copied ({} bytes), {} Log Records imported without their bytes\n",
        report.logs_copied, report.log_bytes, report.logs_not_copied
    );
    text += &format!(
        "our database holds {} results and {} records\n",
        report.ours.0, report.ours.1
    );
    text += "verified: every upstream result and record was imported or skipped with a reason\n";
    text
}
