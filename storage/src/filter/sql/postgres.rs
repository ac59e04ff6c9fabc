//! PostgreSQL: `jsonb` values reached with `->`, `jsonb_array_elements` for the elements
//! of a list, and containment (`@>`) beside JSON equalities so that a GIN index can
//! answer them. Text cannot hold NUL.

use super::super::ir::{CmpOp, JsonPath, JsonRoot, Lit, Step};
use super::super::regex::Pattern;
use super::dialect::{Dialect, Words};
use super::lower::{number, op_sql, Lower};
use super::text::TextSource;

/// The PostgreSQL dialect.
pub(super) struct Postgres;

/// `jsonb` value at `path`: `(data -> 'a' -> 0)`.
fn value(w: &mut Lower<'_>, path: &JsonPath) {
    let column = w.json_column(path.root);
    w.sql("(").col(column);
    for step in &path.steps {
        match step {
            Step::Key(k) => {
                w.sql(" -> ");
                w.f.text(k.clone());
            }
            Step::Index(i) => {
                w.sql(" -> CAST(");
                w.f.bigint(i64::from(*i));
                w.sql(" AS integer)");
            }
        }
    }
    w.sql(")");
}

/// A jsonb document that contains `lit` at `steps` (an index step becomes a
/// one-element array, which containment matches against any element).
fn containment(w: &mut Lower<'_>, steps: &[Step], lit: &Lit) {
    let Some((first, rest)) = steps.split_first() else {
        return jsonb_literal(w, lit);
    };
    match first {
        Step::Key(key) => {
            w.sql("jsonb_build_object(CAST(");
            w.f.text(key.clone());
            w.sql(" AS text), ");
            containment(w, rest, lit);
            w.sql(")");
        }
        Step::Index(_) => {
            w.sql("jsonb_build_array(");
            containment(w, rest, lit);
            w.sql(")");
        }
    }
}

fn jsonb_literal(w: &mut Lower<'_>, lit: &Lit) {
    match lit {
        Lit::Str(s) => {
            w.sql("to_jsonb(CAST(");
            w.f.text(s.clone());
            w.sql(" AS text))");
        }
        Lit::Int(_) | Lit::Double(_) => {
            w.sql("to_jsonb(CAST(");
            w.f.double(number(lit));
            w.sql(" AS numeric))");
        }
        Lit::Bool(true) => {
            w.sql("'true'::jsonb");
        }
        Lit::Bool(false) => {
            w.sql("'false'::jsonb");
        }
        Lit::Null => {
            w.sql("'null'::jsonb");
        }
        Lit::Time(_) | Lit::Duration(_) => unreachable!("the checker refuses these"),
    }
}

const WORDS: Words = Words {
    element: "el.value",
    as_bigint: " AS bigint)",
    substring: "substr(",
    int_div: " / ",
    char_length: "char_length(",
    position: "(strpos(",
    concat: "(",
    concat_separator: " || ",
    as_text: " AS text)",
};

impl Dialect for Postgres {
    fn words(&self) -> &'static Words {
        &WORDS
    }
    fn kind(&self, w: &mut Lower<'_>, path: &JsonPath) {
        w.sql("jsonb_typeof(");
        value(w, path);
        w.sql(")");
    }

    fn json_text(&self, w: &mut Lower<'_>, path: &JsonPath) {
        w.sql("(");
        value(w, path);
        w.sql(" #>> '{}')");
    }

    fn json_number(&self, w: &mut Lower<'_>, path: &JsonPath) {
        w.sql("CAST(");
        value(w, path);
        w.sql(" #>> '{}' AS double precision)");
    }

    fn real(&self, w: &mut Lower<'_>, value: f64) {
        w.sql("CAST(");
        w.f.double(value);
        w.sql(" AS double precision)");
    }

    fn array_length(&self, w: &mut Lower<'_>, path: &JsonPath) {
        w.sql("jsonb_array_length(");
        value(w, path);
        w.sql(")");
    }

    fn object_size(&self, w: &mut Lower<'_>, path: &JsonPath) {
        w.sql("(SELECT count(*) FROM jsonb_object_keys(");
        value(w, path);
        w.sql("))");
    }

    fn elements(&self, w: &mut Lower<'_>, array: &JsonPath) {
        w.sql("jsonb_array_elements(");
        value(w, array);
        w.sql(") AS el(value)");
    }

    fn json_eq(&self, w: &mut Lower<'_>, path: &JsonPath, lit: &Lit) {
        // Text cannot carry NUL; the exact test alone answers that.
        let indexed = matches!(path.root, JsonRoot::Data | JsonRoot::Annotations);
        if !indexed || matches!(lit, Lit::Str(s) if s.contains('\0')) {
            return w.json_cmp(path, CmpOp::Eq, lit);
        }
        // `data @> {…}` holds whenever the equality does, and a GIN index answers it.
        let column = w.json_column(path.root);
        w.sql("(").col(column).sql(" @> ");
        containment(w, &path.steps, lit);
        w.sql(" AND ");
        w.json_cmp(path, CmpOp::Eq, lit);
        w.sql(")");
    }

    fn slot_value(&self, w: &mut Lower<'_>, slot: usize) {
        // The expression of the slot's index, as the planner matches only that.
        w.sql(crate::filter::indexed::SLOT_CALLS[slot]);
    }

    fn regex(&self, w: &mut Lower<'_>, pattern: &Pattern) {
        w.sql(" ~ ");
        w.f.text(pattern.source.clone());
    }

    fn text_holds_nul(&self) -> bool {
        false
    }

    fn compare_text(&self, w: &mut Lower<'_>, source: &TextSource<'_>, op: CmpOp, s: &str) {
        w.sql("(");
        w.text(source);
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            // Byte (code point) order whatever the database's collation.
            w.sql(" COLLATE \"C\"");
        }
        w.sql(op_sql(op));
        w.f.text(s.to_owned());
        w.sql(")");
    }

    fn affix(
        &self,
        w: &mut Lower<'_>,
        source: &TextSource<'_>,
        start: bool,
        needle: &str,
        chars: i64,
    ) {
        w.sql(if start { "(left(" } else { "(right(" });
        w.text(source);
        w.sql(", CAST(");
        w.f.bigint(chars);
        w.sql(" AS integer))").sql(" = ");
        w.f.text(needle.to_owned());
        w.sql(")");
    }
}
