//! What can stop an import (as opposed to one object being skipped, which is reported and
//! never stops it).

use crate::blobs::BlobError;

/// A failed import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// `--from` is not a PostgreSQL URL.
    #[error(
        "--from must be a PostgreSQL URL (postgres://user:password@host:port/database), got {0:?}"
    )]
    BadUrl(String),
    /// The upstream database cannot be reached.
    #[error("cannot connect to the upstream database {url}: {source}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// diesel's error.
        #[source]
        source: diesel::ConnectionError,
    },
    /// A query on the upstream database failed.
    #[error("reading the upstream database failed while {step}: {source}")]
    Upstream {
        /// What was being read.
        step: &'static str,
        /// diesel's error.
        #[source]
        source: diesel::result::Error,
    },
    /// Writing to our database failed.
    #[error("writing to the target database failed: {0}")]
    Storage(#[from] crate::Error),
    /// A log store (upstream's or ours) failed.
    #[error("log store: {0}")]
    Blob(#[from] BlobError),
}

impl ImportError {
    pub(crate) fn upstream(step: &'static str) -> impl FnOnce(diesel::result::Error) -> Self {
        move |source| ImportError::Upstream { step, source }
    }
}
