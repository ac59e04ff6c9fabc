//! GetRecordListSummary: scans the filtered Records in keyset batches, reading only the
//! few JSON fields summaries need, and folds them into a [`Summarizer`].

use diesel::prelude::*;

use crate::connection::{with_conn, Conn};
use crate::filter::data_text;
use crate::model::RecordScope;
use crate::page::{Collection, Cursor, TokenSigner};
use crate::schema::records;
use crate::store::list::{record_scope, Plan};
use crate::store::ListRequest;
use crate::summary::{Summarizer, SummaryInput, SummaryRow, SummarySpec};
use crate::{Error, Result};

/// Rows read per round trip.
const BATCH: i32 = 2000;

type Scanned = (
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Summarises the Records under `scope` that match `filter`.
pub fn record_list_summary(
    conn: &mut Conn,
    scope: &RecordScope,
    filter: &str,
    spec: SummarySpec,
) -> Result<Vec<SummaryRow>> {
    let backend = conn.backend();
    let request = ListRequest {
        scope: scope.clone(),
        filter: filter.to_owned(),
        page_size: BATCH,
        page_token: String::new(),
        order_by: String::new(),
    };
    // An internal scan issues no page tokens, so the signer's key is never used.
    let mut plan = Plan::new(
        Collection::Records,
        backend,
        &TokenSigner::new(Vec::new()),
        &request,
    )?
    .with_indexed_paths(conn.indexed_paths());
    let mut summarizer = Summarizer::new(spec);
    loop {
        // The keyset before the filter, as in listings (SQLite seeks with the first bound).
        let condition = record_scope(scope)
            .and(plan.keyset())
            .and(plan.condition())
            .or_true();
        let order = plan.order_by();
        conn.note_statement_shape(condition.shape());
        let rows: Vec<Scanned> = with_conn!(conn, |c| records::table
            .into_boxed()
            .filter(condition)
            .order_by(order)
            .limit(i64::from(BATCH))
            .select((
                records::id,
                records::create_time,
                records::parent,
                data_text(&["status", "conditions", "0", "reason"], backend),
                data_text(&["status", "startTime"], backend),
                data_text(&["status", "completionTime"], backend),
                data_text(&["metadata", "labels", "tekton.dev/pipeline"], backend),
                data_text(
                    &[
                        "metadata",
                        "annotations",
                        "pipelinesascode.tekton.dev/repository"
                    ],
                    backend
                ),
            ))
            .load(c))
        .map_err(Error::db("summarising records"))?;
        let done = rows.len() < BATCH as usize;
        if let Some((id, create_time, ..)) = rows.last() {
            plan.after = Some(Cursor {
                keys: vec![*create_time],
                uid: id.clone(),
            });
        }
        for (_, _, parent, reason, start_time, completion_time, pipeline, repository) in rows {
            summarizer.add(SummaryInput {
                parent,
                reason,
                start_time,
                completion_time,
                pipeline,
                repository,
            });
        }
        if done {
            return Ok(summarizer.finish());
        }
    }
}
