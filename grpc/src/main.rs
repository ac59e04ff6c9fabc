//! `results-api`: the Tekton Results API server.
//!
//! Usage: `results-api [--config FILE] [serve|migrate]`. Settings come from the file
//! (or `$RESULTS_CONFIG`) and `RESULTS_<SECTION>_<KEY>` environment variables.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use results_grpc::layered::shutdown_signal;
use results_grpc::server::{open_database, serve, Listeners};
use results_grpc::settings::{Layered as _, Settings, CONFIG_ENV};

const USAGE: &str = "usage: results-api [--config FILE] [serve|migrate]";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut config = std::env::var(CONFIG_ENV).ok();
    let mut command = String::from("serve");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config = Some(args.next().context(USAGE)?),
            "serve" | "migrate" => command = arg,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let settings = Settings::load(config.as_deref(), &env)?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&settings.log.filter))
        .init();

    if command == "migrate" {
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
    let listeners = Listeners::bind(&settings)?;
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
    .block_on(async move {
        let db = open_database(&settings)?;
        serve(settings, db, listeners, shutdown_signal()).await
    })
}
