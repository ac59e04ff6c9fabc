//! What the actors measure, for the API's `/metrics`: how long requests wait for a pool
//! and for their answer, how each call ends, group-commit batch sizes, page tokens
//! refused, and (read at each scrape) queue depths, database connections and open watch
//! streams. The registry belongs to the front-end; [`ActorMetrics::register`] adds these
//! to it. Every label value is a fixed string: no client input reaches a label.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use results_storage::{Database, ErrorCode};
use tokio::sync::Semaphore;

use crate::watch::hub::Counts;

/// One label.
pub type Label = [(&'static str, &'static str); 1];
/// Two labels.
pub type Labels = [(&'static str, &'static str); 2];

/// Upper bounds (seconds) of the latency histograms: 0.5 ms to 30 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    30.0,
];

/// Upper bounds of the group-commit batch size histogram.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// A latency histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The `code` label of an error code (gRPC's names, as `grpc_code` labels spell them).
pub fn code_label(code: Option<ErrorCode>) -> &'static str {
    match code {
        None => "OK",
        Some(ErrorCode::InvalidArgument) => "InvalidArgument",
        Some(ErrorCode::NotFound) => "NotFound",
        Some(ErrorCode::AlreadyExists) => "AlreadyExists",
        Some(ErrorCode::FailedPrecondition) => "FailedPrecondition",
        Some(ErrorCode::Unimplemented) => "Unimplemented",
        Some(ErrorCode::ResourceExhausted) => "ResourceExhausted",
        Some(ErrorCode::DeadlineExceeded) => "DeadlineExceeded",
        Some(ErrorCode::Unavailable) => "Unavailable",
        Some(ErrorCode::Internal) => "Internal",
        Some(ErrorCode::Unauthenticated) => "Unauthenticated",
        Some(ErrorCode::PermissionDenied) => "PermissionDenied",
        Some(ErrorCode::OutOfRange) => "OutOfRange",
    }
}

/// The actors' metrics. Cloning shares them.
#[derive(Debug, Clone)]
pub struct ActorMetrics {
    pub(crate) admission_wait: Family<Label, Histogram, fn() -> Histogram>,
    pub(crate) call_duration: Family<Label, Histogram, fn() -> Histogram>,
    pub(crate) calls: Family<Labels, Counter>,
    pub(crate) batch_size: Histogram,
    pub(crate) page_token_rejections: Counter,
    pub(crate) reads: ReadCounters,
}

impl Default for ActorMetrics {
    fn default() -> Self {
        ActorMetrics {
            admission_wait: Family::new_with_constructor(latency_histogram),
            call_duration: Family::new_with_constructor(latency_histogram),
            calls: Family::default(),
            batch_size: Histogram::new(BATCH_BUCKETS),
            page_token_rejections: Counter::default(),
            reads: ReadCounters::default(),
        }
    }
}

impl ActorMetrics {
    /// Counts one call to `pool` that ended with `code`, having waited `admission` for a
    /// queue slot and `answer` for its answer.
    pub(crate) fn observe_call(
        &self,
        pool: &'static str,
        code: Option<ErrorCode>,
        admission: std::time::Duration,
        answer: std::time::Duration,
    ) {
        self.admission_wait
            .get_or_create(&[("pool", pool)])
            .observe(admission.as_secs_f64());
        self.call_duration
            .get_or_create(&[("pool", pool)])
            .observe(answer.as_secs_f64());
        self.calls
            .get_or_create(&[("pool", pool), ("code", code_label(code))])
            .inc();
    }
}

/// Reads that a replica could serve, by where they went.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadCounters(Family<Label, Counter>);

impl ReadCounters {
    /// Counts a read served by a replica (or by the primary).
    pub(crate) fn count(&self, by_replica: bool) {
        let target = if by_replica { "replica" } else { "primary" };
        self.0.get_or_create(&[("target", target)]).inc();
    }
}

/// A pool's queue, read at each scrape.
#[derive(Debug, Clone)]
pub(crate) struct QueueGauge {
    pub(crate) pool: &'static str,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) capacity: usize,
}

/// What is read at each scrape: queues, connections, watch streams.
#[derive(Debug)]
pub(crate) struct Gauges {
    pub(crate) queues: Vec<QueueGauge>,
    pub(crate) db: Database,
    pub(crate) watch: Arc<Counts>,
    pub(crate) feed_position: tokio::sync::watch::Receiver<i64>,
    pub(crate) replicas: Option<Arc<results_storage::replicas::ReadReplicas>>,
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(Label, i64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let depth: Vec<(Label, i64)> = self
            .queues
            .iter()
            .map(|q| {
                let queued = q.capacity.saturating_sub(q.slots.available_permits());
                ([("pool", q.pool)], queued as i64)
            })
            .collect();
        let capacity: Vec<(Label, i64)> = self
            .queues
            .iter()
            .map(|q| ([("pool", q.pool)], q.capacity as i64))
            .collect();
        gauge(
            &mut encoder,
            "results_api_actor_queue_depth",
            "Requests queued or running in an actor pool",
            &depth,
        )?;
        gauge(
            &mut encoder,
            "results_api_actor_queue_capacity",
            "Requests an actor pool admits at once (actors.*_queue)",
            &capacity,
        )?;

        let state = self.db.pool_state();
        gauge(
            &mut encoder,
            "results_api_db_connections",
            "Open database connections by state",
            &[
                (
                    [("state", "in_use")],
                    i64::from(state.connections - state.idle),
                ),
                ([("state", "idle")], i64::from(state.idle)),
            ],
        )?;

        let streams = self.watch.total.load(Ordering::Relaxed) as i64;
        ConstGauge::new(streams).encode(encoder.encode_descriptor(
            "results_api_watch_streams",
            "Open watch streams",
            None,
            MetricType::Gauge,
        )?)?;
        let dropped = self.watch.dropped.load(Ordering::Relaxed);
        ConstCounter::new(dropped).encode(encoder.encode_descriptor(
            "results_api_watch_streams_dropped",
            "Watch streams ended because their reader fell a whole buffer behind",
            None,
            MetricType::Counter,
        )?)?;
        if let Some(replicas) = &self.replicas {
            let states = replicas.states();
            let names: Vec<String> = (0..states.len()).map(|i| i.to_string()).collect();
            let mut up = encoder.encode_descriptor(
                "results_api_read_replica_up",
                "Whether a read replica (database.read_urls, by position) answered its last check",
                None,
                MetricType::Gauge,
            )?;
            for (name, state) in names.iter().zip(&states) {
                let labels = [("replica", name.as_str())];
                ConstGauge::new(i64::from(state.healthy)).encode(up.encode_family(&labels)?)?;
            }
            let mut lag = encoder.encode_descriptor(
                "results_api_read_replica_lag_seconds",
                "How far a read replica was behind the primary at its last check",
                None,
                MetricType::Gauge,
            )?;
            for (name, state) in names.iter().zip(&states) {
                let labels = [("replica", name.as_str())];
                ConstGauge::new(state.lag.as_secs_f64()).encode(lag.encode_family(&labels)?)?;
            }
        }
        let position = *self.feed_position.borrow();
        ConstGauge::new(position).encode(encoder.encode_descriptor(
            "results_api_watch_feed_revision",
            "The newest change-log revision handed to the watch streams",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}

/// Registers `metrics` and the scrape-time `gauges` in `registry`.
pub(crate) fn register(metrics: &ActorMetrics, gauges: Gauges, registry: &mut Registry) {
    registry.register_with_unit(
        "results_api_actor_admission_wait",
        "Time a request waited for a slot in an actor pool's queue",
        Unit::Seconds,
        metrics.admission_wait.clone(),
    );
    registry.register_with_unit(
        "results_api_actor_call_duration",
        "Time from a request's admission to its answer, per actor pool",
        Unit::Seconds,
        metrics.call_duration.clone(),
    );
    registry.register(
        "results_api_actor_calls",
        "Requests answered by an actor pool, by gRPC code",
        metrics.calls.clone(),
    );
    registry.register(
        "results_api_write_batch_size",
        "Writes committed together in one group-commit transaction",
        metrics.batch_size.clone(),
    );
    registry.register(
        "results_api_db_reads",
        "Reads a read replica could serve, by where they went (target: primary or replica)",
        metrics.reads.0.clone(),
    );
    registry.register(
        "results_api_page_token_rejections",
        "Listings refused because their page token was not one this server issued for them",
        metrics.page_token_rejections.clone(),
    );
    registry.register_collector(Box::new(gauges));
}

/// The webhook sinks' counters, read at each scrape.
#[derive(Debug)]
struct WebhookGauges(Vec<crate::WebhookSink>);

impl Collector for WebhookGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts: Vec<_> = self.0.iter().map(|s| (s.name(), s.counts())).collect();
        let mut events = encoder.encode_descriptor(
            "results_api_webhook_events",
            "Events of a webhook sink by outcome: delivered (2xx), given_up (after \
             max_attempts), lost (pruned from the change log before the sink read them)",
            None,
            MetricType::Counter,
        )?;
        for (sink, c) in &counts {
            for (outcome, n) in [
                ("delivered", c.delivered),
                ("given_up", c.given_up),
                ("lost", c.lost),
            ] {
                let labels = [("sink", *sink), ("outcome", outcome)];
                ConstCounter::new(n).encode(events.encode_family(&labels)?)?;
            }
        }
        let mut failed = encoder.encode_descriptor(
            "results_api_webhook_failed_attempts",
            "Delivery attempts of a webhook sink that failed (error, timeout, non-2xx)",
            None,
            MetricType::Counter,
        )?;
        for (sink, c) in &counts {
            ConstCounter::new(c.failed_attempts)
                .encode(failed.encode_family(&[("sink", *sink)])?)?;
        }
        let mut cursor = encoder.encode_descriptor(
            "results_api_webhook_cursor_revision",
            "Every change up to this change-log revision has been handled by the sink",
            None,
            MetricType::Gauge,
        )?;
        for (sink, c) in &counts {
            ConstGauge::new(c.cursor).encode(cursor.encode_family(&[("sink", *sink)])?)?;
        }
        let mut leader = encoder.encode_descriptor(
            "results_api_webhook_leader",
            "1 while this replica holds the sink's lease (delivers its events)",
            None,
            MetricType::Gauge,
        )?;
        for (sink, c) in &counts {
            ConstGauge::new(i64::from(c.leader))
                .encode(leader.encode_family(&[("sink", *sink)])?)?;
        }
        Ok(())
    }
}

/// Registers the counters of the webhook `sinks` (labelled by their configured names).
pub fn register_webhooks(sinks: Vec<crate::WebhookSink>, registry: &mut Registry) {
    if !sinks.is_empty() {
        registry.register_collector(Box::new(WebhookGauges(sinks)));
    }
}

/// Retention's counters, read at each scrape.
#[derive(Debug)]
struct RetentionGauges(Arc<crate::retention::RetentionStats>);

impl Collector for RetentionGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = self.0.counts();
        let mut passes = encoder.encode_descriptor(
            "results_api_retention_passes",
            "Retention passes this replica ran, by outcome: done, or failed (an error, or the \
             lease lost)",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in [("done", c.passes), ("failed", c.failed_passes)] {
            ConstCounter::new(n).encode(passes.encode_family(&[("outcome", outcome)])?)?;
        }
        let mut deleted = encoder.encode_descriptor(
            "results_api_retention_deleted",
            "Objects retention passes deleted: results, records (log records included), \
             log_blobs",
            None,
            MetricType::Counter,
        )?;
        for (object, n) in [
            ("results", c.results_deleted),
            ("records", c.records_deleted),
            ("log_blobs", c.log_blobs_deleted),
        ] {
            ConstCounter::new(n).encode(deleted.encode_family(&[("object", object)])?)?;
        }
        let last = encoder.encode_descriptor(
            "results_api_retention_last_pass_duration_seconds",
            "How long the last retention pass took",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(c.last_pass_duration.as_secs_f64()).encode(last)?;
        let leader = encoder.encode_descriptor(
            "results_api_retention_leader",
            "1 while this replica holds the retention lease (runs the passes)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(c.leader)).encode(leader)?;
        Ok(())
    }
}

/// Registers retention's counters (zero on a replica that runs no passes).
pub fn register_retention(stats: Arc<crate::retention::RetentionStats>, registry: &mut Registry) {
    registry.register_collector(Box::new(RetentionGauges(stats)));
}

/// The `records.run_*` backfill's progress, read at each scrape.
#[derive(Debug)]
struct BackfillGauges(Arc<crate::backfill::BackfillStats>);

impl Collector for BackfillGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let filled = encoder.encode_descriptor(
            "results_api_run_columns_backfilled",
            "Records whose run_* columns (what summaries aggregate) this replica's start-up \
             pass filled; Records written before those columns existed",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.0.filled()).encode(filled)?;
        let state = encoder.encode_descriptor(
            "results_api_run_columns_backfill_state",
            "The start-up pass that fills records.run_*: 0 running, 1 done (no Record left; \
             summaries aggregate every Record in SQL), 2 stopped on an error (logged; the \
             next start resumes)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.0.state() as i64).encode(state)?;
        Ok(())
    }
}

/// Registers the backfill's progress.
pub fn register_backfill(stats: Arc<crate::backfill::BackfillStats>, registry: &mut Registry) {
    registry.register_collector(Box::new(BackfillGauges(stats)));
}
