//! The gRPC side: concurrent workers over tonic clients, and paged listings.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration::server::{HeaderChannel, Headers};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use tonic::transport::Channel;

use crate::stats::Stats;

/// A Results client (sending the load's credentials, if any).
pub type Client = ResultsClient<HeaderChannel>;

/// Longest wait for one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects to the server's gRPC port (retrying for up to 10 s); every call sends
/// `headers`.
pub async fn connect(addr: SocketAddr, headers: &[(&str, &str)]) -> anyhow::Result<Client> {
    let started = Instant::now();
    loop {
        match Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await
        {
            Ok(channel) => {
                return Ok(
                    ResultsClient::with_interceptor(channel, Headers::new(headers))
                        .max_decoding_message_size(64 << 20)
                        .max_encoding_message_size(64 << 20),
                )
            }
            Err(e) if started.elapsed() > Duration::from_secs(10) => {
                return Err(anyhow::anyhow!(
                    "cannot connect to the server at {addr}: {e}"
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Runs `op(client, i)` for every `i` in `range` with `concurrency` workers (worker `w`
/// uses `clients[w % len]`), each call bounded by [`CALL_TIMEOUT`], stopping at `deadline`.
pub async fn run<F, Fut>(
    clients: &[Client],
    concurrency: usize,
    range: Range<u64>,
    deadline: Instant,
    op: F,
) -> Stats
where
    F: Fn(Client, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(range.start));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency.max(1) {
        let client = clients[w % clients.len()].clone();
        let (op, next, end) = (op.clone(), next.clone(), range.end);
        workers.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                if Instant::now() >= deadline {
                    stats.truncated = true;
                    break;
                }
                let t0 = Instant::now();
                let outcome = match tokio::time::timeout(CALL_TIMEOUT, op(client.clone(), i)).await
                {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), s.message())),
                    Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
                };
                stats.observe(t0.elapsed(), outcome);
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for w in workers {
        match w.await {
            Ok(s) => total.merge(s),
            Err(e) => total.observe(Duration::ZERO, Err(format!("worker failed: {e}"))),
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// A typical listing, measured.
#[derive(Debug, Default)]
pub struct Listing {
    /// Its label in the report.
    pub label: String,
    /// Latency of the first page, repeated.
    pub first_page: Vec<Duration>,
    /// Latency and row count of every page of the full listing.
    pub pages: Vec<(Duration, usize)>,
    /// Rows of the full listing.
    pub rows: u64,
    /// Rows seen twice.
    pub duplicates: u64,
    /// Rows whose create_time is later than the previous row's (order is desc).
    pub order_violations: u64,
    /// Wall-clock time of the full listing.
    pub elapsed: Duration,
    /// Errors (the listing stops at the first).
    pub errors: Vec<String>,
    /// Stopped by the deadline or the page bound.
    pub truncated: bool,
}

/// The parent of the listings: every Record of every Result.
pub const ANY_PARENT: &str = "-/results/-";
/// The order of the listings.
pub const ORDER: &str = "create_time desc";
/// The page size of the listings.
pub const PAGE_SIZE: i32 = 100;

async fn page(
    client: &mut Client,
    filter: &str,
    token: String,
) -> Result<pb::ListRecordsResponse, String> {
    let request = pb::ListRecordsRequest {
        parent: ANY_PARENT.into(),
        filter: filter.into(),
        page_size: PAGE_SIZE,
        page_token: token,
        order_by: ORDER.into(),
    };
    match tokio::time::timeout(CALL_TIMEOUT, client.list_records(request)).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), s.message())),
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    }
}

/// Measures the first page `reps` times, then pages to the end (at most `max_pages`).
pub async fn listing(
    client: &mut Client,
    label: &str,
    filter: &str,
    reps: usize,
    max_pages: usize,
    deadline: Instant,
) -> Listing {
    let mut out = Listing {
        label: label.into(),
        ..Listing::default()
    };
    for _ in 0..reps {
        if Instant::now() >= deadline {
            out.truncated = true;
            return out;
        }
        let t0 = Instant::now();
        match page(client, filter, String::new()).await {
            Ok(_) => out.first_page.push(t0.elapsed()),
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        }
    }
    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut previous: Option<(i64, i32)> = None;
    let mut token = String::new();
    loop {
        if Instant::now() >= deadline || out.pages.len() >= max_pages {
            out.truncated = true;
            break;
        }
        let t0 = Instant::now();
        let response = match page(client, filter, std::mem::take(&mut token)).await {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(e);
                break;
            }
        };
        out.pages.push((t0.elapsed(), response.records.len()));
        for r in &response.records {
            out.rows += 1;
            if !seen.insert(r.uid.clone()) {
                out.duplicates += 1;
            }
            let t = r
                .create_time
                .as_ref()
                .map_or((0, 0), |t| (t.seconds, t.nanos));
            if previous.is_some_and(|p| t > p) {
                out.order_violations += 1;
            }
            previous = Some(t);
        }
        if response.next_page_token.is_empty() {
            break;
        }
        token = response.next_page_token;
    }
    out.elapsed = started.elapsed();
    out
}
