//! The indexes of indexed JSON paths (see [`crate::filter::IndexedPaths`] for what they
//! are and how filters use them): made, replaced and dropped at start-up so that the
//! database holds exactly the configured ones.
//!
//! # Per backend
//! Slot `i` is, for the path `$.p` (`{p}` on PostgreSQL):
//! - SQLite: `jp_i TEXT GENERATED ALWAYS AS (substr(json_extract(data, '$.p'), 1, 255))
//!   VIRTUAL` and `records_jp_i (jp_i, create_time, id)`;
//! - MariaDB: `jp_i VARCHAR(255) … AS (LEFT(JSON_UNQUOTE(JSON_EXTRACT(data, '$.p')), 255))
//!   VIRTUAL` and the same index (MariaDB does not match an expression to a generated
//!   column, so the filter names the column);
//! - PostgreSQL: an immutable SQL function `records_jp_i(jsonb)` returning
//!   `left(data #>> '{p}', 255)` and `records_jp_i (records_jp_i(data), create_time,
//!   id COLLATE "C")`, built `CONCURRENTLY` (writes go on meanwhile). No column: a stored
//!   generated column would rewrite the table, and the planner matches the function call
//!   the filter writes to the index's expression.
//!
//! Values are cut to 255 characters so that no document can exceed an index entry's size
//! limit (PostgreSQL refuses rows whose btree entry is over about 2.7 kB, MariaDB keys are
//! at most 3072 bytes).
//!
//! # Lifecycle
//! `json_path_indexes` (a migration) records which path each slot was made for. At
//! start-up, after the migrations and under the same lock ([`crate::migrate`]), each slot
//! is compared with the configuration: a slot whose path changed or that is no longer
//! configured loses its index (and column or function) and its row, first the row; a
//! configured slot without a row gets them, the row last. Every statement tolerates what
//! an interrupted run left (`IF EXISTS`, or a check first), so a crash at any point is
//! repaired by the next start. Index builds on a large table take a while: each is logged
//! with its duration.
//!
//! Several replicas starting at once take turns on the migration lock: the first builds,
//! the others then find every slot in place. A replica started with `migrate = false`
//! (or a read replica) uses only the slots whose recorded path matches its configuration
//! at the time it connects ([`active`]); filters on other paths just go unindexed.
//! Replicas with *different* lists must not run at once: one would drop or redefine the
//! slots the other's queries name (queries fail on a missing column or function; a
//! redefined slot makes its pre-filter drop rows until that replica restarts).
//!
//! DDL cannot bind parameters: the path text is written into it, and only after
//! `IndexedPaths::parse` checked every key against a whitelist that excludes every
//! character that could end a quoted string or path member.

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::connection::{with_conn, Backend, Conn};
use crate::filter::indexed::{IndexedPath, SLOT_COLUMNS, SLOT_INDEXES};
use crate::filter::{IndexedPaths, MAX_INDEXED_PATHS};
use crate::schema::json_path_indexes;
use crate::{Error, Result};

/// Makes the slots of `configured` and drops the others; returns the slots in use (all
/// of `configured`). Call under the migration lock.
pub(crate) fn sync(conn: &mut Conn, configured: &IndexedPaths) -> Result<IndexedPaths> {
    let recorded = recorded(conn)?;
    for slot in 0..MAX_INDEXED_PATHS {
        let want = configured.paths().iter().find(|p| p.slot() == slot);
        let have = recorded.iter().find(|(s, _)| *s == slot).map(|(_, p)| p);
        match (want, have) {
            (Some(want), Some(have)) if want.json_path() == *have => {}
            (want, have) => {
                if let Some(have) = have {
                    tracing::info!(slot, path = %have, "dropping the index of a JSON path no longer configured");
                    with_conn!(conn, |c| diesel::delete(
                        json_path_indexes::table.filter(json_path_indexes::slot.eq(slot as i32))
                    )
                    .execute(c))
                    .map_err(Error::db("forgetting an indexed JSON path"))?;
                    drop_slot(conn, slot)?;
                }
                if let Some(want) = want {
                    make_slot(conn, want)?;
                }
            }
        }
    }
    Ok(configured.clone())
}

/// The slots of `configured` that the database holds for the same paths, without
/// changing anything (for replicas that do not migrate). A database not migrated yet
/// holds none.
pub(crate) fn active(conn: &mut Conn, configured: &IndexedPaths) -> Result<IndexedPaths> {
    if configured.is_empty() {
        return Ok(IndexedPaths::none());
    }
    // None before the migration that makes the table.
    let recorded = recorded(conn).unwrap_or_default();
    let active = configured.only(|p| recorded.contains(&(p.slot(), p.json_path())));
    let missing: Vec<&str> = configured
        .paths()
        .iter()
        .filter(|p| !active.paths().contains(p))
        .map(|p| p.source())
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            ?missing,
            "indexed JSON paths configured but not (yet) indexed in the database: filters \
             on them read without the index until a replica that migrates has made them \
             and this one restarts"
        );
    }
    Ok(active)
}

/// `(slot, path)` as recorded.
fn recorded(conn: &mut Conn) -> Result<Vec<(usize, String)>> {
    let rows: Vec<(i32, String)> = with_conn!(conn, |c| json_path_indexes::table
        .select((json_path_indexes::slot, json_path_indexes::path))
        .load(c))
    .map_err(Error::db("reading the indexed JSON paths"))?;
    Ok(rows
        .into_iter()
        .map(|(slot, path)| (slot as usize, path))
        .collect())
}

/// Runs DDL text (see the module docs for why it may hold a path).
fn ddl(conn: &mut Conn, sql: &str) -> Result<()> {
    with_conn!(conn, |c| c.batch_execute(sql)).map_err(Error::db("changing a JSON path index"))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Drops slot `slot`'s index and column or function, if there.
fn drop_slot(conn: &mut Conn, slot: usize) -> Result<()> {
    let (index, column) = (SLOT_INDEXES[slot], SLOT_COLUMNS[slot]);
    match conn.backend() {
        Backend::Postgres => {
            ddl(conn, &format!("DROP INDEX IF EXISTS {index}"))?;
            ddl(conn, &format!("DROP FUNCTION IF EXISTS {index}(jsonb)"))
        }
        Backend::Mysql => {
            ddl(
                conn,
                &format!("ALTER TABLE records DROP INDEX IF EXISTS {index}"),
            )?;
            ddl(
                conn,
                &format!("ALTER TABLE records DROP COLUMN IF EXISTS {column}"),
            )
        }
        Backend::Sqlite => {
            ddl(conn, &format!("DROP INDEX IF EXISTS {index}"))?;
            let present: Count = with_conn!(conn, |c| diesel::sql_query(
                "SELECT COUNT(*) AS n FROM pragma_table_xinfo('records') WHERE name = ?"
            )
            .bind::<Text, _>(column)
            .get_result(c))
            .map_err(Error::db("reading the columns of records"))?;
            if present.n > 0 {
                ddl(conn, &format!("ALTER TABLE records DROP COLUMN {column}"))?;
            }
            Ok(())
        }
    }
}

/// Makes `path`'s slot (after clearing what an interrupted run may have left), then
/// records it.
fn make_slot(conn: &mut Conn, path: &IndexedPath) -> Result<()> {
    let slot = path.slot();
    drop_slot(conn, slot)?;
    let (index, column) = (SLOT_INDEXES[slot], SLOT_COLUMNS[slot]);
    // Safe to embed: `IndexedPaths::parse` allowed only ASCII letters, digits and `._/-`
    // in keys, none of which ends a quoted string, path member or array element.
    let (json_path, pg_path) = (path.json_path(), path.pg_path());
    tracing::info!(slot, path = %path.source(), "building the index of a JSON path");
    let started = Instant::now();
    match conn.backend() {
        Backend::Postgres => {
            ddl(
                conn,
                &format!(
                    "CREATE FUNCTION {index}(data jsonb) RETURNS text LANGUAGE sql \
                     IMMUTABLE PARALLEL SAFE AS $$ SELECT left(data #>> '{pg_path}', 255) $$"
                ),
            )?;
            ddl(
                conn,
                &format!(
                    "CREATE INDEX CONCURRENTLY {index} ON records \
                     ({index}(data), create_time, id COLLATE \"C\")"
                ),
            )?;
        }
        Backend::Mysql => {
            ddl(
                conn,
                &format!(
                    "ALTER TABLE records ADD COLUMN {column} VARCHAR(255) CHARACTER SET utf8mb4 \
                     COLLATE utf8mb4_nopad_bin \
                     AS (LEFT(JSON_UNQUOTE(JSON_EXTRACT(data, '{json_path}')), 255)) VIRTUAL"
                ),
            )?;
            ddl(
                conn,
                &format!("CREATE INDEX {index} ON records ({column}, create_time, id)"),
            )?;
        }
        Backend::Sqlite => {
            ddl(
                conn,
                &format!(
                    "ALTER TABLE records ADD COLUMN {column} TEXT GENERATED ALWAYS AS \
                     (substr(json_extract(data, '{json_path}'), 1, 255)) VIRTUAL"
                ),
            )?;
            ddl(
                conn,
                &format!("CREATE INDEX {index} ON records ({column}, create_time, id)"),
            )?;
        }
    }
    with_conn!(conn, |c| diesel::insert_into(json_path_indexes::table)
        .values((
            json_path_indexes::slot.eq(slot as i32),
            json_path_indexes::path.eq(&json_path),
        ))
        .execute(c))
    .map_err(Error::db("recording an indexed JSON path"))?;
    tracing::info!(
        slot,
        path = %path.source(),
        seconds = started.elapsed().as_secs_f64(),
        "built the index of a JSON path"
    );
    Ok(())
}
