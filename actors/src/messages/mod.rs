//! Messages the actors handle: plain structs named after what they ask for.

mod leases;
mod records;
mod results;

pub(crate) use leases::{AcquireLease, ReleaseLease};

pub use records::{
    CreateRecord, DeleteRecord, GetRecord, ListRecords, SummarizeRecords, UpdateRecord,
};
pub use results::{
    CreateResult, DeleteResult, GetResult, ListParents, ListResults, Ping, UpdateResult,
};
