//! The writes of the apiserver on the [`Store`] but deletion: create, replace, merge and JSON
//! patch, server-side apply and in-process updates, ending in one commit that keeps server
//! fields, records field ownership and removes objects whose last finalizer went. Writes that
//! change nothing neither bump the resourceVersion nor emit events.

use std::sync::Arc;

use serde_json::Value;

use super::meta::{finalizers, meta_str, metadata_mut, normalize, now, valid_name, Resource};
use super::status::{ApiError, ApiResult};
use super::store::{key_of, EventKind, Store};
use super::{leases, managed};

/// A patch that is not an apply.
#[derive(Debug, Clone)]
pub(crate) enum Patch {
    /// RFC 7386.
    Merge(Value),
    /// RFC 6902.
    Json(json_patch::Patch),
}

impl Store {
    /// Creates `body` in `namespace` ("" for cluster-scoped, or to take the body's).
    pub fn create(
        &mut self,
        resource: &Resource,
        namespace: &str,
        mut body: Value,
        manager: &str,
    ) -> ApiResult<Value> {
        self.check_type(resource, &body)?;
        let in_body = meta_str(&body, "namespace").to_owned();
        if !namespace.is_empty() && !in_body.is_empty() && in_body != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the \
                 request",
            ));
        }
        let namespace = if namespace.is_empty() {
            in_body
        } else {
            namespace.to_owned()
        };
        let mut name = meta_str(&body, "name").to_owned();
        if name.is_empty() {
            let prefix = meta_str(&body, "generateName").to_owned();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    resource,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            name = loop {
                let candidate = format!("{prefix}{}", random_suffix());
                if self.stored(resource, &namespace, &candidate).is_none() {
                    break candidate;
                }
            };
        }
        if !valid_name(&name) {
            let why = format!("metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'");
            return Err(ApiError::invalid(resource, &name, &why));
        }
        if self.stored(resource, &namespace, &name).is_some() {
            return Err(ApiError::already_exists(resource, &name));
        }
        let metadata = metadata_mut(&mut body);
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "resourceVersion",
        ] {
            metadata.remove(field);
        }
        metadata.insert("name".into(), name.into());
        if !namespace.is_empty() {
            metadata.insert("namespace".into(), namespace.into());
        }
        fill_server_fields(&mut body);
        normalize(&mut body);
        leases::validate(resource, &body)?;
        managed::record_update(None, &mut body, manager, &now());
        self.learn_kind(resource, &body);
        Ok(self.put(resource, body, EventKind::Added, None, false))
    }

    /// Replaces the object with `body` (PUT); a resourceVersion in `body` must be current.
    pub fn replace(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        body: Value,
        manager: &str,
    ) -> ApiResult<Value> {
        self.check_type(resource, &body)?;
        let old = self.get(resource, namespace, name)?;
        self.update_from(resource, old, body, manager, false)
    }

    /// Applies a merge or JSON patch.
    pub fn patch(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        patch: &Patch,
        manager: &str,
    ) -> ApiResult<Value> {
        let old = self.get(resource, namespace, name)?;
        let mut new = (*old).clone();
        match patch {
            Patch::Merge(patch) if patch.is_object() => json_patch::merge(&mut new, patch),
            Patch::Merge(_) => {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"))
            }
            Patch::Json(patch) => apply_json_patch(&mut new, patch)
                .map_err(|e| ApiError::invalid(resource, name, &e.to_string()))?,
        }
        self.update_from(resource, old, new, manager, false)
    }

    /// Server-side apply of `body` by `manager`; creates the object if it is missing. Says
    /// whether it was created.
    pub fn apply(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        body: &Value,
        manager: &str,
        force: bool,
    ) -> ApiResult<(Value, bool)> {
        self.check_type(resource, body)?;
        if meta_str(body, "name") != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(body, "name")
            )));
        }
        let in_body = meta_str(body, "namespace");
        if !in_body.is_empty() && in_body != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the \
                 request",
            ));
        }
        let old = self.get(resource, namespace, name).ok();
        match &old {
            Some(old) => check_preconditions(resource, old, body)?,
            // As the apiserver: an apply that names a uid never creates.
            None if !meta_str(body, "uid").is_empty() => {
                let why = format!(
                    "UID in precondition: {}, UID in object meta: ",
                    meta_str(body, "uid")
                );
                return Err(ApiError::precondition_failed(resource, name, why));
            }
            None => {}
        }
        let mut new = managed::apply(old.as_deref(), body, manager, force, &now())
            .map_err(|conflicts| ApiError::apply_conflicts(resource, name, &conflicts))?;
        let Some(old) = old else {
            if !namespace.is_empty() {
                metadata_mut(&mut new).insert("namespace".into(), namespace.into());
            }
            fill_server_fields(&mut new);
            normalize(&mut new);
            leases::validate(resource, &new)?;
            self.learn_kind(resource, &new);
            return Ok((self.put(resource, new, EventKind::Added, None, false), true));
        };
        restore_server_fields(&old, &mut new);
        leases::validate(resource, &new)?;
        Ok((self.commit(resource, old, new, false)?, false))
    }

    /// Changes the object with `change` as `manager` (an Update) and records MODIFIED even if
    /// nothing changed.
    pub fn update_with(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        manager: &str,
        change: impl FnOnce(&mut Value),
    ) -> ApiResult<Value> {
        let old = self.get(resource, namespace, name)?;
        let mut new = (*old).clone();
        change(&mut new);
        self.update_from(resource, old, new, manager, true)
    }

    /// The common end of replace, patch and update: keeps server fields, records field
    /// ownership for `manager` and commits.
    pub(super) fn update_from(
        &mut self,
        resource: &Resource,
        old: Arc<Value>,
        mut new: Value,
        manager: &str,
        always: bool,
    ) -> ApiResult<Value> {
        for field in ["name", "namespace"] {
            let wanted = meta_str(&new, field);
            if !wanted.is_empty() && wanted != meta_str(&old, field) {
                return Err(ApiError::bad_request(format!(
                    "the {field} of the object ({wanted}) does not match the {field} on the URL ({})",
                    meta_str(&old, field)
                )));
            }
        }
        check_preconditions(resource, &old, &new)?;
        restore_server_fields(&old, &mut new);
        normalize(&mut new);
        leases::validate(resource, &new)?;
        managed::record_update(Some(&old), &mut new, manager, &now());
        self.commit(resource, old, new, always)
    }

    /// Stores `new` as the next state of `old`, unless nothing changed and not `always`. An
    /// object being deleted whose last finalizer goes is removed.
    fn commit(
        &mut self,
        resource: &Resource,
        old: Arc<Value>,
        mut new: Value,
        always: bool,
    ) -> ApiResult<Value> {
        normalize(&mut new);
        let terminating = !old["metadata"]["deletionTimestamp"].is_null();
        let before = finalizers(&old);
        if terminating && finalizers(&new).iter().any(|f| !before.contains(f)) {
            let why = "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted";
            return Err(ApiError::invalid(resource, meta_str(&old, "name"), why));
        }
        if spec_changed(&old, &new) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
            metadata_mut(&mut new).insert("generation".into(), (generation + 1).into());
        }
        if !always && new == *old {
            return Ok((*old).clone());
        }
        let orphan = self
            .stored(resource, &key_of(&old).0, &key_of(&old).1)
            .is_some_and(|s| s.orphan);
        if terminating && finalizers(&new).is_empty() {
            return Ok(self.remove(resource, new, orphan));
        }
        Ok(self.put(resource, new, EventKind::Modified, Some(old), orphan))
    }

    fn check_type(&self, resource: &Resource, body: &Value) -> ApiResult<()> {
        let api_version = body["apiVersion"].as_str().unwrap_or_default();
        let kind = body["kind"].as_str().unwrap_or_default();
        if kind.is_empty() || api_version.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' or 'apiVersion' is missing in '{body}'"
            )));
        }
        if api_version != resource.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API \
                 version ({})",
                resource.api_version()
            )));
        }
        match self.kinds.get(resource) {
            Some(known) if known != kind => Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({known})"
            ))),
            _ => Ok(()),
        }
    }

    fn learn_kind(&mut self, resource: &Resource, object: &Value) {
        if let Some(kind) = object["kind"].as_str() {
            self.kinds.insert(resource.clone(), kind.to_owned());
        }
    }
}

/// RFC 6902, except that testing a missing path for null passes, as with the apiserver's
/// evanphx/json-patch: kube-runtime's finalizer helper tests `/metadata/finalizers` for null
/// before it adds the first finalizer.
fn apply_json_patch(
    doc: &mut Value,
    patch: &json_patch::Patch,
) -> Result<(), json_patch::PatchError> {
    for operation in &patch.0 {
        if let json_patch::PatchOperation::Test(test) = operation {
            if test.value.is_null() && doc.pointer(test.path.as_str()).is_none() {
                continue;
            }
        }
        json_patch::patch(doc, std::slice::from_ref(operation))?;
    }
    Ok(())
}

/// A resourceVersion or uid in a written body must match the stored object.
fn check_preconditions(resource: &Resource, old: &Value, new: &Value) -> ApiResult<()> {
    let name = meta_str(old, "name");
    let rv = meta_str(new, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
        let why = "the object has been modified; please apply your changes to the latest version and try again";
        return Err(ApiError::conflict(resource, name, why));
    }
    let uid = meta_str(new, "uid");
    if !uid.is_empty() && uid != meta_str(old, "uid") {
        let why = format!(
            "UID in precondition: {uid}, UID in object meta: {}",
            meta_str(old, "uid")
        );
        return Err(ApiError::precondition_failed(resource, name, why));
    }
    Ok(())
}

/// Fields that only the server sets, for a new object.
fn fill_server_fields(object: &mut Value) {
    let metadata = metadata_mut(object);
    metadata.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
    metadata.insert("creationTimestamp".into(), now().into());
    metadata.insert("generation".into(), 1.into());
}

/// Puts back what a client cannot change: type, identity, timestamps, generation, rv.
fn restore_server_fields(old: &Value, new: &mut Value) {
    for field in ["apiVersion", "kind"] {
        new[field] = old[field].clone();
    }
    let metadata = metadata_mut(new);
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match old["metadata"].get(field) {
            Some(value) => metadata.insert(field.into(), value.clone()),
            None => metadata.remove(field),
        };
    }
}

/// Whether anything but metadata and status changed (what bumps the generation).
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("metadata");
            map.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// Five characters from the alphabet the apiserver uses for generateName.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use crate::fake_kube::test_support::{task_run, tekton};

    #[test]
    fn create_fills_server_fields_and_rejects_duplicates() {
        let mut store = Store::new();
        let created = store.create(&tekton(), "ns", task_run("a"), "me").unwrap();
        assert_eq!(created["metadata"]["resourceVersion"], "1");
        assert_eq!(created["metadata"]["generation"], 1);
        assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
        let again = store
            .create(&tekton(), "ns", task_run("a"), "me")
            .unwrap_err();
        assert_eq!((again.code, again.reason), (409, "AlreadyExists"));
    }

    #[test]
    fn generate_name_and_bad_names() {
        let mut store = Store::new();
        let mut body = task_run("");
        body["metadata"] = json!({"generateName": "run-"});
        let created = store.create(&tekton(), "ns", body, "me").unwrap();
        assert_eq!(meta_str(&created, "name").len(), "run-".len() + 5);
        let error = store
            .create(&tekton(), "ns", task_run("Bad_Name"), "me")
            .unwrap_err();
        assert_eq!(error.code, 422);
    }

    #[test]
    fn no_op_patch_keeps_resource_version_and_changes_bump_generation_only_for_spec() {
        let mut store = Store::new();
        store.create(&tekton(), "ns", task_run("a"), "me").unwrap();
        let patch = Patch::Merge(json!({"metadata": {"labels": {}}}));
        let same = store.patch(&tekton(), "ns", "a", &patch, "me").unwrap();
        assert_eq!(same["metadata"]["resourceVersion"], "1");
        let patch = Patch::Merge(json!({"status": {"podName": "p"}}));
        let status = store.patch(&tekton(), "ns", "a", &patch, "me").unwrap();
        assert_eq!(status["metadata"]["generation"], 1);
        let patch = Patch::Merge(json!({"spec": {"timeout": "1h"}}));
        let spec = store.patch(&tekton(), "ns", "a", &patch, "me").unwrap();
        assert_eq!(spec["metadata"]["generation"], 2);
        assert_eq!(store.resource_version(), 3);
    }

    #[test]
    fn stale_resource_version_in_a_patch_conflicts() {
        let mut store = Store::new();
        store.create(&tekton(), "ns", task_run("a"), "me").unwrap();
        let patch =
            Patch::Merge(json!({"metadata": {"resourceVersion": "7", "labels": {"a": "b"}}}));
        let error = store.patch(&tekton(), "ns", "a", &patch, "me").unwrap_err();
        assert_eq!((error.code, error.reason), (409, "Conflict"));
    }

    #[test]
    fn an_apply_naming_a_uid_never_creates() {
        let mut store = Store::new();
        let mut body = task_run("a");
        body["metadata"]["uid"] = json!("gone-uid");
        let error = store
            .apply(&tekton(), "ns", "a", &body, "me", true)
            .unwrap_err();
        assert_eq!((error.code, error.reason), (409, "Conflict"));
        assert!(error.message.contains("UID in precondition"), "{error}");
        assert!(store.get(&tekton(), "ns", "a").is_err());
        let created = store.create(&tekton(), "ns", task_run("a"), "me").unwrap();
        body["metadata"]["uid"] = created["metadata"]["uid"].clone();
        body["metadata"]["labels"] = json!({"x": "y"});
        let (applied, new) = store
            .apply(&tekton(), "ns", "a", &body, "me", true)
            .unwrap();
        assert!(!new);
        assert_eq!(applied["metadata"]["labels"]["x"], "y");
    }

    #[test]
    fn dry_run_forgets_everything() {
        let mut store = Store::new();
        let created = store
            .dry_run(|s| s.create(&tekton(), "ns", task_run("a"), "me"))
            .unwrap();
        assert_eq!(meta_str(&created, "name"), "a");
        assert!(store.get(&tekton(), "ns", "a").is_err());
        assert_eq!(store.resource_version(), 0);
    }
}
