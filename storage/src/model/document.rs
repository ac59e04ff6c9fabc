//! The one check of a Record's JSON document before it is stored: exactly one JSON value,
//! within the size and nesting limits, whose strings are valid Unicode without NUL. Every
//! backend can then store it: PostgreSQL's `jsonb` refuses NUL and lone surrogates,
//! MariaDB's JSON check refuses 32 levels of nesting, SQLite refuses 1,000.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::limits::{MAX_DOCUMENT_BYTES, MAX_JSON_DEPTH, MAX_JSON_EXPONENT, MAX_JSON_NUMBER_CHARS};
use crate::{Error, Result};

/// Checks `value` (the bytes of `data.value`) in one pass, without building the document.
pub(crate) fn check_document(value: &[u8]) -> Result<()> {
    if value.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::InvalidArgument(format!(
            "data.value is {} bytes long; the limit is {MAX_DOCUMENT_BYTES} bytes",
            value.len()
        )));
    }
    if let Some(at) = lone_surrogate(value) {
        return Err(Error::InvalidArgument(format!(
            "data.value holds a lone UTF-16 surrogate escape at byte {at}, which is not Unicode"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(value);
    Node { depth: 1 }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|e| {
            if e.is_data() {
                // One of ours below: it says what is wrong already.
                Error::InvalidArgument(format!("data.value {e}"))
            } else {
                Error::InvalidArgument(format!("data.value is not a JSON document: {e}"))
            }
        })?;
    match unstorable_number(value) {
        Some(at) => Err(Error::InvalidArgument(format!(
            "data.value holds a number at byte {at} longer than {MAX_JSON_NUMBER_CHARS} \
             characters or with an exponent beyond ±{MAX_JSON_EXPONENT}, the limits"
        ))),
        None => Ok(()),
    }
}

/// Where a valid JSON document `value` has a number beyond [`MAX_JSON_NUMBER_CHARS`] or
/// [`MAX_JSON_EXPONENT`]. Outside strings, a number is a run of digits, `-`, `+`, `.`,
/// `e` and `E`.
fn unstorable_number(value: &[u8]) -> Option<usize> {
    let is_number = |b: &u8| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
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
            b if is_number(&b) => {
                let len = value[at..].iter().take_while(|b| is_number(b)).count();
                let number = &value[at..at + len];
                let exponent = number
                    .iter()
                    .position(|b| matches!(b, b'e' | b'E'))
                    .map(|e| &number[e + 1..])
                    .map(|e| e.strip_prefix(b"-").or(e.strip_prefix(b"+")).unwrap_or(e))
                    .map(|digits| {
                        let digits = &digits[digits.iter().take_while(|&&d| d == b'0').count()..];
                        digits.len() > 4
                            || std::str::from_utf8(digits)
                                .ok()
                                .and_then(|d| d.parse::<u32>().ok())
                                .unwrap_or(0)
                                > MAX_JSON_EXPONENT
                    });
                if len > MAX_JSON_NUMBER_CHARS || exponent == Some(true) {
                    return Some(at);
                }
                at += len;
            }
            _ => at += 1,
        }
    }
    None
}

/// Where `value` has a `\uD800`–`\uDFFF` escape that is not half of a high-low pair
/// (serde_json lets them through; PostgreSQL and MariaDB refuse them). Only runs of
/// backslashes are looked at: in a run of n, pairs are escaped backslashes and an odd one
/// escapes what follows.
fn lone_surrogate(value: &[u8]) -> Option<usize> {
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
            Some(0xD800..=0xDBFF) => match escape(escaped + 6) {
                Some(0xDC00..=0xDFFF) => at = escaped + 12,
                _ => return Some(escaped),
            },
            Some(0xDC00..=0xDFFF) => return Some(escaped),
            _ => {}
        }
    }
    None
}

/// A value at `depth` (the top-level value is at 1; an array or object's members one
/// deeper).
#[derive(Clone, Copy)]
struct Node {
    depth: usize,
}

impl Node {
    fn enter<E: de::Error>(self) -> Result<Node, E> {
        if self.depth > MAX_JSON_DEPTH {
            return Err(E::custom(format_args!(
                "nests arrays and objects more than {MAX_JSON_DEPTH} deep, the limit"
            )));
        }
        Ok(Node {
            depth: self.depth + 1,
        })
    }
}

fn check_str<E: de::Error>(s: &str) -> Result<(), E> {
    if s.contains('\0') {
        return Err(E::custom(
            "holds a string with the NUL character (\\u0000), which cannot be stored",
        ));
    }
    Ok(())
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        check_str(s)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let member = self.enter()?;
        while seq.next_element_seed(member)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let member = self.enter()?;
        while map.next_key_seed(Key)?.is_some() {
            map.next_value_seed(member)?;
        }
        Ok(())
    }
}

/// An object key: a string, checked like string values.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        check_str(s)
    }
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
        assert!(error(b"[1e400]").contains("is not a JSON document"));
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
