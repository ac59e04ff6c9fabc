//! Counts, errors and latencies of one phase.

use std::time::Duration;

/// Outcome of one phase.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// The first few error messages.
    pub first_errors: Vec<String>,
    /// Latency of every operation.
    pub latencies: Vec<Duration>,
    /// Wall-clock time of the phase.
    pub elapsed: Duration,
    /// Stopped at the deadline before the planned count.
    pub truncated: bool,
    /// The CPU spent in the phase, by process (see [`crate::cpu`]).
    pub cpu: Option<crate::cpu::CpuSplit>,
}

impl Stats {
    /// Records one operation.
    pub fn observe(&mut self, latency: Duration, outcome: Result<(), String>) {
        self.latencies.push(latency);
        match outcome {
            Ok(()) => self.ok += 1,
            Err(e) => {
                self.errors += 1;
                if self.first_errors.len() < 3 {
                    self.first_errors.push(e);
                }
            }
        }
    }

    /// Adds another worker's figures (not the elapsed time).
    pub fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        self.errors += other.errors;
        for e in other.first_errors {
            if self.first_errors.len() < 3 {
                self.first_errors.push(e);
            }
        }
        self.latencies.extend(other.latencies);
        self.truncated |= other.truncated;
    }

    /// Operations (ok or not).
    pub fn ops(&self) -> u64 {
        self.ok + self.errors
    }

    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The `p`-th percentile latency in milliseconds.
    pub fn pct_ms(&self, p: usize) -> f64 {
        percentile_ms(&self.latencies, p)
    }
}

/// Nearest-rank percentile of `samples`, in milliseconds (0 when empty).
pub fn percentile_ms(samples: &[Duration], p: usize) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}
