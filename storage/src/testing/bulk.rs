//! Seeding large tests fast: Results and Records inserted as given (uids and times
//! included) by multi-row INSERTs, in the caller's transaction. Nothing is logged in the
//! change log; the API's own writes are what the tests then exercise.

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::json::JsonText;
use crate::model::{RecordData, RecordName, ResultName, StoredRecord, StoredResult, Timestamp};
use crate::rows::{NewRecordRow, RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::store::stored_size::stored_bytes;
use crate::{Error, Result};

/// Rows per INSERT (SQLite binds at most 32,766 values; a Record row has 14).
const ROWS: usize = 500;

/// A Result `name` (uid `result_uid`) holding one PipelineRun Record `record` (uid
/// `record_uid`) with `document`, both created at `at`: the rows [`insert_all`] takes.
pub fn pipeline_run(
    name: ResultName,
    result_uid: String,
    record: String,
    record_uid: String,
    document: Vec<u8>,
    at: Timestamp,
) -> Result<(StoredResult, (String, StoredRecord))> {
    let stored = StoredRecord {
        name: RecordName {
            parent: name.parent.clone(),
            result: name.result.clone(),
            record,
        },
        uid: record_uid,
        data: RecordData::new("tekton.dev/v1.PipelineRun".into(), document)?,
        create_time: at,
        update_time: at,
    };
    let result = StoredResult {
        name,
        uid: result_uid.clone(),
        create_time: at,
        update_time: at,
        annotations: Default::default(),
        summary: None,
    };
    Ok((result, (result_uid, stored)))
}

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

/// Seeds `n` Records (one per Result, in namespace `backfill`) as written before the
/// `run_*` columns existed (NULL); returns [`run_columns_counts`].
pub fn run_columns_fixture(conn: &mut Conn, n: usize) -> Result<(i64, i64)> {
    let mut results = Vec::new();
    let mut records = Vec::new();
    for i in 0..n {
        let name = ResultName::parse(&format!("backfill/results/r{i}"))?;
        let at = Timestamp::from_nanos(1_700_000_000_000_000_000 + i as i64);
        let doc = format!(
            r#"{{"status": {{"conditions": [{{"reason": "Succeeded"}}],
                "startTime": "2024-01-01T00:00:{:02}Z"}}}}"#,
            i % 60
        );
        let (result, record) = pipeline_run(
            name,
            format!("result-{i:07}"),
            "run".into(),
            format!("record-{i:07}"),
            doc.into_bytes(),
            at,
        )?;
        results.push(result);
        records.push(record);
    }
    conn.transaction(|c| insert_all(c, &results, &records))?;
    with_conn!(conn, |c| diesel::update(records::table)
        .set(crate::store::run_columns::RunColumns::default())
        .execute(c))
    .map_err(Error::db("clearing run columns"))?;
    run_columns_counts(conn)
}

/// How many Records have their `run_*` columns not extracted (NULL), and how many
/// extracted.
pub fn run_columns_counts(conn: &mut Conn) -> Result<(i64, i64)> {
    let states: Vec<Option<i16>> =
        with_conn!(conn, |c| records::table.select(records::run_state).load(c))
            .map_err(Error::db("counting run columns"))?;
    let nulls = states.iter().filter(|s| s.is_none()).count() as i64;
    Ok((nulls, states.len() as i64 - nulls))
}

/// Refreshes the planner's statistics of `results` and `records` after seeding, so that
/// the plans the tests pin are the plans of tables of that size.
pub fn analyze(conn: &mut Conn) {
    let analyze = match conn.backend() {
        crate::Backend::Sqlite => "ANALYZE",
        crate::Backend::Postgres => "ANALYZE results; ANALYZE records",
        crate::Backend::Mysql => "ANALYZE TABLE results, records",
    };
    with_conn!(conn, |c| {
        diesel::connection::SimpleConnection::batch_execute(c, analyze)
    })
    .expect("analyze");
}
