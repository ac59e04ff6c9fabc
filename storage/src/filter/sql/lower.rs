//! The walk over the IR: predicates, their connectives and comparisons, written once for
//! every backend; the [`Dialect`] supplies what differs.

use super::super::ir::*;
use super::dialect::{for_backend, Dialect};
use super::text::TextSource;
use crate::connection::Backend;
use crate::filter::indexed::{indexed_prefix, IndexedPaths};
use crate::filter::regex::Pattern;
use crate::fragment::Fragment;

/// The condition for `pred` on `backend`, over the columns of `table`; equalities on
/// `indexed` paths (of `records`) also test their slot, so that its index can answer them.
pub(in crate::filter) fn lower(
    pred: &Pred,
    backend: Backend,
    table: &'static str,
    indexed: &IndexedPaths,
) -> Fragment {
    let mut f = Fragment::new();
    let none = IndexedPaths::none();
    let indexed = if table == "records" { indexed } else { &none };
    Lower::new(backend, table, indexed, &mut f).pred(pred);
    f
}

/// The text of the JSON value at `path` (NULL when missing), e.g. for a SELECT list.
pub(in crate::filter) fn json_text(path: &JsonPath, backend: Backend) -> Fragment {
    let mut f = Fragment::new();
    Lower::new(backend, "records", &IndexedPaths::none(), &mut f).json_text(path);
    f
}

/// The SQL being written, with what the lowering needs to know at this point.
pub(super) struct Lower<'a> {
    dialect: &'static dyn Dialect,
    /// Columns are qualified with it: inside `exists()` SQLite's `json_each` has columns
    /// of its own (`parent`, `id`, …) that would otherwise shadow ours.
    table: &'static str,
    /// Paths of `records.data` with an index (none for other tables).
    indexed: &'a IndexedPaths,
    /// The output.
    pub f: &'a mut Fragment,
    /// No `NOT` above this point: unknown and false mean the same (no match), so an extra
    /// necessary condition may be added to let an index narrow the rows.
    pub positive: bool,
}

/// Always true, as a condition.
pub(super) const TRUE: &str = "(1 = 1)";
/// Always false, as a condition.
pub(super) const FALSE: &str = "(1 = 0)";

/// The column holding a text field.
pub(super) fn text_column(field: TextField) -> &'static str {
    match field {
        TextField::Parent => "parent",
        TextField::ResultName => "result_name",
        TextField::Name => "name",
        TextField::DataType => "data_type",
        TextField::Uid => "id",
        TextField::SummaryRecord => "summary_record",
        TextField::SummaryType => "summary_type",
    }
}

/// The column holding a time field (Unix nanoseconds).
pub(super) fn time_column(field: TimeField) -> &'static str {
    match field {
        TimeField::CreateTime => "create_time",
        TimeField::UpdateTime => "update_time",
        TimeField::SummaryStartTime => "summary_start_time",
        TimeField::SummaryEndTime => "summary_end_time",
    }
}

/// A comparison operator between spaces.
pub(super) fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => " = ",
        CmpOp::Ne => " <> ",
        CmpOp::Lt => " < ",
        CmpOp::Le => " <= ",
        CmpOp::Gt => " > ",
        CmpOp::Ge => " >= ",
    }
}

impl<'a> Lower<'a> {
    fn new(
        backend: Backend,
        table: &'static str,
        indexed: &'a IndexedPaths,
        f: &'a mut Fragment,
    ) -> Self {
        Lower {
            dialect: for_backend(backend),
            table,
            indexed,
            f,
            positive: true,
        }
    }

    /// The dialect being written.
    pub(super) fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    /// Appends SQL text.
    pub(super) fn sql(&mut self, s: &'static str) -> &mut Self {
        self.f.sql(s);
        self
    }

    /// A column of the listed table (or an element alias, already qualified).
    pub(super) fn col(&mut self, name: &'static str) -> &mut Self {
        if !name.contains('.') {
            self.f.sql(self.table).sql(".");
        }
        self.f.sql(name);
        self
    }

    /// The SQL holding a JSON root.
    pub(super) fn json_column(&self, root: JsonRoot) -> &'static str {
        match root {
            JsonRoot::Data => "data",
            JsonRoot::Annotations => "annotations",
            JsonRoot::SummaryAnnotations => "summary_annotations",
            JsonRoot::Element => self.dialect.words().element,
        }
    }

    /// `(column <op> ?)` for an integer value.
    fn int_column_cmp(&mut self, column: &'static str, op: CmpOp, value: i64) {
        self.sql("(").col(column).sql(op_sql(op));
        self.f.bigint(value);
        self.sql(")");
    }

    /// Writes `pred`, with `positive` as given for what is below it.
    fn nested(&mut self, pred: &Pred, positive: bool) {
        let outer = std::mem::replace(&mut self.positive, positive);
        self.pred(pred);
        self.positive = outer;
    }

    /// `(CASE WHEN <kind of every path> = kind AND … THEN`; close with `END)`.
    pub(super) fn kinds_are(&mut self, paths: &[&JsonPath], kind: &'static str) {
        self.sql("(CASE WHEN ");
        for (i, path) in paths.iter().enumerate() {
            self.sql(if i > 0 { " AND " } else { "" });
            self.kind(path);
            self.sql(" = ").sql(kind);
        }
        if paths.is_empty() {
            self.sql(TRUE);
        }
        self.sql(" THEN ");
    }

    /// Opens `(CASE WHEN <path is a Kubernetes timestamp string> AND … THEN`.
    fn k8s_times(&mut self, paths: &[JsonPath]) {
        self.sql("(CASE WHEN ");
        for (n, path) in paths.iter().enumerate() {
            self.sql(if n > 0 { " AND " } else { "" });
            self.kind(path);
            self.sql(" = 'string' AND (");
            self.json_text(path);
            self.dialect.regex(self, Pattern::k8s_time());
            self.sql(")");
        }
        self.sql(" THEN ");
    }

    pub(super) fn pred(&mut self, pred: &Pred) {
        match pred {
            Pred::Const(b) => {
                self.sql(if *b { TRUE } else { FALSE });
            }
            Pred::Not(p) => {
                self.sql("(NOT ");
                self.nested(p, false);
                self.sql(")");
            }
            Pred::And(a, b) | Pred::Or(a, b) => {
                self.sql("(");
                self.pred(a);
                self.sql(if matches!(pred, Pred::And(..)) {
                    " AND "
                } else {
                    " OR "
                });
                self.pred(b);
                self.sql(")");
            }
            Pred::Cmp(operand, op, lit) => self.cmp(operand, *op, lit),
            Pred::Str(operand, func, needle) => {
                let guarded = self.string_operand_guard(operand);
                self.string_test(&TextSource::of(operand), *func, needle);
                if guarded {
                    self.sql(" END)");
                }
            }
            Pred::Each { array, all, pred } => {
                self.kinds_are(&[array], "'array'");
                self.sql(if *all {
                    "(NOT EXISTS (SELECT 1 FROM "
                } else {
                    "(EXISTS (SELECT 1 FROM "
                });
                self.dialect.elements(self, array);
                self.sql(" WHERE (");
                // Only true elements count, so unknown and false are alike in here.
                self.nested(pred, true);
                self.sql(if *all {
                    ") IS NOT TRUE)) END)"
                } else {
                    ") IS TRUE)) END)"
                });
            }
            Pred::Status(answers) => {
                // No answer (a status not listed, or no summary) is NULL.
                self.sql("(CASE ").col("summary_status");
                for (status, answer) in answers {
                    self.sql(" WHEN ");
                    self.f.bigint(*status);
                    self.sql(" THEN ").sql(if *answer { TRUE } else { FALSE });
                }
                if answers.is_empty() {
                    self.sql(" WHEN NULL THEN ").sql(FALSE);
                }
                self.sql(" END)");
            }
            Pred::Has(path) => {
                self.sql("(");
                self.kind(path);
                self.sql(" IS NOT NULL)");
            }
            Pred::Matches(operand, pattern) => {
                let guarded = self.string_operand_guard(operand);
                self.sql("(");
                self.text(&TextSource::of(operand));
                self.dialect.regex(self, pattern);
                self.sql(")");
                if guarded {
                    self.sql(" END)");
                }
            }
            Pred::JsonTime(path, op, nanos) => {
                // Unknown unless the value is a string of the exact Kubernetes form.
                self.k8s_times(std::slice::from_ref(path));
                match TimeTest::new(*op, *nanos) {
                    TimeTest::Const(b) => {
                        self.sql(if b { TRUE } else { FALSE });
                    }
                    TimeTest::Cmp(op, text) => {
                        self.text_compare(&TextSource::Json(path), op, &text)
                    }
                }
                self.sql(" END)");
            }
        }
    }

    /// `operand <op> lit`, of the pairs the checker builds.
    fn cmp(&mut self, operand: &Operand, op: CmpOp, lit: &Lit) {
        match (operand, lit) {
            (Operand::Text(_) | Operand::Concat(_), Lit::Str(s)) => {
                let guarded = self.string_operand_guard(operand);
                self.text_compare(&TextSource::of(operand), op, s);
                if guarded {
                    self.sql(" END)");
                }
            }
            (Operand::Time(field), Lit::Time(t)) => {
                self.int_column_cmp(time_column(*field), op, *t)
            }
            (Operand::Status, Lit::Int(i)) => self.int_column_cmp("summary_status", op, *i),
            (Operand::Json(path), Lit::Str(s)) if op == CmpOp::Eq && self.positive => {
                match self.indexed.slot_of(path) {
                    // Where text cannot hold NUL the literal cannot be bound as text; no
                    // stored string equals it anyway (the exact test says so).
                    Some(slot) if self.dialect.text_holds_nul() || !s.contains('\0') => {
                        // The slot holds the value's first characters: equal to the
                        // literal's whenever the value is the literal, so this only
                        // narrows the rows the exact comparison reads (see
                        // `filter::indexed`).
                        self.sql("(");
                        self.dialect.slot_value(self, slot);
                        self.sql(" = ");
                        self.f.text(indexed_prefix(s).to_owned());
                        self.sql(" AND ");
                        self.json_cmp(path, op, lit);
                        self.sql(")");
                    }
                    _ => self.dialect.json_eq(self, path, lit),
                }
            }
            (Operand::Json(path), _) if op == CmpOp::Eq && self.positive => {
                self.dialect.json_eq(self, path, lit)
            }
            (Operand::Json(path), _) => self.json_cmp(path, op, lit),
            (Operand::Int(expr), Lit::Int(i)) => {
                // Every JSON timestamp read must be a string of the Kubernetes form.
                let mut paths = Vec::new();
                expr.json_paths(&mut paths);
                if !paths.is_empty() {
                    self.k8s_times(&paths);
                }
                self.sql("(");
                self.int(expr);
                self.sql(op_sql(op));
                self.f.bigint(*i);
                self.sql(")");
                if !paths.is_empty() {
                    self.sql(" END)");
                }
            }
            (Operand::Num(n), Lit::Int(_) | Lit::Double(_)) => {
                // Unknown unless every JSON value read is a number.
                let mut paths = Vec::new();
                n.paths(&mut paths);
                self.kinds_are(&paths, "'number'");
                self.sql("(");
                self.num(n);
                self.sql(op_sql(op));
                self.f.double(number(lit));
                self.sql(") END)");
            }
            (Operand::Size(inner), Lit::Int(i)) => {
                self.sql("(");
                self.size(inner);
                self.sql(op_sql(op));
                self.f.bigint(*i);
                self.sql(")");
            }
            _ => unreachable!("the checker only builds well-typed comparisons"),
        }
    }
}

/// A numeric literal as a double.
pub(super) fn number(lit: &Lit) -> f64 {
    match lit {
        Lit::Int(i) => *i as f64,
        Lit::Double(d) => *d,
        _ => unreachable!("the checker only compares numbers with numbers"),
    }
}
