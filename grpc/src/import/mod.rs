//! `results-api import`: the command line of an import from an upstream Tekton Results
//! PostgreSQL database (the work itself is `results_actors::import`).
//!
//! - `args`: the command's own arguments.
//! - `progress`: a progress bar on a terminal, plain lines otherwise.
//! - `command`: opening both databases and the log stores, running, the summary and the
//!   exit code.

mod args;
mod command;
mod progress;

pub use args::{ImportArgs, ImportArgsError, LogSource, S3_KEY_VARS, USAGE};
pub use command::{import, main, ImportFailure};
pub use progress::ConsoleProgress;
