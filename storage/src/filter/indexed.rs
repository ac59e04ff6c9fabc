//! Indexed JSON paths: paths into Record documents (`records.data`) that an operator
//! configures (`[database] indexed_json_paths`) so that equality filters on them are
//! answered by an index instead of a scan.
//!
//! # Slots
//! Index DDL cannot bind parameters, and the paths come from configuration, so every name
//! a query or a DDL statement uses is fixed: there are [`MAX_INDEXED_PATHS`] *slots*, and
//! the path at position `i` of the configured list lives in slot `i`: index
//! `records_jp_<i>` on every backend, over a virtual generated column `jp_<i>` on SQLite
//! and MariaDB and over an immutable SQL function `records_jp_<i>(data)` on PostgreSQL.
//! Queries name only those constants ([`SLOT_COLUMNS`], [`SLOT_CALLS`]), so the filter SQL stays
//! `&'static str` text with bound values. The one place the path text enters SQL is the
//! DDL that defines a slot (`storage/src/json_indexes.rs`), and only after [`IndexedPaths::parse`]
//! has checked every key against a strict whitelist (see [`KEY_CHARS`]).
//!
//! # What a slot holds, and how a filter uses it
//! A slot holds the text of the value at its path, cut to its first [`INDEXED_CHARS`]
//! characters (so that no document can exceed an index entry's size limit): the unquoted
//! string for a JSON string, some spelling of other values, NULL when missing. For
//! `path == "literal"` (also inside `in [...]`, and anywhere no `!` is above it) on a
//! configured path, the lowering adds `slot = <literal cut the same way>` beside the
//! exact comparison, which it keeps: the added condition holds whenever the exact one
//! does, so it only narrows the rows the exact test reads, and results are the same with
//! or without the index. Other comparisons (ordering, `startsWith`, non-string literals)
//! are not rewritten.
//!
//! The index is `(slot, create_time, id)`: an equality on the slot leaves the rows in the
//! order of a listing by `create_time` (the default order), so a page reads about a page
//! of rows, and a continued page seeks to its keyset.

use std::sync::Arc;

use super::ir::{CmpOp, JsonPath, JsonRoot, Lit, Operand, Pred, Step};
use super::Environment;
use crate::{Error, Result};

/// Most paths that can be indexed (the number of slots).
pub const MAX_INDEXED_PATHS: usize = 16;
/// Longest path source accepted, in bytes.
pub const MAX_INDEXED_PATH_BYTES: usize = 256;
/// Longest key of an indexed path, in bytes.
pub const MAX_INDEXED_KEY_BYTES: usize = 128;
/// Most steps (keys and indexes) of an indexed path.
pub const MAX_INDEXED_PATH_STEPS: usize = 16;
/// Characters of a value an index holds; longer values share an entry with others of
/// the same prefix (the exact comparison tells them apart).
pub const INDEXED_CHARS: usize = 255;
/// What the keys of an indexed path may hold besides ASCII letters and digits. None of
/// these ends or escapes a quoted SQL string, a quoted JSON path member
/// (`$."tekton.dev/pipeline"`) or an element of a PostgreSQL text array literal
/// (`'{metadata,labels,tekton.dev/pipeline}'`), which is why the DDL may embed them.
pub const KEY_CHARS: &str = "._/-";

/// The index of each slot (on PostgreSQL also the name of its function).
pub(crate) const SLOT_INDEXES: [&str; MAX_INDEXED_PATHS] = [
    "records_jp_0",
    "records_jp_1",
    "records_jp_2",
    "records_jp_3",
    "records_jp_4",
    "records_jp_5",
    "records_jp_6",
    "records_jp_7",
    "records_jp_8",
    "records_jp_9",
    "records_jp_10",
    "records_jp_11",
    "records_jp_12",
    "records_jp_13",
    "records_jp_14",
    "records_jp_15",
];
/// The generated column of each slot (SQLite and MariaDB).
pub(crate) const SLOT_COLUMNS: [&str; MAX_INDEXED_PATHS] = [
    "jp_0", "jp_1", "jp_2", "jp_3", "jp_4", "jp_5", "jp_6", "jp_7", "jp_8", "jp_9", "jp_10",
    "jp_11", "jp_12", "jp_13", "jp_14", "jp_15",
];
/// What a query reads of each slot on PostgreSQL: the indexed expression itself, as the
/// planner matches an expression index only to the same expression.
pub(crate) const SLOT_CALLS: [&str; MAX_INDEXED_PATHS] = [
    "records_jp_0(records.data)",
    "records_jp_1(records.data)",
    "records_jp_2(records.data)",
    "records_jp_3(records.data)",
    "records_jp_4(records.data)",
    "records_jp_5(records.data)",
    "records_jp_6(records.data)",
    "records_jp_7(records.data)",
    "records_jp_8(records.data)",
    "records_jp_9(records.data)",
    "records_jp_10(records.data)",
    "records_jp_11(records.data)",
    "records_jp_12(records.data)",
    "records_jp_13(records.data)",
    "records_jp_14(records.data)",
    "records_jp_15(records.data)",
];

/// The configured indexed paths, in slot order. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexedPaths {
    paths: Arc<[IndexedPath]>,
}

/// One indexed path: the source as configured and the path it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedPath {
    slot: usize,
    source: String,
    path: JsonPath,
}

impl IndexedPath {
    /// The slot holding it: its position in the configured list.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The path as configured (`data.metadata.labels['tekton.dev/pipeline']`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The path as a JSON path of SQLite and MariaDB: `$."status"."conditions"[0]`.
    /// Safe to embed in a quoted SQL string: [`IndexedPaths::parse`] checked every key.
    pub(crate) fn json_path(&self) -> String {
        let mut text = String::from("$");
        for step in &self.path.steps {
            match step {
                Step::Key(k) => text.push_str(&format!(".\"{k}\"")),
                Step::Index(i) => text.push_str(&format!("[{i}]")),
            }
        }
        text
    }

    /// The path as a PostgreSQL text array for `#>>`: `{status,conditions,0,reason}`.
    /// Safe to embed in a quoted SQL string: [`IndexedPaths::parse`] checked every key.
    pub(crate) fn pg_path(&self) -> String {
        let steps: Vec<String> = self
            .path
            .steps
            .iter()
            .map(|s| match s {
                Step::Key(k) => k.clone(),
                Step::Index(i) => i.to_string(),
            })
            .collect();
        format!("{{{}}}", steps.join(","))
    }
}

impl IndexedPaths {
    /// No indexed path.
    pub fn none() -> IndexedPaths {
        IndexedPaths::default()
    }

    /// Checks `sources` (paths in the filter language, e.g.
    /// `data.status.conditions[0].reason`): each must be a path into a Record's `data`
    /// whose keys hold only ASCII letters, digits and [`KEY_CHARS`], at most
    /// [`MAX_INDEXED_PATHS`] of them, none twice. The error names the offending entry.
    pub fn parse<S: AsRef<str>>(sources: &[S]) -> Result<IndexedPaths> {
        if sources.len() > MAX_INDEXED_PATHS {
            return Err(Error::InvalidArgument(format!(
                "{} paths given; at most {MAX_INDEXED_PATHS} can be indexed",
                sources.len()
            )));
        }
        let mut paths: Vec<IndexedPath> = Vec::new();
        for (slot, source) in sources.iter().enumerate() {
            let source = source.as_ref().trim();
            let path = parse_one(source)
                .map_err(|why| Error::InvalidArgument(format!("path {source:?}: {why}")))?;
            if let Some(same) = paths.iter().find(|p| p.path == path) {
                return Err(Error::InvalidArgument(format!(
                    "path {source:?} is the same path as {:?}, listed before",
                    same.source
                )));
            }
            paths.push(IndexedPath {
                slot,
                source: source.to_owned(),
                path,
            });
        }
        Ok(IndexedPaths {
            paths: paths.into(),
        })
    }

    /// The paths, in slot order (a slot may be unused: see [`IndexedPath::slot`]).
    pub fn paths(&self) -> &[IndexedPath] {
        &self.paths
    }

    /// Whether no path is indexed.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// These paths, keeping only those `keep` accepts (each in its own slot still).
    pub(crate) fn only(&self, keep: impl Fn(&IndexedPath) -> bool) -> IndexedPaths {
        IndexedPaths {
            paths: self.paths.iter().filter(|p| keep(p)).cloned().collect(),
        }
    }

    /// The slot holding `path`, if it is indexed.
    pub(crate) fn slot_of(&self, path: &JsonPath) -> Option<usize> {
        if path.root != JsonRoot::Data {
            return None;
        }
        self.paths.iter().find(|p| p.path == *path).map(|p| p.slot)
    }
}

/// The path `source` names, checked against the whitelist.
fn parse_one(source: &str) -> std::result::Result<JsonPath, String> {
    if source.is_empty() {
        return Err("empty".into());
    }
    if source.len() > MAX_INDEXED_PATH_BYTES {
        return Err(format!("longer than {MAX_INDEXED_PATH_BYTES} bytes"));
    }
    // Checked as the filter `<source> == "x"`, so that the path is exactly what a filter
    // naming it reads.
    let probe = format!("{source} == \"x\"");
    let pred = super::check::check(&probe, Environment::Records).map_err(|e| match e {
        Error::InvalidArgument(m) => m,
        other => other.to_string(),
    })?;
    let path = match pred {
        Pred::Cmp(Operand::Json(path), CmpOp::Eq, Lit::Str(s))
            if s == "x" && path.root == JsonRoot::Data =>
        {
            path
        }
        _ => {
            return Err(
                "not a path into a Record's data (write it like a filter does, e.g. \
                 data.metadata.labels['tekton.dev/pipeline'])"
                    .into(),
            )
        }
    };
    if path.steps.is_empty() || path.steps.len() > MAX_INDEXED_PATH_STEPS {
        return Err(format!(
            "needs 1 to {MAX_INDEXED_PATH_STEPS} steps below data"
        ));
    }
    for step in &path.steps {
        if let Step::Key(key) = step {
            let allowed = |c: char| c.is_ascii_alphanumeric() || KEY_CHARS.contains(c);
            if key.is_empty() || key.len() > MAX_INDEXED_KEY_BYTES || !key.chars().all(allowed) {
                return Err(format!(
                    "key {key:?} must be 1 to {MAX_INDEXED_KEY_BYTES} ASCII letters, digits \
                     or any of {KEY_CHARS:?}"
                ));
            }
        }
    }
    Ok(path)
}

/// A value as a slot holds it: its first [`INDEXED_CHARS`] characters.
pub(crate) fn indexed_prefix(s: &str) -> &str {
    match s.char_indices().nth(INDEXED_CHARS) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_like_filters() {
        let paths = IndexedPaths::parse(&[
            "data.metadata.labels['tekton.dev/pipeline']",
            "data.status.conditions[0].reason",
        ])
        .unwrap();
        assert_eq!(paths.paths().len(), 2);
        assert_eq!(
            paths.paths()[0].json_path(),
            r#"$."metadata"."labels"."tekton.dev/pipeline""#
        );
        assert_eq!(
            paths.paths()[1].json_path(),
            r#"$."status"."conditions"[0]."reason""#
        );
        assert_eq!(paths.paths()[1].pg_path(), "{status,conditions,0,reason}");
        // The same path written another way is the same slot.
        let filter = super::super::check::check(
            r#"data["status"].conditions[0]["reason"] == "Failed""#,
            Environment::Records,
        )
        .unwrap();
        let Pred::Cmp(Operand::Json(path), ..) = filter else {
            panic!("{filter:?}")
        };
        assert_eq!(paths.slot_of(&path), Some(1));
    }

    #[test]
    fn refuses_what_cannot_be_indexed_safely() {
        for (bad, why) in [
            ("", "empty"),
            ("name", "not a path into a Record's data"),
            ("data", "steps"),
            ("data.a == 'x' || data.b", "not a path"),
            ("data.metadata.labels['a b']", "key \"a b\""),
            ("data.metadata.labels[\"it's\"]", "key"),
            ("data.a['x,y']", "key"),
            ("data.a['{x}']", "key"),
            ("data.a.", "not valid CEL"),
            ("size(data.a)", "size()"),
        ] {
            let err = IndexedPaths::parse(&[bad]).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
            if !bad.is_empty() {
                assert!(err.contains(&format!("{bad:?}")), "names the entry: {err}");
            }
        }
        let too_many: Vec<String> = (0..=MAX_INDEXED_PATHS)
            .map(|i| format!("data.k{i}"))
            .collect();
        assert!(IndexedPaths::parse(&too_many).is_err());
        let twice = IndexedPaths::parse(&["data.a.b", "data['a'].b"])
            .unwrap_err()
            .to_string();
        assert!(twice.contains("same path"), "{twice}");
        let long = format!("data.{}", "a".repeat(MAX_INDEXED_KEY_BYTES + 1));
        assert!(IndexedPaths::parse(&[long]).is_err());
    }

    #[test]
    fn prefixes_count_characters() {
        let long = "é".repeat(INDEXED_CHARS + 3);
        assert_eq!(indexed_prefix(&long).chars().count(), INDEXED_CHARS);
        assert_eq!(indexed_prefix("abc"), "abc");
    }
}
