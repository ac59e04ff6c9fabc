//! Watch streams: newline-delimited JSON events replayed from the history after the requested
//! resourceVersion (or synthetic ADDED events for every current object), then live events,
//! until `timeoutSeconds`, the client leaves or the server stops.
//!
//! A heartbeat goes out every bookmark interval: a BOOKMARK if the client allows them, else a
//! blank line (which kube-rs and JSON stream decoders skip). actix-web only notices a client
//! that went away when it writes, and the heartbeat makes sure it does.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use futures::Stream;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::meta::{meta_str, Resource};
use super::selector::Selector;
use super::shared::{Shared, Tick};
use super::status::ApiError;
use super::store::{Event, EventKind, Store};

/// A parsed watch request.
#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    pub resource: Resource,
    /// None: all namespaces.
    pub namespace: Option<String>,
    pub selector: Selector,
    /// Replay events after this resourceVersion; None: start with the current objects.
    pub since: Option<u64>,
    /// `sendInitialEvents`: end the initial objects with a bookmark saying so.
    pub initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
}

/// The response body of a watch.
pub(crate) fn stream(
    shared: Arc<Shared>,
    request: WatchRequest,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let state = WatchState::start(shared, request);
    futures::stream::unfold(state, |mut state| async move {
        let line = state.next().await?;
        Some((Ok(line), state))
    })
}

/// Counts the stream as open while it lives (it is dropped when the client goes away).
struct OpenWatch(Arc<Shared>);

impl OpenWatch {
    fn new(shared: Arc<Shared>) -> OpenWatch {
        shared.open_watches().fetch_add(1, Ordering::SeqCst);
        OpenWatch(shared)
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.open_watches().fetch_sub(1, Ordering::SeqCst);
    }
}

struct WatchState {
    request: WatchRequest,
    api_version: String,
    kind: String,
    ticks: watch::Receiver<Tick>,
    epoch: u64,
    /// Every event up to here has been queued.
    sent: u64,
    queue: VecDeque<Bytes>,
    done: bool,
    deadline: Option<Instant>,
    next_heartbeat: Instant,
    open: OpenWatch,
}

impl WatchState {
    fn start(shared: Arc<Shared>, request: WatchRequest) -> WatchState {
        // Subscribe before reading, so that no write between the two is missed.
        let mut ticks = shared.subscribe();
        let epoch = ticks.borrow_and_update().epoch;
        let now = Instant::now();
        let mut state = WatchState {
            api_version: request.resource.api_version(),
            kind: String::new(),
            ticks,
            epoch,
            sent: 0,
            queue: VecDeque::new(),
            done: false,
            deadline: request.timeout.map(|t| now + t),
            next_heartbeat: now + shared.bookmark_interval(),
            open: OpenWatch::new(shared.clone()),
            request,
        };
        shared.read(|store| {
            state.kind = store.kind(&state.request.resource);
            match state.request.since {
                Some(since) if !state.request.initial_events => {
                    state.sent = since;
                    state.catch_up(store);
                }
                _ => state.start_with_current_objects(store),
            }
        });
        state
    }

    fn start_with_current_objects(&mut self, store: &Store) {
        let request = &self.request;
        let page = store.list(
            &request.resource,
            request.namespace.as_deref(),
            &request.selector,
            None,
            None,
        );
        for object in page.map(|p| p.items).unwrap_or_default() {
            self.queue.push_back(line("ADDED", &object));
        }
        self.sent = store.resource_version();
        if self.request.initial_events {
            let bookmark = self.bookmark(json!({"k8s.io/initial-events-end": "true"}));
            self.queue.push_back(bookmark);
        }
    }

    /// Queues every event after `sent` that this watch sees.
    fn catch_up(&mut self, store: &Store) {
        match store.events_after(self.sent) {
            Ok(events) => {
                for event in events {
                    if let Some((kind, object)) = self.translate(event) {
                        self.queue.push_back(line(kind, object));
                    }
                }
                self.sent = store.resource_version();
            }
            Err(expired) => self.fail(&expired),
        }
    }

    fn fail(&mut self, error: &ApiError) {
        self.queue.push_back(line("ERROR", &error.to_status()));
        self.done = true;
    }

    /// The event type this watch reports for `event`, if any: with a label selector an
    /// object that starts matching is ADDED and one that stops matching is DELETED.
    fn translate<'e>(&self, event: &'e Event) -> Option<(&'static str, &'e Value)> {
        let request = &self.request;
        if event.resource != request.resource {
            return None;
        }
        if let Some(namespace) = &request.namespace {
            if meta_str(&event.object, "namespace") != namespace {
                return None;
            }
        }
        let matches_now = request.selector.matches(&event.object);
        let kind = match event.kind {
            EventKind::Modified => {
                let matched = event
                    .previous
                    .as_ref()
                    .is_some_and(|p| request.selector.matches(p));
                match (matched, matches_now) {
                    (true, true) => EventKind::Modified,
                    (true, false) => EventKind::Deleted,
                    (false, true) => EventKind::Added,
                    (false, false) => return None,
                }
            }
            kind if matches_now => kind,
            _ => return None,
        };
        Some((kind.as_str(), &event.object))
    }

    fn bookmark(&self, annotations: Value) -> Bytes {
        let mut metadata = json!({"resourceVersion": self.sent.to_string()});
        if annotations.as_object().is_some_and(|a| !a.is_empty()) {
            metadata["annotations"] = annotations;
        }
        let object =
            json!({"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata});
        line("BOOKMARK", &object)
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.queue.pop_front() {
                return Some(line);
            }
            if self.done {
                return None;
            }
            let deadline = self.deadline;
            tokio::select! {
                changed = self.ticks.changed() => {
                    let tick = *self.ticks.borrow_and_update();
                    if changed.is_err() || tick.epoch != self.epoch {
                        self.done = true;
                    } else {
                        let shared = self.open.0.clone();
                        shared.read(|store| self.catch_up(store));
                    }
                }
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.done = true;
                }
                () = tokio::time::sleep_until(self.next_heartbeat) => {
                    let heartbeat = if self.request.bookmarks {
                        self.bookmark(Value::Null)
                    } else {
                        Bytes::from_static(b"\n")
                    };
                    self.queue.push_back(heartbeat);
                    self.next_heartbeat = Instant::now() + self.open.0.bookmark_interval();
                }
            }
        }
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut line = format!("{{\"type\":\"{kind}\",\"object\":{object}}}");
    line.push('\n');
    Bytes::from(line)
}
