//! The messages of retention: finding expired Results (query pool) and deleting a batch
//! of them (writer pool); its lease is held through [`crate::messages::AcquireLease`].

use std::sync::Arc;
use std::time::Duration;

use actix::{Handler, Message};
use results_storage::model::{ChangeKind, ChangedObject, NewChange, ResultName, Timestamp};
use results_storage::retention::{self, ExpiredPage, Policy, Run};
use results_storage::store;

use crate::error::guard;
use crate::query::QueryExecutor;
use crate::writer::StorageWriter;
use crate::{Error, Result};

/// A page of expired Results after `after` (see [`retention::expired_page`]).
#[derive(Message)]
#[rtype(result = "Result<ExpiredPage>")]
pub(crate) struct FindExpired {
    pub(crate) policy: Arc<Policy>,
    pub(crate) now: Timestamp,
    pub(crate) after: String,
    pub(crate) limit: usize,
}

/// How many Records, and Log Records, these Results hold (dry runs).
#[derive(Message)]
#[rtype(result = "Result<(u64, u64)>")]
pub(crate) struct CountRecords(pub(crate) Vec<String>);

/// Deletes a batch of expired Results in one transaction, logging a DELETED change for
/// each Record and Result, as DeleteResult does.
#[derive(Message)]
#[rtype(result = "Result<Vec<DeletedRun>>")]
pub(crate) struct DeleteExpired(pub(crate) Vec<Run>);

/// What a batch deleted of one Result.
#[derive(Debug, Clone)]
pub(crate) struct DeletedRun {
    pub(crate) name: ResultName,
    pub(crate) records: u64,
    pub(crate) log_records: u64,
}

impl Handler<FindExpired> for QueryExecutor {
    type Result = Result<ExpiredPage>;

    fn handle(&mut self, msg: FindExpired, _: &mut Self::Context) -> Self::Result {
        guard("FindExpired", || {
            Ok(self.db.read(|c| {
                retention::expired_page(c, &msg.policy, msg.now, &msg.after, msg.limit)
            })?)
        })
    }
}

impl Handler<CountRecords> for QueryExecutor {
    type Result = Result<(u64, u64)>;

    fn handle(&mut self, msg: CountRecords, _: &mut Self::Context) -> Self::Result {
        guard("CountRecords", || {
            Ok(self.db.read(|c| retention::count_records(c, &msg.0))?)
        })
    }
}

/// Attempts at a batch that keeps losing deadlocks to concurrent writes.
const ATTEMPTS: u64 = 8;

impl Handler<DeleteExpired> for StorageWriter {
    type Result = Result<Vec<DeletedRun>>;

    fn handle(&mut self, msg: DeleteExpired, _: &mut Self::Context) -> Self::Result {
        guard("DeleteExpired", || {
            let mut attempt = 1;
            loop {
                let now = self.clock.now();
                let outcome = self.db.run(|c| {
                    c.transaction(|c| {
                        let deleted = retention::delete_runs(c, &msg.0)?;
                        let mut changes = Vec::new();
                        let mut runs = Vec::with_capacity(deleted.len());
                        for (result, records) in deleted {
                            let log_records = records
                                .iter()
                                .filter(|r| results_storage::model::log::is_log_type(&r.data.type_))
                                .count() as u64;
                            runs.push(DeletedRun {
                                name: result.name.clone(),
                                records: records.len() as u64,
                                log_records,
                            });
                            changes.extend(
                                records
                                    .into_iter()
                                    .map(|r| deleted_change(ChangedObject::Record(r))),
                            );
                            changes.push(deleted_change(ChangedObject::Result(result)));
                        }
                        store::changes::append(c, &changes, now)?;
                        Ok(runs)
                    })
                });
                match outcome {
                    Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                        std::thread::sleep(Duration::from_millis(attempt));
                        attempt += 1;
                    }
                    Err(e) => return Err(Error::Storage(e)),
                    Ok(runs) => {
                        if !runs.is_empty() {
                            self.changed.raise();
                        }
                        return Ok(runs);
                    }
                }
            }
        })
    }
}

fn deleted_change(object: ChangedObject) -> NewChange {
    NewChange {
        kind: ChangeKind::Deleted,
        object,
    }
}
