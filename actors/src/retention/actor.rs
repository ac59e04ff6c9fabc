//! The retention actor: every `interval` it makes sure this replica holds the `retention`
//! lease (taking it only once the holder's lapsed), and if so runs a pass, renewing the
//! lease before each batch. One line is logged per pass with its counts and duration;
//! counters go to [`RetentionStats`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture,
};
use results_storage::blobs::BlobStore;
use results_storage::model::Timestamp;
use tracing::{info, warn};

use super::pass::{PassReport, PassSettings};
use super::stats::RetentionStats;
use crate::messages::{AcquireLease, ReleaseLease};
use crate::{Actors, Clock, Result};

/// The lease retention passes run under.
pub const LEASE: &str = "retention";

/// The scheduled retention job (the `[retention]` settings, checked).
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// How a pass runs.
    pub pass: PassSettings,
    /// Time between passes (and lease renewals).
    pub interval: Duration,
    /// How long the lease lasts unless renewed: longer than `interval`, so the holder keeps
    /// it from one pass to the next; another replica takes over this long after the
    /// holder stopped renewing it.
    pub lease_ttl: Duration,
    /// This replica's identity as lease holder (unique per process).
    pub holder: String,
}

/// A running retention job; stop it with [`RetentionHandle::stop`] (the actix system's
/// end stops it too).
#[derive(Clone)]
pub struct RetentionHandle {
    addr: actix::Addr<Retention>,
    stats: Arc<RetentionStats>,
}

impl std::fmt::Debug for RetentionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionHandle").finish_non_exhaustive()
    }
}

impl RetentionHandle {
    /// Its counters.
    pub fn stats(&self) -> &Arc<RetentionStats> {
        &self.stats
    }

    /// Stops scheduling passes (a pass under way stops before its next batch) and gives
    /// the lease up, so another replica takes over at its next tick.
    pub async fn stop(&self) {
        let _ = self.addr.send(Stop).await;
    }
}

/// Stop the job.
#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

struct Retention {
    actors: Actors,
    blobs: Option<Arc<dyn BlobStore>>,
    clock: Arc<dyn Clock>,
    config: RetentionConfig,
    stats: Arc<RetentionStats>,
    /// A pass is under way.
    running: Arc<AtomicBool>,
    /// No more passes or batches.
    stopped: Arc<AtomicBool>,
}

/// How long a stop waits for the batch under way to finish.
const STOP_WAIT: Duration = Duration::from_secs(30);

impl Actor for Retention {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        info!(
            interval = ?self.config.interval,
            batch_size = self.config.pass.batch_size,
            dry_run = self.config.pass.dry_run,
            rules = self.config.pass.policy.rules.len(),
            "retention scheduled"
        );
        self.tick(ctx);
        ctx.run_interval(self.config.interval, |this, ctx| this.tick(ctx));
    }
}

impl Handler<Stop> for Retention {
    type Result = actix::ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        self.stopped.store(true, Ordering::Relaxed);
        let actors = self.actors.clone();
        let holder = self.config.holder.clone();
        let stats = self.stats.clone();
        let running = self.running.clone();
        Box::pin(
            async move {
                // A pass stops before its next batch: let the one under way finish (its
                // log blobs included) rather than cancel it halfway.
                let deadline = tokio::time::Instant::now() + STOP_WAIT;
                while running.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = actors
                    .call_writer(ReleaseLease {
                        name: LEASE.into(),
                        holder,
                    })
                    .await;
                stats.set_leader(false);
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}

impl Retention {
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.running.load(Ordering::Relaxed) || self.stopped.load(Ordering::Relaxed) {
            return;
        }
        self.running.store(true, Ordering::Relaxed);
        let running = self.running.clone();
        let actors = self.actors.clone();
        let blobs = self.blobs.clone();
        let config = self.config.clone();
        let stats = self.stats.clone();
        let now = self.clock.now();
        let stopped = self.stopped.clone();
        let job = async move {
            let lease = |actors: Actors, config: RetentionConfig| async move {
                actors
                    .call_writer(AcquireLease {
                        name: LEASE.into(),
                        holder: config.holder.clone(),
                        ttl: config.lease_ttl,
                    })
                    .await
            };
            let _running = Running(running);
            match lease(actors.clone(), config.clone()).await {
                Ok(true) => stats.set_leader(true),
                Ok(false) => {
                    stats.set_leader(false);
                    return;
                }
                Err(error) => {
                    warn!(%error, "could not take the retention lease; no pass this time");
                    return;
                }
            }
            let (report, outcome) = actors
                .retention_pass(&config.pass, blobs.as_ref(), now, || {
                    let (actors, config, stopped, stats) = (
                        actors.clone(),
                        config.clone(),
                        stopped.clone(),
                        stats.clone(),
                    );
                    async move {
                        if stopped.load(Ordering::Relaxed) {
                            return Ok(false);
                        }
                        let held = lease(actors, config).await?;
                        stats.set_leader(held);
                        Ok(held)
                    }
                })
                .await;
            log_pass(&report, &outcome, now);
            stats.record(&report, outcome.is_err());
        };
        ctx.spawn(job.into_actor(self));
    }
}

/// Clears the running flag when the pass ends, however it ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

fn log_pass(report: &PassReport, outcome: &Result<()>, now: Timestamp) {
    let duration_ms = report.duration.as_millis() as u64;
    match outcome {
        Ok(()) => info!(
            dry_run = report.dry_run,
            results = report.results,
            records = report.records,
            log_records = report.log_records,
            log_blobs = report.log_blobs,
            scanned = report.scanned,
            changed = report.changed,
            batches = report.batches,
            duration_ms,
            as_of = now.as_nanos(),
            "retention pass done"
        ),
        Err(error) => warn!(
            %error,
            dry_run = report.dry_run,
            results = report.results,
            records = report.records,
            log_blobs = report.log_blobs,
            duration_ms,
            "retention pass failed"
        ),
    }
}

impl Actors {
    /// Starts the retention job (see [`crate::retention`]), its counters being
    /// [`Actors::retention_stats`]. Must run inside an actix `System`.
    pub fn start_retention(
        &self,
        config: RetentionConfig,
        blobs: Option<Arc<dyn BlobStore>>,
        clock: Arc<dyn Clock>,
    ) -> RetentionHandle {
        let stats = self.retention_stats().clone();
        let addr = Retention {
            actors: self.clone(),
            blobs,
            clock,
            config,
            stats: stats.clone(),
            running: Arc::default(),
            stopped: Arc::default(),
        }
        .start();
        RetentionHandle { addr, stats }
    }
}
