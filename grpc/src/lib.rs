//! Wire contract of Tekton Results `v1alpha2` and, with the `server` feature, the gRPC and
//! REST front-ends of `results-api`.
//!
//! # Layout
//! - [`pb`]: generated protobuf types, clients and servers (always built; the watcher uses
//!   the client), with the [`codec`] that answers malformed messages INVALID_ARGUMENT.
//! - `budget`: the budget of request bytes in flight, and its gRPC layer.
//! - `convert`: wire ↔ domain conversion and request validation.
//! - `credentials`: the bearer token and `Impersonate-*` headers of a request.
//! - `service`: [`service::ResultsApi`], the logic both front-ends share, and the tonic
//!   services over it.
//! - `readiness`: whether the database answers (`/readyz`, gRPC health), apart from
//!   liveness (`/healthz`).
//! - `import`: `results-api import`, from an upstream Tekton Results database.
//! - `rest`: the actix-web gateway at the upstream REST paths.
//! - `metrics`: the Prometheus registry at `/metrics`, and request metrics for both
//!   front-ends.
//! - `status`: the one table from error codes to gRPC codes and HTTP statuses.
//! - `settings`: the settings of `results-api`, layered by `results-settings`.
//! - `ui`: the history UI at `/ui`, its assets embedded.
//! - `retention`: the `results-api retention run [--dry-run]` command.
//! - `server`: the composition root, `serve(settings, db, listeners, shutdown)`.

pub mod codec;
pub mod pb;

#[cfg(feature = "server")]
pub mod budget;
#[cfg(feature = "server")]
pub mod convert;
#[cfg(feature = "server")]
pub mod credentials;
#[cfg(feature = "server")]
pub mod error;
pub mod import;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod readiness;
#[cfg(feature = "server")]
pub mod rest;
#[cfg(feature = "server")]
pub mod retention;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod settings;
#[cfg(feature = "server")]
pub mod status;
#[cfg(feature = "server")]
pub mod tls;
#[cfg(feature = "server")]
pub mod ui;
