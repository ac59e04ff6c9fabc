//! Blob storage: the bytes of logs, kept outside the database behind one [`BlobStore`] trait,
//! on the local filesystem ([`fs`]) or S3-compatible object storage ([`s3`]). Uploads and
//! downloads are streamed; memory per transfer is bounded by one chunk or part.
//!
//! A key is never both a blob and the prefix of another blob's key (`a` and `a/b`): the
//! filesystem store cannot hold both, so callers keep blobs at the leaves.

mod config;
mod error;
pub mod fs;
mod key;
mod open;
pub mod s3;
mod store;

pub use config::BlobConfig;
pub use error::BlobError;
pub use key::{BlobKey, MAX_KEY_BYTES, MAX_SEGMENT_BYTES};
pub use open::open_store;
pub use store::{BlobStore, BlobStream, BlobWriter};
