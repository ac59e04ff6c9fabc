//! The size of a Record's document as its backend hands it back, computed when the
//! document is written and stored in `records.data_bytes`, so that a listing bounds its
//! pages by bytes (see [`super::chunks`]) without measuring every document it reads.
//!
//! SQLite and MariaDB store the document's text as written, so its size is its length.
//! PostgreSQL's `jsonb` keeps the parsed value and renders new text on the way out:
//! `{"a":1}` comes back as `{"a": 1}`. [`jsonb_text_bytes`] computes that rendering's
//! length without building it.

use crate::connection::Backend;

/// The size in bytes of `document` (a validated JSON text; empty means none) as `backend`
/// will hand it back: exact on SQLite and MariaDB, and on PostgreSQL never less than what
/// it returns (see [`jsonb_text_bytes`]). `None` for no document, stored as NULL.
pub(crate) fn stored_bytes(document: &[u8], backend: Backend) -> Option<i64> {
    if document.is_empty() {
        return None;
    }
    let bytes = match backend {
        Backend::Postgres => jsonb_text_bytes(document),
        Backend::Sqlite | Backend::Mysql => document.len(),
    };
    Some(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// The length of the text PostgreSQL renders for the `jsonb` value of the JSON text
/// `json`, walking it once as `jsonb` input and output (`JsonbToCString`, `escape_json`,
/// `numeric_out`) treat it:
/// - whitespace between tokens is dropped, and `:` and `,` are followed by one space;
/// - strings are decoded (`\u00e9` becomes `é`, `\/` becomes `/`) and escaped again: `"`
///   and `\` and the control characters with a short form (`\b \f \n \r \t`) take two
///   bytes, other control characters six (`\u001f`), everything else its UTF-8 bytes;
/// - numbers become exact decimals printed without exponent, keeping the digits after
///   the point that the input had, less the exponent: `1e5` is `100000`, `1.0` stays
///   `1.0`, `1.50e1` is `15.0`, `0.0e-3` is `0.0000`, and zero has no sign.
///
/// Keys repeated in one object are refused before a document is stored; of such keys
/// `jsonb` would keep the last and this would count them all (a bound in its favour).
/// Sorting keys does not change the length.
pub(crate) fn jsonb_text_bytes(json: &[u8]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let (bytes, end) = string_bytes(json, i);
                total += bytes;
                i = end;
            }
            b':' | b',' => {
                total += 2;
                i += 1;
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'-' | b'0'..=b'9' => {
                let end = scan(json, i, |b| {
                    matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                });
                total += number_bytes(&json[i..end]);
                i = end;
            }
            // Brackets and braces, and the letters of true, false and null.
            _ => {
                total += 1;
                i += 1;
            }
        }
    }
    total
}

/// The first index from `start` whose byte is not `accept`ed.
fn scan(json: &[u8], start: usize, accept: impl Fn(u8) -> bool) -> usize {
    json[start..]
        .iter()
        .position(|b| !accept(*b))
        .map_or(json.len(), |n| start + n)
}

/// The rendered length of the string starting at the quote at `start`, and the index
/// after its closing quote.
fn string_bytes(json: &[u8], start: usize) -> (usize, usize) {
    let mut total = 2;
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'"' => return (total, i + 1),
            b'\\' => {
                let (bytes, end) = escape_bytes(json, i);
                total += bytes;
                i = end;
            }
            _ => {
                total += 1;
                i += 1;
            }
        }
    }
    (total, i)
}

/// The rendered length of the escape at `start` (its backslash), and the index after it.
fn escape_bytes(json: &[u8], start: usize) -> (usize, usize) {
    match json.get(start + 1) {
        Some(b'u') => {
            let Some(unit) = hex4(json, start + 2) else {
                return (2, start + 2);
            };
            // A surrogate pair is one character of four UTF-8 bytes.
            if (0xd800..0xdc00).contains(&unit)
                && json.get(start + 6) == Some(&b'\\')
                && json.get(start + 7) == Some(&b'u')
                && hex4(json, start + 8).is_some_and(|low| (0xdc00..0xe000).contains(&low))
            {
                return (4, start + 12);
            }
            (code_point_bytes(unit), start + 6)
        }
        Some(b'/') => (1, start + 2),
        // `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` render as they were written.
        _ => (2, start + 2),
    }
}

/// The rendered length of the character `\u` escape `unit` stands for (a lone surrogate,
/// which PostgreSQL refuses, counts as the three bytes of its UTF-8 form).
fn code_point_bytes(unit: u32) -> usize {
    match unit {
        0x08 | 0x09 | 0x0a | 0x0c | 0x0d | 0x22 | 0x5c => 2,
        0x00..=0x1f => 6,
        0x20..=0x7f => 1,
        0x80..=0x7ff => 2,
        _ => 3,
    }
}

/// The four hex digits at `at`, as a number.
fn hex4(json: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(json.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// The length of `numeric_out`'s text for the JSON number `number`: an optional sign
/// (only for a value other than zero), the integer digits without leading zeros (at least
/// one), and when the scale is positive, a point and that many digits.
fn number_bytes(number: &[u8]) -> usize {
    let (negative, rest) = match number.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, number),
    };
    let (mantissa, exponent) = match rest.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(e) => (&rest[..e], exponent(&rest[e + 1..])),
        None => (rest, 0),
    };
    let (integer, fraction) = match mantissa.iter().position(|b| *b == b'.') {
        Some(point) => (&mantissa[..point], &mantissa[point + 1..]),
        None => (mantissa, &mantissa[..0]),
    };
    let digits: Vec<u8> = integer.iter().chain(fraction).copied().collect();
    // Digits left of the point once the exponent has moved it.
    let point = integer.len() as i64 + exponent;
    let scale = (fraction.len() as i64 - exponent).max(0);
    let before_point = &digits[..digits.len().min(point.max(0) as usize)];
    let integer_digits = match before_point.iter().position(|d| *d != b'0') {
        Some(first) => (point - first as i64) as usize,
        None => 1,
    };
    let sign = usize::from(negative && digits.iter().any(|d| *d != b'0'));
    let fraction_digits = if scale > 0 { 1 + scale as usize } else { 0 };
    sign + integer_digits + fraction_digits
}

/// An exponent's value (far beyond any a stored document may carry when it overflows).
fn exponent(text: &[u8]) -> i64 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let magnitude = digits.iter().fold(0i64, |n, d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(json: &str) -> usize {
        jsonb_text_bytes(json.as_bytes())
    }

    /// Each input against the text PostgreSQL 15 returned for it (`SELECT '…'::jsonb`);
    /// `tests/stored_sizes.rs` checks these and more against a live server.
    #[test]
    fn lengths_match_postgresql_renderings() {
        for (input, output) in [
            (r#"{"a":1,"b":[1,2,{"c":"x"}],"d":{}, "e":[]}"#,
             r#"{"a": 1, "b": [1, 2, {"c": "x"}], "d": {}, "e": []}"#),
            ("[-0, -0.0, 1.0, 1e5, 1E+2, 1.5e-3, 0.05e1, 100e-2, 1e-5, -1.50e1, 0e10, 0.0e-3, 12.34e1]",
             "[0, 0.0, 1.0, 100000, 100, 0.0015, 0.5, 1.00, 0.00001, -15.0, 0, 0.0000, 123.4]"),
            (r#""\u0041\u00e9\/\b\f\n\r\t\u001f\"\\ é 😀 \ud83d\ude00""#,
             "\"Aé/\\b\\f\\n\\r\\t\\u001f\\\"\\\\ é 😀 😀\""),
            (" \n\t{ \"k\" :\r\n [ true , false , null ] } ",
             r#"{"k": [true, false, null]}"#),
            ("1e3", "1000"),
            ("\"\"", "\"\""),
        ] {
            assert_eq!(rendered(input), output.len(), "{input}");
        }
    }

    #[test]
    fn repeated_keys_count_every_occurrence() {
        // PostgreSQL returns {"a": 22}: 9 bytes.
        assert_eq!(rendered(r#"{"a":1,"a":22}"#), r#"{"a": 1, "a": 22}"#.len());
    }

    #[test]
    fn other_backends_store_the_text_as_written_and_none_is_null() {
        let doc = br#"{ "a" : 1e5 }"#;
        assert_eq!(stored_bytes(doc, Backend::Sqlite), Some(13));
        assert_eq!(stored_bytes(doc, Backend::Mysql), Some(13));
        assert_eq!(stored_bytes(doc, Backend::Postgres), Some(13));
        assert_eq!(stored_bytes(b"", Backend::Postgres), None);
    }
}
