//! The entry point, the checker's state, and the boolean structure of a filter.

use cel::common::ast::{operators as op, Expr, IdedExpr, LiteralValue, SourceInfo};

use super::super::ir::*;
use super::status::StatusInt;
use super::Environment;
use crate::{Error, Result};

/// Deepest expression nesting accepted.
pub(super) const MAX_DEPTH: usize = crate::limits::MAX_FILTER_DEPTH;

/// Parses and checks a filter whose size and bracket nesting
/// [`crate::limits::check_filter_text`] has accepted (`Filter::compile` checks first).
pub(in crate::filter) fn check(source: &str, env: Environment) -> Result<Pred> {
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
#[derive(Clone)]
pub(super) enum Term {
    /// A field, or a value computed from fields.
    Operand(Operand),
    /// A constant.
    Lit(Lit),
    /// `summary` itself, only valid with a field selected.
    Summary,
    /// Integer arithmetic on `summary.status`.
    StatusInt(StatusInt),
}

/// What is known while checking: the environment, the source positions, and the
/// variable of an enclosing `exists`/`all`.
pub(super) struct Checker<'i> {
    /// Which fields exist.
    pub env: Environment,
    /// Where each expression is in the source, for messages.
    pub info: &'i SourceInfo,
    /// The variable of the enclosing `exists`/`all`, bound to the current element.
    pub element: Option<String>,
}

impl Checker<'_> {
    /// An InvalidArgument naming where in the filter the problem is.
    pub(super) fn err(&self, at: &IdedExpr, message: impl std::fmt::Display) -> Error {
        match self.info.offset_for(at.id) {
            Some((start, _)) => invalid(format!("filter: {message} (at offset {start})")),
            None => invalid(format!("filter: {message}")),
        }
    }

    pub(super) fn pred(&self, e: &IdedExpr, depth: usize) -> Result<Pred> {
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
                        Term::StatusInt(_) => {
                            Err(self.err(e, "the filter must be a boolean expression"))
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

    pub(super) fn unsupported_call(&self, e: &IdedExpr, name: &str) -> Error {
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
                self.err(e, format!("operator {shown} is only supported between constants (and timestamp ± duration, and on summary.status)"))
            }
            _ => self.err(e, format!("unsupported function or operator `{shown}`; supported: && || ! == != < <= > >= in, + - * / on numbers, startsWith, endsWith, contains, matches, size, has, exists, all, timestamp, duration, timestamp ± duration, and the getters getFullYear, getMonth, getDate, getDayOfMonth, getDayOfWeek, getHours, getMinutes, getSeconds, getMilliseconds")),
        }
    }
}

/// JSON keys are bound as parameters; SQLite's JSON paths cannot quote `"` or `\`.
pub(super) fn check_keys(checker: &Checker<'_>, at: &IdedExpr, path: &JsonPath) -> Result<()> {
    for step in &path.steps {
        if let Step::Key(key) = step {
            if key.is_empty() || key.contains(['"', '\\', '\0']) {
                return Err(checker.err(at, format!("JSON key {key:?} is empty or contains a quote, backslash or NUL, which cannot be filtered on")));
            }
        }
    }
    Ok(())
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
            (
                "data.items[2147483648] == 1",
                r,
                "list index 2147483648 is out of range; indexes go from 0 to 2147483647",
            ),
            ("data.items[4294967296] == 1", r, "out of range"),
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
        let too_long = crate::filter::Filter::compile(&"a".repeat(9000), r).unwrap_err();
        assert!(
            too_long.to_string().contains("the limit is 8192 bytes"),
            "{too_long}"
        );
    }
}
