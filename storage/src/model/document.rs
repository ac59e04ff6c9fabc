//! The one check of a Record's JSON document before it is stored: exactly one JSON value,
//! within the size and nesting limits, whose strings are valid Unicode without NUL. Every
//! backend can then store it: PostgreSQL's `jsonb` refuses NUL and lone surrogates,
//! MariaDB's JSON check refuses 32 levels of nesting, SQLite refuses 1,000.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::limits::{MAX_DOCUMENT_BYTES, MAX_JSON_DEPTH};
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
        })
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
    fn size_is_bounded() {
        let mut big = b"\"".to_vec();
        big.resize(MAX_DOCUMENT_BYTES - 1, b'x');
        big.push(b'"');
        assert!(check_document(&big).is_ok());
        big.insert(1, b'x');
        assert!(error(&big).contains("the limit is 4194304 bytes"));
    }
}
