//! The storage writer: a pool of threads that performs every mutation.

use std::sync::Arc;

use actix::{Actor, Handler, SyncContext};
use results_storage::{store, Database};

use crate::batch::{ApplyBatch, WriteOp, Written};
use crate::error::guard;
use crate::messages::{DeleteRecord, DeleteResult};
use crate::{Clock, Error, IdGen, Result};
use tracing::warn;

/// Owns writes; one instance per pool thread, sharing the connection pool.
pub(crate) struct StorageWriter {
    pub(crate) db: Database,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGen>,
}

impl Actor for StorageWriter {
    type Context = SyncContext<Self>;
}

impl Handler<DeleteResult> for StorageWriter {
    type Result = Result<()>;

    fn handle(&mut self, msg: DeleteResult, _: &mut Self::Context) -> Self::Result {
        guard("DeleteResult", || {
            Ok(store::delete_result(&mut self.db.get()?, &msg.0)?)
        })
    }
}

impl Handler<DeleteRecord> for StorageWriter {
    type Result = Result<()>;

    fn handle(&mut self, msg: DeleteRecord, _: &mut Self::Context) -> Self::Result {
        guard("DeleteRecord", || {
            Ok(store::delete_record(&mut self.db.get()?, &msg.0)?)
        })
    }
}

impl StorageWriter {
    fn apply(&self, conn: &mut results_storage::connection::Conn, op: &WriteOp) -> Result<Written> {
        let now = self.clock.now();
        Ok(match op {
            WriteOp::CreateResult(new) => Written::Result(store::create_result(
                conn,
                new.clone(),
                self.ids.next_id(),
                now,
            )?),
            WriteOp::UpdateResult(r) => {
                Written::Result(store::update_result(conn, r.clone(), now)?)
            }
            WriteOp::CreateRecord(new) => Written::Record(store::create_record(
                conn,
                new.clone(),
                self.ids.next_id(),
                now,
            )?),
            WriteOp::UpdateRecord(p) => {
                Written::Record(store::update_record(conn, p.clone(), now)?)
            }
        })
    }
}

/// Attempts at a write that keeps losing deadlocks to concurrent batches.
const ATTEMPTS: usize = 4;

impl StorageWriter {
    /// One op in its own statement(s), retried when it loses a deadlock.
    fn apply_alone(
        &self,
        conn: &mut results_storage::connection::Conn,
        op: &WriteOp,
    ) -> Result<Written> {
        let mut attempt = 1;
        loop {
            match self.apply(conn, op) {
                Err(Error::Storage(e)) if e.is_retryable() && attempt < ATTEMPTS => attempt += 1,
                answer => return answer,
            }
        }
    }
}

impl Handler<ApplyBatch> for StorageWriter {
    type Result = Vec<Result<Written>>;

    fn handle(&mut self, msg: ApplyBatch, _: &mut Self::Context) -> Self::Result {
        let count = msg.0.len();
        guard("ApplyBatch", || Ok(self.apply_batch(msg.0))).unwrap_or_else(|_| {
            (0..count)
                .map(|_| Err(Error::Panicked("ApplyBatch")))
                .collect()
        })
    }
}

impl StorageWriter {
    /// Runs a batch: one transaction with a savepoint per op (see the module docs).
    fn apply_batch(&self, ops: Vec<WriteOp>) -> Vec<Result<Written>> {
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
        if let [op] = &ops[..] {
            return vec![self.apply_alone(&mut conn, op)];
        }
        // Fast path: the whole batch in one transaction without savepoints (two round trips
        // less per write). If a write fails, the attempt is rolled back and the batch
        // re-run below with a savepoint per write; a failed commit is not re-run.
        let mut failed_write = false;
        let fast = conn.transaction(|conn| {
            let mut written = Vec::with_capacity(ops.len());
            for op in &ops {
                match self.apply(conn, op) {
                    Ok(w) => written.push(w),
                    Err(e) => {
                        failed_write = true;
                        return Err(e.into_storage());
                    }
                }
            }
            Ok(written)
        });
        match fast {
            Ok(written) => return written.into_iter().map(Ok).collect(),
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
            for op in &ops {
                match conn.transaction(|conn| self.apply(conn, op).map_err(Error::into_storage)) {
                    Err(e) if e.is_retryable() => return Err(e),
                    answer => answers.push(answer),
                }
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
                    .map(|op| self.apply_alone(&mut conn, op))
                    .collect()
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
