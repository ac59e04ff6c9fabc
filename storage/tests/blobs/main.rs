//! The blob stores against the same suite: the filesystem store in a temporary directory and
//! the S3 store against a real S3-compatible server (s3s) started in-process on loopback.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use results_storage::blobs::{open_store, BlobConfig, BlobError, BlobKey, BlobStore, BlobStream};
use results_storage::ErrorCode;
use tempfile::TempDir;

use results_storage::testing::s3::{self as s3_server, S3Server};

const BUCKET: &str = "results-logs";
const MIB: usize = 1024 * 1024;

/// One store under test, with what it needs kept alive.
struct Harness {
    store: Arc<dyn BlobStore>,
    kind: Kind,
    _tmp: TempDir,
}

enum Kind {
    Fs { dir: PathBuf },
    S3 { server: S3Server },
}

impl Harness {
    async fn fs() -> Harness {
        let tmp = TempDir::new().unwrap();
        let dir = tmp.path().join("blobs");
        let store = open_store(&BlobConfig::Filesystem { dir: dir.clone() })
            .await
            .unwrap();
        Harness {
            store,
            kind: Kind::Fs { dir },
            _tmp: tmp,
        }
    }

    async fn s3() -> Harness {
        let tmp = TempDir::new().unwrap();
        let server = S3Server::start(tmp.path(), BUCKET).await;
        let store = open_store(&s3_config(&server, BUCKET)).await.unwrap();
        Harness {
            store,
            kind: Kind::S3 { server },
            _tmp: tmp,
        }
    }

    /// What interrupted uploads left behind: temporary files, unfinished multipart uploads.
    fn leftovers(&self) -> Vec<String> {
        match &self.kind {
            Kind::Fs { dir } => walk(dir)
                .into_iter()
                .filter(|path| path.ends_with(".partial"))
                .collect(),
            Kind::S3 { server } => server.upload_leftovers(),
        }
    }

    /// Waits for the cleanup a dropped writer starts in the background.
    async fn assert_no_leftovers(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.leftovers();
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "left behind: {left:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn put(&self, key: &BlobKey, content: &[u8]) {
        let mut writer = self.store.create(key).await.unwrap();
        for chunk in content.chunks(256 * 1024) {
            writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        assert_eq!(writer.finish().await.unwrap(), content.len() as u64);
    }

    /// The whole blob at `key`, checking its size and that no chunk exceeds `chunk`.
    async fn get(&self, key: &BlobKey, chunk: usize) -> Option<Vec<u8>> {
        let (size, stream) = self.store.open(key, chunk).await.unwrap()?;
        let bytes = read_all(stream, chunk).await;
        assert_eq!(bytes.len() as u64, size, "size announced for {key}");
        Some(bytes)
    }
}

fn s3_config(server: &S3Server, bucket: &str) -> BlobConfig {
    BlobConfig::S3 {
        bucket: bucket.into(),
        endpoint: server.endpoint(),
        region: "us-east-1".into(),
        access_key_id: s3_server::ACCESS_KEY.into(),
        secret_access_key: s3_server::SECRET_KEY.into(),
        allow_http: true,
        // Every S3 test runs under a prefix, as a shared bucket would.
        prefix: "tekton/logs".into(),
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path.to_string_lossy().into_owned());
        }
    }
    files
}

async fn read_all(mut stream: BlobStream, chunk: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(item) = stream.next().await {
        let item = item.unwrap();
        assert!(
            !item.is_empty() && item.len() <= chunk.max(1),
            "chunk of {} bytes, asked for at most {chunk}",
            item.len()
        );
        bytes.extend_from_slice(&item);
    }
    bytes
}

fn key(text: &str) -> BlobKey {
    BlobKey::parse(text).unwrap()
}

/// Deterministic content that differs per seed and per 64 KiB block, so that a shifted,
/// repeated or mixed-up chunk never compares equal.
struct Content {
    seed: u8,
    base: Vec<u8>,
}

const BLOCK: usize = 64 * 1024;

impl Content {
    fn new(seed: u8) -> Content {
        let base = (0..BLOCK as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8 ^ seed)
            .collect();
        Content { seed, base }
    }

    /// The bytes at `offset..offset + len`.
    fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut at = offset;
        while out.len() < len {
            let block = at / BLOCK as u64;
            let within = (at % BLOCK as u64) as usize;
            let mut piece = self.base[within..].to_vec();
            // The block number and seed in the first bytes of each block.
            let mut header = block.to_le_bytes().to_vec();
            header.push(self.seed);
            for (i, byte) in header.iter().enumerate() {
                if i >= within {
                    piece[i - within] = *byte;
                }
            }
            piece.truncate(len - out.len());
            at += piece.len() as u64;
            out.extend_from_slice(&piece);
        }
        out
    }

    fn all(&self, len: usize) -> Vec<u8> {
        self.bytes(0, len)
    }
}

/// Generates one async test per store for each suite function.
macro_rules! blob_store_suite {
    ($($test:ident),* $(,)?) => {
        mod fs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Harness::fs().await).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Harness::s3().await).await;
                }
            )*
        }
    };
}

blob_store_suite!(
    round_trip_in_many_chunks,
    small_and_empty_blobs,
    replace_is_atomic_for_readers,
    abort_and_drop_leave_nothing_visible,
    delete_and_delete_prefix,
    absent_keys_are_none,
    memory_stays_bounded_for_a_256_mib_blob,
);

/// Written in many uneven chunks across several S3 parts, read back identical in chunks of
/// at most the size asked for.
async fn round_trip_in_many_chunks(h: &Harness) {
    let content = Content::new(1);
    let len = 12 * MIB + 12_345;
    let expected = content.all(len);
    let key = key("ns/result-1/record-1");
    let mut writer = h.store.create(&key).await.unwrap();
    let sizes = [1, 7, 4096, 65_536, 300_001, MIB + 3];
    let (mut at, mut i) = (0, 0);
    while at < len {
        let n = sizes[i % sizes.len()].min(len - at);
        writer
            .write(Bytes::copy_from_slice(&expected[at..at + n]))
            .await
            .unwrap();
        at += n;
        i += 1;
    }
    assert_eq!(writer.finish().await.unwrap(), len as u64);
    for chunk in [64 * 1024, 1000, 3 * MIB] {
        let got = h.get(&key, chunk).await.expect("blob written");
        assert!(
            got == expected,
            "content differs when read in chunks of {chunk}"
        );
    }
    h.assert_no_leftovers().await;
}

async fn small_and_empty_blobs(h: &Harness) {
    let small = key("ns/result-1/small");
    h.put(&small, b"hello, logs\n").await;
    assert_eq!(h.get(&small, 5).await.unwrap(), b"hello, logs\n");
    assert_eq!(h.get(&small, 1).await.unwrap(), b"hello, logs\n");
    // A chunk of 0 is taken as 1, not as a stream that never ends; a huge one is no
    // allocation of that size.
    assert_eq!(h.get(&small, 0).await.unwrap().len(), 12);
    assert_eq!(h.get(&small, usize::MAX).await.unwrap(), b"hello, logs\n");

    let empty = key("ns/result-1/empty");
    let writer = h.store.create(&empty).await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), 0);
    let (size, stream) = h
        .store
        .open(&empty, 1024)
        .await
        .unwrap()
        .expect("empty blob");
    assert_eq!(size, 0);
    assert!(read_all(stream, 1024).await.is_empty());

    // Exactly one part, and one part and a byte.
    for len in [5 * MIB, 5 * MIB + 1] {
        let key = key(&format!("ns/result-1/len-{len}"));
        let expected = Content::new(9).all(len);
        h.put(&key, &expected).await;
        assert!(
            h.get(&key, 64 * 1024).await.unwrap() == expected,
            "{len} bytes"
        );
    }
}

/// A reader opened before `finish` sees the old blob whole, even while the new one is
/// written and after it is finished; readers opened after see the new one whole.
async fn replace_is_atomic_for_readers(h: &Harness) {
    let key = key("ns/result-1/record-1");
    let old = Content::new(2).all(7 * MIB);
    let new = Content::new(3).all(3 * MIB + 17);
    h.put(&key, &old).await;

    let chunk = 64 * 1024;
    let (old_size, mut before) = h.store.open(&key, chunk).await.unwrap().unwrap();
    assert_eq!(old_size, old.len() as u64);
    let mut seen = before.next().await.unwrap().unwrap().to_vec();

    let mut writer = h.store.create(&key).await.unwrap();
    for piece in new.chunks(MIB) {
        writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    // Written (more than a part for S3), not finished: still the old blob.
    assert!(
        h.get(&key, chunk).await.unwrap() == old,
        "new blob visible before finish"
    );
    let (during_size, during) = h.store.open(&key, chunk).await.unwrap().unwrap();
    assert_eq!(during_size, old.len() as u64);

    assert_eq!(writer.finish().await.unwrap(), new.len() as u64);

    while let Some(item) = before.next().await {
        seen.extend_from_slice(&item.unwrap());
    }
    assert!(seen == old, "a reader opened before the replace saw a mix");
    assert!(
        read_all(during, chunk).await == old,
        "a reader opened during the write saw a mix"
    );
    assert!(
        h.get(&key, chunk).await.unwrap() == new,
        "the new blob after finish"
    );
    h.assert_no_leftovers().await;
}

/// An aborted or dropped writer changes nothing: the old blob stays, a new key stays absent,
/// and the temporary file or multipart upload is cleaned up.
async fn abort_and_drop_leave_nothing_visible(h: &Harness) {
    let existing = key("ns/result-1/existing");
    let old = Content::new(4).all(MIB + 5);
    h.put(&existing, &old).await;
    let fresh = key("ns/result-1/fresh");
    // Past one part, so that S3 has a multipart upload to abort.
    let new = Content::new(5).all(6 * MIB);

    for target in [&existing, &fresh] {
        let mut writer = h.store.create(target).await.unwrap();
        writer.write(Bytes::from(new.clone())).await.unwrap();
        writer.abort().await.unwrap();
        h.assert_no_leftovers().await;

        let mut writer = h.store.create(target).await.unwrap();
        writer.write(Bytes::from(new.clone())).await.unwrap();
        drop(writer); // a client that went away mid-upload
        h.assert_no_leftovers().await;

        // Not even started: nothing to clean.
        drop(h.store.create(target).await.unwrap());
    }
    h.assert_no_leftovers().await;
    assert!(
        h.get(&existing, 64 * 1024).await.unwrap() == old,
        "old blob intact"
    );
    assert!(h.store.open(&fresh, 1024).await.unwrap().is_none());
}

async fn delete_and_delete_prefix(h: &Harness) {
    let keys = [
        "ns/r1/a",
        "ns/r1/b",
        "ns/r1/steps/s1",
        "ns/r1/steps/s2",
        "ns/r10/a",
        "ns/r2/a",
        "other/r1/a",
    ];
    for k in keys {
        h.put(&key(k), k.as_bytes()).await;
    }
    let exists = |k: &'static str| async move { h.get(&key(k), 1024).await.is_some() };

    h.store.delete(&key("ns/r1/a")).await.unwrap();
    assert!(!exists("ns/r1/a").await);
    assert!(exists("ns/r1/b").await);
    // Absent is fine, also under a blob or at a prefix of blobs.
    h.store.delete(&key("ns/r1/a")).await.unwrap();
    h.store.delete(&key("ns/r9/zzz")).await.unwrap();
    h.store.delete(&key("ns/r1/b/under")).await.unwrap();
    h.store.delete(&key("ns/r1/steps")).await.unwrap();
    assert!(exists("ns/r1/steps/s1").await);

    // Segment-wise: ns/r1 is not a prefix of ns/r10.
    assert_eq!(h.store.delete_prefix(&key("ns/r1")).await.unwrap(), 3);
    for gone in ["ns/r1/b", "ns/r1/steps/s1", "ns/r1/steps/s2"] {
        assert!(!exists(gone).await, "{gone}");
    }
    for kept in ["ns/r10/a", "ns/r2/a", "other/r1/a"] {
        assert!(exists(kept).await, "{kept}");
        assert_eq!(h.get(&key(kept), 1024).await.unwrap(), kept.as_bytes());
    }
    assert_eq!(h.store.delete_prefix(&key("ns/r1")).await.unwrap(), 0);
    assert_eq!(h.store.delete_prefix(&key("nothing")).await.unwrap(), 0);
    // A prefix that is a blob's whole key deletes that blob.
    assert_eq!(h.store.delete_prefix(&key("ns/r2/a")).await.unwrap(), 1);
    assert!(!exists("ns/r2/a").await);
    // The namespace as a prefix, with a blob written again after a delete.
    h.put(&key("ns/r1/a"), b"again").await;
    assert_eq!(h.store.delete_prefix(&key("ns")).await.unwrap(), 2);
    assert!(exists("other/r1/a").await);
}

async fn absent_keys_are_none(h: &Harness) {
    assert!(h
        .store
        .open(&key("ns/nothing"), 1024)
        .await
        .unwrap()
        .is_none());
    h.put(&key("ns/r/blob"), b"x").await;
    // Under a blob, and a prefix of blobs: neither is a blob.
    assert!(h
        .store
        .open(&key("ns/r/blob/under"), 1024)
        .await
        .unwrap()
        .is_none());
    assert!(h.store.open(&key("ns/r"), 1024).await.unwrap().is_none());
    assert!(h.store.open(&key("ns"), 1024).await.unwrap().is_none());
}

fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// MEMORY: a 256 MiB blob written in 64 KiB chunks and read back in 64 KiB chunks grows
/// the process's peak RSS (VmHWM over VmRSS before; with S3 the server runs in this process
/// too) by well under 32 MiB. Run alone (nextest runs each test in its own process); prints
/// the throughput seen.
async fn memory_stays_bounded_for_a_256_mib_blob(h: &Harness) {
    const LEN: usize = 256 * MIB;
    const CHUNK: usize = 64 * 1024;
    let content = Content::new(6);
    let key = key("ns/result-big/record-big");
    // Warm up: a first small blob, so that allocator arenas and connections exist.
    h.put(&key, &content.all(6 * MIB)).await;
    h.get(&key, CHUNK).await.unwrap();
    let before = vm_kib("VmRSS:");

    let started = Instant::now();
    let mut writer = h.store.create(&key).await.unwrap();
    for offset in (0..LEN).step_by(CHUNK) {
        writer
            .write(Bytes::from(content.bytes(offset as u64, CHUNK)))
            .await
            .unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), LEN as u64);
    let upload = started.elapsed();

    let started = Instant::now();
    let (size, mut stream) = h.store.open(&key, CHUNK).await.unwrap().unwrap();
    assert_eq!(size, LEN as u64);
    let mut at = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= CHUNK);
        assert!(
            chunk[..] == content.bytes(at, chunk.len())[..],
            "content at {at}"
        );
        at += chunk.len() as u64;
    }
    assert_eq!(at, LEN as u64);
    let download = started.elapsed();

    let growth_mib = vm_kib("VmHWM:").saturating_sub(before) as f64 / 1024.0;
    let mb = LEN as f64 / 1e6;
    println!(
        "blob store {}: 256 MiB upload {:.0} MB/s, download {:.0} MB/s (with content checks), \
         peak RSS growth {growth_mib:.1} MiB",
        match h.kind {
            Kind::Fs { .. } => "fs",
            Kind::S3 { .. } => "s3",
        },
        mb / upload.as_secs_f64(),
        mb / download.as_secs_f64(),
    );
    assert!(
        growth_mib < 32.0,
        "peak RSS grew by {growth_mib:.1} MiB streaming 256 MiB"
    );
    h.store.delete(&key).await.unwrap();
}

#[test]
fn invalid_keys_are_refused_before_any_store() {
    for bad in [
        &["..", "etc"][..],
        &["ns", ""],
        &["Upper"],
        &["a/b"],
        &[".partial"],
    ] {
        let err = BlobKey::new(bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{bad:?}: {err}");
    }
    for bad in ["../etc/passwd", "/abs", "a//b", "a/", "ns/.hidden"] {
        assert!(BlobKey::parse(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn fs_open_refuses_an_unusable_dir_naming_the_setting() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = open_store(&BlobConfig::Filesystem {
        dir: file.join("blobs"),
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, BlobError::Config { setting: "dir", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[tokio::test]
async fn fs_open_removes_stale_temporary_files_only() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("blobs");
    let sub = dir.join("ns/result-1");
    std::fs::create_dir_all(&sub).unwrap();
    let stale = sub.join(".record-1.0f0e.partial");
    let live = sub.join(".record-2.1a2b.partial");
    let blob = sub.join("record-3");
    for path in [&stale, &live, &blob] {
        std::fs::write(path, b"data").unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let store = open_store(&BlobConfig::Filesystem { dir: dir.clone() })
        .await
        .unwrap();
    assert!(!stale.exists(), "a crashed upload's file is removed");
    assert!(
        live.exists(),
        "a recent one may be another replica's upload"
    );
    assert!(blob.exists());
    let (size, _) = store
        .open(&key("ns/result-1/record-3"), 4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(size, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_open_refuses_a_bucket_it_cannot_write_naming_the_setting() {
    let tmp = TempDir::new().unwrap();
    let server = S3Server::start(tmp.path(), BUCKET).await;

    let err = open_store(&s3_config(&server, "no-such-bucket"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BlobError::Config {
                setting: "bucket",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-bucket"), "{err}");

    let mut config = s3_config(&server, BUCKET);
    if let BlobConfig::S3 {
        secret_access_key, ..
    } = &mut config
    {
        *secret_access_key = "wrong".into();
    }
    let err = open_store(&config).await.unwrap_err();
    assert!(matches!(err, BlobError::Config { .. }), "{err}");

    let mut config = s3_config(&server, BUCKET);
    if let BlobConfig::S3 { allow_http, .. } = &mut config {
        *allow_http = false;
    }
    let err = open_store(&config).await.unwrap_err();
    assert!(matches!(err, BlobError::Config { .. }), "{err}");
    assert!(err.to_string().contains(&server.endpoint()), "{err}");

    let mut config = s3_config(&server, BUCKET);
    if let BlobConfig::S3 { prefix, .. } = &mut config {
        *prefix = "Bad Prefix".into();
    }
    let err = open_store(&config).await.unwrap_err();
    assert!(
        matches!(
            err,
            BlobError::Config {
                setting: "prefix",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_blobs_land_under_the_prefix_and_an_outage_is_unavailable() {
    let tmp = TempDir::new().unwrap();
    let server = S3Server::start(tmp.path(), BUCKET).await;
    let store = open_store(&s3_config(&server, BUCKET)).await.unwrap();
    let mut writer = store.create(&key("ns/r/log")).await.unwrap();
    writer.write(Bytes::from_static(b"line\n")).await.unwrap();
    writer.finish().await.unwrap();
    let object = server.root.join(BUCKET).join("tekton/logs/ns/r/log");
    assert_eq!(std::fs::read(&object).unwrap(), b"line\n");

    // The server goes away: callers are told to retry (UNAVAILABLE), not that it is a bug.
    drop(server);
    let Err(err) = store.open(&key("ns/r/log"), 1024).await else {
        panic!("read from a stopped server");
    };
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    let err = results_storage::Error::from(err);
    assert_eq!(err.code(), ErrorCode::Unavailable);
}

/// Over TLS the S3 store verifies the server's certificate (rustls with ring, installed by
/// the store): a self-signed one is refused at start, and the message says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_over_tls_refuses_an_untrusted_certificate() {
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = tokio::spawn({
        let handshakes = Arc::clone(&handshakes);
        async move {
            while let Ok((tcp, _)) = listener.accept().await {
                handshakes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // The client gives up during the handshake: nothing is ever served.
                let _ = acceptor.accept(tcp).await;
            }
        }
    });
    let err = open_store(&BlobConfig::S3 {
        bucket: BUCKET.into(),
        endpoint: format!("https://{addr}"),
        region: "us-east-1".into(),
        access_key_id: s3_server::ACCESS_KEY.into(),
        secret_access_key: s3_server::SECRET_KEY.into(),
        allow_http: false,
        prefix: String::new(),
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            BlobError::Config {
                setting: "bucket",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "the message names the certificate: {err}"
    );
    assert!(handshakes.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    server.abort();
}
