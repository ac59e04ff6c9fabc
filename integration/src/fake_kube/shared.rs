//! State shared by the HTTP server thread and the in-process handle: the store behind a
//! mutex (held for one operation, never across an await), a channel that wakes watches after
//! each write, the log of HTTP writes, the tokens and rules reviews are answered from, and
//! the pods' container logs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::http::WriteRequest;
use super::pod_logs::PodLogs;
use super::reviews::Reviews;
use super::store::Store;

/// What watches wait on: the latest resourceVersion, and an epoch that ends every open watch
/// when it changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tick {
    pub rv: u64,
    pub epoch: u64,
}

pub(crate) struct Shared {
    store: Mutex<Store>,
    ticks: watch::Sender<Tick>,
    writes: Mutex<Vec<WriteRequest>>,
    open_watches: AtomicUsize,
    bookmark_interval_ms: AtomicU64,
    reviews: Reviews,
    pod_logs: PodLogs,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            store: Mutex::new(Store::new()),
            ticks: watch::Sender::new(Tick::default()),
            writes: Mutex::new(Vec::new()),
            open_watches: AtomicUsize::new(0),
            bookmark_interval_ms: AtomicU64::new(1000),
            reviews: Reviews::default(),
            pod_logs: PodLogs::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panicking test thread must not take the server down with it.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` on the store.
    pub fn read<T>(&self, op: impl FnOnce(&Store) -> T) -> T {
        op(&self.lock())
    }

    /// Runs `op` on the store, then wakes the watches if it wrote anything.
    pub fn write<T>(&self, op: impl FnOnce(&mut Store) -> T) -> T {
        let (outcome, rv) = {
            let mut store = self.lock();
            let outcome = op(&mut store);
            (outcome, store.resource_version())
        };
        self.ticks.send_if_modified(|tick| {
            let changed = tick.rv != rv;
            tick.rv = rv;
            changed
        });
        outcome
    }

    /// A receiver woken after every write.
    pub fn subscribe(&self) -> watch::Receiver<Tick> {
        self.ticks.subscribe()
    }

    /// Ends every open watch stream.
    pub fn end_watches(&self) {
        self.ticks.send_modify(|tick| tick.epoch += 1);
    }

    pub fn record(&self, write: WriteRequest) {
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(write);
    }

    pub fn writes(&self) -> Vec<WriteRequest> {
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reviews(&self) -> &Reviews {
        &self.reviews
    }

    pub fn pod_logs(&self) -> &PodLogs {
        &self.pod_logs
    }

    pub fn open_watches(&self) -> &AtomicUsize {
        &self.open_watches
    }

    pub fn bookmark_interval(&self) -> Duration {
        Duration::from_millis(self.bookmark_interval_ms.load(Ordering::Relaxed))
    }

    pub fn set_bookmark_interval(&self, interval: Duration) {
        let millis = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.bookmark_interval_ms.store(millis, Ordering::Relaxed);
    }
}
