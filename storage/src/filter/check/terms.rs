//! Terms: literals, identifiers and field selections.

use cel::common::ast::{Expr, IdedExpr, LiteralValue};

use super::super::ir::*;
use super::checker::{check_keys, Checker, Term, MAX_DEPTH};
use crate::Result;

impl Checker<'_> {
    pub(super) fn term(&self, e: &IdedExpr, depth: usize) -> Result<Term> {
        if depth > MAX_DEPTH {
            return Err(self.err(
                e,
                format!("expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let depth = depth + 1;
        match &e.expr {
            Expr::Literal(lit) => Ok(Term::Lit(match lit {
                LiteralValue::Boolean(b) => Lit::Bool(*b.inner()),
                LiteralValue::Int(i) => Lit::Int(*i.inner()),
                LiteralValue::UInt(u) => Lit::Int(
                    i64::try_from(*u.inner())
                        .map_err(|_| self.err(e, "unsigned integer is too large"))?,
                ),
                LiteralValue::Double(d) => Lit::Double(*d.inner()),
                LiteralValue::String(s) => Lit::Str(s.inner().to_owned()),
                LiteralValue::Null => Lit::Null,
                LiteralValue::Bytes(_) => {
                    return Err(self.err(e, "bytes literals are not supported"))
                }
            })),
            Expr::Ident(name) => self.ident(e, name),
            Expr::Select(select) if !select.test => match self.term(&select.operand, depth)? {
                Term::Summary => self.summary_field(e, &select.field),
                Term::Operand(Operand::Json(mut path)) => {
                    path.steps.push(Step::Key(select.field.clone()));
                    check_keys(self, e, &path)?;
                    Ok(Term::Operand(Operand::Json(path)))
                }
                _ => Err(self.err(
                    e,
                    format!(
                        "cannot select .{} here: only data, annotations and summary have fields",
                        select.field
                    ),
                )),
            },
            Expr::Call(call) => self.call_term(e, call, depth),
            Expr::List(_) => Err(self.err(e, "a list is only allowed on the right of `in`")),
            _ => Err(self.err(e, "unsupported expression")),
        }
    }
}

/// Whether a term is certainly a string (so that `+` joins rather than adds).
pub(super) fn stringy(term: &Term) -> bool {
    matches!(
        term,
        Term::Lit(Lit::Str(_)) | Term::Operand(Operand::Text(_) | Operand::Concat(_))
    )
}
