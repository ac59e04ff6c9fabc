//! The import loop: Results first (Records need theirs), each table in key order a page
//! at a time, every page converted, planned and written in one transaction; then the final
//! counts. The next page is read while one is written. Memory is bounded by two pages: at
//! most the batch size in rows each, and for Records at most [`PAGE_BYTES`] of documents
//! (plus one document of up to the document limit).

use std::sync::mpsc::SyncSender;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::convert::{self, record_display_name, result_display_name};
use super::error::ImportError;
use super::logs::{Copied, LogCopy};
use super::report::{Kind, Note, Progress, Report};
use super::upstream::{Upstream, UpstreamRecord, UpstreamResult};
use super::write::{self, Fate, ImportedRecord};
use crate::connection::Conn;
use crate::model::log::is_log_type;
use crate::model::StoredResult;
use crate::{Database, Error};

/// Rows per page and transaction unless `--batch` says otherwise.
pub const DEFAULT_BATCH: usize = 500;
/// Most rows per page and transaction (bound parameters per statement stay well under
/// every backend's limit).
pub const MAX_BATCH: usize = 1000;
/// Most bytes of Record documents read in one page.
const PAGE_BYTES: usize = 64 << 20;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Rows per page and transaction, 1…[`MAX_BATCH`].
    pub batch: usize,
    /// Where log bytes come from and go; `None` imports Log Records without their bytes.
    pub logs: Option<LogCopy>,
}

/// Imports everything `upstream` holds into `db`, telling `progress` as it goes. Objects
/// that cannot be imported are skipped and noted, never fatal; the error is for what stops
/// the whole import (a database or store that fails).
pub fn run(
    upstream: &mut Upstream,
    db: &Database,
    options: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<Report, ImportError> {
    let batch = options.batch.clamp(1, MAX_BATCH);
    let mut report = Report::default();
    let (results, records) = upstream.counts()?;
    report.results.upstream = results;
    report.records.upstream = records;
    progress.counted(results, records);
    let mut conn = db.get()?;

    // Upstream is read on a thread of its own, one page ahead of the writes (the channel
    // holds one page): reading and writing overlap, and memory stays at two pages. A
    // failed write drops the receiver, which stops the reader.
    let (pages, received) = std::sync::mpsc::sync_channel(1);
    std::thread::scope(|scope| {
        scope.spawn(move || read_pages(upstream, batch, pages));
        for page in received {
            match page? {
                Page::Results(page) => {
                    report.results.read += page.len() as u64;
                    let mut converted = Vec::with_capacity(page.len());
                    for row in &page {
                        match convert::result(row) {
                            Ok(result) => converted.push(result),
                            Err(reason) => skip(
                                &mut report,
                                progress,
                                Kind::Result,
                                &result_display_name(row),
                                &reason,
                            ),
                        }
                    }
                    import_results(&mut conn, &converted, &mut report, progress)?;
                }
                Page::Records(page) => {
                    report.records.read += page.len() as u64;
                    let mut converted = Vec::with_capacity(page.len());
                    for mut row in page {
                        match convert::record(&mut row) {
                            Ok(record) => converted.push(ImportedRecord {
                                record,
                                result_id: row.result_id,
                            }),
                            Err(reason) => skip(
                                &mut report,
                                progress,
                                Kind::Record,
                                &record_display_name(&row),
                                &reason,
                            ),
                        }
                    }
                    import_records(
                        &mut conn,
                        converted,
                        options.logs.as_ref(),
                        &mut report,
                        progress,
                    )?;
                }
            }
            progress.advanced(&report);
        }
        Ok::<_, ImportError>(())
    })?;

    report.ours = write::counts(&mut conn)?;
    Ok(report)
}

/// A page of upstream rows.
enum Page {
    Results(Vec<UpstreamResult>),
    Records(Vec<UpstreamRecord>),
}

/// Reads every Result, then every Record, a page at a time, into `pages`; stops at the
/// end, at the first error (sent on), or when the receiver is gone.
fn read_pages(upstream: &mut Upstream, batch: usize, pages: SyncSender<Result<Page, ImportError>>) {
    let mut after = None;
    loop {
        let page = match upstream.results(after.as_ref(), batch) {
            Ok(page) => page,
            Err(e) => return drop(pages.send(Err(e))),
        };
        let Some(last) = page.last() else { break };
        after = Some(last.key());
        if pages.send(Ok(Page::Results(page))).is_err() {
            return;
        }
    }
    let mut after = None;
    loop {
        let page = match upstream.records(after.as_ref(), batch, PAGE_BYTES) {
            Ok(page) => page,
            Err(e) => return drop(pages.send(Err(e))),
        };
        let Some(last) = page.last() else { break };
        after = Some(last.key());
        if pages.send(Ok(Page::Records(page))).is_err() {
            return;
        }
    }
}

fn skip(report: &mut Report, progress: &mut dyn Progress, kind: Kind, name: &str, reason: &str) {
    match kind {
        Kind::Result => report.results.skipped += 1,
        Kind::Record => report.records.skipped += 1,
        Kind::Log => report.logs_not_copied += 1,
    }
    progress.noted(Note { kind, name, reason });
}

/// A unique key violated while inserting: another writer took a name or uid between the
/// plan and the insert.
fn is_unique_violation(error: &Error) -> bool {
    matches!(
        error,
        Error::Database {
            source: DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _),
            ..
        }
    )
}

fn import_results(
    conn: &mut Conn,
    batch: &[StoredResult],
    report: &mut Report,
    progress: &mut dyn Progress,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let fates = write::plan_results(conn, batch)?;
    let mut new = Vec::new();
    for (result, fate) in batch.iter().zip(fates) {
        match fate {
            Fate::New => new.push(result),
            Fate::Present => report.results.present += 1,
            Fate::Skip(reason) => skip(
                report,
                progress,
                Kind::Result,
                &result.name.to_string(),
                &reason,
            ),
        }
    }
    match write::insert_results(conn, &new) {
        Ok(()) => report.results.imported += new.len() as u64,
        // A race with another writer: one at a time, so that only the loser is skipped.
        Err(e) if new.len() > 1 && is_unique_violation(&e) => {
            for result in new {
                import_results(conn, std::slice::from_ref(result), report, progress)?;
            }
        }
        Err(e) if is_unique_violation(&e) => skip(
            report,
            progress,
            Kind::Result,
            &new[0].name.to_string(),
            &e.to_string(),
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn import_records(
    conn: &mut Conn,
    mut batch: Vec<ImportedRecord>,
    logs: Option<&LogCopy>,
    report: &mut Report,
    progress: &mut dyn Progress,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let fates = write::plan_records(conn, &batch)?;
    let mut new = Vec::new();
    for (item, fate) in batch.iter_mut().zip(fates) {
        let name = item.record.name.to_string();
        match fate {
            Fate::Present => report.records.present += 1,
            Fate::Skip(reason) => skip(report, progress, Kind::Record, &name, &reason),
            Fate::New => {
                if is_log_type(&item.record.data.type_) {
                    copy_log(item, logs, report, progress)?;
                }
                new.push(&*item);
            }
        }
    }
    match write::insert_records(conn, &new) {
        Ok(()) => report.records.imported += new.len() as u64,
        Err(e) if new.len() > 1 && is_unique_violation(&e) => {
            let one_by_one: Vec<ImportedRecord> = new.into_iter().cloned().collect();
            for item in one_by_one {
                // Logs are copied already: the document points at our copy.
                import_records(conn, vec![item], None, report, progress)?;
            }
        }
        Err(e) if is_unique_violation(&e) => skip(
            report,
            progress,
            Kind::Record,
            &new[0].record.name.to_string(),
            &e.to_string(),
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn copy_log(
    item: &mut ImportedRecord,
    logs: Option<&LogCopy>,
    report: &mut Report,
    progress: &mut dyn Progress,
) -> Result<(), ImportError> {
    let name = item.record.name.to_string();
    let Some(logs) = logs else {
        let stored = serde_json::from_slice::<serde_json::Value>(&item.record.data.value)
            .is_ok_and(|doc| doc["status"]["isStored"] == serde_json::Value::Bool(true));
        if stored {
            let reason = "upstream stored its bytes, but no upstream log store was given \
                          (--logs-dir or --logs-s3-bucket): the Log Record is imported without them";
            skip(report, progress, Kind::Log, &name, reason);
        }
        return Ok(());
    };
    match logs.copy(&mut item.record)? {
        Copied::NothingStored => {}
        Copied::Bytes(size) => {
            report.logs_copied += 1;
            report.log_bytes += size;
        }
        Copied::Refused(reason) => skip(
            report,
            progress,
            Kind::Log,
            &name,
            &format!("{reason}; the Log Record is imported without its bytes"),
        ),
    }
    Ok(())
}
