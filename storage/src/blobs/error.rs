//! What can go wrong with a blob store, and the transport-neutral code of each failure.

use std::error::Error as StdError;
use std::io;

use crate::ErrorCode;

/// A failed blob store operation.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key is not a valid [`BlobKey`](super::BlobKey).
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
    /// The store's configuration is unusable (checked when the store is opened).
    #[error("blob store setting `{setting}`: {message}")]
    Config {
        /// The setting at fault, as named in [`BlobConfig`](super::BlobConfig).
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The filesystem failed.
    #[error("blob store i/o error while {step} {path}: {source}")]
    Io {
        /// What the store was doing.
        step: &'static str,
        /// The file or blob key concerned.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The object store (S3) failed.
    #[error("object store error while {step} {key}: {source}")]
    ObjectStore {
        /// What the store was doing.
        step: &'static str,
        /// The blob key concerned.
        key: String,
        /// The object store client's error.
        #[source]
        source: object_store::Error,
    },
    /// The object store answered something this store does not expect.
    #[error("object store answered unexpectedly while {step} {key}: {message}")]
    Unexpected {
        /// What the store was doing.
        step: &'static str,
        /// The blob key concerned.
        key: String,
        /// What was wrong.
        message: String,
    },
}

impl BlobError {
    /// The transport-neutral code of this error: `InvalidArgument` for a bad key,
    /// `Unavailable` for a transient failure, `ResourceExhausted` for a full disk,
    /// `Internal` otherwise.
    pub fn code(&self) -> ErrorCode {
        match self {
            BlobError::InvalidKey(_) => ErrorCode::InvalidArgument,
            _ if self.is_unavailable() => ErrorCode::Unavailable,
            _ if self.is_out_of_space() => ErrorCode::ResourceExhausted,
            _ => ErrorCode::Internal,
        }
    }

    /// Whether the failure is transient (the network, a timeout, an S3 5xx or throttling
    /// answer), so that retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            BlobError::Io { source, .. } => is_transient_io(source),
            BlobError::ObjectStore { source, .. } => is_transient_object_store(source),
            _ => false,
        }
    }

    /// Whether the store could not write because its disk or quota is full.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            BlobError::Io { source, .. } => {
                source.kind() == io::ErrorKind::StorageFull
                    || source.kind() == io::ErrorKind::QuotaExceeded
            }
            _ => false,
        }
    }

    pub(crate) fn io(step: &'static str, path: impl std::fmt::Display, source: io::Error) -> Self {
        BlobError::Io {
            step,
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn object_store(
        step: &'static str,
        key: impl std::fmt::Display,
        source: object_store::Error,
    ) -> Self {
        BlobError::ObjectStore {
            step,
            key: key.to_string(),
            source,
        }
    }
}

fn is_transient_io(err: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        err.kind(),
        TimedOut
            | Interrupted
            | WouldBlock
            | ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | UnexpectedEof
    )
}

/// Walks the error's sources: a network failure (connect, send, timeout) or a 5xx, 408 or
/// 429 status is transient. object_store does not export the type carrying the status, so
/// the status is read from its message ("… status code: 503 …").
fn is_transient_object_store(err: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    if matches!(err, object_store::Error::JoinError { .. }) {
        return true;
    }
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(err) = source {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            if matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            ) {
                return true;
            }
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if is_transient_io(io) {
                return true;
            }
        }
        if transient_status_in(&err.to_string()) {
            return true;
        }
        source = err.source();
    }
    false
}

fn transient_status_in(message: &str) -> bool {
    let Some(at) = message.find("status code: ") else {
        return false;
    };
    let status = &message[at + "status code: ".len()..];
    status.starts_with('5') || status.starts_with("408") || status.starts_with("429")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_tell_transient_from_full_from_bugs() {
        let io = |kind| BlobError::io("writing", "a/b", io::Error::from(kind));
        assert_eq!(
            BlobError::InvalidKey("x".into()).code(),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            io(io::ErrorKind::StorageFull).code(),
            ErrorCode::ResourceExhausted
        );
        assert_eq!(
            BlobError::io("writing", "a", io::Error::from_raw_os_error(28)).code(),
            ErrorCode::ResourceExhausted,
            "ENOSPC"
        );
        assert_eq!(io(io::ErrorKind::TimedOut).code(), ErrorCode::Unavailable);
        assert_eq!(
            io(io::ErrorKind::PermissionDenied).code(),
            ErrorCode::Internal
        );
        let generic = |message: &str| {
            BlobError::object_store(
                "reading",
                "a",
                object_store::Error::Generic {
                    store: "S3",
                    source: message.to_string().into(),
                },
            )
        };
        assert!(
            generic("Server returned non-2xx status code: 503 Service Unavailable: slow down")
                .is_unavailable()
        );
        assert!(
            generic("Server returned non-2xx status code: 429 Too Many Requests").is_unavailable()
        );
        assert!(!generic("Server returned non-2xx status code: 400 Bad Request").is_unavailable());
        assert_eq!(generic("oops").code(), ErrorCode::Internal);
    }
}
