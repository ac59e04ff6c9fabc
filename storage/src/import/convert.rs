//! Upstream rows into our model, as upstream's own API shows them: names
//! `<parent>/results/<name>`, uid = id, times (µs there, ns here), annotations, the summary
//! when `recordsummary_record` is not empty, the record's type and document. Whatever our
//! validation refuses becomes a skip reason, never an error.

use std::collections::BTreeMap;

use diesel::data_types::PgTimestamp;

use super::upstream::{UpstreamRecord, UpstreamResult};
use crate::limits::{check_annotations, MAX_DOCUMENT_BYTES};
use crate::model::{
    RecordData, RecordName, RecordSummary, ResultName, Status, StoredRecord, StoredResult,
    Timestamp,
};

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Longest uid kept (upstream's column is `varchar(64)`).
const MAX_UID_BYTES: usize = 64;

/// A PostgreSQL timestamp in our nanoseconds; `None` outside what they hold (1678…2262).
fn nanos(t: PgTimestamp) -> Option<Timestamp> {
    t.0.checked_add(PG_EPOCH_MICROS)?
        .checked_mul(1000)
        .map(Timestamp::from_nanos)
}

fn time(t: Option<PgTimestamp>, column: &str) -> Result<Timestamp, String> {
    let t = t.ok_or_else(|| format!("{column} is NULL"))?;
    nanos(t).ok_or_else(|| format!("{column} is outside the years 1678 to 2262"))
}

fn optional_time(t: Option<PgTimestamp>, column: &str) -> Result<Option<Timestamp>, String> {
    t.map(|t| nanos(t).ok_or_else(|| format!("{column} is outside the years 1678 to 2262")))
        .transpose()
}

/// An annotations column: SQL NULL and JSON `null` (what gorm writes for an empty map) are
/// no annotations.
fn annotations(json: Option<&str>, column: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(json) = json else {
        return Ok(BTreeMap::new());
    };
    let map: Option<BTreeMap<String, String>> = serde_json::from_str(json)
        .map_err(|e| format!("{column} is not an object of strings: {e}"))?;
    let map = map.unwrap_or_default();
    check_annotations(column, map.iter()).map_err(|e| e.to_string())?;
    Ok(map)
}

fn uid(id: &str) -> Result<String, String> {
    if id.is_empty() || id.len() > MAX_UID_BYTES || id.contains('\0') {
        return Err(format!(
            "uid {id:?} is empty, longer than {MAX_UID_BYTES} bytes or holds NUL"
        ));
    }
    Ok(id.to_owned())
}

/// The full name upstream shows for a Result row (also for rows we refuse).
pub fn result_display_name(row: &UpstreamResult) -> String {
    format!("{}/results/{}", row.parent, row.name)
}

/// The full name upstream shows for a Record row.
pub fn record_display_name(row: &UpstreamRecord) -> String {
    format!(
        "{}/results/{}/records/{}",
        row.parent, row.result_name, row.name
    )
}

/// The Result an upstream row describes, or why it cannot be kept.
pub fn result(row: &UpstreamResult) -> Result<StoredResult, String> {
    let name = ResultName::parse(&result_display_name(row)).map_err(|e| e.to_string())?;
    let summary = match row.summary_record.as_deref() {
        None | Some("") => None,
        Some(record) => {
            let status = row.summary_status.unwrap_or_default();
            let summary = RecordSummary {
                record: record.to_owned(),
                type_: row.summary_type.clone().unwrap_or_default(),
                start_time: optional_time(row.summary_start_time, "recordsummary_start_time")?,
                end_time: optional_time(row.summary_end_time, "recordsummary_end_time")?,
                status: Status::parse(status).map_err(|e| e.to_string())?,
                annotations: annotations(
                    row.summary_annotations.as_deref(),
                    "recordsummary_annotations",
                )?,
            };
            summary.validate().map_err(|e| e.to_string())?;
            Some(summary)
        }
    };
    Ok(StoredResult {
        name,
        uid: uid(&row.id)?,
        create_time: time(row.created_time, "created_time")?,
        update_time: time(row.updated_time, "updated_time")?,
        annotations: annotations(row.annotations.as_deref(), "annotations")?,
        summary,
    })
}

/// The Record an upstream row describes (its document taken out of the row, not copied),
/// or why it cannot be kept.
pub fn record(row: &mut UpstreamRecord) -> Result<StoredRecord, String> {
    let name = RecordName::parse(&record_display_name(row)).map_err(|e| e.to_string())?;
    let value = match (row.data.take(), row.data_bytes) {
        (Some(json), _) => json.into_bytes(),
        (None, Some(bytes)) => {
            return Err(format!(
                "data is {bytes} bytes of JSON; the limit is {MAX_DOCUMENT_BYTES} bytes"
            ))
        }
        (None, None) => Vec::new(),
    };
    let data =
        RecordData::new(row.type_.clone().unwrap_or_default(), value).map_err(|e| e.to_string())?;
    Ok(StoredRecord {
        name,
        uid: uid(&row.id)?,
        data,
        create_time: time(row.created_time, "created_time")?,
        update_time: time(row.updated_time, "updated_time")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> UpstreamResult {
        UpstreamResult {
            parent: "ns".into(),
            id: "uid-1".into(),
            name: "r".into(),
            annotations: Some("null".into()),
            created_time: Some(PgTimestamp(1)),
            updated_time: Some(PgTimestamp(2)),
            summary_record: Some(String::new()),
            summary_type: None,
            summary_start_time: None,
            summary_end_time: None,
            summary_status: None,
            summary_annotations: None,
        }
    }

    #[test]
    fn results_keep_what_upstream_shows() {
        let r = result(&row()).unwrap();
        assert_eq!(r.name.to_string(), "ns/results/r");
        assert!(r.annotations.is_empty());
        assert!(r.summary.is_none(), "an empty summary record is no summary");
        assert_eq!(r.create_time.as_nanos(), (PG_EPOCH_MICROS + 1) * 1000);
        // Upstream's etag is "<id>-<UnixNano(updated_time)>": ours comes out the same.
        assert_eq!(r.etag(), format!("uid-1-{}", (PG_EPOCH_MICROS + 2) * 1000));
        let with_summary = UpstreamResult {
            summary_record: Some("ns/results/r/records/a".into()),
            summary_type: Some("tekton.dev/v1.TaskRun".into()),
            summary_status: Some(3),
            summary_annotations: Some(r#"{"k":"v"}"#.into()),
            ..row()
        };
        let summary = result(&with_summary).unwrap().summary.unwrap();
        assert_eq!(summary.status, Status::Timeout);
        assert_eq!(summary.annotations["k"], "v");
        assert_eq!(summary.start_time, None);
    }

    #[test]
    fn what_we_refuse_is_a_reason() {
        let cases = [
            (
                UpstreamResult {
                    name: "Bad".into(),
                    ..row()
                },
                "'_' and '-'",
            ),
            (
                UpstreamResult {
                    created_time: None,
                    ..row()
                },
                "created_time is NULL",
            ),
            (
                UpstreamResult {
                    created_time: Some(PgTimestamp(i64::MAX / 2)),
                    ..row()
                },
                "outside the years",
            ),
            (
                UpstreamResult {
                    annotations: Some("[1]".into()),
                    ..row()
                },
                "not an object of strings",
            ),
            (
                UpstreamResult {
                    summary_record: Some("nope".into()),
                    summary_type: Some("t".into()),
                    ..row()
                },
                "not a record name",
            ),
            (
                UpstreamResult {
                    summary_record: Some("ns/results/r/records/a".into()),
                    summary_type: Some("t".into()),
                    summary_status: Some(9),
                    ..row()
                },
                "is not a status",
            ),
        ];
        for (row, needle) in cases {
            let err = result(&row).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
