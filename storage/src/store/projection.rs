//! Reads of Records under a [`Projection`]: the SQL selected in place of the `data`
//! column, and the document rebuilt from what it read. Paths are bound parameters; the
//! database extracts each path's value (as far as plain keys lead), so only those
//! values leave it, never the whole document.

use diesel::sql_types::{BigInt, Nullable};
use serde_json::Value;

use crate::connection::Backend;
use crate::fragment::Fragment;
use crate::json::Json;
use crate::model::{assemble, follow, DataPath, Projection, StoredRecord};
use crate::rows::RecordRow;
use crate::schema::records;
use crate::{Error, Result};

/// The SQL type of what stands in for the `data` column.
pub(crate) type DataColumn = Fragment<Nullable<Json>>;

/// The columns of a projected Record row, in [`RecordRow`]'s order.
pub(crate) type Columns = (
    records::id,
    records::result_id,
    records::parent,
    records::result_name,
    records::name,
    records::data_type,
    DataColumn,
    records::create_time,
    records::update_time,
    records::data_bytes,
);

/// The select list of a listed Record: its columns, with the document only when it is at
/// most a chunk's per-row budget, then the document's size in bytes (0 when absent).
pub(super) type ListedColumns = (Columns, Fragment<BigInt>);

/// The select list of a Record read under `projection`.
pub(crate) fn columns(projection: &Projection, backend: Backend) -> Columns {
    with_data(data_column(projection, backend))
}

/// The select list of a Record listed under `projection`, sending documents (what the
/// projection reads of them) of at most `row_bytes` bytes; the budget is a bound parameter,
/// so every budget runs the same statement.
pub(super) fn listed_columns(
    projection: &Projection,
    backend: Backend,
    row_bytes: i64,
) -> ListedColumns {
    let mut data = DataColumn::new();
    data.sql("CASE WHEN ")
        .append(data_bytes(projection, backend))
        .sql(" <= ")
        .bigint(row_bytes)
        .sql(" THEN ")
        .append(data_column(projection, backend))
        .sql(" ELSE NULL END");
    let mut bytes = Fragment::<BigInt>::new();
    bytes
        .sql("COALESCE(")
        .append(data_bytes(projection, backend))
        .sql(", 0)");
    (with_data(data), bytes)
}

/// The size in bytes of the text of what is read in place of `data` (NULL when absent).
/// A whole document's size was stored when it was written (`records.data_bytes`, see
/// [`super::stored_size`]); only rows written before that column existed are measured,
/// which on PostgreSQL renders the `jsonb` as text once more. What a projection reads of
/// a document is measured: it is small, and no size of it was stored.
fn data_bytes(projection: &Projection, backend: Backend) -> Fragment<BigInt> {
    let measured = text_bytes(data_column(projection, backend), backend);
    if *projection != Projection::Whole {
        return measured;
    }
    let mut f = Fragment::new();
    f.sql("COALESCE(records.data_bytes, ")
        .append(measured)
        .sql(")");
    f
}

/// The size in bytes of a JSON value's text, as a BIGINT (NULL when it is NULL).
pub(super) fn text_bytes<ST>(json: Fragment<ST>, backend: Backend) -> Fragment<BigInt> {
    let mut f = Fragment::new();
    f.sql(match backend {
        Backend::Postgres => "CAST(octet_length(CAST(",
        Backend::Sqlite => "length(CAST(",
        Backend::Mysql => "CAST(LENGTH(",
    });
    f.append(json);
    f.sql(match backend {
        Backend::Postgres => " AS text)) AS BIGINT)",
        Backend::Sqlite => " AS BLOB))",
        Backend::Mysql => ") AS SIGNED)",
    });
    f
}

fn with_data(data: DataColumn) -> Columns {
    (
        records::id,
        records::result_id,
        records::parent,
        records::result_name,
        records::name,
        records::data_type,
        data,
        records::create_time,
        records::update_time,
        records::data_bytes,
    )
}

/// The distinct prefixes the database extracts, and for each path which one is its own.
fn extracted(paths: &[DataPath]) -> (Vec<&[String]>, Vec<usize>) {
    let mut prefixes: Vec<&[String]> = Vec::new();
    let own = paths
        .iter()
        .map(|p| {
            let prefix = &p.steps()[..p.database_steps()];
            match prefixes.iter().position(|q| *q == prefix) {
                Some(i) => i,
                None => {
                    prefixes.push(prefix);
                    prefixes.len() - 1
                }
            }
        })
        .collect();
    (prefixes, own)
}

/// A JSON path for SQLite's `->` and MySQL's `JSON_EXTRACT`: `$."key"."key"`.
/// [`DataPath::database_steps`] keeps `"`, `\` and control characters out of the keys.
fn path_text(steps: &[String]) -> String {
    let mut path = String::from("$");
    for step in steps {
        path.push_str(".\"");
        path.push_str(step);
        path.push('"');
    }
    path
}

/// What is selected in place of `data`: the column, NULL, or a JSON array holding the
/// value at each extracted prefix (NULL when the document is absent).
fn data_column(projection: &Projection, backend: Backend) -> DataColumn {
    let mut f = Fragment::new();
    let paths = match projection {
        Projection::Whole => {
            f.sql("records.data");
            return f;
        }
        Projection::NoData => {
            f.sql(match backend {
                Backend::Postgres => "CAST(NULL AS jsonb)",
                _ => "NULL",
            });
            return f;
        }
        Projection::Paths(paths) => paths,
    };
    f.sql("CASE WHEN records.data IS NULL THEN NULL ELSE ");
    f.sql(match backend {
        Backend::Postgres => "jsonb_build_array(",
        Backend::Sqlite => "json_array(",
        Backend::Mysql => "JSON_ARRAY(",
    });
    for (i, prefix) in extracted(paths).0.into_iter().enumerate() {
        if i > 0 {
            f.sql(", ");
        }
        match backend {
            Backend::Postgres if prefix.is_empty() => {
                f.sql("records.data");
            }
            Backend::Postgres => {
                f.sql("jsonb_extract_path(records.data");
                for step in prefix {
                    f.sql(", ").text(step.clone());
                }
                f.sql(")");
            }
            // `->` gives JSON (strings quoted, true stays true), unlike json_extract.
            Backend::Sqlite => {
                f.sql("(records.data -> ").text(path_text(prefix)).sql(")");
            }
            Backend::Mysql => {
                f.sql("JSON_EXTRACT(records.data, ")
                    .text(path_text(prefix))
                    .sql(")");
            }
        }
    }
    f.sql(") END");
    f
}

/// The Record of a row read with [`columns`] under `projection`.
pub(crate) fn decode(projection: &Projection, mut row: RecordRow) -> Result<StoredRecord> {
    let read = row.data.take();
    let mut record = row.into_model();
    record.data.value = match (projection, read) {
        (Projection::Whole, Some(doc)) => doc.0.into_bytes(),
        (Projection::Paths(paths), Some(array)) => {
            let (prefixes, own) = extracted(paths);
            let values: Vec<Value> = serde_json::from_str(&array.0)
                .map_err(|e| Error::Corrupt(format!("projected data: {e}")))?;
            if values.len() != prefixes.len() {
                return Err(Error::Corrupt(format!(
                    "projected data: {} values for {} paths",
                    values.len(),
                    prefixes.len()
                )));
            }
            let at_paths = paths
                .iter()
                .zip(own)
                .map(|(p, i)| follow(&values[i], &p.steps()[p.database_steps()..]).cloned())
                .collect();
            assemble(paths, at_paths)
        }
        (_, _) => Vec::new(),
    };
    Ok(record)
}
