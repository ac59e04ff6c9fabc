//! What the watcher reads off a TaskRun or PipelineRun: its kind, where it is stored
//! (SPEC §7 naming), whether it has finished, and its Result summary.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersionKind;

use crate::pb::record_summary::Status;
use crate::pb::RecordSummary;

/// Annotation naming the Result (`<namespace>/results/<name>`); read and written back.
pub const RESULT_ANNOTATION: &str = "results.tekton.dev/result";
/// Annotation naming the Record (`<result>/records/<name>`); read on top-level runs, written back.
pub const RECORD_ANNOTATION: &str = "results.tekton.dev/record";
/// Annotation set to `"true"` once the final state of a finished run is stored.
pub const STORED_ANNOTATION: &str = "results.tekton.dev/stored";
/// Annotation set to `"true"` once the step logs of a finished TaskRun are uploaded (or
/// found to be gone).
pub const LOG_STORED_ANNOTATION: &str = "results.tekton.dev/log-stored";
/// Annotation holding a JSON object copied into `Result.annotations`.
pub const RESULT_ANNOTATIONS_ANNOTATION: &str = "results.tekton.dev/resultAnnotations";
/// Annotation holding a JSON object copied into `Result.summary.annotations`.
pub const SUMMARY_ANNOTATIONS_ANNOTATION: &str = "results.tekton.dev/recordSummaryAnnotations";
/// Label Tekton Triggers sets on every run created for one event; they share a Result.
pub const EVENT_ID_LABEL: &str = "triggers.tekton.dev/triggers-eventid";
/// The watcher's finalizer: a deleted run stays until its final state is stored.
pub const FINALIZER: &str = "results.tekton.dev/finalizer";

/// The Tekton kinds the watcher records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunKind {
    /// `PipelineRun`.
    PipelineRun,
    /// `TaskRun`.
    TaskRun,
}

impl RunKind {
    /// Both kinds.
    pub const ALL: [RunKind; 2] = [RunKind::PipelineRun, RunKind::TaskRun];

    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            RunKind::PipelineRun => "PipelineRun",
            RunKind::TaskRun => "TaskRun",
        }
    }

    /// The resource (plural) name.
    pub fn plural(self) -> &'static str {
        match self {
            RunKind::PipelineRun => "pipelineruns",
            RunKind::TaskRun => "taskruns",
        }
    }

    /// The resource of this kind in `tekton.dev/<version>`.
    pub fn resource(self, version: &str) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("tekton.dev", version, self.kind()),
            self.plural(),
        )
    }

    /// The Record type of runs of this kind, e.g. `tekton.dev/v1.TaskRun`.
    pub fn record_type(self, version: &str) -> String {
        format!("tekton.dev/{version}.{}", self.kind())
    }
}

/// Where a run is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `<namespace>/results/<result>`.
    pub result: String,
    /// `<result>/records/<record>`.
    pub record: String,
}

/// A run as the watcher sees it.
#[derive(Debug)]
pub struct Run<'a> {
    /// Its kind.
    pub kind: RunKind,
    /// The object.
    pub object: &'a DynamicObject,
}

/// A name segment the API accepts: `[a-z0-9_-]{1,63}`.
pub(crate) fn is_segment(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl<'a> Run<'a> {
    /// Views `object` as a run of `kind`.
    pub fn new(kind: RunKind, object: &'a DynamicObject) -> Run<'a> {
        Run { kind, object }
    }

    /// Its namespace (runs are namespaced).
    pub fn namespace(&self) -> &str {
        self.object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// Its UID.
    pub fn uid(&self) -> &str {
        self.object.metadata.uid.as_deref().unwrap_or_default()
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.object
            .metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    /// Its labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.object.metadata.labels.clone().unwrap_or_default()
    }

    /// The UID of the PipelineRun that owns it, if any.
    pub fn owning_pipeline_run(&self) -> Option<&str> {
        self.object
            .metadata
            .owner_references
            .as_deref()?
            .iter()
            .find(|o| o.kind.eq_ignore_ascii_case("PipelineRun"))
            .map(|o| o.uid.as_str())
    }

    /// Whether it stands on its own (not a TaskRun of a PipelineRun): such runs set the
    /// Result summary and may be cleaned up.
    pub fn is_top_level(&self) -> bool {
        self.owning_pipeline_run().is_none()
    }

    /// Whether its deletion has been requested.
    pub fn is_deleting(&self) -> bool {
        self.object.metadata.deletion_timestamp.is_some()
    }

    /// Whether it carries the watcher's finalizer.
    pub fn has_finalizer(&self) -> bool {
        self.object
            .metadata
            .finalizers
            .as_deref()
            .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
    }

    /// Whether its final state has been stored (by this or an earlier watcher).
    pub fn is_marked_stored(&self) -> bool {
        self.annotation(STORED_ANNOTATION) == Some("true")
    }

    /// Whether its step logs have been uploaded (by this or an earlier watcher).
    pub fn is_marked_log_stored(&self) -> bool {
        self.annotation(LOG_STORED_ANNOTATION) == Some("true")
    }

    /// `status.podName`, if set.
    pub fn pod_name(&self) -> Option<&str> {
        self.object
            .data
            .get("status")?
            .get("podName")?
            .as_str()
            .filter(|p| !p.is_empty())
    }

    /// The container names of its steps (`status.steps[].container`), in order.
    pub fn step_containers(&self) -> Vec<&str> {
        let Some(steps) = self
            .object
            .data
            .get("status")
            .and_then(|s| s.get("steps"))
            .and_then(|s| s.as_array())
        else {
            return Vec::new();
        };
        steps
            .iter()
            .filter_map(|step| step.get("container")?.as_str())
            .collect()
    }

    /// The Result and Record names (SPEC §7): the result annotation, else the trigger
    /// event, else the owning PipelineRun, else the run itself; the record is the run's
    /// UID under it, unless a top-level run names its record.
    pub fn names(&self) -> Names {
        let namespace = self.namespace();
        let prefix = format!("{namespace}/results/");
        let from_annotation = self.annotation(RESULT_ANNOTATION).and_then(|value| {
            let segment = value.strip_prefix(&prefix).unwrap_or(value);
            // A run may only point into its own namespace.
            is_segment(segment).then(|| segment.to_owned())
        });
        let result_segment = from_annotation
            .or_else(|| {
                let labels = self.object.metadata.labels.as_ref()?;
                labels
                    .get(EVENT_ID_LABEL)
                    .filter(|id| is_segment(id))
                    .cloned()
            })
            .or_else(|| {
                self.owning_pipeline_run()
                    .filter(|uid| is_segment(uid))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| self.uid().to_owned());
        let result = format!("{prefix}{result_segment}");
        let records = format!("{result}/records/");
        let record_segment = self
            .annotation(RECORD_ANNOTATION)
            .filter(|_| self.is_top_level())
            .and_then(|value| value.strip_prefix(&records))
            .filter(|segment| is_segment(segment))
            .unwrap_or_else(|| self.uid());
        let record = format!("{records}{record_segment}");
        Names { result, record }
    }

    /// The `Succeeded` condition's status and reason.
    pub fn succeeded_condition(&self) -> Option<(&str, &str)> {
        let conditions = self
            .object
            .data
            .get("status")?
            .get("conditions")?
            .as_array()?;
        let condition = conditions
            .iter()
            .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Succeeded"))?;
        let status = condition.get("status")?.as_str()?;
        let reason = condition
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or_default();
        Some((status, reason))
    }

    /// Whether it has finished (its `Succeeded` condition is `True` or `False`).
    pub fn is_complete(&self) -> bool {
        matches!(self.succeeded_condition(), Some(("True" | "False", _)))
    }

    /// The outcome, from the `Succeeded` condition.
    pub fn status(&self) -> Status {
        status_of(self.succeeded_condition())
    }

    fn status_time(&self, field: &str) -> Option<Timestamp> {
        self.object
            .data
            .get("status")?
            .get(field)?
            .as_str()?
            .parse()
            .ok()
    }

    /// `status.startTime`.
    pub fn start_time(&self) -> Option<Timestamp> {
        self.status_time("startTime")
    }

    /// `status.completionTime`.
    pub fn completion_time(&self) -> Option<Timestamp> {
        self.status_time("completionTime")
    }

    /// A string-to-string JSON object held in annotation `key` (non-string values are kept
    /// as their JSON text); malformed or missing = empty.
    pub fn annotation_map(&self, key: &str) -> HashMap<String, String> {
        let Some(text) = self.annotation(key) else {
            return HashMap::new();
        };
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
            Ok(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(
                    namespace = self.namespace(),
                    name = self.name(),
                    annotation = key,
                    "ignoring an annotation that is not a JSON object: {e}"
                );
                HashMap::new()
            }
        }
    }

    /// The Result summary a top-level run sets.
    pub fn summary(&self, record: &str, version: &str) -> RecordSummary {
        RecordSummary {
            record: record.to_owned(),
            r#type: self.kind.record_type(version),
            start_time: self.start_time().map(to_proto),
            end_time: self.completion_time().map(to_proto),
            status: self.status() as i32,
            annotations: self.annotation_map(SUMMARY_ANNOTATIONS_ANNOTATION),
        }
    }
}

/// Maps the `Succeeded` condition to a summary status: `True` is success; `False` is a
/// timeout, a cancellation or otherwise a failure (whatever the failure reason);
/// `Unknown` or no condition means still running.
pub fn status_of(condition: Option<(&str, &str)>) -> Status {
    match condition {
        Some(("True", _)) => Status::Success,
        Some(("False", "TaskRunTimeout" | "PipelineRunTimeout")) => Status::Timeout,
        Some(("False", reason)) if reason.contains("Cancelled") => Status::Cancelled,
        Some(("False", _)) => Status::Failure,
        _ => Status::Unknown,
    }
}

/// A protobuf timestamp.
pub fn to_proto(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn status_follows_the_succeeded_condition() {
        let cases = [
            (Some(("True", "Succeeded")), Status::Success),
            (Some(("True", "Completed")), Status::Success),
            (Some(("False", "Failed")), Status::Failure),
            (Some(("False", "TaskRunImagePullFailed")), Status::Failure),
            (
                Some(("False", "CreateContainerConfigError")),
                Status::Failure,
            ),
            (Some(("False", "PipelineValidationFailed")), Status::Failure),
            (Some(("False", "TaskRunResolutionFailed")), Status::Failure),
            (Some(("False", "TaskRunTimeout")), Status::Timeout),
            (Some(("False", "PipelineRunTimeout")), Status::Timeout),
            (Some(("False", "Cancelled")), Status::Cancelled),
            (Some(("False", "TaskRunCancelled")), Status::Cancelled),
            (Some(("False", "PipelineRunCancelled")), Status::Cancelled),
            (Some(("False", "CancelledRunFinally")), Status::Cancelled),
            (Some(("Unknown", "Running")), Status::Unknown),
            (Some(("Unknown", "CancelledRunFinally")), Status::Unknown),
            (Some(("Unknown", "Pending")), Status::Unknown),
            (None, Status::Unknown),
        ];
        for (condition, expected) in cases {
            assert_eq!(status_of(condition), expected, "{condition:?}");
        }
    }

    #[test]
    fn naming_follows_the_precedence_of_the_spec() {
        let base = json!({
            "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": "t", "namespace": "ci", "uid": "tr-uid"}
        });
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = base.clone();
            f(&mut v);
            object(v)
        };
        let names = |o: &DynamicObject| Run::new(RunKind::TaskRun, o).names();

        let own = with(&|_| {});
        assert_eq!(names(&own).result, "ci/results/tr-uid");
        assert_eq!(names(&own).record, "ci/results/tr-uid/records/tr-uid");

        let owned = with(&|v| {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": "p", "uid": "pr-uid"}]);
            // Annotations propagated from the PipelineRun: the record one is not ours.
            v["metadata"]["annotations"] =
                json!({RECORD_ANNOTATION: "ci/results/pr-uid/records/pr-uid"});
        });
        assert_eq!(names(&owned).result, "ci/results/pr-uid");
        assert_eq!(names(&owned).record, "ci/results/pr-uid/records/tr-uid");

        let triggered = with(&|v| {
            v["metadata"]["labels"] = json!({EVENT_ID_LABEL: "event-1"});
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": "p", "uid": "pr-uid"}]);
        });
        assert_eq!(names(&triggered).result, "ci/results/event-1");

        let annotated = with(&|v| {
            v["metadata"]["labels"] = json!({EVENT_ID_LABEL: "event-1"});
            v["metadata"]["annotations"] = json!({
                RESULT_ANNOTATION: "ci/results/chosen",
                RECORD_ANNOTATION: "ci/results/chosen/records/mine",
            });
        });
        assert_eq!(names(&annotated).result, "ci/results/chosen");
        assert_eq!(names(&annotated).record, "ci/results/chosen/records/mine");

        // Annotations pointing into another namespace, or malformed, are not followed.
        let foreign = with(&|v| {
            v["metadata"]["annotations"] = json!({
                RESULT_ANNOTATION: "other/results/x",
                RECORD_ANNOTATION: "other/results/x/records/y",
            });
        });
        assert_eq!(names(&foreign).result, "ci/results/tr-uid");
        assert_eq!(names(&foreign).record, "ci/results/tr-uid/records/tr-uid");
        let bare = with(&|v| {
            v["metadata"]["annotations"] = json!({RESULT_ANNOTATION: "just-a-name"});
        });
        assert_eq!(names(&bare).result, "ci/results/just-a-name");
    }

    #[test]
    fn summary_of_a_finished_pipeline_run() {
        let o = object(json!({
            "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"name": "p", "namespace": "ci", "uid": "u", "annotations": {
                SUMMARY_ANNOTATIONS_ANNOTATION: "{\"commit\":\"abc\",\"n\":1}",
                RESULT_ANNOTATIONS_ANNOTATION: "not json",
            }},
            "status": {
                "startTime": "2026-11-29T10:00:00Z",
                "completionTime": "2026-11-29T10:05:30.5Z",
                "conditions": [{"type": "Succeeded", "status": "False", "reason": "PipelineRunTimeout"}]
            }
        }));
        let run = Run::new(RunKind::PipelineRun, &o);
        assert!(run.is_complete());
        let s = run.summary("ci/results/u/records/u", "v1");
        assert_eq!(s.r#type, "tekton.dev/v1.PipelineRun");
        assert_eq!(s.status, Status::Timeout as i32);
        assert_eq!(s.start_time.unwrap().seconds, 1_795_946_400);
        let end = s.end_time.unwrap();
        assert_eq!((end.seconds, end.nanos), (1_795_946_730, 500_000_000));
        assert_eq!(s.annotations.get("commit").map(String::as_str), Some("abc"));
        assert_eq!(s.annotations.get("n").map(String::as_str), Some("1"));
        assert!(run.annotation_map(RESULT_ANNOTATIONS_ANNOTATION).is_empty());
    }
}
