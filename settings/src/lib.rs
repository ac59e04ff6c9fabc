//! The settings plumbing `results-api` and `results-watcher` share: settings layered from
//! a TOML file and environment variables, the `[log]` section and its subscriber, the
//! `--config FILE` command line, and the shutdown signal. Each binary keeps its own
//! `Settings` struct; this crate knows nothing of their keys.
//!
//! # Layout
//! - [`layered`]: the [`Layered`] trait: file, then `<PREFIX><SECTION>_<KEY>` overrides,
//!   then validation.
//! - [`log`]: [`LogSettings`] and the tracing subscriber.
//! - [`cli`]: [`CommandLine`], `[--config FILE] [COMMAND]` and the config file variable.
//! - [`shutdown`]: [`shutdown_signal`], SIGTERM or Ctrl-C.
//! - [`error`]: [`Error`], naming the key, variable, file or argument at fault.
//! - `testing` (feature `test-support`): helpers for the binaries' settings tests.

pub mod cli;
pub mod error;
pub mod layered;
pub mod log;
pub mod shutdown;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use cli::{CommandLine, Invocation};
pub use error::{invalid, Error, Result};
pub use layered::{positive, EnvOverrides, Layered};
pub use log::{LogFormat, LogSettings};
pub use shutdown::shutdown_signal;
