//! Result CRUD.

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::model::{NewResult, ResultName, ResultReplacement, StoredResult, Timestamp};
use crate::rows::ResultRow;
use crate::schema::results;
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

/// DeleteResult: removes the Result and, by cascade, its Records.
pub fn delete_result(conn: &mut Conn, name: &ResultName) -> Result<()> {
    let deleted = with_conn!(conn, |c| diesel::delete(
        results::table
            .filter(results::parent.eq(&name.parent))
            .filter(results::name.eq(&name.result))
    )
    .execute(c))
    .map_err(Error::db("deleting a result"))?;
    if deleted == 0 {
        return Err(Error::NotFound(format!("result {name}")));
    }
    Ok(())
}
