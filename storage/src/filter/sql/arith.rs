//! Arithmetic: doubles over JSON numbers and integers over times.

use super::super::int::IntExpr;
use super::super::ir::NumExpr;
use super::lower::{time_column, Lower};

impl Lower<'_> {
    /// Floating-point arithmetic over JSON numbers; division by zero is NULL.
    pub(super) fn num(&mut self, n: &NumExpr) {
        let binary = |me: &mut Self, a: &NumExpr, op: &'static str, b: &NumExpr| {
            me.sql("(");
            me.num(a);
            me.sql(op);
            me.num(b);
            me.sql(")");
        };
        match n {
            NumExpr::Json(path) => self.dialect().json_real(self, path),
            NumExpr::Lit(x) => self.dialect().real(self, *x),
            NumExpr::Add(a, b) => binary(self, a, " + ", b),
            NumExpr::Sub(a, b) => binary(self, a, " - ", b),
            NumExpr::Mul(a, b) => binary(self, a, " * ", b),
            NumExpr::Div(a, b) => {
                self.sql("(");
                self.num(a);
                self.sql(" / NULLIF(");
                self.num(b);
                self.sql(", 0))");
            }
            NumExpr::Neg(a) => {
                self.sql("(- ");
                self.num(a);
                self.sql(")");
            }
        }
    }

    /// Integer arithmetic (truncating division, as in Rust).
    pub(super) fn int(&mut self, expr: &IntExpr) {
        let binary = |me: &mut Self, a: &IntExpr, op: &'static str, b: &IntExpr| {
            me.sql("(");
            me.int(a);
            me.sql(op);
            me.int(b);
            me.sql(")");
        };
        match expr {
            IntExpr::Nanos(field) => {
                self.col(time_column(*field));
            }
            IntExpr::Digits(path, start, len) => {
                // Positions are code constants; PostgreSQL's substr takes integers.
                let (start, len): (&'static str, &'static str) = match (start, len) {
                    (1, 4) => ("1", "4"),
                    (6, 2) => ("6", "2"),
                    (9, 2) => ("9", "2"),
                    (12, 2) => ("12", "2"),
                    (15, 2) => ("15", "2"),
                    (18, 2) => ("18", "2"),
                    _ => unreachable!("only the fields of YYYY-MM-DDTHH:MM:SSZ are read"),
                };
                let d = self.dialect();
                self.sql("CAST(").sql(d.words().substring);
                self.json_text(path);
                self.sql(", ")
                    .sql(start)
                    .sql(", ")
                    .sql(len)
                    .sql(")")
                    .sql(d.words().as_bigint);
            }
            IntExpr::Lit(v) => {
                // Typed, so that PostgreSQL does integer (not numeric) arithmetic.
                self.sql("CAST(");
                self.f.bigint(*v);
                self.sql(self.dialect().words().as_bigint);
            }
            IntExpr::Add(a, b) => binary(self, a, " + ", b),
            IntExpr::Sub(a, b) => binary(self, a, " - ", b),
            IntExpr::Mul(a, b) => binary(self, a, " * ", b),
            IntExpr::Div(a, b) => binary(self, a, self.dialect().words().int_div, b),
            IntExpr::Rem(a, b) => binary(self, a, " % ", b),
            IntExpr::IfLe(a, b, then, otherwise) => {
                self.sql("(CASE WHEN ");
                self.int(a);
                self.sql(" <= ");
                self.int(b);
                self.sql(" THEN ");
                self.int(then);
                self.sql(" ELSE ");
                self.int(otherwise);
                self.sql(" END)");
            }
        }
    }
}
