//! Record CRUD.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, SmallInt, Text};

use crate::json::Json;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::connection::{with_conn, Backend, Conn};
use crate::model::change::encode;
use crate::model::{
    ChangeKind, ChangedObject, NewChange, NewRecord, Projection, RecordName, RecordPatch,
    ResultName, StoredRecord, Timestamp,
};
use crate::rows::{json_str, RecordRow};
use crate::schema::{records, results};
use crate::store::run_columns::run_columns;
use crate::store::stored_size::stored_bytes;
use crate::store::{changes, projection};
use crate::store::{insert_error, update_optimistically};
use crate::{Error, Result};

/// CreateRecord: stores a new Record, with its document's size for listings (see
/// [`super::stored_size`]) and what summaries read of it ([`super::run_columns`]); its
/// Result must exist.
pub fn create_record(
    conn: &mut Conn,
    new: NewRecord,
    uid: String,
    now: Timestamp,
) -> Result<StoredRecord> {
    let result_name = new.name.result_name();
    let record = StoredRecord {
        name: new.name,
        uid,
        data: new.data,
        create_time: now,
        update_time: now,
    };
    // The row's result_id is filled in from the Result itself: one round trip, and no
    // row at all when the Result does not exist.
    let full_name = record.name.to_string();
    let create_time = record.create_time.as_nanos();
    let data_bytes = stored_bytes(&record.data.value, conn.backend());
    let run = run_columns(&record.data.value);
    let inserted = with_conn!(conn, |c| diesel::insert_into(records::table)
        .values(
            results::table
                .filter(results::parent.eq(&result_name.parent))
                .filter(results::name.eq(&result_name.result))
                .select((
                    record.uid.as_str().into_sql::<Text>(),
                    results::id,
                    record.name.parent.as_str().into_sql::<Text>(),
                    record.name.result.as_str().into_sql::<Text>(),
                    record.name.record.as_str().into_sql::<Text>(),
                    record.data.type_.as_str().into_sql::<Text>(),
                    json_str(&record.data.value).into_sql::<Nullable<Json>>(),
                    create_time.into_sql::<BigInt>(),
                    create_time.into_sql::<BigInt>(),
                    data_bytes.into_sql::<Nullable<BigInt>>(),
                    run.run_state.into_sql::<Nullable<SmallInt>>(),
                    run.run_reason.into_sql::<Nullable<SmallInt>>(),
                    run.run_start.into_sql::<Nullable<BigInt>>(),
                    run.run_end.into_sql::<Nullable<BigInt>>(),
                )),
        )
        .into_columns((
            records::id,
            records::result_id,
            records::parent,
            records::result_name,
            records::name,
            records::data_type,
            records::data,
            records::create_time,
            records::update_time,
            records::data_bytes,
            records::run_state,
            records::run_reason,
            records::run_start,
            records::run_end,
        ))
        .execute(c))
    .map_err(create_error(&result_name, &full_name))?;
    if inserted == 0 {
        return Err(missing_result(&result_name));
    }
    Ok(record)
}

/// A create's Result is missing (no row was inserted).
fn missing_result(result: &ResultName) -> Error {
    Error::NotFound(format!("result {result}"))
}

/// What a failed insert of Record `name` into `result` tells its caller: the Result was
/// deleted while the insert ran (not found), the name is taken, or why the database failed.
fn create_error<'a>(
    result: &'a ResultName,
    name: &'a str,
) -> impl FnOnce(DieselError) -> Error + 'a {
    move |e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            missing_result(result)
        }
        other => insert_error(name, "creating a record")(other),
    }
}

/// CreateRecord and its change-log entry (kind added), committed on their own: on
/// PostgreSQL one autocommit statement (the insert, the head's bump and the change in
/// data-modifying CTEs: one round trip instead of five); elsewhere [`create_record`] and
/// [`changes::append`] in one transaction. The head is bumped only when the Record was
/// inserted, and its row lock is held until the statement commits, as `append` requires.
/// Must not be called inside a transaction (the caller's would not include the bump
/// last).
pub fn create_record_logged(
    conn: &mut Conn,
    new: NewRecord,
    uid: String,
    now: Timestamp,
) -> Result<StoredRecord> {
    let Conn::Postgres(pg) = &mut *conn else {
        return conn.transaction(|conn| {
            let record = create_record(conn, new, uid, now)?;
            let change = NewChange {
                kind: ChangeKind::Added,
                object: ChangedObject::Record(record),
            };
            changes::append(conn, std::slice::from_ref(&change), now)?;
            let ChangedObject::Record(record) = change.object else {
                unreachable!("the change is the record's")
            };
            Ok(record)
        });
    };
    let result_name = new.name.result_name();
    let object = ChangedObject::Record(StoredRecord {
        name: new.name,
        uid,
        data: new.data,
        create_time: now,
        update_time: now,
    });
    let encoded = encode(&object)?;
    let ChangedObject::Record(record) = object else {
        unreachable!("the object is a record")
    };
    let full_name = record.name.to_string();
    let data_bytes = stored_bytes(&record.data.value, Backend::Postgres);
    let run = run_columns(&record.data.value);
    let pg: &mut diesel::PgConnection = &mut *pg;
    let logged = diesel::sql_query(CREATE_RECORD_LOGGED_PG)
        .bind::<Text, _>(&record.uid)
        .bind::<Text, _>(&record.name.parent)
        .bind::<Text, _>(&record.name.result)
        .bind::<Text, _>(&record.name.record)
        .bind::<Text, _>(&record.data.type_)
        .bind::<Nullable<Text>, _>(json_str(&record.data.value).map(|j| j.0))
        .bind::<BigInt, _>(now.as_nanos())
        .bind::<Nullable<BigInt>, _>(data_bytes)
        .bind::<Binary, _>(&encoded)
        .bind::<Nullable<SmallInt>, _>(run.run_state)
        .bind::<Nullable<SmallInt>, _>(run.run_reason)
        .bind::<Nullable<BigInt>, _>(run.run_start)
        .bind::<Nullable<BigInt>, _>(run.run_end)
        .execute(pg)
        .map_err(create_error(&result_name, &full_name))?;
    if logged == 0 {
        return Err(missing_result(&result_name));
    }
    Ok(record)
}

/// [`create_record_logged`] on PostgreSQL: `$1` uid, `$2` parent, `$3` Result, `$4` name,
/// `$5` type, `$6` document text (NULL for none), `$7` create (and update and change) time,
/// `$8` document size, `$9` the change's encoded object, `$10`–`$13` what summaries read
/// ([`super::run_columns`]). The Record's columns and values are [`create_record`]'s; the
/// change row is [`changes::append`]'s.
const CREATE_RECORD_LOGGED_PG: &str = "\
WITH inserted AS (
    INSERT INTO records (id, result_id, parent, result_name, name, data_type, data,
                         create_time, update_time, data_bytes,
                         run_state, run_reason, run_start, run_end)
    SELECT $1, results.id, $2, $3, $4, $5, CAST($6 AS jsonb), $7, $7, $8, $10, $11, $12, $13
    FROM results WHERE results.parent = $2 AND results.name = $3
    RETURNING 1
), head AS (
    UPDATE change_log_head SET revision = revision + 1
    WHERE id = 1 AND EXISTS (SELECT 1 FROM inserted)
    RETURNING revision
)
INSERT INTO changes (revision, parent, result_name, record_name, kind, change_time, object)
SELECT head.revision, $2, $3, $4, 1, $7, $9 FROM head";

/// GetRecord.
pub fn get_record(conn: &mut Conn, name: &RecordName) -> Result<StoredRecord> {
    let row = with_conn!(conn, |c| records::table
        .filter(records::parent.eq(&name.parent))
        .filter(records::result_name.eq(&name.result))
        .filter(records::name.eq(&name.record))
        .select(RecordRow::as_select())
        .first(c)
        .optional())
    .map_err(Error::db("reading a record"))?;
    row.map(RecordRow::into_model)
        .ok_or_else(|| Error::NotFound(format!("record {name}")))
}

/// GetRecord returning only what `projection` asks of the document (see
/// [`Projection`]); [`Projection::Whole`] is [`get_record`].
pub fn get_record_projected(
    conn: &mut Conn,
    name: &RecordName,
    projection: &Projection,
) -> Result<StoredRecord> {
    if *projection == Projection::Whole {
        return get_record(conn, name);
    }
    let columns = projection::columns(projection, conn.backend());
    conn.note_statement_shape(columns.6.shape());
    let row: Option<RecordRow> = with_conn!(conn, |c| records::table
        .filter(records::parent.eq(&name.parent))
        .filter(records::result_name.eq(&name.result))
        .filter(records::name.eq(&name.record))
        .select(columns)
        .first(c)
        .optional())
    .map_err(Error::db("reading a record"))?;
    let row = row.ok_or_else(|| Error::NotFound(format!("record {name}")))?;
    projection::decode(projection, row)
}

/// UpdateRecord: merges non-empty fields, and stores the document's size (also for a row
/// written before sizes were stored). With an etag, fails unless it matches; of
/// concurrent updates carrying the same etag exactly one succeeds.
pub fn update_record(conn: &mut Conn, patch: RecordPatch, now: Timestamp) -> Result<StoredRecord> {
    let name = &patch.name;
    update_optimistically(
        conn,
        name,
        patch.etag.as_deref(),
        |conn| get_record(conn, name),
        StoredRecord::etag,
        |conn, stored| {
            let mut updated = stored.clone();
            patch.apply(&mut updated.data);
            updated.update_time = now.after(stored.update_time);
            let data_bytes = stored_bytes(&updated.data.value, conn.backend());
            let run = run_columns(&updated.data.value);
            // Conditional on the update_time read: a concurrent writer makes this a no-op.
            let changed = with_conn!(conn, |c| diesel::update(
                records::table
                    .filter(records::id.eq(&stored.uid))
                    .filter(records::update_time.eq(stored.update_time.as_nanos()))
            )
            .set((
                records::data_type.eq(&updated.data.type_),
                records::data.eq(json_str(&updated.data.value)),
                records::data_bytes.eq(data_bytes),
                run,
                records::update_time.eq(updated.update_time.as_nanos()),
            ))
            .execute(c))
            .map_err(Error::db("updating a record"))?;
            Ok((changed == 1).then_some(updated))
        },
    )
}

/// DeleteRecord: answers the Record as it was, for the change log.
pub fn delete_record(conn: &mut Conn, name: &RecordName) -> Result<StoredRecord> {
    let record = get_record(conn, name)?;
    let deleted = with_conn!(conn, |c| diesel::delete(
        records::table.filter(records::id.eq(&record.uid))
    )
    .execute(c))
    .map_err(Error::db("deleting a record"))?;
    if deleted == 0 {
        return Err(Error::NotFound(format!("record {name}")));
    }
    Ok(record)
}
