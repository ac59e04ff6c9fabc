//! Webhook sinks' cursors: per sink name, the revision of the change log up to which every
//! change has been delivered, so that a restarted server goes on where it stopped.

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::schema::webhook_cursors;
use crate::{Error, Result};

/// The saved cursor of sink `name`, if any.
pub fn read(conn: &mut Conn, name: &str) -> Result<Option<i64>> {
    with_conn!(conn, |c| webhook_cursors::table
        .filter(webhook_cursors::name.eq(name))
        .select(webhook_cursors::revision)
        .first::<i64>(c)
        .optional())
    .map_err(Error::db("reading a webhook cursor"))
}

/// Saves `revision` as the cursor of sink `name`.
pub fn save(conn: &mut Conn, name: &str, revision: i64) -> Result<()> {
    conn.transaction(|conn| {
        // Read first, then update or insert: the same statements on every backend (no
        // dialect's upsert, and no reliance on MySQL's affected-rows count).
        if read(conn, name)?.is_some() {
            with_conn!(conn, |c| diesel::update(
                webhook_cursors::table.filter(webhook_cursors::name.eq(name))
            )
            .set(webhook_cursors::revision.eq(revision))
            .execute(c))
            .map_err(Error::db("saving a webhook cursor"))?;
        } else {
            with_conn!(conn, |c| diesel::insert_into(webhook_cursors::table)
                .values((
                    webhook_cursors::name.eq(name),
                    webhook_cursors::revision.eq(revision),
                ))
                .execute(c))
            .map_err(Error::db("saving a webhook cursor"))?;
        }
        Ok(())
    })
}
