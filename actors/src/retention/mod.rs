//! Retention: deleting the Results (with their Records and logs) that a policy says have
//! outlived their maximum age.
//!
//! - `messages`: finding expired Results (query pool), deleting a batch and holding the
//!   lease (writer pool).
//! - [`pass`]: one pass, page by page, batch by batch ([`Actors::retention_pass`]).
//! - [`actor`]: the schedule, run only by the replica holding the `retention` lease.
//! - [`stats`]: cumulative counters for `/metrics`.
//!
//! [`Actors::retention_pass`]: crate::Actors::retention_pass

pub mod actor;
mod messages;
pub mod pass;
pub mod stats;

pub use actor::{RetentionConfig, RetentionHandle, LEASE};
pub use pass::{PassReport, PassSettings};
pub use results_storage::retention::{parse_duration, MaxAge, Policy, PolicyError, RuleSpec};
pub use stats::{RetentionCounts, RetentionStats};
