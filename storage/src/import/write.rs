//! Writing imported objects into our database, a batch at a time: first a plan (which are
//! here already under their uid, which clash with an object of another uid, which are new),
//! then one transaction inserting the new ones as they are (uid, times and all). Inserting
//! only what is absent by uid makes an interrupted import safe to run again.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::model::{StoredRecord, StoredResult};
use crate::rows::{json_str, NewRecordRow, RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::store::stored_size::stored_bytes;
use crate::{Error, Result};

/// What becomes of one imported object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Not here yet: to be inserted.
    New,
    /// Here already under its uid (an earlier, interrupted run imported it).
    Present,
    /// Not imported, for this reason.
    Skip(String),
}

/// A Record with the uid of the Result it belongs to (upstream's `result_id`).
#[derive(Debug, Clone)]
pub struct ImportedRecord {
    /// The Record.
    pub record: StoredRecord,
    /// Its Result's uid.
    pub result_id: String,
}

/// The fate of each Result of a batch, in order.
pub(crate) fn plan_results(conn: &mut Conn, batch: &[StoredResult]) -> Result<Vec<Fate>> {
    let uids: Vec<&str> = batch.iter().map(|r| r.uid.as_str()).collect();
    let present: HashSet<String> = with_conn!(conn, |c| results::table
        .filter(results::id.eq_any(&uids))
        .select(results::id)
        .load::<String>(c))
    .map_err(Error::db("reading which results are imported already"))?
    .into_iter()
    .collect();
    let parents: Vec<&str> = batch.iter().map(|r| r.name.parent.as_str()).collect();
    let names: Vec<&str> = batch.iter().map(|r| r.name.result.as_str()).collect();
    let taken: HashMap<(String, String), String> = with_conn!(conn, |c| results::table
        .filter(results::parent.eq_any(&parents))
        .filter(results::name.eq_any(&names))
        .select((results::parent, results::name, results::id))
        .load::<(String, String, String)>(c))
    .map_err(Error::db("reading which result names are taken"))?
    .into_iter()
    .map(|(parent, name, id)| ((parent, name), id))
    .collect();
    Ok(batch
        .iter()
        .map(|r| {
            if present.contains(&r.uid) {
                return Fate::Present;
            }
            let key = (r.name.parent.clone(), r.name.result.clone());
            match taken.get(&key) {
                Some(other) => Fate::Skip(format!(
                    "the name is taken by a result of another uid ({other})"
                )),
                None => Fate::New,
            }
        })
        .collect())
}

/// Inserts `batch` (planned [`Fate::New`]) in one transaction.
pub(crate) fn insert_results(conn: &mut Conn, batch: &[&StoredResult]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows: Vec<ResultRow> = batch.iter().map(|r| ResultRow::from_model(r)).collect();
    conn.transaction(|conn| {
        with_conn!(conn, |c| diesel::insert_into(results::table)
            .values(&rows)
            .execute(c))
        .map_err(Error::db("importing results"))?;
        Ok(())
    })
}

/// The fate of each Record of a batch, in order: its Result must be here under the uid
/// and name upstream gives it, and its name must be free.
pub(crate) fn plan_records(conn: &mut Conn, batch: &[ImportedRecord]) -> Result<Vec<Fate>> {
    let uids: Vec<&str> = batch.iter().map(|r| r.record.uid.as_str()).collect();
    let present: HashSet<String> = with_conn!(conn, |c| records::table
        .filter(records::id.eq_any(&uids))
        .select(records::id)
        .load::<String>(c))
    .map_err(Error::db("reading which records are imported already"))?
    .into_iter()
    .collect();
    let result_ids: Vec<&str> = batch.iter().map(|r| r.result_id.as_str()).collect();
    let owners: HashMap<String, (String, String)> = with_conn!(conn, |c| results::table
        .filter(results::id.eq_any(&result_ids))
        .select((results::id, results::parent, results::name))
        .load::<(String, String, String)>(c))
    .map_err(Error::db("reading the results of imported records"))?
    .into_iter()
    .map(|(id, parent, name)| (id, (parent, name)))
    .collect();
    let parents: Vec<&str> = batch
        .iter()
        .map(|r| r.record.name.parent.as_str())
        .collect();
    let result_names: Vec<&str> = batch
        .iter()
        .map(|r| r.record.name.result.as_str())
        .collect();
    let names: Vec<&str> = batch
        .iter()
        .map(|r| r.record.name.record.as_str())
        .collect();
    let taken: HashMap<(String, String, String), String> = with_conn!(conn, |c| records::table
        .filter(records::parent.eq_any(&parents))
        .filter(records::result_name.eq_any(&result_names))
        .filter(records::name.eq_any(&names))
        .select((
            records::parent,
            records::result_name,
            records::name,
            records::id,
        ))
        .load::<(String, String, String, String)>(c))
    .map_err(Error::db("reading which record names are taken"))?
    .into_iter()
    .map(|(parent, result, name, id)| ((parent, result, name), id))
    .collect();
    Ok(batch
        .iter()
        .map(|r| {
            let name = &r.record.name;
            if present.contains(&r.record.uid) {
                return Fate::Present;
            }
            match owners.get(&r.result_id) {
                None => {
                    return Fate::Skip(format!("its result (uid {}) was not imported", r.result_id))
                }
                Some((parent, result)) if *parent != name.parent || *result != name.result => {
                    return Fate::Skip(format!(
                        "its result (uid {}) is {parent}/results/{result}, not the one its \
                         name says",
                        r.result_id
                    ))
                }
                Some(_) => {}
            }
            let key = (
                name.parent.clone(),
                name.result.clone(),
                name.record.clone(),
            );
            match taken.get(&key) {
                Some(other) => Fate::Skip(format!(
                    "the name is taken by a record of another uid ({other})"
                )),
                None => Fate::New,
            }
        })
        .collect())
}

/// Inserts `batch` (planned [`Fate::New`]) in one transaction, with each document's size
/// as [`crate::store`] records it for listings and what summaries read of it.
pub(crate) fn insert_records(conn: &mut Conn, batch: &[&ImportedRecord]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let backend = conn.backend();
    let rows: Vec<NewRecordRow> = batch
        .iter()
        .map(|r| {
            let record = &r.record;
            let row = RecordRow {
                id: record.uid.clone(),
                result_id: r.result_id.clone(),
                parent: record.name.parent.clone(),
                result_name: record.name.result.clone(),
                name: record.name.record.clone(),
                data_type: record.data.type_.clone(),
                data: json_str(&record.data.value).map(|j| crate::json::JsonText(j.0.to_owned())),
                create_time: record.create_time.as_nanos(),
                update_time: record.update_time.as_nanos(),
                data_bytes: stored_bytes(&record.data.value, backend),
            };
            NewRecordRow::new(row, &record.data.value)
        })
        .collect();
    conn.transaction(|conn| {
        with_conn!(conn, |c| diesel::insert_into(records::table)
            .values(&rows)
            .execute(c))
        .map_err(Error::db("importing records"))?;
        Ok(())
    })
}

/// How many Results and Records our database holds.
pub(crate) fn counts(conn: &mut Conn) -> Result<(u64, u64)> {
    let results = with_conn!(conn, |c| results::table.count().get_result::<i64>(c))
        .map_err(Error::db("counting results"))?;
    let records = with_conn!(conn, |c| records::table.count().get_result::<i64>(c))
        .map_err(Error::db("counting records"))?;
    Ok((results as u64, records as u64))
}
