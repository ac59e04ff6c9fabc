//! Reading an upstream Tekton Results PostgreSQL database: its `results` and `records`
//! tables as upstream's gorm models create them, in primary-key order, a bounded page at a
//! time (keyset pagination: each page starts after the last key of the one before).

use diesel::data_types::PgTimestamp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};

use super::error::ImportError;
use crate::connection::redact;
use crate::limits::MAX_DOCUMENT_BYTES;

/// A connection to the upstream database.
pub struct Upstream {
    conn: PgConnection,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

/// A row of upstream's `results`.
#[derive(Debug, Clone, QueryableByName)]
pub struct UpstreamResult {
    /// The namespace.
    #[diesel(sql_type = Text)]
    pub parent: String,
    /// The uid.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// The short name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// `annotations` as JSON text (NULL, `null` or an object).
    #[diesel(sql_type = Nullable<Text>)]
    pub annotations: Option<String>,
    /// `created_time`.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub created_time: Option<PgTimestamp>,
    /// `updated_time`.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated_time: Option<PgTimestamp>,
    /// `recordsummary_record`: the summary exists when it is not empty (as upstream reads it).
    #[diesel(sql_type = Nullable<Text>)]
    pub summary_record: Option<String>,
    /// `recordsummary_type`.
    #[diesel(sql_type = Nullable<Text>)]
    pub summary_type: Option<String>,
    /// `recordsummary_start_time`.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub summary_start_time: Option<PgTimestamp>,
    /// `recordsummary_end_time`.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub summary_end_time: Option<PgTimestamp>,
    /// `recordsummary_status`.
    #[diesel(sql_type = Nullable<Integer>)]
    pub summary_status: Option<i32>,
    /// `recordsummary_annotations` as JSON text.
    #[diesel(sql_type = Nullable<Text>)]
    pub summary_annotations: Option<String>,
}

/// A row of upstream's `records`.
#[derive(Debug, Clone, QueryableByName)]
pub struct UpstreamRecord {
    /// The namespace.
    #[diesel(sql_type = Text)]
    pub parent: String,
    /// The uid of its Result.
    #[diesel(sql_type = Text)]
    pub result_id: String,
    /// The short name of its Result.
    #[diesel(sql_type = Text)]
    pub result_name: String,
    /// The uid.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// The short name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// The data type.
    #[diesel(sql_type = Nullable<Text>)]
    pub type_: Option<String>,
    /// The document as JSON text; NULL when absent, or when larger than
    /// [`MAX_DOCUMENT_BYTES`] (then `data_bytes` says how large).
    #[diesel(sql_type = Nullable<Text>)]
    pub data: Option<String>,
    /// The size of the document's JSON text.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub data_bytes: Option<i64>,
    /// `created_time`.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub created_time: Option<PgTimestamp>,
    /// `updated_time`.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated_time: Option<PgTimestamp>,
}

/// Where the next page of Results starts: after this `(parent, id)`.
pub type ResultKey = (String, String);
/// Where the next page of Records starts: after this `(parent, result_id, id)`.
pub type RecordKey = (String, String, String);

impl UpstreamResult {
    /// Its key.
    pub fn key(&self) -> ResultKey {
        (self.parent.clone(), self.id.clone())
    }
}

impl UpstreamRecord {
    /// Its key.
    pub fn key(&self) -> RecordKey {
        (self.parent.clone(), self.result_id.clone(), self.id.clone())
    }
}

macro_rules! result_columns {
    () => {
        "SELECT parent, id, name, annotations::text AS annotations, created_time, \
         updated_time, recordsummary_record AS summary_record, \
         recordsummary_type AS summary_type, recordsummary_start_time AS summary_start_time, \
         recordsummary_end_time AS summary_end_time, recordsummary_status AS summary_status, \
         recordsummary_annotations::text AS summary_annotations FROM results "
    };
}

const RESULTS_FIRST: &str = concat!(result_columns!(), "ORDER BY parent, id LIMIT $1");
const RESULTS_AFTER: &str = concat!(
    result_columns!(),
    "WHERE (parent, id) > ($2, $3) ORDER BY parent, id LIMIT $1"
);

// A page of Records: at most $1 rows, and no more documents than $2 bytes together (the
// first row always comes, so that a page is never empty while rows remain). Documents
// larger than $3 bytes are not sent, only measured: they are skipped anyway. Each document
// is rendered as text once, in the innermost query (a subquery with LIMIT is never merged
// into the outer ones, which would render it again for every use).
macro_rules! records_page {
    ($after:literal) => {
        concat!(
            "SELECT parent, result_id, result_name, id, name, type_, \
             CASE WHEN data_bytes <= $3 THEN data_text END AS data, data_bytes, \
             created_time, updated_time \
             FROM (SELECT sized.*, SUM(CASE WHEN data_bytes <= $3 THEN data_bytes ELSE 0 END) \
                       OVER (ORDER BY parent, result_id, id) AS running \
                   FROM (SELECT rows.*, octet_length(data_text)::bigint AS data_bytes \
                         FROM (SELECT parent, result_id, result_name, id, name, \
                               \"type\" AS type_, data::text AS data_text, created_time, \
                               updated_time FROM records ",
            $after,
            " ORDER BY parent, result_id, id LIMIT $1) rows) sized) page \
             WHERE running - (CASE WHEN data_bytes <= $3 THEN data_bytes ELSE 0 END) < $2 \
             ORDER BY parent, result_id, id"
        )
    };
}

const RECORDS_FIRST: &str = records_page!("");
const RECORDS_AFTER: &str = records_page!("WHERE (parent, result_id, id) > ($4, $5, $6)");

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

impl Upstream {
    /// Connects to the upstream database at `url` (`postgres://` or `postgresql://`).
    pub fn connect(url: &str) -> Result<Upstream, ImportError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ImportError::BadUrl(redact(url)));
        }
        let conn = PgConnection::establish(url).map_err(|source| ImportError::Connect {
            url: redact(url),
            source,
        })?;
        Ok(Upstream { conn })
    }

    /// How many Results and Records upstream holds now.
    pub fn counts(&mut self) -> Result<(u64, u64), ImportError> {
        let results = diesel::sql_query("SELECT count(*) AS count FROM results")
            .get_result::<Count>(&mut self.conn)
            .map_err(ImportError::upstream("counting results"))?;
        let records = diesel::sql_query("SELECT count(*) AS count FROM records")
            .get_result::<Count>(&mut self.conn)
            .map_err(ImportError::upstream("counting records"))?;
        Ok((results.count as u64, records.count as u64))
    }

    /// At most `limit` Results after `after` (from the first when `None`), in key order.
    pub fn results(
        &mut self,
        after: Option<&ResultKey>,
        limit: usize,
    ) -> Result<Vec<UpstreamResult>, ImportError> {
        let limit = limit as i64;
        match after {
            None => diesel::sql_query(RESULTS_FIRST)
                .bind::<BigInt, _>(limit)
                .load(&mut self.conn),
            Some((parent, id)) => diesel::sql_query(RESULTS_AFTER)
                .bind::<BigInt, _>(limit)
                .bind::<Text, _>(parent)
                .bind::<Text, _>(id)
                .load(&mut self.conn),
        }
        .map_err(ImportError::upstream("reading results"))
    }

    /// At most `limit` Records after `after` (from the first when `None`), in key order,
    /// whose documents take at most `budget` bytes together (at least one Record, whatever
    /// its size).
    pub fn records(
        &mut self,
        after: Option<&RecordKey>,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<UpstreamRecord>, ImportError> {
        let limit = limit as i64;
        let budget = budget as i64;
        let largest = MAX_DOCUMENT_BYTES as i64;
        match after {
            None => diesel::sql_query(RECORDS_FIRST)
                .bind::<BigInt, _>(limit)
                .bind::<BigInt, _>(budget)
                .bind::<BigInt, _>(largest)
                .load(&mut self.conn),
            Some((parent, result_id, id)) => diesel::sql_query(RECORDS_AFTER)
                .bind::<BigInt, _>(limit)
                .bind::<BigInt, _>(budget)
                .bind::<BigInt, _>(largest)
                .bind::<Text, _>(parent)
                .bind::<Text, _>(result_id)
                .bind::<Text, _>(id)
                .load(&mut self.conn),
        }
        .map_err(ImportError::upstream("reading records"))
    }
}
