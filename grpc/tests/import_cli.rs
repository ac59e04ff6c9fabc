//! `results-api import` as users run it, the real binary: an import killed halfway and run
//! again ends complete with no duplicates and the right counts; a `--from` that cannot be
//! used exits 2 with a message naming it.

mod support;

use support::Scratch;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use results_storage::testing::UpstreamDb;

/// `results-api import ARGS` into a SQLite file (and logs directory) in `dir`.
fn import(dir: &Scratch, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_results-api"));
    command
        .env(
            "RESULTS_DATABASE_URL",
            format!("sqlite://{}", dir.0.join("r.db").display()),
        )
        .env("RESULTS_LOGS_DIR", dir.0.join("logs"))
        .env("NO_COLOR", "1")
        .arg("import")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The number in `text` after `label` on the line starting with `line`.
fn count(text: &str, line: &str, label: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no {line:?} in {text}"));
    let before = line.split(label).next().unwrap();
    before
        .trim_end()
        .rsplit([' ', ','])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"))
}

#[test]
fn an_import_killed_halfway_completes_when_run_again() {
    let dir = Scratch::new("import-cli-killed");
    let upstream = UpstreamDb::create();
    let logs = dir.0.join("upstream-logs");
    let seeded = upstream.seed(300, 10, &logs);
    let logs = logs.to_str().unwrap();
    let args = ["--from", upstream.url(), "--batch", "2", "--logs-dir", logs];

    // Records come in key order, namespace first: "ci", then "edge" (whose skipped rows
    // are reported as they are met), then two more. Killed at the first skip, the import
    // has done about a third.
    let mut child = import(&dir, &args).spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let halfway = line.starts_with("skipped record");
        seen.push(line);
        if halfway {
            break;
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {seen:?}");
    assert!(seen[0].starts_with("importing "), "{seen:?}");

    let output = import(&dir, &args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let (results, records) = (
        count(&stdout, "results:", "upstream"),
        count(&stdout, "records:", "upstream"),
    );
    let skipped = count(&stdout, "records:", "skipped");
    assert_eq!(skipped as usize, seeded.skipped_records.len(), "{stdout}");
    let present = count(&stdout, "records:", "already here");
    let imported = count(&stdout, "records:", "imported");
    assert!(
        present > 0 && imported > 0,
        "the first run did part of the work: {stdout}"
    );
    assert_eq!(present + imported + skipped, records, "{stdout}");
    // Exactly what upstream has, less what is skipped: nothing twice.
    let ours = format!(
        "our database holds {} results and {} records",
        results - seeded.skipped_results.len() as u64,
        records - skipped
    );
    assert!(stdout.contains(&ours), "{stdout}");
    assert!(stdout.contains("verified:"), "{stdout}");
    // Not a terminal: plain lines, no bar redrawn in place.
    assert!(!stderr.contains('\r'), "{stderr}");

    // A third run finds everything here.
    let output = import(&dir, &args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(count(&stdout, "records:", "imported"), 0, "{stdout}");
    assert!(stdout.contains(&ours), "{stdout}");
}

#[test]
fn a_from_that_cannot_be_used_exits_2_naming_it() {
    let dir = Scratch::new("import-cli-bad-from");
    for (args, needle) in [
        (
            vec!["--from", "mysql://root@127.0.0.1/results"],
            "--from must be a PostgreSQL URL",
        ),
        (
            vec!["--from", "postgres://postgres:secret@127.0.0.1:1/nope"],
            "cannot connect to the upstream database postgres://postgres:***@127.0.0.1:1/nope",
        ),
        (
            vec![],
            "--from postgres://… (the upstream database) is required",
        ),
        (
            vec!["--from", "postgres://h/d", "--batch", "0"],
            "--batch must be a number from 1 to 1000",
        ),
    ] {
        let output = import(&dir, &args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}
