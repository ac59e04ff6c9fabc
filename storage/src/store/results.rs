//! Result CRUD.

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::model::{
    NewResult, ResultName, ResultReplacement, StoredRecord, StoredResult, Timestamp,
};
use crate::rows::{RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::store::{insert_error, update_optimistically};
use crate::{Error, Result};

/// CreateResult: stores a new Result with the given uid, created at `now`.
pub fn create_result(
    conn: &mut Conn,
    new: NewResult,
    uid: String,
    now: Timestamp,
) -> Result<StoredResult> {
    if let Some(summary) = &new.summary {
        summary.validate()?;
    }
    let result = StoredResult {
        name: new.name,
        uid,
        create_time: now,
        update_time: now,
        annotations: new.annotations,
        summary: new.summary,
    };
    let row = ResultRow::from_model(&result);
    let full_name = result.name.to_string();
    with_conn!(conn, |c| diesel::insert_into(results::table)
        .values(&row)
        .execute(c))
    .map_err(insert_error(&full_name, "creating a result"))?;
    Ok(result)
}

/// GetResult.
pub fn get_result(conn: &mut Conn, name: &ResultName) -> Result<StoredResult> {
    find(conn, name)?.ok_or_else(|| Error::NotFound(format!("result {name}")))
}

/// The namespaces (parents) holding Results, in order, at most `limit` of them.
pub fn result_parents(conn: &mut Conn, limit: usize) -> Result<Vec<String>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    with_conn!(conn, |c| results::table
        .select(results::parent)
        .distinct()
        .order(results::parent.asc())
        .limit(limit)
        .load::<String>(c))
    .map_err(Error::db("listing the namespaces holding results"))
}

fn find(conn: &mut Conn, name: &ResultName) -> Result<Option<StoredResult>> {
    let row = with_conn!(conn, |c| results::table
        .filter(results::parent.eq(&name.parent))
        .filter(results::name.eq(&name.result))
        .select(ResultRow::as_select())
        .first(c)
        .optional())
    .map_err(Error::db("reading a result"))?;
    row.map(ResultRow::into_model).transpose()
}

/// UpdateResult: replaces annotations and summary. With an etag, fails unless it matches;
/// of concurrent updates carrying the same etag exactly one succeeds.
pub fn update_result(
    conn: &mut Conn,
    replacement: ResultReplacement,
    now: Timestamp,
) -> Result<StoredResult> {
    if let Some(summary) = &replacement.summary {
        summary.validate()?;
    }
    let name = &replacement.name;
    update_optimistically(
        conn,
        name,
        replacement.etag.as_deref(),
        |conn| get_result(conn, name),
        StoredResult::etag,
        |conn, stored| {
            let updated = StoredResult {
                annotations: replacement.annotations.clone(),
                summary: replacement.summary.clone(),
                update_time: now.after(stored.update_time),
                ..stored.clone()
            };
            let row = ResultRow::from_model(&updated);
            // Conditional on the update_time read: a concurrent writer makes this a no-op.
            let changed = with_conn!(conn, |c| diesel::update(
                results::table
                    .filter(results::id.eq(&stored.uid))
                    .filter(results::update_time.eq(stored.update_time.as_nanos()))
            )
            .set(&row)
            .execute(c))
            .map_err(Error::db("updating a result"))?;
            Ok((changed == 1).then_some(updated))
        },
    )
}

/// DeleteResult: removes the Result and, by cascade, its Records. Answers what was
/// deleted, as it was, for the change log: the Result and its Records.
pub fn delete_result(
    conn: &mut Conn,
    name: &ResultName,
) -> Result<(StoredResult, Vec<StoredRecord>)> {
    lock_result(conn, name)?;
    let result = get_result(conn, name)?;
    let records = with_conn!(conn, |c| records::table
        .filter(records::result_id.eq(&result.uid))
        .select(RecordRow::as_select())
        .load(c))
    .map_err(Error::db("reading the records of a result being deleted"))?
    .into_iter()
    .map(RecordRow::into_model)
    .collect();
    let deleted = with_conn!(conn, |c| diesel::delete(
        results::table.filter(results::id.eq(&result.uid))
    )
    .execute(c))
    .map_err(Error::db("deleting a result"))?;
    if deleted == 0 {
        return Err(Error::NotFound(format!("result {name}")));
    }
    Ok((result, records))
}

/// Locks the named Result's row for the rest of the transaction, so that no Record can be
/// added to it (their foreign key check waits) between reading its Records and deleting it:
/// every Record the cascade deletes is one that was read.
fn lock_result(conn: &mut Conn, name: &ResultName) -> Result<()> {
    let query = results::table
        .filter(results::parent.eq(&name.parent))
        .filter(results::name.eq(&name.result))
        .select(results::id);
    let found = match conn {
        Conn::Postgres(c) => {
            let c: &mut diesel::PgConnection = &mut *c;
            query.for_update().first::<String>(c).optional()
        }
        #[cfg(feature = "mysql")]
        Conn::Mysql(c) => {
            let c: &mut diesel::MysqlConnection = &mut *c;
            query.for_update().first::<String>(c).optional()
        }
        // SQLite has no row locks: a write takes the database's write lock, which the
        // transaction then holds until it ends.
        Conn::Sqlite(c) => {
            let c: &mut diesel::SqliteConnection = &mut *c;
            diesel::update(
                results::table
                    .filter(results::parent.eq(&name.parent))
                    .filter(results::name.eq(&name.result)),
            )
            .set(results::update_time.eq(results::update_time))
            .execute(c)
            .map(|n| (n > 0).then(String::new))
        }
    }
    .map_err(Error::db("locking a result"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!("result {name}"))),
    }
}
