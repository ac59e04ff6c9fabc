//! `results-api retention run [--dry-run]`: one retention pass from the command line,
//! against the configured database and log store, whatever `retention.enabled` says.
//! It takes no lease: a pass running at the same time on a server is harmless (each
//! Result is deleted once, by whichever pass locks it first).

use std::sync::Arc;

use results_actors::model::Timestamp;
use results_actors::retention::PassReport;
use results_actors::{Actors, SystemClock, TokenSigner, UuidGen};

use crate::server::{open_database, ServeError};
use crate::settings::Settings;

/// The usage of the `retention` command.
pub const USAGE: &str = "usage: results-api [--config FILE] retention run [--dry-run]";

/// What the command line asks of `retention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunCommand {
    /// Count, delete nothing.
    pub dry_run: bool,
}

/// Parses the arguments after `retention`.
pub fn parse_args(args: &[String]) -> Result<RunCommand, String> {
    match args {
        [run] if run == "run" => Ok(RunCommand { dry_run: false }),
        [run, flag] if run == "run" && flag == "--dry-run" => Ok(RunCommand { dry_run: true }),
        [] => Err("retention needs a subcommand: run".into()),
        [run, other, ..] if run == "run" => Err(format!("unknown argument {other:?}")),
        [other, ..] => Err(format!("unknown retention subcommand {other:?}")),
    }
}

/// Runs one pass (migrating first when `database.migrate`) and answers its report. Must
/// run inside an actix `System`.
pub async fn run(settings: &Settings, command: RunCommand) -> Result<PassReport, ServeError> {
    let pass = settings
        .retention
        .pass_settings(command.dry_run)
        .map_err(|e| ServeError::Retention(e.to_string()))?;
    let db = open_database(settings)?;
    let store = results_actors::blobs::open_store(&settings.logs.blob_config())
        .await
        .map_err(|e| ServeError::Logs(e.to_string()))?;
    // No read replicas: retention reads and deletes on the primary.
    let actors = Actors::start(
        db,
        None,
        TokenSigner::random(),
        Arc::new(SystemClock),
        Arc::new(UuidGen),
        settings.actor_settings(),
    );
    let (report, outcome) = actors
        .retention_pass(&pass, Some(&store), Timestamp::now(), || async { Ok(true) })
        .await;
    outcome.map_err(|e| ServeError::Retention(e.to_string()))?;
    Ok(report)
}

/// The report as printed: one line of counts, then a sample of the Results' names.
pub fn render(report: &PassReport) -> String {
    let mut text = if report.dry_run {
        format!(
            "retention dry run: would delete {} results, {} records ({} log records); \
             {} results scanned in {:.3}s\n",
            report.results,
            report.records,
            report.log_records,
            report.scanned,
            report.duration.as_secs_f64()
        )
    } else {
        format!(
            "retention pass: deleted {} results, {} records ({} log records), {} log blobs in \
             {} batches; {} results scanned, {} left as they changed meanwhile, in {:.3}s\n",
            report.results,
            report.records,
            report.log_records,
            report.log_blobs,
            report.batches,
            report.scanned,
            report.changed,
            report.duration.as_secs_f64()
        )
    };
    for name in &report.sample {
        text.push_str("  ");
        text.push_str(name);
        text.push('\n');
    }
    if report.results > report.sample.len() as u64 {
        text.push_str(&format!(
            "  … and {} more\n",
            report.results - report.sample.len() as u64
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&args(&["run"])),
            Ok(RunCommand { dry_run: false })
        );
        assert_eq!(
            parse_args(&args(&["run", "--dry-run"])),
            Ok(RunCommand { dry_run: true })
        );
        for bad in [
            &[][..],
            &["go"],
            &["run", "--wet"],
            &["run", "--dry-run", "x"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
