//! The reconciler: watch streams feed a keyed work queue; workers store each run's latest
//! state in the results API, upload a finished TaskRun's step logs, write back where it is
//! stored, hold and release the finalizer, and delete finished runs after the grace period.
//!
//! Memory does not grow with the size of runs: between the watch and the workers only
//! the latest object of each pending run is kept, within `watcher.cache_bytes` (beyond
//! that a worker fetches the object again), and per live run the watcher remembers two
//! hashes of what it stored, not the run.

mod cache;
mod fingerprint;
mod reconcile;
mod running;
mod state;
mod store;

pub use fingerprint::{fingerprint, record_data};
pub use running::Running;
pub use state::{Controller, Key, FIELD_MANAGER};
