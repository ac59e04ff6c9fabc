//! The change log: appended to by every writing transaction just before it commits, read
//! in revision order by watch streams and webhook sinks, pruned by age and size.
//!
//! Order: [`append`] bumps the one-row `change_log_head` last in its transaction. Its row
//! lock is held until the commit, so two transactions that log changes commit in the order
//! of their revisions, and a reader that sees revision N also sees every revision before
//! it. Reading `revision > last` therefore never skips a change committed later with a
//! smaller revision. The lock is held only from the bump to the commit.

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::model::change::{decode, encode};
use crate::model::{Change, ChangeKind, ChangeLogHead, NewChange, Timestamp};
use crate::schema::{change_log_head, changes};
use crate::{Error, Result};

#[derive(Insertable)]
#[diesel(table_name = changes)]
struct ChangeRow<'a> {
    revision: i64,
    parent: &'a str,
    result_name: &'a str,
    record_name: &'a str,
    kind: i32,
    change_time: i64,
    object: Vec<u8>,
}

/// Most rows in one INSERT statement (SQLite binds at most 32,766 values; 7 per row).
const ROWS_PER_INSERT: usize = 500;

/// Logs `changes`, committed at `now`, in the caller's transaction (which must be open):
/// assigns them the next revisions, in order. Call it last before committing.
pub fn append(conn: &mut Conn, changes: &[NewChange], now: Timestamp) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let encoded = changes
        .iter()
        .map(|c| encode(&c.object))
        .collect::<Result<Vec<_>>>()?;
    let n = i64::try_from(changes.len()).expect("a batch fits in i64");
    let bump = diesel::update(change_log_head::table.filter(change_log_head::id.eq(1)))
        .set(change_log_head::revision.eq(change_log_head::revision + n));
    // One round trip where the dialect allows it.
    let last: Result<i64, diesel::result::Error> = if let Conn::Postgres(c) = &mut *conn {
        let c: &mut diesel::PgConnection = &mut *c;
        bump.returning(change_log_head::revision).get_result(c)
    } else {
        with_conn!(conn, |c| bump.execute(c).and_then(|_| {
            // The row was just updated by this transaction: every backend reads its own
            // update.
            change_log_head::table
                .filter(change_log_head::id.eq(1))
                .select(change_log_head::revision)
                .first(c)
        }))
    };
    let last = last.map_err(Error::db("assigning change revisions"))?;
    let first = last - n + 1;
    let rows: Vec<ChangeRow<'_>> = changes
        .iter()
        .zip(encoded)
        .zip(first..)
        .map(|((change, object), revision)| ChangeRow {
            revision,
            parent: change.object.parent(),
            result_name: change.object.result(),
            record_name: change.object.record(),
            kind: change.kind as i32,
            change_time: now.as_nanos(),
            object,
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        with_conn!(conn, |c| diesel::insert_into(changes::table)
            .values(chunk)
            .execute(c))
        .map_err(Error::db("logging changes"))?;
    }
    Ok(())
}

/// Where the log stands now.
pub fn head(conn: &mut Conn) -> Result<ChangeLogHead> {
    let (revision, pruned_through) = with_conn!(conn, |c| change_log_head::table
        .filter(change_log_head::id.eq(1))
        .select((change_log_head::revision, change_log_head::pruned_through))
        .first::<(i64, i64)>(c))
    .map_err(Error::db("reading the change log head"))?;
    Ok(ChangeLogHead {
        revision,
        pruned_through,
    })
}

type Row = (i64, String, String, String, i32, i64, Vec<u8>);

/// The changes with `after < revision <= through`, oldest first, at most `limit`.
pub fn read(conn: &mut Conn, after: i64, through: i64, limit: usize) -> Result<Vec<Change>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<Row> = with_conn!(conn, |c| changes::table
        .filter(changes::revision.gt(after))
        .filter(changes::revision.le(through))
        .order(changes::revision.asc())
        .limit(limit)
        .select((
            changes::revision,
            changes::parent,
            changes::result_name,
            changes::record_name,
            changes::kind,
            changes::change_time,
            changes::object,
        ))
        .load(c))
    .map_err(Error::db("reading the change log"))?;
    rows.into_iter()
        .map(|(revision, parent, result, record, kind, time, object)| {
            Ok(Change {
                revision,
                time: Timestamp::from_nanos(time),
                kind: ChangeKind::from_i32(kind)?,
                object: decode(parent, result, record, &object)?,
            })
        })
        .collect()
}

/// What [`prune`] keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Changes committed before this are pruned.
    pub older_than: Timestamp,
    /// At most this many of the newest changes are kept.
    pub max_changes: u64,
    /// Rows deleted per transaction, so that pruning never holds long locks.
    pub batch: usize,
}

/// Deletes, in one transaction, the oldest changes that `retention` no longer keeps, at
/// most `retention.batch` of them; answers how many were deleted. Callers repeat it while
/// it deletes a full batch, so that pruning never holds long locks.
pub fn prune(conn: &mut Conn, retention: Retention) -> Result<u64> {
    let batch = i64::try_from(retention.batch.max(1)).unwrap_or(i64::MAX);
    let max_changes = i64::try_from(retention.max_changes).unwrap_or(i64::MAX);
    let head = head(conn)?;
    let by_size = head.revision.saturating_sub(max_changes);
    // The oldest rows; times grow with revisions (both follow the commit order, up to
    // clock steps), so the pruned prefix ends at the last one too old.
    let oldest: Vec<(i64, i64)> = with_conn!(conn, |c| changes::table
        .order(changes::revision.asc())
        .limit(batch)
        .select((changes::revision, changes::change_time))
        .load(c))
    .map_err(Error::db("reading the oldest changes"))?;
    let through = oldest
        .iter()
        .take_while(|(revision, time)| {
            *revision <= by_size || *time < retention.older_than.as_nanos()
        })
        .map(|(revision, _)| *revision)
        .last();
    let Some(through) = through else {
        return Ok(0);
    };
    // The head first, as writers lock it (last): the same lock order, no deadlock.
    conn.transaction(|conn| {
        with_conn!(conn, |c| diesel::update(
            change_log_head::table
                .filter(change_log_head::id.eq(1))
                .filter(change_log_head::pruned_through.lt(through))
        )
        .set(change_log_head::pruned_through.eq(through))
        .execute(c))
        .map_err(Error::db("recording how far the change log is pruned"))?;
        let n = with_conn!(conn, |c| diesel::delete(
            changes::table.filter(changes::revision.le(through))
        )
        .execute(c))
        .map_err(Error::db("pruning the change log"))?;
        Ok(n as u64)
    })
}
