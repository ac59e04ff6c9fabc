//! The query executor: a pool of threads that serves reads and listings.

use std::sync::Arc;

use actix::{Actor, Handler, Message, SyncContext};
use results_storage::model::{Change, ChangeLogHead, StoredRecord, StoredResult};
use results_storage::page::TokenSigner;
use results_storage::replicas::ReadReplicas;
use results_storage::store::{self, Page};
use results_storage::{Database, ErrorCode};

use crate::error::guard;
use crate::messages::{
    GetRecord, GetResult, ListParents, ListRecords, ListResults, Ping, SummarizeRecords,
};
use crate::metrics::ReadCounters;
use crate::watch::feed::{ChangeHead, ReadChanges};
use crate::watch::webhook::ReadWebhookCursor;
use crate::Result;

/// Owns reads; one instance per pool thread, sharing the connection pool.
pub(crate) struct QueryExecutor {
    /// The primary.
    pub(crate) db: Database,
    pub(crate) signer: TokenSigner,
    /// Read replicas, if configured.
    pub(crate) replicas: Option<Arc<ReadReplicas>>,
    /// The replica serving the [`Read`] being handled, if one was picked.
    pub(crate) current: Option<Database>,
    /// Reads served by the primary and by replicas.
    pub(crate) served: ReadCounters,
}

/// A read that a replica may serve once it has replayed `after` (see
/// [`results_storage::replicas`]); the other reads of the pool go to the primary.
pub(crate) struct Read<M> {
    pub(crate) after: u64,
    pub(crate) msg: M,
}

impl<M: Message> Message for Read<M> {
    type Result = M::Result;
}

/// Handles `Read<M>` for each read a replica may serve (Gets, Lists, summaries): on the
/// replica picked for it, else on the primary.
macro_rules! replica_reads {
    ($($m:ty),* $(,)?) => {$(
        impl Handler<Read<$m>> for QueryExecutor {
            type Result = <Self as Handler<$m>>::Result;

            fn handle(&mut self, read: Read<$m>, ctx: &mut Self::Context) -> Self::Result {
                let replica = (self.replicas.as_ref()).and_then(|r| r.pick(read.after));
                if let Some(replica) = replica {
                    self.current = Some(replica);
                    let answer = <Self as Handler<$m>>::handle(self, read.msg.clone(), ctx);
                    self.current = None;
                    match answer {
                        // The replica went away since its last check: the primary answers.
                        Err(e) if e.code() == ErrorCode::Unavailable => {
                            tracing::debug!(error = %e, "read replica unavailable; reading from the primary")
                        }
                        answer => {
                            self.served.count(true);
                            return answer;
                        }
                    }
                }
                self.served.count(false);
                <Self as Handler<$m>>::handle(self, read.msg, ctx)
            }
        }
    )*};
}

replica_reads!(
    GetResult,
    ListResults,
    GetRecord,
    ListRecords,
    SummarizeRecords,
    ListParents,
);

impl QueryExecutor {
    /// Where a replica-eligible read goes: the picked replica, else the primary.
    fn reader(&self) -> &Database {
        self.current.as_ref().unwrap_or(&self.db)
    }
}

impl Actor for QueryExecutor {
    type Context = SyncContext<Self>;
}

impl Handler<GetResult> for QueryExecutor {
    type Result = Result<StoredResult>;

    fn handle(&mut self, msg: GetResult, _: &mut Self::Context) -> Self::Result {
        guard("GetResult", || {
            Ok(self.reader().read(|c| store::get_result(c, &msg.0))?)
        })
    }
}

impl Handler<ListResults> for QueryExecutor {
    type Result = Result<Page<StoredResult>>;

    fn handle(&mut self, msg: ListResults, _: &mut Self::Context) -> Self::Result {
        guard("ListResults", || {
            Ok(self
                .reader()
                .read(|c| store::list_results(c, &self.signer, &msg.0))?)
        })
    }
}

impl Handler<GetRecord> for QueryExecutor {
    type Result = Result<StoredRecord>;

    fn handle(&mut self, msg: GetRecord, _: &mut Self::Context) -> Self::Result {
        guard("GetRecord", || {
            Ok(self
                .reader()
                .read(|c| store::get_record_projected(c, &msg.name, &msg.projection))?)
        })
    }
}

impl Handler<ListRecords> for QueryExecutor {
    type Result = Result<Page<StoredRecord>>;

    fn handle(&mut self, msg: ListRecords, _: &mut Self::Context) -> Self::Result {
        guard("ListRecords", || {
            Ok(self.reader().read(|c| {
                store::list_records_projected(c, &self.signer, &msg.request, &msg.projection)
            })?)
        })
    }
}

impl Handler<SummarizeRecords> for QueryExecutor {
    type Result = Result<Vec<results_storage::summary::SummaryRow>>;

    fn handle(&mut self, msg: SummarizeRecords, _: &mut Self::Context) -> Self::Result {
        guard("SummarizeRecords", || {
            Ok(self.reader().read(|c| {
                store::record_list_summary(c, &msg.scope, &msg.filter, msg.spec.clone())
            })?)
        })
    }
}

impl Handler<ListParents> for QueryExecutor {
    type Result = Result<Vec<String>>;

    fn handle(&mut self, msg: ListParents, _: &mut Self::Context) -> Self::Result {
        guard("ListParents", || {
            Ok(self.reader().read(|c| store::result_parents(c, msg.0))?)
        })
    }
}

impl Handler<ReadChanges> for QueryExecutor {
    type Result = Result<(Vec<Change>, ChangeLogHead)>;

    fn handle(&mut self, msg: ReadChanges, _: &mut Self::Context) -> Self::Result {
        guard("ReadChanges", || {
            Ok(self.db.read(|c| {
                let changes = store::changes::read(c, msg.after, msg.through, msg.limit)?;
                Ok((changes, store::changes::head(c)?))
            })?)
        })
    }
}

impl Handler<ChangeHead> for QueryExecutor {
    type Result = Result<ChangeLogHead>;

    fn handle(&mut self, _: ChangeHead, _: &mut Self::Context) -> Self::Result {
        guard("ChangeHead", || Ok(self.db.read(store::changes::head)?))
    }
}

impl Handler<ReadWebhookCursor> for QueryExecutor {
    type Result = Result<Option<i64>>;

    fn handle(&mut self, msg: ReadWebhookCursor, _: &mut Self::Context) -> Self::Result {
        guard("ReadWebhookCursor", || {
            Ok(self.db.read(|c| store::webhook_cursors::read(c, &msg.0))?)
        })
    }
}

impl Handler<Ping> for QueryExecutor {
    type Result = Result<()>;

    fn handle(&mut self, _: Ping, _: &mut Self::Context) -> Self::Result {
        guard("Ping", || Ok(self.db.read(store::ping)?))
    }
}
