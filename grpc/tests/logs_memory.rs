//! A log's size does not show in the server's memory: the real `results-api` process takes
//! a 1 GiB log through UpdateLog in 64 KiB messages and gives it back through GetLog, every
//! byte checked, while its resident memory grows by less than [`BOUND`] over its baseline;
//! once with the filesystem store and once with the S3 store (an S3-compatible server in
//! this process, on loopback). The client never holds the log either: its bytes are
//! generated as they are sent and regenerated to check what comes back.
//!
//! `LOGS_MEMORY_TEST_BYTES` changes the size (default 1 GiB). The upload and download rates
//! are printed (`--nocapture`), not asserted.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use results_storage::testing::s3::{self as s3_server, S3Server};

/// The log's size unless `LOGS_MEMORY_TEST_BYTES` says otherwise (not `RESULTS_…`: the
/// server inherits the environment and refuses a `RESULTS_` variable that is no setting).
const DEFAULT_LOG_BYTES: u64 = 1 << 30;
/// Bytes per UpdateLog message.
const MESSAGE: usize = 64 * 1024;
/// How much the server's peak resident memory may exceed its baseline: h2 flow-control
/// windows (1 MiB per connection), a chunk or two per transfer, the S3 store's one 5 MiB
/// part, allocator slack. Nothing that grows with the log. The issue's bound is 32 MB
/// (decimal), so the test holds the server to that, not to 32 MiB.
const BOUND: u64 = 32_000_000;
const BUCKET: &str = "results-logs";
const NS: &str = "ns";

/// The two tests run one after the other: each measures its own server, but the rates
/// printed would be shared between them on the same cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn log_bytes() -> u64 {
    match std::env::var("LOGS_MEMORY_TEST_BYTES") {
        Ok(text) => text
            .parse()
            .expect("LOGS_MEMORY_TEST_BYTES: a number of bytes"),
        Err(_) => DEFAULT_LOG_BYTES,
    }
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("results-logs-memory-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    child: Child,
    grpc: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `results-api` on SQLite in `dir`, with `logs` (pairs of `RESULTS_LOGS_*`
/// variables), on ports the OS picks.
fn start(dir: &TempDir, logs: &[(&str, String)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_results-api"));
    command
        .env(
            "RESULTS_DATABASE_URL",
            format!("sqlite://{}", dir.0.join("r.db").display()),
        )
        .env("RESULTS_SERVER_GRPC_ADDR", "127.0.0.1:0")
        .env("RESULTS_SERVER_REST_ADDR", "127.0.0.1:0")
        .env("RESULTS_LOG_FILTER", "info")
        .env("NO_COLOR", "1")
        // As the manifests run it: glibc keeps fewer per-thread arenas.
        .env("MALLOC_ARENA_MAX", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (var, value) in logs {
        command.env(var, value);
    }
    let mut child = command.spawn().unwrap();
    // The server logs the addresses it listens on.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let grpc = loop {
        let line = lines.next().expect("results-api exited").unwrap();
        if let Some(at) = line.find("grpc=") {
            let addr = line[at + 5..].split_whitespace().next().unwrap();
            break format!("http://{addr}");
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, grpc }
}

/// A `kB` figure from `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// The highest VmRSS of `pid` seen every few milliseconds until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, peak) = (stop.clone(), peak.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(status_bytes(pid, "VmRSS:"), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        Sampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Deterministic log bytes: a pseudo-random 64 KiB block whose first 8 bytes are replaced
/// by the block's number, so that a lost, repeated, shifted or reordered chunk never
/// compares equal.
struct Content {
    base: Vec<u8>,
}

impl Content {
    fn new() -> Content {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let base = (0..MESSAGE)
            .map(|_| {
                // xorshift64
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        Content { base }
    }

    /// Block `n` (the log's bytes `n * MESSAGE ..`), cut to `len` bytes.
    fn block(&self, n: u64, len: usize) -> Vec<u8> {
        let mut block = self.base[..len].to_vec();
        let header = n.to_le_bytes();
        let head = header.len().min(len);
        block[..head].copy_from_slice(&header[..head]);
        block
    }
}

/// Checks downloaded chunks against [`Content`] as they come, whatever their sizes.
struct Checker<'a> {
    content: &'a Content,
    size: u64,
    offset: u64,
    /// The block the last chunk ended in.
    current: Option<(u64, Vec<u8>)>,
}

impl Checker<'_> {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            assert!(
                self.offset < self.size,
                "more than the {} bytes uploaded",
                self.size
            );
            let n = self.offset / MESSAGE as u64;
            let within = (self.offset % MESSAGE as u64) as usize;
            if self.current.as_ref().is_none_or(|(at, _)| *at != n) {
                let len = (self.size - n * MESSAGE as u64).min(MESSAGE as u64) as usize;
                self.current = Some((n, self.content.block(n, len)));
            }
            let expected = &self.current.as_ref().unwrap().1[within..];
            let take = expected.len().min(data.len());
            assert!(
                data[..take] == expected[..take],
                "the bytes at {}..{} differ from those uploaded",
                self.offset,
                self.offset + take as u64
            );
            self.offset += take as u64;
            data = &data[take..];
        }
    }
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// Creates a Result and a TaskRun Record, uploads and downloads the log against `server`,
/// and checks its memory.
async fn round_trip(store: &str, server: &Server) {
    let size = log_bytes();
    let pid = server.child.id();
    let mut results = ResultsClient::connect(server.grpc.clone()).await.unwrap();
    results
        .create_result(pb::CreateResultRequest {
            parent: NS.into(),
            result: Some(pb::Result {
                name: format!("{NS}/results/r"),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let document = serde_json::json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": "build", "namespace": NS, "uid": "tr-1"},
        "status": {"startTime": "2026-01-01T00:00:00Z"},
    });
    results
        .create_record(pb::CreateRecordRequest {
            parent: format!("{NS}/results/r"),
            record: Some(pb::Record {
                name: format!("{NS}/results/r/records/tr-1"),
                data: Some(pb::Any {
                    r#type: "tekton.dev/v1.TaskRun".into(),
                    value: serde_json::to_vec(&document).unwrap(),
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let mut logs = LogsClient::connect(server.grpc.clone()).await.unwrap();
    let baseline = status_bytes(pid, "VmRSS:");
    let sampler = Sampler::start(pid);

    let content = Arc::new(Content::new());
    let name = format!("{NS}/results/r/logs/tr-1");
    let messages = size.div_ceil(MESSAGE as u64);
    let upload = futures::stream::iter(0..messages).map({
        let (content, name) = (content.clone(), name.clone());
        move |n| pb::Log {
            // Later messages may leave the name out.
            name: if n == 0 { name.clone() } else { String::new() },
            data: content.block(n, (size - n * MESSAGE as u64).min(MESSAGE as u64) as usize),
        }
    });
    let started = Instant::now();
    let summary = logs.update_log(upload).await.unwrap().into_inner();
    let uploaded = started.elapsed();
    assert_eq!(summary.bytes_received, size as i64);
    let after_upload = sampler.peak();

    let started = Instant::now();
    let mut chunks = logs
        .get_log(pb::GetLogRequest { name })
        .await
        .unwrap()
        .into_inner();
    let mut checker = Checker {
        content: &content,
        size,
        offset: 0,
        current: None,
    };
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.content_type, "text/plain");
        checker.feed(&chunk.data);
    }
    let downloaded = started.elapsed();
    assert_eq!(checker.offset, size, "the whole log came back");

    let sampled = sampler.peak();
    drop(sampler);
    let hwm = status_bytes(pid, "VmHWM:");
    let peak = sampled.max(hwm);
    let grown = peak.saturating_sub(baseline);
    println!(
        "{store}: {} MiB up in {:.1} s ({:.0} MB/s), down in {:.1} s ({:.0} MB/s); \
         server RSS baseline {:.1} MiB, peak sampled {:.1} MiB (upload {:.1}), VmHWM {:.1} MiB, \
         grown {:.1} MiB",
        size >> 20,
        uploaded.as_secs_f64(),
        rate(size, uploaded),
        downloaded.as_secs_f64(),
        rate(size, downloaded),
        baseline as f64 / 1048576.0,
        sampled as f64 / 1048576.0,
        after_upload as f64 / 1048576.0,
        hwm as f64 / 1048576.0,
        grown as f64 / 1048576.0,
    );
    assert!(
        grown < BOUND,
        "{store}: the server grew by {grown} bytes for a {size}-byte log; bound {BOUND}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_log_through_the_filesystem_store_keeps_memory_flat() {
    let _serial = SERIAL.lock().await;
    let dir = TempDir::new("fs");
    let server = start(
        &dir,
        &[
            ("RESULTS_LOGS_STORE", "filesystem".into()),
            (
                "RESULTS_LOGS_DIR",
                dir.0.join("logs").to_string_lossy().into_owned(),
            ),
        ],
    );
    round_trip("filesystem", &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_log_through_the_s3_store_keeps_memory_flat() {
    let _serial = SERIAL.lock().await;
    let dir = TempDir::new("s3");
    let root = dir.0.join("s3");
    std::fs::create_dir_all(&root).unwrap();
    let s3 = S3Server::start(&root, BUCKET).await;
    let server = start(
        &dir,
        &[
            ("RESULTS_LOGS_STORE", "s3".into()),
            ("RESULTS_LOGS_S3_ENDPOINT", s3.endpoint()),
            ("RESULTS_LOGS_S3_ALLOW_HTTP", "true".into()),
            ("RESULTS_LOGS_S3_BUCKET", BUCKET.into()),
            ("RESULTS_LOGS_S3_REGION", "us-east-1".into()),
            (
                "RESULTS_LOGS_S3_ACCESS_KEY_ID",
                s3_server::ACCESS_KEY.into(),
            ),
            (
                "RESULTS_LOGS_S3_SECRET_ACCESS_KEY",
                s3_server::SECRET_KEY.into(),
            ),
            ("RESULTS_LOGS_S3_PREFIX", "tekton/logs".into()),
        ],
    );
    round_trip("s3", &server).await;
    assert!(
        s3.upload_leftovers().is_empty(),
        "{:?}",
        s3.upload_leftovers()
    );
}
