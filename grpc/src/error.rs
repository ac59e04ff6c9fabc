//! Errors of the front-ends: a rejected request or a failed actor call.

use results_actors::{ErrorCode, StorageError};

/// Why a request failed; [`crate::status`] maps it to gRPC and HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The server cannot take the request now (its budget for requests in flight is
    /// spent) or ever (the request is larger than its limits).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The RPC is not offered by this server.
    #[error("{0}")]
    Unimplemented(String),
    /// The actors (or storage below them) failed.
    #[error(transparent)]
    Call(#[from] results_actors::Error),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Call(e.into())
    }
}

impl ApiError {
    /// The transport-neutral code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            ApiError::ResourceExhausted(_) => ErrorCode::ResourceExhausted,
            ApiError::Unimplemented(_) => ErrorCode::Unimplemented,
            ApiError::Call(e) => e.code(),
        }
    }
}

impl From<results_actors::auth::AuthError> for ApiError {
    fn from(e: results_actors::auth::AuthError) -> Self {
        ApiError::Call(e.into())
    }
}
