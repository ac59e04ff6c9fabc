//! Errors of actor calls: the storage's own, or the pool being overloaded or gone.

use std::time::Duration;

use results_storage::ErrorCode;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed actor call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage layer failed or rejected the request.
    #[error(transparent)]
    Storage(#[from] results_storage::Error),
    /// The pool's queue stayed full for the whole timeout.
    #[error("the {pool} is overloaded: {queued} requests are already queued")]
    Overloaded {
        /// Which pool.
        pool: &'static str,
        /// Its queue capacity.
        queued: usize,
    },
    /// The request did not finish in time (it may still complete).
    #[error("the {pool} did not answer within {timeout:?}")]
    Timeout {
        /// Which pool.
        pool: &'static str,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The transaction of a whole batch failed; nothing of it was stored.
    #[error("{message}")]
    Batch {
        /// The code of the failure.
        code: ErrorCode,
        /// What failed.
        message: String,
    },
    /// A watch stream could not start, or the server ended it (the message says why and
    /// how to go on).
    #[error("{message}")]
    Watch {
        /// The code of the failure.
        code: ErrorCode,
        /// Why.
        message: String,
    },
    /// A webhook sink could not start.
    #[error("webhook sink {sink}: {message}")]
    Webhook {
        /// The sink's name.
        sink: String,
        /// Why.
        message: String,
    },
    /// A retention pass stopped (e.g. its lease was lost).
    #[error("{0}")]
    Retention(String),
    /// A handler panicked (a bug); the pool thread survives and the caller is told.
    #[error("internal error while handling {0}")]
    Panicked(&'static str),
    /// The caller is unknown or may not do this.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// The pool has stopped (the server is shutting down).
    #[error("the {pool} has stopped")]
    Stopped {
        /// Which pool.
        pool: &'static str,
    },
}

impl Error {
    /// As a storage error, to pass through the storage layer's transactions.
    pub(crate) fn into_storage(self) -> results_storage::Error {
        match self {
            Error::Storage(e) => e,
            other => results_storage::Error::Pool(other.to_string()),
        }
    }

    /// The transport-neutral code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Storage(e) => e.code(),
            Error::Overloaded { .. } => ErrorCode::ResourceExhausted,
            Error::Timeout { .. } => ErrorCode::DeadlineExceeded,
            Error::Stopped { .. } => ErrorCode::Unavailable,
            Error::Panicked(_) => ErrorCode::Internal,
            Error::Retention(_) => ErrorCode::Unavailable,
            Error::Webhook { .. } => ErrorCode::InvalidArgument,
            Error::Batch { code, .. } | Error::Watch { code, .. } => *code,
            Error::Auth(crate::auth::AuthError::Unauthenticated(_)) => ErrorCode::Unauthenticated,
            Error::Auth(crate::auth::AuthError::PermissionDenied { .. }) => {
                ErrorCode::PermissionDenied
            }
            Error::Auth(crate::auth::AuthError::Unavailable(_)) => ErrorCode::Unavailable,
        }
    }
}

/// Runs a handler body, turning a panic into [`Error::Panicked`]: a bug in one request must
/// not take a pool thread (and every later request) down with it. A connection in use
/// during the panic is discarded by the pool, which checks `std::thread::panicking()`.
pub(crate) fn guard<T>(what: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!(request = what, "handler panicked");
        Err(Error::Panicked(what))
    })
}
