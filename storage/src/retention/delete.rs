//! Deleting a batch of expired Results, with their Records, in the caller's (short)
//! transaction. Each Result goes only if it is unchanged since it was judged (same uid
//! and update time): one recreated under the same name, or updated meanwhile, stays and
//! is judged again by the next pass. Like DeleteResult, the rows are locked before their
//! Records are read, so every Record the cascade deletes is one that is answered (for the
//! change log's DELETED events).

use diesel::prelude::*;

use super::policy::Run;
use crate::connection::{with_conn, Conn};
use crate::model::{StoredRecord, StoredResult};
use crate::rows::{RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::{Error, Result};

/// Most Results one batch may delete (bind parameters stay well within every backend's
/// limit, and transactions short).
pub const MAX_BATCH: usize = 1000;

/// A deleted Result and its Records, as they were.
pub type Deleted = (StoredResult, Vec<StoredRecord>);

/// Deletes those of `runs` that are unchanged since they were read; answers what was
/// deleted. Call it inside a transaction.
pub fn delete_runs(conn: &mut Conn, runs: &[Run]) -> Result<Vec<Deleted>> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    if runs.len() > MAX_BATCH {
        return Err(Error::InvalidArgument(format!(
            "a retention batch deletes at most {MAX_BATCH} results, not {}",
            runs.len()
        )));
    }
    let mut uids: Vec<&str> = runs.iter().map(|r| r.uid.as_str()).collect();
    // One lock order for every batch.
    uids.sort_unstable();
    let locked = lock(conn, &uids)?;
    let victims: Vec<StoredResult> = locked
        .into_iter()
        .map(ResultRow::into_model)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|stored| {
            runs.iter()
                .any(|r| r.uid == stored.uid && r.update_time == stored.update_time)
        })
        .collect();
    if victims.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = victims.iter().map(|r| r.uid.as_str()).collect();
    let rows: Vec<RecordRow> = with_conn!(conn, |c| records::table
        .filter(records::result_id.eq_any(&ids))
        .select(RecordRow::as_select())
        .load(c))
    .map_err(Error::db("reading the records of expired results"))?;
    let mut by_result: std::collections::HashMap<String, Vec<StoredRecord>> =
        std::collections::HashMap::new();
    for row in rows {
        let result_id = row.result_id.clone();
        by_result
            .entry(result_id)
            .or_default()
            .push(row.into_model());
    }
    with_conn!(conn, |c| diesel::delete(
        results::table.filter(results::id.eq_any(&ids))
    )
    .execute(c))
    .map_err(Error::db("deleting expired results"))?;
    Ok(victims
        .into_iter()
        .map(|result| {
            let records = by_result.remove(&result.uid).unwrap_or_default();
            (result, records)
        })
        .collect())
}

/// Locks the rows of `uids` (those still there) for the rest of the transaction and
/// reads them.
fn lock(conn: &mut Conn, uids: &[&str]) -> Result<Vec<ResultRow>> {
    macro_rules! query {
        () => {
            results::table
                .filter(results::id.eq_any(uids))
                .order(results::id.asc())
                .select(ResultRow::as_select())
        };
    }
    let rows = match conn {
        Conn::Postgres(c) => {
            let c: &mut diesel::PgConnection = &mut *c;
            query!().for_update().load(c)
        }
        #[cfg(feature = "mysql")]
        Conn::Mysql(c) => {
            let c: &mut diesel::MysqlConnection = &mut *c;
            query!().for_update().load(c)
        }
        // SQLite has no row locks: a write takes the database's write lock, held until
        // the transaction ends; then the rows are read.
        Conn::Sqlite(c) => {
            let c: &mut diesel::SqliteConnection = &mut *c;
            diesel::update(results::table.filter(results::id.eq_any(uids)))
                .set(results::update_time.eq(results::update_time))
                .execute(c)
                .and_then(|_| query!().load(c))
        }
    };
    rows.map_err(Error::db("locking expired results"))
}
