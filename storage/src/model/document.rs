//! The one check of a Record's JSON document before it is stored: exactly one JSON value,
//! within the size and nesting limits, whose strings are valid Unicode without NUL and
//! whose numbers every backend can hold. Every backend can then store it: PostgreSQL's
//! `jsonb` refuses NUL, lone surrogates and numbers beyond its `numeric`, MariaDB's JSON
//! check refuses 32 levels of nesting, SQLite refuses 1,000.
//!
//! serde_json checks the syntax (and UTF-8) without building anything but the set of
//! each object's keys (a key named twice is refused); two byte scans check what it lets
//! through: nesting and numbers outside strings, and `\u` escapes.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::limits::{MAX_DOCUMENT_BYTES, MAX_JSON_DEPTH, MAX_JSON_EXPONENT, MAX_JSON_NUMBER_CHARS};
use crate::{Error, Result};

/// Checks `value` (the bytes of `data.value`), without building the document.
pub(crate) fn check_document(value: &[u8]) -> Result<()> {
    let invalid = |message: String| Err(Error::InvalidArgument(message));
    if value.len() > MAX_DOCUMENT_BYTES {
        return invalid(format!(
            "data.value is {} bytes long; the limit is {MAX_DOCUMENT_BYTES} bytes",
            value.len()
        ));
    }
    // Nesting first: serde_json's own recursion limit would answer more vaguely.
    let shape = shape(value);
    if shape.too_deep {
        return invalid(format!(
            "data.value nests arrays and objects more than {MAX_JSON_DEPTH} deep, the limit"
        ));
    }
    // serde_json skips strings it ignores without checking their UTF-8.
    if let Err(e) = std::str::from_utf8(value) {
        return invalid(format!("data.value is not a JSON document: {e}"));
    }
    // One pass for the syntax and the keys of each object; on a failure the escapes and
    // numbers are looked at to say precisely what is wrong, where they are the cause.
    let syntax = serde_json::from_slice::<Syntax>(value);
    match bad_escape(value) {
        Some((at, Escape::Nul)) => {
            return invalid(format!(
                "data.value holds a string with the NUL character (\\u0000) at byte {at}, \
                 which cannot be stored"
            ))
        }
        Some((at, Escape::LoneSurrogate)) => {
            return invalid(format!(
                "data.value holds a lone UTF-16 surrogate escape at byte {at}, which is not Unicode"
            ))
        }
        None => {}
    }
    match shape.number {
        Some((at, Number::Unstorable)) => {
            return invalid(format!(
                "data.value holds a number at byte {at} longer than {MAX_JSON_NUMBER_CHARS} \
                 characters or with an exponent beyond ±{MAX_JSON_EXPONENT}, the limits"
            ))
        }
        // Documents are read back by serde_json (in-memory filters), which refuses them.
        Some((at, Number::BeyondDouble)) => {
            return invalid(format!(
                "data.value holds a number at byte {at} beyond the range of a double"
            ))
        }
        None => {}
    }
    match syntax {
        Ok(Syntax) => Ok(()),
        Err(e) => invalid(format!("data.value is not a JSON document: {e}")),
    }
}

/// One JSON value, read for its syntax only, whose objects name each key once: the
/// backends disagree on a key given twice (PostgreSQL's `jsonb` keeps the last, SQLite's
/// and MariaDB's JSON functions read the first), so filters would not match alike.
struct Syntax;

impl<'de> Deserialize<'de> for Syntax {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Syntax, D::Error> {
        d.deserialize_any(SyntaxVisitor)
    }
}

struct SyntaxVisitor;

/// Up to this many keys an object's are compared one by one, beyond in a hash set.
const FEW_KEYS: usize = 16;

impl<'de> Visitor<'de> for SyntaxVisitor {
    type Value = Syntax;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_unit<E>(self) -> std::result::Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Syntax, A::Error> {
        while seq.next_element::<Syntax>()?.is_some() {}
        Ok(Syntax)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Syntax, A::Error> {
        // Most objects have a few keys: compared one by one until there are many.
        let mut few: Vec<Cow<'de, str>> = Vec::new();
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let seen = if many.is_empty() {
                few.contains(&key)
            } else {
                many.contains(&key)
            };
            if seen {
                return Err(A::Error::custom(format!(
                    "the key {key:?} appears twice in one object (backends would keep \
                     different ones)"
                )));
            }
            map.next_value::<Syntax>()?;
            if !many.is_empty() {
                many.insert(key);
            } else if few.len() < FEW_KEYS {
                few.push(key);
            } else {
                many.extend(few.drain(..));
                many.insert(key);
            }
        }
        Ok(Syntax)
    }
}

/// An object's key, borrowed from the document unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Key<'de>, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }

        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON number some reader of stored documents cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    /// Longer than [`MAX_JSON_NUMBER_CHARS`] or with an exponent beyond
    /// [`MAX_JSON_EXPONENT`] (PostgreSQL's `numeric`).
    Unstorable,
    /// Beyond ±1.8e308 (serde_json's `f64`).
    BeyondDouble,
}

/// What the scan outside strings found.
struct Shape {
    /// Arrays and objects nest deeper than [`MAX_JSON_DEPTH`].
    too_deep: bool,
    /// The first number some reader cannot take, and where it is.
    number: Option<(usize, Number)>,
}

/// One pass over the bytes outside strings (meaningful once serde_json has accepted the
/// syntax): nesting depth, and numbers, which are runs of digits, `-`, `+`, `.`, `e`, `E`.
fn shape(value: &[u8]) -> Shape {
    let is_number = |b: &u8| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
    let mut shape = Shape {
        too_deep: false,
        number: None,
    };
    let mut depth = 0usize;
    let mut at = 0;
    while at < value.len() {
        match value[at] {
            b'"' => {
                // Skip the string: to the next quote not escaped by a backslash.
                at += 1;
                while at < value.len() && value[at] != b'"' {
                    at += if value[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    shape.too_deep = true;
                    return shape;
                }
                at += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                at += 1;
            }
            b if is_number(&b) => {
                let len = value[at..].iter().take_while(|b| is_number(b)).count();
                if shape.number.is_none() {
                    shape.number = number_problem(&value[at..at + len]).map(|n| (at, n));
                }
                at += len;
            }
            _ => at += 1,
        }
    }
    shape
}

/// What is wrong with this JSON number, if anything.
fn number_problem(number: &[u8]) -> Option<Number> {
    if unstorable(number) {
        return Some(Number::Unstorable);
    }
    let beyond_double = std::str::from_utf8(number)
        .ok()
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(f64::is_infinite);
    beyond_double.then_some(Number::BeyondDouble)
}

/// Whether PostgreSQL's `numeric` (and so `jsonb`) cannot hold this JSON number.
fn unstorable(number: &[u8]) -> bool {
    let exponent_too_large = number
        .iter()
        .position(|b| matches!(b, b'e' | b'E'))
        .map(|e| &number[e + 1..])
        .map(|e| e.strip_prefix(b"-").or(e.strip_prefix(b"+")).unwrap_or(e))
        .is_some_and(|digits| {
            let digits = &digits[digits.iter().take_while(|&&d| d == b'0').count()..];
            digits.len() > 4
                || std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<u32>().ok())
                    .unwrap_or(0)
                    > MAX_JSON_EXPONENT
        });
    number.len() > MAX_JSON_NUMBER_CHARS || exponent_too_large
}

/// A `\u` escape no backend can store.
#[derive(Debug, PartialEq, Eq)]
enum Escape {
    /// `\u0000`: PostgreSQL's text cannot hold NUL.
    Nul,
    /// A `\uD800`–`\uDFFF` that is not half of a high-low pair: not Unicode (serde_json
    /// lets it through; PostgreSQL and MariaDB refuse it).
    LoneSurrogate,
}

/// The first unstorable `\u` escape and where it is. Escapes occur only in strings, and
/// only runs of backslashes are looked at: in a run of n, pairs are escaped backslashes and
/// an odd one escapes what follows.
fn bad_escape(value: &[u8]) -> Option<(usize, Escape)> {
    let escape = |at: usize| -> Option<u16> {
        let hex = value.get(at..at + 6)?.strip_prefix(b"\\u")?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut at = 0;
    while let Some(offset) = value[at..].iter().position(|&b| b == b'\\') {
        let start = at + offset;
        let run = value[start..].iter().take_while(|&&b| b == b'\\').count();
        at = start + run;
        if run % 2 == 0 {
            continue;
        }
        let escaped = at - 1;
        match escape(escaped) {
            Some(0) => return Some((escaped, Escape::Nul)),
            Some(0xD800..=0xDBFF) => match escape(escaped + 6) {
                Some(0xDC00..=0xDFFF) => at = escaped + 12,
                _ => return Some((escaped, Escape::LoneSurrogate)),
            },
            Some(0xDC00..=0xDFFF) => return Some((escaped, Escape::LoneSurrogate)),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        let mut doc = "[".repeat(depth);
        doc.push_str(&"]".repeat(depth));
        doc.into_bytes()
    }

    fn error(value: &[u8]) -> String {
        check_document(value).unwrap_err().to_string()
    }

    #[test]
    fn accepts_one_json_value() {
        for ok in [
            &br#"{"a":[1,2.5,-3,true,null,"x\"y\u00e9\ud83d\ude00"]}"#[..],
            b"1",
            b"\"s\"",
            b"  {}  ",
        ] {
            assert!(
                check_document(ok).is_ok(),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        assert!(error(b"{nope").contains("is not a JSON document"));
        assert!(error(b"{} {}").contains("is not a JSON document"));
        assert!(error(b"").contains("is not a JSON document"));
    }

    #[test]
    fn refuses_a_key_given_twice_in_one_object() {
        let twice = error(br#"{"a":1,"b":{"c":[{"x":1,"x":2}]}}"#);
        assert!(twice.contains(r#"the key "x" appears twice"#), "{twice}");
        // Escapes are read: "\u0061" is "a".
        let escaped = error(br#"{"a":1,"\u0061":2}"#);
        assert!(
            escaped.contains(r#"the key "a" appears twice"#),
            "{escaped}"
        );
        // Past the few keys compared one by one: in the hash set, before and after.
        for repeated in ["k3", "k30"] {
            let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
            let doc = format!("{{{},\"{repeated}\":0}}", keys.join(","));
            let twice = error(doc.as_bytes());
            assert!(
                twice.contains(&format!("the key \"{repeated}\" appears twice")),
                "{twice}"
            );
        }
        for ok in [
            &br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#[..],
            br#"{"a":1,"A":2,"a ":3}"#,
        ] {
            assert!(
                check_document(ok).is_ok(),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        assert!(check_document(&nested(MAX_JSON_DEPTH)).is_ok());
        assert!(error(&nested(MAX_JSON_DEPTH + 1)).contains("more than 30 deep"));
        let objects = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_JSON_DEPTH + 1),
            "}".repeat(MAX_JSON_DEPTH + 1)
        );
        assert!(error(objects.as_bytes()).contains("more than 30 deep"));
        // Far deeper than serde_json's own recursion limit: still our message, no overflow.
        assert!(error(&nested(100_000)).contains("more than 30 deep"));
    }

    #[test]
    fn strings_must_be_storable_everywhere() {
        assert!(error(br#"{"a":"\u0000"}"#).contains("NUL"));
        assert!(error(br#"{"a\u0000":1}"#).contains("NUL"));
        // An escaped backslash before u0000 is text, not a NUL.
        assert!(check_document(br#"{"a":"\\u0000"}"#).is_ok());
        assert!(error(br#"{"a":"\ud800"}"#).contains("lone UTF-16 surrogate escape at byte 6"));
        assert!(error(br#"{"a":"\udc00x"}"#).contains("surrogate"));
        assert!(error(br#"{"a":"\ud800\u0041"}"#).contains("surrogate"));
        assert!(error(br#"["\uDBFF\uDBFF\uDC00"]"#).contains("surrogate"));
        assert!(check_document(br#"["\ud83d\ude00", "\\ud800", "\\\ud83d\uDE00"]"#).is_ok());
        assert!(error(b"{\"a\":\"\xff\"}").contains("is not a JSON document"));
        assert!(error(b"[1, -1e400]").contains("number at byte 4 beyond the range of a double"));
        assert!(check_document(b"[1.7e308, 123456789012345678901234567890]").is_ok());
    }

    #[test]
    fn numbers_are_storable_everywhere() {
        // PostgreSQL refused these (more than 16,383 digits after the point).
        let tiny = format!("[0.{}1]", "0".repeat(200_000));
        assert!(error(tiny.as_bytes()).contains("a number at byte 1 longer than 1000"));
        assert!(error(br#"{"a":[1, 0e-99999999999]}"#).contains("number at byte 9"));
        assert!(error(b"0E+1001").contains("exponent beyond ±1000"));
        assert!(error(b"[0e00000000000000001001]").contains("exponent"));
        for ok in [
            &b"[1e-1000, 0E+1000, -0.5e-0, 0e0001000, 123.456e7]"[..],
            br#"{"1e99999": "0e-99999", "n": -12}"#,
            br#"["\"", 1e1, "\\", 2e-2]"#,
        ] {
            assert!(
                check_document(ok).is_ok(),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        let long = format!("[0.{}]", "1".repeat(MAX_JSON_NUMBER_CHARS - 2));
        assert!(check_document(long.as_bytes()).is_ok());
        let longer = format!("[0.{}]", "1".repeat(MAX_JSON_NUMBER_CHARS - 1));
        assert!(error(longer.as_bytes()).contains("longer than 1000"));
    }

    #[test]
    fn size_is_bounded() {
        let mut big = b"\"".to_vec();
        big.resize(MAX_DOCUMENT_BYTES - 1, b'x');
        big.push(b'"');
        assert!(check_document(&big).is_ok());
        big.insert(1, b'x');
        assert!(error(&big).contains("the limit is 4194304 bytes"));
    }
}
