//! Step logs of finished TaskRuns: each step container's log, read from `pods/log` as a
//! stream and uploaded chunk by chunk into `Logs.UpdateLog` under
//! `<parent>/results/<result>/logs/<taskrun-record>/<container>`, before the run's
//! finalizer is released. Memory per upload is one chunk, whatever the log's size.

mod chunks;
mod codec;
mod name;
mod upload;

pub use chunks::{chunks, truncation_line, Chunks, Progress, CHUNK_BYTES};
pub use codec::{SummaryDecoder, Upload, UploadCodec, UploadEncoder};
pub use name::log_name;
pub use upload::{LogUploader, RunLogs, UNSUPPORTED_RECHECK};
