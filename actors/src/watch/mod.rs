//! Live watch streams: every committed change, in revision order, fanned out to subscribers.
//!
//! # Shape
//! - The change log (`store::changes`) is written in the same transaction as each change,
//!   with a revision that orders commits.
//! - [`feed::ChangeFeed`], one per process, tails the log: after every local commit (the
//!   writers raise a [`ChangeSignal`]) and every `poll_interval` (changes committed by other
//!   replicas on the same database). It splits what it reads by namespace and hands each
//!   part to that namespace's [`hub::WatchHub`]; wildcard subscribers share one more hub.
//! - A hub owns its subscribers: it evaluates their filters in memory (the List filter's IR,
//!   the same semantics as SQL) and pushes matching changes into each one's bounded buffer.
//!   A subscriber whose buffer is full is dropped with RESOURCE_EXHAUSTED and the revision
//!   to resume from; writers never wait for subscribers.
//! - A [`Subscription`] is what a front-end reads: first the changes it missed
//!   (`resume_from`, replayed from the log in pages), then the live ones, each once, in
//!   revision order, with periodic bookmarks.
//!
//! Registration is ordered with delivery: the feed answers a new subscriber with its
//! position P after handing every change up to P to the hubs, and registers it with its hub
//! before anything after P. The subscription replays (`resume_from`, P] from the log and
//! then reads the live changes (all after P): nothing is lost or repeated in between.
//!
//! Webhook sinks ([`webhook`]) are no subscribers: each is a cursor over the log that
//! POSTs matching changes as CloudEvents ([`cloudevent`]), woken when the feed moves.

pub mod cloudevent;
pub(crate) mod feed;
pub(crate) mod hub;
mod subscription;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use results_storage::filter::Filter;
use results_storage::model::{Change, ChangedObject, ListScope};
use tokio::sync::Notify;

pub use subscription::Subscription;
pub use webhook::{EventData, WebhookConfig, WebhookCounts, WebhookSink};

/// Tuning of watch streams (the `[watch]` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    /// How often the change log is read for changes made by other replicas (local commits
    /// are read at once).
    pub poll_interval: Duration,
    /// How often an idle stream gets a BOOKMARK with the newest revision it has seen.
    pub bookmark_interval: Duration,
    /// Events buffered per subscriber; one that falls further behind is dropped.
    pub buffer: usize,
    /// Most watch streams open at once (RESOURCE_EXHAUSTED beyond).
    pub max_subscribers: usize,
    /// Changes older than this are pruned from the log (resuming from before them answers
    /// OUT_OF_RANGE).
    pub retention: Duration,
    /// At most this many of the newest changes are kept.
    pub max_changes: u64,
    /// How often the log is pruned.
    pub prune_interval: Duration,
    /// Changes read from the log per query (tailing and replays).
    pub page: usize,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            poll_interval: Duration::from_millis(100),
            bookmark_interval: Duration::from_secs(30),
            buffer: 1024,
            max_subscribers: 10_000,
            retention: Duration::from_secs(3600),
            max_changes: 100_000,
            prune_interval: Duration::from_secs(60),
            page: 500,
        }
    }
}

/// Raised by the writers after each commit that logged changes; the feed then reads them
/// at once instead of at its next poll.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChangeSignal(Arc<Notify>);

impl ChangeSignal {
    /// Something was committed.
    pub(crate) fn raise(&self) {
        self.0.notify_one();
    }

    /// Waits until something was committed since the last wait.
    pub(crate) async fn raised(&self) {
        self.0.notified().await;
    }
}

/// What a stream watches.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchKind {
    /// Results.
    Results,
    /// Records of the Results in scope (one, or `-`).
    Records {
        /// The Result, or any.
        result: ListScope,
    },
}

/// A request for a watch stream, checked by the front-end (names, filter, auth scope).
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// The namespace, `-`, or the namespaces a `-` was narrowed to.
    pub parent: ListScope,
    /// Results or Records.
    pub kind: WatchKind,
    /// The List filter (of the matching environment).
    pub filter: Filter,
    /// Replay the changes after this revision first.
    pub resume_from: Option<i64>,
    /// For a `-` watch by a caller who may not list everywhere: the namespaces it sees are
    /// decided change by change (namespaces appear after a stream opens).
    pub visibility: Option<Visibility>,
}

/// Who is watching, to ask the gate whether it may see a namespace's changes. The gate's
/// own cache answers repeated questions, and a revoked permission takes effect when that
/// cache lets the decision go.
#[derive(Debug, Clone)]
pub struct Visibility {
    /// The gate.
    pub gate: crate::Gate,
    /// The watcher's credentials.
    pub credentials: crate::auth::Credentials,
    /// Results or Records.
    pub resource: crate::auth::Resource,
}

impl Visibility {
    /// Whether the watcher may see changes in `namespace`.
    pub(crate) async fn sees(&self, namespace: &str) -> crate::Result<bool> {
        self.gate
            .may_list(&self.credentials, self.resource, Some(namespace))
            .await
    }
}

impl WatchRequest {
    /// Whether `change` belongs in this stream.
    pub fn matches(&self, change: &Change) -> bool {
        if !self.parent.admits(change.object.parent()) {
            return false;
        }
        match (&self.kind, &change.object) {
            (WatchKind::Results, ChangedObject::Result(r)) => self.filter.matches_result(r),
            (WatchKind::Records { result }, ChangedObject::Record(r)) => {
                result.admits(&r.name.result) && self.filter.matches_record(r)
            }
            _ => false,
        }
    }
}

/// One item of a watch stream.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// A change in scope.
    Change(Arc<Change>),
    /// Every change in scope up to this revision has been sent: resume from here.
    Bookmark(i64),
}

impl WatchEvent {
    /// The revision it carries.
    pub fn revision(&self) -> i64 {
        match self {
            WatchEvent::Change(c) => c.revision,
            WatchEvent::Bookmark(r) => *r,
        }
    }
}
