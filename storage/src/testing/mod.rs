//! Test support, behind the `test-support` feature (and in this crate's own tests), never
//! in a release binary: throwaway databases, and the `EXPLAIN` of exactly the query a
//! listing page runs, read into a [`QueryPlan`] for the plan-shape tests, and a real
//! S3-compatible server on loopback (`s3`) for the blob and log tests, and [`bulk`]
//! inserts to seed large tests fast.
//! S3-compatible server on loopback (`s3`) for the blob and log tests, and an upstream
//! Tekton Results database for the import tests ([`UpstreamDb`]).

pub mod bulk;
mod db;
mod explain;
#[cfg(test)]
mod namespace_pages;
#[cfg(test)]
mod plan_shapes;
mod query_plan;
#[cfg(feature = "test-support")]
pub mod s3;
#[cfg(test)]
mod schema_matches;
mod upstream;

pub use bulk::{run_columns_counts, run_columns_fixture};
pub use db::{mysql_admin, postgres_admin, TestDb};
pub use explain::{explain_backfill_scan, explain_list_records, explain_list_results};
pub use query_plan::{PlanStep, QueryPlan, StepKind};
pub use upstream::{Seeded, UpstreamDb, UPSTREAM_SCHEMA};

/// One `#[test]` per backend for each listed function taking a [`crate::Backend`]:
/// `on_every_backend!(pages_are_bounded);` makes `sqlite::pages_are_bounded`,
/// `postgres::…` and `mariadb::…`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[test] fn $name() { super::$name($crate::Backend::Sqlite) })* }
        mod postgres { $(#[test] fn $name() { super::$name($crate::Backend::Postgres) })* }
        mod mariadb { $(#[test] fn $name() { super::$name($crate::Backend::Mysql) })* }
    };
}
