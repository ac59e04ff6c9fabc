//! Leases (see `results_storage::store::leases`): a job that one replica at a time runs
//! (retention, each webhook sink) takes, renews and gives up its lease through the writer
//! pool, at the writer's clock.

use std::time::Duration;

use actix::{Handler, Message};
use results_storage::store;

use crate::error::guard;
use crate::writer::StorageWriter;
use crate::Result;

/// Takes or renews a lease (see [`store::leases::acquire`]) at the writer's clock.
#[derive(Message)]
#[rtype(result = "Result<bool>")]
pub(crate) struct AcquireLease {
    pub(crate) name: String,
    pub(crate) holder: String,
    pub(crate) ttl: Duration,
}

/// Gives a lease up.
#[derive(Message)]
#[rtype(result = "Result<bool>")]
pub(crate) struct ReleaseLease {
    pub(crate) name: String,
    pub(crate) holder: String,
}

impl Handler<AcquireLease> for StorageWriter {
    type Result = Result<bool>;

    fn handle(&mut self, msg: AcquireLease, _: &mut Self::Context) -> Self::Result {
        guard("AcquireLease", || {
            let now = self.clock.now();
            Ok(self
                .db
                .run(|c| store::leases::acquire(c, &msg.name, &msg.holder, now, msg.ttl))?)
        })
    }
}

impl Handler<ReleaseLease> for StorageWriter {
    type Result = Result<bool>;

    fn handle(&mut self, msg: ReleaseLease, _: &mut Self::Context) -> Self::Result {
        guard("ReleaseLease", || {
            Ok(self
                .db
                .run(|c| store::leases::release(c, &msg.name, &msg.holder))?)
        })
    }
}
