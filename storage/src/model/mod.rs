//! The domain model: what a Result and a Record are, independent of wire and rows.

pub(crate) mod change;
mod document;
pub mod log;
mod name;
mod projection;
mod record;
mod result;
mod time;

pub use change::{Change, ChangeKind, ChangeLogHead, ChangedObject, NewChange};
pub use name::{ListScope, RecordName, RecordScope, ResultName};
pub(crate) use projection::{assemble, follow};
pub use projection::{DataPath, Projection, MAX_PROJECTION_PATHS, MAX_PROJECTION_STEPS};
pub use record::{NewRecord, RecordData, RecordPatch, StoredRecord, MAX_TYPE_LEN};
pub use result::{NewResult, RecordSummary, ResultReplacement, Status, StoredResult};
pub use time::Timestamp;

/// `"<uid>-<update_time in Unix nanoseconds>"`: recomputable by a client from any read.
pub fn etag(uid: &str, update_time: Timestamp) -> String {
    format!("{uid}-{}", update_time.as_nanos())
}
