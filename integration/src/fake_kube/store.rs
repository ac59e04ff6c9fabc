//! The objects, the global resourceVersion counter and the full event history, with the
//! reads (get, list, events since) and the two primitives every write ends in: `put` a new
//! state (ADDED/MODIFIED) or `remove` an object (DELETED, then garbage collection). The
//! writes themselves are in [`super::writes`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::meta::{meta_str, metadata_mut, Resource};
use super::selector::Selector;
use super::status::{ApiError, ApiResult};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One write, as watches replay it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub rv: u64,
    pub resource: Resource,
    pub kind: EventKind,
    pub object: Arc<Value>,
    /// The state before a MODIFIED event (label-selected watches turn it into ADDED or
    /// DELETED when the object starts or stops matching).
    pub previous: Option<Arc<Value>>,
}

/// A stored object.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub object: Arc<Value>,
    /// Dependents are orphaned rather than deleted once the object is gone (the
    /// propagation policy of the delete that set its deletionTimestamp).
    pub orphan: bool,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: usize,
}

/// Objects keyed by resource, then (namespace, name); "" is the namespace of
/// cluster-scoped objects.
pub(crate) struct Store {
    pub(super) rv: u64,
    pub(super) objects: BTreeMap<Resource, BTreeMap<(String, String), Stored>>,
    pub(super) events: Vec<Event>,
    /// Events up to this resourceVersion were dropped by `compact`.
    compacted: u64,
    pub(super) kinds: BTreeMap<Resource, String>,
}

impl Store {
    /// An empty store that already knows the kinds of Tekton runs and Leases.
    pub fn new() -> Store {
        let kinds = [
            ("tekton.dev/v1", "taskruns", "TaskRun"),
            ("tekton.dev/v1", "pipelineruns", "PipelineRun"),
            (super::leases::LEASE_API_VERSION, "leases", "Lease"),
        ]
        .into_iter()
        .map(|(api_version, plural, kind)| (Resource::new(api_version, plural), kind.to_owned()))
        .collect();
        Store {
            rv: 0,
            objects: BTreeMap::new(),
            events: Vec::new(),
            compacted: 0,
            kinds,
        }
    }

    /// The resourceVersion of the last write.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The kind of `resource`: learnt from written objects, else guessed from the plural.
    pub fn kind(&self, resource: &Resource) -> String {
        self.kinds
            .get(resource)
            .cloned()
            .unwrap_or_else(|| resource.guessed_kind())
    }

    /// Every resource of `group/version` that the store knows a kind for.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<(Resource, String)> {
        self.kinds
            .iter()
            .filter(|(r, _)| r.group == group && r.version == version)
            .map(|(r, kind)| (r.clone(), kind.clone()))
            .collect()
    }

    pub(super) fn stored(
        &self,
        resource: &Resource,
        namespace: &str,
        name: &str,
    ) -> Option<&Stored> {
        self.objects
            .get(resource)?
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// The object, or NotFound.
    pub fn get(&self, resource: &Resource, namespace: &str, name: &str) -> ApiResult<Arc<Value>> {
        self.stored(resource, namespace, name)
            .map(|s| s.object.clone())
            .ok_or_else(|| ApiError::not_found(resource, name))
    }

    /// Objects of `resource` (in `namespace`, or all) that `selector` matches, ordered by
    /// namespace and name, at most `limit` of them after the `continue` token.
    ///
    /// A continue token carries the resourceVersion of the first page, which every page
    /// reports; the pages show the current objects, not a snapshot.
    pub fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: &Selector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> ApiResult<Page> {
        let (resource_version, after) = match continue_token {
            Some(token) => decode_continue(token)?,
            None => (self.rv, None),
        };
        let matching: Vec<(&(String, String), &Stored)> = self
            .objects
            .get(resource)
            .into_iter()
            .flatten()
            .filter(|((ns, _), _)| namespace.is_none_or(|wanted| wanted == ns))
            .filter(|(key, _)| after.as_ref().is_none_or(|after| *key > after))
            .filter(|(_, stored)| selector.matches(&stored.object))
            .collect();
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let remaining = matching.len().saturating_sub(limit);
        let page = &matching[..matching.len().min(limit)];
        let continue_token = match page.last() {
            Some(((ns, name), _)) if remaining > 0 => {
                Some(format!("{resource_version}/{ns}/{name}"))
            }
            _ => None,
        };
        Ok(Page {
            items: page.iter().map(|(_, s)| s.object.clone()).collect(),
            resource_version,
            continue_token,
            remaining,
        })
    }

    /// Every event after resourceVersion `since`, or Expired if `compact` dropped some.
    pub fn events_after(&self, since: u64) -> ApiResult<&[Event]> {
        if since < self.compacted {
            return Err(ApiError::expired(since, self.compacted));
        }
        let start = self.events.partition_point(|e| e.rv <= since);
        Ok(&self.events[start..])
    }

    /// Forgets the event history: watches from an older resourceVersion get 410 Expired.
    pub fn compact(&mut self) {
        self.compacted = self.rv;
        self.events.clear();
    }

    /// Runs `op` and then forgets everything it did (`dryRun=All`).
    pub fn dry_run<T>(&mut self, op: impl FnOnce(&mut Store) -> ApiResult<T>) -> ApiResult<T> {
        let (rv, events) = (self.rv, self.events.len());
        let (objects, kinds) = (self.objects.clone(), self.kinds.clone());
        let outcome = op(self);
        self.rv = rv;
        self.events.truncate(events);
        self.objects = objects;
        self.kinds = kinds;
        outcome
    }

    /// Stores `object` under the next resourceVersion and records the event.
    pub(super) fn put(
        &mut self,
        resource: &Resource,
        mut object: Value,
        kind: EventKind,
        previous: Option<Arc<Value>>,
        orphan: bool,
    ) -> Value {
        self.rv += 1;
        metadata_mut(&mut object).insert("resourceVersion".into(), self.rv.to_string().into());
        let key = key_of(&object);
        let object = Arc::new(object);
        let stored = Stored {
            object: object.clone(),
            orphan,
        };
        self.objects
            .entry(resource.clone())
            .or_default()
            .insert(key, stored);
        self.events.push(Event {
            rv: self.rv,
            resource: resource.clone(),
            kind,
            object: object.clone(),
            previous,
        });
        Arc::unwrap_or_clone(object)
    }

    /// Removes the object (its last state is `object`), records DELETED under the next
    /// resourceVersion and collects its dependents.
    pub(super) fn remove(&mut self, resource: &Resource, mut object: Value, orphan: bool) -> Value {
        self.rv += 1;
        metadata_mut(&mut object).insert("resourceVersion".into(), self.rv.to_string().into());
        let key = key_of(&object);
        if let Some(objects) = self.objects.get_mut(resource) {
            objects.remove(&key);
        }
        let object = Arc::new(object);
        self.events.push(Event {
            rv: self.rv,
            resource: resource.clone(),
            kind: EventKind::Deleted,
            object: object.clone(),
            previous: None,
        });
        self.collect_garbage(&key.0, meta_str(&object, "uid"), orphan);
        Arc::unwrap_or_clone(object)
    }

    /// Whether any object has this uid.
    pub(super) fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .flat_map(|objects| objects.values())
            .any(|s| meta_str(&s.object, "uid") == uid)
    }
}

/// (namespace, name) of an object.
pub(super) fn key_of(object: &Value) -> (String, String) {
    (
        meta_str(object, "namespace").to_owned(),
        meta_str(object, "name").to_owned(),
    )
}

fn decode_continue(token: &str) -> ApiResult<(u64, Option<(String, String)>)> {
    let invalid = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let mut parts = token.splitn(3, '/');
    let rv = parts
        .next()
        .and_then(|rv| rv.parse().ok())
        .ok_or_else(invalid)?;
    let namespace = parts.next().ok_or_else(invalid)?;
    let name = parts.next().ok_or_else(invalid)?;
    Ok((rv, Some((namespace.to_owned(), name.to_owned()))))
}
