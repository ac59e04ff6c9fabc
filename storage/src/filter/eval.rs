//! In-memory evaluation of the IR, with exactly the semantics the SQL lowering has.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::ir::*;
use crate::model::{StoredRecord, StoredResult};

/// True, false, or unknown (`None`).
type Tri = Option<bool>;

/// What a predicate reads from a row.
trait Row {
    fn text(&self, field: TextField) -> Option<&str>;
    fn time(&self, field: TimeField) -> Option<i64>;
    fn status(&self) -> Option<i64>;
    fn json(&self, root: JsonRoot) -> Option<Cow<'_, Value>>;
}

struct RecordRow<'a> {
    record: &'a StoredRecord,
    data: Option<Value>,
}

impl Row for RecordRow<'_> {
    fn text(&self, field: TextField) -> Option<&str> {
        let r = self.record;
        match field {
            TextField::Parent => Some(&r.name.parent),
            TextField::ResultName => Some(&r.name.result),
            TextField::Name => Some(&r.name.record),
            TextField::DataType => Some(&r.data.type_),
            TextField::Uid => Some(&r.uid),
            TextField::SummaryRecord | TextField::SummaryType => None,
        }
    }

    fn time(&self, field: TimeField) -> Option<i64> {
        match field {
            TimeField::CreateTime => Some(self.record.create_time.as_nanos()),
            TimeField::UpdateTime => Some(self.record.update_time.as_nanos()),
            _ => None,
        }
    }

    fn status(&self) -> Option<i64> {
        None
    }

    fn json(&self, root: JsonRoot) -> Option<Cow<'_, Value>> {
        match root {
            JsonRoot::Data => self.data.as_ref().map(Cow::Borrowed),
            _ => None,
        }
    }
}

struct ResultRow<'a>(&'a StoredResult);

fn string_map(map: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

impl Row for ResultRow<'_> {
    fn text(&self, field: TextField) -> Option<&str> {
        let r = self.0;
        match field {
            TextField::Parent => Some(&r.name.parent),
            TextField::Uid => Some(&r.uid),
            TextField::SummaryRecord => r.summary.as_ref().map(|s| s.record.as_str()),
            TextField::SummaryType => r.summary.as_ref().map(|s| s.type_.as_str()),
            TextField::ResultName | TextField::Name | TextField::DataType => None,
        }
    }

    fn time(&self, field: TimeField) -> Option<i64> {
        let r = self.0;
        match field {
            TimeField::CreateTime => Some(r.create_time.as_nanos()),
            TimeField::UpdateTime => Some(r.update_time.as_nanos()),
            TimeField::SummaryStartTime => r.summary.as_ref()?.start_time.map(|t| t.as_nanos()),
            TimeField::SummaryEndTime => r.summary.as_ref()?.end_time.map(|t| t.as_nanos()),
        }
    }

    fn status(&self) -> Option<i64> {
        self.0.summary.as_ref().map(|s| s.status as i64)
    }

    fn json(&self, root: JsonRoot) -> Option<Cow<'_, Value>> {
        match root {
            JsonRoot::Annotations => Some(Cow::Owned(string_map(&self.0.annotations))),
            JsonRoot::SummaryAnnotations => self
                .0
                .summary
                .as_ref()
                .map(|s| Cow::Owned(string_map(&s.annotations))),
            JsonRoot::Data | JsonRoot::Element => None,
        }
    }
}

/// A row seen from inside `exists()`/`all()`: the current element is `JsonRoot::Element`.
struct ElementRow<'a> {
    row: &'a dyn Row,
    element: &'a Value,
}

impl Row for ElementRow<'_> {
    fn text(&self, field: TextField) -> Option<&str> {
        self.row.text(field)
    }

    fn time(&self, field: TimeField) -> Option<i64> {
        self.row.time(field)
    }

    fn status(&self) -> Option<i64> {
        self.row.status()
    }

    fn json(&self, root: JsonRoot) -> Option<Cow<'_, Value>> {
        match root {
            JsonRoot::Element => Some(Cow::Borrowed(self.element)),
            other => self.row.json(other),
        }
    }
}

/// Evaluates `pred` on a Record.
pub(super) fn record(pred: &Pred, record: &StoredRecord) -> Tri {
    let data = if record.data.value.is_empty() {
        None
    } else {
        serde_json::from_slice(&record.data.value).ok()
    };
    eval(pred, &RecordRow { record, data })
}

/// Evaluates `pred` on a Result.
pub(super) fn result(pred: &Pred, result: &StoredResult) -> Tri {
    eval(pred, &ResultRow(result))
}

fn lookup<'v>(mut value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for step in steps {
        value = match (step, value) {
            (Step::Key(k), Value::Object(map)) => map.get(k)?,
            (Step::Index(i), Value::Array(items)) => items.get(*i as usize)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The value of arithmetic on JSON numbers; `None` when a value is not a number or a
/// divisor is zero.
fn number(row: &dyn Row, n: &NumExpr) -> Option<f64> {
    Some(match n {
        NumExpr::Json(path) => {
            let root = row.json(path.root)?;
            match lookup(&root, &path.steps)? {
                Value::Number(x) => x.as_f64()?,
                _ => return None,
            }
        }
        NumExpr::Lit(x) => *x,
        NumExpr::Add(a, b) => number(row, a)? + number(row, b)?,
        NumExpr::Sub(a, b) => number(row, a)? - number(row, b)?,
        NumExpr::Mul(a, b) => number(row, a)? * number(row, b)?,
        NumExpr::Div(a, b) => {
            let (a, b) = (number(row, a)?, number(row, b)?);
            if b == 0.0 {
                return None;
            }
            a / b
        }
        NumExpr::Neg(a) => -number(row, a)?,
    })
}

/// The string an operand holds: a text field, or a JSON value that is a string.
fn string_of<'r>(row: &'r dyn Row, operand: &Operand) -> Option<Cow<'r, str>> {
    match operand {
        Operand::Text(field) => Some(Cow::Borrowed(row.text(*field)?)),
        Operand::Json(path) => {
            let root = row.json(path.root)?;
            match lookup(&root, &path.steps)? {
                Value::String(s) => Some(Cow::Owned(s.clone())),
                _ => None,
            }
        }
        Operand::Concat(pieces) => {
            let mut joined = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(field) => joined.push_str(row.text(*field)?),
                    Piece::Json(path) => {
                        joined.push_str(&string_of(row, &Operand::Json(path.clone()))?)
                    }
                    Piece::Lit(s) => joined.push_str(s),
                }
            }
            Some(Cow::Owned(joined))
        }
        _ => None,
    }
}

fn eval(pred: &Pred, row: &dyn Row) -> Tri {
    match pred {
        Pred::Const(b) => Some(*b),
        Pred::Not(p) => eval(p, row).map(|b| !b),
        Pred::And(a, b) => match (eval(a, row), eval(b, row)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Pred::Or(a, b) => match (eval(a, row), eval(b, row)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Pred::Cmp(operand, op, lit) => compare(row, operand, *op, lit),
        Pred::Str(operand, f, needle) => {
            let text = string_of(row, operand)?;
            Some(match f {
                StrFn::Contains => text.contains(needle.as_str()),
                StrFn::StartsWith => text.starts_with(needle.as_str()),
                StrFn::EndsWith => text.ends_with(needle.as_str()),
            })
        }
        Pred::Matches(operand, pattern) => {
            let text = string_of(row, operand)?;
            Some(pattern.is_match(&text))
        }
        Pred::Each { array, all, pred } => {
            let root = row.json(array.root)?;
            let Value::Array(items) = lookup(&root, &array.steps)? else {
                return None;
            };
            let holds = |element: &Value| eval(pred, &ElementRow { row, element }) == Some(true);
            Some(if *all {
                items.iter().all(holds)
            } else {
                items.iter().any(holds)
            })
        }
        Pred::Status(answers) => {
            let status = row.status()?;
            answers
                .iter()
                .find(|(s, _)| *s == status)
                .map(|(_, answer)| *answer)
        }
        Pred::Has(path) => {
            let root = row.json(path.root);
            Some(root.is_some_and(|root| lookup(&root, &path.steps).is_some()))
        }
        Pred::JsonTime(path, op, nanos) => {
            let root = row.json(path.root)?;
            let Value::String(value) = lookup(&root, &path.steps)? else {
                return None;
            };
            if !is_k8s_time(value) {
                return None;
            }
            Some(match TimeTest::new(*op, *nanos) {
                TimeTest::Const(b) => b,
                TimeTest::Cmp(op, text) => op.holds(value.as_bytes().cmp(text.as_bytes())),
            })
        }
    }
}

fn compare(row: &dyn Row, operand: &Operand, op: CmpOp, lit: &Lit) -> Tri {
    match (operand, lit) {
        (Operand::Text(f), Lit::Str(s)) => {
            Some(op.holds(row.text(*f)?.as_bytes().cmp(s.as_bytes())))
        }
        (Operand::Concat(_), Lit::Str(s)) => {
            Some(op.holds(string_of(row, operand)?.as_bytes().cmp(s.as_bytes())))
        }
        (Operand::Time(f), Lit::Time(t)) => Some(op.holds(row.time(*f)?.cmp(t))),
        (Operand::Status, Lit::Int(i)) => Some(op.holds(row.status()?.cmp(i))),
        (Operand::Int(expr), Lit::Int(i)) => {
            let digits = |path: &JsonPath, start: u8, len: u8| {
                let root = row.json(path.root)?;
                let Value::String(text) = lookup(&root, &path.steps)? else {
                    return None;
                };
                if !is_k8s_time(text) {
                    return None;
                }
                let start = usize::from(start) - 1;
                text.get(start..start + usize::from(len))?.parse().ok()
            };
            Some(op.holds(expr.eval(&|f| row.time(f), &digits)?.cmp(i)))
        }
        (Operand::Num(n), Lit::Int(_) | Lit::Double(_)) => {
            let lit = match lit {
                Lit::Int(i) => *i as f64,
                Lit::Double(d) => *d,
                _ => unreachable!(),
            };
            Some(op.holds(number(row, n)?.partial_cmp(&lit)?))
        }
        (Operand::Size(inner), Lit::Int(i)) => {
            let size = match inner.as_ref() {
                Operand::Text(field) => row.text(*field)?.chars().count(),
                Operand::Json(path) => {
                    let root = row.json(path.root)?;
                    match lookup(&root, &path.steps)? {
                        Value::String(s) => s.chars().count(),
                        Value::Array(items) => items.len(),
                        Value::Object(map) => map.len(),
                        _ => return None,
                    }
                }
                _ => return None,
            };
            Some(op.holds((size as i64).cmp(i)))
        }
        (Operand::Json(path), lit) => {
            let root = row.json(path.root)?;
            let value = lookup(&root, &path.steps)?;
            let ord: Option<Ordering> = match (value, lit) {
                (Value::String(v), Lit::Str(s)) => Some(v.as_bytes().cmp(s.as_bytes())),
                (Value::Number(n), Lit::Int(i)) => n.as_f64()?.partial_cmp(&(*i as f64)),
                (Value::Number(n), Lit::Double(d)) => n.as_f64()?.partial_cmp(d),
                (Value::Bool(v), Lit::Bool(b)) => Some(v.cmp(b)),
                (Value::Null, Lit::Null) => Some(Ordering::Equal),
                _ => None,
            };
            match (ord, op) {
                (Some(ord), op) => Some(op.holds(ord)),
                // Equality across JSON types is false; ordering across types is unknown.
                (None, CmpOp::Eq) => Some(false),
                (None, CmpOp::Ne) => Some(true),
                (None, _) => None,
            }
        }
        _ => None,
    }
}
