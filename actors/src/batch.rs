//! Group commit: concurrent Create/Update requests are coalesced into one transaction.
//!
//! The [`WriteBatcher`] hands a batch to the writer pool as soon as a writer is free, and
//! collects whatever arrives meanwhile into the next batch (bounded by `batch_max`; an
//! optional `batch_wait` holds a batch open a little longer under load). The writer runs
//! a batch in one transaction with a savepoint per request, so one failing request (say a
//! duplicate name) fails alone, and answers every caller only after the commit.

use prometheus_client::metrics::histogram::Histogram;
use std::time::Duration;

use actix::prelude::*;

use crate::write::{Pending, Queued, Write};
use crate::writer::StorageWriter;
use crate::{Error, Result};

/// A batch for the writer pool, which answers each write's caller itself.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ApplyBatch(pub Vec<Box<dyn Pending>>);

/// Limits of group commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    /// Most requests in one transaction.
    pub max: usize,
    /// How long a batch may stay open for more requests once a writer is free.
    pub wait: Duration,
    /// Batches in flight at once (one per writer thread).
    pub in_flight: usize,
}

/// Collects writes into batches for the writer pool.
pub(crate) struct WriteBatcher {
    writer: Addr<StorageWriter>,
    limits: BatchLimits,
    pending: Vec<Box<dyn Pending>>,
    in_flight: usize,
    timer: Option<SpawnHandle>,
    /// Sizes of the batches sent.
    sizes: Histogram,
}

impl WriteBatcher {
    pub(crate) fn new(writer: Addr<StorageWriter>, limits: BatchLimits, sizes: Histogram) -> Self {
        WriteBatcher {
            writer,
            limits,
            pending: Vec::new(),
            in_flight: 0,
            timer: None,
            sizes,
        }
    }

    /// Sends a batch if a writer is free (and the batch is full or its wait is over).
    fn maybe_flush(&mut self, ctx: &mut Context<Self>, waited: bool) {
        if self.pending.is_empty() || self.in_flight >= self.limits.in_flight {
            return;
        }
        let full = self.pending.len() >= self.limits.max;
        if !full && !waited && !self.limits.wait.is_zero() {
            if self.timer.is_none() {
                self.timer = Some(ctx.run_later(self.limits.wait, |act, ctx| {
                    act.timer = None;
                    act.maybe_flush(ctx, true);
                }));
            }
            return;
        }
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        let take = self.pending.len().min(self.limits.max);
        let batch: Vec<Box<dyn Pending>> = self.pending.drain(..take).collect();
        self.sizes.observe(batch.len() as f64);
        self.in_flight += 1;
        // If the pool has stopped, the batch is dropped with its reply channels, and each
        // caller is told so.
        let sent = self.writer.send(ApplyBatch(batch));
        ctx.spawn(
            async move {
                let _ = sent.await;
            }
            .into_actor(self)
            .map(|_, act, ctx| {
                act.in_flight -= 1;
                act.maybe_flush(ctx, false);
            }),
        );
        // More may be waiting, and another writer may be free.
        self.maybe_flush(ctx, false);
    }
}

impl Actor for WriteBatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Admission is bounded by the handle's queue slots; the mailbox just must not be
        // the bottleneck below that bound. Not actix's largest capacity (usize::MAX >> 1):
        // what it leaves for the address's clones is that largest capacity minus this, and
        // with nothing left, cloning the address panics (in debug builds).
        ctx.set_mailbox_capacity(usize::MAX >> 2);
    }
}

impl<W: Write> Handler<W> for WriteBatcher {
    type Result = ResponseFuture<Result<W::Stored>>;

    fn handle(&mut self, write: W, ctx: &mut Self::Context) -> Self::Result {
        let (pending, mut answer) = Queued::new(write);
        self.pending.push(Box::new(pending));
        self.maybe_flush(ctx, false);
        Box::pin(async move {
            answer.recv().await.unwrap_or(Err(Error::Stopped {
                pool: "storage writer",
            }))
        })
    }
}
