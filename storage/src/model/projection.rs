//! Projections: which part of a Record's JSON document a read returns. The whole
//! document, none of it (the column is not read), or only the values at some paths,
//! returned as an object of the same nesting with `null` where a path is missing (the
//! shape Tekton Results' partial responses give).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Error, Result};

/// Most paths one projection may name.
pub const MAX_PROJECTION_PATHS: usize = 64;
/// Most steps (keys and array positions) in one path of a projection. A document nests
/// at most [`MAX_JSON_DEPTH`](crate::limits::MAX_JSON_DEPTH) deep, so no longer path reaches a value; and PostgreSQL
/// follows a path with one function call taking the document and each key, which may
/// take at most 100 arguments.
pub const MAX_PROJECTION_STEPS: usize = 32;

/// What a read returns of each Record's `data.value`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Projection {
    /// The whole document.
    #[default]
    Whole,
    /// Nothing: the document column is not read and `data.value` comes back empty
    /// (`data.type` is still read).
    NoData,
    /// Only the values at these paths (see [`Projection::paths`]).
    Paths(Vec<DataPath>),
}

/// A path into a JSON document: object keys, where a step of digits also indexes an
/// array (as in gjson, which upstream uses).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DataPath(Vec<String>);

impl DataPath {
    /// The steps, outermost first.
    pub fn steps(&self) -> &[String] {
        &self.0
    }

    /// How many leading steps the database can follow by itself: plain object keys
    /// (no array index, nothing a backend could read as one, and nothing a quoted
    /// JSON-path key cannot hold). The rest is followed in memory on the value read.
    pub fn database_steps(&self) -> usize {
        self.0
            .iter()
            .take_while(|s| {
                !is_index(s)
                    && !read_as_index(s)
                    && !s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
            })
            .count()
    }
}

fn is_index(step: &str) -> bool {
    !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit())
}

/// Whether PostgreSQL's `#>` would read `step` as an array index (`strtol`: leading
/// whitespace, a sign, digits), where only digits index an array here: `-1` is the last
/// element there and a key everywhere else.
fn read_as_index(step: &str) -> bool {
    let number = step.trim_start().trim_start_matches(['+', '-']);
    number.len() + 1 >= step.trim_start().len() && is_index(number)
}

impl Projection {
    /// Only the values at `paths`. Each path needs at least one step, and no step may be
    /// empty; a path under another one is redundant and dropped (the outer one returns
    /// it whole); at most [`MAX_PROJECTION_PATHS`], each of at most
    /// [`MAX_PROJECTION_STEPS`] steps.
    pub fn paths(paths: Vec<Vec<String>>) -> Result<Projection> {
        if paths.is_empty() || paths.len() > MAX_PROJECTION_PATHS {
            return Err(Error::InvalidArgument(format!(
                "a projection names 1 to {MAX_PROJECTION_PATHS} paths, not {}",
                paths.len()
            )));
        }
        if let Some(long) = paths.iter().find(|p| p.len() > MAX_PROJECTION_STEPS) {
            return Err(Error::InvalidArgument(format!(
                "projection path {:?} has {} steps; at most {MAX_PROJECTION_STEPS} are accepted",
                long.join("."),
                long.len()
            )));
        }
        let mut paths = paths;
        if let Some(bad) = paths
            .iter()
            .find(|p| p.is_empty() || p.iter().any(String::is_empty))
        {
            return Err(Error::InvalidArgument(format!(
                "projection path {:?} has an empty step",
                bad.join(".")
            )));
        }
        paths.sort();
        paths.dedup();
        let mut kept: Vec<Vec<String>> = Vec::with_capacity(paths.len());
        for path in paths {
            // Sorted, so an outer path comes right before the paths under it.
            if kept.last().is_some_and(|outer| path.starts_with(outer)) {
                continue;
            }
            kept.push(path);
        }
        Ok(Projection::Paths(kept.into_iter().map(DataPath).collect()))
    }
}

impl Projection {
    /// The same projection done in memory, on a document already at hand (an answer to a
    /// write): what a read under this projection would return of `value`.
    pub fn apply(&self, value: Vec<u8>) -> Vec<u8> {
        let paths = match self {
            Projection::Whole => return value,
            Projection::NoData => return Vec::new(),
            Projection::Paths(paths) => paths,
        };
        if value.is_empty() {
            return value;
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&value) else {
            return value;
        };
        let values = paths
            .iter()
            .map(|p| follow(&doc, p.steps()).cloned())
            .collect();
        assemble(paths, values)
    }
}

/// Follows `steps` in memory: a key of an object, or a position in an array.
pub(crate) fn follow<'v>(value: &'v Value, steps: &[String]) -> Option<&'v Value> {
    steps.iter().try_fold(value, |v, step| match v {
        Value::Object(map) => map.get(step),
        Value::Array(items) if is_index(step) => {
            step.parse::<usize>().ok().and_then(|i| items.get(i))
        }
        _ => None,
    })
}

/// The projected document: an object nesting each path's steps, holding at its end the
/// value `values[i]` of `paths[i]` (`null` when missing).
pub(crate) fn assemble(paths: &[DataPath], values: Vec<Option<Value>>) -> Vec<u8> {
    #[derive(Default)]
    struct Node(BTreeMap<String, Slot>);
    enum Slot {
        Leaf(Value),
        Branch(Node),
    }
    fn into_value(node: Node) -> Value {
        Value::Object(
            node.0
                .into_iter()
                .map(|(k, slot)| match slot {
                    Slot::Leaf(v) => (k, v),
                    Slot::Branch(n) => (k, into_value(n)),
                })
                .collect(),
        )
    }
    let mut root = Node::default();
    for (path, value) in paths.iter().zip(values) {
        let (last, outer) = path.0.split_last().expect("paths have a step");
        let mut node = &mut root;
        for step in outer {
            let slot = node
                .0
                .entry(step.clone())
                .or_insert_with(|| Slot::Branch(Node::default()));
            node = match slot {
                Slot::Branch(n) => n,
                // Normalised paths never run through another path's end.
                Slot::Leaf(_) => unreachable!("projection paths are prefix-free"),
            };
        }
        node.0
            .insert(last.clone(), Slot::Leaf(value.unwrap_or(Value::Null)));
    }
    serde_json::to_vec(&into_value(root)).expect("JSON values serialise")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    fn project(doc: &Value, paths: &[&str]) -> Value {
        let projection = Projection::paths(paths.iter().map(|p| path(p)).collect()).unwrap();
        serde_json::from_slice(&projection.apply(doc.to_string().into_bytes())).unwrap()
    }

    #[test]
    fn keeps_only_the_named_paths_and_nulls_for_missing_ones() {
        let doc = json!({"metadata": {"name": "run", "uid": "u"}, "status": {"conditions": [{"reason": "Failed"}]}, "spec": {}});
        assert_eq!(
            project(
                &doc,
                &["metadata.name", "status.conditions.0.reason", "nope.deeper"]
            ),
            json!({"metadata": {"name": "run"}, "status": {"conditions": {"0": {"reason": "Failed"}}}, "nope": {"deeper": null}})
        );
        // An outer path wins over the paths under it.
        assert_eq!(
            project(&doc, &["metadata.name", "metadata"]),
            json!({"metadata": {"name": "run", "uid": "u"}})
        );
    }

    #[test]
    fn digits_index_arrays_and_name_object_keys() {
        let doc = json!({"a": [10, 20], "o": {"1": "one"}});
        assert_eq!(
            project(&doc, &["a.1", "o.1", "a.x"]),
            json!({"a": {"1": 20, "x": null}, "o": {"1": "one"}})
        );
    }

    #[test]
    fn database_follows_plain_keys_only() {
        let Projection::Paths(paths) = Projection::paths(vec![
            path("status.conditions.0.reason"),
            path("a.b\"c.d"),
            path("x.y"),
            path("list.-1.a"),
            path("list.+0"),
            path("list. 2"),
            path("list.-x"),
        ])
        .unwrap() else {
            panic!("paths")
        };
        // In the paths' order: a.b"c.d, list. 2, list.+0, list.-1.a, list.-x,
        // status.conditions.0.reason, x.y.
        let depth: Vec<usize> = paths.iter().map(DataPath::database_steps).collect();
        assert_eq!(depth, vec![1, 1, 1, 1, 2, 2, 2]);
    }

    #[test]
    fn rejects_empty_steps_and_too_many_paths() {
        assert!(Projection::paths(vec![path("a..b")]).is_err());
        assert!(Projection::paths(vec![vec![]]).is_err());
        assert!(Projection::paths(vec![]).is_err());
        let many = (0..=MAX_PROJECTION_PATHS)
            .map(|i| vec![format!("k{i}")])
            .collect();
        assert!(Projection::paths(many).is_err());
        let deep = |n: usize| vec![vec!["a".to_owned(); n]];
        assert!(Projection::paths(deep(MAX_PROJECTION_STEPS)).is_ok());
        let err = Projection::paths(deep(MAX_PROJECTION_STEPS + 1)).unwrap_err();
        assert!(
            err.to_string()
                .contains("has 33 steps; at most 32 are accepted"),
            "{err}"
        );
    }
}
