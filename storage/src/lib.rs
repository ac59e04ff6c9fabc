//! Storage layer of the results service: the domain model, the diesel schema shared by
//! SQLite, PostgreSQL and MySQL/MariaDB, migrations, and the queries behind every RPC.
//!
//! # Layout
//! - [`model`]: names, Results, Records, summaries, timestamps and etags (no I/O).
//! - [`page`]: page sizes, `order_by` parsing and signed page tokens.
//! - [`filter`]: CEL filters, checked into an IR that runs as SQL or in memory.
//! - [`connection`]: the backend chosen by URL, connection pools, migrations.
//! - [`replicas`]: PostgreSQL hot standbys that serve reads while they keep up.
//! - [`store`]: synchronous queries on one connection; callers run them off the async
//!   executors (the actors crate does).
//! - [`limits`]: every limit on what a client may send, checked before the database.
//! - [`blobs`]: the bytes of logs outside the database, behind the [`blobs::BlobStore`]
//!   trait: files under a directory, or objects in an S3-compatible bucket; streamed.
//! - [`http`]: what the HTTP clients (the S3 store, webhook sinks) share.
//! - [`retention`]: retention policies, expired Results found by keyset pages, batched
//!   deletes.
//! - [`import`]: import from an upstream Tekton Results PostgreSQL database.
//! - [`error`]: the storage error and its transport-neutral [`ErrorCode`].
//! - `testing` (feature `test-support`): throwaway databases and query plans, for tests.

pub mod blobs;
pub mod connection;
pub mod error;
pub mod filter;
mod fragment;
pub mod http;
pub mod import;
mod json;
mod json_indexes;
pub mod limits;
mod migrate;
pub mod model;
pub mod page;
pub mod replicas;
pub mod retention;
mod rows;
mod schema;
pub mod store;
pub mod summary;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use connection::{Backend, Database, PoolSettings, PoolState};
pub use error::{Error, ErrorCode, Result};
