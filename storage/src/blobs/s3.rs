//! Blobs as objects in an S3-compatible bucket, through `object_store`. Small blobs go up in
//! one PUT; larger ones as a multipart upload of [`PART_SIZE`] parts, one part buffered at a
//! time, completed by `finish` (S3 makes an object visible only when its upload completes,
//! and replaces an earlier one whole). Reads are one GET streamed and re-chunked.

use std::sync::Arc;
use std::time::Duration;

use crate::http::{install_ring_provider, with_causes};
use bytes::{Bytes, BytesMut};
use futures::{stream, Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};

use super::{BlobConfig, BlobError, BlobKey, BlobStore, BlobStream, BlobWriter};

/// Size of the parts of a multipart upload, and the most an upload buffers. S3 wants at
/// least 5 MiB for every part but the last, and at most 10,000 parts: blobs up to ~50 GB.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// Objects in an S3-compatible bucket.
#[derive(Debug)]
pub struct S3Store {
    store: Arc<AmazonS3>,
    /// `""` or the configured prefix with a trailing `/`.
    prefix: String,
}

impl S3Store {
    /// Opens the bucket `config` names and checks that a probe object can be written and
    /// deleted there, so that a wrong bucket, endpoint or credential stops the server at start.
    pub async fn open(config: &BlobConfig) -> Result<S3Store, BlobError> {
        let store = S3Store::open_read_only(config)?;
        let BlobConfig::S3 {
            bucket, endpoint, ..
        } = config
        else {
            unreachable!("open_read_only accepts only S3 configurations");
        };
        store.probe().await.map_err(|e| BlobError::Config {
            setting: "bucket",
            message: format!(
                "cannot write to bucket {bucket:?} at {} (check bucket, endpoint, region, \
                 allow_http and the credentials): {}",
                if endpoint.is_empty() { "AWS" } else { endpoint },
                with_causes(&e)
            ),
        })?;
        Ok(store)
    }

    /// Opens the bucket `config` names without writing anything there: for reading another
    /// server's logs (an import), where a wrong setting shows at the first read.
    pub fn open_read_only(config: &BlobConfig) -> Result<S3Store, BlobError> {
        let BlobConfig::S3 {
            bucket,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            allow_http,
            prefix,
        } = config
        else {
            return Err(BlobError::Config {
                setting: "type",
                message: "not an S3 configuration".into(),
            });
        };
        install_ring_provider();
        if bucket.is_empty() {
            return Err(BlobError::Config {
                setting: "bucket",
                message: "the bucket name is empty".into(),
            });
        }
        if access_key_id.is_empty() != secret_access_key.is_empty() {
            return Err(BlobError::Config {
                setting: "access_key_id",
                message: "access_key_id and secret_access_key go together: set both or neither"
                    .into(),
            });
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            BlobKey::parse(prefix).map_err(|e| BlobError::Config {
                setting: "prefix",
                message: e.to_string(),
            })?;
            format!("{prefix}/")
        };

        // Credentials, region and the like not configured come from the environment
        // (AWS_ACCESS_KEY_ID, AWS_REGION, AWS_WEB_IDENTITY_TOKEN_FILE …), then the instance.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            // Before `with_allow_http`, which is one of these options.
            .with_client_options(client_options())
            .with_allow_http(*allow_http)
            .with_retry(retry_config());
        if !endpoint.is_empty() {
            builder = builder.with_endpoint(endpoint);
        }
        if !region.is_empty() {
            builder = builder.with_region(region);
        }
        if !access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(access_key_id)
                .with_secret_access_key(secret_access_key);
        }
        let store = builder.build().map_err(|e| BlobError::Config {
            setting: if endpoint.is_empty() {
                "bucket"
            } else {
                "endpoint"
            },
            message: e.to_string(),
        })?;
        Ok(S3Store {
            store: Arc::new(store),
            prefix,
        })
    }

    /// Writes and deletes a small object next to where blobs go.
    async fn probe(&self) -> Result<(), object_store::Error> {
        let path = Path::from(format!("{}.probe-{}", self.prefix, uuid::Uuid::new_v4()));
        self.store
            .put(&path, PutPayload::from_static(b"probe"))
            .await?;
        self.store.delete(&path).await
    }

    fn path(&self, key: &BlobKey) -> Path {
        Path::from(format!("{}{}", self.prefix, key.as_str()))
    }
}

/// Fewer and shorter retries than object_store's default (10 over up to 3 minutes): a store
/// that is down is reported as unavailable within seconds, and the caller (the watcher)
/// retries the whole upload later.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    }
}

/// No deadline on a whole request (object_store's default is 30 s): a log is read as fast
/// as its reader takes it, and a 1 GiB log read by a slow client takes minutes. A stalled
/// connection is still caught, by the time allowed between two reads.
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(Duration::from_secs(5))
        .with_read_timeout(Duration::from_secs(30))
}

#[async_trait::async_trait]
impl BlobStore for S3Store {
    async fn create(&self, key: &BlobKey) -> Result<Box<dyn BlobWriter>, BlobError> {
        // Nothing is sent until a part is full or the blob is finished.
        Ok(Box::new(S3Writer {
            store: Arc::clone(&self.store),
            path: self.path(key),
            key: key.clone(),
            buffer: BytesMut::new(),
            upload: None,
            size: 0,
            failed: false,
        }))
    }

    async fn open(
        &self,
        key: &BlobKey,
        chunk: usize,
    ) -> Result<Option<(u64, BlobStream)>, BlobError> {
        let result = match self.store.get(&self.path(key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(BlobError::object_store("reading", key, e)),
        };
        let size = result.meta.size;
        let key = key.clone();
        // One GET: S3 serves the object as it was when the request started, and
        // object_store resumes a broken body only from the same ETag.
        let body = result
            .into_stream()
            .map_err(move |e| BlobError::object_store("reading", &key, e));
        Ok(Some((size, Box::pin(rechunk(body, chunk.max(1))))))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::object_store("deleting", key, e)),
        }
    }

    async fn delete_prefix(&self, prefix: &BlobKey) -> Result<u64, BlobError> {
        let path = self.path(prefix);
        let mut deleted = 0;
        // The blob at the prefix itself, then those under it (listing `a/b` lists `a/b/…`).
        match self.store.head(&path).await {
            Ok(_) => {
                self.delete(prefix).await?;
                deleted += 1;
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(BlobError::object_store("deleting", prefix, e)),
        }
        let locations = self
            .store
            .list(Some(&path))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut results = self.store.delete_stream(locations);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => deleted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(BlobError::object_store("deleting", prefix, e)),
            }
        }
        Ok(deleted)
    }
}

/// A blob being uploaded: at most one part buffered.
struct S3Writer {
    store: Arc<AmazonS3>,
    path: Path,
    key: BlobKey,
    buffer: BytesMut,
    /// Started when the first part is full; None for a small blob and once finished.
    upload: Option<Box<dyn MultipartUpload>>,
    size: u64,
    /// A part failed: this blob can no longer be completed.
    failed: bool,
}

impl S3Writer {
    async fn send_part(&mut self) -> Result<(), BlobError> {
        let part = self.buffer.split().freeze();
        let upload = match &mut self.upload {
            Some(upload) => upload,
            None => {
                let upload =
                    self.store.put_multipart(&self.path).await.map_err(|e| {
                        BlobError::object_store("starting the upload of", &self.key, e)
                    })?;
                self.upload.insert(upload)
            }
        };
        upload
            .put_part(PutPayload::from(part))
            .await
            .map_err(|e| BlobError::object_store("uploading a part of", &self.key, e))
    }
}

#[async_trait::async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, mut chunk: Bytes) -> Result<(), BlobError> {
        if self.failed {
            return Err(failed(&self.key));
        }
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve(PART_SIZE);
            }
            let take = chunk.len().min(PART_SIZE - self.buffer.len());
            self.buffer.extend_from_slice(&chunk.split_to(take));
            self.size += take as u64;
            if self.buffer.len() == PART_SIZE {
                if let Err(e) = self.send_part().await {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, BlobError> {
        // On any error (or if this future is dropped) the upload stays in `self.upload`,
        // and `drop` aborts it.
        if self.failed {
            return Err(failed(&self.key));
        }
        let last = self.buffer.split().freeze();
        let Some(upload) = self.upload.as_mut() else {
            self.store
                .put(&self.path, PutPayload::from(last))
                .await
                .map_err(|e| BlobError::object_store("uploading", &self.key, e))?;
            return Ok(self.size);
        };
        let completed = async {
            if !last.is_empty() {
                upload.put_part(PutPayload::from(last)).await?;
            }
            upload.complete().await
        }
        .await;
        if let Err(e) = completed {
            return Err(BlobError::object_store(
                "completing the upload of",
                &self.key,
                e,
            ));
        }
        self.upload = None;
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), BlobError> {
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        // On failure `drop` tries once more in the background.
        upload
            .abort()
            .await
            .map_err(|e| BlobError::object_store("aborting the upload of", &self.key, e))?;
        self.upload = None;
        Ok(())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        let Some(mut upload) = self.upload.take() else {
            return;
        };
        // Without a runtime the parts stay until the bucket's lifecycle rule removes them.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(key = %self.key, "interrupted upload left unaborted: no runtime");
            return;
        };
        let key = self.key.clone();
        runtime.spawn(async move {
            if let Err(e) = upload.abort().await {
                tracing::warn!(key = %key, error = %e, "cannot abort an interrupted upload");
            }
        });
    }
}

fn failed(key: &BlobKey) -> BlobError {
    BlobError::Unexpected {
        step: "writing",
        key: key.to_string(),
        message: "an earlier part failed; the upload must be aborted".into(),
    }
}

/// `body` in chunks of exactly `chunk` bytes but the last: small network frames are joined,
/// large ones split (what is held is at most a chunk and a frame).
fn rechunk(
    body: impl Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + 'static,
    chunk: usize,
) -> impl Stream<Item = Result<Bytes, BlobError>> + Send {
    stream::try_unfold(
        (body, BytesMut::new(), false),
        move |(mut body, mut pending, mut ended)| async move {
            loop {
                if pending.len() >= chunk {
                    let out = pending.split_to(chunk).freeze();
                    return Ok(Some((out, (body, pending, ended))));
                }
                if ended {
                    if pending.is_empty() {
                        return Ok(None);
                    }
                    let out = pending.split().freeze();
                    return Ok(Some((out, (body, pending, ended))));
                }
                match body.next().await {
                    None => ended = true,
                    Some(Err(e)) => return Err(e),
                    Some(Ok(bytes)) if pending.is_empty() && bytes.len() == chunk => {
                        return Ok(Some((bytes, (body, pending, ended))));
                    }
                    Some(Ok(bytes)) => pending.extend_from_slice(&bytes),
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rechunk_joins_small_frames_and_splits_large_ones() {
        let frames: Vec<Result<Bytes, BlobError>> = vec![
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"c")),
            Ok(Bytes::from_static(b"defghij")),
            Ok(Bytes::new()),
            Ok(Bytes::from_static(b"k")),
        ];
        let chunks: Vec<Bytes> = rechunk(stream::iter(frames), 3)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            chunks,
            [&b"abc"[..], b"def", b"ghi", b"jk"].map(Bytes::from_static)
        );
    }
}
