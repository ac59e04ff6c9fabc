//! The log lines of the servers and watchers a test starts, kept in memory (and copied to
//! the test's output) so that the test can wait for one: a refused reload, a denial.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The log lines written since [`CapturedLogs::install`].
#[derive(Debug, Clone)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Installs the process-wide subscriber, at `filter`, writing here. Call it before
    /// starting any server: a subscriber already installed (by [`crate::log_to_test_output`])
    /// cannot be replaced, and this panics then.
    pub fn install(filter: &str) -> CapturedLogs {
        let logs = CapturedLogs(Arc::default());
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || Sink(sink.0.clone()))
            .try_init()
            .expect("no log subscriber installed yet: install CapturedLogs first");
        logs
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The lines logged so far that contain every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| parts.iter().all(|part| line.contains(part)))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until a line containing every one of `parts` is logged, and returns it;
    /// panics after `timeout`.
    pub async fn wait_for(&self, parts: &[&str], timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines_with(parts).into_iter().next() {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line with {parts:?} within {timeout:?}; logged:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One event's writer: into the buffer, and to stderr for the test's output.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
