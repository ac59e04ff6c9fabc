//! CEL filters: parsed with the `cel` crate, checked against the fields of Results or
//! Records into a typed IR ([`ir`]), then either lowered to SQL with bound parameters for
//! the backend's dialect ([`sql`]) or evaluated in memory ([`eval`]). Both paths share
//! one definition of the semantics, so a listing and a watch stream always agree.
//!
//! Semantics: comparisons are three-valued. A missing field or JSON path, a missing
//! summary, or an ordering comparison between different JSON types is *unknown*; `!`
//! keeps unknown, `&&`/`||` follow SQL (false && unknown = false, true || unknown = true),
//! and an unknown filter does not match. Equality with a JSON value of another type is
//! false. Text compares by bytes (code points) on every backend.

mod check;
mod eval;
mod int;
pub(crate) mod ir;
mod regex;
mod sql;

pub use check::Environment;

use crate::model::{StoredRecord, StoredResult};
use crate::Result;

/// A checked filter, ready to run as SQL or in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    source: String,
    environment: Environment,
    pred: ir::Pred,
}

/// The text at a path into `records.data` (NULL when missing), as a selectable column.
pub(crate) fn data_text(
    steps: &[&str],
    backend: crate::Backend,
) -> crate::fragment::Fragment<diesel::sql_types::Nullable<diesel::sql_types::Text>> {
    let steps = steps
        .iter()
        .map(|s| match s.parse::<u32>() {
            Ok(i) => ir::Step::Index(i),
            Err(_) => ir::Step::Key((*s).to_owned()),
        })
        .collect();
    sql::json_text(
        &ir::JsonPath {
            root: ir::JsonRoot::Data,
            steps,
        },
        backend,
    )
    .cast()
}

impl Filter {
    /// Parses and checks `source` against `environment`; an empty source matches all.
    pub fn compile(source: &str, environment: Environment) -> Result<Filter> {
        crate::limits::check_filter_text(source)?;
        let pred = if source.trim().is_empty() {
            ir::Pred::Const(true)
        } else {
            check::check(source, environment)?
        };
        Ok(Filter {
            source: source.to_owned(),
            environment,
            pred,
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the filter matches everything (no WHERE clause needed).
    pub fn is_trivial(&self) -> bool {
        self.pred == ir::Pred::Const(true)
    }

    /// Evaluates the filter on a Record (a Records filter).
    pub fn matches_record(&self, record: &StoredRecord) -> bool {
        debug_assert_eq!(self.environment, Environment::Records);
        eval::record(&self.pred, record) == Some(true)
    }

    /// Evaluates the filter on a Result (a Results filter).
    pub fn matches_result(&self, result: &StoredResult) -> bool {
        debug_assert_eq!(self.environment, Environment::Results);
        eval::result(&self.pred, result) == Some(true)
    }

    /// The SQL condition for `backend`.
    pub(crate) fn to_sql(&self, backend: crate::Backend) -> crate::fragment::Fragment {
        let table = match self.environment {
            Environment::Results => "results",
            Environment::Records => "records",
        };
        sql::lower(&self.pred, backend, table)
    }
}
