//! A migrated throwaway database with its pool, for this crate's own tests.

use crate::scratch::ScratchDb;
use crate::{Backend, Database, PoolSettings};

/// A migrated database that exists for one test.
pub(crate) struct TestDb {
    // Declared first, dropped first: MariaDB waits for open connections' locks.
    database: Database,
    _scratch: ScratchDb,
}

impl TestDb {
    /// Creates and migrates a fresh database on `backend`.
    pub(crate) fn create(backend: Backend) -> TestDb {
        let scratch = ScratchDb::create(backend);
        let database = Database::connect(scratch.url(), PoolSettings::default()).expect("connect");
        database.migrate().expect("migrate");
        TestDb {
            database,
            _scratch: scratch,
        }
    }

    /// The pool.
    pub(crate) fn database(&self) -> &Database {
        &self.database
    }
}
