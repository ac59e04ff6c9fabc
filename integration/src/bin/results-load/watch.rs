//! `--watch`: writers create small Records at a fixed rate (open loop) into N namespaces
//! while S gRPC `WatchRecords` subscribers (each on one namespace, plus W on `-`) read
//! them; first the same writes without subscribers, as the baseline. Each record carries
//! its client send time (`data.sent_ns`, Unix nanoseconds); a subscriber takes its
//! write-to-event latency against its own clock (same machine). With `--replica` the
//! writers talk to a second server on the same database: the subscribers' server sees the
//! writes only through its change-log poll.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use integration::server::Headers;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::watch_client::WatchClient;
use tonic::transport::Channel;

use crate::drive::{self, Client};
use crate::stats::{percentile_ms, Stats};

/// The `--watch` options.
#[derive(Debug, Clone)]
pub struct WatchArgs {
    pub subscribers: usize,
    pub namespaces: usize,
    pub wildcard: usize,
    pub rate: u64,
    pub seconds: u64,
    pub record_bytes: usize,
    pub baseline: bool,
}

/// Most writes in flight at once; a tick that finds this many waiting is skipped (and
/// counted): the open loop never queues unboundedly.
const MAX_IN_FLIGHT: u64 = 2000;
/// GRPC streams per HTTP/2 connection of the subscribers.
const STREAMS_PER_CONNECTION: usize = 50;
/// How long the subscribers may go without a new event, after the last write, before the
/// run stops waiting for the rest.
const DRAIN_IDLE: Duration = Duration::from_secs(15);

/// What one run (with or without subscribers) measured.
#[derive(Debug, Default)]
pub struct WatchRun {
    pub label: String,
    pub planned: u64,
    /// Ticks skipped because [`MAX_IN_FLIGHT`] writes were waiting.
    pub skipped: u64,
    pub writes: Stats,
    pub subscribers: usize,
    pub expected: u64,
    pub received: u64,
    /// Events whose revision did not follow the previous one of the stream.
    pub out_of_order: u64,
    /// Write-to-event latencies (client send time to receipt).
    pub latencies: Vec<Duration>,
    /// Commit-to-event latencies (the record's server-set create_time to receipt): the
    /// watch path alone, without the write's own queueing.
    pub after_commit: Vec<Duration>,
    /// Streams the server ended (or that failed), with the first messages.
    pub stream_errors: u64,
    pub first_stream_errors: Vec<String>,
    /// Server RSS / high-water mark (MB) at the end of the run.
    pub rss_mb: (f64, f64),
    /// Server RSS (MB) once every subscriber was registered, before the writes.
    pub rss_subscribed_mb: f64,
}

impl WatchRun {
    /// Successful writes per second over the planned duration (or longer, if the writes
    /// took longer).
    pub fn write_rate(&self, seconds: u64) -> f64 {
        self.writes.ok as f64 / self.writes.elapsed.as_secs_f64().max(seconds as f64)
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn namespace(k: usize) -> String {
    format!("watch-ns{k}")
}

fn result(k: usize) -> String {
    format!("{}/results/load", namespace(k))
}

/// Creates the namespaces' Results (once).
pub async fn prepare(client: &Client, args: &WatchArgs) -> anyhow::Result<()> {
    for k in 0..args.namespaces {
        let mut client = client.clone();
        let request = pb::CreateResultRequest {
            parent: namespace(k),
            result: Some(pb::Result {
                name: result(k),
                ..Default::default()
            }),
        };
        match client.create_result(request).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::AlreadyExists => {}
            Err(s) => anyhow::bail!("creating {}: {s}", result(k)),
        }
    }
    Ok(())
}

/// One run: `subscribers` streams on `watch_addr` (none for the baseline), writes through
/// `writers`, then waits for the events to drain.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    label: &str,
    writers: &[Client],
    watch_addr: SocketAddr,
    headers: &[(&str, &str)],
    args: &WatchArgs,
    subscribers: usize,
    wildcard: usize,
    memory: &dyn Fn() -> (f64, f64),
) -> anyhow::Result<WatchRun> {
    let tag = format!("{label}-{:x}", now_ns() as u64 & 0xff_ffff);
    let mut out = WatchRun {
        label: label.to_owned(),
        subscribers: subscribers + wildcard,
        ..Default::default()
    };

    // Subscribers first: each is registered once its opening bookmark arrives.
    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut channels = Vec::new();
    for _ in 0..(subscribers + wildcard).div_ceil(STREAMS_PER_CONNECTION) {
        let channel = Channel::from_shared(format!("http://{watch_addr}"))?
            .connect()
            .await?;
        channels.push(channel);
    }
    let mut tasks = Vec::new();
    for j in 0..subscribers + wildcard {
        let parent = if j < subscribers {
            format!("{}/results/-", namespace(j % args.namespaces))
        } else {
            drive::ANY_PARENT.to_owned()
        };
        let mut client = WatchClient::with_interceptor(
            channels[j / STREAMS_PER_CONNECTION].clone(),
            Headers::new(headers),
        )
        .max_decoding_message_size(64 << 20);
        let mut stream = client
            .watch_records(pb::WatchRecordsRequest {
                parent,
                ..Default::default()
            })
            .await?
            .into_inner();
        // Registered once its opening bookmark arrives: before the first write.
        match stream.message().await? {
            Some(e) if e.r#type == pb::EventType::Bookmark as i32 => {}
            other => anyhow::bail!("a watch stream opened with {other:?}, not a bookmark"),
        }
        tasks.push(tokio::spawn(subscribe(
            stream,
            tag.clone(),
            received.clone(),
            stop_rx.clone(),
        )));
    }
    out.rss_subscribed_mb = memory().0;

    // Open-loop writers.
    let per_ns: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.namespaces).map(|_| AtomicU64::new(0)).collect());
    let stats = Arc::new(Mutex::new(Stats::default()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let planned = args.rate * args.seconds;
    out.planned = planned;
    let period = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let pad = "x".repeat(args.record_bytes.saturating_sub(40));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(planned as usize);
    for i in 0..planned {
        tick.tick().await;
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            out.skipped += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let k = (i as usize) % args.namespaces;
        let mut client = writers[i as usize % writers.len()].clone();
        let (stats, per_ns, in_flight) = (stats.clone(), per_ns.clone(), in_flight.clone());
        let name = format!("{}/records/{tag}-{i}", result(k));
        let pad = pad.clone();
        handles.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let value = format!("{{\"sent_ns\":{},\"pad\":\"{pad}\"}}", now_ns()).into_bytes();
            let request = pb::CreateRecordRequest {
                parent: result(k),
                record: Some(pb::Record {
                    name,
                    data: Some(pb::Any {
                        r#type: "results-load/watch".into(),
                        value,
                    }),
                    ..Default::default()
                }),
            };
            let outcome =
                match tokio::time::timeout(Duration::from_secs(60), client.create_record(request))
                    .await
                {
                    Ok(Ok(_)) => {
                        per_ns[k].fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), s.message())),
                    Err(_) => Err("no answer within 60 s".to_owned()),
                };
            stats.lock().unwrap().observe(t0.elapsed(), outcome);
            in_flight.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let elapsed = started.elapsed();
    out.writes = std::mem::take(&mut *stats.lock().unwrap());
    out.writes.elapsed = elapsed;

    // Expected deliveries: each write to namespace k goes to k's subscribers and to every
    // wildcard one.
    let ok: u64 = per_ns.iter().map(|n| n.load(Ordering::Relaxed)).sum();
    out.expected = (0..args.namespaces)
        .map(|k| {
            let subs = (0..subscribers)
                .filter(|j| j % args.namespaces == k)
                .count() as u64;
            per_ns[k].load(Ordering::Relaxed) * subs
        })
        .sum::<u64>()
        + ok * wildcard as u64;
    let mut last = received.load(Ordering::Relaxed);
    let mut idle_since = Instant::now();
    while last < out.expected && idle_since.elapsed() < DRAIN_IDLE {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = received.load(Ordering::Relaxed);
        if now != last {
            last = now;
            idle_since = Instant::now();
        }
    }
    out.rss_mb = memory();
    let _ = stop_tx.send(true);
    for t in tasks {
        let s = t.await?;
        out.received += s.received;
        out.out_of_order += s.out_of_order;
        out.latencies.extend(s.latencies);
        out.after_commit.extend(s.after_commit);
        if let Some(e) = s.error {
            out.stream_errors += 1;
            if out.first_stream_errors.len() < 3 {
                out.first_stream_errors.push(e);
            }
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Subscribed {
    received: u64,
    out_of_order: u64,
    latencies: Vec<Duration>,
    after_commit: Vec<Duration>,
    error: Option<String>,
}

/// The `sent_ns` of a record's JSON (whatever the key order the database keeps).
fn sent_ns(json: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"sent_ns\":";
    let at = json.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = json[at..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit());
    let mut n: i64 = 0;
    let mut any = false;
    for b in digits {
        n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

async fn subscribe(
    mut stream: tonic::Streaming<pb::RecordEvent>,
    tag: String,
    received: Arc<AtomicU64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Subscribed {
    let mut s = Subscribed::default();
    let mut last = i64::MIN;
    let marker = format!("/records/{tag}-");
    loop {
        let message = tokio::select! {
            m = stream.message() => m,
            _ = stop.changed() => break,
        };
        match message {
            Ok(Some(event)) => {
                if event.r#type == pb::EventType::Bookmark as i32 {
                    continue;
                }
                let at = now_ns();
                if event.revision <= last {
                    s.out_of_order += 1;
                }
                last = event.revision;
                let Some(record) = event.object else { continue };
                if !record.name.contains(&marker) {
                    continue;
                }
                if let Some(t) = &record.create_time {
                    let created = t.seconds * 1_000_000_000 + i64::from(t.nanos);
                    s.after_commit
                        .push(Duration::from_nanos(at.saturating_sub(created) as u64));
                }
                if let Some(sent) = record.data.and_then(|d| sent_ns(&d.value)) {
                    s.latencies
                        .push(Duration::from_nanos(at.saturating_sub(sent) as u64));
                }
                s.received += 1;
                received.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => {
                s.error = Some("the stream ended".into());
                break;
            }
            Err(status) => {
                s.error = Some(format!("{:?}: {}", status.code(), status.message()));
                break;
            }
        }
    }
    s
}

/// Prints one run's figures.
pub fn print_run(run: &WatchRun, args: &WatchArgs) {
    let w = &run.writes;
    println!(
        "{:<28} writes {}/{} ok ({} errors, {} ticks skipped) in {:.1} s = {:.0}/s; \
         write p50 {:.1} ms p99 {:.1} ms",
        format!("{} ({} subscribers)", run.label, run.subscribers),
        w.ok,
        run.planned,
        w.errors,
        run.skipped,
        w.elapsed.as_secs_f64(),
        run.write_rate(args.seconds),
        w.pct_ms(50),
        w.pct_ms(99),
    );
    for e in &w.first_errors {
        println!("    write error: {e}");
    }
    if run.subscribers > 0 {
        println!(
            "    events received {} of {} expected{}; out of order {}; streams ended {}",
            run.received,
            run.expected,
            if run.received == run.expected {
                " (equal)"
            } else {
                " (NOT EQUAL)"
            },
            run.out_of_order,
            run.stream_errors,
        );
        for e in &run.first_stream_errors {
            println!("    stream error: {e}");
        }
        println!(
            "    write-to-event latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile_ms(&run.latencies, 50),
            percentile_ms(&run.latencies, 95),
            percentile_ms(&run.latencies, 99),
            percentile_ms(&run.latencies, 100),
        );
        println!(
            "    create_time-to-event latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms \
             (the watch path after the write's commit)",
            percentile_ms(&run.after_commit, 50),
            percentile_ms(&run.after_commit, 95),
            percentile_ms(&run.after_commit, 99),
        );
        println!(
            "    server RSS {:.0} MB with subscribers registered, {:.0} MB at the end (peak {:.0} MB)",
            run.rss_subscribed_mb, run.rss_mb.0, run.rss_mb.1
        );
    } else {
        println!(
            "    server RSS {:.0} MB at the end (peak {:.0} MB)",
            run.rss_mb.0, run.rss_mb.1
        );
    }
}

/// Connects the writers' clients.
pub async fn writers(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    n: usize,
) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(drive::connect(addr, headers).await?);
    }
    Ok(clients)
}
