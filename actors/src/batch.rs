//! Group commit: concurrent Create/Update requests are coalesced into one transaction.
//!
//! The [`WriteBatcher`] hands a batch to the writer pool as soon as a writer is free, and
//! collects whatever arrives meanwhile into the next batch (bounded by `batch_max`; an
//! optional `batch_wait` holds a batch open a little longer under load). The writer runs
//! a batch in one transaction with a savepoint per request, so one failing request (say a
//! duplicate name) fails alone, and answers every caller only after the commit.

use std::time::Duration;

use actix::prelude::*;
use results_storage::model::{
    NewRecord, NewResult, RecordPatch, ResultReplacement, StoredRecord, StoredResult,
};
use tokio::sync::oneshot;

use crate::writer::StorageWriter;
use crate::{Error, Result};

/// One write that may share a transaction with others.
#[derive(Debug)]
pub(crate) enum WriteOp {
    CreateResult(NewResult),
    UpdateResult(ResultReplacement),
    CreateRecord(NewRecord),
    UpdateRecord(RecordPatch),
}

/// What a write stored.
#[derive(Debug)]
pub(crate) enum Written {
    Result(StoredResult),
    Record(StoredRecord),
}

/// A batch for the writer pool: one answer per op, in order.
#[derive(Message)]
#[rtype(result = "Vec<Result<Written>>")]
pub(crate) struct ApplyBatch(pub Vec<WriteOp>);

/// A write waiting for its batch.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Submit {
    pub op: WriteOp,
    pub reply: oneshot::Sender<Result<Written>>,
}

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
    pending: Vec<Submit>,
    in_flight: usize,
    timer: Option<SpawnHandle>,
}

impl WriteBatcher {
    pub(crate) fn new(writer: Addr<StorageWriter>, limits: BatchLimits) -> Self {
        WriteBatcher {
            writer,
            limits,
            pending: Vec::new(),
            in_flight: 0,
            timer: None,
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
        let batch: Vec<Submit> = self.pending.drain(..take).collect();
        let (ops, replies): (Vec<WriteOp>, Vec<_>) =
            batch.into_iter().map(|s| (s.op, s.reply)).unzip();
        self.in_flight += 1;
        let sent = self.writer.send(ApplyBatch(ops));
        ctx.spawn(
            async move {
                match sent.await {
                    Ok(answers) => {
                        for (reply, answer) in replies.into_iter().zip(answers) {
                            let _ = reply.send(answer);
                        }
                    }
                    Err(_) => {
                        for reply in replies {
                            let _ = reply.send(Err(Error::Stopped {
                                pool: "storage writer",
                            }));
                        }
                    }
                }
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
        // the bottleneck below that bound.
        ctx.set_mailbox_capacity(usize::MAX >> 1);
    }
}

impl Handler<Submit> for WriteBatcher {
    type Result = ();

    fn handle(&mut self, msg: Submit, ctx: &mut Self::Context) {
        self.pending.push(msg);
        self.maybe_flush(ctx, false);
    }
}
