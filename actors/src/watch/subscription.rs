//! What a front-end reads of a watch stream.

use std::collections::VecDeque;
use std::sync::Arc;

use results_storage::ErrorCode;
use tokio::sync::mpsc;

use super::hub::Ending;
use super::{WatchEvent, WatchRequest};
use crate::{Actors, Error, Result};

/// A watch stream: the missed changes replayed from the log, then the live ones, each once
/// and in revision order. Ends with an error when the server drops it (a slow reader, the
/// log pruned under a replay), never silently.
pub struct Subscription {
    actors: Actors,
    request: Arc<WatchRequest>,
    /// The part of the log still to replay: `(after, through]`.
    replay: Option<(i64, i64)>,
    pending: VecDeque<WatchEvent>,
    live: mpsc::Receiver<WatchEvent>,
    ending: Ending,
    /// Live changes up to here were (or will be) replayed: skipped.
    floor: i64,
    /// The newest revision handed to the reader.
    sent: i64,
    page: usize,
    done: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(
        actors: Actors,
        request: Arc<WatchRequest>,
        start: i64,
        live: mpsc::Receiver<WatchEvent>,
        ending: Ending,
        page: usize,
    ) -> Self {
        let mut pending = VecDeque::new();
        let (replay, floor) = match request.resume_from {
            Some(from) if from < start => (Some((from, start)), start),
            Some(from) => (None, from),
            None => {
                // Where the stream starts, so that the client can resume from it at once.
                pending.push_back(WatchEvent::Bookmark(start));
                (None, start)
            }
        };
        Subscription {
            actors,
            request,
            replay,
            pending,
            live,
            ending,
            floor,
            sent: i64::MIN,
            page: page.max(1),
            done: false,
        }
    }

    /// The next event; `None` when the stream has ended.
    pub async fn next(&mut self) -> Option<Result<WatchEvent>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                match self.visible(&event).await {
                    Ok(true) => return Some(Ok(self.hand_out(event))),
                    Ok(false) => continue,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            if let Some((after, through)) = self.replay {
                match self.actors.read_changes(after, through, self.page).await {
                    Ok(changes) => {
                        match changes.last() {
                            Some(last) if last.revision < through => {
                                self.replay = Some((last.revision, through));
                            }
                            _ => self.replay = None,
                        }
                        let request = &self.request;
                        self.pending.extend(
                            changes
                                .into_iter()
                                .filter(|c| request.matches(c))
                                .map(|c| WatchEvent::Change(Arc::new(c))),
                        );
                        continue;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            match self.live.recv().await {
                Some(WatchEvent::Change(change)) if change.revision <= self.floor => continue,
                // A bookmark never goes back (one pushed during a replay may be older than
                // what the replay handed out); an equal one is a heartbeat.
                Some(WatchEvent::Bookmark(revision)) if revision < self.sent => continue,
                Some(event) => match self.visible(&event).await {
                    Ok(true) => return Some(Ok(self.hand_out(event))),
                    Ok(false) => continue,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
                None => {
                    self.done = true;
                    let (code, message) = self.ending.get().cloned().unwrap_or_else(|| {
                        (
                            ErrorCode::Unavailable,
                            "the server is shutting down its watch streams".to_owned(),
                        )
                    });
                    // Where to go on from: everything up to here was handed out.
                    let resume = self.sent.max(self.floor);
                    let message = if code == ErrorCode::Unavailable {
                        format!("{message}: watch again with resume_from={resume}")
                    } else {
                        message
                    };
                    return Some(Err(Error::Watch { code, message }));
                }
            }
        }
    }

    /// Whether the watcher may see `event` (bookmarks carry nothing to hide).
    async fn visible(&self, event: &WatchEvent) -> Result<bool> {
        match (&self.request.visibility, event) {
            (Some(visibility), WatchEvent::Change(change)) => {
                visibility.sees(change.object.parent()).await
            }
            _ => Ok(true),
        }
    }

    fn hand_out(&mut self, event: WatchEvent) -> WatchEvent {
        self.sent = self.sent.max(event.revision());
        event
    }

    /// The newest revision handed out so far (where to resume after a disconnect).
    pub fn revision(&self) -> i64 {
        self.sent
    }
}
