//! The change feed: tails the change log and hands each namespace's changes to its hub.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture};
use results_storage::model::{Change, ChangeLogHead, ListScope, Timestamp};
use results_storage::store::changes::Retention;
use results_storage::ErrorCode;
use tokio::sync::{mpsc, watch};
use tracing::{error, warn};

use super::hub::{Counts, Deliver, EndAll, Ending, Register, Subscriber, WatchHub};
use super::{ChangeSignal, WatchEvent, WatchRequest, WatchSettings};
use crate::query::QueryExecutor;
use crate::writer::StorageWriter;
use crate::{Error, Result};

/// Reads the changes with `after < revision <= through` (at most `limit`), then the head
/// of the log (so that a prune during the read shows).
#[derive(Message)]
#[rtype(result = "Result<(Vec<Change>, ChangeLogHead)>")]
pub(crate) struct ReadChanges {
    pub(crate) after: i64,
    pub(crate) through: i64,
    pub(crate) limit: usize,
}

/// Reads the head of the change log.
#[derive(Message)]
#[rtype(result = "Result<ChangeLogHead>")]
pub(crate) struct ChangeHead;

/// Prunes one batch of the change log; answers how many changes went.
#[derive(Message)]
#[rtype(result = "Result<u64>")]
pub(crate) struct PruneChanges(pub(crate) Retention);

/// A new stream: answers the feed position it starts after, its buffer and how it ended.
#[derive(Message)]
#[rtype(result = "Result<(i64, mpsc::Receiver<WatchEvent>, Ending)>")]
pub(crate) struct Subscribe(pub(crate) Arc<WatchRequest>);

/// Read the log now.
#[derive(Message)]
#[rtype(result = "()")]
struct Poll;

/// Ends every watch stream (the server is shutting down) and takes no new ones.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct EndWatches;

struct HubEntry {
    addr: Addr<WatchHub>,
    registered: Arc<AtomicUsize>,
}

/// Stops a hub that has no subscribers left.
#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<Stop> for WatchHub {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        actix::ActorContext::stop(ctx);
    }
}

/// How long a read of the log may take before the feed tries again.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Tails the change log; one per process.
pub(crate) struct ChangeFeed {
    query: Addr<QueryExecutor>,
    writer: Addr<StorageWriter>,
    signal: ChangeSignal,
    settings: WatchSettings,
    /// Every change up to here has been handed to the hubs; `None` until the log's head
    /// has been read.
    position: Option<i64>,
    polling: bool,
    again: bool,
    pruning: bool,
    hubs: HashMap<String, HubEntry>,
    wildcard: Option<HubEntry>,
    counts: Arc<Counts>,
    closed: bool,
    /// Reading the log failed last time (logged once per outage).
    failing: bool,
    /// `position`, for the webhook sinks (they read the log once it has moved past them).
    published: watch::Sender<i64>,
}

impl ChangeFeed {
    pub(crate) fn new(
        query: Addr<QueryExecutor>,
        writer: Addr<StorageWriter>,
        signal: ChangeSignal,
        mut settings: WatchSettings,
        published: watch::Sender<i64>,
        counts: Arc<Counts>,
    ) -> Self {
        // One read never hands a subscriber more changes than its buffer holds: a reader
        // that keeps up is never dropped because many changes were committed at once.
        settings.page = settings.page.min(settings.buffer).max(1);
        ChangeFeed {
            query,
            writer,
            signal,
            settings,
            position: None,
            polling: false,
            again: false,
            pruning: false,
            hubs: HashMap::new(),
            wildcard: None,
            counts,
            closed: false,
            failing: false,
            published,
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.polling {
            self.again = true;
            return;
        }
        self.polling = true;
        self.again = false;
        let query = self.query.clone();
        let position = self.position;
        let limit = self.settings.page.max(1);
        // Without streams, only the position matters: the head, not the changes (which
        // carry whole documents).
        let head_only = !self.has_streams();
        let read = async move {
            match position {
                Some(after) if !head_only => query
                    .send(ReadChanges {
                        after,
                        through: i64::MAX,
                        limit,
                    })
                    .timeout(READ_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string()),
                // Where the log stands: all a feed without a position or streams needs.
                _ => {
                    let head = query.send(ChangeHead).timeout(READ_TIMEOUT).await;
                    let head = head
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())?;
                    Ok((Vec::new(), head))
                }
            }
        };
        ctx.spawn(read.into_actor(self).map(move |read, feed, ctx| {
            feed.polling = false;
            match read {
                Ok((changes, head)) => {
                    if std::mem::take(&mut feed.failing) {
                        tracing::info!("the change log can be read again");
                    }
                    let full = changes.len() >= limit;
                    if !head_only {
                        feed.dispatch(changes, head);
                    } else if feed.has_streams() {
                        // A stream registered at the old position while the head was read:
                        // read the changes after that position instead of jumping past them.
                        feed.again = true;
                    } else {
                        feed.position = Some(feed.position.unwrap_or(0).max(head.revision));
                    }
                    if full {
                        feed.again = true;
                    }
                }
                Err(e) => {
                    // Once per outage, not at every poll.
                    if !feed.failing {
                        warn!(error = %e, "reading the change log for watch streams failed; retrying");
                    }
                    feed.failing = true;
                }
            }
            if let Some(position) = feed.position {
                feed.published.send_if_modified(|published| {
                    let moved = *published != position;
                    *published = position;
                    moved
                });
            }
            if feed.again {
                feed.poll(ctx);
            }
        }));
    }

    /// Whether any watch stream is registered (with a hub).
    fn has_streams(&self) -> bool {
        !self.hubs.is_empty() || self.wildcard.is_some()
    }

    fn dispatch(&mut self, changes: Vec<Change>, head: ChangeLogHead) {
        let Some(position) = self.position else {
            self.position = Some(head.revision);
            return;
        };
        if head.pruned_through > position {
            // The log was pruned past what this server has handed out (it could not read
            // the database for longer than the retention): its streams have lost changes.
            error!(
                position,
                pruned_through = head.pruned_through,
                "the change log was pruned past the watch feed's position; ending every watch"
            );
            let message = format!(
                "the server lost its place in the change log (changes up to revision {} were \
                 pruned before it could read them); list again and watch from the listing",
                head.pruned_through
            );
            for hub in self.hubs.values().chain(&self.wildcard) {
                hub.addr.do_send(EndAll {
                    code: ErrorCode::OutOfRange,
                    message: message.clone(),
                });
            }
            let last = changes.last().map_or(head.pruned_through, |c| c.revision);
            self.position = Some(last.max(head.pruned_through));
            return;
        }
        let Some(through) = changes.last().map(|c| c.revision) else {
            return;
        };
        let changes: Vec<Arc<Change>> = changes.into_iter().map(Arc::new).collect();
        let mut by_namespace: HashMap<&str, Vec<Arc<Change>>> = HashMap::new();
        if !self.hubs.is_empty() {
            for change in &changes {
                if self.hubs.contains_key(change.object.parent()) {
                    by_namespace
                        .entry(change.object.parent())
                        .or_default()
                        .push(change.clone());
                }
            }
        }
        for (namespace, hub) in &self.hubs {
            let mine = by_namespace.remove(namespace.as_str()).unwrap_or_default();
            hub.addr.do_send(Deliver {
                changes: mine.into(),
                through,
            });
        }
        if let Some(hub) = &self.wildcard {
            hub.addr.do_send(Deliver {
                changes: changes.clone().into(),
                through,
            });
        }
        self.position = Some(through);
    }

    fn prune(&mut self, ctx: &mut Context<Self>) {
        if self.pruning {
            return;
        }
        self.pruning = true;
        let writer = self.writer.clone();
        let settings = self.settings;
        let work = async move {
            let batch = 1000usize;
            loop {
                let older_than = Timestamp::now().as_nanos().saturating_sub(
                    i64::try_from(settings.retention.as_nanos()).unwrap_or(i64::MAX),
                );
                let retention = Retention {
                    older_than: Timestamp::from_nanos(older_than),
                    max_changes: settings.max_changes,
                    batch,
                };
                match writer.send(PruneChanges(retention)).await {
                    Ok(Ok(n)) if n as usize >= batch => continue,
                    Ok(Ok(_)) => break,
                    Ok(Err(e)) => {
                        warn!(error = %e, "pruning the change log failed");
                        break;
                    }
                    Err(_) => break,
                }
            }
        };
        ctx.spawn(work.into_actor(self).map(|(), feed, _| {
            feed.pruning = false;
            feed.hubs.retain(|_, hub| keep_hub(hub));
            if feed.wildcard.as_ref().is_some_and(|hub| !keep_hub(hub)) {
                feed.wildcard = None;
            }
        }));
    }
}

/// Whether a hub still has subscribers; one without is stopped.
fn keep_hub(hub: &HubEntry) -> bool {
    let keep = hub.registered.load(Ordering::SeqCst) > 0;
    if !keep {
        hub.addr.do_send(Stop);
    }
    keep
}

impl Actor for ChangeFeed {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Where the log stands, before any subscriber is taken (`wait` holds the mailbox):
        // a watch opened as the server starts waits for this instead of failing.
        let query = self.query.clone();
        let head = async move { query.send(ChangeHead).timeout(READ_TIMEOUT).await };
        ctx.wait(head.into_actor(self).map(|head, feed, _| match head {
            Ok(Ok(head)) => feed.position = Some(head.revision),
            Ok(Err(e)) => warn!(error = %e, "reading the change log head failed; retrying"),
            Err(e) => warn!(error = %e, "reading the change log head failed; retrying"),
        }));
        ctx.run_interval(self.settings.poll_interval, |feed, ctx| feed.poll(ctx));
        ctx.run_interval(self.settings.prune_interval, |feed, ctx| feed.prune(ctx));
        let signal = self.signal.clone();
        let feed = ctx.address();
        actix::spawn(async move {
            loop {
                signal.raised().await;
                if feed.send(Poll).await.is_err() {
                    break;
                }
            }
        });
    }
}

impl Handler<Poll> for ChangeFeed {
    type Result = ();

    fn handle(&mut self, _: Poll, ctx: &mut Self::Context) {
        self.poll(ctx);
    }
}

impl Handler<EndWatches> for ChangeFeed {
    type Result = ();

    fn handle(&mut self, _: EndWatches, _: &mut Self::Context) {
        self.closed = true;
        for hub in self.hubs.values().chain(&self.wildcard) {
            hub.addr.do_send(EndAll {
                code: ErrorCode::Unavailable,
                message: "the server is shutting down".into(),
            });
        }
    }
}

impl Handler<Subscribe> for ChangeFeed {
    type Result = Result<(i64, mpsc::Receiver<WatchEvent>, Ending)>;

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) -> Self::Result {
        if self.closed {
            return Err(Error::Watch {
                code: ErrorCode::Unavailable,
                message: "the server is shutting down; watch on another replica".into(),
            });
        }
        let Some(position) = self.position else {
            return Err(Error::Watch {
                code: ErrorCode::Unavailable,
                message: "watch streams are not ready yet (the change log could not be read); \
                          retry"
                    .into(),
            });
        };
        let max = self.settings.max_subscribers;
        if self.counts.total.load(Ordering::SeqCst) >= max {
            return Err(Error::Watch {
                code: ErrorCode::ResourceExhausted,
                message: format!(
                    "too many watch streams are open (the limit is {max}); retry later"
                ),
            });
        }
        let (events, receiver) = mpsc::channel(self.settings.buffer.max(1));
        let ending: Ending = Arc::new(OnceLock::new());
        let hub = match &msg.0.parent {
            ListScope::Exactly(namespace) => self
                .hubs
                .entry(namespace.clone())
                .or_insert_with(|| new_hub(position, &self.counts, &self.settings)),
            ListScope::Any | ListScope::Among(_) => self
                .wildcard
                .get_or_insert_with(|| new_hub(position, &self.counts, &self.settings)),
        };
        hub.registered.fetch_add(1, Ordering::SeqCst);
        self.counts.total.fetch_add(1, Ordering::SeqCst);
        hub.addr.do_send(Register(Subscriber {
            request: msg.0,
            events,
            ending: ending.clone(),
            start: position,
            pushed: position,
        }));
        Ok((position, receiver, ending))
    }
}

fn new_hub(position: i64, counts: &Arc<Counts>, settings: &WatchSettings) -> HubEntry {
    let registered = Arc::new(AtomicUsize::new(0));
    let addr = WatchHub::new(
        position,
        registered.clone(),
        counts.clone(),
        settings.bookmark_interval,
        settings.buffer.max(1),
    )
    .start();
    HubEntry { addr, registered }
}
