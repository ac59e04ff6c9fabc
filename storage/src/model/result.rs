//! Results: the group of Records of one logical run, with an optional summary.

use std::collections::BTreeMap;

use crate::limits::check_annotations;
use crate::model::record::check_type;
use crate::model::{etag, RecordName, ResultName, Timestamp};
use crate::{Error, Result};

/// Completion status of a summarised run (`RecordSummary.Status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not known (yet).
    #[default]
    Unknown = 0,
    /// Succeeded.
    Success = 1,
    /// Failed.
    Failure = 2,
    /// Timed out.
    Timeout = 3,
    /// Cancelled.
    Cancelled = 4,
}

impl Status {
    /// A status a client sent: numbers outside 0…4 are INVALID_ARGUMENT (REST refuses
    /// them too), never silently stored as UNKNOWN.
    pub fn parse(value: i32) -> Result<Status> {
        match value {
            0..=4 => Ok(Status::from_i32(value)),
            other => Err(Error::InvalidArgument(format!(
                "summary.status {other} is not a status: use 0 (UNKNOWN), 1 (SUCCESS), \
                 2 (FAILURE), 3 (TIMEOUT) or 4 (CANCELLED)"
            ))),
        }
    }

    /// From the storage number; unknown numbers are [`Status::Unknown`].
    pub fn from_i32(value: i32) -> Status {
        match value {
            1 => Status::Success,
            2 => Status::Failure,
            3 => Status::Timeout,
            4 => Status::Cancelled,
            _ => Status::Unknown,
        }
    }
}

/// Summary of a Result's primary Record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Full name of the summarised Record.
    pub record: String,
    /// Its type.
    pub type_: String,
    /// When the run started.
    pub start_time: Option<Timestamp>,
    /// When the run ended.
    pub end_time: Option<Timestamp>,
    /// How it ended.
    pub status: Status,
    /// Key facts for list views.
    pub annotations: BTreeMap<String, String>,
}

impl RecordSummary {
    /// A summary needs a valid record name, a type of at most 768 characters and
    /// annotations within [`crate::limits`].
    pub fn validate(&self) -> Result<()> {
        check_annotations("summary.annotations", self.annotations.iter())?;
        if self.record.is_empty() {
            return Err(Error::InvalidArgument("summary.record is required".into()));
        }
        RecordName::parse(&self.record).map_err(|e| {
            Error::InvalidArgument(format!("summary.record is not a record name: {e}"))
        })?;
        if self.type_.is_empty() {
            return Err(Error::InvalidArgument("summary.type is required".into()));
        }
        check_type(&self.type_, "summary.type")
    }
}

/// A Result as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    /// Full name.
    pub name: ResultName,
    /// Server-assigned identifier.
    pub uid: String,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it was last written.
    pub update_time: Timestamp,
    /// User annotations.
    pub annotations: BTreeMap<String, String>,
    /// Summary of the primary Record.
    pub summary: Option<RecordSummary>,
}

impl StoredResult {
    /// The current etag.
    pub fn etag(&self) -> String {
        etag(&self.uid, self.update_time)
    }
}

/// Input of CreateResult.
#[derive(Debug, Clone)]
pub struct NewResult {
    /// Full name; must be unused.
    pub name: ResultName,
    /// User annotations.
    pub annotations: BTreeMap<String, String>,
    /// Optional summary (validated).
    pub summary: Option<RecordSummary>,
}

/// Input of UpdateResult: annotations and summary are replaced (omitted = cleared).
#[derive(Debug, Clone)]
pub struct ResultReplacement {
    /// The Result to change.
    pub name: ResultName,
    /// When set, the update fails unless the stored etag equals it.
    pub etag: Option<String>,
    /// New annotations.
    pub annotations: BTreeMap<String, String>,
    /// New summary.
    pub summary: Option<RecordSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_from_clients_are_checked() {
        assert_eq!(Status::parse(4).unwrap(), Status::Cancelled);
        assert_eq!(Status::parse(0).unwrap(), Status::Unknown);
        for bad in [-5, 5, i32::MAX] {
            let err = Status::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains(&format!("summary.status {bad} is not a status")),
                "{err}"
            );
        }
    }

    #[test]
    fn summary_validation() {
        let ok = RecordSummary {
            record: "a/results/b/records/c".into(),
            type_: "tekton.dev/v1.TaskRun".into(),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let cases = [
            (
                RecordSummary {
                    record: String::new(),
                    ..ok.clone()
                },
                "summary.record is required",
            ),
            (
                RecordSummary {
                    record: "nope".into(),
                    ..ok.clone()
                },
                "not a record name",
            ),
            (
                RecordSummary {
                    type_: String::new(),
                    ..ok.clone()
                },
                "summary.type is required",
            ),
            (
                RecordSummary {
                    type_: "t".repeat(769),
                    ..ok.clone()
                },
                "at most 768",
            ),
            (
                RecordSummary {
                    type_: "tekton\0".into(),
                    ..ok.clone()
                },
                "summary.type contains the NUL character",
            ),
        ];
        for (summary, needle) in cases {
            let err = summary.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
