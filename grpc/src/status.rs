//! The one table from [`ErrorCode`] to gRPC codes, HTTP statuses and REST error bodies.

use results_actors::ErrorCode;

use crate::error::ApiError;

/// The gRPC code of an error code.
pub fn grpc_code(code: ErrorCode) -> tonic::Code {
    match code {
        ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
        ErrorCode::NotFound => tonic::Code::NotFound,
        ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
        ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
        ErrorCode::Unimplemented => tonic::Code::Unimplemented,
        ErrorCode::ResourceExhausted => tonic::Code::ResourceExhausted,
        ErrorCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
        ErrorCode::Unavailable => tonic::Code::Unavailable,
        ErrorCode::Internal => tonic::Code::Internal,
        ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorCode::PermissionDenied => tonic::Code::PermissionDenied,
        ErrorCode::OutOfRange => tonic::Code::OutOfRange,
    }
}

/// The HTTP status of a gRPC code, as the REST gateway answers it.
pub fn http_status(code: tonic::Code) -> u16 {
    use tonic::Code::*;
    match code {
        Ok => 200,
        InvalidArgument | FailedPrecondition => 400,
        // As Kubernetes answers a watch from a compacted resource version.
        OutOfRange => 410,
        Unauthenticated => 401,
        PermissionDenied => 403,
        NotFound => 404,
        AlreadyExists | Aborted => 409,
        ResourceExhausted => 429,
        // grpc-gateway's "client closed request".
        Cancelled => 499,
        Unimplemented => 501,
        Unavailable => 503,
        DeadlineExceeded => 504,
        _ => 500,
    }
}

/// Longest message answered to a client. Messages may quote what the client sent; every
/// request field has a limit, and this keeps any quote within a gRPC trailer anyway.
const MAX_MESSAGE_BYTES: usize = 1024;

/// The client-facing message: internal faults are logged in full but answered briefly.
pub fn message(error: &ApiError) -> String {
    match error.code() {
        ErrorCode::Internal => {
            tracing::error!(error = %error, "internal error");
            "internal error; see the server log".to_owned()
        }
        _ => truncate(error.to_string()),
    }
}

/// Cuts `message` to [`MAX_MESSAGE_BYTES`] at a character boundary, marking the cut.
fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        tonic::Status::new(grpc_code(error.code()), message(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short".into()), "short");
        let cut = truncate("é".repeat(MAX_MESSAGE_BYTES));
        assert!(
            cut.len() <= MAX_MESSAGE_BYTES && cut.ends_with('…'),
            "{cut}"
        );
        let exact = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(truncate(exact.clone()), exact);
    }

    #[test]
    fn http_statuses_follow_the_contract() {
        for (code, status) in [
            (tonic::Code::InvalidArgument, 400),
            (tonic::Code::FailedPrecondition, 400),
            // A watch resuming from a pruned revision: Gone, as Kubernetes answers.
            (tonic::Code::OutOfRange, 410),
            (tonic::Code::Unauthenticated, 401),
            (tonic::Code::PermissionDenied, 403),
            (tonic::Code::NotFound, 404),
            (tonic::Code::AlreadyExists, 409),
            (tonic::Code::Aborted, 409),
            (tonic::Code::ResourceExhausted, 429),
            (tonic::Code::Cancelled, 499),
            (tonic::Code::Unimplemented, 501),
            (tonic::Code::Unavailable, 503),
            (tonic::Code::DeadlineExceeded, 504),
            (tonic::Code::Internal, 500),
            (tonic::Code::Unknown, 500),
            (tonic::Code::DataLoss, 500),
        ] {
            assert_eq!(http_status(code), status, "{code:?}");
        }
    }
}
