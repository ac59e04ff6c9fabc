//! Import from an upstream Tekton Results PostgreSQL database: its Results and Records
//! (and, given where upstream keeps them, the bytes of its logs) into ours, on any backend,
//! keeping names, uids, times, annotations, summaries and documents. Resumable: objects
//! already here under their uid are left alone. Imported objects do not enter the change
//! log: they are history, not news for watch streams and webhook sinks.
//!
//! - `upstream`: reading upstream's tables in key order, a bounded page at a time.
//! - `convert`: upstream rows into our model, or a reason to skip them.
//! - `write`: insert-if-absent batches into our database.
//! - `logs`: copying log bytes from upstream's store into ours.
//! - `run`: the loop, its [`Progress`] callbacks and the final [`Report`].
//! - `error`: what stops an import.

mod convert;
mod error;
mod logs;
mod report;
mod run;
mod upstream;
mod write;

pub use error::ImportError;
pub use logs::LogCopy;
pub use report::{Kind, Note, Progress, Report, Tally};
pub use run::{run, ImportOptions, DEFAULT_BATCH, MAX_BATCH};
pub use upstream::Upstream;
