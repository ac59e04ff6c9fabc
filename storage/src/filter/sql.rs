//! Lowering the IR to SQL for each backend. SQL text comes only from this file's
//! constants; every value, JSON key and path is a bound parameter.
//!
//! JSON values are read through three per-dialect helpers: the *kind* of the value at a
//! path ('string', 'number', 'boolean', 'null', 'object', 'array', or NULL when missing),
//! its text, and its number. Comparisons test the kind first, so that the SQL answer is
//! exactly the in-memory one (see `eval.rs`).

use super::int::IntExpr;
use super::ir::*;
use crate::connection::Backend;
use crate::fragment::Fragment;

/// The condition for `pred` on `backend`, over the columns of `table`.
pub(super) fn lower(pred: &Pred, backend: Backend, table: &'static str) -> Fragment {
    let mut f = Fragment::new();
    Lower {
        backend,
        table,
        f: &mut f,
        positive: true,
    }
    .pred(pred);
    f
}

/// The text of the JSON value at `path` (NULL when missing), e.g. for a SELECT list.
pub(super) fn json_text(path: &JsonPath, backend: Backend) -> Fragment {
    let mut f = Fragment::new();
    Lower {
        backend,
        table: "records",
        f: &mut f,
        positive: true,
    }
    .json_text(path);
    f
}

struct Lower<'a> {
    backend: Backend,
    /// Columns are qualified with it: inside `exists()` SQLite's `json_each` has columns
    /// of its own (`parent`, `id`, …) that would otherwise shadow ours.
    table: &'static str,
    f: &'a mut Fragment,
    /// No `NOT` above this point: unknown and false mean the same (no match), so an extra
    /// necessary condition may be added to let an index narrow the rows.
    positive: bool,
}

const TRUE: &str = "(1 = 1)";
const FALSE: &str = "(1 = 0)";

fn text_column(field: TextField) -> &'static str {
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

fn time_column(field: TimeField) -> &'static str {
    match field {
        TimeField::CreateTime => "create_time",
        TimeField::UpdateTime => "update_time",
        TimeField::SummaryStartTime => "summary_start_time",
        TimeField::SummaryEndTime => "summary_end_time",
    }
}

/// The SQL holding a JSON root. Inside `exists()`/`all()` the element is `el.value` on
/// PostgreSQL (`jsonb_array_elements`) and `jt.e` on MySQL (`JSON_TABLE`); on SQLite it
/// is addressed through `data` and the element's full path (see `path_call`).
fn json_column(root: JsonRoot, backend: Backend) -> &'static str {
    match (root, backend) {
        (JsonRoot::Data, _) | (JsonRoot::Element, Backend::Sqlite) => "data",
        (JsonRoot::Annotations, _) => "annotations",
        (JsonRoot::SummaryAnnotations, _) => "summary_annotations",
        (JsonRoot::Element, Backend::Postgres) => "el.value",
        (JsonRoot::Element, Backend::Mysql) => "jt.e",
    }
}

fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => " = ",
        CmpOp::Ne => " <> ",
        CmpOp::Lt => " < ",
        CmpOp::Le => " <= ",
        CmpOp::Gt => " > ",
        CmpOp::Ge => " >= ",
    }
}

/// A JSON path for SQLite's and MySQL's JSON functions: `$."key"[0]`. Keys never hold
/// `"` or `\` (the checker refuses them), so quoting them is enough.
fn path_text(steps: &[Step]) -> String {
    let mut path = String::from("$");
    for step in steps {
        match step {
            Step::Key(k) => {
                path.push_str(".\"");
                path.push_str(k);
                path.push('"');
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// A text operand: a column, or the text of a JSON string value.
enum TextSource<'p> {
    Column(&'static str),
    Json(&'p JsonPath),
    Concat(&'p [Piece]),
}

impl Lower<'_> {
    fn sql(&mut self, s: &'static str) -> &mut Self {
        self.f.sql(s);
        self
    }

    /// A column of the listed table (or an element alias, already qualified).
    fn col(&mut self, name: &'static str) -> &mut Self {
        if !name.contains('.') {
            self.f.sql(self.table).sql(".");
        }
        self.f.sql(name);
        self
    }

    fn pred(&mut self, pred: &Pred) {
        match pred {
            Pred::Const(true) => {
                self.sql(TRUE);
            }
            Pred::Const(false) => {
                self.sql(FALSE);
            }
            Pred::Not(p) => {
                let positive = std::mem::replace(&mut self.positive, false);
                self.sql("(NOT ");
                self.pred(p);
                self.sql(")");
                self.positive = positive;
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
            Pred::Cmp(Operand::Text(field), op, Lit::Str(s)) => {
                self.text_cmp(TextSource::Column(text_column(*field)), *op, s)
            }
            Pred::Cmp(Operand::Time(field), op, Lit::Time(t)) => {
                self.sql("(").col(time_column(*field)).sql(op_sql(*op));
                self.f.bigint(*t);
                self.sql(")");
            }
            Pred::Cmp(Operand::Status, op, Lit::Int(i)) => {
                self.sql("(").col("summary_status").sql(op_sql(*op));
                self.f.bigint(*i);
                self.sql(")");
            }
            Pred::Cmp(Operand::Json(path), CmpOp::Eq, lit)
                if self.positive
                    && self.backend == Backend::Postgres
                    && matches!(path.root, JsonRoot::Data | JsonRoot::Annotations)
                    // PostgreSQL text cannot carry NUL; the exact test alone answers that.
                    && !matches!(lit, Lit::Str(s) if s.contains('\0')) =>
            {
                // `data @> {…}` holds whenever the equality does, and a GIN index answers it.
                let column = json_column(path.root, self.backend);
                self.sql("(").col(column).sql(" @> ");
                self.pg_containment(&path.steps, lit);
                self.sql(" AND ");
                self.json_cmp(path, CmpOp::Eq, lit);
                self.sql(")");
            }
            Pred::Cmp(Operand::Json(path), op, lit) => self.json_cmp(path, *op, lit),
            Pred::Cmp(Operand::Int(expr), op, Lit::Int(i)) => {
                // Every JSON timestamp read must be a string of the Kubernetes form.
                let mut paths = Vec::new();
                expr.json_paths(&mut paths);
                if !paths.is_empty() {
                    self.sql("(CASE WHEN ");
                    for (n, path) in paths.iter().enumerate() {
                        self.sql(if n > 0 { " AND " } else { "" });
                        self.kind(path);
                        self.sql(" = 'string' AND ");
                        self.k8s_time_shape(path);
                    }
                    self.sql(" THEN ");
                }
                self.sql("(");
                self.int(expr);
                self.sql(op_sql(*op));
                self.f.bigint(*i);
                self.sql(")");
                if !paths.is_empty() {
                    self.sql(" END)");
                }
            }
            Pred::Cmp(Operand::Num(n), op, lit @ (Lit::Int(_) | Lit::Double(_))) => {
                let value = match lit {
                    Lit::Int(i) => *i as f64,
                    Lit::Double(d) => *d,
                    _ => unreachable!(),
                };
                // Unknown unless every JSON value read is a number.
                let mut paths = Vec::new();
                n.paths(&mut paths);
                self.sql("(CASE WHEN ");
                for (i, path) in paths.iter().enumerate() {
                    self.sql(if i > 0 { " AND " } else { "" });
                    self.kind(path);
                    self.sql(" = 'number'");
                }
                if paths.is_empty() {
                    self.sql(TRUE);
                }
                self.sql(" THEN (");
                self.num(n);
                self.sql(op_sql(*op));
                self.f.double(value);
                self.sql(") END)");
            }
            Pred::Cmp(Operand::Size(inner), op, Lit::Int(i)) => {
                self.sql("(");
                self.size(inner);
                self.sql(op_sql(*op));
                self.f.bigint(*i);
                self.sql(")");
            }
            Pred::Cmp(Operand::Concat(pieces), op, Lit::Str(s)) => {
                let guarded = self.string_guards(pieces);
                self.text_compare(&TextSource::Concat(pieces), *op, s);
                if guarded {
                    self.sql(" END)");
                }
            }
            Pred::Cmp(..) => unreachable!("the checker only builds well-typed comparisons"),
            Pred::Str(Operand::Concat(pieces), func, needle) => {
                let guarded = self.string_guards(pieces);
                self.string_test(&TextSource::Concat(pieces), *func, needle);
                if guarded {
                    self.sql(" END)");
                }
            }
            Pred::Str(operand, func, needle) => match operand {
                Operand::Text(field) => {
                    self.string_test(&TextSource::Column(text_column(*field)), *func, needle)
                }
                Operand::Json(path) => {
                    self.sql("(CASE WHEN ");
                    self.kind(path);
                    self.sql(" = 'string' THEN ");
                    self.string_test(&TextSource::Json(path), *func, needle);
                    self.sql(" END)");
                }
                _ => unreachable!("the checker only applies string tests to text"),
            },
            Pred::Each { array, all, pred } => {
                self.sql("(CASE WHEN ");
                self.kind(array);
                self.sql(" = 'array' THEN ").sql(if *all {
                    "(NOT EXISTS (SELECT 1 FROM "
                } else {
                    "(EXISTS (SELECT 1 FROM "
                });
                match self.backend {
                    Backend::Postgres => {
                        self.sql("jsonb_array_elements(");
                        self.pg_value(array);
                        self.sql(") AS el(value)");
                    }
                    Backend::Sqlite => self.path_call("json_each(", array, ") AS el"),
                    Backend::Mysql => self.path_call(
                        "JSON_TABLE(JSON_EXTRACT(",
                        array,
                        "), '$[*]' COLUMNS (e JSON PATH '$')) AS jt",
                    ),
                }
                self.sql(" WHERE (");
                // Only true elements count, so unknown and false are alike in here.
                let positive = std::mem::replace(&mut self.positive, true);
                self.pred(pred);
                self.positive = positive;
                self.sql(if *all {
                    ") IS NOT TRUE)) END)"
                } else {
                    ") IS TRUE)) END)"
                });
            }
            Pred::Has(path) => {
                self.sql("(");
                self.kind(path);
                self.sql(" IS NOT NULL)");
            }
            Pred::Matches(operand, pattern) => {
                let source = match operand {
                    Operand::Text(field) => TextSource::Column(text_column(*field)),
                    Operand::Json(path) => TextSource::Json(path),
                    _ => unreachable!("the checker only matches text"),
                };
                if let TextSource::Json(path) = &source {
                    self.sql("(CASE WHEN ");
                    self.kind(path);
                    self.sql(" = 'string' THEN ");
                }
                self.sql("(");
                self.text(&source);
                let bound = match self.backend {
                    Backend::Postgres => {
                        self.sql(" ~ ");
                        pattern.source.clone()
                    }
                    // SQLite calls the `regexp()` function every connection registers.
                    Backend::Sqlite => {
                        self.sql(" REGEXP ");
                        pattern.rust.clone()
                    }
                    Backend::Mysql => {
                        self.sql(" REGEXP ");
                        pattern.pcre.clone()
                    }
                };
                self.f.text(bound);
                self.sql(")");
                if matches!(source, TextSource::Json(_)) {
                    self.sql(" END)");
                }
            }
            Pred::JsonTime(path, op, nanos) => {
                // Unknown unless the value is a string of the exact Kubernetes form.
                self.sql("(CASE WHEN ");
                self.kind(path);
                self.sql(" = 'string' AND ");
                self.k8s_time_shape(path);
                self.sql(" THEN ");
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

    /// `jsonb` value at `path` (PostgreSQL only): `data -> 'a' -> 0`.
    fn pg_value(&mut self, path: &JsonPath) {
        let column = json_column(path.root, self.backend);
        self.sql("(").col(column);
        for step in &path.steps {
            match step {
                Step::Key(k) => {
                    self.sql(" -> ");
                    self.f.text(k.clone());
                }
                Step::Index(i) => {
                    self.sql(" -> CAST(");
                    self.f.bigint(i64::from(*i));
                    self.sql(" AS integer)");
                }
            }
        }
        self.sql(")");
    }

    /// A jsonb document that contains `lit` at `steps` (an index step becomes a
    /// one-element array, which containment matches against any element).
    fn pg_containment(&mut self, steps: &[Step], lit: &Lit) {
        let Some((first, rest)) = steps.split_first() else {
            return self.pg_jsonb_literal(lit);
        };
        match first {
            Step::Key(key) => {
                self.sql("jsonb_build_object(CAST(");
                self.f.text(key.clone());
                self.sql(" AS text), ");
                self.pg_containment(rest, lit);
                self.sql(")");
            }
            Step::Index(_) => {
                self.sql("jsonb_build_array(");
                self.pg_containment(rest, lit);
                self.sql(")");
            }
        }
    }

    fn pg_jsonb_literal(&mut self, lit: &Lit) {
        match lit {
            Lit::Str(s) => {
                self.sql("to_jsonb(CAST(");
                self.f.text(s.clone());
                self.sql(" AS text))");
            }
            Lit::Int(_) | Lit::Double(_) => {
                let n = match lit {
                    Lit::Int(i) => *i as f64,
                    Lit::Double(d) => *d,
                    _ => unreachable!(),
                };
                self.sql("to_jsonb(CAST(");
                self.f.double(n);
                self.sql(" AS numeric))");
            }
            Lit::Bool(true) => {
                self.sql("'true'::jsonb");
            }
            Lit::Bool(false) => {
                self.sql("'false'::jsonb");
            }
            Lit::Null => {
                self.sql("'null'::jsonb");
            }
            Lit::Time(_) | Lit::Duration(_) => unreachable!("the checker refuses these"),
        }
    }

    /// `json_fn(column, path)` for SQLite and MySQL.
    fn path_call(&mut self, open: &'static str, path: &JsonPath, close: &'static str) {
        let column = json_column(path.root, self.backend);
        self.sql(open).col(column).sql(", ");
        if path.root == JsonRoot::Element && self.backend == Backend::Sqlite {
            // The element's own path in `data`, then the steps below it.
            self.sql("el.fullkey || ");
            self.f.text(path_text(&path.steps)[1..].to_owned());
        } else {
            self.f.text(path_text(&path.steps));
        }
        self.sql(close);
    }

    /// The kind of the JSON value at `path`, NULL when missing.
    fn kind(&mut self, path: &JsonPath) {
        match self.backend {
            Backend::Postgres => {
                self.sql("jsonb_typeof(");
                self.pg_value(path);
                self.sql(")");
            }
            Backend::Sqlite => {
                self.path_call("(CASE json_type(", path, ") WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' \
                     WHEN 'real' THEN 'number' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE ");
                self.path_call("json_type(", path, ") END)");
            }
            Backend::Mysql => self.path_call(
                "(CASE JSON_TYPE(JSON_EXTRACT(",
                path,
                ")) WHEN 'STRING' THEN 'string' WHEN 'INTEGER' THEN 'number' WHEN 'UNSIGNED INTEGER' THEN 'number' \
                 WHEN 'DOUBLE' THEN 'number' WHEN 'DECIMAL' THEN 'number' WHEN 'BOOLEAN' THEN 'boolean' \
                 WHEN 'NULL' THEN 'null' WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' END)",
            ),
        }
    }

    /// The text of the JSON string (or the spelling of the boolean) at `path`.
    fn json_text(&mut self, path: &JsonPath) {
        match self.backend {
            Backend::Postgres => {
                self.sql("(");
                self.pg_value(path);
                self.sql(" #>> '{}')");
            }
            Backend::Sqlite => self.path_call("json_extract(", path, ")"),
            Backend::Mysql => self.path_call("JSON_UNQUOTE(JSON_EXTRACT(", path, "))"),
        }
    }

    /// The spelling `true`/`false` of the JSON boolean at `path`.
    fn json_bool(&mut self, path: &JsonPath) {
        match self.backend {
            Backend::Sqlite => self.path_call("json_type(", path, ")"),
            _ => self.json_text(path),
        }
    }

    /// Floating-point arithmetic over JSON numbers; division by zero is NULL.
    fn num(&mut self, n: &NumExpr) {
        let binary = |me: &mut Self, a: &NumExpr, op: &'static str, b: &NumExpr| {
            me.sql("(");
            me.num(a);
            me.sql(op);
            me.num(b);
            me.sql(")");
        };
        match n {
            NumExpr::Json(path) => {
                if self.backend == Backend::Sqlite {
                    // SQLite would divide integers as integers.
                    self.sql("CAST(");
                    self.json_number(path);
                    self.sql(" AS REAL)");
                } else {
                    self.json_number(path);
                }
            }
            NumExpr::Lit(x) => {
                self.sql(match self.backend {
                    Backend::Postgres => "CAST(",
                    Backend::Sqlite => "CAST(",
                    Backend::Mysql => "(",
                });
                self.f.double(*x);
                self.sql(match self.backend {
                    Backend::Postgres => " AS double precision)",
                    Backend::Sqlite => " AS REAL)",
                    Backend::Mysql => " + 0e0)",
                });
            }
            NumExpr::Add(a, b) => binary(self, a, " + ", b),
            NumExpr::Sub(a, b) => binary(self, a, " - ", b),
            NumExpr::Mul(a, b) => binary(self, a, " * ", b),
            NumExpr::Div(a, b) => {
                self.sql("(");
                self.num(a);
                self.sql(" / NULLIF(");
                self.num(b);
                self.sql(", 0))");
            }
            NumExpr::Neg(a) => {
                self.sql("(- ");
                self.num(a);
                self.sql(")");
            }
        }
    }

    /// Integer arithmetic (truncating division, as in Rust).
    fn int(&mut self, expr: &IntExpr) {
        let binary = |me: &mut Self, a: &IntExpr, op: &'static str, b: &IntExpr| {
            me.sql("(");
            me.int(a);
            me.sql(op);
            me.int(b);
            me.sql(")");
        };
        match expr {
            IntExpr::Nanos(field) => {
                self.col(time_column(*field));
            }
            IntExpr::Digits(path, start, len) => {
                let (open, cast) = match self.backend {
                    Backend::Postgres => ("CAST(substr(", " AS bigint)"),
                    Backend::Sqlite => ("CAST(substr(", " AS INTEGER)"),
                    Backend::Mysql => ("CAST(SUBSTRING(", " AS SIGNED)"),
                };
                // Positions are code constants; PostgreSQL's substr takes integers.
                let (start, len): (&'static str, &'static str) = match (start, len) {
                    (1, 4) => ("1", "4"),
                    (6, 2) => ("6", "2"),
                    (9, 2) => ("9", "2"),
                    (12, 2) => ("12", "2"),
                    (15, 2) => ("15", "2"),
                    (18, 2) => ("18", "2"),
                    _ => unreachable!("only the fields of YYYY-MM-DDTHH:MM:SSZ are read"),
                };
                self.sql(open);
                self.json_text(path);
                self.sql(", ")
                    .sql(start)
                    .sql(", ")
                    .sql(len)
                    .sql(")")
                    .sql(cast);
            }
            IntExpr::Lit(v) => {
                // Typed, so that PostgreSQL does integer (not numeric) arithmetic.
                self.sql("CAST(");
                self.f.bigint(*v);
                self.sql(if self.backend == Backend::Mysql {
                    " AS SIGNED)"
                } else {
                    " AS bigint)"
                });
            }
            IntExpr::Add(a, b) => binary(self, a, " + ", b),
            IntExpr::Sub(a, b) => binary(self, a, " - ", b),
            IntExpr::Mul(a, b) => binary(self, a, " * ", b),
            IntExpr::Div(a, b) => binary(
                self,
                a,
                if self.backend == Backend::Mysql {
                    " DIV "
                } else {
                    " / "
                },
                b,
            ),
            IntExpr::Rem(a, b) => binary(self, a, " % ", b),
            IntExpr::IfLe(a, b, then, otherwise) => {
                self.sql("(CASE WHEN ");
                self.int(a);
                self.sql(" <= ");
                self.int(b);
                self.sql(" THEN ");
                self.int(then);
                self.sql(" ELSE ");
                self.int(otherwise);
                self.sql(" END)");
            }
        }
    }

    /// `size()` of a text column or JSON value (NULL for other JSON kinds or missing).
    fn size(&mut self, operand: &Operand) {
        let length = match self.backend {
            Backend::Postgres => "char_length(",
            Backend::Sqlite => "length(",
            Backend::Mysql => "CHAR_LENGTH(",
        };
        let path = match operand {
            Operand::Text(field) => {
                self.sql(length).col(text_column(*field)).sql(")");
                return;
            }
            Operand::Json(path) => path,
            _ => unreachable!("the checker only sizes text and JSON"),
        };
        self.sql("(CASE ");
        self.kind(path);
        self.sql(" WHEN 'string' THEN ").sql(length);
        self.json_text(path);
        self.sql(") WHEN 'array' THEN ");
        match self.backend {
            Backend::Postgres => {
                self.sql("jsonb_array_length(");
                self.pg_value(path);
                self.sql(") WHEN 'object' THEN (SELECT count(*) FROM jsonb_object_keys(");
                self.pg_value(path);
                self.sql("))");
            }
            Backend::Sqlite => {
                self.path_call("json_array_length(", path, ")");
                self.sql(" WHEN 'object' THEN ");
                self.path_call("(SELECT count(*) FROM json_each(", path, "))");
            }
            Backend::Mysql => {
                self.path_call("JSON_LENGTH(", path, ")");
                self.sql(" WHEN 'object' THEN ");
                self.path_call("JSON_LENGTH(", path, ")");
            }
        }
        self.sql(" END)");
    }

    /// Whether the JSON string at `path` reads `YYYY-MM-DDTHH:MM:SSZ`.
    fn k8s_time_shape(&mut self, path: &JsonPath) {
        match self.backend {
            Backend::Postgres => {
                self.sql("(");
                self.json_text(path);
                self.sql(" ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$')");
            }
            Backend::Sqlite => {
                self.sql("(");
                self.json_text(path);
                self.sql(" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z')");
            }
            Backend::Mysql => {
                self.sql("(CAST(");
                self.json_text(path);
                self.sql(" AS BINARY) REGEXP '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$')");
            }
        }
    }

    /// The JSON number at `path` as a double.
    fn json_number(&mut self, path: &JsonPath) {
        match self.backend {
            Backend::Postgres => {
                self.sql("CAST(");
                self.pg_value(path);
                self.sql(" #>> '{}' AS double precision)");
            }
            Backend::Sqlite => self.path_call("json_extract(", path, ")"),
            Backend::Mysql => self.path_call("(JSON_EXTRACT(", path, ") + 0e0)"),
        }
    }

    fn text(&mut self, source: &TextSource<'_>) {
        match source {
            TextSource::Column(c) => {
                self.col(c);
            }
            TextSource::Json(path) => self.json_text(path),
            TextSource::Concat(pieces) => {
                self.sql(if self.backend == Backend::Mysql {
                    "CONCAT("
                } else {
                    "("
                });
                for (i, piece) in pieces.iter().enumerate() {
                    if i > 0 {
                        self.sql(if self.backend == Backend::Mysql {
                            ", "
                        } else {
                            " || "
                        });
                    }
                    match piece {
                        Piece::Text(field) => {
                            self.col(text_column(*field));
                        }
                        Piece::Json(path) => self.json_text(path),
                        Piece::Lit(s) => {
                            self.sql("CAST(");
                            self.f.text(s.clone());
                            self.sql(if self.backend == Backend::Mysql {
                                " AS CHAR)"
                            } else {
                                " AS text)"
                            });
                        }
                    }
                }
                self.sql(")");
            }
        }
    }

    /// `CASE WHEN` every JSON piece is a string `THEN …`: opens the guard, returns whether
    /// one was opened (close it with `END)`).
    fn string_guards(&mut self, pieces: &[Piece]) -> bool {
        let paths: Vec<&JsonPath> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Json(path) => Some(path),
                _ => None,
            })
            .collect();
        if paths.is_empty() {
            return false;
        }
        self.sql("(CASE WHEN ");
        for (i, path) in paths.into_iter().enumerate() {
            self.sql(if i > 0 { " AND " } else { "" });
            self.kind(path);
            self.sql(" = 'string'");
        }
        self.sql(" THEN ");
        true
    }

    /// `text <op> s`, comparing code points on every backend.
    fn text_compare(&mut self, source: &TextSource<'_>, op: CmpOp, s: &str) {
        let postgres = self.backend == Backend::Postgres;
        // PostgreSQL text cannot hold NUL: no stored value equals or contains such a
        // literal, and ordering against it equals ordering against its prefix.
        if postgres && s.contains('\0') {
            let prefix = &s[..s.find('\0').unwrap_or(s.len())];
            let (op, bound) = match op {
                CmpOp::Eq | CmpOp::Ne => {
                    self.sql("(CASE WHEN ");
                    self.text(source);
                    self.sql(" IS NULL THEN NULL ELSE ")
                        .sql(if op == CmpOp::Eq { FALSE } else { TRUE })
                        .sql(" END)");
                    return;
                }
                CmpOp::Lt | CmpOp::Le => (CmpOp::Le, prefix),
                CmpOp::Gt | CmpOp::Ge => (CmpOp::Gt, prefix),
            };
            return self.text_compare(source, op, bound);
        }
        if self.backend == Backend::Mysql {
            // MySQL/MariaDB text collations pad with spaces ('a' = 'a '); bytes do not.
            self.sql("(CAST(");
            self.text(source);
            self.sql(" AS BINARY)").sql(op_sql(op)).sql("CAST(");
            self.f.text(s.to_owned());
            self.sql(" AS BINARY))");
            return;
        }
        self.sql("(");
        self.text(source);
        if postgres && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            self.sql(" COLLATE \"C\"");
        }
        self.sql(op_sql(op));
        self.f.text(s.to_owned());
        self.sql(")");
    }

    fn text_cmp(&mut self, source: TextSource<'_>, op: CmpOp, s: &str) {
        self.text_compare(&source, op, s);
    }

    fn json_cmp(&mut self, path: &JsonPath, op: CmpOp, lit: &Lit) {
        let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        let kind: &'static str = match lit {
            Lit::Str(_) => "'string'",
            Lit::Int(_) | Lit::Double(_) => "'number'",
            Lit::Bool(_) => "'boolean'",
            Lit::Null => "'null'",
            Lit::Time(_) | Lit::Duration(_) => unreachable!("the checker refuses these"),
        };
        if ordering {
            // Unknown (NULL) unless the value has the literal's kind.
            self.sql("(CASE WHEN ");
            self.kind(path);
            self.sql(" = ").sql(kind).sql(" THEN ");
            self.json_value_cmp(path, op, lit);
            self.sql(" END)");
            return;
        }
        // Equality: unknown when missing, false for another kind.
        if op == CmpOp::Ne {
            self.sql("(NOT ");
        }
        self.sql("(CASE WHEN ");
        self.kind(path);
        self.sql(" IS NULL THEN NULL WHEN ");
        self.kind(path);
        self.sql(" = ").sql(kind).sql(" THEN ");
        self.json_value_cmp(path, CmpOp::Eq, lit);
        self.sql(" ELSE ").sql(FALSE).sql(" END)");
        if op == CmpOp::Ne {
            self.sql(")");
        }
    }

    /// Compares the value at `path`, known to be of the literal's kind.
    fn json_value_cmp(&mut self, path: &JsonPath, op: CmpOp, lit: &Lit) {
        match lit {
            Lit::Str(s) => self.text_compare(&TextSource::Json(path), op, s),
            Lit::Int(_) | Lit::Double(_) => {
                let n = match lit {
                    Lit::Int(i) => *i as f64,
                    Lit::Double(d) => *d,
                    _ => unreachable!(),
                };
                self.sql("(");
                self.json_number(path);
                self.sql(op_sql(op));
                self.f.double(n);
                self.sql(")");
            }
            Lit::Bool(b) => {
                self.sql("(");
                self.json_bool(path);
                self.sql(if *b { " = 'true')" } else { " = 'false')" });
            }
            Lit::Null => {
                self.sql(TRUE);
            }
            Lit::Time(_) | Lit::Duration(_) => unreachable!("the checker refuses these"),
        }
    }

    fn string_test(&mut self, source: &TextSource<'_>, func: StrFn, needle: &str) {
        let chars = needle.chars().count() as i64;
        let never = self.backend == Backend::Postgres && needle.contains('\0');
        if never || (chars == 0) {
            // Empty needles always match; NUL never occurs in PostgreSQL text.
            self.sql("(CASE WHEN ");
            self.text(source);
            self.sql(" IS NULL THEN NULL ELSE ")
                .sql(if never { FALSE } else { TRUE })
                .sql(" END)");
            return;
        }
        match (func, self.backend) {
            (StrFn::Contains, Backend::Postgres) => {
                self.sql("(strpos(");
                self.text(source);
                self.sql(", ");
                self.f.text(needle.to_owned());
                self.sql(") > 0)");
            }
            (StrFn::Contains, Backend::Sqlite) => {
                self.sql("(instr(");
                self.text(source);
                self.sql(", ");
                self.f.text(needle.to_owned());
                self.sql(") > 0)");
            }
            (StrFn::Contains, Backend::Mysql) => {
                self.sql("(LOCATE(CAST(");
                self.f.text(needle.to_owned());
                self.sql(" AS BINARY), CAST(");
                self.text(source);
                self.sql(" AS BINARY)) > 0)");
            }
            (StrFn::StartsWith | StrFn::EndsWith, backend) => {
                let start = func == StrFn::StartsWith;
                let open = match (backend, start) {
                    (Backend::Postgres, true) => "(left(",
                    (Backend::Postgres, false) => "(right(",
                    (Backend::Sqlite, true) => "(substr(",
                    (Backend::Sqlite, false) => "(substr(",
                    (Backend::Mysql, true) => "(CAST(LEFT(",
                    (Backend::Mysql, false) => "(CAST(RIGHT(",
                };
                self.sql(open);
                self.text(source);
                match (backend, start) {
                    (Backend::Postgres, _) => {
                        self.sql(", CAST(");
                        self.f.bigint(chars);
                        self.sql(" AS integer))");
                    }
                    (Backend::Sqlite, true) => {
                        self.sql(", 1, ");
                        self.f.bigint(chars);
                        self.sql(")");
                    }
                    (Backend::Sqlite, false) => {
                        self.sql(", ");
                        self.f.bigint(-chars);
                        self.sql(")");
                    }
                    (Backend::Mysql, _) => {
                        self.sql(", ");
                        self.f.bigint(chars);
                        self.sql(") AS BINARY)");
                    }
                }
                if backend == Backend::Mysql {
                    self.sql(" = CAST(");
                    self.f.text(needle.to_owned());
                    self.sql(" AS BINARY))");
                } else {
                    self.sql(" = ");
                    self.f.text(needle.to_owned());
                    self.sql(")");
                }
            }
        }
    }
}
