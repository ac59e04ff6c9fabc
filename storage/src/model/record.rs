//! Records: one stored object (a TaskRun, a PipelineRun, …) inside a Result.

use crate::model::document::check_document;
use crate::model::{etag, RecordName, Timestamp};
use crate::{Error, Result};

/// Longest accepted `type` of a Record's data or of a summary.
pub const MAX_TYPE_LEN: usize = 768;

/// Checks a type string's length and that every backend can store it (PostgreSQL's text
/// cannot hold NUL); `what` names the field in the error.
pub(crate) fn check_type(type_: &str, what: &str) -> Result<()> {
    let len = type_.chars().count();
    if len > MAX_TYPE_LEN {
        return Err(Error::InvalidArgument(format!(
            "{what} is {len} characters long; at most {MAX_TYPE_LEN} are allowed"
        )));
    }
    if type_.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "{what} contains the NUL character, which cannot be stored"
        )));
    }
    Ok(())
}

/// The typed JSON payload of a Record. An empty `value` means "no document".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordData {
    /// Type identifier, e.g. `tekton.dev/v1.TaskRun`.
    pub type_: String,
    /// The JSON document, as bytes (empty when absent).
    pub value: Vec<u8>,
}

impl RecordData {
    /// Validates the type length and that a non-empty value is one JSON document every
    /// backend can store (see [`crate::limits`]).
    pub fn new(type_: String, value: Vec<u8>) -> Result<Self> {
        check_type(&type_, "data.type")?;
        if !value.is_empty() {
            check_document(&value)?;
        }
        Ok(RecordData { type_, value })
    }
}

/// A Record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Full name.
    pub name: RecordName,
    /// Server-assigned identifier.
    pub uid: String,
    /// The payload.
    pub data: RecordData,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it was last written.
    pub update_time: Timestamp,
}

impl StoredRecord {
    /// The current etag.
    pub fn etag(&self) -> String {
        etag(&self.uid, self.update_time)
    }
}

/// Input of CreateRecord.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// Full name; its Result must exist.
    pub name: RecordName,
    /// The payload.
    pub data: RecordData,
}

/// Input of UpdateRecord: non-empty fields overwrite, nothing is cleared.
#[derive(Debug, Clone)]
pub struct RecordPatch {
    /// The Record to change (never renamed).
    pub name: RecordName,
    /// When set, the update fails unless the stored etag equals it.
    pub etag: Option<String>,
    /// New type, when non-empty.
    pub type_: Option<String>,
    /// New JSON document, when non-empty.
    pub value: Option<Vec<u8>>,
}

impl RecordPatch {
    /// Builds a patch from the request's fields, treating empty as "leave alone".
    pub fn new(name: RecordName, etag: String, data: RecordData) -> Self {
        RecordPatch {
            name,
            etag: Some(etag).filter(|e| !e.is_empty()),
            type_: Some(data.type_).filter(|t| !t.is_empty()),
            value: Some(data.value).filter(|v| !v.is_empty()),
        }
    }

    /// Applies the patch to the stored payload.
    pub(crate) fn apply(&self, data: &mut RecordData) {
        if let Some(t) = &self.type_ {
            data.type_.clone_from(t);
        }
        if let Some(v) = &self.value {
            data.value.clone_from(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_validation() {
        assert!(RecordData::new("t".into(), br#"{"a":1}"#.to_vec()).is_ok());
        assert!(RecordData::new("t".into(), Vec::new()).is_ok());
        let err = RecordData::new("t".into(), b"{nope".to_vec()).unwrap_err();
        assert!(err.to_string().contains("not a JSON document"), "{err}");
        assert!(RecordData::new("t".into(), b"{} {}".to_vec()).is_err());
        assert!(RecordData::new("x".repeat(768), Vec::new()).is_ok());
        let err = RecordData::new("x".repeat(769), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("at most 768"), "{err}");
        let err = RecordData::new("a\0b".into(), Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data.type contains the NUL character, which cannot be stored"
        );
    }

    #[test]
    fn patch_merges_non_empty_fields_only() {
        let name = RecordName::parse("a/results/b/records/c").unwrap();
        let mut data = RecordData::new("old".into(), b"1".to_vec()).unwrap();
        RecordPatch::new(name.clone(), String::new(), RecordData::default()).apply(&mut data);
        assert_eq!(data, RecordData::new("old".into(), b"1".to_vec()).unwrap());
        RecordPatch::new(
            name,
            String::new(),
            RecordData::new(String::new(), b"2".to_vec()).unwrap(),
        )
        .apply(&mut data);
        assert_eq!(data, RecordData::new("old".into(), b"2".to_vec()).unwrap());
    }
}
