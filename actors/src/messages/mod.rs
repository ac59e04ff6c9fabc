//! Messages the actors handle: plain structs named after what they ask for.

mod records;
mod results;

pub use records::{DeleteRecord, GetRecord, ListRecords, SummarizeRecords};
pub use results::{DeleteResult, GetResult, ListResults};
