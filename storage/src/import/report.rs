//! What an import tells as it goes ([`Progress`]) and at the end ([`Report`]).

/// Which kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Result.
    Result,
    /// A Record.
    Record,
    /// The bytes of a Log Record.
    Log,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Result => "result",
            Kind::Record => "record",
            Kind::Log => "log",
        })
    }
}

/// Something worth telling about one object.
#[derive(Debug, Clone, Copy)]
pub struct Note<'a> {
    /// What it is.
    pub kind: Kind,
    /// Its full name as upstream shows it.
    pub name: &'a str,
    /// Why it was skipped (a Result or Record), or why its log bytes were not copied.
    pub reason: &'a str,
}

/// Counts of one kind of object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Rows counted upstream when the import started.
    pub upstream: u64,
    /// Rows read from upstream.
    pub read: u64,
    /// Inserted by this run.
    pub imported: u64,
    /// Here already under their uid (imported by an earlier run).
    pub present: u64,
    /// Not imported (each was reported with its reason).
    pub skipped: u64,
}

impl Tally {
    /// Rows dealt with: imported, present or skipped.
    pub fn done(&self) -> u64 {
        self.imported + self.present + self.skipped
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Results.
    pub results: Tally,
    /// Records.
    pub records: Tally,
    /// Logs whose bytes were copied, and how many bytes.
    pub logs_copied: u64,
    /// Bytes of the logs copied.
    pub log_bytes: u64,
    /// Log Records imported without their bytes (each reported with its reason).
    pub logs_not_copied: u64,
    /// Results and Records in our database at the end.
    pub ours: (u64, u64),
}

impl Report {
    /// What the final check found wrong; empty when every upstream row was read and is
    /// here or was skipped with a reason.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (what, tally, ours) in [
            ("results", &self.results, self.ours.0),
            ("records", &self.records, self.ours.1),
        ] {
            if tally.done() != tally.read {
                problems.push(format!(
                    "{what}: {} read upstream but {} imported, present or skipped",
                    tally.read,
                    tally.done()
                ));
            }
            if tally.read != tally.upstream {
                problems.push(format!(
                    "{what}: {} counted upstream at the start but {} read (did upstream \
                     change during the import? run it again)",
                    tally.upstream, tally.read
                ));
            }
            if ours < tally.imported + tally.present {
                problems.push(format!(
                    "{what}: {} imported or present, but our database holds only {ours}",
                    tally.imported + tally.present
                ));
            }
        }
        problems
    }
}

/// Told about the import as it runs (a progress bar, log lines, a test).
pub trait Progress {
    /// The rows upstream holds, counted before the import starts.
    fn counted(&mut self, results: u64, records: u64);
    /// A batch is done; `report` holds the counts so far.
    fn advanced(&mut self, report: &Report);
    /// One object was skipped, or its log bytes were not copied.
    fn noted(&mut self, note: Note<'_>);
}
