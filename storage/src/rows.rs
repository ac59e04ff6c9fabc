//! Database rows and their conversion to and from the domain model.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::json::{JsonStr, JsonText};
use crate::model::{
    RecordData, RecordName, RecordSummary, ResultName, Status, StoredRecord, StoredResult,
    Timestamp,
};
use crate::schema::{records, results};
use crate::{Error, Result};

/// A row of `results`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = results, treat_none_as_null = true)]
pub(crate) struct ResultRow {
    pub id: String,
    pub parent: String,
    pub name: String,
    pub annotations: JsonText,
    pub summary_record: Option<String>,
    pub summary_type: Option<String>,
    pub summary_status: Option<i32>,
    pub summary_start_time: Option<i64>,
    pub summary_end_time: Option<i64>,
    pub summary_annotations: Option<JsonText>,
    pub create_time: i64,
    pub update_time: i64,
}

/// A row of `records`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = records)]
pub(crate) struct RecordRow {
    pub id: String,
    pub result_id: String,
    pub parent: String,
    pub result_name: String,
    pub name: String,
    pub data_type: String,
    pub data: Option<JsonText>,
    pub create_time: i64,
    pub update_time: i64,
    /// The size of `data` as the backend hands it back (`store::stored_size`), for
    /// listings; NULL when not recorded. Not part of the model.
    pub data_bytes: Option<i64>,
}

/// A new row of `records`: its columns and what summaries read of its document
/// (`store::run_columns`).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = records)]
pub(crate) struct NewRecordRow {
    #[diesel(embed)]
    pub row: RecordRow,
    #[diesel(embed)]
    pub run: crate::store::run_columns::RunColumns,
}

impl NewRecordRow {
    /// `row`, with the `run_*` columns of `document` (its `data`, as bytes).
    pub(crate) fn new(row: RecordRow, document: &[u8]) -> NewRecordRow {
        NewRecordRow {
            row,
            run: crate::store::run_columns::run_columns(document),
        }
    }
}

pub(crate) fn annotations_json(map: &BTreeMap<String, String>) -> JsonText {
    JsonText(serde_json::to_string(map).expect("string maps serialise"))
}

fn annotations_from(json: &JsonText) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(&json.0).map_err(|e| Error::Corrupt(format!("annotations: {e}")))
}

impl ResultRow {
    /// Builds the row for `result`.
    pub(crate) fn from_model(result: &StoredResult) -> ResultRow {
        let summary = result.summary.as_ref();
        ResultRow {
            id: result.uid.clone(),
            parent: result.name.parent.clone(),
            name: result.name.result.clone(),
            annotations: annotations_json(&result.annotations),
            summary_record: summary.map(|s| s.record.clone()),
            summary_type: summary.map(|s| s.type_.clone()),
            summary_status: summary.map(|s| s.status as i32),
            summary_start_time: summary.and_then(|s| s.start_time).map(Timestamp::as_nanos),
            summary_end_time: summary.and_then(|s| s.end_time).map(Timestamp::as_nanos),
            summary_annotations: summary.map(|s| annotations_json(&s.annotations)),
            create_time: result.create_time.as_nanos(),
            update_time: result.update_time.as_nanos(),
        }
    }

    /// Decodes the row.
    pub(crate) fn into_model(self) -> Result<StoredResult> {
        let summary = match (self.summary_record, self.summary_type) {
            (Some(record), Some(type_)) => Some(RecordSummary {
                record,
                type_,
                start_time: self.summary_start_time.map(Timestamp::from_nanos),
                end_time: self.summary_end_time.map(Timestamp::from_nanos),
                status: Status::from_i32(self.summary_status.unwrap_or_default()),
                annotations: match &self.summary_annotations {
                    Some(json) => annotations_from(json)?,
                    None => BTreeMap::new(),
                },
            }),
            _ => None,
        };
        Ok(StoredResult {
            name: ResultName {
                parent: self.parent,
                result: self.name,
            },
            uid: self.id,
            create_time: Timestamp::from_nanos(self.create_time),
            update_time: Timestamp::from_nanos(self.update_time),
            annotations: annotations_from(&self.annotations)?,
            summary,
        })
    }
}

impl RecordRow {
    /// Decodes the row.
    pub(crate) fn into_model(self) -> StoredRecord {
        StoredRecord {
            name: RecordName {
                parent: self.parent,
                result: self.result_name,
                record: self.name,
            },
            uid: self.id,
            data: RecordData {
                type_: self.data_type,
                value: self.data.map(|j| j.0.into_bytes()).unwrap_or_default(),
            },
            create_time: Timestamp::from_nanos(self.create_time),
            update_time: Timestamp::from_nanos(self.update_time),
        }
    }
}

/// A record's JSON value borrowed for a write: NULL when empty.
pub(crate) fn json_str(value: &[u8]) -> Option<JsonStr<'_>> {
    if value.is_empty() {
        return None;
    }
    // Validated as JSON (hence UTF-8) when the RecordData was built.
    Some(JsonStr(
        std::str::from_utf8(value).expect("record documents are validated UTF-8"),
    ))
}
