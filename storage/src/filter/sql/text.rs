//! Text operands (columns, JSON strings, concatenations) and their comparisons and tests.

use super::super::ir::{CmpOp, JsonPath, Operand, Piece, StrFn};
use super::lower::{text_column, Lower, FALSE, TRUE};

/// A text operand: a column, the text of a JSON string value, or strings joined.
pub(super) enum TextSource<'p> {
    Column(&'static str),
    Json(&'p JsonPath),
    Concat(&'p [Piece]),
}

impl<'p> TextSource<'p> {
    /// The text an operand the checker uses as text reads.
    pub(super) fn of(operand: &'p Operand) -> Self {
        match operand {
            Operand::Text(field) => TextSource::Column(text_column(*field)),
            Operand::Json(path) => TextSource::Json(path),
            Operand::Concat(pieces) => TextSource::Concat(pieces),
            _ => unreachable!("the checker only uses text fields, JSON and joins as text"),
        }
    }
}

impl Lower<'_> {
    /// Writes the text of `source`.
    pub(super) fn text(&mut self, source: &TextSource<'_>) {
        match source {
            TextSource::Column(c) => {
                self.col(c);
            }
            TextSource::Json(path) => self.json_text(path),
            TextSource::Concat(pieces) => {
                let words = self.dialect().words();
                self.sql(words.concat);
                for (i, piece) in pieces.iter().enumerate() {
                    if i > 0 {
                        self.sql(words.concat_separator);
                    }
                    match piece {
                        Piece::Text(field) => {
                            self.col(text_column(*field));
                        }
                        Piece::Json(path) => self.json_text(path),
                        Piece::Lit(s) => {
                            self.sql("CAST(");
                            self.f.text(s.clone());
                            self.sql(words.as_text);
                        }
                    }
                }
                self.sql(")");
            }
        }
    }

    /// `CASE WHEN` every JSON value read as text is a string `THEN …`: opens the guard,
    /// returns whether one was opened (close it with `END)`).
    pub(super) fn string_operand_guard(&mut self, operand: &Operand) -> bool {
        let paths: Vec<&JsonPath> = match operand {
            Operand::Json(path) => vec![path],
            Operand::Concat(pieces) => pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Json(path) => Some(path),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if paths.is_empty() {
            return false;
        }
        self.kinds_are(&paths, "'string'");
        true
    }

    /// `CASE WHEN text IS NULL THEN NULL ELSE <answer> END`.
    fn unless_null(&mut self, source: &TextSource<'_>, answer: bool) {
        self.sql("(CASE WHEN ");
        self.text(source);
        self.sql(" IS NULL THEN NULL ELSE ")
            .sql(if answer { TRUE } else { FALSE })
            .sql(" END)");
    }

    /// `text <op> s`, comparing code points on every backend.
    pub(super) fn text_compare(&mut self, source: &TextSource<'_>, op: CmpOp, s: &str) {
        // Where text cannot hold NUL, no stored value equals such a literal, and
        // ordering against it equals ordering against its prefix.
        if !self.dialect().text_holds_nul() && s.contains('\0') {
            let prefix = &s[..s.find('\0').unwrap_or(s.len())];
            let (op, bound) = match op {
                CmpOp::Eq | CmpOp::Ne => return self.unless_null(source, op == CmpOp::Ne),
                CmpOp::Lt | CmpOp::Le => (CmpOp::Le, prefix),
                CmpOp::Gt | CmpOp::Ge => (CmpOp::Gt, prefix),
            };
            return self.text_compare(source, op, bound);
        }
        self.dialect().compare_text(self, source, op, s);
    }

    /// `startsWith`, `endsWith` or `contains`.
    pub(super) fn string_test(&mut self, source: &TextSource<'_>, func: StrFn, needle: &str) {
        let chars = needle.chars().count() as i64;
        let never = !self.dialect().text_holds_nul() && needle.contains('\0');
        if never || chars == 0 {
            // Empty needles always match; NUL never occurs where text cannot hold it.
            return self.unless_null(source, !never);
        }
        match func {
            StrFn::Contains => self.dialect().contains(self, source, needle),
            StrFn::StartsWith => self.dialect().affix(self, source, true, needle, chars),
            StrFn::EndsWith => self.dialect().affix(self, source, false, needle, chars),
        }
    }
}
