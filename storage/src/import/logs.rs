//! The bytes of upstream's logs: a Log Record (`results.tekton.dev/v1alpha3.Log`) names its
//! blob by `status.path`, relative to upstream's `LOGS_PATH` (a directory, or a key prefix
//! in an S3 bucket); when the path is empty upstream derives it from the Log's metadata as
//! `<namespace>/<uid>/<name>`. Imported, the bytes become the Log Record's one part
//! ([`WHOLE_LOG`]) in our store, and the document says so, as our own uploads do.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{json, Value};

use super::error::ImportError;
use crate::blobs::{BlobKey, BlobStore};
use crate::model::log::{blob_prefix, WHOLE_LOG};
use crate::model::{RecordData, StoredRecord};

/// Where upstream's log bytes are read from and where ours go.
#[derive(Clone)]
pub struct LogCopy {
    /// Upstream's store (its `LOGS_PATH` directory, or bucket and prefix), read only.
    pub source: Arc<dyn BlobStore>,
    /// Our store.
    pub target: Arc<dyn BlobStore>,
    /// `spec.type` of the imported Log Records: `File` or `S3`, as our store is.
    pub target_type: &'static str,
    /// Largest log copied (`logs.max_bytes`).
    pub max_bytes: u64,
    /// Chunk size of the copy (`logs.chunk_bytes`).
    pub chunk_bytes: usize,
    /// The runtime the stores' I/O runs on: a multi-thread one (the import blocks on it
    /// through this handle, which cannot drive a current-thread runtime's network I/O).
    pub runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for LogCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCopy")
            .field("source", &self.source)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// What became of a Log Record's bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Copied {
    /// Nothing stored upstream (`status.isStored` false): nothing to copy.
    NothingStored,
    /// Copied: this many bytes; the record's document now points at our copy.
    Bytes(u64),
    /// Not copied, for this reason; the record is imported as upstream has it.
    Refused(String),
}

/// Where upstream keeps the log a Log document describes, if it says one is stored.
fn source_path(doc: &Value) -> Option<Result<String, String>> {
    if doc["status"]["isStored"] != Value::Bool(true) {
        return None;
    }
    let path = doc["status"]["path"].as_str().unwrap_or_default();
    if !path.is_empty() {
        return Some(Ok(path.trim_start_matches('/').to_owned()));
    }
    let meta = &doc["metadata"];
    let parts = ["namespace", "uid", "name"].map(|k| meta[k].as_str().unwrap_or_default());
    if parts.iter().any(|p| p.is_empty()) {
        return Some(Err(
            "status.path is empty and metadata lacks namespace, uid or name".into(),
        ));
    }
    Some(Ok(parts.join("/")))
}

impl LogCopy {
    /// Copies the bytes of the Log Record `record` from upstream's store into ours and
    /// rewrites its document to describe our copy.
    pub(crate) fn copy(&self, record: &mut StoredRecord) -> Result<Copied, ImportError> {
        let Ok(mut doc) = serde_json::from_slice::<Value>(&record.data.value) else {
            return Ok(Copied::Refused("the Log document is not JSON".into()));
        };
        let path = match source_path(&doc) {
            None => return Ok(Copied::NothingStored),
            Some(Err(reason)) => return Ok(Copied::Refused(reason)),
            Some(Ok(path)) => path,
        };
        let source_key = match BlobKey::parse(&path) {
            Ok(key) => key,
            Err(e) => return Ok(Copied::Refused(format!("log path {path:?}: {e}"))),
        };
        let prefix = blob_prefix(&record.name)?;
        let target_key = prefix.join(WHOLE_LOG)?;
        let size = match self
            .runtime
            .block_on(self.transfer(&source_key, &target_key))?
        {
            Ok(size) => size,
            Err(reason) => return Ok(Copied::Refused(reason)),
        };
        doc["status"]["path"] = json!(prefix.as_str());
        doc["status"]["size"] = json!(size);
        doc["status"]["isStored"] = json!(true);
        doc["status"]["parts"] = json!([{ "name": WHOLE_LOG, "size": size }]);
        doc["spec"]["type"] = json!(self.target_type);
        let value = serde_json::to_vec(&doc).expect("a JSON value serializes");
        match RecordData::new(record.data.type_.clone(), value) {
            Ok(data) => record.data = data,
            Err(e) => return Ok(Copied::Refused(e.to_string())),
        }
        Ok(Copied::Bytes(size))
    }

    /// Streams one blob across; the inner error is a reason not to copy (missing, too
    /// large, unreadable at the source), the outer one a failure of our store.
    async fn transfer(
        &self,
        from: &BlobKey,
        to: &BlobKey,
    ) -> Result<Result<u64, String>, ImportError> {
        let opened = match self.source.open(from, self.chunk_bytes).await {
            Ok(Some(opened)) => opened,
            Ok(None) => return Ok(Err(format!("no log at {from} in the upstream log store"))),
            Err(e) => return Ok(Err(format!("reading the upstream log {from}: {e}"))),
        };
        let (size, mut chunks) = opened;
        if size > self.max_bytes {
            return Ok(Err(format!(
                "the log is {size} bytes; logs.max_bytes is {}",
                self.max_bytes
            )));
        }
        let mut writer = self.target.create(to).await?;
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) => writer.write(chunk).await?,
                Err(e) => {
                    writer.abort().await?;
                    return Ok(Err(format!("reading the upstream log {from}: {e}")));
                }
            }
        }
        Ok(Ok(writer.finish().await?))
    }
}
