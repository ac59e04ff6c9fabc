//! How an import shows its progress: on a terminal, one line redrawn in place (a bar, the
//! counts, the rate and the time left); otherwise (a pipe, a log file) a plain line every
//! few seconds. Skips are always lines of their own.

use std::io::Write;
use std::time::{Duration, Instant};

use results_actors::import::{Note, Progress, Report};

/// How often a terminal line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);
/// Width of the bar, in characters.
const BAR: usize = 30;

/// Progress on standard error.
pub struct ConsoleProgress {
    out: Box<dyn Write + Send>,
    terminal: bool,
    every: Duration,
    started: Instant,
    last: Option<Instant>,
    total: u64,
    drawn: bool,
}

impl std::fmt::Debug for ConsoleProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleProgress")
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

impl ConsoleProgress {
    /// Writes to `out`; `terminal` chooses the redrawn bar, else a line every `every`.
    pub fn new(out: Box<dyn Write + Send>, terminal: bool, every: Duration) -> ConsoleProgress {
        ConsoleProgress {
            out,
            terminal,
            every,
            started: Instant::now(),
            last: None,
            total: 0,
            drawn: false,
        }
    }

    /// On standard error, a bar when it is a terminal.
    pub fn stderr(every: Duration) -> ConsoleProgress {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        ConsoleProgress::new(Box::new(std::io::stderr()), terminal, every)
    }

    /// Ends the bar's line, so that what follows starts on a line of its own.
    pub fn finish(&mut self, report: &Report) {
        self.draw(report, true);
        if self.terminal && self.drawn {
            let _ = writeln!(self.out);
            self.drawn = false;
        }
    }

    fn draw(&mut self, report: &Report, force: bool) {
        let now = Instant::now();
        let interval = if self.terminal { REDRAW } else { self.every };
        if !force && self.last.is_some_and(|last| now - last < interval) {
            return;
        }
        self.last = Some(now);
        let done = report.results.done() + report.records.done();
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / elapsed;
        let left = self.total.saturating_sub(done);
        let eta = if rate > 0.0 {
            format_duration(left as f64 / rate)
        } else {
            "?".into()
        };
        let percent = (done * 100).checked_div(self.total).unwrap_or(100);
        let counts = format!(
            "results {}/{}, records {}/{} ({percent}%), {rate:.0} rows/s, eta {eta}",
            report.results.done(),
            report.results.upstream,
            report.records.done(),
            report.records.upstream,
        );
        if self.terminal {
            let filled = (percent as usize * BAR / 100).min(BAR);
            let bar = format!("{}{}", "#".repeat(filled), "-".repeat(BAR - filled));
            let _ = write!(self.out, "\r\x1b[2K[{bar}] {counts}");
            self.drawn = true;
        } else {
            let _ = writeln!(self.out, "progress: {counts}");
        }
        let _ = self.out.flush();
    }
}

fn format_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

impl Progress for ConsoleProgress {
    fn counted(&mut self, results: u64, records: u64) {
        self.total = results + records;
        self.started = Instant::now();
        let _ = writeln!(
            self.out,
            "importing {results} results and {records} records from upstream"
        );
    }

    fn advanced(&mut self, report: &Report) {
        self.draw(report, false);
    }

    fn noted(&mut self, note: Note<'_>) {
        if self.terminal && self.drawn {
            let _ = write!(self.out, "\r\x1b[2K");
            self.drawn = false;
            self.last = None;
        }
        let what = match note.kind {
            results_actors::import::Kind::Log => "log bytes not copied for",
            results_actors::import::Kind::Result => "skipped result",
            results_actors::import::Kind::Record => "skipped record",
        };
        let _ = writeln!(self.out, "{what} {}: {}", note.name, note.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn report(results: u64, records: u64) -> Report {
        let mut report = Report::default();
        report.results.upstream = 10;
        report.records.upstream = 90;
        report.results.imported = results;
        report.records.imported = records;
        report
    }

    #[test]
    fn a_terminal_gets_one_line_redrawn_and_skips_above_it() {
        let out = Shared::default();
        let mut progress = ConsoleProgress::new(Box::new(out.clone()), true, Duration::ZERO);
        progress.counted(10, 90);
        progress.advanced(&report(10, 40));
        progress.noted(Note {
            kind: results_actors::import::Kind::Record,
            name: "a/results/b/records/c",
            reason: "too large",
        });
        progress.finish(&report(10, 90));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains(
                "\r\x1b[2K[###############---------------] results 10/10, records 40/90 (50%)"
            ),
            "{text:?}"
        );
        assert!(
            text.contains("\r\x1b[2Kskipped record a/results/b/records/c: too large\n"),
            "{text:?}"
        );
        assert!(
            text.ends_with("(100%), 0 rows/s, eta 0s\n") || text.contains("(100%)"),
            "{text:?}"
        );
    }

    #[test]
    fn elsewhere_plain_lines() {
        let out = Shared::default();
        let mut progress = ConsoleProgress::new(Box::new(out.clone()), false, Duration::ZERO);
        progress.counted(10, 90);
        progress.advanced(&report(5, 0));
        progress.finish(&report(10, 90));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "importing 10 results and 90 records from upstream"
        );
        assert!(
            lines[1].starts_with("progress: results 5/10, records 0/90 (5%), "),
            "{text}"
        );
        assert!(
            lines[2].starts_with("progress: results 10/10, records 90/90 (100%)"),
            "{text}"
        );
        assert!(!text.contains('\r'));
        assert_eq!(format_duration(3725.0), "1h02m");
        assert_eq!(format_duration(75.0), "1m15s");
    }
}
