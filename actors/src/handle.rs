//! [`Actors`]: the front-ends' only way to storage. It starts the pools, bounds how many
//! requests may wait for each (memory stays bounded under any load), and applies timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message, SyncArbiter};
use prometheus_client::registry::Registry;
use results_storage::model::{
    ListScope, NewRecord, NewResult, Projection, RecordName, RecordPatch, RecordScope, ResultName,
    ResultReplacement, StoredRecord, StoredResult,
};
use results_storage::page::TokenSigner;
use results_storage::replicas::ReadReplicas;
use results_storage::store::{ListRequest, Page};
use results_storage::summary::SummaryRow;
use results_storage::{Backend, Database, Error as StorageError};
use tokio::sync::Semaphore;

use crate::batch::{BatchLimits, WriteBatcher};
use crate::messages::*;
use crate::metrics::{ActorMetrics, Gauges, QueueGauge};
use crate::query::{QueryExecutor, Read};
use crate::retention::RetentionStats;
use crate::watch::feed::{ChangeFeed, ChangeHead, EndWatches, ReadChanges, Subscribe};
use crate::watch::hub::Counts;
use crate::watch::webhook::{
    EventData, ReadWebhookCursor, SaveWebhookCursor, WebhookConfig, WebhookSink,
};
use crate::watch::{ChangeSignal, Subscription, WatchRequest, WatchSettings};
use crate::write::Write;
use crate::writer::StorageWriter;
use crate::{Clock, Error, IdGen, Result};

/// Sizes and limits of the pools (from the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActorSettings {
    /// Storage-writer threads (always 1 on SQLite, which has one writer).
    pub writers: usize,
    /// Query threads.
    pub readers: usize,
    /// Requests that may be queued or running in the writer pool at once.
    pub writer_queue: usize,
    /// Requests that may be queued or running in the query pool at once.
    pub reader_queue: usize,
    /// How long a request may wait for a queue slot, and then for its answer.
    pub timeout: Duration,
    /// Most Create/Update requests committed in one transaction (group commit).
    pub batch_max: usize,
    /// How long a batch may stay open for more requests once a writer is free.
    pub batch_wait: Duration,
    /// Watch streams and the change log.
    pub watch: WatchSettings,
}

impl Default for ActorSettings {
    fn default() -> Self {
        ActorSettings {
            writers: 4,
            readers: 4,
            writer_queue: 1024,
            reader_queue: 1024,
            timeout: Duration::from_secs(30),
            batch_max: 64,
            batch_wait: Duration::ZERO,
            watch: WatchSettings::default(),
        }
    }
}

impl ActorSettings {
    /// Database connections the pools need at most.
    pub fn connections(&self, backend: Backend) -> u32 {
        (self.effective_writers(backend) + self.readers) as u32
    }

    fn effective_writers(&self, backend: Backend) -> usize {
        if backend == Backend::Sqlite {
            1
        } else {
            self.writers.max(1)
        }
    }
}

struct Pool<A: Actor> {
    name: &'static str,
    /// The `pool` label of its metrics.
    label: &'static str,
    addr: Addr<A>,
    slots: Arc<Semaphore>,
    capacity: usize,
}

impl<A: Actor> Pool<A> {
    /// Waits up to `timeout` for a queue slot; the slot is held until the answer arrives.
    async fn admit(&self, timeout: Duration) -> Result<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Error::Overloaded {
                pool: self.name,
                queued: self.capacity,
            })?
            .map_err(|_| Error::Stopped { pool: self.name })
    }
}

fn queue_of<A: Actor>(pool: &Pool<A>) -> QueueGauge {
    QueueGauge {
        pool: pool.label,
        slots: pool.slots.clone(),
        capacity: pool.capacity,
    }
}

impl<A: Actor> Clone for Pool<A> {
    fn clone(&self) -> Self {
        Pool {
            name: self.name,
            label: self.label,
            addr: self.addr.clone(),
            slots: self.slots.clone(),
            capacity: self.capacity,
        }
    }
}

/// Cloneable handle to the actor pools; every method is one message.
#[derive(Clone)]
pub struct Actors {
    writer: Pool<StorageWriter>,
    batcher: Addr<WriteBatcher>,
    query: Pool<QueryExecutor>,
    feed: Addr<ChangeFeed>,
    /// How far the change feed has read the log (webhook sinks wait on it).
    feed_position: tokio::sync::watch::Receiver<i64>,
    watch: WatchSettings,
    timeout: Duration,
    metrics: ActorMetrics,
    /// What the scrape-time gauges read.
    db: Database,
    watch_counts: Arc<Counts>,
    replicas: Option<Arc<ReadReplicas>>,
    /// Reads through this handle may be served by a replica that has replayed this far.
    read_after: u64,
    /// Retention's counters (zero unless this replica runs retention passes).
    retention: Arc<RetentionStats>,
}

impl std::fmt::Debug for Actors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actors")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Actors {
    /// Starts the writer and query pools, reading from `replicas` where they may. Must run
    /// inside an actix `System`.
    pub fn start(
        db: Database,
        replicas: Option<Arc<ReadReplicas>>,
        signer: TokenSigner,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        settings: ActorSettings,
    ) -> Actors {
        let writers = settings.effective_writers(db.backend());
        let metrics = ActorMetrics::default();
        let gauge_db = db.clone();
        let writer_db = db.clone();
        let changed = ChangeSignal::default();
        let signal = changed.clone();
        let writer_replicas = replicas.clone();
        let writer = SyncArbiter::start(writers, move || StorageWriter {
            db: writer_db.clone(),
            clock: clock.clone(),
            ids: ids.clone(),
            changed: signal.clone(),
            replicas: writer_replicas.clone(),
        });
        let (query_replicas, served) = (replicas.clone(), metrics.reads.clone());
        let query = SyncArbiter::start(settings.readers.max(1), move || QueryExecutor {
            db: db.clone(),
            signer: signer.clone(),
            replicas: query_replicas.clone(),
            current: None,
            served: served.clone(),
        });
        let pool = |name, capacity: usize| {
            (
                name,
                Arc::new(Semaphore::new(capacity.max(1))),
                capacity.max(1),
            )
        };
        let (name, slots, capacity) = pool("storage writer", settings.writer_queue);
        let writer = Pool {
            name,
            label: "writer",
            addr: writer,
            slots,
            capacity,
        };
        let (name, slots, capacity) = pool("query pool", settings.reader_queue);
        let query = Pool {
            name,
            label: "query",
            addr: query,
            slots,
            capacity,
        };
        let limits = BatchLimits {
            max: settings.batch_max.max(1),
            wait: settings.batch_wait,
            in_flight: writers,
        };
        let batcher =
            WriteBatcher::new(writer.addr.clone(), limits, metrics.batch_size.clone()).start();
        let (published, feed_position) = tokio::sync::watch::channel(0);
        let watch_counts = Arc::new(Counts::default());
        let feed = ChangeFeed::new(
            query.addr.clone(),
            writer.addr.clone(),
            changed,
            settings.watch,
            published,
            watch_counts.clone(),
        )
        .start();
        Actors {
            writer,
            batcher,
            query,
            feed,
            feed_position,
            watch: settings.watch,
            timeout: settings.timeout,
            metrics,
            db: gauge_db,
            watch_counts,
            replicas,
            read_after: 0,
            retention: Arc::default(),
        }
    }

    /// The primary's WAL position after the newest write this process committed (0
    /// without read replicas): pass it to [`Actors::reading_after`] for a caller who wrote.
    pub fn written(&self) -> u64 {
        self.replicas.as_ref().map_or(0, |r| r.written())
    }

    /// A handle whose reads go to a replica only if it has replayed `after` (else to the
    /// primary): a caller who wrote at `after` reads what it wrote.
    pub fn reading_after(&self, after: u64) -> Actors {
        let mut actors = self.clone();
        actors.read_after = after;
        actors
    }

    /// Sends a read that a replica may serve.
    async fn read<M, T>(&self, msg: M) -> Result<T>
    where
        M: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
        QueryExecutor: Handler<M> + Handler<Read<M>>,
    {
        if self.replicas.is_none() {
            return self.call(&self.query, msg).await;
        }
        let read = Read {
            after: self.read_after,
            msg,
        };
        self.call(&self.query, read).await
    }

    /// Adds the actors' metrics to `registry` (see [`crate::metrics`]).
    pub fn register_metrics(&self, registry: &mut Registry) {
        let gauges = Gauges {
            queues: vec![queue_of(&self.writer), queue_of(&self.query)],
            db: self.db.clone(),
            watch: self.watch_counts.clone(),
            feed_position: self.feed_position.clone(),
            replicas: self.replicas.clone(),
        };
        crate::metrics::register(&self.metrics, gauges, registry);
    }

    /// Submits a write for group commit (admitted like any other write) and waits for its
    /// own answer.
    async fn write<W: Write>(&self, write: W) -> Result<W::Stored> {
        self.send(&self.writer, &self.batcher, write).await
    }

    async fn call<A, M, T>(&self, pool: &Pool<A>, msg: M) -> Result<T>
    where
        A: Actor + Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.send(pool, &pool.addr, msg).await
    }

    /// Sends `msg` to `to` once `pool` admits it, holding the pool's slot until the answer.
    async fn send<P, A, M, T>(&self, pool: &Pool<P>, to: &Addr<A>, msg: M) -> Result<T>
    where
        P: Actor,
        A: Actor + Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let asked = Instant::now();
        let slot = pool.admit(self.timeout).await;
        let admitted = Instant::now();
        let answer = match slot {
            Ok(slot) => {
                let answer = to.send(msg).timeout(self.timeout).await;
                drop(slot);
                match answer {
                    Ok(result) => result,
                    Err(MailboxError::Timeout) => Err(Error::Timeout {
                        pool: pool.name,
                        timeout: self.timeout,
                    }),
                    Err(MailboxError::Closed) => Err(Error::Stopped { pool: pool.name }),
                }
            }
            Err(refused) => Err(refused),
        };
        if let Err(Error::Storage(StorageError::PageToken(_))) = &answer {
            self.metrics.page_token_rejections.inc();
        }
        self.metrics.observe_call(
            pool.label,
            answer.as_ref().err().map(Error::code),
            admitted - asked,
            admitted.elapsed(),
        );
        answer
    }

    /// Sends `msg` to the query pool (admitted like any read).
    pub(crate) async fn call_query<M, T>(&self, msg: M) -> Result<T>
    where
        QueryExecutor: Handler<M>,
        M: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.call(&self.query, msg).await
    }

    /// Sends `msg` to the writer pool (admitted like any write).
    pub(crate) async fn call_writer<M, T>(&self, msg: M) -> Result<T>
    where
        StorageWriter: Handler<M>,
        M: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.call(&self.writer, msg).await
    }

    /// Retention's counters: what this replica's retention passes deleted, for export.
    pub fn retention_stats(&self) -> &Arc<RetentionStats> {
        &self.retention
    }

    /// CreateResult.
    pub async fn create_result(&self, new: NewResult) -> Result<StoredResult> {
        self.write(CreateResult(new)).await
    }

    /// UpdateResult.
    pub async fn update_result(&self, replacement: ResultReplacement) -> Result<StoredResult> {
        self.write(UpdateResult(replacement)).await
    }

    /// DeleteResult.
    pub async fn delete_result(&self, name: ResultName) -> Result<()> {
        self.call(&self.writer, DeleteResult(name)).await
    }

    /// GetResult.
    pub async fn get_result(&self, name: ResultName) -> Result<StoredResult> {
        self.read(GetResult(name)).await
    }

    /// ListResults.
    pub async fn list_results(
        &self,
        request: ListRequest<ListScope>,
    ) -> Result<Page<StoredResult>> {
        self.read(ListResults(request)).await
    }

    /// Whether the database answers, through the query pool (a readiness check: a pool
    /// whose threads are all stuck on an unreachable database does not answer either).
    pub async fn ping(&self) -> Result<()> {
        self.call(&self.query, Ping).await
    }

    /// The namespaces holding Results, in order: `limit + 1` at most, so that a caller
    /// can tell there are more than `limit`.
    pub async fn list_parents(&self, limit: usize) -> Result<Vec<String>> {
        self.read(ListParents(limit.saturating_add(1))).await
    }

    /// CreateRecord.
    pub async fn create_record(&self, new: NewRecord) -> Result<StoredRecord> {
        self.write(CreateRecord(new)).await
    }

    /// UpdateRecord.
    pub async fn update_record(&self, patch: RecordPatch) -> Result<StoredRecord> {
        self.write(UpdateRecord(patch)).await
    }

    /// DeleteRecord.
    pub async fn delete_record(&self, name: RecordName) -> Result<()> {
        self.call(&self.writer, DeleteRecord(name)).await
    }

    /// GetRecord, reading of its document what `projection` asks.
    pub async fn get_record(
        &self,
        name: RecordName,
        projection: Projection,
    ) -> Result<StoredRecord> {
        self.read(GetRecord { name, projection }).await
    }

    /// ListRecords, reading of each document what `projection` asks.
    pub async fn list_records(
        &self,
        request: ListRequest<RecordScope>,
        projection: Projection,
    ) -> Result<Page<StoredRecord>> {
        self.read(ListRecords {
            request,
            projection,
        })
        .await
    }

    /// GetRecordListSummary.
    pub async fn summarize_records(&self, request: SummarizeRecords) -> Result<Vec<SummaryRow>> {
        self.read(request).await
    }

    /// Opens a watch stream (see [`crate::watch`]). A `resume_from` must lie within the
    /// change log: newer than what was pruned (else OUT_OF_RANGE) and not beyond its head.
    pub async fn watch(&self, request: WatchRequest) -> Result<Subscription> {
        if let Some(from) = request.resume_from {
            let head = self.call(&self.query, ChangeHead).await?;
            if from < 0 || from > head.revision {
                return Err(Error::Watch {
                    code: results_storage::ErrorCode::InvalidArgument,
                    message: format!(
                        "resume_from {from} is not a revision of this server: the newest is {}",
                        head.revision
                    ),
                });
            }
            if from < head.pruned_through {
                return Err(gone(from, head.pruned_through));
            }
        }
        let request = Arc::new(request);
        let (start, live, ending) = match self
            .feed
            .send(Subscribe(request.clone()))
            .timeout(self.timeout)
            .await
        {
            Ok(answer) => answer?,
            Err(MailboxError::Timeout) => {
                return Err(Error::Timeout {
                    pool: "watch feed",
                    timeout: self.timeout,
                })
            }
            Err(MailboxError::Closed) => return Err(Error::Stopped { pool: "watch feed" }),
        };
        Ok(Subscription::new(
            self.clone(),
            request,
            start,
            live,
            ending,
            self.watch.page,
        ))
    }

    /// Ends every open watch stream with UNAVAILABLE (naming where each may resume) and
    /// refuses new ones: the server is shutting down, and its clients should go on with
    /// another replica instead of waiting for the shutdown's grace period to end.
    pub fn end_watches(&self) {
        self.feed.do_send(EndWatches);
    }

    /// Where the change log stands: its newest revision and how far it is pruned.
    pub async fn change_log_head(&self) -> Result<results_storage::model::ChangeLogHead> {
        self.call(&self.query, ChangeHead).await
    }

    /// Starts a webhook sink (see [`crate::watch::webhook`]), `data` giving each event's
    /// object JSON. Once this answers, every matching change committed from now on (and
    /// since the sink's saved cursor, if it has one) will be delivered — by whichever
    /// replica holds the sink's lease; `holder` is this replica's identity. Must run inside
    /// an actix `System`.
    pub async fn start_webhook(
        &self,
        config: WebhookConfig,
        data: EventData,
        holder: String,
    ) -> Result<WebhookSink> {
        WebhookSink::start(
            self.clone(),
            self.feed_position.clone(),
            config,
            data,
            holder,
        )
        .await
    }

    /// The saved cursor of webhook sink `name`.
    pub(crate) async fn webhook_cursor(&self, name: String) -> Result<Option<i64>> {
        self.call(&self.query, ReadWebhookCursor(name)).await
    }

    /// Saves the cursor of webhook sink `name`.
    pub(crate) async fn save_webhook_cursor(&self, name: String, revision: i64) -> Result<()> {
        self.call(&self.writer, SaveWebhookCursor { name, revision })
            .await
    }

    /// The logged changes with `after < revision <= through`, oldest first, at most
    /// `limit`; OUT_OF_RANGE when some of them have been pruned.
    pub async fn read_changes(
        &self,
        after: i64,
        through: i64,
        limit: usize,
    ) -> Result<Vec<results_storage::model::Change>> {
        let (changes, head) = self
            .call(
                &self.query,
                ReadChanges {
                    after,
                    through,
                    limit,
                },
            )
            .await?;
        if head.pruned_through > after {
            return Err(gone(after, head.pruned_through));
        }
        Ok(changes)
    }
}

/// The answer to resuming from a pruned revision.
fn gone(from: i64, pruned_through: i64) -> Error {
    Error::Watch {
        code: results_storage::ErrorCode::OutOfRange,
        message: format!(
            "revision {from} is too old: the change log keeps the changes after revision \
             {pruned_through}; list again and watch from the listing"
        ),
    }
}
