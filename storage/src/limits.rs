//! Every limit on what a client may send, in one place. Each is the same on every backend
//! and checked before the database sees the value, so a hostile request gets a specific
//! INVALID_ARGUMENT naming the limit, never an error the database raised. The values are
//! far beyond what real Tekton objects need: a run is a Kubernetes object, and etcd
//! refuses objects over 1.5 MiB.
//!
//! Sizes of whole requests (gRPC messages, REST bodies) and the budget of request bytes in
//! flight are the server's settings; the page size and page token limits live in
//! [`crate::page`], the segment and type lengths in [`crate::model`].

use crate::{Error, Result};

/// Largest JSON document a Record may hold, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;
/// Most bytes of Record documents in one listing page (what a fields mask keeps of them,
/// when one is given). A page ends before the Record that would take it over, so it may
/// hold fewer Records than `page_size`, but it holds at least one (a single document may
/// reach [`MAX_DOCUMENT_BYTES`]). 4 MiB leaves room under the server's default 8 MiB
/// message limit for a page's other fields and its encoding: a gRPC answer stays under it,
/// and so does its REST form, whose JSON escaping of the documents can grow them.
pub const MAX_PAGE_BYTES: usize = 4 << 20;
/// Deepest nesting of arrays and objects in a Record's document (`{"a":[1]}` is 2).
/// MariaDB refuses 32 and more; Tekton's deepest documents (a pipeline in a pipeline,
/// with step environments from secrets) stay under 20.
pub const MAX_JSON_DEPTH: usize = 30;
/// Longest number in a Record's document, in characters, and the largest exponent
/// magnitude it may carry. PostgreSQL stores JSON numbers as exact decimals and refuses
/// more than 16,383 digits after the point (`0.000…1`, `0e-99999`), which the other
/// backends and serde_json (rounding to a double) accept; within these limits a number
/// has at most about 2,000 such digits. A double needs no more than 767 significant
/// digits and exponents of ±324.
pub const MAX_JSON_NUMBER_CHARS: usize = 1000;
/// See [`MAX_JSON_NUMBER_CHARS`].
pub const MAX_JSON_EXPONENT: u32 = 1000;
/// Largest list index a filter may name (`data.items[2147483647]`): PostgreSQL's `->`
/// takes an `integer`. No document within [`MAX_DOCUMENT_BYTES`] has a list that long.
pub const MAX_JSON_INDEX: u32 = i32::MAX as u32;
/// Most annotations on a Result or a summary.
pub const MAX_ANNOTATIONS: usize = 256;
/// Longest annotation key, in bytes (a Kubernetes qualified name: a 253-byte prefix, `/`
/// and a 63-byte name).
pub const MAX_ANNOTATION_KEY_BYTES: usize = 317;
/// Most bytes in all keys and values of one annotation map (Kubernetes' own limit).
pub const MAX_ANNOTATIONS_BYTES: usize = 256 << 10;
/// Longest resource name (`<parent>/results/<result>/records/<record>` with three
/// 63-byte segments); anything longer cannot be a name.
pub const MAX_NAME_BYTES: usize = 3 * 63 + "/results/".len() + "/records/".len();
/// Longest etag a request may carry (a real one is a uid, `-` and a nanosecond count).
pub const MAX_ETAG_BYTES: usize = 128;
/// Longest CEL filter, in bytes.
pub const MAX_FILTER_BYTES: usize = 8 << 10;
/// Deepest nesting of parentheses, brackets and braces in a filter.
pub const MAX_FILTER_NESTING: usize = 32;
/// Deepest nesting of a filter's expression once parsed (operators, calls, selections;
/// `&&`/`||` chains and `in` lists count as balanced trees). A filter is checked, lowered
/// to SQL and evaluated by recursion on the server's threads, so depth, not length, is
/// what costs stack; within [`MAX_FILTER_BYTES`] a flat chain of terms never comes near.
pub const MAX_FILTER_DEPTH: usize = 64;
/// Longest `order_by`, `summary` or `group_by` parameter, in bytes.
pub const MAX_PARAMETER_BYTES: usize = 256;
/// Longest bearer token, in bytes (Kubernetes service-account tokens are 1–2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 << 10;
/// Most `Impersonate-*` header values in one request.
pub const MAX_IMPERSONATION_VALUES: usize = 64;
/// Longest `Impersonate-*` header value (or extra key), in bytes.
pub const MAX_IMPERSONATION_BYTES: usize = 1024;
/// Most namespaces a listing over `-` is narrowed to, one check each, when the caller may
/// not list in all namespaces; beyond it such a listing is denied.
pub const MAX_LISTED_NAMESPACES: usize = 10_000;

/// Fails with INVALID_ARGUMENT when `value` is longer than `max` bytes; `field` names it.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        return Err(Error::InvalidArgument(format!(
            "{field} is {} bytes long; the limit is {max} bytes",
            value.len()
        )));
    }
    Ok(())
}

/// Checks an annotation map (of a Result or a summary; `field` names it): entry count, key
/// and total sizes, and no NUL character (PostgreSQL's `jsonb` cannot hold one).
pub fn check_annotations<'a>(
    field: &str,
    annotations: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
) -> Result<()> {
    if annotations.len() > MAX_ANNOTATIONS {
        return Err(Error::InvalidArgument(format!(
            "{field} has {} entries; the limit is {MAX_ANNOTATIONS}",
            annotations.len()
        )));
    }
    let mut total = 0;
    for (key, value) in annotations {
        check_len(&format!("a key of {field}"), key, MAX_ANNOTATION_KEY_BYTES)?;
        if key.contains('\0') || value.contains('\0') {
            return Err(Error::InvalidArgument(format!(
                "{field} contains the NUL character, which cannot be stored"
            )));
        }
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATIONS_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{field} hold {total} bytes of keys and values; the limit is \
             {MAX_ANNOTATIONS_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Checks a filter's size and nesting before it is parsed (a parser recurses once per
/// level, so depth is bounded before any parsing happens).
pub fn check_filter_text(filter: &str) -> Result<()> {
    check_len("filter", filter, MAX_FILTER_BYTES)?;
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for &b in filter.as_bytes() {
        if let Some(q) = quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                _ if b == q => quote = None,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_FILTER_NESTING {
        return Err(Error::InvalidArgument(format!(
            "filter nests parentheses, brackets or braces {deepest} deep; the limit is \
             {MAX_FILTER_NESTING}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn message(result: Result<()>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn lengths_name_the_field_and_the_limit() {
        assert!(check_len("etag", "abc", 3).is_ok());
        assert_eq!(
            message(check_len("etag", "abcd", 3)),
            "etag is 4 bytes long; the limit is 3 bytes"
        );
        assert_eq!(MAX_NAME_BYTES, "a/results/b/records/c".len() - 3 + 3 * 63);
    }

    #[test]
    fn annotations_are_bounded_in_count_key_size_total_and_nul() {
        let map = |entries: Vec<(String, String)>| entries.into_iter().collect::<BTreeMap<_, _>>();
        let ok = map((0..MAX_ANNOTATIONS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect());
        assert!(check_annotations("annotations", ok.iter()).is_ok());
        let many = map((0..=MAX_ANNOTATIONS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect());
        assert!(message(check_annotations("annotations", many.iter())).contains("257 entries"));
        let long_key = map(vec![("k".repeat(MAX_ANNOTATION_KEY_BYTES + 1), "v".into())]);
        assert!(message(check_annotations("annotations", long_key.iter()))
            .contains("a key of annotations is 318 bytes long"));
        let big = map((0..5)
            .map(|i| (format!("k{i}"), "v".repeat(MAX_ANNOTATIONS_BYTES / 4)))
            .collect());
        assert!(
            message(check_annotations("summary.annotations", big.iter()))
                .contains("the limit is 262144 bytes")
        );
        let nul = map(vec![("k".into(), "a\0b".into())]);
        assert!(message(check_annotations("annotations", nul.iter())).contains("NUL"));
    }

    #[test]
    fn filter_nesting_is_counted_outside_string_literals() {
        let deep = |n: usize| format!("{}true{}", "(".repeat(n), ")".repeat(n));
        assert!(check_filter_text(&deep(MAX_FILTER_NESTING)).is_ok());
        assert!(message(check_filter_text(&deep(MAX_FILTER_NESTING + 1)))
            .contains("33 deep; the limit is 32"));
        let quoted = format!(
            "name == '{}' && name != \"{}\\\"(\"",
            "(".repeat(100),
            "[".repeat(100)
        );
        assert!(check_filter_text(&quoted).is_ok());
        let long = format!("name == '{}'", "x".repeat(MAX_FILTER_BYTES));
        assert!(message(check_filter_text(&long)).contains("the limit is 8192 bytes"));
    }
}
