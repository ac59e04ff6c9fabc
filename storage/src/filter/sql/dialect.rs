//! What differs between the SQL backends, asked of one [`Dialect`] per backend.
//!
//! Each method writes its SQL into the [`Lower`] it is given and may call back into the
//! lowering (for the text of a JSON value, a nested operand, …).

use super::super::ir::{CmpOp, JsonPath, Lit};
use super::super::regex::Pattern;
use super::lower::Lower;
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
    /// The SQL holding the current element inside `exists()`/`all()`.
    fn element(&self) -> &'static str;

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

    /// Closes `CAST(x` as a 64-bit integer.
    fn as_bigint(&self) -> &'static str;

    /// Substring by 1-based start and length, opened: `substr(`.
    fn substring(&self) -> &'static str;

    /// Truncating integer division, between spaces.
    fn int_div(&self) -> &'static str;

    /// Characters of a text, opened: `char_length(`.
    fn char_length(&self) -> &'static str;

    /// Elements of the JSON array at `path`.
    fn array_length(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// Members of the JSON object at `path`.
    fn object_size(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// Whether the JSON string at `path` reads `YYYY-MM-DDTHH:MM:SSZ`.
    fn k8s_time_shape(&self, w: &mut Lower<'_>, path: &JsonPath);

    /// `FROM` source of the elements of the JSON array at `array`, aliased so that
    /// [`Dialect::element`] names the current one.
    fn elements(&self, w: &mut Lower<'_>, array: &JsonPath);

    /// `text = value` for a JSON value known to exist, of any kind (false for another
    /// kind). A dialect may add a condition an index can answer.
    fn json_eq(&self, w: &mut Lower<'_>, path: &JsonPath, lit: &Lit) {
        w.json_cmp(path, CmpOp::Eq, lit);
    }

    /// ` <regex operator> pattern` after a text.
    fn regex(&self, w: &mut Lower<'_>, pattern: &Pattern);

    /// Texts joined: the opening, the separator between pieces, and the close of a
    /// `CAST(literal` to text.
    fn concat(&self) -> (&'static str, &'static str, &'static str);

    /// Whether text values can hold NUL.
    fn text_holds_nul(&self) -> bool {
        true
    }

    /// `text <op> s`, comparing code points.
    fn compare_text(&self, w: &mut Lower<'_>, source: &TextSource<'_>, op: CmpOp, s: &str);

    /// Whether the text contains `needle` (not empty).
    fn contains(&self, w: &mut Lower<'_>, source: &TextSource<'_>, needle: &str);

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
