//! The typed filter IR: predicates over fields, JSON paths and literals.

/// A three-valued condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pred {
    /// Always true or false.
    Const(bool),
    /// Negation (unknown stays unknown).
    Not(Box<Pred>),
    /// Conjunction.
    And(Box<Pred>, Box<Pred>),
    /// Disjunction.
    Or(Box<Pred>, Box<Pred>),
    /// `operand <op> literal`.
    Cmp(Operand, CmpOp, Lit),
    /// `operand.startsWith(s)` and friends.
    Str(Operand, StrFn, String),
    /// `has(path)`: the JSON path exists.
    Has(JsonPath),
}

/// What a comparison reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A text column (possibly absent, e.g. without summary).
    Text(TextField),
    /// A time column, in Unix nanoseconds (possibly absent).
    Time(TimeField),
    /// `summary.status` (absent without summary).
    Status,
    /// A value inside a JSON column.
    Json(JsonPath),
}

/// Text columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextField {
    Parent,
    ResultName,
    Name,
    DataType,
    Uid,
    SummaryRecord,
    SummaryType,
}

/// Time columns (named after the fields they hold).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeField {
    CreateTime,
    UpdateTime,
    SummaryStartTime,
    SummaryEndTime,
}

/// JSON columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonRoot {
    /// `records.data`.
    Data,
    /// `results.annotations`.
    Annotations,
    /// `results.summary_annotations`.
    SummaryAnnotations,
}

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// An object member.
    Key(String),
    /// An array element (0-based).
    Index(u32),
}

/// A path into a JSON column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath {
    pub root: JsonRoot,
    pub steps: Vec<Step>,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            same => same,
        }
    }

    /// Applies the operator to an ordering.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
}

/// String tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrFn {
    Contains,
    StartsWith,
    EndsWith,
}

/// Literal values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Null,
    /// A timestamp, in Unix nanoseconds.
    Time(i64),
    /// A duration, in nanoseconds.
    Duration(i64),
}
