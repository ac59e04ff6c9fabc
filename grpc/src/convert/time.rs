//! Timestamps between `google.protobuf.Timestamp` and the stored nanoseconds.

use results_actors::model::Timestamp;

use crate::error::ApiError;

/// To the wire.
pub fn timestamp_to_pb(t: Timestamp) -> prost_types::Timestamp {
    let (seconds, nanos) = t.to_parts();
    prost_types::Timestamp { seconds, nanos }
}

/// From the wire; `field` names the field in the error.
pub fn timestamp_from_pb(t: &prost_types::Timestamp, field: &str) -> Result<Timestamp, ApiError> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(ApiError::InvalidArgument(format!(
            "{field}.nanos must be in 0..1e9"
        )));
    }
    Timestamp::from_parts(t.seconds, t.nanos).ok_or_else(|| {
        ApiError::InvalidArgument(format!("{field} is outside the years 1678 to 2262"))
    })
}
