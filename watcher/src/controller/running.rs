//! A started controller: its watch tasks and workers, stopped gracefully (the runs in hand
//! finish) or at once (a leader that lost its Lease must not act any longer).

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::state::Controller;
use crate::run::RunKind;

/// The tasks of a started [`Controller`].
pub struct Running {
    controller: Arc<Controller>,
    watches: Vec<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts watching both kinds and `settings.watcher.workers` workers.
    pub fn start(controller: Arc<Controller>) -> Running {
        let watches = RunKind::ALL
            .into_iter()
            .map(|kind| tokio::spawn(controller.clone().watch(kind)))
            .collect();
        let workers = (0..controller.settings.watcher.workers)
            .map(|_| tokio::spawn(controller.clone().work()))
            .collect();
        Running {
            controller,
            watches,
            workers,
        }
    }

    /// Stops watching and lets every worker finish the run in hand. Finalizers stay on
    /// runs not yet stored: the next watcher carries on.
    pub async fn stop(self) {
        self.stop_by(None).await;
    }

    /// [`stop`](Running::stop), but workers still busy at `deadline` are aborted.
    pub async fn stop_by(mut self, deadline: impl Into<Option<Instant>>) {
        let deadline = deadline.into();
        for watch in self.watches.drain(..) {
            watch.abort();
            let _ = watch.await;
        }
        self.controller.close();
        for mut worker in self.workers.drain(..) {
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, &mut worker)
                        .await
                        .is_err()
                    {
                        worker.abort();
                        let _ = worker.await;
                    }
                }
                None => {
                    let _ = worker.await;
                }
            }
        }
    }

    /// Stops everything now, mid-run if need be: what was not written back is done again
    /// by the next leader (every write is idempotent, finalizers stay until stored).
    pub async fn abort(mut self) {
        self.controller.close();
        for task in self.watches.drain(..).chain(self.workers.drain(..)) {
            task.abort();
            let _ = task.await;
        }
    }
}
