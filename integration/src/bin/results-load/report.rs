//! The plain-text report.

use std::time::Duration;

use crate::cpu::CpuSplit;
use crate::drive::{self, Listing};
use crate::raw::Backend;
use crate::stats::{percentile_ms, Stats};
use crate::workload::RECORDS_PER_RESULT;
use crate::Args;

/// Index in `Report::phases` of the creates at concurrency 1.
pub const PHASE_CREATE_1: usize = 1;
/// Index in `Report::phases` of the creates at concurrency C.
pub const PHASE_CREATE_C: usize = 2;

/// Which create phase is compared with which yardstick (index into `Report::raw`).
pub const YARDSTICKS: [(usize, usize); 4] = [
    (PHASE_CREATE_1, 0),
    (PHASE_CREATE_C, 1),
    (PHASE_CREATE_1, 2),
    (PHASE_CREATE_C, 3),
];

/// Everything measured.
#[derive(Default)]
pub struct Report {
    /// Operation phases, in order (see the `PHASE_*` indices).
    pub phases: Vec<(String, Stats)>,
    /// Listings and their expected row counts.
    pub listings: Vec<(Listing, u64)>,
    /// `VmRSS` and `VmHWM` in MB at the end.
    pub rss_mb: (f64, f64),
    /// Whether `rss_mb` is the server's alone (a child process) rather than this process's.
    pub server_alone: bool,
    /// The yardsticks: INSERT loops into the primary-key-only table at concurrency 1 and C,
    /// then into the copy of `records` at 1 and C (see [`YARDSTICKS`]).
    pub raw: Vec<(String, Stats)>,
    /// The database's size once the records are in (before the yardsticks).
    pub db_size: Option<crate::size::DbSize>,
    /// `--index-costs`: (index, definition, the loop with only that index dropped).
    pub index_costs: Vec<(String, String, Stats)>,
    /// `--index-costs`: the loop with every index, before and after the per-index runs.
    pub index_baseline: Vec<Stats>,
    /// Mean document size of a sample, in KiB.
    pub mean_doc_kb: f64,
    /// Anything else worth saying.
    pub notes: Vec<String>,
    /// The auth mode the server ran in (`--auth`).
    pub auth: &'static str,
    /// TokenReviews and SubjectAccessReviews answered by the fake cluster (kubernetes).
    pub reviews: Option<(usize, usize)>,
}

/// Prints everything measured as plain-text tables.
pub fn print_report(
    r: &Report,
    args: &Args,
    backend: Backend,
    url: &str,
    seed: u64,
    total: Duration,
) {
    println!();
    println!("results-load report");
    println!(
        "  backend {} ({url}), {} records requested in {} results, concurrency {}, \
         record ~{:.1} KiB (--record-kb {}), seed {seed}, run {:.0} s",
        backend.name(),
        args.records,
        args.records.div_ceil(RECORDS_PER_RESULT),
        args.concurrency,
        r.mean_doc_kb,
        args.record_kb,
        total.as_secs_f64()
    );
    print!("  auth {}", r.auth);
    if let Some((tokens, access)) = r.reviews {
        print!(" ({tokens} TokenReviews and {access} SubjectAccessReviews for all calls)");
    }
    println!();
    println!();
    println!(
        "{:<20} {:>8} {:>7} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "operation", "ok", "errors", "secs", "ops/s", "p50 ms", "p95 ms", "p99 ms"
    );
    for (label, s) in r.phases.iter().chain(r.raw.iter()) {
        println!(
            "{:<20} {:>8} {:>7} {:>9.2} {:>10.1} {:>9.2} {:>9.2} {:>9.2}{}",
            label,
            s.ok,
            s.errors,
            s.elapsed.as_secs_f64(),
            s.rate(),
            s.pct_ms(50),
            s.pct_ms(95),
            s.pct_ms(99),
            if s.truncated {
                "  (stopped at --max-seconds)"
            } else {
                ""
            }
        );
    }
    for (ours, raw) in YARDSTICKS {
        match (r.phases.get(ours), r.raw.get(raw)) {
            (Some((o, os)), Some((w, ws))) if ws.rate() > 0.0 => {
                println!("ratio {o} / {w}: {:.2}", os.rate() / ws.rate());
            }
            _ => println!("ratio ours / yardstick: n/a (phase missing)"),
        }
    }
    print_cpu(r);
    print_index_costs(r);
    println!();
    println!(
        "listings: parent {}, order_by {}, page_size {}; first page repeated 20 times, then paged to the end",
        drive::ANY_PARENT, drive::ORDER, drive::PAGE_SIZE
    );
    println!(
        "{:<64} {:>7} {:>7} {:>6} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "filter",
        "p50 ms",
        "p95 ms",
        "pages",
        "rows",
        "expected",
        "secs",
        "page1 ms",
        "med ms",
        "max ms",
        "last ms",
        "10%/10%"
    );
    let mut tenths = Vec::new();
    for (l, expected) in &r.listings {
        let times: Vec<Duration> = l.pages.iter().map(|p| p.0).collect();
        let tenth = (times.len() / 10).max(1).min(times.len());
        let head = percentile_ms(&times[..tenth], 50);
        let tail = percentile_ms(&times[times.len() - tenth..], 50);
        tenths.push((
            l.label.clone(),
            head,
            percentile_ms(&times[..tenth], 95),
            tail,
            percentile_ms(&times[times.len() - tenth..], 95),
        ));
        let median = percentile_ms(&times, 50);
        let max = percentile_ms(&times, 100);
        println!(
            "{:<64} {:>7.2} {:>7.2} {:>6} {:>7} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8}",
            l.label,
            percentile_ms(&l.first_page, 50),
            percentile_ms(&l.first_page, 95),
            l.pages.len(),
            l.rows,
            expected,
            l.elapsed.as_secs_f64(),
            times.first().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            median,
            max,
            times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            if head > 0.0 {
                format!("{:.2}x", tail / head)
            } else {
                "n/a".into()
            },
        );
        let mut problems = Vec::new();
        if l.rows != *expected && !l.truncated && l.errors.is_empty() {
            problems.push(format!("{} rows, {expected} expected", l.rows));
        }
        if l.duplicates > 0 {
            problems.push(format!("{} duplicate rows", l.duplicates));
        }
        if l.order_violations > 0 {
            problems.push(format!(
                "{} rows out of create_time desc order",
                l.order_violations
            ));
        }
        if head > 0.0 && tail / head > 2.0 {
            problems.push(format!("page latency grows: median of the last 10% of pages {tail:.2} ms vs first 10% {head:.2} ms"));
        }
        let slow = times
            .iter()
            .filter(|t| t.as_secs_f64() * 1000.0 > 5.0 * median)
            .count();
        if slow > 0 && max > 50.0 {
            problems.push(format!(
                "{slow} of {} pages took over 5x the median page ({median:.2} ms), up to {max:.2} ms",
                times.len()
            ));
        }
        if l.truncated {
            problems.push("stopped at --max-seconds or the page bound".into());
        }
        problems.extend(l.errors.iter().map(|e| format!("error: {e}")));
        for p in problems {
            println!("    ! {p}");
        }
    }
    println!("  (10%/10% = median latency of the last tenth of the pages over the first tenth; ~1x means flat page cost)");
    println!(
        "page latency by tenth of the listing (ms): first tenth p50 / p95, last tenth p50 / p95"
    );
    for (label, h50, h95, t50, t95) in &tenths {
        println!("  {label:<64} {h50:>7.2} / {h95:>7.2}   {t50:>7.2} / {t95:>7.2}");
    }
    println!();
    let whose = if r.server_alone {
        "results-api process (its own)"
    } else {
        "process (server and load generator share it)"
    };
    println!(
        "{whose} RSS at the end: {:.1} MB (peak {:.1} MB)",
        r.rss_mb.0, r.rss_mb.1
    );
    for (label, s) in r.phases.iter().chain(r.raw.iter()) {
        for e in &s.first_errors {
            println!("  error in {label}: {e}");
        }
    }
    if let Some(size) = &r.db_size {
        let records = r
            .phases
            .get(PHASE_CREATE_1)
            .zip(r.phases.get(PHASE_CREATE_C))
            .map_or(0, |((_, a), (_, b))| a.ok + b.ok);
        let mb = |b: u64| b as f64 / 1e6;
        println!(
            "database size: {:.1} MB, {:.2} KB per Record ({records} Records stored by this run){}",
            mb(size.total),
            if records > 0 {
                size.total as f64 / records as f64 / 1e3
            } else {
                0.0
            },
            if size.tables.is_empty() {
                String::new()
            } else {
                format!(
                    "; largest tables with their indexes: {}",
                    size.tables
                        .iter()
                        .map(|(t, b)| format!("{t} {:.1} MB", mb(*b)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    for note in &r.notes {
        println!("  note: {note}");
    }
}

/// The cost of each index of `records` on the concurrent INSERT loop: the rate with only that
/// index dropped over the rate with all of them (the mean of the runs before and after).
fn print_index_costs(r: &Report) {
    if r.index_costs.is_empty() {
        return;
    }
    let all: Vec<f64> = r.index_baseline.iter().map(Stats::rate).collect();
    let base = all.iter().sum::<f64>() / all.len().max(1) as f64;
    println!();
    println!(
        "index costs: INSERT loop into the copy of records, all indexes {} ops/s (runs before \
         and after the others: {})",
        format_args!("{base:.1}"),
        all.iter()
            .map(|a| format!("{a:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{:<40} {:>10} {:>12}  definition",
        "without index", "ops/s", "vs all"
    );
    for (name, def, s) in &r.index_costs {
        println!(
            "{:<40} {:>10.1} {:>11.2}x  {}",
            name,
            s.rate(),
            if base > 0.0 { s.rate() / base } else { 0.0 },
            def
        );
        if let Some(e) = s.first_errors.first() {
            println!("    ! {} errors, the first: {e}", s.errors);
        }
    }
}

/// CPU per operation of each phase, by process, and the database's share over the
/// yardsticks' (see [`crate::cpu`]).
fn print_cpu(r: &Report) {
    let rows: Vec<(&String, &Stats, CpuSplit)> = r
        .phases
        .iter()
        .chain(r.raw.iter())
        .filter_map(|(label, s)| s.cpu.map(|cpu| (label, s, cpu)))
        .filter(|(_, s, _)| s.ops() > 0)
        .collect();
    if rows.is_empty() {
        return;
    }
    let per_op = |d: Duration, s: &Stats| d.as_secs_f64() * 1000.0 / s.ops() as f64;
    let cell = |d: Option<Duration>, s: &Stats| {
        d.map_or("-".to_owned(), |d| format!("{:.3}", per_op(d, s)))
    };
    println!();
    println!(
        "CPU ms per operation, by process (from /proc; the database's is its server's whole CPU):"
    );
    println!(
        "{:<20} {:>12} {:>12} {:>12} {:>12}",
        "operation", "load tool", "results-api", "database", "all"
    );
    for (label, s, cpu) in &rows {
        let all = cpu.load + cpu.server.unwrap_or_default() + cpu.database.unwrap_or_default();
        println!(
            "{:<20} {:>12} {:>12} {:>12} {:>12.3}",
            label,
            format!("{:.3}", per_op(cpu.load, s)),
            cell(cpu.server, s),
            cell(cpu.database, s),
            per_op(all, s)
        );
    }
    if !r.server_alone {
        println!("  (the server ran in this process: its CPU is in the load tool's column)");
    }
    for (ours, raw) in YARDSTICKS {
        let (Some((o, os)), Some((w, ws))) = (r.phases.get(ours), r.raw.get(raw)) else {
            continue;
        };
        let db = |s: &Stats| {
            s.cpu
                .and_then(|c| c.database)
                .filter(|_| s.ops() > 0)
                .map(|d| per_op(d, s))
        };
        if let (Some(ours_db), Some(raw_db)) = (db(os), db(ws)) {
            if ours_db > 0.0 {
                println!("database CPU per op, {w} / {o}: {:.2}", raw_db / ours_db);
            }
        }
    }
}
