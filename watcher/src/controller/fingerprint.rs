//! What is stored of a run (its JSON without `managedFields`) and a fingerprint of it that
//! ignores what the watcher itself changes.

use std::hash::Hasher as _;

use kube::api::DynamicObject;
use serde::Serialize;

use crate::run::{
    FINALIZER, LOG_STORED_ANNOTATION, RECORD_ANNOTATION, RESULT_ANNOTATION, STORED_ANNOTATION,
};

/// Feeds written bytes to a hasher.
struct HashWriter(std::hash::DefaultHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A run object with a replaced `metadata`, serialised like the original.
#[derive(Serialize)]
struct WithMetadata<'a> {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    types: &'a Option<kube::api::TypeMeta>,
    metadata: &'a kube::api::ObjectMeta,
    #[serde(flatten)]
    data: &'a serde_json::Value,
}

/// The JSON stored as the Record's data: the object without `managedFields` (server-side
/// apply bookkeeping, often larger than the run itself).
pub fn record_data(object: &DynamicObject) -> Vec<u8> {
    let mut metadata = object.metadata.clone();
    metadata.managed_fields = None;
    serde_json::to_vec(&WithMetadata {
        types: &object.types,
        metadata: &metadata,
        data: &object.data,
    })
    .expect("a Kubernetes object serialises")
}

/// A fingerprint of what is stored of `object`, leaving out what changes when only the
/// watcher wrote to it (resource version, its annotations and finalizer) or when the run
/// is merely being deleted (a stored run is not stored again on its way out).
pub fn fingerprint(object: &DynamicObject) -> u64 {
    let mut metadata = object.metadata.clone();
    metadata.managed_fields = None;
    metadata.resource_version = None;
    metadata.deletion_timestamp = None;
    metadata.deletion_grace_period_seconds = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        for key in [
            RESULT_ANNOTATION,
            RECORD_ANNOTATION,
            STORED_ANNOTATION,
            LOG_STORED_ANNOTATION,
        ] {
            annotations.remove(key);
        }
    }
    metadata.annotations = metadata.annotations.filter(|a| !a.is_empty());
    if let Some(finalizers) = metadata.finalizers.as_mut() {
        finalizers.retain(|f| f != FINALIZER);
    }
    metadata.finalizers = metadata.finalizers.filter(|f| !f.is_empty());
    let mut hasher = HashWriter(std::hash::DefaultHasher::new());
    serde_json::to_writer(
        &mut hasher,
        &WithMetadata {
            types: &object.types,
            metadata: &metadata,
            data: &object.data,
        },
    )
    .expect("a Kubernetes object serialises");
    hasher.0.finish()
}

pub(super) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    fn run() -> serde_json::Value {
        json!({
            "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {
                "name": "t", "namespace": "ci", "uid": "u", "resourceVersion": "1",
                "labels": {"app": "ci"},
                "managedFields": [{"manager": "tekton", "operation": "Update"}]
            },
            "spec": {"taskRef": {"name": "build"}},
            "status": {"podName": "t-pod"}
        })
    }

    #[test]
    fn the_fingerprint_ignores_only_what_the_watcher_and_deletion_change() {
        let base = fingerprint(&object(run()));
        let mut ours = run();
        ours["metadata"]["resourceVersion"] = json!("7");
        ours["metadata"]["annotations"] = json!({
            RESULT_ANNOTATION: "ci/results/u", RECORD_ANNOTATION: "ci/results/u/records/u",
            STORED_ANNOTATION: "true", LOG_STORED_ANNOTATION: "true",
        });
        ours["metadata"]["finalizers"] = json!([FINALIZER]);
        ours["metadata"]["managedFields"] = json!([{"manager": "results-watcher"}]);
        ours["metadata"]["deletionTimestamp"] = json!("2026-11-29T10:00:00Z");
        assert_eq!(fingerprint(&object(ours)), base);

        let changes: [&dyn Fn(&mut serde_json::Value); 4] = [
            &|v| v["status"]["podName"] = json!("other"),
            &|v| v["metadata"]["labels"]["new"] = json!("x"),
            &|v| v["metadata"]["annotations"] = json!({"user": "note"}),
            &|v| v["metadata"]["finalizers"] = json!(["someone.else/finalizer"]),
        ];
        for change in changes {
            let mut changed = run();
            change(&mut changed);
            assert_ne!(fingerprint(&object(changed.clone())), base, "{changed}");
        }
    }

    #[test]
    fn record_data_is_the_object_without_managed_fields() {
        let data: serde_json::Value = serde_json::from_slice(&record_data(&object(run()))).unwrap();
        let mut expected = run();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(data, expected);
    }
}
