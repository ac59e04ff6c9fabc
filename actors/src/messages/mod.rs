//! Messages the actors handle: plain structs named after what they ask for.

mod records;
mod results;

pub use records::{
    CreateRecord, DeleteRecord, GetRecord, ListRecords, SummarizeRecords, UpdateRecord,
};
pub use results::{
    CreateResult, DeleteResult, GetResult, ListParents, ListResults, Ping, UpdateResult,
};
