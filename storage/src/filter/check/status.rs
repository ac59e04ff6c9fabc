//! Integer arithmetic on `summary.status`, which CEL (like upstream Tekton Results) types
//! as an int: `summary.status + 1 == 2`, `summary.status % 2 == 0`.
//!
//! A status takes one of five values, so an expression over it is kept as its value for
//! each status, computed here with CEL's integer semantics (overflow and division by zero
//! are errors, `/` and `%` truncate). A comparison then becomes a table of answers per
//! status ([`Pred::Status`]), which SQL and memory look up alike; where CEL fails the
//! answer is unknown, as an error is in CEL's `&&` and `||`.

use cel::common::ast::{operators as op, IdedExpr};

use super::super::ir::{CmpOp, Lit, Operand, Pred};
use super::checker::{Checker, Term};
use crate::model::Status;
use crate::Result;

/// Every status a Result's summary can hold, as CEL sees it.
const STATUSES: [Status; 5] = [
    Status::Unknown,
    Status::Success,
    Status::Failure,
    Status::Timeout,
    Status::Cancelled,
];

/// Fails to compile when [`Status`] gains a variant that [`STATUSES`] lacks.
const _: fn(Status) = |s| match s {
    Status::Unknown | Status::Success | Status::Failure | Status::Timeout | Status::Cancelled => {}
};

/// An integer computed from `summary.status`: its value for each of [`STATUSES`], `None`
/// where CEL fails.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StatusInt([Option<i64>; STATUSES.len()]);

impl StatusInt {
    /// `summary.status` itself.
    fn status() -> Self {
        StatusInt(STATUSES.map(|s| Some(s as i64)))
    }

    /// A constant.
    fn constant(value: i64) -> Self {
        StatusInt([Some(value); STATUSES.len()])
    }

    /// `f(self, other)` for each status.
    fn zip(&self, other: &Self, f: impl Fn(i64, i64) -> Option<i64>) -> Self {
        StatusInt(std::array::from_fn(|i| f(self.0[i]?, other.0[i]?)))
    }

    /// `self <op> other` for each status.
    fn compare(&self, op: CmpOp, other: &Self) -> Pred {
        let answers = STATUSES
            .iter()
            .zip(self.0.iter().zip(other.0.iter()))
            .filter_map(|(status, (a, b))| Some((*status as i64, op.holds((*a)?.cmp(&(*b)?)))))
            .collect();
        Pred::Status(answers)
    }
}

/// The integer a term stands for, when it is one that status arithmetic takes.
fn status_int(term: &Term) -> Option<StatusInt> {
    match term {
        Term::Operand(Operand::Status) => Some(StatusInt::status()),
        Term::StatusInt(n) => Some(n.clone()),
        Term::Lit(Lit::Int(i)) => Some(StatusInt::constant(*i)),
        _ => None,
    }
}

/// Whether a term reads `summary.status`.
fn reads_status(term: &Term) -> bool {
    matches!(term, Term::Operand(Operand::Status) | Term::StatusInt(_))
}

impl Checker<'_> {
    /// `a <name> b` when either side reads `summary.status`; `None` when neither does.
    pub(super) fn status_arithmetic(
        &self,
        e: &IdedExpr,
        name: &str,
        a: &Term,
        b: &Term,
    ) -> Option<Result<Term>> {
        if !reads_status(a) && !reads_status(b) {
            return None;
        }
        let (Some(x), Some(y)) = (status_int(a), status_int(b)) else {
            return Some(Err(self.err(
                e,
                "arithmetic on summary.status takes integers: integer constants, SUCCESS, \
                 FAILURE, … or summary.status",
            )));
        };
        let f: fn(i64, i64) -> Option<i64> = match name {
            op::ADD => i64::checked_add,
            op::SUBSTRACT => i64::checked_sub,
            op::MULTIPLY => i64::checked_mul,
            op::DIVIDE => i64::checked_div,
            _ => i64::checked_rem,
        };
        Some(Ok(Term::StatusInt(x.zip(&y, f))))
    }

    /// `-a` when `a` reads `summary.status`.
    pub(super) fn status_negate(&self, a: &Term) -> Option<Term> {
        let x = status_int(a).filter(|_| reads_status(a))?;
        Some(Term::StatusInt(
            x.zip(&StatusInt::constant(0), |x, _| x.checked_neg()),
        ))
    }

    /// `a <op> b` when either side is arithmetic on `summary.status` or both read it
    /// (`summary.status <op> constant` stays a plain comparison, which an index answers).
    pub(super) fn status_compare(
        &self,
        at: &IdedExpr,
        a: &Term,
        op: CmpOp,
        b: &Term,
    ) -> Option<Result<Pred>> {
        let arithmetic = matches!(a, Term::StatusInt(_)) || matches!(b, Term::StatusInt(_));
        let both = reads_status(a) && reads_status(b);
        if !(arithmetic || both) {
            return None;
        }
        Some(match (status_int(a), status_int(b)) {
            (Some(x), Some(y)) => Ok(x.compare(op, &y)),
            _ => Err(self.err(
                at,
                "arithmetic on summary.status compares with integers only",
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::checker::check;
    use super::super::Environment;
    use crate::filter::ir::*;

    fn table(source: &str) -> Pred {
        check(source, Environment::Results).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    fn answers(yes: &[i64]) -> Pred {
        Pred::Status((0..5).map(|s| (s, yes.contains(&s))).collect())
    }

    #[test]
    fn status_is_an_integer() {
        // Upstream declares summary.status an enum, which CEL reads as an int.
        assert_eq!(table("summary.status + 1 == 2"), answers(&[1]));
        assert_eq!(table("1 + summary.status == SUCCESS + 1"), answers(&[1]));
        assert_eq!(table("summary.status - 1 >= 2"), answers(&[3, 4]));
        assert_eq!(table("summary.status * 2 == 4"), answers(&[2]));
        assert_eq!(table("summary.status % 2 == 0"), answers(&[0, 2, 4]));
        assert_eq!(table("summary.status / 2 == 1"), answers(&[2, 3]));
        assert_eq!(table("-summary.status < -2"), answers(&[3, 4]));
        assert_eq!(table("summary.status + 1 in [2, 3]"), {
            let eq = |v| Box::new(table(&format!("summary.status + 1 == {v}")));
            Pred::Or(eq(2), eq(3))
        });
        assert_eq!(
            table("summary.status == summary.status"),
            answers(&[0, 1, 2, 3, 4])
        );
        assert_eq!(
            table("summary.status * 2 > summary.status + 2"),
            answers(&[3, 4])
        );
        // Plain comparisons stay plain, for the index on summary_status.
        assert_eq!(
            table("summary.status > 0"),
            Pred::Cmp(Operand::Status, CmpOp::Gt, Lit::Int(0))
        );
        assert_eq!(
            table("summary.status == 1"),
            Pred::Cmp(Operand::Status, CmpOp::Eq, Lit::Int(1))
        );
        assert_eq!(
            table("summary.status in [1, 2]"),
            table("summary.status in [SUCCESS, FAILURE]")
        );
    }

    #[test]
    fn failures_are_unknown() {
        // Division by zero and overflow are CEL errors: no answer for those statuses.
        assert_eq!(
            table("10 / summary.status == 5"),
            Pred::Status(vec![(1, false), (2, true), (3, false), (4, false)])
        );
        assert_eq!(
            table("summary.status % (summary.status - 1) == 0"),
            Pred::Status(vec![(0, true), (2, true), (3, false), (4, false)])
        );
        assert_eq!(
            table("summary.status + 9223372036854775807 > 0"),
            Pred::Status(vec![(0, true)])
        );
        assert_eq!(table("summary.status / 0 == 0"), Pred::Status(vec![]));
    }

    #[test]
    fn rejects_other_types() {
        for (source, needle) in [
            ("summary.status + 1.0 == 2.0", "takes integers"),
            ("summary.status + 'a' == 'b'", "takes integers"),
            ("summary.status + 1 == 'b'", "integers only"),
            ("summary.status + 1 == 2.0", "integers only"),
            ("summary.status + create_time == 1", "takes integers"),
            ("summary.status + 1", "must be a boolean"),
        ] {
            let message = check(source, Environment::Results)
                .expect_err(source)
                .to_string();
            assert!(message.contains(needle), "{source}: {message}");
        }
    }
}
