//! A watch hub: the subscribers of one namespace (or the wildcard subscribers) and the
//! changes handed to them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message};
use results_storage::model::Change;
use results_storage::ErrorCode;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::{WatchEvent, WatchRequest};

/// Why a stream ended, set by the hub before it lets go of the stream's sender.
pub(crate) type Ending = Arc<OnceLock<(ErrorCode, String)>>;

/// The subscriber counts shared by the feed and its hubs.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Open streams in all hubs.
    pub(crate) total: AtomicUsize,
    /// Streams ended because their reader fell a whole buffer behind.
    pub(crate) dropped: AtomicU64,
}

/// One stream, as its hub holds it.
pub(crate) struct Subscriber {
    pub(crate) request: Arc<WatchRequest>,
    pub(crate) events: mpsc::Sender<WatchEvent>,
    pub(crate) ending: Ending,
    /// The feed position it was registered at: it gets the changes after it.
    pub(crate) start: i64,
    /// The newest revision pushed into its buffer (or its start).
    pub(crate) pushed: i64,
}

/// Owns the subscribers of one namespace (or of `-`).
pub(crate) struct WatchHub {
    subscribers: Vec<Subscriber>,
    /// Every change up to here has been handed to this hub.
    through: i64,
    /// Subscribers registered by the feed and not yet gone (the feed counts up, the hub down).
    pub(crate) registered: Arc<AtomicUsize>,
    counts: Arc<Counts>,
    bookmark_interval: Duration,
    buffer: usize,
}

impl WatchHub {
    pub(crate) fn new(
        through: i64,
        registered: Arc<AtomicUsize>,
        counts: Arc<Counts>,
        bookmark_interval: Duration,
        buffer: usize,
    ) -> Self {
        WatchHub {
            subscribers: Vec::new(),
            through,
            registered,
            counts,
            bookmark_interval,
            buffer,
        }
    }

    /// Drops the subscribers `keep` refuses, counting them out.
    fn retain(&mut self, mut keep: impl FnMut(&mut Subscriber) -> bool) {
        let before = self.subscribers.len();
        self.subscribers.retain_mut(|s| keep(s));
        let gone = before - self.subscribers.len();
        if gone > 0 {
            self.registered.fetch_sub(gone, Ordering::SeqCst);
            self.counts.total.fetch_sub(gone, Ordering::SeqCst);
        }
    }
}

impl Actor for WatchHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.bookmark_interval, |hub, _| {
            let through = hub.through;
            hub.retain(|s| {
                let revision = through.max(s.start).max(s.pushed);
                // A full buffer means the stream is busy: it needs no bookmark.
                !matches!(
                    s.events.try_send(WatchEvent::Bookmark(revision)),
                    Err(TrySendError::Closed(_))
                )
            });
        });
    }
}

/// Registers a stream (sent by the feed only, in order with [`Deliver`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Register(pub(crate) Subscriber);

impl Handler<Register> for WatchHub {
    type Result = ();

    fn handle(&mut self, msg: Register, _: &mut Self::Context) {
        self.subscribers.push(msg.0);
    }
}

/// The changes of this hub's namespace (all of them, for the wildcard hub) in revision
/// order, and the revision up to which every change has now been handed out.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Deliver {
    pub(crate) changes: Arc<[Arc<Change>]>,
    pub(crate) through: i64,
}

impl Handler<Deliver> for WatchHub {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _: &mut Self::Context) {
        self.through = self.through.max(msg.through);
        let buffer = self.buffer;
        let counts = self.counts.clone();
        self.retain(|s| {
            for change in msg.changes.iter() {
                if change.revision <= s.start || !s.request.matches(change) {
                    continue;
                }
                match s.events.try_send(WatchEvent::Change(change.clone())) {
                    Ok(()) => s.pushed = change.revision,
                    Err(TrySendError::Full(_)) => {
                        counts.dropped.fetch_add(1, Ordering::Relaxed);
                        let resume = s.pushed.max(s.start);
                        let _ = s.ending.set((
                            ErrorCode::ResourceExhausted,
                            format!(
                                "the watch fell behind: {buffer} events were waiting to be \
                                 read; watch again with resume_from={resume}"
                            ),
                        ));
                        return false;
                    }
                    Err(TrySendError::Closed(_)) => return false,
                }
            }
            true
        });
    }
}

/// Ends every stream of the hub with `code` and `message` (the feed lost its place).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct EndAll {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Handler<EndAll> for WatchHub {
    type Result = ();

    fn handle(&mut self, msg: EndAll, _: &mut Self::Context) {
        self.retain(|s| {
            let _ = s.ending.set((msg.code, msg.message.clone()));
            false
        });
    }
}
