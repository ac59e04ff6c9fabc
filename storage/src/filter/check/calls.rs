//! Calls: timestamp getters, `size()`, indexing, `timestamp()`, `duration()`, and the
//! string methods.

use cel::common::ast::{operators as op, CallExpr, IdedExpr};

use super::super::int::{self, Getter};
use super::super::ir::*;
use super::checker::{check_keys, Checker, Term};
use super::time::{parse_duration, parse_timestamp};
use crate::limits::MAX_JSON_INDEX;
use crate::Result;

impl Checker<'_> {
    pub(super) fn call_term(&self, e: &IdedExpr, call: &CallExpr, depth: usize) -> Result<Term> {
        let args = &call.args;
        if let (Some(getter), Some(target)) =
            (Getter::from_name(&call.func_name), call.target.as_deref())
        {
            match args.first().map(|a| self.term(a, depth)).transpose()? {
                None => {}
                Some(Term::Lit(Lit::Str(tz))) if tz == "UTC" || tz == "Z" => {}
                Some(_) => {
                    return Err(self.err(e, "timestamp getters support only the time zone \"UTC\""))
                }
            }
            return match self.term(target, depth)? {
                Term::Operand(Operand::Time(field)) => Ok(Term::Operand(Operand::Int(
                    int::column_getter(field, getter),
                ))),
                Term::Operand(Operand::Json(path)) => {
                    Ok(Term::Operand(Operand::Int(int::json_getter(&path, getter))))
                }
                _ => Err(self.err(
                    e,
                    format!(
                        "{}() applies to time fields and JSON timestamps",
                        call.func_name
                    ),
                )),
            };
        }
        match (call.func_name.as_str(), call.target.is_some(), args.len()) {
            ("size", false, 1) | ("size", true, 0) => {
                let arg = call.target.as_deref().unwrap_or_else(|| &args[0]);
                match self.term(arg, depth)? {
                    Term::Operand(inner @ (Operand::Text(_) | Operand::Json(_))) => {
                        Ok(Term::Operand(Operand::Size(Box::new(inner))))
                    }
                    _ => Err(self.err(e, "size() applies to text fields and JSON values")),
                }
            }
            (op::INDEX, false, 2) => {
                let Term::Operand(Operand::Json(mut path)) = self.term(&args[0], depth)? else {
                    return Err(self.err(
                        e,
                        "indexing is supported on data, annotations and summary.annotations",
                    ));
                };
                match self.term(&args[1], depth)? {
                    Term::Lit(Lit::Str(key)) => path.steps.push(Step::Key(key)),
                    Term::Lit(Lit::Int(i)) => {
                        let index = u32::try_from(i)
                            .ok()
                            .filter(|i| *i <= MAX_JSON_INDEX)
                            .ok_or_else(|| {
                                self.err(
                                    e,
                                    format!(
                                        "list index {i} is out of range; indexes go from 0 \
                                         to {MAX_JSON_INDEX}"
                                    ),
                                )
                            })?;
                        path.steps.push(Step::Index(index))
                    }
                    _ => {
                        return Err(self.err(
                            e,
                            "an index must be a string or a non-negative integer constant",
                        ))
                    }
                }
                check_keys(self, e, &path)?;
                Ok(Term::Operand(Operand::Json(path)))
            }
            ("timestamp", false, 1) => match self.term(&args[0], depth)? {
                Term::Lit(Lit::Str(text)) => parse_timestamp(&text)
                    .map(|t| Term::Lit(Lit::Time(t)))
                    .ok_or_else(|| {
                        self.err(
                            e,
                            format!(
                                "timestamp({text:?}) is not an RFC 3339 time between 1678 and 2262"
                            ),
                        )
                    }),
                _ => Err(self.err(e, "timestamp() takes a string constant")),
            },
            ("duration", false, 1) => match self.term(&args[0], depth)? {
                Term::Lit(Lit::Str(text)) => parse_duration(&text)
                    .map(|d| Term::Lit(Lit::Duration(d)))
                    .ok_or_else(|| {
                        self.err(
                            e,
                            format!(
                                "duration({text:?}) is not a duration like \"1h30m\" or \"-2.5s\""
                            ),
                        )
                    }),
                _ => Err(self.err(e, "duration() takes a string constant")),
            },
            (op::ADD | op::SUBSTRACT | op::MULTIPLY | op::DIVIDE | op::MODULO, false, 2) => {
                self.arithmetic(e, call, depth)
            }
            (op::NEGATE, false, 1) => self.negate(e, call, depth),
            _ => Err(self.unsupported_call(e, &call.func_name)),
        }
    }

    pub(super) fn matches(&self, target: &IdedExpr, arg: &IdedExpr, depth: usize) -> Result<Pred> {
        let operand = match self.term(target, depth)? {
            Term::Operand(o @ (Operand::Text(_) | Operand::Json(_))) => o,
            _ => return Err(self.err(target, "matches() applies to text fields and JSON values")),
        };
        match self.term(arg, depth)? {
            Term::Lit(Lit::Str(s)) => super::super::regex::Pattern::new(&s)
                .map(|p| Pred::Matches(operand, p))
                .map_err(|why| self.err(arg, format!("matches(): {why}"))),
            _ => Err(self.err(arg, "matches() takes a string constant")),
        }
    }

    pub(super) fn string_test(
        &self,
        target: &IdedExpr,
        f: StrFn,
        arg: &IdedExpr,
        depth: usize,
    ) -> Result<Pred> {
        let operand = match self.term(target, depth)? {
            Term::Operand(o @ (Operand::Text(_) | Operand::Json(_) | Operand::Concat(_))) => o,
            _ => {
                return Err(self.err(
                    target,
                    "string functions apply to text fields and JSON values",
                ))
            }
        };
        match self.term(arg, depth)? {
            Term::Lit(Lit::Str(s)) => Ok(Pred::Str(operand, f, s)),
            _ => Err(self.err(arg, "the argument must be a string constant")),
        }
    }
}
