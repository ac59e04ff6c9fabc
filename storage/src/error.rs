//! Storage errors and the transport-neutral code each maps to.

use std::fmt;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a front-end can map to gRPC and HTTP codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed (bad name, page size, token, filter …).
    InvalidArgument,
    /// The named object does not exist.
    NotFound,
    /// An object with that name exists already.
    AlreadyExists,
    /// The object changed since the caller read it (etag mismatch).
    FailedPrecondition,
    /// The operation is not implemented by this server.
    Unimplemented,
    /// The server is overloaded (a queue is full).
    ResourceExhausted,
    /// The operation did not finish in time.
    DeadlineExceeded,
    /// A dependency (the database) cannot be reached right now; retrying may help.
    Unavailable,
    /// A fault of the server itself.
    Internal,
    /// The caller did not say who it is, or its credentials are not valid.
    Unauthenticated,
    /// The caller may not do this.
    PermissionDenied,
    /// The request names a position that no longer exists (a watch resuming from a
    /// revision already pruned from the change log).
    OutOfRange,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A failed storage operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input was rejected before touching the database.
    #[error("{0}")]
    InvalidArgument(String),
    /// A page token that this server did not issue for this listing (counted apart from
    /// other bad input: many of them hint at a client bug or at tampering).
    #[error("page_token is invalid: {0}")]
    PageToken(String),
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The etag given does not match the stored one.
    #[error(
        "etag mismatch for {name}: the object was changed since it was read (stored etag {stored})"
    )]
    EtagMismatch {
        /// Full name of the object.
        name: String,
        /// The etag the object has now.
        stored: String,
    },
    /// The object is not in the state the request needs (and retrying will not change
    /// that): e.g. a Record of the Log type whose document is not a Log document.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A feature this server does not offer (yet).
    #[error("{0}")]
    Unimplemented(String),
    /// No connection could be taken from the pool.
    #[error("database unavailable: {0}")]
    Pool(String),
    /// The database failed a query.
    #[error("database error while {step}: {source}")]
    Database {
        /// What the store was doing.
        step: &'static str,
        /// The database's own error.
        #[source]
        source: diesel::result::Error,
    },
    /// A stored value could not be decoded (corrupt or foreign data).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Migrations could not be applied.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// The database URL or pool settings are unusable.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The blob store (log bytes) failed.
    #[error(transparent)]
    Blob(#[from] crate::blobs::BlobError),
}

impl Error {
    /// The transport-neutral code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument(_) | Error::PageToken(_) => ErrorCode::InvalidArgument,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::EtagMismatch { .. } | Error::FailedPrecondition(_) => {
                ErrorCode::FailedPrecondition
            }
            Error::Unimplemented(_) => ErrorCode::Unimplemented,
            Error::Pool(_) | Error::Connect(_) => ErrorCode::Unavailable,
            // Transient: a retry may succeed (the writer already retried a deadlock).
            Error::Database { .. } if self.is_connection_lost() || self.is_retryable() => {
                ErrorCode::Unavailable
            }
            // The storage the database writes to is full: an operator's problem, not a bug.
            Error::Database { .. } if self.is_out_of_space() => ErrorCode::ResourceExhausted,
            Error::Database { .. } => ErrorCode::Internal,
            Error::Corrupt(_) | Error::Migration(_) => ErrorCode::Internal,
            Error::Blob(err) => err.code(),
        }
    }

    /// Whether the database aborted the transaction over a race with another one
    /// (deadlock or serialization failure), so that running it again may succeed.
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as DieselError};
        match self {
            Error::Database {
                source: DieselError::DatabaseError(kind, info),
                ..
            } => {
                let message = info.message().to_ascii_lowercase();
                matches!(kind, DatabaseErrorKind::SerializationFailure)
                    || message.contains("deadlock")
                    || message.contains("lock wait timeout")
                    || message.contains("database is locked")
            }
            _ => false,
        }
    }

    /// Whether the database could not write because its storage is full (MariaDB: "The
    /// table … is full", error 1114; PostgreSQL: SQLSTATE 53100; SQLite: SQLITE_FULL).
    pub fn is_out_of_space(&self) -> bool {
        let Some(message) = self.database_message() else {
            return false;
        };
        let message = message.to_ascii_lowercase();
        (message.starts_with("the table") && message.ends_with("is full"))
            || message.contains("no space left on device")
            || message.contains("database or disk is full")
            || message.contains("disk full")
    }

    /// Whether the database refused a value while computing a query (PostgreSQL's data
    /// exceptions, SQLSTATE class 22: "value out of range: overflow", "integer out of
    /// range", "division by zero", "invalid regular expression"; MariaDB's 1690 "DOUBLE
    /// value is out of range" and 1139 "Regex error"). diesel exposes no SQLSTATE or error
    /// number, so the messages tell.
    pub fn is_data_exception(&self) -> bool {
        self.database_message().is_some_and(is_data_exception)
    }

    /// The database's own message, when the database refused a statement.
    fn database_message(&self) -> Option<&str> {
        match self {
            Error::Database {
                source: diesel::result::Error::DatabaseError(_, info),
                ..
            } => Some(info.message()),
            _ => None,
        }
    }

    /// Whether the connection to the database broke (server restarted, connection killed,
    /// network gone): a write in flight may or may not have been committed.
    pub fn is_connection_lost(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as DieselError};
        let Error::Database { source, .. } = self else {
            return false;
        };
        let message = match source {
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => return true,
            DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => return true,
            DieselError::BrokenTransactionManager => return true,
            DieselError::DatabaseError(_, info) => info.message().to_ascii_lowercase(),
            other => other.to_string().to_ascii_lowercase(),
        };
        [
            "terminating connection",
            "server closed the connection",
            "connection to server",
            "lost connection",
            "server has gone away",
            "connection was killed",
            "broken pipe",
            "connection reset",
        ]
        .iter()
        .any(|sign| message.contains(sign))
    }

    /// This error, from a query that ran a filter on stored `row`s (`Record`, `Result`):
    /// a data exception (see [`Error::is_data_exception`]) is the filter's, which a stored
    /// row made the database refuse to compute (`data.x * data.x` overflowing a double
    /// on PostgreSQL): INVALID_ARGUMENT with the database's reason, never INTERNAL
    /// (SPEC §3). Any other error is returned as it is.
    pub(crate) fn in_filter(self, row: &'static str) -> Error {
        match self.database_message() {
            Some(message) if is_data_exception(message) => Error::InvalidArgument(format!(
                "the filter could not be evaluated on a stored {row}: {message}"
            )),
            _ => self,
        }
    }

    /// Wraps a diesel error with the step that failed.
    pub(crate) fn db(step: &'static str) -> impl FnOnce(diesel::result::Error) -> Error {
        move |source| Error::Database { step, source }
    }
}

/// See [`Error::is_data_exception`].
fn is_data_exception(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "out of range",
        "division by zero",
        "invalid regular expression",
        "regex error",
        "invalid input syntax",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    fn database(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::Database {
            step: "testing",
            source: DieselError::DatabaseError(kind, Box::new(message.to_owned())),
        }
    }

    #[test]
    fn lost_connections_are_unavailable_not_internal() {
        for (kind, message) in [
            (DatabaseErrorKind::Unknown, "Server has gone away"),
            (
                DatabaseErrorKind::Unknown,
                "Lost connection to server during query",
            ),
            (
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            (
                DatabaseErrorKind::Unknown,
                "server closed the connection unexpectedly",
            ),
            (DatabaseErrorKind::ClosedConnection, "whatever"),
        ] {
            let error = database(kind, message);
            assert!(error.is_connection_lost(), "{message}");
            assert_eq!(error.code(), ErrorCode::Unavailable, "{message}");
        }
        let broken = Error::Database {
            step: "testing",
            source: DieselError::BrokenTransactionManager,
        };
        assert_eq!(broken.code(), ErrorCode::Unavailable);
        let deadlock = database(
            DatabaseErrorKind::Unknown,
            "Deadlock found when trying to get lock; try restarting transaction",
        );
        assert!(deadlock.is_retryable());
        assert_eq!(deadlock.code(), ErrorCode::Unavailable);
        for message in [
            "The table 'records' is full",
            "could not extend file \"base/16384/16385\": No space left on device",
            "database or disk is full",
        ] {
            let full = database(DatabaseErrorKind::Unknown, message);
            assert!(full.is_out_of_space(), "{message}");
            assert_eq!(full.code(), ErrorCode::ResourceExhausted, "{message}");
        }
        for message in [
            "value out of range: overflow",
            "value out of range: underflow",
            "integer out of range",
            "\"1e400\" is out of range for type double precision",
            "division by zero",
            "invalid regular expression: regular expression is too complex",
            "DOUBLE value is out of range in '(1e300 + 0e0) * (1e300 + 0e0)'",
            "Regex error 'regular expression is too large at offset 24'",
        ] {
            let error = database(DatabaseErrorKind::Unknown, message);
            assert!(error.is_data_exception(), "{message}");
            assert_eq!(
                error.code(),
                ErrorCode::Internal,
                "outside a filter: {message}"
            );
            let error = database(DatabaseErrorKind::Unknown, message).in_filter("Record");
            assert_eq!(error.code(), ErrorCode::InvalidArgument, "{message}");
            assert_eq!(
                error.to_string(),
                format!("the filter could not be evaluated on a stored Record: {message}")
            );
        }
        for message in ["deadlock detected", "server has gone away", "syntax error"] {
            let error = database(DatabaseErrorKind::Unknown, message).in_filter("Record");
            assert_ne!(error.code(), ErrorCode::InvalidArgument, "{message}");
        }
        let unique = database(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert!(!unique.is_out_of_space());
        assert!(!unique.is_connection_lost());
        assert_eq!(unique.code(), ErrorCode::Internal);
    }
}
