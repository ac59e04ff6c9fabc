//! Messages about Records.

use actix::Message;
use results_storage::model::{
    NewRecord, Projection, RecordName, RecordPatch, RecordScope, StoredRecord,
};
use results_storage::store::{ListRequest, Page};
use results_storage::summary::{SummaryRow, SummarySpec};

use crate::Result;

/// Create a Record (group-committed with concurrent writes).
#[derive(Debug, Message)]
#[rtype(result = "Result<StoredRecord>")]
pub struct CreateRecord(pub NewRecord);

/// Update a Record's non-empty fields (group-committed with concurrent writes).
#[derive(Debug, Message)]
#[rtype(result = "Result<StoredRecord>")]
pub struct UpdateRecord(pub RecordPatch);

/// Delete a Record.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct DeleteRecord(pub RecordName);

/// Read one Record.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<StoredRecord>")]
pub struct GetRecord {
    /// Which Record.
    pub name: RecordName,
    /// What of its document to read.
    pub projection: Projection,
}

/// Summarise the Records under a parent that match a filter.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<SummaryRow>>")]
pub struct SummarizeRecords {
    /// Where to look (`-` wildcards allowed).
    pub scope: RecordScope,
    /// CEL filter over Records.
    pub filter: String,
    /// Aggregates, grouping and order.
    pub spec: SummarySpec,
}

/// List Records.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Page<StoredRecord>>")]
pub struct ListRecords {
    /// Where, which and in what order.
    pub request: ListRequest<RecordScope>,
    /// What of each document to read.
    pub projection: Projection,
}
