//! Logs: a run's log is kept as a blob (or one blob per part, e.g. per step container) and
//! described by a Log Record in the run's Result, in upstream's `v1alpha3.Log` shape so that
//! clients listing Log Records keep working.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blobs::BlobKey;
use crate::model::{RecordName, ResultName};
use crate::{Error, Result};

/// The type of Log Records.
pub const LOG_TYPE: &str = "results.tekton.dev/v1alpha3.Log";
/// The type upstream's older servers gave Log Records (read, never written).
pub const LOG_TYPE_V1ALPHA2: &str = "results.tekton.dev/v1alpha2.Log";
/// The part a whole-log upload is kept as (a container name cannot start with `_`).
pub const WHOLE_LOG: &str = "_log";

/// Whether a Record of `type_` is a Log Record.
pub fn is_log_type(type_: &str) -> bool {
    type_ == LOG_TYPE || type_ == LOG_TYPE_V1ALPHA2
}

/// What the Logs service is asked about: `<parent>/results/<result>/logs/<record>` (a whole
/// log) or `…/logs/<record>/<part>` (one part, e.g. a step's container). `<record>` names a
/// Log Record or the run's own Record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogName {
    /// The Record named (with `records` in place of `logs`).
    pub record: RecordName,
    /// The part, if one is named.
    pub part: Option<String>,
}

impl LogName {
    /// Parses and validates a log name.
    pub fn parse(full: &str) -> Result<LogName> {
        let (head, part) = match full.splitn(6, '/').collect::<Vec<_>>()[..] {
            [_, _, _, _, _, part] => (&full[..full.len() - part.len() - 1], Some(part)),
            _ => (full, None),
        };
        let record = RecordName::parse_kind(head, "logs").map_err(|_| {
            Error::InvalidArgument(format!(
                "log name {full:?} must have the form \
                 <parent>/results/<result>/logs/<record>[/<part>]"
            ))
        })?;
        if let Some(part) = part {
            check_part(part, full)?;
        }
        Ok(LogName {
            record,
            part: part.map(str::to_owned),
        })
    }
}

impl fmt::Display for LogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.record;
        write!(f, "{}/results/{}/logs/{}", r.parent, r.result, r.record)?;
        if let Some(part) = &self.part {
            write!(f, "/{part}")?;
        }
        Ok(())
    }
}

/// A part name: a container name (`[a-z0-9-]`, at most 63 bytes, starting with a letter or
/// digit).
fn check_part(part: &str, full: &str) -> Result<()> {
    let valid = !part.is_empty()
        && part.len() <= 63
        && part
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        && !part.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "the part of log name {full:?} must be a container name: a-z, 0-9 and '-', \
             at most 63 characters, not starting with '-'"
        )))
    }
}

/// The name of the Log Record the server keeps for the run Record `record`: `<record>-log`,
/// or when that would be too long a name derived from a hash of it.
pub fn log_record_name(run: &RecordName) -> RecordName {
    let own = format!("{}-log", run.record);
    let record = if own.len() <= 63 {
        own
    } else {
        let hash = Sha256::digest(run.record.as_bytes());
        let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("log-{hex}")
    };
    RecordName {
        parent: run.parent.clone(),
        result: run.result.clone(),
        record,
    }
}

/// Where the parts of the Log Record `record` are kept: blob keys under
/// `logs/<parent>/<result>/<record>`, one per part.
pub fn blob_prefix(record: &RecordName) -> Result<BlobKey> {
    Ok(BlobKey::new(&[
        "logs",
        &record.parent,
        &record.result,
        &record.record,
    ])?)
}

/// The run a log belongs to (`spec.resource`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogResource {
    /// `TaskRun` or `PipelineRun`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The run's namespace.
    #[serde(default)]
    pub namespace: String,
    /// The run's name.
    #[serde(default)]
    pub name: String,
    /// The run's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// One stored part of a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPart {
    /// The part's name ([`WHOLE_LOG`] for a whole-log upload).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSpec {
    /// The run.
    #[serde(default)]
    pub resource: LogResource,
    /// Where it is kept: `File` or `S3`, as upstream names its stores.
    #[serde(default, rename = "type")]
    pub type_: String,
}

/// `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatus {
    /// The blob key prefix of the log's parts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Bytes stored, all parts together.
    #[serde(default)]
    pub size: u64,
    /// Whether anything is stored.
    #[serde(default)]
    pub is_stored: bool,
    /// Upstream's field; always empty here (a failed upload changes nothing).
    #[serde(default)]
    pub error_on_store_msg: String,
    /// Upstream's field; always false here.
    #[serde(default)]
    pub is_retryable_err: bool,
    /// The stored parts, in the order they were first uploaded (this server's addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<LogPart>,
}

/// The document of a Log Record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogDocument {
    /// `Log`.
    pub kind: String,
    /// `results.tekton.dev/v1alpha3`.
    pub api_version: String,
    /// `name` (the Log Record's) and `namespace`.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The run and the store.
    #[serde(default)]
    pub spec: LogSpec,
    /// What is stored.
    #[serde(default)]
    pub status: LogStatus,
}

impl LogDocument {
    /// A new, empty Log of `run`'s log, kept as `record` in a store of `store_type`.
    pub fn new(record: &RecordName, run: LogResource, store_type: &str) -> LogDocument {
        let mut metadata = serde_json::Map::new();
        metadata.insert("name".into(), record.record.clone().into());
        metadata.insert("namespace".into(), record.parent.clone().into());
        LogDocument {
            kind: "Log".into(),
            api_version: "results.tekton.dev/v1alpha3".into(),
            metadata,
            spec: LogSpec {
                resource: run,
                type_: store_type.into(),
            },
            status: LogStatus::default(),
        }
    }

    /// Reads a Log Record's document.
    pub fn parse(value: &[u8], record: &RecordName) -> Result<LogDocument> {
        // Any client may write a Record of the Log type: one that is not a Log document is
        // the client's doing, not the server's.
        serde_json::from_slice(value).map_err(|e| {
            Error::FailedPrecondition(format!(
                "the Record {record} has the Log type but is not a Log document ({e}); \
                 logs are written through the Logs service"
            ))
        })
    }

    /// As JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Log document serializes")
    }

    /// Records that `part` now holds `size` bytes (replacing an earlier upload of it).
    pub fn store_part(&mut self, part: &str, size: u64, path: &str) {
        match self.status.parts.iter_mut().find(|p| p.name == part) {
            Some(stored) => stored.size = size,
            None => self.status.parts.push(LogPart {
                name: part.to_owned(),
                size,
            }),
        }
        self.refresh(path);
    }

    /// Forgets `part`.
    pub fn remove_part(&mut self, part: &str, path: &str) {
        self.status.parts.retain(|p| p.name != part);
        self.refresh(path);
    }

    fn refresh(&mut self, path: &str) {
        self.status.size = self.status.parts.iter().map(|p| p.size).sum();
        self.status.is_stored = !self.status.parts.is_empty();
        self.status.path = if self.status.is_stored {
            path.to_owned()
        } else {
            String::new()
        };
    }
}

/// The run a run Record describes (its kind from the type, `metadata` from the document).
pub fn run_of(type_: &str, document: &[u8]) -> LogResource {
    let kind = type_.rsplit('.').next().unwrap_or_default().to_owned();
    let value: serde_json::Value = serde_json::from_slice(document).unwrap_or_default();
    let meta = |key: &str| {
        value["metadata"][key]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    LogResource {
        kind,
        namespace: meta("namespace"),
        name: meta("name"),
        uid: meta("uid"),
    }
}

/// The Result a log name belongs to.
pub fn result_of(name: &LogName) -> ResultName {
    name.record.result_name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_name_a_record_and_maybe_a_part() {
        let whole = LogName::parse("ci/results/r/logs/tr-uid").unwrap();
        assert_eq!(whole.record.record, "tr-uid");
        assert_eq!(whole.part, None);
        assert_eq!(whole.to_string(), "ci/results/r/logs/tr-uid");
        let step = LogName::parse("ci/results/r/logs/tr-uid/step-build").unwrap();
        assert_eq!(step.part.as_deref(), Some("step-build"));
        assert_eq!(step.to_string(), "ci/results/r/logs/tr-uid/step-build");
        for bad in [
            "ci/results/r/records/x",
            "ci/results/r/logs",
            "ci/results/r/logs/x/_log",
            "ci/results/r/logs/x/Step",
            "ci/results/r/logs/x/a/b",
            "ci/results/r/logs/x/",
        ] {
            assert!(LogName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_record_names_fit_a_segment() {
        let run = RecordName::parse("ci/results/r/records/tr-uid").unwrap();
        assert_eq!(log_record_name(&run).record, "tr-uid-log");
        let long = RecordName::parse(&format!("ci/results/r/records/{}", "x".repeat(63))).unwrap();
        let name = log_record_name(&long).record;
        assert!(name.len() <= 63 && name.starts_with("log-"), "{name}");
    }

    #[test]
    fn documents_keep_upstreams_shape() {
        let record = RecordName::parse("ci/results/r/records/tr-uid-log").unwrap();
        let run = run_of(
            "tekton.dev/v1.TaskRun",
            br#"{"metadata":{"name":"build","namespace":"ci","uid":"tr-uid"}}"#,
        );
        let mut doc = LogDocument::new(&record, run, "File");
        doc.store_part("step-a", 10, "logs/ci/r/tr-uid-log");
        doc.store_part("step-b", 5, "logs/ci/r/tr-uid-log");
        doc.store_part("step-a", 7, "logs/ci/r/tr-uid-log");
        let json: serde_json::Value = serde_json::from_slice(&doc.to_json()).unwrap();
        assert_eq!(json["kind"], "Log");
        assert_eq!(json["apiVersion"], "results.tekton.dev/v1alpha3");
        assert_eq!(json["spec"]["resource"]["kind"], "TaskRun");
        assert_eq!(json["spec"]["resource"]["uid"], "tr-uid");
        assert_eq!(json["spec"]["type"], "File");
        assert_eq!(json["status"]["size"], 12);
        assert_eq!(json["status"]["isStored"], true);
        assert_eq!(json["status"]["parts"][0]["name"], "step-a");
        doc.remove_part("step-a", "p");
        doc.remove_part("step-b", "p");
        assert!(!doc.status.is_stored);
        assert_eq!(LogDocument::parse(&doc.to_json(), &record).unwrap(), doc);
    }
}
