//! Synchronous queries on one pooled connection, one module per concern. They never
//! spawn or block on async work; callers run them on threads made for blocking I/O.

pub mod changes;
// `pub(crate)` for `testing`, which explains the exact queries of a listing page.
mod chunks;
pub mod leases;
pub(crate) mod list;
mod page_select;
mod ping;
pub(crate) mod projection;
mod records;
pub(crate) mod result_list;
mod results;
pub(crate) mod run_columns;
pub(crate) mod stored_size;
mod summary;
pub mod webhook_cursors;

pub use list::{list_records, list_records_projected, list_records_within, ListRequest, Page};
pub use ping::ping;
pub use records::{
    create_record, create_record_logged, delete_record, get_record, get_record_projected,
    update_record,
};
pub use result_list::{list_results, list_results_within};
pub use results::{create_result, delete_result, get_result, result_parents, update_result};
pub use run_columns::{
    backfill_all_run_columns, backfill_run_columns, run_columns, BackfillBatch, RunColumns,
    BACKFILL_BATCH,
};
pub use summary::{record_list_summary, record_list_summary_folded, record_list_summary_in_db};

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::connection::Conn;
use crate::Error;

/// How often an update without etag is retried after losing a race to another writer.
const UPDATE_RETRIES: usize = 16;

/// Optimistic concurrency shared by every update: `read` the stored object, check the
/// caller's etag against it, then `write` conditionally on what was read (returning
/// `None` when a concurrent writer got there first). With an etag, losing the race is an
/// etag mismatch; without one, the update is retried on the newer state, so no write is
/// ever lost silently.
fn update_optimistically<S, T>(
    conn: &mut Conn,
    name: &dyn std::fmt::Display,
    given_etag: Option<&str>,
    read: impl Fn(&mut Conn) -> Result<S, Error>,
    etag: impl Fn(&S) -> String,
    write: impl Fn(&mut Conn, S) -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    for _ in 0..UPDATE_RETRIES {
        let stored = read(conn)?;
        let stored_etag = etag(&stored);
        if given_etag.is_some_and(|given| given != stored_etag) {
            return Err(Error::EtagMismatch {
                name: name.to_string(),
                stored: stored_etag,
            });
        }
        if let Some(written) = write(conn, stored)? {
            return Ok(written);
        }
        if given_etag.is_some() {
            return Err(Error::EtagMismatch {
                name: name.to_string(),
                stored: stored_etag,
            });
        }
    }
    Err(Error::EtagMismatch {
        name: name.to_string(),
        stored: "(changing too often to update without an etag; retry)".into(),
    })
}

/// Maps an INSERT failure: a unique violation means the name is taken.
fn insert_error<'a>(name: &'a str, step: &'static str) -> impl FnOnce(DieselError) -> Error + 'a {
    move |e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Error::AlreadyExists(name.to_owned())
        }
        other => Error::db(step)(other),
    }
}
