//! Test support for end-to-end tests: throwaway databases on every backend and a real
//! `results-api` server (gRPC and REST front-ends, actors, storage) on loopback ports.
//!
//! # Layout
//! - [`db`]: [`TestDb`], one fresh database per test, dropped afterwards.
//! - [`server`]: [`TestServer`], the composition root of `results-api` on ports chosen by
//!   the OS, with gRPC and REST clients.
//! - [`watcher`]: [`WatcherThread`], a real `results-watcher` on its own runtime.

pub mod db;
pub mod server;
pub mod watcher;

pub use db::{TestBackend, TestDb};
pub use server::{loopback_settings, Rest, ServerThread, TestServer};
pub use watcher::{watcher_settings, WatcherThread};

/// Generates one `#[tokio::test]` per backend (multi-threaded, so that clients' connection
/// tasks keep running while a dropped [`TestServer`] waits for its server to stop) for each listed async test function:
/// `backend_tests!(create_and_get);` expects `async fn create_and_get(backend: TestBackend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::TestBackend::Postgres).await })*
        }
        mod mariadb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::TestBackend::Mysql).await })*
        }
    };
}
