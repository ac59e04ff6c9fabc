//! Arithmetic: `+ - * /` and unary `-`, folded between constants, string joins, time ±
//! duration, differences of JSON timestamps, and arithmetic on JSON numbers.

use cel::common::ast::{operators as op, CallExpr, IdedExpr};

use super::super::ir::*;
use super::checker::{Checker, Term};
use super::terms::stringy;
use crate::Result;

impl Checker<'_> {
    /// `a + b`, `a - b`, `a * b`, `a / b` or `a % b`.
    pub(super) fn arithmetic(&self, e: &IdedExpr, call: &CallExpr, depth: usize) -> Result<Term> {
        let args = &call.args;
        let (a, b) = (self.term(&args[0], depth)?, self.term(&args[1], depth)?);
        let name = call.func_name.as_str();
        if let Some(term) = self.status_arithmetic(e, name, &a, &b) {
            return term;
        }
        if name == op::MODULO {
            return Err(self.unsupported_call(e, name));
        }
        match (&a, &b) {
            // Which of timestamps or numbers depends on what it is compared with.
            (Term::Operand(Operand::Json(end)), Term::Operand(Operand::Json(start)))
                if name == op::SUBSTRACT =>
            {
                return Ok(Term::Operand(Operand::Difference(
                    end.clone(),
                    start.clone(),
                )));
            }
            _ if name == op::ADD && (stringy(&a) || stringy(&b)) => {
                let mut pieces = self.pieces(e, a)?;
                pieces.extend(self.pieces(e, b)?);
                return Ok(Term::Operand(Operand::Concat(pieces)));
            }
            (Term::Operand(Operand::Time(f)), Term::Lit(Lit::Duration(d)))
                if name != op::MULTIPLY && name != op::DIVIDE =>
            {
                let d = if name == op::ADD {
                    *d
                } else {
                    d.checked_neg()
                        .ok_or_else(|| self.err(e, "arithmetic overflow"))?
                };
                return Ok(Term::Operand(Operand::ShiftedTime(*f, d)));
            }
            (Term::Operand(_), _) | (_, Term::Operand(_)) => {
                let (x, y) = (self.number(e, a)?, self.number(e, b)?);
                let (x, y) = (Box::new(x), Box::new(y));
                return Ok(Term::Operand(Operand::Num(match name {
                    op::ADD => NumExpr::Add(x, y),
                    op::SUBSTRACT => NumExpr::Sub(x, y),
                    op::MULTIPLY => NumExpr::Mul(x, y),
                    _ => NumExpr::Div(x, y),
                })));
            }
            _ => {}
        }
        if name == op::MULTIPLY || name == op::DIVIDE {
            return Err(self.err(
                e,
                "* and / between constants are not supported; write the value",
            ));
        }
        let (Term::Lit(a), Term::Lit(b)) = (a, b) else {
            return Err(self.unsupported_call(e, &call.func_name));
        };
        let add = call.func_name == op::ADD;
        let folded = match (a, b) {
            (Lit::Time(t), Lit::Duration(d)) => {
                t.checked_add(if add { d } else { -d }).map(Lit::Time)
            }
            (Lit::Duration(d), Lit::Time(t)) if add => t.checked_add(d).map(Lit::Time),
            (Lit::Duration(a), Lit::Duration(b)) => (if add {
                a.checked_add(b)
            } else {
                a.checked_sub(b)
            })
            .map(Lit::Duration),
            (Lit::Int(a), Lit::Int(b)) => (if add {
                a.checked_add(b)
            } else {
                a.checked_sub(b)
            })
            .map(Lit::Int),
            (Lit::Double(a), Lit::Double(b)) => Some(Lit::Double(if add { a + b } else { a - b })),
            (Lit::Str(a), Lit::Str(b)) if add => Some(Lit::Str(a + &b)),
            _ => return Err(self.err(e, "operands of + and - have incompatible types")),
        };
        folded
            .map(Term::Lit)
            .ok_or_else(|| self.err(e, "arithmetic overflow"))
    }

    /// Unary `-`.
    pub(super) fn negate(&self, e: &IdedExpr, call: &CallExpr, depth: usize) -> Result<Term> {
        let term = self.term(&call.args[0], depth)?;
        if let Some(term) = self.status_negate(&term) {
            return Ok(term);
        }
        match term {
            Term::Lit(Lit::Int(i)) => i
                .checked_neg()
                .map(|i| Term::Lit(Lit::Int(i)))
                .ok_or_else(|| self.err(e, "arithmetic overflow")),
            Term::Lit(Lit::Double(d)) => Ok(Term::Lit(Lit::Double(-d))),
            Term::Lit(Lit::Duration(d)) => Ok(Term::Lit(Lit::Duration(-d))),
            t @ Term::Operand(_) => Ok(Term::Operand(Operand::Num(NumExpr::Neg(Box::new(
                self.number(e, t)?,
            ))))),
            _ => Err(self.unsupported_call(e, &call.func_name)),
        }
    }

    /// A term as pieces of a string concatenation.
    fn pieces(&self, e: &IdedExpr, term: Term) -> Result<Vec<Piece>> {
        match term {
            Term::Operand(Operand::Text(f)) => Ok(vec![Piece::Text(f)]),
            Term::Operand(Operand::Json(path)) => Ok(vec![Piece::Json(path)]),
            Term::Operand(Operand::Concat(pieces)) => Ok(pieces),
            Term::Lit(Lit::Str(s)) if s.contains('\0') => {
                Err(self.err(e, "strings joined with + cannot contain NUL"))
            }
            Term::Lit(Lit::Str(s)) => Ok(vec![Piece::Lit(s)]),
            _ => Err(self.err(
                e,
                "+ joins strings: text fields, JSON strings and string constants",
            )),
        }
    }

    /// A term as a number for arithmetic: JSON values, numeric constants, arithmetic.
    fn number(&self, e: &IdedExpr, term: Term) -> Result<NumExpr> {
        match term {
            Term::Operand(Operand::Json(path)) => Ok(NumExpr::Json(path)),
            Term::Operand(Operand::Num(n)) => Ok(n),
            Term::Operand(Operand::Difference(a, b)) => Ok(NumExpr::Sub(
                Box::new(NumExpr::Json(a)),
                Box::new(NumExpr::Json(b)),
            )),
            Term::Lit(Lit::Int(i)) => Ok(NumExpr::Lit(i as f64)),
            Term::Lit(Lit::Double(d)) => Ok(NumExpr::Lit(d)),
            _ => Err(self.err(
                e,
                "arithmetic applies to JSON numbers and numeric constants (and time ± duration)",
            )),
        }
    }
}
