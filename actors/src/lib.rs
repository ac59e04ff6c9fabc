//! Actix actors that own the results service's work. Front-ends reach storage only through
//! the [`Actors`] handle, which sends messages to:
//!
//! # Layout
//! - [`writer`]: the storage-writer pool (`SyncArbiter`), owner of every mutation.
//! - `batch`, `write`: group commit; concurrent Create/Update messages of any kind share one
//!   transaction, and each caller gets its own typed answer.
//! - [`query`]: the query pool (`SyncArbiter`), owner of reads and listings.
//! - [`messages`]: the message types (the actors' public API).
//! - [`handle`]: [`Actors`], a cloneable async facade with admission control and timeouts.
//! - [`clock`]: injectable time and uid sources, for predictable etags in tests.
//! - [`logs`]: [`Logs`], log bytes in a blob store described by Log Records.
//! - [`watch`]: live watch streams: the change feed that tails the change log, and one
//!   watch hub per namespace that fans its changes out to subscribers; webhook sinks, each
//!   a cursor over the log that POSTs matching changes as CloudEvents.
//! - [`metrics`]: what the actors measure, registered in the front-end's Prometheus
//!   registry.
//! - [`retention`]: retention passes and their schedule (leader-only, by a database
//!   lease).
//! - [`auth`]: the [`Gate`] and its gatekeeper actor: who may do what (none, Kubernetes
//!   reviews with a cache, or a static token file).
//!
//! Diesel's blocking calls run only on the pools' own threads, never on async executors.

pub mod auth;
pub mod backfill;
mod batch;
pub mod clock;
pub mod error;
pub mod handle;
pub mod logs;
pub mod messages;
pub mod metrics;
mod query;
pub mod retention;
pub mod watch;
mod write;
mod writer;

pub use auth::Gate;
pub use clock::{Clock, IdGen, SystemClock, UuidGen};
pub use error::{Error, Result};
pub use handle::{ActorSettings, Actors};
pub use logs::{LogSettings, LogStream, Logs};
/// Blob stores (log bytes).
pub use results_storage::blobs;
pub use results_storage::connection::redact;
pub use results_storage::filter::IndexedPaths;
pub use results_storage::filter::{Environment as FilterEnvironment, Filter};
/// Import from an upstream Tekton Results database (`results-api import`).
pub use results_storage::import;
/// The limits on what clients may send (checked by the front-ends and the model).
pub use results_storage::limits;
/// The domain model, re-exported so that front-ends never name the storage crate.
pub use results_storage::model;
pub use results_storage::page::{TokenSigner, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
/// Read replicas (PostgreSQL hot standbys).
pub use results_storage::replicas;
pub use results_storage::store::{ListRequest, Page};
/// Summary requests and answers (GetRecordListSummary).
pub use results_storage::summary;
pub use results_storage::{
    Backend, Database, Error as StorageError, ErrorCode, PoolSettings, PoolState,
};
pub use watch::{
    EventData, Subscription, WatchEvent, WatchKind, WatchRequest, WatchSettings, WebhookConfig,
    WebhookCounts, WebhookSink,
};
