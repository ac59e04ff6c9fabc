//! The query executor: a pool of threads that serves reads and listings.

use actix::{Actor, Handler, SyncContext};
use results_storage::model::{Change, ChangeLogHead, StoredRecord, StoredResult};
use results_storage::page::TokenSigner;
use results_storage::store::{self, Page};
use results_storage::Database;

use crate::error::guard;
use crate::messages::{
    GetRecord, GetResult, ListParents, ListRecords, ListResults, Ping, SummarizeRecords,
};
use crate::watch::feed::{ChangeHead, ReadChanges};
use crate::watch::webhook::ReadWebhookCursor;
use crate::Result;

/// Owns reads; one instance per pool thread, sharing the connection pool.
pub(crate) struct QueryExecutor {
    pub(crate) db: Database,
    pub(crate) signer: TokenSigner,
}

impl Actor for QueryExecutor {
    type Context = SyncContext<Self>;
}

impl Handler<GetResult> for QueryExecutor {
    type Result = Result<StoredResult>;

    fn handle(&mut self, msg: GetResult, _: &mut Self::Context) -> Self::Result {
        guard("GetResult", || {
            Ok(self.db.read(|c| store::get_result(c, &msg.0))?)
        })
    }
}

impl Handler<ListResults> for QueryExecutor {
    type Result = Result<Page<StoredResult>>;

    fn handle(&mut self, msg: ListResults, _: &mut Self::Context) -> Self::Result {
        guard("ListResults", || {
            Ok(self
                .db
                .read(|c| store::list_results(c, &self.signer, &msg.0))?)
        })
    }
}

impl Handler<GetRecord> for QueryExecutor {
    type Result = Result<StoredRecord>;

    fn handle(&mut self, msg: GetRecord, _: &mut Self::Context) -> Self::Result {
        guard("GetRecord", || {
            Ok(self
                .db
                .read(|c| store::get_record_projected(c, &msg.name, &msg.projection))?)
        })
    }
}

impl Handler<ListRecords> for QueryExecutor {
    type Result = Result<Page<StoredRecord>>;

    fn handle(&mut self, msg: ListRecords, _: &mut Self::Context) -> Self::Result {
        guard("ListRecords", || {
            Ok(self.db.read(|c| {
                store::list_records_projected(c, &self.signer, &msg.request, &msg.projection)
            })?)
        })
    }
}

impl Handler<SummarizeRecords> for QueryExecutor {
    type Result = Result<Vec<results_storage::summary::SummaryRow>>;

    fn handle(&mut self, msg: SummarizeRecords, _: &mut Self::Context) -> Self::Result {
        guard("SummarizeRecords", || {
            Ok(self.db.read(|c| {
                store::record_list_summary(c, &msg.scope, &msg.filter, msg.spec.clone())
            })?)
        })
    }
}

impl Handler<ListParents> for QueryExecutor {
    type Result = Result<Vec<String>>;

    fn handle(&mut self, msg: ListParents, _: &mut Self::Context) -> Self::Result {
        guard("ListParents", || {
            Ok(self.db.read(|c| store::result_parents(c, msg.0))?)
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
