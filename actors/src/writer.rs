//! The storage writer: a pool of threads that performs every mutation.

use std::sync::Arc;

use actix::{Actor, Handler, SyncContext};
use results_storage::{model, store, Database};

use crate::messages::{
    CreateRecord, CreateResult, DeleteRecord, DeleteResult, UpdateRecord, UpdateResult,
};
use crate::{Clock, IdGen, Result};

/// Owns writes; one instance per pool thread, sharing the connection pool.
pub(crate) struct StorageWriter {
    pub(crate) db: Database,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGen>,
}

impl Actor for StorageWriter {
    type Context = SyncContext<Self>;
}

impl Handler<CreateResult> for StorageWriter {
    type Result = Result<model::StoredResult>;

    fn handle(&mut self, msg: CreateResult, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.db.get()?;
        Ok(store::create_result(
            &mut conn,
            msg.0,
            self.ids.next_id(),
            self.clock.now(),
        )?)
    }
}

impl Handler<UpdateResult> for StorageWriter {
    type Result = Result<model::StoredResult>;

    fn handle(&mut self, msg: UpdateResult, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.db.get()?;
        Ok(store::update_result(&mut conn, msg.0, self.clock.now())?)
    }
}

impl Handler<DeleteResult> for StorageWriter {
    type Result = Result<()>;

    fn handle(&mut self, msg: DeleteResult, _: &mut Self::Context) -> Self::Result {
        Ok(store::delete_result(&mut self.db.get()?, &msg.0)?)
    }
}

impl Handler<CreateRecord> for StorageWriter {
    type Result = Result<model::StoredRecord>;

    fn handle(&mut self, msg: CreateRecord, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.db.get()?;
        Ok(store::create_record(
            &mut conn,
            msg.0,
            self.ids.next_id(),
            self.clock.now(),
        )?)
    }
}

impl Handler<UpdateRecord> for StorageWriter {
    type Result = Result<model::StoredRecord>;

    fn handle(&mut self, msg: UpdateRecord, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.db.get()?;
        Ok(store::update_record(&mut conn, msg.0, self.clock.now())?)
    }
}

impl Handler<DeleteRecord> for StorageWriter {
    type Result = Result<()>;

    fn handle(&mut self, msg: DeleteRecord, _: &mut Self::Context) -> Self::Result {
        Ok(store::delete_record(&mut self.db.get()?, &msg.0)?)
    }
}
