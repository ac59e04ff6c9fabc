//! SQLite: JSON through `json_type`/`json_extract` with path texts, `json_each` for the
//! elements of a list, and `regexp()` as registered on every connection.

use super::super::ir::{JsonPath, JsonRoot};
use super::super::regex::Pattern;
use super::dialect::{Dialect, Words};
use super::lower::Lower;
use super::path::{self, path_text};
use super::text::TextSource;

/// The SQLite dialect.
pub(super) struct Sqlite;

/// `open data, path close`; inside `exists()`/`all()` the element is addressed through
/// `data` and its full path.
fn call(w: &mut Lower<'_>, open: &'static str, path: &JsonPath, close: &'static str) {
    if path.root != JsonRoot::Element {
        return path::call(w, open, path, close);
    }
    let column = w.json_column(path.root);
    // The element's own path in `data`, then the steps below it.
    w.sql(open).col(column).sql(", ").sql("el.fullkey || ");
    w.f.text(path_text(&path.steps)[1..].to_owned());
    w.sql(close);
}

const WORDS: Words = Words {
    element: "data",
    as_bigint: " AS INTEGER)",
    substring: "substr(",
    int_div: " / ",
    char_length: "length(",
    position: "(instr(",
    concat: "(",
    concat_separator: " || ",
    as_text: " AS text)",
};

impl Dialect for Sqlite {
    fn words(&self) -> &'static Words {
        &WORDS
    }
    fn kind(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(
            w,
            "(CASE json_type(",
            path,
            ") WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' \
             WHEN 'real' THEN 'number' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE ",
        );
        call(w, "json_type(", path, ") END)");
    }

    fn json_text(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "json_extract(", path, ")");
    }

    fn json_bool(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "json_type(", path, ")");
    }

    fn json_number(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "json_extract(", path, ")");
    }

    fn json_real(&self, w: &mut Lower<'_>, path: &JsonPath) {
        // SQLite would divide integers as integers.
        w.sql("CAST(");
        self.json_number(w, path);
        w.sql(" AS REAL)");
    }

    fn real(&self, w: &mut Lower<'_>, value: f64) {
        w.sql("CAST(");
        w.f.double(value);
        w.sql(" AS REAL)");
    }

    fn array_length(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "json_array_length(", path, ")");
    }

    fn object_size(&self, w: &mut Lower<'_>, path: &JsonPath) {
        call(w, "(SELECT count(*) FROM json_each(", path, "))");
    }

    fn elements(&self, w: &mut Lower<'_>, array: &JsonPath) {
        call(w, "json_each(", array, ") AS el");
    }

    fn regex(&self, w: &mut Lower<'_>, pattern: &Pattern) {
        // `regexp()` is the function every connection registers.
        w.sql(" REGEXP ");
        w.f.text(pattern.rust.clone());
    }

    fn affix(
        &self,
        w: &mut Lower<'_>,
        source: &TextSource<'_>,
        start: bool,
        needle: &str,
        chars: i64,
    ) {
        w.sql("(substr(");
        w.text(source);
        if start {
            w.sql(", 1, ");
            w.f.bigint(chars);
        } else {
            w.sql(", ");
            w.f.bigint(-chars);
        }
        w.sql(")").sql(" = ");
        w.f.text(needle.to_owned());
        w.sql(")");
    }
}
