//! The latest objects of pending runs, between the watch and the workers, within a byte
//! budget.

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::DynamicObject;

use super::state::Key;

/// The latest object of a pending run, as the watch delivered it.
pub(super) struct Cached {
    pub(super) object: Arc<DynamicObject>,
    /// The watch said it is gone: this is its final state.
    pub(super) gone: bool,
    bytes: usize,
}

/// The latest objects of pending runs, within a byte budget.
pub(super) struct Cache {
    entries: HashMap<Key, Cached>,
    bytes: usize,
    budget: usize,
}

impl Cache {
    pub(super) fn new(budget: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            bytes: 0,
            budget,
        }
    }

    /// Keeps `object` (of serialised size `bytes`) for `key` if it fits. `replace` = a
    /// newer object; otherwise only fills an empty slot. What does not fit is not kept
    /// (the worker fetches the run again).
    pub(super) fn keep(
        &mut self,
        key: Key,
        object: Arc<DynamicObject>,
        bytes: usize,
        gone: bool,
        replace: bool,
    ) {
        if let Some(old) = self.entries.get(&key) {
            if !replace {
                return;
            }
            self.bytes -= old.bytes;
            self.entries.remove(&key);
        }
        if self.bytes + bytes <= self.budget {
            self.bytes += bytes;
            self.entries.insert(
                key,
                Cached {
                    object,
                    gone,
                    bytes,
                },
            );
        }
    }

    pub(super) fn take(&mut self, key: &Key) -> Option<Cached> {
        let cached = self.entries.remove(key)?;
        self.bytes -= cached.bytes;
        Some(cached)
    }
}

/// Counts bytes written, to size objects without keeping their text.
pub(super) struct ByteCount(pub(super) usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::RunKind;

    fn object() -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": "t", "namespace": "ci", "uid": "u"}
        }))
        .unwrap()
    }

    #[test]
    fn the_cache_keeps_latest_objects_within_its_budget() {
        let key = |name: &str| Key {
            kind: RunKind::TaskRun,
            namespace: "ci".into(),
            name: name.into(),
        };
        let o = Arc::new(object());
        let mut cache = Cache::new(100);
        cache.keep(key("a"), o.clone(), 60, false, true);
        cache.keep(key("b"), o.clone(), 60, false, true); // over budget: not kept
        assert!(cache.take(&key("b")).is_none());
        cache.keep(key("a"), o.clone(), 90, false, true); // a newer object replaces
        assert_eq!(cache.bytes, 90);
        cache.keep(key("a"), o.clone(), 10, true, false); // a tombstone only fills a gap
        let a = cache.take(&key("a")).unwrap();
        assert_eq!((a.bytes, a.gone), (90, false));
        assert_eq!(cache.bytes, 0);
        cache.keep(key("a"), o, 10, true, false);
        assert!(cache.take(&key("a")).unwrap().gone);
        assert!(cache.entries.is_empty());
    }
}
