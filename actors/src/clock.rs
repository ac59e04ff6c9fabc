//! Sources of time and identity, injected so that tests can predict etags.

use results_storage::model::Timestamp;

/// Tells the time writes are stamped with.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Hands out uids for new Results and Records.
pub trait IdGen: Send + Sync + 'static {
    /// A fresh, unique id.
    fn next_id(&self) -> String;
}

/// Random (v4) UUIDs.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidGen;

impl IdGen for UuidGen {
    fn next_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}
