//! Deletion: preconditions, finalizers (a deletionTimestamp until the last one goes) and
//! garbage collection of dependents named by `ownerReferences`, with background or orphan
//! propagation.

use serde_json::Value;

use super::meta::{finalizers, meta_str, metadata_mut, now, owner_uids, Resource};
use super::status::{ApiError, ApiResult};
use super::store::{key_of, EventKind, Store};

/// The field manager of garbage-collector writes (dropping owner references).
const GARBAGE_COLLECTOR: &str = "generic-garbage-collector";

/// What happens to dependents once their owner is gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// They are deleted (Foreground is treated the same way).
    #[default]
    Background,
    /// They lose their owner reference and stay.
    Orphan,
}

/// The parts of `DeleteOptions` the fake honours.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub propagation: Propagation,
}

impl Store {
    /// Deletes the object: at once if it has no finalizers, else by setting its
    /// deletionTimestamp (once) until the last finalizer goes.
    pub fn delete(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> ApiResult<Value> {
        let old = self.get(resource, namespace, name)?;
        if let Some(uid) = options
            .uid
            .as_deref()
            .filter(|u| *u != meta_str(&old, "uid"))
        {
            let why = format!(
                "UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&old, "uid")
            );
            return Err(ApiError::precondition_failed(resource, name, why));
        }
        let current = meta_str(&old, "resourceVersion");
        if let Some(rv) = options
            .resource_version
            .as_deref()
            .filter(|rv| *rv != current)
        {
            let why = format!(
                "ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {current}"
            );
            return Err(ApiError::precondition_failed(resource, name, why));
        }
        let orphan = options.propagation == Propagation::Orphan;
        if finalizers(&old).is_empty() {
            return Ok(self.remove(resource, (*old).clone(), orphan));
        }
        if !old["metadata"]["deletionTimestamp"].is_null() {
            if let Some(stored) = self
                .objects
                .get_mut(resource)
                .and_then(|o| o.get_mut(&key_of(&old)))
            {
                stored.orphan = orphan;
            }
            return Ok((*old).clone());
        }
        let mut new = (*old).clone();
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
        let metadata = metadata_mut(&mut new);
        metadata.insert("deletionTimestamp".into(), now().into());
        metadata.insert("deletionGracePeriodSeconds".into(), 0.into());
        metadata.insert("generation".into(), (generation + 1).into());
        Ok(self.put(resource, new, EventKind::Modified, Some(old), orphan))
    }

    /// Deletes (or, for `orphan`, releases) the dependents of the object with `owner_uid`
    /// that is gone from `namespace`. A dependent with another live owner only loses the
    /// reference, as with the real garbage collector.
    pub(super) fn collect_garbage(&mut self, namespace: &str, owner_uid: &str, orphan: bool) {
        if owner_uid.is_empty() {
            return;
        }
        let dependents: Vec<(Resource, String, String)> = self
            .objects
            .iter()
            .flat_map(|(resource, objects)| {
                objects
                    .iter()
                    .filter(|((ns, _), stored)| {
                        (namespace.is_empty() || ns == namespace)
                            && owner_uids(&stored.object).contains(owner_uid)
                    })
                    .map(|((ns, name), _)| (resource.clone(), ns.clone(), name.clone()))
            })
            .collect();
        for (resource, ns, name) in dependents {
            // An earlier dependent's collection may have removed this one already.
            let Ok(dependent) = self.get(&resource, &ns, &name) else {
                continue;
            };
            let other_owner_alive = owner_uids(&dependent)
                .iter()
                .any(|uid| uid != owner_uid && self.uid_exists(uid));
            let outcome = if orphan || other_owner_alive {
                let mut released = (*dependent).clone();
                if let Some(refs) = released["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"] != owner_uid);
                }
                self.update_from(&resource, dependent, released, GARBAGE_COLLECTOR, false)
            } else {
                self.delete(&resource, &ns, &name, &DeleteOptions::default())
            };
            if let Err(error) = outcome {
                eprintln!("fake apiserver: garbage collection of {ns}/{name} failed: {error}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use crate::fake_kube::test_support::{task_run, tekton};

    #[test]
    fn finalizers_hold_deletion_and_no_new_ones_are_accepted_meanwhile() {
        let mut store = Store::new();
        let mut body = task_run("a");
        body["metadata"]["finalizers"] = json!(["x"]);
        store.create(&tekton(), "ns", body, "me").unwrap();
        let deleting = store
            .delete(&tekton(), "ns", "a", &DeleteOptions::default())
            .unwrap();
        assert!(deleting["metadata"]["deletionTimestamp"].is_string());
        let again = store
            .delete(&tekton(), "ns", "a", &DeleteOptions::default())
            .unwrap();
        assert_eq!(again, deleting);
        let add =
            super::super::writes::Patch::Merge(json!({"metadata": {"finalizers": ["x", "y"]}}));
        assert_eq!(
            store
                .patch(&tekton(), "ns", "a", &add, "me")
                .unwrap_err()
                .code,
            422
        );
        let remove = super::super::writes::Patch::Merge(json!({"metadata": {"finalizers": null}}));
        store.patch(&tekton(), "ns", "a", &remove, "me").unwrap();
        assert!(store.get(&tekton(), "ns", "a").is_err());
        let kinds: Vec<_> = store.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::Added, EventKind::Modified, EventKind::Deleted]
        );
    }
}
