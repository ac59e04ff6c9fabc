//! Messages about Results.

use actix::Message;
use results_storage::model::{ListScope, NewResult, ResultName, ResultReplacement, StoredResult};
use results_storage::store::{ListRequest, Page};

use crate::Result;

/// Create a Result (group-committed with concurrent writes).
#[derive(Debug, Message)]
#[rtype(result = "Result<StoredResult>")]
pub struct CreateResult(pub NewResult);

/// Replace a Result's annotations and summary (group-committed with concurrent writes).
#[derive(Debug, Message)]
#[rtype(result = "Result<StoredResult>")]
pub struct UpdateResult(pub ResultReplacement);

/// Delete a Result and its Records.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct DeleteResult(pub ResultName);

/// Read one Result.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<StoredResult>")]
pub struct GetResult(pub ResultName);

/// List Results.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Page<StoredResult>>")]
pub struct ListResults(pub ListRequest<ListScope>);

/// The namespaces holding Results, in order: at most this many.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<String>>")]
pub struct ListParents(pub usize);

/// Whether the database answers (a readiness check).
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Ping;
