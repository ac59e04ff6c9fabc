//! Seeding large tests fast: Results and Records inserted as given (uids and times
//! included) by multi-row INSERTs, in the caller's transaction. Nothing is logged in the
//! change log; the API's own writes are what the tests then exercise.

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::json::JsonText;
use crate::model::{StoredRecord, StoredResult};
use crate::rows::{NewRecordRow, RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::store::stored_size::stored_bytes;
use crate::{Error, Result};

/// Rows per INSERT (SQLite binds at most 32,766 values; a Record row has 14).
const ROWS: usize = 500;

/// Inserts `results`, then `records`, each with the uid of its Result.
pub fn insert_all(
    conn: &mut Conn,
    results: &[StoredResult],
    records: &[(String, StoredRecord)],
) -> Result<()> {
    let backend = conn.backend();
    let result_rows: Vec<ResultRow> = results.iter().map(ResultRow::from_model).collect();
    for chunk in result_rows.chunks(ROWS) {
        with_conn!(conn, |c| diesel::insert_into(results::table)
            .values(chunk)
            .execute(c))
        .map_err(Error::db("seeding results"))?;
    }
    let record_rows: Vec<NewRecordRow> = records
        .iter()
        .map(|(result_id, r)| {
            let row = RecordRow {
                id: r.uid.clone(),
                result_id: result_id.clone(),
                parent: r.name.parent.clone(),
                result_name: r.name.result.clone(),
                name: r.name.record.clone(),
                data_type: r.data.type_.clone(),
                data: (!r.data.value.is_empty())
                    .then(|| JsonText(String::from_utf8_lossy(&r.data.value).into_owned())),
                create_time: r.create_time.as_nanos(),
                update_time: r.update_time.as_nanos(),
                data_bytes: stored_bytes(&r.data.value, backend),
            };
            NewRecordRow::new(row, &r.data.value)
        })
        .collect();
    for chunk in record_rows.chunks(ROWS) {
        with_conn!(conn, |c| diesel::insert_into(records::table)
            .values(chunk)
            .execute(c))
        .map_err(Error::db("seeding records"))?;
    }
    Ok(())
}
