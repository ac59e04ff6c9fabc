//! [`Logs`]: a run's log bytes in the blob store, described by a Log Record (see
//! [`results_storage::model::log`]). Blob transfers are streamed by the caller's task
//! through the store, a chunk at a time; every Record read and write goes through the
//! actor pools like any other.
//!
//! A part's bytes become visible only when its upload finishes (the store replaces a blob
//! at once), and the Log Record is written only after that: an interrupted upload leaves
//! the earlier log, if any, exactly as it was.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use results_storage::blobs::{BlobKey, BlobStore};
use results_storage::model::log::{
    blob_prefix, is_log_type, log_record_name, run_of, LogDocument, LogName, LOG_TYPE, WHOLE_LOG,
};
use results_storage::model::{
    ListScope, NewRecord, Projection, RecordData, RecordName, RecordPatch, RecordScope, ResultName,
    StoredRecord,
};
use results_storage::store::{ListRequest, Page};

use crate::{Actors, Error, ErrorCode, Filter, FilterEnvironment, Result};

/// Limits and labels of log storage.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Largest chunk read from the store and answered at once.
    pub chunk_bytes: usize,
    /// Largest part (one upload) accepted.
    pub max_bytes: u64,
    /// `spec.type` of new Log Records: `File` or `S3`, as upstream names its stores.
    pub store_type: &'static str,
}

/// Log storage over the actors and a blob store.
#[derive(Clone)]
pub struct Logs {
    actors: Actors,
    store: Arc<dyn BlobStore>,
    settings: LogSettings,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs")
            .field("store", &self.store)
            .field("settings", &self.settings)
            .finish()
    }
}

/// A log being answered: its chunks, in order.
pub type LogStream = BoxStream<'static, Result<Bytes>>;

/// Most times a Log Record update is retried after losing a race with another upload.
const UPDATE_ATTEMPTS: usize = 8;

fn not_found(message: String) -> Error {
    Error::Storage(results_storage::Error::NotFound(message))
}

/// The name a run's log is stored under, `log_name`, is taken by a Record that is not a
/// Log.
fn taken(log_name: &RecordName) -> Error {
    Error::Storage(results_storage::Error::FailedPrecondition(format!(
        "the record {log_name} exists and is not a Log Record; the log is stored under that \
         name, so rename or delete that record first"
    )))
}

/// The blob key prefix of a Log Record's parts: `logs/<parent>/<result>/<record>`.
fn prefix(record: &RecordName) -> Result<BlobKey> {
    Ok(blob_prefix(record)?)
}

/// The blob key prefix of all logs of a Result: `logs/<parent>/<result>`.
pub(crate) fn result_prefix(result: &ResultName) -> Result<BlobKey> {
    Ok(BlobKey::new(&["logs", &result.parent, &result.result])
        .map_err(results_storage::Error::from)?)
}

fn part_key(record: &RecordName, part: &str) -> Result<BlobKey> {
    Ok(prefix(record)?
        .join(part)
        .map_err(results_storage::Error::from)?)
}

/// What a name's `<record>` turned out to be.
enum Target {
    /// A Log Record.
    Log(StoredRecord),
    /// A run's Record, with its Log Record if one exists.
    Run {
        run: StoredRecord,
        log: Option<StoredRecord>,
    },
}

impl Logs {
    /// Logs kept in `store`, described through `actors`.
    pub fn new(actors: Actors, store: Arc<dyn BlobStore>, settings: LogSettings) -> Logs {
        Logs {
            actors,
            store,
            settings,
        }
    }

    async fn record(&self, name: &RecordName) -> Result<Option<StoredRecord>> {
        match self
            .actors
            .get_record(name.clone(), Projection::Whole)
            .await
        {
            Ok(record) => Ok(Some(record)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The Log Records of a Result.
    async fn log_records(&self, result: &ResultName) -> Result<Vec<StoredRecord>> {
        let mut records = Vec::new();
        let mut request = ListRequest {
            scope: RecordScope {
                parent: ListScope::Exactly(result.parent.clone()),
                result: ListScope::Exactly(result.result.clone()),
            },
            filter: format!("data_type == '{LOG_TYPE}'"),
            page_size: 100,
            page_token: String::new(),
            order_by: "create_time".into(),
        };
        loop {
            let page: Page<StoredRecord> = self
                .actors
                .list_records(request.clone(), Projection::Whole)
                .await?;
            records.extend(page.items);
            if page.next_page_token.is_empty() {
                return Ok(records);
            }
            request.page_token = page.next_page_token;
        }
    }

    /// The Log Record of the run Record `run`: the one this server names after it, or one
    /// another client made whose `spec.resource.uid` is the run's.
    /// A Record of another type under the name this server would give the run's log is a
    /// client's own Record, not the log.
    async fn log_of_run(&self, run: &StoredRecord) -> Result<Option<StoredRecord>> {
        if let Some(own) = self.own_log(&run.name).await? {
            return Ok(Some(own));
        }
        let uid = run_of(&run.data.type_, &run.data.value).uid;
        let result = run.name.result_name();
        Ok(self.log_records(&result).await?.into_iter().find(|log| {
            LogDocument::parse(&log.data.value, &log.name).is_ok_and(|doc| {
                let of = &doc.spec.resource.uid;
                !of.is_empty() && (*of == uid || *of == run.name.record)
            })
        }))
    }

    /// The Record named after the run `run` ([`log_record_name`]) if it is a Log Record.
    async fn own_log(&self, run: &RecordName) -> Result<Option<StoredRecord>> {
        Ok(self
            .record(&log_record_name(run))
            .await?
            .filter(|record| is_log_type(&record.data.type_)))
    }

    async fn target(&self, name: &RecordName) -> Result<Target> {
        let Some(record) = self.record(name).await? else {
            return Err(not_found(format!("record {name}")));
        };
        if is_log_type(&record.data.type_) {
            return Ok(Target::Log(record));
        }
        let log = self.log_of_run(&record).await?;
        Ok(Target::Run { run: record, log })
    }

    /// Stores the log `name` from `chunks` (replacing an earlier upload of the same name)
    /// and answers the Log Record's name and the bytes received. Nothing changes unless
    /// every chunk arrives.
    pub async fn upload(
        &self,
        name: &LogName,
        chunks: impl Stream<Item = Result<Bytes>> + Send,
    ) -> Result<(RecordName, u64)> {
        let target = self.target(&name.record).await?;
        let log_name = match &target {
            Target::Log(log) | Target::Run { log: Some(log), .. } => log.name.clone(),
            Target::Run { run, log: None } => {
                let log_name = log_record_name(&run.name);
                // Checked before any byte is stored: the name is taken by a Record that is
                // not a Log (a client's own), which the log must not replace.
                if self.record(&log_name).await?.is_some() {
                    return Err(taken(&log_name));
                }
                log_name
            }
        };
        let part = name.part.as_deref().unwrap_or(WHOLE_LOG);
        let key = part_key(&log_name, part)?;
        let mut writer = self
            .store
            .create(&key)
            .await
            .map_err(results_storage::Error::from)?;
        let mut received = 0u64;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            // On any error the writer is dropped unfinished: nothing becomes visible.
            let chunk = chunk?;
            received += chunk.len() as u64;
            if received > self.settings.max_bytes {
                return Err(Error::Storage(results_storage::Error::InvalidArgument(
                    format!(
                        "log {name} is larger than logs.max_bytes ({} bytes)",
                        self.settings.max_bytes
                    ),
                )));
            }
            writer
                .write(chunk)
                .await
                .map_err(results_storage::Error::from)?;
        }
        let size = writer
            .finish()
            .await
            .map_err(results_storage::Error::from)?;
        self.describe(&log_name, target, part, size).await?;
        Ok((log_name, received))
    }

    /// Writes the Log Record after `part` was stored with `size` bytes, retrying when a
    /// concurrent upload of another part changed it first.
    async fn describe(
        &self,
        log_name: &RecordName,
        target: Target,
        part: &str,
        size: u64,
    ) -> Result<()> {
        let path = prefix(log_name)?.as_str().to_owned();
        let mut current = match target {
            Target::Log(log) | Target::Run { log: Some(log), .. } => Some(log),
            Target::Run { run, log: None } => {
                let resource = run_of(&run.data.type_, &run.data.value);
                let mut document = LogDocument::new(log_name, resource, self.settings.store_type);
                document.store_part(part, size, &path);
                let data = RecordData::new(LOG_TYPE.into(), document.to_json())?;
                let new = NewRecord {
                    name: log_name.clone(),
                    data,
                };
                match self.actors.create_record(new).await {
                    Ok(_) => return Ok(()),
                    // Another upload of this run made it first: update it below.
                    Err(e) if e.code() == ErrorCode::AlreadyExists => None,
                    Err(e) => return Err(e),
                }
            }
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let log = match current.take() {
                Some(log) => log,
                None => self
                    .record(log_name)
                    .await?
                    .ok_or_else(|| not_found(format!("record {log_name}")))?,
            };
            // A client made a Record of another type under this name meanwhile.
            if !is_log_type(&log.data.type_) {
                return Err(taken(log_name));
            }
            let mut document = LogDocument::parse(&log.data.value, &log.name)?;
            document.store_part(part, size, &path);
            let data = RecordData::new(String::new(), document.to_json())?;
            let patch = RecordPatch::new(log.name.clone(), log.etag(), data);
            match self.actors.update_record(patch).await {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == ErrorCode::FailedPrecondition => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Storage(results_storage::Error::Pool(format!(
            "the Log Record {log_name} kept changing under {UPDATE_ATTEMPTS} attempts to update it"
        ))))
    }

    /// The log `name` as a stream of chunks: one part, a whole log (its parts in order), or
    /// for a PipelineRun the logs of its TaskRuns in the order they started. NotFound when
    /// nothing is stored.
    pub async fn download(&self, name: &LogName) -> Result<LogStream> {
        let logs = match self.target(&name.record).await? {
            Target::Log(log) | Target::Run { log: Some(log), .. } => vec![(log, None)],
            Target::Run { run, log: None } if run.data.type_.ends_with(".PipelineRun") => {
                self.task_run_logs(&run).await?
            }
            Target::Run { .. } => Vec::new(),
        };
        let mut pieces = Vec::new();
        let several = logs.len() > 1;
        for (log, run_name) in logs {
            let document = LogDocument::parse(&log.data.value, &log.name)?;
            let parts: Vec<String> = match &name.part {
                Some(part) => document
                    .status
                    .parts
                    .iter()
                    .filter(|p| p.name == *part)
                    .map(|p| p.name.clone())
                    .collect(),
                None => document
                    .status
                    .parts
                    .iter()
                    .map(|p| p.name.clone())
                    .collect(),
            };
            let headers = several || run_name.is_some() || parts.len() > 1;
            for part in parts {
                if headers {
                    let title = match (&run_name, part.as_str()) {
                        (Some(run), WHOLE_LOG) => format!("--- {run} ---\n"),
                        (Some(run), part) => format!("--- {run} / {part} ---\n"),
                        (None, WHOLE_LOG) => format!("--- {} ---\n", log.name.record),
                        (None, part) => format!("--- {part} ---\n"),
                    };
                    pieces.push(Piece::Text(Bytes::from(title)));
                }
                pieces.push(Piece::Blob(part_key(&log.name, &part)?));
            }
        }
        if pieces.is_empty() {
            return Err(not_found(format!("log {name}")));
        }
        let store = self.store.clone();
        let chunk = self.settings.chunk_bytes;
        Ok(stream::iter(pieces)
            .then(move |piece| {
                let store = store.clone();
                async move { piece.open(store, chunk).await }
            })
            .flatten()
            .boxed())
    }

    /// The Log Records of the TaskRuns in a PipelineRun's Result, in the order the
    /// TaskRuns started, each with the TaskRun's name.
    async fn task_run_logs(
        &self,
        pipeline_run: &StoredRecord,
    ) -> Result<Vec<(StoredRecord, Option<String>)>> {
        let mut logs = Vec::new();
        for log in self.log_records(&pipeline_run.name.result_name()).await? {
            let Ok(document) = LogDocument::parse(&log.data.value, &log.name) else {
                continue;
            };
            if document.spec.resource.kind != "TaskRun" {
                continue;
            }
            // The TaskRun's Record is named after its uid (the watcher's naming).
            let run = RecordName {
                record: document.spec.resource.uid.clone(),
                ..pipeline_run.name.clone()
            };
            let started = match self.record(&run).await {
                Ok(Some(record)) => start_time(&record.data.value),
                _ => None,
            };
            logs.push((started, log, document.spec.resource.name));
        }
        logs.sort_by(|a, b| (&a.0, a.1.create_time).cmp(&(&b.0, b.1.create_time)));
        Ok(logs
            .into_iter()
            .map(|(_, log, run)| (log, Some(run)))
            .collect())
    }

    /// Deletes the log `name`: one part, or the whole log and its Log Record.
    pub async fn delete(&self, name: &LogName) -> Result<()> {
        let log = match self.target(&name.record).await? {
            Target::Log(log) | Target::Run { log: Some(log), .. } => log,
            Target::Run { .. } => return Err(not_found(format!("log {name}"))),
        };
        match &name.part {
            None => {
                self.actors.delete_record(log.name.clone()).await?;
                self.forget_blobs(&prefix(&log.name)?).await;
            }
            Some(part) => {
                let path = prefix(&log.name)?.as_str().to_owned();
                let mut document = LogDocument::parse(&log.data.value, &log.name)?;
                if !document.status.parts.iter().any(|p| p.name == *part) {
                    return Err(not_found(format!("log {name}")));
                }
                document.remove_part(part, &path);
                let data = RecordData::new(String::new(), document.to_json())?;
                self.actors
                    .update_record(RecordPatch::new(log.name.clone(), log.etag(), data))
                    .await?;
                self.forget_blobs(&part_key(&log.name, part)?).await;
            }
        }
        Ok(())
    }

    /// After the Record `record` was deleted: deletes its log's bytes, and for a run's
    /// Record also its Log Record.
    pub async fn forget_record(&self, record: &RecordName) -> Result<()> {
        let own_log = log_record_name(record);
        // Only a Log Record: a client's own Record of another type under that name stays.
        if self.own_log(record).await?.is_some() {
            match self.actors.delete_record(own_log.clone()).await {
                Ok(()) => {}
                Err(e) if e.code() == ErrorCode::NotFound => {}
                Err(e) => return Err(e),
            }
            self.forget_blobs(&prefix(&own_log)?).await;
        }
        self.forget_blobs(&prefix(record)?).await;
        Ok(())
    }

    /// After the Result `result` was deleted: deletes all its logs' bytes.
    pub async fn forget_result(&self, result: &ResultName) -> Result<()> {
        self.forget_blobs(&result_prefix(result)?).await;
        Ok(())
    }

    /// Deletes blobs under `prefix`; a failure leaves them orphaned and is logged (the
    /// Records are gone already, so the bytes can no longer be reached).
    async fn forget_blobs(&self, prefix: &BlobKey) {
        if let Err(error) = self.store.delete_prefix(prefix).await {
            tracing::warn!(%error, prefix = prefix.as_str(), "log bytes left behind");
        }
    }

    /// The Log Records under `request`'s scope that match its filter.
    pub async fn list(&self, mut request: ListRequest<RecordScope>) -> Result<Page<StoredRecord>> {
        // The client's filter must stand on its own, so that `&&` binds it whole: a text
        // like `true) || (true` would otherwise widen the listing beyond Log Records.
        Filter::compile(&request.filter, FilterEnvironment::Records)?;
        request.filter = if request.filter.trim().is_empty() {
            format!("data_type == '{LOG_TYPE}'")
        } else {
            format!("data_type == '{LOG_TYPE}' && ({})", request.filter)
        };
        self.actors.list_records(request, Projection::Whole).await
    }
}

/// A run's `status.startTime`, as text (RFC 3339 sorts in time order).
fn start_time(document: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(document).ok()?;
    value["status"]["startTime"].as_str().map(str::to_owned)
}

/// One piece of an answered log.
enum Piece {
    Text(Bytes),
    Blob(BlobKey),
}

impl Piece {
    async fn open(self, store: Arc<dyn BlobStore>, chunk: usize) -> LogStream {
        match self {
            Piece::Text(text) => stream::once(async move { Ok(text) }).boxed(),
            Piece::Blob(key) => match store.open(&key, chunk).await {
                Ok(Some((_, blob))) => blob
                    .map(|c| c.map_err(|e| Error::Storage(e.into())))
                    .boxed(),
                // Deleted since the Log Record was read: nothing to add.
                Ok(None) => stream::empty().boxed(),
                Err(e) => stream::once(async move { Err(Error::Storage(e.into())) }).boxed(),
            },
        }
    }
}
