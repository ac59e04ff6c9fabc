//! Retention: which Results (runs) have outlived their policy's maximum age, found a page
//! at a time and deleted in short batches.
//!
//! - [`age`]: humane durations (`30d`, `12h`, `forever`).
//! - [`policy`]: rules, first match wins, else the default; pure, checked at start-up.
//! - [`select`]: keyset pages of expired Results, what SQL can decide pushed to it.
//! - [`delete`]: one batch of them, with their Records, in the caller's transaction.

pub mod age;
pub mod delete;
pub mod policy;
pub mod select;

pub use age::{parse_duration, MaxAge};
pub use delete::{delete_runs, Deleted, MAX_BATCH};
pub use policy::{Decision, Policy, PolicyError, Rule, RuleSpec, Run};
pub use select::{count_records, expired_page, ExpiredPage};
