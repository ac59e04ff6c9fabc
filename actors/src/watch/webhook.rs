//! Webhook sinks: one actor per configured sink, a cursor over the change log that POSTs
//! each matching change as a CloudEvent, at least once, in revision order.
//!
//! A sink is not a watch subscriber: it reads the log itself, a bounded page (`queue`) after
//! its cursor at a time, so a receiver that is down never costs memory or slows anyone;
//! the log's retention bounds how far behind it may fall. The cursor moves past a change
//! only once it is delivered (or given up after `max_attempts`), so a change is sent again
//! after a failure, never skipped. The sink sleeps until the change feed has read past its
//! cursor (the feed reads at once after local commits, and polls for other replicas').
//! The cursor is saved in the database (`webhook_cursors`) after each page, so a restarted
//! server sends what was committed while it was down.
//!
//! Every replica runs every sink, but only the holder of the sink's lease
//! (`webhook:<name>`, see `results_storage::store::leases`) delivers: the others wait, and
//! the one that takes the lease over (the holder stopped, or failed to renew within
//! `lease_ttl`) goes on from the saved cursor. The holder renews every third of the
//! lease's length, between deliveries and between retries of one delivery, and stops
//! before the next event once it no longer holds the lease; a server that stops gives its
//! leases up. An event may still be sent twice around a takeover (at least once, as
//! always), never once per replica.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Message, WrapFuture};
use bytes::Bytes;
use reqwest_object_store as reqwest;
use results_storage::http::{install_ring_provider, with_causes};
use results_storage::model::Change;
use results_storage::ErrorCode;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::cloudevent::{self, CONTENT_TYPE, SIGNATURE_HEADER};
use super::WatchRequest;
use crate::messages::{AcquireLease, ReleaseLease};
use crate::{Actors, Error, Result};

/// Reads the saved cursor of a sink (query pool).
#[derive(Message)]
#[rtype(result = "Result<Option<i64>>")]
pub(crate) struct ReadWebhookCursor(pub(crate) String);

/// Saves the cursor of a sink (writer pool).
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct SaveWebhookCursor {
    pub(crate) name: String,
    pub(crate) revision: i64,
}

/// The CloudEvent `data` of a change: the object as a REST Get answers it. The front-end
/// owns that JSON, so it passes this in.
pub type EventData = fn(&Change) -> serde_json::Value;

/// One configured sink (the `[[watch.webhooks]]` settings, checked).
#[derive(Clone)]
pub struct WebhookConfig {
    /// Unique among the sinks; named in logs.
    pub name: String,
    /// Where events are POSTed (`http` or `https`).
    pub url: reqwest::Url,
    /// Which changes it gets (`resume_from` is ignored).
    pub request: WatchRequest,
    /// The HMAC key of the signature header; none, no header.
    pub secret: Option<Vec<u8>>,
    /// Attempts per event before it is given up; 0 = until it is delivered.
    pub max_attempts: u32,
    /// The first retry's delay (doubling after each failure, with jitter).
    pub min_backoff: Duration,
    /// The longest delay between two attempts.
    pub max_backoff: Duration,
    /// The longest a request may take, connection included.
    pub timeout: Duration,
    /// Changes read from the log and held at once.
    pub queue: usize,
    /// How long the sink's lease lasts unless renewed: how long deliveries pause when its
    /// holder dies without giving it up.
    pub lease_ttl: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the secret nor the URL (it may carry a token) is shown.
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// Checks a sink's URL: absolute, `http` or `https`, with a host.
pub fn parse_url(url: &str) -> std::result::Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} must be an http:// or https:// URL"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(parsed)
}

/// A sink's counters, updated as it works; read them through [`WebhookSink::counts`].
#[derive(Debug, Default)]
struct Stats {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    given_up: AtomicU64,
    lost: AtomicU64,
    cursor: AtomicI64,
    leader: AtomicBool,
}

/// A snapshot of a sink's counters (monotonic, for export as metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookCounts {
    /// Events the receiver accepted (2xx).
    pub delivered: u64,
    /// Attempts that failed (an error, a timeout or a non-2xx answer).
    pub failed_attempts: u64,
    /// Events given up after `max_attempts`.
    pub given_up: u64,
    /// Changes (matching or not) pruned from the log before the sink read them.
    pub lost: u64,
    /// Every change up to this revision has been handled.
    pub cursor: i64,
    /// Whether this replica holds the sink's lease (delivers its events).
    pub leader: bool,
}

/// The handle of a running sink: its name and counters. The sink runs until the actix
/// system stops.
#[derive(Clone)]
pub struct WebhookSink {
    shared: Arc<Shared>,
    _addr: actix::Addr<Sink>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("name", &self.shared.config.name)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// The sink's configured name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// Its counters now.
    pub fn counts(&self) -> WebhookCounts {
        let s = &self.shared.stats;
        WebhookCounts {
            delivered: s.delivered.load(Ordering::Relaxed),
            failed_attempts: s.failed_attempts.load(Ordering::Relaxed),
            given_up: s.given_up.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
            cursor: s.cursor.load(Ordering::Relaxed),
            leader: s.leader.load(Ordering::Relaxed),
        }
    }

    /// Stops delivering and gives the sink's lease up, so that another replica takes
    /// over at once (a delivery under way may then be sent again).
    pub async fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        if self.shared.set_held(false) {
            let released = self
                .shared
                .actors
                .call_writer(ReleaseLease {
                    name: self.shared.lease_name(),
                    holder: self.shared.holder.clone(),
                })
                .await;
            if let Err(e) = released {
                warn!(sink = %self.name(), error = %e, "webhook sink cannot give its lease up; another replica takes over once it lapses");
            }
        }
    }

    /// Starts the sink (see [`Actors::start_webhook`]).
    pub(crate) async fn start(
        actors: Actors,
        position: watch::Receiver<i64>,
        config: WebhookConfig,
        data: EventData,
        holder: String,
    ) -> Result<WebhookSink> {
        install_ring_provider();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("tekton-results-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Webhook {
                sink: config.name.clone(),
                message: format!("building its HTTP client: {}", with_causes(&e)),
            })?;
        let cursor = starting_point(&actors, &config.name).await?;
        let stats = Stats::default();
        stats.cursor.store(cursor, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            config,
            actors,
            client,
            data,
            stats,
            position,
            saved_at: std::sync::Mutex::new(Instant::now()),
            holder,
            lease: std::sync::Mutex::new(LeaseState::default()),
            stopped: AtomicBool::new(false),
        });
        let addr = Sink {
            shared: shared.clone(),
            cursor,
        }
        .start();
        Ok(WebhookSink {
            shared,
            _addr: addr,
        })
    }
}

/// What a sink's steps share.
struct Shared {
    config: WebhookConfig,
    actors: Actors,
    client: reqwest::Client,
    data: EventData,
    stats: Stats,
    /// How far the change feed has read the log.
    position: watch::Receiver<i64>,
    /// When the cursor was last saved (steps run one at a time: never contended).
    saved_at: std::sync::Mutex<Instant>,
    /// This replica's identity as a lease holder.
    holder: String,
    /// Whether it holds the sink's lease, and since when.
    lease: std::sync::Mutex<LeaseState>,
    /// Set by [`WebhookSink::stop`]: deliver nothing more, take no lease.
    stopped: AtomicBool,
}

#[derive(Debug, Default)]
struct LeaseState {
    held: bool,
    /// When it was last taken or renewed.
    renewed: Option<Instant>,
}

impl Shared {
    fn lease_name(&self) -> String {
        format!("webhook:{}", self.config.name)
    }

    /// How often the holder renews: a third of the lease's length.
    fn renew_every(&self) -> Duration {
        (self.config.lease_ttl / 3).max(Duration::from_millis(10))
    }

    fn set_held(&self, held: bool) -> bool {
        self.stats.leader.store(held, Ordering::Relaxed);
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        lease.renewed = held.then(Instant::now);
        std::mem::replace(&mut lease.held, held)
    }
}

/// The sink actor: owns the cursor and runs one step (read a page, deliver it) at a time.
struct Sink {
    shared: Arc<Shared>,
    /// Every change up to here has been handled.
    cursor: i64,
}

impl Actor for Sink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.step(ctx);
    }
}

impl Sink {
    fn step(&mut self, ctx: &mut Context<Self>) {
        let shared = self.shared.clone();
        let cursor = self.cursor;
        ctx.spawn(
            async move { step(&shared, cursor).await }
                .into_actor(self)
                .map(|cursor, sink, ctx| {
                    sink.cursor = cursor;
                    sink.shared.stats.cursor.store(cursor, Ordering::Relaxed);
                    sink.step(ctx);
                }),
        );
    }
}

/// How long to wait before reading the log again after a failed read.
const READ_RETRY: Duration = Duration::from_secs(1);

/// One step: waits for changes after `cursor` and delivers a page of them. Answers the new
/// cursor.
async fn step(shared: &Shared, cursor: i64) -> i64 {
    let name = &shared.config.name;
    let Some(cursor) = hold(shared, cursor).await else {
        tokio::time::sleep(shared.renew_every()).await;
        return cursor;
    };
    let mut position = shared.position.clone();
    match tokio::time::timeout(shared.renew_every(), position.wait_for(|p| *p > cursor)).await {
        // Nothing new for a while: renew the lease, and wait again.
        Err(_) => return cursor,
        Ok(Err(_)) => {
            // The feed is gone: the server is stopping.
            tokio::time::sleep(READ_RETRY).await;
            return cursor;
        }
        Ok(Ok(_)) => {}
    }
    let queue = shared.config.queue.max(1);
    let changes = match shared.actors.read_changes(cursor, i64::MAX, queue).await {
        Ok(changes) => changes,
        Err(e) if e.code() == ErrorCode::OutOfRange => return skip_pruned(shared, cursor).await,
        Err(e) => {
            warn!(sink = %name, after = cursor, error = %e, "webhook sink cannot read the change log");
            tokio::time::sleep(READ_RETRY).await;
            return cursor;
        }
    };
    let mut moved = cursor;
    let mut delivered = false;
    for change in changes {
        if shared.config.request.matches(&change) {
            // Renewed when due, so that a long page does not outlast the lease; once it
            // is gone (or the server is stopping) the next holder sends the rest.
            if hold(shared, moved).await.is_none() || !deliver(shared, &change).await {
                break;
            }
            delivered = true;
        }
        moved = change.revision;
        shared.stats.cursor.store(moved, Ordering::Relaxed);
    }
    // After a page that sent something, always; past changes that did not match, at most
    // every SAVE_INTERVAL (a restart reads those again, and sends none of them).
    let due = shared
        .saved_at
        .lock()
        .map_or(true, |at| at.elapsed() >= SAVE_INTERVAL);
    let held = shared.lease.lock().is_ok_and(|l| l.held);
    if moved != cursor && (delivered || due) && held {
        save(shared, moved).await;
    }
    moved
}

/// Takes or renews the sink's lease when due; answers where to go on from while this
/// replica holds it: `cursor`, or on taking it over the cursor its last holder saved.
/// None while another replica holds it (or the server is stopping).
async fn hold(shared: &Shared, cursor: i64) -> Option<i64> {
    if shared.stopped.load(Ordering::Relaxed) {
        return None;
    }
    let due = shared.lease.lock().map_or(true, |l| {
        !l.held
            || l.renewed
                .is_none_or(|at| at.elapsed() >= shared.renew_every())
    });
    if !due {
        return Some(cursor);
    }
    let name = &shared.config.name;
    let acquired = shared
        .actors
        .call_writer(AcquireLease {
            name: shared.lease_name(),
            holder: shared.holder.clone(),
            ttl: shared.config.lease_ttl,
        })
        .await;
    match acquired {
        Ok(true) if shared.set_held(true) => Some(cursor),
        Ok(true) => {
            // Taken over (or first taken): go on where the last holder saved its place.
            match shared.actors.webhook_cursor(name.clone()).await {
                Ok(saved) => {
                    let from = saved.unwrap_or(cursor);
                    info!(sink = %name, revision = from, "webhook sink delivers from this replica (it holds the sink's lease)");
                    Some(from)
                }
                Err(e) => {
                    warn!(sink = %name, error = %e, "webhook sink cannot read its saved cursor");
                    shared.set_held(false);
                    None
                }
            }
        }
        Ok(false) => {
            if shared.set_held(false) {
                info!(sink = %name, "webhook sink's lease is held by another replica; this one stops delivering");
            }
            None
        }
        Err(e) => {
            warn!(sink = %name, error = %e, "webhook sink cannot take or renew its lease");
            shared.set_held(false);
            None
        }
    }
}

/// How often a sink whose filter matched nothing lately saves its cursor: not once per
/// commit of the server, which would double its writes.
const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// Where a sink starts: its saved cursor, else the head of the log (saved at once, so that
/// what is committed from now on is sent even across restarts).
async fn starting_point(actors: &Actors, name: &str) -> Result<i64> {
    let (saved, head) = tokio::try_join!(
        actors.webhook_cursor(name.to_owned()),
        actors.change_log_head()
    )?;
    let cursor = match saved {
        Some(saved) if saved <= head.revision => saved,
        Some(saved) => {
            // The log is behind the cursor: another database, or one restored from a backup.
            warn!(
                sink = %name,
                saved,
                head = head.revision,
                "webhook sink's saved cursor is ahead of the change log; starting at its head"
            );
            actors
                .save_webhook_cursor(name.to_owned(), head.revision)
                .await?;
            head.revision
        }
        None => {
            actors
                .save_webhook_cursor(name.to_owned(), head.revision)
                .await?;
            head.revision
        }
    };
    info!(sink = %name, revision = cursor, head = head.revision, "webhook sink started");
    Ok(cursor)
}

/// Saves the cursor; a failure only means that a restart sends some events again.
async fn save(shared: &Shared, revision: i64) {
    let name = &shared.config.name;
    if let Ok(mut at) = shared.saved_at.lock() {
        *at = Instant::now();
    }
    if let Err(e) = shared
        .actors
        .save_webhook_cursor(name.clone(), revision)
        .await
    {
        warn!(sink = %name, revision, error = %e, "webhook sink cannot save its cursor");
    }
}

/// The log was pruned past `cursor`: counts and logs what was lost, and answers where the
/// log now begins (what is left of it is still delivered).
async fn skip_pruned(shared: &Shared, cursor: i64) -> i64 {
    let name = &shared.config.name;
    match shared.actors.change_log_head().await {
        Ok(head) => {
            let lost = head.pruned_through.saturating_sub(cursor).max(0);
            shared.stats.lost.fetch_add(lost as u64, Ordering::Relaxed);
            error!(
                sink = %name,
                after = cursor,
                pruned_through = head.pruned_through,
                lost,
                "webhook sink fell behind the change log's retention: up to {lost} changes were \
                 pruned before it could send them"
            );
            let cursor = head.pruned_through.max(cursor);
            save(shared, cursor).await;
            cursor
        }
        Err(e) => {
            warn!(sink = %name, error = %e, "webhook sink cannot read the change log head");
            tokio::time::sleep(READ_RETRY).await;
            cursor
        }
    }
}

/// POSTs `change` until the receiver accepts it (or `max_attempts` failed): true. False
/// when this replica stopped holding the sink's lease before that: the event is left to
/// the next holder.
async fn deliver(shared: &Shared, change: &Change) -> bool {
    let config = &shared.config;
    let body = Bytes::from(cloudevent::body(change, (shared.data)(change)));
    let signature = config
        .secret
        .as_deref()
        .map(|secret| cloudevent::signature(secret, &body));
    let mut backoff = config.min_backoff;
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let failure = match post(shared, body.clone(), signature.as_deref()).await {
            Ok(()) => {
                shared.stats.delivered.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(failure) => failure,
        };
        shared.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        if config.max_attempts > 0 && attempt >= config.max_attempts {
            shared.stats.given_up.fetch_add(1, Ordering::Relaxed);
            error!(
                sink = %config.name,
                revision = change.revision,
                attempt,
                error = %failure,
                "webhook delivery failed; giving this event up after max_attempts"
            );
            return true;
        }
        let delay = jittered(backoff);
        warn!(
            sink = %config.name,
            revision = change.revision,
            attempt,
            error = %failure,
            retry_in = ?delay,
            "webhook delivery failed"
        );
        tokio::time::sleep(delay).await;
        backoff = backoff.saturating_mul(2).min(config.max_backoff);
        if hold(shared, change.revision - 1).await.is_none() {
            return false;
        }
    }
}

/// One attempt; a failure says why (never with the URL, which may carry a token).
async fn post(
    shared: &Shared,
    body: Bytes,
    signature: Option<&str>,
) -> std::result::Result<(), String> {
    let mut request = shared
        .client
        .post(shared.config.url.clone())
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body);
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let response = request
        .send()
        .await
        .map_err(|e| with_causes(&e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}

/// Between half of `backoff` and all of it, at random: sinks that failed together do not
/// retry together.
fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    let extra = half.as_nanos() as u64;
    half + Duration::from_nanos(if extra == 0 { 0 } else { random % (extra + 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_are_sinks() {
        assert!(parse_url("http://127.0.0.1:9/hook").is_ok());
        assert!(parse_url("https://hooks.example.com/x?token=t").is_ok());
        for bad in [
            "",
            "hooks.example.com/x",
            "ftp://h/x",
            "file:///etc/passwd",
            "http://",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jitter_stays_within_half_and_all_of_the_backoff() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_millis(100));
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
        }
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
