//! Group commit: concurrent Create/Update requests are coalesced into one transaction.
//!
//! The [`WriteBatcher`] hands a batch to the writer pool as soon as a writer is free, and
//! collects whatever arrives meanwhile into the next batch (bounded by `batch_max`; an
//! optional `batch_wait` holds a batch open a little longer under load). The writer runs
//! a batch in one transaction with a savepoint per request, so one failing request (say a
//! duplicate name) fails alone, and answers every caller only after the commit.
//!
//! The batcher has no thread or task of its own: a request's own task queues it and, when
//! a writer is free, sends the batch to the pool; a writer that finishes a batch sends the
//! next one itself (the batch's [`InFlight`] guard). So a write crosses to a writer thread
//! and back, nothing more: an earlier version was an actor on the actix system's thread,
//! which every request and every finished batch had to wake (see docs/performance.md).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;
use prometheus_client::metrics::histogram::Histogram;

use crate::write::{Pending, Queued, Write};
use crate::writer::StorageWriter;
use crate::{Error, Result};

/// A batch for the writer pool, which answers each write's caller itself.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ApplyBatch {
    /// The writes, in arrival order.
    pub ops: Vec<Box<dyn Pending>>,
    /// Frees the batch's writer slot when the batch is done (or dropped unhandled).
    pub _in_flight: InFlight,
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

/// Collects writes into batches for the writer pool. Cheap to clone (shared state).
#[derive(Clone)]
pub(crate) struct WriteBatcher {
    shared: Arc<Shared>,
}

struct Shared {
    writer: Addr<StorageWriter>,
    limits: BatchLimits,
    state: Mutex<State>,
    /// Sizes of the batches sent.
    sizes: Histogram,
    /// Where `batch_wait` timers run (writer threads have no runtime of their own).
    runtime: tokio::runtime::Handle,
}

#[derive(Default)]
struct State {
    pending: Vec<Box<dyn Pending>>,
    in_flight: usize,
    /// A `batch_wait` timer is armed.
    timer: bool,
}

/// A batch being applied: dropping it (the writer is done, or the batch was dropped
/// because the pool stopped) frees its slot and sends the next batch if one is waiting.
pub(crate) struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        Shared::flush(&self.0, false);
    }
}

impl WriteBatcher {
    /// A batcher for `writer`; must be created inside a tokio runtime (for `batch_wait`).
    pub(crate) fn new(writer: Addr<StorageWriter>, limits: BatchLimits, sizes: Histogram) -> Self {
        WriteBatcher {
            shared: Arc::new(Shared {
                writer,
                limits,
                state: Mutex::default(),
                sizes,
                runtime: tokio::runtime::Handle::current(),
            }),
        }
    }

    /// Queues `write` for the next batch and waits for its answer; `Err` if the writer
    /// pool stopped before answering.
    pub(crate) async fn submit<W: Write>(
        &self,
        write: W,
    ) -> std::result::Result<Result<W::Stored>, MailboxError> {
        let (pending, mut answer) = Queued::new(write);
        self.shared.lock().pending.push(Box::new(pending));
        Shared::flush(&self.shared, false);
        Ok(answer.recv().await.unwrap_or(Err(Error::Stopped {
            pool: "storage writer",
        })))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements: a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends batches while writers are free (and a batch is full or its wait is over).
    fn flush(this: &Arc<Shared>, waited: bool) {
        loop {
            let batch = {
                let mut state = this.lock();
                if state.pending.is_empty() || state.in_flight >= this.limits.in_flight {
                    return;
                }
                let full = state.pending.len() >= this.limits.max;
                if !full && !waited && !this.limits.wait.is_zero() {
                    if !state.timer {
                        state.timer = true;
                        let (shared, wait) = (this.clone(), this.limits.wait);
                        this.runtime.spawn(async move {
                            tokio::time::sleep(wait).await;
                            shared.lock().timer = false;
                            Shared::flush(&shared, true);
                        });
                    }
                    return;
                }
                let take = state.pending.len().min(this.limits.max);
                state.in_flight += 1;
                state.pending.drain(..take).collect::<Vec<_>>()
            };
            this.sizes.observe(batch.len() as f64);
            // If the pool has stopped, the batch is dropped with its reply channels (each
            // caller is told so) and with its guard.
            this.writer.do_send(ApplyBatch {
                ops: batch,
                _in_flight: InFlight(this.clone()),
            });
        }
    }
}
