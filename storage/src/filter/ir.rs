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
    /// `operand.matches(pattern)`: unknown unless the operand is a string.
    Matches(Operand, super::regex::Pattern),
    /// `array.exists(x, pred)` (any element) or `array.all(x, pred)` (every element),
    /// with `pred` reading the element through [`JsonRoot::Element`]. An element counts
    /// only if `pred` is true; unknown unless `array` is a JSON list.
    Each {
        array: JsonPath,
        all: bool,
        pred: Box<Pred>,
    },
    /// `has(path)`: the JSON path exists.
    Has(JsonPath),
    /// A test of `summary.status` given as its answer for each status; unknown for a
    /// status not listed (where the CEL expression fails, e.g. dividing by zero) and
    /// without summary.
    Status(Vec<(i64, bool)>),
    /// A JSON string holding a Kubernetes timestamp (`2024-01-02T03:04:05Z`) compared
    /// with a time (Unix nanoseconds); unknown unless the value has exactly that form.
    JsonTime(JsonPath, CmpOp, i64),
}

/// How a second-precision timestamp string compares with a nanosecond time: as a plain
/// comparison with the canonical string of a whole second, or a constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeTest {
    /// `value <op> canonical`.
    Cmp(CmpOp, String),
    /// Always this answer (for well-formed values).
    Const(bool),
}

/// Length of `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) const K8S_TIME_LEN: usize = 20;

/// [`is_k8s_time`] as a regular expression that PostgreSQL (ARE), MariaDB (PCRE2) and
/// Rust's `regex` (SQLite's `regexp()`) read alike: the form, months 01–12, the days each
/// month can have (29 February in any year), hours 00–23, minutes and seconds 00–59.
pub(crate) const K8S_TIME_REGEX: &str = "^[0-9]{4}-(\
(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31|02-29\
)T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$";

/// Whether `s` is a timestamp in the form Kubernetes writes (`YYYY-MM-DDTHH:MM:SSZ`) of a
/// time that exists (as Go's `time.Parse`, which wrote it, checks): anything else, such as
/// `2026-13-01T00:00:00Z`, is no time, and comparisons with it are unknown.
pub(crate) fn is_k8s_time(s: &str) -> bool {
    let b = s.as_bytes();
    let shaped = b.len() == K8S_TIME_LEN
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return false;
    }
    let two = |at: usize| u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0');
    let (month, day) = (two(5), two(8));
    let days = match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return false,
    };
    (1..=days).contains(&day) && two(11) <= 23 && two(14) <= 59 && two(17) <= 59
}

impl TimeTest {
    /// `value <op> time` for values of whole seconds, as a comparison of canonical strings
    /// (which order like the times they spell).
    pub fn new(op: CmpOp, nanos: i64) -> TimeTest {
        let seconds = nanos.div_euclid(1_000_000_000);
        let whole = nanos.rem_euclid(1_000_000_000) == 0;
        let text = chrono::DateTime::from_timestamp(seconds, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        match (op, whole) {
            (CmpOp::Eq, false) => TimeTest::Const(false),
            (CmpOp::Ne, false) => TimeTest::Const(true),
            // value > 12.5 s ⟺ value > 12 s (values are whole seconds); likewise below.
            (CmpOp::Ge, false) => TimeTest::Cmp(CmpOp::Gt, text),
            (CmpOp::Lt, false) => TimeTest::Cmp(CmpOp::Le, text),
            (op, _) => TimeTest::Cmp(op, text),
        }
    }
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
    /// `size(x)`: characters of a string, elements of a list, keys of a map (a text field
    /// or a JSON value; unknown for other JSON kinds).
    Size(Box<Operand>),
    /// An integer computed from times: a getter (`create_time.getHours()`) or the seconds
    /// between two JSON timestamps. Unknown when a time is absent or malformed.
    Int(super::int::IntExpr),
    /// Seconds between two JSON timestamps; only compared with a duration, which the
    /// checker turns into an [`Operand::Int`] comparison.
    Seconds(super::int::IntExpr),
    /// `a - b` of two JSON values: seconds between timestamps when compared with a
    /// duration, else a number.
    Difference(JsonPath, JsonPath),
    /// Arithmetic on JSON numbers (as doubles); unknown unless every value read is a
    /// number, or when dividing by zero.
    Num(NumExpr),
    /// A time field shifted by a duration (nanoseconds): `create_time + duration("1h")`.
    ShiftedTime(TimeField, i64),
    /// Strings joined with `+`; unknown unless every JSON piece is a string.
    Concat(Vec<Piece>),
}

/// One piece of a string concatenation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(TextField),
    Json(JsonPath),
    Lit(String),
}

/// Arithmetic over JSON numbers and constants.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NumExpr {
    Json(JsonPath),
    Lit(f64),
    Add(Box<NumExpr>, Box<NumExpr>),
    Sub(Box<NumExpr>, Box<NumExpr>),
    Mul(Box<NumExpr>, Box<NumExpr>),
    Div(Box<NumExpr>, Box<NumExpr>),
    Neg(Box<NumExpr>),
}

impl NumExpr {
    /// The JSON values read.
    pub fn paths<'a>(&'a self, out: &mut Vec<&'a JsonPath>) {
        match self {
            NumExpr::Json(p) => {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            NumExpr::Lit(_) => {}
            NumExpr::Add(a, b) | NumExpr::Sub(a, b) | NumExpr::Mul(a, b) | NumExpr::Div(a, b) => {
                a.paths(out);
                b.paths(out);
            }
            NumExpr::Neg(a) => a.paths(out),
        }
    }
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
    /// The current element inside `exists()`/`all()`.
    Element,
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
