//! Finding expired Results a page at a time: a keyset page over `results` by uid, with
//! what SQL can decide (age, namespace, type, status) as a bound-parameter condition;
//! labels and annotations are read for the page's summary Records only, and the policy
//! decides in memory. Memory is bounded by the page size.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde_json::Value;

use super::age::MaxAge;
use super::policy::{cutoff, Policy, Rule, Run};
use crate::connection::{with_conn, Conn};
use crate::fragment::Fragment;
use crate::model::{log::is_log_type, Projection, RecordName, Status, Timestamp};
use crate::rows::{RecordRow, ResultRow};
use crate::schema::{records, results};
use crate::store::projection;
use crate::{Error, Result};

/// One page of the scan.
#[derive(Debug, Default)]
pub struct ExpiredPage {
    /// The expired Results of the page, in uid order.
    pub expired: Vec<Run>,
    /// Where the next page starts (`after`); none when the scan is done.
    pub next: Option<String>,
    /// Results the page read (expired or not).
    pub scanned: usize,
}

/// `COALESCE(summary_end_time, create_time)`: completion, else creation.
const AGE_FROM: &str = "COALESCE(results.summary_end_time, results.create_time)";

/// The expired Results with a uid after `after` (empty: from the start), reading at most
/// `limit` candidate rows.
pub fn expired_page(
    conn: &mut Conn,
    policy: &Policy,
    now: Timestamp,
    after: &str,
    limit: usize,
) -> Result<ExpiredPage> {
    let Some(prefilter) = prefilter(policy, now) else {
        return Ok(ExpiredPage::default());
    };
    let limit = limit.max(1);
    let mut condition = Fragment::new();
    condition.sql("results.id > ").text(after);
    let condition = condition.and(prefilter);
    let rows: Vec<ResultRow> = with_conn!(conn, |c| results::table
        .filter(condition.clone())
        .order(results::id.asc())
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select(ResultRow::as_select())
        .load(c))
    .map_err(Error::db("selecting expired results"))?;
    let scanned = rows.len();
    let next = (rows.len() == limit).then(|| rows[rows.len() - 1].id.clone());
    let mut runs = rows
        .into_iter()
        .map(|row| row.into_model().map(Run::from))
        .collect::<Result<Vec<_>>>()?;
    if policy.needs_metadata() {
        add_metadata(conn, &mut runs)?;
    }
    runs.retain(|run| policy.is_expired(run, now));
    Ok(ExpiredPage {
        expired: runs,
        next,
        scanned,
    })
}

impl From<crate::model::StoredResult> for Run {
    fn from(r: crate::model::StoredResult) -> Run {
        let summary = r.summary.as_ref();
        Run {
            type_: summary.map(|s| s.type_.clone()),
            status: summary.map(|s| s.status),
            end_time: summary.and_then(|s| s.end_time),
            summary_record: summary.map(|s| s.record.clone()),
            name: r.name,
            uid: r.uid,
            create_time: r.create_time,
            update_time: r.update_time,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// What SQL can rule out: rows no rule (nor the default) could expire. `None` when the
/// policy expires nothing. A superset of the expired rows: the policy decides after.
fn prefilter(policy: &Policy, now: Timestamp) -> Option<Fragment> {
    let finite_rules = policy
        .rules
        .iter()
        .filter_map(|r| r.max_age.duration().map(|age| (r, age)));
    if let MaxAge::After(default) = policy.default {
        // Anything may fall to the default: only the youngest age bounds the scan.
        let youngest = finite_rules.map(|(_, age)| age).fold(default, Ord::min);
        let mut f = Fragment::new();
        f.sql(AGE_FROM)
            .sql(" < ")
            .bigint(cutoff(now, youngest).as_nanos());
        return Some(f);
    }
    // Only rules that delete can expire a row: it must satisfy one of them.
    let mut any: Option<Fragment> = None;
    for (rule, age) in finite_rules {
        let one = rule_condition(rule, cutoff(now, age));
        any = Some(match any {
            None => one,
            Some(previous) => {
                let mut f = Fragment::new();
                f.sql("(")
                    .append(previous)
                    .sql(") OR (")
                    .append(one)
                    .sql(")");
                f
            }
        });
    }
    any
}

/// What SQL can check of one rule, with its age.
fn rule_condition(rule: &Rule, cutoff: Timestamp) -> Fragment {
    let mut f = Fragment::new();
    f.sql(AGE_FROM).sql(" < ").bigint(cutoff.as_nanos());
    if let Some(namespaces) = rule.exact_namespaces() {
        f = f.and(in_list("results.parent", namespaces));
    }
    if !rule.types.is_empty() {
        f = f.and(in_list("results.summary_type", rule.types.iter()));
    }
    if !rule.statuses.is_empty() {
        let mut s = Fragment::new();
        s.sql("results.summary_status IN (");
        for (i, status) in rule.statuses.iter().enumerate() {
            if i > 0 {
                s.sql(", ");
            }
            s.bigint(*status as i64);
        }
        s.sql(")");
        if rule.statuses.contains(&Status::Unknown) {
            // No summary is UNKNOWN too.
            s.sql(" OR results.summary_status IS NULL");
        }
        f = f.and(s);
    }
    f
}

/// `column IN (?, …)`.
fn in_list<S: AsRef<str>>(column: &'static str, values: impl IntoIterator<Item = S>) -> Fragment {
    let mut f = Fragment::new();
    f.sql(column).sql(" IN (");
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            f.sql(", ");
        }
        f.text(value.as_ref());
    }
    f.sql(")");
    f
}

/// Reads the labels and annotations of each run from its summary Record (when it lies in
/// the run's own Result, as the watcher writes it): `metadata.labels` and
/// `metadata.annotations` only, extracted by the database.
fn add_metadata(conn: &mut Conn, runs: &mut [Run]) -> Result<()> {
    let mut wanted: HashMap<String, usize> = HashMap::new();
    let mut uids = HashSet::new();
    let mut names = HashSet::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(record) = run.summary_record.as_deref() else {
            continue;
        };
        let Ok(name) = RecordName::parse(record) else {
            continue;
        };
        if name.result_name() != run.name {
            continue;
        }
        uids.insert(run.uid.clone());
        names.insert(name.record.clone());
        wanted.insert(name.to_string(), i);
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let projection = Projection::paths(vec![
        vec!["metadata".into(), "labels".into()],
        vec!["metadata".into(), "annotations".into()],
    ])?;
    let columns = projection::columns(&projection, conn.backend());
    let uids: Vec<String> = uids.into_iter().collect();
    let names: Vec<String> = names.into_iter().collect();
    let rows: Vec<RecordRow> = with_conn!(conn, |c| records::table
        .filter(records::result_id.eq_any(&uids))
        .filter(records::name.eq_any(&names))
        .select(columns.clone())
        .load(c))
    .map_err(Error::db("reading the labels of expiring runs"))?;
    for row in rows {
        let record = projection::decode(&projection, row)?;
        let Some(&i) = wanted.get(&record.name.to_string()) else {
            continue;
        };
        let Ok(document) = serde_json::from_slice::<Value>(&record.data.value) else {
            continue;
        };
        runs[i].labels = strings(&document["metadata"]["labels"]);
        runs[i].annotations = strings(&document["metadata"]["annotations"]);
    }
    Ok(())
}

fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// How many Records, and of them Log Records, the Results with these uids hold (what a
/// delete of them would remove; for dry runs).
pub fn count_records(conn: &mut Conn, uids: &[String]) -> Result<(u64, u64)> {
    if uids.is_empty() {
        return Ok((0, 0));
    }
    let types: Vec<String> = with_conn!(conn, |c| records::table
        .filter(records::result_id.eq_any(uids))
        .select(records::data_type)
        .load(c))
    .map_err(Error::db("counting the records of expired results"))?;
    let logs = types.iter().filter(|t| is_log_type(t)).count();
    Ok((types.len() as u64, logs as u64))
}
