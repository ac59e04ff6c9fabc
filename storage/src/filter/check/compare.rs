//! Comparisons of a field with a constant, `in` lists, and constants with constants.

use cel::common::ast::{Expr, IdedExpr};

use super::super::int;
use super::super::ir::*;
use super::checker::{Checker, Term};
use crate::Result;

impl Checker<'_> {
    pub(super) fn compare(
        &self,
        at: &IdedExpr,
        a: &IdedExpr,
        op: CmpOp,
        b: &IdedExpr,
        depth: usize,
    ) -> Result<Pred> {
        let (a, b) = (self.term(a, depth)?, self.term(b, depth)?);
        self.compare_terms(at, a, op, b)
    }

    /// `a <op> b` of checked terms.
    fn compare_terms(&self, at: &IdedExpr, a: Term, op: CmpOp, b: Term) -> Result<Pred> {
        if let Some(pred) = self.status_compare(at, &a, op, &b) {
            return pred;
        }
        match (a, b) {
            (Term::Operand(x), Term::Lit(l)) => self.comparison(at, x, op, l),
            (Term::Lit(l), Term::Operand(x)) => self.comparison(at, x, op.flipped(), l),
            (Term::Lit(x), Term::Lit(y)) => constant_compare(&x, op, &y)
                .map(Pred::Const)
                .ok_or_else(|| self.err(at, "cannot compare constants of different types")),
            (Term::Summary, _) | (_, Term::Summary) => {
                Err(self.err(at, "compare a field of summary, e.g. summary.status"))
            }
            (Term::Operand(_) | Term::StatusInt(_), Term::Operand(_) | Term::StatusInt(_)) => {
                Err(self.err(at, "comparing two fields with each other is not supported"))
            }
            (Term::StatusInt(_), Term::Lit(_)) | (Term::Lit(_), Term::StatusInt(_)) => Err(self
                .err(
                    at,
                    "arithmetic on summary.status compares with integers only",
                )),
        }
    }

    fn comparison(&self, at: &IdedExpr, operand: Operand, op: CmpOp, lit: Lit) -> Result<Pred> {
        let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        let ok = match (&operand, &lit) {
            (Operand::Text(_) | Operand::Concat(_), Lit::Str(_)) => true,
            (Operand::Time(_), Lit::Time(_)) => true,
            (Operand::Status | Operand::Size(_) | Operand::Int(_), Lit::Int(_)) => true,
            (Operand::Num(_), Lit::Int(_) | Lit::Double(_)) => true,
            (Operand::Difference(a, b), Lit::Int(_) | Lit::Double(_)) => {
                let n = NumExpr::Sub(
                    Box::new(NumExpr::Json(a.clone())),
                    Box::new(NumExpr::Json(b.clone())),
                );
                return Ok(Pred::Cmp(Operand::Num(n), op, lit));
            }
            (Operand::ShiftedTime(f, d), Lit::Time(t)) => {
                let t = t
                    .checked_sub(*d)
                    .ok_or_else(|| self.err(at, "arithmetic overflow"))?;
                return Ok(Pred::Cmp(Operand::Time(*f), op, Lit::Time(t)));
            }
            (Operand::Difference(end, start), Lit::Duration(_)) => {
                let seconds = int::IntExpr::Sub(
                    Box::new(int::json_epoch_seconds(end)),
                    Box::new(int::json_epoch_seconds(start)),
                );
                return self.comparison(at, Operand::Seconds(seconds), op, lit);
            }
            (Operand::Seconds(seconds), Lit::Duration(d)) => {
                // Whole seconds against nanoseconds: compare with the whole second that
                // gives the same answer; an impossible equality still needs both times.
                let (s, whole) = (
                    d.div_euclid(1_000_000_000),
                    d.rem_euclid(1_000_000_000) == 0,
                );
                let (op, s) = match (op, whole) {
                    (CmpOp::Eq, false) => (CmpOp::Lt, i64::MIN),
                    (CmpOp::Ne, false) => (CmpOp::Ge, i64::MIN),
                    (CmpOp::Ge, false) => (CmpOp::Gt, s),
                    (CmpOp::Lt, false) => (CmpOp::Le, s),
                    (op, _) => (op, s),
                };
                return Ok(Pred::Cmp(Operand::Int(seconds.clone()), op, Lit::Int(s)));
            }
            (Operand::Json(_), Lit::Str(_) | Lit::Int(_) | Lit::Double(_)) => true,
            (Operand::Json(_), Lit::Bool(_) | Lit::Null) => !ordering,
            (Operand::Json(path), Lit::Time(t)) => return Ok(Pred::JsonTime(path.clone(), op, *t)),
            (Operand::Json(_), Lit::Duration(_)) => {
                return Err(self.err(at, "comparing JSON values with duration() is not supported"))
            }
            _ => false,
        };
        if !ok {
            return Err(self.err(
                at,
                format!(
                    "cannot compare {} with {}",
                    describe(&operand),
                    describe_lit(&lit)
                ),
            ));
        }
        Ok(Pred::Cmp(operand, op, lit))
    }

    pub(super) fn in_list(&self, a: &IdedExpr, list: &IdedExpr, depth: usize) -> Result<Pred> {
        let Expr::List(items) = &list.expr else {
            return Err(self.err(
                list,
                "`in` needs a list of constants on its right, e.g. x in [\"a\", \"b\"]",
            ));
        };
        let left = self.term(a, depth)?;
        if !matches!(left, Term::Operand(_) | Term::StatusInt(_)) {
            return Err(self.err(a, "`in` needs a field on its left"));
        }
        let mut tests = Vec::with_capacity(items.elements.len());
        for item in &items.elements {
            let Term::Lit(lit) = self.term(item, depth)? else {
                return Err(self.err(item, "list elements must be constants"));
            };
            tests.push(self.compare_terms(item, left.clone(), CmpOp::Eq, Term::Lit(lit))?);
        }
        Ok(any(tests))
    }
}

/// The disjunction of `preds` as a balanced tree: lowering, evaluating and dropping a
/// predicate recurse once per level, so a list of thousands of elements must not become
/// a chain thousands deep (it overflowed the stack of the thread running the query).
fn any(mut preds: Vec<Pred>) -> Pred {
    match preds.len() {
        0 => Pred::Const(false),
        1 => preds.pop().expect("one element"),
        n => {
            let right = preds.split_off(n / 2);
            Pred::Or(Box::new(any(preds)), Box::new(any(right)))
        }
    }
}

fn describe(operand: &Operand) -> &'static str {
    match operand {
        Operand::Text(_) => "a string field",
        Operand::Time(_) => "a time field (use timestamp(\"…\"))",
        Operand::Status => "summary.status (use SUCCESS, FAILURE, … or an integer)",
        Operand::Json(_) => "a JSON value",
        Operand::Size(_) => "size() (compare with an integer)",
        Operand::Int(_) => "a timestamp part (compare with an integer)",
        Operand::Seconds(_) => "a difference of timestamps (compare with duration(\"…\"))",
        Operand::Difference(..) => {
            "a difference of JSON values (compare with a number or a duration)"
        }
        Operand::Num(_) => "arithmetic on numbers (compare with a number)",
        Operand::ShiftedTime(..) => "a time ± duration (compare with timestamp(\"…\"))",
        Operand::Concat(_) => "a string",
    }
}

fn describe_lit(lit: &Lit) -> &'static str {
    match lit {
        Lit::Str(_) => "a string",
        Lit::Int(_) => "an integer",
        Lit::Double(_) => "a double",
        Lit::Bool(_) => "a bool (only == and != apply)",
        Lit::Null => "null (only == and != apply)",
        Lit::Time(_) => "a timestamp",
        Lit::Duration(_) => "a duration",
    }
}

fn constant_compare(a: &Lit, op: CmpOp, b: &Lit) -> Option<bool> {
    let ord = match (a, b) {
        (Lit::Str(x), Lit::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Lit::Int(x), Lit::Int(y))
        | (Lit::Time(x), Lit::Time(y))
        | (Lit::Duration(x), Lit::Duration(y)) => x.cmp(y),
        (Lit::Double(x), Lit::Double(y)) => x.partial_cmp(y)?,
        (Lit::Bool(x), Lit::Bool(y)) => x.cmp(y),
        (Lit::Null, Lit::Null) => std::cmp::Ordering::Equal,
        _ => return None,
    };
    Some(op.holds(ord))
}

#[cfg(test)]
mod tests {
    use super::super::checker::check;
    use super::super::Environment;
    use crate::filter::ir::*;

    #[test]
    fn builds_the_ir() {
        let p = check("'x' == data.a[\"b c\"][2] && create_time > timestamp('2024-01-01T00:00:00Z') - duration('1h')", Environment::Records).unwrap();
        let Pred::And(a, b) = p else { panic!("{p:?}") };
        assert_eq!(
            *a,
            Pred::Cmp(
                Operand::Json(JsonPath {
                    root: JsonRoot::Data,
                    steps: vec![
                        Step::Key("a".into()),
                        Step::Key("b c".into()),
                        Step::Index(2)
                    ]
                }),
                CmpOp::Eq,
                Lit::Str("x".into())
            )
        );
        assert_eq!(
            *b,
            Pred::Cmp(
                Operand::Time(TimeField::CreateTime),
                CmpOp::Gt,
                Lit::Time(1_704_067_200_000_000_000 - 3_600_000_000_000)
            )
        );
        assert_eq!(
            check("summary.status in [SUCCESS, FAILURE]", Environment::Results).unwrap(),
            Pred::Or(
                Box::new(Pred::Cmp(Operand::Status, CmpOp::Eq, Lit::Int(1))),
                Box::new(Pred::Cmp(Operand::Status, CmpOp::Eq, Lit::Int(2))),
            )
        );
        let status = |i| Box::new(Pred::Cmp(Operand::Status, CmpOp::Eq, Lit::Int(i)));
        assert_eq!(
            check("summary.status in [0, 1, 2]", Environment::Results).unwrap(),
            Pred::Or(status(0), Box::new(Pred::Or(status(1), status(2)))),
            "a balanced tree"
        );
        assert_eq!(
            check("parent in []", Environment::Records).unwrap(),
            Pred::Const(false)
        );
        assert_eq!(
            check("1 < 2", Environment::Records).unwrap(),
            Pred::Const(true)
        );
    }
}
