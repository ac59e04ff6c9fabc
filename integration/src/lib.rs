//! Test support for end-to-end tests: throwaway databases on every backend, a real
//! `results-api` server (gRPC and REST front-ends, actors, storage) on loopback ports, and a
//! fake Kubernetes API server with Tekton fixtures for the watcher.
//!
//! # Layout
//! - [`TestDb`] and [`Backend`], re-exported from `results_storage` (its `testing` module):
//!   one fresh database per test on each backend, dropped afterwards.
//! - [`server`]: [`TestServer`], the composition root of `results-api` on ports chosen by
//!   the OS, with gRPC and REST clients.
//! - [`fake_kube`]: [`FakeKube`], a fake Kubernetes API server (list, watch, server-side
//!   apply, finalizers, garbage collection, TokenReview and SubjectAccessReview against
//!   [`ReviewedUser`] tokens and [`AccessRule`]s, container logs through `pods/log`) that
//!   kube-rs clients talk to unchanged.
//! - [`tekton`]: `tekton.dev/v1` PipelineRun and TaskRun fixtures as the Tekton controller
//!   writes them.
//! - [`watcher`]: [`WatcherThread`], a real `results-watcher` on its own runtime.
//! - [`standby`]: [`standby::PrimaryAndStandby`], a private PostgreSQL primary with a hot
//!   standby, for read replicas.
//! - [`tcp_proxy`]: [`TcpProxy`], to cut a server off its database and reconnect it.
//! - [`scrape`]: [`Scrape`], a parsed `/metrics` answer.
//! - [`captured`]: [`CapturedLogs`], the log lines of a test's servers, to wait for one.
//! - [`secured`]: a server that checks callers: kubernetes mode against a [`FakeKube`], or
//!   static mode with a token file.

pub mod captured;
pub mod fake_kube;
pub mod scrape;
pub mod secured;
pub mod server;
pub mod standby;
pub mod tcp_proxy;
pub mod tekton;
pub mod watcher;

pub use captured::CapturedLogs;
pub use fake_kube::{AccessRule, FakeKube, ReviewedUser, Subject};
pub use results_storage::testing::TestDb;
pub use results_storage::Backend;
pub use scrape::Scrape;
pub use server::{log_to_test_output, loopback_settings, Rest, ServerThread, TestServer};
pub use tcp_proxy::TcpProxy;
pub use watcher::{watcher_settings, WatcherThread};

/// Generates one `#[tokio::test]` per backend (multi-threaded, so that clients' connection
/// tasks keep running while a dropped [`TestServer`] waits for its server to stop) for each listed async test function:
/// `backend_tests!(create_and_get);` expects `async fn create_and_get(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::Backend::Postgres).await })*
        }
        mod mariadb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::Backend::Mysql).await })*
        }
    };
}
