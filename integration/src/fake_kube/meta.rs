//! Resource addressing (group, version, plural) and small accessors for the `metadata` of
//! objects kept as `serde_json::Value`.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// A resource type as addressed in URLs: `/apis/{group}/{version}/.../{plural}`; the core
/// group (`/api/v1`) has an empty group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Resource {
    pub group: String,
    pub version: String,
    pub plural: String,
}

impl Resource {
    /// The resource of `plural` in `api_version` (`"tekton.dev/v1"`, or `"v1"` for core).
    pub fn new(api_version: &str, plural: &str) -> Resource {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Resource {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
        }
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group`, as the apiserver names resources in messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The kind guessed from the plural when no object has told us (`widgets` → `Widget`).
    pub fn guessed_kind(&self) -> String {
        let singular = self.plural.strip_suffix('s').unwrap_or(&self.plural);
        let mut chars = singular.chars();
        chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

/// The current time as the apiserver writes it: RFC 3339, UTC, whole seconds.
pub(crate) fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(0), 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `object.metadata`, created (and `object` made a map) if missing.
pub(crate) fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let metadata = object
        .as_object_mut()
        .expect("an object")
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    metadata.as_object_mut().expect("a map")
}

/// A string field of `metadata`, or "".
pub(crate) fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object["metadata"][field].as_str().unwrap_or_default()
}

/// The string map `metadata.{field}` (labels or annotations); non-string values are skipped.
pub(crate) fn string_map(object: &Value, field: &str) -> Map<String, Value> {
    object["metadata"][field]
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(_, v)| v.is_string())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.finalizers` in order.
pub(crate) fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The uids named by `metadata.ownerReferences`.
pub(crate) fn owner_uids(object: &Value) -> BTreeSet<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Drops empty `labels`, `annotations`, `finalizers` and `ownerReferences` (Go omits empty
/// maps and slices), so that equal objects compare equal.
pub(crate) fn normalize(object: &mut Value) {
    let metadata = metadata_mut(object);
    for field in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match metadata.get(field) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(list)) => list.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            metadata.remove(field);
        }
    }
}

/// Whether `name` is a valid DNS subdomain, as Kubernetes requires of object names.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_name_themselves_like_the_apiserver() {
        let tekton = Resource::new("tekton.dev/v1", "taskruns");
        assert_eq!(tekton.api_version(), "tekton.dev/v1");
        assert_eq!(tekton.group_resource(), "taskruns.tekton.dev");
        let core = Resource::new("v1", "configmaps");
        assert_eq!(core.group, "");
        assert_eq!(core.api_version(), "v1");
        assert_eq!(core.guessed_kind(), "Configmap");
    }

    #[test]
    fn now_has_whole_seconds() {
        let now = now();
        assert_eq!(now.len(), "2026-11-03T10:00:00Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn names_are_dns_subdomains() {
        assert!(valid_name("build-1.x"));
        assert!(!valid_name("Build"));
        assert!(!valid_name("-a"));
        assert!(!valid_name(""));
    }
}
