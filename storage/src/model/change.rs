//! Changes: one entry of the change log per committed write of a Result or Record, in
//! revision order. Watch streams and webhook sinks read it; it is written in the same
//! transaction as the write it records (see `store::changes`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::model::{
    RecordData, RecordName, RecordSummary, ResultName, Status, StoredRecord, StoredResult,
    Timestamp,
};
use crate::{Error, Result};

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// Created.
    Added = 1,
    /// Updated.
    Modified = 2,
    /// Deleted (the object is its last state).
    Deleted = 3,
}

impl ChangeKind {
    /// From the stored number.
    pub fn from_i32(value: i32) -> Result<ChangeKind> {
        match value {
            1 => Ok(ChangeKind::Added),
            2 => Ok(ChangeKind::Modified),
            3 => Ok(ChangeKind::Deleted),
            other => Err(Error::Corrupt(format!("change kind {other}"))),
        }
    }
}

/// The object a change is about, as it was after the change (before it, for a deletion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedObject {
    /// A Result.
    Result(StoredResult),
    /// A Record.
    Record(StoredRecord),
}

impl ChangedObject {
    /// The namespace (parent) it lives in.
    pub fn parent(&self) -> &str {
        match self {
            ChangedObject::Result(r) => &r.name.parent,
            ChangedObject::Record(r) => &r.name.parent,
        }
    }

    /// The Result it is or belongs to.
    pub fn result(&self) -> &str {
        match self {
            ChangedObject::Result(r) => &r.name.result,
            ChangedObject::Record(r) => &r.name.result,
        }
    }

    /// The Record's own name segment; empty for a Result.
    pub fn record(&self) -> &str {
        match self {
            ChangedObject::Result(_) => "",
            ChangedObject::Record(r) => &r.name.record,
        }
    }
}

/// A change about to be logged: its revision is assigned when it is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// What happened.
    pub kind: ChangeKind,
    /// To what.
    pub object: ChangedObject,
}

/// A logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its place in the log: grows with every committed change, in commit order.
    pub revision: i64,
    /// When it was committed (the writer's clock).
    pub time: Timestamp,
    /// What happened.
    pub kind: ChangeKind,
    /// To what.
    pub object: ChangedObject,
}

/// Where the change log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeLogHead {
    /// The newest revision assigned (0 before the first change).
    pub revision: i64,
    /// Every change up to and including this revision has been pruned: a watch may resume
    /// only from here on.
    pub pruned_through: i64,
}

// The stored encoding of objects: compact JSON, the record document embedded as JSON.

#[derive(Serialize, Deserialize)]
struct SummaryJson {
    record: String,
    #[serde(rename = "type")]
    type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<i64>,
    status: i32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct ResultJson {
    uid: String,
    created: i64,
    updated: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    summary: Option<SummaryJson>,
}

#[derive(Serialize, Deserialize)]
struct RecordJson<'a> {
    uid: String,
    created: i64,
    updated: i64,
    #[serde(rename = "type")]
    type_: String,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    value: Option<&'a RawValue>,
}

/// The stored bytes of `object` (its name is stored in columns of its own).
pub(crate) fn encode(object: &ChangedObject) -> Result<Vec<u8>> {
    let encoded = match object {
        ChangedObject::Result(r) => serde_json::to_vec(&ResultJson {
            uid: r.uid.clone(),
            created: r.create_time.as_nanos(),
            updated: r.update_time.as_nanos(),
            annotations: r.annotations.clone(),
            summary: r.summary.as_ref().map(|s| SummaryJson {
                record: s.record.clone(),
                type_: s.type_.clone(),
                start: s.start_time.map(Timestamp::as_nanos),
                end: s.end_time.map(Timestamp::as_nanos),
                status: s.status as i32,
                annotations: s.annotations.clone(),
            }),
        }),
        ChangedObject::Record(r) => {
            let mut encoded = serde_json::to_vec(&RecordJson {
                uid: r.uid.clone(),
                created: r.create_time.as_nanos(),
                updated: r.update_time.as_nanos(),
                type_: r.data.type_.clone(),
                value: None,
            });
            if let Ok(json) = &mut encoded {
                if !r.data.value.is_empty() {
                    // The document was checked as one JSON value when it was written (a
                    // stored one was stored so): spliced in as the last field, not parsed
                    // again on every write.
                    json.pop(); // the closing brace
                    json.extend_from_slice(b",\"value\":");
                    json.extend_from_slice(&r.data.value);
                    json.push(b'}');
                }
            }
            encoded
        }
    };
    encoded.map_err(|e| Error::Corrupt(format!("encoding a change: {e}")))
}

/// The object of a stored change.
pub(crate) fn decode(
    parent: String,
    result: String,
    record: String,
    bytes: &[u8],
) -> Result<ChangedObject> {
    let corrupt =
        |e: serde_json::Error| Error::Corrupt(format!("change of {parent}/{result}: {e}"));
    if record.is_empty() {
        let r: ResultJson = serde_json::from_slice(bytes).map_err(corrupt)?;
        Ok(ChangedObject::Result(StoredResult {
            name: ResultName { parent, result },
            uid: r.uid,
            create_time: Timestamp::from_nanos(r.created),
            update_time: Timestamp::from_nanos(r.updated),
            annotations: r.annotations,
            summary: r.summary.map(|s| RecordSummary {
                record: s.record,
                type_: s.type_,
                start_time: s.start.map(Timestamp::from_nanos),
                end_time: s.end.map(Timestamp::from_nanos),
                status: Status::from_i32(s.status),
                annotations: s.annotations,
            }),
        }))
    } else {
        let r: RecordJson<'_> = serde_json::from_slice(bytes).map_err(corrupt)?;
        Ok(ChangedObject::Record(StoredRecord {
            name: RecordName {
                parent,
                result,
                record,
            },
            uid: r.uid,
            data: RecordData {
                type_: r.type_,
                value: r
                    .value
                    .map(|v| v.get().as_bytes().to_vec())
                    .unwrap_or_default(),
            },
            create_time: Timestamp::from_nanos(r.created),
            update_time: Timestamp::from_nanos(r.updated),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &str) -> ChangedObject {
        ChangedObject::Record(StoredRecord {
            name: RecordName {
                parent: "ns".into(),
                result: "r".into(),
                record: "x".into(),
            },
            uid: "u-1".into(),
            data: RecordData {
                type_: "tekton.dev/v1.TaskRun".into(),
                value: value.as_bytes().to_vec(),
            },
            create_time: Timestamp::from_nanos(1),
            update_time: Timestamp::from_nanos(2),
        })
    }

    fn round_trip(object: &ChangedObject) -> ChangedObject {
        let bytes = encode(object).unwrap();
        let (parent, result, record) = (object.parent(), object.result(), object.record());
        decode(parent.into(), result.into(), record.into(), &bytes).unwrap()
    }

    #[test]
    fn objects_come_back_as_they_were_written() {
        for value in [
            "",
            r#"{"a":[1,2,{"b":"c\"}"}],"n":null}"#,
            r#"{ "spaced" : "as written", "u": "\u00e9" }"#,
            "[]",
            "\"a string\"",
        ] {
            let object = record(value);
            assert_eq!(round_trip(&object), object, "{value:?}");
        }
        let result = ChangedObject::Result(StoredResult {
            name: ResultName {
                parent: "ns".into(),
                result: "r".into(),
            },
            uid: "u-2".into(),
            create_time: Timestamp::from_nanos(3),
            update_time: Timestamp::from_nanos(4),
            annotations: [("k".to_string(), "v".to_string())].into(),
            summary: Some(RecordSummary {
                record: "ns/results/r/records/x".into(),
                type_: "tekton.dev/v1.PipelineRun".into(),
                start_time: Some(Timestamp::from_nanos(5)),
                end_time: None,
                status: Status::Failure,
                annotations: BTreeMap::new(),
            }),
        });
        assert_eq!(round_trip(&result), result);
    }
}
