//! The [`BlobStore`] and [`BlobWriter`] traits every blob store implements.

use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;

use super::{BlobError, BlobKey};

/// A blob's bytes, in chunks.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// Where blobs live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Starts writing the blob at `key`; nothing (and no earlier blob at `key`) changes
    /// until `finish`; an earlier blob stays readable meanwhile.
    async fn create(&self, key: &BlobKey) -> Result<Box<dyn BlobWriter>, BlobError>;

    /// The blob at `key` in chunks of at most `chunk` bytes (at least 1), with its size;
    /// None if absent. A reader sees one whole blob: the one at `key` when it was opened,
    /// even if it is replaced or deleted while being read.
    async fn open(
        &self,
        key: &BlobKey,
        chunk: usize,
    ) -> Result<Option<(u64, BlobStream)>, BlobError>;

    /// Deletes the blob at `key`; absent is fine.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Deletes every blob whose key starts with `prefix`, segment-wise (see
    /// [`BlobKey::covers`]: `a/b` deletes `a/b` and `a/b/c`, not `a/bc`), e.g. all logs of a
    /// Result; returns how many.
    async fn delete_prefix(&self, prefix: &BlobKey) -> Result<u64, BlobError>;
}

/// A blob being written; see [`BlobStore::create`].
///
/// A writer dropped without [`finish`](BlobWriter::finish) or [`abort`](BlobWriter::abort)
/// (a client that went away mid-upload) leaves nothing visible and cleans up after itself.
#[async_trait::async_trait]
pub trait BlobWriter: Send {
    /// Appends `chunk` to the blob.
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError>;

    /// Makes the whole blob visible at its key at once, replacing an earlier one; returns
    /// its size.
    async fn finish(self: Box<Self>) -> Result<u64, BlobError>;

    /// Discards what was written.
    async fn abort(self: Box<Self>) -> Result<(), BlobError>;
}
