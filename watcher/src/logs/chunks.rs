//! One step's log as `UpdateLog` messages: read from the pod's log stream a chunk at a
//! time (never the whole log), cut at the size cap with a line saying so; a failed read,
//! or an abort asked for, ends the stream with [`Upload::Abort`], never as the end of the
//! log.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use futures::io::{AsyncRead, AsyncReadExt as _};
use futures::Stream;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::codec::Upload;
use crate::pb;

/// Bytes of log data in one message, at most.
pub const CHUNK_BYTES: usize = 64 << 10;

/// The line appended to a log cut at `cap` bytes.
pub fn truncation_line(cap: u64) -> String {
    format!("\n[results-watcher: log truncated at {cap} bytes]\n")
}

/// What the chunk stream tells its consumer besides the chunks.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    /// Milliseconds after `start` of the last chunk read.
    last_ms: AtomicU64,
    /// Log bytes read so far (before the truncation line).
    read: AtomicU64,
    /// Whether the log was cut at the cap.
    truncated: std::sync::atomic::AtomicBool,
    /// Why the upload was aborted, if it was.
    failure: Mutex<Option<String>>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            read: AtomicU64::new(0),
            truncated: Default::default(),
            failure: Mutex::new(None),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Relaxed);
    }

    /// When the last chunk was read (or the stream started).
    pub fn last(&self) -> Instant {
        self.start + std::time::Duration::from_millis(self.last_ms.load(Relaxed))
    }

    /// Log bytes read so far, without the truncation line.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Relaxed)
    }

    /// Whether the log was cut at the cap.
    pub fn truncated(&self) -> bool {
        self.truncated.load(Relaxed)
    }

    /// Why the upload was aborted (a failed read, or an abort asked for), if it was.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("failure lock").clone()
    }
}

/// The upload of one log and its progress.
pub struct Chunks {
    /// The messages, each carrying the log's name; after a failed read or an abort, one
    /// [`Upload::Abort`] and the end.
    pub uploads: Pin<Box<dyn Stream<Item = Upload> + Send>>,
    /// Shared progress of the reading.
    pub progress: Arc<Progress>,
}

struct State<R> {
    reader: R,
    name: String,
    cap: u64,
    read: u64,
    sent_any: bool,
    done: bool,
    progress: Arc<Progress>,
}

type AbortFuture = Pin<Box<dyn Future<Output = String> + Send>>;

/// Reads `reader` into messages named `name`: chunks of at most [`CHUNK_BYTES`], at most
/// `cap` bytes of log and then [`truncation_line`] if there was more; an empty log is one
/// empty message. A reason sent on `abort` ends the upload with [`Upload::Abort`], even
/// while a read is waiting; so does a failed read.
pub fn chunks<R>(reader: R, name: String, cap: u64, abort: oneshot::Receiver<String>) -> Chunks
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let progress = Arc::new(Progress::new());
    let state = State {
        reader,
        name,
        cap,
        read: 0,
        sent_any: false,
        done: false,
        progress: progress.clone(),
    };
    // Resolves only with a reason: a dropped sender means no abort will come.
    let abort: AbortFuture = Box::pin(async move {
        match abort.await {
            Ok(why) => why,
            Err(_) => std::future::pending().await,
        }
    });
    let uploads = futures::stream::unfold((state, abort), |(mut state, mut abort)| async move {
        if state.done {
            return None;
        }
        let next = tokio::select! {
            biased;
            why = &mut abort => Err(why),
            next = next_message(&mut state) => {
                next.map_err(|e| format!("reading the log failed: {e}"))
            }
        };
        match next {
            Ok(Some(message)) => {
                state.sent_any = true;
                state.progress.touch();
                Some((Upload::Chunk(message), (state, abort)))
            }
            Ok(None) => None,
            Err(why) => {
                state.done = true;
                *state.progress.failure.lock().expect("failure lock") = Some(why.clone());
                Some((Upload::Abort(why), (state, abort)))
            }
        }
    });
    Chunks {
        uploads: Box::pin(uploads),
        progress,
    }
}

/// The next message, or `None` at the end.
async fn next_message<R: AsyncRead + Unpin>(
    state: &mut State<R>,
) -> std::io::Result<Option<pb::Log>> {
    let message = |state: &State<R>, data: Vec<u8>| pb::Log {
        name: state.name.clone(),
        data,
    };
    let left = state.cap - state.read;
    if left == 0 {
        // At the cap: one more byte says whether the log was cut.
        state.done = true;
        let mut probe = [0u8; 1];
        if read_full(&mut state.reader, &mut probe).await? > 0 {
            state.progress.truncated.store(true, Relaxed);
            let line = truncation_line(state.cap).into_bytes();
            return Ok(Some(message(state, line)));
        }
        return Ok((!state.sent_any).then(|| message(state, Vec::new())));
    }
    let want = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK_BYTES);
    let mut buffer = vec![0u8; want];
    let filled = read_full(&mut state.reader, &mut buffer).await?;
    buffer.truncate(filled);
    state.read += filled as u64;
    state.progress.read.store(state.read, Relaxed);
    if filled < want {
        // The end of the log.
        state.done = true;
        if filled == 0 && state.sent_any {
            return Ok(None);
        }
    }
    Ok(Some(message(state, buffer)))
}

/// Reads until `buffer` is full or the reader ends; returns the bytes read.
async fn read_full<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut [u8],
) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;

    fn messages(uploads: Vec<Upload>) -> Vec<pb::Log> {
        uploads
            .into_iter()
            .map(|u| match u {
                Upload::Chunk(log) => log,
                Upload::Abort(why) => panic!("aborted: {why}"),
            })
            .collect()
    }

    async fn collect(text: &[u8], cap: u64) -> (Vec<pb::Log>, Arc<Progress>) {
        let reader = futures::io::Cursor::new(text.to_vec());
        let (_abort, aborted) = oneshot::channel();
        let chunks = chunks(reader, "ns/results/r/logs/t/step-a".into(), cap, aborted);
        let uploads = chunks.uploads.collect::<Vec<_>>().await;
        (messages(uploads), chunks.progress)
    }

    fn joined(messages: &[pb::Log]) -> Vec<u8> {
        messages.iter().flat_map(|m| m.data.clone()).collect()
    }

    #[tokio::test]
    async fn a_log_is_sent_in_chunks_that_each_carry_the_name() {
        let text: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (messages, progress) = collect(&text, 1 << 30).await;
        assert_eq!(messages.len(), 4, "three full chunks and the rest");
        assert!(messages.iter().all(|m| m.data.len() <= CHUNK_BYTES));
        assert!(messages
            .iter()
            .all(|m| m.name == "ns/results/r/logs/t/step-a"));
        assert_eq!(joined(&messages), text);
        assert_eq!(progress.bytes_read(), text.len() as u64);
        assert!(!progress.truncated());
        assert_eq!(progress.failure(), None);
    }

    #[tokio::test]
    async fn an_exact_multiple_of_the_chunk_size_ends_without_an_empty_message() {
        let text = vec![b'x'; 2 * CHUNK_BYTES];
        let (messages, _) = collect(&text, 1 << 30).await;
        assert_eq!(messages.len(), 2);
        assert_eq!(joined(&messages), text);
    }

    #[tokio::test]
    async fn an_empty_log_is_one_empty_message() {
        let (messages, progress) = collect(b"", 100).await;
        assert_eq!(messages.len(), 1);
        assert!(messages[0].data.is_empty());
        assert_eq!(messages[0].name, "ns/results/r/logs/t/step-a");
        assert_eq!(progress.bytes_read(), 0);
    }

    #[tokio::test]
    async fn a_log_over_the_cap_is_cut_there_with_a_line_saying_so() {
        let (messages, progress) = collect(b"0123456789abcdef", 10).await;
        let mut expected = b"0123456789".to_vec();
        expected.extend_from_slice(b"\n[results-watcher: log truncated at 10 bytes]\n");
        assert_eq!(joined(&messages), expected);
        assert!(progress.truncated());
        assert_eq!(progress.bytes_read(), 10);
    }

    #[tokio::test]
    async fn a_log_of_exactly_the_cap_is_not_marked_cut() {
        let (messages, progress) = collect(b"0123456789", 10).await;
        assert_eq!(joined(&messages), b"0123456789");
        assert!(!progress.truncated());
        let (messages, _) = collect(b"", 1).await;
        assert_eq!(messages.len(), 1);
    }

    /// Yields `.0` bytes, then fails, or (`.1`) waits forever.
    struct Failing(usize, bool);

    impl AsyncRead for Failing {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            if self.0 == 0 {
                if self.1 {
                    return std::task::Poll::Pending;
                }
                return std::task::Poll::Ready(Err(std::io::Error::other("connection reset")));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(b'y');
            self.0 -= n;
            std::task::Poll::Ready(Ok(n))
        }
    }

    #[tokio::test]
    async fn a_failed_read_ends_the_upload_with_an_abort_not_an_end() {
        let (_abort, aborted) = oneshot::channel();
        let chunks = chunks(
            Failing(CHUNK_BYTES + 10, false),
            "n".into(),
            1 << 30,
            aborted,
        );
        let uploads = chunks.uploads.collect::<Vec<_>>().await;
        assert_eq!(uploads.len(), 2, "a full chunk, then the abort");
        assert!(matches!(&uploads[0], Upload::Chunk(log) if log.data.len() == CHUNK_BYTES));
        let Upload::Abort(why) = &uploads[1] else {
            panic!("{:?}", uploads[1]);
        };
        assert!(why.contains("connection reset"), "{why}");
        assert_eq!(chunks.progress.failure().as_deref(), Some(why.as_str()));
    }

    #[tokio::test]
    async fn an_abort_ends_an_upload_whose_read_hangs() {
        let (abort, aborted) = oneshot::channel();
        let mut chunks = chunks(Failing(10, true), "n".into(), 1 << 30, aborted);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(100), chunks.uploads.next())
                .await;
        assert!(waiting.is_err(), "the read hangs");
        abort.send("no progress".into()).unwrap();
        assert_eq!(
            chunks.uploads.next().await,
            Some(Upload::Abort("no progress".into()))
        );
        assert_eq!(chunks.uploads.next().await, None);
    }
}
