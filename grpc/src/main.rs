//! `results-api`: the Tekton Results API server.
//!
//! Usage: `results-api [--config FILE] [serve|migrate|retention run [--dry-run]|import …]`.
//! Settings come from the file (or `$RESULTS_CONFIG`) and `RESULTS_<SECTION>_<KEY>`
//! environment variables.

use std::collections::BTreeMap;

use anyhow::anyhow;
use results_grpc::server::{open_database, serve, Listeners};
use results_grpc::settings::{Layered as _, Settings};
use results_settings::{shutdown_signal, CommandLine, Invocation};

const USAGE: &str = "usage: results-api [--config FILE] \
                     [serve|migrate|retention run [--dry-run]|import --from postgres://…]";

fn main() -> anyhow::Result<()> {
    let command_line = match CommandLine::parse(
        std::env::args().skip(1),
        &["serve", "migrate", "retention", "import"],
    )
    .map_err(|e| anyhow!("{e}\n{USAGE}"))?
    {
        Invocation::Help => {
            println!("{USAGE}");
            return Ok(());
        }
        Invocation::Run(command_line) => command_line,
    };
    if matches!(
        command_line.command.as_deref(),
        None | Some("serve" | "migrate")
    ) {
        command_line
            .no_args()
            .map_err(|e| anyhow!("{e}\n{USAGE}"))?;
    }
    let retention = match command_line.command.as_deref() {
        Some("retention") => match results_grpc::retention::parse_args(&command_line.args) {
            Ok(command) => Some(command),
            Err(e) => {
                eprintln!("{e}\n{}", results_grpc::retention::USAGE);
                std::process::exit(2);
            }
        },
        _ => None,
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let settings = Settings::from_command_line(&command_line, &env)?;
    settings.log.init();

    if command_line.command.as_deref() == Some("import") {
        std::process::exit(results_grpc::import::main(&command_line, &settings, &env));
    }
    if command_line.command.as_deref() == Some("migrate") {
        let mut settings = settings;
        settings.database.migrate = false;
        let db = open_database(&settings)?;
        let applied = db.migrate()?;
        println!(
            "migrations applied: {}",
            if applied.is_empty() {
                "none pending".into()
            } else {
                applied.join(", ")
            }
        );
        return Ok(());
    }
    if let Some(command) = retention {
        // A one-shot command: it ends without tearing the actor system down (the actors it
        // started but never needed, the change feed among them, would start as they are
        // dropped, outside the runtime).
        let runner = runtime();
        let outcome = runner.block_on(results_grpc::retention::run(&settings, command));
        let code = match outcome {
            Ok(report) => {
                print!("{}", results_grpc::retention::render(&report));
                0
            }
            Err(e) => {
                eprintln!("results-api retention: {e}");
                1
            }
        };
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    let listeners = Listeners::bind(&settings)?;
    runtime().block_on(async move {
        let db = open_database(&settings)?;
        serve(settings, db, listeners, shutdown_signal()).await
    })?;
    Ok(())
}

/// The actix system on a multi-threaded tokio runtime.
fn runtime() -> actix_rt::SystemRunner {
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}
