//! Partial responses, as upstream's `PartialResponse` feature (AIP-157): the `fields`
//! mask (REST query parameter, gRPC metadata key) of GetResult, GetRecord, ListResults,
//! ListRecords and the Create/Update calls keeps only the named fields of the answer.
//!
//! As upstream: comma-separated dot paths of proto field names, relative to the response
//! message (`records.name`, `next_page_token` for ListRecords; `name`, `data.value` for
//! GetRecord); a path under another named one is redundant; names that are no field are
//! ignored; a path into `data.value` keeps that part of the JSON document, `null` where
//! it is missing. Unlike upstream, the document is trimmed in the database (see
//! [`record_projection`]), and malformed or oversized masks are refused.

use std::collections::BTreeMap;

use results_actors::model::Projection;

use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;

/// The gRPC metadata key and REST query parameter of the mask.
pub const FIELDS_KEY: &str = "fields";
/// Most paths a mask may hold.
pub const MAX_FIELD_PATHS: usize = 64;
/// Most keys one path may name inside a Record's `data.value` (`records.data.value.a.b`
/// names 2). A document nests at most 30 deep, so no longer path reaches a value, and
/// the database follows the keys as arguments of one function call (PostgreSQL takes at
/// most 100). Refused alike on every backend, before any query.
pub const MAX_FIELD_PATH_KEYS: usize = results_actors::model::MAX_PROJECTION_STEPS;
/// Most bytes a mask may hold, all its values together.
pub const MAX_FIELDS_BYTES: usize = 1024;

/// A parsed `fields` mask: a tree of field names, where a name without children keeps
/// its field whole. The empty mask (no `fields`, or a blank one) keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMask(BTreeMap<String, FieldMask>);

impl FieldMask {
    /// Parses the values of `fields` (each a comma-separated list of paths). Empty
    /// entries are skipped, as upstream does. Refused: more than [`MAX_FIELDS_BYTES`] or
    /// [`MAX_FIELD_PATHS`], and paths with an empty field name (`records..name`).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<FieldMask, ApiError> {
        let values: Vec<&str> = values.into_iter().collect();
        let bytes: usize = values.iter().map(|v| v.len()).sum();
        if bytes > MAX_FIELDS_BYTES {
            return Err(ApiError::InvalidArgument(format!(
                "fields is {bytes} bytes long; at most {MAX_FIELDS_BYTES} are accepted"
            )));
        }
        let paths: Vec<&str> = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if paths.len() > MAX_FIELD_PATHS {
            return Err(ApiError::InvalidArgument(format!(
                "fields names {} paths; at most {MAX_FIELD_PATHS} are accepted",
                paths.len()
            )));
        }
        let mut mask = FieldMask::default();
        for path in paths {
            let names: Vec<&str> = path.split('.').collect();
            if names.iter().any(|n| n.is_empty()) {
                return Err(ApiError::InvalidArgument(format!(
                    "fields: path {path:?} has an empty field name"
                )));
            }
            mask.insert(&names);
        }
        Ok(mask)
    }

    /// Whether the mask keeps everything.
    pub fn is_all(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a path; a path under a name kept whole adds nothing, and a name kept whole
    /// replaces the paths under it.
    fn insert(&mut self, names: &[&str]) {
        let Some((first, rest)) = names.split_first() else {
            return;
        };
        match self.0.get_mut(*first) {
            Some(child) if child.is_all() => {}
            Some(child) if rest.is_empty() => child.0.clear(),
            Some(child) => child.insert(rest),
            None => {
                let mut child = FieldMask::default();
                child.insert(rest);
                self.0.insert((*first).to_owned(), child);
            }
        }
    }

    /// What of field `name` is kept: `None` when it is cleared.
    fn field(&self, name: &str) -> Option<&FieldMask> {
        if self.is_all() {
            return Some(self);
        }
        self.0.get(name)
    }

    /// Clears `value` unless field `name` is kept.
    fn keep<T: Default>(&self, name: &str, value: &mut T) {
        if self.field(name).is_none() {
            *value = T::default();
        }
    }

    /// Every path to a name kept whole, as its names.
    fn leaf_paths(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (name, child) in &self.0 {
            prefix.push(name.clone());
            if child.is_all() {
                out.push(prefix.clone());
            } else {
                child.leaf_paths(prefix, out);
            }
            prefix.pop();
        }
    }
}

/// What the database must read of each Record's document to answer with `mask` (the
/// mask of one Record: the whole mask for GetRecord, that of `records` for ListRecords;
/// `None` when no Record field is kept).
pub fn record_projection(mask: Option<&FieldMask>) -> Result<Projection, ApiError> {
    let Some(mask) = mask else {
        return Ok(Projection::NoData);
    };
    let value = mask
        .field("data")
        .map(|data| data.field("value"))
        .unwrap_or(None);
    let Some(value) = value else {
        return Ok(Projection::NoData);
    };
    if value.is_all() {
        return Ok(Projection::Whole);
    }
    let mut paths = Vec::new();
    value.leaf_paths(&mut Vec::new(), &mut paths);
    if let Some(long) = paths.iter().find(|p| p.len() > MAX_FIELD_PATH_KEYS) {
        return Err(ApiError::InvalidArgument(format!(
            "fields: data.value.{} names {} keys inside data.value; at most \
             {MAX_FIELD_PATH_KEYS} are accepted",
            long.join("."),
            long.len()
        )));
    }
    for path in &paths {
        if let Some(step) = path.iter().find(|s| is_gjson_syntax(s)) {
            return Err(ApiError::InvalidArgument(format!(
                "fields: {:?} in data.value.{} is path syntax this server does not support; \
                 name object keys or array positions",
                step,
                path.join(".")
            )));
        }
    }
    Ok(Projection::paths(paths)?)
}

/// Wildcards, queries and modifiers of gjson (upstream's JSON paths), refused rather
/// than read as keys.
fn is_gjson_syntax(step: &str) -> bool {
    step.starts_with('@') || step.contains(['*', '?', '#', '|', '\\'])
}

/// The mask of the Records of a ListRecords answer (`None` when they are cleared).
pub fn listed_records(mask: &FieldMask) -> Option<&FieldMask> {
    mask.field("records")
}

/// Trims the fields Results and Records share: names, ids, etag and the four times.
macro_rules! trim_shared_fields {
    ($mask:ident, $r:ident) => {
        for (name, text) in [
            ("name", &mut $r.name),
            ("id", &mut $r.id),
            ("uid", &mut $r.uid),
            ("etag", &mut $r.etag),
        ] {
            $mask.keep(name, text);
        }
        for (name, time) in [
            ("created_time", &mut $r.created_time),
            ("create_time", &mut $r.create_time),
            ("updated_time", &mut $r.updated_time),
            ("update_time", &mut $r.update_time),
        ] {
            trim_time($mask, name, time);
        }
    };
}

/// Trims a Record to `mask` (its `data.value` was projected already).
pub fn trim_record(mask: &FieldMask, r: &mut pb::Record) {
    if mask.is_all() {
        return;
    }
    trim_shared_fields!(mask, r);
    match (mask.field("data"), r.data.as_mut()) {
        (None, _) => r.data = None,
        (Some(data), Some(any)) => {
            data.keep("type", &mut any.r#type);
            data.keep("value", &mut any.value);
        }
        (Some(_), None) => {}
    }
}

/// Trims the answer to a write (upstream trims every answer): as [`trim_record`], the
/// document projected in memory, as a read would have projected it in the database.
pub fn trim_written_record(mask: &FieldMask, projection: &Projection, r: &mut pb::Record) {
    if let Some(any) = r.data.as_mut() {
        any.value = projection.apply(std::mem::take(&mut any.value));
    }
    trim_record(mask, r);
}

/// Trims a Result to `mask`.
pub fn trim_result(mask: &FieldMask, r: &mut pb::Result) {
    if mask.is_all() {
        return;
    }
    trim_shared_fields!(mask, r);
    trim_map(mask, "annotations", &mut r.annotations);
    match (mask.field("summary"), r.summary.as_mut()) {
        (None, _) => r.summary = None,
        (Some(m), Some(s)) if !m.is_all() => {
            m.keep("record", &mut s.record);
            m.keep("type", &mut s.r#type);
            m.keep("status", &mut s.status);
            trim_time(m, "start_time", &mut s.start_time);
            trim_time(m, "end_time", &mut s.end_time);
            trim_map(m, "annotations", &mut s.annotations);
        }
        _ => {}
    }
}

/// Trims a ListRecords answer: `records` and `next_page_token` are kept only if named.
pub fn trim_records_page(mask: &FieldMask, page: &mut pb::ListRecordsResponse) {
    match listed_records(mask) {
        None => page.records.clear(),
        Some(m) => page.records.iter_mut().for_each(|r| trim_record(m, r)),
    }
    mask.keep("next_page_token", &mut page.next_page_token);
}

/// Trims a ListResults answer: `results` and `next_page_token` are kept only if named.
pub fn trim_results_page(mask: &FieldMask, page: &mut pb::ListResultsResponse) {
    match mask.field("results") {
        None => page.results.clear(),
        Some(m) => page.results.iter_mut().for_each(|r| trim_result(m, r)),
    }
    mask.keep("next_page_token", &mut page.next_page_token);
}

fn trim_time(mask: &FieldMask, name: &str, time: &mut Option<prost_types::Timestamp>) {
    match (mask.field(name), time.as_mut()) {
        (None, _) => *time = None,
        (Some(m), Some(t)) => {
            m.keep("seconds", &mut t.seconds);
            m.keep("nanos", &mut t.nanos);
        }
        (Some(_), None) => {}
    }
}

/// A map field: a mask under it names the keys kept.
fn trim_map(mask: &FieldMask, name: &str, map: &mut std::collections::HashMap<String, String>) {
    match mask.field(name) {
        None => map.clear(),
        Some(m) if !m.is_all() => map.retain(|k, _| m.0.contains_key(k)),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &str) -> FieldMask {
        FieldMask::parse([text]).unwrap()
    }

    #[test]
    fn parses_like_upstream_normalises() {
        // "a.b" covers "a.b.c"; blanks and spaces around paths are skipped.
        let m = mask(" a.b , a.b.c,,d.e, f");
        let mut paths = Vec::new();
        m.leaf_paths(&mut Vec::new(), &mut paths);
        assert_eq!(paths, [vec!["a", "b"], vec!["d", "e"], vec!["f"]]);
        assert_eq!(mask("x.y,x"), mask("x"));
        assert!(mask("").is_all());
        assert!(mask(" , ").is_all());
        assert_eq!(
            FieldMask::parse(["records.name", "records.uid"]).unwrap(),
            mask("records.name,records.uid")
        );
    }

    #[test]
    fn refuses_malformed_and_oversized_masks() {
        for bad in ["records..name", "records.", ".name"] {
            let err = FieldMask::parse([bad]).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        let many = (0..=MAX_FIELD_PATHS)
            .map(|i| format!("f{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(FieldMask::parse([many.as_str()])
            .unwrap_err()
            .to_string()
            .contains("65 paths"));
        let long = "a".repeat(MAX_FIELDS_BYTES + 1);
        assert!(FieldMask::parse([long.as_str()])
            .unwrap_err()
            .to_string()
            .contains("bytes"));
    }

    #[test]
    fn projections_follow_the_mask() {
        let records = |text: &str| record_projection(listed_records(&mask(text)));
        assert_eq!(records("").unwrap(), Projection::Whole);
        assert_eq!(records("records").unwrap(), Projection::Whole);
        assert_eq!(
            records("records.name,records.uid,records.data.value").unwrap(),
            Projection::Whole
        );
        assert_eq!(records("records.data").unwrap(), Projection::Whole);
        assert_eq!(
            records("records.name,next_page_token").unwrap(),
            Projection::NoData
        );
        assert_eq!(records("records.data.type").unwrap(), Projection::NoData);
        assert_eq!(records("next_page_token").unwrap(), Projection::NoData);
        assert_eq!(
            records("records.data.value.metadata.name,records.data.value.status").unwrap(),
            Projection::paths(vec![
                vec!["metadata".into(), "name".into()],
                vec!["status".into()]
            ])
            .unwrap()
        );
        let err = records("records.data.value.status.conditions.#.reason").unwrap_err();
        assert!(err.to_string().contains("\"#\""), "{err}");
        let deep = |n: usize| format!("records.data.value{}", ".a".repeat(n));
        assert_eq!(
            records(&deep(MAX_FIELD_PATH_KEYS)).unwrap(),
            Projection::paths(vec![vec!["a".into(); MAX_FIELD_PATH_KEYS]]).unwrap()
        );
        let err = records(&deep(MAX_FIELD_PATH_KEYS + 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names 33 keys inside data.value; at most 32 are accepted"),
            "{err}"
        );
        let err = records(&deep(100)).unwrap_err().to_string();
        assert!(err.contains("names 100 keys"), "{err}");
    }

    #[test]
    fn trims_unnamed_fields_and_ignores_unknown_names() {
        let mut r = pb::Record {
            name: "a/results/b/records/c".into(),
            uid: "u".into(),
            id: "u".into(),
            etag: "e".into(),
            data: Some(pb::Any {
                r#type: "t".into(),
                value: b"{}".to_vec(),
            }),
            create_time: Some(prost_types::Timestamp {
                seconds: 5,
                nanos: 6,
            }),
            ..Default::default()
        };
        trim_record(
            &mask("name,data.type,no_such_field,create_time.seconds"),
            &mut r,
        );
        assert_eq!(
            r,
            pb::Record {
                name: "a/results/b/records/c".into(),
                data: Some(pb::Any {
                    r#type: "t".into(),
                    value: Vec::new(),
                }),
                create_time: Some(prost_types::Timestamp {
                    seconds: 5,
                    nanos: 0
                }),
                ..Default::default()
            }
        );
        let mut page = pb::ListResultsResponse {
            results: vec![pb::Result {
                name: "a/results/b".into(),
                annotations: [
                    ("k".to_string(), "v".to_string()),
                    ("x".to_string(), "y".to_string()),
                ]
                .into(),
                ..Default::default()
            }],
            next_page_token: "t".into(),
        };
        trim_results_page(&mask("results.annotations.k"), &mut page);
        assert_eq!(page.next_page_token, "");
        assert_eq!(page.results[0].name, "");
        assert_eq!(
            page.results[0].annotations,
            [("k".to_string(), "v".to_string())].into()
        );
    }
}
