//! What a database's planner says it will do with a query, read from `EXPLAIN` on
//! PostgreSQL (JSON), `EXPLAIN QUERY PLAN` on SQLite and `EXPLAIN` on MySQL/MariaDB, and
//! reduced to the steps that decide what a page costs: which index is read, whether a
//! table is read in full, whether rows are sorted.

use std::fmt;

use serde_json::Value;

use crate::connection::Backend;
use crate::{Error, Result};

/// What one step of a plan does, in the same terms on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// Reads a table (or only an index) through an index, in the index's order; a
    /// `LIMIT` above it stops it early. PostgreSQL `Index Scan`/`Index Only Scan`,
    /// SQLite `SCAN`/`SEARCH … USING [COVERING] INDEX`, MySQL/MariaDB any access with a
    /// `key`.
    IndexScan,
    /// Collects matching rows through an index without keeping any order (PostgreSQL
    /// `Bitmap Index Scan` and `Bitmap Heap Scan`); an ordered page then needs a sort.
    BitmapScan,
    /// Reads every row of a table (PostgreSQL `Seq Scan`, SQLite `SCAN t` without an
    /// index, MySQL/MariaDB access type `ALL`).
    FullScan,
    /// Sorts rows (PostgreSQL `Sort`/`Incremental Sort`, SQLite `USE TEMP B-TREE FOR …
    /// ORDER BY`, MySQL/MariaDB `Using filesort`).
    Sort,
    /// Anything else: `Limit`, subqueries, functions that expand JSON, …
    Other,
}

/// One step of a [`QueryPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// Nesting depth: 0 for the outermost step, children one deeper than their parent.
    pub depth: usize,
    /// What the step does.
    pub kind: StepKind,
    /// The table it reads, if it reads one (as named in the query, e.g. `records`).
    pub table: Option<String>,
    /// The index it reads, if any.
    pub index: Option<String>,
    /// What bounds the part of the index read, when something does (a seek rather than
    /// reading from one end): PostgreSQL's `Index Cond`, SQLite's constraint list such as
    /// `parent=? AND create_time>?`, MySQL/MariaDB's used key parts such as
    /// `parent, create_time`.
    pub index_condition: Option<String>,
    /// The backend's own words for the step, e.g. `SEARCH records USING INDEX …`.
    pub detail: String,
}

/// The plan of one query as the database's planner reported it.
///
/// A diagnostic, for tests and tools: the helpers answer the questions that decide
/// whether a page's cost stays flat as a table grows; [`QueryPlan::raw`] keeps
/// everything the database said, and `Display` prints one step per line.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    backend: Backend,
    raw: String,
    steps: Vec<PlanStep>,
}

impl QueryPlan {
    /// The backend that planned the query.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The plan exactly as the database reported it (JSON on PostgreSQL, one line per
    /// row on SQLite and MySQL/MariaDB).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Every step, outermost first, children after their parent.
    pub fn steps(&self) -> &[PlanStep] {
        &self.steps
    }

    /// Whether any step reads the index `name`.
    pub fn uses_index(&self, name: &str) -> bool {
        self.steps.iter().any(|s| s.index.as_deref() == Some(name))
    }

    /// Whether some step reads every row of `table`.
    pub fn scans_table_fully(&self, table: &str) -> bool {
        self.steps
            .iter()
            .any(|s| s.kind == StepKind::FullScan && s.table.as_deref() == Some(table))
    }

    /// Whether some step sorts rows.
    pub fn sorts(&self) -> bool {
        self.steps.iter().any(|s| s.kind == StepKind::Sort)
    }

    /// The index whose order the rows of `table` come out in: the index of the
    /// outermost step that reads `table` in index order, when no step sorts. `None` when
    /// the plan sorts, or reads `table` in full or through a bitmap.
    pub fn ordered_by_index(&self, table: &str) -> Option<&str> {
        if self.sorts() {
            return None;
        }
        let reading = self
            .steps
            .iter()
            .filter(|s| s.table.as_deref() == Some(table))
            .min_by_key(|s| s.depth)?;
        match reading.kind {
            StepKind::IndexScan => reading.index.as_deref(),
            _ => None,
        }
    }

    /// Whether the outermost step reading `table` bounds its index read with a condition
    /// on `column` (a whole identifier), i.e. seeks to where its rows start rather than
    /// reading the index from one end and filtering. A listing's uid tie-breaker `id` is
    /// bounded only by the keyset of a continued page.
    pub fn seeks_by(&self, table: &str, column: &str) -> bool {
        self.steps
            .iter()
            .filter(|s| s.table.as_deref() == Some(table))
            .min_by_key(|s| s.depth)
            .and_then(|s| s.index_condition.as_deref())
            .is_some_and(|c| {
                c.split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .any(|word| word == column)
            })
    }

    /// Reads PostgreSQL's `EXPLAIN (FORMAT JSON)` output.
    pub(crate) fn from_postgres_json(raw: String) -> Result<QueryPlan> {
        let document: Value = serde_json::from_str(&raw).map_err(|e| corrupt(&e))?;
        let root = document
            .get(0)
            .and_then(|p| p.get("Plan"))
            .ok_or_else(|| corrupt(&"no \"Plan\" in the output"))?;
        let mut steps = Vec::new();
        postgres_node(root, 0, &mut steps);
        Ok(QueryPlan {
            backend: Backend::Postgres,
            raw,
            steps,
        })
    }

    /// Reads SQLite's `EXPLAIN QUERY PLAN` rows: `(id, parent, detail)`.
    pub(crate) fn from_sqlite_rows(rows: &[(i32, i32, String)]) -> QueryPlan {
        let mut steps = Vec::new();
        sqlite_children(rows, 0, 0, &mut steps);
        let raw = steps
            .iter()
            .map(|s| format!("{}{}", "  ".repeat(s.depth), s.detail))
            .collect::<Vec<_>>()
            .join("\n");
        QueryPlan {
            backend: Backend::Sqlite,
            raw,
            steps,
        }
    }

    /// Reads MySQL/MariaDB's `EXPLAIN FORMAT=JSON` output.
    #[cfg(feature = "mysql")]
    pub(crate) fn from_mysql_json(raw: String) -> Result<QueryPlan> {
        let document: Value = serde_json::from_str(&raw).map_err(|e| corrupt(&e))?;
        let root = document
            .get("query_block")
            .ok_or_else(|| corrupt(&"no \"query_block\" in the output"))?;
        let mut steps = Vec::new();
        mysql_node(root, 0, &mut steps);
        Ok(QueryPlan {
            backend: Backend::Mysql,
            raw,
            steps,
        })
    }
}

impl fmt::Display for QueryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}{}", "  ".repeat(step.depth), step.detail)?;
        }
        Ok(())
    }
}

fn corrupt(reason: &dyn fmt::Display) -> Error {
    Error::Corrupt(format!("unreadable EXPLAIN output: {reason}"))
}

fn postgres_node(node: &Value, depth: usize, steps: &mut Vec<PlanStep>) {
    let field = |name: &str| node.get(name).and_then(Value::as_str);
    let node_type = field("Node Type").unwrap_or("?");
    let kind = match node_type {
        "Index Scan" | "Index Only Scan" => StepKind::IndexScan,
        "Bitmap Index Scan" | "Bitmap Heap Scan" => StepKind::BitmapScan,
        "Seq Scan" => StepKind::FullScan,
        "Sort" | "Incremental Sort" => StepKind::Sort,
        _ => StepKind::Other,
    };
    let mut detail = node_type.to_owned();
    if field("Scan Direction") == Some("Backward") {
        detail.push_str(" Backward");
    }
    if let Some(index) = field("Index Name") {
        detail.push_str(" using ");
        detail.push_str(index);
    }
    if let Some(table) = field("Relation Name") {
        detail.push_str(" on ");
        detail.push_str(table);
    }
    for (label, key) in [
        ("index cond", "Index Cond"),
        ("recheck", "Recheck Cond"),
        ("filter", "Filter"),
    ] {
        if let Some(cond) = field(key) {
            detail.push_str(&format!(" ({label}: {cond})"));
        }
    }
    for (label, key) in [("sort key", "Sort Key"), ("presorted", "Presorted Key")] {
        if let Some(keys) = node.get(key).and_then(Value::as_array) {
            let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
            detail.push_str(&format!(" ({label}: {})", keys.join(", ")));
        }
    }
    steps.push(PlanStep {
        depth,
        kind,
        table: field("Relation Name").map(str::to_owned),
        index: field("Index Name").map(str::to_owned),
        index_condition: field("Index Cond").map(str::to_owned),
        detail,
    });
    for child in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        postgres_node(child, depth + 1, steps);
    }
}

fn sqlite_children(
    rows: &[(i32, i32, String)],
    parent: i32,
    depth: usize,
    steps: &mut Vec<PlanStep>,
) {
    for (id, _, detail) in rows.iter().filter(|(_, p, _)| *p == parent) {
        steps.push(sqlite_step(detail, depth));
        sqlite_children(rows, *id, depth + 1, steps);
    }
}

/// One `EXPLAIN QUERY PLAN` line: `SCAN t`, `SEARCH t USING INDEX i (a=?)`,
/// `USE TEMP B-TREE FOR ORDER BY`, …
fn sqlite_step(detail: &str, depth: usize) -> PlanStep {
    let words: Vec<&str> = detail.split_whitespace().collect();
    let reads = matches!(words.first(), Some(&"SCAN" | &"SEARCH"));
    let virtual_table = detail.contains(" VIRTUAL TABLE ");
    let (index, index_condition) = match ["USING INDEX ", "USING COVERING INDEX "]
        .iter()
        .find_map(|marker| detail.split_once(marker))
    {
        // `idx` or `idx (parent=? AND create_time>?)`
        Some((_, rest)) => match rest.split_once(" (") {
            Some((index, condition)) => (
                Some(index.to_owned()),
                Some(condition.trim_end_matches(')').to_owned()),
            ),
            None => (Some(rest.trim().to_owned()), None),
        },
        None => (None, None),
    };
    let kind = if detail.starts_with("USE TEMP B-TREE FOR") && detail.contains("ORDER BY") {
        StepKind::Sort
    } else if !reads || virtual_table {
        StepKind::Other
    } else if index.is_some() || detail.contains(" PRIMARY KEY") {
        StepKind::IndexScan
    } else {
        StepKind::FullScan
    };
    PlanStep {
        depth,
        kind,
        table: reads
            .then(|| words.get(1).map(|t| (*t).to_owned()))
            .flatten(),
        index,
        index_condition,
        detail: detail.to_owned(),
    }
}

/// Walks MySQL/MariaDB's JSON plan: table accesses sit under `table` keys, sorts under
/// `filesort` keys, both nested in `nested_loop`, `read_sorted_file`, subqueries, ….
#[cfg(feature = "mysql")]
fn mysql_node(node: &Value, depth: usize, steps: &mut Vec<PlanStep>) {
    match node {
        Value::Array(items) => {
            for item in items {
                mysql_node(item, depth, steps);
            }
        }
        Value::Object(fields) => {
            for (key, value) in fields {
                match key.as_str() {
                    "filesort" => {
                        let sort_key = value.get("sort_key").and_then(Value::as_str);
                        steps.push(PlanStep {
                            depth,
                            kind: StepKind::Sort,
                            table: None,
                            index: None,
                            index_condition: None,
                            detail: format!("filesort ({})", sort_key.unwrap_or("?")),
                        });
                        mysql_node(value, depth + 1, steps);
                    }
                    "table" if value.get("table_name").is_some() => {
                        steps.push(mysql_table(value, depth));
                        mysql_node(value, depth + 1, steps);
                    }
                    _ => mysql_node(value, depth, steps),
                }
            }
        }
        _ => {}
    }
}

#[cfg(feature = "mysql")]
fn mysql_table(table: &Value, depth: usize) -> PlanStep {
    let field = |name: &str| table.get(name).and_then(Value::as_str);
    let access = field("access_type").unwrap_or("?");
    let key = field("key").map(str::to_owned);
    let kind = match (access, &key) {
        ("ALL", _) => StepKind::FullScan,
        ("index_merge", _) => StepKind::BitmapScan,
        (_, Some(_)) => StepKind::IndexScan,
        _ => StepKind::Other,
    };
    // `index` reads a whole index; `range`, `ref`, … read the part the used key parts bound.
    let bounded = !matches!(access, "ALL" | "index");
    let used_parts: Vec<&str> = table
        .get("used_key_parts")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut detail = format!("{access} on {}", field("table_name").unwrap_or("?"));
    if let Some(key) = &key {
        detail.push_str(&format!(" using {key} ({})", used_parts.join(", ")));
    }
    if let Some(rows) = table.get("rows") {
        detail.push_str(&format!(" rows={rows}"));
    }
    if let Some(condition) = field("attached_condition") {
        detail.push_str(&format!(" (filter: {condition})"));
    }
    PlanStep {
        depth,
        kind,
        table: field("table_name").map(str::to_owned),
        index: key,
        index_condition: (bounded && !used_parts.is_empty()).then(|| used_parts.join(", ")),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sqlite_plans() {
        let plan = QueryPlan::from_sqlite_rows(&[
            (
                3,
                0,
                "SEARCH records USING INDEX records_by_result_create_time (parent=? AND result_name=?)"
                    .into(),
            ),
            (9, 0, "CORRELATED SCALAR SUBQUERY 1".into()),
            (12, 9, "SCAN el VIRTUAL TABLE INDEX 1:".into()),
        ]);
        assert_eq!(
            plan.ordered_by_index("records"),
            Some("records_by_result_create_time")
        );
        assert!(!plan.scans_table_fully("records"));
        assert_eq!(plan.steps()[2].depth, 1);
        assert_eq!(plan.steps()[2].kind, StepKind::Other);

        let sorted = QueryPlan::from_sqlite_rows(&[
            (2, 0, "SCAN records".into()),
            (20, 0, "USE TEMP B-TREE FOR ORDER BY".into()),
        ]);
        assert!(sorted.sorts());
        assert!(sorted.scans_table_fully("records"));
        assert_eq!(sorted.ordered_by_index("records"), None);
    }

    #[test]
    fn reads_postgres_plans() {
        let raw = r#"[{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan",
            "Scan Direction": "Backward", "Index Name": "records_by_create_time",
            "Relation Name": "records", "Filter": "(data_type = $1)"}]}}]"#;
        let plan = QueryPlan::from_postgres_json(raw.into()).unwrap();
        assert_eq!(
            plan.ordered_by_index("records"),
            Some("records_by_create_time")
        );
        assert_eq!(
            plan.to_string(),
            "Limit\n  Index Scan Backward using records_by_create_time on records \
             (filter: (data_type = $1))"
        );
        assert!(QueryPlan::from_postgres_json("{}".into()).is_err());
    }

    #[test]
    #[cfg(feature = "mysql")]
    fn reads_mysql_plans() {
        let walked = QueryPlan::from_mysql_json(
            r#"{"query_block": {"select_id": 1, "nested_loop": [{"table": {
                "table_name": "results", "access_type": "range",
                "key": "results_by_parent_create_time",
                "used_key_parts": ["parent", "create_time"], "rows": 40}}]}}"#
                .into(),
        )
        .unwrap();
        assert_eq!(
            walked.ordered_by_index("results"),
            Some("results_by_parent_create_time")
        );
        assert!(walked.seeks_by("results", "create_time"));
        assert!(!walked.seeks_by("results", "time"));
        let sorted = QueryPlan::from_mysql_json(
            r#"{"query_block": {"select_id": 1, "nested_loop": [{"read_sorted_file":
                {"filesort": {"sort_key": "results.create_time", "table": {
                "table_name": "results", "access_type": "ALL", "rows": 2000}}}}]}}"#
                .into(),
        )
        .unwrap();
        assert!(sorted.sorts() && sorted.scans_table_fully("results"));
        assert_eq!(sorted.ordered_by_index("results"), None);
        assert_eq!(sorted.steps()[1].depth, 1);
    }
}
