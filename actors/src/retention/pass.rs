//! One retention pass: expired Results found a keyset page at a time (query pool), each
//! page's deleted in one short transaction (writer pool, so the change log gets a DELETED
//! event for every Record and Result, as DeleteResult logs them), then their logs' blobs.
//! Between batches the pass yields (and pauses, if configured): API writes queued meanwhile
//! go first, since the next batch queues behind them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use results_storage::blobs::BlobStore;
use results_storage::model::Timestamp;
use results_storage::retention::{Policy, MAX_BATCH};

use super::messages::{CountRecords, DeleteExpired, FindExpired};
use crate::logs::result_prefix;
use crate::{Actors, Error, Result};

/// Most Results one batch deletes (and one page reads).
pub const MAX_BATCH_SIZE: usize = MAX_BATCH;

/// Names of Results a report lists at most.
pub const SAMPLE: usize = 10;

/// How a pass runs.
#[derive(Debug, Clone)]
pub struct PassSettings {
    /// Which Results expire.
    pub policy: Arc<Policy>,
    /// Results deleted per transaction (and read per page), 1 to [`MAX_BATCH_SIZE`].
    pub batch_size: usize,
    /// A pause after each batch, leaving the database to API traffic.
    pub pause: Duration,
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
}

/// What a pass deleted (or, dry, would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Nothing was deleted: these are the counts a real pass would delete now.
    pub dry_run: bool,
    /// Results read (those SQL could not rule out).
    pub scanned: u64,
    /// Results deleted.
    pub results: u64,
    /// Their Records (Log Records included).
    pub records: u64,
    /// Of those, Log Records.
    pub log_records: u64,
    /// Log blobs deleted (0 in dry runs: blobs are not listed).
    pub log_blobs: u64,
    /// Expired Results left alone because they changed after they were judged (the next
    /// pass judges them again).
    pub changed: u64,
    /// Delete transactions.
    pub batches: u64,
    /// The first few Results' names.
    pub sample: Vec<String>,
    /// How long it took.
    pub duration: Duration,
}

impl Actors {
    /// Runs one retention pass as of `now`: deletes (or, dry, counts) every Result the
    /// policy expires. `still_leader` is asked before each batch; when it answers false
    /// the pass stops there. Log blobs go from `blobs` (none: left alone).
    pub async fn retention_pass<F, Fut>(
        &self,
        settings: &PassSettings,
        blobs: Option<&Arc<dyn BlobStore>>,
        now: Timestamp,
        mut still_leader: F,
    ) -> (PassReport, Result<()>)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let started = Instant::now();
        let mut report = PassReport {
            dry_run: settings.dry_run,
            ..PassReport::default()
        };
        let outcome = self
            .pass_pages(settings, blobs, now, &mut still_leader, &mut report)
            .await;
        report.duration = started.elapsed();
        (report, outcome)
    }

    async fn pass_pages<F, Fut>(
        &self,
        settings: &PassSettings,
        blobs: Option<&Arc<dyn BlobStore>>,
        now: Timestamp,
        still_leader: &mut F,
        report: &mut PassReport,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        if !settings.policy.deletes_anything() {
            return Ok(());
        }
        let limit = settings.batch_size.clamp(1, MAX_BATCH);
        let mut after = String::new();
        loop {
            if !still_leader().await? {
                return Err(Error::Retention(
                    "pass stopped: retention is stopping, or its lease went to another replica"
                        .into(),
                ));
            }
            let page = self
                .call_query(FindExpired {
                    policy: settings.policy.clone(),
                    now,
                    after: after.clone(),
                    limit,
                })
                .await?;
            report.scanned += page.scanned as u64;
            if !page.expired.is_empty() {
                if settings.dry_run {
                    let uids = page.expired.iter().map(|r| r.uid.clone()).collect();
                    let (records, logs) = self.call_query(CountRecords(uids)).await?;
                    report.results += page.expired.len() as u64;
                    report.records += records;
                    report.log_records += logs;
                    sample(report, page.expired.iter().map(|r| r.name.to_string()));
                } else {
                    let judged = page.expired.len() as u64;
                    let deleted = self.call_writer(DeleteExpired(page.expired)).await?;
                    report.batches += 1;
                    report.changed += judged - deleted.len() as u64;
                    for run in &deleted {
                        report.results += 1;
                        report.records += run.records;
                        report.log_records += run.log_records;
                        if let Some(store) = blobs {
                            report.log_blobs += forget_logs(store, &run.name).await;
                        }
                    }
                    sample(report, deleted.iter().map(|r| r.name.to_string()));
                }
            }
            match page.next {
                Some(next) => after = next,
                None => return Ok(()),
            }
            if settings.pause.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(settings.pause).await;
            }
        }
    }
}

fn sample(report: &mut PassReport, names: impl Iterator<Item = String>) {
    let room = SAMPLE.saturating_sub(report.sample.len());
    report.sample.extend(names.take(room));
}

/// Deletes the blobs of a deleted Result's logs; answers how many. A failure leaves them
/// orphaned (the Records are gone) and is logged, as DeleteResult does.
async fn forget_logs(
    store: &Arc<dyn BlobStore>,
    result: &results_storage::model::ResultName,
) -> u64 {
    let prefix = match result_prefix(result) {
        Ok(prefix) => prefix,
        Err(error) => {
            tracing::warn!(%error, result = %result, "log bytes left behind");
            return 0;
        }
    };
    match store.delete_prefix(&prefix).await {
        Ok(n) => n,
        Err(error) => {
            tracing::warn!(%error, prefix = prefix.as_str(), "log bytes left behind");
            0
        }
    }
}
