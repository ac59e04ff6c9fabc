//! The storage writer: a pool of threads that performs every mutation.

use std::sync::Arc;

use actix::{Actor, Handler, SyncContext};
use results_storage::replicas::ReadReplicas;
use results_storage::{store, Database};

use crate::batch::ApplyBatch;
use crate::error::guard;
use crate::messages::{DeleteRecord, DeleteResult};
use crate::watch::feed::PruneChanges;
use crate::watch::webhook::SaveWebhookCursor;
use crate::watch::ChangeSignal;
use crate::write::{Answer, Pending, Stamp};
use crate::{Clock, Error, IdGen, Result};
use results_storage::connection::Conn;
use results_storage::model::{ChangeKind, ChangedObject, NewChange};
use results_storage::ErrorCode;
use tracing::warn;

/// The writes of a batch.
type Ops = [Box<dyn Pending>];

/// Owns writes; one instance per pool thread, sharing the connection pool.
pub(crate) struct StorageWriter {
    pub(crate) db: Database,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGen>,
    /// Raised after every commit that logged changes, so that watch streams read them
    /// at once instead of at their next poll.
    pub(crate) changed: ChangeSignal,
    /// Read replicas, told where the primary's WAL stands after each commit.
    pub(crate) replicas: Option<Arc<ReadReplicas>>,
}

impl Actor for StorageWriter {
    type Context = SyncContext<Self>;
}

impl Handler<DeleteResult> for StorageWriter {
    type Result = Result<()>;

    fn handle(&mut self, msg: DeleteResult, _: &mut Self::Context) -> Self::Result {
        guard("DeleteResult", || {
            let now = self.clock.now();
            self.db.run(|c| {
                c.transaction(|c| {
                    let (result, records) = store::delete_result(c, &msg.0)?;
                    let changes: Vec<NewChange> = records
                        .into_iter()
                        .map(|r| deleted(ChangedObject::Record(r)))
                        .chain([deleted(ChangedObject::Result(result))])
                        .collect();
                    store::changes::append(c, &changes, now)
                })
            })?;
            self.changed.raise();
            self.note_write();
            Ok(())
        })
    }
}

impl Handler<DeleteRecord> for StorageWriter {
    type Result = Result<()>;

    fn handle(&mut self, msg: DeleteRecord, _: &mut Self::Context) -> Self::Result {
        guard("DeleteRecord", || {
            let now = self.clock.now();
            self.db.run(|c| {
                c.transaction(|c| {
                    let record = store::delete_record(c, &msg.0)?;
                    store::changes::append(c, &[deleted(ChangedObject::Record(record))], now)
                })
            })?;
            self.changed.raise();
            self.note_write();
            Ok(())
        })
    }
}

fn deleted(object: ChangedObject) -> NewChange {
    NewChange {
        kind: ChangeKind::Deleted,
        object,
    }
}

impl Handler<PruneChanges> for StorageWriter {
    type Result = Result<u64>;

    fn handle(&mut self, msg: PruneChanges, _: &mut Self::Context) -> Self::Result {
        guard("PruneChanges", || {
            Ok(self.db.run(|c| store::changes::prune(c, msg.0))?)
        })
    }
}

impl Handler<SaveWebhookCursor> for StorageWriter {
    type Result = Result<()>;

    fn handle(&mut self, msg: SaveWebhookCursor, _: &mut Self::Context) -> Self::Result {
        guard("SaveWebhookCursor", || {
            Ok(self
                .db
                .run(|c| store::webhook_cursors::save(c, &msg.name, msg.revision))?)
        })
    }
}

impl StorageWriter {
    /// With read replicas, notes where the primary's WAL stands now that a write has
    /// committed, before its caller is answered (read-your-writes).
    fn note_write(&self) {
        if let Some(replicas) = &self.replicas {
            if let Err(e) = self.db.run(|c| replicas.note_write(c)) {
                warn!(error = %e, "cannot read the primary's WAL position after a write");
            }
        }
    }

    fn stamps(&self, ops: &Ops) -> Vec<Stamp> {
        ops.iter()
            .map(|_| Stamp {
                id: self.ids.next_id(),
                now: self.clock.now(),
            })
            .collect()
    }
}

/// Attempts at a write that keeps losing deadlocks to concurrent batches.
const ATTEMPTS: usize = 8;

impl StorageWriter {
    /// One op in its own transaction with its change (one statement where the op has such
    /// a form), retried when it loses a deadlock.
    fn apply_alone(&self, conn: &mut Conn, op: &dyn Pending, stamp: &Stamp) -> Result<Answer> {
        let mut attempt = 1;
        loop {
            let outcome = match op.apply_logged(conn, stamp) {
                Some(outcome) => outcome,
                None => conn
                    .transaction(|conn| {
                        let (answer, change) =
                            op.apply(conn, stamp).map_err(Error::into_storage)?;
                        store::changes::append(conn, &[change], stamp.now)?;
                        Ok(answer)
                    })
                    .map_err(Error::from),
            };
            match outcome {
                Err(Error::Storage(e)) if e.is_retryable() && attempt < ATTEMPTS => {
                    // Step aside a little longer each time, so that the same transactions
                    // do not collide again at once.
                    std::thread::sleep(std::time::Duration::from_millis(attempt as u64));
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }
}

impl Handler<ApplyBatch> for StorageWriter {
    type Result = ();

    /// Runs the batch, then answers each caller: with what its write stored once that is
    /// committed, else with why not.
    fn handle(&mut self, msg: ApplyBatch, _: &mut Self::Context) -> Self::Result {
        let ops = msg.0;
        match guard("ApplyBatch", || Ok(self.apply_batch(&ops))) {
            Ok(outcomes) => {
                if outcomes.iter().any(Result::is_ok) {
                    self.changed.raise();
                    self.note_write();
                }
                for (op, outcome) in ops.iter().zip(outcomes) {
                    match outcome {
                        Ok(answer) => answer(),
                        Err(e) => op.fail(e),
                    }
                }
            }
            Err(_) => {
                for op in &ops {
                    op.fail(Error::Panicked("ApplyBatch"));
                }
            }
        }
    }
}

impl StorageWriter {
    /// Runs a batch: one transaction with a savepoint per op (see the module docs).
    fn apply_batch(&self, ops: &Ops) -> Vec<Result<Answer>> {
        let mut conn = match self.db.get() {
            Ok(conn) => conn,
            Err(e) => {
                return ops
                    .iter()
                    .map(|_| {
                        Err(Error::Batch {
                            code: e.code(),
                            message: e.to_string(),
                        })
                    })
                    .collect()
            }
        };
        let stamps = self.stamps(ops);
        if let [op] = ops {
            return match self.apply_alone(&mut conn, op.as_ref(), &stamps[0]) {
                Err(Error::Storage(e)) if e.is_connection_lost() => {
                    conn.discard_if_lost(&e);
                    drop(conn);
                    self.settle(ops, &stamps, &e)
                }
                answer => vec![answer],
            };
        }
        // Fast path: the whole batch in one transaction without savepoints (two round trips
        // less per write). If a write fails, the attempt is rolled back and the batch
        // re-run below with a savepoint per write; a failed commit is not re-run.
        let mut failed_write = false;
        let now = stamps.last().map(|s| s.now);
        let fast = conn.transaction(|conn| {
            let mut written = Vec::with_capacity(ops.len());
            let mut changes = Vec::with_capacity(ops.len());
            for (op, stamp) in ops.iter().zip(&stamps) {
                match op.apply(conn, stamp) {
                    Ok((answer, change)) => {
                        written.push(answer);
                        changes.push(change);
                    }
                    Err(e) => {
                        failed_write = true;
                        return Err(e.into_storage());
                    }
                }
            }
            if let Some(now) = now {
                store::changes::append(conn, &changes, now)?;
            }
            Ok(written)
        });
        match fast {
            Ok(written) => return written.into_iter().map(Ok).collect(),
            Err(e) if !failed_write && e.is_connection_lost() => {
                conn.discard_if_lost(&e);
                drop(conn);
                return self.settle(ops, &stamps, &e);
            }
            Err(e) if !failed_write && !e.is_retryable() => {
                let (code, message) = (e.code(), e.to_string());
                return ops
                    .iter()
                    .map(|_| {
                        Err(Error::Batch {
                            code,
                            message: message.clone(),
                        })
                    })
                    .collect();
            }
            Err(_) => {}
        }
        // One transaction, one savepoint per op: a failing op is rolled back alone. A
        // deadlock or serialization failure aborts the whole batch instead (MySQL rolls
        // back the entire transaction then), and its ops are applied one by one.
        let batch = conn.transaction(|conn| {
            let mut answers = Vec::with_capacity(ops.len());
            let mut changes = Vec::with_capacity(ops.len());
            for (op, stamp) in ops.iter().zip(&stamps) {
                match conn.transaction(|conn| op.apply(conn, stamp).map_err(Error::into_storage)) {
                    Err(e) if e.is_retryable() => return Err(e),
                    Ok((answer, change)) => {
                        answers.push(Ok(answer));
                        changes.push(change);
                    }
                    Err(e) => answers.push(Err(e)),
                }
            }
            if let Some(now) = now {
                store::changes::append(conn, &changes, now)?;
            }
            Ok(answers)
        });
        match batch {
            Ok(answers) => answers
                .into_iter()
                .map(|a| a.map_err(Error::from))
                .collect(),
            Err(e) if e.is_retryable() => {
                warn!(error = %e, ops = ops.len(), "batch aborted; applying its writes one by one");
                ops.iter()
                    .zip(&stamps)
                    .map(|(op, stamp)| self.apply_alone(&mut conn, op.as_ref(), stamp))
                    .collect()
            }
            Err(e) if e.is_connection_lost() => {
                conn.discard_if_lost(&e);
                drop(conn);
                self.settle(ops, &stamps, &e)
            }
            Err(e) => {
                let (code, message) = (e.code(), e.to_string());
                ops.iter()
                    .map(|_| {
                        Err(Error::Batch {
                            code,
                            message: message.clone(),
                        })
                    })
                    .collect()
            }
        }
    }
}

/// Attempts at reading back a write whose commit outcome is unknown, about 2.5 s in all.
const READ_BACK_ATTEMPTS: u32 = 8;

impl StorageWriter {
    /// Reads with `f`, retrying (with growing pauses) while the database is unreachable,
    /// as it is for a moment while it restarts.
    fn read_back<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> results_storage::Result<T>,
    ) -> results_storage::Result<T> {
        let mut attempt = 0;
        loop {
            match self.db.read(&mut f) {
                Err(e)
                    if (e.is_connection_lost() || e.code() == ErrorCode::Unavailable)
                        && attempt + 1 < READ_BACK_ATTEMPTS =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10 << attempt));
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// The connection broke while `ops` were being committed: looks on a fresh connection
    /// whether each write landed (its stamp is in the database), so that every caller is
    /// told what is stored. When even that fails, the answer says the outcome is unknown.
    fn settle(
        &self,
        ops: &Ops,
        stamps: &[Stamp],
        lost: &results_storage::Error,
    ) -> Vec<Result<Answer>> {
        let unknown = || Error::Batch {
            code: ErrorCode::Unavailable,
            message: format!(
                "the database connection broke during the write and its outcome could not be \
                 checked; read before retrying ({lost})"
            ),
        };
        let not_applied = || Error::Batch {
            code: ErrorCode::Unavailable,
            message: format!("the database connection broke; the write was not applied ({lost})"),
        };
        ops.iter()
            .zip(stamps)
            .map(|(op, stamp)| {
                let found = self.read_back(|c| op.read_back(c, stamp));
                match found {
                    Ok((true, answer)) => Ok(answer),
                    Ok((false, _)) => Err(not_applied()),
                    Err(e) if e.code() == ErrorCode::NotFound => Err(not_applied()),
                    Err(_) => Err(unknown()),
                }
            })
            .collect()
    }
}
