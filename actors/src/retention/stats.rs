//! Retention's cumulative counters, shared between the retention actor and whoever
//! exports them (`/metrics`): plain atomics behind an `Arc`, read as a snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::pass::PassReport;

/// The live counters (see [`RetentionCounts`]).
#[derive(Debug, Default)]
pub struct RetentionStats {
    passes: AtomicU64,
    failed_passes: AtomicU64,
    results_deleted: AtomicU64,
    records_deleted: AtomicU64,
    log_blobs_deleted: AtomicU64,
    last_pass_micros: AtomicU64,
    leader: AtomicBool,
}

/// A snapshot of retention's counters (monotonic but for the last duration and the
/// leader flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionCounts {
    /// Passes that ran to the end (dry runs included).
    pub passes: u64,
    /// Passes that stopped on an error (or on losing the lease).
    pub failed_passes: u64,
    /// Results deleted (dry runs delete nothing and count nothing here).
    pub results_deleted: u64,
    /// Records deleted with them (Log Records included).
    pub records_deleted: u64,
    /// Log blobs (files or objects) deleted with them.
    pub log_blobs_deleted: u64,
    /// How long the last pass (ended or failed) took.
    pub last_pass_duration: Duration,
    /// Whether this replica holds the retention lease.
    pub leader: bool,
}

impl RetentionStats {
    /// Its counters now.
    pub fn counts(&self) -> RetentionCounts {
        RetentionCounts {
            passes: self.passes.load(Ordering::Relaxed),
            failed_passes: self.failed_passes.load(Ordering::Relaxed),
            results_deleted: self.results_deleted.load(Ordering::Relaxed),
            records_deleted: self.records_deleted.load(Ordering::Relaxed),
            log_blobs_deleted: self.log_blobs_deleted.load(Ordering::Relaxed),
            last_pass_duration: Duration::from_micros(
                self.last_pass_micros.load(Ordering::Relaxed),
            ),
            leader: self.leader.load(Ordering::Relaxed),
        }
    }

    /// Adds what a pass (or a failed pass, so far) deleted.
    pub(crate) fn record(&self, report: &PassReport, failed: bool) {
        let counter = if failed {
            &self.failed_passes
        } else {
            &self.passes
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !report.dry_run {
            self.results_deleted
                .fetch_add(report.results, Ordering::Relaxed);
            self.records_deleted
                .fetch_add(report.records, Ordering::Relaxed);
            self.log_blobs_deleted
                .fetch_add(report.log_blobs, Ordering::Relaxed);
        }
        self.last_pass_micros.store(
            u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }
}
