//! Wire ↔ domain conversion. Requests are validated here (failures are InvalidArgument);
//! the domain model never sees protobuf types.

pub mod fields;
mod records;
mod results;
mod summary;
mod time;

pub use records::{create_record, list_records, record_to_pb, update_record};
pub use results::{create_result, list_results, result_to_pb, update_result};
pub use summary::{summarize_records, summary_to_pb};
pub use time::{timestamp_from_pb, timestamp_to_pb};
