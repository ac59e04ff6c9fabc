//! MySQL and MariaDB: JSON through `JSON_EXTRACT` with path texts, `JSON_TABLE` for the
//! elements of a list, and binary casts so that text compares by bytes (their text
//! collations ignore case and trailing spaces).

use super::super::ir::{CmpOp, JsonPath};
use super::super::regex::Pattern;
use super::dialect::{Dialect, Words};
use super::lower::{op_sql, Lower};
use super::path::call;
use super::text::TextSource;

/// The MySQL/MariaDB dialect.
pub(super) struct Mysql;

const WORDS: Words = Words {
    element: "jt.e",
    as_bigint: " AS SIGNED)",
    substring: "SUBSTRING(",
    int_div: " DIV ",
    char_length: "CHAR_LENGTH(",
    // Unused: `contains` below compares bytes.
    position: "(INSTR(",
    concat: "CONCAT(",
    concat_separator: ", ",
    as_text: " AS CHAR)",
};

impl Dialect for Mysql {
    fn words(&self) -> &'static Words {
        &WORDS
    }
    fn kind(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(
            w,
            "(CASE JSON_TYPE(JSON_EXTRACT(",
            path,
            ")) WHEN 'STRING' THEN 'string' WHEN 'INTEGER' THEN 'number' WHEN 'UNSIGNED INTEGER' THEN 'number' \
             WHEN 'DOUBLE' THEN 'number' WHEN 'DECIMAL' THEN 'number' WHEN 'BOOLEAN' THEN 'boolean' \
             WHEN 'NULL' THEN 'null' WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' END)",
        );
    }

    fn json_text(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "JSON_UNQUOTE(JSON_EXTRACT(", path, "))");
    }

    fn json_number(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "(JSON_EXTRACT(", path, ") + 0e0)");
    }

    fn real(&self, w: &mut Lower<'_>, value: f64) {
        w.sql("(");
        w.f.double(value);
        w.sql(" + 0e0)");
    }

    fn array_length(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "JSON_LENGTH(", path, ")");
    }

    fn object_size(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "JSON_LENGTH(", path, ")");
    }

    fn elements(&self, w: &mut Lower<'_>, array: &JsonPath) {
        call(
            w,
            "JSON_TABLE(JSON_EXTRACT(",
            array,
            "), '$[*]' COLUMNS (e JSON PATH '$')) AS jt",
        );
    }

    fn regex(&self, w: &mut Lower<'_>, pattern: &Pattern) {
        w.sql(" REGEXP ");
        w.f.text(pattern.pcre.clone());
    }

    fn compare_text(&self, w: &mut Lower<'_>, source: &TextSource<'_>, op: CmpOp, s: &str) {
        // Text collations pad with spaces ('a' = 'a '); bytes do not.
        w.sql("(CAST(");
        w.text(source);
        w.sql(" AS BINARY)").sql(op_sql(op)).sql("CAST(");
        w.f.text(s.to_owned());
        w.sql(" AS BINARY))");
    }

    fn contains(&self, w: &mut Lower<'_>, source: &TextSource<'_>, needle: &str) {
        w.sql("(LOCATE(CAST(");
        w.f.text(needle.to_owned());
        w.sql(" AS BINARY), CAST(");
        w.text(source);
        w.sql(" AS BINARY)) > 0)");
    }

    fn affix(
        &self,
        w: &mut Lower<'_>,
        source: &TextSource<'_>,
        start: bool,
        needle: &str,
        chars: i64,
    ) {
        w.sql(if start { "(CAST(LEFT(" } else { "(CAST(RIGHT(" });
        w.text(source);
        w.sql(", ");
        w.f.bigint(chars);
        w.sql(") AS BINARY)").sql(" = CAST(");
        w.f.text(needle.to_owned());
        w.sql(" AS BINARY))");
    }
}
