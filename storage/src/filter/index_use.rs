//! Which columns a filter's SQL on MySQL/MariaDB compares in a form an index can narrow.
//! A listing scoped to one namespace reads its rows through the order's index there
//! (`FORCE INDEX`, see `Plan` in `store::list`) only when no other index could serve the
//! filter better, and asks this to find out.

use super::indexed::IndexedPaths;
use super::ir::{CmpOp, Operand, Pred, TimeField};
use super::Filter;

impl Filter {
    /// The columns this filter's MySQL/MariaDB condition compares in a form an index
    /// could narrow (each once, in order of appearance): the times it compares with a
    /// time (`create_time > ?`) and `summary_status`. Text fields are compared by bytes
    /// (`CAST(… AS BINARY)`) and JSON values through functions, which no index on that
    /// backend answers, so they narrow nothing (JSON paths with an index of their own are
    /// asked about apart: [`Filter::compares_indexed_path`]). An index added for a text
    /// field must add its columns here, or a namespace listing filtering on it would be
    /// forced through the order's index instead.
    pub(crate) fn mysql_index_columns(&self) -> Vec<&'static str> {
        let mut columns = Vec::new();
        collect(&self.pred, &mut columns);
        columns
    }
}

impl Filter {
    /// Whether this filter compares one of the `indexed` JSON paths for equality, which
    /// the lowering then answers through the path's own index (`records_jp_*`): a
    /// namespace listing must not force the order's index on MySQL/MariaDB then.
    pub(crate) fn compares_indexed_path(&self, indexed: &IndexedPaths) -> bool {
        !indexed.is_empty() && uses_slot(&self.pred, indexed)
    }
}

fn uses_slot(pred: &Pred, indexed: &IndexedPaths) -> bool {
    match pred {
        Pred::Not(p) => uses_slot(p, indexed),
        Pred::And(a, b) | Pred::Or(a, b) => uses_slot(a, indexed) || uses_slot(b, indexed),
        Pred::Each { pred, .. } => uses_slot(pred, indexed),
        Pred::Cmp(Operand::Json(path), CmpOp::Eq, _) => indexed.slot_of(path).is_some(),
        _ => false,
    }
}

fn collect(pred: &Pred, out: &mut Vec<&'static str>) {
    let mut add = |column: &'static str| {
        if !out.contains(&column) {
            out.push(column);
        }
    };
    match pred {
        Pred::Not(p) => collect(p, out),
        Pred::And(a, b) | Pred::Or(a, b) => {
            collect(a, out);
            collect(b, out);
        }
        Pred::Each { pred, .. } => collect(pred, out),
        // The columns the lowering compares (`lower::time_column`).
        Pred::Cmp(Operand::Time(field), ..) => add(match field {
            TimeField::CreateTime => "create_time",
            TimeField::UpdateTime => "update_time",
            TimeField::SummaryStartTime => "summary_start_time",
            TimeField::SummaryEndTime => "summary_end_time",
        }),
        // `CASE summary_status …` narrows nothing today; counted in case it ever does.
        Pred::Cmp(Operand::Status, ..) | Pred::Status(_) => add("summary_status"),
        Pred::Const(_)
        | Pred::Cmp(..)
        | Pred::Str(..)
        | Pred::Matches(..)
        | Pred::Has(_)
        | Pred::JsonTime(..) => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::filter::{Environment, Filter};

    fn columns(source: &str, environment: Environment) -> Vec<&'static str> {
        Filter::compile(source, environment)
            .expect("compiles")
            .mysql_index_columns()
    }

    #[test]
    fn only_times_and_the_summary_status_narrow() {
        let records = |s| columns(s, Environment::Records);
        let results = |s| columns(s, Environment::Results);
        assert!(records("").is_empty());
        assert!(records(r#"data_type == "tekton.dev/v1.TaskRun""#).is_empty());
        assert!(records(r#"data.status.conditions[0].reason == "Failed""#).is_empty());
        assert!(records(r#"name.startsWith("rec-1") || !(result_name == "x")"#).is_empty());
        assert!(results(r#"annotations["team"] == "team-3""#).is_empty());
        assert_eq!(
            records(r#"create_time > timestamp("2026-01-01T02:00:00Z") && data.a == 1"#),
            ["create_time"]
        );
        assert_eq!(
            records(
                r#"!(update_time < timestamp("2026-01-01T02:00:00Z")) || create_time > timestamp("2026-01-01T02:00:00Z")"#
            ),
            ["update_time", "create_time"]
        );
        assert_eq!(results("summary.status == FAILURE"), ["summary_status"]);
        assert_eq!(
            results(r#"summary.start_time > timestamp("2026-01-01T02:00:00Z")"#),
            ["summary_start_time"]
        );
    }
}
