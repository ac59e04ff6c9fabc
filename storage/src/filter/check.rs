//! Checking a parsed CEL expression against the fields of Results or Records, producing
//! the typed IR. Everything outside the allow-list is rejected with a message that names
//! the problem and where it is.

use cel::common::ast::{operators as op, Expr, IdedExpr, LiteralValue, SourceInfo};

use super::int::{self, Getter};
use super::ir::*;
use crate::{Error, Result};

/// Longest filter accepted, in bytes.
const MAX_LEN: usize = 8 * 1024;
/// Deepest expression nesting accepted.
const MAX_DEPTH: usize = 64;

/// Which fields a filter may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// ListResults: `parent`, `uid`, `annotations`, `summary.*`, times.
    Results,
    /// ListRecords: `parent`, `result_name`, `name`, `data_type`, `data`, times.
    Records,
}

impl Environment {
    fn names(self) -> &'static str {
        match self {
            Environment::Results => {
                "parent, uid, annotations, summary.{record,type,status,start_time,end_time,annotations}, \
                 create_time, update_time"
            }
            Environment::Records => "parent, result_name, name, data_type, data, create_time, update_time",
        }
    }
}

/// Parses and checks a filter.
pub(super) fn check(source: &str, env: Environment) -> Result<Pred> {
    if source.len() > MAX_LEN {
        return Err(invalid(format!(
            "filter is {} bytes long; at most {MAX_LEN} are allowed",
            source.len()
        )));
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cel-check".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, || parse_and_check(source, env))
            .map_err(|e| Error::Unimplemented(format!("cannot start the filter checker: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(invalid("filter could not be checked".into())))
    })
}

/// Nesting the parser accepts (it refuses deeper input with an error).
const MAX_PARSE_DEPTH: u16 = 48;
/// Stack for parsing: the generated parser recurses with large frames, more than the
/// default 2 MiB thread stack holds even at modest nesting in debug builds. Only the
/// pages actually used are committed.
const PARSE_STACK: usize = 32 << 20;

fn parse_and_check(source: &str, env: Environment) -> Result<Pred> {
    let (ast, info) = cel::parser::Parser::new()
        .max_recursion_depth(MAX_PARSE_DEPTH)
        .parse_with_source_info(source)
        .map_err(|e| invalid(format!("filter is not valid CEL: {e}")))?;
    Checker {
        env,
        info: &info,
        element: None,
    }
    .pred(&ast, 0)
}

fn invalid(message: String) -> Error {
    Error::InvalidArgument(message)
}

/// A checked value: a field to read or a constant.
enum Term {
    Operand(Operand),
    Lit(Lit),
    /// `summary` itself, only valid with a field selected.
    Summary,
}

struct Checker<'i> {
    env: Environment,
    info: &'i SourceInfo,
    /// The variable of the enclosing `exists`/`all`, bound to the current element.
    element: Option<String>,
}

impl Checker<'_> {
    /// An InvalidArgument naming where in the filter the problem is.
    fn err(&self, at: &IdedExpr, message: impl std::fmt::Display) -> Error {
        match self.info.offset_for(at.id) {
            Some((start, _)) => invalid(format!("filter: {message} (at offset {start})")),
            None => invalid(format!("filter: {message}")),
        }
    }

    fn pred(&self, e: &IdedExpr, depth: usize) -> Result<Pred> {
        if depth > MAX_DEPTH {
            return Err(self.err(
                e,
                format!("expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let depth = depth + 1;
        match &e.expr {
            Expr::Literal(LiteralValue::Boolean(b)) => Ok(Pred::Const(*b.inner())),
            Expr::Call(call) => {
                let args = &call.args;
                match (call.func_name.as_str(), call.target.as_deref(), args.len()) {
                    (op::LOGICAL_AND, None, 2) => Ok(Pred::And(
                        Box::new(self.pred(&args[0], depth)?),
                        Box::new(self.pred(&args[1], depth)?),
                    )),
                    (op::LOGICAL_OR, None, 2) => Ok(Pred::Or(
                        Box::new(self.pred(&args[0], depth)?),
                        Box::new(self.pred(&args[1], depth)?),
                    )),
                    (op::LOGICAL_NOT, None, 1) => {
                        Ok(Pred::Not(Box::new(self.pred(&args[0], depth)?)))
                    }
                    (op::EQUALS, None, 2) => self.compare(e, &args[0], CmpOp::Eq, &args[1], depth),
                    (op::NOT_EQUALS, None, 2) => {
                        self.compare(e, &args[0], CmpOp::Ne, &args[1], depth)
                    }
                    (op::LESS, None, 2) => self.compare(e, &args[0], CmpOp::Lt, &args[1], depth),
                    (op::LESS_EQUALS, None, 2) => {
                        self.compare(e, &args[0], CmpOp::Le, &args[1], depth)
                    }
                    (op::GREATER, None, 2) => self.compare(e, &args[0], CmpOp::Gt, &args[1], depth),
                    (op::GREATER_EQUALS, None, 2) => {
                        self.compare(e, &args[0], CmpOp::Ge, &args[1], depth)
                    }
                    (op::IN, None, 2) => self.in_list(&args[0], &args[1], depth),
                    ("startsWith", Some(t), 1) => {
                        self.string_test(t, StrFn::StartsWith, &args[0], depth)
                    }
                    ("endsWith", Some(t), 1) => {
                        self.string_test(t, StrFn::EndsWith, &args[0], depth)
                    }
                    ("matches", Some(t), 1) => self.matches(t, &args[0], depth),
                    ("contains", Some(t), 1) => {
                        self.string_test(t, StrFn::Contains, &args[0], depth)
                    }
                    _ => match self.term(e, depth)? {
                        Term::Operand(Operand::Json(path)) => {
                            Ok(Pred::Cmp(Operand::Json(path), CmpOp::Eq, Lit::Bool(true)))
                        }
                        _ => Err(self.unsupported_call(e, &call.func_name)),
                    },
                }
            }
            Expr::Select(select) if select.test => match self.term(&select.operand, depth)? {
                Term::Operand(Operand::Json(mut path)) => {
                    path.steps.push(Step::Key(select.field.clone()));
                    check_keys(self, e, &path)?;
                    Ok(Pred::Has(path))
                }
                _ => Err(self.err(
                    e,
                    "has() is supported on paths into data, annotations and summary.annotations",
                )),
            },
            Expr::Comprehension(c) => self.comprehension(e, c, depth),
            _ => match self.term(e, depth)? {
                // A bare JSON path is a boolean test: `data.spec.enabled`.
                Term::Operand(Operand::Json(path)) => {
                    Ok(Pred::Cmp(Operand::Json(path), CmpOp::Eq, Lit::Bool(true)))
                }
                Term::Lit(Lit::Bool(b)) => Ok(Pred::Const(b)),
                _ => Err(self.err(e, "the filter must be a boolean expression")),
            },
        }
    }

    fn unsupported_call(&self, e: &IdedExpr, name: &str) -> Error {
        let shown = match name {
            op::ADD => "+",
            op::SUBSTRACT => "-",
            op::MULTIPLY => "*",
            op::DIVIDE => "/",
            op::MODULO => "%",
            op::CONDITIONAL => "?:",
            op::NEGATE => "unary -",
            op::INDEX => "[]",
            other => other,
        };
        match name {
            op::ADD | op::SUBSTRACT | op::MULTIPLY | op::DIVIDE | op::MODULO | op::NEGATE => {
                self.err(e, format!("operator {shown} is only supported between constants (and timestamp ± duration)"))
            }
            _ => self.err(e, format!("unsupported function or operator `{shown}`; supported: && || ! == != < <= > >= in, startsWith, endsWith, contains, has, timestamp, duration")),
        }
    }

    fn term(&self, e: &IdedExpr, depth: usize) -> Result<Term> {
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

    fn call_term(
        &self,
        e: &IdedExpr,
        call: &cel::common::ast::CallExpr,
        depth: usize,
    ) -> Result<Term> {
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
                    Term::Lit(Lit::Int(i)) => path
                        .steps
                        .push(Step::Index(u32::try_from(i).map_err(|_| {
                            self.err(e, format!("list index {i} is out of range"))
                        })?)),
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
            (op::ADD | op::SUBSTRACT | op::MULTIPLY | op::DIVIDE, false, 2) => {
                let (a, b) = (self.term(&args[0], depth)?, self.term(&args[1], depth)?);
                let name = call.func_name.as_str();
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
                    (Lit::Double(a), Lit::Double(b)) => {
                        Some(Lit::Double(if add { a + b } else { a - b }))
                    }
                    (Lit::Str(a), Lit::Str(b)) if add => Some(Lit::Str(a + &b)),
                    _ => return Err(self.err(e, "operands of + and - have incompatible types")),
                };
                folded
                    .map(Term::Lit)
                    .ok_or_else(|| self.err(e, "arithmetic overflow"))
            }
            (op::NEGATE, false, 1) => match self.term(&args[0], depth)? {
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
            },
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

    fn ident(&self, e: &IdedExpr, name: &str) -> Result<Term> {
        let text = |f| Ok(Term::Operand(Operand::Text(f)));
        let time = |f| Ok(Term::Operand(Operand::Time(f)));
        let json = |root| {
            Ok(Term::Operand(Operand::Json(JsonPath {
                root,
                steps: Vec::new(),
            })))
        };
        if self.element.as_deref() == Some(name) {
            return json(JsonRoot::Element);
        }
        match (self.env, name) {
            (_, "parent") => text(TextField::Parent),
            (_, "create_time") => time(TimeField::CreateTime),
            (_, "update_time") => time(TimeField::UpdateTime),
            (_, "PIPELINE_RUN") => Ok(Term::Lit(Lit::Str("tekton.dev/v1.PipelineRun".into()))),
            (_, "TASK_RUN") => Ok(Term::Lit(Lit::Str("tekton.dev/v1.TaskRun".into()))),
            (Environment::Records, "result_name") => text(TextField::ResultName),
            (Environment::Records, "name") => text(TextField::Name),
            (Environment::Records, "data_type") => text(TextField::DataType),
            (Environment::Records, "data") => json(JsonRoot::Data),
            (Environment::Results, "uid") => text(TextField::Uid),
            (Environment::Results, "annotations") => json(JsonRoot::Annotations),
            (Environment::Results, "summary") => Ok(Term::Summary),
            (Environment::Results, "UNKNOWN") => Ok(Term::Lit(Lit::Int(0))),
            (Environment::Results, "SUCCESS") => Ok(Term::Lit(Lit::Int(1))),
            (Environment::Results, "FAILURE") => Ok(Term::Lit(Lit::Int(2))),
            (Environment::Results, "TIMEOUT") => Ok(Term::Lit(Lit::Int(3))),
            (Environment::Results, "CANCELLED") => Ok(Term::Lit(Lit::Int(4))),
            _ => Err(self.err(
                e,
                format!(
                    "unknown identifier `{name}`; available: {}",
                    self.env.names()
                ),
            )),
        }
    }

    fn summary_field(&self, e: &IdedExpr, field: &str) -> Result<Term> {
        Ok(Term::Operand(match field {
            "record" => Operand::Text(TextField::SummaryRecord),
            "type" => Operand::Text(TextField::SummaryType),
            "status" => Operand::Status,
            "start_time" => Operand::Time(TimeField::SummaryStartTime),
            "end_time" => Operand::Time(TimeField::SummaryEndTime),
            "annotations" => Operand::Json(JsonPath { root: JsonRoot::SummaryAnnotations, steps: Vec::new() }),
            other => {
                return Err(self.err(e, format!(
                    "summary has no field `{other}`; available: record, type, status, start_time, end_time, annotations"
                )))
            }
        }))
    }

    fn compare(
        &self,
        at: &IdedExpr,
        a: &IdedExpr,
        op: CmpOp,
        b: &IdedExpr,
        depth: usize,
    ) -> Result<Pred> {
        match (self.term(a, depth)?, self.term(b, depth)?) {
            (Term::Operand(x), Term::Lit(l)) => self.comparison(at, x, op, l),
            (Term::Lit(l), Term::Operand(x)) => self.comparison(at, x, op.flipped(), l),
            (Term::Lit(x), Term::Lit(y)) => constant_compare(&x, op, &y)
                .map(Pred::Const)
                .ok_or_else(|| self.err(at, "cannot compare constants of different types")),
            (Term::Summary, _) | (_, Term::Summary) => {
                Err(self.err(at, "compare a field of summary, e.g. summary.status"))
            }
            (Term::Operand(_), Term::Operand(_)) => {
                Err(self.err(at, "comparing two fields with each other is not supported"))
            }
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

    fn in_list(&self, a: &IdedExpr, list: &IdedExpr, depth: usize) -> Result<Pred> {
        let Expr::List(items) = &list.expr else {
            return Err(self.err(
                list,
                "`in` needs a list of constants on its right, e.g. x in [\"a\", \"b\"]",
            ));
        };
        let Term::Operand(operand) = self.term(a, depth)? else {
            return Err(self.err(a, "`in` needs a field on its left"));
        };
        let mut pred: Option<Pred> = None;
        for item in &items.elements {
            let Term::Lit(lit) = self.term(item, depth)? else {
                return Err(self.err(item, "list elements must be constants"));
            };
            let eq = self.comparison(item, operand.clone(), CmpOp::Eq, lit)?;
            pred = Some(match pred {
                None => eq,
                Some(p) => Pred::Or(Box::new(p), Box::new(eq)),
            });
        }
        Ok(pred.unwrap_or(Pred::Const(false)))
    }

    fn matches(&self, target: &IdedExpr, arg: &IdedExpr, depth: usize) -> Result<Pred> {
        let operand = match self.term(target, depth)? {
            Term::Operand(o @ (Operand::Text(_) | Operand::Json(_))) => o,
            _ => return Err(self.err(target, "matches() applies to text fields and JSON values")),
        };
        match self.term(arg, depth)? {
            Term::Lit(Lit::Str(s)) => super::regex::Pattern::new(&s)
                .map(|p| Pred::Matches(operand, p))
                .map_err(|why| self.err(arg, format!("matches(): {why}"))),
            _ => Err(self.err(arg, "matches() takes a string constant")),
        }
    }

    /// `list.exists(x, p)` and `list.all(x, p)` over a JSON array.
    fn comprehension(
        &self,
        e: &IdedExpr,
        c: &cel::common::ast::ComprehensionExpr,
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

    fn string_test(
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

/// Whether a term is certainly a string (so that `+` joins rather than adds).
fn stringy(term: &Term) -> bool {
    matches!(
        term,
        Term::Lit(Lit::Str(_)) | Term::Operand(Operand::Text(_) | Operand::Concat(_))
    )
}

/// JSON keys are bound as parameters; SQLite's JSON paths cannot quote `"` or `\`.
fn check_keys(checker: &Checker<'_>, at: &IdedExpr, path: &JsonPath) -> Result<()> {
    for step in &path.steps {
        if let Step::Key(key) = step {
            if key.is_empty() || key.contains(['"', '\\', '\0']) {
                return Err(checker.err(at, format!("JSON key {key:?} is empty or contains a quote, backslash or NUL, which cannot be filtered on")));
            }
        }
    }
    Ok(())
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

/// RFC 3339 to Unix nanoseconds.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
}

/// CEL/Go durations: optional sign, then number+unit pairs (h, m, s, ms, us, µs, ns).
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, nanos) = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("ms", 1e6),
            ("h", 3.6e12),
            ("m", 6e10),
            ("s", 1e9),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total += number * nanos;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(source: &str, env: Environment) -> String {
        check(source, env).expect_err(source).to_string()
    }

    #[test]
    fn rejects_with_helpful_messages() {
        let r = Environment::Records;
        let s = Environment::Results;
        for (source, env, needle) in [
            ("", r, "not valid CEL"),
            ("((", r, "not valid CEL"),
            ("1 +", r, "not valid CEL"),
            ("a == 'x' &&", r, "not valid CEL"),
            ("nope == 'x'", r, "unknown identifier `nope`"),
            (
                "annotations.x == 'y'",
                r,
                "unknown identifier `annotations`",
            ),
            ("data_type == 'x'", s, "unknown identifier `data_type`"),
            ("parent", r, "must be a boolean"),
            ("'x'", r, "must be a boolean"),
            (
                "parent == 1",
                r,
                "cannot compare a string field with an integer",
            ),
            ("create_time > '2024-01-01'", r, "use timestamp"),
            (
                "summary.status == 'SUCCESS'",
                s,
                "cannot compare summary.status",
            ),
            ("summary.nope == 1", s, "summary has no field `nope`"),
            ("summary == 1", s, "compare a field of summary"),
            ("parent == name", r, "two fields"),
            ("data.x < true", r, "only == and != apply"),
            ("data.x.matches('\\\\d')", r, "\\d, \\w"),
            ("data.x.matches('(')", r, "invalid regular expression"),
            ("create_time.matches('a')", r, "matches() applies"),
            ("size(data.x) > 'a'", r, "cannot compare size()"),
            ("size(create_time) > 1", r, "size() applies to"),
            (
                "data.items.exists_one(i, i == 1)",
                r,
                "only exists() and all()",
            ),
            ("data.items.map(i, i)", r, "only exists() and all()"),
            ("data.a.exists(i, i.b.exists(j, j == 1))", r, "nested"),
            ("parent.exists(i, i == 1)", r, "apply to JSON lists"),
            ("data.x + 1 == 'a'", r, "cannot compare arithmetic"),
            ("name + 1 == 2", r, "+ joins strings"),
            (
                "create_time * 2 == 2",
                r,
                "arithmetic applies to JSON numbers",
            ),
            ("data.x % 2 == 1", r, "only supported between constants"),
            ("foo(parent)", r, "unsupported function or operator `foo`"),
            (
                "timestamp('yesterday') < create_time",
                r,
                "not an RFC 3339 time",
            ),
            ("duration('soon') == duration('1s')", r, "not a duration"),
            ("data.items[-1] == 1", r, "out of range"),
            ("data[\"a\\\"b\"] == 1", r, "quote, backslash or NUL"),
            ("parent in name", r, "needs a list"),
            ("parent in ['a', 1]", r, "cannot compare"),
            ("data.x > duration('1h')", r, "duration() is not supported"),
            ("name.startsWith(1)", r, "must be a string constant"),
            ("create_time.startsWith('a')", r, "string functions apply"),
            ("has(summary.record)", s, "has() is supported on paths"),
        ] {
            let message = err(source, env);
            assert!(
                message.contains(needle),
                "{source:?}: {message:?} lacks {needle:?}"
            );
        }
        assert!(
            err("data.x == 1 && nope", r).contains("at offset 15"),
            "{}",
            err("data.x == 1 && nope", r)
        );
        for deep in [
            format!("{}true{}", "!(".repeat(2000), ")".repeat(2000)),
            format!("data{} == 1", "[0]".repeat(2000)),
            format!("{}1{} == 1", "[".repeat(2000), "]".repeat(2000)),
        ] {
            let message = err(&deep, r);
            assert!(
                message.contains("deeper than") || message.contains("not valid CEL"),
                "{message}"
            );
        }
        assert!(
            check(&format!("{}true{}", "!(".repeat(20), ")".repeat(20)), r).is_ok(),
            "realistic nesting is fine"
        );
        assert!(err(&"a".repeat(9000), r).contains("at most 8192"));
    }

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
        assert_eq!(
            check("parent in []", Environment::Records).unwrap(),
            Pred::Const(false)
        );
        assert_eq!(
            check("1 < 2", Environment::Records).unwrap(),
            Pred::Const(true)
        );
    }

    #[test]
    fn timestamps_against_kubernetes_strings() {
        use super::super::ir::{is_k8s_time, TimeTest};
        assert!(is_k8s_time("2024-01-02T03:04:05Z"));
        for bad in [
            "2024-01-02T03:04:05.1Z",
            "2024-01-02 03:04:05Z",
            "2024-01-02T03:04:05+00:00",
            "",
            "x",
        ] {
            assert!(!is_k8s_time(bad), "{bad}");
        }
        let t = parse_timestamp("2024-01-02T03:04:05Z").unwrap();
        let s = "2024-01-02T03:04:05Z".to_string();
        assert_eq!(
            TimeTest::new(CmpOp::Ge, t),
            TimeTest::Cmp(CmpOp::Ge, s.clone())
        );
        // 03:04:05.5: a whole-second value is never equal, and >= means > 03:04:05.
        let half = t + 500_000_000;
        assert_eq!(TimeTest::new(CmpOp::Eq, half), TimeTest::Const(false));
        assert_eq!(TimeTest::new(CmpOp::Ne, half), TimeTest::Const(true));
        assert_eq!(
            TimeTest::new(CmpOp::Ge, half),
            TimeTest::Cmp(CmpOp::Gt, s.clone())
        );
        assert_eq!(
            TimeTest::new(CmpOp::Lt, half),
            TimeTest::Cmp(CmpOp::Le, s.clone())
        );
        assert_eq!(
            TimeTest::new(CmpOp::Gt, half),
            TimeTest::Cmp(CmpOp::Gt, s.clone())
        );
        assert_eq!(TimeTest::new(CmpOp::Le, half), TimeTest::Cmp(CmpOp::Le, s));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("-2.5s"), Some(-2_500_000_000));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("1d"), None);
    }
}
