//! GetRecordListSummary: which aggregates and groups a request asks for, and folding the
//! rows of a filtered Record listing into them. Runs are classified by
//! `data.status.conditions[0].reason`; durations are `completionTime - startTime`.
//!
//! [`Summarizer`] is the reference semantics. Its reason classes (`Class`), time
//! parsing (`parse_time`, `nanos`) and calendar (`bucket`) are shared, not copied:
//! `store::run_columns` extracts with them what the database aggregates
//! (`store::summary`), which then buckets the database's days with them.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};

use crate::limits::{check_len, MAX_PARAMETER_BYTES};
use crate::page::Direction;
use crate::{Error, Result};

/// One aggregate of the `summary` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Number of Records.
    Total,
    /// Reason Succeeded or Completed.
    Succeeded,
    /// Reason Failed.
    Failed,
    /// Reason Cancelled*.
    Cancelled,
    /// Reason Running, Started or Pending.
    Running,
    /// Any other reason, or none.
    Others,
    /// Mean of completionTime - startTime.
    AvgDuration,
    /// Shortest duration.
    MinDuration,
    /// Longest duration.
    MaxDuration,
    /// Sum of durations.
    TotalDuration,
    /// Latest startTime, in Unix seconds.
    LastRuntime,
}

const AGGREGATES: [(&str, Aggregate); 11] = [
    ("total", Aggregate::Total),
    ("succeeded", Aggregate::Succeeded),
    ("failed", Aggregate::Failed),
    ("cancelled", Aggregate::Cancelled),
    ("running", Aggregate::Running),
    ("others", Aggregate::Others),
    ("avg_duration", Aggregate::AvgDuration),
    ("min_duration", Aggregate::MinDuration),
    ("max_duration", Aggregate::MaxDuration),
    ("total_duration", Aggregate::TotalDuration),
    ("last_runtime", Aggregate::LastRuntime),
];

impl Aggregate {
    fn parse(name: &str) -> Result<Aggregate> {
        AGGREGATES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "summary {name:?} is not supported; use a comma list of {}",
                    AGGREGATES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The name used in requests and answers.
    pub fn name(self) -> &'static str {
        AGGREGATES
            .iter()
            .find(|(_, a)| *a == self)
            .map(|(n, _)| *n)
            .expect("every aggregate is named")
    }
}

/// Time units of a time grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Calendar year (UTC).
    Year,
    /// Calendar month.
    Month,
    /// ISO week, starting Monday.
    Week,
    /// Day.
    Day,
    /// Hour.
    Hour,
    /// Minute.
    Minute,
}

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The period of the start (or completion) time.
    Time {
        /// Period length.
        unit: Unit,
        /// Group by completionTime instead of startTime.
        completion: bool,
    },
    /// The namespace.
    Namespace,
    /// `<namespace>/<label tekton.dev/pipeline>`, as upstream: pipelines of one name in
    /// two namespaces are two groups.
    Pipeline,
    /// `<namespace>/<annotation pipelinesascode.tekton.dev/repository>`, as upstream.
    Repository,
}

/// A parsed summary request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummarySpec {
    /// The aggregates, in request order.
    pub aggregates: Vec<Aggregate>,
    /// Grouping, if any.
    pub group: Option<Group>,
    /// Order of the groups.
    pub order: Option<(Aggregate, Direction)>,
}

impl SummarySpec {
    /// Parses `summary`, `group_by` and `order_by`.
    pub fn parse(summary: &str, group_by: &str, order_by: &str) -> Result<SummarySpec> {
        check_len("summary", summary, MAX_PARAMETER_BYTES)?;
        check_len("group_by", group_by, MAX_PARAMETER_BYTES)?;
        check_len("order_by", order_by, MAX_PARAMETER_BYTES)?;
        let mut aggregates = Vec::new();
        for name in summary.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let aggregate = Aggregate::parse(name)?;
            if !aggregates.contains(&aggregate) {
                aggregates.push(aggregate);
            }
        }
        if aggregates.is_empty() {
            aggregates.push(Aggregate::Total);
        }
        let group = match group_by.split_whitespace().collect::<Vec<_>>()[..] {
            [] => None,
            ["namespace"] => Some(Group::Namespace),
            ["pipeline"] => Some(Group::Pipeline),
            ["repository"] => Some(Group::Repository),
            [unit] => Some(Group::Time {
                unit: unit_of(unit)?,
                completion: false,
            }),
            [unit, "startTime"] => Some(Group::Time {
                unit: unit_of(unit)?,
                completion: false,
            }),
            [unit, "completionTime"] => Some(Group::Time {
                unit: unit_of(unit)?,
                completion: true,
            }),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "group_by {group_by:?} is not supported; use year|month|week|day|hour|minute \
                     [startTime|completionTime], namespace, pipeline or repository"
                )))
            }
        };
        let order = match order_by.split_whitespace().collect::<Vec<_>>()[..] {
            [] => None,
            [_, ..] if group.is_none() => {
                return Err(Error::InvalidArgument(
                    "order_by needs group_by in a summary".into(),
                ))
            }
            [name] => Some((Aggregate::parse(name)?, Direction::Asc)),
            [name, dir] if dir.eq_ignore_ascii_case("asc") => {
                Some((Aggregate::parse(name)?, Direction::Asc))
            }
            [name, dir] if dir.eq_ignore_ascii_case("desc") => {
                Some((Aggregate::parse(name)?, Direction::Desc))
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "order_by {order_by:?} is invalid: expected \"<aggregate> [asc|desc]\""
                )))
            }
        };
        if let Some((aggregate, _)) = order {
            if !aggregates.contains(&aggregate) {
                return Err(Error::InvalidArgument(format!(
                    "order_by {:?} must be one of the requested summary fields",
                    aggregate.name()
                )));
            }
        }
        Ok(SummarySpec {
            aggregates,
            group,
            order,
        })
    }
}

fn unit_of(name: &str) -> Result<Unit> {
    Ok(match name {
        "year" => Unit::Year,
        "month" => Unit::Month,
        "week" => Unit::Week,
        "day" => Unit::Day,
        "hour" => Unit::Hour,
        "minute" => Unit::Minute,
        other => {
            return Err(Error::InvalidArgument(format!(
            "group_by {other:?} is not supported; use year|month|week|day|hour|minute, namespace, \
                 pipeline or repository"
        )))
        }
    })
}

/// The fields of one Record that summaries read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryInput {
    /// Namespace.
    pub parent: String,
    /// `data.status.conditions[0].reason`.
    pub reason: Option<String>,
    /// `data.status.startTime`.
    pub start_time: Option<String>,
    /// `data.status.completionTime`.
    pub completion_time: Option<String>,
    /// Label `tekton.dev/pipeline`.
    pub pipeline: Option<String>,
    /// Annotation `pipelinesascode.tekton.dev/repository`.
    pub repository: Option<String>,
}

/// A value in a summary answer.
#[derive(Debug, Clone, PartialEq)]
pub enum SummaryValue {
    /// A count, or Unix seconds.
    Number(f64),
    /// A duration (`HH:MM:SS[.fraction]`) or a group name.
    Text(String),
    /// Nothing to report (no completed run, or no group value).
    Null,
}

/// One answer row: aggregate (and `group_value`) → value.
pub type SummaryRow = BTreeMap<String, SummaryValue>;

/// The aggregates of some rows of one group: what [`Summarizer::add`] accumulates, and
/// what the database computes per group (`store::summary`), merged by
/// [`Summarizer::merge`]. Durations are nanoseconds; `last_start` is Unix nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Acc {
    pub(crate) total: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) running: u64,
    pub(crate) others: u64,
    pub(crate) durations: u64,
    pub(crate) duration_sum: i128,
    pub(crate) duration_min: Option<i128>,
    pub(crate) duration_max: Option<i128>,
    pub(crate) last_start: Option<i64>,
}

impl Acc {
    /// Adds the aggregates of other rows of the same group.
    fn merge(&mut self, other: &Acc) {
        fn pick<T: Copy>(a: Option<T>, b: Option<T>, f: fn(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            }
        }
        self.total += other.total;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.running += other.running;
        self.others += other.others;
        self.durations += other.durations;
        self.duration_sum += other.duration_sum;
        self.duration_min = pick(self.duration_min, other.duration_min, i128::min);
        self.duration_max = pick(self.duration_max, other.duration_max, i128::max);
        self.last_start = pick(self.last_start, other.last_start, i64::max);
    }
}

/// Group key: ordered so that absent values come first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    None,
    Time(i64),
    Text(String),
}

/// Folds rows into the summary, in one pass and bounded memory (one accumulator per group).
#[derive(Debug)]
pub struct Summarizer {
    spec: SummarySpec,
    groups: BTreeMap<Key, Acc>,
}

/// The class of a run by `status.conditions[0].reason`; the number is what
/// `records.run_reason` stores (see `store::run_columns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Succeeded or Completed.
    Succeeded = 1,
    /// Failed.
    Failed = 2,
    /// Cancelled*.
    Cancelled = 3,
    /// Running, Started or Pending.
    Running = 4,
    /// Any other reason, or none.
    Other = 5,
}

impl Class {
    /// The class of a run whose reason is `reason`.
    pub(crate) fn of(reason: Option<&str>) -> Class {
        match reason {
            Some("Succeeded" | "Completed") => Class::Succeeded,
            Some("Failed") => Class::Failed,
            Some(r) if r.starts_with("Cancelled") => Class::Cancelled,
            Some("Running" | "Started" | "Pending") => Class::Running,
            _ => Class::Other,
        }
    }
}

/// A time as summaries read it: RFC 3339, any offset; anything else is no time.
pub(crate) fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Unix nanoseconds, when they fit an i64 (the years 1677–2262).
pub(crate) fn nanos(t: DateTime<Utc>) -> Option<i64> {
    t.timestamp_nanos_opt()
}

/// Unix seconds of the start of the UTC period of `unit` holding `t`.
pub(crate) fn bucket(t: DateTime<Utc>, unit: Unit) -> Option<i64> {
    let date = t.date_naive();
    let start = match unit {
        Unit::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1)?.and_hms_opt(0, 0, 0)?,
        Unit::Month => {
            NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?.and_hms_opt(0, 0, 0)?
        }
        Unit::Week => (date - Duration::days(i64::from(date.weekday().num_days_from_monday())))
            .and_hms_opt(0, 0, 0)?,
        Unit::Day => date.and_hms_opt(0, 0, 0)?,
        Unit::Hour => date.and_hms_opt(t.hour(), 0, 0)?,
        Unit::Minute => date.and_hms_opt(t.hour(), t.minute(), 0)?,
    };
    Some(Utc.from_utc_datetime(&start).timestamp())
}

impl Summarizer {
    /// An empty summary for `spec`.
    pub fn new(spec: SummarySpec) -> Summarizer {
        Summarizer {
            spec,
            groups: BTreeMap::new(),
        }
    }

    /// The request being answered.
    pub(crate) fn spec(&self) -> &SummarySpec {
        &self.spec
    }

    /// Adds the aggregates `acc` of some rows whose group is `key` (as [`Summarizer::add`]
    /// would have found it for each of them).
    pub(crate) fn merge(&mut self, key: Key, acc: &Acc) {
        self.groups.entry(key).or_default().merge(acc);
    }

    /// Adds one Record.
    pub fn add(&mut self, row: SummaryInput) {
        let start = parse_time(row.start_time.as_deref());
        let completion = parse_time(row.completion_time.as_deref());
        let key = match self.spec.group {
            None => Key::None,
            Some(Group::Namespace) => Key::Text(row.parent.clone()),
            // Upstream concatenates in SQL (`CONCAT` skips NULL), so a run without the
            // label or annotation falls into `<namespace>/`.
            Some(Group::Pipeline) => namespaced(&row.parent, row.pipeline.as_deref()),
            Some(Group::Repository) => namespaced(&row.parent, row.repository.as_deref()),
            Some(Group::Time {
                unit,
                completion: by_completion,
            }) => {
                let t = if by_completion { completion } else { start };
                t.and_then(|t| bucket(t, unit)).map_or(Key::None, Key::Time)
            }
        };
        let acc = self.groups.entry(key).or_default();
        acc.total += 1;
        match Class::of(row.reason.as_deref()) {
            Class::Succeeded => acc.succeeded += 1,
            Class::Failed => acc.failed += 1,
            Class::Cancelled => acc.cancelled += 1,
            Class::Running => acc.running += 1,
            Class::Other => acc.others += 1,
        }
        if let Some(s) = start.and_then(nanos) {
            acc.last_start = Some(acc.last_start.map_or(s, |l| l.max(s)));
            if let Some(c) = completion.and_then(nanos) {
                // In i128: two times 585 years apart are more nanoseconds than an i64.
                let d = i128::from(c) - i128::from(s);
                acc.durations += 1;
                acc.duration_sum += d;
                acc.duration_min = Some(acc.duration_min.map_or(d, |m| m.min(d)));
                acc.duration_max = Some(acc.duration_max.map_or(d, |m| m.max(d)));
            }
        }
    }

    /// The answer rows: one without group_by (even over no rows), else one per group.
    pub fn finish(self) -> Vec<SummaryRow> {
        let spec = self.spec;
        let mut groups: Vec<(Key, Acc)> = self.groups.into_iter().collect();
        if spec.group.is_none() && groups.is_empty() {
            groups.push((Key::None, Acc::default()));
        }
        if let Some((aggregate, dir)) = spec.order {
            groups.sort_by(|(ka, a), (kb, b)| {
                let o = sort_value(a, aggregate)
                    .cmp(&sort_value(b, aggregate))
                    .then_with(|| ka.cmp(kb));
                if dir == Direction::Desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
        groups
            .into_iter()
            .map(|(key, acc)| {
                let mut row: SummaryRow = spec
                    .aggregates
                    .iter()
                    .map(|a| (a.name().to_owned(), value(&acc, *a)))
                    .collect();
                if spec.group.is_some() {
                    let group_value = match key {
                        Key::None => SummaryValue::Null,
                        Key::Time(t) => SummaryValue::Number(t as f64),
                        Key::Text(s) => SummaryValue::Text(s),
                    };
                    row.insert("group_value".into(), group_value);
                }
                row
            })
            .collect()
    }
}

/// The group `<namespace>/<name>` of a pipeline or repository.
pub(crate) fn namespaced(namespace: &str, name: Option<&str>) -> Key {
    Key::Text(format!("{namespace}/{}", name.unwrap_or_default()))
}

/// An aggregate as a sortable number (absent values first).
fn sort_value(acc: &Acc, aggregate: Aggregate) -> Option<i128> {
    match aggregate {
        Aggregate::Total => Some(acc.total.into()),
        Aggregate::Succeeded => Some(acc.succeeded.into()),
        Aggregate::Failed => Some(acc.failed.into()),
        Aggregate::Cancelled => Some(acc.cancelled.into()),
        Aggregate::Running => Some(acc.running.into()),
        Aggregate::Others => Some(acc.others.into()),
        Aggregate::AvgDuration => {
            (acc.durations > 0).then(|| acc.duration_sum / i128::from(acc.durations))
        }
        Aggregate::MinDuration => acc.duration_min,
        Aggregate::MaxDuration => acc.duration_max,
        Aggregate::TotalDuration => (acc.durations > 0).then_some(acc.duration_sum),
        Aggregate::LastRuntime => acc.last_start.map(i128::from),
    }
}

fn value(acc: &Acc, aggregate: Aggregate) -> SummaryValue {
    let count = |n: u64| SummaryValue::Number(n as f64);
    let duration = |d: Option<i128>| {
        d.map_or(SummaryValue::Null, |d| {
            SummaryValue::Text(format_duration(d))
        })
    };
    match aggregate {
        Aggregate::Total => count(acc.total),
        Aggregate::Succeeded => count(acc.succeeded),
        Aggregate::Failed => count(acc.failed),
        Aggregate::Cancelled => count(acc.cancelled),
        Aggregate::Running => count(acc.running),
        Aggregate::Others => count(acc.others),
        Aggregate::LastRuntime => acc.last_start.map_or(SummaryValue::Null, |s| {
            SummaryValue::Number(s.div_euclid(1_000_000_000) as f64)
        }),
        other => duration(sort_value(acc, other)),
    }
}

/// `HH:MM:SS` with the fraction of a second when there is one, e.g. `00:01:16.21875`.
pub fn format_duration(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let nanos = nanos.unsigned_abs();
    let seconds = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000;
    let mut text = format!(
        "{sign}{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction > 0 {
        let digits = format!("{fraction:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(parent: &str, reason: &str, start: &str, end: &str) -> SummaryInput {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        SummaryInput {
            parent: parent.into(),
            reason: some(reason),
            start_time: some(start),
            completion_time: some(end),
            ..Default::default()
        }
    }

    #[test]
    fn parses_requests() {
        let spec = SummarySpec::parse("total, failed,total", "month completionTime", "failed desc")
            .unwrap();
        assert_eq!(spec.aggregates, vec![Aggregate::Total, Aggregate::Failed]);
        assert_eq!(
            spec.group,
            Some(Group::Time {
                unit: Unit::Month,
                completion: true
            })
        );
        assert_eq!(spec.order, Some((Aggregate::Failed, Direction::Desc)));
        assert_eq!(
            SummarySpec::parse("", "", "").unwrap().aggregates,
            vec![Aggregate::Total]
        );
        for (s, g, o, needle) in [
            ("nope", "", "", "use a comma list"),
            ("total", "fortnight", "", "year|month"),
            ("total", "namespace", "failed", "requested summary fields"),
            ("total", "", "total", "needs group_by"),
            ("total", "day startTime extra", "", "not supported"),
        ] {
            let err = SummarySpec::parse(s, g, o).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn aggregates_hand_computed_values() {
        let spec = SummarySpec::parse(
            "total,succeeded,failed,cancelled,running,others,avg_duration,min_duration,max_duration,total_duration,last_runtime",
            "",
            "",
        )
        .unwrap();
        let mut s = Summarizer::new(spec);
        s.add(input(
            "a",
            "Succeeded",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:01:00Z",
        )); // 60 s
        s.add(input(
            "a",
            "Completed",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:30.5Z",
        )); // 30.5 s
        s.add(input(
            "a",
            "Failed",
            "2024-01-02T00:00:00Z",
            "2024-01-02T02:00:00Z",
        )); // 7200 s
        s.add(input(
            "b",
            "CancelledRunFinally",
            "2024-01-03T00:00:00Z",
            "",
        ));
        s.add(input("b", "Running", "", ""));
        s.add(input(
            "b",
            "TaskRunTimeout",
            "not a time",
            "2024-01-01T00:00:00Z",
        ));
        s.add(input("b", "", "", ""));
        let rows = s.finish();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        let n = |k: &str| match &row[k] {
            SummaryValue::Number(n) => *n,
            other => panic!("{k}: {other:?}"),
        };
        let t = |k: &str| match &row[k] {
            SummaryValue::Text(t) => t.clone(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(
            (
                n("total"),
                n("succeeded"),
                n("failed"),
                n("cancelled"),
                n("running"),
                n("others")
            ),
            (7.0, 2.0, 1.0, 1.0, 1.0, 2.0)
        );
        assert_eq!(t("min_duration"), "00:00:30.5");
        assert_eq!(t("max_duration"), "02:00:00");
        assert_eq!(t("total_duration"), "02:01:30.5");
        assert_eq!(t("avg_duration"), "00:40:30.166666666"); // 7290.5 s / 3
        assert_eq!(n("last_runtime"), 1_704_240_000.0); // 2024-01-03T00:00:00Z
    }

    #[test]
    fn groups_and_orders() {
        let spec = SummarySpec::parse("total,failed", "week", "failed desc").unwrap();
        let mut s = Summarizer::new(spec);
        // 2024-01-03 is a Wednesday: its week starts Monday 2024-01-01.
        s.add(input("a", "Failed", "2024-01-03T10:00:00Z", ""));
        s.add(input("a", "Failed", "2024-01-01T00:00:00Z", ""));
        s.add(input("a", "Succeeded", "2024-01-08T00:00:00Z", ""));
        s.add(input("a", "Failed", "", ""));
        let rows = s.finish();
        let groups: Vec<(SummaryValue, SummaryValue)> = rows
            .iter()
            .map(|r| (r["group_value"].clone(), r["failed"].clone()))
            .collect();
        assert_eq!(
            groups,
            vec![
                (
                    SummaryValue::Number(1_704_067_200.0),
                    SummaryValue::Number(2.0)
                ),
                (SummaryValue::Null, SummaryValue::Number(1.0)),
                (
                    SummaryValue::Number(1_704_672_000.0),
                    SummaryValue::Number(0.0)
                ),
            ]
        );
        let empty = Summarizer::new(SummarySpec::parse("", "namespace", "").unwrap()).finish();
        assert!(empty.is_empty(), "no groups without rows");
        let empty =
            Summarizer::new(SummarySpec::parse("total,avg_duration", "", "").unwrap()).finish();
        assert_eq!(empty[0]["total"], SummaryValue::Number(0.0));
        assert_eq!(empty[0]["avg_duration"], SummaryValue::Null);
    }

    /// A run from 1677 to 2262 lasts more nanoseconds than an i64 holds: the fold once
    /// overflowed there (a panic in debug builds, a wrapped duration in release).
    #[test]
    fn durations_beyond_an_i64_are_exact() {
        let spec = SummarySpec::parse("max_duration,total_duration", "", "").unwrap();
        let mut s = Summarizer::new(spec);
        s.add(input(
            "a",
            "Succeeded",
            "1677-09-21T00:12:44Z",
            "2262-04-11T23:47:16Z",
        ));
        s.add(input(
            "a",
            "Succeeded",
            "1677-09-21T00:12:44Z",
            "2262-04-11T23:47:16Z",
        ));
        let rows = s.finish();
        let at = |t: &str| i128::from(DateTime::parse_from_rfc3339(t).unwrap().timestamp());
        let seconds = at("2262-04-11T23:47:16Z") - at("1677-09-21T00:12:44Z");
        assert!(seconds * 1_000_000_000 > i128::from(i64::MAX));
        let expect = |n: i128| format_duration(n * seconds * 1_000_000_000);
        assert_eq!(rows[0]["max_duration"], SummaryValue::Text(expect(1)));
        assert_eq!(rows[0]["total_duration"], SummaryValue::Text(expect(2)));
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(0), "00:00:00");
        assert_eq!(format_duration(76_218_750_000), "00:01:16.21875");
        assert_eq!(format_duration(90_000_000_000_000), "25:00:00");
        assert_eq!(format_duration(-1_500_000_000), "-00:00:01.5");
    }
}
