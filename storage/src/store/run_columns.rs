//! What GetRecordListSummary reads of a Record's document, extracted once when the
//! document is written and stored in `records.run_*` (migration `000010_run_columns`),
//! so that a summary aggregates integers in SQL instead of reading and parsing JSON per
//! row (see [`super::summary`]).
//!
//! [`run_columns`] has exactly the fold's semantics ([`crate::summary::Summarizer`]):
//! the same reason classes ([`Class::of`]) and the same time parsing
//! ([`parse_time`]). A time that is absent or does not parse is NULL, as the fold treats
//! both alike. `run_state` is 1 only when the columns say all the fold would read of the
//! row; 0 sends the row to the fold of its document ([`super::summary`]'s fallback pass):
//! a time before 1970 or beyond an i64 of nanoseconds (there the fold still buckets it,
//! and SQL's integer division of negative numbers would not floor), a leap second (its
//! nanoseconds are the next day's midnight, its bucket is in its own day), and any document
//! whose shape the databases' JSON paths might read differently from serde (an array
//! where an object is expected, a key given twice, a reason or time that is not a string).
//!
//! The document is deserialized only as far as these fields: serde skips the rest
//! without building it (12.7 µs per 15 KiB PipelineRun, a quarter of what the
//! validation every write already does costs; `run_columns_cost`).
//!
//! Rows written before the migration hold NULL until [`backfill_run_columns`] reaches
//! them; summaries fold them meanwhile, so answers never depend on the backfill.

use std::borrow::Cow;
use std::marker::PhantomData;

use chrono::Timelike;
use diesel::prelude::*;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::connection::{with_conn, Conn};
use crate::json::JsonText;
use crate::schema::records;
use crate::summary::{nanos, parse_time, Class};
use crate::{Error, Result};

/// The `run_*` columns of one Record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Insertable, AsChangeset)]
#[diesel(table_name = records, treat_none_as_null = true)]
pub struct RunColumns {
    /// 1: the columns below are what the fold reads; 0: fold the document; NULL: not
    /// extracted yet.
    pub run_state: Option<i16>,
    /// [`Class`] of the reason.
    pub run_reason: Option<i16>,
    /// Start, Unix nanoseconds.
    pub run_start: Option<i64>,
    /// Completion, Unix nanoseconds.
    pub run_end: Option<i64>,
}

/// The row must be folded from its document.
const FOLD: RunColumns = RunColumns {
    run_state: Some(0),
    run_reason: None,
    run_start: None,
    run_end: None,
};

/// Extracts the `run_*` columns of `document` (the bytes of `data.value`, already
/// checked to be one JSON document; empty when there is none).
pub fn run_columns(document: &[u8]) -> RunColumns {
    if document.is_empty() {
        return RunColumns {
            run_state: Some(1),
            run_reason: Some(Class::Other as i16),
            run_start: None,
            run_end: None,
        };
    }
    // A document that is JSON null reads as one without any of the fields.
    let Ok(doc) = serde_json::from_slice::<Option<Obj<Doc<'_>>>>(document) else {
        return FOLD;
    };
    let status = doc.and_then(|Obj(d)| d.status).map(|Obj(s)| s);
    let reason = status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.0.as_ref())
        .and_then(|c| c.as_ref())
        .and_then(|Obj(c)| c.reason.as_deref());
    // A time the fold reads: absent or unparsable is None (as in the fold); one that
    // parses must be Unix nanoseconds from 0 to i64::MAX and no leap second (chrono's
    // 23:59:60 counts as the next day's midnight in nanoseconds but is bucketed in its
    // own day), or the row is folded.
    let time = |text: Option<&Cow<'_, str>>| -> std::result::Result<Option<i64>, ()> {
        match parse_time(text.map(|t| t.as_ref())) {
            None => Ok(None),
            Some(t) => match nanos(t) {
                Some(n) if n >= 0 && t.nanosecond() < 1_000_000_000 => Ok(Some(n)),
                _ => Err(()),
            },
        }
    };
    let (Ok(start), Ok(end)) = (
        time(status.as_ref().and_then(|s| s.start_time.as_ref())),
        time(status.as_ref().and_then(|s| s.completion_time.as_ref())),
    ) else {
        return FOLD;
    };
    RunColumns {
        run_state: Some(1),
        run_reason: Some(Class::of(reason) as i16),
        run_start: start,
        run_end: end,
    }
}

/// The fields of a document that summaries read; serde skips all others.
#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    status: Option<Obj<Status<'a>>>,
}

#[derive(Deserialize)]
struct Status<'a> {
    #[serde(borrow)]
    conditions: Option<First<Option<Obj<Condition<'a>>>>>,
    #[serde(borrow, rename = "startTime")]
    start_time: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "completionTime")]
    completion_time: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Condition<'a> {
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
}

/// A `T` read only from a JSON object: a derived struct would also accept an array (its
/// fields by position), which a JSON path does not read as an object.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(Obj)
    }
}

/// The first element of a JSON array (None when empty); the others are skipped.
struct First<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<First<T>, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// Rows read per batch of [`backfill_run_columns`].
pub const BACKFILL_BATCH: i64 = 500;

/// The scan of [`backfill_run_columns`]: the ids of up to [`BACKFILL_BATCH`] rows not
/// extracted yet (`run_state` NULL) whose id sorts after `after`, in id order.
///
/// Ids only, never the documents: MariaDB fetches a selected off-page document for every
/// row it reads, matching or not, so a scan that selected `data` read every document in
/// the table at every start, long after the last row was filled. On PostgreSQL and SQLite
/// the partial index `records_run_pending` (migration `000011`) holds exactly these rows,
/// so once the pass is done the scan reads an empty index; MariaDB has no partial
/// indexes and walks the primary key, reading no document.
#[diesel::dsl::auto_type]
pub(crate) fn pending_ids<'a>(after: &'a str) -> _ {
    let batch: i64 = BACKFILL_BATCH;
    records::table
        .filter(records::run_state.is_null())
        .filter(records::id.gt(after))
        .order_by(records::id)
        .limit(batch)
        .select(records::id)
}

/// One batch of [`backfill_run_columns`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillBatch {
    /// The id to continue after.
    pub last: String,
    /// Rows this batch filled (fewer than it read when writers filled some meanwhile).
    pub filled: u64,
}

/// Fills the `run_*` columns of up to [`BACKFILL_BATCH`] rows written before they
/// existed (`run_state` NULL) whose id sorts after `after` ([`pending_ids`]), in one
/// transaction; None when no such row is left. Idempotent, and safe beside writers: a
/// row is only written while its `run_state` is still NULL (a writer that rewrote the
/// document meanwhile also filled the columns).
pub fn backfill_run_columns(conn: &mut Conn, after: &str) -> Result<Option<BackfillBatch>> {
    let ids: Vec<String> = with_conn!(conn, |c| pending_ids(after).load(c))
        .map_err(Error::db("reading records to backfill"))?;
    let Some(last) = ids.last().cloned() else {
        return Ok(None);
    };
    let filled = conn.transaction(|conn| {
        let rows: Vec<(String, Option<JsonText>)> = with_conn!(conn, |c| records::table
            .filter(records::id.eq_any(&ids))
            .filter(records::run_state.is_null())
            .select((records::id, records::data))
            .load(c))
        .map_err(Error::db("reading records to backfill"))?;
        let mut filled = 0;
        for (id, data) in &rows {
            let columns = run_columns(data.as_ref().map_or(&[][..], |d| d.0.as_bytes()));
            filled += with_conn!(conn, |c| diesel::update(
                records::table
                    .filter(records::id.eq(id))
                    .filter(records::run_state.is_null())
            )
            .set(&columns)
            .execute(c))
            .map_err(Error::db("backfilling records"))? as u64;
        }
        Ok(filled)
    })?;
    Ok(Some(BackfillBatch { last, filled }))
}

/// Runs [`backfill_run_columns`] to the end; returns how many batches it took.
pub fn backfill_all_run_columns(conn: &mut Conn) -> Result<usize> {
    let mut after = String::new();
    let mut batches = 0;
    while let Some(batch) = backfill_run_columns(conn, &after)? {
        after = batch.last;
        batches += 1;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(doc: &str) -> RunColumns {
        run_columns(doc.as_bytes())
    }

    fn handled(reason: Class, start: Option<i64>, end: Option<i64>) -> RunColumns {
        RunColumns {
            run_state: Some(1),
            run_reason: Some(reason as i16),
            run_start: start,
            run_end: end,
        }
    }

    #[test]
    fn extracts_what_the_fold_reads() {
        let s = 1_704_067_200_000_000_000; // 2024-01-01T00:00:00Z
        let doc = r#"{"metadata": {"name": "x"}, "spec": {"a": [1, {"b": null}]},
            "status": {"conditions": [{"type": "Succeeded", "reason": "Completed"},
                                      {"reason": 7}],
                       "startTime": "2024-01-01T00:00:00Z",
                       "completionTime": "2024-01-01T02:00:00.5+02:00"}}"#;
        assert_eq!(
            columns(doc),
            handled(Class::Succeeded, Some(s), Some(s + 500_000_000))
        );
        for (doc, want) in [
            ("", handled(Class::Other, None, None)),
            ("{}", handled(Class::Other, None, None)),
            ("null", handled(Class::Other, None, None)),
            (r#"{"status": null}"#, handled(Class::Other, None, None)),
            (
                r#"{"status": {"conditions": []}}"#,
                handled(Class::Other, None, None),
            ),
            (
                r#"{"status": {"conditions": null, "startTime": null}}"#,
                handled(Class::Other, None, None),
            ),
            (
                r#"{"status": {"conditions": [null]}}"#,
                handled(Class::Other, None, None),
            ),
            (
                r#"{"status": {"conditions": [{"reason": "CancelledRunFinally"}]}}"#,
                handled(Class::Cancelled, None, None),
            ),
            (
                r#"{"status": {"conditions": [{"reason": "Pending"}],
                     "startTime": "not a time", "completionTime": "2024-01-01"}}"#,
                handled(Class::Running, None, None),
            ),
            (
                r#"{"status": {"conditions": [{"reason": "Fail\u0065d"}],
                     "startTime": "1970-01-01T00:00:00Z"}}"#,
                handled(Class::Failed, Some(0), None),
            ),
            // Before 1970, beyond i64 nanoseconds: folded.
            (r#"{"status": {"startTime": "1969-12-31T23:59:59Z"}}"#, FOLD),
            (
                r#"{"status": {"completionTime": "2262-04-12T00:00:00Z"}}"#,
                FOLD,
            ),
            // A leap second: nanoseconds of the next day, bucketed in its own.
            (r#"{"status": {"startTime": "2024-06-30T23:59:60Z"}}"#, FOLD),
            (
                r#"{"status": {"startTime": "2024-06-30T23:59:60.5Z"}}"#,
                FOLD,
            ),
            // Shapes a JSON path might read otherwise: folded.
            ("[]", FOLD),
            (r#"[{"status": {}}]"#, FOLD),
            (r#"{"status": [{"conditions": []}]}"#, FOLD),
            (
                r#"{"status": {"conditions": {"0": {"reason": "Failed"}}}}"#,
                FOLD,
            ),
            (r#"{"status": {"conditions": [["Failed"]]}}"#, FOLD),
            (r#"{"status": {"conditions": [{"reason": 1}]}}"#, FOLD),
            (r#"{"status": {"startTime": 1704067200}}"#, FOLD),
            (r#"{"status": {}, "status": {}}"#, FOLD),
            (r#"{"status": {"startTime": "a", "startTime": "b"}}"#, FOLD),
            ("7", FOLD),
        ] {
            assert_eq!(columns(doc), want, "{doc}");
        }
    }

    /// The backfill's scan reads ids in id order without a sort: through the partial
    /// index of the rows left (`records_run_pending`) on PostgreSQL and SQLite, so that a
    /// start after the pass is done reads nothing; along the primary key on MariaDB. Its
    /// rows are the ids of the rows left, in order, in batches.
    fn backfill_scan(backend: crate::Backend) {
        let db = crate::testing::TestDb::migrated(backend);
        let conn = &mut db.database().get().unwrap();
        crate::testing::run_columns_fixture(conn, 1100).unwrap();
        crate::testing::bulk::analyze(conn);
        let plan = crate::testing::explain_backfill_scan(conn, "").unwrap();
        let walked = if backend == crate::Backend::Mysql {
            "PRIMARY"
        } else {
            "records_run_pending"
        };
        assert_eq!(
            plan.ordered_by_index("records"),
            Some(walked),
            "{backend:?}:\n{plan}"
        );
        assert!(!plan.scans_table_fully("records"), "{backend:?}:\n{plan}");
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&pending_ids("")).to_string();
        assert!(
            sql.starts_with("SELECT `records`.`id` FROM "),
            "the scan reads ids, no documents: {sql}"
        );

        let first: Vec<String> = with_conn!(conn, |c| pending_ids("").load(c)).unwrap();
        assert_eq!(first.len() as i64, BACKFILL_BATCH);
        assert!(first.windows(2).all(|w| w[0] < w[1]), "in id order");
        assert_eq!(
            backfill_run_columns(conn, "").unwrap(),
            Some(BackfillBatch {
                last: first.last().unwrap().clone(),
                filled: BACKFILL_BATCH as u64
            })
        );
        let left: Vec<String> = with_conn!(conn, |c| pending_ids("").load(c)).unwrap();
        assert!(
            left.iter().all(|id| !first.contains(id)) && left.len() as i64 == BACKFILL_BATCH,
            "the filled batch is no longer pending"
        );
        backfill_all_run_columns(conn).unwrap();
        let left: Vec<String> = with_conn!(conn, |c| pending_ids("").load(c)).unwrap();
        assert!(left.is_empty(), "{backend:?}: {} left", left.len());
    }

    crate::on_every_backend!(backfill_scan);

    /// `RUN_COLUMNS_FIGURES=1 cargo test --release -p results-storage --lib
    /// run_columns_cost -- --nocapture` prints what extracting the columns costs per
    /// document of about 15 KiB, beside the validation parse every write does.
    #[test]
    fn run_columns_cost() {
        if std::env::var_os("RUN_COLUMNS_FIGURES").is_none() {
            return;
        }
        let params: Vec<serde_json::Value> = (0..60)
            .map(|p| serde_json::json!({"name": format!("param-{p}"), "value": "v".repeat(200)}))
            .collect();
        let doc = serde_json::json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"name": "run", "labels": {"tekton.dev/pipeline": "p"}},
            "spec": {"params": params},
            "status": {
                "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
                "startTime": "2024-01-01T00:00:00Z",
                "completionTime": "2024-01-01T00:10:00Z",
                "childReferences": (0..20).map(|i| serde_json::json!({"name": format!("task-{i}"), "kind": "TaskRun"})).collect::<Vec<_>>(),
            },
        });
        let bytes = serde_json::to_vec(&doc).unwrap();
        let n = 20_000;
        let time = |f: &dyn Fn()| {
            let t = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() / f64::from(n) * 1e6
        };
        let extract = time(&|| {
            std::hint::black_box(run_columns(std::hint::black_box(&bytes)));
        });
        let validate = time(&|| {
            crate::model::RecordData::new("t".into(), std::hint::black_box(bytes.clone())).unwrap();
        });
        println!(
            "document {} bytes: run_columns {extract:.1} µs, RecordData::new (validation) \
             {validate:.1} µs",
            bytes.len()
        );
    }
}
