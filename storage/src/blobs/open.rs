//! Opening the configured blob store, checked before the server starts serving.

use std::sync::Arc;

use super::fs::FsStore;
use super::s3::S3Store;
use super::{BlobConfig, BlobError, BlobStore};

/// Opens the store `config` names and checks that it can write there (filesystem: creates
/// the directory and writes a probe file; S3: writes and deletes a probe object), so that a
/// bad configuration stops the server at start with a message naming the setting.
pub async fn open_store(config: &BlobConfig) -> Result<Arc<dyn BlobStore>, BlobError> {
    Ok(match config {
        BlobConfig::Filesystem { dir } => Arc::new(FsStore::open(dir).await?),
        BlobConfig::S3 { .. } => Arc::new(S3Store::open(config).await?),
    })
}
