//! The background pass that fills `records.run_*` (what summaries read of each document,
//! see `results_storage::store::backfill_run_columns`) for Records written before those
//! columns existed. Summaries are exact meanwhile (they fold such rows in Rust), only
//! slower; once the pass is done they aggregate every row in SQL.
//!
//! One thread per process, started with the server: keyset batches of 500 rows by id
//! (the scan reads ids only, through a partial index of the rows left where the backend
//! has them, so a start after the pass is done reads next to nothing), each in its own
//! short transaction, with a pause between batches so that the API's
//! writes keep the database. The pass is idempotent (it writes a row only while its
//! `run_state` is still NULL), so replicas starting together merely repeat each other's
//! reads, and a pass cut short by a restart resumes from the start of what is left.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use results_storage::store::backfill_run_columns;
use results_storage::Database;

/// Pause between batches.
const PAUSE: Duration = Duration::from_millis(20);

/// Where this replica's pass is, read by `/metrics`
/// (`results_api_run_columns_backfill_*`).
#[derive(Debug, Default)]
pub struct BackfillStats {
    filled: AtomicU64,
    state: AtomicU8,
}

/// The state of the pass, as the metric reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BackfillState {
    /// Still filling (or not started).
    Running = 0,
    /// No row was left when it last looked.
    Done = 1,
    /// Stopped on an error (logged); the next start resumes.
    Failed = 2,
}

impl BackfillStats {
    /// Rows this replica's pass filled since it started.
    pub fn filled(&self) -> u64 {
        self.filled.load(Ordering::Relaxed)
    }

    /// Where the pass is.
    pub fn state(&self) -> BackfillState {
        match self.state.load(Ordering::Relaxed) {
            1 => BackfillState::Done,
            2 => BackfillState::Failed,
            _ => BackfillState::Running,
        }
    }

    fn set(&self, state: BackfillState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }
}

/// Starts the pass on its own thread; it ends when no row is left (or on the first
/// error, logged: the next start resumes). `stats` follows it.
pub fn start_run_columns_backfill(
    db: Database,
    stats: Arc<BackfillStats>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("run-columns-backfill".into())
        .spawn(move || {
            let mut after = String::new();
            loop {
                match db.run(|conn| backfill_run_columns(conn, &after)) {
                    Ok(Some(batch)) => {
                        after = batch.last;
                        stats.filled.fetch_add(batch.filled, Ordering::Relaxed);
                        std::thread::sleep(PAUSE);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        stats.set(BackfillState::Failed);
                        tracing::warn!(error = %e, "backfilling records.run_* stopped; the next start resumes");
                        return;
                    }
                }
            }
            stats.set(BackfillState::Done);
            if stats.filled() > 0 {
                tracing::info!(
                    rows = stats.filled(),
                    "backfilled records.run_* of records written before them"
                );
            }
        })
        .expect("spawning the backfill thread")
}

#[cfg(test)]
mod tests {
    use results_storage::testing::TestDb;
    use results_storage::Backend;

    use super::*;

    /// The pass fills every row left NULL, on each backend, and its stats say so.
    fn fills_every_row(backend: Backend) {
        let db = TestDb::migrated(backend);
        let conn = &mut db.database().get().unwrap();
        let (nulls, filled) = results_storage::testing::run_columns_fixture(conn, 1100).unwrap();
        assert_eq!((nulls, filled), (1100, 0));
        let stats = Arc::new(BackfillStats::default());
        start_run_columns_backfill(db.database().clone(), stats.clone())
            .join()
            .unwrap();
        let (nulls, filled) = results_storage::testing::run_columns_counts(conn).unwrap();
        assert_eq!((nulls, filled), (0, 1100), "{backend:?}");
        assert_eq!((stats.filled(), stats.state()), (1100, BackfillState::Done));
        // A start with nothing left fills nothing and is done.
        let again = Arc::new(BackfillStats::default());
        start_run_columns_backfill(db.database().clone(), again.clone())
            .join()
            .unwrap();
        assert_eq!((again.filled(), again.state()), (0, BackfillState::Done));
    }

    results_storage::on_every_backend!(fills_every_row);
}
