//! CPU time of a phase, split by process: this load generator, the `results-api` child (with
//! `--server-binary`) and the database server running on this machine (PostgreSQL's or
//! MariaDB's processes), read from `/proc`. On a machine where all three share the cores,
//! a rate is bounded by the CPU the whole path spends per operation; this says which part
//! spends it, and the database's part is what bounds the rate when the database has a
//! machine of its own.
//!
//! The database's CPU is that of every process of its server, whoever's work it did (run
//! nothing else against the same server while measuring). PostgreSQL serves each
//! connection in a process of its own: a backend that exits during a phase has its CPU
//! added to the postmaster's children's time when it is reaped, which is counted too, so
//! connections closed within a phase are not lost. Without `/proc` (not Linux) every part
//! reads zero and the report leaves the table out.

use std::time::Duration;

use crate::raw::Backend;

/// The CPU each part spent in a phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSplit {
    /// This process (and the server, when it runs in-process).
    pub load: Duration,
    /// The `results-api` child, if there is one.
    pub server: Option<Duration>,
    /// The database server's processes, for PostgreSQL and MariaDB on this machine.
    pub database: Option<Duration>,
}

/// Reads the CPU time of the three parts.
#[derive(Debug, Clone)]
pub struct Meter {
    server: Option<u32>,
    database: Option<&'static [&'static str]>,
}

/// Cumulative CPU ticks of each part at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    load: u64,
    server: Option<u64>,
    database: Option<u64>,
}

impl Meter {
    /// A meter for the server child `server` (None: in-process) over `backend`'s server.
    pub fn new(server: Option<u32>, backend: Backend) -> Meter {
        let database: Option<&'static [&'static str]> = match backend {
            Backend::Postgres => Some(&["postgres"]),
            Backend::Mysql => Some(&["mariadbd", "mysqld"]),
            // SQLite runs inside the server.
            Backend::Sqlite => None,
        };
        Meter { server, database }
    }

    /// The cumulative CPU of each part now.
    pub fn read(&self) -> Reading {
        Reading {
            load: process_ticks("self").map_or(0, |(own, _)| own),
            server: self
                .server
                .map(|pid| process_ticks(&pid.to_string()).map_or(0, |(own, _)| own)),
            database: self.database.map(database_ticks),
        }
    }

    /// What each part spent since `start`.
    pub fn since(&self, start: &Reading) -> CpuSplit {
        let now = self.read();
        let span = |a: u64, b: u64| Duration::from_secs_f64(b.saturating_sub(a) as f64 / USER_HZ);
        CpuSplit {
            load: span(start.load, now.load),
            server: start.server.zip(now.server).map(|(a, b)| span(a, b)),
            database: start.database.zip(now.database).map(|(a, b)| span(a, b)),
        }
    }
}

/// Clock ticks per second of `/proc/*/stat` times: Linux reports them in `USER_HZ`, which
/// is 100 on every architecture it exports to user space (`sysconf(_SC_CLK_TCK)`).
const USER_HZ: f64 = 100.0;

/// A process's own CPU ticks (user + system, all its threads, live or exited) and those of
/// its reaped children, from `/proc/<pid>/stat`.
fn process_ticks(pid: &str) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields follow the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14–17 of stat(5) (utime, stime, cutime, cstime) are at 11–14 after the name.
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((field(11)? + field(12)?, field(13)? + field(14)?))
}

/// The CPU ticks of every process named one of `names`, with their reaped children's.
fn database_ticks(names: &[&str]) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !names.contains(&comm.trim_end()) {
            continue;
        }
        if let Some((own, children)) = process_ticks(pid) {
            total += own + children;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_process_spinning() {
        let meter = Meter::new(None, Backend::Sqlite);
        let start = meter.read();
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = meter.since(&start);
        // A busy loop of 300 ms wall time spends CPU (on a loaded machine, less than 300
        // ms of it, but never none: a tick is 10 ms).
        assert!(spent.load > Duration::ZERO, "{spent:?}");
        assert!(spent.server.is_none() && spent.database.is_none());
    }
}
