//! Reading JSON values: their kind, text and size, and comparing them with literals.

use super::super::ir::{CmpOp, JsonPath, Lit, Operand};
use super::lower::{number, op_sql, text_column, Lower, FALSE, TRUE};
use super::text::TextSource;

impl Lower<'_> {
    /// The kind of the JSON value at `path`, NULL when missing.
    pub(super) fn kind(&mut self, path: &JsonPath) {
        self.dialect().kind(self, path);
    }

    /// The text of the JSON string (or the spelling of the boolean) at `path`.
    pub(super) fn json_text(&mut self, path: &JsonPath) {
        self.dialect().json_text(self, path);
    }

    /// `path <op> lit`: unknown when the value is missing; for an ordering also unless
    /// the value has the literal's kind, for an equality false then.
    pub(super) fn json_cmp(&mut self, path: &JsonPath, op: CmpOp, lit: &Lit) {
        let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        let kind: &'static str = match lit {
            Lit::Str(_) => "'string'",
            Lit::Int(_) | Lit::Double(_) => "'number'",
            Lit::Bool(_) => "'boolean'",
            Lit::Null => "'null'",
            Lit::Time(_) | Lit::Duration(_) => unreachable!("the checker refuses these"),
        };
        if ordering {
            // Unknown (NULL) unless the value has the literal's kind.
            self.kinds_are(&[path], kind);
            self.json_value_cmp(path, op, lit);
            self.sql(" END)");
            return;
        }
        // Equality: unknown when missing, false for another kind.
        if op == CmpOp::Ne {
            self.sql("(NOT ");
        }
        self.sql("(CASE WHEN ");
        self.kind(path);
        self.sql(" IS NULL THEN NULL WHEN ");
        self.kind(path);
        self.sql(" = ").sql(kind).sql(" THEN ");
        self.json_value_cmp(path, CmpOp::Eq, lit);
        self.sql(" ELSE ").sql(FALSE).sql(" END)");
        if op == CmpOp::Ne {
            self.sql(")");
        }
    }

    /// Compares the value at `path`, known to be of the literal's kind.
    fn json_value_cmp(&mut self, path: &JsonPath, op: CmpOp, lit: &Lit) {
        match lit {
            Lit::Str(s) => self.text_compare(&TextSource::Json(path), op, s),
            Lit::Int(_) | Lit::Double(_) => {
                self.sql("(");
                self.dialect().json_number(self, path);
                self.sql(op_sql(op));
                self.f.double(number(lit));
                self.sql(")");
            }
            Lit::Bool(b) => {
                self.sql("(");
                self.dialect().json_bool(self, path);
                self.sql(if *b { " = 'true')" } else { " = 'false')" });
            }
            Lit::Null => {
                self.sql(TRUE);
            }
            Lit::Time(_) | Lit::Duration(_) => unreachable!("the checker refuses these"),
        }
    }

    /// `size()` of a text column or JSON value (NULL for other JSON kinds or missing).
    pub(super) fn size(&mut self, operand: &Operand) {
        let length = self.dialect().words().char_length;
        let path = match operand {
            Operand::Text(field) => {
                self.sql(length).col(text_column(*field)).sql(")");
                return;
            }
            Operand::Json(path) => path,
            _ => unreachable!("the checker only sizes text and JSON"),
        };
        self.sql("(CASE ");
        self.kind(path);
        self.sql(" WHEN 'string' THEN ").sql(length);
        self.json_text(path);
        self.sql(") WHEN 'array' THEN ");
        self.dialect().array_length(self, path);
        self.sql(" WHEN 'object' THEN ");
        self.dialect().object_size(self, path);
        self.sql(" END)");
    }
}
