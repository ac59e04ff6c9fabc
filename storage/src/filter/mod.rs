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
mod index_use;
pub(crate) mod indexed;
mod int;
pub(crate) mod ir;
mod regex;
mod sql;

pub use check::Environment;
pub use indexed::{IndexedPath, IndexedPaths, MAX_INDEXED_PATHS};

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

    /// The SQL condition for `backend`, using the slots of `indexed` (see [`indexed`]).
    pub(crate) fn to_sql(
        &self,
        backend: crate::Backend,
        indexed: &IndexedPaths,
    ) -> crate::fragment::Fragment {
        let table = match self.environment {
            Environment::Results => "results",
            Environment::Records => "records",
        };
        sql::lower(&self.pred, backend, table, indexed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_FILTER_BYTES;
    use crate::model::{RecordData, RecordName, Timestamp};

    /// The longest filters of many flat terms are checked on the checker's own thread but
    /// lowered, evaluated and dropped on the caller's: a worker thread's 2 MiB stack must
    /// be enough (an `in` list of 4,000 elements once overflowed it).
    #[test]
    fn the_largest_filters_run_on_a_small_stack() {
        let chain = |term: &str, sep: &str| {
            let n = (MAX_FILTER_BYTES - 4) / (term.len() + sep.len());
            format!("{}true", format!("{term}{sep}").repeat(n))
        };
        let filters = [
            format!("data.a in [{}1]", "3,".repeat((MAX_FILTER_BYTES - 16) / 2)),
            format!("name in [{}'c']", "'',".repeat((MAX_FILTER_BYTES - 16) / 3)),
            chain("data.a==3", "||"),
            chain("false", "||"),
            chain("data.a==1", "&&"),
            format!("{}true", "!".repeat(MAX_FILTER_BYTES - 4)),
        ];
        let record = StoredRecord {
            name: RecordName::parse("a/results/b/records/c").unwrap(),
            uid: "u".into(),
            data: RecordData::new("t".into(), br#"{"a":1}"#.to_vec()).unwrap(),
            create_time: Timestamp::from_nanos(0),
            update_time: Timestamp::from_nanos(0),
        };
        for filter in filters {
            assert!(filter.len() <= MAX_FILTER_BYTES, "{}", filter.len());
            let record = record.clone();
            let matched = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let compiled = Filter::compile(&filter, Environment::Records).unwrap();
                    for backend in [
                        crate::Backend::Sqlite,
                        crate::Backend::Postgres,
                        crate::Backend::Mysql,
                    ] {
                        let none = IndexedPaths::none();
                        assert!(!format!("{:?}", compiled.to_sql(backend, &none)).is_empty());
                    }
                    compiled.matches_record(&record)
                })
                .unwrap()
                .join()
                .expect("no stack overflow");
            assert!(matched);
        }
    }

    /// A getter of a JSON time that is missing or not a Kubernetes timestamp is unknown,
    /// so neither a comparison nor its negation matches.
    #[test]
    fn getters_of_a_missing_time_are_unknown() {
        let record = |doc: &str| StoredRecord {
            name: RecordName::parse("a/results/b/records/c").unwrap(),
            uid: "u".into(),
            data: RecordData::new("t".into(), doc.as_bytes().to_vec()).unwrap(),
            create_time: Timestamp::from_nanos(0),
            update_time: Timestamp::from_nanos(0),
        };
        let timed = record(r#"{"status":{"startTime":"2026-04-12T03:00:07Z"}}"#);
        let untimed = record(r#"{"status":{}}"#);
        let plain = record(r#"{"status":{"startTime":"soon"}}"#);
        for getter in ["getMilliseconds()", "getSeconds()", "getHours()"] {
            let matches = |filter: String| {
                let compiled = Filter::compile(&filter, Environment::Records).unwrap();
                [&timed, &untimed, &plain].map(|r| compiled.matches_record(r))
            };
            let equal = format!("data.status.startTime.{getter} >= 0");
            assert_eq!(matches(equal.clone()), [true, false, false], "{equal}");
            let negated = format!("!(data.status.startTime.{getter} >= 0)");
            assert_eq!(matches(negated.clone()), [false, false, false], "{negated}");
        }
    }
}
