//! Field ownership in `metadata.managedFields`, kept up to date by every write, and
//! server-side apply built on it. Ownership is exact for what controllers write through
//! apply: label and annotation keys and finalizer entries (a set). Every other field of an
//! applied body is merged in and recorded in `fieldsV1` for show, but never removed or
//! checked for conflicts.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::meta::{finalizers, metadata_mut, normalize, string_map};
use super::status::ApplyConflict;

/// The string maps whose keys have tracked ownership.
const TRACKED_MAPS: [&str; 2] = ["labels", "annotations"];

/// Metadata the server owns or that identifies the object: never part of `fieldsV1`.
const SERVER_METADATA: [&str; 11] = [
    "name",
    "namespace",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    fields: Map<String, Value>,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation
    }
}

fn read_entries(object: &Value) -> Vec<Entry> {
    let Some(list) = object["metadata"]["managedFields"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_owned(),
            operation: e["operation"].as_str().unwrap_or_default().to_owned(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_owned(),
            time: e["time"].as_str().unwrap_or_default().to_owned(),
            fields: e["fieldsV1"].as_object().cloned().unwrap_or_default(),
        })
        .collect()
}

/// Writes `entries` back, dropping those that own nothing any more (as the apiserver does).
fn write_entries(object: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": e.fields,
            })
        })
        .collect();
    metadata_mut(object).insert("managedFields".into(), Value::Array(list));
    normalize(object);
}

/// The `fieldsV1` path of a label or annotation key.
fn key_path(map: &str, key: &str) -> [String; 3] {
    ["f:metadata".into(), format!("f:{map}"), format!("f:{key}")]
}

/// The `fieldsV1` path of a finalizer (a set entry: `v:"<json>"`).
fn finalizer_path(finalizer: &str) -> [String; 3] {
    let value = Value::String(finalizer.to_owned());
    [
        "f:metadata".into(),
        "f:finalizers".into(),
        format!("v:{value}"),
    ]
}

fn owns(fields: &Map<String, Value>, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return true;
    };
    match fields.get(first) {
        Some(Value::Object(child)) => owns(child, rest),
        _ => false,
    }
}

fn owned_by_others(entries: &[Entry], me: (&str, &str), path: &[String]) -> bool {
    entries
        .iter()
        .any(|e| !e.is(me.0, me.1) && owns(&e.fields, path))
}

/// Removes the leaf at `path` and every parent it leaves empty.
fn disown(fields: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        fields.remove(first);
        return;
    }
    if let Some(Value::Object(child)) = fields.get_mut(first) {
        disown(child, rest);
        if child.is_empty() {
            fields.remove(first);
        }
    }
}

fn insert_path(fields: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let child = fields
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(child) = child {
        insert_path(child, rest);
    }
}

fn union(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(Value::Object(a)), Value::Object(b)) => union(a, b),
            (Some(_), _) => {}
            (None, _) => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The object without type, server metadata and finalizers: what `fieldsV1` describes
/// generically.
fn content(object: &Value) -> Value {
    let mut content = object.clone();
    if let Some(map) = content.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    let metadata = metadata_mut(&mut content);
    for field in SERVER_METADATA.iter().chain(&["finalizers"]) {
        metadata.remove(*field);
    }
    content
}

/// `{"f:a": {"f:b": {}}}` for `{"a": {"b": 1}}`; lists are atomic; nulls and empty maps are
/// skipped.
fn render(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null() && v.as_object().is_none_or(|m| !m.is_empty()))
                .map(|(k, v)| (format!("f:{k}"), render(v)))
                .collect(),
        ),
        _ => Value::Object(Map::new()),
    }
}

/// The fields of `new` that differ from `old`, rendered.
fn changed(old: Option<&Value>, new: &Value) -> Option<Value> {
    match (old, new) {
        (Some(old), new) if old == new => None,
        (_, Value::Null) => None,
        (Some(Value::Object(old)), Value::Object(new)) => {
            let out: Map<String, Value> = new
                .iter()
                .filter_map(|(k, v)| Some((format!("f:{k}"), changed(old.get(k), v)?)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (_, Value::Object(map)) if map.is_empty() => None,
        (_, new) => Some(render(new)),
    }
}

fn fields_of(object: &Value) -> Map<String, Value> {
    let mut fields = match render(&content(object)) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for finalizer in finalizers(object) {
        insert_path(&mut fields, &finalizer_path(&finalizer));
    }
    if fields
        .get("f:metadata")
        .is_some_and(|m| m.as_object().is_some_and(Map::is_empty))
    {
        fields.remove("f:metadata");
    }
    fields
}

/// Records a write of `manager` with operation `Update` (create, replace, merge or JSON
/// patch): the label/annotation keys it changed and the finalizers it added become its own
/// (and no one else's), removed keys and finalizers are owned by no one, and other changed
/// fields are added to its entry.
pub(crate) fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str) {
    let me = (manager, "Update");
    let mut entries = old.map(read_entries).unwrap_or_default();
    let empty = Value::Null;
    let before = old.unwrap_or(&empty);
    for map in TRACKED_MAPS {
        let (was, is) = (string_map(before, map), string_map(new, map));
        for (key, value) in &is {
            if was.get(key) != Some(value) {
                let path = key_path(map, key);
                entries
                    .iter_mut()
                    .filter(|e| !e.is(me.0, me.1))
                    .for_each(|e| disown(&mut e.fields, &path));
            }
        }
        for key in was.keys().filter(|key| !is.contains_key(*key)) {
            let path = key_path(map, key);
            entries
                .iter_mut()
                .for_each(|e| disown(&mut e.fields, &path));
        }
    }
    let (was, is) = (finalizers(before), finalizers(new));
    for finalizer in was.iter().filter(|f| !is.contains(f)) {
        let path = finalizer_path(finalizer);
        entries
            .iter_mut()
            .for_each(|e| disown(&mut e.fields, &path));
    }
    let mut fields = match changed(old.map(content).as_ref(), &content(new)) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for finalizer in is.iter().filter(|f| !was.contains(f)) {
        insert_path(&mut fields, &finalizer_path(finalizer));
    }
    if !fields.is_empty() {
        let api_version = new["apiVersion"].as_str().unwrap_or_default().to_owned();
        match entries.iter_mut().find(|e| e.is(me.0, me.1)) {
            Some(entry) => {
                union(&mut entry.fields, &fields);
                entry.time = now.to_owned();
                entry.api_version = api_version;
            }
            None => entries.push(Entry {
                manager: manager.to_owned(),
                operation: "Update".into(),
                api_version,
                time: now.to_owned(),
                fields,
            }),
        }
    }
    write_entries(new, entries);
}

/// Server-side apply of `body` by `manager` onto `old` (None: the object is created).
///
/// Label/annotation keys and finalizers in `body` are set; those `manager` applied before
/// and omits now are removed unless another manager owns them too. Without `force`, setting
/// a key that another manager owns to a different value is a conflict; with it, ownership
/// moves to `manager`. Other fields of `body` are merged in.
pub(crate) fn apply(
    old: Option<&Value>,
    body: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, Vec<ApplyConflict>> {
    let me = (manager, "Apply");
    let mut entries = old.map(read_entries).unwrap_or_default();
    let previous = entries
        .iter()
        .find(|e| e.is(me.0, me.1))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut new = old.cloned().unwrap_or_else(|| json!({}));

    let mut conflicts = Vec::new();
    let mut taken = Vec::new();
    for map in TRACKED_MAPS {
        let have = string_map(&new, map);
        for (key, value) in string_map(body, map) {
            if have.get(&key).is_none_or(|v| *v == value) {
                continue;
            }
            let path = key_path(map, &key);
            for (i, entry) in entries.iter().enumerate() {
                if !entry.is(me.0, me.1) && owns(&entry.fields, &path) {
                    conflicts.push(ApplyConflict {
                        manager: entry.manager.clone(),
                        api_version: entry.api_version.clone(),
                        field: format!(".metadata.{map}.{key}"),
                    });
                    taken.push((i, path.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    for (i, path) in taken {
        disown(&mut entries[i].fields, &path);
    }

    merge_into(&mut new, &without_tracked(body));
    for map in TRACKED_MAPS {
        let wanted = string_map(body, map);
        let mut result = string_map(&new, map);
        for key in owned_keys(&previous, map) {
            if !wanted.contains_key(&key) && !owned_by_others(&entries, me, &key_path(map, &key)) {
                result.remove(&key);
            }
        }
        result.extend(wanted);
        metadata_mut(&mut new).insert(map.into(), Value::Object(result));
    }
    let wanted = finalizers(body);
    let mut list = finalizers(&new);
    list.retain(|f| {
        let path = finalizer_path(f);
        wanted.contains(f) || !owns(&previous, &path) || owned_by_others(&entries, me, &path)
    });
    for finalizer in wanted {
        if !list.contains(&finalizer) {
            list.push(finalizer);
        }
    }
    metadata_mut(&mut new).insert("finalizers".into(), json!(list));

    let fields = fields_of(body);
    let api_version = body["apiVersion"].as_str().unwrap_or_default().to_owned();
    match entries.iter_mut().find(|e| e.is(me.0, me.1)) {
        Some(entry) => {
            if entry.fields != fields {
                entry.fields = fields;
                entry.time = now.to_owned();
            }
            entry.api_version = api_version;
        }
        None => entries.push(Entry {
            manager: manager.to_owned(),
            operation: "Apply".into(),
            api_version,
            time: now.to_owned(),
            fields,
        }),
    }
    write_entries(&mut new, entries);
    Ok(new)
}

fn owned_keys(fields: &Map<String, Value>, map: &str) -> BTreeSet<String> {
    fields
        .get("f:metadata")
        .and_then(|m| m.get(format!("f:{map}")))
        .and_then(Value::as_object)
        .map(|keys| {
            keys.keys()
                .filter_map(|k| k.strip_prefix("f:").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `body` without tracked and server metadata: what apply merges generically.
fn without_tracked(body: &Value) -> Value {
    let mut body = body.clone();
    let metadata = metadata_mut(&mut body);
    for field in SERVER_METADATA
        .iter()
        .chain(&["labels", "annotations", "finalizers"])
    {
        if *field != "name" && *field != "namespace" {
            metadata.remove(*field);
        }
    }
    body
}

/// Deep merge where maps merge, anything else replaces and nulls are ignored.
fn merge_into(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch.iter().filter(|(_, v)| !v.is_null()) {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_into(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-03T10:00:00Z";

    fn run(annotations: Value) -> Value {
        json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": "a", "namespace": "ns", "annotations": annotations},
            "spec": {"timeout": "1h0m0s"},
        })
    }

    fn apply_body(annotations: Value, finalizers: Value) -> Value {
        json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": "a", "namespace": "ns", "annotations": annotations, "finalizers": finalizers},
        })
    }

    fn created(annotations: Value) -> Value {
        let mut object = run(annotations);
        record_update(None, &mut object, "creator", NOW);
        object
    }

    #[test]
    fn create_owns_everything_it_wrote() {
        let object = created(json!({"a": "1"}));
        let entries = read_entries(&object);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "creator");
        assert_eq!(entries[0].operation, "Update");
        assert_eq!(
            Value::Object(entries[0].fields.clone()),
            json!({"f:metadata": {"f:annotations": {"f:a": {}}}, "f:spec": {"f:timeout": {}}})
        );
    }

    #[test]
    fn reapply_removes_only_what_the_manager_dropped() {
        let object = created(json!({"theirs": "1", "shared": "s"}));
        let body = apply_body(
            json!({"mine": "x", "gone": "y", "shared": "s"}),
            json!(["f"]),
        );
        let applied = apply(Some(&object), &body, "me", false, NOW).unwrap();
        assert_eq!(applied["metadata"]["finalizers"], json!(["f"]));
        let body = apply_body(json!({"mine": "x"}), json!([]));
        let reapplied = apply(Some(&applied), &body, "me", false, NOW).unwrap();
        assert_eq!(
            reapplied["metadata"]["annotations"],
            json!({"theirs": "1", "shared": "s", "mine": "x"})
        );
        assert!(reapplied["metadata"].get("finalizers").is_none());
    }

    #[test]
    fn conflicting_values_need_force_and_then_change_owner() {
        let object = created(json!({"k": "theirs"}));
        let body = apply_body(json!({"k": "mine"}), json!([]));
        let conflicts = apply(Some(&object), &body, "me", false, NOW).unwrap_err();
        assert_eq!(conflicts[0].manager, "creator");
        assert_eq!(conflicts[0].field, ".metadata.annotations.k");
        let forced = apply(Some(&object), &body, "me", true, NOW).unwrap();
        let owners: Vec<_> = read_entries(&forced)
            .into_iter()
            .filter(|e| owns(&e.fields, &key_path("annotations", "k")))
            .map(|e| e.manager)
            .collect();
        assert_eq!(owners, ["me"]);
    }

    #[test]
    fn same_value_is_shared_not_a_conflict() {
        let object = created(json!({"k": "v"}));
        let body = apply_body(json!({"k": "v"}), json!([]));
        let applied = apply(Some(&object), &body, "me", false, NOW).unwrap();
        let body = apply_body(json!({}), json!([]));
        let dropped = apply(Some(&applied), &body, "me", false, NOW).unwrap();
        assert_eq!(dropped["metadata"]["annotations"], json!({"k": "v"}));
    }

    #[test]
    fn updates_take_over_changed_keys_and_forget_removed_ones() {
        let object = created(json!({"k": "v", "x": "1"}));
        let mut updated = object.clone();
        updated["metadata"]["annotations"] = json!({"k": "w"});
        record_update(Some(&object), &mut updated, "other", NOW);
        let entries = read_entries(&updated);
        let creator = entries.iter().find(|e| e.manager == "creator").unwrap();
        assert!(!owns(&creator.fields, &key_path("annotations", "k")));
        assert!(!owns(&creator.fields, &key_path("annotations", "x")));
        let other = entries.iter().find(|e| e.manager == "other").unwrap();
        assert!(owns(&other.fields, &key_path("annotations", "k")));
    }

    #[test]
    fn unchanged_reapply_keeps_the_time() {
        let object = created(json!({}));
        let body = apply_body(json!({"a": "1"}), json!(["f"]));
        let first = apply(Some(&object), &body, "me", false, NOW).unwrap();
        let second = apply(Some(&first), &body, "me", false, "2030-01-01T00:00:00Z").unwrap();
        assert_eq!(first, second);
    }
}
