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

use std::time::Duration;

use results_storage::store::backfill_run_columns;
use results_storage::Database;

/// Pause between batches.
const PAUSE: Duration = Duration::from_millis(20);

/// Starts the pass on its own thread; it ends when no row is left (or on the first
/// error, logged: the next start resumes).
pub fn start_run_columns_backfill(db: Database) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("run-columns-backfill".into())
        .spawn(move || {
            let mut after = String::new();
            let mut batches = 0u64;
            loop {
                match db.run(|conn| backfill_run_columns(conn, &after)) {
                    Ok(Some(last)) => {
                        after = last;
                        batches += 1;
                        std::thread::sleep(PAUSE);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "backfilling records.run_* stopped; the next start resumes");
                        return;
                    }
                }
            }
            if batches > 0 {
                tracing::info!(batches, "backfilled records.run_* of records written before them");
            }
        })
        .expect("spawning the backfill thread")
}

#[cfg(test)]
mod tests {
    use results_storage::testing::TestDb;
    use results_storage::Backend;

    use super::*;

    /// The pass fills every row left NULL, on each backend.
    fn fills_every_row(backend: Backend) {
        let db = TestDb::migrated(backend);
        let conn = &mut db.database().get().unwrap();
        let (nulls, filled) = results_storage::testing::run_columns_fixture(conn, 1100).unwrap();
        assert_eq!((nulls, filled), (1100, 0));
        start_run_columns_backfill(db.database().clone())
            .join()
            .unwrap();
        let (nulls, filled) = results_storage::testing::run_columns_counts(conn).unwrap();
        assert_eq!((nulls, filled), (0, 1100), "{backend:?}");
    }

    results_storage::on_every_backend!(fills_every_row);
}
