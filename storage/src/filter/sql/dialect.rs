//! What differs between the SQL backends, asked of one [`Dialect`] per backend.
//!
//! Each method writes its SQL into the [`Lower`] it is given and may call back into the
//! lowering (for the text of a JSON value, a nested operand, …).

use super::super::ir::{CmpOp, JsonPath, Lit};
use super::super::regex::Pattern;
use super::lower::{op_sql, Lower};
use super::text::TextSource;
use crate::connection::Backend;

/// The dialect of `backend`.
pub(super) fn for_backend(backend: Backend) -> &'static dyn Dialect {
    match backend {
        Backend::Sqlite => &super::sqlite::Sqlite,
        Backend::Postgres => &super::postgres::Postgres,
        Backend::Mysql => &super::mysql::Mysql,
    }
}

/// The SQL of one backend.
pub(super) trait Dialect: Sync {
    /// The SQL pieces that differ only in their text.
    fn words(&self) -> &'static Words;

    /// The kind of the JSON value at `path` ('string', 'number', …), NULL when missing.
    fn kind(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// The text of the JSON string (or the spelling of the boolean) at `path`.
    fn json_text(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// The spelling `true`/`false` of the JSON boolean at `path`.
    fn json_bool(&self, w: &mut Lower<'_>, path: &JsonPath) {
        self.json_text(w, path);
    }

    /// The JSON number at `path`, as a double.
    fn json_number(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// The JSON number at `path` as an operand of arithmetic (which must not be integer
    /// arithmetic).
    fn json_real(&self, w: &mut Lower<'_>, path: &JsonPath) {
        self.json_number(w, path);
    }

    /// A double constant as an operand of arithmetic.
    fn real(&self, w: &mut Lower<'_>, value: f64);

    /// Elements of the JSON array at `path`.
    fn array_length(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// Members of the JSON object at `path`.
    fn object_size(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// `FROM` source of the elements of the JSON array at `array`, aliased so that
    /// [`Dialect::element`] names the current one.
    fn elements(&self, w: &mut Lower<'_>, array: &JsonPath);

    /// `text = value` for a JSON value known to exist, of any kind (false for another
    /// kind). A dialect may add a condition an index can answer.
    fn json_eq(&self, w: &mut Lower<'_>, path: &JsonPath, lit: &Lit) {
        w.json_cmp(path, CmpOp::Eq, lit);
    }

    /// What the index of indexed-path slot `slot` holds, for the current row of
    /// `records` (see `filter::indexed`): its generated column.
    fn slot_value(&self, w: &mut Lower<'_>, slot: usize) {
        w.col(crate::filter::indexed::SLOT_COLUMNS[slot]);
    }

    /// ` <regex operator> pattern` after a text.
    fn regex(&self, w: &mut Lower<'_>, pattern: &Pattern);

    /// Whether text values can hold NUL.
    fn text_holds_nul(&self) -> bool {
        true
    }

    /// `text <op> s`, comparing code points (as text does by default).
    fn compare_text(&self, w: &mut Lower<'_>, source: &TextSource<'_>, op: CmpOp, s: &str) {
        w.sql("(");
        w.text(source);
        w.sql(op_sql(op));
        w.f.text(s.to_owned());
        w.sql(")");
    }

    /// Whether the text contains `needle` (not empty): its position is positive.
    fn contains(&self, w: &mut Lower<'_>, source: &TextSource<'_>, needle: &str) {
        w.sql(self.words().position);
        w.text(source);
        w.sql(", ");
        w.f.text(needle.to_owned());
        w.sql(") > 0)");
    }

    /// Whether the text starts (`start`) or ends with `needle` of `chars` characters.
    fn affix(
        &self,
        w: &mut Lower<'_>,
        source: &TextSource<'_>,
        start: bool,
        needle: &str,
        chars: i64,
    );
}

/// The SQL pieces of a dialect that differ only in their text.
pub(super) struct Words {
    /// The current element inside `exists()`/`all()`.
    pub element: &'static str,
    /// Closes `CAST(x` as a 64-bit integer.
    pub as_bigint: &'static str,
    /// Substring by 1-based start and length, opened: `substr(`.
    pub substring: &'static str,
    /// Truncating integer division, between spaces.
    pub int_div: &'static str,
    /// Characters of a text, opened: `char_length(`.
    pub char_length: &'static str,
    /// Position of a text in another, 1-based and 0 when absent, opened after a
    /// parenthesis: `(strpos(` (haystack first).
    pub position: &'static str,
    /// Opens a concatenation of texts.
    pub concat: &'static str,
    /// Between the pieces of a concatenation.
    pub concat_separator: &'static str,
    /// Closes `CAST(literal` as text.
    pub as_text: &'static str,
}
