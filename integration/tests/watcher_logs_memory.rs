//! Memory: the watcher streams a step log from `pods/log` into `UpdateLog` a chunk at a
//! time, so a log far larger than any buffer leaves the process's peak RSS nearly where it
//! was. Alone in its test binary, so that no other test's allocations blur the measure
//! (the fake Kubernetes API, the recording double and the API share the process; the
//! first two are bounded by a chunk as well).

mod logs_support;

use logs_support::*;

/// `VmRSS` or `VmHWM` of this process, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a size in kB");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarter_gigabyte_step_log_is_uploaded_in_bounded_memory() {
    const SIZE: u64 = 256 << 20;
    const BOUND: u64 = 32 << 20;
    let cluster = Cluster::with_double(|s| s.logs.max_bytes_per_step = 1 << 30).await;
    let kube = &cluster.kube;
    // Once through the whole path first, so that pools and buffers that are kept exist.
    kube.set_pod_log_generated(NS, "warm-pod", "step-build", 4 << 20);
    kube.create(finished_task_run("warm", &["step-build"], None));
    cluster.wait_logs_stored("warm").await;

    // Resets VmHWM to the current RSS (Linux: clear_refs "5").
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let before = status_bytes("VmRSS:");
    kube.set_pod_log_generated(NS, "big-pod", "step-build", SIZE);
    kube.create(finished_task_run("big", &["step-build"], None));
    let stored = cluster.wait_logs_stored("big").await;
    let peak = status_bytes("VmHWM:");

    let received = cluster
        .double()
        .log(&log_name(&stored, "step-build"))
        .expect("uploaded");
    assert_eq!(received.bytes, SIZE);
    assert_eq!(
        received.digest,
        generated_digest(SIZE),
        "the log as generated"
    );
    let grown = peak.saturating_sub(before);
    assert!(
        grown < BOUND,
        "peak RSS grew by {} MiB for a {} MiB log (bound {} MiB)",
        grown >> 20,
        SIZE >> 20,
        BOUND >> 20
    );
}
