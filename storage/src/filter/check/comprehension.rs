//! `list.exists(x, p)` and `list.all(x, p)` over a JSON list.

use cel::common::ast::{operators as op, ComprehensionExpr, Expr, IdedExpr, LiteralValue};

use super::super::ir::*;
use super::checker::{Checker, Term};
use crate::Result;

impl Checker<'_> {
    /// `list.exists(x, p)` and `list.all(x, p)` over a JSON array.
    pub(super) fn comprehension(
        &self,
        e: &IdedExpr,
        c: &ComprehensionExpr,
        depth: usize,
    ) -> Result<Pred> {
        let unsupported = || self.err(e, "only exists() and all() are supported among the macros");
        let all = match (&c.accu_init.expr, &c.loop_step.expr) {
            (Expr::Literal(LiteralValue::Boolean(b)), Expr::Call(step))
                if c.iter_var2.is_none() =>
            {
                let expected = if *b.inner() {
                    op::LOGICAL_AND
                } else {
                    op::LOGICAL_OR
                };
                if step.func_name != expected || step.args.len() != 2 {
                    return Err(unsupported());
                }
                *b.inner()
            }
            _ => return Err(unsupported()),
        };
        let Expr::Call(step) = &c.loop_step.expr else {
            return Err(unsupported());
        };
        if self.element.is_some() {
            return Err(self.err(e, "nested exists()/all() are not supported"));
        }
        let Term::Operand(Operand::Json(array)) = self.term(&c.iter_range, depth)? else {
            return Err(self.err(&c.iter_range, "exists() and all() apply to JSON lists"));
        };
        if array.root != JsonRoot::Data {
            return Err(self.err(
                &c.iter_range,
                "exists() and all() apply to lists inside data",
            ));
        }
        let body = Checker {
            env: self.env,
            info: self.info,
            element: Some(c.iter_var.clone()),
        };
        let pred = body.pred(&step.args[1], depth + 1)?;
        Ok(Pred::Each {
            array,
            all,
            pred: Box::new(pred),
        })
    }
}
